/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the RDP worker's pure parts: the keysym -> scancode table
 * (bridge/rdp-ws/worker/rdp_keys.c) and the display helpers (rdp_display.c: dirty
 * rectangle coalescing, PNG/JPEG choice and encoding), the clipboard text
 * conversions (rdp_text.c), the microphone PCM converter (rdp_pcm.c) and the
 * base64 decoder of guac.c. FreeRDP itself is
 * exercised by tests/integration/test_rdp.py against a real RDP server.
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
#include "rdp_display.h"
#include "rdp_keys.h"
#include "rdp_pcm.h"
#include "rdp_text.h"

static void test_text_to_utf16(void **state) {
  uint8_t *o;
  size_t n = rdp_text_to_utf16("a\nb\r\n\xc3\xa9\xf0\x9d\x84\x9e", 12, 64, &o);
  static const uint8_t want[] = {'a',  0, '\r', 0, '\n', 0,    'b',  0,    '\r', 0,
                                 '\n', 0, 0xe9, 0, 0x34, 0xd8, 0x1e, 0xdd, 0,    0};
  assert_int_equal(n, sizeof(want));
  assert_memory_equal(o, want, sizeof(want));
  free(o);
  /* invalid UTF-8 (a lone continuation byte, a surrogate, overlong, truncated) -> U+FFFD each byte */
  n = rdp_text_to_utf16("\x80x\xed\xa0\x80\xc0\xafy\xe2\x82", 10, 64, &o);
  assert_int_equal(n, 2 * 10 + 2); /* 8 replacements, x, y, NUL */
  assert_int_equal(o[0] | o[1] << 8, 0xfffd);
  assert_int_equal(o[2], 'x');
  free(o);
  /* NUL ends the text; MAX cuts on a character (never half a surrogate pair) */
  n = rdp_text_to_utf16("ab\0cd", 5, 64, &o);
  assert_int_equal(n, 6);
  free(o);
  n = rdp_text_to_utf16("a\xf0\x9d\x84\x9e", 5, 6, &o);
  assert_int_equal(n, 4);
  assert_int_equal(o[0], 'a');
  assert_int_equal(o[2] | o[3], 0);
  free(o);
}

static void test_text_from_utf16(void **state) {
  char *o;
  static const uint8_t in[] = {'a',  0,    '\r', 0,   '\n', 0,    0xe9, 0, 0x34, 0xd8, 0x1e,
                               0xdd, 0x00, 0xd8, 'z', 0,    0x1e, 0xdd, 0, 0,    'x',  0};
  size_t n = rdp_text_from_utf16(in, sizeof(in), 64, &o);
  assert_string_equal(o, "a\n\xc3\xa9\xf0\x9d\x84\x9e\xef\xbf\xbdz\xef\xbf\xbd");
  assert_int_equal(n, strlen(o));
  free(o);
  n = rdp_text_from_utf16(in, 7, 64, &o); /* odd length: the last byte is ignored */
  assert_string_equal(o, "a\n");
  free(o);
  n = rdp_text_from_utf16(in + 6, 6, 4, &o); /* bound: U+1D11E (4 bytes) does not fit after é */
  assert_string_equal(o, "\xc3\xa9");
  free(o);
}

static void test_base64_decode(void **state) {
  unsigned char o[16];
  assert_int_equal(guac_base64_decode("", 0, o), 0);
  assert_int_equal(guac_base64_decode("YQ==", 4, o), 1);
  assert_int_equal(o[0], 'a');
  assert_int_equal(guac_base64_decode("YWI=", 4, o), 2);
  assert_int_equal(guac_base64_decode("YWJj", 4, o), 3);
  assert_memory_equal(o, "abc", 3);
  assert_int_equal(guac_base64_decode("YWJjZA==", 8, o), 4);
  assert_int_equal(guac_base64_decode("YWJ", 3, o), (size_t)-1);
  assert_int_equal(guac_base64_decode("Y=Jj", 4, o), (size_t)-1);
  assert_int_equal(guac_base64_decode("YQ==YWJj", 8, o), (size_t)-1);
  assert_int_equal(guac_base64_decode("YW*j", 4, o), (size_t)-1);
  assert_int_equal(guac_base64_decode("YW j", 4, o), (size_t)-1);
  assert_int_equal(guac_base64_decode("Y===", 4, o), (size_t)-1);
}

