/* SPDX-License-Identifier: GPL-2.0-or-later */
/* http: see http.h. Runs on libmicrohttpd's threads. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "core.h"
#include "dl_hash.h"
#include "host.h"
#include "util.h"

struct http {
  struct MHD_Daemon *d;
  char ui_dir[PATH_MAX]; /* "" = no UI */
  struct core *c;
  uint16_t port;
};

/* Per-request state, owned by MHD's connection until request_completed. */
struct req_ctx {
  struct http *h;
  struct MHD_Connection *conn;
  char *body;
  size_t len;
  bool too_large, submitted;
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

static enum MHD_Result send_error(struct MHD_Connection *conn, int status, const char *code,
                                  const char *msg) {
  json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
  char *txt = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  return send_response(conn, status, "application/json", txt, strlen(txt));
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

/* The web UI: files from ui_dir; any other path gets index.html (the UI routes by path). */
static enum MHD_Result serve_static(struct http *h, struct MHD_Connection *conn, const char *url,
                                    const char *method) {
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return send_error(conn, 405, "method_not_allowed", "only GET and HEAD are allowed here");
  if (!h->ui_dir[0])
    return send_error(conn, 404, "not_found", "this daemon was started without --ui-dir");
  struct stat st;
  const char *rel = url[0] == '/' ? url + 1 : url;
  const char *served = rel;
  int fd = rel[0] ? open_ui_file(h, rel, &st) : -1;
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
  enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
  MHD_destroy_response(resp);
  return rc;
}

static char *dup_arg(struct MHD_Connection *conn, const char *key) {
  const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
  return v ? xstrdup(v) : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size,
                                  void **con_cls) {
  struct http *h = cls;
  struct req_ctx *x = *con_cls;
  if (!x) {
    x = xcalloc(1, sizeof(*x));
    x->h = h;
    x->conn = conn;
    x->upload_fd = -1;
    *con_cls = x;
    if (strcmp(method, "PUT") == 0 && strcmp(url, "/api/v1/images/upload") == 0) {
      /* Refused before a byte of the body is read when the declared size cannot fit. */
      const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      char images[4200];
      unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
      uint64_t free_mib =
          fmt_path(images, sizeof(images), "%s/images", h->c->data_dir) < 0 ? 0 : host_disk_free_mib(images);
      if (want && want / (1024 * 1024) + HOST_DISK_RESERVE_MIB >= free_mib) {
        char msg[256];
        snprintf(
            msg, sizeof(msg),
            "upload: %llu bytes do not fit: %llu MiB are free in the data directory and 1 GiB is kept free",
            want, (unsigned long long)free_mib);
        return send_error(conn, 507, "insufficient_storage", msg);
      }
      char rnd[17];
      random_hex(rnd, 16);
      x->upload = true;
      if (fmt_path(x->upload_tmp, sizeof(x->upload_tmp), "%s/images/.upload-%s", h->c->data_dir, rnd) < 0 ||
          (x->upload_fd = open(x->upload_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
        x->upload_errno = errno ? errno : ENAMETOOLONG;
      x->upload_hash = dl_hash_new(DL_SHA256);
    }
    return MHD_YES;
  }
  if (x->upload && *upload_size > 0) {
    const char *p = upload;
    size_t n = *upload_size;
    dl_hash_update(x->upload_hash, p, n);
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
    *upload_size = 0;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    if (!x->too_large) {
      if (x->len + *upload_size > API_MAX_BODY) {
        x->too_large = true;
        free(x->body);
        x->body = NULL;
        x->len = 0;
      } else {
        x->body = xrealloc(x->body, x->len + *upload_size + 1);
        memcpy(x->body + x->len, upload, *upload_size);
        x->len += *upload_size;
        x->body[x->len] = 0;
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (x->too_large)
    return send_error(conn, 413, "payload_too_large", "the request body is over 1 MiB");
  if (!x->submitted) {
    if (strncmp(url, "/api/", 5) != 0)
      return serve_static(h, conn, url, method);
    struct core_req *r = xcalloc(1, sizeof(*r));
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = xstrdup(url);
    r->query_tail = dup_arg(conn, "tail");
    r->query_keep_disks = dup_arg(conn, "keep_disks");
    r->query_dry_run = dup_arg(conn, "dry_run");
    r->body = x->body;
    r->body_len = x->len;
    x->body = NULL;
    if (x->upload) { /* the core gets the finished file's path, size and digest */
      char hex[DL_HASH_MAX_HEX + 1];
      dl_hash_final_hex(x->upload_hash, hex);
      if (!x->upload_errno && x->upload_fd >= 0 && fdatasync(x->upload_fd) < 0)
        x->upload_errno = errno;
      if (x->upload_fd >= 0)
        close(x->upload_fd);
      x->upload_fd = -1;
      const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name");
      json_t *j =
          json_pack("{s:s?, s:I, s:s}", "name", name, "size", (json_int_t)x->upload_len, "sha256", hex);
      if (x->upload_errno)
        json_object_set_new(j, "error", json_string(strerror(x->upload_errno)));
      free(r->body);
      r->body = json_dumps(j, JSON_COMPACT);
      r->body_len = strlen(r->body);
      json_decref(j);
      r->upload_tmp = xstrdup(x->upload_tmp);
      x->upload_tmp[0] = 0; /* the core owns the file now */
    }
    r->done = on_core_answer;
    r->done_ud = x;
    x->r = r;
    x->submitted = true;
    MHD_suspend_connection(conn);
    core_submit(h->c, r);
    return MHD_YES;
  }
  if (!x->answered)
    return MHD_YES; /* spurious call; still waiting */
  struct core_req *r = x->r;
  char *data = r->resp;
  r->resp = NULL;
  return send_response(conn, r->status, r->content_type, data ? data : xstrdup(""), data ? r->resp_len : 0);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode t) {
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

struct http *http_start(struct core *c, const char *bind_addr, uint16_t port, const char *ui_dir, char *err,
                        size_t errlen) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
    snprintf(err, errlen, "--bind: '%s' is not an IPv4 address", bind_addr);
    return NULL;
  }
  struct http *h = xcalloc(1, sizeof(*h));
  h->c = c;
  if (ui_dir && (!realpath(ui_dir, h->ui_dir) || access(h->ui_dir, R_OK) < 0)) {
    snprintf(err, errlen, "--ui-dir %s: %s (build the UI with `make webui`)", ui_dir, strerror(errno));
    free(h);
    return NULL;
  }
  h->d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, port,
      NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
      (unsigned)2, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
      MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
  if (!h->d) {
    snprintf(err, errlen, "cannot listen on %s:%u (in use, or not allowed)", bind_addr, port);
    free(h);
    return NULL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : port;
  return h;
}

uint16_t http_port(struct http *h) {
  return h->port;
}

void http_stop(struct http *h) {
  if (!h)
    return;
  MHD_stop_daemon(h->d);
  free(h);
}
