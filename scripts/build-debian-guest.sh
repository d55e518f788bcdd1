#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The real Debian 12 guest of the tests that need a whole operating system (tests/integration/
# debianguest.py): debootstrap from Debian's packages into a bootable x86_64 qcow2 disk with
# systemd, a root shell on the serial console, the QEMU guest agent, spice-vdagent and a small X
# desktop (Xorg, openbox, xterm) that user "qhm" logs into automatically on tty1.
#
# Built without loop devices, mounts or a running guest: the root filesystem is made from the
# debootstrap tree by mkfs.ext4 -d, the disk is an MBR disk with that filesystem as its one
# partition, and the boot loader is GRUB for BIOS put in place the way grub-bios-setup does it
# (boot.img in the MBR's code area, core.img in the gap before the partition; core.img's built-in
# prefix finds /boot/grub/grub.cfg, which this script writes). Only the guest's own packages come
# from the mirror; grub-mkimage and the boot images come from the host's grub-pc-bin.
#
# Cached in /var/cache/qemu-hmos/debian-guest/<hash of this script>/ (QHM_DEBIAN_GUEST_CACHE
# names another parent): debian12.qcow2 and info.json (size, build time, kernel). Done once;
# later runs find the cache and print its path. Needs root (debootstrap's chroot).
# Usage: scripts/build-debian-guest.sh [--print]   (--print: the image's path, or nothing when absent)
#
# The image is for tests: the serial console is a root shell without a password and the desktop
# user "qhm" has the password "qhm". Do not give it a network others reach.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
parent=${QHM_DEBIAN_GUEST_CACHE:-/var/cache/qemu-hmos/debian-guest}
key=$(sha256sum "$here/build-debian-guest.sh" | cut -c1-16)
dir="$parent/$key"
image="$dir/debian12.qcow2"

if [ "${1:-}" = --print ]; then
  [ -f "$dir/ready" ] && echo "$image"
  exit 0
fi
if [ -f "$dir/ready" ] && [ -f "$image" ]; then
  echo "$image"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "build-debian-guest: needs root (debootstrap)" >&2; exit 1; }
for tool in debootstrap mkfs.ext4 sfdisk qemu-img grub-mkimage; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-debian-guest: $tool missing (scripts/install-deps.sh test)" >&2; exit 1; }
done
grubdir=/usr/lib/grub/i386-pc
[ -f "$grubdir/boot.img" ] || { echo "build-debian-guest: $grubdir missing (apt-get install grub-pc-bin)" >&2; exit 1; }

