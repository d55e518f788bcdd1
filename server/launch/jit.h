/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jit: HarmonyOS's JIT grant, prctl(0x6a6974, 1), asked for by the process that will run TCG
 * (the exec backend's forked child before exec; the child shim before it calls QEMU's entry).
 * Plain Linux answers EINVAL. The result goes to descriptor 2 in one line. Async-signal-safe.
 */
#ifndef QHM_JIT_H
#define QHM_JIT_H

void launch_jit_grant(void);

#endif
