/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_import_ovf: the OVF envelope and UTM config.plist readers (vm_import.h). Pure.
 *
 * OVF: DMTF DSP0243 "Open Virtualization Format Specification" 2.1.1: Envelope/References/File
 * (ovf:id, ovf:href, ovf:compression), Envelope/DiskSection/Disk (ovf:diskId, ovf:fileRef,
 * ovf:format), Envelope/VirtualSystem (ovf:id, Name), VirtualHardwareSection/Item with the CIM
 * RASD properties of DSP1043 / CIM_ResourceAllocationSettingData: ResourceType (3 processor,
 * 4 memory, 5 IDE controller, 6 parallel SCSI HBA, 10 Ethernet adapter, 15/16 CD/DVD drive,
 * 17 disk drive, 20 other storage (SATA), 24 graphics controller, 35 sound card), InstanceID,
 * Parent, HostResource ("ovf:/disk/ID"), VirtualQuantity, AllocationUnits (DSP0004 programmatic
 * units, "byte * 2^20"), ResourceSubType; VMware's vmw:Config key "firmware" (value "efi").
 *
 * UTM: the keys of UTM's QEMU configuration (utmapp/UTM, the CodingKeys of
 * Configuration/UTMQemuConfiguration*.swift): Backend, ConfigurationVersion; Information.Name, .UUID;
 * System.Architecture, .Target, .CPU, .CPUCount, .CPUFlagsAdd, .CPUFlagsRemove, .MemorySize (MiB),
 * .ForceMulticore, .JITCacheSize; QEMU.UEFIBoot, .TPMDevice, .RTCLocalTime, .AdditionalArguments, ...;
 * Drive[].ImageName, .ImageType ("Disk", "CD", ...), .Interface ("VirtIO", "IDE", "NVMe", "USB", "SCSI",
 * ...), .ReadOnly; Network[].Mode ("Emulated", "Shared", "Host", "Bridged"), .Hardware, .MacAddress,
 * .PortForward[] (Protocol "TCP"/"UDP", HostPort, GuestPort, HostAddress, GuestAddress);
 * Display[].Hardware; Sound[]; Serial[]; Sharing.DirectoryShareMode.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "vm_import.h"
#include "xml_tree.h"

/* ---- OVF ---- */

#define OVF_MAX_ITEMS 256

struct ovf_item {
  struct xml_node *n;
  unsigned type;
  char id[64], parent[64];
};

/* MiB from a VirtualQuantity in AllocationUnits ("byte * 2^20", "MegaBytes", "byte * 2^30", ...). */
static bool ovf_mib(const char *qty, const char *units, uint64_t *mib) {
  uint64_t q;
  if (!imp_u64(qty, UINT32_MAX, &q))
    return false;
  int shift = 20; /* DSP0243: memory in MiB when no units are given (VirtualBox's "MegaBytes") */
  if (units) {
    const char *p = strstr(units, "2^");
    if (p)
      shift = atoi(p + 2);
    else if (strstr(units, "Giga"))
      shift = 30;
    else if (strstr(units, "Kilo"))
      shift = 10;
    else if (!strstr(units, "Mega"))
      return false;
  }
  if (shift < 0 || shift > 40)
    return false;
  uint64_t bytes = q << shift;
  if (shift >= 20 && q > (UINT64_MAX >> shift))
    return false;
  *mib = bytes >> 20;
  return true;
}

static const char *ovf_item_text(struct xml_node *it, const char *name, char *buf, size_t len) {
  return xml_child_text(it, name, buf, len);
}

