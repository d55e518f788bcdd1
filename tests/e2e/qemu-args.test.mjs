// SPDX-License-Identifier: GPL-2.0-or-later
// The VM page's extra QEMU arguments (pages/vm-qemu-args.js): the command line preview follows
// the editor as you type (PATCH ?dry_run=true), a device name this QEMU lacks and a refused option
// show the daemon's message, Copy puts the whole command on the clipboard as one line, Save stores
// qemu_args in the daemon.
import { assert } from './lib/daemon.mjs';

export const tests = [
  {
    name: 'qemu args: live command line preview, typo and refused option shown, copy the command, save',
    timeoutMs: 60000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'extra-args', memory_mib: 128, disks: [] });
      const { context, page } = await ctx.browser();
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: d.http });
      await page.goto(`${d.http}/vm/${vm.id}`);
      const sec = page.locator('section', { has: page.getByRole('heading', { name: 'Extra QEMU arguments', exact: true }) });
      const box = sec.getByLabel('Arguments, one per line');
      const preview = sec.getByTestId('qargs-preview');
      await preview.filter({ hasText: 'qemu-system-x86_64' }).waitFor({ timeout: 10000 });
      // A typo: the daemon's "did you mean", no save.
      await box.fill('-device\nvirtio-rng-pic');
      await sec.getByRole('alert').filter({ hasText: "did you mean 'virtio-rng-pci'?" }).waitFor({ timeout: 5000 });
      assert(await sec.getByRole('button', { name: 'Save arguments' }).isDisabled(), 'save disabled while refused');
      // Typed as a person types: the preview follows once the typing pauses.
      await box.fill('');
      const t0 = Date.now();
      await box.pressSequentially('-device\nvirtio-rng-pci,id=rng9', { delay: 20 });
      await preview.filter({ hasText: 'virtio-rng-pci,id=rng9' }).waitFor({ timeout: 5000 });
      const ms = Date.now() - t0;
      assert(await sec.getByRole('alert').isHidden(), 'the error is gone');
      const text = await preview.textContent();
      assert(/\n {2}-device virtio-rng-pci,id=rng9$/.test(text), `appended last: ${text.slice(-80)}`);
      // A refused option names itself.
      await box.fill('-device\nvirtio-rng-pci,id=rng9\n-qmp\nstdio');
      await sec.getByRole('alert').filter({ hasText: "-qmp is not allowed: the QMP monitor is the daemon's" }).waitFor({ timeout: 5000 });
      await box.fill('-device\nvirtio-rng-pci,id=rng9');
      await sec.getByRole('alert').waitFor({ state: 'hidden', timeout: 5000 });
      // Copy: the whole command, one line.
      await sec.getByRole('button', { name: 'Copy command' }).click();
      await sec.getByText('The whole command line is on the clipboard.').waitFor({ timeout: 5000 });
      const clip = await page.evaluate(() => navigator.clipboard.readText());
      assert(!clip.includes('\n'), `one line: ${clip.slice(0, 120)}`);
      assert(/qemu-system-x86_64 .* -device virtio-rng-pci,id=rng9$/.test(clip), clip.slice(-120));
      // Not saved yet; Save stores it.
      assert(!(await d.api('GET', `/vms/${vm.id}`)).qemu_args, 'the preview saved nothing');
      await sec.getByRole('button', { name: 'Save arguments' }).click();
      await sec.getByText('Saved: the VM starts with these arguments.').waitFor({ timeout: 10000 });
      const v = await d.api('GET', `/vms/${vm.id}`);
      assert(JSON.stringify(v.qemu_args) === JSON.stringify(['-device', 'virtio-rng-pci,id=rng9']), JSON.stringify(v.qemu_args));
      const cmd = await d.api('GET', `/vms/${vm.id}/cmdline`);
      assert(cmd.argv.slice(-2).join(' ') === '-device virtio-rng-pci,id=rng9', cmd.argv.slice(-4).join(' '));
      console.log(`    # typed-to-preview ${ms} ms`);
    },
  },
];
