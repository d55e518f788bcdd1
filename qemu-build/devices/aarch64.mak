# SPDX-License-Identifier: GPL-2.0-or-later
# Devices of our aarch64-softmmu (build.sh installs this as configs/devices/aarch64-softmmu/qhm.mak
# and configures --with-devices-aarch64=qhm). QEMU's defaults (--defconfig) stay: every device that
# is "default y" and everything the `virt` board selects or implies (virtio, PCIe, XHCI, NVMe,
# ramfb, TPM TIS, PL011, GICv3, ...), so a user's extra -device still finds them. What goes: every
# other board -- the product starts only `virt` -- and the SoCs and their devices with them.
CONFIG_VMAPPLE=n
CONFIG_SBSA_REF=n
CONFIG_XLNX_ZYNQMP_ARM=n
CONFIG_XLNX_VERSAL=n
CONFIG_NPCM7XX=n
CONFIG_NPCM8XX=n
CONFIG_ASPEED_SOC=n
CONFIG_RASPI=n
CONFIG_ALLWINNER_H3=n
CONFIG_ALLWINNER_R40=n
CONFIG_CUBIEBOARD=n
CONFIG_DIGIC=n
CONFIG_EXYNOS4=n
CONFIG_HIGHBANK=n
CONFIG_INTEGRATOR=n
CONFIG_REALVIEW=n
CONFIG_VERSATILE=n
CONFIG_VEXPRESS=n
CONFIG_ZYNQ=n
CONFIG_SABRELITE=n
CONFIG_FSL_IMX25=n
CONFIG_FSL_IMX31=n
CONFIG_FSL_IMX6UL=n
CONFIG_FSL_IMX7=n
CONFIG_FSL_IMX8MP_EVK=n
CONFIG_COLLIE=n
CONFIG_SX1=n
CONFIG_MUSICPAL=n
CONFIG_EMCRAFT_SF2=n
# Cortex-M boards (the M-profile CPU itself stays: other Kconfig entries select it)
CONFIG_MPS2=n
CONFIG_MPS3R=n
CONFIG_MUSCA=n
CONFIG_STELLARIS=n
CONFIG_NETDUINO2=n
CONFIG_NETDUINOPLUS2=n
CONFIG_OLIMEX_STM32_H405=n
CONFIG_STM32VLDISCOVERY=n
CONFIG_B_L475E_IOT01A=n
CONFIG_MICROBIT=n
