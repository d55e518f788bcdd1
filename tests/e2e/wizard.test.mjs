// SPDX-License-Identifier: GPL-2.0-or-later
// The whole path a user takes, on a desktop (1280x800) and on a phone with
// touch (390x844): the wizard creates a VM, starts it and opens the console,
// the guest shows up (pixel check that skips QEMU's placeholder), then the
// VM page pauses, resumes, force-stops and deletes it, each state confirmed
// by the badge the event stream updates. Also: the wizard refuses values over
// the host's limits before submitting, and shows the daemon's own error.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PHONE, DESKTOP } from './lib/browser.mjs';
import { waitFor, sleep, assert } from './lib/daemon.mjs';
import { GRUB, waitStatus, waitCanvas } from './lib/console.mjs';

const tap = (loc, touch) => (touch ? loc.tap() : loc.click());

async function badgeIs(page, state, label) {
  await waitFor(`the VM page badge "${label}"`, async () => {
    const b = page.locator('main .page-head .badge');
    return (await b.getAttribute('data-state')) === state && (await b.textContent()) === label;
  }, { timeoutMs: 30000, intervalMs: 100 });
}

async function enabled(page, names) {
  const out = {};
  for (const n of ['Start', 'Pause', 'Resume', 'Shut down', 'Force stop', 'Reset'])
    out[n] = await page.getByRole('group', { name: 'Power' }).getByRole('button', { name: n, exact: true }).isEnabled();
  const want = Object.fromEntries(Object.keys(out).map((n) => [n, names.includes(n)]));
  assert(JSON.stringify(out) === JSON.stringify(want), `enabled actions ${JSON.stringify(out)}, want ${JSON.stringify(want)}`);
}

