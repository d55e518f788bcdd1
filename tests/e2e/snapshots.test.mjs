// SPDX-License-Identifier: GPL-2.0-or-later
// Snapshots section of the VM page: a snapshot taken in the browser of a
// running VM keeps its memory (the daemon's list says so), a bad name is
// refused before any request, restore and delete ask first and then act on
// the real qcow2 disk; the list follows the event stream.
import { waitFor, assert } from './lib/daemon.mjs';
import { MEMTEST } from './lib/console.mjs';

export const tests = [
  {
    name: 'snapshots: take with memory, refuse a bad name, restore and delete with confirmation',
    timeoutMs: 120000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'snappy', memory_mib: 128, disks: [{ size_gib: 1 }], cdrom: MEMTEST, boot_order: ['cdrom', 'disk'] });
      await d.api('POST', `/vms/${vm.id}/start`);
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      const section = page.locator('section', { has: page.getByRole('heading', { name: 'Snapshots', exact: true }) });
      await section.getByText('No snapshots yet.').waitFor({ timeout: 10000 });
      await section.getByText(/keeps its memory too/).waitFor({ timeout: 10000 });
      const name = section.getByLabel('Snapshot name');
      const take = section.getByRole('button', { name: 'Take snapshot' });
      // A name QEMU's monitor could not take is refused in the page.
      await name.fill('two words');
      await take.click();
      await section.getByText(/no spaces/).waitFor({ timeout: 5000 });
      assert((await d.api('GET', `/vms/${vm.id}/snapshots`)).snapshots.length === 0, 'nothing was sent');
      await name.fill('before-update');
      await take.click();
      await page.getByRole('status').filter({ hasText: 'Snapshot before-update taken.' }).waitFor({ timeout: 60000 });
      const item = section.getByRole('listitem').filter({ hasText: 'before-update' });
      await item.getByText('disks + memory').waitFor({ timeout: 10000 });
      const listed = (await d.api('GET', `/vms/${vm.id}/snapshots`)).snapshots;
      assert(listed.length === 1 && listed[0].name === 'before-update' && listed[0].memory === true, `daemon list: ${JSON.stringify(listed)}`);
      await section.evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 72)); // below the top bar
      await page.screenshot({ path: ctx.screenshot('vm-snapshots.png') });
      // Restore: asks, cancel does nothing, confirm restores (the VM keeps running).
      await item.getByRole('button', { name: 'Restore' }).click();
      const dlg = page.getByRole('dialog', { name: 'Restore before-update?' });
      await dlg.getByRole('button', { name: 'Cancel' }).click();
      await item.getByRole('button', { name: 'Restore' }).click();
      await dlg.getByRole('button', { name: 'Restore' }).click();
      await page.getByRole('status').filter({ hasText: 'Restored before-update.' }).waitFor({ timeout: 60000 });
      assert((await d.api('GET', `/vms/${vm.id}`)).state === 'running', 'running after restore');
      // A snapshot taken elsewhere (the API) shows up through the event stream.
      await d.api('POST', `/vms/${vm.id}/snapshots`, { name: 'from-api' });
      await section.getByRole('listitem').filter({ hasText: 'from-api' }).waitFor({ timeout: 10000 });
      // Delete asks too.
      await item.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog', { name: 'Delete before-update?' }).getByRole('button', { name: 'Delete' }).click();
      await waitFor('before-update gone from the page', async () => (await section.getByRole('listitem').filter({ hasText: 'before-update' }).count()) === 0, { timeoutMs: 30000 });
      const left = (await d.api('GET', `/vms/${vm.id}/snapshots`)).snapshots.map((s) => s.name);
      assert(JSON.stringify(left) === '["from-api"]', `daemon list after delete: ${left}`);
      // Stopped: the next one keeps the disks only, and says so.
      await d.api('POST', `/vms/${vm.id}/kill`);
      await section.getByText(/keeps its disks/).waitFor({ timeout: 10000 });
      await name.fill('cold');
      await take.click();
      await section.getByRole('listitem').filter({ hasText: 'cold' }).getByText('disks only').waitFor({ timeout: 30000 });
    },
  },
];
