/* SPDX-License-Identifier: GPL-2.0-or-later */
/* priv: see priv.h. */
#include "priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define MAX_GROUPS 64

static struct {
  bool active;
  char user[64];
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  int n_groups;
  char *roots[PRIV_MAX_SHARE_ROOTS + 1];
} P;

bool priv_active(void) {
  return P.active;
}

const char *priv_user(void) {
  return P.user;
}

uid_t priv_uid(void) {
  return P.active ? P.uid : geteuid();
}

gid_t priv_gid(void) {
  return P.active ? P.gid : getegid();
}

const char *const *priv_share_roots(void) {
  return (const char *const *)P.roots;
}

/* Whether the user may search (x) a directory with these owner and mode, by the classic rules
 * (the owner's bits for the owner, else the group's for a member, else the others'). */
static bool user_can_search(const struct stat *st) {
  if (st->st_uid == P.uid)
    return st->st_mode & S_IXUSR;
  bool member = st->st_gid == P.gid;
  for (int i = 0; i < P.n_groups && !member; i++)
    member = P.groups[i] == st->st_gid;
  return st->st_mode & (member ? S_IXGRP : S_IXOTH);
}

/* Every directory above DATA must let the user through: QEMU opens files under DATA by path. */
static int check_ancestors(const char *data, char *err, size_t errlen) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s", data);
  for (char *slash = strrchr(path, '/'); slash; slash = strrchr(path, '/')) {
    if (slash == path)
      slash[1] = 0; /* "/" itself */
    else
      *slash = 0;
    struct stat st;
    if (stat(path, &st) < 0) {
      snprintf(err, errlen, "cannot check %s: %s", path, strerror(errno));
      return -1;
    }
    if (!user_can_search(&st)) {
      snprintf(err, errlen,
               "user %s (uid %u), which runs QEMU, cannot reach the data directory %s: %s is mode %04o, "
               "owner %u:%u. Give it search permission (chmod o+x %s) or choose another --data-dir "
               "(for a daemon run as root, for instance /var/lib/qemu-hmos)",
               P.user, (unsigned)P.uid, data, path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
               (unsigned)st.st_gid, path);
      return -1;
    }
    if (slash == path)
      break;
  }
  return 0;
}

/* lstat of PATH that is not a symlink: 1, 0 when it does not exist, -1 (ELOOP for a symlink). */
static int lstat_nolink(const char *path, struct stat *st) {
  if (lstat(path, st) < 0)
    return errno == ENOENT ? 0 : -1;
  if (S_ISLNK(st->st_mode)) {
    errno = ELOOP;
    return -1;
  }
  return 1;
}

/* Add BITS to the mode of PATH (not through a symlink); nothing when PATH does not exist. */
static int add_mode(const char *path, mode_t bits) {
  struct stat st;
  int e = lstat_nolink(path, &st);
  if (e <= 0)
    return e;
  if ((st.st_mode & bits) == bits)
    return 0;
  return chmod(path, (st.st_mode & 07777) | bits);
}

int priv_traversable(const char *dir) {
  return P.active ? add_mode(dir, S_IXGRP | S_IXOTH) : 0;
}

int priv_own(const char *path, mode_t mode) {
  if (!P.active)
    return 0;
  struct stat st;
  int e = lstat_nolink(path, &st);
  if (e <= 0)
    return e;
  if ((st.st_uid != P.uid || st.st_gid != P.gid) && lchown(path, P.uid, P.gid) < 0)
    return -1;
  if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
    return -1;
  return 0;
}

/* The image library: readable by the user (files 0644 at least, the directory 0755). */
static int open_images(const char *dir) {
  if (add_mode(dir, 0755) < 0)
    return -1;
  DIR *d = opendir(dir);
  if (!d)
    return errno == ENOENT ? 0 : -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    struct stat st;
    if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(st.st_mode) || (st.st_mode & 0044) == 0044)
      continue;
    char p[PATH_MAX];
    if (fmt_path(p, sizeof(p), "%s/%s", dir, e->d_name) == 0 && chmod(p, (st.st_mode & 07777) | 0044) < 0)
      log_warn("cannot make %s readable to user %s: %s", p, P.user, strerror(errno));
  }
  closedir(d);
  return 0;
}

