// Audit: the event log filtered by key, principal, type, actor and time,
// newest first; each key's timeline one click away. Every read here is itself
// recorded by the server (audit.read).

import { api, withQuery } from '../lib/api.js';
import {
  h, clear, append, timeEl, statusLine, field, fromLocalInput, toLocalInput,
} from '../lib/dom.js';
import { principalHref, limitText } from './principals.js';

export const EVENT_TYPES = [
  'system.initialized', 'user.created', 'user.updated', 'user.deleted',
  'service_account.created', 'service_account.updated', 'service_account.deleted',
  'principal.erased', 'key.created', 'key.updated', 'key.disabled', 'key.enabled', 'key.deleted', 'token.issued', 'token.revoked', 'login.failed',
  'login.locked', 'settings.changed', 'email.sent', 'email.failed', 'signing_key.rotated',
  'audit.read', 'checkpoint', 'log.archived', 'log.history_deleted',
];

const PAGE = 50;

// The key, the principal and a short summary of what an event did.
function subjects(e) {
  const d = e.data || {};
  const out = { apikeys: [], principal: null };
  if (d.apikey) out.apikeys.push(d.apikey);
  if (Array.isArray(d.keys_deactivated)) out.apikeys.push(...d.keys_deactivated);
  if (d.principal_id) out.principal = d.principal_id;
  else if (/^(user|service_account|principal)\./.test(e.type) && d.id) out.principal = d.id;
  return out;
}

function summary(e) {
  const d = e.data || {};
  switch (e.type) {
    case 'user.created':
    case 'service_account.created':
      return `“${d.name}”${d.email ? ` <${d.email}>` : ''}`;
    case 'user.updated':
    case 'service_account.updated':
      return ['name', 'email', 'roles'].filter((k) => d[k] !== undefined && d[k] !== null)
        .map((k) => `${k} → ${Array.isArray(d[k]) ? d[k].join(', ') : d[k]}`).join('; ');
    case 'key.created':
      return `expires ${d.expires_at ? d.expires_at.slice(0, 10) : '?'}` +
        ` (${d.lifetime_source})${d.description ? ` · ${d.description}` : ''}` +
        (d.allowed_cidrs && d.allowed_cidrs.length ? ` · from ${limitText.networks(d.allowed_cidrs)}` : '') +
        (d.roles && d.roles.length ? ` · roles ${limitText.roles(d.roles)}` : '') +
        (d.rate_per_minute ? ` · ${limitText.rate(d.rate_per_minute)}` : '');
    case 'key.updated':
      // Each field is null unless it changed.
      return [
        d.allowed_cidrs != null && `allowed networks: ${limitText.networks(d.old_allowed_cidrs)}` +
          ` → ${limitText.networks(d.allowed_cidrs)}`,
        d.roles != null && `roles: ${limitText.roles(d.old_roles)} → ${limitText.roles(d.roles)}`,
        d.rate_per_minute != null && `logins per minute: ${limitText.rate(d.old_rate_per_minute)}` +
          ` → ${limitText.rate(d.rate_per_minute)}`,
        d.description != null && `description: “${d.old_description || ''}” → “${d.description}”`,
      ].filter(Boolean).join('; ');
    case 'principal.erased':
      return 'personal data erased: name, email, key descriptions and addresses read [erased]';
    case 'log.archived':
      return `events up to #${d.through} moved to the archive (${d.events} events), signed`;
    case 'log.history_deleted':
      return `archived events up to #${d.through} deleted by retention (${d.events} events); ` +
        'the chain verifies from here';
    case 'token.issued':
      return `token ${d.jti ? d.jti.slice(0, 8) : ''}… valid ${d.exp - d.iat} s`;
    case 'token.revoked':
      return `token ${d.jti ? d.jti.slice(0, 8) : ''}… revoked (${d.reason === 'signed_out' ? 'signed out' : d.reason})`;
    case 'login.failed': {
      const times = d.attempts > 1 ? ` (${d.attempts} attempts)` : '';
      if (d.reason === 'source_not_allowed') {
        return `blocked: used from ${e.source_ip || 'an unknown address'}, outside the key’s ` +
          `allowed networks${times}`;
      }
      if (d.reason === 'rate_limited') return `over the key’s logins per minute: answered 429${times}`;
      return d.reason ? `reason: ${d.reason}` : '';
    }
    case 'settings.changed':
      return (d.changes || []).map((c) => `${c.name}: ${c.old} → ${c.new}`).join('; ');
    case 'audit.read':
      return `${d.route}${d.filters ? ` ? ${d.filters}` : ''}`;
    case 'email.sent':
    case 'email.failed':
      if (d.kind === 'blocked_use') {
        return `blocked-use notice to ${d.to}${d.network ? ` (network ${d.network})` : ''}`;
      }
      return d.to ? `to ${d.to}` : '';
    default:
      return '';
  }
}

