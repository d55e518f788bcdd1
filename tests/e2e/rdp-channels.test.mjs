// SPDX-License-Identifier: GPL-2.0-or-later
// RDP channels in the browser against the real tests/rdp-peer server
// (build/tests/qhm-rdp-peer, lib/channelpeer.mjs), one peer mode per test:
// - clip: the text the peer announces appears in the console's Clipboard panel;
//   the panel's text sent with "Send to guest clipboard" is what the peer
//   receives (UTF-16LE, CRLF, NUL-terminated).
// - disp: a smaller viewport goes to the peer as a Display Control monitor
//   layout (client.sendSize on the same WebSocket: no reconnect), and the
//   display takes the size the peer resized to.
// - snd: the peer's sound reaches the page as an `audio` stream that the
//   default player accepts (`ack … OK`); the Mute toggle; the Microphone toggle
//   opens an audio/L16 stream (ended again: the test browser has no microphone).
// Skipped (passing with a note) when the peer is not built or openssl is missing.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { statusOf } from './lib/browser.mjs';
import { waitFor, sleep, assert } from './lib/daemon.mjs';
import { startChannelPeer, peerMissing, PEER_CLIP_TEXT } from './lib/channelpeer.mjs';

async function waitStatus(page, state, timeoutMs = 15000) {
  return waitFor(`RDP status "${state}"`, async () => {
    const s = await statusOf(page);
    if (s && s.state === state) return s;
    throw new Error(JSON.stringify(s));
  }, { timeoutMs, intervalMs: 100 });
}

// The Guacamole WebSockets the page opens, and every text frame both ways.
function recordGuac(page) {
  const rec = { urls: [], sent: [], received: [] };
  page.on('websocket', (ws) => {
    if (!ws.url().includes('/rdp/')) return;
    rec.urls.push(ws.url());
    ws.on('framesent', (f) => { if (typeof f.payload === 'string') rec.sent.push(f.payload); });
    ws.on('framereceived', (f) => { if (typeof f.payload === 'string') rec.received.push(f.payload); });
  });
  return rec;
}

function rdpLog(ctx) {
  const dir = join(ctx.daemon.dataDir, 'vms');
  if (!existsSync(dir)) return '';
  return readdirSync(dir).map((id) => {
    try { return `\n    rdp.log of ${id}: ${readFileSync(join(dir, id, 'logs', 'rdp.log'), 'utf8').slice(-800)}`; } catch { return ''; }
  }).join('');
}

// A VM whose RDP target is a fresh peer in MODE (credentials stored: no prompt), its console page open.
async function withSession(ctx, mode, viewport, fn) {
  const missing = peerMissing();
  if (missing) { console.log(`    skipped: ${missing} (scripts/install-deps.sh build test)`); return; }
  const peer = await startChannelPeer(ctx.daemon.tmp, mode);
  try {
    const d = ctx.daemon;
    const vm = await d.api('POST', '/vms', { name: 'rdp-' + mode, memory_mib: 128, cpus: 1, disks: [],
      rdp: { host: '127.0.0.1', port: peer.port, username: 'tester', password: 's3cret' } });
    const { page } = await ctx.browser({ viewport });
    const rec = recordGuac(page);
    await page.goto(`${d.http}/vm/${vm.id}/rdp`);
    await waitStatus(page, 'connected');
    assert(await peer.expect('ACTIVATED', 10000), 'the peer saw no activation');
    await fn({ page, rec, peer, vm });
  } catch (e) {
    let log = '';
    try { log = rdpLog(ctx); } catch { /* none */ }
    e.message += `\n    peer: ${peer.log()}${log}`;
    throw e;
  } finally {
    await peer.stop();
  }
}

const utf16 = (hex) => Buffer.from(hex, 'hex').toString('utf16le');

