// The project's overview: charts of logins, failed logins and active keys
// over the last day or month, from this project's log.

import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { usagePanel } from '../lib/charts.js';

export async function overviewView() {
  return h('section', null,
    h('h1', null, 'Overview'),
    h('p.muted', null, 'The project served at ', h('strong', { id: 'overview-host' }, location.host),
      ', from its own log only. Logins are the tokens issued, failed logins the refused ',
      'attempts, active keys those enabled and not expired.'),
    usagePanel({
      idPrefix: 'overview',
      title: 'Use',
      load: (period) => api('GET', `/iam/usage?period=${period}`),
    }));
}
