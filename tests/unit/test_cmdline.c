/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Golden tests for vm_argv, libvirt style. Every DIR/NAME.json
 *   {"vm": <stored VM config>, "host": {"kvm": [arch...], "missing": [arch...],
 *                                       "no_sandbox": [arch...], "share_passthrough": [dir...]}}
 * is one test: the config goes through vm_config_from_json and vm_argv_build
 * with fixed host facts (binaries /usr/bin/qemu-system-ARCH, AAVMF under
 * /usr/share/AAVMF, VM directory /var/lib/qemu-hmos/vms/ID) and the result is
 * compared with NAME.args (one argument per line) or, for an expected failure,
 * NAME.err (the message). The "vm" object must be in canonical stored form:
 * vm_config_to_json of the parsed config has to give it back unchanged.
 *
 * A .json with neither golden fails, and so does an .args/.err without its
 * .json ("orphaned golden"). With QHM_REGENERATE=1 the goldens are rewritten
 * from the current output instead of compared.
 *
 * Usage: test_cmdline DIR (meson passes tests/cmdline). A few direct tests of
 * vm_argv's own error paths run in the same cmocka group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the headers above first */
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vm_argv.h"
#include "vm_config.h"

#define VMS_DIR "/var/lib/qemu-hmos/vms"
#define AAVMF_CODE "/usr/share/AAVMF/AAVMF_CODE.fd"
#define OVMF_DIR "/usr/share/OVMF"

static const char *golden_dir;
static bool regenerate;

struct golden {
  char *name; /* NAME for a test, NAME.ext for an orphan */
};

static char *golden_path(const char *name, const char *ext) {
  return xasprintf("%s/%s%s", golden_dir, name, ext);
}

static bool exists(const char *name, const char *ext) {
  char *p = golden_path(name, ext);
  bool ok = access(p, F_OK) == 0;
  free(p);
  return ok;
}

/* Parse an array of arch names into FLAGS. Returns NULL or an error string. */
static const char *arch_list(json_t *arr, bool flags[VM_ARCH__N]) {
  size_t i;
  json_t *v;
  if (!arr)
    return NULL;
  if (!json_is_array(arr))
    return "host lists must be arrays";
  json_array_foreach(arr, i, v) {
    vm_arch a;
    if (!json_is_string(v) || vm_arch_parse(json_string_value(v), &a) < 0)
      return "host lists hold arch names";
    flags[a] = true;
  }
  return NULL;
}

/*
 * Run one golden input. Sets *IS_ERR and returns the text to compare (the
 * argv one per line, or the error message plus newline); returns NULL with a
 * message in PROBLEM when the input itself is broken.
 */
