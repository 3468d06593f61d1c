// The platform page (/console/platform on the base domain): platform
// operators sign in with their keys and manage projects over /platform/*.
// The session is the platform's HttpOnly cookie (path /platform), apart from
// any project's.

import * as API from './lib/api.js';
import {
  h, clear, append, icon, timeEl, modal, confirmDialog, statusLine, field, copyButton,
} from './lib/dom.js';
import { usagePanel } from './lib/charts.js';
import { signInForm } from './lib/signin.js';

API.useSessionAt('/platform/session');

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const sessionBox = document.getElementById('session');

// ---- sign-in -------------------------------------------------------------------

function signInView(message, ok) {
  topbar.hidden = true;
  clear(main);
  signInForm(main, {
    title: 'Sign in to the platform',
    intro: ['Use a platform operator\'s API key and secret key (for a first start, the ones ',
      h('code', null, 'latchkey init'), ' printed under ', h('code', null, 'platform'),
      '). A project\'s own admins sign in at that project\'s console instead.'],
    message,
    ok,
    async signIn(apikey, secret) {
      await API.login(apikey, secret);
      await startSession();
    },
    refusal: (err) => (err.status === 401
      ? 'Those keys were not accepted as a platform operator\'s.'
      : err.status === 429 ? `Sign-in refused for a while: ${err.message}.`
        : `Sign-in failed: ${err.message}`),
  });
}

async function startSession() {
  topbar.hidden = false;
  clear(sessionBox);
  append(sessionBox, [
    h('span.who', null, 'Platform operator'),
    h('button.secondary.small', { type: 'button', id: 'signout', onclick: signOut }, 'Sign out'),
  ]);
  await projectsView();
}

async function signOut() {
  await API.logout();
  signInView('You signed out.', true);
}

API.setSignedOutHandler((reason) => signInView(reason));

// ---- projects --------------------------------------------------------------------

function consoleUrl(id) {
  return `${location.protocol}//${id}.${location.host}/console/`;
}

function statusBadge(status) {
  return h(`span.badge.${status === 'active' ? 'badge-active' : 'badge-expired'}`, { 'data-status': status }, status);
}