static void test_keys_letters_digits(void **state) {
  struct rdp_key k;
  assert_true(rdp_keysym_lookup('a', &k));
  assert_int_equal(k.scancode, 0x1e);
  assert_false(k.extended);
  assert_false(k.shifted);
  assert_true(rdp_keysym_lookup('A', &k));
  assert_int_equal(k.scancode, 0x1e);
  assert_true(k.shifted);
  assert_true(rdp_keysym_lookup('z', &k));
  assert_int_equal(k.scancode, 0x2c);
  assert_true(rdp_keysym_lookup('1', &k));
  assert_int_equal(k.scancode, 0x02);
  assert_true(rdp_keysym_lookup('0', &k));
  assert_int_equal(k.scancode, 0x0b);
  assert_true(rdp_keysym_lookup('!', &k));
  assert_int_equal(k.scancode, 0x02);
  assert_true(k.shifted);
  assert_true(rdp_keysym_lookup('_', &k));
  assert_int_equal(k.scancode, 0x0c);
  assert_true(k.shifted);
  assert_true(rdp_keysym_lookup(' ', &k));
  assert_int_equal(k.scancode, 0x39);
  /* every printable ASCII character has a key */
  for (uint32_t c = 0x20; c <= 0x7e; c++)
    assert_true(rdp_keysym_lookup(c, &k));
}

static void test_keys_special(void **state) {
  struct rdp_key k;
  static const struct {
    uint32_t keysym;
    uint8_t sc;
    bool ext;
  } cases[] = {
      {0xff0d, 0x1c, 0}, /* Return */
      {0xff8d, 0x1c, 1}, /* KP_Enter */
      {0xff1b, 0x01, 0}, /* Escape */
      {0xff08, 0x0e, 0}, /* BackSpace */
      {0xff09, 0x0f, 0}, /* Tab */
      {0xff51, 0x4b, 1}, /* Left */
      {0xff52, 0x48, 1}, /* Up */
      {0xff53, 0x4d, 1}, /* Right */
      {0xff54, 0x50, 1}, /* Down */
      {0xffff, 0x53, 1}, /* Delete */
      {0xffe1, 0x2a, 0}, /* Shift_L */
      {0xffe4, 0x1d, 1}, /* Control_R */
      {0xffea, 0x38, 1}, /* Alt_R */
      {0xffeb, 0x5b, 1}, /* Super_L */
      {0xffbe, 0x3b, 0}, /* F1 */
      {0xffc9, 0x58, 0}, /* F12 */
      {0xffb5, 0x4c, 0}, /* KP_5 */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_true(rdp_keysym_lookup(cases[i].keysym, &k));
    if (k.scancode != cases[i].sc || k.extended != cases[i].ext)
      fail_msg("keysym 0x%x: scancode 0x%x ext %d", cases[i].keysym, k.scancode, k.extended);
  }
  assert_false(rdp_keysym_lookup(0xe9, &k));      /* é: Unicode instead */
  assert_false(rdp_keysym_lookup(0x10020ac, &k)); /* € */
  assert_false(rdp_keysym_lookup(0xfffe, &k));
  assert_false(rdp_keysym_lookup(0, &k));
  assert_true(rdp_keysym_is_shift(0xffe1));
  assert_false(rdp_keysym_is_shift(0xffe3));
}

static void test_keys_unicode(void **state) {
  assert_int_equal(rdp_keysym_to_unicode('a'), 'a');
  assert_int_equal(rdp_keysym_to_unicode(0xe9), 0xe9);
  assert_int_equal(rdp_keysym_to_unicode(0x10020ac), 0x20ac);
  assert_int_equal(rdp_keysym_to_unicode(0x101f600), 0x1f600);
  assert_int_equal(rdp_keysym_to_unicode(0x100d800), 0); /* surrogate */
  assert_int_equal(rdp_keysym_to_unicode(0xffe1), 0);
  assert_int_equal(rdp_keysym_to_unicode(0x1110000), 0);
}

