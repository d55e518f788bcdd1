/* SPDX-License-Identifier: GPL-2.0-or-later */
/* host: see host.h. */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "priv.h"
#include "util.h"
#include "vm_argv.h"

static const char *const binary_names[VM_ARCH__N] = {
    [VM_ARCH_X86_64] = "qemu-system-x86_64",
    [VM_ARCH_I386] = "qemu-system-i386",
    [VM_ARCH_AARCH64] = "qemu-system-aarch64",
};

static void find_binary(const char *name, char *out, size_t outlen) {
  const char *dir = getenv("QHM_QEMU_DIR");
  char cand[512];
  out[0] = 0;
  if (dir && *dir) {
    snprintf(cand, sizeof(cand), "%s/%s", dir, name);
    if (access(cand, X_OK) == 0)
      snprintf(out, outlen, "%s", cand);
    return;
  }
  const char *path = getenv("PATH");
  char *copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  char *save = NULL;
  for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    if (d[0] != '/')
      continue;
    snprintf(cand, sizeof(cand), "%s/%s", d, name);
    if (access(cand, X_OK) == 0) {
      snprintf(out, outlen, "%s", cand);
      break;
    }
  }
  free(copy);
}

/* virtiofsd is not on PATH: Debian 12 has QEMU's C one in /usr/lib/qemu (the options used,
 * vm_virtiofs.c, are its). QHM_VIRTIOFSD names another ("" for none). */
static void find_virtiofsd(char *out, size_t outlen) {
  const char *env = getenv("QHM_VIRTIOFSD");
  out[0] = 0;
  if (env) {
    if (*env == '/' && access(env, X_OK) == 0)
      snprintf(out, outlen, "%s", env);
    return;
  }
  if (access("/usr/lib/qemu/virtiofsd", X_OK) == 0)
    snprintf(out, outlen, "%s", "/usr/lib/qemu/virtiofsd");
}

static void probe_kvm(struct host *h) {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    snprintf(h->kvm_reason, sizeof(h->kvm_reason), "/dev/kvm: %s", strerror(errno));
    return;
  }
  int v = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (v != KVM_API_VERSION) {
    snprintf(h->kvm_reason, sizeof(h->kvm_reason), "KVM_GET_API_VERSION: %s",
             v < 0 ? strerror(errno) : "unexpected version");
  } else {
    h->kvm_usable = true;
    snprintf(h->kvm_reason, sizeof(h->kvm_reason), "KVM API version %d", v);
  }
  close(fd);
}

