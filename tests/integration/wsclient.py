# SPDX-License-Identifier: GPL-2.0-or-later
"""A minimal, standard-library-only WebSocket client (RFC 6455) for the
integration tests.

- open_ws(url, origin=None, protocols=None, ...) performs the opening
  handshake and returns a Handshake: status, reason, headers (lower-case
  keys), body (bytes, for refusals) and ws (a WebSocket when the status is 101).
  connect(...) does the same but raises Refused unless the upgrade succeeded.
- WebSocket: masked client frames (send_frame / send_binary with optional
  fragmentation / send_text / send_close / send_ping / send_raw for bytes that
  are not a frame), recv_frame() and recv_message() (pings answered, close
  frames reported as a Close with code and reason), recv_stream(n) for protocols
  carried as a byte stream in binary messages (RFB), wait_close().

Every read is bounded by a deadline; nothing blocks forever.
"""

import base64
import hashlib
import os
import socket
import struct
import time
import urllib.parse

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WSError(AssertionError):
    pass


class Timeout(WSError):
    pass


class ConnectionClosed(WSError):
    """The TCP connection ended (EOF or reset) without (further) frames."""


class Refused(WSError):
    def __init__(self, hs):
        self.handshake = hs
        super().__init__('WebSocket upgrade refused: %d %s %r' % (hs.status, hs.reason, hs.body[:300]))


class Close:
    """A close frame received from the server."""

    def __init__(self, payload):
        self.payload = payload
        if len(payload) >= 2:
            self.code = struct.unpack('!H', payload[:2])[0]
            self.reason = payload[2:].decode('utf-8', errors='replace')
        else:
            self.code = None  # no status code (1005)
            self.reason = ''

    def __repr__(self):
        return 'Close(%r, %r)' % (self.code, self.reason)


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    def __repr__(self):
        return 'Frame(fin=%d, op=%d, %d bytes)' % (self.fin, self.opcode, len(self.payload))


class Handshake:
    def __init__(self, status, reason, headers, body, ws, raw_head):
        self.status, self.reason, self.headers, self.body, self.ws = status, reason, headers, body, ws
        self.raw_head = raw_head

    def text(self):
        return self.body.decode('utf-8', errors='replace')

    def __repr__(self):
        return 'Handshake(%d %s, %r, body=%r)' % (self.status, self.reason, self.headers, self.body[:200])


def _mask(payload, key):
    if not payload:
        return b''
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, 'little') ^ int.from_bytes(k, 'little')).to_bytes(n, 'little')


def encode_frame(opcode, payload, fin=True, mask=True, rsv=0, key=None):
    """Bytes of one frame (client frames are masked unless MASK is False)."""
    payload = bytes(payload)
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack('!BB', b0, mbit | n)
    elif n < 65536:
        head = struct.pack('!BBH', b0, mbit | 126, n)
    else:
        head = struct.pack('!BBQ', b0, mbit | 127, n)
    if mask:
        key = key if key is not None else os.urandom(4)
        return head + key + _mask(payload, key)
    return head + payload


