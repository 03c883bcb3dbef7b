"""Overlay: the photo with tissue outlines, a legend and the sticker marked, for a person to read.

Owns the colours shown for each tissue. The palette is Okabe-Ito (readable with the common colour
vision deficiencies); eschar is drawn in blue, not black, so it shows on a black wound. Pure
function: arrays in, a new RGB array out.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from woundtrack.models import (
    ERYTHEMA,
    ESCHAR,
    GRANULATION,
    LABEL_NAMES,
    SLOUGH,
    Calibration,
    Totals,
)

#: Okabe-Ito colours (RGB) per label, and for the sticker.
PALETTE = {
    GRANULATION: (213, 94, 0),  # vermillion
    SLOUGH: (240, 228, 66),  # yellow
    ESCHAR: (0, 114, 178),  # blue
    ERYTHEMA: (204, 121, 167),  # reddish purple
}
STICKER_COLOUR = (0, 158, 115)  # bluish green


def render_overlay(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    calibration: Calibration | None = None,
    legend_lines: list[str] | None = None,
    opacity: float = 0.35,
) -> np.ndarray:
    """Draw filled, outlined tissue regions, the sticker and a legend over the photo.

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
    _draw_legend(out, legend_lines or [])
    return out


def overlay_views(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    calibration: Calibration | None = None,
    legend_lines: list[str] | None = None,
    opacity: float = 0.35,
    max_side_px: int = 1600,
) -> tuple[np.ndarray, np.ndarray]:
    """A full-resolution close-up around the wounds and the whole photo at most ``max_side_px``.

    What a screen shows: drawing and sending a 12 MP overlay costs seconds and shows nothing
    more, while the close-up keeps every pixel of the wound's border.
    """
    y0, y1, x0, x1 = lesion_box_px(labels)
    close_up = render_overlay(image[y0:y1, x0:x1], labels[y0:y1, x0:x1], opacity=opacity)
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
        small_image, small_labels, calibration=small_cal, legend_lines=legend_lines, opacity=opacity
    )
    return close_up, whole


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


def _draw_legend(out: np.ndarray, extra: list[str]) -> None:
    scale = max(0.5, max(out.shape[:2]) / 1600)
    line_h = int(30 * scale)
    entries = [(LABEL_NAMES[k], c) for k, c in PALETTE.items()] + [("sticker", STICKER_COLOUR)]
    rows = len(entries) + len(extra)
    width = int(420 * scale)
    x0, y0 = int(10 * scale), int(10 * scale)
    box = out[y0 : y0 + rows * line_h + line_h // 2, x0 : x0 + width]
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
