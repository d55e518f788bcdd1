/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proc: see proc.h. Pipes for stdout and stderr, the child through launch_spawn, its exit through
 * launch_watch; the callback once both pipes reached their end and the child is gone. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch_priv.h"
#include "util.h"

struct proc_run {
  struct proc_run *prev, *next; /* the runs whose callback is still due */
  struct launcher *l;
  uv_pipe_t out, err;
  int pidfd;
  struct launch_watch *watch; /* NULL once the exit was seen or the watch cancelled */
  int pending;                /* pipes open + the exit not yet seen */
  bool overflow;
  struct proc_result res;
  size_t err_len;
  proc_cb cb;
  void *ud;
};

static void unlink_run(struct proc_run *x) {
  if (x->prev)
    x->prev->next = x->next;
  else if (x->l->runs == x)
    x->l->runs = x->next;
  if (x->next)
    x->next->prev = x->prev;
  x->prev = x->next = NULL;
}

static void finish_one(struct proc_run *x) {
  if (--x->pending > 0)
    return;
  if (x->overflow) {
    x->res.exit_status = -1;
    free(x->res.err);
    x->res.err = xstrdup("too much output");
  }
  unlink_run(x);
  if (x->pidfd >= 0)
    close(x->pidfd);
  if (x->cb) /* NULL once proc_shutdown_runs() answered for it */
    x->cb(&x->res, x->ud);
  free(x->res.out);
  free(x->res.err);
  free(x);
}

static void on_closed(uv_handle_t *h) {
  finish_one(h->data);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  static char scratch[65536]; /* loop thread only; the data is copied out in on_read */
  *buf = uv_buf_init(scratch, sizeof(scratch));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  struct proc_run *x = s->data;
  if (n < 0) {
    uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  if (s == (uv_stream_t *)&x->out) {
    if (x->res.out_len + (size_t)n > PROC_MAX_OUT) {
      x->overflow = true;
      return;
    }
    x->res.out = xrealloc(x->res.out, x->res.out_len + (size_t)n + 1);
    memcpy(x->res.out + x->res.out_len, buf->base, (size_t)n);
    x->res.out_len += (size_t)n;
    x->res.out[x->res.out_len] = 0;
  } else {
    size_t room = PROC_MAX_ERR - x->err_len, k = (size_t)n < room ? (size_t)n : room;
    memcpy(x->res.err + x->err_len, buf->base, k);
    x->err_len += k;
    x->res.err[x->err_len] = 0;
  }
}

static void on_exit_seen(pid_t pid, int status, void *ud) {
  struct proc_run *x = ud;
  x->watch = NULL;
  if (status >= 0 && WIFEXITED(status)) {
    x->res.exit_status = WEXITSTATUS(status);
  } else {
    x->res.exit_status = -1;
    x->res.term_signal = status >= 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }
  finish_one(x);
}

static void fail_now(proc_cb cb, void *ud, const char *why) {
  char empty[] = "";
  struct proc_result r = {.exit_status = -1, .out = empty, .err = (char *)why};
  cb(&r, ud);
}

void proc_shutdown_runs(struct launcher *l) {
  for (struct proc_run *x = l->runs, *next; x; x = next) {
    next = x->next;
    proc_cb cb = x->cb;
    x->cb = NULL;
    unlink_run(x);
    if (cb)
      fail_now(cb, x->ud, "the daemon is shutting down");
    /* Its handles close now so the loop can end; the process ends on its own. */
    if (!uv_is_closing((uv_handle_t *)&x->out))
      uv_close((uv_handle_t *)&x->out, on_closed);
    if (!uv_is_closing((uv_handle_t *)&x->err))
      uv_close((uv_handle_t *)&x->err, on_closed);
    if (x->watch) { /* last: this may free X when both pipes had already closed */
      launch_watch_cancel(x->watch);
      x->watch = NULL;
      finish_one(x);
    }
  }
}

/* Start ARGV with its stdout and stderr on pipes whose read ends come back in PO[0] and PE[0].
 * 0, or -1 with WHY (nothing left open). */
static int spawn_piped(struct launcher *l, char *const argv[], bool unprivileged, int po[2], int pe[2],
                       struct launch_child *child, char *why, size_t whylen) {
  po[0] = po[1] = pe[0] = pe[1] = -1;
  if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
    snprintf(why, whylen, "cannot run %s: pipe: %s", argv[0], strerror(errno));
    if (po[0] >= 0)
      close(po[0]), close(po[1]);
    return -1;
  }
  const char *base = strrchr(argv[0], '/');
  struct launch_spec spec = {.name = base ? base + 1 : argv[0],
                             .argv = argv,
                             .fds = {-1, po[1], pe[1]},
                             .n_fds = 3,
                             .flags = unprivileged ? LAUNCH_UNPRIVILEGED : 0};
  int rc = launch_spawn(l, &spec, child, why, whylen);
  close(po[1]);
  close(pe[1]);
  if (rc < 0) {
    close(po[0]);
    close(pe[0]);
    return -1;
  }
  return 0;
}

