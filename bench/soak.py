#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Soak test (issue 12, "Soak and leaks"): does the daemon give back what repeated work takes?

  python3 bench/soak.py --build build        (on demand; not part of make check or make bench)

One real daemon (--port 0 --ws-port 0, a temporary data dir, --allow-path /usr/lib/memtest86+)
and one small x86_64 VM (memtest86+ ISO, 64 MiB, 1 CPU, no disk), then three phases:
  start/kill   --cycles (200) times: POST start (answered once QEMU runs), POST kill, wait for
               'stopped'
  vnc          --consoles (1000) times, the VM running: POST console (a ticket), open
               ws://.../vnc/ID?ticket=T, read the RFB greeting, close the socket
  events       --subscribers (500) times: POST events/ticket, open ws://.../events?ticket=T,
               close the socket
Before and after each phase: the daemon's VmRSS (/proc/PID/status) and its open fds
(/proc/PID/fd), sampled once the daemon has been idle for --settle seconds; the growth in % is
judged against the target (<= 5 %). Each phase first runs --warmup rounds that are not counted
(lazily loaded libraries, first-use caches and the allocator's first arenas are not leaks); at
each fifth of a phase RSS and fds are logged too (a leak keeps growing, a cache levels off), and
"last 4/5" is the RSS growth from the first fifth's sample to the last (shown, not judged).
No peer: nothing else does this work; the figures are before/after.

Guests run under TCG unless --kvm (as the tests do: QHM_NO_KVM=1). Prints a table and writes it
to bench/results/soak-latest.json. The daemon and its QEMU are ended on exit, errors and
SIGINT/SIGTERM included. Python 3 standard library plus tests/integration/{harness,wsclient}.py.
"""

import argparse
import json
import os
import platform
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))

import harness  # noqa: E402
import wsclient  # noqa: E402

TARGET_GROWTH_PCT = 5.0


class Abort(BaseException):
    """Raised from a signal handler so that cleanup runs."""


def log(msg):
    sys.stderr.write('[soak %s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def sample(pid):
    """{'rss_kib', 'fds'} of PID."""
    rss = None
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                rss = int(line.split()[1])
    return {'rss_kib': rss, 'fds': len(os.listdir('/proc/%d/fd' % pid))}


def settled(d, secs):
    time.sleep(secs)
    return sample(d.proc.pid)


def growth(before, after):
    return 100.0 * (after - before) / before if before else 0.0


# ----------------------------------------------------------------------------------------------
# Phases: each takes the daemon, the VM id and a round number, and does one round


def start_kill(d, vid, i):
    d.action(vid, 'start')
    d.action(vid, 'kill')
    d.wait_state(vid, 'stopped', timeout=30, interval=0.02)


def vnc_console(d, vid, i):
    t = d.ok('POST', '/api/v1/vms/%s/console' % vid, body={'protocol': 'vnc'})
    hs = wsclient.open_ws(t['url'], protocols=['binary'], timeout=10)
    if hs.status != 101:
        raise RuntimeError('VNC upgrade refused: %d %s' % (hs.status, hs.text()))
    try:
        greeting = hs.ws.recv_stream(12, timeout=10)
        if not greeting.startswith(b'RFB '):
            raise RuntimeError('no RFB greeting: %r' % greeting)
    finally:
        hs.ws.close()


def events_subscriber(d, vid, i):
    t = d.ok('POST', '/api/v1/events/ticket')
    hs = wsclient.open_ws(t['url'], timeout=10)
    if hs.status != 101:
        raise RuntimeError('events upgrade refused: %d %s' % (hs.status, hs.text()))
    hs.ws.close()


def run_phase(d, vid, name, fn, rounds, warmup, settle):
    for i in range(warmup):
        fn(d, vid, i)
    before = settled(d, settle)
    t0 = time.monotonic()
    trend = []  # (rounds done, sample) at each fifth, unsettled: does it level off or keep growing?
    for i in range(rounds):
        fn(d, vid, i)
        if (i + 1) % max(1, rounds // 5) == 0:
            s = sample(d.proc.pid)
            trend.append([i + 1, s['rss_kib'], s['fds']])
            log('%s: %d/%d (%.0f s), RSS %d KiB, %d fds' % (name, i + 1, rounds, time.monotonic() - t0,
                                                          s['rss_kib'], s['fds']))
    secs = time.monotonic() - t0
    after = settled(d, settle)
    return {'phase': name, 'rounds': rounds, 'warmup': warmup, 'seconds': round(secs, 1),
            'before': before, 'after': after, 'trend': trend,
            'rss_growth_pct': round(growth(before['rss_kib'], after['rss_kib']), 2),
            # from the first fifth's sample to the last: what a leak adds once caches have filled
            'rss_growth_late_pct': round(growth(trend[0][1], trend[-1][1]), 2) if trend else 0.0,
            'fd_growth_pct': round(growth(before['fds'], after['fds']), 2)}


def verdict(pct):
    return 'ok' if pct <= TARGET_GROWTH_PCT else 'OVER'


def print_table(rows, out=sys.stdout):
    hdr = ('phase', 'rounds', 'time s', 'RSS before KiB', 'RSS after KiB', 'RSS growth', 'last 4/5',
           'fds before', 'fds after', 'fd growth', 'target')
    lines = [hdr]
    for r in rows:
        lines.append((r['phase'], str(r['rounds']), '%.1f' % r['seconds'], str(r['before']['rss_kib']),
                      str(r['after']['rss_kib']), '%+.2f %% %s' % (r['rss_growth_pct'], verdict(r['rss_growth_pct'])),
                      '%+.2f %%' % r['rss_growth_late_pct'], str(r['before']['fds']), str(r['after']['fds']),
                      '%+.2f %% %s' % (r['fd_growth_pct'], verdict(r['fd_growth_pct'])),
                      '<= %.0f %%' % TARGET_GROWTH_PCT))
    w = [max(len(x[i]) for x in lines) for i in range(len(hdr))]
    for n, ln in enumerate(lines):
        out.write('  '.join(c.ljust(w[i]) for i, c in enumerate(ln)).rstrip() + '\n')
        if n == 0:
            out.write('  '.join('-' * x for x in w) + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default='build', help='build dir holding qemu-hmos (default build)')
    ap.add_argument('--cycles', type=int, default=200, help='start/kill cycles (200)')
    ap.add_argument('--consoles', type=int, default=1000, help='VNC consoles opened and closed (1000)')
    ap.add_argument('--subscribers', type=int, default=500, help='event subscribers joining and leaving (500)')
    ap.add_argument('--warmup', type=int, default=5, help='uncounted rounds before each phase (5)')
    ap.add_argument('--settle', type=float, default=2.0, help='idle seconds before each sample (2)')
    ap.add_argument('--kvm', action='store_true', help='let the guest use KVM (default: TCG)')
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'soak-latest.json'))
    a = ap.parse_args()
    binary = os.path.abspath(os.path.join(a.build, 'qemu-hmos'))
    if not os.path.exists(harness.MEMTEST_ISO):
        sys.exit('soak: %s missing (Debian package memtest86+)' % harness.MEMTEST_ISO)
    if not a.kvm:
        os.environ['QHM_NO_KVM'] = '1'

    def on_signal(signum, frame):
        raise Abort('signal %d' % signum)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    d = harness.Daemon(binary=binary, allow_paths=['/usr/lib/memtest86+'])
    rows = []
    try:
        d.start(timeout=30)
        log('daemon %s pid %d, data %s' % (binary, d.proc.pid, d.data_dir))
        vid = d.create(name='soak', arch='x86_64', memory_mib=64, cpus=1, disks=[],
                       cdrom=harness.MEMTEST_ISO)['id']
        rows.append(run_phase(d, vid, 'start/kill', start_kill, a.cycles, a.warmup, a.settle))
        d.action(vid, 'start')
        rows.append(run_phase(d, vid, 'vnc open/close', vnc_console, a.consoles, a.warmup, a.settle))
        rows.append(run_phase(d, vid, 'events join/leave', events_subscriber, a.subscribers, a.warmup,
                              a.settle))
        d.dispose(vid)
    except Abort as e:
        log('aborted: %s' % e)
        return 130
    except Exception as e:  # noqa: BLE001
        log('failed: %s\ndaemon stderr:\n%s' % (e, d.stderr_tail(30)))
        return 1
    finally:
        d.teardown()

    print('qemu-hmos soak (%s, %s, %d CPUs); daemon VmRSS and open fds before/after each phase'
          % (platform.node(), platform.machine(), os.cpu_count()))
    print_table(rows)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump({'when': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'binary': binary,
                   'target_growth_pct': TARGET_GROWTH_PCT, 'phases': rows}, f, indent=1)
    print('written to %s' % os.path.relpath(a.out, os.getcwd()))
    over = [r for r in rows if r['rss_growth_pct'] > TARGET_GROWTH_PCT or r['fd_growth_pct'] > TARGET_GROWTH_PCT]
    return 1 if over else 0


if __name__ == '__main__':
    sys.exit(main())
