/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ws: see ws.h. Core loop thread only. */
#include "ws.h"
#include "stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "auth.h"
#include "core.h"
#include "events.h"
#include "rdpws.h"
#include "serialws.h"
#include "ticket.h"
#include "util.h"
#include "vm.h"
#include "vm_config.h"
#include "vncaudio.h"
#include "vncws.h"

#define WS_SERV_BUF_SIZE (256u << 10) /* one per service thread (we have one) */

enum sess_kind { SESS_NONE, SESS_VNC, SESS_RDP, SESS_EVENTS, SESS_SERIAL, SESS_AUDIO };

/* lws per-session data: which kind, and its own object. */
struct pss {
  enum sess_kind kind;
  char vm_id[65];
  char device[17]; /* opened with a paired LAN device's ticket: closed when it is revoked */
  bool revoked;
  struct lws *wsi;
  struct pss *dev_prev, *dev_next; /* in ws.dev_sessions while device[0] */
  union {
    struct vncws *vnc;
    struct rdpws *rdp;
    struct events_sub *ev;
    struct serialws *serial;
    struct vncaudio *audio;
  } u;
};

/* One listening socket: loopback (ws://) or LAN (wss://, --lan). */
struct listener {
  struct ws *w;
  int fd;
  uv_poll_t poll;
  uv_timer_t pause;
  uint16_t port;
  bool tls;
  char base[96];
  struct auth_hosts hosts;
};

struct ws {
  struct core *c;
  struct lws_context *ctx;
  struct lws_vhost *vh, *vh_lan; /* ctx and vh: NULL until the first connection */
  int closing;
  struct listener lo;
  struct listener *lan; /* NULL without --lan */
  char cert_path[4200], key_path[4200];
  struct pss *dev_sessions;
};

static void lws_log(int level, const char *line) {
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  qlog(level == LLL_ERR ? LOG_ERR : LOG_WARN, "lws: %.*s", (int)n, line);
}

/* Answer the upgrade request with STATUS and a one-line reason, then close. */
static int refuse(struct lws *wsi, int status, const char *why) {
  unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
  size_t wl = strlen(why);
  log_info("ws: refused upgrade (%d): %s", status, why);
  if (lws_add_http_header_status(wsi, (unsigned)status, &p, end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (unsigned char *)"text/plain", 10, &p,
                                   end) ||
      lws_add_http_header_content_length(wsi, wl, &p, end) || lws_finalize_http_header(wsi, &p, end))
    return 1;
  if (p + wl < end) {
    memcpy(p, why, wl);
    p += wl;
  }
  lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
  return 1;
}

static bool origin_allowed(struct ws *w, struct lws *wsi) {
  char origin[160];
  int n = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
  if (n <= 0)
    return lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) ==
           0; /* no Origin: not a browser; the ticket decides */
  return auth_origin_ok(w->c->auth, origin);
}

/* The connection came through the LAN listener: its local port and address are that socket's
 * (lws may move a wsi to another vhost by its Host header, so the vhost does not tell). */
static bool on_lan(struct ws *w, struct lws *wsi) {
  if (!w->lan)
    return false;
  struct sockaddr_in sa;
  socklen_t sl = sizeof(sa);
  if (getsockname(lws_get_socket_fd(wsi), (struct sockaddr *)&sa, &sl) < 0 || sa.sin_family != AF_INET)
    return false;
  return ntohs(sa.sin_port) == w->lan->port;
}

/* The Host header names this listener (DNS rebinding). */
static bool host_allowed(struct ws *w, struct lws *wsi) {
  char host[128] = "";
  const struct listener *l = on_lan(w, wsi) ? w->lan : &w->lo;
  bool ok = lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) > 0 && auth_hosts_match(&l->hosts, host);
  if (!ok)
    log_debug("ws: Host '%s' is not one of the %s listener's %u names (first: %s)", host,
              l->tls ? "LAN" : "loopback", l->hosts.n, l->hosts.n ? l->hosts.h[0] : "-");
  return ok;
}

