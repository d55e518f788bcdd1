/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * channels.c: which channels are loaded (FreeRDP's static ones, plus our rdpsnd
 * and audin devices as their subsystem "qhm") and, as each connects, which
 * file takes it over. FreeRDP calls these on the main thread (pre-connect) and
 * on the channels' threads (connected, disconnected).
 */
#include <string.h>

#include <freerdp/addin.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/event.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/gdi/gfx.h>

#include "worker.h"

/* FreeRDP's static channels, plus our rdpsnd and audin devices as their subsystem "qhm". */
static PVIRTUALCHANNELENTRY load_addin(LPCSTR name, LPCSTR subsystem, LPCSTR type, DWORD flags) {
  if (name && subsystem && strcmp(name, "rdpsnd") == 0 && strcmp(subsystem, "qhm") == 0)
    return (PVIRTUALCHANNELENTRY)snd_entry;
  if (name && subsystem && strcmp(name, "audin") == 0 && strcmp(subsystem, "qhm") == 0)
    return (PVIRTUALCHANNELENTRY)mic_entry;
  return freerdp_channels_load_static_addin_entry(name, subsystem, type, flags);
}

static void on_channel_connected(void *context, ChannelConnectedEventArgs *e) {
  struct worker *w = W(context);
  if (strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0) {
    clip_attach(w, e->pInterface);
  } else if (strcmp(e->name, RAIL_SVC_CHANNEL_NAME) == 0) {
    rail_attach(w, e->pInterface);
  } else if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) == 0) {
    gfx_attach(w, context, e->pInterface);
  } else if (strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0) {
    disp_attach(w, e->pInterface);
  }
}

static void on_channel_disconnected(void *context, ChannelDisconnectedEventArgs *e) {
  struct worker *w = W(context);
  if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) == 0 && ((rdpContext *)context)->gdi)
    gdi_graphics_pipeline_uninit(((rdpContext *)context)->gdi, e->pInterface);
  pthread_mutex_lock(&w->lock);
  if (strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0) {
    w->clip.ctx = NULL;
    w->clip.ready = false;
  } else if (strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0) {
    w->disp.ctx = NULL;
    w->disp.ready = false;
  }
  pthread_mutex_unlock(&w->lock);
}

BOOL on_pre_connect(freerdp *instance) {
  rdpContext *ctx = instance->context;
  /* Channels are linked into libfreerdp-client; later features (rdpsnd, cliprdr, rdpdr, disp,
   * rail) are turned on through settings and loaded here. */
  freerdp_register_addin_provider(load_addin, 0);
  if (W(ctx)->hs.audio_l16) { /* our device, before FreeRDP adds rdpsnd with its own (fake) one */
    char *sv[] = {"rdpsnd", "sys:qhm"};
    if (!freerdp_client_add_static_channel(instance->settings, 2, sv) ||
        !freerdp_client_add_dynamic_channel(instance->settings, 2, sv))
      return FALSE;
    char *mv[] = {"audin", "sys:qhm"}; /* the microphone: silent until the browser streams */
    if (!freerdp_client_add_dynamic_channel(instance->settings, 2, mv))
      return FALSE;
  }
  PubSub_SubscribeChannelConnected(ctx->pubSub, on_channel_connected);
  PubSub_SubscribeChannelDisconnected(ctx->pubSub, on_channel_disconnected);
  if (!freerdp_client_load_addins(ctx->channels, instance->settings))
    return FALSE;
  return TRUE;
}
