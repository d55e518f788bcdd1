/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * route: the matcher behind the REST route table. It owns what every endpoint shares: splitting
 * "/api/v1/..." into segments, finding the route for a method and path (404 for an unknown path,
 * 405 naming the methods the table allows there), reading the JSON body (one error, malformed_json,
 * for any body that is not a JSON object) and refusing a top-level key the route does not list
 * (one error, invalid_field "KEY: unknown field"). The table itself is api.c's (api_routes).
 * Core loop thread (route_dispatch); route_split_path and route_match are pure and fuzzed.
 */
#ifndef QHM_ROUTE_H
#define QHM_ROUTE_H

#include <jansson.h>
#include <stddef.h>

struct core;
struct core_req;

#define ROUTE_MAX_SEGMENTS 8
#define ROUTE_MAX_PARAMS 4

/* A handler answers R (now or later). BODY is the parsed request body as the route's body kind
 * says (NULL when there is none; the router frees it after the call: keep a reference to hold it);
 * PARAM[i] is the i-th "{...}" segment of the pattern, valid during the call only. */
typedef void route_fn(struct core *c, struct core_req *r, json_t *body, const char *const *param);

enum route_body {
  ROUTE_NO_BODY,       /* a body, if sent, is not read (BODY is NULL) */
  ROUTE_JSON,          /* a JSON object is required; its keys must be in KEYS */
  ROUTE_JSON_OPTIONAL, /* an empty body gives BODY NULL; else as ROUTE_JSON */
  ROUTE_JSON_CONFIG,   /* a JSON object whose keys vm_config_apply_json checks (the VM's field table
                          is the one list of a VM's fields, nested objects included); KEYS is NULL */
  ROUTE_UPLOAD,        /* streamed to R->upload_tmp by http.c; BODY is NULL, R->body is http.c's
                          summary of the upload (name, size, sha256, error) */
};

struct route {
  const char *method;  /* "GET", "POST", ... */
  const char *pattern; /* after "/api/v1": "/vms/{id}/snapshots/{name}" */
  route_fn *fn;
  enum route_body body;
  const char *const *keys; /* ROUTE_JSON, ROUTE_JSON_OPTIONAL: the allowed keys, NULL-terminated;
                              NULL for every other body kind */
};

/* The allowed keys of a route, as a NULL-terminated list with static storage. */
#define ROUTE_KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Split "/api/v1/vms/ID/start" (in place) into segments after "/api/v1/". Returns the count, or
 * -1 for anything else, including empty segments ("//"), dot segments and more than
 * ROUTE_MAX_SEGMENTS. One trailing slash is fine. Fuzzed. */
int route_split_path(char *path, char *seg[ROUTE_MAX_SEGMENTS]);

struct route_match {
  int status;                /* 200: ROUTE is the one; 404: no such path; 405: not with this method */
  const struct route *route; /* status 200 */
  const char *param[ROUTE_MAX_PARAMS]; /* status 200: pointers into the split path */
  int nparam;
  char allow[64]; /* status 405: "GET, POST", the methods in table order */
};

/* Where METHOD PATH goes in TABLE (N routes). PATH is split in place (route_split_path). When
 * several patterns fit the path the most literal one wins, segment by segment from the left
 * ("/images/upload" over "/images/{id}"); its methods alone decide 200 or 405. Pure. */
void route_match(const struct route *table, size_t n, const char *method, char *path,
                 struct route_match *out);

/* Match R, read its body as the route says and call the handler; or answer the mistake. */
void route_dispatch(const struct route *table, size_t n, struct core *c, struct core_req *r);

#endif
