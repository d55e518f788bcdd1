// SPDX-License-Identifier: GPL-2.0-or-later
// vm-shares: two sections of the VM page, both PATCHing the VM while it is
// stopped. "Shared folders": host directories the guest mounts over virtio-9p
// or virtiofs (a virtiofsd per folder; offered when GET /host says it can run)
// by their tag (the hint shows the mount command); "Linux kernel boot": QEMU
// starts a kernel (and initrd, with a command line) itself instead of the boot
// order. Paths are text; the daemon checks that they exist.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { patchVm, getHost } from '../api.js';
import { field, withBusy } from '../ui.js';

const TAG_RE = /^[A-Za-z0-9_.-]{1,31}$/;

// PATCH FIELDS on the VM; MSG says DONE and onSaved gets the VM, or onError the failure. True when saved.
export function patchSaver({ id, msg, onSaved, onError }) {
  return async (fields, done) => {
    msg.textContent = '';
    try {
      const v = await patchVm(id, fields);
      msg.textContent = done;
      onSaved(v);
      return true;
    } catch (e) { onError(e); return false; }
  };
}

export function sharesSection({ id, onSaved, onError }) {
  const titleId = newId('shares-title');
  const list = h('ul', { class: 'snap-list', 'aria-labelledby': titleId });
  const fPath = field({ id: newId('share-path'), label: t('shares.path'),
    input: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: '/home/me/Shared' }) });
  const fTag = field({ id: newId('share-tag'), label: t('shares.tag'),
    input: h('input', { type: 'text', maxlength: 31, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'shared' }) });
  const roId = newId('share-ro');
  const ro = h('input', { type: 'checkbox', id: roId });
  const modeSel = h('select', {},
    h('option', { value: '9p', text: t('shares.mode.9p') }),
    h('option', { value: 'virtiofs', text: t('shares.mode.virtiofs') }));
  const fMode = field({ id: newId('share-mode'), label: t('shares.mode'), input: modeSel });
  let virtiofsOk = false;
  getHost().then((host) => {
    virtiofsOk = !!(host.virtiofs && host.virtiofs.available);
    modeSel.options[1].disabled = !virtiofsOk;
    if (!virtiofsOk) fMode.wrap.append(h('p', { class: 'hint', text: t('shares.virtiofs_off') }));
  }).catch(() => {});
  const addBtn = h('button', { type: 'submit', class: 'btn', text: t('shares.add') });
  const note = h('p', { class: 'hint' });
  const msg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'snap-form', novalidate: true }, fPath.wrap, fTag.wrap, fMode.wrap,
    h('div', { class: 'choice' }, ro, h('label', { for: roId, text: t('shares.readonly') })), note, h('div', { class: 'row end' }, addBtn));
  const el = h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId, text: t('shares.title') }), list, msg, form);
  let vm = null;
  const patch = patchSaver({ id, msg, onSaved, onError });
  const save = (shares, done) => patch({ shared_folders: shares }, done);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const path = fPath.input.value.trim(), tag = fTag.input.value.trim();
    if (!path.startsWith('/')) { fPath.error(t('shares.err.path')); fPath.input.focus(); return; }
    fPath.error('');
    const cur = vm.shared_folders || [];
    if (!TAG_RE.test(tag) || cur.some((s) => s.tag === tag)) { fTag.error(t('shares.err.tag')); fTag.input.focus(); return; }
    fTag.error('');
    const mode = modeSel.value === 'virtiofs' && virtiofsOk ? 'virtiofs' : '9p';
    const ok = await withBusy(addBtn, () => save([...cur, { path, tag, readonly: ro.checked, mode }], t('shares.added', { tag })));
    if (ok) { fPath.input.value = ''; fTag.input.value = ''; ro.checked = false; modeSel.value = '9p'; }
  });

  return {
    el,
    render(v) {
      vm = v;
      const stopped = v.state === 'stopped' || v.state === 'crashed';
      const cur = v.shared_folders || [];
      list.replaceChildren(...cur.map((s, i) => {
        const del = h('button', { type: 'button', class: 'btn small danger', text: t('shares.remove'), disabled: !stopped });
        del.addEventListener('click', () => withBusy(del, () => save(cur.filter((_, k) => k !== i), t('shares.removed', { tag: s.tag }))));
        return h('li', {},
          h('div', {}, h('strong', { text: s.tag }), ' ', h('span', { class: 'tag', text: s.mode === 'virtiofs' ? 'virtiofs' : '9p' }), ' ',
            s.readonly ? h('span', { class: 'tag', text: t('shares.readonly_tag') }) : null,
            h('div', { class: 'hint mono', text: s.path }),
            h('div', { class: 'hint mono', text: s.mode === 'virtiofs' ? `mount -t virtiofs ${s.tag} /mnt/${s.tag}`
              : `mount -t 9p -o trans=virtio,version=9p2000.L ${s.tag} /mnt/${s.tag}` })),
          del);
      }));
      if (!cur.length) list.append(h('li', { class: 'hint', text: t('shares.none') }));
      for (const x of [fPath.input, fTag.input, modeSel, ro, addBtn]) x.disabled = !stopped || cur.length >= 4;
      note.textContent = stopped ? t('shares.hint') + (cur.some((s) => s.mode === 'virtiofs') ? ' ' + t('shares.virtiofs_note') : '')
        : t('shares.stopped');
    },
  };
}

