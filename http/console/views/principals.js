// Users and Service Accounts: the lists with their search bar, and a
// principal's page with its profile and the API Access panel.

import { api, withQuery } from '../lib/api.js';
import {
  h, clear, append, icon, timeEl, localDate, statusLine, field, modal, confirmDialog, copyButton,
} from '../lib/dom.js';

export const KINDS = {
  user: {
    title: 'Users', singular: 'user', Singular: 'User', api: '/iam/users', route: '#/users',
  },
  service_account: {
    title: 'Service Accounts', singular: 'service account', Singular: 'Service account',
    api: '/iam/service-accounts', route: '#/service-accounts',
  },
};

export function principalHref(id) {
  if (id.startsWith('usr_')) return `${KINDS.user.route}/${id}`;
  if (id.startsWith('sa_')) return `${KINDS.service_account.route}/${id}`;
  return null;
}

function rolesText(roles) {
  return roles && roles.length ? roles.join(', ') : '';
}

function parseRoles(text) {
  return text.split(/[\s,]+/).map((r) => r.trim()).filter(Boolean);
}

// ---- lists -------------------------------------------------------------------

export async function listView(ctx, kind) {
  const meta = KINDS[kind];
  const search = h('input', {
    type: 'search', id: 'search', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'Search by name or email', value: ctx.query.get('search') || '',
  });
  const tbody = h('tbody');
  const more = h('button.secondary', { type: 'button', id: 'load-more' }, 'Load more');
  more.hidden = true;
  const status = statusLine();
  let next = null;
  let seq = 0;

  async function load(reset) {
    const my = ++seq;
    const q = search.value.trim();
    try {
      const data = await api('GET', withQuery(meta.api, {
        search: q, limit: 50, cursor: reset ? '' : next,
      }));
      if (my !== seq) return; // typed again meanwhile
      if (reset) clear(tbody);
      for (const p of data.items) tbody.append(row(p));
      next = data.next;
      more.hidden = !next;
      if (reset && data.items.length === 0) {
        tbody.append(h('tr.empty', null, h('td', { colspan: '5' },
          q ? `No ${meta.singular} matches “${q}”.` : `No ${meta.singular} yet.`)));
      }
      status.clear();
    } catch (err) {
      if (my === seq) status.error(err.message);
    }
  }

  function row(p) {
    return h('tr', { 'data-id': p.id },
      h('td', null, h('a.name', { href: `${meta.route}/${p.id}` }, p.name),
        h('div.muted.mono.small', null, p.id)),
      h('td', null, p.email || h('span.muted', null, 'no email')),
      h('td', null, rolesText(p.roles) || h('span.muted', null, 'none')),
      h('td.num', null, String(p.key_count)),
      h('td', null, timeEl(p.created_at)));
  }

  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const q = search.value.trim();
      // Keep the search in the address (ids and names only, never a secret),
      // without re-rendering the page.
      history.replaceState(null, '', q ? `${meta.route}?search=${encodeURIComponent(q)}` : meta.route);
      load(true);
    }, 200);
  });
  more.addEventListener('click', () => load(false));

  const create = h('button.primary', {
    type: 'button', id: 'new-principal', onclick: () => newPrincipalDialog(ctx, kind),
  }, `New ${meta.singular}`);

  await load(true);
  return h('section.page', null,
    h('div.page-head', null,
      h('h1', null, meta.title),
      h('div.toolbar', { role: 'search' },
        h('label.sr-only', { for: search.id }, `Search ${meta.title.toLowerCase()}`),
        h('div.search-box', null, icon('search'), search),
        create)),
    status.el,
    h('table.list', { 'aria-label': meta.title },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Email'),
        h('th', { scope: 'col' }, 'Roles'), h('th.num', { scope: 'col' }, 'Keys'),
        h('th', { scope: 'col' }, 'Created'))),
      tbody),
    more);
}

