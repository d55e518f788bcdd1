# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot real firmware and media to a real frame (not QEMU's placeholder, not one colour)."""

import os

from harness import (GRUB_RESCUE_ISO, MEMTEST_IA32_ISO, MEMTEST_ISO, DaemonTestCase, pid_alive,
                     proc_cmdline, shows_grub_menu, shows_memtest)


class BootTest(DaemonTestCase):
    def boot(self, timeout, accept=None, **fields):
        vm = self.new_vm(**fields)
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=60)
        self.assertEqual(st, 200, js)
        self.assertEqual(js.get('state'), 'running', js)
        pid = js.get('pid')
        self.assertIsInstance(pid, int, js)
        self.assertTrue(pid_alive(pid))
        argv = proc_cmdline(pid) or []
        self.assertEqual(os.path.basename(argv[0]) if argv else None, 'qemu-system-' + fields['arch'], argv)
        img = self.daemon.wait_real_frame(vm['id'], timeout, accept=accept)
        st, js, _ = self.api('POST', '/api/v1/vms/%s/kill' % vm['id'])
        self.assertEqual(st, 200, js)
        return vm, img

    def test_x86_64_seabios_no_media(self):
        self.boot(30, name='bios64', arch='x86_64', memory_mib=128, cpus=1, disks=[])

    def test_i386_seabios_memtest_cdrom(self):
        self.boot(30, name='bios32', arch='i386', memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_IA32_ISO)

    def test_aarch64_uefi(self):
        _, img = self.boot(90, name='uefi', arch='aarch64', memory_mib=512, cpus=1, disks=[])
        # UEFI draws at least the TianoCore logo on a black screen, or its text console.
        self.assertGreaterEqual(len(img.colours(16)), 2)

    def test_memtest_x86_64(self):
        self.boot(90, accept=shows_memtest, name='memtest', arch='x86_64', memory_mib=256, cpus=1, disks=[],
                  cdrom=MEMTEST_ISO)

    def test_grub_rescue(self):
        self.boot(60, accept=shows_grub_menu, name='grub', arch='x86_64', memory_mib=256, cpus=1, disks=[],
                  cdrom=GRUB_RESCUE_ISO)
