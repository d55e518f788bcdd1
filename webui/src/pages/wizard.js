// SPDX-License-Identifier: GPL-2.0-or-later
// wizard page (/new): a new VM in five steps — source (an ISO from the image
// library, an ISO path on this device, a download into the library — an OS
// from the offline catalog for an arch the host runs, or any URL — with its
// progress shown live from the event stream, or none; /new?image=ID preselects
// a library image) →
// architecture (with a note when it runs emulated) → memory and CPUs (the
// host's limits shown, over-limit values refused before submit) → disk →
// summary with the exact QEMU command line (POST /vms?dry_run=true, which also
// runs every check of the create; Create stays disabled while it reports an
// error). Create, then start and open the console. An ISO path is checked by the
// daemon as it is typed (POST /host/check-path: inside the allowed roots, there,
// readable), and Next waits for that answer.
// Host facts come from GET /api/v1/host; every API error is shown as text.
import { newUnattend, offerUnattend, unattendFields, unattendBody, driversFields } from './wizard-unattend.js';
import { getHost, checkPath, listImages, previewCreate, createVm, vmAction, vmCmdline, startDownload, getDownload } from '../api.js';
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { errorBanner, field, withBusy, shellLine, fmtMiB } from '../ui.js';
import { getCatalog, followDownloads, eventPatch, progressText, setProgress, catalogLabel, importHint, fmtBytes } from '../transfer.js';

const STEPS = ['source', 'arch', 'resources', 'disk', 'summary'];
const ARCH_ORDER = ['x86_64', 'aarch64', 'i386'];

