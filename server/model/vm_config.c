/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_config: see vm_config.h. The config's data: the names of its choices, the defaults per
 * architecture, and its JSON form (vm_config_to_json, vm_config_redact). Reading JSON into a
 * config, with every check, is vm_config_parse.c. Pure data, no I/O; safe to call from any
 * thread on distinct configs.
 */
#include "vm_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "vm_config_priv.h"

static const char *const arch_names[VM_ARCH__N] = {"x86_64", "i386", "aarch64"};
const char *const vm_perf_names[VM_PERF__N] = {"standard", "saver", "turbo"};

/* Indexed by vm_disk_if. */
const struct choice vm_cfg_disk_ifs[VM_CFG_N_DISK_IFS] = {
    {"virtio", ARCH_ALL}, {"nvme", ARCH_ALL}, {"ahci", ARCH_X86}, {"ide", ARCH_X86}, {"usb", ARCH_ALL},
};

/* Indexed by vm_boot_dev. */
const struct choice vm_cfg_boot_devs[VM_CFG_N_BOOT_DEVS] = {
    {"cdrom", ARCH_ALL}, {"disk", ARCH_ALL}, {"network", ARCH_ALL}};

const char *vm_arch_name(vm_arch a) {
  return (unsigned)a < VM_ARCH__N ? arch_names[a] : "unknown";
}

const char *vm_share_mode_name(enum vm_share_mode m) {
  return m == VM_SHARE_VIRTIOFS ? "virtiofs" : "9p";
}

bool vm_share_mode_parse(const char *s, enum vm_share_mode *out) {
  if (strcmp(s, "9p") == 0)
    *out = VM_SHARE_9P;
  else if (strcmp(s, "virtiofs") == 0)
    *out = VM_SHARE_VIRTIOFS;
  else
    return false;
  return true;
}

bool vm_config_has_virtiofs(const struct vm_config *c) {
  for (size_t i = 0; i < c->n_shares; i++)
    if (c->shares[i].mode == VM_SHARE_VIRTIOFS)
      return true;
  return false;
}

int vm_arch_parse(const char *s, vm_arch *out) {
  for (int a = 0; a < VM_ARCH__N; a++) {
    if (strcmp(s, arch_names[a]) == 0) {
      *out = (vm_arch)a;
      return 0;
    }
  }
  return -1;
}

void vm_config_defaults(struct vm_config *c, vm_arch arch) {
  static const vm_disk_if disk_if[VM_ARCH__N] = {VM_DISK_IF_AHCI, VM_DISK_IF_IDE, VM_DISK_IF_NVME};
  static const char *const display[VM_ARCH__N] = {"std", "std", "virtio-gpu"};
  static const char *const nic[VM_ARCH__N] = {"e1000e", "e1000", "virtio-net-pci"};
  if ((unsigned)arch >= VM_ARCH__N)
    arch = VM_ARCH_X86_64;
  memset(c, 0, sizeof(*c));
  c->arch = arch;
  c->memory_mib = 2048;
  c->cpus = 2;
  c->n_disks = 1;
  c->disks[0].size_gib = 32;
  c->disks[0].iface = disk_if[arch];
  c->n_boot = 2;
  c->boot[0] = VM_BOOT_CDROM;
  c->boot[1] = VM_BOOT_DISK;
  snprintf(c->display, sizeof(c->display), "%s", display[arch]);
  c->net_user = true;
  snprintf(c->nic, sizeof(c->nic), "%s", nic[arch]);
}

/* ---- output ---- */

static json_t *must(json_t *j) {
  if (!j)
    oom();
  return j;
}

/* A config built in C (not parsed) may hold a path that is not UTF-8; keep
 * its bytes so that vm_config_from_json reports it instead of aborting here. */
static json_t *jstr(const char *s) {
  json_t *j = json_string(s);
  return j ? j : json_stringn_nocheck(s, strlen(s));
}

static void put(json_t *obj, const char *key, json_t *v) {
  if (json_object_set_new(obj, key, must(v)) < 0)
    oom();
}

static void push(json_t *arr, json_t *v) {
  if (json_array_append_new(arr, must(v)) < 0)
    oom();
}

