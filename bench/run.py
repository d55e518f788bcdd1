#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-hmos benchmarks, one run, figures side by side with a named peer and the target.

  python3 bench/run.py --build build        (what `make bench` runs)

1. Idle memory: VmRSS and PSS (/proc/PID/smaps_rollup) of the daemon with 0 VMs after start
   and a few requests. Peer (reference point only): an idle nginx, master + 1 worker.
2. GET /api/v1/vms with 20 VMs defined: wrk -t2 -c50 -d10s --latency (p50/p90/p99, req/s).
   Peer: nginx serving the very same JSON bytes as a static file, same wrk settings.
3. Start latency of an x86_64 VM (256 MiB, no disk, memtest86+ ISO): POST start -> response
   (running) and -> first real frame (GET screenshot polled every 10 ms). Peer: bare
   qemu-system-x86_64 with the same argv, fork -> QMP query-status running and -> first real
   frame (QMP screendump polled every 10 ms). 5 repeats each, median and min, overhead.

4. The VNC bridge (WebSocket <-> VNC unix socket) vs websockify vs a direct read: bench/bridge.py,
   run as a separate process after 1-3 (its own daemon, table and bench/results/bridge-latest.json).
5. Guest speed, Debian's QEMU 7.2 vs our QEMU 10 (TCG JIT) vs our QEMU 10 (TCI), on a Linux guest's
   boot and two CPU-bound guest programs: bench/qemu.py, run last as a separate process (its own
   table and bench/results/qemu-latest.json; skips when there is no QEMU 10 build; the TCI runs make
   it the slowest part, some 11-14 minutes on 2 cores).
6. Performance modes (standard, saver, turbo; issue 17): guest throughput, host CPU and serial
   echo latency per mode, a bare QEMU beside them, also with a busy host: bench/perf.py, its own
   process before 5 (bench/results/perf-latest.json; ~7 minutes).
7. Typing latency in the VNC console, key-to-pixel in Chromium: ours with and without the nudge
   vs noVNC + websockify, and with our QEMU 10 when built (bench/typing.mjs, node;
   bench/results/typing-latest.json).
8. Shared folders: virtiofs vs virtio-9p on 2,000 small files and one 256 MiB file, in a Linux guest
   (bench/shares.py; bench/results/shares-latest.json).

Prints a table and writes it (plus raw samples) to bench/results/latest.json.
Only 127.0.0.1 is used. Every process started here (daemon, its VMs, nginx, wrk, bare QEMU)
is ended on exit, errors and SIGINT/SIGTERM included; the whole run is bounded by --timeout.
Python 3 standard library only.
"""

import argparse
import http.client
import itertools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MEMTEST_ISO = '/usr/lib/memtest86+/memtest86+x64.iso'
MIB = 1024 * 1024

TARGET_RSS_MIB = 8.0
TARGET_P99_MS = 5.0
TARGET_OVERHEAD_MS = 50.0
POLL_S = 0.010


class BenchError(Exception):
    pass


class Abort(BaseException):
    """Raised from a signal handler (SIGINT/SIGTERM/SIGHUP/SIGALRM) so that cleanup runs."""


def _raise_abort(signum, _frame):
    raise Abort('signal %d%s' % (signum, ' (--timeout reached)' if signum == signal.SIGALRM else ''))


def abort_on_signals(timeout):
    """From now on SIGINT, SIGTERM and SIGHUP raise Abort, and so does SIGALRM after TIMEOUT seconds
    (the bound on the whole run). The run's finally ends it with ignore_signals()."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, _raise_abort)
    signal.alarm(timeout)


def ignore_signals():
    """The end of abort_on_signals(): no alarm pending, and SIGINT/SIGTERM/SIGHUP ignored so that the
    cleanup after it finishes."""
    signal.alarm(0)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)


def write_results(path, data):
    """DATA as indented JSON at PATH, whole or not at all (a temporary file renamed); says where."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(data, f, indent=1)
        f.write('\n')
    os.replace(path + '.tmp', path)
    print('written %s' % os.path.relpath(path))


def log(msg):
    sys.stderr.write('[bench %s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


mono = time.monotonic


# ----------------------------------------------------------------------------------------------
# Process bookkeeping and cleanup


def proc_argv(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [a.decode(errors='replace') for a in f.read().split(b'\0')[:-1]]
    except OSError:
        return None


def proc_stat(pid):
    """(state, ppid) from /proc/PID/stat, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
        rest = s[s.rindex(')') + 2:].split()
        return rest[0], int(rest[1])
    except (OSError, ValueError, IndexError):
        return None


def cpu_of(pid):
    """utime + stime of PID (all its threads) in seconds, or None once it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            rest = f.read().rsplit(')', 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, IndexError, ValueError):
        return None


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ('Z', 'X')


def children_of(ppid):
    out = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            st = proc_stat(int(name))
            if st and st[1] == ppid:
                out.append(int(name))
    return out


def qemu_pids_with(marker):
    """Live qemu-system-* processes whose argv mentions MARKER (a temp dir of this run)."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        argv = proc_argv(int(name))
        if argv and os.path.basename(argv[0]).startswith('qemu-system') and any(marker in a for a in argv):
            if alive(int(name)):
                out.append(int(name))
    return out


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def stop_popen(p, sig=signal.SIGTERM, grace=5.0):
    """Ask a child to stop with SIG, SIGKILL it after GRACE seconds, reap it."""
    if p is None:
        return
    if p.poll() is None:
        kill_pid(p.pid, sig)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            kill_pid(p.pid)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


