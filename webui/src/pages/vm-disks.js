// SPDX-License-Identifier: GPL-2.0-or-later
// vm-disks: the VM page's "Disks" section (GET/POST /vms/{id}/disks,
// PATCH/DELETE …/disks/{n}). Each disk with its size and the space it really
// takes; grow one (also while the VM runs), detach one (asks first; the file
// is deleted unless kept); add a blank disk or one made from an image of the
// library (copied and converted: the image stays). Paths are text.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { listDisks, addDisk, growDisk, detachDisk, listImages } from '../api.js';
import { field, withBusy, confirmDialog, fmtMiB } from '../ui.js';

const IFACES = ['virtio', 'ahci', 'nvme', 'ide', 'usb'];

export function disksSection({ id, onVm, onError, limits }) {
  const titleId = newId('disks-title');
  const list = h('ul', { class: 'snap-list', 'aria-labelledby': titleId });
  const msg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const fSize = field({ id: newId('disk-size'), label: t('field.disk_size'),
    input: h('input', { type: 'number', min: 1, max: limits.max_disk_gib, step: 1, inputmode: 'numeric', value: 16 }) });
  const ifSel = h('select', {}, IFACES.map((i) => h('option', { value: i, text: i })));
  const fIf = field({ id: newId('disk-if'), label: t('disks.interface'), input: ifSel });
  const srcSel = h('select', {}, h('option', { value: '', text: t('disks.blank') }));
  const fSrc = field({ id: newId('disk-src'), label: t('disks.source'), input: srcSel, hint: t('disks.source_hint') });
  const addBtn = h('button', { type: 'submit', class: 'btn', text: t('disks.add') });
  const stoppedNote = h('p', { class: 'hint', text: t('disks.stopped') });
  const form = h('form', { class: 'snap-form', novalidate: true }, fSrc.wrap, fSize.wrap, fIf.wrap, stoppedNote, h('div', { class: 'row end' }, addBtn));
  const el = h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId, text: t('disks.title') }), list, msg, form);

  let vm = null;
  let alive = true;
  let seq = 0;
  const stopped = () => vm && (vm.state === 'stopped' || vm.state === 'crashed');
  const canGrow = () => vm && (stopped() || vm.state === 'running' || vm.state === 'paused');

  function row(d, i) {
    const label = t('disks.disk', { n: i, size: d.size_gib, iface: d.interface });
    const used = d.allocated_bytes != null ? t('disks.used', { used: fmtMiB(Math.ceil(d.allocated_bytes / 1048576)) }) : (d.error || '');
    const grow = h('input', { type: 'number', min: d.size_gib + 1, max: limits.max_disk_gib, step: 1, inputmode: 'numeric',
      value: d.size_gib + 1, 'aria-label': t('disks.grow_to', { n: i }), class: 'num' });
    const growBtn = h('button', { type: 'button', class: 'btn small', text: t('disks.grow') });
    const del = h('button', { type: 'button', class: 'btn small danger', text: t('disks.detach') });
    growBtn.addEventListener('click', async () => {
      const n = Number(grow.value);
      if (!Number.isInteger(n) || n <= d.size_gib) { onError(new Error(t('disks.err.grow', { size: d.size_gib }))); return; }
      msg.textContent = '';
      try {
        const v = await withBusy(growBtn, () => growDisk(id, i, n));
        msg.textContent = t('disks.grown', { n: i, size: n });
        onVm(v);
      } catch (e) { onError(e); }
    });
    del.addEventListener('click', async () => {
      const keepId = newId('keep-disk');
      const keep = h('input', { type: 'checkbox', id: keepId });
      const ok = await confirmDialog({ title: t('disks.detach_title', { n: i }), message: t('disks.detach_message'),
        confirm: t('disks.detach'), danger: true, extra: h('div', { class: 'choice' }, keep, h('label', { for: keepId, text: t('disks.keep') })) });
      if (!ok) return;
      msg.textContent = '';
      try {
        const out = await withBusy(del, () => detachDisk(id, i, keep.checked));
        msg.textContent = out.kept ? t('disks.kept', { path: out.kept }) : t('disks.deleted', { n: i });
        onVm(null);
      } catch (e) { onError(e); }
    });
    growBtn.disabled = grow.disabled = !canGrow();
    del.disabled = !stopped();
    return h('li', {},
      h('div', {}, h('strong', { text: label }), h('div', { class: 'hint mono', text: d.path }), h('div', { class: 'hint', text: used })),
      h('div', { class: 'row' }, grow, growBtn, del));
  }

  async function refresh() {
    const mine = ++seq;
    try {
      const disks = await listDisks(id);
      if (!alive || mine !== seq) return;
      list.replaceChildren(...disks.map(row));
      if (!disks.length) list.append(h('li', { class: 'hint', text: t('wizard.no_disk') }));
    } catch (e) {
      if (alive) onError(e);
    }
  }

  async function loadImages() {
    try {
      const imgs = await listImages();
      if (!alive || !imgs) return;
      srcSel.replaceChildren(h('option', { value: '', text: t('disks.blank') }),
        ...imgs.filter((im) => !/\.iso$/i.test(im.name)).map((im) => h('option', { value: im.path, text: im.name })));
    } catch { /* the library is optional here */ }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.textContent = '';
    const body = { interface: ifSel.value };
    const n = Number(fSize.input.value);
    if (srcSel.value) {
      body.source = srcSel.value;
      if (fSize.input.value !== '' && n > 0) body.size_gib = n;
    } else {
      if (!Number.isInteger(n) || n < 1 || n > limits.max_disk_gib) { fSize.error(t('wizard.err.disk_max', { max: limits.max_disk_gib })); fSize.input.focus(); return; }
      body.size_gib = n;
    }
    fSize.error('');
    try {
      const v = await withBusy(addBtn, () => addDisk(id, body));
      msg.textContent = t('disks.added');
      onVm(v);
    } catch (err) { onError(err); }
  });

  loadImages();
  return {
    el,
    render(v) {
      vm = v;
      addBtn.disabled = !stopped() || (vm.disks || []).length >= limits.max_disks;
      stoppedNote.hidden = stopped();
      if (!ifSel.dataset.set && (vm.disks || []).length) { ifSel.value = vm.disks[0].interface; ifSel.dataset.set = '1'; }
      refresh();
    },
    destroy() { alive = false; },
  };
}
