# SPDX-License-Identifier: GPL-2.0-or-later
"""The launcher seam (server/launch/launch.h) seen from the API: `--launcher child` runs every
child process as a LIB.so:Function in a native child (qemu-hmos-child standing in for HarmonyOS's
system start); a program without a library entry is refused with a clear error, nothing half-run.
With our QEMU 10 libraries (qemu-build/, JIT and TCI builds) real guests run through it: memtest86+,
GRUB, AAVMF, the Linux test guest with shared folders and its agent, snapshots with memory."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import linuxguest
from harness import (GRUB_RESCUE_ISO, MEMTEST_ISO, MEMTEST_WITH_DISK, Daemon, DaemonTestCase, GuestShares,
                     assert_agent_answers, daemon_path, needs_qemu_build, no_qemu_build_reason, proc_cmdline, qemu_pids, same_pixels,
                     shows_grub_menu)

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

    def test_virtiofs_unavailable(self):
        """virtiofsd is a program: under the child launcher (HarmonyOS's shape) virtiofs shares are
        refused with the reason; 9p ones are fine."""
        vfs = self.daemon.ok('GET', '/api/v1/host')['virtiofs']
        self.assertIs(vfs['available'], False, vfs)
        st, body, _ = self.api('POST', '/api/v1/vms', body={
            'name': 'vfs', 'memory_mib': 64, 'disks': [],
            'shared_folders': [{'path': '/tmp', 'tag': 't', 'mode': 'virtiofs'}]})
        self.assertEqual((st, body['error']['code']), (400, 'invalid_field'), body)
        self.assertIn('under the child launcher', body['error']['message'])
        self.assertTrue(body['error']['message'].startswith('shared_folders[0].mode: '), body)

    def test_unattend_unavailable(self):
        """xorriso is a program too: no Windows answer CD under the child launcher; a VM that has one
        does not start, saying why."""
        un = self.daemon.ok('GET', '/api/v1/host')['unattend']
        self.assertIs(un['available'], False, un)
        st, vm, _ = self.api('POST', '/api/v1/vms', body={'name': 'win', 'memory_mib': 64, 'disks': [],
                                                         'unattend': {'user': 'a', 'password': 'b'}})
        self.assertEqual(st, 201, vm)
        st, body, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'])
        self.assertEqual((st, body['error']['code']), (409, 'unavailable'), body)
        self.daemon.ok('DELETE', '/api/v1/vms/%s' % vm['id'])

    def test_guest_tools_unavailable(self):
        """The tools CD is xorriso's too: unavailable under the child launcher, a VM with it does not
        start, saying why; the script itself is still served."""
        gt = self.daemon.ok('GET', '/api/v1/host')['guest_tools']
        self.assertIs(gt['available'], False, gt)
        vm = self.daemon.ok('POST', '/api/v1/vms', body={'name': 'tools', 'memory_mib': 64, 'disks': [],
                                                         'guest_tools': True}, expect=201)
        st, body, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'])
        self.assertEqual((st, body['error']['code']), (409, 'unavailable'), body)
        st, _, _ = self.api('GET', '/api/v1/guest-tools/linux.sh')
        self.assertEqual(st, 200)
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


@needs_qemu_build
class BuiltQemuChild(unittest.TestCase):
    """A daemon of each test running our QEMU 10 (qemu-build/, `make qemu`) as libraries in native
    children (`serve --qemu QEMU --launcher child`): the HarmonyOS shape end to end. Skipped only
    without a build in the cache."""

    qemu = 'built'
    tail = ''

    def setUp(self):
        why = no_qemu_build_reason()
        if why:
            self.skipTest(why)
        self.d = Daemon(extra_args=['--qemu', self.qemu, '--launcher', 'child'])
        self.d.start()
        self.addCleanup(self.d.teardown)
        self.addCleanup(self.keep_tail)  # first: before the data dir goes
        self.host = self.d.host_info()
        variant = self.qemu.partition(':')[2] or 'tcg'
        self.assertEqual((self.host['launcher'], self.host['qemu']['source'], self.host['qemu']['variant']),
                         ('child', 'built', variant))
        self.assertTrue(self.host['qemu']['version'].startswith('10.'), self.host['qemu'])
        with open(self.host['qemu']['manifest']) as f:
            self.libraries = json.load(f)['variants'][variant]['libraries']

    def keep_tail(self):
        """What diagnostics() shows after a failure: the daemon's stderr and each VM's QEMU log."""
        out = [self.d.stderr_tail(40)]
        try:
            for vm in self.d.ok('GET', '/api/v1/vms', timeout=10).get('vms', []):
                _, log, _ = self.d.api('GET', '/api/v1/vms/%s/log?tail=30' % vm['id'], timeout=10)
                out.append('VM %s (%s) log:\n%s' % (vm['id'], vm['state'], log.decode(errors='replace')
                                                     if isinstance(log, bytes) else log))
        except Exception as e:  # noqa: BLE001  (a daemon that no longer answers: its stderr says why)
            out.append('no VM logs: %s' % e)
        type(self).tail = '\n'.join(out)

    @classmethod
    def diagnostics(cls):
        return cls.tail

    def vm(self, **fields):
        """Create a VM that is killed and deleted when the test ends; its id."""
        vid = self.d.create(**fields)['id']
        self.addCleanup(self.d.dispose, vid)
        return vid

    def start_in_child(self, vid, arch='x86_64'):
        """Start VID; assert_in_child."""
        self.d.action(vid, 'start')
        return self.assert_in_child(vid, arch)

    def assert_in_child(self, vid, arch='x86_64'):
        """VID runs, its QEMU in a native child, as this variant's library for ARCH; its pid. Its
        command line is the one started (qemu-hmos-child SHIM:Main PARAMS, child.h), whole: what
        the harness's cleanup looks for (qemu_pids)."""
        pid = self.d.wait_state(vid, 'running', timeout=30)['pid']
        argv = proc_cmdline(pid) or ['']
        self.assertEqual(len(argv), 3, argv)
        self.assertTrue(argv[0].endswith('/qemu-hmos-child'), argv)
        self.assertTrue(argv[1].endswith('/libqemu_child.so:Main'), argv)
        self.assertRegex(argv[2], r'^qhm1 \d+ %s:qhm_qemu_main ' % re.escape(self.libraries[arch]))
        self.assertIn(pid, qemu_pids(self.d.data_dir))
        with open('/proc/%d/maps' % pid) as f:
            self.assertIn(self.libraries[arch], f.read())
        return pid


class BuiltQemuChildLauncherTest(BuiltQemuChild):
    """With the JIT build: memtest86+ runs (QMP answers, the screenshot shows a real frame), a
    `kill -9` of its process is recorded as crashed with SIGKILL, and after a `kill -9` of the daemon
    it is reattached and Force stop ends it; GRUB on i386, AAVMF on aarch64, the Linux test guest
    with shared folders and its guest agent, a snapshot with memory taken and restored."""

    def test_memtest_through_the_child_launcher(self):
        d = self.d
        vid = self.vm(name='q10', arch='x86_64', memory_mib=64, cpus=1, disks=[], cdrom=MEMTEST_ISO)
        pid = self.start_in_child(vid)
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

    def test_guest_tools_cd_refused_with_the_reason(self):
        """A QEMU that runs here, a tools CD that cannot be made (xorriso is a program): 409 saying so,
        not a failed helper."""
        vid = self.vm(name='tools', arch='x86_64', memory_mib=64, cpus=1, disks=[], guest_tools=True)
        st, body, _ = self.d.api('POST', '/api/v1/vms/%s/start' % vid)
        self.assertEqual((st, body['error']['code']), (409, 'unavailable'), body)
        self.assertTrue(body['error']['message'].startswith('guest_tools: the tools CD needs xorriso'), body)

    def test_grub_i386(self):
        """GRUB (grub-rescue-pc's CD) on the i386 library draws its menu."""
        vid = self.vm(name='grub32', arch='i386', memory_mib=128, cpus=1, disks=[], cdrom=GRUB_RESCUE_ISO)
        self.start_in_child(vid, 'i386')
        self.d.wait_real_frame(vid, 90, accept=shows_grub_menu)

    def test_aarch64_uefi(self):
        """AAVMF on the aarch64 library draws on the daemon's virtio-gpu-pci (neither of QEMU's
        placeholders: frame_verdict knows QEMU 10's own)."""
        vid = self.vm(name='aavmf', arch='aarch64', memory_mib=256, cpus=1, disks=[])
        self.start_in_child(vid, 'aarch64')
        self.d.wait_real_frame(vid, 120)

    def test_linux_guest_shares_and_agent(self):
        """The Linux test guest mounts both shared folders (virtio-9p), uses them, then runs qemu-ga,
        which answers GET /guest."""
        shares = GuestShares(self.d)
        kb = linuxguest.kernel_boot(shares.tmp, linuxguest.SHARE_SCRIPT + '\n' + linuxguest.AGENT_SCRIPT,
                                    modules=linuxguest.WANT + linuxguest.AGENT_MODULES,
                                    files=linuxguest.qemu_ga_files())
        vid = self.vm(name='linux', memory_mib=256, cpus=1, disks=[], kernel_boot=kb, shared_folders=shares.fields())
        self.start_in_child(vid)
        assert_agent_answers(self, self.d.wait_agent(vid, 180))
        shares.check(self)  # the script used them before it started the agent

    def test_memory_snapshot(self):
        """A snapshot with memory of paused memtest86+ (test_snapshots' judge): restored into the
        running VM, the screen is the snapshot's byte for byte; restored into the stopped VM, QEMU
        starts from it (-loadvm) on nearly the same screen."""
        d = self.d
        vid = self.vm(name='snap', **MEMTEST_WITH_DISK)
        shot = d.start_and_pause_on_frame(vid)
        before = hashlib.sha256(shot).hexdigest()
        s = d.take_snapshot(vid, 'live')
        self.assertTrue(s['memory'] and s['memory_bytes'] > 0, s)
        d.wait_screen_moves(vid, before)
        self.assertEqual(d.restore_snapshot(vid, 'live')['state'], 'paused')
        self.assertEqual(d.screenshot_hash(vid), before, "the screen after restore is not the snapshot's")
        d.action(vid, 'kill')
        self.assertEqual(d.restore_snapshot(vid, 'live')['state'], 'running')
        self.assert_in_child(vid)
        d.action(vid, 'pause')
        st, after, _ = d.screenshot(vid)
        self.assertEqual(st, 200, after)
        self.assertGreater(same_pixels(shot, after), 0.97, "the first screen after -loadvm is not the snapshot's")


class BuiltQemuTciChildLauncherTest(BuiltQemuChild):
    """With the TCG interpreter build (`--qemu built:tci`, for hosts that grant no executable
    memory): GRUB's menu on x86_64, a short boot, as the interpreter is slow."""

    qemu = 'built:tci'

    def test_grub_x86_64(self):
        vid = self.vm(name='tci', arch='x86_64', memory_mib=128, cpus=1, disks=[], cdrom=GRUB_RESCUE_ISO)
        self.start_in_child(vid)
        self.d.wait_real_frame(vid, 300, accept=shows_grub_menu)
