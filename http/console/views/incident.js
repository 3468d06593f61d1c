// Incident: the state as of an instant (rebuilt from the log), and what
// changed between two instants. An instant is an RFC 3339 time or an event
// sequence number, as the replay routes take them.

import { api, withQuery } from '../lib/api.js';
import { h, clear, append, timeEl, statusLine, field, isoSeconds } from '../lib/dom.js';
import { principalHref } from './principals.js';

const HOUR = 3600000;

function pointInput(id, value) {
  return h('input', {
    id, value, spellcheck: 'false', autocomplete: 'off', required: true,
    placeholder: '2025-06-01T12:00:00Z or 42',
  });
}

function quickButtons(input) {
  const set = (ms) => () => { input.value = isoSeconds(new Date(Date.now() - ms)); };
  return h('div.quick', { role: 'group', 'aria-label': `Quick values for ${input.id}` },
    h('button.secondary.small', { type: 'button', onclick: set(0) }, 'Now'),
    h('button.secondary.small', { type: 'button', onclick: set(HOUR) }, '1 h ago'),
    h('button.secondary.small', { type: 'button', onclick: set(24 * HOUR) }, '24 h ago'));
}

function table(label, columns, rows) {
  if (rows.length === 0) return h('p.muted', null, `${label}: none.`);
  return h('table.list.compact', { 'aria-label': label },
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows.map((cells) => h('tr', null, cells.map((c) => h('td', null, c))))));
}

function idLink(id) {
  const href = principalHref(id);
  return href ? h('a.mono', { href }, id) : h('span.mono', null, id);
}

function keyLink(apikey) {
  return h('a.mono', { href: `#/keys/${encodeURIComponent(apikey)}/timeline` }, apikey);
}

function yesNo(b) {
  return h(`span.badge.${b ? 'badge-active' : 'badge-disabled'}`, null, b ? 'yes' : 'no');
}

function renderState(s) {
  const names = new Map(s.principals.map((p) => [p.id, p.name]));
  const owner = (id) => h('span', null, names.get(id) || '', ' ', idLink(id));
  return [
    h('p.summary', { id: 'state-summary' }, 'As of ', timeEl(s.at, { seconds: true }),
      ` (after event ${s.seq}`, s.last_event_time ? [', at ', timeEl(s.last_event_time, { seconds: true })] : '',
      `): ${s.principals.filter((p) => !p.deleted).length} principals, `,
      `${s.keys.filter((k) => k.can_log_in).length} keys able to log in, `,
      `${s.live_tokens.length} unexpired tokens.`),
    h('h3', null, 'Keys'),
    table('Keys', ['API key', 'Owner', 'Status', 'Can log in', 'Expires', 'Last used'],
      s.keys.map((k) => [keyLink(k.apikey), owner(k.principal_id),
        h(`span.badge.badge-${k.status}`, null, k.status), yesNo(k.can_log_in),
        timeEl(k.expires_at), timeEl(k.last_used_at)])),
    h('h3', null, 'Principals'),
    table('Principals', ['Name', 'Id', 'Type', 'Email', 'Roles', 'Deleted'],
      s.principals.map((p) => [p.name, idLink(p.id), p.type, p.email || '',
        (p.roles || []).join(', '), yesNo(p.deleted)])),
    h('h3', null, 'Unexpired tokens'),
    table('Unexpired tokens', ['Token id', 'API key', 'Principal', 'Issued', 'Expires', 'Still valid'],
      s.live_tokens.map((t) => [h('span.mono', null, t.jti), keyLink(t.apikey), owner(t.principal_id),
        timeEl(new Date(t.iat * 1000).toISOString()), timeEl(new Date(t.exp * 1000).toISOString()),
        yesNo(t.active)])),
    h('h3', null, 'Settings'),
    table('Settings', ['Setting', 'Value'],
      Object.entries(s.settings).map(([k, v]) => [h('span.mono', null, k), String(v)])),
    h('h3', null, 'Signing keys'),
    table('Signing keys', ['Key id', 'Algorithm', 'Created', 'Retired'],
      s.signing_keys.map((k) => [h('span.mono', null, k.kid), k.alg, timeEl(k.created_at),
        yesNo(k.retired)])),
  ];
}

