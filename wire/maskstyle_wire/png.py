"""PNG encode and decode with the standard library only (zlib + struct).

encode() writes 8-bit gray, gray+alpha, RGB or RGBA pixels as a PNG.
decode() reads 8-bit, non-interlaced gray, gray+alpha, RGB or RGBA PNGs
(any of the five row filters) back to raw bytes.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type
_CHANNELS = {v: k for k, v in _COLOR_TYPE.items()}


class PNGError(ValueError):
    """The bytes are not a PNG this module can read."""


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode(data: bytes, width: int, height: int, channels: int, level: int = 6) -> bytes:
    """Pack `height` rows of `width * channels` bytes into a PNG."""
    if channels not in _COLOR_TYPE:
        raise ValueError(f"channels must be 1, 2, 3 or 4, not {channels}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, not {width}x{height}")
    stride = width * channels
    if len(data) != stride * height:
        raise ValueError(f"expected {stride * height} bytes for {width}x{height}x{channels}, got {len(data)}")
    view = memoryview(data)
    raw = b"".join(b"\x00" + view[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, level))
            + _chunk(b"IEND", b""))


def decode(png: bytes) -> tuple[int, int, int, bytes]:
    """Return (width, height, channels, pixels) for an 8-bit, non-interlaced PNG."""
    if not png.startswith(SIGNATURE):
        raise PNGError("not a PNG file")
    pos, header, idat = len(SIGNATURE), None, []
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        payload = png[pos + 8:pos + 8 + length]
        if len(payload) != length:
            raise PNGError("truncated PNG")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"IDAT":
            idat.append(payload)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        raise PNGError("PNG without image header or data")
    width, height, depth, color_type, _, _, interlace = header
    if depth != 8 or color_type not in _CHANNELS or interlace:
        raise PNGError(f"unsupported PNG (bit depth {depth}, colour type {color_type}, "
                       f"interlace {interlace}); expected 8-bit gray/RGB(A), not interlaced")
    channels = _CHANNELS[color_type]
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as err:
        raise PNGError(f"corrupt PNG data: {err}") from None
    stride = width * channels
    if len(raw) < (stride + 1) * height:
        raise PNGError("PNG data shorter than its size says")
    rows, prior = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], raw[start + 1:start + 1 + stride], prior, channels)
        rows.append(row)
        prior = row
    return width, height, channels, b"".join(rows)


def _add_bytes(a: bytes, b: bytes) -> bytes:
    """Bytewise (a + b) mod 256, done on big integers so it runs at C speed."""
    n = len(a)
    low = int.from_bytes(b"\x7f" * n, "little")
    high = int.from_bytes(b"\x80" * n, "little")
    x, y = int.from_bytes(a, "little"), int.from_bytes(b, "little")
    total = ((x & low) + (y & low)) ^ ((x ^ y) & high)  # low 7 bits never carry out
    return total.to_bytes(n, "little")


def _unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    if kind == 0:
        return bytes(line)
    if kind == 2:
        return _add_bytes(line, prior)
    row = bytearray(line)
    n = len(row)
    if kind == 1:
        for i in range(bpp, n):
            row[i] = (row[i] + row[i - bpp]) & 0xFF
    elif kind == 3:
        for i in range(n):
            left = row[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + ((left + prior[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(n):
            a = row[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            row[i] = (row[i] + pred) & 0xFF
    else:
        raise PNGError(f"unknown PNG row filter {kind}")
    return bytes(row)
