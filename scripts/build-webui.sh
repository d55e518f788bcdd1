#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the web UI into webui/dist (and install the end-to-end tests' npm
# packages). `npm ci` runs in webui/ and tests/e2e/ only when node_modules is
# missing or package-lock.json changed since the last install (its sha256 is
# kept in node_modules/.qhm-lock.sha256); `npm run build` always runs (~1 s).
# Installs Debian's nodejs and npm first if there is no npm at all.
# Usage: scripts/build-webui.sh [--no-e2e]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
e2e=1
[ "${1:-}" = "--no-e2e" ] && e2e=0

if ! command -v npm >/dev/null 2>&1; then
  echo "build-webui: installing Debian's nodejs and npm"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
      echo "build-webui: run as root or install nodejs and npm" >&2; exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi

# npm_ci DIR: install DIR's locked packages unless they are already in place.
npm_ci() {
  dir=$1
  stamp="$dir/node_modules/.qhm-lock.sha256"
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -d "$dir/node_modules" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "build-webui: npm ci in ${dir#"$root"/}"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

npm_ci "$root/webui"
[ "$e2e" = 1 ] && npm_ci "$root/tests/e2e"
(cd "$root/webui" && npm run --silent build)
