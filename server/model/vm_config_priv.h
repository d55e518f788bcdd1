/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_config_priv: what vm_config.c (names, defaults, JSON output) and vm_config_parse.c (JSON
 * input and checks) share: the closed lists of names and the guest architectures each is offered
 * for. Included by those two files only.
 */
#ifndef QHM_VM_CONFIG_PRIV_H
#define QHM_VM_CONFIG_PRIV_H

#include "vm_config.h"

#define ARCH_BIT(a) (1u << (a))
#define ARCH_X86 (ARCH_BIT(VM_ARCH_X86_64) | ARCH_BIT(VM_ARCH_I386))
#define ARCH_ARM ARCH_BIT(VM_ARCH_AARCH64)
#define ARCH_ALL (ARCH_X86 | ARCH_ARM)

/* A name from a closed list and the guest architectures it is offered for. */
struct choice {
  const char *name;
  unsigned arches;
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define VM_CFG_N_DISK_IFS 5
#define VM_CFG_N_BOOT_DEVS 3
/* Indexed by vm_disk_if and vm_boot_dev. */
extern const struct choice vm_cfg_disk_ifs[VM_CFG_N_DISK_IFS];
extern const struct choice vm_cfg_boot_devs[VM_CFG_N_BOOT_DEVS];

#endif
