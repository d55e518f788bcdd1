/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_qemu_args: see vm_qemu_args.h. The extra arguments are read the way QEMU's own option
 * parser reads its argv (softmmu/vl.c): an argument that starts with '-' (or "--") is an option,
 * and the table below says whether the next argument is its value; anything else would be a disk
 * image (QEMU's -hda shorthand) and is refused.
 *
 * What is refused and why, in three groups:
 *  - what would take control away from the daemon: its monitors and their sockets (-qmp, -mon,
 *    -monitor, -chardev), its process and lifecycle (-daemonize, -pidfile, -S, -incoming,
 *    -loadvm, -no-shutdown, -action, -preconfig), its identity and console (-name, -uuid,
 *    -vnc, -display, -spice, ...), the machine and accelerator it picks (-machine, -accel,
 *    -enable-kvm), the memory and CPU counts it checks against the host (-m, -smp), and -set,
 *    which can rewrite any of them;
 *  - what would weaken the sandbox: -sandbox, -runas, -run-with, -chroot, -plugin, -gdb, -s;
 *  - what reads or writes host files or devices, or listens on the network, outside the
 *    confined paths the config's own fields go through (server/core/paths.c): drives and their
 *    shorthands (-drive, -blockdev, -cdrom, -hda, ...: the block layer has too many spellings of a
 *    file name — file=, file.filename=, json:{...}, backing files, nbd:/http: — to confine by
 *    parsing; use "disks" and "cdrom"), networks (-netdev user,hostfwd= binds every interface;
 *    use "network"), -fsdev/-virtfs (use "shared_folders"), -kernel/-initrd/-bios/-L/-pflash, logs
 *    (-D, -d, -trace, -writeconfig/-readconfig), -serial/-parallel/-debugcon (they open host
 *    files, pipes and sockets), -add-fd, -mem-path, -semihosting, -tpmdev, -audiodev (its wav
 *    driver writes a file), and in any allowed option's value the keys that name a host file
 *    (file=, path=, romfile=, splash=, ...); -k only a keymap's name (QEMU opens a value that is a
 *    readable path as is). -object only for types that touch no host file and take no size
 *    (memory-backend-ram,size=,prealloc=on would get round the memory limit).
 *
 * -chardev is refused whole, not only for the daemon's ids (charmonitor, vdagent0, qga0,
 * chrtpm): every chardev backend opens something on the host (a file, a pipe, a TCP or unix
 * socket, a tty, stdio), and chardev= in a -device may only name chardevs, which are the daemon's.
 */
#include "vm_qemu_args.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "utf8.h"

enum policy {
  ALLOW,  /* allowed; a value is read as QemuOpts whose keys are checked (help, bad_keys) */
  DEVICE, /* -device: ALLOW, and the device type is checked (bad_device, check_devices) */
  OBJECT, /* -object: ALLOW, and the type is one of safe_objects */
  GLOBAL, /* -global: ALLOW, and the property named is checked */
  KEYMAP, /* -k: a keymap's name (QEMU would open a value that is a readable path as is) */
  REFUSE, /* never; WHY says why */
};

struct option {
  const char *name; /* without the leading '-' */
  bool value;       /* the next argument is its value */
  enum policy policy;
  const char *why; /* REFUSE: the reason shown */
};

#define CTRL "the daemon owns it"
#define HOSTFILE "it reads or writes host files outside the allowed roots"

