# SPDX-License-Identifier: GPL-2.0-or-later
"""Tiny real guests for the integration tests, built from bytes (no downloads).

Each guest is a 16-bit x86 boot sector put on an El Torito "no emulation"
boot CD by xorriso (Debian package `xorriso`). SeaBIOS loads the 2048-byte
image to linear 0x7C00 and jumps to it (CS:IP may be 07C0:0000 or
0000:7C00, so the code below never relies on CS and sets DS itself).

Both guests first write a line of white-on-blue text at the top of the VGA
text buffer (B800:0000), so a screenshot of them is a "real frame".

poweroff     writes the text, then powers the machine off through ACPI:
             PM1a_CNT (port 0x604 on QEMU `pc` and `q35` with SeaBIOS) <-
             SLP_EN (bit 13) | SLP_TYP 0 (S5 in QEMU) = 0x2000. QEMU then
             exits with status 0 (guest-shutdown).
powerbutton  writes the text, enables the power-button event (PM1a_EN, port
             0x602, bit 8 = PWRBTN_EN; QEMU only latches PWRBTN_STS when it
             is enabled), then sleeps with `sti; hlt` (the BIOS timer tick
             wakes it 18.2 times a second) and polls PM1a_STS (port 0x600)
             until bit 8 (PWRBTN_STS) is set, which QMP `system_powerdown`
             does; then powers off as above.

Verified by hand and by test_guests.py against bare QEMU 7.2 on `pc` and
`q35` before being used against the daemon.
"""

import os
import shutil
import subprocess

TEXT_ATTR = 0x1F  # white on blue

# Offsets below are relative to the start of the image; DS is set to 0x07C0 so
# that DS:offset is the image's linear address whatever CS the BIOS used.


def _prologue(msg_offset):
    """Write the zero-terminated string at MSG_OFFSET to the text screen."""
    return bytes([
        0xFA,                    # 00 cli
        0xFC,                    # 01 cld
        0xB8, 0xC0, 0x07,        # 02 mov ax, 0x07C0
        0x8E, 0xD8,              # 05 mov ds, ax
        0xB8, 0x00, 0xB8,        # 07 mov ax, 0xB800
        0x8E, 0xC0,              # 0A mov es, ax
        0x31, 0xFF,              # 0C xor di, di
        0xBE, msg_offset & 0xFF, msg_offset >> 8,  # 0E mov si, msg
        0xB4, TEXT_ATTR,         # 11 mov ah, 0x1F
        # .next:
        0xAC,                    # 13 lodsb
        0x84, 0xC0,              # 14 test al, al
        0x74, 0x03,              # 16 jz .done (+3 -> 1B)
        0xAB,                    # 18 stosw
        0xEB, 0xF8,              # 19 jmp .next (-8 -> 13)
        # .done:                   1B
    ])


PROLOGUE_LEN = 0x1B

# Power off through ACPI: PM1a_CNT = SLP_EN | SLP_TYP(0).
_POWEROFF = bytes([
    0xBA, 0x04, 0x06,            # mov dx, 0x604   ; PM1a_CNT
    0xB8, 0x00, 0x20,            # mov ax, 0x2000  ; SLP_EN, SLP_TYP=0 (S5)
    0xEF,                        # out dx, ax
    # .hang:
    0xF4,                        # hlt
    0xEB, 0xFD,                  # jmp .hang (-3)
])

# Enable the power button event, then wait for it.
_WAIT_PWRBTN = bytes([
    0xBA, 0x02, 0x06,            # mov dx, 0x602   ; PM1a_EN
    0xB8, 0x00, 0x01,            # mov ax, 0x0100  ; PWRBTN_EN
    0xEF,                        # out dx, ax
    0xBA, 0x00, 0x06,            # mov dx, 0x600   ; PM1a_STS
    # .poll:
    0xFB,                        # sti
    0xF4,                        # hlt             ; until the next timer tick
    0xED,                        # in ax, dx
    0xF6, 0xC4, 0x01,            # test ah, 0x01   ; bit 8 = PWRBTN_STS
    0x74, 0xF8,                  # jz .poll (-8)
    0xFA,                        # cli
])


def boot_sector(kind):
    """The 2048-byte boot image of guest KIND ('poweroff' or 'powerbutton')."""
    if kind == 'poweroff':
        body = _POWEROFF
        msg = b'qemu-hmos test guest: powering off via ACPI'
    elif kind == 'powerbutton':
        body = _WAIT_PWRBTN + _POWEROFF
        msg = b'qemu-hmos test guest: waiting for the ACPI power button'
    else:
        raise ValueError(kind)
    msg_offset = PROLOGUE_LEN + len(body)
    code = _prologue(msg_offset) + body + msg + b'\0'
    assert len(code) <= 510, len(code)
    img = bytearray(2048)
    img[:len(code)] = code
    img[510:512] = b'\x55\xAA'  # not needed for no-emulation boot; harmless
    return bytes(img)


def xorriso_path():
    return shutil.which('xorriso')


def build_iso(kind, out_dir):
    """Build OUT_DIR/KIND.iso (cached) and return its absolute path."""
    out_dir = os.path.abspath(out_dir)
    iso = os.path.join(out_dir, kind + '.iso')
    if os.path.exists(iso):
        return iso
    xorriso = xorriso_path()
    if not xorriso:
        raise RuntimeError('xorriso not found: apt-get install -y xorriso')
    tree = os.path.join(out_dir, kind + '.tree')
    os.makedirs(tree, exist_ok=True)
    with open(os.path.join(tree, 'boot.img'), 'wb') as f:
        f.write(boot_sector(kind))
    tmp = iso + '.part'
    r = subprocess.run([xorriso, '-as', 'mkisofs', '-quiet', '-o', tmp, '-V', 'QHMTEST',
                        '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4', tree],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError('xorriso failed: ' + r.stdout.decode(errors='replace'))
    os.rename(tmp, iso)
    return iso
