/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_exit: a VM's QEMU process as the daemon watches it: its pidfd, its exit turned into the
 * VM's state and an exit record (stopped or crashed, why, the tail of its log), and the record
 * for a VM whose QEMU went away while the daemon did not look (vm_settle_unproven). Core loop
 * thread only; called from vm_start.c, vm_qmp.c and vm.c (vm_priv.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "events.h"
#include "launch.h"
#include "pident.h"
#include "qmp.h"
#include "store.h"
#include "ticket.h"
#include "util.h"
#include "vm.h"
#include "vm_perf.h"
#include "vm_priv.h"
#include "vm_serial.h"
#include "vm_virtiofs.h"

#define CRASH_LOG_LINES 50

/* ---- log tail ---- */

char *vm_log_tail_text(struct vm *v, size_t n) {
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

json_t *vm_log_tail_json(struct vm *v, size_t n) {
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

void vm_detach_process(struct vm *v) {
  vm_serial_end(v);
  if (v->qmp) {
    qmp_close(v->qmp);
    v->qmp = NULL;
  }
  v->qmp_ready = false;
  if (v->watch) {
    launch_watch_cancel(v->watch);
    v->watch = NULL;
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
void vm_forget_process(struct vm *v) {
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
  vm_perf_release(v);
  v->quit_requested = v->guest_shutdown = v->proc_stopped = false;
  vm_dirty(v);
}

/* STATUS: the wait status when QEMU was the daemon's child, else -1 (init collected it). */
static void on_process_exit(struct vm *v, int status) {
  if (v->cfg.tpm)
    vm_tpm_stop(v);    /* swtpm ends with its QEMU (--terminate); one that never got it does not */
  vm_virtiofs_stop(v); /* virtiofsd ends when QEMU's end of its socket closes; this is for any left */
  int code = -1, sig = 0;
  bool have_status = false;
  if (v->is_child && status >= 0) {
    have_status = true;
    if (WIFEXITED(status))
      code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      sig = WTERMSIG(status);
  }
  bool was_starting = v->state == ST_STARTING;
  vm_detach_process(v);

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
             sig_abbrev(sig) ? sig_abbrev(sig) : "?");
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
  json_t *tail = vm_log_tail_json(v, CRASH_LOG_LINES);
  store_exit_add(v->m->c->store, v->cfg.id, now_unix(), clean ? "stopped" : "crashed", code, sig, reason,
                 tail);
  vm_forget_last_exit(v);
  events_emit(v->m->c->events, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:O}", "type", "vm.exit", "vm",
                                         v->cfg.id, "status", clean ? "stopped" : "crashed", "reason", reason,
                                         "exit_code", code >= 0 ? json_integer(code) : json_null(), "signal",
                                         sig ? json_integer(sig) : json_null(), "log_tail", tail));
  json_decref(tail);
  char why[160];
  snprintf(why, sizeof(why), "the VM stopped: %s", reason);
  vm_close_consoles(v, VM_CONSOLE_VNC, why);
  ticket_revoke_vm(v->m->c->tickets, v->cfg.id);
  store_runtime_clear(v->m->c->store, v->cfg.id);
  vm_forget_process(v);
  vm_set_state(v, clean ? ST_STOPPED : ST_CRASHED, reason);
  if (v->start_waiters) {
    char *logtxt = vm_log_tail_text(v, 15);
    char *msg = xasprintf("%s\n%s", reason, logtxt);
    vm_answer_waiters(v, &v->start_waiters, 500, "internal", msg);
    free(msg);
    free(logtxt);
  }
  vm_answer_waiters(v, &v->exit_waiters, 0, NULL, NULL);
}

static void on_exit_seen(pid_t pid, int status, void *ud) {
  struct vm *v = ud;
  v->watch = NULL; /* the launcher frees it after this call */
  on_process_exit(v, status);
}

void vm_on_kill_timer(uv_timer_t *t) {
  struct vm *v = t->data;
  if (v->state == ST_ORPHANED) {
    vm_orphans_on_kill_timer(v);
  } else if (v->pidfd >= 0) {
    log_warn("vm %s: QEMU did not quit within %d ms, sending SIGKILL", v->cfg.id, KILL_GRACE_MS);
    pident_pidfd_signal(v->pidfd, SIGKILL);
  }
}

/* ---- watching the process ---- */

void vm_watch_pidfd(struct vm *v, pid_t pid, int fd, bool own) {
  v->pid = pid;
  vm_dirty(v);
  v->pidfd = fd;
  v->watch = launch_watch(v->m->c->launcher,
                          &(struct launch_child){.pid = pid, .pidfd = fd, .own = own, .status_fd = -1},
                          on_exit_seen, v);
}

/* ---- no QEMU the daemon can prove its own ---- */

/* V has no QEMU the daemon can prove to be its own (and it holds none now). */
void vm_unproven_stopped(struct vm *v, const char *stopped_reason) {
  struct store *st = v->m->c->store;
  if (stopped_reason) { /* it had one when the daemon last looked */
    json_t *tail = vm_log_tail_json(v, CRASH_LOG_LINES);
    store_exit_add(st, v->cfg.id, now_unix(), "stopped", -1, 0, stopped_reason, tail);
    vm_forget_last_exit(v);
    json_decref(tail);
  }
  store_runtime_clear(st, v->cfg.id);
  vm_set_state(v, ST_STOPPED, stopped_reason ? stopped_reason : "stopped");
}

/* Orphaned when something holds V's files; else stopped (STOPPED_REASON: NULL when V had no QEMU). */
void vm_settle_unproven(struct vm *v, const char *why_not, const char *stopped_reason) {
  if (!vm_orphans_check(v, why_not))
    vm_unproven_stopped(v, stopped_reason);
}