function newPrincipalDialog(ctx, kind) {
  const meta = KINDS[kind];
  const m = modal({ title: `New ${meta.singular}` });
  const name = h('input', { id: 'new-name', required: true, maxlength: '200', autocomplete: 'off' });
  const email = h('input', {
    id: 'new-email', type: 'email', autocomplete: 'off', required: kind === 'user',
  });
  const roles = h('input', { id: 'new-roles', autocomplete: 'off', spellcheck: 'false' });
  const status = statusLine();
  const form = h('form', { method: 'dialog' },
    field('Name', name),
    field(kind === 'user' ? 'Email' : 'Email (optional)', email,
      kind === 'user' ? null : 'Needed only to send keys by email.'),
    field('Roles', roles, 'Comma-separated, e.g. admin, auditor. Leave empty for none.'),
    status.el,
    h('div.actions', null,
      h('button.secondary', { type: 'button', onclick: () => m.close() }, 'Cancel'),
      h('button.primary', { type: 'submit' }, 'Create')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { name: name.value, roles: parseRoles(roles.value) };
    if (email.value.trim()) body.email = email.value.trim();
    try {
      const p = await api('POST', meta.api, body);
      m.close();
      ctx.navigate(`${meta.route}/${p.id}`);
    } catch (err) {
      status.error(err.message);
    }
  });
  m.body.append(form);
  name.focus();
}

// ---- a principal's page ------------------------------------------------------------

