/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness: the first bytes of a disk image from a mirror, an upload or a guest's disk
 * (server/core/img.c). Checks: no read past the input (ASan); a qcow2 header with a backing-file
 * offset is never accepted; a file named .iso is accepted only as raw.
 */
#include <stdint.h>
#include <string.h>

#include "img.h"

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 512)
    size = 512;
  const char *fmt = NULL;
  char err[256];
  enum img_result r = img_check_bytes(data, size, &fmt, err, sizeof(err));
  if (!fmt)
    __builtin_trap();
  if (r == IMG_OK && size >= 16 && memcmp(data, "QFI\xfb", 4) == 0 && be64(data + 8) != 0)
    __builtin_trap();
  if (r == IMG_OK && img_check_claim("x.iso", fmt, err, sizeof(err)) == IMG_OK && strcmp(fmt, "raw") != 0)
    __builtin_trap();
  if (strcmp(img_probe_bytes(data, size), fmt) != 0)
    __builtin_trap();
  return 0;
}
