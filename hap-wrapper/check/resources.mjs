// SPDX-License-Identifier: GPL-2.0-or-later
// resources: the project's configuration holds together, without the SDK's compiler.
//  - every .json5 file parses (json5 from npm); every resource .json is strict JSON;
//  - every $string:/$media:/$color:/$profile:/... reference in a .json5 file, and every
//    $r('app.TYPE.NAME') in an .ets file, names a resource that exists (AppScope
//    references in AppScope/resources; the module's in entry/src/main/resources, then
//    AppScope's); a string exists in base, zh_CN and en_US alike;
//  - every permission the code names (ohos.permission.X in .ets) or needs for an API it
//    calls (table below) is declared in module.json5, each declaration with a $string:
//    reason and a usedScene;
//  - the pages in main_pages.json and each ability's srcEntry exist; backgroundModes are
//    documented values; the AppStorage keys the page links are the ones Daemon.ets sets;
//  - the API secret stays in common/Daemon.ets: no other file reads a `.token`, and no
//    file uses preferences or persistent storage (PersistentStorage, PersistenceV2, ArkData);
//  - the native module's CMakeLists.txt and types package exist (skipped, and said so,
//    while entry/src/main/cpp is not in the tree).
// usage: node resources.mjs PROJECT_ROOT  -> one line per problem; exit 1 when any
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const JSON5 = require('json5');

const root = path.resolve(process.argv[2] || path.join(path.dirname(new URL(import.meta.url).pathname), '..'));
const problems = [];
const notes = [];
const rel = (p) => path.relative(root, p);
const SKIP_DIRS = new Set(['node_modules', 'oh_modules', '.out', 'build', '.hvigor', '.cxx']);

function walk(dir, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) walk(path.join(dir, e.name), out);
    } else out.push(path.join(dir, e.name));
  }
  return out;
}

const files = walk(root);
const json5Files = files.filter((f) => f.endsWith('.json5'));
const etsFiles = files.filter((f) => f.endsWith('.ets'));
const parsed = new Map();

// 1. parsing
for (const f of json5Files) {
  try {
    parsed.set(f, JSON5.parse(fs.readFileSync(f, 'utf8')));
  } catch (e) {
    problems.push(`${rel(f)}: does not parse as JSON5: ${e.message}`);
  }
}
for (const f of files.filter((x) => x.endsWith('.json') && x.includes(`${path.sep}resources${path.sep}`))) {
  try {
    JSON.parse(fs.readFileSync(f, 'utf8'));
  } catch (e) {
    problems.push(`${rel(f)}: resource files must be strict JSON: ${e.message}`);
  }
}

// 2. resources
const ELEMENT_TYPES = ['string', 'color', 'float', 'boolean', 'integer', 'plural', 'strarray', 'intarray', 'pattern', 'theme'];
function loadResources(resDir) {
  const r = { dir: resDir, qualifiers: new Map(), media: new Set(), profile: new Set(), rawfile: new Set() };
  if (!fs.existsSync(resDir)) return r;
  for (const q of fs.readdirSync(resDir)) {
    const qdir = path.join(resDir, q);
    if (!fs.statSync(qdir).isDirectory()) continue;
    const elems = new Map(ELEMENT_TYPES.map((t) => [t, new Set()]));
    const edir = path.join(qdir, 'element');
    if (fs.existsSync(edir)) {
      for (const f of fs.readdirSync(edir).filter((x) => x.endsWith('.json'))) {
        let j;
        try {
          j = JSON.parse(fs.readFileSync(path.join(edir, f), 'utf8'));
        } catch {
          continue;
        }
        for (const [type, list] of Object.entries(j)) {
          if (!elems.has(type)) {
            problems.push(`${rel(path.join(edir, f))}: unknown resource type ${type}`);
            continue;
          }
          for (const item of list) {
            if (!/^[A-Za-z0-9_]+$/.test(item.name || '')) problems.push(`${rel(path.join(edir, f))}: bad resource name ${JSON.stringify(item.name)}`);
            if (elems.get(type).has(item.name)) problems.push(`${rel(path.join(edir, f))}: ${type} ${item.name} defined twice`);
            elems.get(type).add(item.name);
          }
        }
      }
    }
    r.qualifiers.set(q, elems);
    if (q === 'base') {
      for (const [kind, set] of [['media', r.media], ['profile', r.profile]]) {
        const d = path.join(qdir, kind);
        if (fs.existsSync(d)) for (const f of fs.readdirSync(d)) set.add(f.replace(/\.[^.]+$/, ''));
      }
    }
  }
  return r;
}
const appRes = loadResources(path.join(root, 'AppScope', 'resources'));
const entryRes = loadResources(path.join(root, 'entry', 'src', 'main', 'resources'));

