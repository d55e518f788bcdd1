/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli: see cli.h. Plain HTTP/1.1 over a socket to the daemon on this machine: one request per
 * connection ("Connection: close"), the answer read to its end. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util.h"

#define CLI_TIMEOUT_S 300 /* a start waits for QEMU, a create for its disk */

struct ep {
  char host[256], port[16], token[256], http[300];
  bool json;
};

struct resp {
  int status;
  char *body;
  size_t len;
};

void cli_usage(FILE *f) {
  fprintf(
      f,
      "Usage: qemu-hmos COMMAND ... [--data-dir DIR] [--json]   (a running daemon's API; DIR as for serve)\n"
      "  vm list | vm names\n"
      "  vm show VM\n"
      "  vm create NAME [--arch x86_64|aarch64|i386] [--memory MIB] [--cpus N] [--disk GIB] [--cdrom PATH]\n"
      "  vm start|stop|kill|pause|resume|reset VM      (stop: ACPI power button; kill: force stop)\n"
      "  vm delete VM [--keep-disks]\n"
      "  vm console-url VM [--serial|--rdp]             (the console page's link, with the secret)\n"
      "  vm screenshot VM FILE.png                      (FILE - : standard output)\n"
      "  vm log VM [--tail N]\n"
      "  vm snapshot VM [list] | vm snapshot VM create|restore|delete NAME\n"
      "  image list | image import PATH [--name NAME] | image delete IMAGE\n"
      "  download list | download start URL [--sha256 HEX] [--name NAME] | download cancel ID\n"
      "VM: an id or a name. Exit status: 0 done, 1 refused by the daemon, 2 usage, 3 no daemon,\n"
      "4 not found, 5 not in a state that allows it.\n");
}

/* ---- talking to the daemon ---- */

static int load_endpoint(const char *data, struct ep *e) {
  char path[4200];
  if (fmt_path(path, sizeof(path), "%s/run/endpoint.json", data) < 0)
    return -1;
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  const char *http = j ? json_string_value(json_object_get(j, "http")) : NULL;
  const char *token = j ? json_string_value(json_object_get(j, "token")) : NULL;
  int rc = -1;
  const char *hp = http && strncmp(http, "http://", 7) == 0 ? http + 7 : NULL;
  const char *colon = hp ? strrchr(hp, ':') : NULL;
  if (colon && token && strlen(token) < sizeof(e->token) && (size_t)(colon - hp) < sizeof(e->host) &&
      strlen(colon + 1) < sizeof(e->port) && strlen(http) < sizeof(e->http)) {
    size_t hl = (size_t)(colon - hp);
    if (hl > 1 && hp[0] == '[' && hp[hl - 1] == ']') { /* [::1] */
      hp++;
      hl -= 2;
    }
    memcpy(e->host, hp, hl);
    e->host[hl] = 0;
    snprintf(e->port, sizeof(e->port), "%s", colon + 1);
    snprintf(e->token, sizeof(e->token), "%s", token);
    snprintf(e->http, sizeof(e->http), "%s", http);
    rc = 0;
  }
  if (rc < 0)
    fprintf(stderr, "qemu-hmos: no daemon serves %s (%s: %s); start one with `qemu-hmos serve`\n", data, path,
            j ? "not a daemon's endpoint" : je.text);
  json_decref(j);
  return rc;
}

static int connect_to(const struct ep *e) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  if (getaddrinfo(e->host, e->port, &hints, &ai) != 0)
    return -1;
  int fd = -1;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
      continue;
    struct timeval tv = {.tv_sec = CLI_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  return fd;
}

static bool send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* A chunked body decoded in place: its new length, or -1 when it is not well formed. */
static long dechunk(char *b, size_t len) {
  size_t in = 0, out = 0;
  for (;;) {
    char *end;
    if (in >= len)
      return -1;
    unsigned long n = strtoul(b + in, &end, 16);
    char *crlf = memmem(b + in, len - in, "\r\n", 2);
    if (!crlf || end == b + in)
      return -1;
    in = (size_t)(crlf - b) + 2;
    if (n == 0)
      return (long)out;
    if (n > len - in)
      return -1;
    memmove(b + out, b + in, n);
    out += n;
    in += n + 2;
  }
}

