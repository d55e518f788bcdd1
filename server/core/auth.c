/* SPDX-License-Identifier: GPL-2.0-or-later */
/* auth: see auth.h. Any thread (one mutex). */
#include "auth.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util.h"

/* ---- pure parts ---- */

void auth_hosts_add(struct auth_hosts *hs, const char *name, uint16_t port, bool tls) {
  bool v6 = strchr(name, ':') != NULL;
  char entry[sizeof(hs->h[0])];
  for (int bare = 0; bare < 2; bare++) {
    if (bare && port != (tls ? 443 : 80))
      break;
    int n = bare ? snprintf(entry, sizeof(entry), v6 ? "[%s]" : "%s", name)
                 : snprintf(entry, sizeof(entry), v6 ? "[%s]:%u" : "%s:%u", name, port);
    if (n < 0 || (size_t)n >= sizeof(entry) || hs->n == AUTH_MAX_HOSTS || auth_hosts_match(hs, entry))
      continue;
    memcpy(hs->h[hs->n++], entry, (size_t)n + 1);
  }
}

void auth_hosts_add_loopback(struct auth_hosts *hs, const char *bind, uint16_t port) {
  auth_hosts_add(hs, "127.0.0.1", port, false);
  auth_hosts_add(hs, "localhost", port, false);
  auth_hosts_add(hs, "::1", port, false);
  if (bind && strcmp(bind, "0.0.0.0") != 0)
    auth_hosts_add(hs, bind, port, false);
}

bool auth_hosts_match(const struct auth_hosts *hs, const char *host) {
  if (!host)
    return false;
  for (unsigned i = 0; i < hs->n; i++)
    if (strcasecmp(hs->h[i], host) == 0)
      return true;
  return false;
}

bool auth_cookie_get(const char *header, const char *name, char *out, size_t outlen) {
  if (!header || !outlen)
    return false;
  size_t nl = strlen(name);
  const char *p = header;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ';')
      p++;
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
      const char *v = p + nl + 1;
      size_t vl = len - nl - 1;
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
      if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') { /* RFC 6265 allows a quoted value */
        v++;
        vl -= 2;
      }
      if (vl >= outlen)
        return false;
      memcpy(out, v, vl);
      out[vl] = 0;
      return true;
    }
    p += len;
  }
  return false;
}

bool auth_bearer_get(const char *header, char *out, size_t outlen) {
  if (!header || !outlen)
    return false;
  while (*header == ' ')
    header++;
  if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
    return false;
  const char *v = header + 7;
  while (*v == ' ' || *v == '\t')
    v++;
  size_t vl = strlen(v);
  while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
    vl--;
  if (!vl || vl >= outlen)
    return false;
  memcpy(out, v, vl);
  out[vl] = 0;
  return true;
}

bool auth_media_type_is(const char *ctype, const char *want) {
  if (!ctype)
    return false;
  while (*ctype == ' ' || *ctype == '\t')
    ctype++;
  size_t n = strcspn(ctype, ";");
  while (n && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t'))
    n--;
  return n == strlen(want) && strncasecmp(ctype, want, n) == 0;
}

bool auth_secret_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char d = la != lb;
  for (size_t i = 0; i < lb; i++)
    d |= (unsigned char)(i < la ? a[i] : 0) ^ (unsigned char)b[i];
  return d == 0;
}

/* ---- state ---- */

#define MAX_ORIGINS 48
#define MAX_RATE 256

struct device {
  char id[AUTH_DEVICE_ID_HEX + 1];
  char hash[65]; /* SHA-256 of the secret, hex */
  char name[64];
  char address[64];
  int64_t created, last_seen;
};

struct rate {
  char addr[64];
  uint64_t window_start;
  unsigned tries;
};

struct auth {
  pthread_mutex_t lock;
  char dir[4200]; /* DATA/secrets */
  char token[AUTH_TOKEN_HEX + 1];
  char session[65];
  char origins[MAX_ORIGINS][128];
  unsigned n_origins;
  struct device devices[AUTH_MAX_DEVICES];
  unsigned n_devices;
  char code[7]; /* "" = none */
  uint64_t code_expires;
  unsigned code_wrong;
  struct rate rates[MAX_RATE];
};

