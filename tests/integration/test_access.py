# SPDX-License-Identifier: GPL-2.0-or-later
"""Access control (issue: any web page could drive the API): the API token, the owner's cookie got
through /?token=, the Host allowlist, cookie writes only from the daemon's own Origin with a JSON
body, host paths confined to the allowed roots, images that name other host files refused, the
loopback-only default bind, and the request-head deadline against slowloris."""

import http.client
import json
import os
import resource
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import openapi
import wsclient
from harness import QEMU_IMG, Daemon, DaemonTestCase, error_code, error_message

MEMTEST = '/usr/lib/memtest86+/memtest86+x64.iso'


def raw_request(port, method, path, headers, body=b'', host='127.0.0.1', source=None, timeout=10):
    """One request on its own connection, headers exactly as given; (status, headers, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if body:
            conn.putheader('Content-Length', str(len(body)))
        conn.endheaders(body or None)
        r = conn.getresponse()
        status, rh, data = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        openapi.check(method, path, headers, body, status, rh, data)  # docs/openapi.yaml
        return status, rh, data
    finally:
        conn.close()


def code_of(body):
    try:
        return error_code(json.loads(body))
    except ValueError:
        return None


class AccessTest(DaemonTestCase):
    def host_hdr(self, name='127.0.0.1'):
        return '%s:%d' % (name, self.daemon.port)

    def origin(self):
        return 'http://127.0.0.1:%d' % self.daemon.port

    def vm_count(self):
        return len(self.daemon.ok('GET', '/api/v1/vms')['vms'])

    def cookie(self):
        """The owner's session cookie, the way a browser gets it: /?token= answers 303 + Set-Cookie."""
        st, h, _ = raw_request(self.daemon.port, 'GET', '/vm/x?token=' + self.daemon.token,
                               {'Host': self.host_hdr()})
        self.assertEqual(st, 303)
        return h['set-cookie'].split(';')[0]

    def test_endpoint_file_holds_a_strong_token_readable_by_the_owner_only(self):
        ep = os.path.join(self.data_dir, 'run', 'endpoint.json')
        self.assertEqual(stat.S_IMODE(os.stat(ep).st_mode), 0o600)
        tok = self.daemon.token
        self.assertGreaterEqual(len(tok) * 4, 128, 'at least 128 bits of hex')
        self.assertTrue(all(c in '0123456789abcdef' for c in tok))
        path = os.path.join(self.data_dir, 'secrets', 'api-token')
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)

    def test_no_credential_no_answer(self):
        before = self.vm_count()
        cases = [('GET', '/api/v1/host', b''), ('GET', '/api/v1/vms', b''),
                 ('POST', '/api/v1/vms', b'{"name": "evil", "disks": []}'),
                 ('POST', '/api/v1/events/ticket', b''), ('GET', '/api/v1/images', b''),
                 ('GET', '/api/v1/devices', b''), ('POST', '/api/v1/pairing', b'')]
        for method, path, body in cases:
            for auth in ({}, {'Authorization': 'Bearer ' + '0' * 64}, {'Authorization': 'Basic eDp5'},
                         {'Cookie': 'qhm_session=' + self.daemon.token}, {'Cookie': 'qhm_device=x.y'}):
                hdrs = dict(auth, Host=self.host_hdr(), **({'Content-Type': 'application/json'} if body else {}))
                st, _, b = raw_request(self.daemon.port, method, path, hdrs, body)
                self.assertEqual((st, code_of(b)), (401, 'unauthorized'), '%s %s %r: %r' % (method, path, auth, b))
        self.assertEqual(self.vm_count(), before)

    def test_upload_refused_before_its_body_is_read(self):
        with socket.create_connection((self.daemon.host, self.daemon.port), timeout=10) as s:
            s.sendall(b'PUT /api/v1/images/upload?name=x.iso HTTP/1.1\r\nHost: %s\r\n'
                      b'Content-Type: application/octet-stream\r\nContent-Length: 1073741824\r\n\r\n'
                      % self.host_hdr().encode() + b'x' * 4096)
            head = s.recv(65536)
        self.assertTrue(head.startswith(b'HTTP/1.1 401 '), head[:200])
        self.assertEqual([n for n in os.listdir(os.path.join(self.data_dir, 'images')) if n.startswith('.upload')],
                         [])

    def test_token_link_sets_the_cookie_and_drops_the_token(self):
        st, h, _ = raw_request(self.daemon.port, 'GET', '/vm/abc?token=' + self.daemon.token,
                               {'Host': self.host_hdr()})
        self.assertEqual(st, 303)
        self.assertEqual(h['location'], '/vm/abc')
        parts = [p.strip() for p in h['set-cookie'].split(';')]
        self.assertTrue(parts[0].startswith('qhm_session='), parts)
        self.assertNotIn(self.daemon.token, parts[0], 'the cookie must not be the token itself')
        for attr in ('HttpOnly', 'SameSite=Strict', 'Path=/'):
            self.assertIn(attr, parts)
        st, _, b = raw_request(self.daemon.port, 'GET', '/?token=' + 'f' * 64, {'Host': self.host_hdr()})
        self.assertEqual((st, code_of(b)), (401, 'unauthorized'))
        # the static UI itself needs nothing
        st, h, _ = raw_request(self.daemon.port, 'GET', '/', {'Host': self.host_hdr()})
        self.assertIn(st, (200, 404))  # 404 when started without --ui-dir

    def test_cookie_reads_but_writes_only_from_own_origin_with_json(self):
        ck = self.cookie()
        st, _, b = raw_request(self.daemon.port, 'GET', '/api/v1/host', {'Host': self.host_hdr(), 'Cookie': ck})
        self.assertEqual(st, 200, b[:200])
        before = self.vm_count()
        body = b'{"name": "csrf", "disks": []}'
        json_ct = {'Content-Type': 'application/json'}
        attempts = [
            (json_ct, 'forbidden_origin', 403),  # no Origin
            (dict(json_ct, Origin='http://evil.example'), 'forbidden_origin', 403),
            (dict(json_ct, Origin='null'), 'forbidden_origin', 403),
            (dict(json_ct, Origin='http://127.0.0.1:%d' % (self.daemon.port + 1)), 'forbidden_origin', 403),
            ({'Origin': 'http://evil.example', 'Content-Type': 'text/plain'}, 'forbidden_origin', 403),
            ({'Origin': self.origin(), 'Content-Type': 'text/plain'}, 'unsupported_media_type', 415),
            ({'Origin': self.origin(), 'Content-Type': 'application/x-www-form-urlencoded'},
             'unsupported_media_type', 415),
            ({'Origin': self.origin()}, 'unsupported_media_type', 415),  # no Content-Type
        ]
        for extra, code, status in attempts:
            hdrs = dict({'Host': self.host_hdr(), 'Cookie': ck}, **extra)
            st, _, b = raw_request(self.daemon.port, 'POST', '/api/v1/vms', hdrs, body)
            self.assertEqual((st, code_of(b)), (status, code), '%r: %r' % (extra, b))
        self.assertEqual(self.vm_count(), before, 'a refused request created a VM')
        for i, origin in enumerate((self.origin(), 'http://localhost:%d' % self.daemon.port)):
            st, _, b = raw_request(self.daemon.port, 'POST', '/api/v1/vms',
                                   {'Host': self.host_hdr(), 'Cookie': ck, 'Origin': origin,
                                    'Content-Type': 'application/json; charset=utf-8'},
                                   b'{"name": "ok-%d", "disks": []}' % i)
            self.assertEqual(st, 201, b[:300])
            self.addCleanup(self.daemon.dispose, json.loads(b)['id'])
        # Bearer clients need neither Origin nor a JSON content type
        st, _, b = raw_request(self.daemon.port, 'POST', '/api/v1/vms',
                               dict(self.daemon.auth_headers(), Host=self.host_hdr(), **{'Content-Type': 'text/plain'}),
                               b'{"name": "bearer", "disks": []}')
        self.assertEqual(st, 201, b[:300])
        self.addCleanup(self.daemon.dispose, json.loads(b)['id'])

    def test_host_allowlist(self):
        auth = self.daemon.auth_headers()
        for host in ('evil.example:%d' % self.daemon.port, 'evil.example', '127.0.0.1',
                     '127.0.0.1:%d.evil.example' % self.daemon.port, '127.0.0.2:%d' % self.daemon.port, ''):
            for path in ('/api/v1/host', '/', '/index.html'):
                st, _, b = raw_request(self.daemon.port, 'GET', path, dict(auth, Host=host))
                self.assertEqual((st, code_of(b)), (403, 'forbidden_host'), '%r %s' % (host, path))
        st, _, b = raw_request(self.daemon.port, 'GET', '/api/v1/host', dict(auth))  # no Host at all
        self.assertEqual((st, code_of(b)), (403, 'forbidden_host'))
        for name in ('127.0.0.1', 'localhost', 'LOCALHOST', '[::1]'):
            st, _, b = raw_request(self.daemon.port, 'GET', '/api/v1/host', dict(auth, Host=self.host_hdr(name)))
            self.assertEqual(st, 200, '%s: %r' % (name, b[:200]))

    def test_websocket_host_and_origin(self):
        def ticket():
            return self.daemon.ok('POST', '/api/v1/events/ticket')['url']
        ws_port = int(self.daemon.ws_url.rsplit(':', 1)[1])
        url = ticket()
        hs = wsclient.open_ws(url, headers={}, path=None, origin=None,
                              protocols=['qemu-hmos-events'])
        self.assertEqual(hs.status, 101)
        hs.ws.close()
        for origin, host in (('http://evil.example', None), (None, 'evil.example:%d' % ws_port)):
            url = ticket()
            host_hdr = {'Host': host} if host else {}
            # wsclient sends its own Host: a second Host header is refused too (lws takes the first);
            # send the whole request by hand for the Host case
            if host:
                _, _, path = wsclient.split_url(url)
                with socket.create_connection(('127.0.0.1', ws_port), timeout=5) as s:
                    s.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                               'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'
                               'Sec-WebSocket-Protocol: qemu-hmos-events\r\n\r\n' % (path, host)).encode())
                    head = s.recv(4096)
                self.assertEqual(head.split(b'\r\n')[0].split(b' ')[1], b'403', head[:200])
            else:
                hs = wsclient.open_ws(url, origin=origin, protocols=['qemu-hmos-events'])
                self.assertEqual(hs.status, 403, hs)
            # the refused ticket is spent
            hs = wsclient.open_ws(url, protocols=['qemu-hmos-events'])
            self.assertEqual(hs.status, 403, hs)
            del host_hdr

    def test_token_survives_restart_and_new_token_replaces_it(self):
        d = Daemon()
        try:
            d.start()
            tok = d.token
            st, h, _ = raw_request(d.port, 'GET', '/?token=' + tok, {'Host': '127.0.0.1:%d' % d.port})
            ck = h['set-cookie'].split(';')[0]
            d.stop()
            d.start()
            self.assertEqual(d.token, tok, 'a restart keeps the token (bookmarks, scripts)')
            st, _, _ = raw_request(d.port, 'GET', '/api/v1/host', {'Host': '127.0.0.1:%d' % d.port, 'Cookie': ck})
            self.assertEqual(st, 200, 'the cookie outlives the process')
            d.stop()
            d.extra_args = ['--new-token']
            d.start()
            self.assertNotEqual(d.token, tok)
            for hdr in ({'Cookie': ck}, {'Authorization': 'Bearer ' + tok}):
                st, _, _ = raw_request(d.port, 'GET', '/api/v1/host', dict(hdr, Host='127.0.0.1:%d' % d.port))
                self.assertEqual(st, 401, 'the old token and cookie die with --new-token')
            self.assertEqual(d.ok('GET', '/api/v1/host')['version'], d.endpoint['version'])
        finally:
            d.teardown()

    def test_non_loopback_bind_needs_lan(self):
        for args, want in ((['--bind', '0.0.0.0'], '--lan'), (['--bind', 'example'], 'not an IPv4'),
                           (['--bind', '127.0.0.1', '--lan-port', '9'], 'need --lan')):
            tmp = tempfile.mkdtemp(prefix='qhm-bind-')
            try:
                p = subprocess.run([self.daemon.binary, 'serve', '--data-dir', tmp, '--port', '0', '--ws-port', '0']
                                   + args, capture_output=True, text=True, timeout=20)
                self.assertNotEqual(p.returncode, 0, args)
                self.assertIn(want, p.stderr, args)
                self.assertFalse(os.path.exists(os.path.join(tmp, 'run', 'endpoint.json')))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    def test_data_dir_private_parts_never_allowed(self):
        """The harness allows the temp dir, which holds DATA: still nothing below DATA but its own
        folders (images, shared, vms, disks) may be named."""
        self.assertTrue(self.data_dir.startswith(tempfile.gettempdir()))
        for rel in ('secrets/api-token', 'secrets', 'run/endpoint.json', 'qemu-hmos.sqlite3', '', 'tls/key.pem'):
            p = os.path.join(self.data_dir, rel)
            st, js, _ = self.api('POST', '/api/v1/vms', body={'name': 'leak', 'disks': [], 'cdrom': p})
            self.assertEqual((st, error_code(js)), (403, 'path_not_allowed'), '%s: %r' % (rel, js))
            st, js, _ = self.api('POST', '/api/v1/images', body={'path': p})
            self.assertEqual((st, error_code(js)), (403, 'path_not_allowed'), '%s: %r' % (rel, js))

    def test_slowloris_does_not_starve_others(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 4096)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        socks, refused = [], 0
        try:
            for _ in range(1000):  # half-sent requests from one address (127.0.0.3)
                s = socket.socket()
                s.settimeout(5)
                try:
                    s.bind(('127.0.0.3', 0))
                    s.connect(('127.0.0.1', self.daemon.port))
                    s.sendall(b'GET /api/v1/host HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
                    socks.append(s)
                except OSError:
                    refused += 1
                    s.close()
            t0 = time.time()
            st, js, _ = self.api('GET', '/api/v1/host', timeout=5)
            self.assertEqual(st, 200, js)
            self.assertLess(time.time() - t0, 5)
            # the daemon keeps at most 64 of them; the rest were closed at once
            time.sleep(0.5)
            closed = 0
            for s in socks:
                s.setblocking(False)
                try:
                    if s.recv(1) == b'':
                        closed += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
            self.assertGreaterEqual(closed + refused, 1000 - 64, 'per-address connection limit')
            # those kept get no more than the request-head deadline (10 s), trickling or not
            alive = [s for s in socks if s.fileno() >= 0]
            deadline = time.time() + 16
            open_left = len(alive)
            while time.time() < deadline and open_left:
                open_left = 0
                for s in alive:
                    try:
                        s.send(b'x')
                        r = s.recv(1)
                        if r != b'':
                            open_left += 1
                    except BlockingIOError:
                        open_left += 1
                    except OSError:
                        pass
                time.sleep(1)
            self.assertEqual(open_left, 0, 'half-sent requests outlived the 10 s header deadline')
        finally:
            for s in socks:
                s.close()
        self.assertAlive()

    def assertAlive(self):
        self.assertEqual(self.api('GET', '/api/v1/host')[0], 200)


class PathConfinementTest(DaemonTestCase):
    """Every host path taken from a request must resolve inside an allowed root."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix='qhm-root-')
        os.chmod(cls.root, 0o755)
        cls.outside = tempfile.mkdtemp(prefix='qhm-outside-')
        os.chmod(cls.outside, 0o755)
        cls.daemon = Daemon(allow_paths=[cls.root])
        cls.data_dir = cls.daemon.data_dir
        cls.daemon.start()
        shutil.copy(MEMTEST, os.path.join(cls.root, 'memtest.iso'))
        shutil.copy(MEMTEST, os.path.join(cls.outside, 'secret.iso'))
        os.symlink('/etc/shadow', os.path.join(cls.root, 'shadow-link'))
        os.symlink(cls.outside, os.path.join(cls.root, 'dir-link'))
        os.mkdir(os.path.join(cls.root, 'share'))

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.root, ignore_errors=True)
        shutil.rmtree(cls.outside, ignore_errors=True)

    BAD = ['/etc/shadow', '/etc/passwd', '/proc/self/environ', '/proc/self/cmdline', '/', '/nonexistent/x.iso']

    def bad_paths(self):
        r = self.root
        return self.BAD + [r + '/shadow-link', r + '/../' + os.path.basename(self.outside) + '/secret.iso',
                           r + '/dir-link/secret.iso', self.outside + '/secret.iso', r + '/dir-link',
                           os.path.join(self.data_dir, 'secrets', 'api-token'),
                           os.path.join(self.data_dir, 'run', 'endpoint.json'),
                           os.path.join(self.data_dir, 'qemu-hmos.sqlite3')]

    def refused(self, method, path, body, field):
        st, js, _ = self.api(method, path, body=body)
        self.assertEqual((st, error_code(js)), (403, 'path_not_allowed'), '%s %r -> %r' % (path, body, js))
        msg = error_message(js)
        self.assertTrue(msg.startswith(field + ':'), msg)
        return msg

    def test_vm_paths(self):
        before = len(self.daemon.ok('GET', '/api/v1/vms')['vms'])
        messages = set()
        for p in self.bad_paths():
            messages.add(self.refused('POST', '/api/v1/vms', {'name': 'x', 'disks': [], 'cdrom': p}, 'cdrom'))
            self.refused('POST', '/api/v1/vms', {'name': 'x', 'disks': [], 'kernel_boot': {'kernel': p}},
                         'kernel_boot.kernel')
            self.refused('POST', '/api/v1/vms', {'name': 'x', 'disks': [], 'kernel_boot': {
                'kernel': self.root + '/memtest.iso', 'initrd': p}}, 'kernel_boot.initrd')
            self.refused('POST', '/api/v1/vms', {'name': 'x', 'disks': [], 'shared_folders': [
                {'path': p, 'tag': 'host'}]}, 'shared_folders[0].path')
        # the same answer whether the file outside exists or not: nothing to learn
        self.assertEqual(len(messages), 1, messages)
        self.assertEqual(len(self.daemon.ok('GET', '/api/v1/vms')['vms']), before)
        # inside the roots: fine, stored resolved
        vm = self.new_vm(disks=[], cdrom=self.root + '/./memtest.iso',
                         shared_folders=[{'path': self.root + '/share', 'tag': 'host'}])
        self.assertEqual(vm['cdrom'], self.root + '/memtest.iso')
        for p in self.bad_paths():
            self.refused('PATCH', '/api/v1/vms/' + vm['id'], {'cdrom': p}, 'cdrom')
        # a path that was fine becomes a symlink out: refused at start
        link = os.path.join(self.root, 'later.iso')
        shutil.copy(MEMTEST, link)
        vm2 = self.new_vm(disks=[], cdrom=link)
        os.unlink(link)
        os.symlink('/etc/shadow', link)
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vm2['id'])
        self.assertEqual((st, error_code(js)), (403, 'path_not_allowed'), js)

    def test_image_import_and_disk_source(self):
        imgs = len(self.daemon.ok('GET', '/api/v1/images')['images'])
        for p in self.bad_paths():
            self.refused('POST', '/api/v1/images', {'path': p}, 'path')
        self.assertEqual(len(self.daemon.ok('GET', '/api/v1/images')['images']), imgs)
        vm = self.new_vm(disks=[])
        for p in self.bad_paths():
            self.refused('POST', '/api/v1/vms/%s/disks' % vm['id'], {'source': p, 'size_gib': 1}, 'source')
        img = self.daemon.ok('POST', '/api/v1/images', body={'path': self.root + '/memtest.iso'}, expect=201)
        self.assertEqual(img['name'], 'memtest.iso')

    def test_allowed_paths_listed(self):
        roots = self.daemon.ok('GET', '/api/v1/host')['allowed_paths']
        self.assertIn(os.path.realpath(self.root), roots)
        self.assertIn(os.path.realpath(os.path.join(self.data_dir, 'images')), roots)
        self.assertNotIn(os.path.realpath(self.data_dir), roots, 'never DATA itself (secrets/)')

    def test_images_with_backing_files_refused(self):
        """qcow2 naming a host file as its backing file: refused at upload, import and disk add."""
        base = os.path.join(self.outside, 'base.raw')
        with open(base, 'wb') as f:
            f.write(b'secret' * 1000)
        evil = os.path.join(self.root, 'evil.qcow2')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', '-b', '/etc/shadow', '-F', 'raw', evil],
                       check=True)
        evil2 = os.path.join(self.root, 'evil2.qcow2')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', evil2], check=True)
        # a qcow2 named .iso (a raw image's name): not the format it claims
        disguised = os.path.join(self.root, 'disguised.iso')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', disguised, '1M'], check=True)
        images_dir = os.path.join(self.data_dir, 'images')
        before = sorted(os.listdir(images_dir))
        vm = self.new_vm(disks=[])
        for path, code in ((evil, 'backing_file'), (evil2, 'backing_file'), (disguised, 'wrong_format')):
            st, js, _ = self.api('POST', '/api/v1/images', body={'path': path})
            self.assertEqual((st, error_code(js)), (400, code), js)
            with open(path, 'rb') as f:
                data = f.read()
            st, js, _ = self.api('PUT', '/api/v1/images/upload?name=' + os.path.basename(path), raw=data,
                                 headers={'Content-Type': 'application/octet-stream'})
            self.assertEqual((st, error_code(js)), (400, code), js)
            if code == 'backing_file':
                st, js, _ = self.api('POST', '/api/v1/vms/%s/disks' % vm['id'], body={'source': path})
                self.assertEqual((st, error_code(js)), (400, 'backing_file'), js)
        self.assertEqual(sorted(os.listdir(images_dir)), before, 'nothing half-made in the library')
        self.assertEqual(self.daemon.ok('GET', '/api/v1/vms/%s/disks' % vm['id'])['disks'], [])
        # a plain qcow2 without a backing file is fine as a disk source
        good = os.path.join(self.root, 'good.qcow2')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', good, '1G'], check=True)
        self.daemon.ok('POST', '/api/v1/vms/%s/disks' % vm['id'], body={'source': good}, expect=(200, 201), timeout=120)


class RewrittenDiskTest(DaemonTestCase):
    def test_clone_refuses_a_disk_that_names_a_host_file(self):
        """QEMU runs unprivileged but owns its disks: a QEMU taken over could give its qcow2 a backing
        file. The daemon's own qemu-img (clone) must not read through it."""
        vm = self.new_vm(memory_mib=128, disks=[{'size_gib': 1}])
        disk = vm['disks'][0]['path']
        subprocess.run([QEMU_IMG, 'rebase', '-q', '-u', '-f', 'qcow2', '-b', '/etc/shadow', '-F', 'raw', disk],
                       check=True)
        before = sorted(os.listdir(os.path.join(self.data_dir, 'vms')))
        st, js, _ = self.api('POST', '/api/v1/vms/%s/clone' % vm['id'], body={'name': 'copy'})
        self.assertEqual((st, error_code(js)), (409, 'backing_file'), js)
        self.assertEqual(sorted(os.listdir(os.path.join(self.data_dir, 'vms'))), before)


class LimitsTest(DaemonTestCase):
    def test_vm_count_is_capped(self):
        have = len(self.daemon.ok('GET', '/api/v1/vms')['vms'])
        made = []
        try:
            for i in range(200 - have):
                made.append(self.daemon.ok('POST', '/api/v1/vms', body={'name': 'cap-%d' % i, 'disks': []},
                                           expect=201)['id'])
            st, js, _ = self.api('POST', '/api/v1/vms', body={'name': 'one-too-many', 'disks': []})
            self.assertEqual((st, error_code(js)), (422, 'over_limit'), js)
            st, js, _ = self.api('POST', '/api/v1/vms/%s/clone' % made[0], body={'name': 'clone-too-many'})
            self.assertEqual((st, error_code(js)), (422, 'over_limit'), js)
            self.assertEqual(len(os.listdir(os.path.join(self.data_dir, 'vms'))), 200)
        finally:
            for vid in made:
                self.api('DELETE', '/api/v1/vms/' + vid)

    @unittest.skipUnless(os.geteuid() == 0, 'mounting a tmpfs needs root')
    def test_chunked_upload_keeps_the_reserve(self):
        """A body without Content-Length cannot be refused up front: the 1 GiB reserve is checked
        while it streams, and the half-written file is removed."""
        mnt = tempfile.mkdtemp(prefix='qhm-tmpfs-')
        os.chmod(mnt, 0o755)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1100m,mode=0755', 'tmpfs', mnt], check=True)
        d = Daemon(data_dir=os.path.join(mnt, 'data'))
        try:
            os.makedirs(d.data_dir, mode=0o711)
            d.start()
            conn = http.client.HTTPConnection(d.host, d.port, timeout=60)
            conn.putrequest('PUT', '/api/v1/images/upload?name=big.iso', skip_accept_encoding=True)
            for k, v in dict(d.auth_headers(), **{'Content-Type': 'application/octet-stream',
                                                 'Transfer-Encoding': 'chunked'}).items():
                conn.putheader(k, v)
            conn.endheaders()
            chunk = b'\0' * (1 << 20)
            try:
                for _ in range(300):  # 300 MiB: the reserve is crossed after ~76 MiB
                    conn.send(b'%x\r\n%s\r\n' % (len(chunk), chunk))
                conn.send(b'0\r\n\r\n')
            except OSError:
                pass
            r = conn.getresponse()
            js = json.loads(r.read())
            conn.close()
            self.assertEqual((r.status, error_code(js)), (507, 'insufficient_storage'), js)
            self.assertEqual([n for n in os.listdir(os.path.join(d.data_dir, 'images'))], [])
            self.assertEqual(d.ok('GET', '/api/v1/images')['images'], [])
        finally:
            d.teardown()
            subprocess.run(['umount', '-l', mnt], check=False)
            os.rmdir(mnt)
