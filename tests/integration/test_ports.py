# SPDX-License-Identifier: GPL-2.0-or-later
"""The WebSocket port (issue 19): by default 8007, and when that is taken (a second instance, as
`make run` twice) a free one, said in the log and in endpoint.json; asked for with --ws-port, a
taken port is an error that names it."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import daemon_path


def serve(data, *extra):
    return subprocess.Popen([daemon_path(), 'serve', '--data-dir', data,
                             '--bind', '127.0.0.1', '--port', '0'] + list(extra),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


class WsPortTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='qhm-ports-')
        os.chmod(self.tmp, 0o755)  # as root the daemon's QEMU user must reach the data directory
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # 8007 taken, by us (or already by someone else: the same case for the daemon).
        self.holder = socket.socket()
        self.holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.holder.bind(('127.0.0.1', 8007))
            self.holder.listen(1)
        except OSError:
            pass
        self.addCleanup(self.holder.close)

    def test_default_taken_gives_a_free_port(self):
        data = os.path.join(self.tmp, 'a')
        p = serve(data)
        try:
            ep = os.path.join(data, 'run', 'endpoint.json')
            deadline = time.time() + 20
            info = None
            while time.time() < deadline and p.poll() is None:
                try:
                    with open(ep) as f:
                        info = json.load(f)
                    if info.get('pid') == p.pid:
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
            self.assertIsNotNone(info, 'no endpoint.json; exit %s' % p.poll())
            port = int(info['ws'].rsplit(':', 1)[1].split('/')[0])
            self.assertNotEqual(port, 8007, info)
            with socket.create_connection(('127.0.0.1', port), timeout=5):
                pass
        finally:
            p.terminate()
            out = p.communicate(timeout=20)[0].decode(errors='replace')
        self.assertIn('WebSocket port 8007', out)
        self.assertIn('using a free one', out)
        self.assertIn('ws://127.0.0.1:%d' % port, out)  # the serving line says where

    def test_asked_for_and_taken_is_an_error(self):
        p = serve(os.path.join(self.tmp, 'b'), '--ws-port', '8007')
        out = p.communicate(timeout=30)[0].decode(errors='replace')
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn('8007', out)
