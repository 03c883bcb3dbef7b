"""Removing location data from a photo's bytes before it is stored.

``strip_location`` removes every GPS IFD of every EXIF block (wherever it is linked: IFD0, the
Exif or Interop sub-IFD, the thumbnail's IFD, SubIFDs) and blanks the GPS and place-name properties
of XMP packets in place, so that the compressed pixel data of JPEG, PNG, WebP, TIFF and HEIF files
is left byte for byte as it was; only a file whose layout cannot be edited in place is re-encoded
losslessly (checked pixel for pixel). XMP is read with expat (the parser behind ElementTree) in
one linear pass per packet, document types refused as defusedxml does; a file whose XMP comes to
more than ``MAX_XMP_BYTES`` is refused, compressed packets being inflated only that far. Files are
opened through ``woundtrack.image.io.open_image``, with the same limits as every other read.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import io
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from xml.parsers import expat

import numpy as np

from woundtrack.errors import ImageError
from woundtrack.image.io import (
    MAX_MEGAPIXELS,
    base_name,
    decode_pixels,
    is_dicom,
    open_image,
    pillow_warnings,
)

_RECOPY = "copy the photo again from the phone"
# TIFF/EP and EXIF 2.32 tags: the XMP packet, and the pointers to the GPS IFD and to the IFDs
# that can link one (the Exif and Interop sub-IFDs, TIFF SubIFDs).
_TAG_XMP = 0x02BC
_TAG_GPS_IFD = 0x8825
_TAG_EXIF_IFD = 0x8769
_TAG_INTEROP_IFD = 0xA005
_TAG_SUB_IFDS = 0x014A

#: Most XMP one file may hold, all packets together, decompressed: real photos hold a few KB
#: (Photoshop's edit history or a phone's depth map in extended XMP a few MB). More is refused,
#: never inflated further.
MAX_XMP_BYTES = 16 * 2**20
# Most XML tags (start, end, comment) one file's XMP is parsed for. Real XMP holds a few hundred
# (Photoshop's edit history some thousands); past this, the rest is blanked whole without being
# parsed, which keeps the parsing of one file's XMP to about a second.
_XMP_MAX_TAGS = 200_000


class _MetadataTooLarge(Exception):
    """A file's XMP over MAX_XMP_BYTES: stated, stored or inflated."""


@dataclasses.dataclass
class _XmpBudget:
    """What is left of one file's XMP allowance while it is cleaned."""

    bytes_left: int = MAX_XMP_BYTES
    tags_left: int = _XMP_MAX_TAGS


_BUDGET: contextvars.ContextVar[_XmpBudget] = contextvars.ContextVar("xmp_budget")


def _budget() -> _XmpBudget:
    budget = _BUDGET.get(None)
    return budget if budget is not None else _XmpBudget()


