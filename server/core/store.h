/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store: the SQLite database (WAL, foreign keys) that holds VM configs, the
 * QEMU process each running VM has (for reattach) and exit records. Schema
 * changes are the numbered files in db/, embedded at build time and applied
 * in order at open; PRAGMA user_version is the schema version.
 * Owned by the core loop thread: no other thread calls it.
 */
#ifndef QHM_STORE_H
#define QHM_STORE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

/* Each SQLite connection's page cache (store.c, dl/dl_store.c). */
#define STORE_CACHE_KIB_STR "256"

struct store_migration {
  int version;
  const char *name;
  const char *sql;
};
extern const struct store_migration store_migrations[];
extern const unsigned store_migrations_count;

struct store;

enum { STORE_OK = 0, STORE_ERROR = -1, STORE_CONFLICT = -2, STORE_NOT_FOUND = -3 };

struct store *store_open(const char *path, char *err, size_t errlen);
void store_free(struct store *st);
int store_schema_version(struct store *st);

/* Every call below returns a STORE_* value and, on STORE_ERROR, logs why. */
int store_vm_insert(struct store *st, const char *id, const char *name, json_t *config, int64_t created);
int store_vm_update(struct store *st, const char *id, const char *name, json_t *config);
int store_vm_delete(struct store *st, const char *id);

typedef void (*store_vm_cb)(const char *id, json_t *config, int64_t created, void *ud);
int store_vm_each(struct store *st, store_vm_cb cb, void *ud);

/* The QEMU process a running VM has, for a restarted daemon (vm.c reattach; pident.h). */
struct store_runtime {
  pid_t pid;
  json_t *argv;           /* what it was started with; borrowed by set, a new reference from get */
  int64_t started;        /* Unix time of the start */
  int64_t start_time;     /* the pid's start time (pident.h); -1: not recorded (a row from before v3) */
  char boot_id[40];       /* the boot it started in; "" not recorded */
  char exe[4096];         /* /proc/PID/exe once QMP answered; "" not yet */
  pid_t tpm_pid;          /* its swtpm, 0 none */
  int64_t tpm_start_time; /* -1 none */
};
int store_runtime_set(struct store *st, const char *id, const struct store_runtime *rt);
int store_runtime_set_exe(struct store *st, const char *id, const char *exe);
int store_runtime_clear(struct store *st, const char *id);
/* STORE_NOT_FOUND when none is recorded. */
int store_runtime_get(struct store *st, const char *id, struct store_runtime *rt);

/* The journal of a stopped VM's disk-only snapshot operation (db/004; vm_snap.c, vm_sweep.c): OP is
 * "take", "restore" or "delete". Begin and end are synced to disk (synchronous=FULL) before they
 * return: a power cut after either still finds the row as it was told to be. */
int store_snap_journal_begin(struct store *st, const char *id, const char *op, const char *name,
                             int64_t started);
/* STORE_OK also when there was none. */
int store_snap_journal_end(struct store *st, const char *id);
typedef void (*store_snap_journal_cb)(const char *id, const char *op, const char *name, int64_t started,
                                      void *ud);
int store_snap_journal_each(struct store *st, store_snap_journal_cb cb, void *ud);

/* The machine type and -cpu memory snapshot NAME of VM ID was saved with
 * (db/005_snapshot_machine.sql). Put replaces; delete is STORE_OK also when there was none; get:
 * STORE_NOT_FOUND when none. */
struct store_snap_machine {
  char machine[64]; /* pc-q35-7.2 */
  char cpu[128];    /* max,pauth-impdef=on */
};
int store_snap_machine_put(struct store *st, const char *id, const char *name,
                           const struct store_snap_machine *m);
int store_snap_machine_delete(struct store *st, const char *id, const char *name);
int store_snap_machine_get(struct store *st, const char *id, const char *name,
                           struct store_snap_machine *out);

int store_exit_add(struct store *st, const char *id, int64_t at, const char *status, int exit_code,
                   int signal, const char *reason, json_t *log_tail);
/* The newest exit record as the API's "last_exit" object, or NULL. */
json_t *store_exit_last(struct store *st, const char *id);

#endif
