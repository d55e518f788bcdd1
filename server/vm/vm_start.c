/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_start: starting a VM (POST start, autostart, a snapshot's -loadvm): the checks (state,
 * memory, paths confined and reachable), its swtpm when it has a TPM, its UEFI variable store,
 * then QEMU started through the launcher (launch.h) in its own session with the QMP socket it
 * listens on. From there vm_qmp.c and vm_exit.c take over. Core loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "launch.h"
#include "paths.h"
#include "pident.h"
#include "priv.h"
#include "proc.h"
#include "store.h"
#include "util.h"
#include "vm.h"
#include "vm_argv.h"
#include "vm_config.h"
#include "vm_efivars.h"
#include "vm_priv.h"
#include "vm_serial.h"
#include "vm_tools.h"
#include "vm_unattend.h"
#include "vm_virtiofs.h"

/* QMP's greeting: a QEMU that has not sent it this long after its start is killed (it loads the
 * machine first; with -loadvm also the memory of the snapshot). A reattached one is waited for. */
#define START_QMP_DEADLINE_MS 60000
#define LOADVM_QMP_DEADLINE_MS 600000

/* ---- the QEMU process ---- */

int vm_unix_listen(const char *path, char *err, size_t errlen) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path)) {
    snprintf(err, errlen, "socket path too long for a unix socket: %s (move the data directory)", path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
    snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  fchmodat(AT_FDCWD, path, 0600, AT_SYMLINK_NOFOLLOW); /* run/ is QEMU's user's: never through a link */
  return fd;
}

int vm_unix_pair(const char *path, int *listen_fd, int *conn_fd, char *err, size_t errlen) {
  int l = vm_unix_listen(path, err, errlen);
  if (l < 0)
    return -1;
  struct sockaddr_un sa = {.sun_family = AF_UNIX}; /* (the length was checked by the listen) */
  strcpy(sa.sun_path, path);
  int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  /* The listener's owner has not accepted yet: the connection waits in its backlog. */
  if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
    if (c >= 0)
      close(c);
    close(l);
    return -1;
  }
  *listen_fd = l;
  *conn_fd = c;
  return 0;
}

/* ---- host files ---- */

static bool regular_file(const char *path, char *err, size_t errlen, const char *field);

/* The config's host paths (cdrom, drivers_iso, kernel, initrd, shared folders) must lie inside the allowed
 * roots (paths.h). RESOLVE: each is replaced by its resolved form (create, patch), so what QEMU
 * opens is what was checked; at start it is only checked. 0, or -1 with ERR. */
