/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_orphan: see vm_orphan.h. The scan reads /proc; the rest runs on the core loop thread and is
 * called by vm.c at daemon start for every VM it did not adopt, by vm_start.c before every start,
 * by vm_exit.c when a reattached QEMU turns out not to be the VM's (vm_qmp.c: query-uuid), and when
 * an orphan exits or is killed.
 */
#include "vm_orphan.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "pident.h"
#include "store.h"
#include "util.h"
#include "vm_priv.h"

#define ORPHAN_KILL_GRACE_MS 3000
#define LEFTOVER_WAIT_MS 2000

/* ---- the scan ---- */

static bool prog_is(const char *path, const char *prefix) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return strncmp(base, prefix, strlen(prefix)) == 0;
}

static void add_holder(struct vm_holder_target *t, const struct pident *id, const char *exe, bool swtpm,
                       const char *why) {
  t->found = xrealloc(t->found, (t->n_found + 1) * sizeof(*t->found));
  struct vm_holder *h = &t->found[t->n_found++];
  memset(h, 0, sizeof(*h));
  h->pid = id->pid;
  h->start_time = id->start_time;
  h->uid = pident_uid(id->pid);
  h->swtpm = swtpm;
  snprintf(h->exe, sizeof(h->exe), "%s", exe);
  snprintf(h->why, sizeof(h->why), "%s", why);
}

/* For each target, the first of its disks PID has open (HIT[i]), from one pass over its fds. */
static void scan_fds(pid_t pid, struct vm_holder_target *t, size_t nt, const char **hit) {
  char dir[64], link[PATH_MAX + 1];
  snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
  DIR *d = opendir(dir); /* EACCES for other users' processes unless root */
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[96];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0 || link[0] != '/')
      continue;
    link[n] = 0;
    for (size_t i = 0; i < nt; i++)
      for (size_t k = 0; !hit[i] && k < t[i].n_disks; k++)
        if (strcmp(link, t[i].disks[k]) == 0)
          hit[i] = t[i].disks[k];
  }
  closedir(d);
}

void vm_holders_scan(struct vm_holder_target *t, size_t nt, pid_t self) {
  bool any_disks = false;
  for (size_t i = 0; i < nt; i++) {
    t[i].found = NULL;
    t[i].n_found = 0;
    any_disks = any_disks || t[i].n_disks > 0;
  }
  DIR *d = opendir("/proc");
  if (!d || nt == 0) {
    if (d)
      closedir(d);
    return;
  }
  const char **hit = xcalloc(nt, sizeof(*hit));
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    struct pident id;
    if (*end || pid <= 0 || pid == self || pident_read((pid_t)pid, &id) < 0 || id.ppid == self)
      continue;
    size_t clen = 0;
    char *cmd = pident_cmdline((pid_t)pid, &clen);
    if (!cmd || clen == 0) { /* kernel threads have none */
      free(cmd);
      continue;
    }
    char exe[256];
    if (pident_exe((pid_t)pid, exe, sizeof(exe)) < 0)
      snprintf(exe, sizeof(exe), "%s", cmd); /* argv[0] */
    bool swtpm = prog_is(exe, "swtpm") || prog_is(cmd, "swtpm");
    bool qemu_like = swtpm || prog_is(exe, "qemu-") || prog_is(cmd, "qemu-");
    memset(hit, 0, nt * sizeof(*hit));
    if (any_disks)
      scan_fds((pid_t)pid, t, nt, hit);
    for (size_t i = 0; i < nt; i++) {
      char why[300];
      const char *dir = NULL;
      if (qemu_like && memmem(cmd, clen, t[i].dir, strlen(t[i].dir)))
        dir = t[i].dir;
      else if (qemu_like && t[i].dir_real && memmem(cmd, clen, t[i].dir_real, strlen(t[i].dir_real)))
        dir = t[i].dir_real;
      if (dir)
        snprintf(why, sizeof(why), "its command line names %s", dir);
      else if (hit[i])
        snprintf(why, sizeof(why), "it has %s open", hit[i]);
      else
        continue;
      add_holder(&t[i], &id, exe, swtpm, why);
    }
    free(cmd);
  }
  free(hit);
  closedir(d);
}

/* ---- what the VM manager does with it ---- */

