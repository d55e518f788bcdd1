/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-hmos-rdp: one RDP session, in its own process (guacd's lesson: a
 * hostile or crashing RDP server must never take the daemon down). The
 * daemon forks it with a socket as fd 3 and speaks the Guacamole protocol
 * (VERSION_1_5_0) on it: the daemon performs the handshake (select, args,
 * size, audio, video, image, connect) with values from the VM's config and
 * the browser's URL; after that every byte both ways is the browser's.
 *
 * The main loop waits on FreeRDP's event handles, the socket and chan_ev;
 * FreeRDP's GDI renders into a BGRX32 framebuffer, EndPaint adds dirty
 * rectangles, and a frame (img + blob + end per rectangle, then sync) is
 * sent only when the browser has acknowledged all but MAX_UNACKED of the
 * previous frames' syncs and MIN_FRAME_MS have passed: a slow browser lowers
 * the frame rate, nothing queues. Writes to the daemon block (with a
 * deadline), so the daemon's own bounded buffers pace this process too.
 *
 * Channels (sections below): clipboard (cliprdr), display control (disp, else
 * a reconnection), audio out (our rdpsnd device), microphone (our audin
 * device), the shared folder (FreeRDP's rdpdr drive) and RemoteApp (rail).
 * FreeRDP calls them on threads of its own: the main loop is the only writer
 * to the socket; they hand it what the browser must get through chan_out.
 *
 * Exit status: 0 after a disconnect from either side, 1 after an error
 * (reported first as a Guacamole `error` instruction), 2 for bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <freerdp/addin.h>
#include <freerdp/client/audin.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cliprdr.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/client/disp.h>
#include <freerdp/client/rail.h>
#include <freerdp/client/rdpgfx.h>
#include <freerdp/client/rdpsnd.h>
#include <freerdp/codec/color.h>
#include <freerdp/codec/h264.h>
#include <freerdp/event.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/gdi/gfx.h>
#include <freerdp/graphics.h>
#include <freerdp/primitives.h>
#include <freerdp/settings.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>

#include "guac.h"
#include "rdp_display.h"
#include "rdp_keys.h"
#include "rdp_pcm.h"
#include "rdp_text.h"

#define MIN_FRAME_MS 16   /* at most ~60 frames per second */
#define MAX_UNACKED 2     /* frames sent but not yet acknowledged by the browser's sync */
#define KEEPALIVE_MS 5000 /* guacamole-common-js closes a tunnel silent for 15 s */
#define MAX_WAIT_MS 250   /* see run() */
#define WRITE_DEADLINE_MS 30000
#define JPEG_QUALITY 80
#define WEBP_QUALITY 75 /* about JPEG 80's look at ~2/3 of its bytes */
#define MAX_PRESSED 32
#define MAX_CURSOR 384 /* pixels per side; larger pointer shapes are ignored */
#define CF_UNICODETEXT_ID 13
#define RDPGFX_CODECS 9           /* the codecs counted: see gfx_codec_names */
#define RDP_DRIVE_NAME "qemuhmos" /* when the daemon names none; RDP keeps 8 characters */
#define CLIP_STREAM_ID 65u        /* the server's clipboard text toward the browser */
#define CLIP_STREAM "65"
#define RESIZE_MIN_MS 500   /* between two resizes of the session (Windows redraws everything) */
#define DISP_WAIT_MS 3000   /* after connecting: how long a server may take to offer disp */
#define AUDIO_STREAM_ID 66u /* rdpsnd PCM toward the browser */
#define AUDIO_STREAM "66"
#define AUDIO_BACKLOG_MS 250    /* audio not yet taken by the main loop beyond this is dropped */
#define CHAN_OUT_MAX (4u << 20) /* bytes from channel threads waiting for the main loop */

/* Guacamole status codes (protocol reference, "Status codes"). */
#define GUAC_S_SERVER_ERROR 0x0200
#define GUAC_S_UPSTREAM_TIMEOUT 0x0202
#define GUAC_S_UPSTREAM_ERROR 0x0203
#define GUAC_S_UPSTREAM_NOT_FOUND 0x0207
#define GUAC_S_CLIENT_BAD_REQUEST 0x0300
#define GUAC_S_CLIENT_UNAUTHORIZED 0x0301

/* The arguments this worker asks for, in the order `connect` gives their values. */
enum {
  ARG_VERSION,
  ARG_HOSTNAME,
  ARG_PORT,
  ARG_USERNAME,
  ARG_PASSWORD,
  ARG_DOMAIN,
  ARG_SECURITY,
  ARG_IGNORE_CERT,
  ARG_CERT_FINGERPRINTS,
  ARG_DRIVE_PATH, /* the VM's shared folder (validated by the daemon), "" = no drive */
  ARG_DRIVE_NAME,
  ARG_REMOTE_APP, /* the VM's rdp.remote_app program, "" = the full desktop */
  ARG_REMOTE_APP_ARGS,
  ARG_REMOTE_APP_MODE, /* "rail" (RemoteApp) or "shell" (alternate shell) */
  ARG_GRAPHICS,        /* "gfx-h264" (default), "gfx" (no H.264) or "legacy" (no graphics pipeline) */
  ARG__N
};
static const char *const arg_names[ARG__N] = {
    "VERSION_1_5_0",     "hostname",        "port",       "username",
    "password",          "domain",          "security",   "ignore-cert",
    "cert-fingerprints", "drive-path",      "drive-name", "remote-app",
    "remote-app-args",   "remote-app-mode", "graphics",
};

struct pressed {
  uint32_t keysym;
  bool unicode; /* sent as a Unicode event (release it the same way) */
  uint16_t code;
  uint16_t flags;
};

struct worker {
  int fd;
  const char *config_dir; /* FreeRDP's ConfigPath: its known_hosts must not decide for our policy */
  struct guac_buf in, out;
  struct guac_instr *ins;
  char id[40];
  /* handshake */
  const char *args[ARG__N];
  char *arg_store[ARG__N];
  long width, height, dpi;
  bool allow_jpeg;
  bool allow_webp; /* the handshake's `image` listed image/webp: photo-like rectangles as WebP */
  bool audio_l16;  /* the handshake's `audio` offered audio/L16: rdpsnd is turned on */
  /* session */
  freerdp *instance;
  bool connected, quit, failed;
  char cert_seen[256]; /* fingerprint of a certificate refused by the policy */
  /* Display. The legacy path (bitmaps, orders, surface bits) draws on the main thread, the graphics
   * pipeline (rdpgfx: planar, RemoteFX, progressive, H.264) on drdynvc's thread. Both draw between
   * FreeRDP's update_begin_paint and update_end_paint, which hold update->mux: the main thread
   * holds it too (fb_lock) while it reads the framebuffer, so a frame never shows a half-decoded
   * surface. `dirty` and `resized` are under LOCK. */
  struct rdp_dirty dirty; /* (lock) */
  bool resized;           /* (lock) the GDI framebuffer changed size: the main loop tells the browser */
  enum { GFX_OFF, GFX_NO_H264, GFX_ON } gfx_mode; /* `graphics`, or QHM_RDP_GFX: see connect_rdp */
  pcRdpgfxSurfaceCommand gfx_surface_command;     /* GDI's, wrapped to count the codecs used */
  pcRdpgfxCapsConfirm gfx_caps_confirm;           /* rdpgfx's, wrapped to log the version chosen */
  unsigned long gfx_codec_count[RDPGFX_CODECS];   /* surface commands per codec (drdynvc's thread) */
  uint64_t t0, last_flush, last_out;
  uint64_t unacked[MAX_UNACKED + 2];
  size_t n_unacked;
  uint64_t last_sync;
  unsigned stream;
  long mx, my, mmask;
  bool shift_down;
  struct pressed pressed[MAX_PRESSED];
  size_t n_pressed;
  /* Channel threads: FreeRDP runs each channel's callbacks on a thread of its own. What they
   * send to the browser goes into chan_out under LOCK and CHAN_EV wakes the main loop, which
   * moves it to `out`; everything below marked (lock) is shared with them. */
  pthread_mutex_t lock;
  struct guac_buf chan_out; /* (lock) at most CHAN_OUT_MAX bytes */
  HANDLE chan_ev;
  /* display control (disp): the browser's `size` -> monitor layout, else a reconnection */
  DispClientContext *disp;
  bool disp_ready;     /* (lock) the server sent its Display Control capabilities */
  long want_w, want_h; /* a resize asked for by the browser and not done yet (0 = none) */
  uint64_t last_resize, connected_at;
  unsigned long resizes, reconnects;
  bool size_fixed; /* a reconnection did not get the size asked for: the server imposes its own */
  /* audio out (rdpsnd, on its own thread): PCM as audio/L16 */
  bool audio_open;                          /* (lock) the `audio` stream was opened and not ended */
  bool audio_refused;                       /* (lock) the browser answered it with an error ack */
  unsigned audio_rate, audio_channels;      /* (lock) of the open stream */
  size_t audio_pending;                     /* (lock) PCM bytes in chan_out not yet taken by the main loop */
  unsigned long audio_bytes, audio_dropped; /* (lock) statistics */
  /* microphone (audin, drdynvc's thread): the browser's audio/L16 stream -> the server */
  long mic_stream; /* the browser's open audio stream, or -1 */
  unsigned mic_rate, mic_channels;
  struct rdp_pcm mic_conv;  /* (lock) the browser's rate/channels -> the server's, when they differ */
  AudinReceive mic_receive; /* (lock) set while the server records */
  void *mic_user;           /* (lock) */
  AUDIO_FORMAT mic_format;  /* (lock) what the server chose */
  unsigned long mic_bytes, mic_dropped;
  /* clipboard (cliprdr) */
  CliprdrClientContext *clip;
  bool clip_ready;         /* (lock) the server's Monitor Ready came: format lists may be sent */
  uint8_t *clip_local;     /* (lock) the browser's text as CF_UNICODETEXT, served on request */
  size_t clip_local_len;   /* (lock) */
  long clip_in_stream;     /* the browser's open clipboard stream, or -1 */
  struct guac_buf clip_in; /* its UTF-8 so far, at most RDP_CLIP_MAX bytes */
  uint8_t *prev;           /* what the browser shows (same layout as the GDI buffer), for scroll detection */
  size_t prev_size;
  /* statistics, logged at exit */
  unsigned long frames, rects, png_rects, jpeg_rects, webp_rects, copies, cursors;
  unsigned long long bytes_out;
};

struct wctx {
  rdpContext ctx; /* first: FreeRDP allocates ContextSize bytes and casts */
  struct worker *w;
};

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void wlog(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "qemu-hmos-rdp[%d]: ", (int)getpid());
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---- output ---- */

/* Write everything queued, waiting for the daemon at most WRITE_DEADLINE_MS. */
static int flush_out(struct worker *w) {
  uint64_t deadline = mono_ms() + WRITE_DEADLINE_MS;
  size_t off = 0;
  while (off < w->out.len) {
    ssize_t n = write(w->fd, w->out.data + off, w->out.len - off);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      uint64_t now = mono_ms();
      if (now >= deadline) {
        wlog("the daemon did not read for %d ms", WRITE_DEADLINE_MS);
        return -1;
      }
      struct pollfd p = {.fd = w->fd, .events = POLLOUT};
      poll(&p, 1, (int)(deadline - now));
      continue;
    }
    wlog("write to the daemon: %s", n < 0 ? strerror(errno) : "closed");
    return -1;
  }
  w->bytes_out += off;
  w->out.len = 0;
  w->last_out = mono_ms();
  return 0;
}