static int prepare_data_dir(const char *data_dir, char *err, size_t errlen) {
  char real[PATH_MAX], p[PATH_MAX + 32];
  if (mkdir_p(data_dir, 0711) < 0 || !realpath(data_dir, real)) {
    snprintf(err, errlen, "cannot create %s: %s", data_dir, strerror(errno));
    return -1;
  }
  if (check_ancestors(real, err, errlen) < 0)
    return -1;
  static const struct {
    const char *rel;
    mode_t mode;
  } dirs[] = {{"", 0711}, {"/vms", 0711}, {"/run", 0711}, {"/images", 0755}, {"/shared", 0711}};
  for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
    snprintf(p, sizeof(p), "%s%s", real, dirs[i].rel);
    if ((dirs[i].rel[0] && mkdir(p, dirs[i].mode) < 0 && errno != EEXIST) ||
        add_mode(p, dirs[i].mode & 0055) < 0) {
      snprintf(err, errlen, "cannot make %s reachable to user %s: %s", p, P.user, strerror(errno));
      return -1;
    }
  }
  snprintf(p, sizeof(p), "%s/images", real);
  open_images(p);
  snprintf(p, sizeof(p), "%s/run/freerdp", real); /* the RDP worker's FreeRDP files */
  if (priv_own(p, 0700) < 0) {
    snprintf(err, errlen, "cannot give %s to user %s: %s", p, P.user, strerror(errno));
    return -1;
  }
  return 0;
}

int priv_init(const char *run_as, const char *const *passthrough, size_t n_passthrough, const char *data_dir,
              char *err, size_t errlen) {
  if (n_passthrough > PRIV_MAX_SHARE_ROOTS) {
    snprintf(err, errlen, "--share-passthrough: at most %d", PRIV_MAX_SHARE_ROOTS);
    return -1;
  }
  for (size_t i = 0; i < n_passthrough; i++) {
    char real[PATH_MAX];
    struct stat st;
    errno = 0;
    if (!realpath(passthrough[i], real) || stat(real, &st) < 0 ||
        (!S_ISDIR(st.st_mode) && (errno = ENOTDIR))) {
      snprintf(err, errlen, "--share-passthrough: %s: %s", passthrough[i], strerror(errno ? errno : ENOTDIR));
      return -1;
    }
    P.roots[i] = xstrdup(real);
  }
  if (geteuid() != 0) {
    if (run_as) {
      snprintf(err, errlen,
               "--run-as needs the daemon to run as root (it runs as uid %u): otherwise QEMU, swtpm and "
               "the RDP worker run as the daemon's own user",
               (unsigned)geteuid());
      return -1;
    }
    return 0; /* nothing to drop: the children run as we do */
  }
  const char *name = run_as ? run_as : PRIV_DEFAULT_USER;
  struct passwd pw, *res = NULL;
  char buf[16384];
  int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
  if (!res) {
    snprintf(err, errlen,
             "user '%s' does not exist%s%s. As root, the daemon runs QEMU, swtpm and the RDP worker as "
             "this unprivileged user: create it with scripts/install-deps.sh (run as root), or with "
             "`useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin %s` "
             "(and `usermod -aG kvm %s` for KVM); or name another with --run-as USER, or run the daemon "
             "as yourself",
             name, rc ? ": " : "", rc ? strerror(rc) : "", name, name);
    return -1;
  }
  if (pw.pw_uid == 0) {
    snprintf(err, errlen, "--run-as: '%s' is root; name an unprivileged user", name);
    return -1;
  }
  if (strlen(name) >= sizeof(P.user)) {
    snprintf(err, errlen, "--run-as: user name too long");
    return -1;
  }
  int n = MAX_GROUPS;
  if (getgrouplist(name, pw.pw_gid, P.groups, &n) < 0) {
    snprintf(err, errlen, "user '%s' is in more than %d groups", name, MAX_GROUPS);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    if (P.groups[i] == 0) {
      snprintf(err, errlen, "user '%s' is in group root (gid 0); QEMU must not be", name);
      return -1;
    }
  }
  P.n_groups = n;
  P.uid = pw.pw_uid;
  P.gid = pw.pw_gid;
  snprintf(P.user, sizeof(P.user), "%s", name);
  P.active = true;
  if (prepare_data_dir(data_dir, err, errlen) < 0)
    return -1;
  log_info("QEMU, swtpm and RDP workers run as user %s (uid %u, gid %u)", P.user, (unsigned)P.uid,
           (unsigned)P.gid);
  return 0;
}