class Cleanup:
    def __init__(self):
        self.popens = []        # (Popen, stop signal)
        self.extra_pids = []    # e.g. nginx workers (not our children)
        self.markers = []       # temp dirs: any qemu-system mentioning one is ours
        self.dirs = []

    def add(self, p, sig=signal.SIGTERM):
        self.popens.append((p, sig))
        return p

    def run(self):
        for p, sig in reversed(self.popens):
            try:
                stop_popen(p, sig)
            except Exception as e:  # noqa: BLE001
                log('cleanup: %s' % e)
        for pid in self.extra_pids:
            if alive(pid):
                kill_pid(pid)
        # VMs run in their own session (they outlive the daemon by design): kill them by pid.
        for m in self.markers:
            pids = qemu_pids_with(m)
            for pid in pids:
                log('cleanup: killing leftover QEMU %d' % pid)
                kill_pid(pid)
            deadline = mono() + 5
            while mono() < deadline and any(alive(x) for x in pids):
                time.sleep(0.05)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.popens, self.extra_pids, self.markers, self.dirs = [], [], [], []


CLEAN = Cleanup()


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ----------------------------------------------------------------------------------------------
# Memory


def mem_of(pid):
    """{'rss_kib', 'pss_kib', 'threads'} of PID."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                out['rss_kib'] = int(line.split()[1])
            elif line.startswith('Threads:'):
                out['threads'] = int(line.split()[1])
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for line in f:
            if line.startswith('Pss:'):
                out['pss_kib'] = int(line.split()[1])
    return out


# ----------------------------------------------------------------------------------------------
# PNG (decoder fast enough to classify a 720x400 frame in a few ms)

_PNG_SIG = b'\x89PNG\r\n\x1a\n'
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png_decode(data):
    """PNG bytes -> (width, height, packed RGB bytes). 8-bit, non-interlaced, types 0/2/4/6."""
    if not data.startswith(_PNG_SIG):
        raise ValueError('not a PNG')
    pos, ihdr, idat = 8, None, []
    while pos + 8 <= len(data):
        length, ctype = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif ctype == b'IDAT':
            idat.append(body)
        elif ctype == b'IEND':
            break
    if ihdr is None:
        raise ValueError('PNG without IHDR')
    w, h, depth, ct, _comp, _filt, interlace = ihdr
    if depth != 8 or ct not in _CHANNELS or interlace:
        raise ValueError('unsupported PNG (depth %d, colour type %d, interlace %d)' % (depth, ct, interlace))
    bpp = _CHANNELS[ct]
    stride = w * bpp
    raw = zlib.decompress(b''.join(idat))
    if len(raw) < (stride + 1) * h:
        raise ValueError('PNG data too short')
    m7 = int.from_bytes(b'\x7f' * stride, 'little')
    m8 = int.from_bytes(b'\x80' * stride, 'little')
    and255 = (255).__and__
    out = bytearray(stride * h)
    prev = bytes(stride)
    for y in range(h):
        o = y * (stride + 1)
        f = raw[o]
        line = raw[o + 1:o + 1 + stride]
        if f == 0:
            cur = line
        elif f == 2:  # Up: bytewise (line + prev) mod 256, carry-free on big ints
            a = int.from_bytes(line, 'little')
            b = int.from_bytes(prev, 'little')
            cur = (((a & m7) + (b & m7)) ^ ((a ^ b) & m8)).to_bytes(stride, 'little')
        elif f == 1:  # Sub: per-channel running sum mod 256
            buf = bytearray(line)
            for c in range(bpp):
                buf[c::bpp] = bytes(map(and255, itertools.accumulate(line[c::bpp])))
            cur = bytes(buf)
        elif f == 3:  # Average
            buf = bytearray(line)
            for i in range(stride):
                left = buf[i - bpp] if i >= bpp else 0
                buf[i] = (buf[i] + ((left + prev[i]) >> 1)) & 255
            cur = bytes(buf)
        elif f == 4:  # Paeth
            buf = bytearray(line)
            for i in range(stride):
                if i >= bpp:
                    buf[i] = (buf[i] + _paeth(buf[i - bpp], prev[i], prev[i - bpp])) & 255
                else:
                    buf[i] = (buf[i] + prev[i]) & 255
            cur = bytes(buf)
        else:
            raise ValueError('bad PNG filter %d' % f)
        out[y * stride:(y + 1) * stride] = cur
        prev = cur
    pix = bytes(out)
    if ct == 2:
        rgb = pix
    else:
        a = bytearray(w * h * 3)
        if ct == 6:
            a[0::3], a[1::3], a[2::3] = pix[0::4], pix[1::4], pix[2::4]
        else:
            g = pix[0::bpp]
            a[0::3], a[1::3], a[2::3] = g, g, g
        rgb = bytes(a)
    return w, h, rgb


class FrameJudge:
    """Tells a real guest frame from QEMU's 640x480 'Guest has not initialized the display
    (yet).' placeholder (exact pixels captured from this QEMU, paused with -S) and from a flat
    single-colour screen. Results are cached per PNG content."""

    def __init__(self, placeholder):
        self.placeholder = placeholder  # (w, h, rgb)
        self.cache = {}

    def verdict(self, data):
        v = self.cache.get(data)
        if v is None:
            w, h, rgb = png_decode(data)
            if (w, h, rgb) == self.placeholder:
                v = 'placeholder'
            elif rgb == rgb[:3] * (w * h):
                v = 'flat'
            else:
                v = 'real %dx%d' % (w, h)
            self.cache[data] = v
        return v


# ----------------------------------------------------------------------------------------------
# HTTP client for the daemon (one keep-alive connection, reopened on error)


class Api:
    def __init__(self, base, token=None):
        m = re.match(r'^http://([^/:]+):(\d+)$', base)
        if not m or m.group(1) not in ('127.0.0.1', 'localhost'):
            raise BenchError('daemon endpoint %r is not on 127.0.0.1' % base)
        self.host, self.port = m.group(1), int(m.group(2))
        self.token = token  # the daemon's secret (endpoint.json "token")
        self.conn = None

    def req(self, method, path, body=None, timeout=30.0):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            try:
                hdrs = {'Content-Type': 'application/json'} if data is not None else {}
                if self.token:
                    hdrs['Authorization'] = 'Bearer ' + self.token
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError, BrokenPipeError) as e:
                self.close()
                if attempt:
                    raise BenchError('%s %s: %s' % (method, path, e))
            except socket.timeout:
                self.close()
                raise BenchError('%s %s: no answer in %.0f s' % (method, path, timeout))
        raise AssertionError('unreachable')

    def json(self, method, path, body=None, want=(200,), timeout=30.0):
        st, b = self.req(method, path, body, timeout)
        if st not in want:
            raise BenchError('%s %s -> %d %s' % (method, path, st, b[:400].decode(errors='replace')))
        return json.loads(b) if b else None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ----------------------------------------------------------------------------------------------
# The daemon


class Daemon:
    def __init__(self, binary, workdir, extra=()):
        self.binary = binary
        self.extra = list(extra)  # more `serve` options (--allow-path DIR ...)
        self.data = os.path.join(workdir, 'data')
        self.logpath = os.path.join(workdir, 'daemon.log')
        self.proc = None
        self.api = None

    def start(self):
        cmd = [self.binary, 'serve', '--data-dir', self.data, '--bind', '127.0.0.1', '--port', '0', '--ws-port', '0']
        cmd += self.extra
        helptext = subprocess.run([self.binary, '--help'], capture_output=True, text=True, timeout=10)
        if '--ws-port' in helptext.stdout + helptext.stderr:
            cmd += ['--ws-port', '0']  # never collide with a daemon already on 8007
        logf = open(self.logpath, 'wb')
        self.proc = CLEAN.add(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                               stderr=subprocess.STDOUT))
        logf.close()
        ep = os.path.join(self.data, 'run', 'endpoint.json')
        deadline = mono() + 20
        while True:
            if self.proc.poll() is not None:
                raise BenchError('daemon exited with %s:\n%s' % (self.proc.returncode, self.log_tail()))
            try:
                with open(ep) as f:
                    info = json.load(f)
                if info.get('pid') == self.proc.pid:
                    break
            except (OSError, ValueError):
                pass
            if mono() > deadline:
                raise BenchError('daemon wrote no endpoint.json in 20 s:\n%s' % self.log_tail())
            time.sleep(0.02)
        self.base = info['http']
        self.api = Api(self.base, info.get('token'))
        # endpoint.json says "serving"; check that it really answers.
        deadline = mono() + 10
        while True:
            try:
                self.host_info = self.api.json('GET', '/api/v1/host', timeout=5)
                break
            except (BenchError, OSError) as e:
                if mono() > deadline:
                    raise BenchError('daemon at %s does not answer: %s\n%s' % (self.base, e, self.log_tail()))
                time.sleep(0.05)
        return self

    def log_tail(self, n=30):
        try:
            with open(self.logpath, 'rb') as f:
                return '\n'.join(f.read().decode(errors='replace').splitlines()[-n:])
        except OSError:
            return ''


# ----------------------------------------------------------------------------------------------
# nginx (peer for 1 and 2)


class Nginx:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, 'nginx')
        self.www = os.path.join(self.dir, 'www')
        self.proc = None

    def start(self):
        binary = shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists('/usr/sbin/nginx') else None)
        if not binary:
            raise BenchError('nginx is not installed (apt-get install nginx); peer figures skipped')
        os.makedirs(os.path.join(self.www, 'api', 'v1'))
        for d in (self.dir, self.www, os.path.join(self.www, 'api'), os.path.join(self.www, 'api', 'v1')):
            os.chmod(d, 0o755)  # the worker may run as another user
        os.chmod(os.path.dirname(self.dir), 0o755)
        self.port = free_port()
        user = 'user root;' if os.geteuid() == 0 else ''
        conf = os.path.join(self.dir, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write('''%(user)s
daemon off;
master_process on;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    default_type application/json;
    server {
        listen 127.0.0.1:%(port)d;
        root %(www)s;
    }
}
''' % {'user': user, 'd': self.dir, 'port': self.port, 'www': self.www})
        self.set_body(b'{"vms": []}')
        v = subprocess.run([binary, '-v'], capture_output=True, text=True, timeout=10)
        self.version = (v.stderr or v.stdout).strip().replace('nginx version: ', '')
        logf = open(os.path.join(self.dir, 'stderr.log'), 'wb')
        self.proc = CLEAN.add(subprocess.Popen([binary, '-p', self.dir, '-c', conf], stdin=subprocess.DEVNULL,
                                               stdout=logf, stderr=subprocess.STDOUT), signal.SIGQUIT)
        logf.close()
        deadline = mono() + 10
        while True:
            if self.proc.poll() is not None:
                raise BenchError('nginx exited with %s: %s' % (self.proc.returncode, self.errors()))
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
                self.workers = children_of(self.proc.pid)
                if self.workers:
                    break
            except OSError:
                pass
            if mono() > deadline:
                raise BenchError('nginx did not listen in 10 s: %s' % self.errors())
            time.sleep(0.02)
        CLEAN.extra_pids.extend(self.workers)
        self.api = Api('http://127.0.0.1:%d' % self.port)
        return self

    def set_body(self, body):
        p = os.path.join(self.www, 'api', 'v1', 'vms')
        with open(p + '.tmp', 'wb') as f:
            f.write(body)
        os.chmod(p + '.tmp', 0o644)
        os.rename(p + '.tmp', p)

    def errors(self):
        out = ''
        for n in ('stderr.log', 'error.log'):
            try:
                with open(os.path.join(self.dir, n), 'rb') as f:
                    out += f.read().decode(errors='replace')[-2000:]
            except OSError:
                pass
        return out.strip()


# ----------------------------------------------------------------------------------------------
# wrk


def to_ms(s):
    m = re.match(r'^([\d.]+)(us|ms|s|m)$', s)
    if not m:
        raise BenchError('cannot parse wrk duration %r' % s)
    v = float(m.group(1))
    return v * {'us': 0.001, 'ms': 1.0, 's': 1000.0, 'm': 60000.0}[m.group(2)]


def run_wrk(url, duration, threads=2, conns=50):
    cmd = ['wrk', '-t%d' % threads, '-c%d' % conns, '-d%ds' % duration, '--timeout', '5s', '--latency', url]
    p = CLEAN.add(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True), signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        stop_popen(p, signal.SIGKILL)
        raise BenchError('wrk did not finish in %d s' % (duration + 30))
    if p.returncode != 0:
        raise BenchError('wrk failed (%s): %s' % (p.returncode, out))
    res = {'cmd': ' '.join(cmd), 'output': out, 'non_2xx': 0, 'socket_errors': None}
    for pct in ('50', '75', '90', '99'):
        m = re.search(r'^\s+%s%%\s+(\S+)' % pct, out, re.M)
        if not m:
            raise BenchError('no %s%% line in wrk output:\n%s' % (pct, out))
        res['p%s_ms' % pct] = to_ms(m.group(1))
    m = re.search(r'^Requests/sec:\s+([\d.]+)', out, re.M)
    res['req_per_s'] = float(m.group(1)) if m else None
    m = re.search(r'^\s+(\d+) requests in', out, re.M)
    res['requests'] = int(m.group(1)) if m else None
    m = re.search(r'Non-2xx or 3xx responses:\s+(\d+)', out)
    if m:
        res['non_2xx'] = int(m.group(1))
    m = re.search(r'Socket errors: (.*)', out)
    if m:
        res['socket_errors'] = m.group(1).strip()
    return res


# ----------------------------------------------------------------------------------------------
# Bare QEMU with a path-based QMP socket


class QMPClient:
    def __init__(self, path, deadline, poll_s=0.001):
        """Poll-connect to PATH until DEADLINE (QEMU creates the socket when it is ready)."""
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if mono() > deadline:
                    raise BenchError('QMP socket %s: no connection' % path)
                time.sleep(poll_s)
        s.settimeout(max(1.0, deadline - mono()))
        self.sock = s
        self.f = s.makefile('rwb')
        self.greeting = self._read()
        self.cmd('qmp_capabilities')

    def _read(self):
        line = self.f.readline()
        if not line:
            raise BenchError('QMP closed')
        return json.loads(line)

    def cmd(self, name, **args):
        m = {'execute': name}
        if args:
            m['arguments'] = args
        self.f.write(json.dumps(m).encode() + b'\n')
        self.f.flush()
        while True:
            r = self._read()
            if 'event' in r:
                continue
            if 'error' in r:
                raise BenchError('QMP %s: %s' % (name, r['error']))
            return r['return']

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def bare_argv(argv, tmp, datadir):
    """The daemon's argv with the fd-passed QMP and serial chardevs, the pidfile, the VNC socket
    and the guest agent's socket moved to TMP (everything else identical)."""
    out, i, replaced = [], 0, set()
    while i < len(argv):
        a = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else ''
        if a == '-chardev' and nxt.startswith('socket,id=charmonitor,'):
            out += [a, 'socket,id=charmonitor,path=%s/qmp.sock,server=on,wait=off' % tmp]
            replaced.add('qmp')
            i += 2
        elif a == '-pidfile':
            out += [a, '%s/qemu.pid' % tmp]
            replaced.add('pidfile')
            i += 2
        elif a == '-vnc' and nxt.startswith('unix:'):
            out += [a, 'unix:%s/vnc.sock' % tmp]
            replaced.add('vnc')
            i += 2
        elif a == '-chardev' and nxt.startswith('socket,id=serial0,'):  # the serial port (fd-passed)
            out += [a, 'socket,id=serial0,path=%s/serial.sock,server=on,wait=off' % tmp]
            i += 2
        elif a == '-chardev' and nxt.startswith('socket,id=qga0,'):  # the guest agent's port
            out += [a, 'socket,id=qga0,path=%s/qga.sock,server=on,wait=off' % tmp]
            i += 2
        else:
            out.append(a)
            i += 1
    if 'qmp' not in replaced:
        raise BenchError('no -chardev socket,id=charmonitor,... in the daemon argv: %r' % argv)
    left = [a for a in out if datadir in a]
    if left:
        raise BenchError('bare argv still points into the daemon data dir: %r' % left)
    return out


