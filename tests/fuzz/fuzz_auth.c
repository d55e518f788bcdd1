/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness: the request headers access control reads from any client (server/core/auth.c):
 * Cookie, Authorization, Content-Type and Host. The input is split at the first NUL bytes into a
 * header value and a name. Checks: nothing is read or written outside the buffers (ASan), a value
 * found is a substring of the header, shorter than its buffer, and a Host matches only one of the
 * listener's own names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *hdr = malloc(size + 1);
  memcpy(hdr, data, size);
  hdr[size] = 0;
  size_t hl = strlen(hdr);
  const char *name = hl + 1 < size ? hdr + hl + 1 : "qhm_session";
  if (!name[0])
    name = "qhm_session";
  char out[80];
  for (size_t cap = 1; cap <= sizeof(out); cap += 39) {
    if (auth_cookie_get(hdr, name, out, cap) && (strlen(out) >= cap || !strstr(hdr, out)))
      __builtin_trap();
    if (auth_bearer_get(hdr, out, cap) && (strlen(out) >= cap || !out[0] || !strstr(hdr, out)))
      __builtin_trap();
  }
  if (auth_media_type_is(hdr, "application/json") && !strcasestr(hdr, "application/json"))
    __builtin_trap();
  static struct auth_hosts hs;
  if (!hs.n) {
    auth_hosts_add_loopback(&hs, "127.0.0.2", 8006);
    auth_hosts_add(&hs, "tablet.local", 443, true);
  }
  if (auth_hosts_match(&hs, hdr)) {
    bool one = false;
    for (unsigned i = 0; i < hs.n; i++)
      one |= strcasecmp(hs.h[i], hdr) == 0;
    if (!one)
      __builtin_trap();
  }
  char tok[AUTH_TOKEN_HEX + 1];
  memset(tok, 'a', AUTH_TOKEN_HEX);
  tok[AUTH_TOKEN_HEX] = 0;
  if (auth_secret_eq(hdr, tok) != (strcmp(hdr, tok) == 0))
    __builtin_trap();
  free(hdr);
  return 0;
}
