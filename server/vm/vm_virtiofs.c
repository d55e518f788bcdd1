/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm_virtiofs: see vm_virtiofs.h. */
#include "vm_virtiofs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "launch.h"
#include "pident.h"
#include "priv.h"
#include "util.h"
#include "vm_priv.h"

bool vm_virtiofs_available(struct core *c, char *why, size_t whylen) {
  const char *bin = c->host.virtiofsd;
  if (!bin[0]) {
    snprintf(why, whylen,
             "virtiofs needs virtiofsd, which this host lacks (Debian 12: /usr/lib/qemu/virtiofsd, package "
             "qemu-system-common); use \"9p\"");
    return false;
  }
  /* As the daemon's own user: virtiofsd drops supplementary groups first, which its namespace
   * cannot (the user's groups cannot be mapped there). */
  if (!priv_active() && getgroups(0, NULL) > 0) {
    snprintf(why, whylen,
             "virtiofs needs the daemon run as root, or as a user without supplementary groups (virtiofsd "
             "drops them, which an unprivileged namespace cannot); use \"9p\"");
    return false;
  }
  if (!launch_runnable(c->launcher, bin)) {
    snprintf(why, whylen,
             "virtiofs cannot run under the %s launcher (virtiofsd is a program, not a library); use \"9p\"",
             launcher_backend_name(c->launcher));
    return false;
  }
  return true;
}

int vm_virtiofs_check(struct core *c, const struct vm_config *cfg, char *err, size_t errlen) {
  for (size_t i = 0; i < cfg->n_shares; i++) {
    char why[300];
    if (cfg->shares[i].mode == VM_SHARE_VIRTIOFS && !vm_virtiofs_available(c, why, sizeof(why))) {
      snprintf(err, errlen, "shared_folders[%zu].mode: %s", i, why);
      return -1;
    }
  }
  return 0;
}

static void pid_file(struct vm *v, size_t i, char *out, size_t outlen) {
  char rel[40];
  snprintf(rel, sizeof(rel), "run/virtiofsd-%zu.pid", i);
  vm_path(v, rel, out, outlen);
}

static void on_vfs_exit(pid_t pid, int status, void *ud) {
  struct vm_vfs *p = ud;
  p->watch = NULL;
  close(p->pidfd);
  p->pidfd = -1;
  if (status > 0) /* 0: it ended as it should once QEMU went */
    log_info("vm %s: virtiofsd %d of shared folder %zu ended with status %d", p->v->cfg.id, (int)pid,
             (size_t)(p - p->v->vfs), status);
}

