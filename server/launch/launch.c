/* SPDX-License-Identifier: GPL-2.0-or-later */
/* launch: see launch.h. The exec backend, exit watches, the launcher's life. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __OHOS__
#include <linux/mount.h> /* struct mount_attr (glibc 2.36 has none); before <sys/mount.h> */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#endif

#include "child.h"
#include "jit.h"
#include "launch_priv.h"
#include "priv.h"
#include "util.h"

#define WATCH_POLL_MS 250 /* the fallback when there is no pidfd */

struct launch_watch {
  struct launch_watch *prev, *next;
  struct launcher *l;
  pid_t pid;
  bool own;
  uv_poll_t poll;   /* on the pidfd */
  uv_timer_t timer; /* without one, or as the backend's notification may never come */
  bool polling;
  int open_handles;
  launch_exit_cb cb; /* NULL once called or cancelled */
  void *ud;
  int status_fd; /* launch_child.status_fd, or -1 */
};

/* ---- the exec backend ---- */

/* Not on HarmonyOS, where an app may not exec: there every program is a library entry in a native
 * child process the system starts (launch_ohos.c), and libqemu-hmos.so must not import execv or
 * fork (the cross build's checks, tests/ohos). */
#ifndef __OHOS__

static void put(const char *s, size_t n) {
  if (write(2, s, n) < 0) {
    /* the log is best effort */
  }
}

/* In the forked child: report errno E on REPORT and end. */
static void __attribute__((noreturn)) child_fail(int report, int e, int code) {
  if (write(report, &e, sizeof(e)) < 0) {
    /* the parent then sees the exit status */
  }
  _exit(code);
}

/* In the forked child: write LEN bytes of S to the /proc file PATH in one write. */
static int proc_write(const char *path, const char *s, size_t len) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, s, len);
  int e = errno;
  close(fd);
  errno = e;
  return n == (ssize_t)len ? 0 : -1;
}

/* In the forked child: "0 ID 1\n" (ID's decimal digits without printf) into OUT; its length. */
static size_t id_map_line(char *out, unsigned long id) {
  char digits[24];
  size_t n = 0, k = 0;
  do
    digits[n++] = (char)('0' + id % 10);
  while ((id /= 10) && n < sizeof(digits));
  out[k++] = '0';
  out[k++] = ' ';
  while (n)
    out[k++] = digits[--n];
  out[k++] = ' ';
  out[k++] = '1';
  out[k++] = '\n';
  return k;
}

/* In the forked child (async-signal-safe calls): LAUNCH_SHARE_NS (launch.h). */
static int share_ns(const char *dir, bool readonly) {
  char line[64];
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (!dir || dir[0] != '/') {
    errno = EINVAL;
    return -1;
  }
  /* After a switch from root the process is not dumpable, and its /proc/self files are root's:
   * it could not write its own maps. (exec sets the flag anew.) */
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
    return -1;
  if (proc_write("/proc/self/setgroups", "deny", 4) < 0 && errno != ENOENT)
    return -1;
  if (proc_write("/proc/self/uid_map", line, id_map_line(line, uid)) < 0 ||
      proc_write("/proc/self/gid_map", line, id_map_line(line, gid)) < 0)
    return -1;
  /* Nothing mounted here reaches the host's namespace; the share is a mount of its own. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
      mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
    return -1;
  if (!readonly)
    return 0;
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
  if (syscall(SYS_mount_setattr, AT_FDCWD, dir, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
    return 0;
  if (errno != ENOSYS)
    return -1;
  /* Before Linux 5.12: the top mount only, with the flags the kernel keeps locked for a less
   * privileged namespace (a remount that dropped them would be refused). */
  struct statvfs sv;
  if (statvfs(dir, &sv) < 0)
    return -1;
  unsigned long fl = MS_REMOUNT | MS_BIND | MS_RDONLY;
  fl |= (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0) | (sv.f_flag & ST_NODEV ? MS_NODEV : 0) |
        (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0) | (sv.f_flag & ST_NOATIME ? MS_NOATIME : 0) |
        (sv.f_flag & ST_NODIRATIME ? MS_NODIRATIME : 0) | (sv.f_flag & ST_RELATIME ? MS_RELATIME : 0);
  return mount(NULL, dir, NULL, fl, NULL);
}

