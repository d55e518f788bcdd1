# SPDX-License-Identifier: GPL-2.0-or-later
"""VM import (UTM bundle, libvirt domain XML, OVA) and export (libvirt tar, OVA), against a real daemon.

Every fixture is built here from its format's published structure, with the source of each key:
- libvirt: "Domain XML format", https://libvirt.org/formatdomain.html (domain, name, uuid, memory
  unit, vcpu, os/type arch+machine, os/boot dev, devices/disk type=file device=disk|cdrom with
  driver type, source file and target dev+bus, interface type=user with model and portForward/range
  (libvirt >= 9.0), graphics, video/model, sound).
- OVF: DMTF DSP0243 1.1 (Envelope, References/File ovf:href, DiskSection/Disk ovf:diskId/fileRef/
  format, VirtualSystem, VirtualHardwareSection/Item) with CIM RASD (ResourceType 3 processor,
  4 memory, 20 other storage controller, 17 disk drive, 10 Ethernet; HostResource "ovf:/disk/ID",
  Parent, AllocationUnits "byte * 2^20"); the OVA is a ustar archive with the .ovf first.
- UTM: the CodingKeys of utmapp/UTM Configuration/UTMQemuConfiguration.swift (Backend,
  ConfigurationVersion, Information, System, QEMU, Drive, Network, Display, Sound, Serial, ...),
  UTMQemuConfigurationSystem.swift (Architecture, Target, CPU, CPUCount, MemorySize, ...),
  UTMQemuConfigurationDrive.swift (ImageName, ImageType, Interface, Identifier, ReadOnly),
  UTMQemuConfigurationNetwork.swift (Mode, Hardware, MacAddress, PortForward), the port forward's
  (Protocol, HostPort, GuestPort, ...) and QEMUConstant.swift's values ("Disk", "VirtIO", "Emulated").

The disks boot: sector 0 is the `poweroff` test guest of guests.py (a boot sector that writes a
line of text and powers the machine off through ACPI), so a VM that stops by itself with exit
code 0 and no CD-ROM ran code from its imported disk. Exports are checked by importing them again
(round trip, the disk boots again) and the libvirt XML with virt-xml-validate (libvirt's schema).
"""

import io
import os
import plistlib
import shutil
import subprocess
import tarfile
import tempfile
import unittest

from guests import boot_sector
from harness import DaemonTestCase


def make_boot_raw(path):
    """A 1 MiB raw disk whose MBR is the poweroff guest."""
    with open(path, 'wb') as f:
        f.write(boot_sector('poweroff')[:512])
        f.truncate(1 << 20)


def convert(src, dst, fmt, *opts):
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', fmt] + list(opts) + [src, dst], check=True)


LIBVIRT_XML = """<domain type='kvm'>
  <name>{name}</name>
  <uuid>6f1b3a52-3c1e-4d4f-9a55-0c6d1e2f3a4b</uuid>
  <memory unit='KiB'>262144</memory>
  <currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/><vmport state='off'/></features>
  <clock offset='localtime'/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{disk}'/>
      <target dev='vda' bus='{bus}'/>
    </disk>
    <interface type='user'>
      <mac address='52:54:00:12:34:56'/>
      <backend type='passt'/>
      <portForward proto='tcp'>
        <range start='{hport}' to='22'/>
      </portForward>
      <model type='e1000'/>
    </interface>
    <graphics type='spice' autoport='yes'/>
    <video><model type='virtio'/></video>
    <sound model='ich9'/>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
"""

