/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * host_caps: the start-up check of each QEMU the daemon will drive. Every
 * emulator is started once, all at the same time, through the launcher (so the
 * child launcher's library entries are checked too), with no machine and QMP on
 * its stdin/stdout; it must greet, answer query-version and query-machines, and
 * quit. Then: the version is one this daemon builds command lines for (7.2 or
 * newer), a build's library says the version its manifest says, and the machine
 * type the command line names (q35, pc, virt) exists; what it stands for
 * (pc-q35-10.0, ...) and the versioned types of that family are kept, so a
 * memory snapshot can be loaded on the machine type it was saved on
 * (vm_snap.c); and the device types it has (qom-list-types), so that a typo in a VM's
 * qemu_args "-device NAME" is a 400 and not a failed start. An emulator that fails the check leaves its
 * architecture unavailable with the reason; the daemon still starts.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "launch.h"
#include "util.h"

#define CAPS_DEADLINE_MS 15000
#define CAPS_MAX_OUTPUT (4 << 20) /* query-machines is ~40 KB; a QEMU saying more is not one */
#define CAPS_MIN_VERSION 70200    /* 7.2.0: Debian 12's, the oldest the command lines are built for */

/* The machine type each architecture's command line names (vm_argv.c), and the prefix of its
 * versioned types. */
static const char *const alias_of[VM_ARCH__N] = {"q35", "pc", "virt"};
static const char *const family_of[VM_ARCH__N] = {"pc-q35-", "pc-i440fx-", "virt-"};

struct probe {
  pid_t pid;
  bool own;
  int out, err; /* read ends; -1 when done */
  char *buf;    /* stdout */
  size_t len;
  char msg[1024]; /* stderr: its first line that is not the launcher's JIT grant note */
  size_t msg_len;
};

static int start(struct launcher *l, const char *binary, struct probe *p, char *err, size_t errlen) {
  char *argv[] = {(char *)binary, "-machine", "none", "-nodefaults", "-no-user-config",
                  "-display",     "none",     "-qmp", "stdio",       NULL};
  int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    goto fail;
  }
  struct launch_spec spec = {.name = "qemu-check",
                             .argv = argv,
                             .fds = {in[0], out[1], errp[1]},
                             .n_fds = 3,
                             .flags = LAUNCH_UNPRIVILEGED | LAUNCH_JIT_GRANT};
  struct launch_child child;
  if (launch_spawn(l, &spec, &child, err, errlen) < 0)
    goto fail;
  if (child.pidfd >= 0)
    close(child.pidfd);
  if (child.status_fd >= 0) /* (its answers say how it went) */
    close(child.status_fd);
  close(in[0]);
  close(out[1]);
  close(errp[1]);
  p->pid = child.pid;
  p->own = child.own;
  p->out = out[0];
  p->err = errp[0];
  /* All at once: QEMU reads them in turn (a pipe holds far more than these few lines). */
  const char *cmds = "{\"execute\":\"qmp_capabilities\"}\n"
                     "{\"execute\":\"query-version\",\"id\":\"version\"}\n"
                     "{\"execute\":\"query-machines\",\"id\":\"machines\"}\n"
                     "{\"execute\":\"qom-list-types\",\"id\":\"devices\",\"arguments\":"
                     "{\"implements\":\"device\",\"abstract\":false}}\n"
                     "{\"execute\":\"query-command-line-options\",\"id\":\"sandbox\",\"arguments\":"
                     "{\"option\":\"sandbox\"}}\n"
                     "{\"execute\":\"quit\"}\n";
  if (write(in[1], cmds, strlen(cmds)) < 0) {
    /* QEMU is gone already: its stderr says why */
  }
  close(in[1]);
  return 0;
fail:
  for (int i = 0; i < 2; i++) {
    if (in[i] >= 0)
      close(in[i]);
    if (out[i] >= 0)
      close(out[i]);
    if (errp[i] >= 0)
      close(errp[i]);
  }
  return -1;
}

/* MSG's first line that is not the JIT grant's note (jit.c), moved to its start. */
static void first_line(char *msg) {
  char *s = msg;
  while (strncmp(s, "qemu-hmos: JIT grant", 20) == 0 && strchr(s, '\n'))
    s = strchr(s, '\n') + 1;
  if (strncmp(s, "qemu-hmos: JIT grant", 20) == 0)
    s = "";
  memmove(msg, s, strlen(s) + 1);
  char *nl = strchr(msg, '\n');
  if (nl)
    *nl = 0;
}

