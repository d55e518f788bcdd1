-- SPDX-License-Identifier: GPL-2.0-or-later
-- Which process a running VM's QEMU is, by what the daemon controls and an exec cannot change
-- (server/pident.h): the pid it forked, that process's start time (/proc/PID/stat field 22, clock
-- ticks after boot) and the boot it ran in. A wrapper that execs the real binary changes the
-- command line, not these. Rows written before this version have them NULL and are identified
-- the old way (command line, start within a second of started_at), then rewritten.
ALTER TABLE vm_runtime ADD COLUMN start_time INTEGER;
ALTER TABLE vm_runtime ADD COLUMN boot_id TEXT;
-- What runs (/proc/PID/exe once QMP answered: the ELF behind a wrapper).
ALTER TABLE vm_runtime ADD COLUMN exe TEXT;
-- The VM's swtpm (pid from its pidfile when it started, and its start time), if it has a TPM.
ALTER TABLE vm_runtime ADD COLUMN tpm_pid INTEGER;
ALTER TABLE vm_runtime ADD COLUMN tpm_start_time INTEGER;
