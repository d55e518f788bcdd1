/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp: the transport half of a QEMU Machine Protocol client on a libuv unix
 * socket — bytes in, CRLF-terminated JSON messages out, the greeting and
 * capabilities handshake, commands matched to replies by "id", events handed
 * to the owner. What commands and events mean is the owner's business
 * (vm_qmp.c). Core loop thread only.
 *
 * Every command has a deadline (qmp_command_timeout; the greeting and capabilities have none:
 * the owner times a start); a passed one makes the connection "stalled" until QEMU answers
 * again, and commands are refused meanwhile (qmp.c explains why).
 *
 * Lifetime: qmp_close() is the only way to end one. After it no callback
 * fires except the pending commands' callbacks (with a "closed" error), which
 * run inside qmp_close(); the memory is freed when libuv closes the handle.
 */
#ifndef QHM_QMP_H
#define QHM_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#define QMP_MAX_LINE (8u << 20)
/* How long a command may wait for its reply (qmp_command); qmp_command_timeout for others. */
#define QMP_TIMEOUT_MS 10000

struct qmp;

/* RET is the "return" value on success (borrowed), else NULL and ERR says why. */
typedef void (*qmp_reply_cb)(struct qmp *q, json_t *ret, const char *err, void *ud);

struct qmp_callbacks {
  /* Greeting read and qmp_capabilities accepted (err NULL), or the connection failed (err set). */
  void (*ready)(struct qmp *q, const char *err, void *ud);
  void (*event)(struct qmp *q, const char *name, json_t *data, void *ud);
  /* The peer closed the connection or sent something unparseable. Not called after qmp_close(). */
  void (*closed)(struct qmp *q, const char *why, void *ud);
  /* Optional. STALLED: a command's deadline passed (WHY says which); from now on commands are
   * refused at once until QEMU answers again, which calls this with STALLED false. */
  void (*stall)(struct qmp *q, bool stalled, const char *why, void *ud);
};

struct qmp *qmp_new(uv_loop_t *loop, const struct qmp_callbacks *cb, void *ud);
/* Connect to the unix socket at PATH; the outcome arrives through cb->ready. */
void qmp_connect(struct qmp *q, const char *path);
/* Send a command; ARGS (may be NULL) is stolen. CB may be NULL. CB gets an error when no reply
 * came within QMP_TIMEOUT_MS (the reply is dropped if it comes later), and at once (nothing sent)
 * while the connection is stalled. */
void qmp_command(struct qmp *q, const char *name, json_t *args, qmp_reply_cb cb, void *ud);
/* The same with its own deadline: TIMEOUT_MS 0 waits for ever (savevm of a big machine). */
void qmp_command_timeout(struct qmp *q, const char *name, json_t *args, unsigned timeout_ms, qmp_reply_cb cb,
                         void *ud);
/* A deadline passed and QEMU has not answered since (see qmp_callbacks.stall); and which. */
bool qmp_stalled(const struct qmp *q);
const char *qmp_stall_reason(const struct qmp *q);
void qmp_close(struct qmp *q);

/* Exposed for the unit tests and the fuzzer: feed raw bytes as if read from the socket. */
void qmp_feed(struct qmp *q, const char *data, size_t len);
/* For the fuzzer: treat Q as connected without a socket (writes are then dropped). */
void qmp_fuzz_mark_connected(struct qmp *q);

#endif