/* METHOD PATH with BODY (JSON, or NULL): 0 with R filled, or -1 when the daemon cannot be reached. */
static int http(const struct ep *e, const char *method, const char *path, json_t *body, struct resp *r) {
  memset(r, 0, sizeof(*r));
  int fd = connect_to(e);
  if (fd < 0) {
    fprintf(stderr, "qemu-hmos: cannot reach the daemon at %s: %s\n", e->http, strerror(errno));
    return -1;
  }
  char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
  size_t plen = payload ? strlen(payload) : 0;
  char clen[64] = "";
  if (payload)
    snprintf(clen, sizeof(clen), "Content-Type: application/json\r\nContent-Length: %zu\r\n", plen);
  char *head = xasprintf("%s %s HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n"
                         "%s\r\n",
                         method, path, e->host, e->port, e->token, clen);
  bool sent = send_all(fd, head, strlen(head)) && (!payload || send_all(fd, payload, plen));
  free(payload);
  free(head);
  size_t cap = 65536, len = 0;
  char *buf = xmalloc(cap);
  for (ssize_t n; sent && (n = recv(fd, buf + len, cap - len - 1, 0)) != 0;) {
    if (n < 0) {
      if (errno == EINTR)
        continue;
      sent = false;
      break;
    }
    len += (size_t)n;
    if (cap - len < 4096)
      buf = xrealloc(buf, cap *= 2);
  }
  close(fd);
  buf[len] = 0;
  char *sep = sent ? strstr(buf, "\r\n\r\n") : NULL;
  if (!sep || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
    fprintf(stderr, "qemu-hmos: no answer from the daemon at %s\n", e->http);
    free(buf);
    return -1;
  }
  *sep = 0;
  bool chunked = false;
  for (char *h = strstr(buf, "\r\n"); h; h = strstr(h + 2, "\r\n"))
    if (strncasecmp(h + 2, "Transfer-Encoding:", 18) == 0 && strstr(h + 20, "chunked"))
      chunked = true;
  size_t off = (size_t)(sep - buf) + 4;
  memmove(buf, buf + off, len - off + 1);
  len -= off;
  if (chunked) {
    long n = dechunk(buf, len);
    if (n < 0) {
      fprintf(stderr, "qemu-hmos: a garbled answer from the daemon\n");
      free(buf);
      return -1;
    }
    len = (size_t)n;
    buf[len] = 0;
  }
  r->body = buf;
  r->len = len;
  return 0;
}

/* The daemon's error answer on stderr; the exit status it stands for. */
static int refused(const struct resp *r) {
  json_t *j = json_loadb(r->body, r->len, 0, NULL);
  json_t *e = json_object_get(j, "error");
  const char *msg = json_string_value(json_object_get(e, "message"));
  fprintf(stderr, "qemu-hmos: %s (%d %s)\n", msg ? msg : "the daemon refused", r->status,
          json_string_value(json_object_get(e, "code")) ?: "error");
  json_decref(j);
  return r->status == 404 ? CLI_NOT_FOUND : r->status == 409 ? CLI_STATE : CLI_REFUSED;
}

/* METHOD PATH → the JSON answer (*OUT, NULL for an empty body) on 2xx; else the exit status. */
static int call(const struct ep *e, const char *method, const char *path, json_t *body, json_t **out) {
  struct resp r;
  *out = NULL;
  if (http(e, method, path, body, &r) < 0)
    return CLI_NO_DAEMON;
  int rc = CLI_OK;
  if (r.status < 200 || r.status > 299)
    rc = refused(&r);
  else if (r.len && !(*out = json_loadb(r.body, r.len, 0, NULL))) {
    fprintf(stderr, "qemu-hmos: the daemon's answer is not JSON\n");
    rc = CLI_REFUSED;
  }
  free(r.body);
  return rc;
}

static void print_json(json_t *j) {
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s)
    printf("%s\n", s);
  free(s);
}

/* ---- tables ---- */

#define COLS 6
struct table {
  const char *head[COLS];
  size_t ncol, nrow, cap;
  char **cell; /* nrow * ncol */
};

