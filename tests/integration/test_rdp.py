# SPDX-License-Identifier: GPL-2.0-or-later
"""RDP in the browser, against a real RDP peer: Xvfb (1280x800, solid #3366cc
root, an xterm running sh) served by freerdp-shadow-cli on 127.0.0.1, reached
through the daemon's /rdp/{vm} WebSocket (Guacamole protocol, the forked
qemu-hmos-rdp worker). Checks the pixels the browser would draw, that a mouse
move lands where it should on the X display (xdotool), that typed keys reach
the xterm (a command it runs), the sync pacing toward a client that does not
acknowledge, and hostile cases: malformed instructions from the client, an
"RDP server" sending garbage, a worker killed with SIGKILL — the daemon keeps
serving after each.

Skipped when freerdp-shadow-cli, Xvfb or xdotool are missing
(scripts/install-deps.sh test installs them)."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

from harness import MEMTEST_ISO, DaemonTestCase, error_code, vm_user_ids, wait_pid_gone
import guacclient
from guacclient import GuacClient, GuacError
from test_console import WSDaemon
import wsclient

BLUE = (0x33, 0x66, 0xcc)
GREEN = (0x22, 0xaa, 0x44)
XTERM_GEOMETRY = '60x10+700+500'  # characters; the root stays visible around it


def near(rgb, want, tol=4):
    """Colour equality up to TOL per channel: NSCodec (which the worker offers and the shadow
    server picks) converts through YCoCg and is off by one or two."""
    return all(abs(a - b) <= tol for a, b in zip(rgb, want))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def free_display():
    for n in range(91, 200):
        if not os.path.exists('/tmp/.X11-unix/X%d' % n) and not os.path.exists('/tmp/.X%d-lock' % n):
            return n
    raise RuntimeError('no free X display number')


def wait_port(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def children(ppid, comm):
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index('(') + 1:st.rindex(')')]
        fields = st[st.rindex(')') + 2:].split()
        if int(fields[1]) == ppid and name.startswith(comm[:15]):
            out.append(int(d))
    return out


class XPeer:
    """Xvfb + xsetroot + xterm + freerdp-shadow-cli, on a private display and port."""

    def __init__(self):
        self.procs = []
        self.display = ':%d' % free_display()
        self.port = free_port()
        self.env = dict(os.environ, DISPLAY=self.display)
        self.log = open(os.path.join(os.environ.get('QHM_WORK', '/tmp'), 'rdp-peer-%s.log'
                                     % self.display[1:]), 'ab')

    def spawn(self, argv):
        p = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def start(self):
        self.spawn(['Xvfb', self.display, '-screen', '0', '1280x800x24', '-noreset', '-nolisten', 'tcp'])
        deadline = time.time() + 10
        while not os.path.exists('/tmp/.X11-unix/X' + self.display[1:]):
            if time.time() > deadline:
                raise RuntimeError('Xvfb %s did not start' % self.display)
            time.sleep(0.05)
        self.root(BLUE)
        self.xterm = self.spawn(['xterm', '-geometry', XTERM_GEOMETRY, '-e', '/bin/sh'])
        self.shadow = self.spawn(['freerdp-shadow-cli', '/port:%d' % self.port, '/bind-address:127.0.0.1',
                                  '-auth'])
        if not wait_port(self.port, 15):
            raise RuntimeError('freerdp-shadow-cli did not listen on %d' % self.port)
        return self

    def root(self, rgb):
        subprocess.run(['xsetroot', '-solid', '#%02x%02x%02x' % rgb], env=self.env, check=True, timeout=10)

    def mouse(self):
        out = subprocess.run(['xdotool', 'getmouselocation'], env=self.env, capture_output=True, text=True,
                             timeout=10).stdout
        d = dict(kv.split(':', 1) for kv in out.split())
        return int(d['x']), int(d['y'])

    def stop(self):
        # SIGTERM first: a SIGKILLed Xvfb leaves /tmp/.X*-lock behind, and enough of those use up
        # every display number the tests try.
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
                except OSError:
                    p.wait()
        self.log.close()


def xwd_root(env):
    """The X screen as (width, height, pixel(x, y) -> (r, g, b)), from `xwd -root` (32 bpp ZPixmap)."""
    data = subprocess.run(['xwd', '-root', '-silent'], env=env, capture_output=True, timeout=20,
                          check=True).stdout
    f = struct.unpack('>25I', data[:100])
    header_size, w, h, byte_order, bpp, bpl, ncolors = f[0], f[4], f[5], f[7], f[11], f[12], f[19]
    if bpp != 32:
        raise AssertionError('xwd: %d bits per pixel' % bpp)
    pix = data[header_size + ncolors * 12:]
    order = '<I' if byte_order == 0 else '>I'

    def pixel(x, y):
        v = struct.unpack_from(order, pix, y * bpl + x * 4)[0]
        return ((v >> 16) & 255, (v >> 8) & 255, v & 255)
    return w, h, pixel


class GarbageServer:
    """A TCP "RDP server" that answers every connection with garbage and closes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                c.recv(4096)
                c.sendall(b'\x03\x00\x00\x13garbage garbage garbage \xff\xfe' * 50)
                time.sleep(0.2)
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()


