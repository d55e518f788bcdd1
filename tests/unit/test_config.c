/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for vm_config: defaults, the create/patch/stored JSON parsers
 * (every rejection with its exact message), vm_name_valid and the
 * to_json/from_json round trip. Table-driven; bodies are JSON text decoded
 * with JSON_ALLOW_NUL so that "\u0000" reaches the validator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vm_config.h"

enum mode { CREATE, PATCH, STORED };

static json_t *parse(const char *text) {
  json_error_t e;
  json_t *j = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);
  if (!j)
    fail_msg("bad test JSON (%s): %s", e.text, text);
  return j;
}

/* Apply BODY in MODE. For PATCH, C is first created from BASE (or a plain
 * x86_64 VM). Returns the rc; ERR holds the message. */
static int run(enum mode mode, const char *base, json_t *body, struct vm_config *c, char *err,
               size_t errlen) {
  err[0] = 0;
  if (mode == PATCH) {
    json_t *b = parse(base ? base : "{\"name\": \"base\"}");
    int rc = vm_config_apply_json(c, b, true, err, errlen);
    json_decref(b);
    if (rc < 0)
      fail_msg("base did not apply: %s", err);
  }
  if (mode == STORED)
    return vm_config_from_json(c, body, err, errlen);
  return vm_config_apply_json(c, body, mode == CREATE, err, errlen);
}

/* ---- rejections ---- */

struct bad {
  enum mode mode;
  const char *base; /* PATCH only */
  const char *body;
  const char *err;
};

#define STORED_OK                                                                                            \
  "\"id\": \"0123456789abcdef\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "      \
  "\"arch\": "                                                                                               \
  "\"x86_64\", \"disks\": [{\"path\": \"/d/0.qcow2\", \"size_gib\": 1, \"interface\": \"ahci\"}]"

