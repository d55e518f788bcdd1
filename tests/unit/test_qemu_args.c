/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for qemu_args (vm_qemu_args.c and the config field): every refused option with the
 * message that names it, the checks of allowed options' values, the field's own limits (type,
 * UTF-8, control characters, count, length) through vm_config_apply_json, and the device-name
 * check with its "did you mean".
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
#include "vm_qemu_args.h"

/* Check the N arguments; the message (or "" when accepted). */
static const char *check(char err[512], size_t n, const char *const *args) {
  err[0] = 0;
  if (vm_qemu_args_check(args, n, err, 512) == 0)
    return "";
  return err;
}

/* Each refused option, with a value where it takes one, is refused and the message names it. The
 * list holds every REFUSE row of vm_qemu_args.c's table (checked by hand against it). */
static void test_refused_options(void **state) {
  (void)state;
  static const struct {
    const char *opt, *val; /* VAL NULL: a flag */
  } refused[] = {
      {"-qmp", "unix:/tmp/q,server=on,wait=off"},
      {"-qmp-pretty", "tcp:0.0.0.0:4444"},
      {"-monitor", "stdio"},
      {"-mon", "chardev=charmonitor"},
      {"-chardev", "socket,id=charmonitor,path=/tmp/x"},
      {"-chardev", "file,id=c1,path=/etc/passwd"},
      {"-chardev", "qemu-vdagent,id=vdagent0"},
      {"-chardev", "socket,id=qga0,path=/tmp/q"},
      {"-daemonize", NULL},
      {"-pidfile", "/tmp/pid"},
      {"-sandbox", "off"},
      {"-runas", "root"},
      {"-run-with", "user=root"},
      {"-chroot", "/"},
      {"-incoming", "tcp:0:4444"},
      {"-S", NULL},
      {"-name", "other"},
      {"-uuid", "00000000-0000-0000-0000-000000000001"},
      {"-vnc", ":0"},
      {"-display", "gtk"},
      {"-spice", "port=5900"},
      {"-nographic", NULL},
      {"-sdl", NULL},
      {"-curses", NULL},
      {"-full-screen", NULL},
      {"-loadvm", "snap1"},
      {"-writeconfig", "/tmp/c"},
      {"-readconfig", "/etc/qemu.conf"},
      {"-D", "/tmp/log"},
      {"-d", "in_asm"},
      {"-dfilter", "0x1000..0x2000"},
      {"-trace", "file=/tmp/t"},
      {"-serial", "file:/tmp/s"},
      {"-parallel", "pipe:/tmp/p"},
      {"-debugcon", "file:/tmp/d"},
      {"-plugin", "/tmp/p.so"},
      {"-accel", "kvm"},
      {"-enable-kvm", NULL},
      {"-machine", "accel=kvm"},
      {"-M", "pc"},
      {"-m", "64G"},
      {"-smp", "64"},
      {"-drive", "file=/etc/shadow,format=raw"},
      {"-blockdev", "driver=file,filename=/etc/shadow"},
      {"-cdrom", "/etc/shadow"},
      {"-hda", "/x"},
      {"-hdb", "/x"},
      {"-hdc", "/x"},
      {"-hdd", "/x"},
      {"-fda", "/x"},
      {"-fdb", "/x"},
      {"-sd", "/x"},
      {"-mtdblock", "/x"},
      {"-pflash", "/x"},
      {"-snapshot", NULL},
      {"-iscsi", "initiator-name=x"},
      {"-netdev", "user,id=n1,hostfwd=tcp::22-:22"},
      {"-net", "nic"},
      {"-nic", "user,hostfwd=tcp::22-:22"},
      {"-fsdev", "local,id=f,path=/"},
      {"-virtfs", "local,path=/,mount_tag=r"},
      {"-kernel", "/boot/vmlinuz"},
      {"-initrd", "/boot/initrd"},
      {"-append", "console=ttyS0"},
      {"-bios", "/x"},
      {"-L", "/"},
      {"-dtb", "/x"},
      {"-option-rom", "/x"},
      {"-acpitable", "file=/x"},
      {"-add-fd", "fd=3,set=1"},
      {"-mem-path", "/dev/shm"},
      {"-semihosting", NULL},
      {"-semihosting-config", "enable=on"},
      {"-tpmdev", "passthrough,id=t"},
      {"-audiodev", "wav,id=a,path=/tmp/a.wav"},
      {"-audio", "wav"},
      {"-usbdevice", "host:1234:5678"},
      {"-gdb", "tcp::1234"},
      {"-s", NULL},
      {"-set", "chardev.charmonitor.path=/tmp/x"},
      {"-no-shutdown", NULL},
      {"-action", "shutdown=pause"},
      {"-preconfig", NULL},
      {"-dump-vmstate", "/tmp/x"},
      {"-xen-domid", "1"},
      {"-xen-attach", NULL},
      {"-help", NULL},
      {"-h", NULL},
      {"-version", NULL},
      {"-xen-domid-restrict", NULL},
  };
  char err[512], want[64];
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    const char *args[] = {"-usb", refused[i].opt, refused[i].val};
    size_t n = refused[i].val ? 3 : 2;
    const char *got = check(err, n, args);
    snprintf(want, sizeof(want), "qemu_args[1]: %s is not allowed: ", refused[i].opt);
    if (strncmp(got, want, strlen(want)) != 0)
      fail_msg("%s %s\n  want: %s...\n  got:  %s", refused[i].opt, refused[i].val ? refused[i].val : "", want,
               got);
    /* the long form, as QEMU accepts it, is refused the same way */
    char dashed[40];
    snprintf(dashed, sizeof(dashed), "-%s", refused[i].opt);
    args[1] = dashed;
    if (strncmp(check(err, n, args), want, strlen(want)) != 0)
      fail_msg("%s: the -- form was not refused: %s", dashed, err);
  }
}

