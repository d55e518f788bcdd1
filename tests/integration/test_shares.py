# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared folders (virtio-9p) and direct kernel boot, with a real Linux guest: Debian 12's kernel
started by QEMU itself (kernel_boot) with a busybox initramfs (linuxguest.py) that mounts the VM's
shared folders by tag, reads and writes through them, tries to write to the read-only one, and
powers the machine off. Plus the checks on both fields: paths must exist (a directory, a file),
tags are words and unique, the command line is printable; a missing folder at start is a 400."""

import os

import linuxguest
from harness import DaemonTestCase, GuestShares


class SharedFolderTest(DaemonTestCase):
    def setUp(self):
        self.shares = GuestShares(self.daemon)
        self.tmp, self.rw, self.ro = self.shares.tmp, self.shares.rw, self.shares.ro

    def test_guest_reads_and_writes_through_shares(self):
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[],
                         kernel_boot=linuxguest.kernel_boot(self.tmp, linuxguest.SHARE_SCRIPT),
                         shared_folders=self.shares.fields())
        self.assertEqual(vm['kernel_boot']['cmdline'], 'console=ttyS0 quiet panic=-1')
        self.assertEqual([s['tag'] for s in vm['shared_folders']], ['work', 'media'])
        self.assertEqual([s['readonly'] for s in vm['shared_folders']], [False, True])
        self.daemon.action(vm['id'], 'start')
        # The guest powers itself off once done: a clean stop, not a crash.
        v = self.daemon.wait_state(vm['id'], 'stopped', timeout=180, interval=0.5)
        self.assertEqual((v.get('last_exit') or {}).get('status'), 'stopped', v)
        self.shares.check(self)
        argv = ' '.join(self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv'])
        # guest root is not host root: owners and modes the guest sets live in user.virtfs.* xattrs
        self.assertIn('path=%s,security_model=mapped-xattr' % self.rw.replace(',', ',,'), argv)
        self.assertIn('-append console=ttyS0 quiet panic=-1', argv)

    def test_bad_input(self):
        kernel, _ = linuxguest.kernel()
        base = dict(memory_mib=128, disks=[])

        def refused(field, **kw):
            st, js, _ = self.api('POST', '/api/v1/vms', body=dict(base, name='bad', **kw))
            self.assertEqual(st, 400, '%r -> %d %r' % (kw, st, js))
            self.assertTrue(js['error']['message'].startswith(field), js)

        refused('shared_folders[0].path', shared_folders=[{'path': 'relative', 'tag': 'a'}])
        refused('shared_folders[0].path', shared_folders=[{'path': self.tmp + '/nonexistent-dir', 'tag': 'a'}])
        refused('shared_folders[0].path', shared_folders=[{'path': kernel, 'tag': 'a'}])  # a file
        refused('shared_folders[0].tag', shared_folders=[{'path': self.rw, 'tag': 'two words'}])
        refused('shared_folders[0].tag', shared_folders=[{'path': self.rw, 'tag': 'x' * 32}])
        refused('shared_folders[1].tag', shared_folders=[{'path': self.rw, 'tag': 'a'}, {'path': self.ro, 'tag': 'a'}])
        refused('shared_folders[0].readonly', shared_folders=[{'path': self.rw, 'tag': 'a', 'readonly': 'yes'}])
        refused('shared_folders[0].mode', shared_folders=[{'path': self.rw, 'tag': 'a', 'mode': 1}])
        refused('shared_folders', shared_folders=[{'path': self.rw, 'tag': 't%d' % i} for i in range(5)])
        refused('kernel_boot.kernel', kernel_boot={'initrd': kernel})
        refused('kernel_boot.kernel', kernel_boot={'kernel': self.tmp + '/nonexistent-vmlinuz'})
        refused('kernel_boot.kernel', kernel_boot={'kernel': self.rw})  # a directory
        refused('kernel_boot.initrd', kernel_boot={'kernel': kernel, 'initrd': self.tmp + '/nonexistent-initrd'})
        refused('kernel_boot.cmdline', kernel_boot={'kernel': kernel, 'cmdline': 'a\nb'})
        refused('kernel_boot.cmdline', kernel_boot={'kernel': kernel, 'cmdline': 'x' * 1025})
        refused('kernel_boot', kernel_boot='vmlinuz')
        # A folder removed after the VM was made: the start says which, QEMU is not run.
        gone = os.path.join(self.tmp, 'gone')
        os.makedirs(gone)
        vm = self.new_vm(**dict(base, shared_folders=[{'path': gone, 'tag': 'g'}]))
        os.rmdir(gone)
        self.assertError(self.api('POST', '/api/v1/vms/%s/start' % vm['id']), 400, 'invalid_field')
        # PATCH sets and clears both while stopped.
        v = self.daemon.ok('PATCH', '/api/v1/vms/%s' % vm['id'],
                           body={'shared_folders': [], 'kernel_boot': {'kernel': kernel}})
        self.assertNotIn('shared_folders', v)
        self.assertEqual(v['kernel_boot'], {'kernel': kernel, 'initrd': None, 'cmdline': ''})
        v = self.daemon.ok('PATCH', '/api/v1/vms/%s' % vm['id'], body={'kernel_boot': None})
        self.assertNotIn('kernel_boot', v)
