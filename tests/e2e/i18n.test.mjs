// SPDX-License-Identifier: GPL-2.0-or-later
// The UI's strings, without a browser: every key the pages use exists in English, both languages
// have the same keys, and each translation keeps the placeholders ({name}, ...) of the English.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { assert } from './lib/daemon.mjs';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'webui', 'src');

function sources(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : n.endsWith('.js') ? [p] : [];
  });
}

const placeholders = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');

export const tests = [
  {
    name: 'i18n: keys used by the pages exist; en and zh-CN have the same keys and placeholders',
    timeoutMs: 10000,
    async fn() {
      const { CATALOGS } = await import(pathToFileURL(join(src, 'i18n.js')).href);
      const en = CATALOGS.en, zh = CATALOGS['zh-CN'];
      const missingZh = Object.keys(en).filter((k) => !(k in zh));
      const extraZh = Object.keys(zh).filter((k) => !(k in en));
      assert(!missingZh.length && !extraZh.length, `zh-CN lacks ${missingZh.join(' ')}; only in zh-CN: ${extraZh.join(' ')}`);
      const badPh = Object.keys(en).filter((k) => placeholders(en[k]) !== placeholders(zh[k]));
      assert(!badPh.length, `placeholders differ: ${badPh.map((k) => `${k} (${placeholders(en[k])} / ${placeholders(zh[k])})`).join('; ')}`);
      // Literal keys in t('...') calls (keys built at run time are covered by the tables above).
      const used = new Set();
      for (const f of sources(src)) {
        for (const m of readFileSync(f, 'utf8').matchAll(/\bt\('([a-z0-9_]+(?:\.[a-z0-9_]+)+)'\s*[,)]/g)) used.add(m[1]);
      }
      const unknown = [...used].filter((k) => !(k in en));
      assert(used.size > 100, `only ${used.size} keys found: the scan is broken`);
      assert(!unknown.length, `keys used but not defined: ${unknown.join(' ')}`);
    },
  },
];
