-- SPDX-License-Identifier: GPL-2.0-or-later
-- VMs: the config is the JSON of vm_config_to_json(); name is kept in a column
-- so that the database itself enforces unique names.
CREATE TABLE vms (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL UNIQUE,
  config TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- The QEMU process a VM runs, so that a restarted daemon can reattach to it.
-- argv is the JSON array it was started with (checked against /proc/PID/cmdline).
CREATE TABLE vm_runtime (
  vm_id TEXT PRIMARY KEY NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  pid INTEGER NOT NULL,
  argv TEXT NOT NULL,
  started_at INTEGER NOT NULL
);

-- How each QEMU run ended.
CREATE TABLE vm_exits (
  id INTEGER PRIMARY KEY,
  vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  status TEXT NOT NULL,          -- 'stopped' or 'crashed'
  exit_code INTEGER,
  signal INTEGER,
  reason TEXT NOT NULL,
  log_tail TEXT NOT NULL         -- JSON array of lines
);
CREATE INDEX vm_exits_vm ON vm_exits(vm_id, id);
