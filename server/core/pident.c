/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pident: see pident.h. */
#include "pident.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

int pident_read(pid_t pid, struct pident *out) {
  char path[64];
  size_t len = 0;
  memset(out, 0, sizeof(*out));
  if (pid <= 0) {
    errno = ESRCH;
    return -1;
  }
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  char *txt = read_file(path, 4096, &len);
  if (!txt) {
    errno = ESRCH;
    return -1;
  }
  /* "PID (COMM) S PPID ...": COMM may hold spaces and ')', so fields count from the last ')'. */
  char *p = strrchr(txt, ')');
  int rc = -1;
  if (p && p[1] == ' ' && p[2]) {
    out->pid = pid;
    out->state = p[2];
    char *save = NULL, *tok = strtok_r(p + 2, " ", &save);
    for (int field = 3; tok; field++, tok = strtok_r(NULL, " ", &save)) {
      if (field == 4)
        out->ppid = (pid_t)strtol(tok, NULL, 10);
      if (field == 6)
        out->sid = (pid_t)strtol(tok, NULL, 10);
      if (field == 22) {
        out->start_time = strtoull(tok, NULL, 10);
        rc = 0;
        break;
      }
    }
  }
  free(txt);
  if (rc == 0 && (out->state == 'Z' || out->state == 'X'))
    rc = -1;
  if (rc < 0)
    errno = ESRCH;
  return rc;
}

bool pident_is(pid_t pid, uint64_t start_time) {
  struct pident id;
  return pident_read(pid, &id) == 0 && id.start_time == start_time;
}

const char *pident_boot_id(void) {
  static char boot[40];
  static bool read;
  if (!read) {
    size_t n = 0;
    char *txt = read_file("/proc/sys/kernel/random/boot_id", 64, &n);
    if (txt)
      snprintf(boot, sizeof(boot), "%.*s", (int)strcspn(txt, "\n"), txt);
    free(txt);
    read = true;
  }
  return boot;
}

int64_t pident_start_unix(uint64_t start_time) {
  char *txt = read_file("/proc/stat", 1u << 20, NULL), *bt = txt ? strstr(txt, "\nbtime ") : NULL;
  long hz = sysconf(_SC_CLK_TCK);
  int64_t out = -1;
  if (bt && hz > 0)
    out = strtoll(bt + 7, NULL, 10) + (int64_t)(start_time / (uint64_t)hz);
  free(txt);
  return out;
}

int pident_exe(pid_t pid, char *out, size_t len) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
  ssize_t n = len > 1 ? readlink(path, out, len - 1) : -1;
  if (n < 0) {
    if (len)
      out[0] = 0;
    return -1;
  }
  out[n] = 0;
  return 0;
}

char *pident_cmdline(pid_t pid, size_t *len) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
  return read_file(path, 1u << 20, len);
}

uid_t pident_uid(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  char *txt = read_file(path, 1u << 16, NULL), *u = txt ? strstr(txt, "\nUid:") : NULL;
  uid_t uid = u ? (uid_t)strtoul(u + 5, NULL, 10) : (uid_t)-1;
  free(txt);
  return uid;
}

int pident_pidfd_open(pid_t pid) {
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

int pident_pidfd_signal(int pidfd, int sig) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int pident_pidfd_open_checked(pid_t pid, uint64_t start_time) {
  int fd = pident_pidfd_open(pid);
  if (fd >= 0 && !pident_is(pid, start_time)) {
    close(fd);
    errno = ESRCH;
    fd = -1;
  }
  return fd;
}

const char *pident_state_text(char state) {
  switch (state) {
  case 'T':
    return "stopped by a signal (SIGSTOP or SIGTSTP; SIGCONT resumes it)";
  case 't':
    return "stopped by a debugger (ptrace)";
  case 'D':
    return "waiting in the kernel (uninterruptible I/O)";
  case 'Z':
  case 'X':
    return "exited";
  default:
    return "";
  }
}
