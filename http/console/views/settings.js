// IAM settings: key lifetimes, token lifetime, key limit, login lockout.
// PATCH /iam/settings sends only the values that changed; each change is a
// settings.changed event with old and new values.

import { api } from '../lib/api.js';
import { h, append, statusLine, duration } from '../lib/dom.js';

const GROUPS = [
  {
    title: 'API keys',
    items: [
      ['default_key_lifetime_days', 'Default key lifetime', 'days',
        'The lifetime of a new key when “Default” is chosen in Add access.'],
      ['max_key_lifetime_days', 'Maximum key lifetime', 'days',
        'No key can be created to last longer.'],
      ['max_keys_per_principal', 'Maximum keys per user or service account', 'keys',
        'Live (not deleted, not expired) keys a principal may hold.'],
      ['expiry_reminder_days', 'Expiry reminder', 'days before',
        'Owners with an email are reminded this long before a key expires (0: never).'],
    ],
  },
  {
    title: 'Tokens',
    items: [
      ['token_lifetime_seconds', 'Token lifetime', 'seconds',
        'How long a token from POST /iam/login stays valid. Applies to the next tokens issued.'],
    ],
  },
  {
    title: 'Login lockout',
    items: [
      ['lockout_threshold', 'Failures per API key', 'failures',
        'Failed logins for one key within the window that lock it.'],
      ['lockout_source_threshold', 'Failures per source address', 'failures',
        'Failed logins from one address within the window that lock it.'],
      ['lockout_window_seconds', 'Window', 'seconds', 'The period over which failures count.'],
      ['lockout_duration_seconds', 'Lock duration', 'seconds', 'How long a lock lasts.'],
    ],
  },
];

export async function settingsView(ctx) {
  const current = await api('GET', '/iam/settings');
  const inputs = new Map();
  const status = statusLine();
  const known = new Set(GROUPS.flatMap((g) => g.items.map((i) => i[0])));
  const groups = GROUPS.map((g) => ({ ...g, items: g.items.filter((i) => i[0] in current) }));
  const others = Object.keys(current).filter((k) => !known.has(k));
  if (others.length) {
    groups.push({ title: 'Other', items: others.map((k) => [k, k, '', '']) });
  }

  const fieldsets = groups.filter((g) => g.items.length).map((g) => h('fieldset.panel', null,
    h('legend', null, g.title),
    h('div.grid', null, g.items.map(([name, label, unit, hint]) => {
      const input = h('input', {
        type: 'number', id: `setting-${name}`, name, step: '1', inputmode: 'numeric',
        value: String(current[name]), required: true, disabled: !ctx.isAdmin,
      });
      inputs.set(name, input);
      const human = unit === 'seconds' ? h('span.muted.human', null, duration(current[name])) : null;
      if (human) input.addEventListener('input', () => { human.textContent = duration(input.value); });
      const hintEl = h('p.hint', { id: `setting-${name}-hint` }, hint);
      input.setAttribute('aria-describedby', hintEl.id);
      return h('div.field', null, h('label', { for: input.id }, label),
        h('div.with-unit', null, input, h('span.unit', null, unit), human), hintEl);
    }))));

  const save = h('button.primary', { type: 'submit', id: 'save-settings', disabled: !ctx.isAdmin },
    'Save');
  const form = h('form.settings', { method: 'post', 'aria-labelledby': 'settings-title' },
    fieldsets, status.el, h('div.actions', null, save));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const changes = {};
    for (const [name, input] of inputs) {
      const v = Number(input.value);
      if (!Number.isInteger(v)) {
        status.error(`${name} must be a whole number.`);
        input.focus();
        return;
      }
      if (v !== current[name]) changes[name] = v;
    }
    if (Object.keys(changes).length === 0) {
      status.info('Nothing changed.');
      return;
    }
    save.disabled = true;
    try {
      const updated = await api('PATCH', '/iam/settings', changes);
      Object.assign(current, updated);
      for (const [name, input] of inputs) input.value = String(current[name]);
      status.ok(`Saved: ${Object.entries(changes).map(([k, v]) => `${k} = ${v}`).join(', ')}.`);
    } catch (err) {
      status.error(err.message);
    } finally {
      save.disabled = false;
    }
  });

  return append(h('section.page'), [
    h('div.page-head', null, h('h1', { id: 'settings-title' }, 'IAM settings')),
    ctx.isAdmin ? null : h('p.status', null, 'Read-only: changing settings needs the admin role.'),
    form,
  ]);
}
