/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * disp.c: display control — the browser's `size` becomes a disp monitor
 * layout, or, when the server offers no Display Control channel, a
 * reconnection at the new size (main.c). Also the scale factors for the
 * browser's dpi (settings.c uses them too). Main thread, but for disp_caps
 * (drdynvc's thread).
 */
#include <string.h>

#include <freerdp/gdi/gdi.h>
#include <winpr/synch.h>

#include "worker.h"

#define RESIZE_MIN_MS 500 /* between two resizes of the session (Windows redraws everything) */
#define DISP_WAIT_MS 3000 /* after connecting: how long a server may take to offer disp */

/* RDP's scale factors for the browser's dpi: desktop 100..500 %, device 100, 140 or 180 %. */
UINT32 desktop_scale(long dpi) {
  long s = (dpi * 100 + 48) / 96;
  return (UINT32)(s < 100 ? 100 : s > 500 ? 500 : s);
}

UINT32 device_scale(long dpi) {
  UINT32 s = desktop_scale(dpi);
  return s >= 180 ? 180 : s >= 140 ? 140 : 100;
}

/* drdynvc's thread */
static UINT disp_caps(DispClientContext *d, UINT32 max_monitors, UINT32 fa, UINT32 fb) {
  struct worker *w = d->custom;
  pthread_mutex_lock(&w->lock);
  w->disp.ready = true;
  pthread_mutex_unlock(&w->lock);
  SetEvent(w->chan.ev); /* a resize may be waiting for this */
  return CHANNEL_RC_OK;
}

/* drdynvc's thread: the channel connected (channels.c) */
void disp_attach(struct worker *w, DispClientContext *d) {
  d->custom = w;
  d->DisplayControlCaps = disp_caps;
  pthread_mutex_lock(&w->lock);
  w->disp.ctx = d;
  pthread_mutex_unlock(&w->lock);
}

/* Browser: size,WIDTH,HEIGHT (guacamole-common-js's Client.sendSize) after the handshake. */
void on_size(struct worker *w, struct guac_instr *in) {
  long width, height;
  if (in->argc < 2 || !guac_arg_int(in->argv[0], 1, 1 << 20, &width) ||
      !guac_arg_int(in->argv[1], 1, 1 << 20, &height)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "size: expected a width and a height");
    return;
  }
  /* [MS-RDPEDISP]: 200..8192, the width even */
  width = width < 200 ? 200 : width > 8192 ? 8192 : width & ~1L;
  height = height < 200 ? 200 : height > 8192 ? 8192 : height;
  w->disp.want_w = width;
  w->disp.want_h = height;
}

/* Main loop: carry out a pending resize once RESIZE_MIN_MS passed since the last. 0, or -1 if
 * the session is lost. */
int resize_step(struct worker *w, uint64_t now) {
  if (!w->disp.want_w || now - w->disp.last_resize < RESIZE_MIN_MS)
    return 0;
  rdpGdi *gdi = w->s.instance->context->gdi;
  long width = w->disp.want_w, height = w->disp.want_h;
  fb_lock(w);
  bool same = width == (long)gdi->width && height == (long)gdi->height;
  fb_unlock(w);
  if (same) {
    w->disp.want_w = w->disp.want_h = 0;
    return 0;
  }
  pthread_mutex_lock(&w->lock);
  bool ready = w->disp.ready && w->disp.ctx;
  pthread_mutex_unlock(&w->lock);
  if (ready) {
    DISPLAY_CONTROL_MONITOR_LAYOUT m;
    memset(&m, 0, sizeof(m));
    m.Flags = DISPLAY_CONTROL_MONITOR_PRIMARY;
    m.Width = (UINT32)width;
    m.Height = (UINT32)height;
    m.PhysicalWidth = (UINT32)(width * 254 / (w->hs.dpi * 10));
    m.PhysicalHeight = (UINT32)(height * 254 / (w->hs.dpi * 10));
    m.Orientation = ORIENTATION_LANDSCAPE;
    m.DesktopScaleFactor = desktop_scale(w->hs.dpi);
    m.DeviceScaleFactor = device_scale(w->hs.dpi);
    w->disp.want_w = w->disp.want_h = 0;
    w->disp.last_resize = now;
    w->disp.resizes++;
    if (w->disp.ctx->SendMonitorLayout(w->disp.ctx, 1, &m) != CHANNEL_RC_OK)
      wlog("disp: the monitor layout %ldx%ld could not be sent", width, height);
    return 0; /* the server answers with a DesktopResize (on_desktop_resize) */
  }
  if (now - w->s.connected_at < DISP_WAIT_MS)
    return 0; /* the server may still offer disp */
  w->disp.want_w = w->disp.want_h = 0;
  if (w->disp.size_fixed)
    return 0; /* reconnecting again would give the same size (and loop with a browser that asks again) */
  w->disp.last_resize = now;
  return reconnect(w, width, height);
}
