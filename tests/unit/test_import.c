/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The importers' pure readers and the exporters' builders (server/model/vm_import*.c,
 * vm_export.c, tar.c, xml_tree.c): what each maps, what it lists as unmapped, what it refuses;
 * an exported description read back by the matching importer gives the same VM settings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tar.h"
#include "vm_config.h"
#include "vm_export.h"
#include "vm_import.h"
#include "xml_tree.h"

static bool has_unmapped(const struct imp_result *r, const char *field) {
  size_t i;
  json_t *e;
  json_array_foreach(r->unmapped, i,
                     e) if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0) return true;
  return false;
}

static void test_libvirt_maps(void **state) {
  (void)state;
  const char *xml =
      "<domain type='kvm'><name>web &amp; db</name><memory unit='GiB'>2</memory><vcpu>3</vcpu>"
      "<os firmware='efi'><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='cdrom'/>"
      "<boot dev='hd'/></os><clock offset='utc'/><cpu mode='host-passthrough'/>"
      "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
      "<source file='/srv/a.qcow2'/><target dev='sda' bus='scsi'/></disk>"
      "<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vdb'/></disk>"
      "<interface type='network'><source network='default'/><model type='virtio'/></interface>"
      "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>"
      "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
      "<controller type='usb'/><watchdog model='i6300esb'/></devices></domain>";
  struct imp_result r;
  char err[512];
  assert_int_equal(imp_libvirt(xml, strlen(xml), &r, err, sizeof(err)), 0);
  assert_string_equal(json_string_value(json_object_get(r.config, "name")), "web & db");
  assert_int_equal(json_integer_value(json_object_get(r.config, "memory_mib")), 2048);
  assert_int_equal(json_integer_value(json_object_get(r.config, "cpus")), 3);
  assert_string_equal(json_string_value(json_object_get(r.config, "firmware")), "uefi");
  assert_true(json_is_true(json_object_get(r.config, "tpm")));
  assert_true(json_is_true(json_object_get(r.config, "guest_agent")));
  assert_int_equal(r.n_disks, 1);
  assert_string_equal(r.disks[0].src, "/srv/a.qcow2");
  assert_int_equal(r.disks[0].iface, VM_DISK_IF_VIRTIO);
  assert_true(has_unmapped(&r, "devices/disk/target/@bus"));
  assert_true(has_unmapped(&r, "devices/disk/@type"));
  assert_true(has_unmapped(&r, "devices/interface/@type"));
  assert_true(has_unmapped(&r, "devices/watchdog"));
  assert_true(has_unmapped(&r, "cpu"));
  assert_false(has_unmapped(&r, "devices/controller"));
  /* the config is one POST /vms accepts */
  struct vm_config c;
  memset(&c, 0, sizeof(c));
  assert_int_equal(vm_config_apply_json(&c, r.config, true, err, sizeof(err)), 0);
  assert_int_equal(c.n_boot, 2);
  imp_result_free(&r);
}

