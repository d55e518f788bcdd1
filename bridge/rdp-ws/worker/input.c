/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * input.c: what comes from the daemon — the Guacamole handshake (select, args,
 * size, image, audio, ..., connect), then the browser's instructions, parsed
 * and dispatched: keys (keysyms -> scancodes or Unicode, rdp_keys.c) and the
 * mouse here, the rest to the display (sync), the channels (clipboard, audio,
 * blob, end, size) and the session (disconnect). Main thread.
 */
#include <stdio.h>
#include <string.h>

#include <freerdp/gdi/gdi.h>
#include <freerdp/input.h>

#include "rdp_keys.h"
#include "worker.h"

static const char *const arg_names[ARG__N] = {
    "VERSION_1_5_0",     "hostname",        "port",       "username",
    "password",          "domain",          "security",   "ignore-cert",
    "cert-fingerprints", "drive-path",      "drive-name", "remote-app",
    "remote-app-args",   "remote-app-mode", "graphics",
};

/* Next instruction, blocking (handshake only). -1 on EOF or malformed input (reported). */
static int next_instr(struct worker *w) {
  for (;;) {
    size_t used;
    char err[160];
    enum guac_status st = guac_parse(w->link.in.data ? w->link.in.data : "", w->link.in.len, w->link.ins,
                                     &used, err, sizeof(err));
    if (st == GUAC_OK) {
      guac_buf_consume(&w->link.in, used);
      return 0;
    }
    if (st == GUAC_ERROR) {
      send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "malformed instruction: %s", err);
      return -1;
    }
    if (read_some(w, true) < 0) {
      w->s.quit = true;
      return -1;
    }
  }
}

int handshake(struct worker *w) {
  if (next_instr(w) < 0)
    return -1;
  if (strcmp(w->link.ins->opcode, "select") != 0 || w->link.ins->argc != 1 ||
      strcmp(w->link.ins->argv[0], "rdp") != 0) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "expected \"select,rdp\" first");
    return -1;
  }
  guac_put(&w->link.out, "args", ARG__N, arg_names);
  if (flush_out(w) < 0)
    return -1;
  for (;;) {
    if (next_instr(w) < 0)
      return -1;
    struct guac_instr *in = w->link.ins;
    if (strcmp(in->opcode, "size") == 0) {
      if (in->argc < 2 || !guac_arg_int(in->argv[0], 64, 8192, &w->hs.width) ||
          !guac_arg_int(in->argv[1], 64, 8192, &w->hs.height) ||
          (in->argc >= 3 && !guac_arg_int(in->argv[2], 48, 960, &w->hs.dpi))) {
        send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "size: width and height 64..8192, dpi 48..960");
        return -1;
      }
    } else if (strcmp(in->opcode, "image") == 0) {
      for (size_t i = 0; i < in->argc; i++)
        if (strcmp(in->argv[i], "image/jpeg") == 0)
          w->hs.allow_jpeg = true;
        else if (strcmp(in->argv[i], "image/webp") == 0)
          w->hs.allow_webp = true;
    } else if (strcmp(in->opcode, "audio") == 0) {
      for (size_t i = 0; i < in->argc; i++)
        if (strncmp(in->argv[i], "audio/L16", 9) == 0)
          w->hs.audio_l16 = true;
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
        w->hs.arg_store[i] = strdup(in->argv[i]);
        w->hs.args[i] = w->hs.arg_store[i];
      }
      return 0;
    } else {
      send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "unexpected instruction during the handshake: %.40s",
                 in->opcode);
      return -1;
    }
  }
}

