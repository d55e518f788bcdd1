/* SPDX-License-Identifier: GPL-2.0-or-later */
/* serialws: see serialws.h. */
#include "serialws.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stream.h"
#include "util.h"

/* One frame at most this big toward the browser. */
#define FRAME_MAX 16384u
/* Each viewer's kernel send buffer (SO_SNDBUF; Linux doubles it). Left to autotuning, a loopback
 * socket's grows to megabytes when its reader's window is small, and then holds the output a
 * viewer has not read out of SERIALWS_MAX_QUEUE's reach: a stalled viewer would never be closed.
 * A serial line needs little: 64 KiB is 13 MB/s at a LAN's 5 ms. */
#define SERIALWS_SNDBUF (64 * 1024)

struct serialws {
  struct serialws_hub *hub;
  struct lws *wsi;
  char vm_id[65];
  unsigned char *q; /* LWS_PRE bytes, then what waits for the browser */
  size_t len, cap;
  bool overflow;
  char close_reason[120]; /* set: close with it (and CLOSE_CODE) once the queue is sent */
  int close_code;
  struct serialws *prev, *next;
};

struct serialws_hub {
  struct serialws *head;
  serialws_input_fn input;
  void *ud;
  unsigned count;
};

struct serialws_hub *serialws_hub_new(serialws_input_fn input, void *ud) {
  struct serialws_hub *h = xcalloc(1, sizeof(*h));
  h->input = input;
  h->ud = ud;
  return h;
}

void serialws_hub_free(struct serialws_hub *h) {
  free(h);
}

unsigned serialws_count(const struct serialws_hub *h) {
  return h ? h->count : 0;
}

static void enqueue(struct serialws *s, const char *data, size_t len) {
  if (s->overflow || s->close_reason[0] || len == 0)
    return;
  if (s->len + len > SERIALWS_MAX_QUEUE) {
    s->overflow = true;
  } else {
    if (LWS_PRE + s->len + len > s->cap) {
      size_t cap = s->cap ? s->cap : 4096;
      while (cap < LWS_PRE + s->len + len)
        cap *= 2;
      s->q = xrealloc(s->q, cap);
      s->cap = cap;
    }
    memcpy(s->q + LWS_PRE + s->len, data, len);
    s->len += len;
  }
  lws_callback_on_writable(s->wsi);
}

struct serialws *serialws_open(struct serialws_hub *h, struct lws *wsi, const char *vm_id, const char *replay,
                               size_t len) {
  struct serialws *s = xcalloc(1, sizeof(*s));
  s->hub = h;
  s->wsi = wsi;
  snprintf(s->vm_id, sizeof(s->vm_id), "%s", vm_id);
  s->next = h->head;
  if (h->head)
    h->head->prev = s;
  h->head = s;
  h->count++;
  int fd = lws_get_socket_fd(wsi), sndbuf = SERIALWS_SNDBUF;
  if (fd >= 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)); /* best effort */
  enqueue(s, replay, len);
  return s;
}

int serialws_on_receive(struct serialws *s, const void *in, size_t len) {
  if (len > SERIALWS_MAX_INPUT) {
    snprintf(s->close_reason, sizeof(s->close_reason), "input messages are at most %u bytes",
             SERIALWS_MAX_INPUT);
    s->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
    lws_callback_on_writable(s->wsi);
    return 0;
  }
  /* A guest that is not running, or a full socket: the keystroke is lost, as on a real line. */
  if (len && s->hub->input)
    s->hub->input(s->hub->ud, s->vm_id, in, len);
  return 0;
}

int serialws_on_writeable(struct serialws *s) {
  if (s->overflow) {
    ws_send_close(s->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                  "too slow: the serial output piled up, reconnect");
    return -1;
  }
  if (s->len) {
    size_t n = s->len < FRAME_MAX ? s->len : FRAME_MAX;
    if (lws_write(s->wsi, s->q + LWS_PRE, n, LWS_WRITE_BINARY) < (int)n)
      return -1;
    memmove(s->q + LWS_PRE, s->q + LWS_PRE + n, s->len - n);
    s->len -= n;
    if (s->len || s->close_reason[0])
      lws_callback_on_writable(s->wsi);
    return 0;
  }
  if (s->close_reason[0]) {
    ws_send_close(s->wsi, s->close_code, s->close_reason);
    return -1;
  }
  return 0;
}

void serialws_on_ws_closed(struct serialws *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    s->hub->head = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->hub->count--;
  free(s->q);
  free(s);
}

void serialws_output(struct serialws_hub *h, const char *vm_id, const char *data, size_t len) {
  for (struct serialws *s = h ? h->head : NULL; s; s = s->next)
    if (strcmp(s->vm_id, vm_id) == 0)
      enqueue(s, data, len);
}

void serialws_close_vm(struct serialws_hub *h, const char *vm_id, const char *reason) {
  for (struct serialws *s = h ? h->head : NULL; s; s = s->next)
    if (strcmp(s->vm_id, vm_id) == 0 && !s->close_reason[0]) {
      snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
      s->close_code = LWS_CLOSE_STATUS_NORMAL;
      lws_callback_on_writable(s->wsi);
    }
}
