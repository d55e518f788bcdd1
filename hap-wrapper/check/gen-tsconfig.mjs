// SPDX-License-Identifier: GPL-2.0-or-later
// gen-tsconfig: prepares OUT_DIR for type-checking and linting the ArkTS sources under
// ETS_ROOT (hap-wrapper/entry/src/main/ets, or a scratch copy for the negative tests)
// with ohos-typescript against @arkts/declarations: a copy of the sources in OUT_DIR/ets
// and a strict OUT_DIR/tsconfig.json.
//
// The copy differs in one thing: `from 'libqemu_hmos.so'` reads `from 'libqemu_hmos'`.
// ohos-typescript types any import of a name ending in .so as `any` (warning TS28014,
// "module for 'x.so' is not verified"), which would leave every use of the N-API
// contract unchecked; under a plain name the paths entry below gives it its declaration.
// Lines are not moved, so FILE(LINE,COL) in the copy is the same place in the source
// (OUT_DIR/source-root.txt names the source for the reports).
//
// The declarations' own tsconfig.base.json is not extended (it sets
// allowArbitraryExtensions, which TypeScript 4.9 does not know): its `paths` (module name
// -> api/... file) are copied with paths made relative to the new file. The N-API module
// maps to the real declaration in entry/src/main/cpp/types/libqemu_hmos when that
// exists, else to check/types/libqemu_hmos (the contract of issue 15, copied).
// See /work/shared/notes/arkts-typecheck.md for why each option is here.
//
// usage: node gen-tsconfig.mjs OUT_DIR ETS_ROOT
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [outArg, etsRoot] = process.argv.slice(2);
if (!outArg || !etsRoot) {
  console.error('usage: node gen-tsconfig.mjs OUT_DIR ETS_ROOT');
  process.exit(2);
}
const outDir = path.resolve(outArg);
const outFile = path.join(outDir, 'tsconfig.json');
const copyRoot = path.join(outDir, 'ets');
const NAPI_RE = /(from\s+)(['"])libqemu_hmos\.so\2/g;

function copyTree(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const a = path.join(from, e.name);
    const b = path.join(to, e.name);
    if (e.isDirectory()) copyTree(a, b);
    else if (e.name.endsWith('.ets') || e.name.endsWith('.ts')) {
      fs.writeFileSync(b, fs.readFileSync(a, 'utf8').replace(NAPI_RE, '$1$2libqemu_hmos$2'));
    }
  }
}
fs.rmSync(copyRoot, { recursive: true, force: true });
copyTree(path.resolve(etsRoot), copyRoot);
const decl = path.join(here, 'node_modules', '@arkts', 'declarations', 'dist');
const rel = (p) => {
  const r = path.relative(outDir, p).split(path.sep).join('/');
  return r.startsWith('.') ? r : './' + r;
};

const base = JSON.parse(fs.readFileSync(path.join(decl, 'tsconfig.base.json'), 'utf8'));
const paths = {};
for (const [name, targets] of Object.entries(base.compilerOptions.paths)) {
  paths[name] = targets.map((t) => rel(path.join(decl, t)));
}
// The native module: prefer the real declaration next to the C sources.
const realTypes = path.join(here, '..', 'entry', 'src', 'main', 'cpp', 'types', 'libqemu_hmos', 'index.d.ts');
const ownTypes = path.join(here, 'types', 'libqemu_hmos', 'index.d.ts');
const napiTypes = fs.existsSync(realTypes) ? realTypes : ownTypes;
paths['libqemu_hmos'] = [rel(napiTypes)];

// Every ArkUI component the pages use must be listed: ohos-typescript parses
// `Name() { ... }` blocks only for names in ets.components.
const components = [
  'Blank', 'Button', 'Column', 'Divider', 'Image', 'LoadingProgress', 'Progress', 'Row', 'Scroll',
  'Stack', 'Text', 'Web',
];

const tsconfig = {
  compilerOptions: {
    target: 'es2021',
    module: 'esnext',
    moduleResolution: 'node',
    lib: ['es2021'],
    strict: true,
    noImplicitAny: true,
    noImplicitReturns: true,
    noImplicitOverride: false,
    noUnusedLocals: true,
    noUnusedParameters: false,
    noFallthroughCasesInSwitch: true,
    experimentalDecorators: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
    baseUrl: '.',
    paths,
    ets: {
      render: { method: ['build', 'pageTransition'], decorator: ['Builder'] },
      components,
      extend: { decorator: ['Extend'], components: [] },
      styles: { decorator: 'Styles', component: { name: 'Common', type: 'T', instance: 'CommonInstance' } },
      customComponent: 'CustomComponent',
    },
  },
  include: [
    rel(path.join(decl, 'component')) + '/*.d.ts',
    rel(path.join(decl, 'global.d.ts')),
    './ets/**/*.ets',
  ],
};
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(outFile, JSON.stringify(tsconfig, null, 2) + '\n');
fs.writeFileSync(path.join(outDir, 'source-root.txt'), path.resolve(etsRoot) + '\n');
console.log(`${outFile}: 'libqemu_hmos.so' typed by ${path.relative(path.join(here, '..'), napiTypes)}`);
