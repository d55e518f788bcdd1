/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness: request paths as a client sends them, through the route table's path split
 * (server/http/route.c route_split_path). Checks: at most ROUTE_MAX_SEGMENTS segments, none empty, "." or
 * "..", none holding a '/', and joined again they give back the path (one trailing slash aside).
 * Then the same path through route_match on the real table (api_routes) with each method: 200
 * with as many non-empty parameters as the pattern has, 405 with a non-empty Allow list, or 404.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = malloc(size + 1), *orig = malloc(size + 1);
  memcpy(path, data, size);
  path[size] = 0;
  memcpy(orig, path, size + 1);
  char *seg[ROUTE_MAX_SEGMENTS];
  int n = route_split_path(path, seg);
  if (n > ROUTE_MAX_SEGMENTS)
    __builtin_trap();
  if (n >= 0) {
    char *join = malloc(size + 16);
    size_t k = (size_t)snprintf(join, size + 16, "/api/v1/");
    for (int i = 0; i < n; i++) {
      if (!seg[i][0] || strchr(seg[i], '/') || strcmp(seg[i], ".") == 0 || strcmp(seg[i], "..") == 0)
        __builtin_trap();
      k += (size_t)snprintf(join + k, size + 16 - k, "%s%s", i ? "/" : "", seg[i]);
    }
    size_t ol = strlen(orig);
    if (ol && orig[ol - 1] == '/' && ol > 8)
      orig[ol - 1] = 0;
    if (strcmp(join, orig) != 0)
      __builtin_trap();
    free(join);
  }
  static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
    memcpy(path, data, size);
    path[size] = 0;
    struct route_match m;
    route_match(api_routes, api_n_routes, methods[i], path, &m);
    if (m.status == 200) {
      int want = 0;
      for (const char *p = m.route->pattern; *p; p++)
        want += *p == '{';
      if (m.nparam != want || strcmp(m.route->method, methods[i]) != 0)
        __builtin_trap();
      for (int k = 0; k < m.nparam; k++)
        if (!m.param[k][0] || strchr(m.param[k], '/'))
          __builtin_trap();
    } else if (m.status == 405) {
      if (!m.allow[0] || n < 0)
        __builtin_trap();
    } else if (m.status != 404) {
      __builtin_trap();
    }
  }
  free(path);
  free(orig);
  return 0;
}