/* In the forked child (async-signal-safe calls only): descriptors, session, privileges, exec. */
static void __attribute__((noreturn)) child_exec(const struct launch_spec *s, int nullfd, int report) {
  if (s->flags & LAUNCH_DETACH)
    setsid();
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  signal(SIGPIPE, SIG_DFL);
  /* Every wanted descriptor first to a number above the final ones, then into place: a source
   * may sit on a target's number. */
  unsigned n = s->n_fds < 3 ? 3 : s->n_fds;
  int tmp[LAUNCH_MAX_FDS];
  for (unsigned i = 0; i < n; i++) {
    int src = i < s->n_fds ? s->fds[i] : -1;
    if (src < 0 && i < 3)
      src = nullfd;
    tmp[i] = src < 0 ? -1 : fcntl(src, F_DUPFD_CLOEXEC, LAUNCH_MAX_FDS + 3);
    if (src >= 0 && tmp[i] < 0)
      child_fail(report, errno, 126);
  }
  for (unsigned i = 0; i < n; i++)
    if (tmp[i] >= 0 && dup2(tmp[i], (int)i) < 0) /* dup2 clears FD_CLOEXEC on the copy */
      child_fail(report, errno, 126);
  /* Everything else closes: what is not already close-on-exec now, the report pipe at exec. */
  for (int fd = (int)n; fd < LAUNCH_MAX_FDS + 3; fd++)
    if (fd != report)
      close(fd);
  if (report + 1 > LAUNCH_MAX_FDS + 3)
    syscall(SYS_close_range, (unsigned)LAUNCH_MAX_FDS + 3, (unsigned)report - 1, 0);
  syscall(SYS_close_range, (unsigned)report + 1, ~0U, 0);
  if (s->flags & LAUNCH_JIT_GRANT)
    launch_jit_grant();
  /* As root: become the VMs' unprivileged user before the program runs, so it opens every file
   * as that user (QEMU's own -runas would setuid after -sandbox forbids it). */
  /* (LAUNCH_SHARE_NS: no supplementary groups, which its namespace could not map; virtiofsd
   * wants none either) */
  if ((s->flags & LAUNCH_UNPRIVILEGED) && priv_child_drop(!(s->flags & LAUNCH_SHARE_NS)) < 0) {
    int e = errno;
    static const char msg[] = "qemu-hmos: cannot switch to the unprivileged user; not started\n";
    put(msg, sizeof(msg) - 1);
    child_fail(report, e, 126);
  }
  if ((s->flags & LAUNCH_SHARE_NS) && share_ns(s->share_dir, s->share_readonly) < 0) {
    int e = errno;
    static const char msg[] = "qemu-hmos: cannot set up the shared folder's namespace; not started\n";
    put(msg, sizeof(msg) - 1);
    child_fail(report, e, 126);
  }
  execv(s->argv[0], s->argv);
  child_fail(report, errno, 127);
}

