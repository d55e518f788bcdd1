# SPDX-License-Identifier: GPL-2.0-or-later
"""The command-line client (`qemu-hmos vm|image|download ...`, server/cli.c) against a real daemon:
found through DATA/run/endpoint.json (--data-dir), human tables and --json, a VM's whole life with
a real guest (create, start, screenshot, log, console link, pause, resume, snapshots, kill,
delete), images and downloads, and the exit statuses scripts rely on."""

import json
import os
import subprocess
import tempfile

from harness import GRUB_RESCUE_ISO, DaemonTestCase, daemon_path

OK, REFUSED, USAGE, NO_DAEMON, NOT_FOUND, STATE = 0, 1, 2, 3, 4, 5


class CliTest(DaemonTestCase):
    def cli(self, *args, data_dir=None, want=OK):
        p = subprocess.run([daemon_path()] + list(args) + ['--data-dir', data_dir or self.daemon.data_dir],
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, want, 'qemu-hmos %s -> %d\n%s%s' % (' '.join(args), p.returncode,
                                                                           p.stdout.decode(errors='replace'),
                                                                           p.stderr.decode(errors='replace')))
        return p.stdout, p.stderr.decode(errors='replace')

    def test_vm_life(self):
        out, _ = self.cli('vm', 'create', 'cli-grub', '--memory', '128', '--cpus', '1', '--disk', '1',
                          '--cdrom', GRUB_RESCUE_ISO)
        vid = out.decode().strip()
        self.addCleanup(lambda: self.daemon.api('DELETE', '/api/v1/vms/%s' % vid))
        self.assertRegex(vid, '^[0-9a-f]{16}$')
        vm = self.daemon.ok('GET', '/api/v1/vms/%s' % vid)
        self.assertEqual((vm['memory_mib'], vm['cpus'], vm['cdrom'], vm['disks'][0]['size_gib']),
                         (128, 1, GRUB_RESCUE_ISO, 1))
        table = self.cli('vm', 'list')[0].decode().splitlines()
        self.assertEqual(table[0].split(), ['ID', 'NAME', 'STATE', 'ARCH', 'MEMORY', 'CPUS'])
        self.assertIn([vid, 'cli-grub', 'stopped', 'x86_64', '128', 'MiB', '1'], [r.split() for r in table[1:]])
        self.assertEqual(json.loads(self.cli('vm', 'list', '--json')[0])[0]['id'], vid)
        self.assertIn(b'cli-grub', self.cli('vm', 'names')[0])
        # By name or by id, the same VM.
        self.assertEqual(self.cli('vm', 'start', 'cli-grub')[0].decode().strip(), 'cli-grub: running')
        self.assertIn('state    running', self.cli('vm', 'show', vid)[0].decode())
        self.assertEqual(json.loads(self.cli('--json', 'vm', 'show', 'cli-grub')[0])['state'], 'running')
        png = os.path.join(tempfile.mkdtemp(prefix='qhm-cli-'), 'screen.png')
        self.cli('vm', 'screenshot', 'cli-grub', png)
        with open(png, 'rb') as f:
            self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
        self.assertIn(b'-name', self.cli('vm', 'log', 'cli-grub', '--tail', '20')[0])
        ep = json.load(open(os.path.join(self.daemon.data_dir, 'run', 'endpoint.json')))
        self.assertEqual(self.cli('vm', 'console-url', 'cli-grub')[0].decode().strip(),
                         '%s/vm/%s/console?token=%s' % (ep['http'], vid, ep['token']))
        self.assertTrue(self.cli('vm', 'console-url', vid, '--serial')[0].decode().strip().startswith(
            '%s/vm/%s/serial?' % (ep['http'], vid)))
        self.assertEqual(self.cli('vm', 'pause', vid)[0].decode().strip(), 'cli-grub: paused')
        self.assertEqual(self.cli('vm', 'resume', vid)[0].decode().strip(), 'cli-grub: running')
        self.cli('vm', 'snapshot', 'cli-grub', 'create', 'before')
        snaps = self.cli('vm', 'snapshot', 'cli-grub')[0].decode().splitlines()
        self.assertEqual(snaps[0].split(), ['NAME', 'MEMORY', 'CREATED'])
        self.assertEqual(snaps[1].split()[:2], ['before', 'yes'])
        # Refusals: the daemon's message, and an exit status a script can test.
        _, err = self.cli('vm', 'start', 'cli-grub', want=STATE)
        self.assertIn('cannot start', err)
        self.cli('vm', 'snapshot', 'cli-grub', 'create', 'before', want=STATE)  # exists
        self.cli('vm', 'snapshot', 'cli-grub', 'delete', 'never', want=NOT_FOUND)
        self.cli('vm', 'kill', 'cli-grub')
        self.daemon.wait_state(vid, 'stopped', 30)
        self.cli('vm', 'snapshot', vid, 'delete', 'before')
        self.cli('vm', 'delete', 'cli-grub')
        self.cli('vm', 'show', 'cli-grub', want=NOT_FOUND)
        self.assertEqual(self.cli('vm', 'list')[0].decode().splitlines()[1:], [])

    def test_images_and_downloads(self):
        iso = os.path.join(self.daemon.scratch_dir('qhm-cli-img-'), 'grub.iso')
        with open(GRUB_RESCUE_ISO, 'rb') as src, open(iso, 'wb') as dst:
            dst.write(src.read())
        iid = self.cli('image', 'import', iso, '--name', 'grub-cli.iso')[0].decode().strip()
        rows = [r.split() for r in self.cli('image', 'list')[0].decode().splitlines()]
        self.assertEqual(rows[0], ['ID', 'NAME', 'SIZE', 'PATH'])
        self.assertEqual([r[:2] for r in rows[1:]], [[iid, 'grub-cli.iso']])
        self.assertEqual(json.loads(self.cli('image', 'list', '--json')[0])[0]['name'], 'grub-cli.iso')
        self.cli('image', 'delete', iid)
        self.cli('image', 'delete', iid, want=NOT_FOUND)
        # A download the daemon refuses (no such host here): its message; a list that is empty.
        _, err = self.cli('download', 'start', 'ftp://127.0.0.1/x.iso', want=REFUSED)
        self.assertIn('url', err)
        self.assertEqual(self.cli('download', 'list')[0].decode().split(), ['ID', 'STATE', 'DONE', 'NAME'])

    def test_usage_and_no_daemon(self):
        self.new_vm(name='x', memory_mib=64, disks=[])
        for args in (('vm',), ('vm', 'frobnicate', 'x'), ('vm', 'create'), ('vm', 'create', 'y', '--memory', 'lots'),
                     ('vm', 'log', 'x', '--tail', '0'), ('image', 'delete', '../etc'), ('download', 'cancel', 'a/b'),
                     ('vm', 'snapshot', 'x', 'delete', 'two words'), ('vm', 'snapshot', 'x', 'restore', 'a/b'),
                     ('vm', 'delete', 'x', '--force'), ('vm', 'start', 'x', 'extra')):
            self.cli(*args, want=USAGE)
        self.assertEqual(self.daemon.ok('GET', '/api/v1/vms')['vms'][0]['name'], 'x')  # nothing done
        _, err = self.cli('vm', 'snapshot', 'x', 'create', 'two words', want=REFUSED)  # the daemon's check
        self.assertIn('name:', err)
        self.cli('vm', 'show', 'nobody', want=NOT_FOUND)
        empty = tempfile.mkdtemp(prefix='qhm-cli-none-')
        _, err = self.cli('vm', 'list', data_dir=empty, want=NO_DAEMON)
        self.assertIn('no daemon serves', err)
        help_ = subprocess.run([daemon_path(), '--help'], capture_output=True, text=True).stdout
        self.assertIn('vm console-url VM', help_)

    def test_bash_completion(self):
        """data/qemu-hmos.bash-completion in a real bash: commands, subcommands, and VM names from
        the running daemon (the --data-dir typed on the line)."""
        self.new_vm(name='alpha', memory_mib=64, disks=[])
        self.new_vm(name='beta two', memory_mib=64, disks=[])
        bindir = tempfile.mkdtemp(prefix='qhm-cli-bin-')
        os.symlink(daemon_path(), os.path.join(bindir, 'qemu-hmos'))
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                              'data', 'qemu-hmos.bash-completion')

        def complete(line):
            words = line.split(' ')
            prog = ('source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _qemu_hmos; printf "%%s\\n" "${COMPREPLY[@]}"'
                    % (script, ' '.join("'%s'" % w for w in words), len(words) - 1))
            p = subprocess.run(['bash', '-c', prog], capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, PATH=bindir + ':' + os.environ['PATH']))
            self.assertEqual(p.returncode, 0, p.stderr)
            return [x for x in p.stdout.split('\n') if x]

        self.assertEqual(complete('qemu-hmos v'), ['vm'])
        self.assertEqual(complete('qemu-hmos vm sta'), ['start'])
        self.assertEqual(complete('qemu-hmos image '), ['list', 'import', 'delete'])
        d = self.daemon.data_dir
        self.assertEqual(complete('qemu-hmos --data-dir %s vm start ' % d), ['alpha', 'beta two'])
        self.assertEqual(complete('qemu-hmos --data-dir %s vm snapshot alpha c' % d), ['create'])
        self.assertEqual(complete('qemu-hmos vm create x --arch a'), ['aarch64'])
