/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qhm-rdp-peer: a test RDP server on libfreerdp-server2, for what
 * freerdp-shadow-cli does not offer (tests/integration/test_rdp_channels.py).
 * It accepts one client on 127.0.0.1:PORT with TLS (CERT/KEY made by the test
 * with openssl), paints a solid desktop and, per MODE, exercises one channel:
 *
 *   clip  cliprdr: announces CF_UNICODETEXT and serves PEER_CLIP_TEXT when asked;
 *         requests the client's text whenever it announces one and prints
 *         "CLIP_RECV <hex of the UTF-16LE bytes>".
 *   disp  Display Control: prints "DISP_CAPS_SENT", then for each layout
 *         "DISP_LAYOUT W H SCALE" and resizes the desktop to W x H.
 *   drive rdpdr: prints "DRIVE_ANNOUNCED <name>" for each drive the client
 *         redirects, lists its root ("DRIVE_ENTRY <name>" each, "DRIVE_LIST_END")
 *         and reads PEER_DRIVE_FILE from it ("DRIVE_READ <hex>", or
 *         "DRIVE_OPEN_FAILED <status>").
 *   rail  RemoteApp: prints "RAIL_EXEC <program>|<args>" for the client's
 *         Execute order. (Every mode prints "SHELL <alternate shell>" and
 *         "RAIL_MODE 0|1" when the client connects.)
 *   mic   audin: records PCM 44.1 kHz/16-bit/stereo from the client once
 *         drdynvc is up ("MIC_OPEN <result>"), prints "MIC_RECV <hex>" per packet.
 *   gfx   the graphics pipeline (rdpgfx) without H.264: once the client advertises its
 *         capabilities, confirms the first, makes a surface of the desktop's size and
 *         draws one frame: the left half uncompressed #228844, the right half planar
 *         #aa3311 ("GFX_CAPS <version hex>", "GFX_FRAME <id>", "GFX_ACK <id>").
 *   snd   rdpsnd: offers PCM 44.1 kHz/16-bit/stereo and sends PEER_SND_FRAMES
 *         frames of a known pattern (see snd_sample) once the client answers,
 *         and again 1.5 s later; prints "SND_SENT N" each time.
 *
 * Every line goes to stdout, flushed; "LISTENING" first, "ACTIVATED W H" after
 * each activation, "CLIENT_GONE" when a client leaves; the next client is then
 * served (reconnections). One thread (the channels' own threads aside); the
 * test kills it. Test code: simple over complete.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <freerdp/channels/channels.h>
#include <freerdp/channels/wtsvc.h>
#include <freerdp/codec/audio.h>
#include <freerdp/codec/planar.h>
#include <freerdp/freerdp.h>
#include <freerdp/listener.h>
#include <freerdp/peer.h>
#include <freerdp/server/audin.h>
#include <freerdp/server/cliprdr.h>
#include <freerdp/server/disp.h>
#include <freerdp/server/rail.h>
#include <freerdp/server/rdpdr.h>
#include <freerdp/server/rdpgfx.h>
#include <freerdp/server/rdpsnd.h>
#include <freerdp/settings.h>
#include <winpr/ssl.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>
#include <winpr/wtsapi.h>

#define PEER_CLIP_TEXT "Grüße from the peer ✓ 𝄞"
#define PEER_SND_FRAMES 4410 /* 100 ms */
#define CF_UNICODETEXT_ID 13
#define PEER_DRIVE_FILE "\\hello.txt"

struct pctx {
  rdpContext ctx; /* first */
  HANDLE vcm;
  CliprdrServerContext *clip;
  DispServerContext *disp;
  RdpsndServerContext *snd;
  RdpdrServerContext *rdpdr;
  RailServerContext *rail;
  audin_server_context *mic;
  RdpgfxServerContext *gfx;
  BOOL activated_once, clip_announced;
};

static const char *mode = "";
static freerdp_peer *the_client;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* The known PCM: frame i, channel c -> a 16-bit little-endian value the test recomputes. */
static int16_t snd_sample(unsigned i, unsigned c) {
  return (int16_t)((i * 7u + c * 1000u) & 0xffffu);
}

/* ---- desktop ---- */

static void paint(freerdp_peer *client) {
  rdpSettings *s = client->settings;
  UINT32 w = freerdp_settings_get_uint32(s, FreeRDP_DesktopWidth);
  UINT32 h = freerdp_settings_get_uint32(s, FreeRDP_DesktopHeight);
  const UINT32 rows = 8;
  BYTE *px = malloc((size_t)w * rows * 4);
  if (!px)
    return;
  for (size_t i = 0; i < (size_t)w * rows; i++) { /* BGRX #3366cc */
    px[i * 4] = 0xcc;
    px[i * 4 + 1] = 0x66;
    px[i * 4 + 2] = 0x33;
    px[i * 4 + 3] = 0xff;
  }
  for (UINT32 y = 0; y < h; y += rows) {
    SURFACE_BITS_COMMAND cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.cmdType = CMDTYPE_STREAM_SURFACE_BITS;
    cmd.destLeft = 0;
    cmd.destTop = y;
    cmd.destRight = w;
    cmd.destBottom = y + (h - y < rows ? h - y : rows);
    cmd.bmp.bpp = 32;
    cmd.bmp.codecID = RDP_CODEC_ID_NONE;
    cmd.bmp.width = (UINT16)w;
    cmd.bmp.height = (UINT16)(cmd.destBottom - y);
    cmd.bmp.bitmapDataLength = w * cmd.bmp.height * 4;
    cmd.bmp.bitmapData = px;
    client->update->SurfaceBits(client->context, &cmd);
  }
  free(px);
}

/* ---- cliprdr ---- */

static UINT clip_announce(CliprdrServerContext *c) {
  CLIPRDR_FORMAT f = {.formatId = CF_UNICODETEXT_ID, .formatName = NULL};
  CLIPRDR_FORMAT_LIST fl;
  memset(&fl, 0, sizeof(fl));
  fl.msgType = CB_FORMAT_LIST;
  fl.numFormats = 1;
  fl.formats = &f;
  return c->ServerFormatList(c, &fl);
}

static UINT clip_client_format_list(CliprdrServerContext *c, const CLIPRDR_FORMAT_LIST *fl) {
  CLIPRDR_FORMAT_LIST_RESPONSE r;
  memset(&r, 0, sizeof(r));
  r.msgType = CB_FORMAT_LIST_RESPONSE;
  r.msgFlags = CB_RESPONSE_OK;
  c->ServerFormatListResponse(c, &r);
  struct pctx *p = c->custom;
  BOOL text = FALSE;
  for (UINT32 i = 0; i < fl->numFormats; i++)
    if (fl->formats[i].formatId == CF_UNICODETEXT_ID)
      text = TRUE;
  say("CLIP_FORMATS %u%s", fl->numFormats, text ? " text" : "");
  if (text) {
    CLIPRDR_FORMAT_DATA_REQUEST q;
    memset(&q, 0, sizeof(q));
    q.msgType = CB_FORMAT_DATA_REQUEST;
    q.requestedFormatId = CF_UNICODETEXT_ID;
    q.dataLen = 4;
    c->ServerFormatDataRequest(c, &q);
  }
  if (!p->clip_announced) { /* the client's first list says it is ready: offer ours */
    p->clip_announced = TRUE;
    clip_announce(c);
  }
  return CHANNEL_RC_OK;
}

static UINT clip_client_data_response(CliprdrServerContext *c, const CLIPRDR_FORMAT_DATA_RESPONSE *r) {
  char *hex = malloc((size_t)r->dataLen * 2 + 1);
  if (!hex)
    return CHANNEL_RC_NO_MEMORY;
  for (UINT32 i = 0; i < r->dataLen; i++)
    sprintf(hex + i * 2, "%02x", r->requestedFormatData[i]);
  hex[r->dataLen * 2] = 0;
  say("CLIP_RECV %s%s", r->msgFlags & CB_RESPONSE_FAIL ? "FAIL " : "", hex);
  free(hex);
  return CHANNEL_RC_OK;
}

static UINT clip_client_data_request(CliprdrServerContext *c, const CLIPRDR_FORMAT_DATA_REQUEST *q) {
  CLIPRDR_FORMAT_DATA_RESPONSE r;
  memset(&r, 0, sizeof(r));
  r.msgType = CB_FORMAT_DATA_RESPONSE;
  WCHAR *u = NULL;
  int n = ConvertToUnicode(CP_UTF8, 0, PEER_CLIP_TEXT, -1, &u, 0); /* NUL included */
  if (q->requestedFormatId != CF_UNICODETEXT_ID || n <= 0) {
    r.msgFlags = CB_RESPONSE_FAIL;
  } else {
    r.msgFlags = CB_RESPONSE_OK;
    r.dataLen = (UINT32)n * 2;
    r.requestedFormatData = (const BYTE *)u;
  }
  say("CLIP_SERVED %u", r.dataLen);
  UINT rc = c->ServerFormatDataResponse(c, &r);
  free(u);
  return rc;
}

static UINT clip_noop_caps(CliprdrServerContext *c, const CLIPRDR_CAPABILITIES *caps) {
  return CHANNEL_RC_OK;
}

static UINT clip_noop_flr(CliprdrServerContext *c, const CLIPRDR_FORMAT_LIST_RESPONSE *r) {
  return CHANNEL_RC_OK;
}

static void clip_start(struct pctx *p) {
  CliprdrServerContext *c = cliprdr_server_context_new(p->vcm);
  if (!c)
    return;
  c->custom = p;
  c->rdpcontext = &p->ctx;
  c->useLongFormatNames = TRUE;
  c->ClientCapabilities = clip_noop_caps;
  c->ClientFormatList = clip_client_format_list;
  c->ClientFormatListResponse = clip_noop_flr;
  c->ClientFormatDataRequest = clip_client_data_request;
  c->ClientFormatDataResponse = clip_client_data_response;
  if (c->Start(c) != CHANNEL_RC_OK) {
    say("CLIP_START_FAILED");
    cliprdr_server_context_free(c);
    return;
  }
  p->clip = c;
  say("CLIP_STARTED");
}

/* ---- disp ---- */

static UINT disp_layout(DispServerContext *d, const DISPLAY_CONTROL_MONITOR_LAYOUT_PDU *pdu) {
  struct pctx *p = d->custom;
  if (pdu->NumMonitors < 1)
    return CHANNEL_RC_OK;
  const DISPLAY_CONTROL_MONITOR_LAYOUT *m = &pdu->Monitors[0];
  say("DISP_LAYOUT %u %u %u %u", m->Width, m->Height, m->DesktopScaleFactor, pdu->NumMonitors);
  freerdp_peer *client = p->ctx.peer;
  rdpSettings *s = client->settings;
  if (m->Width == freerdp_settings_get_uint32(s, FreeRDP_DesktopWidth) &&
      m->Height == freerdp_settings_get_uint32(s, FreeRDP_DesktopHeight))
    return CHANNEL_RC_OK;
  freerdp_settings_set_uint32(s, FreeRDP_DesktopWidth, m->Width & ~1u);
  freerdp_settings_set_uint32(s, FreeRDP_DesktopHeight, m->Height);
  client->update->DesktopResize(client->context);
  return CHANNEL_RC_OK;
}

static void disp_poll(struct pctx *p) {
  if (p->disp || WTSVirtualChannelManagerGetDrdynvcState(p->vcm) != DRDYNVC_STATE_READY)
    return;
  DispServerContext *d = disp_server_context_new(p->vcm);
  if (!d)
    return;
  d->custom = p;
  d->rdpcontext = &p->ctx;
  d->MaxNumMonitors = 16;
  d->MaxMonitorAreaFactorA = 8192;
  d->MaxMonitorAreaFactorB = 8192;
  d->DispMonitorLayout = disp_layout;
  if (d->Open(d) != CHANNEL_RC_OK || d->DisplayControlCaps(d) != CHANNEL_RC_OK) {
    say("DISP_FAILED");
    disp_server_context_free(d);
    p->disp = (DispServerContext *)-1; /* do not retry */
    return;
  }
  p->disp = d;
  say("DISP_CAPS_SENT");
}

/* ---- rdpdr: the client's drive ---- */

static void drive_query_done(RdpdrServerContext *c, void *cb, UINT32 status,
                             FILE_DIRECTORY_INFORMATION *fdi) {
  if (status == 0 && fdi)
    say("DRIVE_ENTRY %s", fdi->FileName);
  else
    say("DRIVE_LIST_END %08x", status);
}

static void drive_read_done(RdpdrServerContext *c, void *cb, UINT32 status, const char *buf, UINT32 len) {
  char *hex = malloc((size_t)len * 2 + 1);
  if (!hex)
    return;
  for (UINT32 i = 0; i < len; i++)
    sprintf(hex + i * 2, "%02x", (unsigned char)buf[i]);
  hex[len * 2] = 0;
  say("DRIVE_READ %08x %s", status, hex);
  free(hex);
}

static void drive_open_done(RdpdrServerContext *c, void *cb, UINT32 status, UINT32 dev, UINT32 file) {
  if (status != 0) {
    say("DRIVE_OPEN_FAILED %08x", status);
    return;
  }
  c->DriveReadFile(c, cb, dev, file, 4096, 0);
}

static void drive_created(RdpdrServerContext *c, UINT32 dev, const char *name) {
  say("DRIVE_ANNOUNCED %s", name);
  c->DriveQueryDirectory(c, NULL, dev, ""); /* the root: FreeRDP appends "\\*.*" */
  c->DriveOpenFile(c, NULL, dev, PEER_DRIVE_FILE, 0x80000000u /* GENERIC_READ */, 1 /* FILE_OPEN */);
}

static void drive_start(struct pctx *p) {
  RdpdrServerContext *c = rdpdr_server_context_new(p->vcm);
  if (!c)
    return;
  c->data = p;
  c->supportsDrives = TRUE;
  c->OnDriveCreate = drive_created;
  c->OnDriveQueryDirectoryComplete = drive_query_done;
  c->OnDriveOpenFileComplete = drive_open_done;
  c->OnDriveReadFileComplete = drive_read_done;
  if (c->Start(c) != CHANNEL_RC_OK) {
    say("DRIVE_START_FAILED");
    rdpdr_server_context_free(c);
    return;
  }
  p->rdpdr = c;
  say("DRIVE_STARTED");
}

/* ---- audin ---- */

static AUDIO_FORMAT mic_format = {.wFormatTag = WAVE_FORMAT_PCM,
                                  .nChannels = 2,
                                  .nSamplesPerSec = 44100,
                                  .nAvgBytesPerSec = 44100 * 4,
                                  .nBlockAlign = 4,
                                  .wBitsPerSample = 16};

static UINT mic_opening(audin_server_context *c) {
  for (size_t i = 0; i < c->num_client_formats; i++)
    if (audio_format_compatible(&mic_format, &c->client_formats[i]))
      return c->SelectFormat(c, i);
  say("MIC_NO_FORMAT %zu", c->num_client_formats);
  return ERROR_INVALID_DATA;
}

static UINT mic_open_result(audin_server_context *c, UINT32 result) {
  say("MIC_OPEN %u", result);
  return CHANNEL_RC_OK;
}

static UINT mic_samples(audin_server_context *c, const AUDIO_FORMAT *f, wStream *s, size_t nframes) {
  size_t len = nframes * f->nBlockAlign;
  if (len > Stream_Capacity(s))
    len = Stream_Capacity(s);
  const BYTE *p = Stream_Buffer(s);
  char *hex = malloc(len * 2 + 1);
  if (!hex)
    return CHANNEL_RC_NO_MEMORY;
  for (size_t i = 0; i < len; i++)
    sprintf(hex + i * 2, "%02x", p[i]);
  hex[len * 2] = 0;
  say("MIC_RECV %s", hex);
  free(hex);
  return CHANNEL_RC_OK;
}

static void mic_poll(struct pctx *p) {
  if (p->mic || WTSVirtualChannelManagerGetDrdynvcState(p->vcm) != DRDYNVC_STATE_READY)
    return;
  audin_server_context *c = audin_server_context_new(p->vcm);
  if (!c)
    return;
  c->data = p;
  c->rdpcontext = &p->ctx;
  c->server_formats = &mic_format;
  c->num_server_formats = 1;
  c->dst_format = &mic_format;
  c->frames_per_packet = 441;
  c->Opening = mic_opening;
  c->OpenResult = mic_open_result;
  c->ReceiveSamples = mic_samples;
  p->mic = c;
  say("MIC_STARTED %d", c->Open(c) ? 1 : 0);
}

/* ---- gfx ---- */

/* One colour, BGRX, W x H. */
static BYTE *solid(UINT32 w, UINT32 h, BYTE r, BYTE g, BYTE b) {
  BYTE *px = malloc((size_t)w * h * 4);
  for (size_t i = 0; px && i < (size_t)w * h; i++) {
    px[i * 4] = b;
    px[i * 4 + 1] = g;
    px[i * 4 + 2] = r;
    px[i * 4 + 3] = 0xff;
  }
  return px;
}

static void gfx_draw(struct pctx *p, UINT32 w, UINT32 h) {
  RdpgfxServerContext *g = p->gfx;
  MONITOR_DEF mon = {0, 0, (INT32)w - 1, (INT32)h - 1, 1};
  RDPGFX_RESET_GRAPHICS_PDU reset = {w, h, 1, &mon};
  RDPGFX_CREATE_SURFACE_PDU cs = {1, (UINT16)w, (UINT16)h, GFX_PIXEL_FORMAT_XRGB_8888};
  RDPGFX_MAP_SURFACE_TO_OUTPUT_PDU map = {1, 0, 0, 0};
  g->ResetGraphics(g, &reset);
  g->CreateSurface(g, &cs);
  g->MapSurfaceToOutput(g, &map);
  UINT32 half = w / 2;
  BYTE *left = solid(half, h, 0x22, 0x88, 0x44), *right = solid(w - half, h, 0xaa, 0x33, 0x11);
  BITMAP_PLANAR_CONTEXT *planar = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA, w - half, h);
  UINT32 plen = 0;
  BYTE *pdata = left && right && planar
                    ? freerdp_bitmap_compress_planar(planar, right, PIXEL_FORMAT_BGRX32, w - half, h,
                                                     (w - half) * 4, NULL, &plen)
                    : NULL;
  RDPGFX_START_FRAME_PDU sf = {0, 1};
  RDPGFX_END_FRAME_PDU ef = {1};
  RDPGFX_SURFACE_COMMAND raw = {
      1,   RDPGFX_CODECID_UNCOMPRESSED, 0, PIXEL_FORMAT_BGRX32, 0, 0, half, h, half, h, half * h * 4, left,
      NULL};
  RDPGFX_SURFACE_COMMAND pl = {
      1, RDPGFX_CODECID_PLANAR, 0, PIXEL_FORMAT_BGRX32, half, 0, w, h, w - half, h, plen, pdata, NULL};
  if (pdata) {
    g->StartFrame(g, &sf);
    g->SurfaceCommand(g, &raw);
    g->SurfaceCommand(g, &pl);
    g->EndFrame(g, &ef);
    say("GFX_FRAME 1");
  }
  free(pdata);
  freerdp_bitmap_planar_context_free(planar);
  free(left);
  free(right);
}

