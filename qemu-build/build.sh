#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build QEMU 10 from Debian 13's source package as shared libraries for qemu-hmos:
# libqemu-system-{x86_64,i386,aarch64}.so in two variants (tcg: the JIT; tci: the TCG
# interpreter, for hosts that grant no executable memory) and libqemu-img.so, each with an
# exported entry (qhm_qemu_main / qhm_qemu_img_main, patches/0001). The result is cached in
# $QHM_QEMU_CACHE/<hash>/ (default /var/cache/qemu-hmos/qemu-build), hash = sha256 of the source
# version, our patches and the options below; with the same inputs a second run only prints the
# path. Debian 13's source and meson come through a private apt directory under the cache; the
# machine's /etc/apt is never changed. Needs root (or sudo) for the Debian 12 build dependencies.
# Usage: qemu-build/build.sh [--print-dir | --start | --wait]
#   --print-dir: print the would-be path, build nothing; --start: build in the background when
#   missing (make check); --wait: wait for a background build, exit 0 when the result is there.
# Or:    qemu-build/build.sh --ohos TOOLCHAIN_DIR PREFIX_DIR [--print-dir | --start | --wait]
#   the same QEMU cross-built for HarmonyOS (scripts/ohos/build.sh: its toolchain, its static
#   GLib, pixman, libslirp, libfdt, zlib in PREFIX_DIR): aarch64 and x86_64 system emulators in
#   both variants and qemu-img, libraries only, each with its SONAME, the TCI ones named
#   libqemu-system-ARCH-tci.so (a HAP's libs/ is one flat directory); cached under
#   $QHM_OHOS_CACHE/qemu (default /var/cache/qemu-hmos/ohos/qemu).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OHOS=""
if [ "${1:-}" = "--ohos" ]; then
  OHOS_T=$2
  OHOS_P=$3
  OHOS=$(basename "$OHOS_T")
  shift 3
  CACHE=${QHM_OHOS_CACHE:-/var/cache/qemu-hmos/ohos}/qemu
else
  CACHE=${QHM_QEMU_CACHE:-/var/cache/qemu-hmos/qemu-build}
fi
JOBS=${JOBS:-2}

# ---- the inputs (all of them go into the hash) -------------------------------------------
SUITE=trixie
MIRROR=http://deb.debian.org/debian
QEMU_DEB=1:10.0.13+ds-0+deb13u1
MESON_DEB=1.7.0-1
# SeaBIOS and the VGA BIOSes of Debian 13 (Debian 12's 1.16.2 is too old for QEMU >= 8.1: see below)
SEABIOS_DEB=1.16.3-2
TARGETS=x86_64-softmmu,i386-softmmu,aarch64-softmmu
# Only what the product uses; everything else off (--without-default-features).
FEATURES="--enable-system --enable-tcg --enable-kvm --enable-fdt=system --enable-pixman
  --enable-spice-protocol --enable-slirp --enable-vnc --enable-vnc-jpeg --enable-png --enable-gnutls --enable-zstd
  --enable-seccomp --enable-tpm --enable-attr --enable-virtfs --enable-vhost-user
  --enable-vhost-kernel --enable-vhost-net --enable-malloc-trim
  --enable-alsa --enable-pa --audio-drv-list=pa,alsa"
CC_CMD="ccache cc"
COMMON="--without-default-features --target-list=$TARGETS --prefix=/usr
  --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
  --disable-docs --disable-install-blobs --disable-debug-info --disable-werror
  --extra-cflags=-fPIC --disable-pie"
