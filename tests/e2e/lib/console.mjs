// SPDX-License-Identifier: GPL-2.0-or-later
// console: steps the console tests share — open a VM's console page, wait
// for a state of the status line, wait for the canvas to satisfy a check.
import { waitFor } from './daemon.mjs';
import { canvasImage, statusOf } from './browser.mjs';
import { showsGuest } from './frame.mjs';
import { decodePng } from './png.mjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const MEMTEST = '/usr/lib/memtest86+/memtest86+x64.iso';
export const GRUB = '/usr/lib/grub-rescue/grub-rescue-cdrom.iso';

export async function openConsole(page, daemon, id) {
  await page.goto(`${daemon.http}/vm/${encodeURIComponent(id)}/console`, { waitUntil: 'load' });
}

export async function waitStatus(page, state, timeoutMs = 30000) {
  return waitFor(`console status "${state}"`, async () => {
    const s = await statusOf(page);
    if (s && s.state === state) return s;
    throw new Error(JSON.stringify(s));
  }, { timeoutMs });
}

// Wait until the canvas shows the guest (not the placeholder, not flat) and
// CHECK(img) holds; returns the picture.
// With VM ({daemon, id}) a timeout also says what the daemon's screendump
// shows, which tells a guest that drew nothing from a canvas that missed it.
export async function waitCanvas(page, what, check = () => true, timeoutMs = 60000, vm = null) {
  try {
    return await waitFor(what, async () => {
      const img = await canvasImage(page);
      if (!img) throw new Error('no canvas yet');
      const g = showsGuest(img);
      if (!g.ok) throw new Error(g.why);
      if (!check(img)) throw new Error(`check failed on ${g.why}`);
      return img;
    }, { timeoutMs, intervalMs: 300 });
  } catch (e) {
    if (vm) {
      let verdict;
      try {
        const shot = decodePng(await vm.daemon.bytes(`/vms/${vm.id}/screenshot`));
        const g = showsGuest(shot);
        verdict = `${shot.width}x${shot.height}, ${g.ok ? 'shows the guest' : g.why}`;
        writeFileSync(join(vm.daemon.tmp, 'screendump.png'), await vm.daemon.bytes(`/vms/${vm.id}/screenshot`));
      } catch (e2) {
        verdict = `unavailable (${e2.message})`;
      }
      e.message += `; the daemon's screendump at that time: ${verdict}`;
    }
    throw e;
  }
}
