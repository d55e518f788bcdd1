/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A program as a library entry, for tests/unit/test_child.c: what a native child started through
 * the child launcher sees. Writes to descriptor 3 one line: its argc, each argument in brackets,
 * whether descriptors 4 and 5 are open, whether stderr (2) is, and the process's command line
 * (/proc/self/cmdline, its arguments joined by '|'); returns argc.
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
  n += snprintf(line + n, sizeof(line) - (size_t)n, " fd4=%d fd5=%d fd2=%d cmdline=", fcntl(4, F_GETFD) >= 0,
                fcntl(5, F_GETFD) >= 0, fcntl(2, F_GETFD) >= 0);
  int fd = open("/proc/self/cmdline", O_RDONLY);
  ssize_t got = fd < 0 || n >= (int)sizeof(line) - 1 ? -1 : read(fd, line + n, sizeof(line) - 1 - (size_t)n);
  if (fd >= 0)
    close(fd);
  for (ssize_t i = 0; i < got - 1; i++) /* the last NUL ends the last argument */
    if (!line[n + i])
      line[n + i] = '|';
  n += got > 0 ? (int)got - 1 : 0;
  line[n++] = '\n';
  if (write(3, line, (size_t)n) < 0)
    return 100;
  return argc;
}
