// SPDX-License-Identifier: GPL-2.0-or-later
// The Linux test guest (tests/integration/linuxguest.py: Debian's kernel and a busybox initramfs)
// for page tests: a VM's kernel_boot, its initramfs in a fresh directory under the daemon's tmp.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const integration = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'integration');

// PY_ARGS: the Python keyword arguments of linuxguest.kernel_boot after the directory, with the
// module as g (e.g. "script, modules=[]", with SCRIPT given as sys.argv[2]).
export function linuxGuest(daemon, prefix, pyArgs, script = '') {
  const dir = mkdtempSync(join(daemon.tmp, prefix));
  chmodSync(dir, 0o755); // as root the daemon runs QEMU as an unprivileged user, which must read the initrd
  const py = 'import json, sys, linuxguest as g\nscript = sys.argv[2]\n' +
    `print(json.dumps(g.kernel_boot(sys.argv[1], ${pyArgs})))`;
  const out = execFileSync('python3', ['-c', py, dir, script], { env: { ...process.env, PYTHONPATH: integration } });
  return JSON.parse(out.toString());
}
