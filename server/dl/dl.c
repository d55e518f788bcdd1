/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl: see dl.h. The download manager: one struct dl per download, each with up
 * to DL_MAX_CONNS connections (easy handles on the shared dl_engine). Life of a
 * download: [Microsoft flow] → [checksum list] → probe (GET Range: bytes=0-0,
 * which also follows redirects once) → preallocate → connections take chunks of
 * the segment table (dl_seg.c) → when the table is complete and the in-order hash
 * has reached the end → verify → rename into DATA/images/.
 *
 * Durability: a checkpoint copies the segment table, fdatasync()s the file on a
 * libuv worker thread and only then writes the copy to SQLite, so the stored
 * progress never claims bytes that are not on disk. Checkpoints run back to back
 * while bytes arrive (at most every DL_CKPT_MS), so a kill -9 loses little.
 *
 * Hashing: a worker reads [hashed, prefix) back from the page cache and feeds
 * the digest; the prefix trails the download front by a few chunks, so the
 * final pass is short. The digest state is not persisted: after a restart the
 * downloaded prefix is hashed again from disk.
 *
 * Objects with worker jobs in flight are freed only when the last job returns.
 * Core loop thread only (workers touch only their job struct, the fd and the
 * digest they were handed).
 */
#include "dl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core.h"
#include "crashpt.h"
#include "dl_engine.h"
#include "dl_hash.h"
#include "dl_ms.h"
#include "dl_seg.h"
#include "events.h"
#include "img.h"
#include "paths.h"
#include "util.h"
#include "vm.h"
#include "vm_config.h"

#define DL_MAX_CONNS 16
#define DL_DEFAULT_CONNS 8
#define DL_RESERVE (1ULL << 30)    /* free space kept after a download */
#define DL_TICK_MS 25              /* 'written' progress / speed tick */
#define DL_PROGRESS_EVERY 10       /* ticks: progress events at most 4/s */
#define DL_WRITTEN_STEP (2u << 20) /* bytes between 'written' records */
#define DL_CKPT_EVERY 40           /* ticks: fdatasync + 'durable' progress every second */
#define DL_STALL_MS 20000          /* no byte for this long: next mirror */
#define DL_HASH_SLICE (32u << 20)  /* one hash job */
#define DL_MIN_SPLIT (1u << 20)
#define DL_STEAL_ETA_MS 500 /* split another connection's segment only if it needs longer */
/* Write batching: libcurl hands the body over in 16 KiB pieces (CURL_MAX_WRITE_SIZE), one
 * pwrite each. They are copied into a per-connection buffer written when full or after each
 * socket wakeup. Not larger: ext4 (Linux >= 6.16) sizes page-cache folios from the write
 * length; from 64 KiB on they are large-order allocations, which on this VM (balloon free
 * page reporting) often land on memory the host has to fault in again, and the copy into
 * the page cache became 2-5x slower (bench: 128 KiB median 1.26 s/GiB, 32 KiB 1.12, 16 KiB
 * unbatched 1.16). */
#define DL_WBUF (32u << 10)
#define DL_MAX_URLS 8
#define DL_SPEED_SAMPLES 40 /* ticks in the speed window (1 s) */

enum dl_state { DL_ST_STARTING, DL_ST_RUNNING, DL_ST_PAUSED, DL_ST_VERIFYING, DL_ST_COMPLETED, DL_ST_FAILED };
static const char *const state_names[] = {"starting",  "running",   "paused",
                                          "verifying", "completed", "failed"};

/* Why a transfer's write callback stopped it. */
enum verdict { V_NONE, V_CUT, V_NORANGE, V_LIE, V_IOERR };

struct dl;

struct conn {
  struct dl *d;
  int idx;
  CURL *easy;
  bool active;                 /* in the engine */
  bool waiting;                /* retry timer armed */
  uint64_t seg_start, req_end; /* ranged: the segment's start and the requested end */
  uint64_t got;                /* body bytes of this request */
  uint64_t t_start;            /* when this request was added (ms) */
  bool checked;                /* status and Content-Range verified */
  int64_t cr_start, cr_total;  /* from Content-Range, -1 if none */
  enum verdict verdict;
  int io_errno;
  unsigned fails;
  char *wbuf;  /* body bytes received, not yet written: they follow the written ones */
  size_t wlen; /* (segment pos, or spos when single) and do not count as progress */
  uv_timer_t *timer;
  char errbuf[CURL_ERROR_SIZE];
};

struct dl {
  struct dl_manager *m;
  char id[37];
  char *name;
  json_t *urls; /* array of strings */
  size_t mirror;
  char *eff_url; /* after redirects */
  char *catalog_id;
  enum dl_algo algo;
  char expected[DL_HASH_MAX_HEX + 1]; /* "" = nothing to verify against */
  char actual[DL_HASH_MAX_HEX + 1];
  enum dl_state state;
  int64_t total; /* -1 unknown */
  bool single;   /* one stream without ranges */
  uint64_t spos; /* single: bytes written */
  unsigned nconns;
  uint64_t speed_limit;
  char *error;
  char *image_id;
  int64_t created, finished;
  struct dl_segs segs;
  int fd;
  struct conn conns[DL_MAX_CONNS];
  /* hashing */
  struct dl_hash *h;
  uint64_t hashed;
  unsigned hash_gen;
  bool hash_busy;
  /* checkpoints */
  bool ckpt_busy, ckpt_dirty;
  uint64_t saved_written; /* bytes in the last 'written' rows */
  /* speed */
  uint64_t samples[DL_SPEED_SAMPLES];
  unsigned sample_i, ticks;
  double speed;
  uint64_t last_progress_ms;
  /* phases before the transfer */
  struct dl_fetch *probe, *sums;
  struct dl_ms *ms;
  size_t sums_i;
  json_t *sums_urls;
  char *sums_file;
  int probe_tries;
  uv_timer_t *probe_timer;
  struct core_req *pending; /* POST waiting for the probe */
  unsigned jobs;            /* worker jobs in flight */
  bool dead;                /* removed: free when jobs == 0 */
  struct dl *next;
};

struct dl_manager {
  struct core *c;
  struct dl_engine *e;
  sqlite3 *db;
  struct dl *list;
  json_t *catalog; /* {"entries": [...]} or NULL */
  char catalog_err[512];
  char dir_dl[4200], dir_img[4200];
  uv_timer_t *tick;
  bool ticking;
  char boot_id[64];                /* this kernel's /proc/sys/kernel/random/boot_id */
  sqlite3_stmt *seg_del, *seg_ins; /* db_save_segs's, prepared once (it runs ~100 times/s) */
  unsigned imports;                /* import jobs in flight */
  bool closing;                    /* dl_manager_free ran: the last import job frees the rest */
};

static void dl_start(struct dl *d);
static void conn_next(struct conn *k);
static void check_complete(struct dl *d);
static void hash_kick(struct dl *d);
static void ckpt_kick(struct dl *d);

/* ------------------------------------------------------------------ helpers */

static const char *catalog_path(void) {
  const char *p = getenv("QHM_CATALOG");
  return p && *p ? p : QHM_CATALOG_DEFAULT;
}

static uint64_t dl_bytes(const struct dl *d) {
  return d->single ? d->spos : dl_segs_done(&d->segs);
}

static void free_handle(uv_handle_t *h) {
  free(h);
}

