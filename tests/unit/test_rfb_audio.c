/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for rfb_audio.c, the sound listener's RFB client: the bytes QEMU 7.2 sent in a
 * recorded session (greeting, security, ServerInit, the audio acknowledgement, begin, data, end)
 * fed whole and one byte at a time, what the client answers, and what a hostile VNC server
 * may send (each ends the session with a message, never reads past what it was given). The
 * real QEMU is exercised by tests/integration/test_audio.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "rfb_audio.h"

/* A byte string being built. */
struct bytes {
  uint8_t b[4096];
  size_t n;
};

static void add(struct bytes *s, const void *p, size_t n) {
  assert_true(s->n + n <= sizeof(s->b));
  memcpy(s->b + s->n, p, n);
  s->n += n;
}

static void add8(struct bytes *s, uint8_t v) {
  add(s, &v, 1);
}

static void add16(struct bytes *s, uint16_t v) {
  add8(s, (uint8_t)(v >> 8));
  add8(s, (uint8_t)v);
}

static void add32(struct bytes *s, uint32_t v) {
  add16(s, (uint16_t)(v >> 16));
  add16(s, (uint16_t)v);
}

/* QEMU's side up to the end of ServerInit (desktop name "QEMU"). */
static void server_greeting(struct bytes *s) {
  add(s, "RFB 003.008\n", 12);
  add8(s, 1); /* one security type: None */
  add8(s, 1);
  add32(s, 0); /* SecurityResult: OK */
  add16(s, 640);
  add16(s, 480);
  static const uint8_t pf[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0};
  add(s, pf, sizeof(pf));
  add32(s, 4);
  add(s, "QEMU", 4);
}

static void audio_ack(struct bytes *s) {
  add8(s, 0); /* FramebufferUpdate */
  add8(s, 0);
  add16(s, 1);
  add16(s, 0);
  add16(s, 0);
  add16(s, 640);
  add16(s, 480);
  add32(s, (uint32_t)-259);
}

static void audio_op(struct bytes *s, uint16_t op) {
  add8(s, 255);
  add8(s, 1);
  add16(s, op);
}

static void audio_data(struct bytes *s, const uint8_t *pcm, uint32_t n) {
  audio_op(s, 2);
  add32(s, n);
  add(s, pcm, n);
}

/* What the client did with a stream: the bytes it sent, its events in order (one letter each:
 * S send, R ready, B begin, E end, D data, X error), the PCM it was given, the error. */
struct run {
  struct bytes sent, pcm;
  char events[64];
  size_t n_events;
  char error[96];
};

static void note(struct run *r, char e) {
  /* Consecutive data pieces are one D: how the bytes were split does not change the story. */
  if (e == 'D' && r->n_events && r->events[r->n_events - 1] == 'D')
    return;
  assert_true(r->n_events + 1 < sizeof(r->events));
  r->events[r->n_events++] = e;
}

/* Feed S in pieces of STEP bytes (0: whole). */
static void run(struct run *r, const struct bytes *s, size_t step) {
  memset(r, 0, sizeof(*r));
  struct rfb_audio p;
  rfb_audio_init(&p);
  size_t off = 0;
  while (off < s->n) {
    size_t len = step && s->n - off > step ? step : s->n - off, at = 0;
    while (at < len) {
      size_t used;
      enum rfb_audio_event e = rfb_audio_feed(&p, s->b + off + at, len - at, &used);
      assert_true(used <= len - at);
      at += used;
      switch (e) {
      case RFB_AUDIO_NONE:
        assert_int_equal(at, len); /* NONE: everything given was taken */
        break;
      case RFB_AUDIO_SEND:
      case RFB_AUDIO_READY:
        add(&r->sent, p.out, p.out_len);
        note(r, e == RFB_AUDIO_SEND ? 'S' : 'R');
        break;
      case RFB_AUDIO_BEGIN:
        note(r, 'B');
        break;
      case RFB_AUDIO_END:
        note(r, 'E');
        break;
      case RFB_AUDIO_DATA:
        assert_true(p.data_ptr >= s->b + off && p.data_ptr + p.data_len <= s->b + off + len);
        add(&r->pcm, p.data_ptr, p.data_len);
        note(r, 'D');
        break;
      case RFB_AUDIO_ERROR:
        note(r, 'X');
        snprintf(r->error, sizeof(r->error), "%s", p.error);
        /* and it stays so */
        assert_int_equal(rfb_audio_feed(&p, (const uint8_t *)"x", 1, &used), RFB_AUDIO_ERROR);
        return;
      }
    }
    off += len;
  }
}

