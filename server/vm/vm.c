/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm: see vm.h. Core loop thread only.
 *
 * A VM's state comes from QEMU, never from the last request: QMP events
 * (STOP, RESUME, SHUTDOWN, POWERDOWN, RESET), query-status after every
 * control command, and the process's exit seen through a pidfd. Requests that
 * wait for QEMU (start, kill) are parked on the VM and answered from those
 * callbacks.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "crashpt.h"
#include "events.h"
#include "paths.h"
#include "pident.h"
#include "priv.h"
#include "proc.h"
#include "qmp.h"
#include "rdpws.h"
#include "store.h"
#include "ticket.h"
#include "util.h"
#include "vm_argv.h"
#include "vm_config.h"
#include "vm_efivars.h"
#include "vm_priv.h"
#include "vm_sweep.h"
#include "vncws.h"
#include "ws.h"

#define HMOS_JIT_PRCTL 0x6a6974
#define KILL_GRACE_MS 3000
#define SHUTDOWN_TIMEOUT_MS 120000
#define CRASH_LOG_LINES 50
/* QMP's greeting: a QEMU that has not sent it this long after its start is killed (it loads the
 * machine first; with -loadvm also the memory of the snapshot). A reattached one is waited for. */
#define START_QMP_DEADLINE_MS 60000
#define LOADVM_QMP_DEADLINE_MS 600000
#define REATTACH_NOTE_MS 10000

const char *const vm_state_names[] = {"stopped",       "starting", "running", "paused",
                                      "shutting-down", "crashed",  "orphaned"};
#define state_names vm_state_names

/* ---- small helpers ---- */

#define pidfd_signal pident_pidfd_signal

static void free_on_close(uv_handle_t *h) {
  free(h);
}

void vm_close_handle(void *h) {
  if (h && !uv_is_closing(h))
    uv_close(h, free_on_close);
}
#define close_handle vm_close_handle

struct vm *vm_find(struct vm_manager *m, const char *id) {
  for (struct vm *v = m->head; v; v = v->next)
    if (strcmp(v->cfg.id, id) == 0)
      return v;
  return NULL;
}

struct vm *vm_find_name(struct vm_manager *m, const char *name, const struct vm *except) {
  for (struct vm *v = m->head; v; v = v->next)
    if (v != except && strcmp(v->cfg.name, name) == 0)
      return v;
  return NULL;
}

static bool vm_active(const struct vm *v) {
  return v->state != ST_STOPPED && v->state != ST_CRASHED;
}

void vm_path(const struct vm *v, const char *rel, char *out, size_t outlen) {
  struct vm_paths p;
  snprintf(p.dir, sizeof(p.dir), "%s/vms/%s", v->m->c->data_dir, v->cfg.id);
  vm_paths_file(&p, rel, out, outlen);
}

/* Anything vm_to_json() shows changed: drop the cached listing text. */
void vm_dirty(struct vm *v) {
  free(v->json_text);
  v->json_text = NULL;
}

void vm_set_state(struct vm *v, enum vm_state s, const char *reason) {
  vm_dirty(v);
  if (v->state != s || strcmp(v->reason, reason) != 0)
    log_info("vm %s (%s): %s -> %s (%s)", v->cfg.id, v->cfg.name, state_names[v->state], state_names[s],
             reason);
  bool changed = v->state != s;
  v->state = s;
  snprintf(v->reason, sizeof(v->reason), "%s", reason);
  if (changed)
    events_emit(json_pack("{s:s, s:s, s:s, s:s}", "type", "vm.state", "vm", v->cfg.id, "state",
                          state_names[s], "reason", v->reason));
}

void vm_forget_last_exit(struct vm *v) {
  vm_dirty(v);
  json_decref(v->last_exit);
  v->last_exit = NULL;
  v->last_exit_known = false;
}

static json_t *vm_to_json(struct vm *v) {
  json_t *o = vm_config_to_json(&v->cfg);
  vm_config_redact(o);
  json_object_set_new(o, "state", json_string(state_names[v->state]));
  json_object_set_new(o, "state_reason", json_string(v->reason));
  json_object_set_new(o, "accelerator", json_string(host_accel_name(&v->m->c->host, v->cfg.arch)));
  json_object_set_new(o, "pid", v->pid > 0 ? json_integer(v->pid) : json_null());
  json_object_set_new(o, "qemu_binary", v->pid > 0 && v->exe ? json_string(v->exe) : json_null());
  if (v->state == ST_ORPHANED)
    json_object_set_new(o, "orphans", vm_orphans_json(v));
  json_object_set_new(o, "forwards_active",
                      v->forwards_active ? json_incref(v->forwards_active) : json_array());
  if (!v->last_exit_known) { /* one query per exit, not one per listing */
    v->last_exit = store_exit_last(v->m->c->store, v->cfg.id);
    v->last_exit_known = true;
  }
  json_object_set_new(o, "last_exit", v->last_exit ? json_incref(v->last_exit) : json_null());
  json_object_set_new(o, "created_at", json_integer(v->created));
  return o;
}

bool vm_body_keys(struct core_req *r, json_t *body, const char *const *allowed) {
  const char *key;
  json_t *val;
  json_object_foreach(body, key, val) {
    const char *const *a = allowed;
    while (*a && strcmp(*a, key) != 0)
      a++;
    if (!*a) {
      core_req_reply_error(r, 400, "invalid_field", "%.100s: unknown field", key);
      return false;
    }
  }
  return true;
}

void reply_vm(struct core_req *r, int status, struct vm *v) {
  core_req_reply_json(r, status, vm_to_json(v));
}

void vm_park(struct waiter **list, struct core_req *r) {
  struct waiter *w = xcalloc(1, sizeof(*w));
  w->r = r;
  w->next = *list;
  *list = w;
}

void vm_answer_waiters(struct vm *v, struct waiter **list, int status, const char *code, const char *errmsg) {
  struct waiter *w = *list;
  *list = NULL;
  while (w) {
    struct waiter *next = w->next;
    if (errmsg)
      core_req_reply_error(w->r, status, code, "%s", errmsg);
    else
      reply_vm(w->r, 200, v);
    free(w);
    w = next;
  }
}

static char *log_tail_text(struct vm *v, size_t n) {
  char path[4200];
  size_t count = 0;
  vm_path(v, "logs/qemu.log", path, sizeof(path));
  char **lines = tail_lines(path, n, &count);
  size_t len = 0;
  for (size_t i = 0; i < count; i++)
    len += strlen(lines[i]) + 1;
  char *out = xcalloc(len + 1, 1);
  char *p = out;
  for (size_t i = 0; i < count; i++)
    p += sprintf(p, "%s\n", lines[i]);
  free_strv(lines);
  return out;
}

static json_t *log_tail_json(struct vm *v, size_t n) {
  char path[4200];
  size_t count = 0;
  vm_path(v, "logs/qemu.log", path, sizeof(path));
  char **lines = tail_lines(path, n, &count);
  json_t *a = json_array();
  for (size_t i = 0; i < count; i++) {
    json_t *s = json_string(lines[i]);
    json_array_append_new(a, s ? s : json_string("(line is not valid UTF-8)"));
  }
  free_strv(lines);
  return a;
}

/* ---- process exit ---- */

static void detach_process(struct vm *v) {
  if (v->qmp) {
    qmp_close(v->qmp);
    v->qmp = NULL;
  }
  v->qmp_ready = false;
  if (v->pidpoll) {
    uv_poll_stop(v->pidpoll);
    close_handle(v->pidpoll);
    v->pidpoll = NULL;
  }
  if (v->pidfd >= 0) {
    close(v->pidfd);
    v->pidfd = -1;
  }
  uv_timer_stop(v->kill_timer);
  uv_timer_stop(v->shutdown_timer);
  uv_timer_stop(v->ready_timer);
}

/* Forget the process (after its exit, or when it is not proven to be this VM's). */
static void forget_process(struct vm *v) {
  v->pid = 0;
  v->start_time = 0;
  free(v->exe);
  v->exe = NULL;
  v->is_child = v->adopted = v->confirmed = false;
  v->fail_note[0] = 0;
  v->tpm_pid = 0;
  v->tpm_start_time = 0;
  json_decref(v->argv);
  v->argv = NULL;
  json_decref(v->forwards_active);
  v->forwards_active = NULL;
  v->quit_requested = v->guest_shutdown = v->proc_stopped = false;
  vm_dirty(v);
}

static void tpm_stop(struct vm *v);

static void on_process_exit(struct vm *v) {
  if (v->cfg.tpm)
    tpm_stop(v); /* swtpm ends with its QEMU (--terminate); one that never got it does not */
  int status = 0, code = -1, sig = 0;
  bool have_status = false;
  if (v->is_child && waitpid(v->pid, &status, WNOHANG) == v->pid) {
    have_status = true;
    if (WIFEXITED(status))
      code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      sig = WTERMSIG(status);
  }
  bool was_starting = v->state == ST_STARTING;
  detach_process(v);

  char reason[256];
  bool clean;
  if (v->fail_note[0]) { /* the daemon killed it: say why */
    clean = false;
    snprintf(reason, sizeof(reason), "%s", v->fail_note);
  } else if (v->quit_requested) {
    clean = true;
    snprintf(reason, sizeof(reason), "force stopped");
  } else if (have_status && code == 0) {
    clean = !was_starting;
    snprintf(reason, sizeof(reason), "%s", v->guest_shutdown ? "guest powered off" : "QEMU exited normally");
  } else if (have_status && sig) {
    clean = false;
    snprintf(reason, sizeof(reason), "QEMU was killed by signal %d (SIG%s)", sig,
             sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
  } else if (have_status) {
    clean = false;
    snprintf(reason, sizeof(reason), "QEMU exited with status %d", code);
  } else {
    /* Adopted after a daemon restart: the exit status went to init. */
    clean = v->guest_shutdown;
    snprintf(reason, sizeof(reason), "%s",
             v->guest_shutdown ? "guest powered off" : "QEMU exited (status unknown)");
  }
  if (was_starting && !v->adopted && !v->quit_requested && !v->fail_note[0]) {
    clean = false;
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "QEMU failed to start: %s", reason);
    snprintf(reason, sizeof(reason), "%s", tmp);
  }
  json_t *tail = log_tail_json(v, CRASH_LOG_LINES);
  store_exit_add(v->m->c->store, v->cfg.id, now_unix(), clean ? "stopped" : "crashed", code, sig, reason,
                 tail);
  vm_forget_last_exit(v);
  events_emit(json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:O}", "type", "vm.exit", "vm", v->cfg.id, "status",
                        clean ? "stopped" : "crashed", "reason", reason, "exit_code",
                        code >= 0 ? json_integer(code) : json_null(), "signal",
                        sig ? json_integer(sig) : json_null(), "log_tail", tail));
  json_decref(tail);
  char why[160];
  snprintf(why, sizeof(why), "the VM stopped: %s", reason);
  vncws_close_vm(v->cfg.id, why);
  ticket_revoke_vm(v->m->c->tickets, v->cfg.id);
  store_runtime_clear(v->m->c->store, v->cfg.id);
  forget_process(v);
  vm_set_state(v, clean ? ST_STOPPED : ST_CRASHED, reason);
  if (v->start_waiters) {
    char *logtxt = log_tail_text(v, 15);
    char *msg = xasprintf("%s\n%s", reason, logtxt);
    vm_answer_waiters(v, &v->start_waiters, 500, "internal", msg);
    free(msg);
    free(logtxt);
  }
  vm_answer_waiters(v, &v->exit_waiters, 0, NULL, NULL);
}

static void on_pidfd(uv_poll_t *p, int status, int events) {
  on_process_exit(p->data);
}

void vm_on_kill_timer(uv_timer_t *t) {
  struct vm *v = t->data;
  if (v->state == ST_ORPHANED) {
    vm_orphans_on_kill_timer(v);
  } else if (v->pidfd >= 0) {
    log_warn("vm %s: QEMU did not quit within %d ms, sending SIGKILL", v->cfg.id, KILL_GRACE_MS);
    pidfd_signal(v->pidfd, SIGKILL);
  }
}

/* ---- QMP ---- */

/* A disk error that paused the guest (werror=enospc, vm_argv.c), as the reason: which disk and why.
 * DEVICE is the drive id (diskN, cdN); NOSPACE: the host filesystem is full. */
