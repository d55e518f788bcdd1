/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for common/utf8.c, the tree's one UTF-8 decoder: valid sequences of every length
 * (with their code points and the boundaries of each range), overlong forms, surrogates, code
 * points above U+10FFFF, bad lead and continuation bytes, sequences cut short (utf8_partial
 * tells those from invalid ones), and utf8_valid / utf8_sanitize built on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "utf8.h"

/* utf8_decode of the string literal S (its bytes without the final NUL). */
#define DECODE(s, cp) utf8_decode((const unsigned char *)(s), sizeof(s) - 1, (cp))
#define PARTIAL(s) utf8_partial((const unsigned char *)(s), sizeof(s) - 1)

static void test_valid(void **state) {
  static const struct {
    const char *s;
    size_t len;
    uint32_t cp;
  } ok[] = {
      {"\x00", 1, 0x0},
      {"A", 1, 'A'},
      {"\x7f", 1, 0x7f},
      {"\xc2\x80", 2, 0x80},
      {"\xc3\xa9", 2, 0xe9},
      {"\xdf\xbf", 2, 0x7ff},
      {"\xe0\xa0\x80", 3, 0x800},
      {"\xe2\x82\xac", 3, 0x20ac},
      {"\xed\x9f\xbf", 3, 0xd7ff},
      {"\xee\x80\x80", 3, 0xe000},
      {"\xef\xbf\xbd", 3, 0xfffd},
      {"\xef\xbf\xbf", 3, 0xffff},
      {"\xf0\x90\x80\x80", 4, 0x10000},
      {"\xf0\x9f\x98\x80", 4, 0x1f600},
      {"\xf4\x8f\xbf\xbf", 4, 0x10ffff},
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    uint32_t cp = 0xdeadbeef;
    assert_int_equal(utf8_decode((const unsigned char *)ok[i].s, ok[i].len, &cp), ok[i].len);
    assert_int_equal(cp, ok[i].cp);
    /* bytes after the sequence do not count */
    unsigned char more[8] = {0};
    memcpy(more, ok[i].s, ok[i].len);
    more[ok[i].len] = 0x80;
    assert_int_equal(utf8_decode(more, ok[i].len + 1, NULL), ok[i].len);
    assert_false(utf8_partial((const unsigned char *)ok[i].s, ok[i].len));
  }
}

static void test_overlong(void **state) {
  uint32_t cp = 0;
  assert_int_equal(DECODE("\xc0\x80", &cp), 0); /* U+0000 */
  assert_int_equal(DECODE("\xc0\xaf", &cp), 0); /* '/' */
  assert_int_equal(DECODE("\xc1\xbf", &cp), 0); /* U+007F */
  assert_int_equal(DECODE("\xe0\x80\x80", &cp), 0);
  assert_int_equal(DECODE("\xe0\x9f\xbf", &cp), 0); /* U+07FF */
  assert_int_equal(DECODE("\xf0\x80\x80\x80", &cp), 0);
  assert_int_equal(DECODE("\xf0\x8f\xbf\xbf", &cp), 0); /* U+FFFF */
  /* refused from the second byte on: not a prefix that more bytes could make valid */
  assert_false(PARTIAL("\xe0\x80"));
  assert_false(PARTIAL("\xf0\x8f"));
  assert_false(PARTIAL("\xc0"));
}

static void test_surrogate(void **state) {
  assert_int_equal(DECODE("\xed\xa0\x80", NULL), 0);             /* U+D800 */
  assert_int_equal(DECODE("\xed\xaf\xbf", NULL), 0);             /* U+DBFF */
  assert_int_equal(DECODE("\xed\xb0\x80", NULL), 0);             /* U+DC00 */
  assert_int_equal(DECODE("\xed\xbf\xbf", NULL), 0);             /* U+DFFF */
  assert_int_equal(DECODE("\xed\xa0\xbd\xed\xb8\x80", NULL), 0); /* a CESU-8 pair */
  assert_false(PARTIAL("\xed\xa0"));
}

static void test_out_of_range(void **state) {
  assert_int_equal(DECODE("\xf4\x90\x80\x80", NULL), 0); /* U+110000 */
  assert_int_equal(DECODE("\xf4\xbf\xbf\xbf", NULL), 0);
  assert_int_equal(DECODE("\xf5\x80\x80\x80", NULL), 0);
  assert_int_equal(DECODE("\xf7\xbf\xbf\xbf", NULL), 0);
  assert_int_equal(DECODE("\xf8\x88\x80\x80\x80", NULL), 0); /* old 5-byte form */
  assert_int_equal(DECODE("\xfc\x84\x80\x80\x80\x80", NULL), 0);
  assert_int_equal(DECODE("\xfe", NULL), 0);
  assert_int_equal(DECODE("\xff", NULL), 0);
  assert_false(PARTIAL("\xf4\x90"));
  assert_false(PARTIAL("\xf5"));
}

static void test_bad_continuation(void **state) {
  assert_int_equal(DECODE("\x80", NULL), 0); /* a lone continuation byte */
  assert_int_equal(DECODE("\xbf", NULL), 0);
  assert_int_equal(DECODE("\xc3\x28", NULL), 0);
  assert_int_equal(DECODE("\xc3\xc3", NULL), 0);
  assert_int_equal(DECODE("\xe2\x82\x28", NULL), 0);
  assert_int_equal(DECODE("\xf0\x9f\x98\xff", NULL), 0);
  assert_false(PARTIAL("\xe2\x28"));
  assert_false(PARTIAL("\x80"));
}

static void test_truncated(void **state) {
  uint32_t cp = 0x1234;
  assert_int_equal(utf8_decode((const unsigned char *)"", 0, &cp), 0);
  assert_int_equal(DECODE("\xc3", &cp), 0);
  assert_int_equal(DECODE("\xe2\x82", &cp), 0);
  assert_int_equal(DECODE("\xf0\x9f\x98", &cp), 0);
  assert_int_equal(cp, 0x1234); /* untouched when nothing was decoded */
  assert_true(PARTIAL("\xc3"));
  assert_true(PARTIAL("\xe2"));
  assert_true(PARTIAL("\xe2\x82"));
  assert_true(PARTIAL("\xe0\xa0"));
  assert_true(PARTIAL("\xed\x9f"));
  assert_true(PARTIAL("\xf0\x9f\x98"));
  assert_true(PARTIAL("\xf4\x8f\xbf"));
  assert_false(PARTIAL("A"));
}

static void test_valid_and_sanitize(void **state) {
  assert_true(utf8_valid("", 0));
  assert_true(utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
  assert_true(utf8_valid("a\0b", 3)); /* NUL is valid UTF-8 */
  assert_false(utf8_valid("caf\xc3", 4));
  assert_false(utf8_valid("\xed\xa0\x80", 3));
  assert_false(utf8_valid("\xc0\x80", 2));
  char s[] = "ok\t\xc3\xa9\n\x01\x7f\xc0\x80\xe2\x82\xac\xf0\x9f";
  utf8_sanitize(s);
  assert_string_equal(s, "ok\t\xc3\xa9\n??\?\?\xe2\x82\xac??");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid),
      cmocka_unit_test(test_overlong),
      cmocka_unit_test(test_surrogate),
      cmocka_unit_test(test_out_of_range),
      cmocka_unit_test(test_bad_continuation),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_valid_and_sanitize),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
