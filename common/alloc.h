/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * alloc: memory that aborts on out-of-memory (the one place the tree aborts for it), and the
 * free that wipes a secret first. Used by the daemon (through util.h) and by the RDP worker.
 * Any thread; no state.
 */
#ifndef QHM_ALLOC_H
#define QHM_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Say "out of memory" on stderr and abort: for any allocation that failed (a library's too). */
void oom(void) __attribute__((noreturn));

/* malloc, calloc, realloc, strdup and vasprintf that never return NULL (a size 0 allocates 1
 * byte, so a NULL result always means out of memory). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Overwrite the NUL-terminated secret S (a password, a private key, a token) with zeros, then
 * free it; NULL is fine. */
void secret_free(char *s);

#endif
