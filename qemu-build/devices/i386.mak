# SPDX-License-Identifier: GPL-2.0-or-later
# Devices of our i386-softmmu and x86_64-softmmu (build.sh installs this as
# configs/devices/{i386,x86_64}-softmmu/qhm.mak, --with-devices-ARCH=qhm). QEMU's defaults stay
# (every "default y" device: all PCI devices, ISA debug exit, TPM CRB/TIS, HDA, ...) and the two
# boards the product starts, `pc` (i440FX) and `q35`. What goes: the boards it never starts.
CONFIG_ISAPC=n
CONFIG_MICROVM=n
CONFIG_NITRO_ENCLAVE=n
CONFIG_XEN_EMU=n
