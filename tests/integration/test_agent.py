# SPDX-License-Identifier: GPL-2.0-or-later
"""The QEMU guest agent, for real: Debian's qemu-ga runs in a Linux guest (Debian 12's kernel
booted by QEMU, a busybox initramfs built by the test) on the VM's org.qemu.guest_agent.0 port,
and GET /vms/{id}/guest reports what it says (version, host name, kernel, interfaces); a guest
without an agent, a stopped VM and a VM without the channel are told apart."""

import time

import linuxguest
from harness import MEMTEST_ISO, DaemonTestCase, assert_agent_answers


class AgentTest(DaemonTestCase):
    def test_agent_in_a_linux_guest(self):
        kb = linuxguest.kernel_boot(self.daemon.scratch_dir('qhm-agent-'), linuxguest.AGENT_SCRIPT,
                                    modules=linuxguest.AGENT_MODULES, files=linuxguest.qemu_ga_files())
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], kernel_boot=kb)
        self.assertTrue(vm['guest_agent'], vm)
        vid = vm['id']
        self.daemon.action(vid, 'start')
        assert_agent_answers(self, self.daemon.wait_agent(vid, 120))
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
