// SPDX-License-Identifier: GPL-2.0-or-later
// The VM page's Export section: the stopped VM as a download for another manager (docs/api.md,
// "Import and export") — a libvirt domain XML with its qcow2 disks in a tar, or an OVA. Plain
// links (GET /api/v1/vms/{id}/export?format=…, the session cookie): the browser streams the file
// to disk. While the VM is not stopped they are disabled, saying why.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';

export function exportSection({ id }) {
  const titleId = newId('export-title');
  const href = (format) => `/api/v1/vms/${encodeURIComponent(id)}/export?format=${format}`;
  const links = ['libvirt', 'ova'].map((f) => h('a', { class: 'btn', href: href(f), download: '', dataset: { format: f }, text: t('export.' + f) }));
  const note = h('p', { class: 'hint' });
  const el = h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId, text: t('export.title') }),
    h('p', { class: 'hint', text: t('export.hint') }), h('div', { class: 'row' }, ...links), note);
  return {
    el,
    render(vm) {
      const ok = vm.state === 'stopped' || vm.state === 'crashed';
      for (const a of links) {
        if (ok) { a.setAttribute('href', href(a.dataset.format)); a.removeAttribute('aria-disabled'); }
        else { a.removeAttribute('href'); a.setAttribute('aria-disabled', 'true'); }
      }
      note.textContent = ok ? '' : t('export.stopped_only');
    },
  };
}
