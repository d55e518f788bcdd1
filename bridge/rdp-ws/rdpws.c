/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rdpws: see rdpws.h. Core loop thread only. */
#include "rdpws.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guac.h"
#include "launch.h"
#include "priv.h"
#include "relay.h"
#include "stream.h"
#include "util.h"
#include "vm_config.h"

#define READ_CHUNK 65536
#define MAX_MESSAGE (256u << 10) /* worker output per WebSocket message (whole instructions) */
#define MAX_PENDING (64u << 10)  /* browser input held back until the handshake is done */
#define RDPWS_LOG_MAX (1 << 20)  /* rdp.log is moved to rdp.log.1 past this size */
#define EXIT_GRACE_MS 500        /* after EOF, wait this long for the exit status to name the reason */

enum phase { PH_ARGS, PH_RELAY };

struct up_write {
  uv_write_t req;
  struct rdpws *s;
  size_t len;
  char data[];
};

struct rdpws {
  struct relay r; /* the browser's side: queue, watermarks, close (relay.h) */
  struct rdpws_hub *hub;
  uv_pipe_t sock;
  pid_t pid;                  /* the worker, started through the launcher (launch.h) */
  int pidfd;                  /* -1 once it exited (or when the launcher gave none) */
  struct launch_watch *watch; /* its exit; NULL once seen */
  uv_timer_t timer;           /* exit grace, then the SIGTERM/SIGKILL teardown */
  int refs;                   /* wsi + sock + the worker's exit + timer */
  enum phase phase;
  bool reading, sock_closed, sock_eof, exited, killing, term_sent;
  int64_t exit_status;
  int term_signal;
  char vm_id[65];
  struct vm_rdp *target;
  int width, height, dpi;
  bool webp;                 /* the browser decodes image/webp */
  char drive_path[PATH_MAX]; /* the shared folder redirected as a drive, "" = none */
  struct guac_buf down;      /* bytes from the worker not yet cut into messages */
  struct guac_buf pending;   /* browser input before the handshake finished */
  struct guac_instr *ins;    /* handshake only */
  struct rdpws *prev, *next;
};

/* One daemon's RDP sessions. */
struct rdpws_hub {
  struct rdpws *all;
  unsigned n_all;
  char worker[PATH_MAX];
};

struct rdpws_hub *rdpws_hub_new(const char *worker) {
  struct rdpws_hub *h = xcalloc(1, sizeof(struct rdpws_hub));
  snprintf(h->worker, sizeof(h->worker), "%s", worker ? worker : "");
  return h;
}

void rdpws_hub_free(struct rdpws_hub *h) {
  free(h);
}

static void unref(struct rdpws *s) {
  if (--s->refs > 0)
    return;
  relay_free(&s->r);
  if (s->prev)
    s->prev->next = s->next;
  else
    s->hub->all = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->hub->n_all--;
  guac_buf_free(&s->down);
  guac_buf_free(&s->pending);
  free(s->ins);
  if (s->target)
    explicit_bzero(s->target, sizeof(*s->target));
  free(s->target);
  free(s);
}

static void on_handle_closed(uv_handle_t *h) {
  unref(h->data);
}

static void on_timer(uv_timer_t *t);

/* The worker's socket is closed; the worker sees EOF and exits. Then SIGTERM and SIGKILL if not. */
static void close_sock(struct rdpws *s) {
  if (s->sock_closed)
    return;
  s->sock_closed = true;
  s->reading = false;
  uv_close((uv_handle_t *)&s->sock, on_handle_closed);
  if (!s->exited) {
    s->killing = true;
    uv_timer_start(&s->timer, on_timer, RDPWS_TERM_MS, 0);
  } else if (!uv_is_closing((uv_handle_t *)&s->timer)) {
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
  }
}

/* relay.h's closing hook: nothing more is read from the worker; without a WebSocket, its socket
 * goes now. */
