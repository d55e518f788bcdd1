// SPDX-License-Identifier: GPL-2.0-or-later
// unit: the app's pure ArkTS modules (common/Routes.ets, Status.ets, Names.ets: no ArkUI,
// no kits) transpiled with ohos-typescript and run in Node.js, against facts from the
// rest of the repository: the web UI's console routes (webui/src/main.js) and the
// daemon's rule for image names (server/dl/dl_state.c dl_safe_name, ported below) and
// its start-up sweep of '.import-*' files (server/dl/dl_manager.c).
// usage: node unit.mjs GROUP   (routes | status | names); prints one line per case;
// exit 1 when one fails.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const ts = require('ohos-typescript');
const here = path.dirname(fileURLToPath(import.meta.url));
const hap = path.join(here, '..');
const repo = path.join(hap, '..');
const common = path.join(hap, 'entry', 'src', 'main', 'ets', 'common');
const outDir = path.join(here, '.out', 'unit');

async function load(name) {
  const src = fs.readFileSync(path.join(common, name + '.ets'), 'utf8');
  const js = ts.transpileModule(src, {
    fileName: name + '.ts',
    compilerOptions: { target: ts.ScriptTarget.ES2021, module: ts.ModuleKind.ESNext },
  }).outputText;
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, name + '.mjs');
  fs.writeFileSync(file, js.replace(/from '\.\/([A-Za-z]+)'/g, "from './$1.mjs'"));
  return import(pathToFileURL(file).href);
}

let failed = 0;
let passed = 0;
function test(name, fn) {
  try {
    fn();
    passed++;
    console.log(`  ok ${name}`);
  } catch (e) {
    failed++;
    console.log(`  FAIL ${name}: ${e.message.split('\n').join(' ')}`);
  }
}

const dl = (name, state, doneBytes, totalBytes) => ({ id: name, name, state, doneBytes, totalBytes });

