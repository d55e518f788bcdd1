# SPDX-License-Identifier: GPL-2.0-or-later
"""A whole Debian 12 (scripts/build-debian-guest.sh: systemd, Xorg, openbox, qemu-guest-agent) in a
VM of the daemon's, from its own boot loader on its own disk: it reaches its desktop in the VNC
console, its agent answers with what systemd and DHCP made of it, its serial console is a shell,
and the ACPI power button (POST /shutdown) ends in `stopped` by the guest's own poweroff."""

import time

import debianguest
from harness import DaemonTestCase


class DebianGuestTest(DaemonTestCase):
    def serial_text(self, vid):
        st, data, _ = self.api('GET', '/api/v1/vms/%s/serial?tail=400' % vid)
        self.assertEqual(st, 200)
        return data.decode('utf-8', 'replace') if isinstance(data, bytes) else str(data)

    def test_desktop_agent_serial_and_acpi_shutdown(self):
        vm = debianguest.new_vm(self)
        vid = vm['id']
        t0 = time.time()
        self.daemon.action(vid, 'start')
        # GRUB, the kernel, systemd, then the autologin's startx: the root window's colour with an
        # xterm on it (frame_verdict: not all one colour).
        self.daemon.wait_real_frame(vid, 600, accept=debianguest.desktop_shown, interval=2)
        desktop_s = time.time() - t0

        g = self.daemon.wait_agent(vid, 180)
        self.assertTrue(g['agent'], g)
        self.assertEqual(g['hostname'], debianguest.HOSTNAME, g)
        self.assertEqual(g['os']['id'], 'debian', g)
        self.assertTrue(g['os']['kernel'].startswith('6.1.'), g)
        self.assertEqual(g['os']['machine'], 'x86_64', g)
        # systemd-networkd's DHCP lease from QEMU's user network.
        deadline = time.time() + 120
        while not any(a['address'] == '10.0.2.15' for i in g['interfaces'] for a in i['addresses']):
            self.assertLess(time.time(), deadline, 'no 10.0.2.15 address: %r' % g['interfaces'])
            time.sleep(2)
            g = self.daemon.ok('GET', '/api/v1/vms/%s/guest' % vid, timeout=15)

        # The serial console's autologin: a root shell prompt on ttyS0.
        deadline = time.time() + 60
        while 'root@qhm-debian' not in self.serial_text(vid):
            self.assertLess(time.time(), deadline, self.serial_text(vid)[-2000:])
            time.sleep(1)

        t1 = time.time()
        self.daemon.action(vid, 'shutdown')
        stopped = self.daemon.wait_state(vid, 'stopped', timeout=300, interval=0.5)
        print('debian guest: desktop after %.0f s, ACPI shutdown to stopped in %.0f s (%s)'
              % (desktop_s, time.time() - t1, stopped.get('state_reason')))
        self.assertNotIn('crash', str(stopped.get('state_reason')))