/* A safe file name: [A-Za-z0-9._+-], no leading dot, at most 120 bytes; "" when nothing is left. */
static void safe_name(const char *in, char *out, size_t outlen) {
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

static void name_from_url(const char *url, char *out, size_t outlen) {
  const char *q = url + strcspn(url, "?#");
  const char *s = q;
  while (s > url && s[-1] != '/')
    s--;
  char tmp[256];
  size_t n = (size_t)(q - s) < sizeof(tmp) - 1 ? (size_t)(q - s) : sizeof(tmp) - 1;
  memcpy(tmp, s, n);
  tmp[n] = 0;
  safe_name(tmp, out, outlen);
}

static bool valid_url(const char *u) {
  if (!u || strlen(u) > 4000 || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0))
    return false;
  for (const char *p = u; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return false;
  return u[strncmp(u, "https://", 8) == 0 ? 8 : 7] != 0;
}

static void dl_path(struct dl *d, char *out, size_t len) {
  snprintf(out, len, "%s/%s.part", d->m->dir_dl, d->id);
}

/* ------------------------------------------------------------------ store */

static int db_exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    log_err("dl: SQLite: %s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v) {
  if (v)
    sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(s, i);
}

static void db_save(struct dl *d) {
  sqlite3_stmt *s;
  /* An upsert, not INSERT OR REPLACE: REPLACE deletes the row first, and ON DELETE CASCADE took
   * the download's segment rows with it at every state change (a restart then fetched it all again). */
  const char *sql =
      "INSERT INTO downloads(id, name, urls, catalog_id, algo, expected, state, total, "
      "single, connections, speed_limit, error, image_id, created_at, finished_at, boot_id) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
      "urls = excluded.urls, catalog_id = excluded.catalog_id, algo = excluded.algo, "
      "expected = excluded.expected, state = excluded.state, total = excluded.total, "
      "single = excluded.single, connections = excluded.connections, speed_limit = excluded.speed_limit, "
      "error = excluded.error, image_id = excluded.image_id, created_at = excluded.created_at, "
      "finished_at = excluded.finished_at, boot_id = excluded.boot_id";
  if (sqlite3_prepare_v2(d->m->db, sql, -1, &s, NULL) != SQLITE_OK) {
    log_err("dl: SQLite: %s", sqlite3_errmsg(d->m->db));
    return;
  }
  char *urls = json_dumps(d->urls, JSON_COMPACT);
  bind_text(s, 1, d->id);
  bind_text(s, 2, d->name);
  bind_text(s, 3, urls);
  bind_text(s, 4, d->catalog_id);
  bind_text(s, 5, dl_algo_name(d->algo));
  bind_text(s, 6, d->expected[0] ? d->expected : NULL);
  bind_text(s, 7, state_names[d->state]);
  sqlite3_bind_int64(s, 8, d->total);
  sqlite3_bind_int(s, 9, d->single);
  sqlite3_bind_int(s, 10, (int)d->nconns);
  sqlite3_bind_int64(s, 11, (sqlite3_int64)d->speed_limit);
  bind_text(s, 12, d->error);
  bind_text(s, 13, d->image_id);
  sqlite3_bind_int64(s, 14, d->created);
  if (d->finished)
    sqlite3_bind_int64(s, 15, d->finished);
  else
    sqlite3_bind_null(s, 15);
  bind_text(s, 16, d->m->boot_id);
  if (sqlite3_step(s) != SQLITE_DONE)
    log_err("dl: SQLite: saving %s: %s", d->id, sqlite3_errmsg(d->m->db));
  sqlite3_finalize(s);
  free(urls);
}

/* Replace the KIND rows of download ID with G (compacted); KIND NULL: delete every row. */
static void db_save_segs(struct dl_manager *m, const char *id, const char *kind, const struct dl_segs *g) {
  if (db_exec(m->db, "BEGIN") < 0)
    return;
  if ((!m->seg_del && sqlite3_prepare_v3(m->db,
                                         "DELETE FROM download_segments WHERE download_id = ?1 AND "
                                         "(?2 IS NULL OR kind = ?2)",
                                         -1, SQLITE_PREPARE_PERSISTENT, &m->seg_del, NULL) != SQLITE_OK) ||
      (!m->seg_ins &&
       sqlite3_prepare_v3(
           m->db, "INSERT INTO download_segments(download_id, kind, start, pos, end) VALUES (?,?,?,?,?)", -1,
           SQLITE_PREPARE_PERSISTENT, &m->seg_ins, NULL) != SQLITE_OK))
    goto fail;
  sqlite3_stmt *del = m->seg_del, *ins = m->seg_ins;
  sqlite3_reset(del);
  bind_text(del, 1, id);
  bind_text(del, 2, kind);
  if (sqlite3_step(del) != SQLITE_DONE)
    goto fail;
  for (size_t i = 0; kind && g && i < g->n; i++) {
    sqlite3_reset(ins);
    bind_text(ins, 1, id);
    bind_text(ins, 2, kind);
    sqlite3_bind_int64(ins, 3, (sqlite3_int64)g->v[i].start);
    sqlite3_bind_int64(ins, 4, (sqlite3_int64)g->v[i].pos);
    sqlite3_bind_int64(ins, 5, (sqlite3_int64)g->v[i].end);
    if (sqlite3_step(ins) != SQLITE_DONE)
      goto fail;
  }
  sqlite3_reset(del);
  sqlite3_reset(ins);
  db_exec(m->db, "COMMIT");
  return;
fail:
  log_err("dl: SQLite: saving segments of %s: %s", id, sqlite3_errmsg(m->db));
  if (m->seg_del)
    sqlite3_reset(m->seg_del);
  if (m->seg_ins)
    sqlite3_reset(m->seg_ins);
  db_exec(m->db, "ROLLBACK");
}

static void db_delete(struct dl_manager *m, const char *table, const char *id) {
  sqlite3_stmt *s;
  char sql[128];
  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?", table);
  if (sqlite3_prepare_v2(m->db, sql, -1, &s, NULL) != SQLITE_OK)
    return;
  bind_text(s, 1, id);
  sqlite3_step(s);
  sqlite3_finalize(s);
}

/* ------------------------------------------------------------------ JSON and events */

static json_t *dl_json(struct dl *d) {
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
      d->catalog_id ? json_string(d->catalog_id) : json_null(), "state", state_names[d->state], "bytes",
      (json_int_t)bytes, "total", d->total >= 0 ? json_integer(d->total) : json_null(), "speed",
      (json_int_t)(d->state == DL_ST_RUNNING ? d->speed : 0), "eta", eta, "error",
      d->error ? json_string(d->error) : json_null(), "connections", (int)d->nconns, "speed_limit",
      (json_int_t)d->speed_limit, "ranges", !d->single, "checksum", ck, "image_id",
      d->image_id ? json_string(d->image_id) : json_null(), "created_at", (json_int_t)d->created,
      "finished_at", d->finished ? json_integer(d->finished) : json_null());
}

static void emit_progress(struct dl *d) {
  json_t *j = dl_json(d);
  events_emit(json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "type", "download.progress", "download", d->id,
                        "bytes", json_object_get(j, "bytes"), "total", json_object_get(j, "total"), "speed",
                        json_object_get(j, "speed"), "eta", json_object_get(j, "eta")));
  json_decref(j);
}

static void set_state(struct dl *d, enum dl_state st) {
  if (d->state == st)
    return;
  d->state = st;
  if (st == DL_ST_COMPLETED || st == DL_ST_FAILED)
    d->finished = now_unix();
  db_save(d);
  /* a completed download names the image it became, so a client can use it without a lookup */
  events_emit(json_pack("{s:s, s:s, s:s, s:o, s:o}", "type", "download.state", "download", d->id, "state",
                        state_names[st], "error", d->error ? json_string(d->error) : json_null(), "image",
                        st == DL_ST_COMPLETED && d->image_id ? json_string(d->image_id) : json_null()));
  if (st == DL_ST_COMPLETED && d->image_id)
    events_emit(json_pack("{s:s, s:s}", "type", "image.created", "image", d->image_id));
  log_info("download %s (%s): %s%s%s", d->id, d->name, state_names[st], d->error ? ": " : "",
           d->error ? d->error : "");
}

/* ------------------------------------------------------------------ lifecycle */

static void conn_flush(struct conn *k);

static void conn_stop(struct conn *k) {
  conn_flush(k); /* normally empty here: buffers are flushed after every curl action */
  if (k->active)
    dl_engine_remove(k->d->m->e, k->easy);
  k->active = false;
  if (k->waiting)
    uv_timer_stop(k->timer);
  k->waiting = false;
}

static void stop_transfers(struct dl *d) {
  for (unsigned i = 0; i < DL_MAX_CONNS; i++)
    conn_stop(&d->conns[i]);
  for (size_t i = 0; i < d->segs.n; i++)
    d->segs.v[i].owner = -1;
  if (d->probe_timer)
    uv_timer_stop(d->probe_timer);
  dl_fetch_cancel(d->probe);
  d->probe = NULL;
  dl_fetch_cancel(d->sums);
  d->sums = NULL;
  dl_ms_cancel(d->ms);
  d->ms = NULL;
}

static void reply_pending_error(struct dl *d, int status, const char *code) {
  if (!d->pending)
    return;
  struct core_req *r = d->pending;
  d->pending = NULL;
  core_req_reply_error(r, status, code, "%s", d->error ? d->error : "the download failed");
}

static void fail(struct dl *d, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct dl *d, int status, const char *code, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  utf8_sanitize(msg);
  stop_transfers(d);
  free(d->error);
  d->error = xstrdup(msg);
  set_state(d, DL_ST_FAILED);
  reply_pending_error(d, status, code);
}

static void dl_free_now(struct dl *d) {
  for (unsigned i = 0; i < DL_MAX_CONNS; i++) {
    struct conn *k = &d->conns[i];
    if (k->easy)
      curl_easy_cleanup(k->easy);
    free(k->wbuf);
    if (k->timer)
      uv_close((uv_handle_t *)k->timer, free_handle);
  }
  if (d->probe_timer)
    uv_close((uv_handle_t *)d->probe_timer, free_handle);
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

static void job_done(struct dl *d) {
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

static void dl_release(struct dl *d) {
  stop_transfers(d);
  unlink_dl(d);
  d->dead = true;
  if (d->jobs == 0)
    dl_free_now(d);
}

static struct dl *dl_new(struct dl_manager *m) {
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

static struct dl *dl_find(struct dl_manager *m, const char *id) {
  for (struct dl *d = m->list; d; d = d->next)
    if (strcmp(d->id, id) == 0)
      return d;
  return NULL;
}

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
      fail(d, 500, "io_error", "cannot read back %s to hash it: %s", d->name, strerror(j->err));
    } else {
      d->hashed = j->to;
    }
    if (d->state == DL_ST_RUNNING || d->state == DL_ST_VERIFYING)
      hash_kick(d);
  }
  free(j);
  job_done(d);
}

static void hash_kick(struct dl *d) {
  if (d->hash_busy || d->fd < 0)
    return;
  uint64_t prefix = d->single ? d->spos : dl_segs_prefix(&d->segs);
  if (prefix <= d->hashed) {
    if (d->state == DL_ST_VERIFYING)
      check_complete(d);
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
static void hash_restart(struct dl *d) {
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
      db_save_segs(d->m, d->id, "durable", &j->snap);
    log_debug("download %s: checkpoint at %llu bytes (fdatasync %llu ms, %llu bytes behind)", d->id,
              (unsigned long long)dl_segs_done(&j->snap), (unsigned long long)j->ms,
              (unsigned long long)(dl_bytes(d) - dl_segs_done(&j->snap)));
    if (d->ckpt_dirty)
      ckpt_kick(d);
  }
  dl_segs_free(&j->snap);
  free(j);
  job_done(d);
}

static void ckpt_kick(struct dl *d) {
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
static void save_written(struct dl *d) {
  if (d->single || d->segs.n == 0)
    return;
  struct dl_segs c = {0};
  for (size_t i = 0; i < d->segs.n; i++)
    dl_segs_add(&c, d->segs.v[i].start, d->segs.v[i].pos, d->segs.v[i].end);
  dl_segs_compact(&c);
  db_save_segs(d->m, d->id, "written", &c);
  d->saved_written = dl_segs_done(&c);
  dl_segs_free(&c);
}

/* ------------------------------------------------------------------ completion */

static int unique_image_path(struct dl_manager *m, const char *name, char *out, size_t len, char *base,
                             size_t baselen) {
  char stem[200], ext[64] = "";
  snprintf(stem, sizeof(stem), "%s", name);
  char *dot = strrchr(stem, '.');
  if (dot && dot != stem && strlen(dot) < sizeof(ext)) {
    snprintf(ext, sizeof(ext), "%s", dot);
    *dot = 0;
  }
  for (int i = 0; i < 1000; i++) {
    if (i == 0)
      snprintf(base, baselen, "%s%s", stem, ext);
    else
      snprintf(base, baselen, "%s-%d%s", stem, i, ext);
    sqlite3_stmt *s;
    bool taken = false;
    if (sqlite3_prepare_v2(m->db, "SELECT 1 FROM images WHERE name = ?", -1, &s, NULL) == SQLITE_OK) {
      bind_text(s, 1, base);
      taken = sqlite3_step(s) == SQLITE_ROW;
      sqlite3_finalize(s);
    }
    if (fmt_path(out, len, "%s/%s", m->dir_img, base) < 0)
      return -1;
    if (!taken && access(out, F_OK) < 0)
      return 0;
  }
  return -1;
}

static int image_insert(struct dl_manager *m, const char *id, const char *name, const char *path,
                        int64_t size, const char *sha256, const char *source, const char *origin) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(m->db,
                         "INSERT INTO images(id, name, path, size, sha256, source, origin, created_at) "
                         "VALUES (?,?,?,?,?,?,?,?)",
                         -1, &s, NULL) != SQLITE_OK)
    return -1;
  bind_text(s, 1, id);
  bind_text(s, 2, name);
  bind_text(s, 3, path);
  sqlite3_bind_int64(s, 4, size);
  bind_text(s, 5, sha256);
  bind_text(s, 6, source);
  bind_text(s, 7, origin);
  sqlite3_bind_int64(s, 8, now_unix());
  int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
  if (rc < 0)
    log_err("dl: SQLite: image %s: %s", name, sqlite3_errmsg(m->db));
  sqlite3_finalize(s);
  return rc;
}

