/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for store.c: migrations, unique names, runtime rows, exit records. */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "store.h"
#include "util.h"

struct fx {
  char dir[64];
  char path[128];
  struct store *st;
};

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  strcpy(f->dir, "/tmp/qhm-store-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/db.sqlite3", f->dir);
  char err[256];
  f->st = store_open(f->path, err, sizeof(err));
  assert_non_null(f->st);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  store_free(f->st);
  rm_rf(f->dir);
  free(f);
  return 0;
}

static void test_migrations_applied_once(void **state) {
  struct fx *f = *state;
  assert_int_equal(store_schema_version(f->st), (int)store_migrations_count);
  store_free(f->st);
  char err[256];
  f->st = store_open(f->path, err, sizeof(err)); /* reopen: nothing to apply, no error */
  assert_non_null(f->st);
  assert_int_equal(store_schema_version(f->st), (int)store_migrations_count);
}

static void test_newer_schema_refused(void **state) {
  struct fx *f = *state;
  store_free(f->st);
  f->st = NULL;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  char err[256] = "";
  assert_null(store_open(f->path, err, sizeof(err)));
  assert_non_null(strstr(err, "newer than this program knows"));
}

static void test_vm_rows(void **state) {
  struct fx *f = *state;
  json_t *cfg = json_pack("{s:s}", "name", "a");
  assert_int_equal(store_vm_insert(f->st, "id1", "a", cfg, 1), STORE_OK);
  assert_int_equal(store_vm_insert(f->st, "id2", "a", cfg, 2), STORE_CONFLICT);
  assert_int_equal(store_vm_insert(f->st, "id1", "b", cfg, 2), STORE_CONFLICT);
  assert_int_equal(store_vm_insert(f->st, "id2", "b", cfg, 2), STORE_OK);
  assert_int_equal(store_vm_update(f->st, "id2", "a", cfg), STORE_CONFLICT);
  assert_int_equal(store_vm_update(f->st, "nope", "c", cfg), STORE_NOT_FOUND);
  assert_int_equal(store_vm_update(f->st, "id2", "c", cfg), STORE_OK);
  json_decref(cfg);
  assert_int_equal(store_vm_delete(f->st, "id1"), STORE_OK);
  assert_int_equal(store_vm_delete(f->st, "id1"), STORE_NOT_FOUND);
}

static void count_cb(const char *id, json_t *config, int64_t created, void *ud) {
  (*(int *)ud)++;
}

static void test_runtime_and_exits_cascade(void **state) {
  struct fx *f = *state;
  json_t *cfg = json_object();
  assert_int_equal(store_vm_insert(f->st, "vm", "vm", cfg, 1), STORE_OK);
  json_decref(cfg);
  json_t *argv = json_pack("[s, s]", "/usr/bin/qemu-system-x86_64", "-m");
  struct store_runtime rt = {
      .pid = 1234, .argv = argv, .started = 5, .start_time = 777, .tpm_start_time = -1};
  snprintf(rt.boot_id, sizeof(rt.boot_id), "b00t");
  assert_int_equal(store_runtime_set(f->st, "vm", &rt), STORE_OK);
  /* No such VM: the foreign key refuses the row (a constraint, like a duplicate name). */
  assert_int_equal(store_runtime_set(f->st, "ghost", &rt), STORE_CONFLICT);
  struct store_runtime back;
  assert_int_equal(store_runtime_get(f->st, "vm", &back), STORE_OK);
  assert_int_equal(back.pid, 1234);
  assert_int_equal(back.started, 5);
  assert_int_equal(back.start_time, 777);
  assert_string_equal(back.boot_id, "b00t");
  assert_string_equal(back.exe, "");
  assert_int_equal(back.tpm_pid, 0);
  assert_int_equal(back.tpm_start_time, -1);
  assert_true(json_equal(argv, back.argv));
  json_decref(back.argv);
  assert_int_equal(store_runtime_set_exe(f->st, "vm", "/usr/libexec/qemu-system-i386"), STORE_OK);
  assert_int_equal(store_runtime_get(f->st, "vm", &back), STORE_OK);
  assert_string_equal(back.exe, "/usr/libexec/qemu-system-i386");
  json_decref(back.argv);
  json_decref(argv);
  for (int i = 0; i < 25; i++) {
    json_t *tail = json_pack("[s]", "line");
    assert_int_equal(store_exit_add(f->st, "vm", 100 + i, "crashed", -1, 9, "killed", tail), STORE_OK);
    json_decref(tail);
  }
  json_t *last = store_exit_last(f->st, "vm");
  assert_non_null(last);
  assert_int_equal(json_integer_value(json_object_get(last, "at")), 124);
  assert_int_equal(json_integer_value(json_object_get(last, "signal")), 9);
  assert_string_equal(json_string_value(json_object_get(last, "signal_name")), "SIGKILL");
  assert_true(json_is_null(json_object_get(last, "exit_code")));
  json_decref(last);
  assert_int_equal(store_vm_delete(f->st, "vm"), STORE_OK);
  assert_int_equal(store_runtime_get(f->st, "vm", &back), STORE_NOT_FOUND);
  assert_null(store_exit_last(f->st, "vm"));
  int n = 0;
  assert_int_equal(store_vm_each(f->st, count_cb, &n), STORE_OK);
  assert_int_equal(n, 0);
}

