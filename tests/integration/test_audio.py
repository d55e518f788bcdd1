# SPDX-License-Identifier: GPL-2.0-or-later
"""Sound on the VNC path, for real: the Linux test guest with "audio": true (Intel HD Audio in
QEMU, Debian's snd-hda-intel in the guest) plays a 880 Hz tone with ALSA's aplay; a listener on
/audio/{id} (ticket protocol "audio") gets the format, the start of playback and PCM, and the PCM
holds that tone (Goertzel power at 880 Hz against its neighbours). Two listeners at once; one
that stops reading loses PCM, not the others' sound nor the daemon's memory; the stream takes
nothing from the browser; the VM's stop closes it. aarch64: the USB audio device starts and
its VNC server speaks the audio extension. Refusals: a VM without a sound card (409 no_audio),
bad values of "audio"."""

import math
import struct
import time

import linuxguest
import wsclient
from harness import DaemonTestCase
from wsclient import OP_BINARY, OP_CLOSE

TONE = 880
RATE = 44100


def power(samples, freq, rate=RATE):
    """Goertzel: the magnitude of FREQ in SAMPLES (mono), per sample."""
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    return math.sqrt(max(0.0, s1 * s1 + s2 * s2 - k * s1 * s2)) / max(1, len(samples))


class AudioTest(DaemonTestCase):
    def listener(self, vid, **kw):
        st, js, _ = self.daemon.api('POST', '/api/v1/vms/%s/console' % vid, body={'protocol': 'audio'})
        self.assertEqual(st, 200, js)
        self.assertEqual(js['protocol'], 'audio')
        self.assertIn('/audio/%s?ticket=' % vid, js['url'])
        ws = wsclient.connect(js['url'], protocols=['binary'], **kw)
        self.addCleanup(ws.close)
        return ws

    def read_format(self, ws):
        op, data = ws.recv_message(30)
        self.assertEqual(op, OP_BINARY, data)
        self.assertEqual(len(data), 8, data)
        self.assertEqual(data[0], 0)  # format
        channels, bits, _, rate = struct.unpack('<BBBI', data[1:])
        self.assertEqual((channels, bits, rate), (2, 16, RATE))

    def read_pcm(self, ws, seconds, timeout=120):
        """(kinds seen, left-channel samples) once SECONDS of PCM came."""
        kinds, left = set(), []
        deadline = time.time() + timeout
        while len(left) < seconds * RATE:
            self.assertLess(time.time(), deadline, 'only %d samples after %d s (kinds %s)'
                            % (len(left), timeout, kinds))
            op, data = ws.recv_message(max(0.1, deadline - time.time()))
            self.assertEqual(op, OP_BINARY, data)
            kinds.add(data[0])
            if data[0] == 3:
                self.assertEqual((len(data) - 1) % 4, 0, 'PCM frames are whole')
                left += [v for v, _ in struct.iter_unpack('<hh', data[1:])]
            else:
                self.assertIn(data[0], (1, 2), data[:16])
                self.assertEqual(len(data), 1)
        return kinds, left

    def assert_tone(self, left):
        # the loudest stretch (aplay restarts between plays: a little silence)
        seg = max((left[i:i + 8192] for i in range(0, len(left) - 8192, 4096)),
                  key=lambda s: sum(abs(v) for v in s))
        at = power(seg, TONE)
        others = {f: power(seg, f) for f in (440, 660, 1000, 1320, 1760)}
        self.assertGreater(at, 1000, 'no %d Hz tone: %.0f (others %s)' % (TONE, at, others))
        for f, p in others.items():
            self.assertGreater(at, 10 * p, '%d Hz is not the tone: %.0f vs %d Hz %.0f' % (TONE, at, f, p))

    def test_linux_guest_plays_a_tone(self):
        d = self.daemon.scratch_dir('qhm-audio-')
        kb = linuxguest.kernel_boot(d, linuxguest.AUDIO_SCRIPT, modules=linuxguest.AUDIO_MODULES,
                                    files=linuxguest.audio_files(TONE))
        vm = self.new_vm(memory_mib=256, cpus=1, disks=[], kernel_boot=kb, audio=True)
        vid = vm['id']
        self.assertIs(vm['audio'], True)
        st, cmd, _ = self.daemon.api('GET', '/api/v1/vms/%s/cmdline' % vid)
        self.assertEqual(st, 200, cmd)
        argv = cmd['argv']
        self.assertIn('hda-duplex,bus=qhm-hda.0,audiodev=qhm-audio', argv)
        self.assertIn('none,id=qhm-audio', argv)
        self.daemon.action(vid, 'start')
        a = self.listener(vid)
        b = self.listener(vid)
        self.read_format(a)
        self.read_format(b)
        kinds, left = self.read_pcm(a, 1.5)
        self.assertIn(1, kinds, 'the start of playback was announced')
        self.assert_tone(left)
        # b did not read meanwhile (1.5 s of sound queued at most half a second's worth; the
        # rest was dropped): it still gets the tone, and a close of a goes unnoticed by b.
        a.close()
        _, left_b = self.read_pcm(b, 1.0)
        self.assert_tone(left_b)
        st, host, _ = self.daemon.api('GET', '/api/v1/vms/%s' % vid)
        self.assertEqual(host['state'], 'running')

        # The stream takes nothing from the browser.
        c = self.listener(vid)
        self.read_format(c)
        c.send_binary(b'\x01')
        code = self.read_close(c)
        self.assertEqual(code, 1003)

        # Stopping the VM closes the listener with the reason.
        self.daemon.action(vid, 'kill')
        code = self.read_close(b)
        self.assertEqual(code, 1001)

    def read_close(self, ws, timeout=30):
        deadline = time.time() + timeout
        while True:
            self.assertLess(time.time(), deadline, 'not closed')
            op, data = ws.recv_message(max(0.1, deadline - time.time()))
            if op == OP_CLOSE:
                return data.code

    def test_aarch64_usb_audio(self):
        vm = self.new_vm(arch='aarch64', memory_mib=256, cpus=1, disks=[], audio=True)
        vid = vm['id']
        st, cmd, _ = self.daemon.api('GET', '/api/v1/vms/%s/cmdline' % vid)
        self.assertIn('usb-audio,bus=xhci.0,audiodev=qhm-audio', cmd['argv'])
        self.daemon.action(vid, 'start')
        ws = self.listener(vid)
        self.read_format(ws)  # the handshake with QEMU's VNC server went through
        self.daemon.action(vid, 'kill')

    def test_refusals(self):
        vm = self.new_vm(memory_mib=128, cpus=1, disks=[])
        vid = vm['id']
        self.assertNotIn('audio', vm)
        for bad in ('yes', 1, None, [True]):
            st, js, _ = self.daemon.api('PATCH', '/api/v1/vms/%s' % vid, body={'audio': bad})
            self.assertEqual(st, 400, js)
            self.assertEqual(js['error']['code'], 'invalid_field')
            self.assertTrue(js['error']['message'].startswith('audio:'), js)
        st, js, _ = self.daemon.api('POST', '/api/v1/vms', body={'name': 'snd-bad', 'audio': 'on'})
        self.assertEqual(st, 400, js)
        # not running: as any console
        st, js, _ = self.daemon.api('POST', '/api/v1/vms/%s/console' % vid, body={'protocol': 'audio'})
        self.assertEqual(st, 409, js)
        self.daemon.action(vid, 'start')
        st, js, _ = self.daemon.api('POST', '/api/v1/vms/%s/console' % vid, body={'protocol': 'audio'})
        self.assertEqual(st, 409, js)
        self.assertEqual(js['error']['code'], 'no_audio')
        # a sound card is added or removed while the VM is stopped only
        st, js, _ = self.daemon.api('PATCH', '/api/v1/vms/%s' % vid, body={'audio': True})
        self.assertEqual(st, 409, js)
        self.assertTrue(js['error']['message'].startswith('audio:'), js)
        self.daemon.action(vid, 'kill')
        self.daemon.wait_state(vid, 'stopped', 30)
        st, js, _ = self.daemon.api('PATCH', '/api/v1/vms/%s' % vid, body={'audio': True})
        self.assertEqual(st, 200, js)
        self.assertIs(js['audio'], True)
        self.daemon.action(vid, 'start')
        ws = self.listener(vid)
        self.read_format(ws)
        self.daemon.action(vid, 'kill')