static void send_error(struct worker *w, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void send_error(struct worker *w, int status, const char *fmt, ...) {
  char msg[512], code[16];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* The message may quote a peer's bytes: keep it valid UTF-8 for the encoder, and within the
   * Basic Multilingual Plane, where guacamole-common-js 1.5's lengths (UTF-16 code units) agree
   * with the protocol's (code points). */
  if (guac_utf8_chars(msg, strlen(msg)) == (size_t)-1) {
    for (char *p = msg; *p; p++)
      if ((unsigned char)*p >= 0x80)
        *p = '?';
  } else {
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
      if (*p >= 0xf0 && p[1] && p[2] && p[3])
        p[0] = p[1] = p[2] = p[3] = '?';
  }
  wlog("error %d: %s", status, msg);
  snprintf(code, sizeof(code), "%d", status);
  guac_putl(&w->out, "error", msg, code, NULL);
  guac_putl(&w->out, "disconnect", NULL);
  flush_out(w);
  w->failed = true;
  w->quit = true;
}

/* ---- input from the daemon ---- */

/* Read what is available (blocking when BLOCK) into w->in. 0 = got bytes, -1 = EOF or error. */
static int read_some(struct worker *w, bool block) {
  guac_buf_reserve(&w->in, 65536);
  for (;;) {
    ssize_t n = read(w->fd, w->in.data + w->in.len, w->in.cap - w->in.len);
    if (n > 0) {
      w->in.len += (size_t)n;
      return 0;
    }
    if (n == 0)
      return -1;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!block)
        return 1;
      struct pollfd p = {.fd = w->fd, .events = POLLIN};
      poll(&p, 1, -1);
      continue;
    }
    return -1;
  }
}

/* Next instruction, blocking (handshake only). -1 on EOF or malformed input (reported). */
static int next_instr(struct worker *w) {
  for (;;) {
    size_t used;
    char err[160];
    enum guac_status st =
        guac_parse(w->in.data ? w->in.data : "", w->in.len, w->ins, &used, err, sizeof(err));
    if (st == GUAC_OK) {
      guac_buf_consume(&w->in, used);
      return 0;
    }
    if (st == GUAC_ERROR) {
      send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "malformed instruction: %s", err);
      return -1;
    }
    if (read_some(w, true) < 0) {
      w->quit = true;
      return -1;
    }
  }
}

static int handshake(struct worker *w) {
  if (next_instr(w) < 0)
    return -1;
  if (strcmp(w->ins->opcode, "select") != 0 || w->ins->argc != 1 || strcmp(w->ins->argv[0], "rdp") != 0) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "expected \"select,rdp\" first");
    return -1;
  }
  guac_put(&w->out, "args", ARG__N, arg_names);
  if (flush_out(w) < 0)
    return -1;
  for (;;) {
    if (next_instr(w) < 0)
      return -1;
    struct guac_instr *in = w->ins;
    if (strcmp(in->opcode, "size") == 0) {
      if (in->argc < 2 || !guac_arg_int(in->argv[0], 64, 8192, &w->width) ||
          !guac_arg_int(in->argv[1], 64, 8192, &w->height) ||
          (in->argc >= 3 && !guac_arg_int(in->argv[2], 48, 960, &w->dpi))) {
        send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "size: width and height 64..8192, dpi 48..960");
        return -1;
      }
    } else if (strcmp(in->opcode, "image") == 0) {
      for (size_t i = 0; i < in->argc; i++)
        if (strcmp(in->argv[i], "image/jpeg") == 0)
          w->allow_jpeg = true;
        else if (strcmp(in->argv[i], "image/webp") == 0)
          w->allow_webp = true;
    } else if (strcmp(in->opcode, "audio") == 0) {
      for (size_t i = 0; i < in->argc; i++)
        if (strncmp(in->argv[i], "audio/L16", 9) == 0)
          w->audio_l16 = true;
    } else if (strcmp(in->opcode, "video") == 0 || strcmp(in->opcode, "timezone") == 0 ||
               strcmp(in->opcode, "name") == 0) {
      /* accepted; not used yet */
    } else if (strcmp(in->opcode, "connect") == 0) {
      if (in->argc != ARG__N || strcmp(in->argv[0], arg_names[ARG_VERSION]) != 0) {
        send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "connect: expected %d values starting with %s", ARG__N,
                   arg_names[ARG_VERSION]);
        return -1;
      }
      for (size_t i = 0; i < ARG__N; i++) {
        w->arg_store[i] = strdup(in->argv[i]);
        w->args[i] = w->arg_store[i];
      }
      return 0;
    } else {
      send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "unexpected instruction during the handshake: %.40s",
                 in->opcode);
      return -1;
    }
  }
}

/* ---- FreeRDP callbacks ---- */

static struct worker *W(rdpContext *ctx) {
  return ((struct wctx *)ctx)->w;
}

static BOOL on_begin_paint(rdpContext *ctx) {
  rdpGdi *gdi = ctx->gdi;
  gdi->primary->hdc->hwnd->invalid->null = TRUE;
  gdi->primary->hdc->hwnd->ninvalid = 0;
  return TRUE;
}

/* Both paths end here, holding update->mux: the legacy one on the main thread, the graphics
 * pipeline (gdi's OutputUpdate, once per surface and frame) on drdynvc's thread, which also
 * needs to wake the main loop. */
static BOOL on_end_paint(rdpContext *ctx) {
  struct worker *w = W(ctx);
  rdpGdi *gdi = ctx->gdi;
  HGDI_WND hwnd = gdi->primary->hdc->hwnd;
  if (hwnd->invalid->null)
    return TRUE;
  int fw = (int)gdi->width, fh = (int)gdi->height;
  pthread_mutex_lock(&w->lock);
  if (hwnd->ninvalid > 0 && hwnd->cinvalid) {
    for (INT32 i = 0; i < hwnd->ninvalid; i++)
      rdp_dirty_add(&w->dirty, hwnd->cinvalid[i].x, hwnd->cinvalid[i].y, hwnd->cinvalid[i].w,
                    hwnd->cinvalid[i].h, fw, fh);
  } else {
    rdp_dirty_add(&w->dirty, hwnd->invalid->x, hwnd->invalid->y, hwnd->invalid->w, hwnd->invalid->h, fw, fh);
  }
  pthread_mutex_unlock(&w->lock);
  SetEvent(w->chan_ev);
  return TRUE;
}

/* The framebuffer lock: FreeRDP's update->mux (a recursive WinPR critical section), held by
 * update_begin_paint .. update_end_paint around all drawing, whichever thread draws. */
static void fb_lock(struct worker *w) {
  EnterCriticalSection(&w->instance->update->mux);
}

static void fb_unlock(struct worker *w) {
  LeaveCriticalSection(&w->instance->update->mux);
}

static void send_size(struct worker *w) {
  char ws[16], hs[16];
  snprintf(ws, sizeof(ws), "%u", w->instance->context->gdi->width);
  snprintf(hs, sizeof(hs), "%u", w->instance->context->gdi->height);
  guac_putl(&w->out, "size", "0", ws, hs, NULL);
}

static void reset_prev(struct worker *w);

/* The framebuffer has a new size: all of it is dirty, and the main loop tells the browser
 * (apply_resize). Any thread. */
static void mark_resized(struct worker *w) {
  rdpGdi *gdi = w->instance->context->gdi;
  pthread_mutex_lock(&w->lock);
  w->dirty.n = 0;
  w->resized = true;
  rdp_dirty_add(&w->dirty, 0, 0, (int)gdi->width, (int)gdi->height, (int)gdi->width, (int)gdi->height);
  pthread_mutex_unlock(&w->lock);
  SetEvent(w->chan_ev);
}

/* The main thread, or drdynvc's for a GFX ResetGraphics: the browser learns the new size from the
 * main loop (apply_resize). gdi_resize reallocates the framebuffer: under fb_lock. */
static BOOL on_desktop_resize(rdpContext *ctx) {
  struct worker *w = W(ctx);
  rdpSettings *s = ctx->settings;
  fb_lock(w);
  BOOL ok = gdi_resize(ctx->gdi, freerdp_settings_get_uint32(s, FreeRDP_DesktopWidth),
                       freerdp_settings_get_uint32(s, FreeRDP_DesktopHeight));
  fb_unlock(w);
  if (!ok)
    return FALSE;
  mark_resized(w);
  return TRUE;
}

/* Main thread: a resize marked by mark_resized -> the browser's `size`, and its copy of the screen
 * starts again (all of it is dirty). Takes fb_lock (recursive) only when there is one. */
static void apply_resize(struct worker *w) {
  pthread_mutex_lock(&w->lock);
  bool resized = w->resized;
  w->resized = false;
  pthread_mutex_unlock(&w->lock);
  if (resized) {
    fb_lock(w);
    reset_prev(w);
    send_size(w);
    fb_unlock(w);
  }
}

/* ---- the remote pointer: a PNG in buffer layer -1, then `cursor` ---- */

struct wpointer {
  rdpPointer p; /* first: FreeRDP allocates rdpPointer.size bytes */
  uint8_t *bgra;
};

static void send_blob_stream(struct worker *w, const char *mask, const char *layer, const uint8_t *png,
                             size_t len) {
  unsigned sid = w->stream;
  w->stream = w->stream >= 64 ? 1 : w->stream + 1;
  char s[16];
  snprintf(s, sizeof(s), "%u", sid);
  guac_putl(&w->out, "img", s, mask, layer, "image/png", "0", "0", NULL);
  for (size_t off = 0; off < len; off += GUAC_BLOB_BYTES)
    guac_put_blob(&w->out, sid, png + off, len - off < GUAC_BLOB_BYTES ? len - off : GUAC_BLOB_BYTES);
  guac_putl(&w->out, "end", s, NULL);
}

static void send_cursor(struct worker *w, const uint8_t *bgra, int width, int height, int hx, int hy) {
  uint8_t *png = NULL;
  size_t len = 0;
  if (rdp_encode_png_alpha(bgra, (size_t)width * 4, width, height, &png, &len) < 0)
    return;
  char ws[16], hs[16], xs[16], ys[16];
  snprintf(ws, sizeof(ws), "%d", width);
  snprintf(hs, sizeof(hs), "%d", height);
  snprintf(xs, sizeof(xs), "%d", hx < width ? hx : 0);
  snprintf(ys, sizeof(ys), "%d", hy < height ? hy : 0);
  guac_putl(&w->out, "size", "-1", ws, hs, NULL);
  send_blob_stream(w, "12", "-1", png, len); /* 12: replace, alpha included */
  guac_putl(&w->out, "cursor", xs, ys, "-1", "0", "0", ws, hs, NULL);
  free(png);
  w->cursors++;
}