static void set_io_error(struct vm *v, const char *device, const char *op, bool nospace, const char *why) {
  const char *path = "";
  unsigned long n = 0;
  char *end = NULL;
  if (device && strncmp(device, "disk", 4) == 0) {
    n = strtoul(device + 4, &end, 10);
    if (end && !*end && end != device + 4 && n < v->cfg.n_disks)
      path = v->cfg.disks[n].path;
  }
  char disk[4200];
  if (path[0])
    snprintf(disk, sizeof(disk), "disks[%lu] (%s)", n, path);
  else
    snprintf(disk, sizeof(disk), "drive %s", device ? device : "?");
  if (nospace)
    snprintf(v->io_error, sizeof(v->io_error),
             "disk full: cannot write %s, its host filesystem has no space left; free space, then resume",
             disk);
  else
    snprintf(v->io_error, sizeof(v->io_error), "I/O error: cannot %s %s: %s; fix it, then resume",
             op && strcmp(op, "read") == 0 ? "read" : "write", disk, why ? why : "unknown error");
}

/* A VM found paused on an I/O error with no event seen (the daemon restarted since): which disk
 * says query-block's io-status. */
static void on_query_block(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct vm *v = ud;
  (void)q;
  size_t i;
  json_t *b;
  if (err || !json_is_array(ret) || v->io_error[0])
    return;
  json_array_foreach(ret, i, b) {
    const char *io = json_string_value(json_object_get(b, "io-status"));
    if (io && strcmp(io, "ok") != 0) {
      set_io_error(v, json_string_value(json_object_get(b, "device")), "write", strcmp(io, "nospace") == 0,
                   io);
      break;
    }
  }
  if (v->io_error[0] && v->state == ST_PAUSED)
    vm_set_state(v, ST_PAUSED, v->io_error);
}

void vm_apply_status(struct vm *v, json_t *ret) {
  const char *st = json_string_value(json_object_get(ret, "status"));
  bool running = json_is_true(json_object_get(ret, "running"));
  if (!st)
    return;
  if (running)
    v->io_error[0] = 0;
  if (!running && strcmp(st, "io-error") == 0) {
    if (!v->io_error[0] && v->qmp_ready && v->qmp && !qmp_stalled(v->qmp))
      qmp_command(v->qmp, "query-block", NULL, on_query_block, v);
    vm_set_state(v, ST_PAUSED,
                 v->io_error[0] ? v->io_error : "I/O error on a disk (see the VM log); fix it, then resume");
    return;
  }
  if (running) {
    if (v->state != ST_SHUTTING_DOWN)
      vm_set_state(v, ST_RUNNING, v->state == ST_STARTING ? "started" : "running");
  } else if (strcmp(st, "shutdown") == 0) {
    vm_set_state(v, ST_SHUTTING_DOWN, "guest is powering off");
  } else {
    char why[64];
    snprintf(why, sizeof(why), "%s", strcmp(st, "paused") == 0 ? "paused" : st);
    vm_set_state(v, ST_PAUSED, why);
  }
}

static void parse_usernet(struct vm *v, const char *text) {
  /* Lines like "  TCP[HOST_FORWARD]  13  127.0.0.1 40123  10.0.2.15  3389  0  0". */
  json_t *a = json_array();
  const char *line = text;
  while (line && *line) {
    const char *end = strchr(line, '\n');
    size_t n = end ? (size_t)(end - line) : strlen(line);
    char buf[256];
    if (n < sizeof(buf)) {
      memcpy(buf, line, n);
      buf[n] = 0;
      char proto[32], src[64], dst[64];
      int fd, sport, dport;
      if (strstr(buf, "HOST_FORWARD") &&
          sscanf(buf, " %31[A-Z][HOST_FORWARD] %d %63s %d %63s %d", proto, &fd, src, &sport, dst, &dport) ==
              6 &&
          sport > 0 && sport < 65536 && dport > 0 && dport < 65536) {
        json_array_append_new(a,
                              json_pack("{s:s, s:i, s:i}", "proto", strcmp(proto, "UDP") == 0 ? "udp" : "tcp",
                                        "host_port", sport, "guest_port", dport));
      }
    }
    line = end ? end + 1 : NULL;
  }
  json_decref(v->forwards_active);
  v->forwards_active = a;
  vm_dirty(v);
}

static void on_usernet(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct vm *v = ud;
  if (!err && json_is_string(ret))
    parse_usernet(v, json_string_value(ret));
  else if (err)
    log_warn("vm %s: info usernet: %s", v->cfg.id, err);
  if (json_array_size(v->forwards_active)) /* the ports the host picked, for pages showing the VM */
    events_emit(
        json_pack("{s:s, s:s, s:O}", "type", "vm.forwards", "vm", v->cfg.id, "forwards", v->forwards_active));
  vm_answer_waiters(v, &v->start_waiters, 0, NULL, NULL);
}

static void on_first_status(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct vm *v = ud;
  if (err) {
    log_warn("vm %s: query-status: %s", v->cfg.id, err);
    if (v->start_waiters && q == v->qmp && qmp_stalled(q)) { /* it runs, but does not answer */
      char *msg = xasprintf("QEMU started (pid %d) but does not answer: %s", (int)v->pid, err);
      vm_answer_waiters(v, &v->start_waiters, 504, "qemu_not_answering", msg);
      free(msg);
    }
    return; /* else the connection is gone; exit handling answers the waiters */
  }
  vm_apply_status(v, ret);
  if (v->cfg.net_user && v->cfg.n_forwards > 0) {
    qmp_command(q, "human-monitor-command", json_pack("{s:s}", "command-line", "info usernet"), on_usernet,
                v);
    return;
  }
  vm_answer_waiters(v, &v->start_waiters, 0, NULL, NULL);
}