OVF = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope ovf:version="1.0" xmlns="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
    xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
    xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <References>
    <File ovf:id="file1" ovf:href="{href}"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="1048576" ovf:diskId="vmdisk1" ovf:fileRef="file1"
        ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection><Info>Logical networks</Info><Network ovf:name="NAT"><Description>NAT</Description></Network></NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A virtual machine</Info>
    <Name>{name}</Name>
    <OperatingSystemSection ovf:id="96"><Info>The kind of installed guest operating system</Info></OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System><vssd:ElementName>Virtual Hardware Family</vssd:ElementName><vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier><vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType></System>
      <Item><rasd:Caption>1 virtual CPU</rasd:Caption><rasd:ElementName>1 virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits><rasd:ElementName>192 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>192</rasd:VirtualQuantity></Item>
      <Item><rasd:Address>0</rasd:Address><rasd:ElementName>sataController0</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
      <Item><rasd:AutomaticAllocation>true</rasd:AutomaticAllocation><rasd:Connection>NAT</rasd:Connection>
        <rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName><rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>disk1</rasd:ElementName>
        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:ElementName>usb</rasd:ElementName><rasd:InstanceID>6</rasd:InstanceID><rasd:ResourceType>23</rasd:ResourceType></Item>
      <Item><rasd:ElementName>floppy0</rasd:ElementName><rasd:InstanceID>7</rasd:InstanceID><rasd:ResourceType>14</rasd:ResourceType></Item>
    </VirtualHardwareSection>
    <vbox:Machine ovf:required="false" version="1.16-linux" uuid="{{0a1b2c3d-0000-4000-8000-000000000001}}" name="{name}"><ovf:Info>VirtualBox settings</ovf:Info></vbox:Machine>
  </VirtualSystem>
