#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The Linux guest of the shared-folder and guest-agent tests, from Debian packages: Debian 12's
# kernel (linux-image-amd64's current image package: vmlinuz and its modules, 9p among them),
# busybox-static, qemu-guest-agent and ALSA's aplay with its library and configuration (the sound
# test), downloaded and unpacked into a cache directory -- not installed, so the
# machine's own packages and /boot stay as they are. Done once; later runs find the cache.
# Usage: scripts/fetch-test-guest.sh [DIR]   (default /var/cache/qemu-hmos/test-guest)
set -eu

dir=${1:-${QHM_GUEST_CACHE:-/var/cache/qemu-hmos/test-guest}}
if [ -f "$dir/ready" ] && [ -x "$dir/root/usr/sbin/qemu-ga" ] && [ -x "$dir/root/usr/bin/aplay" ]; then exit 0; fi

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
kernel=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$kernel" ]; then
  $SUDO apt-get update -qq
  kernel=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$kernel" ] || { echo "fetch-test-guest: no linux-image package found" >&2; exit 1; }

pkgs="$kernel busybox-static qemu-guest-agent alsa-utils libasound2 libasound2-data"
echo "fetch-test-guest: $pkgs into $dir"
$SUDO mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
# shellcheck disable=SC2086 # pkgs: a list
(cd "$tmp" && apt-get download -q $pkgs 2>/dev/null ||
  (cd "$tmp" && $SUDO apt-get update -qq && apt-get download -q $pkgs))
$SUDO rm -rf "$dir/root"
$SUDO mkdir -p "$dir/root"
for deb in "$tmp"/*.deb; do $SUDO dpkg-deb -x "$deb" "$dir/root"; done
$SUDO touch "$dir/ready"
