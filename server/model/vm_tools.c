/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_tools: see vm_tools.h. The CD's small files; the script itself is generated from
 * data/linux/qhm-guest-tools.sh. Pure; any thread.
 */
#include "vm_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

const char vm_tools_readme[] =
    "qemu-hmos guest tools (docs/guest-tools.md)\r\n"
    "\r\n"
    "Linux (Debian, Ubuntu, Fedora, Arch, openEuler), as root:\r\n"
    "    sudo mkdir -p /media/qhm-tools                      (if the CD is not mounted yet;\r\n"
    "    sudo mount -o ro LABEL=QHM_TOOLS /media/qhm-tools    not on /mnt: shares go there)\r\n"
    "    sudo sh /media/qhm-tools/linux.sh\r\n"
    "  installs and enables qemu-guest-agent and spice-vdagent (the clipboard), makes the\r\n"
    "  display follow the browser window, and mounts this VM's shared folders (shares.conf)\r\n"
    "  on /mnt/TAG. sh linux.sh --help lists its options; --dry-run changes nothing.\r\n"
    "\r\n"
    "Windows: qhm-setup.ps1 turns on Remote Desktop (run it in an administrator's PowerShell).\r\n";

const char *vm_cd1_iso(const struct vm_config *c) {
  return c->unattend.set ? VM_UNATTEND_ISO : c->guest_tools ? VM_TOOLS_ISO : NULL;
}

char *vm_tools_shares_conf(const struct vm_config *c) {
  size_t cap = 512 + c->n_shares * (VM_SHARE_TAG_MAX * 2 + 40), n = 0;
  char *out = xmalloc(cap);
  n += (size_t)snprintf(out + n, cap - n,
                        "# The shared folders of this VM (qemu-hmos): TAG MODE MOUNTPOINT ro|rw.\n"
                        "# linux.sh beside this file mounts them when run without --share.\n");
  for (size_t i = 0; i < c->n_shares && i < VM_MAX_SHARES; i++) {
    const struct vm_share *s = &c->shares[i];
    n += (size_t)snprintf(out + n, cap - n, "%s %s /mnt/%s %s\n", s->tag, vm_share_mode_name(s->mode), s->tag,
                          s->readonly ? "ro" : "rw");
  }
  return out;
}
