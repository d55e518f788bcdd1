/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lazy: see lazy.h. */
#include "lazy.h"

#include <dlfcn.h>
#include <stdlib.h>

#include "util.h"

void lazy_load(const char *soname, const struct lazy_fn *fns, size_t n) {
  void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    log_err("cannot load %s: %s", soname, dlerror());
    abort();
  }
  for (size_t i = 0; i < n; i++) {
    void *p = dlsym(h, fns[i].name);
    if (!p) {
      log_err("%s has no %s: the installed version is too old", soname, fns[i].name);
      abort();
    }
    *fns[i].slot = p;
  }
  log_info("loaded %s", soname);
}
