/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * audin.c: the microphone — our audin device (subsystem "qhm", loaded by
 * channels.c) fed by the browser's `audio` stream (Guacamole.AudioRecorder),
 * converted to the server's format when it differs (rdp_pcm.c). The device's
 * callbacks run on drdynvc's thread; the browser's stream (on_audio_in,
 * on_mic_blob) is handled on the main thread.
 */
#include <stdio.h>
#include <stdlib.h>

#include "worker.h"

struct qmic {
  IAudinDevice dev; /* first */
  struct worker *w;
};

static BOOL mic_format_supported(IAudinDevice *dev, const AUDIO_FORMAT *f) {
  return pcm16_supported(f);
}

static UINT mic_set_format(IAudinDevice *dev, const AUDIO_FORMAT *f, UINT32 frames_per_packet) {
  struct worker *w = ((struct qmic *)dev)->w;
  pthread_mutex_lock(&w->lock);
  w->mic.format = *f;
  w->mic.format.cbSize = 0;
  w->mic.format.data = NULL;
  pthread_mutex_unlock(&w->lock);
  return CHANNEL_RC_OK;
}

static UINT mic_open(IAudinDevice *dev, AudinReceive receive, void *user) {
  struct worker *w = ((struct qmic *)dev)->w;
  pthread_mutex_lock(&w->lock);
  w->mic.receive = receive;
  w->mic.user = user;
  w->mic.conv.in_rate = 0; /* a new recording: the converter starts afresh */
  pthread_mutex_unlock(&w->lock);
  return CHANNEL_RC_OK;
}

static UINT mic_close(IAudinDevice *dev) {
  struct worker *w = ((struct qmic *)dev)->w;
  pthread_mutex_lock(&w->lock);
  w->mic.receive = NULL;
  pthread_mutex_unlock(&w->lock);
  return CHANNEL_RC_OK;
}

static UINT mic_free(IAudinDevice *dev) {
  free(dev);
  return CHANNEL_RC_OK;
}

UINT mic_entry(PFREERDP_AUDIN_DEVICE_ENTRY_POINTS ep) {
  struct qmic *q = calloc(1, sizeof(*q));
  if (!q)
    return CHANNEL_RC_NO_MEMORY;
  q->w = the_worker;
  q->dev.Open = mic_open;
  q->dev.FormatSupported = mic_format_supported;
  q->dev.SetFormat = mic_set_format;
  q->dev.Close = mic_close;
  q->dev.Free = mic_free;
  UINT rc = ep->pRegisterAudinDevice(ep->plugin, &q->dev);
  if (rc != CHANNEL_RC_OK)
    free(q);
  return rc;
}

/* Browser: audio,STREAM,audio/L16;rate=R,channels=C — the microphone. Other types are refused. */
void on_audio_in(struct worker *w, struct guac_instr *in) {
  long sid;
  unsigned rate = 0, channels = 0;
  char tail;
  if (in->argc < 2 || !guac_arg_int(in->argv[0], 0, 0x7fffffffL, &sid)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "audio: expected a stream and a mimetype");
    return;
  }
  if (sscanf(in->argv[1], "audio/L16;rate=%u,channels=%u%c", &rate, &channels, &tail) != 2 || rate < 8000 ||
      rate > 48000 || channels < 1 || channels > 2) {
    guac_putl(&w->link.out, "ack", in->argv[0], "audio/L16;rate=8000..48000,channels=1|2 only", "783", NULL);
    return; /* 0x030F: client bad type */
  }
  w->mic.stream = sid;
  w->mic.rate = rate;
  w->mic.channels = channels;
  guac_putl(&w->link.out, "ack", in->argv[0], "OK", "0", NULL);
}

/* Browser: blob of the microphone stream. PCM in the format the server chose goes to it; any
 * other (or while the server does not record) is dropped: no resampling here. */
bool on_mic_blob(struct worker *w, struct guac_instr *in, long sid) {
  if (sid != w->mic.stream)
    return false;
  size_t b64 = in->argl[1];
  unsigned char *pcm = malloc(b64 / 4 * 3 + 3);
  if (!pcm)
    return true;
  size_t n = guac_base64_decode(in->argv[1], b64, pcm);
  if (n == (size_t)-1) {
    free(pcm);
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "blob: not base64");
    return true;
  }
  /* Under the lock: audin's thread must not close the channel while its callback runs (the
   * callback only queues a write, it never waits for that thread). */
  pthread_mutex_lock(&w->lock);
  const AUDIO_FORMAT *f = &w->mic.format;
  unsigned char *data = pcm, *conv = NULL;
  size_t len = n;
  if (w->mic.receive && n % (2u * w->mic.channels) == 0 &&
      (f->nSamplesPerSec != w->mic.rate || f->nChannels != w->mic.channels)) {
    /* The server chose another format than the browser records: convert (rdp_pcm.c). */
    struct rdp_pcm *c = &w->mic.conv;
    if (c->in_rate != w->mic.rate || c->in_ch != w->mic.channels || c->out_rate != f->nSamplesPerSec ||
        c->out_ch != f->nChannels)
      rdp_pcm_init(c, w->mic.rate, w->mic.channels, f->nSamplesPerSec, f->nChannels);
    size_t frames = n / (2u * w->mic.channels);
    conv = malloc(rdp_pcm_max_out(c, frames) * 2u * f->nChannels);
    len = conv ? rdp_pcm_convert(c, (const int16_t *)pcm, frames, (int16_t *)conv) * 2u * f->nChannels : 0;
    data = conv;
  }
  if (w->mic.receive && data && len % (2u * f->nChannels) == 0 &&
      (len == 0 || w->mic.receive(f, data, len, w->mic.user) == CHANNEL_RC_OK))
    w->mic.bytes += n;
  else
    w->mic.dropped += n;
  pthread_mutex_unlock(&w->lock);
  free(conv);
  free(pcm);
  guac_putl(&w->link.out, "ack", in->argv[0], "OK", "0", NULL);
  return true;
}
