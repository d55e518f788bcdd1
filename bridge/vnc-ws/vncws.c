/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vncws: see vncws.h. Core loop thread only. */
#include "vncws.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"
#include "stream.h"

#define READ_CHUNK (256u << 10) /* one read from the VNC socket, one frame to the browser */
#define CHUNK_CACHE 8           /* full-size read buffers kept for reuse while consoles are open */
#define UP_BUF (256u << 10)     /* what lws hands over at most (rx_buffer_size in ws.c) */
#define UP_CACHE 4
#define VNC_SNDBUF (512 << 10) /* toward QEMU: fewer partial writes and wake-ups (the kernel doubles it) */
#define EOF_GRACE_MS 300       /* let the VM's exit name the reason before "VNC closed" does */

struct chunk {
  struct chunk *next;
  size_t len, cap;
  unsigned char data[]; /* LWS_PRE headroom, then len bytes */
};

struct up_write {
  uv_write_t req;
  struct vncws *s;
  size_t len, cap;
  char data[];
};

struct vncws {
  struct lws *wsi; /* NULL once the WebSocket is closed */
  uv_pipe_t pipe;
  uv_connect_t conn;
  uv_timer_t eof_timer;
  uv_check_t flush;       /* writes the staged upstream bytes once lws is done with this loop turn */
  struct up_write *stage; /* upstream bytes received in this loop turn, not written yet */
  int refs;               /* wsi + pipe + timer + flush */
  bool connected, reading, read_paused, rx_paused, closing;
  char vm_id[65];
  struct chunk *head, *tail;
  size_t down_queued; /* bytes waiting for the browser */
  size_t up_queued;   /* bytes waiting for QEMU */
  size_t msg_len;     /* size of the client message being received */
  int close_code;
  char close_reason[100];
  unsigned connect_tries;
  uv_loop_t *loop;
  char path[108]; /* the VNC socket (sun_path) */
  struct vncws *prev, *next;
};

#define CONNECT_TRIES 100   /* connecting to a busy VNC socket (EAGAIN), every CONNECT_RETRY_MS: */
#define CONNECT_RETRY_MS 20 /* 2 s in all */

static struct vncws *all;
static unsigned n_all;

/* Full-size read buffers are recycled rather than returned to malloc, which would unmap them
 * (or trim the heap) and fault fresh zeroed pages in for the next read (bench/bridge.py, perf). */
static struct chunk *cache[CHUNK_CACHE];
static unsigned n_cache;

static struct chunk *chunk_get(void) {
  if (n_cache)
    return cache[--n_cache];
  return xmalloc(sizeof(struct chunk) + LWS_PRE + READ_CHUNK);
}

static struct up_write *up_cache[UP_CACHE];
static unsigned n_up_cache;

static struct up_write *up_get(size_t len) {
  if (len <= UP_BUF && n_up_cache)
    return up_cache[--n_up_cache];
  size_t cap = len <= UP_BUF ? UP_BUF : len;
  struct up_write *w = xmalloc(sizeof(*w) + cap);
  w->cap = cap;
  return w;
}

static void up_put(struct up_write *w) {
  if (w->cap == UP_BUF && n_up_cache < UP_CACHE)
    up_cache[n_up_cache++] = w;
  else
    free(w);
}

static void chunk_put(struct chunk *c) {
  if (c && c->cap == READ_CHUNK && n_cache < CHUNK_CACHE)
    cache[n_cache++] = c;
  else
    free(c);
}

