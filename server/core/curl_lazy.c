/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * curl_lazy: libcurl loaded on first use. The daemon is not linked with
 * libcurl; this file defines the libcurl functions the downloader calls, and
 * the first call dlopen()s libcurl.so.4 and resolves them all. libcurl brings
 * about a dozen libraries (TLS, HTTP/2, SSH, LDAP, Kerberos, compression) that
 * cost ~4 MiB of resident memory just by being loaded; a daemon that is not
 * downloading does not pay for them.
 *
 * The variadic setters are forwarded by option type (libcurl encodes it in
 * the option number): long, pointer (objects, functions, blobs) or curl_off_t.
 * Core loop thread only (the only thread that calls libcurl).
 */
/* The definitions below are the functions themselves, not calls to type-check. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "lazy.h"

/* A HarmonyOS app ships its libraries as libs/arm64-v8a/lib*.so: `make ohos` builds them
 * without a version in the SONAME (scripts/ohos/deps.sh). */
#ifdef __OHOS__
#define LIBCURL_SONAME "libcurl.so"
#else
#define LIBCURL_SONAME "libcurl.so.4"
#endif

static struct {
  CURLcode (*global_init)(long);
  CURL *(*easy_init)(void);
  void (*easy_cleanup)(CURL *);
  CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
  const char *(*easy_strerror)(CURLcode);
  CURLHcode (*easy_header)(CURL *, const char *, size_t, unsigned int, int, struct curl_header **);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_cleanup)(CURLM *);
  CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
  CURLMcode (*multi_add_handle)(CURLM *, CURL *);
  CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
  CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
  CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
  CURLMsg *(*multi_info_read)(CURLM *, int *);
  CURLSH *(*share_init)(void);
  CURLSHcode (*share_cleanup)(CURLSH *);
  CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
  struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
  void (*slist_free_all)(struct curl_slist *);
  void (*free)(void *);
} fn;

/* Load libcurl and every function used (core loop thread only). */
static void load(void) {
  static bool loaded;
  if (loaded)
    return;
  const struct lazy_fn fns[] = {
      LAZY_FN(fn, easy_init, "curl_easy_init"),
      LAZY_FN(fn, easy_cleanup, "curl_easy_cleanup"),
      LAZY_FN(fn, easy_setopt, "curl_easy_setopt"),
      LAZY_FN(fn, easy_getinfo, "curl_easy_getinfo"),
      LAZY_FN(fn, easy_strerror, "curl_easy_strerror"),
      LAZY_FN(fn, easy_header, "curl_easy_header"),
      LAZY_FN(fn, multi_init, "curl_multi_init"),
      LAZY_FN(fn, multi_cleanup, "curl_multi_cleanup"),
      LAZY_FN(fn, multi_setopt, "curl_multi_setopt"),
      LAZY_FN(fn, multi_add_handle, "curl_multi_add_handle"),
      LAZY_FN(fn, multi_remove_handle, "curl_multi_remove_handle"),
      LAZY_FN(fn, multi_assign, "curl_multi_assign"),
      LAZY_FN(fn, multi_socket_action, "curl_multi_socket_action"),
      LAZY_FN(fn, multi_info_read, "curl_multi_info_read"),
      LAZY_FN(fn, share_init, "curl_share_init"),
      LAZY_FN(fn, share_cleanup, "curl_share_cleanup"),
      LAZY_FN(fn, share_setopt, "curl_share_setopt"),
      LAZY_FN(fn, slist_append, "curl_slist_append"),
      LAZY_FN(fn, slist_free_all, "curl_slist_free_all"),
      LAZY_FN(fn, free, "curl_free"),
      LAZY_FN(fn, global_init, "curl_global_init"),
  };
  lazy_load(LIBCURL_SONAME, fns, sizeof(fns) / sizeof(fns[0]));
  loaded = true;
}

/* The argument kind of a setopt option: libcurl numbers options TYPE_BASE + n. */
enum arg_kind { ARG_LONG, ARG_PTR, ARG_OFF_T };

