/* SPDX-License-Identifier: GPL-2.0-or-later */
/* store: see store.h. Core loop thread only. */
#include "store.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct store {
  sqlite3 *db;
};

static int exec_sql(struct store *st, const char *sql, char *err, size_t errlen) {
  char *msg = NULL;
  if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(err, errlen, "%s", msg ? msg : "unknown SQLite error");
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

int store_schema_version(struct store *st) {
  sqlite3_stmt *s;
  int v = -1;
  if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
    return -1;
  if (sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  return v;
}

static int migrate(struct store *st, char *err, size_t errlen) {
  int have = store_schema_version(st);
  if (have < 0) {
    snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(st->db));
    return -1;
  }
  if ((unsigned)have > store_migrations_count) {
    snprintf(err, errlen, "database schema version %d is newer than this program knows (%u)", have,
             store_migrations_count);
    return -1;
  }
  for (unsigned i = (unsigned)have; i < store_migrations_count; i++) {
    const struct store_migration *m = &store_migrations[i];
    char e[512];
    if (exec_sql(st, "BEGIN IMMEDIATE", e, sizeof(e)) < 0)
      goto fail;
    if (exec_sql(st, m->sql, e, sizeof(e)) < 0) {
      exec_sql(st, "ROLLBACK", err, errlen);
      goto fail;
    }
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
    if (exec_sql(st, pragma, e, sizeof(e)) < 0 || exec_sql(st, "COMMIT", e, sizeof(e)) < 0) {
      exec_sql(st, "ROLLBACK", err, errlen);
      goto fail;
    }
    log_info("database migrated to version %d (%s)", m->version, m->name);
    continue;
  fail:
    snprintf(err, errlen, "migration %s failed: %s", m->name, e);
    return -1;
  }
  return 0;
}

struct store *store_open(const char *path, char *err, size_t errlen) {
  struct store *st = xcalloc(1, sizeof(*st));
  if (path[0] != ':') {
    /* Mode 0600 before SQLite opens it (its -wal and -shm files copy the mode): the database
     * holds RDP credentials. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
      fchmod(fd, 0600);
      close(fd);
    }
  }
  if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
    goto fail;
  }
  sqlite3_busy_timeout(st->db, 5000);
  /* The page cache capped at STORE_CACHE_KIB: the database is small and the OS caches its file
   * anyway; SQLite's default (2 MiB a connection) showed as daemon heap that grew 400 KiB over
   * the first start/kill cycles (bench/soak.py) and stayed. */
  if (exec_sql(st,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
               "PRAGMA cache_size=-" STORE_CACHE_KIB_STR ";",
               err, errlen) < 0)
    goto fail;
  if (migrate(st, err, errlen) < 0)
    goto fail;
  return st;
fail:
  store_free(st);
  return NULL;
}

void store_free(struct store *st) {
  if (!st)
    return;
  sqlite3_close(st->db);
  free(st);
}

/* Prepare, bind "s" (text), "i" (int64), "j" (json_t*, dumped), "n" (NULL) and step once. */
static int run(struct store *st, const char *sql, const char *types, ...) {
  sqlite3_stmt *s = NULL;
  int rc = STORE_ERROR;
  va_list ap;
  va_start(ap, types);
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
    goto out;
  for (int i = 0; types[i]; i++) {
    int k = i + 1, brc = SQLITE_OK;
    switch (types[i]) {
    case 's':
      brc = sqlite3_bind_text(s, k, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
      break;
    case 'i':
      brc = sqlite3_bind_int64(s, k, va_arg(ap, int64_t));
      break;
    case 'j': {
      char *txt = json_dumps(va_arg(ap, json_t *), JSON_COMPACT);
      if (!txt)
        goto out;
      brc = sqlite3_bind_text(s, k, txt, -1, free);
      break;
    }
    case 'n':
      brc = sqlite3_bind_null(s, k);
      break;
    }
    if (brc != SQLITE_OK)
      goto out;
  }
  int step = sqlite3_step(s);
  if (step == SQLITE_DONE || step == SQLITE_ROW)
    rc = sqlite3_changes(st->db) > 0 || step == SQLITE_ROW ? STORE_OK : STORE_NOT_FOUND;
  else if ((sqlite3_extended_errcode(st->db) & 0xff) == SQLITE_CONSTRAINT)
    rc = STORE_CONFLICT;
out:
  va_end(ap);
  if (rc == STORE_ERROR)
    log_err("sqlite: %s (in: %.60s)", sqlite3_errmsg(st->db), sql);
  sqlite3_finalize(s);
  return rc;
}

int store_vm_insert(struct store *st, const char *id, const char *name, json_t *config, int64_t created) {
  return run(st, "INSERT INTO vms(id, name, config, created_at, updated_at) VALUES(?, ?, ?, ?, ?)", "ssjii",
             id, name, config, created, created);
}

int store_vm_update(struct store *st, const char *id, const char *name, json_t *config) {
  return run(st, "UPDATE vms SET name = ?, config = ?, updated_at = ? WHERE id = ?", "sjis", name, config,
             now_unix(), id);
}

int store_vm_delete(struct store *st, const char *id) {
  return run(st, "DELETE FROM vms WHERE id = ?", "s", id);
}

int store_vm_each(struct store *st, store_vm_cb cb, void *ud) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(st->db, "SELECT id, config, created_at FROM vms ORDER BY created_at, id", -1, &s,
                         NULL) != SQLITE_OK)
    return STORE_ERROR;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(s, 0);
    json_error_t jerr;
    json_t *cfg = json_loads((const char *)sqlite3_column_text(s, 1), 0, &jerr);
    if (!cfg) {
      log_err("vm %s: stored config is not JSON: %s", id, jerr.text);
      continue;
    }
    cb(id, cfg, sqlite3_column_int64(s, 2), ud);
    json_decref(cfg);
  }
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

int store_runtime_set(struct store *st, const char *id, const struct store_runtime *rt) {
  return run(
      st,
      "INSERT OR REPLACE INTO vm_runtime(vm_id, pid, argv, started_at, start_time, boot_id, exe, tpm_pid, "
      "tpm_start_time) VALUES(?, ?, ?, ?, NULLIF(?, -1), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, 0), "
      "NULLIF(?, -1))",
      "sijiissii", id, (int64_t)rt->pid, rt->argv, rt->started, rt->start_time, rt->boot_id, rt->exe,
      (int64_t)rt->tpm_pid, rt->tpm_start_time);
}

int store_runtime_set_exe(struct store *st, const char *id, const char *exe) {
  return run(st, "UPDATE vm_runtime SET exe = NULLIF(?, '') WHERE vm_id = ?", "ss", exe, id);
}

int store_runtime_clear(struct store *st, const char *id) {
  int rc = run(st, "DELETE FROM vm_runtime WHERE vm_id = ?", "s", id);
  return rc == STORE_NOT_FOUND ? STORE_OK : rc;
}

int store_runtime_get(struct store *st, const char *id, struct store_runtime *rt) {
  sqlite3_stmt *s;
  int rc = STORE_ERROR;
  memset(rt, 0, sizeof(*rt));
  rt->start_time = rt->tpm_start_time = -1;
  if (sqlite3_prepare_v2(st->db,
                         "SELECT pid, argv, started_at, start_time, boot_id, exe, tpm_pid, tpm_start_time "
                         "FROM vm_runtime WHERE vm_id = ?",
                         -1, &s, NULL) != SQLITE_OK)
    return STORE_ERROR;
  sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
  int step = sqlite3_step(s);
  if (step == SQLITE_ROW) {
    rt->pid = (pid_t)sqlite3_column_int64(s, 0);
    rt->argv = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
    rt->started = sqlite3_column_int64(s, 2);
    if (sqlite3_column_type(s, 3) != SQLITE_NULL) /* NULL: a row from before migration 3 */
      rt->start_time = sqlite3_column_int64(s, 3);
    const char *t = (const char *)sqlite3_column_text(s, 4);
    snprintf(rt->boot_id, sizeof(rt->boot_id), "%s", t ? t : "");
    t = (const char *)sqlite3_column_text(s, 5);
    snprintf(rt->exe, sizeof(rt->exe), "%s", t ? t : "");
    rt->tpm_pid = (pid_t)sqlite3_column_int64(s, 6);
    if (sqlite3_column_type(s, 7) != SQLITE_NULL)
      rt->tpm_start_time = sqlite3_column_int64(s, 7);
    rc = json_is_array(rt->argv) ? STORE_OK : STORE_ERROR;
    if (rc != STORE_OK) {
      json_decref(rt->argv);
      rt->argv = NULL;
    }
  } else if (step == SQLITE_DONE) {
    rc = STORE_NOT_FOUND;
  }
  sqlite3_finalize(s);
  return rc;
}

/* The journal's rows must outlive a power cut, not only a killed daemon: NORMAL (the default here)
 * leaves a WAL commit unsynced until the next checkpoint. */
static int run_synced(struct store *st, const char *sql, const char *op, const char *id, const char *name,
                      int64_t started) {
  char e[256];
  if (exec_sql(st, "PRAGMA synchronous=FULL", e, sizeof(e)) < 0) {
    log_err("sqlite: %s", e);
    return STORE_ERROR;
  }
  int rc = op ? run(st, sql, "sssi", id, op, name, started) : run(st, sql, "s", id);
  if (exec_sql(st, "PRAGMA synchronous=NORMAL", e, sizeof(e)) < 0)
    log_err("sqlite: %s", e);
  return rc;
}

int store_snap_journal_begin(struct store *st, const char *id, const char *op, const char *name,
                             int64_t started) {
  return run_synced(st,
                    "INSERT OR REPLACE INTO vm_snap_journal(vm_id, op, name, started_at) VALUES(?, ?, ?, ?)",
                    op, id, name, started);
}

int store_snap_journal_end(struct store *st, const char *id) {
  int rc = run_synced(st, "DELETE FROM vm_snap_journal WHERE vm_id = ?", NULL, id, NULL, 0);
  return rc == STORE_NOT_FOUND ? STORE_OK : rc;
}

int store_snap_journal_each(struct store *st, store_snap_journal_cb cb, void *ud) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(st->db,
                         "SELECT vm_id, op, name, started_at FROM vm_snap_journal ORDER BY started_at", -1,
                         &s, NULL) != SQLITE_OK) {
    log_err("sqlite: %s (reading the snapshot journal)", sqlite3_errmsg(st->db));
    return STORE_ERROR;
  }
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW)
    cb((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
       (const char *)sqlite3_column_text(s, 2), sqlite3_column_int64(s, 3), ud);
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

int store_snap_machine_put(struct store *st, const char *id, const char *name,
                           const struct store_snap_machine *m) {
  return run(st, "INSERT OR REPLACE INTO vm_snap_machine(vm_id, name, machine, cpu) VALUES(?, ?, ?, ?)",
             "ssss", id, name, m->machine, m->cpu);
}

int store_snap_machine_delete(struct store *st, const char *id, const char *name) {
  int rc = run(st, "DELETE FROM vm_snap_machine WHERE vm_id = ? AND name = ?", "ss", id, name);
  return rc == STORE_NOT_FOUND ? STORE_OK : rc;
}

int store_snap_machine_get(struct store *st, const char *id, const char *name,
                           struct store_snap_machine *out) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(st->db, "SELECT machine, cpu FROM vm_snap_machine WHERE vm_id = ? AND name = ?", -1,
                         &s, NULL) != SQLITE_OK)
    return STORE_ERROR;
  sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, name, -1, SQLITE_TRANSIENT);
  int step = sqlite3_step(s), rc = step == SQLITE_ROW    ? STORE_OK
                                   : step == SQLITE_DONE ? STORE_NOT_FOUND
                                                         : STORE_ERROR;
  if (rc == STORE_OK) {
    snprintf(out->machine, sizeof(out->machine), "%s", (const char *)sqlite3_column_text(s, 0));
    snprintf(out->cpu, sizeof(out->cpu), "%s", (const char *)sqlite3_column_text(s, 1));
  }
  sqlite3_finalize(s);
  return rc;
}

