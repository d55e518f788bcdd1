/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cliprdr.c: the clipboard — cliprdr's CF_UNICODETEXT <-> Guacamole
 * `clipboard` streams of text/plain (conversions: rdp_text.c). The server's
 * side runs on cliprdr's thread and reaches the browser through chan_put; the
 * browser's side (on_clipboard, on_clip_blob, on_clip_end) on the main thread.
 */
#include <stdlib.h>
#include <string.h>

#include "rdp_text.h"
#include "worker.h"

#define CF_UNICODETEXT_ID 13
#define CLIP_STREAM_ID 65u /* the server's clipboard text toward the browser */
#define CLIP_STREAM "65"

/* Announce to the server what the browser's clipboard holds (nothing before its first copy). */
static UINT clip_send_format_list(struct worker *w, CliprdrClientContext *c) {
  CLIPRDR_FORMAT f = {.formatId = CF_UNICODETEXT_ID, .formatName = NULL};
  CLIPRDR_FORMAT_LIST fl;
  memset(&fl, 0, sizeof(fl));
  fl.msgType = CB_FORMAT_LIST;
  pthread_mutex_lock(&w->lock);
  bool have = w->clip.local != NULL;
  pthread_mutex_unlock(&w->lock);
  fl.numFormats = have ? 1 : 0;
  fl.formats = have ? &f : NULL;
  return c->ClientFormatList(c, &fl);
}

static UINT clip_monitor_ready(CliprdrClientContext *c, const CLIPRDR_MONITOR_READY *mr) {
  struct worker *w = c->custom;
  CLIPRDR_GENERAL_CAPABILITY_SET g = {.capabilitySetType = CB_CAPSTYPE_GENERAL,
                                      .capabilitySetLength = CB_CAPSTYPE_GENERAL_LEN,
                                      .version = CB_CAPS_VERSION_2,
                                      .generalFlags = CB_USE_LONG_FORMAT_NAMES};
  CLIPRDR_CAPABILITIES caps;
  memset(&caps, 0, sizeof(caps));
  caps.msgType = CB_CLIP_CAPS;
  caps.cCapabilitiesSets = 1;
  caps.capabilitySets = (CLIPRDR_CAPABILITY_SET *)&g;
  UINT rc = c->ClientCapabilities(c, &caps);
  if (rc != CHANNEL_RC_OK)
    return rc;
  pthread_mutex_lock(&w->lock);
  w->clip.ready = true;
  pthread_mutex_unlock(&w->lock);
  return clip_send_format_list(w, c);
}

static UINT clip_server_caps(CliprdrClientContext *c, const CLIPRDR_CAPABILITIES *caps) {
  return CHANNEL_RC_OK; /* text only: no capability changes what we do */
}

static UINT clip_server_format_list(CliprdrClientContext *c, const CLIPRDR_FORMAT_LIST *fl) {
  CLIPRDR_FORMAT_LIST_RESPONSE r;
  memset(&r, 0, sizeof(r));
  r.msgType = CB_FORMAT_LIST_RESPONSE;
  r.msgFlags = CB_RESPONSE_OK;
  UINT rc = c->ClientFormatListResponse(c, &r);
  if (rc != CHANNEL_RC_OK)
    return rc;
  for (UINT32 i = 0; i < fl->numFormats; i++) {
    if (fl->formats[i].formatId == CF_UNICODETEXT_ID) { /* fetch it now: the browser has no "paste" */
      CLIPRDR_FORMAT_DATA_REQUEST q;
      memset(&q, 0, sizeof(q));
      q.msgType = CB_FORMAT_DATA_REQUEST;
      q.requestedFormatId = CF_UNICODETEXT_ID;
      q.dataLen = 4;
      return c->ClientFormatDataRequest(c, &q);
    }
  }
  return CHANNEL_RC_OK;
}

static UINT clip_server_format_list_response(CliprdrClientContext *c, const CLIPRDR_FORMAT_LIST_RESPONSE *r) {
  return CHANNEL_RC_OK;
}

