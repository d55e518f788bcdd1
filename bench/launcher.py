#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Start overhead of the child launcher (issue 14, target <= 20 ms) against exec, in one run.

  python3 bench/launcher.py --build build      (on demand; needs `make qemu`'s build)

The same program, run to completion, two ways:
  exec   the executable: our QEMU 10's qemu-img (fork + exec, as the exec launcher does)
  child  qemu-hmos-child libqemu_child.so:Main "qhm1 0 libqemu-img.so:qhm_qemu_img_main ...":
         the Linux stand-in for HarmonyOS's native-child start, the shim, dlopen of the library,
         its entry (what the child launcher does)
with two workloads: `qemu-img --version` (almost nothing but the start) and `qemu-img info` of a
small qcow2. --runs (50) each, interleaved; median and p90 of the wall time per run, and the
child launcher's overhead = child - exec. Also the same for `qemu-system-x86_64 --version`
(the biggest library). Peer: exec of the very same build's executable (not Debian's 7.2,
which is another program). Python 3 standard library only; writes bench/results/launcher-latest.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CACHE_SH = os.path.join(REPO, 'qemu-build', 'build.sh')


def encode(target, argv):
    """child.h's parameter string: 'qhm1 FLAGS TARGET ARG...', %XX for '%', bytes <= ' ' and 0x7f."""
    def esc(s):
        if s == '':
            return '%%'
        return ''.join('%%%02X' % b if b <= 0x20 or b in (0x25, 0x7f) else chr(b) for b in s.encode())
    return ' '.join(['qhm1', '0', esc(target)] + [esc(a) for a in argv])


def timed(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError('%s: status %d: %s' % (cmd[:3], p.returncode, p.stderr.decode()[-300:]))
    return dt, p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default='build', help='meson build dir with qemu-hmos-child (default build)')
    ap.add_argument('--runs', type=int, default=50)
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'launcher-latest.json'))
    a = ap.parse_args()
    build = os.path.join(REPO, a.build) if not os.path.isabs(a.build) else a.build
    loader = os.path.join(build, 'qemu-hmos-child')
    shim = os.path.join(build, 'libqemu_child.so')
    cache = subprocess.run([CACHE_SH, '--print-dir'], check=True, capture_output=True, text=True).stdout.strip()
    manifest = os.path.join(cache, 'manifest.json')
    if not os.path.exists(manifest):
        sys.exit('launcher bench: no QEMU build in %s (make qemu)' % cache)
    for f in (loader, shim):
        if not os.path.exists(f):
            sys.exit('launcher bench: %s missing (ninja -C %s)' % (f, a.build))
    with open(manifest) as f:
        m = json.load(f)
    img = m['qemu_img']
    sysx = m['variants']['tcg']
    tmp = tempfile.mkdtemp(prefix='qhm-bench-launch-')
    disk = os.path.join(tmp, 'd.qcow2')
    subprocess.run([img['executable'], 'create', '-q', '-f', 'qcow2', disk, '64M'], check=True)
    cases = [
        ('qemu-img --version', img['executable'], img['library'] + ':' + img['entry'], ['--version']),
        ('qemu-img info qcow2', img['executable'], img['library'] + ':' + img['entry'],
         ['info', '-f', 'qcow2', disk]),
        ('qemu-system-x86_64 --version', sysx['executables']['x86_64'],
         sysx['libraries']['x86_64'] + ':' + sysx['entry'], ['--version']),
    ]
    rows = []
    try:
        for name, exe, target, args in cases:
            ex, ch = [], []
            out_e = out_c = None
            for _ in range(3):  # warm the page cache for both
                timed([exe] + args)
                timed([loader, shim + ':Main', encode(target, [exe] + args)])
            for _ in range(a.runs):
                dt, out_e = timed([exe] + args)
                ex.append(dt)
                dt, out_c = timed([loader, shim + ':Main', encode(target, [exe] + args)])
                ch.append(dt)
            if out_e != out_c:
                raise RuntimeError('%s: the two ways printed different output' % name)
            me, mc = statistics.median(ex), statistics.median(ch)
            p90 = lambda v: sorted(v)[int(len(v) * 0.9) - 1]
            rows.append({'case': name, 'runs': a.runs, 'exec_ms': round(me * 1000, 2),
                         'exec_p90_ms': round(p90(ex) * 1000, 2), 'child_ms': round(mc * 1000, 2),
                         'child_p90_ms': round(p90(ch) * 1000, 2), 'overhead_ms': round((mc - me) * 1000, 2)})
    finally:
        subprocess.run(['rm', '-rf', tmp])
    hdr = ('case', 'runs', 'exec median ms', 'exec p90', 'child median ms', 'child p90', 'overhead ms', 'target')
    lines = [hdr] + [(r['case'], str(r['runs']), '%.2f' % r['exec_ms'], '%.2f' % r['exec_p90_ms'],
                      '%.2f' % r['child_ms'], '%.2f' % r['child_p90_ms'],
                      '%+.2f %s' % (r['overhead_ms'], 'ok' if r['overhead_ms'] <= 20 else 'OVER'), '<= 20 ms')
                     for r in rows]
    w = [max(len(x[i]) for x in lines) for i in range(len(hdr))]
    print('child launcher vs exec, QEMU %s (%s)' % (m.get('qemu_version'), cache))
    for n, ln in enumerate(lines):
        print('  '.join(c.ljust(w[i]) for i, c in enumerate(ln)).rstrip())
        if n == 0:
            print('  '.join('-' * x for x in w))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump({'when': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'rows': rows}, f, indent=1)
    return 0 if all(r['overhead_ms'] <= 20 for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
