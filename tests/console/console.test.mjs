// Browser test of the admin console (issue 8), run by ctest:
//   node console.test.mjs --latchkey PATH/latchkey --modules DIR_WITH_NODE_MODULES
// Starts the real server itself (latchkey init on a temporary directory, then
// serve on 127.0.0.1:0, mailing through an SMTP sink: Debian's aiosmtpd, as
// the email tests use it) and drives Debian's Chromium through
// playwright-core: sign-in, users, API access, the keys window, keys sent by
// email, a key's limits (allowed networks, roles, logins per minute: set,
// shown, edited, refused, and a blocked use in the key's timeline), delete,
// disable/enable, settings, a hostile name, audit, timeline and incident
// views. The server is stopped with SIGTERM at the end and must exit 0; no
// latchkey process may leave a sanitizer report on its stderr.
// LATCHKEY_CONSOLE_SCREENSHOTS=DIR also saves a PNG of each main screen there
// (with the secret key redacted in the page before the shot).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// ---- arguments, playwright-core ---------------------------------------------------

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`usage: node console.test.mjs --latchkey BIN --modules DIR (missing ${name})`);
    process.exit(2);
  }
  return path.resolve(process.argv[i + 1]);
}
const latchkey = arg('--latchkey');
const modules = arg('--modules');
// node_modules lives in the build directory (npm ci there), never in the source tree.
const { chromium } = createRequire(path.join(modules, 'noop.js'))('playwright-core');

const shotsDir = process.env.LATCHKEY_CONSOLE_SCREENSHOTS
  ? path.resolve(process.env.LATCHKEY_CONSOLE_SCREENSHOTS) : null;
if (shotsDir) mkdirSync(shotsDir, { recursive: true });

const DAY = 86400000;
const HOSTILE = '<img src=x onerror=alert(1)>';

// ---- sanitizer reports --------------------------------------------------------------

// The first sanitizer report in a process's stderr (AddressSanitizer,
// LeakSanitizer, UBSan, ThreadSanitizer), or null: the same markers as
// tests/support/child_process.h looks for.
const SANITIZER_MARKERS = [
  'ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'AddressSanitizer:DEADLYSIGNAL',
  'WARNING: ThreadSanitizer', 'ERROR: ThreadSanitizer', 'runtime error:',
  'SUMMARY: AddressSanitizer', 'SUMMARY: LeakSanitizer', 'SUMMARY: ThreadSanitizer',
  'SUMMARY: UndefinedBehaviorSanitizer',
];
function sanitizerReport(err) {
  const at = Math.min(...SANITIZER_MARKERS.map((m) => err.indexOf(m)).filter((i) => i >= 0));
  if (!Number.isFinite(at)) return null;
  return err.slice(err.lastIndexOf('\n', at) + 1).slice(0, 6000);
}

// ---- the SMTP sink ----------------------------------------------------------------

const work = mkdtempSync(path.join(os.tmpdir(), 'latchkey-console-'));
const maildir = path.join(work, 'maildir');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

// aiosmtpd with its stock Mailbox handler, storing each message it accepts
// in a Maildir (a port found free may be taken meanwhile: a few tries).
async function startSmtpSink() {
  let lastErr = '';
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const port = await freePort();
    const proc = spawn('/usr/bin/python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`,
      '-c', 'aiosmtpd.handlers.Mailbox', maildir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => { err += d; });
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && proc.exitCode === null) {
      if (await accepts(port)) return { proc, port };
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGTERM');
    lastErr = err;
  }
  throw new Error(`aiosmtpd did not start: ${lastErr}`);
}

// The messages in the Maildir: raw text and lower-case headers.
function mails() {
  const out = [];
  for (const sub of ['new', 'cur']) {
    const dir = path.join(maildir, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const raw = readFileSync(path.join(dir, f), 'utf8');
      const head = raw.replace(/\r/g, '').split('\n\n')[0];
      const headers = {};
      for (const line of head.split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0 && !/^\s/.test(line)) {
          headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
      }
      out.push({ raw, headers });
    }
  }
  return out;
}

const smtp = await startSmtpSink();

// ---- the server -------------------------------------------------------------------

const dataDir = path.join(work, 'data');
const latchkeyProblems = []; // a failed exit or a sanitizer report of a latchkey process
const init = spawnSync(latchkey, ['init', '--data', dataDir], { encoding: 'utf8' });
if (init.status !== 0 || sanitizerReport(init.stderr)) {
  console.error(`latchkey init failed (${init.status}, ${init.signal}):\n${init.stderr}`);
  smtp.proc.kill('SIGTERM');
  process.exit(1);
}
const admin = JSON.parse(init.stdout);

let serverOut = '';
let serverErr = '';
let serverExit = null; // { code, signal } once it has exited
const server = spawn(latchkey, ['serve', '--data', dataDir, '--listen', '127.0.0.1:0',
  '--set', `smtp.url=smtp://127.0.0.1:${smtp.port}`, '--set', 'smtp.from=console@latchkey.test'], {
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, LATCHKEY_SERVER_ACCESS_LOG: 'stdout' },
});
server.on('exit', (code, signal) => { serverExit = { code, signal }; });
server.stdout.setEncoding('utf8');
server.stderr.setEncoding('utf8');
server.stdout.on('data', (s) => { serverOut += s; });

const base = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`server did not start:\n${serverErr}`)), 60000);
  server.on('exit', (code) => reject(new Error(`server exited (${code}):\n${serverErr}`)));
  server.stderr.on('data', (s) => {
    serverErr += s;
    for (const line of serverErr.split('\n')) {
      if (!line.includes('"msg":"listening"')) continue;
      try {
        const addr = JSON.parse(line).address;
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${addr.slice(addr.lastIndexOf(':') + 1)}`);
      } catch { /* a partial line: wait for the rest */ }
    }
  });
}).catch((err) => {
  server.kill('SIGKILL');
  smtp.proc.kill('SIGTERM');
  const report = sanitizerReport(serverErr);
  if (report) console.error(`the server left a sanitizer report:\n${report}`);
  throw err;
});

// ---- plain HTTP helpers (the API, as a script would use it) -------------------------

async function login(apikey, secretkey) {
  const r = await fetch(`${base}/iam/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ auth_mode: 'apikey', apikey, secretkey }),
  });
  return { status: r.status, body: await r.json() };
}

async function adminGet(p) {
  const t = await login(admin.apikey, admin.secretkey);
  assert.equal(t.status, 200, 'admin login');
  const r = await fetch(`${base}${p}`, { headers: { Authorization: `Bearer ${t.body.access_token}` } });
  assert.equal(r.status, 200, `GET ${p}`);
  return r.json();
}

// fetch() for the names Chromium sends to loopback by itself (localhost and
// *.localhost), which Node's resolver does not: the request goes to
// 127.0.0.1 with the name in Host. Resolves to {status, headers, json(), text()}.
function hostFetch(url, { method = 'GET', headers = {}, body } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: u.port, path: u.pathname + u.search, method,
      headers: { ...headers, Host: u.host },
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers,
        json: async () => JSON.parse(data), text: async () => data,
      }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const utcDate = (ms) => new Date(ms).toISOString().slice(0, 10);

// The claims of a JWT (not verified: the server issued it just now).
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

// ---- the browser ------------------------------------------------------------------

const profile = mkdtempSync(path.join(os.tmpdir(), 'latchkey-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timezoneId: 'UTC',
  locale: 'en-GB',
  viewport: { width: 1280, height: 820 },
});
context.setDefaultTimeout(10000);
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
const page = context.pages()[0] || await context.newPage();

