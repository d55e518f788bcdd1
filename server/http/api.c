/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * api: the REST route table of /api/v1 (api_routes: every endpoint, its method, its body and the
 * keys that body may hold) and the small handlers for the routes whose work lives elsewhere:
 * host, pairing and devices, the events ticket, and the VM routes, which reach the vm_* request
 * functions. The matcher and the body checks are route.c's. Core loop thread.
 */
#include "api.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "core.h"
#include "dl.h"
#include "launch.h"
#include "paths.h"
#include "route.h"
#include "ticket.h"
#include "util.h"
#include "vm.h"
#include "vm_agent.h"
#include "vm_clone.h"
#include "vm_config.h"
#include "vm_disk.h"
#include "vm_impexp.h"
#include "vm_serial.h"
#include "vm_snap.h"
#include "vm_tools.h"
#include "vm_virtiofs.h"
#include "ws.h"

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

/* ---- host, devices, events ---- */

static void host_get(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  json_t *j = host_to_json(&c->host, c->data_dir, vm_manager_committed_mib(c->vms));
  json_object_set_new(j, "allowed_paths", path_roots_json(c->roots));
  json_object_set_new(j, "launcher", json_string(launcher_backend_name(c->launcher)));
  const char *vfs = c->host.virtiofsd;
  char why[300];
  json_object_set_new(j, "virtiofs",
                      json_pack("{s:b, s:o}", "available", vm_virtiofs_available(c, why, sizeof(why)),
                                "binary", vfs[0] ? json_string(vfs) : json_null()));
  /* The Windows answer CD is made by xorriso: a program, which the child launcher cannot run. */
  const char *xo = c->host.xorriso;
  bool xo_ok = xo[0] && launch_runnable(c->launcher, xo);
  json_object_set_new(
      j, "unattend",
      json_pack("{s:b, s:o}", "available", xo_ok, "binary", xo[0] ? json_string(xo) : json_null()));
  json_object_set_new(j, "guest_tools", json_pack("{s:b}", "available", xo_ok)); /* the tools CD: the same */
  json_object_set_new(j, "lan",
                      c->lan_url[0]
                          ? json_pack("{s:s, s:s}", "url", c->lan_url, "fingerprint", c->lan_fingerprint)
                          : json_null());
  json_object_set_new(j, "you",
                      json_pack("{s:s, s:o}", "via", r->lan ? "lan" : "loopback", "device",
                                r->device[0] ? json_string(r->device) : json_null()));
  core_req_reply_json(r, 200, j);
}

/* Whether a host path a request may name (a VM's cdrom, kernel or initrd: kind "file"; a shared
 * folder: "directory") is usable now: inside the allowed roots, there, of that kind. The same
 * checks and messages as a create's, one field at a time (the wizard checks a path as it is typed). */
static void host_check_path(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)param;
  char path[PATH_MAX], real[PATH_MAX], err[PATH_MAX + 200];
  if (vm_config_parse_path(json_object_get(body, "path"), "path", path, sizeof(path), err, sizeof(err)) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s", err);
    return;
  }
  json_t *jk = json_object_get(body, "kind");
  const char *kind = jk ? json_string_value(jk) : "file";
  if (!kind || (strcmp(kind, "file") != 0 && strcmp(kind, "directory") != 0)) {
    core_req_reply_error(r, 400, "invalid_field", "kind: must be \"file\" or \"directory\"");
    return;
  }
  if (path_confine(c->roots, "path", path, real, sizeof(real), err, sizeof(err)) < 0) {
    core_req_reply_error(r, 403, "path_not_allowed", "%s", err);
    return;
  }
  struct stat st;
  if (stat(real, &st) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "path: %s: %s", path, strerror(errno));
    return;
  }
  bool dir = strcmp(kind, "directory") == 0;
  if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    core_req_reply_error(r, 400, "invalid_field", "path: %s is not a %s", path,
                         dir ? "directory" : "regular file");
    return;
  }
  if (access(real, dir ? R_OK | X_OK : R_OK) < 0) {
    core_req_reply_error(r, 400, "invalid_field", "path: %s: %s", path, strerror(errno));
    return;
  }
  core_req_reply_json(
      r, 200,
      json_pack("{s:s, s:s, s:I}", "path", real, "kind", kind, "size", (json_int_t)(dir ? 0 : st.st_size)));
}

