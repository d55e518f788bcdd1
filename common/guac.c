/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guac: see guac.h. Pure; any thread. */
#include "guac.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "utf8.h"

#define MAX_LEN_DIGITS 9

static enum guac_status fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum guac_status fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return GUAC_ERROR;
}

/* Byte length of the UTF-8 sequence at S (AVAIL bytes there), 0 if invalid or NUL, -1 if it
 * is a valid but truncated prefix (utf8.h has the rules). */
static int utf8_seq(const unsigned char *s, size_t avail) {
  if (s[0] == 0)
    return 0;
  size_t n = utf8_decode(s, avail, NULL);
  if (n)
    return (int)n;
  return utf8_partial(s, avail) ? -1 : 0;
}

size_t guac_utf8_chars(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t chars = 0;
  for (size_t i = 0; i < len;) {
    int n = utf8_seq(p + i, len - i);
    if (n <= 0)
      return (size_t)-1;
    i += (size_t)n;
    chars++;
  }
  return chars;
}

/* Walk one instruction. With OUT, also copy its elements. */
static enum guac_status walk(const char *buf, size_t len, size_t max, struct guac_instr *out, size_t *used,
                             char *err, size_t errlen) {
  const unsigned char *p = (const unsigned char *)buf;
  size_t i = 0, nel = 0, so = 0;
  if (max > GUAC_MAX_INSTRUCTION)
    max = GUAC_MAX_INSTRUCTION;
  for (;;) {
    /* LEN: 1..9 digits, then '.' */
    size_t digits = 0, chars = 0;
    for (;;) {
      if (i >= len)
        return i >= max ? fail(err, errlen, "instruction longer than %zu bytes", max) : GUAC_NEED_MORE;
      if (p[i] >= '0' && p[i] <= '9') {
        if (digits == 1 && chars == 0) /* canonical form only: no leading zeros */
          return fail(err, errlen, "element %zu: length has a leading zero", nel);
        if (++digits > MAX_LEN_DIGITS)
          return fail(err, errlen, "element %zu: length has more than %d digits", nel, MAX_LEN_DIGITS);
        chars = chars * 10 + (size_t)(p[i] - '0');
        i++;
        continue;
      }
      if (p[i] == '.' && digits > 0) {
        i++;
        break;
      }
      return fail(err, errlen, "element %zu: expected a decimal length and '.', got byte 0x%02x", nel, p[i]);
    }
    if (nel >= GUAC_MAX_ELEMENTS)
      return fail(err, errlen, "more than %d elements", GUAC_MAX_ELEMENTS);
    /* A value of CHARS code points takes at least CHARS bytes: reject early what cannot fit. */
    if (chars > max || i + chars + 1 > max)
      return fail(err, errlen, "element %zu: %zu characters do not fit in %zu bytes", nel, chars, max);
    size_t start = i;
    for (size_t c = 0; c < chars; c++) {
      if (i >= len)
        return i >= max ? fail(err, errlen, "instruction longer than %zu bytes", max) : GUAC_NEED_MORE;
      int n = utf8_seq(p + i, len - i);
      if (n == 0)
        return fail(err, errlen, "element %zu: invalid UTF-8 at byte %zu", nel, i);
      if (n < 0)
        return len >= max ? fail(err, errlen, "instruction longer than %zu bytes", max) : GUAC_NEED_MORE;
      i += (size_t)n;
      if (i >= max)
        return fail(err, errlen, "instruction longer than %zu bytes", max);
    }
    if (i >= len)
      return i >= max ? fail(err, errlen, "instruction longer than %zu bytes", max) : GUAC_NEED_MORE;
    unsigned char term = p[i];
    if (term != ',' && term != ';')
      return fail(err, errlen, "element %zu: %zu characters are followed by byte 0x%02x, not ',' or ';'", nel,
                  chars, term);
    if (out) {
      size_t vl = i - start;
      memcpy(out->store + so, buf + start, vl);
      out->store[so + vl] = 0;
      if (nel == 0)
        out->opcode = out->store + so;
      else {
        out->argv[nel - 1] = out->store + so;
        out->argl[nel - 1] = vl;
      }
      so += vl + 1;
    }
    nel++;
    i++;
    if (term == ';') {
      if (out)
        out->argc = nel - 1;
      *used = i;
      return GUAC_OK;
    }
  }
}

enum guac_status guac_scan(const char *buf, size_t len, size_t max, size_t *used, char *err, size_t errlen) {
  return walk(buf, len, max, NULL, used, err, errlen);
}

