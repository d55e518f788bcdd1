/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tar: ustar headers (tar.h). Field offsets from POSIX.1-2008 "pax" (ustar Interchange Format):
 * name[100]@0 mode[8]@100 uid[8]@108 gid[8]@116 size[12]@124 mtime[12]@136 chksum[8]@148
 * typeflag@156 linkname[100]@157 magic[6]@257 ("ustar\0"; GNU writes "ustar  \0") version[2]@263
 * uname[32]@265 gname[32]@297 devmajor[8]@329 devminor[8]@337 prefix[155]@345. GNU's base-256
 * size (first byte 0x80) is read too: VirtualBox's OVAs over 8 GiB use it. Pure.
 */
#include "tar.h"

#include <stdio.h>
#include <string.h>

static uint64_t octal(const unsigned char *p, size_t n, bool *ok) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < n && p[i] == ' ')
    i++;
  bool any = false;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
    if (v >> 60) {
      *ok = false;
      return 0;
    }
    v = v * 8 + (uint64_t)(p[i] - '0');
    any = true;
  }
  for (; i < n; i++)
    if (p[i] != ' ' && p[i] != 0)
      *ok = false;
  if (!any)
    *ok = false;
  return v;
}

int tar_parse_header(const unsigned char h[TAR_BLOCK], struct tar_entry *e, char *err, size_t errlen) {
  memset(e, 0, sizeof(*e));
  bool zero = true;
  for (size_t i = 0; i < TAR_BLOCK; i++)
    zero &= h[i] == 0;
  if (zero) {
    e->kind = TAR_END;
    return 0;
  }
  if (memcmp(h + 257, "ustar", 5) != 0) {
    snprintf(err, errlen, "not a ustar header");
    return -1;
  }
  bool ok = true;
  uint64_t sum = octal(h + 148, 8, &ok), calc = 0;
  for (size_t i = 0; i < TAR_BLOCK; i++)
    calc += (i >= 148 && i < 156) ? ' ' : h[i];
  if (!ok || sum != calc) {
    snprintf(err, errlen, "a tar header with a bad checksum");
    return -1;
  }
  if (h[124] & 0x80) { /* GNU base-256 */
    uint64_t v = 0;
    for (size_t i = 125; i < 136; i++) {
      if (v >> 55) {
        snprintf(err, errlen, "a tar member too large");
        return -1;
      }
      v = v << 8 | h[i];
    }
    if (h[124] != 0x80 || (v >> 62)) {
      snprintf(err, errlen, "a tar member too large");
      return -1;
    }
    e->size = v;
  } else {
    e->size = octal(h + 124, 12, &ok);
    if (!ok) {
      snprintf(err, errlen, "a tar header whose size is not a number");
      return -1;
    }
  }
  char name[101], prefix[156];
  memcpy(name, h, 100);
  name[100] = 0;
  memcpy(prefix, h + 345, 155);
  prefix[155] = 0;
  if (prefix[0])
    snprintf(e->name, sizeof(e->name), "%s/%s", prefix, name);
  else
    snprintf(e->name, sizeof(e->name), "%s", name);
  e->kind = (h[156] == '0' || h[156] == 0) ? TAR_FILE : TAR_OTHER;
  return 0;
}

static void put_octal(unsigned char *p, size_t n, uint64_t v) {
  /* N-1 digits and a NUL */
  p[n - 1] = 0;
  for (size_t i = n - 1; i-- > 0;) {
    p[i] = (unsigned char)('0' + (v & 7));
    v >>= 3;
  }
}

int tar_make_header(unsigned char h[TAR_BLOCK], const char *name, uint64_t size, int64_t mtime) {
  memset(h, 0, TAR_BLOCK);
  size_t n = strlen(name);
  if (n == 0 || n > 99)
    return -1;
  memcpy(h, name, n);
  put_octal(h + 100, 8, 0644);
  put_octal(h + 108, 8, 0);
  put_octal(h + 116, 8, 0);
  if (size >= (1ull << 33)) { /* over 11 octal digits: GNU base-256, as GNU tar and VirtualBox write */
    h[124] = 0x80;
    for (int i = 0; i < 8; i++)
      h[135 - i] = (unsigned char)(size >> (8 * i));
  } else {
    put_octal(h + 124, 12, size);
  }
  put_octal(h + 136, 12, mtime < 0 ? 0 : (uint64_t)mtime);
  h[156] = '0';
  memcpy(h + 257, "ustar", 6); /* "ustar\0" */
  memcpy(h + 263, "00", 2);
  memcpy(h + 265, "root", 4);
  memcpy(h + 297, "root", 4);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < TAR_BLOCK; i++)
    sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
  return 0;
}

bool tar_name_safe(const char *name) {
  if (!*name || name[0] == '/' || strlen(name) > 255)
    return false;
  for (const char *p = name; *p;) {
    const char *s = strchr(p, '/');
    size_t n = s ? (size_t)(s - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return false;
    p += n + (s ? 1 : 0);
    if (s && !*p)
      return false;
  }
  for (const char *p = name; *p; p++)
    if ((unsigned char)*p < 0x20)
      return false;
  return true;
}
