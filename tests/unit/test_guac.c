/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for bridge/rdp-ws/guac.c, the Guacamole instruction codec:
 * well-formed instructions (lengths in code points, not bytes), every way an
 * instruction can be malformed (lengths, separators, UTF-8, limits), input
 * split at every byte, the whole-prefix scan the daemon relays by, and the
 * encoder (output always parses back to the same elements).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "guac.h"

static struct guac_instr *in;

static int setup(void **state) {
  in = malloc(sizeof(*in));
  return in ? 0 : -1;
}

static int teardown(void **state) {
  free(in);
  return 0;
}

static enum guac_status parse_str(const char *s, size_t *used) {
  char err[160];
  return guac_parse(s, strlen(s), in, used, err, sizeof(err));
}

static void test_simple(void **state) {
  size_t used = 0;
  const char *s = "5.mouse,3.100,3.200,1.1;4.sync";
  assert_int_equal(parse_str(s, &used), GUAC_OK);
  assert_int_equal(used, strlen("5.mouse,3.100,3.200,1.1;"));
  assert_string_equal(in->opcode, "mouse");
  assert_int_equal(in->argc, 3);
  assert_string_equal(in->argv[0], "100");
  assert_string_equal(in->argv[1], "200");
  assert_string_equal(in->argv[2], "1");
  assert_int_equal(in->argl[2], 1);
}

static void test_no_args_and_empty(void **state) {
  size_t used = 0;
  assert_int_equal(parse_str("3.nop;", &used), GUAC_OK);
  assert_string_equal(in->opcode, "nop");
  assert_int_equal(in->argc, 0);
  /* the tunnel-internal opcode is the empty string */
  assert_int_equal(parse_str("0.,4.ping,3.123;", &used), GUAC_OK);
  assert_string_equal(in->opcode, "");
  assert_int_equal(in->argc, 2);
  assert_string_equal(in->argv[0], "ping");
  assert_int_equal(parse_str("4.args,0.,0.;", &used), GUAC_OK);
  assert_int_equal(in->argc, 2);
  assert_string_equal(in->argv[1], "");
}

static void test_lengths_count_code_points(void **state) {
  size_t used = 0;
  /* "é" is 2 bytes, "€" 3, "😀" 4: each counts as one */
  const char *s = "9.clipboard,4.a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80;";
  assert_int_equal(parse_str(s, &used), GUAC_OK);
  assert_int_equal(used, strlen(s));
  assert_int_equal(in->argl[0], 10);
  /* the byte count as length is wrong: the value runs into ';' */
  assert_int_equal(parse_str("3.key,2.\xc3\xa9;", &used), GUAC_NEED_MORE);
  assert_int_equal(parse_str("3.key,2.\xc3\xa9;x", &used), GUAC_ERROR);
  /* and a ';' inside a value is just a character */
  assert_int_equal(parse_str("3.key,3.a;b;", &used), GUAC_OK);
  assert_string_equal(in->argv[0], "a;b");
}

static void test_malformed(void **state) {
  static const char *const bad[] = {
      "hello;",                    /* no length */
      ".nop;",                     /* empty length */
      "3nop;",                     /* no '.' */
      "-3.nop;",                   /* sign */
      "+3.nop;",                   /* sign */
      " 3.nop;",                   /* space */
      "3.nopx;",                   /* value longer than its length */
      "3.nop:",                    /* wrong terminator */
      "3.nop,;",                   /* empty element after ',' */
      "1234567890.x;",             /* 10 digits */
      "03.nop;",                   /* leading zero */
      "00.;",                      /* leading zero */
      "999999999.x",               /* cannot fit in an instruction */
      "3.key,1.\xff;",             /* invalid UTF-8 */
      "3.key,1.\xc0\x80;",         /* overlong NUL */
      "3.key,1.\xe0\x80\xaf;",     /* overlong '/' */
      "3.key,1.\xed\xa0\x80;",     /* surrogate */
      "3.key,1.\xf4\x90\x80\x80;", /* above U+10FFFF */
      "3.key,1.\x80;",             /* lone continuation byte */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    size_t used = 0;
    char err[160] = "";
    enum guac_status st = guac_parse(bad[i], strlen(bad[i]), in, &used, err, sizeof(err));
    if (st != GUAC_ERROR)
      fail_msg("case %zu (%s): status %d, want an error", i, bad[i], st);
    assert_true(err[0] != 0);
  }
  /* NUL inside a value */
  size_t used = 0;
  char err[160];
  assert_int_equal(guac_parse("3.key,1.\0;", 10, in, &used, err, sizeof(err)), GUAC_ERROR);
}

