/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jit: see jit.h. */
#include "jit.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define HMOS_JIT_PRCTL 0x6a6974

static size_t fmt_long(char *out, long v) { /* async-signal-safe */
  char tmp[24];
  size_t n = 0, k = 0;
  unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
  do
    tmp[n++] = (char)('0' + u % 10);
  while ((u /= 10) != 0);
  if (v < 0)
    out[k++] = '-';
  while (n)
    out[k++] = tmp[--n];
  return k;
}

static void put(const char *s, size_t n) {
  if (write(2, s, n) < 0) {
    /* the log is best effort */
  }
}

/* HarmonyOS: ask for the JIT permission TCG needs. Plain Linux answers EINVAL. Says so on fd 2. */
void launch_jit_grant(void) {
  errno = 0;
  int rc = prctl(HMOS_JIT_PRCTL, 1, 0, 0, 0);
  int e = errno;
  char line[160];
  static const char pre[] = "qemu-hmos: JIT grant prctl(0x6a6974, 1) = ";
  size_t n = sizeof(pre) - 1;
  memcpy(line, pre, n);
  n += fmt_long(line + n, rc);
  const char *what = rc == 0       ? " (granted)\n"
                     : e == EINVAL ? " (EINVAL: not HarmonyOS, ignored)\n"
                                   : " (errno ";
  memcpy(line + n, what, strlen(what));
  n += strlen(what);
  if (rc != 0 && e != EINVAL) {
    n += fmt_long(line + n, e);
    memcpy(line + n, ", ignored)\n", 11);
    n += 11;
  }
  put(line, n);
}
