// The latchkey admin console: sign-in, then a hash router over the screens.
// Routes hold only ids and filters (never a secret); the session is an
// HttpOnly cookie that no script reads (lib/api.js), so a reload keeps it.

import * as API from './lib/api.js';
import { h, clear, append, localDate, localDateTime } from './lib/dom.js';
import { listView, principalView } from './views/principals.js';
import { settingsView } from './views/settings.js';
import { auditView, timelineView } from './views/audit.js';
import { incidentView } from './views/incident.js';
import { signInForm } from './lib/signin.js';
import { overviewView } from './views/overview.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const nav = document.getElementById('nav');
const sessionBox = document.getElementById('session');

let me = null; // GET /iam/me of the signed-in principal
let renderSeq = 0;

const NAV = [
  { href: '#/overview', label: 'Overview', match: /^\/overview/, role: 'read' },
  { href: '#/users', label: 'Users', match: /^\/users/, role: 'admin' },
  { href: '#/service-accounts', label: 'Service Accounts', match: /^\/service-accounts/, role: 'admin' },
  { href: '#/settings', label: 'Settings', match: /^\/settings/, role: 'read' },
  { href: '#/audit', label: 'Audit', match: /^\/(audit|keys\/)/, role: 'read' },
  { href: '#/incident', label: 'Incident', match: /^\/incident/, role: 'read' },
];

const ROUTES = [
  [/^\/overview$/, (m, q) => overviewView(ctx(q))],
  [/^\/users$/, (m, q) => listView(ctx(q), 'user')],
  [/^\/service-accounts$/, (m, q) => listView(ctx(q), 'service_account')],
  [/^\/users\/([A-Za-z0-9_]+)$/, (m, q) => principalView(ctx(q), 'user', m[1])],
  [/^\/service-accounts\/([A-Za-z0-9_]+)$/, (m, q) => principalView(ctx(q), 'service_account', m[1])],
  [/^\/settings$/, (m, q) => settingsView(ctx(q))],
  [/^\/audit$/, (m, q) => auditView(ctx(q))],
  [/^\/keys\/([A-Za-z0-9_]+)\/timeline$/, (m, q) => timelineView(ctx(q), m[1])],
  [/^\/incident$/, (m, q) => incidentView(ctx(q))],
];

function isAdmin() {
  return me && me.roles.includes('admin');
}

function canRead() {
  return me && (me.roles.includes('admin') || me.roles.includes('auditor'));
}

// Pages that need the admin role (the API answers 403 to anyone else).
const ADMIN_ONLY = /^\/(users|service-accounts)(\/|$)/;

function ctx(query) {
  return { query, me, isAdmin: isAdmin(), navigate };
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function currentRoute() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '';
  const qpos = raw.indexOf('?');
  const path = qpos < 0 ? raw : raw.slice(0, qpos);
  const query = new URLSearchParams(qpos < 0 ? '' : raw.slice(qpos + 1));
  return { path, query };
}

// ---- sign-in -------------------------------------------------------------------

function signInView(message) {
  topbar.hidden = true;
  clear(main);
  signInForm(main, {
    title: 'Sign in to the Identity Access Manager',
    intro: ['Use an API key and its secret key (for a first start, the ones ',
      h('code', null, 'latchkey init'), ' printed). The session lasts as long as the token, ',
      'in a cookie of this host that no script can read: a reload keeps it, signing out ',
      'revokes it.'],
    message,
    async signIn(apikey, secret) {
      try {
        await API.login(apikey, secret);
        me = await API.api('GET', '/iam/me');
        if (!canRead()) {
          const who = me.name;
          throw new Error(`${who} has neither the admin nor the auditor role: ` +
            'the console has nothing to show to these keys.');
        }
      } catch (err) {
        me = null;
        if (API.signedIn()) await API.logout();
        throw err;
      }
      startSession();
    },
    // A 429 is a lockout after failed sign-ins or a key over its logins per
    // minute; the server's message says which.
    refusal: (err) => (err.status === 401
      ? 'Those keys were not accepted (unknown, wrong, expired, disabled, deleted, ' +
        'or not allowed from this address).'
      : err.status === 429
        ? `Sign-in refused for a while: ${err.message}.`
        : err.status ? `Sign-in failed: ${err.message}` : err.message),
  });
}

function startSession() {
  topbar.hidden = false;
  clear(nav);
  for (const item of NAV) {
    if (item.role === 'admin' ? !isAdmin() : !canRead()) continue;
    nav.append(h('a', { href: item.href, 'data-match': item.match.source }, item.label));
  }
  clear(sessionBox);
  const until = API.sessionExpiresAt();
  append(sessionBox, [
    h('span.who', null, 'Signed in as ', h('strong', { id: 'session-name' }, me.name)),
    // The session's end: the time, with the date too when it is not today.
    until ? h('span.until', { title: until.toISOString() }, `until ${
      localDate(until) === localDate(new Date()) ? localDateTime(until).slice(11) : localDateTime(until)}`) : null,
    h('button.secondary.small', { type: 'button', id: 'signout', onclick: signOut }, 'Sign out'),
  ]);
  const { path } = currentRoute();
  const home = isAdmin() ? '#/users' : '#/audit';
  if (!path || path === '/' || (!isAdmin() && ADMIN_ONLY.test(path))) navigate(home);
  else render();
}

async function signOut() {
  await API.logout();
  me = null;
  // Leave no page content behind (names, keys listed).
  signInView('You signed out.');
  document.getElementById('signin-status').className = 'status ok';
}

API.setSignedOutHandler((reason) => {
  me = null;
  signInView(reason);
});

// ---- rendering -------------------------------------------------------------------

async function render() {
  if (!API.signedIn()) return signInView();
  const { path, query } = currentRoute();
  for (const a of nav.querySelectorAll('a')) {
    if (new RegExp(a.dataset.match).test(path)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const my = ++renderSeq;
  clear(main);
  main.append(h('p.loading', { role: 'status' }, 'Loading…'));
  let view;
  try {
    const route = ROUTES.find(([re]) => re.test(path));
    if (route && !isAdmin() && ADMIN_ONLY.test(path)) {
      view = h('section', null, h('h1', { tabindex: '-1' }, 'Not allowed'),
        h('p', null, 'This page needs the admin role.'));
    } else if (!route) {
      view = h('section', null, h('h1', { tabindex: '-1' }, 'Not found'),
        h('p', null, 'There is no such page in the console.'));
    } else {
      view = await route[1](path.match(route[0]), query);
    }
  } catch (err) {
    if (!API.signedIn()) return; // the session ended; the sign-in view is shown
    view = h('section', null, h('h1', { tabindex: '-1' }, 'Something went wrong'),
      h('p.status.error', { role: 'alert' }, err.message || String(err)));
  }
  if (my !== renderSeq || !API.signedIn()) return; // a newer navigation won
  clear(main);
  main.append(view);
  const heading = main.querySelector('h1');
  if (heading) {
    if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#/')) render();
});

document.getElementById('skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

// After a reload: the cookie's session, if it still stands.
(async () => {
  if (await API.resume()) {
    try {
      me = await API.api('GET', '/iam/me');
      if (canRead()) return startSession();
    } catch {
      // the sign-in below
    }
    me = null;
  }
  signInView();
})();
