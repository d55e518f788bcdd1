#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The toolchain of `make ohos`: aarch64-unknown-linux-ohos (HarmonyOS/OpenHarmony, a musl-based libc).
#
# With OHOS_NDK_HOME (the HarmonyOS/OpenHarmony NDK: llvm/bin/aarch64-unknown-linux-ohos-clang and
# its sysroot) it writes wrappers around the NDK's compiler. Without it, a stand-in made here from
# Debian 12 packages: clang-19 and lld-19 (LLVM >= 17 has the OHOS target: __OHOS__, the musl
# loader) over a sysroot of Debian's musl for arm64 and Linux's UAPI headers, both unpacked from
# Debian's arm64 .debs (apt-get download through a private apt directory: the machine's apt sources
# and architectures are not changed), GCC's crt objects and libgcc for the runtime. What differs
# from the real NDK is in scripts/ohos/README.md.
#
# Writes into DIR (default: the cache below):
#   bin/cc bin/c++ (wrappers), bin/ar bin/ranlib bin/strip bin/nm bin/readelf (LLVM's)
#   cross.ini (meson), toolchain.cmake (CMake), env.sh (CC, AR, ... for ./configure builds)
#   sysroot/ (stand-in only), resource/ (stand-in only: clang's resource dir + the builtins)
# Usage: scripts/ohos/toolchain.sh [DIR]; prints DIR.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
MIRROR=http://deb.debian.org/debian
SUITE=bookworm
MUSL_DEB=1.2.3-1
GCC_CROSS=12
LLVM=19
RECIPE=1

if [ -n "${OHOS_NDK_HOME:-}" ]; then
  key="ndk=$OHOS_NDK_HOME"
else
  key="standin recipe=$RECIPE musl=$MUSL_DEB gcc=$GCC_CROSS llvm=$LLVM $(cat "$0" $(find "$HERE/standin" -type f | sort) | sha256sum)"
fi
hash=$(printf '%s' "$key" | sha256sum | cut -c1-16)
T=${1:-${QHM_OHOS_CACHE:-/var/cache/qemu-hmos/ohos}/toolchain-$hash}
if [ -f "$T/.done" ]; then
  echo "$T"
  exit 0
fi
say() { echo "ohos-toolchain: $*" >&2; }
rm -rf "$T"
mkdir -p "$T/bin"

if [ -n "${OHOS_NDK_HOME:-}" ]; then
  LLVMBIN=$OHOS_NDK_HOME/llvm/bin
  [ -x "$LLVMBIN/aarch64-unknown-linux-ohos-clang" ] ||
    { say "no $LLVMBIN/aarch64-unknown-linux-ohos-clang (OHOS_NDK_HOME=$OHOS_NDK_HOME)"; exit 1; }
  SYSROOT=$OHOS_NDK_HOME/sysroot
  CC_LINE="\"$LLVMBIN/aarch64-unknown-linux-ohos-clang\" --sysroot=\"$SYSROOT\""
  CXX_LINE="\"$LLVMBIN/aarch64-unknown-linux-ohos-clang++\" --sysroot=\"$SYSROOT\""
  TOOL() { echo "$LLVMBIN/llvm-$1"; }
