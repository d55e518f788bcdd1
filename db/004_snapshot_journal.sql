-- SPDX-License-Identifier: GPL-2.0-or-later
-- A disk-only snapshot operation of a stopped VM (server/vm/vm_snap.c) runs qemu-img snapshot on
-- each disk in turn: this row is written (and synced) before the first disk is touched and removed
-- once the disks are in step again, so that a daemon killed in between leaves a record the next
-- start finishes or undoes (server/vm/vm_sweep.c): a take or delete cut short has the name removed
-- from every disk, a restore cut short is applied to every disk again. One operation per VM.
CREATE TABLE vm_snap_journal (
  vm_id TEXT PRIMARY KEY NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  op TEXT NOT NULL CHECK (op IN ('take', 'restore', 'delete')),
  name TEXT NOT NULL,
  started_at INTEGER NOT NULL
);
