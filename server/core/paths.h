/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * paths: where host paths taken from requests may point. A path (cdrom,
 * kernel, initrd, shared folders, image import, disk source, ...) must lie,
 * once resolved (realpath: symlinks and ".." followed), inside one of the
 * allowed roots: the data directory's own folders (images, shared, vms,
 * disks) and the roots the owner gives at start (--allow-path DIR). Nothing
 * else below DATA, even inside such a root (DATA/secrets holds the API token).
 * A path outside every root is refused before anything looks at it, so the
 * answer does not tell whether such a file exists. Immutable after start:
 * any thread.
 */
#ifndef QHM_PATHS_H
#define QHM_PATHS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define PATHS_MAX_ROOTS 32

struct path_roots {
  unsigned n;
  struct {
    char dir[4096]; /* resolved, no trailing slash */
  } r[PATHS_MAX_ROOTS];
  unsigned n_data; /* r[0..n_data) are DATA's own folders */
  char data[4096]; /* DATA resolved: nothing else below it is allowed, whatever root holds it */
};

/* Add DIR (must exist; resolved). -1 with ERR when it does not, or is not a directory. */
int path_roots_add(struct path_roots *pr, const char *dir, char *err, size_t errlen);
/* The data directory's own roots. */
int path_roots_add_data(struct path_roots *pr, const char *data_dir, char *err, size_t errlen);
json_t *path_roots_json(const struct path_roots *pr);

/* IN (absolute) made lexically clean, then resolved as far as it exists: 0 and OUT (OUTLEN bytes)
 * = the resolved path (or the clean one when it does not exist yet, with its existing part
 * inside a root); -1 when it is outside every root ("FIELD: ..." in ERR). */
int path_confine(const struct path_roots *pr, const char *field, const char *in, char *out, size_t outlen,
                 char *err, size_t errlen);

#endif