static char *run_input(const char *name, bool *is_err, char *problem, size_t plen) {
  char *path = golden_path(name, ".json"), *text = NULL;
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr), *vm, *host, *back = NULL;
  struct vm_config *c = xcalloc(1, sizeof(*c));
  struct vm_host h = {.aavmf_code = AAVMF_CODE, .ovmf_dir = OVMF_DIR};
  struct vm_paths p;
  struct vm_argv av = {0};
  bool kvm[VM_ARCH__N] = {false}, missing[VM_ARCH__N] = {false}, no_sandbox[VM_ARCH__N] = {false};
  char *binaries[VM_ARCH__N] = {NULL};
  const char *passthrough[4] = {NULL};
  char err[512];
  const char *bad;

  if (!root) {
    snprintf(problem, plen, "%s:%d: %s", path, jerr.line, jerr.text);
    goto out;
  }
  vm = json_object_get(root, "vm");
  host = json_object_get(root, "host");
  if (!json_is_object(vm) || (host && !json_is_object(host)) || json_object_size(root) != 1u + !!host) {
    snprintf(problem, plen, "%s: want {\"vm\": {...}, \"host\": {...}}", path);
    goto out;
  }
  json_t *pt = json_object_get(host, "share_passthrough");
  if (host && (json_object_size(host) !=
               (size_t)(!!json_object_get(host, "kvm") + !!json_object_get(host, "missing") +
                        !!json_object_get(host, "no_sandbox") + !!pt))) {
    snprintf(problem, plen,
             "%s: host takes only \"kvm\", \"missing\", \"no_sandbox\" and \"share_passthrough\"", path);
    goto out;
  }
  if (pt) {
    size_t i;
    json_t *d;
    if (!json_is_array(pt) || json_array_size(pt) >= sizeof(passthrough) / sizeof(passthrough[0])) {
      snprintf(problem, plen, "%s: share_passthrough: an array of at most 3 directories", path);
      goto out;
    }
    json_array_foreach(pt, i, d) {
      if (!json_is_string(d)) {
        snprintf(problem, plen, "%s: share_passthrough holds strings", path);
        goto out;
      }
      passthrough[i] = json_string_value(d);
    }
    h.share_passthrough = passthrough;
  }
  if ((bad = arch_list(json_object_get(host, "kvm"), kvm)) ||
      (bad = arch_list(json_object_get(host, "missing"), missing)) ||
      (bad = arch_list(json_object_get(host, "no_sandbox"), no_sandbox))) {
    snprintf(problem, plen, "%s: %s", path, bad);
    goto out;
  }
  for (int a = 0; a < VM_ARCH__N; a++) {
    binaries[a] = xasprintf("/usr/bin/qemu-system-%s", vm_arch_name(a));
    h.qemu_binary[a] = missing[a] ? NULL : binaries[a];
    h.kvm[a] = kvm[a];
    h.no_sandbox[a] = no_sandbox[a];
  }

  *is_err = true;
  if (vm_config_from_json(c, vm, err, sizeof(err)) < 0) {
    text = xasprintf("%s\n", err);
    goto out;
  }
  back = vm_config_to_json(c);
  if (!json_equal(back, vm)) {
    char *s = json_dumps(back, JSON_INDENT(2));
    snprintf(problem, plen, "%s: \"vm\" is not in canonical stored form; vm_config_to_json gives:\n%s", path,
             s);
    free(s);
    goto out;
  }
  snprintf(p.dir, sizeof(p.dir), "%s/%s", VMS_DIR, c->id);
  if (vm_argv_build(c, &h, &p, &av, err, sizeof(err)) < 0) {
    text = xasprintf("%s\n", err);
    goto out;
  }
  *is_err = false;
  size_t len = 0;
  for (size_t i = 0; i < av.argc; i++)
    len += strlen(av.argv[i]) + 1;
  text = xmalloc(len + 1);
  len = 0;
  for (size_t i = 0; i < av.argc; i++) {
    size_t n = strlen(av.argv[i]);
    memcpy(text + len, av.argv[i], n);
    text[len + n] = '\n';
    len += n + 1;
  }
  text[len] = 0;
  if (av.argv[av.argc] != NULL) {
    snprintf(problem, plen, "argv is not NULL-terminated");
    free(text);
    text = NULL;
  }
out:
  vm_argv_free(&av);
  for (int a = 0; a < VM_ARCH__N; a++)
    free(binaries[a]);
  json_decref(back);
  json_decref(root);
  free(c);
  free(path);
  return text;
}

/* First differing line of WANT and GOT, for the failure message. */
static void first_diff(const char *want, const char *got, char *out, size_t outlen) {
  size_t line = 1;
  const char *w = want, *g = got;
  while (*w && *g) {
    const char *we = strchrnul(w, '\n'), *ge = strchrnul(g, '\n');
    if (we - w != ge - g || memcmp(w, g, (size_t)(we - w)) != 0) {
      snprintf(out, outlen, "line %zu: expected '%.*s', got '%.*s'", line, (int)(we - w), w, (int)(ge - g),
               g);
      return;
    }
    w = *we ? we + 1 : we;
    g = *ge ? ge + 1 : ge;
    line++;
  }
  if (!*w && !*g)
    snprintf(out, outlen, "only the final newline differs");
  else
    snprintf(out, outlen, "line %zu: %s", line, *w ? "output ends early" : "output has extra lines");
}

