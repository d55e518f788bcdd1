#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `make ohos`: the native libraries of the HarmonyOS app, cross-built for aarch64-unknown-linux-ohos
# (scripts/ohos/README.md), laid out as the HAP wants them:
#
#   build-ohos/libs/arm64-v8a/*.so    what hap-wrapper/entry/libs/arm64-v8a/ ships
#   build-ohos/manifest.json          per file: size, SONAME, DT_NEEDED, SHA-256
#   build-ohos/qemu-manifest.json     the QEMU libraries for the daemon's --qemu (paths relative
#                                     to it), with build-ohos/share/qemu (SeaBIOS, keymaps)
#   build-ohos/meson/                 the cross build of this tree (meson)
#   build-ohos/test/                  for tests/ohos: the test loader
#
# The toolchain (OHOS_NDK_HOME's, or the stand-in) and the dependencies are cached under
# $QHM_OHOS_CACHE (default /var/cache/qemu-hmos/ohos), by a hash of the scripts that make them.
# Usage: scripts/ohos/build.sh [OUT_DIR]   (default build-ohos)
#        scripts/ohos/build.sh --start
#   the same in the background (nice 19; log and exit status in $CACHE/.work/), so that `make
#   check` runs other suites meanwhile (a fresh machine builds the dependencies and QEMU: about
#   an hour). One build at a time (an flock): a later run waits for it, then finds it cached.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${QHM_OHOS_CACHE:-/var/cache/qemu-hmos/ohos}
export QHM_OHOS_CACHE=$CACHE
say() { echo "ohos: $*"; }
mkdir -p "$CACHE/.work"
LOCK=$CACHE/.work/lock
case "${1:-}" in
--start)
  exec 9>"$LOCK"
  flock -n 9 || { say "a build is already running (log $CACHE/.work/build.log)"; exit 0; }
  say "building in the background (nice 19; log $CACHE/.work/build.log)"
  # The child inherits fd 9 and with it the lock, until it ends.
  (
    rc=0
    QHM_OHOS_BUILD_LOCKED=1 nice -n 19 sh "$0" >"$CACHE/.work/build.log" 2>&1 || rc=$?
    echo $rc >"$CACHE/.work/build.rc"
  ) </dev/null &
  exit 0
  ;;
esac
OUT=${1:-$ROOT/build-ohos}
if [ -z "${QHM_OHOS_BUILD_LOCKED:-}" ]; then
  exec 9>"$LOCK"
  flock -n 9 || { say "waiting for the build in the background (log $CACHE/.work/build.log)"; flock 9; }
fi

