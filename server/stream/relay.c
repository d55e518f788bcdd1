/* SPDX-License-Identifier: GPL-2.0-or-later */
/* relay: see relay.h. */
#include "relay.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>

#include "stream.h"
#include "util.h"

void relay_init(struct relay *r, struct lws *wsi, const struct relay_ops *ops, void *owner, bool binary) {
  *r = (struct relay){.wsi = wsi, .ops = ops, .owner = owner, .binary = binary};
}

struct relay_chunk *relay_chunk_new(size_t len) {
  struct relay_chunk *c = xmalloc(sizeof(*c) + LWS_PRE + len);
  c->next = NULL;
  c->len = 0;
  c->cap = len;
  return c;
}

static void put_chunk(struct relay *r, struct relay_chunk *c) {
  if (r->ops->put_chunk)
    r->ops->put_chunk(r->owner, c);
  else
    free(c);
}

bool relay_push_down(struct relay *r, struct relay_chunk *c) {
  /* Ask for a writeable callback only for the first chunk: while chunks wait, one is pending
   * (lws keeps POLLOUT until it has called us), and asking again restarts lws's uv_poll, an
   * epoll DEL + ADD that also drops the writability already reported in this loop turn. */
  bool was_empty = !r->head;
  c->next = NULL;
  if (r->tail)
    r->tail->next = c;
  else
    r->head = c;
  r->tail = c;
  r->down_queued += c->len;
  if (r->wsi && was_empty)
    lws_callback_on_writable(r->wsi);
  return r->down_queued >= WS_QUEUE_HIGH;
}

int relay_on_writeable(struct relay *r, bool can_resume) {
  struct relay_chunk *c = r->head;
  if (c) {
    /* One frame per callback: writeable means a third of the socket buffer is free, so a 256 KiB
     * frame rarely leaves lws a remainder to copy aside (more frames per callback did, and cost
     * more than the event loop round trips they saved; bench/bridge.py). */
    r->head = c->next;
    if (!r->head)
      r->tail = NULL;
    r->down_queued -= c->len;
    int w = lws_write(r->wsi, c->data + LWS_PRE, c->len, r->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    put_chunk(r, c);
    if (w < 0)
      return -1;
    if (r->read_paused && r->down_queued <= WS_QUEUE_LOW && !r->closing && can_resume) {
      r->read_paused = false;
      r->ops->resume_read(r->owner);
    }
    if (r->head || r->closing)
      lws_callback_on_writable(r->wsi);
    return 0;
  }
  if (r->closing) {
    ws_send_close(r->wsi, r->close_code, r->close_reason);
    return -1;
  }
  return 0;
}

bool relay_accept(struct relay *r, size_t len, bool binary, bool first, const char *wrong_kind) {
  if (r->closing)
    return false;
  if (binary != r->binary) {
    relay_begin_close(r, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, wrong_kind);
    return false;
  }
  r->msg_len = first ? len : r->msg_len + len;
  if (r->msg_len > WS_MAX_MESSAGE) {
    relay_begin_close(r, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message over 1 MiB");
    return false;
  }
  return true;
}

void relay_up_queued(struct relay *r, size_t n) {
  r->up_queued += n;
  if (r->up_queued > WS_QUEUE_HIGH && !r->rx_paused && r->wsi) {
    r->rx_paused = true;
    lws_rx_flow_control(r->wsi, 0);
  }
}

void relay_up_written(struct relay *r, size_t n) {
  r->up_queued -= n;
  if (r->rx_paused && r->up_queued <= WS_QUEUE_LOW && r->wsi) {
    r->rx_paused = false;
    lws_rx_flow_control(r->wsi, 1);
  }
}

bool relay_begin_close(struct relay *r, int code, const char *reason) {
  if (r->closing)
    return false;
  r->closing = true;
  r->close_code = code;
  snprintf(r->close_reason, sizeof(r->close_reason), "%s", reason);
  if (r->ops->closing)
    r->ops->closing(r->owner); /* what is queued still goes out; nothing new is read */
  if (r->wsi)
    lws_callback_on_writable(r->wsi);
  return true;
}

void relay_free(struct relay *r) {
  while (r->head) {
    struct relay_chunk *c = r->head;
    r->head = c->next;
    put_chunk(r, c);
  }
  r->tail = NULL;
  r->down_queued = 0;
}
