// SPDX-License-Identifier: GPL-2.0-or-later
// vm-qemu-args: the VM page's "Extra QEMU arguments" section. One argument per line (a value
// with spaces stays one argument; blank lines are ignored), no shell quoting to get wrong. As
// you type, the full command line the VM would start with is previewed through
// PATCH /vms/{id}?dry_run=true (debounced; nothing saved; the daemon's 400 message — a refused
// option, a device this QEMU lacks — is shown in place of it). Copy puts the whole command on
// the clipboard as one shell line. Save PATCHes qemu_args while the VM is stopped.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { previewPatch } from '../api.js';
import { withBusy, shellLine } from '../ui.js';
import { patchSaver } from './vm-shares.js';

const DEBOUNCE_MS = 300;

// The editor's text as the qemu_args list: one argument a line, blank lines dropped.
export function parseArgLines(text) {
  return text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
}

// ARGV as one line a shell would run (each argument quoted where it needs it).
function oneLine(argv) {
  return shellLine(argv).replace(/ \\\n {2}/g, ' ');
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // not a secure context, or no permission: the old way
    const ta = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}

export function qemuArgsSection({ id, onSaved, onError }) {
  const titleId = newId('qargs-title'), taId = newId('qargs-text'), hintId = newId('qargs-hint');
  const ta = h('textarea', { id: taId, rows: 5, spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off',
    class: 'mono', 'aria-describedby': hintId, placeholder: '-device\nvirtio-rng-pci' });
  const hint = h('p', { class: 'hint', id: hintId, text: t('qargs.hint') });
  const preview = h('pre', { class: 'log cmdline-preview', tabindex: '0', 'aria-live': 'polite', 'data-testid': 'qargs-preview' });
  const problem = h('p', { class: 'field-error', role: 'alert', hidden: true });
  const copyBtn = h('button', { type: 'button', class: 'btn', text: t('qargs.copy') });
  const saveBtn = h('button', { type: 'submit', class: 'btn', text: t('qargs.save') });
  const note = h('p', { class: 'hint' });
  const msg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'snap-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: taId, text: t('qargs.label') }), ta, hint),
    note, problem,
    h('div', { class: 'section-head' }, h('h3', { text: t('qargs.preview') }), copyBtn),
    preview,
    h('div', { class: 'row end' }, saveBtn), msg);
  const el = h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId, text: t('qargs.title') }), form);

  const patch = patchSaver({ id, msg, onSaved, onError });
  let timer = null, seq = 0, argv = null, valid = true, stopped = false;

  async function refresh() {
    const mine = ++seq;
    const args = parseArgLines(ta.value);
    try {
      const r = await previewPatch(id, { qemu_args: args });
      if (mine !== seq) return; // a newer keystroke's answer wins
      argv = r.argv;
      valid = true;
      preview.textContent = shellLine(argv);
      problem.hidden = true;
      problem.textContent = '';
    } catch (e) {
      if (mine !== seq) return;
      valid = false;
      problem.textContent = e.message;
      problem.hidden = false;
    }
    saveBtn.disabled = !stopped || !valid;
    copyBtn.disabled = !argv;
  }

  ta.addEventListener('input', () => {
    clearTimeout(timer);
    msg.textContent = '';
    timer = setTimeout(refresh, DEBOUNCE_MS);
  });
  copyBtn.addEventListener('click', async () => {
    if (!argv) return;
    msg.textContent = (await copyText(oneLine(argv))) ? t('qargs.copied') : t('qargs.copy_failed');
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(timer);
    withBusy(saveBtn, () => patch({ qemu_args: parseArgLines(ta.value) }, t('qargs.saved')));
  });

  return {
    el,
    render(v, formsToo) {
      stopped = v.state === 'stopped' || v.state === 'crashed';
      note.textContent = stopped ? '' : t('qargs.stopped');
      saveBtn.disabled = !stopped || !valid;
      if (formsToo) {
        ta.value = (v.qemu_args || []).join('\n');
        refresh();
      }
    },
    destroy() { clearTimeout(timer); seq++; },
  };
}
