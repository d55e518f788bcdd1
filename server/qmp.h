/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp: the transport half of a QEMU Machine Protocol client on a libuv unix
 * socket — bytes in, CRLF-terminated JSON messages out, the greeting and
 * capabilities handshake, commands matched to replies by "id", events handed
 * to the owner. What commands and events mean is the owner's business
 * (vm.c). Core loop thread only.
 *
 * Lifetime: qmp_close() is the only way to end one. After it no callback
 * fires except the pending commands' callbacks (with a "closed" error), which
 * run inside qmp_close(); the memory is freed when libuv closes the handle.
 */
#ifndef QHM_QMP_H
#define QHM_QMP_H

#include <jansson.h>
#include <uv.h>

#define QMP_MAX_LINE (8u << 20)

struct qmp;

/* RET is the "return" value on success (borrowed), else NULL and ERR says why. */
typedef void (*qmp_reply_cb)(struct qmp *q, json_t *ret, const char *err, void *ud);

struct qmp_callbacks {
  /* Greeting read and qmp_capabilities accepted (err NULL), or the connection failed (err set). */
  void (*ready)(struct qmp *q, const char *err, void *ud);
  void (*event)(struct qmp *q, const char *name, json_t *data, void *ud);
  /* The peer closed the connection or sent something unparseable. Not called after qmp_close(). */
  void (*closed)(struct qmp *q, const char *why, void *ud);
};

struct qmp *qmp_new(uv_loop_t *loop, const struct qmp_callbacks *cb, void *ud);
/* Connect to the unix socket at PATH; the outcome arrives through cb->ready. */
void qmp_connect(struct qmp *q, const char *path);
/* Send a command; ARGS (may be NULL) is stolen. CB may be NULL. */
void qmp_command(struct qmp *q, const char *name, json_t *args, qmp_reply_cb cb, void *ud);
void qmp_close(struct qmp *q);

/* Exposed for the unit tests and the fuzzer: feed raw bytes as if read from the socket. */
void qmp_feed(struct qmp *q, const char *data, size_t len);
/* For the fuzzer: treat Q as connected without a socket (writes are then dropped). */
void qmp_fuzz_mark_connected(struct qmp *q);

#endif
