// SPDX-License-Identifier: GPL-2.0-or-later
// Export and import through the pages: a stopped VM's Export links on its VM page download a
// libvirt tar and an OVA (real files, their first tar member checked); the library's Import panel
// takes the OVA from this browser (upload) and the libvirt tar by its path on this machine, and
// shows the new VM's link with what was not carried over. While the VM runs the links are
// disabled, saying why. (tests/integration/test_import.py boots imported disks.)
import { mkdtempSync, readFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from './lib/daemon.mjs';

// The name of a ustar file's first member.
const firstMember = (path) => readFileSync(path).subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');

export const tests = [
  {
    name: 'import/export: Export links download libvirt and OVA files; Import uploads the OVA and takes the tar by path',
    timeoutMs: 240000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'mover', memory_mib: 128, cpus: 1, disks: [{ size_gib: 1 }], audio: true });
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      const libvirtLink = page.getByRole('link', { name: 'Export for libvirt (.tar)' });
      await libvirtLink.waitFor();
      const dir = mkdtempSync(join(d.tmp, 'export-'));
      chmodSync(dir, 0o755);
      const saved = {};
      for (const [format, name] of [['libvirt', 'Export for libvirt (.tar)'], ['ova', 'Export as OVA']]) {
        const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.getByRole('link', { name }).click()]);
        const file = join(dir, dl.suggestedFilename());
        await dl.saveAs(file);
        saved[format] = file;
      }
      assert(saved.libvirt.endsWith('mover-libvirt.tar'), saved.libvirt);
      assert(firstMember(saved.libvirt) === 'mover.xml', firstMember(saved.libvirt));
      assert(saved.ova.endsWith('mover.ova'), saved.ova);
      assert(firstMember(saved.ova) === 'mover.ovf', firstMember(saved.ova));

      // Import: the OVA uploaded from this browser (it names the VM "mover": the original is renamed).
      await d.api('PATCH', `/vms/${vm.id}`, { name: 'mover-original' });
      await page.goto(`${d.http}/`);
      await page.getByRole('button', { name: 'Import' }).click();
      const panel = page.getByRole('region', { name: 'Import a VM' });
      await panel.getByLabel('Or a file from this device').setInputFiles(saved.ova);
      await panel.getByRole('button', { name: 'Upload and import' }).click();
      await panel.getByText('Imported from ova:').waitFor({ timeout: 120000 });
      await panel.getByRole('link', { name: 'mover', exact: true }).waitFor(); // the OVF's own name
      await page.screenshot({ path: ctx.screenshot('import.png') });

      // ... and the libvirt tar by its path, under another name; what was not carried over is listed.
      await panel.getByLabel('Path on this machine').fill(saved.libvirt);
      await panel.getByLabel('Name (optional)').fill('mover-from-libvirt');
      await panel.getByRole('button', { name: 'Import', exact: true }).click();
      await panel.getByText('Imported from libvirt:').waitFor({ timeout: 120000 });
      const link = panel.getByRole('link', { name: 'mover-from-libvirt' });
      await link.click();
      await page.waitForURL(/\/vm\/[0-9a-f]{16}$/);
      const names = (await d.api('GET', '/vms')).vms.map((v) => v.name).sort();
      assert(JSON.stringify(names) === JSON.stringify(['mover', 'mover-from-libvirt', 'mover-original']), JSON.stringify(names));
      const imported = (await d.api('GET', '/vms')).vms.find((v) => v.name === 'mover-from-libvirt');
      assert(imported.audio === true && imported.disks.length === 1, JSON.stringify(imported));

      // A path outside the allowed roots: the field says so.
      await page.goto(`${d.http}/`);
      await page.getByRole('button', { name: 'Import' }).click();
      await panel.getByLabel('Path on this machine').fill('/etc/passwd');
      await panel.getByRole('button', { name: 'Import', exact: true }).click();
      await panel.getByText(/^path:/).waitFor({ timeout: 20000 });

      // A running VM: the export links are disabled, with the reason.
      await d.api('POST', `/vms/${vm.id}/start`);
      await page.goto(`${d.http}/vm/${vm.id}`);
      await page.getByText('Stop the VM to export it.').waitFor({ timeout: 30000 });
      assert(await page.locator('a[data-format="ova"]').getAttribute('aria-disabled') === 'true', 'OVA link still enabled');
      await d.api('POST', `/vms/${vm.id}/kill`);
    },
  },
];
