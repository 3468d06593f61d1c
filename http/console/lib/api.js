// The HTTP API, called from this origin only (CSP connect-src 'self').
// The access token lives in this module's variable and nowhere else: not in
// localStorage, sessionStorage, a cookie or the URL. Reloading the page or
// closing the tab signs out.

let token = null;
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

// Called with a reason when the session ends by itself (expired or revoked).
export function setSignedOutHandler(fn) {
  onSignedOut = fn;
}

export function signedIn() {
  return token !== null;
}

export function sessionExpiresAt() {
  return expiresAt ? new Date(expiresAt) : null;
}

// Trades the keys for a token. The secret goes in the POST body only.
export async function login(apikey, secretkey) {
  const r = await fetch('/iam/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ auth_mode: 'apikey', apikey, secretkey }),
    credentials: 'omit',
    cache: 'no-store',
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, body.error, body.message);
  token = body.access_token;
  expiresAt = Date.now() + Number(body.expires_in) * 1000;
  clearTimeout(expiryTimer);
  // setTimeout holds at most ~24.8 days; longer sessions are checked on use.
  const ms = Math.min(Number(body.expires_in) * 1000, 2 ** 31 - 1);
  expiryTimer = setTimeout(() => end('Your session expired. Sign in again.'), ms);
  return { expires_in: body.expires_in, expires_at: body.expires_at };
}

export function logout() {
  token = null;
  expiresAt = 0;
  clearTimeout(expiryTimer);
}

function end(reason) {
  if (token === null) return;
  logout();
  onSignedOut(reason);
}

// Calls the API with the bearer token. Resolves to the parsed JSON body (null
// for 204); rejects with ApiError. A 401 ends the session.
export async function api(method, path, body) {
  if (token === null) throw new ApiError(401, 'unauthorized', 'Not signed in.');
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
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