# variant: extra configure options (tools, i.e. qemu-img, only once)
TCG_OPTS="--enable-tools"
TCI_OPTS="--enable-tcg-interpreter --disable-tools"
DEVICE_OPTS="--with-devices-aarch64=qhm --with-devices-i386=qhm --with-devices-x86_64=qhm"
EMULATORS="x86_64 i386 aarch64"
# Our device lists (devices/*.mak: the boards we start, with QEMU's default devices), per target.
DEVICES="aarch64:aarch64 i386:i386 x86_64:i386"
# Bump when the steps below change what they produce.
RECIPE=5
TCI_SUFFIX=""
SONAME=no
if [ -n "$OHOS" ]; then
  # HarmonyOS: no KVM for apps, no seccomp, no host audio yet (an OHAudio backend is to come), no
  # VNC JPEG/PNG or TLS (the console is a unix socket to the daemon), no ucontext in musl.
  TARGETS=aarch64-softmmu,x86_64-softmmu
  FEATURES="--enable-system --enable-tcg --enable-fdt=system --enable-pixman --enable-slirp --enable-vnc
  --enable-spice-protocol --enable-tpm --enable-vhost-user --audio-drv-list= --with-coroutine=sigaltstack"
  CC_CMD="ccache $OHOS_T/bin/cc"
  COMMON="$COMMON --cross-prefix=$OHOS_T/bin/ --cpu=aarch64 --host-cc=cc --cxx=$OHOS_T/bin/c++
  --extra-cflags=-I$OHOS_P/include --extra-ldflags=-L$OHOS_P/lib"
  DEVICE_OPTS="--with-devices-aarch64=qhm --with-devices-x86_64=qhm"
  EMULATORS="x86_64 aarch64"
  DEVICES="aarch64:aarch64 x86_64:i386"
  TCI_SUFFIX=-tci
  SONAME=yes
  # The toolchain and the libraries QEMU links (their build stamps hold their keys).
  ohos_deps=$(cat "$OHOS_P"/.done-zlib "$OHOS_P"/.done-pcre2 "$OHOS_P"/.done-libffi "$OHOS_P"/.done-glib \
    "$OHOS_P"/.done-pixman "$OHOS_P"/.done-slirp "$OHOS_P"/.done-fdt "$OHOS_P"/.done-spice | cut -d' ' -f1 | tr '\n' ' ')
  # common/ohos_tls.c goes into each library (per-thread TLS with the stand-in's libgcc: see it).
  RECIPE="$RECIPE ohos=$OHOS deps=$ohos_deps tls=$(sha256sum "$ROOT/common/ohos_tls.c" | cut -c1-16)"
fi
# ------------------------------------------------------------------------------------------