/* The server's text -> the browser: clipboard, blob..., end. */
static UINT clip_server_data_response(CliprdrClientContext *c, const CLIPRDR_FORMAT_DATA_RESPONSE *r) {
  struct worker *w = c->custom;
  if ((r->msgFlags & CB_RESPONSE_FAIL) || !r->requestedFormatData)
    return CHANNEL_RC_OK;
  size_t in = r->dataLen < 2 * (size_t)RDP_CLIP_MAX ? r->dataLen : 2 * (size_t)RDP_CLIP_MAX;
  char *text = NULL;
  size_t len = rdp_text_from_utf16(r->requestedFormatData, in, RDP_CLIP_MAX, &text);
  /* Stream CLIP_STREAM is this direction's own: the main loop's image streams are 1..64. */
  struct guac_buf b = {0};
  guac_putl(&b, "clipboard", CLIP_STREAM, "text/plain", NULL);
  for (size_t off = 0; off < len; off += GUAC_BLOB_BYTES)
    guac_put_blob(&b, CLIP_STREAM_ID, text + off, len - off < GUAC_BLOB_BYTES ? len - off : GUAC_BLOB_BYTES);
  guac_putl(&b, "end", CLIP_STREAM, NULL);
  chan_put(w, &b);
  guac_buf_free(&b);
  free(text);
  return CHANNEL_RC_OK;
}

/* The server pastes: serve the browser's last text. */
static UINT clip_server_data_request(CliprdrClientContext *c, const CLIPRDR_FORMAT_DATA_REQUEST *q) {
  struct worker *w = c->custom;
  CLIPRDR_FORMAT_DATA_RESPONSE r;
  memset(&r, 0, sizeof(r));
  r.msgType = CB_FORMAT_DATA_RESPONSE;
  uint8_t *copy = NULL;
  pthread_mutex_lock(&w->lock);
  if (q->requestedFormatId == CF_UNICODETEXT_ID && w->clip.local && (copy = malloc(w->clip.local_len))) {
    memcpy(copy, w->clip.local, w->clip.local_len);
    r.dataLen = (UINT32)w->clip.local_len;
  }
  pthread_mutex_unlock(&w->lock);
  r.msgFlags = copy ? CB_RESPONSE_OK : CB_RESPONSE_FAIL;
  r.requestedFormatData = copy;
  UINT rc = c->ClientFormatDataResponse(c, &r);
  free(copy);
  return rc;
}

void clip_attach(struct worker *w, CliprdrClientContext *c) {
  w->clip.ctx = c;
  c->custom = w;
  c->MonitorReady = clip_monitor_ready;
  c->ServerCapabilities = clip_server_caps;
  c->ServerFormatList = clip_server_format_list;
  c->ServerFormatListResponse = clip_server_format_list_response;
  c->ServerFormatDataRequest = clip_server_data_request;
  c->ServerFormatDataResponse = clip_server_data_response;
}

/* Browser: clipboard,STREAM,MIMETYPE — text only; other types are refused. */
void on_clipboard(struct worker *w, struct guac_instr *in) {
  long sid;
  if (in->argc < 2 || !guac_arg_int(in->argv[0], 0, 0x7fffffffL, &sid)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "clipboard: expected a stream and a mimetype");
    return;
  }
  if (strncmp(in->argv[1], "text/", 5) != 0) {
    guac_putl(&w->link.out, "ack", in->argv[0], "text only", "256", NULL); /* 0x0100 unsupported */
    return;
  }
  w->clip.in_stream = sid;
  w->clip.in.len = 0;
}

/* Browser: blob,STREAM,BASE64. True if it was the clipboard's. */
bool on_clip_blob(struct worker *w, struct guac_instr *in, long sid) {
  if (sid != w->clip.in_stream)
    return false;
  size_t b64 = in->argl[1];
  guac_buf_reserve(&w->clip.in, b64 / 4 * 3 + 3);
  size_t n = guac_base64_decode(in->argv[1], b64, (unsigned char *)w->clip.in.data + w->clip.in.len);
  if (n == (size_t)-1) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "blob: not base64");
    return true;
  }
  /* beyond RDP_CLIP_MAX the text is cut (rdp_text_to_utf16 mends a cut character) */
  w->clip.in.len = w->clip.in.len + n > RDP_CLIP_MAX ? RDP_CLIP_MAX : w->clip.in.len + n;
  guac_putl(&w->link.out, "ack", in->argv[0], "OK", "0", NULL);
  return true;
}

/* Browser: end,STREAM of the clipboard: the text becomes what the server may paste. */
bool on_clip_end(struct worker *w, long sid) {
  if (sid != w->clip.in_stream)
    return false;
  w->clip.in_stream = -1;
  uint8_t *text;
  size_t len = rdp_text_to_utf16(w->clip.in.data ? w->clip.in.data : "", w->clip.in.len,
                                 2 * (size_t)RDP_CLIP_MAX + 2, &text);
  w->clip.in.len = 0;
  pthread_mutex_lock(&w->lock);
  free(w->clip.local);
  w->clip.local = text;
  w->clip.local_len = len;
  bool ready = w->clip.ready;
  pthread_mutex_unlock(&w->lock);
  if (w->clip.ctx && ready)
    clip_send_format_list(w, w->clip.ctx);
  return true;
}