async function routes() {
  const R = await load('Routes');
  const base = 'http://127.0.0.1:40123';
  test('console and rdp paths are consoles', () => {
    assert.equal(R.isConsoleUrl(base + '/vm/4f2a/console'), true);
    assert.equal(R.isConsoleUrl(base + '/vm/4f2a/console/'), true);
    assert.equal(R.isConsoleUrl(base + '/vm/4f2a/rdp'), true);
    assert.equal(R.isConsoleUrl(base + '/vm/4f2a/serial'), true);
    assert.equal(R.isConsoleUrl(base + '/vm/4f2a/console?x=1#y'), true);
  });
  test('other pages are not', () => {
    for (const p of ['/', '/vm/4f2a', '/vm/4f2a/', '/new', '/images', '/downloads', '/host', '/vm/4f2a/console/x', '/vm//console']) {
      assert.equal(R.isConsoleUrl(base + p), false, p);
    }
    assert.equal(R.isConsoleUrl('about:blank'), false);
    assert.equal(R.isConsoleUrl(''), false);
  });
  test('pathOf', () => {
    assert.equal(R.pathOf('http://127.0.0.1:1/'), '/');
    assert.equal(R.pathOf('http://127.0.0.1:1'), '/');
    assert.equal(R.pathOf('http://h:1/a/b?q#f'), '/a/b');
  });
  test('sameOrigin takes the daemon origin only', () => {
    assert.equal(R.sameOrigin(base, base), true);
    assert.equal(R.sameOrigin(base + '/', base), true);
    assert.equal(R.sameOrigin(base + '/vm/x/rdp', base + '/'), true);
    assert.equal(R.sameOrigin('http://127.0.0.1:401234', base), false);
    assert.equal(R.sameOrigin('http://127.0.0.1:40123.evil.example', base), false);
    assert.equal(R.sameOrigin('https://127.0.0.1:40123', base), false);
    assert.equal(R.sameOrigin(base, ''), false);
  });
  const mainJs = path.join(repo, 'webui', 'src', 'main.js');
  if (!fs.existsSync(mainJs)) {
    console.log('  skip routes agree with webui/src/main.js: not in this tree');
    return;
  }
  test('the console routes are the bare routes of webui/src/main.js', () => {
    const text = fs.readFileSync(mainJs, 'utf8');
    const bare = [...text.matchAll(/\{\s*re:\s*\/((?:\\.|\[(?:\\.|[^\]\n])*\]|[^/\n[])+)\/([a-z]*),[^\n]*bare:\s*true/g)].map((m) => new RegExp(m[1], m[2]));
    assert.ok(bare.length >= 2, 'found ' + bare.length + ' bare routes');
    const samples = ['/vm/x/console', '/vm/x/console/', '/vm/x/rdp', '/vm/x/rdp/', '/vm/x/serial', '/vm/x/serial/', '/vm/a%2Fb/rdp', '/vm/x', '/', '/new',
      '/host', '/downloads', '/images', '/vm/x/shares', '/vm/x/console/y', '/vms'];
    for (const re of bare) assert.ok(samples.some((s) => re.test(s)), `no sample path for the web UI route ${re}: add one`);
    for (const s of samples) {
      assert.equal(R.isConsoleUrl('http://127.0.0.1:1' + s), bare.some((re) => re.test(s)), s);
    }
  });
}

async function status() {
  const S = await load('Status');
  const L = new S.StatusLabels();
  test('background modes: VMs hold taskKeeping on 2-in-1 devices only', () => {
    assert.deepEqual(S.backgroundModesFor('2in1', 1, []), ['taskKeeping']);
    assert.deepEqual(S.backgroundModesFor('tablet', 1, []), []);
    assert.deepEqual(S.backgroundModesFor('phone', 3, []), []);
    assert.deepEqual(S.backgroundModesFor('2in1', 0, []), []);
  });
  test('background modes: an active download holds dataTransfer', () => {
    assert.deepEqual(S.backgroundModesFor('tablet', 0, [dl('a.iso', 'running', 1, 2)]), ['dataTransfer']);
    assert.deepEqual(S.backgroundModesFor('2in1', 2, [dl('a.iso', 'verifying', 2, 2)]), ['taskKeeping', 'dataTransfer']);
    for (const st of ['paused', 'completed', 'failed']) {
      assert.deepEqual(S.backgroundModesFor('tablet', 0, [dl('a.iso', st, 1, 2)]), [], st);
    }
  });
  test('sameModes', () => {
    assert.equal(S.sameModes([], []), true);
    assert.equal(S.sameModes(['taskKeeping'], ['taskKeeping']), true);
    assert.equal(S.sameModes(['taskKeeping'], ['taskKeeping', 'dataTransfer']), false);
  });
  test('notification lines: VM count, then each active download', () => {
    assert.deepEqual(S.notificationLines(L, 0, []), ['No virtual machine is running']);
    assert.deepEqual(S.notificationLines(L, 1, []), ['1 virtual machine is running']);
    assert.deepEqual(S.notificationLines(L, 3, [dl('debian.iso', 'running', 45, 100), dl('old.iso', 'completed', 1, 1),
      dl('win.iso', 'starting', 0, 0)]), ['3 virtual machines are running', 'debian.iso: 45%', 'win.iso: downloading']);
  });
  test('the zh_CN templates format too', () => {
    const zh = JSON.parse(fs.readFileSync(path.join(hap, 'entry/src/main/resources/zh_CN/element/string.json'), 'utf8'));
    const str = (n) => zh.string.find((s) => s.name === n).value;
    const Z = new S.StatusLabels();
    Z.vmsMany = str('status_vms_many');
    Z.downloadPercent = str('status_download_percent');
    assert.deepEqual(S.notificationLines(Z, 2, [dl('a.iso', 'running', 1, 4)]), ['2 台虚拟机正在运行', 'a.iso：25%']);
  });
  test('percent and overall percent', () => {
    assert.equal(S.percentOf(0, 0), -1);
    assert.equal(S.percentOf(5, 10), 50);
    assert.equal(S.percentOf(11, 10), 100);
    assert.equal(S.overallPercent([dl('a', 'running', 10, 100), dl('b', 'running', 90, 100)]), 50);
    assert.equal(S.overallPercent([dl('a', 'running', 10, 100), dl('b', 'starting', 0, 0)]), -1);
    assert.equal(S.overallPercent([dl('a', 'completed', 1, 1)]), -1);
  });
  test('format', () => {
    assert.equal(S.format('%s: %d%%', ['x', '7']), 'x: 7%');
    assert.equal(S.format('%d%', ['1']), '1%');
    assert.equal(S.format('no args %s', []), 'no args %s');
  });
  test('somethingRuns', () => {
    assert.equal(S.somethingRuns(0, []), false);
    assert.equal(S.somethingRuns(0, [dl('a', 'paused', 1, 2)]), false);
    assert.equal(S.somethingRuns(1, []), true);
  });
}

// server/dl/dl_state.c dl_safe_name, over the UTF-8 bytes as the C code sees them.
function dlSafeName(s) {
  const bytes = Buffer.from(s, 'utf8');
  let out = '';
  for (const ch of bytes) {
    if (out.length >= 120) break;
    const c = String.fromCharCode(ch);
    const ok = /[A-Za-z0-9._+-]/.test(c);
    if (out.length === 0 && c === '.') continue;
    out += ok ? c : '_';
  }
  return out;
}

async function names() {
  const N = await load('Names');
  test('the port of dl_safe_name still matches server/dl/dl_state.c', () => {
    const c = fs.readFileSync(path.join(repo, 'server', 'dl', 'dl_state.c'), 'utf8');
    assert.match(c, /o < 120/);
    assert.match(c, /ch == '\.' \|\|\s*ch == '_' \|\| ch == '-' \|\| ch == '\+'/);
    assert.match(c, /if \(o == 0 && ch == '\.'\)\s*continue;/);
  });
  test('library names from picker URIs', () => {
    assert.equal(N.libraryName('file://docs/storage/Users/currentUser/Download/debian-12.8.0-amd64-netinst.iso'), 'debian-12.8.0-amd64-netinst.iso');
    assert.equal(N.libraryName('file://docs/storage/Users/currentUser/Download/my%20disk.qcow2'), 'my_disk.qcow2');
    assert.equal(N.libraryName('file://docs/x/%E7%B3%BB%E7%BB%9F.iso'), '__.iso');
    assert.equal(N.libraryName('file://docs/x/..hidden.iso'), 'hidden.iso');
    assert.equal(N.libraryName('file://docs/x/a.iso?query=1'), 'a.iso');
    assert.equal(N.libraryName('file://docs/x/bad%zz.iso'), 'bad_zz.iso');
    assert.equal(N.libraryName('file://docs/x/'), 'x');
    assert.equal(N.libraryName(''), 'imported.iso');
    assert.equal(N.libraryName('file://d/' + 'a'.repeat(300) + '.iso').length, 120);
  });
  test('every library name is one the daemon takes unchanged (a fixed point of dl_safe_name)', () => {
    const inputs = ['a.iso', '.x', '...', '系统 盘.iso', 'ünïcödé.img', 'a b+c-d_e.raw', '%41.iso', 'x'.repeat(500), '😀.iso'];
    let seed = 7;
    for (let i = 0; i < 300; i++) {
      let s = '';
      const n = 1 + (i % 40);
      for (let k = 0; k < n; k++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        s += String.fromCodePoint([32 + (seed % 95), 0x4e00 + (seed % 500), 0x1f600 + (seed % 50), 46][seed % 4]);
      }
      inputs.push(s);
    }
    for (const s of inputs) {
      const name = N.libraryName('file://docs/' + encodeURIComponent(s));
      assert.equal(dlSafeName(name), name, JSON.stringify(s));
      assert.ok(name.length > 0 && name.length <= 120);
    }
  });
  test('staging files carry the prefix the daemon sweeps at start', () => {
    const sweep = fs.readFileSync(path.join(repo, 'server', 'dl', 'dl_manager.c'), 'utf8');
    assert.match(sweep, /strncmp\(e->d_name, "\.import-", 8\) == 0/);
    const s = N.stagingName('1b4e28ba-2fa1-11d2-883f-0016d3cca427');
    assert.equal(s, '.import-hap-1b4e28ba2fa111d2883f0016d3cca427');
    assert.ok(s.startsWith('.import-'));
    assert.equal(N.stagingName('../../x'), '.import-hap-x');
  });
  test('free space keeps the 1 GiB reserve', () => {
    const G = 1024 ** 3;
    assert.equal(N.enoughSpace(5 * G, 4 * G), true);
    assert.equal(N.enoughSpace(5 * G, 4 * G + 1), false);
  });
}

const groups = { routes, status, names };
const g = process.argv[2];
if (!groups[g]) {
  console.error('usage: node unit.mjs routes|status|names');
  process.exit(2);
}
await groups[g]();
console.log(`unit ${g}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
