/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dl_engine: see dl_engine.h. Modelled on curl's docs/examples/multi-uv.c. */
#include "dl_engine.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct dl_engine {
  uv_loop_t *loop;
  CURLM *multi;
  CURLSH *share;
  uv_timer_t *timer;
  bool in_action;
  void (*after)(void *ud);
  void *after_ud;
};

struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  struct dl_engine *e;
};

struct xfer {
  dl_engine_done_cb cb;
  void *ud;
};

static void check_done(struct dl_engine *e) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(e->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    CURL *easy = msg->easy_handle;
    CURLcode rc = msg->data.result;
    struct xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    curl_multi_remove_handle(e->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    if (x) {
      dl_engine_done_cb cb = x->cb;
      void *ud = x->ud;
      free(x);
      cb(easy, rc, ud);
    }
  }
}

static void action(struct dl_engine *e, curl_socket_t fd, int flags) {
  int running;
  curl_multi_socket_action(e->multi, fd, flags, &running);
  if (e->after)
    e->after(e->after_ud);
  check_done(e);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  struct sock_ctx *s = p->data;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  action(s->e, s->fd, flags);
}

static void on_timer(uv_timer_t *t) {
  action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static void free_sock(uv_handle_t *h) {
  free(h->data);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  struct dl_engine *e = userp;
  struct sock_ctx *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      uv_close((uv_handle_t *)&s->poll, free_sock);
      curl_multi_assign(e->multi, fd, NULL);
    }
    return 0;
  }
  if (!s) {
    s = xcalloc(1, sizeof(*s));
    s->fd = fd;
    s->e = e;
    if (uv_poll_init_socket(e->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    curl_multi_assign(e->multi, fd, s);
  }
  int ev = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    ev |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    ev |= UV_WRITABLE;
  uv_poll_start(&s->poll, ev, on_poll);
  return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  struct dl_engine *e = userp;
  if (timeout_ms < 0)
    uv_timer_stop(e->timer);
  else
    uv_timer_start(e->timer, on_timer, (uint64_t)timeout_ms, 0); /* 0: on the next loop turn */
  return 0;
}

static void free_handle(uv_handle_t *h) {
  free(h);
}

/* libcurl (loaded on first use, see curl_lazy.c) is set up with the first transfer, so a
 * daemon that never downloads never loads it. */
static void engine_start(struct dl_engine *e) {
  static bool global;
  if (e->multi)
    return;
  if (!global) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    global = true;
  }
  e->multi = curl_multi_init();
  e->share = curl_share_init();
  if (!e->multi || !e->share)
    oom();
  curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
  curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
  curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
}

struct dl_engine *dl_engine_new(uv_loop_t *loop) {
  struct dl_engine *e = xcalloc(1, sizeof(*e));
  e->loop = loop;
  e->timer = xcalloc(1, sizeof(*e->timer));
  uv_timer_init(loop, e->timer);
  e->timer->data = e;
  return e;
}

void dl_engine_free(struct dl_engine *e) {
  if (!e)
    return;
  CURL **all = NULL;
  if (!e->multi)
    goto timer;
#if LIBCURL_VERSION_NUM >= 0x080400
  all = curl_multi_get_handles(e->multi);
#endif
  if (all) {
    for (CURL **p = all; *p; p++)
      dl_engine_remove(e, *p);
    curl_free(all);
  }
  curl_multi_cleanup(e->multi); /* closes the sockets: socket_cb closes their polls */
  curl_share_cleanup(e->share);
timer:
  uv_timer_stop(e->timer);
  uv_close((uv_handle_t *)e->timer, free_handle);
  free(e);
}

void dl_engine_add(struct dl_engine *e, CURL *easy, dl_engine_done_cb cb, void *ud) {
  engine_start(e);
  struct xfer *x = xcalloc(1, sizeof(*x));
  x->cb = cb;
  x->ud = ud;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
  curl_easy_setopt(easy, CURLOPT_SHARE, e->share);
  curl_multi_add_handle(e->multi, easy); /* curl calls timer_cb to get going */
}

void dl_engine_remove(struct dl_engine *e, CURL *easy) {
  if (!e->multi)
    return; /* nothing was ever added */
  struct xfer *x = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
  if (!x)
    return;
  curl_multi_remove_handle(e->multi, easy);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
  free(x);
}

void dl_engine_on_action(struct dl_engine *e, void (*cb)(void *ud), void *ud) {
  e->after = cb;
  e->after_ud = ud;
}

void dl_engine_common_opts(CURL *easy) {
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 512L); /* a stalled connection errors out... */
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 15L);   /* ...and is retried */
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "qemu-hmos/" QHM_VERSION);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
}

struct dl_fetch {
  struct dl_engine *e;
  CURL *easy;
  struct curl_slist *hdrs;
  char *buf;
  size_t len, max;
  bool too_big;
  dl_fetch_cb cb;
  void *ud;
};

static size_t fetch_write(char *p, size_t sz, size_t nm, void *ud) {
  struct dl_fetch *f = ud;
  size_t n = sz * nm;
  if (f->len + n > f->max) {
    f->too_big = true;
    return 0;
  }
  f->buf = xrealloc(f->buf, f->len + n + 1);
  memcpy(f->buf + f->len, p, n);
  f->len += n;
  f->buf[f->len] = 0;
  return n;
}

static void fetch_free(struct dl_fetch *f) {
  curl_easy_cleanup(f->easy);
  curl_slist_free_all(f->hdrs);
  free(f->buf);
  free(f);
}

static void fetch_done(CURL *easy, CURLcode rc, void *ud) {
  struct dl_fetch *f = ud;
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  char err[256] = "";
  if (f->too_big)
    snprintf(err, sizeof(err), "the answer is larger than %zu bytes", f->max);
  else if (rc != CURLE_OK)
    snprintf(err, sizeof(err), "%s", curl_easy_strerror(rc));
  f->cb(f->ud, easy, status, f->buf ? f->buf : "", f->len, err[0] ? err : NULL);
  fetch_free(f);
}

struct dl_fetch *dl_fetch_start(struct dl_engine *e, const char *url, const char *const *headers, size_t max,
                                dl_fetch_cb cb, void *ud) {
  struct dl_fetch *f = xcalloc(1, sizeof(*f));
  f->e = e;
  f->max = max;
  f->cb = cb;
  f->ud = ud;
  f->easy = curl_easy_init();
  if (!f->easy)
    oom();
  dl_engine_common_opts(f->easy);
  curl_easy_setopt(f->easy, CURLOPT_URL, url);
  curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, fetch_write);
  curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, 60000L);
  curl_easy_setopt(f->easy, CURLOPT_ACCEPT_ENCODING, ""); /* small texts: let curl decompress */
  for (const char *const *h = headers; h && *h; h++)
    f->hdrs = curl_slist_append(f->hdrs, *h);
  if (f->hdrs)
    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdrs);
  dl_engine_add(e, f->easy, fetch_done, f);
  return f;
}

void dl_fetch_cancel(struct dl_fetch *f) {
  if (!f)
    return;
  dl_engine_remove(f->e, f->easy);
  fetch_free(f);
}
