/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dl_hash: digests and the checksum-file parser (GNU, BSD, single-hash files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dl_hash.h"

#define H64A "3b4f8e3a8e0c5f1f0d1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071"
#define H64B "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static void test_digests(void **state) {
  char out[DL_HASH_MAX_HEX + 1];
  struct dl_hash *h = dl_hash_new(DL_SHA256);
  dl_hash_update(h, "abc", 3);
  dl_hash_final_hex(h, out);
  assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  dl_hash_reset(h);
  dl_hash_final_hex(h, out);
  assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  dl_hash_free(h);
  h = dl_hash_new(DL_SHA512);
  dl_hash_update(h, "abc", 3);
  dl_hash_final_hex(h, out);
  assert_int_equal(strlen(out), 128);
  assert_memory_equal(out, "ddaf35a193617aba", 16);
  dl_hash_free(h);
}

static void test_checksum_files(void **state) {
  char out[DL_HASH_MAX_HEX + 1];
  const char *gnu = H64B "  other.iso\r\n" H64A " *debian-12.8.0-amd64-netinst.iso\n";
  assert_int_equal(dl_checksum_find(gnu, strlen(gnu), "debian-12.8.0-amd64-netinst.iso", 64, out), 0);
  assert_string_equal(out, H64A);
  assert_int_equal(dl_checksum_find(gnu, strlen(gnu), "other.iso", 64, out), 0);
  assert_int_equal(out[0], 'a'); /* lowercased */
  assert_int_equal(dl_checksum_find(gnu, strlen(gnu), "missing.iso", 64, out), -1);
  assert_int_equal(dl_checksum_find(gnu, strlen(gnu), NULL, 64, out), -1); /* two hashes: ambiguous */
  const char *bsd = "# Fedora-Server-41-1.4-x86_64-CHECKSUM\n-----BEGIN PGP SIGNED MESSAGE-----\n"
                    "SHA256 (Fedora-Server-netinst-x86_64-41-1.4.iso) = " H64A "\n";
  assert_int_equal(dl_checksum_find(bsd, strlen(bsd), "Fedora-Server-netinst-x86_64-41-1.4.iso", 64, out), 0);
  assert_string_equal(out, H64A);
  const char *one = H64A "  alpine-virt-3.20.3-x86_64.iso\n";
  assert_int_equal(dl_checksum_find(one, strlen(one), "", 64, out), 0);
  const char *sub = H64A " *./iso/x.iso\n";
  assert_int_equal(dl_checksum_find(sub, strlen(sub), "x.iso", 64, out), 0);
  /* Hostile: truncated hashes, no newline at the end, NUL bytes, a too-long hex run. */
  const char bad[] = "3b4f  x.iso\n" H64A "0  x.iso\0\n" H64A "  x.iso";
  assert_int_equal(dl_checksum_find(bad, sizeof(bad) - 1, "x.iso", 64, out), 0);
  assert_int_equal(dl_checksum_find(bad, 20, "x.iso", 64, out), -1);
  assert_true(dl_is_hex(H64A, 64));
  assert_false(dl_is_hex(H64A "0", 64));
  assert_false(dl_is_hex("zz", 2));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_digests), cmocka_unit_test(test_checksum_files)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
