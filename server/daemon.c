/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon: libqemu-hmos's public face (include/qemu-hmos.h). Checks the options,
 * takes the data directory's lock, wires the layers together (core, HTTP, the
 * WebSocket listener, the LAN side), writes DATA/run/endpoint.json, and takes
 * it all down again. Everything it makes lives in struct qhm_daemon.
 */
#include "qemu-hmos.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "child.h"
#include "core.h"
#include "crashpt.h"
#include "dl.h"
#include "events.h"
#include "http.h"
#include "launch.h"
#include "paths.h"
#include "priv.h"
#include "rdpws.h"
#include "serialws.h"
#include "store.h"
#include "ticket.h"
#include "tls.h"
#include "util.h"
#include "vm.h"
#include "vncaudio.h"
#include "vncws.h"
#include "ws.h"

/* An event for the embedder's callback, queued until the loop callback that emitted it returned. */
struct pending_event {
  struct pending_event *next;
  char *type, *json;
};

struct qhm_daemon {
  struct core core;
  struct launch_backend backend; /* the launcher's (its paths below) */
  char child_loader[4200], child_shim[4200];
  struct path_roots roots;
  struct http *http, *http_lan;
  bool core_up; /* parts_init ran: parts_fini is due */
  int lockfd;
  atomic_bool running;
  char endpoint[4300];
  char http_url[64];
  qhm_event_cb on_event; /* the embedder's (qhm_daemon_on_event) */
  void *on_event_ud;
  uv_idle_t event_idle; /* while qhm_daemon_run runs with on_event: delivers the queue */
  struct pending_event *ev_head, **ev_tail;
};

