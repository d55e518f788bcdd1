/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_export: the libvirt domain XML and the OVF envelope of a VM (vm_export.h), written by hand
 * with every text and attribute value escaped. Elements from libvirt's formatdomain.html
 * (https://libvirt.org/formatdomain.html) and DSP0243 1.1 / CIM RASD (ResourceType numbers as
 * vm_import_ovf.c reads them). Not carried: the CD-ROM's medium, shared folders and kernel boot
 * files (host paths of this machine), RDP settings and shortcuts, extra QEMU arguments. Pure.
 */
#include "vm_export.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct buf {
  char *p;
  size_t len, cap;
};

static void add(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = xrealloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

/* printf; every %s argument is escaped for XML text and attribute values (all of them here are). */
static void out(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    abort();
  va_end(ap);
  add(b, s, strlen(s));
  free(s);
}

static char *esc(const char *s) {
  struct buf b = {0};
  add(&b, "", 0);
  for (; *s; s++) {
    switch (*s) {
    case '&':
      add(&b, "&amp;", 5);
      break;
    case '<':
      add(&b, "&lt;", 4);
      break;
    case '>':
      add(&b, "&gt;", 4);
      break;
    case '"':
      add(&b, "&quot;", 6);
      break;
    case '\'':
      add(&b, "&apos;", 6);
      break;
    default:
      add(&b, s, 1);
    }
  }
  return b.p;
}

void vm_export_slug(const char *name, char *o, size_t outlen) {
  size_t n = 0;
  for (const char *p = name; *p && n + 1 < outlen && n < 48; p++) {
    char ch = *p;
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || (ch == '.' && n > 0);
    o[n++] = ok ? ch : '_';
  }
  o[n] = 0;
  if (!n)
    snprintf(o, outlen, "vm");
}

static const char *const lv_arch[VM_ARCH__N] = {"x86_64", "i686", "aarch64"};
static const char *const lv_machine[VM_ARCH__N] = {"q35", "pc", "virt"};

char *vm_export_libvirt_xml(const struct vm_config *c, const char *const *disk_files) {
  struct buf b = {0};
  char *name = esc(c->name);
  bool arm = c->arch == VM_ARCH_AARCH64;
  out(&b, "<domain type='qemu'>\n  <name>%s</name>\n  <uuid>%s</uuid>\n", name, c->uuid);
  out(&b, "  <memory unit='MiB'>%u</memory>\n  <currentMemory unit='MiB'>%u</currentMemory>\n", c->memory_mib,
      c->memory_mib);
  out(&b, "  <vcpu placement='static'>%u</vcpu>\n", c->cpus);
  out(&b, "  <os%s>\n    <type arch='%s' machine='%s'>hvm</type>\n",
      (c->uefi || arm) ? " firmware='efi'" : "", lv_arch[c->arch], lv_machine[c->arch]);
  for (size_t i = 0; i < c->n_boot; i++)
    out(&b, "    <boot dev='%s'/>\n",
        c->boot[i] == VM_BOOT_DISK    ? "hd"
        : c->boot[i] == VM_BOOT_CDROM ? "cdrom"
                                      : "network");
  out(&b, "  </os>\n  <features>\n    <acpi/>\n%s  </features>\n",
      arm ? "    <gic version='3'/>\n" : "    <apic/>\n");
  if (arm)
    out(&b,
        "  <cpu mode='custom' match='exact'>\n    <model fallback='allow'>cortex-a57</model>\n  </cpu>\n");
  out(&b, "  <clock offset='%s'/>\n", c->rtc_localtime ? "localtime" : "utc");
  out(&b, "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  "
          "<on_crash>destroy</on_crash>\n");
  out(&b, "  <devices>\n");
  unsigned nv = 0, ns = 0, nh = 0;
  for (size_t i = 0; i < c->n_disks; i++) {
    const char *bus, *pfx;
    unsigned *k;
    switch (c->disks[i].iface) {
    case VM_DISK_IF_AHCI:
      bus = "sata", pfx = "sd", k = &ns;
      break;
    case VM_DISK_IF_IDE:
      bus = "ide", pfx = "hd", k = &nh;
      break;
    case VM_DISK_IF_USB:
      bus = "usb", pfx = "sd", k = &ns;
      break;
    default:
      bus = "virtio", pfx = "vd", k = &nv;
      break; /* virtio; nvme (libvirt 9 has no nvme disk bus) */
    }
    char *f = esc(disk_files[i]);
    out(&b,
        "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n"
        "      <source file='%s/%s'/>\n      <target dev='%s%c' bus='%s'/>\n    </disk>\n",
        EXPORT_LIBVIRT_IMAGES, f, pfx, 'a' + (*k)++, bus);
    free(f);
  }
  if (c->arch == VM_ARCH_I386)
    out(&b,
        "    <disk type='file' device='cdrom'>\n      <target dev='hd%c' bus='ide'/>\n      <readonly/>\n"
        "    </disk>\n",
        'a' + nh++);
  else
    out(&b,
        "    <disk type='file' device='cdrom'>\n      <target dev='sd%c' bus='%s'/>\n      <readonly/>\n"
        "    </disk>\n",
        'a' + ns++, arm ? "usb" : "sata");
  if (c->net_user) {
    const char *model = strcmp(c->nic, "virtio-net-pci") == 0 ? "virtio" : c->nic;
    out(&b, "    <interface type='user'>\n");
    if (c->n_forwards) {
      out(&b, "      <backend type='passt'/>\n");
      for (size_t i = 0; i < c->n_forwards; i++)
        out(&b, "      <portForward proto='%s'>\n        <range start='%u' to='%u'/>\n      </portForward>\n",
            c->forwards[i].udp ? "udp" : "tcp",
            c->forwards[i].host_port ? c->forwards[i].host_port : c->forwards[i].guest_port,
            c->forwards[i].guest_port);
    }
    out(&b, "      <model type='%s'/>\n    </interface>\n", model);
  }
  if (arm)
    out(&b, "    <input type='tablet' bus='usb'/>\n    <input type='keyboard' bus='usb'/>\n");
  out(&b, "    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>\n");
  const char *video = strcmp(c->display, "std") == 0      ? "vga"
                      : strcmp(c->display, "cirrus") == 0 ? "cirrus"
                      : strcmp(c->display, "ramfb") == 0  ? "ramfb"
                                                          : "virtio";
  out(&b, "    <video>\n      <model type='%s'/>\n    </video>\n", video);
  if (c->audio)
    out(&b, "    <sound model='%s'/>\n", arm ? "usb" : "ich9");
  if (c->guest_agent)
    out(&b, "    <channel type='unix'>\n      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
            "    </channel>\n");
  if (c->tpm)
    out(&b, "    <tpm model='%s'>\n      <backend type='emulator' version='2.0'/>\n    </tpm>\n",
        arm ? "tpm-tis" : "tpm-crb");
  out(&b, "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n");
  out(&b, "  </devices>\n</domain>\n");
  free(name);
  return b.p;
}

char *vm_export_ovf(const struct vm_config *c, const char *const *disk_files, const uint64_t *file_sizes,
                    const uint64_t *capacity) {
  struct buf b = {0};
  char *name = esc(c->name);
  bool arm = c->arch == VM_ARCH_AARCH64;
  out(&b,
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<Envelope ovf:version=\"1.0\" xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\""
      " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\""
      " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\""
      " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\""
      " xmlns:vmw=\"http://www.vmware.com/schema/ovf\""
      " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n  <References>\n");
  for (size_t i = 0; i < c->n_disks; i++) {
    char *f = esc(disk_files[i]);
    out(&b, "    <File ovf:id=\"file%zu\" ovf:href=\"%s\" ovf:size=\"%llu\"/>\n", i + 1, f,
        (unsigned long long)file_sizes[i]);
    free(f);
  }
  out(&b, "  </References>\n  <DiskSection>\n    <Info>Virtual disk information</Info>\n");
  for (size_t i = 0; i < c->n_disks; i++)
    out(&b,
        "    <Disk ovf:capacity=\"%llu\" ovf:capacityAllocationUnits=\"byte\" ovf:diskId=\"vmdisk%zu\""
        " ovf:fileRef=\"file%zu\""
        " ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"/>\n",
        (unsigned long long)capacity[i], i + 1, i + 1);
  out(&b, "  </DiskSection>\n");
  if (c->net_user)
    out(&b, "  <NetworkSection>\n    <Info>The logical networks</Info>\n    <Network ovf:name=\"NAT\">\n"
            "      <Description>NAT</Description>\n    </Network>\n  </NetworkSection>\n");
  out(&b, "  <VirtualSystem ovf:id=\"%s\">\n    <Info>A virtual machine</Info>\n    <Name>%s</Name>\n", name,
      name);
  out(&b,
      "    <OperatingSystemSection ovf:id=\"%s\"%s>\n      <Info>The guest operating system</Info>\n"
      "    </OperatingSystemSection>\n",
      arm ? "1" : "102", arm ? " vmw:osType=\"arm-other-64\"" : "");
  out(&b,
      "    <VirtualHardwareSection>\n      <Info>Virtual hardware requirements</Info>\n      <System>\n"
      "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
      "        <vssd:InstanceID>0</vssd:InstanceID>\n"
      "        <vssd:VirtualSystemIdentifier>%s</vssd:VirtualSystemIdentifier>\n"
      "        <vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>\n      </System>\n",
      name);
  unsigned id = 1;
  out(&b,
      "      <Item>\n        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>\n"
      "        <rasd:ElementName>%u virtual CPU(s)</rasd:ElementName>\n        "
      "<rasd:InstanceID>%u</rasd:InstanceID>\n"
      "        <rasd:ResourceType>3</rasd:ResourceType>\n        "
      "<rasd:VirtualQuantity>%u</rasd:VirtualQuantity>\n"
      "      </Item>\n",
      c->cpus, id++, c->cpus);
  out(&b,
      "      <Item>\n        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>\n"
      "        <rasd:ElementName>%u MB of memory</rasd:ElementName>\n        "
      "<rasd:InstanceID>%u</rasd:InstanceID>\n"
      "        <rasd:ResourceType>4</rasd:ResourceType>\n        "
      "<rasd:VirtualQuantity>%u</rasd:VirtualQuantity>\n"
      "      </Item>\n",
      c->memory_mib, id++, c->memory_mib);
  unsigned ctrl = id++;
  out(&b,
      "      <Item>\n        <rasd:Address>0</rasd:Address>\n        <rasd:ElementName>SATA "
      "controller</rasd:ElementName>\n"
      "        <rasd:InstanceID>%u</rasd:InstanceID>\n        "
      "<rasd:ResourceSubType>AHCI</rasd:ResourceSubType>\n"
      "        <rasd:ResourceType>20</rasd:ResourceType>\n      </Item>\n",
      ctrl);
  for (size_t i = 0; i < c->n_disks; i++)
    out(&b,
        "      <Item>\n        <rasd:AddressOnParent>%zu</rasd:AddressOnParent>\n"
        "        <rasd:ElementName>Hard disk %zu</rasd:ElementName>\n"
        "        <rasd:HostResource>ovf:/disk/vmdisk%zu</rasd:HostResource>\n"
        "        <rasd:InstanceID>%u</rasd:InstanceID>\n        <rasd:Parent>%u</rasd:Parent>\n"
        "        <rasd:ResourceType>17</rasd:ResourceType>\n      </Item>\n",
        i, i + 1, i + 1, id++, ctrl);
  if (c->net_user) {
    const char *sub = strcmp(c->nic, "e1000") == 0            ? "E1000"
                      : strcmp(c->nic, "e1000e") == 0         ? "E1000e"
                      : strcmp(c->nic, "virtio-net-pci") == 0 ? "virtio"
                                                              : "E1000";
    out(&b,
        "      <Item>\n        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>\n"
        "        <rasd:Connection>NAT</rasd:Connection>\n        <rasd:ElementName>Ethernet "
        "adapter</rasd:ElementName>\n"
        "        <rasd:InstanceID>%u</rasd:InstanceID>\n        "
        "<rasd:ResourceSubType>%s</rasd:ResourceSubType>\n"
        "        <rasd:ResourceType>10</rasd:ResourceType>\n      </Item>\n",
        id++, sub);
  }
  if (c->audio)
    out(&b,
        "      <Item ovf:required=\"false\">\n        <rasd:ElementName>Sound card</rasd:ElementName>\n"
        "        <rasd:InstanceID>%u</rasd:InstanceID>\n        "
        "<rasd:ResourceSubType>HDA</rasd:ResourceSubType>\n"
        "        <rasd:ResourceType>35</rasd:ResourceType>\n      </Item>\n",
        id++);
  if (c->uefi || arm)
    out(&b, "      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>\n");
  out(&b, "    </VirtualHardwareSection>\n  </VirtualSystem>\n</Envelope>\n");
  free(name);
  return b.p;
}