static enum arg_kind opt_kind(long opt) {
  if (opt < CURLOPTTYPE_OBJECTPOINT)
    return ARG_LONG;
  if (opt < CURLOPTTYPE_OFF_T)
    return ARG_PTR; /* object and function pointers */
  if (opt < CURLOPTTYPE_BLOB)
    return ARG_OFF_T;
  return ARG_PTR; /* blobs */
}

CURLcode curl_global_init(long flags) {
  load();
  return fn.global_init(flags);
}

CURL *curl_easy_init(void) {
  load();
  return fn.easy_init();
}

void curl_easy_cleanup(CURL *h) {
  load();
  fn.easy_cleanup(h);
}

CURLcode(curl_easy_setopt)(CURL *h, CURLoption opt, ...) {
  load();
  va_list ap;
  va_start(ap, opt);
  CURLcode rc;
  switch (opt_kind(opt)) {
  case ARG_LONG:
    rc = fn.easy_setopt(h, opt, va_arg(ap, long));
    break;
  case ARG_OFF_T:
    rc = fn.easy_setopt(h, opt, va_arg(ap, curl_off_t));
    break;
  default:
    rc = fn.easy_setopt(h, opt, va_arg(ap, void *));
    break;
  }
  va_end(ap);
  return rc;
}

CURLcode(curl_easy_getinfo)(CURL *h, CURLINFO info, ...) {
  load();
  va_list ap;
  va_start(ap, info);
  CURLcode rc = fn.easy_getinfo(h, info, va_arg(ap, void *)); /* always a pointer to the result */
  va_end(ap);
  return rc;
}

const char *curl_easy_strerror(CURLcode c) {
  load();
  return fn.easy_strerror(c);
}

CURLHcode curl_easy_header(CURL *h, const char *name, size_t index, unsigned int origin, int request,
                           struct curl_header **hout) {
  load();
  return fn.easy_header(h, name, index, origin, request, hout);
}

CURLM *curl_multi_init(void) {
  load();
  return fn.multi_init();
}

CURLMcode curl_multi_cleanup(CURLM *m) {
  load();
  return fn.multi_cleanup(m);
}

CURLMcode(curl_multi_setopt)(CURLM *m, CURLMoption opt, ...) {
  load();
  va_list ap;
  va_start(ap, opt);
  CURLMcode rc;
  switch (opt_kind(opt)) {
  case ARG_LONG:
    rc = fn.multi_setopt(m, opt, va_arg(ap, long));
    break;
  case ARG_OFF_T:
    rc = fn.multi_setopt(m, opt, va_arg(ap, curl_off_t));
    break;
  default:
    rc = fn.multi_setopt(m, opt, va_arg(ap, void *));
    break;
  }
  va_end(ap);
  return rc;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *h) {
  load();
  return fn.multi_add_handle(m, h);
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h) {
  load();
  return fn.multi_remove_handle(m, h);
}

CURLMcode curl_multi_assign(CURLM *m, curl_socket_t s, void *p) {
  load();
  return fn.multi_assign(m, s, p);
}

CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running) {
  load();
  return fn.multi_socket_action(m, s, ev, running);
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left) {
  load();
  return fn.multi_info_read(m, left);
}

CURLSH *curl_share_init(void) {
  load();
  return fn.share_init();
}

CURLSHcode curl_share_cleanup(CURLSH *s) {
  load();
  return fn.share_cleanup(s);
}

CURLSHcode(curl_share_setopt)(CURLSH *s, CURLSHoption opt, ...) {
  load();
  va_list ap;
  va_start(ap, opt);
  CURLSHcode rc;
  if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE)
    rc = fn.share_setopt(s, opt, va_arg(ap, int)); /* a curl_lock_data */
  else
    rc = fn.share_setopt(s, opt, va_arg(ap, void *));
  va_end(ap);
  return rc;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s) {
  load();
  return fn.slist_append(l, s);
}

void curl_slist_free_all(struct curl_slist *l) {
  load();
  fn.slist_free_all(l);
}

void curl_free(void *p) {
  load();
  fn.free(p);
}
