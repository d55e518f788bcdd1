# SPDX-License-Identifier: GPL-2.0-or-later
"""kill -9 the daemon while VMs run: QEMU survives, and a restarted daemon
reattaches to it (same pids, working QMP, exits still noticed) — for each arch, i386 being
a wrapper script in front of the real binary. A process the daemon cannot prove to be a VM's
QEMU but that holds its files makes the VM "orphaned" (never "stopped": no second QEMU on the
same disks) until it is killed through the API; a recorded pid that another process has now is
neither adopted nor killed. A QEMU that stops answering (SIGSTOP, frozen) never blocks the API."""

import os
import signal
import sqlite3
import subprocess
import time

from harness import (MEMTEST_IA32_ISO, MEMTEST_ISO, DaemonTestCase, error_code, error_message, guest_iso,
                     pid_alive, proc_cmdline, qemu_pids, shows_guest_text, wait_pid_gone)
import wsclient


def runtime_sql(data_dir, sql, *args):
    """Change the daemon's database while it is not running (it was killed with -9)."""
    db = sqlite3.connect(os.path.join(data_dir, 'qemu-hmos.sqlite3'))
    try:
        cur = db.execute(sql, args)
        db.commit()
        return cur.rowcount
    finally:
        db.close()


def runtime_row(data_dir, vm_id):
    db = sqlite3.connect(os.path.join(data_dir, 'qemu-hmos.sqlite3'))
    db.row_factory = sqlite3.Row
    try:
        r = db.execute('SELECT * FROM vm_runtime WHERE vm_id = ?', (vm_id,)).fetchone()
        return dict(r) if r else None
    finally:
        db.close()


def timed(fn, *a, **k):
    t0 = time.monotonic()
    r = fn(*a, **k)
    return r, time.monotonic() - t0


class ReattachTest(DaemonTestCase):
    def test_reattach_after_daemon_sigkill(self):
        d = self.daemon
        iso = guest_iso('powerbutton')
        vms = [self.new_vm(name='survivor-%d' % i, arch='x86_64', memory_mib=128, cpus=1, disks=[], cdrom=iso)
               for i in range(3)]
        pids = {}
        for vm in vms:
            js = d.action(vm['id'], 'start')
            self.assertEqual(js['state'], 'running', js)
            pids[vm['id']] = js['pid']
        for vm in vms:
            d.wait_real_frame(vm['id'], 30, accept=shows_guest_text)
        a, b, c = (vm['id'] for vm in vms)
        d.action(b, 'pause')
        self.assertEqual(d.vm(b)['state'], 'paused')
        self.assertEqual(sorted(qemu_pids(self.data_dir)), sorted(pids.values()))

        old_pid = d.proc.pid
        d.kill9()
        time.sleep(0.5)
        for vid, pid in pids.items():
            self.assertTrue(pid_alive(pid), 'QEMU %d of %s died with the daemon' % (pid, vid))
        # One VM dies while nobody watches.
        os.kill(pids[c], signal.SIGKILL)
        self.assertTrue(wait_pid_gone(pids[c], 5))

        d.start()
        self.assertNotEqual(d.proc.pid, old_pid)
        listed = {v['id']: v for v in d.ok('GET', '/api/v1/vms')['vms']}
        self.assertEqual(set(listed), {a, b, c})
        # reattaching (QMP: the uuid, then the status) until QEMU has said which VM it is
        self.assertIn(listed[a]['state'], ('starting', 'running'), listed[a])
        self.assertEqual(listed[a]['pid'], pids[a])
        self.assertEqual(d.wait_state(a, 'running', timeout=10)['pid'], pids[a])
        self.assertEqual(d.wait_state(b, 'paused', timeout=10)['pid'], pids[b])
        gc = d.wait_state(c, ('stopped', 'crashed'), timeout=5)
        self.assertFalse(gc.get('pid'), gc)
        self.assertEqual(d.host_info()['limits']['committed_mib'], 256)

        # QMP works on the reattached VMs.
        self.assertEqual(d.action(b, 'resume')['state'], 'running')
        self.assertEqual(d.action(a, 'pause')['state'], 'paused')
        self.assertEqual(d.action(a, 'resume')['state'], 'running')
        st, data, h = d.screenshot(a)
        self.assertEqual(st, 200, data)
        # A reattached QEMU is not the daemon's child: its exit must still be noticed.
        self.assertEqual(d.action(a, 'shutdown')['state'], 'shutting-down')
        ga = d.wait_state(a, ('stopped', 'crashed'), timeout=15)
        self.assertEqual(ga['state'], 'stopped', ga)
        self.assertTrue(wait_pid_gone(pids[a], 5))
        self.assertEqual(d.action(b, 'kill')['state'], 'stopped')
        self.assertTrue(wait_pid_gone(pids[b], 5), 'kill did not end the reattached QEMU')
        self.assertEqual(d.host_info()['limits']['committed_mib'], 0)
        # And it can be started again under the new daemon.
        js = d.action(c, 'start')
        self.assertEqual(js['state'], 'running')
        self.assertEqual(d.action(c, 'kill')['state'], 'stopped')

    def test_reattached_vm_crash_is_noticed(self):
        d = self.daemon
        vm = self.new_vm(name='late-crash', arch='x86_64', memory_mib=128, cpus=1, disks=[],
                         cdrom=guest_iso('powerbutton'))
        pid = d.action(vm['id'], 'start')['pid']
        d.restart()
        self.assertEqual(d.vm(vm['id'])['pid'], pid)
        os.kill(pid, signal.SIGKILL)
        g = d.wait_state(vm['id'], ('crashed', 'stopped'), timeout=3)
        self.assertEqual(g['state'], 'crashed', g)
        self.assertEqual((g.get('last_exit') or {}).get('status'), 'crashed', g)