static const struct bad bad_cases[] = {
    /* rdp: the RDP console's target (bridge/rdp-ws) */
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": 1}", "rdp: must be an object or null"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"hostname\": \"x\"}}", "rdp.hostname: unknown field"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"host\": \"a b\"}}",
     "rdp.host: must be a host name or an IP address (or \"\" for the VM's own forward)"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"host\": \"-x\"}}",
     "rdp.host: must be a host name or an IP address (or \"\" for the VM's own forward)"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"host\": \"h\", \"port\": 0}}",
     "rdp.port: must be an integer between 1 and 65535"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"host\": \"h\", \"port\": \"3389\"}}",
     "rdp.port: must be an integer between 1 and 65535"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"host\": \"h\", \"username\": \"a\\u0001\"}}",
     "rdp.username: must not contain control characters"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"password\": 5}}", "rdp.password: must be a string"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"password\": \"a\\u0000b\"}}",
     "rdp.password: must not contain NUL bytes"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"security\": \"ssl\"}}",
     "rdp.security: must be 'any', 'nla', 'tls' or 'rdp'"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"ignore_cert\": 1}}",
     "rdp.ignore_cert: must be true or false"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"fingerprint\": \"zz:11\"}}",
     "rdp.fingerprint: must be hexadecimal pairs separated by ':' (several by ',')"},
    /* rdp.remote_app: one program instead of the desktop */
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"remote_app\": \"notepad\"}}",
     "rdp.remote_app: must be an object or null"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"remote_app\": {\"args\": \"x\"}}}",
     "rdp.remote_app.program: required"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"remote_app\": {\"program\": \"||a\", \"cwd\": \"x\"}}}",
     "rdp.remote_app.cwd: unknown field"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"remote_app\": {\"program\": \"notepad.exe\"}}}",
     "rdp.remote_app.program: must be \"||alias\" or an absolute Windows path without '\"'"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"remote_app\": {\"program\": \"C:\\\\a\\\"b.exe\"}}}",
     "rdp.remote_app.program: must be \"||alias\" or an absolute Windows path without '\"'"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"remote_app\": {\"program\": \"||a/b\"}}}",
     "rdp.remote_app.program: must be \"||alias\" or an absolute Windows path without '\"'"},
    {CREATE, NULL, "{\"name\": \"a\", \"rdp\": {\"remote_app\": {\"program\": \"||\"}}}",
     "rdp.remote_app.program: must be \"||alias\" or an absolute Windows path without '\"'"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"rdp\": {\"remote_app\": {\"program\": \"C:\\\\x.exe\", \"args\": \"a\\nb\"}}}",
     "rdp.remote_app.args: must not contain control characters"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"rdp\": {\"remote_app\": {\"program\": \"C:\\\\x.exe\", \"mode\": \"app\"}}}",
     "rdp.remote_app.mode: must be 'rail' or 'shell'"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"rdp\": {\"remote_app\": {\"program\": \"||calc\", \"mode\": \"shell\"}}}",
     "rdp.remote_app.program: an alias needs mode 'rail'"},
    /* shortcuts: programs opened alone from the library */
    {CREATE, NULL, "{\"name\": \"a\", \"shortcuts\": {}}", "shortcuts: must be an array"},
    {CREATE, NULL, "{\"name\": \"a\", \"shortcuts\": [{\"program\": \"||calc\"}]}",
     "shortcuts[0].name: required"},
    {CREATE, NULL, "{\"name\": \"a\", \"shortcuts\": [{\"name\": \"Calc\"}]}",
     "shortcuts[0].program: required"},
    {CREATE, NULL, "{\"name\": \"a\", \"shortcuts\": [{\"name\": \"\", \"program\": \"||calc\"}]}",
     "shortcuts[0].name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"shortcuts\": [{\"name\": \"C\", \"program\": \"||calc\"}, {\"name\": \"C\", "
     "\"program\": \"||mspaint\"}]}",
     "shortcuts[1].name: 'C' is used twice"},
    {CREATE, NULL, "{\"name\": \"a\", \"shortcuts\": [{\"name\": \"C\", \"program\": \"calc.exe\"}]}",
     "shortcuts[0].program: must be \"||alias\" or an absolute Windows path without '\"'"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"shortcuts\": [{\"name\": \"C\", \"program\": \"||calc\", \"icon\": 1}]}",
     "shortcuts[0].icon: unknown field"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"shortcuts\": [{\"name\": \"C\", \"program\": \"||calc\", \"mode\": \"shell\"}]}",
     "shortcuts[0].program: an alias needs mode 'rail'"},
    /* shape */
    {CREATE, NULL, "[]", "must be a JSON object"},
    {CREATE, NULL, "null", "must be a JSON object"},
    {CREATE, NULL, "{\"name\": \"a\", \"foo\": 1}", "foo: unknown field"},
    {CREATE, NULL, "{\"name\": \"a\", \"Name\": \"b\"}", "Name: unknown field"},
    {CREATE, NULL, "{\"name\": \"a\", \"\\u00e9\\u0001\": 1}", "\?\?\?: unknown field"},
    {CREATE, NULL, "{\"name\": \"a\", \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": 1}",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: unknown field"},
    /* identity */
    {CREATE, NULL, "{\"name\": \"a\", \"id\": \"0123456789abcdef\"}", "id: set by the server"},
    {CREATE, NULL, "{\"name\": \"a\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\"}",
     "uuid: set by the server"},
    {PATCH, NULL, "{\"id\": \"0123456789abcdef\"}", "id: cannot be changed"},
    {PATCH, NULL, "{\"uuid\": \"01234567-89ab-4def-8123-456789abcdef\"}", "uuid: cannot be changed"},
    {PATCH, NULL, "{\"arch\": \"x86_64\"}", "arch: cannot be changed"},
    {PATCH, NULL, "{\"arch\": \"aarch64\"}", "arch: cannot be changed"},
    {PATCH, NULL, "{\"disks\": []}", "disks: cannot be changed"},
    /* name */
    {CREATE, NULL, "{}", "name: required"},
    {CREATE, NULL, "{\"arch\": \"i386\"}", "name: required"},
    {CREATE, NULL, "{\"name\": 5}", "name: must be a string"},
    {CREATE, NULL, "{\"name\": null}", "name: must be a string"},
    {CREATE, NULL, "{\"name\": \"\"}", "name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL, "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
     "name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL,
     "{\"name\": "
     "\"\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5"
     "\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\"}",
     "name: must be 1-64 bytes of printable UTF-8"}, /* 22 x 3 bytes */
    {CREATE, NULL, "{\"name\": \"a\\nb\"}", "name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL, "{\"name\": \"a\\tb\"}", "name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL, "{\"name\": \"\\u0007\"}", "name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL, "{\"name\": \"a\\u007f\"}", "name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL, "{\"name\": \"a\\u0085\"}", "name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL, "{\"name\": \"a\\u009b\"}", "name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL, "{\"name\": \"a\\u0000b\"}", "name: must not contain NUL bytes"},
    {PATCH, NULL, "{\"name\": \"\"}", "name: must be 1-64 bytes of printable UTF-8"},
    {PATCH, NULL, "{\"name\": [\"a\"]}", "name: must be a string"},
    /* arch */
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"mips\"}",
     "arch: unknown architecture 'mips' (x86_64, i386, aarch64)"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"X86_64\"}",
     "arch: unknown architecture 'X86_64' (x86_64, i386, aarch64)"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"\"}",
     "arch: unknown architecture '' (x86_64, i386, aarch64)"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": 1}", "arch: must be a string"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": null}", "arch: must be a string"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"x86_64\\u0000\"}", "arch: must not contain NUL bytes"},
    /* memory_mib */
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": 63}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": 0}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": -2048}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": 4194305}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": 9223372036854775807}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": \"2048\"}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": 1.5}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": 2048.0}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": true}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": null}",
     "memory_mib: must be an integer between 64 and 4194304"},
    {PATCH, NULL, "{\"memory_mib\": 63}", "memory_mib: must be an integer between 64 and 4194304"},
    /* cpus */
    {CREATE, NULL, "{\"name\": \"a\", \"cpus\": 0}", "cpus: must be an integer between 1 and 255"},
    {CREATE, NULL, "{\"name\": \"a\", \"cpus\": 256}", "cpus: must be an integer between 1 and 255"},
    {CREATE, NULL, "{\"name\": \"a\", \"cpus\": -1}", "cpus: must be an integer between 1 and 255"},
    {CREATE, NULL, "{\"name\": \"a\", \"cpus\": \"2\"}", "cpus: must be an integer between 1 and 255"},
    {CREATE, NULL, "{\"name\": \"a\", \"cpus\": 2.5}", "cpus: must be an integer between 1 and 255"},
    {CREATE, NULL, "{\"name\": \"a\", \"cpus\": false}", "cpus: must be an integer between 1 and 255"},
    /* disks */
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": {}}", "disks: must be an array"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": null}", "disks: must be an array"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"disks\": [{\"size_gib\": 1}, {\"size_gib\": 1}, {\"size_gib\": 1}, {\"size_gib\": "
     "1}, "
     "{\"size_gib\": 1}]}",
     "disks: at most 4"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": [32]}", "disks[0]: must be an object"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": [{\"size_gib\": 1, \"format\": \"raw\"}]}",
     "disks[0].format: unknown field"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": [{\"size_gib\": 1, \"path\": \"/etc/shadow\"}]}",
     "disks[0].path: set by the server"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": [{\"interface\": \"virtio\"}]}",
     "disks[0].size_gib: required"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": [{\"size_gib\": 0}]}",
     "disks[0].size_gib: must be an integer between 1 and 65536"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": [{\"size_gib\": 1}, {\"size_gib\": 65537}]}",
     "disks[1].size_gib: must be an integer between 1 and 65536"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": [{\"size_gib\": \"10G\"}]}",
     "disks[0].size_gib: must be an integer between 1 and 65536"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"disks\": [{\"size_gib\": 1}, {\"size_gib\": 1, \"interface\": \"scsi\"}]}",
     "disks[1].interface: unknown interface 'scsi' (virtio, nvme, ahci, ide, usb)"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": [{\"size_gib\": 1, \"interface\": 3}]}",
     "disks[0].interface: must be a string"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"arch\": \"aarch64\", \"disks\": [{\"size_gib\": 1, \"interface\": \"ahci\"}]}",
     "disks[0].interface: 'ahci' is not available for aarch64"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"arch\": \"aarch64\", \"disks\": [{\"size_gib\": 1, \"interface\": \"ide\"}]}",
     "disks[0].interface: 'ide' is not available for aarch64"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"arch\": \"i386\", \"disks\": [{\"size_gib\": 1}, {\"size_gib\": 1}, {\"size_gib\": "
     "1, "
     "\"interface\": \"ahci\"}, {\"size_gib\": 1}]}",
     "disks: at most 3 ahci/ide disks on i386 (the CD-ROM uses the last IDE slot)"},
    /* cdrom */
    {CREATE, NULL, "{\"name\": \"a\", \"cdrom\": \"images/x.iso\"}", "cdrom: must be an absolute path"},
    {CREATE, NULL, "{\"name\": \"a\", \"cdrom\": 7}", "cdrom: must be a string or null"},
    {CREATE, NULL, "{\"name\": \"a\", \"cdrom\": false}", "cdrom: must be a string or null"},
    {CREATE, NULL, "{\"name\": \"a\", \"cdrom\": \"/a\\nb.iso\"}",
     "cdrom: must not contain control characters"},
    {CREATE, NULL, "{\"name\": \"a\", \"cdrom\": \"/a\\u007f.iso\"}",
     "cdrom: must not contain control characters"},
    {CREATE, NULL, "{\"name\": \"a\", \"cdrom\": \"/a.iso\\u0000.txt\"}",
     "cdrom: must not contain NUL bytes"},
    /* drivers_iso: a path as cdrom's, and a slot for its drive */
    {CREATE, NULL, "{\"name\": \"a\", \"drivers_iso\": \"virtio-win.iso\"}",
     "drivers_iso: must be an absolute path"},
    {CREATE, NULL, "{\"name\": \"a\", \"drivers_iso\": 1}", "drivers_iso: must be a string or null"},
    {CREATE, NULL, "{\"name\": \"a\", \"drivers_iso\": \"/a\\nb.iso\"}",
     "drivers_iso: must not contain control characters"},
    {PATCH, NULL, "{\"cdrom\": \"x.iso\"}", "cdrom: must be an absolute path"},
    /* boot_order */
    {CREATE, NULL, "{\"name\": \"a\", \"boot_order\": []}",
     "boot_order: must be an array of 1 to 3 of cdrom, disk, network"},
    {CREATE, NULL, "{\"name\": \"a\", \"boot_order\": \"cdrom\"}",
     "boot_order: must be an array of 1 to 3 of cdrom, disk, network"},
    {CREATE, NULL, "{\"name\": \"a\", \"boot_order\": [\"cdrom\", \"disk\", \"network\", \"cdrom\"]}",
     "boot_order: must be an array of 1 to 3 of cdrom, disk, network"},
    {CREATE, NULL, "{\"name\": \"a\", \"boot_order\": [\"disk\", \"disk\"]}",
     "boot_order: 'disk' listed twice"},
    {CREATE, NULL, "{\"name\": \"a\", \"boot_order\": [\"network\", \"cdrom\", \"network\"]}",
     "boot_order: 'network' listed twice"},
    {CREATE, NULL, "{\"name\": \"a\", \"boot_order\": [\"floppy\"]}",
     "boot_order[0]: unknown device 'floppy' (cdrom, disk, network)"},
    {CREATE, NULL, "{\"name\": \"a\", \"boot_order\": [\"disk\", 1]}", "boot_order[1]: must be a string"},
    {PATCH, NULL, "{\"boot_order\": [\"hd\"]}", "boot_order[0]: unknown device 'hd' (cdrom, disk, network)"},
    /* display */
    {CREATE, NULL, "{\"name\": \"a\", \"display\": \"ramfb\"}",
     "display: 'ramfb' is not available for x86_64"},
    {CREATE, NULL, "{\"name\": \"a\", \"display\": \"virtio-gpu\"}",
     "display: 'virtio-gpu' is not available for x86_64"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"aarch64\", \"display\": \"std\"}",
     "display: 'std' is not available for aarch64"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"i386\", \"display\": \"ramfb\"}",
     "display: 'ramfb' is not available for i386"},
    {CREATE, NULL, "{\"name\": \"a\", \"display\": \"qxl\"}",
     "display: unknown display 'qxl' (std, virtio-vga, cirrus, virtio-gpu, ramfb)"},
    {CREATE, NULL, "{\"name\": \"a\", \"display\": null}", "display: must be a string"},
    {PATCH, NULL, "{\"display\": \"ramfb\"}", "display: 'ramfb' is not available for x86_64"},
    {PATCH, "{\"name\": \"b\", \"arch\": \"aarch64\"}", "{\"display\": \"cirrus\"}",
     "display: 'cirrus' is not available for aarch64"},
    /* network */
    {CREATE, NULL, "{\"name\": \"a\", \"network\": \"user\"}", "network: must be an object"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"bridge\": \"br0\"}}", "network.bridge: unknown field"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"mode\": \"bridge\"}}",
     "network.mode: must be 'user' or 'none'"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"mode\": null}}",
     "network.mode: must be 'user' or 'none'"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"mode\": \"user\\u0000\"}}",
     "network.mode: must be 'user' or 'none'"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"nic\": \"ne2k_pci\"}}",
     "network.nic: unknown NIC 'ne2k_pci' (e1000e, e1000, rtl8139, virtio-net-pci)"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"aarch64\", \"network\": {\"nic\": \"rtl8139\"}}",
     "network.nic: 'rtl8139' is not available for aarch64"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"aarch64\", \"network\": {\"nic\": \"e1000\"}}",
     "network.nic: 'e1000' is not available for aarch64"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"forwards\": {}}}",
     "network.forwards: must be an array"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"forwards\": [22]}}",
     "network.forwards[0]: must be an object"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"network\": {\"forwards\": [{\"guest_port\": 22, \"host\": \"0.0.0.0\"}]}}",
     "network.forwards[0].host: unknown field"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"network\": {\"forwards\": [{\"proto\": \"sctp\", \"guest_port\": 22}]}}",
     "network.forwards[0].proto: must be 'tcp' or 'udp'"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"network\": {\"forwards\": [{\"proto\": \"TCP\", \"guest_port\": 22}]}}",
     "network.forwards[0].proto: must be 'tcp' or 'udp'"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"network\": {\"forwards\": [{\"host_port\": 65536, \"guest_port\": 22}]}}",
     "network.forwards[0].host_port: must be an integer between 0 and 65535"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"network\": {\"forwards\": [{\"host_port\": -1, \"guest_port\": 22}]}}",
     "network.forwards[0].host_port: must be an integer between 0 and 65535"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"network\": {\"forwards\": [{\"host_port\": \"80\", \"guest_port\": 22}]}}",
     "network.forwards[0].host_port: must be an integer between 0 and 65535"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"forwards\": [{\"guest_port\": 0}]}}",
     "network.forwards[0].guest_port: must be an integer between 1 and 65535"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"forwards\": [{\"guest_port\": 65536}]}}",
     "network.forwards[0].guest_port: must be an integer between 1 and 65535"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"forwards\": [{\"host_port\": 8080}]}}",
     "network.forwards[0].guest_port: required"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"network\": {\"forwards\": [{\"host_port\": 8080, \"guest_port\": 80}, {\"proto\": "
     "\"tcp\", "
     "\"host_port\": 8080, \"guest_port\": 8080}]}}",
     "network.forwards[1].host_port: 8080/tcp is already forwarded"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"network\": {\"forwards\": [{\"proto\": \"udp\", \"host_port\": 53, \"guest_port\": "
     "53}, "
     "{\"host_port\": 53, \"guest_port\": 53}, {\"proto\": \"udp\", \"host_port\": 53, \"guest_port\": "
     "5353}]}}",
     "network.forwards[2].host_port: 53/udp is already forwarded"},
    {PATCH, NULL, "{\"network\": {\"nic\": \"virtio-net\"}}",
     "network.nic: unknown NIC 'virtio-net' (e1000e, e1000, rtl8139, virtio-net-pci)"},
    /* rtc */
    {CREATE, NULL, "{\"name\": \"a\", \"rtc\": \"local\"}", "rtc: must be 'utc' or 'localtime'"},
    {CREATE, NULL, "{\"name\": \"a\", \"rtc\": \"UTC\"}", "rtc: must be 'utc' or 'localtime'"},
    {CREATE, NULL, "{\"name\": \"a\", \"rtc\": \"utc\\u0000x\"}", "rtc: must be 'utc' or 'localtime'"},
    {CREATE, NULL, "{\"name\": \"a\", \"rtc\": true}", "rtc: must be 'utc' or 'localtime'"},
    /* several errors: the field order decides, not the body's key order */
    {CREATE, NULL, "{\"cpus\": 0, \"name\": \"\"}", "name: must be 1-64 bytes of printable UTF-8"},
    {CREATE, NULL, "{\"rtc\": 1, \"cpus\": 0, \"name\": \"a\"}",
     "cpus: must be an integer between 1 and 255"},
    {CREATE, NULL, "{\"cpus\": 0, \"bogus\": 1}", "bogus: unknown field"},
    {CREATE, NULL, "{\"id\": \"x\", \"cpus\": 0}", "id: set by the server"},
    {CREATE, NULL, "{\"arch\": \"mips\", \"memory_mib\": 1}", "name: required"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"mips\", \"memory_mib\": 1}",
     "arch: unknown architecture 'mips' (x86_64, i386, aarch64)"},
    /* stored rows */
    {STORED, NULL,
     "{\"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", \"arch\": \"x86_64\", "
     "\"disks\": []}",
     "id: required"},
    {STORED, NULL, "{\"id\": \"0123456789abcdef\", \"name\": \"s\", \"arch\": \"x86_64\", \"disks\": []}",
     "uuid: required"},
    {STORED, NULL,
     "{\"id\": \"0123456789abcdef\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"disks\": []}",
     "arch: required"},
    {STORED, NULL,
     "{\"id\": \"0123456789abcdef\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"arch\": \"x86_64\"}",
     "disks: required"},
    {STORED, NULL,
     "{\"id\": \"0123456789ABCDEF\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"disks\": []}",
     "id: must be 16 lowercase hex digits"},
    {STORED, NULL,
     "{\"id\": \"0123456789abcde\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"disks\": []}",
     "id: must be 16 lowercase hex digits"},
    {STORED, NULL,
     "{\"id\": \"../../../etc/pas\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"disks\": []}",
     "id: must be 16 lowercase hex digits"},
    {STORED, NULL,
     "{\"id\": \"0123456789abcdef\", \"uuid\": \"0123456789ab-4def-8123-456789abcdef-\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"disks\": []}",
     "uuid: must be a lowercase UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"},
    {STORED, NULL,
     "{\"id\": \"0123456789abcdef\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdeg\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"disks\": []}",
     "uuid: must be a lowercase UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"},
    {STORED, NULL,
     "{\"id\": \"0123456789abcdef\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"disks\": [{\"size_gib\": 1, \"interface\": \"ahci\"}]}",
     "disks[0].path: required"},
    {STORED, NULL,
     "{\"id\": \"0123456789abcdef\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"disks\": [{\"path\": \"/d/0.qcow2\", \"size_gib\": 1}]}",
     "disks[0].interface: required"},
    {STORED, NULL,
     "{\"id\": \"0123456789abcdef\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"disks\": [{\"path\": \"d/0.qcow2\", \"size_gib\": 1, \"interface\": \"ahci\"}]}",
     "disks[0].path: must be an absolute path"},
    {STORED, NULL,
     "{\"id\": \"0123456789abcdef\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"disks\": [{\"path\": \"\", \"size_gib\": 1, \"interface\": \"ahci\"}]}",
     "disks[0].path: must be an absolute path"},
    {STORED, NULL, "{" STORED_OK ", \"extra\": 1}", "extra: unknown field"},
    {STORED, NULL, "{" STORED_OK ", \"display\": \"ramfb\"}", "display: 'ramfb' is not available for x86_64"},
};

