/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * child: what the "child" launcher backend hands a native child process, in the
 * shape HarmonyOS gives one (OH_Ability_StartNativeChildProcess): an entry
 * "LIB.so:Function" the system loads, one parameter string, and up to
 * LAUNCH_MAX_FDS named descriptors. The entry is always our shim,
 * libqemu_child.so:Main (child_shim.c); the parameter string tells the shim
 * what to run in the child:
 *
 *   qhm1 FLAGS TARGET ARG0 ARG1 ...
 *
 * TARGET is "LIB.so:Function" (the real program: a QEMU system emulator,
 * qemu-img, the RDP worker), FLAGS the launch flags the child itself must apply
 * (the JIT grant), the ARGs its argv. Tokens are separated by one space; in each,
 * '%', bytes up to ' ' and 0x7f are written %XX. Descriptors are named by the
 * number the program must find them at ("0" .. "15"). On Linux qemu-hmos-child
 * (child_main.c) stands in for the system.
 *
 * Plain libc only: the shim links nothing else of the daemon.
 */
#ifndef QHM_CHILD_H
#define QHM_CHILD_H

#include <stddef.h>

#define CHILD_PARAMS_MAGIC "qhm1"
#define CHILD_SHIM_LIB "libqemu_child.so"
#define CHILD_SHIM_ENTRY "Main"
/* The descriptor (by this name, not a number) the shim writes the program's exit code to, as an
 * int, when its entry returns: how a launcher whose children are not its own (HarmonyOS) learns
 * how they ended. */
#define CHILD_STATUS_FD_NAME "status"

/* HarmonyOS's NativeChildProcess_Args, as our shim receives it (the same layout: a parameter
 * string and a list of named descriptors). */
struct qhm_child_fd {
  char *name;
  int fd;
  struct qhm_child_fd *next;
};
struct qhm_child_args {
  char *entry_params;
  struct qhm_child_fd *fds;
};

/* Write the parameter string for TARGET, FLAGS and ARGV (NULL-terminated) into a malloc'd
 * string; NULL when out of memory. */
char *child_params_encode(const char *target, unsigned flags, char *const argv[]);
/* Split PARAMS in place: 0 with *TARGET, *FLAGS and *ARGV (malloc'd array of pointers into
 * PARAMS, NULL-terminated, *ARGC entries), or -1 when it is not a parameter string of ours. */
int child_params_decode(char *params, char **target, unsigned *flags, int *argc, char ***argv);

#endif
