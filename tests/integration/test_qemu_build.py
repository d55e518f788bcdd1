# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU 10 built as shared libraries by qemu-build/build.sh (`make qemu`), loaded the way the
HarmonyOS child process will load them: qemu-build/qhm-qemu-load dlopen()s a library and calls its
qhm_qemu_main / qhm_qemu_img_main. Skipped when the build's cache directory is missing (the build
takes ~half an hour on two cores; make check does not start it).

JIT (tcg): memtest86+ on x86_64 and i386, GRUB's rescue CD menu on x86_64, SeaBIOS past an empty
AHCI CD drive at once; interpreter (tci): the GRUB menu on x86_64, memtest86+ on i386; both: AAVMF's
first frame on aarch64. Each time QMP answers query-version 10.0.x and takes the screendumps, and
`quit` ends QEMU with status 0. Also: only qhm_* is exported; every device/backend/machine of the
daemon's golden command lines exists in each library, and those golden command lines (paths moved to
a temporary dir, QMP listener as fd 3) start; libqemu-img.so creates, checks and describes a qcow2.
Lines starting `measure:` give the seconds to the first screen (TCG vs TCI)."""

import glob
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import (GRUB_RESCUE_ISO, MEMTEST_IA32_ISO, MEMTEST_ISO, QCOW2_MAGIC, built_qemu, frame_verdict,
                     needs_qemu_build, qemu_build_loader, shows_grub_menu, shows_memtest, work_dir)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD_SH = os.path.join(REPO, 'qemu-build', 'build.sh')
AAVMF = '/usr/share/AAVMF'
HOST_ARCH = {'x86_64': 'x86_64', 'aarch64': 'aarch64', 'arm64': 'aarch64'}.get(platform.machine(), platform.machine())


def cache_dir():
    return subprocess.run([BUILD_SH, '--print-dir'], check=True, capture_output=True, text=True).stdout.strip()


def measure(what, seconds):
    print('measure: %s %.1f s' % (what, seconds), flush=True)


@needs_qemu_build
class QemuBuildTest(unittest.TestCase):
    manifest = None
    missing = None

    @classmethod
    def setUpClass(cls):
        # run.py reports a SkipTest from setUpClass as a failure: each test skips in setUp instead.
        out = cache_dir()
        path = os.path.join(out, 'manifest.json')
        if not os.path.exists(path):
            cls.missing = 'no QEMU build in %s (make qemu builds it)' % out
            return
        with open(path) as f:
            cls.manifest = json.load(f)
        cls.loader = qemu_build_loader()

    def setUp(self):
        if self.missing:
            self.skipTest(self.missing)

    def lib(self, variant, arch):
        return self.manifest['variants'][variant]['libraries'][arch]

    def start(self, variant, arch, args):
        return built_qemu(self.manifest, variant, arch, args, cont=True)

    def wait_screen(self, q, check, timeout, what):
        """Seconds from now until a screendump passes CHECK (after frame_verdict's basic checks)."""
        t0 = time.time()
        why = 'no screen yet'
        while time.time() - t0 < timeout:
            if q.proc.poll() is not None:
                self.fail('%s: QEMU exited with %s\n%s' % (what, q.proc.returncode, q.output()))
            ok, why, img = frame_verdict(q.screendump())
            if ok:
                ok, why = check(img)
                if ok:
                    return time.time() - t0
            time.sleep(0.25)
        self.fail('%s: no expected screen after %d s: %s\n%s' % (what, timeout, why, q.output()))

    def check_version_and_quit(self, q, what):
        v = q.qmp.cmd('query-version')['return']['qemu']
        self.assertEqual((v['major'], v['minor']), (10, 0), '%s: query-version %r' % (what, v))
        self.assertEqual(q.qmp.cmd('quit'), {'return': {}})
        rc = q.wait(20)
        self.assertEqual(rc, 0, '%s: exit status %r after quit\n%s' % (what, rc, q.output()))

    def boot(self, variant, arch, iso, check, timeout, what):
        q = self.start(variant, arch, ['-M', 'pc', '-m', '128', '-device', 'VGA', '-cdrom', iso, '-boot', 'd'])
        try:
            t = self.wait_screen(q, check, timeout, what)
            measure('%s %s %s first screen' % (variant, arch, what), t)
            self.check_version_and_quit(q, what)
        finally:
            q.kill()

    def test_libraries_export_only_the_entry(self):
        for variant in ('tcg', 'tci'):
            for arch, path in self.manifest['variants'][variant]['libraries'].items():
                syms = subprocess.run(['nm', '-D', '--defined-only', path], check=True, capture_output=True,
                                      text=True).stdout.split()
                self.assertIn('qhm_qemu_main', syms, path)
                self.assertNotIn('main', syms, path)
        syms = subprocess.run(['nm', '-D', '--defined-only', self.manifest['qemu_img']['library']], check=True,
                              capture_output=True, text=True).stdout.split()
        self.assertIn('qhm_qemu_img_main', syms)

    def help_names(self, lib, option):
        """The names QEMU lists for `OPTION help` (-device: the quoted driver names)."""
        # aarch64 has no default machine and will not list anything without one
        machine = [] if option == '-machine' else ['-machine', 'none']
        r = subprocess.run([self.loader, lib] + machine + [option, 'help'], capture_output=True, text=True,
                           timeout=30)
        out = r.stdout + r.stderr  # `-tpmdev help` lists on stderr and exits 1
        self.assertIn(r.returncode, (0, 1), '%s %s help: %s' % (lib, option, out))
        if option == '-device':
            return set(re.findall(r'^name "([^"]+)"', out, re.M))
        return set(line.split()[0] for line in out.splitlines() if line.strip() and not line.endswith(':'))

    def test_builds_have_what_the_daemon_argv_uses(self):
        """Every device, chardev/netdev/tpmdev backend, machine and accelerator in the daemon's golden
        command lines (tests/cmdline/*.args) exists in both variants of the library for that arch."""
        want = {}
        for fn in sorted(glob.glob(os.path.join(REPO, 'tests', 'cmdline', '*.args'))):
            with open(fn) as f:
                argv = f.read().split('\n')
            arch = os.path.basename(argv[0]).replace('qemu-system-', '')
            for opt, val in zip(argv[1:], argv[2:]):
                if opt == '-accel' and val == 'kvm' and arch != HOST_ARCH:
                    continue  # KVM runs the host's own architecture only
                if opt in ('-device', '-chardev', '-netdev', '-tpmdev', '-machine', '-accel'):
                    want.setdefault(arch, {}).setdefault(opt, {})[val.split(',')[0]] = os.path.basename(fn)
        self.assertEqual(sorted(want), ['aarch64', 'i386', 'x86_64'])
        for variant in ('tcg', 'tci'):
            for arch, opts in want.items():
                lib = self.lib(variant, arch)
                for opt, names in opts.items():
                    have = self.help_names(lib, opt)
                    missing = {n: g for n, g in names.items() if n not in have}
                    self.assertEqual(missing, {}, '%s %s: %s missing (used by those golden files)'
                                     % (variant, arch, opt))

    # Golden command lines that need no more than files the test can make: not KVM (no /dev/kvm
    # here), swtpm, a kernel, host folders or fixed host ports.
    GOLDEN_SKIP = ('-accel\nkvm', '-tpmdev', '-kernel', '-fsdev', 'hostfwd=')

    def test_daemon_golden_argv_starts(self):
        """The daemon's golden command lines (tests/cmdline/*.args), with their data-dir paths moved
        into a temporary dir (disks and efivars.qcow2 made with libqemu-img.so) and the QMP and
        serial listeners as fds 3 and 4 as the daemon passes them, start the JIT library of their
        arch: QMP answers and the VM runs."""
        import socket
        ran = []
        for fn in sorted(glob.glob(os.path.join(REPO, 'tests', 'cmdline', '*.args'))):
            with open(fn) as f:
                text = f.read()
            if any(k in text for k in self.GOLDEN_SKIP):
                continue
            if re.search(r'file=/(?!var/lib/qemu-hmos/|usr/share/)', text):
                continue  # host files the test cannot make (commas*.args: /srv/a,,b/...)
            tmp = tempfile.mkdtemp(prefix='qhm', dir='/tmp')
            try:
                argv = text.replace('/var/lib/qemu-hmos/', tmp + '/').split('\n')
                arch = os.path.basename(argv[0]).replace('qemu-system-', '')
                for a in argv:
                    for m in re.finditer(r'(?:^|,)file=(%s/[^,]+)' % re.escape(tmp), a):
                        path = m.group(1)
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                        if os.path.basename(path) == 'efivars.qcow2':
                            code = re.search(r'file=(/usr/share/[^,]+_CODE[^,]*\.fd)', text).group(1)
                            src = code.replace('_CODE', '_VARS')
                            src = src.replace('.ms.fd', '.fd') if not os.path.exists(src) else src
                            cmd = ['convert', '-f', 'raw', '-O', 'qcow2', src, path]
                        elif path.endswith('.qcow2'):
                            cmd = ['create', '-f', 'qcow2', path, '64M']
                        else:  # an ISO from the image library: an empty one will do
                            open(path, 'wb').close()
                            continue
                        r = subprocess.run([self.loader, self.manifest['qemu_img']['library']] + cmd,
                                           capture_output=True, text=True)
                        self.assertEqual(r.returncode, 0, r.stderr)
                for a in argv:
                    for m in re.finditer(r'(%s/vms/[0-9a-f]+)/run/' % re.escape(tmp), a):
                        os.makedirs(m.group(1) + '/run', exist_ok=True)
                lsock = socket.socket(socket.AF_UNIX)
                qmp_path = os.path.join(tmp, 'qmp.sock')
                lsock.bind(qmp_path)
                lsock.listen(1)
                # The serial port's listener as fd 4 (wait=on), connected to before QEMU runs, as
                # the daemon does (vm_serial.c).
                ssock = socket.socket(socket.AF_UNIX)
                ssock.bind(os.path.join(tmp, 'serial.sock'))
                ssock.listen(1)
                serial_conn = socket.socket(socket.AF_UNIX)
                serial_conn.connect(os.path.join(tmp, 'serial.sock'))
                self.addCleanup(serial_conn.close)
                fds = (lsock.fileno(), ssock.fileno())

                def place_fds():
                    high = [os.dup(fd) for fd in fds]  # (above 4: neither clobbers the other)
                    for n, fd in zip((3, 4), high):
                        os.dup2(fd, n)
                largs = []
                for d in self.manifest['L']:
                    largs += ['-L', d]
                log = open(os.path.join(tmp, 'qemu.log'), 'w+')
                proc = subprocess.Popen([self.loader, self.lib('tcg', arch)] + largs + [a for a in argv[1:] if a],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        pass_fds=(3, 4) + fds, preexec_fn=place_fds)
                try:
                    c = socket.socket(socket.AF_UNIX)
                    c.settimeout(20)
                    c.connect(qmp_path)
                    f = c.makefile('rw')
                    try:
                        greeting = json.loads(f.readline())
                    except (OSError, ValueError) as e:
                        log.seek(0)
                        self.fail('%s: no QMP greeting (%s), exit status %r\n%s'
                                  % (os.path.basename(fn), e, proc.poll(), log.read()))
                    self.assertEqual(greeting['QMP']['version']['qemu']['major'], 10)
                    for cmd in ('qmp_capabilities', 'query-status'):
                        f.write(json.dumps({'execute': cmd}) + '\n')
                        f.flush()
                        while True:
                            r = json.loads(f.readline())
                            if 'event' not in r:
                                break
                    log.seek(0)
                    self.assertEqual(r.get('return', {}).get('status'), 'running',
                                     '%s: %r\n%s' % (os.path.basename(fn), r, log.read()))
                    f.write(json.dumps({'execute': 'quit'}) + '\n')
                    f.flush()
                    self.assertEqual(proc.wait(20), 0)
                    log.seek(0)
                    out = log.read()
                    self.assertNotIn('deprecated', out.lower(), '%s: %s' % (os.path.basename(fn), out))
                    ran.append(os.path.basename(fn))
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                    lsock.close()
                    ssock.close()
                    log.close()
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        print('measure: golden argv started with QEMU 10: %d (%s)' % (len(ran), ' '.join(ran)), flush=True)
        self.assertGreaterEqual(len(ran), 15)

    def test_tcg_x86_64_memtest(self):
        self.boot('tcg', 'x86_64', MEMTEST_ISO, shows_memtest, 90, 'memtest86+')

    def test_tcg_i386_memtest(self):
        self.boot('tcg', 'i386', MEMTEST_IA32_ISO, shows_memtest, 90, 'memtest86+ ia32')

    def test_tcg_x86_64_grub(self):
        self.boot('tcg', 'x86_64', GRUB_RESCUE_ISO, shows_grub_menu, 90, 'GRUB menu')

    def test_tci_x86_64_grub(self):
        self.boot('tci', 'x86_64', GRUB_RESCUE_ISO, shows_grub_menu, 300, 'GRUB menu')

    def test_tci_i386_memtest(self):
        self.boot('tci', 'i386', MEMTEST_IA32_ISO, shows_memtest, 300, 'memtest86+ ia32')

    def test_seabios_passes_an_empty_ahci_cdrom(self):
        """q35 with an empty CD drive on its AHCI controller (every daemon VM without media has one):
        SeaBIOS gets to 'No bootable device' at once. With Debian 12's SeaBIOS 1.16.2, which does not
        see QEMU 10's PxIS.TFES, it waited 32 s for an AHCI timeout first (build.sh takes 1.16.3)."""
        log = os.path.join(work_dir(), 'qemu-build-seabios-%d.log' % os.getpid())
        q = self.start('tcg', 'x86_64', ['-M', 'q35', '-m', '128', '-drive', 'if=none,id=cd0,media=cdrom,readonly=on',
                                         '-device', 'ide-cd,drive=cd0,bus=ide.0', '-debugcon', 'file:' + log,
                                         '-global', 'isa-debugcon.iobase=0x402'])
        text = ''
        try:
            t0 = time.time()
            while time.time() - t0 < 20 and 'No bootable device' not in text:
                time.sleep(0.1)
                with open(log, errors='replace') as f:
                    text = f.read()
            measure('SeaBIOS q35 empty CD drive to no bootable device', time.time() - t0)
        finally:
            q.kill()
            os.unlink(log)
        self.assertNotIn('Timeout at ahci_command', text)
        self.assertIn('No bootable device', text, 'SeaBIOS not done in 20 s (an AHCI command waiting for its '
                      '32 s timeout?):\n' + text[-2000:])

    def test_tcg_aarch64_aavmf_first_frame(self):
        self.aavmf('tcg', 120)

    def test_tci_aarch64_aavmf_first_frame(self):
        self.aavmf('tci', 300)

    def aavmf(self, variant, timeout):
        """AAVMF (Debian's qemu-efi-aarch64) on -M virt draws its first frame (the TianoCore logo)
        on ramfb."""
        code = os.path.join(AAVMF, 'AAVMF_CODE.fd')
        if not os.path.exists(code):
            self.skipTest('no %s (qemu-efi-aarch64)' % code)
        vars_copy = os.path.join(work_dir(), 'qemu-build-AAVMF_VARS-%s-%d.fd' % (variant, os.getpid()))
        shutil.copyfile(os.path.join(AAVMF, 'AAVMF_VARS.fd'), vars_copy)
        q = self.start(variant, 'aarch64', [
            '-M', 'virt', '-cpu', 'max', '-m', '256', '-device', 'ramfb',
            '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=' + code,
            '-drive', 'if=pflash,format=raw,unit=1,file=' + vars_copy])
        try:
            t = self.wait_screen(q, lambda img: (True, ''), timeout, 'AAVMF')
            measure('%s aarch64 AAVMF first frame' % variant, t)
            self.check_version_and_quit(q, 'AAVMF')
        finally:
            q.kill()
            os.unlink(vars_copy)

    def test_qemu_img_creates_and_checks_qcow2(self):
        img = os.path.join(work_dir(), 'qemu-build-%d.qcow2' % os.getpid())
        lib = self.manifest['qemu_img']['library']
        try:
            r = subprocess.run([self.loader, lib, 'create', '-f', 'qcow2', img, '64M'], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(img, 'rb') as f:
                self.assertEqual(f.read(4), QCOW2_MAGIC)
            r = subprocess.run([self.loader, lib, 'check', img], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn('No errors were found', r.stdout)
            r = subprocess.run([self.loader, lib, 'info', '--output=json', img], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            info = json.loads(r.stdout)
            self.assertEqual((info['format'], info['virtual-size']), ('qcow2', 64 << 20))
            r = subprocess.run([self.loader, lib, '--version'], capture_output=True, text=True)
            self.assertIn('version 10.0.', r.stdout)
        finally:
            if os.path.exists(img):
                os.unlink(img)


if __name__ == '__main__':
    unittest.main()