static void test_golden(void **state) {
  const struct golden *gd = *state;
  char problem[8192] = "", *want = NULL, *wpath = NULL, *other = NULL;
  bool is_err = false;
  char *got = run_input(gd->name, &is_err, problem, sizeof(problem));

  if (!got)
    goto out;
  wpath = golden_path(gd->name, is_err ? ".err" : ".args");
  other = golden_path(gd->name, is_err ? ".args" : ".err");
  if (regenerate) {
    if (write_file_atomic(wpath, got, strlen(got), 0644) < 0)
      snprintf(problem, sizeof(problem), "%s: %s", wpath, strerror(errno));
    else if (unlink(other) < 0 && errno != ENOENT)
      snprintf(problem, sizeof(problem), "%s: %s", other, strerror(errno));
    goto out;
  }
  if (access(other, F_OK) == 0) {
    snprintf(problem, sizeof(problem), "%s exists but the result is %s:\n%s", other,
             is_err ? "an error" : "an argv", got);
    goto out;
  }
  if (!(want = read_file(wpath, 1 << 20, NULL))) {
    snprintf(problem, sizeof(problem), "%s: %s (run with QHM_REGENERATE=1 to create it); output:\n%s", wpath,
             strerror(errno), got);
    goto out;
  }
  if (strcmp(want, got) != 0) {
    char diff[1024];
    first_diff(want, got, diff, sizeof(diff));
    snprintf(problem, sizeof(problem), "%s differs, %s; full output:\n%s", wpath, diff, got);
  }
out:
  free(got);
  free(want);
  free(wpath);
  free(other);
  if (problem[0])
    fail_msg("%s", problem);
}

static void test_orphan(void **state) {
  const struct golden *gd = *state;
  fail_msg("orphaned golden %s/%s: no matching .json", golden_dir, gd->name);
}

static void test_no_golden(void **state) {
  const struct golden *gd = *state;
  fail_msg("%s/%s.json has neither .args nor .err (run with QHM_REGENERATE=1)", golden_dir, gd->name);
}

/* ---- direct tests of what the goldens cannot reach ---- */

static void fill_ids(struct vm_config *c) {
  snprintf(c->id, sizeof(c->id), "0123456789abcdef");
  snprintf(c->uuid, sizeof(c->uuid), "01234567-89ab-4def-8123-456789abcdef");
  snprintf(c->name, sizeof(c->name), "t");
  for (size_t i = 0; i < c->n_disks; i++)
    snprintf(c->disks[i].path, sizeof(c->disks[i].path), "/d/disk%zu.qcow2", i);
}

static void host_all(struct vm_host *h) {
  static const char *bins[VM_ARCH__N] = {"/q/x86_64", "/q/i386", "/q/aarch64"};
  memset(h, 0, sizeof(*h));
  for (int a = 0; a < VM_ARCH__N; a++)
    h->qemu_binary[a] = bins[a];
  h->aavmf_code = AAVMF_CODE;
  h->ovmf_dir = OVMF_DIR;
}

/* vm_argv re-validates a struct filled in C, not only what came from JSON. */
static void test_argv_validates(void **state) {
  struct vm_config *c = xmalloc(sizeof(*c));
  struct vm_host h;
  struct vm_paths p = {"/vms/x"};
  struct vm_argv av = {0};
  char err[256];

  host_all(&h);
  vm_config_defaults(c, VM_ARCH_AARCH64);
  fill_ids(c);
  c->disks[0].iface = VM_DISK_IF_AHCI;
  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), -1);
  assert_string_equal(err, "disks[0].interface: 'ahci' is not available for aarch64");
  assert_null(av.argv);

  vm_config_defaults(c, VM_ARCH_X86_64);
  fill_ids(c);
  snprintf(c->display, sizeof(c->display), "ramfb");
  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), -1);
  assert_string_equal(err, "display: 'ramfb' is not available for x86_64");

  vm_config_defaults(c, VM_ARCH_X86_64);
  fill_ids(c);
  c->id[3] = 'X';
  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), -1);
  assert_string_equal(err, "id: must be 16 lowercase hex digits");

  vm_config_defaults(c, VM_ARCH_X86_64);
  fill_ids(c);
  c->disks[0].path[0] = 0; /* a new disk the daemon has not placed yet */
  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), -1);
  assert_string_equal(err, "disks[0].path: must be an absolute path");

  vm_config_defaults(c, VM_ARCH_X86_64);
  fill_ids(c);
  snprintf(c->cdrom, sizeof(c->cdrom), "/iso/\xff.iso");
  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), -1);
  assert_string_equal(err, "cdrom: must be valid UTF-8");
  free(c);
}

