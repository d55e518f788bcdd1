/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_argv: see vm_argv.h. A pure function from (config, host facts, VM
 * directory) to a QEMU argv, built in named steps (build()); called by
 * vm_start.c before forking QEMU, by vm_console.c (GET cmdline) and
 * vm_crud.c (a create's dry run), and by the golden tests. Any thread.
 *
 * The config is first passed through vm_config_to_json/vm_config_from_json,
 * so the argv is only ever built from a config that passes the same checks
 * as a stored row (identity, names, paths, per-arch device lists), whoever
 * filled the struct.
 *
 * Layout choices that the guest can see, and so must stay stable:
 *  - disks are drive ids disk0..disk3 in config order; the CD-ROM is cd0;
 *  - x86_64 (q35): ahci/ide disks take the built-in AHCI ports ide.0.. in
 *    order and the CD-ROM the next free port;
 *  - i386 (pc): the CD-ROM is always ide.1 unit 0 (the classic hdc), disks
 *    fill ide.0 unit 0, ide.0 unit 1, ide.1 unit 1;
 *  - aarch64 (virt) has no IDE/AHCI; its CD-ROM is a USB mass-storage device
 *    (a scsi-cd behind it, so media can be changed over QMP);
 *  - the answer CD or the guest tools CD is cd1 (one drive: with unattend the
 *    answer CD carries the tools): q35 the AHCI port after the CD-ROM, else USB;
 *  - the drivers CD (drivers_iso) is cddrv: q35 the AHCI port after the CD-ROM
 *    and cd1, pc the IDE slot after the disks', aarch64 USB;
 *  - the xHCI gets 8+8 ports: with QEMU's default 4 the fourth device lands
 *    behind an automatically added full-speed (12 Mb/s) hub;
 *  - the MAC is 52:54:00 plus the first six hex digits of the VM id, NVMe
 *    serials are the first eight hex digits plus the disk index;
 *  - boot order is bootindex=1.. on the devices named by boot_order (never
 *    -boot order=, which firmware ignores for most devices).
 * Values from users or paths inside QEMU option strings have ',' doubled
 * (QemuOpts escaping); plain arguments (-pidfile, -uuid) are passed as is.
 */
#include "vm_argv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vm_tools.h"

struct builder {
  char **v;
  size_t n, cap;
  char **tmp; /* escaped strings, freed when the build ends */
  size_t ntmp, tmpcap;
};

static void push_owned(char ***v, size_t *n, size_t *cap, char *s) {
  if (*n + 2 > *cap) {
    *cap = *cap ? *cap * 2 : 64;
    *v = xrealloc(*v, *cap * sizeof(char *));
  }
  (*v)[(*n)++] = s;
  (*v)[*n] = NULL;
}

static void arg(struct builder *b, const char *s) {
  push_owned(&b->v, &b->n, &b->cap, xstrdup(s));
}

static void argf(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argf(struct builder *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = xvasprintf(fmt, ap);
  va_end(ap);
  push_owned(&b->v, &b->n, &b->cap, s);
}

/* S with every ',' doubled, for use inside a QEMU option string. Owned by B. */
static const char *esc(struct builder *b, const char *s) {
  size_t extra = 0;
  for (const char *p = s; *p; p++)
    extra += *p == ',';
  char *out = xmalloc(strlen(s) + extra + 1), *o = out;
  for (const char *p = s; *p; p++) {
    *o++ = *p;
    if (*p == ',')
      *o++ = ',';
  }
  *o = 0;
  push_owned(&b->tmp, &b->ntmp, &b->tmpcap, out);
  return out;
}

void vm_paths_file(const struct vm_paths *p, const char *rel, char *out, size_t outlen) {
  /* A cut-off path could name some other file: hand back "" instead. */
  if (fmt_path(out, outlen, "%s/%s", p->dir, rel) < 0 && outlen > 0)
    out[0] = 0;
}

void vm_argv_free(struct vm_argv *a) {
  if (!a)
    return;
  for (size_t i = 0; i < a->argc; i++)
    free(a->argv[i]);
  free(a->argv);
  a->argc = 0;
  a->argv = NULL;
}

const char *vm_argv_get(const struct vm_argv *a, const char *opt) {
  for (size_t i = 0; i + 1 < a->argc; i++)
    if (strcmp(a->argv[i], opt) == 0)
      return a->argv[i + 1];
  return NULL;
}

const char *vm_argv_json_get(const json_t *argv, const char *opt) {
  if (!opt)
    return json_string_value(json_array_get(argv, 0));
  for (size_t i = 0; i + 1 < json_array_size(argv); i++) {
    const char *s = json_string_value(json_array_get(argv, i));
    if (s && strcmp(s, opt) == 0)
      return json_string_value(json_array_get(argv, i + 1));
  }
  return NULL;
}

int vm_argv_set_cpu(struct vm_argv *a, const char *cpu) {
  size_t n = strlen(cpu);
  if (n == 0 || n > 127 ||
      strspn(cpu, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._=,-") != n)
    return -1;
  for (size_t i = 0; i + 1 < a->argc; i++) {
    if (strcmp(a->argv[i], "-cpu") != 0)
      continue;
    free(a->argv[i + 1]);
    a->argv[i + 1] = xstrdup(cpu);
    return 0;
  }
  return -1;
}

int vm_argv_set_machine(struct vm_argv *a, const char *type) {
  size_t n = strlen(type);
  if (n == 0 || n > 63 ||
      strspn(type, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
    return -1;
  for (size_t i = 0; i + 1 < a->argc; i++) {
    if (strcmp(a->argv[i], "-machine") != 0)
      continue;
    const char *opts = strchr(a->argv[i + 1], ',');
    char *v = xasprintf("%s%s", type, opts ? opts : "");
    free(a->argv[i + 1]);
    a->argv[i + 1] = v;
    return 0;
  }
  return -1;
}

static const char *const machine[VM_ARCH__N] = {"q35", "pc", "virt,gic-version=max"};

static const struct {
  const char *display, *device;
} display_devices[] = {
    {"std", "VGA"},           {"virtio-vga", "virtio-vga"},
    {"cirrus", "cirrus-vga"}, {"virtio-gpu", "virtio-gpu-pci"},
    {"ramfb", "ramfb"},
};

/* Whether PATH is one of H's passthrough roots or under one, by its text: a path with a "." or
 * ".." component never is. */
static bool share_passthrough(const struct vm_host *h, const char *path) {
  for (const char *p = path; *p; p++) {
    if (p[0] == '/' && p[1] == '.' && (p[2] == '/' || !p[2] || (p[2] == '.' && (p[3] == '/' || !p[3]))))
      return false;
  }
  for (const char *const *r = h->share_passthrough; r && *r; r++) {
    size_t n = strlen(*r);
    while (n > 1 && (*r)[n - 1] == '/')
      n--;
    if (n == 1 && (*r)[0] == '/')
      return true;
    if (n > 0 && strncmp(path, *r, n) == 0 && (path[n] == 0 || path[n] == '/'))
      return true;
  }
  return false;
}

/* ",bootindex=N" or "" when the device is not in the boot order. */
static const char *bootindex(char buf[24], int idx) {
  if (idx <= 0)
    return "";
  snprintf(buf, 24, ",bootindex=%d", idx);
  return buf;
}

/* What the steps of build() share: the config, the host, the VM's files, the boot order. */
struct build_ctx {
  struct builder *b;
  const struct vm_config *c;
  const struct vm_host *h;
  const char *arch;
  bool x86, pc;
  char vnc[4096], pid[4096], vars[4096], tpm_sock[4096], qga[4096], cd1[4096];
  const char *display_dev;
  int boot_cd, boot_disk, boot_nic; /* bootindex of each, 0: not in the boot order */
  size_t ide;                       /* IDE/AHCI ports the disks took: the CD-ROM takes the next */
};

/* What the host must have for this VM, its files' paths, its display device and boot order. */
static int prepare(struct build_ctx *x, const struct vm_paths *p, char *err, size_t errlen) {
  const struct vm_config *c = x->c;
  const struct vm_host *h = x->h;
  x->arch = vm_arch_name(c->arch);
  x->x86 = c->arch != VM_ARCH_AARCH64;
  x->pc = c->arch == VM_ARCH_I386;
  if (!h->qemu_binary[c->arch]) {
    snprintf(err, errlen, "no QEMU binary for %s guests (qemu-system-%s not found)", x->arch, x->arch);
    return -1;
  }
  if (!x->x86 && !h->aavmf_code) {
    snprintf(err, errlen, "no UEFI firmware for %s guests (AAVMF_CODE.fd not found)", x->arch);
    return -1;
  }
  if (x->x86 && c->uefi && !h->ovmf_dir) {
    snprintf(err, errlen, "firmware: no UEFI firmware for x86_64 guests (install the ovmf package)");
    return -1;
  }
  if (p->dir[0] != '/') {
    snprintf(err, errlen, "VM directory must be an absolute path");
    return -1;
  }
  vm_paths_file(p, "run/vnc.sock", x->vnc, sizeof(x->vnc));
  vm_paths_file(p, "run/qemu.pid", x->pid, sizeof(x->pid));
  vm_paths_file(p, VM_EFIVARS, x->vars, sizeof(x->vars));
  vm_paths_file(p, "run/swtpm.sock", x->tpm_sock, sizeof(x->tpm_sock));
  vm_paths_file(p, "run/qga.sock", x->qga, sizeof(x->qga));
  const char *cd1 = vm_cd1_iso(c); /* the answer or tools CD, or none */
  if (cd1)
    vm_paths_file(p, cd1, x->cd1, sizeof(x->cd1));
  if (!x->vnc[0] || !x->pid[0] || !x->vars[0] || !x->tpm_sock[0] || !x->qga[0] || (cd1 && !x->cd1[0])) {
    snprintf(err, errlen, "VM directory path too long");
    return -1;
  }
  for (size_t i = 0; i < sizeof(display_devices) / sizeof(display_devices[0]); i++) {
    if (strcmp(c->display, display_devices[i].display) == 0)
      x->display_dev = display_devices[i].device;
  }
  if (!x->display_dev) { /* unreachable after validation; keeps the table honest */
    snprintf(err, errlen, "display: no device for '%s'", c->display);
    return -1;
  }

  /* Boot order: bootindex 1.. on the devices that exist, in boot_order order. */
  int next = 1;
  for (size_t i = 0; i < c->n_boot; i++) {
    if (c->boot[i] == VM_BOOT_CDROM)
      x->boot_cd = next++;
    else if (c->boot[i] == VM_BOOT_DISK && c->n_disks > 0)
      x->boot_disk = next++;
    else if (c->boot[i] == VM_BOOT_NETWORK && c->net_user)
      x->boot_nic = next++;
  }
  return 0;
}

/* The binary, the guest's name and uuid, no defaults, and the sandbox. */
static void arg_identity(struct build_ctx *x) {
  struct builder *b = x->b;
  const struct vm_config *c = x->c;
  arg(b, x->h->qemu_binary[c->arch]);
  arg(b, "-name");
  argf(b, "guest=%s,debug-threads=on", esc(b, c->name));
  arg(b, "-uuid");
  arg(b, c->uuid);
  for (const char *const *d = x->h->data_dirs; d && *d; d++) {
    arg(b, "-L");
    arg(b, *d);
  }
  arg(b, "-no-user-config");
  arg(b, "-nodefaults");
  arg(b, "-msg");
  arg(b, "timestamp=on");
  /* seccomp: no obsolete syscalls, no setuid (the daemon dropped privileges before exec), no new
   * processes, no scheduler or CPU affinity changes. */
  if (x->h->no_sandbox[c->arch])
    return;
  arg(b, "-sandbox");
  arg(b, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
}

/* Machine, accelerator, CPU, memory, CPU count. */
static void arg_machine(struct build_ctx *x) {
  struct builder *b = x->b;
  const struct vm_config *c = x->c;
  /* virtiofs: virtiofsd reads and writes the guest's memory itself, so it must be shareable (a
   * memfd the vhost-user socket passes); one backend is the whole of the guest's RAM. */
  bool shared_mem = vm_config_has_virtiofs(c);
  if (shared_mem) {
    arg(b, "-object");
    argf(b, "memory-backend-memfd,id=" VM_SHARED_MEM_ID ",size=%uM,share=on", c->memory_mib);
  }
  arg(b, "-machine");
  /* secure_boot: the firmware's variables may only change in SMM: no guest can drop the keys */
  argf(b, "%s%s%s", machine[c->arch], c->secure_boot ? ",smm=on" : "",
       shared_mem ? ",memory-backend=" VM_SHARED_MEM_ID : "");
  arg(b, "-accel");
  /* saver: one host thread runs every vCPU (TCG); the rest of the modes is applied to the running
   * process (server/vm/vm_perf.c) */
  arg(b, x->h->kvm[c->arch] ? "kvm" : c->perf == VM_PERF_SAVER ? "tcg,thread=single" : "tcg,thread=multi");
  arg(b, "-cpu");
  arg(b, x->h->kvm[c->arch] ? "host" : c->arch == VM_ARCH_AARCH64 ? VM_CPU_AARCH64_TCG : "max");
  arg(b, "-m");
  argf(b, "%u", c->memory_mib);
  arg(b, "-smp");
  argf(b, "%u", c->cpus);
}

/* The UEFI firmware's code (its variable store comes after the disks: arg_efivars). */
static void arg_firmware(struct build_ctx *x) {
  struct builder *b = x->b;
  const struct vm_config *c = x->c;
  if (!x->x86) {
    arg(b, "-drive");
    argf(b, "if=pflash,format=raw,unit=0,file=%s,readonly=on", esc(b, x->h->aavmf_code));
  } else if (c->uefi) { /* OVMF (4 MiB); with Microsoft's keys enrolled for Secure Boot */
    if (c->secure_boot) {
      arg(b, "-global");
      arg(b, "driver=cfi.pflash01,property=secure,value=on");
    }
    arg(b, "-drive");
    argf(b, "if=pflash,format=raw,unit=0,file=%s/%s,readonly=on", esc(b, x->h->ovmf_dir),
         c->secure_boot ? VM_OVMF_CODE_SECURE : VM_OVMF_CODE);
  }
}

static void arg_tpm(struct build_ctx *x) {
  struct builder *b = x->b;
  if (!x->c->tpm)
    return;
  /* swtpm, started by the daemon before QEMU, listens there (vm_start.c) */
  arg(b, "-chardev");
  argf(b, "socket,id=chrtpm,path=%s", esc(b, x->tpm_sock));
  arg(b, "-tpmdev");
  arg(b, "emulator,id=tpm0,chardev=chrtpm");
  arg(b, "-device");
  arg(b, x->x86 ? "tpm-crb,tpmdev=tpm0" : "tpm-tis-device,tpmdev=tpm0");
}

/* What the daemon talks to (QMP on the inherited fd, the VNC socket, the pidfile), the clock, and
 * strict boot. */
static void arg_control(struct build_ctx *x) {
  struct builder *b = x->b;
  arg(b, "-chardev");
  argf(b, "socket,id=charmonitor,fd=%d,server=on,wait=off", VM_ARGV_QMP_FD);
  arg(b, "-mon");
  arg(b, "chardev=charmonitor,id=monitor,mode=control");
  /* The first serial port (x86: COM1; aarch64: the PL011) to the daemon (vm_serial.c). */
  arg(b, "-chardev");
  argf(b, "socket,id=serial0,fd=%d,server=on,wait=on", VM_ARGV_SERIAL_FD);
  arg(b, "-serial");
  arg(b, "chardev:serial0");
  arg(b, "-vnc");
  /* With a sound card the VNC server gets its audiodev: QEMU's VNC audio extension streams what
   * the guest plays to a client that asks (bridge/vnc-ws/vncaudio.c); no host sound is used. */
  argf(b, "unix:%s%s", esc(b, x->vnc), x->c->audio ? ",audiodev=qhm-audio" : "");
  arg(b, "-display");
  arg(b, "none");
  arg(b, "-pidfile");
  arg(b, x->pid);
  arg(b, "-rtc");
  arg(b, x->c->rtc_localtime ? "base=localtime" : "base=utc");
  /* Boot only what boot_order names (bootindex): no fall-through to the NIC's PXE ROM. */
  arg(b, "-boot");
  arg(b, "strict=on");
}

/* Display device, USB input, the clipboard's and the guest agent's virtio-serial ports. */
static void arg_devices(struct build_ctx *x) {
  struct builder *b = x->b;
  arg(b, "-device");
  arg(b, x->display_dev);
  arg(b, "-device");
  arg(b, "qemu-xhci,id=xhci,p2=8,p3=8");
  arg(b, "-device");
  arg(b, "usb-tablet,bus=xhci.0");
  if (!x->x86) { /* x86 machines have a PS/2 keyboard built in */
    arg(b, "-device");
    arg(b, "usb-kbd,bus=xhci.0");
  }
  /* Clipboard: QEMU's vdagent shares the VNC client's clipboard with a guest running spice-vdagent. */
  arg(b, "-device");
  arg(b, "virtio-serial-pci,id=vser0");
  arg(b, "-chardev");
  arg(b, "qemu-vdagent,id=vdagent0,clipboard=on");
  arg(b, "-device");
  arg(b, "virtserialport,bus=vser0.0,chardev=vdagent0,name=com.redhat.spice.0");
  if (x->c->audio) { /* x86: Intel HD Audio with a line-out/line-in codec; aarch64: USB audio */
    arg(b, "-audiodev");
    arg(b, "none,id=qhm-audio");
    arg(b, "-device");
    if (x->x86) {
      arg(b, "intel-hda,id=qhm-hda");
      arg(b, "-device");
      arg(b, "hda-duplex,bus=qhm-hda.0,audiodev=qhm-audio");
    } else {
      arg(b, "usb-audio,bus=xhci.0,audiodev=qhm-audio");
    }
  }
  if (x->c->guest_agent) { /* the QEMU guest agent's port; the daemon connects to it per query (vm_agent.c) */
    arg(b, "-chardev");
    argf(b, "socket,id=qga0,path=%s,server=on,wait=off", esc(b, x->qga));
    arg(b, "-device");
    arg(b, "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0");
  }
}

/* pc IDE slots for disks (then the drivers CD), leaving ide.1 unit 0 to the CD-ROM. */
static const struct { int bus, unit; } pc_slots[] = {{0, 0}, {0, 1}, {1, 1}};

static int arg_disks(struct build_ctx *x, char *err, size_t errlen) {
  struct builder *b = x->b;
  const struct vm_config *c = x->c;
  char bi[24];
  for (size_t i = 0; i < c->n_disks; i++) {
    const struct vm_disk *d = &c->disks[i];
    const char *boot = bootindex(bi, i == 0 ? x->boot_disk : 0);
    /* A full host filesystem pauses the VM (io-error; vm_qmp.c names the disk) instead of failing
     * the guest's write: freed space and a resume retry it. Read errors reach the guest. */
    arg(b, "-drive");
    argf(b,
         "file=%s,format=qcow2,if=none,id=disk%zu,discard=unmap,cache=writeback,werror=enospc,rerror=report",
         esc(b, d->path), i);
    arg(b, "-device");
    switch (d->iface) {
    case VM_DISK_IF_VIRTIO:
      argf(b, "virtio-blk-pci,drive=disk%zu%s", i, boot);
      break;
    case VM_DISK_IF_NVME:
      argf(b, "nvme,drive=disk%zu,serial=%.8s%zu%s", i, c->id, i, boot);
      break;
    case VM_DISK_IF_AHCI:
    case VM_DISK_IF_IDE:
      if (!x->x86 || (x->pc && x->ide >= sizeof(pc_slots) / sizeof(pc_slots[0]))) {
        /* unreachable after validation */
        snprintf(err, errlen, "disks[%zu].interface: no IDE slot on %s", i, x->arch);
        return -1;
      }
      if (x->pc)
        argf(b, "ide-hd,drive=disk%zu,bus=ide.%d,unit=%d%s", i, pc_slots[x->ide].bus, pc_slots[x->ide].unit,
             boot);
      else
        argf(b, "ide-hd,drive=disk%zu,bus=ide.%zu%s", i, x->ide, boot);
      x->ide++;
      break;
    case VM_DISK_IF_USB:
      argf(b, "usb-storage,drive=disk%zu,bus=xhci.0%s", i, boot);
      break;
    }
  }
  return 0;
}

/* The VM's UEFI variable store (vm_efivars.h): qcow2, so that savevm snapshots it too. After the
 * disks: savevm stores the memory in the first drive that takes snapshots, which must be disk0. */
static void arg_efivars(struct build_ctx *x) {
  if (!x->x86 || x->c->uefi) {
    arg(x->b, "-drive");
    argf(x->b, "if=pflash,format=qcow2,unit=1,file=%s", esc(x->b, x->vars));
  }
}

/* The CD-ROM drive always exists so that media can be inserted later. */
static void arg_cdrom(struct build_ctx *x) {
  struct builder *b = x->b;
  const struct vm_config *c = x->c;
  char bi[24];
  arg(b, "-drive");
  if (c->cdrom[0])
    argf(b, "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=%s", esc(b, c->cdrom));
  else
    arg(b, "if=none,id=cd0,media=cdrom,readonly=on");
  arg(b, "-device");
  if (!x->x86)
    argf(b, "usb-storage,drive=cd0,bus=xhci.0%s", bootindex(bi, x->boot_cd));
  else if (x->pc)
    argf(b, "ide-cd,drive=cd0,bus=ide.1,unit=0%s", bootindex(bi, x->boot_cd));
  else
    argf(b, "ide-cd,drive=cd0,bus=ide.%zu%s", x->ide, bootindex(bi, x->boot_cd));
  /* The answer CD (vm_unattend.h; x86_64 only) and/or the guest tools (vm_tools.h): on q35 the next
   * AHCI port, elsewhere (pc's IDE may be full, aarch64 has none) a USB drive as aarch64's cd0. */
  if (!vm_cd1_iso(c))
    return;
  arg(b, "-drive");
  argf(b, "if=none,id=cd1,media=cdrom,readonly=on,format=raw,file=%s", esc(b, x->cd1));
  arg(b, "-device");
  if (x->x86 && !x->pc)
    argf(b, "ide-cd,drive=cd1,bus=ide.%zu", x->ide + 1);
  else
    arg(b, "usb-storage,drive=cd1,bus=xhci.0");
}

/* The drivers CD (drivers_iso: virtio-win), in a drive of its own after the CD-ROM and the answer CD;
 * present only while set. vm_config_parse.c refused a config that leaves it no slot. */
static void arg_drivers_cd(struct build_ctx *x) {
  struct builder *b = x->b;
  const struct vm_config *c = x->c;
  if (!c->drivers_iso[0])
    return;
  arg(b, "-drive");
  argf(b, "if=none,id=cddrv,media=cdrom,readonly=on,format=raw,file=%s", esc(b, c->drivers_iso));
  arg(b, "-device");
  if (!x->x86)
    arg(b, "usb-storage,drive=cddrv,bus=xhci.0");
  else if (x->pc && x->ide < sizeof(pc_slots) / sizeof(pc_slots[0]))
    argf(b, "ide-cd,drive=cddrv,bus=ide.%d,unit=%d", pc_slots[x->ide].bus, pc_slots[x->ide].unit);
  else
    argf(b, "ide-cd,drive=cddrv,bus=ide.%zu", x->ide + 1 + (vm_cd1_iso(c) ? 1 : 0));
}

/* Shared folders: virtio-9p, one fsdev each. security_model=mapped-xattr: the guest's owners and
 * modes live in user.virtfs.* extended attributes, so guest root is not host root (the host
 * filesystem needs user xattrs). Under a --share-passthrough root: none, the host's own owners
 * and modes (any filesystem). */
static void arg_shares(struct build_ctx *x) {
  struct builder *b = x->b;
  const struct vm_config *c = x->c;
  for (size_t i = 0; i < c->n_shares; i++) {
    if (c->shares[i].mode == VM_SHARE_VIRTIOFS) {
      /* virtiofs: the share's virtiofsd (started before QEMU) serves it on a connection QEMU
       * inherits; read-only and the sandbox are virtiofsd's (vm_virtiofs.c), not QEMU's. */
      arg(b, "-chardev");
      argf(b, "socket,id=vfs%zu,fd=%d", i, VM_ARGV_VIRTIOFS_FD(i));
      arg(b, "-device");
      argf(b, "vhost-user-fs-pci,chardev=vfs%zu,tag=%s", i, c->shares[i].tag);
      continue;
    }
    arg(b, "-fsdev");
    argf(b, "local,id=fs%zu,path=%s,security_model=%s%s", i, esc(b, c->shares[i].path),
         share_passthrough(x->h, c->shares[i].path) ? "none" : "mapped-xattr",
         c->shares[i].readonly ? ",readonly=on" : "");
    arg(b, "-device");
    argf(b, "virtio-9p-pci,fsdev=fs%zu,mount_tag=%s", i, c->shares[i].tag);
  }
}

/* Direct kernel boot: QEMU loads the kernel (and initrd) itself, the firmware starts it. */
static void arg_kernel(struct build_ctx *x) {
  struct builder *b = x->b;
  const struct vm_kernel_boot *k = &x->c->kboot;
  if (!k->kernel[0])
    return;
  arg(b, "-kernel");
  arg(b, k->kernel);
  if (k->initrd[0]) {
    arg(b, "-initrd");
    arg(b, k->initrd);
  }
  if (k->cmdline[0]) {
    arg(b, "-append");
    arg(b, k->cmdline);
  }
}

static void arg_network(struct build_ctx *x) {
  struct builder *b = x->b;
  const struct vm_config *c = x->c;
  char bi[24];
  if (!c->net_user) {
    arg(b, "-nic");
    arg(b, "none");
    return;
  }
  size_t len = 0;
  char net[64 + VM_MAX_FORWARDS * 48];
  len += (size_t)snprintf(net, sizeof(net), "user,id=net0");
  /* Forwards listen on loopback only; port 0 lets the host pick. */
  for (size_t i = 0; i < c->n_forwards; i++) {
    const struct vm_forward *f = &c->forwards[i];
    len += (size_t)snprintf(net + len, sizeof(net) - len, ",hostfwd=%s:127.0.0.1:%u-:%u",
                            f->udp ? "udp" : "tcp", f->host_port, f->guest_port);
  }
  arg(b, "-netdev");
  arg(b, net);
  arg(b, "-device");
  argf(b, "%s,netdev=net0,mac=52:54:00:%.2s:%.2s:%.2s%s", c->nic, c->id, c->id + 2, c->id + 4,
       bootindex(bi, x->boot_nic));
}

/* The user's extra arguments (qemu_args), last, as given: checked when the config was read. */
static void arg_extra(struct build_ctx *x) {
  const char *extra[VM_MAX_QEMU_ARGS];
  size_t n = vm_config_qemu_args(x->c, extra);
  for (size_t i = 0; i < n; i++)
    arg(x->b, extra[i]);
}

/* The argv in the order the golden files (tests/cmdline) pin: each step appends its part. */
static int build(struct builder *b, const struct vm_config *c, const struct vm_host *h,
                 const struct vm_paths *p, char *err, size_t errlen) {
  struct build_ctx *x = xcalloc(1, sizeof(*x)); /* 20 KiB of paths: not on the stack */
  int rc = -1;
  x->b = b;
  x->c = c;
  x->h = h;
  if (prepare(x, p, err, errlen) < 0)
    goto out;
  arg_identity(x);
  arg_machine(x);
  arg_firmware(x);
  arg_tpm(x);
  arg_control(x);
  arg_devices(x);
  if (arg_disks(x, err, errlen) < 0)
    goto out;
  arg_efivars(x);
  arg_cdrom(x);
  arg_drivers_cd(x);
  arg_shares(x);
  arg_kernel(x);
  arg_network(x);
  arg_extra(x);
  rc = 0;
out:
  free(x);
  return rc;
}

int vm_argv_build(const struct vm_config *c, const struct vm_host *h, const struct vm_paths *p,
                  struct vm_argv *out, char *err, size_t errlen) {
  struct builder b = {0};
  struct vm_config *v = xmalloc(sizeof(*v));
  json_t *j = vm_config_to_json(c);
  int rc = -1;

  out->argc = 0;
  out->argv = NULL;
  if (vm_config_from_json(v, j, err, errlen) < 0)
    goto out;
  if (build(&b, v, h, p, err, errlen) < 0)
    goto out;
  out->argc = b.n;
  out->argv = b.v;
  b.v = NULL;
  b.n = 0;
  rc = 0;
out:
  for (size_t i = 0; i < b.n; i++)
    free(b.v[i]);
  free(b.v);
  for (size_t i = 0; i < b.ntmp; i++)
    free(b.tmp[i]);
  free(b.tmp);
  json_decref(j);
  free(v);
  return rc;
}
