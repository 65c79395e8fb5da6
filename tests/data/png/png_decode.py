#!/usr/bin/env python3
"""An independent PNG reader for the tests (Python's zlib, nothing of sd35-setup): checks every
chunk's CRC, inflates IDAT, undoes the five scanline filters of an 8-bit RGB / RGBA / grey image and
prints {"width", "height", "color_type", "chunks", "crc_ok", "text", "sha256"} as JSON; with a
second argument writes the raw RGB pixels (row-major) there."""
import hashlib
import json
import struct
import sys
import zlib


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(data, width, height, bpp):
    stride = width * bpp
    out = bytearray()
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        ftype = data[pos]
        line = bytearray(data[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
            line[i] = (line[i] + pred) & 0xFF
        out += line
        prev = line
    return bytes(out)


def main():
    blob = open(sys.argv[1], "rb").read()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, chunks, crc_ok, idat, text = 8, [], True, b"", {}
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        ctype = blob[pos + 4:pos + 8]
        data = blob[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", blob[pos + 8 + length:pos + 12 + length])
        crc_ok = crc_ok and zlib.crc32(ctype + data) & 0xFFFFFFFF == crc
        chunks.append(ctype.decode("latin-1"))
        if ctype == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", data)
            assert depth == 8 and interlace == 0, "only 8-bit non-interlaced images"
        elif ctype == b"IDAT":
            idat += data
        elif ctype == b"tEXt":
            key, value = data.split(b"\0", 1)
            text[key.decode("latin-1")] = value.decode("latin-1")
        elif ctype == b"iTXt":
            key, rest = data.split(b"\0", 1)
            assert rest[0] == 0, "compressed iTXt"
            _, _, rest = rest[2:].split(b"\0", 2)
            text[key.decode("latin-1")] = rest.decode("utf-8")
        pos += 12 + length
    bpp = {0: 1, 2: 3, 6: 4}[color]
    pixels = unfilter(zlib.decompress(idat), width, height, bpp)
    if bpp == 4:
        pixels = b"".join(pixels[i:i + 3] for i in range(0, len(pixels), 4))
    elif bpp == 1:
        pixels = bytes(v for v in pixels for _ in range(3))
    if len(sys.argv) > 2:
        open(sys.argv[2], "wb").write(pixels)
    print(json.dumps({"width": width, "height": height, "color_type": color, "chunks": chunks,
                      "crc_ok": crc_ok, "text": text,
                      "sha256": hashlib.sha256(pixels).hexdigest()}))


main()
