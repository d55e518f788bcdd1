# SPDX-License-Identifier: GPL-2.0-or-later
"""LAN mode on 127.0.0.2 (loopback range; never another address): HTTPS and WSS only with the
daemon's self-signed certificate, browsers paired with a code the owner asks for, wrong codes rate
limited, paired devices listed and revoked (a revoked cookie fails at once, its open streams close)."""

import hashlib
import http.client
import json
import os
import socket
import ssl
import stat
import time

import openapi
import wsclient
from harness import Daemon, DaemonTestCase, error_code

LAN_ADDR = '127.0.0.2'
MEMTEST = '/usr/lib/memtest86+/memtest86+x64.iso'


def tls_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class LanTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(extra_args=['--lan', '--bind', LAN_ADDR, '--lan-port', '0', '--lan-ws-port', '0',
                                        '--lan-name', 'tablet.local'])
        cls.data_dir = cls.daemon.data_dir
        cls.daemon.start()
        lan = cls.daemon.endpoint['lan']
        cls.lan_url = lan['url']
        cls.lan_port = int(lan['url'].rsplit(':', 1)[1])
        cls.lan_ws = lan['ws']
        cls.fingerprint = lan['fingerprint']

    def lan(self, method, path, body=None, headers=None, source=None, host=None):
        conn = http.client.HTTPSConnection(LAN_ADDR, self.lan_port, timeout=10, context=tls_ctx(),
                                           source_address=(source, 0) if source else None)
        try:
            hdrs = {'Host': host or '%s:%d' % (LAN_ADDR, self.lan_port)}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                hdrs['Content-Type'] = 'application/json'
                hdrs['Origin'] = self.lan_url
            hdrs.update(headers or {})
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in hdrs.items():
                conn.putheader(k, v)
            if data:
                conn.putheader('Content-Length', str(len(data)))
            conn.endheaders(data)
            r = conn.getresponse()
            raw = r.read()
            openapi.check(method, path, hdrs, data, r.status, dict(r.getheaders()), raw)  # docs/openapi.yaml
            try:
                js = json.loads(raw) if raw else None
            except ValueError:
                js = raw
            return r.status, js, {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()

    def new_code(self):
        return self.daemon.ok('POST', '/api/v1/pairing')['code']

    def pair(self, name='phone', source=None):
        code = self.new_code()
        st, js, h = self.lan('POST', '/api/v1/pair', body={'code': code, 'name': name}, source=source)
        self.assertEqual(st, 200, js)
        cookie = h['set-cookie'].split(';')[0]
        attrs = [a.strip() for a in h['set-cookie'].split(';')]
        for a in ('HttpOnly', 'Secure', 'SameSite=Strict'):
            self.assertIn(a, attrs)
        self.assertTrue(cookie.startswith('qhm_device='), cookie)
        return js['id'], cookie

    def test_tls_only_with_the_recorded_certificate(self):
        # the certificate the LAN port presents is the one endpoint.json (and the Host page) names
        with socket.create_connection((LAN_ADDR, self.lan_port), timeout=5) as raw:
            with tls_ctx().wrap_socket(raw) as s:
                der = s.getpeercert(binary_form=True)
        fp = ':'.join('%02X' % b for b in hashlib.sha256(der).digest())
        self.assertEqual(fp, self.fingerprint)
        self.assertEqual(self.daemon.ok('GET', '/api/v1/host')['lan']['fingerprint'], fp)
        key = os.path.join(self.data_dir, 'tls', 'key.pem')
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        # plain HTTP on the LAN port gets no HTTP answer
        with socket.create_connection((LAN_ADDR, self.lan_port), timeout=5) as s:
            s.sendall(b'GET /api/v1/host HTTP/1.1\r\nHost: %s:%d\r\n\r\n' % (LAN_ADDR.encode(), self.lan_port))
            try:
                data = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                data = b''
        self.assertFalse(data.startswith(b'HTTP/'), data[:100])
        # and plain ws:// on the LAN WebSocket port neither
        ws_port = int(self.lan_ws.rsplit(':', 1)[1])
        with socket.create_connection((LAN_ADDR, ws_port), timeout=5) as s:
            s.sendall(b'GET /events HTTP/1.1\r\nHost: x\r\n\r\n')
            try:
                data = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                data = b''
        self.assertFalse(data.startswith(b'HTTP/1.1 101'), data[:100])
        # the loopback side stays plain HTTP for the device's own shell
        self.assertTrue(self.daemon.url.startswith('http://127.0.0.1:'))

    def test_unpaired_browser_gets_nothing(self):
        st, js, _ = self.lan('GET', '/api/v1/host')
        self.assertEqual((st, error_code(js)), (401, 'unauthorized'))
        st, js, _ = self.lan('GET', '/api/v1/host', host='evil.example:%d' % self.lan_port)
        self.assertEqual((st, error_code(js)), (403, 'forbidden_host'))
        st, _, _ = self.lan('GET', '/api/v1/host', host='tablet.local:%d' % self.lan_port)
        self.assertEqual(st, 401, 'a --lan-name is an allowed Host')
        # the static UI is served (with its own pairing page)
        st, _, _ = self.lan('GET', '/')
        self.assertIn(st, (200, 404))
        # pairing is for the LAN side only
        st, js, _ = self.api('POST', '/api/v1/pair', body={'code': '123456', 'name': 'x'})
        self.assertEqual(st, 404, js)

    def test_pair_use_and_revoke(self):
        dev, cookie = self.pair('tablet')
        st, js, _ = self.lan('GET', '/api/v1/host', headers={'Cookie': cookie})
        self.assertEqual(st, 200, js)
        self.assertEqual(js['you'], {'via': 'lan', 'device': dev})
        # a paired browser writes only from the LAN origin, with JSON
        st, js, _ = self.lan('POST', '/api/v1/vms', body={'name': 'from-lan', 'disks': []},
                             headers={'Cookie': cookie})
        self.assertEqual(st, 201, js)
        self.addCleanup(self.daemon.dispose, js['id'])
        st, js, _ = self.lan('POST', '/api/v1/vms', body={'name': 'evil', 'disks': []},
                             headers={'Cookie': cookie, 'Origin': 'https://evil.example'})
        self.assertEqual((st, error_code(js)), (403, 'forbidden_origin'))
        # only the owner pairs and revokes
        for method, path in (('POST', '/api/v1/pairing'), ('GET', '/api/v1/devices'),
                             ('DELETE', '/api/v1/devices/' + dev)):
            st, js, _ = self.lan(method, path, headers={'Cookie': cookie, 'Origin': self.lan_url})
            self.assertEqual((st, error_code(js)), (403, 'owner_only'), path)
        devices = self.daemon.ok('GET', '/api/v1/devices')['devices']
        self.assertIn(dev, [d['id'] for d in devices])
        self.assertEqual([d['name'] for d in devices if d['id'] == dev], ['tablet'])
        # the device's secret is stored hashed only
        with open(os.path.join(self.data_dir, 'secrets', 'devices.json')) as f:
            stored = f.read()
        self.assertNotIn(cookie.split('=', 1)[1].split('.', 1)[1], stored)
        # an event stream over wss:// with this device's ticket
        st, t, _ = self.lan('POST', '/api/v1/events/ticket', headers={'Cookie': cookie, 'Origin': self.lan_url})
        self.assertEqual(st, 200, t)
        self.assertTrue(t['url'].startswith('wss://%s:' % LAN_ADDR), t)
        hs = wsclient.open_ws(t['url'], origin=self.lan_url, protocols=['qemu-hmos-events'])
        self.assertEqual(hs.status, 101, hs)
        ws = hs.ws
        # revoke: the cookie fails at once and the open stream closes
        self.daemon.ok('DELETE', '/api/v1/devices/' + dev)
        st, js, _ = self.lan('GET', '/api/v1/host', headers={'Cookie': cookie})
        self.assertEqual((st, error_code(js)), (401, 'unauthorized'))
        deadline = time.time() + 5
        closed = False
        while time.time() < deadline and not closed:
            try:
                f = ws.recv_frame(timeout=1)
                closed = f is None or getattr(f, 'opcode', None) == 8
            except wsclient.Timeout:
                continue
            except (wsclient.ConnectionClosed, OSError):
                closed = True
        self.assertTrue(closed, 'the revoked device\'s event stream stayed open')
        self.assertNotIn(dev, [d['id'] for d in self.daemon.ok('GET', '/api/v1/devices')['devices']])
        st, js, _ = self.api('DELETE', '/api/v1/devices/' + dev)
        self.assertEqual(st, 404)
        # revocation survives a restart (devices.json)
        self.daemon.stop()
        self.daemon.start()
        type(self).lan_port = int(self.daemon.endpoint['lan']['url'].rsplit(':', 1)[1])
        type(self).lan_url = self.daemon.endpoint['lan']['url']
        self.assertEqual(self.daemon.endpoint['lan']['fingerprint'], self.fingerprint, 'the same certificate')
        st, js, _ = self.lan('GET', '/api/v1/host', headers={'Cookie': cookie})
        self.assertEqual(st, 401)

    def test_revoke_closes_an_open_vnc_console(self):
        vm = self.new_vm(memory_mib=128, disks=[], cdrom=MEMTEST)
        self.daemon.action(vm['id'], 'start', timeout=90)
        dev, cookie = self.pair('laptop')
        hdrs = {'Cookie': cookie, 'Origin': self.lan_url}
        st, t, _ = self.lan('POST', '/api/v1/vms/%s/console' % vm['id'], body={'protocol': 'vnc'}, headers=hdrs)
        self.assertEqual(st, 200, t)
        self.assertTrue(t['url'].startswith('wss://'), t)
        hs = wsclient.open_ws(t['url'], origin=self.lan_url, protocols=['binary'])
        self.assertEqual(hs.status, 101, hs)
        ws = hs.ws
        op, greeting = ws.recv_message(timeout=10)
        self.assertTrue(greeting.startswith(b'RFB 003.008'), greeting)
        self.daemon.ok('DELETE', '/api/v1/devices/' + dev)
        deadline = time.time() + 5
        code = None
        while time.time() < deadline and code is None:
            try:
                f = ws.recv_frame(timeout=1)
            except wsclient.Timeout:
                continue
            except (wsclient.ConnectionClosed, OSError):
                code = 'closed'
                break
            if f.opcode == 8:
                code = int.from_bytes(f.payload[:2], 'big') if len(f.payload) >= 2 else 'empty'
        self.assertEqual(code, 1008, 'the revoked device\'s console must close with 1008 (policy)')
        # the owner's own console on the loopback side is not touched
        t2 = self.daemon.ok('POST', '/api/v1/vms/%s/console' % vm['id'], body={'protocol': 'vnc'})
        hs2 = wsclient.open_ws(t2['url'], protocols=['binary'])
        self.assertEqual(hs2.status, 101)
        hs2.ws.close()

    def test_wrong_codes_are_limited(self):
        code = self.new_code()
        wrong = '%06d' % ((int(code) + 1) % 1000000)
        # 5 tries a minute from one address, then 429 even for the right code
        for i in range(5):
            st, js, _ = self.lan('POST', '/api/v1/pair', body={'code': wrong, 'name': 'x'}, source='127.0.0.5')
            self.assertEqual((st, error_code(js)), (403, 'wrong_code'), i)
        st, js, _ = self.lan('POST', '/api/v1/pair', body={'code': code, 'name': 'x'}, source='127.0.0.5')
        self.assertEqual((st, error_code(js)), (429, 'rate_limited'))
        # 10 wrong tries in all (from other addresses) kill the code
        for i in range(5):
            st, js, _ = self.lan('POST', '/api/v1/pair', body={'code': wrong, 'name': 'x'}, source='127.0.0.6')
            self.assertEqual(st, 403)
        st, js, _ = self.lan('POST', '/api/v1/pair', body={'code': code, 'name': 'x'}, source='127.0.0.7')
        self.assertEqual((st, error_code(js)), (409, 'no_pairing_code'), js)
        # bad bodies
        self.new_code()
        for body in ({'code': '12345', 'name': 'x'}, {'code': '123456'}, {'code': '123456', 'name': ''},
                     {'code': '123456', 'name': 'a\u0001b'}, {'code': 123456, 'name': 'x'}):
            st, js, _ = self.lan('POST', '/api/v1/pair', body=body, source='127.0.0.8')
            self.assertEqual(st, 400, body)

    def test_pairing_needs_lan_mode(self):
        d = Daemon()
        try:
            d.start()
            st, js, _ = d.api('POST', '/api/v1/pairing')
            self.assertEqual((st, error_code(js)), (409, 'lan_off'))
            self.assertIsNone(d.ok('GET', '/api/v1/host')['lan'])
        finally:
            d.teardown()
