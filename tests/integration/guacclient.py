# SPDX-License-Identifier: GPL-2.0-or-later
"""A Guacamole protocol client (standard library only) over wsclient's WebSocket,
for the RDP tests and bench/rdp.py: what guacamole-common-js does with an
`img`/`blob`/`end`/`sync` stream, in Python.

- encode(*elements) / parse(text): the instruction syntax (LEN.VALUE,...;), LEN
  counted in Unicode code points. parse() is strict: a message that does not end
  on an instruction boundary raises, as guacamole-common-js's WebSocketTunnel does.
- GuacClient(ws): pump() reads messages, answers `sync` (unless told not to),
  decodes PNG images into an RGB framebuffer (`fb`), counts frames and bytes;
  JPEG rectangles are counted (`jpeg_rects`) but not decoded. decode=False skips PNG
  decoding too (pure-Python decoding of a full screen takes longer than a frame).
"""

import base64
import time

import png
import wsclient
from wsclient import OP_CLOSE, OP_TEXT


class GuacError(AssertionError):
    pass


def encode(*elements):
    return ''.join('%s%d.%s' % (',' if i else '', len(str(e)), e) for i, e in enumerate(elements)) + ';'


def parse(text):
    """[[opcode, args...], ...] of a message made of whole instructions."""
    out, i, n = [], 0, len(text)
    while i < n:
        els = []
        while True:
            dot = text.find('.', i)
            if dot < 0 or not text[i:dot].isdigit():
                raise GuacError('bad element length at %d in %r' % (i, text[max(0, i - 20):i + 40]))
            ln = int(text[i:dot])
            v = text[dot + 1:dot + 1 + ln]
            end = dot + 1 + ln
            if len(v) != ln or end >= n:
                raise GuacError('message ends inside an instruction: %r' % text[-80:])
            els.append(v)
            t = text[end]
            i = end + 1
            if t == ';':
                break
            if t != ',':
                raise GuacError('expected , or ; after an element, got %r' % t)
        out.append(els)
    return out


class Frame:
    def __init__(self, ts, rects, nbytes, at):
        self.ts, self.rects, self.bytes, self.at = ts, rects, nbytes, at


