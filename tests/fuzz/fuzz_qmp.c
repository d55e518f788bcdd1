/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness: bytes from a hostile QMP peer. A real unix socket pair
 * carries them into qmp.c (the same path QEMU's bytes take), after a greeting
 * so replies, events and garbage all reach the parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp.h"

static void on_ready(struct qmp *q, const char *err, void *ud) {
  if (!err)
    qmp_command(q, "query-status", NULL, NULL, NULL);
}
static void on_event(struct qmp *q, const char *name, json_t *data, void *ud) {}
static void on_closed(struct qmp *q, const char *why, void *ud) {}
static const struct qmp_callbacks cbs = {on_ready, on_event, on_closed, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct qmp *q = qmp_new(&loop, &cbs, NULL);
  /* Feed as if connected: the greeting asks for capabilities, whose reply (id 1) makes it ready. */
  qmp_fuzz_mark_connected(q);
  static const char greet[] = "{\"QMP\": {}}\r\n{\"return\": {}, \"id\": 1}\r\n";
  qmp_feed(q, greet, sizeof(greet) - 1);
  qmp_feed(q, (const char *)data, size);
  qmp_close(q);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
