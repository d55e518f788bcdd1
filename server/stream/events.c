/* SPDX-License-Identifier: GPL-2.0-or-later */
/* events: see events.h. */
#include "events.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "stream.h"
#include "util.h"

/* One serialised event, shared by every queue it is in. */
struct msg {
  int refs;
  size_t len;
  unsigned char data[]; /* LWS_PRE, then the JSON text */
};

struct events_sub {
  struct events *ev;
  struct lws *wsi;
  struct msg *q[EVENTS_QUEUE];
  unsigned head, count;
  bool overflow;
  struct events_sub *prev, *next;
};

struct events {
  struct events_sub *subs;
  events_tap_fn tap;
  void *tap_ud;
};

struct events *events_new(void) {
  return xcalloc(1, sizeof(struct events));
}

void events_free(struct events *ev) {
  free(ev);
}

void events_set_tap(struct events *ev, events_tap_fn tap, void *ud) {
  ev->tap = tap;
  ev->tap_ud = ud;
}

static void msg_unref(struct msg *m) {
  if (--m->refs == 0)
    free(m);
}

struct events_sub *events_subscribe(struct events *ev, struct lws *wsi) {
  struct events_sub *s = xcalloc(1, sizeof(*s));
  s->ev = ev;
  s->wsi = wsi;
  s->next = ev->subs;
  if (ev->subs)
    ev->subs->prev = s;
  ev->subs = s;
  return s;
}

int events_on_writeable(struct events_sub *s) {
  if (s->overflow) {
    ws_send_close(s->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow: event queue overflow, reconnect");
    return -1;
  }
  if (s->count == 0)
    return 0;
  struct msg *m = s->q[s->head];
  s->head = (s->head + 1) % EVENTS_QUEUE;
  s->count--;
  int w = lws_write(s->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
  msg_unref(m);
  if (w < 0)
    return -1;
  if (s->count)
    lws_callback_on_writable(s->wsi);
  return 0;
}

void events_on_closed(struct events_sub *s) {
  while (s->count) {
    msg_unref(s->q[s->head]);
    s->head = (s->head + 1) % EVENTS_QUEUE;
    s->count--;
  }
  if (s->prev)
    s->prev->next = s->next;
  else
    s->ev->subs = s->next;
  if (s->next)
    s->next->prev = s->prev;
  free(s);
}

void events_emit(struct events *ev, json_t *e) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  json_object_set_new(e, "at", json_integer((json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000));
  if (!ev || (!ev->subs && !ev->tap)) {
    json_decref(e);
    return;
  }
  char *txt = json_dumps(e, JSON_COMPACT);
  if (txt && ev->tap) {
    const char *type = json_string_value(json_object_get(e, "type"));
    ev->tap(ev->tap_ud, type ? type : "", txt);
  }
  json_decref(e);
  if (!txt || !ev->subs) {
    free(txt);
    return;
  }
  size_t len = strlen(txt);
  struct msg *m = xmalloc(sizeof(*m) + LWS_PRE + len);
  m->refs = 1;
  m->len = len;
  memcpy(m->data + LWS_PRE, txt, len);
  free(txt);
  for (struct events_sub *s = ev->subs; s; s = s->next) {
    if (s->overflow)
      continue;
    if (s->count == EVENTS_QUEUE) {
      s->overflow = true;
    } else {
      m->refs++;
      s->q[(s->head + s->count) % EVENTS_QUEUE] = m;
      s->count++;
    }
    lws_callback_on_writable(s->wsi);
  }
  msg_unref(m);
}
