// SPDX-License-Identifier: GPL-2.0-or-later
// ui: small pieces every page shares — state badges, the rules for which VM
// action is valid in which state, action buttons with progress, the error
// banner (the API's message as text), a confirmation dialog, number/size
// formatting. No page state lives here.
import { h } from './dom.js';
import { t } from './i18n.js';
import { vmAction } from './api.js';

export const STATES = ['stopped', 'starting', 'running', 'paused', 'shutting-down', 'crashed', 'orphaned'];

export function stateLabel(state) {
  return STATES.includes(state) ? t('state.' + state) : String(state);
}

export function stateBadge(state) {
  return h('span', { class: 'badge', dataset: { state }, text: stateLabel(state) });
}

export function setBadge(el, state) {
  el.dataset.state = state;
  el.textContent = stateLabel(state);
}

// Actions in display order, with the states each is valid in (docs/api.md).
export const ACTIONS = [
  { id: 'start', label: 'action.start', when: ['stopped', 'crashed'] },
  { id: 'pause', label: 'action.pause', when: ['running'] },
  { id: 'resume', label: 'action.resume', when: ['paused'] },
  { id: 'shutdown', label: 'action.shutdown', when: ['running'] },
  { id: 'kill', label: 'action.kill', when: ['starting', 'running', 'paused', 'shutting-down'], danger: true },
  { id: 'reset', label: 'action.reset', when: ['running', 'paused'] },
];
export const actionValid = (id, state) => !!ACTIONS.find((a) => a.id === id && a.when.includes(state));
export const isLive = (state) => state === 'running' || state === 'paused';

// Run FN with BTN showing progress (disabled, aria-busy, a spinner); resolves to FN's value.
export async function withBusy(btn, fn) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  btn.classList.add('busy');
  try {
    return await fn();
  } finally {
    btn.removeAttribute('aria-busy');
    btn.classList.remove('busy');
    btn.disabled = false;
  }
}

// Buttons for ACTION ids bound to a VM. getVm() gives the current VM; onDone(vm)
// gets the daemon's answer; onError(err) the ApiError. update(state) enables
// only what is valid. busyText is announced in STATUS (optional) while it runs.
export function actionButtons({ ids, getVm, onDone, onError, status, describedBy, small = false }) {
  const map = new Map();
  let running = false;
  for (const a of ACTIONS.filter((x) => ids.includes(x.id))) {
    const b = h('button', {
      type: 'button', class: 'btn' + (a.danger ? ' danger' : '') + (small ? ' small' : ''),
      'aria-describedby': describedBy, dataset: { action: a.id }, text: t(a.label),
    });
    b.addEventListener('click', async () => {
      const vm = getVm();
      if (!vm || running) return;
      running = true;
      if (status) status.textContent = t('progress.' + a.id, { name: vm.name });
      try {
        const res = await withBusy(b, () => vmAction(vm.id, a.id));
        if (status) status.textContent = '';
        onDone && onDone(res);
      } catch (e) {
        if (status) status.textContent = '';
        onError && onError(e);
      } finally {
        running = false;
        update(getVm() && getVm().state);
      }
    });
    map.set(a.id, b);
  }
  function update(state) {
    for (const [id, b] of map) {
      if (b.getAttribute('aria-busy')) continue;
      b.disabled = running || !actionValid(id, state);
    }
  }
  return { buttons: [...map.values()], update, map };
}

// An alert region: show(err|string) puts the message in as text, clear() hides it.
export function errorBanner() {
  const el = h('div', { class: 'alert', role: 'alert', hidden: true });
  return {
    el,
    show(e) {
      const msg = typeof e === 'string' ? e : e && e.message ? e.message : String(e);
      el.textContent = msg;
      el.hidden = false;
    },
    clear() { el.textContent = ''; el.hidden = true; },
  };
}

// A modal confirmation (native <dialog>). Resolves true on confirm.
// extra: optional element (e.g. a checkbox) shown under the message.
export function confirmDialog({ title, message, confirm, cancel = t('common.cancel'), danger = false, extra = null }) {
  return new Promise((resolve) => {
    const titleId = 'dlg-title';
    const ok = h('button', { type: 'submit', value: 'ok', class: 'btn' + (danger ? ' danger' : ' primary'), text: confirm });
    const no = h('button', { type: 'submit', value: 'cancel', class: 'btn', text: cancel });
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('form', { method: 'dialog' },
        h('h2', { id: titleId, text: title }),
        h('p', { text: message }),
        extra,
        h('div', { class: 'row end' }, no, ok)));
    document.body.append(dlg);
    dlg.addEventListener('close', () => {
      const v = dlg.returnValue === 'ok';
      dlg.remove();
      resolve(v);
    });
    dlg.showModal();
    no.focus();
  });
}

export function fmtMiB(mib) {
  if (mib === null || mib === undefined || Number.isNaN(Number(mib))) return '—';
  return mib >= 10240 ? t('unit.gib', { n: (mib / 1024).toFixed(1) }) : t('unit.mib', { n: Math.round(mib) });
}

// A QEMU argv as a shell command (quoted where needed), one option per line
// with backslash continuations: readable, and still runs when pasted.
export function shellLine(argv) {
  const q = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${String(a).replace(/'/g, `'\\''`)}'`);
  let out = '';
  argv.forEach((a, i) => {
    if (i === 0) out = q(a);
    else if (a.startsWith('-')) out += ` \\\n  ${q(a)}`;
    else out += ` ${q(a)}`;
  });
  return out;
}

// A labelled field: returns {wrap, input, error(msg)}; the hint and the error
// are tied to the input with aria-describedby.
export function field({ id, label, input, hint }) {
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: id + '-hint', text: hint }) : null;
  const errEl = h('p', { class: 'field-error', id: id + '-err', hidden: true });
  input.setAttribute('aria-describedby', [hintEl && hintEl.id, errEl.id].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field' }, h('label', { for: id, text: label }), input, hintEl, errEl);
  return {
    wrap, input, hintEl,
    error(msg) {
      errEl.textContent = msg || '';
      errEl.hidden = !msg;
      if (msg) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    },
  };
}
