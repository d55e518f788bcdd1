/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * api: the REST routes of /api/v1 — one table (api_routes) of every endpoint: method, path
 * pattern, handler and the body it takes; route.c matches a request against it and checks the
 * body before the handler of the module that owns the resource runs. Core thread (c->dispatch).
 */
#ifndef QHM_API_H
#define QHM_API_H

#include <stddef.h>

#include "route.h"

struct core;
struct core_req;

#define API_MAX_BODY (1u << 20)

extern const struct route api_routes[];
extern const size_t api_n_routes;

void api_dispatch(struct core *c, struct core_req *r);

#endif
