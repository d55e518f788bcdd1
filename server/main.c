/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main: the qemu-hmos command line. `serve` takes the data directory lock,
 * starts the core loop (this thread) and the HTTP server (its own threads),
 * writes DIR/run/endpoint.json and removes it on a clean exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core.h"
#include "http.h"
#include "util.h"
#include "ws.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: qemu-hmos serve [--data-dir DIR] [--bind ADDR] [--port N] [--ws-port M] [--ui-dir DIR]\n"
             "                       [--allow-origin ORIGIN]... [--verbose]\n"
             "       qemu-hmos --help | --version\n"
             "\n"
             "  serve          run the daemon: REST API and web UI on http://ADDR:N\n"
             "  --data-dir DIR where VMs, disks and the database live\n"
             "                 (default $XDG_DATA_HOME/qemu-hmos or ~/.local/share/qemu-hmos)\n"
             "  --bind ADDR    IPv4 address to listen on (default 127.0.0.1)\n"
             "  --port N       TCP port of the REST API and UI (default 8006; 0 picks a free one)\n"
             "  --ws-port M    TCP port of the WebSocket consoles and events (default 8007; 0 picks)\n"
             "  --ui-dir DIR   serve the web UI from DIR (the build's webui/dist)\n"
             "  --allow-origin ORIGIN  also accept WebSockets from this Origin (the UI's own always is)\n"
             "  --verbose      debug logging\n");
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
                                       {NULL, 0, NULL, 0}};
  char data_dir[4096] = "", err[1024] = "";
  const char *bind_addr = "127.0.0.1";
  uint16_t port = 8006, ws_port_opt = 8007;
  const char *ui_dir = NULL;
  const char *origins[8];
  int n_origins = 0;
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
  char run_dir[4200], lock_path[4300], endpoint[4300];
  snprintf(run_dir, sizeof(run_dir), "%s/run", data_dir);
  if (mkdir_p(run_dir, 0700) < 0) {
    fprintf(stderr, "qemu-hmos: cannot create %s: %s\n", run_dir, strerror(errno));
    return 1;
  }
  snprintf(lock_path, sizeof(lock_path), "%s/daemon.lock", run_dir);
  int lockfd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
    fprintf(stderr, "qemu-hmos: another qemu-hmos is serving %s\n", data_dir);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  static struct core core;
  if (core_init(&core, data_dir, err, sizeof(err)) < 0) {
    log_err("cannot start: %s", err);
    core_fini(&core);
    return 1;
  }
  core.ws = ws_start(&core, bind_addr, ws_port_opt, err, sizeof(err));
  if (!core.ws) {
    log_err("%s", err);
    core_fini(&core);
    return 1;
  }
  for (int i = 0; i < n_origins; i++)
    ws_allow_origin(core.ws, origins[i]);
  struct http *http = http_start(&core, bind_addr, port, ui_dir, err, sizeof(err));
  if (!http) {
    log_err("%s", err);
    core_fini(&core);
    return 1;
  }
  ws_allow_ui_port(core.ws, http_port(http));
  char *ep = xasprintf("{\"http\": \"http://%s:%u\", \"ws\": \"%s\", \"pid\": %d, \"version\": \"%s\"}\n",
                       bind_addr, http_port(http), ws_base_url(core.ws), (int)getpid(), QHM_VERSION);
  snprintf(endpoint, sizeof(endpoint), "%s/endpoint.json", run_dir);
  if (write_file_atomic(endpoint, ep, strlen(ep), 0600) < 0)
    log_err("cannot write %s: %s", endpoint, strerror(errno));
  free(ep);
  log_info("qemu-hmos %s serving http://%s:%u and %s (data %s, UI %s)", QHM_VERSION, bind_addr,
           http_port(http), ws_base_url(core.ws), data_dir, ui_dir ? ui_dir : "not served");

  core_run(&core);

  unlink(endpoint);
  core_answer_all(&core); /* no HTTP connection may stay suspended when MHD stops */
  http_stop(http);
  core_fini(&core);
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
