// SPDX-License-Identifier: GPL-2.0-or-later
// library page (/): every VM as a card — live thumbnail (the screenshot
// endpoint, refreshed while the VM runs and the tab is visible), name, arch,
// memory, state badge and quick actions. Kept live by the event stream
// (vm.state updates a card; other vm.* events and resyncs reload the list),
// with a slow poll as a fallback. No VMs: an empty state leading to the wizard.
import { listVms, screenshotUrl } from '../api.js';
import { h } from '../dom.js';
import { shortcutUrl } from './vm-shortcuts.js';
import { t } from '../i18n.js';
import { subscribe } from '../events.js';
import { importPanel } from './library-import.js';
import { stateBadge, setBadge, actionButtons, actionValid, errorBanner, isLive, fmtMiB } from '../ui.js';

const POLL_MS = 15000;
const THUMB_MS = 5000;

export function mount(root) {
  document.title = t('library.title') + ' — ' + t('app.title');
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', text: t('library.loading') });
  const errors = errorBanner();
  const grid = h('ul', { class: 'cards', 'aria-label': t('library.title') });
  const newBtn = h('a', { class: 'btn primary', href: '/new', 'data-link': true, role: 'button', text: t('library.new') });
  const importer = importPanel({ onError: (e) => errors.show(e) });
  const importBtn = h('button', { type: 'button', class: 'btn', 'aria-expanded': 'false', 'aria-controls': importer.el.id || undefined, text: t('import.button') });
  importBtn.addEventListener('click', () => {
    const on = importer.el.hidden;
    importer.toggle(on);
    importBtn.setAttribute('aria-expanded', String(on));
  });
  root.append(h('main', { class: 'page', id: 'main' },
    h('div', { class: 'page-head' }, h('h1', { text: t('library.title') }), h('div', { class: 'row' }, importBtn, newBtn)),
    importer.el, errors.el, status, grid));

  let alive = true;
  const cards = new Map(); // id -> {vm, badge, thumb, actions, update}

  function thumbFor(c) {
    const live = isLive(c.vm.state);
    c.thumbWrap.dataset.live = String(live);
    if (!live) { c.img.hidden = true; return; }
    const next = new Image();
    next.onload = () => { if (alive) { c.img.src = next.src; c.img.hidden = false; } };
    next.src = screenshotUrl(c.vm.id);
  }

  function card(vm) {
    const nameId = `vm-name-${vm.id}`;
    const c = { vm };
    c.badge = stateBadge(vm.state);
    c.img = h('img', { alt: t('library.thumb_alt', { name: vm.name }), hidden: true, width: 320, height: 200 });
    c.thumbWrap = h('a', { class: 'thumb', href: `/vm/${encodeURIComponent(vm.id)}/console`, 'data-link': true, tabindex: '-1', 'aria-hidden': 'true' },
      c.img, h('span', { class: 'thumb-arch', text: vm.arch }));
    c.actions = actionButtons({
      ids: ['start', 'pause', 'resume', 'kill'],
      getVm: () => c.vm,
      describedBy: nameId,
      small: true,
      onDone: (v) => { if (v && v.id) update(v); },
      onError: (e) => errors.show(t('error.action', { name: c.vm.name, message: e.message })),
    });
    const consoleLink = h('a', { class: 'btn small', href: `/vm/${encodeURIComponent(vm.id)}/console`, 'data-link': true,
      'aria-describedby': nameId, text: t('action.console') });
    c.consoleLink = consoleLink;
    c.nameEl = h('a', { id: nameId, class: 'vm-name', href: `/vm/${encodeURIComponent(vm.id)}`, 'data-link': true, text: vm.name });
    c.meta = h('p', { class: 'meta' });
    c.apps = h('div', { class: 'apps', role: 'group', 'aria-label': t('library.apps', { name: vm.name }) });
    c.el = h('li', { class: 'card', dataset: { vmId: vm.id } },
      c.thumbWrap,
      h('div', { class: 'card-body' },
        h('div', { class: 'card-title' }, h('h2', {}, c.nameEl), c.badge),
        c.meta,
        h('div', { class: 'actions' }, c.actions.buttons, consoleLink),
        c.apps));
    c.refresh = () => {
      c.nameEl.textContent = c.vm.name;
      c.meta.textContent = t('library.meta', { arch: c.vm.arch, memory: fmtMiB(c.vm.memory_mib), cpus: c.vm.cpus });
      setBadge(c.badge, c.vm.state);
      c.actions.update(c.vm.state);
      // Cards show only what can be done now; the VM page shows every action.
      for (const [aid, b] of c.actions.map) b.hidden = !actionValid(aid, c.vm.state) && !b.getAttribute('aria-busy');
      consoleLink.hidden = !isLive(c.vm.state);
      // App shortcuts: one Windows program each, over RDP (pages/vm-shortcuts.js).
      const apps = c.vm.shortcuts || [];
      c.apps.replaceChildren(...apps.map((s) => h('a', { class: 'btn small', href: shortcutUrl(c.vm.id, s.name), 'data-link': true,
        'aria-describedby': nameId, text: t('library.open_app', { app: s.name }) })));
      c.apps.hidden = !apps.length;
      c.el.dataset.state = c.vm.state;
    };
    c.refresh();
    thumbFor(c);
    return c;
  }

  function update(vm) {
    const c = cards.get(vm.id);
    if (!c) return load();
    const was = c.vm.state;
    c.vm = vm;
    c.refresh();
    if (was !== vm.state) thumbFor(c);
  }

  function renderList(vms) {
    if (!vms.length) {
      cards.clear();
      status.textContent = '';
      grid.replaceChildren();
      grid.hidden = true;
      root.querySelector('.empty')?.remove();
      const empty = h('section', { class: 'empty', 'aria-labelledby': 'empty-title' },
        h('h2', { id: 'empty-title', text: t('library.empty_title') }),
        h('p', { text: t('library.empty') }),
        h('a', { class: 'btn primary', href: '/new', 'data-link': true, role: 'button', text: t('library.empty_cta') }));
      grid.after(empty);
      return;
    }
    root.querySelector('.empty')?.remove();
    grid.hidden = false;
    status.textContent = '';
    const seen = new Set();
    const items = [];
    for (const vm of vms) {
      seen.add(vm.id);
      let c = cards.get(vm.id);
      if (c) { const was = c.vm.state; c.vm = vm; c.refresh(); if (was !== vm.state) thumbFor(c); }
      else { c = card(vm); cards.set(vm.id, c); }
      items.push(c.el);
    }
    for (const id of [...cards.keys()]) if (!seen.has(id)) cards.delete(id);
    grid.replaceChildren(...items);
  }

  async function load() {
    try {
      const vms = await listVms();
      if (alive) renderList(vms);
    } catch (e) {
      if (alive) { status.textContent = ''; errors.show(t('library.load_failed', { message: e.message })); }
    }
  }

  load();
  const poll = setInterval(load, POLL_MS);
  const thumbs = setInterval(() => {
    if (document.hidden) return;
    for (const c of cards.values()) if (c.vm.state === 'running') thumbFor(c);
  }, THUMB_MS);
  const unsubscribe = subscribe((ev) => {
    if (ev.type === 'vm.state' && cards.has(ev.vm)) {
      const c = cards.get(ev.vm);
      update({ ...c.vm, state: ev.state, state_reason: ev.reason });
    } else if (ev.type === 'resync' || ev.type.startsWith('vm.')) {
      load();
    }
  });

  return () => {
    alive = false;
    clearInterval(poll);
    clearInterval(thumbs);
    unsubscribe();
  };
}
