// SPDX-License-Identifier: GPL-2.0-or-later
// typecheck: type-checks the ArkTS sources named by a tsconfig (gen-tsconfig.mjs) with
// ohos-typescript's compiler API. Not its tsc command: the command-line build lacks the
// language service's Node.getChildren, which the ArkTS checker calls for an `if` inside
// a component block (TypeError: node.getChildren is not a function); the library build
// installs the services' node allocator that has it.
// Prints each error as FILE(LINE,COL): error TSnnnn: TEXT and exits 1 when there is one.
// Warnings (e.g. TS28014, the N-API module "not verified") are printed, not counted.
//
// usage: node typecheck.mjs OUT_DIR   (prepared by gen-tsconfig.mjs)
import { createRequire } from 'node:module';
import path from 'node:path';
import { sourcePathFor } from './report-path.mjs';

const require = createRequire(import.meta.url);
const ts = require('ohos-typescript');

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node typecheck.mjs OUT_DIR');
  process.exit(2);
}
const configFile = path.join(outDir, 'tsconfig.json');
const read = ts.readConfigFile(configFile, ts.sys.readFile);
if (read.error) {
  console.error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  process.exit(2);
}
const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, path.dirname(path.resolve(configFile)));
if (parsed.errors.length) {
  for (const d of parsed.errors) console.error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  process.exit(2);
}
const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
const diags = ts.getPreEmitDiagnostics(program);
let errors = 0;
// noUnusedLocals is on, but an @Entry/@Component struct is never "read" by other code:
// its TS6133 is dropped (only for a name right after the keyword `struct`).
const unusedStruct = (d) => d.code === 6133 && d.file && d.start >= 7 &&
  d.file.text.slice(d.start - 7, d.start) === 'struct ';
for (const d of diags) {
  if (unusedStruct(d)) continue;
  const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
  const kind = d.category === ts.DiagnosticCategory.Error ? 'error' : 'warning';
  if (kind === 'error') errors++;
  if (d.file && d.start !== undefined) {
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    console.log(`${sourcePathFor(outDir, d.file.fileName)}(${line + 1},${character + 1}): ${kind} TS${d.code}: ${text}`);
  } else {
    console.log(`${kind} TS${d.code}: ${text}`);
  }
}
const ets = parsed.fileNames.filter((f) => f.endsWith('.ets')).length;
console.log(`typecheck: ${ets} .ets files, ${errors} errors`);
process.exit(errors ? 1 : 0);