static long total_area(const struct rdp_dirty *d) {
  long a = 0;
  for (size_t i = 0; i < d->n; i++)
    a += (long)d->r[i].w * d->r[i].h;
  return a;
}

/* Every pixel of (x, y, w, h) is inside some rectangle of D. */
static bool covered(const struct rdp_dirty *d, int x, int y, int w, int h) {
  for (int yy = y; yy < y + h; yy++)
    for (int xx = x; xx < x + w; xx++) {
      bool in = false;
      for (size_t i = 0; i < d->n && !in; i++)
        in = xx >= d->r[i].x && xx < d->r[i].x + d->r[i].w && yy >= d->r[i].y && yy < d->r[i].y + d->r[i].h;
      if (!in)
        return false;
    }
  return true;
}

static void test_dirty(void **state) {
  struct rdp_dirty d = {0};
  rdp_dirty_add(&d, 10, 10, 20, 20, 100, 100);
  rdp_dirty_add(&d, 15, 15, 20, 20, 100, 100); /* overlapping: merged */
  assert_int_equal(d.n, 1);
  assert_true(covered(&d, 10, 10, 25, 25));
  rdp_dirty_add(&d, 0, 0, 0, 10, 100, 100);    /* empty */
  rdp_dirty_add(&d, 200, 0, 10, 10, 100, 100); /* outside */
  assert_int_equal(d.n, 1);
  rdp_dirty_add(&d, -5, 95, 20, 20, 100, 100); /* clipped */
  for (size_t i = 0; i < d.n; i++) {
    assert_true(d.r[i].x >= 0 && d.r[i].y >= 0);
    assert_true(d.r[i].x + d.r[i].w <= 100 && d.r[i].y + d.r[i].h <= 100);
  }
  /* far apart on a big screen: kept apart */
  struct rdp_dirty e = {0};
  rdp_dirty_add(&e, 0, 0, 16, 16, 1280, 800);
  rdp_dirty_add(&e, 1200, 700, 16, 16, 1280, 800);
  assert_int_equal(e.n, 2);
  assert_int_equal(total_area(&e), 2 * 16 * 16);
  /* many small ones: bounded count, everything still covered */
  struct rdp_dirty f = {0};
  for (int i = 0; i < 50; i++)
    rdp_dirty_add(&f, (i * 97) % 1200, (i * 53) % 760, 8, 8, 1280, 800);
  assert_true(f.n <= RDP_DIRTY_MAX);
  for (int i = 0; i < 50; i++)
    assert_true(covered(&f, (i * 97) % 1200, (i * 53) % 760, 8, 8));
}

static uint8_t *make_fb(int w, int h, bool noisy) {
  uint8_t *fb = malloc((size_t)w * h * 4);
  uint32_t seed = 12345;
  for (int i = 0; i < w * h; i++) {
    if (noisy) {
      seed = seed * 1103515245u + 12345u;
      fb[i * 4] = (uint8_t)(seed >> 16);
      fb[i * 4 + 1] = (uint8_t)(seed >> 8);
      fb[i * 4 + 2] = (uint8_t)(seed >> 24);
    } else {
      fb[i * 4] = 0xcc; /* B */
      fb[i * 4 + 1] = 0x66;
      fb[i * 4 + 2] = 0x33;
    }
    fb[i * 4 + 3] = 0;
  }
  return fb;
}