class BareQemu:
    def __init__(self, argv, tmp):
        self.argv, self.tmp = argv, tmp
        self.sock = os.path.join(tmp, 'qmp.sock')
        self.proc = None
        self.qmp = None

    def start(self, extra=(), deadline_s=30):
        for n in ('qmp.sock', 'vnc.sock', 'qga.sock', 'qemu.pid', 'shot.png'):
            try:
                os.unlink(os.path.join(self.tmp, n))
            except FileNotFoundError:
                pass
        logf = open(os.path.join(self.tmp, 'qemu.log'), 'wb')
        t0 = mono()
        self.proc = CLEAN.add(subprocess.Popen(self.argv + list(extra), stdin=subprocess.DEVNULL, stdout=logf,
                                               stderr=subprocess.STDOUT, start_new_session=True),
                              signal.SIGKILL)
        logf.close()
        try:
            self.qmp = QMPClient(self.sock, t0 + deadline_s)
        except BenchError:
            self.kill()
            raise BenchError('bare QEMU: no QMP: %s' % self.log_tail())
        return t0

    def screendump(self):
        fn = os.path.join(self.tmp, 'shot.png')
        self.qmp.cmd('screendump', filename=fn, format='png')
        with open(fn, 'rb') as f:
            return f.read()

    def log_tail(self):
        try:
            with open(os.path.join(self.tmp, 'qemu.log'), 'rb') as f:
                return f.read().decode(errors='replace')[-1500:]
        except OSError:
            return ''

    def kill(self):
        if self.qmp:
            try:
                self.qmp.cmd('quit')
            except (BenchError, OSError):
                pass
            self.qmp.close()
            self.qmp = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                stop_popen(self.proc, signal.SIGKILL)
            CLEAN.popens = [(p, s) for p, s in CLEAN.popens if p is not self.proc]
            self.proc = None


