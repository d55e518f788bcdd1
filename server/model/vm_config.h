/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_config: the typed description of one virtual machine, its JSON form and
 * its validation. Pure data: no I/O except what the caller passes in through
 * struct vm_host. Used by the core loop (vm_crud.c) to create and patch VMs, by
 * vm_argv.c to build the QEMU command line, and by the unit tests.
 */
#ifndef QHM_VM_CONFIG_H
#define QHM_VM_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_qemu_args.h"

#define VM_ID_LEN 16   /* hex characters */
#define VM_NAME_MAX 64 /* bytes of UTF-8 */
#define VM_MAX_DISKS 4
#define VM_MAX_FORWARDS 16
#define VM_MAX_BOOT 3
#define VM_MAX_SHARES 4
#define VM_SHARE_TAG_MAX 31 /* mount_tag: [A-Za-z0-9_.-] */
#define VM_KERNEL_CMDLINE_MAX 1024
#define VM_MAX_SHORTCUTS 16

typedef enum { VM_ARCH_X86_64, VM_ARCH_I386, VM_ARCH_AARCH64, VM_ARCH__N } vm_arch;

typedef enum { VM_BOOT_CDROM, VM_BOOT_DISK, VM_BOOT_NETWORK } vm_boot_dev;

typedef enum {
  VM_DISK_IF_VIRTIO,
  VM_DISK_IF_NVME,
  VM_DISK_IF_AHCI, /* SATA on q35; plain IDE on pc */
  VM_DISK_IF_IDE,
  VM_DISK_IF_USB,
} vm_disk_if;

struct vm_disk {
  char path[4096];   /* absolute; set by the daemon for new disks */
  uint64_t size_gib; /* size at creation (informational once created) */
  vm_disk_if iface;
};

/* A host directory shared with the guest over virtio-9p (mount -t 9p -o trans=virtio TAG DIR). */
/* How a shared folder reaches the guest: virtio-9p (QEMU serves it) or virtiofs (a virtiofsd per
 * share, started by the daemon with the VM: vm_virtiofs.c; the guest's memory is then shared). */
enum vm_share_mode { VM_SHARE_9P, VM_SHARE_VIRTIOFS };

struct vm_share {
  char path[4096]; /* absolute; a directory when the VM starts */
  char tag[VM_SHARE_TAG_MAX + 1];
  bool readonly;
  enum vm_share_mode mode;
};

/* An app shortcut: one Windows program of the VM, opened alone through RDP (RemoteApp, or the
 * alternate shell of a full session), from the library. */
struct vm_shortcut {
  char name[VM_NAME_MAX + 1];
  char program[256]; /* "||alias" or an absolute Windows path, as rdp.remote_app */
  char args[256];
  bool shell;
};

/* Direct kernel boot: QEMU loads a Linux kernel (and initrd) itself, no boot loader. */
struct vm_kernel_boot {
  char kernel[4096]; /* "" = not used: boot from boot_order */
  char initrd[4096]; /* "" = none */
  char cmdline[VM_KERNEL_CMDLINE_MAX + 1];
};

struct vm_forward {
  bool udp;           /* false = tcp */
  uint16_t host_port; /* 0 = pick an ephemeral port on 127.0.0.1 */
  uint16_t guest_port;
};

/* The RDP console's target and credentials: an explicit host (any machine), or with host ""
 * the VM's own forward of guest port 3389 to 127.0.0.1. */
#define VM_RDP_STR 256
struct vm_rdp {
  bool set;
  char host[VM_RDP_STR]; /* DNS name or IP address; "" = the VM's forward of guest 3389 */
  uint16_t port;         /* default 3389 */
  char username[VM_RDP_STR], password[VM_RDP_STR], domain[VM_RDP_STR];
  char security[8];      /* "any" (default), "nla", "tls", "rdp" */
  bool ignore_cert;      /* accept any certificate (loopback targets always do) */
  char fingerprint[160]; /* pinned certificate fingerprint(s), "" = none */
  /* rdp.remote_app: launch one program instead of the desktop. "" = the full desktop. */
  char remote_app[VM_RDP_STR];      /* "||alias" (a published RemoteApp) or a Windows path */
  char remote_app_args[VM_RDP_STR]; /* its command line */
  bool remote_app_shell;            /* mode "shell": alternate shell in a full session, not RemoteApp */
  /* rdp.graphics: "" (auto: the pipeline, H.264 only for a target across a network), "gfx" (the
   * pipeline without H.264), "gfx-h264", "legacy" (no pipeline: bitmap updates). */
  char graphics[12];
  /* Not config: filled by vm_manager_rdp_target for the console (the shared folder's name). */
  char vm_name[VM_NAME_MAX + 1];
  bool local; /* the target is on this machine: the VM's own forward of guest 3389, or loopback */
};

