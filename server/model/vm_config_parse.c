/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_config_parse: see vm_config.h. Reading JSON into a struct vm_config,
 * with every check (the config's names, defaults and JSON output are
 * vm_config.c). Pure data and validation, no I/O; safe to call from any
 * thread on distinct configs.
 *
 * The three JSON entry points share one parser with a mode:
 *   CREATE  an API create body: "id", "uuid" and disk paths belong to the
 *           server, "name" is required, "arch" picks the defaults;
 *   PATCH   an API patch body: "id", "uuid", "arch" and "disks" are fixed;
 *   STORED  a row written by vm_config_to_json: everything, disk paths
 *           included, and the identity fields are required.
 * Fields are checked in a fixed order (not the body's key order) so that a
 * body with several errors always reports the same one. Every message starts
 * with the JSON path of the offending field and is plain ASCII: values echoed
 * back are cut short and non-ASCII bytes replaced, so a message can always be
 * put into a JSON string or a log line.
 *
 * It is longer than 900 lines because every field's checks are here, in the table's order, so a
 * reader sees the whole input contract in one file; fields with a contract of their own have theirs
 * beside it (vm_qemu_args.c, vm_unattend.c).
 */
#include "vm_config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "vm_config_priv.h"
#include "vm_tools.h"
#include "vm_unattend.h"

#define MEMORY_MIN_MIB 64
#define MEMORY_MAX_MIB 4194304 /* 4 TiB */
#define CPUS_MAX 255
#define DISK_MAX_GIB 65536
#define PC_IDE_SLOTS 4   /* pc: ide.0 and ide.1, two units each; one is the CD-ROM */
#define Q35_AHCI_PORTS 6 /* q35's ICH9 AHCI: ide.0 .. ide.5 */

enum mode { MODE_CREATE, MODE_PATCH, MODE_STORED };

static const struct choice displays[] = {
    {"std", ARCH_X86},        {"virtio-vga", ARCH_X86}, {"cirrus", ARCH_X86},
    {"virtio-gpu", ARCH_ARM}, {"ramfb", ARCH_ARM},
};

static const struct choice nics[] = {
    {"e1000e", ARCH_ALL},
    {"e1000", ARCH_X86},
    {"rtl8139", ARCH_X86},
    {"virtio-net-pci", ARCH_ALL},
};

struct ctx {
  struct vm_config *c;
  enum mode mode;
  char *err;
  size_t errlen;
};

static int fail(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *x, const char *fmt, ...) {
  if (x->errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, x->errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* A short, ASCII-only rendering of S for error messages. */
struct shown {
  char s[40];
};

static struct shown show(const char *s, size_t len) {
  struct shown out;
  size_t n = 0;
  for (size_t i = 0; i < len && n < 32; i++) {
    unsigned char ch = (unsigned char)s[i];
    out.s[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  if (len > 32) {
    memcpy(out.s + n, "...", 3);
    n += 3;
  }
  out.s[n] = 0;
  return out;
}

bool vm_name_valid(const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len > VM_NAME_MAX)
    return false;
  const unsigned char *s = (const unsigned char *)name;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = utf8_decode(s + i, len - i, &cp);
    if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
      return false;
    i += n;
  }
  return true;
}

/* ---- typed getters: each names FIELD in its message ---- */

static int get_int(struct ctx *x, const char *field, json_t *v, json_int_t lo, json_int_t hi,
                   json_int_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return fail(x, "%s: must be an integer between %" JSON_INTEGER_FORMAT " and %" JSON_INTEGER_FORMAT, field,
                lo, hi);
  *out = json_integer_value(v);
  return 0;
}

static int get_str(struct ctx *x, const char *field, json_t *v, const char **out) {
  if (!json_is_string(v))
    return fail(x, "%s: must be a string", field);
  if (json_string_length(v) != strlen(json_string_value(v)))
    return fail(x, "%s: must not contain NUL bytes", field);
  *out = json_string_value(v);
  return 0;
}

/* A string that fits BUF (at most BUFLEN-1 bytes) of valid UTF-8 without control characters: the
 * rdp fields (sent to the RDP worker as Guacamole values) and, absolute, paths. */
static int get_text(struct ctx *x, const char *field, json_t *v, char *buf, size_t buflen) {
  const char *s = NULL;
  if (get_str(x, field, v, &s) < 0)
    return -1;
  size_t len = strlen(s);
  if (len >= buflen)
    return fail(x, "%s: must be at most %zu bytes", field, buflen - 1);
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = utf8_decode((const unsigned char *)s + i, len - i, &cp);
    if (n == 0)
      return fail(x, "%s: must be valid UTF-8", field);
    if (cp < 0x20 || cp == 0x7f)
      return fail(x, "%s: must not contain control characters", field);
    i += n;
  }
  memcpy(buf, s, len + 1);
  return 0;
}

/* An absolute host path that fits in BUF and holds no control characters
 * (it ends up in a QEMU option string and in one-argument-per-line logs). */
static int get_path(struct ctx *x, const char *field, json_t *v, char *buf, size_t buflen) {
  const char *s = NULL;
  if (get_str(x, field, v, &s) < 0)
    return -1;
  if (s[0] != '/')
    return fail(x, "%s: must be an absolute path", field);
  return get_text(x, field, v, buf, buflen);
}

int vm_config_parse_path(json_t *v, const char *field, char *buf, size_t buflen, char *err, size_t errlen) {
  struct ctx x = {NULL, MODE_CREATE, err, errlen};
  return get_path(&x, field, v, buf, buflen);
}

static void list_names(const struct choice *t, size_t n, char *out, size_t outlen) {
  size_t used = 0;
  out[0] = 0;
  for (size_t i = 0; i < n && used < outlen; i++) {
    int w = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", t[i].name);
    if (w < 0)
      break;
    used += (size_t)w;
  }
}

/* Look V up in table T (WHAT names the kind for the message). With ARCH
 * valid, names not offered for that architecture are refused too. */
static int get_choice(struct ctx *x, const char *field, const char *what, json_t *v, const struct choice *t,
                      size_t n, int arch, size_t *out) {
  const char *s = NULL;
  if (get_str(x, field, v, &s) < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(s, t[i].name) != 0)
      continue;
    if (arch >= 0 && !(t[i].arches & ARCH_BIT(arch)))
      return fail(x, "%s: '%s' is not available for %s", field, t[i].name, vm_arch_name((vm_arch)arch));
    *out = i;
    return 0;
  }
  char names[128];
  list_names(t, n, names, sizeof(names));
  return fail(x, "%s: unknown %s '%s' (%s)", field, what, show(s, strlen(s)).s, names);
}

/* Refuse keys of OBJ that are not in KEYS (NULL-terminated). PREFIX is the
 * object's own path ("" for the top level). */
static int check_keys(struct ctx *x, const char *prefix, json_t *obj, const char *const *keys) {
  const char *key;
  size_t klen;
  json_t *v;
  json_object_keylen_foreach(obj, key, klen, v) {
    bool known = false;
    for (const char *const *k = keys; *k && !known; k++)
      known = strlen(*k) == klen && memcmp(*k, key, klen) == 0;
    if (!known)
      return fail(x, "%s%s%s: unknown field", prefix, *prefix ? "." : "", show(key, klen).s);
  }
  return 0;
}

/* V is exactly the string S (a NUL inside V never matches). */
static bool str_is(json_t *v, const char *s) {
  return json_is_string(v) && json_string_length(v) == strlen(s) && strcmp(json_string_value(v), s) == 0;
}

static bool is_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  }
  return true;
}

