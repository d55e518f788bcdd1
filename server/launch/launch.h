/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * launch: the one door through which the daemon starts a child process
 * (QEMU, the KVM probe, qemu-img, swtpm, the RDP worker). A backend does the
 * starting; everything above (vm/, dl/, the bridges) describes what to start in
 * a struct launch_spec and never calls fork, exec or uv_spawn itself.
 *
 * The spec carries what a HarmonyOS native child gets from the system: an
 * entry "LIB.so:Function", one argument string (the argv, joined by the
 * backend), at most LAUNCH_MAX_FDS inherited descriptors, and an exit
 * notification that may come late or not at all (the watch polls as a
 * fallback). The default backend, "exec", forks and execs argv[0]; a "child"
 * backend for HarmonyOS plugs in with launcher_new() without touching callers.
 *
 * A launcher belongs to one daemon (core.h) and its loop; core loop thread only,
 * except launch_spawn, which any thread may call (it touches no loop state).
 */
#ifndef QHM_LAUNCH_H
#define QHM_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#define LAUNCH_MAX_FDS 16

enum launch_flags {
  LAUNCH_DETACH = 1u << 0,       /* its own session: it outlives the daemon (QEMU) */
  LAUNCH_UNPRIVILEGED = 1u << 1, /* as the VMs' unprivileged user when the daemon is root (priv.h) */
  LAUNCH_JIT_GRANT = 1u << 2,    /* HarmonyOS JIT grant (prctl 0x6a6974) first; the result goes to fd 2 */
  /* exec backend: a user namespace of its own where it is root, mapped onto the user it runs as
   * (no other id exists there), and a mount namespace where SHARE_DIR is bind-mounted onto itself,
   * read-only (recursively) when SHARE_READONLY: a file server (virtiofsd) may then sandbox itself
   * without being root, and cannot write a read-only share whatever it is asked. */
  LAUNCH_SHARE_NS = 1u << 3,
};

struct launch_spec {
  const char *name;        /* for messages: "qemu", "qemu-img", "swtpm", "rdp-worker", "kvm-probe" */
  const char *entry;       /* the child backend's "LIB.so:Function"; NULL: the exec backend only */
  char *const *argv;       /* NULL-terminated; argv[0] is the program's absolute path for "exec" */
  int fds[LAUNCH_MAX_FDS]; /* the child's descriptor i is fds[i]; -1: /dev/null for 0-2, absent above */
  unsigned n_fds;          /* how many of fds[] are meant (0: stdin, stdout and stderr on /dev/null) */
  unsigned flags;          /* enum launch_flags */
  const char *share_dir;   /* LAUNCH_SHARE_NS: an absolute directory */
  bool share_readonly;
};

struct launch_child {
  pid_t pid;
  int pidfd; /* -1 when the backend has none: exits are then noticed by polling */
  bool own;  /* a child of this process: its status can be collected (waitpid) */
  /* Not own (HarmonyOS: the system's child): a pipe the child shim writes the program's exit
   * code to when its entry returns (child.h CHILD_STATUS_FD_NAME); -1: none. launch_watch and
   * launch_status take it; a caller that uses neither closes it. */
  int status_fd;
};

struct launch_backend {
  const char *name;
  /* Start SPEC. 0 with OUT filled, or -1 with a message in ERR; never blocks for long. */
  int (*spawn)(const struct launch_backend *self, const struct launch_spec *spec, struct launch_child *out,
               char *err, size_t errlen);
  const char *loader; /* child: the system's stand-in that starts a native child (qemu-hmos-child) */
  const char *shim;   /* child: the library every native child starts from (libqemu_child.so) */
};

#ifndef __OHOS__
/* fork + exec (Linux; not built for HarmonyOS, where an app may not exec). */
extern const struct launch_backend launch_exec_backend;
/* The HarmonyOS shape (child.h): every program as "LIB.so:Function" in a native child process,
 * started from SHIM's Main; on Linux LOADER (qemu-hmos-child) plays the system's part. The
 * strings are kept, not copied. A program without a library entry (launch_map) cannot run. */
struct launch_backend launch_child_backend(const char *loader, const char *shim);
#else
/* The same shape on HarmonyOS itself (launch_ohos.c): the system starts "SHIM:Main" with
 * OH_Ability_StartNativeChildProcess; SHIM is the library's file name (libqemu_child.so). */
struct launch_backend launch_ohos_backend(const char *shim);
#endif

struct launcher;
struct launch_watch;

/* BACKEND NULL: launch_exec_backend (not on HarmonyOS, where one must be named). */
struct launcher *launcher_new(uv_loop_t *loop, const struct launch_backend *backend); /* copied */
/* A spec whose entry is NULL and whose argv[0] is PROGRAM gets ENTRY ("LIB.so:Function") for the
 * child backend: callers name programs by path and stay the same under either backend. */
void launch_map(struct launcher *l, const char *program, const char *entry);
/* launch_map(PROGRAM, "LIBRARY:FUNCTION") when LIBRARY can be read (else nothing: the program
 * then has no entry); NULL arguments map nothing. */
void launch_map_library(struct launcher *l, const char *program, const char *library, const char *function);
const char *launcher_backend_name(const struct launcher *l);
/* Whether a spawn of PROGRAM can start: exec: it is an executable file; another backend: it has a
 * library entry (the program itself need not exist: an app ships only the library). */
bool launch_runnable(const struct launcher *l, const char *program);
uv_loop_t *launcher_loop(struct launcher *l);
/* The daemon is stopping: proc runs still due are answered now with a failure (proc.h), later
 * spawns fail at once, watches stop. Before the loop's last run. */
void launcher_shutdown(struct launcher *l);
/* After the loop has closed every handle. */
void launcher_free(struct launcher *l);

int launch_spawn(struct launcher *l, const struct launch_spec *spec, struct launch_child *out, char *err,
                 size_t errlen);

/* Exit watching. STATUS is the wait status when the child's own status could be collected, or
 * the exit code its shim wrote to CHILD->status_fd (as a wait status), else -1 (the backend did
 * not say, or the program ended by exit() or a signal before its entry returned). CB is called
 * once; the watch is then gone. */
typedef void (*launch_exit_cb)(pid_t pid, int status, void *ud);
/* Takes no ownership of CHILD->pidfd (the caller closes it after the callback or the cancel);
 * takes CHILD->status_fd. */
struct launch_watch *launch_watch(struct launcher *l, const struct launch_child *child, launch_exit_cb cb,
                                  void *ud);
/* The callback will not be called. */
void launch_watch_cancel(struct launch_watch *w);
/* A backend's exit notification (HarmonyOS: the system's child-exit callback, on the loop thread). */
void launch_exited(struct launcher *l, pid_t pid, int status);
/* The wait status a child that has ended wrote to STATUS_FD (its entry's return value), or -1;
 * closes STATUS_FD (-1: nothing to read). */
int launch_status(int status_fd);

#endif