def strip_location(data: bytes, *, name: str | None = None) -> bytes:
    """Return the same photo's bytes without GPS location metadata.

    The GPS IFD of every EXIF block is removed (its pointer taken out of IFD0 and its bytes
    zeroed) and GPS properties in XMP packets are blanked, in place, so that nothing else moves:
    the compressed pixel data of JPEG, PNG, WebP, TIFF and HEIF files is left byte for byte as it
    was, and the rest of the EXIF (capture time, orientation, focal length) is kept. Only when a
    file's layout cannot be edited in place is a PNG, WebP, TIFF or HEIF re-encoded losslessly
    (checked pixel for pixel).

    Every GPS IFD is removed wherever the EXIF links it (IFD0, the Exif or Interop sub-IFD, the
    thumbnail's IFD, TIFF SubIFDs). In XMP (JPEG, including extended XMP split over segments; PNG
    iTXt/zTXt/tEXt; WebP; TIFF; HEIF) every GPS property (``exif:GPS*``, ``drone-dji:Gps*``, ...)
    and every place name (``photoshop:City``/``State``/``Country``, ``Iptc4xmpCore:Location``/
    ``CountryCode``, ``Iptc4xmpExt:LocationShown``/``LocationCreated`` with all they hold,
    ``xmpDM:shotLocation``, ...) is overwritten with spaces, and so are XML comments; the packet
    stays well-formed XMP with its other properties. A packet that is not well-formed XML, or has
    a document type, cannot be shown to be clean and is blanked whole (in a PNG, its chunk is
    dropped). IPTC-IIM records (Photoshop APP13) are not touched.

    Parameters
    ----------
    data : bytes
        The photo file's bytes.
    name : str, optional
        The file's name, for messages.

    A DICOM file becomes a PNG of its photo without any of the DICOM header
    (``woundtrack.image.dicom_photo.dicom_to_png``): names, ids and dates are dropped with it.

    Returns
    -------
    bytes
        ``data`` itself when there was no GPS data, otherwise the cleaned copy (for DICOM: the
        PNG).

    Raises
    ------
    ImageError
        ``data`` is not a readable photo, its GPS data could not be removed without changing
        its pixels, or its XMP packets come to more than ``MAX_XMP_BYTES`` (stored, stated or
        inflated), which is refused without inflating anything further.

    Examples
    --------
    >>> clean = strip_location(Path("IMG_0412.jpg").read_bytes())  # doctest: +SKIP
    """
    data = bytes(data)
    label = base_name(name) if name else "photo"
    if not data:
        raise ImageError(f"{label}: the file is empty (0 bytes); {_RECOPY}")
    if is_dicom(data):
        from woundtrack.image.dicom_photo import dicom_to_png  # pydicom only for DICOM

        return dicom_to_png(data, name=label)
    with open_image(data, label, MAX_MEGAPIXELS) as img:
        fmt = img.format
    try:
        cleaned = _cleaned(fmt, data)
        # Pillow's reading and a second pass of our own must both find nothing left; in a TIFF
        # (whose EXIF offsets span the whole file) a GPS pointer into the strips must not have
        # zeroed pixels.
        if (
            not _has_gps(cleaned, label)
            and _cleaned(fmt, cleaned) == cleaned
            and (fmt != "TIFF" or cleaned == data or _same_pixels(data, cleaned, label))
        ):
            return data if cleaned == data else cleaned
        if fmt in ("PNG", "WEBP", "TIFF", "HEIF"):
            return _reencode_without_gps(data, label)
    except _MetadataTooLarge:
        raise ImageError(
            f"{label}: the XMP metadata is larger than {MAX_XMP_BYTES >> 20} MB (a damaged file, "
            "or one made to exhaust memory); export the photo again with location turned off"
        ) from None
    raise ImageError(
        f"{label}: the {fmt} file's GPS data could not be removed without re-encoding the image; "
        "export the photo again with location turned off"
    )


def _cleaned(fmt: str | None, data: bytes) -> bytes:
    """``data`` with its location data removed in place (a PNG's changed chunks rewritten)."""
    buffer = bytearray(data)
    token = _BUDGET.set(_XmpBudget())  # one allowance for all the XMP packets of this file
    try:
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
    finally:
        _BUDGET.reset(token)
    return bytes(buffer)


def _same_pixels(data: bytes, cleaned: bytes, label: str) -> bool:
    pixels = []
    for each in (data, cleaned):
        with open_image(each, label, MAX_MEGAPIXELS) as img:
            decode_pixels(img, label, img.format or "image")
            pixels.append(np.asarray(img))
    return np.array_equal(*pixels)


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
    """Remove every GPS IFD from a TIFF structure at ``buf[base:end]`` in place; True if changed.

    Every IFD is visited once, however it is reached: IFD0 and the IFDs chained after it (the
    thumbnail's), the Exif and Interop sub-IFDs and TIFF SubIFDs; a GPS pointer in any of them
    is taken out and the GPS IFD zeroed.
    """
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
    pending, seen = [u32(base + 4)], set()
    while pending and len(seen) < _MAX_IFDS:
        offset = pending.pop()
        if not offset or offset in seen:
            continue
        seen.add(offset)
        start = base + offset
        if start + 2 > end:
            continue
        count = u16(start)
        if start + 2 + 12 * count + 4 > end:
            continue
        index = 0
        while index < count:
            entry = start + 2 + 12 * index
            tag, kind, n = u16(entry), u16(entry + 2), u32(entry + 4)
            size = _TIFF_TYPE_SIZES.get(kind, 0) * n
            value_at = entry + 8 if size <= 4 else base + u32(entry + 8)
            if tag == _TAG_XMP and value_at + size <= end:
                _clean_xmp(buf, value_at, value_at + size)
            elif tag in (_TAG_EXIF_IFD, _TAG_INTEROP_IFD):
                pending.append(u32(entry + 8))
            elif tag == _TAG_SUB_IFDS and kind in (4, 13) and value_at + size <= end:
                pending.extend(u32(value_at + 4 * i) for i in range(min(n, _MAX_IFDS)))
            if tag != _TAG_GPS_IFD:
                index += 1
                continue
            if kind in (4, 13) and n == 1:  # a pointer to the GPS IFD
                _zero_ifd(buf, base, base + u32(entry + 8), end, u16, u32)
            elif size > 4 and value_at + size <= end:
                # Not a pointer (Pillow writes a nested GPS dict as a SHORT array of its keys):
                # its own value is zeroed, never read as an IFD over the bytes it points at.
                buf[value_at : value_at + size] = bytes(size)
            # Close the gap: later entries and the next-IFD offset move up one slot.
            tail = start + 2 + 12 * count + 4
            buf[entry : tail - 12] = buf[entry + 12 : tail]
            buf[tail - 12 : tail] = bytes(12)
            count -= 1
            buf[start : start + 2] = struct.pack(order + "H", count)
            changed = True
        pending.append(u32(start + 2 + 12 * count))  # the next IFD in the chain
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


