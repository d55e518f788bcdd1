// SPDX-License-Identifier: GPL-2.0-or-later
// Disks section of the VM page: add a blank disk, grow it, detach it with a
// confirmation; each step checked against the daemon (and so against the
// qcow2 files it describes with qemu-img). Clone from the VM page.
import { waitFor, assert } from './lib/daemon.mjs';

export const tests = [
  {
    name: 'disks: add a blank disk, grow it, detach it with confirmation',
    timeoutMs: 90000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'disky', memory_mib: 128, disks: [{ size_gib: 1 }] });
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      const section = page.locator('section', { has: page.getByRole('heading', { name: 'Disks', exact: true }) });
      await section.getByText('Disk 0: 1 GiB, ahci').waitFor({ timeout: 10000 });
      await section.getByText(/used on the host/).first().waitFor({ timeout: 10000 });
      await section.getByLabel('Disk size (GiB)').fill('2');
      await section.getByLabel('Interface').selectOption('virtio');
      await section.getByRole('button', { name: 'Add disk' }).click();
      await section.getByText('Disk 1: 2 GiB, virtio').waitFor({ timeout: 30000 });
      await section.evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 72)); // below the top bar
      await page.screenshot({ path: ctx.screenshot('vm-disks.png') });
      let disks = (await d.api('GET', `/vms/${vm.id}/disks`)).disks;
      assert(disks.length === 2 && disks[1].virtual_bytes === 2 ** 31, `daemon: ${JSON.stringify(disks)}`);
      // Grow disk 1 to 3 GiB.
      await section.getByLabel('New size of disk 1 in GiB').fill('3');
      await section.getByRole('listitem').filter({ hasText: 'Disk 1:' }).getByRole('button', { name: 'Grow' }).click();
      await section.getByText('Disk 1: 3 GiB, virtio').waitFor({ timeout: 30000 });
      disks = (await d.api('GET', `/vms/${vm.id}/disks`)).disks;
      assert(disks[1].virtual_bytes === 3 * 2 ** 30, `grown: ${JSON.stringify(disks[1])}`);
      // Detach it: asks first.
      await section.getByRole('listitem').filter({ hasText: 'Disk 1:' }).getByRole('button', { name: 'Detach' }).click();
      await page.getByRole('dialog', { name: 'Detach disk 1?' }).getByRole('button', { name: 'Detach' }).click();
      await waitFor('disk 1 gone from the page', async () => (await section.getByText(/^Disk 1:/).count()) === 0, { timeoutMs: 30000 });
      disks = (await d.api('GET', `/vms/${vm.id}/disks`)).disks;
      assert(disks.length === 1, `daemon after detach: ${JSON.stringify(disks)}`);
    },
  },
  {
    name: 'clone: a stopped VM is copied from its page, which then shows the copy',
    timeoutMs: 90000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'golden', memory_mib: 128, disks: [{ size_gib: 1 }] });
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      await page.getByRole('heading', { level: 1, name: 'golden' }).waitFor({ timeout: 10000 });
      await page.getByRole('button', { name: 'Clone', exact: true }).click();
      const dlg = page.getByRole('dialog', { name: 'Clone golden?' });
      const name = dlg.getByLabel('Name');
      assert(await name.inputValue() === 'golden copy', 'a name is proposed');
      await name.fill('golden-2');
      await dlg.getByRole('button', { name: 'Clone' }).click();
      await page.getByRole('heading', { level: 1, name: 'golden-2' }).waitFor({ timeout: 30000 });
      const vms = (await d.api('GET', '/vms')).vms;
      const copy = vms.find((v) => v.name === 'golden-2');
      assert(copy && copy.id !== vm.id && page.url().endsWith(`/vm/${copy.id}`), `on the copy's page: ${page.url()}`);
      assert(copy.disks.length === 1 && copy.disks[0].path.includes(copy.id), `its own disk: ${JSON.stringify(copy.disks)}`);
    },
  },
];