static BOOL ptr_new(rdpContext *ctx, rdpPointer *p) {
  struct wpointer *wp = (struct wpointer *)p;
  wp->bgra = NULL;
  if (p->width == 0 || p->height == 0 || p->width > MAX_CURSOR || p->height > MAX_CURSOR)
    return TRUE; /* kept, never shown */
  wp->bgra = calloc((size_t)p->width * p->height, 4);
  if (!wp->bgra)
    return FALSE;
  if (!freerdp_image_copy_from_pointer_data(wp->bgra, PIXEL_FORMAT_BGRA32, p->width * 4, 0, 0, p->width,
                                            p->height, p->xorMaskData, p->lengthXorMask, p->andMaskData,
                                            p->lengthAndMask, p->xorBpp, &ctx->gdi->palette)) {
    free(wp->bgra);
    wp->bgra = NULL;
  }
  return TRUE;
}

static void ptr_free(rdpContext *ctx, rdpPointer *p) {
  struct wpointer *wp = (struct wpointer *)p;
  free(wp->bgra);
  wp->bgra = NULL;
}

static BOOL ptr_set(rdpContext *ctx, const rdpPointer *p) {
  const struct wpointer *wp = (const struct wpointer *)p;
  if (wp->bgra)
    send_cursor(W(ctx), wp->bgra, (int)p->width, (int)p->height, (int)p->xPos, (int)p->yPos);
  return TRUE;
}

static BOOL ptr_set_null(rdpContext *ctx) {
  static const uint8_t clear[4] = {0, 0, 0, 0}; /* hidden: one transparent pixel */
  send_cursor(W(ctx), clear, 1, 1, 0, 0);
  return TRUE;
}

static BOOL ptr_set_default(rdpContext *ctx) {
  return TRUE; /* the browser keeps the shape it has */
}

static BOOL ptr_set_position(rdpContext *ctx, UINT32 x, UINT32 y) {
  return TRUE; /* the browser's pointer is the user's; the server does not move it */
}

/* ---- clipboard: cliprdr CF_UNICODETEXT <-> Guacamole `clipboard` streams of text/plain ---- */

/* Announce to the server what the browser's clipboard holds (nothing before its first copy). */
static UINT clip_send_format_list(struct worker *w, CliprdrClientContext *c) {
  CLIPRDR_FORMAT f = {.formatId = CF_UNICODETEXT_ID, .formatName = NULL};
  CLIPRDR_FORMAT_LIST fl;
  memset(&fl, 0, sizeof(fl));
  fl.msgType = CB_FORMAT_LIST;
  pthread_mutex_lock(&w->lock);
  bool have = w->clip_local != NULL;
  pthread_mutex_unlock(&w->lock);
  fl.numFormats = have ? 1 : 0;
  fl.formats = have ? &f : NULL;
  return c->ClientFormatList(c, &fl);
}

/* From a channel thread: append one instruction for the browser (dropped past CHAN_OUT_MAX). */
static void chan_put(struct worker *w, const struct guac_buf *b) {
  pthread_mutex_lock(&w->lock);
  if (w->chan_out.len + b->len <= CHAN_OUT_MAX) {
    guac_buf_reserve(&w->chan_out, b->len);
    memcpy(w->chan_out.data + w->chan_out.len, b->data, b->len);
    w->chan_out.len += b->len;
  }
  pthread_mutex_unlock(&w->lock);
  SetEvent(w->chan_ev);
}

/* Main thread: move what the channel threads queued to `out`. */
static void chan_collect(struct worker *w) {
  pthread_mutex_lock(&w->lock);
  ResetEvent(w->chan_ev);
  if (w->chan_out.len) {
    guac_buf_reserve(&w->out, w->chan_out.len);
    memcpy(w->out.data + w->out.len, w->chan_out.data, w->chan_out.len);
    w->out.len += w->chan_out.len;
    w->chan_out.len = 0;
  }
  w->audio_pending = 0;
  pthread_mutex_unlock(&w->lock);
}

static UINT clip_monitor_ready(CliprdrClientContext *c, const CLIPRDR_MONITOR_READY *mr) {
  struct worker *w = c->custom;
  CLIPRDR_GENERAL_CAPABILITY_SET g = {.capabilitySetType = CB_CAPSTYPE_GENERAL,
                                      .capabilitySetLength = CB_CAPSTYPE_GENERAL_LEN,
                                      .version = CB_CAPS_VERSION_2,
                                      .generalFlags = CB_USE_LONG_FORMAT_NAMES};
  CLIPRDR_CAPABILITIES caps;
  memset(&caps, 0, sizeof(caps));
  caps.msgType = CB_CLIP_CAPS;
  caps.cCapabilitiesSets = 1;
  caps.capabilitySets = (CLIPRDR_CAPABILITY_SET *)&g;
  UINT rc = c->ClientCapabilities(c, &caps);
  if (rc != CHANNEL_RC_OK)
    return rc;
  pthread_mutex_lock(&w->lock);
  w->clip_ready = true;
  pthread_mutex_unlock(&w->lock);
  return clip_send_format_list(w, c);
}

static UINT clip_server_caps(CliprdrClientContext *c, const CLIPRDR_CAPABILITIES *caps) {
  return CHANNEL_RC_OK; /* text only: no capability changes what we do */
}

static UINT clip_server_format_list(CliprdrClientContext *c, const CLIPRDR_FORMAT_LIST *fl) {
  CLIPRDR_FORMAT_LIST_RESPONSE r;
  memset(&r, 0, sizeof(r));
  r.msgType = CB_FORMAT_LIST_RESPONSE;
  r.msgFlags = CB_RESPONSE_OK;
  UINT rc = c->ClientFormatListResponse(c, &r);
  if (rc != CHANNEL_RC_OK)
    return rc;
  for (UINT32 i = 0; i < fl->numFormats; i++) {
    if (fl->formats[i].formatId == CF_UNICODETEXT_ID) { /* fetch it now: the browser has no "paste" */
      CLIPRDR_FORMAT_DATA_REQUEST q;
      memset(&q, 0, sizeof(q));
      q.msgType = CB_FORMAT_DATA_REQUEST;
      q.requestedFormatId = CF_UNICODETEXT_ID;
      q.dataLen = 4;
      return c->ClientFormatDataRequest(c, &q);
    }
  }
  return CHANNEL_RC_OK;
}

static UINT clip_server_format_list_response(CliprdrClientContext *c, const CLIPRDR_FORMAT_LIST_RESPONSE *r) {
  return CHANNEL_RC_OK;
}

/* The server's text -> the browser: clipboard, blob..., end. */
static UINT clip_server_data_response(CliprdrClientContext *c, const CLIPRDR_FORMAT_DATA_RESPONSE *r) {
  struct worker *w = c->custom;
  if ((r->msgFlags & CB_RESPONSE_FAIL) || !r->requestedFormatData)
    return CHANNEL_RC_OK;
  size_t in = r->dataLen < 2 * (size_t)RDP_CLIP_MAX ? r->dataLen : 2 * (size_t)RDP_CLIP_MAX;
  char *text = NULL;
  size_t len = rdp_text_from_utf16(r->requestedFormatData, in, RDP_CLIP_MAX, &text);
  /* Stream CLIP_STREAM is this direction's own: the main loop's image streams are 1..64. */
  struct guac_buf b = {0};
  guac_putl(&b, "clipboard", CLIP_STREAM, "text/plain", NULL);
  for (size_t off = 0; off < len; off += GUAC_BLOB_BYTES)
    guac_put_blob(&b, CLIP_STREAM_ID, text + off, len - off < GUAC_BLOB_BYTES ? len - off : GUAC_BLOB_BYTES);
  guac_putl(&b, "end", CLIP_STREAM, NULL);
  chan_put(w, &b);
  guac_buf_free(&b);
  free(text);
  return CHANNEL_RC_OK;
}

/* The server pastes: serve the browser's last text. */
static UINT clip_server_data_request(CliprdrClientContext *c, const CLIPRDR_FORMAT_DATA_REQUEST *q) {
  struct worker *w = c->custom;
  CLIPRDR_FORMAT_DATA_RESPONSE r;
  memset(&r, 0, sizeof(r));
  r.msgType = CB_FORMAT_DATA_RESPONSE;
  uint8_t *copy = NULL;
  pthread_mutex_lock(&w->lock);
  if (q->requestedFormatId == CF_UNICODETEXT_ID && w->clip_local && (copy = malloc(w->clip_local_len))) {
    memcpy(copy, w->clip_local, w->clip_local_len);
    r.dataLen = (UINT32)w->clip_local_len;
  }
  pthread_mutex_unlock(&w->lock);
  r.msgFlags = copy ? CB_RESPONSE_OK : CB_RESPONSE_FAIL;
  r.requestedFormatData = copy;
  UINT rc = c->ClientFormatDataResponse(c, &r);
  free(copy);
  return rc;
}

static void clip_attach(struct worker *w, CliprdrClientContext *c) {
  w->clip = c;
  c->custom = w;
  c->MonitorReady = clip_monitor_ready;
  c->ServerCapabilities = clip_server_caps;
  c->ServerFormatList = clip_server_format_list;
  c->ServerFormatListResponse = clip_server_format_list_response;
  c->ServerFormatDataRequest = clip_server_data_request;
  c->ServerFormatDataResponse = clip_server_data_response;
}

/* Browser: clipboard,STREAM,MIMETYPE — text only; other types are refused. */
static void on_clipboard(struct worker *w, struct guac_instr *in) {
  long sid;
  if (in->argc < 2 || !guac_arg_int(in->argv[0], 0, 0x7fffffffL, &sid)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "clipboard: expected a stream and a mimetype");
    return;
  }
  if (strncmp(in->argv[1], "text/", 5) != 0) {
    guac_putl(&w->out, "ack", in->argv[0], "text only", "256", NULL); /* 0x0100 unsupported */
    return;
  }
  w->clip_in_stream = sid;
  w->clip_in.len = 0;
}

/* Browser: blob,STREAM,BASE64. True if it was the clipboard's. */
static bool on_clip_blob(struct worker *w, struct guac_instr *in, long sid) {
  if (sid != w->clip_in_stream)
    return false;
  size_t b64 = in->argl[1];
  guac_buf_reserve(&w->clip_in, b64 / 4 * 3 + 3);
  size_t n = guac_base64_decode(in->argv[1], b64, (unsigned char *)w->clip_in.data + w->clip_in.len);
  if (n == (size_t)-1) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "blob: not base64");
    return true;
  }
  /* beyond RDP_CLIP_MAX the text is cut (rdp_text_to_utf16 mends a cut character) */
  w->clip_in.len = w->clip_in.len + n > RDP_CLIP_MAX ? RDP_CLIP_MAX : w->clip_in.len + n;
  guac_putl(&w->out, "ack", in->argv[0], "OK", "0", NULL);
  return true;
}