static void test_bad(void **state) {
  for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
    const struct bad *t = &bad_cases[i];
    json_t *body = parse(t->body);
    struct vm_config *c = xcalloc(1, sizeof(*c));
    char err[256];
    int rc = run(t->mode, t->base, body, c, err, sizeof(err));
    json_decref(body);
    free(c);
    if (rc != -1 || strcmp(err, t->err) != 0)
      fail_msg("case %zu %s\n  want: %s\n  got:  rc=%d %s", i, t->body, t->err, rc, err);
  }
}

/* Rejections whose bodies are easier to build than to write out. */
static void test_bad_built(void **state) {
  struct vm_config *c = xcalloc(1, sizeof(*c));
  char err[256], *long_path = xmalloc(4097);
  json_t *body;

  /* Invalid UTF-8 cannot come out of the JSON decoder, but can be put in by C. */
  static const char *const bad_names[] = {"\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xe6\x97", "\x80"};
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
    body = json_pack("{s:o}", "name", json_stringn_nocheck(bad_names[i], strlen(bad_names[i])));
    assert_int_equal(vm_config_apply_json(c, body, true, err, sizeof(err)), -1);
    assert_string_equal(err, "name: must be 1-64 bytes of printable UTF-8");
    json_decref(body);
  }
  body = json_pack("{s:s, s:o}", "name", "a", "cdrom", json_stringn_nocheck("/\xc3(.iso", 7));
  assert_int_equal(vm_config_apply_json(c, body, true, err, sizeof(err)), -1);
  assert_string_equal(err, "cdrom: must be valid UTF-8");
  json_decref(body);

  /* Nor can a NUL inside a key: "name\0x" must not pass for "name". */
  body = json_pack("{s:s}", "name", "a");
  json_object_setn_new_nocheck(body, "name\0x", 6, json_integer(1));
  assert_int_equal(vm_config_apply_json(c, body, true, err, sizeof(err)), -1);
  assert_string_equal(err, "name?x: unknown field");
  json_decref(body);

  /* A path one byte longer than the buffer, and one that just fits. */
  long_path[0] = '/';
  memset(long_path + 1, 'a', 4095);
  long_path[4096] = 0;
  body = json_pack("{s:s, s:s}", "name", "a", "cdrom", long_path);
  assert_int_equal(vm_config_apply_json(c, body, true, err, sizeof(err)), -1);
  assert_string_equal(err, "cdrom: must be at most 4095 bytes");
  json_decref(body);
  long_path[4095] = 0;
  body = json_pack("{s:s, s:s}", "name", "a", "cdrom", long_path);
  assert_int_equal(vm_config_apply_json(c, body, true, err, sizeof(err)), 0);
  assert_string_equal(c->cdrom, long_path);
  json_decref(body);

  /* Seventeen forwards. */
  json_t *fw = json_array();
  for (int i = 0; i < VM_MAX_FORWARDS + 1; i++)
    json_array_append_new(fw, json_pack("{s:i}", "guest_port", 1000 + i));
  body = json_pack("{s:s, s:{s:o}}", "name", "a", "network", "forwards", fw);
  assert_int_equal(vm_config_apply_json(c, body, true, err, sizeof(err)), -1);
  assert_string_equal(err, "network.forwards: at most 16");
  json_array_remove(fw, 0);
  assert_int_equal(vm_config_apply_json(c, body, true, err, sizeof(err)), 0);
  assert_int_equal(c->n_forwards, VM_MAX_FORWARDS);
  json_decref(body);

  /* A small error buffer gets a cut message, never an overflow; none at all is fine. */
  body = json_pack("{s:i}", "cpus", 0);
  char tiny[8];
  memset(tiny, 'x', sizeof(tiny));
  assert_int_equal(vm_config_apply_json(c, body, true, tiny, 5), -1);
  assert_string_equal(tiny, "name");
  assert_int_equal(tiny[5], 'x');
  assert_int_equal(vm_config_apply_json(c, body, true, NULL, 0), -1);
  json_decref(body);
  free(long_path);
  free(c);
}