/* Every option of QEMU 7.2..10's qemu-options.hx (value: HAS_ARG there). Sorted by name. */
static const struct option options[] = {
    {"M", true, REFUSE, "the daemon picks the machine type and accelerator"},
    {"L", true, REFUSE, "QEMU's data directories are the daemon's (" HOSTFILE ")"},
    {"S", false, REFUSE, "the daemon starts the vCPUs itself"},
    {"accel", true, REFUSE, "the daemon decides KVM or TCG"},
    {"acpitable", true, REFUSE, HOSTFILE},
    {"action", true, REFUSE, "the daemon expects QEMU to exit when the guest powers off"},
    {"add-fd", true, REFUSE, "file descriptors are the daemon's"},
    {"alt-grab", false, ALLOW, NULL},
    {"append", true, REFUSE, "use kernel_boot.cmdline"},
    {"async-teardown", false, ALLOW, NULL},
    {"audio", true, REFUSE, "its wav driver writes host files"},
    {"audiodev", true, REFUSE, "its wav driver writes host files"},
    {"bios", true, REFUSE, "the firmware is the daemon's (" HOSTFILE ")"},
    {"blockdev", true, REFUSE, "use disks and cdrom (" HOSTFILE ")"},
    {"boot", true, ALLOW, NULL},
    {"cdrom", true, REFUSE, "use cdrom (" HOSTFILE ")"},
    {"chardev", true, REFUSE,
     "every chardev backend opens a host file, pipe, socket or tty, and the daemon's ids (charmonitor, "
     "vdagent0, qga0, chrtpm) are taken"},
    {"chroot", true, REFUSE, "the sandbox is the daemon's"},
    {"compat", true, ALLOW, NULL},
    {"cpu", true, ALLOW, NULL},
    {"ctrl-grab", false, ALLOW, NULL},
    {"curses", false, REFUSE, "the display is the daemon's VNC socket"},
    {"d", true, REFUSE, "QEMU's logs are the daemon's"},
    {"D", true, REFUSE, "QEMU's logs are the daemon's (" HOSTFILE ")"},
    {"daemonize", false, REFUSE, "the daemon supervises the QEMU process"},
    {"debugcon", true, REFUSE, "it opens host files, pipes or sockets"},
    {"device", true, DEVICE, NULL},
    {"dfilter", true, REFUSE, "QEMU's logs are the daemon's"},
    {"display", true, REFUSE, "the display is the daemon's VNC socket"},
    {"drive", true, REFUSE, "use disks and cdrom (" HOSTFILE ")"},
    {"dtb", true, REFUSE, HOSTFILE},
    {"dump-vmstate", true, REFUSE, HOSTFILE},
    {"echr", true, ALLOW, NULL},
    {"enable-kvm", false, REFUSE, "the daemon decides KVM or TCG"},
    {"enable-sync-profile", false, ALLOW, NULL},
    {"fda", true, REFUSE, "use disks (" HOSTFILE ")"},
    {"fdb", true, REFUSE, "use disks (" HOSTFILE ")"},
    {"fsdev", true, REFUSE, "use shared_folders (" HOSTFILE ")"},
    {"full-screen", false, REFUSE, "the display is the daemon's VNC socket"},
    {"fw_cfg", true, ALLOW, NULL},
    {"g", true, ALLOW, NULL},
    {"gdb", true, REFUSE, "a debugger socket listens outside the daemon's control"},
    {"global", true, GLOBAL, NULL},
    {"h", false, REFUSE, "QEMU would print its help and exit"},
    {"hda", true, REFUSE, "use disks (" HOSTFILE ")"},
    {"hdb", true, REFUSE, "use disks (" HOSTFILE ")"},
    {"hdc", true, REFUSE, "use disks (" HOSTFILE ")"},
    {"hdd", true, REFUSE, "use disks (" HOSTFILE ")"},
    {"help", false, REFUSE, "QEMU would print its help and exit"},
    {"icount", true, ALLOW, NULL},
    {"incoming", true, REFUSE, "migration is the daemon's"},
    {"initrd", true, REFUSE, "use kernel_boot.initrd"},
    {"iscsi", true, REFUSE, "use disks"},
    {"k", true, KEYMAP, NULL},
    {"kernel", true, REFUSE, "use kernel_boot.kernel"},
    {"loadvm", true, REFUSE, "snapshots are restored through the API"},
    {"m", true, REFUSE, "use memory_mib (checked against the host's memory)"},
    {"machine", true, REFUSE, "the daemon picks the machine type and accelerator"},
    {"mem-path", true, REFUSE, HOSTFILE},
    {"mem-prealloc", false, ALLOW, NULL},
    {"mon", true, REFUSE, "the QMP monitor is the daemon's"},
    {"monitor", true, REFUSE, "the QMP monitor is the daemon's"},
    {"msg", true, ALLOW, NULL},
    {"mtdblock", true, REFUSE, "use disks (" HOSTFILE ")"},
    {"name", true, REFUSE, "use name (the daemon finds its QEMU by it)"},
    {"net", true, REFUSE, "use network (forwards listen on 127.0.0.1 only)"},
    {"netdev", true, REFUSE, "use network (forwards listen on 127.0.0.1 only)"},
    {"nic", true, REFUSE, "use network (forwards listen on 127.0.0.1 only)"},
    {"no-acpi", false, ALLOW, NULL},
    {"no-fd-bootchk", false, ALLOW, NULL},
    {"no-hpet", false, ALLOW, NULL},
    {"no-quit", false, ALLOW, NULL},
    {"no-reboot", false, ALLOW, NULL},
    {"no-shutdown", false, REFUSE, "the daemon expects QEMU to exit when the guest powers off"},
    {"no-user-config", false, ALLOW, NULL},
    {"nodefaults", false, ALLOW, NULL},
    {"nographic", false, REFUSE, "the display is the daemon's VNC socket"},
    {"numa", true, ALLOW, NULL},
    {"object", true, OBJECT, NULL},
    {"only-migratable", false, ALLOW, NULL},
    {"option-rom", true, REFUSE, HOSTFILE},
    {"overcommit", true, ALLOW, NULL},
    {"parallel", true, REFUSE, "it opens host files, pipes or sockets"},
    {"pflash", true, REFUSE, "the firmware is the daemon's (" HOSTFILE ")"},
    {"pidfile", true, REFUSE, "the daemon writes and reads the pidfile"},
    {"plugin", true, REFUSE, "it loads a host library into QEMU"},
    {"portrait", false, ALLOW, NULL},
    {"preconfig", false, REFUSE, "the daemon starts the machine itself"},
    {"prom-env", true, ALLOW, NULL},
    {"qmp", true, REFUSE, "the QMP monitor is the daemon's"},
    {"qmp-pretty", true, REFUSE, "the QMP monitor is the daemon's"},
    {"readconfig", true, REFUSE, "a config file could set anything (" HOSTFILE ")"},
    {"rotate", true, ALLOW, NULL},
    {"rtc", true, ALLOW, NULL},
    {"run-with", true, REFUSE, "the sandbox and user are the daemon's"},
    {"runas", true, REFUSE, "the sandbox and user are the daemon's"},
    {"s", false, REFUSE, "a debugger socket listens outside the daemon's control"},
    {"sandbox", true, REFUSE, "the seccomp sandbox is the daemon's"},
    {"sd", true, REFUSE, "use disks (" HOSTFILE ")"},
    {"sdl", false, REFUSE, "the display is the daemon's VNC socket"},
    {"seed", true, ALLOW, NULL},
    {"semihosting", false, REFUSE, "the guest could open host files"},
    {"semihosting-config", true, REFUSE, "the guest could open host files"},
    {"serial", true, REFUSE, "it opens host files, pipes or sockets"},
    {"set", true, REFUSE, "it can rewrite any option, the daemon's too"},
    {"singlestep", false, ALLOW, NULL},
    {"smbios", true, ALLOW, NULL},
    {"smp", true, REFUSE, "use cpus (checked against the host's CPUs)"},
    {"snapshot", false, REFUSE, "it changes what the daemon's disks write to"},
    {"spice", true, REFUSE, "the display is the daemon's VNC socket"},
    {"tpmdev", true, REFUSE, "use tpm"},
    {"trace", true, REFUSE, "QEMU's logs are the daemon's (" HOSTFILE ")"},
    {"usb", false, ALLOW, NULL},
    {"usbdevice", true, REFUSE, "use -device (it can pass host USB devices through)"},
    {"uuid", true, REFUSE, "the VM's uuid is the daemon's"},
    {"version", false, REFUSE, "QEMU would print its version and exit"},
    {"vga", true, ALLOW, NULL},
    {"virtfs", true, REFUSE, "use shared_folders (" HOSTFILE ")"},
    {"vnc", true, REFUSE, "the display is the daemon's VNC socket"},
    {"watchdog-action", true, ALLOW, NULL},
    {"win2k-hack", false, ALLOW, NULL},
    {"writeconfig", true, REFUSE, HOSTFILE},
    {"xen-attach", false, REFUSE, "the daemon decides the accelerator"},
    {"xen-domid", true, REFUSE, "the daemon decides the accelerator"},
    {"xen-domid-restrict", false, REFUSE, "the daemon decides the accelerator"},
};