static UINT gfx_caps(RdpgfxServerContext *g, const RDPGFX_CAPS_ADVERTISE_PDU *adv) {
  struct pctx *p = g->custom;
  if (!adv->capsSetCount)
    return CHANNEL_RC_OK;
  RDPGFX_CAPSET caps = adv->capsSets[0];
  caps.flags &= ~(UINT32)RDPGFX_CAPS_FLAG_AVC420_ENABLED; /* no H.264 from this server */
  RDPGFX_CAPS_CONFIRM_PDU confirm = {&caps};
  say("GFX_CAPS %x", caps.version);
  UINT rc = g->CapsConfirm(g, &confirm);
  rdpSettings *s = p->ctx.settings;
  if (rc == CHANNEL_RC_OK)
    gfx_draw(p, freerdp_settings_get_uint32(s, FreeRDP_DesktopWidth),
             freerdp_settings_get_uint32(s, FreeRDP_DesktopHeight));
  return rc;
}

static UINT gfx_ack(RdpgfxServerContext *g, const RDPGFX_FRAME_ACKNOWLEDGE_PDU *ack) {
  say("GFX_ACK %u", ack->frameId);
  return CHANNEL_RC_OK;
}

static void gfx_poll(struct pctx *p) {
  if (p->gfx || WTSVirtualChannelManagerGetDrdynvcState(p->vcm) != DRDYNVC_STATE_READY)
    return;
  RdpgfxServerContext *g = rdpgfx_server_context_new(p->vcm);
  if (!g)
    return;
  g->custom = p;
  g->rdpcontext = &p->ctx;
  g->CapsAdvertise = gfx_caps;
  g->FrameAcknowledge = gfx_ack;
  p->gfx = g;
  say("GFX_OPEN %d", g->Open(g) ? 1 : 0);
}

