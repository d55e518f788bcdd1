/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rdp_display: see rdp_display.h. Worker thread only. */
#include "rdp_display.h"

#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>
#include <zlib.h>

static long area(struct rdp_rect r) {
  return (long)r.w * r.h;
}

static struct rdp_rect unite(struct rdp_rect a, struct rdp_rect b) {
  int x0 = a.x < b.x ? a.x : b.x, y0 = a.y < b.y ? a.y : b.y;
  int x1 = a.x + a.w > b.x + b.w ? a.x + a.w : b.x + b.w;
  int y1 = a.y + a.h > b.y + b.h ? a.y + a.h : b.y + b.h;
  return (struct rdp_rect){x0, y0, x1 - x0, y1 - y0};
}

/* Pixels a merge would encode that neither rectangle needs (overlap counted once is ignored:
 * slightly pessimistic, which only favours keeping rectangles apart). */
static long waste(struct rdp_rect a, struct rdp_rect b) {
  return area(unite(a, b)) - area(a) - area(b);
}

void rdp_dirty_add(struct rdp_dirty *d, int x, int y, int w, int h, int fb_w, int fb_h) {
  if (x < 0) {
    w += x;
    x = 0;
  }
  if (y < 0) {
    h += y;
    y = 0;
  }
  if (x >= fb_w || y >= fb_h || w <= 0 || h <= 0)
    return;
  if (w > fb_w - x)
    w = fb_w - x;
  if (h > fb_h - y)
    h = fb_h - y;
  struct rdp_rect r = {x, y, w, h};
  /* Merge with every rectangle where the union costs at most one small tile of waste, repeatedly,
   * since a merged rectangle can now touch others. */
  for (;;) {
    bool merged = false;
    for (size_t i = 0; i < d->n; i++) {
      if (waste(d->r[i], r) <= 64 * 64) {
        r = unite(d->r[i], r);
        d->r[i] = d->r[--d->n];
        merged = true;
        break;
      }
    }
    if (!merged)
      break;
  }
  if (d->n < RDP_DIRTY_MAX) {
    d->r[d->n++] = r;
    return;
  }
  /* Full: merge R into the rectangle where that wastes least. */
  size_t best = 0;
  long bw = -1;
  for (size_t i = 0; i < d->n; i++) {
    long wv = waste(d->r[i], r);
    if (bw < 0 || wv < bw) {
      bw = wv;
      best = i;
    }
  }
  d->r[best] = unite(d->r[best], r);
}

enum rdp_format rdp_choose_format(const uint8_t *fb, size_t stride, struct rdp_rect r, bool allow_jpeg) {
  if (!allow_jpeg || r.w < 64 || r.h < 64)
    return RDP_FMT_PNG;
  /* Count distinct colours among up to 256 sampled pixels: UI and text use few, photos many. */
  uint32_t seen[256];
  size_t n = 0;
  for (int sy = 0; sy < 16; sy++) {
    const uint32_t *row = (const uint32_t *)(fb + (size_t)(r.y + sy * r.h / 16) * stride);
    for (int sx = 0; sx < 16; sx++) {
      uint32_t px = row[r.x + sx * r.w / 16] & 0xffffffu;
      size_t i = 0;
      while (i < n && seen[i] != px)
        i++;
      if (i == n)
        seen[n++] = px;
    }
  }
  return n > 96 ? RDP_FMT_JPEG : RDP_FMT_PNG;
}

/* ---- scroll detection ---- */

static uint64_t row_hash(const uint8_t *row, int w) {
  /* FNV-1a over 32-bit pixels (the X byte ignored): cheap and good enough, matches are memcmp'd. */
  uint64_t h = 1469598103934665603ull;
  const uint32_t *p = (const uint32_t *)row;
  for (int i = 0; i < w; i++) {
    h ^= p[i] & 0xffffffu;
    h *= 1099511628211ull;
  }
  return h;
}

struct hrow {
  uint64_t h;
  int y;
};

static int cmp_hrow(const void *a, const void *b) {
  const struct hrow *x = a, *y = b;
  return x->h < y->h ? -1 : x->h > y->h ? 1 : x->y - y->y;
}

#define MAX_SCROLL_ROWS 4096

bool rdp_find_scroll(const uint8_t *cur, const uint8_t *prev, size_t stride, struct rdp_rect r,
                     struct rdp_scroll *out) {
  if (r.h < 32 || r.w < 16 || r.h > MAX_SCROLL_ROWS)
    return false;
  uint64_t *ch = malloc(sizeof(uint64_t) * (size_t)r.h);
  struct hrow *ph = malloc(sizeof(struct hrow) * (size_t)r.h);
  int *votes_dy = calloc((size_t)(2 * r.h + 1), sizeof(int));
  bool found = false;
  if (!ch || !ph || !votes_dy)
    goto out;
  for (int i = 0; i < r.h; i++) {
    size_t off = (size_t)(r.y + i) * stride + (size_t)r.x * 4;
    ch[i] = row_hash(cur + off, r.w);
    ph[i].h = row_hash(prev + off, r.w);
    ph[i].y = i;
  }
  qsort(ph, (size_t)r.h, sizeof(*ph), cmp_hrow);
  /* Each current row whose content appears exactly once in PREV votes for its displacement. */
  for (int i = 0; i < r.h; i++) {
    size_t lo = 0, hi = (size_t)r.h;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (ph[mid].h < ch[i])
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo >= (size_t)r.h || ph[lo].h != ch[i] || (lo + 1 < (size_t)r.h && ph[lo + 1].h == ch[i]))
      continue;
    int dy = i - ph[lo].y;
    if (dy != 0)
      votes_dy[dy + r.h]++;
  }
  int best = 0, bv = 0;
  for (int k = 0; k <= 2 * r.h; k++)
    if (votes_dy[k] > bv) {
      bv = votes_dy[k];
      best = k - r.h;
    }
  if (bv < 4)
    goto out;
  /* The longest run of rows that really match (memcmp) at displacement BEST. */
  int run_y = 0, run_h = 0;
  for (int i = 0; i < r.h;) {
    int src = i - best;
    if (src < 0 || src >= r.h) {
      i++;
      continue;
    }
    int j = i;
    while (j < r.h && j - best >= 0 && j - best < r.h &&
           memcmp(cur + (size_t)(r.y + j) * stride + (size_t)r.x * 4,
                  prev + (size_t)(r.y + j - best) * stride + (size_t)r.x * 4, (size_t)r.w * 4) == 0)
      j++;
    if (j - i > run_h) {
      run_h = j - i;
      run_y = i;
    }
    i = j > i ? j : i + 1;
  }
  if (run_h >= 16 && run_h * 4 >= r.h) {
    out->dy = best;
    out->y = r.y + run_y;
    out->h = run_h;
    found = true;
  }
