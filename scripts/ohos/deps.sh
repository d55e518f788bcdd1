#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The libraries `make ohos` builds for aarch64-unknown-linux-ohos, from Debian 12's own source
# packages (apt-get source through a private deb-src list: the machine's apt sources are not
# changed; Debian's patch series applied by dpkg-source), the same versions as the native build.
#
#   static (-fPIC, linked into libqemu-hmos.so: fewer files in the app): zlib, jansson, sqlite,
#     libuv, nettle (with mini-gmp: no GMP), GnuTLS (its included libtasn1 and libunistring),
#     libmicrohttpd
#   static, for QEMU (qemu-build/build.sh --ohos links them into each libqemu-system-*.so):
#     PCRE2, libffi, GLib (no NLS, no libmount/SELinux/xattr), pixman (no NEON assembly: GNU as
#     macros clang's assembler does not take), libslirp, libfdt; and spice-protocol's headers
#     (QEMU's qemu-vdagent, the VNC console's clipboard, needs them)
#   static, for the RDP worker (linked into libqemu-hmos-rdp.so): libpng, libjpeg-turbo, libwebp,
#     FreeRDP 2 with WinPR (the client library and its built-in channels; no X11, audio back
#     ends, smart cards, printers, USB, H.264: the worker brings its own sound and microphone)
#   shared (the daemon loads them on first use, server/core/lazy.c, by an unversioned name: a
#     HarmonyOS app's libraries are libs/arm64-v8a/lib*.so): OpenSSL's libcrypto and libssl,
#     libwebsockets, libcurl
#
# TLS: GnuTLS for libmicrohttpd (its only HTTPS backend) and the daemon's own digests and
# certificate, as natively; OpenSSL for libwebsockets and libcurl (both support it fully,
# libwebsockets has no GnuTLS backend) and the downloader's digests. OpenSSL's Configure knows
# linux-aarch64 and needs nothing else.
#
# Usage: scripts/ohos/deps.sh TOOLCHAIN_DIR PREFIX_DIR [PACKAGE...]
#   Builds each package (default: all, in order) whose stamp PREFIX_DIR/.done-NAME is missing or
#   stale (see below) into PREFIX_DIR (include/, lib/, lib/pkgconfig/). Sources: $SRC_CACHE.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
T=$1
P=$2
shift 2
MIRROR=http://deb.debian.org/debian
SUITE=bookworm
CACHE=${QHM_OHOS_CACHE:-/var/cache/qemu-hmos/ohos}
SRC_CACHE=$CACHE/src
JOBS=${JOBS:-2}

# name:debian-source:version, in build order.
PACKAGES="
zlib:zlib:1:1.2.13.dfsg-1
jansson:jansson:2.14-2
sqlite:sqlite3:3.40.1-2+deb12u2
libuv:libuv1:1.44.2-1+deb12u1
nettle:nettle:3.8.1-2
gnutls:gnutls28:3.7.9-2+deb12u7
mhd:libmicrohttpd:0.9.75-6
openssl:openssl:3.0.20-1~deb12u2
lws:libwebsockets:4.1.6-3
curl:curl:7.88.1-10+deb12u15
pcre2:pcre2:10.42-1
libffi:libffi:3.4.4-1
glib:glib2.0:2.74.6-2+deb12u9
pixman:pixman:0.42.2-1
slirp:libslirp:4.7.0-1
fdt:device-tree-compiler:1.7.2-2
spice:spice-protocol:0.14.3-1
png:libpng1.6:1.6.39-2+deb12u5
jpeg:libjpeg-turbo:1:2.1.5-2
webp:libwebp:1.2.4-0.2+deb12u1
freerdp:freerdp2:2.11.7+dfsg1-6~deb12u1
"

