// SPDX-License-Identifier: GPL-2.0-or-later
// The wizard's Windows path: for an x86_64 VM whose ISO is Windows (here a copy of GRUB's rescue
// ISO named like a Windows one), the summary offers "Install Windows automatically"; Create with it
// ticked and no account is refused on the field; with an account, password, time zone and language
// the VM is created with its answer file (docs/windows-unattend.md), the password kept by the daemon
// (never shown again) and the RDP console's sign-in set to the account; the VM page detaches the
// answer CD; not offered for another ISO. (tests/integration/test_unattend.py checks the answer CD itself.)
import { copyFileSync, chmodSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from './lib/daemon.mjs';
import { GRUB } from './lib/console.mjs';

async function toSummary(page, d, name, iso) {
  await page.goto(d.http + '/new');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('radio', { name: 'An ISO file on this device' }).check();
  await page.getByLabel('ISO path', { exact: true }).fill(iso);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('radio', { name: /x86_64/ }).check();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Memory (MiB)', { exact: true }).fill('2048');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Disk size (GiB)', { exact: true }).fill('1');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('heading', { name: /Summary/ }).waitFor({ timeout: 5000 });
}

export const tests = [
  {
    name: 'unattend: the wizard installs Windows automatically: the account, time zone and language go into the VM',
    timeoutMs: 120000,
    async fn(ctx) {
      const d = ctx.daemon;
      const dir = mkdtempSync(join(d.tmp, 'win-'));
      chmodSync(dir, 0o755);
      const iso = join(dir, 'Win11_24H2_English_x64.iso');
      copyFileSync(GRUB, iso);
      const { page } = await ctx.browser();
      await toSummary(page, d, 'win-auto', iso);
      const box = page.getByRole('checkbox', { name: 'Install Windows automatically' });
      await box.waitFor();
      assert(!(await box.isChecked()), 'off by default for an ISO path (on for the catalog\'s Windows)');
      await box.check();
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      await page.getByText('Enter an account name').first().waitFor({ timeout: 5000 });
      assert((await d.api('GET', '/vms')).vms.length === 0, 'nothing created without an account');
      await page.getByLabel('Account name').fill('alice');
      await page.getByLabel('Password', { exact: true }).fill('s3cret!');
      await page.getByLabel('Time zone').selectOption('Tokyo Standard Time');
      await page.getByLabel('Windows language').selectOption('ja-JP');
      await page.screenshot({ path: ctx.screenshot('wizard-windows.png') });
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      await page.getByText('win-auto was created.').first().waitFor({ timeout: 20000 });
      const vm = (await d.api('GET', '/vms')).vms.find((v) => v.name === 'win-auto');
      const full = await d.api('GET', `/vms/${vm.id}`);
      const u = full.unattend;
      assert(u && u.user === 'alice' && u.timezone === 'Tokyo Standard Time' && u.locale === 'ja-JP' && u.password_set === true && !('password' in u),
        JSON.stringify(u));
      assert(full.rdp && full.rdp.username === 'alice' && full.rdp.password_set === true, JSON.stringify(full.rdp));
      const argv = (await d.api('GET', `/vms/${vm.id}/cmdline`)).argv;
      assert(argv.some((a) => a.includes('id=cd1') && a.endsWith('/unattend.iso')), 'the answer CD is attached');

      // The VM page shows the answer CD; unticked and saved, it is detached.
      await page.goto(`${d.http}/vm/${vm.id}`);
      const cd = page.getByRole('checkbox', { name: /^Windows answer CD \(installs as alice\)/ });
      await cd.waitFor();
      assert(await cd.isChecked(), 'the answer CD is shown as attached');
      await cd.uncheck();
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Saved' }).first().waitFor({ timeout: 10000 });
      assert(!(await d.api('GET', `/vms/${vm.id}`)).unattend, 'unattend removed');
      assert(!(await d.api('GET', `/vms/${vm.id}/cmdline`)).argv.some((a) => a.includes('id=cd1')), 'no answer CD');
      assert(!(await cd.isVisible()), 'the box goes with it');

      // Not offered for an ISO that is not Windows.
      await toSummary(page, d, 'grub', GRUB);
      assert(!(await page.getByRole('checkbox', { name: 'Install Windows automatically' }).count()), 'offered for a non-Windows ISO');
    },
  },
];
