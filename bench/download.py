#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Downloader benchmark: one 512 MiB file from a local nginx with `limit_rate 20m` per
connection, 8 connections. qemu-hmos's engine vs `aria2c -x8 -s8` vs a single `curl`.

  python3 bench/download.py --build build [--size-mib 512]

Figures: throughput (MB/s, 10^6 bytes), CPU seconds per GiB (the daemon's utime+stime delta
from /proc/PID/stat; for aria2c and curl the child's rusage), and the bytes fetched twice
after a kill -9 at ~50 % and a resume (nginx access log $bytes_sent minus the file size).
$bytes_sent counts what nginx handed to the kernel, so it includes what sat in the socket
buffers at the kill (received by the kernel, never by the client): no client can save those.
`ss` sampled just before the kill gives that floor (the client's Recv-Q plus nginx's
unacknowledged Send-Q over the connections), reported as inflight_pct.
Writes bench/results/download.json. Only 127.0.0.1; every process started here is ended.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TICK = os.sysconf('SC_CLK_TCK')


def log(msg):
    sys.stderr.write('[bench-dl %s] %s\n' % (time.strftime('%H:%M:%S'), msg))


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_of(pid):
    with open('/proc/%d/stat' % pid) as f:
        rest = f.read().rsplit(')', 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK


class Nginx:
    def __init__(self, tmp, root):
        self.dir = os.path.join(tmp, 'nginx')
        os.makedirs(os.path.join(self.dir, 'tmp'))
        self.port = free_port()
        self.log = os.path.join(self.dir, 'access.log')
        conf = os.path.join(self.dir, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write("""worker_processes 1;
error_log %(d)s/error.log; pid %(d)s/nginx.pid;
events { worker_connections 256; }
http {
  log_format b '$status $bytes_sent'; access_log %(d)s/access.log b;
  client_body_temp_path %(d)s/tmp; proxy_temp_path %(d)s/tmp; fastcgi_temp_path %(d)s/tmp;
  uwsgi_temp_path %(d)s/tmp; scgi_temp_path %(d)s/tmp;
  sendfile on;
  server { listen 127.0.0.1:%(p)d; root %(r)s; limit_rate 20m; }
}
""" % {'d': self.dir, 'p': self.port, 'r': root})
        self.proc = subprocess.Popen(['nginx', '-p', self.dir, '-c', conf, '-g', 'daemon off;'],
                                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(('127.0.0.1', self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('nginx did not start')

    def reset_log(self):
        open(self.log, 'w').close()

    def bytes_sent(self):
        with open(self.log) as f:
            return sum(int(line.split()[1]) for line in f if line.split() and line.split()[0] in ('200', '206'))

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()


class Daemon:
    def __init__(self, binary, tmp):
        self.binary = binary
        self.data = os.path.join(tmp, 'data')
        os.makedirs(self.data, exist_ok=True)
        self.proc = None

    def start(self):
        ep = os.path.join(self.data, 'run', 'endpoint.json')
        if os.path.exists(ep):
            os.unlink(ep)
        self.proc = subprocess.Popen([self.binary, 'serve', '--data-dir', self.data, '--port', '0', '--ws-port', '0'],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.data, 'log'), 'ab'))
        for _ in range(200):
            try:
                with open(ep) as f:
                    j = json.load(f)
                if j['pid'] == self.proc.pid:
                    self.url = j['http']
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError('daemon did not start')

    def api(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def wait_dl(d, did, until=None):
    while True:
        j = d.api('GET', '/api/v1/downloads/' + did)
        if j['state'] in ('completed', 'failed'):
            return j
        if until and j['bytes'] >= until:
            return j
        time.sleep(0.02)


def in_flight(port):
    """Bytes on the way from nginx (PORT) to the client right now: client Recv-Q + server Send-Q."""
    try:
        out = subprocess.run(['ss', '-tnH', 'state', 'established'], capture_output=True, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    total = 0
    for line in out.splitlines():
        f = line.split()
        if len(f) < 4:
            continue
        if f[3].endswith(':%d' % port):  # the client's end: received, not read yet
            total += int(f[0])
        elif f[2].endswith(':%d' % port):  # nginx's end: sent, not acknowledged yet
            total += int(f[1])
    return total


def run_child(argv):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = status
    return time.monotonic() - t0, ru.ru_utime + ru.ru_stime, status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--daemon', help='daemon binary (overrides --build)')
    ap.add_argument('--size-mib', type=int, default=512)
    a = ap.parse_args()
    binary = os.path.abspath(a.daemon or os.path.join(a.build, 'qemu-hmos'))
    tmp = tempfile.mkdtemp(prefix='qhm-bench-dl-')
    os.chmod(tmp, 0o755)
    size = a.size_mib << 20
    gib = size / (1 << 30)
    root = os.path.join(tmp, 'www')
    os.makedirs(root)
    path = os.path.join(root, 'f.iso')
    log('writing a %d MiB file' % a.size_mib)
    h = hashlib.sha256()
    with open(path, 'wb') as f:
        block = os.urandom(1 << 20)
        for i in range(a.size_mib):
            b = block[:-8] + i.to_bytes(8, 'little')
            h.update(b)
            f.write(b)
    sha = h.hexdigest()
    ngx = Nginx(tmp, root)
    d = Daemon(binary, tmp)
    res = {}
    try:
        url = 'http://127.0.0.1:%d/f.iso' % ngx.port
        d.start()
        # 1. qemu-hmos
        ngx.reset_log()
        c0 = cpu_of(d.proc.pid)
        t0 = time.monotonic()
        j = d.api('POST', '/api/v1/downloads', {'url': url, 'sha256': sha, 'connections': 8})
        j = wait_dl(d, j['id'])
        dt = time.monotonic() - t0
        cpu = cpu_of(d.proc.pid) - c0
        assert j['state'] == 'completed' and j['checksum']['verified'], j
        res['qemu-hmos'] = {'mb_s': size / dt / 1e6, 'cpu_s_per_gib': cpu / gib, 'seconds': dt,
                            'note': 'includes SHA-256 verification'}
        d.api('DELETE', '/api/v1/images/' + j['image_id'])
        # 2. kill -9 at ~50 %, restart, resume
        ngx.reset_log()
        j = d.api('POST', '/api/v1/downloads', {'url': url, 'sha256': sha, 'connections': 8})
        wait_dl(d, j['id'], until=size // 2)
        fl = in_flight(ngx.port)
        d.kill9()
        d.start()
        j = wait_dl(d, j['id'])
        assert j['state'] == 'completed', j
        res['qemu-hmos']['refetch_bytes'] = ngx.bytes_sent() - size
        res['qemu-hmos']['refetch_pct'] = 100.0 * (ngx.bytes_sent() - size) / size
        if fl is not None:
            res['qemu-hmos']['inflight_bytes'] = fl
            res['qemu-hmos']['inflight_pct'] = 100.0 * fl / size
        d.api('DELETE', '/api/v1/images/' + j['image_id'])
        # 3. aria2c
        out = os.path.join(tmp, 'aria')
        os.makedirs(out)
        ngx.reset_log()
        dt, cpu, st = run_child(['aria2c', '-q', '-x8', '-s8', '--file-allocation=falloc', '--allow-overwrite=true',
                                 '-d', out, '-o', 'f.iso', url])
        res['aria2c -x8 -s8'] = {'mb_s': size / dt / 1e6, 'cpu_s_per_gib': cpu / gib, 'seconds': dt,
                                 'note': 'no checksum'}
        os.unlink(os.path.join(out, 'f.iso'))
        # aria2c verifying the same SHA-256 (a second pass after the download), for a like-for-like CPU figure
        dt, cpu, st = run_child(['aria2c', '-q', '-x8', '-s8', '--file-allocation=falloc', '--allow-overwrite=true',
                                 '--checksum=sha-256=' + sha, '-d', out, '-o', 'f.iso', url])
        res['aria2c -x8 -s8 --checksum'] = {'mb_s': size / dt / 1e6, 'cpu_s_per_gib': cpu / gib, 'seconds': dt,
                                            'note': 'SHA-256 pass after the download'}
        os.unlink(os.path.join(out, 'f.iso'))
        # aria2c kill -9 at ~50 % and -c resume
        ngx.reset_log()
        p = subprocess.Popen(['aria2c', '-q', '--auto-save-interval=1', '-x8', '-s8', '--file-allocation=falloc', '-d', out, '-o', 'f.iso',
                              url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(max(0.5, dt / 2))
        fl = in_flight(ngx.port)
        p.send_signal(signal.SIGKILL)
        p.wait()
        run_child(['aria2c', '-q', '-c', '--auto-save-interval=1', '-x8', '-s8', '--file-allocation=falloc', '-d', out, '-o', 'f.iso', url])
        res['aria2c -x8 -s8']['refetch_bytes'] = ngx.bytes_sent() - size
        res['aria2c -x8 -s8']['refetch_pct'] = 100.0 * (ngx.bytes_sent() - size) / size
        if fl is not None:
            res['aria2c -x8 -s8']['inflight_bytes'] = fl
            res['aria2c -x8 -s8']['inflight_pct'] = 100.0 * fl / size
        shutil.rmtree(out)
        # 4. curl
        ngx.reset_log()
        dt, cpu, st = run_child(['curl', '-s', '-o', os.path.join(tmp, 'c.iso'), url])
        res['curl (1 connection)'] = {'mb_s': size / dt / 1e6, 'cpu_s_per_gib': cpu / gib, 'seconds': dt}
        os.unlink(os.path.join(tmp, 'c.iso'))
    finally:
        d.stop()
        ngx.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print('%-28s %10s %14s %12s %16s' % ('downloader', 'MB/s', 'CPU s/GiB', 'refetch %', 'in flight %'))
    for k, v in res.items():
        print('%-28s %10.1f %14.2f %12s %16s' % (k, v['mb_s'], v['cpu_s_per_gib'],
                                                 '%.2f' % v['refetch_pct'] if 'refetch_pct' in v else '-',
                                                 '%.2f' % v['inflight_pct'] if 'inflight_pct' in v else '-'))
    os.makedirs(os.path.join(HERE, 'results'), exist_ok=True)
    with open(os.path.join(HERE, 'results', 'download.json'), 'w') as f:
        json.dump({'size_mib': a.size_mib, 'limit_rate': '20m', 'connections': 8, 'results': res}, f, indent=1)


if __name__ == '__main__':
    main()