/* A line of the daemon's own in the VM's log (QEMU writes there too; both append). */
static void vm_log_note(struct vm *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vm_log_note(struct vm *v, const char *fmt, ...) {
  char path[4200];
  vm_path(v, "logs/qemu.log", path, sizeof(path));
  int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  dprintf(fd, "=== qemu-hmos: ");
  vdprintf(fd, fmt, ap);
  dprintf(fd, "\n");
  va_end(ap);
  close(fd);
}

/* What runs, now that QMP answers (before, a wrapper script may still be the process): the ELF
 * behind /proc/PID/exe, kept in the runtime row, shown as qemu_binary, written to the VM log. */
static void record_exe(struct vm *v) {
  char exe[PATH_MAX];
  if (pident_exe(v->pid, exe, sizeof(exe)) < 0) {
    log_warn("vm %s: cannot read /proc/%d/exe: %s", v->cfg.id, (int)v->pid, strerror(errno));
    return;
  }
  free(v->exe);
  v->exe = xstrdup(exe);
  vm_dirty(v);
  store_runtime_set_exe(v->m->c->store, v->cfg.id, exe);
  const char *argv0 = json_string_value(json_array_get(v->argv, 0));
  vm_log_note(v, "%s QEMU pid %d, which runs %s%s%s%s", v->adopted ? "reattached to" : "started", (int)v->pid,
              exe, argv0 && strcmp(argv0, exe) ? " (started as " : "",
              argv0 && strcmp(argv0, exe) ? argv0 : "", argv0 && strcmp(argv0, exe) ? ")" : "");
}

static void settle_unproven(struct vm *v, const char *why_not, const char *stopped_reason);

/* The process an adopted VM was identified by (pid, start time, boot) says over QMP that it is
 * some other machine: let go of it (never killed) and look at what holds the files. */
static void disown(struct vm *v, const char *why) {
  log_err("vm %s: pid %d is not this VM's QEMU: %s; letting go of it", v->cfg.id, (int)v->pid, why);
  detach_process(v);
  forget_process(v);
  settle_unproven(v, why, why);
}

static void qmp_sync(struct vm *v);

static void on_uuid(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct vm *v = ud;
  if (err) { /* stalled: asked again when QEMU answers (on_qmp_stall); else the connection is gone */
    log_warn("vm %s: query-uuid: %s", v->cfg.id, err);
    return;
  }
  const char *uuid = json_string_value(json_object_get(ret, "UUID"));
  if (!uuid || strcasecmp(uuid, v->cfg.uuid) != 0) {
    char why[160];
    snprintf(why, sizeof(why), "QMP query-uuid says %.40s, not this VM's uuid", uuid ? uuid : "nothing");
    disown(v, why);
    return;
  }
  v->confirmed = true;
  log_info("vm %s: pid %d confirmed by QMP (uuid %s)", v->cfg.id, (int)v->pid, uuid);
  record_exe(v);
  qmp_sync(v);
}

/* After QMP's greeting, and again when a stalled QEMU answers: an adopted QEMU proves it is this
 * VM (query-uuid), then the state comes from query-status. */
static void qmp_sync(struct vm *v) {
  if (v->adopted && !v->confirmed)
    qmp_command(v->qmp, "query-uuid", NULL, on_uuid, v);
  else
    qmp_command(v->qmp, "query-status", NULL, on_first_status, v);
}

static void on_qmp_ready(struct qmp *q, const char *err, void *ud) {
  struct vm *v = ud;
  uv_timer_stop(v->ready_timer);
  if (err) {
    log_err("vm %s: QMP connection failed: %s", v->cfg.id, err);
    qmp_close(v->qmp);
    v->qmp = NULL;
    /* A QEMU we cannot control is killed, so the state never lies; its exit is recorded as usual. */
    if (v->pidfd >= 0)
      pidfd_signal(v->pidfd, SIGKILL);
    return;
  }
  v->qmp_ready = true;
  v->io_error[0] = 0; /* a new QEMU or a restarted daemon: QEMU says again (vm_apply_status) */
  if (!v->adopted)    /* an adopted one once it has said it is this VM (on_uuid) */
    record_exe(v);
  qmp_sync(v);
}

/* No QMP greeting yet: a starting QEMU is given up (killed: a start must end), a reattached one
 * (this VM's by its identity) is waited for, and the reason says what its process is doing. */
static void on_ready_timer(uv_timer_t *t) {
  struct vm *v = t->data;
  if (v->qmp_ready || v->pid <= 0 || v->pidfd < 0)
    return;
  struct pident id;
  const char *what = pident_read(v->pid, &id) == 0 ? pident_state_text(id.state) : "";
  char reason[300];
  if (v->adopted) {
    snprintf(reason, sizeof(reason), "reattaching: QEMU pid %d has not answered QMP for %d s%s%s",
             (int)v->pid, REATTACH_NOTE_MS / 1000, what[0] ? "; its process is " : "", what);
    vm_set_state(v, ST_STARTING, reason);
    return;
  }
  snprintf(v->fail_note, sizeof(v->fail_note),
           "QEMU did not answer QMP within %u s of its start; it was killed", v->ready_deadline_ms / 1000);
  log_err("vm %s: %s%s%s", v->cfg.id, v->fail_note, what[0] ? "; its process was " : "", what);
  pidfd_signal(v->pidfd, SIGKILL);
}

/* QEMU stopped answering (a command's deadline passed), or answers again. */
static void on_qmp_stall(struct qmp *q, bool stalled, const char *why, void *ud) {
  struct vm *v = ud;
  if (!stalled) {
    log_info("vm %s: QEMU answers again", v->cfg.id);
    if (v->qmp_ready)
      qmp_sync(v); /* the state and the reason from QEMU again */
    return;
  }
  struct pident id;
  const char *what = pident_read(v->pid, &id) == 0 ? pident_state_text(id.state) : "";
  char reason[400];
  snprintf(reason, sizeof(reason), "QEMU is not answering: %s%s%s (Force stop ends it)", why,
           what[0] ? "; its process is " : "", what);
  log_warn("vm %s: %s", v->cfg.id, reason);
  vm_set_state(v, v->state, reason);
}

/* A QEMU stopped by a signal or a debugger cannot answer: the reason says so while it is (read at
 * each GET and listing: one /proc read per running VM), and comes from QEMU again after. */
static void note_process_state(struct vm *v) {
  struct pident id;
  if (v->pid <= 0 || !vm_active(v))
    return;
  bool stopped = pident_read(v->pid, &id) == 0 && (id.state == 'T' || id.state == 't');
  if (stopped == v->proc_stopped)
    return;
  v->proc_stopped = stopped;
  if (stopped) {
    char reason[300];
    snprintf(reason, sizeof(reason), "QEMU is not answering: its process (pid %d) is %s (Force stop ends it)",
             (int)v->pid, pident_state_text(id.state));
    log_warn("vm %s: %s", v->cfg.id, reason);
    vm_set_state(v, v->state, reason);
  } else if (v->qmp_ready && !qmp_stalled(v->qmp)) {
    qmp_sync(v); /* the reason from QEMU again */
  }
}

bool vm_not_answering(struct vm *v, char *why, size_t len) {
  struct pident id;
  if (v->pid > 0 && pident_read(v->pid, &id) == 0 && (id.state == 'T' || id.state == 't')) {
    snprintf(why, len, "QEMU (pid %d) is %s", (int)v->pid, pident_state_text(id.state));
    note_process_state(v);
    return true;
  }
  if (v->qmp && qmp_stalled(v->qmp)) {
    snprintf(why, len, "QEMU (pid %d) is not answering: %s", (int)v->pid, qmp_stall_reason(v->qmp));
    return true;
  }
  return false;
}

void vm_reply_qmp_error(struct vm *v, struct core_req *r, const char *what, const char *err) {
  if (v->qmp && qmp_stalled(v->qmp)) {
    struct pident id;
    const char *st = v->pid > 0 && pident_read(v->pid, &id) == 0 ? pident_state_text(id.state) : "";
    core_req_reply_error(r, 504, "qemu_not_answering", "%s: %s%s%s; Force stop (POST kill) ends it", what,
                         err, st[0] ? "; its process is " : "", st);
  } else {
    core_req_reply_error(r, 500, "internal", "%s: %s", what, err);
  }
}

static void on_qmp_event(struct qmp *q, const char *name, json_t *data, void *ud) {
  struct vm *v = ud;
  log_debug("vm %s: QMP event %s", v->cfg.id, name);
  if (strcmp(name, "BLOCK_IO_ERROR") == 0) {
    /* Comes before the STOP it causes (action "stop"); "report" errors went to the guest. */
    const char *action = json_string_value(json_object_get(data, "action"));
    const char *device = json_string_value(json_object_get(data, "device"));
    const char *why = json_string_value(json_object_get(data, "reason"));
    const char *op = json_string_value(json_object_get(data, "operation"));
    log_warn("vm %s: I/O error on %s (%s, action %s): %s", v->cfg.id, device ? device : "?", op ? op : "?",
             action ? action : "?", why ? why : "?");
    if (action && strcmp(action, "stop") == 0) {
      char was[sizeof(v->io_error)];
      snprintf(was, sizeof(was), "%s", v->io_error);
      set_io_error(v, device, op, json_is_true(json_object_get(data, "nospace")), why);
      if (strcmp(was, v->io_error) != 0) /* once, not per failed request */
        vm_log_note(v, "%s", v->io_error);
      if (v->state == ST_PAUSED)
        vm_set_state(v, ST_PAUSED, v->io_error);
    }
  } else if (strcmp(name, "STOP") == 0) {
    if (v->state == ST_RUNNING)
      vm_set_state(v, ST_PAUSED, v->io_error[0] ? v->io_error : "paused");
  } else if (strcmp(name, "RESUME") == 0) {
    v->io_error[0] = 0;
    if (v->state == ST_PAUSED || v->state == ST_STARTING)
      vm_set_state(v, ST_RUNNING, "running");
  } else if (strcmp(name, "SHUTDOWN") == 0) {
    const char *why = json_string_value(json_object_get(data, "reason"));
    v->guest_shutdown = json_is_true(json_object_get(data, "guest"));
    char reason[128];
    snprintf(reason, sizeof(reason), "shutting down (%s)", why ? why : "unknown");
    vm_set_state(v, ST_SHUTTING_DOWN, reason);
  } else if (strcmp(name, "POWERDOWN") == 0) {
    vm_set_state(v, ST_SHUTTING_DOWN, "power button pressed");
  } else if (strcmp(name, "RESET") == 0) {
    if (v->state == ST_RUNNING || v->state == ST_PAUSED) {
      snprintf(v->reason, sizeof(v->reason), "reset");
      log_info("vm %s: reset", v->cfg.id);
    }
  }
}

static void on_qmp_closed(struct qmp *q, const char *why, void *ud) {
  struct vm *v = ud;
  log_warn("vm %s: QMP closed: %s", v->cfg.id, why);
  qmp_close(v->qmp);
  v->qmp = NULL;
  v->qmp_ready = false;
  /* The process exit (pidfd) decides the state. */
}

static const struct qmp_callbacks qmp_cbs = {on_qmp_ready, on_qmp_event, on_qmp_closed, on_qmp_stall};

/* Watch PID through FD, a pidfd of it. */
static void watch_pidfd(struct vm *v, pid_t pid, int fd) {
  v->pid = pid;
  vm_dirty(v);
  v->pidfd = fd;
  v->pidpoll = xcalloc(1, sizeof(*v->pidpoll));
  uv_poll_init(&v->m->c->loop, v->pidpoll, fd);
  v->pidpoll->data = v;
  uv_poll_start(v->pidpoll, UV_READABLE, on_pidfd);
}

static int watch_process(struct vm *v, pid_t pid) {
  int fd = pident_pidfd_open(pid);
  if (fd < 0)
    return -1;
  watch_pidfd(v, pid, fd);
  return 0;
}

static void connect_qmp(struct vm *v) {
  char path[4200];
  vm_path(v, "run/qmp.sock", path, sizeof(path));
  v->qmp = qmp_new(&v->m->c->loop, &qmp_cbs, v);
  qmp_connect(v->qmp, path);
}

/* ---- start ---- */

static int listen_unix(const char *path, char *err, size_t errlen) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path)) {
    snprintf(err, errlen, "socket path too long for a unix socket: %s (move the data directory)", path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
    snprintf(err, errlen, "QMP socket %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  fchmodat(AT_FDCWD, path, 0600, AT_SYMLINK_NOFOLLOW); /* run/ is QEMU's user's: never through a link */
  return fd;
}

static size_t fmt_int(char *out, long v) {
  char tmp[24];
  size_t n = 0, k = 0;
  bool neg = v < 0;
  unsigned long u = neg ? (unsigned long)-v : (unsigned long)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg)
    out[k++] = '-';
  while (n)
    out[k++] = tmp[--n];
  out[k] = 0;
  return k;
}

/* In the forked child: only async-signal-safe calls from here to exec. */
static void __attribute__((noreturn)) child_exec(char **argv, int logfd, int qmpfd, int nullfd) {
  setsid();
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  signal(SIGPIPE, SIG_DFL);
  if (qmpfd == VM_ARGV_QMP_FD) {
    int flags = fcntl(qmpfd, F_GETFD);
    fcntl(qmpfd, F_SETFD, flags & ~FD_CLOEXEC);
  } else if (dup2(qmpfd, VM_ARGV_QMP_FD) < 0) {
    _exit(126);
  }
  if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
    _exit(126);
  close_range(VM_ARGV_QMP_FD + 1, ~0U, 0);
  /* HarmonyOS: ask for the JIT permission TCG needs. Plain Linux answers EINVAL. */
  errno = 0;
  int rc = prctl(HMOS_JIT_PRCTL, 1, 0, 0, 0);
  int e = errno;
  char line[160], num[24];
  size_t n = 0;
  const char *pre = "qemu-hmos: JIT grant prctl(0x6a6974, 1) = ";
  memcpy(line, pre, strlen(pre));
  n = strlen(pre);
  n += fmt_int(num, rc), memcpy(line + n - strlen(num), num, strlen(num));
  const char *what = rc == 0       ? " (granted)\n"
                     : e == EINVAL ? " (EINVAL: not HarmonyOS, ignored)\n"
                                   : " (errno ";
  memcpy(line + n, what, strlen(what));
  n += strlen(what);
  if (rc != 0 && e != EINVAL) {
    n += fmt_int(line + n, e);
    memcpy(line + n, ", ignored)\n", 11);
    n += 11;
  }
  if (write(2, line, n) < 0) {
    /* nothing to do: the log is best effort */
  }
  /* As root: become the VMs' unprivileged user now, so QEMU opens every file as that user
   * (-runas would setuid after -sandbox's elevateprivileges=deny is in force). */
  if (priv_child_drop() < 0) {
    const char *msg = "qemu-hmos: cannot switch to the VMs' unprivileged user; QEMU not started\n";
    if (write(2, msg, strlen(msg)) < 0) {
    }
    _exit(126);
  }
  execv(argv[0], argv);
  const char *msg = "qemu-hmos: exec of QEMU failed\n";
  if (write(2, msg, strlen(msg)) < 0) {
  }
  _exit(127);
}

static bool regular_file(const char *path, char *err, size_t errlen, const char *field);

/* The files and directories of the config that must exist (cdrom, kernel, initrd, shared folders);
 * false with the reason. At create, patch and start: they may go away in between. */
/* The config's host paths (cdrom, kernel, initrd, shared folders) must lie inside the allowed
 * roots (paths.h). RESOLVE: each is replaced by its resolved form (create, patch), so what QEMU
 * opens is what was checked; at start it is only checked. 0, or -1 with ERR. */
static int confine_paths(const struct path_roots *pr, struct vm_config *c, bool resolve, char *err,
                         size_t errlen) {
  char out[PATH_MAX];
  struct {
    const char *field;
    char *path;
    size_t size;
  } f[3 + VM_MAX_SHARES] = {{"cdrom", c->cdrom, sizeof(c->cdrom)},
                            {"kernel_boot.kernel", c->kboot.kernel, sizeof(c->kboot.kernel)},
                            {"kernel_boot.initrd", c->kboot.initrd, sizeof(c->kboot.initrd)}};
  size_t n = 3;
  char names[VM_MAX_SHARES][40];
  for (size_t i = 0; i < c->n_shares && i < VM_MAX_SHARES; i++, n++) {
    snprintf(names[i], sizeof(names[i]), "shared_folders[%zu].path", i);
    f[n].field = names[i];
    f[n].path = c->shares[i].path;
    f[n].size = sizeof(c->shares[i].path);
  }
  for (size_t i = 0; i < n; i++) {
    if (!f[i].path[0])
      continue;
    if (path_confine(pr, f[i].field, f[i].path, out, sizeof(out), err, errlen) < 0)
      return -1;
    if (resolve && strlen(out) < f[i].size)
      memcpy(f[i].path, out, strlen(out) + 1);
  }
  return 0;
}

static bool host_files_ok(const struct vm_config *c, char *err, size_t errlen) {
  if (c->cdrom[0] && !regular_file(c->cdrom, err, errlen, "cdrom"))
    return false;
  if (c->kboot.kernel[0] && !regular_file(c->kboot.kernel, err, errlen, "kernel_boot.kernel"))
    return false;
  if (c->kboot.initrd[0] && !regular_file(c->kboot.initrd, err, errlen, "kernel_boot.initrd"))
    return false;
  for (size_t i = 0; i < c->n_shares; i++) {
    struct stat st;
    if (stat(c->shares[i].path, &st) < 0 || !S_ISDIR(st.st_mode)) {
      snprintf(err, errlen, "shared_folders[%zu].path: %s is not a directory", i, c->shares[i].path);
      return false;
    }
  }
  return true;
}

static bool regular_file(const char *path, char *err, size_t errlen, const char *field) {
  struct stat st;
  if (stat(path, &st) < 0) {
    snprintf(err, errlen, "%s: %s: %s", field, path, strerror(errno));
    return false;
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    snprintf(err, errlen, "%s: %s is not a regular file", field, path);
    return false;
  }
  return true;
}

static void vm_start_now(struct vm *v, struct core_req *r, const char *loadvm);
static void start_vars(struct vm *v, struct core_req *r, const char *loadvm);

/* The files QEMU opens by path outside the VM's directory (cdrom, kernel, initrd, shared folders)
 * must be usable by the user it runs as (priv.h: the unprivileged user when the daemon is root);
 * false with the reason, so that a start fails with it instead of QEMU's exit. */
static bool host_files_reachable(const struct vm_config *c, char *err, size_t errlen) {
  struct {
    char field[40];
    const char *path;
    int mode;
  } f[3 + VM_MAX_SHARES];
  size_t n = 0;
  const char *const files[3][2] = {
      {"cdrom", c->cdrom}, {"kernel_boot.kernel", c->kboot.kernel}, {"kernel_boot.initrd", c->kboot.initrd}};
  for (size_t i = 0; i < 3; i++) {
    if (files[i][1][0]) {
      snprintf(f[n].field, sizeof(f[n].field), "%s", files[i][0]);
      f[n].path = files[i][1];
      f[n++].mode = R_OK;
    }
  }
  for (size_t i = 0; i < c->n_shares && i < VM_MAX_SHARES; i++) {
    snprintf(f[n].field, sizeof(f[n].field), "shared_folders[%zu].path", i);
    f[n].path = c->shares[i].path;
    f[n++].mode = R_OK | X_OK | (c->shares[i].readonly ? 0 : W_OK);
  }
  for (size_t i = 0; i < n; i++) {
    int e = priv_access(f[i].path, f[i].mode);
    if (e == EROFS)
      e = priv_access(f[i].path, f[i].mode & ~W_OK);
    if (e) {
      char who[96];
      if (priv_active())
        snprintf(who, sizeof(who), "user %s (uid %u), which QEMU runs as", priv_user(), (unsigned)priv_uid());
      else
        snprintf(who, sizeof(who), "the daemon's user (uid %u), which QEMU runs as", (unsigned)priv_uid());
      snprintf(err, errlen, "%s: %s is not %s by %s: %s (it and every directory above it must allow that)",
               f[i].field, f[i].path, f[i].mode & W_OK ? "readable and writable" : "readable", who,
               strerror(e));
      return false;
    }
  }
  return true;
}

/* Give the VM's files that QEMU and swtpm write to the unprivileged user (priv.h). */
static int own_vm_files(struct vm *v, char *err, size_t errlen) {
  char dir[4200];
  const char *disks[VM_MAX_DISKS];
  for (size_t i = 0; i < v->cfg.n_disks && i < VM_MAX_DISKS; i++)
    disks[i] = v->cfg.disks[i].path;
  snprintf(dir, sizeof(dir), "%s/vms/%s", v->m->c->data_dir, v->cfg.id);
  return priv_own_vm_dir(dir, disks, v->cfg.n_disks, err, errlen);
}

/* ---- TPM: swtpm, one per VM with tpm, started before QEMU ---- */

/* This VM's swtpm, or 0. Known since its start (pid from its pidfile, with its start time:
 * pident.h) it is that process or none. Else (a start that failed before it was recorded) the
 * pidfile's pid when that process is a swtpm (its executable) of this VM (its command line names
 * the VM's directory) run by the user swtpm is started as (the pidfile is that user's to write). */
static pid_t tpm_pid(struct vm *v) {
  if (v->tpm_pid > 0)
    return pident_is(v->tpm_pid, v->tpm_start_time) ? v->tpm_pid : 0;
  char path[4300], exe[PATH_MAX];
  vm_path(v, "run/swtpm.pid", path, sizeof(path));
  char *txt = read_file_owned(path, priv_uid(), 64, NULL); /* swtpm (the VMs' user) writes it */
  long pid = txt ? strtol(txt, NULL, 10) : 0;
  free(txt);
  if (pid <= 0 || pid > INT_MAX || pident_exe((pid_t)pid, exe, sizeof(exe)) < 0)
    return 0;
  const char *base = strrchr(exe, '/');
  vm_path(v, "", path, sizeof(path)); /* DATA/vms/ID/ */
  size_t len = 0;
  char *cmd = strcmp(base ? base + 1 : exe, "swtpm") == 0 ? pident_cmdline((pid_t)pid, &len) : NULL;
  bool ours = cmd && memmem(cmd, len, path, strlen(path)) && pident_uid((pid_t)pid) == priv_uid();
  free(cmd);
  return ours ? (pid_t)pid : 0;
}

/* A swtpm left waiting (QEMU never connected, or failed) is stopped; with QEMU connected it ends
 * on its own when QEMU does (--terminate). */
static void tpm_stop(struct vm *v) {
  pid_t pid = tpm_pid(v);
  if (pid > 0)
    kill(pid, SIGTERM);
  v->tpm_pid = 0;
  v->tpm_start_time = 0;
}

/* Right after swtpm started (--daemon: its pidfile is written): which process it is. */
static void tpm_record(struct vm *v) {
  v->tpm_pid = 0;
  pid_t pid = tpm_pid(v);
  struct pident id;
  if (pid > 0 && pident_read(pid, &id) == 0) {
    v->tpm_pid = pid;
    v->tpm_start_time = id.start_time;
  } else {
    log_warn("vm %s: swtpm started but its pidfile does not name it", v->cfg.id);
  }
}

struct tpm_ctx {
  struct vm *v;
  struct core_req *r;
  char *loadvm;
};

static void on_swtpm(const struct proc_result *res, void *ud) {
  struct tpm_ctx *t = ud;
  t->v->busy = false;
  if (res->exit_status != 0) {
    core_req_reply_error(t->r, 500, "internal", "tpm: swtpm did not start: %s",
                         res->err[0] ? res->err : "no message");
  } else {
    tpm_record(t->v);
    start_vars(t->v, t->r, t->loadvm);
  }
  free(t->loadvm);
  free(t);
}

static void tpm_start(struct vm *v, struct core_req *r, const char *loadvm) {
  char state[4300], sock[4300], pidf[4300], log[4300], a_state[4400], a_ctrl[4400], a_pid[4400], a_log[4400];
  vm_path(v, "tpm", state, sizeof(state));
  mkdir_p(state, 0700);
  vm_path(v, "run", sock, sizeof(sock));
  mkdir_p(sock, 0700);
  vm_path(v, "logs", log, sizeof(log));
  mkdir_p(log, 0700);
  tpm_stop(v); /* one left from a start that failed */
  vm_path(v, "run/swtpm.sock", sock, sizeof(sock));
  vm_path(v, "run/swtpm.pid", pidf, sizeof(pidf));
  vm_path(v, "logs/swtpm.log", log, sizeof(log));
  unlink(sock);
  int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (logfd >= 0)
    close(logfd); /* made here, so that the daemon gives it to swtpm's user below */
  char err[1024];
  if (own_vm_files(v, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 500, "internal", "tpm: %s", err);
    return;
  }
  snprintf(a_state, sizeof(a_state), "dir=%s,mode=0600", state);
  snprintf(a_ctrl, sizeof(a_ctrl), "type=unixio,path=%s,mode=0600", sock);
  snprintf(a_pid, sizeof(a_pid), "file=%s", pidf);
  snprintf(a_log, sizeof(a_log), "file=%s", log);
  char *argv[] = {v->m->c->host.swtpm, "socket",   "--tpm2", "--tpmstate", a_state, "--ctrl", a_ctrl,
                  "--terminate",       "--daemon", "--pid",  a_pid,        "--log", a_log,    NULL};
  struct tpm_ctx *t = xcalloc(1, sizeof(*t));
  t->v = v;
  t->r = r;
  t->loadvm = loadvm ? xstrdup(loadvm) : NULL;
  v->busy = true;                                           /* no second start, no delete, until QEMU runs */
  proc_run_unprivileged(&v->m->c->loop, argv, on_swtpm, t); /* --daemon: returns once it listens */
}

/* ---- UEFI variable store (vm_efivars.h): made, or an older raw one converted, before QEMU ---- */

static bool vm_uefi(const struct vm *v) {
  return v->cfg.arch == VM_ARCH_AARCH64 || v->cfg.uefi;
}

static void on_efivars(const char *err, void *ud) {
  struct tpm_ctx *t = ud; /* the same three things to carry */
  t->v->busy = false;
  if (err) {
    tpm_stop(t->v); /* one started for this QEMU would wait for it */
    core_req_reply_error(t->r, 500, "internal", "firmware: %s", err);
  } else {
    vm_start_now(t->v, t->r, t->loadvm);
  }
  free(t->loadvm);
  free(t);
}

static void efivars_start(struct vm *v, struct core_req *r, const char *loadvm) {
  struct core *c = v->m->c;
  char dir[4200], tmpl[4300];
  snprintf(dir, sizeof(dir), "%s/vms/%s", c->data_dir, v->cfg.id);
  if (v->cfg.arch == VM_ARCH_AARCH64)
    snprintf(tmpl, sizeof(tmpl), "%s", c->host.aavmf_vars);
  else
    snprintf(tmpl, sizeof(tmpl), "%s/%s", c->host.ovmf_dir,
             v->cfg.secure_boot ? VM_OVMF_VARS_SECURE : VM_OVMF_VARS);
  struct tpm_ctx *t = xcalloc(1, sizeof(*t));
  t->v = v;
  t->r = r;
  t->loadvm = loadvm ? xstrdup(loadvm) : NULL;
  v->busy = true; /* no second start, no delete, until it is made */
  vm_efivars_make(&c->loop, c->host.qemu_img, dir, tmpl, on_efivars, t);
}

/* After swtpm (when the VM has a TPM), before QEMU. */
static void start_vars(struct vm *v, struct core_req *r, const char *loadvm) {
  if (vm_uefi(v)) {
    efivars_start(v, r, loadvm);
    return;
  }
  vm_start_now(v, r, loadvm);
}

void vm_start_from(struct vm *v, struct core_req *r, const char *loadvm) {
  struct core *c = v->m->c;
  char err[1024] = "";

  if (v->state == ST_ORPHANED) {
    vm_orphans_refuse(v, r, "start");
    return;
  }
  if (vm_active(v)) {
    core_req_reply_error(r, 409, "invalid_state", "cannot start: the VM is %s", state_names[v->state]);
    return;
  }
  if (v->busy) {
    core_req_reply_error(r, 409, "busy", "cannot start: a snapshot or disk operation is running");
    return;
  }
  /* Never a second QEMU on the same disks: not one the daemon lost track of either (an older
   * version could show a live VM stopped), nor any process holding them. */
  if (vm_orphans_check(v, "found when the VM was to start; the daemon has no record of it")) {
    vm_orphans_refuse(v, r, "start");
    return;
  }
  uint64_t committed = vm_manager_committed_mib(v->m), limit = host_commit_limit_mib(&c->host);
  if (committed + v->cfg.memory_mib > limit) {
    core_req_reply_error(
        r, 422, "over_limit",
        "memory_mib: starting this VM would commit %llu MiB to running VMs, over the limit of "
        "%llu MiB (75%% of host memory)",
        (unsigned long long)(committed + v->cfg.memory_mib), (unsigned long long)limit);
    return;
  }
  if (confine_paths(c->roots, &v->cfg, false, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 403, "path_not_allowed", "%s", err);
    return;
  }
  if (!host_files_ok(&v->cfg, err, sizeof(err))) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return;
  }
  if (!host_files_reachable(&v->cfg, err, sizeof(err))) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return;
  }
  for (size_t i = 0; i < v->cfg.n_disks; i++) {
    if (!regular_file(v->cfg.disks[i].path, err, sizeof(err), "disks")) {
      core_req_reply_error(r, 500, "internal", "%s", err);
      return;
    }
  }
  if (v->cfg.tpm && !c->host.swtpm[0]) {
    core_req_reply_error(r, 409, "unavailable", "tpm: swtpm is not installed (Debian package swtpm)");
    return;
  }
  if (v->cfg.tpm) { /* its TPM first: QEMU connects to swtpm's socket when it starts */
    tpm_start(v, r, loadvm);
    return;
  }
  start_vars(v, r, loadvm);
}