static void test_format_choice_and_encode(void **state) {
  int w = 256, h = 128;
  uint8_t *flat = make_fb(w, h, false), *noisy = make_fb(w, h, true);
  struct rdp_rect all = {0, 0, w, h}, small = {0, 0, 32, 32};
  assert_int_equal(rdp_choose_format(flat, (size_t)w * 4, all, true), RDP_FMT_PNG);
  assert_int_equal(rdp_choose_format(noisy, (size_t)w * 4, all, true), RDP_FMT_JPEG);
  assert_int_equal(rdp_choose_format(noisy, (size_t)w * 4, all, false), RDP_FMT_PNG);
  assert_int_equal(rdp_choose_format(noisy, (size_t)w * 4, small, true), RDP_FMT_PNG);
  uint8_t *out = NULL;
  size_t len = 0;
  struct rdp_rect sub = {10, 20, 100, 50};
  assert_int_equal(rdp_encode_png(flat, (size_t)w * 4, sub, &out, &len), 0);
  assert_true(len > 8 && memcmp(out, "\x89PNG\r\n\x1a\n", 8) == 0);
  /* IHDR: width and height of the rectangle */
  assert_int_equal((out[16] << 24) | (out[17] << 16) | (out[18] << 8) | out[19], 100);
  assert_int_equal((out[20] << 24) | (out[21] << 16) | (out[22] << 8) | out[23], 50);
  assert_true(len < 1000); /* a flat colour compresses to almost nothing */
  free(out);
  /* a cursor: RGBA (colour type 6) */
  assert_int_equal(rdp_encode_png_alpha(flat, (size_t)w * 4, 32, 32, &out, &len), 0);
  assert_true(len > 26 && memcmp(out, "\x89PNG\r\n\x1a\n", 8) == 0);
  assert_int_equal(out[25], 6);
  free(out);
  assert_int_equal(rdp_encode_jpeg(noisy, (size_t)w * 4, sub, 80, &out, &len), 0);
  assert_true(len > 4 && out[0] == 0xff && out[1] == 0xd8);
  free(out);
  free(flat);
  free(noisy);
}

/* A "text" screen: each row's content depends on its line number LINE0 + y / 13. */
static void draw_lines(uint8_t *fb, int w, int h, int line0) {
  for (int y = 0; y < h; y++) {
    int line = line0 + y / 13, in = y % 13;
    for (int x = 0; x < w; x++) {
      uint32_t v = ((uint32_t)x * 7u + (uint32_t)line * 1009u + (uint32_t)in * 101u) * 2654435761u;
      bool ink = in > 2 && in < 11 && (v >> 27) < 6;
      uint8_t *p = fb + ((size_t)y * w + x) * 4;
      p[0] = p[1] = p[2] = ink ? 0 : 255;
      p[3] = 0;
    }
  }
}

static void test_scroll(void **state) {
  int w = 320, h = 260;
  size_t stride = (size_t)w * 4;
  uint8_t *prev = malloc(stride * h), *cur = malloc(stride * h);
  struct rdp_rect all = {0, 0, w, h};
  struct rdp_scroll sc;
  draw_lines(prev, w, h, 0);
  draw_lines(cur, w, h, 3); /* three lines up: 39 rows */
  assert_true(rdp_find_scroll(cur, prev, stride, all, &sc));
  assert_int_equal(sc.dy, -39);
  assert_int_equal(sc.y, 0);
  assert_int_equal(sc.h, h - 39);
  /* the band really matches */
  for (int y = sc.y; y < sc.y + sc.h; y++)
    assert_memory_equal(cur + (size_t)y * stride, prev + (size_t)(y - sc.dy) * stride, stride);
  /* no scroll: identical or unrelated content, or a flat colour */
  assert_false(rdp_find_scroll(prev, prev, stride, all, &sc));
  memset(cur, 0x80, stride * h);
  memset(prev, 0x80, stride * h);
  assert_false(rdp_find_scroll(cur, prev, stride, all, &sc));
  uint8_t *noise = make_fb(w, h, true);
  draw_lines(prev, w, h, 0);
  assert_false(rdp_find_scroll(noise, prev, stride, all, &sc));
  /* down by 2 lines inside a sub-rectangle */
  draw_lines(prev, w, h, 10);
  draw_lines(cur, w, h, 8);
  struct rdp_rect sub = {16, 20, 200, 200};
  assert_true(rdp_find_scroll(cur, prev, stride, sub, &sc));
  assert_int_equal(sc.dy, 26);
  assert_true(sc.y >= sub.y && sc.y + sc.h <= sub.y + sub.h);
  assert_true(sc.y - sc.dy >= sub.y);
  /* too small to bother */
  assert_false(rdp_find_scroll(cur, prev, stride, (struct rdp_rect){0, 0, 8, 200}, &sc));
  free(noise);
  free(prev);
  free(cur);
}

