/* SPDX-License-Identifier: GPL-2.0-or-later */
/* img: see img.h. Any thread (it only reads files). */
#include "img.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

const char *img_probe_bytes(const unsigned char *h, size_t n) {
  if (n >= 4 && memcmp(h, "QFI\xfb", 4) == 0)
    return "qcow2";
  if (n >= 4 && memcmp(h, "QED\0", 4) == 0)
    return "qed";
  if (n >= 4 && memcmp(h, "KDMV", 4) == 0)
    return "vmdk";
  if (n >= 20 && memcmp(h, "# Disk DescriptorFile", 20) == 0)
    return "vmdk";
  if (n >= 0x44 && be32(h + 0x40) == 0x7f10dabeu) /* VDI's signature, little-endian 0xbeda107f */
    return "vdi";
  if (n >= 8 && memcmp(h, "vhdxfile", 8) == 0)
    return "vhdx";
  if (n >= 8 && memcmp(h, "conectix", 8) == 0)
    return "vpc";
  if (n >= 16 && (memcmp(h, "WithoutFreeSpace", 16) == 0 || memcmp(h, "WithouFreSpacExt", 16) == 0))
    return "parallels";
  if (n >= 4 && memcmp(h, "bochs", 5 <= n ? 5 : n) == 0)
    return "bochs";
  if (n >= 4 && memcmp(h, "OOOM", 4) == 0)
    return "cloop";
  return "raw";
}

enum img_result img_check_bytes(const unsigned char *h, size_t n, const char **format, char *err,
                                size_t errlen) {
  *format = img_probe_bytes(h, n);
  if (strcmp(*format, "qcow2") == 0) {
    if (n < 104) {
      snprintf(err, errlen, "a truncated qcow2 header");
      return IMG_BAD;
    }
    if (be64(h + 8) != 0) { /* backing_file_offset */
      snprintf(err, errlen, "a qcow2 image with a backing file is refused (it could name any host file)");
      return IMG_BACKING;
    }
    /* version 3: incompatible feature bit 2 = an external data file, named in an extension */
    if (be32(h + 4) >= 3 && (be64(h + 72) & 4)) {
      snprintf(err, errlen, "a qcow2 image with an external data file is refused");
      return IMG_BACKING;
    }
    return IMG_OK;
  }
  if (strcmp(*format, "qed") == 0) {
    if (n < 64) {
      snprintf(err, errlen, "a truncated qed header");
      return IMG_BAD;
    }
    /* header: magic, cluster_size, table_size, header_size, features(8), compat(8), autoclear(8),
     * l1_table_offset(8), image_size(8), backing_filename_offset(4) at 56 */
    if (h[56] | h[57] | h[58] | h[59]) {
      snprintf(err, errlen, "a qed image with a backing file is refused");
      return IMG_BACKING;
    }
    return IMG_OK;
  }
  if (strcmp(*format, "vmdk") == 0 || strcmp(*format, "vpc") == 0 || strcmp(*format, "vhdx") == 0 ||
      strcmp(*format, "vdi") == 0 || strcmp(*format, "raw") == 0 || strcmp(*format, "parallels") == 0)
    return IMG_OK; /* their references to other files, if any, are checked with qemu-img info */
  snprintf(err, errlen, "%s images are not accepted", *format);
  return IMG_BAD;
}

int img_read_head(const char *path, unsigned char *buf, size_t len, size_t *got, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s", fd < 0 ? strerror(errno) : "not a regular file");
    if (fd >= 0)
      close(fd);
    return -1;
  }
  ssize_t r = pread(fd, buf, len, 0);
  close(fd);
  if (r < 0) {
    snprintf(err, errlen, "%s", strerror(errno));
    return -1;
  }
  *got = (size_t)r;
  return 0;
}

enum img_result img_check_file(const char *path, const char **format, char *err, size_t errlen) {
  unsigned char h[512];
  size_t n = 0;
  if (img_read_head(path, h, sizeof(h), &n, err, errlen) < 0)
    return IMG_IO;
  return img_check_bytes(h, n, format, err, errlen);
}

enum img_result img_check_claim(const char *name, const char *format, char *err, size_t errlen) {
  const char *dot = strrchr(name, '.');
  if (!dot)
    return IMG_OK;
  static const char *const raw_ext[] = {".iso", ".img", ".raw", ".bin", ".fd"};
  for (size_t i = 0; i < sizeof(raw_ext) / sizeof(raw_ext[0]); i++) {
    if (strcasecmp(dot, raw_ext[i]) == 0) {
      if (strcmp(format, "raw") == 0)
        return IMG_OK;
      snprintf(err, errlen, "%s is named as a raw image but is a %s image", name, format);
      return IMG_WRONG_FORMAT;
    }
  }
  static const char *const fmt_ext[][2] = {{".qcow2", "qcow2"}, {".qcow", "qcow2"}, {".vmdk", "vmdk"},
                                           {".vdi", "vdi"},     {".vhdx", "vhdx"},  {".vhd", "vpc"},
                                           {".qed", "qed"}};
  for (size_t i = 0; i < sizeof(fmt_ext) / sizeof(fmt_ext[0]); i++) {
    if (strcasecmp(dot, fmt_ext[i][0]) == 0) {
      if (strcmp(format, fmt_ext[i][1]) == 0)
        return IMG_OK;
      snprintf(err, errlen, "%s is named as a %s image but is %s", name, fmt_ext[i][1],
               strcmp(format, "raw") == 0 ? "not one" : format);
      return IMG_WRONG_FORMAT;
    }
  }
  return IMG_OK;
}

const char *img_result_code(enum img_result r) {
  switch (r) {
  case IMG_BACKING:
    return "backing_file";
  case IMG_WRONG_FORMAT:
    return "wrong_format";
  case IMG_IO:
    return "io_error";
  case IMG_BAD:
    return "invalid_image";
  default:
    return "ok";
  }
}
