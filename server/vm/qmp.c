/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp: see qmp.h. */
#include "qmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct pending {
  json_int_t id;
  qmp_reply_cb cb;
  void *ud;
  char name[48];     /* the command, for messages */
  uint64_t sent;     /* now_ms() when sent */
  uint64_t deadline; /* now_ms() by which the reply is due; 0: none */
  bool abandoned;    /* its deadline passed and CB was told: a late reply is dropped */
  struct pending *next;
};

struct qmp {
  uv_pipe_t pipe;
  uv_connect_t conn_req;
  uv_timer_t timer; /* the earliest deadline of a pending command */
  int open_handles; /* pipe and timer: freed when both are closed */
  struct qmp_callbacks cb;
  void *ud;
  bool connected, ready, closing, broken, fuzzing;
  bool stalled;        /* a command's deadline passed and no reply came since */
  char stall_why[160]; /* which, for the commands refused meanwhile */
  char *buf;           /* partial line */
  size_t len, cap;
  json_int_t next_id;
  struct pending *head, *tail;
};

struct write_req {
  uv_write_t req;
  char *data;
};

static void fail_pending(struct qmp *q, const char *why) {
  struct pending *p = q->head;
  q->head = q->tail = NULL;
  uv_timer_stop(&q->timer);
  while (p) {
    struct pending *next = p->next;
    if (p->cb && !p->abandoned)
      p->cb(q, NULL, why, p->ud);
    free(p);
    p = next;
  }
}

static void on_handle_closed(uv_handle_t *h) {
  struct qmp *q = h->data;
  if (--q->open_handles > 0)
    return;
  free(q->buf);
  free(q);
}

void qmp_close(struct qmp *q) {
  if (!q || q->closing)
    return;
  q->closing = true;
  fail_pending(q, "QMP connection closed");
  uv_close((uv_handle_t *)&q->pipe, on_handle_closed);
  uv_close((uv_handle_t *)&q->timer, on_handle_closed);
}

bool qmp_stalled(const struct qmp *q) {
  return q && q->stalled;
}

const char *qmp_stall_reason(const struct qmp *q) {
  return q && q->stalled ? q->stall_why : "";
}

static void arm_timer(struct qmp *q);

/*
 * Deadlines. QEMU answers commands in order, from its main loop: a QEMU that is stopped
 * (SIGSTOP), hung or busy for long does not answer at all, and without a deadline the request
 * behind the command would wait forever. When one passes, its caller is told, the command is
 * abandoned (its reply, if QEMU ever sends it, is dropped) and the connection is "stalled": new
 * commands are refused at once instead of queueing behind it (they would run whenever QEMU
 * wakes up, long after anybody waited for them). The next reply of any command ends the stall.
 */
static void on_timer(uv_timer_t *t) {
  struct qmp *q = t->data;
  uint64_t now = now_ms();
  for (;;) { /* from the head each time: a callback may close Q (and free every pending) */
    struct pending *p = q->head;
    while (p && (p->abandoned || !p->deadline || p->deadline > now))
      p = p->next;
    if (!p || q->closing)
      break;
    p->abandoned = true;
    char why[160];
    snprintf(why, sizeof(why), "QEMU did not answer %s within %llu s", p->name,
             (unsigned long long)((p->deadline - p->sent + 999) / 1000));
    if (!q->stalled) {
      q->stalled = true;
      snprintf(q->stall_why, sizeof(q->stall_why), "%s", why);
      if (q->cb.stall)
        q->cb.stall(q, true, why, q->ud);
    }
    if (p->cb && !q->closing)
      p->cb(q, NULL, why, p->ud); /* may send commands: refused, the connection is stalled */
  }
  if (!q->closing)
    arm_timer(q);
}

static void arm_timer(struct qmp *q) {
  uint64_t first = 0;
  for (struct pending *p = q->head; p; p = p->next)
    if (!p->abandoned && p->deadline && (!first || p->deadline < first))
      first = p->deadline;
  if (!first) {
    uv_timer_stop(&q->timer);
    return;
  }
  uint64_t now = now_ms();
  uv_timer_start(&q->timer, on_timer, first > now ? first - now : 0, 0);
}

