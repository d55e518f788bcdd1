# SPDX-License-Identifier: GPL-2.0-or-later
"""GET /api/v1/host against what this machine really has, and a concurrency sanity check."""

import os
import platform
import re
import shutil
import stat
import subprocess
import tempfile
import threading

from harness import REPO, Daemon, DaemonTestCase, kvm_probe


def meson_version():
    with open(os.path.join(REPO, 'meson.build')) as f:
        m = re.search(r"version:\s*'([^']+)'", f.read())
    return m.group(1) if m else None


def meminfo_mib(key):
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) // 1024
    return None


class HostTest(DaemonTestCase):
    def test_host_info(self):
        st, h, hdr = self.api('GET', '/api/v1/host')
        self.assertEqual(st, 200, h)
        self.assertIn('application/json', hdr.get('content-type', ''))
        self.assertIsInstance(h, dict)

        self.assertEqual(h.get('version'), meson_version())

        arches = h.get('arches')
        self.assertIsInstance(arches, dict, h)
        self.assertEqual(set(arches), {'x86_64', 'i386', 'aarch64'})
        usable, why = kvm_probe()
        for name, a in arches.items():
            self.assertIsInstance(a.get('binary'), str, a)
            self.assertTrue(os.path.isabs(a['binary']), a)
            self.assertEqual(os.path.basename(a['binary']), 'qemu-system-' + name, a)
            self.assertIs(a.get('available'), os.access(a['binary'], os.X_OK), a)
            self.assertIn(a.get('accelerator'), ('tcg', 'kvm'), a)
            self.assertIsInstance(a.get('kvm'), bool, a)
            self.assertEqual(a['accelerator'] == 'kvm', a['kvm'], a)
        # aarch64 guests on this x86_64 host always run under TCG.
        self.assertEqual(arches['aarch64']['accelerator'], 'tcg')

        kvm = h.get('kvm')
        self.assertIsInstance(kvm, dict, h)
        self.assertIsInstance(kvm.get('usable'), bool, kvm)
        self.assertIsInstance(kvm.get('reason'), str, kvm)
        self.assertTrue(kvm['reason'], 'kvm.reason must say why: %r' % kvm)
        # Our own probe (open /dev/kvm O_RDWR, KVM_GET_API_VERSION, KVM_CREATE_VM); QHM_NO_KVM
        # (set by tests/run_all.py) turns a usable KVM off, and the reason says so.
        if os.environ.get('QHM_NO_KVM'):
            self.assertFalse(kvm['usable'], kvm)
            if usable:
                self.assertIn('QHM_NO_KVM', kvm['reason'], kvm)
        else:
            self.assertEqual(kvm['usable'], usable, 'daemon says %r, probe says %r (%s)' % (kvm, usable, why))
        if not kvm['usable']:
            self.assertEqual(arches['x86_64']['accelerator'], 'tcg')
            self.assertEqual(arches['i386']['accelerator'], 'tcg')

        self.assertEqual(h.get('host_arch'), platform.machine())
        self.assertEqual(h.get('cpus'), os.cpu_count())

        total = meminfo_mib('MemTotal')
        self.assertIsInstance(h.get('memory_mib'), int, h)
        self.assertLess(abs(h['memory_mib'] - total), max(64, total // 50), (h['memory_mib'], total))
        self.assertIsInstance(h.get('memory_available_mib'), int, h)
        self.assertTrue(0 < h['memory_available_mib'] <= h['memory_mib'], h)

        sv = os.statvfs(self.data_dir)
        free_mib = sv.f_bavail * sv.f_frsize // (1 << 20)
        self.assertIsInstance(h.get('disk_free_mib'), int, h)
        self.assertLess(abs(h['disk_free_mib'] - free_mib), 1024, (h['disk_free_mib'], free_mib))
        self.assertEqual(os.path.realpath(h.get('data_dir', '')), os.path.realpath(self.data_dir))

        lim = h.get('limits')
        self.assertIsInstance(lim, dict, h)
        for k in ('max_memory_mib', 'max_cpus', 'commit_limit_mib', 'committed_mib', 'disk_reserve_mib',
                  'max_body_bytes', 'name_max_bytes', 'max_disks', 'max_disk_gib'):
            self.assertIsInstance(lim.get(k), int, '%s in %r' % (k, lim))
        self.assertEqual(lim['max_cpus'], os.cpu_count())
        self.assertLessEqual(abs(lim['commit_limit_mib'] - h['memory_mib'] * 3 // 4), 1, lim)
        self.assertEqual(lim['committed_mib'], 0)
        self.assertTrue(0 < lim['max_memory_mib'] <= h['memory_mib'], lim)
        self.assertEqual(lim['disk_reserve_mib'], 1024)
        self.assertEqual(lim['max_body_bytes'], 1 << 20)
        self.assertEqual(lim['name_max_bytes'], 64)
        self.assertEqual(lim['max_disks'], 4)
        self.assertEqual(lim['max_disk_gib'], 65536)

    def test_defaults_are_what_a_create_gets(self):
        """arches.ARCH.defaults (the wizard starts from them) are what the API gives a create without
        those fields: one source (issue 19)."""
        h = self.daemon.ok('GET', '/api/v1/host')
        for arch, a in h['arches'].items():
            if not a.get('available'):
                continue
            d = a['defaults']
            self.assertEqual(set(d), {'memory_mib', 'cpus', 'disk_gib', 'disk_interface', 'display', 'nic'}, d)
            dry = self.daemon.ok('POST', '/api/v1/vms?dry_run=true', body={'name': 'd-' + arch, 'arch': arch})
            c = dry['config']
            self.assertEqual((c['memory_mib'], c['cpus'], c['display'], c['network']['nic']),
                             (d['memory_mib'], d['cpus'], d['display'], d['nic']), arch)
            self.assertEqual((c['disks'][0]['size_gib'], c['disks'][0]['interface']),
                             (d['disk_gib'], d['disk_interface']), arch)

    def test_check_path(self):
        """POST /host/check-path: the create's path checks for one path (the wizard asks it as a path
        is typed, issue 19)."""
        iso = '/usr/lib/grub-rescue/grub-rescue-cdrom.iso'
        ok = self.daemon.ok('POST', '/api/v1/host/check-path', body={'path': iso})
        self.assertEqual(ok, {'path': os.path.realpath(iso), 'kind': 'file', 'size': os.path.getsize(iso)})
        d = self.daemon.scratch_dir('qhm-checkpath-')
        link = os.path.join(d, 'installer.iso')
        os.symlink(iso, link)
        self.assertEqual(self.daemon.ok('POST', '/api/v1/host/check-path', body={'path': link, 'kind': 'file'})['path'],
                         os.path.realpath(iso))
        self.assertEqual(self.daemon.ok('POST', '/api/v1/host/check-path', body={'path': d + '/', 'kind': 'directory'}),
                         {'path': os.path.realpath(d), 'kind': 'directory', 'size': 0})
        # What a create would refuse, with its messages.
        missing = os.path.join(d, 'missing.iso')
        st, js, _ = self.api('POST', '/api/v1/host/check-path', body={'path': missing})
        self.assertError((st, js, _), 400, 'invalid_field')
        self.assertEqual(js['error']['message'], 'path: %s: No such file or directory' % missing)
        self.assertIn('cdrom: %s: No such file or directory' % missing,
                      self.api('POST', '/api/v1/vms?dry_run=true', body={'name': 'cp', 'cdrom': missing})[1]['error']['message'])
        st, js, _ = self.api('POST', '/api/v1/host/check-path', body={'path': d})
        self.assertError((st, js, _), 400, 'invalid_field')
        self.assertIn('is not a regular file', js['error']['message'])
        st, js, _ = self.api('POST', '/api/v1/host/check-path', body={'path': iso, 'kind': 'directory'})
        self.assertIn('is not a directory', js['error']['message'])
        # Outside the allowed roots: the same answer whether the file is there or not; the data
        # directory's other files (its secrets) are outside too.
        for p in ('/etc/passwd', '/etc/qhm-no-such-file', os.path.join(self.daemon.data_dir, 'secrets'),
                  d + '/../../secrets/x'):
            st, js, _ = self.api('POST', '/api/v1/host/check-path', body={'path': p})
            self.assertError((st, js, _), 403, 'path_not_allowed', msg=p)
            self.assertNotIn('No such file', js['error']['message'])
        # Bad input.
        for body in ({}, {'path': 'relative.iso'}, {'path': 7}, {'path': '/a\nb'},
                     {'path': '/x' * 3000}, {'path': iso, 'kind': 'fifo'}, {'path': iso, 'kind': None},
                     {'path': iso, 'extra': 1}):
            self.assertError(self.api('POST', '/api/v1/host/check-path', body=body), 400, 'invalid_field', msg=repr(body)[:80])
        for raw in (b'[1]', b'{"path": "/a\\u0000b"}'):
            self.assertError(self.api('POST', '/api/v1/host/check-path', raw=raw), 400, 'malformed_json', msg=raw)
        self.assertError(self.api('GET', '/api/v1/host/check-path'), 405, 'method_not_allowed')

    def test_qemu_start_up_check(self):
        """Each QEMU answered query-version and query-machines at start: /host has what it said,
        the same as the binary says itself."""
        arches = self.daemon.ok('GET', '/api/v1/host')['arches']
        alias = {'x86_64': 'q35', 'i386': 'pc', 'aarch64': 'virt'}
        family = {'x86_64': 'pc-q35-', 'i386': 'pc-i440fx-', 'aarch64': 'virt-'}
        for name, a in arches.items():
            q = a.get('qemu')
            self.assertIsInstance(q, dict, a)
            self.assertIs(q['ok'], True, q)
            out = subprocess.run([a['binary'], '--version'], capture_output=True, text=True).stdout
            self.assertIn('version %s' % q['version'], out, (q, out))
            major, minor = (int(x) for x in q['version'].split('.')[:2])
            self.assertTrue(q['machine'].startswith(family[name]), q)
            self.assertEqual(q['machine'], '%s%d.%d' % (family[name], major, minor), q)
            self.assertIsNone(q['error'], q)
            # a VM's command line names the alias (a start from a memory snapshot names the type)
            vm = self.new_vm(name='alias-' + name, arch=name, memory_mib=128, cpus=1, disks=[])
            argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
            self.assertEqual(argv[argv.index('-machine') + 1].split(',')[0], alias[name], argv)
            # Debian's QEMU has seccomp (query-command-line-options knows -sandbox): the line has it
            self.assertIs(q['sandbox'], True, q)
            self.assertIn('-sandbox', argv)

    def test_parallel_list_requests(self):
        ids = {self.new_vm(name='par-%d' % i, disks=[], memory_mib=128, cpus=1)['id'] for i in range(3)}
        n = 20
        barrier = threading.Barrier(n)
        results = [None] * n

        def worker(i):
            try:
                barrier.wait(10)
                results[i] = self.api('GET', '/api/v1/vms', timeout=30)
            except Exception as e:  # noqa: BLE001
                results[i] = e

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for i, r in enumerate(results):
            self.assertIsInstance(r, tuple, 'request %d: %r' % (i, r))
            st, js, _ = r
            self.assertEqual(st, 200, 'request %d: %r' % (i, js))
            self.assertEqual({v['id'] for v in js['vms']}, ids, 'request %d' % i)
        self.assertAlive()


class KVMDecisionTest(DaemonTestCase):
    """The daemon's own KVM decision (its probe boots a real-mode guest under KVM), with
    QHM_NO_KVM taken away, against the harness's independent probe (SeaBIOS under KVM)."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(env={'QHM_NO_KVM': None})
        cls.data_dir = cls.daemon.data_dir
        try:
            cls.daemon.start(timeout=20)
        except Exception:
            cls.daemon.teardown()
            raise

    def test_kvm_decision(self):
        h = self.daemon.ok('GET', '/api/v1/host')
        kvm = h['kvm']
        usable, why = kvm_probe()
        self.assertEqual(kvm['usable'], usable, 'daemon says %r, independent probe: %s' % (kvm, why))
        if usable:
            self.assertIn('real-mode probe guest ran in', kvm['reason'], kvm)
            self.assertEqual(h['arches']['x86_64']['accelerator'], 'kvm', h)
        elif os.path.exists('/dev/kvm') and 'too slowly' in kvm['reason']:
            self.assertIn('SeaBIOS under KVM did not finish', why)
        if not usable:
            self.assertEqual(h['arches']['x86_64']['accelerator'], 'tcg', h)
        # Every VM log names the choice; the argv carries it.
        vm = self.daemon.create(name='accel', arch='x86_64', memory_mib=128, cpus=1, disks=[])
        self.addCleanup(self.daemon.dispose, vm['id'])
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])
        self.assertIn('kvm' if usable else 'tcg,thread=multi', ' '.join(argv['argv']), argv)


# Stand-ins for a broken QEMU, written into a QHM_QEMU_DIR: one that fails at once with QEMU's kind
# of message, one that greets with garbage and an old version, one that never answers.
FAILS = """#!/bin/sh
echo "$0: -qmp stdio: broken on purpose" >&2
exit 1
"""
OLD = """#!/bin/sh
printf '\\377\\376 not json\\n{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 6}}}}\\n'
read line
printf '{"return": {}}\\n{"return": {"qemu": {"micro": 0, "minor": 2, "major": 6}, "package": ""}, "id": "version"}\\n'
printf '{"return": [{"name": "pc-i440fx-6.2", "alias": "pc"}], "id": "machines"}\\n'
"""
SILENT = """#!/bin/sh
exec sleep 600
"""


class QemuStartUpCheckTest(DaemonTestCase):
    """QEMUs that fail the start-up check leave their architecture unavailable with the reason: the
    daemon still starts (in bounded time), VMs of that arch can be made but not started, and the
    other architectures work."""

    @classmethod
    def setUpClass(cls):
        cls.qemu_dir = tempfile.mkdtemp(prefix='qhm-fakeqemu-')
        for name, text in (('x86_64', FAILS), ('i386', OLD), ('aarch64', SILENT)):
            path = os.path.join(cls.qemu_dir, 'qemu-system-' + name)
            with open(path, 'w') as f:
                f.write(text)
            os.chmod(path, 0o755)
        os.chmod(cls.qemu_dir, 0o755)
        cls.daemon = Daemon(env={'QHM_QEMU_DIR': cls.qemu_dir})
        cls.data_dir = cls.daemon.data_dir
        try:
            cls.daemon.start(timeout=40)
        except Exception:
            cls.daemon.teardown()
            shutil.rmtree(cls.qemu_dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.qemu_dir, ignore_errors=True)

    def test_unavailable_with_the_reason(self):
        arches = self.daemon.ok('GET', '/api/v1/host')['arches']
        want = {'x86_64': 'broken on purpose', 'i386': 'QEMU 6.2.0 is older than 7.2',
                'aarch64': 'did not answer within'}
        for name, text in want.items():
            a = arches[name]
            self.assertIs(a['available'], False, a)
            self.assertIs(a['qemu']['ok'], False, a)
            self.assertIn(text, a['qemu']['error'], a)
            self.assertIn(text, a['reason'], a)
        self.assertEqual(arches['i386']['qemu']['version'], '6.2.0')
        vm = self.daemon.create(name='broken-qemu', arch='x86_64', memory_mib=64, cpus=1, disks=[])
        self.addCleanup(self.daemon.dispose, vm['id'])
        st, body, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'])
        self.assertEqual(st, 409, body)
        self.assertEqual(body['error']['code'], 'unavailable', body)
        self.assertIn('failed its start-up check', body['error']['message'])
        self.assertIn('broken on purpose', body['error']['message'])
        self.assertEqual(self.daemon.vm(vm['id'])['state'], 'stopped')
        self.assertAlive()
