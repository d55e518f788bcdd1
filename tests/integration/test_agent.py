# SPDX-License-Identifier: GPL-2.0-or-later
"""The QEMU guest agent, for real: Debian's qemu-ga runs in a Linux guest (Debian 12's kernel
booted by QEMU, a busybox initramfs built by the test) on the VM's org.qemu.guest_agent.0 port,
and GET /vms/{id}/guest reports what it says (version, host name, kernel, interfaces); a guest
without an agent, a stopped VM and a VM without the channel are told apart."""

import os
import tempfile
import time

import linuxguest
from harness import MEMTEST_ISO, DaemonTestCase

AGENT_SCRIPT = '''$B mount -t sysfs sys /sys
$B hostname qhm-guest
$B ip link set lo up 2>/dev/null || $B ifconfig lo 127.0.0.1 up
port=
for p in /sys/class/virtio-ports/*; do
  if [ "$($B cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ]; then port=/dev/$($B basename $p); fi
done
$B mkdir -p /var/run /tmp
/usr/sbin/qemu-ga -m virtio-serial -p "$port" -f /tmp/qga.pid'''


class AgentTest(DaemonTestCase):
    def guest(self, script):
        tmp = tempfile.mkdtemp(prefix='qhm-agent-', dir=os.path.join(self.daemon.data_dir, 'shared'))
        os.chmod(tmp, 0o711)  # QEMU (run as an unprivileged user under a root daemon) reads the initrd
        kernel, _ = linuxguest.kernel()
        initrd = linuxguest.build_initrd(os.path.join(tmp, 'initrd.gz'), script,
                                         modules=['virtio_pci', 'virtio_console'], files=linuxguest.qemu_ga_files())
        return {'kernel': kernel, 'initrd': initrd, 'cmdline': 'console=ttyS0 quiet panic=-1'}

    def test_agent_in_a_linux_guest(self):
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], kernel_boot=self.guest(AGENT_SCRIPT))
        self.assertTrue(vm['guest_agent'], vm)
        vid = vm['id']
        self.daemon.action(vid, 'start')
        deadline = time.time() + 120
        while True:
            g = self.daemon.ok('GET', '/api/v1/vms/%s/guest' % vid, timeout=15)
            if g['agent'] or time.time() > deadline:
                break
            time.sleep(1)
        self.assertTrue(g['agent'], g)
        self.assertTrue(g['version'].startswith('7.2'), g)
        self.assertEqual(g['hostname'], 'qhm-guest')
        self.assertTrue(g['os']['kernel'].startswith('6.1.'), g)
        lo = [i for i in g['interfaces'] if i['name'] == 'lo']
        self.assertTrue(lo and any(a['address'] == '127.0.0.1' for a in lo[0]['addresses']), g)
        # Again: each query has its own connection, synchronised first.
        self.assertEqual(self.daemon.ok('GET', '/api/v1/vms/%s/guest' % vid)['hostname'], 'qhm-guest')

    def test_no_agent_stopped_and_no_channel(self):
        vm = self.new_vm(memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_ISO)
        vid = vm['id']
        self.assertError(self.api('GET', '/api/v1/vms/%s/guest' % vid), 409, 'invalid_state')
        self.daemon.action(vid, 'start')
        t0 = time.time()
        g = self.daemon.ok('GET', '/api/v1/vms/%s/guest' % vid)
        self.assertFalse(g['agent'], g)
        self.assertIn('no guest agent', g['reason'])
        self.assertLess(time.time() - t0, 6)
        off = self.new_vm(memory_mib=128, cpus=1, disks=[], cdrom=MEMTEST_ISO, guest_agent=False)
        self.assertNotIn('guest_agent', off)
        self.daemon.action(off['id'], 'start')
        self.assertError(self.api('GET', '/api/v1/vms/%s/guest' % off['id']), 409, 'no_agent_channel')
        self.assertError(self.api('POST', '/api/v1/vms/%s/guest' % vid), 405, 'method_not_allowed')
        self.assertError(self.api('GET', '/api/v1/vms/0000000000000000/guest'), 404, 'not_found')