/* ---- one function per top-level field ---- */

static int f_id(struct ctx *x, json_t *v) {
  const char *s = NULL;
  if (get_str(x, "id", v, &s) < 0)
    return -1;
  if (strlen(s) != VM_ID_LEN || !is_hex(s, VM_ID_LEN))
    return fail(x, "id: must be %d lowercase hex digits", VM_ID_LEN);
  memcpy(x->c->id, s, VM_ID_LEN + 1);
  return 0;
}

static int f_uuid(struct ctx *x, json_t *v) {
  const char *s = NULL;
  if (get_str(x, "uuid", v, &s) < 0)
    return -1;
  bool ok = strlen(s) == 36;
  for (size_t i = 0; ok && i < 36; i++)
    ok = (i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-' : is_hex(s + i, 1);
  if (!ok)
    return fail(x, "uuid: must be a lowercase UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
  memcpy(x->c->uuid, s, 37);
  return 0;
}

static int f_name(struct ctx *x, json_t *v) {
  const char *s = NULL;
  if (get_str(x, "name", v, &s) < 0)
    return -1;
  if (!vm_name_valid(s))
    return fail(x, "name: must be 1-%d bytes of printable UTF-8", VM_NAME_MAX);
  memcpy(x->c->name, s, strlen(s) + 1);
  return 0;
}

static int f_memory(struct ctx *x, json_t *v) {
  json_int_t n = 0;
  if (get_int(x, "memory_mib", v, MEMORY_MIN_MIB, MEMORY_MAX_MIB, &n) < 0)
    return -1;
  x->c->memory_mib = (uint32_t)n;
  return 0;
}

static int f_cpus(struct ctx *x, json_t *v) {
  json_int_t n = 0;
  if (get_int(x, "cpus", v, 1, CPUS_MAX, &n) < 0)
    return -1;
  x->c->cpus = (uint32_t)n;
  return 0;
}

static int f_disks(struct ctx *x, json_t *v) {
  static const char *const keys[] = {"path", "size_gib", "interface", NULL};
  struct vm_config *c = x->c;
  if (!json_is_array(v))
    return fail(x, "disks: must be an array");
  if (json_array_size(v) > VM_MAX_DISKS)
    return fail(x, "disks: at most %d", VM_MAX_DISKS);
  size_t i, ide = 0;
  json_t *d;
  json_array_foreach(v, i, d) {
    struct vm_disk *disk = &c->disks[i];
    char pfx[32], field[48];
    json_t *p;
    json_int_t n = 0;
    size_t idx = 0;
    snprintf(pfx, sizeof(pfx), "disks[%zu]", i);
    memset(disk, 0, sizeof(*disk));
    if (!json_is_object(d))
      return fail(x, "%s: must be an object", pfx);
    if (check_keys(x, pfx, d, keys) < 0)
      return -1;
    snprintf(field, sizeof(field), "%s.path", pfx);
    p = json_object_get(d, "path");
    if (x->mode == MODE_CREATE && p)
      return fail(x, "%s: set by the server", field);
    if (x->mode == MODE_STORED && !p)
      return fail(x, "%s: required", field);
    if (p && get_path(x, field, p, disk->path, sizeof(disk->path)) < 0)
      return -1;
    snprintf(field, sizeof(field), "%s.size_gib", pfx);
    p = json_object_get(d, "size_gib");
    if (!p)
      return fail(x, "%s: required", field);
    if (get_int(x, field, p, 1, DISK_MAX_GIB, &n) < 0)
      return -1;
    disk->size_gib = (uint64_t)n;
    snprintf(field, sizeof(field), "%s.interface", pfx);
    p = json_object_get(d, "interface");
    if (!p && x->mode == MODE_STORED)
      return fail(x, "%s: required", field);
    if (p) {
      if (get_choice(x, field, "interface", p, vm_cfg_disk_ifs, N_ELEMS(vm_cfg_disk_ifs), (int)c->arch,
                     &idx) < 0)
        return -1;
      disk->iface = (vm_disk_if)idx;
    } else {
      struct vm_config def;
      vm_config_defaults(&def, c->arch);
      disk->iface = def.disks[0].iface;
    }
    ide += disk->iface == VM_DISK_IF_AHCI || disk->iface == VM_DISK_IF_IDE;
  }
  if (c->arch == VM_ARCH_I386 && ide > PC_IDE_SLOTS - 1)
    return fail(x, "disks: at most %d ahci/ide disks on i386 (the CD-ROM uses the last IDE slot)",
                PC_IDE_SLOTS - 1);
  c->n_disks = json_array_size(v);
  return 0;
}

/* A CD's medium: an absolute path, or null / "" for none. */
static int get_medium(struct ctx *x, const char *field, json_t *v, char *buf, size_t buflen) {
  if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
    buf[0] = 0;
    return 0;
  }
  if (!json_is_string(v))
    return fail(x, "%s: must be a string or null", field);
  return get_path(x, field, v, buf, buflen);
}

static int f_cdrom(struct ctx *x, json_t *v) {
  return get_medium(x, "cdrom", v, x->c->cdrom, sizeof(x->c->cdrom));
}

static int f_drivers_iso(struct ctx *x, json_t *v) {
  return get_medium(x, "drivers_iso", v, x->c->drivers_iso, sizeof(x->c->drivers_iso));
}

static int f_boot(struct ctx *x, json_t *v) {
  struct vm_config *c = x->c;
  if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > VM_MAX_BOOT)
    return fail(x, "boot_order: must be an array of 1 to %d of cdrom, disk, network", VM_MAX_BOOT);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    char field[40];
    size_t idx = 0;
    snprintf(field, sizeof(field), "boot_order[%zu]", i);
    if (get_choice(x, field, "device", e, vm_cfg_boot_devs, N_ELEMS(vm_cfg_boot_devs), -1, &idx) < 0)
      return -1;
    for (size_t j = 0; j < i; j++) {
      if (c->boot[j] == (vm_boot_dev)idx)
        return fail(x, "boot_order: '%s' listed twice", vm_cfg_boot_devs[idx].name);
    }
    c->boot[i] = (vm_boot_dev)idx;
  }
  c->n_boot = json_array_size(v);
  return 0;
}

