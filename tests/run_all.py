#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run every test suite and end with one line: `N passed, N failed`.

Unit tests: the cmocka programs meson knows (their TAP output is counted per
test case). Integration tests: tests/integration/run.py against the real
daemon and real QEMU, without the tests of our QEMU 10 build. Last, "qemu10": those tests, and
the guest-booting modules again with our QEMU 10, once qemu-build/build.sh is done (make check
starts it in the background when its cache is missing; skipped when it never ran). End-to-end tests: tests/e2e/run.mjs (Node, Debian
Chromium through playwright-core) against the daemon serving webui/dist, each
browser test counted on its own; scripts/build-webui.sh must have run first
(`make check` does that). Fuzzing: scripts/run-fuzz.sh builds build-fuzz and runs
every libFuzzer target for FUZZ_SECONDS (30) on its committed corpus, each
target counted on its own. N-API: tests/hap/run.sh loads the HarmonyOS shell's Node-API
module, built as a Node.js addon (BUILD/qemu_hmos.node), in Node.js and runs
tests/hap/napi.test.mjs (two daemons, one after the other, in one process). Sanitizers:
tests/asan/run.py sets up and builds build-asan (ASan, LSan, UBSan) and runs part of the
integration suite against that daemon; any sanitizer report in a daemon's stderr is a failure.
HarmonyOS cross build ("ohos"): tests/ohos/run.py runs `make ohos`'s script (cached) and checks
its libraries without a device (ELF checks; the daemon library run under qemu-aarch64).
"""
import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every failing test's line, said again just before the last line: a long run's log is often
# seen by its tail only.
FAILURES = []
FAILURE_LINE = re.compile(r"^(?:\w+ )?not ok\b|^fuzz \S+: FAILED")
# In a failure's details: the exception that ended the test ("AssertionError: ...").
WHY_LINE = re.compile(r"^\s*(?:#\s*)?(?:\w+\.)*\w*(?:Error|Exception|Failure)\b:? ")


def run_unit(build):
    out = subprocess.run(["meson", "introspect", "--tests", build], check=True, capture_output=True, text=True)
    passed = failed = 0
    for t in json.loads(out.stdout):
        env = dict(os.environ)
        env.update(t.get("env") or {})
        env["CMOCKA_MESSAGE_OUTPUT"] = "TAP"
        p = subprocess.run(t["cmd"], cwd=t.get("workdir") or ROOT, env=env, capture_output=True, text=True,
                           timeout=600)
        n_ok = len(re.findall(r"^ok \d+", p.stdout, re.M))
        n_bad = len(re.findall(r"^not ok \d+", p.stdout, re.M))
        if p.returncode != 0 and n_bad == 0:
            n_bad = 1  # crashed or failed outside a test case
        print(f"unit {t['name']}: {n_ok} passed, {n_bad} failed")
        if n_bad:
            FAILURES.append(f"unit {t['name']}: {n_bad} failed")
            sys.stdout.write(p.stdout[-4000:] + p.stderr[-4000:])
        passed += n_ok
        failed += n_bad
    return passed, failed


def run_suite(name, cmd):
    """Run a suite runner that ends with `NAME: N passed, N failed`; pass its other output through."""
    try:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    except OSError as e:
        print(f"{name}: cannot run {cmd[0]} ({e})")
        FAILURES.append(f"{name}: cannot run {cmd[0]} ({e})")
        return 0, 1
    passed = failed = None
    why_for = None  # the index in FAILURES of the failure whose details follow, until its reason is seen
    for line in p.stdout:
        m = re.match(rf"^{name}: (\d+) passed, (\d+) failed(?:, \d+ skipped)?$", line.strip())
        if m:
            passed, failed = int(m.group(1)), int(m.group(2))
        else:
            sys.stdout.write(line)
            sys.stdout.flush()
            if FAILURE_LINE.search(line):
                FAILURES.append(f"{name}: {line.strip()}")
                why_for = len(FAILURES) - 1
            elif why_for is not None and WHY_LINE.match(line):
                FAILURES[why_for] += "\n#     " + line.strip()[:300]
                why_for = None
            elif re.match(r"^(?:\w+ )?ok - ", line):
                why_for = None
    rc = p.wait()
    if passed is None:
        print(f"{name} runner ended (status {rc}) without a summary")
        FAILURES.append(f"{name}: the runner ended (status {rc}) without a summary")
        return 0, 1
    print(f"{name}: {passed} passed, {failed} failed")
    return passed, failed


def run_integration(build):
    # Without the tests of our QEMU 10 build: run_qemu10 runs them once the build is there.
    return run_suite("integration", [sys.executable, os.path.join(ROOT, "tests", "integration", "run.py"),
                                     "--daemon", os.path.join(build, "qemu-hmos"), "--qemu-build", "without"])


# The modules that boot real guests of every kind (SeaBIOS, memtest86+, GRUB, UEFI + Secure Boot +
# swtpm TPM, the Linux guest with 9p shares, the agent and a kernel boot, forwards, snapshots with
# memory, disks) again with our QEMU 10 by exec (`--qemu built`): the command lines the daemon builds
# must work with both QEMUs.
QEMU10_MODULES = ("test_boot", "test_firmware", "test_shares", "test_agent", "test_states", "test_disks",
                  "test_snapshots")


def run_qemu10(build):
    """Our QEMU 10 (qemu-build/): the integration tests marked needs_qemu_build (the libraries, the
    child launcher, a snapshot taken on 7.2 restored on 10), then QEMU10_MODULES with `--qemu
    built`. Last: make check starts the build in the background when it is missing (a fresh
    machine), and the other suites run meanwhile; this waits for it (build.sh --wait)."""
    w = subprocess.run(["sh", os.path.join(ROOT, "qemu-build", "build.sh"), "--wait"])
    if w.returncode == 2:
        print("qemu10: skipped: no QEMU build (make qemu builds it; make check does unless QEMU_BUILD=no)")
        return 0, 0
    if w.returncode != 0:
        print("not ok - qemu10: the QEMU build failed (above)")
        FAILURES.append("qemu10: the QEMU build failed")
        return 0, 1
    run_py = [sys.executable, os.path.join(ROOT, "tests", "integration", "run.py"), "--name", "qemu10",
              "--daemon", os.path.join(build, "qemu-hmos")]
    p1, f1 = run_suite("qemu10", run_py + ["--qemu-build", "only"])
    cmd = run_py + ["--qemu-build", "without"]
    for m in QEMU10_MODULES:
        cmd += ["--module", m]
    before = os.environ.get("QHM_DAEMON_ARGS")
    os.environ["QHM_DAEMON_ARGS"] = ((before or "") + " --qemu built").strip()
    try:
        p2, f2 = run_suite("qemu10", cmd)
    finally:
        if before is None:
            del os.environ["QHM_DAEMON_ARGS"]
        else:
            os.environ["QHM_DAEMON_ARGS"] = before
    return p1 + p2, f1 + f2


def run_e2e(build):
    # webui/dist and tests/e2e/node_modules come from scripts/build-webui.sh (make check runs it).
    return run_suite("e2e", ["node", os.path.join(ROOT, "tests", "e2e", "run.mjs"), "--daemon",
                             os.path.join(build, "qemu-hmos"), "--ui", os.path.join(ROOT, "webui", "dist")])


def run_napi(build):
    # The HarmonyOS shell's N-API module as a Node.js addon (BUILD/qemu_hmos.node).
    return run_suite("napi", ["sh", os.path.join(ROOT, "tests", "hap", "run.sh"), build])


def run_hap():
    # hap-wrapper/: the ArkTS sources type-checked and linted, the JSON5 files and their resources
    # (hap-wrapper/check/run.sh installs its npm packages itself).
    return run_suite("hap", ["sh", os.path.join(ROOT, "hap-wrapper", "check", "run.sh")])


def run_ohos():
    # The HarmonyOS cross build (scripts/ohos/build.sh, cached) and what runs of it here: its ELF
    # checks and the daemon library under qemu-aarch64 (tests/ohos/run.py).
    return run_suite("ohos", [sys.executable, os.path.join(ROOT, "tests", "ohos", "run.py")])


def run_fuzz():
    # Its own build (build-fuzz, clang + sanitizers), not --build's.
    return run_suite("fuzz", ["sh", os.path.join(ROOT, "scripts", "run-fuzz.sh")])


def run_install(build):
    # meson install into a scratch root and the Debian package (tests/install/run.py).
    return run_suite("install", [sys.executable, os.path.join(ROOT, "tests", "install", "run.py"), "--build", build])


def run_asan():
    # Its own build (build-asan: -Db_sanitize=address,undefined), not --build's.
    return run_suite("asan", [sys.executable, os.path.join(ROOT, "tests", "asan", "run.py")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--unit-only", action="store_true")
    ap.add_argument("--no-e2e", action="store_true", help="skip the browser tests")
    ap.add_argument("--no-napi", action="store_true", help="skip the HarmonyOS app's checks (N-API module, ArkTS)")
    ap.add_argument("--no-fuzz", action="store_true", help="skip the fuzz targets")
    ap.add_argument("--no-asan", action="store_true", help="skip the sanitizer build's integration tests")
    ap.add_argument("--no-ohos", action="store_true", help="skip the HarmonyOS cross build's checks")
    ap.add_argument("--no-install", action="store_true", help="skip the install and package checks")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    # Guests run under TCG in the tests unless QHM_TEST_KVM=1: the target machines have no KVM,
    # and where a sandbox does expose /dev/kvm it may be nested KVM, where real-mode guests crawl
    # (measured here: memtest86+'s BIOS loader had not finished after 280 s, against ~10 s under
    # TCG). test_host still checks the daemon's own KVM probe and the reason it reports.
    if os.environ.get("QHM_TEST_KVM") != "1":
        os.environ["QHM_NO_KVM"] = "1"
        print("tests: guests under TCG (QHM_NO_KVM=1; QHM_TEST_KVM=1 lets them use KVM)")
    p1, f1 = run_unit(build)
    p2, f2 = (0, 0) if a.unit_only else run_integration(build)
    p3, f3 = (0, 0) if a.unit_only or a.no_e2e else run_e2e(build)
    p6, f6 = (0, 0) if a.unit_only or a.no_napi else run_napi(build)
    p4, f4 = (0, 0) if a.unit_only or a.no_fuzz else run_fuzz()
    p5, f5 = (0, 0) if a.unit_only or a.no_asan else run_asan()
    p7, f7 = (0, 0) if a.unit_only or a.no_napi else run_hap()
    p8, f8 = (0, 0) if a.unit_only or a.no_ohos else run_ohos()
    p9, f9 = (0, 0) if a.unit_only or a.no_install else run_install(build)
    # Last: it may wait for the QEMU build make check started in the background.
    p2b, f2b = (0, 0) if a.unit_only else run_qemu10(build)
    passed = p1 + p2 + p2b + p3 + p4 + p5 + p6 + p7 + p8 + p9
    failed = f1 + f2 + f2b + f3 + f4 + f5 + f6 + f7 + f8 + f9
    if FAILURES:
        print("# what failed:")
        for f in FAILURES:
            print("#   " + f)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
