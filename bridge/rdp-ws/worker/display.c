/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * display.c: FreeRDP's GDI framebuffer -> the browser. EndPaint adds dirty
 * rectangles (any drawing thread, under `lock`); the main loop sends a frame
 * (img + blob + end per rectangle, or a `copy` for a scrolled band, then sync)
 * when the browser has acknowledged all but MAX_UNACKED of the previous
 * frames' syncs (main.c decides when). Encoding: rdp_display.c. Also the
 * remote pointer (a PNG in buffer layer -1, then `cursor`) and desktop
 * resizes. Main thread, but for the paint and resize callbacks (see
 * struct wk_display).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <freerdp/codec/color.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/graphics.h>
#include <winpr/synch.h>

#include "worker.h"

#define JPEG_QUALITY 80
#define WEBP_QUALITY 75 /* about JPEG 80's look at ~2/3 of its bytes */
#define MAX_CURSOR 384  /* pixels per side; larger pointer shapes are ignored */

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
      rdp_dirty_add(&w->d.dirty, hwnd->cinvalid[i].x, hwnd->cinvalid[i].y, hwnd->cinvalid[i].w,
                    hwnd->cinvalid[i].h, fw, fh);
  } else {
    rdp_dirty_add(&w->d.dirty, hwnd->invalid->x, hwnd->invalid->y, hwnd->invalid->w, hwnd->invalid->h, fw,
                  fh);
  }
  pthread_mutex_unlock(&w->lock);
  SetEvent(w->chan.ev);
  return TRUE;
}

/* The framebuffer lock: FreeRDP's update->mux (a recursive WinPR critical section), held by
 * update_begin_paint .. update_end_paint around all drawing, whichever thread draws. */
void fb_lock(struct worker *w) {
  EnterCriticalSection(&w->s.instance->update->mux);
}

void fb_unlock(struct worker *w) {
  LeaveCriticalSection(&w->s.instance->update->mux);
}

void send_size(struct worker *w) {
  char ws[16], hs[16];
  snprintf(ws, sizeof(ws), "%u", w->s.instance->context->gdi->width);
  snprintf(hs, sizeof(hs), "%u", w->s.instance->context->gdi->height);
  guac_putl(&w->link.out, "size", "0", ws, hs, NULL);
}

/* The framebuffer has a new size: all of it is dirty, and the main loop tells the browser
 * (apply_resize). Any thread. */
