// SPDX-License-Identifier: GPL-2.0-or-later
// vm-rdp: the VM page's "Remote desktop (RDP)" section. Where the RDP console
// connects — the VM's own forward of guest port 3389 (rdp.host "") or an
// explicit host:port — editable while the VM is stopped (PATCH rdp, which the
// daemon refuses while it runs), what is stored (username, password set,
// pinned certificate; never the password itself), and "Open RDP console",
// enabled only when the target is usable: an explicit host, or a running VM
// with an active forward of guest port 3389. The graphics mode (rdp.graphics: automatic, the
// pipeline with or without H.264, legacy bitmaps) is saved with the target. Used by pages/vm.js.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { patchVm } from '../api.js';
import { field, withBusy, isLive } from '../ui.js';

export function rdpSection({ id, onSaved, onError }) {
  const name = newId('rdp-target');
  const radio = (value, key) => {
    const r = h('input', { type: 'radio', name, value, id: `${name}-${value}` });
    return { r, el: h('div', { class: 'choice' }, r, h('label', { for: r.id, text: t(key) })) };
  };
  const viaFwd = radio('forward', 'vm.rdp_target_forward');
  const viaHost = radio('host', 'vm.rdp_target_host');
  const fHost = field({ id: newId('rdp-host'), label: t('vm.rdp_host'),
    input: h('input', { type: 'text', maxlength: 255, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'win.example' }) });
  const fPort = field({ id: newId('rdp-port'), label: t('vm.rdp_port'), input: h('input', { type: 'number', min: 1, max: 65535, inputmode: 'numeric' }) });
  const hostPort = h('div', { class: 'rdp-hostport' }, fHost.wrap, fPort.wrap);
  const gfxSel = h('select', {}, ['auto', 'gfx', 'gfx-h264', 'legacy'].map((g) => h('option', { value: g, text: t('vm.rdp_gfx_' + g.replace('-', '_')) })));
  const fGfx = field({ id: newId('rdp-gfx'), label: t('vm.rdp_graphics'), input: gfxSel, hint: t('vm.rdp_graphics_hint') });
  const stoppedNote = h('p', { class: 'hint', text: t('vm.rdp_stopped') });
  const where = h('p', { class: 'hint', id: newId('rdp-where') });
  const stored = h('p', { class: 'hint' });
  const pinned = h('p', { class: 'hint mono' });
  const msg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const saveBtn = h('button', { type: 'submit', class: 'btn', text: t('vm.rdp_save') });
  const openLink = h('a', { class: 'btn primary', href: `/vm/${encodeURIComponent(id)}/rdp`, 'data-link': true,
    text: t('vm.rdp_open'), 'aria-describedby': where.id });
  const titleId = newId('rdp-title');
  const form = h('form', { class: 'rdp-box', novalidate: true },
    h('fieldset', {}, h('legend', { text: t('vm.rdp_target') }), viaFwd.el, viaHost.el, hostPort),
    fGfx.wrap, stoppedNote, where, stored, pinned,
    h('div', { class: 'row end' }, saveBtn, openLink), msg);
  const el = h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId, text: t('vm.rdp') }), form);

  let vm = null;
  const syncHostPort = () => { hostPort.hidden = !viaHost.r.checked; };
  viaFwd.r.addEventListener('change', syncHostPort);
  viaHost.r.addEventListener('change', syncHostPort);

  // The link stays a link (named, focusable); when the target is not usable it is aria-disabled and inert.
  let usable = false;
  function setUsable(ok) {
    usable = ok;
    if (ok) openLink.removeAttribute('aria-disabled');
    else openLink.setAttribute('aria-disabled', 'true');
  }
  openLink.addEventListener('click', (e) => { if (!usable) e.preventDefault(); });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.textContent = '';
    let rdp;
    if (viaHost.r.checked) {
      const host = fHost.input.value.trim();
      const port = Number(fPort.input.value || 3389);
      if (!host) { fHost.error(t('vm.rdp_err_host')); fHost.input.focus(); return; }
      fHost.error('');
      if (!Number.isInteger(port) || port < 1 || port > 65535) { fPort.error(t('vm.rdp_err_port')); fPort.input.focus(); return; }
      fPort.error('');
      rdp = { host, port };
    } else {
      rdp = { host: '', port: 3389 };
    }
    rdp.graphics = gfxSel.value;
    try {
      const v = await withBusy(saveBtn, () => patchVm(id, { rdp }));
      msg.textContent = t('vm.rdp_saved');
      onSaved && onSaved(v);
    } catch (err) {
      onError && onError(err);
    }
  });

  function render(v, formsToo) {
    vm = v;
    const r = vm.rdp || {};
    const editable = vm.state === 'stopped' || vm.state === 'crashed';
    for (const x of [viaFwd.r, viaHost.r, fHost.input, fPort.input, gfxSel]) x.disabled = !editable;
    saveBtn.disabled = !editable;
    stoppedNote.hidden = editable;
    if (formsToo) {
      (r.host ? viaHost : viaFwd).r.checked = true;
      fHost.input.value = r.host || '';
      fPort.input.value = r.port || 3389;
      gfxSel.value = r.graphics || 'auto';
      syncHostPort();
    }
    const fwd = (vm.forwards_active || []).find((f) => f.guest_port === 3389 && (f.proto || 'tcp') === 'tcp');
    const configured = ((vm.network && vm.network.forwards) || []).some((f) => f.guest_port === 3389);
    let ok;
    if (r.host) { ok = true; where.textContent = t('vm.rdp_host_at', { host: r.host, port: r.port || 3389 }); }
    else if (fwd && isLive(vm.state)) { ok = true; where.textContent = t('vm.rdp_forward_at', { port: fwd.host_port }); }
    else { ok = false; where.textContent = configured ? t('vm.rdp_not_running') : t('vm.rdp_no_forward'); }
    setUsable(ok);
    stored.textContent = r.password_set ? t('vm.rdp_creds_set', { user: r.username || '—' }) : t('vm.rdp_creds_none');
    pinned.textContent = r.fingerprint ? t('vm.rdp_pinned', { fingerprint: r.fingerprint }) : '';
    pinned.hidden = !r.fingerprint;
  }

  return { el, render };
}
