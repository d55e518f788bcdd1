/* SPDX-License-Identifier: GPL-2.0-or-later */
/* http: see http.h. Runs on libmicrohttpd's threads. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "core.h"
#include "dl_hash.h"
#include "host.h"
#include "utf8.h"
#include "util.h"

/* Per-connection state (MHD's socket context): the header deadline's bookkeeping. */
struct conn_ctx {
  MHD_socket fd;
  uint64_t since;       /* when the connection, or its current request, began */
  bool waiting_headers; /* no complete request head yet */
  bool cut;             /* shut down by the sweep */
  struct conn_ctx *prev, *next;
};

struct http {
  struct MHD_Daemon *d;
  char ui_dir[PATH_MAX]; /* "" = no UI */
  struct core *c;
  uint16_t port;
  bool tls; /* the LAN listener: HTTPS, pairing */
  struct auth_hosts hosts;
  /* Slowloris: a connection must send a whole request head within HTTP_HEADER_DEADLINE_MS. */
  pthread_mutex_t conns_lock;
  pthread_cond_t sweep_cond;
  struct conn_ctx *conns;
  pthread_t sweeper;
  bool sweeping, stop_sweep;
};

#define HTTP_HEADER_DEADLINE_MS 10000
#define HTTP_PER_IP_CONNECTIONS 64

/* Per-request state, owned by MHD's connection until request_completed. */
struct req_ctx {
  struct http *h;
  struct MHD_Connection *conn;
  char *body;
  size_t len;
  bool too_large, submitted;
  bool pair; /* POST /api/v1/pair: answered on this thread (it sets a cookie) */
  enum auth_kind who;
  char device[AUTH_DEVICE_ID_HEX + 1];
  struct core_req *r; /* set once submitted */
  /* PUT /api/v1/images/upload: the body goes to a temp file, never into memory. */
  bool upload;
  int upload_fd;
  int upload_errno;
  uint64_t upload_len;
  char upload_tmp[4200];
  struct dl_hash *upload_hash;
  volatile bool answered;
};

static void on_core_answer(struct core_req *r) {
  struct req_ctx *x = r->done_ud;
  x->answered = true;
  MHD_resume_connection(x->conn);
}

/*
 * Percent-decoding for paths and query values. "%00" and "%2F" stay encoded:
 * a NUL would silently cut "/vms/ID%00" to "/vms/ID", and an encoded slash
 * must not become a path separator. Such ids then match nothing (404).
 */
static int hexval(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

static size_t unescape(void *cls, struct MHD_Connection *conn, char *s) {
  char *w = s;
  for (const char *r = s; *r;) {
    int hi, lo;
    if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi || lo) &&
        !(hi == 2 && (lo == 15))) {
      *w++ = (char)(hi * 16 + lo);
      r += 3;
    } else {
      *w++ = *r++;
    }
  }
  *w = 0;
  return (size_t)(w - s);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, int status, const char *ctype, char *data,
                                     size_t len) {
  struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, data, free);
  MHD_add_response_header(resp, "Content-Type", ctype);
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  struct core_stream *s = cls;
  if (pos >= s->size)
    return MHD_CONTENT_READER_END_OF_STREAM;
  long n = s->read(s->ud, pos, buf, max);
  return n > 0 ? (ssize_t)n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls) {
  struct core_stream *s = cls;
  s->release(s->ud);
  free(s);
}

/* A streamed answer (an export): read from its files as the client takes it, never buffered whole. */
static enum MHD_Result send_stream(struct MHD_Connection *conn, struct core_req *r) {
  struct core_stream *s = r->stream;
  r->stream = NULL; /* the response owns it now */
  struct MHD_Response *resp =
      MHD_create_response_from_callback(s->size, 256 * 1024, stream_read, s, stream_free);
  if (!resp) {
    stream_free(s);
    return MHD_NO;
  }
  char disp[200];
  snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", s->filename);
  MHD_add_response_header(resp, "Content-Type", s->ctype);
  MHD_add_response_header(resp, "Content-Disposition", disp);
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int status, const char *code,
                                  const char *msg) {
  json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
  char *txt = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  return send_response(conn, status, "application/json", txt, strlen(txt));
}

