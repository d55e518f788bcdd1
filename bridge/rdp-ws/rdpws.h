/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rdpws: the daemon's side of one browser RDP console. Forks the worker
 * (qemu-hmos-rdp, one process per session, a socketpair as its fd 3),
 * performs the Guacamole handshake with it on the browser's behalf (the
 * target and credentials come from the VM's config and never pass through
 * the browser; the size from the WebSocket URL), then relays: WebSocket text
 * messages to the worker as they are, the worker's output to the browser cut
 * at instruction boundaries (guacamole-common-js parses each message on its
 * own) after checking it is well-formed — the worker talks to hostile RDP
 * servers, so its output is not trusted either.
 *
 * Backpressure as in vncws: at most WS_QUEUE_HIGH bytes wait for the browser
 * before the worker's socket is no longer read (its writes then block and its
 * frame pacing waits), at most WS_QUEUE_HIGH wait for the worker before the
 * WebSocket's rx is paused. Teardown: when the browser goes, the worker's
 * socket is closed (it exits on EOF), then SIGTERM after RDPWS_TERM_MS and
 * SIGKILL after RDPWS_KILL_MS; a worker that crashes only ends its session.
 *
 * Lifetime: four halves (wsi, socket, process, timer); freed when all are
 * closed. Core loop thread only.
 */
#ifndef QHM_RDPWS_H
#define QHM_RDPWS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#define RDPWS_MAX_SESSIONS 16 /* workers at once (~50 MiB each); more are refused with 503 */
#define RDPWS_TERM_MS 3000
#define RDPWS_KILL_MS 5000
#define RDPWS_DRIVE_NAME "qemuhmos" /* what Windows shows for the shared folder (RDP: 8 characters) */

struct launcher;
struct lws;
struct rdpws;
struct vm_rdp;

/* Start the worker for WSI, connecting to TARGET with a WIDTH x HEIGHT desktop at DPI (WEBP: the
 * browser decodes image/webp). Its stdout and stderr go to LOG_PATH (appended; NULL = the daemon's stderr);
 * CONFIG_DIR (mode 0700, created if needed) holds FreeRDP's own files. SHARED_ROOT/NAME (TARGET's vm_name
 * made a safe file name; both created if missing, mode 0700) is redirected as the drive RDPWS_DRIVE_NAME;
 * NULL = no drive. NULL with ERR when the worker cannot be started. */
/* The worker program's path: $QHM_RDP_WORKER, else DIR/qemu-hmos-rdp (DIR NULL: this
 * executable's directory). libqemu-hmos-rdp.so beside it is the same worker as a library
 * (RDPWS_WORKER_ENTRY); under the child launcher only the library need exist. */
#define RDPWS_WORKER_LIB "libqemu-hmos-rdp.so"
#define RDPWS_WORKER_ENTRY "qhm_rdp_main"
int rdpws_worker_path(const char *dir, char *out, size_t outlen);

struct rdpws_hub; /* one daemon's RDP sessions */
/* WORKER: the worker program's path (rdpws_worker_path; copied), which the launcher starts. */
struct rdpws_hub *rdpws_hub_new(const char *worker);
void rdpws_hub_free(struct rdpws_hub *h); /* once every session is gone */
struct rdpws *rdpws_open(struct rdpws_hub *h, struct launcher *launcher, struct lws *wsi, const char *vm_id,
                         const struct vm_rdp *target, int width, int height, int dpi, bool webp,
                         const char *log_path, const char *config_dir, const char *shared_root, char *err,
                         size_t errlen);
/* SHARED_ROOT/NAME for VM_NAME into OUT: '/' and control characters become '_', and a name that
 * would be "", "." or ".." becomes ID. -1 if it does not fit. */
int rdpws_drive_dir(const char *shared_root, const char *vm_name, const char *id, char *out, size_t outlen);
/* lws callbacks, forwarded by ws.c. Return -1 to close the WebSocket. */
int rdpws_on_receive(struct rdpws *s, const void *in, size_t len, int binary, int first, int final);
int rdpws_on_writeable(struct rdpws *s);
void rdpws_on_ws_closed(struct rdpws *s);
/* Close every RDP console of VM_ID with REASON (the VM was deleted). */
void rdpws_close_vm(struct rdpws_hub *h, const char *vm_id, const char *reason);
unsigned rdpws_count(const struct rdpws_hub *h);

#endif
