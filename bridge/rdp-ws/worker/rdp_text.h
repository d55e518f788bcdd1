/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rdp_text: clipboard text between the browser (UTF-8, LF line ends) and RDP
 * (CF_UNICODETEXT: UTF-16LE, CRLF, NUL-terminated). Pure, no I/O; both
 * directions take bytes from untrusted peers, so nothing here fails on bad
 * input: invalid UTF-8 sequences and unpaired surrogates become U+FFFD, NUL
 * ends the text, and the output is cut (on a character boundary) at a bound.
 * Used by the RDP worker's cliprdr handlers. Any thread; no global state.
 */
#ifndef QHM_RDP_TEXT_H
#define QHM_RDP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define RDP_CLIP_MAX (256u << 10) /* bytes of clipboard text kept, either direction */

/* UTF-8 S[0..LEN) -> UTF-16LE bytes with CRLF line ends and a final NUL, at most MAX bytes
 * (NUL included; MAX >= 2). *OUT is malloc'ed (aborts on out of memory); returns its length. */
size_t rdp_text_to_utf16(const char *s, size_t len, size_t max, uint8_t **out);

/* UTF-16LE P[0..LEN) (up to its first NUL; an odd last byte is ignored) -> UTF-8 with LF line
 * ends, at most MAX bytes, no NUL. *OUT is malloc'ed and NUL-terminated; returns its length. */
size_t rdp_text_from_utf16(const uint8_t *p, size_t len, size_t max, char **out);

#endif
