/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The child launcher backend (server/launch/child.h, launch.h): the parameter string both
 * ways, then a real start: launcher -> qemu-hmos-child -> libqemu_child.so:Main -> a test
 * library's entry (tests/child/test_entry.c), with a mapped program name, descriptors placed
 * by number, the argv intact, the exit status collected by launch_watch.
 * Arguments: LOADER SHIM TEST_LIBRARY (meson passes the built paths).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "child.h"
#include "launch.h"

static const char *loader, *shim, *testlib;

static void test_params_round_trip(void **state) {
  (void)state;
  char *argv[] = {
      "/usr/bin/qemu-system-x86_64", "a b", "", "100%", "tab\there", "line\nbreak", "ünï", "%%", NULL};
  char *p = child_params_encode("/x/libq.so:qhm_qemu_main", LAUNCH_JIT_GRANT, argv);
  assert_non_null(p);
  assert_null(strchr(p, '\n'));
  char *target, **out;
  unsigned flags;
  int argc;
  assert_int_equal(child_params_decode(p, &target, &flags, &argc, &out), 0);
  assert_string_equal(target, "/x/libq.so:qhm_qemu_main");
  assert_int_equal(flags, LAUNCH_JIT_GRANT);
  assert_int_equal(argc, 8);
  for (int i = 0; i < argc; i++)
    assert_string_equal(out[i], argv[i]);
  assert_null(out[argc]);
  free(out);
  free(p);
}

static void test_params_refused(void **state) {
  (void)state;
  const char *bad[] = {"",
                       "qhm1",
                       "qhm1 0",
                       "qhm2 0 lib:f a",
                       "qhm1 x lib:f a",
                       "qhm1 0 lib:f a%2",
                       "qhm1 0 lib:f a%00b",
                       "qhm1 0 lib:f a%zz"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *p = strdup(bad[i]), *target, **out;
    unsigned flags;
    int argc;
    if (child_params_decode(p, &target, &flags, &argc, &out) == 0)
      fail_msg("accepted '%s'", bad[i]);
    free(p);
  }
}

struct seen {
  int status;
  bool done;
};

static void on_exit_seen(pid_t pid, int status, void *ud) {
  struct seen *s = ud;
  s->status = status;
  s->done = true;
}

static void test_start_through_child_backend(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct launch_backend b = launch_child_backend(loader, shim);
  struct launcher *l = launcher_new(&loop, &b);
  assert_string_equal(launcher_backend_name(l), "child");
  char entry[4200];
  snprintf(entry, sizeof(entry), "%s:qhm_test_entry", testlib);
  launch_map(l, "/opt/not-a-file/prog", entry);
  int out[2], extra[2];
  assert_int_equal(pipe(out), 0);
  assert_int_equal(pipe(extra), 0);
  char *argv[] = {"/opt/not-a-file/prog", "two words", "", "50%", NULL};
  /* the pipe's write end at 3 and something at 5, nothing at 4 */
  struct launch_spec spec = {
      .name = "test", .argv = argv, .fds = {-1, -1, 2, out[1], -1, extra[0]}, .n_fds = 6};
  struct launch_child child;
  char err[512] = "";
  if (launch_spawn(l, &spec, &child, err, sizeof(err)) < 0)
    fail_msg("%s", err);
  close(out[1]);
  assert_true(child.own);
  struct seen s = {0};
  launch_watch(l, &child, on_exit_seen, &s);
  while (!s.done)
    uv_run(&loop, UV_RUN_ONCE);
  if (child.pidfd >= 0)
    close(child.pidfd);
  char line[4096] = "";
  ssize_t n = read(out[0], line, sizeof(line) - 1);
  assert_true(n > 0);
  line[n] = 0;
  /* the process's command line is what the launcher started, the parameter string intact */
  char *params = child_params_encode(entry, 0, argv), want[8192];
  snprintf(want, sizeof(want),
           "argc=4 [/opt/not-a-file/prog] [two words] [] [50%%] fd4=0 fd5=1 fd2=1 cmdline=%s|%s:%s|%s\n",
           loader, shim, CHILD_SHIM_ENTRY, params);
  free(params);
  assert_string_equal(line, want);
  assert_true(WIFEXITED(s.status));
  assert_int_equal(WEXITSTATUS(s.status), 4);

  /* A program nobody mapped: a clear error, nothing started. */
  char *other[] = {"/usr/bin/true", NULL};
  struct launch_spec nomap = {.name = "true", .argv = other};
  assert_int_equal(launch_spawn(l, &nomap, &child, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "no library entry"));
  close(out[0]);
  close(extra[0]);
  close(extra[1]);
  launcher_shutdown(l);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  launcher_free(l);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: test_child LOADER SHIM TEST_LIBRARY\n");
    return 2;
  }
  loader = argv[1];
  shim = argv[2];
  testlib = argv[3];
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_params_round_trip),
                                     cmocka_unit_test(test_params_refused),
                                     cmocka_unit_test(test_start_through_child_backend)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