hash=$(
  {
    printf '%s\n' "recipe=$RECIPE" "suite=$SUITE" "qemu=$QEMU_DEB" "meson=$MESON_DEB" "seabios=$SEABIOS_DEB" \
      "cc=$CC_CMD" "common=$COMMON" "device_opts=$DEVICE_OPTS" "features=$FEATURES" "tcg=$TCG_OPTS" "tci=$TCI_OPTS" "emulators=$EMULATORS" "devices=$DEVICES"
    for d in "$HERE"/devices/*.mak; do
      printf 'devices %s\n' "$(basename "$d")"
      cat "$d"
    done
    for p in "$HERE"/patches/*.patch; do
      printf 'patch %s\n' "$(basename "$p")"
      cat "$p"
    done
  } | sha256sum | cut -c1-16
)
OUT=$CACHE/$hash
if [ -n "$OHOS" ]; then
  . "$OHOS_T/env.sh"
  export PKG_CONFIG_LIBDIR="$OHOS_P/lib/pkgconfig" PKG_CONFIG_PATH="" PKG_CONFIG_SYSROOT_DIR=""
  # The dependencies are static archives: their private libraries are needed at every link.
  mkdir -p "$CACHE/.work"
  printf '#!/bin/sh\nexec pkg-config --static "$@"\n' >"$CACHE/.work/pkg-config-static"
  chmod +x "$CACHE/.work/pkg-config-static"
  export PKG_CONFIG="$CACHE/.work/pkg-config-static"
fi
if [ "${1:-}" = "--print-dir" ]; then
  echo "$OUT"
  exit 0
fi

say() { echo "qemu-build: $*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# One build at a time per cache: the running build holds an flock on $LOCK. --start runs the build
# in the background (nice 19, log in $LOG, exit status in $RC) holding the lock it took, so that
# `make check` runs the suites that do not need QEMU 10 meanwhile; --wait blocks until no build
# holds the lock, then says whether this hash's build is there (0), failed (1, the log's tail) or
# was never started (2).
LOCK=$CACHE/.work/lock
LOG=$CACHE/.work/build-$hash.log
RC=$CACHE/.work/build-$hash.rc
case "${1:-}" in
--wait)
  if [ ! -f "$OUT/manifest.json" ] && [ -f "$LOCK" ]; then
    say "waiting for the QEMU build in the background (log $LOG)"
    flock "$LOCK" true
  fi
  if [ -f "$OUT/manifest.json" ]; then
    echo "qemu-build: up to date: $OUT"
    exit 0
  fi
  if [ -f "$RC" ]; then
    say "the build failed (status $(cat "$RC")); the end of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
  say "no build of $OUT (make qemu)" >&2
  exit 2
  ;;
esac
if [ -f "$OUT/manifest.json" ]; then
  echo "qemu-build: up to date: $OUT"
  exit 0
fi

# (a background build's parent has installed them: apt must not run beside make check's steps;
# for HarmonyOS, scripts/ohos/build.sh has)
[ -n "${QHM_QEMU_BUILD_LOCKED:-}" ] || [ -n "$OHOS" ] || "$ROOT/scripts/install-deps.sh" qemu
mkdir -p "$CACHE" 2>/dev/null || $SUDO mkdir -p "$CACHE"
[ -w "$CACHE" ] || $SUDO chown "$(id -u):$(id -g)" "$CACHE"
mkdir -p "$CACHE/.work"
if [ "${1:-}" = "--start" ]; then
  exec 9>"$LOCK"
  if ! flock -n 9; then
    say "a build is already running (log $LOG)"
    exit 0
  fi
  rm -f "$RC"
  say "building in the background (nice 19; log $LOG)"
  # The child inherits fd 9 and with it the lock, until it ends.
  (
    rc=0 # (set -e holds in here too: a failed build must still leave its status)
    if [ -n "$OHOS" ]; then set -- --ohos "$OHOS_T" "$OHOS_P"; else set --; fi
    QHM_QEMU_BUILD_LOCKED=1 nice -n 19 sh "$0" "$@" >"$LOG" 2>&1 || rc=$?
    echo $rc >"$RC"
  ) </dev/null &
  exit 0
fi
if [ -z "${QHM_QEMU_BUILD_LOCKED:-}" ]; then
  exec 9>"$LOCK"
  if ! flock -n 9; then
    say "waiting for the build another process is running (log $LOG)"
    flock 9
  fi
  if [ -f "$OUT/manifest.json" ]; then
    echo "qemu-build: up to date: $OUT"
    exit 0
  fi
fi

# ---- Debian 13's source and meson through a private apt directory ------------------------
WORK=$CACHE/.work
APT=$WORK/apt
DL=$WORK/dl
mkdir -p "$APT/sources.list.d" "$APT/preferences.d" "$APT/lists/partial" "$APT/cache/archives/partial" "$DL"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$APT/sources.list" <<EOF
deb [signed-by=$KEYRING] $MIRROR $SUITE main
deb-src [signed-by=$KEYRING] $MIRROR $SUITE main
EOF
aptp() {
  "$@" -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts="$APT/sources.list.d" \
    -o Dir::Etc::PreferencesParts="$APT/preferences.d" -o Dir::State::Lists="$APT/lists" \
    -o Dir::Cache="$APT/cache" -o APT::Sandbox::User=root
}
upstream=${QEMU_DEB#*:}
upstream=${upstream%-*}
dsc=qemu_${QEMU_DEB#*:}.dsc
mesondeb=meson_${MESON_DEB}_all.deb
seabiosdeb=seabios_${SEABIOS_DEB}_all.deb
if [ ! -f "$DL/$dsc" ] || [ ! -f "$DL/$mesondeb" ] || [ ! -f "$DL/$seabiosdeb" ]; then
  say "fetching qemu $QEMU_DEB, meson $MESON_DEB and seabios $SEABIOS_DEB from Debian $SUITE (private apt lists in $APT)"
  aptp apt-get -qq update
  (cd "$DL" && aptp apt-get -qq source --download-only "qemu=$QEMU_DEB" &&
    aptp apt-get -qq download "meson=$MESON_DEB" "seabios=$SEABIOS_DEB")
fi
MESON_DIR=$WORK/meson-$MESON_DEB
if [ ! -d "$MESON_DIR/usr/lib/python3/dist-packages/mesonbuild" ]; then
  rm -rf "$MESON_DIR"
  dpkg-deb -x "$DL/$mesondeb" "$MESON_DIR"
fi
export PYTHONPATH="$MESON_DIR/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}"
# ccache (in the cache dir): both variants share most objects, and a changed patch rebuilds little.
# CCACHE_BASEDIR: the compile lines hold absolute paths into $B, which differs with each hash.
export CCACHE_DIR="${CCACHE_DIR:-$WORK/ccache}"

# ---- the source with Debian's patch series, then ours -----------------------------------
# An interrupted build of the same hash resumes: $B/.unpacked, build/.configured-VARIANT and
# .built-VARIANT mark the steps done.
B=$WORK/$hash
export CCACHE_BASEDIR="$B"
if [ ! -f "$B/.unpacked" ]; then
  rm -rf "$B"
  mkdir -p "$B"
  say "unpacking $dsc (Debian's patch series applied) into $B/src"
  dpkg-source --no-check -x "$DL/$dsc" "$B/src" >"$B/dpkg-source.log"
  for p in "$HERE"/patches/*.patch; do
    say "applying $(basename "$p")"
    patch -d "$B/src" -p1 --forward --batch --quiet <"$p"
  done
  for d in $DEVICES; do
    cp "$HERE/devices/${d#*:}.mak" "$B/src/configs/devices/${d%%:*}-softmmu/qhm.mak"
  done
  touch "$B/.unpacked"
fi

# The version script a relinked library is linked with: only qhm_* is exported.
printf '{\n  global: qhm_*;\n  local: *;\n};\n' >"$B/exports.map"
[ -z "$OHOS" ] || "$OHOS_T/bin/cc" -O2 -fPIC -c "$ROOT/common/ohos_tls.c" -o "$B/ohos_tls.o"

# relink DIR PROGRAM LIB: QEMU's own link line for PROGRAM, made a shared library LIB. Long link
# lines live in a response file (ninja -d keeprsp kept it): LIB gets its own, edited.
relink() {
  cmd=$(cd "$1" && ninja -t commands "$2" | tail -n 1)
  shared="-shared -Wl,--version-script=$B/exports.map -o $3 "
  [ $SONAME = no ] || shared="$shared-Wl,-soname,$3 "
  [ -z "$OHOS" ] || shared="$shared$B/ohos_tls.o "
  case "$cmd" in
  *"@$2.rsp"*)
    if [ ! -f "$1/$2.rsp" ]; then # linked before without keeprsp: link again
      rm -f "$1/$2"
      ninja -C "$1" -d keeprsp "$2" >/dev/null
    fi
    sed "s|-o $2 |$shared|" "$1/$2.rsp" >"$1/$3.rsp"
    grep -q -- "-o $3 " "$1/$3.rsp" || { say "no '-o $2' in $1/$2.rsp" >&2; exit 1; }
    cmd=$(printf '%s' "$cmd" | sed "s|@$2.rsp|@$3.rsp|")
    ;;
  *"-o $2 "*) cmd=$(printf '%s' "$cmd" | sed "s|-o $2 |$shared|") ;;
  *) say "cannot find the link line of $2: $cmd" >&2; exit 1 ;;
  esac
  (cd "$1" && sh -c "$cmd")
}

# Both variants are built in the same directory, one after the other, so that their compile lines
# are the same but for what TCI changes: ccache (preprocessor mode: the text after preprocessing,
# not the -D/-I options) then serves the second variant every object whose preprocessed source did
# not change. Each variant's results go to $B/stage as soon as it is done ($B/.built-VARIANT).
STAGE=$B/stage
bdir=$B/build
mkdir -p "$STAGE/share/qemu"
times=""
for v in tcg tci; do
  if [ "$v" = tcg ]; then opts=$TCG_OPTS; else opts=$TCI_OPTS; fi
  if [ -f "$B/.built-$v" ]; then
    times="$times $(cat "$B/.built-$v")"
    continue
  fi
  resumed=no
  [ -f "$bdir/.configured-$v" ] && resumed=yes
  t0=$(date +%s)
  if [ ! -f "$bdir/.configured-$v" ]; then
    rm -rf "$bdir"
    mkdir -p "$bdir"
    say "configuring $v in $bdir"
    # shellcheck disable=SC2086
    (cd "$bdir" && ../src/configure --python=/usr/bin/python3 --ninja=ninja --cc="$CC_CMD" $COMMON $DEVICE_OPTS $FEATURES $opts) \
      >"$B/configure-$v.log" 2>&1 || { tail -30 "$B/configure-$v.log" >&2; exit 1; }
    touch "$bdir/.configured-$v"
  fi
  progs=""
  for e in $EMULATORS; do progs="$progs qemu-system-$e"; done
  [ "$v" = tcg ] && progs="$progs qemu-img"
  say "building $v:$progs (ninja -j$JOBS; log $B/ninja-$v.log)"
  # keeprsp: the links' response files stay for the relink below.
  # shellcheck disable=SC2086
  ninja -C "$bdir" -j"$JOBS" -d keeprsp $progs >"$B/ninja-$v.log" 2>&1 ||
    { tail -40 "$B/ninja-$v.log" >&2; exit 1; }
  mkdir -p "$STAGE/$v"
  for p in $progs; do
    lib=lib$p.so
    if [ "$p" = qemu-img ]; then dest=$STAGE; else dest=$STAGE/$v; fi
    [ "$v" = tcg ] || [ "$p" = qemu-img ] || lib=lib$p$TCI_SUFFIX.so
    relink "$bdir" "$p" "$lib"
    cp "$bdir/$lib" "$dest/"
    [ -n "$OHOS" ] || cp "$bdir/$p" "$dest/" # (HarmonyOS: no programs, an app cannot exec them)
  done
  # QEMU 10's own x86 option ROMs; configure sets pc-bios/optionrom up when `cc -m32` works
  # (gcc-multilib).
  if [ "$v" = tcg ] && [ -f "$bdir/pc-bios/optionrom/config.mak" ]; then
    make -C "$bdir/pc-bios/optionrom" >"$B/optionrom.log" 2>&1 || { tail -20 "$B/optionrom.log" >&2; exit 1; }
    cp "$bdir"/pc-bios/optionrom/*.bin "$STAGE/share/qemu/"
  elif [ "$v" = tcg ]; then
    say "warning: no x86 option ROMs (configure found no 32-bit compiler); Debian's /usr/share/qemu has 7.2's" >&2
  fi
  t1=$(date +%s)
  echo "$v=$((t1 - t0)):$resumed" >"$B/.built-$v"
  times="$times $v=$((t1 - t0)):$resumed"
  say "$v built in $((t1 - t0)) s$([ $resumed = no ] || echo ' (resumed: only what was left)')"
done
mkdir -p "$OUT.tmp"
rm -rf "${OUT:?}.tmp"/*
cp -a "$STAGE"/. "$OUT.tmp"/

# ---- data files the built QEMU needs next to Debian's firmware --------------------------
# QEMU 10's own option ROMs (built from the source above) and keymaps go into share/qemu, and so do
# SeaBIOS and the VGA BIOSes of Debian 13's seabios: since QEMU 8.1 a failed AHCI command raises
# PxIS.TFES alone (AHCI 1.3.1 5.3.8.1), which SeaBIOS before 1.16.3 does not look at (its commit
# 1281e340 "ahci: handle TFES irq correctly"): with Debian 12's 1.16.2 every q35 boot with an empty
# CD drive waited 32 s for an AHCI timeout. iPXE ROMs come from Debian 12's ipxe-qemu, UEFI from
# ovmf and qemu-efi-aarch64 (as server/core/host.c finds them: /usr/share/OVMF, /usr/share/AAVMF).
mkdir -p "$OUT.tmp/share/qemu/keymaps"
SEABIOS_DIR=$WORK/seabios-$SEABIOS_DEB
if [ ! -f "$SEABIOS_DIR/usr/share/seabios/bios-256k.bin" ]; then
  rm -rf "$SEABIOS_DIR"
  dpkg-deb -x "$DL/$seabiosdeb" "$SEABIOS_DIR"
fi
cp -L "$SEABIOS_DIR"/usr/share/seabios/*.bin "$OUT.tmp/share/qemu/"
for f in "$B"/src/pc-bios/keymaps/*; do
  case "$f" in */meson.build) ;; *) cp "$f" "$OUT.tmp/share/qemu/keymaps/" ;; esac