def poll_first_frame(grab, judge, t0, timeout_s=60):
    """Call GRAB every 10 ms (fixed period) until it returns a real frame; returns
    (seconds from T0 to the arrival of that frame, verdicts seen, polls)."""
    deadline = mono() + timeout_s
    seen, polls = [], 0
    next_at = mono()
    while True:
        now = mono()
        if now > deadline:
            raise BenchError('no real frame within %d s (saw %s)' % (timeout_s, seen))
        if next_at > now:
            time.sleep(next_at - now)
        next_at = mono() + POLL_S
        data = grab()
        t_got = mono()
        polls += 1
        if data is None:
            continue
        v = judge.verdict(data)
        if not seen or seen[-1] != v:
            seen.append(v)
        if v.startswith('real'):
            return t_got - t0, seen, polls


# ----------------------------------------------------------------------------------------------
# The benchmarks


def bench_idle(d, ng):
    log('1. idle memory')
    api = d.api
    for _ in range(3):
        api.json('GET', '/api/v1/host')
        api.json('GET', '/api/v1/vms')
    api.req('GET', '/api/v1/vms/0000000000000000')  # 404
    api.req('GET', '/api/v1/nope')
    api.close()
    if ng:
        for _ in range(3):
            ng.api.req('GET', '/api/v1/vms')
        ng.api.close()
    time.sleep(1.0)
    ours = mem_of(d.proc.pid)
    vms = d.api.json('GET', '/api/v1/vms')['vms']
    d.api.close()
    if vms:
        raise BenchError('expected 0 VMs in a fresh data dir, found %d' % len(vms))
    res = {'qemu_hmos': ours, 'nginx': None}
    if ng:
        procs = [ng.proc.pid] + ng.workers
        per = {str(p): mem_of(p) for p in procs}
        res['nginx'] = {'rss_kib': sum(v['rss_kib'] for v in per.values()),
                        'pss_kib': sum(v['pss_kib'] for v in per.values()),
                        'processes': per, 'version': ng.version}
    log('   qemu-hmos VmRSS %.2f MiB, PSS %.2f MiB' % (ours['rss_kib'] / 1024, ours['pss_kib'] / 1024))
    return res