static void test_need_more_at_every_split(void **state) {
  const char *s = "3.img,1.1,2.14,1.0,9.image/png,1.0,4.\xc3\xa9\xc3\xa9x\xe2\x82\xac;";
  size_t n = strlen(s);
  for (size_t k = 0; k < n; k++) {
    size_t used = 0;
    char err[160];
    assert_int_equal(guac_parse(s, k, in, &used, err, sizeof(err)), GUAC_NEED_MORE);
  }
  size_t used = 0;
  assert_int_equal(parse_str(s, &used), GUAC_OK);
  assert_int_equal(used, n);
}

static void test_limits(void **state) {
  /* an instruction at the byte limit passes; one byte more fails */
  size_t vlen = GUAC_MAX_INSTRUCTION - strlen("4.blob,5.,") - 1 - 5;
  char *s = malloc(GUAC_MAX_INSTRUCTION + 64);
  int hl = sprintf(s, "4.blob,%zu.", vlen);
  memset(s + hl, 'A', vlen);
  s[hl + vlen] = ';';
  size_t total = (size_t)hl + vlen + 1;
  size_t used = 0;
  char err[160];
  assert_true(total <= GUAC_MAX_INSTRUCTION);
  assert_int_equal(guac_parse(s, total, in, &used, err, sizeof(err)), GUAC_OK);
  assert_int_equal(used, total);
  hl = sprintf(s, "4.blob,%zu.", (size_t)GUAC_MAX_INSTRUCTION);
  memset(s + hl, 'A', GUAC_MAX_INSTRUCTION);
  s[hl + GUAC_MAX_INSTRUCTION] = ';';
  assert_int_equal(guac_parse(s, (size_t)hl + GUAC_MAX_INSTRUCTION + 1, in, &used, err, sizeof(err)),
                   GUAC_ERROR);
  /* endless digits-free garbage with no terminator is refused once it reaches the limit */
  memset(s, 'A', GUAC_MAX_INSTRUCTION + 10);
  s[0] = '9';
  s[1] = '.';
  assert_int_equal(guac_scan(s, 100, 50, &used, err, sizeof(err)), GUAC_ERROR);
  /* too many elements */
  size_t o = (size_t)sprintf(s, "3.nop");
  for (int i = 0; i < GUAC_MAX_ELEMENTS; i++)
    o += (size_t)sprintf(s + o, ",1.x");
  s[o++] = ';';
  assert_int_equal(guac_parse(s, o, in, &used, err, sizeof(err)), GUAC_ERROR);
  assert_non_null(strstr(err, "elements"));
  free(s);
}

static void test_whole_prefix(void **state) {
  char err[160];
  const char *s = "3.nop;4.sync,3.123;5.mou";
  assert_int_equal(guac_whole_prefix(s, strlen(s), GUAC_MAX_INSTRUCTION, err, sizeof(err)),
                   (long)strlen("3.nop;4.sync,3.123;"));
  assert_int_equal(guac_whole_prefix("5.mou", 5, GUAC_MAX_INSTRUCTION, err, sizeof(err)), 0);
  assert_int_equal(guac_whole_prefix("3.nop;x", 7, GUAC_MAX_INSTRUCTION, err, sizeof(err)), -1);
  assert_int_equal(guac_whole_prefix("", 0, GUAC_MAX_INSTRUCTION, err, sizeof(err)), 0);
}

static void test_encoder_round_trip(void **state) {
  struct guac_buf b = {0};
  const char *argv[] = {"a\xc3\xa9\xe2\x82\xac", "", "x,y;z", "\xf0\x9f\x98\x80"};
  guac_put(&b, "clipboard", 4, argv);
  guac_putl(&b, "nop", NULL);
  guac_putl(&b, "size", "0", "1280", "800", NULL);
  /* invalid UTF-8 becomes the empty string, never a malformed instruction */
  guac_putl(&b, "error", "bad \xff byte", "512", NULL);
  size_t used = 0, off = 0;
  char err[160];
  assert_int_equal(guac_parse(b.data, b.len, in, &used, err, sizeof(err)), GUAC_OK);
  assert_string_equal(in->opcode, "clipboard");
  assert_int_equal(in->argc, 4);
  for (int i = 0; i < 4; i++)
    assert_string_equal(in->argv[i], argv[i]);
  off += used;
  assert_int_equal(guac_parse(b.data + off, b.len - off, in, &used, err, sizeof(err)), GUAC_OK);
  assert_string_equal(in->opcode, "nop");
  off += used;
  assert_int_equal(guac_parse(b.data + off, b.len - off, in, &used, err, sizeof(err)), GUAC_OK);
  assert_string_equal(in->argv[2], "800");
  off += used;
  assert_int_equal(guac_parse(b.data + off, b.len - off, in, &used, err, sizeof(err)), GUAC_OK);
  assert_string_equal(in->argv[0], "");
  off += used;
  assert_int_equal(off, b.len);
  assert_memory_equal(b.data, "9.clipboard,", 12);
  guac_buf_free(&b);
}

