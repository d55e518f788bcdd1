# SPDX-License-Identifier: GPL-2.0-or-later
"""Every QEMU feature on every arch (CONVENTIONS 14, issue 12): a real frame, pause/resume, a snapshot
with memory of a running VM (the paused screen comes back), a disk-only snapshot of a stopped VM (the
disk content comes back: qemu-io), and QEMU killed with SIGKILL recorded as a crash — for x86_64
(memtest86+x64; and with UEFI: OVMF's screen), i386 (memtest86+ia32, behind Debian's wrapper script)
and aarch64 (UEFI firmware screen). Reattach per arch is test_reattach.ArchReattachTest.

One class (one daemon) per arch and firmware shares one VM across its features: the tests run in the order
written, and each brings the VM to the state it needs first, so any of them also runs alone (-k)."""

import hashlib
import os
import signal
import time

from harness import (MEMTEST_IA32_ISO, MEMTEST_ISO, DaemonTestCase, image_snapshots, pid_alive,
                     qemu_io, shows_memtest, wait_pid_gone)


class _ArchMatrix:
    """The features; a subclass names its arch, its VM and how long its guest takes to draw."""

    ARCH = None
    LABEL = None         # the tests' suffix when not the arch alone (another firmware)
    FIELDS = {}
    DISK = {}            # the arch's default interface unless said
    FRAME_TIMEOUT = 90   # TCG on a shared CPU: aarch64 UEFI takes the longest
    ACCEPT = None        # what the guest's screen must show beyond "a real frame"
    SCREEN_MOVES = False  # the guest redraws by itself (memtest's clock): a paused screen is a moment

    vm_id = None  # the class's VM, made by the first test that needs it

    # -- the shared VM --
    def vm(self):
        cls = type(self)
        if cls.vm_id is None:
            vm = self.daemon.create(name='matrix-' + (self.LABEL or self.ARCH), arch=self.ARCH, cpus=1,
                                    disks=[dict(size_gib=1, **self.DISK)], **self.FIELDS)
            cls.vm_id = vm['id']
        return cls.vm_id

    def running(self):
        """The VM running with its guest on screen: (id, QEMU pid)."""
        vid = self.vm()
        g = self.daemon.vm(vid)
        if g['state'] == 'paused':
            g = self.daemon.action(vid, 'resume')
        if g['state'] != 'running':
            g = self.daemon.action(vid, 'start', timeout=90)
            self.assertEqual(g['state'], 'running', g)
            self.daemon.wait_real_frame(vid, self.FRAME_TIMEOUT, accept=self.ACCEPT)
        return vid, g['pid']

    def stopped(self):
        vid = self.vm()
        g = self.daemon.vm(vid)
        if g['state'] not in ('stopped', 'crashed'):
            pid = g['pid']
            self.assertEqual(self.daemon.action(vid, 'kill')['state'], 'stopped')
            self.assertTrue(wait_pid_gone(pid, 5))
        return vid

    def shot_hash(self, vid):
        st, data, h = self.daemon.screenshot(vid)
        self.assertEqual(st, 200, data)
        self.assertTrue(h.get('content-type', '').startswith('image/png'), h)
        return hashlib.sha256(data).hexdigest()

    def snapshots(self, vid):
        return self.daemon.ok('GET', '/api/v1/vms/%s/snapshots' % vid)['snapshots']

    def take(self, vid, name):
        return self.daemon.ok('POST', '/api/v1/vms/%s/snapshots' % vid, body={'name': name}, expect=201,
                              timeout=180)

    def restore(self, vid, name):
        return self.daemon.ok('POST', '/api/v1/vms/%s/snapshots/%s/restore' % (vid, name), timeout=180)

    # -- the features --
    def feature_screenshot(self):
        vid, pid = self.running()
        img = self.daemon.wait_real_frame(vid, self.FRAME_TIMEOUT, accept=self.ACCEPT)
        self.assertGreaterEqual(len(img.colours(16)), 2)
        self.assertTrue(pid_alive(pid))
        self.assertEqual(self.daemon.vm(vid)['qemu_binary'], os.path.realpath('/proc/%d/exe' % pid))

    def feature_pause_resume(self):
        vid, pid = self.running()
        js = self.daemon.action(vid, 'pause')
        self.assertEqual(js['state'], 'paused', js)
        self.assertEqual(js['pid'], pid, js)
        self.assertEqual(self.daemon.vm(vid)['state'], 'paused')
        if self.SCREEN_MOVES:
            # Paused means stopped: the guest draws nothing (memtest's clock stands still).
            h = self.shot_hash(vid)
            time.sleep(2.5)
            self.assertEqual(self.shot_hash(vid), h, 'the screen of a paused guest changed')
        else:
            self.shot_hash(vid)  # a paused VM still has a screen
        js = self.daemon.action(vid, 'resume')
        self.assertEqual((js['state'], js['pid']), ('running', pid), js)
        if self.SCREEN_MOVES:
            h = self.shot_hash(vid)
            deadline = time.time() + 60
            while self.shot_hash(vid) == h:
                self.assertLess(time.time(), deadline, 'the resumed guest did not draw in 60 s')
                time.sleep(1)
        self.daemon.wait_real_frame(vid, 30, accept=self.ACCEPT)

    def feature_snapshot_with_memory(self):
        vid, pid = self.running()
        self.daemon.action(vid, 'pause')
        before = self.shot_hash(vid)
        st, s, _ = self.api('POST', '/api/v1/vms/%s/snapshots' % vid, body={'name': 'live'}, timeout=180)
        self.assertEqual(st, 201, s)
        self.assertEqual((s['name'], s['memory']), ('live', True), s)
        self.assertGreater(s['memory_bytes'], 0, s)
        self.assertGreater(s['vm_clock_ms'], 0, s)
        self.assertEqual(self.daemon.vm(vid)['state'], 'paused')
        self.daemon.action(vid, 'resume')
        if self.SCREEN_MOVES:  # the guest runs on from the snapshot: its screen moves
            deadline = time.time() + 60
            while True:
                time.sleep(1.5)
                self.daemon.action(vid, 'pause')
                if self.shot_hash(vid) != before:
                    break
                self.assertLess(time.time(), deadline, 'the guest screen did not change in 60 s')
                self.daemon.action(vid, 'resume')
        else:
            time.sleep(2)
            self.daemon.action(vid, 'pause')
        # Restored into the paused machine: that moment again, the same QEMU.
        g = self.restore(vid, 'live')
        self.assertEqual((g['state'], g['pid']), ('paused', pid), g)
        self.assertEqual(self.shot_hash(vid), before, 'the screen after restore is not the snapshot\'s')
        self.daemon.action(vid, 'resume')
        # Restored while running: it runs on from there.
        g = self.restore(vid, 'live')
        self.assertEqual((g['state'], g['pid']), ('running', pid), g)
        self.daemon.wait_real_frame(vid, 30, accept=self.ACCEPT)
        self.assertEqual(self.daemon.ok('DELETE', '/api/v1/vms/%s/snapshots/live' % vid), {'deleted': 'live'})

    def feature_crash_record(self):
        vid, pid = self.running()
        t = time.time()
        os.kill(pid, signal.SIGKILL)
        g = self.daemon.wait_state(vid, 'crashed', timeout=5.0, interval=0.05)
        self.assertLess(time.time() - t, 5.5)
        le = g.get('last_exit')
        self.assertIsInstance(le, dict, g)
        self.assertEqual((le.get('status'), le.get('signal'), le.get('signal_name')), ('crashed', 9, 'SIGKILL'), le)
        self.assertIsNone(le.get('exit_code'), le)
        self.assertIsInstance(le.get('log_tail'), list, le)
        self.assertTrue(le['log_tail'], le)
        self.assertFalse(g.get('pid'), g)
        self.assertEqual(self.daemon.host_info()['limits']['committed_mib'], 0)
        # and it starts again
        vid, pid2 = self.running()
        self.assertNotEqual(pid2, pid)

    def feature_snapshot_disk_only_stopped(self):
        vid = self.stopped()
        disk = self.daemon.vm(vid)['disks'][0]['path']
        self.assertTrue(qemu_io(disk, 'write -P 0x11 0 64k'))
        s = self.take(vid, 'cold')
        self.assertEqual((s['name'], s['memory'], s['memory_bytes']), ('cold', False, 0), s)
        self.assertIn('cold', image_snapshots(disk))
        self.assertTrue(qemu_io(disk, 'write -P 0x22 0 64k'))
        g = self.restore(vid, 'cold')
        self.assertIn(g['state'], ('stopped', 'crashed'), g)
        self.assertTrue(qemu_io(disk, 'read -P 0x11 0 64k'), 'the disk did not go back to the snapshot')
        # The restored disk boots as before.
        self.running()
        self.stopped()
        self.assertEqual(self.daemon.ok('DELETE', '/api/v1/vms/%s/snapshots/cold' % vid), {'deleted': 'cold'})
        self.assertEqual(self.snapshots(vid), [])


