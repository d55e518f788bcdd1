# SPDX-License-Identifier: GPL-2.0-or-later
"""A data directory on a small filesystem (a tmpfs mounted here, so root only) that fills up
(issue 12, "Disk full and I/O errors"):

- a guest writing its disk until the host filesystem is full: QEMU pauses it (werror=enospc), the
  VM shows `paused` with a "disk full" reason naming the disk, and after space is freed a resume
  lets the guest's write complete, unharmed (the Linux test guest of linuxguest.py, a 1 GiB qcow2
  disk on a filesystem with ~100 MiB free);
- create, clone, snapshot, download and upload on a nearly full data directory: 507
  insufficient_storage, and nothing half-made left in DATA/vms, DATA/images or DATA/downloads;
- a read-only data directory at start: a clear message on stderr and a non-zero exit."""

import functools
import http.client
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import linuxguest
import openapi
from harness import Daemon, daemon_path, error_code, error_message, image_snapshots, qemu_io

MIB = 1 << 20


def _mount_tmpfs(path, size_mib):
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%dm,mode=0711' % size_mib, 'tmpfs', path], check=True)


def _resize(path, size_kib, ro=False):
    subprocess.run(['mount', '-o', 'remount,%s,size=%dk' % ('ro' if ro else 'rw', size_kib), path], check=True)


def _used_kib(path):
    s = os.statvfs(path)
    return (s.f_blocks - s.f_bfree) * s.f_frsize // 1024


def _free_mib(path):
    s = os.statvfs(path)
    return s.f_bavail * s.f_frsize // MIB


def _entries(d):
    """What a directory holds, hidden files included (half-made files are often hidden)."""
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, *a):  # the daemon hangs up once it has the size: expected
        pass


