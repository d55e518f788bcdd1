/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_start: getting a download going and keeping it going: the Microsoft flow's link,
 * the probe (GET Range: bytes=0-0: size, ranges, the final URL), the space check and
 * preallocation, resume or a fresh start, the next mirror when one fails, pause; and the
 * manager's tick (speed, 'written' rows, checkpoints, stall detection, progress events).
 * Core loop thread only.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core.h"
#include "util.h"

void dl_next_mirror(struct dl *d, const char *why) {
  if (d->mirror + 1 >= json_array_size(d->urls)) {
    dl_fail(d, 502, "upstream_error", "%s: %s",
            json_array_size(d->urls) > 1 ? "every mirror failed; last" : "download failed", why);
    return;
  }
  log_warn("download %s: mirror %zu failed (%s); trying the next", d->id, d->mirror, why);
  dl_stop_transfers(d);
  d->mirror++;
  d->probe_tries = 0;
  dl_start(d);
}

static int open_part(struct dl *d, bool fresh) {
  char part[4300];
  dl_path(d, part, sizeof(part));
  if (d->fd < 0)
    d->fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (d->fd < 0)
    return -1;
  if (fresh && ftruncate(d->fd, 0) < 0)
    return -1;
  return 0;
}

/* The probe answered: size, ranges, final URL. Check space, preallocate, go. */
static void start_transfer(struct dl *d, long code, int64_t total, bool ranges, const char *eff) {
  free(d->eff_url);
  d->eff_url = xstrdup(eff);
  char part[4300];
  struct stat pst;
  dl_path(d, part, sizeof(part));
  /* Trust recorded progress only for the same size and a partial file that is still there, whole. */
  bool same = d->total == total && total >= 0 && !d->single && ranges &&
              dl_segs_valid(&d->segs, (uint64_t)total) && stat(part, &pst) == 0 && pst.st_size == total;
  if (!same) {
    dl_segs_clear(&d->segs);
    d->total = total;
    d->single = !ranges || total <= 0;
    d->spos = 0;
  }
  for (size_t i = 0; i < d->segs.n; i++)
    d->segs.v[i].owner = -1;
  if (open_part(d, !same) < 0) {
    dl_fail(d, 500, "io_error", "cannot open the partial file for %s: %s", d->name, strerror(errno));
    return;
  }
  if (d->total >= 0) {
    struct statvfs vfs;
    struct stat st;
    uint64_t have = fstat(d->fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
    uint64_t need = (uint64_t)d->total > have ? (uint64_t)d->total - have : 0;
    if (fstatvfs(d->fd, &vfs) == 0) {
      uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
      if (avail < need + DL_RESERVE) {
        unlink(part);
        dl_fail(d, 507, "insufficient_storage",
                "not enough free space for %s: it needs %llu bytes plus a 1 GiB reserve, %llu bytes are free",
                d->name, (unsigned long long)need, (unsigned long long)avail);
        return;
      }
    }
    if (!d->single) {
      int e = posix_fallocate(d->fd, 0, (off_t)d->total);
      if (e == ENOSPC) {
        dl_fail(d, 507, "insufficient_storage", "not enough free space to preallocate %s (%lld bytes)",
                d->name, (long long)d->total);
        return;
      }
      if (e && ftruncate(d->fd, (off_t)d->total) < 0) {
        dl_fail(d, 500, "io_error", "cannot size %s: %s", d->name, strerror(errno));
        return;
      }
      if (d->segs.n == 0)
        dl_segs_add(&d->segs, 0, 0, (uint64_t)d->total);
    }
  }
  if (!d->h)
    d->h = dl_hash_new(d->algo);
  dl_verify_restart(d); /* digest state is not persisted: rehash the prefix from disk */
  d->last_progress_ms = now_ms();
  free(d->error);
  d->error = NULL;
  dl_set_state(d, DL_ST_RUNNING);
  dl_store_save(d);
  dl_ckpt_kick(d);
  if (d->pending) {
    struct core_req *r = d->pending;
    d->pending = NULL;
    core_req_reply_json(r, 201, dl_json(d));
  }
  unsigned n = d->single ? 1 : d->nconns;
  for (unsigned i = 0; i < n; i++)
    dl_conn_next(&d->conns[i]);
  dl_ensure_tick(d->m);
  dl_check_complete(d);
  (void)code;
}

static void on_probe(void *ud, CURL *easy, long status, const char *body, size_t len, const char *err);

static void probe_start(struct dl *d) {
  const char *url = json_string_value(json_array_get(d->urls, d->mirror));
  char range[] = "Range: bytes=0-0";
  const char *hdrs[] = {range, NULL};
  d->probe = dl_fetch_start(d->m->e, url, hdrs, 64 << 10, on_probe, d);
}

static void on_probe_retry(uv_timer_t *t) {
  struct dl *d = t->data;
  if (d->state == DL_ST_STARTING || d->state == DL_ST_RUNNING)
    probe_start(d);
}

/* EASY is still the probe's handle (dl_fetch frees it after this returns): Content-Range,
 * Content-Length and the final URL come from it. */
static void on_probe(void *ud, CURL *easy, long status, const char *body, size_t len, const char *err) {
  struct dl *d = ud;
  d->probe = NULL;
  char why[400];
  if (status == 206 || status == 200) { /* only the headers matter: a 200 body is cut short */
    char *eff = NULL;
    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &eff);
    struct curl_header *h = NULL;
    int64_t total = -1;
    bool ranges = false;
    if (status == 206 && curl_easy_header(easy, "Content-Range", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
      unsigned long long a, b, t;
      if (sscanf(h->value, "bytes %llu-%llu/%llu", &a, &b, &t) == 3 && a == 0 && b < t) {
        total = (int64_t)t;
        ranges = true;
      }
    } else if (status == 200) {
      curl_off_t cl = -1;
      curl_easy_getinfo(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
      total = cl >= 0 && (size_t)cl == len ? (int64_t)cl : (cl >= 0 ? (int64_t)cl : -1);
    }
    start_transfer(d, status, total, ranges,
                   eff ? eff : json_string_value(json_array_get(d->urls, d->mirror)));
    return;
  } else if (status == 416) {
    /* A server that refuses even bytes=0-0: download in one stream. */
    char *eff = NULL;
    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &eff);
    start_transfer(d, status, -1, false, eff ? eff : json_string_value(json_array_get(d->urls, d->mirror)));
    return;
  } else if (err) {
    snprintf(why, sizeof(why), "%s", err);
  } else {
    snprintf(why, sizeof(why), "HTTP %ld", status);
  }
  /* Another mirror first; the last one is retried with backoff when the failure may pass. */
  bool transient = err || status >= 500 || status == 429 || status == 408;
  if (transient && d->mirror + 1 >= json_array_size(d->urls) && ++d->probe_tries < 4) {
    if (!d->probe_timer) {
      d->probe_timer = xcalloc(1, sizeof(*d->probe_timer));
      uv_timer_init(&d->m->c->loop, d->probe_timer);
      d->probe_timer->data = d;
    }
    log_info("download %s: probing %s: %s; retrying", d->id,
             json_string_value(json_array_get(d->urls, d->mirror)), why);
    uv_timer_start(d->probe_timer, on_probe_retry, 250u << d->probe_tries, 0);
    return;
  }
  dl_next_mirror(d, why);
}

static void on_ms(void *ud, const char *url, const char *err) {
  struct dl *d = ud;
  d->ms = NULL;
  if (err) {
    dl_fail(d, 502, "microsoft_refused", "%s", err);
    return;
  }
  json_array_clear(d->urls);
  json_array_append_new(d->urls, json_string(url));
  d->mirror = 0;
  dl_store_save(d);
  dl_start(d);
}

void dl_start(struct dl *d) {
  if (d->state != DL_ST_STARTING && d->state != DL_ST_RUNNING) {
    free(d->error);
    d->error = NULL;
    dl_set_state(d, DL_ST_STARTING);
  } else if (d->state == DL_ST_RUNNING) {
    dl_set_state(d, DL_ST_STARTING);
  }
  if (json_array_size(d->urls) == 0) { /* a Microsoft entry: get the link first */
    json_t *e = NULL, *x;
    size_t i;
    json_array_foreach(json_object_get(d->m->catalog, "entries"), i,
                       x) if (d->catalog_id && strcmp(json_string_value(json_object_get(x, "id")) ?: "",
                                                      d->catalog_id) == 0) e = x;
    const char *why = NULL;
    struct dl_ms_params p = dl_catalog_ms_params(e, &why);
    if (why) {
      dl_fail(d, 500, "catalog_error", "%s", why);
      return;
    }
    d->ms = dl_ms_start(d->m->e, &p, on_ms, d);
    return;
  }
  if (d->sums_urls && json_array_size(d->sums_urls) && !d->expected[0]) {
    d->sums_i = 0;
    dl_sums_start(d);
    return;
  }
  probe_start(d);
}

void dl_pause(struct dl *d) {
  dl_stop_transfers(d);
  dl_set_state(d, DL_ST_PAUSED);
  dl_ckpt_kick(d);
  if (d->pending) {
    struct core_req *r = d->pending;
    d->pending = NULL;
    core_req_reply_json(r, 201, dl_json(d));
  }
}

static void on_tick(uv_timer_t *t) {
  struct dl_manager *m = t->data;
  bool any = false;
  for (struct dl *d = m->list; d; d = d->next) {
    if (d->state != DL_ST_RUNNING && d->state != DL_ST_VERIFYING)
      continue;
    any = true;
    uint64_t b = dl_bytes(d);
    d->samples[d->ticks % DL_SPEED_SAMPLES] = b;
    d->ticks++;
    unsigned n = d->ticks < DL_SPEED_SAMPLES ? d->ticks : DL_SPEED_SAMPLES;
    uint64_t old = d->samples[(d->ticks - n) % DL_SPEED_SAMPLES];
    d->speed = n > 1 && b >= old ? (double)(b - old) * 1000.0 / ((n - 1) * DL_TICK_MS) : 0;
    if (d->state == DL_ST_RUNNING) {
      if (b != d->saved_written)
        dl_save_written(d);
      if (d->ticks % DL_CKPT_EVERY == 0)
        dl_ckpt_kick(d);
      dl_verify_kick(d);
      /* Idle connections look for work again (a slow one may now be worth splitting). */
      for (unsigned i = 0; i < (d->single ? 1 : d->nconns); i++)
        dl_conn_next(&d->conns[i]);
      dl_check_complete(d);
      if (d->state == DL_ST_RUNNING && now_ms() - d->last_progress_ms > DL_STALL_MS + 5000)
        dl_next_mirror(d, "no data for 25 s");
    }
    if (d->ticks % DL_PROGRESS_EVERY == 0)
      dl_emit_progress(d);
  }
  if (!any) {
    uv_timer_stop(t);
    m->ticking = false;
  }
}

void dl_ensure_tick(struct dl_manager *m) {
  if (m->ticking)
    return;
  m->ticking = true;
  uv_timer_start(m->tick, on_tick, DL_TICK_MS, DL_TICK_MS);
}
