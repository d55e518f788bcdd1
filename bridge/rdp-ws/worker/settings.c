/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * settings.c: what FreeRDP is told from the daemon's arguments (the handshake's
 * `connect` values and `size`): its settings before connecting, and its
 * questions answered (credentials: never prompted; certificates: the policy
 * below). Main thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <freerdp/client/cmdline.h>
#include <freerdp/codec/color.h>
#include <freerdp/codec/h264.h>
#include <freerdp/codec/nsc.h>
#include <freerdp/settings.h>

#include "worker.h"

#define RDP_DRIVE_NAME "qemuhmos" /* when the daemon names none; RDP keeps 8 characters */

/* The server and the credentials (the daemon's; never prompted: on_authenticate). */
static void set_server(struct worker *w, rdpSettings *s, const char *host, long port) {
  freerdp_settings_set_string(s, FreeRDP_ServerHostname, host);
  freerdp_settings_set_uint32(s, FreeRDP_ServerPort, (UINT32)port);
  if (w->hs.args[ARG_USERNAME][0])
    freerdp_settings_set_string(s, FreeRDP_Username, w->hs.args[ARG_USERNAME]);
  if (w->hs.args[ARG_PASSWORD][0])
    freerdp_settings_set_string(s, FreeRDP_Password, w->hs.args[ARG_PASSWORD]);
  if (w->hs.args[ARG_DOMAIN][0])
    freerdp_settings_set_string(s, FreeRDP_Domain, w->hs.args[ARG_DOMAIN]);
}

/* The desktop: the browser's size and dpi, resizable, drawn by FreeRDP's software GDI. */
static void set_screen(struct worker *w, rdpSettings *s) {
  freerdp_settings_set_uint32(s, FreeRDP_DesktopWidth, (UINT32)w->hs.width);
  freerdp_settings_set_uint32(s, FreeRDP_DesktopHeight, (UINT32)w->hs.height);
  /* HiDPI: the browser's devicePixelRatio as RDP's scale factors (core data and disp layouts) */
  freerdp_settings_set_uint32(s, FreeRDP_DesktopScaleFactor, desktop_scale(w->hs.dpi));
  freerdp_settings_set_uint32(s, FreeRDP_DeviceScaleFactor, device_scale(w->hs.dpi));
  freerdp_settings_set_uint32(s, FreeRDP_DesktopPhysicalWidth,
                              (UINT32)(w->hs.width * 254 / (w->hs.dpi * 10)));
  freerdp_settings_set_uint32(s, FreeRDP_DesktopPhysicalHeight,
                              (UINT32)(w->hs.height * 254 / (w->hs.dpi * 10)));
  freerdp_settings_set_bool(s, FreeRDP_SupportDisplayControl, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_DesktopResize, TRUE);
  freerdp_settings_set_uint32(s, FreeRDP_ColorDepth, 32);
  freerdp_settings_set_bool(s, FreeRDP_SoftwareGdi, TRUE);
}

static void set_graphics(struct worker *w, rdpSettings *s) {
  /* The graphics pipeline (what Windows 8+ servers prefer), with H.264 (AVC420/AVC444) when
   * FreeRDP has a decoder (Debian's: FFmpeg) and the daemon asks for it (`graphics`: gfx-h264,
   * gfx or legacy). QHM_RDP_GFX (the same words) overrides it, for servers that misbehave.
   * FreeRDP's GDI decodes every codec into the same framebuffer, which we encode for the
   * browser as usual. */
  const char *gm = getenv("QHM_RDP_GFX");
  if (!gm || !gm[0])
    gm = w->hs.args[ARG_GRAPHICS];
  w->gfx.mode = strcmp(gm, "legacy") == 0 ? GFX_OFF : strcmp(gm, "gfx") == 0 ? GFX_NO_H264 : GFX_ON;
  bool h264 = false; /* FreeRDP has an H.264 decoder: offered to the server */
  if (w->gfx.mode == GFX_ON) {
    H264_CONTEXT *h = h264_context_new(FALSE);
    h264 = h != NULL;
    h264_context_free(h);
    if (!h264)
      wlog("gfx: FreeRDP has no H.264 decoder here: the server is offered the other codecs");
  }
  freerdp_settings_set_bool(s, FreeRDP_SupportGraphicsPipeline, w->gfx.mode != GFX_OFF);
  freerdp_settings_set_bool(s, FreeRDP_GfxH264, h264);
  freerdp_settings_set_bool(s, FreeRDP_GfxAVC444, h264);
  freerdp_settings_set_bool(s, FreeRDP_GfxAVC444v2, h264);
  freerdp_settings_set_bool(s, FreeRDP_GfxProgressive, w->gfx.mode != GFX_OFF);
  freerdp_settings_set_bool(s, FreeRDP_GfxProgressiveV2, w->gfx.mode != GFX_OFF);
  freerdp_settings_set_bool(s, FreeRDP_GfxThinClient, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_GfxSmallCache, FALSE);
}

