/* SPDX-License-Identifier: GPL-2.0-or-later */
/* api: see api.h. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "core.h"
#include "dl.h"
#include "paths.h"
#include "ticket.h"
#include "util.h"
#include "vm.h"
#include "vm_agent.h"
#include "vm_clone.h"
#include "vm_disk.h"
#include "vm_snap.h"
#include "ws.h"

int api_split_path(char *path, char *seg[API_MAX_SEGMENTS]) {
  const char *prefix = "/api/v1/";
  size_t plen = strlen(prefix);
  if (strncmp(path, prefix, plen) != 0)
    return -1;
  int n = 0;
  char *p = path + plen;
  size_t len = strlen(p);
  if (len > 0 && p[len - 1] == '/')
    p[len - 1] = 0; /* one trailing slash is fine */
  while (*p) {
    char *slash = strchr(p, '/');
    if (slash)
      *slash = 0;
    if (!*p || strcmp(p, ".") == 0 || strcmp(p, "..") == 0 || n == API_MAX_SEGMENTS)
      return -1;
    seg[n++] = p;
    if (!slash)
      break;
    p = slash + 1;
    if (!*p)
      return -1;
  }
  return n;
}

static bool is_method(struct core_req *r, const char *m) {
  return strcmp(r->method, m) == 0;
}

static void method_not_allowed(struct core_req *r, const char *allowed) {
  core_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", r->method,
                       allowed);
}

/* Parse the body as a JSON object; on failure answer R and return NULL. */
static json_t *body_object(struct core_req *r) {
  if (!r->body || r->body_len == 0) {
    core_req_reply_error(r, 400, "malformed_json", "the request body must be a JSON object");
    return NULL;
  }
  json_error_t e;
  json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
  if (!j) {
    core_req_reply_error(r, 400, "malformed_json",
                         "the request body is not valid JSON: %s at line %d column %d", e.text, e.line,
                         e.column);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    core_req_reply_error(r, 400, "malformed_json", "the request body must be a JSON object");
    return NULL;
  }
  return j;
}

static bool parse_tail(struct core_req *r, unsigned *out) {
  *out = 200;
  if (!r->query_tail)
    return true;
  char *end;
  long v = strtol(r->query_tail, &end, 10);
  if (*r->query_tail == 0 || *end || v < 1 || v > 10000) {
    core_req_reply_error(r, 400, "invalid_field", "tail: must be an integer between 1 and 10000");
    return false;
  }
  *out = (unsigned)v;
  return true;
}

/* ?NAME=true|false|1|0 (absent: false). Replies 400 and returns false when invalid. */
static bool parse_bool_arg(struct core_req *r, const char *name, const char *v, bool *out) {
  *out = v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
  if (v && !*out && strcmp(v, "false") != 0 && strcmp(v, "0") != 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s: must be true or false", name);
    return false;
  }
  return true;
}

