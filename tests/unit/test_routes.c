/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The REST route table (server/http/api.c) and its matcher (server/http/route.c): 404 for an
 * unknown path, 405 naming the table's methods, the most literal pattern winning, a consistent
 * table, every route listed in docs/api.md (argv[1]) as "METHOD … /api/v1PATTERN" on one line, and
 * the table and docs/openapi.yaml (argv[2]) naming the same operations, both ways (plus POST /pair,
 * which http.c serves before the table). The document's paths are read as written there: a path
 * "  /PATTERN:" at two spaces, its operations "    METHOD:" at four.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>

#include <cmocka.h>

#include "api.h"
#include "route.h"

static const char *docs_path, *openapi_path;

static struct route_match match(const char *method, const char *path) {
  static char buf[512];
  snprintf(buf, sizeof(buf), "%s", path);
  struct route_match m;
  route_match(api_routes, api_n_routes, method, buf, &m);
  return m;
}

static void test_found(void **state) {
  (void)state;
  struct route_match m = match("GET", "/api/v1/vms");
  assert_int_equal(m.status, 200);
  assert_string_equal(m.route->pattern, "/vms");
  m = match("POST", "/api/v1/vms/abc/snapshots/before/restore");
  assert_int_equal(m.status, 200);
  assert_string_equal(m.route->pattern, "/vms/{id}/snapshots/{name}/restore");
  assert_int_equal(m.nparam, 2);
  assert_string_equal(m.param[0], "abc");
  assert_string_equal(m.param[1], "before");
  m = match("DELETE", "/api/v1/vms/abc/"); /* one trailing slash */
  assert_int_equal(m.status, 200);
  assert_string_equal(m.param[0], "abc");
  /* literal over parameter */
  m = match("PUT", "/api/v1/images/upload");
  assert_int_equal(m.status, 200);
  assert_string_equal(m.route->pattern, "/images/upload");
  m = match("GET", "/api/v1/images/1234");
  assert_int_equal(m.status, 200);
  assert_string_equal(m.param[0], "1234");
}

static void test_not_found(void **state) {
  (void)state;
  const char *paths[] = {"/api/v1/nope",
                         "/api/v2/host",
                         "/api/v1/hosts",
                         "/api/v1",
                         "/api/v1/",
                         "/api/v1//vms",
                         "/api/v1/vms/x/explode",
                         "/api/v1/vms/../host",
                         "/api/v1/vms/x/disks/0/y",
                         "/api/v1/vms/x/snapshots/a/b",
                         "/api/v1/host/x",
                         "/api/v1/a/b/c/d/e/f/g/h/i"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    struct route_match m = match("GET", paths[i]);
    if (m.status != 404)
      fail_msg("%s: %d", paths[i], m.status);
  }
}