/* 127.0.0.0/8 */
static bool is_loopback(const char *addr) {
  struct in_addr a;
  return inet_pton(AF_INET, addr, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

int qhm_options_check(const struct qhm_options *o, char *err, size_t errlen) {
  const char *bind_addr = o->bind ? o->bind : "127.0.0.1";
  struct in_addr in;
  if (!o->data_dir || o->data_dir[0] != '/') {
    snprintf(err, errlen, "the data directory must be an absolute path");
    return -1;
  }
  if (strlen(o->data_dir) >= 4000) {
    snprintf(err, errlen, "the data directory's path is too long");
    return -1;
  }
  if (inet_pton(AF_INET, bind_addr, &in) != 1) {
    snprintf(err, errlen, "--bind: '%s' is not an IPv4 address", bind_addr);
    return -1;
  }
  if (!o->lan && !is_loopback(bind_addr)) {
    snprintf(err, errlen,
             "--bind %s is not a loopback address: serving other devices needs --lan (HTTPS, and each "
             "browser paired with a code shown on this device)",
             bind_addr);
    return -1;
  }
  if (!o->lan && (o->n_lan_names || (o->lan_port && o->lan_port != 8443) ||
                  (o->lan_ws_port && o->lan_ws_port != 8444))) {
    snprintf(err, errlen, "--lan-port, --lan-ws-port and --lan-name need --lan");
    return -1;
  }
  if (o->launcher && strcmp(o->launcher, "exec") != 0 && strcmp(o->launcher, "child") != 0) {
    snprintf(err, errlen, "--launcher: '%s' is neither exec nor child", o->launcher);
    return -1;
  }
  if (o->n_allow_origins > 5 || o->n_lan_names > 8 || o->n_allow_paths > PATHS_MAX_ROOTS - 8) {
    snprintf(err, errlen, "too many --allow-origin (5), --lan-name (8) or --allow-path (%d)",
             PATHS_MAX_ROOTS - 8);
    return -1;
  }
  for (size_t i = 0; i < o->n_allow_origins; i++)
    if (strlen(o->allow_origins[i]) > 90) {
      snprintf(err, errlen, "--allow-origin: at most 5, each under 90 bytes");
      return -1;
    }
  return 0;
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
  struct core *c = ud;
  if (kinds & VM_CONSOLE_VNC) {
    vncws_close_vm(c->vnc, vm_id, why);
    vncaudio_close_vm(c->vnc_audio, vm_id, why);
  }
  if (kinds & VM_CONSOLE_RDP)
    rdpws_close_vm(c->rdp, vm_id, why);
  if (kinds & VM_CONSOLE_SERIAL)
    serialws_close_vm(c->serial, vm_id, why);
}

static void vm_hook_serial_output(void *ud, const char *vm_id, const char *data, size_t len) {
  struct core *c = ud;
  serialws_output(c->serial, vm_id, data, len);
}

/* What a serial console's viewer typed, to the VM's serial port. */
static int serial_input(void *ud, const char *vm_id, const char *data, size_t len) {
  struct core *c = ud;
  return c->vms ? vm_manager_serial_write(c->vms, vm_id, data, len) : -1;
}

static const char *vm_hook_ws_url(void *ud, bool lan) {
  struct core *c = ud;
  return c->ws ? ws_url_for(c->ws, lan) : NULL; /* c->ws: set once ws_start() ran */
}

/* The programs that also come as library entries, for the child launcher: the RDP worker, in
 * CHILD_DIR (the child launcher's files; NULL: this executable's directory). Its path into WORKER.
 * On HarmonyOS it is a library of the app, which a child process loads by file name (the app's
 * libs/ may stay inside the HAP: no path to check). */
static void map_programs(struct launcher *l, const char *child_dir, char *worker, size_t len) {
#ifdef __OHOS__
  (void)child_dir;
  snprintf(worker, len, "qemu-hmos-rdp");
  launch_map(l, worker, RDPWS_WORKER_LIB ":" RDPWS_WORKER_ENTRY);
#else
  char lib[4200];
  char *slash = rdpws_worker_path(child_dir, worker, len) == 0 ? strrchr(worker, '/') : NULL;
  if (slash && fmt_path(lib, sizeof(lib), "%.*s/%s", (int)(slash - worker), worker, RDPWS_WORKER_LIB) == 0)
    launch_map_library(l, worker, lib, RDPWS_WORKER_ENTRY);
  if (!slash)
    worker[0] = 0;
#endif
}

/* The parts that run on the core loop, in the order they depend on each other. */
static int parts_init(struct core *c, const struct launch_backend *backend, const struct qhm_options *o,
                      struct auth *auth, struct path_roots *roots, char *err, size_t errlen) {
  const char *data_dir = o->data_dir;
  memset(c, 0, sizeof(*c));
  c->auth = auth; /* before the VMs load: autostart checks paths */
  c->roots = roots;
  c->dispatch = api_dispatch;
  snprintf(c->data_dir, sizeof(c->data_dir), "%s", data_dir);
  core_loop_init(c, o->handle_signals);
  c->tickets = ticket_store_new();
  c->events = events_new();
  c->vnc = vncws_hub_new();
  c->vnc_audio = vncaudio_hub_new();
  c->serial = serialws_hub_new(serial_input, c);
  c->launcher = launcher_new(&c->loop, backend);
  char worker[4096];
  map_programs(c->launcher, o->child_dir, worker, sizeof(worker));
  c->rdp = rdpws_hub_new(worker);
  if (host_probe(&c->host, c->launcher, o->qemu, err, errlen) < 0)
    return -1;
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
                                                                  .serial_output = vm_hook_serial_output,
                                                                  .ud = c});
  if (vm_manager_load(c->vms, err, errlen) < 0)
    return -1;
  c->dls = dl_manager_new(c);
  if (dl_manager_load(c->dls, err, errlen) < 0)
    return -1;
  vm_manager_autostart(c->vms); /* answered once the loop runs */
  return 0;
}

/* After the loop: answer every request still waiting on the core (HTTP connections stay
 * suspended until then, and libmicrohttpd aborts when stopped with one suspended). Before
 * http_stop(); again in parts_fini (then a no-op). */
static void parts_answer_all(struct core *c) {
  if (c->launcher)
    launcher_shutdown(c->launcher); /* qemu-img runs of snapshot, disk and clone requests first */
  ws_stop(c->ws);                   /* closes every WebSocket session and its VNC connection */
  c->ws = NULL;
  vm_manager_free(c->vms); /* answers parked requests; detaches from QEMU (VMs keep running) */
  c->vms = NULL;
  dl_manager_free(c->dls); /* records exact progress; transfers resume on the next start */
  c->dls = NULL;
}