static void test_refusals(void **state) {
  (void)state;
  struct imp_result r;
  char err[512];
  const char *bad[] = {"<domain><os><type arch='ppc64'>hvm</type></os></domain>",
                       "<domain><memory unit='parsec'>1</memory></domain>",
                       "<domain><vcpu>0</vcpu></domain>",
                       "<?xml version='1.0'?><!DOCTYPE d [<!ENTITY x 'y'>]><domain/>",
                       "<Envelope/>",
                       "<domain"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(imp_libvirt(bad[i], strlen(bad[i]), &r, err, sizeof(err)), -1);
  const char *ovf = "<Envelope><VirtualSystem ovf:id='x' xmlns:ovf='u'><VirtualHardwareSection>"
                    "<Item><ResourceType>17</ResourceType><HostResource>ovf:/disk/d9</HostResource></Item>"
                    "</VirtualHardwareSection></VirtualSystem></Envelope>";
  assert_int_equal(imp_ovf(ovf, strlen(ovf), &r, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "References"));
  const char *utm = "<plist><dict><key>Backend</key><string>Apple</string></dict></plist>";
  assert_int_equal(imp_utm(utm, strlen(utm), &r, err, sizeof(err)), -1);
  char deep[4096] = "";
  for (int i = 0; i < 100; i++)
    strcat(deep, "<a>");
  assert_null(xml_parse(deep, strlen(deep), err, sizeof(err)));
}

static void test_tar(void **state) {
  (void)state;
  unsigned char h[TAR_BLOCK];
  struct tar_entry e;
  char err[128];
  assert_int_equal(tar_make_header(h, "vm.ovf", 1234, 0), 0);
  assert_int_equal(tar_parse_header(h, &e, err, sizeof(err)), 0);
  assert_string_equal(e.name, "vm.ovf");
  assert_int_equal(e.size, 1234);
  uint64_t big = 20ull << 30; /* over 8 GiB: GNU base-256 */
  assert_int_equal(tar_make_header(h, "d.vmdk", big, 0), 0);
  assert_int_equal(tar_parse_header(h, &e, err, sizeof(err)), 0);
  assert_true(e.size == big);
  h[0] ^= 1; /* the checksum no longer fits */
  assert_int_equal(tar_parse_header(h, &e, err, sizeof(err)), -1);
  assert_false(tar_name_safe("../x"));
  assert_false(tar_name_safe("/x"));
  assert_false(tar_name_safe("a/../x"));
  assert_true(tar_name_safe("dir/x.vmdk"));
}

static struct vm_config sample(void) {
  struct vm_config c;
  memset(&c, 0, sizeof(c));
  vm_config_defaults(&c, VM_ARCH_X86_64);
  snprintf(c.name, sizeof(c.name), "a<b>&'\"");
  snprintf(c.uuid, sizeof(c.uuid), "6f1b3a52-3c1e-4d4f-9a55-0c6d1e2f3a4b");
  c.memory_mib = 1536;
  c.cpus = 2;
  c.n_disks = 2;
  c.disks[0].iface = VM_DISK_IF_VIRTIO;
  c.disks[1].iface = VM_DISK_IF_AHCI;
  c.net_user = true;
  snprintf(c.nic, sizeof(c.nic), "e1000");
  c.n_forwards = 1;
  c.forwards[0] = (struct vm_forward){false, 2222, 22};
  c.audio = true;
  c.uefi = true;
  return c;
}

static void test_export_reads_back(void **state) {
  (void)state;
  struct vm_config c = sample();
  const char *files[] = {"x-disk0.qcow2", "x-disk1.qcow2"};
  char *xml = vm_export_libvirt_xml(&c, files);
  struct imp_result r;
  char err[512];
  assert_int_equal(imp_libvirt(xml, strlen(xml), &r, err, sizeof(err)), 0);
  assert_string_equal(json_string_value(json_object_get(r.config, "name")), "a<b>&'\"");
  assert_int_equal(json_integer_value(json_object_get(r.config, "memory_mib")), 1536);
  assert_int_equal(r.n_disks, 2);
  assert_string_equal(r.disks[1].src, EXPORT_LIBVIRT_IMAGES "/x-disk1.qcow2");
  assert_int_equal(r.disks[1].iface, VM_DISK_IF_AHCI);
  json_t *fw = json_array_get(json_object_get(json_object_get(r.config, "network"), "forwards"), 0);
  assert_int_equal(json_integer_value(json_object_get(fw, "host_port")), 2222);
  assert_string_equal(json_string_value(json_object_get(r.config, "firmware")), "uefi");
  imp_result_free(&r);
  free(xml);
  const char *vmdks[] = {"x-disk0.vmdk", "x-disk1.vmdk"};
  uint64_t sizes[] = {100, 200}, cap[] = {1 << 20, 2 << 20};
  char *ovf = vm_export_ovf(&c, vmdks, sizes, cap);
  assert_int_equal(imp_ovf(ovf, strlen(ovf), &r, err, sizeof(err)), 0);
  assert_int_equal(json_integer_value(json_object_get(r.config, "cpus")), 2);
  assert_int_equal(json_integer_value(json_object_get(r.config, "memory_mib")), 1536);
  assert_string_equal(json_string_value(json_object_get(json_object_get(r.config, "network"), "nic")),
                      "e1000");
  assert_true(json_is_true(json_object_get(r.config, "audio")));
  assert_int_equal(r.n_disks, 2);
  assert_string_equal(r.disks[0].src, "x-disk0.vmdk");
  assert_string_equal(r.disks[0].format, "vmdk");
  imp_result_free(&r);
  free(ovf);
  char slug[64];
  vm_export_slug("../My VM", slug, sizeof(slug));
  assert_string_equal(slug, "_._My_VM");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_libvirt_maps),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_tar),
      cmocka_unit_test(test_export_reads_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