static void test_wrong_method(void **state) {
  (void)state;
  const struct {
    const char *method, *path, *allow;
  } cases[] = {
      {"DELETE", "/api/v1/host", "GET"},
      {"PUT", "/api/v1/vms", "GET, POST"},
      {"POST", "/api/v1/vms/x", "GET, PATCH, DELETE"},
      {"GET", "/api/v1/vms/x/start", "POST"},
      {"PUT", "/api/v1/vms/x/disks", "GET, POST"},
      {"GET", "/api/v1/vms/x/disks/0", "PATCH, DELETE"},
      {"GET", "/api/v1/vms/x/snapshots/one", "DELETE"},
      {"GET", "/api/v1/vms/x/snapshots/one/restore", "POST"},
      {"GET", "/api/v1/images/upload", "PUT"},
      {"PATCH", "/api/v1/images/x", "GET, DELETE"},
      {"HEAD", "/api/v1/catalog", "GET"},
      {"GET", "/api/v1/pairing", "POST"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct route_match m = match(cases[i].method, cases[i].path);
    if (m.status != 405 || strcmp(m.allow, cases[i].allow) != 0)
      fail_msg("%s %s: %d '%s'", cases[i].method, cases[i].path, m.status, m.allow);
  }
}

/* One route per method and pattern; keys exactly where a JSON body is checked here; patterns
 * that start with '/', with at most ROUTE_MAX_PARAMS parameters, and each pattern's routes
 * together (the order of a 405's list). */
static void test_table(void **state) {
  (void)state;
  for (size_t i = 0; i < api_n_routes; i++) {
    const struct route *a = &api_routes[i];
    assert_non_null(a->fn);
    assert_true(a->pattern[0] == '/');
    bool want_keys = a->body == ROUTE_JSON || a->body == ROUTE_JSON_OPTIONAL;
    if (want_keys != (a->keys != NULL))
      fail_msg("%s %s: keys %s", a->method, a->pattern, a->keys ? "given" : "missing");
    int np = 0;
    for (const char *p = a->pattern; *p; p++)
      np += *p == '{';
    assert_true(np <= ROUTE_MAX_PARAMS);
    bool left = false;
    for (size_t j = i + 1; j < api_n_routes; j++) {
      const struct route *b = &api_routes[j];
      bool same = strcmp(a->pattern, b->pattern) == 0;
      if (same && strcmp(a->method, b->method) == 0)
        fail_msg("%s %s twice", a->method, a->pattern);
      if (same && left)
        fail_msg("%s: its routes are not together", a->pattern);
      left |= !same;
    }
  }
}

static bool word_in(const char *line, const char *w) {
  size_t n = strlen(w);
  for (const char *p = strstr(line, w); p; p = strstr(p + 1, w)) {
    bool before = p == line || !((p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= 'a' && p[-1] <= 'z'));
    bool after = !((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z'));
    if (before && after)
      return true;
  }
  return false;
}

/* "/api/v1PATTERN" in LINE, not followed by more of a path ("/vms" is not "/vms/{id}"). */
static bool path_in(const char *line, const char *path) {
  size_t n = strlen(path);
  for (const char *p = strstr(line, path); p; p = strstr(p + 1, path)) {
    char c = p[n];
    if (c != '/' && c != '{' && c != '_' && c != '-' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
        !(c >= '0' && c <= '9'))
      return true;
  }
  return false;
}

static void test_documented(void **state) {
  (void)state;
  FILE *f = fopen(docs_path, "r");
  if (!f)
    fail_msg("cannot read %s", docs_path);
  char *lines[2000];
  size_t n = 0;
  char buf[4096];
  while (n < 2000 && fgets(buf, sizeof(buf), f))
    lines[n++] = strdup(buf);
  fclose(f);
  int missing = 0;
  for (size_t i = 0; i < api_n_routes; i++) {
    char path[256];
    snprintf(path, sizeof(path), "/api/v1%s", api_routes[i].pattern);
    bool found = false;
    for (size_t k = 0; k < n && !found; k++)
      found = path_in(lines[k], path) && word_in(lines[k], api_routes[i].method);
    if (!found) {
      print_error("docs/api.md does not list %s %s\n", api_routes[i].method, path);
      missing++;
    }
  }
  for (size_t k = 0; k < n; k++)
    free(lines[k]);
  assert_int_equal(missing, 0);
}

/* The operations of docs/openapi.yaml: "METHOD PATTERN" each (METHOD in capitals). */
static size_t openapi_ops(char ops[][300], size_t max) {
  FILE *f = fopen(openapi_path, "r");
  if (!f)
    fail_msg("cannot read %s", openapi_path);
  static const char *const methods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};
  char line[4096], path[256] = "";
  bool in_paths = false;
  size_t n = 0;
  while (fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (line[0] && line[0] != ' ' && line[0] != '#') {
      in_paths = strcmp(line, "paths:") == 0;
      continue;
    }
    if (!in_paths)
      continue;
    size_t len = strlen(line);
    if (strncmp(line, "  /", 3) == 0 && len > 3 && line[len - 1] == ':') {
      snprintf(path, sizeof(path), "%.*s", (int)(len - 3), line + 2);
      continue;
    }
    for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
      char want[32];
      snprintf(want, sizeof(want), "    %s:", methods[m]);
      if (strcmp(line, want) == 0 && path[0] && n < max) {
        char up[16];
        size_t k = 0;
        for (; methods[m][k] && k < sizeof(up) - 1; k++)
          up[k] = (char)toupper((unsigned char)methods[m][k]);
        up[k] = 0;
        snprintf(ops[n++], 300, "%s %s", up, path);
      }
    }
  }
  fclose(f);
  return n;
}

static void test_openapi(void **state) {
  (void)state;
  static char ops[200][300];
  size_t n = openapi_ops(ops, 200);
  assert_true(n >= api_n_routes); /* the reading itself works */
  int wrong = 0;
  for (size_t i = 0; i < api_n_routes; i++) {
    char want[300];
    snprintf(want, sizeof(want), "%s %s", api_routes[i].method, api_routes[i].pattern);
    bool found = false;
    for (size_t k = 0; k < n && !found; k++)
      found = strcmp(ops[k], want) == 0;
    if (!found) {
      print_error("docs/openapi.yaml lacks %s (served: server/http/api.c)\n", want);
      wrong++;
    }
  }
  for (size_t k = 0; k < n; k++) {
    bool found = strcmp(ops[k], "POST /pair") == 0; /* http.c's own, on the LAN listener */
    for (size_t i = 0; i < api_n_routes && !found; i++) {
      char have[300];
      snprintf(have, sizeof(have), "%s %s", api_routes[i].method, api_routes[i].pattern);
      found = strcmp(ops[k], have) == 0;
    }
    if (!found) {
      print_error("docs/openapi.yaml documents %s, which the daemon does not serve\n", ops[k]);
      wrong++;
    }
  }
  assert_int_equal(wrong, 0);
}

int main(int argc, char **argv) {
  docs_path = argc > 1 ? argv[1] : "docs/api.md";
  openapi_path = argc > 2 ? argv[2] : "docs/openapi.yaml";
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_found), cmocka_unit_test(test_not_found),  cmocka_unit_test(test_wrong_method),
      cmocka_unit_test(test_table), cmocka_unit_test(test_documented), cmocka_unit_test(test_openapi),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