function renderDiff(d) {
  const when = (c) => [String(c.seq), timeEl(c.time, { seconds: true })];
  const who = (c) => (c.actor === 'system' || c.actor === 'anonymous' ? c.actor : idLink(c.actor));
  const byKey = (obj) => Object.entries(obj).map(([k, n]) => [
    k.startsWith('lk_') ? keyLink(k) : h('span.mono', null, k), String(n)]);
  return [
    h('p.summary', { id: 'diff-summary' }, `From event ${d.from.seq} (`, timeEl(d.from.time, { seconds: true }),
      `) to event ${d.to.seq} (`, timeEl(d.to.time, { seconds: true }), `): ${d.events} events, `,
      `${d.tokens_issued.total} tokens issued, ${d.failed_logins.total} failed logins.`),
    h('h3', null, 'Keys'),
    table('Key changes', ['Seq', 'Time', 'Change', 'API key', 'Principal', 'By'],
      d.keys.map((c) => [...when(c), h('span.event-type', null, c.change), keyLink(c.apikey),
        idLink(c.principal_id), who(c)])),
    h('h3', null, 'Principals'),
    table('Principal changes', ['Seq', 'Time', 'Change', 'Principal', 'Name', 'By'],
      d.principals.map((c) => [...when(c), h('span.event-type', null, c.change), idLink(c.id),
        c.name || '', who(c)])),
    h('h3', null, 'Settings'),
    table('Settings changes', ['Seq', 'Time', 'Setting', 'Old', 'New', 'By'],
      d.settings.map((c) => [...when(c), h('span.mono', null, c.name), String(c.old), String(c.new), who(c)])),
    h('h3', null, 'Signing keys'),
    table('Signing key changes', ['Seq', 'Time', 'Key id', 'Replaced', 'By'],
      d.signing_keys.map((c) => [...when(c), h('span.mono', null, c.kid), c.old_kid || '', who(c)])),
    h('h3', null, 'Tokens issued, by key'),
    table('Tokens issued by key', ['API key', 'Tokens'], byKey(d.tokens_issued.by_key)),
    h('h3', null, 'Failed logins, by key'),
    table('Failed logins by key', ['API key', 'Failures'], byKey(d.failed_logins.by_key)),
  ];
}

export async function incidentView(ctx) {
  const q = ctx.query;
  const now = new Date();
  const at = pointInput('state-at', q.get('at') || isoSeconds(now));
  const from = pointInput('diff-from', q.get('from') || isoSeconds(new Date(now - HOUR)));
  const to = pointInput('diff-to', q.get('to') || isoSeconds(now));
  const stateOut = h('div.result', { id: 'state-result' });
  const diffOut = h('div.result', { id: 'diff-result' });
  const stateStatus = statusLine();
  const diffStatus = statusLine();

  function remember() {
    history.replaceState(null, '', withQuery('#/incident', {
      at: at.value.trim(), from: from.value.trim(), to: to.value.trim(),
    }));
  }

  async function showState() {
    stateStatus.info('Rebuilding…');
    try {
      const s = await api('GET', withQuery('/iam/replay/state', { at: at.value.trim() }));
      clear(stateOut);
      append(stateOut, renderState(s));
      stateStatus.clear();
      remember();
    } catch (err) {
      stateStatus.error(err.message);
    }
  }

  async function showDiff() {
    diffStatus.info('Comparing…');
    try {
      const d = await api('GET', withQuery('/iam/replay/diff', {
        from: from.value.trim(), to: to.value.trim(),
      }));
      clear(diffOut);
      append(diffOut, renderDiff(d));
      diffStatus.clear();
      remember();
    } catch (err) {
      diffStatus.error(err.message);
    }
  }

  const hint = 'An RFC 3339 time (UTC, e.g. 2025-06-01T12:00:00Z) or an event sequence number.';
  const stateForm = h('form.panel', { method: 'get', 'aria-labelledby': 'state-title' },
    h('h2', { id: 'state-title' }, 'State at an instant'),
    h('div.inline', null, field('Instant', at, hint), quickButtons(at),
      h('button.primary', { type: 'submit', id: 'show-state' }, 'Show state')),
    stateStatus.el, stateOut);
  stateForm.addEventListener('submit', (e) => { e.preventDefault(); showState(); });

  const diffForm = h('form.panel', { method: 'get', 'aria-labelledby': 'diff-title' },
    h('h2', { id: 'diff-title' }, 'What changed between two instants'),
    h('div.inline', null, field('From', from, hint), quickButtons(from)),
    h('div.inline', null, field('To', to, hint), quickButtons(to),
      h('button.primary', { type: 'submit', id: 'show-diff' }, 'Compare')),
    diffStatus.el, diffOut);
  diffForm.addEventListener('submit', (e) => { e.preventDefault(); showDiff(); });

  // A link from the audit page (?at=SEQ) shows that state at once.
  if (q.get('at')) await showState();
  if (q.get('from') && q.get('to')) await showDiff();

  return append(h('section.page'), [
    h('div.page-head', null, h('h1', null, 'Incident')),
    h('p.muted', null, 'Replays the event log: which keys could log in, who held which roles and ',
      'which tokens were valid at a given instant, and every change in between two instants.'),
    stateForm, diffForm,
  ]);
}
