// SPDX-License-Identifier: GPL-2.0-or-later
// An orphaned VM on its page (issue 12): a VM's QEMU outlives its daemon (kill -9), its recorded
// start time no longer matches (as tests/integration/test_reattach.py OrphanTest does it), and the
// restarted daemon cannot prove the process is the VM's QEMU. The page shows "Orphaned", the
// process (pid, program, why) and the daemon's reason as text; Start and Delete are disabled; "Kill
// process PID" asks first, sends {"orphan_pid": PID}, and the VM becomes stopped, the process gone.
// Started again, the overview names the QEMU program that runs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, assert } from './lib/daemon.mjs';
import { MEMTEST } from './lib/console.mjs';

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

// Change the database of a daemon that is not running (python3's sqlite3: python3 is a build
// dependency, the sqlite3 program is not). Returns the number of rows changed.
function sql(dataDir, statement, ...args) {
  const py = 'import sqlite3, sys, json\n'
    + 'db = sqlite3.connect(sys.argv[1])\n'
    + 'n = db.execute(sys.argv[2], json.loads(sys.argv[3])).rowcount\n'
    + 'db.commit()\nprint(n)\n';
  const r = spawnSync('python3', ['-c', py, join(dataDir, 'qemu-hmos.sqlite3'), statement, JSON.stringify(args)],
    { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) throw new Error(`python3 sqlite3: ${r.error || r.stderr}`);
  return Number(r.stdout.trim());
}

export const tests = [
  {
    name: 'orphaned VM: shown with its process and reason, Start disabled, Kill process PID with confirmation → stopped',
    timeoutMs: 120000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'orphan', arch: 'x86_64', memory_mib: 128, cpus: 1,
        disks: [{ size_gib: 1, interface: 'virtio' }], cdrom: MEMTEST, boot_order: ['cdrom', 'disk'] });
      const started = await d.api('POST', `/vms/${vm.id}/start`, undefined, { timeoutMs: 90000 });
      const pid = started.pid;
      assert(started.state === 'running' && Number.isInteger(pid), `started: ${JSON.stringify(started)}`);
      // The daemon dies; QEMU runs on. The recorded start time is made not this process's.
      await d.kill9();
      assert(alive(pid), `QEMU ${pid} died with the daemon`);
      const n = sql(d.dataDir, 'UPDATE vm_runtime SET start_time = start_time + 7 WHERE vm_id = ?', vm.id);
      assert(n === 1, `${n} runtime rows changed`);
      await d.restart();
      const g = await d.api('GET', `/vms/${vm.id}`);
      assert(g.state === 'orphaned', `state after restart: ${JSON.stringify(g)}`);
      assert(g.orphans && g.orphans.length === 1 && g.orphans[0].pid === pid, `orphans: ${JSON.stringify(g.orphans)}`);
      const o = g.orphans[0];

      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      await page.locator('.page-head .badge', { hasText: 'Orphaned' }).waitFor({ timeout: 10000 });
      const section = page.getByRole('region', { name: "A process holds this VM's files" });
      await section.waitFor({ timeout: 5000 });
      const item = section.locator(`li[data-pid="${pid}"]`);
      assert((await item.locator('.orphan-pid').textContent()) === String(pid), 'the pid is shown');
      assert((await item.locator('.orphan-exe').textContent()) === o.exe, `the program is shown (${o.exe})`);
      assert((await item.locator('.orphan-why').textContent()) === o.why, `why is shown (${o.why})`);
      const reason = await page.locator('.reason').textContent();
      assert(reason.includes(g.state_reason) && reason.includes(`pid ${pid}`), `state_reason shown: ${reason}`);
      await page.screenshot({ path: ctx.screenshot('vm-orphaned.png'), fullPage: false });
      const start = page.getByRole('button', { name: 'Start', exact: true });
      assert(await start.isDisabled(), 'Start is disabled');
      assert(await page.getByRole('button', { name: 'Force stop', exact: true }).isDisabled(), 'the plain kill is disabled');
      assert(await page.locator('.danger-zone').getByRole('button', { name: 'Delete' }).isDisabled(), 'Delete is disabled');

      // Kill asks first; Cancel leaves the process alone.
      const kill = section.getByRole('button', { name: `Kill process ${pid}`, exact: true });
      await kill.click();
      let dlg = page.getByRole('dialog', { name: `Kill process ${pid}?` });
      await dlg.waitFor({ timeout: 5000 });
      assert((await dlg.textContent()).includes(o.exe), 'the dialog names the program');
      await dlg.getByRole('button', { name: 'Cancel' }).click();
      await dlg.waitFor({ state: 'detached', timeout: 5000 });
      assert(alive(pid) && (await d.api('GET', `/vms/${vm.id}`)).state === 'orphaned', 'Cancel killed nothing');

      // Confirmed: the kill goes with {"orphan_pid": PID}.
      const sent = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/api/v1/vms/${vm.id}/kill`));
      await kill.click();
      dlg = page.getByRole('dialog', { name: `Kill process ${pid}?` });
      await dlg.getByRole('button', { name: `Kill process ${pid}`, exact: true }).click();
      const req = await sent;
      assert(JSON.stringify(req.postDataJSON()) === JSON.stringify({ orphan_pid: pid }), `kill body: ${req.postData()}`);
      await page.locator('.page-head .badge', { hasText: 'Stopped' }).waitFor({ timeout: 15000 });
      await section.waitFor({ state: 'hidden', timeout: 5000 });
      await waitFor(`QEMU ${pid} to end`, () => !alive(pid), { timeoutMs: 10000 });
      const after = await d.api('GET', `/vms/${vm.id}`);
      assert(after.state === 'stopped' && !after.orphans, `after kill: ${JSON.stringify(after)}`);
      assert(!(await start.isDisabled()), 'Start is enabled again');

      // Started from the page: the overview names what runs.
      await start.click();
      await page.locator('.page-head .badge', { hasText: 'Running' }).waitFor({ timeout: 90000 });
      const running = await d.api('GET', `/vms/${vm.id}`);
      const exe = readFileSync(`/proc/${running.pid}/cmdline`, 'latin1').split('\0')[0];
      assert(running.qemu_binary === '/usr/bin/qemu-system-x86_64' && exe === running.qemu_binary, `qemu_binary ${running.qemu_binary}, argv[0] ${exe}`);
      const fact = page.locator('.facts dt', { hasText: 'QEMU program' }).locator('xpath=following-sibling::dd[1]');
      await waitFor('the overview to show the QEMU program', async () => (await fact.textContent({ timeout: 2000 })) === running.qemu_binary, { timeoutMs: 10000 });
      await d.api('POST', `/vms/${vm.id}/kill`);
    },
  },
];