# XMP properties that say where a photo was taken, by local name in any namespace (lower case):
# the place names of Photoshop, IPTC Core and Extension (LocationShown/LocationCreated with all
# they hold) and XMP Dynamic Media; and every property whose name starts with GPS (exif:GPS*,
# exifEX:GPS*, drone-dji:Gps*).
_XMP_PLACES = frozenset(
    {
        "city",
        "state",
        "country",
        "countrycode",
        "countryname",
        "provincestate",
        "sublocation",
        "worldregion",
        "location",
        "locationshown",
        "locationcreated",
        "locationname",
        "shotlocation",
    }
)
# Real XMP nests a few levels (x:xmpmeta, rdf:RDF, rdf:Description, structures); deeper is hostile.
_XMP_MAX_DEPTH = 256
# A start tag expat has accepted, and one attribute in it. Neither pattern nests a quantifier
# inside another over the same characters, so each match is linear in the tag's length.
_START_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")
_ATTRIBUTE = re.compile(rb"""\s([^\s=/>]+)\s*=\s*(?:"[^"]*"|'[^']*')""")


class _NotXmp(Exception):
    """Not a packet that can be shown to be clean: not well-formed, a document type, too deep."""


@functools.lru_cache(maxsize=1024)
def _is_place(name: str) -> bool:
    """Whether an XMP name (expat's ``"uri local"`` or a raw ``prefix:local``) is a location."""
    local = name.rpartition(" ")[2].rpartition(":")[2].lower()
    return local.startswith("gps") or local in _XMP_PLACES


def _blank_xmp_locations(text: bytes, out: bytearray) -> bool:
    """Overwrite, in ``out`` (a copy of ``text``), the location data of an XMP packet.

    One pass of expat over ``text``: a GPS or place property is blanked from its start tag to its
    end tag (all it holds included), or as one attribute of a start tag; XML comments are blanked
    too (they carry no metadata, but can carry text). A document type is refused outright, as
    defusedxml does, so that no entity is ever declared or expanded. Returns False when ``text``
    is not well-formed XML of that kind (``out`` is then half done and must not be used).
    """
    parser = expat.ParserCreate("utf-8", " ")
    depth = 0
    drop_from = drop_depth = drop_end = -1

    def blank(first: int, stop: int) -> None:
        out[first:stop] = b" " * (stop - first)

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, drop_from, drop_depth, drop_end
        depth += 1
        if depth > _XMP_MAX_DEPTH:
            raise _NotXmp
        if drop_from >= 0:
            drop_depth += 1
        elif _is_place(name):
            at = parser.CurrentByteIndex
            tag = _START_TAG.match(text, at)
            if tag is None:
                raise _NotXmp
            drop_from, drop_depth = at, 1
            drop_end = tag.end() if tag.group(1) else -1  # <x/>: the start tag is all of it
        elif attributes and any(_is_place(key) for key in attributes):
            at = parser.CurrentByteIndex
            tag = _START_TAG.match(text, at)
            if tag is None:
                raise _NotXmp
            for attribute in _ATTRIBUTE.finditer(text, at, tag.end()):
                key = attribute.group(1)
                if not key.startswith(b"xmlns") and _is_place(key.decode("utf-8", "replace")):
                    blank(*attribute.span())

    def end(_name: str) -> None:
        nonlocal depth, drop_from, drop_depth
        depth -= 1
        if drop_from >= 0:
            drop_depth -= 1
            if drop_depth == 0:
                at = parser.CurrentByteIndex
                blank(drop_from, drop_end if drop_end >= 0 else text.index(b">", at) + 1)
                drop_from = -1

    def comment(_text: str) -> None:
        if drop_from < 0:
            at = parser.CurrentByteIndex
            blank(at, text.index(b"-->", at + 4) + 3)

    def refuse(*_args: object) -> None:
        raise _NotXmp

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CommentHandler = comment
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        # Some writers end the packet with NULs, which XML does not allow.
        parser.Parse(text[: len(text.rstrip(b"\x00"))], True)
    except (expat.ExpatError, _NotXmp, ValueError):
        return False
    return True


