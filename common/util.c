/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util: see util.h. */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_sink_fn log_sink;
static void *log_sink_ud;

void log_set_sink(log_sink_fn sink, void *ud) {
  pthread_mutex_lock(&log_lock);
  log_sink = sink;
  log_sink_ud = ud;
  pthread_mutex_unlock(&log_lock);
}

void qlog(enum log_level lvl, const char *fmt, ...) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  if (lvl > log_threshold)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[64], buf[1024], *msg = buf;
  snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl]);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof(buf)) { /* a long line (a command line): whole, as before */
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
      msg = buf; /* then cut */
    va_end(ap);
  }
  pthread_mutex_lock(&log_lock);
  if (log_sink) {
    char *line = NULL;
    if (asprintf(&line, "%s%s", stamp, msg) >= 0)
      log_sink(lvl, line, log_sink_ud);
    free(line);
  } else {
    fprintf(stderr, "%s%s\n", stamp, msg);
  }
  pthread_mutex_unlock(&log_lock);
  if (msg != buf)
    free(msg);
}

int fmt_path(char *out, size_t outlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, outlen, fmt, ap);
  va_end(ap);
  return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

void random_bytes(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      abort();
    }
    p += r;
    n -= (size_t)r;
  }
}

void random_hex(char *out, size_t nchars) {
  unsigned char b[64];
  size_t nb = (nchars + 1) / 2;
  if (nb > sizeof(b))
    abort();
  random_bytes(b, nb);
  for (size_t i = 0; i < nchars; i++)
    out[i] = "0123456789abcdef"[(b[i / 2] >> ((i % 2) ? 0 : 4)) & 15];
  out[nchars] = 0;
}

void random_uuid(char out[37]) {
  unsigned char b[16];
  random_bytes(b, sizeof(b));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
           b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int self_dir(char *out, size_t outlen) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    return -1;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (!slash || (size_t)(slash - self) >= outlen)
    return -1;
  *slash = 0;
  snprintf(out, outlen, "%s", self);
  return 0;
}

int mkdir_p(const char *path, mode_t mode) {
  char tmp[4096];
  if (fmt_path(tmp, sizeof(tmp), "%s", path) < 0) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = 0;
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(tmp, mode) < 0 && errno != EEXIST)
    return -1;
  return 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_rf(const char *path) {
  if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
    return -1;
  return 0;
}

static char *read_fd(int fd, size_t max, size_t *len);

char *read_file(const char *path, size_t max, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  return fd < 0 ? NULL : read_fd(fd, max, len);
}

char *read_file_owned(const char *path, uid_t owner, size_t max, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != owner)) {
    close(fd);
    errno = EINVAL;
    return NULL;
  }
  return fd < 0 ? NULL : read_fd(fd, max, len);
}

