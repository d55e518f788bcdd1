#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The asan suite (tests/run_all.py runs it; --no-asan skips it): part of the integration suite
against a daemon built with AddressSanitizer, LeakSanitizer and UBSan, ending with
`asan: N passed, N failed`.

Sets up build-asan (meson -Db_sanitize=address,undefined -Db_lundef=false) when it has no
build.ninja and builds the daemon only: the RDP worker (qemu-hmos-rdp) is left out, since none
of MODULES opens an RDP session and FreeRDP's own leaks would be noise. Then runs
tests/integration/run.py --module M... against build-asan/qemu-hmos with
  ASAN_OPTIONS  detect_leaks=1:abort_on_error=1:halt_on_error=1
  LSAN_OPTIONS  suppressions=tests/asan/lsan.supp (known leaks that are not the daemon's)
  UBSAN_OPTIONS print_stacktrace=1:halt_on_error=1
  QHM_SANITIZER_LOG  the harness appends there every daemon stderr (DATA/daemon.stderr) that holds
                     "ERROR: AddressSanitizer", "ERROR: LeakSanitizer" or "runtime error:", and
                     gives a stopped daemon 60 s, not 5, to exit so that LeakSanitizer reports.
First the embedded library under the same options: tests/unit/test_daemon_restart.c (50
starts and stops in one process) and tests/unit/test_daemon_events.c (the embedder's event,
summary and log hooks) count as one test each. Each test counts as in the integration suite; each sanitizer report is one more failure, printed
with the test that was running when its daemon stopped. Environment: ASAN_BUILD (default
build-asan). Usage: tests/asan/run.py [test_MODULE...] (default: MODULES).

MODULES reach every endpoint family in little time (~4 min on 2 cores): access and tokens, LAN
pairing and TLS, VM CRUD and bad input, disks, snapshots, clone, the VNC and events WebSockets,
downloads, the crash campaign (kill points, restart on the same data), VM states and port
forwards, shared folders, reattach and orphans, host probe, privilege drop, disk full, the guest
agent, boot and firmware. Left out: test_rdp and test_rdp_channels (the RDP worker is not built
here), test_matrix (every arch: slow) and test_harness (tests the harness, not the daemon).
"""
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = ['test_access', 'test_lan', 'test_crud', 'test_bad_input', 'test_disks', 'test_snapshots',
           'test_clone', 'test_console', 'test_downloads', 'test_crash_campaign', 'test_states', 'test_shares',
           'test_reattach', 'test_host', 'test_privilege', 'test_diskfull', 'test_agent', 'test_boot',
           'test_firmware', 'test_serial', 'test_perf']
REPORT_START = re.compile(r'^==\d+==ERROR: |runtime error:')


def summary(passed, failed):
    print('asan: %d passed, %d failed' % (passed, failed))
    sys.stdout.flush()
    return 1 if failed else 0


def step(cmd, what, log):
    """Run CMD with its output in LOG; on failure print its tail and return False."""
    with open(log, 'wb') as f:
        rc = subprocess.call(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if rc != 0:
        with open(log, 'rb') as f:
            tail = f.read().decode(errors='replace').splitlines()[-30:]
        print('asan: %s failed (status %d):' % (what, rc))
        print('\n'.join('  ' + x for x in tail))
    return rc == 0


def reports(path):
    """[(header, report lines)] from the harness's QHM_SANITIZER_LOG."""
    out = []
    try:
        with open(path, 'rb') as f:
            text = f.read().decode(errors='replace')
    except OSError:
        return out
    for chunk in text.split('===== sanitizer report: ')[1:]:
        head, _, body = chunk.partition('\n')
        lines = body.splitlines()
        start = next((i for i, x in enumerate(lines) if REPORT_START.search(x)), 0)
        out.append((head.rstrip(' ='), lines[max(0, start - 1):start + 80]))
    return out


def main():
    build = os.path.join(ROOT, os.environ.get('ASAN_BUILD', 'build-asan'))
    tmp = tempfile.mkdtemp(prefix='qhm-asan-')
    t0 = time.time()
    if not os.path.exists(os.path.join(build, 'build.ninja')) and not step(
            ['meson', 'setup', build, '-Db_sanitize=address,undefined', '-Db_lundef=false'],
            'meson setup ' + build, os.path.join(tmp, 'setup.log')):
        return summary(0, 1)
    if not step(['ninja', '-C', build, 'qemu-hmos', 'tests/test_daemon_restart', 'tests/test_daemon_events'],
                'building %s/qemu-hmos' % build,
                os.path.join(tmp, 'build.log')):
        return summary(0, 1)
    log = os.path.join(tmp, 'sanitizer.log')
    env = dict(os.environ)
    env.update({'ASAN_OPTIONS': 'detect_leaks=1:abort_on_error=1:halt_on_error=1',
                'LSAN_OPTIONS': 'suppressions=%s:print_suppressions=0' % os.path.join(ROOT, 'tests', 'asan', 'lsan.supp'),
                'UBSAN_OPTIONS': 'print_stacktrace=1:halt_on_error=1',
                'QHM_SANITIZER_LOG': log})
    lib_ok = embedded(build, env, tmp, 'test_daemon_restart',
                      'the daemon library started and stopped 50 times in one process')
    lib_ok += embedded(build, env, tmp, 'test_daemon_events', "the daemon library's embedder hooks")
    # Not the tests of our QEMU 10 build (the qemu10 suite's, after the build make check may still be
    # running in the background): the sanitizers watch the daemon, the same code with either QEMU.
    cmd = [sys.executable, os.path.join(ROOT, 'tests', 'integration', 'run.py'), '--daemon',
           os.path.join(build, 'qemu-hmos'), '--qemu-build', 'without']
    modules = sys.argv[1:] or MODULES
    for m in modules:
        cmd += ['--module', m]
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    passed = failed = None
    for line in p.stdout:
        m = re.match(r'^integration: (\d+) passed, (\d+) failed$', line.strip())
        if m:
            passed, failed = int(m.group(1)), int(m.group(2))
        else:
            sys.stdout.write('asan ' + line if line.startswith(('ok', 'not ok', '# total')) else line)
            sys.stdout.flush()
    rc = p.wait()
    if passed is None:
        print('asan: the integration runner ended (status %d) without a summary' % rc)
        passed, failed = 0, 1
    found = reports(log)
    for head, lines in found:
        print('not ok - asan: sanitizer report from %s' % head)
        print('\n'.join('    ' + x for x in lines))
    if found:
        print('asan: %d sanitizer report(s); all daemon output kept in %s' % (len(found), log))
    else:
        subprocess.call(['rm', '-rf', tmp])
    print('# asan total %.1f s (modules: %s)' % (time.time() - t0, ' '.join(modules)))
    return summary(passed + lib_ok, failed + len(found) + (2 - lib_ok))


def embedded(build, env, tmp, test, what):
    """A cmocka program of the embedded library (tests/unit/TEST.c: test_daemon_restart, 50 starts
    and stops in one process; test_daemon_events) under the sanitizers: 1 when it passed with no
    report, else 0."""
    log = os.path.join(tmp, test + '.log')
    with open(log, 'wb') as f:
        rc = subprocess.call([os.path.join(build, 'tests', test)], cwd=ROOT, env=env,
                             stdout=f, stderr=subprocess.STDOUT)
    with open(log, 'rb') as f:
        text = f.read().decode(errors='replace')
    bad = rc != 0 or any(REPORT_START.search(x) for x in text.splitlines())
    print('%s - asan: %s' % ('not ok' if bad else 'ok', what))
    if bad:
        print('\n'.join('    ' + x for x in text.splitlines()[-60:]))
    sys.stdout.flush()
    return 0 if bad else 1


if __name__ == '__main__':
    sys.exit(main())
