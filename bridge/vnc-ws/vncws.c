/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vncws: see vncws.h. Core loop thread only. */
#include "vncws.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "relay.h"
#include "stream.h"
#include "util.h"

#define READ_CHUNK (256u << 10) /* one read from the VNC socket, one frame to the browser */
#define CHUNK_CACHE 8           /* full-size read buffers kept for reuse while consoles are open */
#define UP_BUF (256u << 10)     /* what lws hands over at most (rx_buffer_size in ws.c) */
#define UP_CACHE 4
#define VNC_SNDBUF (512 << 10) /* toward QEMU: fewer partial writes and wake-ups (the kernel doubles it) */
#define EOF_GRACE_MS 300       /* let the VM's exit name the reason before "VNC closed" does */

struct up_write {
  uv_write_t req;
  struct vncws *s;
  size_t len, cap;
  char data[];
};

struct vncws {
  struct relay r; /* the browser's side: queue, watermarks, close (relay.h) */
  struct vncws_hub *hub;
  uv_pipe_t pipe;
  uv_connect_t conn;
  uv_timer_t eof_timer;
  uv_check_t flush;       /* writes the staged upstream bytes once lws is done with this loop turn */
  struct up_write *stage; /* upstream bytes received in this loop turn, not written yet */
  int refs;               /* wsi + pipe + timer + flush */
  bool connected, reading;
  char vm_id[65];
  unsigned connect_tries;
  uv_loop_t *loop;
  char path[108]; /* the VNC socket (sun_path) */
  struct vncws *prev, *next;
};

#define CONNECT_TRIES 100   /* connecting to a busy VNC socket (EAGAIN), every CONNECT_RETRY_MS: */
#define CONNECT_RETRY_MS 20 /* 2 s in all */

/* Full-size read buffers are recycled rather than returned to malloc, which would unmap them
 * (or trim the heap) and fault fresh zeroed pages in for the next read (bench/bridge.py, perf). */
struct vncws_hub {
  struct vncws *all;
  unsigned n_all;
  struct relay_chunk *cache[CHUNK_CACHE];
  unsigned n_cache;
  struct up_write *up_cache[UP_CACHE];
  unsigned n_up_cache;
};

struct vncws_hub *vncws_hub_new(void) {
  return xcalloc(1, sizeof(struct vncws_hub));
}

static void hub_drop_buffers(struct vncws_hub *h) {
  while (h->n_cache)
    free(h->cache[--h->n_cache]);
  while (h->n_up_cache)
    free(h->up_cache[--h->n_up_cache]);
}

void vncws_hub_free(struct vncws_hub *h) {
  if (!h)
    return;
  hub_drop_buffers(h);
  free(h);
}

static struct relay_chunk *chunk_get(struct vncws_hub *h) {
  if (h->n_cache)
    return h->cache[--h->n_cache];
  return relay_chunk_new(READ_CHUNK);
}

static struct up_write *up_get(struct vncws_hub *h, size_t len) {
  if (len <= UP_BUF && h->n_up_cache)
    return h->up_cache[--h->n_up_cache];
  size_t cap = len <= UP_BUF ? UP_BUF : len;
  struct up_write *w = xmalloc(sizeof(*w) + cap);
  w->cap = cap;
  return w;
}

static void up_put(struct vncws_hub *h, struct up_write *w) {
  if (w->cap == UP_BUF && h->n_up_cache < UP_CACHE)
    h->up_cache[h->n_up_cache++] = w;
  else
    free(w);
}

static void chunk_put(struct vncws_hub *h, struct relay_chunk *c) {
  if (c && c->cap == READ_CHUNK && h->n_cache < CHUNK_CACHE)
    h->cache[h->n_cache++] = c;
  else
    free(c);
}

static void relay_put_chunk(void *owner, struct relay_chunk *c) {
  chunk_put(((struct vncws *)owner)->hub, c);
}

static void unref(struct vncws *s) {
  if (--s->refs > 0)
    return;
  struct vncws_hub *h = s->hub;
  if (s->stage)
    up_put(h, s->stage);
  relay_free(&s->r);
  if (s->prev)
    s->prev->next = s->next;
  else
    h->all = s->next;
  if (s->next)
    s->next->prev = s->prev;
  if (--h->n_all == 0) /* no console left: give the buffers back */
    hub_drop_buffers(h);
  free(s);
}

static void on_handle_closed(uv_handle_t *h) {
  unref(h->data);
}

