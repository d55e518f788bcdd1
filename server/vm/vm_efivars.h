/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_efivars: a VM's own UEFI variable store, DATA/vms/ID/efivars.qcow2 (pflash unit 1).
 * qcow2, not raw, so that savevm can snapshot it with the disks (QEMU refuses a memory
 * snapshot while a writable drive cannot take one; libvirt's nvram format qcow2 likewise).
 * Made with qemu-img convert (proc.c) from the firmware's raw template: at create (aarch64)
 * and at the first start (x86_64 UEFI, or after a firmware change removed it); an older
 * version's raw efivars.fd is converted at the VM's next start, keeping its variables.
 * The qcow2 has the template's size as its virtual size (the pflash size QEMU checks).
 * Core loop thread only; called by vm_crud.c (create, patch), vm_start.c (start) and vm_clone.c.
 */
#ifndef QHM_VM_EFIVARS_H
#define QHM_VM_EFIVARS_H

#include <stdbool.h>
#include <uv.h>

#include "vm_argv.h" /* VM_EFIVARS: the store QEMU opens (format=qcow2) */

struct launcher;

#define VM_EFIVARS_RAW "efivars.fd" /* older versions' raw store: converted at the next start */

/* ERR: NULL when it worked, else why not. */
typedef void (*vm_efivars_cb)(const char *err, void *ud);

/* DIR/efivars.qcow2 from DIR/efivars.fd (removed once converted) when there, else from TEMPLATE
 * (a raw firmware variable store). Made as DIR/.new-efivars.qcow2 and renamed (start-up removes
 * a left-over .new-*). CB is called once: at once when DIR has its store (a raw one left beside it
 * is removed) or nothing can run, else later from the loop. */
void vm_efivars_make(struct launcher *launcher, const char *qemu_img, const char *dir, const char *tmpl,
                     vm_efivars_cb cb, void *ud);
/* FROM_DIR's store (qcow2, or an older raw one) copied into TO_DIR as efivars.qcow2, without the
 * source's internal snapshots; CB(NULL) at once when FROM_DIR has none. */
void vm_efivars_copy(struct launcher *launcher, const char *qemu_img, const char *from_dir,
                     const char *to_dir, vm_efivars_cb cb, void *ud);
/* DIR's store removed (both forms): the next start makes it again from the firmware's template. */
void vm_efivars_remove(const char *dir);

#endif
