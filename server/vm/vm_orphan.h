/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_orphan: processes that hold a VM's files while the daemon cannot prove they are that VM's
 * QEMU. A restarted daemon adopts a running QEMU only by the identity it recorded when it forked
 * it (pident.h: pid, start time, boot) confirmed over QMP (query-uuid). Anything else that still
 * holds the VM's files — a qemu-* or swtpm process whose command line names DATA/vms/ID/, or any
 * process with one of the VM's disks open — makes the VM "orphaned": never "stopped" (a Start
 * would run a second QEMU on the same disks), Start refused, and killed only through the API with
 * its pid as the confirmation, after checking again that it is still that process.
 *
 * This header is the scan (reads /proc only; any thread); what the VM manager does with it is in
 * vm_priv.h. Core loop thread for the rest of vm_orphan.c.
 */
#ifndef QHM_VM_ORPHAN_H
#define QHM_VM_ORPHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A process found holding a VM's files. */
struct vm_holder {
  pid_t pid;
  uint64_t start_time; /* pident.h: with the pid, names this process and no later one */
  uid_t uid;
  bool swtpm;    /* a TPM emulator (ends with its QEMU) */
  char exe[256]; /* /proc/PID/exe, else argv[0] */
  char why[300]; /* "its command line names DIR", "it has DISK open" */
};

/* What to look for, per VM. The caller keeps the strings. */
struct vm_holder_target {
  const char *dir;          /* "DATA/vms/ID/" (with the slash) */
  const char *dir_real;     /* the same with symbolic links resolved, or NULL */
  const char *const *disks; /* resolved paths of the VM's disks */
  size_t n_disks;
  struct vm_holder *found; /* out: malloc'd (free it), N_FOUND entries */
  size_t n_found;
};

/* One pass over /proc for the NT targets: every live process except SELF and SELF's own children
 * (the daemon's helpers, accounted for by the VM manager) whose program is qemu-* or swtpm and
 * whose command line names a target's directory, or that has one of its disks open. Processes
 * of other users are seen as far as /proc lets the daemon see them (root: all). */
void vm_holders_scan(struct vm_holder_target *t, size_t nt, pid_t self);

#endif