static void relay_closing(void *owner) {
  struct rdpws *s = owner;
  if (s->reading) {
    uv_read_stop((uv_stream_t *)&s->sock);
    s->reading = false;
  }
  if (!s->r.wsi)
    close_sock(s);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void relay_resume(void *owner) {
  struct rdpws *s = owner;
  s->reading = true;
  uv_read_start((uv_stream_t *)&s->sock, on_alloc, on_read);
}

static const struct relay_ops relay_ops = {relay_resume, NULL, relay_closing};

/* Ask for the WebSocket to be closed with CODE and REASON once queued data is out. */
static void begin_close(struct rdpws *s, int code, const char *reason) {
  relay_begin_close(&s->r, code, reason);
}

/* The session is over from the worker's side: name the reason from its exit. */
static void close_for_exit(struct rdpws *s) {
  char why[120];
  if (s->exited && s->term_signal == 0 && s->exit_status == 0) {
    begin_close(s, LWS_CLOSE_STATUS_NORMAL, "the RDP session ended");
    return;
  }
  if (!s->exited)
    snprintf(why, sizeof(why), "the RDP worker closed its socket");
  else if (s->term_signal)
    snprintf(why, sizeof(why), "the RDP worker was killed by signal %d (%s)", s->term_signal,
             strsignal(s->term_signal));
  else
    snprintf(why, sizeof(why), "the RDP session failed (worker exit status %lld)", (long long)s->exit_status);
  begin_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, why);
}

static void on_timer(uv_timer_t *t) {
  struct rdpws *s = t->data;
  if (!s->killing) { /* exit grace after EOF */
    close_for_exit(s);
    return;
  }
  if (s->exited)
    return;
  if (!s->term_sent) {
    s->term_sent = true;
    log_warn("rdp %s: worker %d still runs %d ms after its socket closed: SIGTERM", s->vm_id, s->pid,
             RDPWS_TERM_MS);
    kill(s->pid, SIGTERM); /* not yet collected: the pid is still the worker's */
    uv_timer_start(&s->timer, on_timer, RDPWS_KILL_MS - RDPWS_TERM_MS, 0);
  } else {
    log_warn("rdp %s: worker %d ignored SIGTERM: SIGKILL", s->vm_id, s->pid);
    kill(s->pid, SIGKILL);
  }
}

static void on_worker_exit(pid_t pid, int wstatus, void *ud) {
  struct rdpws *s = ud;
  s->watch = NULL;
  if (s->pidfd >= 0)
    close(s->pidfd), s->pidfd = -1;
  s->exited = true;
  s->exit_status = wstatus >= 0 && WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : wstatus < 0 ? -1 : 0;
  s->term_signal = wstatus >= 0 && WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
  log_info("rdp %s: worker %d exited (status %lld, signal %d)", s->vm_id, pid, (long long)s->exit_status,
           s->term_signal);
  if (s->killing || s->sock_closed) {
    uv_timer_stop(&s->timer);
    if (!uv_is_closing((uv_handle_t *)&s->timer))
      uv_close((uv_handle_t *)&s->timer, on_handle_closed);
  } else if (s->sock_eof) {
    uv_timer_stop(&s->timer);
    close_for_exit(s);
  }
  unref(s); /* the worker's share: last, it may free S */
}

/* ---- worker -> browser ---- */

static void queue_down(struct rdpws *s, const char *data, size_t len) {
  struct relay_chunk *c = relay_chunk_new(len);
  c->len = len;
  memcpy(c->data + LWS_PRE, data, len);
  relay_push_down(&s->r, c); /* on_read pauses reading once the whole read is cut */
}

static void write_up(struct rdpws *s, const char *data, size_t len);

/* The value of connect for the worker's argument NAME. */
static const char *arg_value(struct rdpws *s, const char *name, char *tmp, size_t tmplen) {
  const struct vm_rdp *t = s->target;
  if (strncmp(name, "VERSION_", 8) == 0)
    return "VERSION_1_5_0";
  if (strcmp(name, "hostname") == 0)
    return t->host;
  if (strcmp(name, "port") == 0) {
    snprintf(tmp, tmplen, "%u", t->port);
    return tmp;
  }
  if (strcmp(name, "username") == 0)
    return t->username;
  if (strcmp(name, "password") == 0)
    return t->password;
  if (strcmp(name, "domain") == 0)
    return t->domain;
  if (strcmp(name, "security") == 0)
    return t->security;
  if (strcmp(name, "ignore-cert") == 0)
    return t->ignore_cert ? "true" : "false";
  if (strcmp(name, "cert-fingerprints") == 0)
    return t->fingerprint;
  if (strcmp(name, "remote-app") == 0)
    return t->remote_app;
  if (strcmp(name, "remote-app-args") == 0)
    return t->remote_app_args;
  if (strcmp(name, "remote-app-mode") == 0)
    return !t->remote_app[0] ? "" : t->remote_app_shell ? "shell" : "rail";
  /* The graphics pipeline always; H.264 only for a machine across a network, where it saves
   * bandwidth. On this machine it only costs: the guest's (often emulated) CPU encodes video,
   * and the worker re-encodes the lossy pictures for the browser at several times the bytes
   * (bench/rdp.py: scrolling text 5.5x a full-screen PNG per frame, against 0.04 without). */
  if (strcmp(name, "graphics") == 0)
    return t->graphics[0] ? t->graphics : t->local ? "gfx" : "gfx-h264"; /* rdp.graphics overrides */
  if (strcmp(name, "drive-path") == 0)
    return s->drive_path;
  if (strcmp(name, "drive-name") == 0)
    return s->drive_path[0] ? RDPWS_DRIVE_NAME : "";
  return "";
}