/* Start share I's virtiofsd on LISTEN_FD. 0, or -1 with ERR. */
static int start_one(struct vm *v, size_t i, int listen_fd, char *err, size_t errlen) {
  const struct vm_share *sh = &v->cfg.shares[i];
  char log[4300], rel[40], a_source[8300];
  snprintf(rel, sizeof(rel), "logs/virtiofsd-%zu.log", i);
  vm_path(v, rel, log, sizeof(log));
  int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (logfd < 0) {
    snprintf(err, errlen, "%s: %s", log, strerror(errno));
    return -1;
  }
  dprintf(logfd, "=== qemu-hmos: virtiofsd for shared folder %zu ('%s', %s%s)\n", i, sh->tag, sh->path,
          sh->readonly ? ", read-only" : "");
  /* -o's options are split at commas: a comma or backslash in the path is escaped with one. */
  size_t k = (size_t)snprintf(a_source, sizeof(a_source), "source=");
  for (const char *q = sh->path; *q && k + 2 < sizeof(a_source); q++) {
    if (*q == ',' || *q == '\\')
      a_source[k++] = '\\';
    a_source[k++] = *q;
  }
  a_source[k] = 0;
  /* --fd: the socket is made (and QEMU's end connected) by the daemon. sandbox=namespace: its own
   * pid, net and mount namespaces, pivoted into the share. --rlimit-nofile=0: as it finds it (an
   * unprivileged process may not raise it). */
  char *argv[] = {
      v->m->c->host.virtiofsd, "--fd=3", "-o", a_source, "-o", "sandbox=namespace", "-o", "cache=auto",
      "--rlimit-nofile=0",     NULL};
  struct launch_spec spec = {.name = "virtiofsd",
                             .argv = argv,
                             .fds = {-1, logfd, logfd, listen_fd},
                             .n_fds = 4,
                             .flags = LAUNCH_DETACH | LAUNCH_UNPRIVILEGED | LAUNCH_SHARE_NS,
                             .share_dir = sh->path,
                             .share_readonly = sh->readonly};
  struct launch_child child;
  int rc = launch_spawn(v->m->c->launcher, &spec, &child, err, errlen);
  close(logfd);
  if (rc < 0)
    return -1;
  if (child.status_fd >= 0)
    close(child.status_fd);
  struct pident id;
  char path[4300], line[64];
  pid_file(v, i, path, sizeof(path));
  if (pident_read(child.pid, &id) == 0) {
    int n = snprintf(line, sizeof(line), "%d %" PRIu64 "\n", (int)child.pid, id.start_time);
    if (write_file_atomic(path, line, (size_t)n, 0600) < 0)
      log_warn("vm %s: %s: %s", v->cfg.id, path, strerror(errno));
  }
  struct vm_vfs *p = &v->vfs[i];
  p->v = v;
  p->pidfd = child.pidfd >= 0 ? child.pidfd : pident_pidfd_open(child.pid);
  if (p->pidfd >= 0)
    p->watch = launch_watch(
        v->m->c->launcher,
        &(struct launch_child){.pid = child.pid, .pidfd = p->pidfd, .own = child.own, .status_fd = -1},
        on_vfs_exit, p);
  return 0;
}

int vm_virtiofs_start(struct vm *v, int qfds[VM_MAX_SHARES], char *err, size_t errlen) {
  for (size_t i = 0; i < VM_MAX_SHARES; i++)
    qfds[i] = -1;
  vm_virtiofs_stop(v); /* any left from an earlier run */
  for (size_t i = 0; i < v->cfg.n_shares; i++) {
    if (v->cfg.shares[i].mode != VM_SHARE_VIRTIOFS)
      continue;
    /* The socket: the listening end for virtiofsd, an end connected to it for QEMU; its path is
     * only needed to connect, and goes. */
    char rel[40], path[4300];
    snprintf(rel, sizeof(rel), "run/virtiofs-%zu.sock", i);
    vm_path(v, rel, path, sizeof(path));
    int lfd = -1;
    bool paired = vm_unix_pair(path, &lfd, &qfds[i], err, errlen) == 0;
    unlink(path);
    bool ok = paired && start_one(v, i, lfd, err, errlen) == 0;
    if (lfd >= 0)
      close(lfd); /* virtiofsd has it */
    if (!ok) {
      for (size_t k = 0; k <= i; k++)
        if (qfds[k] >= 0)
          close(qfds[k]), qfds[k] = -1;
      vm_virtiofs_stop(v);
      return -1;
    }
  }
  return 0;
}

void vm_virtiofs_stop(struct vm *v) {
  for (size_t i = 0; i < VM_MAX_SHARES; i++) {
    char path[4300];
    pid_file(v, i, path, sizeof(path));
    char *txt = read_file_owned(path, geteuid(), 64, NULL);
    if (!txt)
      continue;
    long pid = 0;
    uint64_t start = 0;
    if (sscanf(txt, "%ld %" SCNu64, &pid, &start) == 2 && pid > 0 && pident_is((pid_t)pid, start)) {
      log_info("vm %s: stopping virtiofsd %ld of shared folder %zu", v->cfg.id, pid, i);
      kill((pid_t)pid, SIGTERM);
    }
    free(txt);
    unlink(path);
  }
}

void vm_virtiofs_release(struct vm *v) {
  for (size_t i = 0; i < VM_MAX_SHARES; i++) {
    struct vm_vfs *p = &v->vfs[i];
    if (p->watch) {
      launch_watch_cancel(p->watch);
      p->watch = NULL;
    }
    if (p->pidfd >= 0) {
      close(p->pidfd);
      p->pidfd = -1;
    }
  }
}
