#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The aarch64 counterpart of fetch-test-guest.sh, for bench/qemu.py's aarch64 run: Debian 12's arm64
# kernel (linux-image-arm64's current image package, /boot only: the bench loads no modules) and
# arm64 busybox-static, downloaded and unpacked into a cache directory -- not installed. This host's
# dpkg knows no arm64, so apt runs with private lists, cache and status in a temp dir
# (APT::Architecture=arm64): the machine's apt state and its foreign architectures stay as they are.
# Done once; later runs find the cache.
# Usage: scripts/fetch-test-guest-arm64.sh [DIR]   (default /var/cache/qemu-hmos/test-guest-arm64)
set -eu

dir=${1:-${QHM_GUEST_CACHE_ARM64:-/var/cache/qemu-hmos/test-guest-arm64}}
if [ -f "$dir/ready" ] && [ -x "$dir/root/bin/busybox" ]; then exit 0; fi

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
chmod 777 "$tmp/debs"  # apt downloads as _apt when run as root
: >"$tmp/status"
set -- -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "Dir::State::status=$tmp/status" \
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64
apt-get "$@" update -qq
kernel=$(apt-cache "$@" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kernel" ] || { echo "fetch-test-guest-arm64: no linux-image package found" >&2; exit 1; }

echo "fetch-test-guest-arm64: $kernel and busybox-static (arm64) into $dir"
(cd "$tmp/debs" && apt-get "$@" download -q "$kernel:arm64" busybox-static:arm64)
$SUDO rm -rf "$dir/root"
$SUDO mkdir -p "$dir/root"
dpkg-deb --fsys-tarfile "$tmp"/debs/linux-image-*.deb | $SUDO tar -x -C "$dir/root" ./boot
$SUDO dpkg-deb -x "$tmp"/debs/busybox-static_*.deb "$dir/root"
$SUDO touch "$dir/ready"
