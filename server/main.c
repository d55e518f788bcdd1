/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main: the qemu-hmos command line. `serve` takes the data directory lock,
 * starts the core loop (this thread) and the HTTP server (its own threads),
 * writes DIR/run/endpoint.json and removes it on a clean exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "auth.h"
#include "core.h"
#include "http.h"
#include "paths.h"
#include "priv.h"
#include "tls.h"
#include "util.h"
#include "ws.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: qemu-hmos serve [--data-dir DIR] [--bind ADDR] [--port N] [--ws-port M] [--ui-dir DIR]\n"
             "                       [--allow-path DIR]... [--allow-origin ORIGIN]... [--new-token]\n"
             "                       [--lan [--lan-port N] [--lan-ws-port M] [--lan-name NAME]...]\n"
             "                       [--run-as USER] [--share-passthrough DIR]... [--verbose]\n"
             "       qemu-hmos --help | --version\n"
             "\n"
             "  serve          run the daemon: REST API and web UI on http://127.0.0.1:N\n"
             "  --data-dir DIR where VMs, disks and the database live\n"
             "                 (default $XDG_DATA_HOME/qemu-hmos or ~/.local/share/qemu-hmos)\n"
             "  --bind ADDR    a loopback IPv4 address to listen on (default 127.0.0.1); with --lan the\n"
             "                 LAN address that gets HTTPS (0.0.0.0: every interface)\n"
             "  --port N       TCP port of the REST API and UI (default 8006; 0 picks a free one)\n"
             "  --ws-port M    TCP port of the WebSocket consoles and events (default 8007; 0 picks)\n"
             "  --ui-dir DIR   serve the web UI from DIR (the build's webui/dist)\n"
             "  --allow-path DIR  host paths in requests (ISOs, kernels, shared folders, imports) may\n"
             "                 point below DIR too (besides DATA's own folders); repeatable\n"
             "  --allow-origin ORIGIN  also accept cookie writes and WebSockets from this Origin\n"
             "  --new-token    replace the API token (DATA/secrets/api-token): old links and cookies die\n"
             "  --lan          also serve ADDR (--bind) to other devices: HTTPS and WSS only, each\n"
             "                 browser paired with a code shown on this device\n"
             "  --lan-port N, --lan-ws-port M  the LAN ports (default 8443 and 8444; 0 picks)\n"
             "  --lan-name NAME  a host name the LAN side also answers to (e.g. mytablet.local)\n"
             "  --run-as USER  as root: run QEMU, swtpm and RDP workers as USER (default qemu-hmos)\n"
             "  --share-passthrough DIR  shared folders under DIR keep host owners and modes\n"
             "                 (9p security_model=none; elsewhere mapped-xattr); also an allowed path\n"
             "  --verbose      debug logging\n"
             "\n"
             "Every API call needs the token: `Authorization: Bearer TOKEN`, or open\n"
             "http://127.0.0.1:N/?token=TOKEN once in a browser (the daemon prints that link). The\n"
             "token is also in DATA/run/endpoint.json.\n");
}

