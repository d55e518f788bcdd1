/* SPDX-License-Identifier: GPL-2.0-or-later */
/* launch_priv: the launcher's state, shared by launch.c and proc.c (only those two include it). */
#ifndef QHM_LAUNCH_PRIV_H
#define QHM_LAUNCH_PRIV_H

#include "launch.h"

struct proc_run;

#define LAUNCH_MAX_MAPS 16

struct launcher {
  uv_loop_t *loop;
  struct launch_backend backend;
  struct {
    char *program, *entry;
  } map[LAUNCH_MAX_MAPS];
  unsigned n_map;
  struct launch_watch *watches; /* every live watch */
  struct proc_run *runs;        /* proc.c: the runs whose callback is still due */
  bool stopping;
};

/* proc.c: answer every run still due with a failure (launcher_shutdown). */
void proc_shutdown_runs(struct launcher *l);

#endif
