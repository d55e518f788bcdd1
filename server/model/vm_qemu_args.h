/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_qemu_args: a VM's extra QEMU arguments ("qemu_args"), read as QEMU options and checked
 * against what the daemon must keep to itself. Pure: no I/O. Called by vm_config_parse.c when a
 * config is read (create, PATCH, stored rows), by vm_crud.c with the device names the arch's
 * QEMU reported (host_caps.c), and by the unit tests. Any thread.
 *
 * The table in vm_qemu_args.c says, for each option QEMU 7.2..10 knows, whether it takes a
 * value and whether it is allowed; an option not in the table is refused (we could not tell
 * where its value ends). docs/api.md lists the refused options and why.
 */
#ifndef QHM_VM_QEMU_ARGS_H
#define QHM_VM_QEMU_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define VM_MAX_QEMU_ARGS 64     /* arguments */
#define VM_QEMU_ARG_MAX 1024    /* bytes of one argument */
#define VM_QEMU_ARGS_BYTES 8192 /* all of them, a NUL after each */

/* The config field: V a JSON array of at most VM_MAX_QEMU_ARGS non-empty strings of valid UTF-8
 * without control characters, each at most VM_QEMU_ARG_MAX bytes and VM_QEMU_ARGS_BYTES in all
 * (a NUL each), that pass vm_qemu_args_check. 0: OUT (VM_QEMU_ARGS_BYTES, packed) and *N set;
 * -1 with ERR and OUT, *N untouched. */
int vm_qemu_args_from_json(json_t *v, char *out, size_t *n, char *err, size_t errlen);

/* ARGS[0..N) as QEMU options: each option known and allowed, its value present where it takes
 * one and free of what is refused (host files, the daemon's chardevs, help). -1 with a message
 * naming the argument ("qemu_args[2]: -qmp: ...") in ERR. */
int vm_qemu_args_check(const char *const *args, size_t n, char *err, size_t errlen);

/* Each "-device NAME,..." of ARGS (already passed vm_qemu_args_check) names one of NAMES[0..N_NAMES)
 * (the device types the guest arch's QEMU has). -1 with "qemu_args[I]: -device: QEMU ... has no
 * device 'X' (did you mean 'Y'?)" in ERR. QEMU_NAME names the binary in the message. */
int vm_qemu_args_check_devices(const char *const *args, size_t n, const char *const *names, size_t n_names,
                               const char *qemu_name, char *err, size_t errlen);

#endif
