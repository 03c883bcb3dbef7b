"""Overlay: the photo with tissue outlines, a legend and the sticker marked, for a person to read.

Draws each tissue in its colour from ``woundtrack.models.TISSUES``: Okabe-Ito (readable with the
common colour vision deficiencies); eschar in blue, not black, so it shows on a black wound. Owns
the legend's layout too (``legend_box_px``): a screen where the legend must hide none of the photo
draws the overlay on a band added above it (``render_overlay_with_legend_band``). Pure functions:
arrays in, a new RGB array out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from woundtrack.models import (
    ESCHAR,
    GRANULATION,
    LABEL_NAMES,
    TISSUES,
    Calibration,
    LesionMeasurement,
    Totals,
)

#: Colours (RGB) per label, from the tissue table (Okabe-Ito: vermillion granulation, yellow
#: slough, blue eschar, reddish-purple erythema), and the sticker's bluish green.
PALETTE = {t.label: t.colour_rgb for t in TISSUES}
STICKER_COLOUR = (0, 158, 115)


def render_overlay(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    calibration: Calibration | None = None,
    legend_lines: list[str] | None = None,
    opacity: float = 0.35,
    legend: bool = True,
    tags: Sequence[Tag] = (),
) -> np.ndarray:
    """Draw filled, outlined tissue regions, the sticker, the lesions' tags and a legend over the
    photo.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    labels : (H, W) ndarray of uint8
    calibration : Calibration, optional
        When it holds sticker corners, the sticker is outlined.
    legend_lines : list of str, optional
        Text under the colour key (e.g. the areas).
    opacity : float
        Fill opacity, 0 (outlines only) to 1.
    legend : bool
        False: no colour key in the picture (a page that shows it beside the picture).
    tags : sequence of Tag
        Short names drawn beside the lesions (``lesion_tags``), so that a warning or a table
        that names a lesion can be matched to its outline.

    Returns
    -------
    (H, W, 3) ndarray of uint8, RGB
    """
    if labels.shape != image.shape[:2]:
        raise ValueError(f"labels {labels.shape} do not match the image {image.shape[:2]}")
    out = image.copy()
    fill = image.copy()
    for label, colour in PALETTE.items():
        fill[labels == label] = colour
    cv2.addWeighted(
        fill, float(np.clip(opacity, 0, 1)), out, 1 - float(np.clip(opacity, 0, 1)), 0, dst=out
    )
    thickness = max(2, round(max(image.shape[:2]) / 600))
    for label, colour in PALETTE.items():
        mask = (labels == label).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour, thickness, lineType=cv2.LINE_AA)
    bed = ((labels >= GRANULATION) & (labels <= ESCHAR)).astype(np.uint8)
    contours, _ = cv2.findContours(bed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), thickness, lineType=cv2.LINE_AA)
    if calibration is not None and calibration.marker_corners_px is not None:
        corners = np.round(np.asarray(calibration.marker_corners_px) * 4).astype(np.int32)
        cv2.polylines(out, [corners], True, STICKER_COLOUR, thickness + 1, cv2.LINE_AA, shift=2)
    for tag in tags:
        _draw_tag(out, tag)
    if legend:
        _draw_legend(out, legend_lines or [])
    return out


class Tag(NamedTuple):
    """A lesion's name on an overlay, drawn just outside the top-right corner of its box."""

    text: str
    box_px: tuple[float, float, float, float]  # x, y, w, h in the drawn image's pixels


def lesion_tags(lesions: Sequence[LesionMeasurement], names: Sequence[str] = ()) -> list[Tag]:
    """One ``Tag`` per lesion at its ``bbox_px``: ``names[i]`` (e.g. the patient's "L2"), or its
    ``index`` in the photo; none for a photo of one lesion, where there is nothing to match."""
    if len(lesions) < 2:
        return []
    return [
        Tag(names[i] if i < len(names) else str(m.index), tuple(float(v) for v in m.bbox_px))
        for i, m in enumerate(lesions)
    ]


def moved_tags(tags: Sequence[Tag], x0: float, y0: float, scale: float) -> list[Tag]:
    """``tags`` in a view cut at (``x0``, ``y0``) of the photo and resized by ``scale``."""
    return [
        Tag(t.text, ((x - x0) * scale, (y - y0) * scale, w * scale, h * scale))
        for t in tags
        for x, y, w, h in [t.box_px]
    ]


def warped_tags(tags: Sequence[Tag], matrix: np.ndarray) -> list[Tag]:
    """``tags`` in a view the photo was warped into by the 3x3 homography ``matrix`` (e.g. a
    registered top view): each box's corners mapped, and the box around them."""
    out = []
    for t in tags:
        x, y, w, h = t.box_px
        corners = np.array([[[x, y], [x + w, y], [x, y + h], [x + w, y + h]]], np.float64)
        mapped = cv2.perspectiveTransform(corners, np.asarray(matrix, np.float64))[0]
        (x0, y0), (x1, y1) = mapped.min(axis=0), mapped.max(axis=0)
        out.append(Tag(t.text, (float(x0), float(y0), float(x1 - x0), float(y1 - y0))))
    return out


