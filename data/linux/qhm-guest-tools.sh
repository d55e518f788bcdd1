#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# qemu-hmos guest tools for Linux (docs/guest-tools.md). Run as root inside the guest:
#
#   sudo sh linux.sh [--share TAG[:MOUNTPOINT[:9p|virtiofs]]]... [options]
#
# It installs and enables the QEMU guest agent (qemu-guest-agent: the VM page's guest facts,
# clean shutdown) and spice-vdagent (the clipboard shared with the browser) with the guest's
# package manager (apt-get, dnf, yum, zypper, pacman), makes the display follow the browser
# window (a udev rule: on each DRM hotplug every X session gets its preferred mode with xrandr),
# starts spice-vdagent in X sessions that do not start it themselves (startx with a plain window
# manager), and mounts the VM's shared folders by tag (systemd mount units, else /etc/fstab).
# Packages already there are not installed again (no network needed then); running it twice
# changes nothing more. The daemon serves it at GET /api/v1/guest-tools/linux.sh and puts it on
# a VM's tools CD (label QHM_TOOLS) with shares.conf, the VM's shared folders, beside it: run
# from there without --share, the script mounts those.
#
# Options:
#   --share TAG[:MOUNTPOINT[:MODE]]  a shared folder to mount (MOUNTPOINT /mnt/TAG, MODE 9p by
#                                    default); repeat for more. Replaces shares.conf.
#   --shares-conf FILE               read the shared folders from FILE ("TAG MODE MOUNTPOINT [ro]")
#   --no-packages                    install nothing, enable what is there
#   --no-shares                      mount nothing
#   --desktop / --no-desktop         the clipboard and display parts (default: when X is installed)
#   --dry-run                        say what would be done, change nothing
#   --help
set -u

me=qhm-guest-tools
dry=0
pkgs=1
do_shares=1
desktop=auto
shares=""
conf=""
changed=0
helper=/usr/local/sbin/qhm-guest-display
unitdir=/etc/systemd/system

say() { printf '%s: %s\n' "$me" "$*"; }
warn() { printf '%s: warning: %s\n' "$me" "$*" >&2; }
die() {
  printf '%s: %s\n' "$me" "$*" >&2
  exit 1
}
# CMD...: run it, or with --dry-run say it.
run() {
  if [ "$dry" = 1 ]; then
    say "would run: $*"
    return 0
  fi
  "$@"
}
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
usage() {
  sed -n 's/^# \{0,1\}//; 3,24p' "$0" 2>/dev/null || echo "usage: sh linux.sh [--share TAG[:MOUNTPOINT[:9p|virtiofs]]]... [--no-packages] [--no-shares] [--dry-run]"
}

# put_file PATH MODE < TEXT: PATH becomes TEXT unless it already is (then nothing is written).
# Sets changed=1 when it wrote: never the end of a pipeline (a subshell would keep that to itself).
put_file() {
  _new=$(
    cat
    echo x
  )
  _new=${_new%x}
  if [ -f "$1" ] && [ "$(
    cat "$1"
    echo x
  )" = "${_new}x" ]; then
    return 0
  fi
  changed=1
  if [ "$dry" = 1 ]; then
    say "would write $1"
    return 0
  fi
  mkdir -p "$(dirname "$1")" || die "cannot make the directory of $1"
  if ! { printf '%s' "$_new" >"$1.qhm-new" && chmod "$2" "$1.qhm-new" && mv -f "$1.qhm-new" "$1"; }; then
    die "cannot write $1"
  fi
  say "wrote $1"
}

# ---- arguments ----

# add_share TAG MODE MOUNTPOINT ACCESS: checked, then one line of $shares.
add_share() {
  case $1 in
  "" | *[!A-Za-z0-9_.-]*) die "share tag '$1': letters, digits, '_', '.' and '-' only" ;;
  esac
  [ ${#1} -le 31 ] || die "share tag '$1': at most 31 characters"
  case $2 in
  9p | virtiofs) ;;
  *) die "share $1: mode '$2' is neither 9p nor virtiofs" ;;
  esac
  case $3 in
  /*/* | /?*) ;;
  *) die "share $1: mount point '$3' is not an absolute path" ;;
  esac
  case $3 in
  *[!A-Za-z0-9_./-]* | */../* | */.. | */./* | */. | *//*) die "share $1: mount point '$3': letters, digits, '_', '.', '-' and '/' only, no '.' or '..' parts" ;;
  esac
  case $4 in
  ro | rw) ;;
  *) die "share $1: '$4' is neither ro nor rw" ;;
  esac
  shares="$shares$1 $2 ${3%/} $4
"
}