say() { echo "ohos-deps: $*"; }
. "$T/env.sh"
mkdir -p "$P/lib/pkgconfig" "$P/include" "$SRC_CACHE/dl" "$CACHE/build"
export PKG_CONFIG_LIBDIR="$P/lib/pkgconfig" PKG_CONFIG_PATH="" PKG_CONFIG_SYSROOT_DIR=""
export CFLAGS="-O2 -fPIC -g0" CPPFLAGS="-I$P/include" LDFLAGS="-L$P/lib"
HOSTTRIPLE=aarch64-unknown-linux-musl # what config.sub knows; the compiler is the OHOS one
BUILDTRIPLE=x86_64-pc-linux-gnu

# ---- sources ------------------------------------------------------------------------------
APT=$SRC_CACHE/apt
aptp() {
  "$@" -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts="$APT/sources.list.d" \
    -o Dir::Etc::PreferencesParts="$APT/preferences.d" -o Dir::State::Lists="$APT/lists" \
    -o Dir::Cache="$APT/cache" -o APT::Sandbox::User=root
}
apt_ready=no
# source NAME DEBSRC VERSION: unpack the source package (patches applied) into $S (fresh).
source_pkg() {
  dsc=$2_$(echo "$3" | sed 's/^[0-9]*://').dsc
  if [ ! -f "$SRC_CACHE/dl/$dsc" ]; then
    if [ $apt_ready = no ]; then
      mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/sources.list.d" "$APT/preferences.d"
      # Debian 13's too, for what Debian 12's mirror here lacks (PACKAGES names exact versions).
      printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$MIRROR" "$SUITE" "$MIRROR" trixie >"$APT/sources.list"
      aptp apt-get -qq update
      apt_ready=yes
    fi
    say "fetching the source of $2 $3"
    # (a failure is looked at below: what was fetched may do)
    (cd "$SRC_CACHE/dl" && aptp apt-get -qq source --download-only "$2=$3") || true
  fi
  S=$CACHE/build/$1
  rm -rf "$S"
  # This machine's mirror lacks some of Debian's parts of source packages (seen: pixman's
  # .diff.gz, device-tree-compiler's .debian.tar.xz: 404): then the upstream tarball alone, said
  # so (for the libraries built here those parts hold Debian's packaging, no change to the code).
  if [ ! -f "$SRC_CACHE/dl/$dsc" ]; then # (seen: device-tree-compiler 1.7.2-2's .dsc, 404)
    up=$(echo "$3" | sed 's/^[0-9]*://; s/-[^-]*$//')
    orig=$(ls "$SRC_CACHE/dl/$2_$up.orig.tar."* 2>/dev/null | head -n 1)
    [ -n "$orig" ] || { say "no source of $2 $3 (fetching failed)"; exit 1; }
    say "$2 $3: unpacking $(basename "$orig") alone (no .dsc on this mirror; apt checked the tarball's hash)"
    mkdir -p "$S"
    tar xf "$orig" --strip-components=1 -C "$S"
    return 0
  fi
  deb=$(sed -n 's/^ [0-9a-f]\{32\} [0-9]* \(.*\.\(diff\.gz\|debian\.tar\.[a-z0-9]*\)\)$/\1/p' "$SRC_CACHE/dl/$dsc" 2>/dev/null | head -n 1)
  if [ -n "$deb" ] && [ ! -f "$SRC_CACHE/dl/$deb" ]; then
    orig=$(sed -n 's/^ [0-9a-f]\{32\} [0-9]* \(.*\.orig\.tar\.[a-z0-9]*\)$/\1/p' "$SRC_CACHE/dl/$dsc" | head -n 1)
    [ -n "$orig" ] && [ -f "$SRC_CACHE/dl/$orig" ] || { say "no source of $2 $3 (fetching failed)"; exit 1; }
    say "$2 $3: unpacking $orig without Debian's $deb (not on this mirror)"
    mkdir -p "$S"
    tar xf "$SRC_CACHE/dl/$orig" --strip-components=1 -C "$S"
    return 0
  fi
  dpkg-source --no-check -x "$SRC_CACHE/dl/$dsc" "$S" >/dev/null
  rm -f "$CACHE/build/"*.orig*.tar.* # dpkg-source leaves links to the tarballs beside $S
}