done

python3 - "$OUT.tmp" "$OUT" "$QEMU_DEB" "$upstream" "$hash" "$times" "$EMULATORS" "$OHOS" "$TCI_SUFFIX" <<'EOF'
import json, os, sys
tmp, out, deb, upstream, h, times, emus, ohos, tci_suffix = sys.argv[1:10]
secs = {v: t.split(":") for v, t in (x.split("=") for x in times.split())}
def files(d):
    return sorted(os.listdir(os.path.join(tmp, d)))
ldirs = [os.path.join(out, "share", "qemu")]
for d in () if ohos else ("/usr/share/seabios", "/usr/lib/ipxe/qemu", "/usr/share/qemu"):
    if os.path.isdir(d):
        ldirs.append(d)
variants = {}
for v in ("tcg", "tci"):
    variants[v] = {
        # configure + ninja + relink, wall clock; a resumed build only counts what was left
        "build_seconds": int(secs[v][0]),
        "resumed": secs[v][1] == "yes",
        "libraries": {e: os.path.join(out, v, "libqemu-system-%s%s.so" % (e, tci_suffix if v == "tci" else ""))
                      for e in emus.split()},
        "executables": {} if ohos else {e: os.path.join(out, v, "qemu-system-%s" % e) for e in emus.split()},
        "entry": "qhm_qemu_main",
    }
