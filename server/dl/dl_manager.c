/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_manager: dl.h's manager: making it (directories, the engine, the tick, the boot id,
 * the catalog), loading the stored downloads (resuming those that were running), the
 * start-up sweep of what a killed daemon left half-done in the library, and freeing it.
 * Core loop thread only.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "util.h"

void dl_manager_free_rest(struct dl_manager *m) {
  json_decref(m->catalog);
  dl_store_close(m);
  free(m);
}

struct dl_manager *dl_manager_new(struct core *c) {
  struct dl_manager *m = xcalloc(1, sizeof(*m));
  m->c = c;
  snprintf(m->dir_dl, sizeof(m->dir_dl), "%s/downloads", c->data_dir);
  snprintf(m->dir_img, sizeof(m->dir_img), "%s/images", c->data_dir);
  m->e = dl_engine_new(&c->loop);
  dl_engine_on_action(m->e, dl_flush_all, m);
  m->tick = xcalloc(1, sizeof(*m->tick));
  uv_timer_init(&c->loop, m->tick);
  m->tick->data = m;
  size_t bl = 0;
  char *boot = read_file("/proc/sys/kernel/random/boot_id", 63, &bl);
  if (boot) {
    snprintf(m->boot_id, sizeof(m->boot_id), "%.*s", (int)strcspn(boot, "\n"), boot);
    free(boot);
  }
  dl_catalog_load(m);
  return m;
}

/* Start-up, first step: a completed download whose rename did not happen is renamed now (its
 * row and .part are both there). */
static void sweep_renames(struct dl_manager *m) {
  for (struct dl *d = m->list; d; d = d->next) {
    json_t *img = d->state == DL_ST_COMPLETED && d->image_id ? dl_store_image_get(m, d->image_id) : NULL;
    const char *path = json_string_value(json_object_get(img, "path"));
    char part[4300];
    dl_path(d, part, sizeof(part));
    if (path && access(path, F_OK) < 0 && access(part, F_OK) == 0) {
      if (rename(part, path) == 0)
        log_info("download %s (%s): start-up: moved into the library (interrupted at the end)", d->id,
                 d->name);
      else
        log_err("download %s: start-up: cannot move %s to %s: %s", d->id, part, path, strerror(errno));
    }
    json_decref(img);
  }
}

/* The image rows as sweep_rows found them. */
struct sweep_rows {
  struct dl_manager *m;
  size_t dlen;
  json_t *names; /* the file names in DATA/images that have a row */
  json_t *gone;  /* ids of rows whose file is not there */
  bool doubt;    /* a row names a file elsewhere */
};

static int sweep_row(void *ud, const char *id, const char *path) {
  struct sweep_rows *w = ud;
  size_t dlen = w->dlen;
  if (!id || !path || strncmp(path, w->m->dir_img, dlen) != 0 || path[dlen] != '/' ||
      strchr(path + dlen + 1, '/')) {
    w->doubt = true;
    return 1;
  }
  json_object_set_new(w->names, path + dlen + 1, json_true());
  if (access(path, F_OK) < 0 && errno == ENOENT)
    json_array_append_new(w->gone, json_string(id));
  return 0;
}

/* Rows are matched by name in DATA/images; a row elsewhere (the data directory was moved or
 * named another way) means doubt: then only the temp files go. Every row without its file is
 * dropped. */
static void sweep_rows(struct sweep_rows *w) {
  if (dl_store_image_each(w->m, sweep_row, w) < 0)
    w->doubt = true;
  if (w->doubt) {
    log_info("dl: start-up: image rows outside %s: only temp files are removed there", w->m->dir_img);
    json_array_clear(w->gone);
  }
  size_t i;
  json_t *v;
  json_array_foreach(w->gone, i, v) {
    log_info("dl: start-up: image %s has no file, its row is dropped", json_string_value(v));
    dl_store_image_delete(w->m, json_string_value(v));
  }
}

/* The temp files in DATA/images (.upload-*, .import-*) are removed; a file without a row that
 * is an image the library takes (a rename whose row never came, or one copied in by hand) gets
 * its row. */
