// SPDX-License-Identifier: GPL-2.0-or-later
// VM page (/vm/{id}): state live from the event stream; Start, Pause, Resume,
// Shut down, Force stop, Reset (each enabled only when valid); Console; the
// last crash record (signal, exit code, last log lines) shown prominently;
// an orphaned VM's processes (pid, program, why not adopted) each with Kill
// process PID (confirmed; the kill names the pid: {orphan_pid});
// the log as a live tail (polled while QEMU runs); the QEMU command line;
// Settings (name any time; memory, CPUs and boot order while stopped, PATCH);
// Remote desktop (RDP target, Open RDP console: pages/vm-rdp.js); Snapshots
// (take, restore, delete: pages/vm-snapshots.js); Disks (add, grow, detach:
// pages/vm-disks.js); Shared folders and Linux kernel boot (pages/vm-shares.js); App
// shortcuts (pages/vm-shortcuts.js); Network and port forwards (pages/vm-network.js);
// Clone (a stopped VM: a copy with its own disks, then its page); Delete with
// a confirmation. Guest and daemon text is set as text only.
import { exportSection } from './vm-export.js';
import { toolsSection } from './vm-tools.js';
import { getVm, getHost, patchVm, deleteVm, cloneVm, vmAction, vmLog, vmCmdline, vmGuest, screenshotUrl, listImages } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { subscribe } from '../events.js';
import { stateBadge, setBadge, actionButtons, errorBanner, confirmDialog, field, withBusy, shellLine, fmtMiB, isLive } from '../ui.js';
import { rdpSection } from './vm-rdp.js';
import { snapshotsSection } from './vm-snapshots.js';
import { disksSection } from './vm-disks.js';
import { sharesSection, kernelSection } from './vm-shares.js';
import { shortcutsSection } from './vm-shortcuts.js';
import { networkSection } from './vm-network.js';
import { qemuArgsSection } from './vm-qemu-args.js';

const LOG_MS = 2000;
const BOOT_ORDERS = [['cdrom', 'disk'], ['disk', 'cdrom'], ['cdrom'], ['disk'], ['network'], ['disk', 'network']];

