// SPDX-License-Identifier: GPL-2.0-or-later
// The VM page's performance mode with a real QEMU (GRUB's rescue ISO): chosen and saved while the
// VM is stopped, applied when it starts (the page says what the daemon did), changed while it
// runs (at once, the CPU thread setting at the next start, said), each step checked in the
// daemon's VM. In zh-CN the control speaks Chinese.
import { assert } from './lib/daemon.mjs';
import { login } from './lib/browser.mjs';

const GRUB = '/usr/lib/grub-rescue/grub-rescue-cdrom.iso';

async function waitVm(d, id, pred, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let v;
  while (Date.now() < deadline) {
    v = await d.api('GET', `/vms/${id}`);
    if (pred(v)) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: ${JSON.stringify(v)}`);
}

export const tests = [
  {
    name: 'performance: saver saved and applied at start, turbo while running (said on the page), zh-CN',
    timeoutMs: 120000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'perf-guest', memory_mib: 128, cpus: 2, disks: [], cdrom: GRUB });
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      const sel = page.getByLabel('Performance');
      assert((await sel.inputValue()) === 'standard', 'default');
      await sel.selectOption({ label: 'Battery saver' });
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await waitVm(d, vm.id, (v) => v.performance === 'saver', 'saver saved');
      const now = page.locator('#s-perf-now');
      assert(await now.isHidden(), 'nothing applied while stopped');

      await d.api('POST', `/vms/${vm.id}/start`);
      await now.filter({ hasText: 'nice 10 on' }).waitFor({ timeout: 30000 });
      const text = await now.innerText();
      assert(text.startsWith('Now: '), text);
      const v = await d.api('GET', `/vms/${vm.id}`);
      if (v.accelerator === 'tcg') assert(text.includes('one TCG thread for all vCPUs'), text);

      // Turbo while it runs: applied at once; the thread setting waits for the next start.
      await sel.selectOption({ label: 'Turbo' });
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      const run = await waitVm(d, vm.id, (x) => x.performance === 'turbo' && x.performance_active?.mode === 'turbo', 'turbo applied');
      assert(run.state === 'running', run.state);
      await now.filter({ hasText: 'nice -10 on' }).waitFor({ timeout: 10000 });
      if (v.accelerator === 'tcg') await now.filter({ hasText: 'takes effect at the next start' }).waitFor({ timeout: 10000 });
      await page.evaluate(() => document.getElementById('s-perf').scrollIntoView({ block: 'center' }));
      await page.screenshot({ path: ctx.screenshot('performance.png') });

      const zh = await ctx.newBrowser({ locale: 'zh-CN' });
      await login(zh.page, d, `/vm/${vm.id}`);
      const zsel = zh.page.getByLabel('性能模式');
      assert((await zsel.inputValue()) === 'turbo', await zsel.inputValue());
      await zh.page.locator('#s-perf-now', { hasText: '当前：' }).waitFor({ timeout: 10000 });
      await d.api('POST', `/vms/${vm.id}/kill`);
      await waitVm(d, vm.id, (x) => x.state === 'stopped' && x.performance_active === null, 'stopped');
    },
  },
];