/* Browser: end,STREAM of the clipboard: the text becomes what the server may paste. */
static bool on_clip_end(struct worker *w, long sid) {
  if (sid != w->clip_in_stream)
    return false;
  w->clip_in_stream = -1;
  uint8_t *text;
  size_t len = rdp_text_to_utf16(w->clip_in.data ? w->clip_in.data : "", w->clip_in.len,
                                 2 * (size_t)RDP_CLIP_MAX + 2, &text);
  w->clip_in.len = 0;
  pthread_mutex_lock(&w->lock);
  free(w->clip_local);
  w->clip_local = text;
  w->clip_local_len = len;
  bool ready = w->clip_ready;
  pthread_mutex_unlock(&w->lock);
  if (w->clip && ready)
    clip_send_format_list(w, w->clip);
  return true;
}

/* ---- audio out: an rdpsnd device (FreeRDP's thread) writing Guacamole audio/L16 ---- */

static struct worker *the_worker; /* one session per process; rdpsnd devices have no context */

struct qsnd {
  rdpsndDevicePlugin dev; /* first */
  struct worker *w;
};

static BOOL snd_format_supported(rdpsndDevicePlugin *dev, const AUDIO_FORMAT *f) {
  return f->wFormatTag == WAVE_FORMAT_PCM && f->wBitsPerSample == 16 &&
         (f->nChannels == 1 || f->nChannels == 2) && f->nSamplesPerSec >= 8000 && f->nSamplesPerSec <= 48000;
}

static BOOL snd_open(rdpsndDevicePlugin *dev, const AUDIO_FORMAT *f, UINT32 latency) {
  struct worker *w = ((struct qsnd *)dev)->w;
  if (!f || !snd_format_supported(dev, f))
    return FALSE;
  pthread_mutex_lock(&w->lock);
  bool same = w->audio_open && w->audio_rate == f->nSamplesPerSec && w->audio_channels == f->nChannels;
  pthread_mutex_unlock(&w->lock);
  if (same)
    return TRUE;
  char mime[64];
  snprintf(mime, sizeof(mime), "audio/L16;rate=%u,channels=%u", (unsigned)f->nSamplesPerSec,
           (unsigned)f->nChannels);
  struct guac_buf b = {0};
  pthread_mutex_lock(&w->lock);
  if (w->audio_open)
    guac_putl(&b, "end", AUDIO_STREAM, NULL);
  guac_putl(&b, "audio", AUDIO_STREAM, mime, NULL);
  w->audio_open = true;
  w->audio_refused = false;
  w->audio_rate = f->nSamplesPerSec;
  w->audio_channels = f->nChannels;
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
  size_t backlog = (size_t)w->audio_rate * w->audio_channels * 2 * AUDIO_BACKLOG_MS / 1000;
  bool drop = !w->audio_open || w->audio_refused || w->audio_pending + size > backlog;
  if (drop)
    w->audio_dropped += size;
  pthread_mutex_unlock(&w->lock);
  if (drop)
    return 0;
  struct guac_buf b = {0};
  for (size_t off = 0; off < size; off += GUAC_BLOB_BYTES)
    guac_put_blob(&b, AUDIO_STREAM_ID, data + off,
                  size - off < GUAC_BLOB_BYTES ? size - off : GUAC_BLOB_BYTES);
  pthread_mutex_lock(&w->lock);
  w->audio_pending += size;
  w->audio_bytes += size;
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
  if (w->audio_open)
    guac_putl(&b, "end", AUDIO_STREAM, NULL);
  w->audio_open = false;
  pthread_mutex_unlock(&w->lock);
  if (b.len)
    chan_put(w, &b);
  guac_buf_free(&b);
}

static void snd_free(rdpsndDevicePlugin *dev) {
  free(dev);
}

static UINT snd_entry(PFREERDP_RDPSND_DEVICE_ENTRY_POINTS ep) {
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

/* ---- microphone: an audin device fed by the browser's `audio` stream (Guacamole.AudioRecorder) ---- */

struct qmic {
  IAudinDevice dev; /* first */
  struct worker *w;
};

static BOOL mic_format_supported(IAudinDevice *dev, const AUDIO_FORMAT *f) {
  return f->wFormatTag == WAVE_FORMAT_PCM && f->wBitsPerSample == 16 &&
         (f->nChannels == 1 || f->nChannels == 2) && f->nSamplesPerSec >= 8000 && f->nSamplesPerSec <= 48000;
}

static UINT mic_set_format(IAudinDevice *dev, const AUDIO_FORMAT *f, UINT32 frames_per_packet) {
  struct worker *w = ((struct qmic *)dev)->w;
  pthread_mutex_lock(&w->lock);
  w->mic_format = *f;
  w->mic_format.cbSize = 0;
  w->mic_format.data = NULL;
  pthread_mutex_unlock(&w->lock);
  return CHANNEL_RC_OK;
}

static UINT mic_open(IAudinDevice *dev, AudinReceive receive, void *user) {
  struct worker *w = ((struct qmic *)dev)->w;
  pthread_mutex_lock(&w->lock);
  w->mic_receive = receive;
  w->mic_user = user;
  w->mic_conv.in_rate = 0; /* a new recording: the converter starts afresh */
  pthread_mutex_unlock(&w->lock);
  return CHANNEL_RC_OK;
}

static UINT mic_close(IAudinDevice *dev) {
  struct worker *w = ((struct qmic *)dev)->w;
  pthread_mutex_lock(&w->lock);
  w->mic_receive = NULL;
  pthread_mutex_unlock(&w->lock);
  return CHANNEL_RC_OK;
}

static UINT mic_free(IAudinDevice *dev) {
  free(dev);
  return CHANNEL_RC_OK;
}

static UINT mic_entry(PFREERDP_AUDIN_DEVICE_ENTRY_POINTS ep) {
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
static void on_audio_in(struct worker *w, struct guac_instr *in) {
  long sid;
  unsigned rate = 0, channels = 0;
  char tail;
  if (in->argc < 2 || !guac_arg_int(in->argv[0], 0, 0x7fffffffL, &sid)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "audio: expected a stream and a mimetype");
    return;
  }
  if (sscanf(in->argv[1], "audio/L16;rate=%u,channels=%u%c", &rate, &channels, &tail) != 2 || rate < 8000 ||
      rate > 48000 || channels < 1 || channels > 2) {
    guac_putl(&w->out, "ack", in->argv[0], "audio/L16;rate=8000..48000,channels=1|2 only", "783", NULL);
    return; /* 0x030F: client bad type */
  }
  w->mic_stream = sid;
  w->mic_rate = rate;
  w->mic_channels = channels;
  guac_putl(&w->out, "ack", in->argv[0], "OK", "0", NULL);
}

/* Browser: blob of the microphone stream. PCM in the format the server chose goes to it; any
 * other (or while the server does not record) is dropped: no resampling here. */
static bool on_mic_blob(struct worker *w, struct guac_instr *in, long sid) {
  if (sid != w->mic_stream)
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
  const AUDIO_FORMAT *f = &w->mic_format;
  unsigned char *data = pcm, *conv = NULL;
  size_t len = n;
  if (w->mic_receive && n % (2u * w->mic_channels) == 0 &&
      (f->nSamplesPerSec != w->mic_rate || f->nChannels != w->mic_channels)) {
    /* The server chose another format than the browser records: convert (rdp_pcm.c). */
    struct rdp_pcm *c = &w->mic_conv;
    if (c->in_rate != w->mic_rate || c->in_ch != w->mic_channels || c->out_rate != f->nSamplesPerSec ||
        c->out_ch != f->nChannels)
      rdp_pcm_init(c, w->mic_rate, w->mic_channels, f->nSamplesPerSec, f->nChannels);
    size_t frames = n / (2u * w->mic_channels);
    conv = malloc(rdp_pcm_max_out(c, frames) * 2u * f->nChannels);
    len = conv ? rdp_pcm_convert(c, (const int16_t *)pcm, frames, (int16_t *)conv) * 2u * f->nChannels : 0;
    data = conv;
  }
  if (w->mic_receive && data && len % (2u * f->nChannels) == 0 &&
      (len == 0 || w->mic_receive(f, data, len, w->mic_user) == CHANNEL_RC_OK))
    w->mic_bytes += n;
  else
    w->mic_dropped += n;
  pthread_mutex_unlock(&w->lock);
  free(conv);
  free(pcm);
  guac_putl(&w->out, "ack", in->argv[0], "OK", "0", NULL);
  return true;
}

/* FreeRDP's static channels, plus our rdpsnd and audin devices as their subsystem "qhm". */
static PVIRTUALCHANNELENTRY load_addin(LPCSTR name, LPCSTR subsystem, LPCSTR type, DWORD flags) {
  if (name && subsystem && strcmp(name, "rdpsnd") == 0 && strcmp(subsystem, "qhm") == 0)
    return (PVIRTUALCHANNELENTRY)snd_entry;
  if (name && subsystem && strcmp(name, "audin") == 0 && strcmp(subsystem, "qhm") == 0)
    return (PVIRTUALCHANNELENTRY)mic_entry;
  return freerdp_channels_load_static_addin_entry(name, subsystem, type, flags);
}

/* Browser: ack,STREAM,MESSAGE,STATUS — an error on the audio stream means it cannot play it. */
static void on_ack(struct worker *w, struct guac_instr *in) {
  long status;
  if (in->argc < 3 || strcmp(in->argv[0], AUDIO_STREAM) != 0 ||
      !guac_arg_int(in->argv[2], 0, 0xffff, &status))
    return;
  if (status != 0) {
    pthread_mutex_lock(&w->lock);
    w->audio_refused = true;
    pthread_mutex_unlock(&w->lock);
  }
}

/* ---- display control: the browser's `size` -> disp monitor layout, or a reconnection ---- */

/* RDP's scale factors for the browser's dpi: desktop 100..500 %, device 100, 140 or 180 %. */
static UINT32 desktop_scale(long dpi) {
  long s = (dpi * 100 + 48) / 96;
  return (UINT32)(s < 100 ? 100 : s > 500 ? 500 : s);
}

static UINT32 device_scale(long dpi) {
  UINT32 s = desktop_scale(dpi);
  return s >= 180 ? 180 : s >= 140 ? 140 : 100;
}

/* drdynvc's thread */
static UINT disp_caps(DispClientContext *d, UINT32 max_monitors, UINT32 fa, UINT32 fb) {
  struct worker *w = d->custom;
  pthread_mutex_lock(&w->lock);
  w->disp_ready = true;
  pthread_mutex_unlock(&w->lock);
  SetEvent(w->chan_ev); /* a resize may be waiting for this */
  return CHANNEL_RC_OK;
}

/* Browser: size,WIDTH,HEIGHT (guacamole-common-js's Client.sendSize) after the handshake. */
static void on_size(struct worker *w, struct guac_instr *in) {
  long width, height;
  if (in->argc < 2 || !guac_arg_int(in->argv[0], 1, 1 << 20, &width) ||
      !guac_arg_int(in->argv[1], 1, 1 << 20, &height)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "size: expected a width and a height");
    return;
  }
  /* [MS-RDPEDISP]: 200..8192, the width even */
  width = width < 200 ? 200 : width > 8192 ? 8192 : width & ~1L;
  height = height < 200 ? 200 : height > 8192 ? 8192 : height;
  w->want_w = width;
  w->want_h = height;
}

