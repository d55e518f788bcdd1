/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dl_seg: see dl_seg.h. Pure functions. */
#include "dl_seg.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void dl_segs_clear(struct dl_segs *s) {
  s->n = 0;
}

void dl_segs_free(struct dl_segs *s) {
  free(s->v);
  memset(s, 0, sizeof(*s));
}

static void insert_at(struct dl_segs *s, size_t i, struct dl_seg g) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
  }
  memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
  s->v[i] = g;
  s->n++;
}

void dl_segs_add(struct dl_segs *s, uint64_t start, uint64_t pos, uint64_t end) {
  size_t i = s->n;
  while (i > 0 && s->v[i - 1].start > start)
    i--;
  insert_at(s, i, (struct dl_seg){start, pos, end, -1});
}

void dl_segs_plan(struct dl_segs *s, uint64_t total, unsigned n, uint64_t min_size) {
  dl_segs_clear(s);
  if (n < 1)
    n = 1;
  if (min_size < 1)
    min_size = 1;
  if (total / n < min_size)
    n = (unsigned)(total / min_size);
  if (n < 1)
    n = 1;
  uint64_t step = total / n;
  if (n > 1) /* keep cut points aligned when that leaves the pieces non-empty */
    step = step >= DL_SEG_ALIGN ? step - step % DL_SEG_ALIGN : step;
  for (unsigned i = 0; i < n; i++) {
    uint64_t a = i * step, b = i + 1 == n ? total : (i + 1) * step;
    dl_segs_add(s, a, a, b);
  }
}

bool dl_segs_valid(const struct dl_segs *s, uint64_t total) {
  if (s->n == 0)
    return false;
  uint64_t at = 0;
  for (size_t i = 0; i < s->n; i++) {
    const struct dl_seg *g = &s->v[i];
    if (g->start != at || g->pos < g->start || g->pos > g->end)
      return false;
    at = g->end;
  }
  return at == total;
}

int dl_segs_find(const struct dl_segs *s, uint64_t start) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].start == start)
      return (int)i;
  return -1;
}

void dl_segs_release(struct dl_segs *s, int owner) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].owner == owner)
      s->v[i].owner = -1;
}

int dl_segs_take(struct dl_segs *s, int owner, uint64_t chunk, uint64_t min_split) {
  for (size_t i = 0; i < s->n; i++) {
    struct dl_seg *g = &s->v[i];
    if (g->owner >= 0 || g->pos >= g->end)
      continue;
    uint64_t left = g->end - g->pos;
    if (chunk && left > chunk + chunk / 2) {
      uint64_t cut = g->pos + chunk;
      cut += (DL_SEG_ALIGN - cut % DL_SEG_ALIGN) % DL_SEG_ALIGN;
      if (cut < g->end) {
        uint64_t old_end = g->end;
        g->end = cut;
        insert_at(s, i + 1, (struct dl_seg){cut, cut, old_end, -1});
        g = &s->v[i]; /* insert_at may have moved the table */
      }
    }
    g->owner = owner;
    return (int)i;
  }
  int best = -1;
  uint64_t best_left = 0;
  for (size_t i = 0; i < s->n; i++) {
    uint64_t left = s->v[i].end - s->v[i].pos;
    if (s->v[i].owner >= 0 && left > best_left) {
      best = (int)i;
      best_left = left;
    }
  }
  if (best < 0 || best_left < 2 * min_split || best_left < 2 * DL_SEG_ALIGN)
    return -1;
  struct dl_seg *g = &s->v[best];
  uint64_t mid = g->pos + best_left / 2;
  mid -= mid % DL_SEG_ALIGN;
  if (mid <= g->pos)
    mid += DL_SEG_ALIGN;
  if (mid >= g->end)
    return -1;
  uint64_t old_end = g->end;
  g->end = mid;
  insert_at(s, (size_t)best + 1, (struct dl_seg){mid, mid, old_end, owner});
  return best + 1;
}

uint64_t dl_segs_done(const struct dl_segs *s) {
  uint64_t d = 0;
  for (size_t i = 0; i < s->n; i++)
    d += s->v[i].pos - s->v[i].start;
  return d;
}

uint64_t dl_segs_prefix(const struct dl_segs *s) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].pos < s->v[i].end)
      return s->v[i].pos;
  return s->n ? s->v[s->n - 1].end : 0;
}

bool dl_segs_complete(const struct dl_segs *s) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].pos < s->v[i].end)
      return false;
  return s->n > 0;
}

void dl_segs_compact(struct dl_segs *s) {
  size_t o = 0;
  for (size_t i = 0; i < s->n; i++) {
    struct dl_seg g = s->v[i];
    if (o > 0) {
      struct dl_seg *p = &s->v[o - 1];
      if (p->pos == p->end && g.pos == g.end && p->owner < 0 && g.owner < 0) {
        p->end = p->pos = g.end;
        continue;
      }
    }
    s->v[o++] = g;
  }
  s->n = o;
}
