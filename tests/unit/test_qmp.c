/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for qmp.c, the QMP transport: a scripted peer on a real unix
 * socket plays QEMU's side of recorded exchanges (greeting, capabilities,
 * replies split across writes, events) and hostile ones (garbage, replies to
 * unknown ids, endless lines). The real QEMU is exercised by the integration
 * tests; this covers what a real QEMU never sends.
 */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include "qmp.h"
#include "util.h"

struct fx {
  char dir[64], path[128];
  int lfd, peer;
  uv_loop_t loop;
  struct qmp *q;
  int ready, closed, events, replies, stalls, unstalls;
  char last_err[256], last_event[64];
  json_t *last_ret;
};

static void on_ready(struct qmp *q, const char *err, void *ud) {
  struct fx *f = ud;
  f->ready = err ? -1 : 1;
  if (err)
    snprintf(f->last_err, sizeof(f->last_err), "%s", err);
}

static void on_event(struct qmp *q, const char *name, json_t *data, void *ud) {
  struct fx *f = ud;
  f->events++;
  snprintf(f->last_event, sizeof(f->last_event), "%s", name);
}

static void on_closed(struct qmp *q, const char *why, void *ud) {
  struct fx *f = ud;
  f->closed++;
  snprintf(f->last_err, sizeof(f->last_err), "%s", why);
}

static void on_stall(struct qmp *q, bool stalled, const char *why, void *ud) {
  struct fx *f = ud;
  if (stalled)
    f->stalls++;
  else
    f->unstalls++;
}

static const struct qmp_callbacks cbs = {on_ready, on_event, on_closed, on_stall};

