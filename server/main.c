/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main: the qemu-hmos command line, a thin user of libqemu-hmos (qemu-hmos.h):
 * `serve` turns its options into struct qhm_options, starts the daemon and runs
 * its core loop on this thread until SIGTERM or SIGINT.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "paths.h"
#include "priv.h"
#include "qemu-hmos.h"
#include "util.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: qemu-hmos serve [--data-dir DIR] [--bind ADDR] [--port N] [--ws-port M] [--ui-dir DIR]\n"
             "                       [--allow-path DIR]... [--allow-origin ORIGIN]... [--new-token]\n"
             "                       [--lan [--lan-port N] [--lan-ws-port M] [--lan-name NAME]...]\n"
             "                       [--run-as USER] [--share-passthrough DIR]... [--launcher exec|child]\n"
             "                       [--child-dir DIR]\n"
             "                       [--qemu system|built[:tcg|:tci]|MANIFEST[:tcg|:tci]]\n"
             "                       [--verbose]\n"
             "       qemu-hmos --help | --version\n"
             "\n"
             "  serve          run the daemon: REST API and web UI on http://127.0.0.1:N\n"
             "  --data-dir DIR where VMs, disks and the database live\n"
             "                 (default $XDG_DATA_HOME/qemu-hmos or ~/.local/share/qemu-hmos)\n"
             "  --bind ADDR    a loopback IPv4 address to listen on (default 127.0.0.1); with --lan the\n"
             "                 LAN address that gets HTTPS (0.0.0.0: every interface)\n"
             "  --port N       TCP port of the REST API and UI (default 8006; 0 picks a free one)\n"
             "  --ws-port M    TCP port of the WebSocket consoles and events (default 8007, or a free\n"
             "                 one when 8007 is taken; 0 picks)\n"
             "  --ui-dir DIR   serve the web UI from DIR (the build's webui/dist; default: the installed\n"
             "                 one, SHARE/ui, SHARE being $QHM_SHARE_DIR or " QHM_SHARE_DIR_DEFAULT ")\n"
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
             "  --launcher exec|child  how QEMU, qemu-img and the RDP worker start: exec (default), or\n"
             "                 child, HarmonyOS's shape (each a LIB.so:Function in a native child\n"
             "                 process; qemu-hmos-child stands in for the system here)\n"
             "  --child-dir DIR  child: where qemu-hmos-child, libqemu_child.so and\n"
             "                 libqemu-hmos-rdp.so are (default: this program's directory)\n"
             "  --qemu WHICH   system: Debian's QEMU (default); built, built:tci: our QEMU 10 from\n"
             "                 qemu-build/ (make qemu), the JIT or the interpreter variant; or the\n"
             "                 path of a build's manifest.json (MANIFEST:tci: its interpreter)\n"
             "  --verbose      debug logging\n"
             "\n"
             "Every API call needs the token: `Authorization: Bearer TOKEN`, or open\n"
             "http://127.0.0.1:N/?token=TOKEN once in a browser (the daemon prints that link). The\n"
             "token is also in DATA/run/endpoint.json.\n\n");
  cli_usage(f);
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

/* What getopt_long gathers for struct qhm_options. */
struct cli {
  struct qhm_options o;
  char data_dir[4096];
  const char *origins[8], *allow_paths[PATHS_MAX_ROOTS], *lan_names[8];
  const char *passthrough[PRIV_MAX_SHARE_ROOTS + 1];
};

/* 0 to go on, else the exit status (2: a usage error, 0: --help). */
static int parse_option(struct cli *cl, int c, const char *arg) {
  struct qhm_options *o = &cl->o;
  switch (c) {
  case 'd':
    if (fmt_path(cl->data_dir, sizeof(cl->data_dir), "%s", arg) < 0) {
      fprintf(stderr, "qemu-hmos: --data-dir is too long\n");
      return 2;
    }
    return 0;
  case 'b':
    o->bind = arg;
    return 0;
  case 'p':
  case 'w':
  case 'P':
  case 'W': {
    uint16_t *port = c == 'p' ? &o->port : c == 'w' ? &o->ws_port : c == 'P' ? &o->lan_port : &o->lan_ws_port;
    if (parse_port(arg, port) < 0) {
      fprintf(stderr, "qemu-hmos: --%s: '%s' is not a port number (0-65535)\n",
              c == 'p'   ? "port"
              : c == 'w' ? "ws-port"
              : c == 'P' ? "lan-port"
                         : "lan-ws-port",
              arg);
      return 2;
    }
    if (c == 'w')
      o->ws_port_fixed = true; /* asked for: taken is an error */
    return 0;
  }
  case 'v':
    log_threshold = LOG_DEBUG;
    return 0;
  case 'u':
    o->ui_dir = arg;
    return 0;
  case 'o':
    if (o->n_allow_origins == 5 || strlen(arg) > 90) {
      fprintf(stderr, "qemu-hmos: --allow-origin: at most 5, each under 90 bytes\n");
      return 2;
    }
    cl->origins[o->n_allow_origins++] = arg;
    return 0;
  case 1001:
    o->run_as = arg;
    return 0;
  case 1003:
    o->launcher = arg;
    return 0;
  case 1005:
    o->child_dir = arg;
    return 0;
  case 1004:
    o->qemu = arg;
    return 0;
  case 1002:
    if (o->n_share_passthrough <= PRIV_MAX_SHARE_ROOTS) /* one too many: priv_init says so */
      cl->passthrough[o->n_share_passthrough++] = arg;
    return 0;
  case 'A':
    if (o->n_allow_paths == PATHS_MAX_ROOTS - 8) {
      fprintf(stderr, "qemu-hmos: --allow-path: at most %d\n", PATHS_MAX_ROOTS - 8);
      return 2;
    }
    cl->allow_paths[o->n_allow_paths++] = arg;
    return 0;
  case 'T':
    o->new_token = true;
    return 0;
  case 'L':
    o->lan = true;
    return 0;
  case 'N':
    if (o->n_lan_names == 8 || strlen(arg) > 60 ||
        strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(arg)) {
      fprintf(stderr, "qemu-hmos: --lan-name: at most 8 host names of letters, digits, '.', '-'\n");
      return 2;
    }
    cl->lan_names[o->n_lan_names++] = arg;
    return 0;
  case 'h':
    usage(stdout);
    return -1;
  default:
    usage(stderr);
    return 2;
  }
}