/* An image for the library (downloaded, imported, uploaded) that names another host file, or is
 * not the format its name claims, is refused (img.h): IMG_OK, or the reason in ERR. */
static enum img_result library_check(const char *path, const char *name, char *err, size_t errlen) {
  const char *fmt;
  enum img_result ir = img_check_file(path, &fmt, err, errlen);
  return ir == IMG_OK ? img_check_claim(name, fmt, err, errlen) : ir;
}

static void finalize(struct dl *d) {
  dl_hash_final_hex(d->h, d->actual);
  dl_hash_reset(d->h);
  char part[4300];
  dl_path(d, part, sizeof(part));
  if (d->expected[0] && strcmp(d->expected, d->actual) != 0) {
    unlink(part);
    fail(d, 502, "checksum_mismatch",
         "%s mismatch for %s: expected %s, got %s (the file was deleted and not added to the images)",
         d->algo == DL_SHA512 ? "SHA-512" : "SHA-256", d->name, d->expected, d->actual);
    return;
  }
  uint64_t size = dl_bytes(d);
  if (d->single && ftruncate(d->fd, (off_t)size) < 0) {
    fail(d, 500, "io_error", "cannot truncate %s: %s", part, strerror(errno));
    return;
  }
  if (fdatasync(d->fd) < 0) {
    fail(d, 500, "io_error", "cannot sync %s: %s", part, strerror(errno));
    return;
  }
  char ierr[256];
  enum img_result ir = library_check(part, d->name, ierr, sizeof(ierr));
  if (ir != IMG_OK) {
    unlink(part);
    fail(d, 400, img_result_code(ir), "%s (the file was deleted and not added to the images)", ierr);
    return;
  }
  char path[4400], base[256];
  if (unique_image_path(d->m, d->name, path, sizeof(path), base, sizeof(base)) < 0) {
    fail(d, 500, "io_error", "cannot move %s into the image library: no free name for %s", part, d->name);
    return;
  }
  /* The image's row and the download's "completed" in one transaction, then the rename: a crash
   * in between leaves a complete, verified .part that the next start renames (dl_manager_load). */
  crashpt("download:before_row");
  char iid[37];
  random_uuid(iid);
  const char *origin = d->eff_url ? d->eff_url : json_string_value(json_array_get(d->urls, 0));
  db_exec(d->m->db, "BEGIN");
  image_insert(d->m, iid, base, path, (int64_t)size, d->algo == DL_SHA256 ? d->actual : NULL, "download",
               origin);
  d->image_id = xstrdup(iid);
  if (d->total < 0)
    d->total = (int64_t)size;
  set_state(d, DL_ST_COMPLETED);
  db_exec(d->m->db, "COMMIT");
  crashpt("download:before_rename");
  if (rename(part, path) < 0) {
    int e = errno;
    db_delete(d->m, "images", iid);
    free(d->image_id);
    d->image_id = NULL;
    d->state = DL_ST_VERIFYING; /* so that fail() announces the change */
    fail(d, 500, "io_error", "cannot move %s into the image library: %s", part, strerror(e));
    return;
  }
  crashpt("download:after_rename");
  db_save_segs(d->m, d->id, NULL, NULL);
  close(d->fd);
  d->fd = -1;
}

static void check_complete(struct dl *d) {
  if (d->state != DL_ST_RUNNING && d->state != DL_ST_VERIFYING)
    return;
  for (unsigned i = 0; i < DL_MAX_CONNS; i++)
    if (d->conns[i].active || d->conns[i].waiting)
      return;
  bool done = d->single ? true : dl_segs_complete(&d->segs);
  if (!done)
    return;
  if (d->state == DL_ST_RUNNING) {
    save_written(d); /* every byte is there: a restart while verifying fetches nothing again */
    set_state(d, DL_ST_VERIFYING);
  }
  uint64_t size = dl_bytes(d);
  if (d->hashed < size || d->hash_busy) {
    hash_kick(d);
    return;
  }
  finalize(d);
}

static void save_written(struct dl *d);

/* ------------------------------------------------------------------ transfers */

static size_t on_header(char *p, size_t sz, size_t nm, void *ud) {
  struct conn *k = ud;
  size_t n = sz * nm;
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (after a redirect): forget the last */
    k->cr_start = k->cr_total = -1;
    return n;
  }
  static const char key[] = "content-range:";
  if (n > sizeof(key) && strncasecmp(p, key, sizeof(key) - 1) == 0) {
    char line[200];
    size_t l = n - (sizeof(key) - 1) < sizeof(line) - 1 ? n - (sizeof(key) - 1) : sizeof(line) - 1;
    memcpy(line, p + sizeof(key) - 1, l);
    line[l] = 0;
    unsigned long long a, b, t;
    if (sscanf(line, " bytes %llu-%llu/%llu", &a, &b, &t) == 3 && a <= b && b < t) {
      k->cr_start = (int64_t)a;
      k->cr_total = (int64_t)t;
    }
  }
  return n;
}

static int pwrite_all(int fd, const char *p, size_t n, uint64_t at) {
  while (n) {
    ssize_t w = pwrite(fd, p, n, (off_t)at);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
    at += (uint64_t)w;
  }
  return 0;
}

/* Write K's buffered bytes where they belong and count them as progress. An error is kept
 * in K's verdict: the next write callback (or the end of the transfer) reports it. */
static void conn_flush(struct conn *k) {
  struct dl *d = k->d;
  if (!k->wlen)
    return;
  size_t n = k->wlen;
  k->wlen = 0;
  if (k->verdict == V_IOERR)
    return;
  struct dl_seg *g = NULL;
  uint64_t at = d->spos;
  if (!d->single) {
    int i = dl_segs_find(&d->segs, k->seg_start);
    if (i < 0)
      return;
    g = &d->segs.v[i];
    at = g->pos;
  }
  if (pwrite_all(d->fd, k->wbuf, n, at) < 0) {
    k->verdict = V_IOERR;
    k->io_errno = errno;
    return;
  }
  if (!g) {
    d->spos += n;
    return;
  }
  g->pos += n;
  /* Servers burst (nginx's limit_rate lets each new request send a second's worth at once),
   * so a timer alone would let a kill -9 lose several MiB: record every DL_WRITTEN_STEP too. */
  if (dl_segs_done(&d->segs) - d->saved_written >= DL_WRITTEN_STEP)
    save_written(d);
}

/* Append LEN bytes at P to K's buffer (flushing first when they do not fit). -1: I/O error. */
static int conn_buffer(struct conn *k, const char *p, size_t len) {
  if (k->wlen + len > DL_WBUF) {
    conn_flush(k);
    if (k->verdict == V_IOERR)
      return -1;
  }
  if (len > DL_WBUF) { /* larger than libcurl's pieces (16 KiB): written directly */
    struct dl *d = k->d;
    uint64_t at = d->spos;
    struct dl_seg *g = NULL;
    if (!d->single) {
      g = &d->segs.v[dl_segs_find(&d->segs, k->seg_start)];
      at = g->pos;
    }
    if (pwrite_all(d->fd, p, len, at) < 0) {
      k->verdict = V_IOERR;
      k->io_errno = errno;
      return -1;
    }
    if (g)
      g->pos += len;
    else
      d->spos += len;
    return 0;
  }
  if (!k->wbuf)
    k->wbuf = xmalloc(DL_WBUF);
  memcpy(k->wbuf + k->wlen, p, len);
  k->wlen += len;
  return 0;
}

/* After every curl action: write what the write callbacks buffered (dl_engine_on_action). */
static void flush_all(void *ud) {
  struct dl_manager *m = ud;
  for (struct dl *d = m->list; d; d = d->next)
    for (unsigned i = 0; i < DL_MAX_CONNS; i++)
      if (d->conns[i].wlen)
        conn_flush(&d->conns[i]);
}

static size_t on_write(char *p, size_t sz, size_t nm, void *ud) {
  struct conn *k = ud;
  struct dl *d = k->d;
  size_t len = sz * nm;
  if (k->verdict == V_IOERR)
    return 0; /* a buffered write failed */
  if (!k->checked) {
    long code = 0;
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &code);
    if (!d->single) {
      struct dl_seg *g = &d->segs.v[dl_segs_find(&d->segs, k->seg_start)];
      if (code != 206) {
        k->verdict = V_NORANGE;
        return 0;
      }
      if (k->cr_start != (int64_t)g->pos || k->cr_total != d->total) {
        k->verdict = V_LIE;
        return 0;
      }
    } else if (code != 200) {
      k->verdict = V_NORANGE;
      return 0;
    }
    k->checked = true;
  }
  d->last_progress_ms = now_ms();
  k->fails = 0;
  if (d->single) {
    /* Unknown or untrusted length: keep the reserve free as the file grows. */
    uint64_t at = d->spos + k->wlen;
    if ((at >> 26) != ((at + len) >> 26)) {
      struct statvfs vfs;
      if (fstatvfs(d->fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < DL_RESERVE + len) {
        k->verdict = V_IOERR;
        k->io_errno = ENOSPC;
        return 0;
      }
    }
    return conn_buffer(k, p, len) < 0 ? 0 : len;
  }
  int i = dl_segs_find(&d->segs, k->seg_start);
  struct dl_seg *g = &d->segs.v[i];
  uint64_t at = g->pos + k->wlen;
  uint64_t room = g->end - at;
  size_t n = len > room ? (size_t)room : len;
  if (n && conn_buffer(k, p, n) < 0)
    return 0;
  k->got += n;
  if (at + n == g->end) {
    conn_flush(k); /* the segment is complete: no reason to wait */
    if (k->verdict == V_IOERR)
      return 0;
    if (g->end < k->req_end) {
      k->verdict = V_CUT; /* the upper part was stolen by another connection */
      return 0;
    }
  }
  if (n < len) {
    k->verdict = V_LIE; /* more than the range we asked for */
    return 0;
  }
  return len;
}

