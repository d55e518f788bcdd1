/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_sweep: the start-up half of crash consistency for VMs (the other half is
 * the order of each operation's steps: files first, the row last; see
 * docs/architecture.md "Crash consistency"). Called by vm_manager_load with the
 * rows loaded, before reattaching, on the core thread. A daemon killed in the
 * middle of an operation leaves at most:
 *   - DATA/vms/ID without a row: a create or clone that never inserted it → removed;
 *   - DATA/vms/.deleting-ID[.keep]: a delete. Row still there → put back (the
 *     delete never happened); else finished (".keep": the disks go to DATA/disks first);
 *   - DATA/vms/ID/.new-disk*, .new-efivars.qcow2: a disk or UEFI variable store being made → removed;
 *   - DATA/vms/ID/diskN.qcow2 not in the config: added but not committed, or
 *     detached but not yet removed → moved to DATA/disks (a crash never destroys a disk);
 *   - a snapshot journal row (vm_snap.c: a stopped VM's take, restore or delete cut between two
 *     of its files): take or delete → the name removed from every disk (and efivars.qcow2) that
 *     has it, restore → applied again to every one; then the row goes. qemu-img runs to its end
 *     here (proc_run_wait): nothing is served before the disks are in step. A row that cannot be
 *     resolved (a disk missing, qemu-img failing) stays, and the VM says why and does not start.
 * Only names the daemon makes are touched.
 */
#include "vm_sweep.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "proc.h"
#include "store.h"
#include "util.h"
#include "vm_efivars.h"
#include "vm_priv.h"

/* Every row's id, also of rows whose config did not load (their directories are not ours to remove). */
struct ids {
  char (*id)[VM_ID_LEN + 1];
  size_t n, cap;
};

static void add_id(const char *id, json_t *config, int64_t created, void *ud) {
  struct ids *x = ud;
  (void)config;
  (void)created;
  if (x->n == x->cap) {
    x->cap = x->cap ? x->cap * 2 : 32;
    x->id = xrealloc(x->id, x->cap * sizeof(*x->id));
  }
  snprintf(x->id[x->n++], sizeof(x->id[0]), "%s", id);
}

static bool has_row(const struct ids *x, const char *id) {
  for (size_t i = 0; i < x->n; i++)
    if (strcmp(x->id[i], id) == 0)
      return true;
  return false;
}

