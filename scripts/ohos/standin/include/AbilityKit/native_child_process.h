/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for the HarmonyOS NDK's <AbilityKit/native_child_process.h> (libchild_process.so),
 * written for qemu-hmos's stand-in toolchain (scripts/ohos/toolchain.sh) from the platform's
 * reference pages: only the part server/launch/launch_ohos.c uses (API 13+:
 * OH_Ability_StartNativeChildProcess). Builds with the real NDK use the NDK's header instead.
 */
#ifndef QHM_STANDIN_NATIVE_CHILD_PROCESS_H
#define QHM_STANDIN_NATIVE_CHILD_PROCESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum Ability_NativeChildProcess_ErrCode {
  NCP_NO_ERROR = 0,
  NCP_ERR_INVALID_PARAM = 401,
  NCP_ERR_NOT_SUPPORTED = 801,
  NCP_ERR_INTERNAL = 16000050,
  NCP_ERR_BUSY = 16010001,
  NCP_ERR_TIMEOUT = 16010002,
  NCP_ERR_SERVICE_ERROR = 16010003,
  NCP_ERR_MULTI_PROCESS_DISABLED = 16010004,
  NCP_ERR_ALREADY_IN_CHILD = 16010005,
  NCP_ERR_MAX_CHILD_PROCESSES_REACHED = 16010006,
  NCP_ERR_LIB_LOADING_FAILED = 16010007,
} Ability_NativeChildProcess_ErrCode;

typedef enum NativeChildProcess_IsolationMode {
  NCP_ISOLATION_MODE_NORMAL = 0,   /* the child shares the app's sandbox and network */
  NCP_ISOLATION_MODE_ISOLATED = 1, /* its own sandbox, no network */
} NativeChildProcess_IsolationMode;

/* One descriptor handed to the child, under a name (at most 20 characters); a list of at most 16. */
typedef struct NativeChildProcess_Fd {
  char *fdName;
  int32_t fd;
  struct NativeChildProcess_Fd *next;
} NativeChildProcess_Fd;

typedef struct NativeChildProcess_FdList {
  struct NativeChildProcess_Fd *head;
} NativeChildProcess_FdList;

/* What the child's entry ("LIB.so:Function", void Function(NativeChildProcess_Args)) receives. */
typedef struct NativeChildProcess_Args {
  char *entryParams; /* at most 150 KB */
  struct NativeChildProcess_FdList fdList;
} NativeChildProcess_Args;

typedef struct NativeChildProcess_Options {
  NativeChildProcess_IsolationMode isolationMode;
  int64_t reserved;
} NativeChildProcess_Options;

/* Start a native child process at ENTRY ("LIB.so:Function", a library of the app) with ARGS;
 * its pid into *PID. Only the app's main process may call it. */
Ability_NativeChildProcess_ErrCode OH_Ability_StartNativeChildProcess(const char *entry,
                                                                      NativeChildProcess_Args args,
                                                                      NativeChildProcess_Options options,
                                                                      int32_t *pid);

#ifdef __cplusplus
}
#endif

#endif
