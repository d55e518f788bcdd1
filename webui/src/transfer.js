// SPDX-License-Identifier: GPL-2.0-or-later
// transfer: the downloader, the image library and the OS catalog as the UI
// sees them (docs/api.md, "Downloads, image library, OS catalog") — the API
// calls, the browser upload (XMLHttpRequest, so its progress is known), byte /
// speed / ETA / date formatting, which download action is valid in which
// state, and followDownloads(): downloads kept current by the event stream,
// with a poll only while the stream is down. Used by the Downloads and Images
// pages and by the wizard's download sources. No page state lives here.
import { api, ApiError, reportUnauthorized } from './api.js';
import { h } from './dom.js';
import { t, getLocale } from './i18n.js';
import { subscribe, streamUp, onStream } from './events.js';

const POLL_MS = 2000;
const SLOW = { timeoutMs: 120000 }; // POST answers after the first request (checksum list, Microsoft flow, probe)

const dlPath = (id) => `/downloads/${encodeURIComponent(id)}`;
export const listDownloads = () => api('GET', '/downloads').then((d) => (d && d.downloads) || []);
export const getDownload = (id) => api('GET', dlPath(id));
export const createDownload = (fields) => api('POST', '/downloads', fields, SLOW);
export const downloadAction = (id, action) => api('POST', `${dlPath(id)}/${action}`, undefined, SLOW);
export const deleteDownload = (id) => api('DELETE', dlPath(id));
export const listLibrary = () => api('GET', '/images').then((d) => (d && d.images) || []);
export const importImage = (fields) => api('POST', '/images', fields, { timeoutMs: 3600000 }); // a copy can be long
export const deleteImage = (id) => api('DELETE', `/images/${encodeURIComponent(id)}`);
export const getCatalog = () => api('GET', '/catalog').then((d) => (d && Array.isArray(d.entries) ? d.entries : []));

// Download states (docs/api.md) and the actions valid in each.
export const DL_STATES = ['starting', 'running', 'verifying', 'paused', 'completed', 'failed'];
export const dlStateLabel = (s) => (DL_STATES.includes(s) ? t('dlstate.' + s) : String(s));
export const canPause = (s) => s === 'starting' || s === 'running';
export const canResume = (s) => s === 'paused' || s === 'failed';
export const isFinished = (s) => s === 'completed' || s === 'failed';

// The library's file-name rule ([A-Za-z0-9._+-], no leading dot, ≤ 120 bytes), as the daemon applies it.
export function safeName(name) {
  const s = String(name).replace(/[^A-Za-z0-9._+-]/g, '_').replace(/^\.+/, '').slice(0, 120);
  return s || 'upload.iso';
}

const UNITS = ['unit.b', 'unit.kib', 'unit.mib', 'unit.gib', 'unit.tib'];
export function fmtBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(Number(n))) return '—';
  let v = Number(n), i = 0;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return t(UNITS[i], { n: i === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : 1) });
}
export const fmtSpeed = (n) => t('unit.per_s', { v: fmtBytes(n) });
export function fmtEta(s) {
  if (s === null || s === undefined || !Number.isFinite(Number(s))) return '';
  s = Math.max(0, Math.round(Number(s)));
  if (s < 60) return t('time.s', { s });
  if (s < 3600) return t('time.ms', { m: Math.floor(s / 60), s: s % 60 });
  return t('time.hm', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}
export function fmtDate(unix) {
  if (!unix) return '—';
  try {
    return new Date(Number(unix) * 1000).toLocaleString(getLocale(), { dateStyle: 'medium', timeStyle: 'short' });
  } catch {
    return new Date(Number(unix) * 1000).toISOString();
  }
}

// "100 MiB of 631 MiB (15%) · 40 MiB/s · 14 s left" — what is known of it.
export function progressText(d) {
  const parts = [];
  if (d.total) parts.push(t('dl.bytes_of', { done: fmtBytes(d.bytes || 0), total: fmtBytes(d.total), pct: Math.floor(100 * (d.bytes || 0) / d.total) }));
  else parts.push(t('dl.bytes', { done: fmtBytes(d.bytes || 0) }));
  if (d.state === 'running' && d.speed) parts.push(fmtSpeed(d.speed));
  if (d.state === 'running' && d.eta !== null && d.eta !== undefined) parts.push(t('dl.eta', { eta: fmtEta(d.eta) }));
  return parts.join(' · ');
}

// A <progress> showing D: a value when the total is known, else indeterminate
// (while it runs) or empty.
export function setProgress(bar, d) {
  if (d.state === 'completed') { bar.max = 1; bar.value = 1; return; }
  if (d.total) { bar.max = d.total; bar.value = Math.min(d.bytes || 0, d.total); return; }
  if (d.state === 'running' || d.state === 'starting') bar.removeAttribute('value');
  else { bar.max = 1; bar.value = 0; }
}

// An event as a patch of the download object it is about.
export function eventPatch(ev) {
  if (ev.type === 'download.progress') return { bytes: ev.bytes, total: ev.total ?? null, speed: ev.speed ?? null, eta: ev.eta ?? null };
  const p = { state: ev.state, error: ev.error ?? null };
  if (ev.state !== 'running') { p.speed = null; p.eta = null; }
  return p;
}

// Keep downloads current: onEvent(ev) for each download.* event; refresh()
// whenever everything must be re-read (the stream just opened or reopened:
// events may have been missed), and every POLL_MS while it is down — no
// polling while the stream is up. Returns the stop function.
export function followDownloads({ onEvent, refresh }) {
  let poll = null;
  const schedule = () => {
    clearInterval(poll);
    poll = streamUp() ? null : setInterval(refresh, POLL_MS);
  };
  const unsub = subscribe((ev) => {
    if (ev.type === 'download.progress' || ev.type === 'download.state') onEvent(ev);
  });
  const unwatch = onStream((isUp) => { if (isUp) refresh(); schedule(); });
  schedule();
  return () => { clearInterval(poll); unsub(); unwatch(); };
}

// PUT /api/v1/images/upload?name=NAME with FILE as the raw body (the browser
// streams it from disk), onProgress(sent, total) as it goes. → {promise, abort}.
export const uploadImage = (file, name, onProgress) =>
  uploadFile('/api/v1/images/upload?name=' + encodeURIComponent(name), file, onProgress);
// A VM from a file of this browser (PUT /api/v1/vms/import/upload): an OVA, a libvirt XML or export tar.
export const uploadVmImport = (file, onProgress) =>
  uploadFile('/api/v1/vms/import/upload?name=' + encodeURIComponent(file.name), file, onProgress);

// FILE as the raw body of a PUT to URL; progress reported; { promise, abort }.
function uploadFile(url, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('PUT', url);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(data);
      const err = data && data.error;
      const e = err && typeof err.message === 'string' ? new ApiError(xhr.status, String(err.code || 'error'), err.message)
        : new ApiError(xhr.status, 'http', t('error.http', { status: xhr.status }));
      if (xhr.status === 401) reportUnauthorized(e);
      reject(e);
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', t('error.network', { detail: t('images.upload') }))));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', t('images.upload_aborted'))));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}

// A catalog entry as one line: "Debian 12.8 (netinst) — x86_64".
export const catalogLabel = (e) => `${e.name || e.id}${e.version ? ' ' + e.version : ''}`;

// A hint with a link ("… on the Images page"): a Microsoft refusal leads the user there.
export function importHint() {
  return h('p', { class: 'note ms-hint', dataset: { kind: 'warn' } }, t('dl.ms_hint'), ' ',
    h('a', { href: '/images', 'data-link': true, text: t('dl.ms_hint_link') }));
}
