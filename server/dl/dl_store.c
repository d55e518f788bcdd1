/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_store: every SQLite access of the download manager, behind small functions: the
 * downloads and download_segments tables (db/002_downloads.sql) and the images table. The
 * manager has its own connection to the daemon's database (WAL; docs/downloads.md); the
 * other dl files never touch SQLite. Errors are logged and the callers go on without the
 * row, as before. Core loop thread only.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

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

int dl_store_open(struct dl_manager *m, const char *path, char *err, size_t errlen) {
  if (sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s: %s", path, m->db ? sqlite3_errmsg(m->db) : "cannot open");
    return -1;
  }
  sqlite3_busy_timeout(m->db, 5000);
  db_exec(m->db,
          "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-" STORE_CACHE_KIB_STR ";");
  return 0;
}

void dl_store_close(struct dl_manager *m) {
  sqlite3_finalize(m->seg_del);
  sqlite3_finalize(m->seg_ins);
  sqlite3_close_v2(m->db);
}

int dl_store_begin(struct dl_manager *m) {
  return db_exec(m->db, "BEGIN");
}

int dl_store_commit(struct dl_manager *m) {
  return db_exec(m->db, "COMMIT");
}

/* ------------------------------------------------------------------ downloads */

void dl_store_save(struct dl *d) {
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
  bind_text(s, 7, dl_state_names[d->state]);
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
void dl_store_save_segs(struct dl_manager *m, const char *id, const char *kind, const struct dl_segs *g) {
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

void dl_store_load_segs(struct dl_manager *m, const char *id, const char *kind, struct dl_segs *g) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(m->db,
                         "SELECT start, pos, end FROM download_segments WHERE download_id = ? AND kind = ? "
                         "ORDER BY start",
                         -1, &s, NULL) != SQLITE_OK)
    return;
  bind_text(s, 1, id);
  bind_text(s, 2, kind);
  while (sqlite3_step(s) == SQLITE_ROW)
    dl_segs_add(g, (uint64_t)sqlite3_column_int64(s, 0), (uint64_t)sqlite3_column_int64(s, 1),
                (uint64_t)sqlite3_column_int64(s, 2));
  sqlite3_finalize(s);
}

/* Column I as a string, or NULL. */
static const char *col_text(sqlite3_stmt *s, int i) {
  return (const char *)sqlite3_column_text(s, i);
}

/* The fields of D from a row of dl_store_load's SELECT (dl_store_save's inverse). */
static void download_from_row(struct dl *d, sqlite3_stmt *s) {
  snprintf(d->id, sizeof(d->id), "%s", col_text(s, 0));
  d->name = xstrdup(col_text(s, 1));
  json_decref(d->urls);
  d->urls = json_loads(col_text(s, 2), 0, NULL);
  if (!json_is_array(d->urls)) {
    json_decref(d->urls);
    d->urls = json_array();
  }
  if (col_text(s, 3))
    d->catalog_id = xstrdup(col_text(s, 3));
  d->algo = strcmp(col_text(s, 4), "sha512") == 0 ? DL_SHA512 : DL_SHA256;
  if (col_text(s, 5))
    snprintf(d->expected, sizeof(d->expected), "%s", col_text(s, 5));
  const char *st = col_text(s, 6);
  d->state = DL_ST_FAILED;
  for (int i = 0; i <= DL_ST_FAILED; i++)
    if (strcmp(st, dl_state_names[i]) == 0)
      d->state = (enum dl_state)i;
  d->total = sqlite3_column_int64(s, 7);
  d->single = sqlite3_column_int(s, 8);
  d->nconns = (unsigned)sqlite3_column_int(s, 9);
  if (d->nconns < 1 || d->nconns > DL_MAX_CONNS)
    d->nconns = DL_DEFAULT_CONNS;
  d->speed_limit = (uint64_t)sqlite3_column_int64(s, 10);
  if (col_text(s, 11))
    d->error = xstrdup(col_text(s, 11));
  if (col_text(s, 12))
    d->image_id = xstrdup(col_text(s, 12));
  d->created = sqlite3_column_int64(s, 13);
  d->finished = sqlite3_column_int64(s, 14);
}

int dl_store_load(struct dl_manager *m, void (*row)(struct dl *d, const char *boot_id, void *ud), void *ud,
                  char *err, size_t errlen) {
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
    download_from_row(d, s);
    row(d, col_text(s, 15), ud);
  }
  sqlite3_finalize(s);
  return 0;
}

static void delete_row(struct dl_manager *m, const char *table, const char *id) {
  sqlite3_stmt *s;
  char sql[128];
  snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?", table);
  if (sqlite3_prepare_v2(m->db, sql, -1, &s, NULL) != SQLITE_OK)
    return;
  bind_text(s, 1, id);
  sqlite3_step(s);
  sqlite3_finalize(s);
}

void dl_store_download_delete(struct dl_manager *m, const char *id) {
  delete_row(m, "downloads", id);
}

/* ------------------------------------------------------------------ images */

int dl_store_image_insert(struct dl_manager *m, const char *id, const char *name, const char *path,
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

json_t *dl_store_image_get(struct dl_manager *m, const char *id) {
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

json_t *dl_store_image_list(struct dl_manager *m) {
  json_t *a = json_array();
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(m->db, "SELECT " IMAGE_COLS " FROM images ORDER BY created_at, name", -1, &s,
                         NULL) == SQLITE_OK) {
    while (sqlite3_step(s) == SQLITE_ROW)
      json_array_append_new(a, image_row(s));
    sqlite3_finalize(s);
  }
  return a;
}

unsigned dl_store_image_count(struct dl_manager *m) {
  sqlite3_stmt *s;
  unsigned n = 0;
  if (sqlite3_prepare_v2(m->db, "SELECT COUNT(*) FROM images", -1, &s, NULL) == SQLITE_OK) {
    if (sqlite3_step(s) == SQLITE_ROW)
      n = (unsigned)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
  }
  return n;
}

bool dl_store_image_name_taken(struct dl_manager *m, const char *name) {
  sqlite3_stmt *s;
  bool taken = false;
  if (sqlite3_prepare_v2(m->db, "SELECT 1 FROM images WHERE name = ?", -1, &s, NULL) == SQLITE_OK) {
    bind_text(s, 1, name);
    taken = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
  }
  return taken;
}

void dl_store_image_delete(struct dl_manager *m, const char *id) {
  delete_row(m, "images", id);
}

int dl_store_image_each(struct dl_manager *m, int (*each)(void *ud, const char *id, const char *path),
                        void *ud) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(m->db, "SELECT id, path FROM images", -1, &s, NULL) != SQLITE_OK)
    return -1;
  while (sqlite3_step(s) == SQLITE_ROW && each(ud, col_text(s, 0), col_text(s, 1)) == 0)
    ;
  sqlite3_finalize(s);
  return 0;
}