/* --data-dir, or the XDG default, made absolute. */
static int resolve_data_dir(struct cli *cl) {
  if (!cl->data_dir[0] && default_data_dir(cl->data_dir, sizeof(cl->data_dir)) < 0) {
    fprintf(stderr, "qemu-hmos: no --data-dir and neither XDG_DATA_HOME nor HOME is set\n");
    return -1;
  }
  if (cl->data_dir[0] != '/') {
    char cwd[2048], abs[4096];
    if (!getcwd(cwd, sizeof(cwd)) || fmt_path(abs, sizeof(abs), "%s/%s", cwd, cl->data_dir) < 0) {
      fprintf(stderr, "qemu-hmos: cannot make --data-dir absolute\n");
      return -1;
    }
    strcpy(cl->data_dir, abs);
  }
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
                                       {"launcher", required_argument, NULL, 1003},
                                       {"qemu", required_argument, NULL, 1004},
                                       {"child-dir", required_argument, NULL, 1005},
                                       {NULL, 0, NULL, 0}};
  static struct cli cl; /* the options point into it while the daemon runs */
  memset(&cl, 0, sizeof(cl));
  cl.o = (struct qhm_options){.port = 8006,
                              .ws_port = 8007,
                              .lan_port = 8443,
                              .lan_ws_port = 8444,
                              .allow_origins = cl.origins,
                              .allow_paths = cl.allow_paths,
                              .lan_names = cl.lan_names,
                              .share_passthrough = cl.passthrough,
                              .handle_signals = true,
                              .print_link = true};
  int c;
  while ((c = getopt_long(argc, argv, "d:b:p:vhw:u:o:", opts, NULL)) != -1) {
    int rc = parse_option(&cl, c, optarg);
    if (rc)
      return rc < 0 ? 0 : rc;
  }
  if (optind < argc) {
    fprintf(stderr, "qemu-hmos: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  char err[1024];
  if (resolve_data_dir(&cl) < 0)
    return 2;
  cl.o.data_dir = cl.data_dir;
  /* Installed (meson install, the Debian package): the UI is in the share directory. */
  static char ui[4200];
  if (!cl.o.ui_dir && fmt_path(ui, sizeof(ui), "%s/ui", qhm_share_dir()) == 0) {
    char index[4300];
    if (fmt_path(index, sizeof(index), "%s/index.html", ui) == 0 && access(index, R_OK) == 0)
      cl.o.ui_dir = ui;
  }
  if (qhm_options_check(&cl.o, err, sizeof(err)) < 0) {
    fprintf(stderr, "qemu-hmos: %s\n", err);
    return 2;
  }
  struct qhm_daemon *d = qhm_daemon_start(&cl.o, err, sizeof(err));
  if (!d) {
    fprintf(stderr, "qemu-hmos: %s\n", err);
    return 1;
  }
  qhm_daemon_run(d);
  qhm_daemon_free(d);
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
  /* The API client's commands, maybe after its --json / --data-dir DIR (cli.h). */
  int k = 1;
  while (k < argc && (strcmp(argv[k], "--json") == 0 || strncmp(argv[k], "--data-dir", 10) == 0))
    k += strcmp(argv[k], "--data-dir") == 0 ? 2 : 1;
  if (k < argc &&
      (strcmp(argv[k], "vm") == 0 || strcmp(argv[k], "image") == 0 || strcmp(argv[k], "download") == 0)) {
    char data[4096];
    return cli_main(argc - 1, argv + 1, default_data_dir(data, sizeof(data)) == 0 ? data : NULL);
  }
  fprintf(stderr, "qemu-hmos: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