static void run(struct launcher *l, char *const argv[], bool unprivileged, proc_cb cb, void *ud) {
  if (l->stopping) {
    fail_now(cb, ud, "the daemon is shutting down");
    return;
  }
  int po[2], pe[2];
  char why[PROC_MAX_ERR + 1];
  struct launch_child child;
  if (spawn_piped(l, argv, unprivileged, po, pe, &child, why, sizeof(why)) < 0) {
    fail_now(cb, ud, why);
    return;
  }
  struct proc_run *x = xcalloc(1, sizeof(*x));
  x->l = l;
  x->cb = cb;
  x->ud = ud;
  x->pidfd = child.pidfd;
  x->res.out = xstrdup("");
  x->res.err = xcalloc(1, PROC_MAX_ERR + 1);
  x->out.data = x->err.data = x;
  uv_pipe_init(l->loop, &x->out, 0);
  uv_pipe_init(l->loop, &x->err, 0);
  uv_pipe_open(&x->out, po[0]);
  uv_pipe_open(&x->err, pe[0]);
  x->pending = 3;
  x->next = l->runs;
  if (l->runs)
    l->runs->prev = x;
  l->runs = x;
  uv_read_start((uv_stream_t *)&x->out, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&x->err, on_alloc, on_read);
  x->watch = launch_watch(l, &child, on_exit_seen, x);
}

void proc_run(struct launcher *l, char *const argv[], proc_cb cb, void *ud) {
  run(l, argv, false, cb, ud);
}

void proc_run_unprivileged(struct launcher *l, char *const argv[], proc_cb cb, void *ud) {
  run(l, argv, true, cb, ud);
}

/* ---- blocking, for the start-up ---- */

static void set_err(struct proc_result *res, const char *msg) {
  free(res->err);
  res->err = xstrdup(msg);
}

int proc_run_wait(struct launcher *l, char *const argv[], struct proc_result *res) {
  memset(res, 0, sizeof(*res));
  res->exit_status = -1;
  res->out = xstrdup("");
  res->err = xstrdup("");
  char why[PROC_MAX_ERR + 1];
  int po[2], pe[2];
  struct launch_child child;
  if (spawn_piped(l, argv, false, po, pe, &child, why, sizeof(why)) < 0) {
    set_err(res, why);
    return -1;
  }
  /* both pipes to their end (the program closes them when it exits), output kept as proc_run does */
  struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
  size_t err_len = 0;
  bool overflow = false;
  char buf[65536];
  res->err = xrealloc(res->err, PROC_MAX_ERR + 1);
  res->err[0] = 0;
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !fds[i].revents)
        continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        continue;
      }
      if (i == 0 && res->out_len + (size_t)n <= PROC_MAX_OUT) {
        res->out = xrealloc(res->out, res->out_len + (size_t)n + 1);
        memcpy(res->out + res->out_len, buf, (size_t)n);
        res->out_len += (size_t)n;
        res->out[res->out_len] = 0;
      } else if (i == 0) {
        overflow = true;
      } else {
        size_t room = PROC_MAX_ERR - err_len, k = (size_t)n < room ? (size_t)n : room;
        memcpy(res->err + err_len, buf, k);
        err_len += k;
        res->err[err_len] = 0;
      }
    }
  }
  for (int i = 0; i < 2; i++)
    if (fds[i].fd >= 0)
      close(fds[i].fd);
  int status = -1;
  if (child.own) {
    while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR)
      ;
  } else if (child.pidfd >= 0) { /* gone, but how it ended is not ours to know */
    struct pollfd pf = {.fd = child.pidfd, .events = POLLIN};
    while (poll(&pf, 1, -1) < 0 && errno == EINTR)
      ;
  }
  if (child.pidfd >= 0)
    close(child.pidfd);
  if (!child.own)
    status = launch_status(child.status_fd); /* its shim wrote the code, or it ended otherwise */
  if (!child.own && status < 0) {
    snprintf(why, sizeof(why), "%s ended without returning an exit code (exit() or a signal)", argv[0]);
    set_err(res, why);
    return -1;
  }
  if (overflow) {
    snprintf(why, sizeof(why), "too much output from %s", argv[0]);
    set_err(res, why);
    return -1;
  }
  if (status >= 0 && WIFEXITED(status))
    res->exit_status = WEXITSTATUS(status);
  else if (status >= 0 && WIFSIGNALED(status))
    res->term_signal = WTERMSIG(status);
  return res->exit_status == 0 ? 0 : -1;
}

void proc_result_free(struct proc_result *res) {
  free(res->out);
  free(res->err);
  res->out = res->err = NULL;
}
