// SPDX-License-Identifier: GPL-2.0-or-later
// vm-shortcuts: the VM page's "App shortcuts" section (PATCH shortcuts): one
// Windows program each, opened alone over RDP (RemoteApp, or the shell of a
// full session) from here or from the VM's card in the library
// (/vm/{id}/rdp?app=NAME). Names and programs are text.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { patchSaver } from './vm-shares.js';
import { field, withBusy } from '../ui.js';

// The daemon's rule (rdp.remote_app): "||alias" or an absolute Windows path, no '"'.
const PROGRAM_RE = /^(\|\|[A-Za-z0-9_. -]+|[A-Za-z]:\\[^"]*|\\\\[^\\"][^"]*|%[^%"]+%[^"]*)$/;
export const shortcutUrl = (id, name) => `/vm/${encodeURIComponent(id)}/rdp?app=${encodeURIComponent(name)}`;

export function shortcutsSection({ id, onSaved, onError }) {
  const titleId = newId('sc-title');
  const list = h('ul', { class: 'snap-list', 'aria-labelledby': titleId });
  const mk = (key, ph, max) => field({ id: newId('sc'), label: t(key),
    input: h('input', { type: 'text', maxlength: max, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: ph }) });
  const fName = mk('sc.name', 'Notepad', 64);
  const fProg = mk('sc.program', 'C:\\Windows\\notepad.exe', 255);
  const fArgs = mk('sc.args', '', 255);
  const modeSel = h('select', {}, h('option', { value: 'rail', text: t('sc.mode_rail') }), h('option', { value: 'shell', text: t('sc.mode_shell') }));
  const fMode = field({ id: newId('sc-mode'), label: t('sc.mode'), input: modeSel });
  const addBtn = h('button', { type: 'submit', class: 'btn', text: t('sc.add') });
  const msg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'snap-form', novalidate: true }, h('p', { class: 'hint', text: t('sc.hint') }),
    fName.wrap, fProg.wrap, fArgs.wrap, fMode.wrap, h('div', { class: 'row end' }, addBtn));
  const el = h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId, text: t('sc.title') }), list, msg, form);
  let vm = null;
  const patch = patchSaver({ id, msg, onSaved, onError });
  const save = (shortcuts, done) => patch({ shortcuts }, done);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const cur = vm.shortcuts || [];
    const name = fName.input.value.trim(), program = fProg.input.value.trim();
    if (!name || cur.some((s) => s.name === name)) { fName.error(t('sc.err.name')); fName.input.focus(); return; }
    fName.error('');
    if (!PROGRAM_RE.test(program) || (modeSel.value === 'shell' && program.startsWith('||'))) { fProg.error(t('sc.err.program')); fProg.input.focus(); return; }
    fProg.error('');
    const ok = await withBusy(addBtn, () => save([...cur, { name, program, args: fArgs.input.value, mode: modeSel.value }], t('sc.added', { name })));
    if (ok) for (const f of [fName, fProg, fArgs]) f.input.value = '';
  });

  return {
    el,
    render(v) {
      vm = v;
      const cur = v.shortcuts || [];
      list.replaceChildren(...cur.map((s, i) => {
        const del = h('button', { type: 'button', class: 'btn small danger', text: t('sc.remove') });
        del.addEventListener('click', () => withBusy(del, () => save(cur.filter((_, k) => k !== i), t('sc.removed', { name: s.name }))));
        return h('li', {},
          h('div', {}, h('strong', { text: s.name }), ' ', h('span', { class: 'tag', text: t(s.mode === 'shell' ? 'sc.mode_shell' : 'sc.mode_rail') }),
            h('div', { class: 'hint mono', text: s.args ? `${s.program} ${s.args}` : s.program })),
          h('div', { class: 'row' }, h('a', { class: 'btn small primary', href: shortcutUrl(id, s.name), 'data-link': true, text: t('sc.open') }), del));
      }));
      if (!cur.length) list.append(h('li', { class: 'hint', text: t('sc.none') }));
      addBtn.disabled = cur.length >= 16;
    },
  };
}
