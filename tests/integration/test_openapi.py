# SPDX-License-Identifier: GPL-2.0-or-later
"""docs/openapi.yaml, the REST contract (issue 19): a valid OpenAPI 3.1 document; a checker
(openapi.py, run on every exchange of Daemon.api()) that does catch a wrong answer or request,
shown on real answers of a real daemon, mutated; and a live daemon that serves exactly the
documented methods of every documented path (each other method answered 405).

The other direction — a route in the daemon's table that the document lacks, or a documented
operation the table lacks — is tests/unit/test_routes.c's (it links the table itself)."""

import copy
import json
import unittest

import openapi
from harness import Daemon

JSON = {'content-type': 'application/json'}


class DocumentTest(unittest.TestCase):
    def test_is_openapi_31(self):
        try:
            problems = openapi.document_problems()
        except FileNotFoundError as e:
            self.fail('%s: run scripts/build-webui.sh (npm ci in webui/ brings the OpenAPI 3.1 schema)' % e)
        self.assertEqual(problems, [], '\n'.join(problems))

    def test_operations_written_as_the_unit_test_reads_them(self):
        """tests/unit/test_routes.c reads the operations line by line ("  /PATH:", "    METHOD:"):
        the same set as the YAML's."""
        lines, path, seen = open(openapi.DOC_PATH, encoding='utf-8').read().split('\n'), None, set()
        in_paths = False
        for line in lines:
            if line and not line.startswith((' ', '#')):
                in_paths = line == 'paths:'
            elif in_paths and line.startswith('  /') and line.endswith(':'):
                path = line[2:-1]
            elif in_paths and path and line.strip(' :') in openapi.METHODS and line == '    %s:' % line.strip(' :'):
                seen.add((line.strip(' :').upper(), openapi.PREFIX + path))
        self.assertEqual(seen, set(openapi.operations()))

    def test_a_broken_document_is_refused(self):
        doc = copy.deepcopy(openapi.contract().doc)
        del doc['info']['title']
        doc['paths']['/host']['get']['responses']['200']['content']['application/json']['schema'] = {
            'type': 'objekt'}
        doc['paths']['/vms']['get']['responses']['200']['content']['application/json']['schema'] = {
            '$ref': '#/components/schemas/NoSuchThing'}
        doc['paths']['/catalog']['fetch'] = {'responses': {}}
        problems = '\n'.join(openapi.document_problems(doc))
        self.assertIn('title', problems)
        self.assertIn('objekt', problems)
        self.assertIn('NoSuchThing', problems)
        self.assertIn('fetch', problems)


