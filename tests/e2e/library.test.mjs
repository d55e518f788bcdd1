// SPDX-License-Identifier: GPL-2.0-or-later
// Library, shell and host page tests: VM names are text, cards follow the
// event stream and show a live thumbnail, the empty state leads to the
// wizard, language switching (and zh-CN from the browser), the router's
// fallbacks, first paint.
import { waitFor, assert } from './lib/daemon.mjs';
import { MEMTEST, waitStatus } from './lib/console.mjs';

const HOSTILE = '<img src=x onerror="window.__xss=1">&amp;';

export const tests = [
  {
    name: 'library: VM names are text; cards link to the VM page; unknown VM and page explained',
    timeoutMs: 60000,
    async fn(ctx) {
      const d = ctx.daemon;
      const evil = await d.api('POST', '/vms', { name: HOSTILE, memory_mib: 128, disks: [] });
      const plain = await d.api('POST', '/vms', { name: 'plain', memory_mib: 128, disks: [] });
      const { page } = await ctx.browser();
      await page.goto(d.http + '/');
      await waitFor('two VM cards', async () => (await page.locator('li.card').count()) === 2, { timeoutMs: 10000 });
      const names = await page.locator('a.vm-name').allTextContents();
      assert(names.includes(HOSTILE) && names.includes('plain'), `names shown verbatim: ${JSON.stringify(names)}`);
      assert(await page.locator('.card-body img').count() === 0, 'no element injected from a VM name');
      assert(await page.evaluate(() => window.__xss === undefined), 'no script ran from a VM name');
      // A stopped VM's card offers Start only (plus nothing live).
      const card = page.locator(`li.card[data-vm-id="${plain.id}"]`);
      for (const [name, visible] of [['Start', true], ['Pause', false], ['Resume', false], ['Force stop', false], ['Console', false]])
        assert(await card.getByRole(name === 'Console' ? 'link' : 'button', { name, exact: true }).isVisible() === visible, `card "${name}" visible=${visible}`);
      await page.getByRole('link', { name: HOSTILE, exact: true }).click();
      await waitFor('the VM page URL', () => page.url().endsWith(`/vm/${evil.id}`), { timeoutMs: 5000 });
      await page.getByRole('heading', { level: 1, name: HOSTILE }).waitFor({ timeout: 5000 });
      assert(await page.evaluate(() => window.__xss === undefined && !document.querySelector('main img:not(.vm-shot)')), 'no injection on the VM page');
      // Its console, opened directly, says it is not running; the title is text.
      await page.goto(`${d.http}/vm/${evil.id}/console`);
      const s = await waitStatus(page, 'stopped', 10000);
      assert(/not running/i.test(s.text), `a stopped VM's console says so: ${s.text}`);
      assert(await page.locator('h1.vm-title').textContent() === HOSTILE, 'console title is the name as text');
      // Unknown VM: the daemon's not_found message, as text.
      await page.goto(`${d.http}/vm/0000000000000000/console`);
      const e = await waitStatus(page, 'error', 10000);
      assert(/Could not load the virtual machine: .+/.test(e.text), `unknown VM explained: ${e.text}`);
      await page.goto(`${d.http}/vm/0000000000000000`);
      await page.getByRole('alert').filter({ hasText: /Could not load the virtual machine: .+/ }).waitFor({ timeout: 5000 });
      await page.goto(`${d.http}/no/such/page`);
      await page.getByRole('heading', { name: 'Page not found' }).waitFor({ timeout: 5000 });
    },
  },
  {
    name: 'library: state and thumbnail follow the event stream; quick actions; empty state leads to the wizard',
    timeoutMs: 90000,
    async fn(ctx) {
      const d = ctx.daemon;
      const { page } = await ctx.browser();
      await page.goto(d.http + '/');
      await page.getByRole('heading', { name: 'No virtual machines yet' }).waitFor({ timeout: 10000 });
      // First paint of the library on loopback (reload: the browser is warm).
      await page.reload();
      await page.getByRole('heading', { name: 'No virtual machines yet' }).waitFor({ timeout: 10000 });
      const fcp = await page.evaluate(() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime);
      console.log(`# library first contentful paint: ${Math.round(fcp)} ms`);
      assert(fcp > 0 && fcp < 500, `first paint under 500 ms (${fcp} ms)`);
      await page.getByRole('button', { name: 'Create your first VM' }).click();
      await page.getByRole('heading', { level: 1, name: 'New VM' }).waitFor({ timeout: 5000 });
      await page.goBack();

      const vm = await d.api('POST', '/vms', { name: 'live', memory_mib: 128, disks: [], cdrom: MEMTEST });
      const card = page.locator(`li.card[data-vm-id="${vm.id}"]`);
      await waitFor('the card (vm.created event)', async () => (await card.getAttribute('data-state')) === 'stopped', { timeoutMs: 5000, intervalMs: 100 });
      await d.api('POST', `/vms/${vm.id}/start`, undefined, { timeoutMs: 90000 });
      // Faster than the 15 s fallback poll: only an event gets it there in time.
      await waitFor('the card as running', async () => (await card.getAttribute('data-state')) === 'running', { timeoutMs: 5000, intervalMs: 100 });
      await waitFor('a thumbnail of the running VM', () => card.locator('img').evaluate((i) => !i.hidden && i.naturalWidth > 0), { timeoutMs: 15000 });
      // The arch label does not cover the guest's screen (only the placeholder has it).
      assert(await card.locator('.thumb-arch').isHidden(), 'the arch label is over the live thumbnail');
      // For the README picture: memtest86+ on its thumbnail, and a second, stopped VM.
      await d.api('POST', '/vms', { name: 'debian-arm64', arch: 'aarch64', memory_mib: 1024, cpus: 2, disks: [{ size_gib: 8 }] });
      await waitFor('memtest86+ drawn (blue) on the thumbnail', () => card.locator('img').evaluate((i) => {
        if (!i.naturalWidth) return false;
        const c = document.createElement('canvas'); c.width = 64; c.height = 40;
        const g = c.getContext('2d'); g.drawImage(i, 0, 0, 64, 40);
        const p = g.getImageData(32, 30, 1, 1).data;
        return p[2] > 100 && p[0] < 80;
      }), { timeoutMs: 30000, intervalMs: 500 });
      // Quick actions from the card.
      await card.getByRole('button', { name: 'Pause', exact: true }).click();
      await waitFor('the card as paused', async () => (await card.getAttribute('data-state')) === 'paused', { timeoutMs: 10000, intervalMs: 100 });
      assert(await card.locator('.badge').textContent() === 'Paused', 'badge says Paused');
      await page.screenshot({ path: ctx.screenshot('library.png') });
      await card.getByRole('button', { name: 'Resume', exact: true }).click();
      await waitFor('the card as running again', async () => (await card.getAttribute('data-state')) === 'running', { timeoutMs: 10000, intervalMs: 100 });
      await d.api('POST', `/vms/${vm.id}/kill`);
      await waitFor('the card as stopped again', async () => (await card.getAttribute('data-state')) === 'stopped', { timeoutMs: 5000, intervalMs: 100 });
    },
  },
  {
    name: 'i18n: zh-CN from the browser; the language menu switches and is remembered; host page',
    timeoutMs: 60000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'zh', memory_mib: 128, disks: [] });
      const { page } = await ctx.browser({ locale: 'zh-CN' });
      await page.goto(`${d.http}/vm/${vm.id}/console`);
      const s = await waitStatus(page, 'stopped', 10000);
      assert(s.text.includes('未运行'), `status in Chinese: ${s.text}`);
      for (const name of ['Ctrl+Alt+Del', '全屏', '重新连接', '剪贴板'])
        assert(await page.getByRole('button', { name, exact: true }).count() === 1, `button "${name}"`);
      assert(await page.evaluate(() => document.documentElement.lang) === 'zh-CN', 'html lang is zh-CN');
      await page.goto(d.http + '/');
      await page.getByRole('heading', { level: 1, name: '虚拟机' }).waitFor({ timeout: 5000 });
      await page.getByRole('button', { name: '新建虚拟机' }).waitFor({ timeout: 5000 });
      // Switch to English with the menu: every string follows, and it sticks across loads.
      await page.getByRole('combobox', { name: '语言' }).selectOption('en');
      await page.getByRole('heading', { level: 1, name: 'Virtual machines' }).waitFor({ timeout: 5000 });
      await page.getByRole('button', { name: 'New VM' }).waitFor({ timeout: 5000 });
      assert(await page.locator(`li.card[data-vm-id="${vm.id}"] .badge`).textContent() === 'Stopped', 'badge in English');
      assert(await page.evaluate(() => document.documentElement.lang) === 'en', 'html lang is en');
      await page.reload();
      await page.getByRole('heading', { level: 1, name: 'Virtual machines' }).waitFor({ timeout: 5000 });
      // Host page (English), then back to Chinese.
      await page.getByRole('link', { name: 'Host', exact: true }).click();
      await page.getByRole('heading', { level: 2, name: 'Acceleration' }).waitFor({ timeout: 5000 });
      const host = await d.api('GET', '/host');
      const note = await page.locator('section', { has: page.getByRole('heading', { name: 'Acceleration' }) }).locator('.note').textContent();
      assert(note.includes(host.kvm.usable ? 'KVM works' : host.kvm.reason), `host page explains acceleration: ${note}`);
      assert(await page.getByRole('row', { name: /aarch64/ }).count() === 1, 'one row per arch');
      await page.getByRole('combobox', { name: 'Language' }).selectOption('zh-CN');
      await page.getByRole('heading', { level: 2, name: '加速' }).waitFor({ timeout: 5000 });
      // Theme menu: dark is applied to the document.
      await page.getByRole('combobox', { name: '主题' }).selectOption('dark');
      assert(await page.evaluate(() => document.documentElement.dataset.theme) === 'dark', 'dark theme applied');
      assert(await page.evaluate(() => getComputedStyle(document.body).backgroundColor) === 'rgb(18, 20, 25)', 'dark background');
    },
  },
];