static void on_retry_timer(uv_timer_t *t) {
  struct conn *k = t->data;
  k->waiting = false;
  conn_next(k);
  check_complete(k->d); /* others may have finished the work meanwhile */
}

static void fallback_single(struct dl *d, const char *why) {
  log_warn("download %s: %s; falling back to one stream from the start", d->id, why);
  stop_transfers(d);
  d->single = true;
  d->spos = 0;
  dl_segs_clear(&d->segs);
  hash_restart(d);
  if (d->fd >= 0 && ftruncate(d->fd, 0) < 0)
    log_warn("dl: truncate: %s", strerror(errno));
  db_save_segs(d->m, d->id, NULL, NULL);
  db_save(d);
  conn_next(&d->conns[0]);
}

static void next_mirror(struct dl *d, const char *why) {
  if (d->mirror + 1 >= json_array_size(d->urls)) {
    fail(d, 502, "upstream_error", "%s: %s",
         json_array_size(d->urls) > 1 ? "every mirror failed; last" : "download failed", why);
    return;
  }
  log_warn("download %s: mirror %zu failed (%s); trying the next", d->id, d->mirror, why);
  stop_transfers(d);
  d->mirror++;
  d->probe_tries = 0;
  dl_start(d);
}

static void on_transfer_done(CURL *easy, CURLcode rc, void *ud) {
  struct conn *k = ud;
  struct dl *d = k->d;
  k->active = false;
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  enum verdict v = k->verdict;
  if (v == V_IOERR) {
    fail(d, 507, "io_error", "cannot write %s: %s", d->name, strerror(k->io_errno));
    return;
  }
  if (v == V_NORANGE || v == V_LIE || code == 416) {
    if (d->single) {
      next_mirror(d, code ? "unexpected HTTP status" : "bad answer");
      return;
    }
    fallback_single(d, v == V_LIE ? "the server's ranges do not match what it announced"
                                  : "the server stopped answering ranges");
    return;
  }
  bool seg_done = false;
  if (!d->single) {
    int i = dl_segs_find(&d->segs, k->seg_start);
    seg_done = i >= 0 && d->segs.v[i].pos == d->segs.v[i].end;
    if (i >= 0)
      d->segs.v[i].owner = -1;
  } else if (rc == CURLE_OK) {
    if (d->total >= 0 && d->spos != (uint64_t)d->total)
      log_warn("download %s: the server announced %lld bytes and sent %llu", d->id, (long long)d->total,
               (unsigned long long)d->spos);
    d->total = (int64_t)d->spos;
    check_complete(d);
    return;
  }
  if (v == V_CUT || (rc == CURLE_OK && seg_done)) {
    conn_next(k);
    check_complete(d);
    return;
  }
  /* A failure: a closed or reset connection, a timeout, 5xx, or a short body. */
  char why[400];
  if (rc == CURLE_HTTP_RETURNED_ERROR || (rc == CURLE_OK && code >= 400))
    snprintf(why, sizeof(why), "HTTP %ld", code);
  else if (rc != CURLE_OK)
    snprintf(why, sizeof(why), "%s", k->errbuf[0] ? k->errbuf : curl_easy_strerror(rc));
  else
    snprintf(why, sizeof(why), "the server closed the connection early");
  if (code == 404 || code == 403 || code == 410 || code == 401) {
    next_mirror(d, why);
    return;
  }
  if (d->single) { /* no ranges: start over */
    d->spos = 0;
    hash_restart(d);
  }
  uint64_t now = now_ms();
  if (now - d->last_progress_ms > DL_STALL_MS) {
    next_mirror(d, why);
    return;
  }
  k->fails++;
  unsigned shift = k->fails > 5 ? 5 : k->fails;
  uint64_t delay = 125u << shift; /* 250 ms .. 4 s */
  log_info("download %s: connection %d: %s; retrying in %llu ms", d->id, k->idx, why,
           (unsigned long long)delay);
  free(d->error);
  d->error = NULL;
  k->waiting = true;
  uv_timer_start(k->timer, on_retry_timer, delay, 0);
}

static void conn_setup(struct conn *k) {
  struct dl *d = k->d;
  if (!k->easy) {
    k->easy = curl_easy_init();
    if (!k->easy)
      abort();
    dl_engine_common_opts(k->easy);
    curl_easy_setopt(k->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(k->easy, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(k->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(k->easy, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(k->easy, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(k->easy, CURLOPT_ERRORBUFFER, k->errbuf);
    curl_easy_setopt(k->easy, CURLOPT_BUFFERSIZE, 256L * 1024);
  }
  if (!k->timer) {
    k->timer = xcalloc(1, sizeof(*k->timer));
    uv_timer_init(&d->m->c->loop, k->timer);
    k->timer->data = k;
  }
  curl_easy_setopt(k->easy, CURLOPT_URL, d->eff_url);
  unsigned active = d->single ? 1 : d->nconns;
  curl_easy_setopt(k->easy, CURLOPT_MAX_RECV_SPEED_LARGE,
                   (curl_off_t)(d->speed_limit ? d->speed_limit / active + 1 : 0));
  k->checked = false;
  k->verdict = V_NONE;
  k->got = 0;
  k->errbuf[0] = 0;
  k->cr_start = k->cr_total = -1;
}

/* Whether K taking work now would be worth it: there is unowned work, or the connection
 * dl_segs_take would split (the one with the most bytes left) needs more than
 * DL_STEAL_ETA_MS at its own pace. Near the end every connection has a little left; a
 * split would then re-request bytes the server has mostly sent already (they are in the
 * socket buffers: servers burst), so they would be fetched twice for no gain. */
static bool take_worth(struct dl *d) {
  const struct dl_seg *best = NULL;
  for (size_t i = 0; i < d->segs.n; i++) {
    const struct dl_seg *g = &d->segs.v[i];
    if (g->pos >= g->end)
      continue;
    if (g->owner < 0)
      return true;
    if (!best || g->end - g->pos > best->end - best->pos)
      best = g;
  }
  if (!best || best->owner >= DL_MAX_CONNS)
    return best != NULL;
  const struct conn *v = &d->conns[best->owner];
  if (!v->active || !v->got)
    return true;
  uint64_t el = now_ms() - v->t_start;
  /* left / (got / elapsed) > ETA */
  return (best->end - best->pos) * el > (uint64_t)DL_STEAL_ETA_MS * v->got;
}

/* Give connection K its next piece of work, or leave it idle. */
static void conn_next(struct conn *k) {
  struct dl *d = k->d;
  if (d->state != DL_ST_RUNNING || k->active || k->waiting)
    return;
  conn_setup(k);
  if (d->single) {
    if (k->idx != 0)
      return;
    curl_easy_setopt(k->easy, CURLOPT_RANGE, NULL);
    d->spos = 0;
    hash_restart(d);
  } else {
    uint64_t total = (uint64_t)d->total;
    uint64_t chunk = total / (d->nconns * 4);
    chunk = chunk < (1u << 20) ? (1u << 20) : chunk > (16u << 20) ? (16u << 20) : chunk;
    if (!take_worth(d))
      return;
    int i = dl_segs_take(&d->segs, k->idx, chunk, DL_MIN_SPLIT);
    if (i < 0)
      return;
    struct dl_seg *g = &d->segs.v[i];
    k->seg_start = g->start;
    k->req_end = g->end;
    char range[64];
    snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)g->pos, (unsigned long long)g->end - 1);
    curl_easy_setopt(k->easy, CURLOPT_RANGE, range);
  }
  k->active = true;
  k->t_start = now_ms();
  dl_engine_add(d->m->e, k->easy, on_transfer_done, k);
}

static void ensure_tick(struct dl_manager *m);

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
    fail(d, 500, "io_error", "cannot open the partial file for %s: %s", d->name, strerror(errno));
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
        fail(d, 507, "insufficient_storage",
             "not enough free space for %s: it needs %llu bytes plus a 1 GiB reserve, %llu bytes are free",
             d->name, (unsigned long long)need, (unsigned long long)avail);
        return;
      }
    }
    if (!d->single) {
      int e = posix_fallocate(d->fd, 0, (off_t)d->total);
      if (e == ENOSPC) {
        fail(d, 507, "insufficient_storage", "not enough free space to preallocate %s (%lld bytes)", d->name,
             (long long)d->total);
        return;
      }
      if (e && ftruncate(d->fd, (off_t)d->total) < 0) {
        fail(d, 500, "io_error", "cannot size %s: %s", d->name, strerror(errno));
        return;
      }
      if (d->segs.n == 0)
        dl_segs_add(&d->segs, 0, 0, (uint64_t)d->total);
    }
  }
  if (!d->h)
    d->h = dl_hash_new(d->algo);
  hash_restart(d); /* digest state is not persisted: rehash the prefix from disk */
  d->last_progress_ms = now_ms();
  free(d->error);
  d->error = NULL;
  set_state(d, DL_ST_RUNNING);
  db_save(d);
  ckpt_kick(d);
  if (d->pending) {
    struct core_req *r = d->pending;
    d->pending = NULL;
    core_req_reply_json(r, 201, dl_json(d));
  }
  unsigned n = d->single ? 1 : d->nconns;
  for (unsigned i = 0; i < n; i++)
    conn_next(&d->conns[i]);
  ensure_tick(d->m);
  check_complete(d);
  (void)code;
}

struct probe_ctx {
  struct dl *d;
  CURL *easy;
  int64_t cr_total, clen;
  long code;
};

static void on_probe_retry(uv_timer_t *t);

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
  next_mirror(d, why);
}

/* ------------------------------------------------------------------ checksum lists */

static void on_sums(void *ud, CURL *easy, long status, const char *body, size_t len, const char *err);

static void sums_next(struct dl *d) {
  const char *url = json_string_value(json_array_get(d->sums_urls, d->sums_i));
  d->sums = dl_fetch_start(d->m->e, url, NULL, 4 << 20, on_sums, d);
}

