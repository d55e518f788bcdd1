/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * priv: what the daemon's children may do on the host. When the daemon runs
 * as root, QEMU, swtpm and the RDP worker run as an unprivileged user
 * (default "qemu-hmos", --run-as; libvirt runs QEMU as libvirt-qemu the same
 * way): a forked child drops to it before exec (setgroups, setgid, setuid, each
 * checked), libuv children get UV_PROCESS_SETUID/SETGID. QEMU cannot use its
 * own -runas: -sandbox elevateprivileges=deny kills it at the setuid. Not
 * root: nothing is dropped, the children run as the daemon's own user.
 *
 * When dropping, the files those children use must be reachable by that user:
 * priv_init makes DATA and its library directories traversable and checks that
 * every directory above DATA is; priv_own_vm_dir gives a VM's writable files to
 * the user at each start. Also kept here: the roots under which virtio-9p shares
 * pass host ownership through (security_model=none, --share-passthrough);
 * elsewhere shares are mapped-xattr, so guest root is not host root.
 *
 * priv_init runs once in main() before any thread or child; everything else is
 * read-only after it (any thread). priv_child_drop is async-signal-safe.
 */
#ifndef QHM_PRIV_H
#define QHM_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#define PRIV_DEFAULT_USER "qemu-hmos"
#define PRIV_MAX_SHARE_ROOTS 8

/* RUN_AS: the --run-as user, or NULL for the default (refused unless the daemon is root).
 * PASSTHROUGH: N_PASSTHROUGH --share-passthrough directories (must exist). DATA_DIR is created
 * if missing (absolute). -1 with a message for the user in ERR. */
int priv_init(const char *run_as, const char *const *passthrough, size_t n_passthrough, const char *data_dir,
              char *err, size_t errlen);

/* Whether children run as another user than the daemon. */
bool priv_active(void);
const char *priv_user(void); /* "" when not active */
uid_t priv_uid(void);
gid_t priv_gid(void);

/* In a forked child before exec: become the unprivileged user (nothing when not active), with
 * its supplementary groups, or none when !GROUPS. 0, or -1 with errno. Async-signal-safe. */
int priv_child_drop(bool groups);
/* Ask libuv to start O's process as the unprivileged user (nothing when not active). */
void priv_spawn_options(uv_process_options_t *o);

/* Give PATH (a file or directory the daemon made, in a directory the user cannot write) to the
 * unprivileged user with MODE; a symlink is never followed (refused). 0 when not active or
 * PATH does not exist; -1 with errno. */
int priv_own(const char *path, mode_t mode);
/* Add search permission for group and others to the directory DIR (0 when not active). */
int priv_traversable(const char *dir);
/* Before a VM's processes start: DIR (DATA/vms/ID) and logs/ traversable; run/, tpm/, efivars.qcow2,
 * logs/swtpm.log and the N_DISKS disks in DISKS (those directly in DIR) given to the user. 0 when
 * not active; -1 with a message. */
int priv_own_vm_dir(const char *dir, const char *const *disks, size_t n_disks, char *err, size_t errlen);
/* 0 when the unprivileged user (the daemon's own when not active) may access(PATH, MODE), else
 * the errno it gets. Forks a child to ask the kernel (ACLs count); blocks for about a fork. */
int priv_access(const char *path, int mode);

/* The --share-passthrough roots, resolved, NULL-terminated (an empty list when none). */
const char *const *priv_share_roots(void);

#endif
