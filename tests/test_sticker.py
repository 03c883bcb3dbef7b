"""Tests of woundtrack.image.sticker: the sheet's markers are found, at the right size, on A4."""

from __future__ import annotations

import io
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from woundtrack.image.sticker import (
    ARUCO_DICTIONARY,
    DEFAULT_MARKER_MM,
    QUIET_ZONE_FRACTION,
    marker_image,
    sticker_sheet,
    write_sticker_sheet,
)


def detect(rgb: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Ids (sorted) and their corners (n, 4, 2), as the calibration code will find them."""
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    parameters = cv2.aruco.DetectorParameters()
    parameters.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    detector = cv2.aruco.ArucoDetector(dictionary, parameters)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    corners, ids, _ = detector.detectMarkers(grey)
    assert ids is not None
    order = np.argsort(ids.ravel())
    return ids.ravel()[order].tolist(), np.array(corners)[order].reshape(-1, 4, 2)


def sides_px(corners: np.ndarray) -> np.ndarray:
    return np.linalg.norm(corners - np.roll(corners, -1, axis=1), axis=2)


@pytest.fixture(scope="module")
def sheet_300dpi() -> np.ndarray:
    return sticker_sheet()


def test_a4_sheet_at_300_dpi(sheet_300dpi):
    assert sheet_300dpi.shape == (3508, 2480, 3)  # 297 and 210 mm / 25.4 * 300
    assert sheet_300dpi.dtype == np.uint8
    assert DEFAULT_MARKER_MM == 20.0 and ARUCO_DICTIONARY == "DICT_4X4_50"


def test_markers_are_found_with_the_expected_ids_and_size(sheet_300dpi):
    ids, corners = detect(sheet_300dpi)
    assert len(ids) >= 20
    assert ids == list(range(len(ids)))
    expected = 20.0 / 25.4 * 300  # 236.2 px
    assert np.abs(sides_px(corners) - expected).max() <= 1.0


def test_each_marker_has_a_white_quiet_zone_and_a_cut_line(sheet_300dpi):
    _, corners = detect(sheet_300dpi)
    grey = sheet_300dpi.min(axis=2)
    quiet = QUIET_ZONE_FRACTION * 20.0 / 25.4 * 300  # 59 px
    for square in corners:
        left, top = np.floor(square.min(axis=0)).astype(int)
        right, bottom = np.ceil(square.max(axis=0)).astype(int)
        q = int(quiet) - 2  # the detected corners sit within a pixel of the square's edge
        ring = grey[top - q : bottom + q, left - q : right + q].copy()
        ring[q - 1 : -q + 1, q - 1 : -q + 1] = 255  # blank the marker (plus a pixel of slack)
        assert ring.min() == 255, "the quiet zone must be pure white"
        cut_row = grey[top - int(quiet) - 3 : top - int(quiet) + 3, (left + right) // 2]
        assert 150 <= cut_row.min() <= 230, "a light-grey cut line just outside the quiet zone"


def test_header_patches_and_captions_are_drawn(sheet_300dpi):
    # Colour patches sit above the stickers: the red one must be there at its nominal value.
    _, corners = detect(sheet_300dpi)
    above = sheet_300dpi[: int(corners[:, :, 1].min())]
    assert np.all(above == (200, 30, 30), axis=2).sum() > 10_000
    assert np.all(above == (128, 128, 128), axis=2).sum() > 10_000
    # A caption sits under each sticker: dark text pixels below the first marker's quiet zone.
    square = corners[0]
    bottom = int(square[:, 1].max()) + int(QUIET_ZONE_FRACTION * 236) + 10
    caption = sheet_300dpi[bottom : bottom + 80, int(square[:, 0].min()) : int(square[:, 0].max())]
    assert (caption.min(axis=2) < 128).sum() > 200


@pytest.mark.parametrize(("marker_mm", "dpi"), [(30.0, 150), (12.5, 300), (50.0, 100)])
def test_marker_mm_sets_the_side(marker_mm, dpi):
    page = sticker_sheet(marker_mm=marker_mm, dpi=dpi)
    ids, corners = detect(page)
    assert ids == list(range(len(ids))) and ids
    assert np.abs(sides_px(corners) - marker_mm / 25.4 * dpi).max() <= 1.0


def test_letter_paper():
    page = sticker_sheet(dpi=100, paper="Letter")
    assert page.shape == (1100, 850, 3)
    assert detect(page)[0][:3] == [0, 1, 2]


def test_write_sticker_sheet_pdf_and_png(tmp_path, sheet_300dpi):
    pdf, png = write_sticker_sheet(tmp_path / "new" / "folder")
    assert (pdf.name, png.name) == ("sticker-sheet-20mm.pdf", "sticker-sheet-20mm.png")
    with Image.open(png) as saved:
        assert saved.size == (2480, 3508)
        assert saved.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        raster = np.asarray(saved.convert("RGB"))
    assert np.array_equal(raster, sheet_300dpi)

    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    box = re.search(rb"/MediaBox\s*\[\s*([\d.\s]+)\]", data).group(1).split()
    x0, y0, width_pt, height_pt = (float(v) for v in box)
    assert (x0, y0) == (0, 0)
    assert width_pt == pytest.approx(595, abs=1) and height_pt == pytest.approx(842, abs=1)
    # The page image inside the PDF is the same raster (JPEG at quality 100, no subsampling).
    embedded = data[data.index(b"\xff\xd8\xff") : data.rindex(b"\xff\xd9") + 2]
    with Image.open(io.BytesIO(embedded)) as inner:
        assert inner.size == (2480, 3508)
        assert np.abs(np.asarray(inner).astype(int) - raster).max() <= 4


def test_write_sticker_sheet_other_size_names_the_files(tmp_path):
    pdf, png = write_sticker_sheet(tmp_path, marker_mm=12.5, dpi=150)
    assert (pdf.name, png.name) == ("sticker-sheet-12.5mm.pdf", "sticker-sheet-12.5mm.png")
    box = re.search(rb"/MediaBox\s*\[\s*([\d.\s]+)\]", pdf.read_bytes()).group(1).split()
    assert float(box[2]) == pytest.approx(595, abs=1) and float(box[3]) == pytest.approx(842, abs=1)
    with Image.open(png) as saved:
        _, corners = detect(np.asarray(saved.convert("RGB")))
    assert np.abs(sides_px(corners) - 12.5 / 25.4 * 150).max() <= 1.0


@pytest.mark.parametrize("bad", [0, -5.0, float("nan"), float("inf")])
def test_marker_mm_must_be_positive(bad):
    with pytest.raises(ValueError, match="marker_mm must be a positive number of millimetres"):
        sticker_sheet(marker_mm=bad)


def test_marker_mm_must_be_a_number():
    with pytest.raises(ValueError, match="marker_mm must be a number of millimetres, got '20'"):
        sticker_sheet(marker_mm="20")  # type: ignore[arg-type]


def test_marker_too_large_for_the_page_says_the_largest_that_fits():
    with pytest.raises(
        ValueError,
        match=r"^marker_mm=130 is too large for A4 paper: one sticker with its 32\.5 mm white "
        r"border and its caption needs .* mm left for stickers; use at most 126\.4 mm$",
    ):
        sticker_sheet(marker_mm=130, dpi=100)
    assert detect(sticker_sheet(marker_mm=126.4, dpi=100))[0] == [0]
    with pytest.raises(ValueError, match="use at most 126.4 mm"):
        sticker_sheet(marker_mm=126.5, dpi=100)


def test_marker_too_small_for_the_dpi():
    with pytest.raises(
        ValueError,
        match=r"marker_mm=1 is too small to print at 300 dpi: the black square would be 12 px .* "
        r"use at least 2\.1 mm or a higher dpi",
    ):
        sticker_sheet(marker_mm=1.0)


@pytest.mark.parametrize("bad", [50, 1200, 300.0, True])
def test_dpi_must_be_supported(bad):
    with pytest.raises(ValueError, match=r"dpi must be a whole number from 72 to 600"):
        sticker_sheet(dpi=bad)


def test_paper_must_be_known():
    with pytest.raises(ValueError, match="paper must be one of A4 or Letter, got 'A3'"):
        sticker_sheet(paper="A3")


def test_marker_image_is_the_dictionary_marker():
    marker = marker_image(7, side_px=60)
    assert marker.shape == (60, 60) and marker.dtype == np.uint8
    assert set(np.unique(marker).tolist()) == {0, 255}
    cell = 60 // 6
    border = np.ones((60, 60), bool)
    border[cell:-cell, cell:-cell] = False
    assert marker[border].max() == 0  # the one-cell black border is part of the marker
    padded = np.pad(marker, 20, constant_values=255)
    assert detect(padded)[0] == [7]


@pytest.mark.parametrize(
    ("marker_id", "side_px", "match"),
    [
        (50, 60, r"marker_id must lie in 0\.\.49 for DICT_4X4_50, got 50"),
        (-1, 60, r"marker_id must lie in 0\.\.49"),
        (1.5, 60, r"marker_id must be an integer, got 1\.5"),
        (1, 5, r"side_px must be at least 6 \(one pixel per marker cell\), got 5"),
        (1, 60.0, r"side_px must be an integer, got 60\.0"),
    ],
)
def test_marker_image_rejects_bad_arguments(marker_id, side_px, match):
    with pytest.raises(ValueError, match=match):
        marker_image(marker_id, side_px=side_px)
