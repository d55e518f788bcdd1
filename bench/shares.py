#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared folders: virtiofs vs virtio-9p (issue 17 item 5), one run.

  python3 bench/shares.py --daemon build/qemu-hmos    (also run by `make bench`: bench/run.py --only shares)

The guest: the Linux test guest (tests/integration/linuxguest.py: Debian 12's kernel, a busybox
initramfs), x86_64, 1 vCPU, 768 MiB, booted by QEMU itself, one shared folder (read-write) mounted
as `mode` says. Its /init times each step with /proc/uptime (10 ms resolution) and writes the
figures into the share, then powers off:
  small: create   2,000 files of ~10 bytes (a shell loop: `echo > f$i`)
  small: list     `ls -l` of them (a stat each)
  small: read     `cat` of all of them
  small: delete   `rm` of all of them
  big: write      one 256 MiB file (dd bs=1M from /dev/zero, conv=fsync)
  big: read       the same file after `drop_caches` (dd bs=1M to /dev/null)
Rows: "9p" (QEMU's virtio-9p, security_model=mapped-xattr: the named peer, what the product had)
and "virtiofs" (the daemon's virtiofsd per folder). --rounds rounds each (default 2, alternating),
medians. The busybox loop itself costs the same time in both; TCG (no KVM here) makes everything
slower than on a device with KVM, for both alike.
Writes bench/results/shares-latest.json. Every process started here is ended on exit, errors
and SIGINT/SIGTERM included.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.append(os.path.join(REPO, 'tests', 'integration'))  # after HERE: it has a run.py too
import run as core  # noqa: E402  (bench/run.py: daemon, process bookkeeping)
from run import BenchError, Abort, log  # noqa: E402
import linuxguest  # noqa: E402

STEPS = ['small: create', 'small: list', 'small: read', 'small: delete', 'big: write', 'big: read']
SCRIPT = r'''$B mkdir -p /mnt/s
MOUNT
now() { $B cut -d' ' -f1 /proc/uptime; }
$B mkdir -p /mnt/s/small
t0=$(now)
i=0; while [ $i -lt 2000 ]; do echo "file $i" > /mnt/s/small/f$i; i=$((i + 1)); done
t1=$(now)
$B ls -l /mnt/s/small > /dev/null
t2=$(now)
$B cat /mnt/s/small/* > /dev/null
t3=$(now)
$B rm -r /mnt/s/small
t4=$(now)
$B dd if=/dev/zero of=/mnt/s/big bs=1M count=256 conv=fsync 2>/dev/null
t5=$(now)
echo 3 > /proc/sys/vm/drop_caches
$B dd if=/mnt/s/big of=/dev/null bs=1M 2>/dev/null
t6=$(now)
$B rm /mnt/s/big
echo "$t0 $t1 $t2 $t3 $t4 $t5 $t6" > /mnt/s/times.txt'''
MOUNTS = {'9p': '$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 bench /mnt/s',
          'virtiofs': '$B mount -t virtiofs bench /mnt/s'}
MODULES = {'9p': ['virtio_pci', '9pnet_virtio', '9p'], 'virtiofs': ['virtio_pci', 'virtiofs']}


def one_run(d, tmp, kernel, mode, timeout):
    share = tempfile.mkdtemp(prefix='share-', dir=tmp)
    os.chmod(share, 0o777)  # the guest writes as the VMs' user
    initrd = linuxguest.build_initrd(os.path.join(tmp, 'initrd-%s.gz' % mode), SCRIPT.replace('MOUNT', MOUNTS[mode]),
                                     modules=MODULES[mode])
    vm = d.api.json('POST', '/api/v1/vms', want=(201,), body={
        'name': 'bench-%s-%d' % (mode, int(time.time() * 1000) % 10**8), 'memory_mib': 768, 'cpus': 1, 'disks': [],
        'kernel_boot': {'kernel': kernel, 'initrd': initrd, 'cmdline': linuxguest.CMDLINE},
        'shared_folders': [{'path': share, 'tag': 'bench', 'mode': mode}]})
    d.api.json('GET', '/api/v1/vms/%s' % vm['id'])
    try:
        d.api.json('POST', '/api/v1/vms/%s/start' % vm['id'])
        deadline = core.mono() + timeout
        while core.mono() < deadline:
            if d.api.json('GET', '/api/v1/vms/%s' % vm['id'])['state'] in ('stopped', 'crashed'):
                break
            time.sleep(0.5)
        else:
            raise BenchError('%s: the guest did not finish in %d s' % (mode, timeout))
        try:
            with open(os.path.join(share, 'times.txt')) as f:
                t = [float(x) for x in f.read().split()]
        except (OSError, ValueError) as e:
            raise BenchError('%s: no times from the guest (%s)' % (mode, e)) from e
        return {s: round(t[i + 1] - t[i], 2) for i, s in enumerate(STEPS)}
    finally:
        d.api.req('POST', '/api/v1/vms/%s/kill' % vm['id'])
        d.api.req('DELETE', '/api/v1/vms/%s' % vm['id'])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--daemon', default=os.path.join(REPO, 'build', 'qemu-hmos'))
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'shares-latest.json'))
    ap.add_argument('--timeout', type=int, default=1500)
    a = ap.parse_args()
    core.abort_on_signals(a.timeout)
    tmp = tempfile.mkdtemp(prefix='qhm-bench-shares-')
    os.chmod(tmp, 0o755)  # QEMU runs as the daemon's own user when the daemon is root
    core.CLEAN.dirs.append(tmp)
    runs = {'9p': [], 'virtiofs': []}
    try:
        try:
            kernel, _ = linuxguest.kernel()
        except RuntimeError as e:
            print('shares: skipped: %s' % e)
            return 0
        d = core.Daemon(os.path.abspath(a.daemon), tmp,
                        ['--allow-path', os.path.dirname(kernel), '--allow-path', tmp]).start()
        if not d.host_info.get('virtiofs', {}).get('available'):
            print('shares: skipped: no virtiofs here (%r)' % d.host_info.get('virtiofs'))
            return 0
        for rnd in range(a.rounds):
            for mode in (('9p', 'virtiofs') if rnd % 2 == 0 else ('virtiofs', '9p')):
                log('shares: round %d/%d: %s' % (rnd + 1, a.rounds, mode))
                runs[mode].append(one_run(d, tmp, kernel, mode, 600))
    except (BenchError, Abort) as e:
        print('shares: error: %s' % e)
        core.CLEAN.run()
        return 1
    finally:
        core.CLEAN.run()
    rows = {s: {m: statistics.median(r[s] for r in runs[m]) for m in runs} for s in STEPS}
    print('\nShared folders, x86_64 Linux test guest (TCG, 1 vCPU), %d rounds, medians in seconds' % a.rounds)
    print('%-16s %12s %12s %10s' % ('', '9p (peer)', 'virtiofs', 'speed-up'))
    for s, r in rows.items():
        up = r['9p'] / r['virtiofs'] if r['virtiofs'] else None
        print('%-16s %12.2f %12.2f %10s' % (s, r['9p'], r['virtiofs'], '%.1fx' % up if up else '-'))
    core.write_results(a.out, {'rows': rows, 'runs': runs, 'rounds': a.rounds})
    return 0


if __name__ == '__main__':
    sys.exit(main())
