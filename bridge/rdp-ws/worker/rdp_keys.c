/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rdp_keys: see rdp_keys.h. Pure; any thread. */
#include "rdp_keys.h"

#include <stddef.h>

/* Printable ASCII 0x20..0x7e on a US layout: scancode, and whether Shift is needed. */
// clang-format off
static const struct {
  uint8_t sc;
  bool shift;
} ascii[0x5f] = {
    /* ' ' */ {0x39, 0},  /* ! */ {0x02, 1},  /* " */ {0x28, 1},  /* # */ {0x04, 1},
    /* $ */ {0x05, 1},    /* % */ {0x06, 1},  /* & */ {0x08, 1},  /* ' */ {0x28, 0},
    /* ( */ {0x0a, 1},    /* ) */ {0x0b, 1},  /* * */ {0x09, 1},  /* + */ {0x0d, 1},
    /* , */ {0x33, 0},    /* - */ {0x0c, 0},  /* . */ {0x34, 0},  /* / */ {0x35, 0},
    /* 0 */ {0x0b, 0},    /* 1 */ {0x02, 0},  /* 2 */ {0x03, 0},  /* 3 */ {0x04, 0},
    /* 4 */ {0x05, 0},    /* 5 */ {0x06, 0},  /* 6 */ {0x07, 0},  /* 7 */ {0x08, 0},
    /* 8 */ {0x09, 0},    /* 9 */ {0x0a, 0},  /* : */ {0x27, 1},  /* ; */ {0x27, 0},
    /* < */ {0x33, 1},    /* = */ {0x0d, 0},  /* > */ {0x34, 1},  /* ? */ {0x35, 1},
    /* @ */ {0x03, 1},    /* A */ {0x1e, 1},  /* B */ {0x30, 1},  /* C */ {0x2e, 1},
    /* D */ {0x20, 1},    /* E */ {0x12, 1},  /* F */ {0x21, 1},  /* G */ {0x22, 1},
    /* H */ {0x23, 1},    /* I */ {0x17, 1},  /* J */ {0x24, 1},  /* K */ {0x25, 1},
    /* L */ {0x26, 1},    /* M */ {0x32, 1},  /* N */ {0x31, 1},  /* O */ {0x18, 1},
    /* P */ {0x19, 1},    /* Q */ {0x10, 1},  /* R */ {0x13, 1},  /* S */ {0x1f, 1},
    /* T */ {0x14, 1},    /* U */ {0x16, 1},  /* V */ {0x2f, 1},  /* W */ {0x11, 1},
    /* X */ {0x2d, 1},    /* Y */ {0x15, 1},  /* Z */ {0x2c, 1},  /* [ */ {0x1a, 0},
    /* \ */ {0x2b, 0},    /* ] */ {0x1b, 0},  /* ^ */ {0x07, 1},  /* _ */ {0x0c, 1},
    /* ` */ {0x29, 0},    /* a */ {0x1e, 0},  /* b */ {0x30, 0},  /* c */ {0x2e, 0},
    /* d */ {0x20, 0},    /* e */ {0x12, 0},  /* f */ {0x21, 0},  /* g */ {0x22, 0},
    /* h */ {0x23, 0},    /* i */ {0x17, 0},  /* j */ {0x24, 0},  /* k */ {0x25, 0},
    /* l */ {0x26, 0},    /* m */ {0x32, 0},  /* n */ {0x31, 0},  /* o */ {0x18, 0},
    /* p */ {0x19, 0},    /* q */ {0x10, 0},  /* r */ {0x13, 0},  /* s */ {0x1f, 0},
    /* t */ {0x14, 0},    /* u */ {0x16, 0},  /* v */ {0x2f, 0},  /* w */ {0x11, 0},
    /* x */ {0x2d, 0},    /* y */ {0x15, 0},  /* z */ {0x2c, 0},  /* { */ {0x1a, 1},
    /* | */ {0x2b, 1},    /* } */ {0x1b, 1},  /* ~ */ {0x29, 1},
};
// clang-format on

