/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guac: the Guacamole protocol's instruction codec — pure, no I/O, no
 * allocation in the parser. An instruction is elements `LEN.VALUE` joined by
 * ',' and ended by ';', the first element being the opcode; LEN counts
 * Unicode code points of VALUE, not bytes.
 *
 * The parser is strict because its input comes from browsers (through the
 * daemon) and from the RDP worker (which talks to hostile servers): LEN is
 * decimal digits only (at most 9, no leading zero), VALUE must be valid UTF-8 (no overlong
 * forms, surrogates or NUL), an instruction is at most GUAC_MAX_INSTRUCTION
 * bytes and GUAC_MAX_ELEMENTS elements. Used by the worker (both directions)
 * and by the daemon (handshake with the worker, instruction boundaries of its
 * output). Any thread; no global state.
 */
#ifndef QHM_GUAC_H
#define QHM_GUAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUAC_MAX_INSTRUCTION (64u << 10) /* bytes, ';' included */
#define GUAC_MAX_ELEMENTS 128            /* opcode included */
#define GUAC_BLOB_BYTES 6048             /* raw bytes per blob (8064 base64 characters), as guacd */

enum guac_status {
  GUAC_ERROR = -1,   /* malformed: the connection must be closed */
  GUAC_OK = 0,       /* one instruction is complete */
  GUAC_NEED_MORE = 1 /* a valid prefix; more bytes are needed */
};

struct guac_instr {
  const char *opcode;
  size_t argc;                           /* arguments after the opcode */
  const char *argv[GUAC_MAX_ELEMENTS];   /* NUL-terminated, point into store */
  size_t argl[GUAC_MAX_ELEMENTS];        /* byte lengths of argv[i] */
  char store[GUAC_MAX_INSTRUCTION + 16]; /* the values, each NUL-terminated */
};

/*
 * Check that BUF[0..LEN) starts with one well-formed instruction of at most
 * MAX bytes (MAX <= GUAC_MAX_INSTRUCTION). GUAC_OK: *USED is its byte length.
 * GUAC_NEED_MORE: every byte so far is valid (and fewer than MAX). GUAC_ERROR:
 * ERR says why.
 */
enum guac_status guac_scan(const char *buf, size_t len, size_t max, size_t *used, char *err, size_t errlen);

/* guac_scan, then copy the elements into OUT. */
enum guac_status guac_parse(const char *buf, size_t len, struct guac_instr *out, size_t *used, char *err,
                            size_t errlen);

/* Length of the longest prefix of BUF made of whole instructions (each <= MAX bytes);
 * -1 with ERR if a malformed one comes first. */
long guac_whole_prefix(const char *buf, size_t len, size_t max, char *err, size_t errlen);

/* Code points in valid UTF-8 S[0..LEN); (size_t)-1 if not valid UTF-8 or if it has a NUL. */
size_t guac_utf8_chars(const char *s, size_t len);

/* ---- encoder: appends to a growable buffer (aborts on out of memory) ---- */

struct guac_buf {
  char *data;
  size_t len, cap;
};

void guac_buf_free(struct guac_buf *b);
void guac_buf_reserve(struct guac_buf *b, size_t more);
/* Drop the first N bytes. */
void guac_buf_consume(struct guac_buf *b, size_t n);

/* Append one instruction: OPCODE and ARGC arguments (valid UTF-8 without NUL; an invalid
 * argument is replaced by the empty string so the output is always well-formed). */
void guac_put(struct guac_buf *b, const char *opcode, size_t argc, const char *const *argv);
/* Same with the arguments as a NULL-terminated list of strings. */
void guac_putl(struct guac_buf *b, const char *opcode, ...) __attribute__((sentinel));
/* "blob,STREAM,BASE64(DATA);" */
void guac_put_blob(struct guac_buf *b, unsigned stream, const void *data, size_t len);

/* Base64 (RFC 4648, with padding) of LEN bytes into OUT (room for 4*((LEN+2)/3)+1). */
size_t guac_base64(const void *data, size_t len, char *out);

/* Strict base64 (RFC 4648, padded, no whitespace) of IN[0..LEN) into OUT (room for 3*LEN/4):
 * the byte count, or (size_t)-1 if IN is not base64. */
size_t guac_base64_decode(const char *in, size_t len, unsigned char *out);

/* Parse a decimal integer argument in [LO, HI]; false if it is not one. */
bool guac_arg_int(const char *s, long lo, long hi, long *out);

#endif