/* rdp_pcm: feed BLOCKS of a ramp signal, collect everything the converter gives. */
static size_t pcm_run(struct rdp_pcm *p, const int16_t *in, const size_t *blocks, size_t nblocks,
                      int16_t *out) {
  size_t off = 0, n = 0;
  for (size_t b = 0; b < nblocks; b++) {
    size_t max = rdp_pcm_max_out(p, blocks[b]);
    size_t got = rdp_pcm_convert(p, in + off * p->in_ch, blocks[b], out + n * p->out_ch);
    assert_true(got <= max);
    off += blocks[b];
    n += got;
  }
  return n;
}

static void test_pcm_convert(void **state) {
  (void)state;
  static int16_t in[2 * 2000], out[2 * 12000];
  struct rdp_pcm p;
  /* same format: a copy, one frame late (the last frame waits for the next block) */
  for (int i = 0; i < 20; i++)
    in[i] = (int16_t)(i * 7);
  rdp_pcm_init(&p, 48000, 1, 48000, 1);
  size_t same[] = {10, 10};
  assert_int_equal(pcm_run(&p, in, same, 2, out), 19);
  for (int i = 0; i < 19; i++)
    assert_int_equal(out[i], i * 7);
  /* 48 kHz stereo -> 16 kHz mono: every 3rd frame, the mean of both channels, across odd blocks */
  for (int i = 0; i < 600; i++) {
    in[2 * i] = (int16_t)(3 * i + 10);
    in[2 * i + 1] = (int16_t)(3 * i - 10);
  }
  rdp_pcm_init(&p, 48000, 2, 16000, 1);
  size_t odd[] = {7, 11, 1, 2, 379, 200};
  size_t n = pcm_run(&p, in, odd, 6, out);
  assert_true(n >= 199 && n <= 200);
  for (size_t k = 0; k < n; k++)
    assert_int_equal(out[k], (int)(9 * k));
  /* 8 kHz mono -> 44.1 kHz stereo: a ramp interpolated, both channels equal */
  for (int i = 0; i < 800; i++)
    in[i] = (int16_t)(40 * i - 16000);
  rdp_pcm_init(&p, 8000, 1, 44100, 2);
  size_t up[] = {160, 1, 3, 317, 319};
  n = pcm_run(&p, in, up, 5, out);
  assert_true(n >= 799 * 44100 / 8000 - 1 && n <= 799 * 44100 / 8000 + 1);
  for (size_t k = 0; k < n; k++) {
    double want = 40.0 * ((double)k * 8000 / 44100) - 16000;
    assert_true(out[2 * k] >= want - 1.01 && out[2 * k] <= want + 1.01);
    assert_int_equal(out[2 * k], out[2 * k + 1]);
  }
  /* extremes do not overflow */
  for (int i = 0; i < 100; i++) {
    in[2 * i] = i % 2 ? 32767 : -32768;
    in[2 * i + 1] = i % 2 ? 32767 : -32768;
  }
  rdp_pcm_init(&p, 44100, 2, 48000, 2);
  size_t ext[] = {100};
  n = pcm_run(&p, in, ext, 1, out);
  for (size_t k = 0; k < 2 * n; k++)
    assert_true(out[k] >= -32768 && out[k] <= 32767);
  assert_int_equal(rdp_pcm_convert(&p, in, 0, out), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys_letters_digits),
      cmocka_unit_test(test_keys_special),
      cmocka_unit_test(test_keys_unicode),
      cmocka_unit_test(test_dirty),
      cmocka_unit_test(test_format_choice_and_encode),
      cmocka_unit_test(test_scroll),
      cmocka_unit_test(test_text_to_utf16),
      cmocka_unit_test(test_text_from_utf16),
      cmocka_unit_test(test_base64_decode),
      cmocka_unit_test(test_pcm_convert),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
