#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install the Debian 12 packages qemu-hmos needs, only those missing.
# Usage: scripts/install-deps.sh [build|run|test|bench|fuzz|qemu|ohos]...
set -eu

build="meson ninja-build pkg-config gcc libc6-dev python3 libmicrohttpd-dev libjansson-dev libsqlite3-dev
       libuv1-dev libcmocka-dev libwebsockets-dev libwebsockets-evlib-uv
       freerdp2-dev libpng-dev libjpeg62-turbo-dev libwebp-dev libcurl4-openssl-dev libssl-dev libgnutls28-dev libexpat1-dev"
run="qemu-system-x86 qemu-system-arm qemu-utils qemu-efi-aarch64 ovmf swtpm xorriso"
# python3-jsonschema, python3-yaml: the integration tests check every exchange against docs/openapi.yaml.
# debootstrap, grub-pc-bin, fdisk, e2fsprogs: the Debian desktop test guest (scripts/build-debian-guest.sh).
test="memtest86+ grub-rescue-pc xorriso curl procps chromium fonts-dejavu-core python3-jsonschema python3-yaml
      freerdp2-shadow-x11 libfreerdp-server2-2 openssl xvfb x11-apps x11-xserver-utils xdotool xterm nginx
      debhelper dpkg-dev libvirt-clients shellcheck dash
      debootstrap grub-pc-bin fdisk e2fsprogs"
# libvirt (its QEMU driver, run unprivileged by bench/soak.py as a peer) without libvirt-daemon-system,
# whose services would start and claim /run/libvirt on the machine.
bench="wrk nginx websockify aria2 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"
fuzz="clang libclang-rt-14-dev"
# Building QEMU 10 from Debian 13's source as shared libraries (qemu-build/build.sh); its firmware
# comes from the run set's packages (seabios, ovmf, qemu-efi-aarch64, ipxe-qemu).
qemu="gcc libc6-dev ninja-build pkg-config python3 python3-venv dpkg-dev xz-utils
      libglib2.0-dev libpixman-1-dev libslirp-dev libfdt-dev libseccomp-dev libzstd-dev libpng-dev
      libjpeg62-turbo-dev libgnutls28-dev libasound2-dev libpulse-dev libspice-protocol-dev
      gcc-multilib ccache
      seabios ipxe-qemu ovmf qemu-efi-aarch64"
# The HarmonyOS cross build (scripts/ohos/: make ohos): the stand-in toolchain (clang/lld 19 with
# the OHOS target; musl and Linux headers for arm64 come as .debs the script unpacks), what the
# dependencies' builds run (cmake, tclsh for sqlite's amalgamation, autotools where Debian's patches
# change configure.ac), what QEMU's build runs (python3-venv for its configure, ccache shared by its
# two variants), qemu-user to run the result; the firmware the app carries (UEFI for both guest
# arches, iPXE's NIC ROMs: architecture-independent, Debian's builds) and Node.js's Node-API
# headers (the N-API module with the stand-in).
ohos="clang-19 lld-19 llvm-19 qemu-user cmake tcl8.6 ninja-build meson pkg-config dpkg-dev xz-utils bzip2 gcc make perl
      autoconf automake libtool autopoint gettext python3 python3-venv ccache
      qemu-efi-aarch64 ovmf ipxe-qemu nodejs"

want=""
for set in "$@"; do
  case "$set" in
  build) want="$want $build" ;;
  run) want="$want $build $run" ;;
  test) want="$want $build $run $test" ;;
  bench) want="$want $build $run $test $bench" ;;
  fuzz) want="$want $build $fuzz" ;;
  qemu) want="$want $qemu" ;;
  ohos) want="$want $ohos" ;;
  *) echo "install-deps: unknown set '$set'" >&2; exit 2 ;;
  esac
done

# As root the daemon runs QEMU, swtpm and the RDP worker as this unprivileged user (server/launch/priv.h),
# as libvirt runs QEMU as libvirt-qemu. In group kvm (when there is one) for /dev/kvm.
# Run as yourself, the daemon needs no such user. Again after the packages (they bring group kvm).
vm_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  if ! getent passwd qemu-hmos >/dev/null; then
    echo "install-deps: creating the system user qemu-hmos"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin qemu-hmos
  fi
  if getent group kvm >/dev/null && ! id -nG qemu-hmos | tr ' ' '\n' | grep -qx kvm; then
    usermod -aG kvm qemu-hmos
  fi
}
vm_user

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: run as root or install:$missing" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
vm_user
