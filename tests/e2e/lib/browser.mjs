// SPDX-License-Identifier: GPL-2.0-or-later
// browser: Debian's Chromium, headless, through playwright-core (no
// downloaded browser), with a fresh profile in the test's temp dir. Also the
// page-side helpers the tests share: reading the noVNC canvas as RGBA.
// login() opens the daemon's ?token= link once, as a person would: the daemon
// sets its session cookie (qhm_session) and the page's API calls carry it.
import { chromium } from 'playwright-core';
import { join } from 'node:path';

export const CHROMIUM = process.env.QHM_CHROMIUM || '/usr/bin/chromium';

// A phone: 390x844 with touch (iPhone 12-14 class), as issue 4 asks.
export const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 1 };
export const DESKTOP = { viewport: { width: 1280, height: 800 } };

// The profile dir is new for every test (the runner gives each its own temp dir);
// PROFILE names another one (a second, separate browser); ARGS: more Chromium flags
// (e.g. --host-resolver-rules=..., --ignore-certificate-errors).
export async function launch(tmp, { locale = 'en-US', viewport = DESKTOP.viewport, hasTouch = false, isMobile = false,
  deviceScaleFactor = 1, colorScheme = 'light', profile = 'chromium-profile', args = [] } = {}) {
  const context = await chromium.launchPersistentContext(join(tmp, profile), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...args],
    locale,
    viewport,
    hasTouch,
    isMobile,
    deviceScaleFactor,
    colorScheme,
    timeout: 30000,
  });
  context.setDefaultTimeout(20000);
  const page = context.pages()[0] || await context.newPage();
  const messages = [];
  const watch = (p) => {
    p.on('console', (m) => messages.push(`console.${m.type()}: ${m.text()}`));
    p.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`));
  };
  watch(page);
  context.on('page', watch);
  return { context, page, messages };
}

// Open DAEMON's ?token= link for PATH in PAGE once: the daemon answers 303 to PATH with
// the qhm_session cookie, which every later same-origin request carries. Checks both.
export async function login(page, daemon, path = '/') {
  const resp = await page.goto(daemon.uiUrl(path), { waitUntil: 'domcontentloaded' });
  const url = new URL(page.url());
  if (url.searchParams.has('token') || url.pathname !== path.split('?')[0])
    throw new Error(`the token link did not land on ${path} without the token: ${page.url()}`);
  if (!resp || !resp.ok()) throw new Error(`the token link answered ${resp && resp.status()}`);
  const cookies = await page.context().cookies(daemon.http);
  if (!cookies.some((c) => c.name === 'qhm_session' && c.httpOnly && c.sameSite === 'Strict'))
    throw new Error(`no HttpOnly SameSite=Strict qhm_session cookie after the token link: ${JSON.stringify(cookies.map((c) => c.name))}`);
  return resp;
}

// The noVNC canvas as {width, height, data: Uint8Array RGBA}, or null before
// the first frame.
export async function canvasImage(page) {
  const r = await page.evaluate(() => {
    const c = document.querySelector('#screen canvas');
    if (!c || !c.width || !c.height) return null;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
    return { width: c.width, height: c.height, b64: btoa(s) };
  });
  if (!r) return null;
  return { width: r.width, height: r.height, data: new Uint8Array(Buffer.from(r.b64, 'base64')) };
}

export async function statusOf(page) {
  return page.evaluate(() => {
    const s = document.getElementById('console-status');
    return s ? { state: s.dataset.state || '', text: s.textContent } : null;
  });
}