export function mount(root) {
  document.title = t('wizard.title') + ' — ' + t('app.title');
  const errors = errorBanner();
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', text: t('wizard.loading') });
  const stepList = h('ol', { class: 'steps' });
  const body = h('div', { class: 'wizard-body' });
  const form = h('form', { class: 'wizard', novalidate: true }, stepList, errors.el, body);
  root.append(h('main', { class: 'page narrow', id: 'main' }, h('h1', { text: t('wizard.title') }), status, form));

  let alive = true;
  let host = null;
  let images = null;
  let step = 0;
  let unattend = null; // the summary's "Install Windows automatically" (wizard-unattend.js), when offered
  let drivers = null; // the summary's Windows drivers disc (wizard-unattend.js), when offered
  const v = { name: '', source: 'path', image: '', path: '', url: '', sha: '', arch: 'x86_64', memory: 1024, cpus: 1, disk: 16, audio: true, unattend: newUnattend(),
    drivers: '', catalogId: '', catArch: '' };
  let catalog = null; // OS catalog entries (GET /catalog), null without one
  let catalogErr = null; // the ApiError when it cannot be read
  let dl = null; // the download in progress: {id, el, bar, text}
  let downloadsAvailable = true;
  let pathChecked = { path: null, ok: false }; // the daemon's last answer for an ISO path

  function renderSteps() {
    stepList.replaceChildren(...STEPS.map((s, i) => h('li', {
      class: i === step ? 'current' : i < step ? 'done' : '', 'aria-current': i === step ? 'step' : null,
      text: t('wizard.step.' + s),
    })));
  }

  function nav(nextLabel = t('wizard.next')) {
    const back = h('button', { type: 'button', class: 'btn', text: t('wizard.back'), disabled: step === 0 });
    back.addEventListener('click', () => { step--; show(); });
    const next = h('button', { type: 'submit', class: 'btn primary', text: nextLabel });
    return h('div', { class: 'row end wizard-nav' },
      h('a', { href: '/', 'data-link': true, class: 'btn ghost', text: t('common.cancel') }), back, next);
  }

  // Each step renders its fields and returns validate() → true when it may advance.
  const steps = {
    source() {
      const name = field({ id: 'w-name', label: t('field.name'),
        input: h('input', { type: 'text', value: v.name, autocomplete: 'off', required: true, maxlength: host.limits.name_max_bytes }),
        hint: t('wizard.name_hint') });
      const radios = [];
      const radio = (val, label, disabled = false) => {
        const id = newId('src');
        const r = h('input', { type: 'radio', name: 'source', id, value: val, disabled });
        r.checked = v.source === val;
        r.addEventListener('change', () => { v.source = val; sync(); });
        radios.push(r);
        return h('div', { class: 'choice' }, r, h('label', { for: id, text: label }));
      };
      const haveImages = images && images.length > 0;
      if (!haveImages && v.source === 'image') v.source = 'path';
      const imgSel = h('select', {}, (images || []).map((i) => h('option', { value: i.path, text: i.name })));
      if (v.image) imgSel.value = v.image;
      const img = field({ id: 'w-image', label: t('field.image'), input: imgSel,
        hint: images === null ? t('wizard.no_library') : haveImages ? null : t('wizard.library_empty') });
      const path = field({ id: 'w-iso', label: t('field.iso_path'),
        input: h('input', { type: 'text', value: v.path, autocomplete: 'off', placeholder: '/path/to/installer.iso', spellcheck: 'false' }),
        hint: t('wizard.iso_hint') });
      const url = field({ id: 'w-url', label: t('field.url'),
        input: h('input', { type: 'url', value: v.url, autocomplete: 'off', placeholder: 'https://…/installer.iso', spellcheck: 'false' }),
        hint: t('wizard.url_hint') });
      // The daemon checks the path as it is typed (300 ms after the last key) and when Next is pressed.
      const pathInfo = h('p', { class: 'hint', id: 'w-iso-check', role: 'status', 'aria-live': 'polite' });
      path.wrap.append(pathInfo);
      path.input.setAttribute('aria-describedby', `${path.input.getAttribute('aria-describedby')} w-iso-check`);
      let checkTimer = 0;
      let checkSeq = 0;
      const checkIso = (then) => {
        clearTimeout(checkTimer);
        const p = path.input.value.trim();
        const my = ++checkSeq;
        if (!p.startsWith('/')) {
          pathChecked = { path: p, ok: false };
          pathInfo.textContent = '';
          path.error(p ? t('wizard.err.iso_path') : '');
          return;
        }
        pathInfo.textContent = t('wizard.path_checking');
        checkPath(p, 'file').then((r) => {
          if (!alive || my !== checkSeq) return;
          pathChecked = { path: p, ok: true };
          path.error('');
          pathInfo.textContent = t('wizard.path_ok', { size: fmtBytes(r.size) });
          if (then) then();
        }).catch((e) => {
          if (!alive || my !== checkSeq) return;
          pathChecked = { path: p, ok: false };
          pathInfo.textContent = '';
          path.error(e.message);
          if (then) path.input.focus();
        });
      };
      path.input.addEventListener('input', () => {
        clearTimeout(checkTimer);
        checkSeq++; // an answer for what was there before is not shown
        pathInfo.textContent = '';
        checkTimer = setTimeout(() => checkIso(), 300);
      });
      if (v.path) checkIso();
      const sha = field({ id: 'w-sha', label: t('field.sha256'),
        input: h('input', { type: 'text', value: v.sha, autocomplete: 'off', spellcheck: 'false', maxlength: 64 }) });
      const dlBox = h('div', { class: 'download' }, url.wrap, sha.wrap);
      // The OS catalog: entries for one architecture the host can run (default: the host's own).
      // A drivers disc (kind "drivers": virtio-win) is no OS: the summary offers it beside Windows.
      const osEntries = (catalog || []).filter((e) => !e.kind);
      const catArches = ['x86_64', 'aarch64'].filter((a) => host.arches[a] && host.arches[a].available &&
        osEntries.some((e) => e.arch === a));
      if (!catArches.includes(v.catArch)) v.catArch = catArches.includes(host.host_arch) ? host.host_arch : catArches[0] || '';
      const catArchSel = h('select', {}, catArches.map((a) => h('option', { value: a, text: a })));
      catArchSel.value = v.catArch;
      const catArch = field({ id: 'w-cat-arch', label: t('field.catalog_arch'), input: catArchSel });
      const catOsSel = h('select', {});
      const catOs = field({ id: 'w-cat-os', label: t('field.catalog_os'), input: catOsSel, hint: t('wizard.catalog_hint') });
      const msNote = h('p', { class: 'note', dataset: { kind: 'warn' }, text: t('wizard.catalog_ms'), hidden: true });
      const fillOs = () => {
        const list = osEntries.filter((e) => e.arch === v.catArch);
        catOsSel.replaceChildren(...list.map((e) => h('option', { value: e.id, text: catalogLabel(e) })));
        if (list.some((e) => e.id === v.catalogId)) catOsSel.value = v.catalogId;
        v.catalogId = catOsSel.value;
        catOs.error(list.length ? '' : t('wizard.catalog_empty', { arch: v.catArch }));
        const e = list.find((x) => x.id === v.catalogId);
        msNote.hidden = !(e && e.microsoft);
      };
      catArchSel.addEventListener('change', () => { v.catArch = catArchSel.value; fillOs(); });
      catOsSel.addEventListener('change', () => { v.catalogId = catOsSel.value; fillOs(); });
      fillOs();
      const catBox = h('div', { class: 'catalog' }, catArch.wrap, catOs.wrap, msNote);
      const haveCatalog = catArches.length > 0;
      if (!haveCatalog && v.source === 'catalog') v.source = 'path';
      const sync = () => {
        img.wrap.hidden = v.source !== 'image';
        path.wrap.hidden = v.source !== 'path';
        dlBox.hidden = v.source !== 'download';
        catBox.hidden = v.source !== 'catalog';
      };
      const fs = h('fieldset', {}, h('legend', { text: t('wizard.source_legend') }),
        radio('image', t('wizard.source.image'), !haveImages),
        img.wrap,
        radio('path', t('wizard.source.path')),
        path.wrap,
        radio('catalog', t('wizard.source.catalog'), !downloadsAvailable || !haveCatalog),
        catalogErr ? h('p', { class: 'hint', text: t('wizard.catalog_failed', { message: catalogErr.message }) }) : null,
        catBox,
        radio('download', t('wizard.source.download'), !downloadsAvailable),
        dlBox,
        radio('none', t('wizard.source.none')));
      body.append(name.wrap, fs);
      if (dl) body.append(dl.el);
      sync();
      return () => {
        v.name = name.input.value.trim();
        v.image = imgSel.value;
        v.path = path.input.value.trim();
        let ok = true;
        const bytes = new TextEncoder().encode(v.name).length;
        if (!v.name) { name.error(t('wizard.err.name_required')); ok = false; }
        else if (bytes > host.limits.name_max_bytes) { name.error(t('wizard.err.name_long', { n: host.limits.name_max_bytes })); ok = false; }
        else name.error('');
        let waitForPath = false;
        if (v.source === 'path') {
          if (!v.path.startsWith('/')) { path.error(t('wizard.err.iso_path')); ok = false; }
          else if (pathChecked.path !== v.path) waitForPath = true; // asked below; Next goes on once it is usable
          else if (!pathChecked.ok) ok = false; // the daemon's reason is shown under the field
        }
        v.url = url.input.value.trim();
        v.sha = sha.input.value.trim().toLowerCase();
        if (v.source === 'download') {
          if (!/^https?:\/\/\S+$/i.test(v.url)) { url.error(t('wizard.err.url')); ok = false; } else url.error('');
          if (v.sha && !/^[0-9a-f]{64}$/.test(v.sha)) { sha.error(t('wizard.err.sha')); ok = false; } else sha.error('');
        }
        if (!ok) { body.querySelector('[aria-invalid="true"]')?.focus(); return false; }
        if (waitForPath) { checkIso(() => { if (STEPS[step] === 'source') { step++; show(); } }); return false; }
        if (v.source === 'catalog' && !v.catalogId) { catOsSel.focus(); return false; }
        if (v.source === 'download' || v.source === 'catalog') { download(); return false; } // advances by itself once the ISO is in the library
        return true;
      };
    },

    arch() {
      const fs = h('fieldset', {}, h('legend', { text: t('field.arch') }));
      const note = h('p', { class: 'note', id: 'arch-note', role: 'note' });
      const arches = ARCH_ORDER.filter((a) => host.arches[a]);
      const sync = () => {
        const a = host.arches[v.arch];
        if (!a) { note.textContent = ''; return; }
        const kvm = a.accelerator === 'kvm';
        note.dataset.kind = kvm ? 'ok' : 'warn';
        note.textContent = kvm ? t('wizard.arch_kvm', { arch: v.arch })
          : t('wizard.arch_tcg', { arch: v.arch, reason: v.arch === host.host_arch ? (host.kvm && host.kvm.reason) || '' : t('wizard.arch_foreign', { host: host.host_arch }) });
      };
      for (const a of arches) {
        const id = newId('arch');
        const info = host.arches[a];
        const r = h('input', { type: 'radio', name: 'arch', id, value: a, disabled: !info.available, 'aria-describedby': 'arch-note' });
        r.checked = v.arch === a;
        r.addEventListener('change', () => { v.arch = a; sync(); if (!v.resourcesEdited) useDefaults(); });
        fs.append(h('div', { class: 'choice' }, r, h('label', { for: id },
          h('span', { text: a }), h('span', { class: 'tag', text: info.available ? t('accel.' + info.accelerator) : t('wizard.arch_missing') }))));
      }
      fs.append(note);
      body.append(fs);
      sync();
      return () => !!host.arches[v.arch] && host.arches[v.arch].available;
    },

    resources() {
      const L = host.limits;
      const mem = field({ id: 'w-mem', label: t('field.memory'),
        input: h('input', { type: 'number', inputmode: 'numeric', min: 16, max: L.max_memory_mib, step: 1, value: v.memory }),
        hint: t('wizard.mem_hint', { max: L.max_memory_mib, host: fmtMiB(host.memory_mib), avail: fmtMiB(host.memory_available_mib) }) });
      const cpus = field({ id: 'w-cpus', label: t('field.cpus'),
        input: h('input', { type: 'number', inputmode: 'numeric', min: 1, max: L.max_cpus, step: 1, value: v.cpus }),
        hint: t('wizard.cpu_hint', { max: L.max_cpus }) });
      // A sound card (the console plays what the guest plays): on unless unticked.
      const audioBox = h('input', { type: 'checkbox', id: 'w-audio' });
      audioBox.checked = v.audio;
      body.append(mem.wrap, cpus.wrap, h('div', { class: 'choice' }, audioBox, h('label', { for: 'w-audio', text: t('field.audio') })));
      return () => {
        v.audio = audioBox.checked;
        let ok = true;
        const m = Number(mem.input.value);
        const c = Number(cpus.input.value);
        if (!Number.isInteger(m) || m < 16) { mem.error(t('wizard.err.mem_min')); ok = false; }
        else if (m > L.max_memory_mib) { mem.error(t('wizard.err.mem_max', { max: L.max_memory_mib })); ok = false; }
        else mem.error('');
        if (!Number.isInteger(c) || c < 1) { cpus.error(t('wizard.err.cpu_min')); ok = false; }
        else if (c > L.max_cpus) { cpus.error(t('wizard.err.cpu_max', { max: L.max_cpus })); ok = false; }
        else cpus.error('');
        if (ok) {
          if (m !== v.memory || c !== v.cpus) v.resourcesEdited = true;
          v.memory = m; v.cpus = c;
        } else body.querySelector('[aria-invalid="true"]')?.focus();
        return ok;
      };
    },

    disk() {
      const L = host.limits;
      const maxGib = Math.min(L.max_disk_gib, Math.floor(Math.max(0, host.disk_free_mib - L.disk_reserve_mib) / 1024) || L.max_disk_gib);
      const size = field({ id: 'w-disk', label: t('field.disk_size'),
        input: h('input', { type: 'number', inputmode: 'numeric', min: 0, max: L.max_disk_gib, step: 1, value: v.disk }),
        hint: t('wizard.disk_hint', { free: fmtMiB(host.disk_free_mib) }) });
      body.append(size.wrap, h('p', { class: 'note', text: t('wizard.disk_sparse') }));
      return () => {
        const n = Number(size.input.value);
        if (!Number.isInteger(n) || n < 0) { size.error(t('wizard.err.disk_min')); size.input.focus(); return false; }
        if (n > L.max_disk_gib) { size.error(t('wizard.err.disk_max', { max: L.max_disk_gib })); size.input.focus(); return false; }
        size.error(n > maxGib ? t('wizard.warn.disk_free', { free: fmtMiB(host.disk_free_mib) }) : '');
        if (n > maxGib) size.input.removeAttribute('aria-invalid');
        if (n !== v.disk) v.resourcesEdited = true;
        v.disk = n;
        return true;
      };
    },

    summary() {
      const fields = createFields();
      const dl = h('dl', { class: 'summary' });
      const row = (k, val) => dl.append(h('dt', { text: k }), h('dd', { text: val }));
      row(t('field.name'), v.name);
      row(t('wizard.step.source'), fields.cdrom || t('wizard.source.none'));
      row(t('field.arch'), `${v.arch} — ${t('accel.' + host.arches[v.arch].accelerator)}`);
      row(t('field.memory'), String(v.memory));
      row(t('field.cpus'), String(v.cpus));
      row(t('field.disk_size'), v.disk ? String(v.disk) : t('wizard.no_disk'));
      row(t('wizard.sound'), t(v.audio ? 'wizard.yes' : 'wizard.no'));
      if (fields.firmware) row(t('field.firmware'), t(fields.secure_boot ? 'fw.uefi_secure' : 'fw.uefi') + (fields.tpm ? ' + TPM 2.0' : ''));
      unattend = offerUnattend(v, fields.cdrom) ? unattendFields(v, !!(host.unattend && host.unattend.available)) : null;
      const cmd = h('pre', { class: 'cmdline', id: 'cmd-preview', tabindex: '0', 'aria-label': t('wizard.cmd_label'), text: t('wizard.cmd_loading') });
      const cmdNote = h('p', { class: 'hint' });
      // The command line as the daemon would run it; again when the drivers disc changes here.
      let asked = 0;
      const preview = () => {
        const mine = ++asked;
        return previewCreate(createFields()).then((p) => {
          if (!alive || STEPS[step] !== 'summary' || mine !== asked) return;
          if (p && p.dry_run && Array.isArray(p.argv)) { cmd.textContent = shellLine(p.argv); cmdNote.textContent = t('wizard.cmd_preview'); }
          else { cmd.textContent = t('wizard.cmd_after'); cmdNote.textContent = t('wizard.cmd_no_preview'); }
        }).catch((e) => {
          // The daemon's own checks (name taken, over a limit, no disk space): shown before Create.
          // Create stays disabled until Back, a change and this step again.
          if (alive && STEPS[step] === 'summary' && mine === asked) {
            cmd.textContent = t('wizard.cmd_refused');
            cmdNote.textContent = t('wizard.create_blocked');
            errors.show(e);
            const create = body.querySelector('#w-create');
            if (create) { create.disabled = true; create.setAttribute('aria-describedby', 'w-create-why'); }
            cmdNote.id = 'w-create-why';
          }
        });
      };
      drivers = offerUnattend(v, fields.cdrom)
        ? driversFields(v, { images, catalog, canDownload: downloadsAvailable, onImages: (imgs) => { images = imgs; }, onChange: preview }) : null;
      body.append(dl, ...(unattend ? [unattend.el] : []), ...(drivers ? [drivers.el] : []), h('h2', { class: 'h3', text: t('wizard.cmd_title') }), cmd, cmdNote);
      preview();
      return () => true;
    },
  };

  // Download the ISO into the image library; progress from download.* events
  // (and a poll as a fallback); once complete, pick the image and go on.
  async function download() {
    if (dl) return;
    errors.clear();
    const entry = v.source === 'catalog' ? (catalog || []).find((e) => e.id === v.catalogId) : null;
    const fields = entry ? { catalog_id: entry.id } : { url: v.url };
    if (!entry && v.sha) fields.sha256 = v.sha;
    const nextBtn = body.querySelector('.wizard-nav button[type="submit"]');
    let d;
    status.textContent = t('downloads.starting');
    try {
      d = nextBtn ? await withBusy(nextBtn, () => startDownload(fields)) : await startDownload(fields);
    } catch (e) {
      status.textContent = '';
      if (!alive) return;
      errors.show(e);
      // Microsoft refused (or its flow failed): the message says to download by hand; the Images page imports.
      body.querySelector('.ms-hint')?.remove();
      if (e.code === 'microsoft_refused') body.querySelector('.wizard-nav')?.before(importHint());
      return;
    }
    status.textContent = '';
    if (!alive) return;
    if (d === null) { downloadsAvailable = false; v.source = 'path'; errors.show(t('wizard.no_downloads')); show(); return; }
    const bar = h('progress', { max: 1, 'aria-label': t('wizard.download_progress') });
    const text = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    dl = { id: d.id, el: h('div', { class: 'download-progress' }, h('p', { text: t('wizard.downloading', { name: d.name || v.url }) }), bar, text), bar, text };
    body.querySelector('.wizard-nav')?.before(dl.el);
    let cur = d;
    const update = (x) => {
      if (!dl || x.id && x.id !== dl.id) return;
      cur = { ...cur, ...x };
      setProgress(bar, cur);
      text.textContent = cur.state === 'verifying' ? t('wizard.download_verifying') : progressText(cur);
      if (cur.state === 'failed') { const msg = cur.error || ''; finish(); errors.show(t('wizard.download_failed', { message: msg })); }
      else if (cur.state === 'completed' && cur.image_id) done(cur.image_id);
    };
    // Live from download.* events; the download is re-read when the stream (re)opens, when
    // it completes (for its image id) and, only while the stream is down, every 2 s.
    const reread = () => getDownload(d.id).then(update).catch(() => {});
    const unsub = followDownloads({
      refresh: reread,
      onEvent(ev) {
        if (ev.download !== d.id) return;
        if (ev.type === 'download.state' && ev.state === 'completed') reread();
        else update(eventPatch(ev));
      },
    });
    const finish = () => { unsub(); if (dl) dl.el.remove(); dl = null; };
    stopDownloadWatch = finish;
    const done = async (imageId) => {
      finish();
      if (entry && host.arches[entry.arch] && host.arches[entry.arch].available) v.arch = entry.arch;
      const imgs = await listImages().catch(() => null);
      if (!alive) return;
      images = imgs;
      const img = (imgs || []).find((i) => i.id === imageId) || (imgs || []).at(-1);
      if (!img) { errors.show(t('wizard.download_failed', { message: '' })); return; }
      v.source = 'image';
      v.image = img.path;
      v.windowsIso = entry && entry.os === 'windows' ? img.path : ''; // createFields: Windows 11's firmware
      step++;
      show();
    };
    update(d);
  }
  let stopDownloadWatch = () => {};

  function createFields() {
    const f = { name: v.name, arch: v.arch, memory_mib: v.memory, cpus: v.cpus,
      disks: v.disk ? [{ size_gib: v.disk }] : [] };
    if (v.audio) f.audio = true;
    if (v.source === 'image' && v.image) f.cdrom = v.image;
    if (v.source === 'path' && v.path) f.cdrom = v.path;
    const un = unattendBody(v, f.cdrom);
    if (un) f.unattend = un;
    if (v.drivers && offerUnattend(v, f.cdrom)) f.drivers_iso = v.drivers;
    f.boot_order = f.cdrom ? (v.disk ? ['cdrom', 'disk'] : ['cdrom']) : (v.disk ? ['disk'] : ['network']);
    // Windows from the catalog: what Windows 11's setup checks for, when this host has it.
    if (v.windowsIso && v.windowsIso === f.cdrom && v.arch === 'x86_64' && host.arches.x86_64.uefi) {
      f.firmware = 'uefi';
      f.secure_boot = true;
      if (host.tpm && host.tpm.available) f.tpm = true;
    }
    return f;
  }

  let validate = () => true;
  // The daemon's defaults for the chosen arch (GET /host arches.ARCH.defaults: what the API gives
  // a create without these fields), within the host's limits.
  function useDefaults() {
    const d = (host.arches[v.arch] && host.arches[v.arch].defaults) || {};
    v.memory = Math.min(d.memory_mib || 1024, host.limits.max_memory_mib);
    v.cpus = Math.min(d.cpus || 1, host.limits.max_cpus);
    v.disk = Math.min(d.disk_gib ?? 16, host.limits.max_disk_gib);
  }

  function show() {
    errors.clear();
    if (drivers) { drivers.stop(); drivers = null; }
    renderSteps();
    body.replaceChildren();
    const s = STEPS[step];
    // (focusable from script: a step without fields — the summary — moves focus to its title, not to <body>)
    body.append(h('h2', { id: 'step-title', class: 'step-title', tabindex: '-1',
      text: t('wizard.step_n', { n: step + 1, total: STEPS.length, name: t('wizard.step.' + s) }) }));
    validate = steps[s]();
    if (s === 'summary') body.append(finish());
    else body.append(nav());
    const first = body.querySelector('input:not([disabled]), select');
    (first || body.querySelector('h2')).focus?.();
  }

  // The last step: Create → the VM's real command line, then Start / Start and open console.
  function finish() {
    const created = h('div', { class: 'created', hidden: true });
    const createBtn = h('button', { type: 'submit', id: 'w-create', class: 'btn primary', text: t('wizard.create') });
    const back = h('button', { type: 'button', class: 'btn', text: t('wizard.back') });
    back.addEventListener('click', () => { step--; show(); });
    const row = h('div', { class: 'row end wizard-nav' },
      h('a', { href: '/', 'data-link': true, class: 'btn ghost', text: t('common.cancel') }), back, createBtn);
    submitAction = async () => {
      errors.clear();
      if (unattend && !unattend.validate()) return;
      status.textContent = t('wizard.creating');
      let vm;
      try {
        vm = await withBusy(createBtn, () => createVm(createFields()));
      } catch (e) {
        status.textContent = '';
        errors.show(e);
        return;
      }
      if (!alive) return;
      status.textContent = t('wizard.created', { name: vm.name });
      row.hidden = true;
      const cmd = body.querySelector('#cmd-preview');
      vmCmdline(vm.id).then((c) => { if (alive && c && c.argv) { cmd.textContent = shellLine(c.argv); body.querySelector('.hint').textContent = t('wizard.cmd_exact'); } }).catch(() => {});
      const start = async (btn, openConsole) => {
        errors.clear();
        status.textContent = t('progress.start', { name: vm.name });
        try {
          await withBusy(btn, () => vmAction(vm.id, 'start'));
        } catch (e) {
          status.textContent = '';
          errors.show(e);
          return;
        }
        if (alive) window.qhmNavigate(openConsole ? `/vm/${encodeURIComponent(vm.id)}/console` : `/vm/${encodeURIComponent(vm.id)}`);
      };
      const b1 = h('button', { type: 'button', class: 'btn primary', text: t('wizard.start_console') });
      const b2 = h('button', { type: 'button', class: 'btn', text: t('action.start') });
      b1.addEventListener('click', () => start(b1, true));
      b2.addEventListener('click', () => start(b2, false));
      created.replaceChildren(
        h('p', { class: 'ok', text: t('wizard.created', { name: vm.name }) }),
        h('div', { class: 'row end' },
          h('a', { class: 'btn ghost', href: `/vm/${encodeURIComponent(vm.id)}`, 'data-link': true, text: t('wizard.open_vm') }), b2, b1));
      created.hidden = false;
      b1.focus();
    };
    return h('div', {}, row, created);
  }

  let submitAction = null;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!validate()) return;
    if (STEPS[step] === 'summary') { if (submitAction && !body.querySelector('#w-create')?.disabled) submitAction(); return; }
    step++;
    show();
  });

  Promise.all([getHost(), listImages().catch(() => null),
    getCatalog().catch((e) => { if (e.status !== 404 && e.status !== 405) catalogErr = e; return null; })]).then(([hst, imgs, cat]) => {
    if (!alive) return;
    host = hst;
    images = imgs;
    catalog = cat;
    if (images && images.length) { v.source = 'image'; v.image = images[0].path; }
    // "New VM from this image" (Images and Downloads pages): /new?image=ID.
    const pre = new URLSearchParams(location.search).get('image');
    const preImg = pre && (images || []).find((i) => i.id === pre);
    if (preImg) { v.source = 'image'; v.image = preImg.path; v.name = preImg.name.replace(/\.(iso|img|qcow2|raw)$/i, '').slice(0, 60); }
    if (!host.arches[v.arch]) v.arch = host.host_arch in host.arches ? host.host_arch : Object.keys(host.arches)[0];
    useDefaults();
    status.textContent = '';
    show();
  }).catch((e) => { if (alive) { status.textContent = ''; errors.show(t('wizard.host_failed', { message: e.message })); } });

  return () => { alive = false; stopDownloadWatch(); if (drivers) drivers.stop(); };
}