static void vm_start_now(struct vm *v, struct core_req *r, const char *loadvm) {
  struct core *c = v->m->c;
  char err[1024] = "", path[4200];
  struct vm_argv av = {0};
  int qmpfd = -1, logfd = -1, nullfd = -1;
  struct vm_paths p;
  snprintf(p.dir, sizeof(p.dir), "%s/vms/%s", c->data_dir, v->cfg.id);
  if (vm_argv_build(&v->cfg, &c->host.facts, &p, &av, err, sizeof(err)) < 0) {
    tpm_stop(v);
    core_req_reply_error(r, 500, "internal", "%s", err);
    return;
  }
  if (loadvm) { /* this start only: not part of the config */
    av.argv = xrealloc(av.argv, (av.argc + 3) * sizeof(char *));
    av.argv[av.argc++] = xstrdup("-loadvm");
    av.argv[av.argc++] = xstrdup(loadvm);
    av.argv[av.argc] = NULL;
  }
  vm_path(v, "run", path, sizeof(path));
  mkdir_p(path, 0700);
  vm_path(v, "logs", path, sizeof(path));
  mkdir_p(path, 0700);
  if (own_vm_files(v, err, sizeof(err)) < 0)
    goto fail;
  vm_path(v, "run/vnc.sock", path, sizeof(path));
  unlink(path);
  vm_path(v, "run/qmp.sock", path, sizeof(path));
  if ((qmpfd = listen_unix(path, err, sizeof(err))) < 0)
    goto fail;
  vm_path(v, "logs/qemu.log", path, sizeof(path));
  logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (logfd < 0 || nullfd < 0) {
    snprintf(err, sizeof(err), "%s: %s", path, strerror(errno));
    goto fail;
  }
  json_t *argv_json = json_array();
  dprintf(logfd, "=== qemu-hmos %s: starting %s VM '%s' (%s, accelerator %s)\n=== argv:", QHM_VERSION,
          vm_arch_name(v->cfg.arch), v->cfg.name, v->cfg.id, host_accel_name(&c->host, v->cfg.arch));
  for (size_t i = 0; i < av.argc; i++) {
    json_array_append_new(argv_json, json_string(av.argv[i]));
    dprintf(logfd, " %s", av.argv[i]);
  }
  dprintf(logfd, "\n=== accelerator: %s (%s)\n", host_accel_name(&c->host, v->cfg.arch),
          c->host.facts.kvm[v->cfg.arch] ? "KVM usable" : c->host.kvm_reason);

  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, sizeof(err), "fork: %s", strerror(errno));
    json_decref(argv_json);
    goto fail;
  }
  if (pid == 0)
    child_exec(av.argv, logfd, qmpfd, nullfd);
  close(qmpfd);
  close(logfd);
  close(nullfd);
  vm_argv_free(&av);

  v->is_child = true;
  v->adopted = v->confirmed = false;
  v->quit_requested = v->guest_shutdown = false;
  v->fail_note[0] = 0;
  /* Who it is, for a restarted daemon: read now, the forked child exists (a wrapper script that
   * execs QEMU later keeps this pid and start time). */
  struct pident id;
  if (pident_read(pid, &id) < 0)
    id.start_time = 0;
  if (watch_process(v, pid) < 0) {
    /* Without a pidfd the VM cannot be supervised: do not leave it running unwatched. */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    json_decref(argv_json);
    core_req_reply_error(r, 500, "internal", "pidfd_open: %s", strerror(errno));
    return;
  }
  v->argv = argv_json;
  v->start_time = id.start_time;
  struct store_runtime rt = {.pid = pid,
                             .argv = argv_json,
                             .started = now_unix(),
                             .start_time = id.start_time ? (int64_t)id.start_time : -1,
                             .tpm_pid = v->tpm_pid,
                             .tpm_start_time = v->tpm_pid ? (int64_t)v->tpm_start_time : -1};
  snprintf(rt.boot_id, sizeof(rt.boot_id), "%s", pident_boot_id());
  store_runtime_set(c->store, v->cfg.id, &rt);
  vm_set_state(v, ST_STARTING, "starting");
  vm_park(&v->start_waiters, r);
  connect_qmp(v);
  v->ready_deadline_ms = loadvm ? LOADVM_QMP_DEADLINE_MS : START_QMP_DEADLINE_MS;
  uv_timer_start(v->ready_timer, on_ready_timer, v->ready_deadline_ms, 0);
  return;