/* Values of allowed options: exact messages. */
static void test_refused_values(void **state) {
  (void)state;
  static const struct {
    const char *a[4];
    const char *err;
  } cases[] = {
      {{"disk.img"},
       "qemu_args[0]: 'disk.img' is not an option (QEMU would take it as a disk image; use disks)"},
      {{"-"}, "qemu_args[0]: '-' is not an option (QEMU would take it as a disk image; use disks)"},
      {{"-bogus"}, "qemu_args[0]: unknown QEMU option '-bogus'"},
      {{"-device"}, "qemu_args[0]: -device needs a value (the next argument)"},
      {{"-device", "help"}, "qemu_args[1]: -device: 'help' is not allowed: QEMU would print it and exit"},
      {{"-cpu", "?"}, "qemu_args[1]: -cpu: 'help' is not allowed: QEMU would print it and exit"},
      {{"-device", "e1000,help"},
       "qemu_args[1]: -device: 'help' is not allowed: QEMU would print it and exit"},
      {{"-device", "{\"driver\":\"loader\"}"},
       "qemu_args[1]: -device: the JSON form is not accepted; use key=value,..."},
      {{"-device", "loader,file=/etc/shadow"},
       "qemu_args[1]: -device: 'file=' is not allowed: it names a host file, device or the daemon's "
       "chardevs"},
      {{"-device", "loader,addr=0x1000"},
       "qemu_args[1]: -device loader is not allowed: it loads host files into guest memory"},
      {{"-device", "driver=loader,addr=0"},
       "qemu_args[1]: -device loader is not allowed: it loads host files into guest memory"},
      {{"-device", "e1000,romfile=/etc/shadow"},
       "qemu_args[1]: -device: 'romfile=' is not allowed: it names a host file, device or the daemon's "
       "chardevs"},
      {{"-device", "isa-serial,chardev=charmonitor"},
       "qemu_args[1]: -device: 'chardev=' is not allowed: it names a host file, device or the daemon's "
       "chardevs"},
      {{"-device", "usb-host,hostbus=1"},
       "qemu_args[1]: -device: 'hostbus=' is not allowed: it names a host file, device or the daemon's "
       "chardevs"},
      {{"-device", "usb-host,vendorid=1"},
       "qemu_args[1]: -device usb-host is not allowed: host USB devices are not passed through"},
      {{"-device", "vfio-pci,x=1"},
       "qemu_args[1]: -device vfio-pci is not allowed: host devices are not passed "
       "through"},
      {{"-device", ",id=x"}, "qemu_args[1]: -device: names no device type"},
      {{"-object", "memory-backend-file,id=m,mem-path=/dev/shm/x"},
       "qemu_args[1]: -object: 'mem-path=' is not allowed: it names a host file, device or the daemon's "
       "chardevs"},
      {{"-object", "rng-random,id=r"},
       "qemu_args[1]: -object rng-random is not allowed: only types that touch no host file or socket "
       "(iothread, rng-builtin, throttle-group, cryptodev-backend-builtin, authz-simple, can-bus)"},
      {{"-global", "e1000.romfile=/x"},
       "qemu_args[1]: -global: property 'romfile' is not allowed: it names a host file, device or the "
       "daemon's chardevs"},
      {{"-global", "driver=e1000,property=romfile,value=/x"},
       "qemu_args[1]: -global: property 'romfile' is not allowed: it names a host file, device or the "
       "daemon's chardevs"},
      {{"-object", "memory-backend-ram,id=m,size=64G,prealloc=on"},
       "qemu_args[1]: -object memory-backend-ram is not allowed: only types that touch no host file or "
       "socket "
       "(iothread, rng-builtin, throttle-group, cryptodev-backend-builtin, authz-simple, can-bus)"},
      {{"-k", "/etc/shadow"}, "qemu_args[1]: -k: a keymap's name (en-us, de, fr-ch, ...)"},
      {{"-k", "../../x"}, "qemu_args[1]: -k: a keymap's name (en-us, de, fr-ch, ...)"},
      {{"-overcommit", "mem-lock=on,help"},
       "qemu_args[1]: -overcommit: 'help' is not allowed: QEMU would print it and exit"},
      {{"-numa", "node,memdev=m0,file=/x"},
       "qemu_args[1]: -numa: 'file=' is not allowed: it names a host file, device or the daemon's chardevs"},
      {{"-device", "qemu-xhci,id=xhci"}, "qemu_args[1]: -device: id 'xhci' is the daemon's"},
      {{"-device", "virtio-blk-pci,id=disk3"}, "qemu_args[1]: -device: id 'disk3' is the daemon's"},
      {{"-object", "iothread,id=fs0"}, "qemu_args[1]: -object: id 'fs0' is the daemon's"},
      {{"-global", "nodot"}, "qemu_args[1]: -global: must be DRIVER.PROPERTY=VALUE"},
      {{"-boot", "menu=on,splash=/etc/shadow"},
       "qemu_args[1]: -boot: 'splash=' is not allowed: it names a host file, device or the daemon's "
       "chardevs"},
      {{"-fw_cfg", "name=opt/x,file=/etc/shadow"},
       "qemu_args[1]: -fw_cfg: 'file=' is not allowed: it names a host file, device or the daemon's "
       "chardevs"},
      {{"-smbios", "type=0,file=/x"},
       "qemu_args[1]: -smbios: 'file=' is not allowed: it names a host file, device or the daemon's "
       "chardevs"},
      {{"-icount", "shift=auto,rr=record,rrfile=/x"},
       "qemu_args[1]: -icount: 'rrfile=' is not allowed: it names a host file, device or the daemon's "
       "chardevs"},
      {{"-device", "virtio-blk-pci,drive.file.filename=/x"},
       "qemu_args[1]: -device: 'drive.file.filename=' is not allowed: it names a host file, device or the "
       "daemon's chardevs"},
  };
  char err[512];
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t n = 0;
    while (n < 4 && cases[i].a[n])
      n++;
    const char *got = check(err, n, cases[i].a);
    if (strcmp(got, cases[i].err) != 0)
      fail_msg("case %zu %s %s\n  want: %s\n  got:  %s", i, cases[i].a[0], n > 1 ? cases[i].a[1] : "",
               cases[i].err, got);
  }
}

