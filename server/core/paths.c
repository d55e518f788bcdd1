/* SPDX-License-Identifier: GPL-2.0-or-later */
/* paths: see paths.h. */
#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int path_roots_add(struct path_roots *pr, const char *dir, char *err, size_t errlen) {
  char real[PATH_MAX];
  struct stat st;
  if (!dir || dir[0] != '/') {
    snprintf(err, errlen, "%s: must be an absolute path", dir ? dir : "(null)");
    return -1;
  }
  if (!realpath(dir, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "%s: %s", dir, errno ? strerror(errno) : "not a directory");
    return -1;
  }
  if (pr->n == PATHS_MAX_ROOTS) {
    snprintf(err, errlen, "at most %d allowed paths", PATHS_MAX_ROOTS);
    return -1;
  }
  size_t l = strlen(real);
  if (l > 1 && real[l - 1] == '/')
    real[l - 1] = 0;
  for (unsigned i = 0; i < pr->n; i++) {
    if (strcmp(pr->r[i].dir, real) == 0)
      return 0;
  }
  snprintf(pr->r[pr->n].dir, sizeof(pr->r[0].dir), "%s", real);
  pr->n++;
  return 0;
}

int path_roots_add_data(struct path_roots *pr, const char *data_dir, char *err, size_t errlen) {
  static const char *const subs[] = {"images", "shared", "vms", "disks"};
  if (!realpath(data_dir, pr->data)) {
    snprintf(err, errlen, "%s: %s", data_dir, strerror(errno));
    return -1;
  }
  for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
    char d[4200];
    if (fmt_path(d, sizeof(d), "%s/%s", data_dir, subs[i]) < 0 || mkdir_p(d, 0700) < 0 ||
        path_roots_add(pr, d, err, errlen) < 0) {
      if (!err[0])
        snprintf(err, errlen, "cannot create %s/%s: %s", data_dir, subs[i], strerror(errno));
      return -1;
    }
  }
  pr->n_data = pr->n;
  return 0;
}

json_t *path_roots_json(const struct path_roots *pr) {
  json_t *a = json_array();
  for (unsigned i = 0; i < pr->n; i++)
    json_array_append_new(a, json_string(pr->r[i].dir));
  return a;
}

/* Below ROOT ("/a/b" holds "/a/b" and "/a/b/..."; "/" holds everything). */
static bool below(const char *root, const char *p) {
  size_t rl = strlen(root);
  if (rl == 1 && root[0] == '/')
    return p[0] == '/';
  return strncmp(p, root, rl) == 0 && (p[rl] == 0 || p[rl] == '/');
}

static int root_of(const struct path_roots *pr, const char *p) {
  for (unsigned i = 0; i < pr->n; i++) {
    if (!below(pr->r[i].dir, p))
      continue;
    if (i >= pr->n_data && pr->data[0] && below(pr->data, p)) {
      /* below DATA only through DATA's own folders (never secrets/, tls/, run/, the database) */
      bool own = false;
      for (unsigned k = 0; k < pr->n_data && !own; k++)
        own = below(pr->r[k].dir, p);
      if (!own)
        return -1;
    }
    return (int)i;
  }
  return -1;
}

/* "/a/./b//../c/" -> "/a/c" (".." above "/" stays at "/"). */
static int clean(const char *in, char *out, size_t outlen) {
  if (outlen < 2 || in[0] != '/')
    return -1;
  size_t o = 0;
  out[o++] = '/';
  out[o] = 0;
  const char *p = in;
  while (*p) {
    while (*p == '/')
      p++;
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0)
      break;
    if (n == 1 && p[0] == '.') {
      /* nothing */
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      while (o > 1 && out[o - 1] != '/')
        o--;
      if (o > 1)
        o--; /* the slash before it */
      out[o] = 0;
    } else {
      if (o + (o > 1) + n + 1 > outlen)
        return -1;
      if (o > 1)
        out[o++] = '/';
      memcpy(out + o, p, n);
      o += n;
      out[o] = 0;
    }
    p += n;
  }
  return 0;
}

int path_confine(const struct path_roots *pr, const char *field, const char *in, char *out, size_t outlen,
                 char *err, size_t errlen) {
  char lex[PATH_MAX], real[PATH_MAX];
  if (!in || clean(in, lex, sizeof(lex)) < 0 || root_of(pr, lex) < 0)
    goto refused;
  if (realpath(lex, real)) {
    if (root_of(pr, real) < 0)
      goto refused; /* a symlink out of the roots */
  } else {
    /* Not there (yet): what exists of it must resolve inside a root too. */
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", lex);
    for (;;) {
      char *slash = strrchr(parent, '/');
      if (!slash || slash == parent)
        goto refused;
      *slash = 0;
      if (realpath(parent, real))
        break;
    }
    if (root_of(pr, real) < 0)
      goto refused;
    snprintf(real, sizeof(real), "%s", lex);
  }
  if (strlen(real) >= outlen)
    goto refused;
  memcpy(out, real, strlen(real) + 1);
  return 0;
refused:
  snprintf(
      err, errlen,
      "%s: this path is outside the folders this daemon may use (GET /api/v1/host \"allowed_paths\"; the "
      "owner adds folders with --allow-path)",
      field);
  return -1;
}
