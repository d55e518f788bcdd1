/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * napi_init: libqemu_hmos.so, the HarmonyOS shell's Node-API module. It puts
 * the daemon library (libqemu-hmos, server/include/qemu-hmos.h) behind four
 * functions for ArkTS (types/libqemu_hmos/index.d.ts):
 *
 *   start(options) -> {url, wsUrl, token}  qhm_daemon_start, then qhm_daemon_run on a thread of
 *                                          ours; throws Error(reason + the log lines of this start)
 *   stop()                                 qhm_daemon_stop, join, qhm_daemon_free; a later start()
 *                                          in the same process makes a new daemon
 *   status() -> {running, url, vmsRunning, downloads}
 *   onEvent(cb)                            cb({type, vmsRunning, downloads, json}) for every event
 *                                          the /events stream sends; replaces the previous cb
 *
 * One daemon per process. On Linux meson builds this same file as a Node.js addon
 * (qemu_hmos.node) that tests/hap/napi.test.mjs loads; on HarmonyOS CMakeLists.txt builds it.
 *
 * Threads: the JS thread runs the four functions and call_js; the daemon's core thread runs
 * on_event (summary + a thread-safe-function call, never blocking); any thread runs on_log.
 * `life` serialises start/stop/status; `lock` guards what the core thread shares (the
 * thread-safe function, the last summary); `ring_lock` the log lines.
 *
 * Node-API calls used, each in OpenHarmony's list of exported Node-API symbols (API 10, the
 * cleanup hook 11;
 * https://gitcode.com/openharmony/docs/blob/master/zh-cn/application-dev/reference/native-lib/napi.md):
 *   module:   napi_module_register (HarmonyOS) | NAPI_MODULE_INIT's napi_register_module_v1 (Node.js),
 *             napi_define_properties, napi_add_env_cleanup_hook
 *   in:       napi_get_cb_info, napi_typeof, napi_get_named_property, napi_get_value_string_utf8,
 *             napi_get_value_double, napi_is_array, napi_get_array_length, napi_get_element
 *   out:      napi_create_object, napi_set_named_property, napi_create_string_utf8, napi_create_double,
 *             napi_create_uint32, napi_get_boolean, napi_create_array_with_length, napi_set_element,
 *             napi_get_undefined
 *   errors:   napi_throw_error, napi_throw_type_error, napi_is_exception_pending,
 *             napi_get_and_clear_last_exception, napi_coerce_to_string
 *   events:   napi_create_threadsafe_function (with a finalizer), napi_call_threadsafe_function
 *             (napi_tsfn_nonblocking), napi_release_threadsafe_function, napi_unref_threadsafe_function,
 *             napi_call_function
 * OpenHarmony's differences that matter here (same page): its thread-safe functions register no
 * cleanup hook (ours releases them), and napi_unref_threadsafe_function must be called on the
 * function's own JS thread (it is: onEvent).
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __OHOS__
#include <hilog/log.h>
#include <napi/native_api.h>
#else
#define NAPI_VERSION 8 /* nothing newer than what OpenHarmony's Node-API offers */
#include <node_api.h>
#endif

#include "qemu-hmos.h"

#define EVENT_QUEUE_MAX 1000 /* events waiting for the JS thread; more are dropped (status() stays right) */
#define LOG_KEEP 40          /* the log lines a failed start() reports */
#define LOG_LINE 400
#define MAX_ALLOW_PATHS 32

/* One event on its way to the JS thread. */
struct event_msg {
  char *type, *json;
  struct qhm_summary *summary; /* read on the core thread when the event was delivered */
};

/* The finalizer's data: which thread-safe function is going away. */
struct tsfn_slot {
  napi_threadsafe_function tsfn;
};

static struct {
  pthread_mutex_t life; /* start, stop, status, the environment's cleanup */
  struct qhm_daemon *d; /* under life */
  pthread_t thread;
  napi_env owner; /* the environment that started d (compared only, never used) */
  char url[128];

  pthread_mutex_t lock; /* shared with the core thread */
  napi_threadsafe_function tsfn;
  napi_env tsfn_env;
  struct qhm_summary *last; /* the newest summary: status() */