# ---- recipes: each runs in $S, installs into $P ---------------------------------------------
ac() { # autoconf configure with the cross triples
  ./configure --host=$HOSTTRIPLE --build=$BUILDTRIPLE --prefix="$P" --libdir="$P/lib" "$@"
}
cm() { # CMake with the toolchain file; $P is the only place it looks for packages
  cmake -S . -B _b -G Ninja -DCMAKE_TOOLCHAIN_FILE="$T/toolchain.cmake" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$P" -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_PREFIX_PATH="$P" \
    -DCMAKE_FIND_ROOT_PATH="$P" -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_C_FLAGS="$CFLAGS $CPPFLAGS" -DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON "$@" >_cmake.log ||
    { tail -30 _cmake.log; return 1; }
  ninja -C _b -j"$JOBS" install >_build.log || { tail -30 _build.log; return 1; }
}

build_zlib() {
  CHOST=$HOSTTRIPLE ./configure --prefix="$P" --libdir="$P/lib" --static >_conf.log
  make -j"$JOBS" libz.a >_build.log
  make install >>_build.log
}
build_jansson() {
  cm -DJANSSON_BUILD_DOCS=OFF -DJANSSON_EXAMPLES=OFF -DJANSSON_WITHOUT_TESTS=ON -DJANSSON_BUILD_SHARED_LIBS=OFF
}
build_sqlite() {
  # The amalgamation (sqlite3.c) is generated on the build machine (its configure, lemon and
  # tclsh: no cross tools involved), then compiled for the target: sqlite's own cross build
  # runs a lemon it built for the target.
  (
    unset CC CFLAGS CPPFLAGS LDFLAGS AR RANLIB NM STRIP
    ./configure --disable-tcl >_conf.log
    make -j"$JOBS" sqlite3.c sqlite3.h >_build.log
  )
  $CC $CFLAGS -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_MATH_FUNCTIONS -c sqlite3.c -o sqlite3.o
  rm -f "$P/lib/libsqlite3.a"
  $AR rcs "$P/lib/libsqlite3.a" sqlite3.o
  cp sqlite3.h sqlite3ext.h "$P/include/"
  ver=$(sed -n 's/^#define SQLITE_VERSION *"\(.*\)"/\1/p' sqlite3.h)
  printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\n\nName: SQLite\nDescription: SQL database engine\nVersion: %s\nLibs: -L${libdir} -lsqlite3\nLibs.private: -lm -lpthread\nCflags: -I${includedir}\n' \
    "$P" "$ver" >"$P/lib/pkgconfig/sqlite3.pc"
}
build_libuv() {
  # Function sections: linked with --gc-sections, uv_spawn (fork, execvp) stays out of the daemon
  # library, which must import no exec (signal.c pulls process.c in for SIGCHLD).
  CFLAGS="$CFLAGS -ffunction-sections -fdata-sections"
  cm -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF
  rm -f "$P"/lib/libuv.so* # the static one only (libuv_a.a, installed as libuv.a below)
  cp _b/libuv_a.a "$P/lib/libuv.a"
  sed -i 's/^Libs:.*/Libs: -L${libdir} -luv -lpthread -ldl/' "$P/lib/pkgconfig/libuv.pc"
}
build_nettle() {
  ac --disable-shared --enable-static --enable-mini-gmp --disable-documentation --disable-openssl \
    --disable-assembler >_conf.log
  # The libraries only (not its tools and benchmarks); AUTOHEADER=: as dpkg-source's timestamps
  # make config.h.in look older than configure.ac.
  make -j"$JOBS" AUTOHEADER=: libnettle.a libhogweed.a >_build.log
  make AUTOHEADER=: install-headers install-static install-pkgconfig >>_build.log
}
build_gnutls() {
  # Debian's patches change configure.ac and gnulib's files (a module its fixes need): regenerate,
  # as Debian's build does (dh_autoreconf; no gtk-doc: its docs are not built).
  GTKDOCIZE=true autoreconf -fi >_autoreconf.log 2>&1 || { tail -20 _autoreconf.log; return 1; }
  ac --disable-shared --enable-static --with-nettle-mini --with-included-libtasn1 \
    --with-included-unistring --without-p11-kit --without-tpm --without-tpm2 --without-idn \
    --without-zlib --without-brotli --without-zstd --disable-doc --disable-tests --disable-tools \
    --disable-cxx --disable-guile --disable-nls --disable-libdane --disable-padlock \
    NETTLE_CFLAGS="-I$P/include" NETTLE_LIBS="-L$P/lib -lnettle" \
    HOGWEED_CFLAGS="-I$P/include" HOGWEED_LIBS="-L$P/lib -lhogweed" >_conf.log
  make -j"$JOBS" >_build.log
  make install >>_build.log
}
build_mhd() {
  # GnuTLS is static: its checks link with what it needs (nettle, hogweed).
  ac --disable-shared --enable-static --enable-https --with-gnutls="$P" --disable-doc \
    --disable-examples --disable-curl --disable-nls LIBS="$(pkg-config --static --libs gnutls)" >_conf.log
  make -j"$JOBS" -C src/microhttpd >_build.log
  make -C src/microhttpd install >>_build.log
  make -C src/include install >>_build.log
  make install-pkgconfigDATA >>_build.log
}
build_openssl() {
  # Unversioned SONAMEs (libcrypto.so, libssl.so), what an app's libs/ may hold: a target of ours,
  # linux-aarch64 with the plain .so extension.
  cat >_ohos.conf <<'EOC'
my %targets = ("ohos-aarch64" => {inherit_from => ["linux-aarch64"], shared_extension => ".so"});
EOC
  ./Configure ohos-aarch64 --config=_ohos.conf --prefix="$P" --libdir=lib --openssldir=/etc/ssl \
    no-tests no-engine no-dso -fPIC CC="$CC" AR="$AR" RANLIB="$RANLIB" >_conf.log
  make -j"$JOBS" build_libs >_build.log 2>&1 || { tail -30 _build.log; return 1; }
  make install_dev >>_build.log 2>&1
}
build_lws() {
  cm -DLWS_WITH_SSL=ON -DLWS_OPENSSL_INCLUDE_DIRS="$P/include" \
    -DLWS_OPENSSL_LIBRARIES="$P/lib/libssl.so;$P/lib/libcrypto.so" \
    -DLWS_WITH_LIBUV=ON -DLWS_LIBUV_INCLUDE_DIRS="$P/include" -DLWS_LIBUV_LIBRARIES="$P/lib/libuv.a" \
    -DLWS_WITH_EVLIB_PLUGINS=OFF -DLWS_WITH_SHARED=ON -DLWS_WITH_STATIC=OFF \
    -DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITHOUT_TEST_SERVER=ON -DLWS_WITH_MINIMAL_EXAMPLES=OFF \
    -DLWS_IPV6=ON -DLWS_WITH_ZLIB=OFF -DLWS_WITH_ZIP_FOPS=OFF -DDISABLE_WERROR=ON
}
build_curl() {
  cm -DBUILD_SHARED_LIBS=ON -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DCURL_USE_OPENSSL=ON \
    -DOPENSSL_ROOT_DIR="$P" -DCURL_ZLIB=OFF -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBPSL=OFF \
    -DUSE_NGHTTP2=OFF -DUSE_LIBIDN2=OFF -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DENABLE_MANUAL=OFF \
    -DCURL_DISABLE_LDAP=ON -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none
}

