/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tar: the 512-byte header of a POSIX ustar archive (IEEE Std 1003.1, "pax" / ustar Interchange
 * Format): read one (an OVA, an export of this daemon's) and write one (exports). Regular files
 * only; names up to 100 bytes (+155 of prefix when read). Pure; fuzzed by tests/fuzz/fuzz_import.c.
 */
#ifndef QHM_TAR_H
#define QHM_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAR_BLOCK 512

enum tar_kind { TAR_FILE, TAR_OTHER, TAR_END };

struct tar_entry {
  char name[256 + 2];
  uint64_t size;
  enum tar_kind kind;
};

/* Parse the header H: 0 (E filled; TAR_END for an all-zero block), or -1 with ERR (a bad
 * checksum, not ustar, a size that is not octal). */
int tar_parse_header(const unsigned char h[TAR_BLOCK], struct tar_entry *e, char *err, size_t errlen);
/* A ustar header for a regular file NAME (at most 99 bytes) of SIZE bytes, mode 0644, MTIME. */
int tar_make_header(unsigned char h[TAR_BLOCK], const char *name, uint64_t size, int64_t mtime);
/* Bytes SIZE takes in the archive, padding included. */
static inline uint64_t tar_padded(uint64_t size) {
  return (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}
/* A member name safe to use as a file name: a plain relative name, no "..", no leading "/". */
bool tar_name_safe(const char *name);

#endif
