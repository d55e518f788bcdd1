/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm: the VM manager — every VM's config, state and QEMU process. Creates
 * and deletes VMs (directory, disks, DB row as one transaction), starts QEMU
 * in its own session, watches it through a pidfd and its QMP socket, turns
 * QMP events and the process's exit into the VM state, and reattaches to
 * running QEMUs when the daemon restarts. Core loop thread only; the
 * vm_req_* functions answer the request they are given, now or later.
 */
#ifndef QHM_VM_H
#define QHM_VM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core;
struct core_req;
struct vm_manager;

struct vm_manager *vm_manager_new(struct core *c);

/*
 * What the layers above vm/ do for it: the console bridges (vnc-ws, rdp-ws) and the WebSocket
 * listener. The daemon's wiring (core.c) sets them; vm/ never includes those headers. Until set
 * (unit tests), no consoles are closed and console tickets are refused (no WebSocket server).
 */
enum { VM_CONSOLE_VNC = 1u << 0, VM_CONSOLE_RDP = 1u << 1, VM_CONSOLE_SERIAL = 1u << 2 };
struct vm_console_hooks {
  /* End VM_ID's open console sessions of KINDS (VM_CONSOLE_* bits), telling them WHY. */
  void (*close_consoles)(void *ud, const char *vm_id, unsigned kinds, const char *why);
  /* The base URL of the WebSocket listener (LAN: the LAN one when it runs); NULL when none runs. */
  const char *(*ws_url)(void *ud, bool lan);
  /* LEN bytes VM_ID's guest wrote to its serial port (vm_serial.c), for the serial consoles. */
  void (*serial_output)(void *ud, const char *vm_id, const char *data, size_t len);
  void *ud;
};
void vm_manager_set_console_hooks(struct vm_manager *m, const struct vm_console_hooks *h);
/* Load VMs from the store and reattach to QEMUs that still run. */
int vm_manager_load(struct vm_manager *m, char *err, size_t errlen);
/* Start every VM with autostart that is not running (after vm_manager_load: reattached VMs run). */
void vm_manager_autostart(struct vm_manager *m);
/* Detach from every QEMU (they keep running) and free. Pending requests get 503. */
void vm_manager_free(struct vm_manager *m);
uint64_t vm_manager_committed_mib(struct vm_manager *m);
/* How many VMs run a QEMU of theirs: starting, running, paused or shutting down (not stopped,
 * crashed, or orphaned: a process the daemon did not adopt). */
unsigned vm_manager_running_count(struct vm_manager *m);

void vm_req_list(struct vm_manager *m, struct core_req *r);
/* DRY_RUN: validate everything a create checks and answer {"dry_run", "config", "argv"} (the
 * QEMU command line the VM would run, under a placeholder directory) without creating anything. */
void vm_req_create(struct vm_manager *m, struct core_req *r, json_t *body, bool dry_run);
void vm_req_get(struct vm_manager *m, struct core_req *r, const char *id);
/* DRY_RUN: check BODY as a patch would (the VM may be running) and answer {"dry_run", "config",
 * "argv", "accelerator"} with the command line the patched VM would start with; nothing saved. */
void vm_req_patch(struct vm_manager *m, struct core_req *r, const char *id, json_t *body, bool dry_run);
void vm_req_delete(struct vm_manager *m, struct core_req *r, const char *id, bool keep_disks);
/* ACTION: start, pause, resume, shutdown, kill, reset. */
void vm_req_action(struct vm_manager *m, struct core_req *r, const char *id, const char *action);
/* POST kill: QMP quit, SIGKILL after 3 s. BODY (NULL: none) may hold {"orphan_pid": PID}, the
 * confirmation an orphaned VM needs (vm_orphan.h). */
void vm_req_kill(struct vm_manager *m, struct core_req *r, const char *id, json_t *body);
void vm_req_screenshot(struct vm_manager *m, struct core_req *r, const char *id);
void vm_req_log(struct vm_manager *m, struct core_req *r, const char *id, unsigned tail);
void vm_req_cmdline(struct vm_manager *m, struct core_req *r, const char *id);
/* POST /vms/{id}/console: a ticket for the data plane. */
void vm_req_console(struct vm_manager *m, struct core_req *r, const char *id, json_t *body);
/* VM ID's kept serial output (vm_serial.h), for a new viewer: malloc'ed, LEN bytes; NULL when
 * there is no such VM. */
char *vm_manager_serial_kept(struct vm_manager *m, const char *id, size_t *len);
/* LEN bytes to VM ID's serial port: 0, or -1 (no such VM, not running, socket full). */
int vm_manager_serial_write(struct vm_manager *m, const char *id, const char *data, size_t len);
/* The VNC socket of a VM whose QEMU runs; -1 with a message otherwise. */
int vm_manager_console_path(struct vm_manager *m, const char *id, char *path, size_t len, char *err,
                            size_t errlen);
struct vm_rdp;
/* Where the RDP console of VM ID connects (vm_config's rdp with the host and port filled in,
 * ignore_cert set for loopback targets without a pinned fingerprint); -1 with a message when
 * there is no target. */
int vm_manager_rdp_target(struct vm_manager *m, const char *id, struct vm_rdp *out, char *err, size_t errlen);
/* Whether a VM uses the file at PATH as its cdrom or a disk (the same path once resolved).
 * Writes "VM 'name' (cdrom)" into WHO. */
bool vm_manager_file_in_use(struct vm_manager *m, const char *path, char *who, size_t len);

#endif
