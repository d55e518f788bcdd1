# SPDX-License-Identifier: GPL-2.0-or-later
"""The VM's first serial port, for real: the Linux test guest (console=ttyS0) prints there, the
daemon keeps the last 64 KiB and GET /vms/{id}/serial?tail=N gives its last lines — from the
kernel's first line on (the daemon is connected before QEMU runs), after the guest stopped, and
again after a daemon restart (reattached: what comes after it). The serial console's WebSocket
viewers (/serial/{id}): the kept output first, the guest's output live to several viewers,
input to the guest, limits (a message over 4096 bytes, a viewer that does not read while the
guest prints megabytes: closed, the guest and the other viewer go on), the VM's deletion.
Bad input is refused."""

import time

import linuxguest
import wsclient
from harness import DaemonTestCase
from wsclient import OP_BINARY, OP_CLOSE

# Echoes each line it reads from the console; "spam" prints 2.5 MB.
ECHO_SCRIPT = '''echo qhm-echo-ready
while read line; do
  if [ "$line" = spam ]; then $B yes qhm-spam-line-of-some-length | $B head -c 2500000; echo; echo spam-done
  else echo "got:$line"; fi
done'''

# Prints a marker, then a numbered line a second, forever; a line of 3,000 bytes at tick 3.
TICK_SCRIPT = '''echo qhm-serial-hello
i=0
while true; do
  echo "tick $i"
  if [ $i = 3 ]; then $B head -c 3000 /dev/zero | $B tr '\\000' x; echo; fi
  i=$((i + 1))
  $B sleep 1
done'''