function fullPath(label, device) {
  const touch = !!device.hasTouch;
  return {
    name: `wizard (${label}): create → start → guest in the console → pause → resume → force stop → delete`,
    timeoutMs: 150000,
    async fn(ctx) {
      const d = ctx.daemon;
      const { page } = await ctx.browser(device);
      await page.goto(d.http + '/');
      await tap(page.getByRole('button', { name: 'New VM', exact: true }), touch);
      await page.getByRole('heading', { level: 1, name: 'New VM' }).waitFor({ timeout: 5000 });
      // 1 Source
      await page.getByLabel('Name', { exact: true }).fill(`e2e-${label}`);
      assert(await page.getByRole('radio', { name: 'An ISO from the image library' }).isDisabled(), 'no image library here: its choice is disabled');
      await page.getByRole('radio', { name: 'An ISO file on this device' }).check();
      await page.getByLabel('ISO path', { exact: true }).fill(GRUB);
      await tap(page.getByRole('button', { name: 'Next' }), touch);
      // 2 Architecture, with the emulation note
      await page.getByRole('radio', { name: /x86_64/ }).check();
      const host = await d.api('GET', '/host');
      const note = await page.locator('#arch-note').textContent();
      if (host.arches.x86_64.accelerator === 'tcg') assert(/emulated/.test(note), `note says emulated: ${note}`);
      await tap(page.getByRole('button', { name: 'Next' }), touch);
      // 3 Memory and CPUs, with the host's limits shown
      const mem = page.getByLabel('Memory (MiB)', { exact: true });
      assert((await page.locator('#w-mem-hint').textContent()).includes(String(host.limits.max_memory_mib)), 'memory hint shows the limit');
      // The wizard starts from the daemon's defaults for the arch (one source with the API's).
      const dflt = host.arches.x86_64.defaults;
      const memNow = Number(await page.getByLabel('Memory (MiB)', { exact: true }).inputValue());
      assert(memNow === Math.min(dflt.memory_mib, host.limits.max_memory_mib), `memory starts at ${memNow}, the daemon's default is ${dflt.memory_mib}`);
      await mem.fill('128');
      await page.getByLabel('CPUs', { exact: true }).fill('1');
      await tap(page.getByRole('button', { name: 'Next' }), touch);
      // 4 Disk: none
      await page.getByLabel('Disk size (GiB)', { exact: true }).fill('0');
      await tap(page.getByRole('button', { name: 'Next' }), touch);
      // 5 Summary
      await page.getByRole('heading', { name: /Summary/ }).waitFor({ timeout: 5000 });
      // The exact command line before anything is created (POST /vms?dry_run=true).
      await waitFor('the command line preview', async () => {
        const c = await page.locator('#cmd-preview').textContent();
        return c.includes('qemu-system-x86_64') && c.includes(GRUB);
      }, { timeoutMs: 5000 });
      assert((await d.api('GET', '/vms')).vms.length === 0, 'the preview created nothing');
      if (label === 'desktop') await page.screenshot({ path: ctx.screenshot('wizard.png') });
      await tap(page.getByRole('button', { name: 'Create', exact: true }), touch);
      await page.getByText(`e2e-${label} was created.`).first().waitFor({ timeout: 20000 });
      // The exact QEMU command line of the created VM.
      const vms = (await d.api('GET', '/vms')).vms;
      assert(vms.length === 1 && vms[0].name === `e2e-${label}` && vms[0].memory_mib === 128 && vms[0].cpus === 1 &&
        vms[0].disks.length === 0 && vms[0].cdrom === GRUB, `created as asked: ${JSON.stringify(vms[0])}`);
      const id = vms[0].id;
      const argv = (await d.api('GET', `/vms/${id}/cmdline`)).argv;
      await waitFor('the exact command line', async () => (await page.locator('#cmd-preview').textContent()).includes(argv[0]) &&
        (await page.locator('#cmd-preview').textContent()).includes(GRUB), { timeoutMs: 5000 });
      await tap(page.getByRole('button', { name: 'Start and open console' }), touch);
      await waitFor('the console URL', () => page.url().endsWith(`/vm/${id}/console`), { timeoutMs: 60000 });
      await waitStatus(page, 'connected');
      await waitCanvas(page, 'the guest on the canvas', () => true, 90000, { daemon: d, id });
      // The VM page.
      await tap(page.getByRole('link', { name: /VM/ }).first(), touch);
      await waitFor('the VM page', () => page.url().endsWith(`/vm/${id}`), { timeoutMs: 5000 });
      await badgeIs(page, 'running', 'Running');
      await enabled(page, ['Pause', 'Shut down', 'Force stop', 'Reset']);
      await tap(page.getByRole('button', { name: 'Pause', exact: true }), touch);
      await badgeIs(page, 'paused', 'Paused');
      await enabled(page, ['Resume', 'Force stop', 'Reset']);
      await tap(page.getByRole('button', { name: 'Resume', exact: true }), touch);
      await badgeIs(page, 'running', 'Running');
      await waitFor('the live log', async () => (await page.locator('pre.log').first().textContent()).length > 0, { timeoutMs: 10000 });
      if (label === 'desktop') await page.screenshot({ path: ctx.screenshot('vm.png') });
      await tap(page.getByRole('button', { name: 'Force stop', exact: true }), touch);
      await badgeIs(page, 'stopped', 'Stopped');
      await enabled(page, ['Start']);
      // Settings while stopped: memory over the limit is refused, a valid change is saved.
      await page.getByLabel('Memory (MiB)', { exact: true }).fill(String(host.limits.max_memory_mib + 1));
      await tap(page.getByRole('button', { name: 'Save', exact: true }), touch);
      await page.getByText(`Memory is over the host limit of ${host.limits.max_memory_mib} MiB.`).waitFor({ timeout: 5000 });
      await page.getByLabel('Memory (MiB)', { exact: true }).fill('192');
      await page.getByLabel('Boot order', { exact: true }).selectOption('cdrom');
      await tap(page.getByRole('button', { name: 'Save', exact: true }), touch);
      await page.getByText('Saved.').waitFor({ timeout: 5000 });
      const saved = await d.api('GET', `/vms/${id}`);
      assert(saved.memory_mib === 192 && saved.boot_order.join() === 'cdrom', `PATCH applied: ${saved.memory_mib} ${saved.boot_order}`);
      // Delete with confirmation: Cancel keeps it, Delete removes it.
      await tap(page.getByRole('button', { name: 'Delete VM' }), touch);
      await tap(page.getByRole('dialog').getByRole('button', { name: 'Cancel' }), touch);
      assert((await d.api('GET', '/vms')).vms.length === 1, 'Cancel keeps the VM');
      await tap(page.getByRole('button', { name: 'Delete VM' }), touch);
      await tap(page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }), touch);
      await page.getByRole('heading', { name: 'No virtual machines yet' }).waitFor({ timeout: 20000 });
      assert((await d.api('GET', '/vms')).vms.length === 0, 'the VM is gone');
    },
  };
}

