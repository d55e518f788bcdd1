// SPDX-License-Identifier: GPL-2.0-or-later
// touch: multi-finger touch input through the Chrome DevTools Protocol
// (Input.dispatchTouchEvent), which Playwright's touchscreen.tap() alone
// cannot do: drags, two-finger taps and drags, pinches, long presses.
// Coordinates are CSS pixels of the page.
import { sleep } from './daemon.mjs';

export async function touchInput(page) {
  const cdp = await page.context().newCDPSession(page);
  const send = (type, points) => cdp.send('Input.dispatchTouchEvent', {
    type, touchPoints: points.map((p, i) => ({ x: p[0], y: p[1], id: p[2] ?? i, radiusX: 1, radiusY: 1, force: 1 })),
  });
  const T = {
    start: (...pts) => send('touchStart', pts),
    move: (...pts) => send('touchMove', pts),
    end: () => send('touchEnd', []),
    async tap(x, y) { await T.start([x, y]); await T.end(); },
    async twoTap(a, b) { await T.start(a, b); await T.end(); },
    // Drag one finger from P by (dx, dy) per step, STEPS times; hold first for HOLD_MS.
    async drag(p, dx, dy, steps, holdMs = 0) {
      await T.start(p);
      if (holdMs) await sleep(holdMs);
      for (let i = 1; i <= steps; i++) await T.move([p[0] + dx * i, p[1] + dy * i]);
      await T.end();
    },
    // Two fingers A and B, each moved by (dx, dy) per step.
    async twoDrag(a, b, dx, dy, steps) {
      await T.start(a, b);
      for (let i = 1; i <= steps; i++) await T.move([a[0] + dx * i, a[1] + dy * i], [b[0] + dx * i, b[1] + dy * i]);
      await T.end();
    },
    // Pinch around C from half-distance R0 to R1 in STEPS.
    async pinch(c, r0, r1, steps) {
      await T.start([c[0] - r0, c[1]], [c[0] + r0, c[1]]);
      for (let i = 1; i <= steps; i++) {
        const r = r0 + ((r1 - r0) * i) / steps;
        await T.move([c[0] - r, c[1]], [c[0] + r, c[1]]);
      }
      await T.end();
    },
  };
  return T;
}