static void parts_fini(struct core *c) {
  parts_answer_all(c);
  store_free(c->store);
  c->store = NULL;
  ticket_store_free(c->tickets);
  c->tickets = NULL;
  core_loop_fini(c);
  launcher_free(c->launcher);
  c->launcher = NULL;
  events_free(c->events);
  c->events = NULL;
  vncws_hub_free(c->vnc);
  vncaudio_hub_free(c->vnc_audio);
  c->vnc_audio = NULL;
  rdpws_hub_free(c->rdp);
  serialws_hub_free(c->serial);
  c->serial = NULL;
  c->vnc = NULL;
  c->rdp = NULL;
  host_caps_free(&c->host);
}

/* The lock on DATA/run/daemon.lock: one daemon a data directory. */
static int take_lock(struct qhm_daemon *d, const char *data_dir, char *err, size_t errlen) {
  char run_dir[4200], lock_path[4300];
  snprintf(run_dir, sizeof(run_dir), "%s/run", data_dir);
  if (mkdir_p(run_dir, 0700) < 0) {
    snprintf(err, errlen, "cannot create %s: %s", run_dir, strerror(errno));
    return -1;
  }
  snprintf(lock_path, sizeof(lock_path), "%s/daemon.lock", run_dir);
  d->lockfd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (d->lockfd < 0) {
    snprintf(err, errlen, "cannot open %s: %s", lock_path, strerror(errno));
    return -1;
  }
  if (flock(d->lockfd, LOCK_EX | LOCK_NB) < 0) {
    snprintf(err, errlen, "another qemu-hmos is serving %s", data_dir);
    return -1;
  }
  snprintf(d->endpoint, sizeof(d->endpoint), "%s/endpoint.json", run_dir);
  return 0;
}

/* Before anything is created or migrated in it. */
static int check_data_dir(const char *data_dir, char *err, size_t errlen) {
  if (access(data_dir, W_OK) < 0 && errno != ENOENT) {
    int e = errno;
    snprintf(err, errlen, "the data directory %s is not writable: %s%s", data_dir, strerror(e),
             e == EROFS ? " (remount it read-write or choose another --data-dir)" : "");
    return -1;
  }
  return 0;
}

static int add_roots(struct qhm_daemon *d, const struct qhm_options *o, char *err, size_t errlen) {
  char why[512];
  if (path_roots_add_data(&d->roots, o->data_dir, why, sizeof(why)) < 0) {
    snprintf(err, errlen, "cannot start: %s", why);
    return -1;
  }
  for (size_t i = 0; i < o->n_allow_paths + o->n_share_passthrough; i++) {
    bool allow = i < o->n_allow_paths;
    const char *dir = allow ? o->allow_paths[i] : o->share_passthrough[i - o->n_allow_paths];
    if (path_roots_add(&d->roots, dir, why, sizeof(why)) < 0) {
      snprintf(err, errlen, "%s %s", allow ? "--allow-path" : "--share-passthrough", why);
      return -1;
    }
  }
  return 0;
}

/* The LAN side: HTTPS on BIND, WSS, the certificate's fingerprint. */
static int start_lan(struct qhm_daemon *d, const struct qhm_options *o, const struct tls_cert *cert,
                     const char *ui_dir, char *err, size_t errlen) {
  struct core *c = &d->core;
  const char *lan_addr = o->bind;
  char why[512];
  struct http_opts lo = {.bind = lan_addr,
                         .port = o->lan_port,
                         .ui_dir = ui_dir,
                         .tls = true,
                         .cert_pem = cert->cert_pem,
                         .key_pem = cert->key_pem,
                         .names = o->lan_names,
                         .n_names = (int)o->n_lan_names};
  d->http_lan = http_start(c, &lo, why, sizeof(why));
  if (!d->http_lan || ws_start_lan(c->ws, lan_addr, o->lan_ws_port, cert->cert_path, cert->key_path,
                                   http_hosts(d->http_lan), why, sizeof(why)) < 0) {
    snprintf(err, errlen, "LAN mode: %s", why);
    return -1;
  }
  auth_allow_origins_of(c->auth, http_hosts(d->http_lan), true);
  snprintf(c->lan_url, sizeof(c->lan_url), "https://%s:%u",
           strcmp(lan_addr, "0.0.0.0") == 0 && o->n_lan_names ? o->lan_names[0] : lan_addr,
           http_port(d->http_lan));
  snprintf(c->lan_fingerprint, sizeof(c->lan_fingerprint), "%s", cert->fingerprint);
  return 0;
}