class CheckerTest(unittest.TestCase):
    """Real answers, then the same answers made wrong: each wrong one is caught, by path."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.teardown()

    def v(self, method, target, status, body, req=None):
        return openapi.violations(method, target, JSON if req is not None else {},
                                  json.dumps(req).encode() if req is not None else None,
                                  status, JSON, json.dumps(body).encode() if not isinstance(body, bytes) else body)

    def test_real_answers_pass_and_mutated_ones_fail(self):
        d = self.d
        vm = d.ok('POST', '/api/v1/vms', {'name': 'contract', 'memory_mib': 128, 'disks': []}, expect=201)
        path = '/api/v1/vms/' + vm['id']
        self.assertEqual(self.v('GET', path, 200, vm), [])
        host = d.host_info()
        self.assertEqual(self.v('GET', '/api/v1/host', 200, host), [])

        bad = dict(vm, state='flying')
        self.assertIn('$.state', '\n'.join(self.v('GET', path, 200, bad)))
        bad = dict(vm)
        del bad['memory_mib']
        self.assertIn("'memory_mib' is a required property", '\n'.join(self.v('GET', path, 200, bad)))
        bad = dict(vm, smuggled=1)
        self.assertIn('smuggled', '\n'.join(self.v('GET', path, 200, bad)))
        bad = copy.deepcopy(host)
        bad['limits']['max_disks'] = '4'
        self.assertIn('$.limits.max_disks', '\n'.join(self.v('GET', '/api/v1/host', 200, bad)))
        bad = copy.deepcopy(vm)
        bad['network']['forwards'] = [{'proto': 'sctp', 'host_port': 0, 'guest_port': 22}]
        self.assertIn('$.network.forwards[0].proto', '\n'.join(self.v('GET', path, 200, bad)))
        # an error answer: its shape and its code
        st, err, h = d.api('GET', '/api/v1/vms/0123456789abcdef')
        self.assertEqual(st, 404)
        self.assertEqual(self.v('GET', '/api/v1/vms/0123456789abcdef', 404, err), [])
        self.assertIn('$.error.code', '\n'.join(self.v('GET', path, 404, {'error': {'code': 'nope', 'message': 'x'}})))
        # a known code, but not one this status documents
        self.assertIn('$.error.code', '\n'.join(self.v('GET', path, 404, {'error': {'code': 'invalid_field',
                                                                                  'message': 'x'}})))
        # a status the operation does not document, a content type it does not document
        self.assertIn('status 418 is not documented', '\n'.join(self.v('GET', path, 418, err)))
        self.assertIn('Content-Type', '\n'.join(openapi.violations(
            'GET', path, {}, None, 200, {'content-type': 'text/html'}, json.dumps(vm).encode())))
        # not JSON at all
        self.assertIn('not valid application/json', '\n'.join(self.v('GET', path, 200, b'{"id": ')))

    def test_accepted_requests_must_conform(self):
        vm = self.d.ok('POST', '/api/v1/vms', {'name': 'contract-req', 'memory_mib': 128, 'disks': []}, expect=201)
        # what the daemon accepted, were it accepted with a wrong body or query: caught
        self.assertIn('$.cpus', '\n'.join(self.v('POST', '/api/v1/vms', 201, vm, req={'name': 'a', 'cpus': 0})))
        self.assertIn('colour', '\n'.join(self.v('POST', '/api/v1/vms', 201, vm, req={'name': 'a', 'colour': 'red'})))
        got = '\n'.join(self.v('POST', '/api/v1/vms?dry_run=maybe&x=1', 201, vm, req={'name': 'a'}))
        self.assertIn("dry_run='maybe'", got)
        self.assertIn("'x' is not documented", got)
        got = '\n'.join(openapi.violations('GET', '/api/v1/vms/%s/log?tail=0' % vm['id'], {}, None, 200,
                                           {'content-type': 'text/plain; charset=utf-8'}, b''))
        self.assertIn('tail', got)
        # a refused request needs only a documented answer
        self.assertEqual(self.v('POST', '/api/v1/vms', 400, {'error': {'code': 'invalid_field', 'message': 'cpus: …'}},
                                req={'name': 'a', 'cpus': 0}), [])

    def test_undocumented_paths_and_methods_must_be_refused(self):
        err = {'error': {'code': 'not_found', 'message': 'no such resource'}}
        self.assertIn('not in the document', '\n'.join(self.v('GET', '/api/v1/vms/x/explode', 200, {})))
        self.assertEqual(self.v('GET', '/api/v1/vms/x/explode', 404, err), [])
        self.assertIn('PUT', '\n'.join(self.v('PUT', '/api/v1/vms', 200, {})))
        self.assertEqual(self.v('PUT', '/api/v1/vms', 405, dict(err, error={'code': 'method_not_allowed',
                                                                          'message': 'PUT …'})), [])


class ServedEqualsDocumentedTest(unittest.TestCase):
    """Every method of every documented path, asked of a live daemon: a documented one is routed
    (never 405, nor the router's 404 "no such resource"), any other is 405. The ids name nothing,
    so that no request changes anything (the handlers answer their own 404; a write's empty body
    its 400). api() checks each answer against the document as well."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.teardown()

    def test_each_method_of_each_path(self):
        fill = {'{id}': '0123456789abcdef', '{n}': '0', '{name}': 'nosuchsnapshot'}
        documented = {}
        for method, template in openapi.operations():
            documented.setdefault(template, set()).add(method)
        self.assertGreaterEqual(len(documented), 30)
        wrong = []
        for template, methods in sorted(documented.items()):
            if template == '/api/v1/pair':
                continue  # the LAN listener's alone (test_lan); on loopback every method is 404 or 405
            path = template
            for k, v in fill.items():
                path = path.replace(k, v)
            for method in ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'):
                st, js, _ = self.d.api(method, path)
                if method not in methods:
                    if st != 405:
                        wrong.append('%s %s (undocumented): %d %r' % (method, path, st, js))
                elif st == 405 or (st == 404 and isinstance(js, dict)
                                   and js.get('error', {}).get('message') == 'no such resource'):
                    wrong.append('%s %s (documented): %d %r' % (method, path, st, js))
        self.assertEqual(wrong, [], '\n'.join(wrong))


if __name__ == '__main__':
    unittest.main()