/* Handshake: the worker's `args` names what `connect` must give. */
static int on_args(struct rdpws *s, struct guac_instr *in) {
  struct guac_buf b = {0};
  char w[16], h[16], d[16];
  snprintf(w, sizeof(w), "%d", s->width);
  snprintf(h, sizeof(h), "%d", s->height);
  snprintf(d, sizeof(d), "%d", s->dpi);
  guac_putl(&b, "size", w, h, d, NULL);
  guac_putl(&b, "audio", "audio/L16", NULL); /* guacamole-common-js plays it (Web Audio) */
  guac_putl(&b, "video", NULL);
  guac_putl(&b, "image", "image/png", "image/jpeg", s->webp ? "image/webp" : NULL, NULL);
  const char *vals[GUAC_MAX_ELEMENTS];
  char tmp[GUAC_MAX_ELEMENTS][16];
  for (size_t i = 0; i < in->argc; i++)
    vals[i] = arg_value(s, in->argv[i], tmp[i], sizeof(tmp[i]));
  guac_put(&b, "connect", in->argc, vals);
  write_up(s, b.data, b.len);
  explicit_bzero(b.data, b.len); /* it held the password */
  guac_buf_free(&b);
  if (s->target)
    explicit_bzero(s->target->password, sizeof(s->target->password));
  s->phase = PH_RELAY;
  free(s->ins);
  s->ins = NULL;
  if (s->pending.len)
    write_up(s, s->pending.data, s->pending.len);
  guac_buf_free(&s->pending);
  return 0;
}

/* Cut what the worker sent into messages of whole, well-formed instructions. */
static void process_down(struct rdpws *s) {
  size_t off = 0;
  char err[160];
  if (s->phase == PH_ARGS) {
    size_t used;
    enum guac_status st = guac_parse(s->down.data, s->down.len, s->ins, &used, err, sizeof(err));
    if (st == GUAC_NEED_MORE)
      return;
    if (st == GUAC_ERROR || strcmp(s->ins->opcode, "args") != 0) {
      log_warn("rdp %s: bad handshake from the worker: %s", s->vm_id,
               st == GUAC_ERROR ? err : "expected args");
      begin_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "the RDP worker failed its handshake");
      return;
    }
    off = used;
    on_args(s, s->ins);
  }
  /* Whole instructions go out in messages of at most MAX_MESSAGE bytes (one instruction may be
   * longer, up to GUAC_MAX_INSTRUCTION); the valid ones before a malformed one still go out. */
  size_t start = off;
  bool bad = false;
  while (off < s->down.len) {
    size_t used;
    enum guac_status st =
        guac_scan(s->down.data + off, s->down.len - off, GUAC_MAX_INSTRUCTION, &used, err, sizeof(err));
    if (st == GUAC_NEED_MORE)
      break;
    if (st == GUAC_ERROR) {
      bad = true;
      break;
    }
    if (off + used - start > MAX_MESSAGE && off > start) {
      queue_down(s, s->down.data + start, off - start);
      start = off;
    }
    off += used;
  }
  if (off > start)
    queue_down(s, s->down.data + start, off - start);
  if (bad) {
    log_warn("rdp %s: malformed output from the worker: %s", s->vm_id, err);
    if (s->reading) {
      uv_read_stop((uv_stream_t *)&s->sock);
      s->reading = false;
    }
    begin_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "the RDP worker sent a malformed instruction");
    s->down.len = 0;
    return;
  }
  guac_buf_consume(&s->down, off);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  struct rdpws *s = h->data;
  guac_buf_reserve(&s->down, READ_CHUNK);
  *b = uv_buf_init(s->down.data + s->down.len, READ_CHUNK);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  struct rdpws *s = st->data;
  if (n <= 0) {
    if (n < 0) {
      uv_read_stop(st);
      s->reading = false;
      s->sock_eof = true;
      if (s->exited)
        close_for_exit(s);
      else
        uv_timer_start(&s->timer, on_timer, EXIT_GRACE_MS, 0);
    }
    return;
  }
  s->down.len += (size_t)n;
  process_down(s);
  if (s->reading && s->r.down_queued >= WS_QUEUE_HIGH) {
    uv_read_stop(st);
    s->reading = false;
    s->r.read_paused = true;
  }
}

