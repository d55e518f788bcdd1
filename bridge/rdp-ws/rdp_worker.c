/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-hmos-rdp: one RDP session, in its own process (guacd's lesson: a
 * hostile or crashing RDP server must never take the daemon down). The
 * daemon forks it with a socket as fd 3 and speaks the Guacamole protocol
 * (VERSION_1_5_0) on it: the daemon performs the handshake (select, args,
 * size, audio, video, image, connect) with values from the VM's config and
 * the browser's URL; after that every byte both ways is the browser's.
 *
 * One thread. The loop waits on FreeRDP's event handles and the socket;
 * FreeRDP's GDI renders into a BGRX32 framebuffer, EndPaint adds dirty
 * rectangles, and a frame (img + blob + end per rectangle, then sync) is
 * sent only when the browser has acknowledged all but MAX_UNACKED of the
 * previous frames' syncs and MIN_FRAME_MS have passed: a slow browser lowers
 * the frame rate, nothing queues. Writes to the daemon block (with a
 * deadline), so the daemon's own bounded buffers pace this process too.
 *
 * Exit status: 0 after a disconnect from either side, 1 after an error
 * (reported first as a Guacamole `error` instruction), 2 for bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <freerdp/addin.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/codec/color.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/graphics.h>
#include <freerdp/primitives.h>
#include <freerdp/settings.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>

#include "guac.h"
#include "rdp_display.h"
#include "rdp_keys.h"

