// SPDX-License-Identifier: GPL-2.0-or-later
// Sound in the VNC console with a real guest: the Linux test guest (Debian's kernel, a busybox
// initramfs with ALSA's aplay, built by tests/integration/linuxguest.py) plays a 880 Hz tone on
// the VM's Intel HD Audio card; the console page (a VM with "audio": true) shows Sound and
// Volume, and after a click on the page (the autoplay policy's gesture) plays the daemon's
// /audio stream with Web Audio. What the page hands Web Audio is recorded in the page (each
// AudioBufferSourceNode's buffer as it is started: the samples that go to the speakers) and
// the tone is found in it (Goertzel, against its neighbours). Sound off stops it, on again
// resumes it; the choice is remembered. A VM without a sound card shows neither control; its VM
// page's Sound card box adds one.
import { assert } from './lib/daemon.mjs';
import { linuxGuest } from './lib/guest.mjs';

const TONE = 880;

// Installed before the page's scripts: keeps the first channel of every buffer the page starts.
function recordPlayback() {
  window.__heard = { samples: [], rate: 0, starts: 0 };
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (...a) {
    if (this.buffer) {
      window.__heard.rate = this.buffer.sampleRate;
      window.__heard.starts++;
      const d = this.buffer.getChannelData(0);
      if (window.__heard.samples.length < 441000) for (const x of d) window.__heard.samples.push(x);
    }
    return start.apply(this, a);
  };
}

// In the page: the tone's power against its neighbours over the loudest 8192 samples.
function analyse([tone, others]) {
  const s = window.__heard.samples, rate = window.__heard.rate;
  const power = (seg, f) => {
    const k = 2 * Math.cos(2 * Math.PI * f / rate);
    let s1 = 0, s2 = 0;
    for (const x of seg) { const s0 = x + k * s1 - s2; s2 = s1; s1 = s0; }
    return Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - k * s1 * s2)) / seg.length;
  };
  let best = null, loud = -1;
  for (let i = 0; i + 8192 <= s.length; i += 4096) {
    const seg = s.slice(i, i + 8192), l = seg.reduce((a, x) => a + Math.abs(x), 0);
    if (l > loud) { loud = l; best = seg; }
  }
  if (!best) return null;
  return { rate, at: power(best, tone), others: Object.fromEntries(others.map((f) => [f, power(best, f)])) };
}

const heard = (page) => page.evaluate(() => window.__heard.samples.length);

async function waitHeard(page, n, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  let got = 0;
  while (Date.now() < deadline) {
    got = await heard(page);
    if (got >= n) return got;
    await page.waitForTimeout(250);
  }
  throw new Error(`the page played ${got} samples in ${timeoutMs} ms, not ${n}`);
}

export const tests = [
  {
    name: 'audio: the guest\'s 880 Hz tone plays in the console page (Web Audio), Sound off and on',
    timeoutMs: 240000,
    async fn(ctx) {
      const d = ctx.daemon;
      const kb = linuxGuest(d, 'audio-', `g.AUDIO_SCRIPT, modules=g.AUDIO_MODULES, files=g.audio_files(${TONE})`);
      const vm = await d.api('POST', '/vms', { name: 'audio-guest', memory_mib: 256, cpus: 1, disks: [], kernel_boot: kb, audio: true });
      const quiet = await d.api('POST', '/vms', { name: 'no-sound', memory_mib: 64, cpus: 1, disks: [] });
      await d.api('POST', `/vms/${vm.id}/start`);
      await d.api('POST', `/vms/${quiet.id}/start`);
      const { page } = await ctx.browser();
      await page.addInitScript(recordPlayback);
      await page.goto(`${d.http}/vm/${vm.id}/console`);
      await page.locator('#console-status[data-state="connected"]').waitFor({ timeout: 30000 });
      const sound = page.getByRole('button', { name: 'Sound' });
      await sound.waitFor();
      assert(await sound.getAttribute('aria-pressed') === 'true', 'Sound is on by default');
      assert(await page.getByRole('slider', { name: 'Volume' }).isVisible(), 'a volume slider');
      // The gesture that lets the page play (autoplay policy).
      await page.locator('#screen').click();
      await waitHeard(page, 44100);
      const r = await page.evaluate(analyse, [TONE, [440, 660, 1000, 1320, 1760]]);
      assert(r && r.rate === 44100, JSON.stringify(r && r.rate));
      assert(r.at > 0.03, `no ${TONE} Hz tone in what the page played: ${JSON.stringify(r)}`);
      for (const [f, p] of Object.entries(r.others)) assert(r.at > 10 * p, `${f} Hz as loud as the tone: ${JSON.stringify(r)}`);
      await page.screenshot({ path: ctx.screenshot('console-sound.png') });

      // Sound off: the stream closes and nothing more is played; on again: it plays again.
      await sound.click();
      assert(await sound.getAttribute('aria-pressed') === 'false', 'Sound off');
      await page.waitForTimeout(1000);
      const off = await heard(page);
      await page.waitForTimeout(1500);
      assert(await heard(page) === off, 'still playing with Sound off');
      assert(await page.evaluate(() => localStorage.getItem('qhm.console.sound')) === '0', 'the choice is remembered');
      await page.getByRole('slider', { name: 'Volume' }).fill('40');
      assert(await page.evaluate(() => localStorage.getItem('qhm.console.volume')) === '40', 'the volume is remembered');
      await sound.click();
      await waitHeard(page, off + 44100, 60000);

      // A VM without a sound card: no Sound, no Volume.
      await page.goto(`${d.http}/vm/${quiet.id}/console`);
      await page.locator('#console-status[data-state="connected"]').waitFor({ timeout: 30000 });
      assert(!(await page.getByRole('button', { name: 'Sound' }).isVisible()), 'Sound shown for a VM without a sound card');
      await d.api('POST', `/vms/${vm.id}/kill`);
      await d.api('POST', `/vms/${quiet.id}/kill`);

      // The VM page's control: a sound card is added while the VM is stopped.
      await page.goto(`${d.http}/vm/${quiet.id}`);
      const box = page.getByRole('checkbox', { name: /^Sound card/ });
      await page.waitForFunction(() => { const b = document.querySelector('#s-audio'); return b && !b.disabled; }, null, { timeout: 30000 });
      assert(!(await box.isChecked()), 'no sound card yet');
      await box.check();
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Saved' }).first().waitFor({ timeout: 10000 });
      assert((await d.api('GET', `/vms/${quiet.id}`)).audio === true, 'audio saved');
    },
  },
];
