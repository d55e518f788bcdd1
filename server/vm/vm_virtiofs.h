/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QHM_VM_VIRTIOFS_H
#define QHM_VM_VIRTIOFS_H

#include <stdbool.h>
#include <stddef.h>

#include "vm_config.h"

struct vm;

/*
 * virtiofs shares (shared_folders[].mode "virtiofs"): one virtiofsd per share, started by the
 * daemon right before the VM's QEMU, through the launcher (its own session, as the VMs' user, in
 * a user and mount namespace of its own where the share is bind-mounted, read-only for a
 * read-only share: launch.h LAUNCH_SHARE_NS). The daemon makes each share's socket: virtiofsd
 * gets the listening end, QEMU an end already connected to it (the argv's VM_ARGV_VIRTIOFS_FD).
 * virtiofsd ends when QEMU closes its end; the daemon stops any left (QEMU never started, or
 * died) through run/virtiofsd-N.pid ("PID START_TIME": pident.h), which also outlives a daemon
 * restart. Core loop thread.
 */

struct core;
/* Whether virtiofs shares can be served here at all (GET /host says so); false with the reason
 * in WHY: no virtiofsd, or a launcher (HarmonyOS) or a user it cannot run under. */
bool vm_virtiofs_available(struct core *c, char *why, size_t whylen);
/* Whether CFG's virtiofs shares can be served here: 0, or -1 with the reason ("shared_folders[N].mode:
 * ...") in ERR: no virtiofsd, or a launcher that cannot run it (HarmonyOS). */
int vm_virtiofs_check(struct core *c, const struct vm_config *cfg, char *err, size_t errlen);
/* Start V's virtiofsd processes. QFDS[i]: QEMU's end for share i (-1 for a 9p share; the caller
 * closes them once QEMU has them). 0, or -1 with ERR, nothing left running. */
int vm_virtiofs_start(struct vm *v, int qfds[VM_MAX_SHARES], char *err, size_t errlen);
/* Stop what is left of V's virtiofsd processes. */
void vm_virtiofs_stop(struct vm *v);
/* V goes (daemon stop, VM deleted): its exit watches end; the processes are left to their QEMU. */
void vm_virtiofs_release(struct vm *v);

#endif
