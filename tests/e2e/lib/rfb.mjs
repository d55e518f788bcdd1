// SPDX-License-Identifier: GPL-2.0-or-later
// rfb: what the page sends to the VM, read off the wire. recordRfb(page)
// watches every /vnc/ WebSocket the page opens (Playwright's 'framesent'),
// joins the binary frames of each socket into one client→server byte stream
// and decodes it as RFB 3.8 client messages (RFC 6143 §7.5 plus QEMU's
// extended key event), so tests can assert the exact KeyEvent / PointerEvent
// bytes a gesture produced rather than guessing from pixels.

// Decode a client→server RFB stream: the 12-byte version, the 1-byte
// security type, the 1-byte ClientInit, then messages. Returns
// {messages, rest} where rest is the number of undecoded trailing bytes.
export function decodeClientStream(buf) {
  const out = [];
  let o = 14;
  if (buf.length < o) return { messages: out, rest: buf.length };
  const need = (n) => o + n <= buf.length;
  for (;;) {
    if (!need(1)) break;
    const type = buf[o];
    let len = 0, msg = null;
    if (type === 0) { len = 20; if (need(len)) msg = { type: 'SetPixelFormat' }; }
    else if (type === 2) {
      if (!need(4)) break;
      len = 4 + 4 * buf.readUInt16BE(o + 2);
      if (need(len)) msg = { type: 'SetEncodings' };
    } else if (type === 3) {
      len = 10;
      if (need(len)) msg = { type: 'FramebufferUpdateRequest', incremental: buf[o + 1] };
    } else if (type === 4) {
      len = 8;
      if (need(len)) msg = { type: 'KeyEvent', down: buf[o + 1] === 1, keysym: buf.readUInt32BE(o + 4) };
    } else if (type === 5) {
      len = 6;
      if (need(len)) msg = { type: 'PointerEvent', mask: buf[o + 1], x: buf.readUInt16BE(o + 2), y: buf.readUInt16BE(o + 4) };
    } else if (type === 6) {
      if (!need(8)) break;
      const n = buf.readInt32BE(o + 4);
      len = 8 + Math.abs(n);
      if (need(len)) msg = { type: 'ClientCutText' };
    } else if (type === 248) {
      if (!need(9)) break;
      len = 9 + buf[o + 8];
      if (need(len)) msg = { type: 'ClientFence' };
    } else if (type === 250) { len = 10; if (need(len)) msg = { type: 'EnableContinuousUpdates' }; }
    else if (type === 251) {
      if (!need(8)) break;
      len = 8 + 16 * buf[o + 6];
      if (need(len)) msg = { type: 'SetDesktopSize', width: buf.readUInt16BE(o + 2), height: buf.readUInt16BE(o + 4) };
    } else if (type === 255) {
      if (!need(2)) break;
      const sub = buf[o + 1];
      if (sub === 0) {
        len = 12;
        if (need(len)) {
          msg = { type: 'KeyEvent', qemu: true, down: buf.readUInt16BE(o + 2) === 1,
            keysym: buf.readUInt32BE(o + 4), keycode: buf.readUInt32BE(o + 8) };
          // The console's nudge after a key press (webui/src/console/nudge.js): a release of F24,
          // which QEMU drops before the guest; a type of its own, so key checks see the keys only.
          if (!msg.down && msg.keysym === 0xffd5 && msg.keycode === 0x6f) msg.type = 'KeyNudge';
        }
      } else if (sub === 1) {
        if (!need(4)) break;
        const op = buf.readUInt16BE(o + 2);
        len = op === 2 ? 10 : 4;
        if (need(len)) msg = { type: 'QemuAudio' };
      } else {
        return { messages: out, rest: buf.length - o, error: `unknown QEMU submessage ${sub}` };
      }
    } else {
      return { messages: out, rest: buf.length - o, error: `unknown client message type ${type}` };
    }
    if (!msg) break;
    msg.bytes = Buffer.from(buf.subarray(o, o + len));
    out.push(msg);
    o += len;
  }
  return { messages: out, rest: buf.length - o };
}

// Start recording; returns {sockets, messages(), keys(), pointers(), mark(), since(mark)}.
export function recordRfb(page) {
  const sockets = [];
  page.on('websocket', (ws) => {
    if (!/\/vnc\//.test(ws.url())) return;
    const s = { url: ws.url(), chunks: [], closed: false };
    sockets.push(s);
    ws.on('framesent', (f) => {
      if (typeof f.payload === 'string') s.chunks.push(Buffer.from(f.payload, 'utf8'));
      else s.chunks.push(Buffer.from(f.payload));
    });
    ws.on('close', () => { s.closed = true; });
  });
  const rec = {
    sockets,
    // Messages of the newest socket (a reconnect starts a new stream).
    messages() {
      const s = sockets.at(-1);
      if (!s) return [];
      const d = decodeClientStream(Buffer.concat(s.chunks));
      if (d.error) throw new Error(`RFB stream from the page: ${d.error}`);
      return d.messages;
    },
    mark() { return { socket: sockets.length, n: rec.messages().length }; },
    since(m, type) {
      if (sockets.length !== m.socket) throw new Error('the console reconnected between mark and since');
      const all = rec.messages().slice(m.n);
      return type ? all.filter((x) => x.type === type) : all;
    },
  };
  return rec;
}

// The bytes of a standard RFB PointerEvent (type 5).
export function pointerBytes(mask, x, y) {
  const b = Buffer.alloc(6);
  b[0] = 5; b[1] = mask; b.writeUInt16BE(x, 2); b.writeUInt16BE(y, 4);
  return b;
}
