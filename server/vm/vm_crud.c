/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_crud: creating a VM (its directory, UEFI variable store, disks, then the database row, so a
 * failure leaves nothing behind; or a dry run), changing its config (PATCH) and deleting it (the
 * directory moved aside first; disks kept on request). vm_register() is shared with vm_clone.c.
 * Core loop thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core.h"
#include "crashpt.h"
#include "events.h"
#include "proc.h"
#include "store.h"
#include "ticket.h"
#include "util.h"
#include "vm.h"
#include "vm_argv.h"
#include "vm_config.h"
#include "vm_efivars.h"
#include "vm_perf.h"
#include "vm_priv.h"
#include "vm_virtiofs.h"

/* ---- create ---- */

/* Host-dependent checks shared by create and patch: 0, or -1 after answering R. */
int vm_check_host_limits(struct vm_manager *m, struct core_req *r, struct vm_config *cfg) {
  const struct host *h = &m->c->host;
  char err[1024];
  if (!h->binary[cfg->arch][0]) {
    core_req_reply_error(r, 400, "invalid_field",
                         "arch: %s guests need qemu-system-%s, which is not installed",
                         vm_arch_name(cfg->arch), vm_arch_name(cfg->arch));
    return -1;
  }
  if (cfg->memory_mib > host_max_vm_memory_mib(h)) {
    core_req_reply_error(r, 422, "over_limit",
                         "memory_mib: %u MiB is over this host's limit of %llu MiB per VM", cfg->memory_mib,
                         (unsigned long long)host_max_vm_memory_mib(h));
    return -1;
  }
  if (cfg->cpus > h->cpus) {
    core_req_reply_error(r, 422, "over_limit", "cpus: %u is more than this host's %u CPUs", cfg->cpus,
                         h->cpus);
    return -1;
  }
  if (cfg->n_qemu_args && host_caps_knows_devices(h, cfg->arch)) { /* -device names this QEMU has */
    const char *args[VM_MAX_QEMU_ARGS];
    size_t n = vm_config_qemu_args(cfg, args);
    const char *base = strrchr(h->binary[cfg->arch], '/');
    if (vm_qemu_args_check_devices(args, n, (const char *const *)h->caps[cfg->arch].devices,
                                   h->caps[cfg->arch].n_devices, base ? base + 1 : h->binary[cfg->arch], err,
                                   sizeof(err)) < 0) {
      core_req_reply_error(r, 400, "invalid_field", "%s", err);
      return -1;
    }
  }
  if (vm_confine_paths(m->c->roots, cfg, true, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 403, "path_not_allowed", "%s", err);
    return -1;
  }
  if (!vm_host_files_ok(cfg, err, sizeof(err))) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return -1;
  }
  if (cfg->uefi && cfg->arch == VM_ARCH_X86_64 && !h->ovmf_dir[0]) {
    core_req_reply_error(r, 400, "invalid_field", "firmware: UEFI for x86_64 needs Debian's ovmf package");
    return -1;
  }
  if (cfg->tpm && !h->swtpm[0]) {
    core_req_reply_error(r, 400, "invalid_field", "tpm: needs swtpm (Debian package swtpm)");
    return -1;
  }
  if (vm_virtiofs_check(m->c, cfg, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return -1;
  }
  return 0;
}

struct create_ctx {
  struct vm_manager *m;
  struct core_req *r;
  struct vm *v;
  size_t next_disk;
  char dir[4200];
};

static void create_fail(struct create_ctx *x, int status, const char *code, const char *msg) {
  rm_rf(x->dir);
  core_req_reply_error(x->r, status, code, "%s", msg);
  vm_release(x->v);
  free(x);
}

int vm_register(struct vm_manager *m, struct vm *v, struct core_req *r) {
  return vm_register_with(m, v, r, NULL);
}

int vm_register_with(struct vm_manager *m, struct vm *v, struct core_req *r, json_t *extra) {
  json_t *cfg = vm_config_to_json(&v->cfg);
  int rc = store_vm_insert(m->c->store, v->cfg.id, v->cfg.name, cfg, v->created);
  json_decref(cfg);
  if (rc == STORE_CONFLICT)
    return 409;
  if (rc != STORE_OK)
    return 500;
  /* Append, so the list keeps creation order. */
  struct vm **pp = &m->head;
  while (*pp)
    pp = &(*pp)->next;
  *pp = v;
  vm_set_state(v, ST_STOPPED, "created");
  log_info("vm %s (%s): created", v->cfg.id, v->cfg.name);
  events_emit(m->c->events, json_pack("{s:s, s:s}", "type", "vm.created", "vm", v->cfg.id));
  json_t *j = vm_to_json(v);
  if (extra)
    json_object_update(j, extra);
  core_req_reply_json(r, 201, j);
  return 0;
}

