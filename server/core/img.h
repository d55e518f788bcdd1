/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * img: what a disk image file is, from its first bytes, without qemu-img's
 * format probing (a guest can write a qcow2 header into a raw disk) and
 * without following anything it names. Images that name another host file
 * (a qcow2/qed backing file, a qcow2 external data file) are refused, as
 * OpenStack Glance does; formats whose references need qemu-img to see (vmdk
 * descriptors, vhdx parents) are checked by the caller with `qemu-img info -f`.
 * The format found is then given to qemu-img with -f, always. Pure parts
 * fuzzed by tests/fuzz/fuzz_img.c. Any thread.
 */
#ifndef QHM_IMG_H
#define QHM_IMG_H

#include <stddef.h>

enum img_result { IMG_OK, IMG_BACKING, IMG_WRONG_FORMAT, IMG_BAD, IMG_IO };

/* "qcow2", "qed", "vmdk", "vdi", "vhdx", "vpc", "parallels", "bochs", "cloop" or "raw". */
const char *img_probe_bytes(const unsigned char *head, size_t n);
/* The format of HEAD (the first N <= 512 bytes) and whether it may be used. */
enum img_result img_check_bytes(const unsigned char *head, size_t n, const char **format, char *err,
                                size_t errlen);
/* The same for a file (opened with O_NOFOLLOW; a regular file only). */
enum img_result img_check_file(const char *path, const char **format, char *err, size_t errlen);
int img_read_head(const char *path, unsigned char *buf, size_t len, size_t *got, char *err, size_t errlen);
/* A file NAME ("x.qcow2", "y.iso") claims a format: FORMAT must be it (IMG_WRONG_FORMAT). */
enum img_result img_check_claim(const char *name, const char *format, char *err, size_t errlen);
/* The API error code for R: "backing_file", "wrong_format", "invalid_image", "io_error". */
const char *img_result_code(enum img_result r);

#endif