fail:
  tpm_stop(v);
  vm_argv_free(&av);
  if (qmpfd >= 0)
    close(qmpfd);
  if (logfd >= 0)
    close(logfd);
  if (nullfd >= 0)
    close(nullfd);
  core_req_reply_error(r, 500, "internal", "%s", err);
}

/* ---- control commands ---- */

struct cmd_ctx {
  struct vm *v;
  struct core_req *r;
  const char *name;
};

static void on_after_status(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct cmd_ctx *x = ud;
  if (err) {
    vm_reply_qmp_error(x->v, x->r, "query-status", err);
  } else {
    vm_apply_status(x->v, ret);
    reply_vm(x->r, 200, x->v);
  }
  free(x);
}

static void on_cmd_done(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct cmd_ctx *x = ud;
  if (err) {
    vm_reply_qmp_error(x->v, x->r, x->name, err);
    free(x);
    return;
  }
  if (strcmp(x->name, "system_powerdown") == 0) {
    vm_set_state(x->v, ST_SHUTTING_DOWN, "power button pressed");
  }
  qmp_command(q, "query-status", NULL, on_after_status, x);
}

json_t *vm_clipboard_backend(bool on) {
  return on ? json_pack("{s:s, s:{s:s, s:{s:b}}}", "id", "vdagent0", "backend", "type", "qemu-vdagent",
                        "data", "clipboard", 1)
            : json_pack("{s:s, s:{s:s, s:{}}}", "id", "vdagent0", "backend", "type", "null", "data");
}

/*
 * Pause and resume also detach and attach the clipboard (vm_priv.h): while QEMU's qemu-vdagent
 * chardev is there, the machine cannot be saved (savevm: "doesn't yet support migration"), and
 * a paused machine's virtio-serial port refuses chardev-change. So the chardev behind the port
 * becomes a null one just before `stop`, and the clipboard comes back just after `cont`. A VM
 * without it (an error answer) is paused and resumed all the same.
 */
static void on_clipboard_step(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct cmd_ctx *x = ud;
  (void)ret;
  if (err)
    log_info("vm %s: clipboard chardev not changed around %s: %s", x->v->cfg.id, x->name, err);
  if (strcmp(x->name, "stop") == 0)
    qmp_command(q, "stop", NULL, on_cmd_done, x);
  else
    qmp_command(q, "query-status", NULL, on_after_status, x);
}

static void on_resumed(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct cmd_ctx *x = ud;
  (void)ret;
  if (err) {
    vm_reply_qmp_error(x->v, x->r, "cont", err);
    free(x);
    return;
  }
  qmp_command(q, "chardev-change", vm_clipboard_backend(true), on_clipboard_step, x);
}

static void pause_or_resume(struct vm *v, struct core_req *r, bool pause) {
  struct cmd_ctx *x = xcalloc(1, sizeof(*x));
  x->v = v;
  x->r = r;
  x->name = pause ? "stop" : "cont";
  if (pause)
    qmp_command(v->qmp, "chardev-change", vm_clipboard_backend(false), on_clipboard_step, x);
  else
    qmp_command(v->qmp, "cont", NULL, on_resumed, x);
}

static void qmp_then_status(struct vm *v, struct core_req *r, const char *cmd) {
  struct cmd_ctx *x = xcalloc(1, sizeof(*x));
  x->v = v;
  x->r = r;
  x->name = cmd;
  qmp_command(v->qmp, cmd, NULL, on_cmd_done, x);
}

static void on_shutdown_timer(uv_timer_t *t) {
  struct vm *v = t->data;
  if (v->state == ST_SHUTTING_DOWN && v->pid > 0) {
    vm_set_state(v, ST_RUNNING, "shutdown request ignored by guest");
  }
}

static bool require(struct vm *v, struct core_req *r, const char *action, unsigned mask) {
  if (mask & (1u << v->state)) {
    if (strcmp(action, "kill") == 0 || v->state == ST_STOPPED || v->state == ST_CRASHED)
      return true;
    char why[600];
    if (!v->qmp_ready) {
      core_req_reply_error(r, 409, "invalid_state", "cannot %s: QEMU is not answering yet (state %s)", action,
                           state_names[v->state]);
      return false;
    }
    if (vm_not_answering(v, why, sizeof(why))) { /* at once, not after a command's deadline */
      core_req_reply_error(r, 504, "qemu_not_answering", "cannot %s: %s; Force stop (POST kill) ends it",
                           action, why);
      return false;
    }
    return true;
  }
  core_req_reply_error(r, 409, "invalid_state", "cannot %s: the VM is %s", action, state_names[v->state]);
  return false;
}

#define S(x) (1u << (x))

void vm_req_action(struct vm_manager *m, struct core_req *r, const char *id, const char *action) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (strcmp(action, "start") == 0) {
    vm_start_from(v, r, NULL);
  } else if (strcmp(action, "pause") == 0) {
    if (require(v, r, action, S(ST_RUNNING)))
      pause_or_resume(v, r, true);
  } else if (strcmp(action, "resume") == 0) {
    if (require(v, r, action, S(ST_PAUSED)))
      pause_or_resume(v, r, false);
  } else if (strcmp(action, "reset") == 0) {
    if (require(v, r, action, S(ST_RUNNING) | S(ST_PAUSED) | S(ST_SHUTTING_DOWN)))
      qmp_then_status(v, r, "system_reset");
  } else if (strcmp(action, "shutdown") == 0) {
    if (require(v, r, action, S(ST_RUNNING) | S(ST_SHUTTING_DOWN))) {
      uv_timer_start(v->shutdown_timer, on_shutdown_timer, SHUTDOWN_TIMEOUT_MS, 0);
      qmp_then_status(v, r, "system_powerdown");
    }
  } else if (strcmp(action, "kill") == 0) {
    vm_req_kill(m, r, id, NULL);
  } else {
    core_req_reply_error(r, 404, "not_found", "unknown action '%s'", action);
  }
}

void vm_req_kill(struct vm_manager *m, struct core_req *r, const char *id, json_t *body) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  static const char *const keys[] = {"orphan_pid", NULL};
  if (body && !vm_body_keys(r, body, keys))
    return;
  json_t *orphan = body ? json_object_get(body, "orphan_pid") : NULL;
  if (v->state == ST_ORPHANED || orphan) {
    vm_orphan_kill(v, r, orphan);
    return;
  }
  if (!require(v, r, "kill", S(ST_STARTING) | S(ST_RUNNING) | S(ST_PAUSED) | S(ST_SHUTTING_DOWN)))
    return;
  v->quit_requested = true;
  vm_park(&v->exit_waiters, r);
  char why[600];
  if (v->qmp_ready && !vm_not_answering(v, why, sizeof(why))) {
    qmp_command(v->qmp, "quit", NULL, NULL, NULL);
  } else { /* QEMU quits on SIGTERM too; one stopped by a signal needs SIGCONT to see it */
    pidfd_signal(v->pidfd, SIGTERM);
    pidfd_signal(v->pidfd, SIGCONT);
  }
  uv_timer_start(v->kill_timer, vm_on_kill_timer, KILL_GRACE_MS, 0);
}

/* ---- screenshot, log, cmdline ---- */

struct shot_ctx {
  struct vm *v;
  struct core_req *r;
  char path[4200];
};

static void on_screendump(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct shot_ctx *x = ud;
  size_t len = 0;
  char *png = NULL;
  if (err) {
    vm_reply_qmp_error(x->v, x->r, "screendump", err);
  } else if (!(png = read_file_owned(x->path, priv_uid(), 64u << 20, &len))) { /* QEMU's user wrote it */
    core_req_reply_error(x->r, 500, "internal", "screendump: %s: %s", x->path, strerror(errno));
  } else {
    core_req_reply_bytes(x->r, 200, "image/png", png, len);
  }
  unlink(x->path);
  free(x);
}

void vm_req_screenshot(struct vm_manager *m, struct core_req *r, const char *id) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (!require(v, r, "take a screenshot", S(ST_RUNNING) | S(ST_PAUSED) | S(ST_SHUTTING_DOWN)))
    return;
  struct shot_ctx *x = xcalloc(1, sizeof(*x));
  x->v = v;
  x->r = r;
  char rel[64];
  snprintf(rel, sizeof(rel), "run/screendump-%u.png", ++v->shot_seq);
  vm_path(v, rel, x->path, sizeof(x->path));
  qmp_command(v->qmp, "screendump", json_pack("{s:s, s:s}", "filename", x->path, "format", "png"),
              on_screendump, x);
}

void vm_req_log(struct vm_manager *m, struct core_req *r, const char *id, unsigned tail) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  char *txt = log_tail_text(v, tail);
  core_req_reply_bytes(r, 200, "text/plain; charset=utf-8", txt, strlen(txt));
}