static bool is_id(const char *s) {
  size_t n = strlen(s);
  if (n != VM_ID_LEN)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* DIR/FILE → DATA/disks/ID-FILE (or ID-STEM-N.qcow2 when taken). */
static void keep_disk(struct vm_manager *m, const char *id, const char *dir, const char *file) {
  char from[4600], disks[4200], to[4700], stem[256];
  snprintf(from, sizeof(from), "%s/%s", dir, file);
  snprintf(disks, sizeof(disks), "%s/disks", m->c->data_dir);
  mkdir_p(disks, 0700);
  snprintf(stem, sizeof(stem), "%s", file);
  char *dot = strrchr(stem, '.');
  if (dot)
    *dot = 0;
  for (unsigned n = 0; n < 1000; n++) {
    if (n)
      snprintf(to, sizeof(to), "%s/%s-%s-%u.qcow2", disks, id, stem, n);
    else
      snprintf(to, sizeof(to), "%s/%s-%s.qcow2", disks, id, stem);
    if (access(to, F_OK) < 0)
      break;
  }
  if (rename(from, to) == 0)
    log_info("vm %s: start-up: %s was not in the VM's config, kept as %s", id, from, to);
  else
    log_err("vm %s: start-up: cannot move %s to %s: %s", id, from, to, strerror(errno));
}

static bool is_disk_name(const char *n) {
  size_t len = strlen(n);
  return strncmp(n, "disk", 4) == 0 && len > 10 && strcmp(n + len - 6, ".qcow2") == 0;
}

/* A VM with a row: drop temp files, keep disks it does not list. Files are matched by inode, not
 * by name (the data directory may be named another way than when the config was written); when a
 * disk the config lists is missing, nothing is moved (doubt: leave it to the user). */
static void sweep_vm_dir(struct vm_manager *m, struct vm *v, const char *dir) {
  bool doubt = false;
  struct stat cs[VM_MAX_DISKS], st;
  for (size_t i = 0; i < v->cfg.n_disks && i < VM_MAX_DISKS; i++)
    doubt |= stat(v->cfg.disks[i].path, &cs[i]) < 0;
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    char path[4600];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    if (strncmp(e->d_name, ".new-", 5) == 0) {
      log_info("vm %s: start-up: removing %s (left by an interrupted operation)", v->cfg.id, path);
      unlink(path);
      continue;
    }
    if (doubt || !is_disk_name(e->d_name) || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
      continue;
    bool listed = false;
    for (size_t i = 0; i < v->cfg.n_disks && i < VM_MAX_DISKS && !listed; i++)
      listed = cs[i].st_dev == st.st_dev && cs[i].st_ino == st.st_ino;
    if (!listed)
      keep_disk(m, v->cfg.id, dir, e->d_name);
  }
  closedir(d);
}

/* A delete's directory, moved aside: undone if the row is still there, else finished. */
static void sweep_deleting(struct vm_manager *m, const struct ids *rows, const char *vms, const char *name) {
  char id[VM_ID_LEN + 8], trash[4400], dir[4400];
  snprintf(id, sizeof(id), "%.*s", VM_ID_LEN, name + strlen(".deleting-"));
  bool keep = strcmp(name + strlen(".deleting-") + strlen(id), ".keep") == 0;
  snprintf(trash, sizeof(trash), "%s/%s", vms, name);
  snprintf(dir, sizeof(dir), "%s/%s", vms, id);
  if (is_id(id) && has_row(rows, id)) {
    if (rename(trash, dir) == 0) {
      log_info("vm %s: start-up: an interrupted delete was undone", id);
      return;
    }
    log_err("vm %s: start-up: cannot put %s back: %s", id, trash, strerror(errno));
    return; /* never remove a VM that still has its row */
  }
  if (keep && is_id(id)) {
    DIR *d = opendir(trash);
    struct dirent *e;
    while (d && (e = readdir(d)))
      if (is_disk_name(e->d_name))
        keep_disk(m, id, trash, e->d_name);
    if (d)
      closedir(d);
  }
  log_info("vm %s: start-up: finishing an interrupted delete (%s)", id, trash);
  if (rm_rf(trash) < 0)
    log_err("vm %s: start-up: cannot remove %s: %s", id, trash, strerror(errno));
}

/* ---- the snapshot journal ---- */

struct journal_row {
  char id[VM_ID_LEN + 1], op[16], name[256];
  int64_t started;
};

struct journal {
  struct journal_row *row;
  size_t n, cap;
};

static void add_journal_row(const char *id, const char *op, const char *name, int64_t started, void *ud) {
  struct journal *j = ud;
  if (j->n == j->cap) {
    j->cap = j->cap ? j->cap * 2 : 8;
    j->row = xrealloc(j->row, j->cap * sizeof(*j->row));
  }
  struct journal_row *r = &j->row[j->n++];
  snprintf(r->id, sizeof(r->id), "%s", id);
  snprintf(r->op, sizeof(r->op), "%s", op);
  snprintf(r->name, sizeof(r->name), "%s", name);
  r->started = started;
}

/* qemu-img ARGV (on PATH) to its end: 0, or -1 with WHY (its stderr). */
static int img_run(struct vm_manager *m, char *const argv[], const char *path, struct proc_result *res,
                   char *why, size_t len) {
  if (proc_run_wait(m->c->launcher, argv, res) == 0)
    return 0;
  size_t n = strlen(res->err);
  while (n && (res->err[n - 1] == '\n' || res->err[n - 1] == '\r'))
    res->err[--n] = 0;
  snprintf(why, len, "qemu-img %s on %s: %s", argv[1], path,
           res->err[0]        ? res->err
           : res->term_signal ? "killed by a signal"
                              : "failed");
  return -1;
}

/* How often NAME is on the qcow2 file PATH, or -1 with WHY. */
static int name_count(struct vm_manager *m, const char *path, const char *name, char *why, size_t len) {
  char *argv[] = {m->c->host.qemu_img, "info", "--output=json", "-U", "-f", "qcow2", (char *)path, NULL};
  struct proc_result res;
  int n = -1;
  if (img_run(m, argv, path, &res, why, len) == 0) {
    json_t *info = json_loads(res.out, 0, NULL);
    json_t *counts = info ? vm_snap_name_counts(info) : NULL;
    if (counts)
      n = (int)json_integer_value(json_object_get(counts, name));
    else
      snprintf(why, len, "cannot read the snapshots of %s: qemu-img printed no JSON", path);
    json_decref(counts);
    json_decref(info);
  }
  proc_result_free(&res);
  return n;
}

static int img_snapshot(struct vm_manager *m, const char *flag, const char *name, const char *path, char *why,
                        size_t len) {
  char *opts = vm_snap_image_opts(path);
  char *argv[] = {m->c->host.qemu_img, "snapshot", "--image-opts", (char *)flag, (char *)name, opts, NULL};
  struct proc_result res;
  int rc = img_run(m, argv, path, &res, why, len);
  proc_result_free(&res);
  free(opts);
  return rc;
}

/* Finish or undo R on V's files: 0 with what was done in DONE, or -1 with WHY (nothing pretended). */
static int resolve(struct vm_manager *m, struct vm *v, const struct journal_row *r, char *done,
                   size_t donelen, char *why, size_t len) {
  char paths[VM_MAX_DISKS + 1][4200];
  int count[VM_MAX_DISKS + 1];
  size_t n = 0;
  for (size_t i = 0; i < v->cfg.n_disks && i < VM_MAX_DISKS; i++) {
    if (access(v->cfg.disks[i].path, F_OK) < 0) {
      snprintf(why, len, "disk %zu (%s) is missing", i, v->cfg.disks[i].path);
      return -1;
    }
    snprintf(paths[n++], sizeof(paths[0]), "%s", v->cfg.disks[i].path);
  }
  vm_path(v, VM_EFIVARS, paths[n], sizeof(paths[0]));
  bool efivars = access(paths[n], F_OK) == 0; /* a stopped VM's snapshots include it when it is there */
  if (efivars)
    n++;
  for (size_t i = 0; i < n; i++)
    if ((count[i] = name_count(m, paths[i], r->name, why, len)) < 0)
      return -1;
  unsigned changed = 0;
  if (strcmp(r->op, "restore") == 0) {
    for (size_t i = 0; i < v->cfg.n_disks; i++)
      if (count[i] == 0) {
        snprintf(why, len, "disk %zu (%s) has no snapshot '%s' to restore", i, paths[i], r->name);
        return -1;
      }
    for (size_t i = 0; i < n; i++) /* efivars.qcow2 took part only when it has the snapshot */
      if (count[i] > 0) {
        if (img_snapshot(m, "-a", r->name, paths[i], why, len) < 0)
          return -1;
        changed++;
      }
    snprintf(done, donelen, "applied again to %u file%s%s", changed, changed == 1 ? "" : "s",
             efivars && count[n - 1] > 0 ? " (the disks and the UEFI variables)" : " (every disk)");
    return 0;
  }
  /* take: a half-taken snapshot is not a snapshot; delete: a half-deleted one is finished */
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < count[i]; k++) {
      if (img_snapshot(m, "-d", r->name, paths[i], why, len) < 0)
        return -1;
      changed++;
    }
  snprintf(done, donelen, "%s: removed from %u of %zu file%s",
           strcmp(r->op, "take") == 0 ? "undone" : "finished", changed, n, n == 1 ? "" : "s");
  return 0;
}

