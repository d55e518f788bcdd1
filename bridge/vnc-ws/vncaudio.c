/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vncaudio: see vncaudio.h. Core loop thread only. */
#include "vncaudio.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "rfb_audio.h"
#include "stream.h"
#include "util.h"

#define READ_BUF (64u << 10)
#define PCM_CHUNK (16u << 10) /* PCM bytes per frame toward the browser, at most (~90 ms) */
#define CONNECT_TRIES 100     /* the VNC socket's backlog is one: EAGAIN while QEMU accepts another */
#define CONNECT_RETRY_MS 20
#define EOF_GRACE_MS 300 /* let the VM's exit name the reason before "VNC closed" does */

enum { K_FORMAT, K_BEGIN, K_END, K_PCM };

struct vncaudio {
  struct relay r;
  struct vncaudio_hub *hub;
  uv_loop_t *loop;
  uv_pipe_t pipe;
  uv_connect_t conn;
  uv_timer_t timer; /* connect retries, then the end-of-stream grace */
  int refs;         /* wsi + pipe + timer */
  bool reading;
  unsigned connect_tries;
  char vm_id[65];
  char path[108];
  struct rfb_audio p;
  struct relay_chunk *pcm; /* K_PCM then PCM bytes, being gathered */
  struct vncaudio *prev, *next;
  uint8_t rbuf[READ_BUF];
};

struct vncaudio_hub {
  struct vncaudio *all;
  uint64_t dropped;
};

struct vncaudio_hub *vncaudio_hub_new(void) {
  return xcalloc(1, sizeof(struct vncaudio_hub));
}

void vncaudio_hub_free(struct vncaudio_hub *h) {
  free(h);
}

uint64_t vncaudio_dropped(const struct vncaudio_hub *h) {
  return h->dropped;
}

static void unref(struct vncaudio *s) {
  if (--s->refs > 0)
    return;
  free(s->pcm);
  relay_free(&s->r);
  if (s->prev)
    s->prev->next = s->next;
  else
    s->hub->all = s->next;
  if (s->next)
    s->next->prev = s->prev;
  free(s);
}

static void on_handle_closed(uv_handle_t *h) {
  unref(h->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  struct vncaudio *s = h->data;
  *b = uv_buf_init((char *)s->rbuf, READ_BUF);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void stop_reading(void *owner) {
  struct vncaudio *s = owner;
  if (s->reading && !uv_is_closing((uv_handle_t *)&s->pipe))
    uv_read_stop((uv_stream_t *)&s->pipe);
  s->reading = false;
}

static void resume_reading(void *owner) { /* never paused: PCM is dropped instead (vncaudio.h) */
  (void)owner;
}

static const struct relay_ops relay_ops = {resume_reading, NULL, stop_reading};

static void begin_close(struct vncaudio *s, int code, const char *reason) {
  relay_begin_close(&s->r, code, reason);
}

/* A control frame of LEN bytes toward the browser. */
static void push_frame(struct vncaudio *s, const uint8_t *bytes, size_t len) {
  struct relay_chunk *c = relay_chunk_new(len);
  memcpy(c->data + LWS_PRE, bytes, len);
  c->len = len;
  relay_push_down(&s->r, c);
}

/* Send the whole frames gathered so far (the odd bytes of a frame stay for the next). */
static void flush_pcm(struct vncaudio *s) {
  struct relay_chunk *c = s->pcm;
  if (!c || c->len <= 1)
    return;
  size_t pcm = c->len - 1, whole = pcm - pcm % RFB_AUDIO_FRAME_BYTES;
  if (!whole)
    return;
  struct relay_chunk *rest = relay_chunk_new(1 + PCM_CHUNK);
  rest->data[LWS_PRE] = K_PCM;
  rest->len = 1 + (pcm - whole);
  memcpy(rest->data + LWS_PRE + 1, c->data + LWS_PRE + 1 + whole, pcm - whole);
  s->pcm = rest;
  c->len = 1 + whole;
  if (s->r.down_queued + c->len > VNCAUDIO_MAX_QUEUE) {
    s->hub->dropped += whole;
    free(c);
    return;
  }
  relay_push_down(&s->r, c);
}

static void add_pcm(struct vncaudio *s, const uint8_t *data, size_t len) {
  while (len) {
    if (!s->pcm) {
      s->pcm = relay_chunk_new(1 + PCM_CHUNK);
      s->pcm->data[LWS_PRE] = K_PCM;
      s->pcm->len = 1;
    }
    size_t room = 1 + PCM_CHUNK - s->pcm->len, n = len < room ? len : room;
    memcpy(s->pcm->data + LWS_PRE + s->pcm->len, data, n);
    s->pcm->len += n;
    data += n;
    len -= n;
    if (s->pcm->len == 1 + PCM_CHUNK)
      flush_pcm(s);
  }
}

static void on_server_written(uv_write_t *req, int status) {
  struct vncaudio *s = req->data;
  if (status < 0 && status != UV_ECANCELED)
    begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
  free(req);
}

/* The handshake's few bytes toward QEMU. */
static void write_server(struct vncaudio *s, const uint8_t *bytes, size_t len) {
  uv_write_t *req = xmalloc(sizeof(*req) + len);
  memcpy(req + 1, bytes, len);
  req->data = s;
  uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)len);
  if (uv_write(req, (uv_stream_t *)&s->pipe, &b, 1, on_server_written) < 0) {
    free(req);
    begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
  }
}

