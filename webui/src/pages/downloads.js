// SPDX-License-Identifier: GPL-2.0-or-later
// downloads page (/downloads): every download of the daemon, newest first —
// progress bar, bytes of total, speed, ETA, state, the error of a failed one —
// with Pause / Resume / Cancel (each enabled only when valid; Cancel and
// Remove ask first), and a form to start one by URL with an optional SHA-256
// or SHA-512. Live from download.progress / download.state events; the list is
// re-read only when the stream (re)opens, an unknown download appears or one
// completes, and polled only while the stream is down. Names, URLs and errors
// from the daemon or remote servers are text.
import { h, newId } from '../dom.js';
import { t } from '../i18n.js';
import { errorBanner, field, withBusy, confirmDialog } from '../ui.js';
import {
  listDownloads, getDownload, createDownload, downloadAction, deleteDownload, followDownloads, eventPatch,
  dlStateLabel, canPause, canResume, isFinished, progressText, setProgress, importHint,
} from '../transfer.js';

export function mount(root) {
  document.title = t('downloads.title') + ' — ' + t('app.title');
  const errors = errorBanner();
  const status = h('p', { class: 'status tight', role: 'status', 'aria-live': 'polite', text: t('downloads.loading') });
  const list = h('ul', { class: 'dl-list', 'aria-label': t('downloads.list') });
  const empty = h('p', { class: 'empty-line', hidden: true, text: t('downloads.empty') });
  const msHint = importHint();
  msHint.hidden = true;

  // The form: URL + optional checksum (64 hex digits → SHA-256, 128 → SHA-512).
  const url = field({ id: 'd-url', label: t('field.url'),
    input: h('input', { type: 'url', autocomplete: 'off', spellcheck: 'false', placeholder: 'https://…/installer.iso' }),
    hint: t('downloads.url_hint') });
  const sum = field({ id: 'd-sum', label: t('field.checksum'),
    input: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: 128 }),
    hint: t('downloads.sum_hint') });
  const startBtn = h('button', { type: 'submit', class: 'btn primary', text: t('downloads.start') });
  const form = h('form', { class: 'panel dl-form', novalidate: true, 'aria-labelledby': 'dl-new-title' },
    h('h2', { id: 'dl-new-title', text: t('downloads.new') }), h('div', { class: 'dl-fields' }, url.wrap, sum.wrap),
    h('div', { class: 'row end' }, startBtn));

  root.append(h('main', { class: 'page', id: 'main' },
    h('div', { class: 'page-head' }, h('h1', { text: t('downloads.title') }),
      h('a', { class: 'btn', href: '/images', 'data-link': true, text: t('downloads.to_images') })),
    errors.el, msHint, form,
    h('section', { 'aria-labelledby': 'dl-list-title' },
      h('h2', { id: 'dl-list-title', text: t('downloads.list') }), status, empty, list)));

  let alive = true;
  const rows = new Map(); // id -> row

  function row(d) {
    const nameId = newId('dl-name');
    const r = { d };
    r.name = h('h3', { class: 'dl-name', id: nameId });
    r.badge = h('span', { class: 'badge' });
    r.url = h('p', { class: 'dl-url mono' });
    r.bar = h('progress', { max: 1 });
    r.stats = h('p', { class: 'dl-stats' });
    r.check = h('p', { class: 'hint' });
    r.error = h('p', { class: 'dl-error', hidden: true });
    const act = (label, fn, cls = '') => {
      const b = h('button', { type: 'button', class: 'btn small' + cls, 'aria-describedby': nameId, text: label });
      b.addEventListener('click', () => run(b, fn));
      return b;
    };
    r.seq = 0; // download.state events seen: an action's answer must not undo a newer event
    const action = (a) => { const seq = r.seq; return downloadAction(r.d.id, a).then((d) => { if (d && d.id && r.seq === seq) r.d = d; }); };
    r.pause = act(t('downloads.pause'), () => action('pause'));
    r.resume = act(t('downloads.resume'), () => action('resume'));
    r.cancel = act('', cancel, ' danger');
    r.newVm = h('a', { class: 'btn small primary', 'data-link': true, 'aria-describedby': nameId, text: t('images.new_vm'), hidden: true });
    r.el = h('li', { class: 'dl-item panel' },
      h('div', { class: 'dl-head' }, r.name, r.badge), r.url, r.bar, r.stats, r.check, r.error,
      h('div', { class: 'actions' }, r.pause, r.resume, r.cancel, r.newVm));
    let busy = false;
    async function run(b, fn) {
      if (busy) return;
      busy = true;
      errors.clear();
      try {
        await withBusy(b, fn);
      } catch (e) {
        if (alive) errors.show(t('error.action', { name: r.d.name, message: e.message }));
      } finally {
        busy = false;
        if (alive) r.refresh();
      }
    }
    async function cancel() {
      const done = isFinished(r.d.state);
      const ok = await confirmDialog({
        title: t(done ? 'downloads.remove_title' : 'downloads.cancel_title', { name: r.d.name }),
        message: t(done ? 'downloads.remove_message' : 'downloads.cancel_message'),
        confirm: t(done ? 'downloads.remove' : 'downloads.cancel_confirm'),
        cancel: t('downloads.keep'), danger: true,
      });
      if (!ok) return;
      await deleteDownload(r.d.id);
      remove(r.d.id);
    }
    r.refresh = () => {
      const d = r.d;
      r.el.dataset.downloadId = d.id;
      r.el.dataset.state = d.state;
      r.name.textContent = d.name || d.id;
      r.badge.dataset.state = d.state;
      r.badge.textContent = dlStateLabel(d.state);
      r.url.textContent = d.catalog_id ? t('downloads.from_catalog', { id: d.catalog_id }) : d.url || (d.urls && d.urls[0]) || '';
      r.bar.setAttribute('aria-label', t('downloads.progress_of', { name: d.name || d.id }));
      setProgress(r.bar, d);
      r.stats.textContent = d.state === 'verifying' ? t('dl.verifying') : progressText(d);
      const ck = d.checksum;
      r.check.textContent = d.state === 'failed' ? ''
        : d.state !== 'completed' ? (ck && ck.expected ? t('downloads.will_verify', { algo: algoName(ck.algo) }) : '')
        : ck && ck.verified ? t('downloads.verified', { algo: algoName(ck.algo) }) : t('downloads.unverified');
      r.check.hidden = !r.check.textContent;
      r.error.hidden = !d.error;
      r.error.textContent = d.error ? t('downloads.error', { message: d.error }) : '';
      if (!busy) {
        r.pause.disabled = !canPause(d.state);
        r.resume.disabled = !canResume(d.state);
        r.cancel.disabled = false;
      }
      r.cancel.textContent = isFinished(d.state) ? t('downloads.remove') : t('downloads.cancel');
      r.newVm.hidden = !(d.state === 'completed' && d.image_id);
      // Completed is final: pause and resume can never apply again, so they go.
      r.pause.hidden = r.resume.hidden = d.state === 'completed';
      if (d.image_id) r.newVm.href = '/new?image=' + encodeURIComponent(d.image_id);
    };
    r.refresh();
    return r;
  }

  const algoName = (a) => (a === 'sha512' ? 'SHA-512' : 'SHA-256');

  // Deleted ids never come back: a list read answered before the delete must not re-add them.
  const gone = new Set();
  function remove(id) {
    gone.add(id);
    const r = rows.get(id);
    if (r) { r.el.remove(); rows.delete(id); }
    empty.hidden = rows.size > 0;
  }

  function render(downloads) {
    status.textContent = '';
    const seen = new Set();
    const items = [];
    for (const d of downloads) {
      if (!d || !d.id || gone.has(d.id)) continue;
      seen.add(d.id);
      let r = rows.get(d.id);
      if (r) { r.d = d; r.refresh(); } else { r = row(d); rows.set(d.id, r); }
      items.push(r.el);
    }
    for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id);
    list.replaceChildren(...items);
    empty.hidden = items.length > 0;
  }

  // One list read at a time; a request during one runs once more after it (its answer may predate the cause).
  let loading = null, again = false;
  function load() {
    if (loading) { again = true; return loading; }
    loading = listDownloads().then((ds) => { if (alive) render(ds); })
      .catch((e) => { if (alive) { status.textContent = ''; errors.show(t('downloads.load_failed', { message: e.message })); } })
      .finally(() => { loading = null; if (again && alive) { again = false; load(); } });
    return loading;
  }

  function fetchOne(id) {
    getDownload(id).then((d) => {
      if (!alive || !d) return;
      const r = rows.get(id);
      if (r) { r.d = d; r.refresh(); } else load();
    }).catch(() => {});
  }

  const stop = followDownloads({
    refresh: load,
    onEvent(ev) {
      const r = rows.get(ev.download);
      if (ev.type === 'download.state' && ev.state === 'deleted') { remove(ev.download); return; }
      if (!r) { load(); return; }
      if (ev.type === 'download.state') r.seq++;
      r.d = { ...r.d, ...eventPatch(ev) };
      r.refresh();
      // The final object carries what events do not (image id, verified checksum).
      if (ev.type === 'download.state' && isFinished(ev.state)) fetchOne(ev.download);
    },
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    msHint.hidden = true;
    const u = url.input.value.trim();
    const s = sum.input.value.trim().toLowerCase();
    let ok = true;
    if (!/^https?:\/\/\S+$/i.test(u)) { url.error(t('wizard.err.url')); ok = false; } else url.error('');
    if (s && !/^([0-9a-f]{64}|[0-9a-f]{128})$/.test(s)) { sum.error(t('downloads.err.sum')); ok = false; } else sum.error('');
    if (!ok) { form.querySelector('[aria-invalid="true"]')?.focus(); return; }
    const fields = { url: u };
    if (s) fields[s.length === 128 ? 'sha512' : 'sha256'] = s;
    status.textContent = t('downloads.starting');
    try {
      const d = await withBusy(startBtn, () => createDownload(fields));
      if (!alive) return;
      status.textContent = '';
      url.input.value = '';
      sum.input.value = '';
      // Already listed (its events came first): those are as new as this answer.
      if (d && d.id && !rows.has(d.id)) { const r = row(d); rows.set(d.id, r); list.prepend(r.el); empty.hidden = true; }
    } catch (err) {
      if (!alive) return;
      status.textContent = '';
      errors.show(t('downloads.start_failed', { message: err.message }));
      msHint.hidden = err.code !== 'microsoft_refused';
      load(); // a refused start may still be listed as failed
    }
  });

  load();
  return () => { alive = false; stop(); };
}
