// SPDX-License-Identifier: GPL-2.0-or-later
// The HarmonyOS shell's Node-API module (hap-wrapper/entry/src/main/cpp/napi_init.c), built as a
// Node.js addon (meson: BUILD/qemu_hmos.node), loaded in Node.js: start() a daemon, create and
// boot a VM (memtest86+, x86_64, 64 MiB, TCG) through the returned URL and token, see it running
// in status() and in the onEvent callback (a vm.state event with vmsRunning 1), follow a download
// from a slow local server in the events (progress, then gone once deleted), kill the VM, stop()
// — and all of it again in the same process, on the same data directory.
//
// Usage: node tests/hap/napi.test.mjs BUILD/qemu_hmos.node
// Prints `ok - NAME` / `not ok - NAME: why` and ends with `napi: N passed, N failed`.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const MEMTEST = '/usr/lib/memtest86+/memtest86+x64.iso';
const DL_SIZE = 64 * 1024 * 1024; // declared; the server sends ~160 KiB/s a connection, never all
let passed = 0;
let failed = 0;

function ok(name) {
  passed++;
  console.log(`ok - ${name}`);
}

function notOk(name, why) {
  failed++;
  console.log(`not ok - ${name}: ${why}`);
}

function check(name, cond, why) {
  if (cond) ok(name);
  else notOk(name, why);
  return cond;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The first of EVENTS (from index FROM on) that PRED accepts, waiting up to MS; null when none.
async function waitEvent(events, from, pred, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const e = events.slice(from).find(pred);
    if (e || Date.now() > end) return e || null;
    await sleep(25);
  }
}

