// SPDX-License-Identifier: GPL-2.0-or-later
// host page, LAN section (serve --lan): the address other devices open, the
// self-signed certificate's fingerprint to compare with what their browser
// shows, "Pair a device" (POST /api/v1/pairing: the 6-digit code, big, with a
// live countdown to its expiry; the device list is re-read every 2 s while it
// shows, so the new browser appears and the code goes), and the paired
// browsers (GET /api/v1/devices) with Revoke (DELETE, confirmed). Pairing and
// the list are the owner's: a paired device sees a note instead (the daemon
// answers it 403 owner_only anyway). Device names are the daemon's text.
// Used by pages/host.js; lanSection() returns {el, stop}.
import { newPairingCode, listDevices, revokeDevice } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { fmtDate } from '../transfer.js';
import { confirmDialog, errorBanner, withBusy } from '../ui.js';

const POLL_MS = 2000;

// "1:05" for 65 000 ms (rounded up: 0:00 means expired).
const mmss = (ms) => {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

export function lanSection(host) {
  const lan = host.lan;
  const you = host.you || {};
  const el = h('section', { 'aria-labelledby': 'h-lan', class: 'lan' }, h('h2', { id: 'h-lan', text: t('host.lan') }));
  if (!lan) {
    el.append(h('p', { class: 'note', text: t('host.lan_off') }));
    return { el, stop() {} };
  }
  el.append(h('dl', { class: 'facts' },
    h('dt', { text: t('host.lan_url') }), h('dd', {}, h('code', { class: 'mono lan-url', text: lan.url })),
    h('dt', { text: t('host.lan_fp') }), h('dd', {}, h('code', { class: 'mono fingerprint lan-fingerprint', text: lan.fingerprint || '—' }))),
  h('p', { class: 'hint', text: t('host.lan_fp_hint') }));
  if (you.device) {
    el.append(h('p', { class: 'note', dataset: { kind: 'warn' }, text: t('host.you_device') }));
    return { el, stop() {} };
  }

  let alive = true;
  let countdown = null, poll = null;
  let known = new Set(); // device ids listed before the current code was asked for
  const errors = errorBanner();
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const pairBtn = h('button', { type: 'button', class: 'btn primary', text: t('host.pair') });
  const codeEl = h('output', { class: 'pair-code mono', 'aria-label': t('host.pair_code') });
  const timeEl = h('p', { class: 'pair-time' });
  const leadEl = h('p', { text: t('host.pair_lead', { url: lan.url }) });
  const codeBox = h('div', { class: 'panel pair-box', hidden: true }, leadEl, codeEl, timeEl);
  const list = h('tbody');
  const empty = h('p', { class: 'empty-line', text: t('host.devices_none'), hidden: true });
  const table = h('div', { class: 'table-wrap', hidden: true, tabindex: '0', role: 'region', 'aria-label': t('host.devices') },
    h('table', { class: 'grid devices' },
    h('thead', {}, h('tr', {}, ['host.col.name', 'host.col.address', 'host.col.created', 'host.col.seen'].map((k) => h('th', { scope: 'col', text: t(k) })),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: t('host.col.actions') })))),
    list));
  el.append(h('div', { class: 'row' }, pairBtn), codeBox, status, errors.el,
    h('h3', { class: 'h3', id: 'h-devices', text: t('host.devices') }), empty, table);

  function stopCode() {
    clearInterval(countdown); countdown = null;
    clearInterval(poll); poll = null;
  }

  function row(d) {
    const revoke = h('button', { type: 'button', class: 'btn small danger', text: t('host.revoke') });
    revoke.addEventListener('click', async () => {
      errors.clear();
      const ok = await confirmDialog({
        title: t('host.revoke_title', { name: d.name }), message: t('host.revoke_message'),
        confirm: t('host.revoke'), danger: true,
      });
      if (!ok || !alive) return;
      try {
        await withBusy(revoke, () => revokeDevice(d.id));
        status.textContent = t('host.revoked', { name: d.name });
      } catch (e) {
        errors.show(t('host.revoke_failed', { name: d.name, message: e.message }));
      }
      refresh();
    });
    return h('tr', { dataset: { deviceId: d.id } },
      h('th', { scope: 'row', text: d.name }),
      h('td', { class: 'mono', text: d.address || '—' }),
      h('td', { text: fmtDate(d.created) }),
      h('td', { text: d.last_seen ? fmtDate(d.last_seen) : t('host.never') }),
      h('td', {}, revoke));
  }

  let devices = [];
  async function refresh() {
    let got;
    try {
      got = await listDevices();
    } catch (e) {
      if (alive) errors.show(t('host.devices_failed', { message: e.message }));
      return;
    }
    if (!alive) return;
    devices = got;
    list.replaceChildren(...devices.map(row));
    empty.hidden = devices.length > 0;
    table.hidden = devices.length === 0;
    // A browser paired with the code on show: the code is used up.
    const fresh = countdown ? devices.find((d) => !known.has(d.id)) : null;
    if (fresh) {
      stopCode();
      codeBox.hidden = true;
      pairBtn.textContent = t('host.pair');
      status.textContent = t('host.pair_done', { name: fresh.name });
    }
  }

  pairBtn.addEventListener('click', async () => {
    errors.clear();
    status.textContent = '';
    let p;
    try {
      p = await withBusy(pairBtn, () => newPairingCode());
    } catch (e) {
      if (alive) errors.show(t('host.pair_failed', { message: e.message }));
      return;
    }
    if (!alive) return;
    stopCode();
    known = new Set(devices.map((d) => d.id));
    const deadline = performance.now() + Number(p.expires_in_ms || 0);
    codeEl.textContent = p.code;
    codeEl.removeAttribute('data-expired');
    codeBox.hidden = false;
    pairBtn.textContent = t('host.pair_new');
    const tick = () => {
      const left = deadline - performance.now();
      if (left > 0) {
        timeEl.textContent = t('host.pair_expires', { time: mmss(left) });
        return;
      }
      stopCode();
      codeEl.dataset.expired = 'true';
      timeEl.textContent = t('host.pair_expired');
      status.textContent = t('host.pair_expired');
    };
    tick();
    countdown = setInterval(tick, 250);
    poll = setInterval(refresh, POLL_MS);
  });

  refresh();
  return { el, stop() { alive = false; stopCode(); } };
}