/* Read what the probes write until each has closed stdout and stderr, or the deadline. */
static void collect(struct probe *p, int n) {
  uint64_t deadline = now_ms() + CAPS_DEADLINE_MS;
  for (;;) {
    struct pollfd fds[2 * VM_ARCH__N];
    struct probe *who[2 * VM_ARCH__N];
    int nf = 0;
    for (int i = 0; i < n; i++) {
      if (p[i].out >= 0)
        fds[nf] = (struct pollfd){.fd = p[i].out, .events = POLLIN}, who[nf++] = &p[i];
      if (p[i].err >= 0)
        fds[nf] = (struct pollfd){.fd = p[i].err, .events = POLLIN}, who[nf++] = &p[i];
    }
    long left = (long)(deadline - now_ms());
    if (nf == 0 || left <= 0)
      break;
    if (poll(fds, (nfds_t)nf, (int)left) < 0 && errno != EINTR)
      break;
    for (int i = 0; i < nf; i++) {
      if (!fds[i].revents)
        continue;
      struct probe *q = who[i];
      char chunk[8192];
      ssize_t r = read(fds[i].fd, chunk, sizeof(chunk));
      if (r <= 0 && !(r < 0 && errno == EINTR)) {
        close(fds[i].fd);
        if (fds[i].fd == q->out)
          q->out = -1;
        else
          q->err = -1;
      } else if (r > 0 && fds[i].fd == q->out && q->len + (size_t)r <= CAPS_MAX_OUTPUT) {
        q->buf = xrealloc(q->buf, q->len + (size_t)r + 1);
        memcpy(q->buf + q->len, chunk, (size_t)r);
        q->len += (size_t)r;
        q->buf[q->len] = 0;
      } else if (r > 0 && fds[i].fd == q->err && q->msg_len + 1 < sizeof(q->msg)) {
        size_t take =
            (size_t)r < sizeof(q->msg) - 1 - q->msg_len ? (size_t)r : sizeof(q->msg) - 1 - q->msg_len;
        memcpy(q->msg + q->msg_len, chunk, take);
        q->msg_len += take;
        q->msg[q->msg_len] = 0;
      }
    }
  }
  for (int i = 0; i < n; i++) {
    bool late = p[i].out >= 0 || p[i].err >= 0;
    if (p[i].out >= 0)
      close(p[i].out);
    if (p[i].err >= 0)
      close(p[i].err);
    if (p[i].pid > 0 && late) {
      kill(p[i].pid, SIGKILL);
      snprintf(p[i].msg, sizeof(p[i].msg), "it did not answer within %d s", CAPS_DEADLINE_MS / 1000);
    }
    if (p[i].pid > 0 && p[i].own) {
      int st;
      uint64_t until = now_ms() + 2000;
      while (waitpid(p[i].pid, &st, WNOHANG) == 0 && now_ms() < until)
        nanosleep(&(struct timespec){0, 2000000}, NULL);
      if (waitpid(p[i].pid, &st, WNOHANG) == 0) {
        kill(p[i].pid, SIGKILL);
        waitpid(p[i].pid, &st, 0);
      }
    }
    first_line(p[i].msg);
  }
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* qom-list-types' answer (a list of {"name": ...}) into C->devices, sorted. */
static void keep_devices(json_t *list, struct host_caps *c) {
  size_t i;
  json_t *t;
  if (!json_is_array(list))
    return;
  c->devices = xcalloc(json_array_size(list) + 1, sizeof(char *));
  json_array_foreach(list, i, t) {
    const char *name = json_string_value(json_object_get(t, "name"));
    if (name && strlen(name) < 128)
      c->devices[c->n_devices++] = xstrdup(name);
  }
  qsort(c->devices, c->n_devices, sizeof(char *), by_name);
}

/* The answers in P's output into C; -1 with C->error when something is missing or wrong. */
static int judge(struct probe *p, vm_arch a, const char *want_version, struct host_caps *c) {
  json_t *version = NULL, *machines = NULL, *devices = NULL;
  bool greeted = false;
  char *save = NULL;
  for (char *line = p->buf ? strtok_r(p->buf, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
    json_t *j = json_loads(line, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    if (json_object_get(j, "QMP"))
      greeted = true;
    else if (id && strcmp(id, "version") == 0 && !version)
      version = json_incref(json_object_get(j, "return"));
    else if (id && strcmp(id, "machines") == 0 && !machines)
      machines = json_incref(json_object_get(j, "return"));
    else if (id && strcmp(id, "devices") == 0 && !devices)
      devices = json_incref(json_object_get(j, "return"));
    else if (id && strcmp(id, "sandbox") == 0) /* an error when it has no such option */
      c->sandbox = json_array_size(json_object_get(j, "return")) > 0;
    json_decref(j);
  }
  int rc = -1;
  json_t *q = json_object_get(version, "qemu");
  json_int_t major = json_integer_value(json_object_get(q, "major")),
             minor = json_integer_value(json_object_get(q, "minor")),
             micro = json_integer_value(json_object_get(q, "micro"));
  if (!greeted) {
    snprintf(c->error, sizeof(c->error), "it did not greet over QMP (%s)", p->msg[0] ? p->msg : "no message");
    goto out;
  }
  if (!json_is_object(q) || major < 1 || major > 99 || minor < 0 || minor > 99 || micro < 0 || micro > 99) {
    snprintf(c->error, sizeof(c->error), "it did not answer query-version with a version");
    goto out;
  }
  snprintf(c->version, sizeof(c->version), "%d.%d.%d", (int)major, (int)minor, (int)micro);
  snprintf(c->package, sizeof(c->package), "%s",
           json_string_value(json_object_get(version, "package")) ?: "");
  c->version_num = (unsigned)(major * 10000 + minor * 100 + micro);
  if (c->version_num < CAPS_MIN_VERSION) {
    snprintf(c->error, sizeof(c->error), "QEMU %s is older than 7.2, the oldest this daemon drives",
             c->version);
    goto out;
  }
  if (want_version && *want_version && strcmp(want_version, c->version) != 0) {
    snprintf(c->error, sizeof(c->error), "it says QEMU %s where its build's manifest says %s", c->version,
             want_version);
    goto out;
  }
  if (!json_is_array(machines)) {
    snprintf(c->error, sizeof(c->error), "it did not answer query-machines with a list");
    goto out;
  }
  size_t i;
  json_t *m;
  json_array_foreach(machines, i, m) {
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *alias = json_string_value(json_object_get(m, "alias"));
    if (!name || strlen(name) >= sizeof(c->machine))
      continue;
    if (alias && strcmp(alias, alias_of[a]) == 0)
      snprintf(c->machine, sizeof(c->machine), "%s", name);
    else if (strcmp(name, alias_of[a]) == 0 && !c->machine[0]) /* a type without versions */
      snprintf(c->machine, sizeof(c->machine), "%s", name);
    if (strncmp(name, family_of[a], strlen(family_of[a])) == 0 && c->n_machines < HOST_CAPS_MACHINES)
      snprintf(c->machines[c->n_machines++], sizeof(c->machines[0]), "%s", name);
  }
  if (!c->machine[0]) {
    snprintf(c->error, sizeof(c->error), "QEMU %s has no machine type '%s'", c->version, alias_of[a]);
    goto out;
  }
  keep_devices(devices, c);
  rc = 0;
out:
  json_decref(version);
  json_decref(machines);
  json_decref(devices);
  return rc;
}

void host_caps_probe(struct host *h, struct launcher *l) {
  struct probe p[VM_ARCH__N];
  memset(p, 0, sizeof(p));
  host_caps_free(h); /* a second probe: the lists of the first */
  for (int a = 0; a < VM_ARCH__N; a++) {
    p[a].out = p[a].err = -1;
    memset(&h->caps[a], 0, sizeof(h->caps[a]));
    if (!h->binary[a][0])
      continue;
    h->caps[a].checked = true;
    if (start(l, h->binary[a], &p[a], h->caps[a].error, sizeof(h->caps[a].error)) < 0)
      p[a].pid = -1;
  }
  collect(p, VM_ARCH__N);
  for (int a = 0; a < VM_ARCH__N; a++) {
    struct host_caps *c = &h->caps[a];
    if (c->checked && p[a].pid > 0 && judge(&p[a], (vm_arch)a, h->qemu.version, c) == 0)
      c->ok = true;
    else if (c->checked && p[a].pid > 0 && p[a].msg[0] && strstr(c->error, "did not greet"))
      snprintf(c->error, sizeof(c->error), "%s", p[a].msg); /* QEMU's own words say it best */
    free(p[a].buf);
    if (!c->checked)
      continue;
    if (c->ok)
      log_info("host: %s guests: QEMU %s%s%s%s, machine %s is %s, %zu device types", vm_arch_name(a),
               c->version, c->package[0] ? " (" : "", c->package, c->package[0] ? ")" : "", alias_of[a],
               c->machine, c->n_devices);
    else
      log_warn("host: %s guests unavailable: %s failed its start-up check: %s", vm_arch_name(a), h->binary[a],
               c->error);
  }
}

void host_caps_free(struct host *h) {
  for (int a = 0; a < VM_ARCH__N; a++) {
    struct host_caps *c = &h->caps[a];
    for (size_t i = 0; i < c->n_devices; i++)
      free(c->devices[i]);
    free(c->devices);
    c->devices = NULL;
    c->n_devices = 0;
  }
}

bool host_caps_knows_devices(const struct host *h, vm_arch a) {
  return h->caps[a].devices != NULL;
}

bool host_caps_has_machine(const struct host *h, vm_arch a, const char *machine) {
  const struct host_caps *c = &h->caps[a];
  if (strcmp(machine, c->machine) == 0)
    return true;
  for (size_t i = 0; i < c->n_machines; i++)
    if (strcmp(machine, c->machines[i]) == 0)
      return true;
  return false;
}
