// SPDX-License-Identifier: GPL-2.0-or-later
// Shared folders and Linux kernel boot sections of the VM page: a folder is
// shared and unshared (a bad tag refused in the page, a folder that does not
// exist refused by the daemon with its message), a kernel set and cleared;
// each step checked in the daemon's VM. Network forwards, firmware, autostart, the guest fact.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert, sleep } from './lib/daemon.mjs';

export const tests = [
  {
    name: 'shares: share a folder read-only and stop sharing it; boot a kernel directly and go back',
    timeoutMs: 60000,
    async fn(ctx) {
      const d = ctx.daemon;
      const dir = mkdtempSync(join(d.tmp, 'share-')); // inside an allowed path; removed with the test's dir
      chmodSync(dir, 0o755); // as root the daemon runs QEMU as an unprivileged user, which must read it
      const kernel = join(dir, 'vmlinuz');
      writeFileSync(kernel, 'not really a kernel');
      const vm = await d.api('POST', '/vms', { name: 'sharer', memory_mib: 128, disks: [] });
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      const shares = page.locator('section', { has: page.getByRole('heading', { name: 'Shared folders', exact: true }) });
      await shares.getByText('No folders are shared.').waitFor({ timeout: 10000 });
      await shares.getByLabel('Folder on this machine').fill(join(dir, 'missing'));
      await shares.getByLabel('Tag (the name the guest mounts)').fill('two words');
      await shares.getByRole('button', { name: 'Share folder' }).click();
      await shares.getByText(/1-31 letters/).waitFor({ timeout: 5000 });
      await shares.getByLabel('Tag (the name the guest mounts)').fill('media');
      await shares.getByRole('button', { name: 'Share folder' }).click();
      await page.getByRole('alert').filter({ hasText: 'is not a directory' }).waitFor({ timeout: 10000 });
      await shares.getByLabel('Folder on this machine').fill(dir);
      await shares.getByLabel('Read-only for the guest').check();
      await shares.getByRole('button', { name: 'Share folder' }).click();
      await shares.getByText('mount -t 9p -o trans=virtio,version=9p2000.L media /mnt/media').waitFor({ timeout: 10000 });
      let v = await d.api('GET', `/vms/${vm.id}`);
      assert(JSON.stringify(v.shared_folders) === JSON.stringify([{ path: dir, tag: 'media', readonly: true, mode: '9p' }]), JSON.stringify(v.shared_folders));
      // A second folder over virtiofs (this host has Debian's virtiofsd): its own mount command.
      const host = await d.api('GET', '/host');
      assert(host.virtiofs.available, `virtiofs on this host: ${JSON.stringify(host.virtiofs)}`);
      await shares.getByLabel('Folder on this machine').fill(dir);
      await shares.getByLabel('Tag (the name the guest mounts)').fill('fast');
      await shares.getByLabel('Protocol').selectOption('virtiofs');
      await shares.getByRole('button', { name: 'Share folder' }).click();
      await shares.getByText('mount -t virtiofs fast /mnt/fast').waitFor({ timeout: 10000 });
      await shares.getByText(/cannot take snapshots with memory/).waitFor({ timeout: 5000 });
      v = await d.api('GET', `/vms/${vm.id}`);
      assert(v.shared_folders[1].mode === 'virtiofs' && v.shared_folders[1].tag === 'fast', JSON.stringify(v.shared_folders));
      for (let i = 0; i < 2; i++) await shares.getByRole('button', { name: 'Stop sharing' }).first().click().then(() => sleep(500));
      await shares.getByText('No folders are shared.').waitFor({ timeout: 10000 });
      assert(!(await d.api('GET', `/vms/${vm.id}`)).shared_folders, 'unshared in the daemon');
      // Kernel boot.
      const kb = page.locator('section', { has: page.getByRole('heading', { name: 'Linux kernel boot', exact: true }) });
      await kb.getByLabel('Kernel', { exact: true }).fill(kernel);
      await kb.getByLabel('Kernel command line').fill('console=ttyS0');
      await kb.getByRole('button', { name: 'Boot this kernel' }).click();
      await kb.getByText('QEMU starts this Linux kernel itself; the boot order is not used.').waitFor({ timeout: 10000 });
      v = await d.api('GET', `/vms/${vm.id}`);
      assert(v.kernel_boot && v.kernel_boot.kernel === kernel && v.kernel_boot.cmdline === 'console=ttyS0', JSON.stringify(v.kernel_boot));
      await kb.getByRole('button', { name: 'Use the boot order' }).click();
      await kb.getByText(/Off: the VM boots from its boot order/).waitFor({ timeout: 10000 });
      assert(!(await d.api('GET', `/vms/${vm.id}`)).kernel_boot, 'cleared in the daemon');
    },
  },
  {
    name: 'settings: firmware UEFI with Secure Boot and a TPM for a Windows 11 guest, and back to BIOS',
    timeoutMs: 60000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'win11', memory_mib: 256, disks: [] });
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      await page.getByLabel('Firmware').selectOption('uefi-secure');
      await page.getByLabel('TPM 2.0 (swtpm)').check();
      await page.getByLabel('Start this VM when qemu-hmos starts').check();
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 10000 });
      let v = await d.api('GET', `/vms/${vm.id}`);
      assert(v.firmware === 'uefi' && v.secure_boot === true && v.tpm === true && v.autostart === true, JSON.stringify(v));
      await page.locator('dd', { hasText: 'UEFI with Secure Boot (Microsoft keys) + TPM 2.0' }).waitFor({ timeout: 5000 });
      await page.getByLabel('Firmware').selectOption('bios');
      await page.getByLabel('TPM 2.0 (swtpm)').uncheck();
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.locator('dd', { hasText: 'BIOS (SeaBIOS)' }).waitFor({ timeout: 10000 });
      v = await d.api('GET', `/vms/${vm.id}`);
      assert(!v.firmware && !v.secure_boot && !v.tpm, JSON.stringify(v));
    },
  },
  {
    name: 'network: a forward of guest port 3389 added on the VM page, its port shown while the VM runs, removed; network off',
    timeoutMs: 90000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'winbox', memory_mib: 128, disks: [], cdrom: '/usr/lib/memtest86+/memtest86+x64.iso' });
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      const net = page.locator('section', { has: page.getByRole('heading', { name: 'Network', exact: true }) });
      await net.getByText('No ports are forwarded.').waitFor({ timeout: 10000 });
      await net.getByLabel('Guest port').fill('70000');
      await net.getByRole('button', { name: 'Add forward' }).click();
      await net.getByText('A port number (guest 1-65535, host 0-65535).').waitFor({ timeout: 5000 });
      await net.getByLabel('Guest port').fill('3389');
      await net.getByRole('button', { name: 'Add forward' }).click();
      await net.getByText('TCP 127.0.0.1:(picked at start) → guest 3389').waitFor({ timeout: 10000 });
      let v = await d.api('GET', `/vms/${vm.id}`);
      assert(JSON.stringify(v.network.forwards) === JSON.stringify([{ proto: 'tcp', host_port: 0, guest_port: 3389 }]), JSON.stringify(v.network));
      // Running: the port the host picked is shown, and the RDP section uses it.
      await d.api('POST', `/vms/${vm.id}/start`, undefined, { timeoutMs: 90000 });
      v = await d.api('GET', `/vms/${vm.id}`);
      const hp = v.forwards_active[0].host_port;
      assert(hp > 0, JSON.stringify(v.forwards_active));
      await net.getByText(`TCP 127.0.0.1:${hp} → guest 3389`).waitFor({ timeout: 15000 });
      // memtest86+ has no guest agent: the overview says so (the agent path itself: test_agent.py).
      await page.locator('dd', { hasText: 'No guest agent answers (install qemu-guest-agent in the guest).' }).waitFor({ timeout: 15000 });
      await d.api('POST', `/vms/${vm.id}/kill`);
      await net.getByRole('button', { name: 'Remove' }).click();
      await net.getByText('No ports are forwarded.').waitFor({ timeout: 10000 });
      await net.getByLabel(/^Network \(user mode/).uncheck();
      await net.getByRole('button', { name: 'Save network' }).click();
      await net.getByText('Network saved.').waitFor({ timeout: 10000 });
      v = await d.api('GET', `/vms/${vm.id}`);
      assert(v.network.mode === 'none' && v.network.forwards.length === 0, JSON.stringify(v.network));
    },
  },
];
