"""Property-based tests (hypothesis) for the metadata stripper woundtrack.image.location (issue 30).

Random small photos (JPEG, PNG, WebP, TIFF) with random EXIF (a GPS IFD, DateTimeOriginal,
Orientation) and random XMP place names: after ``strip_location`` the pixels are the same, no GPS
is left, the rest of the EXIF is kept, a second pass changes nothing and a JPEG's scan data has not
moved. A GPS tag that is not a pointer (as Pillow writes a GPS dict nested in the Exif IFD), or a
GPS pointer into a TIFF's own strip data, harms nothing else. Any bytes, or a photo cut short or
damaged: a cleaned photo or an ``ImageError``, nothing else. A photo without location: returned
as it was.
"""

from __future__ import annotations

import dataclasses
import io
import struct
from datetime import datetime
from xml.sax.saxutils import escape

import numpy as np
import pillow_heif
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin, TiffImagePlugin

from woundtrack.errors import ImageError
from woundtrack.image.location import strip_location

pillow_heif.register_heif_opener()

ORIENTATION, EXIF_IFD, GPS_IFD, DATE_TIME_ORIGINAL, XMP_TAG = 0x0112, 0x8769, 0x8825, 0x9003, 700
CITY_MARK, DATUM_MARK = "WT-CITY-", "WT-GPS-"
FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
# A few seconds per property at most: every example encodes, strips and decodes a small photo.
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------- strategies


@dataclasses.dataclass(frozen=True)
class GpsFix:
    """A random GPS position: degrees, minutes and seconds (numerator over 10 000) and altitude."""

    lat: tuple[int, int, int]
    lat_ref: str
    lon: tuple[int, int, int]
    lon_ref: str
    altitude: int  # centimetres
    below_sea: bool
    datum: str

    def ifd(self) -> dict[int, object]:
        R = TiffImagePlugin.IFDRational
        lat, lon = self.lat, self.lon
        return {
            1: self.lat_ref,
            2: (R(lat[0], 1), R(lat[1], 1), R(lat[2], 10_000)),
            3: self.lon_ref,
            4: (R(lon[0], 1), R(lon[1], 1), R(lon[2], 10_000)),
            5: bytes([self.below_sea]),
            6: R(self.altitude, 100),
            0x12: self.datum,  # GPSMapDatum: an ASCII value that can be looked for in the bytes
        }

    def packed(self) -> list[bytes]:
        """The coordinates as a TIFF writer stores them (RATIONALs), in either byte order."""
        values = []
        for deg, minutes, seconds in (self.lat, self.lon):
            rationals = (deg, 1, minutes, 1, seconds, 10_000)
            values += [struct.pack("<6I", *rationals), struct.pack(">6I", *rationals)]
        return values

    def xmp_latitude(self) -> str:
        """The latitude as XMP writes it (XMP part 2: ``DDD,MM.mmmmk``)."""
        minutes = self.lat[1] + self.lat[2] / 600_000
        return f"{self.lat[0]},{minutes:.6f}{self.lat_ref}"


gps_fixes = st.builds(
    GpsFix,
    lat=st.tuples(st.integers(0, 89), st.integers(0, 59), st.integers(0, 599_999)),
    lat_ref=st.sampled_from("NS"),
    lon=st.tuples(st.integers(0, 179), st.integers(0, 59), st.integers(0, 599_999)),
    lon_ref=st.sampled_from("EW"),
    altitude=st.integers(0, 900_000),
    below_sea=st.booleans(),
    datum=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", max_size=12).map(
        lambda text: DATUM_MARK + text
    ),
)

# Text XML allows (no control characters but tab and newline, no surrogates), with the characters
# that must be escaped drawn often.
xml_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=("Cs",))
    | st.sampled_from("<>&\"'\t\n"),
    max_size=24,
)
capture_times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda moment: moment.strftime("%Y:%m:%d %H:%M:%S")
)


