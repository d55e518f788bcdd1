/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_priv: the VM manager's own types and the pieces its files share. Core loop thread only.
 * Included by the VM manager's files only: vm.c (manager, lookup, list/get, load, autostart),
 * vm_exit.c (process exit, exit records), vm_qmp.c (QMP session, control commands), vm_start.c
 * (start, swtpm, UEFI variables), vm_console.c (consoles, screenshot, log, cmdline), vm_crud.c
 * (create, patch, delete), vm_clone.c (clones), vm_snap.c (snapshots), vm_disk.c (disks), vm_agent.c (guest
 * agent), vm_orphan.c (orphaned VMs) and vm_sweep.c (start-up sweeps). Nothing else includes this.
 */
#ifndef QHM_VM_PRIV_H
#define QHM_VM_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "vm.h"
#include "vm_config.h"

struct core_req;

/* ST_ORPHANED: no QEMU of the daemon's, but a process it cannot prove to be this VM's holds the
 * VM's files (vm_orphan.h); counts as active (no start, delete or config change). */
enum vm_state { ST_STOPPED, ST_STARTING, ST_RUNNING, ST_PAUSED, ST_SHUTTING_DOWN, ST_CRASHED, ST_ORPHANED };
extern const char *const vm_state_names[];

struct waiter {
  struct core_req *r;
  struct waiter *next;
};

/* A virtiofs share's virtiofsd started by this daemon, watched until it ends (vm_virtiofs.c). */
struct vm_vfs {
  struct vm *v;
  struct launch_watch *watch; /* NULL: none watched */
  int pidfd;                  /* -1: none */
};

struct vm {
  struct vm_manager *m;
  struct vm_config cfg;
  int64_t created;
  enum vm_state state;
  char reason[512];
  /* The QEMU process, while there is one. */
  pid_t pid;
  uint64_t start_time; /* with the pid and the boot, which process it is (pident.h) */
  char *exe;           /* what runs: /proc/PID/exe once QMP answered (the ELF behind a wrapper) */
  bool is_child;       /* started by this daemon: waitpid() gives its status */
  bool adopted;        /* reattached after a daemon restart */
  bool confirmed;      /* an adopted QEMU said this VM's uuid over QMP */
  char fail_note[160]; /* why the daemon killed a QEMU that did not come up, for its exit reason */
  unsigned ready_deadline_ms;
  struct vm_vfs vfs[VM_MAX_SHARES]; /* its virtiofs shares' virtiofsd, by share index */
  pid_t tpm_pid; /* its swtpm when known (pidfile read at its start), with its start time */
  uint64_t tpm_start_time;
  int pidfd;
  struct launch_watch *watch; /* the process's exit (launch.h); NULL when none is watched */
  json_t *argv;
  struct qmp *qmp;
  bool qmp_ready;
  bool quit_requested, guest_shutdown;
  bool proc_stopped;  /* its process was last seen stopped (SIGSTOP, a debugger): the reason says so */
  char io_error[600]; /* why QEMU stopped the guest on a disk error (BLOCK_IO_ERROR), until it runs again */
  uv_timer_t *kill_timer, *shutdown_timer;
  uv_timer_t *ready_timer; /* QMP's greeting is due: a start fails, a reattach says it waits */
  struct waiter *start_waiters, *exit_waiters;
  json_t *forwards_active;
  unsigned shot_seq;
  json_t *last_exit; /* cache of store_exit_last(); valid when last_exit_known */
  bool last_exit_known;
  char *json_text; /* cache of vm_to_json() as compact text for listings; NULL when stale */
  size_t json_len;
  bool busy; /* a snapshot, disk, clone or export operation runs (vm_snap.c, vm_disk.c, vm_export.c): no
                start, delete or other one */
  /* A snapshot journal row (vm_snap.c) that the start-up could not resolve, or that could not be
   * cleared: why, shown as the reason; no start and no snapshot operation until a start resolves it. */
  char snap_pending[480];
  /* ST_ORPHANED (vm_orphan.c): what holds the files, why it is not adopted, kills in progress. */
  struct vm_orphan **orphans;
  size_t n_orphans;
  char orphan_why[200];
  char orphan_gone[300];
  bool orphan_killed;
  struct waiter *orphan_waiters;
  struct vm_serial *serial; /* its serial port's last output (vm_serial.c) */
  json_t *perf_applied;     /* vm_perf.c: what its performance mode did to the running QEMU */
  char perf_cgroup[320];    /* its cpu cgroup while QEMU is in one */
  struct vm *next;
};

