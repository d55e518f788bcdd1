/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stream: see stream.h. The close frame. */
#include "stream.h"

#include <libwebsockets.h>
#include <string.h>

/* lws_write()'s opcode for a close frame: internal to lws (LWS_WRITE_CLOSE, 4 in every 4.x). */
#define QHM_LWS_WRITE_CLOSE 4

void ws_send_close(struct lws *wsi, int code, const char *reason) {
  unsigned char frame[LWS_PRE + 125];
  size_t rl = strlen(reason);
  if (rl > 123)
    rl = 123;
  frame[LWS_PRE] = (unsigned char)((code >> 8) & 0xff);
  frame[LWS_PRE + 1] = (unsigned char)(code & 0xff);
  memcpy(frame + LWS_PRE + 2, reason, rl);
  lws_write(wsi, frame + LWS_PRE, 2 + rl, (enum lws_write_protocol)QHM_LWS_WRITE_CLOSE);
}
