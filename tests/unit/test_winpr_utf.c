/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for scripts/ohos/patches/freerdp/files/winpr/libwinpr/crt/utf.c, the UTF-8/UTF-16
 * conversion the HarmonyOS build of WinPR uses in place of ICU (built here against the build
 * machine's WinPR headers): every code point range both ways and back, counting (NULL target)
 * against writing, a full target, cut-off and malformed input in strict and lenient mode, and
 * 20,000 random strings compared with iconv's result.
 */
#include <iconv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "utf.h"

/* UTF-8 -> UTF-16 of n bytes; returns the result, *units the units written (or counted). */
static ConversionResult to16(const void *s, size_t n, WCHAR *out, size_t cap, size_t *units,
                             ConversionFlags f) {
  const BYTE *src = s;
  WCHAR *t = out;
  ConversionResult r = ConvertUTF8toUTF16(&src, src + n, &t, out ? out + cap : NULL, f);
  *units = (size_t)((uintptr_t)t - (uintptr_t)out) / sizeof(WCHAR);
  return r;
}

static ConversionResult to8(const WCHAR *s, size_t n, BYTE *out, size_t cap, size_t *bytes,
                            ConversionFlags f) {
  const WCHAR *src = s;
  BYTE *t = out;
  ConversionResult r = ConvertUTF16toUTF8(&src, src + n, &t, out ? out + cap : NULL, f);
  *bytes = (size_t)((uintptr_t)t - (uintptr_t)out);
  return r;
}

static void test_ranges_round_trip(void **state) {
  static const uint32_t cps[] = {0x0,    0x41,   0x7f,   0x80,   0xe9,    0x7ff,   0x800,    0x20ac,
                                 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10fffd, 0x10ffff};
  static const char *utf8[] = {"\x00",
                               "A",
                               "\x7f",
                               "\xc2\x80",
                               "\xc3\xa9",
                               "\xdf\xbf",
                               "\xe0\xa0\x80",
                               "\xe2\x82\xac",
                               "\xed\x9f\xbf",
                               "\xee\x80\x80",
                               "\xef\xbf\xbd",
                               "\xef\xbf\xbf",
                               "\xf0\x90\x80\x80",
                               "\xf0\x9f\x98\x80",
                               "\xf4\x8f\xbf\xbd",
                               "\xf4\x8f\xbf\xbf"};
  for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
    size_t len = cps[i] ? strlen(utf8[i]) : 1, units, counted, bytes;
    WCHAR w[2] = {0};
    assert_int_equal(to16(utf8[i], len, NULL, 0, &counted, strictConversion), conversionOK);
    assert_int_equal(to16(utf8[i], len, w, 2, &units, strictConversion), conversionOK);
    assert_int_equal(units, counted);
    if (cps[i] >= 0x10000) {
      assert_int_equal(units, 2);
      assert_int_equal(0x10000 + ((w[0] - 0xd800u) << 10) + (w[1] - 0xdc00u), cps[i]);
    } else {
      assert_int_equal(units, 1);
      assert_int_equal(w[0], cps[i]);
    }
    BYTE b[4];
    assert_int_equal(to8(w, units, NULL, 0, &counted, strictConversion), conversionOK);
    assert_int_equal(to8(w, units, b, sizeof(b), &bytes, strictConversion), conversionOK);
    assert_int_equal(bytes, len);
    assert_int_equal(counted, len);
    assert_memory_equal(b, utf8[i], len);
  }
}

static void test_target_full(void **state) {
  WCHAR w[3];
  size_t units;
  /* "a€😀": 1 + 1 + 2 units; room for 3 stops before the emoji, whose units are not split */
  assert_int_equal(to16("a\xe2\x82\xac\xf0\x9f\x98\x80", 8, w, 3, &units, strictConversion), targetExhausted);
  assert_int_equal(units, 2);
  BYTE b[4];
  size_t bytes;
  const WCHAR s[] = {'a', 0x20ac};
  assert_int_equal(to8(s, 2, b, 3, &bytes, strictConversion), targetExhausted);
  assert_int_equal(bytes, 1);
}