static void write_endpoint(struct qhm_daemon *d) {
  struct core *c = &d->core;
  char lan_json[512] = "";
  if (c->lan_url[0])
    snprintf(lan_json, sizeof(lan_json),
             ", \"lan\": {\"url\": \"%s\", \"ws\": \"%s\", \"fingerprint\": \"%s\"}", c->lan_url,
             ws_lan_url(c->ws), c->lan_fingerprint);
  char *ep =
      xasprintf("{\"http\": \"%s\", \"ws\": \"%s\", \"pid\": %d, \"version\": \"%s\", "
                "\"token\": \"%s\"%s}\n",
                d->http_url, ws_base_url(c->ws), (int)getpid(), QHM_VERSION, auth_token(c->auth), lan_json);
  if (write_file_atomic(d->endpoint, ep, strlen(ep), 0600) < 0)
    log_err("cannot write %s: %s", d->endpoint, strerror(errno));
  secret_free(ep); /* it holds the token */
  log_info("qemu-hmos %s serving %s and %s (data %s, launcher %s)", QHM_VERSION, d->http_url,
           ws_base_url(c->ws), c->data_dir, launcher_backend_name(c->launcher));
  if (c->lan_url[0])
    log_info("LAN mode: %s (and %s), certificate SHA-256 %s", c->lan_url, ws_lan_url(c->ws),
             c->lan_fingerprint);
}

/* The launch backend: exec, or child with its loader and shim (next to this executable unless
 * the options say where; on HarmonyOS the system is the loader and the shim is one of the app's
 * libraries, named by its file name). */
static int choose_launcher(struct qhm_daemon *d, const struct qhm_options *o, char *err, size_t errlen) {
#ifdef __OHOS__
  /* No exec on HarmonyOS: the child launcher is the only one, and the default. */
  if (o->launcher && strcmp(o->launcher, "exec") == 0) {
    snprintf(err, errlen,
             "--launcher exec: an app may not exec programs on HarmonyOS (the launcher is child)");
    return -1;
  }
  snprintf(d->child_shim, sizeof(d->child_shim), "%s", CHILD_SHIM_LIB);
  d->backend = launch_ohos_backend(d->child_shim);
  return 0;
#else
  if (!o->launcher || strcmp(o->launcher, "exec") == 0) {
    d->backend = launch_exec_backend;
    return 0;
  }
  char dir[4096];
  if (o->child_dir) {
    snprintf(dir, sizeof(dir), "%s", o->child_dir);
  } else if (self_dir(dir, sizeof(dir)) < 0) {
    snprintf(err, errlen, "--launcher child: cannot find this program's directory");
    return -1;
  }
  snprintf(d->child_loader, sizeof(d->child_loader), "%s/qemu-hmos-child", dir);
  snprintf(d->child_shim, sizeof(d->child_shim), "%s/%s", dir, CHILD_SHIM_LIB);
  if (access(d->child_loader, X_OK) < 0 || access(d->child_shim, R_OK) < 0) {
    snprintf(err, errlen, "--launcher child: %s or %s is missing", d->child_loader, d->child_shim);
    return -1;
  }
  d->backend = launch_child_backend(d->child_loader, d->child_shim);
  return 0;
#endif
}