struct vm_manager {
  struct core *c;
  struct vm *head;
  struct vm_console_hooks hooks; /* vm.h: set by the daemon's wiring */
};

/* SIGKILL this long after a quit (or SIGTERM) that QEMU did not follow. */
#define KILL_GRACE_MS 3000
/* A reattached QEMU that has not greeted over QMP this long is said to be waited for. */
#define REATTACH_NOTE_MS 10000
/* A state's bit in vm_require()'s mask. */
#define VM_IN(s) (1u << (s))

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
/* vm_register, with the keys of EXTRA (not taken) added to the answer (an import's report). */
int vm_register_with(struct vm_manager *m, struct vm *v, struct core_req *r, json_t *extra);
/* A new VM's identity (a fresh id and UUID, its creation time) and its directory DATA/vms/ID,
 * made empty (0700) at DIR: 0, or the errno of that mkdir (DIR holds its path). */
int vm_new_home(struct vm_manager *m, struct vm *v, char *dir, size_t dirlen);
/* The host-dependent checks of a create (QEMU there, memory and CPUs within the host's limits,
 * host paths inside the allowed roots, firmware, swtpm): 0, or -1 after answering R. */
int vm_check_host_limits(struct vm_manager *m, struct core_req *r, struct vm_config *cfg);
/* DATA/vms/ID/REL */
void vm_path(const struct vm *v, const char *rel, char *out, size_t outlen);
/* A unix socket listening at PATH (made anew, mode 0600): its descriptor, or -1 with ERR. */
int vm_unix_listen(const char *path, char *err, size_t errlen);
/* The same, and a socket already connected to it (the connection waits in the backlog until the
 * listener's owner, QEMU or a helper started later, accepts): 0, or -1 with ERR and nothing open. */
int vm_unix_pair(const char *path, int *listen_fd, int *conn_fd, char *err, size_t errlen);
void reply_vm(struct core_req *r, int status, struct vm *v);
json_t *vm_to_json(struct vm *v); /* the VM's API form (a new reference) */
/* Anything the VM's JSON shows changed (drops the cached listing text). */
void vm_dirty(struct vm *v);
/* A query-status answer: the state QEMU is really in. */
void vm_apply_status(struct vm *v, json_t *ret);
/* chardev-change arguments for the clipboard's chardev (vdagent0): the qemu-vdagent one (ON) or a
 * null one. Pause swaps in the null one and resume the real one (vm_qmp.c); savevm needs it gone. */
json_t *vm_clipboard_backend(bool on);
/* Start V as POST start does; LOADVM non-NULL: from that snapshot (-loadvm). */
void vm_start_from(struct vm *v, struct core_req *r, const char *loadvm);
/* Answer R for the QMP command WHAT that failed with ERR: 504 qemu_not_answering when QEMU did not
 * answer in time (qmp.h: stalled), with what its process is doing; else 500 internal. */
void vm_reply_qmp_error(struct vm *v, struct core_req *r, const char *what, const char *err);
/* QEMU cannot answer now: its QMP connection is stalled, or its process is stopped (SIGSTOP, a
 * debugger). WHY says so for an error message. */
bool vm_not_answering(struct vm *v, char *why, size_t len);

/* vm_snap.c, for vm_sweep.c's journal: */
/* The --image-opts string that opens the qcow2 file PATH for qemu-img snapshot (free it). */
char *vm_snap_image_opts(const char *path);
/* name -> how often it is on the image, from qemu-img info's JSON INFO (a new reference). */
json_t *vm_snap_name_counts(json_t *info);

/* vm.c: shared helpers. */
/* Has a QEMU (or is orphaned): not stopped, not crashed. */
bool vm_active(const struct vm *v);
/* The close_consoles hook (vm.h), when set. */
void vm_close_consoles(struct vm *v, unsigned kinds, const char *why);

/* vm_console.c: the argv CFG would start with (in DATA/vms/ID) as a JSON array; NULL with ERR. */
json_t *vm_argv_json(struct vm_manager *m, const struct vm_config *cfg, char *err, size_t errlen);

