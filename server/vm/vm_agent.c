/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_agent: GET /vms/{id}/guest — what the QEMU guest agent (qemu-ga) in the
 * guest says about it: version, host name, OS, network interfaces and their
 * addresses. Core loop thread only.
 *
 * QEMU listens on DATA/vms/ID/run/qga.sock for the VM's org.qemu.guest_agent.0
 * port. Nothing answers there unless an agent runs in the guest, and a reply
 * can arrive after its question was given up on, so each query opens its own
 * connection, first sends guest-sync-delimited with a fresh id (the agent
 * answers it after a 0xFF byte, and drops what it was doing), skips whatever
 * comes before that answer, then asks its questions one by one. The whole
 * query has a deadline; without an answer the guest "has no agent running".
 * Replies are untrusted: sizes are capped and only the fields used are read.
 */
#include "vm_agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "utf8.h"
#include "util.h"
#include "vm_priv.h"

#define AGENT_DEADLINE_MS 3000
#define AGENT_MAX_REPLY (256u << 10)

static const char *const questions[] = {"guest-info", "guest-get-host-name", "guest-get-osinfo",
                                        "guest-network-get-interfaces"};
#define N_QUESTIONS (sizeof(questions) / sizeof(questions[0]))

struct agent_q {
  struct core_req *r;
  char vm_id[VM_ID_LEN + 1];
  uv_pipe_t pipe;
  uv_connect_t conn;
  uv_timer_t timer;
  int open_handles;
  bool synced, answered;
  json_int_t sync_id;
  size_t asked; /* questions sent and answered so far */
  char *buf;
  size_t len;
  json_t *out;
};

static void on_closed(uv_handle_t *h) {
  struct agent_q *q = h->data;
  if (--q->open_handles > 0)
    return;
  free(q->buf);
  json_decref(q->out);
  free(q);
}

/* Answer (once) and close. REASON NULL: the agent answered everything. */
static void finish(struct agent_q *q, const char *reason) {
  if (!q->answered) {
    q->answered = true;
    if (reason)
      core_req_reply_json(q->r, 200, json_pack("{s:b, s:s}", "agent", 0, "reason", reason));
    else {
      json_object_set_new(q->out, "agent", json_true());
      core_req_reply_json(q->r, 200, json_incref(q->out));
    }
  }
  uv_timer_stop(&q->timer);
  if (!uv_is_closing((uv_handle_t *)&q->pipe))
    uv_close((uv_handle_t *)&q->pipe, on_closed);
  if (!uv_is_closing((uv_handle_t *)&q->timer))
    uv_close((uv_handle_t *)&q->timer, on_closed);
}

static void on_written(uv_write_t *w, int status) {
  (void)status; /* a failed write shows as no answer */
  free(w->data);
  free(w);
}

static void send_line(struct agent_q *q, const char *prefix, json_t *msg) {
  char *txt = json_dumps(msg, JSON_COMPACT);
  json_decref(msg);
  char *line = xasprintf("%s%s\n", prefix, txt);
  free(txt);
  uv_write_t *w = xcalloc(1, sizeof(*w));
  w->data = line;
  uv_buf_t b = uv_buf_init(line, (unsigned)strlen(line));
  if (uv_write(w, (uv_stream_t *)&q->pipe, &b, 1, on_written) < 0) {
    free(line);
    free(w);
  }
}

static void ask_next(struct agent_q *q) {
  if (q->asked == N_QUESTIONS) {
    finish(q, NULL);
    return;
  }
  send_line(q, "", json_pack("{s:s}", "execute", questions[q->asked]));
}

/* Text from the guest, as a JSON string of valid UTF-8 (it may be anything). */
static json_t *guest_text(json_t *v) {
  const char *s = json_string_value(v);
  if (!s)
    return json_null();
  char *c = xstrdup(s);
  if (strlen(c) > 255)
    c[255] = 0;
  utf8_sanitize(c);
  json_t *o = json_string(c);
  free(c);
  return o ? o : json_null();
}

