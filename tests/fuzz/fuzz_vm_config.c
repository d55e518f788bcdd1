/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: REST bodies for POST/PATCH /api/v1/vms, through the JSON parser the API uses. */
#include <stdint.h>
#include <string.h>

#include "vm_argv.h"
#include "vm_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(j)) {
    json_decref(j);
    return 0;
  }
  char err[1024];
  struct vm_config c;
  memset(&c, 0, sizeof(c));
  for (int create = 0; create < 2; create++) {
    if (vm_config_apply_json(&c, j, create, err, sizeof(err)) == 0) {
      json_t *out = vm_config_to_json(&c);
      char *txt = json_dumps(out, 0); /* must always be valid JSON (UTF-8) */
      if (!txt)
        __builtin_trap();
      free(txt);
      json_decref(out);
    }
  }
  struct vm_config s;
  memset(&s, 0, sizeof(s));
  if (vm_config_from_json(&s, j, err, sizeof(err)) == 0) {
    struct vm_host h = {
        {"/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-system-i386", "/usr/bin/qemu-system-aarch64"},
        "/usr/share/AAVMF/AAVMF_CODE.fd",
        {false, false, false}};
    struct vm_paths p = {"/var/lib/qemu-hmos/vms/0123456789abcdef"};
    struct vm_argv a = {0};
    if (vm_argv_build(&s, &h, &p, &a, err, sizeof(err)) == 0)
      vm_argv_free(&a);
  }
  json_decref(j);
  return 0;
}
