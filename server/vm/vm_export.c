/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_export: GET /vms/{id}/export?format=libvirt|ova — the VM as a tar streamed to the client:
 *   libvirt: NAME.xml (a domain whose disks are /var/lib/libvirt/images/NAME-diskN.qcow2) and
 *            those qcow2 files as they are on disk;
 *   ova:     NAME.ovf first (DSP0243), then each disk converted to a streamOptimized VMDK.
 * The VM must be stopped, and stays so: it is busy (no start, delete, disk or snapshot change)
 * until the stream ends, so the disks are consistent. The OVA's VMDKs are made first (qemu-img
 * through the launcher) in the VM's directory and unlinked once opened: nothing is left behind
 * if the daemon stops. The stream reads the files on an HTTP thread as the client takes the
 * bytes; only the tar headers and the description are in memory. Core loop thread (the reading:
 * the HTTP thread that owns the response).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "img.h"
#include "proc.h"
#include "tar.h"
#include "util.h"
#include "vm_export.h"
#include "vm_impexp.h"
#include "vm_priv.h"

#define MAX_PARTS (VM_MAX_DISKS + 1)

struct part {
  unsigned char hdr[TAR_BLOCK];
  char *mem; /* the description, or NULL: read FD */
  int fd;
  uint64_t size;
};

struct exp {
  struct core *c;
  struct core_req *r;
  char id[VM_ID_LEN + 1];
  bool ova;
  char slug[64];
  size_t n, disk;
  struct part parts[MAX_PARTS];
  char tmp[VM_MAX_DISKS][4300];
  uint64_t capacity[VM_MAX_DISKS];
};

static uint64_t total_size(const struct exp *e) {
  uint64_t t = 2 * TAR_BLOCK;
  for (size_t i = 0; i < e->n; i++)
    t += TAR_BLOCK + tar_padded(e->parts[i].size);
  return t;
}

/* HTTP thread. */
static long exp_read(void *ud, uint64_t pos, char *buf, size_t max) {
  struct exp *e = ud;
  uint64_t at = 0;
  for (size_t i = 0; i < e->n; i++) {
    struct part *p = &e->parts[i];
    if (pos < at + TAR_BLOCK) {
      size_t n = (size_t)(at + TAR_BLOCK - pos);
      n = n < max ? n : max;
      memcpy(buf, p->hdr + (pos - at), n);
      return (long)n;
    }
    at += TAR_BLOCK;
    if (pos < at + p->size) {
      uint64_t left = at + p->size - pos;
      size_t n = left < max ? (size_t)left : max;
      if (p->mem) {
        memcpy(buf, p->mem + (pos - at), n);
        return (long)n;
      }
      ssize_t got;
      do
        got = pread(p->fd, buf, n, (off_t)(pos - at));
      while (got < 0 && errno == EINTR);
      return got > 0 ? (long)got : -1; /* a short file: the archive cannot be finished */
    }
    at += p->size;
    uint64_t pad = tar_padded(p->size) - p->size;
    if (pos < at + pad) {
      size_t n = (size_t)(at + pad - pos);
      n = n < max ? n : max;
      memset(buf, 0, n);
      return (long)n;
    }
    at += pad;
  }
  uint64_t end = at + 2 * TAR_BLOCK;
  if (pos >= end)
    return -1;
  size_t n = (size_t)(end - pos) < max ? (size_t)(end - pos) : max;
  memset(buf, 0, n);
  return (long)n;
}

static void exp_free_parts(struct exp *e) {
  for (size_t i = 0; i < e->n; i++) {
    free(e->parts[i].mem);
    if (!e->parts[i].mem && e->parts[i].fd >= 0)
      close(e->parts[i].fd);
  }
  for (size_t i = 0; i < VM_MAX_DISKS; i++)
    if (e->tmp[i][0])
      unlink(e->tmp[i]);
  e->n = 0;
}

/* Core thread: the stream is over; the VM may change again. */
static void exp_done(struct core *c, void *arg) {
  char *id = arg;
  struct vm *v = vm_find(c->vms, id);
  if (v) {
    v->busy = false;
    log_info("vm %s: export ended", id);
  }
  free(id);
}

