/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dl_ms: see dl_ms.h. Every byte here comes from a remote server: sizes are bounded by
 * dl_fetch's MAX and parsed with Jansson; nothing is trusted to be NUL-free. */
#include "dl_ms.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"
#include "util.h"

#define MS_PROFILE "606624d44113"
#define MS_ORG_ID "y6jn8c31"

struct dl_ms {
  struct dl_engine *e;
  char *page, *tags, *api, *lang, *arch;
  char session[37];
  char edition[32];
  char *sku;
  int step;
  struct dl_fetch *f;
  dl_ms_cb cb;
  void *ud;
};

static void ms_free(struct dl_ms *m) {
  free(m->page);
  free(m->tags);
  free(m->api);
  free(m->lang);
  free(m->arch);
  free(m->sku);
  free(m);
}

static void finish(struct dl_ms *m, const char *url, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(struct dl_ms *m, const char *url, const char *fmt, ...) {
  char err[1024] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, sizeof(err), fmt, ap);
    va_end(ap);
    utf8_sanitize(err);
  }
  m->f = NULL;
  m->cb(m->ud, url, fmt ? err : NULL);
  ms_free(m);
}

static void on_fetch(void *ud, CURL *easy, long status, const char *body, size_t len, const char *err);

static void next(struct dl_ms *m, const char *url, bool referer) {
  char ref[4200];
  const char *hdrs[3] = {"Accept: text/html,application/json;q=0.9,*/*;q=0.8", NULL, NULL};
  if (referer) {
    snprintf(ref, sizeof(ref), "Referer: %s", m->page);
    hdrs[1] = ref;
  }
  m->f = dl_fetch_start(m->e, url, hdrs, 4 << 20, on_fetch, m);
}

/* The first <option value="DIGITS"> on the page. */
static bool find_edition(const char *body, size_t len, char *out, size_t outlen) {
  static const char key[] = "option value=\"";
  size_t kl = sizeof(key) - 1;
  for (size_t i = 0; i + kl < len; i++) {
    if (memcmp(body + i, key, kl) != 0)
      continue;
    size_t j = i + kl, n = 0;
    while (j + n < len && isdigit((unsigned char)body[j + n]) && n + 1 < outlen)
      n++;
    if (n > 0 && j + n < len && body[j + n] == '"') {
      memcpy(out, body + j, n);
      out[n] = 0;
      return true;
    }
  }
  return false;
}

/* Microsoft's error list, top level or in ValidationContainer; NULL when empty. */
static json_t *ms_errors(json_t *j) {
  json_t *e = json_object_get(j, "Errors");
  if (json_is_array(e) && json_array_size(e))
    return e;
  e = json_object_get(json_object_get(j, "ValidationContainer"), "Errors");
  if (json_is_array(e) && json_array_size(e))
    return e;
  return NULL;
}

static void refused(struct dl_ms *m, json_t *errs) {
  json_t *first = json_array_get(errs, 0);
  const char *key = json_string_value(json_object_get(first, "Key"));
  const char *val = json_string_value(json_object_get(first, "Value"));
  finish(m, NULL,
         "Microsoft refused the download (%s%s%s). Download the ISO by hand in a browser from %s and "
         "import it (POST /api/v1/images)",
         key ? key : "no reason given", val ? ": " : "", val ? val : "", m->page);
}

static bool contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (const char *p = hay; *p; p++)
    if (strncasecmp(p, needle, n) == 0)
      return true;
  return false;
}

