#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""VNC bridge benchmark (issue 3, "Benchmarks"): the daemon's WebSocket->VNC bridge vs websockify
vs a direct unix-socket read, all against the same fast C source, in one run.

  python3 bench/bridge.py --build build       (also run by `make bench`, via bench/run.py)

Setup: the real daemon (--port 0 --ws-port 0) with one running x86_64 VM (128 MiB, no disk,
1 CPU). Its QEMU VNC socket DATA/vms/ID/run/vnc.sock is renamed away and bench-vncsrc
(bench/vncsrc.c) listens at that path instead, so every console the bridge opens reaches it.
Peers:
  bridge      ws://127.0.0.1:WS/vnc/ID?ticket=T (a fresh ticket per connection)
  websockify  Debian `websockify --unix-target=SRC 127.0.0.1:PORT` (a Python process per client)
              pointed at a second bench-vncsrc
  direct      bench-wsclient reading the unix socket itself (no WebSocket)
  floor       reference, not a target: `bench-vncsrc --relay`, the cheapest relay possible here (two
              threads doing blocking read()/write() between TCP and the unix socket, no WebSocket
              framing, no event loop; the client speaks raw bytes to it) - what any relay pays
The client is bench-wsclient (bench/wsclient.c): a real RFC 6455 client (masked frames, subprotocol
"binary"). Both helpers are compiled with $CC (default cc) into the run's temp dir.

Measured (medians of --repeats runs, peers interleaved):
  downstream MB/s (source -> client, --down bytes)   bridge, websockify, direct
  upstream MB/s (client -> source, --up bytes, 64 KiB masked frames; timed until the source has
      counted every byte and said so)                 bridge, websockify, direct (reference)
  relay CPU s/GB: utime+stime delta of the daemon (all threads) / of websockify (parent + live
      per-client children), sampled from /proc right before and after the transfer, the client
      still connected
  round-trip p99 of a 16-byte frame echoed by the source (--rtt rounds); added = relay - direct
  memory per idle console: daemon VmRSS (and PSS) delta over --idle consoles, divided by their
      number; websockify: RSS and PSS of one per-client child (median of 5)
  client+source CPU per GB: what the two ends spent meanwhile (they share the 2 CPUs with the
      relay, so on a small host MB/s follows the whole chain's CPU, not the relay's alone)