void vm_register_failed(struct core_req *r, int status) {
  if (status == 409)
    core_req_reply_error(r, 409, "conflict", "name: a VM with this name exists");
  else
    core_req_reply_error(r, 500, "internal", "cannot save the VM in the database");
}

static void create_finish(struct create_ctx *x) {
  crashpt("create:before_row");
  int st = vm_register(x->m, x->v, x->r);
  if (st) { /* the files go first: the answer must not come before they are gone */
    rm_rf(x->dir);
    vm_release(x->v);
    vm_register_failed(x->r, st);
  }
  free(x);
}

static void create_next_disk(struct create_ctx *x);

static void on_disk_created(const struct proc_result *res, void *ud) {
  struct create_ctx *x = ud;
  if (res->exit_status != 0) {
    char *msg = xasprintf("qemu-img create failed (status %d, signal %d): %s", res->exit_status,
                          res->term_signal, res->err[0] ? res->err : "no output");
    create_fail(x, 500, "internal", msg);
    free(msg);
    return;
  }
  crashpt("create:after_disk");
  x->next_disk++;
  create_next_disk(x);
}

/* One qemu-img create per disk, one after the other (proc.c: stderr kept for the message). */
static void create_next_disk(struct create_ctx *x) {
  struct vm *v = x->v;
  if (x->next_disk >= v->cfg.n_disks) {
    create_finish(x);
    return;
  }
  struct vm_disk *d = &v->cfg.disks[x->next_disk];
  char size[32];
  snprintf(size, sizeof(size), "%lluG", (unsigned long long)d->size_gib);
  char *args[] = {x->m->c->host.qemu_img, "create", "-q", "-f", "qcow2", d->path, size, NULL};
  proc_run(x->m->c->launcher, args, on_disk_created, x);
}

static void on_create_efivars(const char *err, void *ud) {
  struct create_ctx *x = ud;
  if (err) {
    create_fail(x, 500, "internal", err);
    return;
  }
  create_next_disk(x);
}

static void reply_dry_run(struct vm_manager *m, struct core_req *r, struct vm *v) {
  char err[1024];
  /* The id and uuid are not drawn yet: zeros stand in for them. */
  memset(v->cfg.id, '0', VM_ID_LEN);
  v->cfg.id[VM_ID_LEN] = 0;
  snprintf(v->cfg.uuid, sizeof(v->cfg.uuid), "00000000-0000-0000-0000-000000000000");
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    snprintf(v->cfg.disks[i].path, sizeof(v->cfg.disks[i].path), "%s/vms/%s/disk%zu.qcow2", m->c->data_dir,
             v->cfg.id, i);
  json_t *a = vm_argv_json(m, &v->cfg, err, sizeof(err));
  if (!a) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return;
  }
  core_req_reply_json(r, 200,
                      json_pack("{s:b, s:o, s:o, s:s}", "dry_run", 1, "config", vm_config_to_json(&v->cfg),
                                "argv", a, "accelerator", host_accel_name(&m->c->host, v->cfg.arch)));
}

/* vm_priv.h */
int vm_new_home(struct vm_manager *m, struct vm *v, char *dir, size_t dirlen) {
  do {
    random_hex(v->cfg.id, VM_ID_LEN);
  } while (vm_find(m, v->cfg.id));
  random_uuid(v->cfg.uuid);
  v->created = now_unix();
  char vmsdir[4200];
  snprintf(vmsdir, sizeof(vmsdir), "%s/vms", m->c->data_dir);
  mkdir_p(vmsdir, 0700);
  snprintf(dir, dirlen, "%s/%s", vmsdir, v->cfg.id);
  return mkdir(dir, 0700) < 0 ? errno : 0;
}

