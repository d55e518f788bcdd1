// SPDX-License-Identifier: GPL-2.0-or-later
// daemon: one real qemu-hmos per test, on port 0 with a temp data dir.
// startDaemon() waits (bounded) for DIR/run/endpoint.json (and takes the API
// token from it); stop() ends the daemon, then every QEMU whose command line
// contains the temp dir (VMs outlive the daemon by design), then removes the
// dir. d.api()/d.bytes() are a program's calls (Authorization: Bearer);
// d.uiUrl(path) is the link a person opens once in a browser (?token=, which
// the daemon trades for its session cookie).
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The test fails with MSG unless COND holds.
export function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}

// Poll FN until it returns a truthy value or TIMEOUT_MS passes; the error
// names WHAT and the last value/error seen.
export async function waitFor(what, fn, { timeoutMs = 30000, intervalMs = 250 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail !== undefined ? ` (last: ${detail})` : ''}`);
    }
    await sleep(intervalMs);
  }
}

function pidsWithCmdline(needle) {
  const pids = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'latin1');
      if (cmd.includes(needle)) pids.push(Number(d));
    } catch { /* gone */ }
  }
  return pids;
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

export async function killQemusUnder(dir) {
  const pids = pidsWithCmdline(dir).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/comm`, 'latin1').startsWith('qemu-system'); } catch { return false; }
  });
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  const end = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < end) await sleep(50);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}: ${body && body.error ? `${body.error.code}: ${body.error.message}` : JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

// Host paths the tests hand the daemon (ISOs, kernels, shared folders, imports): the daemon
// refuses any outside its allowed roots, so these are allowed as tests/integration/harness.py does.
export const ALLOWED_PATHS = ['/usr/lib/memtest86+', '/usr/lib/grub-rescue', '/var/cache/qemu-hmos', tmpdir()];
const isDir = (p) => { try { return statSync(p).isDirectory(); } catch { return false; } };

// ARGS: more `serve` options (e.g. --lan ...); BIND: the --bind address.
export async function startDaemon({ daemon, ui, name = 'test', env = {}, args = [], bind = '127.0.0.1' }) {
  const tmp = mkdtempSync(join(tmpdir(), `qhm-e2e-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 24)}-`));
  chmodSync(tmp, 0o711); // run as root, the daemon runs QEMU as an unprivileged user that must get through
  const dataDir = join(tmp, 'data');
  const logPath = join(tmp, 'daemon.log');
  const allow = ALLOWED_PATHS.filter(isDir).flatMap((p) => ['--allow-path', p]);
  let proc = null;
  let exited = null;
  const spawnDaemon = () => {
    const logFd = openSync(logPath, 'a');
    const p = spawn(daemon, ['serve', '--data-dir', dataDir, '--bind', bind, '--port', '0',
      '--ws-port', '0', '--ui-dir', ui, ...allow, ...args], { stdio: ['ignore', logFd, logFd], env: { ...process.env, ...env } });
    closeSync(logFd);
    exited = null;
    p.on('exit', (code, sig) => { if (proc === p) exited = { code, sig }; });
    proc = p;
    d.proc = p;
  };
  // Wait (bounded) for THIS process's endpoint.json (an old one stays behind a daemon killed with -9).
  const readEndpoint = async () => {
    const ep = join(dataDir, 'run', 'endpoint.json');
    const info = await waitFor('the daemon to write run/endpoint.json', () => {
      if (exited) throw new Error(`daemon exited (${JSON.stringify(exited)}): ${d.log(20)}`);
      if (!existsSync(ep)) return null;
      try {
        const j = JSON.parse(readFileSync(ep, 'utf8'));
        return j.pid === proc.pid ? j : null;
      } catch { return null; }
    }, { timeoutMs: 15000, intervalMs: 50 });
    if (!info.http || !info.ws || !info.token) throw new Error('endpoint.json lacks "http", "ws" or "token": ' + JSON.stringify(info));
    Object.assign(d, { http: info.http, ws: info.ws, pid: info.pid, token: info.token, lan: info.lan || null });
  };
  const d = {
    tmp, dataDir, logPath, proc: null, http: null, ws: null, pid: null, token: null, lan: null,
    // What a program sends: the API token from endpoint.json.
    auth: () => ({ Authorization: 'Bearer ' + d.token }),
    // The link that logs a browser in (the daemon answers 303 to PATH with its session cookie).
    uiUrl: (path = '/') => d.http + path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(d.token),
    log: (n = 40) => { try { return readFileSync(logPath, 'utf8').split('\n').slice(-n).join('\n'); } catch { return ''; } },
    async api(method, path, body, { timeoutMs = 60000 } = {}) {
      const r = await fetch(d.http + '/api/v1' + path, {
        method, body: body === undefined ? undefined : JSON.stringify(body),
        headers: { ...d.auth(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await r.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { json = text; }
      if (!r.ok) throw new ApiError(r.status, json);
      return json;
    },
    async bytes(path, { timeoutMs = 20000 } = {}) {
      const r = await fetch(d.http + '/api/v1' + path, { headers: d.auth(), signal: AbortSignal.timeout(timeoutMs) });
      const buf = Buffer.from(await r.arrayBuffer());
      if (!r.ok) throw new ApiError(r.status, buf.toString('utf8'));
      return buf;
    },
    // Create a VM and start it; returns the VM object.
    async createStarted(fields) {
      const vm = await d.api('POST', '/vms', fields);
      return d.api('POST', `/vms/${vm.id}/start`, undefined, { timeoutMs: 90000 });
    },
    // The daemon killed with -9: its VMs' QEMUs run on (what a crash or an OOM kill leaves).
    async kill9() {
      if (!exited) { try { proc.kill('SIGKILL'); } catch { /* gone */ } }
      await waitFor('the daemon to die', () => exited, { timeoutMs: 5000, intervalMs: 20 });
    },
    // A new daemon on the same data dir (after kill9() or stop-less changes to its database):
    // new ports and token, so a browser logs in again (ctx.browser() after this does).
    async restart() {
      if (!exited) await d.kill9();
      spawnDaemon();
      await readEndpoint();
    },
    async stop({ keep = false } = {}) {
      if (!exited) {
        try { proc.kill('SIGTERM'); } catch { /* gone */ }
        const end = Date.now() + 5000;
        while (!exited && Date.now() < end) await sleep(50);
        if (!exited) { try { proc.kill('SIGKILL'); } catch { /* gone */ } }
        const end2 = Date.now() + 2000;
        while (!exited && Date.now() < end2) await sleep(50);
      }
      await killQemusUnder(tmp);
      if (!keep) rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    },
  };
  try {
    spawnDaemon();
    await readEndpoint();
  } catch (e) {
    await d.stop();
    throw e;
  }
  return d;
}
