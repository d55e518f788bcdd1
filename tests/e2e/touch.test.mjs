// SPDX-License-Identifier: GPL-2.0-or-later
// Touch console tests on a 390x844 phone with touch: every gesture is checked
// by the exact RFB messages the page wrote on the console WebSocket
// (PointerEvent positions and button masks, wheel buttons, KeyEvent keysyms
// and scancodes), read with Playwright's 'framesent'. One GRUB VM serves all
// gestures; the expected pointer positions are computed from the canvas's
// on-screen size exactly as the page does.
import { PHONE } from './lib/browser.mjs';
import { waitFor, sleep, assert } from './lib/daemon.mjs';
import { GRUB, openConsole, waitStatus, waitCanvas } from './lib/console.mjs';
import { recordRfb, pointerBytes } from './lib/rfb.mjs';
import { touchInput } from './lib/touch.mjs';

const hex = (msgs) => msgs.map((m) => m.bytes.toString('hex')).join(' ');
function assertPointers(got, want, what) {
  const g = hex(got), w = want.map((b) => b.toString('hex')).join(' ');
  assert(g === w, `${what}: PointerEvents sent\n      got  ${g}\n      want ${w}`);
}
// A QEMU extended key event as sent by noVNC: 255, 0, down (u16), keysym (u32), XT scancode (u32;
// an 0xE0-prefixed key is sent as 0x80 | its low byte, e.g. Delete 0xE053 -> 0xD3).
function qemuKey(down, keysym, scancode) {
  const b = Buffer.alloc(12);
  b[0] = 255; b[1] = 0; b.writeUInt16BE(down ? 1 : 0, 2); b.writeUInt32BE(keysym, 4); b.writeUInt32BE(scancode, 8);
  return b;
}
function assertKeys(got, want, what) {
  const g = hex(got), w = want.map((b) => b.toString('hex')).join(' ');
  assert(g === w, `${what}: KeyEvents sent\n      got  ${g}\n      want ${w}`);
}

async function geometry(page) {
  return page.evaluate(() => {
    const c = document.querySelector('#screen canvas');
    const r = c.getBoundingClientRect();
    return { w: c.width, h: c.height, left: r.left, top: r.top, rw: r.width, rh: r.height, sx: c.width / r.width, sy: c.height / r.height };
  });
}

async function settle(rec, mark, type, n, what) {
  await waitFor(`${n} ${type} message(s) for ${what}`, () => rec.since(mark, type).length >= n, { timeoutMs: 5000, intervalMs: 50 });
  await sleep(150); // nothing more should follow
  return rec.since(mark, type);
}