static const char *header(struct MHD_Connection *conn, const char *name) {
  return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* The client's address as text ("127.0.0.2"), for pairing's rate limit. */
static void client_addr(struct MHD_Connection *conn, char *out, size_t len) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  snprintf(out, len, "?");
  if (!ci || !ci->client_addr)
    return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

static void cookie_header(struct http *h, char *out, size_t len, const char *name, const char *value) {
  snprintf(out, len, "%s=%s; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict%s", name, value,
           h->tls ? "; Secure" : "");
}

static enum MHD_Result serve_static(struct http *h, struct MHD_Connection *conn, const char *url,
                                    const char *method, unsigned status);

/* GET /?token=TOKEN (any UI path): the owner's cookie, then the same path without the token, so
 * it stays neither in the address bar nor in the history. */
static enum MHD_Result token_exchange(struct http *h, struct MHD_Connection *conn, const char *url,
                                      const char *token) {
  struct auth *a = h->c->auth;
  if (!auth_secret_eq(token, auth_token(a)) && h->ui_dir[0])
    return serve_static(h, conn, url, "GET", 401); /* the UI, with its page that says how to get in */
  if (!auth_secret_eq(token, auth_token(a)))
    return send_error(conn, 401, "unauthorized",
                      "the token in this link is not this daemon's: open the link `make run` printed "
                      "(DATA/run/endpoint.json \"token\")");
  char cookie[256];
  cookie_header(h, cookie, sizeof(cookie), AUTH_COOKIE_SESSION, auth_session_value(a));
  struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(resp, "Set-Cookie", cookie);
  MHD_add_response_header(resp, "Location", url[0] == '/' && url[1] != '/' ? url : "/");
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  enum MHD_Result rc = MHD_queue_response(conn, 303, resp);
  MHD_destroy_response(resp);
  return rc;
}

/* POST /api/v1/pair {"code", "name"} from a LAN browser: its own device cookie. */
static enum MHD_Result pair(struct http *h, struct MHD_Connection *conn, struct req_ctx *x) {
  json_t *b = x->body ? json_loadb(x->body, x->len, JSON_REJECT_DUPLICATES, NULL) : NULL;
  const char *code = json_string_value(json_object_get(b, "code")),
             *name = json_string_value(json_object_get(b, "name"));
  enum MHD_Result rc;
  char addr[64], cookie[AUTH_DEVICE_COOKIE_MAX + 1], id[AUTH_DEVICE_ID_HEX + 1];
  bool name_ok = name && name[0] && strlen(name) <= 60 && utf8_valid(name, strlen(name));
  for (const char *p = name; name_ok && *p; p++)
    name_ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
  if (!json_is_object(b) || json_object_size(b) != 2 || !code || strlen(code) != 6) {
    rc = send_error(conn, 400, "invalid_field",
                    "the body must be {\"code\": \"6 digits\", \"name\": \"...\"}");
  } else if (!name_ok) {
    rc = send_error(conn, 400, "invalid_field", "name: 1 to 60 printable characters");
  } else {
    client_addr(conn, addr, sizeof(addr));
    switch (auth_pair(h->c->auth, addr, code, name, now_ms(), cookie, id)) {
    case PAIR_OK: {
      char set[512];
      cookie_header(h, set, sizeof(set), AUTH_COOKIE_DEVICE, cookie);
      explicit_bzero(cookie, sizeof(cookie));
      char *txt = xasprintf("{\"id\":\"%s\"}", id);
      struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(strlen(txt), txt, free);
      MHD_add_response_header(resp, "Content-Type", "application/json");
      MHD_add_response_header(resp, "Cache-Control", "no-store");
      MHD_add_response_header(resp, "Set-Cookie", set);
      explicit_bzero(set, sizeof(set));
      rc = MHD_queue_response(conn, 200, resp);
      MHD_destroy_response(resp);
      log_info("auth: paired device %s (%s) from %s", id, name, addr);
      break;
    }
    case PAIR_WRONG:
      rc = send_error(conn, 403, "wrong_code", "this is not the pairing code shown on the device");
      break;
    case PAIR_NO_CODE:
      rc = send_error(conn, 409, "no_pairing_code",
                      "no pairing code is waiting: ask for a new one on the device (Host page)");
      break;
    case PAIR_RATE_LIMITED:
      rc = send_error(conn, 429, "rate_limited", "too many tries from this address: wait a minute");
      break;
    case PAIR_FULL:
      rc = send_error(conn, 409, "too_many_devices", "64 devices are paired: revoke one first");
      break;
    default:
      rc = send_error(conn, 500, "internal", "cannot save the paired device");
    }
  }
  json_decref(b);
  return rc;
}

static bool unsafe_method(const char *m) {
  return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && strcmp(m, "OPTIONS") != 0;
}

/* The rendered REST documentation (webui/dist/api/docs: Swagger UI and docs/openapi.yaml): static
 * files under the /api/ prefix, public as the rest of the UI (the calls it makes are not). */
#define API_DOCS "/api/docs"

static bool is_api_docs(const char *url) {
  size_t n = strlen(API_DOCS);
  return strncmp(url, API_DOCS, n) == 0 && (url[n] == 0 || url[n] == '/');
}

/* Served from ui_dir: everything outside /api/, and the API's docs. */
static bool is_static(const char *url) {
  return strncmp(url, "/api/", 5) != 0 || is_api_docs(url);
}

/* Access control for a request whose head is complete (auth.h): NULL when it may go on, else
 * the error already queued is returned through *RC. */
static bool admit(struct http *h, struct MHD_Connection *conn, struct req_ctx *x, const char *url,
                  const char *method, enum MHD_Result *rc) {
  struct auth *a = h->c->auth;
  if (!auth_hosts_match(&h->hosts, header(conn, "Host"))) {
    *rc = send_error(conn, 403, "forbidden_host",
                     "this daemon does not answer to that Host name (DNS rebinding is refused)");
    return false;
  }
  if (is_static(url)) {
    const char *token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
    if (token && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
      *rc = token_exchange(h, conn, url, token);
      return false;
    }
    return true; /* the static UI is public; every answer it needs is not */
  }
  x->pair = strcmp(url, "/api/v1/pair") == 0;
  if (x->pair && !h->tls) {
    *rc = send_error(conn, 404, "not_found", "pairing is for LAN browsers (serve --lan)");
    return false;
  }
  if (x->pair && strcmp(method, "POST") != 0) {
    *rc = send_error(conn, 405, "method_not_allowed", "POST is allowed here");
    return false;
  }
  x->who =
      x->pair ? AUTH_NONE : auth_check(a, header(conn, "Authorization"), header(conn, "Cookie"), x->device);
  if (!x->pair && x->who == AUTH_NONE) {
    *rc = send_error(conn, 401, "unauthorized",
                     h->tls ? "pair this browser first: ask the device's owner for a pairing code"
                            : "open the link `make run` printed (http://HOST:PORT/?token=...), or send "
                              "Authorization: Bearer TOKEN (DATA/run/endpoint.json \"token\")");
    return false;
  }
  if (x->who == AUTH_BEARER)
    return true; /* a program: no ambient credential a page could borrow */
  if (unsafe_method(method) && !auth_origin_ok(a, header(conn, "Origin"))) {
    *rc = send_error(conn, 403, "forbidden_origin",
                     "a change made with the browser's cookie must come from this daemon's own page");
    return false;
  }
  const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
  bool body = (cl && strcmp(cl, "0") != 0) || header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  const char *want = x->upload ? "application/octet-stream" : "application/json";
  if (body && !auth_media_type_is(header(conn, MHD_HTTP_HEADER_CONTENT_TYPE), want)) {
    char msg[128];
    snprintf(msg, sizeof(msg), "the body must be sent as Content-Type: %s", want);
    *rc = send_error(conn, 415, "unsupported_media_type", msg);
    return false;
  }
  return true;
}

static const char *mime_type(const char *path) {
  static const char *const map[][2] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
      {".yaml", "application/yaml"},
  };
  const char *dot = strrchr(path, '.');
  for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
    if (strcmp(dot, map[i][0]) == 0)
      return map[i][1];
  return "application/octet-stream";
}