struct vm_orphan {
  struct vm_holder h;
  struct vm *v;
  int pidfd;
  uv_poll_t *poll;
  bool signalled;
};

/* The strings a target points into, per VM. */
struct target_buf {
  char dir[4300], dir_real[PATH_MAX + 2];
  char disks[VM_MAX_DISKS][PATH_MAX];
  const char *disk_ptrs[VM_MAX_DISKS];
};

static void target_for(struct vm *v, struct target_buf *b, struct vm_holder_target *t) {
  char real[PATH_MAX];
  memset(t, 0, sizeof(*t));
  vm_path(v, "", b->dir, sizeof(b->dir)); /* DATA/vms/ID/ */
  t->dir = b->dir;
  if (realpath(b->dir, real) && fmt_path(b->dir_real, sizeof(b->dir_real), "%s/", real) == 0 &&
      strcmp(b->dir_real, b->dir) != 0)
    t->dir_real = b->dir_real;
  for (size_t i = 0; i < v->cfg.n_disks && i < VM_MAX_DISKS; i++)
    if (realpath(v->cfg.disks[i].path, b->disks[t->n_disks]))
      b->disk_ptrs[t->n_disks] = b->disks[t->n_disks], t->n_disks++;
  t->disks = b->disk_ptrs;
}

static void orphan_close(struct vm_orphan *o) {
  if (o->poll) {
    uv_poll_stop(o->poll);
    vm_close_handle(o->poll);
    o->poll = NULL;
  }
  if (o->pidfd >= 0)
    close(o->pidfd);
  o->pidfd = -1;
}

void vm_orphans_release(struct vm *v) {
  for (size_t i = 0; i < v->n_orphans; i++)
    orphan_close(v->orphans[i]), free(v->orphans[i]);
  free(v->orphans);
  v->orphans = NULL;
  v->n_orphans = 0;
}

static void settle(struct vm *v);

static void on_orphan_exit(uv_poll_t *p, int status, int events) {
  struct vm_orphan *o = p->data;
  struct vm *v = o->v;
  log_info("vm %s: the process that held its files (pid %d, %s) has exited", v->cfg.id, (int)o->h.pid,
           o->h.exe);
  size_t i = 0;
  while (i < v->n_orphans && v->orphans[i] != o)
    i++;
  if (i == v->n_orphans)
    return;
  snprintf(v->orphan_gone, sizeof(v->orphan_gone), "pid %d, %s", (int)o->h.pid, o->h.exe);
  orphan_close(o);
  free(o);
  memmove(&v->orphans[i], &v->orphans[i + 1], (v->n_orphans - i - 1) * sizeof(*v->orphans));
  v->n_orphans--;
  for (i = 0; i < v->n_orphans; i++)
    if (v->orphans[i]->signalled)
      return; /* the rest of a kill is still on its way */
  settle(v);
}

/* Stop swtpm processes of V that hold nothing but its TPM state: their QEMU is gone (a swtpm
 * ends with its QEMU, --terminate; one whose QEMU never came waits). Waits a little for them,
 * as the next swtpm could not lock the state while one still runs. */
static void stop_leftovers(struct vm *v, const struct vm_holder *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int fd = pident_pidfd_open_checked(h[i].pid, h[i].start_time);
    if (fd < 0)
      continue;
    log_warn("vm %s: stopping a left-over swtpm (pid %d) that has no QEMU", v->cfg.id, (int)h[i].pid);
    pident_pidfd_signal(fd, SIGTERM);
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, LEFTOVER_WAIT_MS) != 1) {
      pident_pidfd_signal(fd, SIGKILL);
      poll(&p, 1, 1000);
    }
    close(fd);
  }
}