void vm_req_cmdline(struct vm_manager *m, struct core_req *r, const char *id) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (v->argv) {
    core_req_reply_json(r, 200, json_pack("{s:O, s:b}", "argv", v->argv, "running", 1));
    return;
  }
  struct vm_paths p;
  struct vm_argv av = {0};
  char err[1024];
  snprintf(p.dir, sizeof(p.dir), "%s/vms/%s", m->c->data_dir, v->cfg.id);
  if (vm_argv_build(&v->cfg, &m->c->host.facts, &p, &av, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 500, "internal", "%s", err);
    return;
  }
  json_t *a = json_array();
  for (size_t i = 0; i < av.argc; i++)
    json_array_append_new(a, json_string(av.argv[i]));
  vm_argv_free(&av);
  core_req_reply_json(r, 200, json_pack("{s:o, s:b}", "argv", a, "running", 0));
}

/* ---- consoles ---- */

int vm_manager_console_path(struct vm_manager *m, const char *id, char *path, size_t len, char *err,
                            size_t errlen) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    snprintf(err, errlen, "no VM with id '%s'", id);
    return -1;
  }
  if (!vm_active(v) || v->pid <= 0) {
    snprintf(err, errlen, "the VM is %s", state_names[v->state]);
    return -1;
  }
  vm_path(v, "run/vnc.sock", path, len);
  return 0;
}

static bool host_is_loopback(const char *h) {
  return strcmp(h, "127.0.0.1") == 0 || strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0 ||
         strncmp(h, "127.", 4) == 0;
}

int vm_manager_rdp_target(struct vm_manager *m, const char *id, struct vm_rdp *out, char *err,
                          size_t errlen) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    snprintf(err, errlen, "no VM with id '%s'", id);
    return -1;
  }
  memset(out, 0, sizeof(*out));
  if (v->cfg.rdp.set)
    *out = v->cfg.rdp;
  else
    snprintf(out->security, sizeof(out->security), "any");
  snprintf(out->vm_name, sizeof(out->vm_name), "%s", v->cfg.name); /* the RDP drive's folder */
  if (!out->host[0]) {
    /* The VM's own forward of guest port 3389 (the port QEMU chose, read back from QEMU). */
    if (!vm_active(v) || v->pid <= 0) {
      snprintf(err, errlen, "the VM is %s and has no explicit rdp.host", state_names[v->state]);
      return -1;
    }
    size_t i;
    json_t *f;
    json_array_foreach(v->forwards_active, i, f) {
      json_t *gp = json_object_get(f, "guest_port"), *hp = json_object_get(f, "host_port");
      const char *pr = json_string_value(json_object_get(f, "proto"));
      if (json_integer_value(gp) == 3389 && pr && strcmp(pr, "tcp") == 0 && json_integer_value(hp) > 0 &&
          json_integer_value(hp) <= 65535) {
        snprintf(out->host, sizeof(out->host), "127.0.0.1");
        out->port = (uint16_t)json_integer_value(hp);
        break;
      }
    }
    if (!out->host[0]) {
      snprintf(err, errlen, "no rdp.host and no forward of guest port 3389 (network.forwards)");
      return -1;
    }
  }
  /* Certificate policy (docs/rdp.md): a loopback target is this machine (our own
   * forward, or a tunnel the user set up), so its self-signed certificate is accepted. */
  out->local = host_is_loopback(out->host);
  if (out->local && !out->fingerprint[0]) /* a pinned fingerprint is always checked */
    out->ignore_cert = true;
  out->set = true;
  return 0;
}

static void free_secret(char *secret) {
  if (secret) {
    explicit_bzero(secret, strlen(secret));
    free(secret);
  }
}

/* {"username", "password", "domain"} given for one RDP session: validated by the rules of the
 * VM's rdp field and returned as JSON text for the ticket, or NULL after a 400. */
static json_t *session_credentials(struct vm *v, json_t *creds, struct core_req *r) {
  const char *key;
  json_t *val;
  if (!json_is_object(creds)) {
    core_req_reply_error(r, 400, "invalid_field", "credentials: must be an object");
    return NULL;
  }
  json_object_foreach(creds, key, val) {
    if (strcmp(key, "username") != 0 && strcmp(key, "password") != 0 && strcmp(key, "domain") != 0) {
      core_req_reply_error(r, 400, "invalid_field", "credentials.%s: unknown field", key);
      return NULL;
    }
  }
  struct vm_config *scratch = xmalloc(sizeof(*scratch));
  *scratch = v->cfg;
  json_t *patch = json_pack("{s:O}", "rdp", creds);
  char err[1024];
  json_t *out = NULL;
  if (vm_config_apply_json(scratch, patch, false, err, sizeof(err)) < 0) {
    /* the rules are the rdp field's: say which field of this request broke them */
    const char *msg = strncmp(err, "rdp.", 4) == 0 ? err + 4 : err;
    core_req_reply_error(r, 400, "invalid_field", "credentials.%s", msg);
  } else {
    static const char *const keys[] = {"username", "password", "domain"};
    const char *vals[] = {scratch->rdp.username, scratch->rdp.password, scratch->rdp.domain};
    out = json_object();
    for (size_t i = 0; i < 3; i++)
      if (json_object_get(creds, keys[i]))
        json_object_set_new(out, keys[i], json_string(vals[i]));
  }
  json_decref(patch);
  explicit_bzero(scratch, sizeof(*scratch));
  free(scratch);
  return out;
}

void vm_req_console(struct vm_manager *m, struct core_req *r, const char *id, json_t *body) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  static const char *const keys[] = {"protocol", "credentials", "shortcut", NULL};
  if (!vm_body_keys(r, body, keys))
    return;
  json_t *p = json_object_get(body, "protocol");
  if (p && !(json_is_string(p) &&
             (strcmp(json_string_value(p), "vnc") == 0 || strcmp(json_string_value(p), "rdp") == 0))) {
    core_req_reply_error(r, 400, "invalid_field", "protocol: must be \"vnc\" or \"rdp\"");
    return;
  }
  const char *proto = p ? json_string_value(p) : "vnc";
  char *secret = NULL;
  json_t *creds = json_object_get(body, "credentials"), *sc = json_object_get(body, "shortcut");
  if ((creds || sc) && strcmp(proto, "rdp") != 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s: only for the \"rdp\" protocol",
                         creds ? "credentials" : "shortcut");
    return;
  }
  const struct vm_shortcut *app = NULL;
  if (sc) { /* one of the VM's app shortcuts, by name: that program instead of rdp.remote_app */
    for (size_t i = 0; json_is_string(sc) && i < v->cfg.n_shortcuts; i++)
      if (strcmp(v->cfg.shortcuts[i].name, json_string_value(sc)) == 0)
        app = &v->cfg.shortcuts[i];
    if (!app) {
      core_req_reply_error(r, 400, "invalid_field", "shortcut: this VM has no shortcut by that name");
      return;
    }
  }
  json_t *sec = NULL; /* what this session only gets: credentials, the program */
  if (creds && !(sec = session_credentials(v, creds, r)))
    return;
  if (app) {
    if (!sec)
      sec = json_object();
    json_object_set_new(
        sec, "app",
        json_pack("{s:s, s:s, s:b}", "program", app->program, "args", app->args, "shell", app->shell));
  }
  if (sec) {
    secret = json_dumps(sec, JSON_COMPACT);
    json_decref(sec); /* the password's copy inside Jansson is freed unwiped, as in ws.c */
  }
  if (strcmp(proto, "rdp") == 0) {
    struct vm_rdp target;
    char err[256];
    if (vm_manager_rdp_target(m, id, &target, err, sizeof(err)) < 0) {
      core_req_reply_error(r, 409, "invalid_state", "cannot open an RDP console: %s", err);
      free_secret(secret);
      return;
    }
    explicit_bzero(&target, sizeof(target));
  } else if (!vm_active(v) || v->pid <= 0) {
    core_req_reply_error(r, 409, "invalid_state", "cannot open a console: the VM is %s",
                         state_names[v->state]);
    return;
  }
  if (!m->c->ws) {
    core_req_reply_error(r, 500, "internal", "the WebSocket server is not running");
    return;
  }
  char t[TICKET_LEN + 1];
  ticket_issue_as(m->c->tickets, v->cfg.id, proto, now_ms(), r->device, secret, t);
  free_secret(secret);
  char *url = xasprintf("%s/%s/%s?ticket=%s", ws_url_for(m->c->ws, r->lan), proto, v->cfg.id, t);
  core_req_reply_json(r, 200,
                      json_pack("{s:s, s:s, s:s, s:i}", "protocol", proto, "ticket", t, "url", url,
                                "expires_in_ms", TICKET_TTL_MS));
  free(url);
}

/* ---- list, get ---- */

void vm_req_list(struct vm_manager *m, struct core_req *r) {
  /* Listings are the hot path (the UI and every client poll them): each VM's text is
   * rendered once per change (vm_dirty) and the list is a concatenation. */
  static const char head[] = "{\"vms\":[", tail[] = "]}";
  size_t len = sizeof(head) - 1 + sizeof(tail) - 1;
  for (struct vm *v = m->head; v; v = v->next) {
    note_process_state(v);
    if (!v->json_text) {
      json_t *o = vm_to_json(v);
      v->json_text = json_dumps(o, JSON_COMPACT);
      json_decref(o);
      if (!v->json_text)
        abort();
      v->json_len = strlen(v->json_text);
    }
    len += v->json_len + 1;
  }
  char *out = xmalloc(len + 1), *p = out;
  memcpy(p, head, sizeof(head) - 1);
  p += sizeof(head) - 1;
  for (struct vm *v = m->head; v; v = v->next) {
    if (v != m->head)
      *p++ = ',';
    memcpy(p, v->json_text, v->json_len);
    p += v->json_len;
  }
  memcpy(p, tail, sizeof(tail) - 1);
  p += sizeof(tail) - 1;
  *p = 0;
  core_req_reply_bytes(r, 200, "application/json", out, (size_t)(p - out));
}

void vm_req_get(struct vm_manager *m, struct core_req *r, const char *id) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  note_process_state(v);
  reply_vm(r, 200, v);
}

/* ---- create ---- */

struct vm *vm_alloc(struct vm_manager *m) {
  struct vm *v = xcalloc(1, sizeof(*v));
  v->m = m;
  v->pidfd = -1;
  v->kill_timer = xcalloc(1, sizeof(uv_timer_t));
  v->shutdown_timer = xcalloc(1, sizeof(uv_timer_t));
  v->ready_timer = xcalloc(1, sizeof(uv_timer_t));
  uv_timer_init(&m->c->loop, v->kill_timer);
  uv_timer_init(&m->c->loop, v->shutdown_timer);
  uv_timer_init(&m->c->loop, v->ready_timer);
  v->kill_timer->data = v->shutdown_timer->data = v->ready_timer->data = v;
  return v;
}

void vm_release(struct vm *v) {
  if (!v)
    return;
  detach_process(v);
  vm_orphans_release(v);
  close_handle(v->kill_timer);
  close_handle(v->shutdown_timer);
  close_handle(v->ready_timer);
  free(v->exe);
  json_decref(v->argv);
  json_decref(v->forwards_active);
  json_decref(v->last_exit);
  free(v->json_text);
  free(v);
}

/* Host-dependent checks shared by create and patch: 0, or -1 after answering R. */
static int check_host_limits(struct vm_manager *m, struct core_req *r, struct vm_config *cfg) {
  const struct host *h = &m->c->host;
  char err[1024];
  if (!h->binary[cfg->arch][0]) {
    core_req_reply_error(r, 400, "invalid_field",
                         "arch: %s guests need qemu-system-%s, which is not installed",
                         vm_arch_name(cfg->arch), vm_arch_name(cfg->arch));
    return -1;
  }
  if (cfg->memory_mib > host_max_vm_memory_mib(h)) {
    core_req_reply_error(r, 422, "over_limit",
                         "memory_mib: %u MiB is over this host's limit of %llu MiB per VM", cfg->memory_mib,
                         (unsigned long long)host_max_vm_memory_mib(h));
    return -1;
  }
  if (cfg->cpus > h->cpus) {
    core_req_reply_error(r, 422, "over_limit", "cpus: %u is more than this host's %u CPUs", cfg->cpus,
                         h->cpus);
    return -1;
  }
  if (confine_paths(m->c->roots, cfg, true, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 403, "path_not_allowed", "%s", err);
    return -1;
  }
  if (!host_files_ok(cfg, err, sizeof(err))) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return -1;
  }
  if (cfg->uefi && cfg->arch == VM_ARCH_X86_64 && !h->ovmf_dir[0]) {
    core_req_reply_error(r, 400, "invalid_field", "firmware: UEFI for x86_64 needs Debian's ovmf package");
    return -1;
  }
  if (cfg->tpm && !h->swtpm[0]) {
    core_req_reply_error(r, 400, "invalid_field", "tpm: needs swtpm (Debian package swtpm)");
    return -1;
  }
  return 0;
}