/* Performance modes: standard (QEMU's defaults), saver (gentler on a battery: one TCG thread, a
 * lower priority, a CPU cap where the host has a cpu cgroup), turbo (a higher priority and CPU
 * share where allowed). */
/* "unattend": a Windows Setup answer file (autounattend.xml) and our setup script on a second CD
 * (vm_unattend.h), so that Windows installs without a click: the account it makes, its language
 * and time zone. x86_64 only. The password is a secret as rdp.password is (redacted in the API). */
#define VM_UNATTEND_USER_MAX 20
#define VM_UNATTEND_ISO "unattend.iso" /* in the VM's directory, made at each start */
struct vm_unattend {
  bool set;
  char user[VM_UNATTEND_USER_MAX * 4 + 1]; /* UTF-8, at most 20 characters */
  char password[128];                      /* 1-127 bytes */
  char locale[16];                         /* "en-US" */
  char timezone[64];                       /* a Windows time zone id: "UTC", "China Standard Time" */
  char computer_name[16];                  /* "" = Windows picks one */
  char product_key[32];                    /* "" = VM_UNATTEND_DEFAULT_KEY (vm_unattend.h) */
};

typedef enum { VM_PERF_STANDARD, VM_PERF_SAVER, VM_PERF_TURBO, VM_PERF__N } vm_perf;
extern const char *const vm_perf_names[VM_PERF__N];

struct vm_config {
  char id[VM_ID_LEN + 1];
  char uuid[37]; /* SMBIOS UUID, stable across boots */
  char name[VM_NAME_MAX + 1];
  vm_arch arch;
  uint32_t memory_mib;
  uint32_t cpus;
  size_t n_disks;
  struct vm_disk disks[VM_MAX_DISKS];
  char cdrom[4096]; /* "" = no medium; an empty drive is still present */
  /* A Windows drivers disc (virtio-win) in a CD drive of its own beside cdrom, "" = none (no drive):
   * vm_argv.c places it, vm_unattend.c points Windows Setup at its folders. */
  char drivers_iso[4096];
  size_t n_boot;
  vm_boot_dev boot[VM_MAX_BOOT];
  char display[16]; /* "std", "virtio-vga", "virtio-gpu", "ramfb", "cirrus" */
  bool net_user;    /* false = no network */
  char nic[24];     /* "e1000e", "e1000", "virtio-net-pci", "rtl8139" */
  size_t n_forwards;
  struct vm_forward forwards[VM_MAX_FORWARDS];
  bool rtc_localtime; /* Windows guests expect local time */
  size_t n_shares;
  struct vm_share shares[VM_MAX_SHARES];
  struct vm_kernel_boot kboot;
  bool uefi;        /* x86_64: OVMF instead of SeaBIOS (aarch64 is always UEFI) */
  bool secure_boot; /* uefi: OVMF with Microsoft's keys enrolled, SMM (Windows 11) */
  bool tpm;         /* a TPM 2.0 (swtpm, started by the daemon with the VM) */
  bool autostart;   /* started when the daemon starts (and the VM is not running) */
  bool guest_agent; /* a virtio-serial port for the QEMU guest agent (new VMs: on; older: off) */
  bool audio;       /* a sound card whose output the VNC server streams (x86: HDA; aarch64: USB audio) */
  bool guest_tools; /* the guest tools CD (vm_tools.h) in a second CD drive, made at each start */
  vm_perf perf;     /* performance mode (server/vm/vm_perf.c: what each one does) */
  size_t n_shortcuts;
  struct vm_shortcut shortcuts[VM_MAX_SHORTCUTS];
  struct vm_rdp rdp;
  struct vm_unattend unattend;
  /* Extra QEMU arguments appended to the built argv (vm_qemu_args.h checks them): N strings, each
   * followed by its NUL, packed (a plain array keeps the config copyable by value). */
  size_t n_qemu_args;
  char qemu_args[VM_QEMU_ARGS_BYTES];
};