/* ---- rail ---- */

static UINT rail_exec(RailServerContext *c, const RAIL_EXEC_ORDER *e) {
  say("RAIL_EXEC %s|%s", e->RemoteApplicationProgram ? e->RemoteApplicationProgram : "",
      e->RemoteApplicationArguments ? e->RemoteApplicationArguments : "");
  return CHANNEL_RC_OK;
}

/* FreeRDP's rail server treats a missing handler as an error */
static UINT rail_hs(RailServerContext *c, const RAIL_HANDSHAKE_ORDER *o) {
  return CHANNEL_RC_OK;
}
static UINT rail_status(RailServerContext *c, const RAIL_CLIENT_STATUS_ORDER *o) {
  return CHANNEL_RC_OK;
}
static UINT rail_sysparam(RailServerContext *c, const RAIL_SYSPARAM_ORDER *o) {
  return CHANNEL_RC_OK;
}
static UINT rail_langbar(RailServerContext *c, const RAIL_LANGBAR_INFO_ORDER *o) {
  return CHANNEL_RC_OK;
}
static UINT rail_activate(RailServerContext *c, const RAIL_ACTIVATE_ORDER *o) {
  return CHANNEL_RC_OK;
}

static void rail_start(struct pctx *p) {
  RailServerContext *c = rail_server_context_new(p->vcm);
  if (!c)
    return;
  c->custom = p;
  c->ClientExec = rail_exec;
  c->ClientHandshake = rail_hs;
  c->ClientClientStatus = rail_status;
  c->ClientSysparam = rail_sysparam;
  c->ClientLangbarInfo = rail_langbar;
  c->ClientActivate = rail_activate;
  if (c->Start(c) != CHANNEL_RC_OK) {
    say("RAIL_START_FAILED");
    rail_server_context_free(c);
    return;
  }
  p->rail = c;
  RAIL_HANDSHAKE_ORDER h = {.buildNumber = 0x1db0};
  say("RAIL_STARTED %u", c->ServerHandshake(c, &h));
}

