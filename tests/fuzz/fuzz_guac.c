/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness: Guacamole instructions as a browser (or a compromised RDP
 * worker) could send them, through bridge/rdp-ws/guac.c. Checks the parser's
 * own promises: a parsed instruction's elements re-encode to exactly the bytes
 * consumed, the whole-prefix scan agrees with instruction-by-instruction
 * parsing, the base64 decoder (blob payloads) round-trips what it accepts,
 * and nothing is read past the input (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct guac_instr *in;
  if (!in)
    in = malloc(sizeof(*in));
  const char *buf = (const char *)data;
  char err[160];
  size_t off = 0;
  struct guac_buf b = {0};
  while (off < size) {
    size_t used = 0;
    enum guac_status st = guac_parse(buf + off, size - off, in, &used, err, sizeof(err));
    if (st != GUAC_OK)
      break;
    if (used == 0 || used > size - off || used > GUAC_MAX_INSTRUCTION)
      __builtin_trap();
    /* Re-encoding gives back the same bytes: lengths counted the same way both sides. */
    b.len = 0;
    guac_put(&b, in->opcode, in->argc, in->argv);
    if (b.len != used || memcmp(b.data, buf + off, used) != 0)
      __builtin_trap();
    off += used;
  }
  /* Blob payloads: what the decoder accepts re-encodes to the same text. */
  unsigned char *raw = malloc(size / 4 * 3 + 3);
  char *text = malloc(size + 8);
  size_t n = guac_base64_decode(buf, size, raw);
  if (n != (size_t)-1 && (guac_base64(raw, n, text) != size || memcmp(text, buf, size) != 0))
    __builtin_trap();
  free(raw);
  free(text);
  long whole = guac_whole_prefix(buf, size, GUAC_MAX_INSTRUCTION, err, sizeof(err));
  if (whole >= 0 && (size_t)whole != off)
    __builtin_trap();
  guac_buf_free(&b);
  return 0;
}
