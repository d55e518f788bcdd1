/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * child_main: qemu-hmos-child, the stand-in on Linux for what HarmonyOS does
 * when an app starts a native child process: load "LIB.so:Function" and call
 * it with the parameter string and the inherited descriptors, named by number.
 *
 *   qemu-hmos-child LIB.so:Function PARAMS
 *
 * The "child" launcher backend (launch_child.c) execs it; descriptors 0 to 15
 * that are open when it starts are passed on. Exit status 127 when the entry
 * cannot be loaded.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "launch.h"

typedef void (*child_entry)(struct qhm_child_args args);

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: qemu-hmos-child LIB.so:Function PARAMS\n");
    return 2;
  }
  /* Split a copy: the process's command line (/proc/PID/cmdline, ps) goes on saying what was
   * started, as the shim leaves the parameter string alone. */
  char *entry = strdup(argv[1]), *colon = entry ? strrchr(entry, ':') : NULL;
  if (!colon || colon == entry || !colon[1]) {
    fprintf(stderr, "qemu-hmos-child: %s is not LIB.so:Function\n", argv[1]);
    return 127;
  }
  *colon = 0;
  void *lib = dlopen(entry, RTLD_NOW | RTLD_LOCAL);
  child_entry fn = lib ? (child_entry)dlsym(lib, colon + 1) : NULL;
  if (!fn) {
    fprintf(stderr, "qemu-hmos-child: %s\n", dlerror());
    return 127;
  }
  static struct qhm_child_fd fds[LAUNCH_MAX_FDS];
  static char names[LAUNCH_MAX_FDS][4];
  struct qhm_child_fd *head = NULL;
  for (int fd = LAUNCH_MAX_FDS - 1; fd >= 0; fd--) {
    if (fcntl(fd, F_GETFD) < 0)
      continue;
    snprintf(names[fd], sizeof(names[fd]), "%d", fd);
    fds[fd] = (struct qhm_child_fd){names[fd], fd, head};
    head = &fds[fd];
  }
  fn((struct qhm_child_args){argv[2], head});
  return 0;
}