@dataclasses.dataclass(frozen=True)
class Photo:
    fmt: str
    data: bytes
    taken: str
    orientation: int
    gps: GpsFix | None
    city: str | None  # photoshop:City as written in the packet (escaped), None without XMP
    xmp_latitude: str | None
    xmp_zipped: bool


def _escaped(text: str) -> str:
    return escape(text, {'"': "&quot;", "'": "&apos;"})


def xmp_packet(city: str | None, latitude: str | None, as_attributes: bool) -> str:
    """An XMP packet with a kept property (xmp:Label) and, if given, a city and a GPS latitude."""
    places = []
    if city is not None:
        places.append(("photoshop:City", city))
    if latitude is not None:
        places.append(("exif:GPSLatitude", latitude))
    attributes = "".join(f' {key}="{value}"' for key, value in places if as_attributes)
    elements = "".join(f"<{key}>{value}</{key}>" for key, value in places if not as_attributes)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="3"{attributes}>'
        f"{elements}<xmp:Label>keep me</xmp:Label>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def encode(
    pixels: np.ndarray,
    fmt: str,
    exif: Image.Exif,
    xmp: bytes | None,
    *,
    zipped: bool = False,
    lossless: bool = True,
    quality: int = 90,
) -> bytes:
    out = io.BytesIO()
    image = Image.fromarray(pixels)
    if fmt == "TIFF":
        # Pillow's TIFF writer takes the EXIF tags as the file's own IFD0 (uncompressed: its
        # libtiff writers refuse EXIF sub-IFDs); the XMP goes in IFD0 too.
        info = Image.Exif()
        info.load(exif.tobytes())
        if xmp is not None:
            info[XMP_TAG] = xmp
        image.save(out, format="TIFF", exif=info)
    elif fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        if xmp is not None:
            info.add_itxt("XML:com.adobe.xmp", xmp.decode(), zip=zipped)
        image.save(out, format="PNG", exif=exif.tobytes(), pnginfo=info)
    else:
        options: dict[str, object] = {"exif": exif.tobytes()}
        if xmp is not None:
            options["xmp"] = xmp
        if fmt == "WEBP":
            options.update({"lossless": True} if lossless else {"quality": quality})
        else:
            options.update(quality=quality)
        image.save(out, format=fmt, **options)
    return out.getvalue()


@st.composite
def photos(
    draw, formats=FORMATS, *, with_location: bool = True, gps_in_exif_ifd: bool = False
) -> Photo:
    """A small random photo with EXIF (DateTimeOriginal, Orientation, GPS if ``with_location``)
    and, maybe, XMP (a city and a GPS latitude if ``with_location``; a kept label always)."""
    fmt = draw(st.sampled_from(formats))
    height, width = draw(st.integers(8, 64)), draw(st.integers(8, 64))
    seed = draw(st.integers(0, 2**32 - 1))
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    taken, orientation = draw(capture_times), draw(st.integers(1, 8))
    exif = Image.Exif()
    exif.endian = draw(st.sampled_from("<>"))
    exif[ORIENTATION] = orientation
    exif[EXIF_IFD] = {DATE_TIME_ORIGINAL: taken}
    gps = draw(gps_fixes) if with_location else None
    if gps is not None:
        if gps_in_exif_ifd:
            # What Pillow writes for a GPS IFD nested in the Exif IFD: tag 0x8825 there holds
            # the nested dict's keys as a SHORT array, not a pointer to an IFD.
            exif[EXIF_IFD] = {DATE_TIME_ORIGINAL: taken, GPS_IFD: gps.ifd()}
        else:
            exif[GPS_IFD] = gps.ifd()
    city = latitude = xmp = None
    zipped = False
    if draw(st.booleans()):
        if with_location:
            city = _escaped(CITY_MARK + draw(xml_text))
            latitude = gps.xmp_latitude()
        xmp = xmp_packet(city, latitude, draw(st.booleans())).encode()
        zipped = fmt == "PNG" and draw(st.booleans())
    data = encode(
        pixels,
        fmt,
        exif,
        xmp,
        zipped=zipped,
        lossless=draw(st.booleans()),
        quality=draw(st.integers(50, 100)),
    )
    return Photo(fmt, data, taken, orientation, gps, city, latitude, zipped)