struct create_ctx {
  struct vm_manager *m;
  struct core_req *r;
  struct vm *v;
  size_t next_disk;
  char dir[4200];
};

static void create_fail(struct create_ctx *x, int status, const char *code, const char *msg) {
  rm_rf(x->dir);
  core_req_reply_error(x->r, status, code, "%s", msg);
  vm_release(x->v);
  free(x);
}

int vm_register(struct vm_manager *m, struct vm *v, struct core_req *r) {
  json_t *cfg = vm_config_to_json(&v->cfg);
  int rc = store_vm_insert(m->c->store, v->cfg.id, v->cfg.name, cfg, v->created);
  json_decref(cfg);
  if (rc == STORE_CONFLICT)
    return 409;
  if (rc != STORE_OK)
    return 500;
  /* Append, so the list keeps creation order. */
  struct vm **pp = &m->head;
  while (*pp)
    pp = &(*pp)->next;
  *pp = v;
  vm_set_state(v, ST_STOPPED, "created");
  log_info("vm %s (%s): created", v->cfg.id, v->cfg.name);
  events_emit(json_pack("{s:s, s:s}", "type", "vm.created", "vm", v->cfg.id));
  reply_vm(r, 201, v);
  return 0;
}

void vm_register_failed(struct core_req *r, int status) {
  if (status == 409)
    core_req_reply_error(r, 409, "conflict", "name: a VM with this name exists");
  else
    core_req_reply_error(r, 500, "internal", "cannot save the VM in the database");
}

static void create_finish(struct create_ctx *x) {
  crashpt("create:before_row");
  int st = vm_register(x->m, x->v, x->r);
  if (st) { /* the files go first: the answer must not come before they are gone */
    rm_rf(x->dir);
    vm_release(x->v);
    vm_register_failed(x->r, st);
  }
  free(x);
}

static void create_next_disk(struct create_ctx *x);

static void on_disk_created(const struct proc_result *res, void *ud) {
  struct create_ctx *x = ud;
  if (res->exit_status != 0) {
    char *msg = xasprintf("qemu-img create failed (status %d, signal %d): %s", res->exit_status,
                          res->term_signal, res->err[0] ? res->err : "no output");
    create_fail(x, 500, "internal", msg);
    free(msg);
    return;
  }
  crashpt("create:after_disk");
  x->next_disk++;
  create_next_disk(x);
}

/* One qemu-img create per disk, one after the other (proc.c: stderr kept for the message). */
static void create_next_disk(struct create_ctx *x) {
  struct vm *v = x->v;
  if (x->next_disk >= v->cfg.n_disks) {
    create_finish(x);
    return;
  }
  struct vm_disk *d = &v->cfg.disks[x->next_disk];
  char size[32];
  snprintf(size, sizeof(size), "%lluG", (unsigned long long)d->size_gib);
  char *args[] = {x->m->c->host.qemu_img, "create", "-q", "-f", "qcow2", d->path, size, NULL};
  proc_run(&x->m->c->loop, args, on_disk_created, x);
}

static void on_create_efivars(const char *err, void *ud) {
  struct create_ctx *x = ud;
  if (err) {
    create_fail(x, 500, "internal", err);
    return;
  }
  create_next_disk(x);
}