/* Everything after the lock and the roots: auth, TLS, core, listeners. */
static int start_services(struct qhm_daemon *d, const struct qhm_options *o, char *err, size_t errlen) {
  struct core *c = &d->core;
  const char *bind_addr = o->lan || !o->bind ? "127.0.0.1" : o->bind; /* the device's own shell: loopback */
  char why[1024];
  struct auth *auth = auth_new(o->data_dir, o->new_token, why, sizeof(why));
  if (!auth) {
    snprintf(err, errlen, "cannot start: %s", why);
    return -1;
  }
  struct tls_cert cert = {0};
  if (o->lan && tls_load_or_make(&cert, o->data_dir, o->bind, o->lan_names, (int)o->n_lan_names, why,
                                 sizeof(why)) < 0) {
    snprintf(err, errlen, "cannot start LAN mode: %s", why);
    auth_free(auth);
    return -1;
  }
  d->core_up = true;
  int rc = -1;
  if (parts_init(c, &d->backend, o, auth, &d->roots, why, sizeof(why)) < 0) {
    c->auth = auth; /* freed with the core */
    snprintf(err, errlen, "cannot start: %s", why);
    goto out;
  }
  c->ws = ws_start(c, bind_addr, o->ws_port, why, sizeof(why));
  if (!c->ws && !o->ws_port_fixed && o->ws_port != 0) { /* the default is taken: another instance */
    log_info("WebSocket port %u: %s; using a free one", o->ws_port, why);
    c->ws = ws_start(c, bind_addr, 0, why, sizeof(why));
  }
  if (!c->ws) {
    snprintf(err, errlen, "%s", why);
    goto out;
  }
  for (size_t i = 0; i < o->n_allow_origins; i++)
    auth_allow_origin(c->auth, o->allow_origins[i]);
  struct http_opts ho = {.bind = bind_addr, .port = o->port, .ui_dir = o->ui_dir};
  d->http = http_start(c, &ho, why, sizeof(why));
  if (!d->http) {
    snprintf(err, errlen, "%s", why);
    goto out;
  }
  auth_allow_origins_of(c->auth, http_hosts(d->http), false);
  snprintf(d->http_url, sizeof(d->http_url), "http://%s:%u", bind_addr, http_port(d->http));
  if (o->lan && start_lan(d, o, &cert, o->ui_dir, err, errlen) < 0)
    goto out;
  write_endpoint(d);
  if (o->print_link) /* like Jupyter: the one link that opens the UI with its cookie */
    fprintf(stderr, "\n    Open the UI: %s/?token=%s\n\n", d->http_url, auth_token(c->auth));
  rc = 0;
out:
  tls_cert_clear(&cert);
  return rc;
}

/* Take down what start made, in the order that keeps every connection answered. */
static void teardown(struct qhm_daemon *d) {
  if (d->endpoint[0] && d->http)
    unlink(d->endpoint);
  if (d->core_up)
    parts_answer_all(&d->core); /* no HTTP connection may stay suspended when MHD stops */
  http_stop(d->http);
  http_stop(d->http_lan);
  d->http = d->http_lan = NULL;
  if (d->core_up) {
    struct auth *auth = d->core.auth;
    parts_fini(&d->core);
    auth_free(auth);
    d->core_up = false;
  }
  if (d->lockfd >= 0)
    close(d->lockfd);
  d->lockfd = -1;
}

struct qhm_daemon *qhm_daemon_start(const struct qhm_options *o, char *err, size_t errlen) {
  if (qhm_options_check(o, err, errlen) < 0 || check_data_dir(o->data_dir, err, errlen) < 0)
    return NULL;
  char why[1024];
  if (priv_init(o->run_as, (const char *const *)o->share_passthrough, o->n_share_passthrough, o->data_dir,
                why, sizeof(why)) < 0) {
    snprintf(err, errlen, "%s", why);
    return NULL;
  }
  struct qhm_daemon *d = xcalloc(1, sizeof(*d));
  d->lockfd = -1;
  if (o->handle_signals)
    signal(SIGPIPE, SIG_IGN);
  if (take_lock(d, o->data_dir, err, errlen) < 0 || add_roots(d, o, err, errlen) < 0 ||
      choose_launcher(d, o, err, errlen) < 0 || start_services(d, o, err, errlen) < 0) {
    teardown(d);
    free(d);
    return NULL;
  }
  return d;
}

/* ---- the embedder's events and summary ---- */

static void pending_free(struct pending_event *e) {
  free(e->type);
  free(e->json);
  free(e);
}

static void on_event_idle(uv_idle_t *h) {
  struct qhm_daemon *d = h->data;
  uv_idle_stop(h);
  struct pending_event *e = d->ev_head;
  d->ev_head = NULL;
  d->ev_tail = &d->ev_head;
  while (e) {
    struct pending_event *next = e->next;
    d->on_event(e->type, e->json, d->on_event_ud);
    pending_free(e);
    e = next;
  }
}

/* events.h's tap: inside events_emit, in the middle of the work that emitted it. */
static void event_tap(void *ud, const char *type, const char *json) {
  struct qhm_daemon *d = ud;
  struct pending_event *e = xcalloc(1, sizeof(*e));
  e->type = xstrdup(type);
  e->json = xstrdup(json);
  *d->ev_tail = e;
  d->ev_tail = &e->next;
  uv_idle_start(&d->event_idle, on_event_idle); /* no-op when started */
}

void qhm_daemon_on_event(struct qhm_daemon *d, qhm_event_cb cb, void *ud) {
  d->on_event = cb;
  d->on_event_ud = ud;
}

