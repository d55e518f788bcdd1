# SPDX-License-Identifier: GPL-2.0-or-later
"""A whole Debian 12 (scripts/build-debian-guest.sh: systemd, Xorg, openbox, qemu-guest-agent) in a
VM of the daemon's, from its own boot loader on its own disk: it reaches its desktop in the VNC
console, its agent answers with what systemd and DHCP made of it, its serial console is a shell,
and the ACPI power button (POST /shutdown) ends in `stopped` by the guest's own poweroff. And the
Linux guest tools (data/linux/qhm-guest-tools.sh) from the VM's tools CD, run as root on the serial
console, mount the VM's shared folders with systemd mount units: they are there after a reboot."""

import time

import debianguest
import wsclient
from harness import DaemonTestCase, GuestShares
from wsclient import OP_BINARY


class DebianGuestTest(DaemonTestCase):
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
        self.daemon.wait_serial(vid, 'root@qhm-debian', 60)

        t1 = time.time()
        self.daemon.action(vid, 'shutdown')
        stopped = self.daemon.wait_state(vid, 'stopped', timeout=300, interval=0.5)
        print('debian guest: desktop after %.0f s, ACPI shutdown to stopped in %.0f s (%s)'
              % (desktop_s, time.time() - t1, stopped.get('state_reason')))
        self.assertNotIn('crash', str(stopped.get('state_reason')))

    def shell(self, vid):
        """A serial console viewer (WebSocket): root's shell on ttyS0."""
        st, js, _ = self.daemon.api('POST', '/api/v1/vms/%s/console' % vid, body={'protocol': 'serial'})
        self.assertEqual(st, 200, js)
        ws = wsclient.connect(js['url'], protocols=['binary'])
        self.addCleanup(ws.close)
        return ws

    def run_cmd(self, ws, cmd, mark, timeout=180):
        """Type CMD (which prints MARK when done) into the shell; the output up to the end of MARK's line
        (what follows MARK on it, e.g. an exit status, may come in a later message)."""
        ws.send_binary((cmd + '\n').encode())
        got = bytearray()
        want = mark.encode()
        deadline = time.time() + timeout
        # MARK as printed, not as echoed: the command line quotes it ('"'-split below).
        while want not in got or b'\n' not in got[got.rindex(want):]:
            self.assertLess(time.time(), deadline, 'no %r after %d s: %r' % (mark, timeout, bytes(got[-1500:])))
            op, data = ws.recv_message(max(0.1, deadline - time.time()))
            if op == OP_BINARY:
                got += data
        return got.decode('utf-8', 'replace')

    def test_guest_tools_mount_the_shares_with_systemd(self):
        shares = GuestShares(self.daemon)
        vm = debianguest.new_vm(self, name='debian-shares', shared_folders=shares.fields(), guest_tools=True)
        vid = vm['id']
        self.daemon.action(vid, 'start')
        self.daemon.wait_serial(vid, 'root@qhm-debian', 600)
        ws = self.shell(vid)
        out = self.run_cmd(ws, 'mkdir -p /media/qhm-tools && mount -r LABEL=QHM_TOOLS /media/qhm-tools && '
                           'sh /media/qhm-tools/linux.sh; echo "tools-""rc=$?"', 'tools-rc=')
        self.assertIn('tools-rc=0', out, out[-3000:])
        units = self.run_cmd(ws, 'systemctl is-active mnt-work.mount mnt-media.mount | tr "\\n" " "; '
                             'echo "units-""done"', 'units-done')
        self.assertIn('active active units-done', units, units[-1500:])
        # The tools' second run changes nothing; then the folders through the mounts.
        again = self.run_cmd(ws, 'a=$(stat -c %Y /etc/systemd/system/mnt-work.mount); sleep 1; '
                             'sh /media/qhm-tools/linux.sh >/tmp/again.log 2>&1; echo "again-rc=$?"; '
                             '[ "$a" = "$(stat -c %Y /etc/systemd/system/mnt-work.mount)" ] && echo "unit-""kept"; '
                             'echo "again-""done"', 'again-done')
        self.assertIn('again-rc=0', again, again[-1500:])
        self.assertIn('unit-kept', again, again[-1500:])
        script = ('tr a-z A-Z < /mnt/work/in.txt > /mnt/work/out.txt; ls /mnt/media > /mnt/work/ro-listing.txt; '
                  'if sh -c "echo x > /mnt/media/written.txt" 2>/dev/null; then echo yes; else echo no; fi '
                  '> /mnt/work/ro-writable.txt; sync; echo "io-""done"')
        self.run_cmd(ws, script, 'io-done')
        shares.check(self)
        # A reboot: systemd mounts them again by itself.
        self.run_cmd(ws, 'rm /mnt/work/out.txt; systemctl reboot; echo "reboot-""asked"', 'reboot-asked')
        ws.close()
        deadline = time.time() + 600
        while True:  # the serial autologin again, after the reboot was asked for
            after = self.daemon.serial(vid, 400).rsplit('reboot-asked', 1)[-1]
            if 'automatic login' in after and 'root@qhm-debian' in after.split('automatic login', 1)[1]:
                break
            self.assertLess(time.time(), deadline, after[-2000:])
            time.sleep(2)
        ws = self.shell(vid)
        self.run_cmd(ws, 'tr a-z A-Z < /mnt/work/in.txt > /mnt/work/out.txt; sync; echo "io2-""done"', 'io2-done')
        with open(shares.rw + '/out.txt') as f:
            self.assertEqual(f.read(), 'HELLO FROM THE HOST\n')
