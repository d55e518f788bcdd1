/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QHM_VM_PERF_H
#define QHM_VM_PERF_H

#include <jansson.h>

struct vm;

/* The VM's performance mode (vm_config.h) on its running QEMU: priority of every thread, CPU cap
 * or share in a cpu cgroup where the host has one; what took effect and what did not, for
 * vm_perf_json. Called when QMP answers (a start or a reattach) and when a PATCH changes the
 * mode while QEMU runs. Core loop thread. */
void vm_perf_apply(struct vm *v);
/* After QEMU ended: its cgroup (if any) is removed; nothing applied is left. */
void vm_perf_release(struct vm *v);
/* {"mode", "applied": [what took effect], "not_applied": [what did not, why], "restart": bool
 * (a part of the mode takes effect at the next start)}; NULL when nothing runs. */
json_t *vm_perf_json(const struct vm *v);

#endif