/* ---- browser -> worker ---- */

static void on_up_written(uv_write_t *req, int status) {
  struct up_write *w = (struct up_write *)req;
  struct rdpws *s = w->s;
  size_t len = w->len;
  explicit_bzero(w->data, w->len);
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    begin_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "the RDP worker closed its socket");
  relay_up_written(&s->r, len);
}

static void write_up(struct rdpws *s, const char *data, size_t len) {
  if (s->sock_closed || len == 0)
    return;
  struct up_write *w = xmalloc(sizeof(*w) + len);
  w->s = s;
  w->len = len;
  memcpy(w->data, data, len);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&s->sock, &b, 1, on_up_written) < 0) {
    free(w);
    begin_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "the RDP worker closed its socket");
    return;
  }
  relay_up_queued(&s->r, len);
}

int rdpws_on_receive(struct rdpws *s, const void *in, size_t len, int binary, int first, int final) {
  if (!relay_accept(&s->r, len, binary, first, "binary frames are not accepted: send Guacamole text"))
    return 0;
  if (len == 0)
    return 0;
  if (s->phase != PH_RELAY) {
    if (s->pending.len + len > MAX_PENDING) {
      begin_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too much input before the RDP session started");
      return 0;
    }
    guac_buf_reserve(&s->pending, len);
    memcpy(s->pending.data + s->pending.len, in, len);
    s->pending.len += len;
    return 0;
  }
  write_up(s, in, len);
  return 0;
}

int rdpws_on_writeable(struct rdpws *s) {
  return relay_on_writeable(&s->r, !s->sock_closed);
}

void rdpws_on_ws_closed(struct rdpws *s) {
  s->r.wsi = NULL;
  if (s->reading) {
    uv_read_stop((uv_stream_t *)&s->sock);
    s->reading = false;
  }
  uv_timer_stop(&s->timer);
  close_sock(s);
  unref(s);
}

/* ---- start ---- */

int rdpws_drive_dir(const char *shared_root, const char *vm_name, const char *id, char *out, size_t outlen) {
  char name[256];
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)vm_name; *p && n < sizeof(name) - 1; p++)
    name[n++] = (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7f) ? '_' : (char)*p;
  name[n] = 0;
  if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    snprintf(name, sizeof(name), "%s", id);
  int r = snprintf(out, outlen, "%s/%s", shared_root, name);
  return r < 0 || (size_t)r >= outlen ? -1 : 0;
}

/* The VM's shared folder, created if missing: "" unless it is a real directory (not a symlink —
 * the daemon, not whoever can write into DATA/shared, decides what the guest sees). */
