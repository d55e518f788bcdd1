// SPDX-License-Identifier: GPL-2.0-or-later
// host page (/host): what this device offers — per-arch emulator and
// accelerator (and why KVM is or is not used), CPUs, memory, disk, the
// limits the daemon enforces and the host folders requests may name, from
// GET /api/v1/host; then other devices (LAN mode: address, certificate
// fingerprint, pairing, paired browsers — pages/host-lan.js).
import { getHost } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { errorBanner, fmtMiB } from '../ui.js';
import { lanSection } from './host-lan.js';

export function mount(root) {
  document.title = t('host.title') + ' — ' + t('app.title');
  const errors = errorBanner();
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', text: t('host.loading') });
  const main = h('main', { class: 'page', id: 'main' }, h('h1', { text: t('host.title') }), errors.el, status);
  root.append(main);
  let alive = true;
  let lan = null;

  getHost().then((host) => {
    if (!alive) return;
    status.textContent = '';
    const dl = (pairs) => h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: String(v) })]));
    const L = host.limits || {};
    const kvm = host.kvm || {};
    const rows = Object.entries(host.arches || {}).map(([arch, a]) => h('tr', {},
      h('th', { scope: 'row', text: arch }),
      h('td', { text: a.available ? t('host.yes') : t('host.no') }),
      h('td', { text: a.available ? t('accel.' + a.accelerator) : '—' }),
      h('td', { class: 'mono', text: a.binary || '—' })));
    lan = lanSection(host);
    main.append(
      h('section', { 'aria-labelledby': 'h-sys' }, h('h2', { id: 'h-sys', text: t('host.system') }), dl([
        [t('host.version'), host.version],
        [t('host.arch'), host.host_arch],
        [t('field.cpus'), host.cpus],
        [t('host.memory'), `${fmtMiB(host.memory_mib)} (${t('host.available', { n: fmtMiB(host.memory_available_mib) })})`],
        [t('host.disk_free'), fmtMiB(host.disk_free_mib)],
        [t('host.data_dir'), host.data_dir],
      ])),
      lan.el,
      h('section', { 'aria-labelledby': 'h-accel' }, h('h2', { id: 'h-accel', text: t('host.acceleration') }),
        h('p', { class: 'note', dataset: { kind: kvm.usable ? 'ok' : 'warn' }, text: kvm.usable ? t('host.kvm_yes') : t('host.kvm_no', { reason: kvm.reason || '?' }) }),
        // (a region that may scroll sideways on a phone: reachable and named for the keyboard)
        h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'h-accel' }, h('table', { class: 'grid' },
          h('thead', {}, h('tr', {}, ['host.col.arch', 'host.col.available', 'host.col.accel', 'host.col.binary'].map((k) => h('th', { scope: 'col', text: t(k) })))),
          h('tbody', {}, rows)))),
      h('section', { 'aria-labelledby': 'h-lim' }, h('h2', { id: 'h-lim', text: t('host.limits') }), dl([
        [t('host.max_memory'), fmtMiB(L.max_memory_mib)],
        [t('host.max_cpus'), L.max_cpus],
        [t('host.commit'), t('host.commit_v', { used: fmtMiB(L.committed_mib), limit: fmtMiB(L.commit_limit_mib) })],
        [t('host.reserve'), fmtMiB(L.disk_reserve_mib)],
        [t('host.max_disks'), L.max_disks],
        [t('host.max_disk'), `${L.max_disk_gib} GiB`],
        [t('host.name_max'), L.name_max_bytes],
      ])));
    const paths = Array.isArray(host.allowed_paths) ? host.allowed_paths : [];
    main.append(h('section', { 'aria-labelledby': 'h-paths' }, h('h2', { id: 'h-paths', text: t('host.paths') }),
      h('p', { class: 'hint', text: t('host.paths_hint') }),
      paths.length ? h('ul', { class: 'paths', 'aria-labelledby': 'h-paths' }, paths.map((p) => h('li', { class: 'mono', text: String(p) })))
        : h('p', { text: t('host.paths_none') })));
  }).catch((e) => { if (alive) { status.textContent = ''; errors.show(e); } });

  return () => { alive = false; if (lan) lan.stop(); };
}