function has(res, type, name) {
  if (type === 'media') return res.media.has(name);
  if (type === 'profile') return res.profile.has(name);
  const base = res.qualifiers.get('base');
  return !!(base && base.get(type) && base.get(type).has(name));
}
function checkRef(where, chain, type, name) {
  if (!['media', 'profile', ...ELEMENT_TYPES].includes(type)) {
    problems.push(`${where}: unknown resource type in $${type}:${name}`);
    return;
  }
  const res = chain.find((r) => has(r, type, name));
  if (!res) {
    problems.push(`${where}: ${type} '${name}' is not in ${chain.map((r) => rel(r.dir) + '/base').join(' or ')}`);
    return;
  }
  if (type === 'string') {
    for (const q of ['zh_CN', 'en_US']) {
      const qs = res.qualifiers.get(q);
      if (!qs || !qs.get('string').has(name)) problems.push(`${where}: string '${name}' has no ${q} translation in ${rel(res.dir)}/${q}`);
    }
  }
}
for (const [f, _] of parsed) {
  const text = fs.readFileSync(f, 'utf8');
  const inApp = rel(f).startsWith('AppScope');
  const chain = inApp ? [appRes] : [entryRes, appRes];
  for (const m of text.matchAll(/"\$([a-z]+):([A-Za-z0-9_.]+)"/g)) checkRef(rel(f), chain, m[1], m[2]);
}
for (const f of etsFiles) {
  const text = fs.readFileSync(f, 'utf8');
  for (const m of text.matchAll(/\$r\(\s*'([^']*)'/g)) {
    const parts = m[1].split('.');
    if (parts.length !== 3 || parts[0] !== 'app') {
      problems.push(`${rel(f)}: $r('${m[1]}') is not of the form app.TYPE.NAME`);
      continue;
    }
    checkRef(rel(f), [entryRes, appRes], parts[1], parts[2]);
  }
}
// every string is translated, whether referenced or not
for (const res of [appRes, entryRes]) {
  const base = res.qualifiers.get('base');
  if (!base) continue;
  for (const name of base.get('string')) {
    for (const q of ['zh_CN', 'en_US']) {
      const qs = res.qualifiers.get(q);
      if (!qs || !qs.get('string').has(name)) problems.push(`${rel(res.dir)}: string '${name}' has no ${q} translation`);
    }
  }
}