static void dev_link(struct ws *w, struct pss *pss) {
  pss->dev_prev = NULL;
  pss->dev_next = w->dev_sessions;
  if (w->dev_sessions)
    w->dev_sessions->dev_prev = pss;
  w->dev_sessions = pss;
}

static void dev_unlink(struct ws *w, struct pss *pss) {
  if (!pss->device[0])
    return;
  if (pss->dev_prev)
    pss->dev_prev->dev_next = pss->dev_next;
  else if (w && w->dev_sessions == pss)
    w->dev_sessions = pss->dev_next;
  if (pss->dev_next)
    pss->dev_next->dev_prev = pss->dev_prev;
  pss->device[0] = 0;
}

void ws_close_device(struct ws *w, const char *device) {
  for (struct pss *p = w->dev_sessions; p; p = p->dev_next) {
    if (strcmp(p->device, device) == 0) {
      p->revoked = true; /* closed with 1008 from its next WRITEABLE callback */
      lws_callback_on_writable(p->wsi);
    }
  }
}

/* An optional integer URL argument NAME ("width=") in [LO, HI]; DEF when absent, -1 when bad.
 * Fragments are walked here rather than with lws_get_urlarg_by_name(), which stops at the
 * first fragment longer than its buffer (the ticket). */
static long url_int(struct lws *wsi, const char *name, long lo, long hi, long def) {
  char buf[64];
  size_t nl = strlen(name);
  for (int i = 0; i < 32; i++) {
    int fl = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (fl <= 0)
      break;
    if ((size_t)fl >= sizeof(buf) ||
        lws_hdr_copy_fragment(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_URI_ARGS, i) < 0 ||
        strncmp(buf, name, nl) != 0)
      continue;
    const char *v = buf + nl;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
      return -1;
    return n;
  }
  return def;
}

/* What was given for one session (POST console {"credentials", "shortcut"}: JSON text, validated
 * when the ticket was issued) replaces the stored credentials and program in TARGET. */
static void apply_session_credentials(struct vm_rdp *target, const char *secret) {
  json_t *o = json_loads(secret, 0, NULL);
  const char *keys[] = {"username", "password", "domain"};
  char *dst[] = {target->username, target->password, target->domain};
  for (size_t i = 0; o && i < 3; i++) {
    json_t *v = json_object_get(o, keys[i]);
    if (json_is_string(v))
      snprintf(dst[i], sizeof(target->username), "%s", json_string_value(v));
  }
  json_t *app = json_object_get(o, "app"); /* an app shortcut: this program, validated with the config */
  if (json_is_object(app)) {
    snprintf(target->remote_app, sizeof(target->remote_app), "%s",
             json_string_value(json_object_get(app, "program")));
    snprintf(target->remote_app_args, sizeof(target->remote_app_args), "%s",
             json_string_value(json_object_get(app, "args")));
    target->remote_app_shell = json_is_true(json_object_get(app, "shell"));
  }
  if (o) {
    /* the password's copy inside Jansson's object is freed without being wiped: Jansson
     * offers no hook for that; it lives in the daemon's heap only briefly */
    json_decref(o);
  }
}

/* /rdp/{vm}?ticket=T[&width=W&height=H&dpi=D][&webp=1] (guacamole-common-js appends its connect data
 * to the URL; webp=1: the browser decodes WebP): fork the RDP worker for the VM's target. */
