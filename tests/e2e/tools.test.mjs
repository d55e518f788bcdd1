// SPDX-License-Identifier: GPL-2.0-or-later
// The VM page's Guest tools section (docs/guest-tools.md): ticking "Attach the guest tools CD"
// sets guest_tools (the tools CD is in the command line), the download link gives the script with
// the page's session (no token in the URL), the line to run names the CD's label, and unticking
// removes the CD. (tests/integration/test_guest_tools.py checks the CD and runs the script.)
import { assert } from './lib/daemon.mjs';

export const tests = [
  {
    name: 'guest tools: the VM page attaches the tools CD and offers linux.sh',
    timeoutMs: 60000,
    async fn(ctx) {
      const d = ctx.daemon;
      const vm = await d.api('POST', '/vms', { name: 'linux-tools', memory_mib: 128, disks: [] });
      const { page } = await ctx.browser();
      await page.goto(`${d.http}/vm/${vm.id}`);
      const box = page.getByRole('checkbox', { name: 'Attach the guest tools CD (made at each start)' });
      await box.waitFor();
      assert(!(await box.isChecked()), 'off by default');
      await box.check();
      await page.getByText('The CD is in the second drive from the next start').first().waitFor({ timeout: 10000 });
      assert((await d.api('GET', `/vms/${vm.id}`)).guest_tools === true, 'guest_tools set');
      let argv = (await d.api('GET', `/vms/${vm.id}/cmdline`)).argv;
      assert(argv.some((a) => a.includes('id=cd1') && a.endsWith('/tools.iso')), 'the tools CD is attached');
      await page.getByText('sudo mkdir -p /media/qhm-tools && sudo mount -o ro LABEL=QHM_TOOLS /media/qhm-tools && sudo sh /media/qhm-tools/linux.sh').waitFor();
      const link = page.getByRole('link', { name: 'Download linux.sh' });
      const href = await link.getAttribute('href');
      assert(href === '/api/v1/guest-tools/linux.sh', href);
      const got = await page.evaluate(async (u) => {
        const r = await fetch(u);
        return { status: r.status, disp: r.headers.get('content-disposition'), head: (await r.text()).slice(0, 9) };
      }, href);
      assert(got.status === 200 && got.disp === 'attachment; filename="linux.sh"' && got.head === '#!/bin/sh', JSON.stringify(got));

      await box.uncheck();
      await page.waitForFunction(async (u) => !(await (await fetch(u)).json()).guest_tools, `/api/v1/vms/${vm.id}`);
      argv = (await d.api('GET', `/vms/${vm.id}/cmdline`)).argv;
      assert(!argv.some((a) => a.includes('id=cd1')), 'no second CD');
      await d.api('DELETE', `/vms/${vm.id}`);
    },
  },
];
