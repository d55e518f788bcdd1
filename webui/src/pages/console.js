// SPDX-License-Identifier: GPL-2.0-or-later
// console page (/vm/{id}/console): the VM's screen through noVNC. Fetches the
// VM, asks the REST API for a single-use console ticket and connects noVNC's
// RFB to the ticket's WebSocket URL (subprotocol "binary"). Reconnect always
// fetches a fresh ticket. The status line says connecting/connected and, when
// the stream ends, why: the VM stopped (the daemon closes with 1001 and a
// reason), the ticket was refused (HTTP 403 before the upgrade: the socket
// never opens), or the connection was lost.
//
// Desktop: noVNC handles mouse and keyboard; the view scales to the window
// and asks for a remote resize where the guest supports it. Touch (see
// console/touch.js): Trackpad or Direct touch mode, pinch zoom and pan, an
// on-screen keyboard and a special-keys bar with sticky modifiers; the mode
// and the bar are remembered in localStorage. Pointer messages from touch are
// written to the WebSocket here (RFB PointerEvent, 6 bytes) between noVNC's
// own whole messages, which it always flushes at once.
//
// Sound (console/vnc-audio.js): for a VM with "audio": true, a Sound toggle (remembered, on by
// default) and a volume slider; the sound stream is opened with its own ticket once the screen
// is connected, and plays from the first user gesture on the page (the autoplay policy).
//
// The WebSocket is created here and handed to RFB (noVNC accepts a socket
// instead of a URL) so its close code and reason stay readable. Text from the
// daemon or the guest is only ever set with textContent / input values.
import RFB from '@novnc/novnc';
import { getVm, consoleTicket } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { subscribe } from '../events.js';
import { attachTouch } from '../console/touch.js';
import { MODIFIERS, BAR_KEYS, NAMED, XK, typeText } from '../console/keys.js';
import { nudgeAfterKeys, nudgeDisabled } from '../console/nudge.js';
import { createVncAudio } from '../console/vnc-audio.js';

const store = {
  get: (k, d) => { try { return localStorage.getItem('qhm.console.' + k) ?? d; } catch { return d; } },
  set: (k, v) => { try { localStorage.setItem('qhm.console.' + k, v); } catch { /* private mode */ } },
};

