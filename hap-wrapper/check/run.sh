#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# hap-wrapper/check/run.sh: what can be proven about the HarmonyOS app without a device
# or the HarmonyOS SDK. Installs its npm packages itself (npm ci, lockfile committed:
# ohos-typescript, @arkts/declarations, json5), then runs each check and prints
#   ok - NAME | not ok - NAME (with the check's output indented) | ok - NAME # SKIP why
# and a last line "hap: N passed, N failed[, N skipped]"; exit 1 when any failed.
# Every negative test works on a scratch copy under check/.out, never on the sources.
set -u
here=$(cd "$(dirname "$0")" && pwd)
hap=$(dirname "$here")
out="$here/.out"
logs="$out/logs"
ets="$hap/entry/src/main/ets"
pass=0
fail=0
skip=0
rm -rf "$out"
mkdir -p "$logs"

logfile() { echo "$logs/$(printf '%s' "$1" | tr -c 'A-Za-z0-9' '_').log"; }
ok() { echo "ok - $1"; pass=$((pass + 1)); }
notok() {
  echo "not ok - $1"
  fail=$((fail + 1))
  [ -f "$2" ] && tail -n 60 "$2" | sed 's/^/    /'
}
skipped() { echo "ok - $1 # SKIP $2"; skip=$((skip + 1)); }
finish() {
  if [ "$skip" -gt 0 ]; then
    echo "hap: $pass passed, $fail failed, $skip skipped"
  else
    echo "hap: $pass passed, $fail failed"
  fi
  [ "$fail" -eq 0 ]
  exit $?
}
# check NAME CMD...: passes when CMD exits 0
check() {
  name=$1
  shift
  log=$(logfile "$name")
  if "$@" >"$log" 2>&1; then ok "$name"; else notok "$name" "$log"; fi
}
# expect_fail NAME PATTERNS CMD...: passes when CMD fails and its output has every
# pattern (one per line in PATTERNS): a check that cannot pass vacuously.
expect_fail() {
  name=$1
  patterns=$2
  shift 2
  log=$(logfile "$name")
  if "$@" >"$log" 2>&1; then
    echo "(the command passed: the check did not catch the planted fault)" >>"$log"
    notok "$name" "$log"
    return
  fi
  missing=$(printf '%s\n' "$patterns" | while IFS= read -r p; do
    [ -n "$p" ] && ! grep -qF -- "$p" "$log" && printf '%s\n' "$p"
  done)
  if [ -z "$missing" ]; then ok "$name"; else
    printf 'not reported: %s\n' "$missing" >>"$log"
    notok "$name" "$log"
  fi
}
node_() { nice -n 10 node "$@"; }