/* HTTP thread (or the core's, when the answer was never sent). */
static void exp_release(void *ud) {
  struct exp *e = ud;
  exp_free_parts(e);
  core_post(e->c, exp_done, xstrdup(e->id));
  free(e);
}

static void exp_fail(struct exp *e, struct vm *v, int status, const char *code, const char *msg) {
  exp_free_parts(e);
  if (v)
    v->busy = false;
  core_req_reply_error(e->r, status, code, "%s", msg);
  free(e);
}

static void exp_send(struct exp *e) {
  struct core_stream *s = xcalloc(1, sizeof(*s));
  s->size = total_size(e);
  s->ctype = e->ova ? "application/x-tar" : "application/x-tar";
  snprintf(s->filename, sizeof(s->filename), "%s%s", e->slug, e->ova ? ".ova" : "-libvirt.tar");
  s->read = exp_read;
  s->release = exp_release;
  s->ud = e;
  log_info("vm %s: export as %s (%llu bytes)", e->id, e->ova ? "OVA" : "libvirt",
           (unsigned long long)s->size);
  core_req_reply_stream(e->r, 200, s);
}

/* Open FILE as part I (taking its size from the open file). */
static int add_file(struct exp *e, const char *file, const char *member, char *err, size_t errlen) {
  struct part *p = &e->parts[e->n];
  p->fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (p->fd < 0 || fstat(p->fd, &st) < 0) {
    snprintf(err, errlen, "cannot open %s: %s", file, strerror(errno));
    if (p->fd >= 0)
      close(p->fd);
    return -1;
  }
  p->size = (uint64_t)st.st_size;
  tar_make_header(p->hdr, member, p->size, now_unix());
  e->n++;
  return 0;
}

static void add_mem(struct exp *e, char *text, const char *member) {
  struct part *p = &e->parts[e->n++];
  p->mem = text;
  p->fd = -1;
  p->size = strlen(text);
  tar_make_header(p->hdr, member, p->size, now_unix());
}

static void ova_next(struct exp *e);

/* A qcow2 file's virtual size: its header's "size" (big-endian, at byte 24); GIB gibibytes when
 * it cannot be read. */
static uint64_t qcow2_size(const char *path, uint64_t gib) {
  unsigned char h[32];
  size_t got = 0;
  char err[128];
  uint64_t v = 0;
  if (img_read_head(path, h, sizeof(h), &got, err, sizeof(err)) == 0 && got == sizeof(h))
    for (int i = 24; i < 32; i++)
      v = v << 8 | h[i];
  return v ? v : gib * 1024ULL * 1024 * 1024;
}

static void on_vmdk(const struct proc_result *res, void *ud) {
  struct exp *e = ud;
  struct vm *v = vm_find(e->c->vms, e->id);
  if (res->exit_status != 0 || !v) {
    char msg[600];
    snprintf(msg, sizeof(msg), "converting disk %zu to VMDK failed: %s", e->disk,
             res->err[0] ? res->err : "qemu-img gave no reason");
    exp_fail(e, v, 500, "internal", msg);
    return;
  }
  e->disk++;
  ova_next(e);
}

