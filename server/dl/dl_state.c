/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_state: one download (struct dl, dl_priv.h): its creation, lookup and release, its
 * state changes and the events they send, its JSON, failing it; and the small helpers the dl
 * files share (file names, URLs). Core loop thread only.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "events.h"
#include "utf8.h"
#include "util.h"

const char *const dl_state_names[] = {"starting", "running", "paused", "verifying", "completed", "failed"};

uint64_t dl_bytes(const struct dl *d) {
  return d->single ? d->spos : dl_segs_done(&d->segs);
}

void dl_free_handle(uv_handle_t *h) {
  free(h);
}

/* A safe file name: [A-Za-z0-9._+-], no leading dot, at most 120 bytes; "" when nothing is left. */
void dl_safe_name(const char *in, char *out, size_t outlen) {
  size_t o = 0;
  for (const char *p = in; *p && o + 1 < outlen && o < 120; p++) {
    unsigned char ch = (unsigned char)*p;
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-' || ch == '+';
    if (o == 0 && ch == '.')
      continue;
    out[o++] = ok ? (char)ch : '_';
  }
  out[o] = 0;
}

bool dl_valid_url(const char *u) {
  if (!u || strlen(u) > 4000 || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0))
    return false;
  for (const char *p = u; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return false;
  return u[strncmp(u, "https://", 8) == 0 ? 8 : 7] != 0;
}

void dl_path(struct dl *d, char *out, size_t len) {
  snprintf(out, len, "%s/%s.part", d->m->dir_dl, d->id);
}

json_t *dl_json(struct dl *d) {
  uint64_t bytes = dl_bytes(d);
  json_t *eta = json_null();
  if (d->state == DL_ST_RUNNING && d->total >= 0 && d->speed > 1)
    eta = json_integer((json_int_t)(((double)d->total - (double)bytes) / d->speed + 0.999));
  json_t *ck = json_pack("{s:s, s:o, s:o, s:b}", "algo", dl_algo_name(d->algo), "expected",
                         d->expected[0] ? json_string(d->expected) : json_null(), "actual",
                         d->actual[0] ? json_string(d->actual) : json_null(), "verified",
                         d->expected[0] && d->actual[0] && strcmp(d->expected, d->actual) == 0);
  const char *url =
      json_string_value(json_array_get(d->urls, d->mirror < json_array_size(d->urls) ? d->mirror : 0));
  return json_pack(
      "{s:s, s:s, s:o, s:O, s:o, s:s, s:I, s:o, s:I, s:o, s:o, s:i, s:I, s:b, s:o, s:o, s:I, s:o}", "id",
      d->id, "name", d->name, "url", url ? json_string(url) : json_null(), "urls", d->urls, "catalog_id",
      d->catalog_id ? json_string(d->catalog_id) : json_null(), "state", dl_state_names[d->state], "bytes",
      (json_int_t)bytes, "total", d->total >= 0 ? json_integer(d->total) : json_null(), "speed",
      (json_int_t)(d->state == DL_ST_RUNNING ? d->speed : 0), "eta", eta, "error",
      d->error ? json_string(d->error) : json_null(), "connections", (int)d->nconns, "speed_limit",
      (json_int_t)d->speed_limit, "ranges", !d->single, "checksum", ck, "image_id",
      d->image_id ? json_string(d->image_id) : json_null(), "created_at", (json_int_t)d->created,
      "finished_at", d->finished ? json_integer(d->finished) : json_null());
}

void dl_emit_progress(struct dl *d) {
  json_t *j = dl_json(d);
  events_emit(d->m->c->events,
              json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "type", "download.progress", "download", d->id,
                        "bytes", json_object_get(j, "bytes"), "total", json_object_get(j, "total"), "speed",
                        json_object_get(j, "speed"), "eta", json_object_get(j, "eta")));
  json_decref(j);
}

