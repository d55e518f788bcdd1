# SPDX-License-Identifier: GPL-2.0-or-later
"""Create / list / get / patch / delete, with the files they leave on disk."""

import os
import re
import struct
import time

from harness import QCOW2_MAGIC, DaemonTestCase

GIB = 1 << 30
CONFIG_FIELDS = ('id', 'uuid', 'name', 'arch', 'memory_mib', 'cpus', 'disks', 'cdrom', 'boot_order',
                 'display', 'network', 'rtc', 'created_at')


def qcow2_header(path):
    with open(path, 'rb') as f:
        head = f.read(32)
    magic = head[:4]
    version, = struct.unpack('>I', head[4:8])
    size, = struct.unpack('>Q', head[24:32])
    return magic, version, size


class CrudTest(DaemonTestCase):
    def vms_dir(self):
        return os.path.join(self.data_dir, 'vms')

    def list_ids(self):
        return [v['id'] for v in self.daemon.ok('GET', '/api/v1/vms')['vms']]

    def test_create_with_defaults(self):
        t0 = int(time.time())
        st, vm, hdr = self.api('POST', '/api/v1/vms', body={'name': 'Defaults'})
        self.assertEqual(st, 201, vm)
        self.addCleanup(self.daemon.dispose, vm['id'])
        self.assertIn('application/json', hdr.get('content-type', ''))
        self.assertRegex(vm['id'], r'^[0-9a-f]{16}$')
        self.assertRegex(vm.get('uuid', ''), r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
        self.assertEqual(vm['name'], 'Defaults')
        self.assertEqual(vm['arch'], 'x86_64')
        self.assertEqual(vm['memory_mib'], 2048)
        self.assertEqual(vm['cpus'], 2)
        self.assertEqual(vm['state'], 'stopped')
        self.assertFalse(vm.get('pid'), 'a stopped VM has no pid: %r' % vm.get('pid'))
        self.assertFalse(vm.get('cdrom'), vm.get('cdrom'))
        self.assertIsInstance(vm.get('boot_order'), list)
        self.assertIsInstance(vm.get('display'), str)
        self.assertIsInstance(vm.get('network'), dict)
        self.assertIn(vm.get('rtc'), ('utc', 'localtime'))
        self.assertTrue(t0 - 5 <= vm.get('created_at', 0) <= time.time() + 5, vm.get('created_at'))

        disks = vm['disks']
        self.assertEqual(len(disks), 1, disks)
        d = disks[0]
        self.assertEqual(d['size_gib'], 32)
        self.assertIsInstance(d.get('interface'), str)
        path = d['path']
        self.assertTrue(os.path.isabs(path), path)
        vm_dir = os.path.join(self.vms_dir(), vm['id'])
        self.assertEqual(os.path.realpath(os.path.dirname(path)), os.path.realpath(vm_dir))
        self.assertTrue(os.path.isfile(path), path)
        magic, version, size = qcow2_header(path)
        self.assertEqual(magic, QCOW2_MAGIC, 'not a qcow2 image')
        self.assertIn(version, (2, 3))
        self.assertEqual(size, 32 * GIB, 'qcow2 virtual size')
        used = os.stat(path).st_blocks * 512
        self.assertLess(used, 16 << 20, 'a new disk must be sparse (uses %d bytes)' % used)

        # GET returns the same VM; the list contains it.
        got = self.daemon.vm(vm['id'])
        for k in CONFIG_FIELDS:
            self.assertEqual(got.get(k), vm.get(k), k)
        self.assertIn(vm['id'], self.list_ids())
        listed = [v for v in self.daemon.ok('GET', '/api/v1/vms')['vms'] if v['id'] == vm['id']][0]
        for k in CONFIG_FIELDS:
            self.assertEqual(listed.get(k), vm.get(k), k)

    def test_patch(self):
        vm = self.new_vm(name='patch-me', disks=[], memory_mib=256, cpus=1)
        other = self.new_vm(name='patch-other', disks=[], memory_mib=128, cpus=1)
        st, p, _ = self.api('PATCH', '/api/v1/vms/' + vm['id'],
                            body={'name': 'patched', 'memory_mib': 512, 'cpus': 2})
        self.assertEqual(st, 200, p)
        self.assertEqual((p['name'], p['memory_mib'], p['cpus']), ('patched', 512, 2))
        self.assertEqual(p['id'], vm['id'])
        self.assertEqual(p['uuid'], vm['uuid'])
        g = self.daemon.vm(vm['id'])
        self.assertEqual((g['name'], g['memory_mib'], g['cpus']), ('patched', 512, 2))
        names = {v['id']: v['name'] for v in self.daemon.ok('GET', '/api/v1/vms')['vms']}
        self.assertEqual(names.get(vm['id']), 'patched')
        # Renaming onto another VM's name is a conflict, and changes nothing.
        self.assertError(self.api('PATCH', '/api/v1/vms/' + vm['id'], body={'name': 'patch-other'}),
                         409, 'conflict', 'name')
        self.assertEqual(self.daemon.vm(vm['id'])['name'], 'patched')
        self.assertEqual(self.daemon.vm(other['id'])['name'], 'patch-other')
        # A rejected field leaves the others untouched (the PATCH is all or nothing).
        self.assertError(self.api('PATCH', '/api/v1/vms/' + vm['id'], body={'cpus': 1, 'memory_mib': 0}),
                         400, 'invalid_field', 'memory_mib')
        self.assertEqual(self.daemon.vm(vm['id'])['cpus'], 2)

    def test_changes_survive_restart(self):
        vm = self.new_vm(name='persist-me', disks=[{'size_gib': 1, 'interface': 'virtio'}],
                         memory_mib=256, cpus=1)
        self.daemon.ok('PATCH', '/api/v1/vms/' + vm['id'], body={'name': 'persisted', 'memory_mib': 384})
        self.daemon.restart()
        g = self.daemon.vm(vm['id'])
        self.assertEqual((g['name'], g['memory_mib'], g['cpus']), ('persisted', 384, 1))
        self.assertEqual(g['disks'], vm['disks'])
        self.assertEqual(g['uuid'], vm['uuid'])
        self.assertEqual(g['state'], 'stopped')

    def test_delete_removes_directory(self):
        st, vm, _ = self.api('POST', '/api/v1/vms', body={'name': 'delete-me'})
        self.assertEqual(st, 201, vm)
        vm_dir = os.path.join(self.vms_dir(), vm['id'])
        self.assertTrue(os.path.isdir(vm_dir))
        st, js, _ = self.api('DELETE', '/api/v1/vms/' + vm['id'])
        self.assertEqual(st, 200, js)
        self.assertEqual(js.get('deleted'), vm['id'])
        self.assertEqual(js.get('kept_disks'), [])
        self.assertFalse(os.path.exists(vm_dir), 'VM directory still there: %s' % os.listdir(vm_dir)
                         if os.path.isdir(vm_dir) else '')
        self.assertFalse(os.path.exists(vm['disks'][0]['path']))
        self.assertNotIn(vm['id'], self.list_ids())
        self.assertError(self.api('GET', '/api/v1/vms/' + vm['id']), 404, 'not_found')
        self.assertError(self.api('DELETE', '/api/v1/vms/' + vm['id']), 404, 'not_found')
        # The name is free again.
        again = self.new_vm(name='delete-me', disks=[])
        self.assertNotEqual(again['id'], vm['id'])

    def test_delete_keep_disks(self):
        st, vm, _ = self.api('POST', '/api/v1/vms', body={
            'name': 'keep-disks', 'disks': [{'size_gib': 1, 'interface': 'ahci'},
                                            {'size_gib': 2, 'interface': 'virtio'}]})
        self.assertEqual(st, 201, vm)
        self.assertEqual([d['size_gib'] for d in vm['disks']], [1, 2])
        self.assertEqual([d['interface'] for d in vm['disks']], ['ahci', 'virtio'])
        st, js, _ = self.api('DELETE', '/api/v1/vms/%s?keep_disks=true' % vm['id'])
        self.assertEqual(st, 200, js)
        self.assertEqual(js.get('deleted'), vm['id'])
        kept = js.get('kept_disks')
        self.assertIsInstance(kept, list, js)
        self.assertEqual(len(kept), 2, js)
        for p, size in zip(kept, (1, 2)):
            self.assertTrue(os.path.isabs(p), p)
            self.assertTrue(os.path.isfile(p), 'kept disk %s does not exist' % p)
            magic, _, vsize = qcow2_header(p)
            self.assertEqual(magic, QCOW2_MAGIC, p)
            self.assertEqual(vsize, size * GIB, p)
        self.assertNotIn(vm['id'], self.list_ids())
        self.assertError(self.api('GET', '/api/v1/vms/' + vm['id']), 404, 'not_found')
        # Nothing but the kept disks may remain of the VM.
        vm_dir = os.path.join(self.vms_dir(), vm['id'])
        if os.path.isdir(vm_dir):
            left = {os.path.join(r, f) for r, _, fs in os.walk(vm_dir) for f in fs}
            self.assertLessEqual(left, {os.path.realpath(p) for p in kept} | set(kept), left)

    def test_duplicate_name(self):
        self.new_vm(name='twin', disks=[])
        before = self.list_ids()
        entries = sorted(os.listdir(self.vms_dir()))
        self.assertError(self.api('POST', '/api/v1/vms', body={'name': 'twin', 'disks': []}),
                         409, 'conflict', 'name')
        self.assertEqual(self.list_ids(), before)
        self.assertEqual(sorted(os.listdir(self.vms_dir())), entries, 'a failed create left files')
        # With a default disk too: the failed create must not leave a disk behind.
        self.assertError(self.api('POST', '/api/v1/vms', body={'name': 'twin'}), 409, 'conflict', 'name')
        self.assertEqual(sorted(os.listdir(self.vms_dir())), entries, 'a failed create left files')
        self.assertEqual(len([v for v in self.daemon.ok('GET', '/api/v1/vms')['vms'] if v['name'] == 'twin']), 1)

    def test_create_each_arch_and_options(self):
        """Non-default fields are stored and returned as given."""
        for arch in ('i386', 'aarch64'):
            vm = self.new_vm(name='arch-' + arch, arch=arch, disks=[], memory_mib=256, cpus=1)
            self.assertEqual(vm['arch'], arch)
            self.assertEqual(self.daemon.vm(vm['id'])['arch'], arch)
        vm = self.new_vm(name='options', disks=[{'size_gib': 3, 'interface': 'nvme'}], memory_mib=300, cpus=1,
                         cdrom='/usr/lib/memtest86+/memtest86+x64.iso', boot_order=['disk', 'cdrom'],
                         rtc='localtime')
        self.assertEqual(vm['cdrom'], '/usr/lib/memtest86+/memtest86+x64.iso')
        self.assertEqual(vm['boot_order'], ['disk', 'cdrom'])
        self.assertEqual(vm['rtc'], 'localtime')
        self.assertEqual(vm['memory_mib'], 300)
        self.assertEqual([(d['size_gib'], d['interface']) for d in vm['disks']], [(3, 'nvme')])
        self.assertEqual(qcow2_header(vm['disks'][0]['path'])[2], 3 * GIB)
        self.assertTrue(re.match(r'^[0-9a-f]{16}$', vm['id']))

    def test_dry_run_previews_without_creating(self):
        before = self.list_ids()
        dirs = sorted(os.listdir(self.vms_dir())) if os.path.isdir(self.vms_dir()) else []
        body = {'name': 'Preview', 'arch': 'aarch64', 'memory_mib': 512, 'cpus': 1,
                'disks': [{'size_gib': 4}]}
        st, js, _ = self.api('POST', '/api/v1/vms?dry_run=true', body=body)
        self.assertEqual(st, 200, js)
        self.assertIs(js.get('dry_run'), True, js)
        argv = js['argv']
        self.assertTrue(argv[0].endswith('qemu-system-aarch64'), argv)
        self.assertIn('virt', ' '.join(argv))
        self.assertIn('512', argv[argv.index('-m') + 1], argv)
        self.assertEqual(js['config']['name'], 'Preview')
        self.assertEqual(js['config']['memory_mib'], 512)
        self.assertIn(js.get('accelerator'), ('kvm', 'tcg'), js)
        # Nothing was created: no row, no directory, the name is still free.
        self.assertEqual(self.list_ids(), before)
        self.assertEqual(sorted(os.listdir(self.vms_dir())) if os.path.isdir(self.vms_dir()) else [], dirs)
        # The same checks as a real create.
        st, js, _ = self.api('POST', '/api/v1/vms?dry_run=1', body={'name': 'P', 'memory_mib': 1 << 30})
        self.assertEqual(st, 400, js)
        self.assertIn('memory_mib', js['error']['message'])
        st, js, _ = self.api('POST', '/api/v1/vms?dry_run=maybe', body={'name': 'P'})
        self.assertEqual(st, 400, js)
        self.assertIn('dry_run', js['error']['message'])
        st, js, _ = self.api('POST', '/api/v1/vms?dry_run=false', body={'name': 'Real', 'disks': []})
        self.assertEqual(st, 201, js)
        self.addCleanup(self.daemon.dispose, js['id'])