def bench_list(d, ng, duration):
    log('2. GET /api/v1/vms with 20 VMs (wrk -t2 -c50 -d%ds)' % duration)
    for i in range(20):
        d.api.json('POST', '/api/v1/vms', {'name': 'bench-%02d' % (i + 1), 'memory_mib': 256, 'disks': []},
                   want=(201,))
    st, body = d.api.req('GET', '/api/v1/vms')
    if st != 200 or len(json.loads(body)['vms']) != 20:
        raise BenchError('list after creating 20 VMs: %d %r' % (st, body[:200]))
    d.api.close()
    res = {'vms': 20, 'body_bytes': len(body)}
    url = d.base + '/api/v1/vms'
    run_wrk(url, 2)  # warm-up
    res['qemu_hmos'] = run_wrk(url, duration)
    log('   qemu-hmos p50 %.3f p90 %.3f p99 %.3f ms, %.0f req/s' % (
        res['qemu_hmos']['p50_ms'], res['qemu_hmos']['p90_ms'], res['qemu_hmos']['p99_ms'],
        res['qemu_hmos']['req_per_s']))
    res['rss_after_kib'] = mem_of(d.proc.pid)
    res['nginx'] = None
    if ng:
        ng.set_body(body)
        st, got = ng.api.req('GET', '/api/v1/vms')
        ng.api.close()
        if st != 200 or got != body:
            raise BenchError('nginx does not serve the same bytes (%d, %d bytes)' % (st, len(got)))
        nurl = 'http://127.0.0.1:%d/api/v1/vms' % ng.port
        run_wrk(nurl, 2)
        res['nginx'] = run_wrk(nurl, duration)
        log('   nginx     p50 %.3f p90 %.3f p99 %.3f ms, %.0f req/s' % (
            res['nginx']['p50_ms'], res['nginx']['p90_ms'], res['nginx']['p99_ms'], res['nginx']['req_per_s']))
    return res


