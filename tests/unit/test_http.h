/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_http: the smallest HTTP client the embedded-daemon tests need: one request to the
 * daemon's loopback listener with the Bearer token, Connection: close.
 */
#ifndef QHM_TEST_HTTP_H
#define QHM_TEST_HTTP_H

#include <stddef.h>

/* METHOD PATH with BODY (JSON, or NULL) to URL ("http://127.0.0.1:N") with the Bearer TOKEN: the
 * HTTP status, or -1; the response body (at most 8 KiB) into OUT when OUT is not NULL. */
int test_http(const char *url, const char *method, const char *path, const char *body, const char *token,
              char *out, size_t outlen);

#endif