# --- npm packages ------------------------------------------------------------------
log=$(logfile npm)
if (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
  ok "npm ci (ohos-typescript, @arkts/declarations, json5 from the lockfile)"
else
  notok "npm ci (ohos-typescript, @arkts/declarations, json5 from the lockfile)" "$log"
  finish
fi

# --- type-check ------------------------------------------------------------------
node_ "$here/gen-tsconfig.mjs" "$out/main" "$ets" >"$(logfile gen)" 2>&1
check "ArkTS sources type-check (ohos-typescript + @arkts/declarations, strict)" node_ "$here/typecheck.mjs" "$out/main"

# A scratch copy with two planted type errors: an ArkUI attribute given a string for a
# boolean, and the N-API contract given a number for dataDir.
mkdir -p "$out/neg-type"
cp -R "$ets" "$out/neg-type/src"
sed -i 's/\.javaScriptAccess(true)/.javaScriptAccess("yes")/' "$out/neg-type/src/pages/Index.ets"
sed -i 's/dataDir: dataDir,/dataDir: 5,/' "$out/neg-type/src/common/Daemon.ets"
node_ "$here/gen-tsconfig.mjs" "$out/neg-type" "$out/neg-type/src" >/dev/null 2>&1
expect_fail "type-check fails on a type error planted in a scratch copy (page and N-API call)" \
  "$(printf '%s\n' 'pages/Index.ets' 'TS2345' 'common/Daemon.ets' 'TS2322')" \
  node_ "$here/typecheck.mjs" "$out/neg-type"

# --- ArkTS rules ------------------------------------------------------------------
check "ArkTS rules lint (no any/unknown, object literal types, var, destructuring, for..in, index signatures, ...)" \
  node_ "$here/lint.mjs" "$out/main"
mkdir -p "$out/neg-lint"
cp -R "$ets" "$out/neg-lint/src"
cp "$here/fixtures/Violations.ets" "$out/neg-lint/src/common/Violations.ets"
node_ "$here/gen-tsconfig.mjs" "$out/neg-lint" "$out/neg-lint/src" >/dev/null 2>&1
rules=$(sed -n 's/.*\(arkts-[a-z-]*\).*/\1/p' "$here/fixtures/Violations.ets" | sort -u)
expect_fail "lint fails on a scratch file that breaks each rule, naming every rule" "$rules" \
  node_ "$here/lint.mjs" "$out/neg-lint"

# --- JSON5, resources, permissions ----------------------------------------------------
log=$(logfile resources)
node_ "$here/resources.mjs" "$hap" >"$log" 2>&1
rc=$?
if [ $rc -eq 0 ] || [ $rc -eq 3 ]; then
  ok "JSON5 parses; \$string/\$media/\$color/\$profile and \$r() references exist (strings in base, zh_CN, en_US); used permissions declared; the secret stays in Daemon.ets"
else
  notok "JSON5 parses; \$string/\$media/\$color/\$profile and \$r() references exist (strings in base, zh_CN, en_US); used permissions declared; the secret stays in Daemon.ets" "$log"
fi
if [ -d "$hap/entry/src/main/cpp" ]; then
  if [ $rc -eq 0 ]; then ok "the native module's CMakeLists.txt and types package exist"; else notok "the native module's CMakeLists.txt and types package exist" "$log"; fi
else
  skipped "the native module's CMakeLists.txt and types package exist" "entry/src/main/cpp is not in this tree"
fi

scratch_project() {
  rm -rf "$1"
  mkdir -p "$1/entry/src"
  cp -R "$hap/AppScope" "$1/"
  cp "$hap/build-profile.json5" "$hap/oh-package.json5" "$1/"
  cp "$hap/entry/build-profile.json5" "$hap/entry/oh-package.json5" "$1/entry/"
  mkdir -p "$1/entry/src/main"
  cp -R "$hap/entry/src/main/ets" "$hap/entry/src/main/resources" "$hap/entry/src/main/module.json5" "$1/entry/src/main/"
}
scratch_project "$out/neg-res"
node_ -e '
  const f = process.argv[1], fs = require("fs");
  const j = JSON.parse(fs.readFileSync(f, "utf8"));
  j.string = j.string.filter((s) => s.name !== "error_retry");
  fs.writeFileSync(f, JSON.stringify(j, null, 2));' "$out/neg-res/entry/src/main/resources/zh_CN/element/string.json"
expect_fail "resource check fails on a scratch copy missing a zh_CN string" \
  "$(printf '%s\n' "string 'error_retry' has no zh_CN translation")" node_ "$here/resources.mjs" "$out/neg-res"

scratch_project "$out/neg-perm"
node_ -e '
  const f = process.argv[1], fs = require("fs"), J = require(process.argv[2]);
  const m = J.parse(fs.readFileSync(f, "utf8"));
  m.module.requestPermissions = m.module.requestPermissions.filter((p) => p.name !== "ohos.permission.MICROPHONE" &&
    p.name !== "ohos.permission.KEEP_BACKGROUND_RUNNING");
  fs.writeFileSync(f, J.stringify(m, null, 2));' "$out/neg-perm/entry/src/main/module.json5" "$here/node_modules/json5"
printf '%s\n' "PersistentStorage.persistProp('qhm.t', '');" >>"$out/neg-perm/entry/src/main/ets/pages/Index.ets"
printf '%s\n' "const leak = (current as StartResult).token;" >>"$out/neg-perm/entry/src/main/ets/common/Boot.ets"
expect_fail "permission and secret checks fail on a scratch copy that does not declare what the code uses and persists state" \
  "$(printf '%s\n' 'ohos.permission.MICROPHONE is used' 'ohos.permission.KEEP_BACKGROUND_RUNNING is used' \
    'Index.ets: uses PersistentStorage' 'Boot.ets: reads a .token')" \
  node_ "$here/resources.mjs" "$out/neg-perm"

# --- the pure modules, in Node.js ------------------------------------------------------
check "console routes (common/Routes.ets) agree with the web UI's bare routes (webui/src/main.js)" node_ "$here/unit.mjs" routes
check "continuous task modes and notification text (common/Status.ets)" node_ "$here/unit.mjs" status
check "library names are taken unchanged by the daemon; staging files are swept (common/Names.ets)" node_ "$here/unit.mjs" names

finish
