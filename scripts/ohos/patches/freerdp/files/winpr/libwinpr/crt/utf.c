/* SPDX-License-Identifier: GPL-2.0-or-later */
/* utf.c: see utf.h. */
#include <stdint.h>

#include "utf.h"

#define REPLACEMENT 0xFFFDu

/* Room for n more units of `unit` bytes at t before end, or no limit (end 0). */
static int room(uintptr_t t, uintptr_t end, size_t unit, size_t n) {
  return end == 0 || t + n * unit <= end;
}

/* Decode one UTF-8 sequence at s (< e). Returns its length, 0 when it is cut off by e, or -1
 * when malformed (overlong, a surrogate, over U+10FFFF, a bad continuation byte). */
static int utf8_decode(const BYTE *s, const BYTE *e, uint32_t *cp) {
  BYTE b = s[0];
  int len;
  uint32_t c, min;
  if (b < 0x80) {
    *cp = b;
    return 1;
  } else if ((b & 0xE0) == 0xC0) {
    len = 2, c = b & 0x1F, min = 0x80;
  } else if ((b & 0xF0) == 0xE0) {
    len = 3, c = b & 0x0F, min = 0x800;
  } else if ((b & 0xF8) == 0xF0) {
    len = 4, c = b & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  for (int i = 1; i < len; i++) {
    if (s + i >= e)
      return 0;
    if ((s[i] & 0xC0) != 0x80)
      return -1;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    return -1;
  *cp = c;
  return len;
}

ConversionResult ConvertUTF8toUTF16(const BYTE **sourceStart, const BYTE *sourceEnd, WCHAR **targetStart,
                                    WCHAR *targetEnd, ConversionFlags flags) {
  const BYTE *s = *sourceStart;
  uintptr_t t = (uintptr_t)*targetStart, end = (uintptr_t)targetEnd;
  int write = t != 0;
  ConversionResult r = conversionOK;
  while (s < sourceEnd) {
    uint32_t cp;
    int n = utf8_decode(s, sourceEnd, &cp);
    if (n == 0 && flags == strictConversion) {
      r = sourceExhausted;
      break;
    }
    if (n <= 0) {
      if (flags == strictConversion) {
        r = sourceIllegal;
        break;
      }
      cp = REPLACEMENT;
      n = 1;
    }
    size_t units = cp >= 0x10000 ? 2 : 1;
    if (!room(t, end, sizeof(WCHAR), units)) {
      r = targetExhausted;
      break;
    }
    if (write) {
      WCHAR *w = (WCHAR *)t;
      if (units == 2) {
        w[0] = (WCHAR)(0xD800 + ((cp - 0x10000) >> 10));
        w[1] = (WCHAR)(0xDC00 + ((cp - 0x10000) & 0x3FF));
      } else {
        w[0] = (WCHAR)cp;
      }
    }
    t += units * sizeof(WCHAR);
    s += n;
  }
  *sourceStart = s;
  *targetStart = (WCHAR *)t;
  return r;
}

ConversionResult ConvertUTF16toUTF8(const WCHAR **sourceStart, const WCHAR *sourceEnd, BYTE **targetStart,
                                    BYTE *targetEnd, ConversionFlags flags) {
  const WCHAR *s = *sourceStart;
  uintptr_t t = (uintptr_t)*targetStart, end = (uintptr_t)targetEnd;
  int write = t != 0;
  ConversionResult r = conversionOK;
  while (s < sourceEnd) {
    uint32_t cp = s[0];
    int n = 1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (s + 1 >= sourceEnd) {
        if (flags == strictConversion) {
          r = sourceExhausted;
          break;
        }
        cp = REPLACEMENT;
      } else if (s[1] >= 0xDC00 && s[1] <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (s[1] - 0xDC00u);
        n = 2;
      } else if (flags == strictConversion) {
        r = sourceIllegal;
        break;
      } else {
        cp = REPLACEMENT;
      }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      if (flags == strictConversion) {
        r = sourceIllegal;
        break;
      }
      cp = REPLACEMENT;
    }
    size_t bytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (!room(t, end, 1, bytes)) {
      r = targetExhausted;
      break;
    }
    if (write) {
      BYTE *o = (BYTE *)t;
      if (bytes == 1) {
        o[0] = (BYTE)cp;
      } else {
        static const BYTE lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
        for (size_t i = bytes - 1; i > 0; i--) {
          o[i] = (BYTE)(0x80 | (cp & 0x3F));
          cp >>= 6;
        }
        o[0] = (BYTE)(lead[bytes] | cp);
      }
    }
    t += bytes;
    s += n;
  }
  *sourceStart = s;
  *targetStart = (BYTE *)t;
  return r;
}