class AutostartTest(DaemonTestCase):
    """autostart: a stopped VM with it starts when the daemon starts; one still running is
    reattached, not started twice; one without it stays stopped."""

    def test_autostart_on_daemon_start(self):
        auto = self.new_vm(name='auto', memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_ISO, autostart=True)
        plain = self.new_vm(name='plain', memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_ISO)
        self.assertTrue(auto['autostart'])
        self.assertNotIn('autostart', plain)
        self.daemon.stop()
        self.daemon.start()
        v = self.daemon.wait_state(auto['id'], 'running', timeout=30)
        self.daemon.wait_real_frame(auto['id'], 120)
        self.assertEqual(self.daemon.vm(plain['id'])['state'], 'stopped')
        pid = v['pid']
        # Running when the daemon restarts: reattached, the same QEMU.
        self.daemon.stop()
        self.daemon.start()
        self.assertEqual(self.daemon.wait_state(auto['id'], 'running', timeout=30)['pid'], pid)
        # Changed while it runs (it does not touch QEMU), and honoured at the next daemon start.
        self.daemon.ok('PATCH', '/api/v1/vms/' + auto['id'], body={'autostart': False})
        self.daemon.action(auto['id'], 'kill')
        self.daemon.stop()
        self.daemon.start()
        self.assertEqual(self.daemon.vm(auto['id'])['state'], 'stopped')


