/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for HarmonyOS's libchild_process.so, for running the cross-built daemon under
 * qemu-aarch64 (tests/ohos): OH_Ability_StartNativeChildProcess forks, and the child loads
 * LIB.so (found the way dlopen finds it: LD_LIBRARY_PATH = the app's libs) and calls
 * Function(args) with the descriptors it inherited. On a device the system starts the child
 * (a new process from the app's spawner, given copies of the descriptors over IPC), not the
 * app: what the daemon relies on is the same — the entry, the parameter string, the named
 * descriptors, the pid back at once, no waitpid needed (the daemon does not reap children it
 * does not own: this one reaps them in a thread, as the system would).
 */
#include <AbilityKit/native_child_process.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*child_entry)(NativeChildProcess_Args args);

/* Reap the children (the system's part on a device): each waited for in a thread of its own. */
static void *reaper(void *arg) {
  pid_t pid = (pid_t)(intptr_t)arg;
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
  return NULL;
}

Ability_NativeChildProcess_ErrCode OH_Ability_StartNativeChildProcess(const char *entry,
                                                                      NativeChildProcess_Args args,
                                                                      NativeChildProcess_Options options,
                                                                      int32_t *pid) {
  if (!entry || !pid || options.isolationMode != NCP_ISOLATION_MODE_NORMAL)
    return NCP_ERR_INVALID_PARAM;
  const char *colon = strrchr(entry, ':');
  if (!colon || colon == entry || !colon[1] || (size_t)(colon - entry) >= 256)
    return NCP_ERR_INVALID_PARAM;
  if (args.entryParams && strlen(args.entryParams) > 150u * 1024)
    return NCP_ERR_INVALID_PARAM;
  unsigned n = 0;
  for (NativeChildProcess_Fd *f = args.fdList.head; f; f = f->next)
    if (++n > 16 || !f->fdName || strlen(f->fdName) > 20 || f->fd < 0)
      return NCP_ERR_INVALID_PARAM;
  char lib[256];
  memcpy(lib, entry, (size_t)(colon - entry));
  lib[colon - entry] = 0;
  pid_t child = fork();
  if (child < 0)
    return NCP_ERR_INTERNAL;
  if (child == 0) {
    /* A fresh process as the system would start: default signal dispositions, none blocked. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    child_entry fn = h ? (child_entry)dlsym(h, colon + 1) : NULL;
    if (!fn) {
      fprintf(stderr, "child_process stand-in: cannot start %s: %s\n", entry, dlerror());
      _exit(127);
    }
    fn(args);
    _exit(0);
  }
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, reaper, (void *)(intptr_t)child) != 0) {
    pthread_attr_destroy(&a);
    return NCP_ERR_INTERNAL; /* the child runs on, unreaped: not worth more for a stand-in */
  }
  pthread_attr_destroy(&a);
  *pid = child;
  return NCP_NO_ERROR;
}
