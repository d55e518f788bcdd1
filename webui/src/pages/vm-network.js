// SPDX-License-Identifier: GPL-2.0-or-later
// vm-network: the VM page's "Network" section (PATCH network while the VM is
// stopped): user networking on or off, the NIC model, and the ports forwarded
// from 127.0.0.1 on this machine to the guest (host port 0 = one the host
// picks; the ports in use are shown while the VM runs). A forward of guest
// port 3389 is what the RDP console of the VM's own Windows uses.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { field, withBusy } from '../ui.js';
import { patchSaver } from './vm-shares.js';

const NICS = { x86_64: ['e1000e', 'e1000', 'rtl8139', 'virtio-net-pci'], i386: ['e1000e', 'e1000', 'rtl8139', 'virtio-net-pci'],
  aarch64: ['e1000e', 'virtio-net-pci'] };

export function networkSection({ id, onSaved, onError }) {
  const titleId = newId('net-title');
  const onId = newId('net-on');
  const onBox = h('input', { type: 'checkbox', id: onId });
  const nicSel = h('select', {});
  const fNic = field({ id: newId('net-nic'), label: t('net.nic'), input: nicSel });
  const saveBtn = h('button', { type: 'button', class: 'btn', text: t('net.save') });
  const list = h('ul', { class: 'snap-list', 'aria-label': t('vm.forwards') });
  const fGuest = field({ id: newId('fw-guest'), label: t('net.guest_port'), input: h('input', { type: 'number', min: 1, max: 65535, inputmode: 'numeric', placeholder: '22' }) });
  const fHost = field({ id: newId('fw-host'), label: t('net.host_port'), input: h('input', { type: 'number', min: 0, max: 65535, inputmode: 'numeric', value: 0 }),
    hint: t('net.host_port_hint') });
  const protoSel = h('select', {}, h('option', { value: 'tcp', text: 'TCP' }), h('option', { value: 'udp', text: 'UDP' }));
  const fProto = field({ id: newId('fw-proto'), label: t('net.proto'), input: protoSel });
  const addBtn = h('button', { type: 'submit', class: 'btn', text: t('net.add') });
  const note = h('p', { class: 'hint' });
  const msg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'snap-form', novalidate: true }, fGuest.wrap, fHost.wrap, fProto.wrap, h('div', { class: 'row end' }, addBtn));
  const el = h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId, text: t('net.title') }),
    h('div', { class: 'snap-form' }, h('div', { class: 'choice' }, onBox, h('label', { for: onId, text: t('net.on') })), fNic.wrap,
      h('div', { class: 'row end' }, saveBtn)),
    h('h3', { class: 'h3', text: t('vm.forwards') }), list, note, form, msg);
  const patch = patchSaver({ id, msg, onSaved, onError });
  let vm = null;
  const forwards = () => ((vm.network && vm.network.forwards) || []).map((f) => ({ proto: f.proto || 'tcp', host_port: f.host_port || 0, guest_port: f.guest_port }));

  saveBtn.addEventListener('click', () => withBusy(saveBtn, () => patch({ network: { mode: onBox.checked ? 'user' : 'none', nic: nicSel.value } }, t('net.saved'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const g = Number(fGuest.input.value), hp = Number(fHost.input.value || 0);
    if (!Number.isInteger(g) || g < 1 || g > 65535) { fGuest.error(t('net.err.port')); fGuest.input.focus(); return; }
    fGuest.error('');
    if (!Number.isInteger(hp) || hp < 0 || hp > 65535) { fHost.error(t('net.err.port')); fHost.input.focus(); return; }
    fHost.error('');
    const ok = await withBusy(addBtn, () => patch({ network: { forwards: [...forwards(), { proto: protoSel.value, host_port: hp, guest_port: g }] } },
      t('net.added', { port: g })));
    if (ok) fGuest.input.value = '';
  });

  return {
    el,
    render(v, formsToo) {
      vm = v;
      const stopped = v.state === 'stopped' || v.state === 'crashed';
      const net = v.network || {};
      if (formsToo || !nicSel.options.length) {
        nicSel.replaceChildren(...(NICS[v.arch] || NICS.x86_64).map((n) => h('option', { value: n, text: n })));
        nicSel.value = net.nic || 'e1000e';
        onBox.checked = net.mode !== 'none';
      }
      const active = v.forwards_active || [];
      const cur = forwards();
      list.replaceChildren(...cur.map((f, i) => {
        const live = active.find((a) => a.guest_port === f.guest_port && (a.proto || 'tcp') === f.proto);
        const del = h('button', { type: 'button', class: 'btn small danger', text: t('net.remove'), disabled: !stopped });
        del.addEventListener('click', () => withBusy(del, () => patch({ network: { forwards: cur.filter((_, k) => k !== i) } }, t('net.removed', { port: f.guest_port }))));
        const hostText = live ? `127.0.0.1:${live.host_port}` : f.host_port ? `127.0.0.1:${f.host_port}` : t('net.host_any');
        return h('li', {}, h('div', { class: 'mono', text: `${f.proto.toUpperCase()} ${hostText} → ${t('net.guest')} ${f.guest_port}` }), del);
      }));
      if (!cur.length) list.append(h('li', { class: 'hint', text: t('net.none') }));
      for (const x of [onBox, nicSel, saveBtn, fGuest.input, fHost.input, protoSel, addBtn]) x.disabled = !stopped;
      note.textContent = stopped ? t('net.hint') : t('net.stopped');
    },
  };
}