class ArchReattachTest(DaemonTestCase):
    """Reattach after kill -9 of the daemon, per arch (CONVENTIONS 14: i386's qemu-system-i386 is a
    shell script that execs /usr/libexec/qemu-system-i386, so its command line is not the argv the
    daemon ran). Identity is the pid the daemon forked, its start time and the boot, confirmed over
    QMP (query-uuid); what runs is read back from /proc/PID/exe."""

    def reattach(self, timeout, **fields):
        d = self.daemon
        vm = self.new_vm(**fields)
        js = d.action(vm['id'], 'start')
        self.assertEqual(js['state'], 'running', js)
        pid = js['pid']
        exe = os.path.realpath('/proc/%d/exe' % pid)
        self.assertEqual(js['qemu_binary'], exe, js)
        d.wait_real_frame(vm['id'], timeout)
        row = runtime_row(self.data_dir, vm['id'])
        with open('/proc/sys/kernel/random/boot_id') as f:
            self.assertEqual(row['boot_id'], f.read().strip())
        with open('/proc/%d/stat' % pid) as f:
            self.assertEqual(row['start_time'], int(f.read().rsplit(')', 1)[1].split()[19]))
        self.assertEqual(row['exe'], exe)
        d.kill9()
        self.assertTrue(pid_alive(pid))
        d.start()
        g = d.wait_state(vm['id'], 'running', timeout=30)
        self.assertEqual(g['pid'], pid, g)
        self.assertEqual(g['qemu_binary'], exe, g)
        self.assertNotIn('orphans', g)
        d.wait_real_frame(vm['id'], 30)  # QMP works: screendump
        st, t, _ = self.api('POST', '/api/v1/vms/%s/console' % vm['id'], body={'protocol': 'vnc'})
        self.assertEqual(st, 200, t)
        hs = wsclient.open_ws(t['url'])  # the console: RFB through the VNC socket
        self.assertEqual(hs.status, 101, hs)
        try:
            self.assertEqual(hs.ws.recv_stream(12, 10), b'RFB 003.008\n')
        finally:
            hs.ws.close()
        st, log, _ = self.api('GET', '/api/v1/vms/%s/log?tail=400' % vm['id'])
        self.assertIn(('reattached to QEMU pid %d, which runs %s' % (pid, exe)).encode(), log)
        return vm, pid, exe

    def test_x86_64(self):
        vm, pid, exe = self.reattach(60, arch='x86_64', memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_ISO)
        self.assertEqual(exe, '/usr/bin/qemu-system-x86_64')
        self.assertEqual(self.daemon.action(vm['id'], 'kill')['state'], 'stopped')
        self.assertTrue(wait_pid_gone(pid, 5))

    def test_i386_behind_its_wrapper(self):
        d = self.daemon
        vm, pid, exe = self.reattach(60, arch='i386', memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_IA32_ISO)
        # The argv the daemon ran names the wrapper; what runs is the ELF behind it.
        self.assertEqual(d.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv'][0], '/usr/bin/qemu-system-i386')
        self.assertEqual(exe, '/usr/libexec/qemu-system-i386')
        self.assertEqual(proc_cmdline(pid)[0], '/usr/libexec/qemu-system-i386')
        st, log, _ = self.api('GET', '/api/v1/vms/%s/log?tail=400' % vm['id'])
        self.assertIn(b'which runs /usr/libexec/qemu-system-i386 (started as /usr/bin/qemu-system-i386)', log)
        # A runtime row as an older version wrote it (no identity columns): still adopted (its command
        # line, argv[0] aside, and its start time match), and recorded the new way from then on.
        d.kill9()
        self.assertEqual(runtime_sql(self.data_dir, 'UPDATE vm_runtime SET start_time = NULL, boot_id = NULL, '
                                     'exe = NULL WHERE vm_id = ?', vm['id']), 1)
        d.start()
        g = d.wait_state(vm['id'], 'running', timeout=30)
        self.assertEqual(g['pid'], pid, g)
        self.assertEqual(g['qemu_binary'], exe, g)
        self.assertIsNotNone(runtime_row(self.data_dir, vm['id'])['start_time'])
        self.assertEqual(d.action(vm['id'], 'kill')['state'], 'stopped')
        self.assertTrue(wait_pid_gone(pid, 5))
        # and the next start is the wrapper again
        js = d.action(vm['id'], 'start')
        self.assertEqual(js['qemu_binary'], '/usr/libexec/qemu-system-i386')
        d.action(vm['id'], 'kill')

    def test_aarch64(self):
        vm, pid, exe = self.reattach(120, arch='aarch64', memory_mib=512, cpus=1, disks=[])
        self.assertEqual(exe, '/usr/bin/qemu-system-aarch64')
        self.assertEqual(self.daemon.action(vm['id'], 'kill')['state'], 'stopped')
        self.assertTrue(wait_pid_gone(pid, 5))


class OrphanTest(DaemonTestCase):
    """What the daemon cannot prove to be a VM's QEMU is never adopted, never reported "stopped"
    while it holds the VM's files, and never killed without the API's confirmation."""

    def start_and_lose(self, **fields):
        """A VM started, then the daemon killed with -9: (vm, QEMU pid)."""
        fields.setdefault('disks', [{'size_gib': 1, 'interface': 'virtio'}])
        vm = self.new_vm(arch='x86_64', memory_mib=128, cpus=1, cdrom=MEMTEST_ISO, **fields)
        pid = self.daemon.action(vm['id'], 'start')['pid']
        self.daemon.kill9()
        self.assertTrue(pid_alive(pid))
        self.addCleanup(lambda: pid_alive(pid) and os.kill(pid, signal.SIGKILL))
        return vm, pid

    def test_unproven_qemu_is_orphaned_until_killed_through_the_api(self):
        d = self.daemon
        vm, pid = self.start_and_lose()
        vid = vm['id']
        # The recorded start time is not this process's: it is not proven to be the VM's QEMU...
        self.assertEqual(runtime_sql(self.data_dir, 'UPDATE vm_runtime SET start_time = start_time + 7 '
                                     'WHERE vm_id = ?', vid), 1)
        d.start()
        g = d.vm(vid)
        # ...but it holds the VM's files: not "stopped", and Start would run a second QEMU on them.
        self.assertEqual(g['state'], 'orphaned', g)
        self.assertIsNone(g['pid'])
        self.assertIn('pid %d' % pid, g['state_reason'])
        self.assertIn('not proven', g['state_reason'])
        self.assertEqual([o['pid'] for o in g['orphans']], [pid], g)
        o = g['orphans'][0]
        self.assertEqual(o['exe'], '/usr/bin/qemu-system-x86_64')
        self.assertIn('command line names', o['why'])
        self.assertIsInstance(o['started_at'], int)
        self.assertTrue(pid_alive(pid))
        self.assertEqual(d.host_info()['limits']['committed_mib'], 128)  # it uses the memory all the same
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vid)
        self.assertEqual((st, error_code(js)), (409, 'orphaned'), js)
        self.assertIn(str(pid), error_message(js))
        st, js, _ = self.api('DELETE', '/api/v1/vms/' + vid)
        self.assertEqual(st, 409, js)
        st, js, _ = self.api('PATCH', '/api/v1/vms/' + vid, body={'memory_mib': 256})
        self.assertEqual(st, 409, js)
        # Kill needs the pid as the confirmation, and only that of a process holding the files.
        st, js, _ = self.api('POST', '/api/v1/vms/%s/kill' % vid)
        self.assertEqual((st, error_code(js)), (409, 'orphaned'), js)
        self.assertIn('orphan_pid', error_message(js))
        st, js, _ = self.api('POST', '/api/v1/vms/%s/kill' % vid, body={'orphan_pid': os.getpid()})
        self.assertEqual((st, error_code(js)), (400, 'invalid_field'), js)
        st, js, _ = self.api('POST', '/api/v1/vms/%s/kill' % vid, body={'orphan_pid': pid, 'x': 1})
        self.assertEqual((st, error_code(js)), (400, 'invalid_field'), js)
        self.assertTrue(pid_alive(pid))
        g = d.ok('POST', '/api/v1/vms/%s/kill' % vid, body={'orphan_pid': pid})
        self.assertEqual(g['state'], 'stopped', g)
        self.assertIn('killed through the API', g['state_reason'])
        self.assertNotIn('orphans', g)
        self.assertTrue(wait_pid_gone(pid, 5))
        self.assertIn('killed', g['last_exit']['reason'])
        self.assertIsNone(runtime_row(self.data_dir, vid))
        st, js, _ = self.api('POST', '/api/v1/vms/%s/kill' % vid, body={'orphan_pid': pid})
        self.assertEqual((st, error_code(js)), (409, 'invalid_state'), js)
        js = d.action(vid, 'start')
        self.assertEqual(js['state'], 'running')
        self.assertEqual(d.action(vid, 'kill')['state'], 'stopped')

    def test_unrecorded_qemu_and_disk_holders_block_start(self):
        """An older version cleared the row of a VM it showed stopped while its QEMU ran (the i386
        bug): found at the daemon's start all the same. And any process with a disk open blocks
        Start until it ends; its exit is seen without asking."""
        d = self.daemon
        vm, pid = self.start_and_lose()
        vid = vm['id']
        self.assertEqual(runtime_sql(self.data_dir, 'DELETE FROM vm_runtime WHERE vm_id = ?', vid), 1)
        d.start()
        g = d.vm(vid)
        self.assertEqual(g['state'], 'orphaned', g)
        self.assertIn('no record', g['state_reason'])
        self.assertEqual([o['pid'] for o in g['orphans']], [pid])
        self.assertEqual(d.ok('POST', '/api/v1/vms/%s/kill' % vid, body={'orphan_pid': pid})['state'], 'stopped')
        self.assertTrue(wait_pid_gone(pid, 5))

        disk = d.vm(vid)['disks'][0]['path']
        with open(disk, 'rb') as f:
            holder = subprocess.Popen(['sleep', '300'], pass_fds=(f.fileno(),))
        self.addCleanup(lambda: holder.poll() is None and holder.kill())
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vid)
        self.assertEqual((st, error_code(js)), (409, 'orphaned'), js)
        self.assertIn(str(holder.pid), error_message(js))
        g = d.vm(vid)
        self.assertEqual(g['state'], 'orphaned', g)
        self.assertEqual([o['pid'] for o in g['orphans']], [holder.pid])
        self.assertIn('disk0.qcow2 open', g['orphans'][0]['why'])
        self.assertEqual(g['orphans'][0]['exe'], os.path.realpath('/usr/bin/sleep'))
        self.assertEqual(qemu_pids(self.data_dir), [])  # no second QEMU
        holder.kill()
        holder.wait()
        g = d.wait_state(vid, 'stopped', timeout=5)
        self.assertIn('has exited', g['state_reason'])
        self.assertEqual(d.action(vid, 'start')['state'], 'running')
        d.action(vid, 'kill')

    def test_reused_pid_is_neither_adopted_nor_killed(self):
        d = self.daemon
        for legacy in (False, True):
            vm, pid = self.start_and_lose(disks=[])
            vid = vm['id']
            os.kill(pid, signal.SIGKILL)
            self.assertTrue(wait_pid_gone(pid, 5))
            other = subprocess.Popen(['sleep', '300'])
            self.addCleanup(lambda p=other: p.poll() is None and p.kill())
            # The recorded pid now names an unrelated process (as after pid reuse).
            sql = 'UPDATE vm_runtime SET pid = ?' + (', start_time = NULL, boot_id = NULL' if legacy else '')
            self.assertEqual(runtime_sql(self.data_dir, sql + ' WHERE vm_id = ?', other.pid, vid), 1)
            d.start()
            g = d.vm(vid)
            self.assertEqual(g['state'], 'stopped', (legacy, g))
            self.assertIsNone(g['pid'])
            self.assertIn('not running', g['state_reason'])
            time.sleep(0.3)
            self.assertIsNone(other.poll(), 'the unrelated process was killed')
            self.assertEqual(d.action(vid, 'start')['state'], 'running')
            d.action(vid, 'kill')
            self.assertIsNone(other.poll())
            other.kill()
            other.wait()