static int reconnect(struct worker *w, long width, long height);

/* Main loop: carry out a pending resize once RESIZE_MIN_MS passed since the last. 0, or -1 if
 * the session is lost. */
static int resize_step(struct worker *w, uint64_t now) {
  if (!w->want_w || now - w->last_resize < RESIZE_MIN_MS)
    return 0;
  rdpGdi *gdi = w->instance->context->gdi;
  long width = w->want_w, height = w->want_h;
  fb_lock(w);
  bool same = width == (long)gdi->width && height == (long)gdi->height;
  fb_unlock(w);
  if (same) {
    w->want_w = w->want_h = 0;
    return 0;
  }
  pthread_mutex_lock(&w->lock);
  bool ready = w->disp_ready && w->disp;
  pthread_mutex_unlock(&w->lock);
  if (ready) {
    DISPLAY_CONTROL_MONITOR_LAYOUT m;
    memset(&m, 0, sizeof(m));
    m.Flags = DISPLAY_CONTROL_MONITOR_PRIMARY;
    m.Width = (UINT32)width;
    m.Height = (UINT32)height;
    m.PhysicalWidth = (UINT32)(width * 254 / (w->dpi * 10));
    m.PhysicalHeight = (UINT32)(height * 254 / (w->dpi * 10));
    m.Orientation = ORIENTATION_LANDSCAPE;
    m.DesktopScaleFactor = desktop_scale(w->dpi);
    m.DeviceScaleFactor = device_scale(w->dpi);
    w->want_w = w->want_h = 0;
    w->last_resize = now;
    w->resizes++;
    if (w->disp->SendMonitorLayout(w->disp, 1, &m) != CHANNEL_RC_OK)
      wlog("disp: the monitor layout %ldx%ld could not be sent", width, height);
    return 0; /* the server answers with a DesktopResize (on_desktop_resize) */
  }
  if (now - w->connected_at < DISP_WAIT_MS)
    return 0; /* the server may still offer disp */
  w->want_w = w->want_h = 0;
  if (w->size_fixed)
    return 0; /* reconnecting again would give the same size (and loop with a browser that asks again) */
  w->last_resize = now;
  return reconnect(w, width, height);
}

/* ---- RemoteApp (rail, its own thread): after the server's handshake, start the program ---- */

static UINT rail_start(RailClientContext *r) {
  struct worker *w = r->custom;
  rdpSettings *s = w->instance->settings;
  RAIL_CLIENT_STATUS_ORDER st = {.flags = TS_RAIL_CLIENTSTATUS_ALLOWLOCALMOVESIZE};
  UINT rc = r->ClientInformation(r, &st);
  if (rc != CHANNEL_RC_OK)
    return rc;
  RAIL_SYSPARAM_ORDER sp;
  memset(&sp, 0, sizeof(sp));
  sp.params = SPI_MASK_SET_HIGH_CONTRAST | SPI_MASK_SET_MOUSE_BUTTON_SWAP | SPI_MASK_SET_KEYBOARD_PREF |
              SPI_MASK_SET_DRAG_FULL_WINDOWS | SPI_MASK_SET_KEYBOARD_CUES | SPI_MASK_SET_WORK_AREA;
  sp.highContrast.flags = 0x7e;
  sp.workArea.right = (UINT16)freerdp_settings_get_uint32(s, FreeRDP_DesktopWidth);
  sp.workArea.bottom = (UINT16)freerdp_settings_get_uint32(s, FreeRDP_DesktopHeight);
  if ((rc = r->ClientSystemParam(r, &sp)) != CHANNEL_RC_OK)
    return rc;
  RAIL_EXEC_ORDER ex;
  memset(&ex, 0, sizeof(ex));
  ex.RemoteApplicationProgram = (char *)w->args[ARG_REMOTE_APP];
  ex.RemoteApplicationArguments = (char *)w->args[ARG_REMOTE_APP_ARGS];
  ex.RemoteApplicationWorkingDir = "";
  return r->ClientExecute(r, &ex);
}

static UINT rail_server_handshake(RailClientContext *r, const RAIL_HANDSHAKE_ORDER *h) {
  return rail_start(r);
}

static UINT rail_server_handshake_ex(RailClientContext *r, const RAIL_HANDSHAKE_EX_ORDER *h) {
  return rail_start(r);
}

static UINT rail_exec_result(RailClientContext *r, const RAIL_EXEC_RESULT_ORDER *res) {
  if (res->execResult != RAIL_EXEC_S_OK)
    wlog("RemoteApp: the server could not start the program (result %u, 0x%08x)", res->execResult,
         res->rawResult);
  return CHANNEL_RC_OK;
}

/* ---- the graphics pipeline (rdpgfx): FreeRDP's GDI decodes it (gdi/gfx.c) into the same
 * framebuffer; we only watch which codecs the server uses ---- */

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
      w->gfx_codec_count[i]++;
  return w->gfx_surface_command(g, cmd);
}

static UINT gfx_caps_confirm(RdpgfxClientContext *g, const RDPGFX_CAPS_CONFIRM_PDU *c) {
  struct worker *w = W(((rdpGdi *)g->custom)->context);
  if (c && c->capsSet)
    wlog("gfx: the server chose version 0x%05x, flags 0x%x%s", (unsigned)c->capsSet->version,
         (unsigned)c->capsSet->flags,
         (c->capsSet->flags & RDPGFX_CAPS_FLAG_AVC_DISABLED) ? " (no H.264)" : "");
  return w->gfx_caps_confirm ? w->gfx_caps_confirm(g, c) : CHANNEL_RC_OK;
}

static void gfx_attach(struct worker *w, rdpContext *ctx, RdpgfxClientContext *g) {
  if (!gdi_graphics_pipeline_init(ctx->gdi, g)) {
    wlog("gfx: the graphics pipeline could not be set up");
    return;
  }
  w->gfx_surface_command = g->SurfaceCommand;
  g->SurfaceCommand = gfx_surface_command;
  w->gfx_caps_confirm = g->CapsConfirm;
  g->CapsConfirm = gfx_caps_confirm;
}

/* "avc420 1234, planar 5" for the exit line */
static void gfx_codecs_used(struct worker *w, char *out, size_t len) {
  size_t n = 0;
  out[0] = 0;
  for (size_t i = 0; i < RDPGFX_CODECS && n < len; i++)
    if (w->gfx_codec_count[i])
      n += (size_t)snprintf(out + n, len - n, "%s%s %lu", n ? ", " : "", gfx_codec_names[i].name,
                            w->gfx_codec_count[i]);
  if (!out[0])
    snprintf(out, len, "%s", w->gfx_mode == GFX_OFF ? "off" : "none used");
}

static void on_channel_connected(void *context, ChannelConnectedEventArgs *e) {
  struct worker *w = W(context);
  if (strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0) {
    clip_attach(w, e->pInterface);
  } else if (strcmp(e->name, RAIL_SVC_CHANNEL_NAME) == 0) {
    RailClientContext *r = e->pInterface;
    r->custom = w;
    r->ServerHandshake = rail_server_handshake;
    r->ServerHandshakeEx = rail_server_handshake_ex;
    r->ServerExecuteResult = rail_exec_result;
  } else if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) == 0) {
    gfx_attach(w, context, e->pInterface);
  } else if (strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0) {
    DispClientContext *d = e->pInterface;
    d->custom = w;
    d->DisplayControlCaps = disp_caps;
    pthread_mutex_lock(&w->lock);
    w->disp = d;
    pthread_mutex_unlock(&w->lock);
  }
}

static void on_channel_disconnected(void *context, ChannelDisconnectedEventArgs *e) {
  struct worker *w = W(context);
  if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) == 0 && ((rdpContext *)context)->gdi)
    gdi_graphics_pipeline_uninit(((rdpContext *)context)->gdi, e->pInterface);
  pthread_mutex_lock(&w->lock);
  if (strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0) {
    w->clip = NULL;
    w->clip_ready = false;
  } else if (strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0) {
    w->disp = NULL;
    w->disp_ready = false;
  }
  pthread_mutex_unlock(&w->lock);
}

