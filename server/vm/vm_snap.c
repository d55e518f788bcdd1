/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_snap: internal qcow2 snapshots of a VM. Core loop thread only.
 *
 * Running or paused VM: QEMU takes them (HMP savevm / loadvm / delvm through
 * QMP human-monitor-command): every writable disk plus the machine's memory
 * and device state, stored in the first qcow2 disk. Stopped VM: qemu-img
 * snapshot -c / -a / -d on each disk in turn, then on the UEFI variable store
 * (efivars.qcow2, as savevm does; see take_targets), journalled: a row in the
 * store (store_snap_journal_*) is synced before the first disk is touched and
 * removed after the last, and the next start finishes or undoes an operation
 * a killed daemon left (vm_sweep.c). The list is read from the disks themselves
 * (qemu-img info -U, which may run beside QEMU), so it is never out of step
 * with them. One operation per VM at a time (busy), and neither start nor
 * delete while one runs.
 */
#include "vm_snap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "crashpt.h"
#include "events.h"
#include "host.h"
#include "proc.h"
#include "qmp.h"
#include "store.h"
#include "utf8.h"
#include "util.h"
#include "vm_argv.h"
#include "vm_efivars.h"
#include "vm_priv.h"

#define SNAP_NAME_MAX 64
/* savevm, loadvm and delvm write or read the machine's memory and walk the disks' clusters:
 * minutes for a big machine, not forever (QEMU hung, or stopped). */
#define SNAP_QMP_TIMEOUT_MS (20 * 60 * 1000)

enum snap_op { OP_LIST, OP_CREATE, OP_RESTORE, OP_DELETE };

struct snap_ctx {
  struct vm *v;
  struct core_req *r;
  enum snap_op op;
  char name[SNAP_NAME_MAX + 1];
  size_t disk;                   /* next file for qemu-img (an index into paths) */
  size_t done;                   /* files already changed (create: to undo on failure) */
  char *paths[VM_MAX_DISKS + 1]; /* stopped VM: the disks, then efivars.qcow2 when it takes part */
  size_t n_paths;
  bool journalled; /* the journal row is written: removed at the end unless the files are left out of step */
  char *failure;   /* set when a step failed (create: while undoing) */
  int fail_status; /* its HTTP status: 409 when QEMU refused, 504 when it did not answer, else 500 */
  bool swapped;    /* savevm: the clipboard chardev was swapped for a null one */
  struct store_snap_machine rec; /* savevm: the machine type and -cpu QEMU runs, kept with it */
};

/* Letters, digits and . _ - + : @ (and any non-ASCII UTF-8), 1-64 bytes, not only digits, not
 * starting with '-': HMP reads the name as one word, and a number would be taken as an id. */
bool vm_snap_name_valid(const char *s) {
  size_t n = strlen(s);
  bool digits_only = true;
  if (n == 0 || n > SNAP_NAME_MAX || !utf8_valid(s, n))
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x80 && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                       strchr("._-+:@", *p)))
      return false;
    if (*p < '0' || *p > '9')
      digits_only = false;
  }
  /* not path segments, not taken for an option by qemu-img */
  return !digits_only && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && s[0] != '-';
}

static void ctx_free(struct snap_ctx *x) {
  if (x->op != OP_LIST)
    x->v->busy = false;
  for (size_t i = 0; i < x->n_paths; i++)
    free(x->paths[i]);
  free(x->failure);
  free(x);
}

static void changed(struct vm *v) {
  events_emit(v->m->c->events, json_pack("{s:s, s:s}", "type", "vm.snapshots", "vm", v->cfg.id));
}

/* One snapshot as the API shows it, from an entry of qemu-img info's "snapshots". */
static json_t *snap_json(json_t *e) {
  json_int_t vmsize = json_integer_value(json_object_get(e, "vm-state-size"));
  json_int_t clk_s = json_integer_value(json_object_get(e, "vm-clock-sec"));
  json_int_t clk_ns = json_integer_value(json_object_get(e, "vm-clock-nsec"));
  return json_pack("{s:s, s:I, s:b, s:I, s:I}", "name", json_string_value(json_object_get(e, "name")),
                   "created_at", json_integer_value(json_object_get(e, "date-sec")), "memory", vmsize > 0,
                   "memory_bytes", vmsize, "vm_clock_ms", clk_s * 1000 + clk_ns / 1000000);
}

