# SPDX-License-Identifier: GPL-2.0-or-later
"""RDP channels in the browser, against tests/rdp-peer (qhm-rdp-peer, a test RDP server on
libfreerdp-server2, TLS with a certificate made here by openssl): one peer per test, in the
mode that exercises one channel, reached through the daemon's /rdp/{vm} WebSocket. The peer
prints what it received on stdout; the browser side is guacclient.GuacClient.

- clip: cliprdr Unicode text both ways (the peer's known text arrives as a `clipboard`
  stream; the browser's text arrives at the peer as CF_UNICODETEXT, CRLF, NUL-terminated),
  invalid UTF-8 and oversize text.
- disp: the browser's `size` as a Display Control monitor layout with the dpi's scale factor,
  the server's resize back as `size,0,W,H`; without disp, a reconnection at the new size.
- snd: the peer's known PCM in the browser's audio/L16 blobs, byte for byte; a refused stream
  stays mute.
- mic: the browser's audio/L16 stream at the peer (audin).
- drive: DATA/shared/VMNAME redirected as "qemuhmos": listed, a file read through it; created
  when missing; a symlink is not followed.
- rail: rdp.remote_app as RemoteApp (the Execute order) or as the alternate shell.

Skipped when the peer was not built (freerdp2-dev's freerdp-server2 missing) or openssl is
missing (scripts/install-deps.sh build test installs both)."""

import base64
import struct
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import REPO, DaemonTestCase
from guacclient import GuacClient
from test_console import WSDaemon
import test_rdp
from test_rdp import free_port, near, wait_port
import wsclient

PEER = os.environ.get('QHM_RDP_PEER') or os.path.join(REPO, 'build', 'tests', 'qhm-rdp-peer')
PEER_CLIP_TEXT = 'Grüße from the peer ✓ 𝄞'  # tests/rdp-peer/peer.c


def have_peer():
    return os.access(PEER, os.X_OK) and shutil.which('openssl')