# ------------------------------------------------------------------------------------- helpers


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img)


def xmp_as_read(data: bytes) -> bytes:
    """The XMP a reader finds (a PNG's iTXt decompressed), or b"" when there is none."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.format == "PNG":
            return img.info.get("XML:com.adobe.xmp", "").encode()
        xmp = img.info.get("xmp", b"")
        if img.format == "TIFF":
            xmp = img.tag_v2.get(XMP_TAG, b"")
        return xmp if isinstance(xmp, bytes) else str(xmp).encode()


def jpeg_scan_data(data: bytes) -> bytes:
    """The bytes from the end of the first SOS header to the EOI marker, found by walking the
    marker segments (not by searching, since EXIF can hold any byte)."""
    pos = 2
    while True:
        assert data[pos] == 0xFF, f"no marker at {pos}"
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker == 0xDA:
            start = pos + 2 + length
            end = data.rindex(b"\xff\xd9")
            assert end > start
            return data[start:end]
        pos += 2 + length


# ------------------------------------------------------------------------------ the properties


@QUICK
@given(photos())
def test_location_is_removed_and_everything_else_kept(photo):
    original = photo.data
    assert photo.gps.datum.encode() in original  # the GPS IFD really was written

    cleaned = strip_location(original, name=f"wound.{photo.fmt.lower()}")

    # (a) the same pixels
    assert np.array_equal(decoded(cleaned), decoded(original))
    # (b) no GPS IFD and no GPS value left, in EXIF or in XMP
    with Image.open(io.BytesIO(cleaned)) as img:
        exif = img.getexif()
        assert GPS_IFD not in exif
        assert not exif.get_ifd(GPS_IFD)
        exif_ifd = exif.get_ifd(EXIF_IFD)
        assert GPS_IFD not in exif_ifd
        # (c) capture time and orientation kept
        assert exif.get(ORIENTATION) == photo.orientation
        assert exif_ifd.get(DATE_TIME_ORIGINAL) == photo.taken
    packet = xmp_as_read(cleaned)
    secrets = [photo.gps.datum.encode(), DATUM_MARK.encode(), *photo.gps.packed()]
    if photo.city is not None:
        secrets += [photo.city.encode(), CITY_MARK.encode(), photo.xmp_latitude.encode()]
        assert b"keep me" in packet  # the rest of the packet is kept
    assert [secret for secret in secrets if secret in cleaned or secret in packet] == []
    # (d) idempotent
    assert strip_location(cleaned) == cleaned
    # (e) edited in place: a JPEG's entropy-coded data is untouched, nothing moves
    if photo.fmt == "JPEG":
        assert jpeg_scan_data(cleaned) == jpeg_scan_data(original)
    if photo.fmt != "PNG":
        assert len(cleaned) == len(original)


@QUICK
@given(photos(gps_in_exif_ifd=True))
def test_a_gps_tag_that_is_not_a_pointer_is_removed_without_harm(photo):
    """Tag 0x8825 in the Exif IFD holding a SHORT array (Pillow's writing of a nested GPS dict):
    the tag goes, and nothing the array's offset points at is zeroed as if it were an IFD."""
    original = photo.data
    with Image.open(io.BytesIO(original)) as img:
        assert GPS_IFD in img.getexif().get_ifd(EXIF_IFD)

    cleaned = strip_location(original, name=f"wound.{photo.fmt.lower()}")

    assert np.array_equal(decoded(cleaned), decoded(original))
    with Image.open(io.BytesIO(cleaned)) as img:
        exif = img.getexif()
        exif_ifd = exif.get_ifd(EXIF_IFD)
        assert GPS_IFD not in exif and GPS_IFD not in exif_ifd
        assert exif.get(ORIENTATION) == photo.orientation
        assert exif_ifd.get(DATE_TIME_ORIGINAL) == photo.taken
    assert strip_location(cleaned) == cleaned
    assert len(cleaned) == len(original) or photo.fmt == "PNG"


def _outcome(data: bytes) -> None:
    """``strip_location`` returns bytes or raises ImageError with a one-line message."""
    try:
        result = strip_location(data, name="upload.bin")
    except ImageError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(result, bytes)


MAGICS = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x00\x01\x00\x00WEBPVP8X",
    b"RIFF\x00\x01\x00\x00WEBPVP8L",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x00\x18ftypheic",
    b"GIF89a",
    b"BM",
]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2048) | st.tuples(st.sampled_from(MAGICS), st.binary()).map(b"".join))
def test_any_bytes_give_bytes_or_an_image_error(data):
    _outcome(data)


