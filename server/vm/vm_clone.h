/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm_clone: POST /vms/{id}/clone {"name"} — a stopped VM's copy (vm_clone.c). Core loop thread only. */
#ifndef QHM_VM_CLONE_H
#define QHM_VM_CLONE_H

#include <jansson.h>

struct vm_manager;
struct core_req;

void vm_clone_req(struct vm_manager *m, struct core_req *r, const char *id, json_t *body);

#endif