/* Keys that name a host file, directory, descriptor or chardev in any option's value. */
static const char *const bad_keys[] = {
    "file",     "filename", "path",       "romfile",    "splash",   "rrfile",   "mem-path", "dir",
    "fd",       "fds",      "script",     "downscript", "sock",     "data",     "logfile",  "chardev",
    "sysfsdev", "host",     "hostdevice", "hostbus",    "hostaddr", "hostport",
};

/* The ids vm_argv.c gives (disk0.., fs0.. by prefix): a second object with one is a failed start. */
static const char *const daemon_ids[] = {"cd0",       "cd1",     "cddrv", "charmonitor", "chrtpm",
                                         "monitor",   "net0",    "qga0",  "tpm0",        "vdagent0",
                                         "qhm-audio", "qhm-hda", "vser0", "xhci"};

/* ID is PREFIX followed by one or more digits. */
static bool numbered(const char *id, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(id, prefix, n) == 0 && id[n] && strspn(id + n, "0123456789") == strlen(id + n);
}

static bool daemon_id(const char *id) {
  for (size_t i = 0; i < sizeof(daemon_ids) / sizeof(daemon_ids[0]); i++)
    if (strcmp(id, daemon_ids[i]) == 0)
      return true;
  return numbered(id, "disk") || numbered(id, "fs");
}

