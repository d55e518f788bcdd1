/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_argv: the QEMU command line of a VM as a pure function of its config,
 * the host facts and its directory. No I/O. Golden-tested by
 * tests/unit/test_cmdline.c against tests/cmdline/NAME.json -> NAME.args.
 *
 * The QMP monitor is a listening unix socket that the daemon binds itself and
 * hands to QEMU as file descriptor VM_ARGV_QMP_FD (libvirt does the same): the
 * daemon can connect the moment QEMU is forked, without polling for the path.
 * The first serial port is served the same way on VM_ARGV_SERIAL_FD, with
 * wait=on: the daemon has connected before QEMU runs (vm_serial.c).
 */
#ifndef QHM_VM_ARGV_H
#define QHM_VM_ARGV_H

#include "vm_config.h"

#define VM_ARGV_QMP_FD 3
#define VM_ARGV_SERIAL_FD 4

/* OVMF images in vm_host.ovmf_dir (Debian's ovmf), and the variable stores copied per VM. */
#define VM_OVMF_CODE "OVMF_CODE_4M.fd"
#define VM_OVMF_CODE_SECURE "OVMF_CODE_4M.ms.fd"
#define VM_OVMF_VARS "OVMF_VARS_4M.fd"
#define VM_OVMF_VARS_SECURE "OVMF_VARS_4M.ms.fd"
/* The VM's own variable store in its directory, made from those templates (vm_efivars.h). */
#define VM_EFIVARS "efivars.qcow2"
/* A virtiofs share's vhost-user connection: QEMU gets it as this descriptor (I: the share's index),
 * connected to the share's virtiofsd (server/vm/vm_virtiofs.c); the id of the shared guest memory
 * virtiofs needs. */
#define VM_ARGV_VIRTIOFS_FD(i) (VM_ARGV_SERIAL_FD + 1 + (int)(i))
#define VM_SHARED_MEM_ID "qhm-mem"

/* An aarch64 guest's CPU under TCG: QEMU's "max" with the implementation-defined pointer
 * authentication algorithm instead of QARMA (architecturally allowed; guests see no difference but
 * its speed: QARMA5 is emulated in software on every signed pointer, and an aarch64 Linux boot took
 * 2.7x the QEMU CPU time with it, bench/qemu.py's guest). Command lines before this version had
 * plain "max" (VM_CPU_AARCH64_TCG_OLD): a memory snapshot saved then is restored with it. */
#define VM_CPU_AARCH64_TCG "max,pauth-impdef=on"
#define VM_CPU_AARCH64_TCG_OLD "max"

struct vm_argv {
  size_t argc;
  char **argv; /* argc entries, then NULL */
};

/* Build the argv. Returns 0, or -1 with a message in ERR (for instance an
 * architecture whose binary is missing). */
int vm_argv_build(const struct vm_config *c, const struct vm_host *h, const struct vm_paths *p,
                  struct vm_argv *out, char *err, size_t errlen);
void vm_argv_free(struct vm_argv *a);
/* Name machine type TYPE ("pc-q35-7.2") in place of the one -machine names, its options kept
 * ("virt,gic-version=max" -> "virt-7.2,gic-version=max"): a start from a memory snapshot, whose
 * saved state loads only on the type it was saved on. -1 when A has no -machine or TYPE is not a
 * machine type's name ([A-Za-z0-9._-], at most 63 bytes). */
int vm_argv_set_machine(struct vm_argv *a, const char *type);
/* The -cpu value CPU in place of the built one (a memory snapshot's: its saved state needs the CPU
 * it was saved with). -1 when A has no -cpu or CPU has other characters than [A-Za-z0-9._=,-]. */
int vm_argv_set_cpu(struct vm_argv *a, const char *cpu);
/* The value after option OPT ("-cpu") in A, or NULL. */
const char *vm_argv_get(const struct vm_argv *a, const char *opt);
/* The same in ARGV, a JSON array of strings (a started VM's argv, as kept in its runtime row); OPT
 * NULL: the program, argv[0]. NULL when there is none or it is not a string. */
const char *vm_argv_json_get(const json_t *argv, const char *opt);

/* Path helpers shared with the supervisor: DIR/run/qmp.sock, DIR/run/vnc.sock,
 * DIR/run/qemu.pid, DIR/logs/qemu.log, DIR/efivars.qcow2. */
void vm_paths_file(const struct vm_paths *p, const char *rel, char *out, size_t outlen);

#endif
