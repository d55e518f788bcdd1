// SPDX-License-Identifier: GPL-2.0-or-later
// /api/docs: the REST contract (docs/openapi.yaml) rendered by Swagger UI from the UI directory,
// without a credential, under the daemon's Content-Security-Policy (no violation reported), with
// nothing fetched from another origin; an operation opened shows its documented answers, and
// "Try it out" with the session cookie reaches the real API.
import { assert, waitFor } from './lib/daemon.mjs';

export const tests = [
  {
    name: 'api docs: /api/docs renders docs/openapi.yaml (operations, answers, a live call) under the CSP',
    timeoutMs: 90000,
    async fn(ctx) {
      const d = ctx.daemon;
      const { page, messages } = await ctx.browser({ login: false });
      const foreign = [];
      page.on('request', (r) => { if (!r.url().startsWith(d.http) && !r.url().startsWith('data:')) foreign.push(r.url()); });
      const resp = await page.goto(d.http + '/api/docs', { waitUntil: 'domcontentloaded' });
      assert(resp && resp.status() === 200, `GET /api/docs answered ${resp && resp.status()}`);
      assert(/script-src|default-src 'self'/.test(resp.headers()['content-security-policy'] || ''),
        `no CSP on /api/docs: ${JSON.stringify(resp.headers())}`);
      // the document itself, as the page fetched it
      const yaml = await page.request.get(d.http + '/api/docs/openapi.yaml');
      assert(yaml.status() === 200 && (await yaml.text()).startsWith('# SPDX'), `openapi.yaml: ${yaml.status()}`);
      // public docs, not a public API: a file it lacks is 404 (not the UI's index.html), the API still 401
      assert((await page.request.get(d.http + '/api/docs/nope.js')).status() === 404, '/api/docs/nope.js is not 404');
      assert((await page.request.get(d.http + '/api/v1/host')).status() === 401, '/api/v1/host without a credential is not 401');

      const op = page.locator('.opblock-summary', { hasText: '/vms/{id}/snapshots/{name}/restore' });
      await op.first().waitFor({ timeout: 30000 });
      const titles = await page.locator('.opblock-summary-path').allTextContents();
      for (const p of ['/host', '/vms', '/vms/{id}/console', '/images/upload', '/catalog'])
        assert(titles.some((t) => t.replace(/\u200b/g, '').trim() === p), `operation ${p} not rendered: ${titles.join(' ')}`);
      const info = await page.locator('.info .title').innerText();
      assert(info.includes('qemu-hmos REST API'), `title: ${info}`);

      // one operation opened: its summary and documented answers
      const host = page.locator('#operations-host-getHost');
      await host.locator('.opblock-summary').click();
      await waitFor('the answers of GET /host', async () => (await host.locator('.responses-table').count()) > 0);
      const answers = await host.locator('.response-col_status').allTextContents();
      assert(answers.map((s) => s.trim()).includes('200') && answers.map((s) => s.trim()).includes('401'),
        `GET /host answers: ${answers.join(', ')}`);

      // Try it out, without a credential: the real API's 401
      await host.getByRole('button', { name: 'Try it out' }).click();
      const [live] = await Promise.all([
        page.waitForResponse((r) => r.url() === d.http + '/api/v1/host'),
        host.getByRole('button', { name: 'Execute' }).click(),
      ]);
      assert(live.status() === 401, `live GET /host without a cookie: ${live.status()}`);
      await waitFor('the live answer shown', async () => (await host.innerText()).includes('"unauthorized"'));

      const csp = messages.filter((m) => /Content Security Policy|Refused to/i.test(m));
      assert(!csp.length, `CSP violations:\n${csp.join('\n')}`);
      assert(!foreign.length, `requests to other origins: ${foreign.join(' ')}`);
    },
  },
];
