/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * crashpt: named kill points for the crash consistency test. Compiled in
 * always, inert unless QHM_TEST_KILL_POINT=NAME:N was set when the daemon
 * started: the Nth arrival at point NAME raises SIGKILL (no cleanup, no
 * atexit, as a power cut or the OOM killer would). Core loop thread only.
 */
#include "crashpt.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char point[96];
static long want, seen;

void crashpt_init(void) {
  const char *e = getenv("QHM_TEST_KILL_POINT");
  const char *colon = e ? strrchr(e, ':') : NULL;
  if (!e || !colon || (size_t)(colon - e) >= sizeof(point))
    return;
  memcpy(point, e, (size_t)(colon - e));
  point[colon - e] = 0;
  want = strtol(colon + 1, NULL, 10);
  if (want < 1)
    want = 1;
  fprintf(stderr, "qemu-hmos: test kill point %s, arrival %ld\n", point, want);
}

void crashpt(const char *name) {
  if (!point[0] || strcmp(name, point) != 0 || ++seen < want)
    return;
  fprintf(stderr, "qemu-hmos: killed at test point %s (%ld)\n", name, seen);
  raise(SIGKILL);
}
