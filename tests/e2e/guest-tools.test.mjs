// SPDX-License-Identifier: GPL-2.0-or-later
// The Linux guest tools for real: the Debian 12 desktop guest (scripts/build-debian-guest.sh) with
// the tools CD attached; as root on its serial console (the page's serial console, typed into as a
// user would) the tools script from the CD; then in the VNC console page: text sent to the guest's
// clipboard is what X's clipboard holds in the guest (xclip, read through the serial shell), text
// the guest puts on its clipboard appears in the page's clipboard panel, and the guest's screen
// follows the browser window (noVNC resizeSession → QEMU → virtio-vga → the tools' udev hook →
// xrandr) to two sizes.
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert, waitFor } from './lib/daemon.mjs';
import { openConsole, waitStatus, waitCanvas } from './lib/console.mjs';
import { decodePng } from './lib/png.mjs';
import { dominant } from './lib/frame.mjs';
import { screenText, waitText } from './lib/serial.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DESKTOP = 0x2e6f8e; // the image's root window colour

function debianImage() {
  const out = execFileSync('sh', [join(repo, 'scripts', 'build-debian-guest.sh'), '--print']).toString().trim();
  assert(out, 'the Debian test guest is not built: run scripts/build-debian-guest.sh (make check does)');
  return out;
}

// Type CMD into the serial page's shell; wait for MARK in what follows (the command prints it; CMD
// writes it split by quotes, "mark-""text", so that the typed line itself does not contain it).
async function run(page, cmd, mark, timeoutMs = 60000) {
  await page.locator('#serial-screen').click();
  await page.keyboard.type(`${cmd}\n`);
  return waitText(page, mark, timeoutMs);
}

const shotSize = async (d, id) => {
  const img = decodePng(await d.bytes(`/vms/${id}/screenshot`));
  return [img.width, img.height];
};

// The desktop: mostly the image's root window colour (an xterm on it).
function desktop(img) {
  const d = dominant(img);
  return d.rgb === DESKTOP && d.share > 0.4;
}

export const tests = [
  {
    name: 'guest tools: Debian desktop guest: tools script from the CD, clipboard both ways, display follows the window',
    timeoutMs: 600000,
    async fn(ctx) {
      const d = ctx.daemon;
      const image = debianImage();
      const vm = await d.api('POST', '/vms', {
        name: 'debian-tools', memory_mib: 1024, cpus: 2, display: 'virtio-vga', guest_tools: true,
        disks: [{ size_gib: 4, interface: 'virtio' }],
      });
      copyFileSync(image, vm.disks[0].path); // truncates the daemon's file: its owner and mode stay
      const { context, page } = await ctx.browser();
      await d.api('POST', `/vms/${vm.id}/start`, undefined, { timeoutMs: 90000 });

      // The serial console: root's shell (the image's autologin on ttyS0).
      const serial = await context.newPage();
      await serial.goto(`${d.http}/vm/${vm.id}/serial`);
      await serial.locator('#serial-status[data-state="connected"]').waitFor({ timeout: 10000 });
      await waitText(serial, 'root@qhm-debian', 300000); // root's shell on ttyS0

      // The console page: the desktop, then the tools.
      await openConsole(page, d, vm.id);
      await waitStatus(page, 'connected', 30000);
      await waitCanvas(page, 'the Debian desktop', desktop, 300000, { daemon: d, id: vm.id });
      await run(serial, 'mkdir -p /media/qhm-tools && mount -r LABEL=QHM_TOOLS /media/qhm-tools && sh /media/qhm-tools/linux.sh; echo "tools-rc=$? tools-""end"', 'tools-end', 180000);
      const out = await screenText(serial);
      assert(out.includes('tools-rc=0'), `the tools script failed:\n${out.slice(-2000)}`);

      // Browser → guest: the panel's "Send to guest clipboard"; X's CLIPBOARD in the guest has it.
      const toGuest = `from-browser-${Date.now() % 100000}`;
      await page.getByRole('button', { name: 'Clipboard', exact: true }).click();
      await page.getByLabel(/Clipboard text/).fill(toGuest);
      await waitFor('the guest clipboard to hold the browser text', async () => {
        await page.getByRole('button', { name: 'Send to guest clipboard', exact: true }).click();
        const t = await run(serial, "su - qhm -c 'DISPLAY=:0 xclip -o -selection clipboard'; echo ' :clip-''read'", ':clip-read', 20000);
        if (!t.includes(`${toGuest} :clip-read`)) throw new Error(t.slice(-800));
        return true;
      }, { timeoutMs: 90000, intervalMs: 2000 });

      // Guest → browser: xclip sets the guest's CLIPBOARD; the page's panel shows it.
      const fromGuest = `from-guest-${Date.now() % 100000}`;
      await run(serial, `echo -n ${fromGuest} | su - qhm -c 'DISPLAY=:0 xclip -i -selection clipboard'; echo clip-""set`, 'clip-set');
      await waitFor('the page clipboard panel to show the guest text', async () => {
        const v = await page.getByLabel(/Clipboard text/).inputValue();
        if (v !== fromGuest) throw new Error(`panel has ${JSON.stringify(v)}`);
        return true;
      }, { timeoutMs: 60000, intervalMs: 500 });
      await page.getByRole('button', { name: 'Close', exact: true }).click();

      // The display follows the window: two viewport sizes, the guest's framebuffer each time.
      const sizes = [];
      for (const [w, h] of [[1100, 760], [900, 640]]) {
        await page.setViewportSize({ width: w, height: h });
        const box = await page.locator('#screen').boundingBox().catch(() => null);
        const before = await shotSize(d, vm.id);
        const got = await waitFor(`the guest screen to follow a ${w}x${h} window`, async () => {
          const s = await shotSize(d, vm.id);
          if (s[0] === before[0] && s[1] === before[1]) throw new Error(`still ${s.join('x')}`);
          if (box && (Math.abs(s[0] - Math.round(box.width)) > 8 || Math.abs(s[1] - Math.round(box.height)) > 8))
            throw new Error(`${s.join('x')} for a ${Math.round(box.width)}x${Math.round(box.height)} console`);
          return s;
        }, { timeoutMs: 90000, intervalMs: 1000 });
        sizes.push(got.join('x'));
      }
      await waitCanvas(page, 'the desktop at the new size', desktop, 30000);
      await page.screenshot({ path: ctx.screenshot('guest-tools.png') });
      console.log(`guest tools: screen sizes followed: ${sizes.join(', ')}`);
    },
  },
];
