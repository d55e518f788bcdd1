// SPDX-License-Identifier: GPL-2.0-or-later
// files: a real HTTP server on 127.0.0.1 (port 0) serving generated files the
// way mirrors do — Content-Length, HEAD, single byte ranges (206 with
// Content-Range, 416 past the end) — each optionally throttled per response
// (CHUNK bytes every DELAY ms) so a download's progress can be watched and
// paused. files.fast(name) lifts a file's throttle; other paths answer 404 or
// a handler given in `routes` (e.g. replayed Microsoft pages).
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { sleep } from './daemon.mjs';

// A deterministic-enough body: random, so no compression or dedup hides progress.
export const makeFile = (size) => randomBytes(size);
export const sha = (algo, buf) => createHash(algo).update(buf).digest('hex');

// files: {name: {data: Buffer, chunk?: bytes, delayMs?: ms}}; routes: {path: (req, res) => void}.
export async function serveFiles(files, routes = {}) {
  const requests = [];
  const srv = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    requests.push({ method: req.method, path, range: req.headers.range || null });
    if (routes[path]) return routes[path](req, res);
    const f = files[path.slice(1)];
    if (!f) { res.writeHead(404, { 'Content-Type': 'text/plain' }); return res.end('not found'); }
    const size = f.data.length;
    let start = 0, end = size - 1, status = 200;
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || '');
    if (m) {
      if (m[1] === '') { start = Math.max(0, size - Number(m[2])); }
      else { start = Number(m[1]); if (m[2] !== '') end = Math.min(Number(m[2]), size - 1); }
      if (start >= size || start > end) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        return res.end();
      }
      status = 206;
    }
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': end - start + 1, 'Accept-Ranges': 'bytes' };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return res.end();
    let o = start;
    while (o <= end && !res.destroyed) {
      const n = f.chunk && !f.isFast ? f.chunk : 1 << 20;
      const piece = f.data.subarray(o, Math.min(o + n, end + 1));
      o += piece.length;
      if (!res.write(piece)) {
        await new Promise((r) => {
          const done = () => { res.off('drain', done); res.off('close', done); r(); };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      if (f.chunk && !f.isFast) await sleep(f.delayMs || 50);
    }
    res.end();
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${srv.address().port}`;
  return {
    base,
    url: (name) => `${base}/${name}`,
    requests,
    fast(name) { files[name].isFast = true; },
    close: () => new Promise((r) => { srv.closeAllConnections?.(); srv.close(() => r()); }),
  };
}
