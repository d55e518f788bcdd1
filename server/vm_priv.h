/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_priv: the VM manager's own types, shared by vm.c (lifecycle, supervision)
 * and vm_snap.c (snapshots). Core loop thread only. Nothing else includes this.
 */
#ifndef QHM_VM_PRIV_H
#define QHM_VM_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "vm_config.h"

struct core_req;

enum vm_state { ST_STOPPED, ST_STARTING, ST_RUNNING, ST_PAUSED, ST_SHUTTING_DOWN, ST_CRASHED };
extern const char *const vm_state_names[];

struct waiter {
  struct core_req *r;
  struct waiter *next;
};

struct vm {
  struct vm_manager *m;
  struct vm_config cfg;
  int64_t created;
  enum vm_state state;
  char reason[256];
  /* The QEMU process, while there is one. */
  pid_t pid;
  bool is_child; /* started by this daemon: waitpid() gives its status */
  bool adopted;  /* reattached after a daemon restart */
  int pidfd;
  uv_poll_t *pidpoll;
  json_t *argv;
  struct qmp *qmp;
  bool qmp_ready;
  bool quit_requested, guest_shutdown;
  uv_timer_t *kill_timer, *shutdown_timer;
  struct waiter *start_waiters, *exit_waiters;
  json_t *forwards_active;
  unsigned shot_seq;
  json_t *last_exit; /* cache of store_exit_last(); valid when last_exit_known */
  bool last_exit_known;
  char *json_text; /* cache of vm_to_json() as compact text for listings; NULL when stale */
  size_t json_len;
  bool busy; /* a snapshot or disk operation runs (vm_snap.c, vm_disk.c): no start, delete or other one */
  struct vm *next;
};

struct vm_manager {
  struct core *c;
  struct vm *head;
};

#define VM_MAX_COUNT 200
/* Room for one more VM; else answers R 422 over_limit. */
bool vm_manager_room(struct vm_manager *m, struct core_req *r);
struct vm *vm_find(struct vm_manager *m, const char *id);
struct vm *vm_find_name(struct vm_manager *m, const char *name, const struct vm *except);
/* A VM not yet in the manager (a create or clone in progress), and its disposal. */
struct vm *vm_alloc(struct vm_manager *m);
void vm_release(struct vm *v);
/* Insert V (its files made) into the database and the manager, stopped, and answer 201 with it:
 * 0. Otherwise the HTTP status (409: the name is taken, 500), nothing answered and V still the
 * caller's: remove what was made, then answer with vm_register_failed(). */
int vm_register(struct vm_manager *m, struct vm *v, struct core_req *r);
void vm_register_failed(struct core_req *r, int status);
/* DATA/vms/ID/REL */
void vm_path(const struct vm *v, const char *rel, char *out, size_t outlen);
void reply_vm(struct core_req *r, int status, struct vm *v);
/* False, with 400 "KEY: unknown field" answered, when BODY has a key not in ALLOWED (NULL-ended). */
bool vm_body_keys(struct core_req *r, json_t *body, const char *const *allowed);
/* Anything the VM's JSON shows changed (drops the cached listing text). */
void vm_dirty(struct vm *v);
/* A query-status answer: the state QEMU is really in. */
void vm_apply_status(struct vm *v, json_t *ret);
/* chardev-change arguments for the clipboard's chardev (vdagent0): the qemu-vdagent one (ON) or a
 * null one. Pause swaps in the null one and resume the real one (vm.c); savevm needs it gone. */
json_t *vm_clipboard_backend(bool on);
/* Start V as POST start does; LOADVM non-NULL: from that snapshot (-loadvm). */
void vm_start_from(struct vm *v, struct core_req *r, const char *loadvm);

#endif
