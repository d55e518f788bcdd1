/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_disk: a VM's disks after creation. Core loop thread only.
 *
 * Add a new sparse qcow2 disk, or one made from an existing image (qemu-img
 * convert: qcow2, raw, vmdk, vdi, vhdx... into the VM's own qcow2); grow a
 * disk (qemu-img resize when stopped, QMP block_resize while QEMU runs);
 * detach one (deleted, or kept in DATA/disks). Files are made under a
 * temporary name and renamed into place before the config changes; the config
 * is rebuilt from the VM's current one at commit and checked like a stored one,
 * so a failure at any step leaves the VM and its directory as they were.
 */
#include "vm_disk.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "crashpt.h"
#include "host.h"
#include "img.h"
#include "paths.h"
#include "proc.h"
#include "qmp.h"
#include "store.h"
#include "utf8.h"
#include "util.h"
#include "vm_priv.h"

#define GIB (1024ULL * 1024 * 1024)
#define DISK_MAX_GIB 65536

struct disk_ctx {
  struct vm *v;
  struct core_req *r;
  size_t index;        /* PATCH/DELETE: the disk; add: the new one's */
  uint64_t size_gib;   /* wanted size */
  bool resized;        /* add from a source: grown to size_gib after the conversion */
  char iface_name[16]; /* add: as given, else the arch's default */
  char source[4096];   /* add: the image to convert (resolved), "" = a blank disk */
  char source_fmt[16]; /* its format, from its first bytes (img.h): qemu-img gets it with -f */
  char tmp[4200], path[4200];
  json_t *list; /* GET: the disks being described */
};

static void done(struct disk_ctx *x) {
  x->v->busy = false;
  json_decref(x->list);
  free(x);
}

static bool stopped(const struct vm *v) {
  return v->state == ST_STOPPED || v->state == ST_CRASHED;
}

/* The VM's config with its disks replaced by DISKS (stolen), checked as a stored config is.
 * 0 and the new config in OUT, or -1 with the reason in ERR. */
static int config_with_disks(struct vm *v, json_t *disks, struct vm_config *out, char *err, size_t errlen) {
  json_t *o = vm_config_to_json(&v->cfg);
  json_object_set_new(o, "disks", disks);
  int rc = vm_config_from_json(out, o, err, errlen);
  json_decref(o);
  return rc;
}

static json_t *disks_json(struct vm *v) {
  json_t *o = vm_config_to_json(&v->cfg);
  json_t *d = json_incref(json_object_get(o, "disks"));
  json_decref(o);
  return d;
}

/* Store NEW as the VM's config; 0, or -1 with the error answered. */
static int commit(struct disk_ctx *x, const struct vm_config *nc) {
  struct vm *v = x->v;
  json_t *stored = vm_config_to_json(nc);
  int rc = store_vm_update(v->m->c->store, v->cfg.id, nc->name, stored);
  json_decref(stored);
  if (rc != STORE_OK) {
    core_req_reply_error(x->r, 500, "internal", "cannot save the VM in the database");
    return -1;
  }
  v->cfg = *nc;
  vm_dirty(v);
  return 0;
}

static bool space_for(struct disk_ctx *x, uint64_t gib) {
  uint64_t free_mib = 0;
  if (host_disk_fits(x->v->m->c->data_dir, gib * 1024, &free_mib))
    return true;
  core_req_reply_error(x->r, 507, "insufficient_storage",
                       "size_gib: %llu MiB needed but only %llu MiB are free (%d MiB are kept in reserve)",
                       (unsigned long long)(gib * 1024), (unsigned long long)free_mib, HOST_DISK_RESERVE_MIB);
  return false;
}

/* The interface a new disk of this VM's arch gets by default ("ahci" on q35, "virtio" on virt...). */
static void default_iface(const struct vm *v, char *out, size_t len) {
  struct vm_config *def = xmalloc(sizeof(*def));
  vm_config_defaults(def, v->cfg.arch);
  json_t *o = vm_config_to_json(def);
  const char *name =
      json_string_value(json_object_get(json_array_get(json_object_get(o, "disks"), 0), "interface"));
  snprintf(out, len, "%s", name ? name : "virtio");
  json_decref(o);
  free(def);
}

static const char *tool_error(const struct proc_result *res) {
  return res->err[0] ? res->err : res->exit_status < 0 ? "killed" : "no message";
}

/* ---- add ---- */

static void add_finish(struct disk_ctx *x) {
  struct vm *v = x->v;
  char err[1024];
  struct vm_config *nc = xmalloc(sizeof(*nc));
  json_t *disks = disks_json(v);
  json_array_append_new(disks, json_pack("{s:s, s:I, s:s}", "path", x->path, "size_gib",
                                         (json_int_t)x->size_gib, "interface", x->iface_name));
  crashpt("disk_add:before_rename");
  if (rename(x->tmp, x->path) < 0) {
    core_req_reply_error(x->r, 500, "internal", "cannot move the new disk into place: %s", strerror(errno));
    unlink(x->tmp);
    json_decref(disks);
  } else if (config_with_disks(v, disks, nc, err, sizeof(err)) < 0) {
    core_req_reply_error(x->r, 400, "invalid_field", "%s", err);
    unlink(x->path);
  } else if ((crashpt("disk_add:before_row"), commit(x, nc)) < 0) {
    unlink(x->path);
  } else {
    log_info("vm %s: disk %s added (%llu GiB%s%s)", v->cfg.id, x->path, (unsigned long long)x->size_gib,
             x->source[0] ? ", from " : "", x->source);
    reply_vm(x->r, 201, v);
  }
  free(nc);
  done(x);
}

static void on_made(const struct proc_result *res, void *ud) {
  struct disk_ctx *x = ud;
  if (res->exit_status != 0) {
    core_req_reply_error(
        x->r, x->source[0] ? 400 : 500, x->source[0] ? "invalid_field" : "internal", "%s%s",
        x->source[0] ? "source: qemu-img cannot convert it: " : "qemu-img: ", tool_error(res));
    unlink(x->tmp);
    done(x);
    return;
  }
  /* a converted image smaller than wanted grows to the size asked for */
  if (x->source[0] && !x->resized) {
    x->resized = true;
    char size[32];
    snprintf(size, sizeof(size), "%lluG", (unsigned long long)x->size_gib);
    char *argv[] = {x->v->m->c->host.qemu_img, "resize", "-q", "-f", "qcow2", x->tmp, size, NULL};
    proc_run(x->v->m->c->launcher, argv, on_made, x);
    return;
  }
  add_finish(x);
}

static void on_source_info(const struct proc_result *res, void *ud) {
  struct disk_ctx *x = ud;
  json_t *info = res->exit_status == 0 ? json_loads(res->out, 0, NULL) : NULL;
  json_int_t vsize = json_integer_value(json_object_get(info, "virtual-size"));
  /* what qemu-img sees that names another file (a vmdk descriptor's extents, a vhdx parent) */
  bool other_file =
      json_object_get(info, "backing-filename") || json_object_get(info, "full-backing-filename");
  json_t *extents =
      json_object_get(json_object_get(json_object_get(info, "format-specific"), "data"), "extents");
  size_t i;
  json_t *e;
  json_array_foreach(extents, i, e) {
    const char *f = json_string_value(json_object_get(e, "filename"));
    other_file |= f && strcmp(f, x->source) != 0;
  }
  json_decref(info);
  if (other_file) {
    core_req_reply_error(x->r, 400, "backing_file",
                         "source: an image that refers to other files (backing file, extents) is refused");
    done(x);
    return;
  }
  if (vsize <= 0) {
    core_req_reply_error(x->r, 400, "invalid_field", "source: not a disk image qemu-img can read: %s",
                         res->exit_status == 0 ? "no size" : tool_error(res));
    done(x);
    return;
  }
  uint64_t need = ((uint64_t)vsize + GIB - 1) / GIB;
  if (x->size_gib == 0)
    x->size_gib = need;
  if (x->size_gib < need) {
    core_req_reply_error(x->r, 400, "invalid_field",
                         "size_gib: the image is %llu bytes (%llu GiB rounded up)", (unsigned long long)vsize,
                         (unsigned long long)need);
    done(x);
    return;
  }
  if (x->size_gib > DISK_MAX_GIB) {
    core_req_reply_error(x->r, 400, "invalid_field", "source: larger than %d GiB", DISK_MAX_GIB);
    done(x);
    return;
  }
  if (!space_for(x, x->size_gib)) {
    done(x);
    return;
  }
  char *argv[] = {x->v->m->c->host.qemu_img,
                  "convert",
                  "-q",
                  "-f",
                  x->source_fmt,
                  "-O",
                  "qcow2",
                  x->source,
                  x->tmp,
                  NULL};
  proc_run(x->v->m->c->launcher, argv, on_made, x);
}

static void add(struct disk_ctx *x, json_t *body) {
  struct vm *v = x->v;
  json_t *size = json_object_get(body, "size_gib"), *iface = json_object_get(body, "interface"),
         *src = json_object_get(body, "source");
  if (size &&
      (!json_is_integer(size) || json_integer_value(size) < 1 || json_integer_value(size) > DISK_MAX_GIB)) {
    core_req_reply_error(x->r, 400, "invalid_field", "size_gib: an integer 1-%d", DISK_MAX_GIB);
    done(x);
    return;
  }
  if (!size && !src) {
    core_req_reply_error(x->r, 400, "invalid_field", "size_gib: required for a blank disk (or give source)");
    done(x);
    return;
  }
  if (iface && (!json_is_string(iface) || json_string_length(iface) >= sizeof(x->iface_name))) {
    core_req_reply_error(x->r, 400, "invalid_field", "interface: ahci, ide, nvme, virtio or usb");
    done(x);
    return;
  }
  if (src && (!json_is_string(src) || json_string_value(src)[0] != '/' || json_string_length(src) >= 4096)) {
    core_req_reply_error(x->r, 400, "invalid_field", "source: an absolute path");
    done(x);
    return;
  }
  struct stat st;
  char real[4096], err0[512];
  if (src && path_confine(v->m->c->roots, "source", json_string_value(src), real, sizeof(real), err0,
                          sizeof(err0)) < 0) {
    core_req_reply_error(x->r, 403, "path_not_allowed", "%s", err0);
    done(x);
    return;
  }
  if (src && (stat(real, &st) < 0 || !S_ISREG(st.st_mode) || access(real, R_OK) < 0)) {
    core_req_reply_error(x->r, 400, "invalid_field", "source: %s is not a readable regular file",
                         json_string_value(src));
    done(x);
    return;
  }
  const char *fmt = "";
  enum img_result ir = src ? img_check_file(real, &fmt, err0, sizeof(err0)) : IMG_OK;
  if (ir != IMG_OK) {
    core_req_reply_error(x->r, ir == IMG_IO ? 400 : 400, img_result_code(ir), "source: %s", err0);
    done(x);
    return;
  }
  snprintf(x->source_fmt, sizeof(x->source_fmt), "%s", fmt);
  if (v->cfg.n_disks >= VM_MAX_DISKS) {
    core_req_reply_error(x->r, 409, "conflict", "disks: at most %d", VM_MAX_DISKS);
    done(x);
    return;
  }
  x->size_gib = size ? (uint64_t)json_integer_value(size) : 0;
  if (iface)
    snprintf(x->iface_name, sizeof(x->iface_name), "%s", json_string_value(iface));
  else
    default_iface(v, x->iface_name, sizeof(x->iface_name));
  snprintf(x->source, sizeof(x->source), "%s", src ? real : "");
  /* the first free diskN.qcow2 */
  for (unsigned n = 0;; n++) {
    bool used = false;
    snprintf(x->path, sizeof(x->path), "%s/vms/%s/disk%u.qcow2", v->m->c->data_dir, v->cfg.id, n);
    for (size_t i = 0; i < v->cfg.n_disks; i++)
      used |= strcmp(v->cfg.disks[i].path, x->path) == 0;
    if (!used && access(x->path, F_OK) < 0)
      break;
  }
  snprintf(x->tmp, sizeof(x->tmp), "%s/vms/%s/.new-disk.qcow2.part", v->m->c->data_dir, v->cfg.id);
  unlink(x->tmp);
  /* check the disk list as it will be (interface, IDE slots) before any work */
  char err[1024];
  struct vm_config *nc = xmalloc(sizeof(*nc));
  json_t *disks = disks_json(v);
  json_array_append_new(disks,
                        json_pack("{s:s, s:I, s:s}", "path", x->path, "size_gib",
                                  (json_int_t)(x->size_gib ? x->size_gib : 1), "interface", x->iface_name));
  int rc = config_with_disks(v, disks, nc, err, sizeof(err));
  free(nc);
  if (rc < 0) {
    /* "disks[2].interface: ..." is about this request's "interface" */
    char pfx[32];
    snprintf(pfx, sizeof(pfx), "disks[%zu].", v->cfg.n_disks);
    const char *msg = strncmp(err, pfx, strlen(pfx)) == 0 ? err + strlen(pfx) : err;
    core_req_reply_error(x->r, 400, "invalid_field", "%s", msg);
    done(x);
    return;
  }
  if (x->source[0]) {
    char *argv[] = {
        v->m->c->host.qemu_img, "info", "--output=json", "-U", "-f", x->source_fmt, x->source, NULL};
    proc_run(v->m->c->launcher, argv, on_source_info, x);
    return;
  }
  if (!space_for(x, x->size_gib)) {
    done(x);
    return;
  }
  char size_s[32];
  snprintf(size_s, sizeof(size_s), "%lluG", (unsigned long long)x->size_gib);
  char *argv[] = {v->m->c->host.qemu_img, "create", "-q", "-f", "qcow2", x->tmp, size_s, NULL};
  proc_run(v->m->c->launcher, argv, on_made, x);
}

/* ---- grow ---- */

static void grow_finish(struct disk_ctx *x) {
  struct vm *v = x->v;
  struct vm_config *nc = xmalloc(sizeof(*nc));
  *nc = v->cfg;
  nc->disks[x->index].size_gib = x->size_gib;
  crashpt("disk_grow:before_row");
  if (commit(x, nc) == 0) {
    log_info("vm %s: disk %zu grown to %llu GiB", v->cfg.id, x->index, (unsigned long long)x->size_gib);
    reply_vm(x->r, 200, v);
  }
  free(nc);
  done(x);
}

static void on_resized(const struct proc_result *res, void *ud) {
  struct disk_ctx *x = ud;
  if (res->exit_status != 0) {
    core_req_reply_error(x->r, 409, "resize_failed", "qemu-img resize: %s", tool_error(res));
    done(x);
    return;
  }
  grow_finish(x);
}

static void on_block_resized(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct disk_ctx *x = ud;
  (void)q;
  (void)ret;
  if (err && x->v->qmp && qmp_stalled(x->v->qmp)) {
    vm_reply_qmp_error(x->v, x->r, "block_resize", err);
    done(x);
    return;
  }
  if (err) {
    core_req_reply_error(x->r, 409, "resize_failed", "block_resize: %s", err);
    done(x);
    return;
  }
  grow_finish(x);
}

static void grow(struct disk_ctx *x, json_t *body) {
  struct vm *v = x->v;
  json_t *size = json_object_get(body, "size_gib");
  uint64_t cur = v->cfg.disks[x->index].size_gib;
  if (!json_is_integer(size) || json_integer_value(size) < 1 || json_integer_value(size) > DISK_MAX_GIB) {
    core_req_reply_error(x->r, 400, "invalid_field", "size_gib: required, an integer 1-%d", DISK_MAX_GIB);
    done(x);
    return;
  }
  x->size_gib = (uint64_t)json_integer_value(size);
  if (x->size_gib <= cur) {
    core_req_reply_error(x->r, 400, "invalid_field",
                         "size_gib: disks only grow (it is %llu GiB; shrinking would cut the guest's data)",
                         (unsigned long long)cur);
    done(x);
    return;
  }
  if (!space_for(x, x->size_gib - cur)) {
    done(x);
    return;
  }
  if (stopped(v)) {
    char size_s[32];
    snprintf(size_s, sizeof(size_s), "%lluG", (unsigned long long)x->size_gib);
    char *argv[] = {v->m->c->host.qemu_img,      "resize", "-q", "-f", "qcow2",
                    v->cfg.disks[x->index].path, size_s,   NULL};
    proc_run(v->m->c->launcher, argv, on_resized, x);
    return;
  }
  char dev[32];
  snprintf(dev, sizeof(dev), "disk%zu", x->index);
  qmp_command(v->qmp, "block_resize",
              json_pack("{s:s, s:I}", "device", dev, "size", (json_int_t)(x->size_gib * GIB)),
              on_block_resized, x);
}

/* ---- detach ---- */

static void detach(struct disk_ctx *x, bool keep) {
  struct vm *v = x->v;
  char err[1024], kept[4400] = "";
  snprintf(x->path, sizeof(x->path), "%s", v->cfg.disks[x->index].path);
  json_t *disks = disks_json(v);
  json_array_remove(disks, x->index);
  struct vm_config *nc = xmalloc(sizeof(*nc));
  if (config_with_disks(v, disks, nc, err, sizeof(err)) < 0) {
    core_req_reply_error(x->r, 400, "invalid_field", "%s", err);
    goto out;
  }
  if (keep) {
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/disks", v->m->c->data_dir);
    mkdir_p(dir, 0700);
    for (unsigned n = 0;; n++) {
      snprintf(kept, sizeof(kept), "%s/%s-disk%zu%s%.0u.qcow2", dir, v->cfg.id, x->index, n ? "-" : "", n);
      if (access(kept, F_OK) < 0)
        break;
    }
  }
  /* The config first, then the file: a crash between leaves a disk the config does not list
   * (moved to DATA/disks at start-up, vm_sweep.c), never a config that lists a missing disk. */
  struct vm_config *old = xmalloc(sizeof(*old));
  *old = v->cfg;
  if (commit(x, nc) < 0) {
    free(old);
    goto out;
  }
  crashpt("disk_detach:after_row");
  if (keep && rename(x->path, kept) < 0 && errno != ENOENT) {
    int e = errno;
    json_t *stored = vm_config_to_json(old); /* back as it was */
    if (store_vm_update(v->m->c->store, v->cfg.id, old->name, stored) == STORE_OK) {
      v->cfg = *old;
      vm_dirty(v);
    }
    json_decref(stored);
    free(old);
    core_req_reply_error(x->r, 500, "internal", "cannot keep %s: %s", x->path, strerror(e));
    goto out;
  }
  free(old);
  if (!keep)
    unlink(x->path);
  log_info("vm %s: disk %s detached (%s)", v->cfg.id, x->path, keep ? kept : "deleted");
  json_t *o = json_pack("{s:s, s:s?}", "detached", x->path, "kept", keep ? kept : NULL);
  core_req_reply_json(x->r, 200, o);
out:
  free(nc);
  done(x);
}

/* ---- list ---- */

static void list_next(struct disk_ctx *x);

static void on_disk_info(const struct proc_result *res, void *ud) {
  struct disk_ctx *x = ud;
  json_t *d = json_array_get(x->list, x->index);
  json_t *info = res->exit_status == 0 ? json_loads(res->out, 0, NULL) : NULL;
  if (info) {
    json_object_set(d, "virtual_bytes", json_object_get(info, "virtual-size"));
    json_object_set(d, "allocated_bytes", json_object_get(info, "actual-size"));
    json_object_set_new(d, "snapshots",
                        json_integer((json_int_t)json_array_size(json_object_get(info, "snapshots"))));
  } else {
    char *why = xstrdup(tool_error(res));
    utf8_sanitize(why);
    json_object_set_new(d, "error", json_string(why));
    free(why);
  }
  json_decref(info);
  x->index++;
  list_next(x);
}

static void list_next(struct disk_ctx *x) {
  struct vm *v = x->v;
  if (x->index >= json_array_size(x->list)) {
    core_req_reply_json(x->r, 200, json_pack("{s:O}", "disks", x->list));
    json_decref(x->list);
    x->list = NULL;
    free(x);
    return;
  }
  const char *p = json_string_value(json_object_get(json_array_get(x->list, x->index), "path"));
  char *argv[] = {v->m->c->host.qemu_img, "info", "--output=json", "-U", "-f", "qcow2", (char *)p, NULL};
  proc_run(v->m->c->launcher, argv, on_disk_info, x);
}

/* ---- dispatch ---- */

void vm_disk_req(struct vm_manager *m, struct core_req *r, const char *id, const char *method,
                 const char *index, json_t *body, bool keep) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  size_t idx = 0;
  if (index) {
    char *end;
    errno = 0;
    unsigned long n = strtoul(index, &end, 10);
    if (errno || end == index || *end || index[0] == '+' || index[0] == '-' || n >= v->cfg.n_disks) {
      core_req_reply_error(r, 404, "not_found", "no disk %s on this VM (it has %zu)", index, v->cfg.n_disks);
      return;
    }
    idx = n;
  }
  bool get = !index && strcmp(method, "GET") == 0, post = !index && strcmp(method, "POST") == 0,
       patch = index && strcmp(method, "PATCH") == 0, del = index && strcmp(method, "DELETE") == 0;
  if (!get && !post && !patch && !del) {
    core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", method,
                         index ? "PATCH, DELETE" : "GET, POST");
    return;
  }
  struct disk_ctx *x = xcalloc(1, sizeof(*x));
  x->v = v;
  x->r = r;
  x->index = idx;
  if (get) {
    x->list = disks_json(v);
    x->index = 0;
    list_next(x);
    return;
  }
  if (!v->m->c->host.qemu_img[0]) {
    core_req_reply_error(r, 500, "internal", "qemu-img is not installed");
    free(x);
    return;
  }
  bool live_ok = patch && (v->state == ST_RUNNING || v->state == ST_PAUSED) && v->qmp_ready;
  if (!stopped(v) && !live_ok) {
    core_req_reply_error(r, 409, "invalid_state", "disks: %s while the VM is %s; stop it first",
                         post    ? "cannot add one"
                         : patch ? "cannot grow one"
                                 : "cannot detach one",
                         vm_state_names[v->state]);
    free(x);
    return;
  }
  if (v->busy) {
    core_req_reply_error(r, 409, "busy", "another snapshot or disk operation is running on this VM");
    free(x);
    return;
  }
  v->busy = true;
  if (post)
    add(x, body);
  else if (patch)
    grow(x, body);
  else
    detach(x, keep);
}