function keyLink(apikey) {
  return h('a.mono', {
    href: `#/keys/${encodeURIComponent(apikey)}/timeline`,
    title: `Timeline of ${apikey}`,
  }, apikey);
}

function principalLink(id) {
  const href = principalHref(id);
  return href ? h('a.mono', { href }, id) : h('span.mono', null, id);
}

export function eventRow(e) {
  const s = subjects(e);
  const reason = e.type === 'login.failed' && e.data ? e.data.reason : null;
  // A use of a key from outside its allowed networks stands out.
  const blocked = reason === 'source_not_allowed';
  return h('tr', {
    'data-seq': String(e.seq), 'data-type': e.type, 'data-reason': reason, class: blocked ? 'blocked' : null,
  },
    h('td.num', null, String(e.seq)),
    h('td', null, timeEl(e.time, { seconds: true })),
    h('td', null, h('span.event-type', null, e.type),
      blocked ? h('div', null, h('span.badge.badge-blocked', null, 'blocked')) : null),
    h('td', null, e.actor === 'system' || e.actor === 'anonymous'
      ? h('span.muted', null, e.actor) : principalLink(e.actor),
    e.source_ip ? h('div.muted.small', null, e.source_ip) : null),
    h('td', null, s.principal ? principalLink(s.principal) : null,
      s.apikeys.map((k) => h('div', null, keyLink(k)))),
    h('td.details', null, h('span', null, summary(e)),
      h('details', null, h('summary', null, 'Event'),
        h('pre', null, JSON.stringify(e, null, 2))),
      h('a.small', { href: `#/incident?at=${e.seq}` }, 'State at this event')));
}

function eventTable(label, tbody) {
  return h('table.list.events', { 'aria-label': label },
    h('thead', null, h('tr', null,
      h('th.num', { scope: 'col' }, 'Seq'), h('th', { scope: 'col' }, 'Time'),
      h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Actor'),
      h('th', { scope: 'col' }, 'Subject'), h('th', { scope: 'col' }, 'Details'))),
    tbody);
}

