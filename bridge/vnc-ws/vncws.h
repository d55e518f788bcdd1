/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vncws: one browser console = one WebSocket joined to one connection to the
 * VM's VNC unix socket, bytes relayed both ways (RFB is not parsed here).
 * Backpressure both ways: when WS_QUEUE_HIGH bytes wait for the browser, the
 * VNC socket is no longer read; when they wait for QEMU, the WebSocket's rx
 * is paused. Core loop thread only.
 *
 * Lifetime: a session has two halves, the lws wsi and the uv pipe; it is
 * freed when both are closed, whichever goes first (ttyd's lesson: a late
 * event must never touch freed memory).
 */
#ifndef QHM_VNCWS_H
#define QHM_VNCWS_H

#include <stddef.h>
#include <uv.h>

struct lws;
struct vncws;
struct vncws_hub; /* one daemon's VNC sessions and the read buffers they recycle */

struct vncws_hub *vncws_hub_new(void);
/* Once every session is gone (after the loop's last run). */
void vncws_hub_free(struct vncws_hub *h);
/* Start relaying for WSI to the unix socket at PATH. */
struct vncws *vncws_open(struct vncws_hub *h, uv_loop_t *loop, struct lws *wsi, const char *vm_id,
                         const char *path);
/* lws callbacks, forwarded by ws.c. Return -1 to close the WebSocket. */
int vncws_on_receive(struct vncws *s, const void *in, size_t len, int binary, int first, int final);
int vncws_on_writeable(struct vncws *s);
void vncws_on_ws_closed(struct vncws *s);
/* Close every console of VM_ID with REASON (the VM stopped or was deleted). */
void vncws_close_vm(struct vncws_hub *h, const char *vm_id, const char *reason);

#endif
