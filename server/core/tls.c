/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tls: see tls.h. Main thread, at start. GnuTLS: libmicrohttpd already maps it. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

#define CHECK(expr, what)                                                                                    \
  do {                                                                                                       \
    int rc_ = (expr);                                                                                        \
    if (rc_ < 0) {                                                                                           \
      snprintf(err, errlen, "TLS certificate: %s: %s", what, gnutls_strerror(rc_));                          \
      goto out;                                                                                              \
    }                                                                                                        \
  } while (0)

/* A new ECDSA P-256 key and a self-signed certificate for ADDR and NAMES (10 years). */
static int make_cert(const char *cert_path, const char *key_path, const char *addr, const char *const *names,
                     int n_names, char *err, size_t errlen) {
  gnutls_x509_privkey_t key = NULL;
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t kpem = {NULL, 0}, cpem = {NULL, 0};
  int ret = -1;
  CHECK(gnutls_x509_privkey_init(&key), "key");
  CHECK(
      gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
      "key generation");
  CHECK(gnutls_x509_crt_init(&crt), "certificate");
  CHECK(gnutls_x509_crt_set_version(crt, 3), "version");
  unsigned char serial[16];
  random_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f; /* a positive number */
  CHECK(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), "serial");
  time_t now = time(NULL);
  CHECK(gnutls_x509_crt_set_activation_time(crt, now - 3600), "activation");
  CHECK(gnutls_x509_crt_set_expiration_time(crt, now + 10L * 365 * 86400), "expiration");
  const char *cn = "qemu-hmos";
  CHECK(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)), "name");
  unsigned char ip[16];
  if (inet_pton(AF_INET, addr, ip) == 1 && strcmp(addr, "0.0.0.0") != 0)
    CHECK(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4, GNUTLS_FSAN_APPEND),
          "address");
  for (int i = 0; i < n_names; i++)
    CHECK(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, names[i], strlen(names[i]),
                                               GNUTLS_FSAN_APPEND),
          "name");
  CHECK(gnutls_x509_crt_set_key(crt, key), "public key");
  CHECK(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "key usage");
  CHECK(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "purpose");
  CHECK(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), "signature");
  CHECK(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kpem),
        "key export");
  CHECK(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem), "export");
  if (write_file_atomic(key_path, kpem.data, kpem.size, 0600) < 0 ||
      write_file_atomic(cert_path, cpem.data, cpem.size, 0644) < 0) {
    snprintf(err, errlen, "cannot write %s: %s", key_path, strerror(errno));
    goto out;
  }
  ret = 0;
out:
  if (kpem.data) {
    explicit_bzero(kpem.data, kpem.size);
    gnutls_free(kpem.data);
  }
  gnutls_free(cpem.data);
  gnutls_x509_crt_deinit(crt);
  gnutls_x509_privkey_deinit(key);
  return ret;
}

int tls_load_or_make(struct tls_cert *t, const char *data_dir, const char *addr, const char *const *names,
                     int n_names, char *err, size_t errlen) {
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t d;
  int ret = -1;
  memset(t, 0, sizeof(*t));
  char dir[4200];
  if (fmt_path(dir, sizeof(dir), "%s/tls", data_dir) < 0 || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
    snprintf(err, errlen, "cannot create %s/tls: %s", data_dir, strerror(errno));
    return -1;
  }
  snprintf(t->cert_path, sizeof(t->cert_path), "%s/cert.pem", dir);
  snprintf(t->key_path, sizeof(t->key_path), "%s/key.pem", dir);
  t->cert_pem = read_file(t->cert_path, 65536, NULL);
  t->key_pem = read_file(t->key_path, 65536, NULL);
  if (!t->cert_pem || !t->key_pem) { /* first use */
    free(t->cert_pem);
    free(t->key_pem);
    if (make_cert(t->cert_path, t->key_path, addr, names, n_names, err, errlen) < 0)
      return -1;
    t->cert_pem = read_file(t->cert_path, 65536, NULL);
    t->key_pem = read_file(t->key_path, 65536, NULL);
    if (!t->cert_pem || !t->key_pem) {
      snprintf(err, errlen, "cannot read back %s", t->cert_path);
      goto out;
    }
    log_info("tls: made a self-signed certificate in %s", dir);
  }
  CHECK(gnutls_x509_crt_init(&crt), "certificate");
  d.data = (unsigned char *)t->cert_pem;
  d.size = (unsigned)strlen(t->cert_pem);
  CHECK(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), t->cert_path);
  unsigned char fp[32];
  size_t fpl = sizeof(fp);
  CHECK(gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &fpl), "fingerprint");
  for (size_t i = 0; i < fpl; i++)
    snprintf(t->fingerprint + 3 * i, 4, i + 1 < fpl ? "%02X:" : "%02X", fp[i]);
  ret = 0;
out:
  gnutls_x509_crt_deinit(crt);
  if (ret < 0)
    tls_cert_clear(t);
  return ret;
}

void tls_cert_clear(struct tls_cert *t) {
  secret_free(t->key_pem);
  free(t->cert_pem);
  t->key_pem = t->cert_pem = NULL;
}
