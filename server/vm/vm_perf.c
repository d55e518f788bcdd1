/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_perf: performance modes on a running QEMU. What each mode does, by mechanisms that exist on
 * this host and on a device (HarmonyOS: an app's own processes, no cgroups of its own):
 *
 *   standard  QEMU's defaults: one host thread per vCPU (MTTCG), nice 0, no cap.
 *   saver     one host thread for all vCPUs (`-accel tcg,thread=single`: vm_argv.c; at the next
 *             start when changed while running), nice 10 on every thread, and where the host has
 *             a writable cgroup-v1 cpu controller, a cap of half a CPU for the whole VM (quota
 *             10 ms per 20 ms: a short period, so a keystroke waits 10 ms at most).
 *   turbo     nice -10 on every thread (needs CAP_SYS_NICE or RLIMIT_NICE: else said), in the
 *             daemon's own cpu group: each vCPU thread then weighs 9 times a normal task, so the
 *             VM takes ~90 % of a core from a busy program beside it. (A group of its own with a
 *             larger cpu.shares did less: the group's weight is split over the CPUs it runs on,
 *             measured by bench/perf.py.) On an idle host there is nothing to take.
 *
 * Threads QEMU makes later inherit the priority of the thread that makes them (Linux: per
 * thread), and the cgroup holds the whole process.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pident.h"
#include "util.h"
#include "vm_perf.h"
#include "vm_priv.h"

#define SAVER_NICE 10
#define TURBO_NICE (-10)
#define CG_PERIOD_US 20000
#define SAVER_QUOTA_US 10000 /* half a CPU */

static const char *const cg_roots[] = {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"};

/* This process's group in the cgroup-v1 cpu hierarchy (where QEMU starts, and where the VMs'
 * groups go) when it may make groups in it, into OUT; else NULL. */
static const char *cg_root(char *out, size_t outlen) {
  char own[256] = "/", line[512];
  FILE *f = fopen("/proc/self/cgroup", "r");
  while (f && fgets(line, sizeof(line), f)) { /* "4:cpu,cpuacct:/some/group" */
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2)
      continue;
    *c2 = 0;
    char *ctl = c1 + 1, *save = NULL;
    for (char *t = strtok_r(ctl, ",", &save); t; t = strtok_r(NULL, ",", &save))
      if (strcmp(t, "cpu") == 0) {
        snprintf(own, sizeof(own), "%.*s", (int)strcspn(c2 + 1, "\n"), c2 + 1);
        break;
      }
  }
  if (f)
    fclose(f);
  for (size_t i = 0; i < sizeof(cg_roots) / sizeof(cg_roots[0]); i++) {
    char p[600];
    snprintf(out, outlen, "%s%s", cg_roots[i], strcmp(own, "/") == 0 ? "" : own);
    snprintf(p, sizeof(p), "%s/cpu.cfs_quota_us", out);
    if (access(p, F_OK) == 0 && access(out, W_OK) == 0)
      return out;
  }
  return NULL;
}

/* DIR/NAME = VAL (a number: what cgroup files take). */
static int write_file(const char *dir, const char *name, long long val) {
  char p[600];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (!f)
    return -1;
  int ok = fprintf(f, "%lld", val) > 0;
  ok = (fclose(f) == 0) && ok;
  return ok ? 0 : -1;
}

static void note(json_t *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(json_t *list, const char *fmt, ...) {
  char buf[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  json_array_append_new(list, json_string(buf));
}

/* setpriority on every thread of PID; -1 with errno of the first failure. */
static int nice_all(pid_t pid, int nice, int *threads) {
  char p[64];
  snprintf(p, sizeof(p), "/proc/%d/task", (int)pid);
  DIR *d = opendir(p);
  if (!d)
    return -1;
  struct dirent *e;
  int rc = 0, err = 0;
  *threads = 0;
  while ((e = readdir(d))) {
    int tid = atoi(e->d_name);
    if (tid <= 0)
      continue;
    if (setpriority(PRIO_PROCESS, (id_t)tid, nice) < 0 && errno != ESRCH) {
      if (!rc)
        err = errno;
      rc = -1;
    } else {
      (*threads)++;
    }
  }
  closedir(d);
  errno = err;
  return rc;
}

/* With the kernel's autogroups (CONFIG_SCHED_AUTOGROUP, sched_autogroup_enabled), CPU time is
 * shared between sessions first: a thread's nice counts only within its session's group. QEMU has
 * a session of its own (the launcher's setsid), so its group's nice is the VM's: set it too.
 * 1 done, 0 nothing to do (no autogroups, or a session shared with others), -1 refused. */
static int autogroup_nice(pid_t pid, int nice) {
  struct pident id;
  char dir[64];
  if (pident_read(pid, &id) < 0 || id.sid != pid)
    return 0; /* gone, or not a session leader: its group is shared */
  snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
  if (write_file(dir, "autogroup", nice) == 0)
    return 1;
  return errno == ENOENT ? 0 : -1; /* ENOENT: a kernel without autogroups */
}

/* Into the VM's own group below ROOT/qemu-hmos (made as needed); its path into v->perf_cgroup. */
static int cg_join(struct vm *v, const char *root) {
  char dir[300];
  snprintf(dir, sizeof(dir), "%s/qemu-hmos", root);
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return -1;
  snprintf(v->perf_cgroup, sizeof(v->perf_cgroup), "%s/qemu-hmos/%s", root, v->cfg.id);
  if (mkdir(v->perf_cgroup, 0755) < 0 && errno != EEXIST)
    return -1;
  return write_file(v->perf_cgroup, "cgroup.procs", (long long)v->pid);
}

void vm_perf_apply(struct vm *v) {
  if (v->pid <= 0)
    return;
  vm_perf mode = v->cfg.perf;
  json_t *done = json_array(), *not_done = json_array();
  int threads = 0;
  int want_nice = mode == VM_PERF_SAVER ? SAVER_NICE : mode == VM_PERF_TURBO ? TURBO_NICE : 0;
  if (nice_all(v->pid, want_nice, &threads) == 0)
    note(done, "nice %d on %d threads", want_nice, threads);
  else
    note(not_done, "nice %d: %s", want_nice, strerror(errno));

  char root_buf[400];
  int ag = autogroup_nice(v->pid, want_nice);
  if (ag > 0)
    note(done, "nice %d on its session's scheduling group (autogroup)", want_nice);
  else if (ag < 0)
    note(not_done, "nice %d on its autogroup: %s", want_nice, strerror(errno));
  const char *root = cg_root(root_buf, sizeof(root_buf));
  if (!root) {
    if (mode == VM_PERF_SAVER)
      note(not_done, "CPU cap: no writable cpu cgroup on this host");
  } else if (mode != VM_PERF_SAVER) {
    if (v->perf_cgroup[0]) { /* back to the daemon's group: no cap, the default share */
      if (write_file(root, "cgroup.procs", (long long)v->pid) == 0 && rmdir(v->perf_cgroup) == 0)
        v->perf_cgroup[0] = 0;
    }
  } else if (cg_join(v, root) < 0) {
    note(not_done, "cpu cgroup %s: %s", v->perf_cgroup, strerror(errno));
  } else {
    const char *g = v->perf_cgroup;
    int rc = write_file(g, "cpu.cfs_period_us", CG_PERIOD_US);
    rc |= write_file(g, "cpu.cfs_quota_us", SAVER_QUOTA_US);
    if (rc == 0)
      note(done, "CPU cap: %d%% of one CPU (cgroup %s)", SAVER_QUOTA_US * 100 / CG_PERIOD_US, g);
    else
      note(not_done, "cpu cgroup %s: %s", g, strerror(errno));
  }
  /* The TCG thread mode is on QEMU's command line. */
  bool single = false, tcg = false;
  size_t i;
  json_t *a;
  json_array_foreach(v->argv, i, a) {
    const char *s = json_string_value(a);
    if (s && strncmp(s, "tcg,", 4) == 0) {
      tcg = true;
      single = strstr(s, "thread=single") != NULL;
    }
  }
  bool restart = tcg && single != (mode == VM_PERF_SAVER);
  if (tcg && !restart)
    note(done, "%s", single ? "one TCG thread for all vCPUs" : "one TCG thread per vCPU");
  json_decref(v->perf_applied);
  v->perf_applied = json_pack("{s:s, s:o, s:o, s:b}", "mode", vm_perf_names[mode], "applied", done,
                              "not_applied", not_done, "restart", restart);
  if (json_array_size(not_done))
    log_info("vm %s: performance %s: %s", v->cfg.id, vm_perf_names[mode],
             json_string_value(json_array_get(not_done, 0)));
  vm_dirty(v);
}

void vm_perf_release(struct vm *v) {
  if (v->perf_cgroup[0] && rmdir(v->perf_cgroup) < 0 && errno != ENOENT)
    log_warn("vm %s: cannot remove its cgroup %s: %s", v->cfg.id, v->perf_cgroup, strerror(errno));
  v->perf_cgroup[0] = 0;
  json_decref(v->perf_applied);
  v->perf_applied = NULL;
}

json_t *vm_perf_json(const struct vm *v) {
  return v->perf_applied ? json_incref(v->perf_applied) : NULL;
}
