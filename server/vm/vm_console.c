/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_console: what a client sees of a VM besides its JSON: a screenshot (QMP screendump), its log,
 * its QEMU command line, and console tickets (POST /vms/{id}/console) with the VNC socket and the
 * RDP target the bridges connect to. The WebSocket URL comes through the manager's ws_url hook
 * (vm.h): the listener is above vm/. Core loop thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "priv.h"
#include "qmp.h"
#include "ticket.h"
#include "util.h"
#include "vm.h"
#include "vm_argv.h"
#include "vm_config.h"
#include "vm_priv.h"

/* ---- screenshot, log, cmdline ---- */

struct shot_ctx {
  struct vm *v;
  struct core_req *r;
  char path[4200];
};

static void on_screendump(struct qmp *q, json_t *ret, const char *err, void *ud) {
  struct shot_ctx *x = ud;
  size_t len = 0;
  char *png = NULL;
  if (err) {
    vm_reply_qmp_error(x->v, x->r, "screendump", err);
  } else if (!(png = read_file_owned(x->path, priv_uid(), 64u << 20, &len))) { /* QEMU's user wrote it */
    core_req_reply_error(x->r, 500, "internal", "screendump: %s: %s", x->path, strerror(errno));
  } else {
    core_req_reply_bytes(x->r, 200, "image/png", png, len);
  }
  unlink(x->path);
  free(x);
}

void vm_req_screenshot(struct vm_manager *m, struct core_req *r, const char *id) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (!vm_require(v, r, "take a screenshot", VM_IN(ST_RUNNING) | VM_IN(ST_PAUSED) | VM_IN(ST_SHUTTING_DOWN)))
    return;
  struct shot_ctx *x = xcalloc(1, sizeof(*x));
  x->v = v;
  x->r = r;
  char rel[64];
  snprintf(rel, sizeof(rel), "run/screendump-%u.png", ++v->shot_seq);
  vm_path(v, rel, x->path, sizeof(x->path));
  qmp_command(v->qmp, "screendump", json_pack("{s:s, s:s}", "filename", x->path, "format", "png"),
              on_screendump, x);
}

void vm_req_log(struct vm_manager *m, struct core_req *r, const char *id, unsigned tail) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  char *txt = vm_log_tail_text(v, tail);
  core_req_reply_bytes(r, 200, "text/plain; charset=utf-8", txt, strlen(txt));
}

json_t *vm_argv_json(struct vm_manager *m, const struct vm_config *cfg, char *err, size_t errlen) {
  struct vm_paths p;
  struct vm_argv av = {0};
  snprintf(p.dir, sizeof(p.dir), "%s/vms/%s", m->c->data_dir, cfg->id);
  if (vm_argv_build(cfg, &m->c->host.facts, &p, &av, err, errlen) < 0)
    return NULL;
  json_t *a = json_array();
  for (size_t i = 0; i < av.argc; i++)
    json_array_append_new(a, json_string(av.argv[i]));
  vm_argv_free(&av);
  return a;
}

void vm_req_cmdline(struct vm_manager *m, struct core_req *r, const char *id) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  if (v->argv) {
    core_req_reply_json(r, 200, json_pack("{s:O, s:b}", "argv", v->argv, "running", 1));
    return;
  }
  char err[1024];
  json_t *a = vm_argv_json(m, &v->cfg, err, sizeof(err));
  if (!a) {
    core_req_reply_error(r, 500, "internal", "%s", err);
    return;
  }
  core_req_reply_json(r, 200, json_pack("{s:o, s:b}", "argv", a, "running", 0));
}

/* ---- consoles ---- */

int vm_manager_console_path(struct vm_manager *m, const char *id, char *path, size_t len, char *err,
                            size_t errlen) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    snprintf(err, errlen, "no VM with id '%s'", id);
    return -1;
  }
  if (!vm_active(v) || v->pid <= 0) {
    snprintf(err, errlen, "the VM is %s", vm_state_names[v->state]);
    return -1;
  }
  vm_path(v, "run/vnc.sock", path, len);
  return 0;
}

