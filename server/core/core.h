/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core: the one thread that owns all VM state. It runs a libuv loop with the
 * QMP sockets, QEMU process watchers, timers and the request queue that the
 * HTTP threads post to. A request is submitted from any thread with
 * core_submit(); the core thread answers it (at once, or later when QEMU
 * replies) with core_req_reply*(), which calls the request's done callback
 * on the core thread. Nothing else crosses threads.
 */
#ifndef QHM_CORE_H
#define QHM_CORE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "host.h"

struct store;
struct vm_manager;
struct dl_manager;
struct ws;
struct ticket_store;
struct auth;
struct launcher;
struct vncws_hub;
struct vncaudio_hub;
struct events;
struct rdpws_hub;
struct serialws_hub;
struct core;

/* A streamed answer (core_req_reply_stream): made on the core thread, then read and released on
 * an HTTP thread; RELEASE hands anything the core owns back with core_post. */
struct core_stream {
  uint64_t size;
  const char *ctype;  /* static */
  char filename[128]; /* Content-Disposition: attachment; filename="..." */
  /* Up to MAX bytes from POS into BUF: the count (> 0), or -1 on an error. */
  long (*read)(void *ud, uint64_t pos, char *buf, size_t max);
  void (*release)(void *ud);
  void *ud;
};

struct core_req {
  /* Set by the submitter. */
  char method[8];
  char *path;       /* decoded URL path */
  char *query_tail; /* value of ?tail= or NULL */
  char *query_keep_disks;
  char *query_dry_run; /* ?dry_run= of POST /vms and PATCH /vms/{id} */
  char *query_format;  /* ?format= of GET /vms/{id}/export */
  char *body;          /* request body (may be NULL) */
  size_t body_len;
  char
      *upload_tmp; /* PUT /api/v1/images/upload, /vms/import/upload: the file http.c streamed the body into */
  bool lan;        /* came through the LAN listener (HTTPS): tickets get its wss:// URL */
  bool cookie;     /* authenticated by a browser cookie (not Bearer) */
  char device[17]; /* a paired LAN device's id; "" for the owner */
  void (*done)(struct core_req *r); /* called on the core thread once answered */
  void *done_ud;
  /* Set by the core thread. */
  int status;
  char *content_type; /* static string */
  char *resp;         /* malloc'd response body */
  size_t resp_len;
  struct core_stream *stream; /* a streamed answer instead of resp */
  /* core_post: a function run on the core thread instead of a request */
  void (*run)(struct core *c, void *arg);
  void *run_arg;
  struct core_req *next;
};

struct core {
  uv_loop_t loop;
  uv_async_t wake;
  uv_signal_t sigterm, sigint; /* only when core_init was asked for signals */
  bool signals;
  pthread_mutex_t lock;
  struct core_req *queue_head, *queue_tail;
  void (*dispatch)(struct core *c, struct core_req *r); /* answers a request (api.c's router) */
  bool stopping;
  char data_dir[4096];
  struct host host;
  struct launcher *launcher; /* every child process starts through it (launch.h) */
  struct store *store;
  struct vm_manager *vms;
  struct dl_manager *dls;         /* downloads, image library, catalog */
  struct ws *ws;                  /* NULL until ws_start() */
  struct events *events;          /* the /events stream (stream/events.h) */
  struct vncws_hub *vnc;          /* the console sessions (bridge/); freed after the loop's last run */
  struct vncaudio_hub *vnc_audio; /* the sound listeners (bridge/vnc-ws/vncaudio.h) */
  struct rdpws_hub *rdp;
  struct serialws_hub *serial;
  struct ticket_store *tickets;
  struct auth *auth;        /* set by main before any listener starts; freed by main */
  struct path_roots *roots; /* where host paths from requests may point (paths.h) */
  char lan_url[128];        /* LAN mode: "https://ADDR:PORT"; "" without --lan */
  char lan_fingerprint[96]; /* its certificate's SHA-256 */
};

/* The loop, its wake-up and (SIGNALS: the command line) SIGTERM/SIGINT handlers. The parts
 * that run on it (store, VMs, downloads, listeners) are made and freed by daemon.c. */
void core_loop_init(struct core *c, bool signals);
void core_run(struct core *c);  /* until core_stop() (or SIGTERM/SIGINT with SIGNALS) */
void core_stop(struct core *c); /* any thread */
/* Closes the loop's own handles, runs it until every handle closed, closes it. */
void core_loop_fini(struct core *c);

void core_submit(struct core *c, struct core_req *r); /* any thread */

/* Answers (core thread). They take ownership of the JSON/bytes. */
void core_req_reply_json(struct core_req *r, int status, json_t *body);
void core_req_reply_bytes(struct core_req *r, int status, const char *ctype, char *data, size_t len);
void core_req_reply_error(struct core_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answer R with S (taken): http.c streams it. */
void core_req_reply_stream(struct core_req *r, int status, struct core_stream *s);
/* Run FN(C, ARG) on the core thread soon (any thread). Once the daemon stops, FN is not run and ARG
 * is free()d. */
void core_post(struct core *c, void (*fn)(struct core *c, void *arg), void *arg);
void core_req_free(struct core_req *r);

#endif
