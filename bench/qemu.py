#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest speed of the QEMU builds (issue 14): Debian's QEMU 7.2 vs our QEMU 10 with the TCG JIT vs
our QEMU 10 with the TCG interpreter (TCI), the same guests and workloads, one run.

  python3 bench/qemu.py                 (also run by `make bench`, via bench/run.py --only qemu)

The three, on the very same command line but for the binary and -L:
  debian-7.2   /usr/bin/qemu-system-ARCH (Debian's package; the named peer)
  qemu10-tcg   the executable of our build's "tcg" variant (qemu-build/build.sh's manifest.json),
               with the manifest's -L directories, as the daemon passes them
  qemu10-tci   the same for the "tci" variant
QEMU 10 runs as its executables (fork + exec), not through the library loader: bench/launcher.py
measured what the loader adds to a start (under 1 ms), and the executables and the libraries are
links of the same objects.

The guest: Debian 12's kernel booted by QEMU itself (-kernel) with a busybox initramfs built by
tests/integration/linuxguest.py (x86_64: scripts/fetch-test-guest.sh's cache; aarch64, when
scripts/fetch-test-guest-arm64.sh has been run: Debian's arm64 kernel and busybox). No disk, no
network, no modules; /init prints markers on the serial console (-serial stdio, read here) and
powers off:
  QHM-UP        first line of /init          boot: QEMU spawn -> this line seen here
  QHM-SHA       after `dd if=/dev/zero bs=64k | sha256sum` of --sha-mib MiB (checked against
                hashlib; CPU in user space plus /dev/zero and pipe copies in the guest kernel)
  QHM-LOOP      after a busybox ash arithmetic loop of --loop iterations (checked against Python;
                an interpreter: branchy, no I/O)
Each workload is timed three ways: inside the guest (/proc/uptime before and after, 10 ms ticks;
the guest clock follows the host's under TCG without icount), from outside (the host time between
the marker lines arriving) and as the QEMU's own CPU time (utime + stime of all its threads from
/proc/PID/stat, read as each marker arrives). Plus "whole run": spawn -> QEMU exited. On a shared
host the two wall-clock figures follow whatever else runs (a 2-core machine where others' tests
take a core doubles them at times); the CPU time much less so: read the CPU rows for the speed of
the emulator, the wall rows for what a user waits.

