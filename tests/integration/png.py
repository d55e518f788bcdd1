# SPDX-License-Identifier: GPL-2.0-or-later
"""A small PNG decoder (standard library only) for screenshots.

Supports what QEMU's screendump and most encoders produce: bit depth 8,
colour types 0 (grey), 2 (RGB), 4 (grey+alpha) and 6 (RGBA), no interlace,
all five filter types. Pixels are returned as packed RGB bytes.
"""

import struct
import zlib

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


class PNGError(ValueError):
    pass


class Image:
    def __init__(self, width, height, rgb):
        self.width = width
        self.height = height
        self.rgb = rgb  # width*height*3 bytes, row-major

    @property
    def size(self):
        return (self.width, self.height)

    def pixel(self, x, y):
        i = (y * self.width + x) * 3
        return tuple(self.rgb[i:i + 3])

    def colours(self, limit=1 << 20):
        """The set of distinct colours (stops counting at LIMIT)."""
        seen = set()
        rgb = self.rgb
        for i in range(0, len(rgb), 3):
            seen.add(rgb[i:i + 3])
            if len(seen) >= limit:
                break
        return seen

    def is_single_colour(self):
        rgb = self.rgb
        if not rgb:
            return True
        first = rgb[:3]
        # Fast path: compare against a repeated first pixel.
        return rgb == first * (len(rgb) // 3)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    if pb <= pc:
        return b
    return c


def _unfilter(raw, width, height, bpp):
    stride = width * bpp
    out = bytearray(stride * height)
    prev = bytearray(stride)
    pos = 0
    for y in range(height):
        if pos >= len(raw):
            raise PNGError('image data too short')
        ftype = raw[pos]
        pos += 1
        line = bytearray(raw[pos:pos + stride])
        if len(line) != stride:
            raise PNGError('image data too short')
        pos += stride
        if ftype == 0:
            pass
        elif ftype == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:  # Up
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif ftype == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:  # Paeth
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
        else:
            raise PNGError('bad filter type %d on row %d' % (ftype, y))
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return bytes(out)


def decode(data):
    """Decode PNG bytes into an Image (RGB)."""
    if not data.startswith(PNG_SIGNATURE):
        raise PNGError('not a PNG (signature %r)' % data[:8])
    pos = len(PNG_SIGNATURE)
    ihdr = None
    idat = []
    while pos + 8 <= len(data):
        length, ctype = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise PNGError('truncated chunk %r' % ctype)
        crc, = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise PNGError('bad CRC in chunk %r' % ctype)
        pos += 12 + length
        if ctype == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif ctype == b'IDAT':
            idat.append(body)
        elif ctype == b'IEND':
            break
    if ihdr is None:
        raise PNGError('no IHDR')
    width, height, depth, ctype, comp, filt, interlace = ihdr
    if depth != 8 or ctype not in _CHANNELS or comp != 0 or filt != 0 or interlace != 0:
        raise PNGError('unsupported PNG: depth %d colour type %d interlace %d'
                       % (depth, ctype, interlace))
    if width == 0 or height == 0:
        raise PNGError('empty image')
    bpp = _CHANNELS[ctype]
    try:
        raw = zlib.decompress(b''.join(idat))
    except zlib.error as e:
        raise PNGError('bad image data: %s' % e)
    pix = _unfilter(raw, width, height, bpp)
    if ctype == 2:
        rgb = pix
    elif ctype == 6:
        a = bytearray(width * height * 3)
        a[0::3] = pix[0::4]
        a[1::3] = pix[1::4]
        a[2::3] = pix[2::4]
        rgb = bytes(a)
    else:
        grey = pix[0::bpp]
        a = bytearray(width * height * 3)
        a[0::3] = grey
        a[1::3] = grey
        a[2::3] = grey
        rgb = bytes(a)
    return Image(width, height, rgb)


def encode(img):
    """Encode an Image as RGB PNG with filter 0 (used by the decoder self-test)."""
    rows = b''.join(b'\0' + img.rgb[y * img.width * 3:(y + 1) * img.width * 3]
                    for y in range(img.height))

    def chunk(t, b):
        return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b) & 0xFFFFFFFF)
    return (PNG_SIGNATURE + chunk(b'IHDR', struct.pack('>IIBBBBB', img.width, img.height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
