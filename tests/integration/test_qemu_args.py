# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu_args, the per-VM extra QEMU arguments, against the real daemon and real QEMU: a VM with an
extra -device starts and its QEMU runs with it; a device name the QEMU lacks is a 400 with a "did you
mean", a refused option a 400 naming it; PATCH ?dry_run=true previews the command line without
saving, also while the VM runs; a property QEMU itself refuses is a failed start with the log."""

import time

from harness import DaemonTestCase, guest_iso, pid_alive, proc_cmdline

RNG = ['-device', 'virtio-rng-pci,id=rngx', '-smbios', 'type=1,serial=QHM-EXTRA']


def small_vm(name, **kw):
    f = dict(name=name, arch='x86_64', memory_mib=128, cpus=1, disks=[], cdrom=guest_iso('powerbutton'))
    f.update(kw)
    return f


class QemuArgsTest(DaemonTestCase):
    def new(self, name, **kw):
        vm = self.daemon.create(**small_vm(name, **kw))
        self.addCleanup(self.daemon.dispose, vm['id'])
        return vm

    def test_device_starts_and_runs(self):
        vm = self.new('qa-rng', qemu_args=RNG)
        self.assertEqual(vm['qemu_args'], RNG)
        cmd = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])
        self.assertEqual(cmd['argv'][-len(RNG):], RNG, 'qemu_args come last, as given')
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=60)
        self.assertEqual(st, 200, js)
        pid = js['pid']
        time.sleep(1.0)  # QEMU exits at once when a -device does not realize
        self.assertTrue(pid_alive(pid))
        self.assertEqual(self.daemon.vm(vm['id'])['state'], 'running')
        argv = proc_cmdline(pid)
        self.assertEqual(argv[-len(RNG):], RNG, argv)
        running = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])
        self.assertTrue(running['running'])
        self.assertEqual(running['argv'][-len(RNG):], RNG)
        # A dry-run PATCH is allowed while it runs, and saves nothing.
        more = RNG + ['-device', 'virtio-balloon-pci']
        dry = self.daemon.ok('PATCH', '/api/v1/vms/%s?dry_run=true' % vm['id'], body={'qemu_args': more})
        self.assertTrue(dry['dry_run'])
        self.assertEqual(dry['argv'][-len(more):], more)
        self.assertEqual(dry['config']['qemu_args'], more)
        self.assertEqual(self.daemon.vm(vm['id'])['qemu_args'], RNG)
        # The real PATCH is refused while it runs.
        st, js, _ = self.api('PATCH', '/api/v1/vms/%s' % vm['id'], body={'qemu_args': more})
        self.assertEqual((st, js['error']['code']), (409, 'invalid_state'), js)

    def test_each_arch(self):
        """Each arch's QEMU was asked for its device types; an extra -device starts on each."""
        host = self.daemon.host_info()
        ran = []
        for arch, a in sorted(host['arches'].items()):
            if not a.get('available', True) or not (a.get('qemu') or {}).get('ok'):
                continue
            self.assertGreater(a['qemu'].get('device_types', 0), 50, a)
            extra = dict(cdrom=None) if arch == 'aarch64' else {}
            vm = self.new('qa-' + arch, arch=arch, qemu_args=['-device', 'virtio-rng-pci,id=rng1'], **extra)
            st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=60)
            self.assertEqual(st, 200, (arch, js))
            time.sleep(0.5)
            self.assertEqual(self.daemon.vm(vm['id'])['state'], 'running', arch)
            self.assertEqual(proc_cmdline(js['pid'])[-2:], ['-device', 'virtio-rng-pci,id=rng1'])
            self.daemon.dispose(vm['id'])
            ran.append(arch)
        self.assertIn('x86_64', ran)
        print('    # ran on %s' % ', '.join(ran))

    def test_typo_device_is_400(self):
        st, js, _ = self.api('POST', '/api/v1/vms', body=small_vm('qa-typo', qemu_args=['-device', 'virtio-rng-pic']))
        self.assertEqual(st, 400, js)
        self.assertEqual(js['error']['code'], 'invalid_field')
        self.assertIn("has no device 'virtio-rng-pic' (did you mean 'virtio-rng-pci'?)", js['error']['message'])
        vm = self.new('qa-typo2')
        st, js, _ = self.api('PATCH', '/api/v1/vms/%s?dry_run=true' % vm['id'],
                             body={'qemu_args': ['-device', 'e1000ee']})
        self.assertEqual(st, 400, js)
        self.assertIn("no device 'e1000ee'", js['error']['message'])
        # a device only another arch has (the arm PL011 UART) is not in qemu-system-x86_64
        st, js, _ = self.api('PATCH', '/api/v1/vms/%s' % vm['id'], body={'qemu_args': ['-device', 'pl011']})
        self.assertEqual(st, 400, js)
        self.assertIn("no device 'pl011'", js['error']['message'])
        self.assertNotIn('qemu_args', self.daemon.vm(vm['id']))

    def test_refused_options_are_400(self):
        vm = self.new('qa-refused')
        for args, name in ((['-qmp', 'tcp:127.0.0.1:4444,server=on'], '-qmp'),
                           (['-chardev', 'socket,id=charmonitor,path=/tmp/x'], '-chardev'),
                           (['-sandbox', 'off'], '-sandbox'),
                           (['-drive', 'file=/etc/shadow,format=raw'], '-drive'),
                           (['-machine', 'accel=kvm'], '-machine'),
                           (['/etc/shadow'], "'/etc/shadow' is not an option")):
            st, js, _ = self.api('PATCH', '/api/v1/vms/%s?dry_run=true' % vm['id'], body={'qemu_args': args})
            self.assertEqual((st, js['error']['code']), (400, 'invalid_field'), js)
            self.assertIn(name, js['error']['message'])
        self.assertAlive()

    def test_property_qemu_refuses_fails_the_start(self):
        vm = self.new('qa-badprop', qemu_args=['-device', 'virtio-rng-pci,no-such-property=1'])
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=60)
        self.assertEqual(st, 500, js)
        self.assertIn('no-such-property', json_text(js))
        self.assertIn(self.daemon.vm(vm['id'])['state'], ('stopped', 'crashed'))
        self.assertAlive()
        # and PATCH [] clears it, after which it starts
        self.daemon.ok('PATCH', '/api/v1/vms/%s' % vm['id'], body={'qemu_args': []})
        self.assertNotIn('qemu_args', self.daemon.vm(vm['id']))


def json_text(js):
    import json
    return json.dumps(js)