static void test_argv_host_and_paths(void **state) {
  struct vm_config *c = xmalloc(sizeof(*c));
  struct vm_host h;
  struct vm_paths p = {"/vms/x"};
  struct vm_argv av = {0};
  char err[256], out[32];

  host_all(&h);
  vm_config_defaults(c, VM_ARCH_AARCH64);
  fill_ids(c);
  h.aavmf_code = NULL;
  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), -1);
  assert_string_equal(err, "no UEFI firmware for aarch64 guests (AAVMF_CODE.fd not found)");

  host_all(&h);
  vm_config_defaults(c, VM_ARCH_X86_64);
  fill_ids(c);
  c->uefi = true;
  h.ovmf_dir = NULL;
  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), -1);
  assert_string_equal(err, "firmware: no UEFI firmware for x86_64 guests (install the ovmf package)");
  vm_config_defaults(c, VM_ARCH_AARCH64);
  fill_ids(c);

  host_all(&h);
  snprintf(p.dir, sizeof(p.dir), "vms/x");
  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), -1);
  assert_string_equal(err, "VM directory must be an absolute path");

  memset(p.dir, 'a', sizeof(p.dir) - 1);
  p.dir[0] = '/';
  p.dir[sizeof(p.dir) - 1] = 0;
  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), -1);
  assert_string_equal(err, "VM directory path too long");

  snprintf(p.dir, sizeof(p.dir), "/vms/x");
  vm_paths_file(&p, "run/qmp.sock", out, sizeof(out));
  assert_string_equal(out, "/vms/x/run/qmp.sock");
  vm_paths_file(&p, "run/a-name-that-does-not-fit.sock", out, sizeof(out));
  assert_string_equal(out, ""); /* never a cut-off path */

  assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), 0);
  assert_true(av.argc > 10);
  assert_string_equal(av.argv[0], "/q/aarch64");
  assert_null(av.argv[av.argc]);
  vm_argv_free(&av);
  vm_argv_free(&av); /* idempotent */
  assert_null(av.argv);
  vm_argv_free(NULL);
  free(c);
}

