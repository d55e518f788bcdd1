# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest tools (docs/guest-tools.md): the Linux script the daemon serves (GET
/api/v1/guest-tools/linux.sh, the data file byte for byte, only with the API's credentials) and a
VM's tools CD ("guest_tools": true): made at each start with xorriso (label QHM_TOOLS: linux.sh,
shares.conf listing that VM's shared folders, qhm-setup.ps1, README.txt), on the answer CD when
the VM has one, attached on the next AHCI port (q35) or as a USB drive (pc, aarch64).

The script's shared-folder part runs for real in the busybox test guest (linuxguest.py): the guest
mounts the tools CD, runs linux.sh from it without arguments (no systemd there: /etc/fstab lines),
twice, and reads and writes through the folders it mounted. Its package, service and X parts need a
whole distribution (scripts/build-debian-guest.sh's image: docs/guest-tools.md says what was run
where)."""

import os
import re
import shutil
import subprocess

import linuxguest
from harness import DaemonTestCase, GuestShares, iso_tree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'data', 'linux', 'qhm-guest-tools.sh')

# The kernel modules the guest needs for the tools CD (AHCI, SCSI CD-ROM, ISO 9660) and the shares.
CD_MODULES = ['ahci', 'sr_mod', 'isofs'] + linuxguest.WANT

# Finds the tools CD among the CD-ROM drives, runs linux.sh from it twice (the second run must
# change nothing), and leaves what it saw in the "work" share, which the first run mounted.
GUEST_SCRIPT = r'''$B --install -s /bin
mkdir -p /etc /cdrom /tmp
i=0; while ! ls /dev/sr* >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
for d in /dev/sr*; do
  mount -t iso9660 -o ro "$d" /cdrom 2>/dev/null || continue
  [ -f /cdrom/linux.sh ] && break
  umount /cdrom
done
sh /cdrom/linux.sh --no-packages > /tmp/run1.log 2>&1; echo "rc=$?" >> /tmp/run1.log
cp /etc/fstab /tmp/fstab1
sh /cdrom/linux.sh --no-packages > /tmp/run2.log 2>&1; echo "rc=$?" >> /tmp/run2.log
cp /tmp/run1.log /tmp/run2.log /tmp/fstab1 /mnt/work/
cp /etc/fstab /mnt/work/fstab2
grep -E ' /mnt/(work|media) ' /proc/mounts > /mnt/work/mounts.txt
tr a-z A-Z < /mnt/work/in.txt > /mnt/work/out.txt
if sh -c 'echo x > /mnt/media/written.txt' 2>/dev/null; then echo yes > /mnt/work/ro-writable.txt; else echo no > /mnt/work/ro-writable.txt; fi
'''


def iso_file(tc, iso, name, scratch):
    out = os.path.join(scratch, name.strip('/'))
    r = subprocess.run(['xorriso', '-osirrox', 'on', '-indev', iso, '-extract', name, out],
                       capture_output=True, text=True)
    tc.assertEqual(r.returncode, 0, r.stderr)
    with open(out, 'rb') as f:
        return f.read(), os.stat(out).st_mode & 0o777


class GuestToolsTest(DaemonTestCase):
    def test_linux_script_download(self):
        with open(SCRIPT, 'rb') as f:
            want = f.read()
        st, body, h = self.api('GET', '/api/v1/guest-tools/linux.sh')
        self.assertEqual(st, 200, body)
        self.assertEqual(body, want)
        self.assertTrue(h['content-type'].startswith('text/x-shellscript'), h)
        self.assertEqual(h['content-disposition'], 'attachment; filename="linux.sh"')
        st, body, _ = self.api('GET', '/api/v1/guest-tools/linux.sh', headers={'Authorization': None})
        self.assertEqual(st, 401, body)
        self.assertError(self.api('POST', '/api/v1/guest-tools/linux.sh'), 405, 'method_not_allowed')

    def test_script_is_posix_sh(self):
        """sh -n under every shell here; shellcheck (scripts/install-deps.sh test) on the script and
        on the helper it writes out; a dry run's plan for --share arguments."""
        helper = os.path.join(self.daemon.scratch_dir('qhm-tools-'), 'qhm-guest-display')
        with open(SCRIPT) as f:
            text = f.read()
        m = re.search(r"^  cat <<'HELPER'\n(.*?)^HELPER$", text, re.S | re.M)
        self.assertIsNotNone(m)
        with open(helper, 'w') as f:
            f.write(m.group(1))
        shells = [s for s in ('sh', 'dash', 'bash', 'busybox') if shutil.which(s)]
        guest_busybox = os.path.join(linuxguest.ROOT, 'bin', 'busybox')  # the test guest's ash
        if 'busybox' not in shells and os.path.exists(guest_busybox):
            shells.append(guest_busybox)
        self.assertIn('sh', shells)
        for sh in shells:
            for path in (SCRIPT, helper):
                cmd = [sh, 'sh', '-n', path] if sh.endswith('busybox') else [sh, '-n', path]
                r = subprocess.run(cmd, capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, (sh, path, r.stderr))
        self.assertTrue(shutil.which('shellcheck'), 'shellcheck is missing: scripts/install-deps.sh test')
        for path in (SCRIPT, helper):
            r = subprocess.run(['shellcheck', '-s', 'sh', path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run(['sh', SCRIPT, '--dry-run', '--no-packages', '--no-desktop', '--share', 'work',
                            '--share', 'media:/srv/media:virtiofs'], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        if not os.path.isdir('/run/systemd/system'):  # fstab lines (else mount units)
            self.assertIn('would add to /etc/fstab: work /mnt/work 9p trans=virtio,version=9p2000.L,msize=262144,'
                          'nofail 0 0', r.stdout)
            self.assertIn('would add to /etc/fstab: media /srv/media virtiofs defaults,nofail 0 0', r.stdout)
        for bad in ('two words', 'a:relative', 'a:/mnt/a:nfs', 'a:/mnt/../etc'):
            r = subprocess.run(['sh', SCRIPT, '--dry-run', '--share', bad], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1, (bad, r.stdout, r.stderr))
            self.assertIn('share', r.stderr)

    def test_tools_cd_in_a_linux_guest(self):
        host = self.daemon.ok('GET', '/api/v1/host')
        self.assertIs(host['guest_tools']['available'], True, host['guest_tools'])
        shares = GuestShares(self.daemon)
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[{'size_gib': 1}], guest_tools=True,
                         kernel_boot=linuxguest.kernel_boot(shares.tmp, GUEST_SCRIPT, modules=CD_MODULES),
                         shared_folders=shares.fields())
        self.assertIs(vm['guest_tools'], True)
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        cd = [a for a in argv if 'id=cd1' in a]
        self.assertEqual(len(cd), 1, argv)
        self.assertTrue(cd[0].endswith('/vms/%s/tools.iso' % vm['id']), cd)
        self.assertIn('ide-cd,drive=cd1,bus=ide.2', argv)  # disk0 on ide.0, the CD-ROM on ide.1

        self.daemon.action(vm['id'], 'start')
        iso = os.path.join(self.daemon.data_dir, 'vms', vm['id'], 'tools.iso')
        self.assertEqual(iso_tree(self, iso),
                         (['/README.txt', '/linux.sh', '/qhm-setup.ps1', '/shares.conf'], 'QHM_TOOLS'))
        scratch = self.daemon.scratch_dir('qhm-tools-iso-')
        with open(SCRIPT, 'rb') as f:
            self.assertEqual(iso_file(self, iso, '/linux.sh', scratch), (f.read(), 0o555))
        conf = iso_file(self, iso, '/shares.conf', scratch)[0].decode()
        self.assertEqual([l for l in conf.splitlines() if not l.startswith('#')],
                         ['work 9p /mnt/work rw', 'media 9p /mnt/media ro'])

        v = self.daemon.wait_state(vm['id'], 'stopped', timeout=240, interval=0.5)
        self.assertEqual((v.get('last_exit') or {}).get('status'), 'stopped', v)

        def read(name):
            with open(os.path.join(shares.rw, name)) as f:
                return f.read()
        run1, run2 = read('run1.log'), read('run2.log')
        self.assertTrue(run1.endswith('rc=0\n'), run1)
        self.assertTrue(run2.endswith('rc=0\n'), run2)
        self.assertIn('added work on /mnt/work to /etc/fstab', run1)
        self.assertIn('added media on /mnt/media to /etc/fstab', run1)
        self.assertNotIn('added', run2)  # the second run found everything in place
        fstab = read('fstab1')
        self.assertEqual(fstab, read('fstab2'))
        self.assertEqual([l.split('#')[0].split() for l in fstab.splitlines()],
                         [['work', '/mnt/work', '9p', 'trans=virtio,version=9p2000.L,msize=262144,nofail', '0', '0'],
                          ['media', '/mnt/media', '9p', 'trans=virtio,version=9p2000.L,msize=262144,ro,nofail', '0',
                           '0']])
        mounts = [l.split()[:4] for l in read('mounts.txt').splitlines()]
        self.assertEqual([m[:3] for m in mounts], [['work', '/mnt/work', '9p'], ['media', '/mnt/media', '9p']])
        self.assertTrue(mounts[1][3].startswith('ro,'), mounts)
        self.assertEqual(read('out.txt'), 'HELLO FROM THE HOST\n')
        self.assertEqual(read('ro-writable.txt').strip(), 'no')

    def test_with_the_answer_cd_and_other_arches(self):
        """With "unattend" the answer CD carries the tools as well: one second CD. pc (i386) and
        aarch64 get it as a USB drive. false or removed: no second CD."""
        body = {'name': 'win-tools', 'memory_mib': 2048, 'cpus': 1, 'disks': [{'size_gib': 1}], 'guest_tools': True,
                'unattend': {'user': 'alice', 'password': 'pw'}}
        vm = self.new_vm(**body)
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        cd = [a for a in argv if 'id=cd1' in a]
        self.assertEqual(len(cd), 1, argv)
        self.assertTrue(cd[0].endswith('/unattend.iso'), cd)
        self.daemon.action(vm['id'], 'start')
        iso = os.path.join(self.daemon.data_dir, 'vms', vm['id'], 'unattend.iso')
        self.assertEqual(iso_tree(self, iso), (['/README.txt', '/autounattend.xml', '/linux.sh', '/qhm-setup.ps1',
                                                '/shares.conf'], 'QHM_UNATTEND'))
        self.daemon.action(vm['id'], 'kill')
        self.daemon.wait_state(vm['id'], 'stopped', 30)
        # The tools off again: the answer CD as it was.
        self.daemon.ok('PATCH', '/api/v1/vms/%s' % vm['id'], body={'guest_tools': False})
        self.daemon.action(vm['id'], 'start')
        self.assertEqual(iso_tree(self, iso), (['/autounattend.xml', '/qhm-setup.ps1'], 'QHM_UNATTEND'))
        self.daemon.action(vm['id'], 'kill')
        self.daemon.wait_state(vm['id'], 'stopped', 30)

        for arch in ('i386', 'aarch64'):
            v = self.new_vm(arch=arch, memory_mib=128, disks=[], guest_tools=True)
            argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % v['id'])['argv']
            self.assertIn('usb-storage,drive=cd1,bus=xhci.0', argv, arch)
            self.assertTrue([a for a in argv if 'id=cd1' in a and a.endswith('/tools.iso')], argv)
            v = self.daemon.ok('PATCH', '/api/v1/vms/%s' % v['id'], body={'guest_tools': False})
            self.assertNotIn('guest_tools', v)
            argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % v['id'])['argv']
            self.assertFalse([a for a in argv if 'id=cd1' in a], argv)

    def test_bad_input(self):
        for value in ('yes', 1, None, {}):
            st, js, _ = self.api('POST', '/api/v1/vms', body={'name': 'bad', 'disks': [], 'guest_tools': value})
            self.assertEqual(st, 400, (value, js))
            self.assertEqual(js['error']['message'], 'guest_tools: must be true or false', js)
        vm = self.new_vm(memory_mib=128, disks=[])
        self.assertError(self.api('PATCH', '/api/v1/vms/%s' % vm['id'], body={'guest_tools': 'on'}), 400,
                         'invalid_field')
        self.assertNotIn('guest_tools', self.daemon.vm(vm['id']))