void vm_req_create(struct vm_manager *m, struct core_req *r, json_t *body, bool dry_run) {
  struct core *c = m->c;
  char err[1024];
  if (!dry_run && !vm_manager_room(m, r))
    return;
  struct vm *v = vm_alloc(m);
  if (vm_config_apply_json(&v->cfg, body, true, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    vm_release(v);
    return;
  }
  if (vm_find_name(m, v->cfg.name, NULL)) {
    core_req_reply_error(r, 409, "conflict", "name: a VM named '%s' exists", v->cfg.name);
    vm_release(v);
    return;
  }
  if (vm_check_host_limits(m, r, &v->cfg) < 0) {
    vm_release(v);
    return;
  }
  if ((v->cfg.n_disks > 0 || v->cfg.arch == VM_ARCH_AARCH64) && !c->host.qemu_img[0]) {
    core_req_reply_error(r, 500, "internal", "qemu-img is not installed");
    vm_release(v);
    return;
  }
  uint64_t want_mib = 0, free_mib = 0;
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    want_mib += v->cfg.disks[i].size_gib * 1024;
  if (v->cfg.arch == VM_ARCH_AARCH64)
    want_mib += 64;
  if (!host_disk_fits(c->data_dir, want_mib, &free_mib)) {
    core_req_reply_error(r, 507, "insufficient_storage",
                         "disks: %llu MiB requested but only %llu MiB are free (%d MiB are kept in reserve)",
                         (unsigned long long)want_mib, (unsigned long long)free_mib, HOST_DISK_RESERVE_MIB);
    vm_release(v);
    return;
  }
  if (dry_run) {
    reply_dry_run(m, r, v);
    vm_release(v);
    return;
  }
  struct create_ctx *x = xcalloc(1, sizeof(*x));
  x->m = m;
  x->r = r;
  x->v = v;
  int e = vm_new_home(m, v, x->dir, sizeof(x->dir));
  if (e) {
    snprintf(err, sizeof(err), "cannot create %s: %s", x->dir, strerror(e));
    x->dir[0] = 0; /* not ours to remove */
    core_req_reply_error(r, 500, "internal", "%s", err);
    vm_release(v);
    free(x);
    return;
  }
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    snprintf(v->cfg.disks[i].path, sizeof(v->cfg.disks[i].path), "%s/disk%zu.qcow2", x->dir, i);
  char sub[4300];
  crashpt("create:after_mkdir");
  snprintf(sub, sizeof(sub), "%s/logs", x->dir);
  mkdir(sub, 0700);
  snprintf(sub, sizeof(sub), "%s/run", x->dir);
  mkdir(sub, 0700);
  if (v->cfg.arch == VM_ARCH_AARCH64) { /* its UEFI variable store first, then the disks */
    if (!c->host.qemu_img[0] || !launch_runnable(c->launcher, c->host.qemu_img)) {
      /* e.g. HarmonyOS with no QEMU build: say so, not "internal" */
      create_fail(x, 409, "unavailable", "cannot make the UEFI variables: qemu-img cannot run here");
      return;
    }
    vm_efivars_make(c->launcher, c->host.qemu_img, x->dir, c->host.aavmf_vars, on_create_efivars, x);
    return;
  }
  create_next_disk(x);
}

/* ---- patch, delete ---- */

/* A patch's dry run: the argv the VM would start with, from CFG and its own directory. */
static void reply_patch_dry_run(struct vm_manager *m, struct core_req *r, const struct vm_config *cfg) {
  char err[1024];
  json_t *a = vm_argv_json(m, cfg, err, sizeof(err));
  if (!a) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return;
  }
  json_t *o = vm_config_to_json(cfg);
  vm_config_redact(o);
  core_req_reply_json(r, 200,
                      json_pack("{s:b, s:o, s:o, s:s}", "dry_run", 1, "config", o, "argv", a, "accelerator",
                                host_accel_name(&m->c->host, cfg->arch)));
}

void vm_req_patch(struct vm_manager *m, struct core_req *r, const char *id, json_t *body, bool dry_run) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  char err[1024];
  struct vm_config *cfg = xmalloc(sizeof(*cfg));
  *cfg = v->cfg;
  if (vm_config_apply_json(cfg, body, false, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    goto out;
  }
  if (vm_active(v) && !dry_run) {
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val) {
      /* name, rdp, shortcuts (read by new console sessions) and autostart do not touch the running
       * QEMU; performance is applied to it (vm_perf.c) */
      if (strcmp(key, "name") != 0 && strcmp(key, "rdp") != 0 && strcmp(key, "shortcuts") != 0 &&
          strcmp(key, "autostart") != 0 && strcmp(key, "performance") != 0) {
        core_req_reply_error(r, 409, "invalid_state",
                             "%s: can only be changed while the VM is stopped (it is %s)", key,
                             vm_state_names[v->state]);
        goto out;
      }
    }
  }
  if (vm_find_name(m, cfg->name, v)) {
    core_req_reply_error(r, 409, "conflict", "name: a VM named '%s' exists", cfg->name);
    goto out;
  }
  if (vm_check_host_limits(m, r, cfg) < 0)
    goto out;
  if (dry_run) {
    reply_patch_dry_run(m, r, cfg);
    goto out;
  }
  json_t *stored = vm_config_to_json(cfg);
  int rc = store_vm_update(m->c->store, v->cfg.id, cfg->name, stored);
  json_decref(stored);
  if (rc == STORE_CONFLICT) {
    core_req_reply_error(r, 409, "conflict", "name: a VM with this name exists");
    goto out;
  }
  if (rc != STORE_OK) {
    core_req_reply_error(r, 500, "internal", "cannot save the VM in the database");
    goto out;
  }
  if (cfg->arch != VM_ARCH_AARCH64 && (cfg->uefi != v->cfg.uefi || cfg->secure_boot != v->cfg.secure_boot)) {
    char dir[4200]; /* another firmware: its own variable store from its template at the next start */
    snprintf(dir, sizeof(dir), "%s/vms/%s", m->c->data_dir, v->cfg.id);
    vm_efivars_remove(dir);
  }
  bool perf_changed = cfg->perf != v->cfg.perf;
  v->cfg = *cfg;
  if (perf_changed && v->pid > 0 && v->qmp_ready)
    vm_perf_apply(v);
  vm_dirty(v);
  reply_vm(r, 200, v);
