/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * child_shim: libqemu_child.so, the entry the system starts a native child
 * process from (HarmonyOS: OH_Ability_StartNativeChildProcess(
 * "libqemu_child.so:Main", ...); Linux: qemu-hmos-child). Main puts each named
 * descriptor at its number, asks for the JIT grant when told to, loads the
 * target library and calls its entry with the argv from the parameter string
 * (child.h). The process ends with the entry's return value. Plain libc and
 * libdl: nothing of the daemon is in this process.
 *
 * The entry runs on a thread of ours with a process-sized stack (CHILD_STACK): Main's own thread
 * is the system's, of a size we do not choose — in the stand-in (scripts/ohos/standin) it is the
 * forking daemon thread's, musl's 128 KiB, on which QEMU overran its stack and failed at random
 * (cpu_exec: "cpu == current_cpu"). QEMU is written for an 8 MiB main thread.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "jit.h"
#include "launch.h"

typedef int (*program_entry)(int argc, char **argv);

#define CHILD_STACK (8u << 20)

static int status_fd = -1; /* CHILD_STATUS_FD_NAME's, kept close-on-exec above the others */

struct run {
  program_entry entry;
  int argc;
  char **argv;
};

static void *run_entry(void *p) {
  struct run *r = p;
  int code = r->entry(r->argc, r->argv);
  if (status_fd >= 0 && write(status_fd, &code, sizeof(code)) != (ssize_t)sizeof(code))
    fprintf(stderr, "qemu-hmos child: cannot report the exit code %d\n", code);
  exit(code);
}

static void __attribute__((noreturn)) fail(const char *what, const char *detail) {
  fprintf(stderr, "qemu-hmos child: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(127);
}

/* Each descriptor to the number it is named by. All are first copied above the final numbers
 * and the originals closed, so that one placed cannot clobber another not yet moved. */
static void place_fds(const struct qhm_child_fd *fds) {
  int tmp[LAUNCH_MAX_FDS], want[LAUNCH_MAX_FDS], n = 0;
  for (const struct qhm_child_fd *f = fds; f; f = f->next) {
    if (strcmp(f->name, CHILD_STATUS_FD_NAME) == 0) {
      if (status_fd >= 0 || (status_fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 64)) < 0)
        fail("cannot keep the status descriptor", NULL);
      continue;
    }
    char *end;
    long w = strtol(f->name, &end, 10);
    if (!f->name[0] || *end || w < 0 || w >= LAUNCH_MAX_FDS || n == LAUNCH_MAX_FDS)
      fail("a descriptor not named by a number from 0 to 15", f->name);
    want[n] = (int)w;
    if ((tmp[n++] = fcntl(f->fd, F_DUPFD_CLOEXEC, 64)) < 0)
      fail("cannot copy a descriptor", f->name);
  }
  for (const struct qhm_child_fd *f = fds; f; f = f->next)
    close(f->fd);
  for (int i = 0; i < n; i++) {
    if (dup2(tmp[i], want[i]) < 0) /* the copy at its number is not close-on-exec */
      fail("cannot place a descriptor", NULL);
    close(tmp[i]);
  }
}

__attribute__((visibility("default"))) void Main(struct qhm_child_args args) {
  char *target, **argv;
  unsigned flags;
  int argc;
  /* Decode a copy (kept: ARGV points into it): the parameter string is the system's, and on Linux
   * it is qemu-hmos-child's argv, which /proc/PID/cmdline and ps show. Decoded in place, a QEMU's
   * command line read there came out cut at every space, with scraps of escapes after each value. */
  char *params = args.entry_params ? strdup(args.entry_params) : NULL;
  if (!params || child_params_decode(params, &target, &flags, &argc, &argv) < 0)
    fail("the parameter string is not qemu-hmos's", NULL);
  place_fds(args.fds);
  if (flags & LAUNCH_JIT_GRANT)
    launch_jit_grant();
  char *colon = strrchr(target, ':');
  if (!colon || colon == target || !colon[1])
    fail("the target is not LIB.so:Function", target);
  *colon = 0;
  void *lib = dlopen(target, RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    fail("cannot load the program's library", dlerror());
  program_entry entry = (program_entry)dlsym(lib, colon + 1);
  if (!entry)
    fail("the program's library has no entry", colon + 1);
  struct run r = {entry, argc, argv};
  pthread_attr_t a;
  pthread_t t;
  if (pthread_attr_init(&a) != 0 || pthread_attr_setstacksize(&a, CHILD_STACK) != 0 ||
      pthread_create(&t, &a, run_entry, &r) != 0)
    fail("cannot start the program's thread", NULL);
  pthread_join(t, NULL); /* run_entry exits the process */
  exit(127);
}