static void sweep_images_dir(struct dl_manager *m, json_t *names, bool doubt) {
  DIR *dir = opendir(m->dir_img);
  struct dirent *e;
  while (dir && (e = readdir(dir))) {
    char path[4600];
    struct stat st;
    bool temp = strncmp(e->d_name, ".upload-", 8) == 0 || strncmp(e->d_name, ".import-", 8) == 0;
    if ((doubt && !temp) || fmt_path(path, sizeof(path), "%s/%s", m->dir_img, e->d_name) < 0 ||
        lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || json_object_get(names, e->d_name))
      continue;
    char ierr[256] = "a hidden file", id[37];
    if (!temp && e->d_name[0] != '.' && dl_library_check(path, e->d_name, ierr, sizeof(ierr)) == IMG_OK) {
      /* a file with a proper name (a rename whose row never came, or one the user copied in by
       * hand): kept, as an image of the library; nothing is deleted that may be someone's */
      random_uuid(id);
      if (dl_store_image_insert(m, id, e->d_name, path, (int64_t)st.st_size, NULL, "import", path) == 0) {
        log_info("dl: start-up: %s had no row: added to the library", path);
        continue;
      }
    }
    if (!temp) {
      log_warn("dl: start-up: %s is in the library folder but not an image it accepts (%s): left alone", path,
               ierr);
      continue;
    }
    log_info("dl: start-up: removing %s (a temp file of an interrupted upload or import)", path);
    unlink(path);
  }
  if (dir)
    closedir(dir);
}

/* Every DATA/downloads/ID.part without a download is removed. */
static void sweep_parts(struct dl_manager *m) {
  DIR *dir = opendir(m->dir_dl);
  struct dirent *e;
  while (dir && (e = readdir(dir))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".part") != 0)
      continue;
    char id[64], path[4600];
    snprintf(id, sizeof(id), "%.*s", (int)(n - 5), e->d_name);
    if (dl_find(m, id) || fmt_path(path, sizeof(path), "%s/%s", m->dir_dl, e->d_name) < 0)
      continue;
    log_info("dl: start-up: removing %s (no download has it)", path);
    unlink(path);
  }
  if (dir)
    closedir(dir);
}

/* Start-up: what a killed daemon left half-done in the library, in this order. */
static void sweep_library(struct dl_manager *m) {
  sweep_renames(m);
  struct sweep_rows w = {.m = m, .dlen = strlen(m->dir_img), .names = json_object(), .gone = json_array()};
  sweep_rows(&w);
  sweep_images_dir(m, w.names, w.doubt);
  sweep_parts(m);
  json_decref(w.names);
  json_decref(w.gone);
}

/* dl_store_load's callback for each stored download D. */
static void loaded(struct dl *d, const char *boot, void *ud) {
  struct dl_manager *m = d->m;
  /* Same kernel as when the 'written' rows were saved: the page cache still holds those
   * bytes, so they count. Otherwise only what was fdatasync'ed does. */
  bool same_boot = boot && m->boot_id[0] && strcmp(boot, m->boot_id) == 0;
  for (int pass = same_boot ? 0 : 1; pass < 2; pass++) {
    dl_segs_clear(&d->segs);
    dl_store_load_segs(m, d->id, pass == 0 ? "written" : "durable", &d->segs);
    if (d->total >= 0 && dl_segs_valid(&d->segs, (uint64_t)d->total))
      break;
    dl_segs_clear(&d->segs);
  }
  if (d->state == DL_ST_PAUSED) {
    char part[4300];
    dl_path(d, part, sizeof(part));
    d->fd = open(part, O_RDWR | O_CLOEXEC);
  }
}

int dl_manager_load(struct dl_manager *m, char *err, size_t errlen) {
  char path[4300];
  if (mkdir_p(m->dir_dl, 0755) < 0 || mkdir_p(m->dir_img, 0755) < 0) {
    snprintf(err, errlen, "cannot create %s or %s: %s", m->dir_dl, m->dir_img, strerror(errno));
    return -1;
  }
  snprintf(path, sizeof(path), "%s/qemu-hmos.sqlite3", m->c->data_dir);
  if (dl_store_open(m, path, err, errlen) < 0 || dl_store_load(m, loaded, NULL, err, errlen) < 0)
    return -1;
  sweep_library(m);
  for (struct dl *d = m->list; d; d = d->next) {
    if (d->state == DL_ST_STARTING || d->state == DL_ST_RUNNING || d->state == DL_ST_VERIFYING) {
      log_info("download %s (%s): resuming after a restart", d->id, d->name);
      d->state = DL_ST_PAUSED; /* so that dl_start announces the change */
      dl_start(d);
    }
  }
  return 0;
}

void dl_manager_free(struct dl_manager *m) {
  if (!m)
    return;
  while (m->list) {
    struct dl *d = m->list;
    dl_stop_transfers(d);
    if (d->fd >= 0 && !d->single && d->segs.n && fdatasync(d->fd) == 0)
      dl_store_save_segs(m, d->id, "durable", &d->segs); /* exact progress on a clean stop */
    if (d->pending) {
      struct core_req *r = d->pending;
      d->pending = NULL;
      core_req_reply_error(r, 503, "shutting_down", "the daemon is shutting down");
    }
    dl_release(d);
  }
  uv_timer_stop(m->tick);
  uv_close((uv_handle_t *)m->tick, dl_free_handle);
  dl_engine_free(m->e);
  m->closing = true;
  if (m->imports == 0)
    dl_manager_free_rest(m);
}
