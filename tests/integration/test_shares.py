# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared folders (virtio-9p) and direct kernel boot, with a real Linux guest: Debian 12's kernel
started by QEMU itself (kernel_boot) with a busybox initramfs (linuxguest.py) that mounts the VM's
shared folders by tag, reads and writes through them, tries to write to the read-only one, and
powers the machine off. Plus the checks on both fields: paths must exist (a directory, a file),
tags are words and unique, the command line is printable; a missing folder at start is a 400."""

import os
import time

import linuxguest
from harness import DaemonTestCase, GuestShares, vm_user_ids


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


class VirtiofsTest(DaemonTestCase):
    """Shared folders with mode "virtiofs" (issue 17 item 5): a virtiofsd per share, started by the
    daemon with the VM in a user and mount namespace of its own (read-only shares bind-mounted
    read-only there), the guest's memory shared; the same guest script through virtiofs."""

    def setUp(self):
        host = self.daemon.ok('GET', '/api/v1/host')
        if not host['virtiofs']['available']:
            self.skipTest('no virtiofsd here: %r' % host['virtiofs'])
        self.shares = GuestShares(self.daemon)
        self.tmp = self.shares.tmp

    def fields(self):
        return [dict(f, mode='virtiofs') for f in self.shares.fields()]

    def virtiofsd_of(self, vid):
        """The virtiofsd processes whose pid files name them (run/virtiofsd-N.pid)."""
        run = os.path.join(self.daemon.data_dir, 'vms', vid, 'run')
        out = []
        for n in sorted(os.listdir(run)) if os.path.isdir(run) else []:
            if n.startswith('virtiofsd-') and n.endswith('.pid'):
                with open(os.path.join(run, n)) as f:
                    pid = int(f.read().split()[0])
                if os.path.exists('/proc/%d' % pid):
                    out.append(pid)
        return out

    def test_guest_reads_and_writes_through_virtiofs(self):
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], shared_folders=self.fields(),
                         kernel_boot=linuxguest.kernel_boot(self.tmp, linuxguest.VIRTIOFS_SCRIPT,
                                                            modules=linuxguest.VIRTIOFS_MODULES))
        self.assertEqual([s['mode'] for s in vm['shared_folders']], ['virtiofs', 'virtiofs'])
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        self.assertIn('memory-backend-memfd,id=qhm-mem,size=256M,share=on', argv)
        self.assertIn('vhost-user-fs-pci,chardev=vfs1,tag=media', argv)
        self.daemon.action(vm['id'], 'start')
        v = self.daemon.wait_state(vm['id'], 'stopped', timeout=180, interval=0.5)
        self.assertEqual((v.get('last_exit') or {}).get('status'), 'stopped', v)
        self.shares.check(self)  # read, write, and the read-only share refused the write
        # The guest's root is the VMs' user on the host (the only id virtiofsd's namespace has).
        made = os.path.join(self.shares.rw, 'guest-made.txt')
        self.assertEqual(os.stat(made).st_uid, vm_user_ids()[0])
        with open(made) as f:
            self.assertEqual(f.read(), 'made-in-guest\n')
        # virtiofsd ended with QEMU; its log says it served the guest.
        self.assertEqual(self.virtiofsd_of(vm['id']), [])
        with open(os.path.join(self.daemon.data_dir, 'vms', vm['id'], 'logs', 'virtiofsd-0.log')) as f:
            self.assertIn('Received vhost-user socket connection', f.read())

    def test_running_vm(self):
        """While it runs: one virtiofsd per virtiofs share (not for a 9p one); no memory snapshot;
        a forced stop leaves none."""
        fields = self.fields()
        fields[1]['mode'] = '9p'
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[{'size_gib': 1}], shared_folders=fields,
                         kernel_boot=linuxguest.kernel_boot(self.tmp, '$B sleep 600', modules=linuxguest.VIRTIOFS_MODULES))
        self.daemon.action(vm['id'], 'start')
        self.daemon.wait_state(vm['id'], 'running', timeout=60)
        pids = self.virtiofsd_of(vm['id'])
        self.assertEqual(len(pids), 1, pids)
        with open('/proc/%d/status' % pids[0]) as f:
            uid = [int(x) for x in next(l for l in f if l.startswith('Uid:')).split()[1:]]
        self.assertEqual(set(uid), {vm_user_ids()[0]})  # as the VMs' user, not root
        st, js, _ = self.api('POST', '/api/v1/vms/%s/snapshots' % vm['id'], body={'name': 'mem'})
        self.assertError((st, js, _), 409, 'unavailable')
        self.assertIn('virtiofs', js['error']['message'])
        self.daemon.action(vm['id'], 'kill')
        self.daemon.wait_state(vm['id'], 'stopped', timeout=30)
        def alive(pid):
            try:
                with open('/proc/%d/stat' % pid) as f:
                    return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
            except OSError:
                return False
        # It ends once QEMU's end of its socket closes (or the daemon's SIGTERM lands): give it
        # the moment an exit takes (seen: the pid file gone, the process not yet, under load).
        deadline = time.time() + 10
        while (self.virtiofsd_of(vm['id']) or alive(pids[0])) and time.time() < deadline:
            time.sleep(0.1)
        self.assertFalse(alive(pids[0]), 'virtiofsd outlived its QEMU')
        # Stopped: a disk snapshot is fine.
        self.daemon.ok('POST', '/api/v1/vms/%s/snapshots' % vm['id'], body={'name': 'disk'}, expect=(201,))

    def test_daemon_restart(self):
        """A daemon restart leaves QEMU and its virtiofsd running; the new daemon reattaches the VM
        and still ends the virtiofsd with it."""
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], shared_folders=self.fields()[:1],
                         kernel_boot=linuxguest.kernel_boot(self.tmp, '$B mount -t virtiofs work /mnt && $B sleep 600',
                                                            modules=linuxguest.VIRTIOFS_MODULES))
        self.daemon.action(vm['id'], 'start')
        self.daemon.wait_state(vm['id'], 'running', timeout=60)
        pids = self.virtiofsd_of(vm['id'])
        self.assertEqual(len(pids), 1)
        self.daemon.restart()
        self.daemon.wait_state(vm['id'], 'running', timeout=30)
        self.assertEqual(self.virtiofsd_of(vm['id']), pids, 'virtiofsd went with the daemon')
        self.daemon.action(vm['id'], 'kill')
        self.daemon.wait_state(vm['id'], 'stopped', timeout=30)
        deadline = time.time() + 10
        while self.virtiofsd_of(vm['id']) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.virtiofsd_of(vm['id']), [])

    def test_bad_input(self):
        st, js, _ = self.api('POST', '/api/v1/vms', body={'name': 'm', 'memory_mib': 128, 'disks': [],
                                                         'shared_folders': [{'path': self.shares.rw, 'tag': 'a', 'mode': 'nfs'}]})
        self.assertError((st, js, _), 400, 'invalid_field')
        self.assertEqual(js['error']['message'], 'shared_folders[0].mode: must be "9p" or "virtiofs"')
        vm = self.new_vm(memory_mib=128, disks=[], shared_folders=self.fields())
        v = self.daemon.ok('PATCH', '/api/v1/vms/%s' % vm['id'], body={'shared_folders': [{'path': self.shares.rw, 'tag': 'a'}]})
        self.assertEqual(v['shared_folders'][0]['mode'], '9p')  # the default