def _draw_tag(out: np.ndarray, tag: Tag) -> None:
    h, w = out.shape[:2]
    x, y, bw, _ = tag.box_px
    scale = _legend_scale(out.shape)
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 1.3 * scale, max(2, round(2.5 * scale))
    (tw, th), base = cv2.getTextSize(tag.text, font, size, thick)
    pad = round(5 * scale)
    # outside the box's top-right corner, kept inside the picture
    left = int(min(max(x + bw + pad, 0), w - tw - 2 * pad))
    top = int(min(max(y - th - 2 * pad, 0), h - th - base - 2 * pad))
    if left < 0 or top < 0:
        return  # a picture too small for it
    box = out[top : top + th + base + 2 * pad, left : left + tw + 2 * pad]
    box[:] = (box * 0.3).astype(np.uint8)
    cv2.putText(
        out,
        tag.text,
        (left + pad, top + pad + th),
        font,
        size,
        (255, 255, 255),
        thick,
        cv2.LINE_AA,
    )


def render_overlay_with_legend_band(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    legend_lines: list[str] | None = None,
    opacity: float = 0.35,
    tags: Sequence[Tag] = (),
) -> tuple[np.ndarray, int]:
    """``render_overlay`` of the photo with a black band added on top to hold the legend.

    The legend is always drawn in the top-left corner: on the band it hides none of the photo.
    Cut the band off again (``overlay[band:]``) for the overlay without a legend.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    labels : (H, W) ndarray of uint8
    legend_lines : list of str, optional
        Text under the colour key; the band grows to hold it.
    opacity : float
        Fill opacity, 0 (outlines only) to 1.

    Returns
    -------
    overlay : (H + band, W, 3) ndarray of uint8, RGB
        The band's rows first, then the photo's.
    band : int
        The band's height in pixels: the bottom of the legend's box (``legend_box_px`` of the
        banded size) and 8 px more.
    """
    n_lines = len(legend_lines or [])
    band = 0
    for _ in range(2):  # the legend's scale depends on the banded size
        band = legend_box_px((image.shape[0] + band, image.shape[1]), n_lines)[1] + 8
    padded = np.concatenate([np.zeros((band, *image.shape[1:]), np.uint8), image])
    padded_labels = np.concatenate([np.zeros((band, labels.shape[1]), np.uint8), labels])
    overlay = render_overlay(
        padded,
        padded_labels,
        legend_lines=legend_lines,
        opacity=opacity,
        tags=moved_tags(tags, 0, -band, 1.0),
    )
    return overlay, band


def legend_box_px(shape: tuple[int, ...], n_lines: int = 0) -> tuple[int, int, int, int]:
    """Where ``render_overlay`` draws its legend on an image of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        The image's (height, width, ...), in pixels.
    n_lines : int
        Lines of text under the colour key (``len(legend_lines)``).

    Returns
    -------
    (y0, y1, x0, x1) : tuple of int
        The legend's box, in pixels from the top-left corner: rows of 30 px, 420 px wide, 10 px
        from the corner at 1600 px on the long side, in proportion (at least half) elsewhere.
        It has a row for each tissue and one for the sticker, then one for each line of text.
    """
    scale = _legend_scale(shape)
    line_h = int(30 * scale)
    rows = len(PALETTE) + 1 + n_lines
    x0, y0 = int(10 * scale), int(10 * scale)
    return y0, y0 + rows * line_h + line_h // 2, x0, x0 + int(420 * scale)


