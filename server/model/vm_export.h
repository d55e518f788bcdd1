/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_export: a VM's description for another manager: a libvirt domain XML (libvirt's domain
 * schema, checked in the tests with virt-xml-validate) and an OVF 1.0 envelope (DMTF DSP0243,
 * what VirtualBox, VMware and Proxmox's `qm importovf` read). Pure: the caller streams the files.
 * Golden-tested by tests/unit/test_import.c.
 */
#ifndef QHM_VM_EXPORT_H
#define QHM_VM_EXPORT_H

#include <stdint.h>

#include "vm_config.h"

/* Where an exported libvirt XML says its disks are: LIBVIRT_IMAGES/FILE (libvirt's default pool). */
#define EXPORT_LIBVIRT_IMAGES "/var/lib/libvirt/images"

/* NAME as a file name: [A-Za-z0-9._-], others '_', at most 48 bytes; "vm" when nothing is left. */
void vm_export_slug(const char *name, char *out, size_t outlen);
/* The domain XML of C whose disk I is the file DISK_FILES[i] (a name, placed in
 * EXPORT_LIBVIRT_IMAGES). malloc'd. */
char *vm_export_libvirt_xml(const struct vm_config *c, const char *const *disk_files);
/* The OVF envelope of C whose disk I is the streamOptimized VMDK DISK_FILES[i] of FILE_SIZES[i]
 * bytes and CAPACITY[i] bytes of virtual size. malloc'd. */
char *vm_export_ovf(const struct vm_config *c, const char *const *disk_files, const uint64_t *file_sizes,
                    const uint64_t *capacity);

#endif
