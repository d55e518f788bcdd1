/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_catalog: the OS catalog (data/catalog.json, or the file $QHM_CATALOG names), read once
 * when the manager is made: lookups for POST /downloads {"catalog_id"}, the parameters of a
 * Microsoft entry, and GET /catalog. Core loop thread only.
 */
#define QHM_DL_PRIV_H_ALLOW
#include "dl_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "util.h"

/* $QHM_CATALOG; else the installed one (SHARE/catalog.json: util.h qhm_share_dir); else the
 * source tree's data/catalog.json (a daemon run from its build directory). */
static const char *catalog_path(void) {
  static char installed[4200];
  const char *p = getenv("QHM_CATALOG");
  if (p && *p)
    return p;
  if (fmt_path(installed, sizeof(installed), "%s/catalog.json", qhm_share_dir()) == 0 &&
      access(installed, R_OK) == 0)
    return installed;
  return QHM_CATALOG_DEFAULT;
}

json_t *dl_catalog_entry(struct dl_manager *m, const char *id) {
  json_t *x;
  size_t i;
  json_array_foreach(json_object_get(m->catalog, "entries"), i, x) {
    const char *eid = json_string_value(json_object_get(x, "id"));
    if (eid && strcmp(eid, id) == 0)
      return x;
  }
  return NULL;
}

struct dl_ms_params dl_catalog_ms_params(json_t *e, const char **why) {
  json_t *ms = json_object_get(e, "microsoft");
  struct dl_ms_params p = {
      .page_url = json_string_value(json_object_get(ms, "page_url")),
      .tags_url = json_string_value(json_object_get(ms, "tags_url")),
      .api_url = json_string_value(json_object_get(ms, "api_url")),
      .language = json_string_value(json_object_get(ms, "language")),
      .arch = json_string_value(json_object_get(ms, "arch")),
  };
  *why = NULL;
  if (!dl_valid_url(p.page_url) || !dl_valid_url(p.tags_url) || !dl_valid_url(p.api_url) || !p.language ||
      !p.arch)
    *why = "the catalog entry's \"microsoft\" object needs page_url, tags_url, api_url, language and arch";
  return p;
}

void dl_catalog_load(struct dl_manager *m) {
  json_error_t je;
  const char *cp = catalog_path();
  m->catalog = json_load_file(cp, JSON_REJECT_DUPLICATES, &je);
  if (!json_is_array(json_object_get(m->catalog, "entries"))) {
    snprintf(m->catalog_err, sizeof(m->catalog_err), "the OS catalog %s cannot be read: %s", cp,
             m->catalog ? "no \"entries\" list" : je.text);
    json_decref(m->catalog);
    m->catalog = NULL;
    log_warn("%s", m->catalog_err);
  }
}

void dl_req_catalog(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  struct dl_manager *m = c->dls;
  if (!m->catalog) {
    core_req_reply_error(r, 500, "catalog_error", "%s", m->catalog_err);
  } else {
    core_req_reply_json(r, 200, json_pack("{s:O}", "entries", json_object_get(m->catalog, "entries")));
  }
}