static int f_display(struct ctx *x, json_t *v) {
  size_t idx = 0;
  if (get_choice(x, "display", "display", v, displays, N_ELEMS(displays), (int)x->c->arch, &idx) < 0)
    return -1;
  snprintf(x->c->display, sizeof(x->c->display), "%s", displays[idx].name);
  return 0;
}

static int get_forward(struct ctx *x, size_t i, json_t *f, struct vm_forward *out) {
  static const char *const keys[] = {"proto", "host_port", "guest_port", NULL};
  char pfx[32], field[48];
  json_t *p;
  json_int_t n = 0;
  snprintf(pfx, sizeof(pfx), "network.forwards[%zu]", i);
  if (!json_is_object(f))
    return fail(x, "%s: must be an object", pfx);
  if (check_keys(x, pfx, f, keys) < 0)
    return -1;
  out->udp = false;
  if ((p = json_object_get(f, "proto"))) {
    snprintf(field, sizeof(field), "%s.proto", pfx);
    if (!str_is(p, "tcp") && !str_is(p, "udp"))
      return fail(x, "%s: must be 'tcp' or 'udp'", field);
    out->udp = str_is(p, "udp");
  }
  out->host_port = 0;
  if ((p = json_object_get(f, "host_port"))) {
    snprintf(field, sizeof(field), "%s.host_port", pfx);
    if (get_int(x, field, p, 0, 65535, &n) < 0)
      return -1;
    out->host_port = (uint16_t)n;
  }
  snprintf(field, sizeof(field), "%s.guest_port", pfx);
  if (!(p = json_object_get(f, "guest_port")))
    return fail(x, "%s: required", field);
  if (get_int(x, field, p, 1, 65535, &n) < 0)
    return -1;
  out->guest_port = (uint16_t)n;
  return 0;
}

