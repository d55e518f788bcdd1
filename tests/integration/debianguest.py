# SPDX-License-Identifier: GPL-2.0-or-later
"""The real Debian 12 desktop guest (scripts/build-debian-guest.sh, which make check runs before the
tests): a bootable qcow2 with systemd, a root shell on the serial console, qemu-guest-agent,
spice-vdagent and an openbox desktop that user qhm logs into on tty1, its root window #2e6f8e.

new_vm() makes a VM of the daemon's with a copy of that disk (a new VM's disk file, written over
by the image: the file keeps the owner and mode the daemon gave it)."""

import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'scripts', 'build-debian-guest.sh')
DESKTOP_RGB = (0x2e, 0x6f, 0x8e)
HOSTNAME = 'qhm-debian'


def image():
    """The cached image's path; AssertionError (naming the command) when it was not built."""
    out = subprocess.run(['sh', SCRIPT, '--print'], capture_output=True, text=True).stdout.strip()
    if not out or not os.path.isfile(out):
        raise AssertionError('the Debian test guest is not built: run scripts/build-debian-guest.sh '
                             '(make check does)')
    return out


def new_vm(tc, name='debian', **fields):
    """A stopped VM (TC: a DaemonTestCase) booting the Debian guest from its virtio disk."""
    src = image()
    want = dict(name=name, arch='x86_64', memory_mib=1024, cpus=2, display='virtio-vga',
                disks=[{'size_gib': 4, 'interface': 'virtio'}])
    want.update(fields)
    vm = tc.new_vm(**want)
    dst = vm['disks'][0]['path']
    with open(src, 'rb') as fin, open(dst, 'r+b') as fout:  # r+b: the daemon's file, owner and mode kept
        fout.truncate(0)
        shutil.copyfileobj(fin, fout, 4 << 20)
    return vm


def desktop_shown(img):
    """(True, why) when IMG (a screenshot) is mostly the desktop's root window colour."""
    from harness import dominant_colour
    c, share = dominant_colour(img)
    if tuple(c) == DESKTOP_RGB and share > 0.4:
        return True, 'desktop %.0f%%' % (share * 100)
    return False, 'dominant %r at %.0f%%' % (tuple(c), share * 100)