static void on_sums(void *ud, CURL *easy, long status, const char *body, size_t len, const char *err) {
  struct dl *d = ud;
  d->sums = NULL;
  char why[300];
  if (!err && status == 200) {
    if (dl_checksum_find(body, len, d->sums_file, dl_algo_hex_len(d->algo), d->expected) == 0) {
      json_decref(d->sums_urls);
      d->sums_urls = NULL;
      db_save(d);
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
    sums_next(d);
    return;
  }
  fail(d, 502, "checksum_unavailable", "cannot get the checksum of %s: %s (%s)", d->name, why, url);
}

/* ------------------------------------------------------------------ start / pause */

static void on_ms(void *ud, const char *url, const char *err) {
  struct dl *d = ud;
  d->ms = NULL;
  if (err) {
    fail(d, 502, "microsoft_refused", "%s", err);
    return;
  }
  json_array_clear(d->urls);
  json_array_append_new(d->urls, json_string(url));
  d->mirror = 0;
  db_save(d);
  dl_start(d);
}

static struct dl_ms_params ms_params_of(json_t *e, const char **why);

static void dl_start(struct dl *d) {
  if (d->state != DL_ST_STARTING && d->state != DL_ST_RUNNING) {
    free(d->error);
    d->error = NULL;
    set_state(d, DL_ST_STARTING);
  } else if (d->state == DL_ST_RUNNING) {
    set_state(d, DL_ST_STARTING);
  }
  if (json_array_size(d->urls) == 0) { /* a Microsoft entry: get the link first */
    json_t *e = NULL, *x;
    size_t i;
    json_array_foreach(json_object_get(d->m->catalog, "entries"), i,
                       x) if (d->catalog_id && strcmp(json_string_value(json_object_get(x, "id")) ?: "",
                                                      d->catalog_id) == 0) e = x;
    const char *why = NULL;
    struct dl_ms_params p = ms_params_of(e, &why);
    if (why) {
      fail(d, 500, "catalog_error", "%s", why);
      return;
    }
    d->ms = dl_ms_start(d->m->e, &p, on_ms, d);
    return;
  }
  if (d->sums_urls && json_array_size(d->sums_urls) && !d->expected[0]) {
    d->sums_i = 0;
    sums_next(d);
    return;
  }
  probe_start(d);
}

static void dl_pause(struct dl *d) {
  stop_transfers(d);
  set_state(d, DL_ST_PAUSED);
  ckpt_kick(d);
  if (d->pending) {
    struct core_req *r = d->pending;
    d->pending = NULL;
    core_req_reply_json(r, 201, dl_json(d));
  }
}

/* ------------------------------------------------------------------ tick */

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
        save_written(d);
      if (d->ticks % DL_CKPT_EVERY == 0)
        ckpt_kick(d);
      hash_kick(d);
      /* Idle connections look for work again (a slow one may now be worth splitting). */
      for (unsigned i = 0; i < (d->single ? 1 : d->nconns); i++)
        conn_next(&d->conns[i]);
      check_complete(d);
      if (d->state == DL_ST_RUNNING && now_ms() - d->last_progress_ms > DL_STALL_MS + 5000)
        next_mirror(d, "no data for 25 s");
    }
    if (d->ticks % DL_PROGRESS_EVERY == 0)
      emit_progress(d);
  }
  if (!any) {
    uv_timer_stop(t);
    m->ticking = false;
  }
}

static void ensure_tick(struct dl_manager *m) {
  if (m->ticking)
    return;
  m->ticking = true;
  uv_timer_start(m->tick, on_tick, DL_TICK_MS, DL_TICK_MS);
}

/* ------------------------------------------------------------------ catalog */

static json_t *catalog_entry(struct dl_manager *m, const char *id) {
  json_t *x;
  size_t i;
  json_array_foreach(json_object_get(m->catalog, "entries"), i, x) {
    const char *eid = json_string_value(json_object_get(x, "id"));
    if (eid && strcmp(eid, id) == 0)
      return x;
  }
  return NULL;
}

static struct dl_ms_params ms_params_of(json_t *e, const char **why) {
  json_t *ms = json_object_get(e, "microsoft");
  struct dl_ms_params p = {
      .page_url = json_string_value(json_object_get(ms, "page_url")),
      .tags_url = json_string_value(json_object_get(ms, "tags_url")),
      .api_url = json_string_value(json_object_get(ms, "api_url")),
      .language = json_string_value(json_object_get(ms, "language")),
      .arch = json_string_value(json_object_get(ms, "arch")),
  };
  *why = NULL;
  if (!valid_url(p.page_url) || !valid_url(p.tags_url) || !valid_url(p.api_url) || !p.language || !p.arch)
    *why = "the catalog entry's \"microsoft\" object needs page_url, tags_url, api_url, language and arch";
  return p;
}

/* ------------------------------------------------------------------ requests: downloads */

static json_t *parse_body(struct core_req *r) {
  if (!r->body || !r->body_len) {
    core_req_reply_error(r, 400, "malformed_json", "the request body must be a JSON object");
    return NULL;
  }
  json_error_t e;
  json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
  if (!json_is_object(j)) {
    json_decref(j);
    core_req_reply_error(r, 400, "malformed_json", "the request body must be a JSON object (%s)", e.text);
    return NULL;
  }
  return j;
}

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

/* Caps that keep a flood of requests from filling the disk or the database. */
#define DL_MAX_DOWNLOADS 100 /* listed downloads, finished ones included until deleted */
#define DL_MAX_IMAGES 1000

static unsigned image_count(struct dl_manager *m) {
  sqlite3_stmt *s;
  unsigned n = 0;
  if (sqlite3_prepare_v2(m->db, "SELECT COUNT(*) FROM images", -1, &s, NULL) == SQLITE_OK) {
    if (sqlite3_step(s) == SQLITE_ROW)
      n = (unsigned)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
  }
  return n;
}

/* Room for one more image (and, with DOWNLOAD, one more download); else answers 422. */
static bool room_for(struct dl_manager *m, struct core_req *r, bool download) {
  unsigned n = 0;
  for (struct dl *d = m->list; d; d = d->next)
    n += !d->dead;
  if (download && n >= DL_MAX_DOWNLOADS) {
    core_req_reply_error(r, 422, "over_limit", "at most %d downloads are kept: delete finished ones first",
                         DL_MAX_DOWNLOADS);
    return false;
  }
  if (image_count(m) + (download ? n : 0) >= DL_MAX_IMAGES) {
    core_req_reply_error(r, 422, "over_limit", "the image library holds at most %d images", DL_MAX_IMAGES);
    return false;
  }
  return true;
}

static void req_create(struct dl_manager *m, struct core_req *r) {
  if (!room_for(m, r, true))
    return;
  json_t *b = parse_body(r);
  if (!b)
    return;
  static const char *const known[] = {"url",  "urls",        "sha256",      "sha512",
                                      "name", "connections", "speed_limit", "catalog_id"};
  const char *key;
  json_t *v;
  json_object_foreach(b, key, v) {
    bool ok = false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
      ok |= strcmp(key, known[i]) == 0;
    if (!ok) {
      core_req_reply_error(r, 400, "invalid_field", "%.100s: unknown field", key);
      goto out;
    }
  }
  json_t *urls = json_array(), *sums = NULL;
  char sha256[DL_HASH_MAX_HEX + 1] = "", sha512[DL_HASH_MAX_HEX + 1] = "", name[160] = "";
  const char *catalog_id = json_string_value(json_object_get(b, "catalog_id"));
  const char *sums_file = NULL;
  enum dl_algo algo = DL_SHA256;
  if (json_object_get(b, "catalog_id") && !catalog_id) {
    core_req_reply_error(r, 400, "invalid_field", "catalog_id: must be a string");
    goto out_urls;
  }
  if (!get_hex(r, b, "sha256", 64, sha256) || !get_hex(r, b, "sha512", 128, sha512))
    goto out_urls;
  if (sha256[0] && sha512[0]) {
    core_req_reply_error(r, 400, "invalid_field", "sha512: give sha256 or sha512, not both");
    goto out_urls;
  }
  if (catalog_id) {
    if (json_object_get(b, "url") || json_object_get(b, "urls")) {
      core_req_reply_error(r, 400, "invalid_field", "url: give either catalog_id or url, not both");
      goto out_urls;
    }
    json_t *e = catalog_entry(m, catalog_id);
    if (!e) {
      core_req_reply_error(r, 404, "not_found", "catalog_id: no catalog entry '%.100s'%s%s", catalog_id,
                           m->catalog_err[0] ? "; " : "", m->catalog_err);
      goto out_urls;
    }
    json_t *u;
    size_t i;
    json_array_foreach(json_object_get(e, "urls"), i, u) if (valid_url(json_string_value(u)))
        json_array_append(urls, u);
    const char *why = NULL;
    if (json_object_get(e, "microsoft"))
      ms_params_of(e, &why);
    else if (!json_array_size(urls))
      why = "the catalog entry has no usable URL";
    if (why) {
      core_req_reply_error(r, 500, "catalog_error", "%s: %s", catalog_id, why);
      goto out_urls;
    }
    json_t *ck = json_object_get(e, "checksum");
    const char *a = json_string_value(json_object_get(ck, "algo"));
    algo = a && strcmp(a, "sha512") == 0 ? DL_SHA512 : DL_SHA256;
    const char *val = json_string_value(json_object_get(ck, "value"));
    if (!sha256[0] && !sha512[0] && val && dl_is_hex(val, dl_algo_hex_len(algo))) {
      for (size_t k = 0; k <= dl_algo_hex_len(algo); k++)
        (algo == DL_SHA512 ? sha512 : sha256)[k] = (char)tolower((unsigned char)val[k]);
    } else if (!sha256[0] && !sha512[0] && json_is_array(json_object_get(ck, "url"))) {
      sums = json_array();
      json_array_foreach(json_object_get(ck, "url"), i, u) if (valid_url(json_string_value(u)))
          json_array_append(sums, u);
      sums_file = json_string_value(json_object_get(e, "file"));
    }
    const char *f = json_string_value(json_object_get(e, "file"));
    safe_name(f ? f : catalog_id, name, sizeof(name));
  } else {
    json_t *u = json_object_get(b, "url"), *us = json_object_get(b, "urls");
    if ((u && us) || (!u && !us)) {
      core_req_reply_error(r, 400, "invalid_field",
                           "url: give url (or urls, a list of mirrors) or catalog_id");
      goto out_urls;
    }
    if (u) {
      if (!valid_url(json_string_value(u))) {
        core_req_reply_error(r, 400, "invalid_field",
                             "url: must be an http:// or https:// URL without spaces");
        goto out_urls;
      }
      json_array_append(urls, u);
    } else {
      size_t i;
      json_t *x;
      if (!json_is_array(us) || json_array_size(us) < 1 || json_array_size(us) > DL_MAX_URLS) {
        core_req_reply_error(r, 400, "invalid_field", "urls: must be a list of 1 to %d URLs", DL_MAX_URLS);
        goto out_urls;
      }
      json_array_foreach(us, i, x) {
        if (!valid_url(json_string_value(x))) {
          core_req_reply_error(r, 400, "invalid_field", "urls[%zu]: must be an http:// or https:// URL", i);
          goto out_urls;
        }
        json_array_append(urls, x);
      }
    }
    name_from_url(json_string_value(json_array_get(urls, 0)), name, sizeof(name));
  }
  if (sha512[0])
    algo = DL_SHA512;
  json_t *nm = json_object_get(b, "name");
  if (nm) {
    char tmp[160];
    safe_name(json_string_value(nm) ? json_string_value(nm) : "", tmp, sizeof(tmp));
    if (!json_is_string(nm) || !tmp[0] || strcmp(tmp, json_string_value(nm)) != 0) {
      core_req_reply_error(r, 400, "invalid_field",
                           "name: must be a file name of letters, digits, '.', '_', '-', '+' (120 at most)");
      goto out_urls;
    }
    snprintf(name, sizeof(name), "%s", tmp);
  }
  unsigned nconns = DL_DEFAULT_CONNS;
  json_t *c = json_object_get(b, "connections");
  if (c) {
    if (!json_is_integer(c) || json_integer_value(c) < 1 || json_integer_value(c) > DL_MAX_CONNS) {
      core_req_reply_error(r, 400, "invalid_field", "connections: must be an integer from 1 to %d",
                           DL_MAX_CONNS);
      goto out_urls;
    }
    nconns = (unsigned)json_integer_value(c);
  }
  uint64_t limit = 0;
  json_t *sl = json_object_get(b, "speed_limit");
  if (sl && !json_is_null(sl)) {
    if (!json_is_integer(sl) || json_integer_value(sl) < 0) {
      core_req_reply_error(r, 400, "invalid_field", "speed_limit: must be bytes per second (0: no limit)");
      goto out_urls;
    }
    limit = (uint64_t)json_integer_value(sl);
  }
  struct dl *d = dl_new(m);
  random_uuid(d->id);
  if (!name[0])
    snprintf(name, sizeof(name), "download-%.8s.iso", d->id);
  d->name = xstrdup(name);
  json_decref(d->urls);
  d->urls = urls;
  urls = NULL;
  d->catalog_id = catalog_id ? xstrdup(catalog_id) : NULL;
  d->algo = algo;
  snprintf(d->expected, sizeof(d->expected), "%s", sha512[0] ? sha512 : sha256);
  d->sums_urls = sums;
  sums = NULL;
  d->sums_file = sums_file ? xstrdup(sums_file) : NULL;
  d->nconns = nconns;
  d->speed_limit = limit;
  d->created = now_unix();
  d->state = DL_ST_STARTING;
  d->pending = r;
  db_save(d);
  dl_start(d);
out_urls:
  json_decref(urls);
  json_decref(sums);
out:
  json_decref(b);
}

