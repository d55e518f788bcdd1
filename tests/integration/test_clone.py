# SPDX-License-Identifier: GPL-2.0-or-later
"""Cloning a stopped VM against real qcow2 disks and real QEMU: the copy has the settings, its own
disks with the same data (checked with qemu-io) and without the source's snapshots, its own id,
SMBIOS UUID and MAC, and it boots; the two are independent afterwards; bad input and a failed copy
leave no VM and no files behind."""

import http.client
import os
import subprocess
import time

from harness import MEMTEST_ISO, QEMU_IMG, DaemonTestCase, image_info, image_snapshots as snapshots, qemu_io

def mac(argv):
    for a in argv:
        if 'mac=' in a:
            return a.split('mac=')[1].split(',')[0]
    return None


class CloneTest(DaemonTestCase):
    def vm_dirs(self):
        return sorted(os.listdir(os.path.join(self.daemon.data_dir, 'vms')))

    def test_clone_is_a_full_independent_copy(self):
        src = self.new_vm(name='original', memory_mib=128, cpus=1, disks=[{'size_gib': 1}], cdrom=MEMTEST_ISO,
                          boot_order=['cdrom', 'disk'], network={'mode': 'user', 'forwards': [{'guest_port': 22}]})
        sd = src['disks'][0]['path']
        self.assertTrue(qemu_io(sd, 'write -P 0x42 0 1M'))
        self.daemon.ok('POST', '/api/v1/vms/%s/snapshots' % src['id'], body={'name': 'old'}, expect=201)
        c = self.daemon.ok('POST', '/api/v1/vms/%s/clone' % src['id'], body={'name': 'copy'}, expect=201)
        self.addCleanup(self.daemon.dispose, c['id'])
        self.assertEqual(c['name'], 'copy')
        self.assertEqual(c['state'], 'stopped')
        self.assertNotEqual(c['id'], src['id'])
        self.assertNotEqual(c['uuid'], src['uuid'])
        for k in ('arch', 'memory_mib', 'cpus', 'cdrom', 'boot_order', 'network', 'display'):
            self.assertEqual(c[k], src[k], k)
        cd = c['disks'][0]['path']
        self.assertEqual(os.path.dirname(cd), os.path.join(self.daemon.data_dir, 'vms', c['id']))
        self.assertTrue(qemu_io(cd, 'read -P 0x42 0 1M'), 'the data is not in the copy')
        self.assertEqual(snapshots(cd), [], 'the copy has the source\'s snapshots')
        self.assertEqual(snapshots(sd), ['old'])
        a1 = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % src['id'])['argv']
        a2 = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % c['id'])['argv']
        self.assertNotEqual(mac(a1), mac(a2))
        # Independent: writing to the copy leaves the source alone.
        self.assertTrue(qemu_io(cd, 'write -P 0x77 0 1M'))
        self.assertTrue(qemu_io(sd, 'read -P 0x42 0 1M'))
        # Both listed; the copy boots; the source can start beside it.
        names = [v['name'] for v in self.daemon.ok('GET', '/api/v1/vms')['vms']]
        self.assertIn('original', names)
        self.assertIn('copy', names)
        self.daemon.action(c['id'], 'start')
        self.daemon.wait_real_frame(c['id'], 120)
        self.daemon.action(src['id'], 'start')
        # A running VM is not cloned (its disks are changing).
        self.assertError(self.api('POST', '/api/v1/vms/%s/clone' % src['id'], body={'name': 'copy2'}), 409,
                         'invalid_state')

    def test_uefi_variables_are_copied_without_snapshots(self):
        # aarch64 gets its variable store (qcow2) at create; the copy has the same variables, not the
        # source's internal snapshots (savevm puts one in the store too)
        src = self.new_vm(name='uefi-src', arch='aarch64', memory_mib=256, disks=[])
        sv = os.path.join(self.daemon.data_dir, 'vms', src['id'], 'efivars.qcow2')
        subprocess.run([QEMU_IMG, 'snapshot', '-c', 'old', sv], check=True)
        c = self.daemon.ok('POST', '/api/v1/vms/%s/clone' % src['id'], body={'name': 'uefi-copy'}, expect=201)
        self.addCleanup(self.daemon.dispose, c['id'])
        cv = os.path.join(self.daemon.data_dir, 'vms', c['id'], 'efivars.qcow2')
        self.assertEqual(image_info(cv)['virtual-size'], os.path.getsize('/usr/share/AAVMF/AAVMF_VARS.fd'))
        self.assertEqual(snapshots(cv), [])
        self.assertEqual(snapshots(sv), ['old'])
        self.assertEqual(subprocess.run([QEMU_IMG, 'compare', '-q', sv, cv]).returncode, 0)

    def test_bad_input_and_failure_leave_nothing(self):
        src = self.new_vm(name='base', memory_mib=128, disks=[{'size_gib': 1}, {'size_gib': 1}])
        path = '/api/v1/vms/%s/clone' % src['id']
        dirs = self.vm_dirs()
        n = len(self.daemon.ok('GET', '/api/v1/vms')['vms'])
        self.assertError(self.api('POST', path, body={}), 400, 'invalid_field')
        self.assertError(self.api('POST', path, body={'name': ''}), 400, 'invalid_field')
        self.assertError(self.api('POST', path, body={'name': 'x', 'disks': []}), 400, 'invalid_field')
        self.assertError(self.api('POST', path, body={'name': 'base'}), 409, 'conflict')
        self.assertError(self.api('POST', path, raw=b'nope'), 400, 'malformed_json')
        self.assertError(self.api('GET', path), 405, 'method_not_allowed')
        self.assertError(self.api('POST', '/api/v1/vms/0000000000000000/clone', body={'name': 'y'}), 404,
                         'not_found')
        # The second disk cannot be read: the half-made copy is removed, no VM appears.
        d1 = src['disks'][1]['path']
        os.rename(d1, d1 + '.away')
        self.addCleanup(lambda: os.path.exists(d1 + '.away') and os.replace(d1 + '.away', d1))
        st, js, _ = self.api('POST', path, body={'name': 'broken'})
        self.assertEqual(st, 500, js)
        self.assertIn('copying', js['error']['message'])
        os.replace(d1 + '.away', d1)
        self.assertEqual(self.vm_dirs(), dirs)
        self.assertEqual(len(self.daemon.ok('GET', '/api/v1/vms')['vms']), n)
        # And the source is usable as before: a clone now works.
        c = self.daemon.ok('POST', path, body={'name': 'broken'}, expect=201)
        self.addCleanup(self.daemon.dispose, c['id'])
        self.assertEqual(len(c['disks']), 2)


