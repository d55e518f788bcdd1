/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_priv: what the download manager's files share: struct dl (one download), struct conn
 * (one of its connections), struct dl_manager, the tuning constants and the functions one
 * file calls in another. Core loop thread only.
 *
 * Included by the dl/ files that make up dl.h's manager and nothing else: dl_state.c,
 * dl_store.c, dl_transfer.c, dl_start.c, dl_verify.c, dl_complete.c, dl_rest.c,
 * dl_images.c, dl_catalog.c, dl_manager.c. (dl_engine, dl_hash, dl_ms and dl_seg are
 * self-contained and do not include it.) Each include sets QHM_DL_PRIV_H_ALLOW first.
 *
 * Life of a download: [Microsoft flow] → [checksum list] → probe (GET Range: bytes=0-0,
 * which also follows redirects once) → preallocate → connections take chunks of the segment
 * table (dl_seg.c) → when the table is complete and the in-order hash has reached the end →
 * verify → rename into DATA/images/.
 *
 * Durability: a checkpoint copies the segment table, fdatasync()s the file on a libuv
 * worker thread and only then writes the copy to SQLite, so the stored progress never claims
 * bytes that are not on disk. Checkpoints run back to back while bytes arrive (at most every
 * DL_CKPT_MS), so a kill -9 loses little.
 *
 * Hashing: a worker reads [hashed, prefix) back from the page cache and feeds the digest;
 * the prefix trails the download front by a few chunks, so the final pass is short. The
 * digest state is not persisted: after a restart the downloaded prefix is hashed again from
 * disk.
 *
 * Objects with worker jobs in flight are freed only when the last job returns (workers
 * touch only their job struct, the fd and the digest they were handed).
 */
#ifndef QHM_DL_PRIV_H
#define QHM_DL_PRIV_H

#ifndef QHM_DL_PRIV_H_ALLOW
#error "dl_priv.h is private to server/dl/: include dl.h"
#endif

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dl.h"
#include "dl_engine.h"
#include "dl_hash.h"
#include "dl_ms.h"
#include "dl_seg.h"
#include "img.h"

#define DL_MAX_CONNS 16
#define DL_DEFAULT_CONNS 8
#define DL_RESERVE (1ULL << 30)    /* free space kept after a download */
#define DL_TICK_MS 25              /* 'written' progress / speed tick */
#define DL_PROGRESS_EVERY 10       /* ticks: progress events at most 4/s */
#define DL_WRITTEN_STEP (2u << 20) /* bytes between 'written' records */
#define DL_CKPT_EVERY 40           /* ticks: fdatasync + 'durable' progress every second */
#define DL_STALL_MS 20000          /* no byte for this long: next mirror */
#define DL_HASH_SLICE (32u << 20)  /* one hash job */
#define DL_MIN_SPLIT (1u << 20)
#define DL_STEAL_ETA_MS 500 /* split another connection's segment only if it needs longer */
/* Write batching: libcurl hands the body over in 16 KiB pieces (CURL_MAX_WRITE_SIZE), one
 * pwrite each. They are copied into a per-connection buffer written when full or after each
 * socket wakeup. Not larger: ext4 (Linux >= 6.16) sizes page-cache folios from the write
 * length; from 64 KiB on they are large-order allocations, which on this VM (balloon free
 * page reporting) often land on memory the host has to fault in again, and the copy into
 * the page cache became 2-5x slower (bench: 128 KiB median 1.26 s/GiB, 32 KiB 1.12, 16 KiB
 * unbatched 1.16). */
#define DL_WBUF (32u << 10)
#define DL_MAX_URLS 8
#define DL_SPEED_SAMPLES 40 /* ticks in the speed window (1 s) */

/* Caps that keep a flood of requests from filling the disk or the database. */
#define DL_MAX_DOWNLOADS 100 /* listed downloads, finished ones included until deleted */
#define DL_MAX_IMAGES 1000

/* The names are stored (downloads.state) and shown: dl_state_names[] in this order. */
enum dl_state { DL_ST_STARTING, DL_ST_RUNNING, DL_ST_PAUSED, DL_ST_VERIFYING, DL_ST_COMPLETED, DL_ST_FAILED };
extern const char *const dl_state_names[];

/* Why a transfer's write callback stopped it. */
enum verdict { V_NONE, V_CUT, V_NORANGE, V_LIE, V_IOERR };

