#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The install suite (tests/run_all.py runs it): qemu-hmos installed as a user would get it.

1. `meson install --destdir` of the build (--build): the daemon, the RDP worker, the web UI, the
   OS catalog and the systemd user unit in their places under the prefix; the installed daemon,
   started without --ui-dir (QHM_SHARE_DIR pointing into the scratch root, as the prefix there
   is not the real one), serves the UI and the catalog; `systemd-analyze verify` takes the unit.
2. The Debian package: `dpkg-buildpackage -b` in a copy of the tree (debian/; the UI already
   built), its file list and Depends (`dpkg-deb`), unpacked into a scratch root (`dpkg -x`), and
   that daemon serving its UI the same way.
Prints `ok - NAME` / `not ok - NAME` (details indented) and ends with
`install: N passed, N failed`. Loopback only; every daemon started is stopped.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from harness import Daemon  # noqa: E402  (starts a daemon, waits for its endpoint.json, talks to it)
RESULTS = []


def check(name, fn):
    t = time.time()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (each check is reported, the suite goes on)
        RESULTS.append(False)
        print('not ok - %s (%.1f s)' % (name, time.time() - t))
        for line in str(e).splitlines()[-40:]:
            print('    ' + line)
    else:
        RESULTS.append(True)
        print('ok - %s (%.1f s)' % (name, time.time() - t))
    sys.stdout.flush()


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError('%s: status %d\n%s%s' % (' '.join(cmd), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


def files_under(root):
    out = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            out.add('/' + os.path.relpath(os.path.join(d, f), root))
    return out


def serves_ui(daemon, share_dir, work):
    """Start DAEMON (no --ui-dir) with QHM_SHARE_DIR=SHARE_DIR (the integration harness's Daemon):
    GET / is the UI's index.html and GET /api/v1/catalog the installed catalog."""
    d = Daemon(data_dir=os.path.join(work, 'data'), binary=daemon, allow_paths=(),
               env={'QHM_SHARE_DIR': share_dir, 'QHM_CATALOG': None})
    os.makedirs(d.data_dir, mode=0o711)
    try:
        d.start(timeout=20)
        st, body, _ = d.api('GET', '/')
        with open(os.path.join(share_dir, 'ui', 'index.html'), 'rb') as f:
            want = f.read()
        if st != 200 or body != want:
            raise AssertionError('GET / -> %d, not the installed UI: %r' % (st, body[:200]))
        cat = d.ok('GET', '/api/v1/catalog')
        if not cat.get('entries'):
            raise AssertionError('GET /api/v1/catalog: %r' % cat)
    finally:
        d.stop()


def meson_install(build, work):
    dest = os.path.join(work, 'root')
    run(['meson', 'install', '-C', build, '--destdir', dest, '--quiet'])
    prefix = json.loads(run(['meson', 'introspect', '--buildoptions', build]))
    prefix = next(o['value'] for o in prefix if o['name'] == 'prefix')
    root = dest + prefix
    have = files_under(dest)
    want = {prefix + '/bin/qemu-hmos', prefix + '/bin/qemu-hmos-rdp', prefix + '/share/qemu-hmos/catalog.json',
            prefix + '/share/qemu-hmos/ui/index.html', prefix + '/share/qemu-hmos/ui/app.js',
            prefix + '/lib/systemd/user/qemu-hmos.service', prefix + '/share/bash-completion/completions/qemu-hmos'}
    missing = want - have
    if missing:
        raise AssertionError('not installed: %s\ninstalled: %s' % (sorted(missing), sorted(have)[:60]))
    unit = open(root + '/lib/systemd/user/qemu-hmos.service').read()
    if 'ExecStart=%s/bin/qemu-hmos serve' % prefix not in unit or 'KillMode=process' not in unit:
        raise AssertionError('the unit:\n' + unit)
    if shutil.which('systemd-analyze'):
        # A copy whose ExecStart names the scratch root's daemon (verify checks that it exists);
        # verify's complaints go to stderr with status 0, so any output about the unit fails.
        vdir = os.path.join(work, 'unit')
        os.makedirs(vdir)
        with open(os.path.join(vdir, 'qemu-hmos.service'), 'w') as f:
            f.write(unit.replace('ExecStart=%s/bin/' % prefix, 'ExecStart=%s/bin/' % root))
        p = subprocess.run(['systemd-analyze', 'verify', os.path.join(vdir, 'qemu-hmos.service')],
                           capture_output=True, text=True)
        said = [x for x in (p.stdout + p.stderr).splitlines() if 'qemu-hmos.service' in x]
        if p.returncode != 0 or said:
            raise AssertionError('systemd-analyze verify: status %d\n%s' % (p.returncode, p.stdout + p.stderr))
    serves_ui(root + '/bin/qemu-hmos', root + '/share/qemu-hmos', work)


def debian_package(work):
    src = os.path.join(work, 'src', 'qemu-hmos')
    os.makedirs(src)
    # The tree as it is (tracked and new files, not ignored ones), and the built UI.
    names = run(['git', 'ls-files', '-z', '-co', '--exclude-standard'], cwd=ROOT).split('\0')
    for n in filter(None, names):
        s = os.path.join(ROOT, n)
        if not os.path.lexists(s) or n.startswith(('webui/node_modules/', 'tests/e2e/node_modules/')):
            continue
        d = os.path.join(src, n)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(s, d, follow_symlinks=False)
    if not os.path.isfile(os.path.join(ROOT, 'webui', 'dist', 'index.html')):
        raise AssertionError('webui/dist is not built (scripts/build-webui.sh)')
    shutil.copytree(os.path.join(ROOT, 'webui', 'dist'), os.path.join(src, 'webui', 'dist'))
    out = run(['dpkg-buildpackage', '-b', '-us', '-uc'], cwd=src,
              env=dict(os.environ, DEB_BUILD_OPTIONS='nocheck parallel=%d' % (os.cpu_count() or 2)))
    debs = glob.glob(os.path.join(work, 'src', 'qemu-hmos_*.deb'))
    if len(debs) != 1:
        raise AssertionError('no single .deb: %r\n%s' % (debs, out[-2000:]))
    deb = debs[0]
    contents = run(['dpkg-deb', '-c', deb])
    paths = {line.split()[-1].lstrip('.') for line in contents.splitlines() if not line.startswith('d')}
    want = {'/usr/bin/qemu-hmos', '/usr/bin/qemu-hmos-rdp', '/usr/share/qemu-hmos/catalog.json',
            '/usr/share/qemu-hmos/ui/index.html', '/usr/lib/systemd/user/qemu-hmos.service',
            '/usr/share/doc/qemu-hmos/copyright', '/usr/share/bash-completion/completions/qemu-hmos'}
    if want - paths:
        raise AssertionError('missing from the package: %s\n%s' % (sorted(want - paths), contents[:3000]))
    extra = [p for p in paths if p.startswith('/usr/include') or 'libqemu' in p or p.endswith('qemu-hmos-child')]
    if extra:
        raise AssertionError('in the package but not meant to be: %s' % extra)
    depends = run(['dpkg-deb', '--field', deb, 'Depends'])
    for dep in ('libwebsockets17', 'libcurl4', 'libssl3', 'qemu-system-x86', 'libmicrohttpd12', 'libjansson4'):
        if dep not in depends:
            raise AssertionError('Depends lacks %s: %s' % (dep, depends))
    root = os.path.join(work, 'deb-root')
    run(['dpkg', '-x', deb, root])
    serves_ui(root + '/usr/bin/qemu-hmos', root + '/usr/share/qemu-hmos', work)
    print('# %s: %d bytes, %d files' % (os.path.basename(deb), os.path.getsize(deb), len(paths)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--no-deb', action='store_true', help='skip the Debian package')
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix='qhm-install-')
    os.chmod(work, 0o755)  # a daemon run as root checks that the VMs' user can reach its data
    try:
        w1 = os.path.join(work, 'meson')
        os.makedirs(w1)
        check('install: meson install puts the daemon, worker, UI, catalog and user unit in place; the installed '
              'daemon serves its UI without --ui-dir', lambda: meson_install(os.path.abspath(a.build), w1))
        if not a.no_deb:
            w2 = os.path.join(work, 'deb')
            os.makedirs(w2)
            check('install: the Debian package (dpkg-buildpackage) has the files and Depends; unpacked, its daemon '
                  'serves its UI', lambda: debian_package(w2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(RESULTS)
    print('install: %d passed, %d failed' % (passed, len(RESULTS) - passed))
    return 0 if all(RESULTS) else 1


if __name__ == '__main__':
    sys.exit(main())
