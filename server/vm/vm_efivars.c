/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_efivars: the per-VM UEFI variable store as qcow2 (see vm_efivars.h for why and when).
 * One qemu-img convert per call, run by proc.c off the loop; core loop thread only.
 */
#include "vm_efivars.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img.h"
#include "proc.h"
#include "util.h"

struct efivars_job {
  char tmp[4200], dst[4200], old[4200]; /* old: the raw store to remove once converted, or "" */
  vm_efivars_cb cb;
  void *ud;
};

static int dir_file(char *out, size_t len, const char *dir, const char *name) {
  int n = snprintf(out, len, "%s/%s", dir, name);
  return n < 0 || (size_t)n >= len ? -1 : 0;
}

static bool vm_efivars_ready(const char *dir) {
  char p[4200];
  return dir_file(p, sizeof(p), dir, VM_EFIVARS) == 0 && access(p, F_OK) == 0;
}

static void on_converted(const struct proc_result *res, void *ud) {
  struct efivars_job *j = ud;
  char msg[1024];
  const char *err = NULL;
  if (res->exit_status != 0) {
    snprintf(msg, sizeof(msg), "cannot make the UEFI variables %s: %s", j->dst,
             res->err[0] ? res->err : "qemu-img gave no reason");
    err = msg;
  } else if (chmod(j->tmp, 0600) < 0 || rename(j->tmp, j->dst) < 0) {
    snprintf(msg, sizeof(msg), "cannot make the UEFI variables %s: %s", j->dst, strerror(errno));
    err = msg;
  } else if (j->old[0]) {
    unlink(j->old); /* converted: its variables live on in the qcow2 */
  }
  if (err)
    unlink(j->tmp);
  j->cb(err, j->ud);
  free(j);
}

/* qemu-img convert -f FMT -O qcow2 FROM DIR/.new-efivars.qcow2, then renamed to DIR/efivars.qcow2. */
static void convert(struct launcher *launcher, const char *qemu_img, const char *fmt, const char *from,
                    const char *dir, const char *old, vm_efivars_cb cb, void *ud) {
  struct efivars_job *j = xcalloc(1, sizeof(*j));
  j->cb = cb;
  j->ud = ud;
  if (!qemu_img || !qemu_img[0]) {
    free(j);
    cb("cannot make the UEFI variables: qemu-img is not installed", ud);
    return;
  }
  if (dir_file(j->tmp, sizeof(j->tmp), dir, ".new-" VM_EFIVARS) < 0 ||
      dir_file(j->dst, sizeof(j->dst), dir, VM_EFIVARS) < 0 ||
      snprintf(j->old, sizeof(j->old), "%s", old ? old : "") >= (int)sizeof(j->old)) {
    free(j);
    cb("cannot make the UEFI variables: path too long", ud);
    return;
  }
  unlink(j->tmp);
  char *argv[] = {(char *)qemu_img, "convert",    "-q",   "-f", (char *)fmt, "-O",
                  "qcow2",          (char *)from, j->tmp, NULL};
  proc_run(launcher, argv, on_converted, j);
}

void vm_efivars_make(struct launcher *launcher, const char *qemu_img, const char *dir, const char *tmpl,
                     vm_efivars_cb cb, void *ud) {
  char raw[4200];
  bool have_raw = dir_file(raw, sizeof(raw), dir, VM_EFIVARS_RAW) == 0 && access(raw, F_OK) == 0;
  if (vm_efivars_ready(dir)) {
    if (have_raw)
      unlink(raw); /* a conversion cut short between its rename and this removal */
    cb(NULL, ud);
    return;
  }
  if (have_raw) {
    convert(launcher, qemu_img, "raw", raw, dir, raw, cb, ud); /* an older version's: keep its variables */
    return;
  }
  convert(launcher, qemu_img, "raw", tmpl, dir, NULL, cb, ud);
}

void vm_efivars_copy(struct launcher *launcher, const char *qemu_img, const char *from_dir,
                     const char *to_dir, vm_efivars_cb cb, void *ud) {
  char from[4200];
  if (dir_file(from, sizeof(from), from_dir, VM_EFIVARS) == 0 && access(from, F_OK) == 0) {
    /* QEMU (unprivileged) writes it: qemu-img, the daemon's user, must not follow a backing file */
    const char *fmt;
    char why[256], msg[600];
    enum img_result ir = img_check_file(from, &fmt, why, sizeof(why));
    if (ir == IMG_OK && strcmp(fmt, "qcow2") != 0) {
      snprintf(why, sizeof(why), "not a qcow2 image but %s", fmt);
      ir = IMG_WRONG_FORMAT;
    }
    if (ir != IMG_OK) {
      snprintf(msg, sizeof(msg), "copying %s: %s", from, why);
      cb(msg, ud);
      return;
    }
    convert(launcher, qemu_img, "qcow2", from, to_dir, NULL, cb, ud);
    return;
  }
  if (dir_file(from, sizeof(from), from_dir, VM_EFIVARS_RAW) == 0 && access(from, F_OK) == 0) {
    convert(launcher, qemu_img, "raw", from, to_dir, NULL, cb, ud); /* not started since the upgrade */
    return;
  }
  cb(NULL, ud);
}

void vm_efivars_remove(const char *dir) {
  char p[4200];
  if (dir_file(p, sizeof(p), dir, VM_EFIVARS) == 0)
    unlink(p);
  if (dir_file(p, sizeof(p), dir, VM_EFIVARS_RAW) == 0)
    unlink(p);
}