/* The peer went away or misbehaved: tell the owner once, who then calls qmp_close(). */
static void broken(struct qmp *q, const char *why) {
  if (q->closing || q->broken)
    return;
  q->broken = true;
  fail_pending(q, why);
  if (!q->ready) {
    if (q->cb.ready)
      q->cb.ready(q, why, q->ud);
  } else if (q->cb.closed) {
    q->cb.closed(q, why, q->ud);
  }
}

static void on_write(uv_write_t *req, int status) {
  struct write_req *w = (struct write_req *)req;
  free(w->data);
  free(w);
}

void qmp_fuzz_mark_connected(struct qmp *q) {
  q->connected = true;
  q->fuzzing = true;
}

static void send_json(struct qmp *q, json_t *msg) {
  if (q->fuzzing)
    return;
  char *txt = json_dumps(msg, JSON_COMPACT);
  if (!txt)
    oom();
  size_t n = strlen(txt);
  struct write_req *w = xmalloc(sizeof(*w));
  w->data = xrealloc(txt, n + 2);
  w->data[n] = '\r';
  w->data[n + 1] = '\n';
  uv_buf_t b = uv_buf_init(w->data, (unsigned)(n + 2));
  if (uv_write(&w->req, (uv_stream_t *)&q->pipe, &b, 1, on_write) < 0) {
    free(w->data);
    free(w);
    broken(q, "QMP write failed");
  }
}

void qmp_command(struct qmp *q, const char *name, json_t *args, qmp_reply_cb cb, void *ud) {
  qmp_command_timeout(q, name, args, QMP_TIMEOUT_MS, cb, ud);
}

void qmp_command_timeout(struct qmp *q, const char *name, json_t *args, unsigned timeout_ms, qmp_reply_cb cb,
                         void *ud) {
  if (q->closing || q->broken || !q->connected) {
    json_decref(args);
    if (cb)
      cb(q, NULL, "QMP not connected", ud);
    return;
  }
  if (q->stalled) {
    json_decref(args);
    if (cb) {
      char why[240];
      snprintf(why, sizeof(why), "QEMU is not answering (%s); %s was not sent", q->stall_why, name);
      cb(q, NULL, why, ud);
    }
    return;
  }
  struct pending *p = xcalloc(1, sizeof(*p));
  p->id = ++q->next_id;
  p->cb = cb;
  p->ud = ud;
  snprintf(p->name, sizeof(p->name), "%s", name);
  p->sent = now_ms();
  p->deadline = timeout_ms ? p->sent + timeout_ms : 0;
  if (q->tail)
    q->tail->next = p;
  else
    q->head = p;
  q->tail = p;
  json_t *msg = json_pack("{s:s, s:I}", "execute", name, "id", p->id);
  if (args)
    json_object_set_new(msg, "arguments", args);
  send_json(q, msg);
  json_decref(msg);
  if (p->deadline && !q->closing && !q->broken)
    arm_timer(q);
}

static void on_capabilities(struct qmp *q, json_t *ret, const char *err, void *ud) {
  if (err) {
    broken(q, err);
    return;
  }
  q->ready = true;
  if (q->cb.ready)
    q->cb.ready(q, NULL, q->ud);
}