static int filter_rdp(struct ws *w, struct lws *wsi, struct pss *pss, const char *vm_id, const char *secret) {
  char err[256], log_path[4200], config_dir[4200], shared_root[4200];
  struct vm_rdp target;
  long width = url_int(wsi, "width=", 64, 8192, 1024), height = url_int(wsi, "height=", 64, 8192, 768),
       dpi = url_int(wsi, "dpi=", 48, 960, 96), webp = url_int(wsi, "webp=", 0, 1, 0);
  if (width < 0 || height < 0 || dpi < 0 || webp < 0)
    return refuse(wsi, 400, "width and height must be 64..8192, dpi 48..960, webp 0 or 1");
  if (vm_manager_rdp_target(w->c->vms, vm_id, &target, err, sizeof(err)) < 0)
    return refuse(wsi, 409, err);
  if (secret)
    apply_session_credentials(&target, secret);
  snprintf(log_path, sizeof(log_path), "%s/vms/%s/logs/rdp.log", w->c->data_dir, vm_id);
  snprintf(config_dir, sizeof(config_dir), "%s/run/freerdp", w->c->data_dir);
  snprintf(shared_root, sizeof(shared_root), "%s/shared", w->c->data_dir);
  pss->kind = SESS_RDP;
  pss->u.rdp = rdpws_open(w->c->rdp, w->c->launcher, wsi, vm_id, &target, (int)width, (int)height, (int)dpi,
                          webp == 1, log_path, config_dir, shared_root, err, sizeof(err));
  explicit_bzero(&target, sizeof(target));
  if (!pss->u.rdp) {
    pss->kind = SESS_NONE;
    return refuse(wsi, rdpws_count(w->c->rdp) >= RDPWS_MAX_SESSIONS ? 503 : 500, err);
  }
  return 0;
}