class HangTest(DaemonTestCase):
    """A QEMU that does not answer: every call on its VM answers within its deadline with a clear
    error, other VMs and the listing are not held up, and Force stop ends it."""

    def two_vms(self):
        d = self.daemon
        a = self.new_vm(name='hung', arch='x86_64', memory_mib=128, cpus=1, cdrom=MEMTEST_ISO,
                        disks=[{'size_gib': 1, 'interface': 'virtio'}])
        b = self.new_vm(name='fine', arch='x86_64', memory_mib=128, cpus=1, cdrom=MEMTEST_ISO, disks=[])
        pa = d.action(a['id'], 'start')['pid']
        d.action(b['id'], 'start')
        d.wait_real_frame(a['id'], 60)
        d.wait_real_frame(b['id'], 60)
        return a['id'], b['id'], pa

    def others_fine(self, a, b):
        (st, js, _), t = timed(self.api, 'GET', '/api/v1/vms')
        self.assertEqual(st, 200)
        self.assertLess(t, 1.5, 'GET /vms took %.1f s' % t)
        (st, js, _), t = timed(self.api, 'GET', '/api/v1/vms/' + a)
        self.assertEqual(st, 200)
        self.assertLess(t, 1.5, 'GET /vms/ID took %.1f s' % t)
        (st, png, _), t = timed(self.daemon.screenshot, b)
        self.assertEqual(st, 200, png)
        self.assertLess(t, 3, 'the other VM\'s screenshot took %.1f s' % t)
        return js

    def assert_504(self, method, path, body=None, within=2.0, what=None):
        (st, js, _), t = timed(self.api, method, path, body=body, timeout=40)
        self.assertEqual((st, error_code(js)), (504, 'qemu_not_answering'), (path, js))
        self.assertLess(t, within, '%s %s took %.1f s' % (method, path, t))
        if what:
            self.assertIn(what, error_message(js))
        return js

    def test_sigstopped_qemu(self):
        d = self.daemon
        a, b, pid = self.two_vms()
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(lambda: pid_alive(pid) and os.kill(pid, signal.SIGKILL))
        time.sleep(0.2)
        stopped = 'stopped by a signal'
        g = self.others_fine(a, b)
        self.assertEqual(g['state'], 'running')
        self.assertIn('not answering', g['state_reason'])
        self.assertIn(stopped, g['state_reason'])
        self.assert_504('GET', '/api/v1/vms/%s/screenshot' % a, what=stopped)
        self.assert_504('POST', '/api/v1/vms/%s/pause' % a, what=stopped)
        self.assert_504('POST', '/api/v1/vms/%s/shutdown' % a, what=stopped)
        self.assert_504('POST', '/api/v1/vms/%s/reset' % a, what=stopped)
        self.assert_504('GET', '/api/v1/vms/%s/guest' % a, what=stopped)
        self.assert_504('POST', '/api/v1/vms/%s/snapshots' % a, body={'name': 'x'}, what=stopped)
        (st, js, _), t = timed(self.api, 'GET', '/api/v1/vms/%s/snapshots' % a)  # read from the disks
        self.assertEqual((st, js), (200, {'snapshots': []}))
        self.assertLess(t, 5)
        (st, js, _), t = timed(self.api, 'POST', '/api/v1/vms/%s/console' % a, body={'protocol': 'vnc'})
        self.assertEqual(st, 200, js)
        self.assertLess(t, 1.5)
        self.others_fine(a, b)
        # SIGCONT: it answers again, and says so.
        os.kill(pid, signal.SIGCONT)
        deadline = time.time() + 10
        while 'not answering' in d.vm(a)['state_reason'] and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(d.vm(a)['state_reason'], 'running')
        self.assertEqual(d.screenshot(a)[0], 200)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.2)
        # Force stop: QMP cannot, signals can.
        g, t = timed(d.action, a, 'kill', timeout=20)
        self.assertEqual(g['state'], 'stopped', g)
        self.assertLess(t, 6, 'kill took %.1f s' % t)
        self.assertTrue(wait_pid_gone(pid, 5))
        self.others_fine(a, b)

    def test_frozen_qemu_hits_the_deadline(self):
        """Frozen (cgroup freezer: the process is not "stopped", it just never runs): the first QMP
        command fails at its 10 s deadline, the next ones at once; thawed, QEMU answers again."""
        base = '/sys/fs/cgroup/freezer'
        if not os.access(os.path.join(base, 'cgroup.procs'), os.W_OK):
            self.skipTest('no writable cgroup v1 freezer here')
        d = self.daemon
        a, b, pid = self.two_vms()
        cg = os.path.join(base, 'qhm-test-%d' % os.getpid())
        os.mkdir(cg)

        def thaw_and_remove():
            try:
                with open(os.path.join(cg, 'freezer.state'), 'w') as f:
                    f.write('THAWED')
                with open(os.path.join(cg, 'cgroup.procs')) as f:
                    for p in f.read().split():
                        with open(os.path.join(base, 'cgroup.procs'), 'w') as g:
                            g.write(p)
                os.rmdir(cg)
            except OSError:
                pass
        self.addCleanup(thaw_and_remove)
        with open(os.path.join(cg, 'cgroup.procs'), 'w') as f:
            f.write(str(pid))
        with open(os.path.join(cg, 'freezer.state'), 'w') as f:
            f.write('FROZEN')
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(os.path.join(cg, 'freezer.state')) as f:
                if f.read().strip() == 'FROZEN':
                    break
            time.sleep(0.05)
        (st, js, _), t = timed(self.api, 'GET', '/api/v1/vms/%s/screenshot' % a, timeout=40)
        self.assertEqual((st, error_code(js)), (504, 'qemu_not_answering'), js)
        self.assertIn('did not answer screendump within 10 s', error_message(js))
        self.assertTrue(8 < t < 20, 'the deadline took %.1f s' % t)
        g = self.others_fine(a, b)
        self.assertEqual(g['state'], 'running')
        self.assertIn('not answering', g['state_reason'])
        self.assert_504('POST', '/api/v1/vms/%s/pause' % a, what='not answering')
        self.assert_504('POST', '/api/v1/vms/%s/shutdown' % a, what='not answering')
        self.assert_504('GET', '/api/v1/vms/%s/guest' % a, what='not answering')
        self.assert_504('POST', '/api/v1/vms/%s/snapshots' % a, body={'name': 'x'}, what='not answering')
        # Thawed: the late reply ends the stall and the state comes from QEMU again.
        with open(os.path.join(cg, 'freezer.state'), 'w') as f:
            f.write('THAWED')
        deadline = time.time() + 15
        while 'not answering' in d.vm(a)['state_reason'] and time.time() < deadline:
            time.sleep(0.1)
        g = d.vm(a)
        self.assertEqual((g['state'], g['state_reason']), ('running', 'running'), g)
        d.wait_real_frame(a, 20)
        self.assertEqual(d.action(a, 'pause')['state'], 'paused')
        g, t = timed(d.action, a, 'kill', timeout=20)
        self.assertEqual(g['state'], 'stopped', g)
        self.assertTrue(wait_pid_gone(pid, 5))


