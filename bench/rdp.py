#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""RDP console benchmark against freerdp-shadow-cli on Xvfb (1280x800), one run.

  python3 bench/rdp.py --build build [--seconds 8] [--repeats 5] [--modes gfx-h264,legacy,...]

Every measurement runs once per graphics mode, printed side by side: gfx (what the daemon asks
for on a loopback target: the graphics pipeline without H.264; freerdp-shadow-cli 2.11 then
falls back to NSCodec surface bits), gfx+webp (the same with a browser that decodes WebP:
photo-like rectangles as WebP instead of JPEG), gfx-h264 (what it asks for on a host across a
network; the shadow server sends AVC444v2) and legacy (QHM_RDP_GFX=legacy: no pipeline). No other
Guacamole-protocol RDP gateway is packaged for Debian 12 (guacd left the archive), so the modes
are each other's comparison.

1. First frame: POST /console {"protocol":"rdp"} -> the browser-side client (Python, the
   Guacamole protocol, tests/integration/guacclient.py) has drawn a frame showing the desktop
   colour. Median and min of --repeats sessions. Target: <= 1.5 s.
2. Full-screen colour changes: xsetroot alternates two colours as fast as it can for --seconds;
   frames per second and bytes per frame the client received (syncs acknowledged at once),
   and the worker's CPU time per frame (utime+stime of qemu-hmos-rdp / frames) with the frame
   rate one core could sustain at that cost, and its peak RSS. Target: >= 30 fps on one core.
   Note: the shadow server decides how often it sends; the CPU-bound figure is what the worker
   alone could do.

3. Photo-like content: two full-screen photo-like images (smooth gradients, shapes, noise; shown
   with xwud) raised alternately; frames per second, bytes per frame, PNG vs JPEG rectangles.
4. Scrolling text: a full-screen xterm printing lines as fast as it can; bytes per frame against
   one PNG of the full screen (target: <= 1/4).