static BOOL on_pre_connect(freerdp *instance) {
  rdpContext *ctx = instance->context;
  /* Channels are linked into libfreerdp-client; later features (rdpsnd, cliprdr, rdpdr, disp,
   * rail) are turned on through settings and loaded here. */
  freerdp_register_addin_provider(load_addin, 0);
  if (W(ctx)->audio_l16) { /* our device, before FreeRDP adds rdpsnd with its own (fake) one */
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

static BOOL on_post_connect(freerdp *instance) {
  if (!gdi_init(instance, PIXEL_FORMAT_BGRX32))
    return FALSE;
  rdpUpdate *u = instance->update;
  u->BeginPaint = on_begin_paint;
  u->EndPaint = on_end_paint;
  u->DesktopResize = on_desktop_resize;
  rdpPointer ptr;
  memset(&ptr, 0, sizeof(ptr));
  ptr.size = sizeof(struct wpointer);
  ptr.New = ptr_new;
  ptr.Free = ptr_free;
  ptr.Set = ptr_set;
  ptr.SetNull = ptr_set_null;
  ptr.SetDefault = ptr_set_default;
  ptr.SetPosition = ptr_set_position;
  graphics_register_pointer(instance->context->graphics, &ptr);
  return TRUE;
}

static void on_post_disconnect(freerdp *instance) {
  gdi_free(instance);
}

static BOOL on_authenticate(freerdp *instance, char **username, char **password, char **domain) {
  /* Only what the daemon gave: never prompt. */
  struct worker *w = W(instance->context);
  return w->args[ARG_USERNAME][0] != 0;
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
  if (strcmp(w->args[ARG_IGNORE_CERT], "true") == 0) {
    wlog("certificate of %s:%u accepted (policy: ignore), fingerprint %s", host, port, fp);
    return 2;
  }
  if (fingerprint_pinned(w->args[ARG_CERT_FINGERPRINTS], fp)) {
    wlog("certificate of %s:%u matches a pinned fingerprint", host, port);
    return 2;
  }
  snprintf(w->cert_seen, sizeof(w->cert_seen), "%s", fp);
  return 0;
}

static DWORD on_verify_certificate(freerdp *instance, const char *host, UINT16 port, const char *common_name,
                                   const char *subject, const char *issuer, const char *fingerprint,
                                   DWORD flags) {
  return verify_cert(W(instance->context), host, port, fingerprint);
}

static DWORD on_verify_changed_certificate(freerdp *instance, const char *host, UINT16 port,
                                           const char *common_name, const char *subject, const char *issuer,
                                           const char *new_fingerprint, const char *old_subject,
                                           const char *old_issuer, const char *old_fingerprint, DWORD flags) {
  return verify_cert(W(instance->context), host, port, new_fingerprint);
}

/* ---- frames ---- */

static void emit_rect(struct worker *w, rdpGdi *gdi, struct rdp_rect r) {
  const uint8_t *fb = gdi->primary_buffer;
  size_t stride = gdi->stride;
  enum rdp_format f = rdp_choose_format(fb, stride, r, w->allow_jpeg || w->allow_webp);
  if (f == RDP_FMT_JPEG && w->allow_webp)
    f = RDP_FMT_WEBP;
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = f == RDP_FMT_WEBP   ? rdp_encode_webp(fb, stride, r, WEBP_QUALITY, &data, &len)
           : f == RDP_FMT_JPEG ? rdp_encode_jpeg(fb, stride, r, JPEG_QUALITY, &data, &len)
                               : rdp_encode_png(fb, stride, r, &data, &len);
  if (rc < 0) {
    wlog("cannot encode a %dx%d rectangle", r.w, r.h);
    return;
  }
  unsigned sid = w->stream;
  w->stream = w->stream >= 64 ? 1 : w->stream + 1;
  char s[16], x[16], y[16];
  snprintf(s, sizeof(s), "%u", sid);
  snprintf(x, sizeof(x), "%d", r.x);
  snprintf(y, sizeof(y), "%d", r.y);
  /* mask 14 = Porter/Duff "over" with an opaque image: a plain copy */
  const char *mime = f == RDP_FMT_WEBP ? "image/webp" : f == RDP_FMT_JPEG ? "image/jpeg" : "image/png";
  guac_putl(&w->out, "img", s, "14", "0", mime, x, y, NULL);
  for (size_t off = 0; off < len; off += GUAC_BLOB_BYTES)
    guac_put_blob(&w->out, sid, data + off, len - off < GUAC_BLOB_BYTES ? len - off : GUAC_BLOB_BYTES);
  guac_putl(&w->out, "end", s, NULL);
  free(data);
  w->rects++;
  if (f == RDP_FMT_WEBP)
    w->webp_rects++;
  else if (f == RDP_FMT_JPEG)
    w->jpeg_rects++;
  else
    w->png_rects++;
}

/* (Re)start the browser-side copy of the screen: all black, as a fresh canvas shows it. */
static void reset_prev(struct worker *w) {
  rdpGdi *gdi = w->instance->context->gdi;
  size_t need = (size_t)gdi->stride * gdi->height;
  if (need != w->prev_size) {
    free(w->prev);
    w->prev = malloc(need);
    w->prev_size = w->prev ? need : 0;
  }
  if (w->prev)
    memset(w->prev, 0, need);
}

/* A scrolled band is sent as a Guacamole `copy` of what the browser already has plus the rows
 * that are new (xterm, logs, web pages: a fraction of a full-screen image). */
static void emit_dirty(struct worker *w, rdpGdi *gdi, struct rdp_rect r) {
  struct rdp_scroll sc;
  if (!w->prev || !rdp_find_scroll(gdi->primary_buffer, w->prev, gdi->stride, r, &sc)) {
    emit_rect(w, gdi, r);
    return;
  }
  char x[16], sy[16], wd[16], h[16], dy[16];
  snprintf(x, sizeof(x), "%d", r.x);
  snprintf(sy, sizeof(sy), "%d", sc.y - sc.dy);
  snprintf(wd, sizeof(wd), "%d", r.w);
  snprintf(h, sizeof(h), "%d", sc.h);
  snprintf(dy, sizeof(dy), "%d", sc.y);
  guac_putl(&w->out, "copy", "0", x, sy, wd, h, "14", "0", x, dy, NULL);
  w->copies++;
  if (sc.y > r.y)
    emit_rect(w, gdi, (struct rdp_rect){r.x, r.y, r.w, sc.y - r.y});
  if (sc.y + sc.h < r.y + r.h)
    emit_rect(w, gdi, (struct rdp_rect){r.x, sc.y + sc.h, r.w, r.y + r.h - sc.y - sc.h});
}

static bool dirty_pending(struct worker *w) {
  pthread_mutex_lock(&w->lock);
  bool any = w->dirty.n > 0;
  pthread_mutex_unlock(&w->lock);
  return any;
}

static int flush_frame(struct worker *w) {
  rdpGdi *gdi = w->instance->context->gdi;
  fb_lock(w);
  apply_resize(w);
  pthread_mutex_lock(&w->lock);
  struct rdp_dirty d = w->dirty;
  w->dirty.n = 0;
  pthread_mutex_unlock(&w->lock);
  for (size_t i = 0; i < d.n; i++)
    emit_dirty(w, gdi, d.r[i]);
  if (w->prev) /* the browser now shows these rectangles */
    for (size_t i = 0; i < d.n; i++) {
      struct rdp_rect r = d.r[i];
      for (int y = r.y; y < r.y + r.h; y++)
        memcpy(w->prev + (size_t)y * gdi->stride + (size_t)r.x * 4,
               gdi->primary_buffer + (size_t)y * gdi->stride + (size_t)r.x * 4, (size_t)r.w * 4);
    }
  fb_unlock(w);
  uint64_t ts = mono_ms() - w->t0 + 1;
  if (ts <= w->last_sync)
    ts = w->last_sync + 1;
  w->last_sync = ts;
  char t[24];
  snprintf(t, sizeof(t), "%llu", (unsigned long long)ts);
  guac_putl(&w->out, "sync", t, NULL);
  w->unacked[w->n_unacked++] = ts;
  w->last_flush = mono_ms();
  w->frames++;
  return flush_out(w);
}

static void on_sync_ack(struct worker *w, const char *arg) {
  long ts;
  if (!guac_arg_int(arg, 0, 0x7fffffffL, &ts))
    return;
  size_t k = 0;
  for (size_t i = 0; i < w->n_unacked; i++)
    if (w->unacked[i] > (uint64_t)ts)
      w->unacked[k++] = w->unacked[i];
  w->n_unacked = k;
}

/* ---- input ---- */

static void on_mouse(struct worker *w, struct guac_instr *in) {
  long x, y, mask;
  if (in->argc < 3 || !guac_arg_int(in->argv[0], -65535, 65535, &x) ||
      !guac_arg_int(in->argv[1], -65535, 65535, &y) || !guac_arg_int(in->argv[2], 0, 31, &mask)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "mouse: expected x, y and a button mask 0..31");
    return;
  }
  rdpGdi *gdi = w->instance->context->gdi;
  rdpInput *input = w->instance->input;
  x = x < 0 ? 0 : x >= (long)gdi->width ? (long)gdi->width - 1 : x;
  y = y < 0 ? 0 : y >= (long)gdi->height ? (long)gdi->height - 1 : y;
  if (x != w->mx || y != w->my)
    freerdp_input_send_mouse_event(input, PTR_FLAGS_MOVE, (UINT16)x, (UINT16)y);
  static const struct {
    long bit;
    UINT16 flag;
  } buttons[] = {{1, PTR_FLAGS_BUTTON1}, {2, PTR_FLAGS_BUTTON3}, {4, PTR_FLAGS_BUTTON2}};
  for (size_t i = 0; i < 3; i++) {
    long b = buttons[i].bit;
    if ((mask & b) != (w->mmask & b))
      freerdp_input_send_mouse_event(input, buttons[i].flag | ((mask & b) ? PTR_FLAGS_DOWN : 0), (UINT16)x,
                                     (UINT16)y);
  }
  /* Wheel: one notch (120) per press of the scroll "buttons". */
  if ((mask & 8) && !(w->mmask & 8))
    freerdp_input_send_mouse_event(input, PTR_FLAGS_WHEEL | 0x0078, (UINT16)x, (UINT16)y);
  if ((mask & 16) && !(w->mmask & 16))
    freerdp_input_send_mouse_event(input, PTR_FLAGS_WHEEL | PTR_FLAGS_WHEEL_NEGATIVE | 0x0088, (UINT16)x,
                                   (UINT16)y);
  w->mx = x;
  w->my = y;
  w->mmask = mask;
}

static void send_unicode(rdpInput *input, uint32_t cp, bool down) {
  UINT16 f = down ? 0 : KBD_FLAGS_RELEASE;
  if (cp < 0x10000) {
    freerdp_input_send_unicode_keyboard_event(input, f, (UINT16)cp);
  } else { /* RDP carries UTF-16 code units */
    cp -= 0x10000;
    freerdp_input_send_unicode_keyboard_event(input, f, (UINT16)(0xd800 + (cp >> 10)));
    freerdp_input_send_unicode_keyboard_event(input, f, (UINT16)(0xdc00 + (cp & 0x3ff)));
  }
}

static void on_key(struct worker *w, struct guac_instr *in) {
  long ks, pressed;
  if (in->argc < 2 || !guac_arg_int(in->argv[0], 0, 0x7fffffffL, &ks) ||
      !guac_arg_int(in->argv[1], 0, 1, &pressed)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "key: expected a keysym and 0 or 1");
    return;
  }
  rdpInput *input = w->instance->input;
  uint32_t keysym = (uint32_t)ks;
  if (rdp_keysym_is_shift(keysym))
    w->shift_down = pressed;
  if (!pressed) {
    for (size_t i = 0; i < w->n_pressed; i++) {
      struct pressed p = w->pressed[i];
      if (p.keysym != keysym)
        continue;
      if (p.unicode)
        send_unicode(input, p.code, false);
      else
        freerdp_input_send_keyboard_event(input, (UINT16)(p.flags | KBD_FLAGS_RELEASE), p.code);
      w->pressed[i] = w->pressed[--w->n_pressed];
      return;
    }
    return; /* a release of a key we never pressed (focus changes) is harmless */
  }
  struct pressed p = {.keysym = keysym};
  struct rdp_key k;
  if (rdp_keysym_lookup(keysym, &k) && (!k.shifted || w->shift_down)) {
    p.code = k.scancode;
    p.flags = k.extended ? KBD_FLAGS_EXTENDED : 0;
    freerdp_input_send_keyboard_event(input, (UINT16)(p.flags | KBD_FLAGS_DOWN), p.code);
  } else {
    uint32_t cp = rdp_keysym_to_unicode(keysym);
    if (!cp)
      return; /* nothing to type */
    p.unicode = true;
    p.code = (uint16_t)(cp > 0xffff ? 0 : cp);
    send_unicode(input, cp, true);
    if (cp > 0xffff) { /* release at once: the pair cannot be remembered in 16 bits */
      send_unicode(input, cp, false);
      return;
    }
  }
  if (w->n_pressed < MAX_PRESSED)
    w->pressed[w->n_pressed++] = p;
}

