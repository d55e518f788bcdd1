# SPDX-License-Identifier: GPL-2.0-or-later
"""kill -9 the daemon while VMs run: QEMU survives, and a restarted daemon
reattaches to it (same pids, working QMP, exits still noticed)."""

import os
import signal
import time

from harness import MEMTEST_ISO, DaemonTestCase, guest_iso, pid_alive, qemu_pids, shows_guest_text, wait_pid_gone


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
        self.assertEqual(listed[a]['state'], 'running', listed[a])
        self.assertEqual(listed[a]['pid'], pids[a])
        self.assertEqual(listed[b]['state'], 'paused', listed[b])
        self.assertEqual(listed[b]['pid'], pids[b])
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
