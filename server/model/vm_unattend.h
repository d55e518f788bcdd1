/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_unattend: a Windows install without a click. A VM's "unattend" (vm_config.h: the account,
 * its password, language, time zone, computer name) becomes an answer file, autounattend.xml,
 * which Windows Setup finds at the root of any drive, on a second CD beside the Windows ISO
 * (vm_start.c builds it, vm_argv.c attaches it). The file partitions the VM's first disk for its
 * firmware (UEFI: EFI, MSR, Windows; BIOS: one active partition), accepts the licence, bypasses
 * Windows 11's TPM / Secure Boot / memory checks when the VM lacks them, makes the account an
 * administrator that logs on once by itself, turns on Remote Desktop and its firewall group, and
 * runs our setup script (data/windows/qhm-setup.ps1, embedded, on the same CD) at that first logon.
 * With a drivers CD (drivers_iso: virtio-win) it also names that CD's driver folders to Setup.
 * The settings used and their sources: docs/windows-unattend.md. Pure; any thread.
 */
#ifndef QHM_VM_UNATTEND_H
#define QHM_VM_UNATTEND_H

#include <jansson.h>
#include <stddef.h>

#include "vm_config.h"

/* "unattend" from the API or a stored row into U: null clears it; an object replaces it, except
 * that a left-out password keeps the stored one (a GET's "password_set" can be sent back). 0, or
 * -1 with ERR naming the field. */
int vm_unattend_from_json(json_t *v, struct vm_unattend *u, char *err, size_t errlen);
/* A VM created with an answer file and no "rdp": its RDP console signs in as the account. */
void vm_unattend_rdp(struct vm_config *c);
/* The answer file for C (c->unattend set), malloc'd UTF-8 XML. */
char *vm_unattend_xml(const struct vm_config *c);
/* The setup script that goes beside it (scripts/embed_text.py). */
extern const char vm_unattend_setup_ps1[];
/* The Windows 10/11 Pro key the answer file installs with when none is given: Microsoft's
 * published KMS client setup key (it picks the edition; it activates nothing by itself). */
#define VM_UNATTEND_DEFAULT_KEY "W269N-WFGWX-YVC9B-4J6C9-T83GX"

#endif