/* ---- list: qemu-img info of the first disk, kept only where every disk has the name ---- */

struct list_ctx {
  struct vm *v;
  size_t disk;
  json_t *names;     /* name -> count of disks that have it */
  json_t *first;     /* the first disk's entries, in its order */
  bool with_efivars; /* also read efivars.qcow2's names (not listed: a stopped VM's operation needs them) */
  bool efi_read;     /* the step now reading is efivars.qcow2 */
  json_t *efi_names; /* name -> count on efivars.qcow2; NULL when it was not read (or is not there) */
  char *failure;
  void (*done)(struct list_ctx *l, void *ud);
  void *ud;
};

static void list_next(struct list_ctx *l);

json_t *vm_snap_name_counts(json_t *info) {
  json_t *out = json_object();
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(info, "snapshots"), i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    if (name)
      json_object_set_new(out, name, json_integer(json_integer_value(json_object_get(out, name)) + 1));
  }
  return out;
}

static void on_info(const struct proc_result *res, void *ud) {
  struct list_ctx *l = ud;
  json_t *info = res->exit_status == 0 ? json_loads(res->out, 0, NULL) : NULL;
  char efivars[4200];
  vm_path(l->v, VM_EFIVARS, efivars, sizeof(efivars));
  if (!info) {
    l->failure = xasprintf("cannot read the snapshots of %s: %s",
                           l->efi_read ? efivars : l->v->cfg.disks[l->disk].path,
                           res->exit_status == 0 ? "qemu-img printed no JSON" : res->err);
    l->done(l, l->ud);
    return;
  }
  if (l->efi_read) {
    l->efi_names = vm_snap_name_counts(info);
    json_decref(info);
    l->done(l, l->ud);
    return;
  }
  json_t *snaps = json_object_get(info, "snapshots");
  size_t i;
  json_t *e;
  json_array_foreach(snaps, i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!name)
      continue;
    json_t *cnt = json_object_get(l->names, name);
    /* a name twice on one disk counts once */
    if (!cnt || json_integer_value(cnt) == (json_int_t)l->disk)
      json_object_set_new(l->names, name, json_integer((json_int_t)l->disk + 1));
    if (l->disk == 0)
      json_array_append(l->first, e);
  }
  json_decref(info);
  l->disk++;
  list_next(l);
}

static void list_next(struct list_ctx *l) {
  char efivars[4200];
  const char *path = l->disk < l->v->cfg.n_disks ? l->v->cfg.disks[l->disk].path : NULL;
  if (!path && l->with_efivars) {
    vm_path(l->v, VM_EFIVARS, efivars, sizeof(efivars));
    if (access(efivars, F_OK) == 0) {
      path = efivars;
      l->efi_read = true;
    }
  }
  if (!path) {
    l->done(l, l->ud);
    return;
  }
  char *argv[] = {
      l->v->m->c->host.qemu_img, "info", "--output=json", "-U", "-f", "qcow2", (char *)path, NULL};
  proc_run(l->v->m->c->launcher, argv, on_info, l);
}

static void list_start(struct vm *v, bool with_efivars, void (*done)(struct list_ctx *, void *), void *ud) {
  struct list_ctx *l = xcalloc(1, sizeof(*l));
  l->v = v;
  l->with_efivars = with_efivars;
  l->names = json_object();
  l->first = json_array();
  l->done = done;
  l->ud = ud;
  list_next(l);
}

/* The snapshots on every disk, as API objects (new reference). */
static json_t *list_result(struct list_ctx *l) {
  json_t *out = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(l->first, i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    if (json_integer_value(json_object_get(l->names, name)) == (json_int_t)l->v->cfg.n_disks) {
      json_t *o = snap_json(e);
      struct store_snap_machine m;
      if (json_is_true(json_object_get(o, "memory")) &&
          store_snap_machine_get(l->v->m->c->store, l->v->cfg.id, name, &m) == STORE_OK) {
        json_object_set_new(o, "machine", json_string(m.machine));
        json_object_set_new(o, "cpu", json_string(m.cpu));
      }
      json_array_append_new(out, o);
      json_object_del(l->names, name); /* once */
    }
  }
  return out;
}

