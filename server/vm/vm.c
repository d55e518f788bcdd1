/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm: see vm.h. Owns the manager: its VMs in creation order, lookups, a VM's JSON and the
 * listings, the small helpers the other vm_*.c files share (vm_priv.h), loading the VMs at daemon
 * start (reattaching to QEMUs that still run) and autostart. Core loop thread only.
 *
 * A VM's state comes from QEMU, never from the last request: QMP events and query-status after
 * every control command (vm_qmp.c), and the process's exit seen through a pidfd (vm_exit.c).
 * Requests that wait for QEMU (start, kill) are parked on the VM and answered from those callbacks.
 * Starting is vm_start.c; create, patch and delete are vm_crud.c; consoles are vm_console.c.
 */
#include "vm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "events.h"
#include "pident.h"
#include "store.h"
#include "util.h"
#include "vm_argv.h"
#include "vm_config.h"
#include "vm_perf.h"
#include "vm_priv.h"
#include "vm_serial.h"
#include "vm_sweep.h"
#include "vm_virtiofs.h"

const char *const vm_state_names[] = {"stopped",       "starting", "running", "paused",
                                      "shutting-down", "crashed",  "orphaned"};

/* ---- small helpers ---- */

static void free_on_close(uv_handle_t *h) {
  free(h);
}

void vm_close_handle(void *h) {
  if (h && !uv_is_closing(h))
    uv_close(h, free_on_close);
}

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

bool vm_active(const struct vm *v) {
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
    log_info("vm %s (%s): %s -> %s (%s)", v->cfg.id, v->cfg.name, vm_state_names[v->state], vm_state_names[s],
             reason);
  bool changed = v->state != s;
  v->state = s;
  snprintf(v->reason, sizeof(v->reason), "%s", reason);
  if (changed)
    events_emit(v->m->c->events, json_pack("{s:s, s:s, s:s, s:s}", "type", "vm.state", "vm", v->cfg.id,
                                           "state", vm_state_names[s], "reason", v->reason));
}

void vm_forget_last_exit(struct vm *v) {
  vm_dirty(v);
  json_decref(v->last_exit);
  v->last_exit = NULL;
  v->last_exit_known = false;
}