static void test_allowed(void **state) {
  (void)state;
  static const char *const ok[] = {
      "-device",
      "virtio-rng-pci",
      "-device",
      "intel-hda,id=snd0",
      "-device",
      "hda-duplex,bus=snd0.0",
      "-global",
      "ICH9-LPC.disable_s3=1",
      "-rtc",
      "driftfix=slew",
      "-cpu",
      "max,+avx2",
      "-boot",
      "menu=on",
      "-usb",
      "-no-reboot",
      "-object",
      "iothread,id=io1",
      "--device",
      "virtio-balloon-pci",
      "-nodefaults",
      "-smbios",
      "type=1,manufacturer=Me,,Inc",
      "-vga",
      "none",
      "-k",
      "de",
      "-msg",
      "guest-name=on",
  };
  char err[512];
  assert_string_equal(check(err, sizeof(ok) / sizeof(ok[0]), ok), "");
}

/* The field through the config parser: its own limits, and the checks above. */
static void test_field(void **state) {
  (void)state;
  static const struct {
    const char *body, *err;
  } cases[] = {
      {"{\"name\": \"a\", \"qemu_args\": \"-usb\"}", "qemu_args: must be an array of strings"},
      {"{\"name\": \"a\", \"qemu_args\": [1]}", "qemu_args[0]: must be a string"},
      {"{\"name\": \"a\", \"qemu_args\": [\"\"]}", "qemu_args[0]: must not be empty"},
      {"{\"name\": \"a\", \"qemu_args\": [\"-usb\", \"-a\\u0000b\"]}",
       "qemu_args[1]: must not contain NUL bytes"},
      {"{\"name\": \"a\", \"qemu_args\": [\"-device\", \"e1000\\nx\"]}",
       "qemu_args[1]: must not contain control characters"},
      {"{\"name\": \"a\", \"qemu_args\": [\"-device\", \"e1000\\u007f\"]}",
       "qemu_args[1]: must not contain control characters"},
      {"{\"name\": \"a\", \"qemu_args\": [\"-qmp\", \"stdio\"]}",
       "qemu_args[0]: -qmp is not allowed: the QMP monitor is the daemon's"},
  };
  char err[512];
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *b = json_loads(cases[i].body, JSON_ALLOW_NUL, NULL);
    assert_non_null(b);
    struct vm_config *c = xcalloc(1, sizeof(*c));
    err[0] = 0;
    int rc = vm_config_apply_json(c, b, true, err, sizeof(err));
    json_decref(b);
    free(c);
    if (rc != -1 || strcmp(err, cases[i].err) != 0)
      fail_msg("case %zu %s\n  want: %s\n  got:  rc=%d %s", i, cases[i].body, cases[i].err, rc, err);
  }
  /* invalid UTF-8 cannot come through jansson's parser; a built string can */
  json_t *b = json_pack("{s:s, s:[s]}", "name", "a", "qemu_args", "-usb");
  json_array_set_new(json_object_get(b, "qemu_args"), 0, json_stringn_nocheck("-\xff", 2));
  struct vm_config *c = xcalloc(1, sizeof(*c));
  assert_int_equal(vm_config_apply_json(c, b, true, err, sizeof(err)), -1);
  assert_string_equal(err, "qemu_args[0]: must be valid UTF-8");
  json_decref(b);
  /* count, one argument's length, the total */
  b = json_pack("{s:s, s:[]}", "name", "a", "qemu_args");
  for (int i = 0; i < VM_MAX_QEMU_ARGS + 1; i++)
    json_array_append_new(json_object_get(b, "qemu_args"), json_string("-usb"));
  assert_int_equal(vm_config_apply_json(c, b, true, err, sizeof(err)), -1);
  assert_string_equal(err, "qemu_args: at most 64 arguments");
  json_decref(b);
  char *longv = xmalloc(VM_QEMU_ARG_MAX + 2);
  memset(longv, 'a', VM_QEMU_ARG_MAX + 1);
  longv[VM_QEMU_ARG_MAX + 1] = 0;
  b = json_pack("{s:s, s:[s, s]}", "name", "a", "qemu_args", "-cpu", longv);
  assert_int_equal(vm_config_apply_json(c, b, true, err, sizeof(err)), -1);
  assert_string_equal(err, "qemu_args[1]: must be at most 1024 bytes");
  json_decref(b);
  b = json_pack("{s:s, s:[]}", "name", "a", "qemu_args");
  longv[1000] = 0;
  for (int i = 0; i < 9; i++)
    json_array_append_new(json_object_get(b, "qemu_args"), json_string(i % 2 ? longv : "-cpu"));
  json_array_append_new(json_object_get(b, "qemu_args"), json_string(longv));
  for (int i = 0; i < 8; i++) /* -cpu VALUE pairs: 4 x 1001 + 4 x 5 bytes, then more */
    json_array_append_new(json_object_get(b, "qemu_args"), json_string(i % 2 ? longv : "-cpu"));
  assert_int_equal(vm_config_apply_json(c, b, true, err, sizeof(err)), -1);
  assert_string_equal(err, "qemu_args: at most 8192 bytes in all");
  json_decref(b);
  free(longv);
  /* accepted: stored, given back, [] clears */
  b = json_pack("{s:s, s:[s, s]}", "name", "a", "qemu_args", "-device", "virtio-rng-pci");
  assert_int_equal(vm_config_apply_json(c, b, true, err, sizeof(err)), 0);
  json_decref(b);
  json_t *o = vm_config_to_json(c);
  char *s = json_dumps(json_object_get(o, "qemu_args"), JSON_COMPACT);
  assert_string_equal(s, "[\"-device\",\"virtio-rng-pci\"]");
  free(s);
  json_decref(o);
  b = json_pack("{s:[]}", "qemu_args");
  assert_int_equal(vm_config_apply_json(c, b, false, err, sizeof(err)), 0);
  json_decref(b);
  o = vm_config_to_json(c);
  assert_null(json_object_get(o, "qemu_args"));
  assert_int_equal(c->n_qemu_args, 0);
  json_decref(o);
  free(c);
}