#define MIN_FRAME_MS 16   /* at most ~60 frames per second */
#define MAX_UNACKED 2     /* frames sent but not yet acknowledged by the browser's sync */
#define KEEPALIVE_MS 5000 /* guacamole-common-js closes a tunnel silent for 15 s */
#define MAX_WAIT_MS 250   /* see run() */
#define WRITE_DEADLINE_MS 30000
#define JPEG_QUALITY 80
#define MAX_PRESSED 32
#define MAX_CURSOR 384 /* pixels per side; larger pointer shapes are ignored */

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
  ARG__N
};
static const char *const arg_names[ARG__N] = {
    "VERSION_1_5_0", "hostname", "port",        "username",          "password",
    "domain",        "security", "ignore-cert", "cert-fingerprints",
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
  /* session */
  freerdp *instance;
  bool connected, quit, failed;
  char cert_seen[256]; /* fingerprint of a certificate refused by the policy */
  struct rdp_dirty dirty;
  uint64_t t0, last_flush, last_out;
  uint64_t unacked[MAX_UNACKED + 2];
  size_t n_unacked;
  uint64_t last_sync;
  unsigned stream;
  long mx, my, mmask;
  bool shift_down;
  struct pressed pressed[MAX_PRESSED];
  size_t n_pressed;
  uint8_t *prev; /* what the browser shows (same layout as the GDI buffer), for scroll detection */
  size_t prev_size;
  /* statistics, logged at exit */
  unsigned long frames, rects, png_rects, jpeg_rects, copies, cursors;
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
    } else if (strcmp(in->opcode, "audio") == 0 || strcmp(in->opcode, "video") == 0 ||
               strcmp(in->opcode, "timezone") == 0 || strcmp(in->opcode, "name") == 0) {
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

static BOOL on_end_paint(rdpContext *ctx) {
  struct worker *w = W(ctx);
  rdpGdi *gdi = ctx->gdi;
  HGDI_WND hwnd = gdi->primary->hdc->hwnd;
  if (hwnd->invalid->null)
    return TRUE;
  int fw = (int)gdi->width, fh = (int)gdi->height;
  if (hwnd->ninvalid > 0 && hwnd->cinvalid) {
    for (INT32 i = 0; i < hwnd->ninvalid; i++)
      rdp_dirty_add(&w->dirty, hwnd->cinvalid[i].x, hwnd->cinvalid[i].y, hwnd->cinvalid[i].w,
                    hwnd->cinvalid[i].h, fw, fh);
  } else {
    rdp_dirty_add(&w->dirty, hwnd->invalid->x, hwnd->invalid->y, hwnd->invalid->w, hwnd->invalid->h, fw, fh);
  }
  return TRUE;
}

static void send_size(struct worker *w) {
  char ws[16], hs[16];
  snprintf(ws, sizeof(ws), "%u", w->instance->context->gdi->width);
  snprintf(hs, sizeof(hs), "%u", w->instance->context->gdi->height);
  guac_putl(&w->out, "size", "0", ws, hs, NULL);
}

static void reset_prev(struct worker *w);

static BOOL on_desktop_resize(rdpContext *ctx) {
  struct worker *w = W(ctx);
  rdpSettings *s = ctx->settings;
  if (!gdi_resize(ctx->gdi, freerdp_settings_get_uint32(s, FreeRDP_DesktopWidth),
                  freerdp_settings_get_uint32(s, FreeRDP_DesktopHeight)))
    return FALSE;
  w->dirty.n = 0;
  reset_prev(w);
  send_size(w);
  rdp_dirty_add(&w->dirty, 0, 0, (int)ctx->gdi->width, (int)ctx->gdi->height, (int)ctx->gdi->width,
                (int)ctx->gdi->height);
  return TRUE;
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

static BOOL on_pre_connect(freerdp *instance) {
  rdpContext *ctx = instance->context;
  /* Channels are linked into libfreerdp-client; later features (rdpsnd, cliprdr, rdpdr, disp,
   * rail) are turned on through settings and loaded here. */
  freerdp_register_addin_provider(freerdp_channels_load_static_addin_entry, 0);
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
  enum rdp_format f = rdp_choose_format(fb, stride, r, w->allow_jpeg);
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = f == RDP_FMT_JPEG ? rdp_encode_jpeg(fb, stride, r, JPEG_QUALITY, &data, &len)
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
  guac_putl(&w->out, "img", s, "14", "0", f == RDP_FMT_JPEG ? "image/jpeg" : "image/png", x, y, NULL);
  for (size_t off = 0; off < len; off += GUAC_BLOB_BYTES)
    guac_put_blob(&w->out, sid, data + off, len - off < GUAC_BLOB_BYTES ? len - off : GUAC_BLOB_BYTES);
  guac_putl(&w->out, "end", s, NULL);
  free(data);
  w->rects++;
  if (f == RDP_FMT_JPEG)
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

static int flush_frame(struct worker *w) {
  rdpGdi *gdi = w->instance->context->gdi;
  for (size_t i = 0; i < w->dirty.n; i++)
    emit_dirty(w, gdi, w->dirty.r[i]);
  if (w->prev) /* the browser now shows these rectangles */
    for (size_t i = 0; i < w->dirty.n; i++) {
      struct rdp_rect r = w->dirty.r[i];
      for (int y = r.y; y < r.y + r.h; y++)
        memcpy(w->prev + (size_t)y * gdi->stride + (size_t)r.x * 4,
               gdi->primary_buffer + (size_t)y * gdi->stride + (size_t)r.x * 4, (size_t)r.w * 4);
    }
  w->dirty.n = 0;
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
  freerdp_settings_set_uint32(s, FreeRDP_ColorDepth, 32);
  freerdp_settings_set_bool(s, FreeRDP_SoftwareGdi, TRUE);
  freerdp_settings_set_bool(s, FreeRDP_SupportGraphicsPipeline, FALSE);
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
   * RemoteFX (lossy) and GFX/H.264 come with the graphics pipeline, later. */
  /* No channel without a handler yet: clipboard, sound and device redirection would otherwise be
   * negotiated (and audio streamed) for nothing. Later sessions turn them on with their handlers. */
  freerdp_settings_set_bool(s, FreeRDP_RedirectClipboard, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_AudioPlayback, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_AudioCapture, FALSE);
  freerdp_settings_set_bool(s, FreeRDP_DeviceRedirection, FALSE);
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
  if (!freerdp_connect(instance)) {
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
    DWORD n = freerdp_get_event_handles(ctx, h, MAXIMUM_WAIT_OBJECTS - 1);
    if (n == 0) {
      send_error(w, GUAC_S_SERVER_ERROR, "FreeRDP gave no event handles");
      break;
    }
    h[n++] = sock_ev;
    uint64_t now = mono_ms();
    DWORD timeout = MAX_WAIT_MS;
    bool can_send = w->dirty.n > 0 && w->n_unacked < MAX_UNACKED;
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
    int r = read_some(w, false);
    if (r < 0) {
      w->quit = true; /* the daemon closed: the browser went away */
      break;
    }
    drain_input(w);
    if (w->quit)
      break;
    now = mono_ms();
    if (w->dirty.n > 0 && w->n_unacked < MAX_UNACKED && now - w->last_flush >= MIN_FRAME_MS) {
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
  struct worker wk = {.fd = 3, .width = 1024, .height = 768, .dpi = 96, .stream = 1};
  struct worker *w = &wk;
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
  w->ins = malloc(sizeof(*w->ins));
  if (!w->ins)
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
  if (w->instance) {
    if (w->connected)
      freerdp_disconnect(w->instance);
    if (w->instance->context)
      freerdp_context_free(w->instance);
    freerdp_free(w->instance);
  }
  wlog("exit: %lu frames, %lu rectangles (%lu png, %lu jpeg), %lu scroll copies, %lu cursors, %llu bytes out",
       w->frames, w->rects, w->png_rects, w->jpeg_rects, w->copies, w->cursors, w->bytes_out);
  free(w->prev);
  for (size_t i = 0; i < ARG__N; i++)
    free(w->arg_store[i]);
  guac_buf_free(&w->in);
  guac_buf_free(&w->out);
  free(w->ins);
  return w->failed ? 1 : 0;
}
