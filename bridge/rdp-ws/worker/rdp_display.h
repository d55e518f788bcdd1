/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rdp_display: what the RDP worker does with FreeRDP's GDI framebuffer —
 * dirty rectangles collected between frames (coalesced into a few), and each
 * encoded as PNG (exact: text, UI, flat colour) or JPEG/WebP (photo-like
 * content) from BGRX32 pixels. Pure apart from libpng/libjpeg/libwebp; worker
 * thread only.
 */
#ifndef QHM_RDP_DISPLAY_H
#define QHM_RDP_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rdp_rect {
  int x, y, w, h;
};

#define RDP_DIRTY_MAX 12

struct rdp_dirty {
  size_t n;
  struct rdp_rect r[RDP_DIRTY_MAX];
};

/* Add a rectangle, clipped to FB_W x FB_H. Overlapping or close rectangles are merged
 * when the union wastes little area; past RDP_DIRTY_MAX the cheapest pair is merged. */
void rdp_dirty_add(struct rdp_dirty *d, int x, int y, int w, int h, int fb_w, int fb_h);

enum rdp_format { RDP_FMT_PNG, RDP_FMT_JPEG, RDP_FMT_WEBP };

/* PNG or JPEG for the rectangle R of the BGRX32 framebuffer FB: JPEG only when ALLOW_JPEG,
 * the rectangle is large and a sample of its pixels has many distinct colours (the caller may
 * send such a photo-like rectangle as WebP instead). */
enum rdp_format rdp_choose_format(const uint8_t *fb, size_t stride, struct rdp_rect r, bool allow_jpeg);

/* A vertical scroll inside R: rows [y, y+h) of CUR equal rows [y-dy, y-dy+h) of PREV (both
 * BGRX32 with STRIDE, PREV being what the browser shows), all inside R. */
struct rdp_scroll {
  int dy; /* > 0: content moved down; < 0: up (text scrolling) */
  int y, h;
};

/* Look for the longest such band of at least a quarter of R's rows (and 16); false if none.
 * Rows repeated in PREV (blank lines) do not vote, so a flat background is not a "scroll". */
bool rdp_find_scroll(const uint8_t *cur, const uint8_t *prev, size_t stride, struct rdp_rect r,
                     struct rdp_scroll *out);

/* Encode R of FB (BGRX32, STRIDE bytes per row). On success *OUT is malloc'd. */
int rdp_encode_png(const uint8_t *fb, size_t stride, struct rdp_rect r, uint8_t **out, size_t *len);
/* W x H BGRA32 pixels with alpha (a cursor) as an RGBA PNG. */
int rdp_encode_png_alpha(const uint8_t *bgra, size_t stride, int w, int h, uint8_t **out, size_t *len);
int rdp_encode_jpeg(const uint8_t *fb, size_t stride, struct rdp_rect r, int quality, uint8_t **out,
                    size_t *len);
/* Lossy WebP (QUALITY 0..100, libwebp's fastest method), no alpha. *OUT is malloc'd. */
int rdp_encode_webp(const uint8_t *fb, size_t stride, struct rdp_rect r, int quality, uint8_t **out,
                    size_t *len);

#endif