static void sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char d[32];
  if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d) < 0)
    abort();
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static bool is_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return s[n] == 0 || s[n] == '\n';
}

static int save_devices(struct auth *a) {
  json_t *arr = json_array();
  for (unsigned i = 0; i < a->n_devices; i++) {
    struct device *d = &a->devices[i];
    json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", d->id, "sha256", d->hash, "name",
                                         d->name, "address", d->address, "created", (json_int_t)d->created));
  }
  char *txt = json_dumps(arr, JSON_INDENT(1));
  json_decref(arr);
  char path[4300];
  snprintf(path, sizeof(path), "%s/devices.json", a->dir);
  int rc = write_file_atomic(path, txt, strlen(txt), 0600);
  free(txt);
  return rc;
}

static void load_devices(struct auth *a) {
  char path[4300];
  snprintf(path, sizeof(path), "%s/devices.json", a->dir);
  json_t *arr = json_load_file(path, 0, NULL);
  size_t i;
  json_t *o;
  json_array_foreach(arr, i, o) {
    const char *id = json_string_value(json_object_get(o, "id")),
               *hash = json_string_value(json_object_get(o, "sha256")),
               *name = json_string_value(json_object_get(o, "name")),
               *addr = json_string_value(json_object_get(o, "address"));
    if (a->n_devices == AUTH_MAX_DEVICES || !id || strlen(id) != AUTH_DEVICE_ID_HEX ||
        !is_hex(id, AUTH_DEVICE_ID_HEX) || !hash || strlen(hash) != 64 || !is_hex(hash, 64))
      continue;
    struct device *d = &a->devices[a->n_devices++];
    memset(d, 0, sizeof(*d));
    snprintf(d->id, sizeof(d->id), "%s", id);
    snprintf(d->hash, sizeof(d->hash), "%s", hash);
    snprintf(d->name, sizeof(d->name), "%s", name ? name : "");
    snprintf(d->address, sizeof(d->address), "%s", addr ? addr : "");
    d->created = json_integer_value(json_object_get(o, "created"));
  }
  json_decref(arr);
}

struct auth *auth_new(const char *data_dir, bool new_token, char *err, size_t errlen) {
  struct auth *a = xcalloc(1, sizeof(*a));
  pthread_mutex_init(&a->lock, NULL);
  char path[4300];
  if (fmt_path(a->dir, sizeof(a->dir), "%s/secrets", data_dir) < 0 ||
      (mkdir(a->dir, 0700) < 0 && errno != EEXIST) || chmod(a->dir, 0700) < 0) {
    snprintf(err, errlen, "cannot create %s/secrets: %s", data_dir, strerror(errno));
    goto fail;
  }
  snprintf(path, sizeof(path), "%s/api-token", a->dir);
  char *txt = new_token ? NULL : read_file(path, 256, NULL);
  if (txt && strlen(txt) >= AUTH_TOKEN_HEX && is_hex(txt, AUTH_TOKEN_HEX)) {
    memcpy(a->token, txt, AUTH_TOKEN_HEX);
  } else {
    random_hex(a->token, AUTH_TOKEN_HEX);
    char line[AUTH_TOKEN_HEX + 2];
    snprintf(line, sizeof(line), "%s\n", a->token);
    if (write_file_atomic(path, line, strlen(line), 0600) < 0) {
      snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
      free(txt);
      goto fail;
    }
  }
  free(txt);
  char salted[AUTH_TOKEN_HEX + 32];
  snprintf(salted, sizeof(salted), "qemu-hmos session:%s", a->token);
  sha256_hex(salted, strlen(salted), a->session);
  explicit_bzero(salted, sizeof(salted));
  load_devices(a);
  return a;
fail:
  pthread_mutex_destroy(&a->lock);
  free(a);
  return NULL;
}

void auth_free(struct auth *a) {
  if (!a)
    return;
  pthread_mutex_destroy(&a->lock);
  explicit_bzero(a, sizeof(*a));
  free(a);
}

const char *auth_token(const struct auth *a) {
  return a->token;
}

const char *auth_session_value(const struct auth *a) {
  return a->session;
}

