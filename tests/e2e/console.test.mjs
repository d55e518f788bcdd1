// SPDX-License-Identifier: GPL-2.0-or-later
// Console page tests: the guest's screen reaches the noVNC canvas (x86_64 and
// aarch64), keys typed in the browser reach the guest, and the status line
// explains a VM stop and a refused ticket. Each test runs against its own
// daemon (see run.mjs); pixels are read from the canvas and from the daemon's
// screendump, never guessed from timing.
import { createServer } from 'node:http';
import { decodePng } from './lib/png.mjs';
import { canvasImage, statusOf } from './lib/browser.mjs';
import { waitFor, sleep, assert } from './lib/daemon.mjs';
import { showsGuest, dominant, similarity, changedRows, findRun, textRows, cellKey, blankCell, CELL_H } from './lib/frame.mjs';
import { MEMTEST, GRUB, openConsole, waitStatus, waitCanvas } from './lib/console.mjs';
import { recordRfb } from './lib/rfb.mjs';

// The canvas and the daemon's screendump show the same picture (the guest
// may redraw between the two reads, so a few tries are allowed).
async function canvasMatchesScreendump(page, daemon, id) {
  return waitFor('the canvas to match the daemon screenshot', async () => {
    const shot = decodePng(await daemon.bytes(`/vms/${id}/screenshot`));
    const img = await canvasImage(page);
    const sim = similarity(img, shot);
    if (img.width === shot.width && img.height === shot.height && sim > 0.95) return { img, shot, sim };
    throw new Error(`canvas ${img.width}x${img.height} vs screendump ${shot.width}x${shot.height}, ${(sim * 100).toFixed(1)} % equal`);
  }, { timeoutMs: 20000, intervalMs: 500 });
}

async function checkButtons(page) {
  for (const name of ['Ctrl+Alt+Del', 'Fullscreen', 'Reconnect', 'Clipboard']) {
    const n = await page.getByRole('button', { name, exact: true }).count();
    assert(n === 1, `one button named "${name}" (found ${n})`);
  }
}

