# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration test harness: a real qemu-hmos daemon on port 0 with a
temporary data directory, talking to real QEMU.

- Daemon: start / kill -9 / restart on the same data dir, api(), wait_state().
- Cleanup: the daemon, then every QEMU process (qemu-system-*, or one in a
  native child of the child launcher) whose command line mentions the data
  dir (VMs run in their own session and outlive the daemon by design, so they
  are killed explicitly).
- Screens: real_frame() tells a guest-drawn screenshot from QEMU's 640x480
  placeholders ("Guest has not initialized the display (yet)."; QEMU 10's
  virtio-gpu-pci: "Display output is not active."), using the exact pixels
  captured once from this QEMU and from our build (paused with -S).
- Guests: guests.py builds the tiny boot CDs.

Environment: QHM_DAEMON (daemon path, set by run.py), QHM_KEEP=1 keeps data
dirs, QHM_WORK (shared scratch dir for ISOs and the placeholder reference),
QHM_SANITIZER_LOG (a file: every sanitizer report a daemon wrote to its stderr
is appended there before its data dir goes, and a stopped daemon gets 60 s, not
5, to exit by itself so that LeakSanitizer can report; tests/asan/run.py).
"""

import atexit
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import guests  # noqa: E402
import openapi  # noqa: E402
import png  # noqa: E402

MEMTEST_ISO = '/usr/lib/memtest86+/memtest86+x64.iso'
MEMTEST_IA32_ISO = '/usr/lib/memtest86+/memtest86+ia32.iso'
GRUB_RESCUE_ISO = '/usr/lib/grub-rescue/grub-rescue-cdrom.iso'
QCOW2_MAGIC = b'QFI\xfb'
# memtest86+ with a disk to keep snapshots on (test_snapshots, test_launcher)
MEMTEST_WITH_DISK = dict(memory_mib=128, disks=[{'size_gib': 1}], cdrom=MEMTEST_ISO, boot_order=['cdrom', 'disk'])


def daemon_path():
    p = os.environ.get('QHM_DAEMON') or os.path.join(REPO, 'build', 'qemu-hmos')
    return os.path.abspath(p)


_work_dir = None


def work_dir():
    """A scratch directory shared by all tests of this run (ISOs, references)."""
    global _work_dir
    if _work_dir is None:
        _work_dir = os.environ.get('QHM_WORK')
        if _work_dir:
            os.makedirs(_work_dir, exist_ok=True)
        else:
            _work_dir = tempfile.mkdtemp(prefix='qhm-it-work-')
            atexit.register(lambda: shutil.rmtree(_work_dir, ignore_errors=True))
        # QEMU opens the ISOs built here; run as root, the daemon runs it as an unprivileged user
        os.chmod(_work_dir, 0o755)
    return _work_dir


def guest_iso(kind):
    return guests.build_iso(kind, work_dir())


VM_USER = 'qemu-hmos'  # the daemon's default --run-as


def vm_user_ids():
    """(uid, gid) that QEMU runs as under a daemon run as root (the tests' own when not root)."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    import pwd
    pw = pwd.getpwnam(VM_USER)
    return pw.pw_uid, pw.pw_gid


# --------------------------------------------------------------------------
# Processes


def proc_cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [a.decode(errors='replace') for a in f.read().split(b'\0')[:-1]]
    except OSError:
        return None


def proc_state(pid):
    """The one-letter state from /proc/PID/stat, or None if there is no such process."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
        return s[s.rindex(')') + 2]
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid):
    """True if PID exists and is not a zombie."""
    st = proc_state(pid)
    return st is not None and st not in ('Z', 'X')


def is_qemu_system(argv):
    """ARGV is a QEMU system emulator's: qemu-system-* itself, or a native child of the child
    launcher (qemu-hmos-child LIB.so:Main "qhm1 FLAGS .../libqemu-system-ARCH.so:ENTRY ...")."""
    prog = os.path.basename(argv[0])
    if prog == 'qemu-hmos-child':
        params = argv[2].split(' ', 3) if len(argv) > 2 else []
        return len(params) > 2 and '/libqemu-system-' in params[2]
    return prog.startswith('qemu-system')


def qemu_pids(marker):
    """PIDs of live QEMU system emulators (is_qemu_system) whose command line contains MARKER."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        pid = int(name)
        argv = proc_cmdline(pid)
        if not argv:
            continue
        if is_qemu_system(argv) and any(marker in a for a in argv):
            if pid_alive(pid):
                out.append(pid)
    return out


def kill_qemus(marker, timeout=5.0):
    pids = qemu_pids(marker)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.time() + timeout
    while time.time() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    return pids


def wait_pid_gone(pid, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


# --------------------------------------------------------------------------
# qcow2 files, read and written by the tests themselves (qemu-utils)

QEMU_IMG = shutil.which('qemu-img') or '/usr/bin/qemu-img'
QEMU_IO = shutil.which('qemu-io') or '/usr/bin/qemu-io'


def qemu_io(path, cmd, fmt='qcow2'):
    """Run one qemu-io command (e.g. 'write -P 0x5a 0 64k', 'read -P 0x5a 0 64k') on an image no
    QEMU has open; True when it succeeded (a read with -P checks the pattern)."""
    p = subprocess.run([QEMU_IO, '-f', fmt, '-c', cmd, path], capture_output=True, text=True, timeout=60)
    return p.returncode == 0 and 'Pattern verification failed' not in p.stdout + p.stderr


def image_info(path):
    """qemu-img info of PATH as a dict (-U: also while QEMU has it open)."""
    out = subprocess.run([QEMU_IMG, 'info', '--output=json', '-U', path], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return json.loads(out)


def image_snapshots(path):
    return [s['name'] for s in image_info(path).get('snapshots', [])]


# --------------------------------------------------------------------------
# KVM: an independent probe, to check what the daemon reports.


def iso_tree(tc, iso):
    """(the files of ISO, its volume label), read back with xorriso; asserts on TC that it could."""
    r = subprocess.run(['xorriso', '-indev', iso, '-find', '/', '-type', 'f'], capture_output=True, text=True)
    tc.assertEqual(r.returncode, 0, r.stderr)
    files = sorted(line.strip().strip("'") for line in r.stdout.splitlines() if line.startswith("'/"))
    r = subprocess.run(['xorriso', '-indev', iso, '-pvd_info'], capture_output=True, text=True)
    label = re.search(r'Volume Id\s*:\s*(\S+)', r.stdout + r.stderr)
    return files, label.group(1) if label else None


def kvm_probe():
    """(usable, reason): /dev/kvm opens read-write, API version 12, KVM_CREATE_VM
    works, and QEMU really runs a KVM guest with `-cpu host` (on some nested
    hosts the ioctls work but QEMU aborts setting the first MSRs)."""
    ok, why = _kvm_ioctl_probe()
    if not ok:
        return ok, why
    try:
        q = BareQemu('/usr/bin/qemu-system-x86_64', ['-accel', 'kvm', '-cpu', 'host', '-m', '64'], work_dir())
    except Exception as e:  # noqa: BLE001  (QEMU died before QMP answered)
        return False, 'QEMU with -accel kvm -cpu host failed: %s' % e
    try:
        r = q.qmp.cmd('query-kvm')
        time.sleep(0.3)
        alive = q.proc.poll() is None
        out = q.output()
    finally:
        q.kill()
    if not (alive and r.get('return', {}).get('enabled')):
        return False, 'QEMU with -accel kvm -cpu host failed: %r %s' % (r, out.strip())
    return _kvm_speed_probe()


def _kvm_speed_probe(deadline_s=3.0):
    """SeaBIOS, with nothing to boot, must reach "No bootable device" quickly under KVM (TCG:
    ~0.1 s here). A paravirtual nested KVM seen here emulates real mode and takes ~4.5 s."""
    log = os.path.join(work_dir(), 'kvm-speed-%d.log' % os.getpid())
    proc = subprocess.Popen(['/usr/bin/qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host', '-machine', 'q35',
                             '-m', '64', '-display', 'none', '-nodefaults', '-debugcon', 'file:' + log,
                             '-global', 'isa-debugcon.iobase=0x402'],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    try:
        while time.time() - t0 < deadline_s and proc.poll() is None:
            try:
                with open(log, 'rb') as f:
                    if b'No bootable device' in f.read():
                        return True, 'KVM works with QEMU; SeaBIOS done in %.2f s' % (time.time() - t0)
            except OSError:
                pass
            time.sleep(0.02)
        return False, 'SeaBIOS under KVM did not finish within %.0f s (slow nested KVM)' % deadline_s
    finally:
        proc.kill()
        proc.wait()
        try:
            os.unlink(log)
        except OSError:
            pass


def _kvm_ioctl_probe():
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return False, '/dev/kvm: ' + e.strerror
    try:
        v = fcntl.ioctl(fd, 0xAE00)  # KVM_GET_API_VERSION
        if v != 12:
            return False, 'KVM_GET_API_VERSION %d' % v
        try:
            vmfd = fcntl.ioctl(fd, 0xAE01, 0)  # KVM_CREATE_VM
            os.close(vmfd)
        except OSError as e:
            return False, 'KVM_CREATE_VM: ' + e.strerror
        return True, 'KVM API version 12'
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# Bare QEMU (used to validate guests and to capture the placeholder)


class QMP:
    """Minimal QMP client for a bare QEMU started by a test."""

    def __init__(self, path, timeout=10.0):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.settimeout(timeout)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.f = self.sock.makefile('rw')
        self.events = []
        self.greeting = json.loads(self.f.readline())
        self.cmd('qmp_capabilities')

    def cmd(self, name, **args):
        m = {'execute': name}
        if args:
            m['arguments'] = args
        self.f.write(json.dumps(m) + '\n')
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError('QMP closed')
            r = json.loads(line)
            if 'event' in r:
                self.events.append(r)
                continue
            return r

    def wait_event(self, name, timeout):
        for e in self.events:
            if e['event'] == name:
                return e
        self.sock.settimeout(timeout)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.f.readline()
            except (socket.timeout, OSError):
                break
            if not line:
                break
            r = json.loads(line)
            if 'event' in r:
                self.events.append(r)
                if r['event'] == name:
                    return r
        return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class BareQemu:
    """A QEMU started directly by the test (not through the daemon)."""

    def __init__(self, binary, args, workdir, cont=False):
        """Start BINARY ARGS paused (-S) with a QMP socket; CONT resumes it once
        QMP is connected (so that no event is missed however fast the guest is)."""
        self.sock = os.path.join(workdir, 'bare-%d-%d.qmp' % (os.getpid(), int(time.time() * 1e6)))
        self.log = self.sock + '.log'
        self.logf = open(self.log, 'wb')
        self.proc = subprocess.Popen([binary] + args + ['-S', '-display', 'none', '-nodefaults',
                                                         '-qmp', 'unix:%s,server=on,wait=off' % self.sock],
                                     stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT)
        self.qmp = None
        try:
            deadline = time.time() + 10
            while not os.path.exists(self.sock):
                if self.proc.poll() is not None:
                    raise RuntimeError('QEMU exited with %s: %s' % (self.proc.returncode, self.output().strip()))
                if time.time() > deadline:
                    raise RuntimeError('QEMU did not create its QMP socket')
                time.sleep(0.02)
            self.qmp = QMP(self.sock)
            if cont:
                self.qmp.cmd('cont')
        except Exception:
            self.kill()
            raise

    def screendump(self):
        fn = self.sock + '.png'
        r = self.qmp.cmd('screendump', filename=fn, format='png')
        if 'error' in r:
            raise RuntimeError('screendump: %r' % r)
        with open(fn, 'rb') as f:
            data = f.read()
        os.unlink(fn)
        return data

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def output(self):
        with open(self.log, 'rb') as f:
            return f.read().decode(errors='replace')

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.qmp:
            self.qmp.close()
        self.logf.close()
        for p in (self.sock, self.log):
            try:
                os.unlink(p)
            except OSError:
                pass


# --------------------------------------------------------------------------
# Our QEMU 10 build (qemu-build/, `make qemu`)

# QHM_QEMU_CACHE moves it, for qemu-build/build.sh and the daemon alike.
QEMU_BUILD_CACHE = os.environ.get('QHM_QEMU_CACHE') or '/var/cache/qemu-hmos/qemu-build'


def needs_qemu_build(obj):
    """Marks a test class or method that runs our QEMU 10 build: run.py --qemu-build without|only
    leaves it out or runs only it. make check starts the build in the background and runs these
    tests once it is done (tests/run_all.py); each still skips, saying why, where there is none."""
    obj.needs_qemu_build = True
    return obj
QEMU_LOADER_C = os.path.join(REPO, 'qemu-build', 'qhm-qemu-load.c')


def qemu_build_manifest():
    """The manifest of the build `serve --qemu built` runs (the newest DIR/HASH/manifest.json, as
    server/core/host_qemu.c picks it), parsed; None when the cache has none."""
    best = None
    try:
        names = os.listdir(QEMU_BUILD_CACHE)
    except OSError:
        return None
    for name in names:
        path = os.path.join(QEMU_BUILD_CACHE, name, 'manifest.json')
        if name.startswith('.') or not os.path.exists(path):
            continue
        if best is None or os.path.getmtime(path) >= os.path.getmtime(best):
            best = path
    if best is None:
        return None
    with open(best) as f:
        return json.load(f)


def no_qemu_build_reason():
    """Why tests of the built QEMU cannot run here (a skip reason), or None."""
    if qemu_build_manifest() is None:
        return 'no QEMU build in %s (make qemu builds it)' % QEMU_BUILD_CACHE
    return None


_loader = None


def qemu_build_loader():
    """qemu-build/qhm-qemu-load, compiled once into work_dir(): runs a QEMU library's entry."""
    global _loader
    if _loader is None:
        path = os.path.join(work_dir(), 'qhm-qemu-load')
        if not os.path.exists(path):
            subprocess.run(['cc', '-O2', '-Wall', '-Werror', '-o', path + '.part', QEMU_LOADER_C, '-ldl'], check=True)
            os.rename(path + '.part', path)
        _loader = path
    return _loader


def built_qemu(manifest, variant, arch, args, cont=False):
    """A BareQemu of MANIFEST's VARIANT library for ARCH (TCG, its -L data directories)."""
    largs = []
    for d in manifest['L']:
        largs += ['-L', d]
    return BareQemu(qemu_build_loader(), [manifest['variants'][variant]['libraries'][arch]] + largs +
                    ['-accel', 'tcg'] + args, work_dir(), cont=cont)


# --------------------------------------------------------------------------
# Screenshots

_placeholders = {}


def _capture_placeholder(key, start):
    """The screen of the QEMU START() returns (paused with -S), as KEY.png in work_dir() once."""
    if key not in _placeholders:
        ref = os.path.join(work_dir(), key + '.png')
        if not os.path.exists(ref):
            q = start()
            try:
                data = q.screendump()
            finally:
                q.kill()
            with open(ref + '.part', 'wb') as f:
                f.write(data)
            os.rename(ref + '.part', ref)
        with open(ref, 'rb') as f:
            img = png.decode(f.read())
        if img.size != (640, 480) or img.is_single_colour():
            raise RuntimeError('unexpected placeholder %s from QEMU: %r, single colour %r'
                               % (key, img.size, img.is_single_colour()))
        _placeholders[key] = img
    return _placeholders[key]


def placeholder_image():
    """QEMU's 'Guest has not initialized the display (yet).' surface, captured
    from this QEMU paused before the first instruction (-S)."""
    return _capture_placeholder('placeholder', lambda: BareQemu(
        '/usr/bin/qemu-system-x86_64', ['-m', '32', '-device', 'VGA'], work_dir()))


def built_placeholder_image():
    """QEMU 10's virtio-gpu-pci shows another placeholder from the start ('Display output is not
    active.'; Debian's 7.2 showed the one above): captured from the QEMU build `serve --qemu built`
    runs (aarch64, paused), None without a build."""
    m = qemu_build_manifest()
    if m is None:
        return None
    return _capture_placeholder('placeholder-%s-virtio-gpu' % m['hash'], lambda: built_qemu(
        m, 'tcg', 'aarch64', ['-M', 'virt', '-m', '64', '-device', 'virtio-gpu-pci']))


def is_placeholder(img):
    if img.size != (640, 480):
        return False
    refs = [placeholder_image()]
    if img.rgb != refs[0].rgb:
        refs.append(built_placeholder_image())
    return any(ref is not None and img.rgb == ref.rgb for ref in refs)


def frame_verdict(data):
    """(True, description) if DATA (PNG bytes) is a frame the guest drew:
    a valid PNG that is not QEMU's placeholder and not all one colour."""
    try:
        img = png.decode(data)
    except png.PNGError as e:
        return False, 'not a valid PNG: %s' % e, None
    if is_placeholder(img):
        return False, 'QEMU placeholder (guest has not initialized the display)', img
    if img.is_single_colour():
        return False, '%dx%d all one colour %r' % (img.width, img.height, img.pixel(0, 0)), img
    return True, '%dx%d, %d+ colours' % (img.width, img.height, len(img.colours(64))), img


def dominant_colour(img):
    counts = {}
    rgb = img.rgb
    step = 3 * 7  # sample every 7th pixel
    for i in range(0, len(rgb) - 2, step):
        c = rgb[i:i + 3]
        counts[c] = counts.get(c, 0) + 1
    c, n = max(counts.items(), key=lambda kv: kv[1])
    return tuple(c), n / max(1, sum(counts.values()))


def same_pixels(png_a, png_b):
    """The share of pixels two screenshots (PNG bytes of one size) have alike, 0.0 to 1.0."""
    a, b = png.decode(png_a), png.decode(png_b)
    if a.size != b.size:
        return 0.0
    return sum(1 for i in range(0, len(a.rgb), 3) if a.rgb[i:i + 3] == b.rgb[i:i + 3]) / (a.width * a.height)


def longest_hline(img, background):
    """Longest horizontal run of one colour other than BACKGROUND (e.g. a drawn box edge)."""
    best = 0
    w = img.width
    bg = bytes(background)
    rgb = img.rgb
    for y in range(img.height):
        row = rgb[y * w * 3:(y + 1) * w * 3]
        run, prev = 0, None
        for x in range(0, len(row), 3):
            c = row[x:x + 3]
            if c == prev and c != bg:
                run += 1
            else:
                run = 1 if c != bg else 0
                prev = c
            if run > best:
                best = run
    return best


GUEST_TEXT_BG = b'\x00\x00\xa8'  # VGA blue, the background of the test guests' text (attribute 0x1F)


def shows_guest_text(img):
    """(ok, why): the top text row carries the test guest's white-on-blue line."""
    rows = img.rgb[:img.width * 3 * min(16, img.height)]
    n = sum(1 for i in range(0, len(rows), 3) if rows[i:i + 3] == GUEST_TEXT_BG)
    return n >= 3000, '%d blue pixels in the top text row (want >= 3000: the test guest has not run yet)' % n


def shows_memtest(img):
    """(ok, why): memtest86+'s blue screen is up."""
    (r, g, b), share = dominant_colour(img)
    ok = b >= 0x80 and r < 0x40 and g < 0x40 and share > 0.5
    return ok, 'dominant colour %r on %.0f%% of the screen (want memtest blue on > 50%%)' % ((r, g, b), share * 100)


def shows_grub_menu(img):
    """(ok, why): GRUB's menu box (a horizontal edge across most of the screen) is drawn."""
    bg, _ = dominant_colour(img)
    n = longest_hline(img, bg)
    return n >= img.width * 0.8, 'longest horizontal line %d px (want >= 80%% of %d: the GRUB menu box)' % (n, img.width)


# --------------------------------------------------------------------------
# The Linux test guest's host side (linuxguest.py)


class GuestShares:
    """The host folders linuxguest.SHARE_SCRIPT mounts, under DAEMON's scratch_dir: "work" is RW
    ('work, with comma': QEMU's option escaping) and holds in.txt, "media" is read-only and holds
    song.ogg. Set up as a user does for a daemon run as root: QEMU runs as its unprivileged user,
    which must get to both folders and may write to the one the guest writes to."""

    def __init__(self, daemon):
        self.tmp = daemon.scratch_dir('qhm-share-')
        self.rw = os.path.join(self.tmp, 'work, with comma')
        self.ro = os.path.join(self.tmp, 'media')
        os.makedirs(self.rw)
        os.makedirs(self.ro)
        os.chown(self.rw, *vm_user_ids())
        with open(os.path.join(self.rw, 'in.txt'), 'w') as f:
            f.write('hello from the host\n')
        with open(os.path.join(self.ro, 'song.ogg'), 'w') as f:
            f.write('la')

    def fields(self):
        """The VM's shared_folders."""
        return [{'path': self.rw, 'tag': 'work'}, {'path': self.ro, 'tag': 'media', 'readonly': True}]

    def check(self, tc):
        """Assert (on the TestCase TC) that the guest ran SHARE_SCRIPT through both folders."""
        with open(os.path.join(self.rw, 'out.txt')) as f:
            tc.assertEqual(f.read(), 'HELLO FROM THE HOST\n', 'the guest did not write through the share')
        with open(os.path.join(self.rw, 'ro-listing.txt')) as f:
            tc.assertEqual(f.read().split(), ['song.ogg'])
        with open(os.path.join(self.rw, 'ro-writable.txt')) as f:
            tc.assertEqual(f.read().strip(), 'no', 'the read-only share took a write')
        tc.assertFalse(os.path.exists(os.path.join(self.ro, 'written.txt')))


def assert_agent_answers(tc, g):
    """Assert (on TC) that G, a GET /vms/{id}/guest answer, is linuxguest.AGENT_SCRIPT's qemu-ga."""
    tc.assertTrue(g['agent'], g)
    tc.assertTrue(g['version'].startswith('7.2'), g)
    tc.assertEqual(g['hostname'], 'qhm-guest')
    tc.assertTrue(g['os']['kernel'].startswith('6.1.'), g)
    lo = [i for i in g['interfaces'] if i['name'] == 'lo']
    tc.assertTrue(lo and any(a['address'] == '127.0.0.1' for a in lo[0]['addresses']), g)


# --------------------------------------------------------------------------
# The daemon

_live_daemons = []


def _cleanup_all():
    for d in list(_live_daemons):
        try:
            d.teardown()
        except Exception:
            pass


atexit.register(_cleanup_all)


class APIError(AssertionError):
    pass


# What AddressSanitizer, LeakSanitizer and UBSan print first in a report.
SANITIZER_MARKERS = (b'ERROR: AddressSanitizer', b'ERROR: LeakSanitizer', b'runtime error:')


def sanitizer_log():
    return os.environ.get('QHM_SANITIZER_LOG')


class Daemon:
    """One qemu-hmos daemon process and its data directory, started with `--port 0 --ws-port 0`
    plus EXTRA_ARGS, with ENV added to the environment; ws_url is endpoint.json's "ws"."""

    # Host paths the tests' VMs use (ISOs of Debian packages, the test guest's cache, temp dirs).
    DEFAULT_ALLOWED = ('/usr/lib/memtest86+', '/usr/lib/grub-rescue', '/var/cache/qemu-hmos',
                       tempfile.gettempdir())

    def __init__(self, data_dir=None, binary=None, extra_args=(), env=None, allow_paths=DEFAULT_ALLOWED):
        """ALLOW_PATHS: the --allow-path roots (a test of path confinement passes its own)."""
        self.allow_paths = list(allow_paths)
        self.token = None
        self.binary = binary or daemon_path()
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.ws_url = None
        if not data_dir:
            data_dir = tempfile.mkdtemp(prefix='qhm-it-')
            os.chmod(data_dir, 0o711)  # mkdtemp's 0700 would keep the VMs' unprivileged user out
        self.data_dir = data_dir
        self.stderr_path = os.path.join(self.data_dir, 'daemon.stderr')
        self.stderr_scanned = 0  # how far collect_sanitizer_reports() has read
        self.proc = None
        self.url = None
        self.host = None
        self.port = None
        self.starts = 0
        self.check_contract = True  # api() checks every exchange against docs/openapi.yaml
        _live_daemons.append(self)

    # -- lifecycle --
    def start(self, timeout=10.0):
        if not os.path.exists(self.binary):
            raise RuntimeError('daemon binary not found: %s (build it, or pass --daemon)' % self.binary)
        self.collect_sanitizer_reports()  # of a previous run that ended by itself
        self.starts += 1
        with open(self.stderr_path, 'ab') as f:
            f.write(('\n===== daemon start #%d at %s =====\n'
                     % (self.starts, time.strftime('%H:%M:%S'))).encode())
        errf = open(self.stderr_path, 'ab')
        argv = [self.binary, 'serve', '--data-dir', self.data_dir, '--bind', '127.0.0.1', '--port', '0',
                '--ws-port', '0'] + self.allow_args() + self.extra_args
        # QHM_DAEMON_ARGS: more options for every daemon of a run (e.g. a module under
        # --launcher child, test_launcher.py)
        argv += os.environ.get('QHM_DAEMON_ARGS', '').split()
        env = dict(os.environ)
        env.update(self.extra_env)
        for k in [k for k, v in env.items() if v is None]:  # extra_env {NAME: None} removes NAME
            del env[k]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                                     start_new_session=True, env=env)
        errf.close()
        endpoint = os.path.join(self.data_dir, 'run', 'endpoint.json')
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('daemon exited with %s before writing %s\n%s'
                                   % (self.proc.returncode, endpoint, self.stderr_tail()))
            try:
                with open(endpoint) as f:
                    ep = json.load(f)
                if ep.get('pid') == self.proc.pid and ep.get('http'):
                    break
            except (OSError, ValueError):
                pass
            if time.time() > deadline:
                raise RuntimeError('daemon did not write %s with its pid within %.0f s\n%s'
                                   % (endpoint, timeout, self.stderr_tail()))
            time.sleep(0.05)
        self.endpoint = ep
        self.token = ep.get('token')
        if not self.token or len(self.token) < 32:
            raise RuntimeError('endpoint.json has no API token: %r' % ep)
        self.url = ep['http']
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port
        self.ws_url = ep.get('ws')
        if not self.ws_url or not self.ws_url.startswith('ws://127.0.0.1:'):
            raise RuntimeError('endpoint.json has no ws://127.0.0.1:PORT "ws" value: %r' % ep)
        return self

    def allow_args(self):
        out = []
        for p in self.allow_paths:
            if os.path.isdir(p):
                out += ['--allow-path', p]
        return out

    def auth_headers(self):
        """What a command-line client sends: the API token from endpoint.json."""
        return {'Authorization': 'Bearer ' + self.token}

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.collect_sanitizer_reports()

    def restart(self, timeout=10.0):
        self.kill9()
        return self.start(timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                # A sanitizer build needs the time to exit by itself: LeakSanitizer reports at exit.
                self.proc.wait(60 if sanitizer_log() else 5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.collect_sanitizer_reports()

    def collect_sanitizer_reports(self):
        """Under QHM_SANITIZER_LOG: append what this daemon's stderr gained since the last call to
        that file when it holds a sanitizer report (the data dir, and its daemon.stderr, go at
        teardown)."""
        log = sanitizer_log()
        if not log:
            return
        try:
            with open(self.stderr_path, 'rb') as f:
                f.seek(self.stderr_scanned)
                text = f.read()
        except OSError:
            return
        self.stderr_scanned += len(text)
        if not any(m in text for m in SANITIZER_MARKERS):
            return
        test = os.environ.get('QHM_CURRENT_TEST', '?')
        with open(log, 'ab') as f:
            f.write(('===== sanitizer report: daemon %s (data %s) during %s =====\n'
                     % (self.binary, self.data_dir, test)).encode())
            f.write(text)
            f.write(b'\n')

    def teardown(self):
        self.stop()
        kill_qemus(self.data_dir)
        if self in _live_daemons:
            _live_daemons.remove(self)
        if not os.environ.get('QHM_KEEP'):
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def stderr_tail(self, n=80):
        try:
            with open(self.stderr_path, 'rb') as f:
                lines = f.read().decode(errors='replace').splitlines()
        except OSError:
            return '(no daemon stderr)'
        return '\n'.join(lines[-n:])

    # -- HTTP --
    def api(self, method, path, body=None, raw=None, headers=None, timeout=60.0):
        """Send a request; returns (status, parsed JSON or bytes, headers dict with lower-case keys).

        BODY is JSON-encoded; RAW is sent as-is. Errors while sending the body
        (the server may answer and close early, e.g. 413) are tolerated: the
        response is still read. Every exchange is checked against docs/openapi.yaml
        (openapi.py: a mismatch raises OpenAPIViolation, an AssertionError) unless
        check_contract is False."""
        if self.port is None:
            raise RuntimeError('daemon not started')
        hdrs = {'Connection': 'close'}
        hdrs.update(self.auth_headers())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs['Content-Type'] = 'application/json'
        elif raw is not None:
            data = raw
            hdrs['Content-Type'] = 'application/json'
        if headers:
            hdrs.update(headers)
        hdrs = {k: v for k, v in hdrs.items() if v is not None}  # HEADERS {NAME: None} leaves NAME out
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            if data is not None:
                hdrs['Content-Length'] = str(len(data))
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders()
            send_error = None
            if data:
                try:
                    mv = memoryview(data)
                    for i in range(0, len(mv), 65536):
                        conn.sock.sendall(mv[i:i + 65536])
                except OSError as e:
                    send_error = e
            try:
                resp = conn.getresponse()
                payload = resp.read()
            except (OSError, http.client.HTTPException) as e:
                raise APIError('%s %s: no response (%s%s)' % (
                    method, path, e, '; sending the body failed: %s' % send_error if send_error else ''))
            rh = {k.lower(): v for k, v in resp.getheaders()}
            if self.check_contract:
                openapi.check(method, path, hdrs, data, resp.status, rh, payload)
            parsed = payload
            if 'json' in rh.get('content-type', ''):
                try:
                    parsed = json.loads(payload.decode())
                except (ValueError, UnicodeDecodeError):
                    parsed = payload
            return resp.status, parsed, rh
        finally:
            conn.close()

    def ok(self, method, path, body=None, expect=(200,), timeout=60.0):
        """api() that asserts the status and returns the parsed body."""
        st, js, _ = self.api(method, path, body=body, timeout=timeout)
        if st not in ((expect,) if isinstance(expect, int) else expect):
            raise APIError('%s %s -> %d (expected %s): %r' % (method, path, st, expect, js))
        return js

    def vm(self, vm_id):
        return self.ok('GET', '/api/v1/vms/' + vm_id)

    def host_info(self):
        return self.ok('GET', '/api/v1/host')

    def wait_state(self, vm_id, state, timeout=10.0, interval=0.1):
        """Poll until the VM's state is STATE (a string or a tuple of strings); returns the VM."""
        states = (state,) if isinstance(state, str) else tuple(state)
        deadline = time.time() + timeout
        seen = []
        vm = None
        while True:
            vm = self.vm(vm_id)
            if not seen or seen[-1] != vm.get('state'):
                seen.append(vm.get('state'))
            if vm.get('state') in states:
                return vm
            if time.time() > deadline:
                raise AssertionError('VM %s did not reach %s within %.1f s; states seen %s; last: %s'
                                     % (vm_id, '/'.join(states), timeout, seen,
                                        json.dumps(vm, indent=1)[:3000]))
            time.sleep(interval)

    def serial(self, vm_id, tail=None):
        """GET /vms/{id}/serial[?tail=N]: what the guest wrote to its first serial port, as text."""
        path = '/api/v1/vms/%s/serial' % vm_id + ('?tail=%d' % tail if tail else '')
        st, body, headers = self.api('GET', path)
        if st != 200 or not headers.get('content-type', '').startswith('text/plain'):
            raise AssertionError('GET %s: %d %r %r' % (path, st, headers.get('content-type'), body))
        return body.decode('utf-8', 'replace')

    def wait_serial(self, vm_id, text, timeout=120):
        """Poll the serial output (its last 10000 lines) until it holds TEXT; returns it."""
        deadline = time.time() + timeout
        while True:
            out = self.serial(vm_id, 10000)
            if text in out:
                return out
            if time.time() > deadline:
                raise AssertionError('no %r on the serial port after %d s; it holds:\n%s'
                                     % (text, timeout, out[-2000:]))
            time.sleep(0.3)

    def screenshot(self, vm_id):
        st, data, h = self.api('GET', '/api/v1/vms/%s/screenshot' % vm_id)
        return st, data, h

    def wait_real_frame(self, vm_id, timeout, accept=None, interval=0.5):
        """Poll screenshots until a real frame (and ACCEPT(img) if given) appears; returns the Image."""
        deadline = time.time() + timeout
        last = 'no screenshot taken'
        n = 0
        while True:
            st, data, h = self.screenshot(vm_id)
            n += 1
            if st == 200:
                if not h.get('content-type', '').startswith('image/png'):
                    last = 'content-type %r' % h.get('content-type')
                else:
                    real, why, img = frame_verdict(data)
                    last = why
                    if real:
                        if accept is None:
                            return img
                        good, why2 = accept(img)
                        if good:
                            return img
                        last = '%s; %s' % (why, why2)
                    if isinstance(data, bytes):
                        with open(os.path.join(self.data_dir, 'last-%s.png' % vm_id), 'wb') as f:
                            f.write(data)
            else:
                last = 'HTTP %d %r' % (st, data if not isinstance(data, bytes) else data[:200])
            if time.time() > deadline:
                raise AssertionError('VM %s: no real frame within %.0f s (%d screenshots); last: %s'
                                     % (vm_id, timeout, n, last))
            time.sleep(interval)

    # -- VM helpers --
    def create(self, **fields):
        return self.ok('POST', '/api/v1/vms', body=fields, expect=201)

    def action(self, vm_id, action, expect=200, timeout=60.0):
        return self.ok('POST', '/api/v1/vms/%s/%s' % (vm_id, action), expect=expect, timeout=timeout)

    def dispose(self, vm_id):
        """Best effort: kill and delete a VM (test cleanup)."""
        try:
            st, vm, _ = self.api('GET', '/api/v1/vms/' + vm_id, timeout=15)
            if st != 200:
                return
            if vm.get('state') not in ('stopped', 'crashed'):
                self.api('POST', '/api/v1/vms/%s/kill' % vm_id, timeout=15)
                try:
                    self.wait_state(vm_id, ('stopped', 'crashed'), timeout=8)
                except AssertionError:
                    pid = vm.get('pid')
                    if pid and 'qemu-system' in ' '.join(proc_cmdline(pid) or []):
                        os.kill(pid, signal.SIGKILL)
                    self.wait_state(vm_id, ('stopped', 'crashed'), timeout=5)
            self.api('DELETE', '/api/v1/vms/' + vm_id, timeout=15)
        except Exception:
            pass

    def scratch_dir(self, prefix):
        """A new directory under the data dir's shared/ that QEMU (run as an unprivileged user under a
        root daemon) can get into: the guest's initrd, shared folders."""
        d = tempfile.mkdtemp(prefix=prefix, dir=os.path.join(self.data_dir, 'shared'))
        os.chmod(d, 0o711)
        return d

    def wait_agent(self, vm_id, timeout):
        """Poll GET /vms/{id}/guest until the guest agent answers (or TIMEOUT); returns the last answer."""
        deadline = time.time() + timeout
        while True:
            g = self.ok('GET', '/api/v1/vms/%s/guest' % vm_id, timeout=15)
            if g['agent'] or time.time() > deadline:
                return g
            time.sleep(1)

    # -- snapshots (test_snapshots) --
    def snapshots(self, vm_id):
        return self.ok('GET', '/api/v1/vms/%s/snapshots' % vm_id)['snapshots']

    def take_snapshot(self, vm_id, name, expect=201):
        return self.ok('POST', '/api/v1/vms/%s/snapshots' % vm_id, body={'name': name}, expect=expect, timeout=120)

    def restore_snapshot(self, vm_id, name):
        return self.ok('POST', '/api/v1/vms/%s/snapshots/%s/restore' % (vm_id, name), timeout=120)

    def screenshot_hash(self, vm_id):
        st, data, _ = self.screenshot(vm_id)
        if st != 200:
            raise APIError('screenshot of %s -> %d %r' % (vm_id, st, data))
        return hashlib.sha256(data).hexdigest()

    def start_and_pause_on_frame(self, vm_id, timeout=120):
        """Start the VM, pause it once its screen is a real frame: that screenshot (PNG bytes)."""
        self.action(vm_id, 'start')
        self.wait_real_frame(vm_id, timeout)
        self.action(vm_id, 'pause')
        st, data, _ = self.screenshot(vm_id)
        if st != 200:
            raise APIError('screenshot of %s -> %d %r' % (vm_id, st, data))
        return data

    def wait_screen_moves(self, vm_id, before, timeout=30):
        """Resume the paused VM, pause it again now and then until its screenshot's hash is no longer
        BEFORE (memtest86+'s clock moves on); it is left paused. AssertionError after TIMEOUT."""
        deadline = time.time() + timeout
        while True:
            self.action(vm_id, 'resume')
            time.sleep(1.5)
            self.action(vm_id, 'pause')
            if self.screenshot_hash(vm_id) != before:
                return
            if time.time() > deadline:
                raise AssertionError('VM %s: the guest screen did not change in %d s' % (vm_id, timeout))


def error_code(js):
    if isinstance(js, dict) and isinstance(js.get('error'), dict):
        return js['error'].get('code')
    return None


def error_message(js):
    if isinstance(js, dict) and isinstance(js.get('error'), dict):
        return js['error'].get('message') or ''
    return ''


# --------------------------------------------------------------------------
# Base test case


class DaemonTestCase(unittest.TestCase):
    """A test class with its own daemon and data directory (started in setUpClass)."""

    daemon = None
    daemon_args = ()  # more `serve` options for this class's daemon
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(extra_args=cls.daemon_args)
        cls.data_dir = cls.daemon.data_dir
        try:
            cls.daemon.start()
        except Exception:
            cls.daemon.teardown()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon.teardown()

    @classmethod
    def diagnostics(cls):
        if cls.daemon is None:
            return ''
        return 'daemon stderr (%s):\n%s' % (cls.daemon.stderr_path, cls.daemon.stderr_tail())

    # conveniences
    def api(self, *a, **k):
        return self.daemon.api(*a, **k)

    def new_vm(self, **fields):
        """Create a VM that is killed and deleted when the test ends."""
        fields.setdefault('name', 'vm-%s-%d' % (self._testMethodName[-20:], int(time.time() * 1000) % 100000000))
        vm = self.daemon.create(**fields)
        self.addCleanup(self.daemon.dispose, vm['id'])
        return vm

    def assertError(self, resp, status, code, field=None, msg=''):
        st, js, _ = resp
        ctx = '%s -> %d %r' % (msg, st, js)
        self.assertEqual(st, status, ctx)
        self.assertIsInstance(js, dict, ctx)
        self.assertIsInstance(js.get('error'), dict, ctx)
        self.assertEqual(js['error'].get('code'), code, ctx)
        self.assertIsInstance(js['error'].get('message'), str, ctx)
        self.assertTrue(js['error']['message'], ctx)
        if field:
            m = js['error']['message']
            if code == 'invalid_field':
                # docs/api.md: "the message starts with the field name (`memory_mib: ...`)"
                self.assertTrue(m.startswith(field), 'the message should start with %r: %s' % (field, ctx))
            else:
                self.assertIn(field, m, 'the message should name %r: %s' % (field, ctx))

    def assertAlive(self):
        st, js, _ = self.api('GET', '/api/v1/host', timeout=10)
        self.assertEqual(st, 200, 'daemon no longer answers GET /api/v1/host')
