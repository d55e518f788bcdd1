// SPDX-License-Identifier: GPL-2.0-or-later
// access page: what the router shows instead of any page once the daemon has
// answered 401 (main.js). This browser has no credential: on this device
// (http://127.0.0.1:PORT) it has not opened the daemon's ?token= link yet, so
// the page says where that link is and takes a pasted token (checked with a
// Bearer request first, then opened as the link: the daemon trades it for its
// session cookie and drops it from the address). On a LAN page (https:, serve
// --lan) it has not been paired, or its pairing was revoked: a form takes the
// 6-digit code shown on the device's Host page and a name for this browser
// (POST /api/v1/pair), then reloads. The daemon's messages are text.
import { pairBrowser, tokenWorks, ApiError } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { errorBanner, field, withBusy } from '../ui.js';

// Pairing is for browsers on other devices, which reach the daemon over HTTPS only.
export const isLanPage = () => location.protocol === 'https:';

// ERR: the ApiError of the 401 that brought us here (its message is the daemon's).
export function mount(root, { error } = {}) {
  const lan = isLanPage();
  document.title = t(lan ? 'pair.title' : 'access.title') + ' — ' + t('app.title');
  const main = h('main', { class: 'page narrow access', id: 'main', dataset: { access: lan ? 'pair' : 'token' } });
  root.append(main);
  if (lan) pairForm(main);
  else tokenHelp(main, error);
  return () => {};
}

function tokenHelp(main, error) {
  const errors = errorBanner();
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const token = field({
    id: 'access-token', label: t('access.token_label'),
    input: h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', class: 'mono' }),
  });
  const open = h('button', { type: 'submit', class: 'btn primary', text: t('access.open') });
  const form = h('form', { class: 'panel', novalidate: true }, token.wrap, h('div', { class: 'row' }, open));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const value = token.input.value.trim();
    token.error(value ? '' : t('access.err.empty'));
    if (!value) return token.input.focus();
    status.textContent = t('access.checking');
    const ok = await withBusy(open, () => tokenWorks(value));
    status.textContent = '';
    if (!ok) {
      token.error(t('access.err.wrong'));
      return token.input.focus();
    }
    // The same link the daemon printed: it answers 303 to this path with the cookie.
    location.assign(location.pathname + '?token=' + encodeURIComponent(value));
  });
  main.append(
    h('h1', { text: t('access.title') }),
    h('p', { text: t('access.lead') }),
    h('section', { 'aria-labelledby': 'access-link' },
      h('h2', { id: 'access-link', text: t('access.link_title') }),
      h('p', { text: t('access.link') }),
      h('pre', { class: 'access-link', text: `http://${location.host}/?token=…` }),
      h('p', { class: 'hint', text: t('access.link_hint') })),
    h('section', { 'aria-labelledby': 'access-paste' },
      h('h2', { id: 'access-paste', text: t('access.token_title') }),
      h('p', { text: t('access.token') }),
      form, status, errors.el),
    error && error.message ? h('p', { class: 'hint daemon-said', text: t('access.daemon_said', { message: error.message }) }) : null);
}

// A first guess at a name for this browser ("Chrome on Android"); the person can change it.
function guessName() {
  const ua = navigator.userAgent || '';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari' : '';
  const os = /HarmonyOS|OpenHarmony/.test(ua) ? 'HarmonyOS' : /Android/.test(ua) ? 'Android' : /iPhone/.test(ua) ? 'iPhone'
    : /iPad/.test(ua) ? 'iPad' : /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
  return browser && os ? t('pair.name_guess', { browser, os }) : browser || os || '';
}

const PAIR_ERRORS = ['wrong_code', 'rate_limited', 'no_pairing_code', 'too_many_devices'];

function pairForm(main) {
  const errors = errorBanner();
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const code = field({
    id: 'pair-code', label: t('pair.code'), hint: t('pair.code_hint'),
    input: h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, pattern: '[0-9]{6}', class: 'mono pair-input' }),
  });
  const name = field({
    id: 'pair-name', label: t('pair.name'), hint: t('pair.name_hint'),
    input: h('input', { type: 'text', maxlength: 60, autocomplete: 'off', value: guessName() }),
  });
  const submit = h('button', { type: 'submit', class: 'btn primary', text: t('pair.submit') });
  const form = h('form', { class: 'panel', novalidate: true }, code.wrap, name.wrap, h('div', { class: 'row' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const c = code.input.value.replace(/\s+/g, '');
    const n = name.input.value.trim();
    const badCode = !/^[0-9]{6}$/.test(c);
    const badName = !n || [...n].length > 60;
    code.error(badCode ? t('pair.err.code') : '');
    name.error(badName ? t('pair.err.name') : '');
    if (badCode) return code.input.focus();
    if (badName) return name.input.focus();
    status.textContent = t('pair.pairing');
    try {
      await withBusy(submit, () => pairBrowser(c, n));
    } catch (err) {
      status.textContent = '';
      const known = err instanceof ApiError && PAIR_ERRORS.includes(err.code);
      errors.show(known ? t('pair.err.' + err.code) : t('pair.failed', { message: err.message }));
      if (known && err.code === 'wrong_code') { code.input.select(); code.input.focus(); }
      return;
    }
    status.textContent = t('pair.done');
    submit.disabled = true;
    location.reload();
  });
  main.append(
    h('h1', { text: t('pair.title') }),
    h('p', { text: t('pair.lead') }),
    h('p', { class: 'note', dataset: { kind: 'warn' }, text: t('pair.check_cert') }),
    errors.el, form, status);
  code.input.focus();
}
