// SPDX-License-Identifier: GPL-2.0-or-later
// vm-snapshots: the VM page's "Snapshots" section (GET/POST /vms/{id}/snapshots,
// POST …/{name}/restore, DELETE …/{name}). Taken while the VM runs, a snapshot
// keeps its memory too (restoring it returns to that running moment, and a
// stopped VM starts from it); taken while stopped, the disks only. Restore and
// delete ask first. Names and times are text. Used by pages/vm.js.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { listSnapshots, takeSnapshot, restoreSnapshot, deleteSnapshot } from '../api.js';
import { field, withBusy, confirmDialog, isLive } from '../ui.js';

// The daemon's rule (server/vm/vm_snap.c): 1-64 bytes of letters, digits and . _ - + : @, not only
// digits, not starting with '-', not . or ..
const NAME_RE = /^[\p{L}\p{N}._\-+:@]+$/u;
export const snapNameOk = (s) => NAME_RE.test(s) && !/^[0-9]+$/.test(s) && !s.startsWith('-') && s !== '.' && s !== '..' &&
  new TextEncoder().encode(s).length <= 64;

export function snapshotsSection({ id, onVm, onError }) {
  const titleId = newId('snap-title');
  const fName = field({ id: newId('snap-name'), label: t('snap.name'),
    input: h('input', { type: 'text', maxlength: 64, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off' }) });
  const takeBtn = h('button', { type: 'submit', class: 'btn', text: t('snap.take') });
  const kind = h('p', { class: 'hint' });
  const msg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'snap-form', novalidate: true }, fName.wrap, kind, h('div', { class: 'row end' }, takeBtn));
  const list = h('ul', { class: 'snap-list', 'aria-labelledby': titleId });
  const empty = h('p', { class: 'hint', text: t('snap.none') });
  const el = h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId, text: t('snap.title') }), form, msg, empty, list);

  let vm = null;
  let alive = true;
  let seq = 0;
  const usable = () => vm && (vm.disks || []).length > 0 &&
    (vm.state === 'stopped' || vm.state === 'crashed' || vm.state === 'running' || vm.state === 'paused');

  function row(s) {
    const restore = h('button', { type: 'button', class: 'btn small', text: t('snap.restore') });
    const del = h('button', { type: 'button', class: 'btn small danger', text: t('snap.delete') });
    const when = new Date(s.created_at * 1000).toLocaleString();
    restore.addEventListener('click', async () => {
      const ok = await confirmDialog({ title: t('snap.restore_title', { name: s.name }),
        message: t(s.memory ? 'snap.restore_message_memory' : 'snap.restore_message_disks'), confirm: t('snap.restore'), danger: true });
      if (!ok) return;
      msg.textContent = '';
      try {
        const v = await withBusy(restore, () => restoreSnapshot(id, s.name));
        msg.textContent = t('snap.restored', { name: s.name });
        if (v && v.id) onVm(v);
      } catch (e) { onError(e); }
    });
    del.addEventListener('click', async () => {
      const ok = await confirmDialog({ title: t('snap.delete_title', { name: s.name }), message: t('snap.delete_message'),
        confirm: t('snap.delete'), danger: true });
      if (!ok) return;
      msg.textContent = '';
      try {
        await withBusy(del, () => deleteSnapshot(id, s.name));
        msg.textContent = t('snap.deleted', { name: s.name });
        refresh();
      } catch (e) { onError(e); }
    });
    restore.disabled = del.disabled = !usable();
    return h('li', { class: 'snap' },
      h('div', {}, h('strong', { text: s.name }), ' ',
        h('span', { class: 'tag', text: s.memory ? t('snap.with_memory') : t('snap.disks_only') }),
        h('div', { class: 'hint', text: when })),
      h('div', { class: 'row' }, restore, del));
  }

  async function refresh() {
    const mine = ++seq;
    try {
      const snaps = await listSnapshots(id);
      if (!alive || mine !== seq) return;
      list.replaceChildren(...snaps.map(row));
      empty.hidden = snaps.length > 0;
    } catch (e) {
      if (alive) onError(e);
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.textContent = '';
    const name = fName.input.value.trim();
    if (!snapNameOk(name)) { fName.error(t('snap.err.name')); fName.input.focus(); return; }
    fName.error('');
    try {
      const s = await withBusy(takeBtn, () => takeSnapshot(id, name));
      fName.input.value = '';
      msg.textContent = t('snap.taken', { name: s.name });
      refresh();
    } catch (err) { onError(err); }
  });

  return {
    el,
    render(v) {
      const stateChanged = !vm || vm.state !== v.state;
      vm = v;
      const noDisk = !(vm.disks || []).length;
      takeBtn.disabled = fName.input.disabled = !usable();
      kind.textContent = noDisk ? t('snap.no_disk') : isLive(vm.state) ? t('snap.kind_memory') : t('snap.kind_disks');
      if (stateChanged) refresh();
    },
    refresh,
    destroy() { alive = false; },
  };
}
