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

#include <jansson.h>
#include <stddef.h>

struct core;
struct core_req;
struct dl_manager;

struct dl_manager *dl_manager_new(struct core *c);
/* Load downloads from the store; resume those that were running. */
int dl_manager_load(struct dl_manager *m, char *err, size_t errlen);
/* Stop transfers (progress already durable) and free. */
void dl_manager_free(struct dl_manager *m);
/* The downloads not finished yet (starting, running, paused, verifying) in list order, as
 * [{"id", "name", "state", "bytes", "total"}] (total -1: the server did not say). */
json_t *dl_manager_unfinished(struct dl_manager *m);

/* The handlers of /api/v1/downloads, /images and /catalog, as the route table (server/http/api.c)
 * calls them: the method, the body (its allowed keys too) and the path were checked there; PARAM[0]
 * is the {id} of the path. They answer R, now or later. */
void dl_req_downloads_list(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_downloads_create(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_download_get(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_download_delete(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_download_pause(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_download_resume(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_images_list(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_images_import(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_images_upload(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_image_get(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_image_delete(struct core *c, struct core_req *r, json_t *body, const char *const *param);
void dl_req_catalog(struct core *c, struct core_req *r, json_t *body, const char *const *param);

#endif