static void pump(struct fx *f, int ms) {
  for (int i = 0; i < ms; i++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
}

static void peer_write(struct fx *f, const char *s) {
  assert_int_equal(write(f->peer, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read one line the client sent and return its "id". */
static json_int_t peer_read_id(struct fx *f, const char *expect_cmd) {
  char buf[4096];
  size_t n = 0;
  for (int i = 0; i < 2000 && (n == 0 || buf[n - 1] != '\n'); i++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    struct pollfd p = {f->peer, POLLIN, 0};
    if (poll(&p, 1, 1) == 1) {
      ssize_t r = read(f->peer, buf + n, sizeof(buf) - 1 - n);
      assert_true(r > 0);
      n += (size_t)r;
    }
  }
  buf[n] = 0;
  json_t *j = json_loads(buf, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "execute")), expect_cmd);
  json_int_t id = json_integer_value(json_object_get(j, "id"));
  json_decref(j);
  return id;
}

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  strcpy(f->dir, "/tmp/qhm-qmp-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, f->path);
  f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(f->lfd, 1), 0);
  uv_loop_init(&f->loop);
  f->q = qmp_new(&f->loop, &cbs, f);
  qmp_connect(f->q, f->path);
  pump(f, 5);
  f->peer = accept(f->lfd, NULL, NULL);
  assert_true(f->peer >= 0);
  *state = f;
  return 0;
}

static void handshake(struct fx *f) {
  peer_write(f, "{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}\r\n");
  json_int_t id = peer_read_id(f, "qmp_capabilities");
  char reply[128];
  snprintf(reply, sizeof(reply), "{\"return\": {}, \"id\": %lld}\r\n", (long long)id);
  peer_write(f, reply);
  pump(f, 20);
  assert_int_equal(f->ready, 1);
}

static int teardown(void **state) {
  struct fx *f = *state;
  if (f->q)
    qmp_close(f->q);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  uv_loop_close(&f->loop);
  close(f->peer);
  close(f->lfd);
  json_decref(f->last_ret);
  rm_rf(f->dir);
  free(f);
  return 0;
}

static void on_reply(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct fx *f = ud;
  f->replies++;
  json_decref(f->last_ret);
  f->last_ret = ret ? json_incref(ret) : NULL;
  snprintf(f->last_err, sizeof(f->last_err), "%s", err ? err : "");
}

static void test_handshake_events_and_split_reply(void **state) {
  struct fx *f = *state;
  handshake(f);
  peer_write(f,
             "{\"event\": \"STOP\", \"data\": {}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n");
  pump(f, 20);
  assert_int_equal(f->events, 1);
  assert_string_equal(f->last_event, "STOP");
  qmp_command(f->q, "query-status", NULL, on_reply, f);
  json_int_t id = peer_read_id(f, "query-status");
  char reply[256];
  snprintf(reply, sizeof(reply),
           "{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": %lld}\r\n", (long long)id);
  /* Split the reply mid-token across two writes, with an event glued after it. */
  size_t half = strlen(reply) / 2;
  assert_int_equal(write(f->peer, reply, half), (ssize_t)half);
  pump(f, 10);
  assert_int_equal(f->replies, 0);
  peer_write(f, reply + half);
  peer_write(f, "{\"event\": \"RESUME\"}\n");
  pump(f, 20);
  assert_int_equal(f->replies, 1);
  assert_string_equal(json_string_value(json_object_get(f->last_ret, "status")), "paused");
  assert_int_equal(f->events, 2);
  assert_int_equal(f->closed, 0);
}

static void test_error_reply_is_reported(void **state) {
  struct fx *f = *state;
  handshake(f);
  qmp_command(f->q, "cont", NULL, on_reply, f);
  json_int_t id = peer_read_id(f, "cont");
  char reply[256];
  snprintf(reply, sizeof(reply),
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": %lld}\n", (long long)id);
  peer_write(f, reply);
  pump(f, 20);
  assert_int_equal(f->replies, 1);
  assert_null(f->last_ret);
  assert_string_equal(f->last_err, "no");
}

static void test_garbage_closes_and_fails_pending(void **state) {
  struct fx *f = *state;
  handshake(f);
  qmp_command(f->q, "query-status", NULL, on_reply, f);
  peer_read_id(f, "query-status");
  peer_write(f, "[1,2,3]\r\n");
  pump(f, 20);
  assert_int_equal(f->closed, 1);
  assert_int_equal(f->replies, 1); /* the pending command was failed, not left hanging */
  assert_non_null(strstr(f->last_err, "not a JSON object"));
}

static void test_reply_to_unknown_id_closes(void **state) {
  struct fx *f = *state;
  handshake(f);
  peer_write(f, "{\"return\": {}, \"id\": 999}\n");
  pump(f, 20);
  assert_int_equal(f->closed, 1);
  assert_non_null(strstr(f->last_err, "unknown command"));
}

static void test_endless_line_is_capped(void **state) {
  struct fx *f = *state;
  handshake(f);
  fcntl(f->peer, F_SETFL, O_NONBLOCK); /* a blocking write here would wait for ourselves */
  char *junk = malloc(1 << 20);
  memset(junk, ' ', 1 << 20);
  for (int i = 0; i < 9 && f->closed == 0; i++) {
    struct pollfd p = {f->peer, POLLOUT, 0};
    for (size_t off = 0; off < (1u << 20) && f->closed == 0;) {
      if (poll(&p, 1, 0) == 1) {
        ssize_t w = write(f->peer, junk + off, (1u << 20) - off);
        if (w > 0)
          off += (size_t)w;
      }
      uv_run(&f->loop, UV_RUN_NOWAIT);
    }
  }
  free(junk);
  pump(f, 50);
  assert_int_equal(f->closed, 1);
  assert_non_null(strstr(f->last_err, "too long"));
}

static void test_peer_hangup_before_greeting(void **state) {
  struct fx *f = *state;
  close(f->peer);
  f->peer = -1;
  pump(f, 20);
  assert_int_equal(f->ready, -1);
  assert_int_equal(f->closed, 0);
}

/* A QEMU that does not answer (stopped, hung): the command fails at its deadline, the next one at
 * once without being sent; the late reply is dropped (not "a reply to an unknown command") and
 * ends the stall. */
static void test_deadline_and_stall(void **state) {
  struct fx *f = *state;
  handshake(f);
  qmp_command_timeout(f->q, "screendump", NULL, 50, on_reply, f);
  json_int_t id = peer_read_id(f, "screendump");
  pump(f, 150);
  assert_int_equal(f->replies, 1);
  assert_non_null(strstr(f->last_err, "did not answer screendump within 1 s"));
  assert_int_equal(f->stalls, 1);
  assert_true(qmp_stalled(f->q));
  qmp_command(f->q, "query-status", NULL, on_reply, f); /* refused at once */
  assert_int_equal(f->replies, 2);
  assert_non_null(strstr(f->last_err, "not answering"));
  assert_non_null(strstr(f->last_err, "query-status was not sent"));
  struct pollfd p = {f->peer, POLLIN, 0};
  assert_int_equal(poll(&p, 1, 20), 0); /* nothing reached QEMU */
  char reply[128];
  snprintf(reply, sizeof(reply), "{\"return\": {}, \"id\": %lld}\r\n", (long long)id);
  peer_write(f, reply);
  pump(f, 20);
  assert_int_equal(f->replies, 2); /* the abandoned command's callback does not run twice */
  assert_int_equal(f->closed, 0);
  assert_int_equal(f->unstalls, 1);
  assert_false(qmp_stalled(f->q));
  qmp_command(f->q, "query-status", NULL, on_reply, f);
  id = peer_read_id(f, "query-status");
  snprintf(reply, sizeof(reply), "{\"return\": {\"status\": \"running\"}, \"id\": %lld}\r\n", (long long)id);
  peer_write(f, reply);
  pump(f, 20);
  assert_int_equal(f->replies, 3);
  assert_string_equal(f->last_err, "");
}

/* A command without a deadline waits; closing fails it once. */
static void test_no_deadline_waits(void **state) {
  struct fx *f = *state;
  handshake(f);
  qmp_command_timeout(f->q, "human-monitor-command", NULL, 0, on_reply, f);
  peer_read_id(f, "human-monitor-command");
  pump(f, 100);
  assert_int_equal(f->replies, 0);
  assert_false(qmp_stalled(f->q));
  qmp_close(f->q);
  f->q = NULL;
  assert_int_equal(f->replies, 1);
  assert_non_null(strstr(f->last_err, "closed"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_handshake_events_and_split_reply, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_reply_is_reported, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_closes_and_fails_pending, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reply_to_unknown_id_closes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_endless_line_is_capped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_peer_hangup_before_greeting, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deadline_and_stall, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_deadline_waits, setup, teardown),
  };
  return cmocka_run_group_tests_name("qmp", tests, NULL, NULL);
}
