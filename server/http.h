/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http: the control plane's HTTP server (libmicrohttpd, its own threads).
 * Collects each request (method, path, query, body up to 1 MiB), suspends
 * the connection, posts the request to the core loop and resumes it when the
 * core has answered. MHD threads never touch VM state.
 */
#ifndef QHM_HTTP_H
#define QHM_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct core;
struct http;

/* UI_DIR (may be NULL): static files served for every GET outside /api/, index.html as fallback. */
struct http *http_start(struct core *c, const char *bind_addr, uint16_t port, const char *ui_dir, char *err,
                        size_t errlen);
uint16_t http_port(struct http *h);
void http_stop(struct http *h);

#endif
