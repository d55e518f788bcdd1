// SPDX-License-Identifier: GPL-2.0-or-later
// api: the one fetch wrapper for the daemon's REST API (docs/api.md). Every
// failure becomes an ApiError carrying the API's {"error": {"code",
// "message"}} when the daemon sent one, so pages can show the daemon's own
// message (as text) instead of a bare status code. A 401 (this browser has no
// session cookie, or its paired device was revoked) is also reported to the
// handler main.js sets, which replaces the page with how to get in.
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // 0 = no HTTP answer at all
    this.code = code;
  }
}

const TIMEOUT_MS = 20000;

let unauthorizedHandler = null;
// fn(err) runs on every 401 answer (main.js: show the sign-in or pairing page).
export function setUnauthorizedHandler(fn) { unauthorizedHandler = fn; }
// Tell the handler about ERR (an ApiError with status 401); also used by the XHR upload.
export function reportUnauthorized(err) {
  if (!unauthorizedHandler) return;
  try { unauthorizedHandler(err); } catch (e) { console.error(e); }
}

// method, path under /api/v1, JSON body (optional); opts.text → the body as text;
// opts.timeoutMs for slow actions (start waits for QEMU).
export async function api(method, path, body, { text = false, timeoutMs = TIMEOUT_MS } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  let resp, raw;
  try {
    resp = await fetch('/api/v1' + path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctl.signal,
      cache: 'no-store',
    });
    raw = await resp.text();
  } catch (e) {
    throw new ApiError(0, 'network', t('error.network', { detail: e.name === 'AbortError' ? 'timeout' : e.message }));
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  if (raw && (!text || !resp.ok)) {
    try { data = JSON.parse(raw); } catch { data = null; }
  }
  if (!resp.ok) {
    const err = data && typeof data === 'object' && data.error;
    const e = err && typeof err.message === 'string'
      ? new ApiError(resp.status, String(err.code || 'error'), err.message)
      : new ApiError(resp.status, 'http', t('error.http', { status: resp.status }));
    if (resp.status === 401) reportUnauthorized(e);
    throw e;
  }
  return text ? raw : data;
}

const vmPath = (id) => `/vms/${encodeURIComponent(id)}`;
const LONG = { timeoutMs: 150000 }; // start waits for QMP; kill up to 3 s plus exit; TCG is slow

export const getHost = () => api('GET', '/host');
// Whether a VM could use PATH now (inside the allowed roots, there, of KIND): {path, kind, size}.
export const checkPath = (path, kind = 'file') => api('POST', '/host/check-path', { path, kind });
export const listVms = () => api('GET', '/vms').then((d) => (d && d.vms) || []);
export const getVm = (id) => api('GET', vmPath(id));
export const createVm = (fields) => api('POST', '/vms', fields, LONG);
export const patchVm = (id, fields) => api('PATCH', vmPath(id), fields);
export const deleteVm = (id, keepDisks) => api('DELETE', vmPath(id) + (keepDisks ? '?keep_disks=true' : ''), undefined, LONG);
export const cloneVm = (id, name) => api('POST', `${vmPath(id)}/clone`, { name }, LONG);
// BODY: optional, e.g. kill of an orphaned VM: {orphan_pid} (the pid shown, as the confirmation).
export const vmAction = (id, action, body) => api('POST', `${vmPath(id)}/${action}`, body, LONG);
export const vmLog = (id, tail = 200) => api('GET', `${vmPath(id)}/log?tail=${tail}`, undefined, { text: true });
export const vmCmdline = (id) => api('GET', `${vmPath(id)}/cmdline`);
// The QEMU guest agent's view of a running VM: {agent: true, version, hostname, os, interfaces} or {agent: false, reason}.
export const vmGuest = (id) => api('GET', `${vmPath(id)}/guest`);
export const screenshotUrl = (id) => `/api/v1${vmPath(id)}/screenshot?t=${Date.now()}`;
// CREDENTIALS (RDP only): {username, password, domain} for the session this ticket opens, not stored.
// SHORTCUT (RDP only): the name of one of the VM's app shortcuts, opened instead of the desktop.
export const consoleTicket = (id, protocol = 'vnc', credentials = null, shortcut = null) =>
  api('POST', `${vmPath(id)}/console`, { protocol, ...(credentials ? { credentials } : {}), ...(shortcut ? { shortcut } : {}) });
