#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Soak test (issue 12, "Soak and leaks"): does the daemon give back what repeated work takes?

  python3 bench/soak.py --build build        (on demand; not part of make check or make bench)

One real daemon (--port 0 --ws-port 0, a temporary data dir, --allow-path /usr/lib/memtest86+)
and one small x86_64 VM (memtest86+ ISO, 64 MiB, 1 CPU, no disk), then three phases:
  start/kill   --cycles (200) times: POST start (answered once QEMU runs), POST kill, wait for
               'stopped'
  vnc          --consoles (1000) times, the VM running: POST console (a ticket), open
               ws://.../vnc/ID?ticket=T, read the RFB greeting, close the socket
  events       --subscribers (500) times: POST events/ticket, open ws://.../events?ticket=T,
               close the socket
Before and after each phase: the daemon's VmRSS (/proc/PID/status) and its open fds
(/proc/PID/fd), sampled once the daemon has been idle for --settle seconds; the growth in % is
judged against the target (<= 5 %). Each phase first runs --warmup rounds that are not counted
(lazily loaded libraries, first-use caches and the allocator's first arenas are not leaks); at
each fifth of a phase RSS and fds are logged too (a leak keeps growing, a cache levels off), and
"last 4/5" is the RSS growth from the first fifth's sample to the last (shown, not judged).

Peers, in the same run, each measured the same way (same --warmup, samples after --settle idle
seconds, a sample at each fifth), printed on the row below the daemon's (shown, not judged):
  start/kill   libvirt's QEMU driver: Debian's monolithic `libvirtd` (the only daemon libvirt 9.0
               ships in Debian 12), started here in the foreground in session mode (qemu:///session)
               with private XDG config/runtime/cache/data directories in a temp dir, so it neither
               reads nor touches /etc/libvirt or /run/libvirt; as root it runs as the unprivileged
               user qemu-hmos (the user the daemon runs QEMU as). A private qemu.conf sets
               stdio_handler = "file" (no virtlogd). The same guest (domain type='qemu', i.e. TCG,
               q35, cpu max, 64 MiB, 1 vCPU, no disk, the memtest86+ ISO on a SATA CD-ROM, VGA,
               qemu-xhci + usb-tablet, virtio-serial with the vdagent and guest-agent ports, user
               networking with an e1000e, VNC on a unix socket), defined once; each round is
               `virsh -c qemu+unix:///session?socket=SOCK start soak`, `virsh destroy soak`, then
               `virsh domstate soak` until "shut off". Sampled: libvirtd's VmRSS and fds.
  vnc          websockify (Debian package, as bench/bridge.py runs it):
               `websockify --unix-target=DATA/vms/ID/run/vnc.sock 127.0.0.1:PORT`, the same VM's
               QEMU VNC socket, still running; each round opens ws://127.0.0.1:PORT/ (subprotocol
               "binary"), reads the RFB greeting and closes. websockify forks a child per client
               that exits with it: sampled is the parent (the listening process).
  events       no peer: nothing else serves this stream.
A peer that cannot run (not installed, fails to start or to do a round) is reported with its error
text in the table's notes and in the JSON; the daemon's figures stand either way. --no-peers skips
them.

Guests run under TCG unless --kvm (as the tests do: QHM_NO_KVM=1; the libvirt guest is TCG always).
Prints a table and writes it to bench/results/soak-latest.json (each phase as before, plus "peer":
{"name", "how", the same figures} or {"name", "error"} or {"name": null, "note"}). The daemon,
libvirtd, websockify and every QEMU they run are ended on exit, errors and SIGINT/SIGTERM included.
Python 3 standard library plus tests/integration/{harness,wsclient}.py.
"""

import argparse
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))

import harness  # noqa: E402
import wsclient  # noqa: E402

TARGET_GROWTH_PCT = 5.0


class Abort(BaseException):
    """Raised from a signal handler so that cleanup runs."""


def log(msg):
    sys.stderr.write('[soak %s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def sample(pid):
    """{'rss_kib', 'fds'} of PID."""
    rss = None
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                rss = int(line.split()[1])
    return {'rss_kib': rss, 'fds': len(os.listdir('/proc/%d/fd' % pid))}


def settled(pid, secs):
    time.sleep(secs)
    return sample(pid)


def growth(before, after):
    return 100.0 * (after - before) / before if before else 0.0


# ----------------------------------------------------------------------------------------------
# Phases: each round function takes the round number and does one round


def start_kill(d, vid):
    def one(i):
        d.action(vid, 'start')
        d.action(vid, 'kill')
        d.wait_state(vid, 'stopped', timeout=30, interval=0.02)
    return one


def read_greeting(url):
    """Open the WebSocket URL (subprotocol "binary"), read the 12-byte RFB greeting, close."""
    hs = wsclient.open_ws(url, protocols=['binary'], timeout=10)
    if hs.status != 101:
        raise RuntimeError('VNC upgrade refused: %d %s' % (hs.status, hs.text()))
    try:
        greeting = hs.ws.recv_stream(12, timeout=10)
        if not greeting.startswith(b'RFB '):
            raise RuntimeError('no RFB greeting: %r' % greeting)
    finally:
        hs.ws.close()


def vnc_console(d, vid):
    def one(i):
        t = d.ok('POST', '/api/v1/vms/%s/console' % vid, body={'protocol': 'vnc'})
        read_greeting(t['url'])
    return one


def events_subscriber(d, vid):
    def one(i):
        t = d.ok('POST', '/api/v1/events/ticket')
        hs = wsclient.open_ws(t['url'], timeout=10)
        if hs.status != 101:
            raise RuntimeError('events upgrade refused: %d %s' % (hs.status, hs.text()))
        hs.ws.close()
    return one


def run_phase(pid, name, fn, rounds, warmup, settle):
    """WARMUP uncounted rounds of FN, then ROUNDS counted ones; PID's RSS and fds settled before
    and after, and unsettled at each fifth."""
    for i in range(warmup):
        fn(i)
    before = settled(pid, settle)
    t0 = time.monotonic()
    trend = []  # (rounds done, sample) at each fifth, unsettled: does it level off or keep growing?
    for i in range(rounds):
        fn(i)
        if (i + 1) % max(1, rounds // 5) == 0:
            s = sample(pid)
            trend.append([i + 1, s['rss_kib'], s['fds']])
            log('%s: %d/%d (%.0f s), RSS %d KiB, %d fds' % (name, i + 1, rounds, time.monotonic() - t0,
                                                          s['rss_kib'], s['fds']))
    secs = time.monotonic() - t0
    after = settled(pid, settle)
    return {'phase': name, 'rounds': rounds, 'warmup': warmup, 'seconds': round(secs, 1),
            'before': before, 'after': after, 'trend': trend,
            'rss_growth_pct': round(growth(before['rss_kib'], after['rss_kib']), 2),
            # from the first fifth's sample to the last: what a leak adds once caches have filled
            'rss_growth_late_pct': round(growth(trend[0][1], trend[-1][1]), 2) if trend else 0.0,
            'fd_growth_pct': round(growth(before['fds'], after['fds']), 2)}


# ----------------------------------------------------------------------------------------------
# Peers


class PeerError(Exception):
    """A peer could not run; the text says why (shown in the table's notes and the JSON)."""


def pkg_version(pkg):
    try:
        p = subprocess.run(['dpkg-query', '-W', '-f=${Version}', pkg], capture_output=True, text=True, timeout=10)
        return p.stdout.strip() if p.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def stop_proc(p, grace=10.0):
    """SIGTERM P (a Popen started in its own session) and its group, SIGKILL after GRACE s."""
    if p is None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if p.poll() is not None:
            break
        try:
            os.killpg(p.pid, sig)
        except OSError:
            pass
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            pass
    try:  # children left in the group (websockify's per-client processes)
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass


def file_tail(path, n=15):
    try:
        with open(path, 'rb') as f:
            return '\n'.join(f.read().decode(errors='replace').splitlines()[-n:])
    except OSError:
        return '(no log)'


LIBVIRT_DOMAIN = """<domain type='qemu'>
  <name>soak</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='cdrom'/></os>
  <features><acpi/></features>
  <cpu mode='maximum' check='none'/>
  <clock offset='utc'/>
  <devices>
    <emulator>{qemu}</emulator>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/><source file='{iso}'/><target dev='sda' bus='sata'/><readonly/>
    </disk>
    <controller type='usb' model='qemu-xhci'/>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' socket='{vnc}'/>
    <video><model type='vga'/></video>
    <channel type='qemu-vdagent'>
      <source><clipboard copypaste='yes'/></source><target type='virtio' name='com.redhat.spice.0'/>
    </channel>
    <channel type='unix'><source mode='bind'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <interface type='user'><model type='e1000e'/></interface>
    <memballoon model='none'/>
  </devices>
</domain>
"""


class Libvirt:
    """libvirtd in the foreground, session mode, private directories under a temp dir; the soak
    guest defined in it. As root it runs as the unprivileged user USER."""

    def __init__(self, user='qemu-hmos'):
        self.proc = None
        self.root = None
        self.pid = None
        self.user = user
        version = pkg_version('libvirt-daemon')
        self.name = 'libvirtd %s' % version if version else 'libvirtd'
        self.libvirtd = shutil.which('libvirtd') or ('/usr/sbin/libvirtd' if os.path.exists('/usr/sbin/libvirtd')
                                                     else None)
        self.virsh_exe = shutil.which('virsh')

    def start(self):
        """Start libvirtd and define the guest; returns the round function (start, destroy, wait)."""
        user = self.user
        if not self.libvirtd or not self.virsh_exe:
            raise PeerError('libvirtd or virsh not installed (scripts/install-deps.sh bench: libvirt-daemon, '
                            'libvirt-daemon-driver-qemu, libvirt-clients)')
        qemu = shutil.which('qemu-system-x86_64')
        if not qemu:
            raise PeerError('qemu-system-x86_64 not installed')
        ids = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(user)
            except KeyError:
                raise PeerError('no user %s to run libvirtd unprivileged as (scripts/install-deps.sh creates it)'
                                % user) from None
            ids = (pw.pw_uid, pw.pw_gid)
        self.root = tempfile.mkdtemp(prefix='qhm-soak-libvirt-')
        os.chmod(self.root, 0o711)
        dirs = {k: os.path.join(self.root, k) for k in ('config', 'runtime', 'cache', 'data')}
        for path in list(dirs.values()) + [os.path.join(dirs['config'], 'libvirt')]:
            os.makedirs(path, exist_ok=True)
        os.chmod(dirs['runtime'], 0o700)
        with open(os.path.join(dirs['config'], 'libvirt', 'qemu.conf'), 'w') as f:
            f.write('# bench/soak.py: QEMU\'s output to a file, no virtlogd\nstdio_handler = "file"\n')
        self.xml = os.path.join(self.root, 'soak.xml')
        with open(self.xml, 'w') as f:
            f.write(LIBVIRT_DOMAIN.format(qemu=qemu, iso=harness.MEMTEST_ISO,
                                          vnc=os.path.join(self.root, 'vnc.sock')))
        if ids:
            for dirpath, dirnames, filenames in os.walk(self.root):
                for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
                    os.chown(n, *ids)
        self.sock = os.path.join(dirs['runtime'], 'libvirt', 'libvirt-sock')
        self.uri = 'qemu+unix:///session?socket=' + self.sock
        self.logpath = os.path.join(self.root, 'libvirtd.log')
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C', 'HOME': self.root,
               'XDG_CONFIG_HOME': dirs['config'], 'XDG_RUNTIME_DIR': dirs['runtime'],
               'XDG_CACHE_HOME': dirs['cache'], 'XDG_DATA_HOME': dirs['data']}
        kw = {'user': ids[0], 'group': ids[1], 'extra_groups': []} if ids else {}
        logf = open(self.logpath, 'wb')
        try:
            # Foreground (no --daemon): self.proc.pid is libvirtd itself. Its own session, so a
            # terminal's SIGINT reaches only this script, which ends it.
            self.proc = subprocess.Popen([self.libvirtd], stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, env=env, cwd=self.root,
                                         start_new_session=True, **kw)
        finally:
            logf.close()
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise PeerError('libvirtd exited with %s:\n%s' % (self.proc.returncode, file_tail(self.logpath)))
            if os.path.exists(self.sock):
                p = subprocess.run([self.virsh_exe, '-q', '-c', self.uri, 'version'], capture_output=True,
                                   text=True, timeout=30)
                if p.returncode == 0:
                    break
            if time.monotonic() > deadline:
                raise PeerError('libvirtd did not answer on %s in 30 s:\n%s' % (self.sock, file_tail(self.logpath)))
            time.sleep(0.1)
        self.virsh('define', self.xml)
        self.pid = self.proc.pid
        return self.start_kill()

    def virsh(self, *args, timeout=60):
        p = subprocess.run([self.virsh_exe, '-q', '-c', self.uri] + list(args), capture_output=True,
                           text=True, timeout=timeout)
        if p.returncode != 0:
            raise PeerError('virsh %s: %s\nlibvirtd log:\n%s' % (' '.join(args), (p.stderr or p.stdout).strip(),
                                                                 file_tail(self.logpath)))
        return p.stdout.strip()

    def start_kill(self):
        def one(i):
            self.virsh('start', 'soak')
            self.virsh('destroy', 'soak')
            deadline = time.monotonic() + 30
            while self.virsh('domstate', 'soak') != 'shut off':
                if time.monotonic() > deadline:
                    raise PeerError('libvirt: soak not shut off 30 s after destroy')
                time.sleep(0.02)
        return one

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                subprocess.run([self.virsh_exe, '-q', '-c', self.uri, 'destroy', 'soak'], capture_output=True,
                               timeout=15)
            except (OSError, subprocess.SubprocessError):
                pass
        stop_proc(self.proc)
        if self.root:
            harness.kill_qemus(self.root)  # libvirt daemonizes QEMU: not in libvirtd's group
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


class Websockify:
    """`websockify --unix-target=TARGET 127.0.0.1:PORT` in its own session (its per-client
    children go with the group on stop)."""

    def __init__(self, target):
        self.proc = None
        self.logf = None
        self.pid = None
        self.target = target
        version = pkg_version('websockify')
        self.name = 'websockify %s' % version if version else 'websockify'

    def start(self):
        """Start websockify; returns the round function (open, read the greeting, close)."""
        target = self.target
        exe = shutil.which('websockify')
        if not exe:
            raise PeerError('websockify is not installed (scripts/install-deps.sh bench)')
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            self.port = s.getsockname()[1]
        self.logf = tempfile.NamedTemporaryFile(prefix='qhm-soak-websockify-', suffix='.log')
        self.proc = subprocess.Popen([exe, '--unix-target=%s' % target, '127.0.0.1:%d' % self.port],
                                     stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise PeerError('websockify exited with %s:\n%s' % (self.proc.returncode, file_tail(self.logf.name)))
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise PeerError('websockify did not listen in 15 s:\n%s' % file_tail(self.logf.name))
                time.sleep(0.05)
        self.pid = self.proc.pid
        self.url = 'ws://127.0.0.1:%d/' % self.port

        def one(i):
            read_greeting(self.url)
        return one

    def stop(self):
        stop_proc(self.proc, grace=5.0)
        if self.logf:
            self.logf.close()


def run_peer(peers, peer, how, name, rounds, warmup, settle):
    """Start PEER (kept in PEERS meanwhile, for cleanup on a signal), run its phase, stop it. A
    failure of the peer is returned as {'name', 'how', 'error'}, not raised: the daemon's figures
    stand."""
    peers.append(peer)
    try:
        fn = peer.start()
        log('peer %s pid %d' % (peer.name, peer.pid))
        r = run_phase(peer.pid, '%s [%s]' % (name, peer.name), fn, rounds, warmup, settle)
        del r['phase']
        return dict({'name': peer.name, 'how': how}, **r)
    except Exception as e:  # noqa: BLE001
        log('peer %s failed: %s' % (peer.name, e))
        return {'name': peer.name, 'how': how, 'error': str(e)}
    finally:
        peer.stop()
        peers.remove(peer)


NO_PEER_EVENTS = 'no peer (nothing else serves this stream)'


def verdict(pct):
    return 'ok' if pct <= TARGET_GROWTH_PCT else 'OVER'


def print_table(rows, out=sys.stdout):
    """The daemon's row of each phase, its peer's on the row below; peers' errors as notes."""
    hdr = ('phase', 'who', 'rounds', 'time s', 'RSS before KiB', 'RSS after KiB', 'RSS growth', 'last 4/5',
           'fds before', 'fds after', 'fd growth', 'target')

    def figures(r, judged):
        v = (lambda pct: ' ' + verdict(pct)) if judged else (lambda pct: '')
        return (str(r['rounds']), '%.1f' % r['seconds'], str(r['before']['rss_kib']), str(r['after']['rss_kib']),
                '%+.2f %%%s' % (r['rss_growth_pct'], v(r['rss_growth_pct'])), '%+.2f %%' % r['rss_growth_late_pct'],
                str(r['before']['fds']), str(r['after']['fds']),
                '%+.2f %%%s' % (r['fd_growth_pct'], v(r['fd_growth_pct'])))
    lines = [hdr]
    notes = []
    for r in rows:
        lines.append((r['phase'], 'qemu-hmos') + figures(r, True) + ('<= %.0f %%' % TARGET_GROWTH_PCT,))
        peer = r.get('peer')
        if not peer:
            continue
        if peer.get('name') is None:
            lines.append(('', peer['note']))  # a text running over the columns
        elif 'error' in peer:
            notes.append('%s (%s) could not run: %s' % (peer['name'], r['phase'], peer['error']))
            lines.append(('', '%s: FAILED, see note %d' % (peer['name'], len(notes))))
        else:
            lines.append(('', peer['name']) + figures(peer, False) + ('peer, not judged',))
    w = [max(len(x[i]) for x in lines if len(x) == len(hdr)) for i in range(len(hdr))]
    for n, ln in enumerate(lines):
        out.write('  '.join(c.ljust(w[i]) for i, c in enumerate(ln)).rstrip() + '\n')
        if n == 0:
            out.write('  '.join('-' * x for x in w) + '\n')
    for r in rows:
        peer = r.get('peer') or {}
        if peer.get('how') and 'error' not in peer:
            out.write('peer %s: %s\n' % (peer['name'], peer['how']))
    for i, t in enumerate(notes, 1):
        out.write('note %d: %s\n' % (i, t))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default='build', help='build dir holding qemu-hmos (default build)')
    ap.add_argument('--cycles', type=int, default=200, help='start/kill cycles (200)')
    ap.add_argument('--consoles', type=int, default=1000, help='VNC consoles opened and closed (1000)')
    ap.add_argument('--subscribers', type=int, default=500, help='event subscribers joining and leaving (500)')
    ap.add_argument('--warmup', type=int, default=5, help='uncounted rounds before each phase (5)')
    ap.add_argument('--settle', type=float, default=2.0, help='idle seconds before each sample (2)')
    ap.add_argument('--kvm', action='store_true', help='let the guest use KVM (default: TCG)')
    ap.add_argument('--no-peers', action='store_true', help='skip libvirtd and websockify')
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'soak-latest.json'))
    a = ap.parse_args()
    binary = os.path.abspath(os.path.join(a.build, 'qemu-hmos'))
    if not os.path.exists(harness.MEMTEST_ISO):
        sys.exit('soak: %s missing (Debian package memtest86+)' % harness.MEMTEST_ISO)
    if not a.kvm:
        os.environ['QHM_NO_KVM'] = '1'

    def on_signal(signum, frame):
        raise Abort('signal %d' % signum)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    d = harness.Daemon(binary=binary, allow_paths=['/usr/lib/memtest86+'])
    peers = []  # the peer running now, if any: stopped in `finally` too
    rows = []
    try:
        d.start(timeout=30)
        log('daemon %s pid %d, data %s' % (binary, d.proc.pid, d.data_dir))
        vid = d.create(name='soak', arch='x86_64', memory_mib=64, cpus=1, disks=[],
                       cdrom=harness.MEMTEST_ISO)['id']
        pid = d.proc.pid
        rows.append(run_phase(pid, 'start/kill', start_kill(d, vid), a.cycles, a.warmup, a.settle))
        if not a.no_peers:
            rows[-1]['peer'] = run_peer(
                peers, Libvirt(), 'libvirtd in the foreground, session mode (qemu:///session) with private '
                'XDG dirs, as the unprivileged user qemu-hmos when run as root; the same TCG guest; virsh start, '
                'virsh destroy, virsh domstate until "shut off"', 'start/kill', a.cycles, a.warmup, a.settle)
        d.action(vid, 'start')
        rows.append(run_phase(pid, 'vnc open/close', vnc_console(d, vid), a.consoles, a.warmup, a.settle))
        if not a.no_peers:
            vnc = os.path.join(d.data_dir, 'vms', vid, 'run', 'vnc.sock')
            rows[-1]['peer'] = run_peer(
                peers, Websockify(vnc), 'websockify --unix-target=<the same VM\'s QEMU VNC socket>, a WebSocket '
                'per round reading the RFB greeting; its parent process sampled (a child per client exits with it)',
                'vnc open/close', a.consoles, a.warmup, a.settle)
        rows.append(run_phase(pid, 'events join/leave', events_subscriber(d, vid), a.subscribers, a.warmup,
                              a.settle))
        if not a.no_peers:
            rows[-1]['peer'] = {'name': None, 'note': NO_PEER_EVENTS}
        d.dispose(vid)
    except Abort as e:
        log('aborted: %s' % e)
        return 130
    except Exception as e:  # noqa: BLE001
        log('failed: %s\ndaemon stderr:\n%s' % (e, d.stderr_tail(30)))
        return 1
    finally:
        for p in list(peers):
            p.stop()
        d.teardown()

    print('qemu-hmos soak (%s, %s, %d CPUs); VmRSS and open fds before/after each phase, each peer below the '
          'daemon, same run' % (platform.node(), platform.machine(), os.cpu_count()))
    print_table(rows)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump({'when': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'binary': binary,
                   'target_growth_pct': TARGET_GROWTH_PCT, 'phases': rows}, f, indent=1)
    print('written to %s' % os.path.relpath(a.out, os.getcwd()))
    over = [r for r in rows if r['rss_growth_pct'] > TARGET_GROWTH_PCT or r['fd_growth_pct'] > TARGET_GROWTH_PCT]
    return 1 if over else 0


if __name__ == '__main__':
    sys.exit(main())