export async function principalView(ctx, kind, id) {
  const meta = KINDS[kind];
  const base = `${meta.api}/${id}`;
  const [p, settings] = await Promise.all([api('GET', base), api('GET', '/iam/settings')]);

  const title = h('h1', null, p.name);
  const page = h('section.page');
  append(page, [
    h('nav.breadcrumb', { 'aria-label': 'Breadcrumb' },
      h('a', { href: meta.route }, meta.title), ' › ', h('span', null, p.name)),
    h('div.page-head', null, title,
      h('div.toolbar', null,
        h('a.button.secondary', { href: `#/audit?principal_id=${encodeURIComponent(p.id)}` },
          'Audit trail'))),
    h('p.muted', null, `${meta.Singular} · `, h('span.mono', { id: 'principal-id' }, p.id),
      ' · created ', timeEl(p.created_at)),
  ]);

  // Profile.
  const name = h('input', { id: 'p-name', required: true, maxlength: '200', value: p.name });
  const email = h('input', { id: 'p-email', type: 'email', value: p.email || '' });
  const roles = h('input', { id: 'p-roles', value: rolesText(p.roles), spellcheck: 'false' });
  const profileStatus = statusLine();
  const profile = h('form.panel', { method: 'post', 'aria-labelledby': 'profile-title' },
    h('h2', { id: 'profile-title' }, 'Settings'),
    h('div.grid', null,
      field('Name', name),
      field(kind === 'user' ? 'Email' : 'Email (optional)', email),
      field('Roles', roles, 'Comma-separated.')),
    profileStatus.el,
    h('div.actions', null,
      h('button.danger.left', { type: 'button', id: 'delete-principal', onclick: removePrincipal },
        `Delete ${meta.singular}`),
      h('button.danger.left', { type: 'button', id: 'erase-principal', onclick: erasePrincipal },
        'Erase personal data'),
      h('button.primary', { type: 'submit' }, 'Save')));
  profile.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const updated = await api('PATCH', base, {
        name: name.value, email: email.value.trim(), roles: parseRoles(roles.value),
      });
      Object.assign(p, updated);
      title.textContent = p.name;
      profileStatus.ok('Saved.');
      renderEmailOption();
    } catch (err) {
      profileStatus.error(err.message);
    }
  });

  async function removePrincipal() {
    const ok = await confirmDialog({
      title: `Delete ${meta.singular}?`,
      message: `Delete “${p.name}”? All of its keys stop working at once. ` +
        'The history stays in the audit log.',
      action: `Delete ${meta.singular}`,
    });
    if (!ok) return;
    try {
      await api('DELETE', base);
      ctx.navigate(meta.route);
    } catch (err) {
      profileStatus.error(err.message);
    }
  }

  async function erasePrincipal() {
    const ok = await confirmDialog({
      title: 'Erase personal data?',
      message: `Erase “${p.name}”? It is deleted, and its name, email, key descriptions ` +
        'and source addresses become unreadable everywhere, in the audit log and backups too, ' +
        'for good. The log still verifies.',
      action: 'Erase',
    });
    if (!ok) return;
    try {
      await api('POST', `${base}/erase`);
      ctx.navigate(meta.route);
    } catch (err) {
      profileStatus.error(err.message);
    }
  }

  // API Access.
  const keysBody = h('tbody');
  const keysStatus = statusLine();
  const addButton = h('button.primary', { type: 'button', id: 'add-access', onclick: addAccess },
    'Add access');
  // The email option's state follows the profile (an email may be added above).
  let renderEmailOption = () => {};

  async function loadKeys() {
    const keys = await api('GET', `${base}/keys`);
    clear(keysBody);
    if (keys.length === 0) {
      keysBody.append(h('tr.empty', null, h('td', { colspan: '8' },
        'No keys yet. Add access to create an API key and its secret key.')));
    }
    for (const k of keys) keysBody.append(keyRow(k));
  }

  function keyRow(k) {
    const disable = k.status === 'disabled'
      ? h('button.secondary.small', { type: 'button', onclick: () => changeKey(k, 'enable') },
        'Enable')
      : h('button.secondary.small', { type: 'button', onclick: () => changeKey(k, 'disable') },
        'Disable');
    disable.setAttribute('aria-label', `${disable.textContent} key ${k.apikey}`);
    const trash = h('button.icon-button.trash', {
      type: 'button', 'aria-label': `Delete key ${k.apikey}`, title: 'Delete key',
      onclick: () => deleteKey(k),
    }, icon('trash'));
    const edit = h('button.secondary.small.edit-limits', {
      type: 'button', 'aria-label': `Edit limits of key ${k.apikey}`, onclick: () => editLimits(k),
    }, 'Edit limits');
    return h('tr.key-row', { 'data-apikey': k.apikey },
      h('td', null, h('code.apikey', null, k.apikey)),
      h('td', null, k.description || h('span.muted', null, '—')),
      h('td', null, timeEl(k.created_at)),
      h('td.expires', null, timeEl(k.expires_at)),
      h('td', null, timeEl(k.last_used_at)),
      h('td', null, h(`span.badge.badge-${k.status}`, null, k.status)),
      h('td.limits', null, limitLines(k, p.roles), edit),
      h('td.row-actions', null,
        h('a.small', {
          href: `#/keys/${encodeURIComponent(k.apikey)}/timeline`,
          'aria-label': `Timeline of key ${k.apikey}`,
        }, 'Timeline'),
        disable, trash));
  }

  async function changeKey(k, verb) {
    try {
      await api('POST', `${base}/keys/${k.apikey}/${verb}`);
      keysStatus.ok(`Key ${k.apikey} ${verb}d.`);
      await loadKeys();
    } catch (err) {
      keysStatus.error(err.message);
    }
  }

  async function deleteKey(k) {
    const ok = await confirmDialog({
      title: 'Delete this key?',
      message: `Delete ${k.apikey}? Its credentials stop working at once and cannot be used ` +
        'to sign in again. This cannot be undone.',
      action: 'Delete key',
    });
    if (!ok) return;
    try {
      await api('DELETE', `${base}/keys/${k.apikey}`);
      keysStatus.ok(`Key ${k.apikey} deleted.`);
      await loadKeys();
      addButton.focus();
    } catch (err) {
      keysStatus.error(err.message);
    }
  }

  function editLimits(k) {
    editLimitsDialog({
      principal: p, kind, base, key: k,
      onSaved: async (updated) => {
        await loadKeys();
        if (updated) keysStatus.ok(`Limits of key ${k.apikey} saved.`);
        else keysStatus.info(`The limits of key ${k.apikey} are unchanged.`);
        const again = keysBody.querySelector(`tr[data-apikey="${CSS.escape(k.apikey)}"] .edit-limits`);
        if (again) again.focus();
      },
    });
  }

  function addAccess() {
    addAccessDialog({
      principal: p, kind, base, settings,
      onCreated: async () => {
        await loadKeys();
        keysStatus.ok('Key created.');
        addButton.focus();
      },
      setEmailRenderer: (fn) => { renderEmailOption = fn; },
    });
  }

  await loadKeys();
  append(page, [
    profile,
    h('section.panel', { 'aria-labelledby': 'api-access-title', id: 'api-access' },
      h('div.panel-head', null, h('h2', { id: 'api-access-title' }, 'API Access'), addButton),
      h('p.muted', null,
        'An API key and its secret key trade for short-lived tokens at POST /iam/login. ',
        `New keys last ${settings.default_key_lifetime_days} days unless you choose otherwise. `,
        'A key may be limited to some networks, to some of its owner’s roles and to a number ',
        'of logins per minute.'),
      keysStatus.el,
      h('table.list.keys', { 'aria-label': 'API keys' },
        h('thead', null, h('tr', null,
          h('th', { scope: 'col' }, 'API key'), h('th', { scope: 'col' }, 'Description'),
          h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Expires'),
          h('th', { scope: 'col' }, 'Last used'), h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Limits'),
          h('th', { scope: 'col' }, h('span.sr-only', null, 'Actions')))),
        keysBody)),
  ]);
  return page;
}