/* Facts about the host the argv depends on. Filled by host.c at run time and
 * by fixed values in the golden tests. */
struct vm_host {
  const char *qemu_binary[VM_ARCH__N]; /* absolute paths */
  const char *aavmf_code;              /* /usr/share/AAVMF/AAVMF_CODE.fd */
  const char *ovmf_dir;                /* /usr/share/OVMF: OVMF_CODE_4M[.ms].fd; NULL when absent */
  bool kvm[VM_ARCH__N];                /* KVM usable for this guest arch */
  /* This arch's QEMU was built without seccomp (-sandbox unknown to it: the HarmonyOS build,
   * where the system confines the app): the command line has no -sandbox. */
  bool no_sandbox[VM_ARCH__N];
  /* Shared folders at or under one of these directories (NULL-terminated; NULL = none) keep the
   * host's owners and modes (virtio-9p security_model=none); others are mapped-xattr. */
  const char *const *share_passthrough;
  /* QEMU's data directories (-L, in order; NULL-terminated; NULL = its own default): a QEMU built
   * by qemu-build/ finds its option ROMs and keymaps, SeaBIOS and iPXE through them. */
  const char *const *data_dirs;
};

/* Where one VM's files live: DIR/vms/ID and its run/ and logs/ children. */
struct vm_paths {
  char dir[4096];
};

const char *vm_arch_name(vm_arch a);
int vm_arch_parse(const char *s, vm_arch *out);
/* "9p" / "virtiofs"; parse: false for any other string. */
const char *vm_share_mode_name(enum vm_share_mode m);
bool vm_share_mode_parse(const char *s, enum vm_share_mode *out);
/* Whether C has a virtiofs share (its guest memory must then be shareable: vm_argv.c). */
bool vm_config_has_virtiofs(const struct vm_config *c);

/* Fill defaults for ARCH (memory, cpus, one 32 GiB disk with the arch's
 * default interface, boot order cdrom then disk, display, nic). */
void vm_config_defaults(struct vm_config *c, vm_arch arch);

/*
 * Apply a JSON object to C. With CREATE true, "arch" is read first and
 * defaults are filled before the other fields apply, and "disks" is a list of
 * {"size_gib": N, "interface": "..."} for new disks; with CREATE false (PATCH)
 * "arch", "id", "uuid" and "disks" may not be changed.
 * Unknown fields are an error. On error returns -1 and writes a message that
 * names the field into ERR (e.g. "memory_mib: must be an integer between 64
 * and 1048576"); C may then be partly modified, so callers apply to a copy.
 * Host-dependent limits (memory, cpus, disk space, file existence) are checked
 * by the caller, not here.
 */
int vm_config_apply_json(struct vm_config *c, json_t *obj, bool create, char *err, size_t errlen);

/* The stored/API form of C (without runtime state). Never NULL (aborts on OOM). */
json_t *vm_config_to_json(const struct vm_config *c);

/* Inverse of vm_config_to_json for rows read back from the database. */
int vm_config_from_json(struct vm_config *c, json_t *obj, char *err, size_t errlen);
/* V as a host path field of a config (cdrom, kernel, shared folder): an absolute path of valid UTF-8
 * without NUL or control characters that fits BUF. 0, or -1 with "FIELD: ..." in ERR. */
int vm_config_parse_path(json_t *v, const char *field, char *buf, size_t buflen, char *err, size_t errlen);

/* The API form of a VM's config: vm_config_to_json without secrets (rdp.password becomes
 * rdp.password_set). Modifies O in place. */
void vm_config_redact(json_t *o);

/* C's qemu_args as pointers into C (OUT holds VM_MAX_QEMU_ARGS); returns how many. */
size_t vm_config_qemu_args(const struct vm_config *c, const char *out[VM_MAX_QEMU_ARGS]);

/* A name is 1..VM_NAME_MAX bytes of valid UTF-8 with no control characters. */
bool vm_name_valid(const char *name);

#endif
