"""Converts an Xvfb framebuffer dump (Xvfb -fbdir: XWD format, 24/32-bit TrueColor) to PNG.

    python3 installers/tools/xwd2png.py FRAMEBUFFER OUT.png

Standard library only, so the smoke tests can take a screenshot without ImageMagick.
Prints how many distinct colours the image has: one colour means nothing was drawn.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path


def read_xwd(data: bytes) -> tuple[int, int, bytes]:
    fields = struct.unpack(">25I", data[:100])
    header_size, version, _fmt, depth, width, height = fields[:6]
    byte_order, bits_per_pixel, bytes_per_line = fields[7], fields[11], fields[12]
    ncolors = fields[19]
    if version != 7 or bits_per_pixel != 32 or depth not in (24, 32):
        raise SystemExit(f"unsupported XWD (version {version}, depth {depth}, {bits_per_pixel} bpp)")
    start = header_size + 12 * ncolors
    rows = []
    for y in range(height):
        line = data[start + y * bytes_per_line:start + y * bytes_per_line + 4 * width]
        if byte_order == 0:  # LSBFirst: B G R X
            b, g, r = line[0::4], line[1::4], line[2::4]
        else:  # MSBFirst: X R G B
            r, g, b = line[1::4], line[2::4], line[3::4]
        rgb = bytearray(3 * width)
        rgb[0::3], rgb[1::3], rgb[2::3] = r, g, b
        rows.append(b"\x00" + bytes(rgb))
    return width, height, b"".join(rows)


def png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main(src: Path, out: Path) -> int:
    width, height, raw = read_xwd(src.read_bytes())
    out.write_bytes(png(width, height, raw))
    stride = 1 + 3 * width
    colours = {raw[y * stride + 1 + 3 * x:y * stride + 4 + 3 * x] for y in range(0, height, 4) for x in range(0, width, 4)}
    print(f"{out}: {width}x{height}, {len(colours)} colours")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
