#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Performance modes (issue 17 item 4): what standard, saver and turbo do to a guest, one run.

  python3 bench/perf.py --daemon build/qemu-hmos     (also run by `make bench`: bench/run.py --only perf)

The guest: the Linux test guest (tests/integration/linuxguest.py: Debian 12's kernel, a busybox
initramfs), x86_64, 2 vCPUs, 256 MiB, booted by QEMU itself. Its /init starts two CPU-bound busybox
ash loops (one per vCPU; each prints `W<n> <count>` every 20,000 rounds on the serial console) and
a shell that echoes every line it reads (`E:<line>`), so the console stays interactive while the
guest is busy.

For each run, after the guest is up and a warm-up, a window of --window seconds (--rounds rounds
of every row, the order rotated; medians over rounds, echo percentiles over all samples):
  guest throughput   loop rounds per second, both loops together (from their W lines)
  host CPU           the QEMU process's utime + stime over the window, in % of one CPU
  echo p50/p95       a line typed on the serial console every 250 ms -> its E: line back
                     (the daemon's serial WebSocket; the bare QEMU's socket directly)

Rows:
  bare QEMU          the named peer: Debian's qemu-system-x86_64 started by hand with the very
                     argv the daemon builds for standard (bench/run.py's bare_argv), no daemon
  standard, saver, turbo   VMs of the daemon in each mode (server/vm/vm_perf.c)
  busy host: standard, turbo   the same with two busy host processes (nice 0) competing for
                     both cores, where turbo's priority has something to take
Targets (issue 17): saver's host CPU <= 50 % of standard's with echo p95 <= 200 ms; turbo >= 15 %
more guest throughput than standard (on this host: measured with the busy host; on an idle one
there is no CPU for turbo to take, which the quiet rows show).
Writes bench/results/perf-latest.json. Every process started here is ended on exit, errors and
SIGINT/SIGTERM included. Python 3 standard library plus tests/integration (linuxguest, wsclient).
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.append(os.path.join(REPO, 'tests', 'integration'))  # after HERE: it has a run.py too
import run as core  # noqa: E402  (bench/run.py: daemon, bare QEMU, process bookkeeping)
from run import BenchError, Abort, log, mono  # noqa: E402
import linuxguest  # noqa: E402
import wsclient  # noqa: E402

SCRIPT = r'''w() { i=0; while :; do i=$((i + 1)); if [ $((i % 20000)) -eq 0 ]; then echo "W$1 $i"; fi; done; }
w 1 &
w 2 &
echo QHM-READY
while read l; do echo "E:$l"; done'''


class WsSerial:
    """The daemon's serial console WebSocket (/serial/{id})."""

    def __init__(self, api, vmid):
        t = api.json('POST', '/api/v1/vms/%s/console' % vmid, {'protocol': 'serial'})
        self.ws = wsclient.connect(t['url'], timeout=10)

    def read(self, timeout):
        try:
            op, data = self.ws.recv_message(timeout=timeout)
        except wsclient.Timeout:
            return b''
        return data if op == wsclient.OP_BINARY else b''

    def write(self, data):
        self.ws.send_binary(data)

    def close(self):
        self.ws.close()


class SockSerial:
    """A bare QEMU's serial port: its unix socket."""

    def __init__(self, path, deadline):
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if mono() > deadline:
                    raise BenchError('no serial socket at %s' % path)
                time.sleep(0.05)

    def read(self, timeout):
        self.s.settimeout(timeout)
        try:
            return self.s.recv(65536)
        except socket.timeout:
            return b''

    def write(self, data):
        self.s.sendall(data)

    def close(self):
        self.s.close()


def measure(serial, pid, window, warmup):
    """The window's figures (see the module's text) on SERIAL of the QEMU process PID."""
    buf = b''
    deadline = mono() + 180
    while b'QHM-READY' not in buf:
        if mono() > deadline:
            raise BenchError('the guest did not come up; serial: %r' % buf[-500:])
        buf += serial.read(1.0)
    end_warm = mono() + warmup
    while mono() < end_warm:
        serial.read(0.2)
    firsts, lasts = {}, {}
    sent, lat = {}, []
    pending = b''
    t0, c0 = mono(), core.cpu_of(pid)
    t_end = t0 + window
    next_key, n = t0, 0
    while True:
        now = mono()
        if now >= t_end:
            break
        if now >= next_key:
            n += 1
            sent[n] = mono()
            serial.write(b'k%d\n' % n)
            next_key += 0.25
        data = serial.read(max(0.01, min(next_key, t_end) - mono()))
        at = mono()
        pending += data
        lines = pending.split(b'\n')
        pending = lines.pop()
        for line in lines:
            m = re.search(rb'W(\d) (\d+)', line)
            if m:
                w, c = m.group(1), int(m.group(2))
                firsts.setdefault(w, (at, c))
                lasts[w] = (at, c)
            m = re.search(rb'E:k(\d+)', line)
            if m and int(m.group(1)) in sent:
                lat.append((at - sent.pop(int(m.group(1)))) * 1000)
    t1, c1 = mono(), core.cpu_of(pid)
    rate = 0.0
    for w, (ta, ca) in firsts.items():
        tb, cb = lasts[w]
        if tb > ta:
            rate += (cb - ca) / (tb - ta)
    lat.sort()
    lost = len(sent)  # typed lines never echoed within the window
    return {
        'rounds_per_s': rate,
        'host_cpu_pct': (c1 - c0) / (t1 - t0) * 100,
        'echo_p50_ms': statistics.median(lat) if lat else None,
        'echo_p95_ms': lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else None,
        'echoes': len(lat),
        'echo_lost': lost,
        'lat_ms': lat,
        'workers_seen': len(firsts),
    }


class Busy:
    """N host processes spinning at nice 0 (a busy phone: the browser, another app)."""

    def __init__(self, n):
        self.procs = [core.CLEAN.add(subprocess.Popen([sys.executable, '-c', 'while True: pass']))
                      for _ in range(n)]

    def stop(self):
        for p in self.procs:
            core.stop_popen(p)


def vm_run(d, kb, mode, a):
    vm = d.api.json('POST', '/api/v1/vms', {'name': 'perf-%s-%d' % (mode, int(time.time() * 1000) % 10 ** 8),
                                            'arch': 'x86_64', 'memory_mib': 256, 'cpus': 2, 'disks': [],
                                            'network': {'mode': 'none'}, 'kernel_boot': kb,
                                            'performance': mode}, want=(201,))
    vid = vm['id']
    serial = WsSerial(d.api, vid)
    try:
        v = d.api.json('POST', '/api/v1/vms/%s/start' % vid, timeout=120)
        r = measure(serial, v['pid'], a.window, a.warmup)
        v = d.api.json('GET', '/api/v1/vms/%s' % vid)
        r['applied'] = (v.get('performance_active') or {}).get('applied', [])
        r['not_applied'] = (v.get('performance_active') or {}).get('not_applied', [])
        return r
    finally:
        serial.close()
        d.api.req('POST', '/api/v1/vms/%s/kill' % vid)
        deadline = mono() + 30
        while d.api.json('GET', '/api/v1/vms/%s' % vid)['state'] != 'stopped' and mono() < deadline:
            time.sleep(0.1)
        d.api.req('DELETE', '/api/v1/vms/%s' % vid)


def bare_run(d, kb, a, tmp):
    dry = d.api.json('POST', '/api/v1/vms?dry_run=true',
                     {'name': 'perf-bare', 'arch': 'x86_64', 'memory_mib': 256, 'cpus': 2, 'disks': [],
                      'network': {'mode': 'none'}, 'kernel_boot': kb})
    argv = core.bare_argv(dry['argv'], tmp, d.data)
    q = core.BareQemu(argv, tmp)
    q.start()
    serial = SockSerial(os.path.join(tmp, 'serial.sock'), mono() + 20)
    try:
        return measure(serial, q.proc.pid, a.window, a.warmup)
    finally:
        serial.close()
        q.kill()


def fmt(v, f):
    return '-' if v is None else f % v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--daemon', default=os.path.join(REPO, 'build', 'qemu-hmos'))
    ap.add_argument('--window', type=float, default=15.0, help='seconds measured per run (default 15)')
    ap.add_argument('--warmup', type=float, default=3.0)
    ap.add_argument('--rounds', type=int, default=3, help='rounds of every configuration, rotated (default 3)')
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'perf-latest.json'))
    ap.add_argument('--timeout', type=int, default=900)
    a = ap.parse_args()
    core.abort_on_signals(a.timeout)
    tmp = tempfile.mkdtemp(prefix='qhm-bench-perf-')
    os.chmod(tmp, 0o755)  # QEMU runs as the daemon's own user when the daemon is root
    rows = {}
    try:
        try:
            kernel, _ = linuxguest.kernel()
        except RuntimeError as e:
            print('perf: skipped: %s' % e)
            return 0
        initrd = linuxguest.build_initrd(os.path.join(tmp, 'initrd.gz'), SCRIPT, modules=[])
        kb = {'kernel': kernel, 'initrd': initrd, 'cmdline': linuxguest.CMDLINE}
        d = core.Daemon(os.path.abspath(a.daemon), tmp,
                        ['--allow-path', os.path.dirname(kernel), '--allow-path', tmp]).start()
        bare_tmp = os.path.join(tmp, 'bare')
        os.makedirs(bare_tmp)
        configs = [('bare QEMU (Debian, by hand)', None, False), ('standard', 'standard', False),
                   ('saver', 'saver', False), ('turbo', 'turbo', False),
                   ('busy host: standard', 'standard', True), ('busy host: turbo', 'turbo', True)]
        runs = {c[0]: [] for c in configs}
        for rnd in range(a.rounds):
            order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]  # no config always first
            for label, mode, busy in order:
                log('perf: round %d/%d: %s' % (rnd + 1, a.rounds, label))
                load = Busy(2) if busy else None
                try:
                    runs[label].append(bare_run(d, kb, a, bare_tmp) if mode is None else vm_run(d, kb, mode, a))
                finally:
                    if load:
                        load.stop()
        for label, rs in runs.items():
            lat = sorted(x for r in rs for x in r['lat_ms'])
            rows[label] = {
                'rounds_per_s': statistics.median(r['rounds_per_s'] for r in rs),
                'host_cpu_pct': statistics.median(r['host_cpu_pct'] for r in rs),
                'echo_p50_ms': statistics.median(lat) if lat else None,
                'echo_p95_ms': lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else None,
                'echo_lost': sum(r['echo_lost'] for r in rs),
                'applied': rs[-1].get('applied', []), 'not_applied': rs[-1].get('not_applied', []),
                'runs': [{k: v for k, v in r.items() if k != 'lat_ms'} for r in rs],
            }
    except (BenchError, Abort) as e:
        print('perf: error: %s' % e)
        core.CLEAN.run()
        return 1
    finally:
        core.CLEAN.run()

    print('\nPerformance modes: x86_64 Linux test guest, 2 vCPUs, two busy loops + an echo shell; '
          '%d rounds of %.0f s windows, medians (echo: every sample of the rounds)' % (a.rounds, a.window))
    print('%-30s %16s %12s %14s %14s' % ('', 'guest rounds/s', 'host CPU %', 'echo p50 ms', 'echo p95 ms'))
    for k, r in rows.items():
        print('%-30s %16s %12s %14s %14s' % (k, fmt(r['rounds_per_s'], '%.0f'), fmt(r['host_cpu_pct'], '%.0f'),
                                             fmt(r['echo_p50_ms'], '%.1f'), fmt(r['echo_p95_ms'], '%.1f')))
    std, saver, turbo = rows['standard'], rows['saver'], rows['turbo']
    bstd, bturbo = rows['busy host: standard'], rows['busy host: turbo']
    cpu_ratio = saver['host_cpu_pct'] / std['host_cpu_pct'] if std['host_cpu_pct'] else None
    gain_quiet = turbo['rounds_per_s'] / std['rounds_per_s'] - 1 if std['rounds_per_s'] else None
    gain_busy = bturbo['rounds_per_s'] / bstd['rounds_per_s'] - 1 if bstd['rounds_per_s'] else None
    checks = [
        ('saver host CPU / standard <= 50 %', fmt(cpu_ratio and cpu_ratio * 100, '%.0f %%'),
         cpu_ratio is not None and cpu_ratio <= 0.5),
        ('saver echo p95 <= 200 ms', fmt(saver['echo_p95_ms'], '%.0f ms'),
         saver['echo_p95_ms'] is not None and saver['echo_p95_ms'] <= 200 and saver['echo_lost'] == 0),
        ('turbo vs standard, busy host >= +15 %', fmt(gain_busy and gain_busy * 100, '%+.0f %%'),
         gain_busy is not None and gain_busy >= 0.15),
        ('turbo vs standard, quiet host', fmt(gain_quiet and gain_quiet * 100, '%+.0f %%'), None),
    ]
    print()
    for label, val, ok in checks:
        print('%-40s %10s  %s' % (label, val, '' if ok is None else 'PASS' if ok else 'FAIL'))
    print('\nsaver did: %s' % '; '.join(saver['applied'] + ['not: ' + x for x in saver['not_applied']]))
    print('turbo did: %s' % '; '.join(turbo['applied'] + ['not: ' + x for x in turbo['not_applied']]))
    core.write_results(a.out, {'rows': rows, 'checks': [{'check': c, 'value': v, 'pass': ok} for c, v, ok in checks],
                               'window_s': a.window, 'rounds': a.rounds})
    return 0


if __name__ == '__main__':
    sys.exit(main())