static void list_free(struct list_ctx *l) {
  json_decref(l->names);
  json_decref(l->first);
  json_decref(l->efi_names);
  free(l->failure);
  free(l);
}

static json_t *find(json_t *list, const char *name) {
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
      return e;
  }
  return NULL;
}

/* ---- qemu-img snapshot on each disk, for a stopped VM ---- */

static void img_next(struct snap_ctx *x);
static void finish(struct snap_ctx *x);
static void on_restored_status(struct qmp *q, json_t *ret, const char *err, void *ud);

static const char *vm_snap_op_name(enum snap_op op) {
  return op == OP_CREATE ? "take" : op == OP_RESTORE ? "restore" : "delete";
}

static void on_img(const struct proc_result *res, void *ud) {
  struct snap_ctx *x = ud;
  if (res->exit_status != 0) {
    if (!x->failure)
      x->failure = xasprintf("qemu-img snapshot on %s failed: %s", x->paths[x->disk],
                             res->err[0] ? res->err : "no message");
    if (x->op == OP_CREATE && x->done > 0) {
      /* undo: delete the snapshot from the disks that already have it, last first */
      x->op = OP_DELETE;
      x->disk = x->done - 1;
      x->done = 0;
      img_next(x);
      return;
    }
    finish(x);
    return;
  }
  crashpt(x->op == OP_CREATE    ? "snapshot_take:after_disk"
          : x->op == OP_RESTORE ? "snapshot_restore:after_disk"
                                : "snapshot_delete:after_disk");
  x->done++;
  if (x->failure) { /* undoing a failed create, backwards */
    if (x->disk == 0) {
      finish(x);
      return;
    }
    x->disk--;
  } else {
    x->disk++;
  }
  img_next(x);
}

/* qemu-img snapshot has no -f: the format is given with --image-opts (commas doubled) */
char *vm_snap_image_opts(const char *path) {
  char *opts = xmalloc(strlen(path) * 2 + 64), *o = opts;
  o += sprintf(o, "driver=qcow2,file.driver=file,file.filename=");
  for (const char *p = path; *p; p++) {
    if (*p == ',')
      *o++ = ',';
    *o++ = *p;
  }
  *o = 0;
  return opts;
}

static void img_next(struct snap_ctx *x) {
  struct vm *v = x->v;
  if (!x->failure && x->disk >= x->n_paths) {
    finish(x);
    return;
  }
  const char *flag = x->op == OP_CREATE ? "-c" : x->op == OP_RESTORE ? "-a" : "-d";
  char *opts = vm_snap_image_opts(x->paths[x->disk]);
  char *argv[] = {v->m->c->host.qemu_img, "snapshot", "--image-opts", (char *)flag, x->name, opts, NULL};
  proc_run(v->m->c->launcher, argv, on_img, x);
  free(opts);
}

/* ---- answers ---- */

static void on_relisted(struct list_ctx *l, void *ud) {
  struct snap_ctx *x = ud;
  json_t *all = l->failure ? NULL : list_result(l);
  json_t *s = all ? find(all, x->name) : NULL;
  if (s)
    core_req_reply_json(x->r, 201, json_incref(s));
  else
    core_req_reply_error(x->r, 500, "internal", "the snapshot was taken but is not listed: %s",
                         l->failure ? l->failure : "not on every disk");
  json_decref(all);
  list_free(l);
  changed(x->v);
  ctx_free(x);
}

/* The files are in step again (done, undone, or failed before a change; a failed undo or restore
 * leaves them as the message says, as before the journal): the row goes. A row that cannot go
 * would have the next start undo a snapshot answered 201 or apply a restore again over what the
 * VM wrote since: the VM is held (no start, no snapshot operation) until that start resolves it. */