/* ---- acceptances ---- */

struct good {
  enum mode mode;
  const char *base; /* PATCH only */
  const char *body;
  const char *want; /* every key here must equal the result's; "*" = whole object */
};

#define X86_DEFAULTS                                                                                         \
  "{\"id\": \"\", \"uuid\": \"\", \"name\": \"vm1\", \"arch\": \"x86_64\", \"memory_mib\": 2048, \"cpus\": " \
  "2, "                                                                                                      \
  "\"disks\": [{\"path\": \"\", \"size_gib\": 32, \"interface\": \"ahci\"}], \"cdrom\": null, "              \
  "\"boot_order\": "                                                                                         \
  "[\"cdrom\", \"disk\"], \"display\": \"std\", \"network\": {\"mode\": \"user\", \"nic\": \"e1000e\", "     \
  "\"forwards\": "                                                                                           \
  "[]}, \"rtc\": \"utc\", \"guest_agent\": true}"

#define X86_DEFAULTS_R                                                                                       \
  "{\"id\": \"\", \"uuid\": \"\", \"name\": \"r\", \"arch\": \"x86_64\", \"memory_mib\": 2048, \"cpus\": "   \
  "2, "                                                                                                      \
  "\"disks\": [{\"path\": \"\", \"size_gib\": 32, \"interface\": \"ahci\"}], \"cdrom\": null, "              \
  "\"boot_order\": [\"cdrom\", \"disk\"], \"display\": \"std\", \"network\": {\"mode\": \"user\", "          \
  "\"nic\": \"e1000e\", \"forwards\": []}, \"rtc\": \"utc\", \"guest_agent\": true}"