else
  for p in clang-$LLVM lld-$LLVM llvm-$LLVM; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      { say "missing package $p (scripts/install-deps.sh ohos)"; exit 1; }
  done
  SYSROOT=$T/sysroot
  RD=$T/resource
  # Debian's arm64 packages, downloaded (not installed) through a private apt directory.
  APT=$T/.apt
  mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/sources.list.d" "$APT/preferences.d" "$APT/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" >"$APT/sources.list"
  aptp() {
    "$@" -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts="$APT/sources.list.d" \
      -o Dir::Etc::PreferencesParts="$APT/preferences.d" -o Dir::State::Lists="$APT/lists" \
      -o Dir::Cache="$APT/cache" -o APT::Architecture=arm64 -o APT::Architectures=arm64 \
      -o APT::Sandbox::User=root
  }
  # musl is pinned; linux-libc-dev and libgcc-dev: Debian 12's current ones (names in versions.txt).
  say "downloading musl $MUSL_DEB, linux-libc-dev and libgcc-$GCC_CROSS-dev (arm64, Debian $SUITE)"
  aptp apt-get -qq update
  (cd "$APT/debs" && aptp apt-get -qq download "musl:arm64=$MUSL_DEB" "musl-dev:arm64=$MUSL_DEB" \
    "linux-libc-dev:arm64" "libgcc-$GCC_CROSS-dev:arm64")
  (cd "$APT/debs" && ls *.deb) >"$T/versions.txt"
  X=$T/.x
  for d in "$APT"/debs/*.deb; do dpkg-deb -x "$d" "$X"; done
  # The layout clang's OHOS driver looks for: SYSROOT/usr/include, SYSROOT/usr/lib/aarch64-linux-ohos.
  LIB=$SYSROOT/usr/lib/aarch64-linux-ohos
  mkdir -p "$SYSROOT/usr/include" "$LIB" "$SYSROOT/lib"
  cp -a "$X"/usr/include/aarch64-linux-musl/. "$SYSROOT/usr/include/"
  # Linux UAPI headers (the NDK's sysroot has them too): linux/, asm-generic/, asm/ (arm64's).
  cp -a "$X"/usr/include/linux "$X"/usr/include/asm-generic "$SYSROOT/usr/include/"
  for d in "$X"/usr/include/*; do
    case "$d" in */linux | */asm-generic | */aarch64-linux-musl | */aarch64-linux-gnu) ;; *) cp -a "$d" "$SYSROOT/usr/include/" ;; esac
  done
  cp -a "$X"/usr/include/aarch64-linux-gnu/asm "$SYSROOT/usr/include/asm"
  cp -a "$X"/usr/lib/aarch64-linux-musl/. "$LIB/"
  # musl's libc.so (musl's package has it in /lib/aarch64-linux-musl, musl-dev no link to it: without
  # it every link would take libc.a) is also its dynamic loader, /lib/ld-musl-aarch64.so.1 as on OHOS.
  cp "$X/lib/aarch64-linux-musl/libc.so" "$LIB/libc.so"
  ln -sf ../usr/lib/aarch64-linux-ohos/libc.so "$SYSROOT/lib/ld-musl-aarch64.so.1"
  # The runtime: GCC's crt objects, libgcc as compiler-rt's builtins, libgcc_eh as libunwind (C only).
  G=$X/usr/lib/gcc/aarch64-linux-gnu/$GCC_CROSS
  cp "$G"/crtbegin.o "$G"/crtbeginS.o "$G"/crtend.o "$G"/crtendS.o "$LIB/"
  cp "$G/libgcc_eh.a" "$LIB/libunwind.a"
  cp -a "/usr/lib/llvm-$LLVM/lib/clang/$LLVM/." "$RD/"
  mkdir -p "$RD/lib/aarch64-linux-ohos"
  cp "$G/libgcc.a" "$RD/lib/aarch64-linux-ohos/libclang_rt.builtins.a"
  rm -rf "$X"
  CC_LINE="clang-$LLVM --target=aarch64-linux-ohos --sysroot=\"$SYSROOT\" -resource-dir=\"$RD\" -fuse-ld=lld -Qunused-arguments"
  CXX_LINE="clang++-$LLVM --target=aarch64-linux-ohos --sysroot=\"$SYSROOT\" -resource-dir=\"$RD\" -fuse-ld=lld -Qunused-arguments"
  # The NDK's system libraries the daemon links, as stand-ins written by us (standin/): the
  # header and libchild_process.so (OH_Ability_StartNativeChildProcess by fork + dlopen).
  cp -a "$HERE/standin/include/." "$SYSROOT/usr/include/"
  sh -c "$CC_LINE -O2 -fPIC -shared -Wl,-soname,libchild_process.so -o \"$LIB/libchild_process.so\" \"$HERE/standin/child_process.c\"" ||
    { say "cannot build the libchild_process.so stand-in"; exit 1; }
  TOOL() { echo "/usr/bin/llvm-$1-$LLVM"; }