static void journal_end(struct snap_ctx *x) {
  if (!x->journalled)
    return;
  x->journalled = false;
  if (store_snap_journal_end(x->v->m->c->store, x->v->cfg.id) == STORE_OK)
    return;
  snprintf(x->v->snap_pending, sizeof(x->v->snap_pending),
           "the snapshot journal (%s '%s') could not be cleared; the daemon's next start finishes it",
           vm_snap_op_name(x->op), x->name);
  log_err("vm %s: %s", x->v->cfg.id, x->v->snap_pending);
  if (x->v->state == ST_STOPPED || x->v->state == ST_CRASHED)
    vm_set_state(x->v, x->v->state, x->v->snap_pending);
}

static void finish(struct snap_ctx *x) {
  struct vm *v = x->v;
  journal_end(x);
  if (x->failure) {
    int status = x->fail_status ? x->fail_status : 500;
    const char *code = status == 504 ? "qemu_not_answering" : "snapshot_failed";
    if (status == 500 && strstr(x->failure, "No space left on device")) { /* a filesystem that filled */
      status = 507;
      code = "insufficient_storage";
    }
    core_req_reply_error(x->r, status, code, "%s", x->failure);
    ctx_free(x);
    return;
  }
  /* Which machine type a memory snapshot loads on; a name taken again or deleted has no old one. */
  if (x->op == OP_CREATE && x->rec.machine[0] && x->rec.cpu[0])
    store_snap_machine_put(v->m->c->store, v->cfg.id, x->name, &x->rec);
  else if (x->op != OP_RESTORE)
    store_snap_machine_delete(v->m->c->store, v->cfg.id, x->name);
  if (x->op == OP_CREATE) {
    list_start(v, false, on_relisted, x); /* answer with the snapshot as the disks have it */
    return;
  }
  if (x->op == OP_RESTORE && v->qmp_ready && (v->state == ST_RUNNING || v->state == ST_PAUSED)) {
    /* loadvm stops the machine and runs it again if it ran: answer with the state it is in now */
    qmp_command(v->qmp, "query-status", NULL, on_restored_status, x);
    return;
  }
  if (x->op == OP_RESTORE)
    reply_vm(x->r, 200, v);
  else
    core_req_reply_json(x->r, 200, json_pack("{s:s}", "deleted", x->name));
  changed(v);
  ctx_free(x);
}

static void on_restored_status(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct snap_ctx *x = ud;
  (void)q;
  if (!err)
    vm_apply_status(x->v, ret);
  reply_vm(x->r, 200, x->v);
  changed(x->v);
  ctx_free(x);
}

/* HMP through QMP: "" on success, else the monitor's message ("Error: ..."). */
static void on_hmp_result(struct snap_ctx *x, json_t *ret, const char *err) {
  const char *out = json_string_value(ret);
  if (err || !out) {
    x->failure = xasprintf("QEMU did not answer: %s", err ? err : "no text");
    if (x->v->qmp && qmp_stalled(x->v->qmp))
      x->fail_status = 504;
  } else if (out[0]) {
    char *msg = xstrdup(strncmp(out, "Error: ", 7) == 0 ? out + 7 : out);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
      msg[--n] = 0;
    x->failure = xasprintf("QEMU refused: %s", msg);
    x->fail_status = 409;
    free(msg);
  }
}

static void on_hmp(struct qmp *q, json_t *ret, const char *err, void *ud) {
  (void)q;
  on_hmp_result(ud, ret, err);
  finish(ud);
}

static void hmp(struct snap_ctx *x, const char *verb) {
  char *line = xasprintf("%s %s", verb, x->name);
  qmp_command_timeout(x->v->qmp, "human-monitor-command", json_pack("{s:s}", "command-line", line),
                      SNAP_QMP_TIMEOUT_MS, on_hmp, x);
  free(line);
}

/*
 * The clipboard's qemu-vdagent chardev blocks savevm ("doesn't yet support migration"). Its
 * virtserialport must stay (virtio-serial saves which ports exist, and a start with -loadvm has
 * it), so a running VM's chardev is swapped for a null one around savevm and back after, whatever
 * savevm answered. A paused VM's already is a null one (pause swaps it, vm_qmp.c), and its port
 * refuses the swap: savevm then goes on as is.
 */