static void row_add(struct table *t, const char *const *vals) {
  if (t->nrow == t->cap)
    t->cell = xrealloc(t->cell, (t->cap = t->cap ? t->cap * 2 : 16) * t->ncol * sizeof(char *));
  for (size_t c = 0; c < t->ncol; c++)
    t->cell[t->nrow * t->ncol + c] = xstrdup(vals[c] ? vals[c] : "-");
  t->nrow++;
}

static void table_print(struct table *t) {
  size_t w[COLS] = {0};
  for (size_t c = 0; c < t->ncol; c++) {
    w[c] = strlen(t->head[c]);
    for (size_t r = 0; r < t->nrow; r++)
      if (strlen(t->cell[r * t->ncol + c]) > w[c])
        w[c] = strlen(t->cell[r * t->ncol + c]);
  }
  for (size_t c = 0; c < t->ncol; c++)
    printf("%-*s%s", c + 1 < t->ncol ? (int)w[c] : 0, t->head[c], c + 1 < t->ncol ? "  " : "\n");
  for (size_t r = 0; r < t->nrow; r++)
    for (size_t c = 0; c < t->ncol; c++)
      printf("%-*s%s", c + 1 < t->ncol ? (int)w[c] : 0, t->cell[r * t->ncol + c],
             c + 1 < t->ncol ? "  " : "\n");
  for (size_t i = 0; i < t->nrow * t->ncol; i++)
    free(t->cell[i]);
  free(t->cell);
}

static const char *jstr(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static char *jnum(json_t *o, const char *k, const char *unit) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? xasprintf("%" JSON_INTEGER_FORMAT "%s", json_integer_value(v), unit)
                            : xstrdup("-");
}

static char *bytes_text(json_t *v) {
  double b = json_is_integer(v) ? (double)json_integer_value(v) : -1;
  if (b < 0)
    return xstrdup("-");
  return b >= 1 << 30 ? xasprintf("%.1f GiB", b / (1 << 30)) : xasprintf("%.1f MiB", b / (1 << 20));
}

/* ---- VMs ---- */

/* ARG (an id or a name) → its id in ID (17 bytes). */
static int vm_find(const struct ep *e, const char *arg, char id[17]) {
  json_t *vms;
  int rc = call(e, "GET", "/api/v1/vms", NULL, &vms);
  if (rc)
    return rc;
  size_t i;
  json_t *v;
  int found = 0;
  json_array_foreach(json_object_get(vms, "vms"), i, v) {
    const char *vid = jstr(v, "id"), *name = jstr(v, "name");
    if (vid && ((strcmp(vid, arg) == 0) || (name && strcmp(name, arg) == 0)) && strlen(vid) < 17) {
      snprintf(id, 17, "%s", vid);
      found++;
    }
  }
  json_decref(vms);
  if (found != 1) {
    fprintf(stderr, "qemu-hmos: %s VM '%s'\n", found ? "more than one" : "no", arg);
    return CLI_NOT_FOUND;
  }
  return CLI_OK;
}

static int vm_list(const struct ep *e, bool names_only) {
  json_t *vms;
  int rc = call(e, "GET", "/api/v1/vms", NULL, &vms);
  if (rc)
    return rc;
  json_t *list = json_object_get(vms, "vms"), *v;
  size_t i;
  if (e->json && !names_only) {
    print_json(list);
  } else if (names_only) {
    json_array_foreach(list, i, v) printf("%s\n", jstr(v, "name"));
  } else {
    struct table t = {.head = {"ID", "NAME", "STATE", "ARCH", "MEMORY", "CPUS"}, .ncol = 6};
    json_array_foreach(list, i, v) {
      char *mem = jnum(v, "memory_mib", " MiB"), *cpus = jnum(v, "cpus", "");
      const char *vals[] = {jstr(v, "id"), jstr(v, "name"), jstr(v, "state"), jstr(v, "arch"), mem, cpus};
      row_add(&t, vals);
      free(mem);
      free(cpus);
    }
    table_print(&t);
  }
  json_decref(vms);
  return CLI_OK;
}