/* ---- rdpsnd ---- */

static AUDIO_FORMAT snd_format = {.wFormatTag = WAVE_FORMAT_PCM,
                                  .nChannels = 2,
                                  .nSamplesPerSec = 44100,
                                  .nAvgBytesPerSec = 44100 * 4,
                                  .nBlockAlign = 4,
                                  .wBitsPerSample = 16};

static void snd_activated(RdpsndServerContext *c) {
  int idx = -1;
  for (UINT16 i = 0; i < c->num_client_formats; i++)
    if (audio_format_compatible(&snd_format, &c->client_formats[i]))
      idx = i;
  if (idx < 0) {
    say("SND_NO_FORMAT %u", c->num_client_formats);
    return;
  }
  c->SelectFormat(c, (UINT16)idx);
  int16_t *pcm = malloc(PEER_SND_FRAMES * 4);
  if (!pcm)
    return;
  for (unsigned i = 0; i < PEER_SND_FRAMES; i++) {
    pcm[i * 2] = snd_sample(i, 0);
    pcm[i * 2 + 1] = snd_sample(i, 1);
  }
  /* Wave2 PDUs carry the bytes as they are (SendSamples would pass them through FreeRDP's DSP) */
  UINT rc = CHANNEL_RC_OK;
  for (int round = 0; round < 2; round++) { /* a second time 1.5 s later (a refused stream stays mute) */
    if (round)
      Sleep(1500);
    for (unsigned off = 0; off < PEER_SND_FRAMES && rc == CHANNEL_RC_OK; off += 2205)
      rc = c->SendSamples2(c, (UINT16)idx, pcm + off * 2, 2205 * 4, (UINT16)(off / 44), off / 44);
    say("SND_SENT %d %u", PEER_SND_FRAMES, rc);
  }
  free(pcm);
}