export const tests = [
  {
    name: 'console: x86_64 memtest86+ reaches the noVNC canvas',
    timeoutMs: 150000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.createStarted({ name: 'memtest', memory_mib: 256, disks: [], cdrom: MEMTEST });
      const { page, messages } = await ctx.browser();
      await openConsole(page, d, vm.id);
      await waitStatus(page, 'connected');
      await checkButtons(page);
      assert(await page.getByRole('button', { name: 'Ctrl+Alt+Del', exact: true }).isEnabled(), 'Ctrl+Alt+Del enabled once connected');
      // memtest86+ draws a colourful screen (SeaBIOS before it is black and white).
      await waitCanvas(page, 'memtest86+ on the canvas', (img) => dominant(img).colours >= 3, 90000, { daemon: d, id: vm.id });
      const m = await canvasMatchesScreendump(page, d, vm.id);
      assert(showsGuest(m.shot).ok, 'the screendump shows the guest too');
      // Standard VGA cannot follow the window: the console does not ask QEMU to (it refused with
      // "Invalid screen layout", a warning on every console).
      assert(!messages.some((m) => m.includes('resize request')), `resize warnings: ${messages.filter((m) => m.includes('resize')).join(' | ')}`);
      await sleep(1500); // let memtest finish its first full draw for the README picture
      await page.screenshot({ path: ctx.screenshot('console.png') });
      // Fullscreen toggles and says so.
      await page.getByRole('button', { name: 'Fullscreen', exact: true }).click();
      const fs = page.getByRole('button', { name: 'Fullscreen', exact: true });
      await waitFor('fullscreen on, aria-pressed true', async () =>
        (await page.evaluate(() => !!document.fullscreenElement)) && (await fs.getAttribute('aria-pressed')) === 'true', { timeoutMs: 5000 });
      await fs.click(); // still reachable: the toolbar is part of the fullscreen element
      await waitFor('fullscreen off, aria-pressed false', async () =>
        (await page.evaluate(() => !document.fullscreenElement)) && (await fs.getAttribute('aria-pressed')) === 'false', { timeoutMs: 5000 });
    },
  },
  {
    name: 'console: aarch64 UEFI reaches the noVNC canvas',
    timeoutMs: 150000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.createStarted({ name: 'arm', arch: 'aarch64', memory_mib: 512, disks: [] });
      const { page } = await ctx.browser();
      await openConsole(page, d, vm.id);
      await waitStatus(page, 'connected');
      await waitCanvas(page, 'the UEFI firmware on the canvas', () => true, 120000, { daemon: d, id: vm.id });
      await canvasMatchesScreendump(page, d, vm.id);
    },
  },
  {
    name: 'console: keys typed in the browser reach the guest (grub command line)',
    timeoutMs: 150000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.createStarted({ name: 'grub', memory_mib: 256, disks: [], cdrom: GRUB });
      const { page } = await ctx.browser();
      const rfb = recordRfb(page);
      await openConsole(page, d, vm.id);
      await waitStatus(page, 'connected');
      // The GRUB menu: VGA text 720x400 with the menu box (many text rows).
      const menu = await waitCanvas(page, 'the GRUB menu', (img) => img.width === 720 && img.height === 400 && textRows(img).length >= 15, 90000);
      await page.locator('#screen canvas').click({ position: { x: 5, y: 5 } });
      await page.keyboard.press('c');
      // The command line: the menu box is gone, few text rows remain.
      let cli = await waitCanvas(page, 'the GRUB command line after "c"', (img) => textRows(img).length <= 8 && changedRows(menu, img).length > 0, 20000);
      // GRUB draws its header before the prompt: under load the first frame after the menu can lack
      // the "grub>" line. Take the screen once it has stopped changing.
      for (let i = 0; i < 20; i++) {
        await sleep(600);
        const again = await canvasImage(page);
        if (changedRows(cli, again).length === 0) break;
        cli = again;
      }
      const promptRow = textRows(cli).at(-1); // "grub> " is the last line
      const mark = rfb.mark();
      await page.keyboard.type('echo hello-qhm');
      // On the wire: one key down and one key up per character, keysym = the character.
      await waitFor('28 key events on the WebSocket', () => rfb.since(mark, 'KeyEvent').length >= 28, { timeoutMs: 5000, intervalMs: 100 });
      const keys = rfb.since(mark, 'KeyEvent').map((k) => `${k.down ? 'd' : 'u'}${String.fromCharCode(k.keysym)}`);
      const want = [...'echo hello-qhm'].flatMap((c) => [`d${c}`, `u${c}`]);
      assert(JSON.stringify(keys) === JSON.stringify(want), `key events sent: ${keys.join(' ')}`);
      // The typing-latency nudge (console/nudge.js): a release of F24 after the last of the presses
      // (each press within 25 ms of the previous one moves it on), nothing else; GRUB never sees it
      // (only the typed text appears below).
      // (A loaded machine can leave more than 25 ms between two presses: a nudge then also comes in
      // between. Wait for the one after the last press, not merely for a first one.)
      const keyMessages = () => rfb.since(mark).filter((m) => m.type === 'KeyEvent' || m.type === 'KeyNudge');
      await waitFor('the nudge after the typing', () => keyMessages().length >= 29 && keyMessages().at(-1).type === 'KeyNudge',
        { timeoutMs: 3000, intervalMs: 50 }).catch(() => {});
      const all = keyMessages();
      assert(all.at(-1).type === 'KeyNudge', `the last key message is the nudge: ${all.map((m) => m.type).join(' ')}`);
      assert(all.filter((m) => m.type === 'KeyNudge').length <= 14, 'at most one nudge per press');
      const typed = await waitCanvas(page, 'the typed text on the prompt line', (img) => {
        const rows = changedRows(cli, img).map((y) => Math.floor(y / CELL_H));
        return rows.length > 0 && rows.every((r) => r === promptRow) && !blankCell(cellKey(img, 19, promptRow));
      }, 20000);
      // "grub> echo hello-qhm": columns 6..19 hold the 14 typed characters, 13 of them visible.
      let visible = 0;
      for (let c = 6; c < 20; c++) if (!blankCell(cellKey(typed, c, promptRow))) visible++;
      assert(visible === 13, `13 visible typed characters on the prompt line (found ${visible})`);
      await page.keyboard.press('Enter');
      // GRUB echoes "hello-qhm" at the start of the next line: the same glyphs as columns 11..19 above.
      await waitCanvas(page, 'GRUB to echo hello-qhm', (img) =>
        findRun(img, promptRow, 11, 9).some((f) => f.row === promptRow + 1 && f.col === 0), 20000);
      // The daemon's own screendump agrees: the guest, not just the canvas, shows it.
      const shot = decodePng(await d.bytes(`/vms/${vm.id}/screenshot`));
      assert(findRun(shot, promptRow, 11, 9).some((f) => f.row === promptRow + 1 && f.col === 0), 'screendump shows the echo too');
      // The clipboard panel's "Type into guest" sends text as keystrokes.
      await page.getByRole('button', { name: 'Clipboard', exact: true }).click();
      await page.getByLabel(/Clipboard text/).fill('echo Panel-Typed\n');
      await page.getByRole('button', { name: 'Type into guest', exact: true }).click();
      const row2 = promptRow + 2;
      await waitCanvas(page, 'GRUB to echo the text typed from the panel', (img) =>
        findRun(img, row2, 11, 11).some((f) => f.row === row2 + 1 && f.col === 0), 20000);
      await page.getByRole('button', { name: 'Send to guest clipboard', exact: true }).click(); // must not break the session
      await page.getByRole('button', { name: 'Close', exact: true }).click();
      assert((await statusOf(page)).state === 'connected', 'still connected after the clipboard actions');
      await page.screenshot({ path: ctx.screenshot('console-keyboard.png') });
    },
  },
  {
    name: 'console: a VM kill shows the stopped message; Reconnect connects again after a start',
    timeoutMs: 120000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.createStarted({ name: 'killme', memory_mib: 256, disks: [], cdrom: GRUB });
      const { page } = await ctx.browser();
      await openConsole(page, d, vm.id);
      await waitStatus(page, 'connected');
      await waitCanvas(page, 'the guest on the canvas', () => true, 60000);
      await d.api('POST', `/vms/${vm.id}/kill`);
      const s = await waitStatus(page, 'stopped', 20000);
      assert(/stopped/i.test(s.text), `the message says stopped: ${JSON.stringify(s.text)}`);
      assert(!(await page.getByRole('button', { name: 'Ctrl+Alt+Del', exact: true }).isEnabled()), 'Ctrl+Alt+Del disabled when stopped');
      // Reconnect while stopped says so again, without a ticket.
      await page.getByRole('button', { name: 'Reconnect', exact: true }).click();
      const s2 = await waitStatus(page, 'stopped', 10000);
      assert(/not running/i.test(s2.text), `Reconnect on a stopped VM says it is not running: ${JSON.stringify(s2.text)}`);
      await d.api('POST', `/vms/${vm.id}/start`, undefined, { timeoutMs: 90000 });
      await page.getByRole('button', { name: 'Reconnect', exact: true }).click();
      await waitStatus(page, 'connected', 20000);
      await waitCanvas(page, 'the guest on the canvas after Reconnect', () => true, 60000);
    },
  },
  {
    name: 'console: a used or invalid ticket shows the refusal; Reconnect gets a fresh ticket',
    timeoutMs: 120000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.createStarted({ name: 'tickets', memory_mib: 256, disks: [], cdrom: GRUB });
      const { page } = await ctx.browser();
      // Hand the page the same ticket every time: the first use connects, the second is a used ticket.
      let cached = null;
      const ticketRoute = '**/api/v1/vms/*/console';
      await page.route(ticketRoute, async (route) => {
        if (!cached) cached = await (await route.fetch()).json();
        await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(cached) });
      });
      await openConsole(page, d, vm.id);
      await waitStatus(page, 'connected');
      await page.getByRole('button', { name: 'Reconnect', exact: true }).click();
      const s = await waitStatus(page, 'refused', 15000);
      assert(/refused/i.test(s.text), `the message says refused: ${JSON.stringify(s.text)}`);
      // A ticket that never existed.
      await page.unroute(ticketRoute);
      await page.route(ticketRoute, async (route) => {
        const real = await (await route.fetch()).json();
        const url = new URL(real.url);
        url.searchParams.set('ticket', 'A'.repeat(43));
        await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ ...real, ticket: 'A'.repeat(43), url: url.href }) });
      });
      await page.reload();
      await waitStatus(page, 'refused', 15000);
      // Reconnect asks the daemon for a fresh ticket and connects.
      await page.unroute(ticketRoute);
      await page.getByRole('button', { name: 'Reconnect', exact: true }).click();
      await waitStatus(page, 'connected', 15000);
      await waitCanvas(page, 'the guest after Reconnect', () => true, 60000);
    },
  },
  {
    name: 'data plane: a page from a foreign origin cannot open the console WebSocket',
    timeoutMs: 90000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.createStarted({ name: 'origin', memory_mib: 256, disks: [], cdrom: GRUB });
      const srv = createServer((req, res) => { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end('<!doctype html><title>other</title>'); });
      await new Promise((r) => srv.listen(0, '127.0.0.1', r));
      try {
        const { page } = await ctx.browser();
        await page.goto(`http://127.0.0.1:${srv.address().port}/`);
        const tryOpen = (url) => page.evaluate((u) => new Promise((resolve) => {
          const ws = new WebSocket(u, ['binary']);
          let opened = false;
          ws.onopen = () => { opened = true; ws.close(1000); };
          ws.onclose = (e) => resolve({ opened, code: e.code });
          setTimeout(() => resolve({ opened, code: -1 }), 10000);
        }), url);
        const t1 = await d.api('POST', `/vms/${vm.id}/console`, { protocol: 'vnc' });
        const r = await tryOpen(t1.url);
        assert(!r.opened, `a foreign origin must be refused (got ${JSON.stringify(r)})`);
        // The same browser on the daemon's own origin is accepted with a fresh ticket.
        await page.goto(`${d.http}/`);
        const t2 = await d.api('POST', `/vms/${vm.id}/console`, { protocol: 'vnc' });
        const ok = await tryOpen(t2.url);
        assert(ok.opened, `the UI's origin is accepted (got ${JSON.stringify(ok)})`);
      } finally {
        srv.close();
      }
    },
  },
];

