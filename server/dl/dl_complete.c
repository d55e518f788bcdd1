/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_complete: the end of a download: when every byte is there and hashed, the digest is
 * checked, the file synced and checked as an image, its library row and the download's
 * "completed" written in one transaction, and the .part renamed into DATA/images/ (crash
 * points around each step: tests/integration/test_crash_campaign.py). Also the library's
 * free-name and image checks that imports and uploads use. Core loop thread only.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashpt.h"
#include "util.h"

int dl_unique_image_path(struct dl_manager *m, const char *name, char *out, size_t len, char *base,
                         size_t baselen) {
  char stem[200], ext[64] = "";
  snprintf(stem, sizeof(stem), "%s", name);
  char *dot = strrchr(stem, '.');
  if (dot && dot != stem && strlen(dot) < sizeof(ext)) {
    snprintf(ext, sizeof(ext), "%s", dot);
    *dot = 0;
  }
  for (int i = 0; i < 1000; i++) {
    if (i == 0)
      snprintf(base, baselen, "%s%s", stem, ext);
    else
      snprintf(base, baselen, "%s-%d%s", stem, i, ext);
    bool taken = dl_store_image_name_taken(m, base);
    if (fmt_path(out, len, "%s/%s", m->dir_img, base) < 0)
      return -1;
    if (!taken && access(out, F_OK) < 0)
      return 0;
  }
  return -1;
}

/* An image for the library (downloaded, imported, uploaded) that names another host file, or is
 * not the format its name claims, is refused (img.h): IMG_OK, or the reason in ERR. */
enum img_result dl_library_check(const char *path, const char *name, char *err, size_t errlen) {
  const char *fmt;
  enum img_result ir = img_check_file(path, &fmt, err, errlen);
  return ir == IMG_OK ? img_check_claim(name, fmt, err, errlen) : ir;
}

static void finalize(struct dl *d) {
  dl_hash_final_hex(d->h, d->actual);
  dl_hash_reset(d->h);
  char part[4300];
  dl_path(d, part, sizeof(part));
  if (d->expected[0] && strcmp(d->expected, d->actual) != 0) {
    unlink(part);
    dl_fail(d, 502, "checksum_mismatch",
            "%s mismatch for %s: expected %s, got %s (the file was deleted and not added to the images)",
            d->algo == DL_SHA512 ? "SHA-512" : "SHA-256", d->name, d->expected, d->actual);
    return;
  }
  uint64_t size = dl_bytes(d);
  if (d->single && ftruncate(d->fd, (off_t)size) < 0) {
    dl_fail(d, 500, "io_error", "cannot truncate %s: %s", part, strerror(errno));
    return;
  }
  if (fdatasync(d->fd) < 0) {
    dl_fail(d, 500, "io_error", "cannot sync %s: %s", part, strerror(errno));
    return;
  }
  char ierr[256];
  enum img_result ir = dl_library_check(part, d->name, ierr, sizeof(ierr));
  if (ir != IMG_OK) {
    unlink(part);
    dl_fail(d, 400, img_result_code(ir), "%s (the file was deleted and not added to the images)", ierr);
    return;
  }
  char path[4400], base[256];
  if (dl_unique_image_path(d->m, d->name, path, sizeof(path), base, sizeof(base)) < 0) {
    dl_fail(d, 500, "io_error", "cannot move %s into the image library: no free name for %s", part, d->name);
    return;
  }
  /* The image's row and the download's "completed" in one transaction, then the rename: a crash
   * in between leaves a complete, verified .part that the next start renames (dl_manager_load). */
  crashpt("download:before_row");
  char iid[37];
  random_uuid(iid);
  const char *origin = d->eff_url ? d->eff_url : json_string_value(json_array_get(d->urls, 0));
  dl_store_begin(d->m);
  dl_store_image_insert(d->m, iid, base, path, (int64_t)size, d->algo == DL_SHA256 ? d->actual : NULL,
                        "download", origin);
  d->image_id = xstrdup(iid);
  if (d->total < 0)
    d->total = (int64_t)size;
  dl_set_state(d, DL_ST_COMPLETED);
  dl_store_commit(d->m);
  crashpt("download:before_rename");
  if (rename(part, path) < 0) {
    int e = errno;
    dl_store_image_delete(d->m, iid);
    free(d->image_id);
    d->image_id = NULL;
    d->state = DL_ST_VERIFYING; /* so that dl_fail() announces the change */
    dl_fail(d, 500, "io_error", "cannot move %s into the image library: %s", part, strerror(e));
    return;
  }
  crashpt("download:after_rename");
  dl_store_save_segs(d->m, d->id, NULL, NULL);
  close(d->fd);
  d->fd = -1;
}

void dl_check_complete(struct dl *d) {
  if (d->state != DL_ST_RUNNING && d->state != DL_ST_VERIFYING)
    return;
  for (unsigned i = 0; i < DL_MAX_CONNS; i++)
    if (d->conns[i].active || d->conns[i].waiting)
      return;
  bool done = d->single ? true : dl_segs_complete(&d->segs);
  if (!done)
    return;
  if (d->state == DL_ST_RUNNING) {
    dl_save_written(d); /* every byte is there: a restart while verifying fetches nothing again */
    dl_set_state(d, DL_ST_VERIFYING);
  }
  uint64_t size = dl_bytes(d);
  if (d->hashed < size || d->hash_busy) {
    dl_verify_kick(d);
    return;
  }
  finalize(d);
}