def capture_placeholder(argv, tmp):
    """QEMU's 'display not initialized' frame, from the same argv paused with -S."""
    q = BareQemu(argv, tmp)
    q.start(extra=['-S'])
    try:
        data = q.screendump()
    finally:
        q.kill()
    ph = png_decode(data)
    if ph[:2] != (640, 480) or ph[2] == ph[2][:3] * (640 * 480):
        raise BenchError('unexpected placeholder frame from QEMU -S: %dx%d' % ph[:2])
    return ph


def ours_once(d, vmid, judge):
    api = d.api
    api.req('GET', '/api/v1/host')  # keep-alive connection open, like the bare side's fork
    t0 = mono()
    st, body = api.req('POST', '/api/v1/vms/%s/start' % vmid, timeout=60)
    t_run = mono() - t0
    if st != 200:
        raise BenchError('start -> %d %s' % (st, body[:1000].decode(errors='replace')))
    state = json.loads(body)['state']
    if state != 'running':
        raise BenchError('start answered state %r' % state)

    def grab():
        s, b = api.req('GET', '/api/v1/vms/%s/screenshot' % vmid)
        return b if s == 200 else None
    try:
        t_frame, seen, polls = poll_first_frame(grab, judge, t0)
    finally:
        vm = api.json('POST', '/api/v1/vms/%s/kill' % vmid, timeout=30)
        deadline = mono() + 15
        while vm['state'] not in ('stopped', 'crashed'):
            if mono() > deadline:
                raise BenchError('VM did not stop after kill: %s' % vm['state'])
            time.sleep(0.05)
            vm = api.json('GET', '/api/v1/vms/%s' % vmid)
    return {'to_running_ms': t_run * 1000, 'to_frame_ms': t_frame * 1000, 'frames': seen, 'polls': polls}


def bare_once(argv, tmp, judge):
    q = BareQemu(argv, tmp)
    t0 = q.start()
    try:
        while True:
            st = q.qmp.cmd('query-status')
            if st.get('status') == 'running':
                break
            if mono() - t0 > 30:
                raise BenchError('bare QEMU status %r' % st)
            time.sleep(0.001)
        t_run = mono() - t0
        t_frame, seen, polls = poll_first_frame(q.screendump, judge, t0)
    finally:
        q.kill()
    return {'to_running_ms': t_run * 1000, 'to_frame_ms': t_frame * 1000, 'frames': seen, 'polls': polls}


def bench_start(d, workdir, repeats):
    log('3. start latency (x86_64, 256 MiB, no disk, memtest86+), %d repeats each' % repeats)
    if not os.path.isfile(MEMTEST_ISO):
        raise BenchError('%s missing (apt-get install memtest86+)' % MEMTEST_ISO)
    vm = d.api.json('POST', '/api/v1/vms', {'name': 'bench-memtest', 'arch': 'x86_64', 'memory_mib': 256,
                                            'disks': [], 'cdrom': MEMTEST_ISO}, want=(201,))
    vmid = vm['id']
    cmd = d.api.json('GET', '/api/v1/vms/%s/cmdline' % vmid)
    tmp = os.path.join(workdir, 'bare')
    os.makedirs(tmp)
    argv = bare_argv(cmd['argv'], tmp, d.data)
    judge = FrameJudge(capture_placeholder(argv, tmp))
    ours, bare = [], []
    for i in range(repeats):
        order = ('ours', 'bare') if i % 2 == 0 else ('bare', 'ours')
        for who in order:
            time.sleep(0.3)
            if who == 'ours':
                r = ours_once(d, vmid, judge)
                ours.append(r)
            else:
                r = bare_once(argv, tmp, judge)
                bare.append(r)
            log('   run %d %-4s: running %.1f ms, first real frame %.1f ms (%s)' % (
                i + 1, who, r['to_running_ms'], r['to_frame_ms'], ' -> '.join(r['frames'])))
    d.api.close()
    return {'vm': {k: vm[k] for k in ('arch', 'memory_mib', 'cpus', 'accelerator', 'cdrom')},
            'daemon_argv': cmd['argv'], 'bare_argv': argv, 'qemu_hmos': ours, 'bare_qemu': bare}


# ----------------------------------------------------------------------------------------------
# Report


def verdict(value, target):
    if value is None:
        return 'n/a'
    return 'PASS' if value <= target else 'FAIL'


def fmt(v, unit, nd=2):
    if v is None:
        return 'n/a'
    return ('%.' + str(nd) + 'f %s') % (v, unit)