const dialogs = []; // window.alert/confirm/prompt: the console must never raise one
const problems = []; // CSP violations, script errors
const requests = []; // every URL the page asked for
let refusalExpected = false; // a step has the page send a request the server refuses (400, 403)
page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => {
  // The refused sign-in (a 401) is expected, and a 400 while a step asks the
  // server for one; anything else is a problem.
  const failed = /Failed to load resource: .* status of (\d+)/.exec(m.text());
  const expected = failed && (failed[1] === '401'
    || (['400', '403'].includes(failed[1]) && refusalExpected));
  if (m.type() === 'error' && !expected) {
    problems.push(`console error: ${m.text()}`);
  }
});
page.on('request', (r) => requests.push(r.url()));

// ---- steps ------------------------------------------------------------------------

let passed = 0;
const started = Date.now();
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
  } catch (err) {
    console.log(`not ok ${passed + 1} - ${name}`);
    console.log(err && err.stack ? err.stack : err);
    for (const p of problems) console.log(`  page: ${p}`);
    if (shotsDir || process.env.LATCHKEY_CONSOLE_FAILURE_SHOT) {
      const p = path.join(shotsDir || work, 'failure.png');
      await page.screenshot({ path: p, fullPage: true }).catch(() => {});
      console.log(`screenshot of the failure: ${p}`);
    }
    throw err;
  }
  passed += 1;
  console.log(`ok ${passed} - ${name} (${Date.now() - t0} ms)`);
}

async function shot(name, { fullPage = false } = {}) {
  if (!shotsDir) return;
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.join(shotsDir, `${name}.png`), fullPage });
}

// Every visible form control has an accessible label.
async function assertLabelled(where) {
  await assertLabelledOn(page, where);
}

async function assertLabelledOn(p, where) {
  const unlabelled = await p.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && el.getClientRects().length > 0)
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
      && !el.getAttribute('aria-labelledby'))
    .map((el) => el.outerHTML));
  assert.deepEqual(unlabelled, [], `unlabelled controls on ${where}`);
}

// Waits until the event table shows only (and some) events that mention `text`.
async function eventsAllMention(text) {
  await page.waitForFunction((t) => {
    const rows = [...document.querySelectorAll('table.events tbody tr[data-seq]')];
    return rows.length > 0 && rows.every((r) => r.textContent.includes(t));
  }, text);
}

// What the Limits cell of a key's row in the API Access panel shows.
async function keyLimits(apikey) {
  const cell = page.locator(`tr.key-row[data-apikey="${apikey}"] td.limits`);
  const value = async (which) => (await cell.locator(`.limit-${which} .limit-value`).textContent()).trim();
  return { networks: await value('networks'), roles: await value('roles'), rate: await value('rate') };
}

async function heading() {
  return (await page.locator('main h1').first().textContent()).trim();
}

async function openNav(label, h1) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
  await page.locator('main h1', { hasText: h1 }).waitFor();
}

// Everything the page holds as text or in a form control, and every URL it used.
async function pageHolds(text) {
  return page.evaluate((t) => document.documentElement.outerHTML.includes(t)
    || [...document.querySelectorAll('input, textarea')].some((el) => el.value.includes(t))
    || document.body.innerText.includes(t)
    || location.href.includes(t), text);
}

let userApikey = null;
let userSecret = null;
let mailedSecret = null;
let limitedApikey = null; // a key created with limits
let limitedSecret = null;
let userPage = null; // #/users/usr_...
let defaultDays = null;

