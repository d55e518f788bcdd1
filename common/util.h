/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util: logging, small file and string helpers, random bytes, clocks; with alloc.h (included
 * here: allocation that aborts on out-of-memory). Thread-safe; used by every daemon module.
 */
#ifndef QHM_UTIL_H
#define QHM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "alloc.h" /* xmalloc and friends: who includes util.h has them */

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };
extern enum log_level log_threshold;
void qlog(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) qlog(LOG_ERR, __VA_ARGS__)
#define log_warn(...) qlog(LOG_WARN, __VA_ARGS__)
#define log_info(...) qlog(LOG_INFO, __VA_ARGS__)
#define log_debug(...) qlog(LOG_DEBUG, __VA_ARGS__)
/* Where log lines go: SINK(level, line without its newline, UD), called under the log's lock from
 * any thread (it must not log itself); NULL: standard error, the default. Process-wide. */
typedef void (*log_sink_fn)(enum log_level lvl, const char *line, void *ud);
void log_set_sink(log_sink_fn sink, void *ud);

/* snprintf that reports truncation: 0 on success, -1 when OUT was too small. */
int fmt_path(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Where an installed qemu-hmos keeps its shared files (ui/, catalog.json): $QHM_SHARE_DIR, else
 * the build's DATADIR/qemu-hmos (meson's prefix and datadir). */
const char *qhm_share_dir(void);

/* Fill BUF with N random bytes from getrandom(); aborts if the kernel refuses. */
void random_bytes(void *buf, size_t n);
void random_hex(char *out, size_t nchars); /* writes nchars hex digits + NUL */
void random_uuid(char out[37]);

/* The directory of this process's executable (/proc/self/exe); -1 when it cannot be read. */
int self_dir(char *out, size_t outlen);
int mkdir_p(const char *path, mode_t mode);
int rm_rf(const char *path);
/* Read a whole file (at most MAX bytes). Returns NULL with errno set. */
char *read_file(const char *path, size_t max, size_t *len);
/* read_file of a regular file owned by OWNER only (EINVAL otherwise), never through a symlink at
 * PATH: for files a less privileged process wrote (VM run/ directories), which it could have
 * replaced by a link to someone else's file, or a FIFO. */
char *read_file_owned(const char *path, uid_t owner, size_t max, size_t *len);
/* Write atomically (tmp file + fsync + rename). 0 or -1 with errno. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int copy_file(const char *src, const char *dst, mode_t mode);
/* The last N lines of a file, as a NULL-terminated array of strings. */
char **tail_lines(const char *path, size_t n, size_t *count);
void free_strv(char **v);

/* SIG's name without "SIG" ("KILL", "SEGV"), NULL when not a Linux signal. glibc has
 * sigabbrev_np; musl (HarmonyOS) does not. */
const char *sig_abbrev(int sig);

uint64_t now_ms(void); /* CLOCK_MONOTONIC */
int64_t now_unix(void);

#endif