export const tests = [
  fullPath('desktop', DESKTOP),
  fullPath('phone', PHONE),
  {
    name: 'wizard: values over the host limits are refused before submit; the daemon\'s errors are shown',
    timeoutMs: 60000,
    async fn(ctx) {
      const d = ctx.daemon;
      const host = await d.api('GET', '/host');
      await d.api('POST', '/vms', { name: 'taken', memory_mib: 128, disks: [] });
      const { page } = await ctx.browser();
      let posts = 0;
      page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/v1/vms')) posts++; });
      await page.goto(d.http + '/new');
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByText('Enter a name.').waitFor({ timeout: 5000 });
      await page.getByLabel('Name', { exact: true }).fill('taken');
      await page.getByRole('radio', { name: 'No installation media' }).check();
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('button', { name: 'Next' }).click();
      const mem = page.getByLabel('Memory (MiB)', { exact: true });
      const cpus = page.getByLabel('CPUs', { exact: true });
      await mem.fill(String(host.limits.max_memory_mib + 1));
      await cpus.fill(String(host.limits.max_cpus + 1));
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByText(`Memory is over the host limit of ${host.limits.max_memory_mib} MiB.`).waitFor({ timeout: 5000 });
      await page.getByText(`CPUs are over the host limit of ${host.limits.max_cpus}.`).waitFor({ timeout: 5000 });
      assert(await mem.getAttribute('aria-invalid') === 'true' && await cpus.getAttribute('aria-invalid') === 'true', 'fields marked invalid');
      assert(await page.getByRole('heading', { name: /Memory and CPUs/ }).isVisible(), 'still on the memory step');
      await mem.fill(String(host.limits.max_memory_mib));
      await cpus.fill(String(host.limits.max_cpus));
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByLabel('Disk size (GiB)', { exact: true }).fill(String(host.limits.max_disk_gib + 1));
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByText(`The disk is over the limit of ${host.limits.max_disk_gib} GiB.`).waitFor({ timeout: 5000 });
      await page.getByLabel('Disk size (GiB)', { exact: true }).fill('0');
      await page.getByRole('button', { name: 'Next' }).click();
      assert(posts === 0, 'nothing was submitted while values were refused');
      // The daemon refuses the duplicate name: its own message is shown at the summary (its dry
      // run), and Create is off.
      let msg = '';
      try { await d.api('POST', '/vms', { name: 'taken', memory_mib: 128, disks: [] }); } catch (e) { msg = e.body.error.message; }
      assert(msg, 'the daemon refuses a duplicate name');
      await page.getByRole('alert').filter({ hasText: msg }).waitFor({ timeout: 10000 });
      assert(await page.getByRole('button', { name: 'Create', exact: true }).isDisabled(), 'Create is off');
      assert(posts === 0, `no create request (${posts})`);
      // A start the daemon refuses (VM page): its message too.
      const vm = (await d.api('GET', '/vms')).vms[0];
      await d.api('PATCH', `/vms/${vm.id}`, { cdrom: '/etc/hostname' }).catch(() => {});
      await page.route('**/api/v1/vms/*/start', (route) => route.fulfill({ status: 500, contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'internal', message: 'qemu-system-x86_64: <b>not markup</b> failed' } }) }));
      await page.goto(`${d.http}/vm/${vm.id}`);
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      await page.getByRole('alert').filter({ hasText: 'qemu-system-x86_64: <b>not markup</b> failed' }).waitFor({ timeout: 5000 });
      assert(await page.locator('main b').count() === 0, 'error text is not parsed as HTML');
    },
  },
];