out:
  free(cfg);
}

void vm_req_delete(struct vm_manager *m, struct core_req *r, const char *id, bool keep_disks) {
  struct vm *v = vm_find(m, id);
  struct core *c = m->c;
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (vm_active(v)) {
    core_req_reply_error(r, 409, "invalid_state", "cannot delete: the VM is %s; stop it first",
                         vm_state_names[v->state]);
    return;
  }
  if (v->busy) {
    core_req_reply_error(r, 409, "busy", "cannot delete: a snapshot or disk operation is running");
    return;
  }
  char dir[4200], trash[4300];
  snprintf(dir, sizeof(dir), "%s/vms/%s", c->data_dir, v->cfg.id);
  /* ".keep": a start-up after a crash finishes the delete as asked (vm_sweep.c) */
  snprintf(trash, sizeof(trash), "%s/vms/.deleting-%s%s", c->data_dir, v->cfg.id,
           keep_disks && v->cfg.n_disks > 0 ? ".keep" : "");
  json_t *kept = json_array();
  /* Move the directory aside first: a failure after this point never leaves a half-deleted VM. */
  if (rename(dir, trash) < 0 && errno != ENOENT) {
    core_req_reply_error(r, 500, "internal", "cannot delete %s: %s", dir, strerror(errno));
    json_decref(kept);
    return;
  }
  crashpt("delete:after_rename");
  if (store_vm_delete(c->store, v->cfg.id) == STORE_ERROR) {
    rename(trash, dir);
    core_req_reply_error(r, 500, "internal", "cannot delete the VM from the database");
    json_decref(kept);
    return;
  }
  crashpt("delete:after_row");
  if (keep_disks && v->cfg.n_disks > 0) {
    char disks[4200];
    snprintf(disks, sizeof(disks), "%s/disks", c->data_dir);
    mkdir_p(disks, 0700);
    for (size_t i = 0; i < v->cfg.n_disks; i++) {
      const char *base = strrchr(v->cfg.disks[i].path, '/');
      char from[4400], to[4400];
      snprintf(from, sizeof(from), "%s%s", trash, base ? base : "/disk.qcow2");
      snprintf(to, sizeof(to), "%s/%s-disk%zu.qcow2", disks, v->cfg.id, i);
      if (rename(from, to) == 0)
        json_array_append_new(kept, json_string(to));
      else
        log_err("vm %s: cannot keep disk %s: %s", v->cfg.id, from, strerror(errno));
    }
  }
  crashpt("delete:before_rm");
  if (rm_rf(trash) < 0)
    log_err("vm %s: cannot remove %s: %s", v->cfg.id, trash, strerror(errno));
  for (struct vm **pp = &m->head; *pp; pp = &(*pp)->next) {
    if (*pp == v) {
      *pp = v->next;
      break;
    }
  }
  log_info("vm %s (%s): deleted", v->cfg.id, v->cfg.name);
  ticket_revoke_vm(c->tickets, v->cfg.id);
  vm_close_consoles(v, VM_CONSOLE_RDP | VM_CONSOLE_SERIAL, "the VM was deleted");
  events_emit(m->c->events, json_pack("{s:s, s:s}", "type", "vm.deleted", "vm", v->cfg.id));
  core_req_reply_json(r, 200, json_pack("{s:s, s:o}", "deleted", v->cfg.id, "kept_disks", kept));
  vm_release(v);
}