# --share TAG[:MOUNTPOINT[:MODE]]
share_arg() {
  _tag=${1%%:*}
  _rest=
  [ "$_tag" = "$1" ] || _rest=${1#*:}
  _mp=${_rest%%:*}
  _mode=
  [ "$_mp" = "$_rest" ] || _mode=${_rest#*:}
  add_share "$_tag" "${_mode:-9p}" "${_mp:-/mnt/$_tag}" rw
}

read_conf() {
  [ -r "$1" ] || die "cannot read $1"
  while read -r _t _m _p _a _extra || [ -n "${_t:-}" ]; do
    case ${_t:-} in
    "" | "#"*) continue ;;
    esac
    add_share "$_t" "${_m:-9p}" "${_p:-/mnt/$_t}" "${_a:-rw}"
  done <"$1"
}

from_args=0
while [ $# -gt 0 ]; do
  case $1 in
  --share)
    [ $# -ge 2 ] || die "--share needs TAG[:MOUNTPOINT[:9p|virtiofs]]"
    share_arg "$2"
    from_args=1
    shift
    ;;
  --share=*)
    share_arg "${1#--share=}"
    from_args=1
    ;;
  --shares-conf)
    [ $# -ge 2 ] || die "--shares-conf needs a file"
    conf=$2
    shift
    ;;
  --shares-conf=*) conf=${1#--shares-conf=} ;;
  --no-packages) pkgs=0 ;;
  --no-shares) do_shares=0 ;;
  --desktop) desktop=yes ;;
  --no-desktop) desktop=no ;;
  --dry-run | -n) dry=1 ;;
  --help | -h)
    usage
    exit 0
    ;;
  *) die "unknown option '$1' (--help lists them)" ;;
  esac
  shift
done
if [ -n "$conf" ]; then
  read_conf "$conf"
elif [ "$from_args" = 0 ] && [ -f "$(dirname "$0")/shares.conf" ]; then
  read_conf "$(dirname "$0")/shares.conf" # run from the tools CD
fi
if [ "$dry" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "run it as root (sudo sh $0), or with --dry-run to see what it would do"
fi
systemd=0
[ -d /run/systemd/system ] && systemd=1
if [ "$desktop" = auto ]; then
  desktop=no
  for x in Xorg X Xwayland /usr/lib/xorg/Xorg /usr/libexec/Xorg; do
    if have "$x" || [ -x "$x" ]; then
      desktop=yes
    fi
  done
fi

# ---- packages ----

# The package that brings command $1 with package manager $2.
package_of() {
  case $1 in
  qemu-ga) echo qemu-guest-agent ;;
  spice-vdagent) echo spice-vdagent ;;
  xrandr)
    case $2 in
    apt-get) echo x11-xserver-utils ;;
    pacman) echo xorg-xrandr ;;
    *) echo xrandr ;;
    esac
    ;;
  esac
}

install_packages() {
  want="qemu-ga"
  [ "$desktop" = yes ] && want="$want spice-vdagent xrandr"
  missing=
  for cmd in $want; do
    have "$cmd" || missing="$missing $cmd"
  done
  if [ -z "$missing" ]; then
    say "installed already: $want"
    return 0
  fi
  if [ "$pkgs" = 0 ]; then
    warn "not installed (--no-packages):$missing"
    return 0
  fi
  pm=
  for p in apt-get dnf yum zypper pacman; do
    if have "$p"; then
      pm=$p
      break
    fi
  done
  [ -n "$pm" ] || die "no package manager found (apt-get, dnf, yum, zypper, pacman): install$missing yourself, then run this with --no-packages"
  list=
  for cmd in $missing; do
    list="$list $(package_of "$cmd" "$pm")"
  done
  say "installing with $pm:$list"
  # shellcheck disable=SC2086 # $list: one word a package
  case $pm in
  apt-get)
    export DEBIAN_FRONTEND=noninteractive
    run apt-get install -y --no-install-recommends $list ||
      { run apt-get update && run apt-get install -y --no-install-recommends $list; }
    ;;
  dnf | yum) run "$pm" install -y $list ;;
  zypper) run zypper --non-interactive install $list ;;
  pacman) run pacman -S --needed --noconfirm $list || run pacman -Syu --needed --noconfirm $list ;;
  esac || die "$pm could not install$list"
}

# ---- services ----

# enable_unit UNIT: enabled (unless static: started by its device) and running.
enable_unit() {
  systemctl cat "$1" >/dev/null 2>&1 || return 1
  case $(systemctl is-enabled "$1" 2>/dev/null) in
  enabled | enabled-runtime | static | indirect | generated | alias) ;;
  masked) warn "$1 is masked: not enabled (systemctl unmask $1)" ;;
  *) run systemctl enable "$1" || warn "could not enable $1" ;;
  esac
  return 0
}

