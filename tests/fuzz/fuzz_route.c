/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness: request paths as a client sends them, through the route table's path split
 * (server/http/route.c route_split_path). Checks: at most ROUTE_MAX_SEGMENTS segments, none empty, "." or
 * "..", none holding a '/', and joined again they give back the path (one trailing slash aside).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
  free(path);
  free(orig);
  return 0;
}
