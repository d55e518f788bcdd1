// SPDX-License-Identifier: GPL-2.0-or-later
// serial: the serial console page's terminal (xterm.js) as text, for the tests that read it.

// The terminal's text as xterm.js's DOM renderer shows it.
export const screenText = (page) => page.locator('#serial-screen .xterm-rows').innerText();

// Wait until the terminal shows TEXT; returns all it shows then.
export async function waitText(page, text, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await screenText(page).catch(() => '');
    if (last.includes(text)) return last;
    await page.waitForTimeout(250);
  }
  throw new Error(`no ${JSON.stringify(text)} on the serial console after ${timeoutMs} ms; it shows:\n${last.slice(-1500)}`);
}