static void events_tap_begin(struct qhm_daemon *d) {
  if (!d->on_event)
    return;
  d->ev_head = NULL;
  d->ev_tail = &d->ev_head;
  uv_idle_init(&d->core.loop, &d->event_idle);
  d->event_idle.data = d;
  events_set_tap(d->core.events, event_tap, d);
}

/* After the loop's last run: what was not delivered is dropped; the handle closes with the loop. */
static void events_tap_end(struct qhm_daemon *d) {
  if (!d->on_event)
    return;
  events_set_tap(d->core.events, NULL, NULL);
  uv_close((uv_handle_t *)&d->event_idle, NULL);
  while (d->ev_head) {
    struct pending_event *next = d->ev_head->next;
    pending_free(d->ev_head);
    d->ev_head = next;
  }
}

struct qhm_summary *qhm_daemon_summary(struct qhm_daemon *d) {
  struct core *c = &d->core;
  if (!c->vms || !c->dls)
    return NULL;
  json_t *dls = dl_manager_unfinished(c->dls);
  size_t n = json_array_size(dls), size = sizeof(struct qhm_summary) + n * sizeof(struct qhm_download);
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_array_get(dls, i);
    size += strlen(json_string_value(json_object_get(o, "id"))) +
            strlen(json_string_value(json_object_get(o, "name"))) +
            strlen(json_string_value(json_object_get(o, "state"))) + 3;
  }
  struct qhm_summary *s = xcalloc(1, size);
  s->downloads = (struct qhm_download *)(s + 1);
  char *str = (char *)&s->downloads[n];
  s->vms_running = vm_manager_running_count(c->vms);
  s->n_downloads = n;
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_array_get(dls, i);
    const char **field[] = {&s->downloads[i].id, &s->downloads[i].name, &s->downloads[i].state};
    const char *key[] = {"id", "name", "state"};
    for (size_t k = 0; k < 3; k++) {
      const char *v = json_string_value(json_object_get(o, key[k]));
      size_t len = strlen(v) + 1;
      memcpy(str, v, len);
      *field[k] = str;
      str += len;
    }
    s->downloads[i].done_bytes = (uint64_t)json_integer_value(json_object_get(o, "bytes"));
    s->downloads[i].total_bytes = (int64_t)json_integer_value(json_object_get(o, "total"));
  }
  json_decref(dls);
  return s;
}

void qhm_summary_free(struct qhm_summary *s) {
  free(s);
}

static qhm_log_cb log_cb; /* process-wide, as the log is; read under the log's lock */

static void log_to_embedder(enum log_level lvl, const char *line, void *ud) {
  log_cb((int)lvl, line, ud);
}

void qhm_log_to(qhm_log_cb cb, void *ud) {
  log_set_sink(NULL, NULL); /* no line goes to the old callback with the new UD */
  log_cb = cb;
  if (cb)
    log_set_sink(log_to_embedder, ud);
}

/* ---- the loop ---- */

void qhm_daemon_run(struct qhm_daemon *d) {
  /* A write to a closed pipe or socket on this thread answers EPIPE instead of killing the process;
   * the mask is this thread's alone (MHD and lws send with MSG_NOSIGNAL). */
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  events_tap_begin(d);
  atomic_store(&d->running, true);
  core_run(&d->core);
  atomic_store(&d->running, false);
  events_tap_end(d);
  /* A SIGPIPE left pending for this thread is dropped before the old mask comes back. */
  struct timespec zero = {0, 0};
  while (sigtimedwait(&pipe_only, NULL, &zero) == SIGPIPE)
    ;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void qhm_daemon_stop(struct qhm_daemon *d) {
  core_stop(&d->core);
}

void qhm_daemon_free(struct qhm_daemon *d) {
  if (!d)
    return;
  teardown(d);
  log_info("stopped");
  free(d);
}

void qhm_daemon_status(const struct qhm_daemon *d, struct qhm_status *out) {
  const struct core *c = &d->core;
  out->http_url = d->http_url;
  out->ws_url = c->ws ? ws_base_url(c->ws) : "";
  out->lan_url = c->lan_url;
  out->token = c->auth ? auth_token(c->auth) : "";
  out->launcher = c->launcher ? launcher_backend_name(c->launcher) : "";
  out->running = atomic_load(&((struct qhm_daemon *)d)->running);
}