static void test_session(void **state) {
  (void)state;
  struct bytes s = {0};
  server_greeting(&s);
  audio_ack(&s);
  add8(&s, 2); /* a bell is skipped */
  audio_op(&s, 1);
  uint8_t pcm[300];
  for (size_t i = 0; i < sizeof(pcm); i++)
    pcm[i] = (uint8_t)(i * 7);
  audio_data(&s, pcm, 100);
  add8(&s, 3); /* cut text, skipped */
  add8(&s, 0);
  add16(&s, 0);
  add32(&s, 5);
  add(&s, "hello", 5);
  audio_data(&s, pcm + 100, 200);
  audio_data(&s, pcm, 0);
  audio_op(&s, 0);
  /* What the client must answer: its version, None, a shared ClientInit, then SetEncodings
   * [-259], the format (S16, 2 channels, 44100 Hz) and enable. */
  static const uint8_t want[] = {'R', 'F', 'B', ' ', '0', '0', '3',  '.',  '0',  '0',  '8', '\n',
                                 1,   1,   2,   0,   0,   1,   0xff, 0xff, 0xfe, 0xfd, 255, 1,
                                 0,   2,   3,   2,   0,   0,   0xac, 0x44, 255,  1,    0,   0};
  for (size_t step = 0; step <= 13; step++) {
    struct run r;
    run(&r, &s, step);
    assert_string_equal(r.error, "");
    assert_int_equal(r.sent.n, sizeof(want));
    assert_memory_equal(r.sent.b, want, sizeof(want));
    assert_int_equal(r.pcm.n, sizeof(pcm));
    assert_memory_equal(r.pcm.b, pcm, sizeof(pcm));
    r.events[r.n_events] = 0;
    assert_string_equal(r.events, "SSSRBDE");
  }
}

/* A greeting followed by TAIL: the error it ends with. */
static void expect_error(const uint8_t *tail, size_t n, bool after_greeting, const char *want) {
  struct bytes s = {0};
  if (after_greeting)
    server_greeting(&s);
  add(&s, tail, n);
  for (size_t step = 0; step <= 3; step++) {
    struct run r;
    run(&r, &s, step);
    assert_non_null(strstr(r.error, want));
  }
}

static void test_hostile_handshake(void **state) {
  (void)state;
  expect_error((const uint8_t *)"RFB 003.003\n", 12, false, "RFB 3.8");
  expect_error((const uint8_t *)"HTTP/1.1 200", 12, false, "RFB 3.8");
  expect_error((const uint8_t *)"RFB 003.008\n\0", 13, false, "refused");
  expect_error((const uint8_t *)"RFB 003.008\n\x02\x02\x10", 15, false, "authentication");
  expect_error((const uint8_t *)"RFB 003.008\n\x01\x01\0\0\0\x01", 18, false, "refused");
  struct bytes s = {0};
  server_greeting(&s);
  s.b[s.n - 8] = 0x7f; /* the name's length: 2 GiB */
  struct run r;
  run(&r, &s, 0);
  assert_non_null(strstr(r.error, "name"));
}

static void test_hostile_messages(void **state) {
  (void)state;
  /* an update rectangle in a real encoding (raw): its pixels cannot be skipped safely */
  static const uint8_t raw[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0, 8, 0, 0, 0, 0};
  expect_error(raw, sizeof(raw), true, "encoding 0");
  expect_error((const uint8_t *)"\x07", 1, true, "message 7");
  expect_error((const uint8_t *)"\xff\x00\x00\x00", 4, true, "QEMU VNC message");
  expect_error((const uint8_t *)"\xff\x01\x00\x09", 4, true, "audio operation");
  expect_error((const uint8_t *)"\xff\x01\x00\x02\x00\x10\x00\x01", 8, true, "audio message is too long");
  expect_error((const uint8_t *)"\x03\x00\x00\x00\xff\xff\xff\xff", 8, true, "cut text");
  /* colour map entries are skipped (6 bytes each), then a message goes on */
  static const uint8_t cmap[] = {1, 0, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0xff, 1, 0, 1};
  struct bytes s = {0};
  server_greeting(&s);
  add(&s, cmap, sizeof(cmap));
  struct run r;
  run(&r, &s, 1);
  assert_string_equal(r.error, "");
  r.events[r.n_events] = 0;
  assert_string_equal(r.events, "SSSRB");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_session),
      cmocka_unit_test(test_hostile_handshake),
      cmocka_unit_test(test_hostile_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
