// SPDX-License-Identifier: GPL-2.0-or-later
// Build the web UI into dist/: index.html, app.js (our modules), chunks/
// (the console pages: noVNC's, and the RDP one with guacamole-common-js, each
// loaded on first use), app.css, api/docs/ (Swagger UI rendering docs/openapi.yaml)
// and the licences of the bundled noVNC, pako, guacamole-common-js and Swagger UI. Prints the gzipped size of our own code and styles
// (budget: 150 KB; noVNC and guacamole-common-js excluded) and fails over it. Run by
// `npm run build` (scripts/build-webui.sh). No dev server: the daemon serves dist/.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const novncDir = join(root, 'node_modules', '@novnc', 'novnc');
const novnc = JSON.parse(readFileSync(join(novncDir, 'package.json'), 'utf8'));
const guacDir = join(root, 'node_modules', 'guacamole-common-js');
const guac = JSON.parse(readFileSync(join(guacDir, 'package.json'), 'utf8'));
const xtermDir = join(root, 'node_modules', '@xterm', 'xterm');
const xterm = JSON.parse(readFileSync(join(xtermDir, 'package.json'), 'utf8'));

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'licenses'), { recursive: true });

await esbuild.build({
  entryPoints: { app: join(root, 'src', 'main.js') },
  outdir: dist,
  bundle: true,
  splitting: true, // the console page (and noVNC with it) is its own chunk, loaded on first use
  chunkNames: 'chunks/[name]-[hash]',
  format: 'esm', // noVNC uses top-level await (WebCodecs probe)
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  banner: {
    js: `/* qemu-hmos web UI, GPL-2.0-or-later. Bundles noVNC ${novnc.version} ` +
        `(MPL-2.0, source: https://github.com/novnc/noVNC, licence: /licenses/novnc-LICENSE.txt; with pako, MIT: /licenses/pako-LICENSE.txt) ` +
        `guacamole-common-js ${guac.version} (Apache-2.0, source: https://github.com/apache/guacamole-client, licence: /licenses/guacamole-common-js-LICENSE.txt) ` +
        `and xterm.js ${xterm.version} with its fit addon (MIT, source: https://github.com/xtermjs/xterm.js, licence: /licenses/xterm-LICENSE.txt). */`,
  },
  logLevel: 'warning',
});
await esbuild.build({
  entryPoints: { app: join(root, 'src', 'app.css') },
  outdir: dist,
  bundle: true,
  minify: true,
  logLevel: 'warning',
});
copyFileSync(join(root, 'src', 'index.html'), join(dist, 'index.html'));
copyFileSync(join(novncDir, 'LICENSE.txt'), join(dist, 'licenses', 'novnc-LICENSE.txt'));
copyFileSync(join(novncDir, 'vendor', 'pako', 'LICENSE'), join(dist, 'licenses', 'pako-LICENSE.txt'));
copyFileSync(join(guacDir, 'LICENSE'), join(dist, 'licenses', 'guacamole-common-js-LICENSE.txt'));
copyFileSync(join(xtermDir, 'LICENSE'), join(dist, 'licenses', 'xterm-LICENSE.txt'));
// /api/docs (the daemon serves it from dist/api/docs, public as the rest of the UI): Swagger UI from
// npm, as published (its bundle and styles, not our code: outside the budget below), our page and
// its start-up script, and docs/openapi.yaml, the REST contract, which it renders.
const docs = join(dist, 'api', 'docs');
const swaggerDir = join(root, 'node_modules', 'swagger-ui-dist');
const swagger = JSON.parse(readFileSync(join(swaggerDir, 'package.json'), 'utf8'));
mkdirSync(docs, { recursive: true });
for (const f of ['swagger-ui-bundle.js', 'swagger-ui.css']) copyFileSync(join(swaggerDir, f), join(docs, f));
for (const f of ['index.html', 'docs.js', 'docs.css']) copyFileSync(join(root, 'src', 'api-docs', f), join(docs, f));
copyFileSync(join(root, '..', 'docs', 'openapi.yaml'), join(docs, 'openapi.yaml'));
copyFileSync(join(swaggerDir, 'LICENSE'), join(dist, 'licenses', 'swagger-ui-LICENSE.txt'));
copyFileSync(join(swaggerDir, 'NOTICE'), join(dist, 'licenses', 'swagger-ui-NOTICE.txt'));
// Our share: the same code bundled with noVNC and guacamole-common-js left out, gzipped, plus app.css.
// The budget is 150 KB gzipped (issue 4); over it the build fails.
const ownJs = await esbuild.build({
  entryPoints: [join(root, 'src', 'main.js')], bundle: true, format: 'esm', target: ['es2022'], minify: true,
  legalComments: 'none', write: false, external: ['@novnc/novnc', 'guacamole-common-js', '@xterm/xterm', '@xterm/addon-fit'], logLevel: 'warning',
});
const ownGz = ownJs.outputFiles.reduce((n, f) => n + gzipSync(f.contents).length, 0) +
  gzipSync(readFileSync(join(dist, 'app.css'))).length;
const total = readdirSync(dist, { recursive: true }).filter((f) => f.endsWith('.js') && !f.startsWith(join('api', 'docs')))
  .reduce((n, f) => n + gzipSync(readFileSync(join(dist, f))).length, 0);
console.log(`webui: built ${dist} (noVNC ${novnc.version}, guacamole-common-js ${guac.version}, /api/docs with Swagger UI ${swagger.version}); own code and styles ${(ownGz / 1024).toFixed(1)} KiB gzipped ` +
  `(budget 150 KB), all JS ${(total / 1024).toFixed(1)} KiB gzipped`);
if (ownGz > 150 * 1000) {
  console.error('webui: own code over the 150 KB gzipped budget');
  process.exit(1);
}