static void on_mouse(struct worker *w, struct guac_instr *in) {
  long x, y, mask;
  if (in->argc < 3 || !guac_arg_int(in->argv[0], -65535, 65535, &x) ||
      !guac_arg_int(in->argv[1], -65535, 65535, &y) || !guac_arg_int(in->argv[2], 0, 31, &mask)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "mouse: expected x, y and a button mask 0..31");
    return;
  }
  rdpGdi *gdi = w->s.instance->context->gdi;
  rdpInput *input = w->s.instance->input;
  x = x < 0 ? 0 : x >= (long)gdi->width ? (long)gdi->width - 1 : x;
  y = y < 0 ? 0 : y >= (long)gdi->height ? (long)gdi->height - 1 : y;
  if (x != w->input.mx || y != w->input.my)
    freerdp_input_send_mouse_event(input, PTR_FLAGS_MOVE, (UINT16)x, (UINT16)y);
  static const struct {
    long bit;
    UINT16 flag;
  } buttons[] = {{1, PTR_FLAGS_BUTTON1}, {2, PTR_FLAGS_BUTTON3}, {4, PTR_FLAGS_BUTTON2}};
  for (size_t i = 0; i < 3; i++) {
    long b = buttons[i].bit;
    if ((mask & b) != (w->input.mmask & b))
      freerdp_input_send_mouse_event(input, buttons[i].flag | ((mask & b) ? PTR_FLAGS_DOWN : 0), (UINT16)x,
                                     (UINT16)y);
  }
  /* Wheel: one notch (120) per press of the scroll "buttons". */
  if ((mask & 8) && !(w->input.mmask & 8))
    freerdp_input_send_mouse_event(input, PTR_FLAGS_WHEEL | 0x0078, (UINT16)x, (UINT16)y);
  if ((mask & 16) && !(w->input.mmask & 16))
    freerdp_input_send_mouse_event(input, PTR_FLAGS_WHEEL | PTR_FLAGS_WHEEL_NEGATIVE | 0x0088, (UINT16)x,
                                   (UINT16)y);
  w->input.mx = x;
  w->input.my = y;
  w->input.mmask = mask;
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
  rdpInput *input = w->s.instance->input;
  uint32_t keysym = (uint32_t)ks;
  if (rdp_keysym_is_shift(keysym))
    w->input.shift_down = pressed;
  if (!pressed) {
    for (size_t i = 0; i < w->input.n_pressed; i++) {
      struct pressed p = w->input.pressed[i];
      if (p.keysym != keysym)
        continue;
      if (p.unicode)
        send_unicode(input, p.code, false);
      else
        freerdp_input_send_keyboard_event(input, (UINT16)(p.flags | KBD_FLAGS_RELEASE), p.code);
      w->input.pressed[i] = w->input.pressed[--w->input.n_pressed];
      return;
    }
    return; /* a release of a key we never pressed (focus changes) is harmless */
  }
  struct pressed p = {.keysym = keysym};
  struct rdp_key k;
  if (rdp_keysym_lookup(keysym, &k) && (!k.shifted || w->input.shift_down)) {
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
  if (w->input.n_pressed < MAX_PRESSED)
    w->input.pressed[w->input.n_pressed++] = p;
}

static void handle(struct worker *w, struct guac_instr *in) {
  const char *op = in->opcode;
  if (op[0] == 0) { /* tunnel-internal: answer the WebSocket tunnel's keep-alive ping */
    if (in->argc == 2 && strcmp(in->argv[0], "ping") == 0)
      guac_put(&w->link.out, "", 2, in->argv);
    return;
  }
  if (strcmp(op, "mouse") == 0)
    on_mouse(w, in);
  else if (strcmp(op, "key") == 0)
    on_key(w, in);
  else if (strcmp(op, "sync") == 0 && in->argc >= 1)
    on_sync_ack(w, in->argv[0]);
  else if (strcmp(op, "disconnect") == 0)
    w->s.quit = true;
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
    } else if (!on_clip_end(w, sid) && sid == w->mic.stream) {
      w->mic.stream = -1;
    }
  }
  /* size (disp), clipboard, audio, file streams, nop: later or nothing to do */
}

/* Parse and handle every whole instruction received. */
void drain_input(struct worker *w) {
  size_t off = 0;
  while (!w->s.quit && off < w->link.in.len) {
    size_t used;
    char err[160];
    enum guac_status st =
        guac_parse(w->link.in.data + off, w->link.in.len - off, w->link.ins, &used, err, sizeof(err));
    if (st == GUAC_NEED_MORE)
      break;
    if (st == GUAC_ERROR) {
      send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "malformed instruction: %s", err);
      return;
    }
    off += used;
    handle(w, w->link.ins);
  }
  guac_buf_consume(&w->link.in, off);
}