struct core_req;
struct sqlite3;
struct sqlite3_stmt;
struct dl;

struct conn {
  struct dl *d;
  int idx;
  CURL *easy;
  bool active;                 /* in the engine */
  bool waiting;                /* retry timer armed */
  uint64_t seg_start, req_end; /* ranged: the segment's start and the requested end */
  uint64_t got;                /* body bytes of this request */
  uint64_t t_start;            /* when this request was added (ms) */
  bool checked;                /* status and Content-Range verified */
  int64_t cr_start, cr_total;  /* from Content-Range, -1 if none */
  enum verdict verdict;
  int io_errno;
  unsigned fails;
  char *wbuf;  /* body bytes received, not yet written: they follow the written ones */
  size_t wlen; /* (segment pos, or spos when single) and do not count as progress */
  uv_timer_t *timer;
  char errbuf[CURL_ERROR_SIZE];
};

struct dl {
  struct dl_manager *m;
  char id[37];
  char *name;
  json_t *urls; /* array of strings */
  size_t mirror;
  char *eff_url; /* after redirects */
  char *catalog_id;
  enum dl_algo algo;
  char expected[DL_HASH_MAX_HEX + 1]; /* "" = nothing to verify against */
  char actual[DL_HASH_MAX_HEX + 1];
  enum dl_state state;
  int64_t total; /* -1 unknown */
  bool single;   /* one stream without ranges */
  uint64_t spos; /* single: bytes written */
  unsigned nconns;
  uint64_t speed_limit;
  char *error;
  char *image_id;
  int64_t created, finished;
  struct dl_segs segs;
  int fd;
  struct conn conns[DL_MAX_CONNS];
  /* hashing */
  struct dl_hash *h;
  uint64_t hashed;
  unsigned hash_gen;
  bool hash_busy;
  /* checkpoints */
  bool ckpt_busy, ckpt_dirty;
  uint64_t saved_written; /* bytes in the last 'written' rows */
  /* speed */
  uint64_t samples[DL_SPEED_SAMPLES];
  unsigned sample_i, ticks;
  double speed;
  uint64_t last_progress_ms;
  /* phases before the transfer */
  struct dl_fetch *probe, *sums;
  struct dl_ms *ms;
  size_t sums_i;
  json_t *sums_urls;
  char *sums_file;
  int probe_tries;
  uv_timer_t *probe_timer;
  struct core_req *pending; /* POST waiting for the probe */
  unsigned jobs;            /* worker jobs in flight */
  bool dead;                /* removed: free when jobs == 0 */
  struct dl *next;
};

struct dl_manager {
  struct core *c;
  struct dl_engine *e;
  struct sqlite3 *db; /* the manager's own connection: dl_store.c alone uses it */
  struct dl *list;
  json_t *catalog; /* {"entries": [...]} or NULL */
  char catalog_err[512];
  char dir_dl[4200], dir_img[4200];
  uv_timer_t *tick;
  bool ticking;
  char boot_id[64];                       /* this kernel's /proc/sys/kernel/random/boot_id */
  struct sqlite3_stmt *seg_del, *seg_ins; /* dl_store_save_segs's, prepared once (~100 times/s) */
  unsigned imports;                       /* import jobs in flight */
  bool closing;                           /* dl_manager_free ran: the last import job frees the rest */
};

