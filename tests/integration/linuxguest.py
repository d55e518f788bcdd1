# SPDX-License-Identifier: GPL-2.0-or-later
"""A tiny Linux guest for the shared-folder tests: Debian 12's kernel booted directly by QEMU
(kernel_boot) with an initramfs built here from busybox-static and the kernel's own 9p modules
(both unpacked from Debian packages by scripts/fetch-test-guest.sh). Its /init mounts the VM's
shared folders by tag, runs a shell script given by the test, and powers the machine off.

The initramfs is a gzipped "newc" cpio written by this module (no cpio tool needed)."""

import glob
import gzip
import os
import subprocess

CACHE = os.environ.get('QHM_GUEST_CACHE', '/var/cache/qemu-hmos/test-guest')
ROOT = os.path.join(CACHE, 'root')
WANT = ['virtio_pci', '9pnet_virtio', '9p']
AGENT_MODULES = ['virtio_pci', 'virtio_console']
CMDLINE = 'console=ttyS0 quiet panic=-1'

# Mounts the VM's shared folders "work" and "media" (harness.GuestShares sets up the host side),
# reads and writes through the first, tries to write to the second (read-only).
SHARE_SCRIPT = '''$B mkdir -p /mnt/s /mnt/r
$B mount -t 9p -o trans=virtio,version=9p2000.L work /mnt/s
$B mount -t 9p -o trans=virtio,version=9p2000.L media /mnt/r
$B tr a-z A-Z < /mnt/s/in.txt > /mnt/s/out.txt
$B ls /mnt/r > /mnt/s/ro-listing.txt
if $B sh -c 'echo x > /mnt/r/written.txt' 2>/dev/null; then echo yes > /mnt/s/ro-writable.txt; else echo no > /mnt/s/ro-writable.txt; fi'''

# The same through virtiofs (the VM's shares with mode "virtiofs"; VIRTIOFS_MODULES loaded); also
# records which user the host gave a file the guest's root made (ls -n: numeric).
VIRTIOFS_MODULES = ['virtio_pci', 'virtiofs']
VIRTIOFS_SCRIPT = SHARE_SCRIPT.replace('-t 9p -o trans=virtio,version=9p2000.L', '-t virtiofs') + '''
$B sh -c 'echo made-in-guest > /mnt/s/guest-made.txt'
$B ls -n /mnt/s/guest-made.txt > /mnt/s/guest-made-ls.txt'''

# Runs Debian's qemu-ga (qemu_ga_files) on the org.qemu.guest_agent.0 port, host name qhm-guest;
# it stays in the foreground (the guest runs until it is stopped).
AGENT_SCRIPT = '''$B mount -t sysfs sys /sys
$B hostname qhm-guest
$B ip link set lo up 2>/dev/null || $B ifconfig lo 127.0.0.1 up
port=
for p in /sys/class/virtio-ports/*; do
  if [ "$($B cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ]; then port=/dev/$($B basename $p); fi
done
$B mkdir -p /var/run /tmp
/usr/sbin/qemu-ga -m virtio-serial -p "$port" -f /tmp/qga.pid'''


# Sound (VMs with "audio": true): the HD Audio driver with the generic codec driver first (the
# guest has no modprobe to load it on demand); AUDIO_SCRIPT plays /tone.wav (audio_files) on the
# first card again and again with ALSA's aplay.
AUDIO_MODULES = ['snd_hda_codec_generic', 'snd_hda_intel']
AUDIO_SCRIPT = '''$B mount -t sysfs sys /sys
i=0; while [ ! -e /dev/snd/pcmC0D0p ] && [ $i -lt 300 ]; do $B sleep 0.1; i=$((i+1)); done
$B cat /proc/asound/cards
echo qhm-audio-ready
while true; do /usr/bin/aplay -q -D plughw:0,0 /tone.wav && echo qhm-played; done'''


def tone_wav(freq, seconds=2.0, rate=44100, amplitude=12000):
    """A WAV file: a sine of FREQ Hz on both channels, 16-bit."""
    import io, math, struct, wave
    n = int(rate * seconds)
    frames = bytearray()
    for i in range(n):
        v = int(amplitude * math.sin(2 * math.pi * freq * i / rate))
        frames += struct.pack('<hh', v, v)
    buf = io.BytesIO()
    with wave.open(buf, 'wb') as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def audio_files(freq):
    """aplay and libasound (from the cache: scripts/fetch-test-guest.sh), ALSA's configuration,
    the C library from this Debian 12 host, and /tone.wav playing FREQ Hz."""
    files = {'tone.wav': (tone_wav(freq), 0o100644)}
    for rel, to in (('usr/bin/aplay', 'usr/bin/aplay'),
                    ('usr/lib/x86_64-linux-gnu/libasound.so.2', 'lib/x86_64-linux-gnu/libasound.so.2')):
        with open(os.path.realpath(os.path.join(ROOT, rel)), 'rb') as f:
            files[to] = (f.read(), 0o100755)
    with open(os.path.join(ROOT, 'usr/share/alsa/alsa.conf'), 'rb') as f:
        files['usr/share/alsa/alsa.conf'] = (f.read(), 0o100644)
    for lib in ('/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libm.so.6', '/lib64/ld-linux-x86-64.so.2'):
        with open(os.path.realpath(lib), 'rb') as f:
            files[lib.lstrip('/')] = (f.read(), 0o100755)
    return files


