// SPDX-License-Identifier: GPL-2.0-or-later
// The VM page's Guest tools section (docs/guest-tools.md): a checkbox that attaches the tools CD
// (PATCH guest_tools, with the VM stopped; the CD is made at each start), a link to the Linux
// script (GET /api/v1/guest-tools/linux.sh, the session cookie: the browser saves it) and the
// one line to run in the guest. Unavailable (no xorriso, the child launcher): said, not offered.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { patchVm } from '../api.js';
import { withBusy } from '../ui.js';

export function toolsSection({ id, host, onSaved, onError }) {
  const titleId = newId('tools-title');
  const box = h('input', { type: 'checkbox', id: newId('tools-cd') });
  const label = h('label', { for: box.id, text: t('tools.attach') });
  const note = h('p', { class: 'hint', 'aria-live': 'polite' });
  const cmd = h('code', { class: 'mono tools-cmd' });
  const link = h('a', { class: 'btn', href: '/api/v1/guest-tools/linux.sh', download: 'linux.sh', text: t('tools.download') });
  const el = h('section', { 'aria-labelledby': titleId, class: 'guest-tools' },
    h('h2', { id: titleId, text: t('tools.title') }),
    h('p', { class: 'hint', text: t('tools.hint') }),
    h('div', { class: 'choice' }, box, label), note,
    h('p', { text: t('tools.run') }), h('pre', { class: 'log' }, cmd),
    h('div', { class: 'row' }, link));
  let vm = null;
  box.addEventListener('change', async () => {
    const want = box.checked;
    try {
      const v = await withBusy(box, () => patchVm(id, { guest_tools: want }));
      onSaved(v);
    } catch (err) {
      box.checked = !want;
      onError(err);
    }
  });
  return {
    el,
    render(v) {
      vm = v;
      const available = !!(host.guest_tools && host.guest_tools.available);
      const stopped = vm.state === 'stopped' || vm.state === 'crashed';
      box.checked = !!vm.guest_tools;
      box.disabled = !available || !stopped;
      // With the Windows answer CD the tools are on it (label QHM_UNATTEND).
      const vol = vm.unattend ? 'QHM_UNATTEND' : 'QHM_TOOLS';
      cmd.textContent = `sudo mkdir -p /media/qhm-tools && sudo mount -o ro LABEL=${vol} /media/qhm-tools && sudo sh /media/qhm-tools/linux.sh`;
      note.textContent = !available ? t('tools.unavailable') : !stopped ? t('tools.stopped_only')
        : vm.guest_tools ? t('tools.attached') : '';
    },
  };
}