static void handle(struct worker *w, struct guac_instr *in) {
  const char *op = in->opcode;
  if (op[0] == 0) { /* tunnel-internal: answer the WebSocket tunnel's keep-alive ping */
    if (in->argc == 2 && strcmp(in->argv[0], "ping") == 0)
      guac_put(&w->out, "", 2, in->argv);
    return;
  }
  if (strcmp(op, "mouse") == 0)
    on_mouse(w, in);
  else if (strcmp(op, "key") == 0)
    on_key(w, in);
  else if (strcmp(op, "sync") == 0 && in->argc >= 1)
    on_sync_ack(w, in->argv[0]);
  else if (strcmp(op, "disconnect") == 0)
    w->quit = true;
  else if (strcmp(op, "clipboard") == 0)
    on_clipboard(w, in);
  else if (strcmp(op, "size") == 0)
    on_size(w, in);
  else if (strcmp(op, "ack") == 0)
    on_ack(w, in);
  else if (strcmp(op, "audio") == 0)
    on_audio_in(w, in);
  else if ((strcmp(op, "blob") == 0 || strcmp(op, "end") == 0) && in->argc >= 1) {
    long sid;
    if (!guac_arg_int(in->argv[0], 0, 0x7fffffffL, &sid) || (op[0] == 'b' && in->argc < 2)) {
      send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "%s: expected a stream%s", op,
                 op[0] == 'b' ? " and data" : "");
      return;
    }
    if (op[0] == 'b') {
      if (!on_clip_blob(w, in, sid))
        on_mic_blob(w, in, sid);
    } else if (!on_clip_end(w, sid) && sid == w->mic_stream) {
      w->mic_stream = -1;
    }
  }
  /* size (disp), clipboard, audio, file streams, nop: later or nothing to do */
}

/* Parse and handle every whole instruction received. */
static void drain_input(struct worker *w) {
  size_t off = 0;
  while (!w->quit && off < w->in.len) {
    size_t used;
    char err[160];
    enum guac_status st = guac_parse(w->in.data + off, w->in.len - off, w->ins, &used, err, sizeof(err));
    if (st == GUAC_NEED_MORE)
      break;
    if (st == GUAC_ERROR) {
      send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "malformed instruction: %s", err);
      return;
    }
    off += used;
    handle(w, w->ins);
  }
  guac_buf_consume(&w->in, off);
}

/* ---- session ---- */

/*
 * FreeRDP 2's connection sequence (rdp_client_connect) reads what the server sent, then calls
 * Sleep(100) before it looks again: every round trip of the sequence (MCS attach, channel joins,
 * licensing, capabilities, finalization) costs up to 100 ms, ~1 s in all against a server on
 * this machine. The worker defines WinPR's Sleep itself (exported, so libfreerdp2 binds to it
 * rather than to libwinpr2's): on the main thread while freerdp_connect() runs, a sleep ends as
 * soon as the connection has something to read. Everywhere else it sleeps like WinPR's.
 */
static pthread_t main_thread;
static rdpContext *connecting; /* read and written by the main thread only */

VOID Sleep(DWORD ms) {
  if (pthread_equal(pthread_self(), main_thread) && connecting) {
    HANDLE h[MAXIMUM_WAIT_OBJECTS];
    DWORD n = freerdp_get_event_handles(connecting, h, MAXIMUM_WAIT_OBJECTS);
    /* The transport's handles come first, then two of the channels' (freerdp_get_event_handles),
     * which are not serviced while connecting. A descriptor that is already readable when the
     * sequence sleeps is one it does not read now (after a reconnection, one stays readable):
     * waking on it would end every sleep at once, and the sequence counts its sleeps to time
     * out. So wait only for descriptors that become readable. */
    struct pollfd p[MAXIMUM_WAIT_OBJECTS];
    nfds_t k = 0;
    for (DWORD i = 0; n > 2 && i < n - 2; i++) {
      int fd = GetEventFileDescriptor(h[i]);
      struct pollfd one = {.fd = fd, .events = POLLIN};
      if (fd >= 0 && poll(&one, 1, 0) == 0)
        p[k++] = one;
    }
    if (k > 0) {
      poll(p, k, (int)ms);
      return;
    }
  }
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static BOOL connect_now(freerdp *instance) {
  connecting = instance->context;
  BOOL ok = freerdp_connect(instance);
  connecting = NULL;
  return ok;
}

static int connect_rdp(struct worker *w) {
  long port;
  const char *host = w->args[ARG_HOSTNAME];
  if (!host[0] || !guac_arg_int(w->args[ARG_PORT], 1, 65535, &port)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "hostname and port (1..65535) are required");
    return -1;
  }
  freerdp *instance = freerdp_new();
  if (!instance)
    return -1;
  w->instance = instance;
  instance->ContextSize = sizeof(struct wctx);
  instance->PreConnect = on_pre_connect;
  instance->PostConnect = on_post_connect;
  instance->PostDisconnect = on_post_disconnect;
  instance->Authenticate = on_authenticate;
  instance->VerifyCertificateEx = on_verify_certificate;
  instance->VerifyChangedCertificateEx = on_verify_changed_certificate;
  if (!freerdp_context_new(instance))
    return -1;
  ((struct wctx *)instance->context)->w = w;
  rdpSettings *s = instance->settings;
  freerdp_settings_set_string(s, FreeRDP_ServerHostname, host);
  freerdp_settings_set_uint32(s, FreeRDP_ServerPort, (UINT32)port);
  if (w->args[ARG_USERNAME][0])
    freerdp_settings_set_string(s, FreeRDP_Username, w->args[ARG_USERNAME]);
  if (w->args[ARG_PASSWORD][0])
    freerdp_settings_set_string(s, FreeRDP_Password, w->args[ARG_PASSWORD]);
  if (w->args[ARG_DOMAIN][0])
    freerdp_settings_set_string(s, FreeRDP_Domain, w->args[ARG_DOMAIN]);
  freerdp_settings_set_uint32(s, FreeRDP_DesktopWidth, (UINT32)w->width);
  freerdp_settings_set_uint32(s, FreeRDP_DesktopHeight, (UINT32)w->height);
  /* HiDPI: the browser's devicePixelRatio as RDP's scale factors (core data and disp layouts) */
  freerdp_settings_set_uint32(s, FreeRDP_DesktopScaleFactor, desktop_scale(w->dpi));
  freerdp_settings_set_uint32(s, FreeRDP_DeviceScaleFactor, device_scale(w->dpi));
  freerdp_settings_set_uint32(s, FreeRDP_DesktopPhysicalWidth, (UINT32)(w->width * 254 / (w->dpi * 10)));
  freerdp_settings_set_uint32(s, FreeRDP_DesktopPhysicalHeight, (UINT32)(w->height * 254 / (w->dpi * 10)));
  freerdp_settings_set_bool(s, FreeRDP_SupportDisplayControl, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_DesktopResize, TRUE);
  freerdp_settings_set_uint32(s, FreeRDP_ColorDepth, 32);
  freerdp_settings_set_bool(s, FreeRDP_SoftwareGdi, TRUE);
  /* The graphics pipeline (what Windows 8+ servers prefer), with H.264 (AVC420/AVC444) when
   * FreeRDP has a decoder (Debian's: FFmpeg) and the daemon asks for it (`graphics`: gfx-h264,
   * gfx or legacy). QHM_RDP_GFX (the same words) overrides it, for servers that misbehave.
   * FreeRDP's GDI decodes every codec into the same framebuffer, which we encode for the
   * browser as usual. */
  const char *gm = getenv("QHM_RDP_GFX");
  if (!gm || !gm[0])
    gm = w->args[ARG_GRAPHICS];
  w->gfx_mode = strcmp(gm, "legacy") == 0 ? GFX_OFF : strcmp(gm, "gfx") == 0 ? GFX_NO_H264 : GFX_ON;
  bool h264 = false; /* FreeRDP has an H.264 decoder: offered to the server */
  if (w->gfx_mode == GFX_ON) {
    H264_CONTEXT *h = h264_context_new(FALSE);
    h264 = h != NULL;
    h264_context_free(h);
    if (!h264)
      wlog("gfx: FreeRDP has no H.264 decoder here: the server is offered the other codecs");
  }
  freerdp_settings_set_bool(s, FreeRDP_SupportGraphicsPipeline, w->gfx_mode != GFX_OFF);
  freerdp_settings_set_bool(s, FreeRDP_GfxH264, h264);
  freerdp_settings_set_bool(s, FreeRDP_GfxAVC444, h264);
  freerdp_settings_set_bool(s, FreeRDP_GfxAVC444v2, h264);
  freerdp_settings_set_bool(s, FreeRDP_GfxProgressive, w->gfx_mode != GFX_OFF);
  freerdp_settings_set_bool(s, FreeRDP_GfxProgressiveV2, w->gfx_mode != GFX_OFF);
  freerdp_settings_set_bool(s, FreeRDP_GfxThinClient, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_GfxSmallCache, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_AutoReconnectionEnabled, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_FastPathOutput, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_FastPathInput, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_IgnoreCertificate, FALSE);
  freerdp_settings_set_uint32(s, FreeRDP_TcpConnectTimeout, 10000);
  /* A certificate FreeRDP finds in its known_hosts is accepted without asking us: give it a store
   * of its own, which stays empty (we accept "for this session only"). */
  if (w->config_dir)
    freerdp_settings_set_string(s, FreeRDP_ConfigPath, w->config_dir);
  /* NSCodec (lossless surface bits) lets servers that offer it skip planar bitmaps: measured
   * with freerdp-shadow-cli, 8 -> 15 full-screen frames per second at the same bytes per frame.
   * RemoteFX, progressive and H.264 come with the graphics pipeline (above). */
  /* Channels: cliprdr (text), disp, rdpsnd (when the browser plays audio/L16), rdpdr (the
   * shared folder, when the daemon gives one). Audio input stays off: nothing records yet. */
  freerdp_settings_set_bool(s, FreeRDP_RedirectClipboard, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_AudioPlayback, w->audio_l16);
  freerdp_settings_set_bool(s, FreeRDP_AudioCapture, w->audio_l16);
  /* One program instead of the desktop: RemoteApp (rail) or, in a full session, the alternate shell */
  const char *app = w->args[ARG_REMOTE_APP];
  if (app[0] && strcmp(w->args[ARG_REMOTE_APP_MODE], "shell") == 0) {
    const char *args = w->args[ARG_REMOTE_APP_ARGS];
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
    freerdp_settings_set_string(s, FreeRDP_RemoteApplicationCmdLine, w->args[ARG_REMOTE_APP_ARGS]);
    freerdp_settings_set_bool(s, FreeRDP_RemoteAppLanguageBarSupported, TRUE);
  }
  /* rdpdr: FreeRDP's own drive channel serves the shared folder (its thread, its file I/O) */
  const char *drive = w->args[ARG_DRIVE_PATH];
  freerdp_settings_set_bool(s, FreeRDP_DeviceRedirection, drive[0] != 0);
  if (drive[0]) {
    char *dv[] = {"drive", (char *)(w->args[ARG_DRIVE_NAME][0] ? w->args[ARG_DRIVE_NAME] : RDP_DRIVE_NAME),
                  (char *)drive};
    /* Not FreeRDP_RedirectDrives: it adds a hotplug poller of the host's mounts, whose thread
     * takes ~0.8 s to stop at every disconnect (measured), for drives we never redirect. */
    if (!freerdp_client_add_device_channel(s, 3, dv)) {
      send_error(w, GUAC_S_SERVER_ERROR, "the shared folder cannot be redirected");
      return -1;
    }
  }
  freerdp_settings_set_bool(s, FreeRDP_NSCodec, TRUE);
  freerdp_settings_set_uint32(s, FreeRDP_NSCodecColorLossLevel, 1); /* 1 = lossless */
  freerdp_settings_set_bool(s, FreeRDP_NSCodecAllowSubsampling, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_NSCodecAllowDynamicColorFidelity, FALSE);
  const char *sec = w->args[ARG_SECURITY];
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
  if (!w->args[ARG_USERNAME][0]) /* NLA needs credentials */
    freerdp_settings_set_bool(s, FreeRDP_NlaSecurity, FALSE);
  if (!connect_now(instance)) {
    UINT32 e = freerdp_get_last_error(instance->context);
    if (w->cert_seen[0])
      send_error(w, GUAC_S_UPSTREAM_ERROR, "the certificate of %s:%ld is not trusted; its fingerprint is %s",
                 host, port, w->cert_seen);
    else if (e == FREERDP_ERROR_AUTHENTICATION_FAILED || e == FREERDP_ERROR_CONNECT_LOGON_FAILURE ||
             e == FREERDP_ERROR_CONNECT_WRONG_PASSWORD ||
             e == FREERDP_ERROR_CONNECT_NO_OR_MISSING_CREDENTIALS)
      send_error(w, GUAC_S_CLIENT_UNAUTHORIZED, "%s:%ld refused the credentials: %s", host, port,
                 freerdp_get_last_error_string(e));
    else if (e == FREERDP_ERROR_CONNECT_TRANSPORT_FAILED || e == FREERDP_ERROR_DNS_NAME_NOT_FOUND ||
             e == FREERDP_ERROR_CONNECT_FAILED)
      send_error(w, GUAC_S_UPSTREAM_NOT_FOUND, "cannot connect to %s:%ld: %s", host, port,
                 freerdp_get_last_error_string(e));
    else
      send_error(w, GUAC_S_UPSTREAM_ERROR, "RDP connection to %s:%ld failed: %s", host, port,
                 e ? freerdp_get_last_error_string(e) : "protocol error");
    return -1;
  }
  w->connected = true;
  w->connected_at = mono_ms();
  return 0;
}