def _clean_xmp(buf: bytearray, start: int, end: int) -> None:
    """Overwrite the location data of the XMP packet at ``buf[start:end]`` with spaces.

    The packet keeps its length and stays well-formed; one that cannot be parsed (or has a
    document type, or is nested or tagged far past any real XMP) is blanked whole, since nothing
    in it can be shown to be clean. The packet counts against the file's allowance
    (``MAX_XMP_BYTES``, refused past it; ``_XMP_MAX_TAGS``, blanked unparsed past it).
    """
    budget = _budget()
    budget.bytes_left -= end - start
    if budget.bytes_left < 0:
        raise _MetadataTooLarge
    text = bytes(buf[start:end])
    if not text.strip(b" \t\r\n\x00"):
        return
    budget.tags_left -= text.count(b"<")
    packet = bytearray(text)
    if budget.tags_left < 0 or not _blank_xmp_locations(text, packet):
        packet = bytearray(b" " * len(text))
    buf[start:end] = packet


_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_EXTENDED_XMP_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"


def _strip_jpeg(buf: bytearray) -> None:
    """Clean every JPEG in the file (the main image and MPO's appended images)."""
    start = 0
    while start >= 0:
        extended: list[tuple[int, int]] = []
        end = _strip_one_jpeg(buf, start, extended)
        _clean_extended_xmp(buf, extended)
        start = buf.find(b"\xff\xd8\xff", end) if end > start else -1


def _strip_one_jpeg(buf: bytearray, start: int, extended: list[tuple[int, int]]) -> int:
    """Walk the marker segments of the JPEG at ``start``; return the offset after its EOI.

    EXIF and XMP segments are cleaned on the way; the pieces of extended XMP are added to
    ``extended`` as (start, end) offsets, after the header, to be cleaned together.
    """
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
        elif marker == 0xE1 and buf.startswith(_XMP_HEADER, body, after):
            _clean_xmp(buf, body + len(_XMP_HEADER), after)
        elif marker == 0xE1 and buf.startswith(_EXTENDED_XMP_HEADER, body, after):
            extended.append((body + len(_EXTENDED_XMP_HEADER), after))
        pos = after
        if marker == 0xDA:
            pos = _end_of_entropy_data(buf, pos)
    return pos


