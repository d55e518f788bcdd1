/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: ticket strings as they arrive in a WebSocket URL. None may ever redeem. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct ticket_store *s;
  if (!s)
    s = ticket_store_new();
  char out[TICKET_LEN + 1], vm[65];
  ticket_issue(s, "0123456789abcdef", "vnc", 1000, out);
  char *t = malloc(size + 1);
  memcpy(t, data, size);
  t[size] = 0;
  if (ticket_redeem(s, t, "vnc", 1000, vm) == TICKET_OK && strcmp(t, out) != 0)
    __builtin_trap(); /* only the issued string may redeem */
  free(t);
  return 0;
}