/* Open UI_DIR/REL if it is a regular file inside UI_DIR; -1 otherwise. */
static int open_ui_file(struct http *h, const char *rel, struct stat *st) {
  char path[PATH_MAX + 256], real[PATH_MAX];
  size_t dl = strlen(h->ui_dir);
  if (strstr(rel, "..") || fmt_path(path, sizeof(path), "%s/%s", h->ui_dir, rel) < 0)
    return -1;
  if (!realpath(path, real) || strncmp(real, h->ui_dir, dl) != 0 || real[dl] != '/')
    return -1;
  int fd = open(real, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The web UI: files from ui_dir; any other path gets index.html (the UI routes by path), except
 * under /api/docs: its index.html for /api/docs itself, else the file or 404. */
static enum MHD_Result serve_static(struct http *h, struct MHD_Connection *conn, const char *url,
                                    const char *method, unsigned status) {
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return send_error(conn, 405, "method_not_allowed", "only GET and HEAD are allowed here");
  if (!h->ui_dir[0])
    return send_error(conn, 404, "not_found", "this daemon was started without --ui-dir");
  struct stat st;
  const char *rel = url[0] == '/' ? url + 1 : url;
  const char *served = rel;
  bool docs = is_api_docs(url);
  if (docs && (strcmp(url, API_DOCS) == 0 || strcmp(url, API_DOCS "/") == 0))
    served = rel = "api/docs/index.html";
  int fd = rel[0] ? open_ui_file(h, rel, &st) : -1;
  if (fd < 0 && docs)
    return send_error(conn, 404, "not_found", "the API documentation has no such file");
  if (fd < 0) {
    served = "index.html";
    fd = open_ui_file(h, served, &st);
  }
  if (fd < 0)
    return send_error(conn, 404, "not_found", "the UI has no index.html");
  struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
  MHD_add_response_header(resp, "Content-Type", mime_type(served));
  /* Bundles have stable names for now: let the browser revalidate every time. */
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Content-Security-Policy",
                          "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
                          "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
  enum MHD_Result rc = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static char *dup_arg(struct MHD_Connection *conn, const char *key) {
  const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
  return v ? xstrdup(v) : NULL;
}

/* Free MiB where images land (DATA/images); 0 when the path cannot be made. */
static uint64_t images_free_mib(struct http *h) {
  char images[4200];
  return fmt_path(images, sizeof(images), "%s/images", h->c->data_dir) < 0 ? 0 : host_disk_free_mib(images);
}

/* PUT /api/v1/images/upload: refused before a byte of the body is read when the declared size cannot
 * fit; else the temp file the body streams into, and its digest. */
static enum MHD_Result begin_upload(struct http *h, struct MHD_Connection *conn, struct req_ctx *x) {
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
  uint64_t free_mib = want ? images_free_mib(h) : 0;
  if (want && want / (1024 * 1024) + HOST_DISK_RESERVE_MIB >= free_mib) {
    char msg[256];
    snprintf(msg, sizeof(msg),
             "upload: %llu bytes do not fit: %llu MiB are free in the data directory and 1 GiB is kept free",
             want, (unsigned long long)free_mib);
    return send_error(conn, 507, "insufficient_storage", msg);
  }
  char rnd[17];
  random_hex(rnd, 16);
  if (fmt_path(x->upload_tmp, sizeof(x->upload_tmp), "%s/images/.upload-%s", h->c->data_dir, rnd) < 0 ||
      (x->upload_fd = open(x->upload_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
    x->upload_errno = errno ? errno : ENAMETOOLONG;
  x->upload_hash = dl_hash_new(DL_SHA256);
  return MHD_YES;
}

/* The first call for a request: its head is complete. The access check, then an upload's file. */
static enum MHD_Result begin(struct http *h, struct MHD_Connection *conn, const char *url, const char *method,
                             void **con_cls) {
  struct req_ctx *x = xcalloc(1, sizeof(*x));
  x->h = h;
  x->conn = conn;
  x->upload_fd = -1;
  *con_cls = x;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  struct conn_ctx *cc = ci ? ci->socket_context : NULL;
  if (cc) { /* the head is complete: the header deadline no longer applies */
    pthread_mutex_lock(&h->conns_lock);
    cc->waiting_headers = false;
    pthread_mutex_unlock(&h->conns_lock);
  }
  x->upload = strcmp(method, "PUT") == 0 &&
              (strcmp(url, "/api/v1/images/upload") == 0 || strcmp(url, "/api/v1/vms/import/upload") == 0);
  enum MHD_Result rc;
  if (!admit(h, conn, x, url, method, &rc))
    return rc;
  return x->upload ? begin_upload(h, conn, x) : MHD_YES;
}

/* N bytes of an upload's body, hashed and written to its file. */
static void upload_chunk(struct http *h, struct req_ctx *x, const char *p, size_t n) {
  dl_hash_update(x->upload_hash, p, n);
  /* A body without Content-Length (chunked) keeps the same 1 GiB reserve: checked every 64 MiB. */
  if (!x->upload_errno && (x->upload_len >> 26) != ((x->upload_len + n) >> 26) &&
      images_free_mib(h) <= HOST_DISK_RESERVE_MIB)
    x->upload_errno = ENOSPC;
  x->upload_len += n;
  while (n && !x->upload_errno) {
    ssize_t w = write(x->upload_fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      x->upload_errno = w < 0 ? errno : EIO;
      break;
    }
    p += w;
    n -= (size_t)w;
  }
}

/* N bytes of a request body, kept up to API_MAX_BODY (then dropped: 413 once complete). */
static void body_chunk(struct req_ctx *x, const char *p, size_t n) {
  if (x->too_large)
    return;
  if (x->len + n > API_MAX_BODY) {
    x->too_large = true;
    free(x->body);
    x->body = NULL;
    x->len = 0;
    return;
  }
  x->body = xrealloc(x->body, x->len + n + 1);
  memcpy(x->body + x->len, p, n);
  x->len += n;
  x->body[x->len] = 0;
}

/* An upload is complete: the core gets the finished file's path, size and digest as R's body. */
static void finish_upload(struct MHD_Connection *conn, struct req_ctx *x, struct core_req *r) {
  char hex[DL_HASH_MAX_HEX + 1];
  dl_hash_final_hex(x->upload_hash, hex);
  if (!x->upload_errno && x->upload_fd >= 0 && fdatasync(x->upload_fd) < 0)
    x->upload_errno = errno;
  if (x->upload_fd >= 0)
    close(x->upload_fd);
  x->upload_fd = -1;
  const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name");
  json_t *j = json_pack("{s:s?, s:I, s:s}", "name", name, "size", (json_int_t)x->upload_len, "sha256", hex);
  if (x->upload_errno == ENOSPC) /* "No space" makes it a 507 (dl_images.c) */
    json_object_set_new(j, "error",
                        json_string("No space left on device: the data directory has less "
                                    "than the 1 GiB reserve free; the partial file is removed"));
  else if (x->upload_errno)
    json_object_set_new(j, "error", json_string(strerror(x->upload_errno)));
  free(r->body);
  r->body = json_dumps(j, JSON_COMPACT);
  r->body_len = strlen(r->body);
  json_decref(j);
  r->upload_tmp = xstrdup(x->upload_tmp);
  x->upload_tmp[0] = 0; /* the core owns the file now */
}

/* The whole request is in: hand it to the core and suspend the connection until it answers. */
static enum MHD_Result submit(struct http *h, struct MHD_Connection *conn, struct req_ctx *x, const char *url,
                              const char *method) {
  struct core_req *r = xcalloc(1, sizeof(*r));
  r->lan = h->tls;
  r->cookie = x->who == AUTH_OWNER_COOKIE || x->who == AUTH_DEVICE_COOKIE;
  memcpy(r->device, x->device, sizeof(r->device));
  snprintf(r->method, sizeof(r->method), "%s", method);
  r->path = xstrdup(url);
  r->query_tail = dup_arg(conn, "tail");
  r->query_keep_disks = dup_arg(conn, "keep_disks");
  r->query_dry_run = dup_arg(conn, "dry_run");
  r->query_format = dup_arg(conn, "format");
  r->body = x->body;
  r->body_len = x->len;
  x->body = NULL;
  if (x->upload)
    finish_upload(conn, x, r);
  r->done = on_core_answer;
  r->done_ud = x;
  x->r = r;
  x->submitted = true;
  MHD_suspend_connection(conn);
  core_submit(h->c, r);
  return MHD_YES;
}

/* libmicrohttpd's request callback: the head (begin), body chunks, then the complete request
 * (static files, pairing, or the core), and once more when the core answered. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size,
                                  void **con_cls) {
  struct http *h = cls;
  struct req_ctx *x = *con_cls;
  if (!x)
    return begin(h, conn, url, method, con_cls);
  if (*upload_size > 0) {
    if (x->upload)
      upload_chunk(h, x, upload, *upload_size);
    else
      body_chunk(x, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (x->too_large)
    return send_error(conn, 413, "payload_too_large", "the request body is over 1 MiB");
  if (!x->submitted) {
    if (is_static(url))
      return serve_static(h, conn, url, method, MHD_HTTP_OK);
    if (x->pair)
      return pair(h, conn, x);
    return submit(h, conn, x, url, method);
  }
  if (!x->answered)
    return MHD_YES; /* spurious call; still waiting */
  struct core_req *r = x->r;
  if (r->stream)
    return send_stream(conn, r);
  char *data = r->resp;
  r->resp = NULL;
  return send_response(conn, r->status, r->content_type, data ? data : xstrdup(""), data ? r->resp_len : 0);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode t) {
  struct http *h = cls;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  struct conn_ctx *cc = ci ? ci->socket_context : NULL;
  if (cc) { /* a kept-alive connection's next request head has the same deadline */
    pthread_mutex_lock(&h->conns_lock);
    cc->waiting_headers = true;
    cc->since = now_ms();
    pthread_mutex_unlock(&h->conns_lock);
  }
  struct req_ctx *x = *con_cls;
  if (!x)
    return;
  /* A submitted request is freed only once the core has answered it (it may still hold it). */
  if (x->r && !x->answered) {
    log_warn("http: connection closed before the core answered; request left to the core");
    *con_cls = NULL;
    return;
  }
  if (x->upload_fd >= 0)
    close(x->upload_fd);
  if (x->upload && x->upload_tmp[0])
    unlink(x->upload_tmp); /* an upload cut short: never half a file in the library */
  dl_hash_free(x->upload_hash);
  core_req_free(x->r);
  free(x->body);
  free(x);
  *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  struct http *h = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    struct conn_ctx *cc = xcalloc(1, sizeof(*cc));
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    cc->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
    cc->since = now_ms();
    cc->waiting_headers = true;
    pthread_mutex_lock(&h->conns_lock);
    cc->next = h->conns;
    if (h->conns)
      h->conns->prev = cc;
    h->conns = cc;
    pthread_mutex_unlock(&h->conns_lock);
    *socket_context = cc;
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
    struct conn_ctx *cc = *socket_context;
    pthread_mutex_lock(&h->conns_lock);
    if (cc->prev)
      cc->prev->next = cc->next;
    else
      h->conns = cc->next;
    if (cc->next)
      cc->next->prev = cc->prev;
    pthread_mutex_unlock(&h->conns_lock);
    free(cc);
    *socket_context = NULL;
  }
}

/* Once a second: a connection still without a whole request head after the deadline is shut
 * down (the socket stays MHD's to close), so half-sent requests cannot hold connection slots. */
static void *sweep(void *arg) {
  struct http *h = arg;
  pthread_mutex_lock(&h->conns_lock);
  while (!h->stop_sweep) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&h->sweep_cond, &h->conns_lock, &ts);
    uint64_t now = now_ms();
    unsigned n = 0;
    for (struct conn_ctx *cc = h->conns; cc; cc = cc->next) {
      if (cc->waiting_headers && !cc->cut && cc->fd != MHD_INVALID_SOCKET &&
          now - cc->since > HTTP_HEADER_DEADLINE_MS) {
        shutdown(cc->fd, SHUT_RDWR);
        cc->cut = true;
        n++;
      }
    }
    if (n)
      log_debug("http: %u connection(s) sent no whole request within %d s: closed", n,
                HTTP_HEADER_DEADLINE_MS / 1000);
  }
  pthread_mutex_unlock(&h->conns_lock);
  return NULL;
}

/* The Host names of this listener: loopback names, or for the LAN listener its address (every
 * interface's for 0.0.0.0) and the names given with --lan-name. */
static void listener_hosts(struct http *h, const struct http_opts *o) {
  if (!o->tls) {
    auth_hosts_add_loopback(&h->hosts, o->bind, h->port);
    return;
  }
  if (strcmp(o->bind, "0.0.0.0") == 0) {
    struct ifaddrs *ifs = NULL, *i;
    if (getifaddrs(&ifs) == 0) {
      for (i = ifs; i; i = i->ifa_next) {
        char a[INET_ADDRSTRLEN];
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof(a)))
          auth_hosts_add(&h->hosts, a, h->port, true);
      }
      freeifaddrs(ifs);
    }
  } else {
    auth_hosts_add(&h->hosts, o->bind, h->port, true);
  }
  for (int i = 0; i < o->n_names; i++)
    auth_hosts_add(&h->hosts, o->names[i], h->port, true);
}

