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
 *     detached but not yet removed → moved to DATA/disks (a crash never destroys a disk).
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
#include "store.h"
#include "util.h"
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

void vm_sweep(struct vm_manager *m) {
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
