/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relay: the half of a console bridge that faces the browser, shared by the
 * VNC (bridge/vnc-ws) and RDP (bridge/rdp-ws) relays: the queue toward the
 * browser with its high/low watermarks, the count of bytes waiting toward the
 * other side (the browser is paused with lws_rx_flow_control above
 * WS_QUEUE_HIGH and resumed at WS_QUEUE_LOW), the checks every client message
 * gets, and the close: queued data first, then a close frame with the reason.
 * A bridge embeds a struct relay and keeps what faces its server. Core loop
 * thread only.
 */
#ifndef QHM_RELAY_H
#define QHM_RELAY_H

#include <stdbool.h>
#include <stddef.h>

struct lws;

/* A message toward the browser: LWS_PRE bytes of headroom, then LEN bytes. */
struct relay_chunk {
  struct relay_chunk *next;
  size_t len, cap;
  unsigned char data[];
};

struct relay_ops {
  /* The queue toward the browser drained to WS_QUEUE_LOW after relay_down_full() paused reading
   * from the server: start reading again. */
  void (*resume_read)(void *owner);
  /* Give a sent chunk back (a bridge may recycle its buffers); NULL: free(). */
  void (*put_chunk)(void *owner, struct relay_chunk *c);
  /* The relay began closing (relay_begin_close): stop reading the server; when the WebSocket is
   * gone already, let the server side go too. NULL: nothing. */
  void (*closing)(void *owner);
};

struct relay {
  struct lws *wsi; /* NULL once the WebSocket is closed */
  const struct relay_ops *ops;
  void *owner;
  bool binary; /* frames toward the browser (and from it) are binary; else text */
  struct relay_chunk *head, *tail;
  size_t down_queued; /* bytes waiting for the browser */
  size_t up_queued;   /* bytes waiting for the server */
  size_t msg_len;     /* size of the client message being received */
  bool read_paused, rx_paused, closing;
  int close_code;
  char close_reason[120];
};

void relay_init(struct relay *r, struct lws *wsi, const struct relay_ops *ops, void *owner, bool binary);
/* A chunk of LEN bytes to fill at data + LWS_PRE (plain malloc). */
struct relay_chunk *relay_chunk_new(size_t len);
/* Queue C toward the browser (asks lws for a writeable callback when the queue was empty). True
 * when the queue is now above WS_QUEUE_HIGH: the bridge stops reading its server and sets
 * read_paused; ops->resume_read is called once the browser caught up. */
bool relay_push_down(struct relay *r, struct relay_chunk *c);
/* The WebSocket's SERVER_WRITEABLE: one chunk per callback; when nothing is left and the relay
 * is closing, the close frame. -1: lws closes the connection. CAN_RESUME: the server side may be
 * read again (not closing, still connected). */
int relay_on_writeable(struct relay *r, bool can_resume);
/* Every client message: the frame kind (BINARY must equal the relay's; else WRONG_KIND is the
 * close reason) and the 1 MiB limit. false: the relay is closing (or was), drop LEN bytes. */
bool relay_accept(struct relay *r, size_t len, bool binary, bool first, const char *wrong_kind);
/* N more bytes wait toward the server (the browser is paused above WS_QUEUE_HIGH) / were written
 * (resumed at WS_QUEUE_LOW). */
void relay_up_queued(struct relay *r, size_t n);
void relay_up_written(struct relay *r, size_t n);
/* Close with CODE and REASON once queued data is out. false when it was closing already. */
bool relay_begin_close(struct relay *r, int code, const char *reason);
/* Drop the queue (the session is being freed). */
void relay_free(struct relay *r);

#endif
