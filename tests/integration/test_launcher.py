# SPDX-License-Identifier: GPL-2.0-or-later
"""The launcher seam (server/launch/launch.h) seen from the API: `--launcher child` runs every
child process as a LIB.so:Function in a native child (qemu-hmos-child standing in for HarmonyOS's
system start); a program without a library entry is refused with a clear error, nothing half-run.
With our QEMU 10 libraries (qemu-build/) the same tests boot guests through it (test_qemu_build)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

from harness import MEMTEST_ISO, Daemon, DaemonTestCase, daemon_path

HERE = os.path.dirname(os.path.abspath(__file__))


class ExecLauncherTest(DaemonTestCase):
    def test_default_is_exec(self):
        self.assertEqual(self.daemon.ok('GET', '/api/v1/host')['launcher'], 'exec')


class ChildLauncherTest(DaemonTestCase):
    daemon_args = ['--launcher', 'child']

    def test_host_says_child(self):
        self.assertEqual(self.daemon.ok('GET', '/api/v1/host')['launcher'], 'child')

    def test_program_without_library_is_refused(self):
        """Debian's QEMU is a program, not a library: it fails the start-up check (it cannot be
        started as a native child), so its VMs' start is refused with the reason and the VM stays
        stopped (nothing left running); /host says why."""
        vm = self.daemon.create(name='child-launcher', arch='x86_64', memory_mib=64, cpus=1, disks=[],
                                cdrom=MEMTEST_ISO)
        try:
            st, body, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'])
            self.assertEqual((st, body['error']['code']), (409, 'unavailable'), body)
            self.assertIn('failed its start-up check', body['error']['message'])
            self.assertIn('under the child launcher', body['error']['message'])
            self.assertIn('no library entry', body['error']['message'])
            self.assertEqual(self.daemon.ok('GET', '/api/v1/vms/%s' % vm['id'])['state'], 'stopped')
            x86 = self.daemon.ok('GET', '/api/v1/host')['arches']['x86_64']
            self.assertIs(x86['available'], False, x86)
            self.assertIn('no library entry', x86['reason'])
        finally:
            self.daemon.ok('DELETE', '/api/v1/vms/%s' % vm['id'])

    def test_kvm_probe_says_why(self):
        arches = self.daemon.ok('GET', '/api/v1/host')['arches']
        self.assertFalse(any(a.get('kvm') for a in arches.values()), arches)


class LauncherOptionTest(DaemonTestCase):
    def test_unknown_launcher_is_a_usage_error(self):
        tmp = tempfile.mkdtemp(prefix='qhm-launcher-')
        try:
            p = subprocess.run([self.daemon.binary, 'serve', '--data-dir', tmp, '--port', '0', '--ws-port', '0',
                                '--launcher', 'spawn'], capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn('neither exec nor child', p.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, 'run', 'endpoint.json')))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class RdpUnderChildLauncherTest(unittest.TestCase):
    """The RDP worker as a library entry (libqemu-hmos-rdp.so:qhm_rdp_main) in a native child:
    test_rdp's session tests (ticket, first frame, colours, keys, malformed input, binary frames, a
    garbage server) run again with every daemon under --launcher child, whose files come from a
    --child-dir holding only the loader and the libraries, as an app ships them: no qemu-hmos-rdp
    program there, nor next to the daemon (a copy of it in a folder of its own)."""

    # test_rdp's session tests that do not time input against the display (mouse and pacing are
    # timing checks: they run in test_rdp itself)
    TESTS = ('test_01_', 'test_02_', 'test_03_', 'test_05_', 'test_07_', 'test_08_', 'test_09_')

    def test_rdp_sessions_through_the_child_launcher(self):
        build = os.path.dirname(os.path.abspath(daemon_path()))
        tmp = tempfile.mkdtemp(prefix='qhm-childdir-')
        self.addCleanup(shutil.rmtree, tmp, True)
        libs, bindir = os.path.join(tmp, 'libs'), os.path.join(tmp, 'bin')
        os.makedirs(libs)
        os.makedirs(bindir)
        for f in ('qemu-hmos-child', 'libqemu_child.so', 'libqemu-hmos-rdp.so'):
            os.symlink(os.path.join(build, f), os.path.join(libs, f))
        daemon = shutil.copy2(daemon_path(), os.path.join(bindir, 'qemu-hmos'))
        for d in (tmp, libs, bindir):
            os.chmod(d, 0o755)
        self.assertFalse(any(os.path.exists(os.path.join(d, 'qemu-hmos-rdp')) for d in (libs, bindir)))
        env = dict(os.environ, QHM_DAEMON_ARGS='--launcher child --child-dir ' + libs)
        passed = 0
        for k in self.TESTS:
            p = subprocess.run([sys.executable, os.path.join(HERE, 'run.py'), '--daemon', daemon, '--module',
                                'test_rdp', '-k', 'RDPTest.' + k], env=env, capture_output=True, text=True,
                               timeout=300)
            m = re.search(r'^integration: (\d+) passed, (\d+) failed$', p.stdout, re.M)
            self.assertIsNotNone(m, p.stdout[-3000:] + p.stderr[-2000:])
            if '# SKIP' in p.stdout:
                self.skipTest('test_rdp skipped here: ' + p.stdout[-500:])
            self.assertEqual((int(m.group(1)), int(m.group(2))), (1, 0), p.stdout[-6000:])
            passed += 1
        self.assertEqual(passed, len(self.TESTS))


class BuiltQemuChildLauncherTest(unittest.TestCase):
    """Our QEMU 10 (qemu-build/, `make qemu`) as libraries in native children, driven by the daemon
    (`serve --qemu built --launcher child`): the HarmonyOS shape end to end. A memtest86+ VM runs
    (QMP answers, the screenshot shows a real frame), a `kill -9` of its process is recorded as
    crashed with SIGKILL, and after a `kill -9` of the daemon it is reattached and Force stop ends
    it. Skipped without the build."""

    def setUp(self):
        from test_qemu_build import cache_dir
        if not os.path.exists(os.path.join(cache_dir(), 'manifest.json')):
            self.skipTest('no QEMU build in %s (make qemu builds it)' % cache_dir())
        self.d = Daemon(extra_args=['--qemu', 'built', '--launcher', 'child'],
                        allow_paths=['/usr/lib/memtest86+'])
        self.d.start()
        self.addCleanup(self.d.teardown)

    def test_memtest_through_the_child_launcher(self):
        d = self.d
        host = d.ok('GET', '/api/v1/host')
        self.assertEqual((host['launcher'], host['qemu']['source'], host['qemu']['variant']), ('child', 'built', 'tcg'))
        self.assertTrue(host['qemu']['version'].startswith('10.'), host['qemu'])
        vid = d.create(name='q10', arch='x86_64', memory_mib=64, cpus=1, disks=[], cdrom=MEMTEST_ISO)['id']
        d.action(vid, 'start')
        d.wait_state(vid, 'running', timeout=30)
        vm = d.ok('GET', '/api/v1/vms/%s' % vid)
        pid = vm['pid']
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmd = f.read().split(b'\0')
        self.assertTrue(cmd[0].endswith(b'/qemu-hmos-child'), cmd[:3])
        self.assertIn(b'libqemu_child.so', cmd[1])
        # the screen, as QEMU 10 draws it through the library (memtest's own text, not a placeholder)
        img = d.wait_real_frame(vid, 30)
        self.assertGreater(img.width, 0)
        # kill -9 of the VM's process (the daemon's own child): crashed, with the signal
        os.kill(pid, signal.SIGKILL)
        d.wait_state(vid, 'crashed', timeout=30)
        last = d.ok('GET', '/api/v1/vms/%s' % vid)['last_exit']
        self.assertEqual(last['signal'], signal.SIGKILL, last)
        # kill -9 of the daemon: the VM keeps running and the next daemon reattaches it
        d.action(vid, 'start')
        d.wait_state(vid, 'running', timeout=30)
        pid = d.ok('GET', '/api/v1/vms/%s' % vid)['pid']
        d.kill9()
        os.kill(pid, 0)
        d.start()
        d.wait_state(vid, 'running', timeout=30)
        self.assertEqual(d.ok('GET', '/api/v1/vms/%s' % vid)['pid'], pid)
        d.action(vid, 'kill')
        d.wait_state(vid, 'stopped', timeout=30)