async function projectsView() {
  clear(main);
  const search = h('input', {
    type: 'search', id: 'search', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'Search by id or name',
  });
  const tbody = h('tbody', { id: 'projects' });
  const more = h('button.secondary', { type: 'button', id: 'load-more' }, 'Load more');
  more.hidden = true;
  const status = statusLine();
  let next = null;
  let seq = 0;

  async function load(reset) {
    const my = ++seq;
    const q = search.value.trim();
    try {
      const data = await API.api('GET', API.withQuery('/platform/projects', {
        search: q, limit: 50, cursor: reset ? '' : next,
      }));
      if (my !== seq) return;
      if (reset) clear(tbody);
      for (const p of data.items) tbody.append(row(p));
      next = data.next;
      more.hidden = !next;
      if (reset && data.items.length === 0) {
        tbody.append(h('tr.empty', null, h('td', { colspan: '4' },
          q ? `No project matches “${q}”.` : 'No project yet.')));
      }
      status.clear();
    } catch (err) {
      if (my === seq) status.error(err.message);
    }
  }

  function row(p) {
    const tr = h('tr', { 'data-id': p.id });
    const fill = (proj) => {
      clear(tr);
      const toggle = proj.status === 'active'
        ? h('button.secondary.small', { type: 'button', 'data-action': 'suspend', onclick: () => setStatus(proj, 'suspended') }, 'Suspend')
        : h('button.secondary.small', { type: 'button', 'data-action': 'resume', onclick: () => setStatus(proj, 'active') }, 'Resume');
      append(tr, [
        h('td', null,
          h('button.link.name', { type: 'button', onclick: () => detailsDialog(proj) }, proj.name),
          h('div.muted.mono.small', null, proj.id)),
        h('td', null, statusBadge(proj.status)),
        h('td', null, timeEl(proj.created_at)),
        h('td', null, h('div.row-actions', null, toggle,
          proj.id === 'default' ? null
            : h('button.danger.small', { type: 'button', 'data-action': 'delete', onclick: () => remove(proj) },
              icon('trash'), h('span', null, 'Delete')))),
      ]);
    };
    async function setStatus(proj, to) {
      if (to === 'suspended') {
        const ok = await confirmDialog({
          title: 'Suspend project',
          message: `Suspend “${proj.name}” (${proj.id})? It issues no token and accepts no change ` +
            'until it is resumed; its audit stays readable here.',
          action: 'Suspend',
        });
        if (!ok) return;
      }
      try {
        const updated = await API.api('PATCH', `/platform/projects/${proj.id}`, { status: to });
        fill(updated);
        status.ok(`${proj.id} is now ${updated.status}.`);
      } catch (err) {
        status.error(err.message);
      }
    }
    async function remove(proj) {
      const ok = await deleteDialog(proj);
      if (!ok) return;
      try {
        await API.api('DELETE', `/platform/projects/${proj.id}`);
        tr.remove();
        status.ok(`${proj.id} was deleted: it answers 404 from now on and its data is removed.`);
      } catch (err) {
        status.error(err.message);
      }
    }
    fill(p);
    return tr;
  }

  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => load(true), 200);
  });
  more.addEventListener('click', () => load(false));
  const create = h('button.primary', {
    type: 'button', id: 'new-project', onclick: () => newProjectDialog(() => load(true)),
  }, 'New project');

  await load(true);
  append(main, h('section.page', null,
    usagePanel({
      idPrefix: 'platform',
      title: 'Use of all projects',
      load: (period) => API.api('GET', `/platform/usage?period=${period}`),
    }),
    h('div.page-head', null,
      h('h1', null, 'Projects'),
      h('div.toolbar', { role: 'search' },
        h('label.sr-only', { for: search.id }, 'Search projects'),
        h('div.search-box', null, icon('search'), search),
        create)),
    status.el,
    h('table.list', { 'aria-label': 'Projects' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Project'), h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Actions'))),
      tbody),
    more));
}

// Deleting needs the project's id typed again.
function deleteDialog(proj) {
  return new Promise((resolve) => {
    let ok = false;
    const m = modal({ title: 'Delete project', className: 'confirm', onClose: () => resolve(ok) });
    const typed = h('input', { id: 'confirm-id', autocomplete: 'off', spellcheck: 'false' });
    const go = h('button.danger', { type: 'button', id: 'confirm-delete', disabled: true,
      onclick: () => { ok = true; m.close(); } }, 'Delete');
    typed.addEventListener('input', () => { go.disabled = typed.value.trim() !== proj.id; });
    append(m.body, [
      h('p', null, `Delete “${proj.name}”? It stops at once: every key and token of it fails, `,
        'and its log, keys and settings are removed. The platform\'s log keeps who deleted it, ',
        'when, and its final chain head. This cannot be undone.'),
      field(`Type ${proj.id} to confirm`, typed),
      h('div.actions', null,
        h('button.secondary', { type: 'button', onclick: () => m.close() }, 'Cancel'), go),
    ]);
    typed.focus();
  });
}

function newProjectDialog(onCreated) {
  const m = modal({ title: 'New project' });
  const id = h('input', {
    id: 'new-id', required: true, maxlength: '63', autocomplete: 'off', spellcheck: 'false',
    // (the v flag browsers use for pattern= wants '-' escaped in a class)
    pattern: '[a-z0-9]([a-z0-9\\-]{0,61}[a-z0-9])?',
  });
  const name = h('input', { id: 'new-name', maxlength: '200', autocomplete: 'off' });
  const status = statusLine();
  const form = h('form', { method: 'dialog' },
    field('Id', id, 'Its subdomain: a-z, 0-9 and -, e.g. acme for acme.' + location.hostname + '.'),
    field('Name', name, 'Shown to operators; the id if empty.'),
    status.el,
    h('div.actions', null,
      h('button.secondary', { type: 'button', onclick: () => m.close() }, 'Cancel'),
      h('button.primary', { type: 'submit', id: 'create-project' }, 'Create')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { id: id.value.trim() };
    if (name.value.trim()) body.name = name.value.trim();
    try {
      const created = await API.api('POST', '/platform/projects', body);
      m.close();
      firstAdminDialog(created, onCreated);
    } catch (err) {
      status.error(err.message);
    }
  });
  m.body.append(form);
  id.focus();
}

