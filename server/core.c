/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core: see core.h. */
#include "core.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "crashpt.h"
#include "dl.h"
#include "proc.h"
#include "rdpws.h"
#include "store.h"
#include "ticket.h"
#include "util.h"
#include "vm.h"
#include "vncws.h"
#include "ws.h"

static void on_wake(uv_async_t *a) {
  struct core *c = a->data;
  pthread_mutex_lock(&c->lock);
  struct core_req *r = c->queue_head;
  c->queue_head = c->queue_tail = NULL;
  bool stopping = c->stopping;
  pthread_mutex_unlock(&c->lock);
  while (r) {
    struct core_req *next = r->next;
    r->next = NULL;
    if (stopping)
      core_req_reply_error(r, 503, "shutting_down", "the daemon is shutting down");
    else
      api_dispatch(c, r);
    r = next;
  }
  if (stopping)
    uv_stop(&c->loop);
}

static void on_signal(uv_signal_t *s, int signum) {
  struct core *c = s->data;
  log_info("signal %d: shutting down (VMs keep running)", signum);
  core_stop(c);
}

/* write_file_atomic()'s NAME.tmp.PID files that a killed daemon left in run/, secrets/, tls/
 * (this daemon holds run/daemon.lock: no other one is writing there). */
static void sweep_atomic_temps(const char *data_dir) {
  static const char *const dirs[] = {"run", "secrets", "tls"};
  for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
    char dir[4200], path[4500];
    if (fmt_path(dir, sizeof(dir), "%s/%s", data_dir, dirs[i]) < 0)
      continue;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      const char *t = strstr(e->d_name, ".tmp.");
      char *end;
      long pid = t ? strtol(t + 5, &end, 10) : 0;
      if (!t || t == e->d_name || pid <= 0 || *end || pid == (long)getpid() ||
          fmt_path(path, sizeof(path), "%s/%s", dir, e->d_name) < 0)
        continue;
      log_info("start-up: removing %s (left by a killed daemon)", path);
      unlink(path);
    }
    if (d)
      closedir(d);
  }
}

/* The VM manager's hooks (vm.h): the console bridges and the WebSocket listener are above vm/. */
static void vm_hook_close_consoles(void *ud, const char *vm_id, unsigned kinds, const char *why) {
  (void)ud;
  if (kinds & VM_CONSOLE_VNC)
    vncws_close_vm(vm_id, why);
  if (kinds & VM_CONSOLE_RDP)
    rdpws_close_vm(vm_id, why);
}

static const char *vm_hook_ws_url(void *ud, bool lan) {
  struct core *c = ud;
  return c->ws ? ws_url_for(c->ws, lan) : NULL; /* c->ws: set once ws_start() ran (main.c) */
}

int core_init(struct core *c, const char *data_dir, struct auth *auth, struct path_roots *roots, char *err,
              size_t errlen) {
  memset(c, 0, sizeof(*c));
  c->auth = auth; /* before the VMs load: autostart checks paths */
  c->roots = roots;
  snprintf(c->data_dir, sizeof(c->data_dir), "%s", data_dir);
  pthread_mutex_init(&c->lock, NULL);
  uv_loop_init(&c->loop);
  uv_async_init(&c->loop, &c->wake, on_wake);
  c->wake.data = c;
  uv_signal_init(&c->loop, &c->sigterm);
  uv_signal_init(&c->loop, &c->sigint);
  c->sigterm.data = c->sigint.data = c;
  uv_signal_start(&c->sigterm, on_signal, SIGTERM);
  uv_signal_start(&c->sigint, on_signal, SIGINT);
  c->tickets = ticket_store_new();
  host_probe(&c->host);
  char path[4200];
  snprintf(path, sizeof(path), "%s/qemu-hmos.sqlite3", data_dir);
  c->store = store_open(path, err, errlen);
  if (!c->store)
    return -1;
  crashpt_init();
  sweep_atomic_temps(data_dir);
  c->vms = vm_manager_new(c);
  vm_manager_set_console_hooks(c->vms, &(struct vm_console_hooks){.close_consoles = vm_hook_close_consoles,
                                                                  .ws_url = vm_hook_ws_url,
                                                                  .ud = c});
  if (vm_manager_load(c->vms, err, errlen) < 0)
    return -1;
  c->dls = dl_manager_new(c);
  if (dl_manager_load(c->dls, err, errlen) < 0)
    return -1;
  vm_manager_autostart(c->vms); /* answered once the loop runs */
  return 0;
}

void core_run(struct core *c) {
  uv_run(&c->loop, UV_RUN_DEFAULT);
}

void core_stop(struct core *c) {
  pthread_mutex_lock(&c->lock);
  c->stopping = true;
  pthread_mutex_unlock(&c->lock);
  uv_async_send(&c->wake);
}

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void core_answer_all(struct core *c) {
  proc_shutdown(); /* qemu-img runs of snapshot, disk and clone requests: answered before the VMs go */
  ws_stop(c->ws);  /* closes every WebSocket session and its VNC connection */
  c->ws = NULL;
  vm_manager_free(c->vms); /* answers parked requests; detaches from QEMU (VMs keep running) */
  c->vms = NULL;
  dl_manager_free(c->dls); /* records exact progress; transfers resume on the next start */
  c->dls = NULL;
}

void core_fini(struct core *c) {
  core_answer_all(c); /* nothing left when main() did it already */
  store_free(c->store);
  c->store = NULL;
  ticket_store_free(c->tickets);
  c->tickets = NULL;
  uv_close((uv_handle_t *)&c->wake, NULL);
  uv_close((uv_handle_t *)&c->sigterm, NULL);
  uv_close((uv_handle_t *)&c->sigint, NULL);
  uv_run(&c->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&c->loop) != 0) {
    uv_walk(&c->loop, close_walk, NULL); /* anything left is ours to close now */
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
  }
  pthread_mutex_destroy(&c->lock);
}

void core_submit(struct core *c, struct core_req *r) {
  r->next = NULL;
  pthread_mutex_lock(&c->lock);
  if (c->stopping) {
    pthread_mutex_unlock(&c->lock);
    core_req_reply_error(r, 503, "shutting_down", "the daemon is shutting down");
    return;
  }
  if (c->queue_tail)
    c->queue_tail->next = r;
  else
    c->queue_head = r;
  c->queue_tail = r;
  pthread_mutex_unlock(&c->lock);
  uv_async_send(&c->wake);
}

void core_req_reply_bytes(struct core_req *r, int status, const char *ctype, char *data, size_t len) {
  r->status = status;
  r->content_type = (char *)ctype;
  r->resp = data;
  r->resp_len = len;
  r->done(r);
}

void core_req_reply_json(struct core_req *r, int status, json_t *body) {
  char *txt = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!txt)
    abort();
  core_req_reply_bytes(r, status, "application/json", txt, strlen(txt));
}

void core_req_reply_error(struct core_req *r, int status, const char *code, const char *fmt, ...) {
  va_list ap;
  char msg[2048];
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  utf8_sanitize(msg);
  core_req_reply_json(r, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

void core_req_free(struct core_req *r) {
  if (!r)
    return;
  free(r->path);
  free(r->query_tail);
  free(r->query_keep_disks);
  free(r->query_dry_run);
  free(r->body);
  free(r->upload_tmp);
  free(r->resp);
  free(r);
}
