#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The "ohos" suite: what CI proves of the HarmonyOS cross build without a device.

`make ohos` (scripts/ohos/build.sh, cached) builds the app's libraries for
aarch64-unknown-linux-ohos; then
- every library (readelf/nm of the toolchain): AArch64, its file name as SONAME, needing only
  libraries of the set or of the HarmonyOS system (SYSTEM_LIBS), no glibc symbol versions; the
  daemon and child libraries import nothing that starts a program (EXEC_SYMBOLS); the manifest
  says each file's size and SHA-256;
- the QEMU libraries export only their entry (qhm_qemu_main / qhm_qemu_img_main);
- the daemon library runs: tests/ohos/loader.c, built with the same toolchain, under qemu-aarch64
  with the toolchain's sysroot and LD_LIBRARY_PATH = the app's libs/, loads libqemu-hmos.so and
  starts it on 127.0.0.1 with the child launcher and the set's QEMU (qemu-manifest.json, the TCI
  variant); the test, from this side, uses the REST API with the secret (host facts: our QEMU 10
  passed the start-up check for aarch64 and x86_64; a VM created), opens the events WebSocket
  (libwebsockets, loaded on first use from libs/), then creates an aarch64 VM (its UEFI variable
  store made by libqemu-img.so) and starts it: the stand-in child process (fork + dlopen of
  libqemu-system-aarch64-tci.so) runs a tiny guest built here (FIRMWARE: a few instructions in
  the VM's flash that write a line to virt's PL011), and the line is read from the VM's serial
  port (GET /vms/{id}/serial); a UEFI x86_64 VM with a NIC starts from the set's own firmware
  (share/OVMF, iPXE's ROM); an RDP console: the aarch64 RDP worker (libqemu-hmos-rdp.so, a child)
  against freerdp-shadow-cli on 127.0.0.1 (desktop pixels, the pointer moved); a download from
  nginx on 127.0.0.1 (libcurl.so, SHA-256 checked; a wrong one refused); the VM is stopped and the
  daemon stops through the loader.
- the N-API module (the HAP's CMakeLists.txt, the NDK's headers and link stubs: ndk-stubs/) needs
  only the daemon library and the system's Node-API and HiLog; nothing imports what HarmonyOS's
  libc lacks (thread cancellation); no library carries an RPATH/RUNPATH.
Ends with `ohos: N passed, N failed`. Usage: tests/ohos/run.py [--out build-ohos] [--no-build]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
import wsclient  # noqa: E402

# What a HarmonyOS app may need from the system (the NDK's libraries), besides its own libs/.
SYSTEM_LIBS = {
    'libc.so',            # musl-based libc (with libdl, libpthread, libm, librt in it)
    'libchild_process.so',  # OH_Ability_StartNativeChildProcess (AbilityKit)
    'libace_napi.z.so',   # Node-API
    'libhilog_ndk.z.so',  # HiLog
}
# Nothing in the daemon or the child entry may start a program: HarmonyOS apps may not exec.
EXEC_SYMBOLS = {'execv', 'execve', 'execvp', 'execvpe', 'execl', 'execlp', 'execle', 'fexecve',
                'posix_spawn', 'posix_spawnp', 'fork', 'vfork', 'system', 'popen', 'clone'}
NO_EXEC = ('libqemu-hmos.so', 'libqemu_child.so', 'libqemu-hmos-rdp.so', 'libqemu_hmos.so')
# What HarmonyOS's libc does not have though musl's does (its reference: "APIs that are not
# suitable ... have been trimmed"; thread cancellation is one, as on Android). The stand-in's
# musl has them, so a library could link here and fail to load on a device: none may import them.
OHOS_LIBC_LACKS = {'pthread_cancel', 'pthread_setcancelstate', 'pthread_setcanceltype', 'pthread_testcancel'}
QEMU_LIBS = {'libqemu-system-aarch64.so', 'libqemu-system-x86_64.so', 'libqemu-system-aarch64-tci.so',
             'libqemu-system-x86_64-tci.so', 'libqemu-img.so'}

# The test guest: the first code an aarch64 virt machine runs (flash at address 0): enable the
# PL011 (its registers at 0x09000000), write a line, then wait for interrupts forever.
GUEST_LINE = 'qhm-ohos-guest: hello from libqemu-system-aarch64-tci.so'
FIRMWARE = r"""
    .text
    .global _start
_start:
    movz x1, #0x0900, lsl #16   // virt's PL011
    mov w0, #0x301              // UARTCR: UARTEN | TXE | RXE
    str w0, [x1, #0x30]
    adr x2, msg
1:  ldrb w3, [x2], #1
    cbz w3, 2f
    str w3, [x1]
    b 1b
2:  wfi
    b 2b
msg:
    .asciz "%s\n"
""" % GUEST_LINE


def build_firmware(d):
    """DIR/AAVMF_CODE.fd (FIRMWARE, assembled with the host's clang-19, padded to virt's 64 MiB
    flash) and an empty AAVMF_VARS.fd: what QHM_AAVMF_DIR points the daemon at."""
    src, obj, elf = (os.path.join(d, n) for n in ('fw.S', 'fw.o', 'fw.elf'))
    with open(src, 'w') as f:
        f.write(FIRMWARE)
    subprocess.run(['clang-19', '--target=aarch64-none-elf', '-c', src, '-o', obj], check=True)
    subprocess.run(['ld.lld-19', '-Ttext=0', '-e', '_start', obj, '-o', elf], check=True)
    code = os.path.join(d, 'AAVMF_CODE.fd')
    subprocess.run(['llvm-objcopy-19', '-O', 'binary', elf, code], check=True)
    assert 0 < os.path.getsize(code) < 4096, os.path.getsize(code)
    for name in ('AAVMF_CODE.fd', 'AAVMF_VARS.fd'):
        with open(os.path.join(d, name), 'ab') as f:
            f.truncate(64 << 20)

results = []
CACHE = os.environ.get('QHM_OHOS_CACHE') or '/var/cache/qemu-hmos/ohos'
# The user-mode emulator the run checks use: Debian 13's qemu-aarch64 (QEMU 10.0, the same as
# qemu-build/; a static binary). Debian 12's qemu-user (7.2) breaks in a child forked from a
# threaded process — its plugin table keeps the parent's threads ("qemu_plugin_vcpu_init_hook:
# assertion failed"; QEMU 9 added qemu_plugin_user_postfork) — and the child stand-in starts
# QEMU exactly so, from the daemon's thread. (A device runs no emulator: the system starts the child.)
QEMU_USER_DEB = '1:10.0.13+ds-0+deb13u1'


def qemu_user():
    """The path of Debian 13's qemu-aarch64, unpacked once from its .deb into CACHE (a private
    apt directory: the machine's apt sources are not changed)."""
    d = os.path.join(CACHE, 'qemu-user-' + QEMU_USER_DEB.split(':', 1)[1])
    exe = os.path.join(d, 'usr', 'bin', 'qemu-aarch64')
    if os.path.exists(exe):
        return exe
    apt = os.path.join(CACHE, 'src', 'apt-trixie')
    for sub in ('lists/partial', 'cache/archives/partial', 'sources.list.d', 'preferences.d'):
        os.makedirs(os.path.join(apt, sub), exist_ok=True)
    with open(os.path.join(apt, 'sources.list'), 'w') as f:
        f.write('deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n')
    opts = []
    for k, v in (('Dir::Etc::SourceList', 'sources.list'), ('Dir::Etc::SourceParts', 'sources.list.d'),
                 ('Dir::Etc::PreferencesParts', 'preferences.d'), ('Dir::State::Lists', 'lists'),
                 ('Dir::Cache', 'cache')):
        opts += ['-o', '%s=%s' % (k, os.path.join(apt, v))]
    opts += ['-o', 'APT::Sandbox::User=root']
    subprocess.run(['apt-get', '-qq'] + opts + ['update'], check=True)
    tmp = tempfile.mkdtemp(prefix='qemu-user-', dir=CACHE)
    try:
        subprocess.run(['apt-get', '-qq'] + opts + ['download', 'qemu-user=' + QEMU_USER_DEB], cwd=tmp, check=True)
        deb = [f for f in os.listdir(tmp) if f.endswith('.deb')][0]
        subprocess.run(['dpkg-deb', '-x', os.path.join(tmp, deb), os.path.join(tmp, 'x')], check=True)
        os.rename(os.path.join(tmp, 'x'), d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return exe


def check(name, fn):
    t = time.time()
    try:
        detail = fn()
        results.append(True)
        print('ok - %s (%.1f s)%s' % (name, time.time() - t, (' # ' + detail) if detail else ''), flush=True)
    except Exception:  # noqa: BLE001
        results.append(False)
        print('not ok - %s (%.1f s)' % (name, time.time() - t))
        print('\n'.join('    ' + line for line in traceback.format_exc().rstrip().splitlines()), flush=True)


class Build:
    def __init__(self, out):
        self.out = out
        self.libdir = os.path.join(out, 'libs', 'arm64-v8a')
        with open(os.path.join(out, 'manifest.json')) as f:
            self.manifest = json.load(f)
        self.toolchain = os.path.join(CACHE, self.manifest['toolchain'])
        self.sysroot = os.path.join(self.toolchain, 'sysroot')
        self.deps = self.manifest['deps']

    def tool(self, name, *args):
        return subprocess.run([os.path.join(self.toolchain, 'bin', name)] + list(args), check=True,
                              capture_output=True, text=True).stdout

    def libs(self):
        return sorted(os.listdir(self.libdir))


def elf_checks(b):
    names = b.libs()

    def machine():
        for n in names:
            h = b.tool('readelf', '-h', os.path.join(b.libdir, n))
            assert re.search(r'Machine:\s+AArch64', h), '%s: %s' % (n, h)
            assert re.search(r'Class:\s+ELF64', h), n
            assert re.search(r'Type:\s+DYN', h), n
        return '%d files' % len(names)

    def sonames():
        for n in names:
            f = b.manifest['files'][n]
            assert f['soname'] == n, '%s: SONAME %s' % (n, f['soname'])

    def needed():
        bad = {}
        for n in names:
            d = b.tool('readelf', '-d', os.path.join(b.libdir, n))
            for lib in re.findall(r'\(NEEDED\)\s+Shared library: \[(.*?)\]', d):
                if lib not in names and lib not in SYSTEM_LIBS:
                    bad.setdefault(n, []).append(lib)
        assert not bad, 'libraries neither in the set nor the system: %s' % bad

    def no_glibc():
        for n in names:
            v = b.tool('readelf', '-V', os.path.join(b.libdir, n))
            assert 'GLIBC_' not in v, '%s has glibc symbol versions' % n
            d = b.tool('readelf', '-d', os.path.join(b.libdir, n))
            assert 'libc.so.6' not in d and 'ld-linux' not in d, n
            assert '(RPATH)' not in d and '(RUNPATH)' not in d, '%s carries a build path: %s' % (n, d)

    def no_exec():
        for n in NO_EXEC:
            und = b.tool('nm', '-D', '--undefined-only', os.path.join(b.libdir, n))
            syms = {line.split()[-1].split('@')[0] for line in und.splitlines() if line.strip()}
            assert not (syms & EXEC_SYMBOLS), '%s imports %s' % (n, sorted(syms & EXEC_SYMBOLS))
        return ', '.join(NO_EXEC)

    def lacks():
        bad = {}
        for n in names:
            und = b.tool('nm', '-D', '--undefined-only', os.path.join(b.libdir, n))
            syms = {line.split()[-1].split('@')[0] for line in und.splitlines() if line.strip()}
            if syms & OHOS_LIBC_LACKS:
                bad[n] = sorted(syms & OHOS_LIBC_LACKS)
        assert not bad, bad

    def rdp():
        n = 'libqemu-hmos-rdp.so'
        assert n in names, 'no %s in the set' % n
        d = b.tool('nm', '-D', '--defined-only', os.path.join(b.libdir, n))
        syms = {line.split()[-1] for line in d.splitlines() if line.strip()}
        # The entry, and WinPR's Sleep replaced by the worker's (bridge/rdp-ws/worker/main.c).
        assert {'qhm_rdp_main', 'Sleep'} <= syms, sorted(syms)[:30]
        # FreeRDP, WinPR, libpng, libjpeg and libwebp are inside; OpenSSL is the set's.
        need = re.findall(r'\(NEEDED\)\s+Shared library: \[(.*?)\]', b.tool('readelf', '-d', os.path.join(b.libdir, n)))
        assert sorted(need) == ['libc.so', 'libcrypto.so', 'libssl.so'], need
        for lib in ('freerdp2', 'freerdp-client2', 'winpr2'):
            assert os.path.exists(os.path.join(b.deps, 'lib', 'lib%s.a' % lib)), lib
        return '%.1f MB, needs %s' % (b.manifest['files'][n]['size'] / 1e6, ', '.join(sorted(need)))

    def napi():
        n = 'libqemu_hmos.so'
        assert n in names, 'no %s in the set' % n
        p = os.path.join(b.libdir, n)
        d = b.tool('readelf', '-d', p)
        need = re.findall(r'\(NEEDED\)\s+Shared library: \[(.*?)\]', d)
        assert sorted(need) == ['libace_napi.z.so', 'libc.so', 'libhilog_ndk.z.so', 'libqemu-hmos.so'], need
        assert '(INIT_ARRAY)' in d, 'no constructor: the module would never register'
        und = b.tool('nm', '-D', '--undefined-only', p)
        imported = {line.split()[-1] for line in und.splitlines() if line.strip()}
        napi_calls = sorted(s for s in imported if s.startswith('napi_'))
        assert 'napi_module_register' in napi_calls, napi_calls
        # Each of them is one OpenHarmony exports (ndk-stubs/libace_napi.z.symbols, from its list;
        # the link used -z defs against a stub with those only).
        with open(os.path.join(ROOT, 'scripts', 'ohos', 'ndk-stubs', 'libace_napi.z.symbols')) as f:
            listed = {l.strip() for l in f if l.strip() and not l.startswith('#')}
        assert set(napi_calls) <= listed, sorted(set(napi_calls) - listed)
        assert 'OH_LOG_Print' in imported
        defined = b.tool('nm', '-D', '--defined-only', p)
        exported = {line.split()[-1] for line in defined.splitlines() if line.strip()} - {'_init', '_fini'}
        assert not exported, 'exports %s' % sorted(exported)
        return '%d Node-API calls, HiLog; exports nothing (registers from its constructor)' % len(napi_calls)

    def exports():
        d = b.tool('nm', '-D', '--defined-only', os.path.join(b.libdir, 'libqemu-hmos.so'))
        names = [line.split()[-1] for line in d.splitlines() if line.strip()]
        other = [n for n in names if not n.startswith('qhm_') and n not in ('_init', '_fini')]
        assert not other, 'libqemu-hmos.so exports more than qhm_*: %s' % other[:20]
        return '%d qhm_* functions' % len(names)

    def qemu():
        have = set(names)
        assert QEMU_LIBS <= have, 'missing: %s' % sorted(QEMU_LIBS - have)
        for n in sorted(QEMU_LIBS):
            d = b.tool('nm', '-D', '--defined-only', os.path.join(b.libdir, n))
            syms = {line.split()[-1] for line in d.splitlines() if line.strip()} - {'_init', '_fini'}
            want = {'qhm_qemu_img_main'} if n == 'libqemu-img.so' else {'qhm_qemu_main'}
            assert syms == want, '%s exports %s' % (n, sorted(syms)[:20])
        # The JIT libraries carry the HarmonyOS JIT-grant path (qemu-build/patches/0002, compiled
        # under __OHOS__ only: its message is there); the interpreter needs none.
        for n in sorted(QEMU_LIBS - {'libqemu-img.so'}):
            with open(os.path.join(b.libdir, n), 'rb') as f:
                has = b'HarmonyOS JIT grant missing' in f.read()
            assert has == (not n.endswith('-tci.so')), '%s: JIT-grant path %s' % (n, 'present' if has else 'missing')
        with open(os.path.join(b.out, 'qemu-manifest.json')) as f:
            m = json.load(f)
        for v in ('tcg', 'tci'):
            for lib in m['variants'][v]['libraries'].values():
                assert os.path.exists(os.path.join(b.out, lib)), lib
        return 'QEMU %s: %.0f MB' % (m['qemu_version'], sum(b.manifest['files'][n]['size'] for n in QEMU_LIBS) / 1e6)

    def manifest():
        import hashlib
        assert sorted(b.manifest['files']) == names
        for n in names:
            with open(os.path.join(b.libdir, n), 'rb') as f:
                data = f.read()
            m = b.manifest['files'][n]
            assert m['size'] == len(data) and m['sha256'] == hashlib.sha256(data).hexdigest(), n
        return 'total %.1f MB' % (b.manifest['total_size'] / 1e6)

    check('every library is ELF64 AArch64, a shared object', machine)
    check('each SONAME is its file name (what an app\'s libs/ loads by)', sonames)
    check('each needs only the set and the HarmonyOS system (%s)' % ', '.join(sorted(SYSTEM_LIBS)), needed)
    check('no glibc: no GLIBC_ symbol versions, no libc.so.6; no RPATH/RUNPATH', no_glibc)
    check('the daemon, child and RDP worker libraries import no exec/spawn/fork', no_exec)
    check('nothing imports what HarmonyOS\'s libc lacks (%s)' % ', '.join(sorted(OHOS_LIBC_LACKS)), lacks)
    check('the RDP worker library: FreeRDP 2 + WinPR + image codecs in it, qhm_rdp_main and Sleep exported', rdp)
    check('libqemu-hmos.so exports only qhm_* (none of its static dependencies)', exports)
    check('the N-API module (libqemu_hmos.so, the HAP\'s CMakeLists.txt): Node-API and HiLog of the system, '
          'the daemon library', napi)
    check('QEMU 10: aarch64 and x86_64, JIT (with the HarmonyOS JIT-grant path) and TCI, and qemu-img, '
          'each exporting its entry only', qemu)
    check('manifest.json: every file, its size and SHA-256', manifest)


class Loader:
    """tests/ohos/loader.c under qemu-aarch64: the daemon library started as the app starts it."""

    def __init__(self, b, data, firmware):
        env = dict(os.environ)
        env['QHM_AAVMF_DIR'] = firmware
        # The app's libs/, then where the stand-in sysroot keeps the system's (libchild_process.so;
        # musl's loader under qemu-aarch64 -L looks in /lib and /usr/lib only).
        env['LD_LIBRARY_PATH'] = b.libdir + ':/usr/lib/aarch64-linux-ohos'
        env.pop('QHM_QEMU_CACHE', None)
        env['QHM_NO_KVM'] = '1'
        self.log = open(os.path.join(data, 'loader.log'), 'w+')
        self.p = subprocess.Popen([qemu_user(), '-L', b.sysroot, os.path.join(b.out, 'test', 'qhm-ohos-loader'),
                                   data, os.path.join(b.out, 'qemu-manifest.json') + ':tci'],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.log, env=env, text=True)
        line = self.p.stdout.readline()
        m = re.match(r'^ready (\S+) (\S+) (\S+)$', line.strip())
        if not m:
            self.p.kill()
            self.log.seek(0)
            raise AssertionError('no ready line (got %r); log:\n%s' % (line, self.log.read()[-3000:]))
        self.http, self.ws, self.launcher = m.groups()
        with open(os.path.join(data, 'run', 'endpoint.json')) as f:
            self.token = json.load(f)['token']

    def api(self, method, path, body=None, raw=False, timeout=120):
        req = urllib.request.Request(self.http + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={'Authorization': 'Bearer ' + self.token,
                                              'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                data = r.read()
                return r.status, data if raw else json.loads(data or b'null')
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b'null')

    def stop(self, timeout=60):
        self.p.stdin.close()
        rest = self.p.stdout.read()
        rc = self.p.wait(timeout)
        return rc, rest


def run_checks(b):
    data = tempfile.mkdtemp(prefix='qhm-ohos-')
    firmware = tempfile.mkdtemp(prefix='qhm-ohos-fw-')
    state = {}

    def start():
        t = time.time()
        build_firmware(firmware)
        state['l'] = Loader(b, data, firmware)
        return 'serving %s after %.1f s under qemu-aarch64 (launcher %s)' % (state['l'].http, time.time() - t,
                                                                            state['l'].launcher)

    def host():
        l = state['l']
        assert l.launcher == 'child', l.launcher
        st, h = l.api('GET', '/api/v1/host')
        assert st == 200, (st, h)
        assert set(h['arches']) >= {'aarch64', 'x86_64'}, h['arches'].keys()
        st2, _ = l.api('GET', '/api/v1/vms')
        assert st2 == 200
        # Without the secret: refused.
        req = urllib.request.Request(l.http + '/api/v1/vms')
        try:
            urllib.request.urlopen(req, timeout=30)
            raise AssertionError('served without the secret')
        except urllib.error.HTTPError as e:
            assert e.code == 401, e.code
        for a in ('aarch64', 'x86_64'):  # our QEMU 10 passed its start-up check under qemu-aarch64
            q = h['arches'][a]
            assert q.get('available') and q['qemu']['ok'], (a, q)
            assert q['qemu']['version'].startswith('10.0'), (a, q['qemu'])
        assert not h['arches']['i386']['available'], h['arches']['i386']  # no i386 emulator in the set
        return 'aarch64, x86_64: QEMU %s (%s)' % (h['arches']['aarch64']['qemu']['version'], h['qemu']['variant'])

    def create():
        l = state['l']
        st, vm = l.api('POST', '/api/v1/vms', {'name': 'ohos-test', 'arch': 'x86_64', 'memory_mib': 128,
                                               'cpus': 1, 'disks': []})
        assert st == 201, (st, vm)
        state['vm'] = vm['id']
        st, vms = l.api('GET', '/api/v1/vms')
        assert st == 200 and any(v['id'] == vm['id'] for v in vms['vms']), vms
        st, bad = l.api('POST', '/api/v1/vms', {'name': 'x', 'arch': 'sparc', 'memory_mib': 128})
        assert st == 400, (st, bad)
        # No i386 emulator in the set: refused as on a machine without qemu-system-i386.
        st, e = l.api('POST', '/api/v1/vms', {'name': 'x', 'arch': 'i386', 'memory_mib': 128, 'disks': []})
        assert st == 400 and e['error']['code'] == 'invalid_field' and 'i386' in e['error']['message'], (st, e)
        return 'x86_64 VM created; i386: %s' % e['error']['message'][:80]

    def guest():
        l = state['l']
        t = time.time()
        st, vm = l.api('POST', '/api/v1/vms', {'name': 'ohos-arm', 'arch': 'aarch64', 'memory_mib': 128, 'cpus': 1,
                                               'disks': [], 'network': {'mode': 'none'}})
        assert st == 201, (st, vm)
        assert os.path.exists(os.path.join(data, 'vms', vm['id'], 'efivars.qcow2'))  # made by libqemu-img.so
        t_create = time.time() - t
        st, r = l.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=300)
        assert st == 200 and r['state'] == 'running', (st, r)
        t_start = time.time() - t
        deadline = time.time() + 300
        out = b''
        while GUEST_LINE.encode() not in out:
            assert time.time() < deadline, 'the guest did not write its line; serial port: %r' % out[-500:]
            time.sleep(1)
            st, out = l.api('GET', '/api/v1/vms/%s/serial' % vm['id'], raw=True)
            assert st == 200, (st, out)
        t_line = time.time() - t
        st, r = l.api('POST', '/api/v1/vms/%s/kill' % vm['id'])
        assert st == 200, (st, r)
        return 'created in %.0f s, running after %.0f s, its line after %.0f s' % (t_create, t_start, t_line)

    def events():
        l = state['l']
        st, t = l.api('POST', '/api/v1/events/ticket')
        assert st in (200, 201), (st, t)
        ws = wsclient.connect(t['url'], timeout=60)
        try:
            st, vm = l.api('POST', '/api/v1/vms', {'name': 'ohos-second', 'arch': 'x86_64', 'memory_mib': 128,
                                                   'cpus': 1, 'disks': []})
            assert st == 201, (st, vm)
            deadline = time.time() + 60
            while time.time() < deadline:
                op, payload = ws.recv_message(timeout=max(1, deadline - time.time()))
                assert op == wsclient.OP_TEXT, (op, payload)
                ev = json.loads(payload)
                if ev.get('type') == 'vm.created' and ev.get('vm') == vm['id']:
                    return 'vm.created came'
            raise AssertionError('no vm.created event')
        finally:
            ws.close()

    def download():
        # The downloader in the aarch64 daemon: libcurl.so (loaded from libs/ on first use) from a
        # real nginx on 127.0.0.1 (tests/integration/test_downloads.py's), several connections,
        # the SHA-256 checked (OpenSSL's libcrypto.so), the image in the library.
        import hashlib
        from test_downloads import Nginx
        l = state['l']
        root = tempfile.mkdtemp(prefix='qhm-ohos-www-')
        os.chmod(root, 0o755)  # nginx's workers started by root run as nobody
        body = os.urandom(3 * 1024 * 1024 + 123)
        with open(os.path.join(root, 'disk.img'), 'wb') as f:
            f.write(body)
        ng = Nginx(root, rate='0').start()
        deadline = time.time() + 240

        def finished(dl):  # the download object once it has ended
            while dl['state'] not in ('completed', 'failed'):
                assert time.time() < deadline, dl
                time.sleep(0.5)
                st, dl = l.api('GET', '/api/v1/downloads/%s' % dl['id'])
            return dl
        try:
            sha = hashlib.sha256(body).hexdigest()
            t = time.time()
            st, dl = l.api('POST', '/api/v1/downloads', {'url': ng.url('/disk.img'), 'sha256': sha,
                                                         'connections': 4})
            assert st == 201, (st, dl)
            dl = finished(dl)
            assert dl['state'] == 'completed' and dl['checksum']['verified'], dl
            with open(os.path.join(data, 'images', dl['name']), 'rb') as f:
                assert f.read() == body
            # A wrong checksum fails and leaves nothing in the library.
            st, bad = l.api('POST', '/api/v1/downloads', {'url': ng.url('/disk.img'), 'sha256': '0' * 64,
                                                          'name': 'bad.img'})
            assert st == 201, (st, bad)
            bad = finished(bad)
            assert bad['state'] == 'failed' and 'SHA-256 mismatch' in (bad['error'] or ''), bad
            assert not os.path.exists(os.path.join(data, 'images', 'bad.img'))
            return '3 MiB over %d connections, SHA-256 verified, in %.1f s; a wrong checksum refused' % (
                dl['connections'], time.time() - t)
        finally:
            ng.cleanup()
            shutil.rmtree(root, ignore_errors=True)

    def set_firmware():
        # The set's firmware (qemu-manifest.json "uefi_dirs", share/OVMF) and NIC ROMs (share/qemu):
        # a UEFI x86_64 VM with the default NIC (e1000e: QEMU loads efi-e1000e.rom) starts.
        l = state['l']
        body = {'name': 'ohos-uefi', 'arch': 'x86_64', 'memory_mib': 128, 'cpus': 1, 'disks': [],
                'firmware': 'uefi', 'network': {'mode': 'user'}}
        st, dry = l.api('POST', '/api/v1/vms?dry_run=true', body)
        assert st == 200, (st, dry)
        ovmf = os.path.join(os.path.realpath(b.out), 'share', 'OVMF', 'OVMF_CODE_4M.fd')
        assert any(ovmf in a for a in dry['argv']), 'OVMF not from the set: %s' % [a for a in dry['argv'] if 'OVMF' in a]
        st, vm = l.api('POST', '/api/v1/vms', body)
        assert st == 201, (st, vm)
        st, r = l.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=300)
        assert st == 200 and r['state'] == 'running', (st, r)
        time.sleep(3)
        st, v = l.api('GET', '/api/v1/vms/%s' % vm['id'])
        assert v['state'] == 'running', v.get('last_exit', v)
        assert os.path.exists(os.path.join(data, 'vms', vm['id'], 'efivars.qcow2'))
        st, r = l.api('POST', '/api/v1/vms/%s/kill' % vm['id'])
        assert st == 200, (st, r)
        return 'running with %s and efi-e1000e.rom' % os.path.relpath(ovmf, b.out)

    def rdp():
        # A real FreeRDP server (freerdp-shadow-cli over Xvfb, tests/integration/test_rdp.py's) on
        # 127.0.0.1; the console's WebSocket; the aarch64 worker (libqemu-hmos-rdp.so) started
        # through the child stand-in, speaking RDP to it and Guacamole to this side.
        from test_rdp import BLUE, XPeer, near
        from guacclient import GuacClient
        l = state['l']
        peer = XPeer().start()
        try:
            st, vm = l.api('POST', '/api/v1/vms', {
                'name': 'ohos-rdp', 'arch': 'x86_64', 'memory_mib': 128, 'cpus': 1, 'disks': [],
                'rdp': {'host': '127.0.0.1', 'port': peer.port, 'username': 'tester', 'password': 's3cret'}})
            assert st == 201, (st, vm)
            t = time.time()
            st, tk = l.api('POST', '/api/v1/vms/%s/console' % vm['id'], {'protocol': 'rdp'})
            assert st in (200, 201) and tk['protocol'] == 'rdp', (st, tk)
            c = GuacClient(wsclient.connect(tk['url'] + '&width=1280&height=800&dpi=96', protocols=['guacamole'],
                                            timeout=60), ack=True)
            try:
                c.handshake_done(timeout=180)
                assert (c.width, c.height) == (1280, 800), (c.width, c.height)  # the shadow server's screen
                ok = c.pump(240, lambda c: c.frames and near(c.pixel(100, 100), BLUE))
                assert ok, 'no desktop: pixel %r, %d frames, errors %r, closed %r' % (
                    c.pixel(100, 100), len(c.frames), c.errors, c.closed)
                t_frame = time.time() - t
                # Input the other way: the pointer lands on the server's display.
                c.mouse(321, 234)
                deadline = time.time() + 120
                while peer.mouse() != (321, 234):
                    c.pump(0.2)
                    assert time.time() < deadline, 'pointer at %r' % (peer.mouse(),)
                return 'the desktop %.0f s after the ticket (%d bytes, %d png / %d jpeg rects); pointer moved' % (
                    t_frame, c.bytes, c.png_rects, c.jpeg_rects)
            finally:
                c.ws.close()
        finally:
            peer.stop()

    def stop():
        l = state.pop('l')
        rc, rest = l.stop()
        assert rc == 0 and 'stopped' in rest, (rc, rest)

    check('the daemon library starts under qemu-aarch64 (tests/ohos/loader.c, child launcher)', start)
    if 'l' in state:
        try:
            check('REST API with the secret: host facts, VMs; without it 401', host)
            check('a VM created; a bad arch is a 400; i386 (no emulator in the set): 400', create)
            check('the events WebSocket (libwebsockets loaded from libs/ on first use)', events)
            check('an aarch64 guest runs in libqemu-system-aarch64-tci.so, started through the child '
                  'stand-in, and writes to its serial port', guest)
            check('the set\'s firmware: a UEFI x86_64 VM (share/OVMF) with a NIC (its iPXE ROM) runs', set_firmware)
            check('an RDP console: the aarch64 worker (libqemu-hmos-rdp.so, a child) against a real FreeRDP '
                  'server on 127.0.0.1, desktop and pointer', rdp)
            # Last of the checks that start children: after a download, the next child the
            # stand-in forks (under qemu-aarch64) was seen to hang (libcurl's threads at the fork;
            # on a device the system starts children without forking the app).
            check('a download (libcurl.so, OpenSSL) from nginx on 127.0.0.1, checksum verified', download)
        finally:
            if 'l' in state:
                check('the daemon stops cleanly (qhm_daemon_stop, run returns, free)', stop)
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(firmware, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(ROOT, 'build-ohos'))
    ap.add_argument('--no-build', action='store_true', help='use what build-ohos has')
    a = ap.parse_args()
    if not a.no_build:
        def build():
            t = time.time()
            p = subprocess.run(['sh', os.path.join(ROOT, 'scripts', 'ohos', 'build.sh'), a.out],
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
            return '%.0f s' % (time.time() - t)
        check('make ohos (scripts/ohos/build.sh)', build)
        if not results[-1]:
            print('ohos: %d passed, %d failed' % (results.count(True), results.count(False)))
            return 1
    b = Build(a.out)
    elf_checks(b)
    run_checks(b)
    print('ohos: %d passed, %d failed' % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
