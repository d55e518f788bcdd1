/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libqemu-hmos: the qemu-hmos daemon as a library. The `qemu-hmos serve`
 * command line is one user; the HarmonyOS shell's N-API module is another.
 *
 *   struct qhm_daemon *d = qhm_daemon_start(&opts, err, sizeof(err));
 *   ... on a thread the caller owns:  qhm_daemon_run(d);   (returns after qhm_daemon_stop)
 *   ... from any thread:              qhm_daemon_stop(d);
 *   qhm_daemon_free(d);
 *
 * An embedder that shows state (the HarmonyOS shell's notification) also sets
 * qhm_daemon_on_event before run and reads qhm_daemon_summary; qhm_log_to takes the log lines.
 *
 * Everything a daemon holds lives in its handle; a process may start and free
 * one daemon after another. Embedded (handle_signals false) it installs no
 * signal handler and no atexit hook: the core thread blocks SIGPIPE for itself
 * only. VMs keep running after a stop, as after a crash; the next start
 * reattaches them.
 */
#ifndef QEMU_HMOS_H
#define QEMU_HMOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QHM_API __attribute__((visibility("default")))

struct qhm_options {
  const char *data_dir;           /* absolute; created when missing. Required. */
  const char *bind;               /* a loopback IPv4 address; NULL: 127.0.0.1. With lan: the LAN address */
  uint16_t port;                  /* REST API and UI; 0 picks a free one */
  uint16_t ws_port;               /* WebSocket consoles and events; 0 picks */
  bool ws_port_fixed;             /* false: when WS_PORT is taken, a free one (said in the log) */
  const char *ui_dir;             /* the web UI's files; NULL: not served */
  const char *const *allow_paths; /* host paths requests may name, besides DATA's own folders */
  size_t n_allow_paths;
  const char *const *allow_origins; /* more Origins allowed to write with the cookie (at most 5) */
  size_t n_allow_origins;
  bool new_token; /* replace the API token */
  bool lan;       /* also serve BIND over HTTPS/WSS to paired devices */
  uint16_t lan_port, lan_ws_port;
  const char *const *lan_names; /* host names the LAN side answers to (at most 8) */
  size_t n_lan_names;
  const char *run_as; /* as root: the user QEMU, swtpm and RDP workers run as; NULL: qemu-hmos */
  const char *const *share_passthrough;
  size_t n_share_passthrough;
  const char *qemu;      /* which QEMU: NULL/"system" (Debian's), "built[:tcg|:tci]" (the newest
                            qemu-build/ result) or a qemu-build manifest.json[:tcg|:tci]
                            (its paths may be relative to its directory) */
  const char *launcher;  /* how children start: "exec" (NULL: the default) or "child" (HarmonyOS's
                            shape: each program a LIB.so:Function in a native child process) */
  const char *child_dir; /* child: where qemu-hmos-child and libqemu_child.so are; NULL: the
                            directory of this process's executable */
  bool handle_signals;   /* the CLI: SIGTERM/SIGINT stop the daemon, SIGPIPE ignored process-wide */
  bool print_link;       /* the CLI: print the UI's link with its token on stderr */
};

struct qhm_daemon;

/* The checks qhm_daemon_start makes of OPTS before touching anything (a command line can answer
 * them as usage errors): 0, or -1 with a message in ERR. */
QHM_API int qhm_options_check(const struct qhm_options *opts, char *err, size_t errlen);

/* Take DATA's lock, open the store, reattach VMs, start listening, write DATA/run/endpoint.json.
 * NULL with a message for the user in ERR. Requests are answered once qhm_daemon_run runs. */
QHM_API struct qhm_daemon *qhm_daemon_start(const struct qhm_options *opts, char *err, size_t errlen);
/* The core loop, on the caller's thread, until qhm_daemon_stop (or SIGTERM with handle_signals). */
QHM_API void qhm_daemon_run(struct qhm_daemon *d);
/* Any thread, any number of times. */
QHM_API void qhm_daemon_stop(struct qhm_daemon *d);
/* After qhm_daemon_run returned (or instead of running it): close every listener and free D. */
QHM_API void qhm_daemon_free(struct qhm_daemon *d);

struct qhm_status {
  const char *http_url; /* "http://127.0.0.1:N" */
  const char *ws_url;   /* "ws://127.0.0.1:M" */
  const char *lan_url;  /* "https://ADDR:N" or "" */
  const char *token;    /* the API secret (Bearer; the UI's ?token=) */
  const char *launcher; /* the launch backend's name ("exec") */
  bool running;         /* qhm_daemon_run is in its loop */
};
/* Valid until qhm_daemon_free. Any thread. */
QHM_API void qhm_daemon_status(const struct qhm_daemon *d, struct qhm_status *out);

/*
 * What an embedder shows without asking the REST API: the events, and a summary.
 *
 * qhm_daemon_on_event: CB gets every event the /events WebSocket stream sends (docs/api.md), as the
 * same JSON text, and its "type" ("vm.state", "download.progress", ...). It is called on the core
 * loop thread while qhm_daemon_run runs, once the loop callback that emitted the event has returned
 * (so qhm_daemon_summary called from CB sees its effect: a deleted download is gone); it must return
 * quickly and not call qhm_daemon_stop or qhm_daemon_free. Events from before qhm_daemon_run (the
 * VMs reattached by qhm_daemon_start) and after it returned are not delivered: read the summary then.
 * Call before qhm_daemon_run; CB NULL: none.
 */
typedef void (*qhm_event_cb)(const char *type, const char *json, void *ud);
QHM_API void qhm_daemon_on_event(struct qhm_daemon *d, qhm_event_cb cb, void *ud);

struct qhm_download {
  const char *id, *name;
  const char *state;   /* "starting", "running", "paused" or "verifying" */
  uint64_t done_bytes; /* on disk */
  int64_t total_bytes; /* -1: the server did not say */
};
struct qhm_summary {
  unsigned vms_running;           /* VMs with a QEMU of theirs: starting, running, paused, shutting down */
  size_t n_downloads;             /* the downloads not finished yet */
  struct qhm_download *downloads; /* n_downloads of them, in the same allocation */
};
/* One allocation, strings included; NULL only when D's parts are gone (never while it runs).
 * On the core loop thread (the event callback), or while qhm_daemon_run is not running (before it
 * and after it returned, until qhm_daemon_free). */
QHM_API struct qhm_summary *qhm_daemon_summary(struct qhm_daemon *d);
QHM_API void qhm_summary_free(struct qhm_summary *s);

/* Where the daemon's log lines go, process-wide: CB(level, line, UD) with level 0 error, 1 warn,
 * 2 info, 3 debug and the line without its newline, from any thread, one line at a time (CB must
 * not call into the library). NULL: standard error, the default. */
typedef void (*qhm_log_cb)(int level, const char *line, void *ud);
QHM_API void qhm_log_to(qhm_log_cb cb, void *ud);

#ifdef __cplusplus
}
#endif

#endif
