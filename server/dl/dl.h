/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl: the OS image downloader and the image library. Segmented, resumable,
 * verified HTTP(S) downloads with libcurl's multi interface driven by the
 * core's libuv loop (curl_multi_socket_action + uv_poll/uv_timer: no thread
 * per connection); progress persisted in SQLite (db/002_downloads.sql);
 * completed, verified files move into DATA/images/. Core loop thread only.
 */
#ifndef QHM_DL_H
#define QHM_DL_H

#include <stddef.h>

struct core;
struct core_req;
struct dl_manager;

struct dl_manager *dl_manager_new(struct core *c);
/* Load downloads from the store; resume those that were running. */
int dl_manager_load(struct dl_manager *m, char *err, size_t errlen);
/* Stop transfers (progress already durable) and free. */
void dl_manager_free(struct dl_manager *m);

/* Routes under /api/v1/: SEG[0] is "downloads", "images" or "catalog"; N segments. */
void dl_req_dispatch(struct dl_manager *m, struct core_req *r, char **seg, int n);

#endif