/* LAN mode's pairing and paired devices are the owner's alone (a paired device cannot pair others):
 * false after answering a device. */
static bool owner_only(struct core_req *r) {
  if (!r->device[0])
    return true;
  core_req_reply_error(r, 403, "owner_only", "only the device's owner may pair or revoke devices");
  return false;
}

static void pairing_new(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  if (!owner_only(r))
    return;
  if (!c->lan_url[0]) {
    core_req_reply_error(r, 409, "lan_off", "LAN mode is off: start the daemon with --lan");
    return;
  }
  char code[7];
  uint64_t ttl;
  auth_pairing_new(c->auth, now_ms(), code, &ttl);
  core_req_reply_json(r, 200,
                      json_pack("{s:s, s:I, s:I, s:s, s:s}", "code", code, "expires_in_ms", (json_int_t)ttl,
                                "expires_at", (json_int_t)(now_unix() + (int64_t)ttl / 1000), "url",
                                c->lan_url, "fingerprint", c->lan_fingerprint));
}

static void devices_list(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  if (owner_only(r))
    core_req_reply_json(r, 200, json_pack("{s:o}", "devices", auth_devices_json(c->auth)));
}

static void device_revoke(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  const char *id = param[0];
  if (!owner_only(r))
    return;
  if (auth_device_revoke(c->auth, id) < 0) {
    core_req_reply_error(r, 404, "not_found", "no paired device with id '%s'", id);
    return;
  }
  if (c->ws)
    ws_close_device(c->ws, id); /* its open consoles and event streams end now */
  log_info("auth: device %s revoked", id);
  core_req_reply_json(r, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}

static void events_ticket(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  if (!c->ws) {
    core_req_reply_error(r, 500, "internal", "the WebSocket server is not running");
    return;
  }
  char t[TICKET_LEN + 1];
  ticket_issue_as(c->tickets, "", "events", now_ms(), r->device, NULL, t);
  char *url = xasprintf("%s/events?ticket=%s", ws_url_for(c->ws, r->lan), t);
  core_req_reply_json(r, 200,
                      json_pack("{s:s, s:s, s:i}", "ticket", t, "url", url, "expires_in_ms", TICKET_TTL_MS));
  free(url);
}

/* ---- the guest tools (vm_tools.h) ---- */

static long text_read(void *ud, uint64_t pos, char *buf, size_t max) {
  const char *s = ud;
  size_t len = strlen(s);
  if (pos >= len)
    return -1;
  size_t n = len - (size_t)pos < max ? len - (size_t)pos : max;
  memcpy(buf, s + pos, n);
  return (long)n;
}

static void text_release(void *ud) {
  (void)ud; /* static text */
}

/* The Linux script as a download (Content-Disposition: attachment; a browser saves it). */
static void guest_tools_linux(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)c;
  (void)body;
  (void)param;
  struct core_stream *s = xcalloc(1, sizeof(*s));
  s->size = strlen(vm_tools_linux_sh);
  s->ctype = "text/x-shellscript; charset=utf-8";
  snprintf(s->filename, sizeof(s->filename), "linux.sh");
  s->read = text_read;
  s->release = text_release;
  s->ud = (void *)vm_tools_linux_sh;
  core_req_reply_stream(r, 200, s);
}

/* ---- VMs: PARAM[0] is the VM's id ---- */

static void vms_list(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  vm_req_list(c->vms, r);
}

static void vms_create(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)param;
  bool dry;
  if (parse_bool_arg(r, "dry_run", r->query_dry_run, &dry))
    vm_req_create(c->vms, r, body, dry);
}

static void vm_get(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  vm_req_get(c->vms, r, param[0]);
}

static void vm_patch(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  bool dry;
  if (parse_bool_arg(r, "dry_run", r->query_dry_run, &dry))
    vm_req_patch(c->vms, r, param[0], body, dry);
}

