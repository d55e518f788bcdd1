#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The tree's shape, checked (unit suite; TAP): every `#include "x.h"` in common/, server/ and
bridge/ names a header of its own folder or of a folder layers.txt allows it; no header name
exists in two folders (flat include names must stay unambiguous); no C file is longer than 900
lines unless its opening comment says why ("longer than 900 lines"). Usage: tests/layers.py [ROOT]."""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = ('common', 'server', 'bridge')
MAX_LINES = 900
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_layers():
    allowed = {}
    with open(os.path.join(ROOT, 'layers.txt')) as f:
        for n, line in enumerate(f, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            folder, sep, rest = line.partition(':')
            if not sep:
                raise SystemExit('layers.txt:%d: no colon' % n)
            below = rest.split()
            for b in below:
                if b not in allowed:
                    raise SystemExit('layers.txt:%d: %s names %s before it is listed (lowest first)' % (n, folder, b))
            allowed[folder.strip()] = set(below)
    return allowed


def sources():
    for top in TOP:
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for fn in sorted(files):
                if fn.endswith(('.c', '.h')):
                    yield os.path.relpath(os.path.join(d, fn), ROOT)


def main():
    allowed = read_layers()
    files = list(sources())
    headers = {}
    for p in files:
        if p.endswith('.h'):
            headers.setdefault(os.path.basename(p), []).append(os.path.dirname(p))
    results = []

    bad = ['%s in %s' % (h, ', '.join(ds)) for h, ds in sorted(headers.items()) if len(ds) > 1]
    results.append(('no header name in two folders', bad))

    bad = []
    n_inc = 0
    for p in files:
        folder = os.path.dirname(p)
        if folder not in allowed:
            bad.append('%s: its folder %s is not in layers.txt' % (p, folder))
            continue
        with open(os.path.join(ROOT, p), errors='replace') as f:
            text = f.read()
        for name in INCLUDE.findall(text):
            n_inc += 1
            if '/' in name:
                bad.append('%s: #include "%s": flat names only (the folder comes from the include path)' % (p, name))
                continue
            owners = headers.get(name)
            if not owners:
                continue  # generated, or a dependency's header found through its -I
            owner = owners[0]
            if owner != folder and owner not in allowed[folder]:
                bad.append('%s (%s) includes %s of %s: not allowed by layers.txt' % (p, folder, name, owner))
    results.append(('%d #include lines of %d files follow layers.txt' % (n_inc, len(files)), bad))

    bad = []
    for p in files:
        if not p.endswith('.c'):
            continue
        with open(os.path.join(ROOT, p), errors='replace') as f:
            lines = f.read().split('\n')
        if len(lines) > MAX_LINES and 'longer than 900 lines' not in '\n'.join(lines[:40]).lower():
            bad.append('%s: %d lines, and its opening comment does not say why' % (p, len(lines)))
    results.append(('no C file over %d lines without a reason' % MAX_LINES, bad))

    print('1..%d' % len(results))
    for i, (what, problems) in enumerate(results, 1):
        print('%s %d - %s' % ('not ok' if problems else 'ok', i, what))
        for x in problems:
            print('#   ' + x)
    return 1 if any(p for _, p in results) else 0


if __name__ == '__main__':
    sys.exit(main())
