/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness: bytes from a hostile VNC server to the sound listener's RFB client
 * (bridge/vnc-ws/rfb_audio.c). The input is fed twice, whole and in pieces whose sizes come from
 * its own bytes, and the two runs must agree (the same events, the same PCM in total): a parser
 * that depends on how reads split the stream would play other sound on a slow network.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rfb_audio.h"

struct summary {
  unsigned events[8];
  size_t pcm;
  uint32_t pcm_sum;
};

static void feed(const uint8_t *data, size_t size, size_t step, struct summary *s) {
  struct rfb_audio p;
  rfb_audio_init(&p);
  memset(s, 0, sizeof(*s));
  size_t off = 0;
  while (off < size) {
    size_t len = step && size - off > step ? step : size - off;
    size_t at = 0;
    while (at < len) {
      size_t used;
      enum rfb_audio_event e = rfb_audio_feed(&p, data + off + at, len - at, &used);
      if (used > len - at)
        abort();
      at += used;
      s->events[e]++;
      if (e == RFB_AUDIO_DATA) {
        if (p.data_ptr < data + off || p.data_ptr + p.data_len > data + off + len)
          abort();
        s->pcm += p.data_len;
        for (size_t i = 0; i < p.data_len; i++)
          s->pcm_sum = s->pcm_sum * 31u + p.data_ptr[i];
      }
      if (e == RFB_AUDIO_ERROR)
        return;
      if (e == RFB_AUDIO_NONE && at != len)
        abort();
    }
    off += len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct summary whole, pieces;
  feed(data, size, 0, &whole);
  feed(data, size, size ? 1u + data[0] % 7u : 1u, &pieces);
  /* DATA and NONE counts depend on the split; the rest must not. */
  whole.events[RFB_AUDIO_DATA] = pieces.events[RFB_AUDIO_DATA] = 0;
  whole.events[RFB_AUDIO_NONE] = pieces.events[RFB_AUDIO_NONE] = 0;
  if (memcmp(&whole, &pieces, sizeof(whole)) != 0)
    abort();
  return 0;
}
