/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rfb_audio: the client side of RFB that a listener needs and nothing more: the handshake
 * (version 3.7/3.8, security type None, a shared ClientInit), then QEMU's audio extension
 * (pseudo-encoding -259; the QEMU client message 255/1 that sets the PCM format and enables
 * capture; the server message 255/1 with begin, end and data). It asks for no framebuffer
 * updates, so what else a server may send is small: the audio acknowledgement (an update
 * rectangle with encoding -259 and no payload), bells, colour map entries and cut text, which are
 * skipped. Anything else ends the session with a message.
 *
 * Pure: bytes in, events and bytes to send out, no I/O, no allocation. Every length from the
 * server is checked before it is used (names and cut text are skipped as they stream by, audio
 * data is handed on in pieces as it arrives, never buffered here). Used by vncaudio.c; fuzzed by
 * tests/fuzz/fuzz_rfb_audio.c.
 */
#ifndef QHM_RFB_AUDIO_H
#define QHM_RFB_AUDIO_H

#include <stddef.h>
#include <stdint.h>

/* What is asked of QEMU: signed 16-bit little-endian PCM, interleaved. */
#define RFB_AUDIO_RATE 44100u
#define RFB_AUDIO_CHANNELS 2u
#define RFB_AUDIO_FRAME_BYTES (2u * RFB_AUDIO_CHANNELS)
#define RFB_AUDIO_MAX_DATA (1u << 20) /* one data message; QEMU sends a mixing period's worth */
#define RFB_AUDIO_MAX_NAME 4096u      /* the desktop name in ServerInit */
#define RFB_AUDIO_MAX_CUT (1u << 20)  /* cut text, skipped */

enum rfb_audio_event {
  RFB_AUDIO_NONE,  /* more bytes needed */
  RFB_AUDIO_SEND,  /* send out[0..out_len) to the server */
  RFB_AUDIO_READY, /* the handshake is done and capture was asked for (out holds those messages) */
  RFB_AUDIO_BEGIN, /* the guest started playing */
  RFB_AUDIO_END,   /* ... and stopped */
  RFB_AUDIO_DATA,  /* data[0..data_len) is PCM (a piece of a message: not frame-aligned) */
  RFB_AUDIO_ERROR, /* the session cannot go on: error names why */
};

struct rfb_audio {
  int state;
  size_t have;     /* bytes of the current fixed-size part in hdr */
  uint8_t hdr[24]; /* the fixed-size part being gathered */
  uint32_t skip;   /* bytes still to skip (a name, cut text, colour map entries) */
  uint32_t data;   /* audio data bytes still to come in the current message */
  uint16_t rects;  /* update rectangles still to come */
  int after_skip;  /* the state to go to once skip is 0 */
  uint8_t out[32]; /* what to send (valid with RFB_AUDIO_SEND / RFB_AUDIO_READY) */
  size_t out_len;
  const uint8_t *data_ptr; /* RFB_AUDIO_DATA */
  size_t data_len;
  char error[96];
};

void rfb_audio_init(struct rfb_audio *p);
/* Consume bytes from BUF (LEN > 0) until one event is ready or BUF is used up. Returns the event;
 * *USED says how many bytes were taken (call again with the rest). After RFB_AUDIO_ERROR every
 * call returns RFB_AUDIO_ERROR. */
enum rfb_audio_event rfb_audio_feed(struct rfb_audio *p, const uint8_t *buf, size_t len, size_t *used);

#endif