static void close_pipe(struct vncws *s) {
  if (!uv_is_closing((uv_handle_t *)&s->pipe))
    uv_close((uv_handle_t *)&s->pipe, on_handle_closed);
  if (!uv_is_closing((uv_handle_t *)&s->eof_timer))
    uv_close((uv_handle_t *)&s->eof_timer, on_handle_closed);
  if (!uv_is_closing((uv_handle_t *)&s->flush))
    uv_close((uv_handle_t *)&s->flush, on_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void stop_reading(void *owner) {
  struct vncws *s = owner;
  if (s->reading) {
    uv_read_stop((uv_stream_t *)&s->pipe);
    s->reading = false;
  }
}

static void resume_reading(void *owner) {
  struct vncws *s = owner;
  s->reading = true;
  uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
}

static const struct relay_ops relay_ops = {resume_reading, relay_put_chunk, stop_reading};

/* Ask for the WebSocket to be closed with CODE and REASON once queued data is out. */
static void begin_close(struct vncws *s, int code, const char *reason) {
  relay_begin_close(&s->r, code, reason);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  struct relay_chunk *c = chunk_get(((struct vncws *)h->data)->hub);
  c->next = NULL;
  c->len = 0;
  c->cap = READ_CHUNK;
  *b = uv_buf_init((char *)c->data + LWS_PRE, READ_CHUNK);
}

static void on_eof_timer(uv_timer_t *t) {
  struct vncws *s = t->data;
  begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
}

/* Queue chunk C holding N (> 0) bytes read from the VNC socket. True: the queue is full. */
static bool enqueue(struct vncws *s, struct relay_chunk *c, size_t n) {
  if (n < READ_CHUNK / 16) { /* do not keep 256 KiB for a few bytes while the browser is slow */
    c = xrealloc(c, sizeof(*c) + LWS_PRE + n);
    c->cap = n;
  }
  c->len = n;
  return relay_push_down(&s->r, c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  struct vncws *s = st->data;
  struct relay_chunk *c =
      b->base
          ? (struct relay_chunk *)((unsigned char *)b->base - LWS_PRE - offsetof(struct relay_chunk, data))
          : NULL;
  if (n <= 0) {
    chunk_put(s->hub, c);
    if (n < 0) {
      uv_read_stop(st);
      s->reading = false;
      uv_timer_start(&s->eof_timer, on_eof_timer, EOF_GRACE_MS, 0);
    }
    return;
  }
  if (enqueue(s, c, (size_t)n)) {
    uv_read_stop(st);
    s->reading = false;
    s->r.read_paused = true;
  }
}

static void on_connect(uv_connect_t *req, int status);

static void on_retry_connect(uv_timer_t *t) {
  struct vncws *s = t->data;
  if (!s->r.closing && s->r.wsi)
    uv_pipe_connect(&s->conn, &s->pipe, s->path, on_connect);
}

/* A refused socket is not connected again: a fresh handle is made once the old one is closed. */
static void on_pipe_closed_for_retry(uv_handle_t *h) {
  struct vncws *s = h->data;
  if (s->r.closing || !s->r.wsi) {
    unref(s); /* the pipe's reference: nothing to retry for */
    return;
  }
  uv_pipe_init(s->loop, &s->pipe, 0);
  s->pipe.data = s;
  uv_timer_start(&s->eof_timer, on_retry_connect, CONNECT_RETRY_MS, 0);
}

static void on_connect(uv_connect_t *req, int status) {
  struct vncws *s = req->data;
  /* QEMU listens on the VNC socket with a backlog of one: a second viewer connecting before QEMU
   * has accepted the first is refused with EAGAIN. Try again for a while (the timer is idle until
   * the connection exists; it serves the end-of-stream grace afterwards). */
  if (status == UV_EAGAIN && !s->r.closing && s->r.wsi && ++s->connect_tries < CONNECT_TRIES &&
      !uv_is_closing((uv_handle_t *)&s->pipe)) {
    uv_close((uv_handle_t *)&s->pipe, on_pipe_closed_for_retry);
    return;
  }
  if (status < 0) {
    if (status != UV_ECANCELED) {
      char msg[100];
      snprintf(msg, sizeof(msg), "cannot reach the VM's VNC server: %s", uv_strerror(status));
      begin_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, msg);
    }
    return;
  }
  s->connected = true;
  s->reading = true;
  uv_os_fd_t fd;
  int sndbuf = VNC_SNDBUF;
  if (uv_fileno((uv_handle_t *)&s->pipe, &fd) == 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)); /* best effort */
  uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
}

struct vncws *vncws_open(struct vncws_hub *h, uv_loop_t *loop, struct lws *wsi, const char *vm_id,
                         const char *path) {
  struct vncws *s = xcalloc(1, sizeof(*s));
  s->hub = h;
  relay_init(&s->r, wsi, &relay_ops, s, true);
  s->refs = 4;
  snprintf(s->vm_id, sizeof(s->vm_id), "%s", vm_id);
  uv_pipe_init(loop, &s->pipe, 0);
  uv_timer_init(loop, &s->eof_timer);
  uv_check_init(loop, &s->flush);
  s->pipe.data = s->eof_timer.data = s->conn.data = s->flush.data = s;
  s->next = h->all;
  if (h->all)
    h->all->prev = s;
  h->all = s;
  h->n_all++;
  snprintf(s->path, sizeof(s->path), "%s", path);
  s->loop = loop;
  uv_pipe_connect(&s->conn, &s->pipe, s->path, on_connect);
  return s;
}

static void on_up_written(uv_write_t *req, int status) {
  struct up_write *w = (struct up_write *)req;
  struct vncws *s = w->s;
  if (status < 0 && status != UV_ECANCELED)
    begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
  relay_up_written(&s->r, w->len);
  up_put(s->hub, w);
}

/* Write the staged bytes: directly if nothing is queued, the rest queued with the buffer. */
static void flush_stage(struct vncws *s) {
  struct up_write *w = s->stage;
  s->stage = NULL;
  if (!w)
    return;
  if (s->r.closing || !w->len) {
    up_put(s->hub, w);
    return;
  }
  size_t off = 0;
  if (s->r.up_queued == 0) {
    int n = uv_try_write((uv_stream_t *)&s->pipe, &(uv_buf_t){.base = w->data, .len = w->len}, 1);
    if (n < 0 && n != UV_EAGAIN) {
      up_put(s->hub, w);
      begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
      return;
    }
    off = n > 0 ? (size_t)n : 0;
    if (off == w->len) {
      up_put(s->hub, w);
      return;
    }
  }
  w->s = s;
  w->len -= off;
  uv_buf_t b = uv_buf_init(w->data + off, (unsigned)w->len);
  if (uv_write(&w->req, (uv_stream_t *)&s->pipe, &b, 1, on_up_written) < 0) {
    up_put(s->hub, w);
    begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
    return;
  }
  relay_up_queued(&s->r, w->len);
}

static void on_flush(uv_check_t *h) {
  struct vncws *s = h->data;
  uv_check_stop(h);
  flush_stage(s);
}

int vncws_on_receive(struct vncws *s, const void *in, size_t len, int binary, int first, int final) {
  if (!relay_accept(&s->r, len, binary, first, "text frames are not accepted: send RFB as binary"))
    return 0;
  if (len == 0)
    return 0;
  if (!s->connected) {
    /* The browser spoke before the VNC connection was up: RFB clients wait for the server's
     * greeting, so this is a protocol error, not something to buffer. */
    begin_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "data before the VNC server greeting");
    return 0;
  }
  /* Stage, and write once per loop turn: lws hands over one callback per frame (noVNC's are
   * small, a fast sender's 64 KiB), and a write per callback woke QEMU for each (bench/bridge.py). */
  if (s->stage && s->stage->len + len > s->stage->cap)
    flush_stage(s);
  if (!s->stage) {
    s->stage = up_get(s->hub, len);
    s->stage->len = 0;
    uv_check_start(&s->flush, on_flush);
  }
  memcpy(s->stage->data + s->stage->len, in, len);
  s->stage->len += len;
  return 0;
}

int vncws_on_writeable(struct vncws *s) {
  return relay_on_writeable(&s->r, s->connected);
}

void vncws_on_ws_closed(struct vncws *s) {
  s->r.wsi = NULL;
  close_pipe(s);
  unref(s);
}

void vncws_close_vm(struct vncws_hub *h, const char *vm_id, const char *reason) {
  for (struct vncws *s = h->all; s; s = s->next) {
    if (strcmp(s->vm_id, vm_id) == 0) {
      uv_timer_stop(&s->eof_timer);
      begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, reason);
    }
  }
}