static void handle_message(struct qmp *q, json_t *msg) {
  json_t *v;
  if ((v = json_object_get(msg, "QMP"))) {
    if (q->ready || q->head) {
      broken(q, "unexpected second QMP greeting");
      return;
    }
    /* no deadline of its own: the owner knows how long a starting QEMU may take (vm_start.c) */
    qmp_command_timeout(q, "qmp_capabilities", NULL, 0, on_capabilities, NULL);
    return;
  }
  if ((v = json_object_get(msg, "event"))) {
    if (!json_is_string(v))
      return;
    if (q->ready && q->cb.event)
      q->cb.event(q, json_string_value(v), json_object_get(msg, "data"), q->ud);
    return;
  }
  json_t *ret = json_object_get(msg, "return");
  json_t *error = json_object_get(msg, "error");
  json_t *id = json_object_get(msg, "id");
  if (!ret && !error)
    return; /* unknown message kind: ignore, as QMP asks clients to */
  if (!json_is_integer(id)) {
    broken(q, "QMP reply without a valid id");
    return;
  }
  /* Replies come in order; find the matching pending command anyway. */
  struct pending *p = q->head, *prev = NULL;
  while (p && p->id != json_integer_value(id)) {
    prev = p;
    p = p->next;
  }
  if (!p) {
    broken(q, "QMP reply to an unknown command");
    return;
  }
  if (prev)
    prev->next = p->next;
  else
    q->head = p->next;
  if (q->tail == p)
    q->tail = prev;
  if (q->stalled) { /* QEMU answers again */
    q->stalled = false;
    q->stall_why[0] = 0;
    if (q->cb.stall)
      q->cb.stall(q, false, NULL, q->ud);
  }
  if (p->deadline && !q->closing)
    arm_timer(q);
  if (p->cb && !p->abandoned && !q->closing) {
    if (error) {
      const char *desc = json_string_value(json_object_get(error, "desc"));
      p->cb(q, NULL, desc ? desc : "QMP error", p->ud);
    } else {
      p->cb(q, ret, NULL, p->ud);
    }
  }
  free(p);
}

void qmp_feed(struct qmp *q, const char *data, size_t len) {
  while (len > 0 && !q->closing && !q->broken) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) + 1 : len;
    if (q->len + take > QMP_MAX_LINE) {
      broken(q, "QMP message too long");
      return;
    }
    if (q->len + take > q->cap) {
      q->cap = (q->len + take) * 2 > QMP_MAX_LINE ? QMP_MAX_LINE : (q->len + take) * 2;
      q->buf = xrealloc(q->buf, q->cap);
    }
    memcpy(q->buf + q->len, data, take);
    q->len += take;
    data += take;
    len -= take;
    if (!nl)
      break;
    json_error_t jerr;
    json_t *msg = json_loadb(q->buf, q->len, JSON_REJECT_DUPLICATES, &jerr);
    q->len = 0;
    if (!json_is_object(msg)) {
      json_decref(msg);
      broken(q, "QMP sent a message that is not a JSON object");
      return;
    }
    handle_message(q, msg);
    json_decref(msg);
  }
  /* Shrink a buffer grown by one huge reply. */
  if (q->len == 0 && q->cap > 65536) {
    free(q->buf);
    q->buf = NULL;
    q->cap = 0;
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  static char slab[65536]; /* core loop is single-threaded; data is copied in qmp_feed */
  *b = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct qmp *q = s->data;
  if (n < 0) {
    broken(q, n == UV_EOF ? "QEMU closed the QMP connection" : uv_strerror((int)n));
    return;
  }
  qmp_feed(q, b->base, (size_t)n);
}

static void on_connect(uv_connect_t *req, int status) {
  struct qmp *q = req->data;
  if (q->closing)
    return;
  if (status < 0) {
    broken(q, uv_strerror(status));
    return;
  }
  q->connected = true;
  uv_read_start((uv_stream_t *)&q->pipe, on_alloc, on_read);
}

struct qmp *qmp_new(uv_loop_t *loop, const struct qmp_callbacks *cb, void *ud) {
  struct qmp *q = xcalloc(1, sizeof(*q));
  q->cb = *cb;
  q->ud = ud;
  uv_pipe_init(loop, &q->pipe, 0);
  uv_timer_init(loop, &q->timer);
  q->open_handles = 2;
  q->pipe.data = q;
  q->timer.data = q;
  q->conn_req.data = q;
  return q;
}

void qmp_connect(struct qmp *q, const char *path) {
  uv_pipe_connect(&q->conn_req, &q->pipe, path, on_connect);
}