static void test_devices(void **state) {
  (void)state;
  static const char *const names[] = {"virtio-rng-pci", "e1000", "intel-hda", "hda-duplex",
                                      "virtio-balloon-pci"};
  const size_t nn = sizeof(names) / sizeof(names[0]);
  char err[512];
  const char *ok[] = {"-usb", "-device", "virtio-rng-pci,id=r", "-cpu", "max", "-device", "driver=e1000"};
  assert_int_equal(vm_qemu_args_check_devices(ok, 7, names, nn, "qemu-system-x86_64", err, sizeof(err)), 0);
  const char *typo[] = {"-device", "virtio-rng-pic"};
  assert_int_equal(vm_qemu_args_check_devices(typo, 2, names, nn, "qemu-system-x86_64", err, sizeof(err)),
                   -1);
  assert_string_equal(
      err, "qemu_args[1]: -device: qemu-system-x86_64 has no device 'virtio-rng-pic' (did you mean "
           "'virtio-rng-pci'?)");
  const char *far[] = {"-cpu", "max", "-device", "sound-blaster-9000,id=x"};
  assert_int_equal(vm_qemu_args_check_devices(far, 4, names, nn, "qemu-system-x86_64", err, sizeof(err)), -1);
  assert_string_equal(err, "qemu_args[3]: -device: qemu-system-x86_64 has no device 'sound-blaster-9000'");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refused_options), cmocka_unit_test(test_refused_values),
      cmocka_unit_test(test_allowed),         cmocka_unit_test(test_field),
      cmocka_unit_test(test_devices),
  };
  return cmocka_run_group_tests_name("qemu_args", tests, NULL, NULL);
}
