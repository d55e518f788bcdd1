/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_images: the image library's requests: list, get, delete (refused while a VM uses the
 * file), import of a host file (reflink, else hard link, else a hashed copy, on a worker
 * thread) and uploads (the bytes are already in a temp file http.c wrote). Called by the route
 * table (server/http/api.c), which checked the method, the body and its keys. Every image is
 * checked (dl_library_check) before it gets a name in DATA/images/ and a row. Core loop
 * thread, except import_work.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "crashpt.h"
#include "events.h"
#include "paths.h"
#include "util.h"
#include "vm.h"
#include "vm_config.h"

struct import_job {
  uv_work_t w;
  struct dl_manager *m;
  struct core_req *r;
  char src[4096], dst[4400], name[256], mode[16];
  char tmp[4400]; /* DATA/images/.import-RANDOM: written there, renamed to dst once checked */
  char sha[DL_HASH_MAX_HEX + 1];
  int64_t size;
  int err;
};

/* Worker: reflink, else hard link, else copy (hashing the copy). */
static void import_work(uv_work_t *w) {
  struct import_job *j = w->data;
  int in = open(j->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW); /* resolved and confined before */
  if (in < 0) {
    j->err = errno;
    return;
  }
  int out = open(j->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    j->err = errno;
    close(in);
    return;
  }
  if (ioctl(out, FICLONE, in) == 0) {
    snprintf(j->mode, sizeof(j->mode), "reflink");
    goto done;
  }
  close(out);
  unlink(j->tmp);
  out = -1;
  if (link(j->src, j->tmp) == 0) {
    snprintf(j->mode, sizeof(j->mode), "hardlink");
    goto done;
  }
  out = open(j->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    j->err = errno;
    goto done;
  }
  snprintf(j->mode, sizeof(j->mode), "copy");
  struct dl_hash *h = dl_hash_new(DL_SHA256);
  size_t bufsz = 1 << 20;
  char *buf = xmalloc(bufsz);
  for (;;) {
    ssize_t n = read(in, buf, bufsz);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || (n > 0 && dl_pwrite_all(out, buf, (size_t)n, (uint64_t)lseek(out, 0, SEEK_CUR)) < 0)) {
      j->err = errno ? errno : EIO;
      break;
    }
    if (n == 0)
      break;
    lseek(out, n, SEEK_CUR);
    dl_hash_update(h, buf, (size_t)n);
  }
  free(buf);
  if (!j->err && fdatasync(out) < 0)
    j->err = errno;
  if (!j->err)
    dl_hash_final_hex(h, j->sha);
  dl_hash_free(h);
  if (j->err)
    unlink(j->tmp);
done:
  if (out >= 0)
    close(out);
  close(in);
}

static void import_after(uv_work_t *w, int status) {
  struct import_job *j = w->data;
  struct core_req *r = j->r;
  struct dl_manager *m = j->m;
  char ierr[256];
  enum img_result ir;
  m->imports--;
  if (m->closing) {
    if (!j->err)
      unlink(j->tmp);
    core_req_reply_error(r, 503, "shutting_down", "the daemon is shutting down");
    if (m->imports == 0)
      dl_manager_free_rest(m);
  } else if (j->err) {
    core_req_reply_error(r, j->err == ENOSPC ? 507 : 500,
                         j->err == ENOSPC ? "insufficient_storage" : "io_error", "path: cannot import %s: %s",
                         j->src, strerror(j->err));
  } else if ((ir = dl_library_check(j->tmp, j->name, ierr, sizeof(ierr))) != IMG_OK) {
    unlink(j->tmp);
    core_req_reply_error(r, 400, img_result_code(ir), "%s", ierr);
  } else if ((crashpt("import:before_rename"),
              dl_unique_image_path(m, j->name, j->dst, sizeof(j->dst), j->name, sizeof(j->name))) < 0 ||
             rename(j->tmp, j->dst) < 0) {
    unlink(j->tmp);
    core_req_reply_error(r, 409, "conflict", "name: cannot name the image %s", j->name);
  } else {
    char id[37];
    random_uuid(id);
    crashpt("import:before_row");
    if (dl_store_image_insert(j->m, id, j->name, j->dst, j->size, j->sha[0] ? j->sha : NULL, "import",
                              j->src) < 0) {
      unlink(j->dst);
      core_req_reply_error(r, 500, "internal", "cannot record the image");
    } else {
      json_t *img = dl_store_image_get(j->m, id);
      json_object_set_new(img, "import_mode", json_string(j->mode));
      events_emit(j->m->c->events, json_pack("{s:s, s:s}", "type", "image.created", "image", id));
      core_req_reply_json(r, 201, img);
    }
  }
  free(j);
}

