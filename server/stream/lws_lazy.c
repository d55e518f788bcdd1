/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lws_lazy: libwebsockets loaded on the first WebSocket connection. The
 * daemon is not linked with libwebsockets; this file defines the lws
 * functions the daemon and the bridges call, and ws.c calls lws_lazy_load()
 * before it creates the context. libwebsockets brings OpenSSL (libssl and
 * libcrypto, ~2 MiB resident once relocated and initialised) and its libuv
 * event-loop plugin; a daemon nobody has a console or event stream open with
 * does not pay for them. Core loop thread only (the only thread that calls lws).
 */
#include <libwebsockets.h>
#include <stdbool.h>

#include "lazy.h"
#include "stream.h"

/* A HarmonyOS app ships its libraries as libs/arm64-v8a/lib*.so: `make ohos` builds them
 * without a version in the SONAME (scripts/ohos/deps.sh). */
#ifdef __OHOS__
#define LWS_SONAME "libwebsockets.so"
#else
#define LWS_SONAME "libwebsockets.so.17"
#endif

static struct {
  void (*set_log_level)(int, void (*)(int, const char *));
  struct lws_context *(*create_context)(const struct lws_context_creation_info *);
  void (*context_destroy)(struct lws_context *);
  struct lws_vhost *(*get_vhost_by_name)(struct lws_context *, const char *);
  struct lws *(*adopt_socket_vhost)(struct lws_vhost *, lws_sockfd_type);
  int (*write)(struct lws *, unsigned char *, size_t, enum lws_write_protocol);
  int (*callback_on_writable)(struct lws *);
  int (*rx_flow_control)(struct lws *, int);
  int (*hdr_copy)(struct lws *, char *, int, enum lws_token_indexes);
  int (*hdr_copy_fragment)(struct lws *, char *, int, enum lws_token_indexes, int);
  int (*hdr_fragment_length)(struct lws *, enum lws_token_indexes, int);
  int (*hdr_total_length)(struct lws *, enum lws_token_indexes);
  const char *(*get_urlarg_by_name)(struct lws *, const char *, char *, int);
  int (*add_http_header_status)(struct lws *, unsigned int, unsigned char **, unsigned char *);
  int (*add_http_header_by_token)(struct lws *, enum lws_token_indexes, const unsigned char *, int,
                                  unsigned char **, unsigned char *);
  int (*add_http_header_content_length)(struct lws *, lws_filepos_t, unsigned char **, unsigned char *);
  int (*finalize_http_header)(struct lws *, unsigned char **, unsigned char *);
  int (*frame_is_binary)(struct lws *);
  int (*is_first_fragment)(struct lws *);
  int (*is_final_fragment)(struct lws *);
  struct lws_vhost *(*create_vhost)(struct lws_context *, const struct lws_context_creation_info *);
  lws_sockfd_type (*get_socket_fd)(struct lws *);
  struct lws_context *(*get_context)(const struct lws *);
  void *(*context_user)(struct lws_context *);
} fn;

static bool loaded;

void lws_lazy_load(void) {
  if (loaded)
    return;
  const struct lazy_fn fns[] = {
      LAZY_FN(fn, set_log_level, "lws_set_log_level"),
      LAZY_FN(fn, create_context, "lws_create_context"),
      LAZY_FN(fn, context_destroy, "lws_context_destroy"),
      LAZY_FN(fn, get_vhost_by_name, "lws_get_vhost_by_name"),
      LAZY_FN(fn, adopt_socket_vhost, "lws_adopt_socket_vhost"),
      LAZY_FN(fn, write, "lws_write"),
      LAZY_FN(fn, callback_on_writable, "lws_callback_on_writable"),
      LAZY_FN(fn, rx_flow_control, "lws_rx_flow_control"),
      LAZY_FN(fn, hdr_copy, "lws_hdr_copy"),
      LAZY_FN(fn, hdr_copy_fragment, "lws_hdr_copy_fragment"),
      LAZY_FN(fn, hdr_fragment_length, "lws_hdr_fragment_length"),
      LAZY_FN(fn, hdr_total_length, "lws_hdr_total_length"),
      LAZY_FN(fn, get_urlarg_by_name, "lws_get_urlarg_by_name"),
      LAZY_FN(fn, add_http_header_status, "lws_add_http_header_status"),
      LAZY_FN(fn, add_http_header_by_token, "lws_add_http_header_by_token"),
      LAZY_FN(fn, add_http_header_content_length, "lws_add_http_header_content_length"),
      LAZY_FN(fn, finalize_http_header, "lws_finalize_http_header"),
      LAZY_FN(fn, frame_is_binary, "lws_frame_is_binary"),
      LAZY_FN(fn, is_first_fragment, "lws_is_first_fragment"),
      LAZY_FN(fn, is_final_fragment, "lws_is_final_fragment"),
      LAZY_FN(fn, create_vhost, "lws_create_vhost"),
      LAZY_FN(fn, get_socket_fd, "lws_get_socket_fd"),
      LAZY_FN(fn, get_context, "lws_get_context"),
      LAZY_FN(fn, context_user, "lws_context_user"),
  };
  lazy_load(LWS_SONAME, fns, sizeof(fns) / sizeof(fns[0]));
  loaded = true;
}

