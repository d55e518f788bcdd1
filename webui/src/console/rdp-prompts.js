// SPDX-License-Identifier: GPL-2.0-or-later
// rdp-prompts: the RDP console's two modal dialogs (native <dialog>).
//   credentialsDialog — Username, Password, Domain, "Remember for this VM";
//     save(values) runs on submit (the page PATCHes rdp); its error stays in the
//     dialog as text. Resolves {username, password, domain, remember} or null.
//   fingerprintDialog — the server's message and certificate fingerprint (as
//     text), "Trust this certificate" runs save(); resolves true once saved.
// Messages come from the RDP server or the daemon: textContent only.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { withBusy } from '../ui.js';

// FreeRDP prints SHA-256 fingerprints as aa:bb:…; the worker names it in its error.
export const FINGERPRINT_RE = /fingerprint is ([0-9a-f]{2}(?::[0-9a-f]{2})+)/i;

function modal(titleKey, body, okKey, onOk) {
  return new Promise((resolve) => {
    const titleId = newId('dlg');
    const err = h('p', { class: 'field-error', role: 'alert', hidden: true });
    const ok = h('button', { type: 'submit', class: 'btn primary', text: t(okKey) });
    const no = h('button', { type: 'button', class: 'btn', text: t('common.cancel') });
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', { id: titleId, text: t(titleKey) }), body, err, h('div', { class: 'row end' }, no, ok));
    const dlg = h('dialog', { class: 'dialog rdp-dialog', 'aria-labelledby': titleId }, form);
    let result = null;
    no.addEventListener('click', () => dlg.close());
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.hidden = true;
      try {
        result = await withBusy(ok, onOk);
        dlg.close();
      } catch (x) {
        err.textContent = x && x.message ? x.message : String(x);
        err.hidden = false;
      }
    });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

export function credentialsDialog({ message = '', username = '', domain = '', save }) {
  const input = (id, type, value, autocomplete) => {
    const el = h('input', { id, type, autocomplete, spellcheck: 'false', autocapitalize: 'off', maxlength: 255 });
    el.value = value;
    return el;
  };
  const fieldOf = (key, el) => h('div', { class: 'field' }, h('label', { for: el.id, text: t(key) }), el);
  const user = input(newId('rdp-user'), 'text', username, 'username');
  const pass = input(newId('rdp-pass'), 'password', '', 'current-password');
  const dom = input(newId('rdp-domain'), 'text', domain, 'off');
  const remember = h('input', { type: 'checkbox', id: newId('rdp-remember') });
  remember.checked = true;
  const body = h('div', {},
    h('p', { class: 'hint', text: t('rdp.creds_hint') }),
    message ? h('p', { class: 'alert', text: message }) : null,
    fieldOf('rdp.username', user), fieldOf('rdp.password', pass), fieldOf('rdp.domain', dom),
    h('div', { class: 'choice' }, remember, h('label', { for: remember.id, text: t('rdp.remember') })),
    h('p', { class: 'hint', text: t('rdp.remember_hint') }));
  const p = modal('rdp.creds_title', body, 'rdp.connect', async () => {
    const v = { username: user.value, password: pass.value, domain: dom.value.trim(), remember: remember.checked };
    await save(v);
    return v;
  });
  (username ? pass : user).focus();
  return p;
}

export function fingerprintDialog({ message, fingerprint, save }) {
  const body = h('div', {},
    h('p', { text: t('rdp.cert_hint') }),
    h('p', { class: 'alert', text: message }),
    h('p', { class: 'hint', text: t('rdp.fingerprint') }),
    h('pre', { class: 'fingerprint', tabindex: '0', text: fingerprint }));
  return modal('rdp.cert_title', body, 'rdp.trust', async () => { await save(); return true; })
    .then((r) => r === true);
}
