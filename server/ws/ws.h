/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ws: the data plane — a libwebsockets server on its own port, running on
 * the core's libuv loop (lws "foreign loop", as ttyd does), so WebSocket
 * sessions, VNC sockets and VM state share one thread and need no locks.
 * Every upgrade must present a ticket (ticket.h) for its path, name this
 * listener in Host and come from an allowed Origin (auth.h); refusals are
 * answered 403 before the upgrade. With --lan a second, TLS-only listener
 * serves the same streams as wss://.
 *   /vnc/{vm}?ticket=T   raw RFB of the VM's VNC socket (bridge/vnc-ws)
 *   /rdp/{vm}?ticket=T   Guacamole protocol to an RDP worker process (bridge/rdp-ws)
 *   /events?ticket=T     JSON events (events.c)
 * Core loop thread only.
 */
#ifndef QHM_WS_H
#define QHM_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core;
struct ws;

struct ws *ws_start(struct core *c, const char *bind_addr, uint16_t port, char *err, size_t errlen);
struct auth_hosts;
/* LAN mode: wss:// on BIND_ADDR:PORT with the daemon's certificate, answering to the LAN HTTP
 * listener's host NAMES (on this port). */
int ws_start_lan(struct ws *w, const char *bind_addr, uint16_t port, const char *cert_path,
                 const char *key_path, const struct auth_hosts *names, char *err, size_t errlen);
/* "ws://ADDR:PORT"; the LAN one "wss://ADDR:PORT" (NULL without --lan); the one for a request
 * that came through the LAN listener or not. */
const char *ws_base_url(struct ws *w);
const char *ws_lan_url(struct ws *w);
const char *ws_url_for(struct ws *w, bool lan);
/* A revoked LAN device: every stream opened with its tickets is closed. */
void ws_close_device(struct ws *w, const char *device);
void ws_stop(struct ws *w);

#endif