enum guac_status guac_parse(const char *buf, size_t len, struct guac_instr *out, size_t *used, char *err,
                            size_t errlen) {
  return walk(buf, len, GUAC_MAX_INSTRUCTION, out, used, err, errlen);
}

long guac_whole_prefix(const char *buf, size_t len, size_t max, char *err, size_t errlen) {
  size_t off = 0;
  while (off < len) {
    size_t used;
    enum guac_status st = guac_scan(buf + off, len - off, max, &used, err, errlen);
    if (st == GUAC_ERROR)
      return -1;
    if (st == GUAC_NEED_MORE)
      break;
    off += used;
  }
  return (long)off;
}

/* ---- encoder ---- */

void guac_buf_free(struct guac_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void guac_buf_reserve(struct guac_buf *b, size_t more) {
  if (b->cap - b->len >= more)
    return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap - b->len < more)
    cap *= 2;
  b->data = xrealloc(b->data, cap);
  b->cap = cap;
}

void guac_buf_consume(struct guac_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

static void put_element(struct guac_buf *b, const char *s, char term) {
  size_t bl = strlen(s);
  size_t chars = guac_utf8_chars(s, bl);
  if (chars == (size_t)-1) {
    s = "";
    bl = chars = 0;
  }
  guac_buf_reserve(b, bl + 24);
  b->len += (size_t)sprintf(b->data + b->len, "%zu.", chars);
  memcpy(b->data + b->len, s, bl);
  b->len += bl;
  b->data[b->len++] = term;
}

void guac_put(struct guac_buf *b, const char *opcode, size_t argc, const char *const *argv) {
  put_element(b, opcode, argc ? ',' : ';');
  for (size_t i = 0; i < argc; i++)
    put_element(b, argv[i] ? argv[i] : "", i + 1 < argc ? ',' : ';');
}

void guac_putl(struct guac_buf *b, const char *opcode, ...) {
  const char *argv[GUAC_MAX_ELEMENTS];
  size_t argc = 0;
  va_list ap;
  va_start(ap, opcode);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && argc < GUAC_MAX_ELEMENTS - 1)
    argv[argc++] = a;
  va_end(ap);
  guac_put(b, opcode, argc, argv);
}

size_t guac_base64(const void *data, size_t len, char *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *p = data;
  size_t o = 0, i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = tab[(v >> 6) & 63];
    out[o++] = tab[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = 0;
  return o;
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

size_t guac_base64_decode(const char *in, size_t len, unsigned char *out) {
  if (len % 4)
    return (size_t)-1;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    int v[4];
    size_t pad = 0;
    for (size_t k = 0; k < 4; k++) {
      unsigned char c = (unsigned char)in[i + k];
      if (c == '=' && i + 4 == len && k >= 2) {
        v[k] = 0;
        pad++;
        continue;
      }
      if (pad || (v[k] = b64_value(c)) < 0)
        return (size_t)-1; /* a character after '=', or not base64 */
    }
    /* Canonical padding only: the bits below the last whole byte ("xx==": the low 4 bits of the
     * 2nd character, "xxx=": the low 2 of the 3rd) must be zero, else two texts decode alike. */
    if ((pad == 2 && (v[1] & 15)) || (pad == 1 && (v[2] & 3)))
      return (size_t)-1;
    uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    out[o++] = (unsigned char)(x >> 16);
    if (pad < 2)
      out[o++] = (unsigned char)(x >> 8);
    if (pad < 1)
      out[o++] = (unsigned char)x;
  }
  return o;
}

void guac_put_blob(struct guac_buf *b, unsigned stream, const void *data, size_t len) {
  size_t b64 = 4 * ((len + 2) / 3);
  guac_buf_reserve(b, b64 + 64);
  char sid[16];
  int sl = snprintf(sid, sizeof(sid), "%u", stream);
  b->len += (size_t)sprintf(b->data + b->len, "4.blob,%d.%s,%zu.", sl, sid, b64);
  b->len += guac_base64(data, len, b->data + b->len);
  b->data[b->len++] = ';';
}

bool guac_arg_int(const char *s, long lo, long hi, long *out) {
  if (!s || !*s)
    return false;
  const char *p = s;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    p++;
  }
  if (!*p || strlen(p) > 10)
    return false;
  long v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
    v = v * 10 + (*p - '0');
  }
  if (neg)
    v = -v;
  if (v < lo || v > hi)
    return false;
  *out = v;
  return true;
}
