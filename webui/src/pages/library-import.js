// SPDX-License-Identifier: GPL-2.0-or-later
// The library's Import panel: a VM from another manager (docs/api.md, "Import and export") — a
// path on this machine (a UTM bundle NAME.utm, a libvirt domain XML, an OVA or an export tar:
// POST /api/v1/vms/import) or a file of this browser (an OVA, a domain XML or an export tar,
// uploaded with its progress: PUT /api/v1/vms/import/upload; a UTM bundle is a folder, which a
// browser cannot send). The answer's "unmapped" list (what the source had that the VM does not
// carry over) is shown, with a link to the new VM. Text from the file is set with textContent.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { uploadVmImport, fmtBytes } from '../transfer.js';
import { field, withBusy } from '../ui.js';

const importVm = (fields) => api('POST', '/vms/import', fields, { timeoutMs: 3600000 }); // disks are converted

export function importPanel({ onError }) {
  const titleId = newId('import-title');
  const fPath = field({ id: newId('import-path'), label: t('import.path'),
    input: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: '/home/me/Win11.utm' }),
    hint: t('import.path_hint') });
  const fName = field({ id: newId('import-name'), label: t('import.name'),
    input: h('input', { type: 'text', autocomplete: 'off' }), hint: t('import.name_hint') });
  const pathBtn = h('button', { type: 'submit', class: 'btn primary', text: t('import.go') });
  const pathForm = h('form', { class: 'snap-form', novalidate: true }, fPath.wrap, fName.wrap, h('div', { class: 'row end' }, pathBtn));
  const fFile = field({ id: newId('import-file'), label: t('import.file'),
    input: h('input', { type: 'file', accept: '.ova,.xml,.tar' }), hint: t('import.file_hint') });
  const upBtn = h('button', { type: 'submit', class: 'btn', text: t('import.upload') });
  const bar = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': t('import.progress') });
  const fileForm = h('form', { class: 'snap-form', novalidate: true }, fFile.wrap, bar, h('div', { class: 'row end' }, upBtn));
  const msg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const result = h('div', { class: 'import-result' });
  const el = h('section', { id: newId('import-panel'), class: 'panel import-panel', hidden: true, 'aria-labelledby': titleId },
    h('h2', { id: titleId, text: t('import.title') }), pathForm, fileForm, msg, result);

  function done(vm) {
    msg.textContent = '';
    const link = h('a', { href: `/vm/${encodeURIComponent(vm.id)}`, 'data-link': true, text: vm.name });
    const um = (vm.import && vm.import.unmapped) || [];
    result.replaceChildren(h('p', {}, t('import.done', { format: vm.import ? vm.import.format : '?' }), ' ', link));
    if (um.length) {
      result.append(h('p', { text: t('import.unmapped', { n: um.length }) }),
        h('ul', { class: 'unmapped' }, um.map((u) => h('li', {}, h('code', { text: u.field }), ': ', h('span', { text: u.value })))));
    } else {
      result.append(h('p', { class: 'hint', text: t('import.all_mapped') }));
    }
  }

  pathForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const path = fPath.input.value.trim();
    if (!path) { fPath.error(t('import.path_required')); fPath.input.focus(); return; }
    fPath.error('');
    result.replaceChildren();
    msg.textContent = t('import.working');
    const body = { path };
    if (fName.input.value.trim()) body.name = fName.input.value.trim();
    try {
      done(await withBusy(pathBtn, () => importVm(body)));
    } catch (err) {
      msg.textContent = '';
      if (err.message && err.message.startsWith('path')) fPath.error(err.message);
      else onError(err);
    }
  });

  fileForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = fFile.input.files && fFile.input.files[0];
    if (!f) { fFile.error(t('import.file_required')); fFile.input.focus(); return; }
    fFile.error('');
    result.replaceChildren();
    bar.hidden = false;
    bar.value = 0;
    const up = uploadVmImport(f, (sent, total) => {
      bar.value = total ? sent / total : 0;
      msg.textContent = t('import.uploading', { done: fmtBytes(sent), total: fmtBytes(total) });
    });
    try {
      done(await withBusy(upBtn, () => up.promise));
    } catch (err) {
      msg.textContent = '';
      onError(err);
    } finally {
      bar.hidden = true;
    }
  });

  return { el, toggle: (on) => { el.hidden = !on; if (on) fPath.input.focus(); } };
}
