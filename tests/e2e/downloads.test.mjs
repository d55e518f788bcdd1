// SPDX-License-Identifier: GPL-2.0-or-later
// Downloads, Images and the wizard's OS-catalog source, against a real local
// HTTP server (lib/files.mjs: ranges, throttled responses) and the daemon's
// real downloader: a start the daemon refuses shows its message as text; a
// download started from the Downloads page advances live
// from the event stream (no polling while it is up), pauses, resumes, is
// cancelled (with confirmation) and removed; a wrong checksum ends "Failed"
// with the daemon's message; a verified one completes and leads to the wizard
// with its image preselected. Images on a 390x844 phone: an upload from the
// browser (with progress), an import by path, the daemon's error for a bad
// path, delete with confirmation, the Downloads page in zh-CN. The wizard's catalog source with a test
// catalog (QHM_CATALOG): only OS entries of the chosen arch (not the drivers disc), a Microsoft refusal
// shown with its message, a download with progress that becomes the VM's CD.
import { writeFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { PHONE, login } from './lib/browser.mjs';
import { waitFor, sleep, startDaemon, assert } from './lib/daemon.mjs';
import { serveFiles, makeFile, sha } from './lib/files.mjs';

const row = (page, name) => page.locator('li.dl-item').filter({ has: page.getByRole('heading', { name, exact: true }) });
const badgeText = (r) => r.locator('.badge').textContent();
const barValue = (r) => r.getByRole('progressbar').evaluate((b) => (b.hasAttribute('value') ? b.value : -1));

export const tests = [
  {
    name: 'downloads (desktop): live progress without polling, pause, resume, wrong checksum, verified download → wizard, cancel',
    timeoutMs: 60000,
    async fn(ctx) {
      const d = ctx.daemon;
      const big = makeFile(24 << 20);
      const small = makeFile(300 << 10);
      // debian-12.8.0-amd64-netinst.iso trickles (16 KiB per 100 ms per connection) so it is still running when paused and cancelled.
      const srv = await serveFiles({
        'debian-12.8.0-amd64-netinst.iso': { data: big, chunk: 16384, delayMs: 100 },
        'alpine-virt-3.20.3-x86_64.iso': { data: small },
        'fedora-tampered.iso': { data: small },
      });
      try {
        const { page } = await ctx.browser();
        let reads = 0; // GET /api/v1/downloads[/ID]: the page's re-reads
        page.on('request', (r) => { if (r.method() === 'GET' && /\/api\/v1\/downloads(\/[^/]*)?$/.test(new URL(r.url()).pathname)) reads++; });
        await page.goto(d.http + '/');
        await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Downloads' }).click();
        await page.getByRole('heading', { level: 1, name: 'Downloads' }).waitFor({ timeout: 5000 });
        await page.getByText('No downloads yet.').waitFor({ timeout: 5000 });

        // Client-side checks before anything is sent.
        await page.getByLabel('Download URL').fill('ftp://example.org/x.iso');
        await page.getByLabel('Checksum (SHA-256 or SHA-512, optional)').fill('abc');
        await page.getByRole('button', { name: 'Start download' }).click();
        await page.getByText('Enter an http:// or https:// address.').waitFor({ timeout: 5000 });
        await page.getByText('A SHA-256 is 64 hexadecimal digits, a SHA-512 is 128.').waitFor({ timeout: 5000 });
        assert((await d.api('GET', '/downloads')).downloads.length === 0, 'nothing was started');

        // A start the daemon refuses (the mirror answers 404): its message, as text (the URL carries markup).
        const markup = `${srv.base}/<b>nope</b>.iso`;
        let refusal = '';
        try { await d.api('POST', '/downloads', { url: markup }); } catch (e) { refusal = e.body.error.message; }
        assert(refusal, 'the daemon refuses a 404 mirror');
        await page.getByLabel('Download URL').fill(markup);
        await page.getByLabel('Checksum (SHA-256 or SHA-512, optional)').fill('');
        await page.getByRole('button', { name: 'Start download' }).click();
        await page.getByRole('alert').filter({ hasText: `The download could not start: ${refusal}` }).waitFor({ timeout: 20000 });
        assert(await page.locator('main b').count() === 0, 'server text is not parsed as HTML');
        for (const x of (await d.api('GET', '/downloads')).downloads) await d.api('DELETE', `/downloads/${x.id}`);
        await waitFor('the refused ones gone', async () => (await page.locator('li.dl-item').count()) === 0, { timeoutMs: 5000 });

        // A (the big one): the slow one — progress advances from events alone.
        await page.getByLabel('Download URL').fill(srv.url('debian-12.8.0-amd64-netinst.iso'));
        await page.getByLabel('Checksum (SHA-256 or SHA-512, optional)').fill(sha('sha256', big));
        await page.getByRole('button', { name: 'Start download' }).click();
        const a = row(page, 'debian-12.8.0-amd64-netinst.iso');
        await a.waitFor({ timeout: 15000 });
        await waitFor('debian-12.8.0-amd64-netinst.iso downloading', async () => (await badgeText(a)) === 'Downloading', { timeoutMs: 10000, intervalMs: 100 });
        let last = 0, changes = 0;
        await waitFor('the progress bar to advance (events flowing)', async () => {
          const v = await barValue(a);
          if (v > last) { changes++; last = v; }
          return changes >= 3;
        }, { timeoutMs: 15000, intervalMs: 150 });
        const readsBefore = reads;
        const v0 = await barValue(a);
        await sleep(2500);
        const v1 = await barValue(a);
        assert(v1 > v0, `progress advanced (${v0} → ${v1})`);
        assert(reads === readsBefore, `no re-reads while the stream is up (${reads - readsBefore} in 2.5 s)`);
        const stats = await a.locator('.dl-stats').textContent();
        assert(/ of 24\.0 MiB \(\d+%\)/.test(stats) && /\/s/.test(stats) && /left/.test(stats), `bytes/total, speed and ETA shown: ${stats}`);
        assert(await a.getByRole('progressbar', { name: 'Progress of debian-12.8.0-amd64-netinst.iso' }).isVisible(), 'the bar is named');
        assert(await a.getByText('Will be verified (SHA-256).').isVisible(), 'the checksum is announced');

        // Pause → only Resume and Cancel valid; no progress while paused.
        await a.getByRole('button', { name: 'Pause' }).click();
        await waitFor('Paused', async () => (await badgeText(a)) === 'Paused', { timeoutMs: 10000, intervalMs: 100 });
        assert(await a.getByRole('button', { name: 'Pause' }).isDisabled(), 'Pause disabled while paused');
        assert(await a.getByRole('button', { name: 'Resume' }).isEnabled(), 'Resume enabled while paused');
        assert(await a.getByRole('button', { name: 'Cancel' }).isEnabled(), 'Cancel enabled while paused');
        const idA = (await d.api('GET', '/downloads')).downloads[0].id;
        assert((await d.api('GET', `/downloads/${idA}`)).state === 'paused', 'the daemon paused it');
        await sleep(300); // a progress event already on its way may still land
        const p0 = await barValue(a);
        await sleep(800);
        assert(await barValue(a) === p0, 'no progress while paused');
        // Resume from the keyboard.
        await a.getByRole('button', { name: 'Resume' }).focus();
        await page.keyboard.press('Enter');
        await waitFor('Downloading again', async () => (await badgeText(a)) === 'Downloading', { timeoutMs: 10000, intervalMs: 100 });
        await waitFor('progress after resume', async () => (await barValue(a)) > p0, { timeoutMs: 10000, intervalMs: 100 });
        assert(await a.getByRole('button', { name: 'Resume' }).isDisabled() && await a.getByRole('button', { name: 'Pause' }).isEnabled(),
          'Pause valid again, Resume not');

        // B: a wrong checksum → Failed with the daemon's message.
        await page.getByLabel('Download URL').fill(srv.url('fedora-tampered.iso'));
        await page.getByLabel('Checksum (SHA-256 or SHA-512, optional)').fill('0'.repeat(64));
        await page.getByRole('button', { name: 'Start download' }).click();
        const b = row(page, 'fedora-tampered.iso');
        await waitFor('fedora-tampered.iso failed', async () => (await b.count()) && (await badgeText(b)) === 'Failed', { timeoutMs: 20000, intervalMs: 100 });
        const bad = (await d.api('GET', '/downloads')).downloads.find((x) => x.name === 'fedora-tampered.iso');
        assert(bad.state === 'failed' && /SHA-256 mismatch/.test(bad.error), `the daemon failed it: ${bad.error}`);
        await waitFor('the error shown', async () => (await b.locator('.dl-error').textContent()) === `Error: ${bad.error}`, { timeoutMs: 5000 });
        assert(await b.getByRole('button', { name: 'Pause' }).isDisabled() && await b.getByRole('button', { name: 'Resume' }).isEnabled(),
          'a failed download can be resumed, not paused');
        assert(await b.getByRole('button', { name: 'Remove' }).isEnabled(), 'a finished download is removed, not cancelled');
        assert((await d.api('GET', '/images')).images.length === 0, 'the bad file never entered the library');

        // C: a SHA-512-verified download completes and offers a new VM.
        await page.getByLabel('Download URL').fill(srv.url('alpine-virt-3.20.3-x86_64.iso'));
        await page.getByLabel('Checksum (SHA-256 or SHA-512, optional)').fill(sha('sha512', small));
        await page.getByRole('button', { name: 'Start download' }).click();
        const c = row(page, 'alpine-virt-3.20.3-x86_64.iso');
        await waitFor('alpine-virt-3.20.3-x86_64.iso completed', async () => (await c.count()) && (await badgeText(c)) === 'Completed', { timeoutMs: 20000, intervalMs: 100 });
        await c.getByText('Verified (SHA-512).').waitFor({ timeout: 5000 });
        // (the stats line may come a frame after the badge: seen once on a loaded machine)
        await waitFor('complete bytes shown', async () => /^300 KiB of 300 KiB \(100%\)$/.test(await c.locator('.dl-stats').textContent()), { timeoutMs: 5000, intervalMs: 100 });
        const newVm = c.getByRole('link', { name: 'New VM from this image' });
        await newVm.waitFor({ timeout: 5000 });
        const img = (await d.api('GET', '/images')).images.find((i) => i.name === 'alpine-virt-3.20.3-x86_64.iso');
        assert(img && img.source === 'download', 'alpine-virt-3.20.3-x86_64.iso is in the library');
        await page.screenshot({ path: ctx.screenshot('downloads.png'), fullPage: true }); // all three rows

        // Cancel A: Keep keeps it; Cancel download deletes it and its partial file.
        await a.getByRole('button', { name: 'Cancel' }).click();
        const dlg = page.getByRole('dialog', { name: 'Cancel the download of debian-12.8.0-amd64-netinst.iso?' });
        await dlg.getByRole('button', { name: 'Keep' }).click();
        assert((await d.api('GET', '/downloads')).downloads.some((x) => x.id === idA), 'Keep keeps the download');
        await a.getByRole('button', { name: 'Cancel' }).click();
        await dlg.getByRole('button', { name: 'Cancel download' }).click();
        await waitFor('debian-12.8.0-amd64-netinst.iso gone from the page', async () => (await a.count()) === 0, { timeoutMs: 10000 });
        assert(!(await d.api('GET', '/downloads')).downloads.some((x) => x.id === idA), 'the daemon deleted it');
        const dir = join(d.dataDir, 'downloads');
        assert(!existsSync(dir) || !readdirSync(dir).some((f) => f.startsWith(idA)), 'its partial file is gone');
        assert((await page.locator('li.dl-item').count()) === 2, 'the other two stay');

        // "New VM from this image" → the wizard with it preselected.
        await newVm.click();
        await waitFor('the wizard URL', () => page.url().endsWith(`/new?image=${encodeURIComponent(img.id)}`), { timeoutMs: 5000 });
        await page.getByRole('heading', { name: /Source/ }).waitFor({ timeout: 5000 });
        assert(await page.getByRole('radio', { name: 'An ISO from the image library' }).isChecked(), 'library source chosen');
        assert(await page.getByLabel('Image', { exact: true }).inputValue() === img.path, 'the image preselected');
        assert(await page.getByLabel('Name', { exact: true }).inputValue() === 'alpine-virt-3.20.3-x86_64', 'a name suggested from it');
      } finally {
        await srv.close();
      }
    },
  },
  {
    name: 'images (phone 390x844): upload from the browser with progress, import by path, the daemon\'s error, delete; pages fit',
    timeoutMs: 45000,
    async fn(ctx) {
      const d = ctx.daemon;
      const { page } = await ctx.browser(PHONE);
      await page.goto(d.http + '/images');
      await page.getByRole('heading', { level: 1, name: 'Images' }).waitFor({ timeout: 5000 });
      await page.getByText('The library is empty: download an OS, import a file or upload one.').waitFor({ timeout: 5000 });
      const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      assert(await fits(), 'the Images page fits 390 px');

      // Upload: the File is the PUT body; progress is shown as it goes.
      const data = makeFile(6 << 20);
      await page.evaluate(() => {
        window.__upTexts = [];
        const box = document.querySelector('.download-progress');
        new MutationObserver(() => window.__upTexts.push(box.textContent)).observe(box, { subtree: true, childList: true, characterData: true });
      });
      let put = null;
      page.on('request', (r) => { if (r.method() === 'PUT') put = r.url(); });
      await page.getByLabel('File to upload').setInputFiles({ name: 'My upload (1).iso', mimeType: 'application/octet-stream', buffer: data });
      await page.getByRole('button', { name: 'Upload', exact: true }).tap();
      await page.getByText('My_upload__1_.iso was added to the library.').waitFor({ timeout: 20000 });
      assert(put && put.endsWith('/api/v1/images/upload?name=My_upload__1_.iso'), `streamed PUT with a safe name: ${put}`);
      const texts = await page.evaluate(() => window.__upTexts);
      assert(texts.some((s) => /of 6\.0 MiB \(\d+%\)/.test(s)), `upload progress shown: ${JSON.stringify(texts.slice(0, 4))}`);
      const bar = page.getByRole('progressbar', { name: 'Upload progress' });
      assert(await bar.evaluate((b) => b.value === b.max && b.max === 6 << 20), 'the upload bar is full');
      let imgs = (await d.api('GET', '/images')).images;
      assert(imgs.length === 1 && imgs[0].source === 'upload' && imgs[0].sha256 === sha('sha256', data) && imgs[0].size === data.length,
        `the upload is in the library, whole: ${JSON.stringify(imgs)}`);
      const up = page.locator('li.img-item').filter({ hasText: 'My_upload__1_.iso' });
      await up.waitFor({ timeout: 5000 });
      assert(/^6\.0 MiB · Uploaded · /.test(await up.locator('.meta').textContent()), 'size, source and date shown');
      assert(await up.getByRole('link', { name: 'New VM from this image' }).getAttribute('href') === `/new?image=${imgs[0].id}`, 'new-VM link');

      // Import by path: relative refused here, a missing file refused by the daemon (its message shown), a real one imported.
      const pathField = page.getByLabel('File path');
      await pathField.fill('relative.iso');
      await page.getByRole('button', { name: 'Import', exact: true }).tap();
      await page.getByText('Enter an absolute path (starting with /).').waitFor({ timeout: 5000 });
      const missing = join(d.tmp, 'no-such.iso');
      let msg = '';
      try { await d.api('POST', '/images', { path: missing }); } catch (e) { msg = e.body.error.message; }
      assert(msg, 'the daemon refuses a missing file');
      await pathField.fill(missing);
      await page.getByRole('button', { name: 'Import', exact: true }).tap();
      await page.getByRole('alert').filter({ hasText: `The import failed: ${msg}` }).waitFor({ timeout: 5000 });
      const local = join(d.tmp, 'local-installer.iso');
      writeFileSync(local, makeFile(512 << 10));
      await pathField.fill(local);
      await page.getByRole('button', { name: 'Import', exact: true }).tap();
      await page.getByText(/^local-installer\.iso was imported\.$/).waitFor({ timeout: 10000 });
      const imp = page.locator('li.img-item').filter({ hasText: 'local-installer.iso' });
      await imp.waitFor({ timeout: 5000 });
      assert(/· Imported ·/.test(await imp.locator('.meta').textContent()), 'shown as imported');
      assert(await page.getByRole('alert').isHidden(), 'the old error is cleared');

      // Delete, with confirmation.
      await up.getByRole('button', { name: 'Delete' }).tap();
      await page.getByRole('dialog', { name: 'Delete My_upload__1_.iso?' }).getByRole('button', { name: 'Cancel' }).tap();
      assert((await d.api('GET', '/images')).images.length === 2, 'Cancel keeps it');
      await up.getByRole('button', { name: 'Delete' }).tap();
      await page.getByRole('dialog', { name: 'Delete My_upload__1_.iso?' }).getByRole('button', { name: 'Delete' }).tap();
      await waitFor('the upload gone', async () => (await up.count()) === 0, { timeoutMs: 10000 });
      imgs = (await d.api('GET', '/images')).images;
      assert(imgs.length === 1 && imgs[0].name === 'local-installer.iso', 'only the import is left');
      assert(await fits(), 'still fits');
      // The Downloads page fits the phone too, reached from the nav.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Downloads' }).tap();
      await page.getByRole('heading', { level: 1, name: 'Downloads' }).waitFor({ timeout: 5000 });
      assert(await fits(), 'the Downloads page fits 390 px');
      // Its strings in zh-CN too.
      await page.getByLabel('Language').selectOption('zh-CN');
      await page.getByRole('heading', { level: 1, name: '下载' }).waitFor({ timeout: 5000 });
      await page.getByRole('button', { name: '开始下载' }).waitFor({ timeout: 5000 });
      assert(await page.getByText('还没有下载。').isVisible(), 'the empty line in zh-CN');
    },
  },
  {
    name: 'wizard: OS catalog source — entries of the chosen arch, Microsoft refusal shown, download with progress becomes the CD',
    timeoutMs: 60000,
    async fn(ctx) {
      const iso = makeFile(4 << 20);
      const msPage = '<html><select id="product-edition"><option value="">Select</option><option value="3113">Windows 11</option></select></html>';
      const srv = await serveFiles({ 'testos.iso': { data: iso, chunk: 16384, delayMs: 40 } }, {
        '/ms/page': (req, res) => { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end(msPage); },
        '/ms/tags': (req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end(''); },
        '/ms/api/getskuinformationbyproductedition': (req, res) => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ ValidationContainer: { Errors: [{ Key: 'ErrorSettings.SentinelReject', Value: 'Sentinel marked this request as rejected.' }] } }));
        },
      });
      const catalogPath = join(ctx.daemon.tmp, 'catalog.json');
      writeFileSync(catalogPath, JSON.stringify({ version: 1, entries: [
        { id: 'testos-1-x86_64', os: 'testos', name: 'Test OS', version: '1.0', arch: 'x86_64', file: 'testos-1.0-x86_64.iso',
          urls: [srv.url('testos.iso')], checksum: { algo: 'sha256', value: sha('sha256', iso) } },
        { id: 'testos-1-aarch64', os: 'testos', name: 'Test OS', version: '1.0 ARM', arch: 'aarch64', file: 'testos-1.0-aarch64.iso',
          urls: [srv.url('testos.iso')], checksum: { algo: 'sha256', value: sha('sha256', iso) } },
        { id: 'windows-lab-x86_64', os: 'windows', name: 'Windows Lab', version: '1', arch: 'x86_64', file: 'winlab.iso',
          urls: [srv.url('testos.iso')], checksum: { algo: 'sha256', value: sha('sha256', iso) } },
        // A drivers disc, not an OS: left out of the OS list, offered beside Windows in the summary.
        { id: 'virtio-win-test', os: 'virtio-win', kind: 'drivers', name: 'Windows drivers (virtio-win)', version: '9', arch: 'x86_64',
          file: 'virtio-win-9.iso', urls: [srv.url('testos.iso')], checksum: { algo: 'sha256', value: sha('sha256', iso) } },
        { id: 'windows-11-x86_64', os: 'windows', name: 'Windows 11', version: '24H2', arch: 'x86_64', file: 'Win11_24H2_x64.iso', urls: [],
          microsoft: { page_url: `${srv.base}/ms/page`, tags_url: `${srv.base}/ms/tags`, api_url: `${srv.base}/ms/api`,
            language: 'English (United States)', arch: 'x64' } },
      ] }));
      // The daemon reads its catalog at start: a second one, on this catalog.
      const d = await startDaemon({ daemon: ctx.args.daemon, ui: ctx.args.ui, name: 'catalog', env: { QHM_CATALOG: catalogPath } });
      try {
        const host = await d.api('GET', '/host');
        // This daemon's own token link (the cookie jar keeps one qhm_session per host, whatever the port).
        const { page } = await ctx.browser({ login: false });
        await login(page, d, '/new');
        await page.getByLabel('Name', { exact: true }).fill('from-catalog');
        await page.getByRole('radio', { name: 'Download an OS from the catalog' }).check();
        const archSel = page.getByLabel('Architecture of the OS');
        const osSel = page.getByLabel('Operating system');
        assert(await archSel.inputValue() === host.host_arch, `the host's arch first: ${await archSel.inputValue()}`);
        const opts = async () => osSel.locator('option').allTextContents();
        if (host.host_arch === 'x86_64') assert(JSON.stringify(await opts()) === JSON.stringify(['Test OS 1.0', 'Windows Lab 1', 'Windows 11 24H2']), `x86_64 entries only: ${await opts()}`);
        if (host.arches.aarch64 && host.arches.aarch64.available && host.host_arch !== 'aarch64') {
          await archSel.selectOption('aarch64');
          assert(JSON.stringify(await opts()) === JSON.stringify(['Test OS 1.0 ARM']), `aarch64 entries only: ${await opts()}`);
          await archSel.selectOption(host.host_arch);
        }
        // Windows 11: Microsoft refuses; its message and the way out are shown.
        await osSel.selectOption({ label: 'Windows 11 24H2' });
        await page.getByText('Windows comes through Microsoft’s own download site, which may refuse automated requests.').waitFor({ timeout: 5000 });
        await page.getByRole('button', { name: 'Next' }).click();
        const alert = page.getByRole('alert').filter({ hasText: 'Microsoft refused the download (ErrorSettings.SentinelReject: Sentinel marked this request as rejected.)' });
        await alert.waitFor({ timeout: 20000 });
        assert(await page.getByRole('link', { name: 'on the Images page.' }).isVisible(), 'the hint leads to the Images page');
        assert(await page.getByRole('heading', { name: /Source/ }).isVisible(), 'still on the source step');
        // Test OS: downloaded with progress, verified, then the VM's CD.
        await osSel.selectOption({ label: 'Test OS 1.0' });
        await page.getByRole('button', { name: 'Next' }).click();
        await page.getByRole('progressbar', { name: 'Download progress' }).waitFor({ timeout: 15000 });
        await page.getByRole('heading', { name: /Architecture/ }).waitFor({ timeout: 30000 });
        assert(await page.getByRole('radio', { name: /x86_64/ }).isChecked(), 'the entry\'s arch is chosen');
        const imgs = (await d.api('GET', '/images')).images;
        assert(imgs.length === 1 && imgs[0].name === 'testos-1.0-x86_64.iso' && imgs[0].sha256 === sha('sha256', iso), `one verified image: ${JSON.stringify(imgs)}`);
        const dls = (await d.api('GET', '/downloads')).downloads;
        assert(dls.some((x) => x.catalog_id === 'windows-11-x86_64' && x.state === 'failed'), 'the refused one is listed as failed');
        for (let i = 0; i < 3; i++) await page.getByRole('button', { name: 'Next' }).click();
        await page.getByRole('heading', { name: /Summary/ }).waitFor({ timeout: 5000 });
        await page.getByRole('definition').filter({ hasText: imgs[0].path }).waitFor({ timeout: 5000 });
        await page.getByRole('button', { name: 'Create', exact: true }).click();
        await page.getByText('from-catalog was created.').first().waitFor({ timeout: 20000 });
        const vm = (await d.api('GET', '/vms')).vms[0];
        assert(vm.cdrom === imgs[0].path && vm.arch === 'x86_64', `the VM boots the catalog ISO: ${vm.cdrom} ${vm.arch}`);
        assert(!vm.firmware && !vm.tpm, 'a Linux ISO keeps BIOS');
        // A Windows entry: the VM gets what Windows 11's setup checks for (UEFI, Secure Boot, TPM).
        if (host.host_arch === 'x86_64' && host.arches.x86_64.uefi) {
          await page.goto(d.http + '/new');
          await page.getByLabel('Name', { exact: true }).fill('windows-vm');
          await page.getByRole('radio', { name: 'Download an OS from the catalog' }).check();
          await osSel.selectOption({ label: 'Windows Lab 1' });
          await page.getByRole('button', { name: 'Next' }).click();
          await page.getByRole('heading', { name: /Architecture/ }).waitFor({ timeout: 30000 });
          for (let i = 0; i < 3; i++) await page.getByRole('button', { name: 'Next' }).click();
          await page.getByRole('heading', { name: /Summary/ }).waitFor({ timeout: 5000 });
          await page.getByRole('definition').filter({ hasText: 'UEFI with Secure Boot (Microsoft keys)' }).waitFor({ timeout: 5000 });
          // The catalog's Windows: "Install Windows automatically" is ticked; it needs an account.
          assert(await page.getByRole('checkbox', { name: 'Install Windows automatically' }).isChecked(), 'unattended install offered, on');
          await page.getByLabel('Account name').fill('lab');
          await page.getByLabel('Password', { exact: true }).fill('lab-pass');
          // The drivers disc: none in the library yet; the catalog's is downloaded from here and chosen.
          const drv = page.getByLabel('Drivers disc');
          assert(JSON.stringify(await drv.locator('option').allTextContents()) === '["None"]', 'no virtio-win in the library');
          await page.getByRole('button', { name: 'Download Windows drivers (virtio-win) 9' }).click();
          await page.getByText('virtio-win-9.iso is in the image library and chosen.').waitFor({ timeout: 30000 });
          assert(await drv.inputValue() === (await d.api('GET', '/images')).images.find((i) => i.name === 'virtio-win-9.iso').path, 'chosen');
          // The command-line preview follows: the drivers CD's drive is in it now.
          await page.locator('#cmd-preview').filter({ hasText: 'id=cddrv' }).waitFor({ timeout: 10000 });
          await page.screenshot({ path: ctx.screenshot('wizard-windows-drivers.png') });
          await page.getByRole('button', { name: 'Create', exact: true }).click();
          await page.getByText('windows-vm was created.').first().waitFor({ timeout: 20000 });
          const win = (await d.api('GET', '/vms')).vms.find((x) => x.name === 'windows-vm');
          assert(win.firmware === 'uefi' && win.secure_boot === true && win.tpm === !!(host.tpm && host.tpm.available), `Windows firmware: ${JSON.stringify(win)}`);
          const full = await d.api('GET', `/vms/${win.id}`);
          assert(full.unattend && full.unattend.user === 'lab', `unattended: ${JSON.stringify(full.unattend)}`);
          assert(full.drivers_iso && full.drivers_iso.endsWith('/virtio-win-9.iso'), `drivers CD: ${full.drivers_iso}`);
          assert((await d.api('GET', `/vms/${win.id}/cmdline`)).argv.some((a) => a.includes('id=cddrv')), 'the drivers CD is attached');
          // The VM page shows it and detaches it.
          await page.goto(`${d.http}/vm/${win.id}`);
          await page.getByRole('definition').filter({ hasText: full.drivers_iso }).waitFor({ timeout: 5000 });
          const vmDrv = page.getByLabel('Windows drivers (virtio-win)');
          assert(await vmDrv.inputValue() === full.drivers_iso, 'shown as attached');
          await vmDrv.selectOption({ label: 'None' });
          await page.getByRole('button', { name: 'Save', exact: true }).click();
          await page.getByRole('status').filter({ hasText: 'Saved' }).first().waitFor({ timeout: 10000 });
          assert(!(await d.api('GET', `/vms/${win.id}`)).drivers_iso, 'detached');
          await vmDrv.selectOption({ label: 'virtio-win-9.iso' });
          await page.getByRole('button', { name: 'Save', exact: true }).click();
          await page.getByRole('status').filter({ hasText: 'Saved' }).first().waitFor({ timeout: 10000 });
          assert((await d.api('GET', `/vms/${win.id}`)).drivers_iso === full.drivers_iso, 'attached again');
        }
      } finally {
        await d.stop();
        await srv.close();
      }
    },
  },
];