static int filter(struct ws *w, struct lws *wsi, struct pss *pss) {
  char uri[256], ticket[96] = "", vm_id[65];
  if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
    return refuse(wsi, 400, "no request path");
  /* Returns a pointer into TICKET just past "ticket=". */
  const char *tv = lws_get_urlarg_by_name(wsi, "ticket=", ticket, sizeof(ticket));
  if (!host_allowed(w, wsi)) {
    if (tv)
      ticket_redeem(w->c->tickets, tv, "", now_ms(), vm_id);
    return refuse(wsi, 403, "host not allowed");
  }
  if (!origin_allowed(w, wsi)) {
    /* A ticket shown from a foreign page is spent: it must not be replayed from elsewhere. */
    if (tv)
      ticket_redeem(w->c->tickets, tv, "", now_ms(), vm_id);
    return refuse(wsi, 403, "origin not allowed");
  }
  if (!tv)
    return refuse(wsi, 403, "missing ticket");
  const char *proto;
  const char *want_vm = NULL;
  if (strncmp(uri, "/vnc/", 5) == 0) {
    proto = "vnc";
    want_vm = uri + 5;
  } else if (strncmp(uri, "/rdp/", 5) == 0) {
    proto = "rdp";
    want_vm = uri + 5;
  } else if (strncmp(uri, "/serial/", 8) == 0) {
    proto = "serial";
    want_vm = uri + 8;
  } else if (strncmp(uri, "/audio/", 7) == 0) {
    proto = "audio";
    want_vm = uri + 7;
  } else if (strcmp(uri, "/events") == 0) {
    proto = "events";
  } else {
    return refuse(wsi, 404, "no such stream");
  }
  char *secret = NULL; /* per-session credentials given with an RDP ticket */
  char who[17];
  enum ticket_result tr = ticket_redeem_as(w->c->tickets, tv, proto, now_ms(), vm_id, &secret, who);
  if (tr != TICKET_OK)
    return refuse(wsi, 403, ticket_result_str(tr));
  if (who[0] && !auth_device_valid(w->c->auth, who)) {
    secret_free(secret);
    return refuse(wsi, 403, "this device's pairing was revoked");
  }
  if (want_vm && strcmp(want_vm, vm_id) != 0) {
    secret_free(secret);
    return refuse(wsi, 403, "ticket is for another VM");
  }
  memset(pss, 0, sizeof(*pss));
  snprintf(pss->vm_id, sizeof(pss->vm_id), "%s", vm_id);
  pss->wsi = wsi;
  if (who[0]) {
    snprintf(pss->device, sizeof(pss->device), "%s", who);
    dev_link(w, pss);
  }
  if (strcmp(proto, "rdp") == 0) {
    int rc = filter_rdp(w, wsi, pss, vm_id, secret);
    secret_free(secret);
    return rc;
  }
  secret_free(secret);
  if (strcmp(proto, "serial") == 0) {
    size_t len;
    char *kept = vm_manager_serial_kept(w->c->vms, vm_id, &len);
    if (!kept)
      return refuse(wsi, 404, "no such VM");
    pss->kind = SESS_SERIAL;
    pss->u.serial = serialws_open(w->c->serial, wsi, vm_id, kept, len);
    free(kept);
    return 0;
  }
  if (want_vm) {
    char path[4200], err[256];
    if (vm_manager_console_path(w->c->vms, vm_id, path, sizeof(path), err, sizeof(err)) < 0)
      return refuse(wsi, 409, err);
    if (strcmp(proto, "audio") == 0) {
      pss->kind = SESS_AUDIO;
      pss->u.audio = vncaudio_open(w->c->vnc_audio, &w->c->loop, wsi, vm_id, path);
    } else {
      pss->kind = SESS_VNC;
      pss->u.vnc = vncws_open(w->c->vnc, &w->c->loop, wsi, vm_id, path);
    }
  } else {
    pss->kind = SESS_EVENTS;
    pss->u.ev = events_subscribe(w->c->events, wsi);
  }
  return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  struct pss *pss = user;
  struct ws *w = wsi ? lws_context_user(lws_get_context(wsi)) : NULL; /* info.user */
  switch (reason) {
  case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    return filter(w, wsi, pss);
  case LWS_CALLBACK_ESTABLISHED:
    return pss->kind == SESS_NONE ? -1 : 0;
  case LWS_CALLBACK_RECEIVE:
    if (pss->kind == SESS_VNC)
      return vncws_on_receive(pss->u.vnc, in, len, lws_frame_is_binary(wsi), lws_is_first_fragment(wsi),
                              lws_is_final_fragment(wsi));
    if (pss->kind == SESS_RDP)
      return rdpws_on_receive(pss->u.rdp, in, len, lws_frame_is_binary(wsi), lws_is_first_fragment(wsi),
                              lws_is_final_fragment(wsi));
    if (pss->kind == SESS_SERIAL)
      return serialws_on_receive(pss->u.serial, in, len);
    if (pss->kind == SESS_AUDIO)
      return vncaudio_on_receive(pss->u.audio, len);
    if (pss->kind == SESS_EVENTS && len > 4096)
      return -1; /* the event stream is one-way; a chatty client is dropped */
    return 0;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (pss->revoked) {
      ws_send_close(wsi, 1008, "this device's pairing was revoked");
      return -1;
    }
    if (pss->kind == SESS_VNC)
      return vncws_on_writeable(pss->u.vnc);
    if (pss->kind == SESS_RDP)
      return rdpws_on_writeable(pss->u.rdp);
    if (pss->kind == SESS_EVENTS)
      return events_on_writeable(pss->u.ev);
    if (pss->kind == SESS_SERIAL)
      return serialws_on_writeable(pss->u.serial);
    if (pss->kind == SESS_AUDIO)
      return vncaudio_on_writeable(pss->u.audio);
    return 0;
  case LWS_CALLBACK_CLOSED:
    dev_unlink(w, pss);
    if (pss->kind == SESS_VNC)
      vncws_on_ws_closed(pss->u.vnc);
    else if (pss->kind == SESS_RDP)
      rdpws_on_ws_closed(pss->u.rdp);
    else if (pss->kind == SESS_EVENTS)
      events_on_closed(pss->u.ev);
    else if (pss->kind == SESS_SERIAL)
      serialws_on_ws_closed(pss->u.serial);
    else if (pss->kind == SESS_AUDIO)
      vncaudio_on_ws_closed(pss->u.audio);
    pss->kind = SESS_NONE;
    return 0;
  case LWS_CALLBACK_WSI_DESTROY:
    /* Sessions are opened in the filter; if the upgrade then failed, CLOSED never came. */
    if (pss)
      dev_unlink(w, pss);
    if (pss && pss->kind == SESS_RDP)
      rdpws_on_ws_closed(pss->u.rdp);
    else if (pss && pss->kind == SESS_VNC)
      vncws_on_ws_closed(pss->u.vnc);
    else if (pss && pss->kind == SESS_EVENTS)
      events_on_closed(pss->u.ev);
    else if (pss && pss->kind == SESS_SERIAL)
      serialws_on_ws_closed(pss->u.serial);
    else if (pss && pss->kind == SESS_AUDIO)
      vncaudio_on_ws_closed(pss->u.audio);
    if (pss)
      pss->kind = SESS_NONE;
    return 0;
  default:
    return 0;
  }
}