int imp_ovf(const char *xml, size_t len, struct imp_result *r, char *err, size_t errlen) {
  char why[160], t[512];
  struct xml_node *env = xml_parse(xml, len, why, sizeof(why));
  if (!env) {
    snprintf(err, errlen, "ovf: %s", why);
    return -1;
  }
  if (strcmp(env->name, "Envelope") != 0) {
    snprintf(err, errlen, "ovf: the root element is <%.64s>, not an OVF <Envelope>", env->name);
    xml_free(env);
    return -1;
  }
  imp_init(r, IMP_OVF);
  struct ovf_item *items = xcalloc(OVF_MAX_ITEMS, sizeof(*items));
  size_t n_items = 0;
  struct xml_node *vs = xml_child(env, "VirtualSystem", NULL);
  if (!vs) {
    struct xml_node *coll = xml_child(env, "VirtualSystemCollection", NULL);
    snprintf(err, errlen, "ovf: %s",
             coll ? "a VirtualSystemCollection (several VMs) is not supported" : "no VirtualSystem");
    goto fail;
  }
  if (xml_child(env, "VirtualSystem", vs))
    imp_unmapped(r, "Envelope/VirtualSystem", "more than one: the first is imported");
  const char *name = xml_child_text(vs, "Name", t, sizeof(t));
  if (!name || !*name)
    name = xml_attr(vs, "id");
  if (name && vm_name_valid(name)) {
    json_t *s = json_string(name);
    if (s)
      json_object_set_new(r->config, "name", s);
  }
  const char *arch = "x86_64";
  struct xml_node *oss = xml_child(vs, "OperatingSystemSection", NULL);
  const char *ostype = oss ? xml_attr(oss, "osType") : NULL;
  if (ostype && (strstr(ostype, "arm64") || strstr(ostype, "Arm64") || strstr(ostype, "aarch64") ||
                 strncmp(ostype, "arm-", 4) == 0))
    arch = "aarch64";
  json_object_set_new(r->config, "arch", json_string(arch));
  bool arm = strcmp(arch, "aarch64") == 0;
  struct xml_node *hw = xml_child(vs, "VirtualHardwareSection", NULL);
  if (!hw) {
    snprintf(err, errlen, "ovf: VirtualSystem has no VirtualHardwareSection");
    goto fail;
  }
  for (struct xml_node *it = xml_child(hw, NULL, NULL); it; it = xml_child(hw, NULL, it)) {
    if (strcmp(it->name, "Config") == 0) { /* VMware: <vmw:Config vmw:key=... vmw:value=...> */
      const char *k = xml_attr(it, "key"), *v = xml_attr(it, "value");
      if (k && v && strcmp(k, "firmware") == 0 && strcmp(v, "efi") == 0 && !arm)
        json_object_set_new(r->config, "firmware", json_string("uefi"));
      else if (k)
        imp_unmapped(r, "VirtualHardwareSection/Config", "%.200s=%.200s", k, v ? v : "");
      continue;
    }
    if (strcmp(it->name, "Item") != 0 && strcmp(it->name, "StorageItem") != 0 &&
        strcmp(it->name, "EthernetPortItem") != 0)
      continue;
    if (n_items >= OVF_MAX_ITEMS) {
      snprintf(err, errlen, "ovf: more than %d hardware items", OVF_MAX_ITEMS);
      goto fail;
    }
    struct ovf_item *x = &items[n_items++];
    x->n = it;
    uint64_t rt = 0;
    if (!imp_u64(ovf_item_text(it, "ResourceType", t, sizeof(t)), 65535, &rt)) {
      if (strcmp(it->name, "EthernetPortItem") == 0)
        rt = 10;
      else if (strcmp(it->name, "StorageItem") == 0)
        rt = 17;
    }
    x->type = (unsigned)rt;
    ovf_item_text(it, "InstanceID", x->id, sizeof(x->id));
    ovf_item_text(it, "Parent", x->parent, sizeof(x->parent));
  }
  /* disks by id: DiskSection/Disk -> References/File */
  struct xml_node *refs = xml_child(env, "References", NULL), *dsec = xml_child(env, "DiskSection", NULL);
  bool have_net = false, have_cd = false;
  for (size_t i = 0; i < n_items; i++) {
    struct ovf_item *x = &items[i];
    char q[64], u[64], sub[128], en[128];
    const char *qty = ovf_item_text(x->n, "VirtualQuantity", q, sizeof(q));
    const char *units = ovf_item_text(x->n, "AllocationUnits", u, sizeof(u));
    const char *subtype = ovf_item_text(x->n, "ResourceSubType", sub, sizeof(sub));
    const char *ename = ovf_item_text(x->n, "ElementName", en, sizeof(en));
    uint64_t v;
    switch (x->type) {
    case 3: /* processor */
      if (!imp_u64(qty, 255, &v) || v == 0) {
        snprintf(err, errlen, "ovf: the processor item's VirtualQuantity is not 1-255");
        goto fail;
      }
      json_object_set_new(r->config, "cpus", json_integer((json_int_t)v));
      break;
    case 4: /* memory */
      if (!ovf_mib(qty, units, &v) || v < 64 || v > 4194304) {
        snprintf(err, errlen, "ovf: the memory item is not a size of 64 MiB or more");
        goto fail;
      }
      json_object_set_new(r->config, "memory_mib", json_integer((json_int_t)v));
      break;
    case 5:  /* IDE controller */
    case 6:  /* SCSI HBA */
    case 20: /* other storage: SATA/AHCI */
    case 23: /* USB controller */
    case 1:  /* other */
      break;
    case 10: /* Ethernet */
      if (have_net) {
        imp_unmapped(r, "Item[ResourceType=10]", "%s (one network card only)", ename ? ename : "");
        break;
      }
      have_net = true;
      {
        const char *nic = NULL;
        if (subtype && (strcasecmp(subtype, "E1000") == 0 || strcasecmp(subtype, "VirtualE1000") == 0))
          nic = "e1000";
        else if (subtype && (strcasecmp(subtype, "E1000e") == 0 || strcasecmp(subtype, "VirtualE1000e") == 0))
          nic = "e1000e";
        else if (subtype && strcasecmp(subtype, "virtio") == 0)
          nic = "virtio-net-pci";
        else if (subtype && *subtype)
          imp_unmapped(r, "Item[ResourceType=10]/ResourceSubType", "%s: the default card is used", subtype);
        if (nic && arm && strcmp(nic, "virtio-net-pci") && strcmp(nic, "e1000e"))
          nic = NULL;
        json_object_set_new(r->config, "network",
                            nic ? json_pack("{s:s, s:s}", "mode", "user", "nic", nic)
                                : json_pack("{s:s}", "mode", "user"));
        char conn[128];
        if (ovf_item_text(x->n, "Connection", conn, sizeof(conn)) && *conn)
          imp_unmapped(r, "Item[ResourceType=10]/Connection", "%s: user networking (NAT) instead", conn);
      }
      break;
    case 15:
    case 16: /* CD/DVD */
      if (have_cd)
        imp_unmapped(r, "Item[ResourceType=15/16]", "one CD-ROM drive only");
      have_cd = true;
      {
        char hr[256];
        if (ovf_item_text(x->n, "HostResource", hr, sizeof(hr)) && *hr)
          imp_unmapped(r, "Item[ResourceType=15/16]/HostResource", "%s: the CD-ROM drive starts empty", hr);
      }
      break;
    case 17: { /* disk drive */
      char hr[256];
      if (!ovf_item_text(x->n, "HostResource", hr, sizeof(hr))) {
        imp_unmapped(r, "Item[ResourceType=17]", "%s: no HostResource", ename ? ename : "");
        break;
      }
      const char *did = strncmp(hr, "ovf:/disk/", 10) == 0 ? hr + 10
                        : strncmp(hr, "/disk/", 6) == 0    ? hr + 6
                                                           : NULL;
      struct xml_node *disk = NULL;
      for (struct xml_node *d = xml_child(dsec, "Disk", NULL); did && d; d = xml_child(dsec, "Disk", d))
        if (xml_attr(d, "diskId") && strcmp(xml_attr(d, "diskId"), did) == 0)
          disk = d;
      const char *fref = disk ? xml_attr(disk, "fileRef") : NULL;
      struct xml_node *file = NULL;
      for (struct xml_node *f = xml_child(refs, "File", NULL); fref && f; f = xml_child(refs, "File", f))
        if (xml_attr(f, "id") && strcmp(xml_attr(f, "id"), fref) == 0)
          file = f;
      const char *href = file ? xml_attr(file, "href") : NULL;
      if (!href) {
        snprintf(err, errlen, "ovf: disk item %.64s names no file of References (HostResource %.100s)", x->id,
                 hr);
        goto fail;
      }
      if (xml_attr(file, "compression") && strcmp(xml_attr(file, "compression"), "identity") != 0) {
        snprintf(err, errlen, "ovf: File %.100s is compressed (%.32s): not supported", href,
                 xml_attr(file, "compression"));
        goto fail;
      }
      if (xml_attr(file, "chunkSize")) {
        snprintf(err, errlen, "ovf: File %.100s is split in chunks: not supported", href);
        goto fail;
      }
      if (r->n_disks >= VM_MAX_DISKS) {
        imp_unmapped(r, "Item[ResourceType=17]", "%s: at most %d disks", href, VM_MAX_DISKS);
        break;
      }
      struct imp_disk *id = &r->disks[r->n_disks++];
      snprintf(id->src, sizeof(id->src), "%s", href);
      const char *fmt = disk ? xml_attr(disk, "format") : NULL;
      snprintf(id->format, sizeof(id->format), "%s",
               !fmt                  ? ""
               : strstr(fmt, "vmdk") ? "vmdk"
               : strstr(fmt, "qcow") ? "qcow2"
               : strstr(fmt, "raw")  ? "raw"
                                     : "?");
      if (strcmp(id->format, "?") == 0) {
        snprintf(err, errlen, "ovf: Disk format %.200s is not supported", fmt);
        goto fail;
      }
      /* the bus: the parent controller's type */
      unsigned ptype = 0;
      for (size_t j = 0; j < n_items; j++)
        if (x->parent[0] && strcmp(items[j].id, x->parent) == 0)
          ptype = items[j].type;
      id->iface = VM_DISK_IF_VIRTIO;
      if (!arm && ptype == 5)
        id->iface = VM_DISK_IF_IDE;
      else if (!arm && ptype == 20)
        id->iface = VM_DISK_IF_AHCI;
      else if (ptype == 6)
        imp_unmapped(r, "Item[ResourceType=6]", "SCSI controller of %s: attached as virtio", href);
      break;
    }
    case 24: /* graphics */
      break;
    case 35: /* sound */
      json_object_set_new(r->config, "audio", json_true());
      break;
    default: {
      char field[64];
      snprintf(field, sizeof(field), "Item[ResourceType=%u]", x->type);
      imp_unmapped(r, field, "%s", ename ? ename : (subtype ? subtype : ""));
    }
    }
  }
  if (!have_net)
    json_object_set_new(r->config, "network", json_pack("{s:s}", "mode", "none"));
  json_object_set_new(r->config, "boot_order",
                      r->n_disks ? json_pack("[s, s]", "disk", "cdrom") : json_pack("[s]", "cdrom"));
  static const char *const sections[] = {"ProductSection",          "EulaSection",
                                         "AnnotationSection",       "StartupSection",
                                         "DeploymentOptionSection", "Machine"};
  for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
    if (xml_child(vs, sections[i], NULL) || xml_child(env, sections[i], NULL))
      imp_unmapped(r, sections[i], "%s",
                   strcmp(sections[i], "Machine") == 0 ? "VirtualBox's own settings" : "");
  free(items);
  xml_free(env);
  return 0;
fail:
  free(items);
  xml_free(env);
  imp_result_free(r);
  return -1;
}

