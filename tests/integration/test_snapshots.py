# SPDX-License-Identifier: GPL-2.0-or-later
"""VM snapshots against real QEMU and real qcow2 disks: disk-only snapshots of a stopped VM (the
disk content really goes back: written and read with qemu-io), snapshots with memory of a running
VM (the screen of a paused memtest86+ comes back byte for byte), a stopped VM started from a
snapshot with memory (-loadvm), two disks (a snapshot is on both or on none: a failure on the
second disk is undone on the first), concurrent requests, and every bad input."""

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import (MEMTEST_ISO, MEMTEST_WITH_DISK, QEMU_IMG, QEMU_IO, Daemon, DaemonTestCase,
                     image_snapshots as disk_snapshots, needs_qemu_build, qemu_io, same_pixels)


def qmp_connect(path, timeout=20):
    """A QMP session on unix socket PATH, capabilities negotiated: its file."""
    deadline = time.time() + timeout
    while True:
        try:
            c = socket.socket(socket.AF_UNIX)
            c.settimeout(timeout)
            c.connect(path)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    f = c.makefile('rw')
    json.loads(f.readline())
    qmp_cmd(f, 'qmp_capabilities')
    return f


def qmp_cmd(f, cmd, args=None):
    f.write(json.dumps({'execute': cmd, 'arguments': args or {}}) + '\n')
    f.flush()
    while True:
        r = json.loads(f.readline())
        if 'event' not in r:
            if 'error' in r:
                raise AssertionError('%s: %r' % (cmd, r))
            return r['return']


