"""The printable calibration sticker sheet: ArUco markers of a known size to place beside a wound.

A sticker is one ArUco marker from ``DICT_4X4_50`` (its black square, border cells included, is
``marker_mm`` on a side: the length that ``--marker-mm`` and ``Calibration.marker_mm`` mean),
surrounded by a white quiet zone of ``QUIET_ZONE_FRACTION`` of that side and a light-grey cut
line. ``sticker_sheet`` lays out as many stickers as fit on a page (ids 0, 1, 2, ...), each with a
caption stating its id and size, under a header that says to print at actual size and check the
square with a ruler, a 100 mm check line and a row of colour reference patches.
``write_sticker_sheet`` saves the same raster as a PNG and a PDF whose physical size is exact at the
given dpi. All lengths are converted to pixels in one place, ``_px``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from woundtrack.image.calibration import ARUCO_DICTIONARY_NAME as ARUCO_DICTIONARY
from woundtrack.image.calibration import DEFAULT_MARKER_MM, QUIET_ZONE_FRACTION

__all__ = [
    "ARUCO_DICTIONARY",
    "DEFAULT_MARKER_MM",
    "QUIET_ZONE_FRACTION",
    "marker_image",
    "sticker_sheet",
    "write_sticker_sheet",
]

MM_PER_INCH = 25.4
#: Paper sizes, width x height in millimetres (ISO 216 A4; US Letter is 8.5 x 11 in).
PAPER_MM = {"A4": (210.0, 297.0), "LETTER": (215.9, 279.4)}
#: Colour reference patches: name and nominal sRGB value, printed beside each patch.
REFERENCE_PATCHES = (
    ("white", (255, 255, 255)),
    ("mid grey", (128, 128, 128)),
    ("black", (0, 0, 0)),
    ("red", (200, 30, 30)),
)

_MARKER_CELLS = 6  # DICT_4X4_50: 4x4 data cells plus a one-cell black border on each side
_MIN_CELL_PX = 4  # below this the printed cells blur into each other
_DPI_RANGE = (72, 600)  # 600 dpi A4 is already a 100 MB raster
_MARGIN_MM = 10.0  # most printers cannot print the outer 4-5 mm
_GUTTER_MM = 4.0
_CUT_LINE_MM = 0.15
_CUT_GREY = (190, 190, 190)
_TEXT_GREY = (60, 60, 60)


def _px(mm: float, dpi: int) -> float:
    """Millimetres on paper -> pixels of a raster printed at ``dpi`` (1 inch = 25.4 mm)."""
    return mm / MM_PER_INCH * dpi


def _dictionary() -> cv2.aruco.Dictionary:
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, ARUCO_DICTIONARY))


def marker_image(marker_id: int, *, side_px: int) -> np.ndarray:
    """Render one ArUco ``DICT_4X4_50`` marker, black border included.

    Parameters
    ----------
    marker_id : int
        Marker id, 0..49.
    side_px : int
        Side of the black square in pixels (at least 6, one per cell).

    Returns
    -------
    (side_px, side_px) ndarray of uint8
        0 for black, 255 for white; no quiet zone around it.

    Raises
    ------
    ValueError
        ``marker_id`` is outside 0..49 or ``side_px`` is below 6.

    Examples
    --------
    >>> marker_image(3, side_px=60).shape
    (60, 60)
    """
    count = _dictionary().bytesList.shape[0]
    if isinstance(marker_id, bool) or not isinstance(marker_id, int | np.integer):
        raise ValueError(f"marker_id must be an integer, got {marker_id!r}")
    if not 0 <= marker_id < count:
        raise ValueError(
            f"marker_id must lie in 0..{count - 1} for {ARUCO_DICTIONARY}, got {marker_id}"
        )
    if isinstance(side_px, bool) or not isinstance(side_px, int | np.integer):
        raise ValueError(f"side_px must be an integer, got {side_px!r}")
    if side_px < _MARKER_CELLS:
        raise ValueError(
            f"side_px must be at least {_MARKER_CELLS} (one pixel per marker cell), got {side_px}"
        )
    return cv2.aruco.generateImageMarker(_dictionary(), int(marker_id), int(side_px), borderBits=1)


def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size_px)
    except (ImportError, OSError, TypeError):  # Pillow built without FreeType
        return ImageFont.load_default()


def _text_size(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(math.ceil(right - left)), int(math.ceil(bottom - min(top, 0)))


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and _text_size(font, f"{lines[-1]} {word}")[0] <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _mm_text(mm: float) -> str:
    return f"{mm:.1f}" if round(mm, 1) == mm else f"{mm:g}"


def _check(marker_mm: float, dpi: int, paper: str) -> tuple[float, float]:
    if isinstance(marker_mm, bool) or not isinstance(marker_mm, int | float):
        raise ValueError(f"marker_mm must be a number of millimetres, got {marker_mm!r}")
    if not (math.isfinite(marker_mm) and marker_mm > 0):
        raise ValueError(f"marker_mm must be a positive number of millimetres, got {marker_mm!r}")
    if (
        isinstance(dpi, bool)
        or not isinstance(dpi, int)
        or not _DPI_RANGE[0] <= dpi <= _DPI_RANGE[1]
    ):
        raise ValueError(
            f"dpi must be a whole number from {_DPI_RANGE[0]} to {_DPI_RANGE[1]}, got {dpi!r}"
        )
    if paper.upper() not in PAPER_MM:
        raise ValueError(f"paper must be one of A4 or Letter, got {paper!r}")
    smallest_px = _MARKER_CELLS * _MIN_CELL_PX
    if round(_px(marker_mm, dpi)) < smallest_px:
        smallest_mm = math.ceil(smallest_px / dpi * MM_PER_INCH * 10) / 10
        raise ValueError(
            f"marker_mm={marker_mm:g} is too small to print at {dpi} dpi: the black square would "
            f"be {round(_px(marker_mm, dpi))} px and each of its {_MARKER_CELLS} cells needs at "
            f"least {_MIN_CELL_PX} px; use at least {smallest_mm:g} mm or a higher dpi"
        )
    return PAPER_MM[paper.upper()]


def sticker_sheet(
    *, marker_mm: float = DEFAULT_MARKER_MM, dpi: int = 300, paper: str = "A4"
) -> np.ndarray:
    """Render a page of calibration stickers.

    Parameters
    ----------
    marker_mm : float
        Side of each marker's black square in millimetres, border cells included.
    dpi : int
        Raster resolution, 72..600 dots per inch.
    paper : {"A4", "Letter"}
        Page size (A4 is 210 x 297 mm).

    Returns
    -------
    (H, W, 3) ndarray of uint8, RGB
        The page at ``dpi``: ``W = round(paper width / 25.4 * dpi)``, likewise ``H``. Marker ``i``
        is the i-th sticker in reading order; its black square is ``round(marker_mm / 25.4 * dpi)``
        pixels on a side.

    Raises
    ------
    ValueError
        ``marker_mm`` is not positive, too small for ``dpi`` or too large for one sticker to fit
        the page; ``dpi`` or ``paper`` is not supported.

    Examples
    --------
    >>> page = sticker_sheet(marker_mm=20.0, dpi=300)
    >>> page.shape
    (3508, 2480, 3)
    """
    paper_w_mm, paper_h_mm = _check(marker_mm, dpi, paper)
    width, height = round(_px(paper_w_mm, dpi)), round(_px(paper_h_mm, dpi))
    page = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    margin = round(_px(_MARGIN_MM, dpi))
    usable = width - 2 * margin
    gap = round(_px(2.0, dpi))
    size = _mm_text(marker_mm)

    title_font = _font(round(_px(4.0, dpi)))
    body_font = _font(round(_px(2.8, dpi)))
    small_font = _font(round(_px(2.2, dpi)))
    y = margin

    def write_lines(
        lines: list[str], font: ImageFont.FreeTypeFont | ImageFont.ImageFont, x: int
    ) -> None:
        nonlocal y
        for line in lines:
            draw.text((x, y), line, fill=_TEXT_GREY if font is small_font else (0, 0, 0), font=font)
            y += _text_size(font, line)[1] + gap // 2

    title = f"woundtrack calibration stickers · ArUco {ARUCO_DICTIONARY} · black square {size} mm"
    write_lines(_wrap(title, title_font, usable), title_font, margin)
    instruction = (
        f"Print at 100 % / actual size (not 'fit to page'); check with a ruler: the black square "
        f"must measure {size} mm and the line below 100 mm. Cut along the grey lines; keep the "
        "white border, it is part of the sticker."
    )
    write_lines(_wrap(instruction, body_font, usable), body_font, margin)
    y += gap
    y = _draw_check_line(draw, margin, y, dpi, small_font, gap)
    y += 2 * gap
    y = _draw_patches(draw, margin, y, usable, dpi, small_font, gap)
    y += 2 * gap

    # Stickers: marker, quiet zone, cut line just outside it, caption under the cut line.
    side = round(_px(marker_mm, dpi))
    quiet = round(_px(QUIET_ZONE_FRACTION * marker_mm, dpi))
    cut = max(1, round(_px(_CUT_LINE_MM, dpi)))
    outer = side + 2 * quiet + 2 * cut
    captions = [
        _caption(i, size, small_font, outer) for i in range(_dictionary().bytesList.shape[0])
    ]
    caption_w = max(_text_size(small_font, line)[0] for lines in captions for line in lines)
    caption_h = max(
        sum(_text_size(small_font, line)[1] + gap // 2 for line in lines) for lines in captions
    )
    cell_w, cell_h = max(outer, caption_w), outer + gap + caption_h
    gutter = round(_px(_GUTTER_MM, dpi))
    columns = (usable + gutter) // (cell_w + gutter)
    rows = (height - margin - y + gutter) // (cell_h + gutter)
    if columns < 1 or rows < 1:
        room_w, room_h = usable, height - margin - y
        fit_px = min(room_w - 2 * cut, room_h - 2 * cut - gap - caption_h)
        largest = math.floor(fit_px / (1 + 2 * QUIET_ZONE_FRACTION) / dpi * MM_PER_INCH * 10) / 10

        def mm(pixels: int) -> str:
            return f"{pixels / dpi * MM_PER_INCH:.1f}"

        raise ValueError(
            f"marker_mm={marker_mm:g} is too large for {paper} paper: one sticker with its "
            f"{QUIET_ZONE_FRACTION * marker_mm:.1f} mm white border and its caption needs "
            f"{mm(cell_w)} x {mm(cell_h)} mm and the page has {mm(room_w)} x {mm(room_h)} mm left "
            f"for stickers; use at most {largest:g} mm"
        )
    count = min(columns * rows, len(captions))
    columns = min(columns, count)
    left = margin + (usable - columns * cell_w - (columns - 1) * gutter) // 2
    for marker_id in range(count):
        row, column = divmod(marker_id, columns)
        x = left + column * (cell_w + gutter) + (cell_w - outer) // 2
        top = y + row * (cell_h + gutter)
        draw.rectangle((x, top, x + outer - 1, top + outer - 1), outline=_CUT_GREY, width=cut)
        marker = marker_image(marker_id, side_px=side)
        page.paste(Image.fromarray(marker).convert("RGB"), (x + cut + quiet, top + cut + quiet))
        y_text = top + outer + gap
        for line in captions[marker_id]:
            line_w, line_h = _text_size(small_font, line)
            x_text = left + column * (cell_w + gutter) + (cell_w - line_w) // 2
            draw.text((x_text, y_text), line, fill=_TEXT_GREY, font=small_font)
            y_text += line_h + gap // 2
    return np.asarray(page, dtype=np.uint8).copy()


def _caption(
    marker_id: int, size: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int
) -> list[str]:
    full = f"woundtrack · ArUco 4x4 id {marker_id} · black square {size} mm"
    if _text_size(font, full)[0] <= width:
        return [full]
    return [f"woundtrack · ArUco 4x4 id {marker_id} ·", f"black square {size} mm"]


def _draw_check_line(
    draw: ImageDraw.ImageDraw,
    x: int,
    y: int,
    dpi: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    gap: int,
) -> int:
    """A 100 mm line with a tick every 10 mm; returns the y below it."""
    tick, thick = round(_px(2.0, dpi)), max(1, round(_px(0.2, dpi)))
    base, end = y + 2 * tick, x + round(_px(100.0, dpi))
    draw.line((x, base, end, base), fill=(0, 0, 0), width=thick)
    for mm in range(0, 101, 10):
        # Tick centres sit at whole millimetres from the first, so 0 to 100 measures 100 mm.
        tx = x + round(_px(mm, dpi))
        length = 2 * tick if mm in (0, 50, 100) else tick
        draw.line((tx, base - length, tx, base), fill=(0, 0, 0), width=thick)
    label = "100 mm"
    draw.text((end + gap, base - _text_size(font, label)[1]), label, fill=_TEXT_GREY, font=font)
    return base + thick


def _draw_patches(
    draw: ImageDraw.ImageDraw,
    x: int,
    y: int,
    usable: int,
    dpi: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    gap: int,
) -> int:
    """Colour reference patches with their nominal sRGB values; returns the y below them."""
    patch_w, patch_h = round(_px(14.0, dpi)), round(_px(8.0, dpi))
    labels = [(name, "sRGB {},{},{}".format(*rgb)) for name, rgb in REFERENCE_PATCHES]
    label_w = max(_text_size(font, line)[0] for pair in labels for line in pair)
    pitch = max(patch_w, label_w) + 2 * gap
    bottom = y
    for index, ((_, rgb), pair) in enumerate(zip(REFERENCE_PATCHES, labels, strict=True)):
        left = x + index * pitch
        if left + max(patch_w, label_w) > x + usable:
            break
        draw.rectangle((left, y, left + patch_w - 1, y + patch_h - 1), fill=rgb, outline=_CUT_GREY)
        y_text = y + patch_h + gap // 2
        for line in pair:
            draw.text((left, y_text), line, fill=_TEXT_GREY, font=font)
            y_text += _text_size(font, line)[1] + gap // 2
        bottom = max(bottom, y_text)
    return bottom


def write_sticker_sheet(
    out_dir: str | os.PathLike[str], *, marker_mm: float = DEFAULT_MARKER_MM, dpi: int = 300
) -> tuple[Path, Path]:
    """Write the A4 sticker sheet as a PDF and a PNG, both exact in physical size.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Folder to write into; created if missing.
    marker_mm : float
        Side of each marker's black square in millimetres.
    dpi : int
        Raster resolution; the PNG records it, the PDF page is sized from it.

    Returns
    -------
    pdf, png : Path
        ``sticker-sheet-20mm.pdf`` and ``sticker-sheet-20mm.png`` (the number is ``marker_mm``).

    Raises
    ------
    ValueError
        As :func:`sticker_sheet`.
    OSError
        The folder cannot be created or written to.

    Examples
    --------
    >>> pdf, png = write_sticker_sheet("out")  # doctest: +SKIP
    >>> pdf.name
    'sticker-sheet-20mm.pdf'
    """
    page = Image.fromarray(sticker_sheet(marker_mm=marker_mm, dpi=dpi))
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"sticker-sheet-{marker_mm:g}mm"
    pdf, png = folder / f"{stem}.pdf", folder / f"{stem}.png"
    page.save(png, format="PNG", dpi=(dpi, dpi))
    # Pillow stores an RGB page in a PDF as JPEG; quality 100 without chroma subsampling keeps the
    # marker edges within 2 grey levels of the PNG (the default quality rings by up to 50).
    page.save(pdf, format="PDF", resolution=dpi, quality=100, subsampling=0)
    return pdf, png
