# SPDX-License-Identifier: GPL-2.0-or-later
"""A VM's disks after creation, on real qcow2 files and real QEMU: add a blank disk, add one made
from an existing image (raw and qcow2 sources; the data is there, checked with qemu-io), grow a
disk while stopped (qemu-img) and while QEMU runs (block_resize: the running QEMU sees the new
size), detach (deleted or kept), and every bad input leaves the VM and its files as they were."""

import os
import tempfile
import subprocess

from harness import MEMTEST_ISO, QEMU_IMG, DaemonTestCase, image_info as info, qemu_io

GIB = 1 << 30


class DiskTest(DaemonTestCase):
    def disks(self, vid):
        return self.daemon.ok('GET', '/api/v1/vms/%s/disks' % vid)['disks']

    def vm_files(self, vid):
        return sorted(os.listdir(os.path.join(self.daemon.data_dir, 'vms', vid)))

    def test_add_grow_detach_blank(self):
        vm = self.new_vm(memory_mib=128, disks=[{'size_gib': 1}])
        vid = vm['id']
        v = self.daemon.ok('POST', '/api/v1/vms/%s/disks' % vid, body={'size_gib': 2, 'interface': 'virtio'},
                           expect=201)
        self.assertEqual([(d['size_gib'], d['interface']) for d in v['disks']], [(1, 'ahci'), (2, 'virtio')])
        new = v['disks'][1]['path']
        self.assertEqual(os.path.dirname(new), os.path.join(self.daemon.data_dir, 'vms', vid))
        self.assertEqual(info(new)['virtual-size'], 2 * GIB)
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vid)['argv']
        self.assertTrue(any(new in a for a in argv), argv)
        d = self.disks(vid)
        self.assertEqual([x['virtual_bytes'] for x in d], [GIB, 2 * GIB])
        self.assertTrue(all(x['allocated_bytes'] < 16 << 20 for x in d), d)  # sparse
        # Grow while stopped.
        v = self.daemon.ok('PATCH', '/api/v1/vms/%s/disks/1' % vid, body={'size_gib': 3})
        self.assertEqual(v['disks'][1]['size_gib'], 3)
        self.assertEqual(info(new)['virtual-size'], 3 * GIB)
        # Detach, deleting the file; then the first one, keeping it.
        out = self.daemon.ok('DELETE', '/api/v1/vms/%s/disks/1' % vid)
        self.assertEqual(out['detached'], new)
        self.assertFalse(os.path.exists(new))
        first = vm['disks'][0]['path']
        out = self.daemon.ok('DELETE', '/api/v1/vms/%s/disks/0?keep_disks=true' % vid)
        self.assertTrue(out['kept'].startswith(os.path.join(self.daemon.data_dir, 'disks') + '/'), out)
        self.assertEqual(info(out['kept'])['virtual-size'], GIB)
        self.assertFalse(os.path.exists(first))
        self.assertEqual(self.daemon.vm(vid)['disks'], [])
        # The kept disk comes back as a source.
        v = self.daemon.ok('POST', '/api/v1/vms/%s/disks' % vid, body={'source': out['kept']}, expect=201)
        self.assertEqual(v['disks'][0]['size_gib'], 1)

    def test_add_from_images(self):
        vm = self.new_vm(memory_mib=128, disks=[])
        vid = vm['id']
        tmp = os.path.join(self.daemon.data_dir, 'images', 'src')  # DATA's own folders only
        os.makedirs(tmp)
        raw = os.path.join(tmp, 'cloud.raw')
        with open(raw, 'wb') as f:
            f.truncate(300 << 20)  # 300 MiB: rounded up to 1 GiB
        self.assertTrue(qemu_io(raw, 'write -P 0x5a 1M 64k', fmt='raw'))
        v = self.daemon.ok('POST', '/api/v1/vms/%s/disks' % vid, body={'source': raw}, expect=201)
        disk = v['disks'][0]
        self.assertEqual(disk['size_gib'], 1)
        self.assertEqual(info(disk['path'])['format'], 'qcow2')
        self.assertEqual(info(disk['path'])['virtual-size'], GIB)
        self.assertTrue(qemu_io(disk['path'], 'read -P 0x5a 1M 64k'), 'the image data is not on the new disk')
        self.assertTrue(os.path.exists(raw), 'the source is copied, not moved')
        # A qcow2 source, grown to the size asked for.
        q = os.path.join(tmp, 'base.qcow2')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', q, '1G'], check=True)
        self.assertTrue(qemu_io(q, 'write -P 0x33 0 4k'))
        v = self.daemon.ok('POST', '/api/v1/vms/%s/disks' % vid, body={'source': q, 'size_gib': 5,
                                                                      'interface': 'virtio'}, expect=201)
        self.assertEqual(info(v['disks'][1]['path'])['virtual-size'], 5 * GIB)
        self.assertTrue(qemu_io(v['disks'][1]['path'], 'read -P 0x33 0 4k'))
        # Smaller than the image: refused, nothing made.
        big = os.path.join(tmp, 'big.qcow2')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', big, '2G'], check=True)
        before = self.vm_files(vid)
        self.assertError(self.api('POST', '/api/v1/vms/%s/disks' % vid, body={'source': big, 'size_gib': 1,
                                                                            'interface': 'virtio'}),
                         400, 'invalid_field', msg='smaller than the source')
        st, js, _ = self.api('POST', '/api/v1/vms/%s/disks' % vid, body={'source': q, 'size_gib': 0})
        self.assertEqual(st, 400, js)
        self.assertEqual(self.vm_files(vid), before)

    def test_grow_while_running(self):
        vm = self.new_vm(memory_mib=128, disks=[{'size_gib': 1, 'interface': 'virtio'}], cdrom=MEMTEST_ISO,
                         boot_order=['cdrom', 'disk'])
        vid = vm['id']
        self.daemon.action(vid, 'start')
        v = self.daemon.ok('PATCH', '/api/v1/vms/%s/disks/0' % vid, body={'size_gib': 2})
        self.assertEqual(v['disks'][0]['size_gib'], 2)
        self.assertEqual(v['state'], 'running')
        self.assertEqual(info(vm['disks'][0]['path'])['virtual-size'], 2 * GIB)
        # Adding or detaching needs the VM stopped.
        self.assertError(self.api('POST', '/api/v1/vms/%s/disks' % vid, body={'size_gib': 1}), 409,
                         'invalid_state')
        self.assertError(self.api('DELETE', '/api/v1/vms/%s/disks/0' % vid), 409, 'invalid_state')
        self.daemon.action(vid, 'kill')
        # The next start uses the grown disk.
        self.daemon.action(vid, 'start')
        self.assertEqual(self.disks(vid)[0]['virtual_bytes'], 2 * GIB)

    def test_bad_input(self):
        vm = self.new_vm(memory_mib=128, disks=[{'size_gib': 1}], arch='i386')
        vid = vm['id']
        base = '/api/v1/vms/%s/disks' % vid
        before = self.vm_files(vid)
        for body, field in (({}, 'size_gib'), ({'size_gib': 0}, 'size_gib'), ({'size_gib': 'big'}, 'size_gib'),
                            ({'size_gib': 70000}, 'size_gib'), ({'size_gib': 1, 'interface': 'scsi'}, 'interface'),
                            ({'size_gib': 1, 'extra': True}, 'extra'), ({'source': 'rel/path'}, 'source'),
                            ({'source': tempfile.gettempdir() + '/nonexistent.qcow2'}, 'source'), ({'source': '/tmp'}, 'source')):
            st, js, _ = self.api('POST', base, body=body)
            self.assertEqual(st, 400, '%r -> %d %r' % (body, st, js))
            self.assertTrue(js['error']['message'].startswith(field), js)
        self.assertError(self.api('POST', base, raw=b'[1]'), 400, 'malformed_json')
        # i386 has three IDE slots for disks (the CD-ROM takes the fourth).
        self.daemon.ok('POST', base, body={'size_gib': 1, 'interface': 'ide'}, expect=201)
        self.daemon.ok('POST', base, body={'size_gib': 1, 'interface': 'ide'}, expect=201)
        st, js, _ = self.api('POST', base, body={'size_gib': 1, 'interface': 'ide'})
        self.assertEqual(st, 400, js)
        self.assertIn('ide', js['error']['message'])
        self.daemon.ok('POST', base, body={'size_gib': 1, 'interface': 'virtio'}, expect=201)
        self.assertError(self.api('POST', base, body={'size_gib': 1, 'interface': 'virtio'}), 409, 'conflict',
                         msg='a fifth disk')
        # More than the free space: 507, nothing made.
        files = self.vm_files(vid)
        self.assertEqual(len([f for f in files if f.endswith('.qcow2')]), 4)
        self.daemon.ok('DELETE', base + '/3')
        self.assertError(self.api('POST', base, body={'size_gib': 65536, 'interface': 'virtio'}), 507,
                         'insufficient_storage')
        self.assertError(self.api('PATCH', base + '/0', body={'size_gib': 65536}), 507, 'insufficient_storage')
        # Shrinking, unknown disks and methods.
        self.assertError(self.api('PATCH', base + '/0', body={'size_gib': 1}), 400, 'invalid_field')
        self.assertError(self.api('PATCH', base + '/0', body={'interface': 'virtio'}), 400, 'invalid_field')
        for bad in ('9', '-1', 'x', '01x', '+0'):
            self.assertError(self.api('PATCH', base + '/' + bad, body={'size_gib': 5}), 404, 'not_found', msg=bad)
        self.assertError(self.api('PUT', base), 405, 'method_not_allowed')
        self.assertError(self.api('GET', base + '/0'), 405, 'method_not_allowed')
        self.assertError(self.api('DELETE', base + '/0?keep_disks=maybe'), 400, 'invalid_field')
        self.assertError(self.api('GET', '/api/v1/vms/0000000000000000/disks'), 404, 'not_found')
        self.assertEqual([f for f in self.vm_files(vid) if f.startswith('.')], [])
        self.assertEqual(len(before), 1 + len([b for b in before if not b.endswith('.qcow2')]))
