/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_impexp: moving VMs between this daemon and other managers. vm_import.c: POST /vms/import
 * (a UTM bundle, a libvirt domain XML, an OVA, or this daemon's libvirt export, by host path) and
 * PUT /vms/import/upload (the same files from a browser, except a UTM bundle, which is a
 * directory). vm_export.c: GET /vms/{id}/export?format=libvirt|ova, a tar streamed from the
 * disks. Core loop thread only.
 */
#ifndef QHM_VM_IMPEXP_H
#define QHM_VM_IMPEXP_H

#include <jansson.h>

struct vm_manager;
struct core_req;

void vm_import_req(struct vm_manager *m, struct core_req *r, json_t *body);
/* R->upload_tmp is the uploaded file (removed once the import ends), R->body http.c's summary. */
void vm_import_upload_req(struct vm_manager *m, struct core_req *r);
/* FORMAT: "libvirt" or "ova" (?format=), NULL when absent. */
void vm_export_req(struct vm_manager *m, struct core_req *r, const char *id, const char *format);

#endif
