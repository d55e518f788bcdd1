#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The N-API module's suite: loads BUILD_DIR/qemu_hmos.node (meson builds it when Node's node_api.h
# is installed) in Node.js and runs tests/hap/napi.test.mjs. Its stdout is the test lines and the
# summary `napi: N passed, N failed` (tests/run_all.py counts it); the daemon's log goes to a file,
# shown when something failed.
# Usage: tests/hap/run.sh BUILD_DIR
set -u
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: tests/hap/run.sh BUILD_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
addon=$(cd "$1" && pwd)/qemu_hmos.node
if [ ! -f "$addon" ]; then
  echo "not ok - the addon is built: $addon is missing (meson builds it when /usr/include/node/node_api.h exists: Node.js with its headers)"
  echo "napi: 0 passed, 1 failed"
  exit 1
fi
log=$(mktemp /tmp/qhm-napi-log.XXXXXX)
# Guests under TCG, as in the other suites (tests/run_all.py explains why).
[ "${QHM_TEST_KVM:-}" = 1 ] || export QHM_NO_KVM=1
node "$here/napi.test.mjs" "$addon" 2>"$log"
rc=$?
if [ $rc -ne 0 ]; then
  echo "--- the daemon's log (last 80 lines) ---"
  tail -n 80 "$log"
fi
rm -f "$log"
exit $rc
