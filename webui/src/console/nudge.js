// SPDX-License-Identifier: GPL-2.0-or-later
// Typing latency on QEMU's VNC server. QEMU redraws on a timer: a key resets it to its shortest
// interval (ui/vnc.c), but the refresh that follows often comes before the guest has drawn the
// key, finds nothing new and backs off by 50 ms — so the echo of a key after a pause shows ~100 ms
// later. A second client message shortly after the key resets the timer again, once the guest has
// drawn: the release of a key nobody holds (F24), which QEMU's keyboard state drops before the
// guest (a release of a key that is not down). Sent 25 ms after each key press (the last one, when
// several come close together). Measured with bench/typing.mjs.

import { XK } from './keys.js';

export const NUDGE_MS = 25;

// localStorage "qhm.nudge" = "off" turns it off (bench/typing.mjs measures the console both ways).
export function nudgeDisabled() {
  try { return localStorage.getItem('qhm.nudge') === 'off'; } catch { return false; }
}

// Wrap RFB's sendKey (noVNC's keyboard handler and our keys bar both call it). Returns a function
// that stops the pending nudge (the console is closing).
export function nudgeAfterKeys(rfb, delayMs = NUDGE_MS) {
  const send = rfb.sendKey.bind(rfb);
  let timer = null;
  rfb.sendKey = (keysym, code, down) => {
    send(keysym, code, down);
    if (down === false) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      send(XK.F24, 'F24', false);
    }, delayMs);
  };
  return () => clearTimeout(timer);
}