/* "network" merges into the current values: keys left out keep them. */
static int f_network(struct ctx *x, json_t *v) {
  static const char *const keys[] = {"mode", "nic", "forwards", NULL};
  struct vm_config *c = x->c;
  json_t *p;
  if (!json_is_object(v))
    return fail(x, "network: must be an object");
  if (check_keys(x, "network", v, keys) < 0)
    return -1;
  if ((p = json_object_get(v, "mode"))) {
    if (!str_is(p, "user") && !str_is(p, "none"))
      return fail(x, "network.mode: must be 'user' or 'none'");
    c->net_user = str_is(p, "user");
  }
  if ((p = json_object_get(v, "nic"))) {
    size_t idx = 0;
    if (get_choice(x, "network.nic", "NIC", p, nics, N_ELEMS(nics), (int)c->arch, &idx) < 0)
      return -1;
    snprintf(c->nic, sizeof(c->nic), "%s", nics[idx].name);
  }
  if ((p = json_object_get(v, "forwards"))) {
    if (!json_is_array(p))
      return fail(x, "network.forwards: must be an array");
    if (json_array_size(p) > VM_MAX_FORWARDS)
      return fail(x, "network.forwards: at most %d", VM_MAX_FORWARDS);
    size_t i;
    json_t *f;
    json_array_foreach(p, i, f) {
      struct vm_forward *fw = &c->forwards[i];
      if (get_forward(x, i, f, fw) < 0)
        return -1;
      for (size_t j = 0; fw->host_port && j < i; j++) {
        if (c->forwards[j].host_port == fw->host_port && c->forwards[j].udp == fw->udp)
          return fail(x, "network.forwards[%zu].host_port: %u/%s is already forwarded", i, fw->host_port,
                      fw->udp ? "udp" : "tcp");
      }
    }
    c->n_forwards = json_array_size(p);
  }
  return 0;
}

static int f_rtc(struct ctx *x, json_t *v) {
  if (!str_is(v, "utc") && !str_is(v, "localtime"))
    return fail(x, "rtc: must be 'utc' or 'localtime'");
  x->c->rtc_localtime = str_is(v, "localtime");
  return 0;
}

/* Only the characters of host names and IPv4/IPv6 addresses. */
static bool host_chars_ok(const char *s) {
  if (!*s || s[0] == '-' || s[0] == '.')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
          *s == '-' || *s == ':' || *s == '_'))
      return false;
  return true;
}

/* A Windows program for RemoteApp: "||alias" (letters, digits, "_-. "), or an absolute path
 * ("C:\\...", "\\\\server\\...", or starting with an environment variable "%SystemRoot%\\..."),
 * without '"' (the server builds a command line from it). */
static bool remote_app_ok(const char *s) {
  if (strncmp(s, "||", 2) == 0) {
    if (!s[2])
      return false;
    for (const char *c = s + 2; *c; c++)
      if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
            *c == '-' || *c == '.' || *c == ' '))
        return false;
    return true;
  }
  if (strchr(s, '"'))
    return false;
  bool drive = ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) && s[1] == ':' && s[2] == '\\';
  bool unc = s[0] == '\\' && s[1] == '\\' && s[2] && s[2] != '\\';
  bool env = s[0] == '%' && s[1] && s[1] != '%' && strchr(s + 1, '%');
  return drive || unc || env;
}

/* "rdp.remote_app": null clears; an object replaces: {"program": P, "args": A, "mode": "rail"|"shell"}. */
/* One program to open alone: {"program", "args", "mode"} under PFX (rdp.remote_app, shortcuts[i]). */
static int get_app(struct ctx *x, const char *pfx, json_t *v, char prog[VM_RDP_STR], char args[VM_RDP_STR],
                   bool *shell, const char *const *extra_keys) {
  const char *keys[8] = {"program", "args", "mode"};
  size_t nk = 3;
  for (; extra_keys && *extra_keys && nk < 7; extra_keys++)
    keys[nk++] = *extra_keys;
  keys[nk] = NULL;
  char field[64];
  json_t *p;
  if (!json_is_object(v))
    return fail(x, "%s: must be an object", pfx);
  if (check_keys(x, pfx, v, keys) < 0)
    return -1;
  args[0] = 0;
  *shell = false;
  snprintf(field, sizeof(field), "%s.program", pfx);
  if (!(p = json_object_get(v, "program")))
    return fail(x, "%s: required", field);
  if (get_text(x, field, p, prog, VM_RDP_STR) < 0)
    return -1;
  if (!remote_app_ok(prog))
    return fail(x, "%s: must be \"||alias\" or an absolute Windows path without '\"'", field);
  snprintf(field, sizeof(field), "%s.args", pfx);
  if ((p = json_object_get(v, "args")) && get_text(x, field, p, args, VM_RDP_STR) < 0)
    return -1;
  if ((p = json_object_get(v, "mode"))) {
    if (!str_is(p, "rail") && !str_is(p, "shell"))
      return fail(x, "%s.mode: must be 'rail' or 'shell'", pfx);
    *shell = str_is(p, "shell");
  }
  if (*shell && strncmp(prog, "||", 2) == 0)
    return fail(x, "%s.program: an alias needs mode 'rail'", pfx);
  return 0;
}