// 3. permissions
const modulePath = path.join(root, 'entry', 'src', 'main', 'module.json5');
const moduleJson = parsed.get(modulePath);
const declared = new Map();
if (!moduleJson) {
  problems.push(`${rel(modulePath)}: missing or unparsable`);
} else {
  for (const p of moduleJson.module.requestPermissions || []) {
    declared.set(p.name, p);
    if (!/^\$string:/.test(p.reason || '')) problems.push(`${rel(modulePath)}: ${p.name} has no $string: reason`);
    if (!p.usedScene || !Array.isArray(p.usedScene.abilities) || !p.usedScene.when) {
      problems.push(`${rel(modulePath)}: ${p.name} has no usedScene {abilities, when}`);
    }
  }
}
// APIs that need a permission (the API references' "Required permissions").
const API_PERMISSIONS = [
  [/\bhttp\.createHttp\s*\(/, 'ohos.permission.INTERNET', 'http.createHttp'],
  [/\bWeb\s*\(\s*\{/, 'ohos.permission.INTERNET', 'the Web component loading http://127.0.0.1'],
  [/backgroundTaskManager\.startBackgroundRunning\s*\(/, 'ohos.permission.KEEP_BACKGROUND_RUNNING', 'backgroundTaskManager.startBackgroundRunning'],
];
const used = new Map();
for (const f of etsFiles) {
  const text = fs.readFileSync(f, 'utf8');
  for (const m of text.matchAll(/ohos\.permission\.[A-Za-z0-9_.]*[A-Za-z0-9_]/g)) used.set(m[0], `${rel(f)} names it`);
  for (const [re, perm, what] of API_PERMISSIONS) if (re.test(text)) used.set(perm, `${rel(f)} calls ${what}`);
}
for (const [perm, why] of used) if (!declared.has(perm)) problems.push(`${perm} is used (${why}) but not declared in ${rel(modulePath)}`);

// 4. pages, abilities, background modes, AppStorage keys, the native module
const BACKGROUND_MODES = new Set(['dataTransfer', 'audioPlayback', 'audioRecording', 'location', 'bluetoothInteraction',
  'multiDeviceConnection', 'wifiInteraction', 'voip', 'taskKeeping']);
const etsRoot = path.join(root, 'entry', 'src', 'main', 'ets');
const pagesFile = path.join(root, 'entry', 'src', 'main', 'resources', 'base', 'profile', 'main_pages.json');
if (fs.existsSync(pagesFile)) {
  for (const p of JSON.parse(fs.readFileSync(pagesFile, 'utf8')).src || []) {
    if (!fs.existsSync(path.join(etsRoot, p + '.ets'))) problems.push(`${rel(pagesFile)}: page ${p} has no ${p}.ets`);
  }
}
if (moduleJson) {
  for (const a of moduleJson.module.abilities || []) {
    if (!fs.existsSync(path.join(root, 'entry', 'src', 'main', a.srcEntry))) problems.push(`${rel(modulePath)}: ${a.name} srcEntry ${a.srcEntry} does not exist`);
    for (const m of a.backgroundModes || []) if (!BACKGROUND_MODES.has(m)) problems.push(`${rel(modulePath)}: ${a.name}: unknown background mode ${m}`);
  }
}
const daemonEts = path.join(etsRoot, 'common', 'Daemon.ets');
if (fs.existsSync(daemonEts)) {
  const keys = new Set([...fs.readFileSync(daemonEts, 'utf8').matchAll(/export const KEY_[A-Z]+ = '([^']+)'/g)].map((m) => m[1]));
  for (const f of etsFiles) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/@Storage(?:Link|Prop)\('([^']+)'\)/g)) {
      if (!keys.has(m[1])) problems.push(`${rel(f)}: AppStorage key '${m[1]}' is not one Daemon.ets sets`);
    }
  }
}
// 5. the secret
for (const f of etsFiles) {
  const text = fs.readFileSync(f, 'utf8');
  const isDaemon = path.resolve(f) === path.resolve(daemonEts);
  if (!isDaemon && /\.token\b/.test(text)) problems.push(`${rel(f)}: reads a .token: the API secret stays in common/Daemon.ets`);
  for (const m of text.matchAll(/@kit\.ArkData|@ohos\.data\.preferences|\bpreferences\.|\bPersistentStorage\b|\bPersistenceV2\b/g)) {
    problems.push(`${rel(f)}: uses ${m[0]}: nothing of the daemon's state is persisted by the app (the secret stays in memory)`);
  }
}

const entryProfile = parsed.get(path.join(root, 'entry', 'build-profile.json5'));
const cppDir = path.join(root, 'entry', 'src', 'main', 'cpp');
if (!fs.existsSync(cppDir)) {
  notes.push('entry/src/main/cpp is not in this tree: CMakeLists.txt and the types package not checked');
} else {
  const cm = entryProfile && entryProfile.buildOption && entryProfile.buildOption.externalNativeOptions;
  if (!cm || !fs.existsSync(path.join(root, 'entry', cm.path))) problems.push('entry/build-profile.json5: externalNativeOptions.path does not exist');
  const ohp = parsed.get(path.join(root, 'entry', 'oh-package.json5'));
  for (const [name, spec] of Object.entries((ohp && ohp.dependencies) || {})) {
    if (spec.startsWith('file:') && !fs.existsSync(path.join(root, 'entry', spec.slice(5), 'index.d.ts'))) {
      problems.push(`entry/oh-package.json5: ${name} -> ${spec} has no index.d.ts`);
    }
  }
}

for (const p of problems) console.log(p);
for (const n of notes) console.log('note: ' + n);
console.log(`resources: ${json5Files.length} json5 files, ${etsFiles.length} ets files, ${used.size} permissions used, ${problems.length} problems`);
process.exit(problems.length ? 1 : (notes.length ? 3 : 0));
