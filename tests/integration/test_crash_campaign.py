# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash consistency campaign: the daemon is killed with SIGKILL at every step boundary of every
multi-step operation and restarted on the same data directory, and the data directory must be
whole again. Kill points are deterministic: QHM_TEST_KILL_POINT=NAME:N (server/core/crashpt.c) makes the
daemon SIGKILL itself the Nth time it reaches the point NAME.

Operations: create (two disks), delete (with and without keep_disks), clone, disk add / grow /
detach (with and without keep), snapshot take / restore / delete (stopped VM, disk-only: two disks,
and two disks plus the UEFI variable store efivars.qcow2 of an aarch64 VM, cut after the journal
row and after each file), image import, upload, image delete, download completion (a real nginx on
127.0.0.1). A VM keeps running through the whole campaign: every restart must reattach it.

Invariants after each restart (docs/architecture.md "Crash consistency"):
  db_integrity    PRAGMA integrity_check is ok
  vm_dir          every VM row has its directory, and every disk its config lists exists
  vm_disk_check   qemu-img check passes on each disk of a stopped VM
  no_stray_dir    DATA/vms holds nothing but the rows' directories (no .deleting-*, no half-made VM)
  no_vm_temp      no .new-* file in a VM directory, no diskN.qcow2 its config does not list
  image_file      every image row has its file, with the recorded size
  no_stray_image  every file in DATA/images has a row (no .upload-*, .import-*, half-written image)
  no_stray_part   every DATA/downloads/*.part belongs to a download that is not completed
  no_temp_anywhere  no temp name anywhere in the data dir (.upload-*, .import-*, .new-*, .deleting-*,
                  NAME.tmp.PID of write_file_atomic, planted before the first run)
  api_vms         GET /vms lists exactly the rows, each in a settled state
  qemu_reported   every QEMU of the data dir is a listed VM's pid; the running VM reattached (same pid)
  snapshots       every disk of a stopped VM has exactly the same snapshot names, efivars.qcow2 too, and
                  the API lists exactly those; the snapshot journal is empty; a take or delete cut short
                  left the name on no file; a restore cut short left every file (efivars.qcow2 too) at
                  the snapshot's content (a distinct qemu-io pattern per file written before the
                  snapshot, another after it)
  api_images      GET /images lists exactly the rows
  import_source   an import's source file is untouched
  download_done   an interrupted download completes after the restart, with the right bytes, and
                  a file already downloaded and verified is not fetched again
  kept_disk       keep_disks / keep leaves a whole disk in DATA/disks, also when cut short; a disk moved
                  aside at start-up (added or detached but not committed) is a whole image too
  operable        every VM and image can be deleted after the restart, a snapshot name taken again
"""

import collections
import hashlib
import json
import re
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

from harness import MEMTEST_ISO, QEMU_IMG, APIError, Daemon, image_snapshots, qemu_io, qemu_pids
from test_downloads import Nginx

KILL_ENV = 'QHM_TEST_KILL_POINT'
# every temp name the daemon uses (server/: grep .part, .upload-, .new-, .tmp, .deleting-)
TEMP_NAME = re.compile(r'^\.(upload|import|new|deleting)-|\.tmp\.\d+$|\.part$')
SETTLED = ('stopped', 'crashed', 'running', 'paused')

# (kill point, Nth arrival, operation)
RUNS = [
    ('create:after_mkdir', 1, 'create'),
    ('create:after_disk', 1, 'create'),
    ('create:after_disk', 2, 'create'),
    ('create:before_row', 1, 'create'),
    ('delete:after_rename', 1, 'delete'),
    ('delete:after_row', 1, 'delete'),
    ('delete:after_row', 1, 'delete_keep'),
    ('delete:before_rm', 1, 'delete'),
    ('delete:before_rm', 1, 'delete_keep'),
    ('clone:after_mkdir', 1, 'clone'),
    ('clone:after_disk', 1, 'clone'),
    ('clone:after_disk', 2, 'clone'),
    ('clone:before_row', 1, 'clone'),
    ('disk_add:before_rename', 1, 'disk_add'),
    ('disk_add:before_row', 1, 'disk_add'),
    ('disk_grow:before_row', 1, 'disk_grow'),
    ('disk_detach:after_row', 1, 'disk_detach'),
    ('disk_detach:after_row', 1, 'disk_detach_keep'),
    # _uefi: two disks and efivars.qcow2 (three files); else two disks. after_disk N: after the Nth file,
    # so N = 3 of a _uefi run is after the last one (done, the journal row not yet removed).
    ('snapshot_take:after_journal', 1, 'snapshot_take_uefi'),
    ('snapshot_take:after_disk', 1, 'snapshot_take'),
    ('snapshot_take:after_disk', 2, 'snapshot_take'),
    ('snapshot_take:after_disk', 2, 'snapshot_take_uefi'),
    ('snapshot_take:after_disk', 3, 'snapshot_take_uefi'),
    ('snapshot_restore:after_journal', 1, 'snapshot_restore_uefi'),
    ('snapshot_restore:after_disk', 1, 'snapshot_restore'),
    ('snapshot_restore:after_disk', 1, 'snapshot_restore_uefi'),
    ('snapshot_restore:after_disk', 2, 'snapshot_restore_uefi'),
    ('snapshot_delete:after_journal', 1, 'snapshot_delete_uefi'),
    ('snapshot_delete:after_disk', 1, 'snapshot_delete'),
    ('snapshot_delete:after_disk', 2, 'snapshot_delete_uefi'),
    ('import:before_rename', 1, 'import'),
    ('import:before_row', 1, 'import'),
    ('upload:before_rename', 1, 'upload'),
    ('upload:before_row', 1, 'upload'),
    ('image_delete:after_row', 1, 'image_delete'),
    ('download:before_row', 1, 'download'),
    ('download:before_rename', 1, 'download'),
    ('download:after_rename', 1, 'download'),
]

IMAGE_SIZE = 1 << 20
DOWNLOAD_SIZE = 2 << 20


class CrashCampaignTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='qhm-crash-')
        os.chmod(cls.tmp, 0o755)  # nginx workers started by root run as nobody
        root = os.path.join(cls.tmp, 'www')
        os.makedirs(os.path.join(root, 'files'))
        cls.dl_data = os.urandom(DOWNLOAD_SIZE)
        cls.dl_sha = hashlib.sha256(cls.dl_data).hexdigest()
        with open(os.path.join(root, 'files', 'dl.iso'), 'wb') as f:
            f.write(cls.dl_data)
        cls.nginx = Nginx(root, rate='0').start()
        cls.daemon = Daemon()
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.teardown()
        cls.nginx.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- helpers --
    def api(self, method, path, **k):
        return self.daemon.api(method, path, **k)

    def ok(self, method, path, body=None, expect=(200, 201)):
        return self.daemon.ok(method, path, body=body, expect=expect)

    def new_vm(self, disks=2, arch='x86_64'):
        self.seq += 1
        return self.ok('POST', '/api/v1/vms', body={
            'name': 'crash-%d' % self.seq, 'arch': arch, 'memory_mib': 128, 'cpus': 1,
            'disks': [{'size_gib': 1} for _ in range(disks)]})

    def snap_vm(self, op):
        """A stopped VM for a snapshot run: two disks, plus efivars.qcow2 (an aarch64 VM has it from
        its create) for the _uefi runs when the host has aarch64 UEFI. (vm, its qcow2 files)."""
        uefi = op.endswith('_uefi') and self.aarch64
        vm = self.new_vm(arch='aarch64' if uefi else 'x86_64')
        files = [x['path'] for x in vm['disks']]
        if uefi:
            files.append(os.path.join(self.daemon.data_dir, 'vms', vm['id'], 'efivars.qcow2'))
            assert os.path.isfile(files[-1]), 'an aarch64 VM has its UEFI variable store from create'
        return vm, files

    def image_src(self):
        self.seq += 1
        p = os.path.join(self.tmp, 'src-%d.iso' % self.seq)
        data = os.urandom(IMAGE_SIZE)
        with open(p, 'wb') as f:
            f.write(data)
        return p, hashlib.sha256(data).hexdigest()

    def sql(self, query, *args):
        db = sqlite3.connect(os.path.join(self.daemon.data_dir, 'qemu-hmos.sqlite3'))
        try:
            return db.execute(query, args).fetchall()
        finally:
            db.close()

    # -- one run: set up, trigger, wait for the kill --
    def trigger(self, op, ctx):
        """Set up what OP needs on the daemon (started with the kill point), then start OP.
        CTX gets what the check after the restart needs to know (filled before the request that
        the kill interrupts)."""
        d = self.daemon
        if op == 'create':
            self.seq += 1
            self.api('POST', '/api/v1/vms', body={'name': 'crash-%d' % self.seq, 'arch': 'x86_64',
                                                  'memory_mib': 128, 'disks': [{'size_gib': 1}, {'size_gib': 1}]})
        elif op in ('delete', 'delete_keep'):
            vm = self.new_vm()
            self.api('DELETE', '/api/v1/vms/%s%s' % (vm['id'], '?keep_disks=true' if op == 'delete_keep' else ''))
        elif op == 'clone':
            vm = self.new_vm()
            self.seq += 1
            self.api('POST', '/api/v1/vms/%s/clone' % vm['id'], body={'name': 'clone-%d' % self.seq})
        elif op == 'disk_add':
            vm = self.new_vm(disks=1)
            self.api('POST', '/api/v1/vms/%s/disks' % vm['id'], body={'size_gib': 1})
        elif op == 'disk_grow':
            vm = self.new_vm(disks=1)
            self.api('PATCH', '/api/v1/vms/%s/disks/0' % vm['id'], body={'size_gib': 2})
        elif op in ('disk_detach', 'disk_detach_keep'):
            vm = self.new_vm()
            self.api('DELETE', '/api/v1/vms/%s/disks/1%s' % (vm['id'],
                                                             '?keep_disks=true' if op == 'disk_detach_keep' else ''))
        elif op.startswith('snapshot_take'):
            vm, files = self.snap_vm(op)
            ctx['snap_files'] = {vm['id']: files}
            self.api('POST', '/api/v1/vms/%s/snapshots' % vm['id'], body={'name': 'snap'})
        elif op.startswith('snapshot_restore') or op.startswith('snapshot_delete'):
            vm, files = self.snap_vm(op)
            ctx['snap_files'] = {vm['id']: files}
            # a distinct pattern per file before the snapshot, another after: a restore brings the first back
            for i, p in enumerate(files):
                assert qemu_io(p, 'write -P 0x%x 0 64k' % (0x11 + i)), p
            self.ok('POST', '/api/v1/vms/%s/snapshots' % vm['id'], body={'name': 'snap'})
            for i, p in enumerate(files):
                assert qemu_io(p, 'write -P 0x%x 0 64k' % (0xa1 + i)), p
            if op.startswith('snapshot_restore'):
                ctx['restored'] = {p: 0x11 + i for i, p in enumerate(files)}
                self.api('POST', '/api/v1/vms/%s/snapshots/snap/restore' % vm['id'])
            else:
                self.api('DELETE', '/api/v1/vms/%s/snapshots/snap' % vm['id'])
        elif op == 'import':
            src, sha = self.image_src()
            ctx['source'] = (src, sha)
            self.api('POST', '/api/v1/images', body={'path': src})
        elif op == 'upload':
            self.seq += 1
            self.api('PUT', '/api/v1/images/upload?name=up-%d.iso' % self.seq, raw=os.urandom(IMAGE_SIZE),
                     headers={'Content-Type': 'application/octet-stream'})
        elif op == 'image_delete':
            src, _ = self.image_src()
            img = self.ok('POST', '/api/v1/images', body={'path': src})
            self.api('DELETE', '/api/v1/images/' + img['id'])
        elif op == 'download':
            self.seq += 1
            open(self.nginx.log, 'w').close()
            dl = self.ok('POST', '/api/v1/downloads', body={'url': self.nginx.url('/files/dl.iso'),
                                                            'sha256': self.dl_sha, 'name': 'dl-%d.iso' % self.seq})
            ctx['download'] = dl['id']
        else:
            raise AssertionError(op)

    def run_one(self, point, n, op):
        d = self.daemon
        d.kill9()
        d.extra_env[KILL_ENV] = '%s:%d' % (point, n)
        d.start()
        ctx = {'op': op}
        try:
            self.trigger(op, ctx)
        except APIError:
            pass  # the kill came while a request was waiting: expected
        try:
            d.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError('kill point %s:%d was not reached by %s' % (point, n, op))
        if d.proc.returncode != -9:
            raise AssertionError('daemon ended with %s, not SIGKILL, at %s' % (d.proc.returncode, point))
        del d.extra_env[KILL_ENV]
        d.start()
        return ctx

    # -- invariants --
    def check(self, label, ctx, checked, violations):
        d = self.daemon
        data = d.data_dir

        def inv(name, cond, msg):
            checked[name] += 1
            if not cond:
                violations.append('%s [%s]: %s' % (label, name, msg))

        if ctx.get('download'):  # the download goes on after the restart and must complete
            deadline = time.time() + 30
            while True:
                st, dl, _ = self.api('GET', '/api/v1/downloads/' + ctx['download'])
                if st != 200 or dl.get('state') in ('completed', 'failed') or time.time() > deadline:
                    break
                time.sleep(0.1)
            good = st == 200 and dl.get('state') == 'completed'
            if good:
                img = self.ok('GET', '/api/v1/images/' + (dl.get('image_id') or 'none'))
                try:
                    with open(img['path'], 'rb') as f:
                        good = hashlib.sha256(f.read()).hexdigest() == self.dl_sha
                except OSError as e:
                    good, dl = False, '%s: %s' % (img['path'], e)
            inv('download_done', good, 'download %s: %r' % (ctx['download'], dl))
            sent = self.nginx.bytes_sent()  # a verified file is never fetched again
            inv('download_done', sent <= DOWNLOAD_SIZE * 1.1, '%d bytes sent for %d' % (sent, DOWNLOAD_SIZE))
        # the listing settles: no VM is still being reattached
        deadline = time.time() + 15
        while True:
            vms = self.ok('GET', '/api/v1/vms')['vms']
            if all(v['state'] in SETTLED for v in vms) or time.time() > deadline:
                break
            time.sleep(0.1)

        inv('db_integrity', self.sql('PRAGMA integrity_check') == [('ok',)], 'integrity_check failed')
        rows = {i: json.loads(c) for i, c in self.sql('SELECT id, config FROM vms')}
        vms_dir = os.path.join(data, 'vms')
        for vid, cfg in rows.items():
            vdir = os.path.join(vms_dir, vid)
            disks = [x['path'] for x in cfg.get('disks', [])]
            inv('vm_dir', os.path.isdir(vdir) and all(os.path.isfile(p) for p in disks),
                'VM %s: directory or a disk missing (%s)' % (vid, [p for p in disks if not os.path.isfile(p)]))
            if os.path.isdir(vdir):
                extra = [f for f in os.listdir(vdir) if f.startswith('.new-')
                         or (f.startswith('disk') and f.endswith('.qcow2') and os.path.join(vdir, f) not in disks)]
                inv('no_vm_temp', not extra, 'VM %s: left-over files %s' % (vid, extra))
        stray = sorted(set(os.listdir(vms_dir)) - set(rows)) if os.path.isdir(vms_dir) else []
        inv('no_stray_dir', not stray, 'DATA/vms holds %s without a row' % stray)

        listed = {v['id']: v for v in vms}
        inv('api_vms', set(listed) == set(rows) and all(v['state'] in SETTLED for v in vms),
            'GET /vms %s vs rows %s' % ({k: v['state'] for k, v in listed.items()}, sorted(rows)))
        pids = {v.get('pid') for v in vms if v.get('pid')}
        inv('qemu_reported', set(qemu_pids(data)) <= pids, 'QEMU %s not reported (%s)' % (qemu_pids(data), pids))
        if self.runner_id:
            r = listed.get(self.runner_id, {})
            inv('qemu_reported', r.get('state') == 'running' and r.get('pid') == self.runner_pid,
                'the running VM was not reattached: %r' % {k: r.get(k) for k in ('state', 'pid', 'reason')})
        for vid, v in listed.items():
            if v['state'] not in ('stopped', 'crashed') or vid not in rows:
                continue
            for p in [x['path'] for x in rows[vid].get('disks', [])]:
                if os.path.isfile(p):
                    r = subprocess.run([QEMU_IMG, 'check', '-q', '-f', 'qcow2', p], capture_output=True)
                    inv('vm_disk_check', r.returncode == 0, '%s: %s' % (p, r.stderr.decode()[-300:]))
            self.check_snapshots(vid, rows[vid], ctx, inv)
            if ctx['op'].startswith('snapshot'):
                # a take interrupted on some disks does not stand in the way of the same name again
                self.api('DELETE', '/api/v1/vms/%s/snapshots/snap' % vid)
                st, js, _ = self.api('POST', '/api/v1/vms/%s/snapshots' % vid, body={'name': 'snap'})
                inv('operable', st == 201, 'snapshot "snap" again on %s -> %d %r' % (vid, st, js))

        images = {i: (p, s) for i, p, s in self.sql('SELECT id, path, size FROM images')}
        for iid, (p, size) in images.items():
            inv('image_file', os.path.isfile(p) and os.path.getsize(p) == size,
                'image %s: %s (%s bytes recorded, %s on disk)' % (iid, p, size,
                                                                  os.path.getsize(p) if os.path.exists(p) else 'none'))
        img_dir = os.path.join(data, 'images')
        paths = {p for p, _ in images.values()}
        stray = sorted(f for f in os.listdir(img_dir) if os.path.join(img_dir, f) not in paths)
        inv('no_stray_image', not stray, 'DATA/images holds %s without a row' % stray)
        api_images = {i['id'] for i in self.ok('GET', '/api/v1/images')['images']}
        inv('api_images', api_images == set(images), 'GET /images %s vs rows %s' % (api_images, set(images)))
        dls = dict(self.sql('SELECT id, state FROM downloads'))
        dl_dir = os.path.join(data, 'downloads')
        parts = [f for f in os.listdir(dl_dir) if f.endswith('.part')] if os.path.isdir(dl_dir) else []
        bad = [f for f in parts if dls.get(f[:-5]) in (None, 'completed')]
        inv('no_stray_part', not bad, 'left-over partial downloads %s' % bad)
        if ctx.get('source'):
            src, sha = ctx['source']
            with open(src, 'rb') as f:
                inv('import_source', hashlib.sha256(f.read()).hexdigest() == sha, 'import source %s changed' % src)

        kept_dir = os.path.join(data, 'disks')
        kept = sorted(os.listdir(kept_dir)) if os.path.isdir(kept_dir) else []
        if ctx['op'] in ('delete_keep', 'disk_detach_keep'):
            inv('kept_disk', kept, 'keep_disks asked, nothing in DATA/disks')
        for f in kept:  # kept by the operation or moved aside at start-up: whole images
            r = subprocess.run([QEMU_IMG, 'check', '-q', '-f', 'qcow2', os.path.join(kept_dir, f)], capture_output=True)
            inv('kept_disk', r.returncode == 0, '%s: %s' % (f, r.stderr.decode()[-300:]))

        temps = []
        for top, dirs, files in os.walk(data):
            rel = os.path.relpath(top, data)
            temps += [os.path.join(rel, f) for f in dirs + files if TEMP_NAME.search(f)
                      and not (rel == 'downloads' and f.endswith('.part') and f not in bad)]
        inv('no_temp_anywhere', not temps, 'temp files left: %s' % temps)

        # operable: everything made in this run can go (the running VM stays)
        for vid in rows:
            if vid != self.runner_id:
                st, js, _ = self.api('DELETE', '/api/v1/vms/' + vid)
                inv('operable', st == 200, 'DELETE VM %s -> %d %r' % (vid, st, js))
        for iid in images:
            st, js, _ = self.api('DELETE', '/api/v1/images/' + iid)
            inv('operable', st == 200, 'DELETE image %s -> %d %r' % (iid, st, js))
        for did in dls:
            self.api('DELETE', '/api/v1/downloads/' + did)
        shutil.rmtree(kept_dir, ignore_errors=True)  # checked above

    def check_snapshots(self, vid, cfg, ctx, inv):
        """Every file of a stopped VM has the same snapshot names, the API lists them, and what the
        operation cut short was finished or undone (the 'snapshots' invariant)."""
        disks = [x['path'] for x in cfg.get('disks', [])]
        if not disks or not all(os.path.isfile(p) for p in disks):
            return
        files = list(disks)
        efivars = os.path.join(self.daemon.data_dir, 'vms', vid, 'efivars.qcow2')
        if os.path.isfile(efivars):
            files.append(efivars)
        names = {p: sorted(image_snapshots(p)) for p in files}
        first = names[disks[0]]
        inv('snapshots', all(n == first for n in names.values()),
            '%s: the files are out of step: %s' % (vid, names))
        listed = sorted(s['name'] for s in self.ok('GET', '/api/v1/vms/%s/snapshots' % vid)['snapshots'])
        inv('snapshots', listed == first, '%s lists %s, its disks have %s' % (vid, listed, first))
        inv('snapshots', self.sql('SELECT vm_id, op, name FROM vm_snap_journal WHERE vm_id = ?', vid) == [],
            '%s: the snapshot journal still has %r' % (vid, self.sql('SELECT * FROM vm_snap_journal')))
        made = ctx.get('snap_files', {}).get(vid)
        if made is None:
            return
        inv('snapshots', sorted(made) == sorted(files), '%s: expected the files %s, found %s' % (vid, made, files))
        op = ctx['op']
        if op.startswith('snapshot_take') or op.startswith('snapshot_delete'):
            inv('snapshots', all('snap' not in n for n in names.values()),
                '%s: a %s cut short left "snap" on %s' % (vid, op, [p for p, n in names.items() if 'snap' in n]))
        for p, pattern in ctx.get('restored', {}).items():
            inv('snapshots', 'snap' in names.get(p, []), '%s: "snap" is gone from %s after a restore' % (vid, p))
            inv('snapshots', qemu_io(p, 'read -P 0x%x 0 64k' % pattern),
                '%s: %s is not at the snapshot\'s content after a restore cut short' % (vid, p))

    def test_campaign(self):
        self.seq = 0
        self.runner_id = self.runner_pid = None
        d = self.daemon
        arches = self.ok('GET', '/api/v1/host').get('arches', {})
        self.aarch64 = bool(arches.get('aarch64', {}).get('available'))  # with its UEFI firmware
        if os.path.exists(MEMTEST_ISO):
            vm = self.ok('POST', '/api/v1/vms', body={'name': 'runner', 'arch': 'x86_64', 'memory_mib': 128,
                                                      'cpus': 1, 'disks': [], 'cdrom': MEMTEST_ISO})
            js = self.ok('POST', '/api/v1/vms/%s/start' % vm['id'])
            self.runner_id, self.runner_pid = vm['id'], js['pid']
        # what write_file_atomic() leaves when killed mid-write: cleaned by the next start
        for rel in ('run/endpoint.json.tmp.99999', 'secrets/api-token.tmp.99999'):
            with open(os.path.join(d.data_dir, rel), 'w') as f:
                f.write('half')
        checked = collections.Counter()
        violations = []
        t0 = time.monotonic()
        points = set()
        for point, n, op in RUNS:
            label = '%s:%d (%s)' % (point, n, op)
            try:
                ctx = self.run_one(point, n, op)
                points.add(point)
                self.check(label, ctx, checked, violations)
            except Exception as e:  # noqa: BLE001 - reported with the others
                violations.append('%s: %s: %s' % (label, type(e).__name__, e))
                if not d.proc or d.proc.poll() is not None:
                    d.extra_env.pop(KILL_ENV, None)
                    d.start()
        took = time.monotonic() - t0
        print('\n  crash campaign: %d runs (SIGKILL + restart), %d kill points, %.1f s' % (len(RUNS), len(points), took))
        print('  kill points: %s' % ', '.join(sorted(points)))
        print('  invariants checked: %s' % ', '.join('%s x%d' % kv for kv in sorted(checked.items())))
        if not self.aarch64:
            print('  note: no aarch64 UEFI on this host: the _uefi snapshot runs had two disks only')
        print('  violations: %d' % len(violations))
        for v in violations:
            print('    ' + v)
        if self.runner_id:
            self.api('POST', '/api/v1/vms/%s/kill' % self.runner_id)
        self.assertEqual(violations, [], '\n'.join(violations))


if __name__ == '__main__':
    unittest.main()


class LibrarySweepTest(unittest.TestCase):
    def test_files_without_a_row_are_kept_as_images(self):
        """Start-up removes the library's temp files, but an image without a row (a rename whose
        row never came, or an ISO copied into DATA/images by hand) is added, never deleted; a
        file the library would refuse (a qcow2 with a backing file) is left alone."""
        d = Daemon()
        try:
            d.start()
            d.stop()
            images = os.path.join(d.data_dir, 'images')
            shutil.copy(MEMTEST_ISO, os.path.join(images, 'by-hand.iso'))
            with open(os.path.join(images, '.upload-0123456789abcdef'), 'wb') as f:
                f.write(b'half an upload')
            subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw',
                            os.path.join(images, 'evil.qcow2')], check=True)
            d.start()
            names = {i['name']: i for i in d.ok('GET', '/api/v1/images')['images']}
            self.assertIn('by-hand.iso', names)
            self.assertEqual(names['by-hand.iso']['size_bytes'] if 'size_bytes' in names['by-hand.iso']
                             else names['by-hand.iso'].get('size'), os.path.getsize(MEMTEST_ISO))
            self.assertNotIn('evil.qcow2', names)
            self.assertEqual(sorted(os.listdir(images)), ['by-hand.iso', 'evil.qcow2'])
        finally:
            d.teardown()


class SnapshotJournalTest(unittest.TestCase):
    def test_journal_rows_left_by_a_killed_daemon(self):
        """Start-up resolves the snapshot journal before anything is served: a take cut short is
        removed from the disk that has it; a row it cannot resolve (a restore whose disk is gone) is
        kept, the VM says why and does not start, and deleting the VM drops the row."""
        d = Daemon()
        try:
            d.start()
            a = d.ok('POST', '/api/v1/vms', body={'name': 'jt-a', 'arch': 'x86_64', 'memory_mib': 128,
                                                  'disks': [{'size_gib': 1}, {'size_gib': 1}]}, expect=201)
            b = d.ok('POST', '/api/v1/vms', body={'name': 'jt-b', 'arch': 'x86_64', 'memory_mib': 128,
                                                  'disks': [{'size_gib': 1}, {'size_gib': 1}]}, expect=201)
            d.ok('POST', '/api/v1/vms/%s/snapshots' % b['id'], body={'name': 'keep'}, expect=201)
            d.stop()
            a0, a1 = [x['path'] for x in a['disks']]
            subprocess.run([QEMU_IMG, 'snapshot', '-c', 'half', a0], check=True)
            os.rename(b['disks'][1]['path'], b['disks'][1]['path'] + '.away')
            db = sqlite3.connect(os.path.join(d.data_dir, 'qemu-hmos.sqlite3'))
            with db:
                db.execute("INSERT INTO vm_snap_journal VALUES (?, 'take', 'half', 1)", (a['id'],))
                db.execute("INSERT INTO vm_snap_journal VALUES (?, 'restore', 'keep', 2)", (b['id'],))
            db.close()
            d.start()
            self.assertEqual((image_snapshots(a0), image_snapshots(a1)), ([], []))
            with open(d.stderr_path, 'rb') as f:
                log = f.read().decode(errors='replace')
            self.assertIn("a snapshot take of 'half' cut short (started at 1) was undone: removed from 1 of 2 files",
                          log)
            rows = sqlite3.connect(os.path.join(d.data_dir, 'qemu-hmos.sqlite3')).execute(
                'SELECT vm_id, op FROM vm_snap_journal').fetchall()
            self.assertEqual(rows, [(b['id'], 'restore')])
            vb = d.ok('GET', '/api/v1/vms/' + b['id'])
            self.assertEqual(vb['state'], 'stopped', vb)
            self.assertIn("snapshot restore of 'keep' was cut short", vb['state_reason'])
            self.assertIn('is missing', vb['state_reason'])
            st, js, _ = d.api('POST', '/api/v1/vms/%s/start' % b['id'])
            self.assertEqual((st, js['error']['code']), (409, 'invalid_state'), js)
            st, js, _ = d.api('POST', '/api/v1/vms/%s/snapshots' % b['id'], body={'name': 'x'})
            self.assertEqual(st, 409, js)
            self.assertEqual(d.vm(a['id'])['state_reason'], 'stopped')
            d.ok('DELETE', '/api/v1/vms/' + b['id'])
            rows = sqlite3.connect(os.path.join(d.data_dir, 'qemu-hmos.sqlite3')).execute(
                'SELECT * FROM vm_snap_journal').fetchall()
            self.assertEqual(rows, [])
        finally:
            d.teardown()
