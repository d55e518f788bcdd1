/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_transfer: the connections of a running download: each one an easy handle on the
 * shared dl_engine taking chunks of the segment table (or the one stream of a server without
 * ranges), checking status and Content-Range, batching the body into DL_WBUF writes,
 * retrying with backoff, falling back to one stream when ranges turn out false, and work
 * stealing near the end. Core loop thread only.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core.h"
#include "util.h"

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

int dl_pwrite_all(int fd, const char *p, size_t n, uint64_t at) {
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
  if (dl_pwrite_all(d->fd, k->wbuf, n, at) < 0) {
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
    dl_save_written(d);
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
    if (dl_pwrite_all(d->fd, p, len, at) < 0) {
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
void dl_flush_all(void *ud) {
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
  dl_conn_next(k);
  dl_check_complete(k->d); /* others may have finished the work meanwhile */
}

static void fallback_single(struct dl *d, const char *why) {
  log_warn("download %s: %s; falling back to one stream from the start", d->id, why);
  dl_stop_transfers(d);
  d->single = true;
  d->spos = 0;
  dl_segs_clear(&d->segs);
  dl_verify_restart(d);
  if (d->fd >= 0 && ftruncate(d->fd, 0) < 0)
    log_warn("dl: truncate: %s", strerror(errno));
  dl_store_save_segs(d->m, d->id, NULL, NULL);
  dl_store_save(d);
  dl_conn_next(&d->conns[0]);
}

static void on_transfer_done(CURL *easy, CURLcode rc, void *ud) {
  struct conn *k = ud;
  struct dl *d = k->d;
  k->active = false;
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  enum verdict v = k->verdict;
  if (v == V_IOERR) {
    dl_fail(d, 507, "io_error", "cannot write %s: %s", d->name, strerror(k->io_errno));
    return;
  }
  if (v == V_NORANGE || v == V_LIE || code == 416) {
    if (d->single) {
      dl_next_mirror(d, code ? "unexpected HTTP status" : "bad answer");
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
    dl_check_complete(d);
    return;
  }
  if (v == V_CUT || (rc == CURLE_OK && seg_done)) {
    dl_conn_next(k);
    dl_check_complete(d);
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
    dl_next_mirror(d, why);
    return;
  }
  if (d->single) { /* no ranges: start over */
    d->spos = 0;
    dl_verify_restart(d);
  }
  uint64_t now = now_ms();
  if (now - d->last_progress_ms > DL_STALL_MS) {
    dl_next_mirror(d, why);
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
      oom();
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
void dl_conn_next(struct conn *k) {
  struct dl *d = k->d;
  if (d->state != DL_ST_RUNNING || k->active || k->waiting)
    return;
  conn_setup(k);
  if (d->single) {
    if (k->idx != 0)
      return;
    curl_easy_setopt(k->easy, CURLOPT_RANGE, NULL);
    d->spos = 0;
    dl_verify_restart(d);
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

static void conn_stop(struct conn *k) {
  conn_flush(k); /* normally empty here: buffers are flushed after every curl action */
  if (k->active)
    dl_engine_remove(k->d->m->e, k->easy);
  k->active = false;
  if (k->waiting)
    uv_timer_stop(k->timer);
  k->waiting = false;
}

void dl_stop_transfers(struct dl *d) {
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