static void on_vdagent_back(struct qmp *q, json_t *ret, const char *err, void *ud) {
  (void)q;
  (void)ret;
  if (err)
    log_warn("vm %s: the clipboard chardev did not come back after the snapshot: %s",
             ((struct snap_ctx *)ud)->v->cfg.id, err);
  finish(ud);
}

static void on_saved(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct snap_ctx *x = ud;
  on_hmp_result(x, ret, err);
  if (!x->swapped || err || !x->v->qmp_ready) { /* err: the QMP connection is gone */
    finish(x);
    return;
  }
  qmp_command(q, "chardev-change", vm_clipboard_backend(true), on_vdagent_back, x);
}

static void on_vdagent_off(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct snap_ctx *x = ud;
  (void)ret;
  x->swapped = !err; /* a paused VM's port refuses: its chardev is the null one already */
  char *line = xasprintf("savevm %s", x->name);
  qmp_command_timeout(q, "human-monitor-command", json_pack("{s:s}", "command-line", line),
                      SNAP_QMP_TIMEOUT_MS, on_saved, x);
  free(line);
}

/* QOM's "pc-q35-7.2-machine" -> "pc-q35-7.2" into OUT; "" when RET is not such a name. */
static void machine_type_of(json_t *ret, char *out, size_t outlen) {
  const char *t = json_string_value(ret);
  size_t n = t ? strlen(t) : 0;
  out[0] = 0;
  if (n > 8 && n - 8 < outlen && strcmp(t + n - 8, "-machine") == 0)
    snprintf(out, outlen, "%.*s", (int)(n - 8), t);
}

static void on_machine_type(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct snap_ctx *x = ud;
  if (!err)
    machine_type_of(ret, x->rec.machine, sizeof(x->rec.machine));
  /* the -cpu the running QEMU was started with (its argv, kept across a reattach) */
  snprintf(x->rec.cpu, sizeof(x->rec.cpu), "%s", vm_argv_json_get(x->v->argv, "-cpu") ?: "");
  qmp_command(q, "chardev-change", vm_clipboard_backend(false), on_vdagent_off, x);
}

static void savevm(struct snap_ctx *x) {
  qmp_command(x->v->qmp, "qom-get", json_pack("{s:s, s:s}", "path", "/machine", "property", "type"),
              on_machine_type, x);
}

/* loadvm into the running QEMU: only on the machine type and CPU the snapshot was saved with (QEMU
 * would refuse another machine's state, less clearly; another CPU's state it would load). */
static void on_running_type(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct snap_ctx *x = ud;
  (void)q;
  char running[64];
  struct store_snap_machine saved;
  machine_type_of(err ? NULL : ret, running, sizeof(running));
  const char *cpu = vm_argv_json_get(x->v->argv, "-cpu") ?: "";
  if (running[0] && store_snap_machine_get(x->v->m->c->store, x->v->cfg.id, x->name, &saved) == STORE_OK &&
      (strcmp(saved.machine, running) != 0 || strcmp(saved.cpu, cpu) != 0)) {
    core_req_reply_error(
        x->r, 409, "snapshot_incompatible",
        "'%s' was saved on machine type %s with -cpu %s and the VM runs %s with -cpu %s: stop "
        "the VM, then restore it (the VM then starts as it was saved)",
        x->name, saved.machine, saved.cpu, running, cpu);
    ctx_free(x);
    return;
  }
  hmp(x, "loadvm");
}

static void loadvm(struct snap_ctx *x) {
  qmp_command(x->v->qmp, "qom-get", json_pack("{s:s, s:s}", "path", "/machine", "property", "type"),
              on_running_type, x);
}

/*
 * A stopped VM: qemu-img on each disk, then on efivars.qcow2 when WITH_EFIVARS. A running VM's savevm
 * snapshots the UEFI variable store with the disks (pflash1 is a writable qcow2 drive) and loadvm
 * brings it back; a disk-only snapshot does the same, or a restore would leave the variables of
 * another moment with the disks (boot entries an installer added or that name a partition the
 * restored disk lacks, Secure Boot's db/dbx updates, MOK). Take: when the store exists (a VM that
 * never started with UEFI has none yet). Restore and delete: when the store has the snapshot; the
 * listing is the disks' alone, so snapshots from before the store took part are still theirs.
 * The journal row is synced before the first file is touched.
 */