/* ---- plist ---- */

static json_t *plist_value(struct xml_node *n, unsigned depth, char *err, size_t errlen) {
  char t[1024];
  if (depth > 32) {
    snprintf(err, errlen, "nested too deep");
    return NULL;
  }
  if (strcmp(n->name, "dict") == 0) {
    json_t *o = json_object();
    for (struct xml_node *k = xml_child(n, NULL, NULL); k; k = xml_child(n, NULL, k)) {
      struct xml_node *v = k->next;
      if (strcmp(k->name, "key") != 0 || !v) {
        snprintf(err, errlen, "a dict entry without a key and a value");
        json_decref(o);
        return NULL;
      }
      json_t *jv = plist_value(v, depth + 1, err, errlen);
      if (!jv) {
        json_decref(o);
        return NULL;
      }
      xml_text(k, t, sizeof(t));
      json_object_set_new(o, t, jv);
      k = v;
    }
    return o;
  }
  if (strcmp(n->name, "array") == 0) {
    json_t *a = json_array();
    for (struct xml_node *c = xml_child(n, NULL, NULL); c; c = xml_child(n, NULL, c)) {
      json_t *jv = plist_value(c, depth + 1, err, errlen);
      if (!jv) {
        json_decref(a);
        return NULL;
      }
      json_array_append_new(a, jv);
    }
    return a;
  }
  if (strcmp(n->name, "true") == 0)
    return json_true();
  if (strcmp(n->name, "false") == 0)
    return json_false();
  if (strcmp(n->name, "integer") == 0) {
    xml_text(n, t, sizeof(t));
    char *end;
    long long v = strtoll(t, &end, 10);
    if (!*t || *end) {
      snprintf(err, errlen, "an integer that is not one");
      return NULL;
    }
    return json_integer(v);
  }
  if (strcmp(n->name, "real") == 0)
    return json_real(atof(xml_text(n, t, sizeof(t))));
  if (strcmp(n->name, "string") == 0 || strcmp(n->name, "data") == 0 || strcmp(n->name, "date") == 0) {
    json_t *s = json_stringn(n->text, n->text_len);
    return s ? s : json_string("");
  }
  snprintf(err, errlen, "an unknown element <%.64s>", n->name);
  return NULL;
}