export function kernelSection({ id, onSaved, onError }) {
  const titleId = newId('kboot-title');
  const mk = (key, ph) => field({ id: newId('kboot'), label: t(key),
    input: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: ph }) });
  const fKernel = mk('kboot.kernel', '/boot/vmlinuz');
  const fInitrd = mk('kboot.initrd', '/boot/initrd.img');
  const fCmd = mk('kboot.cmdline', 'console=ttyS0 root=/dev/vda1');
  const saveBtn = h('button', { type: 'submit', class: 'btn', text: t('kboot.save') });
  const clearBtn = h('button', { type: 'button', class: 'btn', text: t('kboot.clear') });
  const note = h('p', { class: 'hint' });
  const msg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'snap-form', novalidate: true }, note, fKernel.wrap, fInitrd.wrap, fCmd.wrap,
    h('div', { class: 'row end' }, clearBtn, saveBtn), msg);
  const el = h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId, text: t('kboot.title') }), form);

  const patch = patchSaver({ id, msg, onSaved, onError });
  const save = (body, done) => patch({ kernel_boot: body }, done);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const kernel = fKernel.input.value.trim();
    if (!kernel.startsWith('/')) { fKernel.error(t('shares.err.path')); fKernel.input.focus(); return; }
    fKernel.error('');
    const initrd = fInitrd.input.value.trim();
    if (initrd && !initrd.startsWith('/')) { fInitrd.error(t('shares.err.path')); fInitrd.input.focus(); return; }
    fInitrd.error('');
    withBusy(saveBtn, () => save({ kernel, initrd: initrd || null, cmdline: fCmd.input.value.trim() }, t('kboot.saved')));
  });
  clearBtn.addEventListener('click', () => withBusy(clearBtn, () => save(null, t('kboot.cleared'))));

  return {
    el,
    render(v, formsToo) {
      const stopped = v.state === 'stopped' || v.state === 'crashed';
      for (const x of [fKernel.input, fInitrd.input, fCmd.input, saveBtn]) x.disabled = !stopped;
      clearBtn.disabled = !stopped || !v.kernel_boot;
      note.textContent = v.kernel_boot ? t('kboot.on') : t('kboot.off');
      if (formsToo) {
        const k = v.kernel_boot || {};
        fKernel.input.value = k.kernel || '';
        fInitrd.input.value = k.initrd || '';
        fCmd.input.value = k.cmdline || '';
      }
    },
  };
}
