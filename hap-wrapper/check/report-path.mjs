// SPDX-License-Identifier: GPL-2.0-or-later
// report-path: the source file a file of OUT_DIR/ets was copied from (gen-tsconfig.mjs),
// relative to the current directory, for error reports.
import fs from 'node:fs';
import path from 'node:path';

export function sourcePathFor(outDir, file) {
  const copyRoot = path.join(path.resolve(outDir), 'ets');
  const abs = path.resolve(file);
  let root = '';
  try {
    root = fs.readFileSync(path.join(outDir, 'source-root.txt'), 'utf8').trim();
  } catch {
    root = '';
  }
  const mapped = root && abs.startsWith(copyRoot + path.sep) ? path.join(root, path.relative(copyRoot, abs)) : abs;
  return path.relative(process.cwd(), mapped);
}