/* Device types that reach host files or devices whatever their properties. */
static const struct {
  const char *prefix; /* a name that starts with it */
  const char *why;
} bad_devices[] = {
    {"loader", "it loads host files into guest memory"},
    {"usb-host", "host USB devices are not passed through"},
    {"vfio-", "host devices are not passed through"},
    {"vhost-", "vhost backends open host devices and sockets"},
    {"u2f-passthru", "host devices are not passed through"},
    {"ccid-card-passthru", "it needs a chardev"},
    {"ivshmem", "shared memory with the host"},
    {"vmcoreinfo", "host-side dump support"},
    {"pc-dimm", "needs a memory backend (use memory_mib)"},
    {"nvdimm", "needs a memory backend file"},
};

/* -object types that touch no host file, device or socket whatever their properties. */
static const char *const safe_objects[] = {
    "iothread", "rng-builtin", "throttle-group", "cryptodev-backend-builtin", "authz-simple", "can-bus",
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* A short, ASCII-only copy of S for messages. */
static void shown(const char *s, char out[48]) {
  size_t n = 0, len = strlen(s);
  for (size_t i = 0; i < len && n < 40; i++) {
    unsigned char ch = (unsigned char)s[i];
    out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  if (len > 40)
    n = (size_t)(memcpy(out + n, "...", 3), n + 3);
  out[n] = 0;
}

static const struct option *find_option(const char *arg) {
  const char *name = arg + 1 + (arg[1] == '-');
  for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
    if (strcmp(options[i].name, name) == 0)
      return &options[i];
  return NULL;
}

/* The I-th element of a QemuOpts string ("a=b,c,,d=e": ",," is a literal comma) into KEY (up to
 * '=' or the end) and whether it had '='. Returns where the next element starts, or NULL at
 * the end. */
static const char *next_elem(const char *s, char *key, size_t keylen, bool *has_eq) {
  size_t k = 0;
  bool in_val = false;
  *has_eq = false;
  for (;;) {
    if (*s == 0) {
      key[k] = 0;
      return s;
    }
    if (*s == ',') {
      if (s[1] == ',') {
        s += 2;
        if (!in_val && k + 1 < keylen)
          key[k++] = ',';
        continue;
      }
      key[k] = 0;
      return s + 1;
    }
    if (*s == '=' && !in_val) {
      in_val = true;
      *has_eq = true;
    } else if (!in_val && k + 1 < keylen) {
      key[k++] = *s;
    }
    s++;
  }
}

/* The value of key KEY in QemuOpts string S into OUT ("" when absent). */
static void opt_value(const char *s, const char *key, char *out, size_t outlen) {
  size_t kl = strlen(key);
  out[0] = 0;
  for (const char *p = s; *p;) {
    const char *start = p;
    char k[64];
    bool eq;
    p = next_elem(p, k, sizeof(k), &eq);
    if (!eq || strcmp(k, key) != 0)
      continue;
    const char *v = start + kl + 1;
    size_t n = 0;
    while (*v && n + 1 < outlen) {
      if (*v == ',') {
        if (v[1] != ',')
          break;
        v++;
      }
      out[n++] = *v++;
    }
    out[n] = 0;
    return;
  }
}

/* The first element of S (the implied key's value: a device or object type) into OUT. */
static void first_elem(const char *s, char *out, size_t outlen) {
  bool eq;
  next_elem(s, out, outlen, &eq);
  if (eq)
    out[0] = 0;
}

/* Whether KEY (a QemuOpts key, maybe dotted "file.filename") is one of bad_keys. */
static bool is_bad_key(const char *key) {
  const char *last = strrchr(key, '.');
  const char *base = last ? last + 1 : key;
  for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++)
    if (strcmp(key, bad_keys[i]) == 0 || strcmp(base, bad_keys[i]) == 0)
      return true;
  return false;
}

/* Every key of VAL: help is refused (QEMU would exit), and so are bad_keys. SKIP_FIRST: the
 * first element without '=' is a type (-device, -object). */
static int check_keys(const char *opt, const char *val, size_t idx, char *err, size_t errlen) {
  char key[64], sk[48];
  bool eq;
  if (val[0] == '{')
    return fail(err, errlen, "qemu_args[%zu]: %s: the JSON form is not accepted; use key=value,...", idx,
                opt);
  for (const char *p = val; *p;) {
    p = next_elem(p, key, sizeof(key), &eq);
    shown(key, sk);
    if (strcmp(key, "help") == 0 || strcmp(key, "?") == 0)
      return fail(err, errlen, "qemu_args[%zu]: %s: 'help' is not allowed: QEMU would print it and exit", idx,
                  opt);
    if (eq && strcmp(key, "id") == 0) {
      char id[64];
      opt_value(val, "id", id, sizeof(id));
      if (daemon_id(id)) {
        shown(id, sk);
        return fail(err, errlen, "qemu_args[%zu]: %s: id '%s' is the daemon's", idx, opt, sk);
      }
    }
    if (eq && is_bad_key(key))
      return fail(err, errlen,
                  "qemu_args[%zu]: %s: '%s=' is not allowed: it names a host file, device or "
                  "the daemon's chardevs",
                  idx, opt, sk);
  }
  return 0;
}

static int check_device(const char *val, size_t idx, char *err, size_t errlen) {
  char type[128], sk[48];
  first_elem(val, type, sizeof(type));
  opt_value(val, "driver", sk, sizeof(sk));
  if (!type[0])
    snprintf(type, sizeof(type), "%s", sk);
  if (!type[0])
    return fail(err, errlen, "qemu_args[%zu]: -device: names no device type", idx);
  shown(type, sk);
  for (size_t i = 0; i < sizeof(bad_devices) / sizeof(bad_devices[0]); i++)
    if (strncmp(type, bad_devices[i].prefix, strlen(bad_devices[i].prefix)) == 0)
      return fail(err, errlen, "qemu_args[%zu]: -device %s is not allowed: %s", idx, sk, bad_devices[i].why);
  return 0;
}

static int check_object(const char *val, size_t idx, char *err, size_t errlen) {
  char type[128], sk[48];
  first_elem(val, type, sizeof(type));
  if (!type[0])
    opt_value(val, "qom-type", type, sizeof(type));
  shown(type, sk);
  for (size_t i = 0; i < sizeof(safe_objects) / sizeof(safe_objects[0]); i++)
    if (strcmp(type, safe_objects[i]) == 0)
      return 0;
  return fail(err, errlen,
              "qemu_args[%zu]: -object %s is not allowed: only types that touch no host file or socket "
              "(iothread, rng-builtin, throttle-group, cryptodev-backend-builtin, authz-simple, can-bus)",
              idx, sk[0] ? sk : "(no type)");
}

/* -global DRIVER.PROP=VALUE or driver=D,property=P,value=V: PROP may not be a bad key. */
static int check_global(const char *val, size_t idx, char *err, size_t errlen) {
  char prop[64], sk[48];
  opt_value(val, "property", prop, sizeof(prop));
  if (!prop[0]) {
    const char *dot = strchr(val, '.'), *eq = strchr(val, '=');
    if (!dot || !eq || eq < dot)
      return fail(err, errlen, "qemu_args[%zu]: -global: must be DRIVER.PROPERTY=VALUE", idx);
    snprintf(prop, sizeof(prop), "%.*s", (int)(eq - dot - 1), dot + 1);
  }
  shown(prop, sk);
  if (is_bad_key(prop))
    return fail(err, errlen,
                "qemu_args[%zu]: -global: property '%s' is not allowed: it names a host file, "
                "device or the daemon's chardevs",
                idx, sk);
  return 0;
}

int vm_qemu_args_check(const char *const *args, size_t n, char *err, size_t errlen) {
  char sk[48];
  for (size_t i = 0; i < n; i++) {
    const char *a = args[i];
    shown(a, sk);
    if (a[0] != '-' || a[1] == 0)
      return fail(err, errlen,
                  "qemu_args[%zu]: '%s' is not an option (QEMU would take it as a disk image; use disks)", i,
                  sk);
    const struct option *o = find_option(a);
    if (!o)
      return fail(err, errlen, "qemu_args[%zu]: unknown QEMU option '%s'", i, sk);
    if (o->policy == REFUSE)
      return fail(err, errlen, "qemu_args[%zu]: -%s is not allowed: %s", i, o->name, o->why);
    if (!o->value)
      continue;
    if (i + 1 >= n)
      return fail(err, errlen, "qemu_args[%zu]: -%s needs a value (the next argument)", i, o->name);
    const char *v = args[++i];
    char opt[40];
    snprintf(opt, sizeof(opt), "-%s", o->name);
    if (strcmp(v, "help") == 0 || strcmp(v, "?") == 0)
      return fail(err, errlen, "qemu_args[%zu]: %s: 'help' is not allowed: QEMU would print it and exit", i,
                  opt);
    if (o->policy == KEYMAP) {
      if (strlen(v) > 16 || strspn(v, "abcdefghijklmnopqrstuvwxyz-_") != strlen(v))
        return fail(err, errlen, "qemu_args[%zu]: -k: a keymap's name (en-us, de, fr-ch, ...)", i);
      continue;
    }
    if (o->policy == GLOBAL && check_global(v, i, err, errlen) < 0)
      return -1;
    if (check_keys(opt, v, i, err, errlen) < 0)
      return -1;
    if (o->policy == DEVICE && check_device(v, i, err, errlen) < 0)
      return -1;
    if (o->policy == OBJECT && check_object(v, i, err, errlen) < 0)
      return -1;
  }
  return 0;
}

/* Levenshtein distance of A and B, capped: enough for "did you mean". */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63)
    return 99;
  size_t row[64];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t prev = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t cur = row[j];
      size_t best = prev + (a[i - 1] != b[j - 1]);
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      prev = cur;
    }
  }
  return row[lb];
}