json_t *vm_config_to_json(const struct vm_config *c) {
  json_t *o = must(json_object());
  put(o, "id", jstr(c->id));
  put(o, "uuid", jstr(c->uuid));
  put(o, "name", jstr(c->name));
  put(o, "arch", json_string(vm_arch_name(c->arch)));
  put(o, "memory_mib", json_integer(c->memory_mib));
  put(o, "cpus", json_integer(c->cpus));
  json_t *disks = must(json_array());
  for (size_t i = 0; i < c->n_disks && i < VM_MAX_DISKS; i++) {
    const struct vm_disk *d = &c->disks[i];
    json_t *jd = must(json_object());
    put(jd, "path", jstr(d->path));
    put(jd, "size_gib", json_integer((json_int_t)d->size_gib));
    put(jd, "interface",
        json_string((unsigned)d->iface < N_ELEMS(vm_cfg_disk_ifs) ? vm_cfg_disk_ifs[d->iface].name
                                                                  : "unknown"));
    push(disks, jd);
  }
  put(o, "disks", disks);
  put(o, "cdrom", c->cdrom[0] ? jstr(c->cdrom) : json_null());
  if (c->drivers_iso[0]) /* absent when none: configs without it keep their stored form */
    put(o, "drivers_iso", jstr(c->drivers_iso));
  json_t *boot = must(json_array());
  for (size_t i = 0; i < c->n_boot && i < VM_MAX_BOOT; i++)
    push(boot,
         json_string((unsigned)c->boot[i] < N_ELEMS(vm_cfg_boot_devs) ? vm_cfg_boot_devs[c->boot[i]].name
                                                                      : "unknown"));
  put(o, "boot_order", boot);
  put(o, "display", jstr(c->display));
  json_t *net = must(json_object());
  put(net, "mode", json_string(c->net_user ? "user" : "none"));
  put(net, "nic", jstr(c->nic));
  json_t *fwd = must(json_array());
  for (size_t i = 0; i < c->n_forwards && i < VM_MAX_FORWARDS; i++) {
    const struct vm_forward *f = &c->forwards[i];
    push(fwd, json_pack("{s:s, s:i, s:i}", "proto", f->udp ? "udp" : "tcp", "host_port", (int)f->host_port,
                        "guest_port", (int)f->guest_port));
  }
  put(net, "forwards", fwd);
  put(o, "network", net);
  put(o, "rtc", json_string(c->rtc_localtime ? "localtime" : "utc"));
  if (c->n_shares) { /* absent when empty, as "rdp" and "kernel_boot" */
    json_t *a = must(json_array());
    for (size_t i = 0; i < c->n_shares && i < VM_MAX_SHARES; i++)
      push(a, json_pack("{s:o, s:s, s:b, s:s}", "path", jstr(c->shares[i].path), "tag", c->shares[i].tag,
                        "readonly", c->shares[i].readonly, "mode", vm_share_mode_name(c->shares[i].mode)));
    put(o, "shared_folders", a);
  }
  if (c->arch != VM_ARCH_AARCH64 && c->uefi) /* absent: SeaBIOS (aarch64 is UEFI only: no choice) */
    put(o, "firmware", json_string("uefi"));
  if (c->secure_boot)
    put(o, "secure_boot", json_true());
  if (c->tpm)
    put(o, "tpm", json_true());
  if (c->autostart)
    put(o, "autostart", json_true());
  if (c->guest_agent)
    put(o, "guest_agent", json_true());
  if (c->audio)
    put(o, "audio", json_true());
  if (c->guest_tools)
    put(o, "guest_tools", json_true());
  if (c->perf != VM_PERF_STANDARD) /* absent: standard */
    put(o, "performance", json_string(vm_perf_names[c->perf]));
  if (c->n_shortcuts) {
    json_t *a = must(json_array());
    for (size_t i = 0; i < c->n_shortcuts && i < VM_MAX_SHORTCUTS; i++)
      push(a, json_pack("{s:o, s:o, s:o, s:s}", "name", jstr(c->shortcuts[i].name), "program",
                        jstr(c->shortcuts[i].program), "args", jstr(c->shortcuts[i].args), "mode",
                        c->shortcuts[i].shell ? "shell" : "rail"));
    put(o, "shortcuts", a);
  }
  if (c->kboot.kernel[0])
    put(o, "kernel_boot",
        json_pack("{s:o, s:o, s:s}", "kernel", jstr(c->kboot.kernel), "initrd",
                  c->kboot.initrd[0] ? jstr(c->kboot.initrd) : json_null(), "cmdline", c->kboot.cmdline));
  if (c->n_qemu_args) { /* absent when empty */
    const char *args[VM_MAX_QEMU_ARGS];
    size_t n = vm_config_qemu_args(c, args);
    json_t *a = must(json_array());
    for (size_t i = 0; i < n; i++)
      push(a, jstr(args[i]));
    put(o, "qemu_args", a);
  }
  if (c->unattend.set) {
    const struct vm_unattend *u = &c->unattend;
    put(o, "unattend",
        json_pack("{s:o, s:o, s:s, s:s, s:s, s:s}", "user", jstr(u->user), "password", jstr(u->password),
                  "locale", u->locale, "timezone", u->timezone, "computer_name", u->computer_name,
                  "product_key", u->product_key));
  }
  if (c->rdp.set) { /* absent when unset: configs without it keep their stored form */
    const struct vm_rdp *r = &c->rdp;
    json_t *jr = must(json_object());
    put(jr, "host", jstr(r->host));
    put(jr, "port", json_integer(r->port));
    put(jr, "username", jstr(r->username));
    put(jr, "password", jstr(r->password));
    put(jr, "domain", jstr(r->domain));
    put(jr, "security", jstr(r->security));
    put(jr, "ignore_cert", json_boolean(r->ignore_cert));
    put(jr, "fingerprint", jstr(r->fingerprint));
    if (r->graphics[0]) /* absent when auto, as "remote_app" */
      put(jr, "graphics", jstr(r->graphics));
    if (r->remote_app[0]) /* absent when unset, as "rdp" itself */
      put(jr, "remote_app",
          json_pack("{s:s, s:s, s:s}", "program", r->remote_app, "args", r->remote_app_args, "mode",
                    r->remote_app_shell ? "shell" : "rail"));
    put(o, "rdp", jr);
  }
  return o;
}

size_t vm_config_qemu_args(const struct vm_config *c, const char *out[VM_MAX_QEMU_ARGS]) {
  size_t n = 0, at = 0;
  while (n < c->n_qemu_args && n < VM_MAX_QEMU_ARGS && at < sizeof(c->qemu_args)) {
    out[n++] = c->qemu_args + at;
    at += strnlen(c->qemu_args + at, sizeof(c->qemu_args) - at) + 1;
  }
  return n;
}

static void redact_password(json_t *r) {
  if (!json_is_object(r))
    return;
  json_t *pw = json_object_get(r, "password");
  bool set = json_is_string(pw) && json_string_length(pw) > 0;
  json_object_del(r, "password");
  put(r, "password_set", json_boolean(set));
}

void vm_config_redact(json_t *o) {
  redact_password(json_object_get(o, "rdp"));
  redact_password(json_object_get(o, "unattend"));
}