static void on_eof_timer(uv_timer_t *t) {
  begin_close(t->data, LWS_CLOSE_STATUS_GOINGAWAY, "the VM's VNC server closed the connection");
}

/* Bytes from QEMU: through the parser, each event acted on. false: the session is closing. */
static bool take(struct vncaudio *s, const uint8_t *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    size_t used;
    enum rfb_audio_event e = rfb_audio_feed(&s->p, buf + off, len - off, &used);
    off += used;
    switch (e) {
    case RFB_AUDIO_NONE:
      break;
    case RFB_AUDIO_SEND:
      write_server(s, s->p.out, s->p.out_len);
      break;
    case RFB_AUDIO_READY: {
      write_server(s, s->p.out, s->p.out_len);
      uint8_t f[8] = {K_FORMAT,
                      RFB_AUDIO_CHANNELS,
                      16,
                      0,
                      (uint8_t)RFB_AUDIO_RATE,
                      (uint8_t)(RFB_AUDIO_RATE >> 8),
                      (uint8_t)(RFB_AUDIO_RATE >> 16),
                      (uint8_t)(RFB_AUDIO_RATE >> 24)};
      push_frame(s, f, sizeof(f));
      break;
    }
    case RFB_AUDIO_BEGIN:
    case RFB_AUDIO_END: {
      flush_pcm(s);
      uint8_t k = e == RFB_AUDIO_BEGIN ? K_BEGIN : K_END;
      push_frame(s, &k, 1);
      break;
    }
    case RFB_AUDIO_DATA:
      add_pcm(s, s->p.data_ptr, s->p.data_len);
      break;
    case RFB_AUDIO_ERROR:
      begin_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, s->p.error);
      return false;
    }
  }
  flush_pcm(s);
  return true;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  (void)b;
  struct vncaudio *s = st->data;
  if (n < 0) {
    stop_reading(s);
    uv_timer_start(&s->timer, on_eof_timer, EOF_GRACE_MS, 0);
    return;
  }
  if (n > 0 && !s->r.closing)
    take(s, s->rbuf, (size_t)n);
}

static void on_connect(uv_connect_t *req, int status);

static void on_retry(uv_timer_t *t) {
  struct vncaudio *s = t->data;
  if (!s->r.closing && s->r.wsi)
    uv_pipe_connect(&s->conn, &s->pipe, s->path, on_connect);
}

static void on_closed_for_retry(uv_handle_t *h) {
  struct vncaudio *s = h->data;
  if (s->r.closing || !s->r.wsi) {
    unref(s);
    return;
  }
  uv_pipe_init(s->loop, &s->pipe, 0);
  s->pipe.data = s;
  uv_timer_start(&s->timer, on_retry, CONNECT_RETRY_MS, 0);
}

static void on_connect(uv_connect_t *req, int status) {
  struct vncaudio *s = req->data;
  if (status == UV_EAGAIN && !s->r.closing && s->r.wsi && ++s->connect_tries < CONNECT_TRIES &&
      !uv_is_closing((uv_handle_t *)&s->pipe)) {
    uv_close((uv_handle_t *)&s->pipe, on_closed_for_retry);
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
  if (s->r.closing)
    return;
  s->reading = true;
  uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
}

struct vncaudio *vncaudio_open(struct vncaudio_hub *h, uv_loop_t *loop, struct lws *wsi, const char *vm_id,
                               const char *path) {
  struct vncaudio *s = xcalloc(1, sizeof(*s));
  s->hub = h;
  s->loop = loop;
  relay_init(&s->r, wsi, &relay_ops, s, true);
  rfb_audio_init(&s->p);
  s->refs = 3;
  snprintf(s->vm_id, sizeof(s->vm_id), "%s", vm_id);
  snprintf(s->path, sizeof(s->path), "%s", path);
  uv_pipe_init(loop, &s->pipe, 0);
  uv_timer_init(loop, &s->timer);
  s->pipe.data = s->timer.data = s->conn.data = s;
  s->next = h->all;
  if (h->all)
    h->all->prev = s;
  h->all = s;
  uv_pipe_connect(&s->conn, &s->pipe, s->path, on_connect);
  return s;
}

int vncaudio_on_receive(struct vncaudio *s, size_t len) {
  (void)len;
  begin_close(s, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "this stream only sends: nothing is accepted on it");
  return 0;
}

int vncaudio_on_writeable(struct vncaudio *s) {
  return relay_on_writeable(&s->r, false);
}

void vncaudio_on_ws_closed(struct vncaudio *s) {
  s->r.wsi = NULL;
  if (!uv_is_closing((uv_handle_t *)&s->pipe))
    uv_close((uv_handle_t *)&s->pipe, on_handle_closed);
  if (!uv_is_closing((uv_handle_t *)&s->timer))
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
  unref(s);
}

void vncaudio_close_vm(struct vncaudio_hub *h, const char *vm_id, const char *reason) {
  for (struct vncaudio *s = h->all; s; s = s->next)
    if (strcmp(s->vm_id, vm_id) == 0) {
      uv_timer_stop(&s->timer);
      begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, reason);
    }
}
