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
// Resize/rotation: the picture is rescaled at once, then (debounced) the
// session reconnects at the new size. Live resize through the Display Control
// channel (disp) is not in the bridge yet; when it is, this becomes
// client.sendSize(w, h) instead of a reconnect.
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

const store = { // shared with the VNC console: one touch mode, one keys-bar preference
  get: (k, d) => { try { return localStorage.getItem('qhm.console.' + k) ?? d; } catch { return d; } },
  set: (k, v) => { try { localStorage.setItem('qhm.console.' + k, v); } catch { /* private mode */ } },
};
const STATUS = { UNAUTHORIZED: 0x0301, UPSTREAM_ERROR: 0x0203 };
const RESIZE_MS = 700; // wait for the window to settle before reconnecting at a new size
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

// One Guacamole.Keyboard on the document for the life of the app (it cannot be detached); the
// mounted page sets its handlers and clears them on unmount, which makes it inert.
let docKeyboard = null;
const documentKeyboard = () => (docKeyboard ||= new Guacamole.Keyboard(document));

export function mount(root, { id }) {
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
  const stage = h('div', { class: 'stage' }, area, osk);
  const backLink = h('a', { href: `/vm/${encodeURIComponent(id)}`, 'data-link': true, class: 'back', text: '← ' + t('console.back') });
  const pageEl = h('div', { class: 'console-page rdp-page' },
    h('header', { class: 'toolbar' },
      backLink, title, h('span', { class: 'tag proto', text: 'RDP' }), status,
      h('div', { class: 'tools' }, cadBtn, kbdBtn, keysBtn, modeGroup, credsBtn, fsBtn, reconnectBtn)),
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

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
    cadBtn.disabled = state !== 'connected';
    barCad.disabled = state !== 'connected';
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
      // disp (live resize) is not in the bridge yet: reconnect at the new size instead.
      if (connected && (w.w !== asked.w || w.h !== asked.h)) connect();
    }, RESIZE_MS);
  };
  window.addEventListener('resize', onResize);

  function teardown() {
    connected = false;
    releaseSticky();
    keyboard.reset();
    held.clear();
    if (client) {
      const old = client;
      client = null;
      old.onstatechange = old.onerror = null;
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
      title.textContent = vm.name;
      document.title = t('rdp.title', { name: vm.name });
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
      ticket = await consoleTicket(id, 'rdp', sessionCreds);
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
      c.connect(`${query}&width=${size.w}&height=${size.h}&dpi=${size.dpi}`);
    } catch (e) {
      if (my === gen) setStatus('error', t('rdp.error', { message: (e && e.message) || String(e), code: '?' }));
    }
  }

  showKeys(store.get('keys', '0') === '1');
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
