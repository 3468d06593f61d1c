// The HTTP API, called from this origin only (CSP connect-src 'self').
//
// The session's token is in an HttpOnly, SameSite=Strict cookie set by the
// server (POST /iam/session): no script, this one included, can read it, and
// the browser sends it with this host's API requests only. A reload keeps the
// session; signing out revokes the token on the server. What this module
// holds is the session's CSRF token, which every change sends back in
// X-CSRF-Token (a write without it is refused).

let sessionPath = '/iam/session';
let csrf = null;
let expiresAt = 0; // ms since the epoch
let expiryTimer = null;
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

// The platform page signs in at /platform/session instead.
export function useSessionAt(path) {
  sessionPath = path;
}

// Called with a reason when the session ends by itself (expired or revoked).
export function setSignedOutHandler(fn) {
  onSignedOut = fn;
}

export function signedIn() {
  return csrf !== null;
}

export function sessionExpiresAt() {
  return expiresAt ? new Date(expiresAt) : null;
}

function started(body) {
  csrf = body.csrf_token;
  expiresAt = Date.now() + Number(body.expires_in) * 1000;
  clearTimeout(expiryTimer);
  // setTimeout holds at most ~24.8 days; longer sessions are checked on use.
  const ms = Math.min(Number(body.expires_in) * 1000, 2 ** 31 - 1);
  expiryTimer = setTimeout(() => end('Your session expired. Sign in again.'), ms);
  return body;
}

// Trades the keys for a session. The secret goes in the POST body only.
export async function login(apikey, secretkey) {
  const r = await fetch(sessionPath, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ auth_mode: 'apikey', apikey, secretkey }),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, body.error, body.message);
  return started(body);
}

// Picks up the session of this host's cookie, if there is one that stands
// (after a reload). Resolves true when signed in.
export async function resume() {
  const r = await fetch(sessionPath, {
    headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store',
  }).catch(() => null);
  if (!r || !r.ok) return false;
  const body = await r.json().catch(() => null);
  if (!body || !body.csrf_token) return false;
  started(body);
  return true;
}

function forget() {
  csrf = null;
  expiresAt = 0;
  clearTimeout(expiryTimer);
}

// Signs out: the server revokes the token (token.revoked) and clears the
// cookie. Forgotten here whatever the server answers.
export async function logout() {
  const token = csrf;
  forget();
  if (token === null) return;
  await fetch(sessionPath, {
    method: 'DELETE', headers: { 'X-CSRF-Token': token, Accept: 'application/json' },
    credentials: 'same-origin', cache: 'no-store',
  }).catch(() => null);
}

function end(reason) {
  if (csrf === null) return;
  forget();
  onSignedOut(reason);
}

// Calls the API with the session. Resolves to the parsed JSON body (null for
// 204); rejects with ApiError. A 401 ends the session.
export async function api(method, path, body) {
  if (csrf === null) throw new ApiError(401, 'unauthorized', 'Not signed in.');
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    const err = new ApiError(r.status, data && data.error, data && data.message);
    if (r.status === 401) end('Your session ended (expired or revoked). Sign in again.');
    throw err;
  }
  return data;
}

// Builds "path?k=v&..." leaving out empty values.
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