int store_exit_add(struct store *st, const char *id, int64_t at, const char *status, int exit_code,
                   int signal, const char *reason, json_t *log_tail) {
  /* Keep the newest 20 records per VM. */
  int rc = run(st,
               "INSERT INTO vm_exits(vm_id, at, status, exit_code, signal, reason, log_tail) "
               "VALUES(?, ?, ?, NULLIF(?, -1), NULLIF(?, 0), ?, ?)",
               "sisiisj", id, at, status, (int64_t)exit_code, (int64_t)signal, reason, log_tail);
  if (rc == STORE_OK)
    run(st,
        "DELETE FROM vm_exits WHERE vm_id = ?1 AND id NOT IN "
        "(SELECT id FROM vm_exits WHERE vm_id = ?1 ORDER BY id DESC LIMIT 20)",
        "s", id);
  return rc;
}

json_t *store_exit_last(struct store *st, const char *id) {
  sqlite3_stmt *s;
  json_t *o = NULL;
  if (sqlite3_prepare_v2(st->db,
                         "SELECT at, status, exit_code, signal, reason, log_tail FROM vm_exits "
                         "WHERE vm_id = ? ORDER BY id DESC LIMIT 1",
                         -1, &s, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s) == SQLITE_ROW) {
    int sig = sqlite3_column_int(s, 3);
    json_t *tail = json_loads((const char *)sqlite3_column_text(s, 5), 0, NULL);
    o = json_pack("{s:I, s:s, s:o, s:o, s:o, s:s, s:o}", "at", (json_int_t)sqlite3_column_int64(s, 0),
                  "status", (const char *)sqlite3_column_text(s, 1), "exit_code",
                  sqlite3_column_type(s, 2) == SQLITE_NULL ? json_null()
                                                           : json_integer(sqlite3_column_int(s, 2)),
                  "signal", sig ? json_integer(sig) : json_null(), "signal_name",
                  sig ? json_sprintf("SIG%s", sig_abbrev(sig) ? sig_abbrev(sig) : "UNKNOWN") : json_null(),
                  "reason", (const char *)sqlite3_column_text(s, 4), "log_tail", tail ? tail : json_array());
  }
  sqlite3_finalize(s);
  return o;
}