static int f_remote_app(struct ctx *x, json_t *v, struct vm_rdp *r) {
  if (json_is_null(v)) {
    r->remote_app[0] = r->remote_app_args[0] = 0;
    r->remote_app_shell = false;
    return 0;
  }
  if (!json_is_object(v))
    return fail(x, "rdp.remote_app: must be an object or null");
  char prog[VM_RDP_STR], args[VM_RDP_STR];
  bool shell = false;
  if (get_app(x, "rdp.remote_app", v, prog, args, &shell, NULL) < 0)
    return -1;
  memcpy(r->remote_app, prog, sizeof(prog));
  memcpy(r->remote_app_args, args, sizeof(args));
  r->remote_app_shell = shell;
  return 0;
}

static int f_shortcuts(struct ctx *x, json_t *v) {
  static const char *const extra[] = {"name", NULL};
  struct vm_config *c = x->c;
  if (!json_is_array(v))
    return fail(x, "shortcuts: must be an array");
  if (json_array_size(v) > VM_MAX_SHORTCUTS)
    return fail(x, "shortcuts: at most %d", VM_MAX_SHORTCUTS);
  c->n_shortcuts = 0;
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    struct vm_shortcut *sc = &c->shortcuts[i];
    char pfx[32], field[48];
    snprintf(pfx, sizeof(pfx), "shortcuts[%zu]", i);
    if (get_app(x, pfx, e, sc->program, sc->args, &sc->shell, extra) < 0)
      return -1;
    snprintf(field, sizeof(field), "%s.name", pfx);
    json_t *n = json_object_get(e, "name");
    const char *name = NULL;
    if (!n)
      return fail(x, "%s: required", field);
    if (get_str(x, field, n, &name) < 0)
      return -1;
    if (!vm_name_valid(name))
      return fail(x, "%s: must be 1-%d bytes of printable UTF-8", field, VM_NAME_MAX);
    for (size_t k = 0; k < i; k++)
      if (strcmp(c->shortcuts[k].name, name) == 0)
        return fail(x, "%s: '%s' is used twice", field, show(name, strlen(name)).s);
    snprintf(sc->name, sizeof(sc->name), "%s", name);
    c->n_shortcuts = i + 1;
  }
  return 0;
}

/* "rdp": null clears the target; host "" (or none) means the VM's own forward of guest port 3389;
 * an object merges into the current one (keys left out keep
 * their values, so a GET's "password_set" can be sent back without the password). */