static void unref(struct vncws *s) {
  if (--s->refs > 0)
    return;
  if (s->stage)
    up_put(s->stage);
  while (s->head) {
    struct chunk *c = s->head;
    s->head = c->next;
    chunk_put(c);
  }
  if (s->prev)
    s->prev->next = s->next;
  else
    all = s->next;
  if (s->next)
    s->next->prev = s->prev;
  if (--n_all == 0) { /* no console left: give the buffers back */
    while (n_cache)
      free(cache[--n_cache]);
    while (n_up_cache)
      free(up_cache[--n_up_cache]);
  }
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

/* Ask for the WebSocket to be closed with CODE and REASON once queued data is out. */
static void begin_close(struct vncws *s, int code, const char *reason) {
  if (s->closing)
    return;
  s->closing = true;
  if (s->reading) { /* what is queued still goes out; nothing new is read */
    uv_read_stop((uv_stream_t *)&s->pipe);
    s->reading = false;
  }
  s->close_code = code;
  snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
  if (s->wsi)
    lws_callback_on_writable(s->wsi);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  struct chunk *c = chunk_get();
  c->next = NULL;
  c->len = 0;
  c->cap = READ_CHUNK;
  *b = uv_buf_init((char *)c->data + LWS_PRE, READ_CHUNK);
}

static void on_eof_timer(uv_timer_t *t) {
  struct vncws *s = t->data;
  begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
}

/* Queue chunk C holding N (> 0) bytes read from the VNC socket. */
static struct chunk *enqueue(struct vncws *s, struct chunk *c, size_t n) {
  if (n < READ_CHUNK / 16) { /* do not keep 256 KiB for a few bytes while the browser is slow */
    c = xrealloc(c, sizeof(*c) + LWS_PRE + n);
    c->cap = n;
  }
  c->len = n;
  c->next = NULL;
  if (s->tail)
    s->tail->next = c;
  else
    s->head = c;
  s->tail = c;
  s->down_queued += n;
  return c;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  struct vncws *s = st->data;
  struct chunk *c =
      b->base ? (struct chunk *)((unsigned char *)b->base - LWS_PRE - offsetof(struct chunk, data)) : NULL;
  if (n <= 0) {
    chunk_put(c);
    if (n < 0) {
      uv_read_stop(st);
      s->reading = false;
      uv_timer_start(&s->eof_timer, on_eof_timer, EOF_GRACE_MS, 0);
    }
    return;
  }
  /* Ask for a writeable callback only for the first chunk: while chunks wait, one is pending
   * (lws keeps POLLOUT until it has called us), and asking again restarts lws's uv_poll, an
   * epoll DEL + ADD that also drops the writability already reported in this loop turn. */
  bool was_empty = !s->head;
  enqueue(s, c, (size_t)n);
  if (s->down_queued >= WS_QUEUE_HIGH) {
    uv_read_stop(st);
    s->reading = false;
    s->read_paused = true;
  }
  if (s->wsi && was_empty)
    lws_callback_on_writable(s->wsi);
}

static void on_connect(uv_connect_t *req, int status);

static void on_retry_connect(uv_timer_t *t) {
  struct vncws *s = t->data;
  if (!s->closing && s->wsi)
    uv_pipe_connect(&s->conn, &s->pipe, s->path, on_connect);
}

/* A refused socket is not connected again: a fresh handle is made once the old one is closed. */
static void on_pipe_closed_for_retry(uv_handle_t *h) {
  struct vncws *s = h->data;
  if (s->closing || !s->wsi) {
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
  if (status == UV_EAGAIN && !s->closing && s->wsi && ++s->connect_tries < CONNECT_TRIES &&
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

struct vncws *vncws_open(uv_loop_t *loop, struct lws *wsi, const char *vm_id, const char *path) {
  struct vncws *s = xcalloc(1, sizeof(*s));
  s->wsi = wsi;
  s->refs = 4;
  snprintf(s->vm_id, sizeof(s->vm_id), "%s", vm_id);
  uv_pipe_init(loop, &s->pipe, 0);
  uv_timer_init(loop, &s->eof_timer);
  uv_check_init(loop, &s->flush);
  s->pipe.data = s->eof_timer.data = s->conn.data = s->flush.data = s;
  s->next = all;
  if (all)
    all->prev = s;
  all = s;
  n_all++;
  snprintf(s->path, sizeof(s->path), "%s", path);
  s->loop = loop;
  uv_pipe_connect(&s->conn, &s->pipe, s->path, on_connect);
  return s;
}

static void on_up_written(uv_write_t *req, int status) {
  struct up_write *w = (struct up_write *)req;
  struct vncws *s = w->s;
  s->up_queued -= w->len;
  if (status < 0 && status != UV_ECANCELED)
    begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
  if (s->rx_paused && s->up_queued <= WS_QUEUE_LOW && s->wsi) {
    s->rx_paused = false;
    lws_rx_flow_control(s->wsi, 1);
  }
  up_put(w);
}

/* Write the staged bytes: directly if nothing is queued, the rest queued with the buffer. */
static void flush_stage(struct vncws *s) {
  struct up_write *w = s->stage;
  s->stage = NULL;
  if (!w)
    return;
  if (s->closing || !w->len) {
    up_put(w);
    return;
  }
  size_t off = 0;
  if (s->up_queued == 0) {
    int n = uv_try_write((uv_stream_t *)&s->pipe, &(uv_buf_t){.base = w->data, .len = w->len}, 1);
    if (n < 0 && n != UV_EAGAIN) {
      up_put(w);
      begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
      return;
    }
    off = n > 0 ? (size_t)n : 0;
    if (off == w->len) {
      up_put(w);
      return;
    }
  }
  w->s = s;
  w->len -= off;
  uv_buf_t b = uv_buf_init(w->data + off, (unsigned)w->len);
  s->up_queued += w->len;
  if (uv_write(&w->req, (uv_stream_t *)&s->pipe, &b, 1, on_up_written) < 0) {
    s->up_queued -= w->len;
    up_put(w);
    begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
    return;
  }
  if (s->up_queued > WS_QUEUE_HIGH && !s->rx_paused && s->wsi) {
    s->rx_paused = true;
    lws_rx_flow_control(s->wsi, 0);
  }
}

static void on_flush(uv_check_t *h) {
  struct vncws *s = h->data;
  uv_check_stop(h);
  flush_stage(s);
}

int vncws_on_receive(struct vncws *s, const void *in, size_t len, int binary, int first, int final) {
  if (s->closing)
    return 0;
  if (!binary) {
    begin_close(s, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "text frames are not accepted: send RFB as binary");
    return 0;
  }
  s->msg_len = first ? len : s->msg_len + len;
  if (s->msg_len > WS_MAX_MESSAGE) {
    begin_close(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message over 1 MiB");
    return 0;
  }
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
    s->stage = up_get(len);
    s->stage->len = 0;
    uv_check_start(&s->flush, on_flush);
  }
  memcpy(s->stage->data + s->stage->len, in, len);
  s->stage->len += len;
  return 0;
}

int vncws_on_writeable(struct vncws *s) {
  struct chunk *c = s->head;
  if (c) {
    /* One frame per callback: writeable means a third of the socket buffer is free, so a 256 KiB
     * frame rarely leaves lws a remainder to copy aside (more frames per callback did, and cost
     * more than the event loop round trips they saved; bench/bridge.py). */
    s->head = c->next;
    if (!s->head)
      s->tail = NULL;
    s->down_queued -= c->len;
    int w = lws_write(s->wsi, c->data + LWS_PRE, c->len, LWS_WRITE_BINARY);
    chunk_put(c);
    if (w < 0)
      return -1;
    if (s->read_paused && s->down_queued <= WS_QUEUE_LOW && !s->closing && s->connected) {
      s->read_paused = false;
      s->reading = true;
      uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
    }
    if (s->head || s->closing)
      lws_callback_on_writable(s->wsi);
    return 0;
  }
  if (s->closing) {
    ws_send_close(s->wsi, s->close_code, s->close_reason);
    return -1;
  }
  return 0;
}

void vncws_on_ws_closed(struct vncws *s) {
  s->wsi = NULL;
  close_pipe(s);
  unref(s);
}

void vncws_close_vm(const char *vm_id, const char *reason) {
  for (struct vncws *s = all; s; s = s->next) {
    if (strcmp(s->vm_id, vm_id) == 0) {
      uv_timer_stop(&s->eof_timer);
      begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, reason);
    }
  }
}

unsigned vncws_count(void) {
  return n_all;
}