# The mirror: QHM_DEBIAN_MIRROR, else the host's own Debian source (deb822 or one-line lists).
mirror=${QHM_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u ~ /debian\/?$/ {print u; exit}')
fi
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

# What the guest runs. dbus-user-session: the X server started from the autologin's shell gets
# its seat and devices through logind's session (rootless Xorg).
# xclip: the tests read and set the X clipboard from the serial shell.
pkgs="systemd-sysv,udev,dbus,dbus-user-session,kmod,linux-image-amd64,initramfs-tools,
qemu-guest-agent,spice-vdagent,xserver-xorg-core,xserver-xorg-input-libinput,xinit,openbox,xterm,
x11-xserver-utils,xclip,iproute2,procps,util-linux,mount"
pkgs=$(echo "$pkgs" | tr -d '\n ')

start=$(date +%s)
mkdir -p "$parent"
work="$parent/.work"
rm -rf "$work"
mkdir -p "$work"
root="$work/root"
log="$work/build.log"
echo "build-debian-guest: debootstrap bookworm from $mirror (log: $log)"
if ! debootstrap --variant=minbase --components=main --include="$pkgs" bookworm "$root" "$mirror" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "build-debian-guest: debootstrap failed" >&2
  exit 1
fi

kver=$(ls "$root/lib/modules" | sort -V | tail -n 1)
[ -f "$root/boot/vmlinuz-$kver" ] && [ -f "$root/boot/initrd.img-$kver" ] ||
  { echo "build-debian-guest: no kernel or initramfs in the tree" >&2; exit 1; }
uuid=$(cat /proc/sys/kernel/random/uuid)

# ---- the system's configuration ----
echo qhm-debian >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tqhm-debian\n' >"$root/etc/hosts"
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$uuid" >"$root/etc/fstab"
: >"$root/etc/machine-id" # made at the first boot: every copy of the image gets its own
chroot "$root" useradd -m -s /bin/bash -G video,audio,input qhm
echo 'qhm:qhm' | chroot "$root" chpasswd

# The network: DHCP on the first Ethernet card (QEMU's user network), without waiting at boot.
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >"$root/etc/systemd/network/80-qhm-dhcp.network"
chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1
chroot "$root" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1

# The serial console: a root shell with no password (the tests' way in; kernel console=ttyS0
# makes systemd start serial-getty@ttyS0).
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
EOF

# The desktop: qhm logs in on tty1 and its shell starts X with openbox; the root window's colour
# (#2e6f8e) is how a test knows the desktop is up. spice-vdagent's session half is not started
# here: that is the Linux guest tools' work (data/linux/), which the tests run.
mkdir -p "$root/etc/systemd/system/getty@tty1.service.d"
cat >"$root/etc/systemd/system/getty@tty1.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin qhm --noclear %I $TERM
EOF
home="$root/home/qhm"
cat >"$home/.bash_profile" <<'EOF'
[ -f ~/.bashrc ] && . ~/.bashrc
if [ -z "${DISPLAY:-}" ] && [ "$(tty)" = /dev/tty1 ]; then
  exec startx -- -nolisten tcp vt1 >"$HOME/.xsession.log" 2>&1
fi
EOF
echo 'exec openbox-session' >"$home/.xinitrc"
mkdir -p "$home/.config/openbox"
cat >"$home/.config/openbox/autostart" <<'EOF'
xsetroot -solid '#2e6f8e'
xterm -geometry 80x20+40+40 -T qhm-terminal &
EOF
chroot "$root" chown -R qhm:qhm /home/qhm

# Smaller: no package lists or downloaded packages in the image.
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old "$root"/var/log/*.log

# ---- the boot loader's files inside the tree ----
mkdir -p "$root/boot/grub/i386-pc"
cp "$grubdir"/*.mod "$grubdir"/*.lst "$root/boot/grub/i386-pc/"
cat >"$root/boot/grub/grub.cfg" <<EOF
set timeout=0
set default=0
menuentry 'Debian GNU/Linux 12 (qemu-hmos test guest)' {
  search --no-floppy --fs-uuid --set=root $uuid
  linux /boot/vmlinuz-$kver root=UUID=$uuid ro console=tty0 console=ttyS0,115200 quiet
  initrd /boot/initrd.img-$kver
}
EOF

# ---- the disk: MBR, one ext4 partition from 1 MiB, GRUB in front ----
size_mib=4096
part="$work/part.img"
disk="$work/disk.img"
truncate -s $(((size_mib - 1) * 1024 * 1024)) "$part"
mkfs.ext4 -q -F -L qhm-root -U "$uuid" -d "$root" "$part" >>"$log" 2>&1
truncate -s $((size_mib * 1024 * 1024)) "$disk"
echo 'label: dos
start=2048, type=83, bootable' | sfdisk -q "$disk" >>"$log" 2>&1
dd if="$part" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' \
  biosdisk part_msdos ext2 normal linux boot configfile search search_fs_uuid echo test
[ "$(stat -c %s "$work/core.img")" -lt $((2047 * 512)) ] || { echo "build-debian-guest: core.img too big" >&2; exit 1; }
# boot.img's code (not the partition table after byte 440) into sector 0; core.img from sector 1.
# Both images' built-in defaults already say "core.img at sector 1, the rest of it from sector 2,
# its length" (grub-mkimage fills the length), which is where it goes here.
dd if="$grubdir/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none

mkdir -p "$dir"
qemu-img convert -c -f raw -O qcow2 "$disk" "$dir/debian12.qcow2.part"
mv "$dir/debian12.qcow2.part" "$image"
seconds=$(($(date +%s) - start))
bytes=$(stat -c %s "$image")
printf '{"file": "debian12.qcow2", "bytes": %s, "virtual_mib": %s, "build_seconds": %s, "kernel": "%s", "mirror": "%s"}\n' \
  "$bytes" "$size_mib" "$seconds" "$kver" "$mirror" >"$dir/info.json"
touch "$dir/ready"
rm -rf "$work"
# Older builds (another version of this script) are no longer used.
for old in "$parent"/*; do
  [ "$old" = "$dir" ] || [ ! -d "$old" ] || rm -rf "$old"
done
echo "build-debian-guest: $image ($((bytes / 1048576)) MiB, ${seconds} s)" >&2
echo "$image"