json_t *imp_plist_to_json(const char *plist, size_t len, char *err, size_t errlen) {
  char why[160];
  struct xml_node *root = xml_parse(plist, len, why, sizeof(why));
  if (!root) {
    snprintf(err, errlen, "%s", why);
    return NULL;
  }
  json_t *j = NULL;
  struct xml_node *v = xml_child(root, NULL, NULL);
  if (strcmp(root->name, "plist") != 0 || !v)
    snprintf(err, errlen, "not a property list");
  else
    j = plist_value(v, 0, err, errlen);
  xml_free(root);
  return j;
}

/* ---- UTM ---- */

static const char *jstr(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void utm_unmapped_extras(struct imp_result *r, json_t *o, const char *sect,
                                const char *const *mapped) {
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    bool m = false;
    for (size_t i = 0; mapped[i]; i++)
      m |= strcmp(mapped[i], k) == 0;
    if (m)
      continue;
    /* a setting that is on, set or non-empty; false, 0 and empty ones change nothing */
    if (json_is_false(v) || json_is_null(v) || (json_is_integer(v) && !json_integer_value(v)) ||
        (json_is_array(v) && !json_array_size(v)) || (json_is_string(v) && !*json_string_value(v)) ||
        (json_is_object(v) && !json_object_size(v)))
      continue;
    char field[160], *val = json_is_string(v) ? xstrdup(json_string_value(v))
                                              : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(field, sizeof(field), "%s.%.100s", sect, k);
    imp_unmapped(r, field, "%.200s", val ? val : "");
    free(val);
  }
}