static void prepare_drive(struct rdpws *s, const char *shared_root, const struct vm_rdp *t) {
  char dir[PATH_MAX];
  s->drive_path[0] = 0;
  if (!shared_root || rdpws_drive_dir(shared_root, t->vm_name, s->vm_id, dir, sizeof(dir)) < 0)
    return;
  if ((mkdir(shared_root, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
    log_warn("rdp %s: cannot create the shared folder %s: %s", s->vm_id, dir, strerror(errno));
    return;
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    log_warn("rdp %s: the shared folder %s is not a directory: %s", s->vm_id, dir, strerror(errno));
    return;
  }
  close(fd);
  /* the worker runs as the VMs' unprivileged user when the daemon is root (priv.h) */
  if (priv_traversable(shared_root) < 0 || priv_own(dir, 0700) < 0) {
    log_warn("rdp %s: cannot give the shared folder %s to user %s: %s", s->vm_id, dir, priv_user(),
             strerror(errno));
    return;
  }
  if (guac_utf8_chars(dir, strlen(dir)) == (size_t)-1) /* it travels as a Guacamole value */
    return;
  snprintf(s->drive_path, sizeof(s->drive_path), "%s", dir);
}

/* qemu-hmos-rdp next to the daemon's own executable, or $QHM_RDP_WORKER. */
int rdpws_worker_path(const char *dir, char *out, size_t outlen) {
  const char *env = getenv("QHM_RDP_WORKER");
  if (env && *env) {
    snprintf(out, outlen, "%s", env);
    return 0;
  }
  char self[PATH_MAX];
  if (!dir && self_dir(self, sizeof(self)) < 0)
    return -1;
  return fmt_path(out, outlen, "%s/qemu-hmos-rdp", dir ? dir : self);
}

struct rdpws *rdpws_open(struct rdpws_hub *h, struct launcher *launcher, struct lws *wsi, const char *vm_id,
                         const struct vm_rdp *target, int width, int height, int dpi, bool webp,
                         const char *log_path, const char *config_dir, const char *shared_root, char *err,
                         size_t errlen) {
  if (h->n_all >= RDPWS_MAX_SESSIONS) {
    snprintf(err, errlen, "too many RDP sessions (%d)", RDPWS_MAX_SESSIONS);
    return NULL;
  }
  if (!h->worker[0] || !launch_runnable(launcher, h->worker)) {
    snprintf(err, errlen, "the RDP worker (%s) cannot be started by the %s launcher: it is not installed",
             h->worker[0] ? h->worker : "qemu-hmos-rdp", launcher_backend_name(launcher));
    return NULL;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    snprintf(err, errlen, "socketpair: %s", strerror(errno));
    return NULL;
  }
  struct stat st;
  if (log_path && stat(log_path, &st) == 0 && st.st_size > RDPWS_LOG_MAX) { /* keep one old log */
    char old[PATH_MAX + 8];
    snprintf(old, sizeof(old), "%s.1", log_path);
    rename(log_path, old);
  }
  int logfd = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
  struct rdpws *s = xcalloc(1, sizeof(*s));
  s->hub = h;
  relay_init(&s->r, NULL, &relay_ops, s, false); /* the WebSocket once the worker runs */
  s->target = xmalloc(sizeof(*s->target));
  *s->target = *target;
  s->width = width;
  s->height = height;
  s->dpi = dpi;
  s->webp = webp;
  s->ins = xmalloc(sizeof(*s->ins));
  snprintf(s->vm_id, sizeof(s->vm_id), "%s", vm_id);
  prepare_drive(s, shared_root, target);
  uv_loop_t *loop = launcher_loop(launcher);
  uv_pipe_init(loop, &s->sock, 0);
  uv_timer_init(loop, &s->timer);
  s->sock.data = s->timer.data = s;
  s->pidfd = -1;

  if (config_dir && ((mkdir(config_dir, 0700) < 0 && errno != EEXIST) || priv_own(config_dir, 0700) < 0))
    config_dir = NULL; /* FreeRDP then uses ~/.config/freerdp: our callback still decides unless a
                          known_hosts entry there matches */
  char *args[] = {h->worker, "--fd", "3", config_dir ? "--config-dir" : NULL, (char *)config_dir, NULL};
  int out = logfd >= 0 ? logfd : 2;
  /* As the VMs' unprivileged user when the daemon is root. */
  struct launch_spec spec = {.name = "rdp-worker",
                             .argv = args,
                             .fds = {-1, out, out, sv[1]},
                             .n_fds = 4,
                             .flags = LAUNCH_UNPRIVILEGED};
  struct launch_child child;
  char why[256];
  int rc = launch_spawn(launcher, &spec, &child, why, sizeof(why));
  close(sv[1]);
  if (logfd >= 0)
    close(logfd);
  if (rc < 0) {
    snprintf(err, errlen, "cannot start the RDP worker: %s", why);
    close(sv[0]);
    s->refs = 2; /* sock, timer: both closed below; no wsi, no worker */
    s->sock_closed = true;
    s->exited = true;
    h->n_all++; /* unref's bookkeeping */
    s->next = h->all;
    if (h->all)
      h->all->prev = s;
    h->all = s;
    uv_close((uv_handle_t *)&s->sock, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    return NULL;
  }
  s->pid = child.pid;
  s->pidfd = child.pidfd;
  s->watch = launch_watch(launcher, &child, on_worker_exit, s);
  uv_pipe_open(&s->sock, sv[0]);
  s->r.wsi = wsi;
  s->refs = 4;
  s->next = h->all;
  if (h->all)
    h->all->prev = s;
  h->all = s;
  h->n_all++;
  log_info("rdp %s: worker %d for %s:%u (%dx%d)", vm_id, s->pid, target->host, target->port, width, height);
  static const char select_rdp[] = "6.select,3.rdp;";
  write_up(s, select_rdp, sizeof(select_rdp) - 1);
  s->reading = true;
  uv_read_start((uv_stream_t *)&s->sock, on_alloc, on_read);
  return s;
}

void rdpws_close_vm(struct rdpws_hub *h, const char *vm_id, const char *reason) {
  for (struct rdpws *s = h->all; s; s = s->next)
    if (strcmp(s->vm_id, vm_id) == 0)
      begin_close(s, LWS_CLOSE_STATUS_GOINGAWAY, reason);
}

unsigned rdpws_count(const struct rdpws_hub *h) {
  return h->n_all;
}