// The one window that shows the first admin's secret key: removed from the
// DOM when it closes.
function firstAdminDialog(created, onClosed) {
  let secret = created.admin.secretkey;
  delete created.admin.secretkey;
  const apikeyEl = h('code.key-value', { id: 'new-apikey' }, created.admin.apikey);
  const secretEl = h('code.key-value', { id: 'new-secretkey' }, secret);
  const m = modal({
    title: `Project ${created.id}: its first admin's keys`,
    className: 'keys-dialog',
    onClose: () => {
      secretEl.textContent = '';
      secret = null;
      onClosed();
    },
  });
  const close = h('button.primary', { type: 'button', id: 'close-keys', onclick: () => m.close() }, 'Close');
  append(m.body, [
    h('p.warning', { role: 'note' },
      h('strong', null, 'After closing this window, there is no way to view the secret key again. '),
      'Give these keys to the project\'s first admin: they sign in at ',
      h('a', { href: consoleUrl(created.id), id: 'new-console' }, consoleUrl(created.id)), '.'),
    h('dl.keys', null,
      h('dt', null, 'API key'),
      h('dd', null, apikeyEl, copyButton('API key', apikeyEl, () => created.admin.apikey)),
      h('dt', null, 'Secret key'),
      h('dd', null, secretEl, copyButton('secret key', secretEl, () => secret)),
      h('dt', null, 'Admin'),
      h('dd', { id: 'new-admin' }, created.admin.principal_id),
      h('dt', null, 'Expires'),
      h('dd', null, timeEl(created.admin.expires_at))),
    h('div.actions', null, close),
  ]);
  close.focus();
}

async function detailsDialog(proj) {
  const m = modal({ title: `${proj.name} (${proj.id})`, className: 'details' });
  const status = statusLine();
  m.body.append(status.el);
  status.info('Loading…');
  try {
    const p = await API.api('GET', `/platform/projects/${proj.id}`);
    status.clear();
    append(m.body, [
      h('dl.facts', { id: 'project-usage' },
        h('dt', null, 'Status'), h('dd', null, statusBadge(p.status)),
        h('dt', null, 'Console'), h('dd', null, h('a', { href: consoleUrl(p.id) }, consoleUrl(p.id))),
        h('dt', null, 'Principals'), h('dd', { 'data-key': 'principals' }, String(p.usage.principals)),
        h('dt', null, 'Keys'), h('dd', { 'data-key': 'keys' }, String(p.usage.keys)),
        h('dt', null, 'Active keys'), h('dd', { 'data-key': 'active_keys' }, String(p.usage.active_keys)),
        h('dt', null, 'Tokens issued (24 h)'), h('dd', { 'data-key': 'tokens_issued_24h' }, String(p.usage.tokens_issued_24h)),
        h('dt', null, 'Events in its log'), h('dd', { 'data-key': 'events' }, String(p.usage.events)),
        h('dt', null, 'Login rate limit'),
        h('dd', null, p.login_rate_per_second ? `${p.login_rate_per_second}/s` : 'unlimited')),
      h('div.actions', null, h('button.primary', { type: 'button', onclick: () => m.close() }, 'Close')),
    ]);
  } catch (err) {
    status.error(err.message);
  }
}

document.getElementById('skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

(async () => {
  if (await API.resume()) {
    try {
      await startSession();
      return;
    } catch {
      // the sign-in below
    }
  }
  signInView();
})();
