/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * utf8: the one UTF-8 decoder of the tree, and the checks built on it. Owns the validity
 * rules every caller shares: a lead byte C2..F4, continuation bytes 80..BF, no overlong
 * form, no surrogate (U+D800..U+DFFF), nothing above U+10FFFF, no sequence cut short by the
 * end of the input. U+0000 is valid here; callers that refuse NUL (the Guacamole codec)
 * check for it themselves. Used by the daemon (util, the VM config, the Guacamole codec)
 * and by the RDP worker (clipboard text). Pure; any thread.
 */
#ifndef QHM_UTF8_H
#define QHM_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decode the sequence at S (LEN bytes there): its byte length (1..4) and, with CP, the code
 * point; 0 if it is not valid UTF-8 or is cut short by LEN (LEN 0 included). */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* True when S[0..LEN) (LEN >= 1) is the start of a valid sequence that needs more bytes:
 * for readers of a stream, where utf8_decode's 0 may only mean "not yet". */
bool utf8_partial(const unsigned char *s, size_t len);

/* True when S (LEN bytes) is valid UTF-8 throughout. */
bool utf8_valid(const char *s, size_t len);

/* Replace every byte that is not part of valid UTF-8 (or is a C0 control other than
 * tab/newline, or DEL) with '?', in place, so the text can go into JSON. */
void utf8_sanitize(char *s);

#endif
