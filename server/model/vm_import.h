/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_import: what another manager's description of a VM says, in this daemon's terms. Three
 * readers of untrusted bytes: a libvirt domain XML (virsh dumpxml), an OVF envelope (the .ovf of
 * a VirtualBox or VMware OVA) and a UTM bundle's config.plist. Each gives the body of a
 * POST /vms (without disks), the disks to copy (where they are, in what format, on which bus)
 * and every setting it read but could not map, so the answer can list them. No I/O: the caller
 * (server/vm/vm_import.c) finds the files, checks them and converts them. Fuzzed by
 * tests/fuzz/fuzz_import.c; unit-tested by tests/unit/test_import.c.
 */
#ifndef QHM_VM_IMPORT_H
#define QHM_VM_IMPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_config.h"

enum imp_format { IMP_LIBVIRT, IMP_OVF, IMP_UTM };

struct imp_disk {
  /* libvirt: the source file's path (absolute); OVF: the File's href (an OVA member's name);
   * UTM: the image's file name in the bundle's Data/ */
  char src[4096];
  char format[16]; /* as the description declares it ("qcow2", "raw", "vmdk"); "" when it does not */
  vm_disk_if iface;
};

struct imp_result {
  enum imp_format format;
  json_t *config; /* a POST /vms body: name (when the source has a valid one), arch, memory_mib, ... */
  size_t n_disks;
  struct imp_disk disks[VM_MAX_DISKS];
  json_t *unmapped; /* [{"field": "devices/sound", "value": "..."}]: read, not carried over */
};

/* 0 and R filled (free with imp_result_free), or -1 with "FIELD: why" in ERR. */
int imp_libvirt(const char *xml, size_t len, struct imp_result *r, char *err, size_t errlen);
int imp_ovf(const char *xml, size_t len, struct imp_result *r, char *err, size_t errlen);
int imp_utm(const char *plist, size_t len, struct imp_result *r, char *err, size_t errlen);
void imp_result_free(struct imp_result *r);

/* Shared by the readers (vm_import.c, vm_import_ovf.c): R emptied for format F (config with
 * "disks": [], unmapped []); FIELD read with VALUE and not carried over, listed in R; a decimal in
 * [0, MAX] from the whole of S. */
void imp_init(struct imp_result *r, enum imp_format f);
void imp_unmapped(struct imp_result *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool imp_u64(const char *s, uint64_t max, uint64_t *out);

/* The root element's local name of XML ("domain", "Envelope", "plist"), or NULL. */
const char *imp_sniff(const char *xml, size_t len, char *out, size_t outlen);

/* A plist document (Apple's XML property list) as JSON: dict -> object, array -> array, string,
 * integer, real, true/false; data and date become strings. NULL with ERR. */
json_t *imp_plist_to_json(const char *plist, size_t len, char *err, size_t errlen);

#endif