tests.push({
  name: 'vm page: a QEMU crash is shown prominently with its signal and last log lines',
  timeoutMs: 90000,
  async fn(ctx) {
    const d = ctx.daemon;
    const vm = await d.createStarted({ name: 'crashy', memory_mib: 128, disks: [], cdrom: GRUB });
    const { page } = await ctx.browser();
    await page.goto(`${d.http}/vm/${vm.id}`);
    await badgeIs(page, 'running', 'Running');
    await waitFor('the live log', async () => (await page.locator('pre.log').first().textContent()).length > 0, { timeoutMs: 10000 });
    process.kill(vm.pid, 'SIGKILL');
    await badgeIs(page, 'crashed', 'Crashed');
    const crash = page.getByRole('region', { name: 'QEMU crashed' });
    await crash.waitFor({ timeout: 10000 });
    const text = await crash.textContent();
    assert(/SIGKILL \(9\)/.test(text), `the signal is named: ${text.slice(0, 200)}`);
    const last = (await d.api('GET', `/vms/${vm.id}`)).last_exit;
    assert(last.log_tail.length > 0 && text.includes(last.log_tail.at(-1)), 'the last log lines are shown');
    await enabled(page, ['Start']);
  },
});

tests.push({
  name: 'wizard: an ISO downloaded into the image library, with progress, becomes the VM\'s CD',
  timeoutMs: 90000,
  async fn(ctx) {
    const d = ctx.daemon;
    const iso = readFileSync(GRUB);
    const sha = createHash('sha256').update(iso).digest('hex');
    // A slow local mirror (64 KiB every 20 ms) so the progress is visible.
    const srv = createServer(async (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': iso.length });
      if (req.method === 'HEAD') return res.end();
      for (let o = 0; o < iso.length && !res.destroyed; o += 65536) {
        res.write(iso.subarray(o, o + 65536));
        await sleep(20);
      }
      res.end();
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const { page } = await ctx.browser();
      await page.goto(d.http + '/new');
      await page.getByLabel('Name', { exact: true }).fill('downloaded');
      await page.getByRole('radio', { name: 'Download an ISO into the image library' }).check();
      await page.getByLabel('Download URL').fill(`http://127.0.0.1:${srv.address().port}/grub.iso`);
      await page.getByLabel('SHA-256 (optional)').fill(sha);
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('progressbar', { name: 'Download progress' }).waitFor({ timeout: 10000 });
      await page.getByRole('heading', { name: /Architecture/ }).waitFor({ timeout: 60000 });
      const imgs = (await d.api('GET', '/images')).images;
      assert(imgs.length === 1 && imgs[0].sha256 === sha, `one verified image in the library: ${JSON.stringify(imgs)}`);
      for (let i = 0; i < 3; i++) await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('heading', { name: /Summary/ }).waitFor({ timeout: 5000 });
      await page.getByRole('definition').filter({ hasText: imgs[0].path }).waitFor({ timeout: 5000 });
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      await page.getByText('downloaded was created.').first().waitFor({ timeout: 20000 });
      const vm = (await d.api('GET', '/vms')).vms[0];
      assert(vm.cdrom === imgs[0].path, `the VM boots the downloaded ISO: ${vm.cdrom}`);
      // Back in the wizard, the library now offers it.
      await page.goto(d.http + '/new');
      assert(await page.getByRole('radio', { name: 'An ISO from the image library' }).isChecked(), 'the library is the default source now');
    } finally {
      srv.close();
    }
  },
});

tests.push({
  name: 'wizard: an ISO path is checked as it is typed; Create is off while the summary reports an error',
  timeoutMs: 60000,
  async fn(ctx) {
    const d = ctx.daemon;
    await d.api('POST', '/vms', { name: 'taken', memory_mib: 128, disks: [] });
    const { page } = await ctx.browser();
    await page.goto(d.http + '/new');
    await page.getByLabel('Name', { exact: true }).fill('taken');
    await page.getByRole('radio', { name: 'An ISO file on this device' }).check();
    const iso = page.getByLabel('ISO path');
    const err = page.locator('#w-iso-err');
    // A mistyped path: the daemon's reason under the field before Next is pressed.
    await iso.fill(GRUB.replace('.iso', '-typo.iso'));
    await err.filter({ hasText: 'No such file or directory' }).waitFor({ timeout: 5000 });
    assert(await iso.getAttribute('aria-invalid') === 'true', 'the field is marked invalid');
    await page.getByRole('button', { name: 'Next' }).click();
    await sleep(500);
    assert(await page.getByRole('heading', { name: /Step 1/ }).count() === 1, 'Next stays on the step');
    // Outside the allowed roots: refused, whether or not the file exists.
    await iso.fill('/etc/passwd');
    await err.filter({ hasText: 'outside' }).waitFor({ timeout: 5000 });
    // The real file: found, with its size.
    await iso.fill(GRUB);
    await page.locator('#w-iso-check').filter({ hasText: /^Found: / }).waitFor({ timeout: 5000 });
    assert(await err.isHidden(), 'no error left');
    // Typed and Next pressed at once (before the check's 300 ms): Next waits for the answer, then goes on.
    await iso.fill('/etc/passwd');
    await iso.fill(GRUB);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('heading', { name: /Architecture/ }).waitFor({ timeout: 5000 });
    for (let i = 0; i < 3; i++) await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('heading', { name: /Summary/ }).waitFor({ timeout: 5000 });
    assert(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'step-title',
      'focus on the summary step title, not lost to <body>');
    // The name is taken: the summary says so and Create is off.
    await page.getByText(/name: a VM .*exists/).first().waitFor({ timeout: 5000 });
    const create = page.getByRole('button', { name: 'Create', exact: true });
    assert(await create.isDisabled(), 'Create is disabled while the summary shows an error');
    await page.keyboard.press('Enter');
    await sleep(300);
    assert((await d.api('GET', '/vms')).vms.length === 1, 'nothing was created');
    // Back, a free name, the summary again: Create is on.
    for (let i = 0; i < 4; i++) await page.getByRole('button', { name: 'Back' }).click();
    await page.getByLabel('Name', { exact: true }).fill('free');
    for (let i = 0; i < 4; i++) await page.getByRole('button', { name: 'Next' }).click();
    await page.locator('#cmd-preview').filter({ hasText: 'qemu-system' }).waitFor({ timeout: 10000 });
    assert(await create.isEnabled(), 'Create is enabled again');
    await create.click();
    await page.getByText('free was created.').first().waitFor({ timeout: 20000 });
  },
});

tests.push({
  name: 'wizard: keyboard only — every step walked with Tab, arrows and Enter, focus always somewhere useful',
  timeoutMs: 60000,
  async fn(ctx) {
    const d = ctx.daemon;
    const { page } = await ctx.browser();
    await page.goto(d.http + '/new');
    const active = () => page.evaluate(() => {
      const a = document.activeElement;
      return a ? `${a.tagName.toLowerCase()}${a.id ? '#' + a.id : ''}${a.type ? '[' + a.type + ']' : ''}` : '';
    });
    await page.locator('#w-name').waitFor({ timeout: 10000 });
    assert(await active() === 'input#w-name[text]', `step 1 starts in the name field: ${await active()}`);
    await page.keyboard.type('keys-only');
    // To the source radios, then up from the first one wraps to the last: "No installation media".
    await page.keyboard.press('Tab');
    assert((await active()).endsWith('[radio]'), `Tab reaches the source choice: ${await active()}`);
    await page.keyboard.press('ArrowUp');
    assert(await page.getByRole('radio', { name: 'No installation media' }).isChecked(), 'the arrows choose the source');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /Architecture/ }).waitFor({ timeout: 5000 });
    assert((await active()).endsWith('[radio]'), `step 2 starts on its choice: ${await active()}`);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /Memory and CPUs/ }).waitFor({ timeout: 5000 });
    assert(await active() === 'input#w-mem[number]', `step 3 starts in the memory field: ${await active()}`);
    await page.keyboard.press('Control+a');
    await page.keyboard.type('128');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /Disk/ }).waitFor({ timeout: 5000 });
    await page.keyboard.press('Control+a');
    await page.keyboard.type('0');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /Summary/ }).waitFor({ timeout: 5000 });
    assert(await active() === 'h2#step-title', `the summary's title has focus: ${await active()}`);
    await page.locator('#cmd-preview').filter({ hasText: 'qemu-system' }).waitFor({ timeout: 10000 });
    // Tab on to Create (past the command line, Cancel and Back), then Enter.
    for (let i = 0; i < 8 && (await active()) !== 'button#w-create[submit]'; i++) await page.keyboard.press('Tab');
    assert(await active() === 'button#w-create[submit]', `Tab reaches Create: ${await active()}`);
    await page.keyboard.press('Enter');
    await page.getByText('keys-only was created.').first().waitFor({ timeout: 20000 });
    const vm = (await d.api('GET', '/vms')).vms[0];
    assert(vm.name === 'keys-only' && vm.memory_mib === 128 && vm.disks.length === 0, JSON.stringify(vm));
    assert(await active() !== 'body', 'focus not lost after Create');
  },
});