  pthread_mutex_t ring_lock;
  char ring[LOG_KEEP][LOG_LINE];
  unsigned ring_next, ring_count;
} g = {.life = PTHREAD_MUTEX_INITIALIZER,
       .lock = PTHREAD_MUTEX_INITIALIZER,
       .ring_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- the log ---- */

/* A line for the device's log (hilog) or standard error. */
static void log_forward(int level, const char *line) {
#ifdef __OHOS__
  /* https://developer.huawei.com/consumer/cn/doc/harmonyOS-faqs/faqs-ndk-35/: %{public}s, or the
   * text is hidden as private. */
  static const LogLevel levels[] = {LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG};
  OH_LOG_Print(LOG_APP, levels[level < 0 || level > 3 ? 2 : level], 0x5148, "qemu-hmos", "%{public}s", line);
#else
  (void)level;
  fprintf(stderr, "%s\n", line);
#endif
}

/* qhm_log_to's callback: any thread, one line at a time. */
static void on_log(int level, const char *line, void *ud) {
  (void)ud;
  pthread_mutex_lock(&g.ring_lock);
  snprintf(g.ring[g.ring_next], LOG_LINE, "%s", line);
  g.ring_next = (g.ring_next + 1) % LOG_KEEP;
  if (g.ring_count < LOG_KEEP)
    g.ring_count++;
  pthread_mutex_unlock(&g.ring_lock);
  log_forward(level, line);
}

static void ring_clear(void) {
  pthread_mutex_lock(&g.ring_lock);
  g.ring_next = g.ring_count = 0;
  pthread_mutex_unlock(&g.ring_lock);
}

/* "REASON\n\nlog:\nLINE\n..." (malloc'd): the lines logged since ring_clear. */
static char *with_log_tail(const char *reason) {
  pthread_mutex_lock(&g.ring_lock);
  size_t cap = strlen(reason) + 16 + (size_t)g.ring_count * (LOG_LINE + 1);
  char *out = malloc(cap);
  if (out) {
    size_t n = (size_t)snprintf(out, cap, "%s%s", reason, g.ring_count ? "\n\nlog:" : "");
    for (unsigned i = 0; i < g.ring_count; i++) {
      unsigned k = (g.ring_next + LOG_KEEP - g.ring_count + i) % LOG_KEEP;
      n += (size_t)snprintf(out + n, cap - n, "\n%s", g.ring[k]);
    }
  }
  pthread_mutex_unlock(&g.ring_lock);
  return out;
}

/* ---- JS values ---- */

static napi_value str_value(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &v);
  return v;
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_set_named_property(env, obj, key, str_value(env, s));
}

static void set_num(napi_env env, napi_value obj, const char *key, double n) {
  napi_value v;
  napi_create_double(env, n, &v);
  napi_set_named_property(env, obj, key, v);
}

/* OBJ.vmsRunning and OBJ.downloads from S (NULL: none known). */
static void set_summary(napi_env env, napi_value obj, const struct qhm_summary *s) {
  napi_value n, list;
  napi_create_uint32(env, s ? s->vms_running : 0, &n);
  napi_set_named_property(env, obj, "vmsRunning", n);
  size_t count = s ? s->n_downloads : 0;
  napi_create_array_with_length(env, count, &list);
  for (size_t i = 0; i < count; i++) {
    const struct qhm_download *dl = &s->downloads[i];
    napi_value o;
    napi_create_object(env, &o);
    set_str(env, o, "id", dl->id);
    set_str(env, o, "name", dl->name);
    set_str(env, o, "state", dl->state);
    set_num(env, o, "doneBytes", (double)dl->done_bytes);
    set_num(env, o, "totalBytes", (double)dl->total_bytes);
    napi_set_element(env, list, (uint32_t)i, o);
  }
  napi_set_named_property(env, obj, "downloads", list);
}

/* ---- options ---- */

/* V as a malloc'd string in *OUT; -1 with a TypeError naming WHAT thrown when it is not a
 * string or holds a NUL. */
static int value_string(napi_env env, napi_value v, const char *what, char **out) {
  napi_valuetype t;
  size_t len = 0;
  *out = NULL;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_string &&
      napi_get_value_string_utf8(env, v, NULL, 0, &len) == napi_ok && (*out = malloc(len + 1)) &&
      napi_get_value_string_utf8(env, v, *out, len + 1, &len) == napi_ok && strlen(*out) == len)
    return 0;
  free(*out);
  *out = NULL;
  char msg[96];
  snprintf(msg, sizeof(msg), "options.%s must be a string without NUL", what);
  napi_throw_type_error(env, NULL, msg);
  return -1;
}