int imp_utm(const char *plist, size_t len, struct imp_result *r, char *err, size_t errlen) {
  char why[160];
  json_t *c = imp_plist_to_json(plist, len, why, sizeof(why));
  if (!c) {
    snprintf(err, errlen, "config.plist: %s", why);
    return -1;
  }
  if (!json_is_object(c)) {
    snprintf(err, errlen, "config.plist: not a dictionary");
    json_decref(c);
    return -1;
  }
  imp_init(r, IMP_UTM);
  const char *backend = jstr(c, "Backend");
  if (backend && strcmp(backend, "QEMU") != 0) {
    snprintf(err, errlen, "config.plist: Backend %.32s (Apple Virtualization) VMs cannot run on QEMU",
             backend);
    goto fail;
  }
  json_t *ver = json_object_get(c, "ConfigurationVersion");
  if (!json_is_integer(ver) || json_integer_value(ver) < 4) {
    snprintf(err, errlen, "config.plist: ConfigurationVersion %s: UTM 3 and later (version 4+) only",
             json_is_integer(ver) ? "below 4" : "missing");
    goto fail;
  }
  json_t *info = json_object_get(c, "Information"), *sys = json_object_get(c, "System"),
         *qemu = json_object_get(c, "QEMU");
  const char *name = jstr(info, "Name");
  if (name && vm_name_valid(name))
    json_object_set_new(r->config, "name", json_string(name));
  if (jstr(info, "UUID"))
    imp_unmapped(r, "Information.UUID", "%.64s (the VM gets a new one)", jstr(info, "UUID"));
  const char *arch = jstr(sys, "Architecture");
  if (!arch || (strcmp(arch, "x86_64") && strcmp(arch, "i386") && strcmp(arch, "aarch64"))) {
    snprintf(err, errlen, "config.plist: System.Architecture %.32s is not supported (x86_64, i386, aarch64)",
             arch ? arch : "missing");
    goto fail;
  }
  bool arm = strcmp(arch, "aarch64") == 0, x86 = !arm;
  json_object_set_new(r->config, "arch", json_string(arch));
  const char *target = jstr(sys, "Target");
  if (target && !(strncmp(target, strcmp(arch, "x86_64") == 0 ? "q35" : arm ? "virt" : "pc", 2) == 0))
    imp_unmapped(r, "System.Target", "%.64s", target);
  json_t *mem = json_object_get(sys, "MemorySize");
  if (json_is_integer(mem)) {
    if (json_integer_value(mem) < 64 || json_integer_value(mem) > 4194304) {
      snprintf(err, errlen, "config.plist: System.MemorySize is not 64-4194304 MiB");
      goto fail;
    }
    json_object_set_new(r->config, "memory_mib", json_integer(json_integer_value(mem)));
  }
  json_t *cpus = json_object_get(sys, "CPUCount");
  if (json_is_integer(cpus) && json_integer_value(cpus) > 0 && json_integer_value(cpus) <= 255)
    json_object_set_new(r->config, "cpus", json_integer(json_integer_value(cpus)));
  else if (cpus)
    imp_unmapped(r, "System.CPUCount", "%lld (0: as many as the host has): the default is used",
                 (long long)json_integer_value(cpus));
  const char *cpu = jstr(sys, "CPU");
  if (cpu && strcmp(cpu, "default") != 0)
    imp_unmapped(r, "System.CPU", "%.64s", cpu);
  static const char *const sys_mapped[] = {"Architecture", "Target", "MemorySize", "CPUCount", "CPU", NULL};
  utm_unmapped_extras(r, sys, "System", sys_mapped);
  if (json_is_true(json_object_get(qemu, "UEFIBoot")) && x86 && strcmp(arch, "x86_64") == 0)
    json_object_set_new(r->config, "firmware", json_string("uefi"));
  if (json_is_true(json_object_get(qemu, "TPMDevice")))
    json_object_set_new(r->config, "tpm", json_true());
  if (json_is_true(json_object_get(qemu, "RTCLocalTime")))
    json_object_set_new(r->config, "rtc", json_string("localtime"));
  /* on by default in UTM and provided here anyway, or about UTM's own host */
  static const char *const qemu_mapped[] = {
      "UEFIBoot",      "TPMDevice",  "RTCLocalTime", "DebugLog",      "RNGDevice",
      "BalloonDevice", "Hypervisor", "TSO",          "PS2Controller", NULL};
  utm_unmapped_extras(r, qemu, "QEMU", qemu_mapped);
  /* drives */
  json_t *drives = json_object_get(c, "Drive"), *d;
  size_t i;
  bool have_cd = false;
  json_array_foreach(drives, i, d) {
    const char *type = jstr(d, "ImageType"), *img = jstr(d, "ImageName"), *ifc = jstr(d, "Interface");
    if (!type)
      continue;
    if (strcmp(type, "CD") == 0) {
      if (img && !have_cd) {
        imp_unmapped(r, "Drive[].ImageName", "%.200s: a CD image in the bundle; attach it as the VM's cdrom",
                     img);
      }
      have_cd = true;
      continue;
    }
    if (strcmp(type, "Disk") != 0) {
      imp_unmapped(r, "Drive[].ImageType", "%.32s%s%.200s", type, img ? " " : "", img ? img : "");
      continue;
    }
    if (!img) {
      imp_unmapped(r, "Drive[]", "a disk outside the bundle (a bookmark): not imported");
      continue;
    }
    if (!*img || strchr(img, '/') || strcmp(img, ".") == 0 || strcmp(img, "..") == 0 || strlen(img) > 255) {
      snprintf(err, errlen, "config.plist: Drive[%zu].ImageName is not a file name", i);
      goto fail;
    }
    if (r->n_disks >= VM_MAX_DISKS) {
      imp_unmapped(r, "Drive[]", "%.200s: at most %d disks", img, VM_MAX_DISKS);
      continue;
    }
    struct imp_disk *id = &r->disks[r->n_disks++];
    snprintf(id->src, sizeof(id->src), "%s", img);
    id->format[0] = 0; /* UTM keeps qcow2 or raw ("isRawImage"), not in the plist: from the bytes */
    id->iface = VM_DISK_IF_VIRTIO;
    if (ifc && strcmp(ifc, "NVMe") == 0)
      id->iface = VM_DISK_IF_NVME;
    else if (ifc && strcmp(ifc, "IDE") == 0 && x86)
      id->iface = strcmp(arch, "x86_64") == 0 ? VM_DISK_IF_AHCI : VM_DISK_IF_IDE;
    else if (ifc && strcmp(ifc, "USB") == 0)
      id->iface = VM_DISK_IF_USB;
    else if (ifc && strcmp(ifc, "VirtIO") != 0)
      imp_unmapped(r, "Drive[].Interface", "%.32s (%.200s): attached as virtio", ifc, img);
    if (json_is_true(json_object_get(d, "ReadOnly")))
      imp_unmapped(r, "Drive[].ReadOnly", "%.200s: attached read-write", img);
  }
  /* network */
  json_t *nets = json_object_get(c, "Network"), *net = json_array_get(nets, 0);
  if (!net) {
    json_object_set_new(r->config, "network", json_pack("{s:s}", "mode", "none"));
  } else {
    json_t *jn = json_pack("{s:s}", "mode", "user");
    const char *mode = jstr(net, "Mode"), *hw = jstr(net, "Hardware");
    if (mode && strcmp(mode, "Emulated") != 0 && strcmp(mode, "Shared") != 0)
      imp_unmapped(r, "Network[].Mode", "%.32s: user networking (NAT) instead", mode);
    static const char *const nics[] = {"e1000e", "e1000", "rtl8139", "virtio-net-pci"};
    bool found = false;
    for (size_t k = 0; hw && k < 4; k++)
      if (strcmp(hw, nics[k]) == 0 && (!arm || k == 0 || k == 3)) {
        json_object_set_new(jn, "nic", json_string(nics[k]));
        found = true;
      }
    if (hw && !found)
      imp_unmapped(r, "Network[].Hardware", "%.64s: the default card is used", hw);
    if (jstr(net, "MacAddress"))
      imp_unmapped(r, "Network[].MacAddress", "%.32s (the VM gets its own)", jstr(net, "MacAddress"));
    json_t *fw = json_array(), *pf;
    size_t k;
    json_array_foreach(json_object_get(net, "PortForward"), k, pf) {
      json_t *hp = json_object_get(pf, "HostPort"), *gp = json_object_get(pf, "GuestPort");
      const char *proto = jstr(pf, "Protocol");
      if (!json_is_integer(hp) || !json_is_integer(gp) || json_integer_value(hp) < 1 ||
          json_integer_value(hp) > 65535 || json_integer_value(gp) < 1 || json_integer_value(gp) > 65535 ||
          json_array_size(fw) >= VM_MAX_FORWARDS) {
        imp_unmapped(r, "Network[].PortForward[]", "entry %zu", k);
        continue;
      }
      json_array_append_new(fw, json_pack("{s:s, s:I, s:I}", "proto",
                                          proto && strcmp(proto, "UDP") == 0 ? "udp" : "tcp", "host_port",
                                          json_integer_value(hp), "guest_port", json_integer_value(gp)));
      const char *ha = jstr(pf, "HostAddress");
      if (ha && *ha && strcmp(ha, "127.0.0.1") != 0)
        imp_unmapped(r, "Network[].PortForward[].HostAddress", "%.64s: forwards listen on 127.0.0.1", ha);
    }
    json_object_set_new(jn, "forwards", fw);
    json_object_set_new(r->config, "network", jn);
    for (k = 1; k < json_array_size(nets); k++)
      imp_unmapped(r, "Network[]", "%.64s (one network card only)",
                   jstr(json_array_get(nets, k), "Hardware") ? jstr(json_array_get(nets, k), "Hardware")
                                                             : "");
  }
  /* display */
  json_t *disp = json_array_get(json_object_get(c, "Display"), 0);
  const char *dh = jstr(disp, "Hardware");
  if (dh) {
    const char *m = NULL;
    if (strncmp(dh, "virtio-vga", 10) == 0)
      m = arm ? "virtio-gpu" : "virtio-vga";
    else if (strncmp(dh, "virtio-gpu", 10) == 0)
      m = arm ? "virtio-gpu" : "virtio-vga";
    else if (strcmp(dh, "VGA") == 0 && x86)
      m = "std";
    else if (strcmp(dh, "cirrus-vga") == 0 && x86)
      m = "cirrus";
    else if (strcmp(dh, "ramfb") == 0 && arm)
      m = "ramfb";
    if (m)
      json_object_set_new(r->config, "display", json_string(m));
    else
      imp_unmapped(r, "Display[].Hardware", "%.64s: the default display is used", dh);
  }
  if (json_array_size(json_object_get(c, "Sound")))
    json_object_set_new(r->config, "audio", json_true());
  if (json_array_size(json_object_get(c, "Serial")))
    imp_unmapped(r, "Serial", "%zu serial port(s): the VM has its own serial console",
                 json_array_size(json_object_get(c, "Serial")));
  const char *share = jstr(json_object_get(c, "Sharing"), "DirectoryShareMode");
  if (share && strcmp(share, "None") != 0)
    imp_unmapped(r, "Sharing.DirectoryShareMode", "%.32s: add shared folders after the import", share);
  json_object_set_new(r->config, "boot_order",
                      r->n_disks ? json_pack("[s, s]", "disk", "cdrom") : json_pack("[s]", "cdrom"));
  json_decref(c);
  return 0;
fail:
  json_decref(c);
  imp_result_free(r);
  return -1;
}