static void take_answer(struct agent_q *q, json_t *ret) {
  const char *what = questions[q->asked];
  if (strcmp(what, "guest-info") == 0) {
    json_object_set_new(q->out, "version", guest_text(json_object_get(ret, "version")));
  } else if (strcmp(what, "guest-get-host-name") == 0) {
    json_object_set_new(q->out, "hostname", guest_text(json_object_get(ret, "host-name")));
  } else if (strcmp(what, "guest-get-osinfo") == 0) {
    json_object_set_new(q->out, "os",
                        json_pack("{s:o, s:o, s:o, s:o}", "name",
                                  guest_text(json_object_get(ret, "pretty-name")), "id",
                                  guest_text(json_object_get(ret, "id")), "kernel",
                                  guest_text(json_object_get(ret, "kernel-release")), "machine",
                                  guest_text(json_object_get(ret, "machine"))));
  } else {
    json_t *ifs = json_array();
    size_t i, k;
    json_t *e, *a;
    json_array_foreach(ret, i, e) {
      if (i >= 32)
        break;
      json_t *addrs = json_array();
      json_array_foreach(json_object_get(e, "ip-addresses"), k, a) {
        if (k >= 16)
          break;
        json_array_append_new(addrs, json_pack("{s:o, s:o, s:I}", "type",
                                               guest_text(json_object_get(a, "ip-address-type")), "address",
                                               guest_text(json_object_get(a, "ip-address")), "prefix",
                                               json_integer_value(json_object_get(a, "prefix"))));
      }
      json_array_append_new(ifs, json_pack("{s:o, s:o, s:o}", "name", guest_text(json_object_get(e, "name")),
                                           "mac", guest_text(json_object_get(e, "hardware-address")),
                                           "addresses", addrs));
    }
    json_object_set_new(q->out, "interfaces", ifs);
  }
}

/* One complete JSON line from the agent. */
static void on_line(struct agent_q *q, const char *line, size_t len) {
  json_t *m = json_loadb(line, len, 0, NULL);
  if (!json_is_object(m)) {
    json_decref(m);
    return; /* partial or stale output before the sync answer */
  }
  json_t *ret = json_object_get(m, "return");
  if (!q->synced) {
    if (json_is_integer(ret) && json_integer_value(ret) == q->sync_id) {
      q->synced = true;
      ask_next(q);
    }
  } else if (json_object_get(m, "error")) {
    take_answer(q, json_null()); /* an agent without that command: the fields stay empty */
    q->asked++;
    ask_next(q);
  } else if (ret) {
    take_answer(q, ret);
    q->asked++;
    ask_next(q);
  }
  json_decref(m);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  static char scratch[16384];
  *b = uv_buf_init(scratch, sizeof(scratch));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct agent_q *q = s->data;
  if (n < 0) {
    finish(q, "the guest agent's channel closed");
    return;
  }
  for (ssize_t i = 0; i < n && !q->answered; i++) {
    unsigned char c = (unsigned char)b->base[i];
    if (c == 0xff) { /* the sync answer follows: what came before is stale */
      q->len = 0;
      continue;
    }
    if (c == '\n') {
      on_line(q, q->buf, q->len);
      q->len = 0;
      continue;
    }
    if (q->len == AGENT_MAX_REPLY) {
      finish(q, "the guest agent's answer is too large");
      return;
    }
    q->buf[q->len++] = (char)c;
  }
}

static void on_connect(uv_connect_t *c, int status) {
  struct agent_q *q = c->data;
  if (q->answered)
    return;
  if (status < 0) {
    finish(q, "cannot reach the VM's guest agent channel");
    return;
  }
  uv_read_start((uv_stream_t *)&q->pipe, on_alloc, on_read);
  q->sync_id = (json_int_t)(now_ms() & 0x3fffffff) + 1;
  send_line(q, "\xff",
            json_pack("{s:s, s:{s:I}}", "execute", "guest-sync-delimited", "arguments", "id", q->sync_id));
}

static void on_deadline(uv_timer_t *t) {
  struct agent_q *q = t->data;
  finish(q, q->synced ? "the guest agent stopped answering" : "no guest agent answers in the guest");
}

void vm_agent_req(struct vm_manager *m, struct core_req *r, const char *id) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (!v->cfg.guest_agent) {
    core_req_reply_error(
        r, 409, "no_agent_channel",
        "this VM has no guest agent channel (guest_agent is off; turn it on and restart the VM)");
    return;
  }
  if ((v->state != ST_RUNNING && v->state != ST_PAUSED) || v->pid <= 0) {
    core_req_reply_error(r, 409, "invalid_state", "the VM is %s", vm_state_names[v->state]);
    return;
  }
  char why[600];
  if (vm_not_answering(v, why, sizeof(why))) { /* the agent's socket is QEMU's: nobody would answer */
    core_req_reply_error(r, 504, "qemu_not_answering", "%s; Force stop (POST kill) ends it", why);
    return;
  }
  struct agent_q *q = xcalloc(1, sizeof(*q));
  char path[4300];
  q->r = r;
  q->buf = xmalloc(AGENT_MAX_REPLY);
  q->out = json_object();
  snprintf(q->vm_id, sizeof(q->vm_id), "%s", v->cfg.id);
  uv_pipe_init(&m->c->loop, &q->pipe, 0);
  uv_timer_init(&m->c->loop, &q->timer);
  q->pipe.data = q->timer.data = q->conn.data = q;
  q->open_handles = 2;
  uv_timer_start(&q->timer, on_deadline, AGENT_DEADLINE_MS, 0);
  vm_path(v, "run/qga.sock", path, sizeof(path));
  uv_pipe_connect(&q->conn, &q->pipe, path, on_connect);
}