fi

printf '#!/bin/sh\nexec %s "$@"\n' "$CC_LINE" >"$T/bin/cc"
printf '#!/bin/sh\nexec %s "$@"\n' "$CXX_LINE" >"$T/bin/c++"
for t in ar ranlib strip nm readelf objcopy objdump; do
  ln -sf "$(TOOL $t)" "$T/bin/$t"
done
chmod +x "$T/bin/cc" "$T/bin/c++"

cat >"$T/cross.ini" <<EOI
# meson cross file for aarch64-unknown-linux-ohos (scripts/ohos/toolchain.sh)
[binaries]
c = '$T/bin/cc'
cpp = '$T/bin/c++'
ar = '$T/bin/ar'
ranlib = '$T/bin/ranlib'
strip = '$T/bin/strip'
nm = '$T/bin/nm'
objcopy = '$T/bin/objcopy'
pkgconfig = 'pkg-config'
exe_wrapper = ['qemu-aarch64', '-L', '$SYSROOT']

[host_machine]
system = 'linux'
cpu_family = 'aarch64'
cpu = 'aarch64'
endian = 'little'
EOI

cat >"$T/toolchain.cmake" <<EOI
# CMake toolchain file for aarch64-unknown-linux-ohos (scripts/ohos/toolchain.sh)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(OHOS 1)
set(OHOS_ARCH arm64-v8a)
set(CMAKE_C_COMPILER "$T/bin/cc")
set(CMAKE_CXX_COMPILER "$T/bin/c++")
set(CMAKE_AR "$T/bin/ar")
set(CMAKE_RANLIB "$T/bin/ranlib")
set(CMAKE_STRIP "$T/bin/strip")
set(CMAKE_SYSROOT "$SYSROOT")
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L "$SYSROOT")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
EOI

cat >"$T/env.sh" <<EOI
# For ./configure builds: . $T/env.sh
export CC="$T/bin/cc" CXX="$T/bin/c++" AR="$T/bin/ar" RANLIB="$T/bin/ranlib" STRIP="$T/bin/strip"
export NM="$T/bin/nm" OBJCOPY="$T/bin/objcopy" READELF="$T/bin/readelf"
export OHOS_SYSROOT="$SYSROOT" OHOS_TRIPLE=aarch64-unknown-linux-ohos
EOI

# It must make a program that runs (stand-in: under qemu-aarch64 with the sysroot).
printf '#include <stdio.h>\nint main(void) {\n#ifndef __OHOS__\n#error no __OHOS__\n#endif\n  puts("ohos ok");\n  return 0;\n}\n' >"$T/.probe.c"
"$T/bin/cc" -O2 -o "$T/.probe" "$T/.probe.c" || { say "the compiler cannot build a program"; exit 1; }
if [ -z "${OHOS_NDK_HOME:-}" ]; then
  out=$(qemu-aarch64 -L "$SYSROOT" "$T/.probe") || { say "the probe does not run under qemu-aarch64"; exit 1; }
  [ "$out" = "ohos ok" ] || { say "the probe printed '$out'"; exit 1; }
fi
# ... dynamically linked against libc.so (a missing libc.so would make every link static).
"$T/bin/readelf" -d "$T/.probe" | grep -q 'Shared library: \[libc.so\]' ||
  { say "the probe is not linked against libc.so"; exit 1; }
rm -f "$T/.probe" "$T/.probe.c"
touch "$T/.done"
say "ready: $T"
echo "$T"
