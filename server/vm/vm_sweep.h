/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm_sweep: at start, finish or undo what a killed daemon left half-done in DATA/vms. */
#ifndef QHM_VM_SWEEP_H
#define QHM_VM_SWEEP_H

struct vm_manager;

/* After the rows are loaded, before any VM is reattached. */
void vm_sweep(struct vm_manager *m);

#endif