static const struct good good_cases[] = {
    /* rdp: defaults filled, absent from the output when unset, null clears, objects merge */
    {CREATE, NULL, "{\"name\": \"r\", \"rdp\": {\"host\": \"win.example\", \"username\": \"u\"}}",
     "{\"rdp\": {\"host\": \"win.example\", \"port\": 3389, \"username\": \"u\", \"password\": \"\", "
     "\"domain\": \"\", \"security\": \"any\", \"ignore_cert\": false, \"fingerprint\": \"\"}}"},
    {CREATE, NULL, "{\"name\": \"r\", \"rdp\": {\"username\": \"\\u00e9l\\u00e8ve\", \"password\": \"p\"}}",
     "{\"rdp\": {\"host\": \"\", \"port\": 3389, \"username\": \"\\u00e9l\\u00e8ve\", \"password\": \"p\", "
     "\"domain\": \"\", \"security\": \"any\", \"ignore_cert\": false, \"fingerprint\": \"\"}}"},
    {PATCH, "{\"name\": \"r\", \"rdp\": {\"host\": \"h\", \"password\": \"p\"}}",
     "{\"rdp\": {\"port\": 3390, \"password_set\": true, \"security\": \"nla\", \"fingerprint\": \"AB:cd\"}}",
     "{\"rdp\": {\"host\": \"h\", \"port\": 3390, \"username\": \"\", \"password\": \"p\", "
     "\"domain\": \"\", \"security\": \"nla\", \"ignore_cert\": false, \"fingerprint\": \"AB:cd\"}}"},
    {PATCH, "{\"name\": \"r\", \"rdp\": {\"host\": \"h\"}}", "{\"rdp\": null}", "*" X86_DEFAULTS_R},
    /* rdp.remote_app: defaults, replaced as a whole, null clears (then absent) */
    {CREATE, NULL, "{\"name\": \"r\", \"rdp\": {\"remote_app\": {\"program\": \"||notepad\"}}}",
     "{\"rdp\": {\"host\": \"\", \"port\": 3389, \"username\": \"\", \"password\": \"\", \"domain\": \"\", "
     "\"security\": \"any\", \"ignore_cert\": false, \"fingerprint\": \"\", "
     "\"remote_app\": {\"program\": \"||notepad\", \"args\": \"\", \"mode\": \"rail\"}}}"},
    {PATCH, "{\"name\": \"r\", \"rdp\": {\"remote_app\": {\"program\": \"||notepad\", \"args\": \"x\"}}}",
     "{\"rdp\": {\"remote_app\": {\"program\": \"%SystemRoot%\\\\notepad.exe\", \"mode\": \"shell\"}}}",
     "{\"rdp\": {\"host\": \"\", \"port\": 3389, \"username\": \"\", \"password\": \"\", \"domain\": \"\", "
     "\"security\": \"any\", \"ignore_cert\": false, \"fingerprint\": \"\", "
     "\"remote_app\": {\"program\": \"%SystemRoot%\\\\notepad.exe\", \"args\": \"\", \"mode\": \"shell\"}}}"},
    {PATCH, "{\"name\": \"r\", \"rdp\": {\"remote_app\": {\"program\": \"C:\\\\a b\\\\c.exe\"}}}",
     "{\"rdp\": {\"remote_app\": null}}",
     "{\"rdp\": {\"host\": \"\", \"port\": 3389, \"username\": \"\", \"password\": \"\", \"domain\": \"\", "
     "\"security\": \"any\", \"ignore_cert\": false, \"fingerprint\": \"\"}}"},
    {STORED, NULL,
     "{" STORED_OK ", \"rdp\": {\"host\": \"\", \"port\": 3389, \"remote_app\": {\"program\": "
     "\"\\\\\\\\srv\\\\share\\\\app.exe\", \"args\": \"/q\"}}}",
     "{\"rdp\": {\"host\": \"\", \"port\": 3389, \"username\": \"\", \"password\": \"\", \"domain\": \"\", "
     "\"security\": \"any\", \"ignore_cert\": false, \"fingerprint\": \"\", \"remote_app\": {\"program\": "
     "\"\\\\\\\\srv\\\\share\\\\app.exe\", \"args\": \"/q\", \"mode\": \"rail\"}}}"},
    {STORED, NULL,
     "{" STORED_OK ", \"rdp\": {\"host\": \"\", \"port\": 3389, \"username\": \"u\", \"password\": \"\", "
     "\"domain\": \"\", \"security\": \"any\", \"ignore_cert\": false, \"fingerprint\": \"\"}}",
     "{\"rdp\": {\"host\": \"\", \"port\": 3389, \"username\": \"u\", \"password\": \"\", \"domain\": \"\", "
     "\"security\": \"any\", \"ignore_cert\": false, \"fingerprint\": \"\"}}"},
    {CREATE, NULL, "{\"name\": \"vm1\"}", "*" X86_DEFAULTS},
    {CREATE, NULL, "{\"name\": \"vm1\", \"arch\": \"x86_64\"}", "*" X86_DEFAULTS},
    {CREATE, NULL, "{\"name\": \"arm\", \"arch\": \"aarch64\"}",
     "*{\"id\": \"\", \"uuid\": \"\", \"name\": \"arm\", \"arch\": \"aarch64\", \"memory_mib\": 2048, "
     "\"cpus\": 2, "
     "\"disks\": [{\"path\": \"\", \"size_gib\": 32, \"interface\": \"nvme\"}], \"cdrom\": null, "
     "\"boot_order\": "
     "[\"cdrom\", \"disk\"], \"display\": \"virtio-gpu\", \"network\": {\"mode\": \"user\", \"nic\": "
     "\"virtio-net-pci\", \"forwards\": []}, \"rtc\": \"utc\", \"guest_agent\": true}"},
    {CREATE, NULL, "{\"name\": \"old\", \"arch\": \"i386\"}",
     "*{\"id\": \"\", \"uuid\": \"\", \"name\": \"old\", \"arch\": \"i386\", \"memory_mib\": 2048, \"cpus\": "
     "2, "
     "\"disks\": [{\"path\": \"\", \"size_gib\": 32, \"interface\": \"ide\"}], \"cdrom\": null, "
     "\"boot_order\": "
     "[\"cdrom\", \"disk\"], \"display\": \"std\", \"network\": {\"mode\": \"user\", \"nic\": \"e1000\", "
     "\"forwards\": "
     "[]}, \"rtc\": \"utc\", \"guest_agent\": true}"},
    /* everything at once */
    {CREATE, NULL,
     "{\"name\": \"Windows 11 \\u00e9\\ud83d\\ude00\", \"arch\": \"x86_64\", \"memory_mib\": 8192, \"cpus\": "
     "4, "
     "\"disks\": [{\"size_gib\": 80, \"interface\": \"nvme\"}, {\"size_gib\": 10, \"interface\": \"usb\"}], "
     "\"cdrom\": \"/var/lib/qemu-hmos/images/win11.iso\", \"boot_order\": [\"disk\", \"cdrom\", "
     "\"network\"], "
     "\"display\": \"virtio-vga\", \"network\": {\"mode\": \"user\", \"nic\": \"virtio-net-pci\", "
     "\"forwards\": "
     "[{\"proto\": \"tcp\", \"host_port\": 0, \"guest_port\": 3389}, {\"proto\": \"udp\", \"host_port\": "
     "3389, "
     "\"guest_port\": 3389}]}, \"rtc\": \"localtime\"}",
     "*{\"id\": \"\", \"uuid\": \"\", \"name\": \"Windows 11 \\u00e9\\ud83d\\ude00\", \"arch\": \"x86_64\", "
     "\"memory_mib\": 8192, \"cpus\": 4, \"disks\": [{\"path\": \"\", \"size_gib\": 80, \"interface\": "
     "\"nvme\"}, "
     "{\"path\": \"\", \"size_gib\": 10, \"interface\": \"usb\"}], \"cdrom\": "
     "\"/var/lib/qemu-hmos/images/win11.iso\", "
     "\"boot_order\": [\"disk\", \"cdrom\", \"network\"], \"display\": \"virtio-vga\", \"network\": "
     "{\"mode\": "
     "\"user\", \"nic\": \"virtio-net-pci\", \"forwards\": [{\"proto\": \"tcp\", \"host_port\": 0, "
     "\"guest_port\": "
     "3389}, {\"proto\": \"udp\", \"host_port\": 3389, \"guest_port\": 3389}]}, \"rtc\": \"localtime\", "
     "\"guest_agent\": true}"},
    /* limits, inclusive */
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": 64, \"cpus\": 1}", "{\"memory_mib\": 64, \"cpus\": 1}"},
    {CREATE, NULL, "{\"name\": \"a\", \"memory_mib\": 4194304, \"cpus\": 255}",
     "{\"memory_mib\": 4194304, \"cpus\": 255}"},
    {CREATE, NULL, "{\"name\": \"a\", \"disks\": [{\"size_gib\": 1}, {\"size_gib\": 65536}]}",
     "{\"disks\": [{\"path\": \"\", \"size_gib\": 1, \"interface\": \"ahci\"}, {\"path\": \"\", "
     "\"size_gib\": 65536, "
     "\"interface\": \"ahci\"}]}"},
    {CREATE, NULL, "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
     "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"},
    {CREATE, NULL, /* 21 x 3 bytes + 1 = 64 */
     "{\"name\": "
     "\"\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5"
     "\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5x\"}",
     "{\"name\": "
     "\"\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5"
     "\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5\\u65e5x\"}"},
    {CREATE, NULL, "{\"name\": \"my,vm = <b>\\\"x\\\"</b>\"}", "{\"name\": \"my,vm = <b>\\\"x\\\"</b>\"}"},
    /* disks: none, the arch's default interface, all four on x86_64 */
    {CREATE, NULL, "{\"name\": \"live\", \"disks\": [], \"boot_order\": [\"cdrom\"]}",
     "{\"disks\": [], \"boot_order\": [\"cdrom\"]}"},
    {CREATE, NULL, "{\"name\": \"a\", \"arch\": \"aarch64\", \"disks\": [{\"size_gib\": 5}]}",
     "{\"disks\": [{\"path\": \"\", \"size_gib\": 5, \"interface\": \"nvme\"}]}"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"disks\": [{\"size_gib\": 1, \"interface\": \"ide\"}, {\"size_gib\": 1, "
     "\"interface\": "
     "\"ide\"}, {\"size_gib\": 1, \"interface\": \"ahci\"}, {\"size_gib\": 1, \"interface\": \"ahci\"}]}",
     "{\"disks\": [{\"path\": \"\", \"size_gib\": 1, \"interface\": \"ide\"}, {\"path\": \"\", \"size_gib\": "
     "1, "
     "\"interface\": \"ide\"}, {\"path\": \"\", \"size_gib\": 1, \"interface\": \"ahci\"}, {\"path\": \"\", "
     "\"size_gib\": 1, \"interface\": \"ahci\"}]}"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"arch\": \"i386\", \"disks\": [{\"size_gib\": 1}, {\"size_gib\": 1}, {\"size_gib\": "
     "1}, "
     "{\"size_gib\": 1, \"interface\": \"virtio\"}]}",
     "{\"disks\": [{\"path\": \"\", \"size_gib\": 1, \"interface\": \"ide\"}, {\"path\": \"\", \"size_gib\": "
     "1, "
     "\"interface\": \"ide\"}, {\"path\": \"\", \"size_gib\": 1, \"interface\": \"ide\"}, {\"path\": \"\", "
     "\"size_gib\": 1, \"interface\": \"virtio\"}]}"},
    /* cdrom: null and "" both mean an empty drive */
    {CREATE, NULL, "{\"name\": \"a\", \"cdrom\": null}", "{\"cdrom\": null}"},
    {CREATE, NULL, "{\"name\": \"a\", \"cdrom\": \"\"}", "{\"cdrom\": null}"},
    {CREATE, NULL, "{\"name\": \"a\", \"cdrom\": \"/isos/a,b c.iso\"}", "{\"cdrom\": \"/isos/a,b c.iso\"}"},
    /* per-arch lists */
    {CREATE, NULL, "{\"name\": \"a\", \"display\": \"cirrus\", \"network\": {\"nic\": \"rtl8139\"}}",
     "{\"display\": \"cirrus\", \"network\": {\"mode\": \"user\", \"nic\": \"rtl8139\", \"forwards\": []}}"},
    {CREATE, NULL,
     "{\"name\": \"a\", \"arch\": \"aarch64\", \"display\": \"ramfb\", \"network\": {\"nic\": \"e1000e\"}, "
     "\"disks\": "
     "[{\"size_gib\": 1, \"interface\": \"usb\"}]}",
     "{\"display\": \"ramfb\", \"network\": {\"mode\": \"user\", \"nic\": \"e1000e\", \"forwards\": []}, "
     "\"disks\": "
     "[{\"path\": \"\", \"size_gib\": 1, \"interface\": \"usb\"}]}"},
    /* forwards: port 0 may repeat; tcp and udp on one port are two sockets */
    {CREATE, NULL,
     "{\"name\": \"a\", \"network\": {\"forwards\": [{\"guest_port\": 22}, {\"host_port\": 0, "
     "\"guest_port\": 80}, "
     "{\"proto\": \"tcp\", \"host_port\": 53, \"guest_port\": 53}, {\"proto\": \"udp\", \"host_port\": 53, "
     "\"guest_port\": 53}]}}",
     "{\"network\": {\"mode\": \"user\", \"nic\": \"e1000e\", \"forwards\": [{\"proto\": \"tcp\", "
     "\"host_port\": 0, "
     "\"guest_port\": 22}, {\"proto\": \"tcp\", \"host_port\": 0, \"guest_port\": 80}, {\"proto\": \"tcp\", "
     "\"host_port\": 53, \"guest_port\": 53}, {\"proto\": \"udp\", \"host_port\": 53, \"guest_port\": "
     "53}]}}"},
    {CREATE, NULL, "{\"name\": \"a\", \"network\": {\"mode\": \"none\"}}",
     "{\"network\": {\"mode\": \"none\", \"nic\": \"e1000e\", \"forwards\": []}}"},
    /* patches change only what they name */
    {PATCH, NULL, "{}",
     "*{\"id\": \"\", \"uuid\": \"\", \"name\": \"base\", \"arch\": \"x86_64\", \"memory_mib\": "
     "2048, \"cpus\": 2, \"disks\": [{\"path\": \"\", \"size_gib\": 32, \"interface\": \"ahci\"}], "
     "\"cdrom\": null, \"boot_order\": [\"cdrom\", \"disk\"], \"display\": \"std\", \"network\": "
     "{\"mode\": \"user\", \"nic\": \"e1000e\", \"forwards\": []}, \"rtc\": \"utc\", \"guest_agent\": true}"},
    {PATCH, NULL, "{\"name\": \"renamed\", \"memory_mib\": 4096, \"cpus\": 8, \"rtc\": \"localtime\"}",
     "{\"name\": \"renamed\", \"memory_mib\": 4096, \"cpus\": 8, \"rtc\": \"localtime\", \"display\": "
     "\"std\"}"},
    {PATCH,
     "{\"name\": \"b\", \"cdrom\": \"/i.iso\", \"network\": {\"nic\": \"virtio-net-pci\", \"forwards\": "
     "[{\"host_port\": 2222, \"guest_port\": 22}]}}",
     "{\"network\": {\"mode\": \"none\"}, \"cdrom\": null}",
     "{\"cdrom\": null, \"network\": {\"mode\": \"none\", \"nic\": \"virtio-net-pci\", \"forwards\": "
     "[{\"proto\": "
     "\"tcp\", \"host_port\": 2222, \"guest_port\": 22}]}}"},
    {PATCH, "{\"name\": \"b\", \"network\": {\"forwards\": [{\"guest_port\": 22}]}}",
     "{\"network\": {\"forwards\": []}}",
     "{\"network\": {\"mode\": \"user\", \"nic\": \"e1000e\", \"forwards\": []}}"},
    {PATCH, "{\"name\": \"b\", \"arch\": \"aarch64\"}",
     "{\"display\": \"ramfb\", \"boot_order\": [\"network\"]}",
     "{\"arch\": \"aarch64\", \"display\": \"ramfb\", \"boot_order\": [\"network\"]}"},
    /* stored rows fill what older rows lack from the defaults */
    {STORED, NULL, "{" STORED_OK "}",
     "*{\"id\": \"0123456789abcdef\", \"uuid\": \"01234567-89ab-4def-8123-456789abcdef\", \"name\": \"s\", "
     "\"arch\": "
     "\"x86_64\", \"memory_mib\": 2048, \"cpus\": 2, \"disks\": [{\"path\": \"/d/0.qcow2\", \"size_gib\": 1, "
     "\"interface\": \"ahci\"}], \"cdrom\": null, \"boot_order\": [\"cdrom\", \"disk\"], \"display\": "
     "\"std\", "
     "\"network\": {\"mode\": \"user\", \"nic\": \"e1000e\", \"forwards\": []}, \"rtc\": \"utc\"}"},
};

