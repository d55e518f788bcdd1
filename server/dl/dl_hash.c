/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dl_hash: see dl_hash.h. */
#include "dl_hash.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lazy.h"
#include "util.h"

/* libcrypto is loaded on the first digest (lazy.h): an idle daemon does not map it. Digests
 * start on the core thread and on worker threads (imports), hence pthread_once. */
/* A HarmonyOS app ships its libraries as libs/arm64-v8a/lib*.so: `make ohos` builds them
 * without a version in the SONAME (scripts/ohos/deps.sh). */
#ifdef __OHOS__
#define LIBCRYPTO_SONAME "libcrypto.so"
#else
#define LIBCRYPTO_SONAME "libcrypto.so.3"
#endif

static struct {
  const EVP_MD *(*sha256)(void);
  const EVP_MD *(*sha512)(void);
  EVP_MD_CTX *(*ctx_new)(void);
  void (*ctx_free)(EVP_MD_CTX *);
  int (*init_ex)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
  int (*update)(EVP_MD_CTX *, const void *, size_t);
  int (*final_ex)(EVP_MD_CTX *, unsigned char *, unsigned int *);
} evp;

static pthread_once_t evp_once = PTHREAD_ONCE_INIT;

static void evp_load(void) {
  const struct lazy_fn fns[] = {
      LAZY_FN(evp, sha256, "EVP_sha256"),           LAZY_FN(evp, sha512, "EVP_sha512"),
      LAZY_FN(evp, ctx_new, "EVP_MD_CTX_new"),      LAZY_FN(evp, ctx_free, "EVP_MD_CTX_free"),
      LAZY_FN(evp, init_ex, "EVP_DigestInit_ex"),   LAZY_FN(evp, update, "EVP_DigestUpdate"),
      LAZY_FN(evp, final_ex, "EVP_DigestFinal_ex"),
  };
  lazy_load(LIBCRYPTO_SONAME, fns, sizeof(fns) / sizeof(fns[0]));
}

struct dl_hash {
  enum dl_algo algo;
  EVP_MD_CTX *ctx;
};

static const EVP_MD *md_of(enum dl_algo a) {
  return a == DL_SHA512 ? evp.sha512() : evp.sha256();
}

struct dl_hash *dl_hash_new(enum dl_algo a) {
  struct dl_hash *h = xcalloc(1, sizeof(*h));
  h->algo = a;
  pthread_once(&evp_once, evp_load);
  h->ctx = evp.ctx_new();
  if (!h->ctx)
    oom();
  dl_hash_reset(h);
  return h;
}

void dl_hash_free(struct dl_hash *h) {
  if (!h)
    return;
  evp.ctx_free(h->ctx);
  free(h);
}

void dl_hash_reset(struct dl_hash *h) {
  if (evp.init_ex(h->ctx, md_of(h->algo), NULL) != 1)
    abort();
}

void dl_hash_update(struct dl_hash *h, const void *data, size_t len) {
  if (len && evp.update(h->ctx, data, len) != 1)
    abort();
}

void dl_hash_final_hex(struct dl_hash *h, char out[DL_HASH_MAX_HEX + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (evp.final_ex(h->ctx, md, &n) != 1)
    abort();
  static const char hx[] = "0123456789abcdef";
  for (unsigned i = 0; i < n; i++) {
    out[2 * i] = hx[md[i] >> 4];
    out[2 * i + 1] = hx[md[i] & 15];
  }
  out[2 * n] = 0;
}

size_t dl_algo_hex_len(enum dl_algo a) {
  return a == DL_SHA512 ? 128 : 64;
}

const char *dl_algo_name(enum dl_algo a) {
  return a == DL_SHA512 ? "sha512" : "sha256";
}

bool dl_is_hex(const char *s, size_t len) {
  if (!s || strlen(s) != len)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!isxdigit((unsigned char)s[i]))
      return false;
  return true;
}

/* A run of exactly LEN hex digits at P (not part of a longer run). */
static bool hex_run(const char *p, const char *end, size_t len) {
  if ((size_t)(end - p) < len)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!isxdigit((unsigned char)p[i]))
      return false;
  return p + len == end || !isxdigit((unsigned char)p[len]);
}

static void lower_copy(char *out, const char *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    out[i] = (char)tolower((unsigned char)p[i]);
  out[len] = 0;
}

/* The file name of one line, or NULL: GNU "HASH  name" / "HASH *name", BSD "ALG (name) = HASH". */
static bool line_match(const char *l, const char *e, const char *file, size_t len, char *out, bool *any) {
  while (l < e && (*l == ' ' || *l == '\t'))
    l++;
  const char *name = NULL, *hash = NULL;
  size_t name_len = 0;
  if (hex_run(l, e, len)) { /* GNU */
    hash = l;
    const char *p = l + len;
    if (p >= e || (*p != ' ' && *p != '\t'))
      return false;
    while (p < e && (*p == ' ' || *p == '\t'))
      p++;
    if (p < e && (*p == '*' || *p == ' '))
      p++;
    name = p;
    name_len = (size_t)(e - p);
  } else { /* BSD: SHA256 (name) = HASH */
    const char *open = memchr(l, '(', (size_t)(e - l));
    if (!open)
      return false;
    const char *eq = NULL;
    for (const char *p = e - 1; p > open; p--)
      if (*p == '=') {
        eq = p;
        break;
      }
    if (!eq || eq - open < 3 || eq[-1] != ' ' || eq[-2] != ')')
      return false;
    name = open + 1;
    name_len = (size_t)(eq - 2 - name);
    const char *h = eq + 1;
    while (h < e && *h == ' ')
      h++;
    if (!hex_run(h, e, len))
      return false;
    hash = h;
  }
  while (name_len && (name[name_len - 1] == ' ' || name[name_len - 1] == '\t'))
    name_len--;
  if (!file || !*file) {
    if (*any)
      return false; /* ambiguous: handled by the caller */
    *any = true;
    lower_copy(out, hash, len);
    return false;
  }
  /* Match the base name too: "./debian.iso" and "sub/debian.iso" lines name debian.iso. */
  size_t fl = strlen(file);
  const char *base = name;
  for (size_t i = 0; i < name_len; i++)
    if (name[i] == '/')
      base = name + i + 1;
  size_t bl = name_len - (size_t)(base - name);
  if ((name_len == fl && memcmp(name, file, fl) == 0) || (bl == fl && memcmp(base, file, fl) == 0)) {
    lower_copy(out, hash, len);
    return true;
  }
  return false;
}

int dl_checksum_find(const char *text, size_t textlen, const char *file, size_t len,
                     char out[DL_HASH_MAX_HEX + 1]) {
  const char *p = text, *end = text + textlen;
  bool any = false;
  int count = 0;
  char one[DL_HASH_MAX_HEX + 1] = "";
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    if (e > p && e[-1] == '\r')
      e--;
    if (file && *file) {
      if (line_match(p, e, file, len, out, &any))
        return 0;
    } else {
      bool got = false;
      char tmp[DL_HASH_MAX_HEX + 1];
      line_match(p, e, NULL, len, tmp, &got);
      if (got) {
        count++;
        memcpy(one, tmp, sizeof(one));
      }
    }
    p = nl ? nl + 1 : end;
  }
  if ((!file || !*file) && count == 1) {
    memcpy(out, one, len + 1);
    return 0;
  }
  return -1;
}