out:
  free(ch);
  free(ph);
  free(votes_dy);
  return found;
}

struct membuf {
  uint8_t *data;
  size_t len, cap;
};

static void png_write_mem(png_structp png, png_bytep data, png_size_t len) {
  struct membuf *m = png_get_io_ptr(png);
  if (m->len + len > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 65536;
    while (cap < m->len + len)
      cap *= 2;
    uint8_t *n = realloc(m->data, cap);
    if (!n)
      png_error(png, "out of memory");
    m->data = n;
    m->cap = cap;
  }
  memcpy(m->data + m->len, data, len);
  m->len += len;
}

static void png_flush_mem(png_structp png) {}

static int encode_png(const uint8_t *fb, size_t stride, struct rdp_rect r, bool alpha, uint8_t **out,
                      size_t *len);

int rdp_encode_png(const uint8_t *fb, size_t stride, struct rdp_rect r, uint8_t **out, size_t *len) {
  return encode_png(fb, stride, r, false, out, len);
}

int rdp_encode_png_alpha(const uint8_t *bgra, size_t stride, int w, int h, uint8_t **out, size_t *len) {
  return encode_png(bgra, stride, (struct rdp_rect){0, 0, w, h}, true, out, len);
}

static int encode_png(const uint8_t *fb, size_t stride, struct rdp_rect r, bool alpha, uint8_t **out,
                      size_t *len) {
  struct membuf m = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    return -1;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(m.data);
    return -1;
  }
  png_set_write_fn(png, &m, png_write_mem, png_flush_mem);
  /* Speed over size: screen content compresses well with the SUB filter and run-length zlib. */
  png_set_compression_level(png, 1);
  png_set_compression_strategy(png, Z_RLE);
  png_set_filter(png, 0, PNG_FILTER_SUB);
  png_set_IHDR(png, info, (png_uint_32)r.w, (png_uint_32)r.h, 8,
               alpha ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_set_bgr(png);
  if (!alpha)
    png_set_filler(png, 0, PNG_FILLER_AFTER); /* BGRX in memory: drop the X byte */
  for (int y = 0; y < r.h; y++)
    png_write_row(png, (png_const_bytep)(fb + (size_t)(r.y + y) * stride + (size_t)r.x * 4));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  *out = m.data;
  *len = m.len;
  return 0;
}

int rdp_encode_jpeg(const uint8_t *fb, size_t stride, struct rdp_rect r, int quality, uint8_t **out,
                    size_t *len) {
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  unsigned char *buf = NULL;
  unsigned long blen = 0;
  cinfo.err = jpeg_std_error(&jerr); /* errors here are programming errors (bad sizes): exit is fine */
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buf, &blen);
  cinfo.image_width = (JDIMENSION)r.w;
  cinfo.image_height = (JDIMENSION)r.h;
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_EXT_BGRX;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = (JSAMPROW)(fb + (size_t)(r.y + (int)cinfo.next_scanline) * stride + (size_t)r.x * 4);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  *out = buf;
  *len = blen;
  return 0;
}

int rdp_encode_webp(const uint8_t *fb, size_t stride, struct rdp_rect r, int quality, uint8_t **out,
                    size_t *len) {
  WebPConfig cfg;
  WebPPicture pic;
  WebPMemoryWriter wr;
  if (!WebPConfigPreset(&cfg, WEBP_PRESET_PICTURE, (float)quality) || !WebPPictureInit(&pic))
    return -1;
  cfg.method = 0; /* fastest: a frame is due every 16 ms */
  cfg.thread_level = 0;
  pic.use_argb = 0;
  pic.width = r.w;
  pic.height = r.h;
  /* BGRX: the X byte is ignored, so the picture has no alpha plane */
  if (!WebPPictureImportBGRX(&pic, fb + (size_t)r.y * stride + (size_t)r.x * 4, (int)stride)) {
    WebPPictureFree(&pic);
    return -1;
  }
  WebPMemoryWriterInit(&wr);
  pic.writer = WebPMemoryWrite;
  pic.custom_ptr = &wr;
  int ok = WebPEncode(&cfg, &pic);
  WebPPictureFree(&pic);
  if (!ok) {
    WebPMemoryWriterClear(&wr);
    return -1;
  }
  /* Callers free() the result: copy out of libwebp's allocator. */
  *out = malloc(wr.size ? wr.size : 1);
  if (!*out) {
    WebPMemoryWriterClear(&wr);
    return -1;
  }
  memcpy(*out, wr.mem, wr.size);
  *len = wr.size;
  WebPMemoryWriterClear(&wr);
  return 0;
}
