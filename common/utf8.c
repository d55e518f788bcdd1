/* SPDX-License-Identifier: GPL-2.0-or-later */
/* utf8: see utf8.h. Pure; any thread. */
#include "utf8.h"

#include <string.h>

/* The one decoder. The second byte's bounds carry the rules that depend on the lead byte
 * (E0: no overlong, ED: no surrogate, F0: no overlong, F4: not above U+10FFFF), so that a
 * prefix is refused as soon as a byte of it is wrong. *CUT: valid so far but LEN ended it. */
static size_t decode(const unsigned char *s, size_t len, uint32_t *cp, bool *cut) {
  *cut = false;
  if (len == 0)
    return 0;
  unsigned char c = s[0];
  if (c < 0x80) {
    if (cp)
      *cp = c;
    return 1;
  }
  size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n == 0)
    return 0; /* a continuation byte, C0/C1 (always overlong) or F5..FF (above U+10FFFF) */
  unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80; /* overlong */
  unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf; /* surrogates, above U+10FFFF */
  uint32_t v = c & (0x7fu >> n);
  for (size_t i = 1; i < n; i++) {
    if (i >= len) {
      *cut = true;
      return 0;
    }
    if (s[i] < lo || s[i] > hi)
      return 0;
    v = (v << 6) | (s[i] & 0x3f);
    lo = 0x80, hi = 0xbf;
  }
  if (cp)
    *cp = v;
  return n;
}

size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
  bool cut;
  return decode(s, len, cp, &cut);
}

bool utf8_partial(const unsigned char *s, size_t len) {
  bool cut;
  return decode(s, len, NULL, &cut) == 0 && cut;
}

bool utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  while (len > 0) {
    size_t k = utf8_decode(p, len, NULL);
    if (!k)
      return false;
    p += k;
    len -= k;
  }
  return true;
}

void utf8_sanitize(char *s) {
  unsigned char *p = (unsigned char *)s;
  size_t len = strlen(s);
  while (len > 0) {
    size_t k = utf8_decode(p, len, NULL);
    if (!k || (k == 1 && *p < 0x20 && *p != '\t' && *p != '\n') || (k == 1 && *p == 0x7f)) {
      *p = '?';
      k = 1;
    }
    p += k;
    len -= k;
  }
}