variants["tci"]["accel"] = "tcg (TCI interpreter: no executable memory needed)"
variants["tcg"]["accel"] = "tcg (JIT; split-wx forced on __OHOS__), kvm where /dev/kvm exists"
uefi = {"x86_64": "/usr/share/OVMF", "aarch64": "/usr/share/AAVMF"}
m = {
    "qemu_version": upstream.split("+")[0],
    "debian_source": "qemu " + deb,
    "hash": h,
    "dir": out,
    "variants": variants,
    "qemu_img": {"library": os.path.join(out, "libqemu-img.so"),
                 "executable": None if ohos else os.path.join(out, "qemu-img"), "entry": "qhm_qemu_img_main"},
    "host": ("aarch64-unknown-linux-ohos (toolchain %s)" % ohos) if ohos else "this machine",
    "L": ldirs,
    "uefi_dirs": {} if ohos else {k: v for k, v in uefi.items() if os.path.isdir(v)},
    "sizes": {os.path.relpath(os.path.join(r, f), tmp): os.path.getsize(os.path.join(r, f))
              for r, _, fs in os.walk(tmp) for f in fs if f.endswith(".so")},
}
with open(os.path.join(tmp, "manifest.json"), "w") as f:
    json.dump(m, f, indent=2, sort_keys=True)
    f.write("\n")
EOF
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
if [ -z "${QHM_KEEP_BUILD:-}" ]; then rm -rf "$B"; fi
say "done:$times (seconds)"
say "results: $OUT (manifest: $OUT/manifest.json)"
