// SPDX-License-Identifier: GPL-2.0-or-later
// Accessibility (issue 19 item 5): axe-core (npm, run inside the page) on every route of the UI,
// in the 8 combinations of desktop/phone, en/zh-CN and light/dark, with a VM that runs (its
// consoles connected). Fails on any "serious" or "critical" violation and lists each with the
// elements it was found on; the minor and moderate ones are printed, not counted.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PHONE, DESKTOP } from './lib/browser.mjs';
import { sleep, assert } from './lib/daemon.mjs';
import { GRUB } from './lib/console.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const routes = (vm) => [
  ['library', '/'], ['wizard', '/new'], ['vm page', `/vm/${vm}`], ['console', `/vm/${vm}/console`],
  ['serial console', `/vm/${vm}/serial`], ['rdp console', `/vm/${vm}/rdp`], ['host', '/host'],
  ['downloads', '/downloads'], ['images', '/images'], ['unknown page', '/no/such/page'], ['unknown vm', '/vm/ffffffffffffffff'],
];

async function audit(page) {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    // WCAG 2.1 A and AA, and axe's best practices.
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 4).map((n) => n.target.join(' ')) }));
  });
}

const combos = [];
for (const form of ['desktop', 'phone'])
  for (const locale of ['en-US', 'zh-CN'])
    for (const scheme of ['light', 'dark']) combos.push({ form, locale, scheme });

export const tests = combos.map((c) => ({
  name: `a11y: axe-core on every route (${c.form}, ${c.locale}, ${c.scheme}): no serious or critical violation`,
  timeoutMs: 180000,
  async fn(ctx) {
    const d = ctx.daemon;
    const vm = await d.createStarted({ name: 'a11y', memory_mib: 128, disks: [], cdrom: GRUB });
    const { page } = await ctx.browser({ ...(c.form === 'phone' ? PHONE : DESKTOP), locale: c.locale, colorScheme: c.scheme });
    const bad = [];
    let minor = 0;
    for (const [name, path] of routes(vm.id)) {
      await page.goto(d.http + path);
      await page.waitForLoadState('networkidle').catch(() => {});
      await sleep(700); // late content (host facts, the console's first frame)
      for (const v of await audit(page)) {
        if (v.impact === 'serious' || v.impact === 'critical') bad.push(`${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(' | ')}`);
        else minor++;
      }
    }
    if (minor) console.log(`    # ${minor} minor or moderate findings (not counted)`);
    assert(bad.length === 0, `${bad.length} serious or critical:\n  ${bad.join('\n  ')}`);
  },
}));

tests.push({
  name: 'a11y: touch targets on a 390 px phone are at least 48 x 48 CSS px (buttons, fields, selects, the menu); a one-row console header',
  timeoutMs: 120000,
  async fn(ctx) {
    const d = ctx.daemon;
    const vm = await d.createStarted({ name: 'taps', memory_mib: 128, disks: [], cdrom: GRUB });
    const { page } = await ctx.browser({ ...PHONE });
    const small = [];
    for (const [name, path] of routes(vm.id)) {
      if (name.startsWith('unknown')) continue;
      await page.goto(d.http + path);
      await page.waitForLoadState('networkidle').catch(() => {});
      await sleep(500);
      const { out: found, measured } = await page.evaluate(() => {
        const out = [];
        let measured = 0;
        const sel = 'button, select, textarea, input:not([type=hidden]):not([type=radio]):not([type=checkbox]), a.btn, .appbar nav a';
        for (const el of document.querySelectorAll(sel)) {
          if (el.closest('#screen, .xterm, .rdp-display') || el.id === 'osk-input') continue; // the guest's screen
          const r = el.getBoundingClientRect();
          const cs = getComputedStyle(el);
          if (!r.width || !r.height || cs.visibility === 'hidden' || cs.opacity === '0') continue;
          measured++;
          // A horizontally scrolled toolbar still shows the full height; the width check is per element.
          if (r.height < 47.5 || r.width < 47.5)
            out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
        }
        return { out, measured };
      });
      assert(measured >= 1, `${name}: no target measured`);
      if (name === 'console') { // a compact header: one row, the guest's screen keeps the height
        const hh = await page.evaluate(() => document.querySelector('.console-page > header').getBoundingClientRect().height);
        assert(hh <= 64, `the console's header is ${hh} px high on the phone`);
      }
      for (const f of found) small.push(`${name}: ${f}`);
    }
    assert(small.length === 0, `${small.length} targets under 48 px:\n  ${small.join('\n  ')}`);
  },
});