class Peer:
    """qhm-rdp-peer in MODE on a free port; lines() of its stdout as they come."""

    def __init__(self, mode, cert_dir):
        self.port = free_port()
        self.lines = queue.Queue()
        self.seen = []
        self.proc = subprocess.Popen([PEER, str(self.port), os.path.join(cert_dir, 'cert.pem'),
                                      os.path.join(cert_dir, 'key.pem'), mode],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.stderr = []
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()
        if not self.expect('LISTENING', 10):
            self.stop()
            raise RuntimeError('qhm-rdp-peer did not start: %r' % b''.join(self.stderr)[-2000:])

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.decode('utf-8', 'replace').rstrip('\n'))

    def expect(self, prefix, timeout=10.0):
        """The first line (seen before or coming) starting with PREFIX, or None."""
        for l in self.seen:
            if l.startswith(prefix):
                self.seen.remove(l)
                return l
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                l = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if l.startswith(prefix):
                return l
            self.seen.append(l)
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@unittest.skipUnless(have_peer(), 'qhm-rdp-peer not built or openssl missing')
class RDPChannelsTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix='qhm-rdp-peer-')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj',
                        '/CN=qhm-rdp-peer', '-keyout', os.path.join(cls.certs, 'key.pem'),
                        '-out', os.path.join(cls.certs, 'cert.pem')],
                       check=True, capture_output=True, timeout=60)
        cls.daemon = WSDaemon()
        cls.data_dir = cls.daemon.data_dir
        try:
            cls.daemon.start()
        except Exception:
            cls.daemon.teardown()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.certs, ignore_errors=True)

    peer = vm = None
    rdp_log = ''  # the current test's (class attributes: diagnostics() is a classmethod)

    def setUp(self):
        type(self).peer = type(self).vm = None

    def tearDown(self):
        cls = type(self)
        if cls.peer:
            cls.peer.stop()
        if cls.vm:
            try:
                with open(os.path.join(cls.data_dir, 'vms', cls.vm, 'logs', 'rdp.log'), 'rb') as f:
                    cls.rdp_log = f.read()[-3000:].decode(errors='replace')
            except OSError:
                cls.rdp_log = ''
            self.daemon.dispose(cls.vm)

    @classmethod
    def diagnostics(cls):
        out = super().diagnostics()
        if cls.peer:
            out += '\npeer stdout: %r\npeer stderr: %r' % (cls.peer.seen, b''.join(cls.peer.stderr)[-2000:])
        return out + '\nrdp.log:\n' + cls.rdp_log

    def session(self, mode, rdp=None, size=(1024, 768), dpi=96, shortcuts=None, shortcut=None, decode=False):
        cls = type(self)
        cls.peer = Peer(mode, self.certs)
        target = {'host': '127.0.0.1', 'port': self.peer.port}
        target.update(rdp or {})
        extra = {'shortcuts': shortcuts} if shortcuts else {}
        cls.vm = self.daemon.create(name='rdp-' + mode, memory_mib=128, cpus=1, disks=[], rdp=target, **extra)['id']
        body = {'protocol': 'rdp'}
        if shortcut:
            body['shortcut'] = shortcut
        t = self.daemon.ok('POST', '/api/v1/vms/%s/console' % self.vm, body=body)
        url = t['url'] + '&width=%d&height=%d&dpi=%d' % (size[0], size[1], dpi)
        c = GuacClient(wsclient.connect(url, protocols=['guacamole'], timeout=10), decode=decode)
        c.handshake_done(timeout=15)
        self.assertTrue(self.peer.expect('ACTIVATED', 10), 'the peer saw no activation')
        return c

    def send_clipboard(self, c, sid, data, mime='text/plain'):
        c.send('clipboard', sid, mime)
        for off in range(0, len(data), 6048):
            c.send('blob', sid, base64.b64encode(data[off:off + 6048]).decode())
        c.send('end', sid)

    def peer_clip(self, c, timeout=10):
        line = self.peer.expect('CLIP_RECV ', timeout)
        if not line:
            c.pump(0.5)
        self.assertTrue(line, 'the peer received no clipboard text (browser errors: %r)' % c.errors)
        return bytes.fromhex(line.split(' ', 1)[1])

    # -- clipboard --
    def test_clip_01_server_to_browser(self):
        """The peer announces CF_UNICODETEXT: the browser receives its text as text/plain UTF-8."""
        c = self.session('clip')
        self.assertTrue(c.pump(10, lambda c: c.clipboards), 'no clipboard stream reached the browser')
        self.assertEqual(c.clipboards[0], ('text/plain', PEER_CLIP_TEXT.encode()))

    def test_clip_02_browser_to_server(self):
        """The browser's text reaches the server as UTF-16LE with CRLF and a NUL; every blob is
        acknowledged."""
        c = self.session('clip')
        self.assertTrue(self.peer.expect('CLIP_STARTED', 10))
        c.pump(3, lambda c: c.clipboards)  # the worker has seen Monitor Ready by then
        text = 'line one\nzwei: Ä€𝄞\n'
        self.send_clipboard(c, '7', text.encode())
        got = self.peer_clip(c)
        self.assertEqual(got, text.replace('\n', '\r\n').encode('utf-16-le') + b'\0\0')
        c.pump(2, lambda c: c.acks)
        self.assertIn(('7', 'OK', 0), c.acks)

    def test_clip_03_invalid_and_oversize(self):
        """Invalid UTF-8 becomes U+FFFD; text beyond 256 KiB is cut; a blob that is not base64
        ends the session with 0x0300 and the daemon keeps serving."""
        c = self.session('clip')
        self.assertTrue(self.peer.expect('CLIP_STARTED', 10))
        c.pump(3, lambda c: c.clipboards)
        self.send_clipboard(c, '3', b'a\xffb\xc3')
        self.assertEqual(self.peer_clip(c), 'a\ufffdb\ufffd'.encode('utf-16-le') + b'\0\0')
        self.send_clipboard(c, '4', b'x' * (300 << 10))
        got = self.peer_clip(c, 20)
        self.assertEqual(got, b'x\0' * (256 << 10) + b'\0\0')
        c.send('clipboard', '5', 'text/plain')
        c.send('blob', '5', 'not*base64')
        c.pump(10, lambda c: c.closed is not None)
        self.assertTrue(c.errors and c.errors[0][1] == 0x300, c.errors)
        self.daemon.ok('GET', '/api/v1/host')

    # -- display control --
    def test_disp_01_resize_through_disp(self):
        """The browser's size goes to the server as a disp monitor layout with the desktop scale
        factor of the dpi given at connect; the server's DesktopResize resizes the default layer."""
        c = self.session('disp', dpi=120)
        self.assertTrue(self.peer.expect('DISP_CAPS_SENT', 10))
        time.sleep(0.3)  # the caps reach the worker
        c.send('size', 801, 600)  # odd widths are made even
        line = self.peer.expect('DISP_LAYOUT', 10)
        self.assertEqual(line, 'DISP_LAYOUT 800 600 125 1')
        self.assertTrue(self.peer.expect('ACTIVATED 800 600', 10))
        self.assertTrue(c.pump(10, lambda c: (c.width, c.height) == (800, 600)), (c.width, c.height))
        # a second resize within 500 ms waits, then goes out: only the last size counts
        c.send('size', 1000, 700)
        c.send('size', 1100, 720)
        self.assertEqual(self.peer.expect('DISP_LAYOUT', 10), 'DISP_LAYOUT 1100 720 125 1')
        self.assertTrue(c.pump(10, lambda c: (c.width, c.height) == (1100, 720)), (c.width, c.height))
        self.assertIsNone(self.peer.expect('DISP_LAYOUT', 1))
        self.assertFalse(c.errors)

    def test_disp_02_reconnect_without_disp(self):
        """A server without disp: the worker reconnects at the new size (after waiting 3 s for a
        late disp offer); the browser gets the new size and the session goes on."""
        c = self.session('clip')
        c.send('size', 900, 640)
        self.assertTrue(self.peer.expect('CLIENT_GONE', 10), 'no reconnection')
        self.assertTrue(self.peer.expect('CONNECTED 900 640', 10), 'reconnected at another size')
        self.assertTrue(c.pump(10, lambda c: (c.width, c.height) == (900, 640)), (c.width, c.height))
        self.assertTrue(c.pump(10, lambda c: c.clipboards), 'the clipboard did not come back')
        self.assertFalse(c.errors)
        c.send('size', 0, 'x')
        c.pump(10, lambda c: c.closed is not None)
        self.assertTrue(c.errors and c.errors[0][1] == 0x300, c.errors)

    # -- audio out --
    def test_snd_01_pcm_reaches_the_browser(self):
        """The peer's PCM (44.1 kHz, 16-bit, stereo, a known pattern, sent twice) arrives byte for
        byte in the blobs of one audio/L16 stream."""
        c = self.session('snd')
        line = self.peer.expect('SND_SENT', 15)
        self.assertTrue(line, 'the peer sent no audio')
        want = b''.join(struct.pack('<hh', *[((i * 7 + ch * 1000) & 0xffff) - (0x10000 if (i * 7 + ch * 1000) & 0x8000 else 0)
                                             for ch in (0, 1)]) for i in range(4410))
        self.assertTrue(c.pump(10, lambda c: any(len(a['data']) >= len(want) for a in c.audio.values())),
                        'audio received: %r' % {k: (v['mime'], len(v['data'])) for k, v in c.audio.items()})
        (sid, a), = c.audio.items()
        self.assertEqual(a['mime'], 'audio/L16;rate=44100,channels=2')
        self.assertEqual(bytes(a['data'][:len(want)]), want)
        # the second batch, 1.5 s later, too (what test_snd_02 expects to be dropped)
        self.assertTrue(c.pump(10, lambda c: len(a['data']) >= 2 * len(want)), len(a['data']))
        self.assertEqual(bytes(a['data']), want + want)
        self.assertFalse(c.errors)

    # -- drive redirection --
    def test_drive_01_shared_folder(self):
        """DATA/shared/VMNAME is redirected as the drive "qemuhmos": the server lists it and reads
        a file from it."""
        shared = os.path.join(self.data_dir, 'shared', 'rdp-drive')
        os.makedirs(shared, exist_ok=True)
        content = b'hello from the shared folder \xe2\x9c\x93\n'
        with open(os.path.join(shared, 'hello.txt'), 'wb') as f:
            f.write(content)
        c = self.session('drive')
        self.assertEqual(self.peer.expect('DRIVE_ANNOUNCED', 10), 'DRIVE_ANNOUNCED qemuhmos')
        line = self.peer.expect('DRIVE_READ', 10)
        self.assertTrue(line, 'the peer read nothing')
        status, data = line.split(' ')[1:3]
        self.assertEqual((status, bytes.fromhex(data)), ('00000000', content))
        self.assertTrue(self.peer.expect('DRIVE_ENTRY hello.txt', 10), 'hello.txt not listed')
        self.assertFalse(c.errors)

    def test_drive_02_folder_created_and_symlink_refused(self):
        """A missing folder is created (mode 0700); a symlink in its place is not followed: no drive."""
        shared = os.path.join(self.data_dir, 'shared', 'rdp-drive')
        shutil.rmtree(shared, ignore_errors=True)
        c = self.session('drive')
        self.assertEqual(self.peer.expect('DRIVE_ANNOUNCED', 10), 'DRIVE_ANNOUNCED qemuhmos')
        self.assertTrue(os.path.isdir(shared))
        self.assertEqual(os.stat(shared).st_mode & 0o777, 0o700)
        c.ws.close()
        self.tearDown()
        shutil.rmtree(shared)
        os.symlink('/etc', shared)
        try:
            c = self.session('drive')
            self.assertIsNone(self.peer.expect('DRIVE_ANNOUNCED', 3), 'a symlinked folder was redirected')
        finally:
            os.unlink(shared)

    # -- RemoteApp / alternate shell --
    def test_rail_01_remote_app(self):
        """rdp.remote_app (mode rail): the client asks for RemoteApp mode and, after the server's
        rail handshake, executes the program."""
        # ASCII and no arguments: FreeRDP 2.11's rail *server* (the peer's library) misreads the
        # Execute order otherwise (non-ASCII strings fail, every string lands in the program field)
        c = self.session('rail', rdp={'remote_app': {'program': 'C:\\Tools\\app.exe'}})
        self.assertEqual(self.peer.expect('RAIL_MODE', 5), 'RAIL_MODE 1')
        self.assertEqual(self.peer.expect('RAIL_EXEC', 10), 'RAIL_EXEC C:\\Tools\\app.exe|')
        self.assertFalse(c.errors)

    def test_rail_02_alternate_shell(self):
        """Mode shell: a full session whose shell is the program (quoted) and its arguments."""
        c = self.session('clip', rdp={'remote_app': {'program': '%SystemRoot%\\notepad.exe', 'args': 'a.txt',
                                                     'mode': 'shell'}})
        self.assertEqual(self.peer.expect('SHELL', 5), 'SHELL "%SystemRoot%\\notepad.exe" a.txt')
        self.assertEqual(self.peer.expect('RAIL_MODE', 5), 'RAIL_MODE 0')
        self.assertFalse(c.errors)

    def test_rail_03_desktop_by_default(self):
        c = self.session('clip')
        self.assertEqual(self.peer.expect('SHELL', 5), 'SHELL ')
        self.assertEqual(self.peer.expect('RAIL_MODE', 5), 'RAIL_MODE 0')

    def test_rail_04_app_shortcut(self):
        """A console ticket for one of the VM's app shortcuts opens that program (not rdp.remote_app,
        not the desktop); an unknown shortcut, or one asked for a VNC console, is a 400."""
        c = self.session('rail', rdp={'remote_app': {'program': 'C:\\Other\\x.exe'}},
                         shortcuts=[{'name': 'Editor', 'program': 'C:\\Tools\\editor.exe'},
                                    {'name': 'Calc', 'program': '||calc'}], shortcut='Editor')
        self.assertEqual(self.peer.expect('RAIL_MODE', 5), 'RAIL_MODE 1')
        self.assertEqual(self.peer.expect('RAIL_EXEC', 10), 'RAIL_EXEC C:\\Tools\\editor.exe|')
        self.assertFalse(c.errors)
        for body in ({'protocol': 'rdp', 'shortcut': 'Nope'}, {'protocol': 'rdp', 'shortcut': 3},
                     {'protocol': 'vnc', 'shortcut': 'Editor'}):
            st, js, _ = self.daemon.api('POST', '/api/v1/vms/%s/console' % self.vm, body=body)
            self.assertEqual(st, 400, '%r -> %d %r' % (body, st, js))
            self.assertTrue(js['error']['message'].startswith('shortcut'), js)

    def test_gfx_01_pipeline_without_h264(self):
        """The graphics pipeline as a Windows server uses it without H.264: a surface drawn with an
        uncompressed and a planar surface command reaches the browser as pixels, the frame is
        acknowledged, and the worker counts both codecs (freerdp-shadow-cli only ever sends H.264
        through the pipeline)."""
        c = self.session('gfx', decode=True)
        self.assertTrue(self.peer.expect('GFX_CAPS', 10), 'the client advertised no gfx capabilities')
        self.assertEqual(self.peer.expect('GFX_FRAME', 10), 'GFX_FRAME 1')
        self.assertEqual(self.peer.expect('GFX_ACK', 10), 'GFX_ACK 1')
        green, red = (0x22, 0x88, 0x44), (0xaa, 0x33, 0x11)
        ok = c.pump(10, lambda c: c.fb is not None and near(c.pixel(100, 100), green) and near(c.pixel(900, 600), red))
        self.assertTrue(ok, 'pixels: %r %r' % (c.fb and c.pixel(100, 100), c.fb and c.pixel(900, 600)))
        path = os.path.join(self.daemon.data_dir, 'vms', self.vm, 'logs', 'rdp.log')
        c.ws.close()
        deadline = time.time() + 8
        line = ''
        while time.time() < deadline and 'gfx codecs' not in line:
            with open(path, errors='replace') as f:
                line = ''.join(l for l in f if 'gfx codecs' in l)
            time.sleep(0.2)
        self.assertIn('uncompressed 1', line)
        self.assertIn('planar 1', line)
        self.assertNotIn('avc', line)

    def test_snd_02_refused_stream_stays_mute(self):
        """A browser that cannot play the stream answers it with an error ack: the server's next
        PCM is dropped, not sent."""
        c = self.session('snd')
        self.assertTrue(c.pump(10, lambda c: c.audio), 'no audio stream')
        sid = next(iter(c.audio))
        c.send('ack', sid, 'BAD TYPE', 0x30f)
        self.assertTrue(self.peer.expect('SND_SENT', 10))
        self.assertTrue(self.peer.expect('SND_SENT', 10), 'the peer did not send its second batch')
        c.pump(1.5)
        self.assertLessEqual(len(c.audio[sid]['data']), 4410 * 4)
        self.assertFalse(c.errors)

    # -- microphone --
    def test_mic_01_browser_audio_reaches_the_server(self):
        """Once the server records (audin), the browser's audio/L16 stream in that format reaches
        it byte for byte; another format is refused with 0x030F."""
        c = self.session('mic')
        self.assertEqual(self.peer.expect('MIC_OPEN', 10), 'MIC_OPEN 0')
        c.send('audio', '12', 'audio/ogg')
        c.send('audio', '9', 'audio/L16;rate=44100,channels=2')
        pcm = bytes((i * 13) & 0xff for i in range(4410 * 4))
        for off in range(0, len(pcm), 1764):
            c.send('blob', '9', base64.b64encode(pcm[off:off + 1764]).decode())
        c.send('end', '9')
        got = b''
        deadline = time.time() + 10
        while len(got) < len(pcm) and time.time() < deadline:
            line = self.peer.expect('MIC_RECV ', max(0.1, deadline - time.time()))
            if line:
                got += bytes.fromhex(line.split(' ', 1)[1])
        # FreeRDP 2.11's audin *server* (the peer's library) decodes PCM through its FFmpeg DSP as
        # unsigned 16-bit: the sign bit of every sample comes out flipped. Its rdpsnd server does the
        # same on encode (test_snd_01 avoids it with Wave2 PDUs and gets the bytes unchanged); were
        # the worker's side transcoding too, the two flips would cancel. So: exactly one flip.
        self.assertEqual(got, bytes(b ^ 0x80 if i % 2 else b for i, b in enumerate(pcm)))
        c.pump(1)
        self.assertIn(('12', 'audio/L16;rate=8000..48000,channels=1|2 only', 0x30f), c.acks)
        self.assertIn(('9', 'OK', 0), c.acks)
        self.assertFalse(c.errors)

    def test_mic_02_other_rate_converted(self):
        """The browser records 22.05 kHz mono, the server chose 44.1 kHz stereo: the worker converts
        (every input frame and one interpolated between, on both channels)."""
        c = self.session('mic')
        self.assertEqual(self.peer.expect('MIC_OPEN', 10), 'MIC_OPEN 0')
        c.send('audio', '9', 'audio/L16;rate=22050,channels=1')
        n = 2205
        pcm = b''.join(struct.pack('<h', 10 * i - 11000) for i in range(n))
        for off in range(0, len(pcm), 882):
            c.send('blob', '9', base64.b64encode(pcm[off:off + 882]).decode())
        c.send('end', '9')
        want_frames = 2 * n - 1  # the last input frame waits for a next block that never comes
        got = b''
        deadline = time.time() + 10
        while len(got) < want_frames * 4 and time.time() < deadline:
            line = self.peer.expect('MIC_RECV ', 1.0 if len(got) >= want_frames * 4 - 512 else
                                    max(0.1, deadline - time.time()))
            if not line and len(got) >= want_frames * 4 - 512:
                break
            if line:
                got += bytes.fromhex(line.split(' ', 1)[1])
        # FreeRDP's audin client passes whole packets on: the last few frames may stay in its buffer
        self.assertTrue(want_frames * 4 - 512 <= len(got) <= want_frames * 4 and len(got) % 4 == 0, len(got))
        # the peer's audin server flips every sample's sign bit (see test_mic_01)
        vals = [v ^ 0x8000 for v in struct.unpack('<%dH' % (len(got) // 2), got)]
        vals = [v - 0x10000 if v >= 0x8000 else v for v in vals]
        for k in range(len(got) // 4):
            self.assertEqual((vals[2 * k], vals[2 * k + 1]), (5 * k - 11000, 5 * k - 11000), 'frame %d' % k)
        c.pump(0.5)
        self.assertIn(('9', 'OK', 0), c.acks)
        self.assertFalse(c.errors)


@unittest.skipUnless(test_rdp.have_peer_tools(), 'Xvfb, freerdp-shadow-cli, xdotool, xsetroot or xterm missing')
class RDPShadowResizeTest(DaemonTestCase):
    """freerdp-shadow-cli has no disp and imposes 1280x800: a `size` makes the worker reconnect
    once; the server's size stands, and later sizes no longer reconnect (no loop with a browser
    that asks again)."""

    @classmethod
    def setUpClass(cls):
        cls.peer = test_rdp.XPeer()
        try:
            cls.peer.start()
        except Exception:
            cls.peer.stop()
            raise
        cls.daemon = WSDaemon()
        cls.data_dir = cls.daemon.data_dir
        try:
            cls.daemon.start()
        except Exception:
            cls.daemon.teardown()
            cls.peer.stop()
            raise
        cls.vm = cls.daemon.create(name='rdp-shadow', memory_mib=128, cpus=1, disks=[],
                                   rdp={'host': '127.0.0.1', 'port': cls.peer.port, 'username': 'tester',
                                        'password': 's3cret'})['id']

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        xvfb = cls.peer.procs[0]  # SIGTERM first: killed, Xvfb would leave its /tmp/.X*-lock behind
        if xvfb.poll() is None:
            xvfb.terminate()
            try:
                xvfb.wait(5)
            except subprocess.TimeoutExpired:
                pass
        cls.peer.stop()

    def test_resize_reconnects_once(self):
        t = self.daemon.ok('POST', '/api/v1/vms/%s/console' % self.vm, body={'protocol': 'rdp'})
        c = GuacClient(wsclient.connect(t['url'] + '&width=1280&height=800&dpi=96', protocols=['guacamole'],
                                        timeout=10), decode=False)
        c.handshake_done(timeout=15)
        self.assertTrue(c.pump(10, lambda c: c.frames))
        sizes = []
        orig = c._handle

        def spy(ins):
            if ins[0] == 'size' and ins[1] == '0':
                sizes.append((int(ins[2]), int(ins[3])))
            orig(ins)
        c._handle = spy
        c.send('size', 1000, 700)
        self.assertTrue(c.pump(15, lambda c: sizes), 'no new size after the reconnection')
        self.assertEqual(sizes, [(1280, 800)])
        frames = len(c.frames)
        self.assertTrue(c.pump(10, lambda c: len(c.frames) > frames), 'no frame after the reconnection')
        c.send('size', 1000, 700)
        c.pump(5)
        self.assertEqual(sizes, [(1280, 800)], 'reconnected again')
        self.assertFalse(c.errors)
        c.ws.close()
        with open(os.path.join(self.data_dir, 'vms', self.vm, 'logs', 'rdp.log'), 'rb') as f:
            log = f.read().decode(errors='replace')
        self.assertEqual(log.count('reconnecting at 1000x700'), 1, log[-2000:])
