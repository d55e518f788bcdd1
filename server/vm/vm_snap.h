/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_snap: a VM's internal snapshots (qcow2), for the REST API. Core loop thread only.
 *   GET    /vms/{id}/snapshots                    list
 *   POST   /vms/{id}/snapshots {"name"}           take one (with memory when the VM runs)
 *   POST   /vms/{id}/snapshots/{name}/restore     go back to it
 *   DELETE /vms/{id}/snapshots/{name}
 */
#ifndef QHM_VM_SNAP_H
#define QHM_VM_SNAP_H

#include <jansson.h>
#include <stdbool.h>

struct vm_manager;
struct core_req;

/* NAME: the snapshot's name for /snapshots/{name}[/ACTION], NULL for /snapshots. BODY: the
 * request's JSON object for POST /snapshots, else NULL. */
void vm_snap_req(struct vm_manager *m, struct core_req *r, const char *id, const char *method,
                 const char *name, const char *action, json_t *body);
bool vm_snap_name_valid(const char *name);

#endif