// ---- a key's limits ----------------------------------------------------------------
// allowed_cidrs (empty: from anywhere), roles (a subset of the owner's; empty:
// all of them) and rate_per_minute (0: unlimited), as the API takes them.

const MAX_NETWORKS = 50;
const MAX_RATE = 100000;

// As text, for the audit and timeline summaries.
export const limitText = {
  networks: (list) => (list && list.length ? list.join(', ') : 'anywhere'),
  roles: (list) => (list && list.length ? list.join(', ') : 'all of the owner’s roles'),
  rate: (n) => (n ? `${n} logins/min` : 'unlimited'),
};

// The key list's (and the keys window's) three lines. Roles of the key that
// the owner no longer holds are struck through: tokens never carry them.
function limitLines(k, ownerRoles) {
  const networks = k.allowed_cidrs || [];
  const roles = k.roles || [];
  const rate = k.rate_per_minute || 0;
  const shown = networks.slice(0, 3).join(', ');
  const line = (which, label, title, value) => h(`div.limit.limit-${which}`, { title },
    h('span.limit-label', null, label), h('span.limit-value', null, value));
  return [
    line('networks', 'From', networks.length ? `Allowed networks: ${networks.join(', ')}`
      : 'Allowed networks: any', networks.length === 0 ? 'anywhere'
      : networks.length > 3 ? `${shown} +${networks.length - 3} more` : shown),
    line('roles', 'Roles', 'Roles its tokens carry (of the owner’s)', roles.length === 0 ? 'all'
      : roles.map((r, i) => [i ? ', ' : '', ownerRoles && !ownerRoles.includes(r)
        ? h('s', { title: 'No longer held by the owner: not carried' }, r) : r])),
    line('rate', 'Rate', 'Successful logins per minute', rate ? `${rate}/min` : 'unlimited'),
  ];
}