static int f_rdp(struct ctx *x, json_t *v) {
  static const char *const keys[] = {"host",         "port",       "username",    "password",
                                     "domain",       "security",   "ignore_cert", "fingerprint",
                                     "password_set", "remote_app", "graphics",    NULL};
  struct vm_rdp *r = &x->c->rdp;
  json_t *p;
  json_int_t n = 0;
  if (json_is_null(v)) {
    memset(r, 0, sizeof(*r));
    return 0;
  }
  if (!json_is_object(v))
    return fail(x, "rdp: must be an object or null");
  if (check_keys(x, "rdp", v, keys) < 0)
    return -1;
  if (!r->set) {
    memset(r, 0, sizeof(*r));
    r->port = 3389;
    snprintf(r->security, sizeof(r->security), "any");
  }
  if ((p = json_object_get(v, "host"))) {
    if (get_text(x, "rdp.host", p, r->host, 254) < 0)
      return -1;
    if (r->host[0] && !host_chars_ok(r->host))
      return fail(x, "rdp.host: must be a host name or an IP address (or \"\" for the VM's own forward)");
  }
  if ((p = json_object_get(v, "port"))) {
    if (get_int(x, "rdp.port", p, 1, 65535, &n) < 0)
      return -1;
    r->port = (uint16_t)n;
  }
  if ((p = json_object_get(v, "username")) && get_text(x, "rdp.username", p, r->username, VM_RDP_STR) < 0)
    return -1;
  if ((p = json_object_get(v, "password")) && get_text(x, "rdp.password", p, r->password, VM_RDP_STR) < 0)
    return -1;
  if ((p = json_object_get(v, "domain")) && get_text(x, "rdp.domain", p, r->domain, VM_RDP_STR) < 0)
    return -1;
  if ((p = json_object_get(v, "security"))) {
    if (!str_is(p, "any") && !str_is(p, "nla") && !str_is(p, "tls") && !str_is(p, "rdp"))
      return fail(x, "rdp.security: must be 'any', 'nla', 'tls' or 'rdp'");
    snprintf(r->security, sizeof(r->security), "%s", json_string_value(p));
  }
  if ((p = json_object_get(v, "ignore_cert"))) {
    if (!json_is_boolean(p))
      return fail(x, "rdp.ignore_cert: must be true or false");
    r->ignore_cert = json_is_true(p);
  }
  if ((p = json_object_get(v, "fingerprint"))) {
    if (get_text(x, "rdp.fingerprint", p, r->fingerprint, sizeof(r->fingerprint)) < 0)
      return -1;
    for (const char *c = r->fingerprint; *c; c++)
      if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F') || *c == ':' ||
            *c == ','))
        return fail(x, "rdp.fingerprint: must be hexadecimal pairs separated by ':' (several by ',')");
  }
  if ((p = json_object_get(v, "graphics"))) {
    if (!str_is(p, "auto") && !str_is(p, "gfx") && !str_is(p, "gfx-h264") && !str_is(p, "legacy"))
      return fail(x, "rdp.graphics: must be 'auto', 'gfx', 'gfx-h264' or 'legacy'");
    snprintf(r->graphics, sizeof(r->graphics), "%s", str_is(p, "auto") ? "" : json_string_value(p));
  }
  if ((p = json_object_get(v, "password_set")) && !json_is_boolean(p))
    return fail(x, "rdp.password_set: must be true or false (it is ignored)");
  if ((p = json_object_get(v, "remote_app")) && f_remote_app(x, p, r) < 0)
    return -1;
  r->set = true;
  return 0;
}

/* "unattend": vm_unattend.h. */
static int f_unattend(struct ctx *x, json_t *v) {
  return vm_unattend_from_json(v, &x->c->unattend, x->err, x->errlen);
}

static int f_shares(struct ctx *x, json_t *v) {
  static const char *const keys[] = {"path", "tag", "readonly", "mode", NULL};
  struct vm_config *c = x->c;
  if (!json_is_array(v))
    return fail(x, "shared_folders: must be an array");
  if (json_array_size(v) > VM_MAX_SHARES)
    return fail(x, "shared_folders: at most %d", VM_MAX_SHARES);
  c->n_shares = 0;
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    struct vm_share *sh = &c->shares[i];
    char pfx[40], field[56];
    const char *tag = NULL;
    snprintf(pfx, sizeof(pfx), "shared_folders[%zu]", i);
    memset(sh, 0, sizeof(*sh));
    if (!json_is_object(e))
      return fail(x, "%s: must be an object", pfx);
    if (check_keys(x, pfx, e, keys) < 0)
      return -1;
    snprintf(field, sizeof(field), "%s.path", pfx);
    json_t *p = json_object_get(e, "path");
    if (!p)
      return fail(x, "%s: required", field);
    if (get_path(x, field, p, sh->path, sizeof(sh->path)) < 0)
      return -1;
    snprintf(field, sizeof(field), "%s.tag", pfx);
    p = json_object_get(e, "tag");
    if (!p)
      return fail(x, "%s: required", field);
    if (get_str(x, field, p, &tag) < 0)
      return -1;
    size_t tl = strlen(tag);
    bool ok = tl >= 1 && tl <= VM_SHARE_TAG_MAX;
    for (size_t k = 0; ok && k < tl; k++)
      ok = (tag[k] >= 'a' && tag[k] <= 'z') || (tag[k] >= 'A' && tag[k] <= 'Z') ||
           (tag[k] >= '0' && tag[k] <= '9') || tag[k] == '_' || tag[k] == '.' || tag[k] == '-';
    if (!ok)
      return fail(x, "%s: 1-%d of letters, digits, _ . -", field, VM_SHARE_TAG_MAX);
    for (size_t k = 0; k < i; k++)
      if (strcmp(c->shares[k].tag, tag) == 0)
        return fail(x, "%s: '%s' is used twice", field, tag);
    snprintf(sh->tag, sizeof(sh->tag), "%s", tag);
    p = json_object_get(e, "readonly");
    if (p && !json_is_boolean(p))
      return fail(x, "%s.readonly: must be true or false", pfx);
    sh->readonly = json_is_true(p);
    p = json_object_get(e, "mode"); /* absent (and in rows from before it): 9p */
    const char *mode = "9p";
    if (p && (!json_is_string(p) || !vm_share_mode_parse((mode = json_string_value(p)), &sh->mode)))
      return fail(x, "%s.mode: must be \"9p\" or \"virtiofs\"", pfx);
    if (!p)
      sh->mode = VM_SHARE_9P;
    c->n_shares = i + 1;
  }
  return 0;
}

