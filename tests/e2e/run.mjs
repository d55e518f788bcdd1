#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
// End-to-end tests of the web UI: real daemon, real QEMU, Debian Chromium.
//   node tests/e2e/run.mjs --daemon build/qemu-hmos --ui webui/dist [--filter REGEX] [--keep]
//                          [--screenshots DIR]
// Every test gets its own daemon (port 0, temp data dir) and its own browser
// profile; both are torn down after it, with any QEMU left under its temp dir.
// Prints `ok - NAME` / `not ok - NAME` and ends with `e2e: N passed, N failed`;
// exits 1 if anything failed.
import { existsSync, readdirSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startDaemon } from './lib/daemon.mjs';
import { launch, login, CHROMIUM } from './lib/browser.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

function parseArgs(argv) {
  const a = { daemon: join(repo, 'build', 'qemu-hmos'), ui: join(repo, 'webui', 'dist'), filter: null, keep: false,
    screenshots: join(repo, 'docs', 'screenshots') };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === '--daemon') a.daemon = resolve(next());
    else if (k === '--ui') a.ui = resolve(next());
    else if (k === '--filter') a.filter = new RegExp(next());
    else if (k === '--screenshots') a.screenshots = resolve(next());
    else if (k === '--keep') a.keep = true;
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

const indent = (s) => String(s).split('\n').map((l) => '    ' + l).join('\n');

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: test timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.log(`not ok - arguments: ${e.message}`);
    console.log('e2e: 0 passed, 1 failed');
    return 1;
  }
  const problems = [];
  if (!existsSync(args.daemon)) problems.push(`no daemon at ${args.daemon} (build it: meson setup build && ninja -C build)`);
  if (!existsSync(join(args.ui, 'index.html'))) problems.push(`no UI at ${args.ui} (build it: scripts/build-webui.sh)`);
  if (!existsSync(CHROMIUM)) problems.push(`no browser at ${CHROMIUM} (apt-get install chromium)`);
  if (problems.length) {
    for (const p of problems) console.log(`not ok - setup: ${p}`);
    console.log(`e2e: 0 passed, ${problems.length} failed`);
    return 1;
  }
  mkdirSync(args.screenshots, { recursive: true });

  const tests = [];
  for (const f of readdirSync(here).filter((n) => n.endsWith('.test.mjs')).sort()) {
    const mod = await import(pathToFileURL(join(here, f)).href);
    for (const t of mod.tests) tests.push({ ...t, file: f });
  }
  const selected = tests.filter((t) => !args.filter || args.filter.test(t.name));

  let passed = 0, failed = 0;
  const live = new Set(); // daemons to clean up on SIGINT/SIGTERM
  const onSignal = async (sig) => {
    for (const d of live) await d.stop({ keep: args.keep }).catch(() => {});
    console.log(`e2e: ${passed} passed, ${failed + 1} failed`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  for (const t of selected) {
    const started = Date.now();
    let daemon = null, browser = null, error = null;
    const extra = []; // more browsers a test opened (ctx.newBrowser), closed after it
    const ctx = {
      args,
      get daemon() { return daemon; },
      // The test's browser, logged in through the daemon's ?token= link (opts.login: false → not).
      async browser(opts = {}) {
        if (!browser) {
          browser = await launch(daemon.tmp, opts);
          if (opts.login !== false) await login(browser.page, daemon);
        }
        return browser;
      },
      // Another browser with its own profile (no cookies of the first), not logged in.
      async newBrowser(opts = {}) {
        const b = await launch(daemon.tmp, { ...opts, profile: `chromium-profile-${extra.length + 2}` });
        extra.push(b);
        return b;
      },
      screenshot: (name) => join(args.screenshots, name),
    };
    try {
      daemon = await startDaemon({ daemon: args.daemon, ui: args.ui, name: t.name });
      live.add(daemon);
      await withTimeout(t.fn(ctx), t.timeoutMs || 120000, t.name);
    } catch (e) {
      error = e;
    }
    const diag = [];
    if (error && browser) {
      try { await browser.page.screenshot({ path: join(daemon.tmp, 'failure.png'), timeout: 5000 }); diag.push(`page: ${join(daemon.tmp, 'failure.png')}`); } catch { /* page gone */ }
    }
    if (error) {
      for (const [i, b] of extra.entries()) {
        const png = join(daemon.tmp, `failure-${i + 2}.png`);
        try { await b.page.screenshot({ path: png, timeout: 5000 }); diag.push(`page of browser ${i + 2}: ${png}`); } catch { /* page gone */ }
        if (b.messages.length) diag.push(`browser ${i + 2} console (tail):\n` + b.messages.slice(-10).join('\n'));
      }
    }
    if (browser) await browser.context.close().catch(() => {});
    for (const b of extra) await b.context.close().catch(() => {});
    if (daemon) {
      if (error) diag.push('daemon log (tail):\n' + daemon.log(25));
      if (error && browser && browser.messages.length) diag.push('browser console (tail):\n' + browser.messages.slice(-15).join('\n'));
      await daemon.stop({ keep: args.keep || !!error }).catch((e) => diag.push(`cleanup: ${e.message}`));
      if (error) diag.push(`kept ${daemon.tmp}`);
      live.delete(daemon);
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (error) {
      failed++;
      console.log(`not ok - ${t.name} (${secs} s)`);
      console.log(indent(error.stack || error.message));
      for (const d of diag) console.log(indent(d));
    } else {
      passed++;
      console.log(`ok - ${t.name} (${secs} s)`);
    }
  }
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