static void vm_delete(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  bool keep;
  if (parse_bool_arg(r, "keep_disks", r->query_keep_disks, &keep))
    vm_req_delete(c->vms, r, param[0], keep);
}

#define VM_ACTION(name)                                                                                      \
  static void vm_##name(struct core *c, struct core_req *r, json_t *body, const char *const *param) {        \
    (void)body;                                                                                              \
    vm_req_action(c->vms, r, param[0], #name);                                                               \
  }
VM_ACTION(start)
VM_ACTION(pause)
VM_ACTION(resume)
VM_ACTION(shutdown)
VM_ACTION(reset)

/* {"orphan_pid": PID} confirms killing an orphan. */
static void vm_kill(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  vm_req_kill(c->vms, r, param[0], body);
}

static void vm_guest(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  vm_agent_req(c->vms, r, param[0]);
}

static void vm_clone(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  vm_clone_req(c->vms, r, param[0], body);
}

static void vm_console(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  json_t *b = body ? json_incref(body) : json_object(); /* no body: a VNC console */
  vm_req_console(c->vms, r, param[0], b);
  json_decref(b);
}

static void vm_screenshot(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  vm_req_screenshot(c->vms, r, param[0]);
}

static void vm_log(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  unsigned tail;
  if (parse_tail(r, &tail))
    vm_req_log(c->vms, r, param[0], tail);
}

static void vm_serial(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  unsigned tail;
  if (parse_tail(r, &tail))
    vm_req_serial(c->vms, r, param[0], tail);
}

static void vm_cmdline(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  vm_req_cmdline(c->vms, r, param[0]);
}

static void vms_import(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)param;
  vm_import_req(c->vms, r, body);
}

static void vms_import_upload(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  (void)param;
  vm_import_upload_req(c->vms, r);
}

static void vm_export(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  vm_export_req(c->vms, r, param[0], r->query_format);
}

/* Disks: PARAM[1] is the disk's index. */
static void disks_list(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  vm_disk_req(c->vms, r, param[0], "GET", NULL, NULL, false);
}

static void disks_add(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  vm_disk_req(c->vms, r, param[0], "POST", NULL, body, false);
}

static void disk_grow(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  vm_disk_req(c->vms, r, param[0], "PATCH", param[1], body, false);
}

static void disk_detach(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  bool keep;
  if (parse_bool_arg(r, "keep_disks", r->query_keep_disks, &keep))
    vm_disk_req(c->vms, r, param[0], "DELETE", param[1], NULL, keep);
}

/* Snapshots: PARAM[1] is the snapshot's name. */
static void snaps_list(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  vm_snap_req(c->vms, r, param[0], "GET", NULL, NULL, NULL);
}

static void snaps_create(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  vm_snap_req(c->vms, r, param[0], "POST", NULL, NULL, body);
}

static void snap_delete(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  vm_snap_req(c->vms, r, param[0], "DELETE", param[1], NULL, NULL);
}

static void snap_restore(struct core *c, struct core_req *r, json_t *body, const char *const *param) {
  (void)body;
  vm_snap_req(c->vms, r, param[0], "POST", param[1], "restore", NULL);
}

/* ---- the table ---- */

/* Every endpoint of /api/v1, each listed in docs/api.md (tests/unit/test_routes.c checks). The
 * routes of one pattern are in the order their methods are named in a 405. */
