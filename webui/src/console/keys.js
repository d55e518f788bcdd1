// SPDX-License-Identifier: GPL-2.0-or-later
// keys: keysyms (X11 keysymdef) and physical key codes (KeyboardEvent.code,
// which noVNC turns into XT scancodes for QEMU's extended key events) for
// text typed from the on-screen keyboard or the clipboard panel, and for the
// special-keys bar. Pure data and lookups, no DOM.

export const XK = {
  BackSpace: 0xff08, Tab: 0xff09, Return: 0xff0d, Escape: 0xff1b, Delete: 0xffff,
  Home: 0xff50, Left: 0xff51, Up: 0xff52, Right: 0xff53, Down: 0xff54, PageUp: 0xff55, PageDown: 0xff56, End: 0xff57,
  Shift_L: 0xffe1, Control_L: 0xffe3, Alt_L: 0xffe9, Super_L: 0xffeb, F1: 0xffbe, F24: 0xffd5,
};

// The special-keys bar: [label key (i18n) or literal, keysym, code, modifier?]
export const MODIFIERS = [
  { id: 'ctrl', label: 'Ctrl', keysym: XK.Control_L, code: 'ControlLeft' },
  { id: 'alt', label: 'Alt', keysym: XK.Alt_L, code: 'AltLeft' },
  { id: 'super', label: 'Super', keysym: XK.Super_L, code: 'MetaLeft' },
];
export const BAR_KEYS = [
  { label: 'Esc', keysym: XK.Escape, code: 'Escape' },
  { label: 'Tab', keysym: XK.Tab, code: 'Tab' },
  ...Array.from({ length: 12 }, (_, i) => ({ label: `F${i + 1}`, keysym: XK.F1 + i, code: `F${i + 1}` })),
];

// Keys the on-screen keyboard's text field gets as keydown with a usable
// e.key (physical keyboards, iOS): sent as keys rather than as text.
export const NAMED = {
  Backspace: [XK.BackSpace, 'Backspace'], Enter: [XK.Return, 'Enter'], Tab: [XK.Tab, 'Tab'], Escape: [XK.Escape, 'Escape'],
  Delete: [XK.Delete, 'Delete'], ArrowLeft: [XK.Left, 'ArrowLeft'], ArrowRight: [XK.Right, 'ArrowRight'],
  ArrowUp: [XK.Up, 'ArrowUp'], ArrowDown: [XK.Down, 'ArrowDown'], Home: [XK.Home, 'Home'], End: [XK.End, 'End'],
  PageUp: [XK.PageUp, 'PageUp'], PageDown: [XK.PageDown, 'PageDown'],
};

// US-layout physical keys for printable ASCII: with QEMU's extended key
// events the guest gets these scancodes, so a shifted character needs Shift
// held around it. char -> [code, shift]
export const US_KEYS = (() => {
  const m = new Map();
  for (let i = 0; i < 26; i++) {
    const lo = String.fromCharCode(97 + i);
    m.set(lo, ['Key' + lo.toUpperCase(), false]);
    m.set(lo.toUpperCase(), ['Key' + lo.toUpperCase(), true]);
  }
  const codes = ['Minus', 'Equal', 'BracketLeft', 'BracketRight', 'Backslash', 'Semicolon', 'Quote', 'Backquote', 'Comma', 'Period', 'Slash'];
  const rows = [['1234567890', '!@#$%^&*()', (i) => 'Digit' + '1234567890'[i]], ['-=[]\\;\'`,./', '_+{}|:"~<>?', (i) => codes[i]]];
  for (const [plain, shifted, code] of rows)
    for (let i = 0; i < plain.length; i++) {
      m.set(plain[i], [code(i), false]);
      m.set(shifted[i], [code(i), true]);
    }
  m.set(' ', ['Space', false]);
  m.set('\n', ['Enter', false]);
  m.set('\t', ['Tab', false]);
  return m;
})();

// Keysym of one character: Latin-1 maps to itself, the rest of Unicode to 0x01000000 + code point.
export function keysymOf(ch) {
  const cp = ch.codePointAt(0);
  if (ch === '\n') return XK.Return;
  if (ch === '\t') return XK.Tab;
  if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff)) return cp;
  return 0x01000000 + cp;
}

// Send TEXT as key presses through sendKey(keysym, code, down).
export function typeText(sendKey, text) {
  for (const ch of text.replace(/\r\n?/g, '\n')) {
    const key = US_KEYS.get(ch);
    const sym = keysymOf(ch);
    if (!key) { sendKey(sym, null, true); sendKey(sym, null, false); continue; } // outside US ASCII: keysym only
    const [code, shift] = key;
    if (shift) sendKey(XK.Shift_L, 'ShiftLeft', true);
    sendKey(sym, code, true);
    sendKey(sym, code, false);
    if (shift) sendKey(XK.Shift_L, 'ShiftLeft', false);
  }
}
