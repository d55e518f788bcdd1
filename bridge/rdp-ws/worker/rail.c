/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rail.c: RemoteApp — after the server's rail handshake, start the program the
 * VM's config names (ARG_REMOTE_APP). rail's thread.
 */
#include <string.h>

#include "worker.h"

static UINT rail_start(RailClientContext *r) {
  struct worker *w = r->custom;
  rdpSettings *s = w->s.instance->settings;
  RAIL_CLIENT_STATUS_ORDER st = {.flags = TS_RAIL_CLIENTSTATUS_ALLOWLOCALMOVESIZE};
  UINT rc = r->ClientInformation(r, &st);
  if (rc != CHANNEL_RC_OK)
    return rc;
  RAIL_SYSPARAM_ORDER sp;
  memset(&sp, 0, sizeof(sp));
  sp.params = SPI_MASK_SET_HIGH_CONTRAST | SPI_MASK_SET_MOUSE_BUTTON_SWAP | SPI_MASK_SET_KEYBOARD_PREF |
              SPI_MASK_SET_DRAG_FULL_WINDOWS | SPI_MASK_SET_KEYBOARD_CUES | SPI_MASK_SET_WORK_AREA;
  sp.highContrast.flags = 0x7e;
  sp.workArea.right = (UINT16)freerdp_settings_get_uint32(s, FreeRDP_DesktopWidth);
  sp.workArea.bottom = (UINT16)freerdp_settings_get_uint32(s, FreeRDP_DesktopHeight);
  if ((rc = r->ClientSystemParam(r, &sp)) != CHANNEL_RC_OK)
    return rc;
  RAIL_EXEC_ORDER ex;
  memset(&ex, 0, sizeof(ex));
  ex.RemoteApplicationProgram = (char *)w->hs.args[ARG_REMOTE_APP];
  ex.RemoteApplicationArguments = (char *)w->hs.args[ARG_REMOTE_APP_ARGS];
  ex.RemoteApplicationWorkingDir = "";
  return r->ClientExecute(r, &ex);
}

static UINT rail_server_handshake(RailClientContext *r, const RAIL_HANDSHAKE_ORDER *h) {
  return rail_start(r);
}

static UINT rail_server_handshake_ex(RailClientContext *r, const RAIL_HANDSHAKE_EX_ORDER *h) {
  return rail_start(r);
}

static UINT rail_exec_result(RailClientContext *r, const RAIL_EXEC_RESULT_ORDER *res) {
  if (res->execResult != RAIL_EXEC_S_OK)
    wlog("RemoteApp: the server could not start the program (result %u, 0x%08x)", res->execResult,
         res->rawResult);
  return CHANNEL_RC_OK;
}

/* rail's thread: the channel connected (channels.c) */
void rail_attach(struct worker *w, RailClientContext *r) {
  r->custom = w;
  r->ServerHandshake = rail_server_handshake;
  r->ServerHandshakeEx = rail_server_handshake_ex;
  r->ServerExecuteResult = rail_exec_result;
}
