// SPDX-License-Identifier: GPL-2.0-or-later
// channelpeer: tests/rdp-peer's qhm-rdp-peer (build/tests/qhm-rdp-peer, or
// $QHM_RDP_PEER) for the RDP channel tests, started as
// tests/integration/test_rdp_channels.py starts it: `qhm-rdp-peer PORT CERT KEY
// MODE` with a self-signed certificate made by openssl, in its own process
// group. It prints one line per event on stdout ("LISTENING", "ACTIVATED W H",
// "CLIP_RECV <hex>", "DISP_LAYOUT W H SCALE N", "SND_SENT N", ...): expect()
// waits for the first line starting with a prefix, seen before or coming.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, accessSync, constants, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './daemon.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const PEER = process.env.QHM_RDP_PEER || join(repo, 'build', 'tests', 'qhm-rdp-peer');
export const PEER_CLIP_TEXT = 'Grüße from the peer ✓ 𝄞'; // tests/rdp-peer/peer.c

// Why the peer cannot run here ('' when it can).
export function peerMissing() {
  try { accessSync(PEER, constants.X_OK); } catch { return `${PEER} not built (freerdp2-dev's freerdp-server2 missing?)`; }
  if (!process.env.PATH.split(':').some((d) => existsSync(join(d, 'openssl')))) return 'openssl missing';
  return '';
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  });
}

export async function startChannelPeer(tmp, mode) {
  const dir = join(tmp, 'rdp-peer-cert');
  if (!existsSync(join(dir, 'cert.pem'))) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=qhm-rdp-peer',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore', timeout: 60000 });
  }
  const port = await freePort();
  const proc = spawn(PEER, [String(port), join(dir, 'cert.pem'), join(dir, 'key.pem'), mode],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  proc.on('error', () => {});
  const lines = [];
  let waiters = [];
  let partial = '', stderr = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop();
    for (const l of parts) lines.push(l);
    for (const w of waiters) w();
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
  const peer = {
    port, lines, all: [], // every line ever printed (diagnostics)
    // The first unconsumed line starting with prefix, within ms; null if none.
    async expect(prefix, ms = 10000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = lines.findIndex((l) => l.startsWith(prefix));
        if (i >= 0) return lines.splice(i, 1)[0];
        const left = deadline - Date.now();
        if (left <= 0 || proc.exitCode !== null) return null;
        await new Promise((r) => {
          const w = () => { waiters = waiters.filter((x) => x !== w); clearTimeout(tm); r(); };
          const tm = setTimeout(w, Math.min(left, 200));
          waiters.push(w);
        });
      }
    },
    log: () => `stdout: ${JSON.stringify(peer.all.concat(lines).slice(-30))} stderr: ${stderr.slice(-800)}`,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) { try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ } }
      await sleep(50);
    },
  };
  // Keep consumed lines for the log too.
  const splice = lines.splice.bind(lines);
  lines.splice = (...a) => { const r = splice(...a); peer.all.push(...r); return r; };
  if (!(await peer.expect('LISTENING', 10000))) {
    const log = peer.log();
    await peer.stop();
    throw new Error(`qhm-rdp-peer (${mode}) did not start: ${log}`);
  }
  return peer;
}