/* The transport and FreeRDP's own files. */
static void set_transport(struct worker *w, rdpSettings *s) {
  freerdp_settings_set_bool(s, FreeRDP_AutoReconnectionEnabled, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_FastPathOutput, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_FastPathInput, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_IgnoreCertificate, FALSE);
  freerdp_settings_set_uint32(s, FreeRDP_TcpConnectTimeout, 10000);
  /* A certificate FreeRDP finds in its known_hosts is accepted without asking us: give it a store
   * of its own, which stays empty (we accept "for this session only"). */
  if (w->hs.config_dir)
    freerdp_settings_set_string(s, FreeRDP_ConfigPath, w->hs.config_dir);
}

static void set_clipboard_audio(struct worker *w, rdpSettings *s) {
  /* Channels: cliprdr (text), disp, rdpsnd (when the browser plays audio/L16), rdpdr (the
   * shared folder, when the daemon gives one). Audio input stays off: nothing records yet. */
  freerdp_settings_set_bool(s, FreeRDP_RedirectClipboard, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_AudioPlayback, w->hs.audio_l16);
  freerdp_settings_set_bool(s, FreeRDP_AudioCapture, w->hs.audio_l16);
}

static int set_remote_app(struct worker *w, rdpSettings *s) {
  /* One program instead of the desktop: RemoteApp (rail) or, in a full session, the alternate shell */
  const char *app = w->hs.args[ARG_REMOTE_APP];
  if (app[0] && strcmp(w->hs.args[ARG_REMOTE_APP_MODE], "shell") == 0) {
    const char *args = w->hs.args[ARG_REMOTE_APP_ARGS];
    size_t n = strlen(app) + strlen(args) + 4;
    char *cmd = malloc(n);
    if (!cmd)
      return -1;
    snprintf(cmd, n, "\"%s\"%s%s", app, args[0] ? " " : "", args); /* the daemon refused '"' in APP */
    freerdp_settings_set_string(s, FreeRDP_AlternateShell, cmd);
    free(cmd);
  } else if (app[0]) {
    freerdp_settings_set_bool(s, FreeRDP_RemoteApplicationMode, TRUE);
    freerdp_settings_set_string(s, FreeRDP_RemoteApplicationProgram, app);
    freerdp_settings_set_string(s, FreeRDP_RemoteApplicationCmdLine, w->hs.args[ARG_REMOTE_APP_ARGS]);
    freerdp_settings_set_bool(s, FreeRDP_RemoteAppLanguageBarSupported, TRUE);
  }
  return 0;
}

static int set_drive(struct worker *w, rdpSettings *s) {
  /* rdpdr: FreeRDP's own drive channel serves the shared folder (its thread, its file I/O) */
  const char *drive = w->hs.args[ARG_DRIVE_PATH];
  freerdp_settings_set_bool(s, FreeRDP_DeviceRedirection, drive[0] != 0);
  if (drive[0]) {
    char *dv[] = {"drive",
                  (char *)(w->hs.args[ARG_DRIVE_NAME][0] ? w->hs.args[ARG_DRIVE_NAME] : RDP_DRIVE_NAME),
                  (char *)drive};
    /* Not FreeRDP_RedirectDrives: it adds a hotplug poller of the host's mounts, whose thread
     * takes ~0.8 s to stop at every disconnect (measured), for drives we never redirect. */
    if (!freerdp_client_add_device_channel(s, 3, dv)) {
      send_error(w, GUAC_S_SERVER_ERROR, "the shared folder cannot be redirected");
      return -1;
    }
  }
  return 0;
}

/* Does this FreeRDP decode an NSCodec bitmap away from the surface's corner? Debian's
 * 2.11.7+dfsg1-6~deb12u2 (its fix for CVE-2026-31806) does not: it takes the rectangle's size,
 * which is what its own gdi passes, for the surface's, and refuses a bitmap placed further than
 * its own width or height from the corner -- so the first such update ends the session ("Failed
 * to process NSCodec message"). Asked once per session: an 8x8 bitmap composed here and decoded
 * at (16,16) into a 32x32 surface (a few microseconds). */
static bool nsc_decodes_at_offset(void) {
  BYTE src[8 * 8 * 4], dst[32 * 32 * 4];
  for (size_t i = 0; i < sizeof(src); i++)
    src[i] = (BYTE)(i * 29);
  NSC_CONTEXT *enc = nsc_context_new(), *dec = nsc_context_new();
  wStream *st = Stream_New(NULL, 1024);
  bool ok = enc && dec && st && nsc_context_set_parameters(enc, NSC_COLOR_FORMAT, PIXEL_FORMAT_BGRX32) &&
            nsc_context_reset(enc, 8, 8) && nsc_compose_message(enc, st, src, 8, 8, 8 * 4) &&
            nsc_process_message(dec, 32, 8, 8, Stream_Buffer(st), (UINT32)Stream_GetPosition(st), dst,
                                PIXEL_FORMAT_BGRX32, 32 * 4, 16, 16, 8, 8, FREERDP_FLIP_NONE);
  Stream_Free(st, TRUE);
  nsc_context_free(enc);
  nsc_context_free(dec);
  return ok;
}