export const tests = [
  {
    name: 'rdp channels: clipboard both ways through the Clipboard panel (peer mode clip)',
    timeoutMs: 30000,
    async fn(ctx) {
      await withSession(ctx, 'clip', { width: 1100, height: 760 }, async ({ page, rec, peer }) => {
        const clipBtn = page.getByRole('button', { name: 'Clipboard', exact: true });
        await clipBtn.click();
        assert(await clipBtn.getAttribute('aria-expanded') === 'true', 'Clipboard button expanded');
        const panel = page.getByRole('region', { name: 'Clipboard' });
        const box = panel.getByLabel('Clipboard text (the guest\'s clipboard appears here)');
        // Remote → local: the peer's announced text lands in the panel.
        await waitFor('the peer\'s clipboard text in the panel', async () => {
          const v = await box.inputValue();
          if (v === PEER_CLIP_TEXT) return true;
          throw new Error(JSON.stringify(v));
        }, { timeoutMs: 10000, intervalMs: 100 });

        // Local → remote: Send puts the panel's text on the peer's clipboard.
        const text = 'from the page\nzwei: Ä€𝄞';
        await box.fill(text);
        await panel.getByRole('button', { name: 'Send to guest clipboard' }).click();
        assert(rec.sent.join('').includes('9.clipboard,'), 'a clipboard stream sent');
        const want = text.replace(/\n/g, '\r\n') + '\0';
        const got = [];
        const line = await waitFor('the panel\'s text at the peer', async () => {
          const l = await peer.expect('CLIP_RECV ', 200);
          if (l) got.push(l);
          const hit = got.find((g) => utf16(g.split(' ')[1] || '') === want);
          if (hit) return hit;
          throw new Error(`received ${JSON.stringify(got.map((g) => utf16(g.split(' ')[1] || '')))}`);
        }, { timeoutMs: 10000, intervalMs: 50 });
        assert(line, 'CLIP_RECV');
        await clipBtn.click();
        assert(await panel.count() === 0 || await panel.isHidden(), 'the panel closes');
        assert(rec.urls.length === 1, `one WebSocket (${rec.urls.length})`);
      });
    },
  },
  {
    name: 'rdp channels: a resized window resizes the session through disp, no reconnect (peer mode disp)',
    timeoutMs: 30000,
    async fn(ctx) {
      await withSession(ctx, 'disp', { width: 1000, height: 700 }, async ({ page, rec, peer }) => {
        assert(await peer.expect('DISP_CAPS_SENT', 10000), 'the peer offered no Display Control');
        await sleep(500); // the caps reach the worker
        await page.setViewportSize({ width: 820, height: 600 });
        const area = await page.evaluate(() => { const a = document.querySelector('.screen-area'); return [a.clientWidth, a.clientHeight]; });
        const w = Math.max(200, area[0]) & ~1, hgt = Math.max(200, area[1]); // the bridge makes the width even
        const layout = await peer.expect('DISP_LAYOUT', 10000);
        assert(layout === `DISP_LAYOUT ${w} ${hgt} 100 1`, `layout ${layout} for area ${area}`);
        assert(rec.sent.join('').includes(`4.size,${String(area[0]).length}.${area[0]},${String(area[1]).length}.${area[1]};`),
          `size ${area} sent: ${rec.sent.filter((s) => s.includes('size')).join(' ')}`);
        assert(await peer.expect(`ACTIVATED ${w} ${hgt}`, 10000), 'the peer resized its desktop');
        await waitFor('the display at the new desktop size', async () => {
          const s = await page.evaluate(() => { const el = document.querySelector('#screen .rdp-display'); return el && [el.offsetWidth, el.offsetHeight]; });
          if (s && s[0] === w && s[1] === hgt) return true;
          throw new Error(JSON.stringify(s));
        }, { timeoutMs: 10000, intervalMs: 100 });
        assert(!(await peer.expect('CLIENT_GONE', 0)), 'the peer was not reconnected to');
        assert(rec.urls.length === 1, `no reconnect: ${rec.urls.length} WebSockets`);
        assert((await statusOf(page)).state === 'connected', 'still connected');
        await page.screenshot({ path: ctx.screenshot('rdp-resized.png') });
      });
    },
  },
  {
    name: 'rdp channels: sound reaches the page and is played, Mute and Microphone toggles (peer mode snd)',
    timeoutMs: 30000,
    async fn(ctx) {
      await withSession(ctx, 'snd', { width: 1100, height: 760 }, async ({ page, rec, peer }) => {
        const mute = page.getByRole('button', { name: 'Mute', exact: true });
        const mic = page.getByRole('button', { name: 'Microphone', exact: true });
        assert(await mute.getAttribute('aria-pressed') === 'false', 'not muted by default');
        assert(await mic.getAttribute('aria-pressed') === 'false', 'microphone off by default');
        await page.locator('#screen').click(); // a user gesture: the AudioContext may start
        assert(await peer.expect('SND_SENT', 15000), 'the peer sent no sound');
        const open = await waitFor('an audio stream at the page', () => {
          const f = rec.received.join('').match(/5\.audio,(\d+)\.(\d+),(\d+)\.(audio\/L16[^;]*;[^;]*);/);
          if (f) return f;
          throw new Error(`${rec.received.length} frames`);
        }, { timeoutMs: 10000, intervalMs: 100 });
        assert(open[4] === 'audio/L16;rate=44100,channels=2', `mimetype ${open[4]}`);
        const sid = open[2];
        await waitFor('the stream accepted by the player', () =>
          rec.sent.join('').includes(`3.ack,${sid.length}.${sid},2.OK,1.0;`), { timeoutMs: 5000, intervalMs: 50 });
        assert(!rec.sent.join('').includes('8.BAD TYPE'), 'not refused');
        const state = await page.evaluate(() => {
          const C = window.AudioContext || window.webkitAudioContext;
          return C ? 'web audio' : 'none';
        });
        assert(state === 'web audio', 'Web Audio available');
        await mute.click();
        assert(await mute.getAttribute('aria-pressed') === 'true', 'muted');
        assert(await page.evaluate(() => localStorage.getItem('qhm.console.rdp_mute')) === '1', 'mute remembered');
        await mute.click();
        assert(await mute.getAttribute('aria-pressed') === 'false', 'unmuted');

        // Microphone on: an audio/L16 44.1 kHz stereo stream opens; this browser has no microphone
        // (or no permission), so the recorder ends it and the toggle goes back off with a note.
        const before = rec.sent.length;
        await mic.click();
        await waitFor('the microphone stream opened', () => /5\.audio,\d+\.\d+,31\.audio\/L16;rate=44100,channels=2;/.test(rec.sent.slice(before).join('')),
          { timeoutMs: 5000, intervalMs: 50 });
        await waitFor('the microphone off again', async () => (await mic.getAttribute('aria-pressed')) === 'false' &&
          /3\.end,/.test(rec.sent.slice(before).join('')), { timeoutMs: 8000, intervalMs: 100 });
        const note = await page.locator('.mic-note').textContent();
        assert(/microphone could not be used/i.test(note), `note: ${note}`);
        assert((await statusOf(page)).state === 'connected', 'the session goes on');
        assert(rec.urls.length === 1, `one WebSocket (${rec.urls.length})`);
      });
    },
  },
  {
    name: 'rdp channels: an app shortcut made on the VM page opens its program from the library (peer mode rail)',
    timeoutMs: 60000,
    async fn(ctx) {
      const missing = peerMissing();
      if (missing) { console.log(`    skipped: ${missing}`); return; }
      const peer = await startChannelPeer(ctx.daemon.tmp, 'rail');
      try {
        const d = ctx.daemon;
        const vm = await d.api('POST', '/vms', { name: 'win-apps', memory_mib: 128, cpus: 1, disks: [],
          rdp: { host: '127.0.0.1', port: peer.port, username: 'tester', password: 's3cret' } });
        const { page } = await ctx.browser();
        await page.goto(`${d.http}/vm/${vm.id}`);
        const sec = page.locator('section', { has: page.getByRole('heading', { name: 'App shortcuts', exact: true }) });
        await sec.getByText('No app shortcuts.').waitFor({ timeout: 10000 });
        await sec.getByLabel('Name', { exact: true }).fill('Editor');
        await sec.getByLabel('Program (||alias or a Windows path)').fill('notepad.exe');
        await sec.getByRole('button', { name: 'Add shortcut' }).click();
        await sec.getByText(/absolute Windows path/).waitFor({ timeout: 5000 });
        await sec.getByLabel('Program (||alias or a Windows path)').fill('C:\\Tools\\editor.exe');
        await sec.getByRole('button', { name: 'Add shortcut' }).click();
        await sec.getByRole('listitem').filter({ hasText: 'Editor' }).waitFor({ timeout: 10000 });
        const saved = (await d.api('GET', `/vms/${vm.id}`)).shortcuts;
        assert(JSON.stringify(saved) === JSON.stringify([{ name: 'Editor', program: 'C:\\Tools\\editor.exe', args: '', mode: 'rail' }]), JSON.stringify(saved));
        // The library card offers it; it opens the RDP page for that program alone.
        await page.goto(`${d.http}/`);
        await page.getByRole('link', { name: '▶ Editor' }).click();
        await waitFor('the RDP page of the shortcut', () => page.url().endsWith(`/vm/${vm.id}/rdp?app=Editor`), { timeoutMs: 5000 });
        await page.getByRole('heading', { level: 1, name: 'Editor on win-apps' }).waitFor({ timeout: 10000 });
        await waitStatus(page, 'connected');
        assert(await peer.expect('RAIL_MODE 1', 10000), 'not in RemoteApp mode');
        const exec = await peer.expect('RAIL_EXEC', 10000);
        assert(exec === 'RAIL_EXEC C:\\Tools\\editor.exe|', `program started: ${exec}`);
      } catch (e) {
        e.message += `\n    peer: ${peer.log()}${rdpLog(ctx)}`;
        throw e;
      } finally {
        await peer.stop();
      }
    },
  },
];
