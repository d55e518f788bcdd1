/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http: the control plane's HTTP server (libmicrohttpd, its own threads).
 * Collects each request (method, path, query, body up to 1 MiB), suspends
 * the connection, posts the request to the core loop and resumes it when the
 * core has answered. MHD threads never touch VM state. A connection has
 * HTTP_HEADER_DEADLINE_MS to send a whole request head (slowloris), and one
 * client address at most HTTP_PER_IP_CONNECTIONS connections.
 */
#ifndef QHM_HTTP_H
#define QHM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

struct core;
struct http;
struct auth_hosts;

struct http_opts {
  const char *bind; /* IPv4 address */
  uint16_t port;    /* 0: pick a free one */
  const char
      *ui_dir; /* may be NULL: static files served for every GET outside /api/, index.html as fallback */
  bool tls;    /* the LAN listener: HTTPS with CERT_PEM/KEY_PEM; pairing */
  const char *cert_pem, *key_pem;
  const char *const *names; /* more Host names (--lan-name) for the LAN listener */
  int n_names;
};

/* Every request is checked (auth.h) before its body is read: Host, then for /api/ a credential,
 * the Origin of cookie writes and the body's Content-Type. */
struct http *http_start(struct core *c, const struct http_opts *o, char *err, size_t errlen);
uint16_t http_port(struct http *h);
const struct auth_hosts *http_hosts(struct http *h);
void http_stop(struct http *h);

#endif
