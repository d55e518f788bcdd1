# SPDX-License-Identifier: GPL-2.0-or-later
"""Least privilege: a daemon run as root starts QEMU, swtpm and the RDP worker as the unprivileged
user qemu-hmos (server/priv.h; --run-as), QEMU inside its seccomp sandbox (/proc/PID/status:
`Uid:` that user, `Seccomp: 2`, no capabilities); a file that user cannot read makes a start fail
with its path; a missing user or an unreachable data directory stops `serve` with the reason;
`--run-as` is refused without root. Run as another user the daemon drops nothing, so those tests
are skipped. Shared folders are mapped-xattr unless under a --share-passthrough root (any user)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import wsclient
from harness import (MEMTEST_ISO, VM_USER, Daemon, DaemonTestCase, daemon_path, proc_cmdline, qemu_pids,
                     vm_user_ids)

NEEDS_ROOT = 'the test is not root: only a daemon run as root drops privileges'


def status(pid):
    """/proc/PID/status as {key: value}."""
    with open('/proc/%d/status' % pid) as f:
        return dict(line.rstrip('\n').split(':\t', 1) for line in f if ':\t' in line)


def pids_named(base, marker=None, ppid=None):
    """Live processes whose argv[0] ends in BASE, with MARKER in their argv / parent PPID."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        argv = proc_cmdline(int(d)) or []
        if not argv or os.path.basename(argv[0]) != base or (marker and not any(marker in a for a in argv)):
            continue
        try:
            st = status(int(d))
        except OSError:
            continue
        if st.get('State', 'Z').startswith('Z') or (ppid and int(st['PPid']) != ppid):
            continue
        out.append(int(d))
    return out


def wait_for(what, fn, timeout=15.0):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.1)


