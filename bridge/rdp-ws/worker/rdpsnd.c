/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rdpsnd.c: audio out — our rdpsnd device (subsystem "qhm", loaded by
 * channels.c) writing Guacamole audio/L16 on stream AUDIO_STREAM. Its
 * callbacks run on rdpsnd's thread and reach the browser through chan_put;
 * on_ack (the browser's answer) on the main thread.
 */
#include <stdio.h>
#include <stdlib.h>

#include "worker.h"

#define AUDIO_STREAM_ID 66u /* rdpsnd PCM toward the browser */
#define AUDIO_STREAM "66"
#define AUDIO_BACKLOG_MS 250 /* audio not yet taken by the main loop beyond this is dropped */

struct qsnd {
  rdpsndDevicePlugin dev; /* first */
  struct worker *w;
};

static BOOL snd_format_supported(rdpsndDevicePlugin *dev, const AUDIO_FORMAT *f) {
  return pcm16_supported(f);
}

static BOOL snd_open(rdpsndDevicePlugin *dev, const AUDIO_FORMAT *f, UINT32 latency) {
  struct worker *w = ((struct qsnd *)dev)->w;
  if (!f || !snd_format_supported(dev, f))
    return FALSE;
  pthread_mutex_lock(&w->lock);
  bool same = w->snd.open && w->snd.rate == f->nSamplesPerSec && w->snd.channels == f->nChannels;
  pthread_mutex_unlock(&w->lock);
  if (same)
    return TRUE;
  char mime[64];
  snprintf(mime, sizeof(mime), "audio/L16;rate=%u,channels=%u", (unsigned)f->nSamplesPerSec,
           (unsigned)f->nChannels);
  struct guac_buf b = {0};
  pthread_mutex_lock(&w->lock);
  if (w->snd.open)
    guac_putl(&b, "end", AUDIO_STREAM, NULL);
  guac_putl(&b, "audio", AUDIO_STREAM, mime, NULL);
  w->snd.open = true;
  w->snd.refused = false;
  w->snd.rate = f->nSamplesPerSec;
  w->snd.channels = f->nChannels;
  pthread_mutex_unlock(&w->lock);
  chan_put(w, &b);
  guac_buf_free(&b);
  return TRUE;
}

/* PCM to the browser, or dropped: when the browser refused the stream, or when more than
 * AUDIO_BACKLOG_MS of it still waits for the main loop (which is blocked writing to a slow
 * browser) — late sound is worse than a gap. */
static UINT snd_play(rdpsndDevicePlugin *dev, const BYTE *data, size_t size) {
  struct worker *w = ((struct qsnd *)dev)->w;
  pthread_mutex_lock(&w->lock);
  size_t backlog = (size_t)w->snd.rate * w->snd.channels * 2 * AUDIO_BACKLOG_MS / 1000;
  bool drop = !w->snd.open || w->snd.refused || w->snd.pending + size > backlog;
  if (drop)
    w->snd.dropped += size;
  pthread_mutex_unlock(&w->lock);
  if (drop)
    return 0;
  struct guac_buf b = {0};
  for (size_t off = 0; off < size; off += GUAC_BLOB_BYTES)
    guac_put_blob(&b, AUDIO_STREAM_ID, data + off,
                  size - off < GUAC_BLOB_BYTES ? size - off : GUAC_BLOB_BYTES);
  pthread_mutex_lock(&w->lock);
  w->snd.pending += size;
  w->snd.bytes += size;
  pthread_mutex_unlock(&w->lock);
  chan_put(w, &b);
  guac_buf_free(&b);
  return 0;
}

static BOOL snd_set_volume(rdpsndDevicePlugin *dev, UINT32 v) {
  return TRUE; /* the browser's own volume applies */
}

static UINT32 snd_get_volume(rdpsndDevicePlugin *dev) {
  return 0xffffffffu;
}

static void snd_close(rdpsndDevicePlugin *dev) {
  struct worker *w = ((struct qsnd *)dev)->w;
  struct guac_buf b = {0};
  pthread_mutex_lock(&w->lock);
  if (w->snd.open)
    guac_putl(&b, "end", AUDIO_STREAM, NULL);
  w->snd.open = false;
  pthread_mutex_unlock(&w->lock);
  if (b.len)
    chan_put(w, &b);
  guac_buf_free(&b);
}

static void snd_free(rdpsndDevicePlugin *dev) {
  free(dev);
}

UINT snd_entry(PFREERDP_RDPSND_DEVICE_ENTRY_POINTS ep) {
  struct qsnd *q = calloc(1, sizeof(*q));
  if (!q)
    return CHANNEL_RC_NO_MEMORY;
  q->w = the_worker;
  q->dev.FormatSupported = snd_format_supported;
  q->dev.Open = snd_open;
  q->dev.Play = snd_play;
  q->dev.SetVolume = snd_set_volume;
  q->dev.GetVolume = snd_get_volume;
  q->dev.Close = snd_close;
  q->dev.Free = snd_free;
  ep->pRegisterRdpsndDevice(ep->rdpsnd, &q->dev);
  return CHANNEL_RC_OK;
}

/* Browser: ack,STREAM,MESSAGE,STATUS — an error on the audio stream means it cannot play it. */
void on_ack(struct worker *w, struct guac_instr *in) {
  long status;
  if (in->argc < 3 || strcmp(in->argv[0], AUDIO_STREAM) != 0 ||
      !guac_arg_int(in->argv[2], 0, 0xffff, &status))
    return;
  if (status != 0) {
    pthread_mutex_lock(&w->lock);
    w->snd.refused = true;
    pthread_mutex_unlock(&w->lock);
  }
}