static void disk_only(struct snap_ctx *x, bool with_efivars) {
  struct vm *v = x->v;
  for (size_t i = 0; i < v->cfg.n_disks; i++)
    x->paths[x->n_paths++] = xstrdup(v->cfg.disks[i].path);
  if (with_efivars) {
    char p[4200];
    vm_path(v, VM_EFIVARS, p, sizeof(p));
    x->paths[x->n_paths++] = xstrdup(p);
  }
  if (store_snap_journal_begin(v->m->c->store, v->cfg.id, vm_snap_op_name(x->op), x->name, now_unix()) !=
      STORE_OK) {
    core_req_reply_error(x->r, 500, "internal",
                         "snapshots: cannot write the snapshot journal to the database");
    ctx_free(x);
    return;
  }
  x->journalled = true;
  crashpt(x->op == OP_CREATE    ? "snapshot_take:after_journal"
          : x->op == OP_RESTORE ? "snapshot_restore:after_journal"
                                : "snapshot_delete:after_journal");
  x->disk = 0;
  img_next(x);
}

/* The listing before an operation tells whether the name exists and whether it holds memory. */
static void on_listed(struct list_ctx *l, void *ud) {
  struct snap_ctx *x = ud;
  struct vm *v = x->v;
  json_t *all = l->failure ? NULL : list_result(l);
  if (!all) {
    core_req_reply_error(x->r, 500, "internal", "%s", l->failure);
    list_free(l);
    ctx_free(x);
    return;
  }
  if (x->op == OP_LIST) {
    core_req_reply_json(x->r, 200, json_pack("{s:o}", "snapshots", all));
    list_free(l);
    ctx_free(x);
    return;
  }
  json_t *s = find(all, x->name);
  bool exists = s != NULL, memory = s && json_is_true(json_object_get(s, "memory"));
  bool efi_has = l->efi_names && json_integer_value(json_object_get(l->efi_names, x->name)) > 0;
  bool efi_there = l->efi_names != NULL;
  json_decref(all);
  list_free(l);
  bool live = v->state == ST_RUNNING || v->state == ST_PAUSED;
  bool stopped = v->state == ST_STOPPED || v->state == ST_CRASHED;
  if (!live && !stopped) { /* it changed while the list was read */
    core_req_reply_error(x->r, 409, "invalid_state", "the VM is %s", vm_state_names[v->state]);
    ctx_free(x);
    return;
  }
  if (x->op == OP_CREATE && exists) {
    core_req_reply_error(x->r, 409, "conflict", "name: a snapshot named '%s' exists", x->name);
    ctx_free(x);
    return;
  }
  if (x->op != OP_CREATE && !exists) {
    core_req_reply_error(x->r, 404, "not_found", "no snapshot named '%s' on every disk of this VM", x->name);
    ctx_free(x);
    return;
  }
  if (x->op == OP_RESTORE && live && !memory) {
    core_req_reply_error(x->r, 409, "invalid_state", "'%s' holds the disks only: stop the VM to restore it",
                         x->name);
    ctx_free(x);
    return;
  }
  if (x->op == OP_RESTORE && stopped && memory) {
    /* the saved moment, memory included: start QEMU from it; the start answers */
    struct core_req *r = x->r;
    char name[SNAP_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", x->name);
    ctx_free(x);
    vm_start_from(v, r, name);
    if (v->state == ST_STARTING)
      changed(v);
    return;
  }
  if (live) {
    if (x->op == OP_CREATE)
      savevm(x);
    else if (x->op == OP_RESTORE)
      loadvm(x);
    else
      hmp(x, "delvm");
  } else {
    disk_only(x, x->op == OP_CREATE ? efi_there : efi_has);
  }
}

void vm_snap_req(struct vm_manager *m, struct core_req *r, const char *id, const char *method,
                 const char *name, const char *action, json_t *body) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  enum snap_op op;
  if (!name && strcmp(method, "GET") == 0) {
    op = OP_LIST;
  } else if (!name && strcmp(method, "POST") == 0) {
    op = OP_CREATE;
    json_t *n = json_object_get(body, "name");
    if (!json_is_string(n)) {
      core_req_reply_error(r, 400, "invalid_field", "name: required, a string");
      return;
    }
    name = json_string_value(n);
  } else if (name && !action && strcmp(method, "DELETE") == 0) {
    op = OP_DELETE;
  } else if (name && action && strcmp(action, "restore") == 0 && strcmp(method, "POST") == 0) {
    op = OP_RESTORE;
  } else if (name && action && strcmp(action, "restore") != 0) {
    core_req_reply_error(r, 404, "not_found", "no such resource");
    return;
  } else {
    core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", method,
                         !name    ? "GET, POST"
                         : action ? "POST"
                                  : "DELETE");
    return;
  }
  if (name && !vm_snap_name_valid(name)) {
    core_req_reply_error(r, 400, "invalid_field",
                         "name: 1-%d bytes of letters, digits and . _ - + : @, not only digits",
                         SNAP_NAME_MAX);
    return;
  }
  if (op != OP_LIST) {
    bool ok = v->state == ST_STOPPED || v->state == ST_CRASHED ||
              ((v->state == ST_RUNNING || v->state == ST_PAUSED) && v->qmp_ready);
    if (!ok) {
      core_req_reply_error(r, 409, "invalid_state", "snapshots: the VM is %s", vm_state_names[v->state]);
      return;
    }
    if (v->busy) {
      core_req_reply_error(r, 409, "busy", "another snapshot or disk operation is running on this VM");
      return;
    }
    if (v->snap_pending[0]) {
      core_req_reply_error(r, 409, "invalid_state", "snapshots: %s", v->snap_pending);
      return;
    }
    char why[600];
    if ((v->state == ST_RUNNING || v->state == ST_PAUSED) && vm_not_answering(v, why, sizeof(why))) {
      core_req_reply_error(r, 504, "qemu_not_answering", "snapshots: %s; Force stop (POST kill) ends it",
                           why);
      return;
    }
    if (v->cfg.n_disks == 0) {
      core_req_reply_error(r, 409, "no_disk", "snapshots are kept in the VM's disks, and it has none");
      return;
    }
    if ((v->state == ST_RUNNING || v->state == ST_PAUSED) && op != OP_DELETE &&
        vm_config_has_virtiofs(&v->cfg)) {
      core_req_reply_error(r, 409, "unavailable",
                           "snapshots of a running VM hold its memory, which QEMU cannot save or load with "
                           "virtiofs shared folders (vhost-user-fs): stop the VM for a disk snapshot");
      return;
    }
    /* A snapshot grows the disks (savevm also stores the memory in the first one): refused at once
     * on a nearly full filesystem, as create and clone are, rather than failing halfway. */
    uint64_t want_mib = v->state == ST_STOPPED || v->state == ST_CRASHED ? 16 : v->cfg.memory_mib + 16;
    uint64_t free_mib = 0;
    if (op == OP_CREATE && !host_disk_fits(v->cfg.disks[0].path, want_mib, &free_mib)) {
      core_req_reply_error(
          r, 507, "insufficient_storage",
          "snapshots: about %llu MiB are needed but only %llu MiB are free (%d MiB are kept in reserve)",
          (unsigned long long)want_mib, (unsigned long long)free_mib, HOST_DISK_RESERVE_MIB);
      return;
    }
    v->busy = true;
  }
  struct snap_ctx *x = xcalloc(1, sizeof(*x));
  x->v = v;
  x->r = r;
  x->op = op;
  snprintf(x->name, sizeof(x->name), "%s", name ? name : "");
  if (v->cfg.n_disks == 0) { /* list only, see above */
    core_req_reply_json(r, 200, json_pack("{s:[]}", "snapshots"));
    ctx_free(x);
    return;
  }
  list_start(v, op != OP_LIST && (v->state == ST_STOPPED || v->state == ST_CRASHED), on_listed, x);
}
