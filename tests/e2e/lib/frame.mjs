// SPDX-License-Identifier: GPL-2.0-or-later
// frame: judgements on a picture of the guest screen ({width, height, data}
// RGBA, from the noVNC canvas or a decoded PNG). No OCR: the tests compare
// pixels, and text is recognised by comparing VGA text cells with each other.

// QEMU's "Guest has not initialized the display (yet)." placeholder: 640x480,
// one flat background with a single line of text in the middle (measured on
// QEMU 7.2: grey 0xaaaaaa text in rows 226..238).
export function isPlaceholder(img) {
  if (img.width !== 640 || img.height !== 480) return false;
  const bg = dominant(img).rgb;
  for (let y = 0; y < img.height; y++) {
    if (y >= 200 && y < 260) continue;
    for (let x = 0; x < img.width; x++) if (rgbAt(img, x, y) !== bg) return false;
  }
  return true;
}

export function rgbAt(img, x, y) {
  const o = (y * img.width + x) * 4;
  return (img.data[o] << 16) | (img.data[o + 1] << 8) | img.data[o + 2];
}

// The most frequent colour, its share, and how many colours there are.
export function dominant(img) {
  const counts = new Map();
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    const c = (img.data[o] << 16) | (img.data[o + 1] << 8) | img.data[o + 2];
    counts.set(c, (counts.get(c) || 0) + 1);
  }
  let rgb = 0, best = -1;
  for (const [c, k] of counts) if (k > best) { best = k; rgb = c; }
  return { rgb, share: n ? best / n : 1, colours: counts.size };
}

// Shows the guest: a real picture, not the placeholder and not one flat colour
// (at least 0.1 % of the pixels differ from the background).
export function showsGuest(img) {
  if (!img || img.width < 16 || img.height < 16) return { ok: false, why: 'no picture' };
  if (isPlaceholder(img)) return { ok: false, why: 'QEMU placeholder "Guest has not initialized the display"' };
  const d = dominant(img);
  if (d.colours < 2 || d.share > 0.999) return { ok: false, why: `flat colour #${d.rgb.toString(16).padStart(6, '0')}` };
  return { ok: true, why: `${img.width}x${img.height}, ${d.colours} colours, background ${(d.share * 100).toFixed(1)} %` };
}

// Rows (pixel y) whose content differs between two pictures of the same size.
export function changedRows(a, b) {
  if (a.width !== b.width || a.height !== b.height) throw new Error('pictures differ in size');
  const rows = [];
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      if (rgbAt(a, x, y) !== rgbAt(b, x, y)) { rows.push(y); break; }
    }
  }
  return rows;
}

// Share of identical pixels between two pictures of the same size.
export function similarity(a, b) {
  if (a.width !== b.width || a.height !== b.height) return 0;
  let same = 0;
  const n = a.width * a.height;
  for (let i = 0; i < n; i++) if (rgbAt(a, i % a.width, (i / a.width) | 0) === rgbAt(b, i % b.width, (i / b.width) | 0)) same++;
  return same / n;
}

// VGA text mode: 720x400 = 80x25 cells of 9x16 pixels. Cell (col, row) as a
// string key of its pixels (foreground/background reduced to 0/1 so colours
// of the same glyph compare equal).
export const CELL_W = 9, CELL_H = 16;
export function cellKey(img, col, row) {
  const bg = rgbAt(img, img.width - 1, img.height - 1);
  let s = '';
  for (let y = 0; y < CELL_H; y++)
    for (let x = 0; x < CELL_W; x++) s += rgbAt(img, col * CELL_W + x, row * CELL_H + y) === bg ? '0' : '1';
  return s;
}
export const blankCell = (key) => !key.includes('1');

// Text rows (0..24) whose cells hold anything.
export function textRows(img) {
  const rows = [];
  for (let r = 0; r < img.height / CELL_H; r++) {
    for (let c = 0; c < img.width / CELL_W; c++) if (!blankCell(cellKey(img, c, r))) { rows.push(r); break; }
  }
  return rows;
}

// Find the cells of a run of text ROW[COL .. COL+LEN) elsewhere: rows where the
// same glyph sequence starts at column 0..79. Returns [{row, col}]; nothing
// for a run that is mostly blank (blank matches blank everywhere).
export function findRun(img, row, col, len) {
  const want = [];
  for (let i = 0; i < len; i++) want.push(cellKey(img, col + i, row));
  if (want.filter((k) => !blankCell(k)).length * 2 < len) return [];
  const found = [];
  const rows = img.height / CELL_H, cols = img.width / CELL_W;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c + len <= cols; c++) {
      let ok = true;
      for (let i = 0; i < len && ok; i++) ok = cellKey(img, c + i, r) === want[i];
      if (ok) found.push({ row: r, col: c });
    }
  return found;
}
