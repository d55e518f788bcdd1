# SPDX-License-Identifier: GPL-2.0-or-later
"""The OS image downloader against real local servers (no internet):

- nginx (Debian's, run as this user with its own prefix and config) serves
  generated files with Range and a per-connection limit_rate, a redirect chain
  and a location without ranges (max_ranges 0);
- a small threaded Python server misbehaves on purpose: 503s, connection
  resets mid-body, 416 for every range, and replays the request/response shapes
  of Microsoft's Windows download API (the real one cannot be reached here).

Checks parallel download + SHA-256, pause/resume, daemon kill -9 + resume, the
server dying mid-download, fallbacks, a wrong checksum, a full disk (tmpfs) →
507, a catalog entry with a dead first mirror, image import and upload.
"""

import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import wsclient
from harness import Daemon, error_code, error_message

SIZE = 24 << 20


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Nginx:
    """nginx on 127.0.0.1:PORT serving ROOT; access log records bytes sent per request."""

    def __init__(self, root, rate='2m'):
        self.dir = tempfile.mkdtemp(prefix='qhm-nginx-')
        self.root = root
        self.port = free_port()
        self.rate = rate
        self.proc = None
        os.makedirs(os.path.join(self.dir, 'tmp'), exist_ok=True)
        self.log = os.path.join(self.dir, 'access.log')
        conf = """
worker_processes 1;
error_log %(d)s/error.log;
pid %(d)s/nginx.pid;
events { worker_connections 512; }
http {
  log_format bytes '$connection $status $bytes_sent "$request" "$http_range"';
  access_log %(d)s/access.log bytes;
  client_body_temp_path %(d)s/tmp; proxy_temp_path %(d)s/tmp; fastcgi_temp_path %(d)s/tmp;
  uwsgi_temp_path %(d)s/tmp; scgi_temp_path %(d)s/tmp;
  types { application/octet-stream iso bin; text/plain txt; }
  server {
    listen 127.0.0.1:%(port)d;
    root %(root)s;
    limit_rate %(rate)s;
    location = /r1 { return 302 /r2; }
    location = /r2 { return 301 http://127.0.0.1:%(port)d/r3; }
    location = /r3 { return 307 /files/big.bin; }
    location /norange/ { max_ranges 0; limit_rate 16m; alias %(root)s/files/; }
  }
}
""" % {'d': self.dir, 'port': self.port, 'root': root, 'rate': rate}
        self.conf = os.path.join(self.dir, 'nginx.conf')
        with open(self.conf, 'w') as f:
            f.write(conf)

    def start(self):
        self.proc = subprocess.Popen(['nginx', '-p', self.dir, '-c', self.conf, '-g', 'daemon off;'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('nginx did not start: %s' % open(os.path.join(self.dir, 'error.log')).read())

    def kill(self):
        # Master and worker share the process group we created: kill both by that id.
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        time.sleep(0.1)

    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.port, path)

    def bytes_sent(self):
        total = 0
        with open(self.log) as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[1] in ('200', '206'):
                    total += int(parts[2])
        return total

    def connections(self):
        with open(self.log) as f:
            return {line.split()[0] for line in f if line.strip()}

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Trickster(http.server.BaseHTTPRequestHandler):
    """Misbehaving server; behaviour chosen by the path's first segment."""
    protocol_version = 'HTTP/1.1'
    data = b''
    counts = {}
    lock = threading.Lock()
    ms = {}

    def log_message(self, *a):
        pass

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    def send_body(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reset(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        self.connection.close()
        self.close_connection = True

    def ranged(self, flaky):
        data = self.data
        rng = self.headers.get('Range')
        if not rng:
            self.send_body(200, data)
            return
        m = re.match(r'bytes=(\d+)-(\d*)$', rng)
        a, b = int(m.group(1)), int(m.group(2) or len(data) - 1)
        b = min(b, len(data) - 1)
        self.send_response(206)
        self.send_header('Content-Range', 'bytes %d-%d/%d' % (a, b, len(data)))
        self.send_header('Content-Length', str(b - a + 1))
        self.end_headers()
        body = data[a:b + 1]
        if flaky and b - a > 300000 and self.count('reset-%d' % a) == 1:
            self.wfile.write(body[:200000])
            self.wfile.flush()
            self.reset()
            return
        self.wfile.write(body)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        kind = path.split('/')[1]
        if kind == 'busy':  # 503 for the first three requests
            if self.count('busy') <= 3:
                self.send_body(503, b'try later', [('Retry-After', '0')])
                return
            self.ranged(False)
        elif kind == 'resets':  # every big range is cut by a TCP reset once
            self.ranged(True)
        elif kind == 'no416':  # any Range: 416; plain GET: the whole file
            if self.headers.get('Range'):
                self.send_body(416, b'', [('Content-Range', 'bytes */%d' % len(self.data))])
            else:
                self.send_body(200, self.data)
        elif kind == 'ms':
            self.microsoft(path)
        else:
            self.send_body(404, b'not found')

    def microsoft(self, path):
        """Replays the shapes of Microsoft's software-download flow (see server/dl_ms.h)."""
        ms = self.ms
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if path == '/ms/page':
            self.send_body(200, b'<html><select><option value="" selected>Select</option>'
                                b'<option value="3113">Windows 11 (multi-edition ISO for x64 devices)</option>'
                                b'</select></html>', [('Content-Type', 'text/html')])
        elif path == '/ms/tags':
            ms['session'] = q.get('session_id', [''])[0]
            ms['org'] = q.get('org_id', [''])[0]
            self.send_body(200, b'', [('Content-Type', 'text/html')])
        elif path == '/ms/api/getskuinformationbyproductedition':
            ok = (q.get('ProductEditionId') == ['3113'] and q.get('sessionID') == [ms.get('session')]
                  and q.get('profile') == ['606624d44113'])
            body = {'Skus': [{'Id': '18441', 'Language': 'Arabic', 'LocalizedLanguage': 'Arabic'},
                             {'Id': '18459', 'Language': 'English (United States)',
                              'LocalizedLanguage': 'English (United States)',
                              'FriendlyFileNames': ['Win11_24H2_English_x64.iso']}]} if ok else \
                {'Errors': [{'Key': 'ErrorSettings.BadSession', 'Value': 'bad session', 'Type': 9}]}
            self.send_body(200, json.dumps(body).encode(), [('Content-Type', 'application/json')])
        elif path == '/ms/api/GetProductDownloadLinksBySku':
            if ms.get('refuse'):
                body = {'ValidationContainer': {'Errors': [{
                    'Key': 'ErrorSettings.SentinelReject',
                    'Value': 'Sentinel marked this request as rejected.', 'Type': 9}]}}
            elif q.get('SKU') != ['18459'] or q.get('sessionID') != [ms.get('session')] \
                    or not self.headers.get('Referer', '').endswith('/ms/page'):
                body = {'Errors': [{'Key': 'ErrorSettings.BadRequest', 'Value': 'bad request', 'Type': 9}]}
            else:
                body = {'ProductDownloadOptions': [
                    {'Uri': ms['iso_url'].replace('x64', 'x32'), 'DownloadType': 0},
                    {'Uri': ms['iso_url'], 'DownloadType': 1}],
                    'DownloadExpirationDatetime': '2099-01-01T00:00:00Z'}
            self.send_body(200, json.dumps(body).encode(), [('Content-Type', 'application/json')])
        else:
            self.send_body(404, b'')


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()


class DownloadTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='qhm-dl-')
        os.chmod(cls.tmp, 0o755)  # nginx workers started by root run as nobody
        cls.root = os.path.join(cls.tmp, 'www')
        os.makedirs(os.path.join(cls.root, 'files'))
        cls.data = os.urandom(SIZE)
        cls.sha = hashlib.sha256(cls.data).hexdigest()
        for name in ('big.bin', 'Win11_24H2_English_x64.iso', 'virtio-win-test.iso'):
            with open(os.path.join(cls.root, 'files', name), 'wb') as f:
                f.write(cls.data)
        with open(os.path.join(cls.root, 'files', 'SHA256SUMS'), 'w') as f:
            f.write('%s  other.iso\n%s *big.bin\n' % ('0' * 64, cls.sha))
        cls.nginx = Nginx(cls.root, rate='2m').start()
        Trickster.data = cls.data
        cls.trick = ThreadingServer(('127.0.0.1', 0), Trickster)
        cls.trick_url = 'http://127.0.0.1:%d' % cls.trick.server_address[1]
        threading.Thread(target=cls.trick.serve_forever, daemon=True).start()
        dead = 'http://127.0.0.1:%d' % free_port()
        cls.catalog = os.path.join(cls.tmp, 'catalog.json')
        Trickster.ms['iso_url'] = cls.nginx.url('/files/Win11_24H2_English_x64.iso')
        ms = {'page_url': cls.trick_url + '/ms/page', 'tags_url': cls.trick_url + '/ms/tags',
              'api_url': cls.trick_url + '/ms/api', 'language': 'English (United States)', 'arch': 'x64'}
        with open(cls.catalog, 'w') as f:
            json.dump({'entries': [
                {'id': 'test-os', 'os': 'test', 'name': 'Test OS', 'version': '1', 'arch': 'x86_64',
                 'file': 'big.bin', 'urls': [dead + '/files/big.bin', cls.nginx.url('/files/big.bin')],
                 'checksum': {'algo': 'sha256', 'url': [dead + '/files/SHA256SUMS',
                                                        cls.nginx.url('/files/SHA256SUMS')]}},
                {'id': 'test-windows', 'os': 'windows', 'name': 'Windows 11', 'version': '24H2',
                 'arch': 'x86_64', 'file': 'Win11_24H2_English_x64.iso', 'microsoft': ms},
                # as data/catalog.json's virtio-win: a fixed digest (checksum.value), no checksum file
                {'id': 'test-virtio', 'os': 'virtio-win', 'kind': 'drivers', 'name': 'Windows drivers (virtio-win)',
                 'version': '1', 'arch': 'x86_64', 'file': 'virtio-win-test.iso',
                 'urls': [cls.nginx.url('/files/virtio-win-test.iso')],
                 'checksum': {'algo': 'sha256', 'value': cls.sha.upper()}}]}, f)
        os.environ['QHM_CATALOG'] = cls.catalog
        cls.daemon = Daemon()
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.teardown()
        cls.nginx.cleanup()
        cls.trick.shutdown()
        os.environ.pop('QHM_CATALOG', None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        open(self.nginx.log, 'w').close()
        Trickster.counts.clear()

    # -- helpers --
    def post(self, body, expect=201):
        st, js, _ = self.daemon.api('POST', '/api/v1/downloads', body=body)
        self.assertEqual(st, expect, js)
        return js

    def get(self, did):
        return self.daemon.ok('GET', '/api/v1/downloads/' + did)

    def wait(self, did, states, timeout=30):
        deadline = time.time() + timeout
        while True:
            d = self.get(did)
            if d['state'] in states:
                return d
            if time.time() > deadline:
                raise AssertionError('download did not reach %s: %s\n%s' % (states, d, self.daemon.stderr_tail(30)))
            time.sleep(0.1)

    def wait_bytes(self, did, n, timeout=20):
        deadline = time.time() + timeout
        while True:
            d = self.get(did)
            if d['bytes'] >= n or d['state'] not in ('starting', 'running'):
                return d
            if time.time() > deadline:
                raise AssertionError('no progress: %s' % d)
            time.sleep(0.05)

    def assert_image(self, d, sha=None):
        self.assertEqual(d['state'], 'completed', d)
        self.assertTrue(d['checksum']['verified'] or sha is None, d)
        img = self.daemon.ok('GET', '/api/v1/images/' + d['image_id'])
        self.assertEqual(img['size'], SIZE)
        self.assertEqual(sha256_file(img['path']), self.sha)
        self.assertEqual(img['sha256'], self.sha)
        self.assertFalse(os.path.exists(os.path.join(self.daemon.data_dir, 'downloads', d['id'] + '.part')))
        return img

    # -- tests --
    def test_parallel_download_matches_sha256(self):
        d = self.post({'url': self.nginx.url('/files/big.bin'), 'sha256': self.sha.upper(), 'name': 'par.iso'})
        self.assertTrue(d['ranges'], d)
        self.assertEqual(d['total'], SIZE)
        self.assertEqual(d['connections'], 8)
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)
        self.assertGreaterEqual(len(self.nginx.connections()), 8, 'fewer than 8 connections were used')
        self.assertLessEqual(self.nginx.bytes_sent(), SIZE * 1.02)

    def test_progress_and_state_events(self):
        ev = self.daemon.ok('POST', '/api/v1/events/ticket')
        ws = wsclient.connect(ev['url'])
        try:
            t0 = time.time()
            d = self.post({'url': self.nginx.url('/files/big.bin'), 'sha256': self.sha, 'speed_limit': 12 << 20})
            seen = []
            while time.time() - t0 < 20:
                op, payload = ws.recv_message(timeout=10)
                m = json.loads(payload)
                if m.get('download') != d['id']:
                    continue
                seen.append((time.time(), m))
                if m['type'] == 'download.state' and m['state'] in ('completed', 'failed'):
                    break
            took = seen[-1][0] - t0
        finally:
            ws.sock.close()
        states = [m['state'] for _, m in seen if m['type'] == 'download.state']
        self.assertEqual(states[-1], 'completed', states)
        self.assertIn('running', states)
        progress = [m for _, m in seen if m['type'] == 'download.progress']
        self.assertGreaterEqual(len(progress), 2, seen)
        self.assertLessEqual(len(progress), 4 * took + 4, 'more than 4 progress events per second')
        self.assertTrue(all(p['total'] == SIZE and 0 <= p['bytes'] <= SIZE for p in progress), progress)
        self.assertEqual([p['bytes'] for p in progress], sorted(p['bytes'] for p in progress))
        # The completed event names the image the download became; earlier ones name none.
        done = [m for _, m in seen if m['type'] == 'download.state'][-1]
        image = self.daemon.ok('GET', '/api/v1/images/%s' % done['image'])
        self.assertEqual(image['sha256'], self.sha)
        self.assertTrue(all(m['image'] is None for _, m in seen if m['type'] == 'download.state'
                            and m['state'] != 'completed'))

    def test_pause_and_resume(self):
        d = self.post({'url': self.nginx.url('/files/big.bin'), 'sha256': self.sha, 'connections': 4,
                       'speed_limit': 4 << 20})
        self.wait_bytes(d['id'], 3 << 20)
        p = self.daemon.ok('POST', '/api/v1/downloads/%s/pause' % d['id'])
        self.assertEqual(p['state'], 'paused')
        time.sleep(0.3)
        b1 = self.get(d['id'])['bytes']
        time.sleep(0.7)
        self.assertEqual(self.get(d['id'])['bytes'], b1, 'bytes still arrive while paused')
        self.assertLess(b1, SIZE)
        st, js, _ = self.daemon.api('POST', '/api/v1/downloads/%s/pause' % d['id'])
        self.assertEqual((st, error_code(js)), (409, 'invalid_state'))
        self.daemon.ok('POST', '/api/v1/downloads/%s/resume' % d['id'])
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)
        self.assertLessEqual(self.nginx.bytes_sent(), SIZE * 1.05)

    def test_daemon_kill9_then_resume(self):
        d = self.post({'url': self.nginx.url('/files/big.bin'), 'sha256': self.sha, 'speed_limit': 6 << 20})
        self.wait_bytes(d['id'], 8 << 20)
        self.daemon.kill9()
        self.daemon.start()
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)
        refetched = self.nginx.bytes_sent() - SIZE
        self.assertLess(refetched, SIZE * 0.15, 'refetched %d bytes after kill -9' % refetched)

    def test_kill9_after_reboot_uses_only_synced_progress(self):
        """A changed boot id (as after a crash or power loss) makes the daemon distrust the
        'written' progress and resume from what was fdatasync'ed; the result still verifies."""
        import sqlite3
        d = self.post({'url': self.nginx.url('/files/big.bin'), 'sha256': self.sha, 'speed_limit': 6 << 20})
        self.wait_bytes(d['id'], 12 << 20)
        self.daemon.kill9()
        db = sqlite3.connect(os.path.join(self.daemon.data_dir, 'qemu-hmos.sqlite3'))
        kinds = {k: n for k, n in db.execute(
            'SELECT kind, SUM(pos - start) FROM download_segments WHERE download_id = ? GROUP BY kind', (d['id'],))}
        self.assertIn('written', kinds)
        self.assertIn('durable', kinds)
        self.assertGreaterEqual(kinds['written'], kinds['durable'])
        self.assertGreaterEqual(kinds['written'], 10 << 20)
        db.execute('UPDATE downloads SET boot_id = ? WHERE id = ?', ('another-boot', d['id']))
        db.commit()
        db.close()
        self.daemon.start()
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)

    def test_server_killed_mid_download_then_back(self):
        d = self.post({'url': self.nginx.url('/files/big.bin'), 'sha256': self.sha, 'speed_limit': 6 << 20})
        self.wait_bytes(d['id'], 6 << 20)
        self.nginx.kill()
        time.sleep(1.5)
        self.assertIn(self.get(d['id'])['state'], ('running',))
        self.nginx.start()
        d = self.wait(d['id'], ('completed', 'failed'), timeout=40)
        self.assert_image(d, self.sha)

    def test_connection_resets(self):
        d = self.post({'url': self.trick_url + '/resets/x.iso', 'sha256': self.sha})
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)
        self.assertTrue(any(k.startswith('reset-') for k in Trickster.counts))

    def test_503_then_ok(self):
        d = self.post({'url': self.trick_url + '/busy/x.iso', 'sha256': self.sha})
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)
        self.assertGreater(Trickster.counts['busy'], 3)

    def test_416_falls_back_to_one_stream(self):
        d = self.post({'url': self.trick_url + '/no416/x.iso', 'sha256': self.sha})
        self.assertFalse(d['ranges'], d)
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)

    def test_server_without_ranges(self):
        d = self.post({'url': self.nginx.url('/norange/big.bin'), 'sha256': self.sha})
        self.assertFalse(d['ranges'], d)
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)

    def test_wrong_checksum_fails_and_leaves_no_image(self):
        before = len(self.daemon.ok('GET', '/api/v1/images')['images'])
        d = self.post({'url': self.nginx.url('/files/big.bin'), 'sha256': 'ab' * 32})
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assertEqual(d['state'], 'failed')
        self.assertIn('mismatch', d['error'])
        self.assertIn('ab' * 32, d['error'])
        self.assertIsNone(d['image_id'])
        self.assertEqual(len(self.daemon.ok('GET', '/api/v1/images')['images']), before)
        self.assertFalse(os.path.exists(os.path.join(self.daemon.data_dir, 'downloads', d['id'] + '.part')))
        # Resuming a failed download fetches everything again (the partial file is gone).
        self.assertEqual(self.daemon.ok('POST', '/api/v1/downloads/%s/resume' % d['id'])['state'], 'starting')
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assertEqual(d['state'], 'failed')
        self.assertIn('mismatch', d['error'])
        self.assertEqual(d['checksum']['actual'], self.sha)
        self.assertGreaterEqual(self.nginx.bytes_sent(), 2 * SIZE)

    def test_redirect_chain(self):
        d = self.post({'url': self.nginx.url('/r1'), 'sha256': self.sha})
        d = self.wait(d['id'], ('completed', 'failed'))
        img = self.assert_image(d, self.sha)
        self.assertTrue(img['origin'].endswith('/files/big.bin'), img)

    def test_catalog_entry_with_dead_first_mirror(self):
        cat = self.daemon.ok('GET', '/api/v1/catalog')
        self.assertIn('test-os', [e['id'] for e in cat['entries']])
        d = self.post({'catalog_id': 'test-os'})
        self.assertEqual(d['checksum']['expected'], self.sha)
        self.assertEqual(d['url'], self.nginx.url('/files/big.bin'))
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)

    def test_catalog_drivers_entry_with_fixed_digest(self):
        e = [e for e in self.daemon.ok('GET', '/api/v1/catalog')['entries'] if e['id'] == 'test-virtio'][0]
        self.assertEqual(e['kind'], 'drivers')
        d = self.post({'catalog_id': 'test-virtio'})
        self.assertEqual((d['name'], d['checksum']['expected']), ('virtio-win-test.iso', self.sha))
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)

    def test_microsoft_flow(self):
        Trickster.ms['refuse'] = False
        d = self.post({'catalog_id': 'test-windows', 'sha256': self.sha})
        self.assertEqual(d['url'], self.nginx.url('/files/Win11_24H2_English_x64.iso'))
        self.assertEqual(Trickster.ms['org'], 'y6jn8c31')
        d = self.wait(d['id'], ('completed', 'failed'))
        self.assert_image(d, self.sha)
        Trickster.ms['refuse'] = True
        st, js, _ = self.daemon.api('POST', '/api/v1/downloads', body={'catalog_id': 'test-windows'})
        self.assertEqual((st, error_code(js)), (502, 'microsoft_refused'), js)
        self.assertIn('Sentinel', error_message(js))
        self.assertIn('by hand', error_message(js))

    def test_cancel_removes_partial(self):
        d = self.post({'url': self.nginx.url('/files/big.bin'), 'speed_limit': 2 << 20})
        self.wait_bytes(d['id'], 1 << 20)
        part = os.path.join(self.daemon.data_dir, 'downloads', d['id'] + '.part')
        self.assertTrue(os.path.exists(part))
        self.daemon.ok('DELETE', '/api/v1/downloads/' + d['id'])
        self.assertFalse(os.path.exists(part))
        st, js, _ = self.daemon.api('GET', '/api/v1/downloads/' + d['id'])
        self.assertEqual(st, 404)

    def test_bad_input(self):
        cases = [({'url': 'ftp://x/y'}, 'url'), ({'url': 'http://x/y', 'sha256': 'zz'}, 'sha256'),
                 ({'url': 'http://x/y', 'connections': 99}, 'connections'), ({'bogus': 1}, 'bogus'),
                 ({'url': 'http://x/y', 'name': '../etc/passwd'}, 'name'), ({}, 'url'),
                 ({'catalog_id': 'nope'}, 'catalog_id'), ({'urls': []}, 'urls')]
        for body, field in cases:
            st, js, _ = self.daemon.api('POST', '/api/v1/downloads', body=body)
            self.assertIn(st, (400, 404), (body, js))
            self.assertTrue(error_message(js).startswith(field), (body, js))
        st, js, _ = self.daemon.api('POST', '/api/v1/downloads', raw=b'{"url": ')
        self.assertEqual((st, error_code(js)), (400, 'malformed_json'))
        st, js, _ = self.daemon.api('POST', '/api/v1/images', body={'path': 'relative.iso'})
        self.assertEqual(st, 400)
        self.assertTrue(error_message(js).startswith('path'), js)
        # A dead URL: clear 502, nothing left behind.
        st, js, _ = self.daemon.api('POST', '/api/v1/downloads',
                                    body={'url': 'http://127.0.0.1:%d/x.iso' % free_port()})
        self.assertEqual((st, error_code(js)), (502, 'upstream_error'), js)

    def test_import_by_path_and_upload(self):
        src = os.path.join(self.tmp, 'local.iso')
        with open(src, 'wb') as f:
            f.write(self.data[:3 << 20])
        img = self.daemon.ok('POST', '/api/v1/images', body={'path': src}, expect=201)
        self.assertIn(img['import_mode'], ('reflink', 'hardlink', 'copy'))
        self.assertEqual(img['size'], 3 << 20)
        with open(img['path'], 'rb') as f:
            self.assertEqual(f.read(), self.data[:3 << 20])
        self.assertTrue(img['path'].startswith(os.path.join(self.daemon.data_dir, 'images')))
        # Upload, streamed: 24 MiB in one PUT (the JSON body limit is 1 MiB).
        st, js, _ = self.daemon.api('PUT', '/api/v1/images/upload?name=up.iso', raw=self.data,
                                    headers={'Content-Type': 'application/octet-stream'})
        self.assertEqual(st, 201, js)
        self.assertEqual(js['sha256'], self.sha)
        self.assertEqual(sha256_file(js['path']), self.sha)
        names = [i['name'] for i in self.daemon.ok('GET', '/api/v1/images')['images']]
        self.assertIn('up.iso', names)
        self.assertIn('local.iso', names)
        st, js, _ = self.daemon.api('PUT', '/api/v1/images/upload?name=../x', raw=b'abc')
        self.assertEqual(st, 400, js)
        leftovers = [n for n in os.listdir(os.path.join(self.daemon.data_dir, 'images')) if n.startswith('.upload')]
        self.assertEqual(leftovers, [])
        # A library image is accepted as a VM's cdrom.
        st, vm, _ = self.daemon.api('POST', '/api/v1/vms', body={'name': 'with-iso', 'memory_mib': 128,
                                                                  'disks': [], 'cdrom': img['path']})
        self.assertEqual(st, 201, vm)
        self.assertEqual(vm['cdrom'] if 'cdrom' in vm else vm['config']['cdrom'], img['path'])
        # ... and then cannot be deleted from under the VM; the file stays.
        st, js, _ = self.daemon.api('DELETE', '/api/v1/images/' + img['id'])
        self.assertEqual(st, 409, js)
        self.assertEqual(js['error']['code'], 'in_use', js)
        self.assertIn("VM 'with-iso' (cdrom)", js['error']['message'], js)
        self.assertTrue(os.path.exists(img['path']))
        self.daemon.ok('PATCH', '/api/v1/vms/' + vm['id'], body={'cdrom': ''})
        self.daemon.ok('DELETE', '/api/v1/images/' + img['id'])
        self.assertFalse(os.path.exists(img['path']))
        self.assertEqual(self.daemon.api('GET', '/api/v1/images/' + img['id'])[0], 404)
        self.daemon.api('DELETE', '/api/v1/vms/' + vm['id'])

    def test_upload_larger_than_free_space_refused_at_once(self):
        # The declared size (10 TiB) cannot fit: 507 before the body is read, nothing left behind.
        with socket.create_connection((self.daemon.host, self.daemon.port), timeout=10) as s:
            s.sendall(b'PUT /api/v1/images/upload?name=huge.iso HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n'
                      b'Authorization: Bearer %s\r\n'
                      b'Content-Type: application/octet-stream\r\nContent-Length: 10995116277760\r\n\r\n'
                      % (self.daemon.port, self.daemon.token.encode()) + b'x' * 4096)
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b'\r\n\r\n')
        self.assertTrue(head.startswith(b'HTTP/1.1 507 '), data[:300])
        err = json.loads(body)['error']
        self.assertEqual(err['code'], 'insufficient_storage', err)
        self.assertIn('10995116277760 bytes do not fit', err['message'])
        self.assertEqual([n for n in os.listdir(os.path.join(self.daemon.data_dir, 'images'))
                          if n.startswith('.upload') or n == 'huge.iso'], [])
        self.daemon.ok('GET', '/api/v1/images')