try {
  await step('the console is served with a strict Content-Security-Policy', async () => {
    const resp = await page.goto(`${base}/console/`);
    assert.equal(resp.status(), 200);
    const csp = resp.headers()['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    await page.locator('#signin-apikey').waitFor();
    await assertLabelled('sign-in');
    await shot('signin');
    // /console without the slash leads to the console too.
    const r = await fetch(`${base}/console`, { redirect: 'manual' });
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('location'), '/console/');
  });

  await step('a wrong secret is refused, the keys from latchkey init sign in', async () => {
    await page.fill('#signin-apikey', admin.apikey);
    await page.fill('#signin-secretkey', `lks_${'0'.repeat(72)}`);
    await page.keyboard.press('Enter');
    await page.locator('#signin-status.error').waitFor();
    assert.equal(await page.inputValue('#signin-secretkey'), '', 'the refused secret is cleared');
    await page.fill('#signin-secretkey', admin.secretkey);
    await page.keyboard.press('Enter');
    await page.locator('main h1', { hasText: 'Users' }).waitFor();
    assert.equal(await page.inputValue('#search'), '');
    // The session is an HttpOnly, SameSite=Strict cookie of this host, for
    // the API's paths: no script reads it, nothing is in the page's storage.
    const stored = await page.evaluate(() => ({
      local: localStorage.length, session: sessionStorage.length, cookie: document.cookie,
    }));
    assert.deepEqual(stored, { local: 0, session: 0, cookie: '' });
    const cookies = await context.cookies();
    assert.equal(cookies.length, 1, JSON.stringify(cookies.map((c) => c.name)));
    const [c] = cookies;
    assert.equal(c.name, 'lk_session');
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.equal(c.path, '/iam');
    assert.equal(c.domain, '127.0.0.1');
    assert.equal(c.secure, false, 'plain HTTP here: Secure only under TLS');
    assert.equal(await pageHolds(c.value), false, 'the session token is readable in the page');
    assert.equal(await pageHolds(admin.secretkey), false, 'the admin secret left the page');
  });

  await step('the default key lifetime is changed in the IAM settings', async () => {
    await openNav('Settings', 'IAM settings');
    await assertLabelled('settings');
    await page.getByLabel('Default key lifetime').fill('45');
    await page.click('#save-settings');
    await page.locator('.status.ok', { hasText: 'default_key_lifetime_days = 45' }).waitFor();
    defaultDays = (await adminGet('/iam/settings')).default_key_lifetime_days;
    assert.equal(defaultDays, 45);
  });

  await step('users are created, listed and found with the search bar', async () => {
    await openNav('Users', 'Users');
    for (const [name, email] of [['Grace Hopper', 'grace@example.com'],
      ['Alan Turing', 'alan@example.com'], ['Ada Lovelace', 'ada@example.com']]) {
      await page.click('#new-principal');
      await assertLabelled('new user');
      await page.fill('#new-name', name);
      await page.fill('#new-email', email);
      await page.getByRole('button', { name: 'Create' }).click();
      await page.locator('main h1', { hasText: name }).waitFor();
      await openNav('Users', 'Users');
    }
    await page.locator('table.list tbody tr[data-id]').nth(2).waitFor();
    await shot('users');
    await page.fill('#search', 'LOVE');
    await page.waitForFunction(() => {
      const rows = document.querySelectorAll('table.list tbody tr[data-id]');
      return rows.length === 1 && rows[0].textContent.includes('Ada Lovelace');
    });
    await assertLabelled('users');
    await shot('users-search');
    await page.fill('#search', 'nobody-has-this-name');
    await page.locator('tr.empty').waitFor();
    await page.fill('#search', 'ada');
    await page.waitForFunction(() => document.querySelectorAll('table.list tbody tr[data-id]').length === 1);
    await page.getByRole('link', { name: 'Ada Lovelace' }).click();
    await page.locator('main h1', { hasText: 'Ada Lovelace' }).waitFor();
    userPage = new URL(page.url()).hash;
    assert.match(userPage, /^#\/users\/usr_[0-9a-f]{16}$/);
    await page.locator('#api-access tr.empty').waitFor();
  });

  await step('Add access with the Default lifetime: the keys window shows both keys once', async () => {
    await page.click('#add-access');
    const dialog = page.locator('dialog.add-access');
    await dialog.waitFor();
    await assertLabelled('add access');
    assert.equal(await page.isChecked('#lifetime-default'), true, 'Default is preselected');
    assert.equal((await page.locator('label[for="lifetime-default"]').textContent()).trim(),
      `Default (${defaultDays} days)`);
    assert.equal(await page.isEnabled('#send-email'), true, 'a user with an email can get the keys by email');
    await page.fill('#key-description', 'console test');
    await shot('add-access');
    const before = Date.now();
    await page.click('#create-key');
    const keys = page.locator('dialog.keys-dialog');
    await keys.waitFor();
    const after = Date.now();
    userApikey = (await page.textContent('#new-apikey')).trim();
    userSecret = (await page.textContent('#new-secretkey')).trim();
    assert.match(userApikey, /^lk_[0-9a-f]{24}$/);
    assert.match(userSecret, /^lks_[0-9a-f]{72}$/);
    assert.match(await keys.textContent(), /there is no way to view the secret key again/);
    // The copy buttons put the exact values on the clipboard.
    await page.getByRole('button', { name: 'Copy the secret key' }).click();
    await keys.getByText('Copied').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), userSecret);
    await page.getByRole('button', { name: 'Copy the API key' }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), userApikey);
    // Expiry: today plus the default lifetime (the browser runs in UTC).
    const expected = new Set([utcDate(before + defaultDays * DAY), utcDate(after + defaultDays * DAY)]);
    const shown = (await page.textContent('#new-expires')).trim().slice(0, 10);
    assert.ok(expected.has(shown), `keys window expiry ${shown}, expected ${[...expected]}`);
    await page.click('#close-keys');
    await keys.waitFor({ state: 'detached' });
    const row = page.locator(`tr.key-row[data-apikey="${userApikey}"]`);
    await row.waitFor();
    const cell = (await row.locator('td.expires').textContent()).trim();
    assert.ok(expected.has(cell.slice(0, 10)), `API Access expiry ${cell}, expected ${[...expected]}`);
    assert.equal((await row.locator('td').nth(1).textContent()).trim(), 'console test');
    assert.equal((await row.locator('.badge').textContent()).trim(), 'active');
  });

  await step('after the window closes, the secret is nowhere in the page', async () => {
    assert.equal(await page.locator('dialog').count(), 0);
    assert.equal(await pageHolds(userSecret), false, 'the secret is still in the page');
    assert.equal(await pageHolds(userSecret.slice(4, 40)), false, 'part of the secret is still in the page');
    assert.ok(requests.every((u) => !u.includes(userSecret)), 'a URL held the secret');
    assert.ok(requests.every((u) => u.startsWith(`${base}/`) || u.startsWith('data:')),
      `a request left the server's origin: ${requests.filter((u) => !u.startsWith(base))}`);
  });

  await step('the new keys log in through POST /iam/login', async () => {
    const r = await login(userApikey, userSecret);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.token_type, 'Bearer');
    await page.reload();
  });

  await step('a reload keeps the session (the cookie), on the same page', async () => {
    await page.locator('main h1', { hasText: 'Ada Lovelace' }).waitFor();
    assert.equal(await page.isVisible('#signin-apikey'), false);
    const row = page.locator(`tr.key-row[data-apikey="${userApikey}"]`);
    assert.notEqual((await row.locator('td').nth(4).textContent()).trim(), 'never', 'last used');
  });

  await step('disable and enable a key from the API Access panel', async () => {
    const row = page.locator(`tr.key-row[data-apikey="${userApikey}"]`);
    await row.getByRole('button', { name: `Disable key ${userApikey}` }).click();
    await page.locator(`tr.key-row[data-apikey="${userApikey}"] .badge-disabled`).waitFor();
    assert.equal((await login(userApikey, userSecret)).status, 401, 'a disabled key logs in');
    await page.getByRole('button', { name: `Enable key ${userApikey}` }).click();
    await page.locator(`tr.key-row[data-apikey="${userApikey}"] .badge-active`).waitFor();
    assert.equal((await login(userApikey, userSecret)).status, 200, 'an enabled key does not log in');
  });

  await step('the trash icon shows on hover, asks, deletes; the keys no longer log in', async () => {
    const row = page.locator(`tr.key-row[data-apikey="${userApikey}"]`);
    const trash = row.getByRole('button', { name: `Delete key ${userApikey}` });
    const opacity = () => trash.evaluate((el) => Number(getComputedStyle(el).opacity));
    await page.mouse.move(0, 0);
    await page.locator('#api-access-title').click(); // no focus in the row
    assert.equal(await opacity(), 0, 'the trash icon shows without hover');
    await row.hover();
    await page.waitForFunction((k) => getComputedStyle(document.querySelector(
      `tr.key-row[data-apikey="${k}"] .trash`)).opacity === '1', userApikey);
    if (shotsDir) await page.screenshot({ path: path.join(shotsDir, 'user-api-access.png') });
    await trash.click();
    const confirm = page.locator('dialog.confirm');
    await confirm.waitFor();
    assert.match(await confirm.textContent(), new RegExp(userApikey));
    await shot('delete-confirm');
    await confirm.getByRole('button', { name: 'Delete key' }).click();
    await row.waitFor({ state: 'detached' });
    await page.locator('.status.ok', { hasText: `Key ${userApikey} deleted.` }).waitFor();
    const r = await login(userApikey, userSecret);
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_credentials');
  });

  await step('keyboard alone: Tab reaches the trash icon (shown on focus), Enter deletes', async () => {
    // A second key, created and deleted without the mouse.
    await page.focus('#add-access');
    await page.keyboard.press('Enter');
    await page.locator('dialog.add-access').waitFor();
    await page.keyboard.press('ArrowDown'); // the next lifetime preset
    assert.equal(await page.isChecked('#lifetime-days-7'), true);
    await page.focus('#create-key');
    const before = Date.now();
    await page.keyboard.press('Enter');
    await page.locator('dialog.keys-dialog').waitFor();
    const expected = [utcDate(before + 7 * DAY), utcDate(Date.now() + 7 * DAY)];
    assert.ok(expected.includes((await page.textContent('#new-expires')).slice(0, 10)), '7 days');
    const apikey = (await page.textContent('#new-apikey')).trim();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'close-keys');
    await page.keyboard.press('Enter');
    await page.locator('dialog.keys-dialog').waitFor({ state: 'detached' });
    const row = page.locator(`tr.key-row[data-apikey="${apikey}"]`);
    await row.getByRole('button', { name: `Disable key ${apikey}` }).focus();
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => ({
      label: document.activeElement.getAttribute('aria-label'),
      opacity: getComputedStyle(document.activeElement).opacity,
    }));
    assert.deepEqual(focused, { label: `Delete key ${apikey}`, opacity: '1' });
    await page.keyboard.press('Enter');
    await page.locator('dialog.confirm').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Cancel');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await row.waitFor({ state: 'detached' });
  });

  await step('Add access with the email option: the keys go to the user by mail, once', async () => {
    await page.click('#add-access');
    await page.locator('dialog.add-access').waitFor();
    assert.match(await page.textContent('label[for="send-email"]'), /ada@example\.com/);
    await page.check('#send-email');
    await page.fill('#key-description', 'mailed');
    await page.click('#create-key');
    const keys = page.locator('dialog.keys-dialog');
    await keys.waitFor();
    await keys.locator('.status.ok', { hasText: 'An email with the keys was sent to ada@example.com.' })
      .waitFor();
    const apikey = (await page.textContent('#new-apikey')).trim();
    mailedSecret = (await page.textContent('#new-secretkey')).trim();
    assert.match(mailedSecret, /^lks_[0-9a-f]{72}$/);
    await page.click('#close-keys');
    await keys.waitFor({ state: 'detached' });
    // One message, to Ada, with both keys; the sink holds it once the server
    // has been told it was accepted, so before the response came.
    const mine = mails().filter((m) => m.raw.includes(apikey));
    assert.equal(mine.length, 1, `messages with ${apikey}: ${mine.length}`);
    assert.match(mine[0].headers['x-rcptto'] || '', /ada@example\.com/);
    assert.match(mine[0].headers.from || '', /console@latchkey\.test/);
    assert.ok(mine[0].raw.includes(mailedSecret), 'the mail holds the secret key');
    assert.equal(mails().length, 1, 'no other mail was sent');
    // The outcome is an event, without the secret; and the mailed keys log in.
    const sent = (await adminGet('/iam/audit?type=email.sent')).events;
    assert.equal(sent.length, 1);
    assert.equal(sent[0].data.apikey, apikey);
    assert.equal(sent[0].data.to, 'ada@example.com');
    assert.equal(sent[0].data.kind, 'key_created');
    assert.ok(!JSON.stringify(sent).includes(mailedSecret.slice(4)));
    assert.equal((await login(apikey, mailedSecret)).status, 200);
    assert.equal(await pageHolds(mailedSecret), false, 'the mailed secret is still in the page');
  });

  await step('Add access with limits: allowed networks, some of the owner\'s roles, a rate', async () => {
    // Ada gets two roles, so that a key of hers can carry fewer.
    await page.fill('#p-roles', 'reports, billing');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.status.ok', { hasText: 'Saved.' }).waitFor();
    // The keys made so far have no limits.
    const other = await page.locator('tr.key-row').first().getAttribute('data-apikey');
    assert.deepEqual(await keyLimits(other), { networks: 'anywhere', roles: 'all', rate: 'unlimited' });
    await page.click('#add-access');
    const dialog = page.locator('dialog.add-access');
    await dialog.waitFor();
    await assertLabelled('add access, with limits');
    // The owner's roles are offered, none checked (none means all of them).
    const offered = await dialog.locator('input[name="key-roles"]')
      .evaluateAll((els) => els.map((el) => `${el.value}:${el.checked}`));
    assert.deepEqual(offered.sort(), ['billing:false', 'reports:false']);
    assert.equal(await page.inputValue('#key-cidrs'), '');
    assert.equal(await page.inputValue('#key-rate'), '0');
    // Checked in the page before anything is sent: a word that is no
    // network, 51 networks, a rate out of range.
    const sent = requests.length;
    await page.fill('#key-cidrs', 'intranet');
    await page.click('#create-key');
    await dialog.locator('.status.error', { hasText: '“intranet” is not an IPv4 or IPv6 address or network' })
      .waitFor();
    assert.equal(await page.getAttribute('#key-cidrs', 'aria-invalid'), 'true');
    await page.fill('#key-cidrs', Array.from({ length: 51 }, (_, i) => `10.0.${i}.0/24`).join('\n'));
    await page.click('#create-key');
    await dialog.locator('.status.error', { hasText: '51 given; at most 50' }).waitFor();
    await page.fill('#key-cidrs', '127.0.0.1/32');
    await page.fill('#key-rate', '100001');
    await page.click('#create-key');
    await dialog.locator('.status.error', { hasText: 'Logins per minute: a whole number' }).waitFor();
    assert.equal(requests.length, sent, 'a form the page refused reached the server');
    await page.fill('#key-rate', '60');
    await page.check('input[name="key-roles"][value="reports"]');
    await page.fill('#key-description', 'reports from this machine');
    assert.equal(await dialog.locator('.status.error').count(), 0, 'the error stays after the change');
    await shot('add-access-limits');
    await page.click('#create-key');
    const keys = page.locator('dialog.keys-dialog');
    await keys.waitFor();
    limitedApikey = (await page.textContent('#new-apikey')).trim();
    limitedSecret = (await page.textContent('#new-secretkey')).trim();
    const told = await page.textContent('#new-limits');
    for (const t of ['127.0.0.1/32', 'reports', '60/min']) assert.ok(told.includes(t), `keys window: ${told}`);
    await page.click('#close-keys');
    await keys.waitFor({ state: 'detached' });
    // The list shows the limits, as the API holds them.
    await page.locator(`tr.key-row[data-apikey="${limitedApikey}"]`).waitFor();
    assert.deepEqual(await keyLimits(limitedApikey), { networks: '127.0.0.1/32', roles: 'reports', rate: '60/min' });
    const id = userPage.slice(userPage.lastIndexOf('/') + 1);
    const held = (await adminGet(`/iam/users/${id}/keys`)).find((k) => k.apikey === limitedApikey);
    assert.deepEqual([held.allowed_cidrs, held.roles, held.rate_per_minute], [['127.0.0.1/32'], ['reports'], 60]);
    // From this machine the key logs in, and its token carries that one role.
    const r = await login(limitedApikey, limitedSecret);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(claims(r.body.access_token).roles, ['reports']);
    await page.locator('#api-access').scrollIntoViewIfNeeded();
    await shot('key-limits');
  });

  await step('Edit limits: a network the server refuses changes nothing; a change is key.updated', async () => {
    const id = userPage.slice(userPage.lastIndexOf('/') + 1);
    const held = async () => (await adminGet(`/iam/users/${id}/keys`)).find((k) => k.apikey === limitedApikey);
    const editButton = page.getByRole('button', { name: `Edit limits of key ${limitedApikey}` });
    const edit = page.locator('dialog.edit-limits');
    await editButton.click();
    await edit.waitFor();
    await assertLabelled('edit limits');
    assert.equal(await page.inputValue('#key-cidrs'), '127.0.0.1/32');
    assert.equal(await page.isChecked('input[name="key-roles"][value="reports"]'), true);
    assert.equal(await page.isChecked('input[name="key-roles"][value="billing"]'), false);
    assert.equal(await page.inputValue('#key-rate'), '60');
    // 10.0.0.300/8 has the shape of a network, so the page sends it; the
    // server refuses it, naming its place in the list, and the page names it.
    refusalExpected = true;
    await page.fill('#key-cidrs', '127.0.0.1/32\n10.0.0.300/8');
    await page.click('#save-limits');
    const refused = edit.locator('.status.error', { hasText: 'allowed_cidrs[1] is not an IPv4 or IPv6 network' });
    await refused.waitFor();
    assert.match(await refused.textContent(), /10\.0\.0\.300\/8/);
    const unchanged = await held();
    assert.deepEqual([unchanged.allowed_cidrs, unchanged.roles, unchanged.rate_per_minute],
      [['127.0.0.1/32'], ['reports'], 60]);
    assert.equal((await adminGet(`/iam/audit?type=key.updated&apikey=${limitedApikey}`)).events.length, 0);
    // A good change: one more network (its host bits cleared by the
    // server), all of the owner's roles, a higher rate.
    await page.fill('#key-cidrs', '127.0.0.1/32, 10.1.2.3/8');
    await page.uncheck('input[name="key-roles"][value="reports"]');
    await page.fill('#key-rate', '120');
    await page.click('#save-limits');
    await edit.waitFor({ state: 'detached' });
    refusalExpected = false;
    await page.locator('.status.ok', { hasText: `Limits of key ${limitedApikey} saved.` }).waitFor();
    assert.deepEqual(await keyLimits(limitedApikey),
      { networks: '127.0.0.1/32, 10.0.0.0/8', roles: 'all', rate: '120/min' });
    const changed = await held();
    assert.deepEqual([changed.allowed_cidrs, changed.roles, changed.rate_per_minute],
      [['127.0.0.1/32', '10.0.0.0/8'], [], 120]);
    const ok = await login(limitedApikey, limitedSecret);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual([...claims(ok.body.access_token).roles].sort(), ['billing', 'reports']);
    // Pinned to a network this machine is not in: refused like a wrong secret.
    await editButton.click();
    await edit.waitFor();
    await page.fill('#key-cidrs', '10.0.0.0/8');
    await page.click('#save-limits');
    await edit.waitFor({ state: 'detached' });
    await page.locator(`tr.key-row[data-apikey="${limitedApikey}"] .limit-networks .limit-value`,
      { hasText: /^10\.0\.0\.0\/8$/ }).waitFor();
    const blockedLogin = await login(limitedApikey, limitedSecret);
    const wrongSecret = await login(limitedApikey, `lks_${'0'.repeat(72)}`);
    assert.equal(blockedLogin.status, 401);
    assert.equal(blockedLogin.body.error, 'invalid_credentials');
    assert.deepEqual({ ...blockedLogin.body, request_id: '' }, { ...wrongSecret.body, request_id: '' });
    // The key's timeline: both changes, old → new, and the blocked use with its address.
    await page.getByRole('link', { name: `Timeline of key ${limitedApikey}` }).click();
    await page.locator('main h1', { hasText: 'Timeline of' }).waitFor();
    const updates = page.locator('table.events tbody tr[data-type="key.updated"]');
    assert.equal(await updates.count(), 2);
    const first = await updates.nth(0).locator('td.details > span').textContent();
    for (const t of ['allowed networks: 127.0.0.1/32 → 127.0.0.1/32, 10.0.0.0/8',
      'roles: reports → all of the owner’s roles', 'logins per minute: 60 logins/min → 120 logins/min']) {
      assert.ok(first.includes(t), `key.updated shows “${t}”: ${first}`);
    }
    const second = await updates.nth(1).locator('td.details > span').textContent();
    assert.equal(second, 'allowed networks: 127.0.0.1/32, 10.0.0.0/8 → 10.0.0.0/8');
    const blocked = page.locator('table.events tbody tr.blocked[data-reason="source_not_allowed"]');
    assert.equal(await blocked.count(), 1);
    assert.match(await blocked.locator('td.details > span').textContent(),
      /^blocked: used from (::ffff:)?127\.0\.0\.1, outside the key’s allowed networks/);
    assert.equal((await blocked.locator('.badge-blocked').textContent()).trim(), 'blocked');
    const types = await page.$$eval('table.events tbody tr[data-seq]', (rows) => rows.map((r) => r.dataset.type));
    assert.ok(types.indexOf('key.updated') < types.indexOf('login.failed'), `order: ${types}`);
    await shot('key-timeline-limits', { fullPage: true });
  });

  await step('a service account without an email: the email option is disabled, with the reason', async () => {
    await openNav('Service Accounts', 'Service Accounts');
    await page.click('#new-principal');
    await page.fill('#new-name', 'nightly-export');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('main h1', { hasText: 'nightly-export' }).waitFor();
    await page.click('#add-access');
    await page.locator('dialog.add-access').waitFor();
    assert.equal(await page.isDisabled('#send-email'), true);
    const reason = (await page.textContent('#send-email-reason')).trim();
    assert.match(reason, /has no email address/);
    assert.equal(await page.getAttribute('#send-email', 'aria-describedby'), 'send-email-reason');
    await shot('service-account-add-access');
    // Until a date: the keys expire at 00:00 of that date (the browser runs in UTC).
    const until = utcDate(Date.now() + 60 * DAY);
    await page.fill('#lifetime-date-value', until);
    assert.equal(await page.isChecked('#lifetime-date'), true);
    await page.click('#create-key');
    await page.locator('dialog.keys-dialog').waitFor();
    const exact = await page.getAttribute('#new-expires time', 'datetime');
    assert.equal(new Date(exact).toISOString(), `${until}T00:00:00.000Z`);
    const apikey = (await page.textContent('#new-apikey')).trim();
    await page.click('#close-keys');
    await page.locator('dialog').waitFor({ state: 'detached' });
    const row = page.locator(`tr.key-row[data-apikey="${apikey}"]`);
    assert.equal((await row.locator('td.expires').textContent()).trim(), `${until} 00:00`);
    // With an email address in its settings, the option is offered.
    await page.fill('#p-email', 'exports@example.com');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.status.ok', { hasText: 'Saved.' }).waitFor();
    await page.click('#add-access');
    await page.locator('dialog.add-access').waitFor();
    assert.equal(await page.isEnabled('#send-email'), true);
    assert.match(await page.textContent('label[for="send-email"]'), /exports@example\.com/);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('dialog').waitFor({ state: 'detached' });
    await openNav('Service Accounts', 'Service Accounts');
    await page.locator('table.list tbody tr[data-id]').nth(1).waitFor();
    await shot('service-accounts');
  });

  await step('the token lifetime changed in settings is the next token\'s expires_in', async () => {
    await openNav('Settings', 'IAM settings');
    const before = (await login(admin.apikey, admin.secretkey)).body.expires_in;
    assert.equal(before, 3600);
    await page.getByLabel('Token lifetime').fill('1234');
    await page.click('#save-settings');
    await page.locator('.status.ok', { hasText: 'token_lifetime_seconds = 1234' }).waitFor();
    const r = await login(admin.apikey, admin.secretkey);
    assert.equal(r.status, 200);
    assert.equal(r.body.expires_in, 1234);
    await shot('settings', { fullPage: true });
  });

  await step('a hostile user name renders as text', async () => {
    await openNav('Users', 'Users');
    await page.click('#new-principal');
    await page.fill('#new-name', HOSTILE);
    await page.fill('#new-email', 'mallory@example.com');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('main h1', { hasText: 'onerror' }).waitFor();
    assert.equal(await heading(), HOSTILE);
    assert.equal(await page.locator('main img').count(), 0, 'the name became an element');
    await openNav('Users', 'Users');
    await page.fill('#search', 'onerror');
    await page.waitForFunction(() => document.querySelectorAll('table.list tbody tr[data-id]').length === 1);
    assert.equal((await page.locator('table.list a.name').textContent()), HOSTILE);
    assert.equal(await page.locator('main img').count(), 0);
    await page.waitForTimeout(0);
    assert.deepEqual(dialogs, [], 'a dialog fired');
  });

  await step('the Audit page shows the key\'s creation and deletion, newest first', async () => {
    await openNav('Audit', 'Audit');
    await assertLabelled('audit');
    await page.fill('#audit-apikey', userApikey);
    await page.click('#audit-apply');
    await eventsAllMention(userApikey);
    const types = await page.$$eval('table.events tbody tr[data-seq]', (rows) => rows.map((r) => r.dataset.type));
    const seqs = await page.$$eval('table.events tbody tr[data-seq]', (rows) => rows.map((r) => Number(r.dataset.seq)));
    assert.ok(types.indexOf('key.deleted') < types.indexOf('key.created'), `order: ${types}`);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first');
    for (const t of ['key.disabled', 'key.enabled', 'token.issued']) assert.ok(types.includes(t), t);
    assert.ok(new URL(page.url()).hash.includes(`apikey=${userApikey}`));
    await shot('audit');
    // Filter by type as well.
    await page.selectOption('#audit-type', 'key.deleted');
    await page.click('#audit-apply');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('table.events tbody tr[data-seq]')];
      return rows.length > 0 && rows.every((r) => r.dataset.type === 'key.deleted');
    });
    await page.selectOption('#audit-type', '');
    await page.fill('#audit-apikey', '');
    await page.click('#audit-apply');
    await page.waitForFunction(() => document.querySelectorAll('table.events tbody tr[data-seq]').length > 20);
  });

  await step('a key\'s timeline is one click away', async () => {
    await page.fill('#audit-apikey', userApikey);
    await page.click('#audit-apply');
    await eventsAllMention(userApikey);
    await page.locator('tr[data-type="key.created"] a', { hasText: userApikey }).click();
    await page.locator('main h1', { hasText: 'Timeline of' }).waitFor();
    assert.equal(await page.textContent('main h1 code'), userApikey);
    const types = await page.$$eval('table.events tbody tr[data-seq]', (rows) => rows.map((r) => r.dataset.type));
    assert.equal(types[0], 'key.created', 'oldest first');
    for (const t of ['token.issued', 'key.disabled', 'login.failed', 'key.enabled', 'key.deleted']) {
      assert.ok(types.includes(t), `the timeline has ${t}: ${types}`);
    }
    assert.ok(types.indexOf('key.disabled') < types.indexOf('key.enabled'));
    assert.ok(types.indexOf('key.enabled') < types.indexOf('key.deleted'));
    await shot('timeline', { fullPage: true });
  });

  await step('the incident view: the state at an instant, and what changed between two', async () => {
    await openNav('Incident', 'Incident');
    await assertLabelled('incident');
    await page.click('#show-state');
    await page.locator('#state-summary').waitFor();
    const state = await page.textContent('#state-result');
    assert.ok(state.includes('Ada Lovelace'));
    assert.ok(state.includes(HOSTILE), 'the hostile name in the state');
    assert.equal(await page.locator('main img').count(), 0);
    await page.click('#show-diff');
    await page.locator('#diff-summary').waitFor();
    const keyChanges = await page.$$eval('table[aria-label="Key changes"] tbody tr',
      (rows) => rows.map((r) => r.textContent));
    const mine = keyChanges.filter((t) => t.includes(userApikey));
    for (const c of ['created', 'disabled', 'enabled', 'deleted']) {
      assert.ok(mine.some((t) => t.includes(c)), `diff shows the key ${c}`);
    }
    const settings = await page.textContent('table[aria-label="Settings changes"]');
    assert.ok(settings.includes('token_lifetime_seconds') && settings.includes('1234'));
    await shot('incident', { fullPage: true });
    // A state from before the user existed does not hold it.
    const created = await page.$$eval('table[aria-label="Key changes"] tbody tr', (rows, k) => rows
      .filter((r) => r.textContent.includes(k) && r.textContent.includes('created'))
      .map((r) => Number(r.cells[0].textContent)), userApikey);
    assert.equal(created.length, 1);
    await page.fill('#state-at', String(created[0] - 1));
    await page.click('#show-state');
    await page.waitForFunction(() => document.querySelector('#state-summary').textContent.includes('after event'));
    await page.waitForFunction((k) => !document.querySelector('#state-result').textContent.includes(k), userApikey);
  });

  if (shotsDir) {
    await step('(screenshots) the keys window, with the secret redacted in the page', async () => {
      await openNav('Users', 'Users');
      await page.fill('#search', 'grace');
      await page.waitForFunction(() => document.querySelectorAll('table.list tbody tr[data-id]').length === 1);
      await page.getByRole('link', { name: 'Grace Hopper' }).click();
      await page.locator('main h1', { hasText: 'Grace Hopper' }).waitFor();
      await page.click('#add-access');
      await page.fill('#key-description', 'reporting job');
      await page.click('#create-key');
      await page.locator('dialog.keys-dialog').waitFor();
      await page.evaluate(() => {
        const el = document.getElementById('new-secretkey');
        el.textContent = `lks_${'•'.repeat(20)} (redacted)`;
      });
      await shot('keys-dialog');
      await page.click('#close-keys');
      await page.locator('dialog').waitFor({ state: 'detached' });
    });
  }

  await step('a change with the session cookie but without its CSRF token is refused', async () => {
    const [cookie] = await context.cookies();
    const jar = `${cookie.name}=${cookie.value}`;
    const body = JSON.stringify({ name: 'csrf victim', email: 'csrf@example.com' });
    // From the page itself, without the header: refused, nothing created.
    refusalExpected = true;
    const inPage = await page.evaluate(async (b) => {
      const r = await fetch('/iam/users', { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: b });
      return { status: r.status, body: await r.json() };
    }, body);
    refusalExpected = false;
    assert.equal(inPage.status, 403, JSON.stringify(inPage.body));
    assert.match(inPage.body.message, /X-CSRF-Token/);
    const wrong = await fetch(`${base}/iam/users`, { method: 'POST', body,
      headers: { 'Content-Type': 'application/json', Cookie: jar, 'X-CSRF-Token': 'x'.repeat(43) } });
    assert.equal(wrong.status, 403);
    const users = await adminGet('/iam/users?search=csrf');
    assert.equal(users.items.length, 0, 'a refused write created a user');
    // Reads need no CSRF token; GET /iam/session gives it to this origin's scripts.
    const session = await fetch(`${base}/iam/session`, { headers: { Cookie: jar } });
    assert.equal(session.status, 200);
    const { csrf_token: csrf, principal_id: who } = await session.json();
    assert.equal(who, admin.principal_id);
    const ok = await fetch(`${base}/iam/users`, { method: 'POST', body,
      headers: { 'Content-Type': 'application/json', Cookie: jar, 'X-CSRF-Token': csrf } });
    assert.equal(ok.status, 201);
    const made = await ok.json();
    const del = await fetch(`${base}/iam/users/${made.id}`, { method: 'DELETE',
      headers: { Cookie: jar, 'X-CSRF-Token': csrf } });
    assert.equal(del.status, 204);
  });

  await step('the overview charts logins, failed logins and active keys', async () => {
    await openNav('Overview', 'Overview');
    await page.locator('#overview-logins-chart canvas').waitFor();
    await page.locator('#overview-keys-chart canvas').waitFor();
    const usage = await adminGet('/iam/usage?period=day');
    const sum = (k) => usage.buckets.reduce((a, b) => a + b[k], 0);
    // adminGet logged in once more since: the page's figure is at most that much behind.
    const shown = Number(await page.textContent('#overview-logins-total'));
    assert.ok(shown >= 3 && shown <= sum('logins'), `logins shown ${shown}, API ${sum('logins')}`);
    assert.equal(Number(await page.textContent('#overview-failed-total')), sum('failed_logins'));
    assert.ok(sum('failed_logins') >= 1, 'the refused sign-in is a failed login');
    assert.equal(Number(await page.textContent('#overview-keys-now')), usage.buckets.at(-1).active_keys);
    await page.click('#overview-period-month');
    await page.locator('#overview-period-month[aria-pressed="true"]').waitFor();
    // The button is pressed before the month's figures arrive: wait for them.
    await page.locator('#overview-charts[data-period="month"]').waitFor();
    await page.locator('#overview-logins-chart canvas').waitFor();
    assert.equal(await page.locator('#overview-charts table.data').first()
      .locator('tbody tr').count(), 30);
    await assertLabelled('overview');
    await shot('overview');
  });

  await step('a principal\'s audit trail, and the time range filter', async () => {
    await page.evaluate((hash) => { location.hash = hash; }, userPage);
    await page.locator('main h1', { hasText: 'Ada Lovelace' }).waitFor();
    const id = userPage.slice(userPage.lastIndexOf('/') + 1);
    await page.getByRole('link', { name: 'Audit trail' }).click();
    await page.locator('main h1', { hasText: 'Audit' }).waitFor();
    assert.equal(await page.inputValue('#audit-principal'), id);
    await eventsAllMention(id);
    const types = await page.$$eval('table.events tbody tr[data-seq]', (rows) => rows.map((r) => r.dataset.type));
    assert.equal(types.at(-1), 'user.created', `oldest last: ${types}`);
    // From an hour ahead: nothing yet.
    const ahead = new Date(Date.now() + 3600000).toISOString().slice(0, 19);
    await page.fill('#audit-from', ahead);
    await page.click('#audit-apply');
    await page.locator('table.events tr.empty').waitFor();
    assert.match(new URL(page.url()).hash, /from=/);
  });

  await step('erase asks first; the user is gone and its name reads [erased] in the audit', async () => {
    await openNav('Users', 'Users');
    await page.click('#new-principal');
    await page.fill('#new-name', 'Erin Erasable');
    await page.fill('#new-email', 'erin.erasable@example.com');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('main h1', { hasText: 'Erin Erasable' }).waitFor();
    const id = new URL(page.url()).hash.split('/').pop();
    await page.click('#erase-principal');
    const confirm = page.locator('dialog.confirm');
    await confirm.waitFor();
    assert.match(await confirm.textContent(), /Erin Erasable/);
    await confirm.getByRole('button', { name: 'Erase' }).click();
    await page.locator('main h1', { hasText: 'Users' }).waitFor();
    await page.evaluate((p) => { location.hash = `#/audit?principal_id=${p}`; }, id);
    await page.locator('main h1', { hasText: 'Audit' }).waitFor();
    await page.locator('table.events tbody tr[data-type="principal.erased"]').waitFor();
    const text = await page.textContent('table.events');
    assert.ok(!text.includes('Erin Erasable'), 'the erased name is still shown');
    assert.ok(!text.includes('erin.erasable@example.com'), 'the erased email is still shown');
  });

  await step('an auditor\'s keys see the read-only screens only', async () => {
    await openNav('Service Accounts', 'Service Accounts');
    await page.click('#new-principal');
    await page.fill('#new-name', 'auditor-bot');
    await page.fill('#new-roles', 'auditor');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('main h1', { hasText: 'auditor-bot' }).waitFor();
    await page.click('#add-access');
    await page.click('#create-key');
    await page.locator('dialog.keys-dialog').waitFor();
    const apikey = (await page.textContent('#new-apikey')).trim();
    const secret = (await page.textContent('#new-secretkey')).trim();
    await page.click('#close-keys');
    await page.click('#signout');
    await page.fill('#signin-apikey', apikey);
    await page.fill('#signin-secretkey', secret);
    await page.keyboard.press('Enter');
    await page.locator('main h1', { hasText: 'Audit' }).waitFor();
    const links = await page.$$eval('#nav a', (as) => as.map((a) => a.textContent));
    assert.deepEqual(links, ['Overview', 'Settings', 'Audit', 'Incident']);
    await openNav('Settings', 'IAM settings');
    assert.equal(await page.isDisabled('#setting-token_lifetime_seconds'), true);
    assert.equal(await page.isDisabled('#save-settings'), true);
    await page.evaluate(() => { location.hash = '#/users'; });
    await page.locator('main h1', { hasText: 'Not allowed' }).waitFor();
  });

  // ---- projects: the platform page, and a project's own console ----------------------

  const port = new URL(base).port;
  const platformUrl = `http://localhost:${port}/console/platform`;
  const acmeBase = `http://acme.localhost:${port}`;
  let pp = null; // the platform page
  let acmeAdmin = null;

  await step('the platform page: operators sign in; the session is the platform\'s cookie', async () => {
    pp = await context.newPage();
    pp.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    pp.on('pageerror', (e) => problems.push(`platform page error: ${e.message}`));
    pp.on('console', (m) => {
      const failed = /Failed to load resource: .* status of (\d+)/.exec(m.text());
      // 401: the project admin's keys refused; 409: the second create of acme.
      if (m.type() === 'error' && !(failed && ['401', '409'].includes(failed[1]))) {
        problems.push(`platform console error: ${m.text()}`);
      }
    });
    const resp = await pp.goto(platformUrl);
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-security-policy'], /script-src 'self'(;|$)/);
    await pp.locator('#signin-apikey').waitFor();
    // A project's admin is not a platform operator.
    await pp.fill('#signin-apikey', admin.apikey);
    await pp.fill('#signin-secretkey', admin.secretkey);
    await pp.keyboard.press('Enter');
    await pp.locator('#signin-status.error').waitFor();
    await pp.fill('#signin-apikey', admin.platform.apikey);
    await pp.fill('#signin-secretkey', admin.platform.secretkey);
    await pp.keyboard.press('Enter');
    await pp.locator('main h1', { hasText: 'Projects' }).waitFor();
    await pp.locator('#platform-logins-chart canvas').waitFor();
    await pp.locator('#projects tr[data-id="default"]').waitFor();
    const c = (await context.cookies(`http://localhost:${port}/platform/projects`))
      .find((x) => x.name === 'lk_platform_session');
    assert.ok(c, 'the platform session cookie');
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.equal(c.path, '/platform');
    // The platform page on a project's host does not exist.
    const r = await hostFetch(`${acmeBase}/console/platform`);
    assert.equal(r.status, 404);
  });

  await step('the platform page creates a project and shows its first admin\'s keys once', async () => {
    await pp.click('#new-project');
    await assertLabelledOn(pp, 'new project');
    await pp.fill('#new-id', 'acme');
    await pp.fill('#new-name', 'Acme Corp');
    await pp.click('#create-project');
    const keys = pp.locator('dialog.keys-dialog');
    await keys.waitFor();
    acmeAdmin = {
      apikey: (await pp.textContent('#new-apikey')).trim(),
      secretkey: (await pp.textContent('#new-secretkey')).trim(),
    };
    assert.match(acmeAdmin.apikey, /^lk_[0-9a-f]{24}$/);
    assert.match(acmeAdmin.secretkey, /^lks_[0-9a-f]{72}$/);
    assert.equal(await pp.getAttribute('#new-console', 'href'), `${acmeBase}/console/`);
    if (shotsDir) {
      await pp.evaluate(() => { document.getElementById('new-secretkey').textContent = 'lks_' + '•'.repeat(24); });
      await pp.mouse.move(0, 0);
      await pp.screenshot({ path: path.join(shotsDir, 'platform-new-project.png') });
    }
    await pp.click('#close-keys');
    await keys.waitFor({ state: 'detached' });
    assert.equal(await pp.evaluate((t) => document.documentElement.outerHTML.includes(t), acmeAdmin.secretkey), false);
    await pp.locator('#projects tr[data-id="acme"]').waitFor();
    // Once: the id is taken for good.
    await pp.click('#new-project');
    await pp.fill('#new-id', 'acme');
    await pp.click('#create-project');
    await pp.locator('dialog .status.error').waitFor();
    await pp.keyboard.press('Escape');
    await pp.locator('dialog').waitFor({ state: 'detached' });
    // The keys log in at acme only.
    const r = await hostFetch(`${acmeBase}/iam/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth_mode: 'apikey', apikey: acmeAdmin.apikey, secretkey: acmeAdmin.secretkey }) });
    assert.equal(r.status, 200);
    assert.equal((await login(acmeAdmin.apikey, acmeAdmin.secretkey)).status, 401);
  });

  await step('search, and a project\'s figures', async () => {
    await pp.fill('#search', 'ACM');
    await pp.waitForFunction(() => {
      const rows = document.querySelectorAll('#projects tr[data-id]');
      return rows.length === 1 && rows[0].dataset.id === 'acme';
    });
    await pp.fill('#search', 'no-such-project');
    await pp.locator('#projects tr.empty').waitFor();
    await pp.fill('#search', '');
    await pp.locator('#projects tr[data-id="default"]').waitFor();
    await pp.locator('#projects tr[data-id="acme"] button.name').click();
    await pp.locator('#project-usage [data-key="principals"]').waitFor();
    assert.equal((await pp.textContent('#project-usage [data-key="principals"]')).trim(), '1');
    assert.equal((await pp.textContent('#project-usage [data-key="active_keys"]')).trim(), '1');
    assert.equal((await pp.textContent('#project-usage [data-key="tokens_issued_24h"]')).trim(), '1');
    await pp.getByRole('button', { name: 'Close' }).click();
    await pp.locator('dialog').waitFor({ state: 'detached' });
    await pp.mouse.move(0, 0);
    if (shotsDir) await pp.screenshot({ path: path.join(shotsDir, 'platform.png'), fullPage: true });
  });

  let acme = null; // acme's console
  let acmeToken = null; // the value of acme's session cookie
  await step('acme\'s console signs in to acme only; its session is acme\'s host\'s cookie', async () => {
    acme = await context.newPage();
    acme.on('pageerror', (e) => problems.push(`acme page error: ${e.message}`));
    await acme.goto(`${acmeBase}/console/`);
    await acme.locator('#signin-apikey').waitFor();
    // The default project's admin keys are unknown here.
    await acme.fill('#signin-apikey', admin.apikey);
    await acme.fill('#signin-secretkey', admin.secretkey);
    await acme.keyboard.press('Enter');
    await acme.locator('#signin-status.error').waitFor();
    await acme.fill('#signin-apikey', acmeAdmin.apikey);
    await acme.fill('#signin-secretkey', acmeAdmin.secretkey);
    await acme.keyboard.press('Enter');
    await acme.locator('main h1', { hasText: 'Users' }).waitFor();
    await acme.reload();
    await acme.locator('main h1', { hasText: 'Users' }).waitFor();
    // None of the default project's users; acme's own admin only.
    await acme.locator('table.list tr.empty').waitFor();
    await acme.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Service Accounts', exact: true }).click();
    await acme.locator('main h1', { hasText: 'Service Accounts' }).waitFor();
    await acme.locator('table.list tbody tr[data-id]').first().waitFor();
    const rows = await acme.$$eval('table.list tbody tr[data-id]', (trs) => trs.map((t) => t.dataset.id));
    assert.equal(rows.length, 1, `acme lists its own admin only: ${rows}`);
    const c = (await context.cookies(`${acmeBase}/iam/me`)).find((x) => x.name === 'lk_session');
    assert.equal(c.domain, 'acme.localhost', 'host-only: not sent to the base domain or other projects');
    acmeToken = c.value;
    // acme's session token at the default project (and at the platform): unknown there.
    const here = await fetch(`${base}/iam/me`, { headers: { Cookie: `lk_session=${acmeToken}` } });
    assert.equal(here.status, 401);
    const plat = await hostFetch(`http://localhost:${port}/platform/projects`, {
      headers: { Cookie: `lk_platform_session=${acmeToken}` } });
    assert.equal(plat.status, 401);
    await acme.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview', exact: true }).click();
    await acme.locator('#overview-logins-chart canvas').waitFor();
    assert.ok(Number(await acme.textContent('#overview-logins-total')) >= 2);
    assert.equal(Number(await acme.textContent('#overview-keys-now')), 1);
  });

  await step('suspend (asked first) and resume from the platform page', async () => {
    const row = pp.locator('#projects tr[data-id="acme"]');
    await row.locator('[data-action="suspend"]').click();
    await pp.locator('dialog.confirm').waitFor();
    if (shotsDir) {
      await pp.mouse.move(0, 0);
      await pp.screenshot({ path: path.join(shotsDir, 'platform-suspend-confirm.png') });
    }
    await pp.locator('dialog.confirm button.danger').click();
    await row.locator('[data-status="suspended"]').waitFor();
    const refused = await hostFetch(`${acmeBase}/iam/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth_mode: 'apikey', apikey: acmeAdmin.apikey, secretkey: acmeAdmin.secretkey }) });
    assert.equal(refused.status, 403);
    // Reads still answer with the session.
    assert.equal((await hostFetch(`${acmeBase}/iam/me`, { headers: { Cookie: `lk_session=${acmeToken}` } })).status, 200);
    await row.locator('[data-action="resume"]').click();
    await row.locator('[data-status="active"]').waitFor();
    const back = await hostFetch(`${acmeBase}/iam/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth_mode: 'apikey', apikey: acmeAdmin.apikey, secretkey: acmeAdmin.secretkey }) });
    assert.equal(back.status, 200);
  });

  await step('signing out of acme revokes its session token', async () => {
    await acme.click('#signout');
    await acme.locator('#signin-apikey').waitFor();
    const after = await hostFetch(`${acmeBase}/iam/me`, { headers: { Cookie: `lk_session=${acmeToken}` } });
    assert.equal(after.status, 401, 'the signed-out token still works');
    const bearer = await hostFetch(`${acmeBase}/iam/me`, { headers: { Authorization: `Bearer ${acmeToken}` } });
    assert.equal(bearer.status, 401, 'the signed-out token still works as a bearer token');
    const fresh = await (await hostFetch(`${acmeBase}/iam/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth_mode: 'apikey', apikey: acmeAdmin.apikey, secretkey: acmeAdmin.secretkey }) })).json();
    const intro = await hostFetch(`${acmeBase}/iam/introspect`, { method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${fresh.access_token}` },
      body: `token=${acmeToken}` });
    assert.equal(intro.status, 200);
    assert.deepEqual(await intro.json(), { active: false });
    assert.equal((await context.cookies(`${acmeBase}/iam/me`)).filter((x) => x.name === 'lk_session').length, 0,
      'the cookie is cleared');
    await acme.reload();
    await acme.locator('#signin-apikey').waitFor();
    await acme.close();
  });

  await step('delete asks for the id, then the project is gone', async () => {
    const row = pp.locator('#projects tr[data-id="acme"]');
    await row.locator('[data-action="delete"]').click();
    await pp.locator('#confirm-id').waitFor();
    assert.equal(await pp.isDisabled('#confirm-delete'), true);
    await pp.fill('#confirm-id', 'acm');
    assert.equal(await pp.isDisabled('#confirm-delete'), true);
    await pp.fill('#confirm-id', 'acme');
    if (shotsDir) {
      await pp.mouse.move(0, 0);
      await pp.screenshot({ path: path.join(shotsDir, 'platform-delete-confirm.png') });
    }
    await pp.click('#confirm-delete');
    await row.waitFor({ state: 'detached' });
    const gone = await hostFetch(`${acmeBase}/iam/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth_mode: 'apikey', apikey: acmeAdmin.apikey, secretkey: acmeAdmin.secretkey }) });
    assert.equal(gone.status, 404);
    await pp.click('#signout');
    await pp.locator('#signin-apikey').waitFor();
    await pp.reload();
    await pp.locator('#signin-apikey').waitFor();
    await pp.close();
  });

  await step('sign out leaves the sign-in form only; no CSP violation or script error', async () => {
    const [session] = (await context.cookies(`${base}/iam/me`)).filter((x) => x.name === 'lk_session');
    await page.click('#signout');
    await page.locator('#signin-apikey').waitFor();
    assert.equal(await page.isHidden('#topbar'), true);
    assert.equal(await pageHolds('Ada Lovelace'), false);
    assert.deepEqual(problems, []);
    assert.deepEqual(dialogs, []);
    const after = await fetch(`${base}/iam/me`, { headers: { Cookie: `lk_session=${session.value}` } });
    assert.equal(after.status, 401, 'the signed-out session still works');
  });

  await step('no secret and no token in the server\'s logs', async () => {
    for (const s of [admin.secretkey, userSecret, mailedSecret, limitedSecret]) {
      assert.ok(!serverOut.includes(s) && !serverErr.includes(s), 'a secret key in the server log');
    }
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(serverOut + serverErr), 'a token in the server log');
  });
} catch {
  process.exitCode = 1;
} finally {
  await context.close().catch(() => {});
  // A graceful stop: exit 0 within a generous deadline, and no sanitizer
  // report from the server, whatever the steps above found.
  if (serverExit === null) {
    server.kill('SIGTERM');
    const stopped = await new Promise((r) => {
      const timer = setTimeout(() => r(false), 120000);
      server.on('exit', () => { clearTimeout(timer); r(true); });
      if (serverExit !== null) { clearTimeout(timer); r(true); }
    });
    if (!stopped) {
      latchkeyProblems.push('the server did not exit within 120 s of SIGTERM');
      server.kill('SIGKILL');
      await new Promise((r) => (serverExit !== null ? r() : server.on('exit', r)));
    }
  } else {
    latchkeyProblems.push(`the server exited before the end (${JSON.stringify(serverExit)})`);
  }
  if (serverExit.code !== 0) {
    latchkeyProblems.push(`the server exited with ${JSON.stringify(serverExit)}, not 0; stderr:\n`
      + serverErr.slice(-6000));
  }
  const report = sanitizerReport(serverErr);
  if (report) latchkeyProblems.push(`the server left a sanitizer report:\n${report}`);
  for (const p of latchkeyProblems) console.log(`not ok - ${p}`);
  if (latchkeyProblems.length) process.exitCode = 1;
  smtp.proc.kill('SIGTERM');
  rmSync(profile, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  const failed = process.exitCode ? 1 : 0;
  console.log(`${passed} passed, ${failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
