// SPDX-License-Identifier: GPL-2.0-or-later
// images page (/images): the image library (GET /api/v1/images) — name, size,
// source, date, path — with "New VM from this image" (the wizard with it
// preselected) and Delete (asks first); import of a file on the daemon's
// machine by path (POST /api/v1/images); an upload from this browser
// (PUT /api/v1/images/upload, the File object as the body, streamed by the
// browser, with its progress and a Cancel). Follows image.created /
// image.deleted events. Names and paths are text.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { subscribe } from '../events.js';
import { errorBanner, field, withBusy, confirmDialog } from '../ui.js';
import { listLibrary, importImage, deleteImage, uploadImage, safeName, fmtBytes, fmtSpeed, fmtDate } from '../transfer.js';

const SOURCES = ['download', 'import', 'upload'];

export function mount(root) {
  document.title = t('images.title') + ' — ' + t('app.title');
  const errors = errorBanner();
  const status = h('p', { class: 'status tight', role: 'status', 'aria-live': 'polite', text: t('images.loading') });
  const list = h('ul', { class: 'img-list', 'aria-label': t('images.list') });
  const empty = h('p', { class: 'empty-line', hidden: true, text: t('images.empty') });

  // Import by path.
  const path = field({ id: 'i-path', label: t('field.image_path'),
    input: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '/path/to/installer.iso' }),
    hint: t('images.path_hint') });
  const importBtn = h('button', { type: 'submit', class: 'btn primary', text: t('images.import') });
  const importForm = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'img-import-title' },
    h('h2', { id: 'img-import-title', text: t('images.import_title') }), path.wrap, h('div', { class: 'row end' }, importBtn));

  // Upload from this browser.
  const file = field({ id: 'i-file', label: t('field.upload_file'), input: h('input', { type: 'file', accept: '.iso,.img,.qcow2,.raw,application/x-iso9660-image' }),
    hint: t('images.upload_hint') });
  const uploadBtn = h('button', { type: 'submit', class: 'btn primary', text: t('images.upload') });
  const abortBtn = h('button', { type: 'button', class: 'btn danger', text: t('images.upload_cancel'), hidden: true });
  const upBar = h('progress', { max: 1, value: 0, 'aria-label': t('images.upload_progress') });
  const upText = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
  const upBox = h('div', { class: 'download-progress', hidden: true }, upBar, upText);
  const uploadForm = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'img-upload-title' },
    h('h2', { id: 'img-upload-title', text: t('images.upload_title') }), file.wrap, upBox, h('div', { class: 'row end' }, abortBtn, uploadBtn));

  root.append(h('main', { class: 'page', id: 'main' },
    h('div', { class: 'page-head' }, h('h1', { text: t('images.title') }),
      h('a', { class: 'btn', href: '/downloads', 'data-link': true, text: t('images.to_downloads') })),
    errors.el,
    h('section', { 'aria-labelledby': 'img-list-title' },
      h('h2', { id: 'img-list-title', class: 'visually-hidden', text: t('images.list') }), status, empty, list),
    h('div', { class: 'img-add' }, importForm, uploadForm)));

  let alive = true;

  function item(img) {
    const nameId = newId('img-name');
    const del = h('button', { type: 'button', class: 'btn small danger', 'aria-describedby': nameId, text: t('images.delete') });
    del.addEventListener('click', async () => {
      const ok = await confirmDialog({ title: t('images.delete_title', { name: img.name }), message: t('images.delete_message'),
        confirm: t('images.delete'), danger: true });
      if (!ok) return;
      errors.clear();
      try {
        await withBusy(del, () => deleteImage(img.id));
        if (alive) load();
      } catch (e) {
        if (alive) errors.show(t('error.action', { name: img.name, message: e.message }));
      }
    });
    const src = SOURCES.includes(img.source) ? t('images.source.' + img.source) : String(img.source || '—');
    return h('li', { class: 'img-item panel', dataset: { imageId: img.id } },
      h('h3', { class: 'dl-name', id: nameId, text: img.name }),
      h('p', { class: 'meta', text: t('images.meta', { size: fmtBytes(img.size), source: src, date: fmtDate(img.created_at) }) }),
      h('p', { class: 'dl-url mono', text: img.path }),
      img.origin && img.origin !== img.path ? h('p', { class: 'dl-url', text: t('images.origin', { origin: img.origin }) }) : null,
      h('div', { class: 'actions' },
        h('a', { class: 'btn small primary', href: '/new?image=' + encodeURIComponent(img.id), 'data-link': true, 'aria-describedby': nameId, text: t('images.new_vm') }),
        del));
  }

  let loading = null, again = false; // one read at a time; a request during one runs once more after it
  function load() {
    if (loading) { again = true; return loading; }
    loading = listLibrary().then((imgs) => {
      if (!alive) return;
      if (status.textContent === t('images.loading')) status.textContent = '';
      list.replaceChildren(...imgs.filter((i) => i && i.id).map(item));
      empty.hidden = imgs.length > 0;
    }).catch((e) => { if (alive) { if (status.textContent === t('images.loading')) status.textContent = ''; errors.show(t('images.load_failed', { message: e.message })); } })
      .finally(() => { loading = null; if (again && alive) { again = false; load(); } });
    return loading;
  }

  importForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const p = path.input.value.trim();
    if (!p.startsWith('/')) { path.error(t('wizard.err.iso_path')); path.input.focus(); return; }
    path.error('');
    status.textContent = t('images.importing');
    try {
      const img = await withBusy(importBtn, () => importImage({ path: p }));
      if (!alive) return;
      status.textContent = t('images.imported', { name: img.name });
      path.input.value = '';
      load();
    } catch (err) {
      if (alive) { status.textContent = ''; errors.show(t('images.import_failed', { message: err.message })); }
    }
  });

  let upload = null;
  abortBtn.addEventListener('click', () => { if (upload) upload.abort(); });
  uploadForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (upload) return;
    errors.clear();
    const f = file.input.files && file.input.files[0];
    if (!f) { file.error(t('images.err.no_file')); file.input.focus(); return; }
    file.error('');
    const name = safeName(f.name);
    const started = performance.now();
    upBox.hidden = false;
    abortBtn.hidden = false;
    upBar.max = f.size || 1;
    upBar.value = 0;
    upText.textContent = t('images.uploading', { name });
    upload = uploadImage(f, name, (sent, total) => {
      if (!alive) return;
      upBar.max = total || 1;
      upBar.value = sent;
      const secs = (performance.now() - started) / 1000;
      upText.textContent = t('images.upload_bytes', { name, done: fmtBytes(sent), total: fmtBytes(total),
        pct: total ? Math.floor((100 * sent) / total) : 0, speed: secs > 0.2 ? fmtSpeed(sent / secs) : '…' });
    });
    try {
      const img = await withBusy(uploadBtn, () => upload.promise);
      if (!alive) return;
      upBar.value = upBar.max;
      upText.textContent = t('images.uploaded', { name: (img && img.name) || name });
      file.input.value = '';
      load();
    } catch (err) {
      if (!alive) return;
      upBox.hidden = true;
      errors.show(t('images.upload_failed', { message: err.message }));
    } finally {
      upload = null;
      abortBtn.hidden = true;
    }
  });

  const unsub = subscribe((ev) => {
    if (ev.type === 'image.created' || ev.type === 'image.deleted' || ev.type === 'resync') load();
  });
  load();
  return () => { alive = false; unsub(); if (upload) upload.abort(); };
}