def build_rows(idle, lst, start):
    rows = []

    def row(metric, ours, peer, peer_name, target, verdict_, unit, nd=2, note=None):
        rows.append({'metric': metric, 'qemu_hmos': ours, 'peer': peer, 'peer_name': peer_name,
                     'target': target, 'verdict': verdict_, 'unit': unit, 'decimals': nd, 'note': note})

    ref = 'nginx master+worker, reference only'
    if idle:
        ng = idle.get('nginx')
        o = idle['qemu_hmos']
        row('idle VmRSS, 0 VMs', o['rss_kib'] / 1024, ng and ng['rss_kib'] / 1024, ref,
            '<= %g MiB' % TARGET_RSS_MIB, verdict(o['rss_kib'] / 1024, TARGET_RSS_MIB), 'MiB')
        row('idle PSS, 0 VMs', o['pss_kib'] / 1024, ng and ng['pss_kib'] / 1024, ref,
            '<= %g MiB' % TARGET_RSS_MIB, verdict(o['pss_kib'] / 1024, TARGET_RSS_MIB), 'MiB')
    if lst:
        o, n = lst['qemu_hmos'], lst.get('nginx')
        peer = 'nginx static file, same %d bytes' % lst['body_bytes']
        for p in ('50', '90'):
            row('GET /vms (20 VMs) p%s' % p, o['p%s_ms' % p], n and n['p%s_ms' % p], peer, '-', 'info', 'ms', 3)
        row('GET /vms (20 VMs) p99', o['p99_ms'], n and n['p99_ms'], peer, '<= %g ms' % TARGET_P99_MS,
            verdict(o['p99_ms'], TARGET_P99_MS), 'ms', 3)
        row('GET /vms (20 VMs) req/s', o['req_per_s'], n and n['req_per_s'], peer, '-', 'info', 'req/s', 0)
        if o['non_2xx'] or (o['socket_errors'] or '').strip():
            rows[-1]['note'] = 'qemu-hmos: non-2xx %s, socket errors %s' % (o['non_2xx'], o['socket_errors'])
        row('VmRSS after wrk, 20 VMs', lst['rss_after_kib']['rss_kib'] / 1024, None, '-', '-', 'info', 'MiB')
    if start:
        o, b = start['qemu_hmos'], start['bare_qemu']
        peer = 'bare qemu-system-x86_64, same argv'
        for key, label in (('to_running_ms', 'start -> running'), ('to_frame_ms', 'start -> first real frame')):
            ov, bv = [r[key] for r in o], [r[key] for r in b]
            om, bm = statistics.median(ov), statistics.median(bv)
            row('%s, median' % label, om, bm, peer, '-', 'info', 'ms', 1)
            row('%s, min' % label, min(ov), min(bv), peer, '-', 'info', 'ms', 1)
            row('%s, overhead (median ours - bare)' % label, om - bm, None, '-', '<= %g ms' % TARGET_OVERHEAD_MS,
                verdict(om - bm, TARGET_OVERHEAD_MS), 'ms', 1,
                note='min ours - min bare = %.1f ms' % (min(ov) - min(bv)))
    return rows


def print_table(rows, out=sys.stdout):
    head = ('metric', 'qemu-hmos', 'peer (name)', 'target', 'verdict')
    lines = []
    for r in rows:
        ours = fmt(r['qemu_hmos'], r['unit'], r['decimals'])
        peer = ('%s (%s)' % (fmt(r['peer'], r['unit'], r['decimals']), r['peer_name'])
                if r['peer'] is not None else ('- ' if r['peer_name'] == '-' else 'n/a (%s)' % r['peer_name']))
        lines.append((r['metric'], ours, peer.strip(), r['target'], r['verdict']))
    w = [max(len(x[i]) for x in [head] + lines) for i in range(5)]
    sep = '-+-'.join('-' * n for n in w)
    out.write(' | '.join(h.ljust(n) for h, n in zip(head, w)) + '\n' + sep + '\n')
    for x in lines:
        out.write(' | '.join(c.ljust(n) if i != 1 else c.rjust(n) for i, (c, n) in enumerate(zip(x, w))) + '\n')
    notes = ['%s: %s' % (r['metric'], r['note']) for r in rows if r.get('note')]
    for n in notes:
        out.write('  note - %s\n' % n)