start_unit() {
  systemctl is-active --quiet "$1" && return 0
  run systemctl start "$1" || warn "could not start $1 (journalctl -u $1)"
}

services() {
  if [ "$systemd" = 0 ]; then
    warn "systemd is not running: start qemu-ga and spice-vdagentd with your init system"
    return 0
  fi
  # qemu-guest-agent runs while its port is there (Debian, Fedora: started by udev).
  if enable_unit qemu-guest-agent.service; then
    [ -e /dev/virtio-ports/org.qemu.guest_agent.0 ] && start_unit qemu-guest-agent.service
  elif have qemu-ga; then
    warn "no qemu-guest-agent.service: start qemu-ga yourself"
  fi
  [ "$desktop" = yes ] || return 0
  # spice-vdagentd: started by its socket when the session agent connects.
  if enable_unit spice-vdagentd.socket; then
    start_unit spice-vdagentd.socket
  elif enable_unit spice-vdagentd.service; then
    [ -e /dev/virtio-ports/com.redhat.spice.0 ] && start_unit spice-vdagentd.service
  elif have spice-vdagentd; then
    warn "no spice-vdagentd unit: start spice-vdagentd yourself"
  fi
}

# ---- the display and the session agent ----

# The helper udev and the path unit run: written out below as it stands.
helper_text() {
  cat <<'HELPER'
#!/bin/sh
# shellcheck disable=SC2086 # $envs, $limit: lists of words
# SPDX-License-Identifier: GPL-2.0-or-later
# qhm-guest-display, written by the qemu-hmos guest tools (docs/guest-tools.md). For each X server
# of this machine, as the user whose session it is: starts spice-vdagent (the clipboard) when that
# display has none, and sets each connected output to its preferred mode (xrandr --auto), which
# follows the size the browser asks for (QEMU passes it to the display device; the kernel sees a
# DRM hotplug; Xorg's modesetting driver does not apply it by itself).
# Run by udev on each DRM change (--udev: handed to systemd-run at once, since udev kills what a
# rule leaves running) and by qhm-guest-display.path when an X server starts (--wait SECONDS: the
# session gets that long to start its first program, then a few seconds more for its own
# autostart, which may start spice-vdagent itself).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
case ${1:-} in
--udev)
  if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
    exec systemd-run --no-block --quiet --collect "$0"
  fi
  setsid "$0" </dev/null >/dev/null 2>&1 &
  exit 0
  ;;
esac
wait=0
[ "${1:-}" = --wait ] && wait=${2:-60}
limit=
command -v timeout >/dev/null 2>&1 && limit="timeout 10"