mes() { # meson with the cross file (its exe_wrapper runs target checks under qemu-aarch64), C only:
  # the stand-in has no C++ library to link with, and GLib's checks use C++ when it is there.
  grep -v '^cpp = ' "$T/cross.ini" >_cross.ini
  CXX=false meson setup _b --cross-file _cross.ini --prefix="$P" --libdir=lib --buildtype=release \
    -Ddefault_library=static -Dprefer_static=true -Db_staticpic=true "$@" >_meson.log 2>&1 ||
    { tail -30 _meson.log; return 1; }
  ninja -C _b -j"$JOBS" install >_build.log 2>&1 || { tail -30 _build.log; return 1; }
}
build_pcre2() {
  ac --disable-shared --enable-static --enable-pcre2-8 --disable-pcre2-16 --disable-pcre2-32 \
    --disable-jit --disable-pcre2grep-libz --disable-pcre2grep-libbz2 --disable-pcre2test-libreadline >_conf.log
  make -j"$JOBS" libpcre2-8.la >_build.log
  make install-libLTLIBRARIES install-nodist_includeHEADERS install-pkgconfigDATA >>_build.log
}
build_libffi() {
  # No static trampolines (their code assumes glibc's open_temp_exec_file declaration): GLib uses
  # closures little, and QEMU not at all.
  ac --disable-shared --enable-static --disable-docs --disable-multi-os-directory --disable-exec-static-tramp >_conf.log
  make -j"$JOBS" >_build.log
  make install >>_build.log
}
build_glib() {
  # GLib's own gettext calls resolve in musl (it has ngettext and friends); its iconv is musl's.
  mes -Dselinux=disabled -Dxattr=false -Dlibmount=disabled -Dman=false -Dgtk_doc=false -Dtests=false \
    -Dinstalled_tests=false -Dnls=disabled -Dlibelf=disabled -Ddtrace=false -Dsystemtap=false \
    -Dsysprof=disabled -Doss_fuzz=disabled -Dglib_debug=disabled -Dbsymbolic_functions=false
}
build_pixman() {
  mes -Dtests=disabled -Dgtk=disabled -Dlibpng=disabled -Da64-neon=disabled \
    -Dneon=disabled -Dopenmp=disabled -Dtimers=false
}
build_slirp() {
  mes
}
build_spice() {
  mes
  cp "$P/share/pkgconfig/spice-protocol.pc" "$P/lib/pkgconfig/" # (PKG_CONFIG_LIBDIR is lib/pkgconfig)
}
build_fdt() {
  # libfdt only (dtc's Makefile; its tools, YAML and Python bindings are not built).
  make -j"$JOBS" CC="$CC" AR="$AR" CFLAGS="$CFLAGS" NO_PYTHON=1 NO_YAML=1 NO_VALGRIND=1 libfdt/libfdt.a >_build.log
  cp libfdt/libfdt.a "$P/lib/"
  cp libfdt/fdt.h libfdt/libfdt.h libfdt/libfdt_env.h "$P/include/"
  printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\n\nName: libfdt\nDescription: Flat Device Tree manipulation\nVersion: 1.7.2\nLibs: -L${libdir} -lfdt\nCflags: -I${includedir}\n' \
    "$P" >"$P/lib/pkgconfig/libfdt.pc"
}