def have_peer_tools():
    return all(shutil.which(t) for t in ('Xvfb', 'freerdp-shadow-cli', 'xdotool', 'xsetroot', 'xterm'))


@unittest.skipUnless(have_peer_tools(), 'Xvfb, freerdp-shadow-cli, xdotool, xsetroot or xterm missing')
class RDPTest(DaemonTestCase):
    """Against freerdp-shadow-cli on 127.0.0.1: the daemon asks for the graphics pipeline without
    H.264 there (a loopback target), which the shadow server answers with NSCodec surface bits;
    the subclasses below rerun the display tests with QHM_RDP_GFX=gfx-h264 (the shadow server
    then sends AVC444v2) and legacy (no graphics pipeline)."""
    GRAPHICS = None  # QHM_RDP_GFX for the daemon's workers; None = the daemon's choice

    @classmethod
    def setUpClass(cls):
        cls.peer = XPeer()
        cls.garbage = GarbageServer()
        try:
            cls.peer.start()
        except Exception:
            cls.peer.stop()
            raise
        cls.daemon = WSDaemon(env={'QHM_RDP_GFX': cls.GRAPHICS} if cls.GRAPHICS else None)
        cls.data_dir = cls.daemon.data_dir
        try:
            cls.daemon.start()
        except Exception:
            cls.daemon.teardown()
            cls.peer.stop()
            raise
        d = cls.daemon
        cls.vm = d.create(name='rdp-peer', memory_mib=128, cpus=1, disks=[],
                          rdp={'host': '127.0.0.1', 'port': cls.peer.port, 'username': 'tester',
                               'password': 's3cret'})['id']
        cls.bad_vm = d.create(name='rdp-garbage', memory_mib=128, cpus=1, disks=[],
                              rdp={'host': '127.0.0.1', 'port': cls.garbage.port})['id']
        cls.plain_vm = d.create(name='rdp-none', memory_mib=128, cpus=1, disks=[])['id']

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.peer.stop()
        cls.garbage.close()

    @classmethod
    def diagnostics(cls):
        out = super().diagnostics()
        for vm in (getattr(cls, 'vm', None), getattr(cls, 'bad_vm', None)):
            if vm:
                try:
                    with open(os.path.join(cls.data_dir, 'vms', vm, 'logs', 'rdp.log'), 'rb') as f:
                        out += '\nrdp.log of %s:\n%s' % (vm, f.read()[-3000:].decode(errors='replace'))
                except OSError:
                    pass
        return out

    # -- helpers --
    def ticket(self, vm=None):
        return self.daemon.ok('POST', '/api/v1/vms/%s/console' % (vm or self.vm), body={'protocol': 'rdp'})

    def open(self, vm=None, ack=True, size=(1280, 800), query=''):
        t = self.ticket(vm)
        url = t['url'] + '&width=%d&height=%d&dpi=96' % size + query
        ws = wsclient.connect(url, protocols=['guacamole'], timeout=10)
        return GuacClient(ws, ack=ack)

    def connected(self, **kw):
        c = self.open(**kw)
        c.handshake_done(timeout=15)
        return c

    def assert_daemon_serves(self):
        self.daemon.ok('GET', '/api/v1/host')

    def workers(self):
        return children(self.daemon.proc.pid, 'qemu-hmos-rdp')

    def wait_no_workers(self, timeout=8.0):
        deadline = time.time() + timeout
        while self.workers():
            if time.time() > deadline:
                self.fail('RDP workers still running: %r' % self.workers())
            time.sleep(0.05)

    # -- tests --
    def test_01_console_ticket(self):
        t = self.ticket()
        self.assertEqual(t['protocol'], 'rdp')
        self.assertIn('/rdp/%s?ticket=' % self.vm, t['url'])
        st, body, _ = self.daemon.api('POST', '/api/v1/vms/%s/console' % self.plain_vm, body={'protocol': 'rdp'})
        self.assertEqual(st, 409, body)
        self.assertIn('rdp.host', body['error']['message'])
        st, body, _ = self.daemon.api('POST', '/api/v1/vms/%s/console' % self.vm, body={'protocol': 'spice'})
        self.assertEqual((st, error_code(body)), (400, 'invalid_field'))
        vm = self.daemon.ok('GET', '/api/v1/vms/' + self.vm)
        self.assertNotIn('password', vm['rdp'])
        self.assertTrue(vm['rdp']['password_set'])
        # A VNC ticket does not open /rdp, and an RDP ticket does not open /vnc.
        t = self.ticket()
        hs = wsclient.open_ws(t['url'].replace('/rdp/', '/vnc/'), protocols=['binary'])
        self.assertEqual(hs.status, 403)

    def test_02_first_frame_shows_the_desktop(self):
        t0 = time.time()
        c = self.open()
        c.handshake_done(timeout=15)
        self.assertEqual((c.width, c.height), (1280, 800))
        self.assertTrue(c.uuid, 'no tunnel uuid instruction first')
        ok = c.pump(15, lambda c: c.frames and near(c.pixel(100, 100), BLUE) and near(c.pixel(1200, 100), BLUE))
        self.assertTrue(ok, 'desktop colour not seen: %r %r, frames %d, errors %r, closed %r'
                        % (c.pixel(100, 100), c.pixel(1200, 100), len(c.frames), c.errors, c.closed))
        print('    first frame with the desktop %.3f s after the ticket; %d bytes, %d png / %d jpeg rects'
              % (c.frames[-1].at - t0, c.bytes, c.png_rects, c.jpeg_rects))
        # The xterm is there too (not the root colour).
        self.assertFalse(near(c.pixel(720, 520), BLUE), c.pixel(720, 520))
        c.ws.close()

    def test_03_colour_change_arrives(self):
        c = self.connected()
        self.assertTrue(c.pump(15, lambda c: near(c.pixel(50, 50), BLUE)))
        self.peer.root(GREEN)
        try:
            ok = c.pump(10, lambda c: near(c.pixel(50, 50), GREEN) and near(c.pixel(1270, 790), GREEN))
            self.assertTrue(ok, 'colour change not seen: %r' % (c.pixel(50, 50),))
        finally:
            self.peer.root(BLUE)
        c.ws.close()

    def test_04_mouse_move_lands_on_the_display(self):
        c = self.connected()
        c.pump(3, lambda c: c.frames)
        for (x, y) in ((100, 200), (640, 400), (1000, 123)):
            c.mouse(x, y)
            deadline = time.time() + 15  # (a loaded machine: seen 5 s go by)
            while self.peer.mouse() != (x, y):
                c.pump(0.1)
                self.assertLess(time.time(), deadline, 'pointer at %r, want %r' % (self.peer.mouse(), (x, y)))
        # Clicks (left, middle, right) and the wheel go through without an error.
        for mask in (1, 0, 2, 0, 4, 0, 8, 0, 16, 0):
            c.mouse(300, 300, mask)
        c.pump(1)
        self.assertEqual(c.errors, [])
        self.assertIsNone(c.closed)
        c.ws.close()

    def test_05_keys_reach_the_xterm(self):
        c = self.connected()
        c.pump(3, lambda c: c.frames)
        out = os.path.join(self.data_dir, 'typed.txt')
        # Focus follows the pointer (no window manager): put it on the xterm.
        c.mouse(800, 560)
        c.mouse(800, 560, 1)
        c.mouse(800, 560, 0)
        c.pump(0.5)
        # "echo Hi_RDP-1 >PATH" + Return, Shift held for the shifted characters as a browser does.
        line = 'echo Hi_RDP-1 >%s' % out
        for ch in line:
            shifted = ch.isupper() or ch in '_>~!@#$%^&*()+{}|:"<?'
            c.tap(ord(ch), shift=shifted)
        c.tap(0xff0d)  # Return
        deadline = time.time() + 8
        while not (os.path.exists(out) and open(out).read().strip()):
            c.pump(0.2)
            self.assertLess(time.time(), deadline, 'the typed command did not run')
        self.assertEqual(open(out).read().strip(), 'Hi_RDP-1')
        c.ws.close()

    def test_06_pacing_without_acks(self):
        """A client that never acknowledges gets at most 2 frames, however much changes."""
        c = self.connected(ack=False)
        c.pump(3, lambda c: len(c.frames) >= 2)
        for i in range(6):
            self.peer.root(GREEN if i % 2 == 0 else BLUE)
            c.pump(0.3)
        self.assertLessEqual(len(c.frames), 2)
        n = len(c.frames)
        # Acknowledging resumes the stream.
        for f in c.frames:
            c.send('sync', f.ts)
        c.ack = True
        self.assertTrue(c.pump(5, lambda c: len(c.frames) > n))
        self.peer.root(BLUE)
        c.ws.close()

    def test_07_malformed_instruction_ends_the_session(self):
        before = time.time()
        for bad in ('5.mouse,3.100,3.200,1.x;',          # not a number
                    '5.mouse,10.1;',                       # length longer than the value
                    '3.key,99999999999.1,1.1;',             # absurd length
                    'hello world;',                         # no length at all
                    '4.size,\xff;'):                        # invalid structure
            c = self.connected()
            c.ws.send_text(bad)
            c.pump(10, lambda c: c.closed is not None)
            self.assertIsNotNone(c.closed, 'no close after %r' % bad)
            self.assertTrue(c.errors, 'no error instruction after %r' % bad)
            self.assertEqual(c.errors[0][1], 0x300, c.errors)
            self.assertIn(c.closed.code, (1011, 1000), c.closed)
        self.wait_no_workers()
        self.assert_daemon_serves()
        self.assertLess(time.time() - before, 120)

    def test_08_binary_frame_refused(self):
        c = self.connected()
        c.ws.send_binary(b'\x00\x01')
        c.pump(5, lambda c: c.closed is not None)
        self.assertEqual(c.closed.code, 1003)
        self.wait_no_workers()
        self.assert_daemon_serves()

    def test_09_garbage_rdp_server(self):
        c = self.open(vm=self.bad_vm)
        c.pump(20, lambda c: c.closed is not None)
        self.assertTrue(c.errors, 'no error instruction (closed %r)' % c.closed)
        self.assertIsNotNone(c.closed)
        self.assertEqual(c.closed.code, 1011, c.closed)
        self.assertGreaterEqual(self.garbage.accepted, 1)
        self.wait_no_workers()
        self.assert_daemon_serves()

    def test_10_worker_killed(self):
        c = self.connected()
        c.pump(2, lambda c: c.frames)
        pids = self.workers()
        self.assertEqual(len(pids), 1, pids)
        os.kill(pids[0], signal.SIGKILL)
        c.pump(5, lambda c: c.closed is not None)
        self.assertIsNotNone(c.closed)
        self.assertEqual(c.closed.code, 1011)
        self.assertIn('signal 9', c.closed.reason)
        self.wait_no_workers()
        self.assert_daemon_serves()
        # And a new session works.
        c = self.connected()
        self.assertTrue(c.pump(10, lambda c: c.frames))
        c.ws.close()

    def test_11_browser_leaves_worker_exits(self):
        c = self.connected()
        c.pump(2, lambda c: c.frames)
        pids = self.workers()
        self.assertEqual(len(pids), 1)
        c.ws.close()
        self.assertTrue(wait_pid_gone(pids[0], 8), "worker still running")
        self.wait_no_workers()

    def test_12_bad_url_size_refused(self):
        t = self.ticket()
        hs = wsclient.open_ws(t['url'] + '&width=99999', protocols=['guacamole'])
        self.assertEqual(hs.status, 400)
        self.assert_daemon_serves()

    def test_13_keepalive_ping_echoed(self):
        c = self.connected()
        c.send('', 'ping', '12345')
        self.assertTrue(c.pump(5, lambda c: c.pings >= 1))
        c.ws.close()

    def test_14_vm_forward_is_the_default_target(self):
        """Without rdp.host the console goes to the VM's own forward of guest port 3389 (QEMU's
        chosen port, read back from QEMU). The guest here (memtest86+) has no RDP server: the
        worker reaches QEMU's port and fails or waits; the resolution is what is checked."""
        d = self.daemon
        vm = d.create(name='rdp-forward', memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_ISO,
                      network={'mode': 'user', 'nic': 'e1000e',
                               'forwards': [{'proto': 'tcp', 'host_port': 0, 'guest_port': 3389}]},
                      rdp={'username': 'u', 'password': 'p'})
        try:
            st, body, _ = d.api('POST', '/api/v1/vms/%s/console' % vm['id'], body={'protocol': 'rdp'})
            self.assertEqual(st, 409, body)  # stopped: no forward yet
            js = d.action(vm['id'], 'start')
            port = js['forwards_active'][0]['host_port']
            c = self.open(vm=vm['id'])
            deadline = time.time() + 10
            want = 'for 127.0.0.1:%d ' % port
            while want not in open(d.stderr_path).read():
                self.assertLess(time.time(), deadline, 'no worker for %s in the daemon log' % want)
                c.pump(0.2)
            c.ws.close()
        finally:
            d.dispose(vm['id'])

    def lossy(self):
        """Whether the server's pictures are lossy here: H.264 (AVC444v2 from the shadow server)."""
        return self.GRAPHICS == 'gfx-h264'

    def test_15_scrolling_text_matches_the_screen(self):
        """Output scrolling in the xterm goes as `copy` + new rows; afterwards the browser's
        picture equals the X screen (every 4th pixel, NSCodec tolerance). Through H.264 the picture
        only comes close (video coding is lossy) and rows rarely repeat exactly, so there the
        test asks for 99 % of the pixels within 48 per channel and no copies."""
        c = self.connected()
        c.pump(5, lambda c: c.frames and near(c.pixel(100, 100), BLUE))
        c.mouse(800, 560)
        c.pump(0.3)
        for ch in 'for i in $(seq 1 80); do echo line $i; sleep 0.03; done':
            c.tap(ord(ch), shift=ch in '$()')
        c.tap(0xff0d)
        c.pump(6)  # the loop runs ~3 s
        c.pump(1.5)  # and settles
        w, h, pixel = xwd_root(self.peer.env)
        self.assertEqual((w, h), (c.width, c.height))
        tol, allowed = (48, (w // 4) * (h // 4) // 100) if self.lossy() else (6, 0)
        bad = [(x, y) for y in range(0, h, 4) for x in range(0, w, 4) if not near(c.pixel(x, y), pixel(x, y), tol)]
        self.assertLessEqual(len(bad), allowed, '%d pixels differ, e.g. %r: browser %r, screen %r'
                             % (len(bad), bad[:3], c.pixel(*bad[0]) if bad else None,
                                pixel(*bad[0]) if bad else None))
        print('    %d frames, %d scroll copies, %d png / %d jpeg rects, %d bytes'
              % (len(c.frames), c.copies, c.png_rects, c.jpeg_rects, c.bytes))
        if not self.lossy():
            self.assertGreater(c.copies, 0, 'no scroll was sent as a copy')
        c.ws.close()

    def last_exit_line(self, vm, after):
        """The exit line a worker wrote to VM's rdp.log after byte offset AFTER."""
        path = os.path.join(self.data_dir, 'vms', vm, 'logs', 'rdp.log')
        deadline = time.time() + 8
        while True:
            with open(path, 'rb') as f:
                f.seek(after)
                text = f.read().decode(errors='replace')
            lines = [ln for ln in text.splitlines() if '] exit: ' in ln or ']: exit: ' in ln]
            if lines:
                return text, lines[-1]
            self.assertLess(time.time(), deadline, 'no exit line in rdp.log:\n' + text[-2000:])
            time.sleep(0.1)

    def test_17_graphics_path(self):
        """The codecs the server used, from the worker's own count: H.264 (AVC420/444) with
        QHM_RDP_GFX=gfx-h264, the pipeline without H.264 by default (a loopback target), none with
        legacy; the desktop and a colour change arrive either way."""
        path = os.path.join(self.data_dir, 'vms', self.vm, 'logs', 'rdp.log')
        start = os.path.getsize(path) if os.path.exists(path) else 0
        c = self.connected()
        self.assertTrue(c.pump(15, lambda c: c.frames and near(c.pixel(100, 100), BLUE)),
                        'desktop not seen: %r' % (c.pixel(100, 100),))
        self.peer.root((0x20, 0x40, 0x60))
        try:
            self.assertTrue(c.pump(15, lambda c: near(c.pixel(100, 100), (0x20, 0x40, 0x60), 24)),
                            'colour change not seen: %r' % (c.pixel(100, 100),))
        finally:
            self.peer.root(BLUE)
        c.ws.close()
        text, line = self.last_exit_line(self.vm, start)
        codecs = line.split('gfx codecs: ', 1)[1].split(';', 1)[0]
        print('    graphics %s: %s' % (self.GRAPHICS or 'default', codecs))
        if self.GRAPHICS == 'legacy':
            self.assertEqual(codecs, 'off')
            self.assertNotIn('gfx: the server chose', text)
        else:
            self.assertIn('gfx: the server chose version', text)
            used = dict((k, int(v)) for k, v in (p.rsplit(' ', 1) for p in codecs.split(', ') if p[-1:].isdigit()))
            h264 = sum(v for k, v in used.items() if k.startswith('avc'))
            if self.lossy():
                self.assertGreater(h264, 0, 'no H.264 surface command: %s' % codecs)
            else:
                # freerdp-shadow-cli 2.x draws through the pipeline only with H.264; without it,
                # it falls back to surface bits on the opened pipeline (a real Windows server
                # uses planar/ClearCodec/progressive there, which FreeRDP's GDI decodes).
                self.assertIn('(no H.264)', text)
                self.assertEqual(h264, 0, 'H.264 used though not offered: %s' % codecs)

    def test_18_per_vm_graphics(self):
        """rdp.graphics overrides the daemon's choice for one VM: gfx-h264 on a loopback target gets
        AVC444 from the shadow server, legacy no pipeline; auto goes back (and is not stored)."""
        d = self.daemon
        vm = d.create(name='rdp-graphics', memory_mib=128, cpus=1, disks=[],
                      rdp={'host': '127.0.0.1', 'port': self.peer.port, 'graphics': 'gfx-h264'})
        self.addCleanup(d.dispose, vm['id'])
        self.assertEqual(vm['rdp']['graphics'], 'gfx-h264')

        def codecs_of_a_session():
            path = os.path.join(self.data_dir, 'vms', vm['id'], 'logs', 'rdp.log')
            start = os.path.getsize(path) if os.path.exists(path) else 0
            c = self.connected(vm=vm['id'])
            self.assertTrue(c.pump(15, lambda c: c.frames and near(c.pixel(100, 100), BLUE)), 'desktop not seen')
            self.peer.root((0x20, 0x40, 0x60))  # a change: drawn with the session's codecs
            try:
                self.assertTrue(c.pump(15, lambda c: near(c.pixel(100, 100), (0x20, 0x40, 0x60), 24)))
            finally:
                self.peer.root(BLUE)
            c.ws.close()
            return self.last_exit_line(vm['id'], start)[1].split('gfx codecs: ', 1)[1].split(';', 1)[0]

        codecs = codecs_of_a_session()
        self.assertIn('avc', codecs, 'no H.264 though the VM asks for it: %s' % codecs)
        v = d.ok('PATCH', '/api/v1/vms/' + vm['id'], body={'rdp': {'graphics': 'legacy'}})
        self.assertEqual(v['rdp']['graphics'], 'legacy')
        self.assertEqual(codecs_of_a_session(), 'off')
        v = d.ok('PATCH', '/api/v1/vms/' + vm['id'], body={'rdp': {'graphics': 'auto'}})
        self.assertNotIn('graphics', v['rdp'])
        st, js, _ = d.api('PATCH', '/api/v1/vms/' + vm['id'], body={'rdp': {'graphics': 'h265'}})
        self.assertEqual(st, 400, js)
        self.assertTrue(js['error']['message'].startswith('rdp.graphics'), js)

    def test_16_pinned_certificate(self):
        """A pinned fingerprint is checked even on loopback: a wrong one ends the session with an
        error naming the server's real fingerprint; pinning that one connects."""
        d = self.daemon
        vm = d.create(name='rdp-pinned', memory_mib=128, cpus=1, disks=[],
                      rdp={'host': '127.0.0.1', 'port': self.peer.port, 'fingerprint': '00:11:22'})['id']
        try:
            c = self.open(vm=vm)
            c.pump(15, lambda c: c.closed is not None)
            self.assertTrue(c.errors, 'connected despite a wrong pinned fingerprint')
            msg, status = c.errors[0]
            self.assertEqual(status, 0x203, c.errors)
            m = re.search(r'fingerprint is ([0-9a-f:]+)', msg)
            self.assertTrue(m, msg)
            self.assertEqual(c.closed.code, 1011)
            d.ok('PATCH', '/api/v1/vms/' + vm, body={'rdp': {'fingerprint': 'ff:ff,' + m.group(1).upper()}})
            c = self.open(vm=vm)
            c.handshake_done(15)
            self.assertTrue(c.pump(10, lambda c: c.frames))
            c.ws.close()
        finally:
            d.dispose(vm)


# --------------------------------------------------------------------------
# The daemon against a hostile worker (QHM_RDP_WORKER): what a worker taken over
# by a malicious RDP server could do to the daemon.

FAKE_WORKER = r'''#!/usr/bin/python3
import os, signal, sys, time
mode = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mode')).read().strip()
fd = 3
def out(b):
    os.write(fd, b)
if mode == 'crash':
    sys.exit(3)
buf = b''
while b'connect' not in buf:          # select, then after args: size, audio, ..., connect
    d = os.read(fd, 65536)
    if not d:
        sys.exit(0)
    buf += d
    if b'6.select' in buf and b'4.args' not in buf:
        out(b'4.args,13.VERSION_1_5_0,8.hostname,8.password,8.graphics;')
        buf += b'4.args'
while not buf.rstrip().endswith(b';') or b'7.connect' not in buf:
    buf += os.read(fd, 65536)
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'connect-seen'), 'wb').write(buf)
out(b'0.,4.fake;5.ready,4.fake;4.size,1.0,3.640,3.480;4.sync,1.1;')
if mode == 'idle':                    # waits for the daemon to close its socket
    while os.read(fd, 65536):
        pass
    sys.exit(0)
if mode == 'stubborn':
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
elif mode == 'malformed':
    out(b'4.sync,1.2;x.bad;')  # a valid instruction and a malformed one in one write
    time.sleep(30)
elif mode == 'flood':
    chunk = b'3.nop,4000.' + b'A' * 4000 + b';'
    while True:
        out(chunk * 16)
'''


@unittest.skipUnless(shutil.which('python3'), 'python3 missing')

def rerun_display_tests(cls):
    """Give CLS (an RDPTest with another GRAPHICS) its own copies of the display tests: the runner
    takes a class's tests from its own namespace."""
    for name in ('test_02_first_frame_shows_the_desktop', 'test_03_colour_change_arrives',
                 'test_15_scrolling_text_matches_the_screen', 'test_17_graphics_path'):
        def test(self, name=name):
            getattr(RDPTest, name)(self)
        test.__name__ = name
        setattr(cls, name, test)
    return cls


@rerun_display_tests
class RDPH264Test(RDPTest):
    """The display tests again with H.264 offered (what the daemon asks for on a host across a
    network): the shadow server sends AVC444v2, which FreeRDP decodes through FFmpeg."""
    GRAPHICS = 'gfx-h264'


@rerun_display_tests
class RDPLegacyTest(RDPTest):
    """The same without the graphics pipeline: bitmaps and NSCodec surface bits."""
    GRAPHICS = 'legacy'

class RDPHostileWorkerTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.wdir = os.path.join(os.environ.get('QHM_WORK', '/tmp'), 'fake-worker-%d' % os.getpid())
        os.makedirs(cls.wdir, exist_ok=True)
        cls.worker = os.path.join(cls.wdir, 'fakerdpworker')
        with open(cls.worker, 'w') as f:
            f.write(FAKE_WORKER)
        os.chmod(cls.worker, 0o755)
        os.chown(cls.wdir, *vm_user_ids())  # the worker (run as that user) writes connect-seen there
        cls.daemon = WSDaemon(env={'QHM_RDP_WORKER': cls.worker})
        cls.data_dir = cls.daemon.data_dir
        try:
            cls.daemon.start()
        except Exception:
            cls.daemon.teardown()
            raise
        cls.vm = cls.daemon.create(name='rdp-fake', memory_mib=128, cpus=1, disks=[],
                                   rdp={'host': '192.0.2.1', 'port': 3389, 'password': 'pw,;.x'})['id']

    def mode(self, m):
        with open(os.path.join(self.wdir, 'mode'), 'w') as f:
            f.write(m)

    def open(self, ack=True):
        t = self.daemon.ok('POST', '/api/v1/vms/%s/console' % self.vm, body={'protocol': 'rdp'})
        return GuacClient(wsclient.connect(t['url'], protocols=['guacamole'], timeout=10), ack=ack,
                          decode=False)

    def workers(self):
        return children(self.daemon.proc.pid, 'fakerdpworker')

    def test_connect_carries_the_config(self):
        self.mode('stubborn')
        c = self.open()
        c.handshake_done(10)
        seen = open(os.path.join(self.wdir, 'connect-seen'), 'rb').read().decode()
        # The password has Guacamole's own separators in it: it must arrive as one element.
        self.assertIn('7.connect,13.VERSION_1_5_0,9.192.0.2.1,6.pw,;.x,8.gfx-h264;', seen)
        self.assertIn('4.size,4.1024,3.768,2.96;', seen)
        self.assertIn('5.image,9.image/png,10.image/jpeg;', seen)
        c.ws.close()

    def test_webp_when_the_browser_decodes_it(self):
        # webp=1 in the URL (the page found WebP decodable) adds image/webp to the handshake.
        self.mode('stubborn')
        t = self.daemon.ok('POST', '/api/v1/vms/%s/console' % self.vm, body={'protocol': 'rdp'})
        c = GuacClient(wsclient.connect(t['url'] + '&webp=1', protocols=['guacamole'], timeout=10), decode=False)
        c.handshake_done(10)
        seen = open(os.path.join(self.wdir, 'connect-seen'), 'rb').read().decode()
        self.assertIn('5.image,9.image/png,10.image/jpeg,10.image/webp;', seen)
        c.ws.close()
        t = self.daemon.ok('POST', '/api/v1/vms/%s/console' % self.vm, body={'protocol': 'rdp'})
        hs = wsclient.open_ws(t['url'] + '&webp=yes', protocols=['guacamole'])
        self.assertEqual(hs.status, 400)

    def test_session_credentials(self):
        # Credentials given with the ticket are used for that session only.
        self.mode('stubborn')
        path = '/api/v1/vms/%s/console' % self.vm
        t = self.daemon.ok('POST', path, body={'protocol': 'rdp',
                                                'credentials': {'username': 'alice', 'password': 'one;time,pw'}})
        c = GuacClient(wsclient.connect(t['url'], protocols=['guacamole'], timeout=10), decode=False)
        c.handshake_done(10)
        seen = open(os.path.join(self.wdir, 'connect-seen'), 'rb').read().decode()
        self.assertIn(',11.one;time,pw,', seen)
        self.assertNotIn('pw,;.x', seen)
        c.ws.close()
        vm = self.daemon.ok('GET', '/api/v1/vms/' + self.vm)
        self.assertTrue(vm['rdp']['password_set'])
        self.assertNotEqual(vm['rdp'].get('username'), 'alice', 'session credentials were stored')
        # The next session uses the stored ones again.
        c = self.open()
        c.handshake_done(10)
        self.assertIn('6.pw,;.x,', open(os.path.join(self.wdir, 'connect-seen'), 'rb').read().decode())
        c.ws.close()
        # Bad input.
        for body, want in (({'protocol': 'vnc', 'credentials': {'username': 'a'}}, 'credentials: only for'),
                           ({'protocol': 'rdp', 'credentials': 'alice'}, 'credentials: must be an object'),
                           ({'protocol': 'rdp', 'credentials': {'user': 'a'}}, 'credentials.user: unknown field'),
                           ({'protocol': 'rdp', 'credentials': {'password': 5}}, 'credentials.password: must be'),
                           ({'protocol': 'rdp', 'credentials': {'username': 'a\u0001'}}, 'credentials.username')):
            st, js, _ = self.daemon.api('POST', path, body=body)
            self.assertEqual((st, error_code(js)), (400, 'invalid_field'), (body, js))
            self.assertIn(want, js['error']['message'], body)

    def test_stubborn_worker_is_killed(self):
        self.mode('stubborn')
        before = set(self.workers())
        c = self.open()
        c.handshake_done(10)
        pids = sorted(set(self.workers()) - before)
        self.assertEqual(len(pids), 1, pids)
        t0 = time.time()
        c.ws.close()
        self.assertTrue(wait_pid_gone(pids[0], 10), 'the worker survived')
        took = time.time() - t0
        print('    worker ignoring EOF and SIGTERM gone after %.1f s' % took)
        self.assertGreater(took, 2.5)  # SIGTERM at 3 s was ignored; SIGKILL at 5 s
        self.daemon.ok('GET', '/api/v1/host')

    def test_malformed_worker_output(self):
        self.mode('malformed')
        c = self.open(ack=False)  # no writes toward a closing server: its close frame stays readable
        c.pump(10, lambda c: c.closed is not None)
        self.assertIsNotNone(c.closed)
        self.assertEqual(c.closed.code, 1011)
        self.assertIn('malformed', c.closed.reason)
        self.assertEqual(c.ready, 'fake')  # the valid instructions before it were relayed,
        self.assertEqual([f.ts for f in c.frames], [1, 2])  # even from the same read
        self.daemon.ok('GET', '/api/v1/host')

    def test_worker_crash_during_handshake(self):
        self.mode('crash')
        c = self.open()
        c.pump(10, lambda c: c.closed is not None)
        self.assertIsNotNone(c.closed)
        self.assertEqual(c.closed.code, 1011)
        self.assertIn('exit status 3', c.closed.reason)
        self.daemon.ok('GET', '/api/v1/host')

    def test_flooding_worker_and_slow_browser(self):
        """The worker writes without end; the browser does not read: the daemon's memory stays
        bounded (WS_QUEUE_HIGH toward the browser, then the worker's socket is not read)."""
        self.mode('flood')
        before = self.daemon.rss_kib()
        c = self.open()
        time.sleep(3)  # not reading at all
        grown = self.daemon.rss_kib() - before
        print('    daemon RSS grew %d KiB with a flooding worker and a stalled browser' % grown)
        self.assertLess(grown, 16 * 1024)
        # Reading resumes the stream.
        n = c.bytes
        c.pump(2)
        self.assertGreater(c.bytes, n)
        pids = self.workers()
        c.ws.close()
        for pid in pids:
            self.assertTrue(wait_pid_gone(pid, 10), 'worker %d survived' % pid)
        self.daemon.ok('GET', '/api/v1/host')

    def test_session_limit(self):
        self.mode('idle')
        clients = []
        try:
            for _ in range(16):
                c = self.open()
                c.handshake_done(10)
                clients.append(c)
            t = self.daemon.ok('POST', '/api/v1/vms/%s/console' % self.vm, body={'protocol': 'rdp'})
            hs = wsclient.open_ws(t['url'], protocols=['guacamole'])
            self.assertEqual(hs.status, 503, hs.body)
        finally:
            for c in clients:
                c.ws.close()
        deadline = time.time() + 10
        while self.workers() and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.workers(), [])
        c = self.open()  # room again
        c.handshake_done(10)
        c.ws.close()