int vm_confine_paths(const struct path_roots *pr, struct vm_config *c, bool resolve, char *err,
                     size_t errlen) {
  char out[PATH_MAX];
  struct {
    const char *field;
    char *path;
    size_t size;
  } f[4 + VM_MAX_SHARES] = {{"cdrom", c->cdrom, sizeof(c->cdrom)},
                            {"kernel_boot.kernel", c->kboot.kernel, sizeof(c->kboot.kernel)},
                            {"kernel_boot.initrd", c->kboot.initrd, sizeof(c->kboot.initrd)},
                            {"drivers_iso", c->drivers_iso, sizeof(c->drivers_iso)}};
  size_t n = 4;
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

/* The files and directories of the config that must exist (cdrom, drivers_iso, kernel, initrd, shared
 * folders); false with the reason. At create, patch and start: they may go away in between. */
bool vm_host_files_ok(const struct vm_config *c, char *err, size_t errlen) {
  if (c->cdrom[0] && !regular_file(c->cdrom, err, errlen, "cdrom"))
    return false;
  if (c->drivers_iso[0] && !regular_file(c->drivers_iso, err, errlen, "drivers_iso"))
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

/* The snapshot a start loads (-loadvm), or none: its name, and the machine type and -cpu it was
 * saved with, read once by vm_start_from (found: what store_snap_machine_get answered; STORE_NOT_FOUND
 * also for a snapshot from before they were recorded, and for a plain start). */
struct start_snap {
  const char *name; /* NULL: a plain start */
  int found;
  struct store_snap_machine saved; /* when found is STORE_OK */
};

static void vm_start_now(struct vm *v, struct core_req *r, const struct start_snap *snap);
static void start_vars(struct vm *v, struct core_req *r, const struct start_snap *snap);

/* The files QEMU opens by path outside the VM's directory (cdrom, drivers_iso, kernel, initrd, shared
 * folders) must be usable by the user it runs as (priv.h: the unprivileged user when the daemon is root);
 * false with the reason, so that a start fails with it instead of QEMU's exit. */
static bool host_files_reachable(const struct vm_config *c, char *err, size_t errlen) {
  struct {
    char field[40];
    const char *path;
    int mode;
  } f[4 + VM_MAX_SHARES];
  size_t n = 0;
  const char *const files[4][2] = {{"cdrom", c->cdrom},
                                   {"kernel_boot.kernel", c->kboot.kernel},
                                   {"kernel_boot.initrd", c->kboot.initrd},
                                   {"drivers_iso", c->drivers_iso}};
  for (size_t i = 0; i < 4; i++) {
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
void vm_tpm_stop(struct vm *v) {
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
  struct start_snap snap; /* its name a copy, freed with the context */
};

static struct tpm_ctx *tpm_ctx_new(struct vm *v, struct core_req *r, const struct start_snap *snap) {
  struct tpm_ctx *t = xcalloc(1, sizeof(*t));
  t->v = v;
  t->r = r;
  t->snap = *snap;
  t->snap.name = snap->name ? xstrdup(snap->name) : NULL;
  return t;
}

static void tpm_ctx_free(struct tpm_ctx *t) {
  free((char *)t->snap.name);
  free(t);
}

static void on_swtpm(const struct proc_result *res, void *ud) {
  struct tpm_ctx *t = ud;
  t->v->busy = false;
  if (res->exit_status != 0) {
    core_req_reply_error(t->r, 500, "internal", "tpm: swtpm did not start: %s",
                         res->err[0] ? res->err : "no message");
  } else {
    tpm_record(t->v);
    start_vars(t->v, t->r, &t->snap);
  }
  tpm_ctx_free(t);
}

static void tpm_start(struct vm *v, struct core_req *r, const struct start_snap *snap) {
  char state[4300], sock[4300], pidf[4300], log[4300], a_state[4400], a_ctrl[4400], a_pid[4400], a_log[4400];
  vm_path(v, "tpm", state, sizeof(state));
  mkdir_p(state, 0700);
  vm_path(v, "run", sock, sizeof(sock));
  mkdir_p(sock, 0700);
  vm_path(v, "logs", log, sizeof(log));
  mkdir_p(log, 0700);
  vm_tpm_stop(v); /* one left from a start that failed */
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
  struct tpm_ctx *t = tpm_ctx_new(v, r, snap);
  v->busy = true; /* no second start, no delete, until QEMU runs */
  proc_run_unprivileged(v->m->c->launcher, argv, on_swtpm, t); /* --daemon: returns once it listens */
}

/* ---- UEFI variable store (vm_efivars.h): made, or an older raw one converted, before QEMU ---- */

static bool vm_uefi(const struct vm *v) {
  return v->cfg.arch == VM_ARCH_AARCH64 || v->cfg.uefi;
}

static void on_efivars(const char *err, void *ud) {
  struct tpm_ctx *t = ud; /* the same three things to carry */
  t->v->busy = false;
  if (err) {
    vm_tpm_stop(t->v); /* one started for this QEMU would wait for it */
    core_req_reply_error(t->r, 500, "internal", "firmware: %s", err);
  } else {
    vm_start_now(t->v, t->r, &t->snap);
  }
  tpm_ctx_free(t);
}

static void efivars_start(struct vm *v, struct core_req *r, const struct start_snap *snap) {
  struct core *c = v->m->c;
  char dir[4200], tmpl[4300];
  snprintf(dir, sizeof(dir), "%s/vms/%s", c->data_dir, v->cfg.id);
  if (v->cfg.arch == VM_ARCH_AARCH64)
    snprintf(tmpl, sizeof(tmpl), "%s", c->host.aavmf_vars);
  else
    snprintf(tmpl, sizeof(tmpl), "%s/%s", c->host.ovmf_dir,
             v->cfg.secure_boot ? VM_OVMF_VARS_SECURE : VM_OVMF_VARS);
  struct tpm_ctx *t = tpm_ctx_new(v, r, snap);
  v->busy = true; /* no second start, no delete, until it is made */
  vm_efivars_make(c->launcher, c->host.qemu_img, dir, tmpl, on_efivars, t);
}

/* After the answer CD (when the VM has one), before QEMU. */
static void start_firmware(struct vm *v, struct core_req *r, const struct start_snap *snap) {
  if (vm_uefi(v)) {
    efivars_start(v, r, snap);
    return;
  }
  vm_start_now(v, r, snap);
}

/* ---- the second CD, written and made into an ISO at each start: the Windows answer CD
 * (vm_unattend.h) and/or the guest tools (vm_tools.h; on the answer CD when both) ---- */

static void on_cd1_iso(const struct proc_result *res, void *ud) {
  struct tpm_ctx *t = ud;
  struct vm *v = t->v;
  const char *what = v->cfg.unattend.set ? "unattend: the answer CD" : "guest_tools: the tools CD";
  char name[32], tmp[4300], iso[4300], err[1024];
  snprintf(name, sizeof(name), "%s.tmp", vm_cd1_iso(&v->cfg));
  vm_path(v, name, tmp, sizeof(tmp));
  vm_path(v, vm_cd1_iso(&v->cfg), iso, sizeof(iso));
  v->busy = false;
  if (res->exit_status != 0 || rename(tmp, iso) < 0) {
    unlink(tmp);
    vm_tpm_stop(v);
    core_req_reply_error(t->r, 500, "internal", "%s was not made: %s", what,
                         res->err[0] ? res->err : "xorriso failed");
  } else if (own_vm_files(v, err, sizeof(err)) < 0) {
    vm_tpm_stop(v);
    core_req_reply_error(t->r, 500, "internal", "%s: %s", what, err);
  } else {
    start_firmware(v, t->r, &t->snap);
  }
  tpm_ctx_free(t);
}

/* DIR/NAME holds TEXT (mode MODE), or, TEXT NULL, is gone: a file the CD no longer carries. */
static bool put_cd_file(const char *dir, const char *name, const char *text, mode_t mode, char *err,
                        size_t errlen) {
  char path[4400];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  if (!text) {
    if (unlink(path) < 0 && errno != ENOENT) {
      snprintf(err, errlen, "%s: %s", path, strerror(errno));
      return false;
    }
    return true;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  size_t n = strlen(text);
  bool ok = fd >= 0 && fchmod(fd, mode) == 0 && write(fd, text, n) == (ssize_t)n;
  if (fd >= 0 && close(fd) < 0)
    ok = false;
  if (!ok)
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
  return ok;
}

static void cd1_start(struct vm *v, struct core_req *r, const struct start_snap *snap) {
  struct core *c = v->m->c;
  bool un = v->cfg.unattend.set, tools = v->cfg.guest_tools;
  char dir[4300], name[32], tmp[4300], err[4600];
  if (!c->host.xorriso[0] || !launch_runnable(c->launcher, c->host.xorriso)) {
    vm_tpm_stop(v);
    core_req_reply_error(r, 409, "unavailable", "%s needs xorriso, which %s",
                         un ? "unattend: the answer CD" : "guest_tools: the tools CD",
                         c->host.xorriso[0] ? "the child launcher cannot run (a program, not a library entry)"
                                            : "this host lacks (apt-get install xorriso)");
    return;
  }
  vm_path(v, un ? "unattend" : "tools", dir, sizeof(dir));
  mkdir_p(dir, 0700);
  char *xml = un ? vm_unattend_xml(&v->cfg) : NULL;
  char *conf = tools ? vm_tools_shares_conf(&v->cfg) : NULL;
  /* -r below: the modes on the CD are these, made readable by all (linux.sh executable). */
  bool ok = put_cd_file(dir, "autounattend.xml", xml, 0600, err, sizeof(err)) &&
            put_cd_file(dir, "qhm-setup.ps1", vm_unattend_setup_ps1, 0600, err, sizeof(err)) &&
            put_cd_file(dir, "linux.sh", tools ? vm_tools_linux_sh : NULL, 0700, err, sizeof(err)) &&
            put_cd_file(dir, "shares.conf", conf, 0600, err, sizeof(err)) &&
            put_cd_file(dir, "README.txt", tools ? vm_tools_readme : NULL, 0600, err, sizeof(err));
  if (xml) {
    explicit_bzero(xml, strlen(xml)); /* it holds the account's password */
    free(xml);
  }
  free(conf);
  if (!ok) {
    vm_tpm_stop(v);
    core_req_reply_error(r, 500, "internal", "%s: %s", un ? "unattend" : "guest_tools", err);
    return;
  }
  snprintf(name, sizeof(name), "%s.tmp", vm_cd1_iso(&v->cfg));
  vm_path(v, name, tmp, sizeof(tmp));
  unlink(tmp);
  char *argv[] = {c->host.xorriso,
                  "-as",
                  "mkisofs",
                  "-quiet",
                  "-V",
                  un ? "QHM_UNATTEND" : VM_TOOLS_LABEL,
                  "-J",
                  "-joliet-long",
                  "-r",
                  "-o",
                  tmp,
                  dir,
                  NULL};
  struct tpm_ctx *t = tpm_ctx_new(v, r, snap);
  v->busy = true; /* no second start, no delete, until QEMU runs */
  proc_run(c->launcher, argv, on_cd1_iso, t);
}

/* After swtpm (when the VM has a TPM), before QEMU. */
static void start_vars(struct vm *v, struct core_req *r, const struct start_snap *snap) {
  if (vm_cd1_iso(&v->cfg)) {
    cd1_start(v, r, snap);
    return;
  }
  start_firmware(v, r, snap);
}

/* ---- start ---- */

void vm_start_from(struct vm *v, struct core_req *r, const char *loadvm) {
  struct core *c = v->m->c;
  char err[1024] = "";

  if (v->state == ST_ORPHANED) {
    vm_orphans_refuse(v, r, "start");
    return;
  }
  if (vm_active(v)) {
    core_req_reply_error(r, 409, "invalid_state", "cannot start: the VM is %s", vm_state_names[v->state]);
    return;
  }
  if (v->busy) {
    core_req_reply_error(r, 409, "busy", "cannot start: a snapshot or disk operation is running");
    return;
  }
  if (v->snap_pending[0]) { /* its disks may be out of step: a start would write on them */
    core_req_reply_error(r, 409, "invalid_state", "cannot start: %s", v->snap_pending);
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
  if (vm_confine_paths(c->roots, &v->cfg, false, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 403, "path_not_allowed", "%s", err);
    return;
  }
  if (!vm_host_files_ok(&v->cfg, err, sizeof(err))) {
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
  const struct host_caps *caps = &c->host.caps[v->cfg.arch];
  if (caps->checked && !caps->ok) {
    core_req_reply_error(r, 409, "unavailable", "%s guests: %s failed its start-up check: %s",
                         vm_arch_name(v->cfg.arch), c->host.binary[v->cfg.arch], caps->error);
    return;
  }
  struct start_snap snap = {.name = loadvm, .found = STORE_NOT_FOUND};
  if (loadvm)
    snap.found = store_snap_machine_get(c->store, v->cfg.id, loadvm, &snap.saved);
  if (snap.found == STORE_OK && !host_caps_has_machine(&c->host, v->cfg.arch, snap.saved.machine)) {
    core_req_reply_error(r, 409, "snapshot_incompatible",
                         "'%s' was saved on machine type %s, which QEMU %s (%s) does not have", loadvm,
                         snap.saved.machine, caps->version, c->host.binary[v->cfg.arch]);
    return;
  }
  if (v->cfg.tpm && !c->host.swtpm[0]) {
    core_req_reply_error(r, 409, "unavailable", "tpm: swtpm is not installed (Debian package swtpm)");
    return;
  }
  if (vm_virtiofs_check(c, &v->cfg, err, sizeof(err)) < 0) {
    core_req_reply_error(r, 409, "unavailable", "%s", err);
    return;
  }
  if (loadvm && vm_config_has_virtiofs(&v->cfg)) {
    core_req_reply_error(r, 409, "snapshot_incompatible",
                         "'%s' holds the VM's memory, which cannot be restored with virtiofs shared folders "
                         "(QEMU cannot save or load a vhost-user-fs device): make them 9p to restore it",
                         loadvm);
    return;
  }
  if (v->cfg.tpm) { /* its TPM first: QEMU connects to swtpm's socket when it starts */
    tpm_start(v, r, &snap);
    return;
  }
  start_vars(v, r, &snap);
}

/* Closes each descriptor of FDS that is open, and marks it so. */
static void close_all(int fds[VM_MAX_SHARES]) {
  for (size_t i = 0; i < VM_MAX_SHARES; i++)
    if (fds[i] >= 0)
      close(fds[i]), fds[i] = -1;
}

static void vm_start_now(struct vm *v, struct core_req *r, const struct start_snap *snap) {
  struct core *c = v->m->c;
  char err[1024] = "", path[4200];
  struct vm_argv av = {0};
  int qmpfd = -1, serialfd = -1, serial_conn = -1, logfd = -1, nullfd = -1;
  _Static_assert(VM_MAX_SHARES == 4, "one -1 per share below");
  int vfs[VM_MAX_SHARES] = {-1, -1, -1, -1};
  struct vm_paths p;
  snprintf(p.dir, sizeof(p.dir), "%s/vms/%s", c->data_dir, v->cfg.id);
  if (vm_argv_build(&v->cfg, &c->host.facts, &p, &av, err, sizeof(err)) < 0) {
    vm_tpm_stop(v);
    core_req_reply_error(r, 500, "internal", "%s", err);
    return;
  }
  /* The saved state loads only on the machine type it was saved on (vm_start_from read and checked
   * it) and means the same only with its CPU. A snapshot from before they were recorded: the alias,
   * and the CPU of the command lines then (vm_argv.h). */
  const char *cpu = vm_argv_get(&av, "-cpu");
  if (snap->name && snap->found == STORE_NOT_FOUND && cpu && strcmp(cpu, VM_CPU_AARCH64_TCG) == 0)
    vm_argv_set_cpu(&av, VM_CPU_AARCH64_TCG_OLD);
  if (snap->found == STORE_OK &&
      (vm_argv_set_machine(&av, snap->saved.machine) < 0 || vm_argv_set_cpu(&av, snap->saved.cpu) < 0)) {
    snprintf(err, sizeof(err), "'%s' names machine type '%s' and -cpu '%s', which are not one", snap->name,
             snap->saved.machine, snap->saved.cpu);
    goto fail;
  }
  if (snap->name) { /* this start only: not part of the config */
    av.argv = xrealloc(av.argv, (av.argc + 3) * sizeof(char *));
    av.argv[av.argc++] = xstrdup("-loadvm");
    av.argv[av.argc++] = xstrdup(snap->name);
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
  if ((qmpfd = vm_unix_listen(path, err, sizeof(err))) < 0)
    goto fail;
  vm_path(v, "run/serial.sock", path, sizeof(path));
  if (vm_unix_pair(path, &serialfd, &serial_conn, err, sizeof(err)) < 0)
    goto fail;
  /* Its virtiofs shares' servers, each with a connection QEMU inherits (VM_ARGV_VIRTIOFS_FD). */
  if (vm_virtiofs_start(v, vfs, err, sizeof(err)) < 0)
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

  /* Its own session (a daemon crash does not take it down), the JIT grant, the VMs' user; the
   * QMP listener as descriptor VM_ARGV_QMP_FD, its output to the log. */
  struct launch_spec spec = {.name = "qemu",
                             .argv = av.argv,
                             .fds = {nullfd, logfd, logfd, qmpfd, serialfd},
                             .n_fds = VM_ARGV_SERIAL_FD + 1,
                             .flags = LAUNCH_DETACH | LAUNCH_JIT_GRANT | LAUNCH_UNPRIVILEGED};
  for (size_t i = 0; i < VM_MAX_SHARES; i++) {
    if (vfs[i] >= 0) {
      spec.fds[VM_ARGV_VIRTIOFS_FD(i)] = vfs[i];
      spec.n_fds = (unsigned)VM_ARGV_VIRTIOFS_FD(i) + 1;
    } else if (VM_ARGV_VIRTIOFS_FD(i) < LAUNCH_MAX_FDS) {
      spec.fds[VM_ARGV_VIRTIOFS_FD(i)] = -1;
    }
  }
  struct launch_child child;
  int spawned = launch_spawn(c->launcher, &spec, &child, err, sizeof(err));
  close(qmpfd);
  close(serialfd);
  close(logfd);
  close(nullfd);
  qmpfd = serialfd = logfd = nullfd = -1;
  close_all(vfs);
  if (spawned < 0) {
    json_decref(argv_json);
    goto fail;
  }
  vm_serial_begin(v, serial_conn); /* owns it now */
  serial_conn = -1;
  vm_argv_free(&av);
  pid_t pid = child.pid;
  if (child.status_fd >= 0) /* (QMP and the exit note say how a VM ended) */
    close(child.status_fd);

  v->is_child = child.own;
  v->adopted = v->confirmed = false;
  v->quit_requested = v->guest_shutdown = false;
  v->fail_note[0] = 0;
  /* Who it is, for a restarted daemon: read now, the forked child exists (a wrapper script that
   * execs QEMU later keeps this pid and start time). */
  struct pident id;
  if (pident_read(pid, &id) < 0)
    id.start_time = 0;
  int pidfd = child.pidfd >= 0 ? child.pidfd : pident_pidfd_open(pid);
  if (pidfd < 0) {
    /* Without a pidfd the VM cannot be supervised (Force stop signals through it): do not leave
     * it running unwatched. */
    kill(pid, SIGKILL);
    if (child.own)
      waitpid(pid, NULL, 0);
    json_decref(argv_json);
    core_req_reply_error(r, 500, "internal", "pidfd_open: %s", strerror(errno));
    return;
  }
  vm_watch_pidfd(v, pid, pidfd, child.own);
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
  vm_connect_qmp(v);
  v->ready_deadline_ms = snap->name ? LOADVM_QMP_DEADLINE_MS : START_QMP_DEADLINE_MS;
  uv_timer_start(v->ready_timer, vm_on_ready_timer, v->ready_deadline_ms, 0);
  return;

fail:
  vm_tpm_stop(v);
  close_all(vfs);
  vm_virtiofs_stop(v);
  vm_argv_free(&av);
  if (qmpfd >= 0)
    close(qmpfd);
  if (serialfd >= 0)
    close(serialfd);
  if (serial_conn >= 0)
    close(serial_conn);
  if (logfd >= 0)
    close(logfd);
  if (nullfd >= 0)
    close(nullfd);
  core_req_reply_error(r, 500, "internal", "%s", err);
}