/* V's state from the holders found (V has no QEMU of its own): true when orphaned. */
static bool apply(struct vm *v, struct vm_holder *h, size_t n, const char *why_not) {
  size_t others = 0;
  for (size_t i = 0; i < n; i++)
    others += !h[i].swtpm;
  vm_orphans_release(v);
  if (others == 0) {
    stop_leftovers(v, h, n);
    return false;
  }
  v->orphans = xcalloc(n, sizeof(*v->orphans));
  const struct vm_holder *first = NULL;
  for (size_t i = 0; i < n; i++) {
    int fd = pident_pidfd_open_checked(h[i].pid, h[i].start_time);
    if (fd < 0)
      continue; /* gone meanwhile */
    struct vm_orphan *o = xcalloc(1, sizeof(*o));
    o->h = h[i];
    o->v = v;
    o->pidfd = fd;
    o->poll = xcalloc(1, sizeof(*o->poll));
    uv_poll_init(&v->m->c->loop, o->poll, fd);
    o->poll->data = o;
    uv_poll_start(o->poll, UV_READABLE, on_orphan_exit);
    v->orphans[v->n_orphans++] = o;
    log_warn("vm %s: pid %d (%s, uid %d) holds its files (%s) but is not proven to be its QEMU: %s",
             v->cfg.id, (int)o->h.pid, o->h.exe, (int)o->h.uid, o->h.why, why_not);
    if (!first && !o->h.swtpm)
      first = &o->h;
  }
  if (!first) { /* every one exited meanwhile */
    vm_orphans_release(v);
    return false;
  }
  snprintf(v->orphan_why, sizeof(v->orphan_why), "%s", why_not);
  char reason[512];
  snprintf(reason, sizeof(reason),
           "pid %d (%s) holds this VM's files but is not proven to be its QEMU (%s); Start is refused "
           "until it ends: Force stop with {\"orphan_pid\": %d} kills it",
           (int)first->pid, first->exe, why_not, (int)first->pid);
  vm_set_state(v, ST_ORPHANED, reason);
  return true;
}

bool vm_orphans_check(struct vm *v, const char *why_not) {
  struct vm *one[1] = {v};
  const char *why[1] = {why_not};
  bool orphaned = false;
  vm_orphans_check_all(one, why, 1, &orphaned);
  return orphaned;
}

void vm_orphans_check_all(struct vm **vs, const char *const *why_not, size_t n, bool *orphaned) {
  if (n == 0)
    return;
  struct target_buf *b = xcalloc(n, sizeof(*b));
  struct vm_holder_target *t = xcalloc(n, sizeof(*t));
  for (size_t i = 0; i < n; i++)
    target_for(vs[i], &b[i], &t[i]);
  vm_holders_scan(t, n, getpid());
  for (size_t i = 0; i < n; i++) {
    orphaned[i] = apply(vs[i], t[i].found, t[i].n_found, why_not[i]);
    free(t[i].found);
  }
  free(t);
  free(b);
}

/* No signalled orphan is left: look again, and V is orphaned or stopped; kills are answered. */
static void settle(struct vm *v) {
  uv_timer_stop(v->kill_timer);
  char why[200];
  snprintf(why, sizeof(why), "%s", v->orphan_why);
  if (!vm_orphans_check(v, why)) {
    char reason[300];
    snprintf(reason, sizeof(reason), "the process that held its files (%s) %s", v->orphan_gone,
             v->orphan_killed ? "was killed through the API" : "has exited");
    json_t *tail = json_array();
    store_exit_add(v->m->c->store, v->cfg.id, now_unix(), "stopped", -1, 0, reason, tail);
    json_decref(tail);
    vm_forget_last_exit(v);
    store_runtime_clear(v->m->c->store, v->cfg.id);
    v->orphan_killed = false;
    vm_set_state(v, ST_STOPPED, reason);
  }
  vm_answer_waiters(v, &v->orphan_waiters, 0, NULL, NULL);
}

void vm_orphans_on_kill_timer(struct vm *v) {
  for (size_t i = 0; i < v->n_orphans; i++) {
    if (v->orphans[i]->signalled) {
      log_warn("vm %s: pid %d did not end within %d ms, sending SIGKILL", v->cfg.id,
               (int)v->orphans[i]->h.pid, ORPHAN_KILL_GRACE_MS);
      pident_pidfd_signal(v->orphans[i]->pidfd, SIGKILL);
    }
  }
}

/* "1234, 1240" */
static void pid_list(struct vm *v, char *out, size_t len) {
  size_t off = 0;
  out[0] = 0;
  for (size_t i = 0; i < v->n_orphans && off < len; i++)
    off += (size_t)snprintf(out + off, len - off, "%s%d", i ? ", " : "", (int)v->orphans[i]->h.pid);
}