static uint64_t meminfo_mib(const char *key) {
  FILE *f = fopen("/proc/meminfo", "re");
  if (!f)
    return 0;
  char line[256];
  uint64_t kib = 0;
  size_t klen = strlen(key);
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      kib = strtoull(line + klen + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kib / 1024;
}

/*
 * /dev/kvm answering is not enough. Some hosts (nested or emulated KVM) accept
 * the ioctls and then abort QEMU when it sets the first MSRs; others run guests
 * but emulate real mode one instruction at a time (a paravirtual "PVM" KVM
 * measured here: ~0.8 us per instruction, SeaBIOS loading a CD took minutes).
 * So QEMU boots a guest with KVM and -cpu host and must finish in time:
 *  - x86: a 64 KiB firmware of our own that runs PROBE_LOOPS real-mode `loop`
 *    instructions and writes to isa-debug-exit (QEMU exits with status 1).
 *    Real KVM: a few ms past QEMU's start; TCG: the same; an emulated real
 *    mode: seconds (3.3 s here).
 *  - other hosts: the machine stopped (-S), then QMP quit; exits 0.
 */
#define PROBE_LOOPS 64 /* x 65536 iterations */
#define PROBE_DEADLINE_MS 1000

/* The x86 probe firmware: code at F000:0000, the reset vector (F000:FFF0) jumps to it. */
static int probe_firmware_fd(void) {
  static const unsigned char code[] = {
      0xBA, PROBE_LOOPS, 0x00, /* mov dx, PROBE_LOOPS */
      0xB9, 0x00,        0x00, /* 1: mov cx, 0 (65536 iterations) */
      0xE2, 0xFE,              /* 2: loop 2b */
      0x4A,                    /* dec dx */
      0x75, 0xF8,              /* jnz 1b */
      0xB0, 0x00,              /* mov al, 0 */
      0xE6, 0xF4,              /* out 0xf4, al: isa-debug-exit, QEMU exits with (0 << 1) | 1 */
      0xF4,                    /* 3: hlt */
      0xEB, 0xFD,              /* jmp 3b */
  };
  static const unsigned char reset[] = {0xEA, 0x00, 0x00, 0x00, 0xF0}; /* jmp far F000:0000 */
  static unsigned char img[65536];
  memset(img, 0xF4, sizeof(img));
  memcpy(img, code, sizeof(code));
  memcpy(img + 0xFFF0, reset, sizeof(reset));
  int fd = memfd_create("qemu-hmos-kvm-probe", 0); /* inherited by QEMU, which opens /proc/self/fd/N */
  if (fd >= 0 && write(fd, img, sizeof(img)) != (ssize_t)sizeof(img)) {
    close(fd);
    fd = -1;
  }
  return fd;
}

static long elapsed_ms(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void probe_kvm_qemu(struct host *h, struct launcher *l, vm_arch a) {
  bool x86 = a != VM_ARCH_AARCH64;
  char bios[] = "/proc/self/fd/3", errpath[] = "/tmp/qemu-hmos-kvm-probe-XXXXXX";
  int fwfd = x86 ? probe_firmware_fd() : -1; /* QEMU's descriptor 3 */
  char *argv_x86[] = {h->binary[a],
                      "-accel",
                      "kvm",
                      "-cpu",
                      "host",
                      "-machine",
                      "q35",
                      "-nodefaults",
                      "-no-user-config",
                      "-display",
                      "none",
                      "-m",
                      "16",
                      "-bios",
                      bios,
                      "-device",
                      "isa-debug-exit,iobase=0xf4,iosize=0x04",
                      NULL};
  char *argv_stopped[] = {h->binary[a],  "-accel",          "kvm",      "-cpu", "host", "-machine", "virt",
                          "-nodefaults", "-no-user-config", "-display", "none", "-S",   "-m",       "16",
                          "-qmp",        "stdio",           NULL};
  int errfd = mkstemp(errpath);
  int in[2];
  if ((x86 && fwfd < 0) || errfd < 0 || pipe2(in, O_CLOEXEC) < 0) {
    snprintf(h->kvm_reason, sizeof(h->kvm_reason), "KVM probe: %s", strerror(errno));
    h->kvm_usable = false;
    if (errfd >= 0)
      close(errfd), unlink(errpath);
    if (fwfd >= 0)
      close(fwfd);
    return;
  }
  unlink(errpath);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  /* As the user the VMs run as (/dev/kvm's group). */
  struct launch_spec spec = {.name = "kvm-probe",
                             .argv = x86 ? argv_x86 : argv_stopped,
                             .fds = {in[0], -1, errfd, fwfd},
                             .n_fds = x86 ? 4 : 3,
                             .flags = LAUNCH_UNPRIVILEGED};
  struct launch_child child;
  char why[200];
  pid_t pid = launch_spawn(l, &spec, &child, why, sizeof(why)) == 0 ? child.pid : -1;
  if (pid > 0 && child.pidfd >= 0)
    close(child.pidfd);
  if (pid > 0 && child.status_fd >= 0)
    close(child.status_fd);
  if (pid < 0)
    dprintf(errfd, "%s\n", why);
  if (pid > 0 && !child.own) { /* the probe needs QEMU's exit status: only a child of ours has one */
    kill(pid, SIGKILL);
    pid = -1;
    dprintf(errfd, "the %s launcher does not report exit statuses\n", launcher_backend_name(l));
  }
  close(in[0]);
  if (fwfd >= 0)
    close(fwfd);
  const char *cmds = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n";
  if (pid > 0 && !x86 && write(in[1], cmds, strlen(cmds)) < 0) {
    /* QEMU died early: its status says why */
  }
  close(in[1]);
  int status = -1;
  bool late = false;
  while (pid > 0 && waitpid(pid, &status, WNOHANG) != pid) {
    if (elapsed_ms(&t0) > PROBE_DEADLINE_MS) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      late = true;
      break;
    }
    nanosleep(&(struct timespec){0, 2000000}, NULL);
  }
  long ms = elapsed_ms(&t0);
  int ok_status = x86 ? 1 : 0;
  if (pid > 0 && !late && WIFEXITED(status) && WEXITSTATUS(status) == ok_status) {
    close(errfd);
    size_t n = strlen(h->kvm_reason);
    snprintf(h->kvm_reason + n, sizeof(h->kvm_reason) - n, "; a %s guest ran in %ld ms",
             x86 ? "real-mode probe" : "stopped probe", ms);
    return; /* usable */
  }
  h->kvm_usable = false;
  if (late) {
    close(errfd);
    snprintf(h->kvm_reason, sizeof(h->kvm_reason),
             "KVM runs guest code too slowly here (a real-mode probe guest did not finish in %d ms; "
             "nested or paravirtual KVM?)",
             PROBE_DEADLINE_MS);
    return;
  }
  char msg[200] = "";
  ssize_t n = pread(errfd, msg, sizeof(msg) - 1, 0);
  close(errfd);
  msg[n > 0 ? n : 0] = 0;
  char *nl = strchr(msg, '\n');
  if (nl)
    *nl = 0;
  snprintf(h->kvm_reason, sizeof(h->kvm_reason), "QEMU cannot run a KVM guest here (%s)",
           msg[0]    ? msg
           : pid < 0 ? "fork failed"
                     : "it did not exit cleanly");
}

uint64_t host_mem_available_mib(void) {
  return meminfo_mib("MemAvailable");
}

uint64_t host_disk_free_mib(const char *path) {
  struct statvfs sv;
  if (statvfs(path, &sv) < 0)
    return 0;
  return (uint64_t)sv.f_bavail * sv.f_frsize / (1024 * 1024);
}

bool host_disk_fits(const char *path, uint64_t want_mib, uint64_t *free_mib) {
  *free_mib = host_disk_free_mib(path);
  return want_mib + HOST_DISK_RESERVE_MIB <= *free_mib;
}

int host_probe(struct host *h, struct launcher *l, const char *qemu, char *err, size_t errlen) {
  memset(h, 0, sizeof(*h));
  if (qemu && strcmp(qemu, "system") != 0) {
    if (host_qemu_load(h, l, qemu, err, errlen) < 0)
      return -1;
  } else {
    snprintf(h->qemu.source, sizeof(h->qemu.source), "system");
    for (int a = 0; a < VM_ARCH__N; a++)
      find_binary(binary_names[a], h->binary[a], sizeof(h->binary[a]));
    find_binary("qemu-img", h->qemu_img, sizeof(h->qemu_img));
  }
  for (int a = 0; a < VM_ARCH__N; a++)
    h->facts.qemu_binary[a] = h->binary[a][0] ? h->binary[a] : NULL;
  /* UEFI firmware: the environment's, else the QEMU build's (its manifest), else Debian's. */
  const char *fw = getenv("QHM_AAVMF_DIR");
  if (!fw || !*fw)
    fw = h->build_aavmf_dir[0] ? h->build_aavmf_dir : "/usr/share/AAVMF";
  snprintf(h->aavmf_code, sizeof(h->aavmf_code), "%s/AAVMF_CODE.fd", fw);
  snprintf(h->aavmf_vars, sizeof(h->aavmf_vars), "%s/AAVMF_VARS.fd", fw);
  h->facts.aavmf_code = h->aavmf_code;
  const char *ovmf = getenv("QHM_OVMF_DIR");
  if (!ovmf || !*ovmf)
    ovmf = h->build_ovmf_dir[0] ? h->build_ovmf_dir : "/usr/share/OVMF";
  snprintf(h->ovmf_dir, sizeof(h->ovmf_dir), "%s", ovmf);
  char probe[512];
  bool have_ovmf = true;
  const char *ovmf_files[] = {VM_OVMF_CODE, VM_OVMF_CODE_SECURE, VM_OVMF_VARS, VM_OVMF_VARS_SECURE};
  for (size_t i = 0; i < 4; i++) {
    snprintf(probe, sizeof(probe), "%s/%s", h->ovmf_dir, ovmf_files[i]);
    have_ovmf = have_ovmf && access(probe, R_OK) == 0;
  }
  if (!have_ovmf)
    h->ovmf_dir[0] = 0;
  h->facts.ovmf_dir = h->ovmf_dir[0] ? h->ovmf_dir : NULL;
  h->facts.share_passthrough = priv_share_roots();
  find_binary("swtpm", h->swtpm, sizeof(h->swtpm));
  find_binary("xorriso", h->xorriso, sizeof(h->xorriso));
  find_virtiofsd(h->virtiofsd, sizeof(h->virtiofsd));
  struct utsname u;
  uname(&u);
  h->host_arch = strcmp(u.machine, "x86_64") == 0    ? "x86_64"
                 : strcmp(u.machine, "aarch64") == 0 ? "aarch64"
                 : strncmp(u.machine, "i", 1) == 0   ? "i386"
                                                     : "other";
  host_caps_probe(h, l);
  for (int a = 0; a < VM_ARCH__N; a++)
    h->facts.no_sandbox[a] = h->caps[a].ok && !h->caps[a].sandbox;
  probe_kvm(h);
  int native = strcmp(h->host_arch, "aarch64") == 0 ? VM_ARCH_AARCH64 : VM_ARCH_X86_64;
  if (h->kvm_usable && getenv("QHM_NO_KVM")) {
    h->kvm_usable = false;
    snprintf(h->kvm_reason, sizeof(h->kvm_reason), "disabled by QHM_NO_KVM");
  }
  if (h->kvm_usable && h->binary[native][0] && h->caps[native].ok)
    probe_kvm_qemu(h, l, native);
  /* KVM runs a guest only of the host's own arch (and i386 on an x86_64 host). */
  if (h->kvm_usable) {
    bool x86 = strcmp(h->host_arch, "x86_64") == 0;
    h->facts.kvm[VM_ARCH_X86_64] = x86;
    h->facts.kvm[VM_ARCH_I386] = x86 || strcmp(h->host_arch, "i386") == 0;
    h->facts.kvm[VM_ARCH_AARCH64] = strcmp(h->host_arch, "aarch64") == 0;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  h->cpus = n > 0 ? (unsigned)n : 1;
  h->memory_mib = meminfo_mib("MemTotal");
  log_info("host: %s, %u CPUs, %llu MiB; KVM %s (%s)", h->host_arch, h->cpus,
           (unsigned long long)h->memory_mib, h->kvm_usable ? "usable" : "unusable", h->kvm_reason);
  for (int a = 0; a < VM_ARCH__N; a++)
    log_info("host: %s guests: %s, accelerator %s", vm_arch_name(a),
             h->binary[a][0] ? h->binary[a] : "no binary", host_accel_name(h, a));
  if (strcmp(h->qemu.source, "built") == 0)
    log_info("host: QEMU %s built by qemu-build/ (%s, %s)", h->qemu.version, h->qemu.variant,
             h->qemu.manifest);
  return 0;
}

uint64_t host_max_vm_memory_mib(const struct host *h) {
  return h->memory_mib / 2;
}

uint64_t host_commit_limit_mib(const struct host *h) {
  return h->memory_mib * 3 / 4;
}

const char *host_accel_name(const struct host *h, vm_arch a) {
  return h->facts.kvm[a] ? "kvm" : "tcg";
}

/* What a create without those fields gets (vm_config_defaults, the one place): the wizard starts
 * from them. {memory_mib, cpus, disk_gib, disk_interface, display, nic}. */
static json_t *arch_defaults(vm_arch a) {
  struct vm_config *c = xmalloc(sizeof(*c));
  vm_config_defaults(c, a);
  json_t *j = vm_config_to_json(c);
  free(c);
  json_t *disk = json_array_get(json_object_get(j, "disks"), 0);
  json_t *out =
      json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "memory_mib", json_object_get(j, "memory_mib"),
                "cpus", json_object_get(j, "cpus"), "disk_gib", json_object_get(disk, "size_gib"),
                "disk_interface", json_object_get(disk, "interface"), "display",
                json_object_get(j, "display"), "nic", json_object_get(json_object_get(j, "network"), "nic"));
  json_decref(j);
  return out;
}

json_t *host_to_json(const struct host *h, const char *data_dir, uint64_t committed_mib) {
  json_t *arches = json_object();
  for (int a = 0; a < VM_ARCH__N; a++) {
    json_t *o = json_pack("{s:o, s:b, s:s, s:b}", "binary",
                          h->binary[a][0] ? json_string(h->binary[a]) : json_null(), "available",
                          h->binary[a][0] != 0, "accelerator", host_accel_name(h, a), "kvm", h->facts.kvm[a]);
    if (a == VM_ARCH_AARCH64) {
      bool fw = access(h->aavmf_code, R_OK) == 0 && access(h->aavmf_vars, R_OK) == 0;
      json_object_set_new(o, "firmware", json_string(h->aavmf_code));
      if (!fw)
        json_object_set_new(o, "available", json_false());
      json_object_set_new(o, "firmware_found", json_boolean(fw));
    }
    if (a == VM_ARCH_X86_64) /* UEFI (and Secure Boot) from Debian's ovmf */
      json_object_set_new(o, "uefi", json_boolean(h->ovmf_dir[0] != 0));
    const struct host_caps *cp = &h->caps[a];
    if (cp->checked && !cp->ok) {
      json_object_set_new(o, "available", json_false());
      json_object_set_new(o, "reason", json_sprintf("QEMU failed its start-up check: %s", cp->error));
    }
    json_object_set_new(
        o, "qemu",
        !cp->checked
            ? json_null()
            : json_pack("{s:b, s:s?, s:s?, s:s?, s:s?}", "ok", cp->ok, "version",
                        cp->version[0] ? cp->version : NULL, "package", cp->package[0] ? cp->package : NULL,
                        "machine", cp->machine[0] ? cp->machine : NULL, "error", cp->ok ? NULL : cp->error));
    if (cp->ok) /* built with seccomp: the command line has -sandbox */
      json_object_set_new(json_object_get(o, "qemu"), "sandbox", json_boolean(cp->sandbox));
    if (cp->devices) /* how many device types qemu_args' -device may name (qom-list-types) */
      json_object_set_new(json_object_get(o, "qemu"), "device_types",
                          json_integer((json_int_t)cp->n_devices));
    json_object_set_new(o, "defaults", arch_defaults((vm_arch)a));
    json_object_set_new(arches, vm_arch_name(a), o);
  }
  json_t *qemu = json_pack("{s:s, s:s?, s:s?, s:s?}", "source", h->qemu.source, "variant",
                           h->qemu.variant[0] ? h->qemu.variant : NULL, "version",
                           h->qemu.version[0] ? h->qemu.version : NULL, "manifest",
                           h->qemu.manifest[0] ? h->qemu.manifest : NULL);
  json_object_set_new(qemu, "qemu_img", h->qemu_img[0] ? json_string(h->qemu_img) : json_null());
  json_t *out = json_pack(
      "{s:s, s:o, s:{s:b, s:s}, s:s, s:i, s:I, s:I, s:I, s:s, s:{s:I, s:i, s:I, s:I, s:i, s:i, "
      "s:i, s:i, s:i}, s:{s:b, s:o}}",
      "version", QHM_VERSION, "arches", arches, "kvm", "usable", h->kvm_usable, "reason", h->kvm_reason,
      "host_arch", h->host_arch, "cpus", (int)h->cpus, "memory_mib", (json_int_t)h->memory_mib,
      "memory_available_mib", (json_int_t)host_mem_available_mib(), "disk_free_mib",
      (json_int_t)host_disk_free_mib(data_dir), "data_dir", data_dir, "limits", "max_memory_mib",
      (json_int_t)host_max_vm_memory_mib(h), "max_cpus", (int)h->cpus, "commit_limit_mib",
      (json_int_t)host_commit_limit_mib(h), "committed_mib", (json_int_t)committed_mib, "disk_reserve_mib",
      HOST_DISK_RESERVE_MIB, "max_body_bytes", 1 << 20, "name_max_bytes", VM_NAME_MAX, "max_disks",
      VM_MAX_DISKS, "max_disk_gib", 65536, "tpm", "available", h->swtpm[0] != 0, "binary",
      h->swtpm[0] ? json_string(h->swtpm) : json_null());
  json_object_set_new(out, "qemu", qemu);
  return out;
}
