// SPDX-License-Identifier: GPL-2.0-or-later
// touch: turns touch gestures on the console into RFB pointer messages and
// viewport zoom. Two modes, chosen by the page:
//   trackpad — one-finger drag moves the pointer relatively; tap = left click;
//              two-finger tap = right click; two-finger drag = wheel;
//              long-press then drag = drag with the left button held.
//   direct   — the pointer goes where the finger is (absolute, USB tablet):
//              tap = left click there, drag = drag; two-finger gestures as above.
// In both, a two-finger pinch zooms and pans the view (a CSS transform on
// the screen element; noVNC keeps scaling the framebuffer to the window).
// The listeners sit on an ancestor of noVNC's canvas in the capture phase and
// stop touch events there, so noVNC's own gesture handling never sees them;
// mouse and keyboard still go to noVNC untouched.
//
// Button masks (RFB PointerEvent): 1 left, 2 middle, 4 right, 8 wheel up,
// 16 wheel down, 32 wheel left, 64 wheel right.

export const TAP_MS = 300;
export const SLOP_PX = 10;
export const LONG_PRESS_MS = 500;
export const WHEEL_STEP_PX = 20;
const PINCH_PX = 24;
const MAX_ZOOM = 5;

// opts: {area (listens), screen (transformed), canvas() → the noVNC canvas or null,
//        send(mask, x, y), mode() → 'trackpad'|'direct', onPointer(x, y), onZoom(zoom)}
export function attachTouch(opts) {
  const { area, screen } = opts;
  const touches = new Map(); // identifier -> {x, y}
  let g = null; // the gesture in progress
  const pointer = { x: -1, y: -1 }; // framebuffer coordinates of the remote pointer
  const view = { zoom: 1, x: 0, y: 0 };

  function fb() {
    const c = opts.canvas();
    if (!c || !c.width) return null;
    const r = c.getBoundingClientRect();
    return { w: c.width, h: c.height, r, sx: c.width / r.width, sy: c.height / r.height };
  }
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  function ensurePointer(f) {
    if (pointer.x < 0) { pointer.x = Math.floor(f.w / 2); pointer.y = Math.floor(f.h / 2); }
  }
  function send(mask, f) {
    const x = clamp(Math.round(pointer.x), 0, f.w - 1);
    const y = clamp(Math.round(pointer.y), 0, f.h - 1);
    opts.send(mask, x, y);
    opts.onPointer && opts.onPointer(x, y);
  }
  function toFb(f, cx, cy) {
    return { x: clamp((cx - f.r.left) * f.sx, 0, f.w - 1), y: clamp((cy - f.r.top) * f.sy, 0, f.h - 1) };
  }

  function applyView() {
    const w = area.clientWidth, hgt = area.clientHeight;
    view.zoom = clamp(view.zoom, 1, MAX_ZOOM);
    view.x = clamp(view.x, w - w * view.zoom, 0);
    view.y = clamp(view.y, hgt - hgt * view.zoom, 0);
    screen.style.transformOrigin = '0 0';
    screen.style.transform = view.zoom === 1 ? '' : `translate(${view.x}px, ${view.y}px) scale(${view.zoom})`;
    opts.onZoom && opts.onZoom(view.zoom);
  }

  const centroid = () => {
    const p = [...touches.values()];
    return { x: (p[0].x + p[1].x) / 2, y: (p[0].y + p[1].y) / 2, d: Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y) };
  };

  function start(e) {
    e.preventDefault();
    e.stopPropagation();
    const a = area.getBoundingClientRect();
    for (const tt of e.changedTouches) touches.set(tt.identifier, { x: tt.clientX - a.left, y: tt.clientY - a.top, cx: tt.clientX, cy: tt.clientY });
    const f = fb();
    if (!f) return;
    ensurePointer(f);
    if (touches.size === 1 && !g) {
      const t0 = [...touches.values()][0];
      g = { kind: 'one', at: Date.now(), sx: t0.cx, sy: t0.cy, lx: t0.cx, ly: t0.cy, moved: false, held: false };
      if (opts.mode() === 'direct') {
        const p = toFb(f, t0.cx, t0.cy);
        pointer.x = p.x; pointer.y = p.y;
      } else {
        g.timer = setTimeout(() => {
          if (g && g.kind === 'one' && !g.moved) { g.held = true; const ff = fb(); if (ff) send(1, ff); }
        }, LONG_PRESS_MS);
      }
    } else if (touches.size === 2 && g && g.kind === 'one') {
      clearTimeout(g.timer);
      if (g.held) send(0, f); // a drag turned into two fingers: let go first
      const c = centroid();
      g = { kind: 'two', at: g.at > Date.now() - TAP_MS ? g.at : Date.now(), c0: c, lc: c, mode: null,
        z0: view.zoom, vx0: view.x, vy0: view.y, ax: 0, ay: 0 };
    } else if (touches.size > 2 && g) {
      clearTimeout(g.timer);
      if (g.held) send(0, f);
      g = { kind: 'done' };
    }
  }

  function move(e) {
    e.preventDefault();
    e.stopPropagation();
    const a = area.getBoundingClientRect();
    for (const tt of e.changedTouches)
      if (touches.has(tt.identifier)) touches.set(tt.identifier, { x: tt.clientX - a.left, y: tt.clientY - a.top, cx: tt.clientX, cy: tt.clientY });
    const f = fb();
    if (!g || !f) return;
    if (g.kind === 'one') {
      const t0 = [...touches.values()][0];
      if (!t0) return;
      const dx = t0.cx - g.lx, dy = t0.cy - g.ly;
      g.lx = t0.cx; g.ly = t0.cy;
      if (!g.moved && Math.hypot(t0.cx - g.sx, t0.cy - g.sy) > SLOP_PX) { g.moved = true; clearTimeout(g.timer); }
      if (opts.mode() === 'direct') {
        if (!g.moved) return;
        if (!g.held) { g.held = true; send(1, f); } // press where the finger went down
        const p = toFb(f, t0.cx, t0.cy);
        pointer.x = p.x; pointer.y = p.y;
        send(1, f);
      } else {
        pointer.x = clamp(pointer.x + dx * f.sx, 0, f.w - 1);
        pointer.y = clamp(pointer.y + dy * f.sy, 0, f.h - 1);
        if (g.moved || g.held) send(g.held ? 1 : 0, f);
      }
    } else if (g.kind === 'two' && touches.size === 2) {
      const c = centroid();
      if (!g.mode) {
        if (Math.abs(c.d - g.c0.d) > PINCH_PX) g.mode = 'pinch';
        else if (Math.hypot(c.x - g.c0.x, c.y - g.c0.y) > SLOP_PX) g.mode = 'scroll';
      }
      if (g.mode === 'pinch') {
        const z = clamp(g.z0 * (c.d / (g.c0.d || 1)), 1, MAX_ZOOM);
        // Keep the content point under the first centroid under the fingers.
        const px = (g.c0.x - g.vx0) / g.z0, py = (g.c0.y - g.vy0) / g.z0;
        view.zoom = z;
        view.x = c.x - px * z;
        view.y = c.y - py * z;
        applyView();
      } else if (g.mode === 'scroll') {
        g.ay += c.y - g.lc.y;
        g.ax += c.x - g.lc.x;
        // Natural scrolling: fingers up = content up = wheel down.
        while (Math.abs(g.ay) >= WHEEL_STEP_PX) {
          const down = g.ay < 0;
          send(down ? 16 : 8, f); send(0, f);
          g.ay += down ? WHEEL_STEP_PX : -WHEEL_STEP_PX;
        }
        while (Math.abs(g.ax) >= WHEEL_STEP_PX) {
          const right = g.ax < 0;
          send(right ? 64 : 32, f); send(0, f);
          g.ax += right ? WHEEL_STEP_PX : -WHEEL_STEP_PX;
        }
      }
      g.lc = c;
    }
  }

  function end(e) {
    e.preventDefault();
    e.stopPropagation();
    for (const tt of e.changedTouches) touches.delete(tt.identifier);
    const f = fb();
    if (g && f) {
      if (g.kind === 'one' && touches.size === 0) {
        clearTimeout(g.timer);
        if (g.held) send(0, f);
        else if (!g.moved && Date.now() - g.at < TAP_MS && e.type === 'touchend') { send(1, f); send(0, f); }
      } else if (g.kind === 'two') {
        if (!g.mode && Date.now() - g.at < TAP_MS && e.type === 'touchend') { send(4, f); send(0, f); }
        g = { kind: 'done' };
      }
    }
    if (touches.size === 0) g = null;
  }

  const o = { capture: true, passive: false };
  area.addEventListener('touchstart', start, o);
  area.addEventListener('touchmove', move, o);
  area.addEventListener('touchend', end, o);
  area.addEventListener('touchcancel', end, o);
  return {
    pointer,
    view,
    resetZoom() { view.zoom = 1; view.x = 0; view.y = 0; applyView(); },
    detach() {
      if (g) clearTimeout(g.timer);
      area.removeEventListener('touchstart', start, o);
      area.removeEventListener('touchmove', move, o);
      area.removeEventListener('touchend', end, o);
      area.removeEventListener('touchcancel', end, o);
    },
  };
}
