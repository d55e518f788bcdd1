/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proc: run a helper program (qemu-img, swtpm) to completion through the launcher (launch.h)
 * without blocking the core loop, collect what it prints, and call back once it has exited. Core
 * loop thread only.
 */
#ifndef QHM_PROC_H
#define QHM_PROC_H

#include <stddef.h>

#include "launch.h"

#define PROC_MAX_OUT (1u << 20) /* stdout kept; more is dropped and the run fails */
#define PROC_MAX_ERR 4096       /* stderr kept (its start) */

struct proc_result {
  int exit_status; /* -1 when it could not be started or was killed by a signal */
  int term_signal;
  char *out; /* NUL-terminated; "" when nothing */
  size_t out_len;
  char *err; /* stderr, or why it could not run; "" when nothing */
};

typedef void (*proc_cb)(const struct proc_result *res, void *ud);

/* Run ARGV (argv[0] an absolute path). CB is always called once: later, from the loop, or at
 * once while the daemon shuts down. */
void proc_run(struct launcher *l, char *const argv[], proc_cb cb, void *ud);
/* proc_run as the unprivileged user the VMs' processes run as when the daemon is root (priv.h):
 * swtpm. qemu-img stays the daemon's (proc_run): it makes files in directories only it writes. */
void proc_run_unprivileged(struct launcher *l, char *const argv[], proc_cb cb, void *ud);
/* Run ARGV to its end, blocking the calling thread: only where nothing else can run yet (the
 * daemon's start-up, before the loop). RES is filled as proc_run's callback gets it (free it with
 * proc_result_free); 0 when the program exited 0, else -1. A launcher backend that does not report
 * exit statuses gives -1 (RES->err says so): nothing is taken for done without proof. */
int proc_run_wait(struct launcher *l, char *const argv[], struct proc_result *res);
void proc_result_free(struct proc_result *res);
/* launcher_shutdown(): every callback still due is called then with a failure (so requests are
 * answered and the VMs they refer to are still there), and later runs fail at once. */

#endif