export const tests = [
  {
    name: 'touch (390x844): trackpad, direct touch, pinch, keys bar and on-screen keyboard send the exact RFB messages',
    timeoutMs: 150000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.createStarted({ name: 'touch', memory_mib: 128, disks: [], cdrom: GRUB });
      const { page } = await ctx.browser(PHONE);
      const rec = recordRfb(page);
      await openConsole(page, d, vm.id);
      await waitStatus(page, 'connected');
      await waitCanvas(page, 'the GRUB menu', (img) => img.width === 720, 90000, { daemon: d, id: vm.id });
      const T = await touchInput(page);
      await page.getByRole('radio', { name: 'Trackpad' }).check();
      const g = await geometry(page);
      assert(g.rw <= 390, `the screen is scaled to the phone's width (${g.rw} css px for ${g.w} px)`);
      const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
      const inside = [Math.round(g.left + g.rw * 0.3), Math.round(g.top + g.rh * 0.4)];

      // Trackpad, one-finger drag: the pointer starts in the middle and moves relatively
      // (5 steps of 10,6 css px; the first step is past the 10 px slop), no button.
      let m = rec.mark();
      await T.drag(inside, 10, 6, 5);
      let px = Math.floor(g.w / 2), py = Math.floor(g.h / 2);
      const want = [];
      for (let i = 0; i < 5; i++) {
        px = clamp(px + 10 * g.sx, 0, g.w - 1); py = clamp(py + 6 * g.sy, 0, g.h - 1);
        want.push(pointerBytes(0, Math.round(px), Math.round(py)));
      }
      assertPointers(await settle(rec, m, 'PointerEvent', 5, 'a one-finger drag'), want, 'one-finger drag');
      const P = [Math.round(px), Math.round(py)];

      // Tap = left click at the pointer (not at the finger).
      m = rec.mark();
      await T.tap(inside[0] + 100, inside[1] + 50);
      assertPointers(await settle(rec, m, 'PointerEvent', 2, 'a tap'), [pointerBytes(1, ...P), pointerBytes(0, ...P)], 'tap');

      // Two-finger tap = right click.
      m = rec.mark();
      await T.twoTap(inside, [inside[0] + 60, inside[1]]);
      assertPointers(await settle(rec, m, 'PointerEvent', 2, 'a two-finger tap'), [pointerBytes(4, ...P), pointerBytes(0, ...P)], 'two-finger tap');

      // Two-finger drag up by 45 css px = two wheel-down clicks (button 5, mask 16) at the pointer.
      m = rec.mark();
      await T.twoDrag([inside[0], inside[1] + 100], [inside[0] + 60, inside[1] + 100], 0, -15, 3);
      assertPointers(await settle(rec, m, 'PointerEvent', 4, 'a two-finger drag'),
        [pointerBytes(16, ...P), pointerBytes(0, ...P), pointerBytes(16, ...P), pointerBytes(0, ...P)], 'two-finger drag up');
      // ...and down by 25 = one wheel-up click (button 4, mask 8).
      m = rec.mark();
      await T.twoDrag(inside, [inside[0] + 60, inside[1]], 0, 12.5, 2);
      assertPointers(await settle(rec, m, 'PointerEvent', 2, 'a two-finger drag down'), [pointerBytes(8, ...P), pointerBytes(0, ...P)], 'two-finger drag down');

      // Long press, then drag: left button down at the pointer, moved with it held, released.
      m = rec.mark();
      await T.drag(inside, 10, 0, 2, 800);
      const q1 = [Math.round(clamp(px + 10 * g.sx, 0, g.w - 1)), P[1]];
      const q2 = [Math.round(clamp(px + 10 * g.sx + 10 * g.sx, 0, g.w - 1)), P[1]];
      assertPointers(await settle(rec, m, 'PointerEvent', 4, 'a long-press drag'),
        [pointerBytes(1, ...P), pointerBytes(1, ...q1), pointerBytes(1, ...q2), pointerBytes(0, ...q2)], 'long-press drag');

      // Pinch: zooms the view, sends nothing to the guest; Reset zoom undoes it.
      m = rec.mark();
      const mid = [Math.round(g.left + g.rw / 2), Math.round(g.top + g.rh / 2)];
      await T.pinch(mid, 40, 100, 6);
      await sleep(200);
      assert(rec.since(m, 'PointerEvent').length === 0, 'a pinch sends no pointer events');
      const tf = await page.evaluate(() => document.getElementById('screen').style.transform);
      assert(/scale\(2\.\d+\)/.test(tf), `the view is zoomed about 2.5x: ${tf}`);
      await page.getByRole('button', { name: 'Reset zoom' }).tap();
      assert(await page.evaluate(() => document.getElementById('screen').style.transform) === '', 'Reset zoom restores the view');

      // Direct touch: a tap clicks where the finger is (absolute).
      await page.getByRole('radio', { name: 'Direct touch' }).check();
      m = rec.mark();
      const at = [Math.round(g.left + g.rw * 0.75), Math.round(g.top + g.rh * 0.25)];
      await T.tap(...at);
      const A = [Math.round(clamp((at[0] - g.left) * g.sx, 0, g.w - 1)), Math.round(clamp((at[1] - g.top) * g.sy, 0, g.h - 1))];
      assertPointers(await settle(rec, m, 'PointerEvent', 2, 'a direct tap'), [pointerBytes(1, ...A), pointerBytes(0, ...A)], 'direct tap');
      // Direct drag: press where the finger went down, follow it, release.
      m = rec.mark();
      await T.drag(at, -20, 0, 2);
      const B1 = [Math.round(clamp((at[0] - 20 - g.left) * g.sx, 0, g.w - 1)), A[1]];
      const B2 = [Math.round(clamp((at[0] - 40 - g.left) * g.sx, 0, g.w - 1)), A[1]];
      assertPointers(await settle(rec, m, 'PointerEvent', 4, 'a direct drag'),
        [pointerBytes(1, ...A), pointerBytes(1, ...B1), pointerBytes(1, ...B2), pointerBytes(0, ...B2)], 'direct drag');

      // Special keys bar with a sticky Ctrl: Ctrl latches, Esc is sent inside it, then Ctrl lets go.
      await page.getByRole('button', { name: 'Keys', exact: true }).tap();
      const bar = page.getByRole('toolbar', { name: 'Special keys' });
      m = rec.mark();
      await bar.getByRole('button', { name: 'Ctrl', exact: true }).tap();
      assert(await bar.getByRole('button', { name: 'Ctrl', exact: true }).getAttribute('aria-pressed') === 'true', 'Ctrl shows latched');
      await bar.getByRole('button', { name: 'Esc', exact: true }).tap();
      assertKeys(await settle(rec, m, 'KeyEvent', 4, 'Ctrl (sticky) + Esc'),
        [qemuKey(1, 0xffe3, 0x1d), qemuKey(1, 0xff1b, 0x01), qemuKey(0, 0xff1b, 0x01), qemuKey(0, 0xffe3, 0x1d)], 'Ctrl+Esc');
      assert(await bar.getByRole('button', { name: 'Ctrl', exact: true }).getAttribute('aria-pressed') === 'false', 'Ctrl released');
      m = rec.mark();
      await bar.getByRole('button', { name: 'F12', exact: true }).tap();
      assertKeys(await settle(rec, m, 'KeyEvent', 2, 'F12'), [qemuKey(1, 0xffc9, 0x58), qemuKey(0, 0xffc9, 0x58)], 'F12');
      m = rec.mark();
      await bar.getByRole('button', { name: 'Ctrl+Alt+Del', exact: true }).tap();
      assertKeys(await settle(rec, m, 'KeyEvent', 6, 'Ctrl+Alt+Del'),
        [qemuKey(1, 0xffe3, 0x1d), qemuKey(1, 0xffe9, 0x38), qemuKey(1, 0xffff, 0xd3),
          qemuKey(0, 0xffff, 0xd3), qemuKey(0, 0xffe9, 0x38), qemuKey(0, 0xffe3, 0x1d)], 'Ctrl+Alt+Del');

      // On-screen keyboard: the text field takes focus; text and Backspace become keys.
      const kbd = page.getByRole('button', { name: 'Keyboard', exact: true });
      await kbd.tap();
      await waitFor('the on-screen keyboard field focused', async () => (await kbd.getAttribute('aria-pressed')) === 'true', { timeoutMs: 3000 });
      m = rec.mark();
      await page.keyboard.insertText('a');
      await page.keyboard.press('Backspace');
      assertKeys(await settle(rec, m, 'KeyEvent', 4, 'typed a, Backspace'),
        [qemuKey(1, 0x61, 0x1e), qemuKey(0, 0x61, 0x1e), qemuKey(1, 0xff08, 0x0e), qemuKey(0, 0xff08, 0x0e)], 'on-screen keyboard');

      // Mode and keys bar are remembered.
      await page.reload();
      await waitStatus(page, 'connected');
      assert(await page.getByRole('radio', { name: 'Direct touch' }).isChecked(), 'Direct touch remembered');
      assert(await page.getByRole('toolbar', { name: 'Special keys' }).isVisible(), 'keys bar remembered');
      await page.screenshot({ path: ctx.screenshot('console-phone.png') });
    },
  },
];
