/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_qmp: a VM's QMP session (qmp.h carries the bytes): the greeting, an adopted QEMU proving
 * it is this VM (query-uuid), events and query-status turned into the VM's state, disk errors,
 * a QEMU that stops answering; and the control commands over it (POST start/pause/resume/reset/
 * shutdown/kill: start itself is vm_start.c). Core loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core.h"
#include "events.h"
#include "pident.h"
#include "qmp.h"
#include "store.h"
#include "util.h"
#include "vm.h"
#include "vm_argv.h"
#include "vm_perf.h"
#include "vm_priv.h"

#define SHUTDOWN_TIMEOUT_MS 120000

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
    events_emit(v->m->c->events, json_pack("{s:s, s:s, s:O}", "type", "vm.forwards", "vm", v->cfg.id,
                                           "forwards", v->forwards_active));
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
  const char *argv0 = vm_argv_json_get(v->argv, NULL);
  vm_log_note(v, "%s QEMU pid %d, which runs %s%s%s%s", v->adopted ? "reattached to" : "started", (int)v->pid,
              exe, argv0 && strcmp(argv0, exe) ? " (started as " : "",
              argv0 && strcmp(argv0, exe) ? argv0 : "", argv0 && strcmp(argv0, exe) ? ")" : "");
}

/* The process an adopted VM was identified by (pid, start time, boot) says over QMP that it is
 * some other machine: let go of it (never killed) and look at what holds the files. */
static void disown(struct vm *v, const char *why) {
  log_err("vm %s: pid %d is not this VM's QEMU: %s; letting go of it", v->cfg.id, (int)v->pid, why);
  vm_detach_process(v);
  vm_forget_process(v);
  vm_settle_unproven(v, why, why);
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
      pident_pidfd_signal(v->pidfd, SIGKILL);
    return;
  }
  v->qmp_ready = true;
  v->io_error[0] = 0; /* a new QEMU or a restarted daemon: QEMU says again (vm_apply_status) */
  vm_perf_apply(v);   /* its threads exist now (machine init made the vCPUs) */
  if (!v->adopted)    /* an adopted one once it has said it is this VM (on_uuid) */
    record_exe(v);
  qmp_sync(v);
}

/* No QMP greeting yet: a starting QEMU is given up (killed: a start must end), a reattached one
 * (this VM's by its identity) is waited for, and the reason says what its process is doing. */
void vm_on_ready_timer(uv_timer_t *t) {
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
  pident_pidfd_signal(v->pidfd, SIGKILL);
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
void vm_note_process_state(struct vm *v) {
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
    vm_note_process_state(v);
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
  /* Expected when the daemon asked QEMU to quit (Force stop) or the guest shut down: not a warning. */
  if (v->quit_requested || v->state == ST_SHUTTING_DOWN)
    log_info("vm %s: QMP closed as QEMU ended: %s", v->cfg.id, why);
  else
    log_warn("vm %s: QMP closed: %s", v->cfg.id, why);
  qmp_close(v->qmp);
  v->qmp = NULL;
  v->qmp_ready = false;
  /* The process exit (pidfd) decides the state. */
}

static const struct qmp_callbacks qmp_cbs = {on_qmp_ready, on_qmp_event, on_qmp_closed, on_qmp_stall};

void vm_connect_qmp(struct vm *v) {
  char path[4200];
  vm_path(v, "run/qmp.sock", path, sizeof(path));
  v->qmp = qmp_new(&v->m->c->loop, &qmp_cbs, v);
  qmp_connect(v->qmp, path);
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

bool vm_require(struct vm *v, struct core_req *r, const char *action, unsigned mask) {
  if (mask & (1u << v->state)) {
    if (strcmp(action, "kill") == 0 || v->state == ST_STOPPED || v->state == ST_CRASHED)
      return true;
    char why[600];
    if (!v->qmp_ready) {
      core_req_reply_error(r, 409, "invalid_state", "cannot %s: QEMU is not answering yet (state %s)", action,
                           vm_state_names[v->state]);
      return false;
    }
    if (vm_not_answering(v, why, sizeof(why))) { /* at once, not after a command's deadline */
      core_req_reply_error(r, 504, "qemu_not_answering", "cannot %s: %s; Force stop (POST kill) ends it",
                           action, why);
      return false;
    }
    return true;
  }
  core_req_reply_error(r, 409, "invalid_state", "cannot %s: the VM is %s", action, vm_state_names[v->state]);
  return false;
}

void vm_req_action(struct vm_manager *m, struct core_req *r, const char *id, const char *action) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (strcmp(action, "start") == 0) {
    vm_start_from(v, r, NULL);
  } else if (strcmp(action, "pause") == 0) {
    if (vm_require(v, r, action, VM_IN(ST_RUNNING)))
      pause_or_resume(v, r, true);
  } else if (strcmp(action, "resume") == 0) {
    if (vm_require(v, r, action, VM_IN(ST_PAUSED)))
      pause_or_resume(v, r, false);
  } else if (strcmp(action, "reset") == 0) {
    if (vm_require(v, r, action, VM_IN(ST_RUNNING) | VM_IN(ST_PAUSED) | VM_IN(ST_SHUTTING_DOWN)))
      qmp_then_status(v, r, "system_reset");
  } else if (strcmp(action, "shutdown") == 0) {
    if (vm_require(v, r, action, VM_IN(ST_RUNNING) | VM_IN(ST_SHUTTING_DOWN))) {
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
  json_t *orphan = body ? json_object_get(body, "orphan_pid") : NULL;
  if (v->state == ST_ORPHANED || orphan) {
    vm_orphan_kill(v, r, orphan);
    return;
  }
  if (!vm_require(v, r, "kill",
                  VM_IN(ST_STARTING) | VM_IN(ST_RUNNING) | VM_IN(ST_PAUSED) | VM_IN(ST_SHUTTING_DOWN)))
    return;
  v->quit_requested = true;
  vm_park(&v->exit_waiters, r);
  char why[600];
  if (v->qmp_ready && !vm_not_answering(v, why, sizeof(why))) {
    qmp_command(v->qmp, "quit", NULL, NULL, NULL);
  } else { /* QEMU quits on SIGTERM too; one stopped by a signal needs SIGCONT to see it */
    pident_pidfd_signal(v->pidfd, SIGTERM);
    pident_pidfd_signal(v->pidfd, SIGCONT);
  }
  uv_timer_start(v->kill_timer, vm_on_kill_timer, KILL_GRACE_MS, 0);
}
