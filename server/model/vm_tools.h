/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_tools: the guest tools (docs/guest-tools.md). The Linux script (data/linux/qhm-guest-tools.sh,
 * embedded at build time) that installs the guest agent and spice-vdagent, makes the display follow
 * the browser window and mounts the VM's shared folders; served by GET /api/v1/guest-tools/linux.sh
 * and put on a VM's tools CD ("guest_tools": true, vm_config.h) as linux.sh, with shares.conf (that
 * VM's shared folders, which the script mounts when run from the CD), the Windows setup script and
 * README.txt. vm_start.c writes the files and makes the ISO at each start; vm_argv.c attaches it.
 * Pure; any thread.
 */
#ifndef QHM_VM_TOOLS_H
#define QHM_VM_TOOLS_H

#include "vm_config.h"

#define VM_TOOLS_ISO "tools.iso" /* in the VM's directory, made at each start */
#define VM_TOOLS_LABEL "QHM_TOOLS"

/* The Linux script (scripts/embed_text.py). */
extern const char vm_tools_linux_sh[];
/* What README.txt on the CD says. */
extern const char vm_tools_readme[];
/* shares.conf for C: a comment, then "TAG MODE /mnt/TAG ro|rw" a shared folder. malloc'd. */
char *vm_tools_shares_conf(const struct vm_config *c);
/* C's second CD (drive cd1, vm_argv.c), by its file name in the VM's directory: the Windows answer
 * CD (VM_UNATTEND_ISO, which then carries the guest tools too), else the tools CD (VM_TOOLS_ISO),
 * or NULL when C has neither. */
const char *vm_cd1_iso(const struct vm_config *c);

#endif