static void sweep_snap_journal(struct vm_manager *m) {
  struct journal j = {0};
  if (store_snap_journal_each(m->c->store, add_journal_row, &j) != STORE_OK) {
    free(j.row);
    return; /* read again at the next start; the VMs start as before */
  }
  for (size_t i = 0; i < j.n; i++) {
    struct journal_row *r = &j.row[i];
    struct vm *v = vm_find(m, r->id);
    char done[200] = "", why[400] = "";
    if (!v) { /* its config did not load: its files are not looked at */
      log_err("vm %s: start-up: a snapshot %s of '%s' was cut short, but the VM is not loaded; left as it is",
              r->id, r->op, r->name);
      continue;
    }
    if (resolve(m, v, r, done, sizeof(done), why, sizeof(why)) < 0) {
      snprintf(
          v->snap_pending, sizeof(v->snap_pending),
          "a snapshot %s of '%s' was cut short and cannot be finished: %s (the daemon's next start tries "
          "again)",
          r->op, r->name, why);
      log_err("vm %s: start-up: %s", r->id, v->snap_pending);
      continue;
    }
    if (store_snap_journal_end(m->c->store, r->id) != STORE_OK) {
      snprintf(v->snap_pending, sizeof(v->snap_pending),
               "a snapshot %s of '%s' was cut short and is resolved, but its journal could not be cleared "
               "(the daemon's next start tries again)",
               r->op, r->name);
      log_err("vm %s: start-up: %s", r->id, v->snap_pending);
      continue;
    }
    log_info("vm %s: start-up: a snapshot %s of '%s' cut short (started at %lld) was %s", r->id, r->op,
             r->name, (long long)r->started, done);
  }
  free(j.row);
}

static void sweep_dirs(struct vm_manager *m) {
  char vms[4200];
  snprintf(vms, sizeof(vms), "%s/vms", m->c->data_dir);
  DIR *d = opendir(vms);
  if (!d)
    return;
  struct ids rows = {0};
  if (store_vm_each(m->c->store, add_id, &rows) != STORE_OK) {
    closedir(d);
    free(rows.id);
    return; /* when in doubt, nothing is touched */
  }
  /* names first: the directory changes while it is swept */
  char(*names)[256] = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      names = xrealloc(names, cap * sizeof(*names));
    }
    snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
  }
  closedir(d);
  for (size_t i = 0; i < n; i++)
    if (strncmp(names[i], ".deleting-", 10) == 0)
      sweep_deleting(m, &rows, vms, names[i]);
  for (size_t i = 0; i < n; i++) {
    char path[4500];
    snprintf(path, sizeof(path), "%s/%s", vms, names[i]);
    if (!is_id(names[i]))
      continue;
    struct vm *v = vm_find(m, names[i]);
    if (v) {
      sweep_vm_dir(m, v, path);
    } else if (!has_row(&rows, names[i])) {
      log_info("vm %s: start-up: removing %s (a create or clone that did not finish)", names[i], path);
      if (rm_rf(path) < 0)
        log_err("vm %s: start-up: cannot remove %s: %s", names[i], path, strerror(errno));
    }
  }
  free(names);
  free(rows.id);
}

void vm_sweep(struct vm_manager *m) {
  sweep_dirs(m); /* first: a delete cut short is put back before its VM's files are looked at */
  sweep_snap_journal(m);
}
