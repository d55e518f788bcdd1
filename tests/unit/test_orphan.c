/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for pident.c (which process a pid is) and vm_orphan.c's scan (which processes hold
 * a VM's files), on real processes: a wrapper script that execs the real program keeps its pid
 * and start time (Debian's qemu-system-i386 is one), and the scan finds a qemu-* program naming
 * the VM's directory, a swtpm, and any process with a disk open — and nothing else.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "pident.h"
#include "util.h"
#include "vm_orphan.h"

static void test_self(void **state) {
  struct pident id;
  assert_int_equal(pident_read(getpid(), &id), 0);
  assert_int_equal(id.pid, getpid());
  assert_int_equal(id.ppid, getppid());
  assert_true(id.start_time > 0);
  assert_true(pident_is(getpid(), id.start_time));
  assert_false(pident_is(getpid(), id.start_time + 1));
  assert_int_equal(strlen(pident_boot_id()), 36);
  int64_t at = pident_start_unix(id.start_time);
  assert_true(at > 0 && at <= now_unix() && at > now_unix() - 3600);
  char exe[4096];
  assert_int_equal(pident_exe(getpid(), exe, sizeof(exe)), 0);
  assert_non_null(strstr(exe, "test_orphan"));
  assert_int_equal(pident_read(0, &id), -1);
}

static pid_t spawn(const char *prog, char *const argv[], int hold_fd) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0); /* reap() ends the shell's own children with it */
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0), dup2(null, 1), dup2(null, 2); /* nothing keeps the test runner's pipes open */
    if (hold_fd >= 0)
      dup2(hold_fd, 7);
    execv(prog, argv);
    _exit(127);
  }
  return pid;
}

/* Until PID runs its program (a forked child not yet exec'd is a copy of this test, fds and all). */
static void wait_exec(pid_t pid) {
  char self[4096], exe[4096];
  assert_int_equal(pident_exe(getpid(), self, sizeof(self)), 0);
  for (int i = 0; i < 500; i++) {
    if (pident_exe(pid, exe, sizeof(exe)) == 0 && strcmp(exe, self) != 0)
      return;
    usleep(10000);
  }
  fail_msg("pid %d did not exec", (int)pid);
}

/* PID is `sh -c "sleep 30; ..."`: wait until its child has become sleep. Between sh's fork and
 * the child's exec the child has sh's command line, so a scan in that window sees one more
 * process naming the directory (seen in CI on a loaded machine: 4 holders instead of 3). */
static void wait_child_exec(pid_t pid) {
  char path[64], buf[64];
  snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
  for (int i = 0; i < 1000; i++) {
    FILE *f = fopen(path, "r");
    int child = 0;
    if (f) {
      if (fscanf(f, "%d", &child) != 1)
        child = 0;
      fclose(f);
    }
    if (child > 0) {
      snprintf(path, sizeof(path), "/proc/%d/cmdline", child);
      FILE *c = fopen(path, "r");
      size_t n = c ? fread(buf, 1, sizeof(buf) - 1, c) : 0;
      if (c)
        fclose(c);
      buf[n] = 0;
      if (strcmp(buf, "sleep") == 0)
        return;
      snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    }
    usleep(10000);
  }
  fail_msg("the child of pid %d did not become sleep", (int)pid);
}

