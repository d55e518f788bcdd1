# SPDX-License-Identifier: GPL-2.0-or-later
"""The test tools themselves, checked against bare QEMU (no daemon): the PNG
decoder, the placeholder detection and the two tiny guests. When these fail
the daemon tests that use them cannot be trusted."""

import os
import random
import struct
import time
import unittest
import zlib

import harness
import png
from harness import BareQemu, frame_verdict, guest_iso, shows_guest_text, work_dir


def _filter_row(ftype, line, prev, bpp):
    out = bytearray(len(line))
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ftype == 0:
            p = 0
        elif ftype == 1:
            p = a
        elif ftype == 2:
            p = b
        elif ftype == 3:
            p = (a + b) >> 1
        else:
            p = png._paeth(a, b, c)
        out[i] = (line[i] - p) & 0xFF
    return bytes([ftype]) + bytes(out)


def _encode(width, height, ctype, pix, filters):
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    stride = width * bpp
    prev = bytes(stride)
    rows = b''
    for y in range(height):
        line = pix[y * stride:(y + 1) * stride]
        rows += _filter_row(filters[y % len(filters)], line, prev, bpp)
        prev = line

    def chunk(t, b):
        return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b) & 0xFFFFFFFF)
    z = zlib.compress(rows)
    # Split IDAT in two to exercise multi-chunk image data.
    return (png.PNG_SIGNATURE + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, ctype, 0, 0, 0))
            + chunk(b'IDAT', z[:len(z) // 2]) + chunk(b'IDAT', z[len(z) // 2:]) + chunk(b'IEND', b''))


class PngDecoderTest(unittest.TestCase):
    def test_all_filter_types_and_colour_types(self):
        rnd = random.Random(7)
        w, h = 29, 17
        for ctype, bpp in ((2, 3), (6, 4), (0, 1), (4, 2)):
            pix = bytes(rnd.randrange(256) for _ in range(w * h * bpp))
            if ctype == 2:
                want = pix
            elif ctype == 6:
                want = b''.join(pix[i:i + 3] for i in range(0, len(pix), 4))
            else:
                want = b''.join(bytes([pix[i]] * 3) for i in range(0, len(pix), bpp))
            for filters in ([0], [1], [2], [3], [4], [0, 1, 2, 3, 4]):
                img = png.decode(_encode(w, h, ctype, pix, filters))
                self.assertEqual(img.size, (w, h))
                self.assertEqual(img.rgb, want, 'colour type %d filters %r' % (ctype, filters))

    def test_rejects_garbage(self):
        with self.assertRaises(png.PNGError):
            png.decode(b'not a png')
        good = png.encode(png.Image(2, 2, bytes(12)))
        bad = bytearray(good)
        bad[-20] ^= 0xFF  # corrupt a chunk: CRC must catch it
        with self.assertRaises(png.PNGError):
            png.decode(bytes(bad))
        ok, why, _ = frame_verdict(b'\x89PNG\r\n\x1a\n')
        self.assertFalse(ok, why)


class PlaceholderTest(unittest.TestCase):
    def test_placeholder_is_recognised(self):
        ph = harness.placeholder_image()
        self.assertEqual(ph.size, (640, 480))
        self.assertGreater(len(ph.colours()), 1)
        ok, why, _ = frame_verdict(png.encode(ph))
        self.assertFalse(ok, why)
        self.assertIn('placeholder', why)
        # A single-colour frame (e.g. a cleared framebuffer) is not a real frame either.
        ok, why, _ = frame_verdict(png.encode(png.Image(800, 600, b'\0\0\0' * 800 * 600)))
        self.assertFalse(ok, why)
        # One changed pixel is a guest drawing.
        rgb = bytearray(ph.rgb)
        rgb[0:3] = b'\x01\x02\x03'
        ok, why, _ = frame_verdict(png.encode(png.Image(640, 480, bytes(rgb))))
        self.assertTrue(ok, why)

    def test_aarch64_placeholder_is_the_same(self):
        q = BareQemu('/usr/bin/qemu-system-aarch64', ['-M', 'virt', '-cpu', 'max', '-m', '64',
                                                      '-device', 'ramfb'], work_dir())
        try:
            ok, why, img = frame_verdict(q.screendump())
        finally:
            q.kill()
        self.assertFalse(ok, 'a paused aarch64 guest should show the placeholder: ' + why)
        self.assertTrue(harness.is_placeholder(img), why)

    @harness.needs_qemu_build
    def test_built_qemu_virtio_gpu_placeholder(self):
        """QEMU 10's virtio-gpu-pci (the daemon's aarch64 display) starts on a placeholder of its own,
        not Debian 7.2's: a frame_verdict that knew only the old one took it for the guest's frame."""
        m = harness.qemu_build_manifest()
        if m is None:
            self.skipTest(harness.no_qemu_build_reason())
        ph = harness.built_placeholder_image()
        self.assertNotEqual(ph.rgb, harness.placeholder_image().rgb)
        for variant in ('tcg', 'tci'):
            q = harness.built_qemu(m, variant, 'aarch64', ['-M', 'virt', '-m', '64', '-device', 'virtio-gpu-pci'])
            try:
                ok, why, _ = frame_verdict(q.screendump())
            finally:
                q.kill()
            self.assertFalse(ok, '%s: a paused guest is not a real frame: %s' % (variant, why))
            self.assertIn('placeholder', why)


class GuestImageTest(unittest.TestCase):
    """The boot-sector guests do what the daemon tests rely on, on bare QEMU."""

    def _run(self, binary, machine, kind, smp=1):
        return BareQemu(binary, ['-M', machine, '-accel', 'tcg', '-smp', str(smp), '-m', '64',
                                 '-device', 'VGA', '-cdrom', guest_iso(kind), '-boot', 'd'],
                        work_dir(), cont=True)

    def test_poweroff_guest_exits_0(self):
        for binary, machine in (('/usr/bin/qemu-system-x86_64', 'q35'), ('/usr/bin/qemu-system-x86_64', 'pc'),
                                ('/usr/bin/qemu-system-i386', 'pc')):
            q = self._run(binary, machine, 'poweroff')
            try:
                rc = q.wait(20)
                self.assertEqual(rc, 0, '%s -M %s: exit %r\n%s' % (binary, machine, rc, q.output()))
                ev = q.qmp.wait_event('SHUTDOWN', 1)
                self.assertIsNotNone(ev, 'no SHUTDOWN event')
                self.assertEqual(ev['data'].get('reason'), 'guest-shutdown', ev)
            finally:
                q.kill()

    def test_powerbutton_guest_waits_then_powers_off(self):
        for machine in ('q35', 'pc'):
            q = self._run('/usr/bin/qemu-system-x86_64', machine, 'powerbutton', smp=2)
            try:
                # Its text appears, and it keeps running until the button is pressed.
                deadline = time.time() + 20
                while True:
                    ok, why, img = frame_verdict(q.screendump())
                    if ok and shows_guest_text(img)[0]:
                        break
                    self.assertLess(time.time(), deadline, '%s: guest text never shown: %s' % (machine, why))
                    time.sleep(0.2)
                self.assertIsNone(q.wait(1.0), '%s: the guest powered off before the button' % machine)
                r = q.qmp.cmd('system_powerdown')
                self.assertEqual(r, {'return': {}})
                rc = q.wait(10)
                self.assertEqual(rc, 0, '%s: exit %r after system_powerdown\n%s' % (machine, rc, q.output()))
                ev = q.qmp.wait_event('SHUTDOWN', 1)
                self.assertIsNotNone(ev)
                self.assertEqual(ev['data'].get('reason'), 'guest-shutdown', ev)
            finally:
                q.kill()

    def test_boot_sector_layout(self):
        for kind in ('poweroff', 'powerbutton'):
            img = harness.guests.boot_sector(kind)
            self.assertEqual(len(img), 2048)
            self.assertTrue(os.path.getsize(guest_iso(kind)) > 2048)