def _clean_extended_xmp(buf: bytearray, parts: list[tuple[int, int]]) -> None:
    """Clean extended XMP (XMP part 3, 1.1.3.1): one packet split over several APP1 segments.

    Each piece starts with the packet's GUID (32 bytes), its full length and the piece's offset
    (big-endian 32-bit). The pieces of each packet are put together, cleaned as one packet and
    written back; a packet whose pieces do not make it up exactly is blanked.
    """
    packets: dict[bytes, list[tuple[int, int, int, int]]] = {}
    for at, end in parts:
        if end - at < 40:
            buf[at:end] = b" " * (end - at)
            continue
        full, offset = struct.unpack(">II", buf[at + 32 : at + 40])
        packets.setdefault(bytes(buf[at : at + 32]), []).append((full, offset, at + 40, end))
    for pieces in packets.values():
        full = pieces[0][0]
        if full > _budget().bytes_left:
            raise _MetadataTooLarge
        reach = 0
        for stated, offset, at, end in sorted(pieces, key=lambda piece: piece[1]):
            if stated != full or offset > reach or offset + end - at > full:
                reach = -1
                break
            reach = max(reach, offset + end - at)
        if reach != full:
            for _, _, at, end in pieces:
                buf[at:end] = b" " * (end - at)
            continue
        whole = bytearray(full)
        for _, offset, at, end in pieces:
            whole[offset : offset + end - at] = buf[at:end]
        _clean_xmp(whole, 0, full)
        for _, offset, at, end in pieces:
            buf[at:end] = whole[offset : offset + end - at]


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
    """The PNG with its eXIf chunk and XMP text chunks cleaned (an unreadable XMP chunk dropped)."""
    out, pos = bytearray(buf[:8]), 8
    while pos + 12 <= len(buf):
        length = struct.unpack(">I", buf[pos : pos + 4])[0]
        kind = bytes(buf[pos + 4 : pos + 8])
        if pos + 12 + length > len(buf):
            out += buf[pos:]
            return out
        body = bytes(buf[pos + 8 : pos + 8 + length])
        new: bytes | None = body
        if kind == b"eXIf":
            exif = bytearray(body)
            _strip_tiff(exif, len(_EXIF_HEADER) if body.startswith(_EXIF_HEADER) else 0, len(exif))
            new = bytes(exif)
        elif kind in (b"iTXt", b"zTXt", b"tEXt") and body.startswith(_PNG_XMP_KEYWORD):
            new = _cleaned_png_xmp(kind, body)
        if new == body:
            out += buf[pos : pos + 12 + length]
        elif new is not None:
            out += struct.pack(">I", len(new)) + kind + new
            out += struct.pack(">I", zlib.crc32(kind + new) & 0xFFFFFFFF)
        pos += 12 + length
    out += buf[pos:]
    return out


# The keyword of XMP in a PNG text chunk (XMP part 3, 1.1.5): iTXt, or zTXt/tEXt from some writers.
_PNG_XMP_KEYWORD = b"XML:com.adobe.xmp\x00"


def _cleaned_png_xmp(kind: bytes, body: bytes) -> bytes | None:
    """The chunk's body with its XMP cleaned; None to drop a chunk that holds nothing else.

    Compressed text is inflated only as far as the file's XMP allowance (``MAX_XMP_BYTES``):
    past that it is refused, never inflated whole (a 1 MB chunk can inflate to 1 GB).
    """
    keyword = len(_PNG_XMP_KEYWORD)
    try:
        if kind == b"iTXt":  # keyword, compressed flag, method, language, translated keyword
            compressed = body[keyword] == 1
            text_start = body.index(0, body.index(0, keyword + 2) + 1) + 1
        else:  # zTXt: keyword, method, deflated text; tEXt: keyword, text
            compressed = kind == b"zTXt"
            text_start = keyword + (1 if compressed else 0)
        text = _inflate(body[text_start:]) if compressed else body[text_start:]
    except (ValueError, IndexError, zlib.error):
        return None  # damaged: it cannot be shown to be clean
    packet = bytearray(text)
    _clean_xmp(packet, 0, len(packet))
    if packet == text:
        return body
    if not packet.strip():
        return None  # nothing was left but spaces
    return body[:text_start] + (zlib.compress(bytes(packet)) if compressed else bytes(packet))


def _inflate(data: bytes) -> bytes:
    """Decompress zlib ``data`` within the file's XMP allowance; refuse rather than go further."""
    limit = _budget().bytes_left
    text = zlib.decompressobj().decompress(data, limit + 1)
    if len(text) > limit:
        raise _MetadataTooLarge
    return text


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
            _clean_xmp(buf, body, after)
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
        elif kind == b"mime" and b"rdf+xml" in content_type and length and offset <= stop:
            _clean_xmp(buf, offset, stop)  # (length 0, "to the end of the file": not XMP's way)


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
    """Lossless re-encode with the EXIF minus its GPS IFDs; refuse unless the pixels match.

    What the writer copies on its own (a TIFF's XMP) is then cleaned in place like any file.
    """
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
        if _TAG_EXIF_IFD in exif:
            exif.get_ifd(_TAG_EXIF_IFD).pop(_TAG_GPS_IFD, None)
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
    cleaned = _cleaned(fmt, out.getvalue())
    with open_image(cleaned, label, MAX_MEGAPIXELS) as again:
        same = np.array_equal(np.asarray(again), before)
    if not same or _has_gps(cleaned, label) or _cleaned(fmt, cleaned) != cleaned:
        raise ImageError(
            f"{label}: the {fmt} file's GPS data could not be removed without changing its "
            "pixels; export the photo again with location turned off"
        )
    return cleaned