/* vm_exit.c: the process, its exit and the exit records. */
/* The last N lines of the VM's log: as text (one line each, "\n"-ended), or a JSON array. */
char *vm_log_tail_text(struct vm *v, size_t n);
json_t *vm_log_tail_json(struct vm *v, size_t n);
/* Watch PID, its pidfd FD (or one opened here: -1 when it cannot be), for its exit. */
/* Watch PID through FD, a pidfd of it (taken); OWN: a child of this daemon, whose status is
 * collected. */
void vm_watch_pidfd(struct vm *v, pid_t pid, int fd, bool own);
/* Stop watching the process (QMP, pidfd, timers), and forget which one it was. */
void vm_detach_process(struct vm *v);
void vm_forget_process(struct vm *v);
/* V has no QEMU the daemon can prove to be its own: orphaned when something holds its files, else
 * stopped (STOPPED_REASON, recorded as an exit; NULL when V had no QEMU). */
void vm_settle_unproven(struct vm *v, const char *why_not, const char *stopped_reason);
void vm_unproven_stopped(struct vm *v, const char *stopped_reason);

/* vm_qmp.c: the QMP session. */
void vm_connect_qmp(struct vm *v);
/* ready_timer's callback: no QMP greeting in time (a start fails, a reattach says it waits). */
void vm_on_ready_timer(uv_timer_t *t);
/* The reason says so while V's process is stopped (SIGSTOP, a debugger). */
void vm_note_process_state(struct vm *v);
/* V is in one of the states of MASK (VM_IN bits) and QEMU answers, or R is answered with why not. */
bool vm_require(struct vm *v, struct core_req *r, const char *action, unsigned mask);

/* vm_start.c */
/* Stop V's swtpm when one is left waiting (QEMU never connected to it). */
void vm_tpm_stop(struct vm *v);
/* The config's host paths (cdrom, kernel, initrd, shared folders) inside the allowed roots
 * (paths.h); RESOLVE: replaced by their resolved form. 0, or -1 with ERR. */
struct path_roots;
int vm_confine_paths(const struct path_roots *pr, struct vm_config *c, bool resolve, char *err,
                     size_t errlen);
/* The config's host files and folders exist and are of the right kind; false with ERR. */
bool vm_host_files_ok(const struct vm_config *c, char *err, size_t errlen);

/* Used by vm_orphan.c too: vm.c's, and vm_exit.c's vm_on_kill_timer. */
void vm_set_state(struct vm *v, enum vm_state s, const char *reason);
void vm_close_handle(void *h); /* uv_close + free */
void vm_park(struct waiter **list, struct core_req *r);
/* Answer every parked request: with the VM when ERRMSG is NULL, else with STATUS and CODE. */
void vm_answer_waiters(struct vm *v, struct waiter **list, int status, const char *code, const char *errmsg);
void vm_forget_last_exit(struct vm *v);
void vm_on_kill_timer(uv_timer_t *t);

/* vm_orphan.c (vm_orphan.h). V has no QEMU of its own: look for processes holding its files.
 * Left-over swtpm processes alone are stopped; anything else makes V orphaned (WHY_NOT: why the
 * daemon did not adopt it, for the reason). True when V is orphaned now. */
bool vm_orphans_check(struct vm *v, const char *why_not);
/* The same for N VMs with one pass over /proc (daemon start); ORPHANED[i] the answer for VS[i]. */
void vm_orphans_check_all(struct vm **vs, const char *const *why_not, size_t n, bool *orphaned);
/* POST kill of an orphaned VM with {"orphan_pid": PID} (JPID, NULL when absent): PID checked again
 * (still the process found, still holding the files), then it and the VM's swtpm processes get
 * SIGTERM (SIGKILL after 3 s); R is answered once they are gone. */
void vm_orphan_kill(struct vm *v, struct core_req *r, json_t *jpid);
/* 409 orphaned for ACTION ("start"), naming the pids. */
void vm_orphans_refuse(struct vm *v, struct core_req *r, const char *action);
void vm_orphans_on_kill_timer(struct vm *v);
json_t *vm_orphans_json(struct vm *v);
void vm_orphans_release(struct vm *v);

#endif
