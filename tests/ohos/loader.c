/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qhm-ohos-loader: the cross-built daemon library (libqemu-hmos.so for aarch64-unknown-linux-ohos)
 * started the way the HarmonyOS app's N-API module starts it (qemu-hmos.h: qhm_daemon_start, run
 * on a thread of ours, stop, free), here under qemu-aarch64 for tests/ohos/run.py. It prints
 * "ready HTTP_URL WS_URL LAUNCHER" once serving (the token is in DATA_DIR's endpoint file, as
 * for the CLI) and stops the daemon when stdin closes, then prints "stopped".
 * Usage: qhm-ohos-loader DATA_DIR QEMU_MANIFEST [PORT]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu-hmos.h"

static void *run(void *d) {
  qhm_daemon_run(d);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s DATA_DIR QEMU_MANIFEST [PORT]\n", argv[0]);
    return 2;
  }
  struct qhm_options o = {0};
  o.data_dir = argv[1];
  o.qemu = argv[2][0] ? argv[2] : NULL;
  o.port = argc > 3 ? (uint16_t)atoi(argv[3]) : 0;
  o.launcher = "child";
  char err[512];
  struct qhm_daemon *d = qhm_daemon_start(&o, err, sizeof(err));
  if (!d) {
    fprintf(stderr, "qhm-ohos-loader: %s\n", err);
    return 1;
  }
  pthread_t t;
  if (pthread_create(&t, NULL, run, d) != 0) {
    fprintf(stderr, "qhm-ohos-loader: cannot start a thread\n");
    return 1;
  }
  struct qhm_status st;
  qhm_daemon_status(d, &st);
  printf("ready %s %s %s\n", st.http_url, st.ws_url, st.launcher);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0)
    ;
  qhm_daemon_stop(d);
  pthread_join(t, NULL);
  qhm_daemon_free(d);
  printf("stopped\n");
  return 0;
}
