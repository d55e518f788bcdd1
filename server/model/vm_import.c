/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_import: the shared parts of the importers (vm_import.h) and the libvirt domain reader.
 *
 * libvirt: every element and attribute read here is from libvirt's "Domain XML format"
 * (https://libvirt.org/formatdomain.html) and its schema (src/conf/schemas/domaincommon.rng).
 * Read and mapped: name, memory (+unit), vcpu, os/type@arch, os/firmware / os/loader (UEFI),
 * os/boot@dev, os/kernel, os/initrd, os/cmdline, clock@offset, devices/disk (file disks and the
 * CD-ROM: source@file, driver@type, target@bus), devices/interface (the first: model@type,
 * portForward/range, libvirt >= 9.0), devices/video/model@type, devices/sound, devices/tpm,
 * devices/channel (the guest agent's), devices/filesystem. Accepted without a listing because
 * this daemon always provides their effect: devices/emulator, controller, input, memballoon,
 * serial, console, graphics of type vnc, features acpi/apic/pae. Anything else is listed in
 * "unmapped". Pure.
 */
#include "vm_import.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "xml_tree.h"

void imp_result_free(struct imp_result *r) {
  if (!r)
    return;
  json_decref(r->config);
  json_decref(r->unmapped);
  r->config = r->unmapped = NULL;
}

void imp_init(struct imp_result *r, enum imp_format f) {
  memset(r, 0, sizeof(*r));
  r->format = f;
  r->config = json_object();
  r->unmapped = json_array();
  json_object_set_new(r->config, "disks", json_array());
}

void imp_unmapped(struct imp_result *r, const char *field, const char *fmt, ...) {
  char v[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v, sizeof(v), fmt, ap);
  va_end(ap);
  json_t *e = json_pack("{s:s, s:s}", "field", field, "value", v);
  if (e) /* NULL when the bytes are not UTF-8 (expat gives UTF-8; a plist string could not be) */
    json_array_append_new(r->unmapped, e);
}

static void set_str(struct imp_result *r, const char *key, const char *v) {
  json_t *s = json_string(v);
  if (s)
    json_object_set_new(r->config, key, s);
}

bool imp_u64(const char *s, uint64_t max, uint64_t *out) {
  if (!s || !*s)
    return false;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  if (v > max)
    return false;
  *out = v;
  return true;
}

const char *imp_sniff(const char *xml, size_t len, char *out, size_t outlen) {
  char err[128];
  struct xml_node *root = xml_parse(xml, len, err, sizeof(err));
  if (!root)
    return NULL;
  snprintf(out, outlen, "%s", root->name);
  xml_free(root);
  return out;
}

/* ---- libvirt ---- */

/* libvirt's scaled integers (formatdomain.html#memory-allocation): unit b, KB, k/KiB (default),
 * MB, M/MiB, GB, G/GiB, TB, T/TiB. */
static bool lv_mib(const struct xml_node *n, uint64_t *mib) {
  char t[64];
  uint64_t v;
  if (!imp_u64(xml_text(n, t, sizeof(t)), UINT64_MAX / 2, &v))
    return false;
  const char *u = xml_attr(n, "unit");
  static const struct {
    const char *u;
    double f; /* bytes */
  } units[] = {{"b", 1},
               {"bytes", 1},
               {"KB", 1e3},
               {"k", 1024.0},
               {"KiB", 1024.0},
               {"MB", 1e6},
               {"M", 1048576.0},
               {"MiB", 1048576.0},
               {"GB", 1e9},
               {"G", 1073741824.0},
               {"GiB", 1073741824.0},
               {"TB", 1e12},
               {"T", 1099511627776.0},
               {"TiB", 1099511627776.0}};
  double f = 1024.0;
  if (u) {
    size_t i;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
      if (strcmp(units[i].u, u) == 0)
        break;
    if (i == sizeof(units) / sizeof(units[0]))
      return false;
    f = units[i].f;
  }
  double m = (double)v * f / 1048576.0;
  if (m > 4194304.0)
    return false;
  *mib = (uint64_t)m;
  return true;
}

static const char *lv_bus_iface(const char *bus, vm_arch arch, bool *ok) {
  *ok = true;
  if (!bus || strcmp(bus, "virtio") == 0)
    return "virtio";
  if (strcmp(bus, "sata") == 0)
    return arch == VM_ARCH_AARCH64 ? "virtio" : "ahci";
  if (strcmp(bus, "ide") == 0)
    return arch == VM_ARCH_AARCH64 ? "virtio" : "ide";
  if (strcmp(bus, "nvme") == 0)
    return "nvme";
  if (strcmp(bus, "usb") == 0)
    return "usb";
  *ok = false; /* scsi, xen, sd, ...: virtio, listed */
  return "virtio";
}

static bool iface_parse(const char *s, vm_disk_if *out) {
  static const char *const n[] = {"virtio", "nvme", "ahci", "ide", "usb"};
  for (size_t i = 0; i < 5; i++)
    if (strcmp(s, n[i]) == 0) {
      *out = (vm_disk_if)i;
      return true;
    }
  return false;
}

static void lv_disk(struct imp_result *r, struct xml_node *d, vm_arch arch, bool *have_cdrom) {
  const char *dev = xml_attr(d, "device"), *type = xml_attr(d, "type");
  struct xml_node *src = xml_child(d, "source", NULL), *drv = xml_child(d, "driver", NULL),
                  *tgt = xml_child(d, "target", NULL);
  const char *file = src ? xml_attr(src, "file") : NULL;
  const char *tdev = tgt ? xml_attr(tgt, "dev") : NULL;
  if (!dev)
    dev = "disk";
  if (strcmp(dev, "cdrom") == 0) {
    if (file && !*have_cdrom && (!type || strcmp(type, "file") == 0)) {
      set_str(r, "cdrom", file);
      *have_cdrom = true;
    } else if (file || (src && type && strcmp(type, "file") != 0)) {
      imp_unmapped(r, "devices/disk[@device='cdrom']", "%s (one CD-ROM drive only)", file ? file : type);
    }
    return;
  }
  if (strcmp(dev, "disk") != 0) {
    imp_unmapped(r, "devices/disk/@device", "%s%s%s", dev, file ? " " : "", file ? file : "");
    return;
  }
  if (type && strcmp(type, "file") != 0) {
    imp_unmapped(r, "devices/disk/@type", "%s (%s): only file disks are copied", type, tdev ? tdev : "?");
    return;
  }
  if (!file) {
    imp_unmapped(r, "devices/disk/source", "%s: no source file", tdev ? tdev : "?");
    return;
  }
  if (r->n_disks >= VM_MAX_DISKS) {
    imp_unmapped(r, "devices/disk", "%s: at most %d disks", file, VM_MAX_DISKS);
    return;
  }
  struct imp_disk *id = &r->disks[r->n_disks];
  snprintf(id->src, sizeof(id->src), "%s", file);
  const char *fmt = drv ? xml_attr(drv, "type") : NULL;
  snprintf(id->format, sizeof(id->format), "%s", fmt ? fmt : "");
  const char *bus = tgt ? xml_attr(tgt, "bus") : NULL;
  bool ok;
  iface_parse(lv_bus_iface(bus, arch, &ok), &id->iface);
  if (!ok)
    imp_unmapped(r, "devices/disk/target/@bus", "%s (%s): attached as virtio", bus, file);
  if (xml_child(d, "readonly", NULL))
    imp_unmapped(r, "devices/disk/readonly", "%s: attached read-write", file);
  if (xml_child(d, "shareable", NULL))
    imp_unmapped(r, "devices/disk/shareable", "%s", file);
  r->n_disks++;
}

static void lv_interface(struct imp_result *r, struct xml_node *n, bool first) {
  const char *type = xml_attr(n, "type");
  struct xml_node *model = xml_child(n, "model", NULL), *mac = xml_child(n, "mac", NULL);
  const char *m = model ? xml_attr(model, "type") : NULL;
  if (!first) {
    imp_unmapped(r, "devices/interface", "%s%s%s (one network card only)", type ? type : "?", m ? " " : "",
                 m ? m : "");
    return;
  }
  json_t *net = json_pack("{s:s}", "mode", "user");
  if (type && strcmp(type, "user") != 0)
    imp_unmapped(r, "devices/interface/@type", "%s: user networking (NAT) instead", type);
  if (m) {
    const char *nic = strcmp(m, "virtio") == 0    ? "virtio-net-pci"
                      : strcmp(m, "e1000e") == 0  ? "e1000e"
                      : strcmp(m, "e1000") == 0   ? "e1000"
                      : strcmp(m, "rtl8139") == 0 ? "rtl8139"
                                                  : NULL;
    if (nic)
      json_object_set_new(net, "nic", json_string(nic));
    else
      imp_unmapped(r, "devices/interface/model/@type", "%s", m);
  }
  if (mac && xml_attr(mac, "address"))
    imp_unmapped(r, "devices/interface/mac/@address", "%s (the VM gets its own)", xml_attr(mac, "address"));
  json_t *fw = json_array();
  for (struct xml_node *pf = xml_child(n, "portForward", NULL); pf; pf = xml_child(n, "portForward", pf)) {
    const char *proto = xml_attr(pf, "proto");
    for (struct xml_node *rg = xml_child(pf, "range", NULL); rg; rg = xml_child(pf, "range", rg)) {
      uint64_t hp = 0, gp = 0;
      const char *to = xml_attr(rg, "to");
      if (!imp_u64(xml_attr(rg, "start"), 65535, &hp) || hp == 0 || (to && !imp_u64(to, 65535, &gp)) ||
          (xml_attr(rg, "end") && strcmp(xml_attr(rg, "end"), xml_attr(rg, "start")) != 0) ||
          json_array_size(fw) >= VM_MAX_FORWARDS) {
        imp_unmapped(r, "devices/interface/portForward/range", "start %s",
                     xml_attr(rg, "start") ? "set" : "absent");
        continue;
      }
      if (!to)
        gp = hp;
      json_array_append_new(fw, json_pack("{s:s, s:I, s:I}", "proto",
                                          proto && strcmp(proto, "udp") == 0 ? "udp" : "tcp", "host_port",
                                          (json_int_t)hp, "guest_port", (json_int_t)gp));
    }
  }
  json_object_set_new(net, "forwards", fw);
  json_object_set_new(r->config, "network", net);
}

static const char *lv_video(const char *m, vm_arch arch) {
  bool arm = arch == VM_ARCH_AARCH64;
  if (!m)
    return NULL;
  if (strcmp(m, "virtio") == 0)
    return arm ? "virtio-gpu" : "virtio-vga";
  if (strcmp(m, "vga") == 0 && !arm)
    return "std";
  if (strcmp(m, "cirrus") == 0 && !arm)
    return "cirrus";
  if (strcmp(m, "ramfb") == 0 && arm)
    return "ramfb";
  return NULL;
}

static void lv_devices(struct imp_result *r, struct xml_node *devs, vm_arch arch) {
  bool have_cdrom = false, have_net = false, have_video = false;
  json_t *shares = json_array();
  for (struct xml_node *d = xml_child(devs, NULL, NULL); d; d = xml_child(devs, NULL, d)) {
    const char *n = d->name;
    if (strcmp(n, "disk") == 0) {
      lv_disk(r, d, arch, &have_cdrom);
    } else if (strcmp(n, "interface") == 0) {
      lv_interface(r, d, !have_net);
      have_net = true;
    } else if (strcmp(n, "video") == 0) {
      struct xml_node *model = xml_child(d, "model", NULL);
      const char *m = model ? xml_attr(model, "type") : NULL;
      const char *disp = lv_video(m, arch);
      if (disp && !have_video)
        set_str(r, "display", disp);
      else if (m && strcmp(m, "none") != 0)
        imp_unmapped(r, "devices/video/model/@type", "%s", m);
      have_video = true;
    } else if (strcmp(n, "graphics") == 0) {
      const char *t = xml_attr(d, "type");
      if (!t || strcmp(t, "vnc") != 0)
        imp_unmapped(r, "devices/graphics/@type", "%s: the console is VNC", t ? t : "?");
    } else if (strcmp(n, "sound") == 0) {
      json_object_set_new(r->config, "audio", json_true());
    } else if (strcmp(n, "tpm") == 0) {
      json_object_set_new(r->config, "tpm", json_true());
    } else if (strcmp(n, "channel") == 0) {
      struct xml_node *t = xml_child(d, "target", NULL);
      const char *name = t ? xml_attr(t, "name") : NULL;
      if (name && strcmp(name, "org.qemu.guest_agent.0") == 0)
        json_object_set_new(r->config, "guest_agent", json_true());
      else
        imp_unmapped(r, "devices/channel", "%s",
                     name ? name : (xml_attr(d, "type") ? xml_attr(d, "type") : "?"));
    } else if (strcmp(n, "filesystem") == 0) {
      struct xml_node *s = xml_child(d, "source", NULL), *t = xml_child(d, "target", NULL),
                      *drv = xml_child(d, "driver", NULL);
      const char *dir = s ? xml_attr(s, "dir") : NULL, *tag = t ? xml_attr(t, "dir") : NULL;
      if (!dir || !tag || json_array_size(shares) >= VM_MAX_SHARES) {
        imp_unmapped(r, "devices/filesystem", "%s", dir ? dir : "no source dir");
        continue;
      }
      json_t *sh = json_pack(
          "{s:s?, s:s?, s:b, s:s}", "path", dir, "tag", tag, "readonly",
          xml_child(d, "readonly", NULL) != NULL, "mode",
          drv && xml_attr(drv, "type") && strcmp(xml_attr(drv, "type"), "virtiofs") == 0 ? "virtiofs" : "9p");
      if (sh)
        json_array_append_new(shares, sh);
    } else if (strcmp(n, "emulator") == 0 || strcmp(n, "controller") == 0 || strcmp(n, "input") == 0 ||
               strcmp(n, "memballoon") == 0 || strcmp(n, "serial") == 0 || strcmp(n, "console") == 0) {
      /* provided anyway (see the file's comment) */
    } else {
      const char *t = xml_attr(d, "model") ? xml_attr(d, "model") : xml_attr(d, "type");
      char field[96];
      snprintf(field, sizeof(field), "devices/%.80s", n);
      imp_unmapped(r, field, "%s", t ? t : "");
    }
  }
  if (!have_net)
    json_object_set_new(r->config, "network", json_pack("{s:s}", "mode", "none"));
  if (json_array_size(shares))
    json_object_set_new(r->config, "shared_folders", shares);
  else
    json_decref(shares);
}

static int lv_arch(const char *a, vm_arch *out) {
  if (!a || strcmp(a, "x86_64") == 0)
    *out = VM_ARCH_X86_64;
  else if (strcmp(a, "i686") == 0 || strcmp(a, "i386") == 0)
    *out = VM_ARCH_I386;
  else if (strcmp(a, "aarch64") == 0)
    *out = VM_ARCH_AARCH64;
  else
    return -1;
  return 0;
}

static void lv_os(struct imp_result *r, struct xml_node *os, vm_arch arch) {
  struct xml_node *type = xml_child(os, "type", NULL);
  const char *machine = type ? xml_attr(type, "machine") : NULL;
  static const char *const want[VM_ARCH__N] = {"q35", "pc", "virt"};
  if (machine && strncmp(machine, want[arch], strlen(want[arch])) != 0 &&
      !(arch == VM_ARCH_I386 && strncmp(machine, "pc-i440fx", 9) == 0))
    imp_unmapped(r, "os/type/@machine", "%s: %s is used", machine, want[arch]);
  const char *fw = xml_attr(os, "firmware");
  struct xml_node *loader = xml_child(os, "loader", NULL);
  bool uefi = (fw && strcmp(fw, "efi") == 0) ||
              (loader && xml_attr(loader, "type") && strcmp(xml_attr(loader, "type"), "pflash") == 0);
  if (uefi && arch == VM_ARCH_X86_64)
    set_str(r, "firmware", "uefi");
  else if (uefi && arch == VM_ARCH_I386)
    imp_unmapped(r, "os/firmware", "efi: i386 guests boot with SeaBIOS");
  if (loader && xml_attr(loader, "secure") && strcmp(xml_attr(loader, "secure"), "yes") == 0 &&
      arch == VM_ARCH_X86_64)
    json_object_set_new(r->config, "secure_boot", json_true());
  json_t *boot = json_array();
  for (struct xml_node *b = xml_child(os, "boot", NULL); b; b = xml_child(os, "boot", b)) {
    const char *dev = xml_attr(b, "dev");
    const char *m = !dev                          ? NULL
                    : strcmp(dev, "hd") == 0      ? "disk"
                    : strcmp(dev, "cdrom") == 0   ? "cdrom"
                    : strcmp(dev, "network") == 0 ? "network"
                                                  : NULL;
    bool dup = false;
    size_t i;
    json_t *e;
    json_array_foreach(boot, i, e) dup |= m && strcmp(json_string_value(e), m) == 0;
    if (m && !dup && json_array_size(boot) < VM_MAX_BOOT)
      json_array_append_new(boot, json_string(m));
    else if (!m)
      imp_unmapped(r, "os/boot/@dev", "%s", dev ? dev : "");
  }
  if (json_array_size(boot))
    json_object_set_new(r->config, "boot_order", boot);
  else
    json_decref(boot);
  char k[4096], i[4096], c[VM_KERNEL_CMDLINE_MAX + 1];
  if (xml_child_text(os, "kernel", k, sizeof(k)) && *k) {
    json_t *kb = json_pack("{s:s?}", "kernel", k);
    if (kb && xml_child_text(os, "initrd", i, sizeof(i)) && *i)
      json_object_set_new(kb, "initrd", json_string(i));
    if (kb && xml_child_text(os, "cmdline", c, sizeof(c)))
      json_object_set_new(kb, "cmdline", json_string(c));
    if (kb)
      json_object_set_new(r->config, "kernel_boot", kb);
  }
}

int imp_libvirt(const char *xml, size_t len, struct imp_result *r, char *err, size_t errlen) {
  char why[160], t[256];
  struct xml_node *dom = xml_parse(xml, len, why, sizeof(why));
  if (!dom) {
    snprintf(err, errlen, "domain: %s", why);
    return -1;
  }
  if (strcmp(dom->name, "domain") != 0) {
    snprintf(err, errlen, "domain: the root element is <%.64s>, not a libvirt <domain>", dom->name);
    xml_free(dom);
    return -1;
  }
  imp_init(r, IMP_LIBVIRT);
  struct xml_node *os = xml_child(dom, "os", NULL);
  struct xml_node *ostype = xml_child(os, "type", NULL);
  vm_arch arch;
  if (lv_arch(ostype ? xml_attr(ostype, "arch") : NULL, &arch) < 0) {
    snprintf(err, errlen, "os.type.arch: %.64s guests are not supported (x86_64, i686, aarch64)",
             xml_attr(ostype, "arch"));
    goto fail;
  }
  set_str(r, "arch", vm_arch_name(arch));
  if (xml_child_text(dom, "name", t, sizeof(t)) && vm_name_valid(t))
    set_str(r, "name", t);
  struct xml_node *mem = xml_child(dom, "memory", NULL);
  uint64_t mib;
  if (mem) {
    if (!lv_mib(mem, &mib) || mib < 64) {
      snprintf(err, errlen, "memory: not a size of 64 MiB or more");
      goto fail;
    }
    json_object_set_new(r->config, "memory_mib", json_integer((json_int_t)mib));
  }
  struct xml_node *cur = xml_child(dom, "currentMemory", NULL);
  uint64_t cmib;
  if (cur && mem && lv_mib(cur, &cmib) && cmib != mib)
    imp_unmapped(r, "currentMemory", "%llu MiB (balloon target): the VM gets memory",
                 (unsigned long long)cmib);
  uint64_t cpus;
  if (xml_child_text(dom, "vcpu", t, sizeof(t))) {
    if (!imp_u64(t, 255, &cpus) || cpus == 0) {
      snprintf(err, errlen, "vcpu: not a count of 1-255");
      goto fail;
    }
    json_object_set_new(r->config, "cpus", json_integer((json_int_t)cpus));
  }
  if (os)
    lv_os(r, os, arch);
  struct xml_node *clock = xml_child(dom, "clock", NULL);
  const char *off = clock ? xml_attr(clock, "offset") : NULL;
  if (off && strcmp(off, "localtime") == 0)
    set_str(r, "rtc", "localtime");
  else if (off && strcmp(off, "utc") != 0)
    imp_unmapped(r, "clock/@offset", "%s: UTC is used", off);
  if (xml_child_text(dom, "uuid", t, sizeof(t)))
    imp_unmapped(r, "uuid", "%s (the VM gets a new one)", t);
  static const char *const listed[] = {"title",         "description", "cpu",     "memtune",   "cputune",
                                       "numatune",      "resource",    "sysinfo", "iothreads", "blkiotune",
                                       "memoryBacking", "seclabel",    "pm",      "idmap",     "keywrap"};
  for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
    struct xml_node *n = xml_child(dom, listed[i], NULL);
    if (n)
      imp_unmapped(r, listed[i], "%s", xml_attr(n, "mode") ? xml_attr(n, "mode") : xml_text(n, t, 120));
  }
  struct xml_node *feat = xml_child(dom, "features", NULL);
  for (struct xml_node *f = xml_child(feat, NULL, NULL); f; f = xml_child(feat, NULL, f))
    if (strcmp(f->name, "acpi") && strcmp(f->name, "apic") && strcmp(f->name, "pae"))
      imp_unmapped(r, "features", "%.100s", f->name);
  static const char *const life[][2] = {
      {"on_poweroff", "destroy"}, {"on_reboot", "restart"}, {"on_crash", "destroy"}};
  for (size_t i = 0; i < 3; i++)
    if (xml_child_text(dom, life[i][0], t, sizeof(t)) && strcmp(t, life[i][1]) != 0)
      imp_unmapped(r, life[i][0], "%s", t);
  struct xml_node *devs = xml_child(dom, "devices", NULL);
  lv_devices(r, devs, arch);
  if (!json_object_get(r->config, "boot_order"))
    json_object_set_new(r->config, "boot_order",
                        r->n_disks ? json_pack("[s, s]", "disk", "cdrom") : json_pack("[s]", "cdrom"));
  xml_free(dom);
  return 0;
fail:
  xml_free(dom);
  imp_result_free(r);
  return -1;
}