static void test_good(void **state) {
  for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
    const struct good *t = &good_cases[i];
    struct vm_config *c = xcalloc(1, sizeof(*c));
    char err[256];
    bool whole = t->want[0] == '*';
    json_t *body = parse(t->body), *want = parse(t->want + whole), *got = NULL;
    int rc = run(t->mode, t->base, body, c, err, sizeof(err));
    char *why = NULL;
    if (rc != 0) {
      why = xasprintf("rc=%d %s", rc, err);
    } else {
      const char *key;
      json_t *v;
      got = vm_config_to_json(c);
      if (whole && json_object_size(got) != json_object_size(want))
        why = xstrdup("different keys");
      json_object_foreach(want, key, v) {
        if (!why && !json_equal(v, json_object_get(got, key)))
          why = xasprintf("field '%s' differs", key);
      }
    }
    char *gs = got ? json_dumps(got, JSON_SORT_KEYS) : NULL;
    json_decref(body);
    json_decref(want);
    json_decref(got);
    free(c);
    if (why) {
      char msg[4096];
      snprintf(msg, sizeof(msg), "case %zu %s: %s\n  got: %s", i, t->body, why, gs ? gs : "-");
      free(why);
      free(gs);
      fail_msg("%s", msg);
    }
    free(gs);
  }
}