@unittest.skipUnless(os.geteuid() == 0, 'mounting a tmpfs needs root')
class SmallDiskTest(unittest.TestCase):
    def test_disk_too_small_is_507(self):
        mnt = tempfile.mkdtemp(prefix='qhm-tmpfs-')
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mnt], check=True)
        root = tempfile.mkdtemp(prefix='qhm-www-')
        os.chmod(root, 0o755)
        os.makedirs(os.path.join(mnt, 'data'))
        os.makedirs(os.path.join(root, 'files'))
        with open(os.path.join(root, 'files', 'big.bin'), 'wb') as f:
            f.write(os.urandom(8 << 20))
        ngx = Nginx(root, rate='0').start()
        d = Daemon(data_dir=os.path.join(mnt, 'data'))
        try:
            d.start()
            st, js, _ = d.api('POST', '/api/v1/downloads', body={'url': ngx.url('/files/big.bin')})
            self.assertEqual((st, error_code(js)), (507, 'insufficient_storage'), js)
            self.assertIn('1 GiB', error_message(js))
            self.assertEqual(os.listdir(os.path.join(d.data_dir, 'downloads')), [])
        finally:
            d.teardown()
            ngx.cleanup()
            subprocess.run(['umount', '-l', mnt], check=False)
            shutil.rmtree(root, ignore_errors=True)
            os.rmdir(mnt)