void mark_resized(struct worker *w) {
  rdpGdi *gdi = w->s.instance->context->gdi;
  pthread_mutex_lock(&w->lock);
  w->d.dirty.n = 0;
  w->d.resized = true;
  rdp_dirty_add(&w->d.dirty, 0, 0, (int)gdi->width, (int)gdi->height, (int)gdi->width, (int)gdi->height);
  pthread_mutex_unlock(&w->lock);
  SetEvent(w->chan.ev);
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
void apply_resize(struct worker *w) {
  pthread_mutex_lock(&w->lock);
  bool resized = w->d.resized;
  w->d.resized = false;
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
  unsigned sid = w->d.stream;
  w->d.stream = w->d.stream >= 64 ? 1 : w->d.stream + 1;
  char s[16];
  snprintf(s, sizeof(s), "%u", sid);
  guac_putl(&w->link.out, "img", s, mask, layer, "image/png", "0", "0", NULL);
  for (size_t off = 0; off < len; off += GUAC_BLOB_BYTES)
    guac_put_blob(&w->link.out, sid, png + off, len - off < GUAC_BLOB_BYTES ? len - off : GUAC_BLOB_BYTES);
  guac_putl(&w->link.out, "end", s, NULL);
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
  guac_putl(&w->link.out, "size", "-1", ws, hs, NULL);
  send_blob_stream(w, "12", "-1", png, len); /* 12: replace, alpha included */
  guac_putl(&w->link.out, "cursor", xs, ys, "-1", "0", "0", ws, hs, NULL);
  free(png);
  w->d.cursors++;
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

/* FreeRDP connected (main thread): its GDI renders into a BGRX32 framebuffer, and the paint, resize
 * and pointer callbacks above are ours. */
BOOL on_post_connect(freerdp *instance) {
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

/* ---- frames ---- */

static void emit_rect(struct worker *w, rdpGdi *gdi, struct rdp_rect r) {
  const uint8_t *fb = gdi->primary_buffer;
  size_t stride = gdi->stride;
  enum rdp_format f = rdp_choose_format(fb, stride, r, w->hs.allow_jpeg || w->hs.allow_webp);
  if (f == RDP_FMT_JPEG && w->hs.allow_webp)
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
  unsigned sid = w->d.stream;
  w->d.stream = w->d.stream >= 64 ? 1 : w->d.stream + 1;
  char s[16], x[16], y[16];
  snprintf(s, sizeof(s), "%u", sid);
  snprintf(x, sizeof(x), "%d", r.x);
  snprintf(y, sizeof(y), "%d", r.y);
  /* mask 14 = Porter/Duff "over" with an opaque image: a plain copy */
  const char *mime = f == RDP_FMT_WEBP ? "image/webp" : f == RDP_FMT_JPEG ? "image/jpeg" : "image/png";
  guac_putl(&w->link.out, "img", s, "14", "0", mime, x, y, NULL);
  for (size_t off = 0; off < len; off += GUAC_BLOB_BYTES)
    guac_put_blob(&w->link.out, sid, data + off, len - off < GUAC_BLOB_BYTES ? len - off : GUAC_BLOB_BYTES);
  guac_putl(&w->link.out, "end", s, NULL);
  free(data);
  w->d.rects++;
  if (f == RDP_FMT_WEBP)
    w->d.webp_rects++;
  else if (f == RDP_FMT_JPEG)
    w->d.jpeg_rects++;
  else
    w->d.png_rects++;
}

/* (Re)start the browser-side copy of the screen: all black, as a fresh canvas shows it. */
void reset_prev(struct worker *w) {
  rdpGdi *gdi = w->s.instance->context->gdi;
  size_t need = (size_t)gdi->stride * gdi->height;
  if (need != w->d.prev_size) {
    free(w->d.prev);
    w->d.prev = malloc(need);
    w->d.prev_size = w->d.prev ? need : 0;
  }
  if (w->d.prev)
    memset(w->d.prev, 0, need);
}

/* A scrolled band is sent as a Guacamole `copy` of what the browser already has plus the rows
 * that are new (xterm, logs, web pages: a fraction of a full-screen image). */
static void emit_dirty(struct worker *w, rdpGdi *gdi, struct rdp_rect r) {
  struct rdp_scroll sc;
  if (!w->d.prev || !rdp_find_scroll(gdi->primary_buffer, w->d.prev, gdi->stride, r, &sc)) {
    emit_rect(w, gdi, r);
    return;
  }
  char x[16], sy[16], wd[16], h[16], dy[16];
  snprintf(x, sizeof(x), "%d", r.x);
  snprintf(sy, sizeof(sy), "%d", sc.y - sc.dy);
  snprintf(wd, sizeof(wd), "%d", r.w);
  snprintf(h, sizeof(h), "%d", sc.h);
  snprintf(dy, sizeof(dy), "%d", sc.y);
  guac_putl(&w->link.out, "copy", "0", x, sy, wd, h, "14", "0", x, dy, NULL);
  w->d.copies++;
  if (sc.y > r.y)
    emit_rect(w, gdi, (struct rdp_rect){r.x, r.y, r.w, sc.y - r.y});
  if (sc.y + sc.h < r.y + r.h)
    emit_rect(w, gdi, (struct rdp_rect){r.x, sc.y + sc.h, r.w, r.y + r.h - sc.y - sc.h});
}

bool dirty_pending(struct worker *w) {
  pthread_mutex_lock(&w->lock);
  bool any = w->d.dirty.n > 0;
  pthread_mutex_unlock(&w->lock);
  return any;
}

int flush_frame(struct worker *w) {
  rdpGdi *gdi = w->s.instance->context->gdi;
  fb_lock(w);
  apply_resize(w);
  pthread_mutex_lock(&w->lock);
  struct rdp_dirty d = w->d.dirty;
  w->d.dirty.n = 0;
  pthread_mutex_unlock(&w->lock);
  for (size_t i = 0; i < d.n; i++)
    emit_dirty(w, gdi, d.r[i]);
  if (w->d.prev) /* the browser now shows these rectangles */
    for (size_t i = 0; i < d.n; i++) {
      struct rdp_rect r = d.r[i];
      for (int y = r.y; y < r.y + r.h; y++)
        memcpy(w->d.prev + (size_t)y * gdi->stride + (size_t)r.x * 4,
               gdi->primary_buffer + (size_t)y * gdi->stride + (size_t)r.x * 4, (size_t)r.w * 4);
    }
  fb_unlock(w);
  uint64_t ts = mono_ms() - w->d.t0 + 1;
  if (ts <= w->d.last_sync)
    ts = w->d.last_sync + 1;
  w->d.last_sync = ts;
  char t[24];
  snprintf(t, sizeof(t), "%llu", (unsigned long long)ts);
  guac_putl(&w->link.out, "sync", t, NULL);
  w->d.unacked[w->d.n_unacked++] = ts;
  w->d.last_flush = mono_ms();
  w->d.frames++;
  return flush_out(w);
}

void on_sync_ack(struct worker *w, const char *arg) {
  long ts;
  if (!guac_arg_int(arg, 0, 0x7fffffffL, &ts))
    return;
  size_t k = 0;
  for (size_t i = 0; i < w->d.n_unacked; i++)
    if (w->d.unacked[i] > (uint64_t)ts)
      w->d.unacked[k++] = w->d.unacked[i];
  w->d.n_unacked = k;
}