export function mount(root, { id }) {
  const errors = errorBanner();
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', text: t('vm.loading') });
  const main = h('main', { class: 'page', id: 'main' }, errors.el, status);
  root.append(main);

  let alive = true;
  let vm = null;
  let host = null;
  let logTimer = null;
  let ui = null;
  let snaps = null;
  let disks = null;
  let qargs = null;

  function build() {
    const title = h('h1', { class: 'vm-title', text: vm.name });
    const badge = stateBadge(vm.state);
    const reason = h('p', { class: 'reason' });
    const actions = actionButtons({
      ids: ['start', 'pause', 'resume', 'shutdown', 'kill', 'reset'],
      getVm: () => vm,
      status,
      onDone: (v) => { if (v && v.id) setVm(v); },
      onError: (e) => errors.show(e),
    });
    const consoleLink = h('a', { class: 'btn primary', href: `/vm/${encodeURIComponent(id)}/console`, 'data-link': true, text: t('action.console') });
    const serialLink = h('a', { class: 'btn', id: 'serial-link', href: `/vm/${encodeURIComponent(id)}/serial`, 'data-link': true, text: t('action.serial') });
    const shot = h('img', { class: 'vm-shot', alt: t('library.thumb_alt', { name: vm.name }), hidden: true });

    const facts = h('dl', { class: 'facts' });
    const crash = h('section', { class: 'crash', role: 'region', 'aria-labelledby': 'crash-title', hidden: true });
    const orphans = h('section', { class: 'orphans', role: 'region', 'aria-labelledby': 'orphans-title', hidden: true });
    let orphansKey = null; // the list drawn last: redrawn only when it changes (a button keeps its focus)

    // An orphaned VM: its process ends only through this confirmation, which names the pid.
    async function killOrphan(o, btn) {
      errors.clear();
      const ok = await confirmDialog({
        title: t('vm.orphan_kill_title', { pid: o.pid }),
        message: t('vm.orphan_kill_message', { pid: o.pid, exe: o.exe || '?' }),
        confirm: t('vm.orphan_kill', { pid: o.pid }),
        danger: true,
      });
      if (!ok) return;
      status.textContent = t('vm.orphan_killing', { pid: o.pid });
      try {
        const v = await withBusy(btn, () => vmAction(id, 'kill', { orphan_pid: o.pid }));
        status.textContent = '';
        if (alive && v && v.id) setVm(v);
      } catch (err) {
        status.textContent = '';
        errors.show(err);
        load();
      }
    }

    function renderOrphans() {
      const list = vm.state === 'orphaned' ? vm.orphans || [] : [];
      orphans.hidden = !list.length;
      const key = JSON.stringify(list);
      if (key === orphansKey) return;
      orphansKey = key;
      orphans.replaceChildren(
        h('h2', { id: 'orphans-title', text: t('vm.orphans_title') }),
        h('p', { class: 'hint', text: t('vm.orphans_hint') }),
        h('ul', {}, list.map((o) => {
          const btn = h('button', { type: 'button', class: 'btn danger', dataset: { orphanPid: String(o.pid) }, text: t('vm.orphan_kill', { pid: o.pid }) });
          btn.addEventListener('click', () => killOrphan(o, btn));
          return h('li', { dataset: { pid: String(o.pid) } },
            h('dl', {},
              h('dt', { text: t('vm.orphan_pid') }), h('dd', { class: 'orphan-pid', text: String(o.pid) + (o.swtpm ? ` — ${t('vm.orphan_swtpm')}` : '') }),
              h('dt', { text: t('vm.orphan_exe') }), h('dd', { class: 'orphan-exe', text: o.exe || '—' }),
              h('dt', { text: t('vm.orphan_why') }), h('dd', { class: 'orphan-why', text: o.why || '—' })),
            h('div', { class: 'row' }, btn));
        })));
    }

    const logPre = h('pre', { class: 'log', tabindex: '0', 'aria-label': t('vm.log') });
    const logLive = h('span', { class: 'tag' });
    const cmd = h('pre', { class: 'cmdline', tabindex: '0', 'aria-label': t('vm.cmdline') });

    // Settings
    const L = host.limits;
    const fName = field({ id: 's-name', label: t('field.name'), input: h('input', { type: 'text', maxlength: L.name_max_bytes, autocomplete: 'off' }) });
    const fMem = field({ id: 's-mem', label: t('field.memory'), input: h('input', { type: 'number', min: 16, max: L.max_memory_mib, inputmode: 'numeric' }),
      hint: t('wizard.mem_hint', { max: L.max_memory_mib, host: fmtMiB(host.memory_mib), avail: fmtMiB(host.memory_available_mib) }) });
    const fCpus = field({ id: 's-cpus', label: t('field.cpus'), input: h('input', { type: 'number', min: 1, max: L.max_cpus, inputmode: 'numeric' }),
      hint: t('wizard.cpu_hint', { max: L.max_cpus }) });
    const bootSel = h('select', {}, BOOT_ORDERS.map((o) => h('option', { value: o.join(','), text: o.map((d) => t('boot.' + d)).join(' → ') })));
    const fBoot = field({ id: 's-boot', label: t('field.boot_order'), input: bootSel });
    // Firmware (x86_64): SeaBIOS, UEFI, or UEFI with Secure Boot; a TPM 2.0 (Windows 11 wants both).
    const fwSel = h('select', {}, ['bios', 'uefi', 'uefi-secure'].map((f) => h('option', { value: f, text: t('fw.' + f.replace('-', '_')) })));
    const fFw = field({ id: 's-fw', label: t('field.firmware'), input: fwSel, hint: t('fw.hint') });
    const tpmBox = h('input', { type: 'checkbox', id: 's-tpm' });
    const tpmWrap = h('div', { class: 'choice' }, tpmBox, h('label', { for: 's-tpm', text: t('field.tpm') }));
    // Sound: a sound card whose output the console plays (VNC audio); with the VM stopped.
    const audioBox = h('input', { type: 'checkbox', id: 's-audio' });
    const audioWrap = h('div', { class: 'choice' }, audioBox, h('label', { for: 's-audio', text: t('field.audio') }));
    // The Windows answer CD (unattend: docs/windows-unattend.md), made by the wizard: shown while
    // set; untick and save to detach it once Windows is installed.
    const unBox = h('input', { type: 'checkbox', id: 's-unattend' });
    const unLabel = h('label', { for: 's-unattend' });
    const unWrap = h('div', { class: 'choice', hidden: true }, unBox, unLabel);
    // The Windows drivers disc (drivers_iso: virtio-win) from the image library, attached or
    // detached while stopped; offered for x86_64, shown wherever one is set.
    const drvSel = h('select', {});
    const fDrv = field({ id: 's-drivers', label: t('drivers.title'), input: drvSel, hint: t('drivers.hint') });
    let drvImages = [];
    const fillDrivers = (cur) => {
      const list = drvImages.filter((i) => /virtio/i.test(i.name) && i.path !== cur);
      drvSel.replaceChildren(h('option', { value: '', text: t('drivers.none') }),
        ...(cur ? [h('option', { value: cur, text: cur.split('/').pop() })] : []),
        ...list.map((i) => h('option', { value: i.path, text: i.name })));
      drvSel.value = cur || '';
    };
    listImages().then((imgs) => { if (alive && imgs) { drvImages = imgs; if (vm) fillDrivers(vm.drivers_iso || ''); } }).catch(() => {});
    const autoBox = h('input', { type: 'checkbox', id: 's-auto' });
    const autoWrap = h('div', { class: 'choice' }, autoBox, h('label', { for: 's-auto', text: t('field.autostart') }));
    // Performance mode: any time; while QEMU runs the daemon applies it at once and says what it did.
    const perfSel = h('select', {}, ['standard', 'saver', 'turbo'].map((m) => h('option', { value: m, text: t('perf.' + m) })));
    const fPerf = field({ id: 's-perf', label: t('field.performance'), input: perfSel, hint: t('perf.hint') });
    const perfNow = h('p', { class: 'hint', id: 's-perf-now', 'aria-live': 'polite' });
    const fwOf = (x) => (x.secure_boot ? 'uefi-secure' : x.firmware === 'uefi' ? 'uefi' : 'bios');
    const stoppedNote = h('p', { class: 'hint', text: t('vm.settings_stopped') });
    const saveBtn = h('button', { type: 'submit', class: 'btn primary', text: t('vm.save') });
    const settingsMsg = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
    const settings = h('form', { class: 'settings', novalidate: true, 'aria-labelledby': 'settings-title' },
      fName.wrap, fPerf.wrap, perfNow, autoWrap, stoppedNote, fMem.wrap, fCpus.wrap, fBoot.wrap, fFw.wrap, tpmWrap,
      audioWrap, unWrap, fDrv.wrap, h('div', { class: 'row end' }, saveBtn), settingsMsg);
    settings.addEventListener('submit', async (e) => {
      e.preventDefault();
      errors.clear();
      settingsMsg.textContent = '';
      const patch = {};
      const name = fName.input.value.trim();
      if (!name) { fName.error(t('wizard.err.name_required')); fName.input.focus(); return; }
      fName.error('');
      if (name !== vm.name) patch.name = name;
      if (autoBox.checked !== !!vm.autostart) patch.autostart = autoBox.checked; // any time: QEMU is not touched
      if (perfSel.value !== (vm.performance || 'standard')) patch.performance = perfSel.value; // any time
      const editable = !isLive(vm.state) && vm.state !== 'starting' && vm.state !== 'shutting-down';
      if (editable) {
        const m = Number(fMem.input.value), c = Number(fCpus.input.value);
        if (!Number.isInteger(m) || m < 16 || m > L.max_memory_mib) { fMem.error(t('wizard.err.mem_max', { max: L.max_memory_mib })); fMem.input.focus(); return; }
        fMem.error('');
        if (!Number.isInteger(c) || c < 1 || c > L.max_cpus) { fCpus.error(t('wizard.err.cpu_max', { max: L.max_cpus })); fCpus.input.focus(); return; }
        fCpus.error('');
        if (m !== vm.memory_mib) patch.memory_mib = m;
        if (c !== vm.cpus) patch.cpus = c;
        if (bootSel.value !== (vm.boot_order || []).join(',')) patch.boot_order = bootSel.value.split(',');
        if (vm.arch === 'x86_64' && fwSel.value !== fwOf(vm)) {
          patch.firmware = fwSel.value === 'bios' ? 'bios' : 'uefi';
          patch.secure_boot = fwSel.value === 'uefi-secure';
        }
        if (tpmBox.checked !== !!vm.tpm) patch.tpm = tpmBox.checked;
        if (audioBox.checked !== !!vm.audio) patch.audio = audioBox.checked;
        if (vm.unattend && !unBox.checked) patch.unattend = null;
        if (drvSel.value !== (vm.drivers_iso || '')) patch.drivers_iso = drvSel.value || null;
      }
      if (!Object.keys(patch).length) { settingsMsg.textContent = t('vm.no_changes'); return; }
      try {
        const v = await withBusy(saveBtn, () => patchVm(id, patch));
        setVm(v, true);
        settingsMsg.textContent = t('vm.saved');
      } catch (err) {
        errors.show(err);
      }
    });

    // Remote desktop: target, stored credentials, Open RDP console (pages/vm-rdp.js)
    const rdp = rdpSection({ id, onSaved: (v) => setVm(v, true), onError: (e) => errors.show(e) });
    snaps = snapshotsSection({ id, onVm: (v) => setVm(v), onError: (e) => errors.show(e) });
    const network = networkSection({ id, onSaved: (v) => setVm(v, true), onError: (e) => errors.show(e) });
    const shortcuts = shortcutsSection({ id, onSaved: (v) => setVm(v, true), onError: (e) => errors.show(e) });
    const shares = sharesSection({ id, onSaved: (v) => setVm(v, true), onError: (e) => errors.show(e) });
    const kboot = kernelSection({ id, onSaved: (v) => setVm(v, true), onError: (e) => errors.show(e) });
    qargs = qemuArgsSection({ id, onSaved: (v) => setVm(v, true), onError: (e) => errors.show(e) });
    disks = disksSection({ id, limits: host.limits, onVm: (v) => (v ? setVm(v) : load()), onError: (e) => errors.show(e) });

    const exporter = exportSection({ id });
    const tools = toolsSection({ id, host, onSaved: (v) => setVm(v, true), onError: (e) => errors.show(e) });
    // Clone
    const cloneBtn = h('button', { type: 'button', class: 'btn', text: t('vm.clone') });
    cloneBtn.addEventListener('click', async () => {
      errors.clear();
      const nameIn = h('input', { type: 'text', id: 'clone-name', maxlength: L.name_max_bytes, autocomplete: 'off', value: t('vm.clone_default', { name: vm.name }) });
      const ok = await confirmDialog({
        title: t('vm.clone_title', { name: vm.name }),
        message: t('vm.clone_message'),
        confirm: t('vm.clone'),
        extra: h('div', { class: 'field' }, h('label', { for: 'clone-name', text: t('field.name') }), nameIn),
      });
      if (!ok) return;
      status.textContent = t('vm.cloning');
      try {
        const c = await withBusy(cloneBtn, () => cloneVm(id, nameIn.value.trim()));
        status.textContent = '';
        if (alive && c && c.id) window.qhmNavigate(`/vm/${encodeURIComponent(c.id)}`);
      } catch (err) {
        status.textContent = '';
        errors.show(err);
      }
    });

    // Delete
    const delBtn = h('button', { type: 'button', class: 'btn danger', text: t('vm.delete') });
    delBtn.addEventListener('click', async () => {
      errors.clear();
      const keepId = 'keep-disks';
      const keep = h('input', { type: 'checkbox', id: keepId });
      const ok = await confirmDialog({
        title: t('vm.delete_title', { name: vm.name }),
        message: t('vm.delete_message'),
        confirm: t('vm.delete_confirm'),
        danger: true,
        extra: (vm.disks || []).length ? h('div', { class: 'choice' }, keep, h('label', { for: keepId, text: t('vm.keep_disks') })) : null,
      });
      if (!ok) return;
      status.textContent = t('vm.deleting');
      try {
        await withBusy(delBtn, () => deleteVm(id, keep.checked));
        if (alive) window.qhmNavigate('/', { replace: true });
      } catch (err) {
        status.textContent = '';
        errors.show(err);
      }
    });

    main.append(
      h('nav', { class: 'crumbs', 'aria-label': t('vm.breadcrumb') }, h('a', { href: '/', 'data-link': true, text: t('nav.library') })),
      h('div', { class: 'page-head' }, h('div', { class: 'title-row' }, title, badge), h('div', { class: 'row' }, serialLink, consoleLink)),
      reason,
      h('div', { class: 'actions toolbar-actions', role: 'group', 'aria-label': t('vm.actions') }, actions.buttons),
      orphans,
      crash,
      h('div', { class: 'vm-grid' },
        h('section', { 'aria-labelledby': 'ov-title' }, h('h2', { id: 'ov-title', text: t('vm.overview') }), shot, facts),
        h('section', { 'aria-labelledby': 'settings-title' }, h('h2', { id: 'settings-title', text: t('vm.settings') }), settings)),
      disks.el,
      network.el,
      snaps.el,
      shares.el,
      tools.el,
      kboot.el,
      qargs.el,
      rdp.el,
      shortcuts.el,
      h('section', { 'aria-labelledby': 'log-title' }, h('div', { class: 'section-head' }, h('h2', { id: 'log-title', text: t('vm.log') }), logLive), logPre),
      h('section', { 'aria-labelledby': 'cmd-title' }, h('h2', { id: 'cmd-title', text: t('vm.cmdline') }), cmd),
      h('section', { 'aria-labelledby': 'clone-title' }, h('h2', { id: 'clone-title', text: t('vm.clone_section') }),
        h('p', { class: 'hint', text: t('vm.clone_hint') }), cloneBtn),
      exporter.el,
      h('section', { class: 'danger-zone', 'aria-labelledby': 'del-title' }, h('h2', { id: 'del-title', text: t('vm.delete_section') }),
        h('p', { class: 'hint', text: t('vm.delete_hint') }), delBtn));
    status.textContent = '';

    ui = {
      render(formsToo) {
        document.title = `${vm.name} — ${t('app.title')}`;
        title.textContent = vm.name;
        setBadge(badge, vm.state);
        reason.textContent = vm.state_reason ? t('vm.reason', { reason: vm.state_reason }) : '';
        actions.update(vm.state);
        consoleLink.hidden = !isLive(vm.state);
        delBtn.disabled = vm.state !== 'stopped' && vm.state !== 'crashed';
        cloneBtn.disabled = delBtn.disabled;
        facts.replaceChildren();
        const fact = (k, val) => facts.append(h('dt', { text: k }), h('dd', { text: val }));
        fact(t('field.arch'), vm.arch);
        if (vm.qemu_binary) fact(t('vm.qemu_binary'), vm.qemu_binary); // what runs (Debian's i386 wrapper execs another)
        fact(t('vm.accelerator'), vm.accelerator ? t('accel.' + vm.accelerator) : '—');
        fact(t('field.memory'), String(vm.memory_mib));
        fact(t('field.cpus'), String(vm.cpus));
        fact(t('vm.disks'), (vm.disks || []).map((d) => `${d.size_gib} GiB ${d.interface}`).join(', ') || t('wizard.no_disk'));
        fact(t('vm.cdrom'), vm.cdrom || '—');
        if (vm.drivers_iso) fact(t('vm.drivers_iso'), vm.drivers_iso);
        fact(t('field.boot_order'), (vm.boot_order || []).map((d) => t('boot.' + d)).join(' → '));
        fact(t('field.firmware'), t('fw.' + (vm.arch === 'aarch64' ? 'uefi' : fwOf(vm).replace('-', '_'))) + (vm.tpm ? ' + TPM 2.0' : ''));
        if (isLive(vm.state) && vm.guest_agent) { // what the guest agent says, when one runs in the guest
          const dd = h('dd', { text: t('guest.asking') });
          facts.append(h('dt', { text: t('guest.title') }), dd);
          vmGuest(id).then((g) => {
            if (!alive) return;
            if (!g.agent) { dd.textContent = t('guest.none'); return; }
            const ips = (g.interfaces || []).filter((i) => i.name !== 'lo').flatMap((i) => i.addresses.map((a) => a.address));
            dd.textContent = t('guest.info', { host: g.hostname || '?', os: (g.os && (g.os.name || g.os.kernel)) || '?', ips: ips.join(', ') || '—' });
          }).catch((e) => { if (alive) dd.textContent = e.message; });
        }
        if ((vm.forwards_active || []).length)
          fact(t('vm.forwards'), vm.forwards_active.map((f) => `${f.proto} 127.0.0.1:${f.host_port} → ${f.guest_port}`).join(', '));
        const editable = vm.state === 'stopped' || vm.state === 'crashed';
        for (const f of [fMem, fCpus, fBoot, fFw]) f.input.disabled = !editable;
        tpmBox.disabled = !editable || !(host.tpm && host.tpm.available);
        audioBox.disabled = !editable;
        unWrap.hidden = !vm.unattend;
        unBox.disabled = !editable;
        if (vm.unattend) unLabel.textContent = t('unattend.attached', { user: vm.unattend.user });
        fDrv.wrap.hidden = vm.arch !== 'x86_64' && !vm.drivers_iso;
        drvSel.disabled = !editable;
        fFw.wrap.hidden = vm.arch !== 'x86_64';
        fwSel.querySelectorAll('option[value^="uefi"]').forEach((o) => { o.disabled = !host.arches.x86_64.uefi; });
        stoppedNote.hidden = editable;
        rdp.render(vm, formsToo);
        snaps.render(vm);
        shares.render(vm);
        shortcuts.render(vm);
        network.render(vm, formsToo);
        kboot.render(vm, formsToo);
        qargs.render(vm, formsToo);
        disks.render(vm);
        exporter.render(vm);
        tools.render(vm);
        if (formsToo) {
          fName.input.value = vm.name;
          fMem.input.value = vm.memory_mib;
          fCpus.input.value = vm.cpus;
          const bo = (vm.boot_order || []).join(',');
          if (![...bootSel.options].some((o) => o.value === bo)) bootSel.append(h('option', { value: bo, text: (vm.boot_order || []).map((d) => t('boot.' + d)).join(' → ') }));
          bootSel.value = bo;
          fwSel.value = fwOf(vm);
          tpmBox.checked = !!vm.tpm;
          audioBox.checked = !!vm.audio;
          unBox.checked = !!vm.unattend;
          fillDrivers(vm.drivers_iso || '');
          autoBox.checked = !!vm.autostart;
          perfSel.value = vm.performance || 'standard';
        }
        const pa = vm.performance_active;
        perfNow.hidden = !pa;
        if (pa) {
          const parts = [t('perf.active', { list: pa.applied.join('; ') || '—' })];
          if (pa.not_applied.length) parts.push(t('perf.not_applied', { list: pa.not_applied.join('; ') }));
          if (pa.restart) parts.push(t('perf.restart'));
          perfNow.textContent = parts.join(' ');
        }
        renderOrphans();
        const ex = vm.last_exit;
        crash.hidden = !(ex && ex.status === 'crashed' && vm.state === 'crashed');
        if (!crash.hidden) {
          const sig = ex.signal ? `${ex.signal_name || 'signal'} (${ex.signal})` : null;
          crash.replaceChildren(
            h('h2', { id: 'crash-title', text: t('vm.crashed_title') }),
            h('p', { text: sig ? t('vm.crashed_signal', { signal: sig }) : t('vm.crashed_code', { code: ex.exit_code ?? '?' }) }),
            ex.at ? h('p', { class: 'hint', text: new Date(ex.at * 1000).toLocaleString() }) : null,
            h('pre', { class: 'log', tabindex: '0', text: (ex.log_tail || []).join('\n') }));
        }
        shot.hidden = !isLive(vm.state);
        if (isLive(vm.state)) { const im = new Image(); im.onload = () => { if (alive) shot.src = im.src; }; im.src = screenshotUrl(id); }
        logLive.textContent = isLive(vm.state) || vm.state === 'starting' || vm.state === 'shutting-down' ? t('vm.log_live') : '';
        pollLog();
        vmCmdline(id).then((c) => { if (alive && c && c.argv) cmd.textContent = shellLine(c.argv); }).catch((e) => { cmd.textContent = e.message; });
      },
      async log() {
        try {
          const text = await vmLog(id, 200);
          if (!alive) return;
          const atEnd = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 8;
          if (logPre.textContent !== text) {
            logPre.textContent = text;
            if (atEnd) logPre.scrollTop = logPre.scrollHeight;
          }
        } catch (e) {
          if (alive) logPre.textContent = e.message;
        }
      },
    };
    ui.render(true);
  }

  function pollLog() {
    clearTimeout(logTimer);
    if (!alive || !ui) return;
    ui.log();
    if (vm && vm.state !== 'stopped' && vm.state !== 'crashed') logTimer = setTimeout(pollLog, LOG_MS);
  }

  function setVm(v, formsToo = false) {
    const first = !vm;
    vm = v;
    if (first) build();
    else ui.render(formsToo);
  }

  async function load(formsToo = false) {
    try {
      const [v, hst] = await Promise.all([getVm(id), host ? host : getHost()]);
      if (!alive) return;
      host = hst;
      setVm(v, formsToo);
    } catch (e) {
      if (!alive) return;
      status.textContent = '';
      if (e.status === 404 && vm) { window.qhmNavigate('/', { replace: true }); return; }
      errors.show(t('vm.load_failed', { message: e.message }));
    }
  }

  load(true);
  const unsubscribe = subscribe((ev) => {
    if (ev.type === 'resync' || ((ev.type === 'vm.state' || ev.type === 'vm.exit' || ev.type === 'vm.forwards') && ev.vm === id)) load();
    else if (ev.type === 'vm.deleted' && ev.vm === id) window.qhmNavigate('/', { replace: true });
    else if (ev.type === 'vm.snapshots' && ev.vm === id && snaps) snaps.refresh();
  });

  return () => {
    alive = false;
    clearTimeout(logTimer);
    if (snaps) snaps.destroy();
    if (disks) disks.destroy();
    if (qargs) qargs.destroy();
    unsubscribe();
  };
}