int priv_child_drop(bool groups) {
  if (!P.active)
    return 0;
  if (setgroups(groups ? (size_t)P.n_groups : 0, groups ? P.groups : NULL) < 0 || setgid(P.gid) < 0 ||
      setuid(P.uid) < 0)
    return -1;
  /* Every id changed, and root cannot be had back. */
  if (getuid() != P.uid || geteuid() != P.uid || getgid() != P.gid || getegid() != P.gid || setuid(0) == 0) {
    errno = EPERM;
    return -1;
  }
  return 0;
}

void priv_spawn_options(uv_process_options_t *o) {
  if (!P.active)
    return;
  /* libuv calls setgroups(0, NULL) first: swtpm and the RDP worker need no other group */
  o->flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
  o->uid = P.uid;
  o->gid = P.gid;
}

/* Files in DIR (owned by the user) left by an older daemon that ran them as root: swtpm must be
 * able to write its state and lock. Regular files with one link only (never a hard link made to
 * some other file), never through a symlink. */
static void own_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
        st.st_nlink != 1 || st.st_uid == P.uid)
      continue;
    if (fchownat(dirfd(d), e->d_name, P.uid, P.gid, AT_SYMLINK_NOFOLLOW) < 0)
      log_warn("cannot give %s/%s to user %s: %s", dir, e->d_name, P.user, strerror(errno));
  }
  closedir(d);
}

int priv_own_vm_dir(const char *dir, const char *const *disks, size_t n_disks, char *err, size_t errlen) {
  if (!P.active)
    return 0;
  char p[PATH_MAX];
  static const struct {
    const char *rel;
    mode_t mode; /* 0: only traversable, stays the daemon's */
  } items[] = {
      {"", 0}, {"logs", 0}, {"run", 0700}, {"tpm", 0700}, {"efivars.qcow2", 0600}, {"logs/swtpm.log", 0600}};
  for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
    if (fmt_path(p, sizeof(p), "%s%s%s", dir, items[i].rel[0] ? "/" : "", items[i].rel) < 0) {
      snprintf(err, errlen, "path too long: %s", dir);
      return -1;
    }
    if ((items[i].mode ? priv_own(p, items[i].mode) : priv_traversable(p)) < 0) {
      snprintf(err, errlen, "cannot make %s usable by user %s: %s", p, P.user, strerror(errno));
      return -1;
    }
  }
  snprintf(p, sizeof(p), "%s/tpm", dir);
  own_entries(p);
  size_t dl = strlen(dir);
  for (size_t i = 0; i < n_disks; i++) {
    const char *d = disks[i];
    /* only the VM's own disks, made by the daemon directly in its directory */
    if (strncmp(d, dir, dl) != 0 || d[dl] != '/' || strchr(d + dl + 1, '/'))
      continue;
    if (priv_own(d, 0600) < 0) {
      snprintf(err, errlen, "cannot give the disk %s to user %s: %s", d, P.user, strerror(errno));
      return -1;
    }
  }
  return 0;
}

int priv_access(const char *path, int mode) {
#ifdef __OHOS__
  /* An app is never root there (P is never active): no forked checker in the library. */
  return access(path, mode) == 0 ? 0 : errno;
#else
  if (!P.active)
    return access(path, mode) == 0 ? 0 : errno;
  pid_t pid = fork();
  if (pid < 0)
    return errno;
  if (pid == 0) { /* async-signal-safe calls only */
    if (priv_child_drop(true) < 0)
      _exit(255);
    if (access(path, mode) == 0)
      _exit(0);
    _exit(errno > 0 && errno < 255 ? errno : EACCES);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR)
      return errno;
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) == 255)
    return EPERM;
  return WEXITSTATUS(st);
#endif
}