static void test_defaults(void **state) {
  struct vm_config c;
  vm_config_defaults(&c, VM_ARCH_X86_64);
  assert_int_equal(c.memory_mib, 2048);
  assert_int_equal(c.cpus, 2);
  assert_int_equal(c.n_disks, 1);
  assert_int_equal(c.disks[0].size_gib, 32);
  assert_int_equal(c.disks[0].iface, VM_DISK_IF_AHCI);
  assert_int_equal(c.n_boot, 2);
  assert_int_equal(c.boot[0], VM_BOOT_CDROM);
  assert_int_equal(c.boot[1], VM_BOOT_DISK);
  assert_string_equal(c.display, "std");
  assert_true(c.net_user);
  assert_string_equal(c.nic, "e1000e");
  assert_false(c.rtc_localtime);
  assert_int_equal(c.n_forwards, 0);
  assert_string_equal(c.cdrom, "");
  vm_config_defaults(&c, VM_ARCH_I386);
  assert_int_equal(c.disks[0].iface, VM_DISK_IF_IDE);
  assert_string_equal(c.display, "std");
  assert_string_equal(c.nic, "e1000");
  vm_config_defaults(&c, VM_ARCH_AARCH64);
  assert_int_equal(c.arch, VM_ARCH_AARCH64);
  assert_int_equal(c.disks[0].iface, VM_DISK_IF_NVME);
  assert_string_equal(c.display, "virtio-gpu");
  assert_string_equal(c.nic, "virtio-net-pci");
}

static void test_arch_names(void **state) {
  vm_arch a;
  for (int i = 0; i < VM_ARCH__N; i++) {
    assert_int_equal(vm_arch_parse(vm_arch_name((vm_arch)i), &a), 0);
    assert_int_equal(a, i);
  }
  assert_string_equal(vm_arch_name(VM_ARCH_X86_64), "x86_64");
  assert_string_equal(vm_arch_name(VM_ARCH_I386), "i386");
  assert_string_equal(vm_arch_name(VM_ARCH_AARCH64), "aarch64");
  assert_int_equal(vm_arch_parse("arm64", &a), -1);
  assert_int_equal(vm_arch_parse("", &a), -1);
  assert_string_equal(vm_arch_name(VM_ARCH__N), "unknown");
}

