// SPDX-License-Identifier: GPL-2.0-or-later
// Serial console page (/vm/{id}/serial): the VM's first serial port (x86 ttyS0, aarch64
// ttyAMA0) in xterm.js. Asks the REST API for a "serial" console ticket and opens its
// WebSocket (subprotocol "binary"): the daemon first sends what it kept of the output (the
// last screenfuls), then every byte as the guest writes it; what is typed goes to the guest as
// UTF-8. The viewer stays open across VM stops and starts (a new run's output follows); the
// daemon closes it when the VM is deleted (1000) or when it fell too far behind (1008).
//
// Resize: the terminal fits the window (addon-fit); a serial line carries no window size, so
// the page shows the `stty` line that tells the guest. Copy: select (xterm copies the
// selection with Ctrl+Shift+C or the menu); paste: Ctrl+Shift+V or the browser's paste.
// Phones: the special-keys bar (Esc, Tab, Ctrl-C, Ctrl-D, arrows) and tapping the terminal
// raises the on-screen keyboard (xterm's own text field). Text from the guest is only ever
// written into the terminal, never into the page's HTML.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { getVm, consoleTicket } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';

// The bar's keys: what each sends down the line (VT100 sequences).
const KEYS = [
  ['Esc', '\x1b'], ['Tab', '\t'], ['Ctrl-C', '\x03'], ['Ctrl-D', '\x04'], ['Ctrl-Z', '\x1a'], ['Ctrl-L', '\x0c'],
  ['↑', '\x1b[A'], ['↓', '\x1b[B'], ['←', '\x1b[D'], ['→', '\x1b[C'],
];
const enc = new TextEncoder();

export function mount(root, { id }) {
  const btn = (key, onclick, extra = {}) => h('button', { type: 'button', class: 'tool', onclick, ...extra, text: t(key) });
  const title = h('h1', { class: 'vm-title', text: id });
  const status = h('p', { id: 'serial-status', class: 'status', role: 'status', 'aria-live': 'polite' });
  const sizeNote = h('code', { id: 'serial-size', class: 'serial-size', title: t('serial.size_hint') });
  const reconnectBtn = btn('console.reconnect', () => connect());
  const keysBtn = btn('console.keys', () => showKeys(keysBar.hidden), { 'aria-pressed': 'false', 'aria-controls': 'serial-keys' });
  const keysBar = h('div', { id: 'serial-keys', class: 'keys-bar', role: 'toolbar', 'aria-label': t('console.keys_bar'), hidden: true });
  for (const [label, seq] of KEYS) {
    const b = h('button', { type: 'button', class: 'key', text: label });
    b.addEventListener('click', () => { send(seq); term.focus(); });
    keysBar.append(b);
  }
  const screen = h('div', { id: 'serial-screen', class: 'serial-screen', role: 'region', 'aria-label': t('serial.screen_label', { name: id }) });
  const backLink = h('a', { href: `/vm/${encodeURIComponent(id)}`, 'data-link': true, class: 'back', text: '← ' + t('console.back') });
  root.append(h('div', { class: 'console-page serial-page' },
    h('header', { class: 'toolbar' }, backLink, title, status, h('div', { class: 'tools' }, sizeNote, keysBtn, reconnectBtn)),
    keysBar,
    h('div', { class: 'stage' }, screen)));

  const term = new Terminal({ convertEol: false, cursorBlink: true, scrollback: 5000, fontSize: 14,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Noto Sans Mono CJK SC", monospace',
    theme: { background: '#101014', foreground: '#e9ecf2' } });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  let ws = null;
  let gen = 0;
  let alive = true;

  function setStatus(kind, text) {
    status.dataset.state = kind;
    status.textContent = text;
  }
  function send(text) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(enc.encode(text));
  }
  function showKeys(on) {
    keysBar.hidden = !on;
    keysBtn.setAttribute('aria-pressed', String(on));
    refit();
  }
  function refit() {
    try { fit.fit(); } catch { /* not laid out yet */ }
    sizeNote.textContent = `stty rows ${term.rows} cols ${term.cols}`;
  }
  const onData = term.onData((d) => send(d));
  const onResize = () => refit();
  window.addEventListener('resize', onResize);

  async function connect() {
    const my = ++gen;
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    setStatus('connecting', t('console.connecting'));
    let ticket;
    try {
      const vm = await getVm(id);
      if (my !== gen || !alive) return;
      title.textContent = vm.name;
      document.title = t('serial.title', { name: vm.name });
      screen.setAttribute('aria-label', t('serial.screen_label', { name: vm.name }));
      ticket = await consoleTicket(id, 'serial');
    } catch (e) {
      if (my === gen && alive) setStatus('error', t('console.ticket_error', { message: e.message }));
      return;
    }
    if (my !== gen || !alive) return;
    term.reset();
    const sock = new WebSocket(ticket.url, ['binary']);
    sock.binaryType = 'arraybuffer';
    ws = sock;
    sock.onopen = () => { if (my === gen) { setStatus('connected', t('serial.connected')); term.focus(); } };
    sock.onmessage = (e) => { if (my === gen && e.data instanceof ArrayBuffer) term.write(new Uint8Array(e.data)); };
    sock.onclose = (e) => {
      if (my !== gen || !alive) return;
      ws = null;
      setStatus('stopped', e.reason ? t('serial.closed_reason', { reason: e.reason }) : t('serial.closed'));
    };
  }

  refit();
  connect();
  return () => {
    alive = false;
    gen++;
    window.removeEventListener('resize', onResize);
    onData.dispose();
    if (ws) { ws.onclose = null; ws.close(); }
    term.dispose();
  };
}