def split_url(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ('ws', 'wss'):
        raise ValueError('only ws:// and wss:// URLs: %r' % url)
    path = u.path or '/'
    if u.query:
        path += '?' + u.query
    return u.hostname, u.port or (443 if u.scheme == 'wss' else 80), path


def tls_client(sock, host):
    """TLS over SOCK without verifying the certificate (LAN mode's is self-signed: tests compare
    its fingerprint with endpoint.json instead)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(sock, server_hostname=host)


def open_ws(url, origin=None, protocols=None, headers=None, timeout=5.0, path=None, rcvbuf=None):
    """Opening handshake. Returns a Handshake; .ws is a WebSocket if the status is 101.
    PATH overrides the request target (to send odd paths to URL's host and port). RCVBUF: the
    socket's receive buffer, set before connecting (a small one: a reader the server soon
    has to wait for)."""
    host, port, upath = split_url(url)
    target = path if path is not None else upath
    if rcvbuf:
        sock = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect((host, port))
    else:
        sock = socket.create_connection((host, port), timeout=timeout)
    if url.startswith('wss:'):
        sock = tls_client(sock, host)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ['GET %s HTTP/1.1' % target,
                 'Host: %s:%d' % (host, port),
                 'Upgrade: websocket',
                 'Connection: Upgrade',
                 'Sec-WebSocket-Key: ' + key,
                 'Sec-WebSocket-Version: 13']
        if origin is not None:
            lines.append('Origin: ' + origin)
        if protocols:
            lines.append('Sec-WebSocket-Protocol: ' + ', '.join(protocols))
        for k, v in (headers or {}).items():
            lines.append('%s: %s' % (k, v))
        sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())
        deadline = time.time() + timeout
        buf = b''
        while b'\r\n\r\n' not in buf:
            chunk = _recv(sock, deadline)
            if not chunk:
                raise ConnectionClosed('connection closed during the handshake after %r' % buf[:500])
            buf += chunk
            if b'\r\n\r\n' not in buf and len(buf) > 65536:  # (frames may follow the head at once)
                raise WSError('handshake response head over 64 KiB')
        head, rest = buf.split(b'\r\n\r\n', 1)
        hl = head.decode('iso-8859-1').split('\r\n')
        parts = hl[0].split(' ', 2)
        if len(parts) < 2 or not parts[0].startswith('HTTP/1.'):
            raise WSError('bad status line %r' % hl[0])
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ''
        hdrs = {}
        for line in hl[1:]:
            if ':' in line:
                k, v = line.split(':', 1)
                k = k.strip().lower()
                hdrs[k] = (hdrs[k] + ', ' + v.strip()) if k in hdrs else v.strip()
        if status == 101:
            accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            if hdrs.get('sec-websocket-accept') != accept:
                raise WSError('bad Sec-WebSocket-Accept %r (want %r)' % (hdrs.get('sec-websocket-accept'), accept))
            if 'websocket' not in hdrs.get('upgrade', '').lower():
                raise WSError('101 without Upgrade: websocket: %r' % hdrs)
            ws = WebSocket(sock, rest, hdrs.get('sec-websocket-protocol'))
            sock = None
            return Handshake(status, reason, hdrs, b'', ws, head)
        # A refusal: read the body (Content-Length, else until EOF), bounded.
        body = rest
        n = hdrs.get('content-length')
        try:
            if n is not None and n.isdigit():
                while len(body) < int(n):
                    chunk = _recv(sock, deadline)
                    if not chunk:
                        break
                    body += chunk
            else:
                while len(body) < 65536:
                    chunk = _recv(sock, deadline)
                    if not chunk:
                        break
                    body += chunk
        except (Timeout, OSError):
            pass
        return Handshake(status, reason, hdrs, body, None, head)
    finally:
        if sock is not None:
            sock.close()


def connect(url, **kw):
    """open_ws() that raises Refused unless the upgrade succeeded; returns the WebSocket."""
    hs = open_ws(url, **kw)
    if hs.status != 101:
        raise Refused(hs)
    return hs.ws


def _recv(sock, deadline, n=262144):
    left = deadline - time.time()
    if left <= 0:
        raise Timeout('timed out')
    sock.settimeout(left)
    try:
        return sock.recv(n)
    except socket.timeout:
        raise Timeout('timed out')
    except ConnectionResetError:
        return b''


class WebSocket:
    def __init__(self, sock, initial=b'', protocol=None):
        self.sock = sock
        self.buf = bytearray(initial)
        self.protocol = protocol
        self.stream = bytearray()  # recv_stream(): bytes of binary messages not consumed yet
        self.close_frame = None    # the server's Close, once seen
        self.eof = False
        self.messages_seen = 0

    # -- sending --
    def send_raw(self, data, timeout=10.0):
        self.sock.settimeout(timeout)
        self.sock.sendall(data)

    def send_frame(self, opcode, payload, fin=True, rsv=0, mask=True, timeout=10.0):
        self.send_raw(encode_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv), timeout)

    def send_binary(self, data, frag_size=None, timeout=10.0):
        """One binary message; FRAG_SIZE splits it into frames of that size (first frame
        OP_BINARY, then continuation frames, FIN on the last)."""
        data = bytes(data)
        if not frag_size or len(data) <= frag_size:
            self.send_frame(OP_BINARY, data, timeout=timeout)
            return
        for i in range(0, len(data), frag_size):
            part = data[i:i + frag_size]
            op = OP_BINARY if i == 0 else OP_CONT
            self.send_frame(op, part, fin=i + frag_size >= len(data), timeout=timeout)

    def send_text(self, text, timeout=10.0):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text, timeout=timeout)

    def send_ping(self, payload=b''):
        self.send_frame(OP_PING, payload)

    def send_close(self, code=1000, reason=''):
        payload = b'' if code is None else struct.pack('!H', code) + reason.encode()
        try:
            self.send_frame(OP_CLOSE, payload, timeout=2.0)
        except OSError:
            pass

    # -- receiving --
    def _fill(self, n, deadline):
        while len(self.buf) < n:
            chunk = _recv(self.sock, deadline)
            if not chunk:
                self.eof = True
                raise ConnectionClosed('connection closed by the server (%d bytes buffered, wanted %d)'
                                       % (len(self.buf), n))
            self.buf += chunk

    def _take(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_frame(self, timeout=5.0):
        """The next frame as it is on the wire (no reassembly, no automatic replies)."""
        deadline = time.time() + timeout
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        hl = 2
        if n == 126:
            self._fill(4, deadline)
            n = struct.unpack('!H', self.buf[2:4])[0]
            hl = 4
        elif n == 127:
            self._fill(10, deadline)
            n = struct.unpack('!Q', self.buf[2:10])[0]
            hl = 10
        masked = b1 & 0x80
        if masked:
            hl += 4
        if n > (64 << 20):
            raise WSError('server frame of %d bytes' % n)
        self._fill(hl + n, deadline)
        head = self._take(hl)
        payload = self._take(n)
        if masked:
            raise WSError('the server sent a masked frame (RFC 6455 5.1)')
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload)

    def recv_message(self, timeout=5.0):
        """(opcode, payload) of the next data message, reassembled; pings are answered.
        A close frame is returned as (OP_CLOSE, Close) and answered."""
        deadline = time.time() + timeout
        parts, op = [], None
        while True:
            f = self.recv_frame(max(0.001, deadline - time.time()))
            if f.opcode == OP_PING:
                try:
                    self.send_frame(OP_PONG, f.payload)
                except OSError:
                    pass
                continue
            if f.opcode == OP_PONG:
                continue
            if f.opcode == OP_CLOSE:
                self.close_frame = Close(f.payload)
                self.send_close(self.close_frame.code if self.close_frame.code else 1000)
                return OP_CLOSE, self.close_frame
            if f.opcode in (OP_TEXT, OP_BINARY):
                if op is not None:
                    raise WSError('new data frame inside a fragmented message')
                op = f.opcode
            elif f.opcode == OP_CONT:
                if op is None:
                    raise WSError('continuation frame without a message')
            else:
                raise WSError('unknown opcode %d from the server' % f.opcode)
            parts.append(f.payload)
            if f.fin:
                self.messages_seen += 1
                return op, b''.join(parts)

    def recv_stream(self, n, timeout=5.0):
        """Exactly N bytes of the byte stream carried by binary messages. Raises WSError on
        a text message, ConnectionClosed on a close frame or EOF."""
        deadline = time.time() + timeout
        while len(self.stream) < n:
            if self.close_frame:
                raise ConnectionClosed('server closed the WebSocket: %r' % self.close_frame)
            op, data = self.recv_message(max(0.001, deadline - time.time()))
            if op == OP_CLOSE:
                raise ConnectionClosed('server closed the WebSocket (%d of %d bytes read): %r'
                                       % (len(self.stream), n, data))
            if op != OP_BINARY:
                raise WSError('unexpected text message %r' % data[:200])
            self.stream += data
        out = bytes(self.stream[:n])
        del self.stream[:n]
        return out

    def wait_close(self, timeout=5.0):
        """Discard data until the server's close frame; returns the Close, or None if the
        TCP connection ended without one. Raises Timeout."""
        if self.close_frame:
            return self.close_frame
        deadline = time.time() + timeout
        while True:
            try:
                op, data = self.recv_message(max(0.001, deadline - time.time()))
            except ConnectionClosed:
                return None
            if op == OP_CLOSE:
                return data

    def wait_eof(self, timeout=5.0):
        """Read and discard until the server closes the TCP connection; True if it did."""
        deadline = time.time() + timeout
        try:
            while True:
                chunk = _recv(self.sock, deadline)
                if not chunk:
                    self.eof = True
                    return True
        except Timeout:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
