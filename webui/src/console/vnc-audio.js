// SPDX-License-Identifier: GPL-2.0-or-later
// Sound for the VNC console, beside noVNC (which has no audio): the daemon's /audio/{vm} stream
// (ticket protocol "audio"; bridge/vnc-ws/vncaudio.h) played with Web Audio. The daemon speaks
// QEMU's VNC audio extension on a connection of its own and sends binary frames whose first
// byte says what follows: 0 the format (channels u8, bits u8, 0, rate u32 LE), 1 playback
// started, 2 stopped, 3 PCM (s16le, interleaved). The stream only sends; an audio ticket gives
// no keyboard or mouse.
//
// Playback: each PCM frame becomes an AudioBuffer at the stream's rate (Web Audio resamples to
// the device's) scheduled right after the previous one, LEAD seconds ahead of the clock to ride
// out network jitter. When the queue runs more than MAX_AHEAD ahead (the tab was in the
// background, the network burst) frames are dropped: latency never grows. Browsers keep an
// AudioContext suspended until a user gesture (autoplay policy); the context is made and resumed
// from one (the Sound button, or the first key or pointer press on the page).
const LEAD = 0.08;
const MAX_AHEAD = 0.5;
const K_FORMAT = 0, K_BEGIN = 1, K_END = 2, K_PCM = 3;

export function createVncAudio({ onstate = () => {} } = {}) {
  let ctx = null, gain = null, sock = null, next = 0;
  let volume = 1, channels = 2, rate = 44100, gen = 0;
  const sources = new Set();

  function context() {
    if (!ctx) {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return null;
      ctx = new AC({ latencyHint: 'interactive' });
      gain = ctx.createGain();
      gain.gain.value = volume;
      gain.connect(ctx.destination);
    }
    return ctx;
  }

  // From a user gesture: make and resume the context (playback may start now).
  function unlock() {
    const c = context();
    if (c && c.state === 'suspended') c.resume().catch(() => {});
    return !!c;
  }

  function play(bytes) {
    if (!ctx || ctx.state !== 'running') return; // not unlocked yet: nothing can be heard anyway
    const frames = Math.floor(bytes.byteLength / (2 * channels));
    if (!frames) return;
    const now = ctx.currentTime;
    if (next < now + LEAD / 2) next = now + LEAD; // (re)start, or we fell behind: lead again
    if (next > now + MAX_AHEAD) return;          // too far ahead: drop
    const buf = ctx.createBuffer(channels, frames, rate);
    const pcm = new DataView(bytes.buffer, bytes.byteOffset, frames * 2 * channels);
    for (let ch = 0; ch < channels; ch++) {
      const out = buf.getChannelData(ch);
      for (let i = 0; i < frames; i++) out[i] = pcm.getInt16((i * channels + ch) * 2, true) / 32768;
    }
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(gain);
    src.onended = () => sources.delete(src);
    sources.add(src);
    src.start(next);
    next += buf.duration;
  }

  function onMessage(e) {
    const b = new Uint8Array(e.data);
    if (!b.length) return;
    if (b[0] === K_FORMAT && b.length >= 8) {
      channels = b[1] || 2;
      rate = new DataView(e.data).getUint32(4, true) || 44100;
      onstate('on');
    } else if (b[0] === K_BEGIN || b[0] === K_END) {
      next = 0;
    } else if (b[0] === K_PCM) {
      play(b.subarray(1));
    }
  }

  function stopSources() {
    for (const s of sources) { try { s.stop(); } catch { /* not started */ } }
    sources.clear();
    next = 0;
  }

  return {
    unlock,
    // Open the stream at URL (a fresh ticket's). Returns nothing; onstate reports.
    start(url) {
      this.stop();
      const my = ++gen;
      let s;
      try { s = new WebSocket(url, ['binary']); } catch { onstate('error', ''); return; }
      s.binaryType = 'arraybuffer';
      sock = s;
      s.onmessage = onMessage;
      s.onclose = (e) => {
        if (my !== gen) return;
        sock = null;
        stopSources();
        onstate('closed', e.reason || '');
      };
    },
    stop() {
      gen++;
      if (sock) { try { sock.close(1000); } catch { /* closing */ } sock = null; }
      stopSources();
    },
    setVolume(v) {
      volume = Math.max(0, Math.min(1, v));
      if (gain) gain.gain.value = volume;
    },
    running: () => !!sock,
    close() {
      this.stop();
      if (ctx) { ctx.close().catch(() => {}); ctx = null; gain = null; }
    },
  };
}
