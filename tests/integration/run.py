#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the qemu-hmos integration tests against a real daemon and real QEMU.

    /usr/bin/python3 tests/integration/run.py [--daemon PATH] [-k SUBSTRING] [--module NAME...] [--keep]

Discovers tests/integration/test_*.py, runs every test class (each class
that needs isolation starts its own daemon with its own data dir in
setUpClass), prints `ok - NAME` or `not ok - NAME` (details indented below,
with the daemon's stderr tail on failure) and ends with
`integration: N passed, N failed`. Exit status 1 if anything failed.
"""

import argparse
import importlib
import inspect
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def indent(text, prefix='    '):
    return '\n'.join(prefix + line for line in text.rstrip('\n').splitlines())


def needs_build(cls, name):
    return bool(getattr(cls, 'needs_qemu_build', False) or getattr(cls.__dict__[name], 'needs_qemu_build', False))


def discover(k, modules=None, qemu_build='any'):
    """[(class, [method names])] in file order, then definition order; MODULES: only those
    (test_NAME, without .py); QEMU_BUILD: 'without' leaves out the tests marked
    harness.needs_qemu_build, 'only' keeps only them."""
    sys.path.insert(0, HERE)
    plan = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith('test_') and fn.endswith('.py')):
            continue
        if modules and fn[:-3] not in modules:
            continue
        mod = importlib.import_module(fn[:-3])
        classes = [c for _, c in inspect.getmembers(mod, inspect.isclass)
                   if issubclass(c, unittest.TestCase) and c.__module__ == mod.__name__]
        classes.sort(key=lambda c: inspect.getsourcelines(c)[1])
        for cls in classes:
            names = [n for n, f in cls.__dict__.items() if n.startswith('test') and callable(f)]
            names.sort(key=lambda n: cls.__dict__[n].__code__.co_firstlineno)
            names = [n for n in names if not k or k in '%s.%s.%s' % (mod.__name__, cls.__name__, n)]
            if qemu_build != 'any':
                names = [n for n in names if needs_build(cls, n) == (qemu_build == 'only')]
            if names:
                plan.append((cls, names))
    return plan


def diagnostics(cls):
    d = getattr(cls, 'diagnostics', None)
    if not d:
        return ''
    try:
        return d()
    except Exception as e:  # noqa: BLE001
        return 'diagnostics failed: %s' % e


sys.dont_write_bytecode = True


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument('--daemon', default=os.path.join(REPO, 'build', 'qemu-hmos'),
                    help='daemon binary (default build/qemu-hmos)')
    ap.add_argument('-k', default='', help='run only tests whose module.Class.test_name contains this')
    ap.add_argument('--module', action='append', default=[],
                    help='run only this module (test_NAME; may be repeated)')
    ap.add_argument('--keep', action='store_true', help='keep the data directories')
    ap.add_argument('--name', default='integration', help='the summary line\'s name (another suite\'s run)')
    ap.add_argument('--qemu-build', choices=('any', 'without', 'only'), default='any',
                    help='the tests that run our QEMU 10 build (harness.needs_qemu_build): '
                         'with the others (any), left out (without) or alone (only)')
    args = ap.parse_args()
    for m in args.module:
        if not os.path.exists(os.path.join(HERE, m + '.py')):
            ap.error('no module %s in %s' % (m, HERE))

    os.environ['QHM_DAEMON'] = os.path.abspath(args.daemon)
    if args.keep:
        os.environ['QHM_KEEP'] = '1'
    work = tempfile.mkdtemp(prefix='qhm-it-work-')
    os.chmod(work, 0o755)  # QEMU and the RDP worker run as an unprivileged user under a root daemon
    os.environ['QHM_WORK'] = work

    passed = failed = 0
    t0 = time.time()
    try:
        plan = discover(args.k, args.module, args.qemu_build)
        for cls, names in plan:
            cname = '%s.%s' % (cls.__module__, cls.__name__)
            os.environ['QHM_CURRENT_TEST'] = cname  # names the test in a sanitizer report
            try:
                cls.setUpClass()
            except Exception:  # noqa: BLE001
                tb = traceback.format_exc()
                for n in names:
                    print('not ok - %s.%s' % (cname, n))
                    print(indent('setUpClass failed:\n' + tb))
                    failed += 1
                sys.stdout.flush()
                try:
                    cls.tearDownClass()
                except Exception:  # noqa: BLE001
                    pass
                continue
            for n in names:
                t = time.time()
                os.environ['QHM_CURRENT_TEST'] = '%s.%s' % (cname, n)
                result = unittest.TestResult()
                cls(n).run(result)
                problems = result.failures + result.errors + [
                    (x, 'unexpected success') for x in result.unexpectedSuccesses]
                name = '%s.%s' % (cname, n)
                dt = time.time() - t
                if problems:
                    failed += 1
                    print('not ok - %s (%.1f s)' % (name, dt))
                    for _, tb in problems:
                        print(indent(tb))
                    diag = diagnostics(cls)
                    if diag:
                        print(indent(diag))
                else:
                    passed += 1
                    skip = ''
                    if result.skipped:
                        skip = ' # SKIP ' + '; '.join(r for _, r in result.skipped)
                    print('ok - %s (%.1f s)%s' % (name, dt, skip))
                sys.stdout.flush()
            try:
                cls.tearDownClass()
            except Exception:  # noqa: BLE001
                failed += 1
                print('not ok - %s.tearDownClass' % cname)
                print(indent(traceback.format_exc()))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print('# total %.1f s' % (time.time() - t0))
    print('%s: %d passed, %d failed' % (args.name, passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