build_png() {
  ac --disable-shared --enable-static >_conf.log
  make -j"$JOBS" install >_build.log
}
build_jpeg() {
  # libjpeg's API only (the worker's), with its NEON code (intrinsics). Its own GNUInstallDirs
  # takes a relative libdir as relative to the build: absolute.
  cm -DCMAKE_INSTALL_LIBDIR="$P/lib" -DENABLE_SHARED=OFF -DENABLE_STATIC=ON -DWITH_TURBOJPEG=OFF -DWITH_SIMD=ON -DWITH_JAVA=OFF \
    -DCMAKE_INSTALL_DOCDIR=/tmp/jpeg-doc -DCMAKE_INSTALL_MANDIR=/tmp/jpeg-man
}
build_webp() {
  cm -DBUILD_SHARED_LIBS=OFF -DWEBP_BUILD_ANIM_UTILS=OFF -DWEBP_BUILD_CWEBP=OFF -DWEBP_BUILD_DWEBP=OFF \
    -DWEBP_BUILD_GIF2WEBP=OFF -DWEBP_BUILD_IMG2WEBP=OFF -DWEBP_BUILD_VWEBP=OFF -DWEBP_BUILD_WEBPINFO=OFF \
    -DWEBP_BUILD_WEBPMUX=OFF -DWEBP_BUILD_EXTRAS=OFF -DWEBP_BUILD_LIBWEBPMUX=OFF
}
build_freerdp() {
  # Static, channels built in (BUILTIN_CHANNELS): one library for the worker, libqemu-hmos-rdp.so.
  # OpenSSL is the shared one of the set. What needs a library the app does not have is off.
  # Its project() names C++ too, for code not built here: the stand-in has no C++ library.
  # Function sections, as libuv's: --gc-sections leaves WinPR's CreateProcess (fork, execve) out.
  CFLAGS="$CFLAGS -ffunction-sections -fdata-sections"
  cm -DCMAKE_CXX_COMPILER_WORKS=ON -DBUILD_SHARED_LIBS=OFF -DWITH_CLIENT=ON -DWITH_CLIENT_COMMON=ON -DBUILTIN_CHANNELS=ON \
    -DWITH_CHANNELS=ON -DWITH_SERVER=OFF -DWITH_SERVER_CHANNELS=OFF -DWITH_PROXY=OFF -DWITH_SHADOW=OFF \
    -DWITH_SAMPLE=OFF -DWITH_WINPR_TOOLS=OFF -DWITH_MANPAGES=OFF -DBUILD_TESTING=OFF \
    -DWITH_CCACHE=OFF -DWITH_CLANG_FORMAT=OFF -DWITH_X11=OFF -DWITH_WAYLAND=OFF -DWITH_ALSA=OFF \
    -DWITH_PULSE=OFF -DWITH_OSS=OFF -DWITH_CUPS=OFF -DWITH_PCSC=OFF -DWITH_FFMPEG=OFF \
    -DWITH_DSP_FFMPEG=OFF -DWITH_SWSCALE=OFF -DWITH_CAIRO=OFF -DWITH_GSTREAMER_1_0=OFF \
    -DWITH_GSTREAMER_0_10=OFF -DWITH_OPENH264=OFF -DWITH_LAME=OFF -DWITH_FAAD2=OFF -DWITH_FAAC=OFF \
    -DWITH_GSM=OFF -DWITH_SOXR=OFF -DWITH_VAAPI=OFF -DWITH_JPEG=OFF -DWITH_ICU=OFF -DWITH_GSSAPI=OFF \
    -DWITH_KRB5=OFF -DWITH_LIBSYSTEMD=OFF -DWITH_FUSE=OFF -DWITH_MBEDTLS=OFF -DWITH_OPENSLES=OFF \
    -DWITH_SSE2=OFF -DWITH_NEON=ON -DCHANNEL_URBDRC=OFF -DCHANNEL_TSMF=OFF -DCHANNEL_PRINTER=OFF \
    -DCHANNEL_SMARTCARD=OFF -DCHANNEL_SERIAL=OFF -DCHANNEL_PARALLEL=OFF -DCHANNEL_RDP2TCP=OFF \
    -DWITH_OPENSSL=ON -DOPENSSL_ROOT_DIR="$P" -DOPENSSL_INCLUDE_DIR="$P/include" \
    -DOPENSSL_CRYPTO_LIBRARY="$P/lib/libcrypto.so" -DOPENSSL_SSL_LIBRARY="$P/lib/libssl.so"
  # (WinPR's UTF-8/UTF-16 conversion without ICU: patches/freerdp/files/.../utf.c, ours.)
  # A static build leaves each channel's client library (and its subsystems: rdpsnd's "fake")
  # in the build tree, which libfreerdp-client2.a's table names: they go into that archive.
  find _b/channels -name '*.a' | sort >_channels.txt
  [ -s _channels.txt ] || { echo "no channel libraries in _b/channels"; return 1; }
  xargs "$AR" qL "$P/lib/libfreerdp-client2.a" <_channels.txt
  "$RANLIB" "$P/lib/libfreerdp-client2.a"
  # The worker defines WinPR's Sleep (bridge/rdp-ws/worker/main.c): WinPR's own becomes weak.
  "$T/bin/objcopy" --weaken-symbol=Sleep "$P/lib/libwinpr2.a"
  # OpenSSL: the set's shared libssl.so/libcrypto.so, not the static archives beside them.
  sed -i 's/^\(Requires.private:.*\) libssl$/\1/; s/^Libs.private:/Libs.private: -l:libssl.so -l:libcrypto.so/' \
    "$P/lib/pkgconfig/freerdp2.pc" "$P/lib/pkgconfig/winpr2.pc"
}

