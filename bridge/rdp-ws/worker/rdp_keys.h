/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rdp_keys: X11 keysyms (what Guacamole clients send) to RDP scancodes
 * (PC/AT set 1, as a US keyboard lays them out). Pure table lookups; keysyms
 * not in the table, or shifted symbols typed without Shift held (on-screen
 * keyboards), go to the server as Unicode keyboard events instead. Used by
 * the RDP worker; any thread.
 */
#ifndef QHM_RDP_KEYS_H
#define QHM_RDP_KEYS_H

#include <stdbool.h>
#include <stdint.h>

struct rdp_key {
  uint8_t scancode;
  bool extended; /* E0 prefix */
  bool shifted;  /* on a US layout this keysym needs Shift (e.g. 'A', '!') */
};

/* The physical key for KEYSYM; false if there is none in the table. */
bool rdp_keysym_lookup(uint32_t keysym, struct rdp_key *out);

/* The Unicode code point KEYSYM types, or 0 when it types none (modifiers, function keys). */
uint32_t rdp_keysym_to_unicode(uint32_t keysym);

/* True for Shift_L / Shift_R. */
bool rdp_keysym_is_shift(uint32_t keysym);

#endif
