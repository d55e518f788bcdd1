/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_disk: a VM's disks after creation, for the REST API. Core loop thread only.
 *   GET    /vms/{id}/disks               the disks with their real sizes (qemu-img info)
 *   POST   /vms/{id}/disks               add one: {"size_gib", "interface"} or {"source": image path}
 *   PATCH  /vms/{id}/disks/{n}           grow it: {"size_gib"} (also while QEMU runs)
 *   DELETE /vms/{id}/disks/{n}[?keep_disks=true]   detach it (deleted, or kept in DATA/disks)
 */
#ifndef QHM_VM_DISK_H
#define QHM_VM_DISK_H

#include <jansson.h>
#include <stdbool.h>

struct vm_manager;
struct core_req;

/* INDEX: "{n}" of /disks/{n}, NULL for /disks. BODY: the JSON object of POST and PATCH. KEEP:
 * ?keep_disks=true of DELETE. */
void vm_disk_req(struct vm_manager *m, struct core_req *r, const char *id, const char *method,
                 const char *index, json_t *body, bool keep);

#endif