static const struct lws_protocols protocols[] = {
    /* websockify clients (noVNC) ask for "binary"; a client asking for nothing gets the first. */
    /* rx_buffer_size caps each socket read (with pt_serv_buf_size). Each session mallocs an rx
     * buffer of that size, but only its touched pages cost memory (bench/bridge.py: idle consoles). */
    {"binary", callback, sizeof(struct pss), WS_SERV_BUF_SIZE, 0, NULL, 0},
    {"qemu-hmos-events", callback, sizeof(struct pss), 4096, 0, NULL, 0},
    /* guacamole-common-js's WebSocketTunnel asks for "guacamole" (/rdp). */
    {"guacamole", callback, sizeof(struct pss), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* libwebsockets is loaded on the first connection (lws_lazy.c): until then the daemon listens on
 * its own socket, and every accepted connection is handed to lws as if lws had accepted it. */
static int context_ensure(struct ws *w) {
  if (w->ctx)
    return 0;
  lws_lazy_load();
  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  void *loops[1] = {&w->c->loop};
  info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  info.protocols = protocols;
  info.gid = -1;
  info.uid = -1;
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6 |
                 (w->lan ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
  info.foreign_loops = loops;
  info.user = w; /* what callback() reaches through lws_context_user() */
  info.max_http_header_data = 4096;
  /* lws reads a WebSocket into this per-thread buffer (default 4 KiB): one read() and one
   * receive callback per 4 KiB made the VNC bridge's upstream syscall-bound (bench/bridge.py). */
  info.pt_serv_buf_size = WS_SERV_BUF_SIZE;
  info.timeout_secs = 30;
  info.ka_time = 0;
  w->ctx = lws_create_context(&info);
  w->vh = w->ctx ? lws_get_vhost_by_name(w->ctx, "default") : NULL;
  if (!w->vh) {
    log_err("ws: cannot create the libwebsockets context; connections are refused");
    if (w->ctx)
      lws_context_destroy(w->ctx);
    w->ctx = NULL;
    return -1;
  }
  if (w->lan) { /* LAN mode: a second vhost with the daemon's certificate (wss://) */
    info.vhost_name = "lan";
    info.ssl_cert_filepath = w->cert_path;
    info.ssl_private_key_filepath = w->key_path;
    /* not listening (the daemon accepts and adopts): lws makes no TLS context unless asked, and
     * looks for DO_SSL_GLOBAL_INIT in the vhost's options too */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    w->vh_lan = lws_create_vhost(w->ctx, &info);
    if (!w->vh_lan)
      log_err("ws: cannot create the TLS vhost from %s; LAN consoles are refused", w->cert_path);
  }
  return 0;
}

static void on_accept_resume(uv_timer_t *t);

static void on_listen_readable(uv_poll_t *h, int status, int events) {
  struct listener *l = h->data;
  struct ws *w = l->w;
  (void)events;
  if (status < 0)
    return;
  for (int i = 0; i < 64; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        /* out of descriptors: the pending connection stays queued; try again shortly rather
         * than spin on a socket that stays readable */
        log_warn("ws: accept: %s; pausing for 200 ms", strerror(errno));
        uv_poll_stop(&l->poll);
        uv_timer_start(&l->pause, on_accept_resume, 200, 0);
      }
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* consoles are interactive */
    struct lws_vhost *vh = context_ensure(w) < 0 ? NULL : l->tls ? w->vh_lan : w->vh;
    if (!vh) {
      close(fd);
      continue;
    }
    /* lws_adopt_socket_vhost() allows TLS: on the LAN vhost the handshake comes first */
    if (!lws_adopt_socket_vhost(vh, fd)) /* closes FD on failure */
      log_warn("ws: libwebsockets could not take a connection");
  }
}

static void on_accept_resume(uv_timer_t *t) {
  struct listener *l = t->data;
  uv_poll_start(&l->poll, UV_READABLE, on_listen_readable);
}

static int listen_on(struct ws *w, struct listener *l, const char *bind_addr, uint16_t port, bool tls,
                     char *err, size_t errlen) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
    snprintf(err, errlen, "'%s' is not an IPv4 address", bind_addr);
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  socklen_t sl = sizeof(sa);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
      bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
    snprintf(err, errlen, "cannot start the WebSocket server on %s:%u: %s", bind_addr, port, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  l->w = w;
  l->fd = fd;
  l->tls = tls;
  l->port = ntohs(sa.sin_port);
  snprintf(l->base, sizeof(l->base), "%s://%s:%u", tls ? "wss" : "ws", bind_addr, l->port);
  uv_poll_init_socket(&w->c->loop, &l->poll, fd);
  l->poll.data = l;
  uv_timer_init(&w->c->loop, &l->pause);
  l->pause.data = l;
  uv_poll_start(&l->poll, UV_READABLE, on_listen_readable);
  return 0;
}

struct ws *ws_start(struct core *c, const char *bind_addr, uint16_t port, char *err, size_t errlen) {
  struct ws *w = xcalloc(1, sizeof(*w));
  w->c = c;
  if (listen_on(w, &w->lo, bind_addr, port, false, err, errlen) < 0) {
    free(w);
    return NULL;
  }
  auth_hosts_add_loopback(&w->lo.hosts, bind_addr, w->lo.port);
  return w;
}

int ws_start_lan(struct ws *w, const char *bind_addr, uint16_t port, const char *cert_path,
                 const char *key_path, const struct auth_hosts *names, char *err, size_t errlen) {
  struct listener *l = xcalloc(1, sizeof(*l));
  if (listen_on(w, l, bind_addr, port, true, err, errlen) < 0) {
    free(l);
    return -1;
  }
  snprintf(w->cert_path, sizeof(w->cert_path), "%s", cert_path);
  snprintf(w->key_path, sizeof(w->key_path), "%s", key_path);
  /* the LAN HTTP listener's names, on this port */
  for (unsigned i = 0; i < names->n; i++) {
    char name[96];
    snprintf(name, sizeof(name), "%s", names->h[i]);
    char *colon = strrchr(name, ':');
    if (colon && !strchr(colon, ']'))
      *colon = 0;
    if (name[0] == '[') { /* [v6] */
      memmove(name, name + 1, strlen(name));
      name[strcspn(name, "]")] = 0;
    }
    auth_hosts_add(&l->hosts, name, l->port, true);
  }
  w->lan = l;
  return 0;
}

const char *ws_base_url(struct ws *w) {
  return w->lo.base;
}

const char *ws_lan_url(struct ws *w) {
  return w->lan ? w->lan->base : NULL;
}

const char *ws_url_for(struct ws *w, bool lan) {
  return lan && w->lan ? w->lan->base : w->lo.base;
}

static void on_listener_closed(uv_handle_t *h) {
  struct ws *w = ((struct listener *)h->data)->w;
  if (--w->closing == 0) {
    close(w->lo.fd);
    if (w->lan) {
      close(w->lan->fd);
      free(w->lan);
    }
    free(w);
  }
}

void ws_stop(struct ws *w) {
  if (!w)
    return;
  if (w->ctx)
    lws_context_destroy(w->ctx);
  w->closing = w->lan ? 4 : 2;
  uv_close((uv_handle_t *)&w->lo.poll, on_listener_closed);
  uv_close((uv_handle_t *)&w->lo.pause, on_listener_closed);
  if (w->lan) {
    uv_close((uv_handle_t *)&w->lan->poll, on_listener_closed);
    uv_close((uv_handle_t *)&w->lan->pause, on_listener_closed);
  }
}