static void req_list(struct dl_manager *m, struct core_req *r) {
  json_t *a = json_array();
  for (struct dl *d = m->list; d; d = d->next)
    json_array_append_new(a, dl_json(d)); /* the list is newest first */
  core_req_reply_json(r, 200, json_pack("{s:o}", "downloads", a));
}

static void route_downloads(struct dl_manager *m, struct core_req *r, char **seg, int n) {
  if (n == 1) {
    if (strcmp(r->method, "GET") == 0)
      req_list(m, r);
    else if (strcmp(r->method, "POST") == 0)
      req_create(m, r);
    else
      core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: GET, POST)",
                           r->method);
    return;
  }
  struct dl *d = n <= 3 ? dl_find(m, seg[1]) : NULL;
  if (!d) {
    core_req_reply_error(r, 404, "not_found", "no such download");
    return;
  }
  if (n == 2) {
    if (strcmp(r->method, "GET") == 0) {
      core_req_reply_json(r, 200, dl_json(d));
    } else if (strcmp(r->method, "DELETE") == 0) {
      char part[4300];
      dl_path(d, part, sizeof(part));
      unlink(part);
      if (d->pending) {
        struct core_req *p = d->pending;
        d->pending = NULL;
        core_req_reply_error(p, 409, "canceled", "the download was canceled");
      }
      db_delete(m, "downloads", d->id);
      events_emit(
          json_pack("{s:s, s:s, s:s}", "type", "download.state", "download", d->id, "state", "deleted"));
      core_req_reply_json(r, 200, json_pack("{s:s}", "deleted", d->id));
      dl_release(d);
    } else {
      core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: GET, DELETE)",
                           r->method);
    }
    return;
  }
  const char *act = seg[2];
  if (strcmp(act, "pause") != 0 && strcmp(act, "resume") != 0) {
    core_req_reply_error(r, 404, "not_found", "no such resource");
    return;
  }
  if (strcmp(r->method, "POST") != 0) {
    core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: POST)", r->method);
    return;
  }
  if (act[0] == 'p') {
    if (d->state != DL_ST_RUNNING && d->state != DL_ST_STARTING) {
      core_req_reply_error(r, 409, "invalid_state", "the download is %s, not running", state_names[d->state]);
      return;
    }
    dl_pause(d);
  } else {
    if (d->state != DL_ST_PAUSED && d->state != DL_ST_FAILED) {
      core_req_reply_error(r, 409, "invalid_state", "the download is %s, not paused or failed",
                           state_names[d->state]);
      return;
    }
    if (d->state == DL_ST_FAILED && d->single)
      d->spos = 0;
    d->mirror = 0;
    d->probe_tries = 0;
    d->finished = 0;
    dl_start(d);
  }
  core_req_reply_json(r, 200, dl_json(d));
}

/* ------------------------------------------------------------------ requests: images */

static json_t *image_row(sqlite3_stmt *s) {
  const char *sha = (const char *)sqlite3_column_text(s, 4);
  const char *origin = (const char *)sqlite3_column_text(s, 6);
  return json_pack("{s:s, s:s, s:s, s:I, s:o, s:s, s:o, s:I}", "id", sqlite3_column_text(s, 0), "name",
                   sqlite3_column_text(s, 1), "path", sqlite3_column_text(s, 2), "size",
                   (json_int_t)sqlite3_column_int64(s, 3), "sha256", sha ? json_string(sha) : json_null(),
                   "source", sqlite3_column_text(s, 5), "origin", origin ? json_string(origin) : json_null(),
                   "created_at", (json_int_t)sqlite3_column_int64(s, 7));
}

#define IMAGE_COLS "id, name, path, size, sha256, source, origin, created_at"

static json_t *image_get(struct dl_manager *m, const char *id) {
  sqlite3_stmt *s;
  json_t *j = NULL;
  if (sqlite3_prepare_v2(m->db, "SELECT " IMAGE_COLS " FROM images WHERE id = ?", -1, &s, NULL) != SQLITE_OK)
    return NULL;
  bind_text(s, 1, id);
  if (sqlite3_step(s) == SQLITE_ROW)
    j = image_row(s);
  sqlite3_finalize(s);
  return j;
}

struct import_job {
  uv_work_t w;
  struct dl_manager *m;
  struct core_req *r;
  char src[4096], dst[4400], name[256], mode[16];
  char tmp[4400]; /* DATA/images/.import-RANDOM: written there, renamed to dst once checked */
  char sha[DL_HASH_MAX_HEX + 1];
  int64_t size;
  int err;
};

/* Worker: reflink, else hard link, else copy (hashing the copy). */
static void import_work(uv_work_t *w) {
  struct import_job *j = w->data;
  int in = open(j->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW); /* resolved and confined before */
  if (in < 0) {
    j->err = errno;
    return;
  }
  int out = open(j->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    j->err = errno;
    close(in);
    return;
  }
  if (ioctl(out, FICLONE, in) == 0) {
    snprintf(j->mode, sizeof(j->mode), "reflink");
    goto done;
  }
  close(out);
  unlink(j->tmp);
  out = -1;
  if (link(j->src, j->tmp) == 0) {
    snprintf(j->mode, sizeof(j->mode), "hardlink");
    goto done;
  }
  out = open(j->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    j->err = errno;
    goto done;
  }
  snprintf(j->mode, sizeof(j->mode), "copy");
  struct dl_hash *h = dl_hash_new(DL_SHA256);
  size_t bufsz = 1 << 20;
  char *buf = xmalloc(bufsz);
  for (;;) {
    ssize_t n = read(in, buf, bufsz);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || (n > 0 && pwrite_all(out, buf, (size_t)n, (uint64_t)lseek(out, 0, SEEK_CUR)) < 0)) {
      j->err = errno ? errno : EIO;
      break;
    }
    if (n == 0)
      break;
    lseek(out, n, SEEK_CUR);
    dl_hash_update(h, buf, (size_t)n);
  }
  free(buf);
  if (!j->err && fdatasync(out) < 0)
    j->err = errno;
  if (!j->err)
    dl_hash_final_hex(h, j->sha);
  dl_hash_free(h);
  if (j->err)
    unlink(j->tmp);
done:
  if (out >= 0)
    close(out);
  close(in);
}

static void manager_free_rest(struct dl_manager *m) {
  json_decref(m->catalog);
  sqlite3_finalize(m->seg_del);
  sqlite3_finalize(m->seg_ins);
  sqlite3_close_v2(m->db);
  free(m);
}