T=$(sh "$HERE/toolchain.sh")
# One prefix per toolchain; deps.sh rebuilds a library when its recipe changes (its stamps).
P=$CACHE/deps-${T##*/toolchain-}
t0=$(date +%s)
sh "$HERE/deps.sh" "$T" "$P"
t1=$(date +%s)
# QEMU 10 for the target: qemu-build/build.sh --ohos (cached by its inputs and the stamps of the
# libraries it links).
mkdir -p "$OUT"
sh "$ROOT/qemu-build/build.sh" --ohos "$T" "$P" >"$OUT/qemu-build.log" 2>&1 ||
  { tail -40 "$OUT/qemu-build.log"; exit 1; }
Q=$(sh "$ROOT/qemu-build/build.sh" --ohos "$T" "$P" --print-dir)
tq=$(date +%s)

# ---- this tree, cross-built ----------------------------------------------------------------
B=$OUT/meson
export PKG_CONFIG_LIBDIR="$P/lib/pkgconfig" PKG_CONFIG_PATH=""
# A new setup whenever the options below change (their text is kept beside the build).
setup_key=$(sed -n '/^  meson setup/,/^fi$/p' "$0" | cat - "$T/cross.ini" | sha256sum | cut -c1-16)
if [ ! -f "$B/build.ninja" ] || [ "$(cat "$B/.qhm-setup" 2>/dev/null)" != "$setup_key" ]; then
  rm -rf "$B"
  # prefer_static: the dependencies are static archives (pkg-config --static: GnuTLS's nettle);
  # --exclude-libs: the dependencies' symbols are not exported (only qhm_* is), so --gc-sections
  # leaves out what the library does not use of them (libuv's uv_spawn: no exec imported).
  meson setup "$B" "$ROOT" --cross-file "$T/cross.ini" --buildtype=release -Db_ndebug=false -Dprefer_static=true \
    -Dc_link_args=-Wl,--gc-sections,--exclude-libs,libuv.a:libjansson.a:libsqlite3.a:libmicrohttpd.a:libgnutls.a:libnettle.a:libhogweed.a:libz.a:libfreerdp2.a:libfreerdp-client2.a:libwinpr2.a:libpng16.a:libjpeg.a:libwebp.a \
    >"$OUT/meson-setup.log" 2>&1 || { tail -30 "$OUT/meson-setup.log"; exit 1; }
  echo "$setup_key" >"$B/.qhm-setup"
fi
ninja -C "$B" >"$OUT/ninja.log" 2>&1 || { tail -30 "$OUT/ninja.log"; exit 1; }
t2=$(date +%s)

# ---- the HAP's own native build: hap-wrapper/entry/src/main/cpp/CMakeLists.txt (the N-API module)
# With the stand-in, the NDK's Node-API and HiLog headers and link stubs come from ndk-stubs/
# (README there); with OHOS_NDK_HOME, from its sysroot. -z defs: every symbol resolves at link time.
H=$OUT/hap-cmake
hap_c_flags="-I$P/include" # (<uv.h>: the NDK has it; here the deps' libuv)
hap_ld_flags="-Wl,-z,defs"
if [ -z "${OHOS_NDK_HOME:-}" ]; then
  NS=$OUT/ndk-stubs
  rm -rf "$NS"
  mkdir -p "$NS/lib"
  cp -R "$HERE/ndk-stubs/include" "$NS/"
  for h in node_api.h node_api_types.h js_native_api.h js_native_api_types.h; do
    cp "/usr/include/node/$h" "$NS/include/" || { say "Node.js's $h is missing (Debian's nodejs)"; exit 1; }
  done
  for lib in libace_napi.z libhilog_ndk.z; do
    grep -v '^#' "$HERE/ndk-stubs/$lib.symbols" | sed 's/.*/void &(void) {}/' >"$NS/$lib.c"
    "$T/bin/cc" -O2 -fPIC -shared -Wl,-soname,"$lib.so" -o "$NS/lib/$lib.so" "$NS/$lib.c"
  done
  hap_c_flags="-I$NS/include $hap_c_flags"
  hap_ld_flags="-L$NS/lib $hap_ld_flags"
fi
rm -rf "$H"
cmake -S "$ROOT/hap-wrapper/entry/src/main/cpp" -B "$H" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$T/toolchain.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DQHM_OHOS_LIBDIR="$B" -DCMAKE_C_FLAGS="$hap_c_flags" \
  -DCMAKE_SHARED_LINKER_FLAGS="$hap_ld_flags" >"$OUT/hap-cmake.log" 2>&1 &&
  ninja -C "$H" >>"$OUT/hap-cmake.log" 2>&1 || { tail -30 "$OUT/hap-cmake.log"; exit 1; }

# The test loader (tests/ohos/loader.c): the daemon library started the way the N-API module does.
mkdir -p "$OUT/test"
"$T/bin/cc" -O2 -Wall -I"$ROOT/server/include" -o "$OUT/test/qhm-ohos-loader" "$ROOT/tests/ohos/loader.c" \
  -L"$B" -lqemu-hmos -Wl,-rpath-link,"$P/lib"

# ---- the app's libs/ -------------------------------------------------------------------------
L=$OUT/libs/arm64-v8a
rm -rf "$L"
mkdir -p "$L"
# meson's install (into a staging directory) drops the build's RUNPATHs: the app loads by name.
rm -rf "$OUT/stage"
meson install -C "$B" --destdir "$OUT/stage" --no-rebuild --quiet >"$OUT/stage.log" 2>&1 ||
  { tail -20 "$OUT/stage.log"; exit 1; }
SL=$(dirname "$(find "$OUT/stage" -name libqemu-hmos.so | head -n 1)")
cp "$SL/libqemu-hmos.so" "$SL/libqemu_child.so" "$L/"
# The N-API module ArkTS imports (`import qhm from 'libqemu_hmos.so'`), from the HAP's CMakeLists.txt.
cp "$H/libqemu_hmos.so" "$L/"
# The RDP worker (bridge/rdp-ws/worker; FreeRDP 2 and WinPR in it), started as a child process.
[ -f "$SL/libqemu-hmos-rdp.so" ] || { say "libqemu-hmos-rdp.so was not built (see $OUT/meson-setup.log)"; exit 1; }
cp "$SL/libqemu-hmos-rdp.so" "$L/"
# The libraries the daemon loads on first use (unversioned SONAMEs: deps.sh).
for f in libcrypto.so libssl.so libwebsockets.so libcurl.so; do
  cp -L "$P/lib/$f" "$L/$f"
done
# QEMU: libqemu-system-{aarch64,x86_64}.so (JIT), the same with -tci (the interpreter), qemu-img.
cp "$Q"/tcg/*.so "$Q"/tci/*.so "$Q/libqemu-img.so" "$L/"
"$T/bin/strip" --strip-unneeded "$L"/*.so
rm -rf "$OUT/share"
mkdir -p "$OUT/share"
cp -a "$Q/share/qemu" "$OUT/share/qemu"
# Firmware the app carries as resources (Debian's builds; the same for any host): iPXE's ROMs
# for the NICs (QEMU loads efi-NIC.rom for a PCI NIC's boot ROM), UEFI for aarch64 (AAVMF: two
# 64 MiB flash images, mostly padding, which the HAP's zip compresses to ~2 MB) and x86_64 (OVMF,
# plain and with Microsoft's keys).
cp /usr/lib/ipxe/qemu/efi-*.rom "$OUT/share/qemu/" || { say "iPXE's ROMs are missing (ipxe-qemu)"; exit 1; }
mkdir -p "$OUT/share/AAVMF" "$OUT/share/OVMF"
cp -L --sparse=always /usr/share/AAVMF/AAVMF_CODE.fd /usr/share/AAVMF/AAVMF_VARS.fd "$OUT/share/AAVMF/" ||
  { say "AAVMF is missing (qemu-efi-aarch64)"; exit 1; }
for f in OVMF_CODE_4M.fd OVMF_CODE_4M.ms.fd OVMF_VARS_4M.fd OVMF_VARS_4M.ms.fd; do
  cp -L /usr/share/OVMF/$f "$OUT/share/OVMF/" || { say "OVMF is missing (ovmf)"; exit 1; }
done
python3 - "$Q/manifest.json" "$OUT/qemu-manifest.json" <<'EOF'
import json, os, sys
m = json.load(open(sys.argv[1]))
lib = lambda p: "libs/arm64-v8a/" + os.path.basename(p)
for v in m["variants"].values():
    v["libraries"] = {a: lib(p) for a, p in v["libraries"].items()}
m["qemu_img"]["library"] = lib(m["qemu_img"]["library"])
m["L"] = ["share/qemu"]
m["uefi_dirs"] = {"aarch64": "share/AAVMF", "x86_64": "share/OVMF"}
m["dir"] = "."
m.pop("sizes", None)
json.dump(m, open(sys.argv[2], "w"), indent=2, sort_keys=True)
EOF
python3 "$HERE/manifest.py" "$T/bin/readelf" "$L" "$OUT/manifest.json" \
  "{\"toolchain\": \"$(basename "$T")\", \"ndk\": \"${OHOS_NDK_HOME:-}\", \"deps\": \"$P\", \"seconds\": {\"deps\": $((t1 - t0)), \"qemu\": $((tq - t1)), \"tree\": $((t2 - tq))}}"
say "$(ls "$L" | wc -l) libraries in $L (manifest $OUT/manifest.json)"