/* NSCodec (lossless surface bits) lets servers that offer it skip planar bitmaps: measured
 * with freerdp-shadow-cli, 8 -> 15 full-screen frames per second at the same bytes per frame.
 * Not offered where the decoder is broken (above). RemoteFX, progressive and H.264 come with
 * the graphics pipeline (set_graphics). */
static void set_codecs(rdpSettings *s) {
  bool nsc = nsc_decodes_at_offset();
  if (!nsc)
    wlog("NSCodec: this FreeRDP refuses bitmaps away from the corner (Debian's CVE-2026-31806 fix): not "
         "offered");
  freerdp_settings_set_bool(s, FreeRDP_NSCodec, nsc);
  freerdp_settings_set_uint32(s, FreeRDP_NSCodecColorLossLevel, 1); /* 1 = lossless */
  freerdp_settings_set_bool(s, FreeRDP_NSCodecAllowSubsampling, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_NSCodecAllowDynamicColorFidelity, FALSE);
}

/* Security: one protocol when the daemon names one; never NLA without credentials. */
static int set_security(struct worker *w, rdpSettings *s) {
  const char *sec = w->hs.args[ARG_SECURITY];
  if (sec[0] && strcmp(sec, "any") != 0) {
    bool nla = strcmp(sec, "nla") == 0, tls = strcmp(sec, "tls") == 0, rdp = strcmp(sec, "rdp") == 0;
    if (!nla && !tls && !rdp) {
      send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "security: must be any, nla, tls or rdp");
      return -1;
    }
    freerdp_settings_set_bool(s, FreeRDP_NlaSecurity, nla);
    freerdp_settings_set_bool(s, FreeRDP_TlsSecurity, tls);
    freerdp_settings_set_bool(s, FreeRDP_RdpSecurity, rdp);
  }
  if (!w->hs.args[ARG_USERNAME][0]) /* NLA needs credentials */
    freerdp_settings_set_bool(s, FreeRDP_NlaSecurity, FALSE);
  return 0;
}

/* FreeRDP's settings for this session, in this order. 0, or -1 (reported to the browser when it
 * was the arguments' fault). */
int settings_apply(struct worker *w, const char *host, long port) {
  rdpSettings *s = w->s.instance->settings;
  set_server(w, s, host, port);
  set_screen(w, s);
  set_graphics(w, s);
  set_transport(w, s);
  set_clipboard_audio(w, s);
  if (set_remote_app(w, s) < 0 || set_drive(w, s) < 0)
    return -1;
  set_codecs(s);
  return set_security(w, s);
}

BOOL on_authenticate(freerdp *instance, char **username, char **password, char **domain) {
  /* Only what the daemon gave: never prompt. */
  struct worker *w = W(instance->context);
  return w->hs.args[ARG_USERNAME][0] != 0;
}

static bool fingerprint_pinned(const char *list, const char *fp) {
  size_t fl = strlen(fp);
  for (const char *p = list; *p;) {
    while (*p == ',' || *p == ' ')
      p++;
    const char *e = p;
    while (*e && *e != ',')
      e++;
    size_t l = (size_t)(e - p);
    while (l && p[l - 1] == ' ')
      l--;
    if (l && l == fl && strncasecmp(p, fp, l) == 0)
      return true;
    p = e;
  }
  return false;
}

/* Certificate policy: accept when told to ignore certificates (the daemon does so for loopback
 * targets) or when the fingerprint is one of the pinned ones; refuse otherwise, naming the
 * fingerprint so the user can decide to pin it. Never stored by FreeRDP (answer 2, "this
 * session only"). */
static DWORD verify_cert(struct worker *w, const char *host, UINT16 port, const char *fp) {
  if (strcmp(w->hs.args[ARG_IGNORE_CERT], "true") == 0) {
    wlog("certificate of %s:%u accepted (policy: ignore), fingerprint %s", host, port, fp);
    return 2;
  }
  if (fingerprint_pinned(w->hs.args[ARG_CERT_FINGERPRINTS], fp)) {
    wlog("certificate of %s:%u matches a pinned fingerprint", host, port);
    return 2;
  }
  snprintf(w->s.cert_seen, sizeof(w->s.cert_seen), "%s", fp);
  return 0;
}

DWORD on_verify_certificate(freerdp *instance, const char *host, UINT16 port, const char *common_name,
                            const char *subject, const char *issuer, const char *fingerprint, DWORD flags) {
  return verify_cert(W(instance->context), host, port, fingerprint);
}

DWORD on_verify_changed_certificate(freerdp *instance, const char *host, UINT16 port, const char *common_name,
                                    const char *subject, const char *issuer, const char *new_fingerprint,
                                    const char *old_subject, const char *old_issuer,
                                    const char *old_fingerprint, DWORD flags) {
  return verify_cert(W(instance->context), host, port, new_fingerprint);
}
