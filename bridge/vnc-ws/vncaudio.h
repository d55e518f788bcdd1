/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vncaudio: a VM's sound for the browser. One listener = one WebSocket on /audio/VM_ID (ticket
 * protocol "audio") and one connection of the daemon's own to the VM's VNC socket, on which
 * rfb_audio.c asks QEMU for its audio capture (the VM's -audiodev is given to its VNC server).
 * The browser gets binary frames, the first byte saying what follows:
 *   0x00 format: channels (u8), bits per sample (u8, 16), 0 (u8), rate (u32 little-endian)
 *   0x01 the guest started playing     0x02 it stopped
 *   0x03 PCM: signed 16-bit little-endian, interleaved, whole frames
 * The stream is receive-only: a message from the browser closes it (1003). Sound is real-time,
 * so a listener that falls behind loses PCM, not latency: above VNCAUDIO_MAX_QUEUE bytes waiting
 * for it, PCM is dropped (the VNC socket is always read, so QEMU never throttles the VM's
 * capture for one slow page). An audio ticket gives no keyboard or mouse: nothing the browser
 * sends reaches QEMU. Core loop thread only.
 */
#ifndef QHM_VNCAUDIO_H
#define QHM_VNCAUDIO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct lws;
struct vncaudio;
struct vncaudio_hub;

#define VNCAUDIO_MAX_QUEUE (96u << 10) /* about half a second of 44.1 kHz stereo */

struct vncaudio_hub *vncaudio_hub_new(void);
/* Once every session is gone (after the loop's last run). */
void vncaudio_hub_free(struct vncaudio_hub *h);
/* Start listening for WSI on the VNC unix socket at PATH. */
struct vncaudio *vncaudio_open(struct vncaudio_hub *h, uv_loop_t *loop, struct lws *wsi, const char *vm_id,
                               const char *path);
/* lws callbacks, forwarded by ws.c. Return -1 to close the WebSocket. */
int vncaudio_on_receive(struct vncaudio *s, size_t len);
int vncaudio_on_writeable(struct vncaudio *s);
void vncaudio_on_ws_closed(struct vncaudio *s);
/* Close every listener of VM_ID with REASON (the VM stopped or was deleted). */
void vncaudio_close_vm(struct vncaudio_hub *h, const char *vm_id, const char *reason);
/* PCM bytes dropped for slow listeners since the hub was made (GET /host could show it). */
uint64_t vncaudio_dropped(const struct vncaudio_hub *h);

#endif
