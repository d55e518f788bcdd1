# SPDX-License-Identifier: GPL-2.0-or-later
"""UEFI for x86_64 guests (Debian's OVMF), Secure Boot and a TPM 2.0 (swtpm started by the daemon),
against real QEMU and swtpm: a UEFI VM reaches the firmware's own screen; a Windows-11-style VM
(UEFI + Secure Boot + TPM) runs with its own variable store from the Microsoft-keys template and
its TPM state; swtpm goes away with QEMU; and the combinations that cannot work are refused."""

import os
import time

import subprocess

from harness import QEMU_IMG, DaemonTestCase, image_info, proc_cmdline, wait_pid_gone


def swtpm_pids(vid):
    out = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            argv = proc_cmdline(int(name)) or []
            if argv and os.path.basename(argv[0]) == 'swtpm' and any(vid in a for a in argv):
                out.append(int(name))
    return out


class FirmwareTest(DaemonTestCase):
    def test_uefi_reaches_the_firmware_screen(self):
        h = self.daemon.ok('GET', '/api/v1/host')
        self.assertTrue(h['arches']['x86_64']['uefi'], h)
        self.assertTrue(h['tpm']['available'], h)
        self.assertTrue(os.access(h['tpm']['binary'], os.X_OK), h)
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], firmware='uefi')
        self.assertEqual(vm['firmware'], 'uefi')
        self.daemon.action(vm['id'], 'start')
        self.daemon.wait_real_frame(vm['id'], 120)  # the TianoCore logo, then the boot manager
        # the VM's variable store: qcow2 (savevm snapshots it), the template's size (the pflash's)
        vars_path = os.path.join(self.daemon.data_dir, 'vms', vm['id'], 'efivars.qcow2')
        info = image_info(vars_path)
        self.assertEqual(info['format'], 'qcow2', info)
        self.assertEqual(info['virtual-size'], os.path.getsize('/usr/share/OVMF/OVMF_VARS_4M.fd'), info)
        self.assertFalse(os.path.exists(os.path.join(self.daemon.data_dir, 'vms', vm['id'], 'efivars.fd')))

    def test_raw_vars_of_an_older_version_are_converted(self):
        """An older version's raw efivars.fd keeps its variables: qcow2 at the next start, the raw removed."""
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], firmware='uefi')
        d = os.path.join(self.daemon.data_dir, 'vms', vm['id'])
        with open('/usr/share/OVMF/OVMF_VARS_4M.fd', 'rb') as f:
            raw = bytearray(f.read())
        marker = b'qemu-hmos raw vars marker'
        raw[-4096:-4096 + len(marker)] = marker  # the spare block's end: the firmware leaves it
        with open(os.path.join(d, 'efivars.fd'), 'wb') as f:
            f.write(raw)
        self.daemon.action(vm['id'], 'start')
        self.daemon.action(vm['id'], 'kill')
        self.assertFalse(os.path.exists(os.path.join(d, 'efivars.fd')))
        out = os.path.join(self.daemon.data_dir, 'vars-back.raw')
        subprocess.run([QEMU_IMG, 'convert', '-U', '-f', 'qcow2', '-O', 'raw', os.path.join(d, 'efivars.qcow2'), out],
                       check=True)
        with open(out, 'rb') as f:
            back = f.read()
        self.assertEqual(len(back), len(raw))
        self.assertEqual(back[-4096:-4096 + len(marker)], marker)

    def test_secure_boot_and_tpm(self):
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], firmware='uefi', secure_boot=True, tpm=True)
        vid = vm['id']
        self.assertEqual((vm['secure_boot'], vm['tpm']), (True, True))
        self.daemon.action(vid, 'start')
        self.daemon.wait_real_frame(vid, 180)
        pids = swtpm_pids(vid)
        self.assertEqual(len(pids), 1, 'one swtpm for the VM')
        d = os.path.join(self.daemon.data_dir, 'vms', vid)
        self.assertTrue(os.listdir(os.path.join(d, 'tpm')), 'no TPM state written')
        with open('/usr/share/OVMF/OVMF_VARS_4M.ms.fd', 'rb') as f:
            ms = f.read()
        self.assertEqual(image_info(os.path.join(d, 'efivars.qcow2'))['virtual-size'], len(ms))
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vid)['argv']
        self.assertIn('q35,smm=on', argv)
        self.assertIn('tpm-crb,tpmdev=tpm0', argv)
        # swtpm ends with its QEMU; a new start starts a new one on the same state.
        self.daemon.action(vid, 'kill')
        self.assertTrue(wait_pid_gone(pids[0], 10), 'swtpm outlived QEMU')
        self.daemon.action(vid, 'start')
        self.assertEqual(len(swtpm_pids(vid)), 1)
        self.daemon.action(vid, 'kill')
        # Turning Secure Boot off takes a fresh variable store from the plain template.
        v = self.daemon.ok('PATCH', '/api/v1/vms/' + vid, body={'secure_boot': False})
        self.assertNotIn('secure_boot', v)
        self.assertFalse(os.path.exists(os.path.join(d, 'efivars.qcow2')))

    def test_refused_combinations(self):
        for body, field in (({'arch': 'i386', 'firmware': 'uefi'}, 'firmware'),
                            ({'secure_boot': True}, 'secure_boot'),
                            ({'arch': 'aarch64', 'secure_boot': True}, 'secure_boot'),
                            ({'firmware': 'coreboot'}, 'firmware'),
                            ({'tpm': 'yes'}, 'tpm')):
            st, js, _ = self.api('POST', '/api/v1/vms', body=dict(body, name='bad', memory_mib=128, disks=[]))
            self.assertEqual(st, 400, '%r -> %d %r' % (body, st, js))
            self.assertTrue(js['error']['message'].startswith(field), js)
        # aarch64 is UEFI whatever is asked; a TPM works there too (tpm-tis-device).
        vm = self.new_vm(arch='aarch64', memory_mib=256, cpus=1, disks=[], tpm=True)
        self.assertTrue(vm['tpm'])
        self.assertNotIn('firmware', vm)