static int f_kernel_boot(struct ctx *x, json_t *v) {
  static const char *const keys[] = {"kernel", "initrd", "cmdline", NULL};
  struct vm_kernel_boot *k = &x->c->kboot;
  memset(k, 0, sizeof(*k));
  if (json_is_null(v))
    return 0;
  if (!json_is_object(v))
    return fail(x, "kernel_boot: must be an object or null");
  if (check_keys(x, "kernel_boot", v, keys) < 0)
    return -1;
  json_t *p = json_object_get(v, "kernel");
  if (!p)
    return fail(x, "kernel_boot.kernel: required");
  if (get_path(x, "kernel_boot.kernel", p, k->kernel, sizeof(k->kernel)) < 0)
    return -1;
  p = json_object_get(v, "initrd");
  if (p && !json_is_null(p) && !(json_is_string(p) && json_string_length(p) == 0) &&
      get_path(x, "kernel_boot.initrd", p, k->initrd, sizeof(k->initrd)) < 0)
    return -1;
  p = json_object_get(v, "cmdline");
  if (p) {
    const char *s = NULL;
    if (get_str(x, "kernel_boot.cmdline", p, &s) < 0)
      return -1;
    size_t len = strlen(s);
    if (len > VM_KERNEL_CMDLINE_MAX)
      return fail(x, "kernel_boot.cmdline: must be at most %d bytes", VM_KERNEL_CMDLINE_MAX);
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
        return fail(x, "kernel_boot.cmdline: printable ASCII only");
    memcpy(k->cmdline, s, len + 1);
  }
  return 0;
}

static int f_firmware(struct ctx *x, json_t *v) {
  if (!str_is(v, "bios") && !str_is(v, "uefi"))
    return fail(x, "firmware: must be 'bios' or 'uefi'");
  x->c->uefi = str_is(v, "uefi");
  return 0;
}

/* A true/false field. */
static int get_flag(struct ctx *x, const char *field, json_t *v, bool *out) {
  if (!json_is_boolean(v))
    return fail(x, "%s: must be true or false", field);
  *out = json_is_true(v);
  return 0;
}

static int f_secure_boot(struct ctx *x, json_t *v) {
  return get_flag(x, "secure_boot", v, &x->c->secure_boot);
}

static int f_autostart(struct ctx *x, json_t *v) {
  return get_flag(x, "autostart", v, &x->c->autostart);
}

static int f_guest_agent(struct ctx *x, json_t *v) {
  return get_flag(x, "guest_agent", v, &x->c->guest_agent);
}

static int f_audio(struct ctx *x, json_t *v) {
  return get_flag(x, "audio", v, &x->c->audio);
}

static int f_guest_tools(struct ctx *x, json_t *v) {
  return get_flag(x, "guest_tools", v, &x->c->guest_tools);
}

static int f_tpm(struct ctx *x, json_t *v) {
  return get_flag(x, "tpm", v, &x->c->tpm);
}

static int f_performance(struct ctx *x, json_t *v) {
  for (int i = 0; i < VM_PERF__N; i++)
    if (str_is(v, vm_perf_names[i])) {
      x->c->perf = (vm_perf)i;
      return 0;
    }
  return fail(x, "performance: must be 'standard', 'saver' or 'turbo'");
}

/* "qemu_args": see vm_qemu_args.h. [] clears. */
static int f_qemu_args(struct ctx *x, json_t *v) {
  return vm_qemu_args_from_json(v, x->c->qemu_args, &x->c->n_qemu_args, x->err, x->errlen);
}

/* The order errors are looked for in. "arch" is applied before the table
 * runs (it picks the defaults and the per-arch lists). */
static const struct field {
  const char *key;
  int (*apply)(struct ctx *x, json_t *v);
} fields[] = {
    {"id", f_id},
    {"uuid", f_uuid},
    {"name", f_name},
    {"arch", NULL},
    {"memory_mib", f_memory},
    {"cpus", f_cpus},
    {"disks", f_disks},
    {"cdrom", f_cdrom},
    {"drivers_iso", f_drivers_iso},
    {"boot_order", f_boot},
    {"display", f_display},
    {"network", f_network},
    {"rtc", f_rtc},
    {"rdp", f_rdp},
    {"unattend", f_unattend},
    {"shared_folders", f_shares},
    {"kernel_boot", f_kernel_boot},
    {"shortcuts", f_shortcuts},
    {"firmware", f_firmware},
    {"secure_boot", f_secure_boot},
    {"tpm", f_tpm},
    {"autostart", f_autostart},
    {"guest_agent", f_guest_agent},
    {"audio", f_audio},
    {"guest_tools", f_guest_tools},
    {"performance", f_performance},
    {"qemu_args", f_qemu_args},
};

static bool fixed_field(enum mode mode, const char *key) {
  if (mode == MODE_CREATE)
    return strcmp(key, "id") == 0 || strcmp(key, "uuid") == 0;
  if (mode == MODE_PATCH)
    return strcmp(key, "id") == 0 || strcmp(key, "uuid") == 0 || strcmp(key, "arch") == 0 ||
           strcmp(key, "disks") == 0;
  return false;
}

