/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tls: LAN mode's certificate. On first use a self-signed ECDSA P-256
 * certificate is made for the LAN address (and --lan-name names) in
 * DATA/tls/ (key.pem 0600, cert.pem); later starts load it, so the
 * fingerprint a paired browser has accepted stays the same. Its SHA-256
 * fingerprint is shown in endpoint.json and on the Host page, for the owner
 * to compare with what the remote browser shows. Main thread, at start.
 */
#ifndef QHM_TLS_H
#define QHM_TLS_H

#include <stddef.h>

struct tls_cert {
  char cert_path[4300], key_path[4300];
  char *cert_pem, *key_pem;
  char fingerprint[96]; /* "AB:CD:..." (SHA-256 of the DER certificate) */
};

int tls_load_or_make(struct tls_cert *t, const char *data_dir, const char *addr, const char *const *names,
                     int n_names, char *err, size_t errlen);
/* Wipes the key's copy and frees both PEM texts. */
void tls_cert_clear(struct tls_cert *t);

#endif