class SnapshotTest(DaemonTestCase):
    def paused_memtest(self):
        """A VM with a disk running memtest86+, paused once its screen is drawn: (id, screenshot PNG)."""
        vid = self.new_vm(**MEMTEST_WITH_DISK)['id']
        return vid, self.daemon.start_and_pause_on_frame(vid)

    def test_stopped_vm_disk_snapshots(self):
        vm = self.new_vm(memory_mib=128, disks=[{'size_gib': 1}])
        vid, disk = vm['id'], vm['disks'][0]['path']
        self.assertEqual(self.daemon.snapshots(vid), [])
        self.assertTrue(qemu_io(disk, 'write -P 0x11 0 64k'))
        s = self.daemon.take_snapshot(vid, 'base')
        self.assertEqual((s['name'], s['memory'], s['memory_bytes']), ('base', False, 0), s)
        self.assertLess(abs(s['created_at'] - time.time()), 60, s)
        self.assertEqual(disk_snapshots(disk), ['base'])
        # Changes after the snapshot are undone by restoring it.
        self.assertTrue(qemu_io(disk, 'write -P 0x22 0 64k'))
        self.assertTrue(qemu_io(disk, 'read -P 0x22 0 64k'))
        vmj = self.daemon.restore_snapshot(vid, 'base')
        self.assertEqual(vmj['state'], 'stopped', vmj)
        self.assertTrue(qemu_io(disk, 'read -P 0x11 0 64k'), 'the disk did not go back to the snapshot')
        self.daemon.take_snapshot(vid, 'second')
        self.assertEqual([x['name'] for x in self.daemon.snapshots(vid)], ['base', 'second'])
        self.assertEqual(self.daemon.ok('DELETE', '/api/v1/vms/%s/snapshots/base' % vid), {'deleted': 'base'})
        self.assertEqual(disk_snapshots(disk), ['second'])
        self.assertEqual([x['name'] for x in self.daemon.snapshots(vid)], ['second'])

    def test_running_vm_snapshot_with_memory(self):
        vid, shot = self.paused_memtest()
        before = hashlib.sha256(shot).hexdigest()
        s = self.daemon.take_snapshot(vid, 'live')
        self.assertTrue(s['memory'], s)
        self.assertGreater(s['memory_bytes'], 0, s)
        self.assertGreater(s['vm_clock_ms'], 0, s)
        self.assertEqual(self.daemon.vm(vid)['state'], 'paused')
        # memtest86+ keeps drawing (its clock): the screen moves on ...
        self.daemon.wait_screen_moves(vid, before)
        # ... and restoring the snapshot brings the paused machine back to that moment.
        vmj = self.daemon.restore_snapshot(vid, 'live')
        self.assertEqual(vmj['state'], 'paused', vmj)
        self.assertEqual(self.daemon.screenshot_hash(vid), before, 'the screen after restore is not the snapshot\'s')
        # Restored while running, it runs on from there; the clipboard chardev came back after savevm
        # (a second snapshot works, which the chardev swap makes possible at all).
        self.daemon.action(vid, 'resume')
        self.assertEqual(self.daemon.restore_snapshot(vid, 'live')['state'], 'running')
        self.assertTrue(self.daemon.take_snapshot(vid, 'live2')['memory'])
        # Loaded into the running QEMU only when it runs the machine type the snapshot was saved on.
        machine = self.daemon.ok('GET', '/api/v1/host')['arches']['x86_64']['qemu']['machine']
        self.assertEqual([(x.get('machine'), x.get('cpu')) for x in self.daemon.snapshots(vid) if x['name'] == 'live'],
                         [(machine, 'max')])
        self.set_snap_machine(vid, 'live', 'pc-q35-6.0')
        st, body, _ = self.api('POST', '/api/v1/vms/%s/snapshots/live/restore' % vid, timeout=60)
        self.assertEqual((st, body['error']['code']), (409, 'snapshot_incompatible'), body)
        self.assertIn('saved on machine type pc-q35-6.0 with -cpu max and the VM runs %s with -cpu max' % machine,
                      body['error']['message'])
        self.assertEqual(self.daemon.vm(vid)['state'], 'running')
        self.set_snap_machine(vid, 'live', machine)
        # A disk-only snapshot cannot be restored into a running VM.
        self.daemon.action(vid, 'kill')
        self.daemon.take_snapshot(vid, 'cold')
        self.daemon.action(vid, 'start')
        self.assertError(self.api('POST', '/api/v1/vms/%s/snapshots/cold/restore' % vid), 409, 'invalid_state',
                         msg='disk-only snapshot into a running VM')
        self.daemon.ok('DELETE', '/api/v1/vms/%s/snapshots/live2' % vid)
        self.assertEqual([x['name'] for x in self.daemon.snapshots(vid)], ['live', 'cold'])

    def test_stopped_vm_starts_from_memory_snapshot(self):
        vid, before = self.paused_memtest()
        self.daemon.take_snapshot(vid, 'frozen')
        self.daemon.action(vid, 'kill')
        # Restoring it starts QEMU from the saved moment (-loadvm): memtest86+'s screen is there at
        # once (a boot from scratch shows SeaBIOS or QEMU's placeholder first), nearly pixel for
        # pixel (only its clock and progress have moved on).
        machine = self.daemon.ok('GET', '/api/v1/host')['arches']['x86_64']['qemu']['machine']
        self.assertEqual([x.get('machine') for x in self.daemon.snapshots(vid)], [machine])
        vmj = self.daemon.restore_snapshot(vid, 'frozen')
        self.assertEqual(vmj['state'], 'running', vmj)
        self.daemon.action(vid, 'pause')
        st, after, _ = self.daemon.screenshot(vid)
        same = same_pixels(before, after)
        self.assertGreater(same, 0.97, 'the first screen after restore is not the snapshot\'s (%.3f equal)' % same)
        self.assertIn('-loadvm frozen', self.log_text(vid))
        # The next plain start is a normal boot: -loadvm was for that start only.
        self.daemon.action(vid, 'kill')
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vid)['argv']
        self.assertNotIn('-loadvm', argv)
        # The start from it names the machine type it was saved on; one this QEMU lacks is refused.
        self.assertIn('-machine %s ' % machine, self.log_text(vid))
        self.set_snap_machine(vid, 'frozen', 'pc-q35-1.0')
        st, body, _ = self.api('POST', '/api/v1/vms/%s/snapshots/frozen/restore' % vid, timeout=60)
        self.assertEqual((st, body['error']['code']), (409, 'snapshot_incompatible'), body)
        self.assertIn('saved on machine type pc-q35-1.0, which QEMU', body['error']['message'])
        self.assertEqual(self.daemon.vm(vid)['state'], 'stopped')
        # Deleting the snapshot forgets its machine type.
        self.daemon.ok('DELETE', '/api/v1/vms/%s/snapshots/frozen' % vid, timeout=60)
        self.assertEqual(self.snap_machines(vid), [])

    def running_argv(self, vid):
        a = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vid)
        self.assertTrue(a.get('running'), a)
        return a['argv']

    def test_aarch64_snapshot_keeps_its_cpu(self):
        """An aarch64 guest under TCG runs -cpu max,pauth-impdef=on (QEMU's cheap pointer
        authentication); its memory snapshot records that CPU and a start from it uses it. A
        snapshot saved before CPUs were recorded, by a command line with the plain max of then (made
        here by running QEMU itself on the VM's files), starts with plain max: its saved CPU state
        does not load into the other one."""
        vm = self.new_vm(arch='aarch64', memory_mib=256, cpus=1, disks=[{'size_gib': 1, 'interface': 'virtio'}])
        vid = vm['id']
        # the old way: the same command line with -cpu max, savevm through QEMU's own monitor
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vid)['argv']
        self.assertEqual(argv[argv.index('-cpu') + 1], 'max,pauth-impdef=on')
        argv[argv.index('-cpu') + 1] = 'max'
        tmp = tempfile.mkdtemp(prefix='qhm-oldsnap-')
        self.addCleanup(shutil.rmtree, tmp, True)
        mon = os.path.join(tmp, 'qmp.sock')
        argv = [('socket,id=charmonitor,path=%s,server=on,wait=off' % mon if a.startswith('socket,id=charmonitor')
                 else 'null,id=serial0' if a.startswith('socket,id=serial0')
                 else 'null,id=vdagent0' if a.startswith('qemu-vdagent') else a) for a in argv]
        run = os.path.join(self.daemon.data_dir, 'vms', vid, 'run')
        os.makedirs(run, exist_ok=True)
        q = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            f = qmp_connect(mon)
            time.sleep(3)  # the firmware runs
            self.assertEqual(qmp_cmd(f, 'human-monitor-command', {'command-line': 'savevm old'}), '')
            qmp_cmd(f, 'quit')
            self.assertEqual(q.wait(30), 0, q.stderr.read())
        finally:
            if q.poll() is None:
                q.kill()
                q.wait()
        self.assertEqual([(s['name'], s['memory'], s.get('cpu')) for s in self.daemon.snapshots(vid)],
                         [('old', True, None)])
        self.assertEqual(self.daemon.restore_snapshot(vid, 'old')['state'], 'running')
        argv = self.running_argv(vid)
        self.assertEqual((argv[argv.index('-machine') + 1], argv[argv.index('-cpu') + 1]),
                         ('virt,gic-version=max', 'max'))
        self.daemon.action(vid, 'kill')
        # today's: the snapshot records machine type and CPU, and comes back with them
        self.daemon.action(vid, 'start')
        self.daemon.wait_real_frame(vid, 120)
        self.daemon.action(vid, 'pause')
        self.daemon.take_snapshot(vid, 'arm')
        machine = self.daemon.ok('GET', '/api/v1/host')['arches']['aarch64']['qemu']['machine']
        self.assertEqual([(s['name'], s.get('machine'), s.get('cpu')) for s in self.daemon.snapshots(vid)],
                         [('old', None, None), ('arm', machine, 'max,pauth-impdef=on')])
        self.daemon.action(vid, 'kill')
        self.assertEqual(self.daemon.restore_snapshot(vid, 'arm')['state'], 'running')
        argv = self.running_argv(vid)
        self.assertEqual((argv[argv.index('-machine') + 1], argv[argv.index('-cpu') + 1]),
                         (machine + ',gic-version=max', 'max,pauth-impdef=on'))
        self.daemon.action(vid, 'kill')

    def db(self):
        return sqlite3.connect(os.path.join(self.daemon.data_dir, 'qemu-hmos.sqlite3'), timeout=10)

    def set_snap_machine(self, vid, name, machine):
        with self.db() as c:
            self.assertEqual(c.execute('UPDATE vm_snap_machine SET machine = ? WHERE vm_id = ? AND name = ?',
                                       (machine, vid, name)).rowcount, 1)

    def snap_machines(self, vid):
        with self.db() as c:
            return c.execute('SELECT name, machine FROM vm_snap_machine WHERE vm_id = ?', (vid,)).fetchall()

    def log_text(self, vid):
        st, data, _ = self.api('GET', '/api/v1/vms/%s/log?tail=400' % vid)
        self.assertEqual(st, 200)
        return data.decode() if isinstance(data, bytes) else json.dumps(data)

    def test_two_disks_all_or_nothing(self):
        vm = self.new_vm(memory_mib=128, disks=[{'size_gib': 1}, {'size_gib': 1}])
        vid, d0, d1 = vm['id'], vm['disks'][0]['path'], vm['disks'][1]['path']
        self.daemon.take_snapshot(vid, 'both')
        self.assertEqual((disk_snapshots(d0), disk_snapshots(d1)), (['both'], ['both']))
        # A name on one disk only is not a snapshot of the VM.
        subprocess.run([QEMU_IMG, 'snapshot', '-c', 'half', d0], check=True)
        self.assertEqual([x['name'] for x in self.daemon.snapshots(vid)], ['both'])
        self.assertError(self.api('POST', '/api/v1/vms/%s/snapshots/half/restore' % vid), 404, 'not_found')
        # The second disk cannot take one (another process holds its write lock): the first disk's
        # is undone.
        holder = subprocess.Popen([QEMU_IO, '-f', 'qcow2', d1], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)  # qemu-io has opened (and locked) the image
            self.assertError(self.api('POST', '/api/v1/vms/%s/snapshots' % vid, body={'name': 'broken'}), 500,
                             'snapshot_failed')
        finally:
            holder.communicate(b'quit\n', timeout=10)
        self.assertEqual(disk_snapshots(d0), ['both', 'half'], 'the first disk kept a half-taken snapshot')
        self.assertEqual([x['name'] for x in self.daemon.snapshots(vid)], ['both'])

    def test_stopped_vm_snapshot_includes_uefi_variables(self):
        """A stopped VM's snapshot includes efivars.qcow2 as savevm does: a restore brings the UEFI
        variables back with the disks, a delete removes it there too; a snapshot the store lacks (one
        from before it took part) is still the disks' to restore and delete."""
        arches = self.daemon.ok('GET', '/api/v1/host')['arches']
        if not arches.get('aarch64', {}).get('available'):
            self.skipTest('no aarch64 UEFI firmware')
        vm = self.new_vm(arch='aarch64', memory_mib=128, disks=[{'size_gib': 1}])  # its store from create
        vid, disk = vm['id'], vm['disks'][0]['path']
        vars_path = os.path.join(self.daemon.data_dir, 'vms', vid, 'efivars.qcow2')
        self.assertTrue(qemu_io(vars_path, 'write -P 0x31 0 64k'))
        self.daemon.take_snapshot(vid, 'fw')
        self.assertEqual((disk_snapshots(disk), disk_snapshots(vars_path)), (['fw'], ['fw']))
        self.assertTrue(qemu_io(vars_path, 'write -P 0x32 0 64k'))
        self.daemon.restore_snapshot(vid, 'fw')
        self.assertTrue(qemu_io(vars_path, 'read -P 0x31 0 64k'), 'the UEFI variables did not go back')
        # not the store's: restored and deleted on the disks alone
        subprocess.run([QEMU_IMG, 'snapshot', '-c', 'old', disk], check=True)
        self.assertEqual([x['name'] for x in self.daemon.snapshots(vid)], ['fw', 'old'])
        self.daemon.restore_snapshot(vid, 'old')
        self.daemon.ok('DELETE', '/api/v1/vms/%s/snapshots/old' % vid)
        self.daemon.ok('DELETE', '/api/v1/vms/%s/snapshots/fw' % vid)
        self.assertEqual((disk_snapshots(disk), disk_snapshots(vars_path)), ([], []))

    def test_concurrent_requests_lose_nothing(self):
        vm = self.new_vm(memory_mib=128, disks=[{'size_gib': 1}])
        vid = vm['id']
        results = {}

        def take(i):
            results[i] = self.api('POST', '/api/v1/vms/%s/snapshots' % vid, body={'name': 's%d' % i}, timeout=60)

        threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        made = set()
        for i, (st, js, _) in results.items():
            self.assertIn(st, (201, 409), js)
            if st == 201:
                made.add('s%d' % i)
            else:
                self.assertEqual(js['error']['code'], 'busy', js)
        self.assertTrue(made)
        self.assertEqual({x['name'] for x in self.daemon.snapshots(vid)}, made)
        self.assertEqual(set(disk_snapshots(vm['disks'][0]['path'])), made)

    def test_bad_input(self):
        vm = self.new_vm(memory_mib=128, disks=[{'size_gib': 1}])
        vid = vm['id']
        base = '/api/v1/vms/%s/snapshots' % vid
        for name in ('', 'a b', '123', 'x' * 65, 'a/b', "it's", 'tab\there', '..', '.', '-c', 42, None):
            self.assertError(self.api('POST', base, body={'name': name}), 400, 'invalid_field', msg=repr(name))
        self.assertError(self.api('POST', base, body={}), 400, 'invalid_field')
        self.assertError(self.api('POST', base, body={'name': 'ok', 'extra': 1}), 400, 'invalid_field')
        self.assertError(self.api('POST', base, raw=b'{not json'), 400, 'malformed_json')
        self.daemon.take_snapshot(vid, 'one')
        self.assertError(self.api('POST', base, body={'name': 'one'}), 409, 'conflict')
        self.assertError(self.api('DELETE', base + '/two'), 404, 'not_found')
        self.assertError(self.api('POST', base + '/two/restore'), 404, 'not_found')
        self.assertError(self.api('POST', base + '/one/rollback'), 404, 'not_found')
        self.assertError(self.api('PUT', base), 405, 'method_not_allowed')
        self.assertError(self.api('GET', base + '/one'), 405, 'method_not_allowed')
        self.assertError(self.api('GET', '/api/v1/vms/0000000000000000/snapshots'), 404, 'not_found')
        # A name fine for the daemon but not a word for QEMU's monitor never reaches it.
        self.assertEqual([x['name'] for x in self.daemon.snapshots(vid)], ['one'])
        # Non-ASCII names are names.
        s = self.daemon.take_snapshot(vid, '快照-1')
        self.assertEqual(s['name'], '快照-1')
        self.daemon.restore_snapshot(vid, urllib.parse.quote('快照-1'))
        # No disk: nowhere to keep a snapshot.
        nod = self.new_vm(memory_mib=128, disks=[])
        self.assertEqual(self.daemon.snapshots(nod['id']), [])
        self.assertError(self.api('POST', '/api/v1/vms/%s/snapshots' % nod['id'], body={'name': 'x'}), 409,
                         'no_disk')
        # The daemon still serves.
        self.daemon.ok('GET', '/api/v1/vms')