Machine: pinned models both QEMUs know, so the guest sees the same hardware and takes the same
code paths: x86_64 `-machine pc-q35-7.2 -cpu qemu64`, aarch64 `-machine virt-7.2 -cpu cortex-a57`
(--cpu max runs the product's `-cpu max` instead, whose features differ between 7.2 and 10), 256 MiB,
1 vCPU, -accel tcg, -nodefaults, -display none, -no-reboot.

--reps rounds; each round runs every QEMU once, the order rotating from round to round (no QEMU
always goes first); per figure the median over rounds (the JSON also has the ratios within each
round, "paired_ratios"). Speed ratios are time ratios: "10/7.2" =
t(7.2) / t(10 TCG), above 1 when QEMU 10 is faster; "TCI/TCG" = t(TCG) / t(TCI). The host's load
is shown: the 1-minute load average before the run (our own QEMU adds 1 to it while it runs) and,
per run, the CPU the rest of the machine used meanwhile (/proc/stat busy time minus the QEMU's own
rusage, in cores). Skips (exit 0, says why) when there is no QEMU 10 build or no test guest.
Writes bench/results/qemu-latest.json (medians, ratios, every sample, the argv). Every QEMU
started here is ended on exit, errors and SIGINT/SIGTERM included. Python 3 standard library plus
tests/integration/linuxguest.py.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.append(os.path.join(REPO, 'tests', 'integration'))  # after HERE: it has a run.py too
import run as core  # noqa: E402  (bench/run.py: process bookkeeping)
from run import BenchError, Abort, log, mono  # noqa: E402
import linuxguest  # noqa: E402

BUILD_SH = os.path.join(REPO, 'qemu-build', 'build.sh')
ARM64_CACHE = os.environ.get('QHM_GUEST_CACHE_ARM64', '/var/cache/qemu-hmos/test-guest-arm64')
CLK_TCK = os.sysconf('SC_CLK_TCK')

ARCHES = {
    'x86_64': {'machine': 'pc-q35-7.2', 'cpu': 'qemu64', 'console': 'ttyS0',
               'root': linuxguest.ROOT, 'fetch': 'scripts/fetch-test-guest.sh'},
    'aarch64': {'machine': 'virt-7.2', 'cpu': 'cortex-a57', 'console': 'ttyAMA0',
                'root': os.path.join(ARM64_CACHE, 'root'), 'fetch': 'scripts/fetch-test-guest-arm64.sh'},
}
VARIANTS = ('debian-7.2', 'qemu10-tcg', 'qemu10-tci')
LABEL = {'debian-7.2': 'Debian 7.2', 'qemu10-tcg': 'QEMU 10 TCG', 'qemu10-tci': 'QEMU 10 TCI'}

# (key, label); the in-guest and outside figures of a workload sit next to each other.
FIGURES = (
    ('boot_s', 'boot: spawn -> QHM-UP on serial'),
    ('boot_guest_s', 'boot: guest uptime at QHM-UP'),
    ('boot_cpu_s', 'boot: QEMU CPU time'),
    ('sha_guest_s', 'sha256 of {mib} MiB, in guest'),
    ('sha_out_s', 'sha256 of {mib} MiB, from outside'),
    ('sha_cpu_s', 'sha256 of {mib} MiB, QEMU CPU time'),
    ('loop_guest_s', 'ash loop x{loop}, in guest'),
    ('loop_out_s', 'ash loop x{loop}, from outside'),
    ('loop_cpu_s', 'ash loop x{loop}, QEMU CPU time'),
    ('total_s', 'whole run: spawn -> exit'),
    ('total_cpu_s', 'whole run: QEMU CPU time'),
)


def guest_script(sha_blocks, loops):
    """The part of /init after the mounts (linuxguest.build_initrd adds sync and poweroff).
    /bin holds busybox alone, so every command is $B APPLET; `[` and $(( )) are ash built-ins."""
    return '\n'.join([
        "U() { $B cut -d' ' -f1 /proc/uptime; }",
        '$B echo "QHM-UP $(U)"',
        't0=$(U)',
        'h=$($B dd if=/dev/zero bs=65536 count=%d 2>/dev/null | $B sha256sum)' % sha_blocks,
        't1=$(U)',
        '$B echo "QHM-SHA $t0 $t1 ${h%% *}"',
        'i=0; s=0',
        'while [ $i -lt %d ]; do s=$(( (s + i * i) %% 1000003 )); i=$((i + 1)); done' % loops,
        't2=$(U)',
        '$B echo "QHM-LOOP $t1 $t2 $s"',
    ])


def expected(sha_blocks, loops):
    h = hashlib.sha256()
    zero = bytes(65536)
    for _ in range(sha_blocks):
        h.update(zero)
    s = 0
    for i in range(loops):
        s = (s + i * i) % 1000003
    return h.hexdigest(), str(s)


def find_build(qemu_dir):
    """(manifest dict, its directory) or (None, reason)."""
    if not qemu_dir:
        p = subprocess.run([BUILD_SH, '--print-dir'], capture_output=True, text=True)
        if p.returncode != 0:
            return None, 'qemu-build/build.sh --print-dir failed: %s' % p.stderr.strip()
        qemu_dir = p.stdout.strip()
    path = os.path.join(qemu_dir, 'manifest.json')
    if not os.path.exists(path):
        others = sorted(d for d in os.listdir(os.path.dirname(qemu_dir) or '.')
                        if os.path.exists(os.path.join(os.path.dirname(qemu_dir), d, 'manifest.json')))
        return None, 'no QEMU 10 build in %s (make qemu)%s' % (
            qemu_dir, '; other builds there: %s (pass one with --qemu-dir)' % ', '.join(others) if others else '')
    with open(path) as f:
        return json.load(f), qemu_dir


def tool_version(exe):
    try:
        out = subprocess.run([exe, '-version'], capture_output=True, text=True, timeout=30).stdout
        return out.splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def busy_jiffies():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # all but idle and iowait (guest time is inside user already)


def loadavg():
    return round(os.getloadavg()[0], 2)


def run_guest(argv, timeout, errpath):
    """Start ARGV, read its serial console, time the markers. -> dict of raw figures."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0 = busy_jiffies()
    load0 = loadavg()
    errf = open(errpath, 'wb')
    t0 = mono()
    p = core.CLEAN.add(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=errf), signal.SIGKILL)
    errf.close()
    fd = p.stdout.fileno()
    seen, fields, cpu_at, tail = {}, {}, {}, []
    buf = b''
    deadline = t0 + timeout
    try:
        while True:
            left = deadline - mono()
            if left <= 0:
                raise BenchError('no poweroff within %d s (markers seen: %s)' % (timeout, sorted(seen)))
            r, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not r:
                continue
            data = os.read(fd, 65536)
            now = mono()
            if not data:
                break
            buf += data
            *lines, buf = buf.split(b'\n')
            for raw in lines:
                line = raw.decode(errors='replace').strip()
                tail = (tail + [line])[-20:]
                m = re.search(r'(QHM-[A-Z]+)((?: \S+)*)$', line)
                if m and m.group(1) not in seen:
                    seen[m.group(1)] = now
                    fields[m.group(1)] = m.group(2).split()
                    cpu_at[m.group(1)] = core.cpu_of(p.pid)
        p.wait(30)
    finally:
        core.stop_popen(p, signal.SIGKILL)
        p.stdout.close()
    t_end = mono()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy1 = busy_jiffies()
    wall = t_end - t0
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    err = open(errpath, errors='replace').read().strip()
    if p.returncode != 0 or set(seen) != {'QHM-UP', 'QHM-SHA', 'QHM-LOOP'}:
        raise BenchError('QEMU exited with %s, markers seen %s\nserial tail:\n  %s\nstderr: %s' % (
            p.returncode, sorted(seen), '\n  '.join(tail[-8:]), err[-500:]))
    up, sha, loop = fields['QHM-UP'], fields['QHM-SHA'], fields['QHM-LOOP']
    if None in cpu_at.values():
        raise BenchError('could not read the QEMU\'s CPU time at a marker: %s' % cpu_at)
    return {
        'boot_s': seen['QHM-UP'] - t0,
        'boot_guest_s': float(up[0]),
        'sha_guest_s': float(sha[1]) - float(sha[0]),
        'sha_out_s': seen['QHM-SHA'] - seen['QHM-UP'],
        'loop_guest_s': float(loop[1]) - float(loop[0]),
        'loop_out_s': seen['QHM-LOOP'] - seen['QHM-SHA'],
        'total_s': wall,
        'boot_cpu_s': cpu_at['QHM-UP'],
        'sha_cpu_s': cpu_at['QHM-SHA'] - cpu_at['QHM-UP'],
        'loop_cpu_s': cpu_at['QHM-LOOP'] - cpu_at['QHM-SHA'],
        'total_cpu_s': cpu,
        'sha256': sha[2] if len(sha) > 2 else None,
        'loop_result': loop[2] if len(loop) > 2 else None,
        'others_cores': round(max(0.0, (busy1 - busy0) / CLK_TCK - cpu) / wall, 2) if wall > 0 else None,
        'loadavg_before': load0,
        'stderr': err[-500:] or None,
    }


def warm(path):
    """Read a binary once, so the first timed run does not pay the page cache."""
    with open(path, 'rb') as f:
        while f.read(1 << 20):
            pass


def bench_arch(arch, exes, data_dirs, a, workdir):
    spec = ARCHES[arch]
    kernel, _ = linuxguest.kernel(spec['root'])
    blocks = a.sha_mib * 16
    want_sha, want_loop = expected(blocks, a.loop)
    initrd = linuxguest.build_initrd(os.path.join(workdir, 'initrd-%s.gz' % arch),
                                     guest_script(blocks, a.loop), modules=[], root=spec['root'])
    cpu = a.cpu or spec['cpu']
    common = ['-machine', spec['machine'], '-accel', 'tcg', '-cpu', cpu, '-m', '256', '-smp', '1',
              '-no-user-config', '-nodefaults', '-display', 'none', '-serial', 'stdio', '-no-reboot',
              '-kernel', kernel, '-initrd', initrd, '-append', 'console=%s quiet panic=-1' % spec['console']]
    argvs = {}
    for v, exe in exes.items():
        extra = [] if v == 'debian-7.2' else [x for d in data_dirs for x in ('-L', d)]
        argvs[v] = [exe] + extra + common
        warm(exe)
    samples = {v: [] for v in exes}
    order = list(exes)
    for rnd in range(a.reps):
        k = rnd % len(order)
        for v in order[k:] + order[:k]:
            log('%s round %d/%d: %s' % (arch, rnd + 1, a.reps, v))
            s = run_guest(argvs[v], a.run_timeout, os.path.join(workdir, 'stderr-%s-%s.txt' % (arch, v)))
            if s['sha256'] != want_sha or s['loop_result'] != want_loop:
                raise BenchError('%s %s: wrong guest result: sha256 %s (want %s), loop %s (want %s)' % (
                    arch, v, s['sha256'], want_sha, s['loop_result'], want_loop))
            log('  boot %.2f s, sha %.2f s, loop %.2f s, whole %.2f s (CPU %.2f, %.2f, %.2f, %.2f s); '
                'others used %.2f cores' % (s['boot_s'], s['sha_out_s'], s['loop_out_s'], s['total_s'],
                                            s['boot_cpu_s'], s['sha_cpu_s'], s['loop_cpu_s'], s['total_cpu_s'],
                                            s['others_cores']))
            s['round'] = rnd
            samples[v].append(s)
    med = {v: {k: round(statistics.median(x[k] for x in ss), 3) for k, _ in FIGURES}
           for v, ss in samples.items()}
    for v, ss in samples.items():
        med[v]['others_cores'] = round(statistics.median(x['others_cores'] for x in ss), 2)
    ratios = {}
    for k, _ in FIGURES:
        r = {}
        if 'debian-7.2' in med and 'qemu10-tcg' in med and med['qemu10-tcg'][k] > 0:
            r['speed_10_vs_7.2'] = round(med['debian-7.2'][k] / med['qemu10-tcg'][k], 3)
        if 'qemu10-tcg' in med and 'qemu10-tci' in med and med['qemu10-tci'][k] > 0:
            r['speed_tci_vs_tcg'] = round(med['qemu10-tcg'][k] / med['qemu10-tci'][k], 4)
        ratios[k] = r
    # The same ratios within each round (runs minutes apart see a different host; these do not).
    paired = {}
    for k, _ in FIGURES:
        for name, num, den in (('speed_10_vs_7.2', 'debian-7.2', 'qemu10-tcg'),
                               ('speed_tci_vs_tcg', 'qemu10-tcg', 'qemu10-tci')):
            if num in samples and den in samples:
                per = [n[k] / d[k] for n, d in zip(samples[num], samples[den]) if d[k] > 0]
                if per:
                    paired.setdefault(k, {})[name] = {'rounds': [round(x, 4) for x in per],
                                                      'median': round(statistics.median(per), 4)}
    return {'arch': arch, 'kernel': kernel, 'cpu': cpu, 'machine': spec['machine'],
            'sha_mib': a.sha_mib, 'loop': a.loop, 'argv': argvs, 'medians': med, 'ratios': ratios,
            'paired_ratios': paired,
            'samples': samples}


def fmt_cell(ss, key):
    v = [x[key] for x in ss]
    return '%.2f (%.2f-%.2f)' % (statistics.median(v), min(v), max(v))


def print_arch(res, out=sys.stdout):
    med, samples, ratios = res['medians'], res['samples'], res['ratios']
    vs = [v for v in VARIANTS if v in med]
    head = ['%s, -cpu %s, s: median (min-max) of %d' % (res['arch'], res['cpu'], len(samples[vs[0]]))]
    head += [LABEL[v] for v in vs] + ['speed 10/7.2', 'speed TCI/TCG']
    lines = [head]
    for k, label in FIGURES:
        row = [label.format(mib=res['sha_mib'], loop=res['loop'])]
        row += [fmt_cell(samples[v], k) for v in vs]
        r = ratios[k]
        row.append('%.2fx' % r['speed_10_vs_7.2'] if 'speed_10_vs_7.2' in r else '-')
        row.append('%.3fx (1/%.1f)' % (r['speed_tci_vs_tcg'], 1 / r['speed_tci_vs_tcg'])
                   if r.get('speed_tci_vs_tcg') else '-')
        lines.append(row)
    lines.append(['others\' CPU meanwhile, cores'] + ['%.2f' % med[v]['others_cores'] for v in vs] + ['', ''])
    w = [max(len(x[i]) for x in lines) for i in range(len(head))]
    for n, ln in enumerate(lines):
        out.write('  '.join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(ln)).rstrip() + '\n')
        if n == 0:
            out.write('  '.join('-' * x for x in w) + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--qemu-dir', help='our QEMU 10 build (a directory with manifest.json; default: '
                    'qemu-build/build.sh --print-dir of this checkout)')
    ap.add_argument('--arch', choices=sorted(ARCHES), action='append',
                    help='guest arch (repeatable; default every arch whose test guest is fetched)')
    ap.add_argument('--reps', type=int, default=3, help='rounds, each running every QEMU once (default 3)')
    ap.add_argument('--sha-mib', type=int, default=16, help='MiB hashed by sha256sum (default 16)')
    ap.add_argument('--loop', type=int, default=20000, help='ash loop iterations (default 20000)')
    ap.add_argument('--cpu', help='-cpu for every arch instead of the pinned models (e.g. max)')
    ap.add_argument('--no-tci', action='store_true', help='leave out QEMU 10 TCI (the slow one)')
    ap.add_argument('--run-timeout', type=int, default=1200, help='bound on one guest run, s (default 1200)')
    ap.add_argument('--timeout', type=int, default=5400, help='bound on the whole bench, s (default 5400)')
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'qemu-latest.json'))
    a = ap.parse_args()

    m, qdir = find_build(a.qemu_dir)
    if m is None:
        print('bench qemu: skipped: %s' % qdir)
        return 0
    arches = a.arch or [x for x in ARCHES if os.path.exists(os.path.join(ARCHES[x]['root'], 'bin', 'busybox'))]
    skipped = {}
    for x in ARCHES:
        if x not in arches:
            skipped[x] = 'not asked for' if a.arch else 'no test guest (run %s)' % ARCHES[x]['fetch']
    plan = {}
    for x in arches:
        try:
            linuxguest.kernel(ARCHES[x]['root'])
        except RuntimeError:
            skipped[x] = 'no test guest (run %s)' % ARCHES[x]['fetch']
            continue
        exes = {}
        deb = '/usr/bin/qemu-system-%s' % x
        if os.access(deb, os.X_OK):
            exes['debian-7.2'] = deb
        for var in ('tcg',) + (() if a.no_tci else ('tci',)):
            exe = m['variants'].get(var, {}).get('executables', {}).get(x)
            if exe and os.access(exe, os.X_OK):
                exes['qemu10-' + var] = exe
        if 'qemu10-tcg' not in exes:
            skipped[x] = 'the QEMU 10 build has no %s executable' % x
            continue
        plan[x] = exes
    for x, why in skipped.items():
        print('bench qemu: %s skipped: %s' % (x, why))
    if not plan:
        print('bench qemu: skipped: nothing to run')
        return 0

    core.abort_on_signals(a.timeout)
    workdir = tempfile.mkdtemp(prefix='qhm-bench-qemu-')
    core.CLEAN.dirs.append(workdir)
    core.CLEAN.markers.append(workdir)  # any qemu-system whose argv names it is ours
    meta = {
        'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'), 'cpus': os.cpu_count(), 'host_kernel': platform.release(),
        'machine': platform.machine(), 'loadavg_start': [round(x, 2) for x in os.getloadavg()],
        'qemu_dir': qdir, 'qemu10_source': m.get('debian_source'),
        'versions': {}, 'via': 'executables (fork + exec), not the library loader',
        'reps': a.reps, 'sha_mib': a.sha_mib, 'loop': a.loop,
    }
    results, errors, rc = {}, [], 0
    try:
        for x, exes in plan.items():
            for v, exe in exes.items():
                meta['versions']['%s %s' % (x, v)] = tool_version(exe)
            try:
                results[x] = bench_arch(x, exes, m.get('L') or [], a, workdir)
            except BenchError as e:
                errors.append('%s: %s' % (x, e))
                log('%s failed: %s' % (x, e))
                rc = 1
    except Abort as e:
        errors.append('aborted: %s' % e)
        log('aborted: %s' % e)
        rc = 130
    finally:
        core.ignore_signals()  # let cleanup finish
        core.CLEAN.run()
    meta['loadavg_end'] = [round(x, 2) for x in os.getloadavg()]

    print()
    print('QEMU guest speed - %s, %d CPUs; Debian %s vs our QEMU %s (%s), executables' % (
        meta['date'], meta['cpus'], (meta['versions'].get('x86_64 debian-7.2') or '?').split('(')[0].strip(),
        m.get('qemu_version'), qdir))
    print('load average (1/5/15 min) at start %s, at end %s; the QEMU being timed adds ~1 while it runs' % (
        ' '.join('%.2f' % x for x in meta['loadavg_start']), ' '.join('%.2f' % x for x in meta['loadavg_end'])))
    print('speed 10/7.2 = t(Debian 7.2) / t(QEMU 10 TCG), > 1: QEMU 10 faster; '
          'speed TCI/TCG = t(TCG) / t(TCI), (1/N): TCI N times slower')
    for x, res in results.items():
        print()
        print_arch(res)
    for x, why in skipped.items():
        print('%s: skipped: %s' % (x, why))
    for e in errors:
        print('error: %s' % e)
    if results:
        core.write_results(a.out, {'meta': meta, 'results': results, 'skipped': skipped, 'errors': errors})
    return rc


if __name__ == '__main__':
    sys.exit(main())