void dl_set_state(struct dl *d, enum dl_state st) {
  if (d->state == st)
    return;
  d->state = st;
  if (st == DL_ST_COMPLETED || st == DL_ST_FAILED)
    d->finished = now_unix();
  dl_store_save(d);
  /* a completed download names the image it became, so a client can use it without a lookup */
  events_emit(d->m->c->events,
              json_pack("{s:s, s:s, s:s, s:o, s:o}", "type", "download.state", "download", d->id, "state",
                        dl_state_names[st], "error", d->error ? json_string(d->error) : json_null(), "image",
                        st == DL_ST_COMPLETED && d->image_id ? json_string(d->image_id) : json_null()));
  if (st == DL_ST_COMPLETED && d->image_id)
    events_emit(d->m->c->events, json_pack("{s:s, s:s}", "type", "image.created", "image", d->image_id));
  log_info("download %s (%s): %s%s%s", d->id, d->name, dl_state_names[st], d->error ? ": " : "",
           d->error ? d->error : "");
}

static void reply_pending_error(struct dl *d, int status, const char *code) {
  if (!d->pending)
    return;
  struct core_req *r = d->pending;
  d->pending = NULL;
  core_req_reply_error(r, status, code, "%s", d->error ? d->error : "the download failed");
}

void dl_fail(struct dl *d, int status, const char *code, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  utf8_sanitize(msg);
  dl_stop_transfers(d);
  free(d->error);
  d->error = xstrdup(msg);
  dl_set_state(d, DL_ST_FAILED);
  reply_pending_error(d, status, code);
}

static void dl_free_now(struct dl *d) {
  for (unsigned i = 0; i < DL_MAX_CONNS; i++) {
    struct conn *k = &d->conns[i];
    if (k->easy)
      curl_easy_cleanup(k->easy);
    free(k->wbuf);
    if (k->timer)
      uv_close((uv_handle_t *)k->timer, dl_free_handle);
  }
  if (d->probe_timer)
    uv_close((uv_handle_t *)d->probe_timer, dl_free_handle);
  if (d->fd >= 0)
    close(d->fd);
  dl_hash_free(d->h);
  dl_segs_free(&d->segs);
  json_decref(d->urls);
  json_decref(d->sums_urls);
  free(d->sums_file);
  free(d->name);
  free(d->eff_url);
  free(d->catalog_id);
  free(d->error);
  free(d->image_id);
  free(d);
}

void dl_job_done(struct dl *d) {
  d->jobs--;
  if (d->dead && d->jobs == 0)
    dl_free_now(d);
}

static void unlink_dl(struct dl *d) {
  for (struct dl **p = &d->m->list; *p; p = &(*p)->next)
    if (*p == d) {
      *p = d->next;
      break;
    }
}

void dl_release(struct dl *d) {
  dl_stop_transfers(d);
  unlink_dl(d);
  d->dead = true;
  if (d->jobs == 0)
    dl_free_now(d);
}

struct dl *dl_new(struct dl_manager *m) {
  struct dl *d = xcalloc(1, sizeof(*d));
  d->m = m;
  d->fd = -1;
  d->total = -1;
  d->nconns = DL_DEFAULT_CONNS;
  d->urls = json_array();
  for (int i = 0; i < DL_MAX_CONNS; i++) {
    d->conns[i].d = d;
    d->conns[i].idx = i;
  }
  d->next = m->list;
  m->list = d;
  return d;
}

json_t *dl_manager_unfinished(struct dl_manager *m) {
  json_t *a = json_array();
  for (struct dl *d = m->list; d; d = d->next)
    if (d->state != DL_ST_COMPLETED && d->state != DL_ST_FAILED)
      json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", d->id, "name",
                                         d->name ? d->name : "", "state", dl_state_names[d->state], "bytes",
                                         (json_int_t)dl_bytes(d), "total",
                                         (json_int_t)(d->total >= 0 ? d->total : -1)));
  return a;
}

struct dl *dl_find(struct dl_manager *m, const char *id) {
  for (struct dl *d = m->list; d; d = d->next)
    if (strcmp(d->id, id) == 0)
      return d;
  return NULL;
}
