/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libqemu-hmos embedded: one process starts a daemon on a thread of its own,
 * asks it a real HTTP question, stops and frees it, RESTARTS times over on the
 * same data directory. Afterwards the process holds the same descriptors and
 * threads as before the first start, and its SIGTERM/SIGPIPE dispositions are
 * untouched (an embedded daemon installs no handlers). The asan suite runs the
 * same binary under AddressSanitizer + LeakSanitizer (tests/asan/run.py).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "qemu-hmos.h"
#include "test_http.h"

#define RESTARTS 50

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    n += e->d_name[0] != '.';
  if (d)
    closedir(d);
  return n - 1; /* the DIR's own */
}

static int count_threads(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "Threads: %d", &n) == 1)
      break;
  if (f)
    fclose(f);
  return n;
}

static void *run_daemon(void *d) {
  qhm_daemon_run(d);
  return NULL;
}

static void test_start_stop_many(void **state) {
  (void)state;
  char dir[] = "/tmp/qhm-restart-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct sigaction term0, pipe0;
  sigaction(SIGTERM, NULL, &term0);
  sigaction(SIGPIPE, NULL, &pipe0);
  int fds0 = -1, threads0 = -1;
  char token0[80] = "";
  for (int i = 0; i < RESTARTS; i++) {
    struct qhm_options o = {.data_dir = dir, .port = 0, .ws_port = 0};
    char err[1024] = "";
    struct qhm_daemon *d = qhm_daemon_start(&o, err, sizeof(err));
    if (!d)
      fail_msg("start %d: %s", i, err);
    struct qhm_status st;
    qhm_daemon_status(d, &st);
    assert_string_equal(st.launcher, "exec");
    if (i == 0)
      snprintf(token0, sizeof(token0), "%s", st.token);
    assert_string_equal(st.token, token0); /* the same data directory keeps its token */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_daemon, d), 0);
    assert_int_equal(test_http(st.http_url, "GET", "/api/v1/host", NULL, st.token, NULL, 0), 200);
    assert_int_equal(test_http(st.http_url, "GET", "/api/v1/host", NULL, "not-the-token", NULL, 0), 401);
    qhm_daemon_stop(d);
    assert_int_equal(pthread_join(t, NULL), 0);
    qhm_daemon_free(d);
    if (i == 0) { /* after the first: libraries loaded once (sqlite, gnutls) keep what they keep */
      fds0 = count_fds();
      threads0 = count_threads();
    }
  }
  assert_int_equal(count_fds(), fds0);
  assert_int_equal(count_threads(), threads0);
  struct sigaction term1, pipe1;
  sigaction(SIGTERM, NULL, &term1);
  sigaction(SIGPIPE, NULL, &pipe1);
  assert_true(term1.sa_handler == term0.sa_handler);
  assert_true(pipe1.sa_handler == pipe0.sa_handler);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* A second daemon on a data directory in use is refused, and the first keeps serving. */
static void test_lock_refuses_second(void **state) {
  (void)state;
  char dir[] = "/tmp/qhm-restart-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct qhm_options o = {.data_dir = dir};
  char err[1024] = "";
  struct qhm_daemon *a = qhm_daemon_start(&o, err, sizeof(err));
  if (!a)
    fail_msg("%s", err);
  assert_null(qhm_daemon_start(&o, err, sizeof(err)));
  assert_non_null(strstr(err, "another qemu-hmos is serving"));
  struct qhm_options bad = {.data_dir = "relative/dir"};
  assert_int_equal(qhm_options_check(&bad, err, sizeof(err)), -1);
  struct qhm_options lan = {.data_dir = dir, .bind = "0.0.0.0"};
  assert_int_equal(qhm_options_check(&lan, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "--lan"));
  qhm_daemon_free(a); /* never ran: freed all the same */
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_start_stop_many),
                                     cmocka_unit_test(test_lock_refuses_second)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