static void test_blob_and_base64(void **state) {
  char out[16];
  assert_int_equal(guac_base64("", 0, out), 0);
  assert_int_equal(guac_base64("f", 1, out), 4);
  assert_string_equal(out, "Zg==");
  guac_base64("fo", 2, out);
  assert_string_equal(out, "Zm8=");
  guac_base64("foo", 3, out);
  assert_string_equal(out, "Zm9v");
  guac_base64("foobar", 6, out);
  assert_string_equal(out, "Zm9vYmFy");
  struct guac_buf b = {0};
  guac_put_blob(&b, 17, "\x00\xff\x10", 3);
  assert_int_equal(b.len, strlen("4.blob,2.17,4.AP8Q;"));
  assert_memory_equal(b.data, "4.blob,2.17,4.AP8Q;", b.len);
  guac_buf_free(&b);
}

/* Found by fuzz_guac (tests/fuzz/corpus/guac/noncanonical-padding): "kka=" decoded to the same
 * two bytes as "kkY=", so it did not round-trip. Bits below the last whole byte must be zero. */
static void test_base64_canonical_padding(void **state) {
  unsigned char o[8];
  char text[8];
  assert_int_equal(guac_base64_decode("kka=", 4, o), (size_t)-1);
  assert_int_equal(guac_base64_decode("kkY=", 4, o), 2);
  assert_memory_equal(o, "\x92\x46", 2);
  guac_base64(o, 2, text);
  assert_string_equal(text, "kkY=");
  /* "xx==": the low 4 bits of the second character */
  assert_int_equal(guac_base64_decode("kh==", 4, o), (size_t)-1);
  assert_int_equal(guac_base64_decode("kv==", 4, o), (size_t)-1);
  assert_int_equal(guac_base64_decode("kg==", 4, o), 1);
  assert_int_equal(o[0], 0x92);
  /* only the last group can be padded; a canonical one after whole groups still decodes */
  assert_int_equal(guac_base64_decode("Zm9vkkY=", 8, o), 5);
  assert_memory_equal(o, "foo\x92\x46", 5);
  assert_int_equal(guac_base64_decode("Zm9vkkZ=", 8, o), (size_t)-1);
}

static void test_arg_int(void **state) {
  long v;
  assert_true(guac_arg_int("0", 0, 10, &v) && v == 0);
  assert_true(guac_arg_int("-5", -10, 10, &v) && v == -5);
  assert_false(guac_arg_int("", 0, 10, &v));
  assert_false(guac_arg_int("11", 0, 10, &v));
  assert_false(guac_arg_int("1x", 0, 10, &v));
  assert_false(guac_arg_int(" 1", 0, 10, &v));
  assert_false(guac_arg_int("-", -10, 10, &v));
  assert_false(guac_arg_int("99999999999999999999", 0, 0x7fffffffL, &v));
  assert_false(guac_arg_int(NULL, 0, 10, &v));
}

static void test_utf8_chars(void **state) {
  assert_int_equal(guac_utf8_chars("", 0), 0);
  assert_int_equal(guac_utf8_chars("abc", 3), 3);
  assert_int_equal(guac_utf8_chars("\xc3\xa9", 2), 1);
  assert_int_equal(guac_utf8_chars("\xc3", 1), (size_t)-1);
  assert_int_equal(guac_utf8_chars("a\0b", 3), (size_t)-1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_simple),
      cmocka_unit_test(test_no_args_and_empty),
      cmocka_unit_test(test_lengths_count_code_points),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_need_more_at_every_split),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_whole_prefix),
      cmocka_unit_test(test_encoder_round_trip),
      cmocka_unit_test(test_blob_and_base64),
      cmocka_unit_test(test_base64_canonical_padding),
      cmocka_unit_test(test_arg_int),
      cmocka_unit_test(test_utf8_chars),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