Prints a table and writes bench/results/rdp-latest.json. Benchmarks never assert.
"""

import argparse
import json
import math
import os
import random
import struct
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))
sys.dont_write_bytecode = True

from guacclient import GuacClient  # noqa: E402
from test_rdp import BLUE, GREEN, XPeer, children, near  # noqa: E402
from test_console import WSDaemon  # noqa: E402
import wsclient  # noqa: E402

CLK = os.sysconf('SC_CLK_TCK')


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        st = f.read()
    fields = st[st.rindex(')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_kib(pid, key='VmRSS'):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0


QUERY = ['']  # extra URL parameters for every session (&webp=1: the browser decodes WebP)


def open_client(d, vm, decode=True):
    t = d.ok('POST', '/api/v1/vms/%s/console' % vm, body={'protocol': 'rdp'})
    ws = wsclient.connect(t['url'] + '&width=1280&height=800&dpi=96' + QUERY[0], protocols=['guacamole'],
                          timeout=10)
    return GuacClient(ws, decode=decode)


def first_frame(d, vm, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.time()
        c = open_client(d, vm)
        ok = c.pump(15, lambda c: c.fb is not None and c.frames and near(c.pixel(100, 100), BLUE))
        if ok:
            out.append(c.frames[-1].at - t0)
        c.ws.close()
        time.sleep(0.5)
    return out


def colour_changes(d, vm, peer, seconds):
    c = open_client(d, vm, decode=False)  # a fast browser: Python PNG decoding would be the bottleneck
    c.pump(10, lambda c: len(c.frames) >= 1)
    c.pump(1)
    pid = children(d.proc.pid, 'qemu-hmos-rdp')[0]
    stop = threading.Event()
    changes = [0]

    def flip():
        i = 0
        while not stop.is_set():
            peer.root(GREEN if i % 2 == 0 else BLUE)
            i += 1
            changes[0] += 1

    n0, b0, cpu0 = len(c.frames), c.bytes, cpu_seconds(pid)
    th = threading.Thread(target=flip, daemon=True)
    t0 = time.time()
    th.start()
    c.pump(seconds)
    stop.set()
    th.join()
    peer.root(BLUE)  # as the next measurement expects it
    elapsed = time.time() - t0
    frames = c.frames[n0:]
    nbytes = c.bytes - b0
    cpu = cpu_seconds(pid) - cpu0
    peak = rss_kib(pid, 'VmHWM')
    c.ws.close()
    n = len(frames)
    return {
        'seconds': round(elapsed, 2), 'colour_changes': changes[0], 'frames': n,
        'fps': round(n / elapsed, 1) if elapsed else 0,
        'bytes_per_frame': int(nbytes / n) if n else None,
        'worker_cpu_ms_per_frame': round(1000 * cpu / n, 2) if n else None,
        'one_core_fps_at_that_cost': round(n / cpu, 1) if cpu else None,
        'worker_peak_rss_kib': peak,
        'png_rects': c.png_rects, 'jpeg_rects': c.jpeg_rects,
    }


def write_xwd(path, w, h, seed, name):
    """A photo-like 24-bit image as an X window dump (for xwud): gradients, discs, noise."""
    rnd = random.Random(seed)
    discs = [(rnd.randrange(w), rnd.randrange(h), rnd.randrange(40, 260),
              (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))) for _ in range(14)]
    px = bytearray(w * h * 4)
    for y in range(h):
        row = y * w * 4
        for x in range(w):
            r = int(128 + 100 * math.sin((x + seed * 37) / 97.0))
            g = int(128 + 100 * math.sin((y + x / 3) / 71.0))
            b = (x * 255 // w + y * 255 // h) // 2
            for cx, cy, cr, col in discs:
                if (x - cx) * (x - cx) + (y - cy) * (y - cy) < cr * cr:
                    r, g, b = (r + col[0]) // 2, (g + col[1]) // 2, (b + col[2]) // 2
                    break
            n = rnd.randrange(-12, 13)
            o = row + x * 4
            px[o + 1] = max(0, min(255, r + n))
            px[o + 2] = max(0, min(255, g + n))
            px[o + 3] = max(0, min(255, b + n))
    name = name.encode() + b'\0'
    hdr = struct.pack('>25I', 100 + len(name), 7, 2, 24, w, h, 0, 1, 32, 1, 32, 32, w * 4, 4,
                      0xff0000, 0xff00, 0xff, 8, 256, 0, w, h, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(hdr + name + bytes(px))


def flip_windows(d, vm, peer, seconds, windows):
    """Raise WINDOWS (xdotool window ids) in turn as fast as possible; what the client receives."""
    c = open_client(d, vm, decode=False)
    c.pump(10, lambda c: len(c.frames) >= 1)
    c.pump(1)
    pid = children(d.proc.pid, 'qemu-hmos-rdp')[0]
    stop = threading.Event()

    def flip():
        i = 0
        while not stop.is_set():
            subprocess.run(['xdotool', 'windowraise', windows[i % len(windows)]], env=peer.env, timeout=10)
            i += 1
            time.sleep(0.02)

    n0, b0, cpu0, p0, j0, w0 = len(c.frames), c.bytes, cpu_seconds(pid), c.png_rects, c.jpeg_rects, c.webp_rects
    th = threading.Thread(target=flip, daemon=True)
    t0 = time.time()
    th.start()
    c.pump(seconds)
    stop.set()
    th.join()
    elapsed = time.time() - t0
    n = len(c.frames) - n0
    cpu = cpu_seconds(pid) - cpu0
    c.ws.close()
    return {'seconds': round(elapsed, 2), 'frames': n, 'fps': round(n / elapsed, 1),
            'bytes_per_frame': int((c.bytes - b0) / n) if n else None,
            'worker_cpu_ms_per_frame': round(1000 * cpu / n, 2) if n else None,
            'png_rects': c.png_rects - p0, 'jpeg_rects': c.jpeg_rects - j0, 'webp_rects': c.webp_rects - w0}


def window_id(peer, name, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(['xdotool', 'search', '--name', name], env=peer.env, capture_output=True,
                             text=True, timeout=10).stdout.split()
        if out:
            return out[0]
        time.sleep(0.1)
    raise RuntimeError('no window named %r' % name)


PHOTOS = [0]


def photo(d, vm, peer, seconds, tmp):
    ids = []
    for i in range(2):
        PHOTOS[0] += 1
        name = 'photo%d' % PHOTOS[0]  # unique: xdotool finds windows by name
        path = os.path.join(tmp, name + '.xwd')
        write_xwd(path, 1280, 800, i + 1, name)  # xwud titles the window with it
        peer.spawn(['xwud', '-noclick', '-in', path, '-geometry', '+0+0'])
        ids.append(window_id(peer, name))
    res = flip_windows(d, vm, peer, seconds, ids)
    for i in ids:
        subprocess.run(['xdotool', 'windowkill', i], env=peer.env, timeout=10)
    time.sleep(0.5)
    return res


def scrolling_text(d, vm, peer, seconds, pause):
    """A full-screen xterm printing numbered lines, PAUSE seconds apart (0: as fast as it can)."""
    # One PNG of the full screen with the text: the first frame of a fresh session.
    title = 'scroller%d' % int(pause * 1000)
    peer.spawn(['xterm', '-geometry', '213x61+0+0', '-T', title, '-e', '/bin/sh', '-c',
                'i=0; while :; do i=$((i+1)); echo "line $i: the quick brown fox jumps over the lazy '
                'dog 0123456789 $(date +%%N)"; %s done' % ('sleep %s;' % pause if pause else '')])
    wid = window_id(peer, title)
    time.sleep(1)
    c = open_client(d, vm, decode=False)
    c.pump(10, lambda c: len(c.frames) >= 1)
    full_png = c.frames[0].bytes
    n0, b0 = len(c.frames), c.bytes
    t0 = time.time()
    c.pump(seconds)
    elapsed = time.time() - t0
    n = len(c.frames) - n0
    c.ws.close()
    subprocess.run(['xdotool', 'windowkill', wid], env=peer.env, timeout=10)
    bpf = int((c.bytes - b0) / n) if n else None
    return {'pause_s': pause, 'copies': c.copies, 'seconds': round(elapsed, 2), 'frames': n, 'fps': round(n / elapsed, 1), 'bytes_per_frame': bpf,
            'full_screen_png_bytes': full_png,
            'ratio_to_full_png': round(bpf / full_png, 3) if bpf and full_png else None, 'target_ratio': 0.25,
            'png_rects': c.png_rects, 'jpeg_rects': c.jpeg_rects}


MODES = (  # (name, QHM_RDP_GFX, extra URL parameters)
    ('gfx', None, ''),             # the daemon's choice for a loopback target: pipeline, no H.264
    ('gfx+webp', None, '&webp=1'),  # the same with a browser that decodes WebP (Chromium)
    ('gfx-h264', 'gfx-h264', ''),  # the choice for a host across a network: AVC444v2 from the shadow server
    ('legacy', 'legacy', ''),      # no graphics pipeline
)


def run_mode(args, peer, gfx, query):
    QUERY[0] = query
    d = WSDaemon(binary=os.environ['QHM_DAEMON'], env={'QHM_RDP_GFX': gfx} if gfx else None)
    try:
        d.start()
        vm = d.create(name='rdp-bench', memory_mib=128, cpus=1, disks=[],
                      rdp={'host': '127.0.0.1', 'port': peer.port})['id']
        ff = first_frame(d, vm, args.repeats)
        cc = colour_changes(d, vm, peer, args.seconds)
        ph = photo(d, vm, peer, args.seconds, d.data_dir)
        st = scrolling_text(d, vm, peer, args.seconds, 0.01)
        sf = scrolling_text(d, vm, peer, args.seconds, 0)
    finally:
        d.teardown()
    return {
        'first_frame_s': {'median': round(statistics.median(ff), 3) if ff else None,
                          'min': round(min(ff), 3) if ff else None, 'samples': [round(x, 3) for x in ff],
                          'target': 1.5},
        'fullscreen_colour_changes': cc, 'fps_target': 30, 'photo': ph, 'scrolling_text': st,
        'scrolling_text_full_speed': sf,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--seconds', type=float, default=8.0)
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--modes', default=','.join(m[0] for m in MODES),
                    help='comma-separated: ' + ', '.join(m[0] for m in MODES))
    args = ap.parse_args()
    os.environ['QHM_DAEMON'] = os.path.abspath(os.path.join(args.build, 'qemu-hmos'))
    want = args.modes.split(',')
    peer = XPeer().start()
    out = {}
    try:
        for name, gfx, query in MODES:
            if name in want:
                out[name] = run_mode(args, peer, gfx, query)
    finally:
        peer.stop()
    names = list(out)

    def row(label, fn):
        cells = []
        for n in names:
            try:
                cells.append(str(fn(out[n])))
            except (KeyError, TypeError):
                cells.append('-')
        print('  %-34s' % label + ''.join('%-22s' % c for c in cells))

    print('RDP (freerdp-shadow-cli on Xvfb 1280x800, through the daemon and qemu-hmos-rdp)')
    print('  %-34s' % 'graphics mode' + ''.join('%-22s' % n for n in names))
    row('first frame median / min (s) <=1.5', lambda r: '%s / %s' % (r['first_frame_s']['median'],
                                                                    r['first_frame_s']['min']))
    cc = lambda r: r['fullscreen_colour_changes']  # noqa: E731
    row('colour changes: fps received', lambda r: cc(r)['fps'])
    row('  bytes per frame', lambda r: cc(r)['bytes_per_frame'])
    row('  worker CPU ms/frame', lambda r: cc(r)['worker_cpu_ms_per_frame'])
    row('  -> fps on one core (>= 30)', lambda r: cc(r)['one_core_fps_at_that_cost'])
    row('  worker peak RSS (KiB)', lambda r: cc(r)['worker_peak_rss_kib'])
    row('photo-like: fps', lambda r: r['photo']['fps'])
    row('  bytes per frame', lambda r: r['photo']['bytes_per_frame'])
    row('  png/jpeg/webp rects', lambda r: '%s/%s/%s' % (r['photo']['png_rects'], r['photo']['jpeg_rects'],
                                                          r['photo']['webp_rects']))
    row('  worker CPU ms/frame', lambda r: r['photo']['worker_cpu_ms_per_frame'])
    for key, label in (('scrolling_text', 'text scroll ~100 lines/s'), ('scrolling_text_full_speed',
                                                                        'text scroll, full speed')):
        row(label + ': fps', lambda r: r[key]['fps'])
        row('  bytes/frame / full PNG (<=0.25)', lambda r: r[key]['ratio_to_full_png'])
        row('  scroll copies', lambda r: r[key]['copies'])
    res = dict(out, at=time.strftime('%Y-%m-%dT%H:%M:%S'))
    os.makedirs(os.path.join(HERE, 'results'), exist_ok=True)
    with open(os.path.join(HERE, 'results', 'rdp-latest.json'), 'w') as f:
        json.dump(res, f, indent=2)


if __name__ == '__main__':
    main()
