/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rdp_pcm: see rdp_pcm.h. Pure; any thread. */
#include "rdp_pcm.h"

void rdp_pcm_init(struct rdp_pcm *p, unsigned in_rate, unsigned in_ch, unsigned out_rate, unsigned out_ch) {
  p->in_rate = in_rate;
  p->in_ch = in_ch;
  p->out_rate = out_rate;
  p->out_ch = out_ch;
  p->acc = 0;
  p->have_last = false;
  p->last[0] = p->last[1] = 0;
}

size_t rdp_pcm_max_out(const struct rdp_pcm *p, size_t in_frames) {
  /* one more for the frame between the previous block and this one, one for rounding */
  return (size_t)(((uint64_t)in_frames + 1) * p->out_rate / p->in_rate) + 2;
}

/* Input frame I (-1 = the previous block's last) in the output's channels. */
static int16_t sample(const struct rdp_pcm *p, const int16_t *in, long i, unsigned ch) {
  if (i < 0)
    return p->last[ch];
  const int16_t *f = in + (size_t)i * p->in_ch;
  if (p->in_ch == p->out_ch)
    return f[ch];
  if (p->in_ch == 2) /* stereo -> mono */
    return (int16_t)(((int32_t)f[0] + f[1]) / 2);
  return f[0]; /* mono -> stereo */
}

size_t rdp_pcm_convert(struct rdp_pcm *p, const int16_t *in, size_t in_frames, int16_t *out) {
  if (in_frames == 0)
    return 0;
  const int64_t step = p->in_rate, unit = p->out_rate;
  size_t n = 0;
  /* Output frame at time acc/unit (input frames from this block's first); it lies between
   * input frames i and i+1, both needed: i+1 <= in_frames-1. i = -1 is the kept last frame. */
  for (;;) {
    int64_t i = p->acc >= 0 ? p->acc / unit : -1;
    if (i + 1 > (int64_t)in_frames - 1)
      break;
    int64_t frac = p->acc - i * unit; /* 0..unit-1 */
    for (unsigned c = 0; c < p->out_ch; c++) {
      int32_t a = sample(p, in, (long)i, c), b = sample(p, in, (long)i + 1, c);
      out[n * p->out_ch + c] = (int16_t)(a + (int32_t)(((int64_t)(b - a) * frac) / unit));
    }
    n++;
    p->acc += step;
  }
  /* The next block starts IN_FRAMES input frames later; its frame -1 is our last. */
  p->acc -= (int64_t)in_frames * unit;
  for (unsigned c = 0; c < p->out_ch; c++)
    p->last[c] = sample(p, in, (long)in_frames - 1, c);
  p->have_last = true;
  return n;
}
