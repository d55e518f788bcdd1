/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pident: which process a pid names, from /proc. A pid alone names a process only until it exits
 * (the kernel then gives the number to another one); the pid plus the process's start time (field
 * 22 of /proc/PID/stat: clock ticks after boot, set by fork and kept by exec) plus the boot id
 * (/proc/sys/kernel/random/boot_id) names one process for good. A wrapper script that execs the
 * real binary (Debian's /usr/bin/qemu-system-i386 execs /usr/libexec/qemu-system-i386) keeps the
 * pid and the start time while its command line and executable change: the daemon identifies its
 * QEMUs by what it controls (the pid it forked, when) and reads what runs (/proc/PID/exe) after.
 * Core loop thread (the boot id is read once and kept); the rest only reads /proc.
 */
#ifndef QHM_PIDENT_H
#define QHM_PIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pident {
  pid_t pid, ppid;
  pid_t sid;           /* its session (field 6) */
  uint64_t start_time; /* clock ticks after boot (/proc/PID/stat field 22) */
  char state;          /* R, S, D, T (stopped by a signal), t (stopped by a tracer), Z, X, ... */
};

/* PID's identity: 0, or -1 (errno ESRCH: no such process, or one that is already a zombie). */
int pident_read(pid_t pid, struct pident *out);
/* True when PID is alive (not a zombie) and started at START_TIME. */
bool pident_is(pid_t pid, uint64_t start_time);
/* This boot's id (36 characters), "" if the kernel does not say. */
const char *pident_boot_id(void);
/* START_TIME as Unix seconds (boot time from /proc/stat + ticks), -1 if unknown. */
int64_t pident_start_unix(uint64_t start_time);
/* The executable PID runs (readlink /proc/PID/exe), "" with -1 when it cannot be read. */
int pident_exe(pid_t pid, char *out, size_t len);
/* The command line (NUL-separated arguments, NUL-terminated once more), or NULL. */
char *pident_cmdline(pid_t pid, size_t *len);
/* The real uid of PID, or (uid_t)-1. */
uid_t pident_uid(pid_t pid);
/* pidfd_open(2) and pidfd_send_signal(2): a pidfd keeps naming its process after it exits, so
 * a signal through it never reaches a process that got the pid later. -1 with errno. */
int pident_pidfd_open(pid_t pid);
int pident_pidfd_signal(int pidfd, int sig);
/* pident_pidfd_open, then the start time checked (after the open: a pid reused in between shows
 * another start time): the pidfd of exactly that process, or -1. */
int pident_pidfd_open_checked(pid_t pid, uint64_t start_time);
/* What a process state letter means for a peer that should answer: "" when it runs or sleeps,
 * else e.g. "stopped by a signal (SIGSTOP or SIGTSTP: SIGCONT resumes it)". */
const char *pident_state_text(char state);

#endif
