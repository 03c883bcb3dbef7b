"""Hostile and location-laden photos for woundtrack.image.location (issue 30, rows 1, 2 and 11).

Every file is built here, small; time and memory are asserted by what the code does (a size limit
refused with a message, the memory Python allocated), never by a clock.
"""

from __future__ import annotations

import io
import re
import struct
import tracemalloc
import xml.etree.ElementTree as ET
import zlib
from datetime import datetime

import numpy as np
import pillow_heif
import pytest
from PIL import Image, PngImagePlugin

from woundtrack.errors import ImageError
from woundtrack.image.io import read_photo
from woundtrack.image.location import strip_location

pillow_heif.register_heif_opener()

EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
SECRET = b"WT-SECRET-PLACE"
TAKEN = "2024:05:06 07:08:09"
MiB = 1 << 20


def noise(height: int = 24, width: int = 32) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)


def encode(pixels: np.ndarray, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, **options)
    return out.getvalue()


def pixels_of(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


# ------------------------------------------------------------------------- building EXIF / TIFF

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1}


def tiff_bytes(ifds: list[list[tuple]], chain: dict[int, int] | None = None) -> bytes:
    """A little-endian TIFF structure written by hand, independent of the code under test.

    ``ifds[0]`` is IFD0; an entry is ``(tag, type, packed value)``, ``(tag, ("ifd", k))`` for a
    pointer to ``ifds[k]`` or ``(tag, ("at", blob))`` for a pointer to ``blob`` (strip data).
    ``chain`` maps an IFD to the IFD its next-IFD offset points at.
    """
    chain = chain or {}
    at, ifd_at = 8, []
    for entries in ifds:
        ifd_at.append(at)
        at += 2 + 12 * len(entries) + 4
    data = bytearray()

    def place(blob: bytes) -> int:
        offset = at + len(data)
        data.extend(blob + b"\x00" * (len(blob) & 1))
        return offset

    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for index, entries in enumerate(ifds):
        out += struct.pack("<H", len(entries))
        for entry in sorted(entries, key=lambda e: e[0]):
            if len(entry) == 2:
                tag, (what, arg) = entry
                offset = ifd_at[arg] if what == "ifd" else place(arg)
                out += struct.pack("<HHII", tag, 4, 1, offset)
                continue
            tag, kind, value = entry
            field = value if len(value) <= 4 else struct.pack("<I", place(value))
            out += struct.pack("<HHI", tag, kind, len(value) // _TYPE_SIZES[kind])
            out += field.ljust(4, b"\x00")
        out += struct.pack("<I", ifd_at[chain[index]] if index in chain else 0)
    return bytes(out + data)


def ascii_value(text: str | bytes) -> bytes:
    return (text.encode() if isinstance(text, str) else text) + b"\x00"


GPS_ENTRIES = [(1, 2, ascii_value("N")), (0x12, 2, ascii_value(SECRET))]  # GPSMapDatum: findable


def exif_with_gps_linked_from(where: str, image_entries: list[tuple] | None = None) -> bytes:
    """EXIF whose GPS IFD is linked from IFD0, the Exif sub-IFD, IFD1 or the Interop IFD."""
    ifd0 = list(image_entries or []) + [(EXIF_IFD, ("ifd", 1))]
    exif = [(0x9003, 2, ascii_value(TAKEN))]
    ifds, chain = [ifd0, exif], {}
    if where == "ifd0":
        ifd0.append((GPS_IFD, ("ifd", 2)))
    elif where == "exif":
        exif.append((GPS_IFD, ("ifd", 2)))
    elif where == "interop":
        exif.append((INTEROP_IFD, ("ifd", 3)))
    ifds.append(GPS_ENTRIES)
    if where == "interop":
        ifds.append([(1, 2, ascii_value("R98")), (GPS_IFD, ("ifd", 2))])
    if where == "ifd1":  # the thumbnail's IFD (a second page in a TIFF), next in IFD0's chain
        thumbnail = image_entries or [(0x0103, 3, struct.pack("<H", 6))]
        ifds.append([*thumbnail, (GPS_IFD, ("ifd", 2))])
        chain[0] = 3
    return tiff_bytes(ifds, chain)


def tiff_photo_with_gps_linked_from(where: str, pixels: np.ndarray) -> bytes:
    height, width, _ = pixels.shape
    strip = pixels.tobytes()
    image = [
        (256, 4, struct.pack("<I", width)),
        (257, 4, struct.pack("<I", height)),
        (258, 3, struct.pack("<3H", 8, 8, 8)),
        (259, 3, struct.pack("<H", 1)),
        (262, 3, struct.pack("<H", 2)),
        (273, ("at", strip)),
        (277, 3, struct.pack("<H", 3)),
        (278, 4, struct.pack("<I", height)),
        (279, 4, struct.pack("<I", len(strip))),
    ]
    return exif_with_gps_linked_from(where, image)


def photo_with_gps_linked_from(where: str, fmt: str) -> bytes:
    if fmt == "TIFF":
        return tiff_photo_with_gps_linked_from(where, noise())
    exif = b"Exif\x00\x00" + exif_with_gps_linked_from(where)
    options = {"JPEG": {"quality": 90}, "WEBP": {"lossless": True}, "HEIF": {"quality": 80}}
    return encode(noise(), fmt, exif=exif, **options.get(fmt, {}))


# ---------------------------------------------------------------------------- row 11: every GPS IFD


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIF"])
@pytest.mark.parametrize("where", ["exif", "ifd0", "ifd1", "interop"])
def test_gps_ifd_is_removed_wherever_it_is_linked(fmt, where):
    original = photo_with_gps_linked_from(where, fmt)
    assert SECRET in original
    if where == "exif":  # what the issue found kept: GPS linked from inside the Exif sub-IFD
        with Image.open(io.BytesIO(original)) as img:
            assert GPS_IFD in img.getexif().get_ifd(EXIF_IFD)

    cleaned = strip_location(original, name=f"wound.{fmt.lower()}")

    assert SECRET not in cleaned
    with Image.open(io.BytesIO(cleaned)) as img:
        exif = img.getexif()
        assert GPS_IFD not in exif
        assert GPS_IFD not in exif.get_ifd(EXIF_IFD)
    assert np.array_equal(pixels_of(cleaned), pixels_of(original))
    assert read_photo(cleaned, name="a")[1].taken_at == datetime(2024, 5, 6, 7, 8, 9)


# ------------------------------------------------------------------------ row 11: XMP place names

XMP_NAMESPACES = (
    'xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
    'xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/" '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmlns:xmpDM="http://ns.adobe.com/xmp/1.0/DynamicMedia/" '
    'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)
PLACE_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    f'<rdf:Description rdf:about="" {XMP_NAMESPACES} photoshop:City="Plauen-City" '
    'exif:GPSLatitude="52,31.2N" drone-dji:GpsLongitude="+13.4050" xmp:Rating="3">'
    "<photoshop:State>Saxony-State</photoshop:State>"
    "<photoshop:Country>Germany-Country</photoshop:Country>"
    "<Iptc4xmpCore:Location>Ward-7-Location</Iptc4xmpCore:Location>"
    "<Iptc4xmpCore:CountryCode>DE-Code</Iptc4xmpCore:CountryCode>"
    "<xmpDM:shotLocation>Shot-Location</xmpDM:shotLocation>"
    '<Iptc4xmpExt:LocationShown><rdf:Bag><rdf:li rdf:parseType="Resource">'
    "<Iptc4xmpExt:City>Shown-City</Iptc4xmpExt:City>"
    "<Iptc4xmpExt:Sublocation>Shown-Sublocation</Iptc4xmpExt:Sublocation>"
    "</rdf:li></rdf:Bag></Iptc4xmpExt:LocationShown>"
    '<Iptc4xmpExt:LocationCreated><rdf:Description Iptc4xmpExt:CountryName="Created-Country" '
    'Iptc4xmpExt:ProvinceState="Created-Province"/></Iptc4xmpExt:LocationCreated>'
    "<exif:GPSLongitude>13,24.0E</exif:GPSLongitude><exif:GPSAltitude/>"
    '<!-- exif:GPSLatitude="52,31.2N" near Comment-Town -->'
    "<xmp:Label>keep me</xmp:Label>"
    '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">dressing change</rdf:li></rdf:Alt>'
    "</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
    '<?xpacket end="w"?>'
)
PLACES = [
    "Plauen-City",
    "Saxony-State",
    "Germany-Country",
    "Ward-7-Location",
    "DE-Code",
    "Shot-Location",
    "Shown-City",
    "Shown-Sublocation",
    "Created-Country",
    "Created-Province",
    "52,31.2N",
    "13,24.0E",
    "+13.4050",
    "Comment-Town",
]


def with_xmp(fmt: str, xmp: str | bytes, *, png_chunk: str = "iTXt-zip") -> bytes:
    text = xmp if isinstance(xmp, bytes) else xmp.encode()
    if fmt == "TIFF":
        return encode(noise(), fmt, tiffinfo={700: text})
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        if png_chunk.startswith("iTXt"):
            info.add_itxt("XML:com.adobe.xmp", text.decode(), zip=png_chunk == "iTXt-zip")
        else:
            info.add_text("XML:com.adobe.xmp", text.decode("latin-1"), zip=png_chunk == "zTXt")
        return encode(noise(), fmt, pnginfo=info)
    options = {"WEBP": {"lossless": True}, "HEIF": {"quality": 80}, "JPEG": {"quality": 90}}
    return encode(noise(), fmt, xmp=text, **options[fmt])


def xmp_packet(data: bytes) -> bytes:
    """The XMP packet as a reader sees it (decompressed from PNG text chunks)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.format == "PNG":
            return img.info.get("XML:com.adobe.xmp", "").encode()
    return data


@pytest.mark.parametrize(
    ("fmt", "png_chunk"),
    [
        ("JPEG", ""),
        ("PNG", "iTXt-zip"),
        ("PNG", "iTXt"),
        ("PNG", "zTXt"),
        ("PNG", "tEXt"),
        ("WEBP", ""),
        ("TIFF", ""),
        ("HEIF", ""),
    ],
)
def test_xmp_place_names_and_gps_are_removed_and_the_rest_kept(fmt, png_chunk):
    original = with_xmp(fmt, PLACE_XMP, png_chunk=png_chunk)
    assert all(place.encode() in xmp_packet(original) for place in PLACES)

    cleaned = strip_location(original, name="wound")

    packet = re.search(rb"<x:xmpmeta.*</x:xmpmeta>", xmp_packet(cleaned), re.S).group(0)
    left = [place for place in PLACES if place.encode() in packet or place.encode() in cleaned]
    assert left == []
    assert b"gps" not in packet.lower()
    # Still well-formed XMP, with everything that is not a place kept.
    root = ET.fromstring(packet)
    rdf, xap = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}", "{http://ns.adobe.com/xap/1.0/}"
    description = root.find(f".//{rdf}Description")
    assert description.get(f"{xap}Rating") == "3"
    assert description.find(f"{xap}Label").text == "keep me"
    assert root.find(f".//{{http://purl.org/dc/elements/1.1/}}description//{rdf}li").text == (
        "dressing change"
    )
    assert np.array_equal(pixels_of(cleaned), pixels_of(original))
    if fmt != "PNG":
        assert len(cleaned) == len(original)  # rewritten in place, nothing moved
    assert strip_location(cleaned) == cleaned  # nothing left to remove


def test_xmp_without_location_is_left_byte_for_byte():
    places = ' photoshop:City="Plauen-City" exif:GPSLatitude="52,31.2N" '
    plain = PLACE_XMP.split("<photoshop:State>")[0].replace(places, " ")
    plain = plain.replace('drone-dji:GpsLongitude="+13.4050" ', "")
    plain += "</rdf:Description></rdf:RDF></x:xmpmeta>"
    for fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        original = with_xmp(fmt, plain)
        assert strip_location(original) == original


def jpeg_with_extended_xmp(extended: bytes, piece: int) -> bytes:
    """A JPEG whose XMP continues in extended-XMP APP1 segments (XMP part 3, 1.1.3.1)."""
    guid = b"0123456789ABCDEF0123456789ABCDEF"
    main = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmpNote:HasExtendedXMP="'
        f'{guid.decode()}"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    segments = [b"http://ns.adobe.com/xap/1.0/\x00" + main]
    for offset in range(0, len(extended), piece):
        segments.append(
            b"http://ns.adobe.com/xmp/extension/\x00"
            + guid
            + struct.pack(">II", len(extended), offset)
            + extended[offset : offset + piece]
        )
    app1 = b"".join(b"\xff\xe1" + struct.pack(">H", len(s) + 2) + s for s in segments)
    jpeg = encode(noise(), "JPEG", quality=90)
    return jpeg[:2] + app1 + jpeg[2:]


def test_place_names_in_extended_xmp_split_across_segments_are_removed():
    extended = PLACE_XMP.split('<?xpacket end="w"?>')[0].split("?>", 1)[1].encode()
    original = jpeg_with_extended_xmp(extended, piece=150)  # every place name cut somewhere
    cleaned = strip_location(original, name="wound.jpg")
    assert [place for place in PLACES if place.encode() in cleaned] == []
    assert len(cleaned) == len(original)
    # Reassembled, the extension is still XMP that keeps what is not a place.
    pieces = re.findall(rb"xmp/extension/\x00.{40}(.*?)(?=\xff[\xc0-\xef])", cleaned, re.S)
    root = ET.fromstring(b"".join(pieces))
    assert root.find(".//{http://ns.adobe.com/xap/1.0/}Label").text == "keep me"
    assert np.array_equal(pixels_of(cleaned), pixels_of(original))


@pytest.mark.parametrize(
    "broken",
    [
        # An unbound prefix: not XML a parser accepts, so nothing in it can be shown clean.
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><photoshop:City>Plauen-City</photoshop:City>',
        # Cut short.
        PLACE_XMP[: len(PLACE_XMP) // 2],
        # A document type with entities (billion laughs): XMP never has one; it is not expanded.
        '<!DOCTYPE x [<!ENTITY a "Plauen-City"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>',
    ],
)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_xmp_that_is_not_well_formed_is_blanked_whole(fmt, broken):
    original = with_xmp(fmt, broken)
    cleaned = strip_location(original, name="wound")
    assert b"Plauen-City" not in cleaned
    assert b"Plauen-City" not in xmp_packet(cleaned)
    assert np.array_equal(pixels_of(cleaned), pixels_of(original))


# ---------------------------------------------------------------- row 2: linear-time XMP handling


def png_with_chunk_after_image_data(chunk_type: bytes, body: bytes) -> bytes:
    """A PNG whose extra chunk follows IDAT: Pillow only reads it when the pixels are loaded."""
    png = encode(noise(), "PNG")
    crc = struct.pack(">I", zlib.crc32(chunk_type + body) & 0xFFFFFFFF)
    chunk = struct.pack(">I", len(body)) + chunk_type + body + crc
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


PATHOLOGICAL_XMP = {
    # The issue's file: unclosed tags the old GPS regex backtracked over (~50 s per 256 KB).
    "unclosed GPS tags": lambda size: b"<a:GPSx>" * (size // 8),
    # The same with the prefix bound: a parser accepts tag after tag, ever deeper.
    "bound and nested": lambda size: (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:a="urn:a">' + b"<a:GPSx>" * (size // 8)
    ),
    # Open attributes and comments that never close.
    "open attributes": lambda size: b"<a:GPSx b='" + b"<a:GPSx c=" * (size // 10),
    "open comments": lambda size: b"<!--<a:GPSx>" * (size // 12),
}


@pytest.mark.parametrize("shape", sorted(PATHOLOGICAL_XMP))
def test_pathological_xmp_is_handled_in_one_pass(shape):
    """1 MB of each shape: before, the regex needed about 13 minutes per MB; now one parse."""
    text = PATHOLOGICAL_XMP[shape](MiB)
    for original in (
        png_with_chunk_after_image_data(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + text),
        with_xmp("WEBP", text),
        with_xmp("TIFF", text),
    ):
        assert b"GPSx" in original
        cleaned = strip_location(original, name="wound")
        assert b"GPSx" not in cleaned
        assert np.array_equal(pixels_of(cleaned), pixels_of(original))


def test_pathological_xmp_in_a_jpeg_segment():
    text = b"<a:GPSx>" * 8000  # 64 000 bytes, what one APP1 segment holds
    original = encode(noise(), "JPEG", xmp=text)
    cleaned = strip_location(original, name="wound.jpg")
    assert b"GPSx" not in cleaned
    assert len(cleaned) == len(original)


def test_xmp_tagged_far_past_any_real_packet_is_blanked_without_parsing():
    # 210 000 tags where real XMP has hundreds: the packet is not parsed, it is blanked whole.
    text = PLACE_XMP.replace("<xmp:Label>", "<xmp:Rating/>" * 210_000 + "<xmp:Label>")
    original = with_xmp("WEBP", text)
    cleaned = strip_location(original, name="wound.webp")
    assert [place for place in PLACES if place.encode() in cleaned] == []
    assert b"keep me" not in cleaned and b"xmp:Rating" not in cleaned
    assert len(cleaned) == len(original)


# ------------------------------------------------------------------ row 1: compressed XMP bombs


def deflated_xmp(size: int) -> bytes:
    """``size`` bytes of XMP padding, deflated (about 1000:1), built without holding it whole."""
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(b'<x:xmpmeta xmlns:x="adobe:ns:meta/">')]
    block = b" " * MiB
    parts += [compressor.compress(block) for _ in range(size // MiB)]
    parts += [compressor.compress(b"</x:xmpmeta>"), compressor.flush()]
    return b"".join(parts)


@pytest.mark.parametrize("chunk", ["iTXt", "zTXt"])
def test_xmp_that_inflates_past_the_limit_is_refused_without_inflating_it(chunk):
    packed = deflated_xmp(64 * MiB)
    assert len(packed) < MiB // 8
    if chunk == "iTXt":
        body = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + packed
    else:
        body = b"XML:com.adobe.xmp\x00\x00" + packed
    bomb = png_with_chunk_after_image_data(chunk.encode(), body)

    tracemalloc.start()
    try:
        with pytest.raises(
            ImageError,
            match=r"^bomb\.png: the XMP metadata is larger than 16 MB \(a damaged file, or one "
            r"made to exhaust memory\); export the photo again with location turned off$",
        ):
            strip_location(bomb, name="uploads/bomb.png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * MiB  # never the 64 MiB it inflates to (1 GB took 4.3 GB before)


def test_xmp_over_the_limit_stored_uncompressed_is_refused_too():
    text = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b" " * (17 * MiB) + b"</x:xmpmeta>"
    with pytest.raises(ImageError, match=r"^w\.webp: the XMP metadata is larger than 16 MB"):
        strip_location(with_xmp("WEBP", text), name="w.webp")


def test_the_xmp_packets_of_one_file_count_together():
    # 290 segments of 60 KB: each is small, together they are over the limit.
    packet = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b" " * 60_000 + b"</x:xmpmeta>"
    body = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    jpeg = encode(noise(), "JPEG", quality=90)
    with pytest.raises(ImageError, match=r"^many\.jpg: the XMP metadata is larger than 16 MB"):
        strip_location(jpeg[:2] + segment * 290 + jpeg[2:], name="many.jpg")


def test_compressed_xmp_under_the_limit_is_still_cleaned():
    # Deflated XMP after the image data, as some writers place it.
    text = PLACE_XMP.encode()
    body = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zlib.compress(text)
    original = png_with_chunk_after_image_data(b"iTXt", body)
    cleaned = strip_location(original, name="wound.png")
    assert [place for place in PLACES if place.encode() in xmp_packet(cleaned)] == []
    assert xmp_packet(cleaned).count(b"keep me") == 1