const struct route api_routes[] = {
    {"GET", "/host", host_get, ROUTE_NO_BODY, NULL},
    {"POST", "/host/check-path", host_check_path, ROUTE_JSON, ROUTE_KEYS("path", "kind")},
    {"POST", "/pairing", pairing_new, ROUTE_NO_BODY, NULL},
    {"GET", "/devices", devices_list, ROUTE_NO_BODY, NULL},
    {"DELETE", "/devices/{id}", device_revoke, ROUTE_NO_BODY, NULL},
    {"POST", "/events/ticket", events_ticket, ROUTE_NO_BODY, NULL},
    {"GET", "/guest-tools/linux.sh", guest_tools_linux, ROUTE_NO_BODY, NULL},

    {"GET", "/vms", vms_list, ROUTE_NO_BODY, NULL},
    {"POST", "/vms", vms_create, ROUTE_JSON_CONFIG, NULL},
    {"POST", "/vms/import", vms_import, ROUTE_JSON, ROUTE_KEYS("path", "name")},
    {"PUT", "/vms/import/upload", vms_import_upload, ROUTE_UPLOAD, NULL},
    {"GET", "/vms/{id}", vm_get, ROUTE_NO_BODY, NULL},
    {"PATCH", "/vms/{id}", vm_patch, ROUTE_JSON_CONFIG, NULL},
    {"DELETE", "/vms/{id}", vm_delete, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/start", vm_start, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/pause", vm_pause, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/resume", vm_resume, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/shutdown", vm_shutdown, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/kill", vm_kill, ROUTE_JSON_OPTIONAL, ROUTE_KEYS("orphan_pid")},
    {"POST", "/vms/{id}/reset", vm_reset, ROUTE_NO_BODY, NULL},
    {"GET", "/vms/{id}/screenshot", vm_screenshot, ROUTE_NO_BODY, NULL},
    {"GET", "/vms/{id}/log", vm_log, ROUTE_NO_BODY, NULL},
    {"GET", "/vms/{id}/serial", vm_serial, ROUTE_NO_BODY, NULL},
    {"GET", "/vms/{id}/cmdline", vm_cmdline, ROUTE_NO_BODY, NULL},
    {"GET", "/vms/{id}/guest", vm_guest, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/clone", vm_clone, ROUTE_JSON, ROUTE_KEYS("name")},
    {"GET", "/vms/{id}/export", vm_export, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/console", vm_console, ROUTE_JSON_OPTIONAL,
     ROUTE_KEYS("protocol", "credentials", "shortcut")},
    {"GET", "/vms/{id}/disks", disks_list, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/disks", disks_add, ROUTE_JSON, ROUTE_KEYS("size_gib", "interface", "source")},
    {"PATCH", "/vms/{id}/disks/{n}", disk_grow, ROUTE_JSON, ROUTE_KEYS("size_gib")},
    {"DELETE", "/vms/{id}/disks/{n}", disk_detach, ROUTE_NO_BODY, NULL},
    {"GET", "/vms/{id}/snapshots", snaps_list, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/snapshots", snaps_create, ROUTE_JSON, ROUTE_KEYS("name")},
    {"DELETE", "/vms/{id}/snapshots/{name}", snap_delete, ROUTE_NO_BODY, NULL},
    {"POST", "/vms/{id}/snapshots/{name}/restore", snap_restore, ROUTE_NO_BODY, NULL},

    {"GET", "/downloads", dl_req_downloads_list, ROUTE_NO_BODY, NULL},
    {"POST", "/downloads", dl_req_downloads_create, ROUTE_JSON,
     ROUTE_KEYS("url", "urls", "sha256", "sha512", "name", "connections", "speed_limit", "catalog_id")},
    {"GET", "/downloads/{id}", dl_req_download_get, ROUTE_NO_BODY, NULL},
    {"DELETE", "/downloads/{id}", dl_req_download_delete, ROUTE_NO_BODY, NULL},
    {"POST", "/downloads/{id}/pause", dl_req_download_pause, ROUTE_NO_BODY, NULL},
    {"POST", "/downloads/{id}/resume", dl_req_download_resume, ROUTE_NO_BODY, NULL},
    {"GET", "/images", dl_req_images_list, ROUTE_NO_BODY, NULL},
    {"POST", "/images", dl_req_images_import, ROUTE_JSON, ROUTE_KEYS("path", "name")},
    {"PUT", "/images/upload", dl_req_images_upload, ROUTE_UPLOAD, NULL},
    {"GET", "/images/{id}", dl_req_image_get, ROUTE_NO_BODY, NULL},
    {"DELETE", "/images/{id}", dl_req_image_delete, ROUTE_NO_BODY, NULL},
    {"GET", "/catalog", dl_req_catalog, ROUTE_NO_BODY, NULL},
};
const size_t api_n_routes = sizeof(api_routes) / sizeof(api_routes[0]);

void api_dispatch(struct core *c, struct core_req *r) {
  route_dispatch(api_routes, api_n_routes, c, r);
}
