# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input gets the documented status and error code, leaves nothing behind,
and the daemon keeps answering."""

import json
import os
import shutil
import tempfile

from harness import DaemonTestCase, error_code, guest_iso, qemu_pids, wait_pid_gone

UNKNOWN_ID = '0123456789abcdef'


class BadInputTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = cls.daemon.host_info()
        cls.limits = cls.host['limits']

    def snapshot(self):
        vms = sorted(v['id'] for v in self.daemon.ok('GET', '/api/v1/vms')['vms'])
        vms_dir = os.path.join(self.data_dir, 'vms')
        files = sorted(os.listdir(vms_dir)) if os.path.isdir(vms_dir) else []
        return vms, files

    def create_fails(self, status, code, field=None, body=None, raw=None, msg=''):
        """POST /vms must fail as documented and leave no row and no directory."""
        before = self.snapshot()
        r = self.api('POST', '/api/v1/vms', body=body, raw=raw)
        self.assertError(r, status, code, field, msg=msg or repr(body if body is not None else raw)[:200])
        self.assertAlive()
        self.assertEqual(self.snapshot(), before, 'a failed create left a row or files: %s' % msg)

    # -- bodies --
    def test_malformed_json(self):
        for raw in (b'{"name": ', b'{name: "x"}', b'', b'{"name": "x"} trailing', b'\xef\xbb\xbf{"name": "x"',
                    b'{"name": "x",}'):
            self.create_fails(400, 'malformed_json', raw=raw, msg=repr(raw))

    def test_not_an_object(self):
        for raw in (b'[]', b'[{"name": "x"}]', b'"x"', b'42', b'null', b'true'):
            self.create_fails(400, 'malformed_json', raw=raw, msg=repr(raw))

    def test_body_too_large(self):
        raw = b'{"name": "big", "x": "' + b'a' * (1 << 20) + b'"}'
        self.create_fails(413, 'payload_too_large', raw=raw, msg='1 MiB body')
        # Same on PATCH of an existing VM, which stays unchanged.
        vm = self.new_vm(name='patch-big', disks=[])
        self.assertError(self.api('PATCH', '/api/v1/vms/' + vm['id'], raw=raw), 413, 'payload_too_large')
        self.assertEqual(self.daemon.vm(vm['id'])['name'], 'patch-big')
        self.assertAlive()

    def test_unknown_field(self):
        self.create_fails(400, 'invalid_field', 'bogus', body={'name': 'u', 'bogus': 1})
        self.create_fails(400, 'invalid_field', 'state', body={'name': 'u', 'state': 'running'})
        vm = self.new_vm(name='patch-unknown', disks=[])
        self.assertError(self.api('PATCH', '/api/v1/vms/' + vm['id'], body={'bogus': 1}), 400, 'invalid_field',
                         'bogus')
        self.assertError(self.api('PATCH', '/api/v1/vms/' + vm['id'], raw=b'{"name": '), 400, 'malformed_json')
        self.assertError(self.api('PATCH', '/api/v1/vms/' + vm['id'], raw=b'[]'), 400, 'malformed_json')

    def test_name(self):
        self.create_fails(400, 'invalid_field', 'name', body={'disks': []}, msg='missing name')
        for name in ('', 'a' * 65, '\u00e9' * 33, 'bad\x01name', 'tab\there', 'new\nline', 'del\x7f',
                     'c1\u0085ctl', 5, None, ['x'], {'x': 1}):
            self.create_fails(400, 'invalid_field', 'name', body={'name': name, 'disks': []}, msg=repr(name))
        # 64 bytes is fine, counted in bytes (32 two-byte characters).
        for name in ('a' * 64, '\u00e9' * 32):
            vm = self.new_vm(name=name, disks=[])
            self.assertEqual(vm['name'], name)
        # Invalid UTF-8 in the body (and an escaped lone surrogate): refused as a bad body or a bad name.
        for raw in (b'{"name": "\xff\xfe", "disks": []}', b'{"name": "a\xc3", "disks": []}',
                    b'{"name": "\\ud800", "disks": []}', b'{"name": "a\\u0000b", "disks": []}'):
            before = self.snapshot()
            st, js, _ = self.api('POST', '/api/v1/vms', raw=raw)
            self.assertEqual(st, 400, '%r -> %d %r' % (raw, st, js))
            self.assertIn(error_code(js), ('malformed_json', 'invalid_field'), js)
            if error_code(js) == 'invalid_field':
                self.assertTrue(js['error']['message'].startswith('name'), js)
            self.assertAlive()
            self.assertEqual(self.snapshot(), before)

    def test_memory(self):
        mx = self.limits['max_memory_mib']
        self.create_fails(422, 'over_limit', 'memory_mib', body={'name': 'm', 'disks': [], 'memory_mib': mx + 1})
        for m in (0, -1, 1 << 40, '512', 512.5, None, True):
            self.create_fails(400, 'invalid_field', 'memory_mib', body={'name': 'm', 'disks': [], 'memory_mib': m},
                              msg='memory_mib %r' % (m,))
        vm = self.new_vm(name='patch-mem', disks=[], memory_mib=128)
        self.assertError(self.api('PATCH', '/api/v1/vms/' + vm['id'], body={'memory_mib': mx + 1}),
                         422, 'over_limit', 'memory_mib')
        self.assertEqual(self.daemon.vm(vm['id'])['memory_mib'], 128)

    def test_cpus(self):
        n = self.host['cpus']
        self.create_fails(422, 'over_limit', 'cpus', body={'name': 'c', 'disks': [], 'cpus': n + 1})
        for c in (0, -1, '2', 1.5):
            self.create_fails(400, 'invalid_field', 'cpus', body={'name': 'c', 'disks': [], 'cpus': c},
                              msg='cpus %r' % (c,))

    def test_arch_and_enums(self):
        for arch in ('sparc', 'X86_64', '', 1):
            self.create_fails(400, 'invalid_field', 'arch', body={'name': 'a', 'disks': [], 'arch': arch},
                              msg='arch %r' % (arch,))
        self.create_fails(400, 'invalid_field', 'boot_order', body={'name': 'a', 'disks': [], 'boot_order': ['usb']})
        self.create_fails(400, 'invalid_field', 'rtc', body={'name': 'a', 'disks': [], 'rtc': 'mars'})
        self.create_fails(400, 'invalid_field', 'display', body={'name': 'a', 'disks': [], 'display': 'crt'})

    def test_cdrom(self):
        tmp = tempfile.mkdtemp(prefix='qhm-cdrom-')
        self.addCleanup(shutil.rmtree, tmp, True)
        rel = os.path.relpath(guest_iso('poweroff'))
        # (inside the allowed roots: the harness allows the temp dir; outside: test_access.py)
        for cdrom in (os.path.join(tmp, 'nonexistent', 'x.iso'), tmp, 'memtest86+x64.iso', rel, '../../etc/passwd',
                      42):
            self.create_fails(400, 'invalid_field', 'cdrom', body={'name': 'cd', 'disks': [], 'cdrom': cdrom},
                              msg='cdrom %r' % (cdrom,))
        self.create_fails(403, 'path_not_allowed', 'cdrom', body={'name': 'cd', 'disks': [], 'cdrom': '/dev/null'})

    def test_disks(self):
        free_gib = self.daemon.host_info()['disk_free_mib'] // 1024
        big = free_gib + 2
        self.assertLess(big, self.limits['max_disk_gib'], 'the test needs a disk over the free space')
        self.create_fails(507, 'insufficient_storage', None,
                          body={'name': 'd', 'disks': [{'size_gib': big, 'interface': 'virtio'}]})
        # Two disks that together leave less than the reserve.
        half = free_gib // 2 + 1
        self.create_fails(507, 'insufficient_storage', None,
                          body={'name': 'd', 'disks': [{'size_gib': half}, {'size_gib': half}]})
        for disks in ([{'size_gib': 0}], [{'size_gib': -1}], [{'size_gib': self.limits['max_disk_gib'] + 1}],
                      [{'size_gib': 1, 'interface': 'scsi'}], [{'size_gib': '1'}], [{'size_gib': 1, 'x': 1}],
                      [{'size_gib': 1}] * (self.limits['max_disks'] + 1), {'size_gib': 1}, 'disk'):
            self.create_fails(400, 'invalid_field', 'disks', body={'name': 'd', 'disks': disks},
                              msg='disks %r' % (disks,))

    # -- routes --
    def test_unknown_vm_and_route(self):
        for method, path in (('GET', '/api/v1/vms/' + UNKNOWN_ID), ('PATCH', '/api/v1/vms/' + UNKNOWN_ID),
                             ('DELETE', '/api/v1/vms/' + UNKNOWN_ID),
                             ('POST', '/api/v1/vms/%s/start' % UNKNOWN_ID),
                             ('POST', '/api/v1/vms/%s/kill' % UNKNOWN_ID),
                             ('GET', '/api/v1/vms/%s/screenshot' % UNKNOWN_ID),
                             ('GET', '/api/v1/vms/%s/log' % UNKNOWN_ID),
                             ('GET', '/api/v1/vms/%s/cmdline' % UNKNOWN_ID),
                             ('GET', '/api/v1/nope'), ('GET', '/api/v2/host'), ('GET', '/api/v1/hosts'),
                             ('POST', '/api/v1/vms/%s/explode' % UNKNOWN_ID)):
            body = {'name': 'x'} if method == 'PATCH' else None
            self.assertError(self.api(method, path, body=body), 404, 'not_found', msg='%s %s' % (method, path))
        vm = self.new_vm(name='routes', disks=[])
        self.assertError(self.api('POST', '/api/v1/vms/%s/explode' % vm['id']), 404, 'not_found')
        self.assertAlive()

    def test_wrong_method(self):
        vm = self.new_vm(name='methods', disks=[])
        for method, path in (('DELETE', '/api/v1/host'), ('POST', '/api/v1/host'), ('PUT', '/api/v1/vms'),
                             ('DELETE', '/api/v1/vms'), ('PUT', '/api/v1/vms/' + vm['id']),
                             ('POST', '/api/v1/vms/' + vm['id']),
                             ('GET', '/api/v1/vms/%s/start' % vm['id']),
                             ('POST', '/api/v1/vms/%s/screenshot' % vm['id']),
                             ('DELETE', '/api/v1/vms/%s/log' % vm['id'])):
            self.assertError(self.api(method, path), 405, 'method_not_allowed', msg='%s %s' % (method, path))
        self.assertEqual(self.daemon.vm(vm['id'])['state'], 'stopped')
        self.assertAlive()

    def test_path_traversal(self):
        vm = self.new_vm(name='traversal', disks=[])
        db = os.path.join(self.data_dir, 'qemu-hmos.sqlite3')
        marker = os.path.join(self.data_dir, 'x')
        with open(marker, 'w') as f:
            f.write('keep me')
        problems = []
        # '%00' decodes to NUL: a daemon that routes the C string would see '/api/v1/vms/' or
        # '/api/v1/vms/ID' instead, and e.g. DELETE the VM.
        for vid in ('../../x', '..%2F..%2Fx', '%2e%2e', '..', '.', vm['id'] + '/../' + vm['id'],
                    vm['id'][:8], vm['id'].upper(), vm['id'] + '0', 'a%2Fb', '%00', vm['id'] + '%00',
                    vm['id'] + '%00../../x'):
            for method, path in (('GET', '/api/v1/vms/' + vid), ('DELETE', '/api/v1/vms/' + vid),
                                 ('GET', '/api/v1/vms/%s/log' % vid), ('POST', '/api/v1/vms/%s/start' % vid)):
                st, js, _ = self.api(method, path)
                if st != 404 or error_code(js) != 'not_found':
                    problems.append('%s %s -> %d %s' % (method, path, st, json.dumps(js)[:120]
                                                        if not isinstance(js, bytes) else js[:120]))
                if st == 200 and method == 'POST':
                    self.api('POST', '/api/v1/vms/%s/kill' % vm['id'])
        if problems:
            self.fail('want 404 not_found for each of:\n' + '\n'.join(problems))
        self.assertTrue(os.path.exists(marker))
        self.assertTrue(os.path.exists(db))
        self.assertEqual(self.daemon.vm(vm['id'])['state'], 'stopped')
        self.assertTrue(os.path.isdir(os.path.join(self.data_dir, 'vms', vm['id'])))
        self.assertAlive()

    # -- host memory commit --
    def test_start_over_commit_limit(self):
        lim = self.daemon.host_info()['limits']
        self.assertEqual(lim['committed_mib'], 0)
        commit, mx = lim['commit_limit_mib'], lim['max_memory_mib']
        m = min(mx, commit)
        k = commit // m  # VMs of M MiB that fit; one more crosses the limit
        self.assertLessEqual(k, 3, 'the limits need too many VMs for this test: %r' % lim)
        iso = guest_iso('powerbutton')
        vms = [self.new_vm(name='commit-%d' % i, memory_mib=m, cpus=1, disks=[], cdrom=iso)['id']
               for i in range(k + 1)]
        for vid in vms[:k]:
            self.assertEqual(self.daemon.action(vid, 'start')['state'], 'running')
        self.assertEqual(self.daemon.host_info()['limits']['committed_mib'], k * m)
        pids_before = sorted(qemu_pids(self.data_dir))
        self.assertError(self.api('POST', '/api/v1/vms/%s/start' % vms[k]), 422, 'over_limit', 'memory',
                         msg='start over the commit limit (%d x %d MiB > %d)' % (k + 1, m, commit))
        self.assertEqual(self.daemon.vm(vms[k])['state'], 'stopped')
        self.assertEqual(sorted(qemu_pids(self.data_dir)), pids_before, 'a refused start left a QEMU')
        self.assertEqual(self.daemon.host_info()['limits']['committed_mib'], k * m)
        # Freeing memory makes room again.
        first = self.daemon.vm(vms[0])
        self.assertEqual(self.daemon.action(vms[0], 'kill')['state'], 'stopped')
        self.assertTrue(wait_pid_gone(first['pid'], 5))
        self.assertEqual(self.daemon.action(vms[k], 'start')['state'], 'running')
        for vid in vms:
            self.daemon.api('POST', '/api/v1/vms/%s/kill' % vid)

    def test_errors_are_json(self):
        st, js, h = self.api('GET', '/api/v1/vms/' + UNKNOWN_ID)
        self.assertEqual(st, 404)
        self.assertIn('application/json', h.get('content-type', ''))
        self.assertEqual(set(js), {'error'})
        self.assertEqual(set(js['error']), {'code', 'message'})
        json.dumps(js)
