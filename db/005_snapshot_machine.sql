-- SPDX-License-Identifier: GPL-2.0-or-later
-- The machine type a memory snapshot was saved on (QEMU's /machine type: pc-q35-7.2, virt-10.0)
-- and the -cpu its QEMU ran with, written when savevm succeeds and removed with the snapshot
-- (server/vm/vm_snap.c). The saved state only loads on that type (a start from the snapshot names
-- it instead of the alias q35 / pc / virt, which a newer QEMU maps to a newer type) and means the
-- same only with that CPU (an aarch64 guest's signed pointers need the same pointer authentication
-- algorithm). The snapshot list itself is read from the disks; a snapshot without a row here loads
-- on the alias with the CPU of the command lines before this table (server/model/vm_argv.h).
CREATE TABLE vm_snap_machine (
  vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  machine TEXT NOT NULL,
  cpu TEXT NOT NULL,
  PRIMARY KEY (vm_id, name)
);