static void ova_next(struct exp *e) {
  struct vm *v = vm_find(e->c->vms, e->id);
  if (e->disk < v->cfg.n_disks) {
    snprintf(e->tmp[e->disk], sizeof(e->tmp[e->disk]), "%s/vms/%s/.export-%zu.vmdk", e->c->data_dir, e->id,
             e->disk);
    unlink(e->tmp[e->disk]);
    char *argv[] = {e->c->host.qemu_img,
                    "convert",
                    "-q",
                    "-f",
                    "qcow2",
                    "-O",
                    "vmdk",
                    "-o",
                    "subformat=streamOptimized",
                    v->cfg.disks[e->disk].path,
                    e->tmp[e->disk],
                    NULL};
    proc_run(e->c->launcher, argv, on_vmdk, e);
    return;
  }
  /* the descriptor first (DSP0243: the .ovf is the archive's first member), then the disks */
  char names[VM_MAX_DISKS][96], err[600];
  const char *np[VM_MAX_DISKS];
  uint64_t sizes[VM_MAX_DISKS];
  e->n = 1; /* part 0: the .ovf, filled below */
  for (size_t i = 0; i < v->cfg.n_disks; i++) {
    snprintf(names[i], sizeof(names[i]), "%s-disk%zu.vmdk", e->slug, i);
    np[i] = names[i];
    if (add_file(e, e->tmp[i], names[i], err, sizeof(err)) < 0) {
      exp_fail(e, v, 500, "internal", err);
      return;
    }
    unlink(e->tmp[i]); /* open: gone from the directory, readable until closed */
    e->tmp[i][0] = 0;
    sizes[i] = e->parts[i + 1].size;
    e->capacity[i] = qcow2_size(v->cfg.disks[i].path, v->cfg.disks[i].size_gib);
  }
  char member[96];
  snprintf(member, sizeof(member), "%s.ovf", e->slug);
  struct part *p = &e->parts[0];
  p->mem = vm_export_ovf(&v->cfg, np, sizes, e->capacity);
  p->fd = -1;
  p->size = strlen(p->mem);
  tar_make_header(p->hdr, member, p->size, now_unix());
  exp_send(e);
}

/* The disks' virtual sizes come from the config (size_gib follows grows: vm_disk.c). */
void vm_export_req(struct vm_manager *m, struct core_req *r, const char *id, const char *format) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (!format || (strcmp(format, "libvirt") != 0 && strcmp(format, "ova") != 0)) {
    core_req_reply_error(r, 400, "invalid_field", "format: must be libvirt or ova");
    return;
  }
  if (v->state != ST_STOPPED && v->state != ST_CRASHED) {
    core_req_reply_error(r, 409, "invalid_state",
                         "cannot export: the VM is %s; stop it first (its disks change)",
                         vm_state_names[v->state]);
    return;
  }
  if (v->busy) {
    core_req_reply_error(r, 409, "busy",
                         "another snapshot, disk, clone or export operation is running on this VM");
    return;
  }
  bool ova = strcmp(format, "ova") == 0;
  if (ova && v->cfg.n_disks && !m->c->host.qemu_img[0]) {
    core_req_reply_error(r, 500, "internal", "qemu-img is not installed");
    return;
  }
  /* QEMU (unprivileged) could have rewritten a container: nothing naming a host file leaves */
  for (size_t i = 0; i < v->cfg.n_disks; i++) {
    const char *fmt;
    char err[256];
    enum img_result ir = img_check_file(v->cfg.disks[i].path, &fmt, err, sizeof(err));
    if (ir == IMG_OK && strcmp(fmt, "qcow2") != 0) {
      snprintf(err, sizeof(err), "not a qcow2 image but %s", fmt);
      ir = IMG_WRONG_FORMAT;
    }
    if (ir != IMG_OK) {
      core_req_reply_error(r, ir == IMG_IO ? 500 : 409, ir == IMG_IO ? "internal" : img_result_code(ir),
                           "disks[%zu]: %s", i, err);
      return;
    }
  }
  struct exp *e = xcalloc(1, sizeof(*e));
  e->c = m->c;
  e->r = r;
  e->ova = ova;
  snprintf(e->id, sizeof(e->id), "%s", v->cfg.id);
  vm_export_slug(v->cfg.name, e->slug, sizeof(e->slug));
  for (size_t i = 0; i < MAX_PARTS; i++)
    e->parts[i].fd = -1;
  v->busy = true;
  if (ova) {
    ova_next(e);
    return;
  }
  char names[VM_MAX_DISKS][96], err[600], member[96];
  const char *np[VM_MAX_DISKS];
  for (size_t i = 0; i < v->cfg.n_disks; i++) {
    snprintf(names[i], sizeof(names[i]), "%s-disk%zu.qcow2", e->slug, i);
    np[i] = names[i];
  }
  snprintf(member, sizeof(member), "%s.xml", e->slug);
  add_mem(e, vm_export_libvirt_xml(&v->cfg, np), member);
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    if (add_file(e, v->cfg.disks[i].path, names[i], err, sizeof(err)) < 0) {
      exp_fail(e, v, 500, "internal", err);
      return;
    }
  exp_send(e);
}