@unittest.skipUnless(os.geteuid() == 0, 'mounting a small filesystem (tmpfs) for the data directory needs root')
class DiskFullTest(unittest.TestCase):
    def setUp(self):
        # A base the VMs' unprivileged user can traverse, the mount point in it.
        self.base = tempfile.mkdtemp(prefix='qhm-full-')
        os.chmod(self.base, 0o711)
        self.mnt = os.path.join(self.base, 'data')
        os.mkdir(self.mnt)
        self.mounted = False
        self.daemon = None
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        if self.daemon:
            if self.mounted:  # a full or read-only filesystem would fail the VMs' cleanup
                try:
                    _resize(self.mnt, 4 << 20)
                except subprocess.CalledProcessError:
                    pass
            self.daemon.teardown()
        if self.mounted:
            subprocess.run(['umount', '-l', self.mnt], check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    def mount(self, size_mib):
        _mount_tmpfs(self.mnt, size_mib)
        self.mounted = True

    def start_daemon(self):
        self.daemon = Daemon(data_dir=self.mnt)
        self.daemon.start()
        return self.daemon

    def leave_free(self, mib):
        """Shrink the filesystem so that about MIB MiB stay free (tmpfs: nothing to fill first)."""
        _resize(self.mnt, _used_kib(self.mnt) + mib * 1024)
        self.assertLessEqual(abs(_free_mib(self.mnt) - mib), 2)

    # -- a guest that fills the disk --

    def test_guest_filling_the_disk_is_paused_then_resumed(self):
        self.mount(4096)  # room enough to create a 1 GiB disk (the create keeps a 1 GiB reserve)
        d = self.start_daemon()
        kernel, _ = linuxguest.kernel()
        gdir = tempfile.mkdtemp(prefix='qhm-full-guest-')
        self.addCleanup(shutil.rmtree, gdir, True)
        os.chmod(gdir, 0o755)
        # 150 MiB of 'Z' (0x5a) from sector 0 (more than the ~100 MiB left), then a marker with the
        # write's exit status at 200 MiB: the guest must never see an error.
        script = ("$B dd if=/dev/zero bs=1M count=150 2>/dev/null | $B tr '\\000' Z | "
                  "$B dd of=/dev/vda bs=1M conv=fsync 2>/dev/null\n"
                  "rc=$?\n"
                  "echo DONE$rc | $B dd of=/dev/vda bs=512 seek=409600 conv=fsync 2>/dev/null")
        initrd = linuxguest.build_initrd(os.path.join(gdir, 'initrd.gz'), script,
                                         modules=['virtio_pci', 'virtio_blk'])
        os.chmod(initrd, 0o644)
        vm = d.create(name='filler', memory_mib=256, cpus=1, disks=[{'size_gib': 1, 'interface': 'virtio'}],
                      kernel_boot={'kernel': kernel, 'initrd': initrd,
                                   'cmdline': 'console=ttyS0 quiet panic=-1'})
        disk = vm['disks'][0]['path']
        self.leave_free(100)
        d.action(vm['id'], 'start')
        v = d.wait_state(vm['id'], ('paused', 'stopped', 'crashed'), timeout=300, interval=0.5)
        self.assertEqual(v['state'], 'paused', v)
        reason = v['state_reason']
        self.assertTrue(reason.startswith('disk full'), reason)
        self.assertIn('disks[0] (%s)' % disk, reason)
        self.assertLess(_free_mib(self.mnt), 2)
        # A restarted daemon finds the reason again (QEMU's io-status per disk, query-block). It
        # needs a few KiB for run/endpoint.json: 1 MiB more, far from the guest's 150 MiB write.
        _resize(self.mnt, _used_kib(self.mnt) + 1024)
        d.restart()
        deadline = time.time() + 60
        while True:
            v = d.vm(vm['id'])
            if v['state'] == 'paused' and v['state_reason'] == reason or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual((v['state'], v['state_reason']), ('paused', reason))
        # Still full: a resume runs the write again, which pauses the VM again with the same reason.
        d.ok('POST', '/api/v1/vms/%s/resume' % vm['id'])
        v = d.wait_state(vm['id'], 'paused', timeout=60, interval=0.5)
        self.assertTrue(v['state_reason'].startswith('disk full'), v)
        # Space freed: the write completes and the guest powers off by itself.
        _resize(self.mnt, 4 << 20)
        v = d.ok('POST', '/api/v1/vms/%s/resume' % vm['id'])
        self.assertIn(v['state'], ('running', 'stopped'), v)
        v = d.wait_state(vm['id'], ('stopped', 'crashed'), timeout=300, interval=0.5)
        self.assertEqual((v.get('last_exit') or {}).get('status'), 'stopped', v)
        self.assertTrue(qemu_io(disk, 'read -P 0x5a 0 150M'), 'the guest\'s 150 MiB are not all on the disk')
        out = subprocess.run(['qemu-io', '-f', 'qcow2', '-c', 'read -v 209715200 16', disk],
                             capture_output=True, text=True, timeout=60).stdout
        self.assertIn('DONE0', out, 'the guest\'s dd failed (or never finished): %s' % out)

    # -- operations on a nearly full data directory --

    def test_nearly_full_data_dir_refuses_with_507_and_leaves_nothing(self):
        self.mount(4096)
        d = self.start_daemon()
        vm = d.create(name='src', memory_mib=128, disks=[{'size_gib': 1}])
        disk = vm['disks'][0]['path']
        self.assertTrue(qemu_io(disk, 'write -P 0x33 0 8M'))
        www = tempfile.mkdtemp(prefix='qhm-full-www-')
        self.addCleanup(shutil.rmtree, www, True)
        with open(os.path.join(www, 'big.iso'), 'wb') as f:
            f.write(b'\0' * (40 * MIB))
        srv = QuietServer(('127.0.0.1', 0), functools.partial(QuietHandler, directory=www))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        self.leave_free(30)

        before = {sub: _entries(os.path.join(self.mnt, sub)) for sub in ('vms', 'images', 'downloads')}

        def full(resp, what):
            st, js, _ = resp
            self.assertEqual((st, error_code(js)), (507, 'insufficient_storage'), '%s: %r' % (what, js))
            self.assertRegex(error_message(js), 'free|[Nn]o space', what)

        full(d.api('POST', '/api/v1/vms', body={'name': 'new', 'memory_mib': 128, 'disks': [{'size_gib': 1}]}),
             'create')
        full(d.api('POST', '/api/v1/vms/%s/clone' % vm['id'], body={'name': 'copy'}), 'clone')
        full(d.api('POST', '/api/v1/vms/%s/snapshots' % vm['id'], body={'name': 'snap'}), 'snapshot')
        self.assertEqual(image_snapshots(disk), [])
        full(d.api('POST', '/api/v1/downloads', body={'url': 'http://127.0.0.1:%d/big.iso' % srv.server_port}),
             'download')
        # An upload that says its size is refused before its body; one that does not (chunked) is
        # stopped when the filesystem fills, and its temporary file removed.
        full(self.upload(d, 'said.iso', 40, chunked=False), 'upload with Content-Length')
        full(self.upload(d, 'chunked.iso', 40, chunked=True), 'chunked upload')

        after = {sub: _entries(os.path.join(self.mnt, sub)) for sub in ('vms', 'images', 'downloads')}
        self.assertEqual(after, before)
        self.assertEqual([v['name'] for v in d.ok('GET', '/api/v1/vms')['vms']], ['src'])
        self.assertEqual(d.ok('GET', '/api/v1/images')['images'], [])
        self.assertGreaterEqual(_free_mib(self.mnt), 28)  # nothing left taking the space

    def upload(self, d, name, mib, chunked):
        conn = http.client.HTTPConnection(d.host, d.port, timeout=60)
        hdrs = dict(d.auth_headers())
        hdrs['Content-Type'] = 'application/octet-stream'
        chunk = b'U' * MIB
        try:
            if chunked:
                conn.request('PUT', '/api/v1/images/upload?name=' + name, body=(chunk for _ in range(mib)),
                             headers=hdrs, encode_chunked=True)
            else:
                hdrs['Content-Length'] = str(mib * MIB)
                conn.putrequest('PUT', '/api/v1/images/upload?name=' + name)
                for k, v in hdrs.items():
                    conn.putheader(k, v)
                conn.endheaders()
                for _ in range(mib):
                    conn.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early; the answer is still there to read
        r = conn.getresponse()
        body = r.read()
        conn.close()
        openapi.check('PUT', '/api/v1/images/upload?name=' + name, hdrs, b'U' * MIB * mib, r.status,
                      dict(r.getheaders()), body)  # docs/openapi.yaml
        return r.status, json.loads(body), {}

    # -- a read-only data directory --

    def serve(self, data_dir):
        p = subprocess.run([daemon_path(), 'serve', '--data-dir', data_dir, '--port', '0', '--ws-port', '0'],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr

    def test_read_only_data_dir_at_start(self):
        self.mount(64)
        d = self.start_daemon()
        d.stop()
        _resize(self.mnt, 64 * 1024, ro=True)
        rc, err = self.serve(self.mnt)
        self.assertGreater(rc, 0, err)  # an exit, not a signal
        self.assertIn('qemu-hmos: the data directory %s is not writable: Read-only file system' % self.mnt, err)
        # A new data directory below a read-only mount: as clear.
        rc, err = self.serve(os.path.join(self.mnt, 'new'))
        self.assertGreater(rc, 0, err)
        self.assertIn('Read-only file system', err)
        self.assertIn(os.path.join(self.mnt, 'new'), err)
        _resize(self.mnt, 64 * 1024)


if __name__ == '__main__':
    unittest.main()