int vm_qemu_args_check_devices(const char *const *args, size_t n, const char *const *names, size_t n_names,
                               const char *qemu_name, char *err, size_t errlen) {
  for (size_t i = 0; i + 1 < n; i++) {
    const struct option *o = args[i][0] == '-' ? find_option(args[i]) : NULL;
    if (!o || !o->value)
      continue;
    i++;
    if (o->policy != DEVICE)
      continue;
    char type[128], sk[48];
    first_elem(args[i], type, sizeof(type));
    if (!type[0])
      opt_value(args[i], "driver", type, sizeof(type));
    bool found = false;
    const char *near = NULL;
    size_t best = 4; /* at most 3 edits away */
    for (size_t k = 0; k < n_names && !found; k++) {
      found = strcmp(names[k], type) == 0;
      size_t d = found ? 0 : distance(type, names[k]);
      if (d < best)
        best = d, near = names[k];
    }
    if (found)
      continue;
    shown(type, sk);
    if (near)
      return fail(err, errlen, "qemu_args[%zu]: -device: %s has no device '%s' (did you mean '%s'?)", i,
                  qemu_name, sk, near);
    return fail(err, errlen, "qemu_args[%zu]: -device: %s has no device '%s'", i, qemu_name, sk);
  }
  return 0;
}

