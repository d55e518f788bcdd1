/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * auth: who may use the daemon. Loopback is not a wall (any web page in the
 * user's browser can POST to 127.0.0.1, a DNS-rebinding page can read the
 * answers, and on HarmonyOS every app shares loopback), so every API call
 * carries a secret:
 *   - the API token (>= 256 random bits, DATA/secrets/api-token, 0600; kept
 *     across restarts so bookmarks and scripts keep working; `serve
 *     --new-token` replaces it), sent as `Authorization: Bearer TOKEN`;
 *   - the owner's session cookie `qhm_session` (HttpOnly, SameSite=Strict),
 *     got once by opening /?token=TOKEN; its value is derived from the token
 *     (SHA-256), so it dies with the token and the token never sits in a
 *     cookie jar;
 *   - a paired LAN device's cookie `qhm_device=ID.SECRET` (LAN mode only;
 *     only the SHA-256 of SECRET is stored, in DATA/secrets/devices.json).
 * Also here: the Host allowlists (per listener), the Origin allowlist, the
 * pairing code with its rate limits, and the pure header parsers (fuzzed by
 * tests/fuzz/fuzz_auth.c).
 * Thread-safe: libmicrohttpd's threads check requests, the core thread pairs
 * and revokes; one mutex guards the mutable parts.
 */
#ifndef QHM_AUTH_H
#define QHM_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_TOKEN_HEX 64     /* 256 bits */
#define AUTH_DEVICE_ID_HEX 16 /* a paired device's public id */
#define AUTH_DEVICE_SECRET_HEX 64
#define AUTH_DEVICE_COOKIE_MAX (AUTH_DEVICE_ID_HEX + 1 + AUTH_DEVICE_SECRET_HEX)
#define AUTH_MAX_DEVICES 64
#define AUTH_PAIR_CODE_TTL_MS 120000 /* a pairing code lives 2 minutes */
#define AUTH_PAIR_MAX_WRONG 10       /* wrong tries that kill a code */
#define AUTH_PAIR_TRIES_PER_MIN 5    /* tries per client address per minute; more → 429 */
#define AUTH_COOKIE_SESSION "qhm_session"
#define AUTH_COOKIE_DEVICE "qhm_device"

/* ---- pure parts (no state; fuzzed) ---- */

/* The hosts one listener answers to, as a browser sends them in Host ("127.0.0.1:8006"). */
#define AUTH_MAX_HOSTS 32
struct auth_hosts {
  unsigned n;
  char h[AUTH_MAX_HOSTS][96];
};
/* NAME (a host name, an IPv4 address, or an IPv6 address without brackets) on PORT; the bare
 * name too when PORT is the scheme's default (80, or 443 with TLS). */
void auth_hosts_add(struct auth_hosts *hs, const char *name, uint16_t port, bool tls);
/* 127.0.0.1, localhost and ::1 on PORT, plus BIND when it is another loopback address. */
void auth_hosts_add_loopback(struct auth_hosts *hs, const char *bind, uint16_t port);
/* HOST (a Host header, may be NULL) is one of HS (ASCII case-insensitive, exact otherwise). */
bool auth_hosts_match(const struct auth_hosts *hs, const char *host);

/* The value of cookie NAME in a Cookie header ("a=1; qhm_session=xyz"): true and copied to OUT
 * (NUL-terminated) when present and shorter than OUTLEN. */
bool auth_cookie_get(const char *header, const char *name, char *out, size_t outlen);
/* The credentials of "Bearer CREDENTIALS" (scheme case-insensitive): true and copied to OUT. */
bool auth_bearer_get(const char *header, char *out, size_t outlen);
/* CTYPE's media type (before any ';' parameter, ASCII case-insensitive, spaces trimmed) is WANT. */
bool auth_media_type_is(const char *ctype, const char *want);
/* Equal strings, in time that depends only on the length of B (the secret). */
bool auth_secret_eq(const char *a, const char *b);

/* ---- the daemon's state ---- */

struct auth;

enum auth_kind {
  AUTH_NONE,          /* no valid credential: 401 */
  AUTH_BEARER,        /* Authorization: Bearer TOKEN */
  AUTH_OWNER_COOKIE,  /* qhm_session */
  AUTH_DEVICE_COOKIE, /* qhm_device of a paired, not revoked LAN device */
};

/* Loads or makes DATA/secrets/api-token (NEW_TOKEN: a new one replaces it) and the paired
 * devices. NULL with ERR on failure. */
struct auth *auth_new(const char *data_dir, bool new_token, char *err, size_t errlen);
void auth_free(struct auth *a);
const char *auth_token(const struct auth *a);
/* The owner's session cookie value (derived from the token). */
const char *auth_session_value(const struct auth *a);

/* Origins allowed to write with a cookie and to open WebSockets (besides none at all, for
 * non-browser clients with a ticket). At start, before any request. */
void auth_allow_origin(struct auth *a, const char *origin);
/* Every host of HS as ORIGIN "http[s]://HOST". */
void auth_allow_origins_of(struct auth *a, const struct auth_hosts *hs, bool tls);
bool auth_origin_ok(struct auth *a, const char *origin);
json_t *auth_origins_json(struct auth *a);

/* Who sent a request, from its Authorization and Cookie headers (either may be NULL). On
 * AUTH_DEVICE_COOKIE the device's id is copied to DEVICE (else ""). */
enum auth_kind auth_check(struct auth *a, const char *authorization, const char *cookie,
                          char device[AUTH_DEVICE_ID_HEX + 1]);
/* The device is still paired (a console opened with its ticket checks this). */
bool auth_device_valid(struct auth *a, const char *id);

/* Pairing (LAN mode). A new code replaces the previous one. */
void auth_pairing_new(struct auth *a, uint64_t now_ms, char code[7], uint64_t *expires_in_ms);
enum auth_pair_result { PAIR_OK, PAIR_WRONG, PAIR_NO_CODE, PAIR_RATE_LIMITED, PAIR_FULL, PAIR_ERROR };
/* A LAN browser at ADDR presents CODE and names itself NAME: on PAIR_OK COOKIE gets the
 * device cookie value and ID its id (the device is saved). */
enum auth_pair_result auth_pair(struct auth *a, const char *addr, const char *code, const char *name,
                                uint64_t now_ms, char cookie[AUTH_DEVICE_COOKIE_MAX + 1],
                                char id[AUTH_DEVICE_ID_HEX + 1]);
json_t *auth_devices_json(struct auth *a);
/* 0 when revoked, -1 when there is no such device. */
int auth_device_revoke(struct auth *a, const char *id);

#endif
