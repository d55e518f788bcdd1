# SPDX-License-Identifier: GPL-2.0-or-later
"""Windows without a click (docs/windows-unattend.md): a VM's "unattend" becomes, at each start,
a second CD with autounattend.xml and our setup script. Checked here without Windows: the API
(the password redacted, a new VM's RDP credentials), the argv (the CD on the next AHCI port), the
ISO the start made (its label and files, read back with xorriso), the answer file (well-formed,
the VM's values XML-escaped, the partition layout for UEFI and BIOS, the Windows 11 checks skipped
only where the VM lacks what they want) and every element of it against the table of settings in
docs/windows-unattend.md (Microsoft's reference for each, with its passes). Bad input refused.
The drivers CD (drivers_iso: virtio-win) against a fake disc with virtio-win's folder layout: its
drive, and the answer file's DriverPaths naming folders the disc has."""

import os
import re
import subprocess
import xml.etree.ElementTree as ET

from harness import DaemonTestCase, iso_tree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS = {'u': 'urn:schemas-microsoft-com:unattend'}
U = '{urn:schemas-microsoft-com:unattend}'


def settings_table():
    """{(pass, component): {setting path}} from docs/windows-unattend.md's table."""
    out = {}
    with open(os.path.join(ROOT, 'docs', 'windows-unattend.md'), encoding='utf-8') as f:
        for line in f:
            m = re.match(r'^\| (\w+) \| ([\w-]+) \| `([^`]+)` \| (https://learn\.microsoft\.com/\S+) \|$', line)
            if m:
                out.setdefault((m.group(1), m.group(2)), set()).add(m.group(3))
    return out


def leaf_paths(el, prefix=''):
    """The slash-joined paths of EL's descendant elements that hold a value (no element children)."""
    for child in el:
        name = child.tag.replace(U, '')
        path = prefix + '/' + name if prefix else name
        if len(child):
            yield from leaf_paths(child, path)
        else:
            yield path


