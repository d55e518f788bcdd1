/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ticket: see ticket.h. */
#include "ticket.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct ticket {
  char value[TICKET_LEN + 1];
  char vm_id[65];
  char proto[16];
  uint64_t expires;
  bool used;
  char *secret; /* optional, handed to the redeemer (per-session credentials) */
  char who[17]; /* the paired LAN device it was issued to; "" for the owner */
};

struct ticket_store {
  struct ticket t[TICKET_MAX];
  unsigned next; /* ring position: the oldest slot */
};

struct ticket_store *ticket_store_new(void) {
  return xcalloc(1, sizeof(struct ticket_store));
}

/* Wipe and free a ticket's secret. */
static void drop_secret(struct ticket *t) {
  secret_free(t->secret);
  t->secret = NULL;
}

void ticket_store_free(struct ticket_store *s) {
  if (!s)
    return;
  for (unsigned i = 0; i < TICKET_MAX; i++)
    drop_secret(&s->t[i]);
  explicit_bzero(s, sizeof(*s));
  free(s);
}

static void b64url(const unsigned char *in, size_t n, char *out) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t k = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v =
        (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[k++] = a[(v >> 18) & 63];
    out[k++] = a[(v >> 12) & 63];
    if (i + 1 < n)
      out[k++] = a[(v >> 6) & 63];
    if (i + 2 < n)
      out[k++] = a[v & 63];
  }
  out[k] = 0;
}

static uint64_t ttl_ms(void) {
  /* QHM_TICKET_TTL_MS shortens the lifetime for tests of expiry; it can only shorten it. */
  const char *e = getenv("QHM_TICKET_TTL_MS");
  long v = e ? strtol(e, NULL, 10) : 0;
  return v > 0 && v < TICKET_TTL_MS ? (uint64_t)v : TICKET_TTL_MS;
}

void ticket_issue(struct ticket_store *s, const char *vm_id, const char *proto, uint64_t now_ms, char *out) {
  ticket_issue_secret(s, vm_id, proto, now_ms, NULL, out);
}

void ticket_issue_secret(struct ticket_store *s, const char *vm_id, const char *proto, uint64_t now_ms,
                         const char *secret, char *out) {
  ticket_issue_as(s, vm_id, proto, now_ms, "", secret, out);
}

void ticket_issue_as(struct ticket_store *s, const char *vm_id, const char *proto, uint64_t now_ms,
                     const char *who, const char *secret, char *out) {
  /* Ring of TICKET_MAX slots: a new ticket replaces the oldest one. */
  struct ticket *t = &s->t[s->next];
  s->next = (s->next + 1) % TICKET_MAX;
  drop_secret(t);
  if (secret) /* secrets of expired tickets do not wait for their slot to come round again */
    for (unsigned i = 0; i < TICKET_MAX; i++)
      if (s->t[i].secret && now_ms > s->t[i].expires)
        drop_secret(&s->t[i]);
  t->secret = secret ? xstrdup(secret) : NULL;
  unsigned char raw[32];
  random_bytes(raw, sizeof(raw));
  b64url(raw, sizeof(raw), t->value);
  snprintf(t->vm_id, sizeof(t->vm_id), "%s", vm_id);
  snprintf(t->proto, sizeof(t->proto), "%s", proto);
  snprintf(t->who, sizeof(t->who), "%s", who ? who : "");
  t->expires = now_ms + ttl_ms();
  t->used = false;
  memcpy(out, t->value, TICKET_LEN + 1);
}

/* Compare in time independent of where the strings differ. */
static bool same(const char *a, const char *b) {
  unsigned char d = 0;
  for (size_t i = 0; i < TICKET_LEN; i++)
    d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

enum ticket_result ticket_redeem(struct ticket_store *s, const char *ticket, const char *proto,
                                 uint64_t now_ms, char vm_id[65]) {
  return ticket_redeem_secret(s, ticket, proto, now_ms, vm_id, NULL);
}

enum ticket_result ticket_redeem_secret(struct ticket_store *s, const char *ticket, const char *proto,
                                        uint64_t now_ms, char vm_id[65], char **secret) {
  return ticket_redeem_as(s, ticket, proto, now_ms, vm_id, secret, NULL);
}

enum ticket_result ticket_redeem_as(struct ticket_store *s, const char *ticket, const char *proto,
                                    uint64_t now_ms, char vm_id[65], char **secret, char who[17]) {
  if (who)
    who[0] = 0;
  if (secret)
    *secret = NULL;
  if (!ticket || strlen(ticket) != TICKET_LEN)
    return TICKET_UNKNOWN;
  enum ticket_result res = TICKET_UNKNOWN;
  for (unsigned i = 0; i < TICKET_MAX; i++) {
    struct ticket *t = &s->t[i];
    if (t->used || !t->value[0] || !same(t->value, ticket))
      continue;
    t->used = true;
    if (now_ms > t->expires)
      res = TICKET_EXPIRED;
    else if (strcmp(t->proto, proto) != 0)
      res = TICKET_WRONG_PROTOCOL;
    else {
      res = TICKET_OK;
      memcpy(vm_id, t->vm_id, sizeof(t->vm_id));
      if (who)
        memcpy(who, t->who, sizeof(t->who));
      if (secret) {
        *secret = t->secret;
        t->secret = NULL;
      }
    }
    drop_secret(t);
    explicit_bzero(t->value, sizeof(t->value));
  }
  return res;
}

void ticket_revoke_vm(struct ticket_store *s, const char *vm_id) {
  for (unsigned i = 0; i < TICKET_MAX; i++)
    if (s->t[i].value[0] && strcmp(s->t[i].vm_id, vm_id) == 0) {
      s->t[i].used = true;
      drop_secret(&s->t[i]);
    }
}

const char *ticket_result_str(enum ticket_result r) {
  switch (r) {
  case TICKET_OK:
    return "ok";
  case TICKET_EXPIRED:
    return "ticket expired";
  case TICKET_WRONG_PROTOCOL:
    return "ticket is for another protocol";
  default:
    return "unknown or already used ticket";
  }
}