def kernel(root=ROOT):
    """(path of vmlinuz, its modules directory). ROOT: another unpacked guest (bench/qemu.py's
    arm64 one from scripts/fetch-test-guest-arm64.sh)."""
    k = sorted(glob.glob(os.path.join(root, 'boot', 'vmlinuz-*')))
    if not k or not os.path.exists(os.path.join(root, 'bin', 'busybox')):
        raise RuntimeError('no test guest in %s: run scripts/fetch-test-guest.sh' % os.path.dirname(root))
    ver = os.path.basename(k[-1])[len('vmlinuz-'):]
    return k[-1], os.path.join(root, 'lib', 'modules', ver)


def _depends(path):
    """A module's "depends=" from its .modinfo strings (the .deb has no modules.dep)."""
    with open(path, 'rb') as f:
        data = f.read()
    i = data.find(b'\0depends=')
    if i < 0:
        return []
    j = data.index(b'\0', i + 1)
    return [d for d in data[i + 9:j].decode().split(',') if d]


def modules_in_order(moddir, want=WANT):
    """The .ko files WANT needs, dependencies first, each once (paths relative to MODDIR)."""
    by_name = {}
    for dirpath, _, files in os.walk(os.path.join(moddir, 'kernel')):
        for f in files:
            if f.endswith('.ko'):
                by_name[f[:-3].replace('-', '_')] = os.path.relpath(os.path.join(dirpath, f), moddir)
    out = []

    def add(name):
        rel = by_name[name.replace('-', '_')]
        for d in _depends(os.path.join(moddir, rel)):
            add(d)
        if rel not in out:
            out.append(rel)
    for name in want:
        add(name)
    return out


def _cpio_entry(name, data=b'', mode=0o100644, ino=1):
    name_b = name.encode() + b'\0'
    hdr = '070701' + ''.join('%08X' % v for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
    out = hdr.encode() + name_b
    out += b'\0' * ((4 - len(out) % 4) % 4)
    out += data
    out += b'\0' * ((4 - len(data) % 4) % 4)
    return out


def qemu_ga_files():
    """The guest agent from Debian's qemu-guest-agent (in the cache) and the shared libraries it
    needs, taken from this Debian 12 host (ldd): {path in the guest: (bytes, mode)}."""
    ga = os.path.join(ROOT, 'usr', 'sbin', 'qemu-ga')
    files = {'usr/sbin/qemu-ga': (open(ga, 'rb').read(), 0o100755)}
    out = subprocess.run(['ldd', ga], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        lib = parts[2] if '=>' in parts and len(parts) > 2 else parts[0]
        if lib.startswith('/') and os.path.exists(lib):
            with open(os.path.realpath(lib), 'rb') as f:
                files[lib.lstrip('/')] = (f.read(), 0o100755)
    return files


def build_initrd(path, script, modules=WANT, files=None, root=ROOT):
    """Write the initramfs: busybox (of the guest in ROOT), MODULES (and what they need) loaded by
    /init, FILES ({path: (bytes, mode)}) in place, then SCRIPT, then power off."""
    _, moddir = kernel(root)
    mods = modules_in_order(moddir, modules) if modules else []
    with open(os.path.join(root, 'bin', 'busybox'), 'rb') as f:
        busybox = f.read()
    init = ['#!/bin/busybox sh', 'B=/bin/busybox', 'export PATH=/bin',
            '$B mkdir -p /proc /sys /dev /mnt',
            '$B mount -t proc proc /proc', '$B mount -t devtmpfs dev /dev']
    init += ['$B insmod /lib/modules/%s' % os.path.basename(m) for m in mods]
    init += [script, '$B sync', '$B poweroff -f', '']
    entries = [_cpio_entry('bin', mode=0o40755, ino=1), _cpio_entry('lib', mode=0o40755, ino=2),
               _cpio_entry('lib/modules', mode=0o40755, ino=3),
               _cpio_entry('bin/busybox', busybox, mode=0o100755, ino=4),
               _cpio_entry('init', '\n'.join(init).encode(), mode=0o100755, ino=5)]
    for i, m in enumerate(mods):
        with open(os.path.join(moddir, m), 'rb') as f:
            entries.append(_cpio_entry('lib/modules/' + os.path.basename(m), f.read(), ino=10 + i))
    made = {'bin', 'lib', 'lib/modules'}
    ino = 1000
    for name, (data, mode) in sorted((files or {}).items()):
        parts = name.split('/')
        for k in range(1, len(parts)):
            d = '/'.join(parts[:k])
            if d not in made:
                made.add(d)
                ino += 1
                entries.append(_cpio_entry(d, mode=0o40755, ino=ino))
        ino += 1
        entries.append(_cpio_entry(name, data, mode=mode, ino=ino))
    entries.append(_cpio_entry('TRAILER!!!', ino=0, mode=0))
    with gzip.open(path, 'wb', compresslevel=1) as f:
        f.write(b''.join(entries))
    return path


def kernel_boot(directory, script, modules=WANT, files=None):
    """A VM's kernel_boot for this guest: the kernel, DIRECTORY/initrd.gz built by build_initrd."""
    k, _ = kernel()
    initrd = build_initrd(os.path.join(directory, 'initrd.gz'), script, modules=modules, files=files)
    return {'kernel': k, 'initrd': initrd, 'cmdline': CMDLINE}
