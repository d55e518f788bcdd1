/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A program as a library entry, for tests/unit/test_child.c: what a native child started through
 * the child launcher sees. Writes to descriptor 3 one line: its argc, each argument in brackets,
 * whether descriptors 4 and 5 are open, and whether stderr (2) is; returns argc.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((visibility("default"))) int qhm_test_entry(int argc, char **argv) {
  char line[4096];
  int n = snprintf(line, sizeof(line), "argc=%d", argc);
  for (int i = 0; i < argc && n < (int)sizeof(line); i++)
    n += snprintf(line + n, sizeof(line) - (size_t)n, " [%s]", argv[i]);
  n += snprintf(line + n, sizeof(line) - (size_t)n, " fd4=%d fd5=%d fd2=%d\n", fcntl(4, F_GETFD) >= 0,
                fcntl(5, F_GETFD) >= 0, fcntl(2, F_GETFD) >= 0);
  if (write(3, line, (size_t)n) < 0)
    return 100;
  return argc;
}
