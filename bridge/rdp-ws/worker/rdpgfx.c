/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rdpgfx.c: the graphics pipeline. FreeRDP's GDI decodes it (gdi/gfx.c) into
 * the same framebuffer as the legacy path; we only watch which codecs the
 * server uses (logged at exit) and which version it chose. drdynvc's thread,
 * but for gfx_codecs_used (main thread, after the session).
 */
#include <stdio.h>

#include <freerdp/gdi/gdi.h>
#include <freerdp/gdi/gfx.h>

#include "worker.h"

static const struct {
  UINT16 id;
  const char *name;
} gfx_codec_names[RDPGFX_CODECS] = {
    {RDPGFX_CODECID_UNCOMPRESSED, "uncompressed"},
    {RDPGFX_CODECID_CAVIDEO, "remotefx"},
    {RDPGFX_CODECID_CLEARCODEC, "clearcodec"},
    {RDPGFX_CODECID_CAPROGRESSIVE, "progressive"},
    {RDPGFX_CODECID_PLANAR, "planar"},
    {RDPGFX_CODECID_AVC420, "avc420"},
    {RDPGFX_CODECID_ALPHA, "alpha"},
    {RDPGFX_CODECID_AVC444, "avc444"},
    {RDPGFX_CODECID_AVC444v2, "avc444v2"},
};

/* drdynvc's thread, holding gfx->mux */
static UINT gfx_surface_command(RdpgfxClientContext *g, const RDPGFX_SURFACE_COMMAND *cmd) {
  struct worker *w = W(((rdpGdi *)g->custom)->context);
  for (size_t i = 0; i < RDPGFX_CODECS; i++)
    if (gfx_codec_names[i].id == cmd->codecId)
      w->gfx.codec_count[i]++;
  return w->gfx.surface_command(g, cmd);
}

static UINT gfx_caps_confirm(RdpgfxClientContext *g, const RDPGFX_CAPS_CONFIRM_PDU *c) {
  struct worker *w = W(((rdpGdi *)g->custom)->context);
  if (c && c->capsSet)
    wlog("gfx: the server chose version 0x%05x, flags 0x%x%s", (unsigned)c->capsSet->version,
         (unsigned)c->capsSet->flags,
         (c->capsSet->flags & RDPGFX_CAPS_FLAG_AVC_DISABLED) ? " (no H.264)" : "");
  return w->gfx.caps_confirm ? w->gfx.caps_confirm(g, c) : CHANNEL_RC_OK;
}

void gfx_attach(struct worker *w, rdpContext *ctx, RdpgfxClientContext *g) {
  if (!gdi_graphics_pipeline_init(ctx->gdi, g)) {
    wlog("gfx: the graphics pipeline could not be set up");
    return;
  }
  w->gfx.surface_command = g->SurfaceCommand;
  g->SurfaceCommand = gfx_surface_command;
  w->gfx.caps_confirm = g->CapsConfirm;
  g->CapsConfirm = gfx_caps_confirm;
}

/* "avc420 1234, planar 5" for the exit line */
void gfx_codecs_used(struct worker *w, char *out, size_t len) {
  size_t n = 0;
  out[0] = 0;
  for (size_t i = 0; i < RDPGFX_CODECS && n < len; i++)
    if (w->gfx.codec_count[i])
      n += (size_t)snprintf(out + n, len - n, "%s%s %lu", n ? ", " : "", gfx_codec_names[i].name,
                            w->gfx.codec_count[i]);
  if (!out[0])
    snprintf(out, len, "%s", w->gfx.mode == GFX_OFF ? "off" : "none used");
}