static void reply_dry_run(struct vm_manager *m, struct core_req *r, struct vm *v) {
  struct vm_paths p;
  struct vm_argv av = {0};
  char err[1024];
  /* The id and uuid are not drawn yet: zeros stand in for them. */
  memset(v->cfg.id, '0', VM_ID_LEN);
  v->cfg.id[VM_ID_LEN] = 0;
  snprintf(v->cfg.uuid, sizeof(v->cfg.uuid), "00000000-0000-0000-0000-000000000000");
  snprintf(p.dir, sizeof(p.dir), "%s/vms/%s", m->c->data_dir, v->cfg.id);
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    snprintf(v->cfg.disks[i].path, sizeof(v->cfg.disks[i].path), "%s/disk%zu.qcow2", p.dir, i);
  if (vm_argv_build(&v->cfg, &m->c->host.facts, &p, &av, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return;
  }
  json_t *a = json_array();
  for (size_t i = 0; i < av.argc; i++)
    json_array_append_new(a, json_string(av.argv[i]));
  vm_argv_free(&av);
  core_req_reply_json(r, 200,
                      json_pack("{s:b, s:o, s:o, s:s}", "dry_run", 1, "config", vm_config_to_json(&v->cfg),
                                "argv", a, "accelerator", host_accel_name(&m->c->host, v->cfg.arch)));
}

bool vm_manager_room(struct vm_manager *m, struct core_req *r) {
  unsigned n = 0;
  for (struct vm *v = m->head; v; v = v->next)
    n++;
  if (n < VM_MAX_COUNT)
    return true;
  core_req_reply_error(r, 422, "over_limit", "at most %d VMs: delete one first", VM_MAX_COUNT);
  return false;
}

void vm_req_create(struct vm_manager *m, struct core_req *r, json_t *body, bool dry_run) {
  struct core *c = m->c;
  char err[1024];
  if (!dry_run && !vm_manager_room(m, r))
    return;
  struct vm *v = vm_alloc(m);
  if (vm_config_apply_json(&v->cfg, body, true, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    vm_release(v);
    return;
  }
  if (vm_find_name(m, v->cfg.name, NULL)) {
    core_req_reply_error(r, 409, "conflict", "name: a VM named '%s' exists", v->cfg.name);
    vm_release(v);
    return;
  }
  if (check_host_limits(m, r, &v->cfg) < 0) {
    vm_release(v);
    return;
  }
  if ((v->cfg.n_disks > 0 || v->cfg.arch == VM_ARCH_AARCH64) && !c->host.qemu_img[0]) {
    core_req_reply_error(r, 500, "internal", "qemu-img is not installed");
    vm_release(v);
    return;
  }
  uint64_t want_mib = 0, free_mib = 0;
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    want_mib += v->cfg.disks[i].size_gib * 1024;
  if (v->cfg.arch == VM_ARCH_AARCH64)
    want_mib += 64;
  if (!host_disk_fits(c->data_dir, want_mib, &free_mib)) {
    core_req_reply_error(r, 507, "insufficient_storage",
                         "disks: %llu MiB requested but only %llu MiB are free (%d MiB are kept in reserve)",
                         (unsigned long long)want_mib, (unsigned long long)free_mib, HOST_DISK_RESERVE_MIB);
    vm_release(v);
    return;
  }
  if (dry_run) {
    reply_dry_run(m, r, v);
    vm_release(v);
    return;
  }
  struct create_ctx *x = xcalloc(1, sizeof(*x));
  x->m = m;
  x->r = r;
  x->v = v;
  do {
    random_hex(v->cfg.id, VM_ID_LEN);
  } while (vm_find(m, v->cfg.id));
  random_uuid(v->cfg.uuid);
  v->created = now_unix();
  char vmsdir[4200];
  snprintf(vmsdir, sizeof(vmsdir), "%s/vms", c->data_dir);
  mkdir_p(vmsdir, 0700);
  snprintf(x->dir, sizeof(x->dir), "%s/%s", vmsdir, v->cfg.id);
  if (mkdir(x->dir, 0700) < 0) {
    snprintf(err, sizeof(err), "cannot create %s: %s", x->dir, strerror(errno));
    x->dir[0] = 0; /* not ours to remove */
    core_req_reply_error(r, 500, "internal", "%s", err);
    vm_release(v);
    free(x);
    return;
  }
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    snprintf(v->cfg.disks[i].path, sizeof(v->cfg.disks[i].path), "%s/disk%zu.qcow2", x->dir, i);
  char sub[4300];
  crashpt("create:after_mkdir");
  snprintf(sub, sizeof(sub), "%s/logs", x->dir);
  mkdir(sub, 0700);
  snprintf(sub, sizeof(sub), "%s/run", x->dir);
  mkdir(sub, 0700);
  if (v->cfg.arch == VM_ARCH_AARCH64) { /* its UEFI variable store first, then the disks */
    vm_efivars_make(&c->loop, c->host.qemu_img, x->dir, c->host.aavmf_vars, on_create_efivars, x);
    return;
  }
  create_next_disk(x);
}

/* ---- patch, delete ---- */

void vm_req_patch(struct vm_manager *m, struct core_req *r, const char *id, json_t *body) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  char err[1024];
  struct vm_config *cfg = xmalloc(sizeof(*cfg));
  *cfg = v->cfg;
  if (vm_config_apply_json(cfg, body, false, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    goto out;
  }
  if (vm_active(v)) {
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val) {
      /* name, rdp, shortcuts (read by new console sessions) and autostart do not touch the running QEMU */
      if (strcmp(key, "name") != 0 && strcmp(key, "rdp") != 0 && strcmp(key, "shortcuts") != 0 &&
          strcmp(key, "autostart") != 0) {
        core_req_reply_error(r, 409, "invalid_state",
                             "%s: can only be changed while the VM is stopped (it is %s)", key,
                             state_names[v->state]);
        goto out;
      }
    }
  }
  if (vm_find_name(m, cfg->name, v)) {
    core_req_reply_error(r, 409, "conflict", "name: a VM named '%s' exists", cfg->name);
    goto out;
  }
  if (check_host_limits(m, r, cfg) < 0)
    goto out;
  json_t *stored = vm_config_to_json(cfg);
  int rc = store_vm_update(m->c->store, v->cfg.id, cfg->name, stored);
  json_decref(stored);
  if (rc == STORE_CONFLICT) {
    core_req_reply_error(r, 409, "conflict", "name: a VM with this name exists");
    goto out;
  }
  if (rc != STORE_OK) {
    core_req_reply_error(r, 500, "internal", "cannot save the VM in the database");
    goto out;
  }
  if (cfg->arch != VM_ARCH_AARCH64 && (cfg->uefi != v->cfg.uefi || cfg->secure_boot != v->cfg.secure_boot)) {
    char dir[4200]; /* another firmware: its own variable store from its template at the next start */
    snprintf(dir, sizeof(dir), "%s/vms/%s", m->c->data_dir, v->cfg.id);
    vm_efivars_remove(dir);
  }
  v->cfg = *cfg;
  vm_dirty(v);
  reply_vm(r, 200, v);
out:
  free(cfg);
}

void vm_req_delete(struct vm_manager *m, struct core_req *r, const char *id, bool keep_disks) {
  struct vm *v = vm_find(m, id);
  struct core *c = m->c;
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (vm_active(v)) {
    core_req_reply_error(r, 409, "invalid_state", "cannot delete: the VM is %s; stop it first",
                         state_names[v->state]);
    return;
  }
  if (v->busy) {
    core_req_reply_error(r, 409, "busy", "cannot delete: a snapshot or disk operation is running");
    return;
  }
  char dir[4200], trash[4300];
  snprintf(dir, sizeof(dir), "%s/vms/%s", c->data_dir, v->cfg.id);
  /* ".keep": a start-up after a crash finishes the delete as asked (vm_sweep.c) */
  snprintf(trash, sizeof(trash), "%s/vms/.deleting-%s%s", c->data_dir, v->cfg.id,
           keep_disks && v->cfg.n_disks > 0 ? ".keep" : "");
  json_t *kept = json_array();
  /* Move the directory aside first: a failure after this point never leaves a half-deleted VM. */
  if (rename(dir, trash) < 0 && errno != ENOENT) {
    core_req_reply_error(r, 500, "internal", "cannot delete %s: %s", dir, strerror(errno));
    json_decref(kept);
    return;
  }
  crashpt("delete:after_rename");
  if (store_vm_delete(c->store, v->cfg.id) == STORE_ERROR) {
    rename(trash, dir);
    core_req_reply_error(r, 500, "internal", "cannot delete the VM from the database");
    json_decref(kept);
    return;
  }
  crashpt("delete:after_row");
  if (keep_disks && v->cfg.n_disks > 0) {
    char disks[4200];
    snprintf(disks, sizeof(disks), "%s/disks", c->data_dir);
    mkdir_p(disks, 0700);
    for (size_t i = 0; i < v->cfg.n_disks; i++) {
      const char *base = strrchr(v->cfg.disks[i].path, '/');
      char from[4400], to[4400];
      snprintf(from, sizeof(from), "%s%s", trash, base ? base : "/disk.qcow2");
      snprintf(to, sizeof(to), "%s/%s-disk%zu.qcow2", disks, v->cfg.id, i);
      if (rename(from, to) == 0)
        json_array_append_new(kept, json_string(to));
      else
        log_err("vm %s: cannot keep disk %s: %s", v->cfg.id, from, strerror(errno));
    }
  }
  crashpt("delete:before_rm");
  if (rm_rf(trash) < 0)
    log_err("vm %s: cannot remove %s: %s", v->cfg.id, trash, strerror(errno));
  for (struct vm **pp = &m->head; *pp; pp = &(*pp)->next) {
    if (*pp == v) {
      *pp = v->next;
      break;
    }
  }
  log_info("vm %s (%s): deleted", v->cfg.id, v->cfg.name);
  ticket_revoke_vm(c->tickets, v->cfg.id);
  rdpws_close_vm(v->cfg.id, "the VM was deleted");
  events_emit(json_pack("{s:s, s:s}", "type", "vm.deleted", "vm", v->cfg.id));
  core_req_reply_json(r, 200, json_pack("{s:s, s:o}", "deleted", v->cfg.id, "kept_disks", kept));
  vm_release(v);
}

/* ---- manager ---- */

struct vm_manager *vm_manager_new(struct core *c) {
  struct vm_manager *m = xcalloc(1, sizeof(*m));
  m->c = c;
  return m;
}

uint64_t vm_manager_committed_mib(struct vm_manager *m) {
  uint64_t sum = 0;
  for (struct vm *v = m->head; v; v = v->next)
    if (vm_active(v))
      sum += v->cfg.memory_mib;
  return sum;
}

/* For a runtime row from before the identity was recorded (db/003): /proc/PID/cmdline is ARGV,
 * except that argv[0] may be another path to a program of the same name (a wrapper script that
 * execs the real binary with "$@": Debian's qemu-system-i386). */
static bool cmdline_matches_legacy(pid_t pid, json_t *argv) {
  size_t len = 0;
  char *data = pident_cmdline(pid, &len);
  if (!data)
    return false;
  size_t off = 0, i;
  json_t *a;
  bool ok = true;
  json_array_foreach(argv, i, a) {
    const char *s = json_string_value(a);
    size_t n = s ? strlen(s) + 1 : 0, have = off < len ? strnlen(data + off, len - off) + 1 : 0;
    if (!s || off + have > len) {
      ok = false;
      break;
    }
    if (i == 0) {
      const char *b1 = strrchr(s, '/'), *b2 = strrchr(data, '/');
      ok = strcmp(b1 ? b1 + 1 : s, b2 ? b2 + 1 : data) == 0;
    } else {
      ok = n == have && memcmp(data + off, s, n) == 0;
    }
    if (!ok)
      break;
    off += have;
  }
  ok = ok && off == len;
  free(data);
  return ok;
}

/*
 * A restarted daemon and the QEMU a VM ran (libvirt's model, without trusting the command line):
 * the runtime row says which process the daemon forked (pid, its start time, the boot). That
 * process, alive, is adopted: watched through a pidfd opened before its start time is checked
 * again (a pid reused in between shows another one), its QMP reconnected, and it must say this
 * VM's uuid (query-uuid) before it counts. Anything else is not adopted; WHY_NOT says why.
 */
static bool reattach(struct vm *v, struct store_runtime *rt, char *why_not, size_t len) {
  pid_t pid = rt->pid;
  int fd = -1;
  if (rt->start_time >= 0) {
    if (!rt->boot_id[0] || strcmp(rt->boot_id, pident_boot_id()) != 0) {
      snprintf(why_not, len, "the recorded QEMU (pid %d) ran before the host rebooted", (int)pid);
      return false;
    }
    fd = pid > 0 ? pident_pidfd_open_checked(pid, (uint64_t)rt->start_time) : -1;
    if (fd < 0) {
      snprintf(why_not, len, "the recorded QEMU (pid %d) has exited%s", (int)pid,
               pident_read(pid, &(struct pident){0}) == 0 ? "; that pid is another process now" : "");
      return false;
    }
  } else { /* a row from an older version: command line, and started when the row says */
    struct pident id;
    int64_t at = pid > 0 && pident_read(pid, &id) == 0 ? pident_start_unix(id.start_time) : -1;
    if (at < 0 || at < rt->started - 2 || at > rt->started + 1 || !cmdline_matches_legacy(pid, rt->argv) ||
        (fd = pident_pidfd_open_checked(pid, id.start_time)) < 0) {
      snprintf(why_not, len, "the recorded QEMU (pid %d) is not found by its command line and start time",
               (int)pid);
      return false;
    }
    rt->start_time = (int64_t)id.start_time; /* recorded the new way from now on */
    snprintf(rt->boot_id, sizeof(rt->boot_id), "%s", pident_boot_id());
    store_runtime_set(v->m->c->store, v->cfg.id, rt);
  }
  watch_pidfd(v, pid, fd);
  v->start_time = (uint64_t)rt->start_time;
  v->argv = json_incref(rt->argv);
  v->adopted = true;
  v->is_child = v->confirmed = false;
  if (rt->tpm_pid > 0 && rt->tpm_start_time >= 0) {
    v->tpm_pid = rt->tpm_pid;
    v->tpm_start_time = (uint64_t)rt->tpm_start_time;
  }
  vm_set_state(v, ST_STARTING, "reattaching");
  connect_qmp(v);
  uv_timer_start(v->ready_timer, on_ready_timer, REATTACH_NOTE_MS, 0);
  log_info("vm %s: reattaching to QEMU pid %d", v->cfg.id, (int)pid);
  return true;
}

/* V has no QEMU the daemon can prove to be its own (and it holds none now). */
static void unproven_stopped(struct vm *v, const char *stopped_reason) {
  struct store *st = v->m->c->store;
  if (stopped_reason) { /* it had one when the daemon last looked */
    json_t *tail = log_tail_json(v, CRASH_LOG_LINES);
    store_exit_add(st, v->cfg.id, now_unix(), "stopped", -1, 0, stopped_reason, tail);
    vm_forget_last_exit(v);
    json_decref(tail);
  }
  store_runtime_clear(st, v->cfg.id);
  vm_set_state(v, ST_STOPPED, stopped_reason ? stopped_reason : "stopped");
}

/* Orphaned when something holds V's files; else stopped (STOPPED_REASON: NULL when V had no QEMU). */
static void settle_unproven(struct vm *v, const char *why_not, const char *stopped_reason) {
  if (!vm_orphans_check(v, why_not))
    unproven_stopped(v, stopped_reason);
}

struct load_ctx {
  struct vm_manager *m;
  struct vm **tail;
};

static void load_one(const char *id, json_t *config, int64_t created, void *ud) {
  struct load_ctx *x = ud;
  struct vm *v = vm_alloc(x->m);
  char err[1024];
  if (vm_config_from_json(&v->cfg, config, err, sizeof(err)) < 0) {
    log_err("vm %s: stored config is invalid, skipped: %s", id, err);
    vm_release(v);
    return;
  }
  v->created = created;
  snprintf(v->reason, sizeof(v->reason), "stopped");
  *x->tail = v;
  x->tail = &v->next;
}

int vm_manager_load(struct vm_manager *m, char *err, size_t errlen) {
  struct load_ctx x = {m, &m->head};
  if (store_vm_each(m->c->store, load_one, &x) != STORE_OK) {
    snprintf(err, errlen, "cannot read VMs from the database");
    return -1;
  }
  vm_sweep(m); /* what a killed daemon left half-done, before any VM is adopted */
  /* The VMs not adopted are looked for holders of their files with one pass over /proc. */
  size_t n = 0, k = 0;
  for (struct vm *v = m->head; v; v = v->next)
    n++;
  struct vm **left = xcalloc(n + 1, sizeof(*left));
  char(*why)[200] = xcalloc(n + 1, sizeof(*why));
  const char **whyp = xcalloc(n + 1, sizeof(*whyp));
  bool *had = xcalloc(n + 1, sizeof(*had)), *orphaned = xcalloc(n + 1, sizeof(*orphaned));
  for (struct vm *v = m->head; v; v = v->next) {
    struct store_runtime rt;
    int rc = store_runtime_get(m->c->store, v->cfg.id, &rt);
    if (rc == STORE_OK && reattach(v, &rt, why[k], sizeof(why[k]))) {
      json_decref(rt.argv);
      continue;
    }
    json_decref(rt.argv);
    if (rc != STORE_OK)
      snprintf(why[k], sizeof(why[k]), "the daemon has no record of starting it");
    had[k] = rc == STORE_OK;
    whyp[k] = why[k];
    left[k++] = v;
  }
  vm_orphans_check_all(left, whyp, k, orphaned);
  for (size_t i = 0; i < k; i++)
    if (!orphaned[i])
      unproven_stopped(left[i],
                       had[i] ? "QEMU exited while the daemon was not running (exit status unknown)" : NULL);
  free(left);
  free(why);
  free(whyp);
  free(had);
  free(orphaned);
  return 0;
}

void vm_manager_free(struct vm_manager *m) {
  if (!m)
    return;
  struct vm *v = m->head;
  while (v) {
    struct vm *next = v->next;
    vm_answer_waiters(v, &v->start_waiters, 503, "shutting_down", "the daemon is shutting down");
    vm_answer_waiters(v, &v->exit_waiters, 503, "shutting_down", "the daemon is shutting down");
    vm_answer_waiters(v, &v->orphan_waiters, 503, "shutting_down", "the daemon is shutting down");
    vm_release(v); /* QEMU keeps running: it is reattached on the next start */
    v = next;
  }
  free(m);
}

/* The same path once symbolic links and "..": a hard link elsewhere is another file to the user
 * (an import may hard-link the original into the library; the original stays in use). */
static bool same_path(const char *real_a, const char *b) {
  char rb[PATH_MAX];
  if (!b[0])
    return false;
  return strcmp(real_a, b) == 0 || (realpath(b, rb) && strcmp(real_a, rb) == 0);
}

bool vm_manager_file_in_use(struct vm_manager *m, const char *path, char *who, size_t len) {
  char ra[PATH_MAX];
  if (!realpath(path, ra))
    snprintf(ra, sizeof(ra), "%s", path);
  for (struct vm *v = m->head; v; v = v->next) {
    const char *as = NULL;
    if (same_path(ra, v->cfg.cdrom))
      as = "cdrom";
    for (size_t i = 0; !as && i < v->cfg.n_disks; i++)
      if (same_path(ra, v->cfg.disks[i].path))
        as = "disk";
    if (as) {
      snprintf(who, len, "VM '%s' (%s)", v->cfg.name, as);
      return true;
    }
  }
  return false;
}

/* ---- autostart ---- */

static void on_autostarted(struct core_req *r) {
  char *id = r->done_ud;
  if (r->status == 200)
    log_info("vm %s: started with the daemon (autostart)", id);
  else
    log_warn("vm %s: autostart failed (%d): %.*s", id, r->status,
             (int)(r->resp_len > 300 ? 300 : r->resp_len), r->resp ? r->resp : "");
  free(id);
  core_req_free(r);
}

void vm_manager_autostart(struct vm_manager *m) {
  for (struct vm *v = m->head; v; v = v->next) {
    if (!v->cfg.autostart || vm_active(v))
      continue; /* a VM still running (reattached) is left as it is */
    struct core_req *r = xcalloc(1, sizeof(*r));
    snprintf(r->method, sizeof(r->method), "POST");
    r->done = on_autostarted;
    r->done_ud = xstrdup(v->cfg.id);
    vm_start_from(v, r, NULL);
  }
}
