// SPDX-License-Identifier: GPL-2.0-or-later
// rdppeer: a real RDP server for the RDP console tests, as
// tests/integration/test_rdp.py starts it: Xvfb (1280x800, -noreset) with a
// solid #3366cc root (xsetroot) and an xterm running sh kept attached, served
// by `freerdp-shadow-cli /port:P /bind-address:127.0.0.1 -auth` (no
// authentication: any credentials are accepted). Each process gets its own
// process group; stop() kills the groups. Also: the pointer position on the X
// display (xdotool) and the daemon's RDP worker processes (for the
// "worker gone" test).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { waitFor, sleep } from './daemon.mjs';

export const BLUE = [0x33, 0x66, 0xcc];
export const XTERM_GEOMETRY = '60x10+700+500'; // characters; the root stays visible around it
const TOOLS = ['Xvfb', 'freerdp-shadow-cli', 'xdotool', 'xsetroot', 'xterm'];

export function missingTools() {
  return TOOLS.filter((t) => !process.env.PATH.split(':').some((d) => existsSync(join(d, t))));
}

// NSCodec (which the worker offers and the shadow server picks) is off by 1-2 per channel.
export const near = (rgb, want, tol = 6) => rgb.every((v, i) => Math.abs(v - want[i]) <= tol);

function freeDisplay() {
  // Another range than test_rdp.py's (91..) so parallel runs rarely meet; the lock file decides.
  for (let n = 140 + (process.pid % 40); n < 400; n++)
    if (!existsSync(`/tmp/.X11-unix/X${n}`) && !existsSync(`/tmp/.X${n}-lock`)) return n;
  throw new Error('no free X display number');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

const portOpen = (port) => new Promise((resolve) => {
  const c = connect({ host: '127.0.0.1', port }, () => { c.destroy(); resolve(true); });
  c.once('error', () => resolve(false));
  c.setTimeout(500, () => { c.destroy(); resolve(false); });
});

export async function startPeer(tmp) {
  const n = freeDisplay();
  const peer = {
    display: `:${n}`, port: await freePort(), procs: [], env: { ...process.env, DISPLAY: `:${n}` },
    logPath: join(tmp, `rdp-peer-${n}.log`),
    spawn(argv) {
      const fd = openSync(peer.logPath, 'a');
      const p = spawn(argv[0], argv.slice(1), { env: peer.env, stdio: ['ignore', fd, fd], detached: true });
      closeSync(fd);
      p.on('error', () => {});
      peer.procs.push(p);
      return p;
    },
    root(hex) { execFileSync('xsetroot', ['-solid', hex], { env: peer.env, timeout: 10000 }); },
    moveTo(x, y) { execFileSync('xdotool', ['mousemove', String(x), String(y)], { env: peer.env, timeout: 10000 }); },
    mouse() {
      const out = execFileSync('xdotool', ['getmouselocation'], { env: peer.env, timeout: 10000, encoding: 'utf8' });
      const d = Object.fromEntries(out.trim().split(/\s+/).map((kv) => kv.split(':')));
      return [Number(d.x), Number(d.y)];
    },
    async stop() {
      for (const p of [...peer.procs].reverse()) {
        if (p.exitCode === null && p.signalCode === null) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
      }
      await sleep(100);
    },
    log: () => { try { return readFileSync(peer.logPath, 'utf8').slice(-2000); } catch { return ''; } },
  };
  try {
    peer.spawn(['Xvfb', peer.display, '-screen', '0', '1280x800x24', '-noreset', '-nolisten', 'tcp']);
    await waitFor(`Xvfb ${peer.display}`, () => existsSync(`/tmp/.X11-unix/X${n}`), { timeoutMs: 10000, intervalMs: 50 });
    peer.root('#3366cc');
    peer.spawn(['xterm', '-geometry', XTERM_GEOMETRY, '-e', '/bin/sh']);
    peer.spawn(['freerdp-shadow-cli', `/port:${peer.port}`, '/bind-address:127.0.0.1', '-auth']);
    await waitFor(`freerdp-shadow-cli on ${peer.port}`, () => portOpen(peer.port), { timeoutMs: 15000, intervalMs: 100 });
  } catch (e) {
    await peer.stop();
    e.message += `; peer log: ${peer.log()}`;
    throw e;
  }
  return peer;
}

// PIDs of the daemon's RDP workers (children named qemu-hmos-rdp).
export function rdpWorkers(daemonPid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let st;
    try { st = readFileSync(`/proc/${d}/stat`, 'latin1'); } catch { continue; }
    const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
    const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === daemonPid && name.startsWith('qemu-hmos-rdp')) out.push(Number(d));
  }
  return out;
}
