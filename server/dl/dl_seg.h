/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_seg: the segment table of one download, as pure functions (no I/O) so
 * that splitting and work stealing are unit-tested (tests/unit/test_dl_seg.c).
 *
 * The segments always partition [0, total): sorted by start, each one's end is
 * the next one's start. Segment i has its bytes [start, pos) downloaded and
 * [pos, end) still to fetch; OWNER is the connection working on it (-1: none).
 * Connections take work in file order, one CHUNK at a time (cut off the front
 * of the first unowned segment), so the downloaded region grows as a front a
 * few chunks wide and the in-order hash (dl_verify.c) trails it closely. When nothing
 * is left unowned, a split cuts the remaining part of the owned segment with
 * the most bytes left in two and hands out the upper half, so a connection
 * that finished early takes over half of the slowest one's work (work
 * stealing): a slow or dead connection never stalls the tail.
 */
#ifndef QHM_DL_SEG_H
#define QHM_DL_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DL_SEG_ALIGN (64 * 1024) /* split points are multiples of this */

struct dl_seg {
  uint64_t start, pos, end;
  int owner;
};

struct dl_segs {
  struct dl_seg *v;
  size_t n, cap;
};

void dl_segs_clear(struct dl_segs *s);
void dl_segs_free(struct dl_segs *s);
/* Append a segment as read back from the store; keeps the table sorted by start. */
void dl_segs_add(struct dl_segs *s, uint64_t start, uint64_t pos, uint64_t end);
/* N segments of about equal size covering [0, TOTAL), none smaller than MIN_SIZE
 * (so fewer than N for small files); at least one. */
void dl_segs_plan(struct dl_segs *s, uint64_t total, unsigned n, uint64_t min_size);
/* True when the table partitions [0, TOTAL) with start <= pos <= end everywhere. */
bool dl_segs_valid(const struct dl_segs *s, uint64_t total);

/* A segment for a connection that has none: the first unowned unfinished one (cut to
 * about CHUNK bytes left when it has more than 1.5 * CHUNK left; CHUNK 0: whole), else
 * a split of the owned segment with the most bytes left when it has at least
 * 2 * MIN_SPLIT left (the new half starts on a DL_SEG_ALIGN boundary). Returns the index
 * (owner is set to OWNER) or -1 when there is nothing worth taking. Indices of other
 * segments may shift: callers keep segment *starts*, not indices, across calls. */
int dl_segs_take(struct dl_segs *s, int owner, uint64_t chunk, uint64_t min_split);
/* Every segment owned by OWNER becomes unowned. */
void dl_segs_release(struct dl_segs *s, int owner);
int dl_segs_find(const struct dl_segs *s, uint64_t start); /* index by start, or -1 */

uint64_t dl_segs_done(const struct dl_segs *s);
/* The end of the downloaded prefix: every byte of [0, result) is downloaded. */
uint64_t dl_segs_prefix(const struct dl_segs *s);
bool dl_segs_complete(const struct dl_segs *s);
/* Merge neighbouring finished segments (keeps the stored table short). */
void dl_segs_compact(struct dl_segs *s);

#endif
