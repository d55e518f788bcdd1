#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every libFuzzer target for FUZZ_SECONDS (default 30) on its committed corpus and end with
# one line: `fuzz: N passed, N failed` (tests/run_all.py counts it; `make fuzz` runs it alone).
#
# Installs the fuzz packages, sets up and builds build-fuzz (CC=clang, -Dfuzzing=true), then
# runs each fuzz_NAME target its build graph has (tests/meson.build lists them; no list here)
# with tests/fuzz/corpus/NAME as a read-only seed directory. libFuzzer writes new inputs
# to its FIRST corpus directory, so that one is a scratch directory: the committed corpus never
# changes (checked after each run). Crash inputs go to a scratch artifact directory and are
# printed with xxd, so CI output shows the failing bytes; to keep one, commit it to the corpus.
#
# Usage: scripts/run-fuzz.sh [NAME...]   (NAME as in fuzz_NAME; default: every target)
# Environment: FUZZ_SECONDS (per target, default 30), FUZZ_BUILD (default build-fuzz).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${FUZZ_BUILD:-build-fuzz}
SECS=${FUZZ_SECONDS:-30}
# libFuzzer's own per-input limit (default 1200 s) would outlast the whole run: a hang is a failure.
INPUT_TIMEOUT=${FUZZ_INPUT_TIMEOUT:-25}

passed=0
failed=0
summary() {
  echo "fuzz: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/qhm-fuzz.XXXXXX") || { failed=1; summary; }
keep_tmp=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { [ "$keep_tmp" -eq 1 ] || rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The build's own output only when it fails: make check's log stays readable.
if ! scripts/install-deps.sh fuzz >"$TMP/deps.log" 2>&1; then
  echo "fuzz: installing the fuzz packages failed:"
  tail -n 30 "$TMP/deps.log"
  failed=1
  summary
fi
if [ ! -f "$BUILD/build.ninja" ] &&
  ! CC=clang meson setup "$BUILD" -Dfuzzing=true >"$TMP/setup.log" 2>&1; then
  echo "fuzz: meson setup $BUILD failed:"
  tail -n 30 "$TMP/setup.log"
  failed=1
  summary
fi
# The targets are the fuzz_* executables the build graph has (tests/meson.build lists them), so
# a removed one's stale binary is not run. Only they are built: a half-edited file elsewhere in
# the tree does not stop the fuzzing (the main build reports it).
ninja -C "$BUILD" build.ninja >"$TMP/build.log" 2>&1 # regenerate after a meson.build change
targets=$(ninja -C "$BUILD" -t targets all 2>/dev/null | sed -n 's/^\(tests\/fuzz_[A-Za-z0-9_]*\): .*/\1/p' |
  LC_ALL=C sort -u)
if [ $# -gt 0 ]; then
  want=""
  for n in "$@"; do
    if printf '%s\n' "$targets" | grep -qx "tests/fuzz_$n"; then
      want="$want tests/fuzz_$n"
    else
      echo "fuzz $n: FAILED (no target fuzz_$n in $BUILD)"
      failed=$((failed + 1))
    fi
  done
  targets=$want
fi
if [ -z "$targets" ]; then
  [ $# -gt 0 ] || { echo "fuzz: no fuzz_* targets in $BUILD (configured with -Dfuzzing=true?)"; failed=1; }
  summary
fi
# shellcheck disable=SC2086 # target names have no spaces
if ! ninja -C "$BUILD" $targets >>"$TMP/build.log" 2>&1; then
  echo "fuzz: building the fuzz targets in $BUILD failed:"
  tail -n 40 "$TMP/build.log"
  failed=$((failed + 1))
  summary
fi

# A stable fingerprint of a corpus directory (names, sizes, contents).
corpus_sum() {
  [ -d "$1" ] || return 0
  (cd "$1" && find . -type f | LC_ALL=C sort | xargs -r cksum)
}

# Print at most 4 KiB of a failing input as hex; the full file stays where its path says.
show_input() {
  size=$(wc -c <"$1")
  echo "  input $(basename "$1") ($size bytes):"
  if command -v xxd >/dev/null 2>&1; then
    xxd -l 4096 "$1" | sed 's/^/    /'
  else
    od -A x -t x1z -N 4096 "$1" | sed 's/^/    /'
  fi
  [ "$size" -le 4096 ] || echo "    ... (first 4096 of $size bytes)"
}

for t in $targets; do
  exe="$BUILD/$t"
  name=${t#tests/fuzz_}
  corpus="tests/fuzz/corpus/$name"
  scratch="$TMP/$name/new"
  art="$TMP/$name/artifacts"
  log="$TMP/$name/log"
  mkdir -p "$scratch" "$art"
  seeds=""
  if [ -d "$corpus" ]; then
    seeds=$corpus
  else
    echo "fuzz $name: note: no committed corpus $corpus, starting empty"
  fi
  before=$(corpus_sum "$corpus")
  # UBSan reports are only printed unless halt_on_error: make them fail the target like ASan's.
  # The outer timeout is a backstop should the binary itself hang outside an input.
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    timeout -k 10 $((SECS + INPUT_TIMEOUT + 120)) "$exe" -max_total_time="$SECS" -max_len=65536 \
    -timeout="$INPUT_TIMEOUT" -print_final_stats=1 -artifact_prefix="$art/" \
    "$scratch" ${seeds:+"$seeds"} >"$log" 2>&1
  rc=$?
  after=$(corpus_sum "$corpus")
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  new=$(find "$scratch" -type f | wc -l)
  if [ "$rc" -eq 0 ] && [ "$before" = "$after" ]; then
    echo "fuzz $name: ok (${execs:-?} execs, $new new inputs not kept)"
    passed=$((passed + 1))
    continue
  fi
  failed=$((failed + 1))
  keep_tmp=1
  if [ "$before" != "$after" ]; then
    echo "fuzz $name: FAILED (the committed corpus $corpus was changed)"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "fuzz $name: FAILED (still running after $((SECS + INPUT_TIMEOUT + 120)) s, killed)"
  else
    echo "fuzz $name: FAILED (exit status $rc after ${execs:-?} execs)"
  fi
  # The sanitizer's or libFuzzer's report: from its first line, else the log's end.
  start=$(grep -n -m 1 -E '^==[0-9]+==|runtime error:|^ALARM:|^SUMMARY:' "$log" | cut -d: -f1)
  if [ -n "$start" ]; then
    sed -n "${start},\$p" "$log" | head -n 80 | sed 's/^/  /'
  else
    tail -n 40 "$log" | sed 's/^/  /'
  fi
  for f in "$art"/*; do
    [ -f "$f" ] || continue
    show_input "$f"
    echo "  reproduce: $exe $f"
  done
  echo "  (log and artifacts kept in $TMP/$name)"
done

summary