class UnattendTest(DaemonTestCase):
    def extract(self, iso, name):
        out = os.path.join(self.daemon.scratch_dir('qhm-unattend-'), name.strip('/'))
        r = subprocess.run(['xorriso', '-osirrox', 'on', '-indev', iso, '-extract', name, out],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, 'rb') as f:
            return f.read()

    def start_and_read(self, vm):
        self.daemon.action(vm['id'], 'start')
        iso = os.path.join(self.daemon.data_dir, 'vms', vm['id'], 'unattend.iso')
        self.assertTrue(os.path.exists(iso))
        files, label = iso_tree(self, iso)
        self.assertEqual((files, label), (['/autounattend.xml', '/qhm-setup.ps1'], 'QHM_UNATTEND'))
        xml = self.extract(iso, '/autounattend.xml')
        ps1 = self.extract(iso, '/qhm-setup.ps1').decode()
        self.assertIn('fDenyTSConnections', ps1)
        self.assertIn("'@FirewallAPI.dll,-28752'", ps1)
        self.daemon.action(vm['id'], 'kill')
        self.daemon.wait_state(vm['id'], 'stopped', 30)
        return ET.fromstring(xml)

    def check_against_table(self, root):
        table = settings_table()
        self.assertGreater(sum(len(v) for v in table.values()), 40, 'the table was read')
        seen = 0
        for settings in root.findall('u:settings', NS):
            ps = settings.get('pass')
            for comp in settings.findall('u:component', NS):
                name = comp.get('name')
                self.assertEqual((comp.get('processorArchitecture'), comp.get('publicKeyToken'), comp.get('language'),
                                  comp.get('versionScope')), ('amd64', '31bf3856ad364e35', 'neutral', 'nonSxS'))
                allowed = table.get((ps, name))
                self.assertIsNotNone(allowed, 'component %s in pass %s is not in the table' % (name, ps))
                for path in leaf_paths(comp):
                    self.assertIn(path, allowed, '%s/%s in pass %s is not in docs/windows-unattend.md' % (name, path, ps))
                    seen += 1
        self.assertGreater(seen, 30)

    def text(self, root, ps, comp, path):
        c = root.find("u:settings[@pass='%s']/u:component[@name='%s']" % (ps, comp), NS)
        self.assertIsNotNone(c, (ps, comp))
        return [e.text for e in c.findall('/'.join('u:' + p for p in path.split('/')), NS)]

    def test_uefi_vm_answer_cd(self):
        host = self.daemon.ok('GET', '/api/v1/host')
        self.assertIs(host['unattend']['available'], True, host['unattend'])
        body = {'name': 'win-auto', 'memory_mib': 2048, 'cpus': 1, 'disks': [{'size_gib': 1}], 'firmware': 'uefi',
                'unattend': {'user': "Zoë & Co'", 'password': 'p&ss"<word>', 'locale': 'zh-CN',
                             'timezone': 'China Standard Time', 'computer_name': 'WIN-AUTO'}}
        st, vm, _ = self.daemon.api('POST', '/api/v1/vms', body=body)
        self.assertEqual(st, 201, vm)
        self.addCleanup(self.daemon.dispose, vm['id'])
        u = vm['unattend']
        self.assertNotIn('password', u)
        self.assertIs(u['password_set'], True)
        self.assertEqual((u['user'], u['locale'], u['timezone']), ("Zoë & Co'", 'zh-CN', 'China Standard Time'))
        self.assertEqual(vm['rdp']['username'], "Zoë & Co'")  # the console signs in as the account
        self.assertIs(vm['rdp']['password_set'], True)
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        cd = [a for a in argv if 'id=cd1' in a]
        self.assertEqual(len(cd), 1, argv)
        self.assertTrue(cd[0].endswith('/vms/%s/unattend.iso' % vm['id']), cd)
        self.assertIn('ide-cd,drive=cd1,bus=ide.2', argv)  # disk0 on ide.0, the CD-ROM on ide.1

        root = self.start_and_read(vm)
        self.check_against_table(root)
        shell = 'Microsoft-Windows-Shell-Setup'
        self.assertEqual(self.text(root, 'oobeSystem', shell, 'UserAccounts/LocalAccounts/LocalAccount/Name'), ["Zoë & Co'"])
        self.assertEqual(self.text(root, 'oobeSystem', shell, 'UserAccounts/LocalAccounts/LocalAccount/Password/Value'),
                         ['p&ss"<word>'])
        self.assertEqual(self.text(root, 'oobeSystem', shell, 'AutoLogon/Password/Value'), ['p&ss"<word>'])
        self.assertEqual(self.text(root, 'specialize', shell, 'TimeZone'), ['China Standard Time'])
        self.assertEqual(self.text(root, 'specialize', shell, 'ComputerName'), ['WIN-AUTO'])
        self.assertEqual(self.text(root, 'oobeSystem', 'Microsoft-Windows-International-Core', 'UILanguage'), ['zh-CN'])
        setup = 'Microsoft-Windows-Setup'
        self.assertEqual(self.text(root, 'windowsPE', setup, 'DiskConfiguration/Disk/CreatePartitions/CreatePartition/Type'),
                         ['EFI', 'MSR', 'Primary'])
        self.assertEqual(self.text(root, 'windowsPE', setup, 'ImageInstall/OSImage/InstallTo/PartitionID'), ['3'])
        paths = ' '.join(self.text(root, 'windowsPE', setup, 'RunSynchronous/RunSynchronousCommand/Path'))
        for check in ('BypassTPMCheck', 'BypassSecureBootCheck', 'BypassRAMCheck'):  # no TPM, no Secure Boot, 2 GiB
            self.assertIn(check, paths)
        cmd = self.text(root, 'oobeSystem', shell, 'FirstLogonCommands/SynchronousCommand/CommandLine')[0]
        self.assertIn('qhm-setup.ps1', cmd)

        # Removed: no CD at the next start.
        st, v2, _ = self.daemon.api('PATCH', '/api/v1/vms/%s' % vm['id'], body={'unattend': None})
        self.assertEqual(st, 200, v2)
        self.assertNotIn('unattend', v2)
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        self.assertFalse([a for a in argv if 'id=cd1' in a], argv)

    def test_bios_vm_and_keeping_the_password(self):
        body = {'name': 'win-bios', 'memory_mib': 4096, 'cpus': 1, 'disks': [{'size_gib': 1}],
                'unattend': {'user': 'admin', 'password': 'first', 'product_key': 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE'}}
        st, vm, _ = self.daemon.api('POST', '/api/v1/vms', body=body)
        self.assertEqual(st, 201, vm)
        self.addCleanup(self.daemon.dispose, vm['id'])
        # A GET's form sent back (password_set, no password) keeps the password.
        back = dict(vm['unattend'], user='admin2')
        st, v2, _ = self.daemon.api('PATCH', '/api/v1/vms/%s' % vm['id'], body={'unattend': back})
        self.assertEqual(st, 200, v2)
        root = self.start_and_read(vm)
        self.check_against_table(root)
        setup = 'Microsoft-Windows-Setup'
        self.assertEqual(self.text(root, 'windowsPE', setup, 'DiskConfiguration/Disk/ModifyPartitions/ModifyPartition/Active'),
                         ['true'])
        self.assertEqual(self.text(root, 'windowsPE', setup, 'ImageInstall/OSImage/InstallTo/PartitionID'), ['1'])
        self.assertEqual(self.text(root, 'windowsPE', setup, 'UserData/ProductKey/Key'), ['AAAAA-BBBBB-CCCCC-DDDDD-EEEEE'])
        paths = ' '.join(p or '' for p in self.text(root, 'windowsPE', setup, 'RunSynchronous/RunSynchronousCommand/Path'))
        self.assertNotIn('BypassRAMCheck', paths)  # 4 GiB: Windows 11's minimum
        shell = 'Microsoft-Windows-Shell-Setup'
        self.assertEqual(self.text(root, 'oobeSystem', shell, 'AutoLogon/Username'), ['admin2'])
        self.assertEqual(self.text(root, 'oobeSystem', shell, 'AutoLogon/Password/Value'), ['first'])
        self.assertEqual(self.text(root, 'specialize', shell, 'ComputerName'), ['*'])

    def fake_virtio_win(self):
        """An ISO with virtio-win's folder layout (DRIVER\\w11|w10\\amd64, guest-agent): no real
        virtio-win here, so the answer file's folders are checked against this tree."""
        tree = self.daemon.scratch_dir('qhm-virtio-')
        for drv in ('viostor', 'vioscsi', 'NetKVM', 'vioserial', 'Balloon'):
            for win in ('w11', 'w10'):
                d = os.path.join(tree, 'src', drv, win, 'amd64')
                os.makedirs(d)
                with open(os.path.join(d, drv.lower() + '.inf'), 'w') as f:
                    f.write('; not a driver\n')
        os.makedirs(os.path.join(tree, 'src', 'guest-agent'))
        open(os.path.join(tree, 'src', 'guest-agent', 'qemu-ga-x86_64.msi'), 'w').close()
        iso = os.path.join(tree, 'virtio-win-0.1.285.iso')
        r = subprocess.run(['xorriso', '-as', 'mkisofs', '-J', '-joliet-long', '-r', '-V', 'virtio-win-0.1.285',
                            '-o', iso, os.path.join(tree, 'src')], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(iso, 0o644)
        return iso

    def test_drivers_cd(self):
        iso = self.fake_virtio_win()
        body = {'name': 'win-drivers', 'memory_mib': 2048, 'cpus': 1, 'disks': [{'size_gib': 1}], 'firmware': 'uefi',
                'drivers_iso': iso, 'unattend': {'user': 'alice', 'password': 'pw'}}
        st, vm, _ = self.daemon.api('POST', '/api/v1/vms', body=body)
        self.assertEqual(st, 201, vm)
        self.addCleanup(self.daemon.dispose, vm['id'])
        self.assertEqual(vm['drivers_iso'], os.path.realpath(iso))
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        self.assertIn('if=none,id=cddrv,media=cdrom,readonly=on,format=raw,file=%s' % os.path.realpath(iso), argv)
        # disk0 on ide.0, the CD-ROM on ide.1, the answer CD on ide.2, the drivers CD next
        self.assertIn('ide-cd,drive=cddrv,bus=ide.3', argv)

        root = self.start_and_read(vm)  # QEMU took the drive (TCG start, then kill)
        self.check_against_table(root)
        pnp = 'Microsoft-Windows-PnpCustomizationsWinPE'
        paths = self.text(root, 'windowsPE', pnp, 'DriverPaths/PathAndCredentials/Path')
        items = root.findall("u:settings[@pass='windowsPE']/u:component[@name='%s']/u:DriverPaths/u:PathAndCredentials" % pnp, NS)
        keys = [i.get('{http://schemas.microsoft.com/WMIConfig/2002/State}keyValue') for i in items]
        self.assertEqual(keys, [str(k) for k in range(1, len(paths) + 1)])
        self.assertTrue(all(i.get('{http://schemas.microsoft.com/WMIConfig/2002/State}action') == 'add' for i in items))
        for want in ('viostor', 'vioscsi', 'NetKVM'):
            for letter in 'DEF':
                self.assertIn('%s:\\%s\\w11\\amd64' % (letter, want), paths)
        r = subprocess.run(['xorriso', '-indev', iso, '-find', '/', '-type', 'd'], capture_output=True, text=True)
        dirs = {l.strip().strip("'") for l in r.stdout.splitlines() if l.startswith("'/")}
        for p in paths:  # each names a folder of the disc, on some drive letter
            self.assertRegex(p, r'^[D-G]:\\')
            self.assertLessEqual(len(p), 259)  # Microsoft: Path is at most 259 characters
            self.assertIn('/' + p[3:].replace('\\', '/'), dirs)

        # Without unattend the drive moves up a port; null detaches it.
        st, v2, _ = self.daemon.api('PATCH', '/api/v1/vms/%s' % vm['id'], body={'unattend': None})
        self.assertEqual(st, 200, v2)
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        self.assertIn('ide-cd,drive=cddrv,bus=ide.2', argv)
        # A library image in use as the drivers CD is not deleted (409 naming the VM and the field).
        img = self.daemon.ok('POST', '/api/v1/images', body={'path': iso}, expect=201)
        self.daemon.ok('PATCH', '/api/v1/vms/%s' % vm['id'], body={'drivers_iso': img['path']})
        st, js, _ = self.daemon.api('DELETE', '/api/v1/images/' + img['id'])
        self.assertEqual((st, js['error']['code']), (409, 'in_use'), js)
        self.assertIn("VM 'win-drivers' (drivers_iso)", js['error']['message'])
        st, v2, _ = self.daemon.api('PATCH', '/api/v1/vms/%s' % vm['id'], body={'drivers_iso': None})
        self.assertEqual(st, 200, v2)
        self.assertNotIn('drivers_iso', v2)
        self.daemon.ok('DELETE', '/api/v1/images/' + img['id'])
        argv = self.daemon.ok('GET', '/api/v1/vms/%s/cmdline' % vm['id'])['argv']
        self.assertFalse([a for a in argv if 'cddrv' in a], argv)

    def test_drivers_cd_bad_input(self):
        iso = self.fake_virtio_win()
        cases = [
            ({'drivers_iso': 'virtio-win.iso'}, 400, 'drivers_iso: must be an absolute path'),
            ({'drivers_iso': 5}, 400, 'drivers_iso: must be a string or null'),
            ({'drivers_iso': '/etc/passwd'}, 403, 'drivers_iso'),  # outside the allowed roots
            ({'drivers_iso': iso + '.missing'}, 400, 'drivers_iso: '),
            ({'drivers_iso': os.path.dirname(iso)}, 400, 'drivers_iso: '),  # a directory
            ({'drivers_iso': iso, 'arch': 'i386', 'disks': [{'size_gib': 1, 'interface': 'ide'}] * 3}, 400,
             'drivers_iso: no IDE slot left on i386'),
            ({'drivers_iso': iso, 'disks': [{'size_gib': 1, 'interface': 'ahci'}] * 4,
              'unattend': {'user': 'alice', 'password': 'x'}}, 400, 'drivers_iso: no AHCI port left'),
        ]
        for extra, status, msg in cases:
            body = dict({'name': 'bad', 'disks': []}, **extra)
            st, js, _ = self.daemon.api('POST', '/api/v1/vms', body=body)
            self.assertEqual(st, status, (extra, js))
            self.assertTrue(js['error']['message'].startswith(msg), (extra, js))
        self.assertEqual(self.daemon.ok('GET', '/api/v1/vms')['vms'], [])

    def test_bad_input(self):
        ok = {'user': 'alice', 'password': 'x'}
        cases = [
            ({'user': 'a@b', 'password': 'x'}, 'unattend.user'),
            ({'user': 'x' * 21, 'password': 'x'}, 'unattend.user'),
            ({'user': '...', 'password': 'x'}, 'unattend.user'),
            ({'password': 'x'}, 'unattend.user'),
            ({'user': 'alice'}, 'unattend.password'),
            ({'user': 'alice', 'password': 'x' * 128}, 'unattend.password'),
            ({'user': 'alice', 'password': 'a\nb'}, 'unattend.password'),
            (dict(ok, locale='english'), 'unattend.locale'),
            (dict(ok, timezone='UTC; rm'), 'unattend.timezone'),
            (dict(ok, computer_name='12345'), 'unattend.computer_name'),
            (dict(ok, computer_name='x' * 16), 'unattend.computer_name'),
            (dict(ok, product_key='nope'), 'unattend.product_key'),
            (dict(ok, shell='cmd'), 'unattend.shell'),
            ('alice', 'unattend'),
        ]
        for u, field in cases:
            st, js, _ = self.daemon.api('POST', '/api/v1/vms', body={'name': 'bad', 'disks': [], 'unattend': u})
            self.assertEqual(st, 400, (u, js))
            self.assertTrue(js['error']['message'].startswith(field), (u, js))
        for arch in ('i386', 'aarch64'):
            st, js, _ = self.daemon.api('POST', '/api/v1/vms', body={'name': 'bad', 'arch': arch, 'disks': [], 'unattend': ok})
            self.assertEqual(st, 400, js)
            self.assertTrue(js['error']['message'].startswith('unattend: only for x86_64'), js)
        self.assertEqual(self.daemon.ok('GET', '/api/v1/vms')['vms'], [])
