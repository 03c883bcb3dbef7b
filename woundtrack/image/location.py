"""Removing location data from a photo's bytes before it is stored.

``strip_location`` removes the GPS IFD of every EXIF block and blanks GPS properties in XMP packets
in place, so that the compressed pixel data of JPEG, PNG, WebP, TIFF and HEIF files is left byte
for byte as it was; only a file whose layout cannot be edited in place is re-encoded losslessly
(checked pixel for pixel). Files are opened through ``woundtrack.image.io.open_image``, with the
same limits as every other read.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Callable, Iterator

import numpy as np

from woundtrack.errors import ImageError
from woundtrack.image.io import (
    MAX_MEGAPIXELS,
    base_name,
    decode_pixels,
    open_image,
    pillow_warnings,
)

_RECOPY = "copy the photo again from the phone"
# EXIF tags (TIFF/EP, EXIF 2.32): XMP packet in IFD0, and IFD0's pointer to the GPS IFD.
_TAG_XMP = 0x02BC
_TAG_GPS_IFD = 0x8825


def strip_location(data: bytes, *, name: str | None = None) -> bytes:
    """Return the same photo's bytes without GPS location metadata.

    The GPS IFD of every EXIF block is removed (its pointer taken out of IFD0 and its bytes
    zeroed) and GPS properties in XMP packets are blanked, in place, so that nothing else moves:
    the compressed pixel data of JPEG, PNG, WebP, TIFF and HEIF files is left byte for byte as it
    was, and the rest of the EXIF (capture time, orientation, focal length) is kept. Only when a
    file's layout cannot be edited in place is a PNG, WebP, TIFF or HEIF re-encoded losslessly
    (checked pixel for pixel). Other location text (IPTC city names and the like) is not touched.

    Parameters
    ----------
    data : bytes
        The photo file's bytes.
    name : str, optional
        The file's name, for messages.

    Returns
    -------
    bytes
        ``data`` itself when there was no GPS data, otherwise the cleaned copy.

    Raises
    ------
    ImageError
        ``data`` is not a readable photo, or its GPS data could not be removed without changing
        its pixels.

    Examples
    --------
    >>> clean = strip_location(Path("IMG_0412.jpg").read_bytes())  # doctest: +SKIP
    """
    data = bytes(data)
    label = base_name(name) if name else "photo"
    if not data:
        raise ImageError(f"{label}: the file is empty (0 bytes); {_RECOPY}")
    with open_image(data, label, MAX_MEGAPIXELS) as img:
        fmt = img.format
    buffer = bytearray(data)
    if fmt in ("JPEG", "MPO"):
        _strip_jpeg(buffer)
    elif fmt == "PNG":
        buffer = _strip_png(buffer)
    elif fmt == "WEBP":
        _strip_webp(buffer)
    elif fmt == "TIFF":
        _strip_tiff(buffer, 0, len(buffer))
    elif fmt == "HEIF":
        _strip_heif(buffer)
    cleaned = bytes(buffer)
    if not _has_gps(cleaned, label):
        return data if cleaned == data else cleaned
    if fmt in ("PNG", "WEBP", "TIFF", "HEIF"):
        return _reencode_without_gps(data, label)
    raise ImageError(
        f"{label}: the {fmt} file's GPS data could not be removed without re-encoding the image; "
        "export the photo again with location turned off"
    )


def _has_gps(data: bytes, label: str) -> bool:
    with open_image(data, label, MAX_MEGAPIXELS) as img:
        try:
            with pillow_warnings(label):
                return bool(img.getexif().get_ifd(_TAG_GPS_IFD))
        except Exception as exc:  # noqa: BLE001 - unreadable EXIF cannot be shown to be clean
            raise ImageError(
                f"{label}: the EXIF metadata is damaged ({exc}), so its location data cannot be "
                "removed safely; export the photo again with location turned off"
            ) from None


# Bytes per value of each TIFF field type (TIFF 6.0 section 2; 13 is the IFD pointer type).
_TIFF_TYPE_SIZES = dict(enumerate((0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4)))
_MAX_IFDS = 256


def _strip_tiff(buf: bytearray, base: int, end: int) -> bool:
    """Remove the GPS IFD from a TIFF structure at ``buf[base:end]`` in place; True if changed."""
    order = {b"II": "<", b"MM": ">"}.get(bytes(buf[base : base + 2]))
    if order is None or end - base < 8:
        return False
    if struct.unpack(order + "H", buf[base + 2 : base + 4])[0] != 42:
        return False  # BigTIFF (43) or not TIFF; the final GPS check decides

    def u16(at: int) -> int:
        return struct.unpack(order + "H", buf[at : at + 2])[0]

    def u32(at: int) -> int:
        return struct.unpack(order + "I", buf[at : at + 4])[0]

    changed = False
    offset, seen = u32(base + 4), set()
    while offset and offset not in seen and len(seen) < _MAX_IFDS:
        seen.add(offset)
        start = base + offset
        if start + 2 > end:
            break
        count = u16(start)
        if start + 2 + 12 * count + 4 > end:
            break
        index = 0
        while index < count:
            entry = start + 2 + 12 * index
            tag, kind, n = u16(entry), u16(entry + 2), u32(entry + 4)
            size = _TIFF_TYPE_SIZES.get(kind, 0) * n
            value_at = entry + 8 if size <= 4 else base + u32(entry + 8)
            if tag == _TAG_XMP and value_at + size <= end:
                changed |= _blank_xmp_gps(buf, value_at, value_at + size)
            if tag != _TAG_GPS_IFD:
                index += 1
                continue
            _zero_ifd(buf, base, base + u32(entry + 8), end, u16, u32)
            # Close the gap: later entries and the next-IFD offset move up one slot.
            tail = start + 2 + 12 * count + 4
            buf[entry : tail - 12] = buf[entry + 12 : tail]
            buf[tail - 12 : tail] = bytes(12)
            count -= 1
            buf[start : start + 2] = struct.pack(order + "H", count)
            changed = True
        offset = u32(start + 2 + 12 * count)
    return changed


def _zero_ifd(
    buf: bytearray,
    base: int,
    start: int,
    end: int,
    u16: Callable[[int], int],
    u32: Callable[[int], int],
) -> None:
    if start + 2 > end:
        return
    count = u16(start)
    if start + 2 + 12 * count + 4 > end:
        return
    for index in range(count):
        entry = start + 2 + 12 * index
        size = _TIFF_TYPE_SIZES.get(u16(entry + 2), 0) * u32(entry + 4)
        if size > 4:
            at = base + u32(entry + 8)
            if at + size <= end:
                buf[at : at + size] = bytes(size)
    buf[start : start + 2 + 12 * count + 4] = bytes(2 + 12 * count + 4)


_XMP_GPS_PATTERNS = (
    re.compile(rb"<([A-Za-z_][\w.-]*:GPS\w*)\b[^>]*?/>", re.I),
    re.compile(rb"<([A-Za-z_][\w.-]*:GPS\w*)\b[^>]*>.*?</\1\s*>", re.I | re.S),
    re.compile(rb"\s[A-Za-z_][\w.-]*:GPS\w*\s*=\s*(?:\"[^\"]*\"|'[^']*')", re.I),
)


def _blank_xmp_gps(buf: bytearray, start: int, end: int) -> bool:
    """Overwrite GPS properties of an XMP packet with spaces (same length, still valid XML)."""
    changed = False
    for pattern in _XMP_GPS_PATTERNS:
        for match in list(pattern.finditer(bytes(buf[start:end]))):
            buf[start + match.start() : start + match.end()] = b" " * (match.end() - match.start())
            changed = True
    return changed


_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADERS = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")


def _strip_jpeg(buf: bytearray) -> None:
    """Clean every JPEG in the file (the main image and MPO's appended images)."""
    start = 0
    while start >= 0:
        end = _strip_one_jpeg(buf, start)
        start = buf.find(b"\xff\xd8\xff", end) if end > start else -1


def _strip_one_jpeg(buf: bytearray, start: int) -> int:
    """Walk the marker segments of the JPEG at ``start``; return the offset after its EOI."""
    pos, size = start + 2, len(buf)
    while pos + 4 <= size:
        if buf[pos] != 0xFF:
            return pos
        marker = buf[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if marker in range(0xD0, 0xD8) or marker == 0x01:
            pos += 2
            continue
        length = struct.unpack(">H", buf[pos + 2 : pos + 4])[0]
        body, after = pos + 4, pos + 2 + length
        if length < 2 or after > size:
            return pos
        if marker == 0xE1 and buf[body : body + 6] == _EXIF_HEADER:
            _strip_tiff(buf, body + 6, after)
        elif marker == 0xE1 and bytes(buf[body:after]).startswith(_XMP_HEADERS):
            _blank_xmp_gps(buf, body, after)
        pos = after
        if marker == 0xDA:
            pos = _end_of_entropy_data(buf, pos)
    return pos


def _end_of_entropy_data(buf: bytearray, pos: int) -> int:
    # In scan data 0xFF is followed by 0x00 (stuffing) or a restart marker; anything else ends it.
    size = len(buf)
    while True:
        pos = buf.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= size:
            return size
        following = buf[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1 if following == 0xFF else 2
            continue
        return pos


def _strip_png(buf: bytearray) -> bytearray:
    out, pos = bytearray(buf[:8]), 8
    while pos + 12 <= len(buf):
        length = struct.unpack(">I", buf[pos : pos + 4])[0]
        kind = bytes(buf[pos + 4 : pos + 8])
        if pos + 12 + length > len(buf):
            out += buf[pos:]
            return out
        body = bytearray(buf[pos + 8 : pos + 8 + length])
        changed = False
        if kind == b"eXIf":
            skip = len(_EXIF_HEADER) if body.startswith(_EXIF_HEADER) else 0
            changed = _strip_tiff(body, skip, len(body))
        elif kind == b"iTXt" and body.startswith(b"XML:com.adobe.xmp\x00"):
            body, changed = _strip_png_xmp(body)
        if changed:
            out += struct.pack(">I", len(body)) + kind + body
            out += struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        else:
            out += buf[pos : pos + 12 + length]
        pos += 12 + length
    out += buf[pos:]
    return out


def _strip_png_xmp(body: bytearray) -> tuple[bytearray, bool]:
    try:
        keyword_end = body.index(0)
        compressed = body[keyword_end + 1] == 1
        language_end = body.index(0, keyword_end + 3)
        text_start = body.index(0, language_end + 1) + 1
        text = bytearray(zlib.decompress(body[text_start:]) if compressed else body[text_start:])
    except (ValueError, IndexError, zlib.error):
        return body, False  # malformed; the final GPS check decides
    if not _blank_xmp_gps(text, 0, len(text)):
        return body, False
    return body[:text_start] + (zlib.compress(bytes(text)) if compressed else text), True


def _strip_webp(buf: bytearray) -> None:
    pos = 12
    while pos + 8 <= len(buf):
        kind = bytes(buf[pos : pos + 4])
        length = struct.unpack("<I", buf[pos + 4 : pos + 8])[0]
        body, after = pos + 8, pos + 8 + length
        if after > len(buf):
            return
        if kind == b"EXIF":
            skip = len(_EXIF_HEADER) if buf[body : body + 6] == _EXIF_HEADER else 0
            _strip_tiff(buf, body + skip, after)
        elif kind == b"XMP ":
            _blank_xmp_gps(buf, body, after)
        pos = after + (length & 1)


def _boxes(buf: bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """ISO-BMFF boxes in ``buf[start:end]``: (type, payload start, box end)."""
    pos = start
    while pos + 8 <= end:
        size, header = struct.unpack(">I", buf[pos : pos + 4])[0], 8
        kind = bytes(buf[pos + 4 : pos + 8])
        if size == 1 and pos + 16 <= end:
            size, header = struct.unpack(">Q", buf[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _strip_heif(buf: bytearray) -> None:
    for kind, payload, end in _boxes(buf, 0, len(buf)):
        if kind == b"meta":
            _strip_heif_meta(buf, payload + 4, end)


def _strip_heif_meta(buf: bytearray, start: int, end: int) -> None:
    children = {kind: (payload, box_end) for kind, payload, box_end in _boxes(buf, start, end)}
    if b"iinf" not in children or b"iloc" not in children:
        return
    item_types = _heif_item_types(buf, *children[b"iinf"])
    idat = children.get(b"idat", (0, 0))[0]
    for item_id, (offset, length) in _heif_item_extents(buf, *children[b"iloc"], idat).items():
        kind, content_type = item_types.get(item_id, (b"", b""))
        stop = len(buf) if length == 0 else min(offset + length, len(buf))
        if kind == b"Exif" and offset + 4 <= stop:
            tiff_at = offset + 4 + struct.unpack(">I", buf[offset : offset + 4])[0]
            _strip_tiff(buf, tiff_at, stop)
        elif kind == b"mime" and b"rdf+xml" in content_type:
            _blank_xmp_gps(buf, offset, stop)


def _heif_item_types(buf: bytearray, payload: int, end: int) -> dict[int, tuple[bytes, bytes]]:
    version = buf[payload]
    first = payload + 4 + (2 if version == 0 else 4)
    types: dict[int, tuple[bytes, bytes]] = {}
    for kind, info, info_end in _boxes(buf, first, end):
        if kind != b"infe" or buf[info] < 2:
            continue
        id_size = 2 if buf[info] == 2 else 4
        at = info + 4
        item_id = int.from_bytes(buf[at : at + id_size], "big")
        item_type = bytes(buf[at + id_size + 2 : at + id_size + 6])
        rest = bytes(buf[at + id_size + 6 : info_end]).split(b"\x00")
        types[item_id] = (item_type, rest[1] if len(rest) > 1 else b"")
    return types


def _heif_item_extents(
    buf: bytearray, payload: int, end: int, idat: int
) -> dict[int, tuple[int, int]]:
    """Single-extent items of an ``iloc`` box: item id -> (file offset, length)."""
    version = buf[payload]
    at = payload + 4
    offset_size, length_size = buf[at] >> 4, buf[at] & 15
    base_size, index_size = buf[at + 1] >> 4, (buf[at + 1] & 15) if version in (1, 2) else 0
    at += 2

    def read(size: int) -> int:
        nonlocal at
        value = int.from_bytes(buf[at : at + size], "big") if size else 0
        at += size
        return value

    count = read(2 if version < 2 else 4)
    extents: dict[int, tuple[int, int]] = {}
    for _ in range(count):
        if at > end:
            break
        item_id = read(2 if version < 2 else 4)
        method = read(2) & 15 if version in (1, 2) else 0
        read(2)  # data_reference_index
        base = read(base_size)
        parts = []
        for _ in range(read(2)):
            read(index_size)
            parts.append((read(offset_size), read(length_size)))
        if len(parts) == 1 and method in (0, 1):
            origin = 0 if method == 0 else idat
            extents[item_id] = (origin + base + parts[0][0], parts[0][1])
    return extents


def _reencode_without_gps(data: bytes, label: str) -> bytes:
    """Lossless re-encode with the EXIF minus its GPS IFD; refuse unless the pixels match."""
    with open_image(data, label, MAX_MEGAPIXELS) as img:
        fmt = img.format
        if getattr(img, "n_frames", 1) > 1:
            raise ImageError(
                f"{label}: the {fmt} file's GPS data could not be removed in place and the file "
                "holds several frames; export the photo again with location turned off"
            )
        decode_pixels(img, label, fmt or "image")
        exif = img.getexif()
        exif.pop(_TAG_GPS_IFD, None)
        options: dict[str, object] = {"exif": exif.tobytes()}
        if "icc_profile" in img.info:
            options["icc_profile"] = img.info["icc_profile"]
        if fmt == "WEBP":
            options.update(lossless=True, exact=True, quality=100)
        elif fmt == "TIFF":
            # Uncompressed: Pillow's libtiff writers fail on compression together with EXIF.
            options.update(compression="raw")
        elif fmt == "HEIF":
            # Lossless HEVC round-trips RGB exactly only in 4:4:4 with the identity matrix.
            options.update(quality=-1, chroma=444, matrix_coefficients=0)
        out = io.BytesIO()
        try:
            img.save(out, format=fmt, **options)
        except Exception as exc:  # noqa: BLE001 - any encoder failure means: cannot clean here
            raise ImageError(
                f"{label}: the {fmt} file's GPS data could not be removed (re-encoding failed: "
                f"{exc}); export the photo again with location turned off"
            ) from None
        before = np.asarray(img)
    cleaned = out.getvalue()
    with open_image(cleaned, label, MAX_MEGAPIXELS) as again:
        same = np.array_equal(np.asarray(again), before)
    if not same or _has_gps(cleaned, label):
        raise ImageError(
            f"{label}: the {fmt} file's GPS data could not be removed without changing its "
            "pixels; export the photo again with location turned off"
        )
    return cleaned