/* POST /images {"path", "name"}. */
void dl_req_images_import(struct core *c, struct core_req *r, json_t *b, const char *const *param) {
  (void)param;
  struct dl_manager *m = c->dls;
  if (!dl_room_for(m, r, false))
    return;
  const char *path = json_string_value(json_object_get(b, "path"));
  const char *nm = json_string_value(json_object_get(b, "name"));
  struct stat st;
  char name[160];
  char real[4096], perr[512];
  if (!path || path[0] != '/' || strlen(path) >= 4096) {
    core_req_reply_error(r, 400, "invalid_field", "path: must be an absolute path to a file on this machine");
  } else if (path_confine(m->c->roots, "path", path, real, sizeof(real), perr, sizeof(perr)) < 0) {
    core_req_reply_error(r, 403, "path_not_allowed", "%s", perr);
  } else if ((path = real, stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, R_OK) < 0)) {
    core_req_reply_error(r, 400, "invalid_field", "path: %s is not a readable regular file (%s)", path,
                         errno ? strerror(errno) : "not a regular file");
  } else if (json_object_get(b, "name") &&
             (!nm || (dl_safe_name(nm, name, sizeof(name)), strcmp(name, nm) != 0) || !name[0])) {
    core_req_reply_error(r, 400, "invalid_field",
                         "name: must be a file name of letters, digits, '.', '_', '-', '+' (120 at most)");
  } else {
    if (!nm) {
      const char *base = strrchr(path, '/') + 1;
      dl_safe_name(base, name, sizeof(name));
      if (!name[0])
        snprintf(name, sizeof(name), "imported.iso");
    }
    struct import_job *j = xcalloc(1, sizeof(*j));
    j->w.data = j;
    j->m = m;
    j->r = r;
    j->size = st.st_size;
    snprintf(j->src, sizeof(j->src), "%s", path);
    char rnd[17];
    random_hex(rnd, 16);
    if (dl_unique_image_path(m, name, j->dst, sizeof(j->dst), j->name, sizeof(j->name)) < 0 ||
        fmt_path(j->tmp, sizeof(j->tmp), "%s/.import-%s", m->dir_img, rnd) < 0) {
      free(j);
      core_req_reply_error(r, 409, "conflict", "name: too many images named %s", name);
    } else {
      snprintf(j->name, sizeof(j->name), "%s", name); /* its free name is chosen again when done */
      m->imports++;
      uv_queue_work(&m->c->loop, &j->w, import_work, import_after);
    }
  }
}

/* PUT /images/upload?name=NAME: the bytes are already in r->upload_tmp (written by http.c on its
 * thread), r->body is http.c's summary of them. */
void dl_req_images_upload(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  struct dl_manager *m = c->dls;
  if (!r->upload_tmp) { /* http.c streams only PUT /api/v1/images/upload itself (no trailing slash) */
    core_req_reply_error(r, 405, "method_not_allowed", "upload with PUT /api/v1/images/upload?name=NAME");
    return;
  }
  json_t *b = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
  const char *nm = json_string_value(json_object_get(b, "name"));
  const char *err = json_string_value(json_object_get(b, "error"));
  const char *sha = json_string_value(json_object_get(b, "sha256"));
  int64_t size = json_integer_value(json_object_get(b, "size"));
  char name[160] = "", path[4400], base[256], ierr[256];
  enum img_result ir;
  if (nm)
    dl_safe_name(nm, name, sizeof(name));
  if (dl_store_image_count(m) >= DL_MAX_IMAGES) {
    unlink(r->upload_tmp);
    dl_room_for(m, r, false);
  } else if (err) {
    unlink(r->upload_tmp);
    bool full = strstr(err, "No space") != NULL;
    core_req_reply_error(r, full ? 507 : 500, full ? "insufficient_storage" : "io_error", "upload: %s", err);
  } else if (!nm || !name[0] || strcmp(name, nm) != 0) {
    unlink(r->upload_tmp);
    core_req_reply_error(r, 400, "invalid_field",
                         "name: the ?name= query must be a file name of letters, digits, '.', '_', '-', '+'");
  } else if ((ir = dl_library_check(r->upload_tmp, name, ierr, sizeof(ierr))) != IMG_OK) {
    unlink(r->upload_tmp); /* before the answer: R is the HTTP thread's once answered */
    core_req_reply_error(r, 400, img_result_code(ir), "%s", ierr);
  } else if ((crashpt("upload:before_rename"),
              dl_unique_image_path(m, name, path, sizeof(path), base, sizeof(base))) < 0 ||
             rename(r->upload_tmp, path) < 0) {
    unlink(r->upload_tmp);
    core_req_reply_error(r, 500, "io_error", "cannot move the upload into the image library: %s",
                         strerror(errno));
  } else {
    char id[37];
    random_uuid(id);
    crashpt("upload:before_row");
    if (dl_store_image_insert(m, id, base, path, size, sha, "upload", NULL) < 0) {
      unlink(path);
      core_req_reply_error(r, 500, "internal", "cannot record the image");
    } else {
      events_emit(c->events, json_pack("{s:s, s:s}", "type", "image.created", "image", id));
      core_req_reply_json(r, 201, dl_store_image_get(m, id));
    }
  }
  json_decref(b);
}

void dl_req_images_list(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  core_req_reply_json(r, 200, json_pack("{s:o}", "images", dl_store_image_list(c->dls)));
}

void dl_req_image_get(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  json_t *img = dl_store_image_get(c->dls, param[0]);
  if (!img)
    core_req_reply_error(r, 404, "not_found", "no such image");
  else
    core_req_reply_json(r, 200, img);
}

void dl_req_image_delete(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  struct dl_manager *m = c->dls;
  const char *id = param[0];
  json_t *img = dl_store_image_get(m, id);
  if (!img) {
    core_req_reply_error(r, 404, "not_found", "no such image");
    return;
  }
  char who[VM_NAME_MAX + 32];
  if (vm_manager_file_in_use(m->c->vms, json_string_value(json_object_get(img, "path")), who, sizeof(who))) {
    json_decref(img);
    core_req_reply_error(r, 409, "in_use", "the image is in use by %s: eject or detach it first", who);
    return;
  }
  dl_store_image_delete(m, id); /* the row first: a crash between leaves a file the start removes */
  crashpt("image_delete:after_row");
  unlink(json_string_value(json_object_get(img, "path")));
  json_decref(img);
  events_emit(c->events, json_pack("{s:s, s:s}", "type", "image.deleted", "image", id));
  core_req_reply_json(r, 200, json_pack("{s:s}", "deleted", id));
}