static bool host_is_loopback(const char *h) {
  return strcmp(h, "127.0.0.1") == 0 || strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0 ||
         strncmp(h, "127.", 4) == 0;
}

int vm_manager_rdp_target(struct vm_manager *m, const char *id, struct vm_rdp *out, char *err,
                          size_t errlen) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    snprintf(err, errlen, "no VM with id '%s'", id);
    return -1;
  }
  memset(out, 0, sizeof(*out));
  if (v->cfg.rdp.set)
    *out = v->cfg.rdp;
  else
    snprintf(out->security, sizeof(out->security), "any");
  snprintf(out->vm_name, sizeof(out->vm_name), "%s", v->cfg.name); /* the RDP drive's folder */
  if (!out->host[0]) {
    /* The VM's own forward of guest port 3389 (the port QEMU chose, read back from QEMU). */
    if (!vm_active(v) || v->pid <= 0) {
      snprintf(err, errlen, "the VM is %s and has no explicit rdp.host", vm_state_names[v->state]);
      return -1;
    }
    size_t i;
    json_t *f;
    json_array_foreach(v->forwards_active, i, f) {
      json_t *gp = json_object_get(f, "guest_port"), *hp = json_object_get(f, "host_port");
      const char *pr = json_string_value(json_object_get(f, "proto"));
      if (json_integer_value(gp) == 3389 && pr && strcmp(pr, "tcp") == 0 && json_integer_value(hp) > 0 &&
          json_integer_value(hp) <= 65535) {
        snprintf(out->host, sizeof(out->host), "127.0.0.1");
        out->port = (uint16_t)json_integer_value(hp);
        break;
      }
    }
    if (!out->host[0]) {
      snprintf(err, errlen, "no rdp.host and no forward of guest port 3389 (network.forwards)");
      return -1;
    }
  }
  /* Certificate policy (docs/rdp.md): a loopback target is this machine (our own
   * forward, or a tunnel the user set up), so its self-signed certificate is accepted. */
  out->local = host_is_loopback(out->host);
  if (out->local && !out->fingerprint[0]) /* a pinned fingerprint is always checked */
    out->ignore_cert = true;
  out->set = true;
  return 0;
}

/* {"username", "password", "domain"} given for one RDP session: validated by the rules of the
 * VM's rdp field and returned as JSON text for the ticket, or NULL after a 400. */
static json_t *session_credentials(struct vm *v, json_t *creds, struct core_req *r) {
  const char *key;
  json_t *val;
  if (!json_is_object(creds)) {
    core_req_reply_error(r, 400, "invalid_field", "credentials: must be an object");
    return NULL;
  }
  json_object_foreach(creds, key, val) {
    if (strcmp(key, "username") != 0 && strcmp(key, "password") != 0 && strcmp(key, "domain") != 0) {
      core_req_reply_error(r, 400, "invalid_field", "credentials.%s: unknown field", key);
      return NULL;
    }
  }
  struct vm_config *scratch = xmalloc(sizeof(*scratch));
  *scratch = v->cfg;
  json_t *patch = json_pack("{s:O}", "rdp", creds);
  char err[1024];
  json_t *out = NULL;
  if (vm_config_apply_json(scratch, patch, false, err, sizeof(err)) < 0) {
    /* the rules are the rdp field's: say which field of this request broke them */
    const char *msg = strncmp(err, "rdp.", 4) == 0 ? err + 4 : err;
    core_req_reply_error(r, 400, "invalid_field", "credentials.%s", msg);
  } else {
    static const char *const keys[] = {"username", "password", "domain"};
    const char *vals[] = {scratch->rdp.username, scratch->rdp.password, scratch->rdp.domain};
    out = json_object();
    for (size_t i = 0; i < 3; i++)
      if (json_object_get(creds, keys[i]))
        json_object_set_new(out, keys[i], json_string(vals[i]));
  }
  json_decref(patch);
  explicit_bzero(scratch, sizeof(*scratch));
  free(scratch);
  return out;
}