static void reap(pid_t pid) {
  kill(-pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* The wrapper's case: sh execs sleep. The pid and start time stay; the program changes. */
static void test_start_time_survives_exec(void **state) {
  char *argv[] = {"sh", "-c", "sleep 0.2; exec sleep 30", NULL};
  pid_t pid = spawn("/bin/sh", argv, -1);
  struct pident before, after;
  assert_int_equal(pident_read(pid, &before), 0);
  char exe[4096] = "";
  for (int i = 0; i < 200; i++) {
    usleep(10000);
    if (pident_exe(pid, exe, sizeof(exe)) == 0 && strstr(exe, "sleep"))
      break;
  }
  assert_non_null(strstr(exe, "sleep"));
  assert_int_equal(pident_read(pid, &after), 0);
  assert_int_equal(after.start_time, before.start_time);
  assert_true(pident_is(pid, before.start_time));
  int fd = pident_pidfd_open_checked(pid, before.start_time);
  assert_true(fd >= 0);
  assert_int_equal(pident_pidfd_open_checked(pid, before.start_time + 1), -1);
  kill(pid, SIGSTOP);
  for (int i = 0; i < 100 && pident_read(pid, &after) == 0 && after.state != 'T'; i++)
    usleep(10000);
  assert_int_equal(after.state, 'T');
  assert_non_null(strstr(pident_state_text('T'), "SIGSTOP"));
  assert_int_equal(pident_pidfd_signal(fd, SIGKILL), 0);
  waitpid(pid, NULL, 0);
  assert_false(pident_is(pid, before.start_time)); /* gone: never "that process" again */
  close(fd);
}

static bool found(const struct vm_holder_target *t, pid_t pid, const char *why) {
  for (size_t i = 0; i < t->n_found; i++)
    if (t->found[i].pid == pid)
      return strstr(t->found[i].why, why) != NULL;
  return false;
}

static void test_scan(void **state) {
  char dir[64] = "/tmp/qhm-orphan-XXXXXX", vmdir[128], other[128], disk[160], fake[128], swtpm[128], arg[200],
       arg2[200], real_disk[4096];
  assert_non_null(mkdtemp(dir));
  snprintf(vmdir, sizeof(vmdir), "%s/vms/0123456789abcdef/", dir);
  snprintf(other, sizeof(other), "%s/vms/fedcba9876543210/", dir);
  assert_int_equal(mkdir_p(vmdir, 0700), 0);
  snprintf(disk, sizeof(disk), "%sdisk0.qcow2", vmdir);
  int dfd = open(disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600); /* only the holder gets it (as fd 7) */
  assert_true(dfd >= 0);
  assert_non_null(realpath(disk, real_disk));
  snprintf(fake, sizeof(fake), "%s/qemu-system-fake", dir);
  snprintf(swtpm, sizeof(swtpm), "%s/swtpm", dir);
  assert_int_equal(symlink("/bin/sh", fake), 0);
  assert_int_equal(symlink("/bin/sh", swtpm), 0);
  /* a QEMU-like program whose command line names the VM's directory (sh stays: two commands) */
  snprintf(arg, sizeof(arg), "sleep 30; : -pidfile %srun/qemu.pid", vmdir);
  char *qa[] = {fake, "-c", arg, NULL};
  pid_t q = spawn(fake, qa, -1);
  /* its swtpm */
  snprintf(arg2, sizeof(arg2), "sleep 30; : --tpmstate dir=%stpm", vmdir);
  char *sa[] = {swtpm, "-c", arg2, NULL};
  pid_t t = spawn(swtpm, sa, -1);
  /* a program of any name with the disk open */
  char *ha[] = {"sleep", "30", NULL};
  pid_t h = spawn("/bin/sleep", ha, dfd);
  close(dfd);
  /* not holders: an unrelated process, a QEMU of another VM, a non-QEMU naming the directory */
  pid_t u = spawn("/bin/sleep", ha, -1);
  char arg3[200];
  snprintf(arg3, sizeof(arg3), "sleep 30; : %srun/qemu.pid", other);
  char *oa[] = {fake, "-c", arg3, NULL};
  pid_t o = spawn(fake, oa, -1);
  char *la[] = {"/bin/sh", "-c", arg, NULL}; /* `less DIR/...` is no holder */
  pid_t l = spawn("/bin/sh", la, -1);
  pid_t all[] = {q, t, h, u, o, l};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    wait_exec(all[i]);
  pid_t shells[] = {q, t, o, l};
  for (size_t i = 0; i < sizeof(shells) / sizeof(shells[0]); i++)
    wait_child_exec(shells[i]);

  const char *disks[] = {real_disk};
  struct vm_holder_target tg[2] = {{.dir = vmdir, .disks = disks, .n_disks = 1}, {.dir = other}};
  vm_holders_scan(tg, 2, -1);
  assert_true(found(&tg[0], q, "command line names"));
  assert_true(found(&tg[0], t, "command line names"));
  assert_true(found(&tg[0], h, "disk0.qcow2 open"));
  assert_int_equal(tg[0].n_found, 3);
  for (size_t i = 0; i < tg[0].n_found; i++) {
    assert_int_equal(tg[0].found[i].swtpm, tg[0].found[i].pid == t);
    assert_true(pident_is(tg[0].found[i].pid, tg[0].found[i].start_time));
  }
  assert_true(found(&tg[1], o, "command line names"));
  assert_int_equal(tg[1].n_found, 1);
  free(tg[0].found);
  free(tg[1].found);
  /* the daemon's own children are its business (SELF excludes them) */
  vm_holders_scan(tg, 1, getpid());
  assert_int_equal(tg[0].n_found, 0);
  free(tg[0].found);

  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    reap(all[i]);
  rm_rf(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_self),
      cmocka_unit_test(test_start_time_survives_exec),
      cmocka_unit_test(test_scan),
  };
  return cmocka_run_group_tests_name("orphan", tests, NULL, NULL);
}