/* OPTS[KEY] as a malloc'd string in *OUT (NULL when absent or undefined). */
static int opt_string(napi_env env, napi_value opts, const char *key, char **out) {
  napi_value v;
  napi_valuetype t;
  *out = NULL;
  if (napi_get_named_property(env, opts, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok)
    return -1;
  return t == napi_undefined ? 0 : value_string(env, v, key, out);
}

/* OPTS[KEY] as a port (0-65535) in *OUT; absent: 0 (a free one). */
static int opt_port(napi_env env, napi_value opts, const char *key, uint16_t *out) {
  napi_value v;
  napi_valuetype t;
  double d = 0;
  *out = 0;
  if (napi_get_named_property(env, opts, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok)
    return -1;
  if (t == napi_undefined)
    return 0;
  if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok || d < 0 || d > 65535 ||
      d != floor(d)) {
    char msg[96];
    snprintf(msg, sizeof(msg), "options.%s must be a port number from 0 to 65535", key);
    napi_throw_type_error(env, NULL, msg);
    return -1;
  }
  *out = (uint16_t)d;
  return 0;
}

/* OPTS.allowPaths: an array of strings into PATHS (malloc'd each), *N of them. */
static int opt_paths(napi_env env, napi_value opts, char **paths, size_t *n) {
  napi_value v;
  napi_valuetype t;
  bool is_array = false;
  uint32_t len = 0;
  *n = 0;
  if (napi_get_named_property(env, opts, "allowPaths", &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok)
    return -1;
  if (t == napi_undefined)
    return 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, v, &len) != napi_ok || len > MAX_ALLOW_PATHS) {
    napi_throw_type_error(env, NULL, "options.allowPaths must be an array of at most 32 strings");
    return -1;
  }
  for (uint32_t i = 0; i < len; i++) {
    napi_value item;
    if (napi_get_element(env, v, i, &item) != napi_ok ||
        value_string(env, item, "allowPaths[]", &paths[i]) < 0)
      return -1;
    (*n)++;
  }
  return 0;
}

/* ---- events ---- */

static void event_msg_free(struct event_msg *m) {
  if (!m)
    return;
  free(m->type);
  free(m->json);
  qhm_summary_free(m->summary);
  free(m);
}

/* The core thread, once an event's loop callback returned (qemu-hmos.h): never blocks. */
static void on_event(const char *type, const char *json, void *ud) {
  struct qhm_daemon *d = ud;
  struct event_msg *m = calloc(1, sizeof(*m));
  if (!m)
    return;
  m->type = strdup(type);
  m->json = strdup(json);
  m->summary = qhm_daemon_summary(d);
  struct qhm_summary *latest = qhm_daemon_summary(d);
  if (!m->type || !m->json || !m->summary) {
    event_msg_free(m);
    m = NULL;
  }
  pthread_mutex_lock(&g.lock);
  if (latest) {
    qhm_summary_free(g.last);
    g.last = latest;
  }
  napi_status st =
      m && g.tsfn ? napi_call_threadsafe_function(g.tsfn, m, napi_tsfn_nonblocking) : napi_closing;
  pthread_mutex_unlock(&g.lock);
  if (st != napi_ok)
    event_msg_free(m); /* no callback, or its queue is full */
}

/* A callback that threw: its message goes to the log; the app does not crash for it. */
static void report_exception(napi_env env) {
  bool pending = false;
  napi_value exc, text;
  char msg[LOG_LINE] = "?";
  size_t len;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending ||
      napi_get_and_clear_last_exception(env, &exc) != napi_ok)
    return;
  if (napi_coerce_to_string(env, exc, &text) == napi_ok)
    napi_get_value_string_utf8(env, text, msg, sizeof(msg), &len);
  char line[LOG_LINE + 40];
  snprintf(line, sizeof(line), "qemu-hmos: the onEvent callback threw: %s", msg);
  log_forward(0, line);
}

/* The JS thread: the event as a DaemonEvent. ENV NULL: the function is going away. */
static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  struct event_msg *m = data;
  if (env && cb) {
    napi_value ev, undefined, result;
    napi_create_object(env, &ev);
    set_str(env, ev, "type", m->type);
    set_summary(env, ev, m->summary);
    set_str(env, ev, "json", m->json);
    napi_get_undefined(env, &undefined);
    if (napi_call_function(env, undefined, cb, 1, &ev, &result) != napi_ok)
      report_exception(env);
  }
  event_msg_free(m);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct tsfn_slot *slot = data;
  pthread_mutex_lock(&g.lock);
  if (g.tsfn == slot->tsfn)
    g.tsfn = NULL;
  pthread_mutex_unlock(&g.lock);
  free(slot);
}