export async function auditView(ctx) {
  const q = ctx.query;
  const apikey = h('input', { id: 'audit-apikey', value: q.get('apikey') || '', spellcheck: 'false', placeholder: 'lk_…' });
  const principal = h('input', {
    id: 'audit-principal', value: q.get('principal_id') || '', spellcheck: 'false',
    placeholder: 'usr_… or sa_…',
  });
  const type = h('select', { id: 'audit-type' },
    h('option', { value: '' }, 'Any type'),
    EVENT_TYPES.map((t) => h('option', { value: t, selected: q.get('type') === t }, t)));
  const actor = h('input', { id: 'audit-actor', value: q.get('actor') || '', spellcheck: 'false', placeholder: 'principal id or system' });
  const from = h('input', {
    id: 'audit-from', type: 'datetime-local', step: '1',
    value: q.get('from') ? toLocalInput(q.get('from')) : '',
  });
  const to = h('input', {
    id: 'audit-to', type: 'datetime-local', step: '1',
    value: q.get('to') ? toLocalInput(q.get('to')) : '',
  });
  const status = statusLine();
  const tbody = h('tbody');
  const older = h('button.secondary', { type: 'button', id: 'audit-older' }, 'Older events');
  older.hidden = true;
  let next = null;

  const filters = () => ({
    apikey: apikey.value.trim(),
    principal_id: principal.value.trim(),
    type: type.value,
    actor: actor.value.trim(),
    from: fromLocalInput(from.value),
    to: fromLocalInput(to.value),
  });

  async function load(reset) {
    const f = filters();
    try {
      const data = await api('GET', withQuery('/iam/audit', {
        ...f, order: 'desc', limit: PAGE, before: reset ? '' : next,
      }));
      if (reset) clear(tbody);
      for (const e of data.events) tbody.append(eventRow(e));
      if (reset && data.events.length === 0) {
        tbody.append(h('tr.empty', null, h('td', { colspan: '6' }, 'No event matches these filters.')));
      }
      next = data.next;
      older.hidden = !next;
      status.info(`${tbody.querySelectorAll('tr[data-seq]').length} events shown, newest first.`);
    } catch (err) {
      status.error(err.message);
    }
  }

  const form = h('form.filters.panel', { method: 'get', role: 'search', 'aria-label': 'Audit filters' },
    h('div.grid', null,
      field('API key', apikey),
      field('Principal', principal),
      field('Type', type),
      field('Actor', actor),
      field('From', from),
      field('To', to)),
    h('div.actions', null,
      h('button.secondary', {
        type: 'button',
        onclick: () => { for (const i of [apikey, principal, actor, from, to]) i.value = ''; type.value = ''; apply(); },
      }, 'Clear'),
      h('button.primary', { type: 'submit', id: 'audit-apply' }, 'Apply')));

  function apply() {
    const f = filters();
    // The filters go in the address so a view can be linked and revisited.
    history.replaceState(null, '', withQuery('#/audit', f));
    load(true);
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
  older.addEventListener('click', () => load(false));

  await load(true);
  return append(h('section.page'), [
    h('div.page-head', null, h('h1', null, 'Audit')),
    h('p.muted', null, 'Every change, token and failed login, newest first. ',
      'Click a key for its whole timeline, or “State at this event” to replay the state then.'),
    form, status.el, eventTable('Audit events', tbody), older,
  ]);
}

export async function timelineView(ctx, apikey) {
  const status = statusLine();
  const tbody = h('tbody');
  const later = h('button.secondary', { type: 'button' }, 'Later events');
  later.hidden = true;
  let next = null;
  let owner = null;

  async function load(reset) {
    try {
      const data = await api('GET', withQuery(`/iam/keys/${encodeURIComponent(apikey)}/timeline`, {
        limit: 200, after: reset ? '' : next,
      }));
      if (reset) clear(tbody);
      for (const e of data.events) {
        if (!owner && e.type === 'key.created') owner = e.data.principal_id;
        tbody.append(eventRow(e));
      }
      next = data.next;
      later.hidden = !next;
      status.clear();
    } catch (err) {
      status.error(err.message);
      if (reset) throw err;
    }
  }
  later.addEventListener('click', () => load(false));
  await load(true);
  const ownerHref = owner && principalHref(owner);
  return append(h('section.page'), [
    h('nav.breadcrumb', { 'aria-label': 'Breadcrumb' },
      h('a', { href: '#/audit' }, 'Audit'), ' › ', h('span', null, 'Key timeline')),
    h('div.page-head', null, h('h1', null, 'Timeline of ', h('code', null, apikey)),
      h('div.toolbar', null,
        ownerHref ? h('a.button.secondary', { href: ownerHref }, 'Owner') : null,
        h('a.button.secondary', { href: withQuery('#/audit', { apikey }) }, 'In the audit log'))),
    h('p.muted', null, 'Every event that touched this key, oldest first: its creation, ',
      'each token it was traded for, failed logins (uses from outside its allowed networks ',
      'marked blocked, with the address), changes to its limits (old → new), disabling ',
      'and deletion.'),
    status.el, eventTable('Key timeline', tbody), later,
  ]);
}
