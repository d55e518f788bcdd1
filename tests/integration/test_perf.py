# SPDX-License-Identifier: GPL-2.0-or-later
"""Performance modes (server/vm/vm_perf.c) on a real QEMU (GRUB's rescue ISO, TCG): the field
(create, PATCH, bad values), the command line (saver: one TCG thread), and what each mode does to
the running process, read back from /proc and the cpu cgroup: every thread's nice (saver 10,
turbo -10, standard 0), saver's CPU cap (10 ms per 20 ms) in the VM's own group where this host
has a writable cgroup-v1 cpu hierarchy, back to the daemon's group for turbo and standard; changed while the VM runs (the TCG thread mode waits for the next start, and says so);
the group removed when QEMU ends. (The bench, bench/perf.py, measures what the modes do.)"""

import os

from harness import GRUB_RESCUE_ISO, DaemonTestCase

CG = '/sys/fs/cgroup/cpu'


def thread_nices(pid):
    out = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/stat' % (pid, tid)) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        out[int(tid)] = int(fields[16])  # stat field 19: nice (after pid and comm)
    return out


def autogroup_nice(pid):
    """The nice of PID's autogroup when the kernel has them and PID leads its session, else None."""
    try:
        with open('/proc/%d/autogroup' % pid) as f:
            text = f.read()
    except OSError:
        return None
    with open('/proc/%d/stat' % pid) as f:
        sid = int(f.read().rsplit(')', 1)[1].split()[3])
    return int(text.split('nice')[1]) if sid == pid else None


def cgroup_writable():
    return os.access(os.path.join(CG, 'cpu.cfs_quota_us'), os.F_OK) and os.access(CG, os.W_OK)


def read(path):
    with open(path) as f:
        return f.read().strip()


class PerfModeTest(DaemonTestCase):
    def test_field_and_command_line(self):
        for bad in ('fast', 1, None, '', 'Saver'):
            self.assertError(self.api('POST', '/api/v1/vms', body={'name': 'p', 'disks': [], 'performance': bad}),
                             400, 'invalid_field', 'performance', repr(bad))
        vm = self.new_vm(memory_mib=128, cpus=2, disks=[], performance='saver')
        self.assertEqual(vm['performance'], 'saver')
        self.assertIsNone(vm['performance_active'])
        dry = self.daemon.ok('PATCH', '/api/v1/vms/%s?dry_run=true' % vm['id'], body={'performance': 'turbo'})
        self.assertIn('tcg,thread=multi', dry['argv'])
        st, body, _ = self.daemon.api('GET', '/api/v1/vms/%s' % vm['id'])
        self.assertEqual(body['performance'], 'saver')
        vm2 = self.daemon.ok('PATCH', '/api/v1/vms/%s' % vm['id'], body={'performance': 'standard'})
        self.assertNotIn('performance', vm2)  # standard: absent, as every default
        dry = self.daemon.ok('POST', '/api/v1/vms?dry_run=true',
                             body={'name': 'q', 'disks': [], 'performance': 'saver'})
        if dry['accelerator'] == 'tcg':
            self.assertIn('tcg,thread=single', dry['argv'])

    def test_modes_on_a_running_qemu(self):
        vm = self.new_vm(memory_mib=128, cpus=2, disks=[], cdrom=GRUB_RESCUE_ISO, performance='saver')
        vid = vm['id']
        self.daemon.action(vid, 'start')
        v = self.daemon.wait_state(vid, 'running', 60)
        v = self.daemon.ok('GET', '/api/v1/vms/%s' % vid)
        pid, act = v['pid'], v['performance_active']
        self.assertEqual(act['mode'], 'saver', act)
        print('    saver on a running QEMU: %s' % '; '.join(act['applied']))
        nices = thread_nices(pid)
        self.assertGreaterEqual(len(nices), 2, nices)
        self.assertEqual(set(nices.values()), {10}, nices)
        self.assertIn('nice 10 on %d threads' % len(nices), act['applied'])
        ag = autogroup_nice(pid)  # with autogroups, a thread's nice counts only within its session
        if ag is not None:
            self.assertEqual(ag, 10)
            self.assertIn("nice 10 on its session's scheduling group (autogroup)", act['applied'])
        tcg = v['accelerator'] == 'tcg'
        if tcg:
            self.assertIn('one TCG thread for all vCPUs', act['applied'])
        self.assertFalse(act['restart'])
        group = os.path.join(CG, 'qemu-hmos', vid)
        if cgroup_writable():
            self.assertIn(str(pid), read(os.path.join(group, 'cgroup.procs')).split())
            self.assertEqual(read(os.path.join(group, 'cpu.cfs_period_us')), '20000')
            self.assertEqual(read(os.path.join(group, 'cpu.cfs_quota_us')), '10000')
            self.assertTrue(any(a.startswith('CPU cap: 50% of one CPU') for a in act['applied']), act)
        else:
            self.assertTrue(any('no writable cpu cgroup' in a for a in act['not_applied']), act)

        # Turbo while it runs: priority up at once; the TCG threads at the next start.
        v = self.daemon.ok('PATCH', '/api/v1/vms/%s' % vid, body={'performance': 'turbo'})
        act = v['performance_active']
        self.assertEqual((v['performance'], act['mode']), ('turbo', 'turbo'))
        self.assertEqual(set(thread_nices(pid).values()), {-10})  # (the tests run as root)
        self.assertIn(autogroup_nice(pid), (None, -10))
        if tcg:
            self.assertTrue(act['restart'], act)
        self.assertFalse(os.path.exists(group))  # out of the capped group

        # Standard: nice 0, where the daemon is.
        v = self.daemon.ok('PATCH', '/api/v1/vms/%s' % vid, body={'performance': 'standard'})
        self.assertEqual(set(thread_nices(pid).values()), {0})
        self.assertIn(autogroup_nice(pid), (None, 0))
        self.assertEqual(v['performance_active']['mode'], 'standard')
        self.assertFalse(os.path.exists(group))
        if cgroup_writable():
            self.assertIn(str(pid), read(os.path.join(CG, 'cgroup.procs')).split())
        # Other fields still refuse a running VM.
        self.assertError(self.api('PATCH', '/api/v1/vms/%s' % vid, body={'performance': 'saver', 'cpus': 1}),
                         409, 'invalid_state', 'cpus')

        # Saver again, then QEMU ends: its group goes with it.
        self.daemon.ok('PATCH', '/api/v1/vms/%s' % vid, body={'performance': 'saver'})
        if cgroup_writable():
            self.assertTrue(os.path.isdir(group))
        self.daemon.action(vid, 'kill')
        v = self.daemon.wait_state(vid, 'stopped', 30)
        self.assertFalse(os.path.exists(group))
        self.assertIsNone(self.daemon.ok('GET', '/api/v1/vms/%s' % vid)['performance_active'])
