/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core: see core.h. The loop's life, the request queue and the answers; what runs on the loop
 * is wired in by daemon.c. */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

static void on_wake(uv_async_t *a) {
  struct core *c = a->data;
  pthread_mutex_lock(&c->lock);
  struct core_req *r = c->queue_head;
  c->queue_head = c->queue_tail = NULL;
  bool stopping = c->stopping;
  pthread_mutex_unlock(&c->lock);
  while (r) {
    struct core_req *next = r->next;
    r->next = NULL;
    if (r->run) { /* core_post: runs even while stopping (it releases what a stream held) */
      r->run(c, r->run_arg);
      core_req_free(r);
    } else if (stopping)
      core_req_reply_error(r, 503, "shutting_down", "the daemon is shutting down");
    else
      c->dispatch(c, r);
    r = next;
  }
  if (stopping)
    uv_stop(&c->loop);
}

static void on_signal(uv_signal_t *s, int signum) {
  struct core *c = s->data;
  log_info("signal %d: shutting down (VMs keep running)", signum);
  core_stop(c);
}

void core_loop_init(struct core *c, bool signals) {
  pthread_mutex_init(&c->lock, NULL);
  uv_loop_init(&c->loop);
  uv_async_init(&c->loop, &c->wake, on_wake);
  c->wake.data = c;
  c->signals = signals;
  if (signals) {
    uv_signal_init(&c->loop, &c->sigterm);
    uv_signal_init(&c->loop, &c->sigint);
    c->sigterm.data = c->sigint.data = c;
    uv_signal_start(&c->sigterm, on_signal, SIGTERM);
    uv_signal_start(&c->sigint, on_signal, SIGINT);
  }
}

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void core_loop_fini(struct core *c) {
  uv_close((uv_handle_t *)&c->wake, NULL);
  if (c->signals) {
    uv_close((uv_handle_t *)&c->sigterm, NULL);
    uv_close((uv_handle_t *)&c->sigint, NULL);
  }
  uv_run(&c->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&c->loop) != 0) {
    uv_walk(&c->loop, close_walk, NULL); /* anything left is ours to close now */
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
  }
  pthread_mutex_destroy(&c->lock);
}

void core_run(struct core *c) {
  uv_run(&c->loop, UV_RUN_DEFAULT);
}

void core_stop(struct core *c) {
  pthread_mutex_lock(&c->lock);
  c->stopping = true;
  pthread_mutex_unlock(&c->lock);
  uv_async_send(&c->wake);
}

void core_submit(struct core *c, struct core_req *r) {
  r->next = NULL;
  pthread_mutex_lock(&c->lock);
  if (c->stopping) {
    pthread_mutex_unlock(&c->lock);
    if (r->run) { /* core_post: cannot run any more; its argument is plain memory */
      free(r->run_arg);
      core_req_free(r);
      return;
    }
    core_req_reply_error(r, 503, "shutting_down", "the daemon is shutting down");
    return;
  }
  if (c->queue_tail)
    c->queue_tail->next = r;
  else
    c->queue_head = r;
  c->queue_tail = r;
  pthread_mutex_unlock(&c->lock);
  uv_async_send(&c->wake);
}

void core_req_reply_bytes(struct core_req *r, int status, const char *ctype, char *data, size_t len) {
  r->status = status;
  r->content_type = (char *)ctype;
  r->resp = data;
  r->resp_len = len;
  r->done(r);
}

void core_req_reply_json(struct core_req *r, int status, json_t *body) {
  char *txt = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!txt)
    oom();
  core_req_reply_bytes(r, status, "application/json", txt, strlen(txt));
}

void core_req_reply_error(struct core_req *r, int status, const char *code, const char *fmt, ...) {
  va_list ap;
  char msg[2048];
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  utf8_sanitize(msg);
  core_req_reply_json(r, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

void core_req_reply_stream(struct core_req *r, int status, struct core_stream *s) {
  r->status = status;
  r->content_type = (char *)s->ctype;
  r->stream = s;
  r->done(r);
}

void core_post(struct core *c, void (*fn)(struct core *c, void *arg), void *arg) {
  struct core_req *r = xcalloc(1, sizeof(*r));
  r->run = fn;
  r->run_arg = arg;
  core_submit(c, r);
}

void core_req_free(struct core_req *r) {
  if (!r)
    return;
  if (r->stream) { /* never sent */
    r->stream->release(r->stream->ud);
    free(r->stream);
  }
  free(r->path);
  free(r->query_tail);
  free(r->query_keep_disks);
  free(r->query_dry_run);
  free(r->query_format);
  free(r->body);
  free(r->upload_tmp);
  free(r->resp);
  free(r);
}