/* Function and keypad keysyms (0xffxx and ISO_Level3_Shift), sorted by keysym. */
static const struct {
  uint32_t keysym;
  uint8_t sc;
  bool ext;
} special[] = {
    {0xfe03, 0x38, 1}, /* ISO_Level3_Shift (AltGr) */
    {0xff08, 0x0e, 0}, /* BackSpace */
    {0xff09, 0x0f, 0}, /* Tab */
    {0xff0d, 0x1c, 0}, /* Return */
    {0xff13, 0x45, 0}, /* Pause (as Num Lock without E1; good enough for most servers) */
    {0xff14, 0x46, 0}, /* Scroll_Lock */
    {0xff1b, 0x01, 0}, /* Escape */
    {0xff50, 0x47, 1}, /* Home */
    {0xff51, 0x4b, 1}, /* Left */
    {0xff52, 0x48, 1}, /* Up */
    {0xff53, 0x4d, 1}, /* Right */
    {0xff54, 0x50, 1}, /* Down */
    {0xff55, 0x49, 1}, /* Page_Up */
    {0xff56, 0x51, 1}, /* Page_Down */
    {0xff57, 0x4f, 1}, /* End */
    {0xff61, 0x37, 1}, /* Print */
    {0xff63, 0x52, 1}, /* Insert */
    {0xff67, 0x5d, 1}, /* Menu */
    {0xff7f, 0x45, 0}, /* Num_Lock */
    {0xff8d, 0x1c, 1}, /* KP_Enter */
    {0xff95, 0x47, 0}, /* KP_Home */
    {0xff96, 0x4b, 0}, /* KP_Left */
    {0xff97, 0x48, 0}, /* KP_Up */
    {0xff98, 0x4d, 0}, /* KP_Right */
    {0xff99, 0x50, 0}, /* KP_Down */
    {0xff9a, 0x49, 0}, /* KP_Page_Up */
    {0xff9b, 0x51, 0}, /* KP_Page_Down */
    {0xff9c, 0x4f, 0}, /* KP_End */
    {0xff9d, 0x4c, 0}, /* KP_Begin */
    {0xff9e, 0x52, 0}, /* KP_Insert */
    {0xff9f, 0x53, 0}, /* KP_Delete */
    {0xffaa, 0x37, 0}, /* KP_Multiply */
    {0xffab, 0x4e, 0}, /* KP_Add */
    {0xffad, 0x4a, 0}, /* KP_Subtract */
    {0xffae, 0x53, 0}, /* KP_Decimal */
    {0xffaf, 0x35, 1}, /* KP_Divide */
    {0xffb0, 0x52, 0}, /* KP_0 */
    {0xffb1, 0x4f, 0}, /* KP_1 */
    {0xffb2, 0x50, 0}, /* KP_2 */
    {0xffb3, 0x51, 0}, /* KP_3 */
    {0xffb4, 0x4b, 0}, /* KP_4 */
    {0xffb5, 0x4c, 0}, /* KP_5 */
    {0xffb6, 0x4d, 0}, /* KP_6 */
    {0xffb7, 0x47, 0}, /* KP_7 */
    {0xffb8, 0x48, 0}, /* KP_8 */
    {0xffb9, 0x49, 0}, /* KP_9 */
    {0xffbe, 0x3b, 0}, /* F1 */
    {0xffbf, 0x3c, 0}, /* F2 */
    {0xffc0, 0x3d, 0}, /* F3 */
    {0xffc1, 0x3e, 0}, /* F4 */
    {0xffc2, 0x3f, 0}, /* F5 */
    {0xffc3, 0x40, 0}, /* F6 */
    {0xffc4, 0x41, 0}, /* F7 */
    {0xffc5, 0x42, 0}, /* F8 */
    {0xffc6, 0x43, 0}, /* F9 */
    {0xffc7, 0x44, 0}, /* F10 */
    {0xffc8, 0x57, 0}, /* F11 */
    {0xffc9, 0x58, 0}, /* F12 */
    {0xffe1, 0x2a, 0}, /* Shift_L */
    {0xffe2, 0x36, 0}, /* Shift_R */
    {0xffe3, 0x1d, 0}, /* Control_L */
    {0xffe4, 0x1d, 1}, /* Control_R */
    {0xffe5, 0x3a, 0}, /* Caps_Lock */
    {0xffe7, 0x5b, 1}, /* Meta_L: the Windows key, as browsers report it on some systems */
    {0xffe8, 0x5c, 1}, /* Meta_R */
    {0xffe9, 0x38, 0}, /* Alt_L */
    {0xffea, 0x38, 1}, /* Alt_R */
    {0xffeb, 0x5b, 1}, /* Super_L */
    {0xffec, 0x5c, 1}, /* Super_R */
    {0xffff, 0x53, 1}, /* Delete */
};

bool rdp_keysym_lookup(uint32_t keysym, struct rdp_key *out) {
  if (keysym >= 0x20 && keysym <= 0x7e) {
    out->scancode = ascii[keysym - 0x20].sc;
    out->extended = false;
    out->shifted = ascii[keysym - 0x20].shift;
    return true;
  }
  size_t lo = 0, hi = sizeof(special) / sizeof(special[0]);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (special[mid].keysym == keysym) {
      out->scancode = special[mid].sc;
      out->extended = special[mid].ext;
      out->shifted = false;
      return true;
    }
    if (special[mid].keysym < keysym)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

uint32_t rdp_keysym_to_unicode(uint32_t keysym) {
  if ((keysym >= 0x20 && keysym <= 0x7e) || (keysym >= 0xa0 && keysym <= 0xff))
    return keysym; /* Latin-1 keysyms are their code points */
  if (keysym >= 0x1000100 && keysym <= 0x110ffff) {
    uint32_t cp = keysym - 0x1000000;
    return (cp >= 0xd800 && cp <= 0xdfff) ? 0 : cp;
  }
  return 0;
}

bool rdp_keysym_is_shift(uint32_t keysym) {
  return keysym == 0xffe1 || keysym == 0xffe2;
}