MB = 10^6 bytes, GB = 10^9 bytes. Prints a table; writes bench/results/bridge-latest.json.
Every process started here (daemon, QEMU, websockify and its children, sources, clients) is
ended on exit, errors and SIGINT/SIGTERM included. Python 3 standard library only.
"""

import argparse
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as core  # noqa: E402  (bench/run.py: process bookkeeping, daemon, API client)
from run import BenchError, Abort, log, mono  # noqa: E402

MIB = 1024 * 1024
CLK_TCK = os.sysconf('SC_CLK_TCK')

TARGET_DOWN_VS_WSF = 1.0
TARGET_DOWN_VS_DIRECT = 0.5
TARGET_UP_VS_WSF = 5.0
TARGET_CPU_VS_WSF = 0.5
TARGET_ADDED_RTT_US = 1000.0
TARGET_IDLE_KIB = 300.0


# ----------------------------------------------------------------------------------------------
# Helpers


def build_helpers(bindir):
    cc = os.environ.get('CC', 'cc')
    if not shutil.which(cc):
        raise BenchError('no C compiler (%s) to build the bench helpers' % cc)
    out = {}
    for name, src in (('bench-vncsrc', 'vncsrc.c'), ('bench-wsclient', 'wsclient.c')):
        exe = os.path.join(bindir, name)
        cmd = [cc, '-O2', '-g', '-Wall', '-Wextra', '-pthread', '-o', exe, os.path.join(HERE, src)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise BenchError('%s failed:\n%s' % (' '.join(cmd), p.stderr))
        out[name] = exe
    return out


def cpu_ticks(pids):
    """{pid: utime+stime ticks} of the live PIDS."""
    out = {}
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as f:
                s = f.read()
            rest = s[s.rindex(')') + 2:].split()
            if rest[0] in ('Z', 'X'):
                continue
            out[pid] = int(rest[11]) + int(rest[12])
        except (OSError, ValueError, IndexError):
            pass
    return out


def cpu_delta_s(before, after):
    """CPU seconds spent between two cpu_ticks() samples: processes present in both count their
    delta, processes born in between count fully, processes gone in between are not counted."""
    t = 0
    for pid, v in after.items():
        t += v - before.get(pid, 0)
    return t / CLK_TCK


def read_line(p, timeout, what):
    r, _, _ = select.select([p.stdout], [], [], timeout)
    if not r:
        raise BenchError('%s: no answer in %.0f s' % (what, timeout))
    line = p.stdout.readline()
    if not line:
        p.wait(5)
        err = p.stderr.read() if p.stderr else ''
        raise BenchError('%s: exited with %s: %s' % (what, p.returncode, err.strip()))
    return line.strip()


class Source:
    """bench-vncsrc listening at PATH (or, with RELAY, bench-vncsrc --relay 0 PATH: self.port)."""

    def __init__(self, exe, path, logpath, relay=False):
        self.path = path
        logf = open(logpath, 'wb')
        argv = [exe, '--relay', '0', path] if relay else [exe, path]
        self.proc = core.CLEAN.add(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                    stderr=logf, text=True), signal.SIGKILL)
        logf.close()
        words = read_line(self.proc, 10, ' '.join(argv)).split()
        if not words or words[0] != 'ready':
            raise BenchError('%s did not say ready' % ' '.join(argv))
        self.port = int(words[1]) if relay else None


class Websockify:
    def __init__(self, workdir, target):
        exe = shutil.which('websockify')
        if not exe:
            raise BenchError('websockify is not installed (apt-get install websockify)')
        self.port = core.free_port()
        self.logpath = os.path.join(workdir, 'websockify.log')
        logf = open(self.logpath, 'wb')
        # Own session: its per-client children are killed with the group on cleanup.
        self.proc = subprocess.Popen([exe, '--unix-target=%s' % target, '127.0.0.1:%d' % self.port],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        logf.close()
        KILL_GROUPS.append(self.proc)
        deadline = mono() + 15
        while True:
            if self.proc.poll() is not None:
                raise BenchError('websockify exited with %s' % self.proc.returncode)
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
                break
            except OSError:
                if mono() > deadline:
                    raise BenchError('websockify did not listen in 15 s')
                time.sleep(0.05)
        self.version = core.tool_version(['dpkg-query', '-W', '-f=${Version}', 'websockify'])
        self.url = 'ws://127.0.0.1:%d/' % self.port

    def pids(self):
        return [self.proc.pid] + core.children_of(self.proc.pid)


KILL_GROUPS = []  # Popens started in their own session: the whole group is killed on cleanup


def kill_groups():
    for p in KILL_GROUPS:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            pass
    for p in KILL_GROUPS:
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            pass
    KILL_GROUPS.clear()


# ----------------------------------------------------------------------------------------------
# The bench


class Bench:
    def __init__(self, a, exes, workdir):
        self.a = a
        self.wsc = exes['bench-wsclient']
        self.src_exe = exes['bench-vncsrc']
        self.workdir = workdir

    def setup(self, binary):
        d = self.d = core.Daemon(binary, self.workdir).start()
        with open(os.path.join(d.data, 'run', 'endpoint.json')) as f:
            ep = json.load(f)
        if not str(ep.get('ws', '')).startswith('ws://127.0.0.1:'):
            raise BenchError('endpoint.json has no ws://127.0.0.1:PORT: %r' % ep)
        vm = d.api.json('POST', '/api/v1/vms', {'name': 'bench-bridge', 'arch': 'x86_64', 'memory_mib': 128,
                                                'cpus': 1, 'disks': []}, want=(201,))
        self.vmid = vm['id']
        st = d.api.json('POST', '/api/v1/vms/%s/start' % self.vmid, timeout=60)
        if st.get('state') != 'running':
            raise BenchError('VM start answered state %r' % st.get('state'))
        self.vm = {k: st.get(k) for k in ('arch', 'memory_mib', 'cpus', 'accelerator')}
        vnc = os.path.join(d.data, 'vms', self.vmid, 'run', 'vnc.sock')
        deadline = mono() + 10
        while not os.path.exists(vnc):
            if mono() > deadline:
                raise BenchError('%s does not exist' % vnc)
            time.sleep(0.05)
        os.rename(vnc, vnc + '.qemu')  # QEMU keeps listening there; the bridge now reaches our source
        self.src_a = Source(self.src_exe, vnc, os.path.join(self.workdir, 'src-a.log'))
        self.src_b = Source(self.src_exe, os.path.join(self.workdir, 'src-b.sock'),
                            os.path.join(self.workdir, 'src-b.log'))
        self.wsf = Websockify(self.workdir, self.src_b.path)
        self.floor = Source(self.src_exe, self.src_b.path, os.path.join(self.workdir, 'floor.log'), relay=True)

    # -- targets: (label, url-maker, relay pid lister)

    def ticket_url(self):
        t = self.d.api.json('POST', '/api/v1/vms/%s/console' % self.vmid, {'protocol': 'vnc'})
        return t['url']

    def peers(self):
        """peer -> (URL maker, relay pid lister, source pid)"""
        return {
            'bridge': (self.ticket_url, lambda: [self.d.proc.pid], self.src_a.proc.pid),
            'websockify': (lambda: self.wsf.url, self.wsf.pids, self.src_b.proc.pid),
            'direct': (lambda: 'unix:' + self.src_a.path, lambda: [], self.src_a.proc.pid),
            'floor': (lambda: 'tcp:127.0.0.1:%d' % self.floor.port, lambda: [self.floor.proc.pid],
                      self.src_b.proc.pid),
        }

    def client(self, peer, mode, n, timeout=120):
        url_of, pids_of, src_pid = self.peers()[peer]
        p = core.CLEAN.add(subprocess.Popen([self.wsc, '-s', url_of(), mode, str(n)], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
                           signal.SIGKILL)
        what = 'bench-wsclient %s %s %s' % (peer, mode, n)
        try:
            if read_line(p, 15, what) != 'ready':
                raise BenchError('%s: did not say ready' % what)
            pids = pids_of()
            before, ends0 = cpu_ticks(pids), cpu_ticks([p.pid, src_pid])
            p.stdin.write('go\n')
            p.stdin.flush()
            res = json.loads(read_line(p, timeout, what))
            res['relay_cpu_s'] = cpu_delta_s(before, cpu_ticks(pids_of())) if pids else None
            ends1 = cpu_ticks([p.pid, src_pid])
            # the two ends (client and source) share the 2 CPUs with the relay: context for MB/s
            res['client_cpu_s'] = (ends1.get(p.pid, 0) - ends0.get(p.pid, 0)) / CLK_TCK
            res['source_cpu_s'] = (ends1.get(src_pid, 0) - ends0.get(src_pid, 0)) / CLK_TCK
            p.stdin.close()
            p.wait(10)
            if p.returncode != 0:
                raise BenchError('%s: exit %s: %s' % (what, p.returncode, p.stderr.read().strip()))
        finally:
            core.stop_popen(p, signal.SIGKILL, grace=0)
            core.CLEAN.popens = [(q, s) for q, s in core.CLEAN.popens if q is not p]
        if res.get('bytes'):
            gb = res['bytes'] / 1e9
            if res['relay_cpu_s'] is not None:
                res['cpu_s_per_gb'] = res['relay_cpu_s'] / gb
            res['ends_cpu_s_per_gb'] = (res['client_cpu_s'] + res['source_cpu_s']) / gb
        return res

    # -- idle memory

    def ws_open(self, url):
        """A raw WebSocket (stdlib only) that got its 101 and the 12-byte RFB greeting, then idles."""
        assert url.startswith('ws://')
        hostport, _, path = url[5:].partition('/')
        host, _, port = hostport.rpartition(':')
        s = socket.create_connection((host, int(port)), timeout=10)
        key = 'dGhlIHNhbXBsZSBub25jZQ=='
        s.sendall(('GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                   'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n'
                   % (path, hostport, key)).encode())
        buf = b''
        while b'\r\n\r\n' not in buf:
            c = s.recv(4096)
            if not c:
                raise BenchError('idle console %s: closed during the upgrade' % url)
            buf += c
        head, _, rest = buf.partition(b'\r\n\r\n')
        if not head.startswith(b'HTTP/1.1 101'):
            raise BenchError('idle console: %r' % head[:100])
        while len(rest) < 14:  # 2-byte frame header + "RFB 003.008\n" (one or more frames)
            c = s.recv(4096)
            if not c:
                raise BenchError('idle console %s: closed before the greeting' % url)
            rest += c
        if b'RFB 003.008' not in rest:
            raise BenchError('idle console: no greeting (%r)' % rest[:40])
        return s

    def idle_memory(self):
        n = self.a.idle
        log('idle consoles: %d to the bridge, 5 to websockify' % n)
        pid = self.d.proc.pid
        warm = [self.ws_open(self.ticket_url()) for _ in range(2)]  # lws/uv lazily set up their bits
        for s in warm:
            s.close()
        time.sleep(0.5)
        base = core.mem_of(pid)
        socks = []
        try:
            for _ in range(n):
                socks.append(self.ws_open(self.ticket_url()))
            time.sleep(1.0)
            after = core.mem_of(pid)
        finally:
            for s in socks:
                s.close()
        time.sleep(0.5)
        closed = core.mem_of(pid)
        res = {'consoles': n, 'daemon_before': base, 'daemon_after': after, 'daemon_after_close': closed,
               'rss_kib_per_console': (after['rss_kib'] - base['rss_kib']) / n,
               'pss_kib_per_console': (after['pss_kib'] - base['pss_kib']) / n}
        log('   bridge: %.1f KiB RSS, %.1f KiB PSS per idle console' % (res['rss_kib_per_console'],
                                                                        res['pss_kib_per_console']))
        children = []
        socks = []
        try:
            for _ in range(5):
                socks.append(self.ws_open(self.wsf.url))
            time.sleep(1.0)
            for c in core.children_of(self.wsf.proc.pid):
                try:
                    children.append(core.mem_of(c))
                except OSError:
                    pass
        finally:
            for s in socks:
                s.close()
        if children:
            res['websockify_children'] = children
            res['websockify_child_rss_kib'] = statistics.median(c['rss_kib'] for c in children)
            res['websockify_child_pss_kib'] = statistics.median(c['pss_kib'] for c in children)
            log('   websockify: one child %.0f KiB RSS, %.0f KiB PSS' % (res['websockify_child_rss_kib'],
                                                                       res['websockify_child_pss_kib']))
        time.sleep(0.5)  # let websockify reap its children before the timed runs
        return res

    def series(self, mode, n_of, peers, repeats):
        out = {p: [] for p in peers}
        for i in range(repeats):
            order = peers[i % len(peers):] + peers[:i % len(peers)]
            for p in order:
                r = self.client(p, mode, n_of(p))
                out[p].append(r)
                if mode == 'rtt':
                    log('   %s %d %-10s p50 %.1f p99 %.1f us' % (mode, i + 1, p, r['p50_us'], r['p99_us']))
                else:
                    log('   %s %d %-10s %.1f MB/s%s, client+source CPU %.2f s/GB' % (
                        mode, i + 1, p, r['mb_per_s'], ', relay CPU %.2f s/GB' % r['cpu_s_per_gb']
                        if r.get('cpu_s_per_gb') is not None else '', r['ends_cpu_s_per_gb']))
        return out


def med(rs, key):
    v = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(v) if v else None


def build_rows(res):
    rows = []

    def row(metric, b, w, dr, unit, target, ok, nd=1, note=None, fl=None):
        rows.append({'metric': metric, 'bridge': b, 'websockify': w, 'direct': dr, 'floor': fl, 'unit': unit,
                     'target': target, 'verdict': 'n/a' if ok is None else ('PASS' if ok else 'FAIL'),
                     'decimals': nd, 'note': note})

    def fl(series, key):
        return med(series['floor'], key) if series.get('floor') else None

    down, up, rtt, idle = res.get('down'), res.get('up'), res.get('rtt'), res.get('idle')
    if down:
        b, w, dr = med(down['bridge'], 'mb_per_s'), med(down['websockify'], 'mb_per_s'), med(down['direct'], 'mb_per_s')
        f = fl(down, 'mb_per_s')
        row('downstream (%d MiB), median' % (down['bridge'][0]['bytes'] // MIB), b, w, dr, 'MB/s',
            '>= websockify', b >= w * TARGET_DOWN_VS_WSF, note='bridge = %.2fx websockify' % (b / w), fl=f)
        row('downstream, share of direct', 100 * b / dr, 100 * w / dr, 100.0, '%', '>= 50 %',
            b >= dr * TARGET_DOWN_VS_DIRECT, 0, fl=100 * f / dr if f else None)
        bc, wc = med(down['bridge'], 'cpu_s_per_gb'), med(down['websockify'], 'cpu_s_per_gb')
        row('relay CPU per GB, downstream', bc, wc, None, 's/GB', '<= 1/2 websockify',
            bc <= wc * TARGET_CPU_VS_WSF, 3, note='bridge = %.2fx websockify' % (bc / wc) if wc else None,
            fl=fl(down, 'cpu_s_per_gb'))
        row('client+source CPU per GB, downstream', med(down['bridge'], 'ends_cpu_s_per_gb'),
            med(down['websockify'], 'ends_cpu_s_per_gb'), med(down['direct'], 'ends_cpu_s_per_gb'), 's/GB', '-',
            None, 3, fl=fl(down, 'ends_cpu_s_per_gb'))
    if up:
        b, w, dr = med(up['bridge'], 'mb_per_s'), med(up['websockify'], 'mb_per_s'), med(up['direct'], 'mb_per_s')
        row('upstream (%d MiB, 64 KiB frames), median' % (up['bridge'][0]['bytes'] // MIB), b, w, dr, 'MB/s',
            '>= 5x websockify', b >= w * TARGET_UP_VS_WSF, note='bridge = %.2fx websockify' % (b / w),
            fl=fl(up, 'mb_per_s'))
        bc, wc = med(up['bridge'], 'cpu_s_per_gb'), med(up['websockify'], 'cpu_s_per_gb')
        row('relay CPU per GB, upstream', bc, wc, None, 's/GB', '<= 1/2 websockify',
            bc <= wc * TARGET_CPU_VS_WSF, 3, note='bridge = %.2fx websockify' % (bc / wc) if wc else None,
            fl=fl(up, 'cpu_s_per_gb'))
        row('client+source CPU per GB, upstream', med(up['bridge'], 'ends_cpu_s_per_gb'),
            med(up['websockify'], 'ends_cpu_s_per_gb'), med(up['direct'], 'ends_cpu_s_per_gb'), 's/GB', '-',
            None, 3, fl=fl(up, 'ends_cpu_s_per_gb'))
    if rtt:
        for k in ('p50_us', 'p99_us'):
            row('round trip %s, median of runs' % k[:3], med(rtt['bridge'], k), med(rtt['websockify'], k),
                med(rtt['direct'], k), 'us', '-', None, fl=fl(rtt, k))
        d99 = med(rtt['direct'], 'p99_us')
        b99, w99 = med(rtt['bridge'], 'p99_us') - d99, med(rtt['websockify'], 'p99_us') - d99
        f99 = fl(rtt, 'p99_us')
        row('added round trip p99 (relay - direct)', b99, w99, None, 'us', '<= %g us' % TARGET_ADDED_RTT_US,
            b99 <= TARGET_ADDED_RTT_US, fl=f99 - d99 if f99 is not None else None)
    if idle:
        row('memory per idle console, RSS', idle['rss_kib_per_console'], idle.get('websockify_child_rss_kib'),
            None, 'KiB', '<= %g KiB' % TARGET_IDLE_KIB, idle['rss_kib_per_console'] <= TARGET_IDLE_KIB,
            note='bridge: daemon VmRSS delta over %d idle consoles / %d; websockify: one per-client child'
            % (idle['consoles'], idle['consoles']))
        row('memory per idle console, PSS', idle['pss_kib_per_console'], idle.get('websockify_child_pss_kib'),
            None, 'KiB', '-', None)
    return rows


def fmtv(v, unit, nd):
    return 'n/a' if v is None else ('%.' + str(nd) + 'f %s') % (v, unit)


def print_table(rows, out=sys.stdout):
    head = ('metric', 'bridge (qemu-hmos)', 'websockify', 'direct unix read', 'floor relay (ref.)', 'target',
            'verdict')
    lines = [(r['metric'], fmtv(r['bridge'], r['unit'], r['decimals']), fmtv(r['websockify'], r['unit'], r['decimals']),
              fmtv(r['direct'], r['unit'], r['decimals']) if r['direct'] is not None else '-',
              fmtv(r['floor'], r['unit'], r['decimals']) if r.get('floor') is not None else '-', r['target'],
              r['verdict']) for r in rows]
    w = [max(len(x[i]) for x in [head] + lines) for i in range(len(head))]
    out.write(' | '.join(h.ljust(n) for h, n in zip(head, w)) + '\n' + '-+-'.join('-' * n for n in w) + '\n')
    for x in lines:
        out.write(' | '.join(c.rjust(n) if 1 <= i <= 4 else c.ljust(n) for i, (c, n) in enumerate(zip(x, w))) + '\n')
    for r in rows:
        if r.get('note'):
            out.write('  note - %s: %s\n' % (r['metric'], r['note']))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default='build', help='meson build dir holding qemu-hmos (default build)')
    ap.add_argument('--daemon', help='daemon binary (overrides --build)')
    ap.add_argument('--repeats', type=int, default=5, help='runs per peer and direction (default 5)')
    ap.add_argument('--down', type=int, default=1024, help='MiB per downstream run (default 1024)')
    ap.add_argument('--up', type=int, default=256, help='MiB per upstream run (default 256)')
    ap.add_argument('--rtt', type=int, default=5000, help='round trips per latency run (default 5000)')
    ap.add_argument('--idle', type=int, default=200, help='idle consoles for the memory figure (default 200)')
    ap.add_argument('--only', choices=('idle', 'rtt', 'down', 'up'), action='append')
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'bridge-latest.json'))
    ap.add_argument('--timeout', type=int, default=300, help='bound on the whole run in seconds (default 300)')
    a = ap.parse_args()

    binary = os.path.abspath(a.daemon or os.path.join(a.build, 'qemu-hmos'))
    if not os.access(binary, os.X_OK):
        print('bench: no daemon at %s (build it: meson setup build && ninja -C build)' % binary, file=sys.stderr)
        return 2
    want = set(a.only or ('idle', 'rtt', 'down', 'up'))

    core.abort_on_signals(a.timeout)

    workdir = tempfile.mkdtemp(prefix='qhm-bbench-')
    core.CLEAN.dirs.append(workdir)
    core.CLEAN.markers.append(workdir)
    res, errors, meta, rc = {}, [], {}, 0
    t_start = mono()
    try:
        bindir = os.path.join(workdir, 'bin')
        os.makedirs(bindir)
        exes = build_helpers(bindir)
        b = Bench(a, exes, workdir)
        b.setup(binary)
        h = b.d.host_info
        meta = {'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'), 'daemon': binary, 'daemon_version': h.get('version'),
                'cpus': os.cpu_count(), 'kernel': platform.release(), 'vm': b.vm,
                'loadavg_at_start': open('/proc/loadavg').read().split()[:3],
                'qemu': core.tool_version(['qemu-system-x86_64', '--version']),
                'websockify': b.wsf.version, 'python': platform.python_version(),
                'sizes': {'down_mib': a.down, 'up_mib': a.up, 'rtt_rounds': a.rtt, 'idle_consoles': a.idle,
                          'repeats': a.repeats}}
        peers3 = ['bridge', 'websockify', 'direct', 'floor']
        for name in ('idle', 'rtt', 'down', 'up'):
            if name not in want:
                continue
            try:
                if name == 'idle':
                    res['idle'] = b.idle_memory()
                elif name == 'rtt':
                    log('round trips: %d per run, %d runs per peer' % (a.rtt, a.repeats))
                    res['rtt'] = b.series('rtt', lambda p: a.rtt, peers3, a.repeats)
                elif name == 'down':
                    log('downstream: %d MiB per run, %d runs per peer' % (a.down, a.repeats))
                    res['down'] = b.series('down', lambda p: a.down * MIB, peers3, a.repeats)
                else:
                    log('upstream: %d MiB per run, %d runs per peer' % (a.up, a.repeats))
                    res['up'] = b.series('up', lambda p: a.up * MIB, peers3, a.repeats)
            except BenchError as e:
                errors.append('%s: %s' % (name, e))
                log('%s failed: %s' % (name, e))
                rc = 1
        if b.d.proc.poll() is not None:
            errors.append('the daemon died during the run (status %s):\n%s' % (b.d.proc.returncode, b.d.log_tail()))
            rc = 1
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        errors.append(str(e))
        log('error: %s' % e)
        rc = 1
    except Abort as e:
        errors.append('aborted: %s' % e)
        log('aborted: %s' % e)
        rc = 130
    finally:
        core.ignore_signals()  # let cleanup finish
        kill_groups()
        core.CLEAN.run()
    meta['seconds'] = round(mono() - t_start, 1)

    rows = []
    try:
        rows = build_rows(res)
    except (KeyError, TypeError, ZeroDivisionError, IndexError) as e:
        errors.append('incomplete results: %r' % e)
    print()
    print('qemu-hmos VNC bridge benchmark - %s, %s CPUs, websockify %s, %.0f s' % (
        meta.get('date', '?'), meta.get('cpus', '?'), meta.get('websockify', '?'), meta['seconds']))
    print_table(rows)
    for e in errors:
        print('error: %s' % e)
    core.write_results(a.out, {'meta': meta, 'rows': rows, 'errors': errors, 'raw': res})
    return rc


if __name__ == '__main__':
    sys.exit(main())
