// SPDX-License-Identifier: GPL-2.0-or-later
// main: the shell and the router. The daemon answers every non-API path with
// index.html, so the page is chosen here from location.pathname. Each page
// module exports mount(root, params) and returns a cleanup function, called
// before the next page mounts (it closes WebSockets, timers, listeners).
// Same-origin links marked data-link navigate with history.pushState. The
// console pages (noVNC; guacamole-common-js for RDP) are separate chunks
// loaded on first use. Changing the language or theme re-renders the current page.
// Once any API call answers 401 (no session cookie, or a revoked device) every
// render shows the access page instead (pages/access.js) until a reload.
import { t, getLocale, setLocale, LOCALES, onLocaleChange } from './i18n.js';
import { h } from './dom.js';
import * as library from './pages/library.js';
import * as wizard from './pages/wizard.js';
import * as vmPage from './pages/vm.js';
import * as hostPage from './pages/host.js';
import * as downloadsPage from './pages/downloads.js';
import * as imagesPage from './pages/images.js';
import * as accessPage from './pages/access.js';
import { setUnauthorizedHandler } from './api.js';

const lazyConsole = { load: () => import('./pages/console.js') };
const lazyRdp = { load: () => import('./pages/rdp.js') }; // guacamole-common-js: its own chunk
const lazySerial = { load: () => import('./pages/serial.js') }; // xterm.js: its own chunk
const idParam = (m) => ({ id: decodeURIComponent(m[1]) });

const routes = [
  { re: /^\/(?:vms\/?)?$/, page: library, nav: 'library' },
  { re: /^\/new\/?$/, page: wizard, nav: 'library' },
  { re: /^\/host\/?$/, page: hostPage, nav: 'host' },
  { re: /^\/downloads\/?$/, page: downloadsPage, nav: 'downloads' },
  { re: /^\/images\/?$/, page: imagesPage, nav: 'images' },
  { re: /^\/vm\/([^/]+)\/console\/?$/, page: lazyConsole, params: idParam, bare: true },
  { re: /^\/vm\/([^/]+)\/rdp\/?$/, page: lazyRdp, params: idParam, bare: true },
  { re: /^\/vm\/([^/]+)\/serial\/?$/, page: lazySerial, params: idParam, bare: true },
  { re: /^\/vm\/([^/]+)\/?$/, page: vmPage, params: idParam, nav: 'library' },
];

const notFound = {
  mount(root) {
    document.title = t('notfound.title');
    root.append(h('main', { class: 'page narrow', id: 'main' },
      h('h1', { text: t('notfound.title') }),
      h('p', {}, h('a', { href: '/', 'data-link': true, text: t('notfound.back') }))));
    return () => {};
  },
};

const THEMES = ['system', 'light', 'dark'];
function applyTheme() {
  const th = localStorage.getItem('qhm.theme') || 'system';
  if (th === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = th;
}

// NAV: the current section; withNav false → brand and preferences only (the access page).
function shell(nav, withNav = true) {
  const lang = h('select', { id: 'lang-select', 'aria-label': t('shell.language') },
    LOCALES.map((l) => h('option', { value: l.id, text: l.name })));
  lang.value = getLocale();
  lang.addEventListener('change', () => setLocale(lang.value));
  const theme = h('select', { id: 'theme-select', 'aria-label': t('shell.theme') },
    THEMES.map((x) => h('option', { value: x, text: t('theme.' + x) })));
  theme.value = localStorage.getItem('qhm.theme') || 'system';
  theme.addEventListener('change', () => { localStorage.setItem('qhm.theme', theme.value); applyTheme(); });
  const link = (href, key, id) => h('a', { href, 'data-link': true, text: t(key), 'aria-current': nav === id ? 'page' : null });
  return h('header', { class: 'appbar' },
    h('a', { class: 'skip', href: '#main', text: t('shell.skip') }),
    h('a', { class: 'brand', href: '/', 'data-link': true, text: t('app.title') }),
    withNav ? h('nav', { 'aria-label': t('shell.nav') }, link('/', 'nav.library', 'library'),
      link('/images', 'nav.images', 'images'), link('/downloads', 'nav.downloads', 'downloads'), link('/host', 'nav.host', 'host')) : null,
    h('div', { class: 'prefs' }, lang, theme));
}

let cleanup = null;
let seq = 0;
let unauthorized = null; // the 401 (ApiError) that locked the UI, or null

async function render() {
  const my = ++seq;
  const root = document.getElementById('app');
  if (cleanup) {
    try { cleanup(); } catch (e) { console.error(e); }
    cleanup = null;
  }
  if (unauthorized) {
    root.replaceChildren(shell(null, false));
    cleanup = accessPage.mount(root, { error: unauthorized }) || null;
    return;
  }
  const path = location.pathname;
  let route = routes.find((r) => r.re.test(path));
  let page = route ? route.page : notFound;
  if (page.load) {
    try {
      page = await page.load();
    } catch (e) {
      console.error(e);
      page = notFound;
    }
    if (my !== seq) return;
  }
  root.replaceChildren();
  if (!route || !route.bare) root.append(shell(route && route.nav));
  const m = route && route.re.exec(path);
  cleanup = page.mount(root, route && route.params ? route.params(m) : {}) || null;
}

export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  render();
}
window.qhmNavigate = navigate; // pages import navigate lazily through this to avoid an import cycle
// The first 401 unmounts the page (its later answers find it gone) and shows how to get in.
setUnauthorizedHandler((err) => {
  if (unauthorized) return;
  unauthorized = err;
  render();
});

applyTheme();
document.documentElement.lang = getLocale();
onLocaleChange(() => { document.documentElement.lang = getLocale(); render(); });
document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[data-link]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', render);
render();
