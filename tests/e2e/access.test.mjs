// SPDX-License-Identifier: GPL-2.0-or-later
// Access control seen from a real browser. A browser that holds the daemon's
// session cookie (it opened the ?token= link) visits pages of other origins —
// a second local port (same site: the SameSite=Strict cookie still goes
// along) and evil.example (another site; Chromium maps it to 127.0.0.1 with
// --host-resolver-rules) — which try a no-cors text/plain POST, a text/plain
// form POST and a CORS read; a DNS-rebinding page (evil.example on the
// daemon's own port) reads /api/v1/vms and opens the event stream. Each is
// refused with the daemon's answer checked where the browser lets us see it,
// and no VM appears. The UI works with its cookie; a browser without one gets
// the sign-in page (a pasted token lets it in). LAN mode: the owner's Host page
// shows a pairing code, a second browser on https://127.0.0.2:PORT pairs with
// it (wrong code, no code and rate limit shown as text), sees the library,
// and is locked out at once when the owner revokes it.
import { createServer } from 'node:http';
import { waitFor, assert, startDaemon } from './lib/daemon.mjs';
import { login } from './lib/browser.mjs';

const EVIL = 'evil.example';
const RESOLVE = `--host-resolver-rules=MAP ${EVIL} 127.0.0.1`;

// A page server on another port: every path is an empty HTML page (the tests script it).
async function attackServer() {
  const srv = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end('<!doctype html><meta charset="utf-8"><title>not qemu-hmos</title><body><h1>Win a prize</h1>');
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { port: srv.address().port, close: () => new Promise((r) => { srv.close(r); srv.closeAllConnections(); }) };
}

const errorCode = async (resp) => {
  try { return (await resp.json()).error.code; } catch { return null; }
};

// The body a cross-site form would forge: JSON for a VM, sent as text/plain.
const FORGED = (name) => JSON.stringify({ name, memory_mib: 128, disks: [] });

// From the page now open (another origin), try the three cross-origin writes and a read at the daemon.
// WANT: the daemon's answer expected for the writes ({status, code}).
async function crossOriginTries(page, d, want, label) {
  const target = d.http + '/api/v1/vms';
  const isPost = (r) => r.url() === target && r.request().method() === 'POST';
  // (i) fetch, mode no-cors, text/plain: a "simple" request the browser sends without asking.
  const [r1, opaque] = await Promise.all([
    page.waitForResponse(isPost, { timeout: 10000 }),
    page.evaluate(async ({ url, body }) => {
      const r = await fetch(url, { method: 'POST', mode: 'no-cors', credentials: 'include', body, headers: { 'Content-Type': 'text/plain' } });
      return { type: r.type, status: r.status };
    }, { url: target, body: FORGED(`csrf-fetch-${label}`) }),
  ]);
  assert(opaque.type === 'opaque' && opaque.status === 0, `${label}: the page cannot read the answer (${JSON.stringify(opaque)})`);
  // The browser keeps an opaque answer's body from the page and from the test alike: its status tells.
  assert(r1.status() === want.status, `${label}: no-cors POST refused with ${want.status} (${want.code}), got ${r1.status()}`);
  // (ii) a form POST, enctype text/plain, whose one field makes the body look like JSON.
  const [r2] = await Promise.all([
    page.waitForResponse(isPost, { timeout: 10000 }),
    page.evaluate(({ url, name }) => {
      const f = document.createElement('form');
      f.method = 'POST';
      f.action = url;
      f.enctype = 'text/plain';
      const i = document.createElement('input');
      i.name = `{"name":"${name}","memory_mib":128,"disks":[],"pad":"`;
      i.value = '"}';
      f.append(i);
      document.body.append(f);
      f.submit();
    }, { url: target, name: `csrf-form-${label}` }),
  ]);
  assert(r2.status() === want.status && (await errorCode(r2)) === want.code,
    `${label}: form POST refused with ${want.status} ${want.code}, got ${r2.status()} ${await errorCode(r2)}`);
  await page.waitForLoadState('domcontentloaded');
  // (iii) a CORS read with credentials: no Access-Control-Allow-Origin, so the page gets nothing.
  await page.goBack();
  const read = await page.evaluate(async (url) => {
    try {
      const r = await fetch(url, { credentials: 'include' });
      return { read: true, status: r.status, body: (await r.text()).slice(0, 80) };
    } catch (e) {
      return { read: false, error: e.name };
    }
  }, target);
  assert(!read.read, `${label}: a cross-origin read fails in the browser (${JSON.stringify(read)})`);
}