def tool_version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default='build', help='meson build dir holding qemu-hmos (default build)')
    ap.add_argument('--daemon', help='daemon binary (overrides --build)')
    ap.add_argument('--repeats', type=int, default=5, help='start-latency repeats (default 5)')
    ap.add_argument('--duration', type=int, default=10, help='wrk seconds per run (default 10)')
    ap.add_argument('--only', choices=('idle', 'list', 'start', 'bridge', 'download', 'qemu', 'perf', 'typing', 'shares'),
                    action='append',
                    help='run only these benchmarks (repeatable)')
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'latest.json'))
    ap.add_argument('--timeout', type=int, default=900, help='bound on the whole run in seconds (default 900)')
    a = ap.parse_args()

    binary = os.path.abspath(a.daemon or os.path.join(a.build, 'qemu-hmos'))
    want = set(a.only or ('idle', 'list', 'start', 'bridge', 'download', 'qemu', 'perf', 'typing', 'shares'))
    if want - {'qemu'} and not os.access(binary, os.X_OK):  # bench/qemu.py needs no daemon
        print('bench: no daemon at %s (build it: meson setup build && ninja -C build)' % binary, file=sys.stderr)
        return 2
    if 'list' in want and not shutil.which('wrk'):
        print('bench: wrk is not installed (apt-get install wrk)', file=sys.stderr)
        return 2

    abort_on_signals(a.timeout)

    if 'download' in want:  # bench/download.py: the image downloader vs aria2c and curl
        dl_rc = subprocess.call([sys.executable, os.path.join(HERE, 'download.py'), '--daemon', binary])
        if not want & {'idle', 'list', 'start', 'bridge', 'qemu', 'perf', 'typing', 'shares'}:
            return dl_rc
    if not want & {'idle', 'list', 'start'}:
        return run_separate(want, binary)
    workdir = tempfile.mkdtemp(prefix='qhm-bench-')
    CLEAN.dirs.append(workdir)
    CLEAN.markers.append(workdir)
    idle = lst = start = None
    errors = []
    meta = {}
    rc = 0
    try:
        d = Daemon(binary, workdir).start()
        ng = None
        if want & {'idle', 'list'}:
            try:
                ng = Nginx(workdir).start()
            except BenchError as e:
                errors.append(str(e))
                log('peer nginx unavailable: %s' % e)
        h = d.host_info
        meta = {
            'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
            'daemon': binary, 'daemon_version': h.get('version'),
            'cpus': os.cpu_count(), 'kernel': platform.release(), 'machine': platform.machine(),
            'host_memory_mib': h.get('memory_mib'),
            'accelerator_x86_64': (h.get('arches') or {}).get('x86_64', {}).get('accelerator'),
            'kvm': h.get('kvm'),
            'qemu': tool_version(['qemu-system-x86_64', '--version']),
            'nginx': ng.version if ng else None,
            'wrk': tool_version(['wrk', '--version']),
            'python': platform.python_version(),
        }
        for name in ('idle', 'list', 'start'):
            if name not in want:
                continue
            try:
                if name == 'idle':
                    idle = bench_idle(d, ng)
                elif name == 'list':
                    lst = bench_list(d, ng, a.duration)
                else:
                    start = bench_start(d, workdir, a.repeats)
            except BenchError as e:
                errors.append('%s: %s' % (name, e))
                log('%s failed: %s' % (name, e))
                rc = 1
        if d.proc.poll() is not None:
            errors.append('the daemon died during the run (status %s):\n%s' % (d.proc.returncode, d.log_tail()))
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
        ignore_signals()  # let cleanup finish
        CLEAN.run()

    rows = build_rows(idle, lst, start)
    print()
    print('qemu-hmos benchmarks - %s, %s CPUs, %s, accelerator %s' % (
        meta.get('date', '?'), meta.get('cpus', '?'), meta.get('qemu', '?'), meta.get('accelerator_x86_64', '?')))
    print_table(rows)
    for e in errors:
        print('error: %s' % e)
    result = {'meta': meta, 'rows': rows, 'errors': errors,
              'raw': {'idle': idle, 'list': lst, 'start': start}}
    if lst:  # keep the JSON readable: wrk's text output is summarised by the parsed fields
        for k in ('qemu_hmos', 'nginx'):
            if lst.get(k):
                lst[k]['output'] = lst[k]['output'].splitlines()
    write_results(a.out, result)
    if any(r['verdict'] == 'FAIL' for r in rows) and rc == 0:
        rc = 0  # a missed target is a finding, not a bench failure
    return max(rc, run_separate(want, binary))


def run_separate(want, binary):
    """4, 7, 8, 6 and 5, those of them WANTed, one after the other."""
    rc = 0
    if 'bridge' in want:  # bridge.py bounds itself (--timeout 300); 600 s is a backstop
        rc = max(rc, run_script('4. VNC bridge', 'bridge.py', ['--daemon', binary], 600))
    if 'typing' in want:  # typing.mjs: 3 consoles x 4 scenarios x 40 keys, a few minutes
        rc = max(rc, run_script('7. Typing latency', 'typing.mjs', ['--daemon', binary], 900))
    if 'shares' in want:  # shares.py bounds itself (--timeout 1500)
        rc = max(rc, run_script('8. Shared folders', 'shares.py', ['--daemon', binary], 1600))
    if 'perf' in want:  # perf.py bounds itself (--timeout 900)
        rc = max(rc, run_script('6. Performance modes', 'perf.py', ['--daemon', binary], 1000))
    if 'qemu' in want:  # qemu.py bounds itself (--timeout 5400)
        rc = max(rc, run_script('5. QEMU guest speed', 'qemu.py', [], 6000))
    return rc


def run_script(label, script, args, bound):
    """bench/SCRIPT in its own process, waited for at most BOUND seconds (it cleans up after itself,
    SIGINT included: it is in our process group, and signals are ignored here by now)."""
    signal.alarm(0)  # --timeout bounds 1-3; the script has its own bound
    print()
    sys.stdout.flush()
    cmd = ['node' if script.endswith('.mjs') else sys.executable, os.path.join(HERE, script)] + args
    log('%s: %s' % (label, ' '.join(cmd[1:])))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's ^C reaches the child too
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)

    def forward(signum, _frame):
        kill_pid(p.pid, signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, forward)
    try:
        return p.wait(bound)
    except subprocess.TimeoutExpired:
        stop_popen(p)
        print('error: bench/%s did not finish in %d s' % (script, bound))
        return 1


if __name__ == '__main__':
    sys.exit(main())
