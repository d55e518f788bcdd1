/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_serial: the VM's first serial port (x86: COM1, an isa-serial; aarch64: virt's PL011),
 * whose output the daemon keeps in a ring of the last VM_SERIAL_RING bytes, for
 * GET /vms/{id}/serial?tail=N and the serial console's viewers. Core loop thread only.
 *
 * QEMU serves the port on a listening socket the daemon made (run/serial.sock, handed over as
 * descriptor VM_ARGV_SERIAL_FD with wait=on): the daemon connects before QEMU runs, so the
 * connection waits in the backlog and QEMU accepts it before the guest's first instruction —
 * nothing the guest prints is lost. A restarted daemon connects again by the path (QEMU listens
 * again once its client went away); what was printed meanwhile is not kept. The daemon reads
 * whatever comes, at once: a guest cannot make it hold more than the ring, and never waits on it.
 */
#include "vm_serial.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "util.h"
#include "vm_priv.h"

/* The connection of one QEMU run: freed when closed; V is NULL once the VM let it go. */
struct serial_link {
  uv_pipe_t pipe;
  uv_connect_t conn;
  struct vm *v;
};

struct vm_serial {
  char ring[VM_SERIAL_RING];
  size_t start, len; /* the oldest byte's index, how many are held */
  struct serial_link *link;
};

struct vm_serial *vm_serial_new(void) {
  return xcalloc(1, sizeof(struct vm_serial));
}

static void on_link_closed(uv_handle_t *h) {
  free(h->data);
}

static void link_close(struct vm_serial *s) {
  struct serial_link *l = s->link;
  if (!l)
    return;
  s->link = NULL;
  l->v = NULL;
  if (!uv_is_closing((uv_handle_t *)&l->pipe))
    uv_close((uv_handle_t *)&l->pipe, on_link_closed);
}

void vm_serial_free(struct vm_serial *s) {
  if (!s)
    return;
  link_close(s);
  free(s);
}

static void ring_put(struct vm_serial *s, const char *p, size_t n) {
  if (n >= VM_SERIAL_RING) { /* only the end of it stays */
    p += n - VM_SERIAL_RING;
    n = VM_SERIAL_RING;
  }
  for (size_t i = 0; i < n; i++) {
    s->ring[(s->start + s->len) % VM_SERIAL_RING] = p[i];
    if (s->len < VM_SERIAL_RING)
      s->len++;
    else
      s->start = (s->start + 1) % VM_SERIAL_RING;
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  static char chunk[16384]; /* one loop thread; consumed before the next read */
  *buf = uv_buf_init(chunk, sizeof(chunk));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  struct serial_link *l = st->data;
  if (!l->v)
    return;
  if (n > 0) {
    ring_put(l->v->serial, buf->base, (size_t)n);
    const struct vm_console_hooks *h = &l->v->m->hooks;
    if (h->serial_output)
      h->serial_output(h->ud, l->v->cfg.id, buf->base, (size_t)n);
  } else if (n < 0) { /* QEMU went away or dropped us: a reattach connects again */
    link_close(l->v->serial);
  }
}

static struct serial_link *link_new(struct vm *v) {
  struct serial_link *l = xcalloc(1, sizeof(*l));
  l->v = v;
  uv_pipe_init(&v->m->c->loop, &l->pipe, 0);
  l->pipe.data = l;
  l->conn.data = l;
  return l;
}

void vm_serial_begin(struct vm *v, int fd) {
  struct vm_serial *s = v->serial;
  link_close(s);
  s->start = s->len = 0; /* a new run: the last one's output goes */
  struct serial_link *l = link_new(v);
  if (uv_pipe_open(&l->pipe, fd) < 0 || uv_read_start((uv_stream_t *)&l->pipe, on_alloc, on_read) < 0) {
    log_warn("vm %s: the serial port cannot be read", v->cfg.id);
    uv_close((uv_handle_t *)&l->pipe, on_link_closed); /* closes FD */
    return;
  }
  s->link = l;
}

static void on_connected(uv_connect_t *req, int status) {
  struct serial_link *l = req->data;
  if (!l->v)
    return; /* let go of meanwhile (closing) */
  if (status < 0 || uv_read_start((uv_stream_t *)&l->pipe, on_alloc, on_read) < 0) {
    /* A QEMU started before the daemon had serial ports, or one that went away. */
    log_info("vm %s: no serial port output (%s)", l->v->cfg.id, status < 0 ? uv_strerror(status) : "read");
    link_close(l->v->serial);
  }
}

void vm_serial_reattach(struct vm *v) {
  struct vm_serial *s = v->serial;
  link_close(s);
  s->start = s->len = 0;
  char path[4200];
  vm_path(v, "run/serial.sock", path, sizeof(path));
  s->link = link_new(v);
  uv_pipe_connect(&s->link->conn, &s->link->pipe, path, on_connected);
}

void vm_serial_end(struct vm *v) {
  struct vm_serial *s = v->serial;
  if (!s || !s->link)
    return;
  /* What is still in the socket (QEMU's last words before it exited) goes to the ring first. */
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&s->link->pipe, &fd) == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
      ring_put(s, buf, (size_t)n);
  }
  link_close(s);
}

bool vm_serial_connected(const struct vm *v) {
  return v->serial && v->serial->link;
}

char *vm_serial_tail(const struct vm *v, unsigned lines, size_t *len) {
  const struct vm_serial *s = v->serial;
  size_t n = 0; /* bytes from the end */
  unsigned seen = 0;
  /* A last line without its newline counts as one. */
  while (n < s->len) {
    char ch = s->ring[(s->start + s->len - 1 - n) % VM_SERIAL_RING];
    if (ch == '\n' && n > 0 && ++seen >= lines)
      break;
    n++;
  }
  char *out = xmalloc(n + 1);
  for (size_t i = 0; i < n; i++)
    out[i] = s->ring[(s->start + s->len - n + i) % VM_SERIAL_RING];
  out[n] = 0;
  *len = n;
  return out;
}

int vm_serial_write(struct vm *v, const char *data, size_t len) {
  struct vm_serial *s = v->serial;
  if (!s || !s->link || !uv_is_writable((uv_stream_t *)&s->link->pipe))
    return -1;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  /* Keystrokes are small: written now when the socket takes them, else dropped (as a UART
   * without flow control drops what overflows it). */
  return uv_try_write((uv_stream_t *)&s->link->pipe, &b, 1) == (int)len ? 0 : -1;
}

char *vm_manager_serial_kept(struct vm_manager *m, const char *id, size_t *len) {
  struct vm *v = vm_find(m, id);
  return v ? vm_serial_tail(v, UINT32_MAX, len) : NULL;
}

int vm_manager_serial_write(struct vm_manager *m, const char *id, const char *data, size_t len) {
  struct vm *v = vm_find(m, id);
  return v ? vm_serial_write(v, data, len) : -1;
}

void vm_req_serial(struct vm_manager *m, struct core_req *r, const char *id, unsigned tail) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  size_t len;
  char *txt = vm_serial_tail(v, tail, &len);
  core_req_reply_bytes(r, 200, "text/plain; charset=utf-8", txt, len);
}