static void snd_start(struct pctx *p) {
  RdpsndServerContext *c = rdpsnd_server_context_new(p->vcm);
  if (!c)
    return;
  c->data = p;
  c->rdpcontext = &p->ctx;
  c->server_formats = &snd_format;
  c->num_server_formats = 1;
  c->src_format = &snd_format;
  c->latency = 50;
  c->Activated = snd_activated;
  if (c->Initialize(c, TRUE) != CHANNEL_RC_OK) {
    say("SND_START_FAILED");
    rdpsnd_server_context_free(c);
    return;
  }
  p->snd = c;
  say("SND_STARTED");
}

/* ---- peer ---- */

static BOOL on_post_connect(freerdp_peer *client) {
  rdpSettings *s = client->settings;
  say("CONNECTED %u %u", freerdp_settings_get_uint32(s, FreeRDP_DesktopWidth),
      freerdp_settings_get_uint32(s, FreeRDP_DesktopHeight));
  const char *shell = freerdp_settings_get_string(s, FreeRDP_AlternateShell);
  say("SHELL %s", shell ? shell : "");
  say("RAIL_MODE %d", freerdp_settings_get_bool(s, FreeRDP_RemoteApplicationMode) ? 1 : 0);
  return TRUE;
}

static BOOL on_activate(freerdp_peer *client) {
  struct pctx *p = (struct pctx *)client->context;
  rdpSettings *s = client->settings;
  say("ACTIVATED %u %u", freerdp_settings_get_uint32(s, FreeRDP_DesktopWidth),
      freerdp_settings_get_uint32(s, FreeRDP_DesktopHeight));
  paint(client);
  if (!p->activated_once) {
    p->activated_once = TRUE;
    if (strcmp(mode, "clip") == 0 && WTSVirtualChannelManagerIsChannelJoined(p->vcm, "cliprdr"))
      clip_start(p);
    if (strcmp(mode, "snd") == 0 && WTSVirtualChannelManagerIsChannelJoined(p->vcm, "rdpsnd"))
      snd_start(p);
    if (strcmp(mode, "drive") == 0 && WTSVirtualChannelManagerIsChannelJoined(p->vcm, "rdpdr"))
      drive_start(p);
    if (strcmp(mode, "rail") == 0 && WTSVirtualChannelManagerIsChannelJoined(p->vcm, "rail"))
      rail_start(p);
  }
  return TRUE;
}

