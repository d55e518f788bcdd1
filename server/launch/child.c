/* SPDX-License-Identifier: GPL-2.0-or-later */
/* child: see child.h. The parameter string, both ways. */
#include "child.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool needs_escape(unsigned char c) {
  return c <= ' ' || c == '%' || c == 0x7f;
}

static size_t escaped_len(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    n += needs_escape(*p) ? 3 : 1;
  return n;
}

static char *put_escaped(char *o, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (needs_escape(*p)) {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    } else {
      *o++ = (char)*p;
    }
  }
  return o;
}

char *child_params_encode(const char *target, unsigned flags, char *const argv[]) {
  char fl[16];
  snprintf(fl, sizeof(fl), "%u", flags);
  size_t n = strlen(CHILD_PARAMS_MAGIC) + 1 + strlen(fl) + 1 + escaped_len(target);
  for (size_t i = 0; argv[i]; i++)
    n += 1 + (argv[i][0] ? escaped_len(argv[i]) : 2); /* "" travels as "%%" */
  char *out = malloc(n + 1), *o = out;
  if (!out)
    return NULL;
  o += sprintf(o, "%s %s ", CHILD_PARAMS_MAGIC, fl);
  o = put_escaped(o, target);
  for (size_t i = 0; argv[i]; i++) {
    *o++ = ' ';
    if (!argv[i][0]) { /* an empty argument: a token of its own that decodes to "" */
      memcpy(o, "%%", 2);
      o += 2;
      continue;
    }
    o = put_escaped(o, argv[i]);
  }
  *o = 0;
  return out;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Decode the token S in place; -1 when malformed. */
static int unescape(char *s) {
  if (strcmp(s, "%%") == 0) {
    s[0] = 0;
    return 0;
  }
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p != '%') {
      *o++ = *p;
      continue;
    }
    int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
    if (lo < 0 || (hi == 0 && lo == 0))
      return -1;
    *o++ = (char)(hi * 16 + lo);
    p += 2;
  }
  *o = 0;
  return 0;
}

int child_params_decode(char *params, char **target, unsigned *flags, int *argc, char ***argv) {
  size_t cap = 1;
  for (const char *p = params; *p; p++)
    cap += *p == ' ';
  char **tok = calloc(cap + 1, sizeof(char *));
  if (!tok)
    return -1;
  size_t n = 0;
  for (char *p = params;;) {
    char *sp = strchr(p, ' ');
    if (sp)
      *sp = 0;
    tok[n++] = p;
    if (!sp)
      break;
    p = sp + 1;
  }
  char *end;
  if (n < 3 || strcmp(tok[0], CHILD_PARAMS_MAGIC) != 0 || !tok[1][0]) {
    free(tok);
    return -1;
  }
  unsigned long fl = strtoul(tok[1], &end, 10);
  if (*end) {
    free(tok);
    return -1;
  }
  for (size_t i = 2; i < n; i++)
    if (unescape(tok[i]) < 0) {
      free(tok);
      return -1;
    }
  *flags = (unsigned)fl;
  *target = tok[2];
  memmove(tok, tok + 3, (n - 3) * sizeof(char *));
  tok[n - 3] = NULL;
  *argc = (int)(n - 3);
  *argv = tok;
  return 0;
}
