// SPDX-License-Identifier: GPL-2.0-or-later
// RDP console page (/vm/{id}/rdp): the VM's RDP target (its own forward of
// guest port 3389, or rdp.host:port) through the daemon's /rdp/{id} WebSocket,
// drawn by guacamole-common-js (bundled into this lazily loaded chunk only).
// The daemon does the Guacamole handshake with its RDP worker itself, with the
// VM's stored target and credentials; the browser only passes the ticket and
// the size: width/height = the screen area's CSS size × devicePixelRatio and
// dpi = 96 × devicePixelRatio, and the display is scaled back by
// 1/devicePixelRatio (never up), so HiDPI screens get a crisp desktop.
//
// Resize/rotation: the picture is rescaled at once, then (debounced) the new
// area × devicePixelRatio goes to the bridge with client.sendSize(w, h), on the
// same connection: the bridge resizes through the Display Control channel
// (disp), or reconnects to the server itself at that size when the server has
// no disp; either way the new desktop size comes back as `size,0,W,H`. (The dpi
// stays the one given at connect.)
//
// Clipboard: the server's copied text (`clipboard` stream, text/plain UTF-8)
// goes into the Clipboard panel's textarea and, when the browser allows it, to
// navigator.clipboard; the panel's Send button (and pasting into the panel)
// sends its text with createClipboardStream('text/plain'). The bytes go through
// Guacamole.ArrayBuffer{Reader,Writer} with TextDecoder/TextEncoder, not
// Guacamole.String{Reader,Writer}: those (1.5.0) mangle characters beyond
// U+FFFF (the reader truncates them to 16 bits, the writer encodes each
// surrogate on its own, which the bridge turns into U+FFFD). Type into guest
// types the text as keys, as in the VNC console.
//
// Sound (console/rdp-audio.js): audio out plays by default (resumed on the
// first user gesture, the autoplay policy), with a remembered Mute toggle; the
// Microphone toggle (off by default, never remembered) streams
// audio/L16;rate=44100,channels=2 while on.
//
// Input: Guacamole.Keyboard on the document while the page has focus and no
// text field or dialog does; Guacamole.Mouse on the display; touch with the
// VNC console's remembered mode (Trackpad → Guacamole.Mouse.Touchpad, Direct
// touch → Guacamole.Mouse.Touchscreen); the same special-keys bar (sticky
// modifiers, keysyms) and on-screen keyboard as the VNC console.
//
// Endings: the worker's `error` instruction (message + status) is shown as
// text; 0x0301 (credentials refused) opens the credentials dialog, 0x0203
// naming a certificate fingerprint opens the fingerprint dialog ("Trust this
// certificate" pins it with PATCH). A close with a reason (1011: the worker
// failed or was killed) shows that reason; a socket that never opened was
// refused. Text from the daemon or the RDP server is only set with textContent.
import Guacamole from 'guacamole-common-js';
import { getVm, patchVm, consoleTicket } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { MODIFIERS, BAR_KEYS, NAMED, XK, typeText } from '../console/keys.js';
import { credentialsDialog, fingerprintDialog, FINGERPRINT_RE } from '../console/rdp-prompts.js';
import { unlockAudio, playAudio, startMic } from '../console/rdp-audio.js';

// Photo-like parts of the desktop come as WebP when this browser can show it and is on another
// device (a paired phone or PC on the LAN): WebP is ~20 % smaller than JPEG but costs the bridge
// ~2.5x the CPU per frame (bench/rdp.py), a bad trade over loopback. A browser that can encode
// WebP can decode it.
let webpChecked = null;
function webpWanted() {
  if (webpChecked === null) {
    const h = location.hostname;
    const local = h === 'localhost' || h === '[::1]' || h === '::1' || /^127\./.test(h);
    try {
      webpChecked = !local && document.createElement('canvas').toDataURL('image/webp').startsWith('data:image/webp');
    } catch {
      webpChecked = false;
    }
  }
  return webpChecked;
}