/* A start from a memory snapshot names the machine type it was saved on; the options stay. */
static void test_argv_set_machine(void **state) {
  struct vm_config *c = xmalloc(sizeof(*c));
  struct vm_host h;
  struct vm_paths p = {"/vms/x"};
  struct vm_argv av = {0};
  char err[256];
  static const struct {
    vm_arch arch;
    bool uefi;
    const char *type, *want;
  } cases[] = {
      {VM_ARCH_X86_64, false, "pc-q35-7.2", "pc-q35-7.2"},
      {VM_ARCH_X86_64, true, "pc-q35-10.0", "pc-q35-10.0,smm=on"},
      {VM_ARCH_I386, false, "pc-i440fx-7.2", "pc-i440fx-7.2"},
      {VM_ARCH_AARCH64, false, "virt-7.2", "virt-7.2,gic-version=max"},
  };
  host_all(&h);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    vm_config_defaults(c, cases[i].arch);
    fill_ids(c);
    c->uefi = cases[i].uefi;
    c->secure_boot = cases[i].uefi;
    assert_int_equal(vm_argv_build(c, &h, &p, &av, err, sizeof(err)), 0);
    assert_int_equal(vm_argv_set_machine(&av, cases[i].type), 0);
    size_t at = 0;
    for (size_t k = 0; k + 1 < av.argc; k++)
      if (strcmp(av.argv[k], "-machine") == 0)
        at = k + 1;
    assert_true(at > 0);
    assert_string_equal(av.argv[at], cases[i].want);
    /* not a machine type's name: nothing changes */
    assert_int_equal(vm_argv_set_machine(&av, "q35,accel=kvm"), -1);
    assert_int_equal(vm_argv_set_machine(&av, ""), -1);
    assert_int_equal(vm_argv_set_machine(&av, "pc q35"), -1);
    assert_string_equal(av.argv[at], cases[i].want);
    /* the -cpu value, whole */
    assert_string_equal(vm_argv_get(&av, "-cpu"),
                        cases[i].arch == VM_ARCH_AARCH64 ? "max,pauth-impdef=on" : "max");
    assert_int_equal(vm_argv_set_cpu(&av, "max"), 0);
    assert_string_equal(vm_argv_get(&av, "-cpu"), "max");
    assert_int_equal(vm_argv_set_cpu(&av, "max pauth"), -1);
    assert_int_equal(vm_argv_set_cpu(&av, ""), -1);
    assert_string_equal(vm_argv_get(&av, "-cpu"), "max");
    assert_null(vm_argv_get(&av, "-no-such-option"));
    /* the same lookups in the JSON argv a started VM keeps */
    json_t *j = json_array();
    for (size_t k = 0; k < av.argc; k++)
      json_array_append_new(j, json_string(av.argv[k]));
    assert_string_equal(vm_argv_json_get(j, NULL), av.argv[0]);
    assert_string_equal(vm_argv_json_get(j, "-cpu"), "max");
    assert_string_equal(vm_argv_json_get(j, "-machine"), av.argv[at]);
    assert_null(vm_argv_json_get(j, "-no-such-option"));
    json_decref(j);
    vm_argv_free(&av);
  }
  json_t *odd = json_pack("[i, s, i, s]", 1, "-cpu", 2, "-m"); /* not strings; an option last */
  assert_null(vm_argv_json_get(odd, NULL));
  assert_null(vm_argv_json_get(odd, "-cpu"));
  assert_null(vm_argv_json_get(odd, "-m"));
  json_decref(odd);
  assert_null(vm_argv_json_get(NULL, NULL));
  assert_null(vm_argv_json_get(NULL, "-cpu"));
  struct vm_argv none = {.argc = 2, .argv = (char *[]){"qemu", "-m", NULL}};
  assert_int_equal(vm_argv_set_machine(&none, "pc-q35-7.2"), -1);
  assert_int_equal(vm_argv_set_cpu(&none, "max"), -1);
  free(c);
}

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n > m && strcmp(s + n - m, suffix) == 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv) {
  struct dirent **ents = NULL;
  struct CMUnitTest *tests = NULL;
  struct golden *gds = NULL;
  size_t nt = 0;
  int n, rc;
  const char *regen = getenv("QHM_REGENERATE");

  golden_dir = argc > 1 ? argv[1] : "tests/cmdline";
  regenerate = regen && strcmp(regen, "1") == 0;
  n = scandir(golden_dir, &ents, NULL, by_name);
  if (n < 0) {
    fprintf(stderr, "test_cmdline: %s: %s\n", golden_dir, strerror(errno));
    return 1;
  }
  tests = xcalloc((size_t)n + 3, sizeof(*tests));
  gds = xcalloc((size_t)n + 3, sizeof(*gds));
  for (int i = 0; i < n; i++) {
    const char *f = ents[i]->d_name;
    struct golden *gd = &gds[nt];
    if (has_suffix(f, ".json")) {
      gd->name = xasprintf("%.*s", (int)(strlen(f) - 5), f);
      bool has = exists(gd->name, ".args") || exists(gd->name, ".err");
      tests[nt] =
          (struct CMUnitTest){gd->name, has || regenerate ? test_golden : test_no_golden, NULL, NULL, gd};
      nt++;
    } else if (has_suffix(f, ".args") || has_suffix(f, ".err")) {
      char *base = xasprintf("%.*s", (int)(strrchr(f, '.') - f), f);
      if (!exists(base, ".json")) {
        gd->name = xstrdup(f);
        tests[nt] = (struct CMUnitTest){gd->name, test_orphan, NULL, NULL, gd};
        nt++;
      }
      free(base);
    }
  }
  tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_argv_validates);
  tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_argv_host_and_paths);
  tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_argv_set_machine);
  /* cmocka_run_group_tests_name() takes sizeof of a fixed array; this one is built at run time. */
  rc = _cmocka_run_group_tests("cmdline", tests, nt, NULL, NULL);
  for (size_t i = 0; i < nt; i++)
    free(gds[i].name);
  free(gds);
  free(tests);
  for (int i = 0; i < n; i++)
    free(ents[i]);
  free(ents);
  return rc;
}