/* dl_state.c: one download's life, state and JSON; small helpers. */
struct dl *dl_new(struct dl_manager *m);
struct dl *dl_find(struct dl_manager *m, const char *id);
/* Stop D, unlink it from the list and free it (now, or when its last worker job returns). */
void dl_release(struct dl *d);
void dl_job_done(struct dl *d); /* a worker job of D returned */
uint64_t dl_bytes(const struct dl *d);
void dl_path(struct dl *d, char *out, size_t len); /* DATA/downloads/ID.part */
json_t *dl_json(struct dl *d);
void dl_emit_progress(struct dl *d);
/* Record ST (stored, announced, logged); nothing when D is in it already. */
void dl_set_state(struct dl *d, enum dl_state st);
/* Stop D's transfers, keep the message as its error, fail it and answer a waiting POST. */
void dl_fail(struct dl *d, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A safe file name: [A-Za-z0-9._+-], no leading dot, at most 120 bytes; "" when nothing is left. */
void dl_safe_name(const char *in, char *out, size_t outlen);
bool dl_valid_url(const char *u);
void dl_free_handle(uv_handle_t *h); /* uv_close callback for handles of ours */

/* dl_store.c: every SQLite access of the download manager (downloads, download_segments,
 * images). Errors are logged; the callers go on as before without the row. */
int dl_store_open(struct dl_manager *m, const char *path, char *err, size_t errlen);
void dl_store_close(struct dl_manager *m);
int dl_store_begin(struct dl_manager *m);
int dl_store_commit(struct dl_manager *m);
void dl_store_save(struct dl *d);
/* Replace the KIND rows of download ID with G (compacted); KIND NULL: delete every row. */
void dl_store_save_segs(struct dl_manager *m, const char *id, const char *kind, const struct dl_segs *g);
/* The KIND rows of download ID, appended to G. */
void dl_store_load_segs(struct dl_manager *m, const char *id, const char *kind, struct dl_segs *g);
/* One dl_new() per stored download, oldest first; ROW(D, BOOT_ID, UD) after each is read. */
int dl_store_load(struct dl_manager *m, void (*row)(struct dl *d, const char *boot_id, void *ud), void *ud,
                  char *err, size_t errlen);
void dl_store_download_delete(struct dl_manager *m, const char *id);
int dl_store_image_insert(struct dl_manager *m, const char *id, const char *name, const char *path,
                          int64_t size, const char *sha256, const char *source, const char *origin);
json_t *dl_store_image_get(struct dl_manager *m, const char *id); /* NULL: none */
json_t *dl_store_image_list(struct dl_manager *m);
unsigned dl_store_image_count(struct dl_manager *m);
bool dl_store_image_name_taken(struct dl_manager *m, const char *name);
void dl_store_image_delete(struct dl_manager *m, const char *id);
/* EACH(UD, ID, PATH) for every image row until it returns nonzero: 0, or -1 when the rows
 * cannot be read. */
int dl_store_image_each(struct dl_manager *m, int (*each)(void *ud, const char *id, const char *path),
                        void *ud);

/* dl_transfer.c: the connections of a running download. */
void dl_conn_next(struct conn *k); /* K's next piece of work, or idle */
void dl_stop_transfers(struct dl *d);
void dl_flush_all(void *ud); /* dl_engine_on_action's callback; UD: the manager */
int dl_pwrite_all(int fd, const char *p, size_t n, uint64_t at);

/* dl_start.c: getting a download going, mirrors, pause, the progress tick. */
void dl_start(struct dl *d);
void dl_pause(struct dl *d);
void dl_next_mirror(struct dl *d, const char *why);
void dl_ensure_tick(struct dl_manager *m);

/* dl_verify.c: the hash and checkpoint workers, checksum lists. */
void dl_verify_kick(struct dl *d);    /* hash what is new in the prefix */
void dl_verify_restart(struct dl *d); /* forget the digest (its bytes are being refetched) */
void dl_ckpt_kick(struct dl *d);
void dl_save_written(struct dl *d);
void dl_sums_start(struct dl *d);

/* dl_complete.c: verified downloads into the image library. */
void dl_check_complete(struct dl *d);
/* An image for the library (downloaded, imported, uploaded) that names another host file, or is
 * not the format its name claims, is refused (img.h): IMG_OK, or the reason in ERR. */
enum img_result dl_library_check(const char *path, const char *name, char *err, size_t errlen);
/* A free name in DATA/images/ for NAME: the path in OUT, the file name in BASE. */
int dl_unique_image_path(struct dl_manager *m, const char *name, char *out, size_t len, char *base,
                         size_t baselen);

/* dl_catalog.c: the OS catalog (data/catalog.json or $QHM_CATALOG). */
void dl_catalog_load(struct dl_manager *m);
json_t *dl_catalog_entry(struct dl_manager *m, const char *id);
struct dl_ms_params dl_catalog_ms_params(json_t *e, const char **why);

/* dl_rest.c: request helpers the image handlers share. */
/* Room for one more image (and, with DOWNLOAD, one more download); else answers 422. */
bool dl_room_for(struct dl_manager *m, struct core_req *r, bool download);

/* dl_manager.c */
void dl_manager_free_rest(struct dl_manager *m); /* after the last import job */

#endif