struct http *http_start(struct core *c, const struct http_opts *o, char *err, size_t errlen) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(o->port)};
  if (inet_pton(AF_INET, o->bind, &sa.sin_addr) != 1) {
    snprintf(err, errlen, "--bind: '%s' is not an IPv4 address", o->bind);
    return NULL;
  }
  struct http *h = xcalloc(1, sizeof(*h));
  h->c = c;
  h->tls = o->tls;
  pthread_mutex_init(&h->conns_lock, NULL);
  pthread_cond_init(&h->sweep_cond, NULL);
  if (o->ui_dir && (!realpath(o->ui_dir, h->ui_dir) || access(h->ui_dir, R_OK) < 0)) {
    snprintf(err, errlen, "--ui-dir %s: %s (build the UI with `make webui`)", o->ui_dir, strerror(errno));
    goto fail;
  }
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (o->tls) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      snprintf(err, errlen, "--lan: this libmicrohttpd has no TLS support");
      goto fail;
    }
    flags |= MHD_USE_TLS;
  }
  struct MHD_OptionItem tls_opts[] = {
      {o->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)o->key_pem},
      {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->cert_pem},
      {MHD_OPTION_END, 0, NULL},
  };
  h->d = MHD_start_daemon(
      flags, o->port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)2, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)HTTP_PER_IP_CONNECTIONS, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
      MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
  if (!h->d) {
    snprintf(err, errlen, "cannot listen on %s:%u (in use, or not allowed)", o->bind, o->port);
    goto fail;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : o->port;
  listener_hosts(h, o);
  if (pthread_create(&h->sweeper, NULL, sweep, h) == 0)
    h->sweeping = true;
  return h;
fail:
  pthread_cond_destroy(&h->sweep_cond);
  pthread_mutex_destroy(&h->conns_lock);
  free(h);
  return NULL;
}

uint16_t http_port(struct http *h) {
  return h->port;
}

const struct auth_hosts *http_hosts(struct http *h) {
  return &h->hosts;
}

void http_stop(struct http *h) {
  if (!h)
    return;
  if (h->sweeping) {
    pthread_mutex_lock(&h->conns_lock);
    h->stop_sweep = true;
    pthread_cond_signal(&h->sweep_cond);
    pthread_mutex_unlock(&h->conns_lock);
    pthread_join(h->sweeper, NULL);
  }
  MHD_stop_daemon(h->d);
  pthread_cond_destroy(&h->sweep_cond);
  pthread_mutex_destroy(&h->conns_lock);
  free(h);
}