export function mount(root, { id }) {
  const btn = (key, onclick, extra = {}) =>
    h('button', { type: 'button', class: 'tool', onclick, ...extra, text: t(key) });

  const title = h('h1', { class: 'vm-title', text: id });
  const status = h('p', { id: 'console-status', class: 'status', role: 'status', 'aria-live': 'polite' });
  const cadBtn = btn('console.ctrl_alt_del', () => ctrlAltDel(), { disabled: true });
  const fsBtn = btn('console.fullscreen', toggleFullscreen, { 'aria-pressed': 'false' });
  const reconnectBtn = btn('console.reconnect', () => connect());
  const clipBtn = btn('console.clipboard', () => showClipboard(clipPanel.hidden),
    { 'aria-expanded': 'false', 'aria-controls': 'clipboard-panel' });
  const kbdBtn = btn('console.keyboard', () => toggleKeyboard(), { 'aria-pressed': 'false', class: 'tool touch-only' });
  const keysBtn = btn('console.keys', () => showKeys(keysBar.hidden), { 'aria-pressed': 'false', 'aria-controls': 'keys-bar' });
  let soundOn = store.get('sound', '1') === '1';
  const soundBtn = btn('console.sound', () => setSound(!soundOn), { 'aria-pressed': String(soundOn), hidden: true });
  const volume = h('input', { type: 'range', min: '0', max: '100', step: '5', class: 'volume', hidden: true,
    'aria-label': t('console.volume'), value: store.get('volume', '80') });
  const zoomBtn = btn('console.reset_zoom', () => touch.resetZoom(), { hidden: true });
  // The keyboard goes to the guest while the screen has focus (Tab and Escape too); Ctrl+Alt
  // pressed and let go alone, or this button, gives it back to the page.
  const releaseBtn = btn('console.release', () => toggleKeyboardGrab(),
    { disabled: true, 'aria-describedby': 'console-help', class: 'tool fine-only' });

  // Touch mode: a radio group, remembered.
  let mode = store.get('mode', 'trackpad') === 'direct' ? 'direct' : 'trackpad';
  const modeGroup = h('div', { class: 'segmented touch-only', role: 'radiogroup', 'aria-label': t('console.touch_mode') });
  for (const m of ['trackpad', 'direct']) {
    // The (transparent) radio covers its label, so a tap anywhere on it hits the input.
    const r = h('input', { type: 'radio', name: 'touch-mode', value: m });
    r.checked = mode === m;
    r.addEventListener('change', () => { mode = m; store.set('mode', m); syncCursor(); });
    modeGroup.append(h('label', {}, r, h('span', { text: t('console.mode.' + m) })));
  }

  const clipText = h('textarea', { id: 'clipboard-text', rows: 4, spellcheck: 'false' });
  const clipPanel = h('section', { id: 'clipboard-panel', class: 'clipboard', hidden: true, 'aria-label': t('console.clipboard') },
    h('label', { for: 'clipboard-text', text: t('console.clipboard_label') }),
    clipText,
    h('div', { class: 'row' },
      btn('console.clipboard_send', () => rfb && connected && rfb.clipboardPasteFrom(clipText.value)),
      btn('console.clipboard_type', () => { if (connected) { typeText(sendKey, clipText.value); releaseSticky(); rfb.focus(); } }),
      btn('console.clipboard_close', () => showClipboard(false))));

  // Special-keys bar: modifiers latch (sticky) until the next other key.
  const latched = new Map(); // modifier id -> button
  const keysBar = h('div', { id: 'keys-bar', class: 'keys-bar', role: 'toolbar', 'aria-label': t('console.keys_bar'), hidden: true });
  for (const m of MODIFIERS) {
    const b = h('button', { type: 'button', class: 'key mod', 'aria-pressed': 'false', text: m.label });
    b.addEventListener('click', () => {
      if (!connected) return;
      if (latched.has(m.id)) { latched.delete(m.id); sendKey(m.keysym, m.code, false); b.setAttribute('aria-pressed', 'false'); }
      else { latched.set(m.id, b); sendKey(m.keysym, m.code, true); b.setAttribute('aria-pressed', 'true'); }
    });
    keysBar.append(b);
  }
  for (const k of BAR_KEYS) {
    const b = h('button', { type: 'button', class: 'key', text: k.label });
    b.addEventListener('click', () => { if (connected) { sendKey(k.keysym, k.code, true); sendKey(k.keysym, k.code, false); releaseSticky(); } });
    keysBar.append(b);
  }
  const barCad = h('button', { type: 'button', class: 'key', text: t('console.ctrl_alt_del') });
  barCad.addEventListener('click', () => ctrlAltDel());
  keysBar.append(barCad);

  // On-screen keyboard: a text field that is focused to raise the device keyboard.
  const SENTINEL = '  '; // lets Backspace produce an input event on soft keyboards
  const osk = h('textarea', { id: 'osk-input', class: 'osk', 'aria-label': t('console.osk_label'), autocapitalize: 'off',
    autocomplete: 'off', spellcheck: 'false', enterkeyhint: 'send', rows: 1 });
  osk.value = SENTINEL;
  osk.tabIndex = -1; // focused by the keyboard button only: Tab never lands in it

  const help = h('p', { id: 'console-help', class: 'hint console-help', text: t('console.help') });
  const screen = h('div', { id: 'screen', class: 'screen', role: 'application', 'aria-label': t('console.screen_label', { name: id }),
    'aria-describedby': 'console-help' });
  const cursor = h('div', { class: 'touch-cursor', hidden: true, 'aria-hidden': 'true' });
  const area = h('div', { class: 'screen-area' }, screen, cursor);
  const stage = h('div', { class: 'stage' }, area, clipPanel, osk);

  const backLink = h('a', { href: `/vm/${encodeURIComponent(id)}`, 'data-link': true, class: 'back', text: '← ' + t('console.back') });
  const pageEl = h('div', { class: 'console-page' },
    h('header', { class: 'toolbar' },
      backLink, title, status,
      h('div', { class: 'tools' }, releaseBtn, cadBtn, clipBtn, kbdBtn, keysBtn, modeGroup, soundBtn, volume, zoomBtn, fsBtn, reconnectBtn), help),
    keysBar,
    stage);
  root.append(pageEl);

  let rfb = null;
  let stopNudge = () => {};
  let ws = null;
  let connected = false;
  let gen = 0; // bumps on every (re)connect; late events of older sockets are ignored
  let alive = true;
  let touched = false;
  let hasAudio = false;

  const audio = createVncAudio({
    onstate: (state, reason) => {
      soundBtn.dataset.state = state;
      soundBtn.title = state === 'closed' && reason ? reason : '';
    },
  });
  audio.setVolume(Number(volume.value) / 100);
  volume.addEventListener('input', () => { audio.setVolume(Number(volume.value) / 100); store.set('volume', volume.value); });
  // Any key or pointer press on the page may start the sound (the autoplay policy).
  const onGesture = () => { if (soundOn && hasAudio) audio.unlock(); };
  document.addEventListener('pointerdown', onGesture, true);
  document.addEventListener('keydown', onGesture, true);
  async function startSound(my) {
    if (!soundOn || !hasAudio || !connected) return;
    let ticket;
    try { ticket = await consoleTicket(id, 'audio'); } catch (e) {
      if (my === gen && alive) { soundBtn.dataset.state = 'error'; soundBtn.title = e.message; }
      return;
    }
    if (my !== gen || !alive || !connected || !soundOn) return;
    audio.start(ticket.url);
  }
  function setSound(on) {
    soundOn = on;
    store.set('sound', on ? '1' : '0');
    soundBtn.setAttribute('aria-pressed', String(on));
    if (on) { audio.unlock(); startSound(gen); } else audio.stop();
  }

  // The keyboard grab: the guest has the keyboard while its screen (noVNC's canvas) has focus.
  const grabbed = () => !!(rfb && connected && screen.contains(document.activeElement));
  function syncGrab() {
    const g = grabbed();
    releaseBtn.disabled = !connected;
    releaseBtn.textContent = t(g ? 'console.release' : 'console.grab');
    screen.classList.toggle('grabbed', g);
  }
  function toggleKeyboardGrab() {
    if (!rfb || !connected) return;
    if (grabbed()) releaseKeyboard();
    else { rfb.focus(); syncGrab(); }
  }
  function releaseKeyboard() {
    if (!rfb) return;
    rfb.blur();
    releaseBtn.focus();
    syncGrab();
    setStatus('connected', t('console.released'));
  }
  // Ctrl+Alt alone (both down, then both up, no other key between) releases it. The guest sees a
  // bare Ctrl+Alt, which does nothing; Ctrl+Alt+Del and Ctrl+Alt+F1 still reach it.
  const combo = { ctrl: false, alt: false, both: false, other: false };
  const onComboDown = (e) => {
    if (e.key === 'Control') combo.ctrl = true;
    else if (e.key === 'Alt' || e.key === 'AltGraph') combo.alt = true;
    else combo.other = true;
    if (combo.ctrl && combo.alt) combo.both = true;
  };
  const onComboUp = (e) => {
    if (e.key === 'Control') combo.ctrl = false;
    else if (e.key === 'Alt' || e.key === 'AltGraph') combo.alt = false;
    if (!combo.ctrl && !combo.alt) {
      const release = combo.both && !combo.other && grabbed();
      combo.both = combo.other = false;
      if (release) setTimeout(releaseKeyboard, 0); // after noVNC has sent the key-ups
    }
  };
  screen.addEventListener('keydown', onComboDown, true);
  screen.addEventListener('keyup', onComboUp, true);
  screen.addEventListener('focusin', () => syncGrab());
  screen.addEventListener('focusout', () => setTimeout(syncGrab, 0));

  function sendKey(keysym, code, down) {
    if (rfb && connected) rfb.sendKey(keysym, code, down);
  }
  function releaseSticky() {
    for (const [mid, b] of latched) {
      const m = MODIFIERS.find((x) => x.id === mid);
      sendKey(m.keysym, m.code, false);
      b.setAttribute('aria-pressed', 'false');
    }
    latched.clear();
  }
  function ctrlAltDel() {
    if (!rfb || !connected) return;
    releaseSticky();
    rfb.sendCtrlAltDel();
  }

  // Touch → RFB PointerEvent on our socket.
  function sendPointer(mask, x, y) {
    if (!connected || !ws || ws.readyState !== WebSocket.OPEN) return;
    const b = new Uint8Array(6);
    b[0] = 5; b[1] = mask; b[2] = x >> 8; b[3] = x & 0xff; b[4] = y >> 8; b[5] = y & 0xff;
    ws.send(b);
  }
  const touch = attachTouch({
    area, screen,
    canvas: () => screen.querySelector('canvas'),
    send: sendPointer,
    mode: () => mode,
    onPointer: () => { touched = true; syncCursor(); },
    onZoom: (z) => { zoomBtn.hidden = z <= 1; syncCursor(); },
  });
  function syncCursor() {
    const c = screen.querySelector('canvas');
    if (!c || !c.width || mode !== 'trackpad' || !touched || touch.pointer.x < 0) { cursor.hidden = true; return; }
    const r = c.getBoundingClientRect(), a = area.getBoundingClientRect();
    cursor.style.left = `${r.left - a.left + (touch.pointer.x + 0.5) * r.width / c.width}px`;
    cursor.style.top = `${r.top - a.top + (touch.pointer.y + 0.5) * r.height / c.height}px`;
    cursor.hidden = false;
  }
  // Same element and phase as the touch handler (which stops propagation), so this still runs.
  area.addEventListener('touchstart', () => { if (!oskActive() && rfb) rfb.focus(); }, { capture: true, passive: true });

  // Physical keys with latched modifiers: release them after the next other key.
  const onKeyUp = (e) => {
    if (!latched.size || ['Control', 'Alt', 'Meta', 'Shift', 'OS'].includes(e.key)) return;
    if (e.target === osk) return; // handled there
    setTimeout(releaseSticky, 0);
  };
  document.addEventListener('keyup', onKeyUp, true);

  const oskActive = () => document.activeElement === osk;
  function toggleKeyboard() {
    if (oskActive()) { osk.blur(); if (rfb) rfb.focus(); }
    else { osk.value = SENTINEL; osk.focus(); osk.setSelectionRange(osk.value.length, osk.value.length); }
  }
  osk.addEventListener('focus', () => kbdBtn.setAttribute('aria-pressed', 'true'));
  osk.addEventListener('blur', () => kbdBtn.setAttribute('aria-pressed', 'false'));
  osk.addEventListener('keydown', (e) => {
    const named = NAMED[e.key];
    if (!named || e.isComposing) return; // text arrives as input events
    e.preventDefault();
    sendKey(named[0], named[1], true);
    sendKey(named[0], named[1], false);
    releaseSticky();
  });
  osk.addEventListener('input', (e) => {
    if (e.isComposing) return;
    if (e.inputType === 'deleteContentBackward') { sendKey(XK.BackSpace, 'Backspace', true); sendKey(XK.BackSpace, 'Backspace', false); }
    else if (e.inputType === 'insertLineBreak') { sendKey(XK.Return, 'Enter', true); sendKey(XK.Return, 'Enter', false); }
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
    cadBtn.hidden = on; // the bar has its own Ctrl+Alt+Del
    store.set('keys', on ? '1' : '0');
    if (!on) releaseSticky();
  }
  showKeys(store.get('keys', '0') === '1');

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
    cadBtn.disabled = state !== 'connected';
    barCad.disabled = state !== 'connected';
  }

  function showClipboard(on) {
    clipPanel.hidden = !on;
    clipBtn.setAttribute('aria-expanded', String(on));
    if (on) clipText.focus();
    else if (rfb && connected) rfb.focus();
  }

  // The whole page goes fullscreen, toolbar included, so its buttons stay reachable.
  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else if (pageEl.requestFullscreen) pageEl.requestFullscreen().catch(() => {});
  }
  const onFullscreen = () => fsBtn.setAttribute('aria-pressed', String(document.fullscreenElement === pageEl));
  document.addEventListener('fullscreenchange', onFullscreen);
  const onResize = () => syncCursor();
  window.addEventListener('resize', onResize);

  function teardown() {
    connected = false;
    stopNudge();
    audio.stop();
    latched.clear();
    for (const b of keysBar.querySelectorAll('[aria-pressed]')) b.setAttribute('aria-pressed', 'false');
    if (rfb) {
      const old = rfb;
      rfb = null;
      try { old.disconnect(); } catch { /* already gone */ }
    }
    ws = null;
  }

  // Why did the stream end? Ask the daemon about the VM too: its state is the truth.
  async function explain(my, info) {
    let vm = null;
    try { vm = await getVm(id); } catch { /* daemon gone: fall through to "lost" */ }
    if (my !== gen || !alive) return;
    const running = vm && (vm.state === 'running' || vm.state === 'paused');
    if (info.securityReason !== null) {
      setStatus('error', t('console.security_failed', { reason: info.securityReason || '?' }));
    } else if (!info.opened) {
      if (vm && !running) setStatus('stopped', t('console.not_running', { state: t('state.' + vm.state) }));
      else setStatus('refused', t('console.refused'));
    } else if (vm && !running) {
      const reason = info.reason || vm.state_reason || '';
      setStatus('stopped', reason ? t('console.stopped_reason', { reason }) : t('console.stopped'));
    } else if ((info.code === 1000 || info.code === 1001) && info.reason) {
      setStatus('closed', t('console.closed_reason', { reason: info.reason }));
    } else {
      setStatus('lost', t('console.lost'));
    }
  }

  async function connect() {
    const my = ++gen;
    teardown();
    setStatus('connecting', t('console.connecting'));
    let ticket, display = '';
    try {
      const vm = await getVm(id);
      if (my !== gen || !alive) return;
      display = vm.display || '';
      hasAudio = vm.audio === true;
      soundBtn.hidden = volume.hidden = !hasAudio;
      title.textContent = vm.name;
      document.title = t('console.title', { name: vm.name });
      screen.setAttribute('aria-label', t('console.screen_label', { name: vm.name }));
      if (vm.state !== 'running' && vm.state !== 'paused') {
        setStatus('stopped', t('console.not_running', { state: t('state.' + vm.state) }));
        return;
      }
    } catch (e) {
      if (my === gen && alive) setStatus('error', t('console.vm_error', { message: e.message }));
      return;
    }
    try {
      ticket = await consoleTicket(id, 'vnc');
    } catch (e) {
      if (my !== gen || !alive) return;
      let vm = null;
      if (e.code === 'invalid_state') vm = await getVm(id).catch(() => null);
      if (my !== gen || !alive) return;
      if (vm && vm.state !== 'running' && vm.state !== 'paused')
        setStatus('stopped', t('console.not_running', { state: t('state.' + vm.state) }));
      else setStatus('error', t('console.ticket_error', { message: e.message }));
      return;
    }
    if (my !== gen || !alive) return;

    const info = { opened: false, code: 0, reason: '', securityReason: null };
    let sock;
    try {
      sock = new WebSocket(ticket.url, ['binary']);
    } catch (e) {
      setStatus('error', t('console.ticket_error', { message: e.message }));
      return;
    }
    sock.binaryType = 'arraybuffer';
    ws = sock;
    sock.addEventListener('open', () => { info.opened = true; });
    sock.addEventListener('close', (e) => { info.code = e.code; info.reason = e.reason; });

    const r = new RFB(screen, sock, { shared: true });
    rfb = r;
    if (!nudgeDisabled()) stopNudge = nudgeAfterKeys(r);
    r.scaleViewport = true;
    // Ask QEMU to follow the window only where the guest's display can (virtio-vga, virtio-gpu):
    // QEMU refuses it for the others ("Invalid screen layout", a warning on every console).
    r.resizeSession = display.startsWith('virtio');
    r.background = '#101014';
    r.focusOnClick = true;
    r.addEventListener('connect', () => {
      if (my !== gen) return;
      connected = true;
      setStatus('connected', t('console.connected'));
      if (!oskActive()) r.focus();
      syncGrab();
      startSound(my);
    });
    r.addEventListener('disconnect', () => {
      if (my !== gen) return;
      connected = false;
      rfb = null;
      ws = null;
      syncGrab();
      // The socket's close event has run before noVNC's (our listener was added first).
      explain(my, info);
    });
    r.addEventListener('securityfailure', (e) => {
      info.securityReason = (e.detail && e.detail.reason) || '';
    });
    r.addEventListener('clipboard', (e) => {
      if (e.detail && typeof e.detail.text === 'string') clipText.value = e.detail.text;
    });
  }

  // A paused VM's console stays; a stop is reported by the socket's close.
  const unsubscribe = subscribe((ev) => {
    if (ev.type === 'vm.state' && ev.vm === id && ev.state === 'running' && !connected && status.dataset.state === 'stopped') connect();
  });

  connect();

  return () => {
    alive = false;
    gen++;
    teardown();
    audio.close();
    touch.detach();
    unsubscribe();
    document.removeEventListener('pointerdown', onGesture, true);
    document.removeEventListener('keydown', onGesture, true);
    document.removeEventListener('keyup', onKeyUp, true);
    document.removeEventListener('fullscreenchange', onFullscreen);
    window.removeEventListener('resize', onResize);
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  };
}
