// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qhm-qemu-load: load QEMU built as a shared library and run it, as the HarmonyOS child process
 * will (an app there may not exec binaries; the system starts a child process at a .so entry).
 *
 *   qhm-qemu-load LIB.so [QEMU ARGS...]
 *
 * dlopen()s LIB.so (RTLD_NOW | RTLD_LOCAL), finds its entry -- qhm_qemu_main in
 * libqemu-system-*.so, qhm_qemu_img_main in libqemu-img.so (qemu-build/patches/0001) -- and
 * calls it with argv[0] = the program QEMU would be ("qemu-system-x86_64", "qemu-img": QEMU
 * prints it in messages) and the rest of our arguments. One call per process: QEMU keeps its
 * state in globals and ends the process with exit(). Exit status 127 if the library or its entry
 * cannot be found. Used by tests/integration/test_qemu_build.py; a reference for the launcher.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef int (*qhm_entry)(int argc, char **argv);

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: qhm-qemu-load LIB.so [QEMU ARGS...]\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "qhm-qemu-load: %s\n", dlerror());
    return 127;
  }
  const char *name = "qhm_qemu_main";
  qhm_entry entry = (qhm_entry)dlsym(lib, name);
  if (!entry) {
    name = "qhm_qemu_img_main";
    entry = (qhm_entry)dlsym(lib, name);
  }
  if (!entry) {
    fprintf(stderr, "qhm-qemu-load: %s has no qhm_qemu_main or qhm_qemu_img_main\n", argv[1]);
    return 127;
  }
  /* argv[0] for QEMU: the library's name without "lib" and ".so" (libqemu-img.so -> qemu-img). */
  static char prog[256];
  const char *base = strrchr(argv[1], '/');
  base = base ? base + 1 : argv[1];
  if (strncmp(base, "lib", 3) == 0)
    base += 3;
  snprintf(prog, sizeof(prog), "%s", base);
  char *dot = strstr(prog, ".so");
  if (dot)
    *dot = 0;
  argv[1] = prog;
  return entry(argc - 1, argv + 1);
}