@QUICK
@given(photos(FORMATS + ("HEIF",)), st.data())
def test_a_photo_cut_short_gives_bytes_or_an_image_error(photo, data):
    cut = data.draw(st.integers(0, len(photo.data) - 1), label="cut")
    _outcome(photo.data[:cut])


@QUICK
@given(photos(FORMATS + ("HEIF",)), st.data())
def test_a_damaged_photo_gives_bytes_or_an_image_error(photo, data):
    at = data.draw(st.integers(0, len(photo.data) - 1), label="at")
    junk = data.draw(st.binary(min_size=1, max_size=8), label="junk")
    _outcome(photo.data[:at] + junk + photo.data[at + len(junk) :])


@QUICK
@given(photos(with_location=False))
def test_a_photo_without_location_is_returned_unchanged(photo):
    assert strip_location(photo.data, name="wound") == photo.data


def tiff_with_gps_pointer_into_its_strip(pixels: np.ndarray, at: int, count: int) -> bytes:
    """A TIFF whose IFD0 links a "GPS IFD" inside its own strip data (a hostile file): the strip
    bytes at ``at`` (from the strip's start) state ``count`` entries."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="TIFF")
    data = bytearray(out.getvalue())
    with Image.open(io.BytesIO(bytes(data))) as img:
        strip = img.tag_v2[273][0]
    ifd0 = struct.unpack("<I", data[4:8])[0]
    entries = [data[ifd0 + 2 + 12 * i : ifd0 + 14 + 12 * i] for i in range(data[ifd0])]
    entries.append(struct.pack("<HHII", GPS_IFD, 4, 1, strip + at))
    entries.sort(key=lambda entry: struct.unpack("<H", entry[:2])[0])
    data[strip + at : strip + at + 2] = struct.pack("<H", count)
    new_ifd0 = len(data)
    data += struct.pack("<H", len(entries)) + b"".join(entries) + bytes(4)
    data[4:8] = struct.pack("<I", new_ifd0)
    return bytes(data)


@settings(max_examples=100, deadline=None)
@given(st.integers(8, 64), st.integers(8, 64), st.integers(0, 2**32 - 1), st.data())
def test_a_gps_pointer_into_the_pixel_data_never_changes_the_pixels(height, width, seed, data):
    """A hostile TIFF: cleaning may refuse it, never return it with other pixels."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    count = data.draw(st.integers(0, 3), label="count")
    at = data.draw(st.integers(0, height * width * 3 - (2 + 12 * count + 4)), label="at")
    original = tiff_with_gps_pointer_into_its_strip(pixels, at, count)
    try:
        cleaned = strip_location(original, name="hostile.tif")
    except ImageError:
        return
    assert np.array_equal(decoded(cleaned), decoded(original))
    with Image.open(io.BytesIO(cleaned)) as img:
        assert GPS_IFD not in img.getexif()