def per_arch(cls):
    """The features as the class's own tests, named for its arch (run.py takes a class's own
    test methods, in the order they are written)."""
    for name, f in list(vars(_ArchMatrix).items()):
        if name.startswith('feature_'):
            setattr(cls, 'test_%s_%s' % (name[len('feature_'):], cls.LABEL or cls.ARCH), f)
    return cls


@per_arch
class MatrixX86_64Test(_ArchMatrix, DaemonTestCase):
    ARCH = 'x86_64'
    FIELDS = dict(memory_mib=128, cdrom=MEMTEST_ISO, boot_order=['cdrom', 'disk'])
    ACCEPT = staticmethod(shows_memtest)
    SCREEN_MOVES = True


@per_arch
class MatrixX86_64UefiTest(_ArchMatrix, DaemonTestCase):
    """The firmware is part of the matrix too: OVMF, its variable store a qcow2 pflash drive (savevm
    snapshots it with the disk; the memory goes to the disk)."""
    ARCH = 'x86_64'
    LABEL = 'x86_64_uefi'
    FIELDS = dict(memory_mib=256, firmware='uefi')
    FRAME_TIMEOUT = 120


@per_arch
class MatrixI386Test(_ArchMatrix, DaemonTestCase):
    ARCH = 'i386'
    FIELDS = dict(memory_mib=128, cdrom=MEMTEST_IA32_ISO, boot_order=['cdrom', 'disk'])
    ACCEPT = staticmethod(shows_memtest)
    SCREEN_MOVES = True


@per_arch
class MatrixAarch64Test(_ArchMatrix, DaemonTestCase):
    ARCH = 'aarch64'
    FIELDS = dict(memory_mib=512)
    # Not the arch's default nvme: QEMU's nvme device cannot be migrated, so savevm refuses a VM
    # with one ("State blocked by non-migratable device '...nvme'").
    DISK = dict(interface='virtio')
    FRAME_TIMEOUT = 180
