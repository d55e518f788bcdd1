/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lazy: load a shared library on first use and resolve the functions the
 * daemon calls. Libraries an idle daemon does not need (libcurl, libwebsockets
 * with OpenSSL, libcrypto) are not linked: each costs resident memory just by
 * being mapped and relocated (bench/run.py, idle VmRSS). See curl_lazy.c,
 * lws_lazy.c, dl_hash.c.
 */
#ifndef QHM_LAZY_H
#define QHM_LAZY_H

#include <stddef.h>

struct lazy_fn {
  void **slot;
  const char *name;
};

#define LAZY_FN(tbl, member, sym)                                                                            \
  { (void **)&(tbl).member, sym }

/* dlopen SONAME (RTLD_NOW | RTLD_LOCAL) and store every FNS[i].name in *FNS[i].slot. A missing
 * library or function is a broken installation (the package depends on it), not an input to
 * recover from: it is logged and the daemon aborts. The caller makes sure this runs once. */
void lazy_load(const char *soname, const struct lazy_fn *fns, size_t n);

#endif
