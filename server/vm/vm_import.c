/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_import: POST /vms/import (a host path inside the allowed roots) and PUT /vms/import/upload
 * (a browser's file, streamed to a temp file by http.c): a new, stopped VM from
 *   - a UTM bundle (a directory NAME.utm with config.plist and Data/IMAGE),
 *   - a libvirt domain XML (its disks by their host paths, each inside the allowed roots),
 *   - a tar holding an OVF envelope first and its VMDK (or qcow2/raw) disks: an OVA,
 *   - a tar holding a libvirt domain XML and its disks (this daemon's own libvirt export): the
 *     XML's disk sources are matched to members by their file name.
 * What the description says comes from the pure readers (model/vm_import.h); here the files are
 * found and checked (img.h: no backing or external data files, the format from the first bytes,
 * then `qemu-img info -f` for what only qemu-img sees), and each disk is converted to the VM's own
 * qcow2 by qemu-img through the launcher. An OVA member is read in place through qemu's raw
 * driver (offset, size): nothing is extracted. Everything is made in the new VM's directory and
 * the row is inserted last: a failure removes the directory and leaves no VM. Core loop thread.
 */
#include "vm_impexp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "host.h"
#include "img.h"
#include "paths.h"
#include "proc.h"
#include "tar.h"
#include "util.h"
#include "vm.h"
#include "vm_efivars.h"
#include "vm_import.h"
#include "vm_priv.h"

#define GIB (1024ULL * 1024 * 1024)
#define MAX_MEMBERS 4096
#define DISK_MAX_GIB 65536

struct member {
  char name[258];
  uint64_t off, size;
};

struct src_disk {
  char path[4096]; /* the host file (or the tar holding it) */
  bool in_tar;     /* a member at off, size */
  uint64_t off, size;
  char fmt[16]; /* given to qemu-img with -f / driver= */
  uint64_t vsize;
};

struct import_ctx {
  struct vm_manager *m;
  struct core_req *r;
  struct vm *v;
  struct imp_result res;
  char origin[4096]; /* what was imported, for the answer */
  char upload[4200]; /* an upload's temp file: removed at the end */
  char dir[4200];
  size_t disk;
  bool info_done;
  struct src_disk src[VM_MAX_DISKS];
  char *opts; /* --image-opts of the current member */
};

static const char *const fmt_names[] = {"libvirt", "ova", "utm"};

/* An upload's temp file goes before the answer does (the answer leaves from another thread: a
 * client that looked at once still found it), and at the latest here. */
static void drop_upload(struct import_ctx *x) {
  if (x->upload[0])
    unlink(x->upload);
  x->upload[0] = 0;
}

static void finish(struct import_ctx *x) {
  drop_upload(x);
  imp_result_free(&x->res);
  free(x->opts);
  free(x);
}

/* The half-made VM goes before the answer: whoever reads the answer finds nothing left. */
static void fail(struct import_ctx *x, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct import_ctx *x, int status, const char *code, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (x->dir[0])
    rm_rf(x->dir);
  if (x->v)
    vm_release(x->v);
  drop_upload(x);
  core_req_reply_error(x->r, status, code, "%s", msg);
  finish(x);
}

static const char *tool_error(const struct proc_result *res) {
  return res->err[0] ? res->err : res->exit_status < 0 ? "killed" : "no message";
}

/* ---- reading the source ---- */

static char *read_at(int fd, uint64_t off, size_t len) {
  char *b = xmalloc(len + 1);
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, b + got, len - got, (off_t)(off + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      free(b);
      return NULL;
    }
    got += (size_t)n;
  }
  b[len] = 0;
  return b;
}

/* The members of the tar FD (SIZE bytes): their count, or -1 with ERR. */
static int tar_members(int fd, uint64_t size, struct member *ms, size_t max, char *err, size_t errlen) {
  uint64_t off = 0;
  size_t n = 0;
  while (off + TAR_BLOCK <= size) {
    unsigned char h[TAR_BLOCK];
    if (pread(fd, h, TAR_BLOCK, (off_t)off) != TAR_BLOCK) {
      snprintf(err, errlen, "cannot read the archive: %s", strerror(errno));
      return -1;
    }
    struct tar_entry e;
    if (tar_parse_header(h, &e, err, errlen) < 0)
      return -1;
    if (e.kind == TAR_END)
      break;
    off += TAR_BLOCK;
    if (e.size > size - off) {
      snprintf(err, errlen, "the archive is truncated (member %.100s)", e.name);
      return -1;
    }
    if (e.kind == TAR_FILE) {
      if (n >= max) {
        snprintf(err, errlen, "more than %zu members in the archive", max);
        return -1;
      }
      snprintf(ms[n].name, sizeof(ms[n].name), "%s", e.name);
      ms[n].off = off;
      ms[n].size = e.size;
      n++;
    }
    off += tar_padded(e.size);
  }
  return (int)n;
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static const struct member *find_member(const struct member *ms, int n, const char *name, bool base) {
  if (base) {
    const char *s = strrchr(name, '/');
    name = s ? s + 1 : name;
  }
  for (int i = 0; i < n; i++) {
    const char *mn = ms[i].name;
    if (base) {
      const char *s = strrchr(mn, '/');
      mn = s ? s + 1 : mn;
    }
    if (strcmp(mn, name) == 0)
      return &ms[i];
  }
  return NULL;
}

/* A tar (an OVA, or a libvirt XML with its disks): parse its description, locate its disks. */
static int open_tar(struct import_ctx *x, const char *path, int fd, uint64_t size, char *err, size_t errlen) {
  struct member *ms = xcalloc(MAX_MEMBERS, sizeof(*ms));
  int n = tar_members(fd, size, ms, MAX_MEMBERS, err, errlen), rc = -1;
  const struct member *desc = NULL;
  for (int i = 0; i < n && !desc; i++)
    if (ends_with(ms[i].name, ".ovf") || ends_with(ms[i].name, ".xml"))
      desc = &ms[i];
  if (n >= 0 && !desc)
    snprintf(err, errlen, "the archive holds no .ovf (an OVA) or .xml (a libvirt domain)");
  if (!desc)
    goto out;
  if (desc->size > (4u << 20)) {
    snprintf(err, errlen, "%.100s is larger than 4 MiB", desc->name);
    goto out;
  }
  char *text = read_at(fd, desc->off, (size_t)desc->size);
  if (!text) {
    snprintf(err, errlen, "cannot read %.100s", desc->name);
    goto out;
  }
  bool ovf = ends_with(desc->name, ".ovf");
  rc = ovf ? imp_ovf(text, desc->size, &x->res, err, errlen)
           : imp_libvirt(text, desc->size, &x->res, err, errlen);
  free(text);
  if (rc < 0)
    goto out;
  for (size_t i = 0; i < x->res.n_disks; i++) {
    const struct member *m = find_member(ms, n, x->res.disks[i].src, !ovf);
    if (!m || (ovf && !tar_name_safe(x->res.disks[i].src))) {
      snprintf(err, errlen, "%s names %.200s, which is not in the archive",
               ovf ? "the OVF" : "the domain XML", x->res.disks[i].src);
      imp_result_free(&x->res);
      rc = -1;
      goto out;
    }
    snprintf(x->src[i].path, sizeof(x->src[i].path), "%s", path);
    x->src[i].in_tar = true;
    x->src[i].off = m->off;
    x->src[i].size = m->size;
  }
out:
  free(ms);
  return rc;
}

/* Parse what PATH (resolved, inside the roots) is. 0, or -1 after answering. */
static int load_source(struct import_ctx *x, const char *path, const char *field) {
  char err[1024];
  struct stat st;
  if (stat(path, &st) < 0) {
    fail(x, 400, "invalid_field", "%s: %s: %s", field, path, strerror(errno));
    return -1;
  }
  if (S_ISDIR(st.st_mode)) { /* a UTM bundle */
    char plist[4200];
    snprintf(plist, sizeof(plist), "%s/config.plist", path);
    size_t len;
    char *text = read_file(plist, 4u << 20, &len);
    if (!text) {
      fail(x, 400, "invalid_field",
           "%s: %s is a directory without a readable config.plist (not a UTM bundle)", field, path);
      return -1;
    }
    int rc = imp_utm(text, len, &x->res, err, sizeof(err));
    free(text);
    if (rc < 0) {
      fail(x, 400, "invalid_field", "%s: %s", field, err);
      return -1;
    }
    for (size_t i = 0; i < x->res.n_disks; i++) {
      char want[4300], real[4096];
      snprintf(want, sizeof(want), "%s/Data/%s", path, x->res.disks[i].src);
      if (path_confine(x->m->c->roots, field, want, real, sizeof(real), err, sizeof(err)) < 0) {
        fail(x, 403, "path_not_allowed", "%s", err);
        return -1;
      }
      snprintf(x->src[i].path, sizeof(x->src[i].path), "%s", real);
    }
    return 0;
  }
  if (!S_ISREG(st.st_mode)) {
    fail(x, 400, "invalid_field", "%s: %s is not a regular file or a directory", field, path);
    return -1;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(x, 400, "invalid_field", "%s: %s: %s", field, path, strerror(errno));
    return -1;
  }
  unsigned char head[TAR_BLOCK];
  ssize_t got = pread(fd, head, sizeof(head), 0);
  int rc;
  if (got == TAR_BLOCK && memcmp(head + 257, "ustar", 5) == 0) {
    rc = open_tar(x, path, fd, (uint64_t)st.st_size, err, sizeof(err));
  } else if (st.st_size > (4 << 20)) {
    snprintf(err, sizeof(err), "neither a tar archive (an OVA) nor a libvirt domain XML of at most 4 MiB");
    rc = -1;
  } else {
    char *text = read_at(fd, 0, (size_t)st.st_size);
    char root[64];
    if (!text) {
      snprintf(err, sizeof(err), "cannot read it");
      rc = -1;
    } else if (imp_sniff(text, (size_t)st.st_size, root, sizeof(root)) && strcmp(root, "Envelope") == 0) {
      snprintf(err, sizeof(err), "an OVF envelope alone: import the .ova that holds it and its disks");
      rc = -1;
    } else {
      rc = imp_libvirt(text, (size_t)st.st_size, &x->res, err, sizeof(err));
      for (size_t i = 0; rc == 0 && i < x->res.n_disks; i++) {
        char real[4096];
        if (path_confine(x->m->c->roots, "disks", x->res.disks[i].src, real, sizeof(real), err, sizeof(err)) <
            0) {
          close(fd);
          free(text);
          fail(x, 403, "path_not_allowed", "%s", err);
          return -1;
        }
        snprintf(x->src[i].path, sizeof(x->src[i].path), "%s", real);
      }
    }
    free(text);
  }
  close(fd);
  if (rc < 0) {
    fail(x, 400, "invalid_field", "%s: %s", field, err);
    return -1;
  }
  return 0;
}

/* ---- the disks ---- */

static void next_disk(struct import_ctx *x);

static void on_efivars(const char *err, void *ud) {
  struct import_ctx *x = ud;
  if (err) {
    fail(x, 500, "internal", "%s", err);
    return;
  }
  json_t *extra = json_pack("{s:{s:s, s:s, s:O}}", "import", "format", fmt_names[x->res.format], "source",
                            x->origin, "unmapped", x->res.unmapped);
  if (!extra) /* a source path that is not UTF-8 */
    extra = json_pack("{s:{s:s, s:O}}", "import", "format", fmt_names[x->res.format], "unmapped",
                      x->res.unmapped);
  drop_upload(x); /* the disks are converted: nothing reads it any more */
  int st = vm_register_with(x->m, x->v, x->r, extra);
  json_decref(extra);
  if (st) {
    rm_rf(x->dir);
    vm_release(x->v);
    vm_register_failed(x->r, st);
  } else {
    log_info("vm %s: imported from %s (%s)", x->v->cfg.id, x->origin, fmt_names[x->res.format]);
  }
  finish(x);
}

static void on_converted(const struct proc_result *res, void *ud) {
  struct import_ctx *x = ud;
  if (res->exit_status != 0) {
    fail(x, 400, "invalid_field", "disks[%zu]: qemu-img cannot convert it: %s", x->disk, tool_error(res));
    return;
  }
  x->disk++;
  x->info_done = false;
  next_disk(x);
}

/* qemu-img's option string for a member of a tar: the raw driver's window on the file. Its size is
 * rounded up to whole 512-byte blocks (the raw driver takes no other; a tar pads every member to
 * them, so the window stays inside the member's own records): a qcow2 of any length reads the
 * same, and a truncated archive is refused by qemu-img. */
static char *member_opts(const struct src_disk *s) {
  size_t n = strlen(s->path);
  char *esc = xmalloc(2 * n + 1), *w = esc; /* a comma in an option value is written twice */
  for (const char *p = s->path; *p; p++) {
    *w++ = *p;
    if (*p == ',')
      *w++ = ',';
  }
  *w = 0;
  char *o =
      xasprintf("driver=%s,file.driver=raw,file.offset=%llu,file.size=%llu,file.file.driver=file,"
                "file.file.filename=%s",
                s->fmt, (unsigned long long)s->off, (unsigned long long)((s->size + 511) / 512 * 512), esc);
  free(esc);
  return o;
}

static void on_info(const struct proc_result *res, void *ud) {
  struct import_ctx *x = ud;
  struct src_disk *s = &x->src[x->disk];
  json_t *info = res->exit_status == 0 ? json_loads(res->out, 0, NULL) : NULL;
  json_int_t vsize = json_integer_value(json_object_get(info, "virtual-size"));
  bool other = json_object_get(info, "backing-filename") || json_object_get(info, "full-backing-filename");
  json_t *ext = json_object_get(json_object_get(json_object_get(info, "format-specific"), "data"), "extents");
  size_t i;
  json_t *e;
  json_array_foreach(ext, i, e) {
    const char *f = json_string_value(json_object_get(e, "filename"));
    /* a file's extents are the file itself; a member's one extent is its window on the tar */
    other |= s->in_tar ? i > 0 : (f && strcmp(f, s->path) != 0);
  }
  json_decref(info);
  if (other) {
    fail(x, 400, "backing_file",
         "disks[%zu]: %s: an image that refers to other files (backing file, extents) is refused", x->disk,
         x->res.disks[x->disk].src);
    return;
  }
  if (vsize <= 0) {
    fail(x, 400, "invalid_field", "disks[%zu]: %s: not a disk image qemu-img can read: %s", x->disk,
         x->res.disks[x->disk].src, res->exit_status == 0 ? "no size" : tool_error(res));
    return;
  }
  uint64_t gib = ((uint64_t)vsize + GIB - 1) / GIB;
  if (gib > DISK_MAX_GIB) {
    fail(x, 400, "invalid_field", "disks[%zu]: larger than %d GiB", x->disk, DISK_MAX_GIB);
    return;
  }
  s->vsize = (uint64_t)vsize;
  x->v->cfg.disks[x->disk].size_gib = gib;
  uint64_t free_mib = 0;
  if (!host_disk_fits(x->m->c->data_dir, gib * 1024, &free_mib)) {
    fail(x, 507, "insufficient_storage",
         "disks[%zu]: %llu MiB may be needed but only %llu MiB are free (%d MiB are kept in reserve)",
         x->disk, (unsigned long long)gib * 1024, (unsigned long long)free_mib, HOST_DISK_RESERVE_MIB);
    return;
  }
  x->info_done = true;
  next_disk(x);
}

static void next_disk(struct import_ctx *x) {
  struct core *c = x->m->c;
  if (x->disk >= x->v->cfg.n_disks) {
    if (x->v->cfg.arch == VM_ARCH_AARCH64) {
      vm_efivars_make(c->launcher, c->host.qemu_img, x->dir, c->host.aavmf_vars, on_efivars, x);
      return;
    }
    on_efivars(NULL, x);
    return;
  }
  struct src_disk *s = &x->src[x->disk];
  const char *declared = x->res.disks[x->disk].format;
  if (!x->info_done) {
    /* the format from the first bytes; a declared raw disk stays raw (its guest may have written
     * any header into it), and a declared format the bytes do not show is refused */
    unsigned char head[512];
    char err[512];
    size_t got = 0;
    int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n =
        fd < 0 ? -1
               : pread(fd, head, s->in_tar && s->size < sizeof(head) ? s->size : sizeof(head), (off_t)s->off);
    if (fd >= 0)
      close(fd);
    if (n < 0) {
      fail(x, 400, "invalid_field", "disks[%zu]: %s: %s", x->disk, s->path, strerror(errno));
      return;
    }
    got = (size_t)n;
    const char *fmt = NULL;
    enum img_result ir = img_check_bytes(head, got, &fmt, err, sizeof(err));
    if (strcmp(declared, "raw") == 0) {
      fmt = "raw";
    } else if (ir != IMG_OK) {
      fail(x, 400, img_result_code(ir), "disks[%zu]: %s: %s", x->disk, x->res.disks[x->disk].src, err);
      return;
    } else if (declared[0] && strcmp(declared, fmt) != 0) {
      fail(x, 400, "wrong_format", "disks[%zu]: %s: declared %s but it is %s", x->disk,
           x->res.disks[x->disk].src, declared, fmt);
      return;
    }
    if (s->in_tar && strcmp(fmt, "vmdk") == 0 && got >= 4 && memcmp(head, "KDMV", 4) != 0) {
      fail(x, 400, "backing_file",
           "disks[%zu]: %s: a VMDK descriptor names other files; only sparse VMDKs are read", x->disk,
           x->res.disks[x->disk].src);
      return;
    }
    snprintf(s->fmt, sizeof(s->fmt), "%s", fmt);
    free(x->opts);
    x->opts = NULL;
    if (s->in_tar) {
      x->opts = member_opts(s);
      char *argv[] = {c->host.qemu_img, "info", "--output=json", "--image-opts", x->opts, NULL};
      proc_run(c->launcher, argv, on_info, x);
    } else {
      char *argv[] = {c->host.qemu_img, "info", "--output=json", "-f", s->fmt, s->path, NULL};
      proc_run(c->launcher, argv, on_info, x);
    }
    return;
  }
  char *dst = x->v->cfg.disks[x->disk].path;
  if (s->in_tar) {
    char *argv[] = {c->host.qemu_img, "convert", "-q", "--image-opts", x->opts, "-O", "qcow2", dst, NULL};
    proc_run(c->launcher, argv, on_converted, x);
  } else {
    char *argv[] = {c->host.qemu_img, "convert", "-q", "-f", s->fmt, "-O", "qcow2", s->path, dst, NULL};
    proc_run(c->launcher, argv, on_converted, x);
  }
}

/* ---- the request ---- */

static void import_from(struct import_ctx *x, const char *path, const char *field, json_t *name,
                        const char *fallback) {
  struct vm_manager *m = x->m;
  struct core *c = m->c;
  char err[1024];
  if (load_source(x, path, field) < 0)
    return;
  if (name)
    json_object_set(x->res.config, "name", name);
  if (!json_object_get(x->res.config, "name") && fallback)
    json_object_set_new(x->res.config, "name", json_string(fallback));
  if (!json_object_get(x->res.config, "name")) {
    fail(x, 400, "invalid_field",
         "name: the source has no usable name (1-%d bytes of printable UTF-8): give one", VM_NAME_MAX);
    return;
  }
  x->v = vm_alloc(m);
  struct vm *v = x->v;
  if (vm_config_apply_json(&v->cfg, x->res.config, true, err, sizeof(err)) < 0) {
    fail(x, 400, "invalid_field", "%s", err);
    return;
  }
  if (vm_find_name(m, v->cfg.name, NULL)) {
    fail(x, 409, "conflict", "name: a VM named '%s' exists", v->cfg.name);
    return;
  }
  v->cfg.n_disks = x->res.n_disks;
  for (size_t i = 0; i < v->cfg.n_disks; i++) {
    v->cfg.disks[i].iface = x->res.disks[i].iface;
    v->cfg.disks[i].size_gib = 1; /* until qemu-img info says */
  }
  if (vm_check_host_limits(m, x->r, &v->cfg) < 0) {
    vm_release(v);
    x->v = NULL;
    finish(x); /* answered */
    return;
  }
  if (!c->host.qemu_img[0]) {
    fail(x, 500, "internal", "qemu-img is not installed");
    return;
  }
  int e = vm_new_home(m, v, x->dir, sizeof(x->dir));
  if (e) {
    x->dir[0] = 0; /* not ours to remove */
    fail(x, 500, "internal", "cannot create the VM's directory: %s", strerror(e));
    return;
  }
  char sub[4300];
  snprintf(sub, sizeof(sub), "%s/logs", x->dir);
  mkdir(sub, 0700);
  snprintf(sub, sizeof(sub), "%s/run", x->dir);
  mkdir(sub, 0700);
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    snprintf(v->cfg.disks[i].path, sizeof(v->cfg.disks[i].path), "%s/disk%zu.qcow2", x->dir, i);
  next_disk(x);
}

void vm_import_req(struct vm_manager *m, struct core_req *r, json_t *body) {
  char path[4096], real[4096], err[4300];
  if (!vm_manager_room(m, r))
    return;
  if (vm_config_parse_path(json_object_get(body, "path"), "path", path, sizeof(path), err, sizeof(err)) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return;
  }
  json_t *name = json_object_get(body, "name");
  if (name && (!json_is_string(name) || !vm_name_valid(json_string_value(name)))) {
    core_req_reply_error(r, 400, "invalid_field", "name: 1-%d bytes of printable UTF-8", VM_NAME_MAX);
    return;
  }
  if (path_confine(m->c->roots, "path", path, real, sizeof(real), err, sizeof(err)) < 0) {
    core_req_reply_error(r, 403, "path_not_allowed", "%s", err);
    return;
  }
  struct import_ctx *x = xcalloc(1, sizeof(*x));
  x->m = m;
  x->r = r;
  snprintf(x->origin, sizeof(x->origin), "%s", real);
  import_from(x, real, "path", name, NULL);
}

void vm_import_upload_req(struct vm_manager *m, struct core_req *r) {
  struct import_ctx *x = xcalloc(1, sizeof(*x));
  x->m = m;
  x->r = r;
  snprintf(x->upload, sizeof(x->upload), "%s", r->upload_tmp ? r->upload_tmp : "");
  json_t *sum = r->body ? json_loads(r->body, 0, NULL) : NULL;
  const char *uerr = json_string_value(json_object_get(sum, "error"));
  const char *fname = json_string_value(json_object_get(sum, "name"));
  if (!x->upload[0] || uerr) {
    bool full = uerr && strstr(uerr, "No space");
    fail(x, full ? 507 : 500, full ? "insufficient_storage" : "internal", "file: the upload failed: %s",
         uerr ? uerr : "no file");
    json_decref(sum);
    return;
  }
  if (json_integer_value(json_object_get(sum, "size")) == 0) {
    fail(x, 400, "invalid_field", "file: the body is empty");
    json_decref(sum);
    return;
  }
  if (!vm_manager_room(m, r)) {
    unlink(x->upload);
    x->upload[0] = 0;
    finish(x);
    json_decref(sum);
    return;
  }
  snprintf(x->origin, sizeof(x->origin), "upload:%s", fname ? fname : "");
  /* a description without a usable name: the uploaded file's name without its extension */
  char stem[VM_NAME_MAX + 1] = "";
  if (fname) {
    snprintf(stem, sizeof(stem), "%s", fname);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem)
      *dot = 0;
  }
  import_from(x, x->upload, "file", NULL, vm_name_valid(stem) ? stem : NULL);
  json_decref(sum);
}
