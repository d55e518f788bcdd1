/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness: the importers' readers of untrusted bytes (server/model/vm_import*.c over
 * xml_tree.c, and tar.c's header). The first byte picks the reader: 0 libvirt domain XML, 1 OVF
 * envelope, 2 UTM config.plist, 3 a ustar header. Checks: no read past the input (ASan); a reader
 * that succeeds gives a config object, at most VM_MAX_DISKS disks with absolute (libvirt) or plain
 * (UTM: no '/') sources, and an unmapped list; a tar member accepted as safe never starts with '/'
 * nor holds a ".." segment.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tar.h"
#include "vm_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned kind = data[0] % 4;
  const char *p = (const char *)data + 1;
  size--;
  char err[1024];
  if (kind == 3) {
    unsigned char h[TAR_BLOCK] = {0};
    memcpy(h, p, size < TAR_BLOCK ? size : TAR_BLOCK);
    struct tar_entry e;
    if (tar_parse_header(h, &e, err, sizeof(err)) == 0 && tar_name_safe(e.name) &&
        (e.name[0] == '/' || strstr(e.name, "../") || strcmp(e.name, "..") == 0))
      __builtin_trap();
    return 0;
  }
  struct imp_result r;
  int rc = kind == 0   ? imp_libvirt(p, size, &r, err, sizeof(err))
           : kind == 1 ? imp_ovf(p, size, &r, err, sizeof(err))
                       : imp_utm(p, size, &r, err, sizeof(err));
  if (rc < 0)
    return 0;
  if (!json_is_object(r.config) || !json_is_array(r.unmapped) || r.n_disks > VM_MAX_DISKS)
    __builtin_trap();
  for (size_t i = 0; i < r.n_disks; i++)
    if (kind == 2 && strchr(r.disks[i].src, '/'))
      __builtin_trap();
  imp_result_free(&r);
  return 0;
}