static void test_name_valid(void **state) {
  static const char *const ok[] = {
      "a",
      "Windows 10",
      "debian-12.5_arm64",
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
      "\xf0\x9f\x98\x80",
      "\xc2\xa0",
      "\xef\xbf\xbd",
      "\xf4\x8f\xbf\xbf",
      "a,b=c",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  };
  static const char *const bad[] = {
      /* length */
      "",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      /* C0 and DEL */
      "\x01",
      "a\nb",
      "a\rb",
      "\t",
      "\x1b[31m",
      "\x7f",
      /* C1 */
      "\xc2\x80",
      "\xc2\x85",
      "\xc2\x9f",
      /* overlong */
      "\xc0\x80",
      "\xc0\xaf",
      "\xc1\xbf",
      "\xe0\x80\xaf",
      "\xe0\x9f\xbf",
      "\xf0\x80\x80\xaf",
      /* surrogates */
      "\xed\xa0\x80",
      "\xed\xbf\xbf",
      /* beyond U+10FFFF */
      "\xf4\x90\x80\x80",
      "\xf5\x80\x80\x80",
      "\xff",
      "\xfe",
      /* broken sequences */
      "\x80",
      "a\xbf",
      "\xe6\x97",
      "\xe6",
      "\xf0\x9f\x98",
      "\xc3(",
  };

  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    if (!vm_name_valid(ok[i]))
      fail_msg("should be valid: ok[%zu]", i);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (vm_name_valid(bad[i]))
      fail_msg("should be invalid: bad[%zu]", i);
  }
}

/* to_json -> text -> from_json -> to_json gives the same JSON and the same struct. */
static void round_trip(const struct vm_config *c) {
  struct vm_config *back = xcalloc(1, sizeof(*back));
  char err[256];
  json_t *j = vm_config_to_json(c);
  char *text = json_dumps(j, JSON_COMPACT);
  json_t *j2 = parse(text);
  assert_int_equal(vm_config_from_json(back, j2, err, sizeof(err)), 0);
  json_t *j3 = vm_config_to_json(back);
  assert_true(json_equal(j, j3));
  assert_string_equal(back->id, c->id);
  assert_string_equal(back->uuid, c->uuid);
  assert_string_equal(back->name, c->name);
  assert_int_equal(back->arch, c->arch);
  assert_int_equal(back->memory_mib, c->memory_mib);
  assert_int_equal(back->cpus, c->cpus);
  assert_int_equal(back->n_disks, c->n_disks);
  for (size_t i = 0; i < c->n_disks; i++) {
    assert_string_equal(back->disks[i].path, c->disks[i].path);
    assert_int_equal(back->disks[i].size_gib, c->disks[i].size_gib);
    assert_int_equal(back->disks[i].iface, c->disks[i].iface);
  }
  assert_string_equal(back->cdrom, c->cdrom);
  assert_int_equal(back->n_boot, c->n_boot);
  assert_memory_equal(back->boot, c->boot, c->n_boot * sizeof(c->boot[0]));
  assert_string_equal(back->display, c->display);
  assert_int_equal(back->net_user, c->net_user);
  assert_string_equal(back->nic, c->nic);
  assert_int_equal(back->n_forwards, c->n_forwards);
  for (size_t i = 0; i < c->n_forwards; i++) {
    assert_int_equal(back->forwards[i].udp, c->forwards[i].udp);
    assert_int_equal(back->forwards[i].host_port, c->forwards[i].host_port);
    assert_int_equal(back->forwards[i].guest_port, c->forwards[i].guest_port);
  }
  assert_int_equal(back->rtc_localtime, c->rtc_localtime);
  free(text);
  json_decref(j);
  json_decref(j2);
  json_decref(j3);
  free(back);
}

static void identify(struct vm_config *c) {
  snprintf(c->id, sizeof(c->id), "fedcba9876543210");
  snprintf(c->uuid, sizeof(c->uuid), "fedcba98-7654-4321-8fed-cba987654321");
  for (size_t i = 0; i < c->n_disks; i++)
    snprintf(c->disks[i].path, sizeof(c->disks[i].path), "/data/vms/%s/disk%zu.qcow2", c->id, i);
}

static void test_round_trip(void **state) {
  struct vm_config *c = xcalloc(1, sizeof(*c));
  char err[256];
  for (int a = 0; a < VM_ARCH__N; a++) {
    vm_config_defaults(c, (vm_arch)a);
    snprintf(c->name, sizeof(c->name), "defaults %s", vm_arch_name((vm_arch)a));
    identify(c);
    round_trip(c);
  }
  /* Everything non-default, via the API parser. */
  json_t *body =
      parse("{\"name\": \"\\u65e5\\u672c,x\", \"arch\": \"aarch64\", \"memory_mib\": 65, \"cpus\": 255, "
            "\"disks\": [{\"size_gib\": 1, \"interface\": \"virtio\"}, {\"size_gib\": 2, \"interface\": "
            "\"usb\"}, {\"size_gib\": 3}, {\"size_gib\": 65536, \"interface\": \"nvme\"}], \"cdrom\": "
            "\"/a b/c,d.iso\", \"boot_order\": [\"network\", \"disk\", \"cdrom\"], \"display\": \"ramfb\", "
            "\"network\": {\"mode\": \"none\", \"nic\": \"e1000e\", \"forwards\": [{\"proto\": \"udp\", "
            "\"host_port\": 65535, \"guest_port\": 1}, {\"guest_port\": 65535}]}, \"rtc\": \"localtime\"}");
  assert_int_equal(vm_config_apply_json(c, body, true, err, sizeof(err)), 0);
  json_decref(body);
  identify(c);
  round_trip(c);
  /* No disks, no boot entries beyond one. */
  vm_config_defaults(c, VM_ARCH_I386);
  snprintf(c->name, sizeof(c->name), "x");
  c->n_disks = 0;
  c->n_boot = 1;
  c->boot[0] = VM_BOOT_NETWORK;
  identify(c);
  round_trip(c);
  free(c);
}

/* Applying to a copy is the documented way to keep the original on error. */
static void test_patch_on_copy(void **state) {
  struct vm_config *c = xcalloc(1, sizeof(*c)), *copy = xcalloc(1, sizeof(*copy));
  char err[256];
  json_t *b = parse("{\"name\": \"orig\"}");
  assert_int_equal(vm_config_apply_json(c, b, true, err, sizeof(err)), 0);
  json_decref(b);
  *copy = *c;
  b = parse("{\"memory_mib\": 4096, \"cpus\": 0}");
  assert_int_equal(vm_config_apply_json(copy, b, false, err, sizeof(err)), -1);
  assert_string_equal(err, "cpus: must be an integer between 1 and 255");
  json_decref(b);
  assert_int_equal(c->memory_mib, 2048);
  free(c);
  free(copy);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),   cmocka_unit_test(test_arch_names),
      cmocka_unit_test(test_name_valid), cmocka_unit_test(test_bad),
      cmocka_unit_test(test_bad_built),  cmocka_unit_test(test_good),
      cmocka_unit_test(test_round_trip), cmocka_unit_test(test_patch_on_copy),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