static void import_after(uv_work_t *w, int status) {
  struct import_job *j = w->data;
  struct core_req *r = j->r;
  struct dl_manager *m = j->m;
  char ierr[256];
  enum img_result ir;
  m->imports--;
  if (m->closing) {
    if (!j->err)
      unlink(j->tmp);
    core_req_reply_error(r, 503, "shutting_down", "the daemon is shutting down");
    if (m->imports == 0)
      manager_free_rest(m);
  } else if (j->err) {
    core_req_reply_error(r, j->err == ENOSPC ? 507 : 500,
                         j->err == ENOSPC ? "insufficient_storage" : "io_error", "path: cannot import %s: %s",
                         j->src, strerror(j->err));
  } else if ((ir = library_check(j->tmp, j->name, ierr, sizeof(ierr))) != IMG_OK) {
    unlink(j->tmp);
    core_req_reply_error(r, 400, img_result_code(ir), "%s", ierr);
  } else if ((crashpt("import:before_rename"),
              unique_image_path(m, j->name, j->dst, sizeof(j->dst), j->name, sizeof(j->name))) < 0 ||
             rename(j->tmp, j->dst) < 0) {
    unlink(j->tmp);
    core_req_reply_error(r, 409, "conflict", "name: cannot name the image %s", j->name);
  } else {
    char id[37];
    random_uuid(id);
    crashpt("import:before_row");
    if (image_insert(j->m, id, j->name, j->dst, j->size, j->sha[0] ? j->sha : NULL, "import", j->src) < 0) {
      unlink(j->dst);
      core_req_reply_error(r, 500, "internal", "cannot record the image");
    } else {
      json_t *img = image_get(j->m, id);
      json_object_set_new(img, "import_mode", json_string(j->mode));
      events_emit(json_pack("{s:s, s:s}", "type", "image.created", "image", id));
      core_req_reply_json(r, 201, img);
    }
  }
  free(j);
}

static void req_import(struct dl_manager *m, struct core_req *r) {
  if (!room_for(m, r, false))
    return;
  json_t *b = parse_body(r);
  if (!b)
    return;
  const char *key;
  json_t *v;
  json_object_foreach(b, key, v) if (strcmp(key, "path") != 0 && strcmp(key, "name") != 0) {
    core_req_reply_error(r, 400, "invalid_field", "%.100s: unknown field", key);
    json_decref(b);
    return;
  }
  const char *path = json_string_value(json_object_get(b, "path"));
  const char *nm = json_string_value(json_object_get(b, "name"));
  struct stat st;
  char name[160];
  char real[4096], perr[512];
  if (!path || path[0] != '/' || strlen(path) >= 4096) {
    core_req_reply_error(r, 400, "invalid_field", "path: must be an absolute path to a file on this machine");
  } else if (path_confine(m->c->roots, "path", path, real, sizeof(real), perr, sizeof(perr)) < 0) {
    core_req_reply_error(r, 403, "path_not_allowed", "%s", perr);
  } else if ((path = real, stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, R_OK) < 0)) {
    core_req_reply_error(r, 400, "invalid_field", "path: %s is not a readable regular file (%s)", path,
                         errno ? strerror(errno) : "not a regular file");
  } else if (json_object_get(b, "name") &&
             (!nm || (safe_name(nm, name, sizeof(name)), strcmp(name, nm) != 0) || !name[0])) {
    core_req_reply_error(r, 400, "invalid_field",
                         "name: must be a file name of letters, digits, '.', '_', '-', '+' (120 at most)");
  } else {
    if (!nm) {
      const char *base = strrchr(path, '/') + 1;
      safe_name(base, name, sizeof(name));
      if (!name[0])
        snprintf(name, sizeof(name), "imported.iso");
    }
    struct import_job *j = xcalloc(1, sizeof(*j));
    j->w.data = j;
    j->m = m;
    j->r = r;
    j->size = st.st_size;
    snprintf(j->src, sizeof(j->src), "%s", path);
    char rnd[17];
    random_hex(rnd, 16);
    if (unique_image_path(m, name, j->dst, sizeof(j->dst), j->name, sizeof(j->name)) < 0 ||
        fmt_path(j->tmp, sizeof(j->tmp), "%s/.import-%s", m->dir_img, rnd) < 0) {
      free(j);
      core_req_reply_error(r, 409, "conflict", "name: too many images named %s", name);
    } else {
      snprintf(j->name, sizeof(j->name), "%s", name); /* its free name is chosen again when done */
      m->imports++;
      uv_queue_work(&m->c->loop, &j->w, import_work, import_after);
    }
  }
  json_decref(b);
}

/* The upload's bytes are already in r->upload_tmp (written by http.c on its thread). */
static void req_upload(struct dl_manager *m, struct core_req *r) {
  json_t *b = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
  const char *nm = json_string_value(json_object_get(b, "name"));
  const char *err = json_string_value(json_object_get(b, "error"));
  const char *sha = json_string_value(json_object_get(b, "sha256"));
  int64_t size = json_integer_value(json_object_get(b, "size"));
  char name[160] = "", path[4400], base[256], ierr[256];
  enum img_result ir;
  if (nm)
    safe_name(nm, name, sizeof(name));
  if (image_count(m) >= DL_MAX_IMAGES) {
    unlink(r->upload_tmp);
    room_for(m, r, false);
  } else if (err) {
    unlink(r->upload_tmp);
    bool full = strstr(err, "No space") != NULL;
    core_req_reply_error(r, full ? 507 : 500, full ? "insufficient_storage" : "io_error", "upload: %s", err);
  } else if (!nm || !name[0] || strcmp(name, nm) != 0) {
    unlink(r->upload_tmp);
    core_req_reply_error(r, 400, "invalid_field",
                         "name: the ?name= query must be a file name of letters, digits, '.', '_', '-', '+'");
  } else if ((ir = library_check(r->upload_tmp, name, ierr, sizeof(ierr))) != IMG_OK) {
    unlink(r->upload_tmp); /* before the answer: R is the HTTP thread's once answered */
    core_req_reply_error(r, 400, img_result_code(ir), "%s", ierr);
  } else if ((crashpt("upload:before_rename"),
              unique_image_path(m, name, path, sizeof(path), base, sizeof(base))) < 0 ||
             rename(r->upload_tmp, path) < 0) {
    unlink(r->upload_tmp);
    core_req_reply_error(r, 500, "io_error", "cannot move the upload into the image library: %s",
                         strerror(errno));
  } else {
    char id[37];
    random_uuid(id);
    crashpt("upload:before_row");
    if (image_insert(m, id, base, path, size, sha, "upload", NULL) < 0) {
      unlink(path);
      core_req_reply_error(r, 500, "internal", "cannot record the image");
    } else {
      events_emit(json_pack("{s:s, s:s}", "type", "image.created", "image", id));
      core_req_reply_json(r, 201, image_get(m, id));
    }
  }
  json_decref(b);
}

static void route_images(struct dl_manager *m, struct core_req *r, char **seg, int n) {
  if (n == 2 && strcmp(seg[1], "upload") == 0) {
    if (strcmp(r->method, "PUT") != 0 || !r->upload_tmp)
      core_req_reply_error(r, 405, "method_not_allowed", "upload with PUT /api/v1/images/upload?name=NAME");
    else
      req_upload(m, r);
    return;
  }
  if (n == 1) {
    if (strcmp(r->method, "GET") == 0) {
      json_t *a = json_array();
      sqlite3_stmt *s;
      if (sqlite3_prepare_v2(m->db, "SELECT " IMAGE_COLS " FROM images ORDER BY created_at, name", -1, &s,
                             NULL) == SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW)
          json_array_append_new(a, image_row(s));
        sqlite3_finalize(s);
      }
      core_req_reply_json(r, 200, json_pack("{s:o}", "images", a));
    } else if (strcmp(r->method, "POST") == 0) {
      req_import(m, r);
    } else {
      core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: GET, POST)",
                           r->method);
    }
    return;
  }
  json_t *img = n == 2 ? image_get(m, seg[1]) : NULL;
  if (!img) {
    core_req_reply_error(r, 404, "not_found", "no such image");
    return;
  }
  if (strcmp(r->method, "GET") == 0) {
    core_req_reply_json(r, 200, img);
  } else if (strcmp(r->method, "DELETE") == 0) {
    char who[VM_NAME_MAX + 32];
    if (vm_manager_file_in_use(m->c->vms, json_string_value(json_object_get(img, "path")), who,
                               sizeof(who))) {
      json_decref(img);
      core_req_reply_error(r, 409, "in_use", "the image is in use by %s: eject or detach it first", who);
      return;
    }
    db_delete(m, "images", seg[1]); /* the row first: a crash between leaves a file the start removes */
    crashpt("image_delete:after_row");
    unlink(json_string_value(json_object_get(img, "path")));
    json_decref(img);
    events_emit(json_pack("{s:s, s:s}", "type", "image.deleted", "image", seg[1]));
    core_req_reply_json(r, 200, json_pack("{s:s}", "deleted", seg[1]));
  } else {
    json_decref(img);
    core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: GET, DELETE)",
                         r->method);
  }
}

void dl_req_dispatch(struct dl_manager *m, struct core_req *r, char **seg, int n) {
  if (strcmp(seg[0], "downloads") == 0) {
    route_downloads(m, r, seg, n);
  } else if (strcmp(seg[0], "images") == 0) {
    route_images(m, r, seg, n);
  } else if (n == 1) { /* catalog */
    if (strcmp(r->method, "GET") != 0) {
      core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: GET)", r->method);
    } else if (!m->catalog) {
      core_req_reply_error(r, 500, "catalog_error", "%s", m->catalog_err);
    } else {
      core_req_reply_json(r, 200, json_pack("{s:O}", "entries", json_object_get(m->catalog, "entries")));
    }
  } else {
    core_req_reply_error(r, 404, "not_found", "no such resource");
  }
}

/* ------------------------------------------------------------------ manager */

struct dl_manager *dl_manager_new(struct core *c) {
  struct dl_manager *m = xcalloc(1, sizeof(*m));
  m->c = c;
  snprintf(m->dir_dl, sizeof(m->dir_dl), "%s/downloads", c->data_dir);
  snprintf(m->dir_img, sizeof(m->dir_img), "%s/images", c->data_dir);
  m->e = dl_engine_new(&c->loop);
  dl_engine_on_action(m->e, flush_all, m);
  m->tick = xcalloc(1, sizeof(*m->tick));
  uv_timer_init(&c->loop, m->tick);
  m->tick->data = m;
  size_t bl = 0;
  char *boot = read_file("/proc/sys/kernel/random/boot_id", 63, &bl);
  if (boot) {
    snprintf(m->boot_id, sizeof(m->boot_id), "%.*s", (int)strcspn(boot, "\n"), boot);
    free(boot);
  }
  json_error_t je;
  const char *cp = catalog_path();
  m->catalog = json_load_file(cp, JSON_REJECT_DUPLICATES, &je);
  if (!json_is_array(json_object_get(m->catalog, "entries"))) {
    snprintf(m->catalog_err, sizeof(m->catalog_err), "the OS catalog %s cannot be read: %s", cp,
             m->catalog ? "no \"entries\" list" : je.text);
    json_decref(m->catalog);
    m->catalog = NULL;
    log_warn("%s", m->catalog_err);
  }
  return m;
}