class SilentServer:
    """A TCP "RDP server" that accepts and never says a word: the worker waits on it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


class PrivilegeTest(DaemonTestCase):
    def root_only(self):
        if os.geteuid() != 0:
            self.skipTest(NEEDS_ROOT)
        self.uid, self.gid = vm_user_ids()

    def owner(self, *rel):
        st = os.lstat(os.path.join(self.data_dir, *rel))
        return st.st_uid, st.st_gid

    def assert_unprivileged(self, pid, what):
        st = status(pid)
        self.assertEqual([int(x) for x in st['Uid'].split()], [self.uid] * 4, '%s: %r' % (what, st['Uid']))
        self.assertEqual([int(x) for x in st['Gid'].split()], [self.gid] * 4, '%s: %r' % (what, st['Gid']))
        self.assertNotIn('0', st.get('Groups', '').split(), '%s: supplementary groups %r' % (what, st['Groups']))
        self.assertEqual(int(st['CapEff'], 16), 0, '%s: capabilities %s' % (what, st['CapEff']))
        return st

    def test_qemu_runs_unprivileged_in_its_sandbox(self):
        self.root_only()
        vm = self.new_vm(memory_mib=128, cpus=1, disks=[{'size_gib': 1}], cdrom=MEMTEST_ISO)
        vid = vm['id']
        js = self.daemon.action(vid, 'start')
        self.assertEqual(qemu_pids(self.data_dir), [js['pid']])
        st = self.assert_unprivileged(js['pid'], 'QEMU')
        self.assertEqual(st['Seccomp'].strip(), '2', 'QEMU is not in a seccomp filter')
        argv = proc_cmdline(js['pid'])
        self.assertEqual(argv[argv.index('-sandbox') + 1],
                         'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny')
        self.assertNotIn('-runas', argv)
        # What it writes is its own; its log and the directories above stay the daemon's.
        self.assertEqual(self.owner('vms', vid, 'disk0.qcow2'), (self.uid, self.gid))
        self.assertEqual(self.owner('vms', vid, 'run'), (self.uid, self.gid))
        self.assertEqual(self.owner('vms', vid, 'run', 'vnc.sock')[0], self.uid)
        self.assertEqual(self.owner('vms', vid, 'logs', 'qemu.log'), (0, 0))
        qmp = os.lstat(os.path.join(self.data_dir, 'vms', vid, 'run', 'qmp.sock'))  # bound by the daemon
        self.assertEqual((qmp.st_uid, qmp.st_mode & 0o777), (0, 0o600))
        for rel in ((), ('vms',), ('vms', vid)):
            st = os.stat(os.path.join(self.data_dir, *rel))
            self.assertEqual((st.st_uid, st.st_mode & 0o7777), (0, 0o711), rel)
        # The daemon still reads what QEMU writes (a screendump) and talks to its sockets.
        self.daemon.wait_real_frame(vid, 60)
        self.assertEqual(self.daemon.action(vid, 'pause')['state'], 'paused')
        self.daemon.action(vid, 'kill')

    def test_swtpm_runs_unprivileged(self):
        self.root_only()
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], firmware='uefi', tpm=True)
        vid = vm['id']
        js = self.daemon.action(vid, 'start')
        self.assert_unprivileged(js['pid'], 'QEMU')
        pids = pids_named('swtpm', marker=vid)
        self.assertEqual(len(pids), 1, pids)
        self.assert_unprivileged(pids[0], 'swtpm')
        self.assertEqual(self.owner('vms', vid, 'efivars.qcow2'), (self.uid, self.gid))
        self.assertEqual(self.owner('vms', vid, 'tpm'), (self.uid, self.gid))
        self.assertEqual(self.owner('vms', vid, 'logs', 'swtpm.log'), (self.uid, self.gid))
        wait_for('swtpm to write its state', lambda: os.listdir(os.path.join(self.data_dir, 'vms', vid, 'tpm')))
        self.daemon.action(vid, 'kill')

    def test_swtpm_left_waiting_is_stopped(self):
        """swtpm is started first; when QEMU then cannot start (here: the UEFI variable template is
        a directory), the daemon stops the swtpm by its pidfile, which that user wrote."""
        fw = tempfile.mkdtemp(prefix='qhm-ovmf-')
        self.addCleanup(shutil.rmtree, fw, True)
        os.chmod(fw, 0o755)
        for name in ('OVMF_CODE_4M.fd', 'OVMF_CODE_4M.ms.fd', 'OVMF_VARS_4M.ms.fd'):
            os.symlink('/usr/share/OVMF/' + name, os.path.join(fw, name))
        os.mkdir(os.path.join(fw, 'OVMF_VARS_4M.fd'))
        d = Daemon(env={'QHM_OVMF_DIR': fw})
        self.addCleanup(d.teardown)
        d.start()
        vm = d.create(name='tpm-left', memory_mib=256, cpus=1, disks=[], firmware='uefi', tpm=True)
        self.addCleanup(lambda: [os.kill(p, signal.SIGKILL) for p in pids_named('swtpm', marker=vm['id'])])
        st, js, _ = d.api('POST', '/api/v1/vms/%s/start' % vm['id'])
        self.assertEqual(st, 500, js)
        self.assertIn('UEFI variables', js['error']['message'])
        wait_for('the waiting swtpm to be stopped', lambda: not pids_named('swtpm', marker=vm['id']), 5)

    def test_rdp_worker_runs_unprivileged(self):
        self.root_only()
        if not os.access(os.path.join(os.path.dirname(daemon_path()), 'qemu-hmos-rdp'), os.X_OK):
            self.skipTest('qemu-hmos-rdp is not built (freerdp2-dev missing)')
        server = SilentServer()
        self.addCleanup(server.close)
        vm = self.new_vm(memory_mib=128, disks=[], rdp={'host': '127.0.0.1', 'port': server.port})
        t = self.daemon.ok('POST', '/api/v1/vms/%s/console' % vm['id'], body={'protocol': 'rdp'})
        ws = wsclient.connect(t['url'] + '&width=1024&height=768&dpi=96', protocols=['guacamole'], timeout=10)
        try:
            pids = wait_for('the RDP worker', lambda: pids_named('qemu-hmos-rdp', ppid=self.daemon.proc.pid))
            self.assert_unprivileged(pids[0], 'the RDP worker')
            self.assertEqual(self.owner('run', 'freerdp'), (self.uid, self.gid))
            wait_for('the worker to connect', lambda: server.conns)
        finally:
            ws.close()

    def test_unreadable_iso_fails_the_start_with_its_path(self):
        self.root_only()
        secret = tempfile.mkdtemp(prefix='secret-', dir=os.path.join(self.data_dir, 'shared'))  # 0700, root's
        iso = os.path.join(secret, 'private.iso')
        shutil.copy(MEMTEST_ISO, iso)
        os.chmod(iso, 0o600)
        vm = self.new_vm(memory_mib=128, cpus=1, disks=[], cdrom=iso)
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=30)
        self.assertError((st, js, _), 400, 'invalid_field', 'cdrom')
        msg = js['error']['message']
        self.assertIn(iso, msg)
        self.assertIn(VM_USER, msg)
        self.assertEqual(qemu_pids(vm['id']), [], 'QEMU was started')
        self.assertEqual(self.daemon.vm(vm['id'])['state'], 'stopped')
        # Readable through its directory as well: the start goes ahead.
        os.chmod(iso, 0o644)
        self.assertError(self.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=30), 400, 'invalid_field',
                         'cdrom')
        os.chmod(secret, 0o711)
        self.assertEqual(self.daemon.action(vm['id'], 'start')['state'], 'running')
        self.daemon.action(vm['id'], 'kill')

    def serve(self, *args, user=None):
        """Run `qemu-hmos serve ARGS` (as USER: (uid, gid)) until it exits; (status, stderr)."""
        argv = [daemon_path(), 'serve', '--port', '0', '--ws-port', '0'] + list(args)
        kw = dict(user=user[0], group=user[1], extra_groups=[]) if user else {}
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True, **kw)
        try:
            out, _ = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            self.fail('serve %r did not exit: %s' % (args, out))
        return p.returncode, out

    def test_serve_stops_without_its_user_or_a_reachable_data_dir(self):
        self.root_only()
        tmp = tempfile.mkdtemp(prefix='qhm-priv-')  # 0700
        self.addCleanup(shutil.rmtree, tmp, True)
        data = os.path.join(tmp, 'data')
        rc, out = self.serve('--data-dir', data, '--run-as', 'qhm-no-such-user')
        self.assertNotEqual(rc, 0, out)
        self.assertIn("user 'qhm-no-such-user' does not exist", out)
        self.assertIn('useradd --system', out)
        self.assertIn('scripts/install-deps.sh', out)
        self.assertFalse(os.path.exists(os.path.join(data, 'run', 'endpoint.json')))
        # The default user, but a data directory it cannot reach: the directory and its mode.
        rc, out = self.serve('--data-dir', data)
        self.assertNotEqual(rc, 0, out)
        self.assertIn('%s is mode 0700' % tmp, out)
        self.assertIn(VM_USER, out)
        self.assertFalse(os.path.exists(os.path.join(data, 'run', 'endpoint.json')))

    def test_run_as_needs_root(self):
        self.root_only()
        tmp = tempfile.mkdtemp(prefix='qhm-priv-')
        self.addCleanup(shutil.rmtree, tmp, True)
        os.chown(tmp, self.uid, self.gid)
        rc, out = self.serve('--data-dir', os.path.join(tmp, 'data'), '--run-as', VM_USER,
                             user=(self.uid, self.gid))
        self.assertNotEqual(rc, 0, out)
        self.assertIn('--run-as needs the daemon to run as root', out)


class SharePassthroughTest(DaemonTestCase):
    """--share-passthrough DIR: shared folders under DIR keep the host's owners and modes
    (security_model=none); every other one is mapped-xattr. Any user."""

    def test_passthrough_only_under_its_root(self):
        root = tempfile.mkdtemp(prefix='qhm-passthrough-')
        self.addCleanup(shutil.rmtree, root, True)
        os.makedirs(os.path.join(root, 'music'))
        other = tempfile.mkdtemp(prefix='mapped-', dir=os.path.join(self.data_dir, 'shared'))
        d = Daemon(extra_args=['--share-passthrough', root])
        self.addCleanup(d.teardown)
        d.start()
        vm = d.create(name='passthrough', memory_mib=128, disks=[],
                      shared_folders=[{'path': os.path.join(root, 'music'), 'tag': 'music'},
                                      {'path': root, 'tag': 'all', 'readonly': True},
                                      {'path': other, 'tag': 'other'}])
        argv = d.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        fsdev = [a for a in argv if a.startswith('local,id=fs')]
        self.assertEqual(fsdev, ['local,id=fs0,path=%s/music,security_model=none' % root,
                                 'local,id=fs1,path=%s,security_model=none,readonly=on' % root,
                                 'local,id=fs2,path=%s,security_model=mapped-xattr' % other])
        # Without the option the same folders are mapped.
        vm = self.new_vm(memory_mib=128, disks=[], shared_folders=[{'path': other, 'tag': 'other'}])
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        self.assertIn('local,id=fs0,path=%s,security_model=mapped-xattr' % other, argv)
        # A root that is not a directory stops the daemon.
        bad = Daemon(extra_args=['--share-passthrough', os.path.join(root, 'missing')])
        self.addCleanup(bad.teardown)
        with self.assertRaises(RuntimeError) as cm:
            bad.start()
        self.assertIn('--share-passthrough', str(cm.exception))