/* Put NEW in place (NULL: none) and let the old one go. */
static void tsfn_replace(napi_threadsafe_function fresh, napi_env env,
                         napi_threadsafe_function_release_mode mode) {
  pthread_mutex_lock(&g.lock);
  napi_threadsafe_function old = g.tsfn;
  g.tsfn = fresh;
  g.tsfn_env = env;
  pthread_mutex_unlock(&g.lock);
  if (old) /* no core-thread call can be using it: they hold the lock */
    napi_release_threadsafe_function(old, mode);
}

/* onEvent(callback) */
static napi_value js_on_event(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name;
  napi_valuetype t = napi_undefined;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1)
    napi_typeof(env, argv[0], &t);
  if (t == napi_undefined || t == napi_null) {
    tsfn_replace(NULL, NULL, napi_tsfn_release);
    return NULL;
  }
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "onEvent needs a function");
    return NULL;
  }
  struct tsfn_slot *slot = calloc(1, sizeof(*slot));
  napi_threadsafe_function fn;
  if (!slot || napi_create_string_utf8(env, "qemu-hmos events", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[0], NULL, name, EVENT_QUEUE_MAX, 1, slot, tsfn_finalize, NULL,
                                      call_js, &fn) != napi_ok) {
    free(slot);
    napi_throw_error(env, NULL, "onEvent: cannot make a thread-safe function");
    return NULL;
  }
  slot->tsfn = fn;
  napi_unref_threadsafe_function(env, fn); /* it does not keep the JS event loop alive */
  tsfn_replace(fn, env, napi_tsfn_release);
  return NULL;
}

/* ---- start, stop, status ---- */

static void *run_daemon(void *d) {
  qhm_daemon_run(d);
  return NULL;
}

/* Under life. VMs keep running (qemu-hmos.h); the last summary stays for status(). */
static void stop_daemon(void) {
  if (!g.d)
    return;
  qhm_daemon_stop(g.d);
  pthread_join(g.thread, NULL);
  struct qhm_summary *s = qhm_daemon_summary(g.d); /* the loop has returned: allowed */
  pthread_mutex_lock(&g.lock);
  qhm_summary_free(g.last);
  g.last = s;
  pthread_mutex_unlock(&g.lock);
  qhm_daemon_free(g.d);
  g.d = NULL;
  g.owner = NULL;
  g.url[0] = 0;
}

struct start_opts {
  char *data_dir, *bind, *ui_dir, *qemu, *launcher, *child_dir;
  char *paths[MAX_ALLOW_PATHS];
  size_t n_paths;
  uint16_t port, ws_port;
};

static void start_opts_free(struct start_opts *o) {
  free(o->data_dir);
  free(o->bind);
  free(o->ui_dir);
  free(o->qemu);
  free(o->launcher);
  free(o->child_dir);
  for (size_t i = 0; i < o->n_paths; i++)
    free(o->paths[i]);
}

static int read_start_opts(napi_env env, napi_value opts, struct start_opts *o) {
  if (opt_string(env, opts, "dataDir", &o->data_dir) < 0 || opt_string(env, opts, "bind", &o->bind) < 0 ||
      opt_string(env, opts, "uiDir", &o->ui_dir) < 0 || opt_string(env, opts, "qemu", &o->qemu) < 0 ||
      opt_string(env, opts, "launcher", &o->launcher) < 0 ||
      opt_string(env, opts, "childDir", &o->child_dir) < 0 || opt_port(env, opts, "port", &o->port) < 0 ||
      opt_port(env, opts, "wsPort", &o->ws_port) < 0 || opt_paths(env, opts, o->paths, &o->n_paths) < 0)
    return -1;
  if (!o->data_dir) {
    napi_throw_type_error(env, NULL, "options.dataDir is required");
    return -1;
  }
  return 0;
}

/* start(options) -> {url, wsUrl, token} */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result = NULL;
  napi_valuetype t = napi_undefined;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1)
    napi_typeof(env, argv[0], &t);
  if (t != napi_object) {
    napi_throw_type_error(env, NULL, "start needs an options object");
    return NULL;
  }
  struct start_opts so = {0};
  if (read_start_opts(env, argv[0], &so) < 0) {
    start_opts_free(&so);
    return NULL;
  }
  struct qhm_options o = {.data_dir = so.data_dir,
                          .bind = so.bind,
                          .port = so.port,
                          .ws_port = so.ws_port,
                          .ui_dir = so.ui_dir,
                          .allow_paths = (const char *const *)so.paths,
                          .n_allow_paths = so.n_paths,
                          .qemu = so.qemu,
                          .launcher = so.launcher,
                          .child_dir = so.child_dir};