void vm_orphans_refuse(struct vm *v, struct core_req *r, const char *action) {
  char pids[128];
  pid_list(v, pids, sizeof(pids));
  core_req_reply_error(
      r, 409, "orphaned",
      "cannot %s: pid %s holds this VM's files but is not proven to be its QEMU (%s); end it "
      "first (POST /api/v1/vms/%s/kill with {\"orphan_pid\": PID})",
      action, pids, v->orphan_why, v->cfg.id);
}

void vm_orphan_kill(struct vm *v, struct core_req *r, json_t *jpid) {
  if (v->state != ST_ORPHANED) {
    core_req_reply_error(r, 409, "invalid_state",
                         "orphan_pid: the VM is %s, no orphan process holds its files",
                         vm_state_names[v->state]);
    return;
  }
  if (!jpid) {
    vm_orphans_refuse(v, r, "kill without confirmation");
    return;
  }
  json_int_t pid = json_is_integer(jpid) ? json_integer_value(jpid) : -1;
  struct vm_orphan *o = NULL;
  for (size_t i = 0; pid > 0 && i < v->n_orphans; i++)
    if (v->orphans[i]->h.pid == pid)
      o = v->orphans[i];
  if (!o) {
    char pids[128];
    pid_list(v, pids, sizeof(pids));
    core_req_reply_error(r, 400, "invalid_field",
                         "orphan_pid: must be the pid of a process holding this VM's files (%s)", pids);
    return;
  }
  /* Still that process (the pidfd says so: it was opened for that start time and a pid reused
   * since would be another process), and still holding the VM's files? */
  struct target_buf *b = xcalloc(1, sizeof(*b));
  struct vm_holder_target t;
  target_for(v, b, &t);
  vm_holders_scan(&t, 1, getpid());
  bool holds = false;
  for (size_t i = 0; i < t.n_found; i++)
    holds = holds || (t.found[i].pid == o->h.pid && t.found[i].start_time == o->h.start_time);
  free(t.found);
  free(b);
  if (!holds || !pident_is(o->h.pid, o->h.start_time)) {
    core_req_reply_error(r, 409, "orphaned",
                         "orphan_pid: pid %d no longer holds this VM's files or is another process now; "
                         "nothing was killed (GET the VM for what holds it now)",
                         (int)o->h.pid);
    bool killing = false;
    for (size_t i = 0; i < v->n_orphans; i++)
      killing = killing || v->orphans[i]->signalled;
    if (!killing) { /* look again: what holds the files now (O is gone after this) */
      snprintf(v->orphan_gone, sizeof(v->orphan_gone), "pid %d, %s", (int)o->h.pid, o->h.exe);
      settle(v);
    }
    return;
  }
  /* It, and the TPM emulators of this VM (useless without their QEMU), with SIGTERM: QEMU writes
   * its disks' metadata out; SIGCONT for one stopped by a signal; SIGKILL after the grace time. */
  for (size_t i = 0; i < v->n_orphans; i++) {
    struct vm_orphan *x = v->orphans[i];
    if (x != o && !x->h.swtpm)
      continue;
    log_warn("vm %s: killing pid %d (%s) through the API (orphan_pid %d)", v->cfg.id, (int)x->h.pid, x->h.exe,
             (int)o->h.pid);
    x->signalled = true;
    pident_pidfd_signal(x->pidfd, SIGTERM);
    pident_pidfd_signal(x->pidfd, SIGCONT);
  }
  v->orphan_killed = true;
  vm_park(&v->orphan_waiters, r);
  uv_timer_start(v->kill_timer, vm_on_kill_timer, ORPHAN_KILL_GRACE_MS, 0);
}

json_t *vm_orphans_json(struct vm *v) {
  json_t *a = json_array();
  for (size_t i = 0; i < v->n_orphans; i++) {
    const struct vm_holder *h = &v->orphans[i]->h;
    json_t *exe = json_string(h->exe), *why = json_string(h->why);
    int64_t at = pident_start_unix(h->start_time);
    json_array_append_new(a, json_pack("{s:i, s:o, s:I, s:o, s:b, s:o}", "pid", (int)h->pid, "exe",
                                       exe ? exe : json_string("?"), "uid", (json_int_t)h->uid, "why",
                                       why ? why : json_string("?"), "swtpm", h->swtpm, "started_at",
                                       at >= 0 ? json_integer(at) : json_null()));
  }
  return a;
}