def swtpm_pids(vid):
    out = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            argv = proc_cmdline(int(name))
            if argv and os.path.basename(argv[0]) == 'swtpm' and any(vid in a for a in argv) \
                    and pid_alive(int(name)):
                out.append(int(name))
    return out


class TpmReattachTest(DaemonTestCase):
    """A VM's swtpm: recorded by pid and start time when it starts, reattached with its QEMU, listed
    and killed with an orphaned QEMU, and stopped when it is all that is left of a VM."""

    def tpm_vm(self, **fields):
        vm = self.new_vm(arch='x86_64', memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_ISO, tpm=True, **fields)
        js = self.daemon.action(vm['id'], 'start')
        tpm = swtpm_pids(vm['id'])
        self.assertEqual(len(tpm), 1, tpm)
        self.addCleanup(lambda: [os.kill(p, signal.SIGKILL) for p in swtpm_pids(vm['id'])])
        return vm, js['pid'], tpm[0]

    def test_reattached_with_its_swtpm(self):
        d = self.daemon
        vm, pid, tpm = self.tpm_vm()
        row = runtime_row(self.data_dir, vm['id'])
        self.assertEqual(row['tpm_pid'], tpm)
        with open('/proc/%d/stat' % tpm) as f:
            self.assertEqual(row['tpm_start_time'], int(f.read().rsplit(')', 1)[1].split()[19]))
        d.restart()
        g = d.wait_state(vm['id'], 'running', timeout=30)
        self.assertEqual(g['pid'], pid)
        self.assertEqual(d.action(vm['id'], 'kill')['state'], 'stopped')
        self.assertTrue(wait_pid_gone(pid, 5))
        self.assertTrue(wait_pid_gone(tpm, 10), 'swtpm outlived its QEMU')

    def test_orphaned_with_its_swtpm(self):
        d = self.daemon
        vm, pid, tpm = self.tpm_vm()
        d.kill9()
        runtime_sql(self.data_dir, 'UPDATE vm_runtime SET start_time = start_time + 3 WHERE vm_id = ?', vm['id'])
        d.start()
        g = d.vm(vm['id'])
        self.assertEqual(g['state'], 'orphaned', g)
        self.assertEqual(sorted((o['pid'], o['swtpm']) for o in g['orphans']), sorted([(pid, False), (tpm, True)]))
        self.assertIn('pid %d' % pid, g['state_reason'])  # the QEMU, not its swtpm
        g = d.ok('POST', '/api/v1/vms/%s/kill' % vm['id'], body={'orphan_pid': pid})
        self.assertEqual(g['state'], 'stopped', g)
        self.assertTrue(wait_pid_gone(pid, 5))
        self.assertTrue(wait_pid_gone(tpm, 5))

    def test_left_over_swtpm_is_stopped(self):
        """A swtpm of the VM with no QEMU (one whose QEMU never came) holds nothing else: it is
        stopped, the VM is stopped, and starts again with a TPM of its own."""
        d = self.daemon
        vm = self.new_vm(arch='x86_64', memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_ISO, tpm=True)
        vid = vm['id']
        d.action(vid, 'start')
        d.action(vid, 'kill')
        d.kill9()
        vdir = os.path.join(self.data_dir, 'vms', vid)
        uid, gid = os.stat(os.path.join(vdir, 'tpm')).st_uid, os.stat(os.path.join(vdir, 'tpm')).st_gid
        left = subprocess.Popen(['swtpm', 'socket', '--tpm2', '--tpmstate', 'dir=%s/tpm,mode=0600' % vdir,
                                 '--ctrl', 'type=unixio,path=%s/run/swtpm.sock,mode=0600' % vdir, '--terminate'],
                                user=uid, group=gid, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: left.poll() is None and left.kill())
        deadline = time.time() + 5
        while not os.path.exists(os.path.join(vdir, 'run', 'swtpm.sock')) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        self.assertIsNone(left.poll(), 'the test\'s swtpm did not start')
        d.start()
        self.assertEqual(d.vm(vid)['state'], 'stopped')
        left.wait(5)  # stopped by the daemon (TimeoutExpired otherwise)
        self.assertIn('left-over swtpm (pid %d)' % left.pid, d.stderr_tail())
        js = d.action(vid, 'start')
        self.assertEqual(js['state'], 'running', js)
        self.assertEqual(d.action(vid, 'kill')['state'], 'stopped')