static BOOL ctx_new(freerdp_peer *client, rdpContext *ctx) {
  struct pctx *p = (struct pctx *)ctx;
  p->vcm = WTSOpenServerA((LPSTR)client->context);
  return p->vcm && p->vcm != INVALID_HANDLE_VALUE;
}

static void ctx_free(freerdp_peer *client, rdpContext *ctx) {
  struct pctx *p = (struct pctx *)ctx;
  if (p->clip) {
    p->clip->Stop(p->clip);
    cliprdr_server_context_free(p->clip);
  }
  if (p->mic) {
    p->mic->Close(p->mic);
    audin_server_context_free(p->mic);
  }
  if (p->gfx) {
    p->gfx->Close(p->gfx);
    rdpgfx_server_context_free(p->gfx);
  }
  if (p->rail) {
    p->rail->Stop(p->rail);
    rail_server_context_free(p->rail);
  }
  if (p->rdpdr) {
    p->rdpdr->Stop(p->rdpdr);
    rdpdr_server_context_free(p->rdpdr);
  }
  if (p->snd) {
    p->snd->Stop(p->snd);
    rdpsnd_server_context_free(p->snd);
  }
  if (p->disp && p->disp != (DispServerContext *)-1) {
    p->disp->Close(p->disp);
    disp_server_context_free(p->disp);
  }
  WTSCloseServer(p->vcm);
}

