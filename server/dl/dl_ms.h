/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl_ms: Microsoft's consumer Windows ISO download flow, reimplemented (the
 * session / SKU / link API that Fido, Mido and quickget use):
 *   1. GET the product page; the first <option value="N"> is the product edition id;
 *   2. GET TAGS_URL?org_id=y6jn8c31&session_id=UUID (whitelists the session id);
 *   3. GET API/getskuinformationbyproductedition?...&ProductEditionId=N&sessionID=UUID
 *      → {"Skus": [{"Id", "Language", ...}]}: the SKU of the wanted language;
 *   4. GET API/GetProductDownloadLinksBySku?...&SKU=ID&sessionID=UUID (Referer: the page)
 *      → {"ProductDownloadOptions": [{"Uri", "DownloadType"}]} or, when Microsoft refuses
 *      (e.g. its "Sentinel" IP block), {"Errors": [{"Key", "Value", "Type"}]}.
 * The answer is the Uri for the wanted architecture (x64 / arm64), or a message telling
 * the user to download by hand and import. Core loop thread only.
 */
#ifndef QHM_DL_MS_H
#define QHM_DL_MS_H

#include "dl_engine.h"

struct dl_ms_params {
  const char *page_url; /* e.g. https://www.microsoft.com/en-us/software-download/windows11 */
  const char *tags_url; /* https://vlscppe.microsoft.com/tags */
  const char *api_url;  /* https://www.microsoft.com/software-download-connector/api */
  const char *language; /* "English (United States)" */
  const char *arch;     /* "x64" or "arm64" */
};

struct dl_ms;
/* Exactly one of URL / ERR is set. */
typedef void (*dl_ms_cb)(void *ud, const char *url, const char *err);
struct dl_ms *dl_ms_start(struct dl_engine *e, const struct dl_ms_params *p, dl_ms_cb cb, void *ud);
void dl_ms_cancel(struct dl_ms *m); /* NULL is fine; not from its own callback */

#endif