function sameSet(a, b) {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

// "10.0.0.0/8, 192.0.2.7" or one a line.
function parseNetworks(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

// A loose look at one network: its shape and prefix length only. The server
// parses each strictly; its 400 names the one it refused.
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,3})?$/;
const IPV6 = /^[0-9A-Fa-f.]*:[0-9A-Fa-f.:]*(\/\d{1,3})?$/;
function networkProblem(n) {
  const slash = n.indexOf('/');
  const prefix = slash < 0 ? null : Number(n.slice(slash + 1));
  if (IPV4.test(n)) {
    return prefix !== null && prefix > 32 ? `“${n}”: an IPv4 prefix is /0 to /32.` : null;
  }
  if (IPV6.test(n)) {
    return prefix !== null && prefix > 128 ? `“${n}”: an IPv6 prefix is /0 to /128.` : null;
  }
  return `“${n}” is not an IPv4 or IPv6 address or network (such as 10.0.0.0/8, ` +
    '192.0.2.7 or 2001:db8::/32).';
}

// The fields of the three limits, filled from `key` (or empty for a new key).
// read() returns the values, or {error, control}; explain(err) words a refusal
// from the server, naming the network it refused.
function limitsFieldset(principal, meta, key) {
  const held = principal.roles || [];
  const keyRoles = key ? key.roles || [] : [];
  const networks = h('textarea', {
    id: 'key-cidrs', rows: '3', spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off',
    placeholder: '10.0.0.0/8\n192.0.2.7', value: key ? (key.allowed_cidrs || []).join('\n') : '',
  });
  const boxes = held.map((r, i) => h('input', {
    type: 'checkbox', id: `key-role-${i}`, name: 'key-roles', value: r, checked: keyRoles.includes(r),
  }));
  const lost = keyRoles.filter((r) => !held.includes(r));
  const rolesHint = h('p.hint', { id: 'key-roles-hint' }, held.length
    ? `None checked: the key carries all of the owner’s roles (${held.join(', ')}). ` +
      'Its tokens never carry a role the owner no longer holds.'
    : `This ${meta.singular} holds no roles, so its keys carry none.`,
  lost.length ? ` Named on this key but no longer held by the owner (not carried): ${lost.join(', ')}.`
    : '');
  const rate = h('input', {
    type: 'number', id: 'key-rate', min: '0', max: String(MAX_RATE), step: '1',
    inputmode: 'numeric', value: String(key ? key.rate_per_minute || 0 : 0),
    'aria-describedby': 'key-rate-hint',
  });
  const el = h('fieldset.limits', null, h('legend', null, 'Limits (optional)'),
    field('Allowed networks', networks,
      `One network or address a line (or comma-separated), at most ${MAX_NETWORKS}: ` +
      'IPv4 or IPv6, e.g. 10.0.0.0/8 or 192.0.2.7. Logins from elsewhere fail like a wrong ' +
      'secret. Empty: from anywhere.'),
    h('div.field', { role: 'group', 'aria-labelledby': 'key-roles-title', 'aria-describedby': rolesHint.id },
      h('span.group-label', { id: 'key-roles-title' }, 'Roles'),
      boxes.length ? h('div.role-choices', null, boxes.map((b) => h('span.choice', null, b,
        h('label', { for: b.id }, b.value)))) : null,
      rolesHint),
    h('div.field', null, h('label', { for: rate.id }, 'Logins per minute'),
      h('div.with-unit', null, rate, h('span.unit', null, 'per minute')),
      h('p.hint', { id: 'key-rate-hint' },
        `Successful logins of this key, 0 to ${MAX_RATE}; a burst of as many is allowed. `,
        'Over it, logins answer 429. 0: unlimited.')));

  const controls = [networks, rate];
  for (const c of controls) c.addEventListener('input', () => c.removeAttribute('aria-invalid'));
  function fail(control, error) {
    control.setAttribute('aria-invalid', 'true');
    return { error, control };
  }
  function read() {
    for (const c of controls) c.removeAttribute('aria-invalid');
    const list = parseNetworks(networks.value);
    if (list.length > MAX_NETWORKS) {
      return fail(networks, `Allowed networks: ${list.length} given; at most ${MAX_NETWORKS}.`);
    }
    for (const n of list) {
      const problem = networkProblem(n);
      if (problem) return fail(networks, `Allowed networks: ${problem}`);
    }
    const raw = rate.value.trim();
    const perMinute = raw === '' ? 0 : Number(raw);
    if (rate.validity.badInput || !Number.isInteger(perMinute) || perMinute < 0 || perMinute > MAX_RATE) {
      return fail(rate, `Logins per minute: a whole number from 0 (unlimited) to ${MAX_RATE}.`);
    }
    return {
      allowed_cidrs: list,
      roles: boxes.filter((b) => b.checked).map((b) => b.value),
      rate_per_minute: perMinute,
    };
  }
  function explain(err, list) {
    const message = err.message || String(err);
    const at = /^allowed_cidrs\[(\d+)\]/.exec(message);
    if (at || /^allowed_cidrs/.test(message)) networks.setAttribute('aria-invalid', 'true');
    if (/^rate_per_minute/.test(message)) rate.setAttribute('aria-invalid', 'true');
    const entered = at ? list[Number(at[1])] : undefined;
    return entered !== undefined && !message.includes(entered)
      ? `${message} You entered “${entered}”.` : message;
  }
  // The roles the form starts with: those of the key that the owner holds.
  const initialRoles = keyRoles.filter((r) => held.includes(r));
  return { el, read, explain, initialRoles };
}

