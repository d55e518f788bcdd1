/* SPDX-License-Identifier: GPL-2.0-or-later */
/* exe: qemu-hmos-rdp, the worker as a program (the exec launcher); libqemu-hmos-rdp.so is the same
 * worker as a library entry (the child launcher). */
#include "worker.h"

int main(int argc, char **argv) {
  return qhm_rdp_main(argc, argv);
}
