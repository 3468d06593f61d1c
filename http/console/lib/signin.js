// The sign-in form of the console and of the platform page: an API key and
// its secret key, posted from script (never by the browser: the CSP's
// form-action 'none'), the secret cleared from the form whatever happens.

import { h, append } from './dom.js';

// Fills `main` with the form. `signIn(apikey, secret)` does the rest and
// throws to refuse; `refusal(err)` words the refusal. `message` (an error,
// or a confirmation when `ok`) is shown first.
export function signInForm(main, { title, intro, message, ok, signIn, refusal }) {
  const apikey = h('input', {
    id: 'signin-apikey', name: 'apikey', autocomplete: 'username', required: true,
    spellcheck: 'false', placeholder: 'lk_…',
  });
  const secret = h('input', {
    id: 'signin-secretkey', name: 'secretkey', type: 'password', autocomplete: 'current-password',
    required: true, placeholder: 'lks_…',
  });
  const status = h('p.status', { role: 'alert', id: 'signin-status' }, message || '');
  if (message) status.classList.add(ok ? 'ok' : 'error');
  const button = h('button.primary', { type: 'submit' }, 'Sign in');
  const form = h('form.signin-form', { method: 'post', 'aria-labelledby': 'signin-title' },
    h('div.field', null, h('label', { for: apikey.id }, 'API key'), apikey),
    h('div.field', null, h('label', { for: secret.id }, 'Secret key'), secret),
    status,
    h('div.actions', null, button));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    status.className = 'status';
    status.textContent = 'Signing in…';
    const typed = secret.value;
    secret.value = '';
    try {
      await signIn(apikey.value.trim(), typed);
    } catch (err) {
      status.className = 'status error';
      status.textContent = refusal(err);
      button.disabled = false;
      secret.focus();
    }
  });
  append(main, h('section.signin', null,
    h('div.signin-brand', null, h('span.logo', { 'aria-hidden': 'true' }, 'lk'), 'latchkey'),
    h('h1', { id: 'signin-title' }, title),
    h('p.muted', null, intro),
    form));
  apikey.focus();
}