static void on_fetch(void *ud, CURL *easy, long status, const char *body, size_t len, const char *err) {
  struct dl_ms *m = ud;
  static const char *const what[] = {"product page", "session registration", "SKU list", "download link"};
  if (err || status < 200 || status > 299) {
    if (err)
      finish(m, NULL,
             "Microsoft download flow, %s: %s. Download the ISO by hand from %s and import it (POST "
             "/api/v1/images)",
             what[m->step], err, m->page);
    else
      finish(m, NULL,
             "Microsoft download flow, %s: HTTP %ld. Download the ISO by hand from %s and import it (POST "
             "/api/v1/images)",
             what[m->step], status, m->page);
    return;
  }
  char url[8192];
  if (m->step == 0) {
    if (!find_edition(body, len, m->edition, sizeof(m->edition))) {
      finish(m, NULL, "Microsoft's page %s lists no product edition; download the ISO by hand and import it",
             m->page);
      return;
    }
    m->step = 1;
    snprintf(url, sizeof(url), "%s?org_id=%s&session_id=%s", m->tags, MS_ORG_ID, m->session);
    next(m, url, false);
    return;
  }
  if (m->step == 1) {
    m->step = 2;
    snprintf(url, sizeof(url),
             "%s/getskuinformationbyproductedition?profile=%s&ProductEditionId=%s&SKU=undefined"
             "&friendlyFileName=undefined&Locale=en-US&sessionID=%s",
             m->api, MS_PROFILE, m->edition, m->session);
    next(m, url, true);
    return;
  }
  json_t *j = json_loadb(body, len, 0, NULL);
  if (!json_is_object(j)) {
    json_decref(j);
    finish(m, NULL, "Microsoft's %s answer is not a JSON object; download the ISO by hand and import it",
           what[m->step]);
    return;
  }
  json_t *errs = ms_errors(j);
  if (errs) {
    refused(m, errs);
    json_decref(j);
    return;
  }
  if (m->step == 2) {
    json_t *skus = json_object_get(j, "Skus"), *s;
    size_t i;
    const char *id = NULL;
    json_array_foreach(skus, i, s) {
      const char *lang = json_string_value(json_object_get(s, "Language"));
      const char *sid = json_string_value(json_object_get(s, "Id"));
      if (lang && sid && strcmp(lang, m->lang) == 0 && strspn(sid, "0123456789") == strlen(sid) && *sid) {
        id = sid;
        break;
      }
    }
    if (!id) {
      json_decref(j);
      finish(m, NULL, "Microsoft offers no \"%s\" SKU for edition %s", m->lang, m->edition);
      return;
    }
    m->sku = xstrdup(id);
    json_decref(j);
    m->step = 3;
    snprintf(url, sizeof(url),
             "%s/GetProductDownloadLinksBySku?profile=%s&productEditionId=undefined&SKU=%s"
             "&friendlyFileName=undefined&Locale=en-US&sessionID=%s",
             m->api, MS_PROFILE, m->sku, m->session);
    next(m, url, true);
    return;
  }
  json_t *opts = json_object_get(j, "ProductDownloadOptions"), *o;
  size_t i;
  char *found = NULL;
  json_array_foreach(opts, i, o) {
    const char *uri = json_string_value(json_object_get(o, "Uri"));
    if (uri && (strncmp(uri, "https://", 8) == 0 || strncmp(uri, "http://", 7) == 0) && strlen(uri) < 4000 &&
        contains_ci(uri, m->arch)) {
      found = xstrdup(uri);
      break;
    }
  }
  json_decref(j);
  if (!found) {
    finish(m, NULL,
           "Microsoft's answer has no %s download link; download the ISO by hand from %s and import it",
           m->arch, m->page);
    return;
  }
  m->f = NULL;
  m->cb(m->ud, found, NULL);
  free(found);
  ms_free(m);
}

struct dl_ms *dl_ms_start(struct dl_engine *e, const struct dl_ms_params *p, dl_ms_cb cb, void *ud) {
  struct dl_ms *m = xcalloc(1, sizeof(*m));
  m->e = e;
  m->page = xstrdup(p->page_url);
  m->tags = xstrdup(p->tags_url);
  m->api = xstrdup(p->api_url);
  m->lang = xstrdup(p->language);
  m->arch = xstrdup(p->arch);
  m->cb = cb;
  m->ud = ud;
  random_uuid(m->session);
  next(m, m->page, false);
  return m;
}

void dl_ms_cancel(struct dl_ms *m) {
  if (!m)
    return;
  dl_fetch_cancel(m->f);
  ms_free(m);
}
