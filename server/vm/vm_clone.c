/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_clone: POST /vms/{id}/clone — a new, stopped VM with the source's
 * settings and a copy of each of its disks as they are now (qemu-img
 * convert: the data, not the internal snapshots), its UEFI variables, and a
 * new id, SMBIOS UUID and MAC address. The source must be stopped, so its
 * disks are consistent. Everything is made in the new VM's directory and the
 * database row is inserted last: a failure removes the directory and leaves
 * no VM. Core loop thread only.
 */
#include "vm_clone.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "crashpt.h"
#include "host.h"
#include "img.h"
#include "proc.h"
#include "util.h"
#include "vm_efivars.h"
#include "vm_priv.h"

struct clone_ctx {
  struct vm *src, *v; /* v: the new VM, not yet registered */
  struct core_req *r;
  size_t disk;
  char dir[4200];
};

/* The half-made copy goes before the answer: whoever reads the answer finds nothing left. */
static void fail(struct clone_ctx *x, int status, const char *code, const char *msg) {
  rm_rf(x->dir);
  vm_release(x->v);
  x->src->busy = false;
  core_req_reply_error(x->r, status, code, "%s", msg);
  free(x);
}

static void next_disk(struct clone_ctx *x);
static void on_efivars(const char *err, void *ud);

static void on_copied(const struct proc_result *res, void *ud) {
  struct clone_ctx *x = ud;
  if (res->exit_status != 0) {
    char *msg = xasprintf("copying %s failed: %s", x->src->cfg.disks[x->disk].path,
                          res->err[0] ? res->err : "qemu-img gave no reason");
    fail(x, 500, "internal", msg);
    free(msg);
    return;
  }
  crashpt("clone:after_disk");
  x->disk++;
  next_disk(x);
}

static void next_disk(struct clone_ctx *x) {
  struct vm *src = x->src;
  if (x->disk < src->cfg.n_disks) {
    /* QEMU (unprivileged) could have rewritten the container: qemu-img, the daemon's user, must not
     * follow a backing file into a host file while copying */
    const char *fmt;
    char err[256];
    enum img_result ir = img_check_file(src->cfg.disks[x->disk].path, &fmt, err, sizeof(err));
    if (ir == IMG_OK && strcmp(fmt, "qcow2") != 0) {
      snprintf(err, sizeof(err), "not a qcow2 image but %s", fmt);
      ir = IMG_WRONG_FORMAT;
    }
    if (ir != IMG_OK) {
      char *msg = xasprintf("copying %s: %s", src->cfg.disks[x->disk].path, err);
      if (ir == IMG_IO) /* the disk went away: the copy failed */
        fail(x, 500, "internal", msg);
      else
        fail(x, 409, img_result_code(ir), msg);
      free(msg);
      return;
    }
    /* its own copy of the disk, sparse, without the source's internal snapshots */
    char *argv[] = {src->m->c->host.qemu_img,
                    "convert",
                    "-q",
                    "-f",
                    "qcow2",
                    "-O",
                    "qcow2",
                    src->cfg.disks[x->disk].path,
                    x->v->cfg.disks[x->disk].path,
                    NULL};
    proc_run(src->m->c->launcher, argv, on_copied, x);
    return;
  }
  char from[4200]; /* the UEFI variables last, without the source's snapshots (vm_efivars.h) */
  snprintf(from, sizeof(from), "%s/vms/%s", src->m->c->data_dir, src->cfg.id);
  vm_efivars_copy(src->m->c->launcher, src->m->c->host.qemu_img, from, x->dir, on_efivars, x);
}

static void on_efivars(const char *err, void *ud) {
  struct clone_ctx *x = ud;
  struct vm *src = x->src;
  if (err) {
    fail(x, 500, "internal", err);
    return;
  }
  src->busy = false;
  crashpt("clone:before_row");
  int st = vm_register(src->m, x->v, x->r);
  if (st) {
    rm_rf(x->dir);
    vm_release(x->v);
    vm_register_failed(x->r, st);
  } else {
    log_info("vm %s: cloned from %s (%s)", x->v->cfg.id, src->cfg.id, src->cfg.name);
  }
  free(x);
}

/* Bytes the source's disk files take now: a fair bound for sparse copies of them. */
static uint64_t allocated_mib(const struct vm *v) {
  uint64_t total = 0;
  struct stat st;
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    if (stat(v->cfg.disks[i].path, &st) == 0)
      total += (uint64_t)st.st_blocks * 512;
  return total / (1024 * 1024) + 1;
}

void vm_clone_req(struct vm_manager *m, struct core_req *r, const char *id, json_t *body) {
  struct vm *src = vm_find(m, id);
  if (!src) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (!vm_manager_room(m, r)) /* the body's keys: the route table (api.c) */
    return;
  json_t *name = json_object_get(body, "name");
  if (!json_is_string(name) || !vm_name_valid(json_string_value(name))) {
    core_req_reply_error(r, 400, "invalid_field", "name: required, 1-%d bytes of printable UTF-8",
                         VM_NAME_MAX);
    return;
  }
  if (vm_find_name(m, json_string_value(name), NULL)) {
    core_req_reply_error(r, 409, "conflict", "name: a VM named '%s' exists", json_string_value(name));
    return;
  }
  if (src->state != ST_STOPPED && src->state != ST_CRASHED) {
    core_req_reply_error(r, 409, "invalid_state",
                         "cannot clone: the VM is %s; stop it first (its disks change)",
                         vm_state_names[src->state]);
    return;
  }
  if (src->busy) {
    core_req_reply_error(r, 409, "busy", "another snapshot or disk operation is running on this VM");
    return;
  }
  if (src->cfg.n_disks && !m->c->host.qemu_img[0]) {
    core_req_reply_error(r, 500, "internal", "qemu-img is not installed");
    return;
  }
  uint64_t want = allocated_mib(src), free_mib = 0;
  if (!host_disk_fits(m->c->data_dir, want, &free_mib)) {
    core_req_reply_error(
        r, 507, "insufficient_storage",
        "the copy needs about %llu MiB but only %llu MiB are free (%d MiB are kept in reserve)",
        (unsigned long long)want, (unsigned long long)free_mib, HOST_DISK_RESERVE_MIB);
    return;
  }
  struct clone_ctx *x = xcalloc(1, sizeof(*x));
  x->src = src;
  x->r = r;
  x->v = vm_alloc(m);
  struct vm *v = x->v;
  v->cfg = src->cfg;
  snprintf(v->cfg.name, sizeof(v->cfg.name), "%s", json_string_value(name));
  do {
    random_hex(v->cfg.id, VM_ID_LEN);
  } while (vm_find(m, v->cfg.id));
  random_uuid(v->cfg.uuid);
  v->created = now_unix();
  snprintf(x->dir, sizeof(x->dir), "%s/vms/%s", m->c->data_dir, v->cfg.id);
  if (mkdir(x->dir, 0700) < 0) {
    char *msg = xasprintf("cannot create %s: %s", x->dir, strerror(errno));
    x->dir[0] = 0; /* not ours to remove */
    core_req_reply_error(r, 500, "internal", "%s", msg);
    free(msg);
    vm_release(v);
    free(x);
    return;
  }
  for (size_t i = 0; i < v->cfg.n_disks; i++) {
    const char *base = strrchr(src->cfg.disks[i].path, '/');
    snprintf(v->cfg.disks[i].path, sizeof(v->cfg.disks[i].path), "%s%s", x->dir, base ? base : "/disk.qcow2");
  }
  src->busy = true;
  crashpt("clone:after_mkdir");
  next_disk(x);
}