export const eventsTicket = () => api('POST', '/events/ticket');
// Disks after creation (docs/api.md): conversions and resizes wait for qemu-img.
export const listDisks = (id) => api('GET', `${vmPath(id)}/disks`).then((d) => (d && d.disks) || []);
export const addDisk = (id, body) => api('POST', `${vmPath(id)}/disks`, body, LONG);
export const growDisk = (id, n, sizeGib) => api('PATCH', `${vmPath(id)}/disks/${n}`, { size_gib: sizeGib }, LONG);
export const detachDisk = (id, n, keep) => api('DELETE', `${vmPath(id)}/disks/${n}` + (keep ? '?keep_disks=true' : ''), undefined, LONG);
// Snapshots (docs/api.md): taking or restoring one with memory waits for QEMU to write or read it.
const snapPath = (id, name) => `${vmPath(id)}/snapshots` + (name === undefined ? '' : `/${encodeURIComponent(name)}`);
export const listSnapshots = (id) => api('GET', snapPath(id)).then((d) => (d && d.snapshots) || []);
export const takeSnapshot = (id, name) => api('POST', snapPath(id), { name }, LONG);
export const restoreSnapshot = (id, name) => api('POST', `${snapPath(id, name)}/restore`, undefined, LONG);
export const deleteSnapshot = (id, name) => api('DELETE', snapPath(id, name), undefined, LONG);

// Optional endpoints (other parts of the daemon may not have them yet):
// null when the daemon answers 404/405, so callers can degrade.
async function optional(p) {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
    throw e;
  }
}
// The image library: [{name, path, size_bytes?}], or null without one.
export const listImages = () => optional(api('GET', '/images')).then((d) => {
  if (d === null) return null;
  const list = Array.isArray(d) ? d : (d && (d.images || d.items)) || [];
  return list.filter((i) => i && typeof (i.path || i.file) === 'string')
    .map((i) => ({ id: i.id ?? null, name: String(i.name || i.filename || i.path || i.file), path: String(i.path || i.file), size: i.size_bytes ?? i.size ?? null }));
});
// Every check of a create plus the QEMU argv it would run, nothing created
// (POST /vms?dry_run=true → {dry_run: true, argv, accelerator, config}).
export const previewCreate = (fields) => api('POST', '/vms?dry_run=true', fields);
// What a PATCH of the VM would give, nothing saved (PATCH /vms/{id}?dry_run=true → {dry_run, argv, config}).
export const previewPatch = (id, fields) => api('PATCH', `${vmPath(id)}?dry_run=true`, fields);
// Downloads into the image library (optional: null when the daemon has none).
export const startDownload = (fields) => optional(api('POST', '/downloads', fields));
export const getDownload = (id) => api('GET', `/downloads/${encodeURIComponent(id)}`);

// Access (docs/api.md, "Access control"). LAN mode: the owner asks for a pairing code
// ({code, expires_in_ms, expires_at, url, fingerprint}) and lists or revokes paired
// browsers; a LAN browser pairs itself with the code ({id}, and its cookie).
export const newPairingCode = () => api('POST', '/pairing');
export const listDevices = () => api('GET', '/devices').then((d) => (d && d.devices) || []);
export const revokeDevice = (id) => api('DELETE', `/devices/${encodeURIComponent(id)}`);
export const pairBrowser = (code, name) => api('POST', '/pair', { code, name });
// Whether TOKEN is this daemon's API token (a Bearer request; nothing is stored).
export async function tokenWorks(token) {
  try {
    const r = await fetch('/api/v1/host', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
    return r.ok;
  } catch {
    return false;
  }
}
