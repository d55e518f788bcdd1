/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libqemu-hmos's embedder hooks (qemu-hmos.h): qhm_daemon_on_event gets every
 * /events event on the core thread, after the loop callback that emitted it
 * returned, so qhm_daemon_summary called from the callback already sees its
 * effect; nothing is delivered after qhm_daemon_run returned; qhm_log_to takes
 * the log lines. A download kept in "starting" (its server accepts the
 * connection and never answers) stands for an unfinished download. Two daemons
 * one after the other in one process, as the HarmonyOS shell runs them.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "qemu-hmos.h"
#include "test_http.h"

#define MAX_SEEN 256

/* What one callback saw: the event and the summary read inside it. */
struct seen {
  char type[32];
  char json[512];
  bool on_core_thread;
  unsigned vms_running;
  size_t n_downloads;
  char dl_id[40], dl_state[16], dl_name[64];
  uint64_t dl_done;
  int64_t dl_total;
};

static struct {
  pthread_mutex_t lock;
  struct qhm_daemon *d;
  pthread_t core_thread;
  struct seen seen[MAX_SEEN];
  int n_seen;
  int log_lines, log_serving;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_event(const char *type, const char *json, void *ud) {
  struct qhm_summary *s = qhm_daemon_summary(ud);
  pthread_mutex_lock(&g.lock);
  if (g.n_seen < MAX_SEEN && s) {
    struct seen *e = &g.seen[g.n_seen++];
    memset(e, 0, sizeof(*e));
    snprintf(e->type, sizeof(e->type), "%s", type);
    snprintf(e->json, sizeof(e->json), "%s", json);
    e->on_core_thread = pthread_equal(pthread_self(), g.core_thread);
    e->vms_running = s->vms_running;
    e->n_downloads = s->n_downloads;
    if (s->n_downloads) {
      snprintf(e->dl_id, sizeof(e->dl_id), "%s", s->downloads[0].id);
      snprintf(e->dl_state, sizeof(e->dl_state), "%s", s->downloads[0].state);
      snprintf(e->dl_name, sizeof(e->dl_name), "%s", s->downloads[0].name);
      e->dl_done = s->downloads[0].done_bytes;
      e->dl_total = s->downloads[0].total_bytes;
    }
  }
  pthread_mutex_unlock(&g.lock);
  qhm_summary_free(s);
}

static void on_log(int level, const char *line, void *ud) {
  (void)level;
  (void)ud;
  g.log_lines++; /* one line at a time: the library serialises the calls */
  if (strstr(line, " serving http://127.0.0.1:"))
    g.log_serving++;
}

static void *run_daemon(void *d) {
  qhm_daemon_run(d);
  return NULL;
}

/* The value of "KEY":"..." in JSON (the first), into OUT. */
static void json_str(const char *json, const char *key, char *out, size_t outlen) {
  char pat[64];
  snprintf(pat, sizeof(pat), "\"%s\":\"", key);
  const char *p = strstr(json, pat);
  out[0] = 0;
  if (p) {
    p += strlen(pat);
    snprintf(out, outlen, "%.*s", (int)strcspn(p, "\""), p);
  }
}

/* The index of the first event seen at or after FROM of TYPE whose JSON contains NEEDLE; waits up
 * to 10 s; -1 when none came. */
static int wait_event(int from, const char *type, const char *needle) {
  for (int tries = 0; tries < 1000; tries++) {
    pthread_mutex_lock(&g.lock);
    for (int i = from; i < g.n_seen; i++)
      if (strcmp(g.seen[i].type, type) == 0 && (!needle || strstr(g.seen[i].json, needle))) {
        pthread_mutex_unlock(&g.lock);
        return i;
      }
    pthread_mutex_unlock(&g.lock);
    usleep(10000);
  }
  return -1;
}

/* A listener that never accepts: a download from it stays "starting" (its probe waits). */
static int silent_listener(unsigned *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  socklen_t len = sizeof(sa);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(fd, 8), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

/* Start a daemon on DIR with the hooks, its loop on a thread of ours. */
static struct qhm_daemon *start(const char *dir, pthread_t *t, struct qhm_status *st) {
  struct qhm_options o = {.data_dir = dir};
  char err[1024] = "";
  struct qhm_daemon *d = qhm_daemon_start(&o, err, sizeof(err));
  if (!d)
    fail_msg("start: %s", err);
  struct qhm_summary *s = qhm_daemon_summary(d); /* before run: allowed */
  assert_non_null(s);
  assert_int_equal(s->vms_running, 0);
  qhm_summary_free(s);
  qhm_daemon_on_event(d, on_event, d);
  qhm_daemon_status(d, st);
  pthread_mutex_lock(&g.lock);
  g.d = d;
  assert_int_equal(pthread_create(t, NULL, run_daemon, d), 0);
  g.core_thread = *t;
  pthread_mutex_unlock(&g.lock);
  return d;
}

static void stop(struct qhm_daemon *d, pthread_t t) {
  qhm_daemon_stop(d);
  assert_int_equal(pthread_join(t, NULL), 0);
  pthread_mutex_lock(&g.lock);
  int n = g.n_seen;
  pthread_mutex_unlock(&g.lock);
  struct qhm_summary *s = qhm_daemon_summary(d); /* after run returned: allowed */
  assert_non_null(s);
  qhm_summary_free(s);
  qhm_daemon_free(d);
  assert_int_equal(g.n_seen, n); /* nothing after the loop ended, nor while freeing */
}

static void test_events_and_summary(void **state) {
  (void)state;
  char dir[] = "/tmp/qhm-events-XXXXXX", body[8192], id[40], vm_id[40], req[512];
  assert_non_null(mkdtemp(dir));
  qhm_log_to(on_log, NULL);
  unsigned lport;
  int silent = silent_listener(&lport);
  pthread_t t;
  struct qhm_status st;
  struct qhm_daemon *d = start(dir, &t, &st);
  assert_int_equal(g.log_serving, 1);

  /* A download that stays unfinished: its POST waits for the probe, so it is sent and left. */
  int post = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unsigned port = 0;
  sscanf(st.http_url, "http://127.0.0.1:%u", &port);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  assert_int_equal(connect(post, (struct sockaddr *)&sa, sizeof(sa)), 0);
  char dl_body[128];
  int bl = snprintf(dl_body, sizeof(dl_body), "{\"url\": \"http://127.0.0.1:%u/slow.iso\"}", lport);
  int n = snprintf(req, sizeof(req),
                   "POST /api/v1/downloads HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                   port, st.token, bl, dl_body);
  assert_int_equal(write(post, req, (size_t)n), n);
  id[0] = 0;
  for (int i = 0; i < 500 && !id[0]; i++, usleep(10000)) {
    assert_int_equal(test_http(st.http_url, "GET", "/api/v1/downloads", NULL, st.token, body, sizeof(body)),
                     200);
    json_str(body, "id", id, sizeof(id));
  }
  assert_true(id[0]);

  /* An event while it is unfinished: the summary names it. */
  int from = g.n_seen;
  assert_int_equal(test_http(st.http_url, "POST", "/api/v1/vms",
                             "{\"name\": \"ev\", \"memory_mib\": 64, \"disks\": []}", st.token, body,
                             sizeof(body)),
                   201);
  json_str(body, "id", vm_id, sizeof(vm_id));
  int i = wait_event(from, "vm.created", vm_id);
  assert_true(i >= 0);
  struct seen *e = &g.seen[i];
  assert_true(e->on_core_thread);
  assert_non_null(strstr(e->json, "\"type\":\"vm.created\""));
  assert_int_equal(e->vms_running, 0);
  assert_int_equal(e->n_downloads, 1);
  assert_string_equal(e->dl_id, id);
  assert_string_equal(e->dl_state, "starting");
  assert_string_equal(e->dl_name, "slow.iso");
  assert_int_equal(e->dl_done, 0);
  assert_int_equal(e->dl_total, -1);

  /* Deleted: the event's own summary no longer has it (delivered after the handler returned). */
  snprintf(req, sizeof(req), "/api/v1/downloads/%s", id);
  assert_int_equal(test_http(st.http_url, "DELETE", req, NULL, st.token, body, sizeof(body)), 200);
  i = wait_event(from, "download.state", "\"state\":\"deleted\"");
  assert_true(i >= 0);
  assert_int_equal(g.seen[i].n_downloads, 0);
  assert_true(g.seen[i].on_core_thread);
  close(post);

  snprintf(req, sizeof(req), "/api/v1/vms/%s", vm_id);
  assert_int_equal(test_http(st.http_url, "DELETE", req, NULL, st.token, body, sizeof(body)), 200);
  assert_true(wait_event(from, "vm.deleted", vm_id) >= 0);
  stop(d, t);

  /* The second daemon in this process: the hook works again. */
  from = g.n_seen;
  d = start(dir, &t, &st);
  assert_int_equal(g.log_serving, 2);
  assert_int_equal(test_http(st.http_url, "POST", "/api/v1/vms",
                             "{\"name\": \"ev2\", \"memory_mib\": 64, \"disks\": []}", st.token, body,
                             sizeof(body)),
                   201);
  json_str(body, "id", vm_id, sizeof(vm_id));
  i = wait_event(from, "vm.created", vm_id);
  assert_true(i >= 0);
  assert_true(g.seen[i].on_core_thread);
  stop(d, t);

  qhm_log_to(NULL, NULL);
  int lines = g.log_lines;
  assert_true(lines > 2);
  d = qhm_daemon_start(&(struct qhm_options){.data_dir = dir}, body, sizeof(body));
  assert_non_null(d);
  qhm_daemon_free(d); /* never ran: its lines went to standard error */
  assert_int_equal(g.log_lines, lines);
  close(silent);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_events_and_summary)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
