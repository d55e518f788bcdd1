/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stream: what every WebSocket stream shares, below the listener (server/ws/)
 * and the bridges (bridge/): libwebsockets loaded lazily (lws_lazy.c), the
 * close frame, the per-session limits. The event stream (events.c) lives in
 * this layer too, so vm/ and dl/ can publish without knowing the listener.
 */
#ifndef QHM_STREAM_H
#define QHM_STREAM_H

#include <stdbool.h>

struct lws;

/* Write a close frame with CODE and REASON (at most 123 bytes) from a SERVER_WRITEABLE
 * callback that then returns -1. lws 4.1 drops the TCP connection without a close frame
 * when a writeable callback returns -1 after lws_close_reason(), so bridges use this. */
void ws_send_close(struct lws *wsi, int code, const char *reason);

/* lws_lazy.c: libwebsockets is loaded on the first connection, not at start. */
void lws_lazy_load(void);

/* Per-session limits, shared with the bridges. */
#define WS_MAX_MESSAGE (1u << 20) /* one client message; larger is closed with 1009 */
#define WS_QUEUE_HIGH (1u << 20)  /* bytes queued toward one side before the other side is paused */
#define WS_QUEUE_LOW (256u << 10)

#endif