static BOOL on_accepted(freerdp_listener *l, freerdp_peer *client) {
  if (the_client)
    return FALSE; /* one client */
  the_client = client;
  return TRUE;
}

static int serve(freerdp_peer *client, const char *cert, const char *key) {
  client->ContextSize = sizeof(struct pctx);
  client->ContextNew = ctx_new;
  client->ContextFree = ctx_free;
  if (!freerdp_peer_context_new(client))
    return 1;
  struct pctx *p = (struct pctx *)client->context;
  rdpSettings *s = client->settings;
  freerdp_settings_set_string(s, FreeRDP_CertificateFile, cert);
  freerdp_settings_set_string(s, FreeRDP_PrivateKeyFile, key);
  freerdp_settings_set_bool(s, FreeRDP_RdpSecurity, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_TlsSecurity, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_NlaSecurity, FALSE);
  freerdp_settings_set_uint32(s, FreeRDP_ColorDepth, 32);
  freerdp_settings_set_bool(s, FreeRDP_SurfaceCommandsEnabled, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_SupportDisplayControl, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_SupportMonitorLayoutPdu, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_RefreshRect, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_SuppressOutput, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_SupportGraphicsPipeline, strcmp(mode, "gfx") == 0);
  client->PostConnect = on_post_connect;
  client->Activate = on_activate;
  if (!client->Initialize(client))
    return 1;
  HANDLE vch = WTSVirtualChannelManagerGetEventHandle(p->vcm);
  for (;;) {
    HANDLE h[MAXIMUM_WAIT_OBJECTS];
    DWORD n = client->GetEventHandles(client, h, MAXIMUM_WAIT_OBJECTS - 1);
    if (n == 0)
      break;
    h[n++] = vch;
    WaitForMultipleObjects(n, h, FALSE, 100);
    if (!client->CheckFileDescriptor(client))
      break;
    if (!WTSVirtualChannelManagerCheckFileDescriptor(p->vcm))
      break;
    if (strcmp(mode, "disp") == 0 && p->activated_once)
      disp_poll(p);
    if (strcmp(mode, "mic") == 0 && p->activated_once)
      mic_poll(p);
    if (strcmp(mode, "gfx") == 0 && p->activated_once)
      gfx_poll(p);
  }
  say("CLIENT_GONE");
  client->Disconnect(client);
  freerdp_peer_context_free(client);
  freerdp_peer_free(client);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: qhm-rdp-peer PORT CERT KEY clip|disp|snd|drive|rail|mic|gfx\n");
    return 2;
  }
  mode = argv[4];
  if (!getenv("WLOG_LEVEL"))
    WLog_SetLogLevel(WLog_GetRoot(), WLOG_ERROR);
  winpr_InitializeSSL(WINPR_SSL_INIT_DEFAULT);
  WTSRegisterWtsApiFunctionTable(FreeRDP_InitWtsApi());
  freerdp_listener *l = freerdp_listener_new();
  if (!l)
    return 1;
  l->PeerAccepted = on_accepted;
  if (!l->Open(l, "127.0.0.1", (UINT16)atoi(argv[1]))) {
    fprintf(stderr, "qhm-rdp-peer: cannot listen on %s\n", argv[1]);
    return 1;
  }
  say("LISTENING");
  while (!the_client) {
    HANDLE h[32];
    DWORD n = l->GetEventHandles(l, h, 32);
    if (n == 0 || WaitForMultipleObjects(n, h, FALSE, INFINITE) == WAIT_FAILED)
      return 1;
    if (!l->CheckFileDescriptor(l))
      return 1;
  }
  for (;;) { /* clients one after the other (a reconnection is a new client) */
    int rc = serve(the_client, argv[2], argv[3]);
    the_client = NULL;
    if (rc)
      return rc;
    while (!the_client) {
      HANDLE h[32];
      DWORD n = l->GetEventHandles(l, h, 32);
      if (n == 0 || WaitForMultipleObjects(n, h, FALSE, INFINITE) == WAIT_FAILED)
        return 1;
      if (!l->CheckFileDescriptor(l))
        return 1;
    }
  }
}
