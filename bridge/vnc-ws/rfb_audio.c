/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rfb_audio: see rfb_audio.h. Pure. */
#include "rfb_audio.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum {
  S_VERSION,  /* 12: "RFB 003.008\n" */
  S_NSEC,     /* 1: how many security types */
  S_SECTYPES, /* skip: the types, looking for None (1) */
  S_SECRESULT,
  S_INIT, /* 24: ServerInit up to the name's length */
  S_SKIP, /* skip bytes, then after_skip */
  S_READY,
  S_MSG, /* 1: a server message's type */
  S_FBU, /* 3: padding, number of rectangles */
  S_RECT,
  S_CMAP, /* 5: padding, first colour, number of colours */
  S_CUT,  /* 7: padding, length */
  S_QEMU, /* 3: submessage, operation */
  S_DATA_LEN,
  S_DATA,
  S_ERROR,
};

#define ENCODING_AUDIO (-259)
#define MSG_QEMU 255
#define QEMU_AUDIO 1

static uint16_t be16(const uint8_t *b) {
  return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint8_t *put16(uint8_t *o, uint16_t v) {
  *o++ = (uint8_t)(v >> 8);
  *o++ = (uint8_t)v;
  return o;
}

static uint8_t *put32(uint8_t *o, uint32_t v) {
  o = put16(o, (uint16_t)(v >> 16));
  return put16(o, (uint16_t)v);
}

void rfb_audio_init(struct rfb_audio *p) {
  memset(p, 0, sizeof(*p));
  p->state = S_VERSION;
}

static enum rfb_audio_event fail(struct rfb_audio *p, const char *msg) {
  snprintf(p->error, sizeof(p->error), "%s", msg);
  p->state = S_ERROR;
  return RFB_AUDIO_ERROR;
}

/* Gather NEED bytes of a fixed-size part into hdr. True when they are all there (have reset). */
static bool gather(struct rfb_audio *p, const uint8_t *buf, size_t len, size_t *used, size_t need) {
  size_t n = need - p->have;
  if (n > len - *used)
    n = len - *used;
  memcpy(p->hdr + p->have, buf + *used, n);
  p->have += n;
  *used += n;
  if (p->have < need)
    return false;
  p->have = 0;
  return true;
}

static void skip_then(struct rfb_audio *p, uint32_t n, int next) {
  p->skip = n;
  p->after_skip = next;
  p->state = S_SKIP;
}

/* After ServerInit: ask for the audio pseudo-encoding only, S16 stereo at RFB_AUDIO_RATE, and
 * capture. */
static enum rfb_audio_event ready(struct rfb_audio *p) {
  uint8_t *o = p->out;
  *o++ = 2; /* SetEncodings */
  *o++ = 0;
  o = put16(o, 1);
  o = put32(o, (uint32_t)ENCODING_AUDIO);
  *o++ = MSG_QEMU; /* audio: set format */
  *o++ = QEMU_AUDIO;
  o = put16(o, 2);
  *o++ = 3; /* S16 */
  *o++ = RFB_AUDIO_CHANNELS;
  o = put32(o, RFB_AUDIO_RATE);
  *o++ = MSG_QEMU; /* audio: enable */
  *o++ = QEMU_AUDIO;
  o = put16(o, 0);
  p->out_len = (size_t)(o - p->out);
  p->state = S_MSG;
  return RFB_AUDIO_READY;
}

static enum rfb_audio_event send1(struct rfb_audio *p, const char *bytes, size_t n, int next) {
  memcpy(p->out, bytes, n);
  p->out_len = n;
  p->state = next;
  return RFB_AUDIO_SEND;
}

static enum rfb_audio_event on_type(struct rfb_audio *p, uint8_t type) {
  switch (type) {
  case 0:
    p->state = S_FBU;
    return RFB_AUDIO_NONE;
  case 1:
    p->state = S_CMAP;
    return RFB_AUDIO_NONE;
  case 2: /* bell */
    return RFB_AUDIO_NONE;
  case 3:
    p->state = S_CUT;
    return RFB_AUDIO_NONE;
  case MSG_QEMU:
    p->state = S_QEMU;
    return RFB_AUDIO_NONE;
  default: {
    char msg[64];
    snprintf(msg, sizeof(msg), "unexpected VNC server message %u", type);
    return fail(p, msg);
  }
  }
}

enum rfb_audio_event rfb_audio_feed(struct rfb_audio *p, const uint8_t *buf, size_t len, size_t *used) {
  *used = 0;
  while (*used < len || p->state == S_READY || (p->state == S_SKIP && p->skip == 0)) {
    switch (p->state) {
    case S_ERROR:
      return RFB_AUDIO_ERROR;
    case S_VERSION:
      if (!gather(p, buf, len, used, 12))
        return RFB_AUDIO_NONE;
      if (memcmp(p->hdr, "RFB 003.008\n", 12) != 0)
        return fail(p, "the VNC server does not speak RFB 3.8");
      return send1(p, "RFB 003.008\n", 12, S_NSEC);
    case S_NSEC:
      if (!gather(p, buf, len, used, 1))
        return RFB_AUDIO_NONE;
      if (p->hdr[0] == 0)
        return fail(p, "the VNC server refused the connection");
      p->skip = p->hdr[0];
      p->rects = 0; /* "None" seen */
      p->state = S_SECTYPES;
      break;
    case S_SECTYPES:
      while (p->skip && *used < len) {
        if (buf[(*used)++] == 1)
          p->rects = 1;
        p->skip--;
      }
      if (p->skip)
        return RFB_AUDIO_NONE;
      if (!p->rects)
        return fail(p, "the VNC server asks for authentication");
      p->rects = 0;
      return send1(p, "\x01", 1, S_SECRESULT);
    case S_SECRESULT:
      if (!gather(p, buf, len, used, 4))
        return RFB_AUDIO_NONE;
      if (be32(p->hdr) != 0)
        return fail(p, "the VNC server refused the connection");
      return send1(p, "\x01", 1, S_INIT); /* ClientInit: shared */
    case S_INIT: {
      if (!gather(p, buf, len, used, 24))
        return RFB_AUDIO_NONE;
      uint32_t name = be32(p->hdr + 20);
      if (name > RFB_AUDIO_MAX_NAME)
        return fail(p, "the VNC server's desktop name is too long");
      skip_then(p, name, S_READY);
      break;
    }
    case S_SKIP: {
      size_t n = len - *used;
      if (n > p->skip)
        n = p->skip;
      p->skip -= (uint32_t)n;
      *used += n;
      if (p->skip)
        return RFB_AUDIO_NONE;
      p->state = p->after_skip;
      break;
    }
    case S_READY:
      return ready(p);
    case S_MSG: {
      enum rfb_audio_event e = on_type(p, buf[(*used)++]);
      if (e != RFB_AUDIO_NONE)
        return e;
      break;
    }
    case S_FBU:
      if (!gather(p, buf, len, used, 3))
        return RFB_AUDIO_NONE;
      p->rects = be16(p->hdr + 1);
      p->state = p->rects ? S_RECT : S_MSG;
      break;
    case S_RECT:
      if (!gather(p, buf, len, used, 12))
        return RFB_AUDIO_NONE;
      if ((int32_t)be32(p->hdr + 8) != ENCODING_AUDIO) {
        char msg[80];
        snprintf(msg, sizeof(msg), "unexpected VNC update (encoding %d)", (int)(int32_t)be32(p->hdr + 8));
        return fail(p, msg);
      }
      if (--p->rects == 0)
        p->state = S_MSG;
      break;
    case S_CMAP:
      if (!gather(p, buf, len, used, 5))
        return RFB_AUDIO_NONE;
      skip_then(p, 6u * be16(p->hdr + 3), S_MSG);
      break;
    case S_CUT: {
      if (!gather(p, buf, len, used, 7))
        return RFB_AUDIO_NONE;
      uint32_t n = be32(p->hdr + 3);
      if (n > RFB_AUDIO_MAX_CUT)
        return fail(p, "the VNC server's cut text is too long");
      skip_then(p, n, S_MSG);
      break;
    }
    case S_QEMU: {
      if (!gather(p, buf, len, used, 3))
        return RFB_AUDIO_NONE;
      if (p->hdr[0] != QEMU_AUDIO)
        return fail(p, "unexpected QEMU VNC message");
      uint16_t op = be16(p->hdr + 1);
      p->state = S_MSG;
      if (op == 0)
        return RFB_AUDIO_END;
      if (op == 1)
        return RFB_AUDIO_BEGIN;
      if (op != 2)
        return fail(p, "unexpected QEMU audio operation");
      p->state = S_DATA_LEN;
      break;
    }
    case S_DATA_LEN:
      if (!gather(p, buf, len, used, 4))
        return RFB_AUDIO_NONE;
      p->data = be32(p->hdr);
      if (p->data > RFB_AUDIO_MAX_DATA)
        return fail(p, "the VNC server's audio message is too long");
      p->state = p->data ? S_DATA : S_MSG;
      break;
    case S_DATA: {
      size_t n = len - *used;
      if (n > p->data)
        n = p->data;
      p->data_ptr = buf + *used;
      p->data_len = n;
      p->data -= (uint32_t)n;
      *used += n;
      if (!p->data)
        p->state = S_MSG;
      return RFB_AUDIO_DATA;
    }
    default:
      return fail(p, "internal: bad state");
    }
  }
  return RFB_AUDIO_NONE;
}