env_of() { { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | sed -n "s/^$2=//p" | head -n 1; }

# "DISPLAY PID" of one program of each local X display (the X server's socket there), a user's
# rather than root's (sudo keeps DISPLAY). One grep over every environment: a process each would
# take seconds of a slow guest's CPU.
sessions() {
  for sock in /tmp/.X11-unix/X*; do
    n=${sock#/tmp/.X11-unix/X}
    case $n in
    "" | *[!0-9]*) continue ;;
    esac
    [ -S "$sock" ] || continue
    files=$(grep -alzE "^DISPLAY=:$n(\.[0-9]+)?\$" /proc/[0-9]*/environ 2>/dev/null)
    [ -n "$files" ] || continue
    e=$(stat -c '%u %n' $files 2>/dev/null | awk '{ print ($1 == 0), $2 }' | sort -n | head -n 1)
    e=${e#* /proc/}
    [ -n "$e" ] && echo ":$n ${e%/environ}"
  done
}

agent_running() {
  for c in /proc/[0-9]*/comm; do
    read -r name 2>/dev/null <"$c" || continue
    [ "$name" = spice-vdagent ] || continue
    grep -qazE "^DISPLAY=$1(\.[0-9]+)?\$" "${c%/comm}/environ" 2>/dev/null && return 0
  done
  return 1
}

# as_user PROCS CMD...: CMD as the session's user with its X environment; PROCS, when not "", a
# cgroup.procs file to join first (spice-vdagentd asks logind which session an agent is in, and
# logind answers from the cgroup: the agent must be in the session's own).
as_user() {
  procs=$1
  shift
  if command -v setpriv >/dev/null 2>&1; then
    set -- setpriv --reuid="$uid" --regid="$gid" --init-groups env -i $envs "$@"
  elif command -v runuser >/dev/null 2>&1; then
    set -- runuser -u "$user" -- env -i $envs "$@"
  else
    set -- su -s /bin/sh "$user" -c 'exec env -i "$@"' sh $envs "$@"
  fi
  sh -c '[ -n "$0" ] && echo $$ >"$0" 2>/dev/null; exec "$@"' "$procs" "$@"
}

[ -n "$(ls /tmp/.X11-unix 2>/dev/null)" ] || exit 0
n=0
while [ -z "$(sessions)" ] && [ "$n" -lt "$wait" ]; do
  sleep 1
  n=$((n + 1))
done
[ "$wait" -gt 0 ] && sleep 5
sessions | while read -r display pid; do
  uid=$(stat -c %u "/proc/$pid") || continue
  gid=$(stat -c %g "/proc/$pid") || continue
  pw=$(getent passwd "$uid" 2>/dev/null || grep "^[^:]*:[^:]*:$uid:" /etc/passwd | head -n 1)
  user=${pw%%:*}
  home=$(echo "$pw" | cut -d: -f6)
  [ -n "$user" ] || continue
  envs="DISPLAY=$display HOME=$home USER=$user LOGNAME=$user PATH=$PATH"
  xa=$(env_of "$pid" XAUTHORITY)
  [ -n "$xa" ] || xa=$home/.Xauthority
  for v in XAUTHORITY=$xa XDG_RUNTIME_DIR=$(env_of "$pid" XDG_RUNTIME_DIR) \
    DBUS_SESSION_BUS_ADDRESS=$(env_of "$pid" DBUS_SESSION_BUS_ADDRESS) LANG=$(env_of "$pid" LANG); do
    case $v in
    *=) ;;
    *[[:space:]]*) ;;
    *) envs="$envs $v" ;;
    esac
  done
  if command -v spice-vdagent >/dev/null 2>&1 && [ -e /dev/virtio-ports/com.redhat.spice.0 ] &&
    ! agent_running "$display"; then
    cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null | head -n 1)
    procs=/sys/fs/cgroup$cg/cgroup.procs
    if [ -z "$cg" ] || [ ! -f "$procs" ]; then
      cg=$(sed -n 's/^[0-9]*:name=systemd://p' "/proc/$pid/cgroup" 2>/dev/null | head -n 1)
      procs=/sys/fs/cgroup/systemd$cg/cgroup.procs
    fi
    [ -f "$procs" ] || procs=
    echo "qhm-guest-display: starting spice-vdagent for $user on $display"
    as_user "$procs" spice-vdagent </dev/null >/dev/null 2>&1
  fi
  command -v xrandr >/dev/null 2>&1 || continue
  outs=$(as_user "" $limit xrandr --query </dev/null 2>/dev/null | sed -n 's/^\([^ ]*\) connected.*/\1/p')
  set --
  for o in $outs; do
    set -- "$@" --output "$o" --auto
  done
  [ $# -gt 0 ] && as_user "" $limit xrandr "$@" </dev/null
done
exit 0
HELPER
}

display_parts() {
  helper_text >"${TMPDIR:-/tmp}/qhm-guest-display.$$" || die "cannot write in ${TMPDIR:-/tmp}"
  put_file "$helper" 0755 <"${TMPDIR:-/tmp}/qhm-guest-display.$$"
  rm -f "${TMPDIR:-/tmp}/qhm-guest-display.$$"
  put_file /etc/udev/rules.d/70-qhm-guest-display.rules 0644 <<EOF
# Written by the qemu-hmos guest tools (docs/guest-tools.md): the display follows the size the
# browser asks for. QEMU passes it to the display device, the kernel reports a DRM hotplug, and
# $helper sets every X session's outputs to their preferred mode.
ACTION=="change", SUBSYSTEM=="drm", RUN+="$helper --udev"
EOF
  if [ "$changed" = 1 ] && have udevadm; then
    run udevadm control --reload || warn "udevadm control --reload failed"
  fi
  [ "$systemd" = 1 ] || {
    warn "without systemd, start spice-vdagent in your X session yourself (e.g. in ~/.xinitrc)"
    return 0
  }
  changed=0
  put_file "$unitdir/qhm-guest-display.path" 0644 <<EOF
# Written by the qemu-hmos guest tools (docs/guest-tools.md): when an X server starts (its socket
# appears), $helper starts spice-vdagent in that session unless the session did.
[Unit]
Description=qemu-hmos guest tools: watch for X servers

[Path]
PathChanged=/tmp/.X11-unix

[Install]
WantedBy=multi-user.target
EOF
  put_file "$unitdir/qhm-guest-display.service" 0644 <<EOF
# Written by the qemu-hmos guest tools (docs/guest-tools.md); started by qhm-guest-display.path.
[Unit]
Description=qemu-hmos guest tools: spice-vdagent and the display size in X sessions

[Service]
Type=oneshot
ExecStart=$helper --wait 60
EOF
  [ "$changed" = 1 ] && run systemctl daemon-reload
  enable_unit qhm-guest-display.path && start_unit qhm-guest-display.path
  # An X session running now (the script run from its terminal) gets its agent at once.
  if [ -n "$(ls /tmp/.X11-unix 2>/dev/null)" ]; then
    run systemctl start --no-block qhm-guest-display.service || true
  fi
}