/* A runtime row written before migration 3 (no identity columns) stays readable: start_time -1,
 * boot_id "" (vm.c then identifies the process the old way). */
static void test_runtime_row_from_v2(void **state) {
  struct fx *f = *state;
  store_free(f->st);
  f->st = NULL;
  unlink(f->path);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  for (unsigned i = 0; i < 2; i++)
    assert_int_equal(sqlite3_exec(db, store_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "PRAGMA user_version = 2;"
                   "INSERT INTO vms VALUES('vm', 'vm', '{}', 1, 1);"
                   "INSERT INTO vm_runtime VALUES('vm', 42, '[\"/usr/bin/qemu-system-i386\"]', 9);",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  char err[256];
  f->st = store_open(f->path, err, sizeof(err));
  assert_non_null(f->st);
  struct store_runtime rt;
  assert_int_equal(store_runtime_get(f->st, "vm", &rt), STORE_OK);
  assert_int_equal(rt.pid, 42);
  assert_int_equal(rt.started, 9);
  assert_int_equal(rt.start_time, -1);
  assert_string_equal(rt.boot_id, "");
  assert_int_equal(rt.tpm_start_time, -1);
  json_decref(rt.argv);
}

struct journal_seen {
  int n;
  char id[16], op[16], name[32];
  int64_t started;
};

static void journal_cb(const char *id, const char *op, const char *name, int64_t started, void *ud) {
  struct journal_seen *j = ud;
  j->n++;
  snprintf(j->id, sizeof(j->id), "%s", id);
  snprintf(j->op, sizeof(j->op), "%s", op);
  snprintf(j->name, sizeof(j->name), "%s", name);
  j->started = started;
}

static void test_snap_journal(void **state) {
  struct fx *f = *state;
  json_t *cfg = json_pack("{s:s}", "name", "vm");
  assert_int_equal(store_vm_insert(f->st, "vm", "vm", cfg, 1), STORE_OK);
  assert_int_equal(store_vm_insert(f->st, "vm2", "vm2", cfg, 1), STORE_OK);
  json_decref(cfg);
  struct journal_seen j = {0};
  assert_int_equal(store_snap_journal_each(f->st, journal_cb, &j), STORE_OK);
  assert_int_equal(j.n, 0);
  /* one row per VM: a second begin replaces the first */
  assert_int_equal(store_snap_journal_begin(f->st, "vm", "take", "a", 5), STORE_OK);
  assert_int_equal(store_snap_journal_begin(f->st, "vm", "restore", "b", 6), STORE_OK);
  assert_int_equal(store_snap_journal_begin(f->st, "vm", "rollback", "b", 6), STORE_CONFLICT);
  assert_int_equal(store_snap_journal_begin(f->st, "nope", "take", "b", 6), STORE_CONFLICT);
  assert_int_equal(store_snap_journal_each(f->st, journal_cb, &j), STORE_OK);
  assert_int_equal(j.n, 1);
  assert_string_equal(j.id, "vm");
  assert_string_equal(j.op, "restore");
  assert_string_equal(j.name, "b");
  assert_int_equal(j.started, 6);
  /* kept across a reopen; gone with its VM */
  assert_int_equal(store_snap_journal_begin(f->st, "vm2", "delete", "c", 7), STORE_OK);
  store_free(f->st);
  char err[256];
  f->st = store_open(f->path, err, sizeof(err));
  assert_non_null(f->st);
  j.n = 0;
  assert_int_equal(store_snap_journal_each(f->st, journal_cb, &j), STORE_OK);
  assert_int_equal(j.n, 2);
  assert_int_equal(store_vm_delete(f->st, "vm2"), STORE_OK);
  assert_int_equal(store_snap_journal_end(f->st, "vm"), STORE_OK);
  assert_int_equal(store_snap_journal_end(f->st, "vm"), STORE_OK); /* none: fine */
  j.n = 0;
  assert_int_equal(store_snap_journal_each(f->st, journal_cb, &j), STORE_OK);
  assert_int_equal(j.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_migrations_applied_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_vm_rows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runtime_and_exits_cascade, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runtime_row_from_v2, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snap_journal, setup, teardown),
  };
  return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