static bool required_field(enum mode mode, const char *key) {
  if (mode == MODE_CREATE)
    return strcmp(key, "name") == 0;
  if (mode == MODE_STORED)
    return strcmp(key, "id") == 0 || strcmp(key, "uuid") == 0 || strcmp(key, "name") == 0 ||
           strcmp(key, "arch") == 0 || strcmp(key, "disks") == 0;
  return false;
}

/* The drivers CD needs a drive slot of its own (vm_argv.c): on i386 (pc) a free IDE unit after the
 * ahci/ide disks and the CD-ROM; on x86_64 (q35) an AHCI port after those and the answer CD. */
static int drivers_slot_check(struct ctx *x) {
  const struct vm_config *c = x->c;
  size_t ide = 0;
  for (size_t i = 0; i < c->n_disks; i++)
    ide += c->disks[i].iface == VM_DISK_IF_AHCI || c->disks[i].iface == VM_DISK_IF_IDE;
  if (c->arch == VM_ARCH_I386 && ide > PC_IDE_SLOTS - 2)
    return fail(x, "drivers_iso: no IDE slot left on i386: at most %d ahci/ide disks with a drivers CD",
                PC_IDE_SLOTS - 2);
  if (c->arch == VM_ARCH_X86_64 && ide + 2 + (vm_cd1_iso(c) ? 1 : 0) > Q35_AHCI_PORTS)
    return fail(x,
                "drivers_iso: no AHCI port left: %zu ahci/ide disks, the CD-ROM%s and the drivers CD need "
                "more than %d",
                ide,
                c->unattend.set  ? ", the answer CD"
                : c->guest_tools ? ", the guest tools CD"
                                 : "",
                Q35_AHCI_PORTS);
  return 0;
}

static int apply(struct vm_config *c, json_t *obj, enum mode mode, char *err, size_t errlen) {
  struct ctx x = {c, mode, err, errlen};
  const char *keys[N_ELEMS(fields) + 1];
  if (!json_is_object(obj))
    return fail(&x, "must be a JSON object");
  for (size_t i = 0; i < N_ELEMS(fields); i++)
    keys[i] = fields[i].key;
  keys[N_ELEMS(fields)] = NULL;
  if (check_keys(&x, "", obj, keys) < 0)
    return -1;
  for (size_t i = 0; i < N_ELEMS(fields); i++) {
    const char *k = fields[i].key;
    bool present = json_object_get(obj, k) != NULL;
    if (present && fixed_field(mode, k))
      return fail(&x, "%s: %s", k, mode == MODE_CREATE ? "set by the server" : "cannot be changed");
    if (!present && required_field(mode, k))
      return fail(&x, "%s: required", k);
  }
  if (mode != MODE_PATCH) {
    vm_arch arch = VM_ARCH_X86_64;
    json_t *a = json_object_get(obj, "arch");
    if (a) {
      const char *s = NULL;
      if (get_str(&x, "arch", a, &s) < 0)
        return -1;
      if (vm_arch_parse(s, &arch) < 0)
        return fail(&x, "arch: unknown architecture '%s' (x86_64, i386, aarch64)", show(s, strlen(s)).s);
    }
    vm_config_defaults(c, arch);
    /* New VMs get the guest agent's port; a stored config without the key had none (its saved
     * memory snapshots expect that set of virtio-serial ports). */
    c->guest_agent = mode == MODE_CREATE;
  }
  for (size_t i = 0; i < N_ELEMS(fields); i++) {
    json_t *v = json_object_get(obj, fields[i].key);
    if (v && fields[i].apply && fields[i].apply(&x, v) < 0)
      return -1;
  }
  if (c->arch == VM_ARCH_AARCH64)
    c->uefi = true; /* its only firmware */
  if (c->uefi && c->arch == VM_ARCH_I386)
    return fail(&x, "firmware: 'uefi' is for x86_64 and aarch64 guests (i386 boots SeaBIOS)");
  if (c->secure_boot && !c->uefi)
    return fail(&x, "secure_boot: needs firmware 'uefi'");
  if (c->secure_boot && c->arch == VM_ARCH_AARCH64)
    return fail(&x, "secure_boot: only for x86_64 guests");
  if (c->unattend.set && c->arch != VM_ARCH_X86_64)
    return fail(&x, "unattend: only for x86_64 guests (Windows 10 and 11 for x64)");
  if (c->drivers_iso[0] && drivers_slot_check(&x) < 0)
    return -1;
  if (mode == MODE_CREATE && !json_object_get(obj, "rdp"))
    vm_unattend_rdp(c);
  return 0;
}

int vm_config_apply_json(struct vm_config *c, json_t *obj, bool create, char *err, size_t errlen) {
  return apply(c, obj, create ? MODE_CREATE : MODE_PATCH, err, errlen);
}

int vm_config_from_json(struct vm_config *c, json_t *obj, char *err, size_t errlen) {
  return apply(c, obj, MODE_STORED, err, errlen);
}