export const tests = [
  {
    name: 'access: pages of other origins and a rebound host name cannot use the browser\'s session cookie',
    timeoutMs: 90000,
    async fn(ctx) {
      const d = ctx.daemon;
      const port = new URL(d.http).port;
      const srv = await attackServer();
      try {
        // Logged in through the token link (run.mjs): the cookie is there, HttpOnly, SameSite=Strict.
        // Chromium's own Local Network Access check would stop the rebound page (public, insecure) before
        // it reaches loopback; other browsers have none, so it is off here: the daemon must refuse by itself.
        const { page, context } = await ctx.browser({ args: [RESOLVE, '--disable-features=LocalNetworkAccessChecks'] });
        assert(!new URL(page.url()).searchParams.has('token'), `the token left the address bar: ${page.url()}`);
        await page.getByRole('heading', { level: 1, name: 'Virtual machines' }).waitFor({ timeout: 10000 });
        const cookies = await context.cookies(d.http);
        assert(cookies.length === 1 && cookies[0].name === 'qhm_session' && cookies[0].httpOnly && cookies[0].sameSite === 'Strict',
          `one HttpOnly SameSite=Strict session cookie: ${JSON.stringify(cookies.map(({ name, httpOnly, sameSite }) => ({ name, httpOnly, sameSite })))}`);
        assert(await page.evaluate(() => document.cookie) === '', 'the page\'s scripts cannot read the cookie');

        // Another port of 127.0.0.1: the same site, so the cookie goes along; the Origin gives it away.
        await page.goto(`http://127.0.0.1:${srv.port}/prize`);
        await crossOriginTries(page, d, { status: 403, code: 'forbidden_origin' }, 'other-port');
        // Another site: the SameSite=Strict cookie stays home, so the daemon sees no credential.
        await page.goto(`http://${EVIL}:${srv.port}/prize`);
        await crossOriginTries(page, d, { status: 401, code: 'unauthorized' }, 'other-site');

        // DNS rebinding: evil.example on the daemon's own port reaches the daemon, which refuses the Host.
        const rebound = `http://${EVIL}:${port}`;
        const direct = await page.goto(rebound + '/');
        assert(direct.status() === 403 && (await errorCode(direct)) === 'forbidden_host', `the UI under a foreign Host: ${direct.status()}`);
        // The attacker's page came from its own server before the name was rebound: stand it in.
        await page.route(rebound + '/rebind', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>rebound</title>' }));
        await page.goto(rebound + '/rebind');
        const ticket = await d.api('POST', '/events/ticket');
        const evilWs = ticket.url.replace(/^ws:\/\/[^/]+/, `ws://${EVIL}:${new URL(d.ws).port}`);
        const got = await page.evaluate(async ({ ws }) => {
          const out = {};
          const r = await fetch('/api/v1/vms');
          out.get = { status: r.status, body: await r.text() };
          const p = await fetch('/api/v1/vms', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'rebound', memory_mib: 128, disks: [] }) });
          out.post = { status: p.status, body: await p.text() };
          out.ws = await new Promise((resolve) => {
            const s = new WebSocket(ws);
            let opened = false;
            s.onopen = () => { opened = true; };
            s.onmessage = () => { opened = true; };
            s.onclose = (e) => resolve({ opened, code: e.code });
            setTimeout(() => resolve({ opened, code: -1 }), 8000);
          });
          return out;
        }, { ws: evilWs });
        for (const k of ['get', 'post']) {
          const j = JSON.parse(got[k].body);
          assert(got[k].status === 403 && j.error.code === 'forbidden_host', `rebound ${k}: 403 forbidden_host, got ${got[k].status} ${got[k].body}`);
        }
        assert(!got.ws.opened, `the event stream under a foreign Host is refused: ${JSON.stringify(got.ws)}`);
        await page.unroute(rebound + '/rebind');

        // Nothing was made; the UI itself still works with its cookie, and its own page is held to JSON bodies.
        const vms = (await d.api('GET', '/vms')).vms;
        assert(vms.length === 0, `no VM created: ${JSON.stringify(vms.map((v) => v.name))}`);
        await page.goto(d.http + '/');
        await page.getByRole('heading', { name: 'No virtual machines yet' }).waitFor({ timeout: 10000 });
        const plain = await page.evaluate(async (body) => {
          const r = await fetch('/api/v1/vms', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body });
          return { status: r.status, body: await r.text() };
        }, FORGED('own-page-text'));
        assert(plain.status === 415 && JSON.parse(plain.body).error.code === 'unsupported_media_type', `own page, text/plain body: ${JSON.stringify(plain)}`);
        const made = await page.evaluate(async () => {
          const r = await fetch('/api/v1/vms', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'made-by-ui', memory_mib: 128, disks: [] }) });
          return r.status;
        });
        assert(made === 201 || made === 200, `the UI's own JSON POST with the cookie works: ${made}`);
        assert((await d.api('GET', '/vms')).vms.map((v) => v.name).join() === 'made-by-ui', 'exactly the UI\'s VM exists');
      } finally {
        await srv.close();
      }
    },
  },
  {
    name: 'access: a browser that never opened the token link gets the sign-in page; the token lets it in',
    timeoutMs: 60000,
    async fn(ctx) {
      const d = ctx.daemon;
      await d.api('POST', '/vms', { name: 'behind-the-door', memory_mib: 128, disks: [] });
      const { page, context } = await ctx.browser({ login: false });
      await page.goto(d.http + '/');
      await page.getByRole('heading', { level: 1, name: 'Open qemu-hmos with its link' }).waitFor({ timeout: 10000 });
      const host = new URL(d.http).host;
      assert(await page.locator('pre.access-link').textContent() === `http://${host}/?token=…`, 'the link to look for, with this address');
      await page.getByText('DATA/run/endpoint.json', { exact: false }).first().waitFor({ timeout: 2000 });
      await page.getByText(/^The daemon answered: open the link/).waitFor({ timeout: 2000 });
      assert(await page.locator('li.card').count() === 0 && !(await page.getByText('behind-the-door').count()), 'nothing of the library shows');
      assert(await page.getByRole('navigation').count() === 0, 'no navigation into pages that would fail too');
      assert((await context.cookies(d.http)).length === 0, 'no cookie');
      await page.screenshot({ path: ctx.screenshot('unauthorized.png') });
      // Any page of the UI says the same.
      await page.goto(d.http + '/host');
      await page.getByRole('heading', { level: 1, name: 'Open qemu-hmos with its link' }).waitFor({ timeout: 10000 });
      // A wrong token is caught before it is opened; the right one lets the browser in, and leaves the address.
      await page.getByLabel('API token').fill('0'.repeat(64));
      await page.getByRole('button', { name: 'Open', exact: true }).click();
      await page.getByText('This is not this daemon’s token.').waitFor({ timeout: 5000 });
      await page.getByLabel('API token').fill(d.token);
      await page.getByRole('button', { name: 'Open', exact: true }).click();
      await page.getByRole('heading', { level: 2, name: 'Allowed host folders' }).waitFor({ timeout: 10000 });
      assert(new URL(page.url()).pathname === '/host' && !page.url().includes('token'), `back on /host without the token: ${page.url()}`);
      const info = await d.api('GET', '/host');
      const paths = await page.locator('ul.paths li').allTextContents();
      assert(JSON.stringify(paths) === JSON.stringify(info.allowed_paths), `allowed paths listed: ${JSON.stringify(paths)}`);
      await page.getByText('Only this device can use qemu-hmos.', { exact: false }).waitFor({ timeout: 2000 });
      assert(await page.getByRole('button', { name: 'Pair a device' }).count() === 0, 'no pairing without --lan');
      await page.getByRole('link', { name: 'Virtual machines', exact: true }).click();
      await page.getByRole('link', { name: 'behind-the-door', exact: true }).waitFor({ timeout: 10000 });
    },
  },
  {
    name: 'access (LAN): the owner\'s pairing code lets a second browser in over HTTPS; errors shown; revoke locks it out',
    timeoutMs: 120000,
    async fn(ctx) {
      const d = await startDaemon({ daemon: ctx.args.daemon, ui: ctx.args.ui, name: 'lan', bind: '127.0.0.2',
        args: ['--lan', '--lan-port', '0', '--lan-ws-port', '0'] });
      try {
        assert(d.lan && /^https:\/\/127\.0\.0\.2:\d+$/.test(d.lan.url) && d.lan.fingerprint, `endpoint.json "lan": ${JSON.stringify(d.lan)}`);
        await d.api('POST', '/vms', { name: 'shared-vm', memory_mib: 128, disks: [] });
        // The owner, on this device: its Host page.
        const owner = await ctx.browser({ login: false });
        await login(owner.page, d, '/host');
        const op = owner.page;
        await op.getByRole('heading', { level: 2, name: 'Other devices' }).waitFor({ timeout: 10000 });
        assert(await op.locator('.lan-url').textContent() === d.lan.url, 'the LAN address');
        assert(await op.locator('.lan-fingerprint').textContent() === d.lan.fingerprint, 'the certificate fingerprint');
        assert(await op.locator('.lan-fingerprint').evaluate((e) => /mono/i.test(getComputedStyle(e).fontFamily)), 'the fingerprint in a monospace font');
        await op.getByText('No browser is paired.').waitFor({ timeout: 5000 });

        // The other browser (self-signed certificate accepted): the pairing form, not the library.
        const remote = await ctx.newBrowser({ args: ['--ignore-certificate-errors'], viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
        const rp = remote.page;
        await rp.goto(d.lan.url + '/');
        await rp.getByRole('heading', { level: 1, name: 'Pair this browser' }).waitFor({ timeout: 10000 });
        // One try with CODE: the daemon's answer (status, error code) and the text the page then shows.
        const pairOnce = async (code) => {
          await rp.getByLabel('Pairing code').fill(code);
          const [resp] = await Promise.all([
            rp.waitForResponse((r) => r.url() === d.lan.url + '/api/v1/pair', { timeout: 10000 }),
            rp.getByRole('button', { name: 'Pair', exact: true }).click(),
          ]);
          const code2 = resp.ok() ? null : await errorCode(resp);
          if (resp.ok()) return { status: resp.status(), code: null, text: '' };
          const alert = rp.getByRole('alert').filter({ hasText: /\S/ });
          await alert.waitFor({ timeout: 5000 });
          return { status: resp.status(), code: code2, text: await alert.textContent() };
        };
        await rp.getByLabel('Name for this browser').fill('Test tablet');
        // Before the owner asked for a code.
        let r = await pairOnce('123456');
        assert(r.status === 409 && r.code === 'no_pairing_code' && r.text.startsWith('No pairing code is waiting.'), `no code yet: ${JSON.stringify(r)}`);
        // The owner asks for one: big, with a countdown that moves.
        await op.getByRole('button', { name: 'Pair a device' }).click();
        const codeEl = op.locator('output.pair-code');
        await waitFor('a 6-digit code', async () => /^\d{6}$/.test(await codeEl.textContent()), { timeoutMs: 5000, intervalMs: 100 });
        const code = await codeEl.textContent();
        const t1 = await op.locator('.pair-time').textContent();
        assert(/^Expires in [12]:\d\d$/.test(t1), `countdown: ${t1}`);
        await waitFor('the countdown to move', async () => (await op.locator('.pair-time').textContent()) !== t1, { timeoutMs: 3000, intervalMs: 100 });
        assert(parseFloat(await codeEl.evaluate((e) => getComputedStyle(e).fontSize)) >= 32, 'the code is big');
        await op.screenshot({ path: ctx.screenshot('pairing.png') });
        // A wrong code, then the right one.
        r = await pairOnce(code === '000000' ? '000001' : '000000');
        assert(r.status === 403 && r.code === 'wrong_code' && r.text.startsWith('That is not the code shown on the device.'), `wrong code: ${JSON.stringify(r)}`);
        r = await pairOnce(code);
        assert(r.status === 200, `the right code: ${JSON.stringify(r)}`);
        await rp.getByRole('link', { name: 'shared-vm', exact: true }).waitFor({ timeout: 15000 });
        assert(new URL(rp.url()).origin === d.lan.url, `the remote stays on the LAN address: ${rp.url()}`);
        // The owner sees it arrive (the code is used up) with its name and address.
        await op.getByText('Paired: Test tablet').waitFor({ timeout: 8000 });
        assert(await op.locator('output.pair-code').isHidden(), 'the used code is hidden');
        const row = op.getByRole('row', { name: /Test tablet/ });
        await row.waitFor({ timeout: 5000 });
        const devs = (await d.api('GET', '/devices')).devices;
        assert(devs.length === 1 && devs[0].name === 'Test tablet', `one paired device: ${JSON.stringify(devs)}`);
        assert((await row.textContent()).includes(devs[0].address), 'its address is listed');
        // The paired browser's Host page: no pairing, no device list.
        await rp.goto(d.lan.url + '/host');
        await rp.getByText('This browser is a paired device', { exact: false }).waitFor({ timeout: 10000 });
        assert(await rp.getByRole('button', { name: 'Pair a device' }).count() === 0, 'a device cannot pair others');
        assert(await rp.getByRole('button', { name: 'Revoke' }).count() === 0, 'a device cannot revoke');
        await rp.goto(d.lan.url + '/');
        await rp.getByRole('link', { name: 'shared-vm', exact: true }).waitFor({ timeout: 10000 });
        // Revoke (confirmed): the remote's event stream closes and its page turns to the pairing form by itself.
        await row.getByRole('button', { name: 'Revoke' }).click();
        await op.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
        await op.getByText('Test tablet was revoked.').waitFor({ timeout: 5000 });
        await op.getByText('No browser is paired.').waitFor({ timeout: 5000 });
        await rp.getByRole('heading', { level: 1, name: 'Pair this browser' }).waitFor({ timeout: 15000 });
        // The used code stays used; then the per-address limit (5 tries a minute) answers.
        await rp.getByLabel('Name for this browser').fill('Test tablet');
        r = await pairOnce(code);
        assert(r.code === 'no_pairing_code', `a used code: ${JSON.stringify(r)}`);
        for (let i = 0; i < 6 && r.code !== 'rate_limited'; i++) {
          r = await pairOnce(code);
          assert(r.code === 'no_pairing_code' || r.code === 'rate_limited', `try ${i}: ${JSON.stringify(r)}`);
        }
        assert(r.status === 429 && r.text.startsWith('Too many tries from this address.'), `rate limited: ${JSON.stringify(r)}`);
        // The code field refuses a non-code without asking the daemon.
        let asked = 0;
        rp.on('request', (q) => { if (q.url().endsWith('/api/v1/pair')) asked++; });
        await rp.getByLabel('Pairing code').fill('12ab');
        await rp.getByRole('button', { name: 'Pair', exact: true }).click();
        await rp.getByText('The code is 6 digits.').waitFor({ timeout: 5000 });
        assert(asked === 0, 'a malformed code is not sent');
      } finally {
        await d.stop();
      }
    },
  },
];
