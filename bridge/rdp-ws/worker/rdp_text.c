/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rdp_text: see rdp_text.h. */
#include "rdp_text.h"

#include "alloc.h"
#include "utf8.h"

#define REPLACEMENT 0xfffdu

/* One code point from S[*I..LEN), advancing *I; U+FFFD (one byte consumed) if invalid. */
static uint32_t next_utf8(const unsigned char *s, size_t len, size_t *i) {
  uint32_t cp;
  size_t n = utf8_decode(s + *i, len - *i, &cp);
  *i += n ? n : 1;
  return n ? cp : REPLACEMENT;
}

size_t rdp_text_to_utf16(const char *str, size_t len, size_t max, uint8_t **out) {
  const unsigned char *s = (const unsigned char *)str;
  uint8_t *o = xmalloc(max);
  size_t n = 0, i = 0;
  uint32_t prev = 0;
  while (i < len) {
    uint32_t cp = next_utf8(s, len, &i);
    if (cp == 0)
      break;
    uint16_t u[3];
    size_t k = 0;
    if (cp == '\n' && prev != '\r')
      u[k++] = '\r';
    if (cp >= 0x10000) {
      u[k++] = (uint16_t)(0xd800 + ((cp - 0x10000) >> 10));
      u[k++] = (uint16_t)(0xdc00 + ((cp - 0x10000) & 0x3ff));
    } else {
      u[k++] = (uint16_t)cp;
    }
    if (n + 2 * k + 2 > max)
      break;
    for (size_t j = 0; j < k; j++) {
      o[n++] = (uint8_t)(u[j] & 0xff);
      o[n++] = (uint8_t)(u[j] >> 8);
    }
    prev = cp;
  }
  o[n++] = 0;
  o[n++] = 0;
  *out = o;
  return n;
}

size_t rdp_text_from_utf16(const uint8_t *p, size_t len, size_t max, char **out) {
  char *o = xmalloc(max + 1);
  size_t n = 0, units = len / 2;
  for (size_t i = 0; i < units; i++) {
    uint32_t cp = (uint32_t)p[2 * i] | ((uint32_t)p[2 * i + 1] << 8);
    if (cp == 0)
      break;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < units) {
      uint32_t lo = (uint32_t)p[2 * i + 2] | ((uint32_t)p[2 * i + 3] << 8);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else {
        cp = REPLACEMENT;
      }
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      cp = REPLACEMENT;
    }
    if (cp == '\r' && i + 1 < units && p[2 * i + 2] == '\n' && p[2 * i + 3] == 0)
      continue; /* CRLF -> LF: the LF comes next */
    char b[4];
    size_t k;
    if (cp < 0x80) {
      b[0] = (char)cp, k = 1;
    } else if (cp < 0x800) {
      b[0] = (char)(0xc0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3f)), k = 2;
    } else if (cp < 0x10000) {
      b[0] = (char)(0xe0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
      b[2] = (char)(0x80 | (cp & 0x3f)), k = 3;
    } else {
      b[0] = (char)(0xf0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
      b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f)), k = 4;
    }
    if (n + k > max)
      break;
    for (size_t j = 0; j < k; j++)
      o[n++] = b[j];
  }
  o[n] = 0;
  *out = o;
  return n;
}