tests.push({
  name: 'console: the keyboard is the guest\'s until Ctrl+Alt (or the button) releases it; Tab and Escape then stay in the page',
  timeoutMs: 90000,
  async fn(ctx) {
    const d = ctx.daemon;
    const vm = await d.createStarted({ name: 'kbd', memory_mib: 128, disks: [], cdrom: GRUB });
    const { page } = await ctx.browser();
    const rfb = recordRfb(page);
    await openConsole(page, d, vm.id);
    await waitStatus(page, 'connected');
    // The screen: an application region with a name and the instructions.
    const app = page.getByRole('application', { name: 'Screen of kbd' });
    assert(await app.count() === 1, 'the screen is role=application with its name');
    const help = await page.locator('#' + await app.getAttribute('aria-describedby')).textContent();
    assert(/Ctrl\+Alt/.test(help), `the instructions name the release combination: ${help}`);
    assert(await page.locator('#osk-input').getAttribute('tabindex') === '-1', 'the hidden keyboard field is not a Tab stop');
    const inScreen = () => page.evaluate(() => document.getElementById('screen').contains(document.activeElement));
    await page.locator('#screen canvas').click({ position: { x: 5, y: 5 } });
    assert(await inScreen(), 'the screen has focus after a click');
    // Grabbed: Tab goes to the guest, focus stays.
    let m = rfb.mark();
    await page.keyboard.press('Tab');
    await waitFor('Tab sent to the guest', async () => rfb.since(m, 'KeyEvent').some((k) => k.keysym === 0xff09));
    assert(await inScreen(), 'Tab did not leave the screen');
    // Ctrl+Alt+Del-style chords are the guest's: no release while another key is down.
    await page.keyboard.down('Control'); await page.keyboard.down('Alt'); await page.keyboard.press('F1');
    await page.keyboard.up('Alt'); await page.keyboard.up('Control');
    await sleep(200);
    assert(await inScreen(), 'Ctrl+Alt+F1 did not release the keyboard');
    // Ctrl+Alt alone: released; the status says so, focus on the button, which now offers it back.
    await page.keyboard.down('Control'); await page.keyboard.down('Alt');
    await page.keyboard.up('Alt'); await page.keyboard.up('Control');
    await waitFor('the keyboard released', async () => !(await inScreen()));
    const btn = page.getByRole('button', { name: 'Keyboard to the VM', exact: true });
    assert(await btn.evaluate((b) => b === document.activeElement), 'focus on the keyboard button');
    assert(/Keyboard released/.test(await page.locator('#console-status').textContent()), 'the status says released');
    // Released: Escape and Tab are the page's; not a key reaches the guest.
    m = rfb.mark();
    await page.keyboard.press('Escape');
    await page.keyboard.press('Tab');
    await sleep(300);
    assert(rfb.since(m, 'KeyEvent').length === 0, `no key sent while released: ${JSON.stringify(rfb.since(m, 'KeyEvent'))}`);
    assert(!(await inScreen()), 'Tab moved on in the page');
    // The button gives it back.
    await btn.click();
    assert(await inScreen(), 'the screen has focus again');
    assert(await page.getByRole('button', { name: 'Release keyboard', exact: true }).count() === 1, 'the button offers release again');
    m = rfb.mark();
    await page.keyboard.press('a');
    await waitFor('a key sent again', async () => rfb.since(m, 'KeyEvent').some((k) => k.keysym === 0x61));
  },
});
