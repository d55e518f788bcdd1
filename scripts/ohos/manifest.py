#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""build-ohos/manifest.json: every library of the app's libs/ with its size, SHA-256, SONAME and
DT_NEEDED (read with the toolchain's readelf). Usage: manifest.py READELF LIBDIR OUT [EXTRA_JSON]"""
import hashlib
import json
import os
import re
import subprocess
import sys


def dynamic(readelf, path):
    out = subprocess.run([readelf, '-d', path], check=True, capture_output=True, text=True).stdout
    soname = re.findall(r'\(SONAME\)\s+Library soname: \[(.*?)\]', out)
    needed = re.findall(r'\(NEEDED\)\s+Shared library: \[(.*?)\]', out)
    return (soname[0] if soname else None), needed


def main():
    readelf, libdir, out = sys.argv[1:4]
    extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    files = {}
    for name in sorted(os.listdir(libdir)):
        path = os.path.join(libdir, name)
        with open(path, 'rb') as f:
            data = f.read()
        soname, needed = dynamic(readelf, path)
        files[name] = {'size': len(data), 'sha256': hashlib.sha256(data).hexdigest(), 'soname': soname,
                       'needed': needed}
    m = dict(extra)
    m['target'] = 'aarch64-unknown-linux-ohos'
    m['libdir'] = os.path.abspath(libdir)
    m['files'] = files
    m['total_size'] = sum(f['size'] for f in files.values())
    with open(out + '.tmp', 'w') as f:
        json.dump(m, f, indent=1, sort_keys=True)
    os.replace(out + '.tmp', out)


if __name__ == '__main__':
    main()
