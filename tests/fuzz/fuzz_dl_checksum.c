/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: checksum lists as a mirror may send them (SHA256SUMS, CHECKSUM, .sha256).
 * The first byte picks the algorithm and whether a file name is looked up; a hit must be
 * exactly LEN lowercase hex digits that occur (in any case) in the input. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dl_hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t len = data[0] & 1 ? 128 : 64;
  const char *file = data[0] & 2 ? "debian-12.8.0-amd64-netinst.iso" : (data[0] & 4 ? "" : NULL);
  char *text = malloc(size - 1 + 1);
  memcpy(text, data + 1, size - 1);
  text[size - 1] = 0;
  char out[DL_HASH_MAX_HEX + 1];
  memset(out, 'X', sizeof(out));
  if (dl_checksum_find(text, size - 1, file, len, out) == 0) {
    if (strlen(out) != len)
      __builtin_trap();
    for (size_t i = 0; i < len; i++)
      if (!isxdigit((unsigned char)out[i]) || isupper((unsigned char)out[i]))
        __builtin_trap();
    int found = 0;
    for (size_t i = 0; i + len <= size - 1 && !found; i++)
      found = strncasecmp(text + i, out, len) == 0;
    if (!found)
      __builtin_trap();
  }
  free(text);
  return 0;
}
