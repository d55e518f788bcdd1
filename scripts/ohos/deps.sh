#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The libraries `make ohos` builds for aarch64-unknown-linux-ohos, from Debian 12's own source
# packages (apt-get source through a private deb-src list: the machine's apt sources are not
# changed; Debian's patch series applied by dpkg-source), the same versions as the native build.
#
#   static (-fPIC, linked into libqemu-hmos.so: fewer files in the app): zlib, jansson, sqlite,
#     libuv, nettle (with mini-gmp: no GMP), GnuTLS (its included libtasn1 and libunistring),
#     libmicrohttpd
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
      echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" >"$APT/sources.list"
      aptp apt-get -qq update
      apt_ready=yes
    fi
    say "fetching the source of $2 $3"
    (cd "$SRC_CACHE/dl" && aptp apt-get -qq source --download-only "$2=$3")
  fi
  S=$CACHE/build/$1
  rm -rf "$S"
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

# Each package is built again when its key changes: its line in PACKAGES, its recipe, the shared
# helpers and the toolchain; and so is every package after one that was built (they may use it).
# (Stamps: $P/.done-NAME = "KEY SECONDS".)
recipe() { sed -n "/^$1() {/,/^}/p" "$0"; }
helpers=$( (recipe ac; recipe cm; cat "$T/cross.ini") | sha256sum | cut -c1-16)
want=${*:-$(echo "$PACKAGES" | cut -d: -f1 | tr '\n' ' ')}
rebuilt=no
for name in $(echo "$PACKAGES" | cut -d: -f1); do
  line=$(echo "$PACKAGES" | grep "^$name:")
  key=$( (echo "$line $helpers"; recipe "build_$name") | sha256sum | cut -c1-16)
  if [ $rebuilt = no ] && [ -f "$P/.done-$name" ] && [ "$(cut -d' ' -f1 "$P/.done-$name")" = "$key" ]; then
    continue
  fi
  case " $want " in *" $name "*) ;; *) [ $rebuilt = no ] && continue ;; esac
  debsrc=$(echo "$line" | cut -d: -f2)
  version=$(echo "$line" | cut -d: -f3-)
  source_pkg "$name" "$debsrc" "$version"
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
  rm -rf "$S"
  say "$name done in $(($(date +%s) - t0)) s"
done