static void test_malformed(void **state) {
  static const struct {
    const char *s;
    ConversionResult strict;
  } bad[] = {
      {"\xc0\xaf", sourceIllegal},         /* overlong '/' */
      {"\xe0\x80\xaf", sourceIllegal},     /* overlong */
      {"\xed\xa0\x80", sourceIllegal},     /* a surrogate */
      {"\xf4\x90\x80\x80", sourceIllegal}, /* above U+10FFFF */
      {"\xf8\x88\x80\x80\x80", sourceIllegal},
      {"\x80", sourceIllegal}, /* a lone continuation byte */
      {"\xc3\x28", sourceIllegal},
      {"\xe2\x82", sourceExhausted}, /* cut off */
      {"\xf0\x9f\x98", sourceExhausted},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    WCHAR w[16];
    size_t units;
    assert_int_equal(to16(bad[i].s, strlen(bad[i].s), w, 16, &units, strictConversion), bad[i].strict);
    assert_int_equal(units, 0);
    assert_int_equal(to16(bad[i].s, strlen(bad[i].s), w, 16, &units, lenientConversion), conversionOK);
    assert_true(units >= 1);
    assert_int_equal(w[0], 0xfffd);
  }
  /* unpaired surrogates in UTF-16 */
  const WCHAR lone_high[] = {'x', 0xd83d}, lone_low[] = {0xde00, 'x'}, high_then_x[] = {0xd83d, 'x'};
  BYTE b[16];
  size_t bytes;
  assert_int_equal(to8(lone_high, 2, b, 16, &bytes, strictConversion), sourceExhausted);
  assert_int_equal(bytes, 1);
  assert_int_equal(to8(lone_low, 2, b, 16, &bytes, strictConversion), sourceIllegal);
  assert_int_equal(to8(high_then_x, 2, b, 16, &bytes, strictConversion), sourceIllegal);
  assert_int_equal(to8(high_then_x, 2, b, 16, &bytes, lenientConversion), conversionOK);
  assert_int_equal(bytes, 4);
  assert_memory_equal(b, "\xef\xbf\xbdx", 4);
}

/* Random valid strings of mixed ranges, against iconv (UTF-8 -> UTF-16LE and back). */
static void test_against_iconv(void **state) {
  iconv_t to = iconv_open("UTF-16LE", "UTF-8");
  assert_true(to != (iconv_t)-1);
  srand(7);
  for (int round = 0; round < 20000; round++) {
    char in[64];
    size_t n = 0;
    while (n < sizeof(in) - 4) {
      uint32_t cp;
      switch (rand() % 4) {
      case 0:
        cp = 1 + rand() % 0x7f;
        break;
      case 1:
        cp = 0x80 + rand() % (0x800 - 0x80);
        break;
      case 2:
        cp = 0x800 + rand() % (0x10000 - 0x800);
        if (cp >= 0xd800 && cp <= 0xdfff)
          cp = 0x4e2d;
        break;
      default:
        cp = 0x10000 + rand() % 0x100000;
        break;
      }
      if (cp < 0x80)
        in[n++] = (char)cp;
      else if (cp < 0x800)
        in[n++] = (char)(0xc0 | cp >> 6), in[n++] = (char)(0x80 | (cp & 0x3f));
      else if (cp < 0x10000)
        in[n++] = (char)(0xe0 | cp >> 12), in[n++] = (char)(0x80 | ((cp >> 6) & 0x3f)),
        in[n++] = (char)(0x80 | (cp & 0x3f));
      else
        in[n++] = (char)(0xf0 | cp >> 18), in[n++] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        in[n++] = (char)(0x80 | ((cp >> 6) & 0x3f)), in[n++] = (char)(0x80 | (cp & 0x3f));
    }
    WCHAR ours[64], ref[64];
    char *ip = in, *op = (char *)ref;
    size_t il = n, ol = sizeof(ref);
    assert_true(iconv(to, &ip, &il, &op, &ol) != (size_t)-1);
    size_t ref_units = (sizeof(ref) - ol) / 2, units;
    assert_int_equal(to16(in, n, ours, 64, &units, strictConversion), conversionOK);
    assert_int_equal(units, ref_units);
    assert_memory_equal(ours, ref, units * 2);
    BYTE back[64];
    size_t bytes;
    assert_int_equal(to8(ours, units, back, sizeof(back), &bytes, strictConversion), conversionOK);
    assert_int_equal(bytes, n);
    assert_memory_equal(back, in, n);
  }
  iconv_close(to);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ranges_round_trip),
      cmocka_unit_test(test_target_full),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_against_iconv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
