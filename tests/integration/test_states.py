# SPDX-License-Identifier: GPL-2.0-or-later
"""The VM state machine against real QEMU and real guests: pause/resume/reset/
kill/start, ACPI shutdown with a guest that honours the power button, a guest
that powers itself off, QEMU crashes, refused transitions, and the cmdline and
log endpoints."""

import os
import re
import signal
import socket
import time

from harness import (DaemonTestCase, guest_iso, pid_alive, proc_cmdline, shows_guest_text,
                     wait_pid_gone)


def small_vm(kind='powerbutton', **kw):
    f = dict(arch='x86_64', memory_mib=128, cpus=1, disks=[], cdrom=guest_iso(kind))
    f.update(kw)
    return f


class StateTest(DaemonTestCase):
    def start(self, vm_id):
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vm_id, timeout=60)
        self.assertEqual(st, 200, js)
        self.assertEqual(js.get('state'), 'running', js)
        self.assertIsInstance(js.get('pid'), int, js)
        self.assertTrue(pid_alive(js['pid']), js)
        return js

    def assertListed(self, vm_id):
        """The listing (rendered from a per-VM cache) says exactly what GET /vms/{id} says."""
        one = self.daemon.vm(vm_id)
        st, js, _ = self.api('GET', '/api/v1/vms')
        self.assertEqual(st, 200, js)
        listed = [v for v in js['vms'] if v['id'] == vm_id]
        self.assertEqual(listed, [one], 'GET /vms disagrees with GET /vms/%s' % vm_id)

    def post(self, vm_id, action):
        st, js, _ = self.api('POST', '/api/v1/vms/%s/%s' % (vm_id, action), timeout=60)
        self.assertEqual(st, 200, '%s -> %d %r' % (action, st, js))
        return js

    def test_pause_resume_reset_kill_start(self):
        vm = self.new_vm(name='cycle', **small_vm())
        vid = vm['id']
        pid = self.start(vid)['pid']
        self.daemon.wait_real_frame(vid, 30, accept=shows_guest_text)

        js = self.post(vid, 'pause')
        self.assertEqual(js['state'], 'paused', js)
        self.assertEqual(self.daemon.vm(vid)['state'], 'paused')
        self.assertListed(vid)
        # A paused VM still has a screen.
        st, data, h = self.daemon.screenshot(vid)
        self.assertEqual(st, 200, data)
        self.assertTrue(h.get('content-type', '').startswith('image/png'), h)

        js = self.post(vid, 'resume')
        self.assertEqual(js['state'], 'running', js)
        self.assertEqual(self.daemon.vm(vid)['state'], 'running')
        self.assertListed(vid)

        js = self.post(vid, 'reset')
        self.assertEqual(js['state'], 'running', js)
        self.assertEqual(js['pid'], pid, 'reset must not restart QEMU')
        # The QMP RESET event shows in state_reason.
        deadline = time.time() + 3
        while 'reset' not in (self.daemon.vm(vid).get('state_reason') or '').lower():
            self.assertLess(time.time(), deadline, 'state_reason never mentions the reset: %r'
                            % self.daemon.vm(vid).get('state_reason'))
            time.sleep(0.1)
        vmnow = self.daemon.vm(vid)
        self.assertEqual(vmnow['state'], 'running')
        self.assertEqual(vmnow['pid'], pid)
        # The guest boots again after the reset.
        self.daemon.wait_real_frame(vid, 30, accept=shows_guest_text)

        t = time.time()
        js = self.post(vid, 'kill')
        self.assertEqual(js['state'], 'stopped', js)
        self.assertLess(time.time() - t, 5, 'kill took too long')
        self.assertTrue(wait_pid_gone(pid, 5), 'QEMU %d still alive after kill' % pid)
        g = self.daemon.vm(vid)
        self.assertEqual(g['state'], 'stopped')
        self.assertFalse(g.get('pid'), g)
        self.assertListed(vid)
        self.assertEqual(self.daemon.host_info()['limits']['committed_mib'], 0)

        pid2 = self.start(vid)['pid']
        self.assertNotEqual(pid2, pid)
        self.assertEqual(self.daemon.host_info()['limits']['committed_mib'], 128)
        self.daemon.wait_real_frame(vid, 30, accept=shows_guest_text)
        self.assertEqual(self.post(vid, 'kill')['state'], 'stopped')
        self.assertTrue(wait_pid_gone(pid2, 5))
        # A Force stop's QMP close is expected: not logged as a warning (issue 19).
        log = self.daemon.stderr_tail(400)
        self.assertNotIn('warn: vm %s: QMP closed' % vid, log)
        self.assertIn('vm %s: QMP closed as QEMU ended' % vid, log)

    def test_shutdown_powerbutton_guest(self):
        vm = self.new_vm(name='acpi-shutdown', **small_vm(cpus=2))
        vid = vm['id']
        pid = self.start(vid)['pid']
        # Wait until the guest runs (it enables the power button right after drawing).
        self.daemon.wait_real_frame(vid, 30, accept=shows_guest_text)
        time.sleep(0.3)
        js = self.post(vid, 'shutdown')
        self.assertEqual(js['state'], 'shutting-down', js)
        g = self.daemon.wait_state(vid, ('stopped', 'crashed'), timeout=15)
        self.assertEqual(g['state'], 'stopped', g)
        self.assertTrue(wait_pid_gone(pid, 5), 'QEMU still alive after the guest powered off')
        le = g.get('last_exit')
        self.assertIsInstance(le, dict, g)
        self.assertEqual(le.get('status'), 'stopped', le)
        self.assertEqual(le.get('exit_code'), 0, le)
        self.assertIsNone(le.get('signal'), le)
        self.assertFalse(g.get('pid'))
        self.assertNotIn('warn: vm %s: QMP closed' % vid, self.daemon.stderr_tail(400))

    def test_guest_powers_itself_off(self):
        vm = self.new_vm(name='self-poweroff', **small_vm('poweroff'))
        vid = vm['id']
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vid, timeout=60)
        self.assertEqual(st, 200, js)
        # The guest may already be gone by the time start answers.
        self.assertIn(js.get('state'), ('running', 'shutting-down', 'stopped'), js)
        g = self.daemon.wait_state(vid, ('stopped', 'crashed'), timeout=20)
        self.assertEqual(g['state'], 'stopped', g)
        le = g.get('last_exit')
        self.assertIsInstance(le, dict, g)
        self.assertEqual(le.get('status'), 'stopped', le)
        self.assertEqual(le.get('exit_code'), 0, le)
        self.assertIsNone(le.get('signal'), le)
        self.assertIsInstance(le.get('at'), int, le)
        self.assertLess(abs(le['at'] - time.time()), 60, le)
        if js.get('pid'):
            self.assertTrue(wait_pid_gone(js['pid'], 5))
        # It can be started again (and powers off again).
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vid, timeout=60)
        self.assertEqual(st, 200, js)
        self.assertEqual(self.daemon.wait_state(vid, ('stopped', 'crashed'), timeout=20)['state'], 'stopped')

    def test_invalid_transitions(self):
        vm = self.new_vm(name='transitions', **small_vm())
        vid = vm['id']
        for action in ('pause', 'resume', 'reset', 'shutdown'):
            self.assertError(self.api('POST', '/api/v1/vms/%s/%s' % (vid, action)), 409, 'invalid_state',
                             'stopped', msg='%s of a stopped VM' % action)
        self.assertError(self.api('GET', '/api/v1/vms/%s/screenshot' % vid), 409, 'invalid_state', 'stopped',
                         msg='screenshot of a stopped VM')
        self.assertEqual(self.daemon.vm(vid)['state'], 'stopped')

        pid = self.start(vid)['pid']
        self.assertError(self.api('POST', '/api/v1/vms/%s/start' % vid), 409, 'invalid_state', 'running',
                         msg='start of a running VM')
        self.assertError(self.api('DELETE', '/api/v1/vms/%s' % vid), 409, 'invalid_state', 'running',
                         msg='delete of a running VM')
        self.assertError(self.api('PATCH', '/api/v1/vms/%s' % vid, body={'memory_mib': 256}), 409,
                         'invalid_state', 'running', msg='patch memory of a running VM')
        self.assertError(self.api('PATCH', '/api/v1/vms/%s' % vid, body={'cpus': 2}), 409,
                         'invalid_state', 'running', msg='patch cpus of a running VM')
        g = self.daemon.vm(vid)
        self.assertEqual((g['state'], g['pid'], g['memory_mib'], g['cpus']), ('running', pid, 128, 1))
        self.assertTrue(os.path.isdir(os.path.join(self.data_dir, 'vms', vid)))
        # The name may change while it runs.
        st, js, _ = self.api('PATCH', '/api/v1/vms/%s' % vid, body={'name': 'renamed-while-running'})
        self.assertEqual(st, 200, js)
        self.assertEqual(js['name'], 'renamed-while-running')
        self.assertEqual(js['state'], 'running')
        self.assertTrue(pid_alive(pid))
        # So may the RDP console's settings (read by new console sessions only).
        st, js, _ = self.api('PATCH', '/api/v1/vms/%s' % vid,
                             body={'rdp': {'username': 'me', 'password': 'pw'}})
        self.assertEqual(st, 200, js)
        self.assertEqual((js['rdp']['username'], js['rdp']['password_set']), ('me', True), js)
        self.assertNotIn('password', js['rdp'])
        self.assertEqual(js['pid'], pid)
        # Not together with a field that needs the VM stopped.
        self.assertError(self.api('PATCH', '/api/v1/vms/%s' % vid, body={'rdp': {'username': 'x'}, 'cpus': 2}),
                         409, 'invalid_state', 'running', msg='patch rdp+cpus of a running VM')
        self.assertEqual(self.daemon.vm(vid)['rdp']['username'], 'me')

        self.post(vid, 'pause')
        self.assertError(self.api('POST', '/api/v1/vms/%s/pause' % vid), 409, 'invalid_state', 'paused',
                         msg='pause of a paused VM')
        self.assertError(self.api('POST', '/api/v1/vms/%s/start' % vid), 409, 'invalid_state', 'paused',
                         msg='start of a paused VM')
        self.assertError(self.api('DELETE', '/api/v1/vms/%s' % vid), 409, 'invalid_state', 'paused',
                         msg='delete of a paused VM')
        self.assertEqual(self.post(vid, 'kill')['state'], 'stopped')
        self.assertTrue(wait_pid_gone(pid, 5))

    def test_crash_on_sigkill(self):
        vm = self.new_vm(name='crashy', **small_vm())
        vid = vm['id']
        pid = self.start(vid)['pid']
        self.daemon.wait_real_frame(vid, 30, accept=shows_guest_text)
        t = time.time()
        os.kill(pid, signal.SIGKILL)
        g = self.daemon.wait_state(vid, 'crashed', timeout=2.0, interval=0.05)
        self.assertLess(time.time() - t, 2.5)
        le = g.get('last_exit')
        self.assertIsInstance(le, dict, g)
        self.assertEqual(le.get('status'), 'crashed', le)
        self.assertEqual(le.get('signal'), 9, le)
        self.assertEqual(le.get('signal_name'), 'SIGKILL', le)
        self.assertIsNone(le.get('exit_code'), le)
        self.assertIsInstance(le.get('log_tail'), list, le)
        self.assertTrue(le['log_tail'], 'log_tail is empty: %r' % le)
        self.assertTrue(all(isinstance(x, str) for x in le['log_tail']), le)
        self.assertLessEqual(len(le['log_tail']), 50, le)
        self.assertFalse(g.get('pid'), g)
        self.assertListed(vid)
        self.assertEqual(self.daemon.host_info()['limits']['committed_mib'], 0)
        # A crashed VM can be configured and started again.
        self.daemon.ok('PATCH', '/api/v1/vms/' + vid, body={'memory_mib': 160})
        self.assertListed(vid)
        js = self.start(vid)
        self.assertEqual(js['memory_mib'], 160)
        self.assertEqual(self.post(vid, 'kill')['state'], 'stopped')
        # The crash stays on record until the next exit replaces it.
        self.assertEqual(self.daemon.vm(vid)['last_exit'].get('status'), 'stopped')
        self.assertListed(vid)

    def test_cmdline_and_log(self):
        host = self.daemon.host_info()
        for arch, mem in (('aarch64', 256), ('x86_64', 128)):
            vm = self.new_vm(name='cmdline-' + arch, arch=arch, memory_mib=mem, cpus=1, disks=[])
            st, js, _ = self.api('GET', '/api/v1/vms/%s/cmdline' % vm['id'])
            self.assertEqual(st, 200, js)
            self.assertIs(js.get('running'), False, js)
            argv = js.get('argv')
            self.assertIsInstance(argv, list, js)
            self.assertTrue(all(isinstance(a, str) for a in argv), argv)
            self.assertEqual(argv[0], host['arches'][arch]['binary'])
            pairs = list(zip(argv, argv[1:]))
            accel = host['arches'][arch]['accelerator']
            if accel == 'tcg':
                self.assertIn(('-accel', 'tcg,thread=multi'), pairs, argv)
                self.assertNotIn(('-cpu', 'host'), pairs, argv)
                self.assertFalse([a for a in argv if a.startswith('kvm') or 'accel=kvm' in a], argv)
            else:
                self.assertTrue([b for a, b in pairs if a == '-accel' and b.startswith('kvm')], argv)
            self.assertIn(('-display', 'none'), pairs, argv)
            vnc = [b for a, b in pairs if a == '-vnc']
            self.assertEqual(len(vnc), 1, argv)
            self.assertTrue(vnc[0].startswith('unix:'), vnc)
            self.assertIn(os.path.join(self.data_dir, 'vms', vm['id']), vnc[0])
            self.assertTrue([b for a, b in pairs if a == '-m' and re.match(r'^(size=)?%d[Mm]?\b' % mem, b)], argv)
            self.assertNotIn('tcp:', ' '.join(b for a, b in pairs if a in ('-vnc', '-qmp', '-chardev')), argv)

        # The running form is exactly what the process runs. (x86_64 VM from the loop.)
        vid = vm['id']
        before = argv
        js = self.start(vid)
        pid = js['pid']
        st, cl, _ = self.api('GET', '/api/v1/vms/%s/cmdline' % vid)
        self.assertEqual(st, 200, cl)
        self.assertIs(cl.get('running'), True, cl)
        self.assertEqual(cl['argv'], proc_cmdline(pid))
        self.assertEqual(cl['argv'], before, 'the argv QEMU runs differs from the one announced')

        st, text, h = self.api('GET', '/api/v1/vms/%s/log' % vid)
        self.assertEqual(st, 200, text)
        self.assertTrue(h.get('content-type', '').startswith('text/plain'), h)
        self.assertIsInstance(text, bytes)
        lines = text.decode().splitlines()
        self.assertTrue(lines, 'empty log')
        self.assertTrue([ln for ln in lines if re.search(r'jit', ln, re.I)],
                        'the log does not mention the JIT grant:\n' + text.decode()[-2000:])
        st, one, _ = self.api('GET', '/api/v1/vms/%s/log?tail=1' % vid)
        self.assertEqual(st, 200, one)
        self.assertEqual(len(one.decode().splitlines()), 1, one)
        self.assertEqual(one.decode().splitlines()[0], lines[-1])
        self.assertEqual(self.post(vid, 'kill')['state'], 'stopped')
        st, after, _ = self.api('GET', '/api/v1/vms/%s/cmdline' % vid)
        self.assertIs(after.get('running'), False, after)

    def test_port_forward_loopback_only(self):
        vm = self.new_vm(name='forward', **small_vm(network={
            'mode': 'user', 'nic': 'e1000e', 'forwards': [{'proto': 'tcp', 'host_port': 0, 'guest_port': 3389}]}))
        self.assertEqual(vm['network']['forwards'], [{'proto': 'tcp', 'host_port': 0, 'guest_port': 3389}])
        js = self.start(vm['id'])
        fa = js.get('forwards_active')
        self.assertIsInstance(fa, list, js)
        self.assertEqual(len(fa), 1, fa)
        self.assertEqual((fa[0].get('proto'), fa[0].get('guest_port')), ('tcp', 3389), fa)
        port = fa[0].get('host_port')
        self.assertIsInstance(port, int, fa)
        self.assertTrue(0 < port < 65536, fa)
        # QEMU listens on 127.0.0.1:PORT and nowhere else.
        listening = set()
        for table in ('/proc/net/tcp', '/proc/net/tcp6'):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        local, st = line.split()[1], line.split()[3]
                        addr, p = local.split(':')
                        if st == '0A' and int(p, 16) == port:
                            listening.add(addr)
            except OSError:
                pass
        self.assertEqual(listening, {'0100007F'}, 'port %d listens on %s' % (port, listening))
        s = socket.create_connection(('127.0.0.1', port), timeout=5)
        s.close()
        self.assertEqual(self.post(vm['id'], 'kill')['state'], 'stopped')
        self.assertFalse(self.daemon.vm(vm['id']).get('forwards_active'))