class GuacClient:
    def __init__(self, ws, ack=True, decode=True):
        self.ws = ws
        self.ack = ack
        self.decode = decode  # False: count images without decoding (benchmarks: a fast browser)
        self.width = self.height = None
        self.fb = None
        self.ready = None
        self.uuid = None
        self.errors = []  # [(message, status)]
        self.frames = []  # Frame per sync
        self.instructions = 0
        self.png_rects = self.jpeg_rects = self.webp_rects = self.copies = 0
        self.buffers = {}  # layer index (negative) -> last PNG drawn into it
        self.cursors = []  # (hotspot x, hotspot y, width, height, PNG)
        self.bytes = 0
        self.closed = None  # wsclient.Close once the server closed
        self.disconnected = False
        self.pings = 0
        self._streams = {}
        self.clipboards = []  # (mimetype, bytes) per clipboard stream ended
        self.audio = {}  # stream -> {'mime': ..., 'data': bytearray, 'blobs': n, 'ended': bool}
        self.acks = []  # (stream, message, status)
        self._frame_rects = 0
        self._frame_bytes = 0
        self.first_sync_at = None

    # -- sending --
    def send(self, *elements):
        self.ws.send_text(encode(*elements))

    def mouse(self, x, y, mask=0):
        self.send('mouse', x, y, mask)

    def key(self, keysym, pressed):
        self.send('key', keysym, 1 if pressed else 0)

    def tap(self, keysym, shift=False):
        if shift:
            self.key(0xffe1, True)
        self.key(keysym, True)
        self.key(keysym, False)
        if shift:
            self.key(0xffe1, False)

    # -- receiving --
    def pump(self, timeout=5.0, until=None):
        """Handle messages until UNTIL(self) is true (returns True), the server closes
        (returns False) or TIMEOUT passes (returns False)."""
        deadline = time.time() + timeout
        while True:
            if until and until(self):
                return True
            if self.closed is not None:
                return False
            left = deadline - time.time()
            if left <= 0:
                return False
            try:
                op, data = self.ws.recv_message(min(left, 1.0))
            except wsclient.Timeout:
                continue
            except wsclient.ConnectionClosed:
                self.closed = wsclient.Close(b'')
                return False
            if op == OP_CLOSE:
                self.closed = data
                continue
            if op != OP_TEXT:
                raise GuacError('binary message from the server')
            self.bytes += len(data)
            self._frame_bytes += len(data)
            for ins in parse(data.decode('utf-8')):
                self._handle(ins)

    def _handle(self, ins):
        self.instructions += 1
        op, args = ins[0], ins[1:]
        if op == '':
            if len(args) == 1 and self.uuid is None:
                self.uuid = args[0]
            elif args[:1] == ['ping']:
                self.pings += 1
        elif op == 'ready':
            self.ready = args[0]
        elif op == 'size':
            if args[0] == '0':
                self.width, self.height = int(args[1]), int(args[2])
                self.fb = bytearray(self.width * self.height * 3)
        elif op == 'img':
            self._streams[args[0]] = {'mime': args[3], 'layer': args[2], 'x': int(args[4]), 'y': int(args[5]),
                                      'data': []}
        elif op == 'clipboard':
            self._streams[args[0]] = {'kind': 'clipboard', 'mime': args[1], 'data': []}
        elif op == 'audio':
            self.audio[args[0]] = {'mime': args[1], 'data': bytearray(), 'blobs': 0, 'ended': False}
        elif op == 'ack':
            self.acks.append((args[0], args[1], int(args[2])))
        elif op == 'blob' and args[0] in self.audio and not self.audio[args[0]]['ended']:
            a = self.audio[args[0]]
            a['data'] += base64.b64decode(args[1], validate=True)
            a['blobs'] += 1
        elif op == 'end' and args[0] in self.audio and args[0] not in self._streams:
            self.audio[args[0]]['ended'] = True
        elif op == 'blob':
            s = self._streams.get(args[0])
            if s is None:
                raise GuacError('blob for unknown stream %s' % args[0])
            s['data'].append(base64.b64decode(args[1], validate=True))
        elif op == 'end':
            s = self._streams.pop(args[0], None)
            if s is None:
                raise GuacError('end for unknown stream %s' % args[0])
            if s.get('kind') == 'clipboard':
                self.clipboards.append((s['mime'], b''.join(s['data'])))
                return
            if s['layer'] != '0':  # a buffer (the cursor image): kept, not drawn
                self.buffers[s['layer']] = b''.join(s['data'])
                return
            self._frame_rects += 1
            if s['mime'] == 'image/png':
                self.png_rects += 1
                if self.decode:
                    self._paste(png.decode(b''.join(s['data'])), s['x'], s['y'])
            elif s['mime'] == 'image/webp':
                self.webp_rects += 1
            else:
                self.jpeg_rects += 1
        elif op == 'cursor':
            hx, hy, layer, sx, sy, w, h = args
            self.cursors.append((int(hx), int(hy), int(w), int(h), self.buffers.get(layer)))
        elif op == 'copy':
            self.copies += 1
            if self.decode:
                self._copy(*[int(a) for a in args])
        elif op == 'sync':
            now = time.time()
            if self.first_sync_at is None:
                self.first_sync_at = now
            self.frames.append(Frame(int(args[0]), self._frame_rects, self._frame_bytes, now))
            self._frame_rects = self._frame_bytes = 0
            if self.ack:
                try:
                    self.send('sync', args[0])
                except OSError:
                    pass  # the server already closed; its close frame may still be ours to read
        elif op == 'error':
            self.errors.append((args[0], int(args[1])))
        elif op == 'disconnect':
            self.disconnected = True

    def _paste(self, img, x0, y0):
        if self.fb is None:
            raise GuacError('image before size')
        if x0 < 0 or y0 < 0 or x0 + img.width > self.width or y0 + img.height > self.height:
            raise GuacError('image %dx%d at %d,%d outside %dx%d' % (img.width, img.height, x0, y0,
                                                                    self.width, self.height))
        row = img.width * 3
        for y in range(img.height):
            o = ((y0 + y) * self.width + x0) * 3
            self.fb[o:o + row] = img.rgb[y * row:(y + 1) * row]

    def _copy(self, sl, sx, sy, w, h, mask, dl, dx, dy):
        if sl != 0 or dl != 0:
            raise GuacError('copy between layers %d -> %d' % (sl, dl))
        if min(sx, sy, dx, dy) < 0 or max(sx, dx) + w > self.width or max(sy, dy) + h > self.height:
            raise GuacError('copy outside the screen')
        rows = [bytes(self.fb[((sy + y) * self.width + sx) * 3:((sy + y) * self.width + sx + w) * 3])
                for y in range(h)]  # read all first: source and destination overlap
        for y, row in enumerate(rows):
            o = ((dy + y) * self.width + dx) * 3
            self.fb[o:o + w * 3] = row

    def pixel(self, x, y):
        o = (y * self.width + x) * 3
        return tuple(self.fb[o:o + 3])

    def handshake_done(self, timeout=10.0):
        """Wait for ready and size; raise with the worker's error if there is one."""
        ok = self.pump(timeout, lambda c: c.ready is not None and c.fb is not None or c.errors)
        if self.errors:
            raise GuacError('RDP error: %r' % (self.errors,))
        if not ok:
            raise GuacError('no ready/size within %.0f s (closed: %r)' % (timeout, self.closed))
