/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * api: the REST routes of /api/v1 — parses the path, method, query and JSON
 * body of a request and hands it to the module that owns the resource.
 * Runs on the core thread (called from core.c for each submitted request).
 */
#ifndef QHM_API_H
#define QHM_API_H

struct core;
struct core_req;

#define API_MAX_BODY (1u << 20)
#define API_MAX_SEGMENTS 8

/* Split "/api/v1/vms/ID/start" (in place) into segments after "/api/v1/". Returns the count, or
 * -1 for anything else, including empty segments ("//") and dot segments. Fuzzed. */
int api_split_path(char *path, char *seg[API_MAX_SEGMENTS]);

void api_dispatch(struct core *c, struct core_req *r);

#endif