json_t *vm_to_json(struct vm *v) {
  json_t *o = vm_config_to_json(&v->cfg);
  vm_config_redact(o);
  json_object_set_new(o, "state", json_string(vm_state_names[v->state]));
  json_object_set_new(o, "state_reason", json_string(v->reason));
  json_object_set_new(o, "accelerator", json_string(host_accel_name(&v->m->c->host, v->cfg.arch)));
  json_object_set_new(o, "pid", v->pid > 0 ? json_integer(v->pid) : json_null());
  json_object_set_new(o, "qemu_binary", v->pid > 0 && v->exe ? json_string(v->exe) : json_null());
  if (v->state == ST_ORPHANED)
    json_object_set_new(o, "orphans", vm_orphans_json(v));
  json_object_set_new(o, "forwards_active",
                      v->forwards_active ? json_incref(v->forwards_active) : json_array());
  json_object_set_new(o, "performance_active", vm_perf_json(v) ?: json_null());
  if (!v->last_exit_known) { /* one query per exit, not one per listing */
    v->last_exit = store_exit_last(v->m->c->store, v->cfg.id);
    v->last_exit_known = true;
  }
  json_object_set_new(o, "last_exit", v->last_exit ? json_incref(v->last_exit) : json_null());
  json_object_set_new(o, "created_at", json_integer(v->created));
  return o;
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

/* ---- list, get ---- */

void vm_req_list(struct vm_manager *m, struct core_req *r) {
  /* Listings are the hot path (the UI and every client poll them): each VM's text is
   * rendered once per change (vm_dirty) and the list is a concatenation. */
  static const char head[] = "{\"vms\":[", tail[] = "]}";
  size_t len = sizeof(head) - 1 + sizeof(tail) - 1;
  for (struct vm *v = m->head; v; v = v->next) {
    vm_note_process_state(v);
    if (!v->json_text) {
      json_t *o = vm_to_json(v);
      v->json_text = json_dumps(o, JSON_COMPACT);
      json_decref(o);
      if (!v->json_text)
        oom();
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
  vm_note_process_state(v);
  reply_vm(r, 200, v);
}

/* ---- allocation ---- */

struct vm *vm_alloc(struct vm_manager *m) {
  struct vm *v = xcalloc(1, sizeof(*v));
  v->m = m;
  v->pidfd = -1;
  for (size_t i = 0; i < VM_MAX_SHARES; i++)
    v->vfs[i].pidfd = -1;
  v->kill_timer = xcalloc(1, sizeof(uv_timer_t));
  v->shutdown_timer = xcalloc(1, sizeof(uv_timer_t));
  v->ready_timer = xcalloc(1, sizeof(uv_timer_t));
  uv_timer_init(&m->c->loop, v->kill_timer);
  uv_timer_init(&m->c->loop, v->shutdown_timer);
  uv_timer_init(&m->c->loop, v->ready_timer);
  v->kill_timer->data = v->shutdown_timer->data = v->ready_timer->data = v;
  v->serial = vm_serial_new();
  return v;
}

void vm_release(struct vm *v) {
  if (!v)
    return;
  vm_detach_process(v);
  vm_virtiofs_release(v);
  vm_orphans_release(v);
  vm_close_handle(v->kill_timer);
  vm_close_handle(v->shutdown_timer);
  vm_close_handle(v->ready_timer);
  vm_serial_free(v->serial);
  free(v->exe);
  json_decref(v->argv);
  json_decref(v->forwards_active);
  json_decref(v->perf_applied); /* (its cgroup stays with a QEMU that runs on: a later daemon reattaches) */
  json_decref(v->last_exit);
  free(v->json_text);
  free(v);
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

/* ---- manager ---- */

struct vm_manager *vm_manager_new(struct core *c) {
  struct vm_manager *m = xcalloc(1, sizeof(*m));
  m->c = c;
  return m;
}

void vm_manager_set_console_hooks(struct vm_manager *m, const struct vm_console_hooks *h) {
  m->hooks = *h;
}

void vm_close_consoles(struct vm *v, unsigned kinds, const char *why) {
  const struct vm_console_hooks *h = &v->m->hooks;
  if (h->close_consoles)
    h->close_consoles(h->ud, v->cfg.id, kinds, why);
}

uint64_t vm_manager_committed_mib(struct vm_manager *m) {
  uint64_t sum = 0;
  for (struct vm *v = m->head; v; v = v->next)
    if (vm_active(v))
      sum += v->cfg.memory_mib;
  return sum;
}

unsigned vm_manager_running_count(struct vm_manager *m) {
  unsigned n = 0;
  for (struct vm *v = m->head; v; v = v->next)
    n += vm_active(v) && v->state != ST_ORPHANED;
  return n;
}

/* ---- reattach ---- */

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
  vm_watch_pidfd(v, pid, fd, false);
  v->start_time = (uint64_t)rt->start_time;
  v->argv = json_incref(rt->argv);
  v->adopted = true;
  v->is_child = v->confirmed = false;
  if (rt->tpm_pid > 0 && rt->tpm_start_time >= 0) {
    v->tpm_pid = rt->tpm_pid;
    v->tpm_start_time = (uint64_t)rt->tpm_start_time;
  }
  vm_set_state(v, ST_STARTING, "reattaching");
  vm_connect_qmp(v);
  vm_serial_reattach(v);
  uv_timer_start(v->ready_timer, vm_on_ready_timer, REATTACH_NOTE_MS, 0);
  log_info("vm %s: reattaching to QEMU pid %d", v->cfg.id, (int)pid);
  return true;
}

/* ---- load, free, lookups by file ---- */

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
      vm_unproven_stopped(
          left[i], had[i] ? "QEMU exited while the daemon was not running (exit status unknown)" : NULL);
  for (struct vm *v = m->head; v; v = v->next) /* a snapshot journal the sweep could not resolve */
    if (v->snap_pending[0] && v->state == ST_STOPPED)
      vm_set_state(v, ST_STOPPED, v->snap_pending);
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
    else if (same_path(ra, v->cfg.drivers_iso))
      as = "drivers_iso";
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
