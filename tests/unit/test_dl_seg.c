/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dl_seg: chunked taking in file order, work stealing, prefix, compaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dl_seg.h"

#define MiB (1024u * 1024u)

static void test_take_in_order_by_chunks(void **state) {
  struct dl_segs s = {0};
  dl_segs_add(&s, 0, 0, 10 * MiB);
  int a = dl_segs_take(&s, 0, 2 * MiB, MiB);
  assert_int_equal(a, 0);
  assert_int_equal(s.v[0].end, 2 * MiB);
  int b = dl_segs_take(&s, 1, 2 * MiB, MiB);
  assert_int_equal(s.v[b].start, 2 * MiB);
  assert_int_equal(s.v[b].end, 4 * MiB);
  assert_true(dl_segs_valid(&s, 10 * MiB));
  /* The last piece is not cut into a tiny tail: 2.x MiB left → taken whole. */
  s.v[0].pos = s.v[0].end;
  s.v[0].owner = -1;
  dl_segs_take(&s, 2, 2 * MiB, MiB);
  dl_segs_take(&s, 3, 2 * MiB, MiB);
  int e = dl_segs_take(&s, 4, 2 * MiB, MiB);
  assert_int_equal(s.v[e].end, 10 * MiB);
  assert_true(dl_segs_valid(&s, 10 * MiB));
  dl_segs_free(&s);
}

static void test_steal_splits_the_largest(void **state) {
  struct dl_segs s = {0};
  dl_segs_add(&s, 0, 0, 4 * MiB);
  dl_segs_add(&s, 4 * MiB, 4 * MiB, 64 * MiB);
  s.v[0].owner = 0;
  s.v[1].owner = 1;
  s.v[1].pos = 8 * MiB; /* 56 MiB left: the slow one */
  int i = dl_segs_take(&s, 2, 0, MiB);
  assert_true(i >= 0);
  assert_int_equal(s.v[i].owner, 2);
  assert_int_equal(s.v[i].start % DL_SEG_ALIGN, 0);
  assert_int_equal(s.v[i].start, 36 * MiB);
  assert_int_equal(s.v[i - 1].end, 36 * MiB);
  assert_int_equal(s.v[i].end, 64 * MiB);
  assert_true(dl_segs_valid(&s, 64 * MiB));
  /* Too little left anywhere: nothing to take. */
  struct dl_segs t = {0};
  dl_segs_add(&t, 0, 0, MiB);
  t.v[0].owner = 0;
  assert_int_equal(dl_segs_take(&t, 1, 0, MiB), -1);
  dl_segs_free(&t);
  dl_segs_free(&s);
}

static void test_prefix_done_complete_compact(void **state) {
  struct dl_segs s = {0};
  dl_segs_add(&s, 2 * MiB, 3 * MiB, 4 * MiB); /* out of order: kept sorted */
  dl_segs_add(&s, 0, 2 * MiB, 2 * MiB);
  dl_segs_add(&s, 4 * MiB, 4 * MiB, 6 * MiB);
  assert_int_equal(s.v[0].start, 0);
  assert_true(dl_segs_valid(&s, 6 * MiB));
  assert_false(dl_segs_valid(&s, 7 * MiB));
  assert_int_equal(dl_segs_prefix(&s), 3 * MiB);
  assert_int_equal(dl_segs_done(&s), 3 * MiB);
  assert_false(dl_segs_complete(&s));
  s.v[1].pos = 4 * MiB;
  s.v[2].pos = 6 * MiB;
  assert_true(dl_segs_complete(&s));
  assert_int_equal(dl_segs_prefix(&s), 6 * MiB);
  dl_segs_compact(&s);
  assert_int_equal(s.n, 1);
  assert_true(dl_segs_valid(&s, 6 * MiB));
  dl_segs_release(&s, 5);
  dl_segs_free(&s);
}

static void test_invalid_tables(void **state) {
  struct dl_segs s = {0};
  assert_false(dl_segs_valid(&s, 0));
  dl_segs_add(&s, 0, 5, 4); /* pos beyond end */
  assert_false(dl_segs_valid(&s, 4));
  dl_segs_clear(&s);
  dl_segs_add(&s, 0, 0, 4);
  dl_segs_add(&s, 5, 5, 8); /* a hole */
  assert_false(dl_segs_valid(&s, 8));
  dl_segs_free(&s);
}

static void test_plan(void **state) {
  struct dl_segs s = {0};
  dl_segs_plan(&s, 100 * MiB, 8, MiB);
  assert_int_equal(s.n, 8);
  assert_true(dl_segs_valid(&s, 100 * MiB));
  dl_segs_plan(&s, 3 * MiB, 8, MiB);
  assert_int_equal(s.n, 3);
  dl_segs_plan(&s, 10, 8, MiB);
  assert_int_equal(s.n, 1);
  assert_true(dl_segs_valid(&s, 10));
  dl_segs_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_take_in_order_by_chunks),
                                     cmocka_unit_test(test_steal_splits_the_largest),
                                     cmocka_unit_test(test_prefix_done_complete_compact),
                                     cmocka_unit_test(test_invalid_tables), cmocka_unit_test(test_plan)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
