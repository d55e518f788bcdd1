/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * host_qemu: a QEMU that qemu-build/ made, read from its manifest.json: the
 * system emulators and qemu-img as programs (the exec launcher) and as library
 * entries (launch_map, for the child launcher), the -L data directories, the
 * version. "built" picks the newest build in the cache. A build for HarmonyOS
 * (qemu-build/build.sh --ohos) has libraries only: each library's path then
 * names its program too (only the child launcher can start it), and an
 * emulator it lacks (i386) leaves that arch without a binary.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "launch.h"
#include "util.h"

/* Where qemu-build/build.sh caches its builds: QHM_QEMU_CACHE moves it, for the script and the daemon alike.
 */
static const char *build_cache(void) {
  const char *env = getenv("QHM_QEMU_CACHE");
  return env && *env ? env : "/var/cache/qemu-hmos/qemu-build";
}

/* The newest DIR/HASH/manifest.json into OUT; -1 when there is none. */
static int newest_manifest(char *out, size_t outlen) {
  const char *cache = build_cache();
  DIR *d = opendir(cache);
  if (!d)
    return -1;
  struct dirent *e;
  time_t best = 0;
  char path[1024];
  struct stat st;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || fmt_path(path, sizeof(path), "%s/%s/manifest.json", cache, e->d_name) < 0 ||
        stat(path, &st) < 0 || st.st_mtime < best)
      continue;
    best = st.st_mtime;
    snprintf(out, outlen, "%s", path);
  }
  closedir(d);
  return best ? 0 : -1;
}

/* The string at KEYS (NULL-terminated) below ROOT, or NULL. */
static const char *str_at(json_t *root, const char *const *keys) {
  for (; *keys && root; keys++)
    root = json_object_get(root, *keys);
  return json_string_value(root);
}

/* P as it is when absolute; a relative one (a manifest that travels with its files: the
 * HarmonyOS app's) is taken from DIR, the manifest's directory, into BUF. NULL when P is. */
static const char *from_dir(const char *p, const char *dir, char *buf, size_t len) {
  if (!p || p[0] == '/')
    return p;
  return fmt_path(buf, len, "%s/%s", dir, p) == 0 ? buf : NULL;
}

/* The path at KEYS (from_dir). */
static const char *path_at(json_t *root, const char *const *keys, const char *dir, char *buf, size_t len) {
  return from_dir(str_at(root, keys), dir, buf, len);
}

/* Copy PATH into OUT when it is an existing file; -1 with ERR naming WHAT. */
static int take_file(const char *path, char *out, size_t outlen, const char *what, char *err, size_t errlen) {
  if (!path || access(path, R_OK) < 0 || strlen(path) >= outlen) {
    snprintf(err, errlen, "the QEMU build has no usable %s (%s)", what, path ? path : "not in its manifest");
    return -1;
  }
  snprintf(out, outlen, "%s", path);
  return 0;
}

int host_qemu_load(struct host *h, struct launcher *l, const char *qemu, char *err, size_t errlen) {
  const char *variant = "tcg";
  char manifest[512] = "";
  if (strncmp(qemu, "built", 5) == 0 && (!qemu[5] || qemu[5] == ':')) {
    if (qemu[5] == ':')
      variant = qemu + 6;
    if (newest_manifest(manifest, sizeof(manifest)) < 0) {
      snprintf(err, errlen, "--qemu %s: no QEMU build in %s (run `make qemu`)", qemu, build_cache());
      return -1;
    }
  } else {
    /* MANIFEST or MANIFEST:VARIANT */
    size_t n = strlen(qemu);
    if (n > 4 && (strcmp(qemu + n - 4, ":tci") == 0 || strcmp(qemu + n - 4, ":tcg") == 0)) {
      variant = qemu + n - 3;
      n -= 4;
    }
    snprintf(manifest, sizeof(manifest), "%.*s", (int)n, qemu);
  }
  if (strcmp(variant, "tcg") != 0 && strcmp(variant, "tci") != 0) {
    snprintf(err, errlen, "--qemu %s: the variant is tcg or tci", qemu);
    return -1;
  }
  json_error_t je;
  json_t *m = json_load_file(manifest, 0, &je);
  if (!m) {
    snprintf(err, errlen, "--qemu %s: %s: %s", qemu, manifest, je.text);
    return -1;
  }
  int rc = -1;
  char dir[512], b1[1024], b2[1024];
  snprintf(dir, sizeof(dir), "%s", manifest);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = 0;
  else
    snprintf(dir, sizeof(dir), ".");
  const char *entry = str_at(m, (const char *[]){"variants", variant, "entry", NULL});
  for (int a = 0; a < VM_ARCH__N; a++) {
    const char *name = vm_arch_name((vm_arch)a);
    const char *exe =
        path_at(m, (const char *[]){"variants", variant, "executables", name, NULL}, dir, b1, sizeof(b1));
    const char *lib =
        path_at(m, (const char *[]){"variants", variant, "libraries", name, NULL}, dir, b2, sizeof(b2));
    if (!exe && !lib)
      continue; /* this build has no such emulator: no binary, the arch is unavailable */
    if (take_file(exe ? exe : lib, h->binary[a], sizeof(h->binary[a]), name, err, errlen) < 0)
      goto out;
    launch_map_library(l, h->binary[a], lib, entry);
  }
  const char *img_exe = path_at(m, (const char *[]){"qemu_img", "executable", NULL}, dir, b1, sizeof(b1));
  const char *img_lib = path_at(m, (const char *[]){"qemu_img", "library", NULL}, dir, b2, sizeof(b2));
  if (take_file(img_exe ? img_exe : img_lib, h->qemu_img, sizeof(h->qemu_img), "qemu-img", err, errlen) < 0)
    goto out;
  launch_map_library(l, h->qemu_img, img_lib, str_at(m, (const char *[]){"qemu_img", "entry", NULL}));
  size_t i, n = json_array_size(json_object_get(m, "L"));
  for (i = 0; i < n && i < HOST_MAX_DATA_DIRS; i++) {
    const char *d =
        from_dir(json_string_value(json_array_get(json_object_get(m, "L"), i)), dir, b1, sizeof(b1));
    snprintf(h->data_dirs[i], sizeof(h->data_dirs[i]), "%s", d ?: "");
    h->data_dir_ptrs[i] = h->data_dirs[i];
  }
  h->data_dir_ptrs[i] = NULL;
  h->facts.data_dirs = i ? h->data_dir_ptrs : NULL;
  const char *aavmf = path_at(m, (const char *[]){"uefi_dirs", "aarch64", NULL}, dir, b1, sizeof(b1));
  snprintf(h->build_aavmf_dir, sizeof(h->build_aavmf_dir), "%s", aavmf ?: "");
  const char *ovmf = path_at(m, (const char *[]){"uefi_dirs", "x86_64", NULL}, dir, b2, sizeof(b2));
  snprintf(h->build_ovmf_dir, sizeof(h->build_ovmf_dir), "%s", ovmf ?: "");
  snprintf(h->qemu.source, sizeof(h->qemu.source), "built");
  snprintf(h->qemu.variant, sizeof(h->qemu.variant), "%s", variant);
  snprintf(h->qemu.version, sizeof(h->qemu.version), "%s",
           str_at(m, (const char *[]){"qemu_version", NULL}) ?: "");
  snprintf(h->qemu.manifest, sizeof(h->qemu.manifest), "%s", manifest);
  rc = 0;
out:
  json_decref(m);
  return rc;
}