static int vm_print(const struct ep *e, json_t *v) {
  if (e->json) {
    print_json(v);
    return CLI_OK;
  }
  char *mem = jnum(v, "memory_mib", " MiB"), *cpus = jnum(v, "cpus", "");
  printf("id       %s\nname     %s\nstate    %s%s%s\narch     %s\nmemory   %s\ncpus     %s\n", jstr(v, "id"),
         jstr(v, "name"), jstr(v, "state"), jstr(v, "state_reason") ? " — " : "",
         jstr(v, "state_reason") ? jstr(v, "state_reason") : "", jstr(v, "arch"), mem, cpus);
  if (jstr(v, "cdrom"))
    printf("cdrom    %s\n", jstr(v, "cdrom"));
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(v, "disks"), i, d) {
    char *size = jnum(d, "size_gib", " GiB");
    printf("disk %zu   %s (%s, %s)\n", i, jstr(d, "path"), size, jstr(d, "interface"));
    free(size);
  }
  free(mem);
  free(cpus);
  return CLI_OK;
}

/* The value of option NAME at ARGV[*I] ("--name V" or "--name=V"), advancing *I; NULL otherwise. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0)
    return NULL;
  if (argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (argv[*i][n] == 0 && *i + 1 < argc)
    return argv[++*i];
  return NULL;
}

static int usage_error(const char *what) {
  fprintf(stderr, "qemu-hmos: %s\n", what);
  cli_usage(stderr);
  return CLI_USAGE;
}

/* A decimal integer in [LO, HI] from S into OUT. */
static bool int_arg(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || !*s || *end || errno || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

static int vm_create(const struct ep *e, int argc, char **argv) {
  if (argc < 1)
    return usage_error("vm create: a NAME");
  json_t *body = json_pack("{s:s}", "name", argv[0]);
  for (int i = 1; i < argc; i++) {
    const char *v;
    long n;
    if ((v = opt_value(argc, argv, &i, "--arch"))) {
      json_object_set_new(body, "arch", json_string(v));
    } else if ((v = opt_value(argc, argv, &i, "--memory"))) {
      if (!int_arg(v, 1, 1L << 30, &n))
        return json_decref(body), usage_error("--memory: MiB, a positive integer");
      json_object_set_new(body, "memory_mib", json_integer(n));
    } else if ((v = opt_value(argc, argv, &i, "--cpus"))) {
      if (!int_arg(v, 1, 1024, &n))
        return json_decref(body), usage_error("--cpus: a positive integer");
      json_object_set_new(body, "cpus", json_integer(n));
    } else if ((v = opt_value(argc, argv, &i, "--disk"))) {
      if (!int_arg(v, 0, 65536, &n))
        return json_decref(body), usage_error("--disk: GiB, 0 for none");
      json_object_set_new(body, "disks", n ? json_pack("[{s:I}]", "size_gib", (json_int_t)n) : json_array());
    } else if ((v = opt_value(argc, argv, &i, "--cdrom"))) {
      json_object_set_new(body, "cdrom", json_string(v));
    } else {
      json_decref(body);
      return usage_error("vm create: unknown option");
    }
  }
  json_t *vm;
  int rc = call(e, "POST", "/api/v1/vms", body, &vm);
  json_decref(body);
  if (!rc)
    e->json ? print_json(vm) : (void)printf("%s\n", jstr(vm, "id"));
  json_decref(vm);
  return rc;
}

static int vm_action(const struct ep *e, const char *id, const char *action) {
  char path[128];
  snprintf(path, sizeof(path), "/api/v1/vms/%s/%s", id, action);
  json_t *vm;
  int rc = call(e, "POST", path, NULL, &vm);
  if (!rc) {
    if (e->json)
      print_json(vm);
    else
      printf("%s: %s\n", jstr(vm, "name") ?: id, jstr(vm, "state") ?: "done");
  }
  json_decref(vm);
  return rc;
}

/* GET PATH's raw answer to FILE ("-": standard output). */
static int fetch_to(const struct ep *e, const char *path, const char *file) {
  struct resp r;
  if (http(e, "GET", path, NULL, &r) < 0)
    return CLI_NO_DAEMON;
  int rc = CLI_OK;
  if (r.status != 200) {
    rc = refused(&r);
  } else if (strcmp(file, "-") == 0) {
    fwrite(r.body, 1, r.len, stdout);
  } else if (write_file_atomic(file, r.body, r.len, 0644) < 0) {
    fprintf(stderr, "qemu-hmos: %s: %s\n", file, strerror(errno));
    rc = CLI_REFUSED;
  }
  free(r.body);
  return rc;
}

static int vm_snapshot(const struct ep *e, const char *id, int argc, char **argv) {
  char path[256];
  const char *op = argc > 0 ? argv[0] : "list";
  json_t *out = NULL;
  int rc;
  if (strcmp(op, "list") == 0 && argc <= 1) {
    snprintf(path, sizeof(path), "/api/v1/vms/%s/snapshots", id);
    if ((rc = call(e, "GET", path, NULL, &out)))
      return rc;
    if (e->json) {
      print_json(json_object_get(out, "snapshots"));
    } else {
      struct table t = {.head = {"NAME", "MEMORY", "CREATED"}, .ncol = 3};
      size_t i;
      json_t *s;
      json_array_foreach(json_object_get(out, "snapshots"), i, s) {
        char *created = jnum(s, "created_at", "");
        const char *vals[] = {jstr(s, "name"), json_is_true(json_object_get(s, "memory")) ? "yes" : "no",
                              created};
        row_add(&t, vals);
        free(created);
      }
      table_print(&t);
    }
    json_decref(out);
    return CLI_OK;
  }
  if (argc != 2 || (strcmp(op, "create") && strcmp(op, "restore") && strcmp(op, "delete")))
    return usage_error("vm snapshot VM [list] | create|restore|delete NAME");
  const char *name = argv[1];
  if (strcmp(op, "create") == 0) {
    snprintf(path, sizeof(path), "/api/v1/vms/%s/snapshots", id);
    json_t *body = json_pack("{s:s}", "name", name);
    rc = call(e, "POST", path, body, &out);
    json_decref(body);
  } else {
    /* (the daemon's snapshot names: these characters only, nothing to escape in a path) */
    size_t nl = strlen(name);
    if (nl == 0 || nl > 64 ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+:@") != nl)
      return usage_error("vm snapshot: a snapshot name is 1-64 of letters, digits and . _ - + : @");
    snprintf(path, sizeof(path), "/api/v1/vms/%s/snapshots/%s%s", id, name,
             strcmp(op, "restore") == 0 ? "/restore" : "");
    rc = call(e, strcmp(op, "delete") == 0 ? "DELETE" : "POST", path, NULL, &out);
  }
  if (!rc) {
    if (e->json && out)
      print_json(out);
    else
      printf("%s: %s\n", name,
             strcmp(op, "create") == 0    ? "taken"
             : strcmp(op, "restore") == 0 ? "restored"
                                          : "deleted");
  }
  json_decref(out);
  return rc;
}

static int cmd_vm(const struct ep *e, int argc, char **argv) {
  if (argc < 1)
    return usage_error("vm: a subcommand");
  const char *sub = argv[0];
  if (strcmp(sub, "list") == 0 || strcmp(sub, "names") == 0)
    return argc == 1 ? vm_list(e, strcmp(sub, "names") == 0) : usage_error("vm list: no arguments");
  if (strcmp(sub, "create") == 0)
    return vm_create(e, argc - 1, argv + 1);
  if (argc < 2)
    return usage_error("vm: which VM (an id or a name)");
  static const struct {
    const char *sub, *action;
  } actions[] = {{"start", "start"}, {"stop", "shutdown"}, {"kill", "kill"},
                 {"pause", "pause"}, {"resume", "resume"}, {"reset", "reset"}};
  const char *action = NULL; /* a power action's API verb */
  for (size_t k = 0; k < sizeof(actions) / sizeof(actions[0]) && !action; k++)
    if (strcmp(sub, actions[k].sub) == 0)
      action = actions[k].action;
  if (!action && strcmp(sub, "show") != 0 && strcmp(sub, "delete") != 0 && strcmp(sub, "console-url") != 0 &&
      strcmp(sub, "screenshot") != 0 && strcmp(sub, "log") != 0 && strcmp(sub, "snapshot") != 0)
    return usage_error("vm: unknown subcommand");
  char id[17], path[256];
  int rc = vm_find(e, argv[1], id);
  if (rc)
    return rc;
  if (action)
    return argc == 2 ? vm_action(e, id, action) : usage_error("too many arguments");
  if (strcmp(sub, "show") == 0) {
    json_t *vm;
    snprintf(path, sizeof(path), "/api/v1/vms/%s", id);
    if ((rc = call(e, "GET", path, NULL, &vm)))
      return rc;
    rc = vm_print(e, vm);
    json_decref(vm);
    return rc;
  }
  if (strcmp(sub, "delete") == 0) {
    bool keep = argc == 3 && strcmp(argv[2], "--keep-disks") == 0;
    if (argc > 3 || (argc == 3 && !keep))
      return usage_error("vm delete VM [--keep-disks]");
    snprintf(path, sizeof(path), "/api/v1/vms/%s%s", id, keep ? "?keep_disks=true" : "");
    json_t *out;
    if (!(rc = call(e, "DELETE", path, NULL, &out)))
      e->json &&out ? print_json(out) : (void)printf("%s: deleted\n", argv[1]);
    json_decref(out);
    return rc;
  }
  if (strcmp(sub, "console-url") == 0) {
    const char *page = "console";
    if (argc == 3 && strcmp(argv[2], "--serial") == 0)
      page = "serial";
    else if (argc == 3 && strcmp(argv[2], "--rdp") == 0)
      page = "rdp";
    else if (argc != 2)
      return usage_error("vm console-url VM [--serial|--rdp]");
    printf("%s/vm/%s/%s?token=%s\n", e->http, id, page, e->token);
    return CLI_OK;
  }
  if (strcmp(sub, "screenshot") == 0) {
    if (argc != 3)
      return usage_error("vm screenshot VM FILE.png");
    snprintf(path, sizeof(path), "/api/v1/vms/%s/screenshot", id);
    return fetch_to(e, path, argv[2]);
  }
  if (strcmp(sub, "log") == 0) {
    long tail = 200;
    for (int i = 2; i < argc; i++) {
      const char *v = opt_value(argc, argv, &i, "--tail");
      if (!v || !int_arg(v, 1, 10000, &tail))
        return usage_error("vm log VM [--tail N (1-10000)]");
    }
    snprintf(path, sizeof(path), "/api/v1/vms/%s/log?tail=%ld", id, tail);
    return fetch_to(e, path, "-");
  }
  return vm_snapshot(e, id, argc - 2, argv + 2);
}

/* ---- images and downloads ---- */

static int list_table(const struct ep *e, const char *path, const char *key, bool images) {
  json_t *out;
  int rc = call(e, "GET", path, NULL, &out);
  if (rc)
    return rc;
  json_t *list = json_object_get(out, key), *x;
  size_t i;
  if (e->json) {
    print_json(list);
  } else if (images) {
    struct table t = {.head = {"ID", "NAME", "SIZE", "PATH"}, .ncol = 4};
    json_array_foreach(list, i, x) {
      char *size = bytes_text(json_object_get(x, "size"));
      const char *vals[] = {jstr(x, "id"), jstr(x, "name"), size, jstr(x, "path")};
      row_add(&t, vals);
      free(size);
    }
    table_print(&t);
  } else {
    struct table t = {.head = {"ID", "STATE", "DONE", "NAME"}, .ncol = 4};
    json_array_foreach(list, i, x) {
      json_t *total = json_object_get(x, "total"), *bytes = json_object_get(x, "bytes");
      char *done =
          json_integer_value(total) > 0
              ? xasprintf("%d %%", (int)(100 * json_integer_value(bytes) / json_integer_value(total)))
              : bytes_text(bytes);
      const char *vals[] = {jstr(x, "id"), jstr(x, "state"), done, jstr(x, "name")};
      row_add(&t, vals);
      free(done);
    }
    table_print(&t);
  }
  json_decref(out);
  return CLI_OK;
}

/* POST/DELETE PATH and say WHAT (or print the answer with --json). */
static int simple(const struct ep *e, const char *method, const char *path, json_t *body, const char *what,
                  const char *key) {
  json_t *out;
  int rc = call(e, method, path, body, &out);
  json_decref(body);
  if (!rc) {
    if (e->json && out)
      print_json(out);
    else if (key && jstr(out, key))
      printf("%s\n", jstr(out, key));
    else
      printf("%s\n", what);
  }
  json_decref(out);
  return rc;
}

static bool safe_id(const char *s) {
  return *s && strlen(s) <= 64 && strspn(s, "0123456789abcdefABCDEF-") == strlen(s);
}

static int cmd_image(const struct ep *e, int argc, char **argv) {
  if (argc == 1 && strcmp(argv[0], "list") == 0)
    return list_table(e, "/api/v1/images", "images", true);
  if (argc >= 2 && strcmp(argv[0], "import") == 0) {
    json_t *body = json_pack("{s:s}", "path", argv[1]);
    for (int i = 2; i < argc; i++) {
      const char *v = opt_value(argc, argv, &i, "--name");
      if (!v)
        return json_decref(body), usage_error("image import PATH [--name NAME]");
      json_object_set_new(body, "name", json_string(v));
    }
    return simple(e, "POST", "/api/v1/images", body, "imported", "id");
  }
  if (argc == 2 && strcmp(argv[0], "delete") == 0) {
    if (!safe_id(argv[1]))
      return usage_error("image delete: an image id (image list)");
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/images/%s", argv[1]);
    return simple(e, "DELETE", path, NULL, "deleted", NULL);
  }
  return usage_error("image: list | import PATH [--name NAME] | delete IMAGE");
}

static int cmd_download(const struct ep *e, int argc, char **argv) {
  if (argc == 1 && strcmp(argv[0], "list") == 0)
    return list_table(e, "/api/v1/downloads", "downloads", false);
  if (argc >= 2 && strcmp(argv[0], "start") == 0) {
    json_t *body = json_pack("{s:s}", "url", argv[1]);
    for (int i = 2; i < argc; i++) {
      const char *v;
      if ((v = opt_value(argc, argv, &i, "--sha256")))
        json_object_set_new(body, "sha256", json_string(v));
      else if ((v = opt_value(argc, argv, &i, "--name")))
        json_object_set_new(body, "name", json_string(v));
      else
        return json_decref(body), usage_error("download start URL [--sha256 HEX] [--name NAME]");
    }
    return simple(e, "POST", "/api/v1/downloads", body, "started", "id");
  }
  if (argc == 2 && strcmp(argv[0], "cancel") == 0) {
    if (!safe_id(argv[1]))
      return usage_error("download cancel: a download id (download list)");
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/downloads/%s", argv[1]);
    return simple(e, "DELETE", path, NULL, "cancelled", NULL);
  }
  return usage_error("download: list | start URL [--sha256 HEX] [--name NAME] | cancel ID");
}

int cli_main(int argc, char **argv, const char *default_data) {
  struct ep e = {0};
  const char *data = default_data;
  /* The options every command takes, wherever they are: taken out of ARGV. */
  int n = 0;
  for (int i = 0; i < argc; i++) {
    const char *v;
    if (strcmp(argv[i], "--json") == 0)
      e.json = true;
    else if ((v = opt_value(argc, argv, &i, "--data-dir")))
      data = v;
    else if (strcmp(argv[i], "--data-dir") == 0)
      return usage_error("--data-dir: a directory");
    else
      argv[n++] = argv[i];
  }
  argc = n;
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
    cli_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (!data || !*data)
    return usage_error("no --data-dir and neither XDG_DATA_HOME nor HOME is set");
  if (load_endpoint(data, &e) < 0)
    return CLI_NO_DAEMON;
  if (strcmp(argv[0], "vm") == 0)
    return cmd_vm(&e, argc - 1, argv + 1);
  if (strcmp(argv[0], "image") == 0)
    return cmd_image(&e, argc - 1, argv + 1);
  return cmd_download(&e, argc - 1, argv + 1);
}
