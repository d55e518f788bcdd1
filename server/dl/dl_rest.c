/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_rest: the /downloads requests (list, create, get, delete, pause, resume), called by the
 * route table (server/http/api.c), which checked the method, the body and its keys. The values
 * of a create's fields are checked here, one by one, before a download is made. Core loop
 * thread only.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "events.h"
#include "util.h"

static bool get_hex(struct core_req *r, json_t *b, const char *key, size_t len, char *out) {
  json_t *v = json_object_get(b, key);
  if (!v || json_is_null(v))
    return true;
  const char *s = json_string_value(v);
  if (!dl_is_hex(s, len)) {
    core_req_reply_error(r, 400, "invalid_field", "%s: must be %zu hexadecimal digits", key, len);
    return false;
  }
  for (size_t i = 0; i <= len; i++)
    out[i] = (char)tolower((unsigned char)s[i]);
  return true;
}

/* Room for one more image (and, with DOWNLOAD, one more download); else answers 422. */
bool dl_room_for(struct dl_manager *m, struct core_req *r, bool download) {
  unsigned n = 0;
  for (struct dl *d = m->list; d; d = d->next)
    n += !d->dead;
  if (download && n >= DL_MAX_DOWNLOADS) {
    core_req_reply_error(r, 422, "over_limit", "at most %d downloads are kept: delete finished ones first",
                         DL_MAX_DOWNLOADS);
    return false;
  }
  if (dl_store_image_count(m) + (download ? n : 0) >= DL_MAX_IMAGES) {
    core_req_reply_error(r, 422, "over_limit", "the image library holds at most %d images", DL_MAX_IMAGES);
    return false;
  }
  return true;
}

static void name_from_url(const char *url, char *out, size_t outlen) {
  const char *q = url + strcspn(url, "?#");
  const char *s = q;
  while (s > url && s[-1] != '/')
    s--;
  char tmp[256];
  size_t n = (size_t)(q - s) < sizeof(tmp) - 1 ? (size_t)(q - s) : sizeof(tmp) - 1;
  memcpy(tmp, s, n);
  tmp[n] = 0;
  dl_safe_name(tmp, out, outlen);
}

/* What POST /downloads asks for, as create_* checked it; each step answers R itself and returns
 * false when the request is refused. */
struct create_req {
  json_t *urls;                       /* owned */
  json_t *sums;                       /* checksum list URLs or NULL; owned */
  const char *catalog_id, *sums_file; /* in the body, in the catalog */
  char sha256[DL_HASH_MAX_HEX + 1], sha512[DL_HASH_MAX_HEX + 1];
  char name[160];
  enum dl_algo algo;
  unsigned nconns;
  uint64_t limit;
};

/* catalog_id, when there, a string (the route table refused keys it does not list). */
static bool create_fields(struct core_req *r, json_t *b, struct create_req *q) {
  q->catalog_id = json_string_value(json_object_get(b, "catalog_id"));
  if (json_object_get(b, "catalog_id") && !q->catalog_id) {
    core_req_reply_error(r, 400, "invalid_field", "catalog_id: must be a string");
    return false;
  }
  return true;
}

/* sha256 or sha512, not both. */
static bool create_checksum(struct core_req *r, json_t *b, struct create_req *q) {
  if (!get_hex(r, b, "sha256", 64, q->sha256) || !get_hex(r, b, "sha512", 128, q->sha512))
    return false;
  if (q->sha256[0] && q->sha512[0]) {
    core_req_reply_error(r, 400, "invalid_field", "sha512: give sha256 or sha512, not both");
    return false;
  }
  return true;
}

/* The catalog entry's checksum: its value when the request gave none, else where to fetch it. */
static void catalog_checksum(json_t *e, struct create_req *q) {
  json_t *ck = json_object_get(e, "checksum"), *u;
  size_t i;
  const char *a = json_string_value(json_object_get(ck, "algo"));
  q->algo = a && strcmp(a, "sha512") == 0 ? DL_SHA512 : DL_SHA256;
  const char *val = json_string_value(json_object_get(ck, "value"));
  if (!q->sha256[0] && !q->sha512[0] && val && dl_is_hex(val, dl_algo_hex_len(q->algo))) {
    for (size_t k = 0; k <= dl_algo_hex_len(q->algo); k++)
      (q->algo == DL_SHA512 ? q->sha512 : q->sha256)[k] = (char)tolower((unsigned char)val[k]);
  } else if (!q->sha256[0] && !q->sha512[0] && json_is_array(json_object_get(ck, "url"))) {
    q->sums = json_array();
    json_array_foreach(json_object_get(ck, "url"), i, u) if (dl_valid_url(json_string_value(u)))
        json_array_append(q->sums, u);
    q->sums_file = json_string_value(json_object_get(e, "file"));
  }
}