/* The rest of FD, which it closes. */
static char *read_fd(int fd, size_t max, size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = xmalloc(cap + 1);
  for (;;) {
    if (n == cap) {
      if (cap >= max) {
        free(buf);
        close(fd);
        errno = EFBIG;
        return NULL;
      }
      cap = cap * 2 > max ? max : cap * 2;
      buf = xrealloc(buf, cap + 1);
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      free(buf);
      close(fd);
      errno = e;
      return NULL;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  if (len)
    *len = n;
  return buf;
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
  char tmp[4096];
  if (fmt_path(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) < 0) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return -1;
  if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    errno = e;
    return -1;
  }
  close(fd);
  if (rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
  }
  return 0;
}

int copy_file(const char *src, const char *dst, mode_t mode) {
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return -1;
  int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (out < 0) {
    int e = errno;
    close(in);
    errno = e;
    return -1;
  }
  char buf[65536];
  int rc = 0;
  for (;;) {
    ssize_t r = read(in, buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      rc = r < 0 ? -1 : 0;
      break;
    }
    if (write_all(out, buf, (size_t)r) < 0) {
      rc = -1;
      break;
    }
  }
  int e = errno;
  close(in);
  if (close(out) < 0 && rc == 0)
    rc = -1;
  if (rc < 0) {
    unlink(dst);
    errno = e;
  }
  return rc;
}

char **tail_lines(const char *path, size_t n, size_t *count) {
  *count = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  struct stat st;
  if (fstat(fd, &st) < 0) {
    close(fd);
    return NULL;
  }
  /* Read backwards in chunks until N newlines (plus the partial last line) are seen. */
  off_t size = st.st_size, start = size;
  size_t want = n + 1, seen = 0;
  char *buf = NULL;
  size_t blen = 0;
  while (start > 0 && seen <= want) {
    size_t chunk = start > 65536 ? 65536 : (size_t)start;
    start -= (off_t)chunk;
    char *nb = xmalloc(chunk + blen + 1);
    ssize_t r = pread(fd, nb, chunk, start);
    if (r != (ssize_t)chunk) {
      free(nb);
      break;
    }
    if (buf)
      memcpy(nb + chunk, buf, blen);
    free(buf);
    buf = nb;
    blen += chunk;
    seen = 0;
    for (size_t i = 0; i < blen; i++)
      seen += buf[i] == '\n';
    if (blen > (size_t)16 << 20)
      break;
  }
  close(fd);
  if (!buf)
    return xcalloc(1, sizeof(char *));
  buf[blen] = 0;
  /* Split into lines; keep the last N non-terminal lines. */
  size_t nl = 0;
  for (size_t i = 0; i < blen; i++)
    nl += buf[i] == '\n';
  char **lines = xcalloc(nl + 2, sizeof(char *));
  size_t k = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save))
    lines[k++] = tok;
  size_t first = k > n ? k - n : 0;
  /* The first chunk boundary may have cut a line: drop it unless we read from offset 0. */
  if (start > 0 && first == 0 && k > 0)
    first = 1;
  char **out = xcalloc(k - first + 1, sizeof(char *));
  for (size_t i = first; i < k; i++)
    out[i - first] = xstrdup(lines[i]);
  *count = k - first;
  free(lines);
  free(buf);
  return out;
}

void free_strv(char **v) {
  if (!v)
    return;
  for (char **p = v; *p; p++)
    free(*p);
  free(v);
}

uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t now_unix(void) {
  return (int64_t)time(NULL);
}

const char *sig_abbrev(int sig) {
  static const char *const names[] = {
      [SIGHUP] = "HUP",   [SIGINT] = "INT",       [SIGQUIT] = "QUIT", [SIGILL] = "ILL",
      [SIGTRAP] = "TRAP", [SIGABRT] = "ABRT",     [SIGBUS] = "BUS",   [SIGFPE] = "FPE",
      [SIGKILL] = "KILL", [SIGUSR1] = "USR1",     [SIGSEGV] = "SEGV", [SIGUSR2] = "USR2",
      [SIGPIPE] = "PIPE", [SIGALRM] = "ALRM",     [SIGTERM] = "TERM", [SIGSTKFLT] = "STKFLT",
      [SIGCHLD] = "CHLD", [SIGCONT] = "CONT",     [SIGSTOP] = "STOP", [SIGTSTP] = "TSTP",
      [SIGTTIN] = "TTIN", [SIGTTOU] = "TTOU",     [SIGURG] = "URG",   [SIGXCPU] = "XCPU",
      [SIGXFSZ] = "XFSZ", [SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF", [SIGWINCH] = "WINCH",
      [SIGIO] = "IO",     [SIGPWR] = "PWR",       [SIGSYS] = "SYS",
  };
  if (sig <= 0 || (size_t)sig >= sizeof(names) / sizeof(names[0]))
    return NULL;
  return names[sig];
}

const char *qhm_share_dir(void) {
  const char *e = getenv("QHM_SHARE_DIR");
  return e && *e ? e : QHM_SHARE_DIR_DEFAULT;
}
