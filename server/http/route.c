/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * route: see route.h. The path split, the match against the route table, the JSON body and the
 * allowed keys: every endpoint's first answers, written once. Core loop thread (route_dispatch);
 * the rest is pure.
 */
#include "route.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "util.h"

int route_split_path(char *path, char *seg[ROUTE_MAX_SEGMENTS]) {
  const char *prefix = "/api/v1/";
  size_t plen = strlen(prefix);
  if (strncmp(path, prefix, plen) != 0)
    return -1;
  int n = 0;
  char *p = path + plen;
  size_t len = strlen(p);
  if (len > 0 && p[len - 1] == '/')
    p[len - 1] = 0; /* one trailing slash is fine */
  while (*p) {
    char *slash = strchr(p, '/');
    if (slash)
      *slash = 0;
    if (!*p || strcmp(p, ".") == 0 || strcmp(p, "..") == 0 || n == ROUTE_MAX_SEGMENTS)
      return -1;
    seg[n++] = p;
    if (!slash)
      break;
    p = slash + 1;
    if (!*p)
      return -1;
  }
  return n;
}

/* Does PATTERN ("/a/{x}/b") fit the N segments SEG? On a fit, *SCORE has a bit per segment, the
 * first segment highest, set where the pattern is literal there; PARAM gets the "{...}" segments. */
static bool pattern_fits(const char *pattern, char *const *seg, int n, const char **param, int *nparam,
                         unsigned *score) {
  const char *p = pattern;
  int i = 0, np = 0;
  unsigned s = 0;
  while (*p == '/') {
    p++;
    size_t len = strcspn(p, "/");
    if (i == n)
      return false;
    bool is_param = len >= 2 && p[0] == '{' && p[len - 1] == '}';
    if (is_param) {
      if (np == ROUTE_MAX_PARAMS)
        return false;
      param[np++] = seg[i];
    } else if (strlen(seg[i]) != len || memcmp(seg[i], p, len) != 0) {
      return false;
    }
    s = (s << 1) | (is_param ? 0u : 1u);
    i++;
    p += len;
  }
  if (i != n)
    return false;
  *nparam = np;
  *score = s;
  return true;
}

void route_match(const struct route *table, size_t n, const char *method, char *path,
                 struct route_match *out) {
  memset(out, 0, sizeof(*out));
  out->status = 404;
  char *seg[ROUTE_MAX_SEGMENTS];
  int nseg = route_split_path(path, seg);
  if (nseg < 0)
    return;
  /* The best-fitting pattern first: several routes share it (one per method). */
  const char *best = NULL;
  unsigned best_score = 0;
  for (size_t i = 0; i < n; i++) {
    const char *param[ROUTE_MAX_PARAMS];
    int np;
    unsigned score;
    if (pattern_fits(table[i].pattern, seg, nseg, param, &np, &score) && (!best || score > best_score)) {
      best = table[i].pattern;
      best_score = score;
    }
  }
  if (!best)
    return;
  size_t alen = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(table[i].pattern, best) != 0)
      continue;
    if (strcmp(table[i].method, method) == 0) {
      out->status = 200;
      out->route = &table[i];
      unsigned score;
      pattern_fits(best, seg, nseg, out->param, &out->nparam, &score);
      return;
    }
    size_t ml = strlen(table[i].method);
    if (alen + ml + 3 < sizeof(out->allow)) {
      if (alen) {
        memcpy(out->allow + alen, ", ", 2);
        alen += 2;
      }
      memcpy(out->allow + alen, table[i].method, ml + 1);
      alen += ml;
    }
  }
  out->status = 405;
}

/* The body as a JSON object; on failure R is answered and NULL returned. */
static json_t *body_object(struct core_req *r) {
  if (!r->body || r->body_len == 0) {
    core_req_reply_error(r, 400, "malformed_json", "the request body must be a JSON object");
    return NULL;
  }
  json_error_t e;
  json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
  if (!j) {
    core_req_reply_error(r, 400, "malformed_json",
                         "the request body is not valid JSON: %s at line %d column %d", e.text, e.line,
                         e.column);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    core_req_reply_error(r, 400, "malformed_json", "the request body must be a JSON object");
    return NULL;
  }
  return j;
}

/* Every key of BODY is in KEYS; else R is answered and false returned. */
static bool keys_allowed(struct core_req *r, json_t *body, const char *const *keys) {
  const char *key;
  json_t *v;
  json_object_foreach(body, key, v) {
    const char *const *k = keys;
    while (*k && strcmp(*k, key) != 0)
      k++;
    if (!*k) {
      core_req_reply_error(r, 400, "invalid_field", "%.100s: unknown field", key);
      return false;
    }
  }
  return true;
}

void route_dispatch(const struct route *table, size_t n, struct core *c, struct core_req *r) {
  char *path = xstrdup(r->path ? r->path : "");
  struct route_match m;
  route_match(table, n, r->method, path, &m);
  if (m.status == 404) {
    core_req_reply_error(r, 404, "not_found", "no such resource");
  } else if (m.status == 405) {
    core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", r->method,
                         m.allow);
  } else {
    const struct route *rt = m.route;
    json_t *body = NULL;
    bool ok = true;
    switch (rt->body) {
    case ROUTE_NO_BODY:
    case ROUTE_UPLOAD:
      break;
    case ROUTE_JSON_OPTIONAL:
      if (!r->body_len)
        break;
      /* fall through */
    case ROUTE_JSON:
      ok = (body = body_object(r)) && keys_allowed(r, body, rt->keys);
      break;
    case ROUTE_JSON_CONFIG:
      ok = (body = body_object(r)) != NULL;
      break;
    }
    if (ok)
      rt->fn(c, r, body, m.param);
    json_decref(body);
  }
  free(path);
}
