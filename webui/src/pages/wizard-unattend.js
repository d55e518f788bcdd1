// SPDX-License-Identifier: GPL-2.0-or-later
// The wizard's "Install Windows automatically" (the VM's unattend: docs/windows-unattend.md):
// offered for an x86_64 VM whose CD is Windows (a catalog Windows image, or an ISO whose name
// says so), on by default for the catalog's. The account and its password, the time zone (a
// Windows id, guessed from the browser's zone) and the language (from the browser's, when
// Windows has it). The wizard keeps the values in its state (V.unattend) across Back and Next.
// Beside it, the Windows drivers disc (the VM's drivers_iso: virtio-win), kept in V.drivers.
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { field } from '../ui.js';
import { listImages, startDownload, getDownload } from '../api.js';
import { followDownloads, eventPatch, progressText, catalogLabel } from '../transfer.js';

// A common subset of Windows time zone ids, with the IANA zones that map to each.
const ZONES = [
  ['UTC', ['UTC', 'Etc/UTC']],
  ['GMT Standard Time', ['Europe/London', 'Europe/Dublin', 'Europe/Lisbon']],
  ['W. Europe Standard Time', ['Europe/Berlin', 'Europe/Amsterdam', 'Europe/Rome', 'Europe/Vienna', 'Europe/Stockholm', 'Europe/Zurich', 'Europe/Oslo']],
  ['Romance Standard Time', ['Europe/Paris', 'Europe/Brussels', 'Europe/Madrid', 'Europe/Copenhagen']],
  ['Central Europe Standard Time', ['Europe/Warsaw', 'Europe/Budapest', 'Europe/Prague', 'Europe/Belgrade']],
  ['Russian Standard Time', ['Europe/Moscow']],
  ['India Standard Time', ['Asia/Kolkata', 'Asia/Calcutta']],
  ['China Standard Time', ['Asia/Shanghai', 'Asia/Hong_Kong', 'Asia/Chongqing', 'Asia/Macau']],
  ['Taipei Standard Time', ['Asia/Taipei']],
  ['Singapore Standard Time', ['Asia/Singapore', 'Asia/Kuala_Lumpur']],
  ['Tokyo Standard Time', ['Asia/Tokyo']],
  ['Korea Standard Time', ['Asia/Seoul']],
  ['AUS Eastern Standard Time', ['Australia/Sydney', 'Australia/Melbourne']],
  ['Eastern Standard Time', ['America/New_York', 'America/Toronto', 'America/Detroit']],
  ['Central Standard Time', ['America/Chicago', 'America/Winnipeg']],
  ['Mountain Standard Time', ['America/Denver', 'America/Edmonton']],
  ['Pacific Standard Time', ['America/Los_Angeles', 'America/Vancouver']],
  ['E. South America Standard Time', ['America/Sao_Paulo']],
];
const LOCALES = ['en-US', 'en-GB', 'zh-CN', 'zh-TW', 'ja-JP', 'ko-KR', 'de-DE', 'fr-FR', 'es-ES', 'it-IT', 'pt-BR', 'ru-RU'];

export function guessTimezone() {
  let tz = '';
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { /* none */ }
  const hit = ZONES.find(([, iana]) => iana.includes(tz));
  return hit ? hit[0] : 'UTC';
}

export function guessLocale() {
  const l = (navigator.language || '').replace(/^([a-z]{2})-([a-z]{2})$/i, (_, a, b) => `${a.toLowerCase()}-${b.toUpperCase()}`);
  return LOCALES.includes(l) ? l : LOCALES.find((x) => x.startsWith((l || 'en').slice(0, 2) + '-')) || 'en-US';
}

export const newUnattend = () => ({ on: null, user: '', password: '', timezone: guessTimezone(), locale: guessLocale() });

// Whether the wizard offers it: x86_64 with a Windows CD. FROM_CATALOG: the CD is the catalog's Windows.
export function offerUnattend(v, cdrom) {
  if (v.arch !== 'x86_64' || !cdrom) return false;
  return (v.windowsIso && v.windowsIso === cdrom) || /win/i.test(cdrom.split('/').pop());
}

