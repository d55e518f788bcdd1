/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_engine: libcurl's multi interface on the core's libuv loop. curl tells us
 * which sockets to watch (CURLMOPT_SOCKETFUNCTION → one uv_poll_t per socket)
 * and when to call back (CURLMOPT_TIMERFUNCTION → one uv_timer_t); we hand
 * readiness to curl_multi_socket_action. No thread per transfer. Finished
 * transfers are removed from the multi handle and reported to their owner's
 * callback, from which new transfers may be added. Core loop thread only.
 */
#ifndef QHM_DL_ENGINE_H
#define QHM_DL_ENGINE_H

#include <curl/curl.h>
#include <uv.h>

struct dl_engine;

/* RC is curl's result; the easy handle is no longer in the multi handle (the callback
 * owns it again: reuse it with dl_engine_add or curl_easy_cleanup it). */
typedef void (*dl_engine_done_cb)(CURL *easy, CURLcode rc, void *ud);

struct dl_engine *dl_engine_new(uv_loop_t *loop);
/* Transfers still added are removed without callbacks (their owners clean them up). */
void dl_engine_free(struct dl_engine *e);
void dl_engine_add(struct dl_engine *e, CURL *easy, dl_engine_done_cb cb, void *ud);
/* Remove without calling back. Safe for a handle not added. Not from curl callbacks. */
void dl_engine_remove(struct dl_engine *e, CURL *easy);
/* CB(UD) runs after every curl_multi_socket_action call, before finished transfers are
 * reported: write callbacks may batch data and flush it there (dl_transfer.c). */
void dl_engine_on_action(struct dl_engine *e, void (*cb)(void *ud), void *ud);

/* Options every transfer of ours gets: http/https only (also after redirects, so a
 * mirror cannot send us to file:// or anything else), up to 10 redirects, timeouts,
 * identity encoding, our User-Agent. */
void dl_engine_common_opts(CURL *easy);

/* A small GET into memory (checksum lists, the Microsoft API). HEADERS is a
 * NULL-terminated list or NULL. At most MAX bytes: more is an error. The callback runs
 * exactly once unless the fetch is cancelled first; STATUS is the HTTP status (0 when
 * none), ERR NULL on success (any status: callers judge it), else a message. */
struct dl_fetch;
typedef void (*dl_fetch_cb)(void *ud, CURL *easy, long status, const char *body, size_t len, const char *err);
struct dl_fetch *dl_fetch_start(struct dl_engine *e, const char *url, const char *const *headers, size_t max,
                                dl_fetch_cb cb, void *ud);
void dl_fetch_cancel(struct dl_fetch *f); /* NULL is fine; not from its own callback */

#endif