// PATCH …/keys/{apikey} with the limits that changed.
function editLimitsDialog({ principal, kind, base, key, onSaved }) {
  const meta = KINDS[kind];
  const m = modal({ title: 'Edit limits', className: 'edit-limits' });
  const limits = limitsFieldset(principal, meta, key);
  const status = statusLine();
  const save = h('button.primary', { type: 'submit', id: 'save-limits' }, 'Save');
  const form = h('form', { method: 'dialog', novalidate: true },
    h('p', null, 'Key ', h('code', null, key.apikey), ` of ${principal.name}`,
      key.description ? ` · ${key.description}` : ''),
    limits.el,
    h('p.hint', null, 'Changes apply to the next logins: tokens already issued keep their ',
      'roles claim until they expire (latchkey’s own API checks the key’s roles at each call). ',
      'Each change is a key.updated event in the key’s timeline.'),
    status.el,
    h('div.actions', null,
      h('button.secondary', { type: 'button', onclick: () => m.close() }, 'Cancel'),
      save));
  form.addEventListener('input', () => { if (status.el.classList.contains('error')) status.clear(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const wanted = limits.read();
    if (wanted.error) { status.error(wanted.error); wanted.control.focus(); return; }
    const body = {};
    // Networks in order (the server keeps the order given); roles as a set.
    if (wanted.allowed_cidrs.join('\n') !== (key.allowed_cidrs || []).join('\n')) {
      body.allowed_cidrs = wanted.allowed_cidrs;
    }
    if (!sameSet(wanted.roles, limits.initialRoles)) body.roles = wanted.roles;
    if (wanted.rate_per_minute !== (key.rate_per_minute || 0)) body.rate_per_minute = wanted.rate_per_minute;
    if (Object.keys(body).length === 0) {
      m.close();
      onSaved(null);
      return;
    }
    save.disabled = true;
    status.info('Saving…');
    try {
      const updated = await api('PATCH', `${base}/keys/${key.apikey}`, body);
      m.close();
      onSaved(updated);
    } catch (err) {
      status.error(limits.explain(err, wanted.allowed_cidrs));
      save.disabled = false;
    }
  });
  m.body.append(form);
  const first = m.body.querySelector('#key-cidrs');
  if (first) first.focus();
}

// ---- Add access ------------------------------------------------------------------

const PRESETS = [7, 30, 90, 180, 365];
const DAY = 86400000;

function addAccessDialog({ principal, kind, base, settings, onCreated, setEmailRenderer }) {
  const meta = KINDS[kind];
  const m = modal({ title: 'Add access', className: 'add-access' });
  const def = Math.min(settings.default_key_lifetime_days, settings.max_key_lifetime_days);
  const max = settings.max_key_lifetime_days;
  const today = new Date();
  const tomorrow = new Date(today.getTime() + DAY);

  const choices = [{ value: 'default', label: `Default (${def} days)`, days: def }];
  for (const d of PRESETS) {
    if (d <= max && d !== def) choices.push({ value: `days:${d}`, label: `${d} days`, days: d });
  }
  const radios = choices.map((c, i) => h('input', {
    type: 'radio', name: 'lifetime', id: `lifetime-${c.value.replace(':', '-')}`,
    value: c.value, checked: i === 0,
  }));
  const dateRadio = h('input', { type: 'radio', name: 'lifetime', id: 'lifetime-date', value: 'date' });
  const date = h('input', {
    type: 'date', id: 'lifetime-date-value', min: localDate(tomorrow),
    max: localDate(new Date(today.getTime() + max * DAY)), 'aria-label': 'Expiration date',
  });
  date.addEventListener('input', () => { dateRadio.checked = true; preview(); });
  dateRadio.addEventListener('change', () => { if (!date.value) date.focus(); });

  const expiresPreview = h('p.hint', { id: 'expires-preview', 'aria-live': 'polite' });
  function chosen() {
    if (dateRadio.checked) return { date: date.value };
    const c = choices.find((x) => radios[choices.indexOf(x)].checked) || choices[0];
    return c.value === 'default' ? { default: true, days: c.days } : { days: c.days };
  }
  function preview() {
    const c = chosen();
    if (c.date !== undefined) {
      expiresPreview.textContent = c.date
        ? `The keys will expire on ${c.date} at 00:00 (your time).`
        : 'Pick a date.';
    } else {
      expiresPreview.textContent =
        `The keys will expire on ${localDate(new Date(Date.now() + c.days * DAY))}.`;
    }
  }
  for (const r of radios) r.addEventListener('change', preview);
  dateRadio.addEventListener('change', preview);
  preview();

  const description = h('input', { id: 'key-description', maxlength: '200', autocomplete: 'off' });

  const sendEmail = h('input', { type: 'checkbox', id: 'send-email' });
  const emailLabel = h('label', { for: sendEmail.id });
  const emailReason = h('p.hint', { id: 'send-email-reason' });
  function renderEmailOption() {
    if (principal.email) {
      sendEmail.disabled = false;
      emailLabel.textContent = `Send an email to ${principal.email} with the API & secret keys`;
      emailReason.textContent = '';
      emailReason.hidden = true;
      sendEmail.removeAttribute('aria-describedby');
    } else {
      sendEmail.checked = false;
      sendEmail.disabled = true;
      emailLabel.textContent = 'Send an email with the API & secret keys';
      emailReason.textContent = `This ${meta.singular} has no email address. ` +
        'Add one in its settings to send the keys by email.';
      emailReason.hidden = false;
      sendEmail.setAttribute('aria-describedby', emailReason.id);
    }
  }
  renderEmailOption();
  setEmailRenderer(renderEmailOption);

  const limits = limitsFieldset(principal, meta, null);
  const status = statusLine();
  const createButton = h('button.primary', { type: 'submit', id: 'create-key' }, 'Create');
  // novalidate: the limits are checked below, with messages in the status line.
  const form = h('form', { method: 'dialog', novalidate: true },
    h('div.columns', null,
      h('div', null,
        h('fieldset', null, h('legend', null, 'Lifetime'),
          choices.map((c, i) => h('div.choice', null, radios[i],
            h('label', { for: radios[i].id }, c.label))),
          h('div.choice', null, dateRadio, h('label', { for: dateRadio.id }, 'Until a date'), date),
          expiresPreview),
        field('Description (optional)', description, 'What the keys are for, e.g. “nightly export”.'),
        h('div.choice.email-option', null, sendEmail, emailLabel),
        emailReason),
      limits.el),
    status.el,
    h('div.actions', null,
      h('button.secondary', { type: 'button', onclick: () => m.close() }, 'Cancel'),
      createButton));

  // An error stays until the form is changed.
  form.addEventListener('input', () => { if (status.el.classList.contains('error')) status.clear(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const c = chosen();
    const body = {};
    if (c.date !== undefined) {
      if (!c.date) { status.error('Pick an expiration date.'); date.focus(); return; }
      const [y, mo, d] = c.date.split('-').map(Number);
      body.expires_at = new Date(y, mo - 1, d).toISOString();
    } else if (!c.default) {
      body.lifetime_days = c.days;
    }
    const wanted = limits.read();
    if (wanted.error) { status.error(wanted.error); wanted.control.focus(); return; }
    // Only the limits that narrow the key: none given means anywhere, all roles, unlimited.
    if (wanted.allowed_cidrs.length) body.allowed_cidrs = wanted.allowed_cidrs;
    if (wanted.roles.length) body.roles = wanted.roles;
    if (wanted.rate_per_minute) body.rate_per_minute = wanted.rate_per_minute;
    if (description.value.trim()) body.description = description.value.trim();
    if (sendEmail.checked) body.send_email = true;
    createButton.disabled = true;
    status.info('Creating…');
    try {
      const created = await api('POST', `${base}/keys`, body);
      m.close();
      showKeysDialog(created, principal, kind, onCreated);
    } catch (err) {
      status.error(limits.explain(err, wanted.allowed_cidrs));
      createButton.disabled = false;
    }
  });
  m.body.append(form);
  radios[0].focus();
}

// The one window that ever shows a secret key. When it closes, the dialog
// (with the secret) is removed from the DOM and the response object dropped.
function showKeysDialog(created, principal, kind, onClosed) {
  let secret = created.secretkey;
  delete created.secretkey;
  const apikeyEl = h('code.key-value', { id: 'new-apikey' }, created.apikey);
  const secretEl = h('code.key-value', { id: 'new-secretkey' }, secret);
  const m = modal({
    title: 'API and secret keys',
    className: 'keys-dialog',
    onClose: () => {
      secretEl.textContent = '';
      secret = null;
      onClosed();
    },
  });
  let emailNote = null;
  if (created.email) {
    emailNote = created.email.status === 'sent'
      ? h('p.status.ok', null, `An email with the keys was sent to ${created.email.to}.`)
      : h('p.status.error', null,
        `The email to ${created.email.to} could not be sent: keep a record of the keys now.`);
  }
  const close = h('button.primary', { type: 'button', id: 'close-keys', onclick: () => m.close() },
    'Close');
  append(m.body, [
    h('p.warning', { role: 'note' },
      h('strong', null, 'After closing this window, there is no way to view the secret key again. '),
      'Make sure you keep a record of the keys, either by sending an email to the ',
      `${KINDS[kind].singular} or storing them in your code.`),
    h('dl.keys', null,
      h('dt', null, 'API key'),
      h('dd', null, apikeyEl, copyButton('API key', apikeyEl, () => created.apikey)),
      h('dt', null, 'Secret key'),
      h('dd', null, secretEl, copyButton('secret key', secretEl, () => secret)),
      h('dt', null, 'Owner'),
      h('dd', null, principal.name),
      h('dt', null, 'Expires'),
      h('dd', { id: 'new-expires' }, timeEl(created.expires_at)),
      h('dt', null, 'Limits'),
      h('dd.limits', { id: 'new-limits' }, limitLines(created, principal.roles))),
    emailNote,
    h('div.actions', null, close),
  ]);
  close.focus();
}
