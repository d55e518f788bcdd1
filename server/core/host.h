/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * host: what this machine offers VMs — QEMU binaries per guest arch, whether
 * KVM is usable (and why not), CPUs, memory, free disk — and the limits the
 * daemon enforces from those facts. Probed once at start (binaries, KVM) and
 * on demand (memory, disk). Core loop thread.
 */
#ifndef QHM_HOST_H
#define QHM_HOST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vm_config.h"

#define HOST_DISK_RESERVE_MIB 1024

#define HOST_MAX_DATA_DIRS 8

/* Which QEMU the daemon drives: Debian's (system) or one qemu-build/ made (its manifest.json). */
struct host_qemu {
  char source[16];  /* "system" or "built" */
  char variant[8];  /* built: "tcg" or "tci"; "" for system */
  char version[32]; /* built: the manifest's; "" for system (QEMU says it) */
  char manifest[512];
};

#define HOST_CAPS_MACHINES 48

/* What one QEMU answered at start (host_caps.c): its version and machine types. */
struct host_caps {
  bool checked;         /* there is a binary, so it was started */
  bool ok;              /* it answered as expected: VMs of this arch may start */
  char error[300];      /* why not */
  char version[16];     /* "10.0.13" */
  unsigned version_num; /* 100013 */
  char package[80];     /* "Debian 1:7.2+dfsg-7+deb12u18+b3", or "" */
  char machine[32];     /* the versioned type the command line's q35 / pc / virt stands for */
  char machines[HOST_CAPS_MACHINES][32]; /* that family's versioned types (pc-q35-*, ...) */
  size_t n_machines;
  bool sandbox; /* it knows -sandbox (built with seccomp) */
  /* The device types it has (qom-list-types implements=device, abstract=false), sorted: the
   * names a "-device NAME" of qemu_args may use. NULL when not asked or not answered. */
  char **devices;
  size_t n_devices;
};

struct host {
  struct host_qemu qemu;
  struct host_caps caps[VM_ARCH__N];
  char data_dirs[HOST_MAX_DATA_DIRS][512];
  const char *data_dir_ptrs[HOST_MAX_DATA_DIRS + 1];
  char binary[VM_ARCH__N][256]; /* "" when not found */
  char qemu_img[256];
  char aavmf_code[256];
  char aavmf_vars[256];
  char ovmf_dir[256]; /* "" when Debian's ovmf (OVMF_CODE_4M.fd ...) is not installed */
  /* The UEFI firmware directories a QEMU build's manifest names ("uefi_dirs": {"aarch64",
   * "x86_64"}; the HarmonyOS app's set brings its own), "" when it names none; QHM_AAVMF_DIR /
   * QHM_OVMF_DIR still win. */
  char build_aavmf_dir[256];
  char build_ovmf_dir[256];
  char swtpm[256];     /* "" when swtpm is not installed */
  char xorriso[256];   /* "" when xorriso is not installed (the Windows answer CD, vm_unattend.h) */
  char virtiofsd[256]; /* "" when there is none: $QHM_VIRTIOFSD, else Debian's (qemu-system-common) */
  bool kvm_usable;
  char kvm_reason[256];
  const char *host_arch; /* "x86_64", "aarch64", ... */
  unsigned cpus;
  uint64_t memory_mib;
  struct vm_host facts; /* pointers into the fields above, for vm_argv */
};

/* QHM_QEMU_DIR (env) may name the directory of the qemu-system-* binaries. */
struct launcher;
/* QEMU: NULL or "system" (Debian's), "built" or "built:tcg" / "built:tci" (the newest build in
 * /var/cache/qemu-hmos/qemu-build/), or a qemu-build manifest.json's path. Binaries and data
 * directories from it; with a build, its programs mapped to their library entries in L (the child
 * launcher). The KVM probe runs QEMU through L (launch.h). -1 with ERR when QEMU names no build. */
int host_probe(struct host *h, struct launcher *l, const char *qemu, char *err, size_t errlen);
/* host_qemu.c: a qemu-build manifest (QEMU as in host_probe, not "system") into H: binaries,
 * qemu-img, -L directories, version; its library entries mapped in L. -1 with ERR. */
int host_qemu_load(struct host *h, struct launcher *l, const char *qemu, char *err, size_t errlen);
/* host_caps.c: start each binary in H through L with QMP on stdio: query-version, query-machines
 * into H->caps (with the manifest's version, H->qemu.version, when it is a build). */
void host_caps_probe(struct host *h, struct launcher *l);
/* Whether arch A's QEMU has machine type MACHINE ("pc-q35-7.2"): its alias's or its family's. */
bool host_caps_has_machine(const struct host *h, vm_arch a, const char *machine);
/* Free what host_caps_probe allocated (the device lists); H's caps stay otherwise. */
void host_caps_free(struct host *h);
/* Whether arch A's QEMU was asked for its device types (then host_caps_devices is the list). */
bool host_caps_knows_devices(const struct host *h, vm_arch a);
uint64_t host_mem_available_mib(void);
/* Free MiB on the filesystem holding PATH, or 0 when statvfs fails. */
uint64_t host_disk_free_mib(const char *path);
/* Whether WANT_MIB more fit on PATH's filesystem with HOST_DISK_RESERVE_MIB left over; the free
 * MiB seen in *FREE_MIB (for the caller's message). */
bool host_disk_fits(const char *path, uint64_t want_mib, uint64_t *free_mib);
uint64_t host_max_vm_memory_mib(const struct host *h);
uint64_t host_commit_limit_mib(const struct host *h);
const char *host_accel_name(const struct host *h, vm_arch a);

json_t *host_to_json(const struct host *h, const char *data_dir, uint64_t committed_mib);

#endif
