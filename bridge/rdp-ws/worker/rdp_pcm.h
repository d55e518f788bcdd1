/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rdp_pcm: the microphone's 16-bit PCM from the browser (its rate and channels)
 * into the format the RDP server chose for audin: channels mixed down (stereo ->
 * mono: the mean) or duplicated (mono -> stereo), then the rate changed by linear
 * interpolation, continuous across blocks (the last frame of a block is kept for
 * the next). Good enough for speech; pure, no allocation.
 */
#ifndef QHM_RDP_PCM_H
#define QHM_RDP_PCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rdp_pcm {
  unsigned in_rate, in_ch, out_rate, out_ch;
  int64_t acc;     /* the next output frame's time, in 1/out_rate input frames from the block start */
  int16_t last[2]; /* the previous block's last frame, already in out_ch channels */
  bool have_last;
};

/* Rates 1..192000, channels 1 or 2. */
void rdp_pcm_init(struct rdp_pcm *p, unsigned in_rate, unsigned in_ch, unsigned out_rate, unsigned out_ch);

/* The most output frames IN_FRAMES input frames can give. */
size_t rdp_pcm_max_out(const struct rdp_pcm *p, size_t in_frames);

/* IN_FRAMES interleaved frames of IN (host-endian S16) -> OUT (room for rdp_pcm_max_out frames);
 * returns the frames written. */
size_t rdp_pcm_convert(struct rdp_pcm *p, const int16_t *in, size_t in_frames, int16_t *out);

#endif