class CloneShutdownTest(DaemonTestCase):
    """SIGTERM while a clone copies a disk: the request is answered, the half-made copy is removed,
    the daemon exits cleanly, and the next daemon sees the source only."""

    def test_sigterm_during_copy(self):
        import signal
        import threading
        src = self.new_vm(name='big', memory_mib=128, disks=[{'size_gib': 4}])
        # Data to copy (a sparse disk would be copied at once): 1 GiB of a pattern.
        self.assertTrue(qemu_io(src['disks'][0]['path'], 'write -P 0x5a 0 1G'))
        dirs = sorted(os.listdir(os.path.join(self.daemon.data_dir, 'vms')))
        out = {}

        def clone():
            try:
                out['r'] = self.api('POST', '/api/v1/vms/%s/clone' % src['id'], body={'name': 'copy'}, timeout=60)
            except (OSError, http.client.HTTPException) as e:  # closed without an answer: allowed
                out['closed'] = repr(e)

        t = threading.Thread(target=clone)
        t.start()
        deadline = time.time() + 10
        while time.time() < deadline and len(os.listdir(os.path.join(self.daemon.data_dir, 'vms'))) == len(dirs):
            time.sleep(0.01)  # the copy's directory exists: qemu-img is running
        self.daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.proc.wait(30), 0, self.daemon.stderr_tail())
        t.join(30)
        st = out.get('r', (None,))[0]
        self.assertIn(st, (500, 503, None), out)  # answered with an error, or the connection closed
        self.assertEqual(sorted(os.listdir(os.path.join(self.daemon.data_dir, 'vms'))), dirs)
        self.daemon.start()
        self.assertEqual([v['name'] for v in self.daemon.ok('GET', '/api/v1/vms')['vms']], ['big'])