void vm_req_console(struct vm_manager *m, struct core_req *r, const char *id, json_t *body) {
  struct vm *v = vm_find(m, id);
  if (!v) {
    core_req_reply_error(r, 404, "not_found", "no VM with id '%s'", id);
    return;
  }
  json_t *p = json_object_get(body, "protocol");
  if (p && !(json_is_string(p) &&
             (strcmp(json_string_value(p), "vnc") == 0 || strcmp(json_string_value(p), "rdp") == 0 ||
              strcmp(json_string_value(p), "serial") == 0 || strcmp(json_string_value(p), "audio") == 0))) {
    core_req_reply_error(r, 400, "invalid_field",
                         "protocol: must be \"vnc\", \"rdp\", \"serial\" or \"audio\"");
    return;
  }
  const char *proto = p ? json_string_value(p) : "vnc";
  char *secret = NULL;
  json_t *creds = json_object_get(body, "credentials"), *sc = json_object_get(body, "shortcut");
  if ((creds || sc) && strcmp(proto, "rdp") != 0) {
    core_req_reply_error(r, 400, "invalid_field", "%s: only for the \"rdp\" protocol",
                         creds ? "credentials" : "shortcut");
    return;
  }
  const struct vm_shortcut *app = NULL;
  if (sc) { /* one of the VM's app shortcuts, by name: that program instead of rdp.remote_app */
    for (size_t i = 0; json_is_string(sc) && i < v->cfg.n_shortcuts; i++)
      if (strcmp(v->cfg.shortcuts[i].name, json_string_value(sc)) == 0)
        app = &v->cfg.shortcuts[i];
    if (!app) {
      core_req_reply_error(r, 400, "invalid_field", "shortcut: this VM has no shortcut by that name");
      return;
    }
  }
  json_t *sec = NULL; /* what this session only gets: credentials, the program */
  if (creds && !(sec = session_credentials(v, creds, r)))
    return;
  if (app) {
    if (!sec)
      sec = json_object();
    json_object_set_new(
        sec, "app",
        json_pack("{s:s, s:s, s:b}", "program", app->program, "args", app->args, "shell", app->shell));
  }
  if (sec) {
    secret = json_dumps(sec, JSON_COMPACT);
    json_decref(sec); /* the password's copy inside Jansson is freed unwiped, as in ws.c */
  }
  if (strcmp(proto, "rdp") == 0) {
    struct vm_rdp target;
    char err[256];
    if (vm_manager_rdp_target(m, id, &target, err, sizeof(err)) < 0) {
      core_req_reply_error(r, 409, "invalid_state", "cannot open an RDP console: %s", err);
      secret_free(secret);
      return;
    }
    explicit_bzero(&target, sizeof(target));
  } else if (strcmp(proto, "serial") == 0) {
    /* Any state: a viewer sees the last run's output, and the next run's as it comes. */
  } else if (!vm_active(v) || v->pid <= 0) {
    core_req_reply_error(r, 409, "invalid_state", "cannot open a console: the VM is %s",
                         vm_state_names[v->state]);
    return;
  } else if (strcmp(proto, "audio") == 0 && !v->cfg.audio) { /* changed only while stopped */
    core_req_reply_error(r, 409, "no_audio",
                         "this VM runs without a sound card (set \"audio\": true, then start it again)");
    return;
  }
  const char *base = m->hooks.ws_url ? m->hooks.ws_url(m->hooks.ud, r->lan) : NULL;
  if (!base) {
    core_req_reply_error(r, 500, "internal", "the WebSocket server is not running");
    return;
  }
  char t[TICKET_LEN + 1];
  ticket_issue_as(m->c->tickets, v->cfg.id, proto, now_ms(), r->device, secret, t);
  secret_free(secret);
  char *url = xasprintf("%s/%s/%s?ticket=%s", base, proto, v->cfg.id, t);
  core_req_reply_json(r, 200,
                      json_pack("{s:s, s:s, s:s, s:i}", "protocol", proto, "ticket", t, "url", url,
                                "expires_in_ms", TICKET_TTL_MS));
  free(url);
}