/* Start-up: what a killed daemon left half-done in the library. A completed download whose rename
 * did not happen is renamed now (its row and .part are both there); then the temp files in DATA/images
 * (.upload-*, .import-*) are removed, a file without a row there that is an image the library takes
 * (a rename whose row never came, or one copied in by hand) gets its row, every row without its file
 * is dropped, and every DATA/downloads/ID.part without a download is removed. */
static void sweep_library(struct dl_manager *m) {
  for (struct dl *d = m->list; d; d = d->next) {
    json_t *img = d->state == DL_ST_COMPLETED && d->image_id ? image_get(m, d->image_id) : NULL;
    const char *path = json_string_value(json_object_get(img, "path"));
    char part[4300];
    dl_path(d, part, sizeof(part));
    if (path && access(path, F_OK) < 0 && access(part, F_OK) == 0) {
      if (rename(part, path) == 0)
        log_info("download %s (%s): start-up: moved into the library (interrupted at the end)", d->id,
                 d->name);
      else
        log_err("download %s: start-up: cannot move %s to %s: %s", d->id, part, path, strerror(errno));
    }
    json_decref(img);
  }
  sqlite3_stmt *s;
  json_t *names = json_object(), *gone = json_array();
  /* Rows are matched by name in DATA/images; a row elsewhere (the data directory was moved or
   * named another way) means doubt: then only the temp files go. */
  bool doubt = sqlite3_prepare_v2(m->db, "SELECT id, path FROM images", -1, &s, NULL) != SQLITE_OK;
  size_t dlen = strlen(m->dir_img);
  while (!doubt && sqlite3_step(s) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(s, 0), *path = (const char *)sqlite3_column_text(s, 1);
    if (!id || !path || strncmp(path, m->dir_img, dlen) != 0 || path[dlen] != '/' ||
        strchr(path + dlen + 1, '/')) {
      doubt = true;
      break;
    }
    json_object_set_new(names, path + dlen + 1, json_true());
    if (access(path, F_OK) < 0 && errno == ENOENT)
      json_array_append_new(gone, json_string(id));
  }
  sqlite3_finalize(s);
  if (doubt) {
    log_info("dl: start-up: image rows outside %s: only temp files are removed there", m->dir_img);
    json_array_clear(gone);
  }
  size_t i;
  json_t *v;
  json_array_foreach(gone, i, v) {
    log_info("dl: start-up: image %s has no file, its row is dropped", json_string_value(v));
    db_delete(m, "images", json_string_value(v));
  }
  DIR *dir = opendir(m->dir_img);
  struct dirent *e;
  while (dir && (e = readdir(dir))) {
    char path[4600];
    struct stat st;
    bool temp = strncmp(e->d_name, ".upload-", 8) == 0 || strncmp(e->d_name, ".import-", 8) == 0;
    if ((doubt && !temp) || fmt_path(path, sizeof(path), "%s/%s", m->dir_img, e->d_name) < 0 ||
        lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || json_object_get(names, e->d_name))
      continue;
    char ierr[256] = "a hidden file", id[37];
    if (!temp && e->d_name[0] != '.' && library_check(path, e->d_name, ierr, sizeof(ierr)) == IMG_OK) {
      /* a file with a proper name (a rename whose row never came, or one the user copied in by
       * hand): kept, as an image of the library; nothing is deleted that may be someone's */
      random_uuid(id);
      if (image_insert(m, id, e->d_name, path, (int64_t)st.st_size, NULL, "import", path) == 0) {
        log_info("dl: start-up: %s had no row: added to the library", path);
        continue;
      }
    }
    if (!temp) {
      log_warn("dl: start-up: %s is in the library folder but not an image it accepts (%s): left alone", path,
               ierr);
      continue;
    }
    log_info("dl: start-up: removing %s (a temp file of an interrupted upload or import)", path);
    unlink(path);
  }
  if (dir)
    closedir(dir);
  dir = opendir(m->dir_dl);
  while (dir && (e = readdir(dir))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".part") != 0)
      continue;
    char id[64], path[4600];
    snprintf(id, sizeof(id), "%.*s", (int)(n - 5), e->d_name);
    if (dl_find(m, id) || fmt_path(path, sizeof(path), "%s/%s", m->dir_dl, e->d_name) < 0)
      continue;
    log_info("dl: start-up: removing %s (no download has it)", path);
    unlink(path);
  }
  if (dir)
    closedir(dir);
  json_decref(names);
  json_decref(gone);
}

int dl_manager_load(struct dl_manager *m, char *err, size_t errlen) {
  char path[4300];
  if (mkdir_p(m->dir_dl, 0755) < 0 || mkdir_p(m->dir_img, 0755) < 0) {
    snprintf(err, errlen, "cannot create %s or %s: %s", m->dir_dl, m->dir_img, strerror(errno));
    return -1;
  }
  snprintf(path, sizeof(path), "%s/qemu-hmos.sqlite3", m->c->data_dir);
  if (sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s: %s", path, m->db ? sqlite3_errmsg(m->db) : "cannot open");
    return -1;
  }
  sqlite3_busy_timeout(m->db, 5000);
  db_exec(m->db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(
          m->db,
          "SELECT id, name, urls, catalog_id, algo, expected, state, total, single, connections, "
          "speed_limit, error, image_id, created_at, finished_at, boot_id FROM downloads ORDER BY created_at",
          -1, &s, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "downloads: %s", sqlite3_errmsg(m->db));
    return -1;
  }
  while (sqlite3_step(s) == SQLITE_ROW) {
    struct dl *d = dl_new(m);
    snprintf(d->id, sizeof(d->id), "%s", (const char *)sqlite3_column_text(s, 0));
    d->name = xstrdup((const char *)sqlite3_column_text(s, 1));
    json_decref(d->urls);
    d->urls = json_loads((const char *)sqlite3_column_text(s, 2), 0, NULL);
    if (!json_is_array(d->urls)) {
      json_decref(d->urls);
      d->urls = json_array();
    }
    if (sqlite3_column_text(s, 3))
      d->catalog_id = xstrdup((const char *)sqlite3_column_text(s, 3));
    d->algo = strcmp((const char *)sqlite3_column_text(s, 4), "sha512") == 0 ? DL_SHA512 : DL_SHA256;
    if (sqlite3_column_text(s, 5))
      snprintf(d->expected, sizeof(d->expected), "%s", (const char *)sqlite3_column_text(s, 5));
    const char *st = (const char *)sqlite3_column_text(s, 6);
    d->state = DL_ST_FAILED;
    for (int i = 0; i <= DL_ST_FAILED; i++)
      if (strcmp(st, state_names[i]) == 0)
        d->state = (enum dl_state)i;
    d->total = sqlite3_column_int64(s, 7);
    d->single = sqlite3_column_int(s, 8);
    d->nconns = (unsigned)sqlite3_column_int(s, 9);
    if (d->nconns < 1 || d->nconns > DL_MAX_CONNS)
      d->nconns = DL_DEFAULT_CONNS;
    d->speed_limit = (uint64_t)sqlite3_column_int64(s, 10);
    if (sqlite3_column_text(s, 11))
      d->error = xstrdup((const char *)sqlite3_column_text(s, 11));
    if (sqlite3_column_text(s, 12))
      d->image_id = xstrdup((const char *)sqlite3_column_text(s, 12));
    d->created = sqlite3_column_int64(s, 13);
    d->finished = sqlite3_column_int64(s, 14);
    /* Same kernel as when the 'written' rows were saved: the page cache still holds those
     * bytes, so they count. Otherwise only what was fdatasync'ed does. */
    const char *boot = (const char *)sqlite3_column_text(s, 15);
    bool same_boot = boot && m->boot_id[0] && strcmp(boot, m->boot_id) == 0;
    for (int pass = same_boot ? 0 : 1; pass < 2; pass++) {
      sqlite3_stmt *g;
      dl_segs_clear(&d->segs);
      if (sqlite3_prepare_v2(
              m->db,
              "SELECT start, pos, end FROM download_segments WHERE download_id = ? AND kind = ? "
              "ORDER BY start",
              -1, &g, NULL) == SQLITE_OK) {
        bind_text(g, 1, d->id);
        bind_text(g, 2, pass == 0 ? "written" : "durable");
        while (sqlite3_step(g) == SQLITE_ROW)
          dl_segs_add(&d->segs, (uint64_t)sqlite3_column_int64(g, 0), (uint64_t)sqlite3_column_int64(g, 1),
                      (uint64_t)sqlite3_column_int64(g, 2));
        sqlite3_finalize(g);
      }
      if (d->total >= 0 && dl_segs_valid(&d->segs, (uint64_t)d->total))
        break;
      dl_segs_clear(&d->segs);
    }
    if (d->state == DL_ST_PAUSED) {
      char part[4300];
      dl_path(d, part, sizeof(part));
      d->fd = open(part, O_RDWR | O_CLOEXEC);
    }
  }
  sqlite3_finalize(s);
  sweep_library(m);
  for (struct dl *d = m->list; d; d = d->next) {
    if (d->state == DL_ST_STARTING || d->state == DL_ST_RUNNING || d->state == DL_ST_VERIFYING) {
      log_info("download %s (%s): resuming after a restart", d->id, d->name);
      d->state = DL_ST_PAUSED; /* so that dl_start announces the change */
      dl_start(d);
    }
  }
  return 0;
}

void dl_manager_free(struct dl_manager *m) {
  if (!m)
    return;
  while (m->list) {
    struct dl *d = m->list;
    stop_transfers(d);
    if (d->fd >= 0 && !d->single && d->segs.n && fdatasync(d->fd) == 0)
      db_save_segs(m, d->id, "durable", &d->segs); /* exact progress on a clean stop */
    if (d->pending) {
      struct core_req *r = d->pending;
      d->pending = NULL;
      core_req_reply_error(r, 503, "shutting_down", "the daemon is shutting down");
    }
    dl_release(d);
  }
  uv_timer_stop(m->tick);
  uv_close((uv_handle_t *)m->tick, free_handle);
  dl_engine_free(m->e);
  m->closing = true;
  if (m->imports == 0)
    manager_free_rest(m);
}