async function api(base, token, method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

// A server that sends DL_SIZE zero bytes (ranges too) slowly, so a download stays running.
function slowServer() {
  const chunk = Buffer.alloc(16384);
  const server = http.createServer((req, res) => {
    let a = 0;
    let b = DL_SIZE - 1;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    if (m) {
      a = Number(m[1]);
      if (m[2]) b = Math.min(Number(m[2]), DL_SIZE - 1);
      res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${DL_SIZE}`, 'Content-Length': b - a + 1 });
    } else {
      res.writeHead(200, { 'Content-Length': DL_SIZE, 'Accept-Ranges': 'bytes' });
    }
    let left = b - a + 1;
    const timer = setInterval(() => {
      const n = Math.min(left, chunk.length);
      res.write(n === chunk.length ? chunk : chunk.subarray(0, n));
      left -= n;
      if (left === 0) {
        clearInterval(timer);
        res.end();
      }
    }, 100);
    res.on('close', () => clearInterval(timer));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function round(addon, n, dataDir, server, firstToken) {
  const t0 = Date.now();
  const events = [];
  let threw = null;
  // A fresh callback every round: it replaces the previous one.
  addon.onEvent((ev) => events.push(ev));
  let r;
  try {
    r = addon.start({ dataDir, port: 0, wsPort: 0, allowPaths: [path.dirname(MEMTEST)] });
  } catch (e) {
    notOk(`${n}: start`, e.message);
    return null;
  }
  check(
    `${n}: start answers url, wsUrl, token`,
    /^http:\/\/127\.0\.0\.1:\d+$/.test(r.url) && /^ws:\/\/127\.0\.0\.1:\d+$/.test(r.wsUrl) && /^[0-9a-f]{64}$/.test(r.token),
    JSON.stringify(r),
  );
  if (firstToken) check(`${n}: the data directory keeps its token`, r.token === firstToken, r.token);
  let st = addon.status();
  check(`${n}: status() running`, st.running === true && st.url === r.url && st.vmsRunning === 0, JSON.stringify(st));
  try {
    addon.start({ dataDir });
    notOk(`${n}: a second start() is refused`, 'it did not throw');
  } catch (e) {
    check(`${n}: a second start() is refused`, /already running/.test(e.message), e.message);
  }

  try {
    // The VM, booted from memtest86+.
    let res = await api(r.url, r.token, 'POST', '/api/v1/vms', {
      name: `napi-${n}`,
      arch: 'x86_64',
      memory_mib: 64,
      cpus: 1,
      disks: [],
      cdrom: MEMTEST,
    });
    if (!check(`${n}: create the VM`, res.status === 201, `${res.status} ${JSON.stringify(res.json)}`)) return r;
    const id = res.json.id;
    const from = events.length;
    res = await api(r.url, r.token, 'POST', `/api/v1/vms/${id}/start`);
    check(`${n}: start the VM`, res.status === 200, `${res.status} ${JSON.stringify(res.json)}`);
    let state = '';
    for (const end = Date.now() + 30000; Date.now() < end && state !== 'running'; await sleep(100))
      state = (await api(r.url, r.token, 'GET', `/api/v1/vms/${id}`)).json.state;
    check(`${n}: the VM runs`, state === 'running', `state ${state}`);
    const ev = await waitEvent(
      events,
      from,
      (e) => e.type === 'vm.state' && JSON.parse(e.json).vm === id && JSON.parse(e.json).state === 'running',
      10000,
    );
    check(`${n}: onEvent: vm.state running`, ev !== null, `events: ${events.map((e) => e.type).join(', ')}`);
    if (ev)
      check(
        `${n}: the event says vmsRunning 1, downloads []`,
        ev.vmsRunning === 1 && Array.isArray(ev.downloads) && ev.downloads.length === 0,
        JSON.stringify(ev),
      );
    st = addon.status();
    check(`${n}: status() vmsRunning 1`, st.vmsRunning === 1, JSON.stringify(st));

    // A download: its progress in the events, then gone.
    const url = `http://127.0.0.1:${server.address().port}/napi-${n}.iso`;
    res = await api(r.url, r.token, 'POST', '/api/v1/downloads', { url });
    check(`${n}: start a download`, res.status === 201, `${res.status} ${JSON.stringify(res.json)}`);
    const dl = res.json.id;
    const prog = await waitEvent(
      events,
      from,
      (e) =>
        e.type === 'download.progress' &&
        e.downloads.some((d) => d.id === dl && d.doneBytes > 0 && d.totalBytes === DL_SIZE && d.state === 'running'),
      10000,
    );
    check(`${n}: onEvent: download.progress with its bytes`, prog !== null, `events: ${events.map((e) => e.type).join(', ')}`);
    if (prog) {
      const d = prog.downloads.find((x) => x.id === dl);
      check(`${n}: the download's name`, d.name === `napi-${n}.iso` && prog.vmsRunning === 1, JSON.stringify(prog));
    }
    st = addon.status();
    check(`${n}: status() lists the download`, st.downloads.some((d) => d.id === dl), JSON.stringify(st));
    res = await api(r.url, r.token, 'DELETE', `/api/v1/downloads/${dl}`);
    const gone = await waitEvent(
      events,
      from,
      (e) => e.type === 'download.state' && JSON.parse(e.json).download === dl && JSON.parse(e.json).state === 'deleted',
      10000,
    );
    check(`${n}: onEvent: download deleted, downloads []`, gone !== null && gone.downloads.length === 0, JSON.stringify(gone));

    // Kill the VM: the count goes back to 0.
    res = await api(r.url, r.token, 'POST', `/api/v1/vms/${id}/kill`);
    check(`${n}: kill the VM`, res.status === 200, `${res.status} ${JSON.stringify(res.json)}`);
    const stopped = await waitEvent(
      events,
      from,
      (e) => e.type === 'vm.state' && JSON.parse(e.json).vm === id && JSON.parse(e.json).state === 'stopped',
      15000,
    );
    check(`${n}: onEvent: vm.state stopped, vmsRunning 0`, stopped !== null && stopped.vmsRunning === 0, JSON.stringify(stopped));
  } catch (e) {
    threw = e;
    notOk(`${n}: the round`, e.stack || e.message);
  } finally {
    addon.stop();
  }
  st = addon.status();
  check(`${n}: stop(): status() not running`, st.running === false && st.url === '', JSON.stringify(st));
  let refused = false;
  try {
    await fetch(`${r.url}/api/v1/host`, { headers: { Authorization: `Bearer ${r.token}` } });
  } catch {
    refused = true;
  }
  check(`${n}: stop(): the listener is closed`, refused, 'the old URL still answers');
  addon.stop(); // a second stop is a no-op
  if (!threw) ok(`${n}: round done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return r;
}

async function main() {
  const addonPath = process.argv[2];
  if (!addonPath) {
    console.log('usage: node tests/hap/napi.test.mjs BUILD/qemu_hmos.node');
    process.exit(2);
  }
  let addon;
  try {
    addon = require(path.resolve(addonPath));
    ok('the addon loads');
  } catch (e) {
    notOk('the addon loads', e.message);
    console.log(`napi: ${passed} passed, ${failed} failed`);
    process.exit(1);
  }
  check(
    'it exports start, stop, status, onEvent',
    ['start', 'stop', 'status', 'onEvent'].every((k) => typeof addon[k] === 'function'),
    Object.getOwnPropertyNames(addon).join(', '),
  );
  const st = addon.status();
  check('status() before start', st.running === false && st.url === '' && st.vmsRunning === 0, JSON.stringify(st));
  for (const [bad, want] of [
    [{}, /dataDir is required/],
    [{ dataDir: 'relative' }, /absolute/],
    [{ dataDir: '/tmp', port: 70000 }, /port number/],
    [{ dataDir: '/tmp', allowPaths: '/tmp' }, /allowPaths/],
  ]) {
    try {
      addon.start(bad);
      notOk(`start(${JSON.stringify(bad)}) throws`, 'it did not');
      addon.stop();
    } catch (e) {
      check(`start(${JSON.stringify(bad)}) throws`, want.test(e.message), e.message);
    }
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qhm-napi-'));
  fs.chmodSync(tmp, 0o711); // run as root, the daemon's QEMU user must reach the data directory
  // A start that fails after the daemon logged: the Error carries those log lines.
  try {
    addon.start({ dataDir: path.join(tmp, 'bad'), qemu: '/nonexistent/manifest.json' });
    notOk('a failed start() throws with its log', 'it did not throw');
    addon.stop();
  } catch (e) {
    check('a failed start() throws with its log', /manifest\.json/.test(e.message) && /\nlog:\n/.test(e.message), e.message);
  }
  const server = await slowServer();
  const dataDir = path.join(tmp, 'data');
  try {
    const r1 = await round(addon, 1, dataDir, server, null);
    await round(addon, 2, dataDir, server, r1 ? r1.token : null);
  } finally {
    server.closeAllConnections();
    server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`napi: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
