/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ohos_tls: thread-local variables in our HarmonyOS libraries are per thread with the stand-in
 * toolchain too (scripts/ohos/README.md). Linked into libqemu-hmos.so and each QEMU library of
 * the HarmonyOS build only.
 *
 * clang's OHOS target keeps __thread variables in emulated TLS (__emutls_get_address). The
 * NDK's compiler-rt implements that with pthread keys. The stand-in's runtime is libgcc, whose
 * emutls asks whether the process has threads by looking for __pthread_key_create, a glibc name
 * that musl does not export; without it, it keeps ONE copy of each variable for the whole
 * process. QEMU's per-thread state (the current AioContext, current_cpu, tcg_ctx) and GnuTLS's
 * random context were shared by every thread: QEMU aborted at its start on
 * "!get_my_aiocontext()". Defining the name here (hidden: each library has its own) makes
 * libgcc's emutls see threads and use pthread keys. The NDK's compiler-rt does not look for it.
 */
#include <pthread.h>

__attribute__((visibility("hidden"))) int __pthread_key_create(pthread_key_t *key, void (*destructor)(void *));

int __pthread_key_create(pthread_key_t *key, void (*destructor)(void *)) {
  return pthread_key_create(key, destructor);
}