const store = { // shared with the VNC console: one touch mode, one keys-bar preference
  get: (k, d) => { try { return localStorage.getItem('qhm.console.' + k) ?? d; } catch { return d; } },
  set: (k, v) => { try { localStorage.setItem('qhm.console.' + k, v); } catch { /* private mode */ } },
};
const STATUS = { UNAUTHORIZED: 0x0301, UPSTREAM_ERROR: 0x0203 };
const RESIZE_MS = 300; // wait for the window to settle before sending the new size (the bridge applies one per 500 ms)
const CLIP_MAX = 256 * 1024; // the bridge keeps at most 256 KiB of UTF-8 each way
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

// One Guacamole.Keyboard on the document for the life of the app (it cannot be detached); the
// mounted page sets its handlers and clears them on unmount, which makes it inert.
let docKeyboard = null;
const documentKeyboard = () => (docKeyboard ||= new Guacamole.Keyboard(document));

export function mount(root, { id }) {
  // ?app=NAME: one of the VM's app shortcuts (pages/vm-shortcuts.js) instead of the desktop.
  const app = new URLSearchParams(window.location.search).get('app') || null;
  const btn = (key, onclick, extra = {}) =>
    h('button', { type: 'button', class: 'tool', onclick, ...extra, text: t(key) });

  const title = h('h1', { class: 'vm-title', text: id });
  const status = h('p', { id: 'console-status', class: 'status', role: 'status', 'aria-live': 'polite' });
  const cadBtn = btn('console.ctrl_alt_del', () => ctrlAltDel(), { disabled: true });
  const fsBtn = btn('console.fullscreen', toggleFullscreen, { 'aria-pressed': 'false' });
  const reconnectBtn = btn('console.reconnect', () => connect());
  const credsBtn = btn('rdp.credentials', () => askCredentials(''));
  const kbdBtn = btn('console.keyboard', () => toggleKeyboard(), { 'aria-pressed': 'false', class: 'tool touch-only' });
  const keysBtn = btn('console.keys', () => showKeys(keysBar.hidden), { 'aria-pressed': 'false', 'aria-controls': 'keys-bar' });
  const clipBtn = btn('console.clipboard', () => showClipboard(clipPanel.hidden),
    { 'aria-expanded': 'false', 'aria-controls': 'clipboard-panel' });
  let muted = store.get('rdp_mute', '0') === '1';
  const muteBtn = btn('rdp.mute', () => setMuted(!muted), { 'aria-pressed': String(muted) });
  const micBtn = btn('rdp.microphone', () => toggleMic(), { 'aria-pressed': 'false' });
  const micNote = h('span', { class: 'mic-note', role: 'status', 'aria-live': 'polite' });

  const clipText = h('textarea', { id: 'clipboard-text', rows: 4, spellcheck: 'false' });
  const clipPanel = h('section', { id: 'clipboard-panel', class: 'clipboard', hidden: true, 'aria-label': t('console.clipboard') },
    h('label', { for: 'clipboard-text', text: t('console.clipboard_label') }),
    clipText,
    h('div', { class: 'row' },
      btn('console.clipboard_send', () => sendClipboard(clipText.value)),
      btn('console.clipboard_type', () => { if (connected) { typeText(sendKey, clipText.value); releaseSticky(); screen.focus({ preventScroll: true }); } }),
      btn('console.clipboard_close', () => showClipboard(false))));
  // Pasting into the panel sends what it then holds.
  clipText.addEventListener('paste', () => setTimeout(() => sendClipboard(clipText.value), 0));

  let mode = store.get('mode', 'trackpad') === 'direct' ? 'direct' : 'trackpad';
  const modeGroup = h('div', { class: 'segmented touch-only', role: 'radiogroup', 'aria-label': t('console.touch_mode') });
  for (const m of ['trackpad', 'direct']) {
    const r = h('input', { type: 'radio', name: 'touch-mode', value: m });
    r.checked = mode === m;
    r.addEventListener('change', () => { mode = m; store.set('mode', m); attachTouch(); });
    modeGroup.append(h('label', {}, r, h('span', { text: t('console.mode.' + m) })));
  }

  const latched = new Map();
  const keysBar = h('div', { id: 'keys-bar', class: 'keys-bar', role: 'toolbar', 'aria-label': t('console.keys_bar'), hidden: true });
  for (const m of MODIFIERS) {
    const b = h('button', { type: 'button', class: 'key mod', 'aria-pressed': 'false', text: m.label });
    b.addEventListener('click', () => {
      if (!connected) return;
      if (latched.has(m.id)) { latched.delete(m.id); sendKey(m.keysym, null, false); b.setAttribute('aria-pressed', 'false'); }
      else { latched.set(m.id, b); sendKey(m.keysym, null, true); b.setAttribute('aria-pressed', 'true'); }
    });
    keysBar.append(b);
  }
  for (const k of BAR_KEYS) {
    const b = h('button', { type: 'button', class: 'key', text: k.label });
    b.addEventListener('click', () => { if (connected) { sendKey(k.keysym, null, true); sendKey(k.keysym, null, false); releaseSticky(); } });
    keysBar.append(b);
  }
  const barCad = h('button', { type: 'button', class: 'key', text: t('console.ctrl_alt_del') });
  barCad.addEventListener('click', () => ctrlAltDel());
  keysBar.append(barCad);

  const SENTINEL = '  ';
  const osk = h('textarea', { id: 'osk-input', class: 'osk', 'aria-label': t('console.osk_label'), autocapitalize: 'off',
    autocomplete: 'off', spellcheck: 'false', enterkeyhint: 'send', rows: 1 });
  osk.value = SENTINEL;

  // The display element goes into `screen`, centred; `area` is what it is fitted to.
  const screen = h('div', { id: 'screen', class: 'screen rdp-screen', role: 'region', tabindex: '0',
    'aria-label': t('console.screen_label', { name: id }) });
  const area = h('div', { class: 'screen-area' }, screen);
  const stage = h('div', { class: 'stage' }, area, clipPanel, osk);
  const backLink = h('a', { href: `/vm/${encodeURIComponent(id)}`, 'data-link': true, class: 'back', text: '← ' + t('console.back') });
  const pageEl = h('div', { class: 'console-page rdp-page' },
    h('header', { class: 'toolbar' },
      backLink, title, h('span', { class: 'tag proto', text: 'RDP' }), status,
      micNote,
      h('div', { class: 'tools' }, cadBtn, kbdBtn, keysBtn, modeGroup, clipBtn, muteBtn, micBtn, credsBtn, fsBtn, reconnectBtn)),
    keysBar,
    stage);
  root.append(pageEl);

  let client = null; // Guacamole.Client of the current session
  let connected = false;
  let gen = 0; // bumps on every (re)connect; late events of older sessions are ignored
  let alive = true;
  let dialogOpen = false;
  let remote = { w: 0, h: 0 }; // the desktop size the server chose
  let asked = { w: 0, h: 0 }; // the size this session asked for
  let credsOffered = false; // the credentials dialog came up once on this page already
  let sessionCreds = null; // credentials given "for this page only": sent with each ticket, never stored
  let vm = null;
  let stopMic = null; // the microphone stream's stop(), while it is on

  function sendKey(keysym, _code, down) {
    if (client && connected) client.sendKeyEvent(down ? 1 : 0, keysym);
  }
  function releaseSticky() {
    for (const [mid, b] of latched) {
      sendKey(MODIFIERS.find((x) => x.id === mid).keysym, null, false);
      b.setAttribute('aria-pressed', 'false');
    }
    latched.clear();
  }
  function ctrlAltDel() {
    if (!connected) return;
    releaseSticky();
    for (const k of [XK.Control_L, XK.Alt_L, XK.Delete]) sendKey(k, null, true);
    for (const k of [XK.Delete, XK.Alt_L, XK.Control_L]) sendKey(k, null, false);
  }

  // Keyboard: the whole document, but only while no text field or dialog has focus.
  const editable = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  const keyboardActive = () => connected && !dialogOpen && !editable(document.activeElement) && document.hasFocus();
  const held = new Set(); // keysyms sent down from the physical keyboard
  const keyboard = documentKeyboard();
  keyboard.onkeydown = (keysym) => {
    if (!keyboardActive()) return true; // let the browser have it
    held.add(keysym);
    sendKey(keysym, null, true);
    return false;
  };
  keyboard.onkeyup = (keysym) => {
    if (!held.delete(keysym)) return; // (also the key-ups Guacamole.Keyboard makes up for text fields' input events)
    sendKey(keysym, null, false);
    if (latched.size && ![XK.Control_L, XK.Alt_L, XK.Super_L, XK.Shift_L, 0xffe4, 0xffea, 0xffe2, 0xffec].includes(keysym))
      setTimeout(releaseSticky, 0);
  };
  const onBlur = () => keyboard.reset(); // releases (and sends up for) every key held
  window.addEventListener('blur', onBlur);

  const oskActive = () => document.activeElement === osk;
  function toggleKeyboard() {
    if (oskActive()) { osk.blur(); screen.focus(); }
    else { osk.value = SENTINEL; osk.focus(); osk.setSelectionRange(osk.value.length, osk.value.length); }
  }
  osk.addEventListener('focus', () => kbdBtn.setAttribute('aria-pressed', 'true'));
  osk.addEventListener('blur', () => kbdBtn.setAttribute('aria-pressed', 'false'));
  osk.addEventListener('keydown', (e) => {
    const named = NAMED[e.key];
    if (!named || e.isComposing) return;
    e.preventDefault();
    sendKey(named[0], null, true);
    sendKey(named[0], null, false);
    releaseSticky();
  });
  osk.addEventListener('input', (e) => {
    if (e.isComposing) return;
    if (e.inputType === 'deleteContentBackward') { sendKey(XK.BackSpace, null, true); sendKey(XK.BackSpace, null, false); }
    else if (e.inputType === 'insertLineBreak') { sendKey(XK.Return, null, true); sendKey(XK.Return, null, false); }
    else if (typeof e.data === 'string' && e.data) typeText(sendKey, e.data);
    else if (osk.value.length > SENTINEL.length) typeText(sendKey, osk.value.slice(SENTINEL.length));
    releaseSticky();
    osk.value = SENTINEL;
    osk.setSelectionRange(osk.value.length, osk.value.length);
  });
  osk.addEventListener('compositionend', (e) => {
    if (e.data) typeText(sendKey, e.data);
    releaseSticky();
    osk.value = SENTINEL;
  });

  function showKeys(on) {
    keysBar.hidden = !on;
    keysBtn.setAttribute('aria-pressed', String(on));
    cadBtn.hidden = on;
    store.set('keys', on ? '1' : '0');
    if (!on) releaseSticky();
    fit();
  }

  function showClipboard(on) {
    clipPanel.hidden = !on;
    clipBtn.setAttribute('aria-expanded', String(on));
    if (on) clipText.focus();
    else if (connected) screen.focus({ preventScroll: true });
  }
  function sendClipboard(text) {
    if (!client || !connected) return;
    const w = new Guacamole.ArrayBufferWriter(client.createClipboardStream('text/plain'));
    const bytes = new TextEncoder().encode(text);
    if (bytes.length) w.sendData(bytes.length > CLIP_MAX ? bytes.subarray(0, CLIP_MAX) : bytes); // the bridge cuts there too
    w.sendEnd();
  }
  // The server's clipboard: text/plain only (the bridge sends nothing else).
  function receiveClipboard(my, stream, mimetype) {
    if (!/^text\/plain\b/.test(mimetype)) return;
    const reader = new Guacamole.ArrayBufferReader(stream);
    const dec = new TextDecoder('utf-8');
    let text = '';
    reader.ondata = (buf) => { text += dec.decode(buf, { stream: true }); };
    reader.onend = () => {
      text += dec.decode();
      if (my !== gen || !alive) return;
      clipText.value = text; // a form value: never parsed as HTML
      if (navigator.clipboard && navigator.clipboard.writeText && document.hasFocus())
        navigator.clipboard.writeText(text).catch(() => { /* not permitted: the panel has it */ });
    };
  }

  function setMuted(on) {
    muted = on;
    muteBtn.setAttribute('aria-pressed', String(on));
    store.set('rdp_mute', on ? '1' : '0');
  }
  function micOff(note = '') {
    if (stopMic) { const s = stopMic; stopMic = null; s(); }
    micBtn.setAttribute('aria-pressed', 'false');
    micNote.textContent = note;
    micNote.dataset.state = note ? 'error' : '';
  }
  function toggleMic() {
    if (stopMic) { micOff(); return; }
    if (!client || !connected) return;
    micBtn.setAttribute('aria-pressed', 'true');
    micNote.textContent = '';
    const my = gen;
    stopMic = startMic(client, (state) => {
      if (my !== gen || !alive) return;
      if (state === 'on') { micNote.textContent = t('rdp.mic_on'); micNote.dataset.state = 'on'; }
      else micOff(state === 'error' ? t('rdp.mic_failed') : '');
    });
  }

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
    cadBtn.disabled = state !== 'connected';
    barCad.disabled = state !== 'connected';
    micBtn.disabled = state !== 'connected';
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else if (pageEl.requestFullscreen) pageEl.requestFullscreen().catch(() => {});
  }
  const onFullscreen = () => fsBtn.setAttribute('aria-pressed', String(document.fullscreenElement === pageEl));
  document.addEventListener('fullscreenchange', onFullscreen);

  // The size to ask for: the area in device pixels, within what the daemon accepts.
  function wanted() {
    const dpr = window.devicePixelRatio || 1;
    return {
      w: clamp(Math.round(area.clientWidth * dpr), 64, 8192),
      h: clamp(Math.round(area.clientHeight * dpr), 64, 8192),
      dpi: clamp(Math.round(96 * dpr), 48, 960),
    };
  }
  // Scale the display into the area: 1/devicePixelRatio at most (crisp), smaller to fit.
  function fit() {
    if (!client || !remote.w || !remote.h) return;
    const dpr = window.devicePixelRatio || 1;
    const s = Math.min(area.clientWidth / remote.w, area.clientHeight / remote.h, 1 / dpr);
    if (s > 0 && Number.isFinite(s)) client.getDisplay().scale(s);
  }
  let resizeTimer = null;
  const onResize = () => {
    fit();
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const w = wanted();
      if (client && connected && (w.w !== asked.w || w.h !== asked.h)) {
        asked = w;
        client.sendSize(w.w, w.h);
      }
    }, RESIZE_MS);
  };
  window.addEventListener('resize', onResize);

  function teardown() {
    connected = false;
    micOff();
    releaseSticky();
    keyboard.reset();
    held.clear();
    if (client) {
      const old = client;
      client = null;
      old.onstatechange = old.onerror = old.onclipboard = old.onaudio = null;
      try { old.disconnect(); } catch { /* already gone */ }
    }
    screen.replaceChildren();
    touchWrap = touchpad = null;
    remote = { w: 0, h: 0 };
  }

  // Credentials: remembered ones are PATCHed into the VM's rdp; the others go with each console
  // ticket (POST console {"credentials"}), which the daemon keeps only until the ticket is used.
  async function applyCreds(c) {
    const rdp = { username: c.username, domain: c.domain };
    if (c.password) rdp.password = c.password;
    vm = await patchVm(id, { rdp });
  }
  async function askCredentials(message) {
    if (dialogOpen) return;
    dialogOpen = true;
    credsOffered = true;
    gen++; // the session being closed here must not report its end
    teardown();
    setStatus('credentials', message ? t('rdp.auth_failed', { message }) : t('rdp.need_credentials'));
    const r = vm && vm.rdp ? vm.rdp : {};
    const res = await credentialsDialog({
      message, username: (sessionCreds && sessionCreds.username) || r.username || '', domain: (sessionCreds && sessionCreds.domain) || r.domain || '',
      save: async (c) => { if (c.remember) await applyCreds(c); },
    });
    dialogOpen = false;
    if (!alive) return;
    if (!res) { setStatus('disconnected', t('rdp.need_credentials')); return; }
    sessionCreds = res.remember ? null : { username: res.username, password: res.password, domain: res.domain };
    connect({ prompted: true });
  }
  async function askFingerprint(message, fp) {
    if (dialogOpen) return;
    dialogOpen = true;
    gen++;
    teardown();
    setStatus('error', t('rdp.error', { message, code: '0x0203' }));
    const ok = await fingerprintDialog({
      message, fingerprint: fp,
      // The pin is replaced, not added to: trusting this certificate means no longer trusting another.
      save: async () => { vm = await patchVm(id, { rdp: { fingerprint: fp } }); },
    });
    dialogOpen = false;
    if (alive && ok) connect();
  }

  // Why did the session end? info: {opened, error: {message, code}|null, close: reason|null}
  function ended(my, info) {
    if (my !== gen || !alive || info.done) return; // (both the client and the tunnel report it)
    info.done = true;
    connected = false;
    micOff();
    const e = info.error;
    if (e && e.code === STATUS.UNAUTHORIZED) { askCredentials(e.message); return; }
    const fp = e && e.code === STATUS.UPSTREAM_ERROR && FINGERPRINT_RE.exec(e.message || '');
    if (fp) { askFingerprint(e.message, fp[1]); return; }
    if (e) setStatus('error', t('rdp.error', { message: e.message || '?', code: '0x' + (e.code >>> 0).toString(16).padStart(4, '0') }));
    else if (info.close) setStatus('error', t('console.closed_reason', { reason: info.close }));
    else if (!info.opened) setStatus('refused', t('console.refused'));
    else setStatus('disconnected', t('rdp.ended'));
  }

  // Touch: only the current mode's handler listens. Touchpad and Touchscreen both take every touch
  // of their element (and cannot be detached), so each mode gets a fresh wrapper around the display
  // element and the old wrapper leaves the DOM with its handler. The trackpad (relative) continues
  // from wherever the pointer last went, whichever source put it there.
  let touchWrap = null;
  let touchpad = null;
  let pointer = { x: 0, y: 0 }; // last pointer position, display element units
  function sendPointer(state, relative) {
    if (!client || !connected) return;
    client.sendMouseState(state, true);
    pointer = { x: state.x, y: state.y };
    if (!relative && touchpad) { touchpad.currentState.x = state.x; touchpad.currentState.y = state.y; }
  }
  function attachTouch() {
    if (!client) return;
    const el = client.getDisplay().getElement();
    const wrap = h('div', { class: 'rdp-touch' });
    if (touchWrap && touchWrap.parentNode) touchWrap.replaceWith(wrap);
    else screen.append(wrap);
    wrap.append(el);
    touchWrap = wrap;
    const relative = mode === 'trackpad';
    const tm = relative ? new Guacamole.Mouse.Touchpad(wrap) : new Guacamole.Mouse.Touchscreen(wrap);
    touchpad = relative ? tm : null;
    if (relative) { tm.currentState.x = pointer.x; tm.currentState.y = pointer.y; }
    tm.onEach(['mousedown', 'mousemove', 'mouseup'], (e) => sendPointer(e.state, relative));
  }

  async function connect({ prompted = false } = {}) {
    const my = ++gen;
    teardown();
    setStatus('connecting', t('console.connecting'));
    try {
      vm = await getVm(id);
      if (my !== gen || !alive) return;
      title.textContent = app ? t('rdp.app_title', { app, name: vm.name }) : vm.name;
      document.title = t('rdp.title', { name: app ? `${app} — ${vm.name}` : vm.name });
      screen.setAttribute('aria-label', t('console.screen_label', { name: vm.name }));
    } catch (e) {
      if (my === gen && alive) setStatus('error', t('console.vm_error', { message: e.message }));
      return;
    }
    // No stored password: ask once per page (Connect with an empty password goes ahead without).
    if (!prompted && !credsOffered && !(vm.rdp && vm.rdp.password_set)) {
      askCredentials('');
      return;
    }
    let ticket;
    try {
      ticket = await consoleTicket(id, 'rdp', sessionCreds, app);
    } catch (e) {
      if (my === gen && alive) setStatus(e.status === 409 ? 'stopped' : 'error', t('rdp.no_target', { message: e.message }));
      return;
    }
    if (my !== gen || !alive) return;

    // WebSocketTunnel opens URL + "?" + the data given to connect().
    const q = ticket.url.indexOf('?');
    const base = q < 0 ? ticket.url : ticket.url.slice(0, q);
    const query = q < 0 ? '' : ticket.url.slice(q + 1);
    const size = wanted();
    asked = size;
    const info = { opened: false, error: null, close: null, done: false };
    const tunnel = new Guacamole.WebSocketTunnel(base);
    const c = new Guacamole.Client(tunnel);
    client = c;
    tunnel.onuuid = () => { info.opened = true; };
    tunnel.onerror = (st) => { // the socket closed: its reason (1011: worker failed/killed) or the browser's code
      if (st && st.message && !/^\d+$/.test(st.message)) info.close = st.message;
    };
    tunnel.onstatechange = (state) => {
      if (state === Guacamole.Tunnel.State.OPEN) info.opened = true;
      if (state === Guacamole.Tunnel.State.CLOSED) {
        if (client === c) client = null;
        setTimeout(() => ended(my, info), 0); // after the error instruction's handlers
      }
    };
    c.onclipboard = (stream, mimetype) => receiveClipboard(my, stream, mimetype);
    c.onaudio = playAudio(() => muted);
    c.onerror = (st) => { info.error = { message: st.message || '', code: st.code }; };
    c.onstatechange = (state) => {
      if (my !== gen) return;
      if (state === Guacamole.Client.State.CONNECTED) {
        connected = true;
        setStatus('connected', t('console.connected'));
        if (!oskActive() && !dialogOpen) screen.focus({ preventScroll: true });
      } else if (state === Guacamole.Client.State.DISCONNECTED && client === c) {
        client = null;
        setTimeout(() => ended(my, info), 0);
      }
    };

    const display = c.getDisplay();
    display.onresize = (w, hgt) => { remote = { w, h: hgt }; fit(); };
    const el = display.getElement();
    el.classList.add('rdp-display');
    // The local pointer is the browser's; a server pointer shape (cursor instruction) replaces it.
    display.showCursor(false);
    display.oncursor = (canvas, x, y) => { if (!mouse.setCursor(canvas, x, y)) display.showCursor(true); };
    pointer = { x: 0, y: 0 };

    const mouse = new Guacamole.Mouse(el);
    mouse.onEach(['mousedown', 'mousemove', 'mouseup'], (e) => {
      if (!connected) return;
      if (e.type === 'mousedown' && document.activeElement !== screen && !oskActive()) screen.focus({ preventScroll: true });
      sendPointer(e.state, false);
    });
    attachTouch();

    try {
      c.connect(`${query}&width=${size.w}&height=${size.h}&dpi=${size.dpi}${webpWanted() ? '&webp=1' : ''}`);
    } catch (e) {
      if (my === gen) setStatus('error', t('rdp.error', { message: (e && e.message) || String(e), code: '?' }));
    }
  }

  showKeys(store.get('keys', '0') === '1');
  unlockAudio();
  connect();

  return () => {
    alive = false;
    gen++;
    clearTimeout(resizeTimer);
    teardown();
    keyboard.onkeydown = keyboard.onkeyup = null;
    window.removeEventListener('blur', onBlur);
    window.removeEventListener('resize', onResize);
    document.removeEventListener('fullscreenchange', onFullscreen);
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  };
}