/* Every function below is reached only through a context, which ws.c creates after loading. */

void lws_set_log_level(int level, void (*emit)(int level, const char *line)) {
  fn.set_log_level(level, emit);
}

struct lws_context *lws_create_context(const struct lws_context_creation_info *info) {
  return fn.create_context(info);
}

void lws_context_destroy(struct lws_context *ctx) {
  fn.context_destroy(ctx);
}

struct lws_vhost *lws_get_vhost_by_name(struct lws_context *ctx, const char *name) {
  return fn.get_vhost_by_name(ctx, name);
}

struct lws *lws_adopt_socket_vhost(struct lws_vhost *vh, lws_sockfd_type fd) {
  return fn.adopt_socket_vhost(vh, fd);
}

int lws_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol wp) {
  return fn.write(wsi, buf, len, wp);
}

int lws_callback_on_writable(struct lws *wsi) {
  return fn.callback_on_writable(wsi);
}

int lws_rx_flow_control(struct lws *wsi, int enable) {
  return fn.rx_flow_control(wsi, enable);
}

int lws_hdr_copy(struct lws *wsi, char *dest, int len, enum lws_token_indexes h) {
  return fn.hdr_copy(wsi, dest, len, h);
}

int lws_hdr_copy_fragment(struct lws *wsi, char *dest, int len, enum lws_token_indexes h, int idx) {
  return fn.hdr_copy_fragment(wsi, dest, len, h, idx);
}

int lws_hdr_fragment_length(struct lws *wsi, enum lws_token_indexes h, int idx) {
  return fn.hdr_fragment_length(wsi, h, idx);
}

int lws_hdr_total_length(struct lws *wsi, enum lws_token_indexes h) {
  return fn.hdr_total_length(wsi, h);
}

const char *lws_get_urlarg_by_name(struct lws *wsi, const char *name, char *buf, int len) {
  return fn.get_urlarg_by_name(wsi, name, buf, len);
}

int lws_add_http_header_status(struct lws *wsi, unsigned int code, unsigned char **p, unsigned char *end) {
  return fn.add_http_header_status(wsi, code, p, end);
}

int lws_add_http_header_by_token(struct lws *wsi, enum lws_token_indexes token, const unsigned char *value,
                                 int length, unsigned char **p, unsigned char *end) {
  return fn.add_http_header_by_token(wsi, token, value, length, p, end);
}

int lws_add_http_header_content_length(struct lws *wsi, lws_filepos_t n, unsigned char **p,
                                       unsigned char *end) {
  return fn.add_http_header_content_length(wsi, n, p, end);
}

int lws_finalize_http_header(struct lws *wsi, unsigned char **p, unsigned char *end) {
  return fn.finalize_http_header(wsi, p, end);
}

int lws_frame_is_binary(struct lws *wsi) {
  return fn.frame_is_binary(wsi);
}

int lws_is_first_fragment(struct lws *wsi) {
  return fn.is_first_fragment(wsi);
}

int lws_is_final_fragment(struct lws *wsi) {
  return fn.is_final_fragment(wsi);
}

struct lws_vhost *lws_create_vhost(struct lws_context *ctx, const struct lws_context_creation_info *info) {
  return fn.create_vhost(ctx, info);
}

lws_sockfd_type lws_get_socket_fd(struct lws *wsi) {
  return fn.get_socket_fd(wsi);
}

struct lws_context *lws_get_context(const struct lws *wsi) {
  return fn.get_context(wsi);
}

void *lws_context_user(struct lws_context *ctx) {
  return fn.context_user(ctx);
}