def overlay_views(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    calibration: Calibration | None = None,
    legend_lines: list[str] | None = None,
    opacity: float = 0.35,
    max_side_px: int = 1600,
    tags: Sequence[Tag] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """A full-resolution close-up around the wounds and the whole photo at most ``max_side_px``,
    both with the lesions' ``tags`` (in the photo's pixels).

    What a screen shows: drawing and sending a 12 MP overlay costs seconds and shows nothing
    more, while the close-up keeps every pixel of the wound's border. The close-up's colour key
    is on a band above it (``render_overlay_with_legend_band``): drawn over a small wound's
    close-up it hid most of the wound.
    """
    close_up = close_up_view(image, labels, opacity=opacity, tags=tags)
    scale = min(1.0, max_side_px / max(image.shape[:2]))
    small_image, small_labels, small_cal = image, labels, calibration
    if scale < 1.0:
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        small_image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        small_labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
        if calibration is not None and calibration.marker_corners_px is not None:
            corners = tuple((x * scale, y * scale) for x, y in calibration.marker_corners_px)
            small_cal = dataclasses.replace(calibration, marker_corners_px=corners)
    whole = render_overlay(
        small_image,
        small_labels,
        calibration=small_cal,
        legend_lines=legend_lines,
        opacity=opacity,
        tags=moved_tags(tags, 0, 0, scale),
    )
    return close_up, whole


#: A close-up smaller than this on its long side is enlarged before it is drawn, so its outlines
#: are thin and its colour key takes a band in proportion (a 178 px wide close-up stretched to a
#: screen column showed a band taller than the wound).
CLOSE_UP_MIN_SIDE_PX = 800


def enlarged(
    image: np.ndarray, labels: np.ndarray, min_side_px: int = CLOSE_UP_MIN_SIDE_PX
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(image, labels, grow)``: both enlarged by the whole factor ``grow`` that brings their
    long side to at least ``min_side_px`` (the photo by cubic interpolation, the labels each a
    block of pixels); unchanged, with ``grow`` 1, when already that big."""
    grow = max(1, math.ceil(min_side_px / max(image.shape[:2])))
    if grow == 1:
        return image, labels, 1
    size = (image.shape[1] * grow, image.shape[0] * grow)
    return (
        cv2.resize(image, size, interpolation=cv2.INTER_CUBIC),
        cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST),
        grow,
    )


def close_up_view(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    legend_lines: list[str] | None = None,
    opacity: float = 0.35,
    tags: Sequence[Tag] = (),
) -> np.ndarray:
    """The overlay of the box around the wounds (``lesion_box_px``), ``enlarged`` when small,
    its colour key (and ``legend_lines``) on a band above it
    (``render_overlay_with_legend_band``), with the lesions' ``tags`` (in the photo's pixels)."""
    y0, y1, x0, x1 = lesion_box_px(labels)
    crop, crop_labels, grow = enlarged(image[y0:y1, x0:x1], labels[y0:y1, x0:x1])
    close_up, _ = render_overlay_with_legend_band(
        crop,
        crop_labels,
        legend_lines=legend_lines,
        opacity=opacity,
        tags=moved_tags(tags, x0, y0, grow),
    )
    return close_up


def lesion_box_px(labels: np.ndarray, *, margin_frac: float = 0.6) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of a close-up around every labelled pixel, grown by ``margin_frac`` of
    its size (the whole image when nothing is labelled)."""
    ys, xs = np.nonzero(labels)
    h, w = labels.shape
    if len(ys) == 0:
        return 0, h, 0, w
    pad = int(margin_frac * max(ys.max() - ys.min(), xs.max() - xs.min(), 20))
    return (
        max(0, ys.min() - pad),
        min(h, ys.max() + pad + 1),
        max(0, xs.min() - pad),
        min(w, xs.max() + pad + 1),
    )


def legend_lines(totals: Totals, calibration: Calibration) -> list[str]:
    """Short text lines for an overlay's legend: the headline figures and the calibration."""
    t = totals
    if t.wound_area_cm2 is not None:
        lines = [f"wound {t.wound_area_cm2:.2f} cm2  eschar {t.eschar_area_cm2:.2f} cm2"]
        if calibration.method == "aruco":
            lines.append(f"sticker calibrated, tilt {calibration.tilt_deg:.0f} deg")
        else:
            lines.append("manual scale (no tilt correction)")
    else:
        lines = [f"wound {t.wound_area_px} px", "NOT CALIBRATED: pixels only"]
    return lines


def _legend_scale(shape: tuple[int, ...]) -> float:
    """The legend's size relative to its size on a photo 1600 px on its long side."""
    return max(0.5, max(shape[:2]) / 1600)


def _draw_legend(out: np.ndarray, extra: list[str]) -> None:
    scale = _legend_scale(out.shape)
    line_h = int(30 * scale)
    entries = [(LABEL_NAMES[k], c) for k, c in PALETTE.items()] + [("sticker", STICKER_COLOUR)]
    y0, y1, x0, x1 = legend_box_px(out.shape, len(extra))
    box = out[y0:y1, x0:x1]
    box[:] = (box * 0.35).astype(np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for n, (name, colour) in enumerate(entries):
        y = y0 + (n + 1) * line_h
        cv2.rectangle(
            out, (x0 + int(8 * scale), y - int(18 * scale)), (x0 + int(30 * scale), y), colour, -1
        )
        cv2.putText(
            out,
            name,
            (x0 + int(40 * scale), y - int(2 * scale)),
            font,
            0.7 * scale,
            (255, 255, 255),
            max(1, round(1.5 * scale)),
            cv2.LINE_AA,
        )
    for n, text in enumerate(extra):
        y = y0 + (len(entries) + n + 1) * line_h
        cv2.putText(
            out,
            text,
            (x0 + int(8 * scale), y - int(2 * scale)),
            font,
            0.65 * scale,
            (255, 255, 255),
            max(1, round(1.5 * scale)),
            cv2.LINE_AA,
        )
