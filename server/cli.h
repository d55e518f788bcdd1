/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli: `qemu-hmos vm|image|download ...`, a client of a running daemon's REST API (the same API
 * the web UI uses), found through DATA/run/endpoint.json (its address and secret; DATA: --data-dir
 * or the XDG default, as for `serve`). Human tables by default, --json prints the daemon's own
 * JSON. Exit status: 0 done; 1 the daemon refused (its message on stderr); 2 usage; 3 no daemon
 * answers; 4 no such VM, image, download or snapshot; 5 not in a state that allows it (409).
 */
#ifndef QHM_CLI_H
#define QHM_CLI_H

#include <stdio.h>

enum { CLI_OK = 0, CLI_REFUSED = 1, CLI_USAGE = 2, CLI_NO_DAEMON = 3, CLI_NOT_FOUND = 4, CLI_STATE = 5 };

/* ARGV[0] is the command ("vm", "image", "download"); DEFAULT_DATA: the data directory when
 * --data-dir is not given. The exit status. */
int cli_main(int argc, char **argv, const char *default_data);
void cli_usage(FILE *f);

#endif
