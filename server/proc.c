/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proc: see proc.h. */
#include "proc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priv.h"
#include "util.h"

struct run {
  struct run *prev, *next; /* the runs whose callback is still due */
  uv_process_t proc;
  uv_pipe_t out, err;
  int open_handles;
  bool overflow;
  struct proc_result res;
  size_t err_len;
  proc_cb cb;
  void *ud;
};

static struct run *active;
static bool shutting_down;

static void unlink_run(struct run *x) {
  if (x->prev)
    x->prev->next = x->next;
  else if (active == x)
    active = x->next;
  if (x->next)
    x->next->prev = x->prev;
  x->prev = x->next = NULL;
}

static void on_closed(uv_handle_t *h) {
  struct run *x = h->data;
  if (--x->open_handles > 0)
    return;
  if (x->overflow) {
    x->res.exit_status = -1;
    free(x->res.err);
    x->res.err = xstrdup("too much output");
  }
  unlink_run(x);
  if (x->cb) /* NULL once proc_shutdown() answered for it */
    x->cb(&x->res, x->ud);
  free(x->res.out);
  free(x->res.err);
  free(x);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  static char scratch[65536]; /* loop thread only; the data is copied out in on_read */
  *buf = uv_buf_init(scratch, sizeof(scratch));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  struct run *x = s->data;
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

static void on_proc_exit(uv_process_t *p, int64_t status, int sig) {
  struct run *x = p->data;
  x->res.exit_status = sig ? -1 : (int)status;
  x->res.term_signal = sig;
  uv_close((uv_handle_t *)p, on_closed);
}

static void fail_now(proc_cb cb, void *ud) {
  char why[] = "the daemon is shutting down";
  char empty[] = "";
  struct proc_result r = {.exit_status = -1, .out = empty, .err = why};
  cb(&r, ud);
}

void proc_shutdown(void) {
  shutting_down = true;
  for (struct run *x = active, *next; x; x = next) {
    next = x->next;
    proc_cb cb = x->cb;
    x->cb = NULL; /* the process still ends, and is reaped, on its own */
    unlink_run(x);
    if (cb)
      fail_now(cb, x->ud);
  }
}

static void run(uv_loop_t *loop, char *const argv[], bool unprivileged, proc_cb cb, void *ud) {
  if (shutting_down) {
    fail_now(cb, ud);
    return;
  }
  struct run *x = xcalloc(1, sizeof(*x));
  x->cb = cb;
  x->ud = ud;
  x->res.out = xstrdup("");
  x->res.err = xcalloc(1, PROC_MAX_ERR + 1);
  x->proc.data = x->out.data = x->err.data = x;
  uv_pipe_init(loop, &x->out, 0);
  uv_pipe_init(loop, &x->err, 0);
  x->open_handles = 3;
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_IGNORE},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->err}};
  uv_process_options_t o = {
      .file = argv[0], .args = (char **)argv, .exit_cb = on_proc_exit, .stdio_count = 3, .stdio = stdio};
  if (unprivileged)
    priv_spawn_options(&o);
  x->next = active;
  if (active)
    active->prev = x;
  active = x;
  int rc = uv_spawn(loop, &x->proc, &o);
  if (rc < 0) {
    x->res.exit_status = -1;
    snprintf(x->res.err, PROC_MAX_ERR + 1, "cannot run %s: %s", argv[0], uv_strerror(rc));
    uv_close((uv_handle_t *)&x->proc, on_closed);
    uv_close((uv_handle_t *)&x->out, on_closed);
    uv_close((uv_handle_t *)&x->err, on_closed);
    return;
  }
  uv_read_start((uv_stream_t *)&x->out, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&x->err, on_alloc, on_read);
}

void proc_run(uv_loop_t *loop, char *const argv[], proc_cb cb, void *ud) {
  run(loop, argv, false, cb, ud);
}

void proc_run_unprivileged(uv_loop_t *loop, char *const argv[], proc_cb cb, void *ud) {
  run(loop, argv, true, cb, ud);
}