void auth_allow_origin(struct auth *a, const char *origin) {
  pthread_mutex_lock(&a->lock);
  bool dup = false;
  for (unsigned i = 0; i < a->n_origins; i++)
    dup |= strcasecmp(a->origins[i], origin) == 0;
  if (!dup && a->n_origins < MAX_ORIGINS && strlen(origin) < sizeof(a->origins[0]))
    snprintf(a->origins[a->n_origins++], sizeof(a->origins[0]), "%s", origin);
  pthread_mutex_unlock(&a->lock);
}

void auth_allow_origins_of(struct auth *a, const struct auth_hosts *hs, bool tls) {
  char o[160];
  for (unsigned i = 0; i < hs->n; i++) {
    snprintf(o, sizeof(o), "%s://%s", tls ? "https" : "http", hs->h[i]);
    auth_allow_origin(a, o);
  }
}

bool auth_origin_ok(struct auth *a, const char *origin) {
  if (!origin)
    return false;
  pthread_mutex_lock(&a->lock);
  bool ok = false;
  for (unsigned i = 0; i < a->n_origins && !ok; i++)
    ok = strcasecmp(a->origins[i], origin) == 0;
  pthread_mutex_unlock(&a->lock);
  return ok;
}

json_t *auth_origins_json(struct auth *a) {
  json_t *arr = json_array();
  pthread_mutex_lock(&a->lock);
  for (unsigned i = 0; i < a->n_origins; i++)
    json_array_append_new(arr, json_string(a->origins[i]));
  pthread_mutex_unlock(&a->lock);
  return arr;
}

static struct device *find_device(struct auth *a, const char *id) {
  for (unsigned i = 0; i < a->n_devices; i++)
    if (strcmp(a->devices[i].id, id) == 0)
      return &a->devices[i];
  return NULL;
}

enum auth_kind auth_check(struct auth *a, const char *authorization, const char *cookie,
                          char device[AUTH_DEVICE_ID_HEX + 1]) {
  char v[256];
  device[0] = 0;
  if (authorization)
    return auth_bearer_get(authorization, v, sizeof(v)) && auth_secret_eq(v, a->token) ? AUTH_BEARER
                                                                                       : AUTH_NONE;
  if (auth_cookie_get(cookie, AUTH_COOKIE_SESSION, v, sizeof(v)) && auth_secret_eq(v, a->session))
    return AUTH_OWNER_COOKIE;
  if (!auth_cookie_get(cookie, AUTH_COOKIE_DEVICE, v, sizeof(v)) || strlen(v) != AUTH_DEVICE_COOKIE_MAX ||
      v[AUTH_DEVICE_ID_HEX] != '.')
    return AUTH_NONE;
  v[AUTH_DEVICE_ID_HEX] = 0;
  char hash[65];
  sha256_hex(v + AUTH_DEVICE_ID_HEX + 1, AUTH_DEVICE_SECRET_HEX, hash);
  explicit_bzero(v + AUTH_DEVICE_ID_HEX + 1, AUTH_DEVICE_SECRET_HEX);
  enum auth_kind k = AUTH_NONE;
  pthread_mutex_lock(&a->lock);
  struct device *d = find_device(a, v);
  if (d && auth_secret_eq(hash, d->hash)) {
    k = AUTH_DEVICE_COOKIE;
    d->last_seen = now_unix();
    memcpy(device, d->id, AUTH_DEVICE_ID_HEX + 1);
  }
  pthread_mutex_unlock(&a->lock);
  return k;
}

bool auth_device_valid(struct auth *a, const char *id) {
  pthread_mutex_lock(&a->lock);
  bool ok = find_device(a, id) != NULL;
  pthread_mutex_unlock(&a->lock);
  return ok;
}

void auth_pairing_new(struct auth *a, uint64_t now, char code[7], uint64_t *expires_in_ms) {
  unsigned char b[4];
  random_bytes(b, sizeof(b));
  uint32_t n = ((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]) % 1000000u;
  pthread_mutex_lock(&a->lock);
  snprintf(a->code, sizeof(a->code), "%06u", n);
  a->code_expires = now + AUTH_PAIR_CODE_TTL_MS;
  a->code_wrong = 0;
  memcpy(code, a->code, 7);
  pthread_mutex_unlock(&a->lock);
  *expires_in_ms = AUTH_PAIR_CODE_TTL_MS;
}