static void route_vm(struct core *c, struct core_req *r, char **seg, int n) {
  struct vm_manager *m = c->vms;
  if (n == 1) {
    if (is_method(r, "GET")) {
      vm_req_list(m, r);
    } else if (is_method(r, "POST")) {
      bool dry;
      if (!parse_bool_arg(r, "dry_run", r->query_dry_run, &dry))
        return;
      json_t *b = body_object(r);
      if (b) {
        vm_req_create(m, r, b, dry);
        json_decref(b);
      }
    } else {
      method_not_allowed(r, "GET, POST");
    }
    return;
  }
  const char *id = seg[1];
  if (n == 2) {
    if (is_method(r, "GET")) {
      vm_req_get(m, r, id);
    } else if (is_method(r, "PATCH")) {
      json_t *b = body_object(r);
      if (b) {
        vm_req_patch(m, r, id, b);
        json_decref(b);
      }
    } else if (is_method(r, "DELETE")) {
      bool keep;
      if (parse_bool_arg(r, "keep_disks", r->query_keep_disks, &keep))
        vm_req_delete(m, r, id, keep);
    } else {
      method_not_allowed(r, "GET, PATCH, DELETE");
    }
    return;
  }
  if ((n == 3 || n == 4) && strcmp(seg[2], "disks") == 0) {
    json_t *b = NULL;
    bool keep = false;
    if ((is_method(r, "POST") || is_method(r, "PATCH")) && !(b = body_object(r)))
      return;
    if (is_method(r, "DELETE") && !parse_bool_arg(r, "keep_disks", r->query_keep_disks, &keep))
      return;
    vm_disk_req(m, r, id, r->method, n == 4 ? seg[3] : NULL, b, keep);
    json_decref(b);
    return;
  }
  if (n >= 3 && n <= 5 && strcmp(seg[2], "snapshots") == 0) {
    json_t *b = NULL;
    if (n == 3 && is_method(r, "POST") && !(b = body_object(r)))
      return;
    vm_snap_req(m, r, id, r->method, n >= 4 ? seg[3] : NULL, n == 5 ? seg[4] : NULL, b);
    json_decref(b);
    return;
  }
  if (n != 3) {
    core_req_reply_error(r, 404, "not_found", "no such resource");
    return;
  }
  const char *what = seg[2];
  static const char *const actions[] = {"start", "pause", "resume", "shutdown", "kill", "reset"};
  for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
    if (strcmp(what, actions[i]) == 0) {
      if (!is_method(r, "POST")) {
        method_not_allowed(r, "POST");
      } else if (strcmp(what, "kill") == 0) { /* {"orphan_pid": PID} confirms killing an orphan */
        json_t *b = NULL;
        if (r->body_len && !(b = body_object(r)))
          return;
        vm_req_kill(m, r, id, b);
        json_decref(b);
      } else {
        vm_req_action(m, r, id, what);
      }
      return;
    }
  }
  if (strcmp(what, "guest") == 0) {
    if (!is_method(r, "GET"))
      method_not_allowed(r, "GET");
    else
      vm_agent_req(m, r, id);
    return;
  }
  if (strcmp(what, "clone") == 0) {
    if (!is_method(r, "POST")) {
      method_not_allowed(r, "POST");
      return;
    }
    json_t *b = body_object(r);
    if (b) {
      vm_clone_req(m, r, id, b);
      json_decref(b);
    }
    return;
  }
  if (strcmp(what, "console") == 0) {
    if (!is_method(r, "POST")) {
      method_not_allowed(r, "POST");
      return;
    }
    json_t *b = r->body_len ? body_object(r) : json_object();
    if (b) {
      vm_req_console(m, r, id, b);
      json_decref(b);
    }
    return;
  }
  if (strcmp(what, "screenshot") == 0 || strcmp(what, "log") == 0 || strcmp(what, "cmdline") == 0) {
    if (!is_method(r, "GET")) {
      method_not_allowed(r, "GET");
      return;
    }
    if (what[0] == 's') {
      vm_req_screenshot(m, r, id);
    } else if (what[0] == 'c') {
      vm_req_cmdline(m, r, id);
    } else {
      unsigned tail;
      if (parse_tail(r, &tail))
        vm_req_log(m, r, id, tail);
    }
    return;
  }
  core_req_reply_error(r, 404, "not_found", "no such resource");
}