/* S (LEN bytes) is valid UTF-8 without control characters: 0, or -1 with the message for FIELD. */
static int text_ok(const char *s, size_t len, const char *field, char *err, size_t errlen) {
  if (strlen(s) != len)
    return fail(err, errlen, "%s: must not contain NUL bytes", field);
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
    if (k == 0)
      return fail(err, errlen, "%s: must be valid UTF-8", field);
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
      return fail(err, errlen, "%s: must not contain control characters", field);
    i += k;
  }
  return 0;
}

int vm_qemu_args_from_json(json_t *v, char *out, size_t *n, char *err, size_t errlen) {
  const char *ptr[VM_MAX_QEMU_ARGS];
  char *buf = xcalloc(1, VM_QEMU_ARGS_BYTES);
  size_t at = 0, i;
  json_t *e;
  int rc = -1;
  if (!json_is_array(v)) {
    fail(err, errlen, "qemu_args: must be an array of strings");
    goto out;
  }
  if (json_array_size(v) > VM_MAX_QEMU_ARGS) {
    fail(err, errlen, "qemu_args: at most %d arguments", VM_MAX_QEMU_ARGS);
    goto out;
  }
  json_array_foreach(v, i, e) {
    char field[32];
    snprintf(field, sizeof(field), "qemu_args[%zu]", i);
    if (!json_is_string(e)) {
      fail(err, errlen, "%s: must be a string", field);
      goto out;
    }
    size_t len = json_string_length(e);
    if (len == 0) {
      fail(err, errlen, "%s: must not be empty", field);
      goto out;
    }
    if (text_ok(json_string_value(e), len, field, err, errlen) < 0)
      goto out;
    if (len > VM_QEMU_ARG_MAX) {
      fail(err, errlen, "%s: must be at most %d bytes", field, VM_QEMU_ARG_MAX);
      goto out;
    }
    if (len + 1 > VM_QEMU_ARGS_BYTES - at) {
      fail(err, errlen, "qemu_args: at most %d bytes in all", VM_QEMU_ARGS_BYTES);
      goto out;
    }
    memcpy(buf + at, json_string_value(e), len + 1);
    ptr[i] = buf + at;
    at += len + 1;
  }
  if (vm_qemu_args_check(ptr, json_array_size(v), err, errlen) < 0)
    goto out;
  memcpy(out, buf, VM_QEMU_ARGS_BYTES);
  *n = json_array_size(v);
  rc = 0;
out:
  free(buf);
  return rc;
}