/* 127.0.0.0/8 */
static bool is_loopback(const char *addr) {
  struct in_addr a;
  return inet_pton(AF_INET, addr, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static int default_data_dir(char *out, size_t len) {
  const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
  if (xdg && xdg[0] == '/')
    return fmt_path(out, len, "%s/qemu-hmos", xdg);
  if (home && home[0] == '/')
    return fmt_path(out, len, "%s/.local/share/qemu-hmos", home);
  return -1;
}

static int parse_port(const char *s, uint16_t *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < 0 || v > 65535)
    return -1;
  *out = (uint16_t)v;
  return 0;
}

static int serve(int argc, char **argv) {
  static const struct option opts[] = {{"data-dir", required_argument, NULL, 'd'},
                                       {"bind", required_argument, NULL, 'b'},
                                       {"port", required_argument, NULL, 'p'},
                                       {"verbose", no_argument, NULL, 'v'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"ws-port", required_argument, NULL, 'w'},
                                       {"ui-dir", required_argument, NULL, 'u'},
                                       {"allow-origin", required_argument, NULL, 'o'},
                                       {"allow-path", required_argument, NULL, 'A'},
                                       {"new-token", no_argument, NULL, 'T'},
                                       {"lan", no_argument, NULL, 'L'},
                                       {"lan-port", required_argument, NULL, 'P'},
                                       {"lan-ws-port", required_argument, NULL, 'W'},
                                       {"lan-name", required_argument, NULL, 'N'},
                                       {"run-as", required_argument, NULL, 1001},
                                       {"share-passthrough", required_argument, NULL, 1002},
                                       {NULL, 0, NULL, 0}};
  char data_dir[4096] = "", err[1024] = "";
  const char *bind_addr = "127.0.0.1";
  uint16_t port = 8006, ws_port_opt = 8007;
  const char *ui_dir = NULL;
  const char *origins[8];
  int n_origins = 0;
  const char *allow_paths[PATHS_MAX_ROOTS];
  int n_allow = 0;
  const char *lan_names[8];
  int n_lan_names = 0;
  bool new_token = false, lan = false;
  uint16_t lan_port = 8443, lan_ws_port = 8444;
  const char *run_as = NULL, *passthrough[PRIV_MAX_SHARE_ROOTS + 1];
  size_t n_passthrough = 0;
  int c;
  while ((c = getopt_long(argc, argv, "d:b:p:vhw:u:o:", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      if (fmt_path(data_dir, sizeof(data_dir), "%s", optarg) < 0) {
        fprintf(stderr, "qemu-hmos: --data-dir is too long\n");
        return 2;
      }
      break;
    case 'b':
      bind_addr = optarg;
      break;
    case 'p':
      if (parse_port(optarg, &port) < 0) {
        fprintf(stderr, "qemu-hmos: --port: '%s' is not a port number (0-65535)\n", optarg);
        return 2;
      }
      break;
    case 'v':
      log_threshold = LOG_DEBUG;
      break;
    case 'w':
      if (parse_port(optarg, &ws_port_opt) < 0) {
        fprintf(stderr, "qemu-hmos: --ws-port: '%s' is not a port number (0-65535)\n", optarg);
        return 2;
      }
      break;
    case 'u':
      ui_dir = optarg;
      break;
    case 'o':
      if (n_origins == 5 || strlen(optarg) > 90) {
        fprintf(stderr, "qemu-hmos: --allow-origin: at most 5, each under 90 bytes\n");
        return 2;
      }
      origins[n_origins++] = optarg;
      break;
    case 1001:
      run_as = optarg;
      break;
    case 1002:
      if (n_passthrough <= PRIV_MAX_SHARE_ROOTS) /* one too many: priv_init says so */
        passthrough[n_passthrough++] = optarg;
      break;
    case 'A':
      if (n_allow == PATHS_MAX_ROOTS - 8) {
        fprintf(stderr, "qemu-hmos: --allow-path: at most %d\n", PATHS_MAX_ROOTS - 8);
        return 2;
      }
      allow_paths[n_allow++] = optarg;
      break;
    case 'T':
      new_token = true;
      break;
    case 'L':
      lan = true;
      break;
    case 'P':
    case 'W':
      if (parse_port(optarg, c == 'P' ? &lan_port : &lan_ws_port) < 0) {
        fprintf(stderr, "qemu-hmos: --%s: '%s' is not a port number (0-65535)\n",
                c == 'P' ? "lan-port" : "lan-ws-port", optarg);
        return 2;
      }
      break;
    case 'N':
      if (n_lan_names == 8 || strlen(optarg) > 60 ||
          strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
              strlen(optarg)) {
        fprintf(stderr, "qemu-hmos: --lan-name: at most 8 host names of letters, digits, '.', '-'\n");
        return 2;
      }
      lan_names[n_lan_names++] = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "qemu-hmos: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  struct in_addr bind_in;
  if (inet_pton(AF_INET, bind_addr, &bind_in) != 1) {
    fprintf(stderr, "qemu-hmos: --bind: '%s' is not an IPv4 address\n", bind_addr);
    return 2;
  }
  if (!lan && !is_loopback(bind_addr)) {
    fprintf(stderr,
            "qemu-hmos: --bind %s is not a loopback address: serving other devices needs --lan (HTTPS, "
            "and each browser paired with a code shown on this device)\n",
            bind_addr);
    return 2;
  }
  if (!lan && (n_lan_names || lan_port != 8443 || lan_ws_port != 8444)) {
    fprintf(stderr, "qemu-hmos: --lan-port, --lan-ws-port and --lan-name need --lan\n");
    return 2;
  }
  const char *lan_addr = lan ? bind_addr : NULL;
  if (lan)
    bind_addr = "127.0.0.1"; /* the device's own shell keeps plain loopback */
  if (!data_dir[0] && default_data_dir(data_dir, sizeof(data_dir)) < 0) {
    fprintf(stderr, "qemu-hmos: no --data-dir and neither XDG_DATA_HOME nor HOME is set\n");
    return 2;
  }
  if (data_dir[0] != '/') {
    char cwd[2048], abs[4096];
    if (!getcwd(cwd, sizeof(cwd)) || fmt_path(abs, sizeof(abs), "%s/%s", cwd, data_dir) < 0) {
      fprintf(stderr, "qemu-hmos: cannot make --data-dir absolute\n");
      return 2;
    }
    strcpy(data_dir, abs);
  }
  /* A data directory that cannot be written (a read-only mount, a full disk remounted ro after
   * errors) is said plainly before anything tries to create or migrate in it. */
  if (access(data_dir, W_OK) < 0 && errno != ENOENT) {
    int e = errno;
    fprintf(stderr, "qemu-hmos: the data directory %s is not writable: %s%s\n", data_dir, strerror(e),
            e == EROFS ? " (remount it read-write or choose another --data-dir)" : "");
    return 1;
  }
  if (priv_init(run_as, passthrough, n_passthrough, data_dir, err, sizeof(err)) < 0) {
    fprintf(stderr, "qemu-hmos: %s\n", err);
    return 1;
  }
  char run_dir[4200], lock_path[4300], endpoint[4300];
  snprintf(run_dir, sizeof(run_dir), "%s/run", data_dir);
  if (mkdir_p(run_dir, 0700) < 0) {
    fprintf(stderr, "qemu-hmos: cannot create %s: %s\n", run_dir, strerror(errno));
    return 1;
  }
  snprintf(lock_path, sizeof(lock_path), "%s/daemon.lock", run_dir);
  int lockfd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lockfd < 0) {
    fprintf(stderr, "qemu-hmos: cannot open %s: %s\n", lock_path, strerror(errno));
    return 1;
  }
  if (flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
    fprintf(stderr, "qemu-hmos: another qemu-hmos is serving %s\n", data_dir);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  static struct core core;
  static struct path_roots roots;
  struct tls_cert cert = {0};
  if (path_roots_add_data(&roots, data_dir, err, sizeof(err)) < 0) {
    log_err("cannot start: %s", err);
    return 1;
  }
  for (int i = 0; i < n_allow + (int)n_passthrough; i++) {
    const char *d = i < n_allow ? allow_paths[i] : passthrough[i - n_allow];
    if (path_roots_add(&roots, d, err, sizeof(err)) < 0) {
      log_err("%s %s", i < n_allow ? "--allow-path" : "--share-passthrough", err);
      return 2;
    }
  }
  struct auth *auth = auth_new(data_dir, new_token, err, sizeof(err));
  if (!auth) {
    log_err("cannot start: %s", err);
    return 1;
  }
  if (lan && tls_load_or_make(&cert, data_dir, lan_addr, lan_names, n_lan_names, err, sizeof(err)) < 0) {
    log_err("cannot start LAN mode: %s", err);
    auth_free(auth);
    return 1;
  }
  if (core_init(&core, data_dir, auth, &roots, err, sizeof(err)) < 0) {
    log_err("cannot start: %s", err);
    core_fini(&core);
    auth_free(auth);
    return 1;
  }
  core.ws = ws_start(&core, bind_addr, ws_port_opt, err, sizeof(err));
  if (!core.ws) {
    log_err("%s", err);
    core_fini(&core);
    return 1;
  }
  for (int i = 0; i < n_origins; i++)
    auth_allow_origin(core.auth, origins[i]);
  struct http_opts ho = {.bind = bind_addr, .port = port, .ui_dir = ui_dir};
  struct http *http = http_start(&core, &ho, err, sizeof(err)), *http_lan = NULL;
  if (!http) {
    log_err("%s", err);
    core_fini(&core);
    return 1;
  }
  auth_allow_origins_of(core.auth, http_hosts(http), false);
  char lan_json[512] = "";
  if (lan) {
    struct http_opts lo = {.bind = lan_addr,
                           .port = lan_port,
                           .ui_dir = ui_dir,
                           .tls = true,
                           .cert_pem = cert.cert_pem,
                           .key_pem = cert.key_pem,
                           .names = lan_names,
                           .n_names = n_lan_names};
    http_lan = http_start(&core, &lo, err, sizeof(err));
    if (!http_lan || ws_start_lan(core.ws, lan_addr, lan_ws_port, cert.cert_path, cert.key_path,
                                  http_hosts(http_lan), err, sizeof(err)) < 0) {
      log_err("LAN mode: %s", err);
      core_answer_all(&core);
      http_stop(http);
      http_stop(http_lan);
      core_fini(&core);
      return 1;
    }
    auth_allow_origins_of(core.auth, http_hosts(http_lan), true);
    snprintf(core.lan_url, sizeof(core.lan_url), "https://%s:%u",
             strcmp(lan_addr, "0.0.0.0") == 0 && n_lan_names ? lan_names[0] : lan_addr, http_port(http_lan));
    snprintf(core.lan_fingerprint, sizeof(core.lan_fingerprint), "%s", cert.fingerprint);
    snprintf(lan_json, sizeof(lan_json),
             ", \"lan\": {\"url\": \"%s\", \"ws\": \"%s\", \"fingerprint\": \"%s\"}", core.lan_url,
             ws_lan_url(core.ws), cert.fingerprint);
  }
  tls_cert_clear(&cert);
  char *ep = xasprintf("{\"http\": \"http://%s:%u\", \"ws\": \"%s\", \"pid\": %d, \"version\": \"%s\", "
                       "\"token\": \"%s\"%s}\n",
                       bind_addr, http_port(http), ws_base_url(core.ws), (int)getpid(), QHM_VERSION,
                       auth_token(core.auth), lan_json);
  snprintf(endpoint, sizeof(endpoint), "%s/endpoint.json", run_dir);
  if (write_file_atomic(endpoint, ep, strlen(ep), 0600) < 0)
    log_err("cannot write %s: %s", endpoint, strerror(errno));
  explicit_bzero(ep, strlen(ep));
  free(ep);
  log_info("qemu-hmos %s serving http://%s:%u and %s (data %s, UI %s)", QHM_VERSION, bind_addr,
           http_port(http), ws_base_url(core.ws), data_dir, ui_dir ? ui_dir : "not served");
  if (lan)
    log_info("LAN mode: %s (and %s), certificate SHA-256 %s", core.lan_url, ws_lan_url(core.ws),
             core.lan_fingerprint);
  /* Like Jupyter: the one link that opens the UI with its cookie. */
  fprintf(stderr, "\n    Open the UI: http://%s:%u/?token=%s\n\n", bind_addr, http_port(http),
          auth_token(core.auth));

  core_run(&core);

  unlink(endpoint);
  core_answer_all(&core); /* no HTTP connection may stay suspended when MHD stops */
  http_stop(http);
  http_stop(http_lan);
  core_fini(&core);
  auth_free(core.auth);
  log_info("stopped");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("qemu-hmos %s\n", QHM_VERSION);
    return 0;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "serve") == 0)
    return serve(argc - 1, argv + 1);
  fprintf(stderr, "qemu-hmos: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
