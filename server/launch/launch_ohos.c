/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * launch_ohos: the "child" launcher backend on HarmonyOS, where the system
 * starts the child: OH_Ability_StartNativeChildProcess("libqemu_child.so:Main",
 * args, options, &pid). The spec becomes what launch.c's Linux child backend
 * hands qemu-hmos-child: child.h's parameter string (the real entry, the
 * flags the child applies, the argv) and the descriptors named by the number
 * the program finds them at. libqemu_child.so's Main (child_shim.c) does the
 * rest in the child, the same on both.
 *
 * HarmonyOS only: meson compiles it when the compiler defines __OHOS__ (the
 * cross build of `make ohos`, issue 16) and links libchild_process.so. It needs
 * the SDK's <AbilityKit/native_child_process.h>, which this development machine
 * does not have: this file has not been compiled here, and no stand-in header
 * is written for it.
 *
 * Platform facts it relies on (native_child_process.h, API 13+:
 * https://gitcode.com/openharmony/docs/blob/master/en/application-dev/reference/apis-ability-kit/capi-native-child-process-h.md
 * and the guide:
 * https://gitcode.com/openharmony/docs/blob/master/zh-cn/application-dev/application-models/capi-nativechildprocess-development-guideline.md):
 * the entry is "LIB.so:Function" of a library of the app; entryParams at most
 * 150 KB; at most 16 descriptors, each named by at most 20 characters; the pid
 * comes back synchronously; NCP_ISOLATION_MODE_NORMAL shares the app's sandbox
 * and network with the child (it opens DATA/vms/... and its unix sockets);
 * only the app's main process may start children, and they end with it (so
 * LAUNCH_DETACH means nothing here: a VM does not outlive the app); 2-in-1
 * devices and tablets only (API 14+), other devices answer NCP_ERR_NOT_SUPPORTED.
 * The child is the system's, not ours: no waitpid; its exit is seen through a
 * pidfd when the sandbox allows one, else by polling (launch.c's watch).
 */
#ifndef __OHOS__
#error "launch_ohos.c is for HarmonyOS (the cross build compiles it)"
#endif

#include <AbilityKit/native_child_process.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "launch.h"
#include "util.h"

#define ENTRY_PARAMS_MAX (150u * 1024) /* the documented limit of entryParams */

/* The documented error codes (by value: older SDK headers spell some names differently). */
static const char *ncp_error(int code) {
  switch (code) {
  case 401:
    return "invalid parameter";
  case 801:
    return "native child processes are not supported on this device (2-in-1 devices and tablets only)";
  case 16000050:
    return "internal error";
  case 16010001:
    return "busy starting another child";
  case 16010002:
    return "timed out";
  case 16010003:
    return "service error";
  case 16010004:
    return "multi-process mode is disabled";
  case 16010005:
    return "a child process cannot start another";
  case 16010006:
    return "too many native child processes";
  case 16010007:
    return "the child could not load its library or entry";
  default:
    return "error";
  }
}

static int ohos_spawn(const struct launch_backend *self, const struct launch_spec *s,
                      struct launch_child *out, char *err, size_t errlen) {
  const char *what = s->argv && s->argv[0] ? s->argv[0] : s->name;
  if (!s->entry) {
    snprintf(err, errlen, "cannot run %s under the child launcher: it has no library entry (LIB.so:Function)",
             what);
    return -1;
  }
  if (s->n_fds + 1 > LAUNCH_MAX_FDS) { /* (+1: the status pipe) */
    snprintf(err, errlen, "cannot run %s: more than %d descriptors", s->name, LAUNCH_MAX_FDS - 1);
    return -1;
  }
  char *params = child_params_encode(s->entry, s->flags & LAUNCH_JIT_GRANT, s->argv);
  if (!params)
    oom();
  if (strlen(params) > ENTRY_PARAMS_MAX) {
    snprintf(err, errlen, "cannot run %s: its command line is over 150 KB", what);
    free(params);
    return -1;
  }
  /* Descriptor i by the name "i"; 0-2 that the spec leaves out get /dev/null, as under exec. */
  NativeChildProcess_Fd node[LAUNCH_MAX_FDS];
  char name[LAUNCH_MAX_FDS][4];
  NativeChildProcess_Fd *head = NULL, **tail = &head;
  int nullfd = -1;
  unsigned n = s->n_fds < 3 ? 3 : s->n_fds;
  for (unsigned i = 0; i < n; i++) {
    int fd = i < s->n_fds ? s->fds[i] : -1;
    if (fd < 0 && i < 3) {
      if (nullfd < 0)
        nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
      fd = nullfd;
    }
    if (fd < 0)
      continue;
    snprintf(name[i], sizeof(name[i]), "%u", i);
    node[i] = (NativeChildProcess_Fd){.fdName = name[i], .fd = fd, .next = NULL};
    *tail = &node[i];
    tail = &node[i].next;
  }
  /* The child is the system's: no waitpid. Its shim writes the program's exit code here when the
   * entry returns (child.h); the read end is non-blocking, as the stand-in's forked children may
   * hold copies of the write end. */
  int sp[2];
  if (pipe2(sp, O_CLOEXEC) < 0) {
    snprintf(err, errlen, "cannot run %s: pipe: %s", what, strerror(errno));
    free(params);
    if (nullfd >= 0)
      close(nullfd);
    return -1;
  }
  fcntl(sp[0], F_SETFL, O_NONBLOCK);
  NativeChildProcess_Fd status_node = {.fdName = (char *)CHILD_STATUS_FD_NAME, .fd = sp[1], .next = NULL};
  *tail = &status_node;
  char *entry = xasprintf("%s:%s", self->shim, CHILD_SHIM_ENTRY);
  NativeChildProcess_Args args = {.entryParams = params, .fdList = {.head = head}};
  NativeChildProcess_Options options = {.isolationMode = NCP_ISOLATION_MODE_NORMAL};
  int32_t pid = -1;
  int rc = (int)OH_Ability_StartNativeChildProcess(entry, args, options, &pid);
  /* The descriptors stay ours (the system passes copies over IPC); the caller closes them. */
  free(entry);
  free(params);
  if (nullfd >= 0)
    close(nullfd);
  close(sp[1]);
  if (rc != 0 || pid <= 0) {
    close(sp[0]);
    snprintf(err, errlen, "cannot run %s: OH_Ability_StartNativeChildProcess: %s (%d)", what, ncp_error(rc),
             rc);
    return -1;
  }
  out->pid = pid;
  out->own = false;
  out->status_fd = sp[0];
  out->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* -1 when refused: the watch polls */
  if (out->pidfd >= 0)
    fcntl(out->pidfd, F_SETFD, FD_CLOEXEC);
  return 0;
}

struct launch_backend launch_ohos_backend(const char *shim) {
  return (struct launch_backend){"child", ohos_spawn, NULL, shim};
}