static int exec_spawn(const struct launch_backend *self, const struct launch_spec *s,
                      struct launch_child *out, char *err, size_t errlen) {
  if (!s->argv || !s->argv[0] || s->argv[0][0] != '/' || s->n_fds > LAUNCH_MAX_FDS) {
    snprintf(err, errlen, "cannot run %s: not an absolute program path", s->name);
    return -1;
  }
  int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
  int rep[2];
  if (nullfd < 0 || pipe2(rep, O_CLOEXEC) < 0) {
    snprintf(err, errlen, "cannot run %s: %s", s->name, strerror(errno));
    if (nullfd >= 0)
      close(nullfd);
    return -1;
  }
  /* The write end above every number the child maps, so the mapping cannot clobber it. */
  int report = fcntl(rep[1], F_DUPFD_CLOEXEC, LAUNCH_MAX_FDS + 3);
  close(rep[1]);
  if (report < 0) {
    snprintf(err, errlen, "cannot run %s: %s", s->name, strerror(errno));
    close(rep[0]), close(nullfd);
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0)
    child_exec(s, nullfd, report);
  int fork_errno = errno;
  close(report);
  close(nullfd);
  if (pid < 0) {
    close(rep[0]);
    snprintf(err, errlen, "cannot run %s: fork: %s", s->name, strerror(fork_errno));
    return -1;
  }
  int e = 0;
  ssize_t got;
  while ((got = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
    ;
  close(rep[0]);
  if (got == (ssize_t)sizeof(e)) { /* exec (or the set-up before it) failed */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    snprintf(err, errlen, "cannot run %s: %s", s->argv[0], strerror(e));
    return -1;
  }
  out->pid = pid;
  out->own = true;
  out->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* -1 on kernels before 5.3: polled */
  if (out->pidfd >= 0)
    fcntl(out->pidfd, F_SETFD, FD_CLOEXEC);
  return 0;
}

const struct launch_backend launch_exec_backend = {"exec", exec_spawn, NULL, NULL};

/* ---- the child backend ---- */

static int child_spawn(const struct launch_backend *self, const struct launch_spec *s,
                       struct launch_child *out, char *err, size_t errlen) {
  if (!s->entry) {
    snprintf(err, errlen, "cannot run %s under the child launcher: it has no library entry (LIB.so:Function)",
             s->argv && s->argv[0] ? s->argv[0] : s->name);
    return -1;
  }
  char *params = child_params_encode(s->entry, s->flags & LAUNCH_JIT_GRANT, s->argv);
  char *shim_entry = xasprintf("%s:%s", self->shim, CHILD_SHIM_ENTRY);
  char *argv[] = {(char *)self->loader, shim_entry, params, NULL};
  struct launch_spec loader = *s;
  loader.argv = argv;
  loader.flags &= ~LAUNCH_JIT_GRANT; /* the shim asks, in the process that runs TCG */
  int rc = exec_spawn(self, &loader, out, err, errlen);
  free(shim_entry);
  free(params);
  return rc;
}

struct launch_backend launch_child_backend(const char *loader, const char *shim) {
  return (struct launch_backend){"child", child_spawn, loader, shim};
}
#endif /* !__OHOS__ */

/* ---- the launcher ---- */

struct launcher *launcher_new(uv_loop_t *loop, const struct launch_backend *backend) {
  struct launcher *l = xcalloc(1, sizeof(*l));
  l->loop = loop;
#ifdef __OHOS__
  if (!backend)
    abort(); /* no exec backend here: the daemon always names one */
  l->backend = *backend;
#else
  l->backend = backend ? *backend : launch_exec_backend;
#endif
  return l;
}

const char *launcher_backend_name(const struct launcher *l) {
  return l->backend.name;
}

bool launch_runnable(const struct launcher *l, const char *program) {
  if (strcmp(l->backend.name, "exec") == 0)
    return access(program, X_OK) == 0;
  for (unsigned i = 0; i < l->n_map; i++)
    if (strcmp(l->map[i].program, program) == 0)
      return true;
  return false;
}

uv_loop_t *launcher_loop(struct launcher *l) {
  return l->loop;
}

int launch_spawn(struct launcher *l, const struct launch_spec *spec, struct launch_child *out, char *err,
                 size_t errlen) {
  memset(out, 0, sizeof(*out));
  out->pidfd = out->status_fd = -1;
  if (l->stopping) {
    snprintf(err, errlen, "cannot run %s: the daemon is shutting down", spec->name);
    return -1;
  }
  struct launch_spec s = *spec;
  for (unsigned i = 0; !s.entry && s.argv && s.argv[0] && i < l->n_map; i++)
    if (strcmp(l->map[i].program, s.argv[0]) == 0)
      s.entry = l->map[i].entry;
  return l->backend.spawn(&l->backend, &s, out, err, errlen);
}

/* ---- exit watches ---- */

static void watch_unlink(struct launch_watch *w) {
  if (w->prev)
    w->prev->next = w->next;
  else if (w->l->watches == w)
    w->l->watches = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

static void on_watch_closed(uv_handle_t *h) {
  struct launch_watch *w = h->data;
  if (--w->open_handles == 0)
    free(w);
}

int launch_status(int status_fd) {
  if (status_fd < 0)
    return -1;
  int code = -1;
  ssize_t n;
  while ((n = read(status_fd, &code, sizeof(code))) < 0 && errno == EINTR)
    ;
  close(status_fd);
  /* The exit code as a wait status would carry it (W_EXITCODE). */
  return n == (ssize_t)sizeof(code) && code >= 0 && code <= 255 ? code << 8 : -1;
}

static void watch_close(struct launch_watch *w) {
  watch_unlink(w);
  w->cb = NULL;
  if (w->status_fd >= 0)
    close(w->status_fd);
  w->status_fd = -1;
  if (w->polling)
    uv_close((uv_handle_t *)&w->poll, on_watch_closed);
  uv_close((uv_handle_t *)&w->timer, on_watch_closed);
}

static void watch_fire(struct launch_watch *w, int status) {
  launch_exit_cb cb = w->cb;
  void *ud = w->ud;
  pid_t pid = w->pid;
  if (status < 0 && w->status_fd >= 0) { /* the process is gone: the pipe holds what it wrote, or EOF */
    status = launch_status(w->status_fd);
    w->status_fd = -1;
  }
  watch_close(w);
  if (cb)
    cb(pid, status, ud);
}

/* 1 when the process is gone (STATUS set when it was ours to collect), 0 while it runs. */
static int watch_check(struct launch_watch *w, int *status) {
  *status = -1;
  if (w->own) {
    int st;
    pid_t r = waitpid(w->pid, &st, WNOHANG);
    if (r == w->pid) {
      *status = st;
      return 1;
    }
    if (r == 0)
      return 0;
    return errno == ECHILD ? 1 : 0; /* collected elsewhere */
  }
  return kill(w->pid, 0) < 0 && errno == ESRCH ? 1 : 0;
}

/* A readable pidfd means the process has ended: a child of ours is collected for its status; for
 * another's, kill(pid, 0) would still find the zombie until its parent reaps it. */
static void on_watch_poll(uv_poll_t *p, int status, int events) {
  struct launch_watch *w = p->data;
  int st = -1;
  if (w->own)
    watch_check(w, &st);
  watch_fire(w, st);
}

static void on_watch_timer(uv_timer_t *t) {
  struct launch_watch *w = t->data;
  int st;
  if (watch_check(w, &st))
    watch_fire(w, st);
}

struct launch_watch *launch_watch(struct launcher *l, const struct launch_child *child, launch_exit_cb cb,
                                  void *ud) {
  struct launch_watch *w = xcalloc(1, sizeof(*w));
  w->l = l;
  w->pid = child->pid;
  w->own = child->own;
  w->cb = cb;
  w->ud = ud;
  w->status_fd = child->status_fd;
  w->poll.data = w->timer.data = w;
  uv_timer_init(l->loop, &w->timer);
  w->open_handles = 1;
  if (child->pidfd >= 0 && uv_poll_init(l->loop, &w->poll, child->pidfd) == 0) {
    w->polling = true;
    w->open_handles++;
    uv_poll_start(&w->poll, UV_READABLE, on_watch_poll);
  } else {
    uv_timer_start(&w->timer, on_watch_timer, WATCH_POLL_MS, WATCH_POLL_MS);
  }
  w->next = l->watches;
  if (l->watches)
    l->watches->prev = w;
  l->watches = w;
  return w;
}

void launch_watch_cancel(struct launch_watch *w) {
  if (w)
    watch_close(w);
}

void launch_exited(struct launcher *l, pid_t pid, int status) {
  for (struct launch_watch *w = l->watches; w; w = w->next)
    if (w->pid == pid) {
      int st;
      if (w->own && watch_check(w, &st) == 1)
        status = st;
      watch_fire(w, status);
      return;
    }
}

void launcher_shutdown(struct launcher *l) {
  l->stopping = true;
  proc_shutdown_runs(l);
}

void launch_map(struct launcher *l, const char *program, const char *entry) {
  for (unsigned i = 0; i < l->n_map; i++)
    if (strcmp(l->map[i].program, program) == 0) {
      free(l->map[i].entry);
      l->map[i].entry = xstrdup(entry);
      return;
    }
  if (l->n_map == LAUNCH_MAX_MAPS)
    abort(); /* a fixed, small set of programs */
  l->map[l->n_map].program = xstrdup(program);
  l->map[l->n_map++].entry = xstrdup(entry);
}

void launch_map_library(struct launcher *l, const char *program, const char *library, const char *function) {
  if (!program || !library || !function || access(library, R_OK) < 0)
    return;
  char *entry = xasprintf("%s:%s", library, function);
  launch_map(l, program, entry);
  free(entry);
}

void launcher_free(struct launcher *l) {
  if (!l)
    return;
  for (unsigned i = 0; i < l->n_map; i++) {
    free(l->map[i].program);
    free(l->map[i].entry);
  }
  /* Watches still open were the callers' to cancel before the loop closed. */
  free(l);
}
