/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io.c: the worker's end of the daemon's socket (fd 3 unless --fd). Writes block
 * with a deadline (WRITE_DEADLINE_MS), so the daemon's own bounded buffers pace
 * this process; `error` instructions; and the queue through which FreeRDP's
 * channel threads hand the main loop what the browser must get (chan_put,
 * chan_collect). Main thread, but for chan_put (any thread) and wlog.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <winpr/synch.h>

#include "worker.h"

#define WRITE_DEADLINE_MS 30000
#define CHAN_OUT_MAX (4u << 20) /* bytes from channel threads waiting for the main loop */

uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void wlog(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "qemu-hmos-rdp[%d]: ", (int)getpid());
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Write everything queued, waiting for the daemon at most WRITE_DEADLINE_MS. */
int flush_out(struct worker *w) {
  uint64_t deadline = mono_ms() + WRITE_DEADLINE_MS;
  size_t off = 0;
  while (off < w->link.out.len) {
    ssize_t n = write(w->link.fd, w->link.out.data + off, w->link.out.len - off);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      uint64_t now = mono_ms();
      if (now >= deadline) {
        wlog("the daemon did not read for %d ms", WRITE_DEADLINE_MS);
        return -1;
      }
      struct pollfd p = {.fd = w->link.fd, .events = POLLOUT};
      poll(&p, 1, (int)(deadline - now));
      continue;
    }
    wlog("write to the daemon: %s", n < 0 ? strerror(errno) : "closed");
    return -1;
  }
  w->link.bytes_out += off;
  w->link.out.len = 0;
  w->link.last_out = mono_ms();
  return 0;
}

void send_error(struct worker *w, int status, const char *fmt, ...) {
  char msg[512], code[16];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* The message may quote a peer's bytes: keep it valid UTF-8 for the encoder, and within the
   * Basic Multilingual Plane, where guacamole-common-js 1.5's lengths (UTF-16 code units) agree
   * with the protocol's (code points). */
  if (guac_utf8_chars(msg, strlen(msg)) == (size_t)-1) {
    for (char *p = msg; *p; p++)
      if ((unsigned char)*p >= 0x80)
        *p = '?';
  } else {
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
      if (*p >= 0xf0 && p[1] && p[2] && p[3])
        p[0] = p[1] = p[2] = p[3] = '?';
  }
  wlog("error %d: %s", status, msg);
  snprintf(code, sizeof(code), "%d", status);
  guac_putl(&w->link.out, "error", msg, code, NULL);
  guac_putl(&w->link.out, "disconnect", NULL);
  flush_out(w);
  w->s.failed = true;
  w->s.quit = true;
}

/* Read what is available (blocking when BLOCK) into w->link.in. 0 = got bytes, -1 = EOF or error. */
int read_some(struct worker *w, bool block) {
  guac_buf_reserve(&w->link.in, 65536);
  for (;;) {
    ssize_t n = read(w->link.fd, w->link.in.data + w->link.in.len, w->link.in.cap - w->link.in.len);
    if (n > 0) {
      w->link.in.len += (size_t)n;
      return 0;
    }
    if (n == 0)
      return -1;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!block)
        return 1;
      struct pollfd p = {.fd = w->link.fd, .events = POLLIN};
      poll(&p, 1, -1);
      continue;
    }
    return -1;
  }
}

/* From a channel thread: append one instruction for the browser (dropped past CHAN_OUT_MAX). */
void chan_put(struct worker *w, const struct guac_buf *b) {
  pthread_mutex_lock(&w->lock);
  if (w->chan.out.len + b->len <= CHAN_OUT_MAX) {
    guac_buf_reserve(&w->chan.out, b->len);
    memcpy(w->chan.out.data + w->chan.out.len, b->data, b->len);
    w->chan.out.len += b->len;
  }
  pthread_mutex_unlock(&w->lock);
  SetEvent(w->chan.ev);
}

/* Main thread: move what the channel threads queued to `out`. */
void chan_collect(struct worker *w) {
  pthread_mutex_lock(&w->lock);
  ResetEvent(w->chan.ev);
  if (w->chan.out.len) {
    guac_buf_reserve(&w->link.out, w->chan.out.len);
    memcpy(w->link.out.data + w->link.out.len, w->chan.out.data, w->chan.out.len);
    w->link.out.len += w->chan.out.len;
    w->chan.out.len = 0;
  }
  w->snd.pending = 0;
  pthread_mutex_unlock(&w->lock);
}
