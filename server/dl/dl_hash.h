/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_hash: SHA-256 / SHA-512 for download verification (OpenSSL EVP, loaded on first use, which
 * uses the CPU's SHA extensions where there are some), hex helpers and the
 * parser for checksum files (GNU "HASH  name", "HASH *name" and BSD
 * "SHA256 (name) = HASH" lines, as in Debian/Ubuntu SHA256SUMS, Fedora
 * CHECKSUM and Alpine .sha256 files). Pure and thread-safe: a dl_hash may be
 * used from a worker thread while nobody else touches it.
 */
#ifndef QHM_DL_HASH_H
#define QHM_DL_HASH_H

#include <stdbool.h>
#include <stddef.h>

enum dl_algo { DL_SHA256, DL_SHA512 };
#define DL_HASH_MAX_HEX 128

struct dl_hash;

struct dl_hash *dl_hash_new(enum dl_algo a);
void dl_hash_free(struct dl_hash *h);
void dl_hash_reset(struct dl_hash *h);
void dl_hash_update(struct dl_hash *h, const void *data, size_t len);
/* Writes the lowercase hex digest (64 or 128 chars + NUL) into OUT. */
void dl_hash_final_hex(struct dl_hash *h, char out[DL_HASH_MAX_HEX + 1]);
size_t dl_algo_hex_len(enum dl_algo a);
const char *dl_algo_name(enum dl_algo a); /* "sha256" / "sha512" */

/* True when S is exactly LEN hex digits. */
bool dl_is_hex(const char *s, size_t len);
/* Find FILE's checksum (LEN hex digits) in a checksum file's TEXT; writes it lowercase
 * to OUT. When FILE is NULL or empty and the text holds exactly one checksum of that
 * length, that one. 0, or -1 when absent. */
int dl_checksum_find(const char *text, size_t textlen, const char *file, size_t len,
                     char out[DL_HASH_MAX_HEX + 1]);

#endif
