#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make_icons: draws the app's icons (a screen with a play mark on a rounded blue square)
and writes them as PNG files, with nothing but the standard library (zlib for the PNG).
Run from hap-wrapper/: python3 tools/make_icons.py  (the PNG files are committed; this
script is how they were made, and remakes them byte for byte)."""
import os
import struct
import zlib

SS = 4  # supersampling per axis, for smooth edges


def rounded_rect(x, y, x0, y0, x1, y1, r):
    """Inside test for a rounded rectangle [x0,x1]x[y0,y1] with corner radius r."""
    if x < x0 or x > x1 or y < y0 or y > y1:
        return False
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def in_triangle(x, y, a, b, c):
    def side(p, q):
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])
    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    return (s1 >= 0 and s2 >= 0 and s3 >= 0) or (s1 <= 0 and s2 <= 0 and s3 <= 0)


def shade(u, v, full_bleed):
    """Colour (r, g, b, a) at unit coordinates u, v in [0, 1)."""
    top, bottom = (0x2F, 0x80, 0xED), (0x1A, 0x4F, 0xB8)
    bg = tuple(int(top[i] + (bottom[i] - top[i]) * v) for i in range(3))
    if not full_bleed and not rounded_rect(u, v, 0.0, 0.0, 1.0, 1.0, 0.22):
        return (0, 0, 0, 0)
    white = (0xFF, 0xFF, 0xFF)
    # the screen: an outlined rounded rectangle, a stand below it
    outer = rounded_rect(u, v, 0.20, 0.24, 0.80, 0.68, 0.05)
    inner = rounded_rect(u, v, 0.25, 0.29, 0.75, 0.63, 0.02)
    stand = 0.44 <= u <= 0.56 and 0.68 <= v <= 0.75
    foot = rounded_rect(u, v, 0.34, 0.74, 0.66, 0.78, 0.02)
    play = in_triangle(u, v, (0.44, 0.37), (0.44, 0.55), (0.59, 0.46))
    if (outer and not inner) or stand or foot or play:
        return white + (0xFF,)
    return bg + (0xFF,)


def render(size, full_bleed=False):
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(SS):
                for sx in range(SS):
                    c = shade((x + (sx + 0.5) / SS) / size, (y + (sy + 0.5) / SS) / size, full_bleed)
                    a = c[3]
                    acc[0] += c[0] * a
                    acc[1] += c[1] * a
                    acc[2] += c[2] * a
                    acc[3] += a
            n = SS * SS
            alpha = acc[3] // n
            if acc[3]:
                row += bytes((acc[0] // acc[3], acc[1] // acc[3], acc[2] // acc[3], alpha))
            else:
                row += bytes((0, 0, 0, 0))
        rows.append(bytes(row))
    return rows


def png(rows, size):
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b''.join(b'\x00' + r for r in rows)
    ihdr = struct.pack('>IIBBBBB', size, size, 8, 6, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')


def write(path, size, full_bleed=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(png(render(size, full_bleed), size))
    print(path, size)


if __name__ == '__main__':
    write('AppScope/resources/base/media/app_icon.png', 144)
    write('entry/src/main/resources/base/media/icon.png', 144)
    write('entry/src/main/resources/base/media/startIcon.png', 96)