// The fieldset for the summary step; validate() says whether Create may go on (errors shown).
export function unattendFields(v, available) {
  const u = v.unattend;
  if (u.on === null) u.on = !!v.windowsIso; // on by default for the catalog's Windows
  const box = h('input', { type: 'checkbox', id: 'w-unattend' });
  box.checked = u.on && available;
  box.disabled = !available;
  const user = field({ id: 'w-un-user', label: t('unattend.user'), input: h('input', { type: 'text', autocomplete: 'off', maxlength: 20, value: u.user }) });
  const pw = field({ id: 'w-un-pass', label: t('unattend.password'), input: h('input', { type: 'password', autocomplete: 'new-password', maxlength: 127, value: u.password }),
    hint: t('unattend.password_hint') });
  const tz = h('select', {}, ZONES.map(([id]) => h('option', { value: id, text: id })));
  tz.value = u.timezone;
  const loc = h('select', {}, LOCALES.map((id) => h('option', { value: id, text: id })));
  loc.value = u.locale;
  const fTz = field({ id: 'w-un-tz', label: t('unattend.timezone'), input: tz });
  const fLoc = field({ id: 'w-un-locale', label: t('unattend.locale'), input: loc, hint: t('unattend.locale_hint') });
  const inner = h('div', { class: 'unattend-fields' }, user.wrap, pw.wrap, fTz.wrap, fLoc.wrap);
  const sync = () => {
    u.on = box.checked;
    u.user = user.input.value.trim();
    u.password = pw.input.value;
    u.timezone = tz.value;
    u.locale = loc.value;
    inner.hidden = !u.on;
  };
  for (const el of [box, user.input, pw.input, tz, loc]) el.addEventListener('input', sync);
  user.input.addEventListener('input', () => { if (user.input.value.trim()) user.error(''); });
  pw.input.addEventListener('input', () => { if (pw.input.value) pw.error(''); });
  box.addEventListener('change', sync);
  sync();
  const el = h('fieldset', { class: 'unattend' },
    h('legend', { text: t('unattend.title') }),
    h('div', { class: 'choice' }, box, h('label', { for: 'w-unattend', text: t('unattend.on') })),
    h('p', { class: 'hint', text: available ? t('unattend.hint') : t('unattend.unavailable') }),
    inner);
  function validate() {
    sync();
    if (!u.on) return true;
    let ok = true;
    if (!u.user || /["/\\[\]:;|=,+*?<>@]/.test(u.user)) { user.error(t('unattend.err_user')); ok = false; } else user.error('');
    if (!u.password) { pw.error(t('unattend.err_password')); ok = false; } else pw.error('');
    if (!ok) el.querySelector('[aria-invalid="true"]')?.focus();
    return ok;
  }
  return { el, validate };
}

// The API's "unattend" for the wizard's state, or null.
export function unattendBody(v, cdrom) {
  const u = v.unattend;
  if (!offerUnattend(v, cdrom) || !u.on || !u.user || !u.password) return null;
  return { user: u.user, password: u.password, timezone: u.timezone, locale: u.locale };
}

// The Windows drivers disc (drivers_iso; docs/windows-unattend.md): a virtio-win ISO of the image
// library, or the catalog's drivers entry (kind "drivers") downloaded into it from here. IMAGES: the
// library (null without one); ON_IMAGES gets the library again after a download. stop() stops
// following a download (it goes on in the daemon and lands in the library).
export function driversFields(v, { images, catalog, canDownload, onImages, onChange = () => {} }) {
  const entry = (catalog || []).find((e) => e.kind === 'drivers');
  const sel = h('select', {});
  const fill = (imgs) => {
    const list = (imgs || []).filter((i) => /virtio/i.test(i.name) || i.path === v.drivers);
    sel.replaceChildren(h('option', { value: '', text: t('drivers.none') }), ...list.map((i) => h('option', { value: i.path, text: i.name })));
    sel.value = list.some((i) => i.path === v.drivers) ? v.drivers : '';
    v.drivers = sel.value;
  };
  fill(images);
  sel.addEventListener('change', () => { v.drivers = sel.value; onChange(); });
  const f = field({ id: 'w-drivers', label: t('drivers.label'), input: sel, hint: t('drivers.hint') });
  const progress = h('p', { class: 'hint', id: 'w-drivers-progress', role: 'status', 'aria-live': 'polite' });
  let stop = () => {};
  let btn = null;
  if (entry && canDownload) {
    btn = h('button', { type: 'button', class: 'btn', id: 'w-drivers-dl', text: t('drivers.download', { name: catalogLabel(entry) }) });
    const failed = (msg) => { stop(); btn.disabled = false; progress.textContent = ''; f.error(msg); };
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      f.error('');
      progress.textContent = t('downloads.starting');
      let d;
      try { d = await startDownload({ catalog_id: entry.id }); } catch (e) { failed(e.message); return; }
      if (!d) { failed(t('wizard.no_downloads')); return; }
      let cur = d;
      const update = async (x) => {
        if (x.id && x.id !== d.id) return;
        cur = { ...cur, ...x };
        progress.textContent = cur.state === 'verifying' ? t('wizard.download_verifying') : progressText(cur);
        if (cur.state === 'failed') failed(t('wizard.download_failed', { message: cur.error || '' }));
        else if (cur.state === 'completed' && cur.image_id) {
          stop();
          const imgs = await listImages().catch(() => null);
          const img = (imgs || []).find((i) => i.id === cur.image_id);
          if (!img) { failed(t('wizard.download_failed', { message: '' })); return; }
          v.drivers = img.path;
          fill(imgs);
          onImages(imgs);
          onChange();
          progress.textContent = t('drivers.ready', { name: img.name });
        }
      };
      const reread = () => getDownload(d.id).then(update).catch(() => {});
      stop = followDownloads({
        refresh: reread,
        onEvent(ev) {
          if (ev.download !== d.id) return;
          if (ev.type === 'download.state' && ev.state === 'completed') reread();
          else update(eventPatch(ev));
        },
      });
      update(d);
    });
  }
  const el = h('fieldset', { class: 'drivers' }, h('legend', { text: t('drivers.title') }), f.wrap,
    ...(btn ? [h('div', { class: 'row' }, btn)] : []), progress);
  return { el, stop: () => stop() };
}