/* URLs, checksum and file name from catalog entry q->catalog_id. */
static bool create_from_catalog(struct dl_manager *m, struct core_req *r, json_t *b, struct create_req *q) {
  if (json_object_get(b, "url") || json_object_get(b, "urls")) {
    core_req_reply_error(r, 400, "invalid_field", "url: give either catalog_id or url, not both");
    return false;
  }
  json_t *e = dl_catalog_entry(m, q->catalog_id);
  if (!e) {
    core_req_reply_error(r, 404, "not_found", "catalog_id: no catalog entry '%.100s'%s%s", q->catalog_id,
                         m->catalog_err[0] ? "; " : "", m->catalog_err);
    return false;
  }
  json_t *u;
  size_t i;
  json_array_foreach(json_object_get(e, "urls"), i, u) if (dl_valid_url(json_string_value(u)))
      json_array_append(q->urls, u);
  const char *why = NULL;
  if (json_object_get(e, "microsoft"))
    dl_catalog_ms_params(e, &why);
  else if (!json_array_size(q->urls))
    why = "the catalog entry has no usable URL";
  if (why) {
    core_req_reply_error(r, 500, "catalog_error", "%s: %s", q->catalog_id, why);
    return false;
  }
  catalog_checksum(e, q);
  const char *f = json_string_value(json_object_get(e, "file"));
  dl_safe_name(f ? f : q->catalog_id, q->name, sizeof(q->name));
  return true;
}

/* url, or urls (mirrors); the file name from the first. */
static bool create_from_urls(struct core_req *r, json_t *b, struct create_req *q) {
  json_t *u = json_object_get(b, "url"), *us = json_object_get(b, "urls");
  if ((u && us) || (!u && !us)) {
    core_req_reply_error(r, 400, "invalid_field", "url: give url (or urls, a list of mirrors) or catalog_id");
    return false;
  }
  if (u) {
    if (!dl_valid_url(json_string_value(u))) {
      core_req_reply_error(r, 400, "invalid_field", "url: must be an http:// or https:// URL without spaces");
      return false;
    }
    json_array_append(q->urls, u);
  } else {
    size_t i;
    json_t *x;
    if (!json_is_array(us) || json_array_size(us) < 1 || json_array_size(us) > DL_MAX_URLS) {
      core_req_reply_error(r, 400, "invalid_field", "urls: must be a list of 1 to %d URLs", DL_MAX_URLS);
      return false;
    }
    json_array_foreach(us, i, x) {
      if (!dl_valid_url(json_string_value(x))) {
        core_req_reply_error(r, 400, "invalid_field", "urls[%zu]: must be an http:// or https:// URL", i);
        return false;
      }
      json_array_append(q->urls, x);
    }
  }
  name_from_url(json_string_value(json_array_get(q->urls, 0)), q->name, sizeof(q->name));
  return true;
}

/* name: a safe file name as given (it replaces the one from the URL or the catalog). */
static bool create_name(struct core_req *r, json_t *b, struct create_req *q) {
  json_t *nm = json_object_get(b, "name");
  if (!nm)
    return true;
  char tmp[160];
  dl_safe_name(json_string_value(nm) ? json_string_value(nm) : "", tmp, sizeof(tmp));
  if (!json_is_string(nm) || !tmp[0] || strcmp(tmp, json_string_value(nm)) != 0) {
    core_req_reply_error(r, 400, "invalid_field",
                         "name: must be a file name of letters, digits, '.', '_', '-', '+' (120 at most)");
    return false;
  }
  snprintf(q->name, sizeof(q->name), "%s", tmp);
  return true;
}

/* connections and speed_limit. */
static bool create_limits(struct core_req *r, json_t *b, struct create_req *q) {
  q->nconns = DL_DEFAULT_CONNS;
  json_t *c = json_object_get(b, "connections");
  if (c) {
    if (!json_is_integer(c) || json_integer_value(c) < 1 || json_integer_value(c) > DL_MAX_CONNS) {
      core_req_reply_error(r, 400, "invalid_field", "connections: must be an integer from 1 to %d",
                           DL_MAX_CONNS);
      return false;
    }
    q->nconns = (unsigned)json_integer_value(c);
  }
  q->limit = 0;
  json_t *sl = json_object_get(b, "speed_limit");
  if (sl && !json_is_null(sl)) {
    if (!json_is_integer(sl) || json_integer_value(sl) < 0) {
      core_req_reply_error(r, 400, "invalid_field", "speed_limit: must be bytes per second (0: no limit)");
      return false;
    }
    q->limit = (uint64_t)json_integer_value(sl);
  }
  return true;
}