@needs_qemu_build
class SnapshotAcrossQemuVersionsTest(unittest.TestCase):
    """A memory snapshot saved under Debian's QEMU 7.2 (on pc-q35-7.2, what q35 meant there) is
    restored by the same daemon data under our QEMU 10 (`--qemu built`; by exec, so that the
    sanitizer build runs it too: the child launcher's own snapshot test is test_launcher's), where q35
    means pc-q35-10.0 and the saved device state would not load: the start from the snapshot names
    pc-q35-7.2 and the machine comes back at the saved moment. Skipped without a QEMU build."""

    def test_saved_on_72_restored_on_10(self):
        from test_qemu_build import cache_dir
        if not os.path.exists(os.path.join(cache_dir(), 'manifest.json')):
            self.skipTest('no QEMU build in %s (make qemu builds it)' % cache_dir())
        if '--qemu' in os.environ.get('QHM_DAEMON_ARGS', ''):
            self.skipTest('QHM_DAEMON_ARGS picks the QEMU of every daemon: %s' % os.environ['QHM_DAEMON_ARGS'])
        d = Daemon()
        self.addCleanup(d.teardown)
        d.start()
        m72 = d.ok('GET', '/api/v1/host')['arches']['x86_64']['qemu']['machine']
        vid = d.create(name='across', arch='x86_64', memory_mib=128, cpus=1, disks=[{'size_gib': 1}],
                       cdrom=MEMTEST_ISO, boot_order=['cdrom', 'disk'])['id']
        d.action(vid, 'start')
        d.wait_real_frame(vid, 120)
        d.action(vid, 'pause')
        st, before, _ = d.screenshot(vid)
        self.assertEqual(st, 200)
        d.ok('POST', '/api/v1/vms/%s/snapshots' % vid, body={'name': 'on72'}, expect=201, timeout=120)
        d.action(vid, 'kill')
        d.stop()

        d.extra_args = ['--qemu', 'built']
        d.start()
        q = d.ok('GET', '/api/v1/host')['arches']['x86_64']['qemu']
        self.assertTrue(q['version'].startswith('10.'), q)
        self.assertNotEqual(q['machine'], m72, q)
        self.assertEqual([s.get('machine') for s in d.ok('GET', '/api/v1/vms/%s/snapshots' % vid)['snapshots']],
                         [m72])
        vm = d.ok('POST', '/api/v1/vms/%s/snapshots/on72/restore' % vid, timeout=120)
        self.assertEqual(vm['state'], 'running', vm)
        d.action(vid, 'pause')
        st, after, _ = d.screenshot(vid)
        same = same_pixels(before, after)
        self.assertGreater(same, 0.97, 'QEMU 10 did not come back at the 7.2 snapshot (%.3f equal)' % same)
        st, log, _ = d.api('GET', '/api/v1/vms/%s/log?tail=400' % vid)
        log = log.decode() if isinstance(log, bytes) else json.dumps(log)
        self.assertEqual(os.path.realpath(d.ok('GET', '/api/v1/vms/%s' % vid)['qemu_binary']),
                         os.path.realpath(os.path.join(cache_dir(), 'tcg', 'qemu-system-x86_64')))
        self.assertIn('-machine %s ' % m72, log)
        # A plain start is a new boot on QEMU 10's own type again.
        d.action(vid, 'kill')
        argv = d.ok('GET', '/api/v1/vms/%s/cmdline' % vid)['argv']
        self.assertEqual(argv[argv.index('-machine') + 1], 'q35')