/* One more try from ADDR; false when it is over the per-minute budget. Lock held. */
static bool rate_ok(struct auth *a, const char *addr, uint64_t now) {
  struct rate *slot = NULL, *oldest = &a->rates[0];
  for (int i = 0; i < MAX_RATE; i++) {
    struct rate *r = &a->rates[i];
    if (strcmp(r->addr, addr) == 0) {
      slot = r;
      break;
    }
    if (r->window_start < oldest->window_start)
      oldest = r;
  }
  if (!slot || now - slot->window_start >= 60000) {
    if (!slot) {
      slot = oldest;
      snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
    }
    slot->window_start = now;
    slot->tries = 0;
  }
  return ++slot->tries <= AUTH_PAIR_TRIES_PER_MIN;
}

enum auth_pair_result auth_pair(struct auth *a, const char *addr, const char *code, const char *name,
                                uint64_t now, char cookie[AUTH_DEVICE_COOKIE_MAX + 1],
                                char id[AUTH_DEVICE_ID_HEX + 1]) {
  enum auth_pair_result res;
  pthread_mutex_lock(&a->lock);
  if (!rate_ok(a, addr, now)) {
    res = PAIR_RATE_LIMITED;
  } else if (!a->code[0] || now >= a->code_expires) {
    a->code[0] = 0;
    res = PAIR_NO_CODE;
  } else if (!auth_secret_eq(code, a->code)) {
    if (++a->code_wrong >= AUTH_PAIR_MAX_WRONG)
      a->code[0] = 0; /* too many guesses: the owner must ask for a new code */
    res = PAIR_WRONG;
  } else if (a->n_devices == AUTH_MAX_DEVICES) {
    res = PAIR_FULL;
  } else {
    struct device *d = &a->devices[a->n_devices];
    memset(d, 0, sizeof(*d));
    do
      random_hex(d->id, AUTH_DEVICE_ID_HEX);
    while (find_device(a, d->id));
    char secret[AUTH_DEVICE_SECRET_HEX + 1];
    random_hex(secret, AUTH_DEVICE_SECRET_HEX);
    sha256_hex(secret, AUTH_DEVICE_SECRET_HEX, d->hash);
    snprintf(d->name, sizeof(d->name), "%s", name);
    snprintf(d->address, sizeof(d->address), "%s", addr);
    d->created = d->last_seen = now_unix();
    a->n_devices++;
    a->code[0] = 0; /* one code, one device */
    if (save_devices(a) < 0) {
      a->n_devices--;
      res = PAIR_ERROR;
    } else {
      snprintf(cookie, AUTH_DEVICE_COOKIE_MAX + 1, "%s.%s", d->id, secret);
      memcpy(id, d->id, AUTH_DEVICE_ID_HEX + 1);
      res = PAIR_OK;
    }
    explicit_bzero(secret, sizeof(secret));
  }
  pthread_mutex_unlock(&a->lock);
  return res;
}

json_t *auth_devices_json(struct auth *a) {
  json_t *arr = json_array();
  pthread_mutex_lock(&a->lock);
  for (unsigned i = 0; i < a->n_devices; i++) {
    struct device *d = &a->devices[i];
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "id", d->id, "name", d->name, "address", d->address,
                          "created", (json_int_t)d->created);
    json_object_set_new(o, "last_seen", d->last_seen ? json_integer(d->last_seen) : json_null());
    json_array_append_new(arr, o);
  }
  pthread_mutex_unlock(&a->lock);
  return arr;
}

int auth_device_revoke(struct auth *a, const char *id) {
  pthread_mutex_lock(&a->lock);
  int rc = -1;
  for (unsigned i = 0; i < a->n_devices; i++) {
    if (strcmp(a->devices[i].id, id) == 0) {
      memmove(&a->devices[i], &a->devices[i + 1], (a->n_devices - i - 1) * sizeof(a->devices[0]));
      a->n_devices--;
      if (save_devices(a) < 0)
        log_err("auth: cannot save the devices after a revocation: %s", strerror(errno));
      rc = 0;
      break;
    }
  }
  pthread_mutex_unlock(&a->lock);
  return rc;
}