/* The download Q describes, stored and started; R is answered when the probe has (dl_start.c). */
static void create_download(struct dl_manager *m, struct core_req *r, struct create_req *q) {
  struct dl *d = dl_new(m);
  random_uuid(d->id);
  if (!q->name[0])
    snprintf(q->name, sizeof(q->name), "download-%.8s.iso", d->id);
  d->name = xstrdup(q->name);
  json_decref(d->urls);
  d->urls = q->urls;
  q->urls = NULL;
  d->catalog_id = q->catalog_id ? xstrdup(q->catalog_id) : NULL;
  d->algo = q->algo;
  snprintf(d->expected, sizeof(d->expected), "%s", q->sha512[0] ? q->sha512 : q->sha256);
  d->sums_urls = q->sums;
  q->sums = NULL;
  d->sums_file = q->sums_file ? xstrdup(q->sums_file) : NULL;
  d->nconns = q->nconns;
  d->speed_limit = q->limit;
  d->created = now_unix();
  d->state = DL_ST_STARTING;
  d->pending = r;
  dl_store_save(d);
  dl_start(d);
}

/* POST /downloads: the first check that fails answers. */
void dl_req_downloads_create(struct core *c, struct core_req *r, json_t *b, const char *const *param) {
  (void)param;
  struct dl_manager *m = c->dls;
  if (!dl_room_for(m, r, true))
    return;
  struct create_req q = {.urls = json_array(), .algo = DL_SHA256};
  if (!create_fields(r, b, &q) || !create_checksum(r, b, &q))
    goto out;
  if (!(q.catalog_id ? create_from_catalog(m, r, b, &q) : create_from_urls(r, b, &q)))
    goto out;
  if (q.sha512[0])
    q.algo = DL_SHA512;
  if (create_name(r, b, &q) && create_limits(r, b, &q))
    create_download(m, r, &q);
out:
  json_decref(q.urls);
  json_decref(q.sums);
}

void dl_req_downloads_list(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  json_t *a = json_array();
  for (struct dl *d = c->dls->list; d; d = d->next)
    json_array_append_new(a, dl_json(d)); /* the list is newest first */
  core_req_reply_json(r, 200, json_pack("{s:o}", "downloads", a));
}

/* The download PARAM[0] names, or NULL after a 404. */
static struct dl *find_or_404(struct core *c, struct core_req *r, const char *const *param) {
  struct dl *d = dl_find(c->dls, param[0]);
  if (!d)
    core_req_reply_error(r, 404, "not_found", "no such download");
  return d;
}

void dl_req_download_get(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  struct dl *d = find_or_404(c, r, param);
  if (d)
    core_req_reply_json(r, 200, dl_json(d));
}

void dl_req_download_delete(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  struct dl *d = find_or_404(c, r, param);
  if (!d)
    return;
  char part[4300];
  dl_path(d, part, sizeof(part));
  unlink(part);
  if (d->pending) {
    struct core_req *p = d->pending;
    d->pending = NULL;
    core_req_reply_error(p, 409, "canceled", "the download was canceled");
  }
  dl_store_download_delete(c->dls, d->id);
  events_emit(c->events,
              json_pack("{s:s, s:s, s:s}", "type", "download.state", "download", d->id, "state", "deleted"));
  core_req_reply_json(r, 200, json_pack("{s:s}", "deleted", d->id));
  dl_release(d);
}

void dl_req_download_pause(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  struct dl *d = find_or_404(c, r, param);
  if (!d)
    return;
  if (d->state != DL_ST_RUNNING && d->state != DL_ST_STARTING) {
    core_req_reply_error(r, 409, "invalid_state", "the download is %s, not running",
                         dl_state_names[d->state]);
    return;
  }
  dl_pause(d);
  core_req_reply_json(r, 200, dl_json(d));
}

void dl_req_download_resume(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  struct dl *d = find_or_404(c, r, param);
  if (!d)
    return;
  if (d->state != DL_ST_PAUSED && d->state != DL_ST_FAILED) {
    core_req_reply_error(r, 409, "invalid_state", "the download is %s, not paused or failed",
                         dl_state_names[d->state]);
    return;
  }
  if (d->state == DL_ST_FAILED && d->single)
    d->spos = 0;
  d->mirror = 0;
  d->probe_tries = 0;
  d->finished = 0;
  dl_start(d);
  core_req_reply_json(r, 200, dl_json(d));
}