/* LAN mode's pairing and paired devices: the owner's alone (a paired device cannot pair others). */
static void route_devices(struct core *c, struct core_req *r, char **seg, int n) {
  if (r->device[0]) {
    core_req_reply_error(r, 403, "owner_only", "only the device's owner may pair or revoke devices");
    return;
  }
  if (strcmp(seg[0], "pairing") == 0 && n == 1) {
    if (!is_method(r, "POST")) {
      method_not_allowed(r, "POST");
    } else if (!c->lan_url[0]) {
      core_req_reply_error(r, 409, "lan_off", "LAN mode is off: start the daemon with --lan");
    } else {
      char code[7];
      uint64_t ttl;
      auth_pairing_new(c->auth, now_ms(), code, &ttl);
      core_req_reply_json(r, 200,
                          json_pack("{s:s, s:I, s:I, s:s, s:s}", "code", code, "expires_in_ms",
                                    (json_int_t)ttl, "expires_at",
                                    (json_int_t)(now_unix() + (int64_t)ttl / 1000), "url", c->lan_url,
                                    "fingerprint", c->lan_fingerprint));
    }
  } else if (strcmp(seg[0], "devices") == 0 && n == 1) {
    if (!is_method(r, "GET"))
      method_not_allowed(r, "GET");
    else
      core_req_reply_json(r, 200, json_pack("{s:o}", "devices", auth_devices_json(c->auth)));
  } else if (strcmp(seg[0], "devices") == 0 && n == 2) {
    if (!is_method(r, "DELETE")) {
      method_not_allowed(r, "DELETE");
    } else if (auth_device_revoke(c->auth, seg[1]) < 0) {
      core_req_reply_error(r, 404, "not_found", "no paired device with id '%s'", seg[1]);
    } else {
      if (c->ws)
        ws_close_device(c->ws, seg[1]); /* its open consoles and event streams end now */
      log_info("auth: device %s revoked", seg[1]);
      core_req_reply_json(r, 200, json_pack("{s:s, s:b}", "id", seg[1], "revoked", 1));
    }
  } else {
    core_req_reply_error(r, 404, "not_found", "no such resource");
  }
}

void api_dispatch(struct core *c, struct core_req *r) {
  char *path = xstrdup(r->path ? r->path : "");
  char *seg[API_MAX_SEGMENTS];
  int n = api_split_path(path, seg);
  if (n >= 1 && strcmp(seg[0], "host") == 0 && n == 1) {
    if (!is_method(r, "GET")) {
      method_not_allowed(r, "GET");
    } else {
      json_t *j = host_to_json(&c->host, c->data_dir, vm_manager_committed_mib(c->vms));
      json_object_set_new(j, "allowed_paths", path_roots_json(c->roots));
      json_object_set_new(j, "lan",
                          c->lan_url[0]
                              ? json_pack("{s:s, s:s}", "url", c->lan_url, "fingerprint", c->lan_fingerprint)
                              : json_null());
      json_object_set_new(j, "you",
                          json_pack("{s:s, s:o}", "via", r->lan ? "lan" : "loopback", "device",
                                    r->device[0] ? json_string(r->device) : json_null()));
      core_req_reply_json(r, 200, j);
    }
  } else if (n >= 1 && (strcmp(seg[0], "pairing") == 0 || strcmp(seg[0], "devices") == 0)) {
    route_devices(c, r, seg, n);
  } else if (n == 2 && strcmp(seg[0], "events") == 0 && strcmp(seg[1], "ticket") == 0) {
    if (!is_method(r, "POST")) {
      method_not_allowed(r, "POST");
    } else if (!c->ws) {
      core_req_reply_error(r, 500, "internal", "the WebSocket server is not running");
    } else {
      char t[TICKET_LEN + 1];
      ticket_issue_as(c->tickets, "", "events", now_ms(), r->device, NULL, t);
      char *url = xasprintf("%s/events?ticket=%s", ws_url_for(c->ws, r->lan), t);
      core_req_reply_json(
          r, 200, json_pack("{s:s, s:s, s:i}", "ticket", t, "url", url, "expires_in_ms", TICKET_TTL_MS));
      free(url);
    }
  } else if (n >= 1 && strcmp(seg[0], "vms") == 0) {
    route_vm(c, r, seg, n);
  } else if (n >= 1 && (strcmp(seg[0], "downloads") == 0 || strcmp(seg[0], "images") == 0 ||
                        strcmp(seg[0], "catalog") == 0)) {
    dl_req_dispatch(c->dls, r, seg, n);
  } else {
    core_req_reply_error(r, 404, "not_found", "no such resource");
  }
  free(path);
}