class ShippedCatalogTest(unittest.TestCase):
    """data/catalog.json: the OSes and arches the issue asks for, mirrors in mainland China, a
    checksum source for every Linux entry; the daemon serves it when QHM_CATALOG is unset."""

    def test_shipped_catalog(self):
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(repo, 'data', 'catalog.json')) as f:
            cat = json.load(f)
        have = {(e['os'], e['arch']) for e in cat['entries']}
        for osname in ('debian', 'ubuntu', 'fedora', 'alpine', 'openeuler', 'windows'):
            for arch in ('x86_64', 'aarch64'):
                self.assertIn((osname, arch), have)
        ids = [e['id'] for e in cat['entries']]
        self.assertEqual(len(ids), len(set(ids)))
        drivers = [e for e in cat['entries'] if e.get('kind') == 'drivers']
        self.assertEqual([e['os'] for e in drivers], ['virtio-win'])  # the Windows path's drivers disc
        self.assertTrue(all(e.get('kind') in (None, 'drivers') for e in cat['entries']))
        for e in cat['entries']:
            if e.get('kind') == 'drivers':
                # Fedora's versioned archive (a fixed file, so a fixed digest); no mirror in China has it
                self.assertEqual(len(e['urls']), 1, e)
                self.assertRegex(e['urls'][0], r'^https://fedorapeople\.org/groups/virt/virtio-win/direct-downloads/'
                                 r'archive-virtio/virtio-win-(0\.1\.\d+)-\d+/virtio-win-\1\.iso$')
                self.assertTrue(e['urls'][0].endswith('/' + e['file']), e)
                self.assertEqual(e['checksum']['algo'], 'sha256')
                self.assertRegex(e['checksum']['value'], r'^[0-9a-f]{64}$')
                self.assertIn(e['version'].split('-')[0], e['file'])
                self.assertIn('checksum', e['note'])
                continue
            if e['os'] == 'windows':
                self.assertEqual(set(e['microsoft']), {'page_url', 'tags_url', 'api_url', 'language', 'arch'})
                continue
            self.assertTrue(all(u.startswith('https://') and u.endswith('/' + e['file']) for u in e['urls']), e)
            self.assertTrue(any(m in u for u in e['urls'] for m in ('tuna', 'ustc', 'aliyun')), e)
            self.assertTrue(e['checksum']['url'], e)
        saved = os.environ.pop('QHM_CATALOG', None)
        d = Daemon()
        try:
            d.start()
            served = d.ok('GET', '/api/v1/catalog')['entries']
            self.assertEqual([e['id'] for e in served], ids)
            st, js, _ = d.api('POST', '/api/v1/catalog', body={})
            self.assertEqual(st, 405)
        finally:
            d.teardown()
            if saved is not None:
                os.environ['QHM_CATALOG'] = saved
