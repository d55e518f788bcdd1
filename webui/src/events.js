// SPDX-License-Identifier: GPL-2.0-or-later
// events: the daemon's event stream (/events WebSocket, one JSON object per
// text frame, e.g. {"type": "vm.state", "vm": ID, "state": "running"}), shared
// by every page: one socket while anyone listens, closed when nobody does.
// Each (re)connection gets a fresh ticket; retries back off up to 30 s. After
// a reconnect listeners get {"type": "resync"}: events may have been missed
// (the daemon also drops subscribers more than 256 events behind), so re-read.
import { eventsTicket } from './api.js';

const listeners = new Set();
let ws = null;
let timer = null;
let delay = 1000;
let connecting = false;
let everOpened = false;
let idleTimer = null; // closes the socket a little after the last listener left (page changes re-subscribe)
let up = false; // the socket is open: pages that poll as a fallback stop while it is
const upWatchers = new Set();

function setUp(v) {
  if (up === v) return;
  up = v;
  for (const fn of [...upWatchers]) {
    try { fn(v); } catch (e) { console.error(e); }
  }
}
// Whether the stream is open now, and onStream(fn) → unwatch: fn(up) on every change.
export const streamUp = () => up;
export function onStream(fn) { upWatchers.add(fn); return () => upWatchers.delete(fn); }

function emit(ev) {
  for (const fn of [...listeners]) {
    try { fn(ev); } catch (e) { console.error(e); }
  }
}

async function connect() {
  if (!listeners.size || ws || connecting) return;
  connecting = true;
  let url;
  try {
    url = (await eventsTicket()).url;
  } catch {
    connecting = false;
    return retry();
  }
  connecting = false;
  if (!listeners.size) return;
  const sock = new WebSocket(url);
  ws = sock;
  sock.addEventListener('open', () => {
    delay = 1000;
    if (everOpened) emit({ type: 'resync' });
    everOpened = true;
    if (ws === sock) setUp(true);
  });
  sock.addEventListener('message', (e) => {
    if (typeof e.data !== 'string') return;
    let ev;
    try { ev = JSON.parse(e.data); } catch { return; }
    if (ev && typeof ev === 'object' && typeof ev.type === 'string') emit(ev);
  });
  sock.addEventListener('close', () => {
    if (ws === sock) { ws = null; setUp(false); }
    retry();
  });
}

function retry() {
  clearTimeout(timer);
  if (!listeners.size) return;
  timer = setTimeout(connect, delay);
  delay = Math.min(delay * 2, 30000);
}

// subscribe(fn) → unsubscribe function.
export function subscribe(fn) {
  listeners.add(fn);
  clearTimeout(idleTimer);
  connect();
  return () => {
    listeners.delete(fn);
    if (listeners.size) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (listeners.size) return;
      clearTimeout(timer);
      if (ws) { const s = ws; ws = null; setUp(false); s.close(1000); }
    }, 3000);
  };
}
