/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_verify: the work that runs beside a transfer on libuv worker threads: the in-order
 * hash (a worker reads [hashed, prefix) back from the page cache and feeds the digest) and the
 * checkpoints (fdatasync, then the copied segment table into SQLite as 'durable'); the
 * 'written' rows; and checksum lists fetched before the probe. Core loop thread, except the
 * *_work functions, which touch only their job.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "util.h"

/* ------------------------------------------------------------------ hashing (worker) */

struct hash_job {
  uv_work_t w;
  struct dl *d;
  struct dl_hash *h;
  int fd;
  uint64_t from, to;
  unsigned gen;
  int err;
};

static void hash_work(uv_work_t *w) {
  struct hash_job *j = w->data;
  size_t bufsz = 1 << 20;
  char *buf = xmalloc(bufsz);
  uint64_t at = j->from;
  while (at < j->to) {
    size_t want = j->to - at < bufsz ? (size_t)(j->to - at) : bufsz;
    ssize_t n = pread(j->fd, buf, want, (off_t)at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      j->err = n < 0 ? errno : EIO;
      break;
    }
    dl_hash_update(j->h, buf, (size_t)n);
    at += (uint64_t)n;
  }
  free(buf);
}

static void hash_after(uv_work_t *w, int status) {
  struct hash_job *j = w->data;
  struct dl *d = j->d;
  d->hash_busy = false;
  if (!d->dead) {
    if (j->gen != d->hash_gen) {
      dl_hash_reset(d->h);
      d->hashed = 0;
    } else if (j->err) {
      dl_fail(d, 500, "io_error", "cannot read back %s to hash it: %s", d->name, strerror(j->err));
    } else {
      d->hashed = j->to;
    }
    if (d->state == DL_ST_RUNNING || d->state == DL_ST_VERIFYING)
      dl_verify_kick(d);
  }
  free(j);
  dl_job_done(d);
}

void dl_verify_kick(struct dl *d) {
  if (d->hash_busy || d->fd < 0)
    return;
  uint64_t prefix = d->single ? d->spos : dl_segs_prefix(&d->segs);
  if (prefix <= d->hashed) {
    if (d->state == DL_ST_VERIFYING)
      dl_check_complete(d);
    return;
  }
  struct hash_job *j = xcalloc(1, sizeof(*j));
  j->w.data = j;
  j->d = d;
  j->h = d->h;
  j->fd = d->fd;
  j->from = d->hashed;
  j->to = prefix - d->hashed > DL_HASH_SLICE ? d->hashed + DL_HASH_SLICE : prefix;
  j->gen = d->hash_gen;
  d->hash_busy = true;
  d->jobs++;
  uv_queue_work(&d->m->c->loop, &j->w, hash_work, hash_after);
}

/* Forget the digest (the bytes it covered are being refetched). */
void dl_verify_restart(struct dl *d) {
  d->hash_gen++;
  if (!d->hash_busy) {
    dl_hash_reset(d->h);
    d->hashed = 0;
  }
}

/* ------------------------------------------------------------------ checkpoints (worker) */

struct ckpt_job {
  uv_work_t w;
  struct dl *d;
  int fd;
  struct dl_segs snap;
  int err;
  uint64_t ms;
};

static void ckpt_work(uv_work_t *w) {
  struct ckpt_job *j = w->data;
  uint64_t t0 = now_ms();
  if (fdatasync(j->fd) < 0)
    j->err = errno;
  j->ms = now_ms() - t0;
}

static void ckpt_after(uv_work_t *w, int status) {
  struct ckpt_job *j = w->data;
  struct dl *d = j->d;
  d->ckpt_busy = false;
  if (!d->dead) {
    if (j->err)
      log_warn("dl: fdatasync %s: %s (progress not recorded)", d->name, strerror(j->err));
    else
      dl_store_save_segs(d->m, d->id, "durable", &j->snap);
    log_debug("download %s: checkpoint at %llu bytes (fdatasync %llu ms, %llu bytes behind)", d->id,
              (unsigned long long)dl_segs_done(&j->snap), (unsigned long long)j->ms,
              (unsigned long long)(dl_bytes(d) - dl_segs_done(&j->snap)));
    if (d->ckpt_dirty)
      dl_ckpt_kick(d);
  }
  dl_segs_free(&j->snap);
  free(j);
  dl_job_done(d);
}

void dl_ckpt_kick(struct dl *d) {
  if (d->single || d->fd < 0 || d->segs.n == 0)
    return;
  if (d->ckpt_busy) {
    d->ckpt_dirty = true;
    return;
  }
  d->ckpt_dirty = false;
  struct ckpt_job *j = xcalloc(1, sizeof(*j));
  j->w.data = j;
  j->d = d;
  j->fd = d->fd;
  for (size_t i = 0; i < d->segs.n; i++)
    dl_segs_add(&j->snap, d->segs.v[i].start, d->segs.v[i].pos, d->segs.v[i].end);
  dl_segs_compact(&j->snap);
  d->ckpt_busy = true;
  d->jobs++;
  uv_queue_work(&d->m->c->loop, &j->w, ckpt_work, ckpt_after);
}

/* The 'written' rows: what pwrite() has put in the page cache (see db/002_downloads.sql). */
void dl_save_written(struct dl *d) {
  if (d->single || d->segs.n == 0)
    return;
  struct dl_segs c = {0};
  for (size_t i = 0; i < d->segs.n; i++)
    dl_segs_add(&c, d->segs.v[i].start, d->segs.v[i].pos, d->segs.v[i].end);
  dl_segs_compact(&c);
  dl_store_save_segs(d->m, d->id, "written", &c);
  d->saved_written = dl_segs_done(&c);
  dl_segs_free(&c);
}

/* ------------------------------------------------------------------ checksum lists */

static void on_sums(void *ud, CURL *easy, long status, const char *body, size_t len, const char *err) {
  struct dl *d = ud;
  d->sums = NULL;
  char why[300];
  if (!err && status == 200) {
    if (dl_checksum_find(body, len, d->sums_file, dl_algo_hex_len(d->algo), d->expected) == 0) {
      json_decref(d->sums_urls);
      d->sums_urls = NULL;
      dl_store_save(d);
      dl_start(d);
      return;
    }
    snprintf(why, sizeof(why), "no %s line for %s", dl_algo_name(d->algo), d->sums_file);
  } else {
    snprintf(why, sizeof(why), "%s", err ? err : "");
    if (!err)
      snprintf(why, sizeof(why), "HTTP %ld", status);
  }
  const char *url = json_string_value(json_array_get(d->sums_urls, d->sums_i));
  log_warn("download %s: checksum list %s: %s", d->id, url, why);
  if (++d->sums_i < json_array_size(d->sums_urls)) {
    dl_sums_start(d);
    return;
  }
  dl_fail(d, 502, "checksum_unavailable", "cannot get the checksum of %s: %s (%s)", d->name, why, url);
}

void dl_sums_start(struct dl *d) {
  const char *url = json_string_value(json_array_get(d->sums_urls, d->sums_i));
  d->sums = dl_fetch_start(d->m->e, url, NULL, 4 << 20, on_sums, d);
}