# ---- shared folders ----

mounted() { awk -v mp="$1" '$2 == mp { found = 1 } END { exit !found }' /proc/mounts; }

# mount_share TAG MODE MOUNTPOINT ACCESS
mount_share() {
  tag=$1 mode=$2 mp=$3
  opts=
  [ "$mode" = 9p ] && opts=trans=virtio,version=9p2000.L,msize=262144
  [ "$4" = ro ] && opts=${opts:+$opts,}ro
  [ -d "$mp" ] || run mkdir -p "$mp" || {
    warn "cannot make $mp"
    return 0
  }
  # A 9p tag mounts once ("no channels available"): one mounted by hand stays where it is.
  elsewhere=$(awk -v t="$tag" -v mp="$mp" '$1 == t && $2 != mp && ($3 == "9p" || $3 == "virtiofs") { print $2; exit }' /proc/mounts)
  if [ "$systemd" = 1 ]; then
    unit=$(systemd-escape -p --suffix=mount "$mp")
    changed=0
    put_file "$unitdir/$unit" 0644 <<EOF
# Written by the qemu-hmos guest tools (docs/guest-tools.md).
[Unit]
Description=qemu-hmos shared folder $tag

[Mount]
What=$tag
Where=$mp
Type=$mode
${opts:+Options=$opts}

[Install]
WantedBy=multi-user.target
EOF
    [ "$changed" = 1 ] && run systemctl daemon-reload
    enable_unit "$unit"
    if [ -n "$elsewhere" ]; then
      warn "$tag is mounted on $elsewhere already: unmount it there for $unit to mount it on $mp"
    elif ! mounted "$mp"; then
      run systemctl start "$unit" || warn "could not mount $tag on $mp (does the VM share it? journalctl -u $unit)"
    fi
    say "shared folder $tag ($mode) on $mp: $unit"
    return 0
  fi
  # 0: this share is there; 1: nothing on MOUNTPOINT; 2: something else is
  awk -v t="$tag" -v mp="$mp" '$1 !~ /^#/ && $2 == mp { r = ($1 == t) ? 0 : 2 } END { exit r }' r=1 /etc/fstab 2>/dev/null
  in_fstab=$?
  [ -f /etc/fstab ] || in_fstab=1
  if [ "$in_fstab" = 2 ]; then
    warn "/etc/fstab mounts something else on $mp: left as it is"
  elif [ "$in_fstab" = 0 ]; then
    :
  elif [ "$dry" = 1 ]; then
    say "would add to /etc/fstab: $tag $mp $mode ${opts:-defaults},nofail 0 0"
  else
    printf '%s %s %s %s,nofail 0 0 # qemu-hmos shared folder\n' "$tag" "$mp" "$mode" "${opts:-defaults}" >>/etc/fstab ||
      die "cannot write /etc/fstab"
    say "added $tag on $mp to /etc/fstab"
  fi
  if [ -n "$elsewhere" ]; then
    warn "$tag is mounted on $elsewhere already: unmount it there to mount it on $mp"
  elif ! mounted "$mp"; then
    run mount "$mp" || warn "could not mount $tag on $mp (does the VM share it?)"
  fi
  say "shared folder $tag ($mode) on $mp: /etc/fstab"
}

mount_shares() {
  [ "$do_shares" = 1 ] || return 0
  if [ -z "$shares" ]; then
    say "no shared folders given (--share TAG, or shares.conf beside this script)"
    return 0
  fi
  # not a pipe: mount_share runs in this shell (die ends the script); its commands read no stdin
  while read -r t m p a; do
    [ -n "$t" ] || continue
    mount_share "$t" "$m" "$p" "$a" </dev/null
  done <<EOF
$shares
EOF
}

# ---- main ----

[ "$dry" = 1 ] && say "dry run: nothing is changed"
install_packages
services
if [ "$desktop" = yes ]; then
  display_parts
else
  say "no X server installed: no clipboard or display parts (--desktop to add them anyway)"
fi
mount_shares
say "done"