class SerialTest(DaemonTestCase):
    def test_linux_console_tail_and_reattach(self):
        kb = linuxguest.kernel_boot(self.daemon.scratch_dir('qhm-serial-'), TICK_SCRIPT, modules=[])
        kb['cmdline'] = 'console=ttyS0 panic=-1'  # not quiet: the kernel's first line is there too
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], kernel_boot=kb)
        vid = vm['id']
        self.assertEqual(self.daemon.serial(vid), '')  # never started: nothing
        self.daemon.action(vid, 'start')
        out = self.daemon.wait_serial(vid, 'tick 5')
        # From the first line the kernel printed (nothing lost before the daemon connected).
        self.assertTrue(out.startswith('[    0.000000] Linux version 6.1'), out[:300])
        self.assertIn('qhm-serial-hello', out)
        self.assertIn('x' * 3000, out)
        # tail=N: the last N lines, the last one possibly without its newline yet.
        last2 = self.daemon.serial(vid, 2)
        self.assertLessEqual(last2.count('\n'), 2, last2)
        self.assertTrue(out.endswith(last2) or last2.startswith('tick'), (last2, out[-200:]))
        self.assertTrue(all(x.startswith('tick') for x in last2.splitlines()), last2)

        # A daemon restart: QEMU keeps running, the new daemon connects again and keeps what comes.
        self.daemon.stop()
        self.daemon.start()
        self.daemon.wait_state(vid, 'running', 60)
        n = int(out.rsplit('tick ', 1)[1].split()[0])
        out2 = self.daemon.wait_serial(vid, 'tick %d' % (n + 3))
        self.assertNotIn('qhm-serial-hello', out2)  # the output before the restart is not kept
        self.daemon.action(vid, 'kill')
        self.daemon.wait_state(vid, 'stopped', 30)
        # The last run's output stays after it stopped.
        self.assertIn('tick %d' % (n + 3), self.daemon.serial(vid))

    def viewer(self, vid, **kw):
        st, js, _ = self.daemon.api('POST', '/api/v1/vms/%s/console' % vid, body={'protocol': 'serial'})
        self.assertEqual(st, 200, js)
        self.assertEqual(js['protocol'], 'serial')
        self.assertIn('/serial/%s?ticket=' % vid, js['url'])
        ws = wsclient.connect(js['url'], protocols=['binary'], **kw)
        self.addCleanup(ws.close)
        return ws

    def read_until(self, ws, text, timeout=120):
        got = bytearray()
        want = text.encode()
        deadline = time.time() + timeout
        while want not in got[-(len(want) + 65536):]:
            self.assertLess(time.time(), deadline, 'no %r after %d s: %r' % (text, timeout, bytes(got[-300:])))
            op, data = ws.recv_message(max(0.1, deadline - time.time()))
            self.assertEqual(op, OP_BINARY, (op, data, bytes(got[-500:])))
            got += data
        return bytes(got)

    def test_websocket_viewers(self):
        kb = linuxguest.kernel_boot(self.daemon.scratch_dir('qhm-serialws-'), ECHO_SCRIPT, modules=[])
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], kernel_boot=kb)
        vid = vm['id']
        # (A: its receive buffer small, so that the daemon soon has to queue for it when it stops reading.)
        a = self.viewer(vid, rcvbuf=4096)  # before the start: stays, and gets the run as it comes
        self.daemon.action(vid, 'start')
        self.read_until(a, 'qhm-echo-ready')
        a.send_binary(b'hello serial\n')
        self.read_until(a, 'got:hello serial')
        # A second viewer: what was kept first, then both get the same.
        b = self.viewer(vid)
        self.read_until(b, 'got:hello serial', 10)
        b.send_binary('grüße\n'.encode())
        for w in (a, b):
            self.read_until(w, 'got:grüße', 30)
        # Too long a message: that viewer is closed (1009), the other goes on.
        c = self.viewer(vid)
        c.send_binary(b'x' * 5000)
        op, cl = c.recv_message(10)
        while op == OP_BINARY:  # (the kept output first)
            op, cl = c.recv_message(10)
        self.assertEqual((op, cl.code), (OP_CLOSE, 1009), cl)
        # A viewer that does not read while the guest prints 2.5 MB: closed with 1008 once 1 MiB
        # waits for it; the guest finishes and the reading viewer gets everything.
        a.send_binary(b'spam\n')
        out = self.read_until(b, 'spam-done', 300)
        self.assertGreater(out.count(b'qhm-spam-line-of-some-length'), 80000)
        closed = None
        deadline = time.time() + 30
        while closed is None and time.time() < deadline:
            op, data = a.recv_message(max(0.1, deadline - time.time()))
            if op == OP_CLOSE:
                closed = data
        self.assertIsNotNone(closed, 'the slow viewer was not closed')
        self.assertEqual(closed.code, 1008, closed)
        self.assertIn('too slow', closed.reason)
        # Still served: a fresh viewer gets the kept output (its last 64 KiB), then the VM's
        # deletion closes the viewers with 1000.
        d = self.viewer(vid)
        self.read_until(d, 'spam-done', 10)
        self.daemon.action(vid, 'kill')
        self.daemon.wait_state(vid, 'stopped', 30)
        self.daemon.ok('DELETE', '/api/v1/vms/%s' % vid)
        op, cl = d.recv_message(10)
        while op == OP_BINARY:
            op, cl = d.recv_message(10)
        self.assertEqual((op, cl.code), (OP_CLOSE, 1000), cl)
        self.assertIn('deleted', cl.reason)

    def test_bad_input(self):
        vm = self.new_vm(memory_mib=128, cpus=1, disks=[])
        vid = vm['id']
        for q in ('0', '-1', '10001', 'x', ''):
            self.assertError(self.api('GET', '/api/v1/vms/%s/serial?tail=%s' % (vid, q)), 400, 'invalid_field')
        self.assertError(self.api('GET', '/api/v1/vms/0000000000000000/serial'), 404, 'not_found')
        self.assertError(self.api('POST', '/api/v1/vms/%s/serial' % vid), 405, 'method_not_allowed')
        self.assertError(self.api('POST', '/api/v1/vms/%s/console' % vid, body={'protocol': 'telnet'}), 400,
                         'invalid_field')
