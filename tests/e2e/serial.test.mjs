// SPDX-License-Identifier: GPL-2.0-or-later
// The serial console page with a real guest: the Linux test guest (Debian's kernel, a busybox
// initramfs built by tests/integration/linuxguest.py) runs a shell on ttyS0; the page shows its
// output in xterm.js, a command typed in the page runs in the guest and its output comes back,
// the special-keys bar's Ctrl-C interrupts a command, and a second viewer opened later gets the
// output kept so far. In zh-CN the page speaks Chinese.
import { assert } from './lib/daemon.mjs';
import { login } from './lib/browser.mjs';
import { linuxGuest } from './lib/guest.mjs';
import { waitText } from './lib/serial.mjs';

// A shell with ttyS0 as its controlling terminal (so Ctrl-C interrupts what runs).
const SCRIPT = 'echo qhm-serial-ready\n$B setsid $B cttyhack $B sh -i';

export const tests = [
  {
    name: 'serial: a shell on ttyS0 in xterm.js: output, a typed command, Ctrl-C from the keys bar, a second viewer',
    timeoutMs: 240000,
    async fn(ctx) {
      const d = ctx.daemon;
      const kb = linuxGuest(d, 'serial-', 'script, modules=[]', SCRIPT);
      const vm = await d.api('POST', '/vms', { name: 'serial-guest', memory_mib: 256, cpus: 1, disks: [], kernel_boot: kb });
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      await page.getByRole('link', { name: 'Serial console' }).click();
      await page.waitForURL(`**/vm/${vm.id}/serial`);
      // Open before the VM starts: the viewer stays and shows the run as it comes.
      await page.locator('#serial-status[data-state="connected"]').waitFor({ timeout: 10000 });
      assert((await page.title()).includes('serial-guest'), await page.title());
      await d.api('POST', `/vms/${vm.id}/start`);
      await waitText(page, 'qhm-serial-ready');
      await waitText(page, '#'); // the shell's prompt
      await page.locator('#serial-screen').click();
      await page.keyboard.type('echo $((6*7))-qhm\n');
      await waitText(page, '42-qhm', 30000);
      // A command that would run for minutes, interrupted with the bar's Ctrl-C.
      await page.keyboard.type('sleep 600; echo not-interrupted\n');
      await page.waitForTimeout(1000);
      await page.getByRole('button', { name: 'Keys' }).click();
      await page.getByRole('toolbar', { name: 'Special keys' }).getByRole('button', { name: 'Ctrl-C' }).click();
      await page.keyboard.type('echo after-$((1+1))\n');
      const text = await waitText(page, 'after-2', 30000);
      await page.screenshot({ path: ctx.screenshot('serial.png') });
      // (the typed line is echoed: only a line of its own would be the command's output)
      assert(!text.split('\n').some((l) => l.trim() === 'not-interrupted'), 'Ctrl-C did not interrupt the command');
      // The toolbar tells the size to set in the guest.
      assert(/^stty rows \d+ cols \d+$/.test(await page.locator('#serial-size').innerText()), 'stty hint');
      // A second viewer gets what was kept, and both see new output.
      const second = await ctx.newBrowser({ locale: 'zh-CN' });
      await login(second.page, d, `/vm/${vm.id}/serial`);
      await waitText(second.page, '42-qhm', 30000);
      await second.page.locator('#serial-status', { hasText: '已连接到串口' }).waitFor({ timeout: 10000 });
      await page.keyboard.type('echo both-$((2+3))\n');
      await waitText(page, 'both-5', 30000);
      await waitText(second.page, 'both-5', 30000);
      // The REST tail holds the same.
      const tail = (await d.bytes(`/vms/${vm.id}/serial?tail=5`)).toString('utf8');
      assert(tail.includes('both-5'), tail);
    },
  },
];
