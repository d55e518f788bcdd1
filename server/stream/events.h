/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * events: the /events WebSocket stream. Modules call events_emit() with a
 * JSON object (VM state changes, crash records, VM created/deleted); every
 * subscriber gets it as one text message. Each subscriber has a bounded queue
 * (EVENTS_QUEUE messages); one that falls that far behind is closed with 1008
 * so it reconnects and re-reads the state, instead of growing memory.
 * Core loop thread only.
 */
#ifndef QHM_EVENTS_H
#define QHM_EVENTS_H

#include <jansson.h>

#define EVENTS_QUEUE 256

struct lws;
struct events; /* one daemon's event stream: its subscribers */
struct events_sub;

struct events *events_new(void);
/* Once every subscriber is gone (after the loop's last run). */
void events_free(struct events *ev);
struct events_sub *events_subscribe(struct events *ev, struct lws *wsi);
int events_on_writeable(struct events_sub *s); /* -1 closes */
void events_on_closed(struct events_sub *s);
/* Send E (a JSON object, stolen) to every subscriber of EV; "at" (unix ms) is added. */
void events_emit(struct events *ev, json_t *e);
/* A tap that sees every event events_emit sends, as the same JSON text, with its "type": the
 * embedder's hook (daemon.c, qhm_daemon_on_event). Called inside events_emit; NULL removes it. */
typedef void (*events_tap_fn)(void *ud, const char *type, const char *json);
void events_set_tap(struct events *ev, events_tap_fn tap, void *ud);

#endif