/* Resize without disp: a new connection at the new size (the server may not honour it; the browser
 * learns the size it got from `size`). The channels come back with their ChannelConnected events. */
static int reconnect(struct worker *w, long width, long height) {
  freerdp *instance = w->instance;
  rdpSettings *s = instance->settings;
  wlog("the server has no Display Control channel: reconnecting at %ldx%ld", width, height);
  freerdp_disconnect(instance);
  w->connected = false;
  freerdp_settings_set_uint32(s, FreeRDP_DesktopWidth, (UINT32)width);
  freerdp_settings_set_uint32(s, FreeRDP_DesktopHeight, (UINT32)height);
  freerdp_settings_set_uint32(s, FreeRDP_DesktopPhysicalWidth, (UINT32)(width * 254 / (w->dpi * 10)));
  freerdp_settings_set_uint32(s, FreeRDP_DesktopPhysicalHeight, (UINT32)(height * 254 / (w->dpi * 10)));
  if (!connect_now(instance)) {
    UINT32 e = freerdp_get_last_error(instance->context);
    send_error(w, GUAC_S_UPSTREAM_ERROR, "reconnecting at %ldx%ld failed: %s", width, height,
               e ? freerdp_get_last_error_string(e) : "protocol error");
    return -1;
  }
  w->connected = true;
  w->connected_at = mono_ms();
  w->reconnects++;
  rdpGdi *gdi = instance->context->gdi;
  if ((long)gdi->width != width || (long)gdi->height != height) {
    w->size_fixed = true;
    wlog("the server chose %ux%u instead: no more reconnections to resize", (unsigned)gdi->width,
         (unsigned)gdi->height);
  }
  mark_resized(w);
  return 0;
}

static void run(struct worker *w) {
  rdpContext *ctx = w->instance->context;
  HANDLE sock_ev = CreateFileDescriptorEvent(NULL, FALSE, FALSE, w->fd, WINPR_FD_READ);
  /* Nothing is drawn until the server's first update: an all-black first frame would only cost
   * bytes and flash. That update may already sit in FreeRDP's TLS buffer, read during the
   * connection, where no handle signals it: process it before the first wait, and never wait
   * longer than MAX_WAIT_MS for the same reason. */
  if (!freerdp_check_event_handles(ctx)) {
    send_error(w, GUAC_S_UPSTREAM_ERROR, "the RDP server ended the session");
    CloseHandle(sock_ev);
    return;
  }
  reset_prev(w);
  while (!w->quit) {
    HANDLE h[MAXIMUM_WAIT_OBJECTS];
    DWORD n = freerdp_get_event_handles(ctx, h, MAXIMUM_WAIT_OBJECTS - 2);
    if (n == 0) {
      send_error(w, GUAC_S_SERVER_ERROR, "FreeRDP gave no event handles");
      break;
    }
    h[n++] = sock_ev;
    h[n++] = w->chan_ev;
    uint64_t now = mono_ms();
    DWORD timeout = MAX_WAIT_MS;
    bool can_send = w->n_unacked < MAX_UNACKED && dirty_pending(w);
    if (can_send)
      timeout = now - w->last_flush >= MIN_FRAME_MS ? 0 : (DWORD)(MIN_FRAME_MS - (now - w->last_flush));
    DWORD st = WaitForMultipleObjects(n, h, FALSE, timeout);
    if (st == WAIT_FAILED) {
      send_error(w, GUAC_S_SERVER_ERROR, "waiting for events failed");
      break;
    }
    if (!freerdp_check_event_handles(ctx) || freerdp_shall_disconnect(w->instance)) {
      UINT32 e = freerdp_get_last_error(ctx);
      if (e && e != FREERDP_ERROR_SUCCESS)
        send_error(w, GUAC_S_UPSTREAM_ERROR, "the RDP server ended the session: %s",
                   freerdp_get_last_error_string(e));
      else
        send_error(w, GUAC_S_UPSTREAM_ERROR, "the RDP server ended the session");
      break;
    }
    chan_collect(w);
    if (resize_step(w, mono_ms()) < 0)
      break;
    int r = read_some(w, false);
    if (r < 0) {
      w->quit = true; /* the daemon closed: the browser went away */
      break;
    }
    drain_input(w);
    if (w->quit)
      break;
    now = mono_ms();
    apply_resize(w); /* `size` goes out at once, even while frames wait for acks */
    if (w->n_unacked < MAX_UNACKED && now - w->last_flush >= MIN_FRAME_MS && dirty_pending(w)) {
      if (flush_frame(w) < 0)
        break;
    } else if (w->out.len > 0 || now - w->last_out >= KEEPALIVE_MS) {
      if (w->out.len == 0)
        guac_putl(&w->out, "nop", NULL);
      if (flush_out(w) < 0)
        break;
    }
  }
  CloseHandle(sock_ev);
}

int main(int argc, char **argv) {
  struct worker wk = {
      .fd = 3, .width = 1024, .height = 768, .dpi = 96, .stream = 1, .clip_in_stream = -1, .mic_stream = -1};
  struct worker *w = &wk;
  main_thread = pthread_self();
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc) {
      long fd;
      if (!guac_arg_int(argv[++i], 0, 1 << 20, &fd)) {
        fprintf(stderr, "qemu-hmos-rdp: --fd needs a file descriptor number\n");
        return 2;
      }
      w->fd = (int)fd;
    } else if (strcmp(argv[i], "--config-dir") == 0 && i + 1 < argc) {
      w->config_dir = argv[++i];
    } else if (strcmp(argv[i], "--version") == 0) {
      printf("qemu-hmos-rdp %s (FreeRDP %s)\n", QHM_VERSION, freerdp_get_version_string());
      return 0;
    } else {
      fprintf(stderr,
              "usage: qemu-hmos-rdp [--fd N] [--config-dir DIR]\n"
              "  Guacamole protocol on fd N (default 3); DIR: FreeRDP's own files (default: ~/.config)\n");
      return 2;
    }
  }
  if (fcntl(w->fd, F_GETFD) < 0) {
    fprintf(stderr, "qemu-hmos-rdp: fd %d is not open\n", w->fd);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
  fcntl(w->fd, F_SETFD, FD_CLOEXEC);
  /* FreeRDP otherwise benchmarks its generic against its SIMD primitives at first use: 0.3 s of
   * CPU before every first frame, to choose what is always the SIMD one on a CPU. */
  primitives_set_hints(PRIMITIVES_ONLY_CPU);
  if (!getenv("WLOG_LEVEL")) /* FreeRDP's own variable: more detail in rdp.log when asked for */
    WLog_SetLogLevel(WLog_GetRoot(), WLOG_WARN);
  the_worker = w;
  w->ins = malloc(sizeof(*w->ins));
  pthread_mutex_init(&w->lock, NULL);
  w->chan_ev = CreateEvent(NULL, TRUE, FALSE, NULL);
  if (!w->ins || !w->chan_ev)
    return 1;
  snprintf(w->id, sizeof(w->id), "$qhm-rdp-%d-%llu", (int)getpid(), (unsigned long long)time(NULL));
  w->t0 = mono_ms();
  if (handshake(w) == 0) {
    /* The tunnel's id (guacamole-common-js's WebSocketTunnel reads it as the first instruction). */
    const char *idv[1] = {w->id};
    guac_put(&w->out, "", 1, idv);
    if (flush_out(w) == 0 && connect_rdp(w) == 0) {
      guac_putl(&w->out, "ready", w->id, NULL);
      send_size(w);
      w->last_out = mono_ms();
      if (flush_out(w) == 0) {
        wlog("connected to %s:%s, %ux%u", w->args[ARG_HOSTNAME], w->args[ARG_PORT],
             w->instance->context->gdi->width, w->instance->context->gdi->height);
        run(w);
      }
    }
  }
  uint64_t t_end = mono_ms();
  if (w->instance) {
    if (w->connected)
      freerdp_disconnect(w->instance);
    if (w->instance->context)
      freerdp_context_free(w->instance);
    freerdp_free(w->instance);
  }
  char codecs[256];
  gfx_codecs_used(w, codecs, sizeof(codecs));
  wlog("exit: %lu frames, %lu rectangles (%lu png, %lu jpeg, %lu webp), %lu scroll copies, %lu cursors, %llu "
       "bytes out, "
       "%lu disp resizes, %lu reconnections, %lu audio bytes (%lu dropped), %lu microphone bytes (%lu "
       "dropped); gfx codecs: %s; "
       "teardown %llu ms",
       w->frames, w->rects, w->png_rects, w->jpeg_rects, w->webp_rects, w->copies, w->cursors, w->bytes_out,
       w->resizes, w->reconnects, w->audio_bytes, w->audio_dropped, w->mic_bytes, w->mic_dropped, codecs,
       (unsigned long long)(mono_ms() - t_end));
  free(w->prev);
  for (size_t i = 0; i < ARG__N; i++)
    free(w->arg_store[i]);
  guac_buf_free(&w->in);
  guac_buf_free(&w->out);
  free(w->ins);
  free(w->clip_local);
  guac_buf_free(&w->clip_in);
  guac_buf_free(&w->chan_out);
  CloseHandle(w->chan_ev);
  return w->failed ? 1 : 0;
}