#ifdef __OHOS__
  if (!o.launcher)
    o.launcher = "child"; /* apps may not exec their own programs (hap-wrapper/README.md) */
#endif
  pthread_mutex_lock(&g.life);
  if (g.d) {
    pthread_mutex_unlock(&g.life);
    start_opts_free(&so);
    napi_throw_error(env, NULL, "the daemon is already running: stop() it first");
    return NULL;
  }
  char err[2048] = "";
  ring_clear();
  struct qhm_daemon *d = qhm_daemon_start(&o, err, sizeof(err));
  start_opts_free(&so);
  if (!d) {
    pthread_mutex_unlock(&g.life);
    char *msg = with_log_tail(err[0] ? err : "the daemon did not start");
    napi_throw_error(env, NULL, msg ? msg : err);
    free(msg);
    return NULL;
  }
  struct qhm_summary *s = qhm_daemon_summary(d); /* the VMs start() reattached */
  pthread_mutex_lock(&g.lock);
  qhm_summary_free(g.last);
  g.last = s;
  pthread_mutex_unlock(&g.lock);
  qhm_daemon_on_event(d, on_event, d);
  struct qhm_status st;
  qhm_daemon_status(d, &st);
  if (pthread_create(&g.thread, NULL, run_daemon, d) != 0) {
    qhm_daemon_free(d);
    pthread_mutex_unlock(&g.life);
    napi_throw_error(env, NULL, "cannot start the daemon's thread");
    return NULL;
  }
  g.d = d;
  g.owner = env;
  snprintf(g.url, sizeof(g.url), "%s", st.http_url);
  napi_create_object(env, &result);
  set_str(env, result, "url", st.http_url);
  set_str(env, result, "wsUrl", st.ws_url);
  set_str(env, result, "token", st.token);
  pthread_mutex_unlock(&g.life);
  return result;
}

/* stop(): a no-op when not running. */
static napi_value js_stop(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  pthread_mutex_lock(&g.life);
  stop_daemon();
  pthread_mutex_unlock(&g.life);
  return NULL;
}

/* status() -> {running, url, vmsRunning, downloads} */
static napi_value js_status(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, running;
  napi_create_object(env, &result);
  pthread_mutex_lock(&g.life);
  napi_get_boolean(env, g.d != NULL, &running);
  napi_set_named_property(env, result, "running", running);
  set_str(env, result, "url", g.url);
  pthread_mutex_lock(&g.lock);
  set_summary(env, result, g.last);
  pthread_mutex_unlock(&g.lock);
  pthread_mutex_unlock(&g.life);
  return result;
}

/* The environment goes away (the app's ability, Node's exit): the daemon it started stops, its
 * callback is released (OpenHarmony does not do that for us). */
static void env_cleanup(void *arg) {
  napi_env env = arg;
  pthread_mutex_lock(&g.life);
  if (g.owner == env)
    stop_daemon();
  pthread_mutex_unlock(&g.life);
  pthread_mutex_lock(&g.lock);
  bool ours = g.tsfn && g.tsfn_env == env;
  pthread_mutex_unlock(&g.lock);
  if (ours)
    tsfn_replace(NULL, NULL, napi_tsfn_abort);
}

static napi_value module_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, js_stop, NULL, NULL, NULL, napi_default, NULL},
      {"status", NULL, js_status, NULL, NULL, NULL, napi_default, NULL},
      {"onEvent", NULL, js_on_event, NULL, NULL, NULL, napi_default, NULL},
  };
  qhm_log_to(on_log, NULL);
  napi_add_env_cleanup_hook(env, env_cleanup, env);
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

#ifdef __OHOS__
/* `import qhm from 'libqemu_hmos.so'` finds the module by nm_modname, the library's name without
 * lib and .so (https://developer.huawei.com/consumer/cn/doc/harmonyOS-faqs/faqs-ndk-37/). */
static napi_module qhm_module = {
    .nm_version = 1,
    .nm_flags = 0,
    .nm_filename = NULL,
    .nm_register_func = module_init,
    .nm_modname = "qemu_hmos",
    .nm_priv = NULL,
};

__attribute__((constructor)) static void register_module(void) {
  napi_module_register(&qhm_module);
}
#else
NAPI_MODULE_INIT() {
  return module_init(env, exports);
}
#endif