</Envelope>
"""


def make_tar(path, members):
    """A ustar archive of (name, bytes or file path) in order."""
    with tarfile.open(path, 'w', format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            if isinstance(data, bytes):
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.add(data, arcname=name)


def utm_plist(name, image, hport):
    return plistlib.dumps({
        'Backend': 'QEMU',
        'ConfigurationVersion': 4,
        'Information': {'Name': name, 'UUID': 'C0FFEE00-0000-4000-8000-000000000001', 'IconCustom': False},
        'System': {'Architecture': 'x86_64', 'Target': 'q35', 'CPU': 'default', 'CPUCount': 1,
                   'CPUFlagsAdd': [], 'CPUFlagsRemove': [], 'ForceMulticore': False, 'MemorySize': 160,
                   'JITCacheSize': 0},
        'QEMU': {'DebugLog': False, 'UEFIBoot': False, 'RNGDevice': True, 'BalloonDevice': False,
                 'TPMDevice': False, 'Hypervisor': False, 'RTCLocalTime': False, 'PS2Controller': False,
                 'AdditionalArguments': ['-no-hpet']},
        'Input': {'UsbBusSupport': '2.0', 'UsbSharing': False, 'MaximumUsbShare': 3},
        'Sharing': {'DirectoryShareMode': 'None', 'DirectoryShareReadOnly': False, 'ClipboardSharing': True},
        'Display': [{'Hardware': 'virtio-vga', 'DynamicResolution': True, 'NativeResolution': False,
                     'UpscalingFilter': 'Linear', 'DownscalingFilter': 'Linear'}],
        'Drive': [{'ImageName': image, 'ImageType': 'Disk', 'Interface': 'VirtIO', 'InterfaceVersion': 1,
                   'Identifier': 'D1', 'ReadOnly': False},
                  {'ImageType': 'CD', 'Interface': 'IDE', 'InterfaceVersion': 1, 'Identifier': 'D2',
                   'ReadOnly': True}],
        'Network': [{'Mode': 'Emulated', 'Hardware': 'virtio-net-pci', 'MacAddress': '2A:11:22:33:44:55',
                     'IsolateFromHost': False,
                     'PortForward': [{'Protocol': 'TCP', 'HostPort': hport, 'GuestPort': 80,
                                      'HostAddress': '127.0.0.1'}]}],
        'Serial': [],
        'Sound': [{'Hardware': 'intel-hda'}],
    }, fmt=plistlib.FMT_XML)


class ImportTest(DaemonTestCase):
    def setUp(self):
        self.dir = self.scratch_dir('imp')
        self.raw = os.path.join(self.dir, 'boot.raw')
        make_boot_raw(self.raw)

    def scratch_dir(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix, dir=os.path.join(self.data_dir, 'shared'))
        os.chmod(d, 0o711)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def vm_dirs(self):
        d = os.path.join(self.data_dir, 'vms')
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def imported(self, resp):
        st, js, _ = resp
        self.assertEqual(st, 201, js)
        self.addCleanup(self.daemon.dispose, js['id'])
        return js

    def assert_boots_from_disk(self, vm):
        self.assertIsNone(vm.get('cdrom'), vm)
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=60)
        self.assertEqual(st, 200, js)
        g = self.daemon.wait_state(vm['id'], ('stopped', 'crashed'), timeout=30)
        self.assertEqual(g['state'], 'stopped', g)
        self.assertEqual(g['last_exit'].get('exit_code'), 0, g)

    def unmapped_fields(self, vm):
        return [u['field'] for u in vm['import']['unmapped']]

    def libvirt_xml(self, name, disk, fmt='qcow2', bus='sata', hport=18022):
        return LIBVIRT_XML.format(name=name, disk=disk, fmt=fmt, bus=bus, hport=hport)

    def test_libvirt_import_maps_and_boots(self):
        disk = os.path.join(self.dir, 'lv.qcow2')
        convert(self.raw, disk, 'qcow2')
        xml = os.path.join(self.dir, 'dom.xml')
        with open(xml, 'w') as f:
            f.write(self.libvirt_xml('lv-guest', disk))
        vm = self.imported(self.api('POST', '/api/v1/vms/import', body={'path': xml}))
        self.assertEqual(vm['name'], 'lv-guest')
        self.assertEqual(vm['import']['format'], 'libvirt')
        self.assertEqual((vm['arch'], vm['memory_mib'], vm['cpus']), ('x86_64', 256, 2))
        self.assertEqual(vm['rtc'], 'localtime')
        self.assertEqual(vm['display'], 'virtio-vga')
        self.assertTrue(vm.get('audio'))
        self.assertEqual(vm['network']['nic'], 'e1000')
        self.assertEqual(vm['network']['forwards'], [{'proto': 'tcp', 'host_port': 18022, 'guest_port': 22}])
        self.assertEqual(len(vm['disks']), 1)
        self.assertEqual(vm['disks'][0]['interface'], 'ahci')
        self.assertEqual(vm['boot_order'], ['disk'])
        self.assertTrue(vm['disks'][0]['path'].startswith(os.path.join(self.data_dir, 'vms', vm['id'])))
        for f in ('devices/graphics/@type', 'devices/rng', 'features', 'uuid',
                  'devices/interface/mac/@address'):
            self.assertIn(f, self.unmapped_fields(vm))
        self.assertTrue(os.path.exists(disk), 'the source disk stays')
        self.assert_boots_from_disk(vm)

    def test_libvirt_raw_disk_and_name(self):
        xml = os.path.join(self.dir, 'raw.xml')
        with open(xml, 'w') as f:
            f.write(self.libvirt_xml('ignored', self.raw, fmt='raw', bus='virtio', hport=18023))
        vm = self.imported(self.api('POST', '/api/v1/vms/import', body={'path': xml, 'name': 'lv-raw'}))
        self.assertEqual(vm['name'], 'lv-raw')
        self.assertEqual(vm['disks'][0]['interface'], 'virtio')
        self.assert_boots_from_disk(vm)

    def test_refusals_leave_nothing(self):
        before = self.vm_dirs()
        n_before = len(self.daemon.ok('GET', '/api/v1/vms')['vms'])
        # a qcow2 naming another host file
        base = os.path.join(self.dir, 'base.qcow2')
        convert(self.raw, base, 'qcow2')
        top = os.path.join(self.dir, 'top.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, top], check=True)
        xml = os.path.join(self.dir, 'bad.xml')
        with open(xml, 'w') as f:
            f.write(self.libvirt_xml('bad-backing', top))
        self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': xml}), 400, 'backing_file')
        # a VMDK descriptor naming an extent file, inside an OVA
        desc = ('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n'
                'RW 2048 FLAT "/etc/passwd" 0\n').encode()
        ova = os.path.join(self.dir, 'bad.ova')
        make_tar(ova, [('bad.ovf', OVF.format(name='bad-vmdk', href='bad-disk1.vmdk').encode()),
                       ('bad-disk1.vmdk', desc)])
        self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': ova}), 400, 'backing_file')
        # declared qcow2, really raw
        with open(xml, 'w') as f:
            f.write(self.libvirt_xml('bad-format', self.raw, fmt='qcow2'))
        self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': xml}), 400, 'wrong_format')
        # a disk outside the allowed roots
        with open(xml, 'w') as f:
            f.write(self.libvirt_xml('bad-root', '/etc/passwd'))
        self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': xml}), 403, 'path_not_allowed',
                         'disks')
        # the source itself outside them
        self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': '/etc/hostname'}), 403,
                         'path_not_allowed', 'path')
        # not XML, hostile XML, a DOCTYPE with entities, an OVA missing its disk, a truncated tar
        junk = os.path.join(self.dir, 'junk.xml')
        for text in (b'hello', b'<domain><name>x</name>', b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">'
                     b']><domain><name>&a;</name></domain>', b'<plist/>'):
            with open(junk, 'wb') as f:
                f.write(text)
            self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': junk}), 400, 'invalid_field',
                             'path')
        make_tar(ova, [('x.ovf', OVF.format(name='no-disk', href='missing.vmdk').encode())])
        self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': ova}), 400, 'invalid_field', 'path')
        with open(ova, 'rb') as f:
            head = f.read(700)
        with open(ova, 'wb') as f:
            f.write(head)
        self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': ova}), 400, 'invalid_field', 'path')
        self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': xml, 'nope': 1}), 400,
                         'invalid_field', 'nope')
        self.assertError(self.api('POST', '/api/v1/vms/import', body={}), 400, 'invalid_field', 'path')
        self.assertEqual(self.vm_dirs(), before)
        self.assertEqual(len(self.daemon.ok('GET', '/api/v1/vms')['vms']), n_before)

    def make_ova(self, name):
        vmdk = os.path.join(self.dir, name + '-disk1.vmdk')
        convert(self.raw, vmdk, 'vmdk', '-o', 'subformat=streamOptimized')
        ova = os.path.join(self.dir, name + '.ova')
        make_tar(ova, [(name + '.ovf', OVF.format(name=name, href=name + '-disk1.vmdk').encode()),
                       (name + '-disk1.vmdk', vmdk)])
        return ova

    def test_ova_import_maps_and_boots(self):
        ova = self.make_ova('ova-guest')
        vm = self.imported(self.api('POST', '/api/v1/vms/import', body={'path': ova}))
        self.assertEqual(vm['import']['format'], 'ova')
        self.assertEqual((vm['name'], vm['memory_mib'], vm['cpus']), ('ova-guest', 192, 1))
        self.assertEqual(vm['network']['nic'], 'e1000')
        self.assertEqual(vm['disks'][0]['interface'], 'ahci')
        fields = self.unmapped_fields(vm)
        self.assertIn('Item[ResourceType=14]', fields)  # the floppy drive
        self.assertIn('Machine', fields)  # VirtualBox's own section
        self.assert_boots_from_disk(vm)

    def test_ova_upload(self):
        ova = self.make_ova('up-guest')
        with open(ova, 'rb') as f:
            data = f.read()
        vm = self.imported(self.api('PUT', '/api/v1/vms/import/upload?name=up-guest.ova', raw=data,
                                    headers={'Content-Type': 'application/octet-stream'}))
        self.assertEqual(vm['name'], 'up-guest')
        self.assertEqual(vm['import']['source'], 'upload:up-guest.ova')
        left = [f for f in os.listdir(os.path.join(self.data_dir, 'images')) if f.startswith('.upload-')]
        self.assertEqual(left, [])
        self.assert_boots_from_disk(vm)

    def test_utm_bundle_import_maps_and_boots(self):
        bundle = os.path.join(self.dir, 'My Linux.utm')
        os.makedirs(os.path.join(bundle, 'Data'))
        convert(self.raw, os.path.join(bundle, 'Data', 'D1.qcow2'), 'qcow2')
        with open(os.path.join(bundle, 'config.plist'), 'wb') as f:
            f.write(utm_plist('My Linux', 'D1.qcow2', 18080))
        vm = self.imported(self.api('POST', '/api/v1/vms/import', body={'path': bundle}))
        self.assertEqual(vm['import']['format'], 'utm')
        self.assertEqual((vm['name'], vm['arch'], vm['memory_mib'], vm['cpus']), ('My Linux', 'x86_64', 160, 1))
        self.assertEqual(vm['display'], 'virtio-vga')
        self.assertEqual(vm['network']['nic'], 'virtio-net-pci')
        self.assertEqual(vm['network']['forwards'], [{'proto': 'tcp', 'host_port': 18080, 'guest_port': 80}])
        self.assertTrue(vm.get('audio'))
        self.assertEqual(vm['disks'][0]['interface'], 'virtio')
        fields = self.unmapped_fields(vm)
        for f in ('QEMU.AdditionalArguments', 'Information.UUID', 'Network[].MacAddress'):
            self.assertIn(f, fields)
        self.assert_boots_from_disk(vm)
        # an image name that climbs out of the bundle
        bad = os.path.join(self.dir, 'bad.utm')
        os.makedirs(bad)
        with open(os.path.join(bad, 'config.plist'), 'wb') as f:
            f.write(utm_plist('bad', '../../etc/passwd', 18081))
        self.assertError(self.api('POST', '/api/v1/vms/import', body={'path': bad}), 400, 'invalid_field', 'path')


class ExportTest(DaemonTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='exp', dir=os.path.join(self.data_dir, 'shared'))
        os.chmod(self.dir, 0o711)
        self.addCleanup(shutil.rmtree, self.dir, True)
        raw = os.path.join(self.dir, 'boot.raw')
        make_boot_raw(raw)
        self.disk = os.path.join(self.dir, 'src.qcow2')
        convert(raw, self.disk, 'qcow2')

    def source_vm(self, name):
        xml = os.path.join(self.dir, name + '.xml')
        with open(xml, 'w') as f:
            f.write(LIBVIRT_XML.format(name=name, disk=self.disk, fmt='qcow2', bus='virtio', hport=0)
                    .replace("<range start='0' to='22'/>", "<range start='18122' to='22'/>"))
        st, vm, _ = self.api('POST', '/api/v1/vms/import', body={'path': xml})
        self.assertEqual(st, 201, vm)
        self.addCleanup(self.daemon.dispose, vm['id'])
        return vm

    def export(self, vm, fmt):
        st, data, h = self.api('GET', '/api/v1/vms/%s/export?format=%s' % (vm['id'], fmt), timeout=120)
        self.assertEqual(st, 200, data)
        self.assertIn('attachment', h.get('content-disposition', ''))
        self.assertEqual(int(h['content-length']), len(data))
        path = os.path.join(self.dir, '%s.%s' % (vm['name'], 'ova' if fmt == 'ova' else 'tar'))
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def boots(self, vm):
        st, js, _ = self.api('POST', '/api/v1/vms/%s/start' % vm['id'], timeout=60)
        self.assertEqual(st, 200, js)
        g = self.daemon.wait_state(vm['id'], ('stopped', 'crashed'), timeout=30)
        self.assertEqual((g['state'], g['last_exit'].get('exit_code')), ('stopped', 0), g)

    def test_libvirt_export_validates_and_round_trips(self):
        vm = self.source_vm('exp-lv')
        tar = self.export(vm, 'libvirt')
        with tarfile.open(tar) as t:
            names = t.getnames()
            self.assertEqual(names, ['exp-lv.xml', 'exp-lv-disk0.qcow2'])
            xml = t.extractfile('exp-lv.xml').read()
        xp = os.path.join(self.dir, 'exported.xml')
        with open(xp, 'wb') as f:
            f.write(xml)
        validate = shutil.which('virt-xml-validate')
        if not validate:
            self.fail('virt-xml-validate is missing: apt-get install libvirt-clients (scripts/install-deps.sh)')
        r = subprocess.run([validate, xp, 'domain'], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + xml.decode())
        self.assertIn(b"<source file='/var/lib/libvirt/images/exp-lv-disk0.qcow2'/>", xml)
        self.assertIn(b"<range start='18122' to='22'/>", xml)
        back = self.api('POST', '/api/v1/vms/import', body={'path': tar, 'name': 'exp-lv-back'})
        self.assertEqual(back[0], 201, back[1])
        vm2 = back[1]
        self.addCleanup(self.daemon.dispose, vm2['id'])
        self.assertEqual((vm2['memory_mib'], vm2['cpus'], vm2['network']['forwards']),
                         (vm['memory_mib'], vm['cpus'], vm['network']['forwards']))
        self.boots(vm2)

    def test_blank_disk_round_trip(self):
        # A fresh qcow2's length is no multiple of 512 (196624 bytes for 1 GiB): read in place
        # from the tar, its window is rounded up to the member's padded records.
        st, vm, _ = self.api('POST', '/api/v1/vms', body={'name': 'blank-rt', 'memory_mib': 128, 'cpus': 1,
                                                         'disks': [{'size_gib': 1}]})
        self.assertEqual(st, 201, vm)
        self.addCleanup(self.daemon.dispose, vm['id'])
        self.assertNotEqual(os.path.getsize(vm['disks'][0]['path']) % 512, 0)
        for fmt in ('libvirt', 'ova'):
            path = self.export(vm, fmt)
            back = self.api('POST', '/api/v1/vms/import', body={'path': path, 'name': 'blank-rt-' + fmt})
            self.assertEqual(back[0], 201, back[1])
            self.addCleanup(self.daemon.dispose, back[1]['id'])
            self.assertEqual(back[1]['disks'][0]['size_gib'], 1)

    def test_ova_export_round_trips(self):
        vm = self.source_vm('exp-ova')
        ova = self.export(vm, 'ova')
        with tarfile.open(ova) as t:
            self.assertEqual(t.getnames(), ['exp-ova.ovf', 'exp-ova-disk0.vmdk'])
        self.assertEqual([f for f in os.listdir(os.path.join(self.data_dir, 'vms', vm['id']))
                          if f.startswith('.export')], [])
        with tarfile.open(ova) as t:
            t.extract('exp-ova-disk0.vmdk', self.dir)
        info = subprocess.run(['qemu-img', 'info', '--output=json', '-f', 'vmdk',
                               os.path.join(self.dir, 'exp-ova-disk0.vmdk')], capture_output=True, text=True)
        self.assertIn('streamOptimized', info.stdout, info.stderr)
        back = self.api('POST', '/api/v1/vms/import', body={'path': ova, 'name': 'exp-ova-back'})
        self.assertEqual(back[0], 201, back[1])
        self.addCleanup(self.daemon.dispose, back[1]['id'])
        self.assertEqual((back[1]['memory_mib'], back[1]['cpus']), (vm['memory_mib'], vm['cpus']))
        self.boots(back[1])

    def test_export_refusals(self):
        vm = self.source_vm('exp-bad')
        self.assertError(self.api('GET', '/api/v1/vms/%s/export?format=zip' % vm['id']), 400, 'invalid_field',
                         'format')
        self.assertError(self.api('GET', '/api/v1/vms/%s/export' % vm['id']), 400, 'invalid_field', 'format')
        self.assertError(self.api('GET', '/api/v1/vms/ffffffffffffffff/export?format=ova'), 404, 'not_found')


if __name__ == '__main__':
    unittest.main()
