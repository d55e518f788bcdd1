/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm_agent: GET /vms/{id}/guest — the QEMU guest agent's view of a running VM (vm_agent.c). */
#ifndef QHM_VM_AGENT_H
#define QHM_VM_AGENT_H

struct vm_manager;
struct core_req;

void vm_agent_req(struct vm_manager *m, struct core_req *r, const char *id);

#endif
