/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm_serial: the VM's first serial port, its last output kept in a ring (vm_serial.c). */
#ifndef QHM_VM_SERIAL_H
#define QHM_VM_SERIAL_H

#include <stdbool.h>
#include <stddef.h>

struct vm;
struct vm_manager;
struct vm_serial;
struct core_req;

/* How much of a VM's serial output the daemon keeps (a few screenfuls). */
#define VM_SERIAL_RING (64u << 10)

struct vm_serial *vm_serial_new(void);
void vm_serial_free(struct vm_serial *s);
/* A new QEMU run of V: the ring is emptied, FD (connected to QEMU's serial socket before QEMU
 * runs: vm_unix_pair) read from now on. */
void vm_serial_begin(struct vm *v, int fd);
/* A QEMU the daemon reattached to: connect by the socket's path. */
void vm_serial_reattach(struct vm *v);
/* The QEMU run ended or the daemon lets go of it: what is in the socket goes to the ring, then
 * it is closed. The ring stays (the output before an exit) until the next run. */
void vm_serial_end(struct vm *v);
bool vm_serial_connected(const struct vm *v);
/* The last LINES lines of the ring (a last line without its newline counts), NUL-terminated
 * (the bytes may hold NULs: LEN is their count). Caller frees. */
char *vm_serial_tail(const struct vm *v, unsigned lines, size_t *len);
/* Send LEN bytes to the guest's serial port: 0, or -1 when not connected or the socket is full
 * (then nothing is sent). */
int vm_serial_write(struct vm *v, const char *data, size_t len);
/* GET /vms/{id}/serial?tail=N: the last N lines as text. */
void vm_req_serial(struct vm_manager *m, struct core_req *r, const char *id, unsigned tail);

#endif