# Each package is built again when its key changes: its line in PACKAGES, its recipe, the shared
# helpers and the toolchain; and so is every package after one that was built (they may use it).
# (Stamps: $P/.done-NAME = "KEY SECONDS".)
recipe() { sed -n "/^$1() {/,/^}/p" "$0"; }
helpers=$( (recipe ac; recipe cm; cat "$T/cross.ini") | sha256sum | cut -c1-16)
want=${*:-$(echo "$PACKAGES" | cut -d: -f1 | tr '\n' ' ')}
rebuilt=no
for name in $(echo "$PACKAGES" | cut -d: -f1); do
  line=$(echo "$PACKAGES" | grep "^$name:")
  key=$( (echo "$line $helpers"; recipe "build_$name"; recipe "build_$name" | grep -q '^  mes' && recipe mes
    [ ! -d "$HERE/patches/$name" ] || find "$HERE/patches/$name" -type f | sort | xargs cat) |
    sha256sum | cut -c1-16)
  if [ $rebuilt = no ] && [ -f "$P/.done-$name" ] && [ "$(cut -d' ' -f1 "$P/.done-$name")" = "$key" ]; then
    continue
  fi
  case " $want " in *" $name "*) ;; *) [ $rebuilt = no ] && continue ;; esac
  debsrc=$(echo "$line" | cut -d: -f2)
  version=$(echo "$line" | cut -d: -f3-)
  source_pkg "$name" "$debsrc" "$version"
  # Ours, each saying why (in the key below): patches/NAME/*.patch, and files/ copied into the tree.
  for f in "$HERE/patches/$name/"*.patch; do
    [ -f "$f" ] || continue
    say "$name: applying $(basename "$f")"
    patch -s -d "$S" -p1 <"$f"
  done
  [ ! -d "$HERE/patches/$name/files" ] || cp -R "$HERE/patches/$name/files/." "$S/"
  say "building $name ($debsrc $version)"
  t0=$(date +%s)
  # Not `(...) || fail`: set -e does not apply inside a subshell whose status is tested.
  set +e
  (
    set -e
    cd "$S"
    "build_$name" >>_all.log 2>&1
  )
  rc=$?
  set -e
  [ $rc -eq 0 ] || { tail -n 25 "$S/_all.log"; say "$name failed (logs in $S)"; exit 1; }
  echo "$key $(($(date +%s) - t0))" >"$P/.done-$name"
  rebuilt=yes
  [ -n "${QHM_OHOS_KEEP:-}" ] || rm -rf "$S"
  say "$name done in $(($(date +%s) - t0)) s"
done
