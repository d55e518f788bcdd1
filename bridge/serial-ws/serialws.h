/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * serialws: the serial console's viewers. Each is a WebSocket on /serial/VM_ID that first gets
 * the VM's kept output (the last screenfuls), then every byte the guest writes to its serial
 * port as it comes, in binary frames; what the viewer sends (keystrokes, pastes: frames of at
 * most SERIALWS_MAX_INPUT bytes) goes to the guest through the input callback. Several viewers
 * may watch one VM; the daemon never waits on any: a viewer that lets SERIALWS_MAX_QUEUE bytes
 * pile up is closed (1008, "too slow") — the guest is not slowed, and a reconnect gets the
 * kept output again. Core loop thread only.
 */
#ifndef QHM_SERIALWS_H
#define QHM_SERIALWS_H

#include <stddef.h>

struct lws;
struct serialws;
struct serialws_hub;

#define SERIALWS_MAX_QUEUE (1u << 20)
#define SERIALWS_MAX_INPUT 4096u

/* Sends LEN bytes a viewer typed to VM_ID's serial port; 0, or -1 when it cannot take them. */
typedef int (*serialws_input_fn)(void *ud, const char *vm_id, const char *data, size_t len);

struct serialws_hub *serialws_hub_new(serialws_input_fn input, void *ud);
/* Once every session is gone (after the loop's last run). */
void serialws_hub_free(struct serialws_hub *h);
/* A viewer for WSI, sent REPLAY (LEN bytes: the output kept so far) first. */
struct serialws *serialws_open(struct serialws_hub *h, struct lws *wsi, const char *vm_id, const char *replay,
                               size_t len);
/* lws callbacks, forwarded by ws.c. Return -1 to close the WebSocket. */
int serialws_on_receive(struct serialws *s, const void *in, size_t len);
int serialws_on_writeable(struct serialws *s);
void serialws_on_ws_closed(struct serialws *s);
/* LEN bytes VM_ID's guest wrote: to each of its viewers. */
void serialws_output(struct serialws_hub *h, const char *vm_id, const char *data, size_t len);
/* Close every viewer of VM_ID with REASON (the VM was deleted). */
void serialws_close_vm(struct serialws_hub *h, const char *vm_id, const char *reason);
unsigned serialws_count(const struct serialws_hub *h);

#endif
