"""Segmentation: RGB photo -> label map of wound tissues and periwound erythema.

Owns the meaning of every pixel: ``0`` skin/background, ``1`` granulation, ``2`` slough,
``3`` necrotic eschar, ``4`` periwound erythema (see ``models``). This first segmenter is classical:
after white balance (from the sticker) and flat-fielding (a smooth illumination surface fitted to
the photo), each pixel's CIELAB colour is judged **relative to the same patient's skin** — eschar
is much darker than the skin, slough much yellower, granulation much redder — so the rules behave
the same on light and dark skin. Erythema is intact skin around a wound that is redder (a*) than a
ring of normal skin further out. The sticker is masked out first, and a black region that runs off
the photo's edge (a drape, a shadow) is background, never eschar.

A learned model replaces this behind the same call: anything with ``name``, ``version`` and
``__call__(image, calibration) -> labels`` is a ``Segmenter``. The colour stage takes a wound bed
found any way, so the learned segmenter (``learned``) finds the bed with a network and shares the
rest: ``tissue_colours`` (white balance, flat field, each pixel's class relative to the skin) and
``label_wound`` (the bed's tissues, then the erythema around it), at the working size
(``working_mm_per_px``); ``fill_holes`` and ``connected_to`` are the mask operations both use.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from woundtrack.image import calibration as cal
from woundtrack.models import BACKGROUND, ERYTHEMA, ESCHAR, GRANULATION, SLOUGH, Calibration

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentationParams:
    """Thresholds of the classical segmenter; stored with every measurement.

    CIELAB differences are taken against the patient's skin reference (L* 0-100, a*/b* ±127).
    """

    working_long_side_px: int = 1280
    eschar_max_l_ratio: float = 0.62  # eschar L* below this share of the skin's L* ...
    eschar_max_l: float = 32.0  # ... and below this absolute L*
    eschar_max_chroma: float = 28.0
    slough_min_dhue_deg: float = 20.0  # slough hue more yellow than the skin's by this much ...
    slough_min_chroma: float = 18.0  # ... clearly coloured ...
    slough_min_l: float = 45.0  # ... and light
    granulation_min_da: float = 17.0  # granulation a* above skin a* by this much ...
    granulation_min_de: float = (
        22.0  # ... and this far from the skin colour (ΔE76): beyond erythema
    )
    erythema_min_da: float = 7.0  # erythema a* above the surrounding-ring a* by this much ...
    erythema_max_l_ratio: float = 1.2  # ... and L* at most this many times the ring's (not pale)
    erythema_max_reach_mm: float = 25.0  # erythema is looked for up to this far from the wound
    # Skin, for erythema and the ring it is compared with: not the black padding of a cropped
    # photo, a grey wall or white sheet, nor a blue or purple glove or drape (hue outside skin's).
    skin_min_l: float = 15.0
    skin_min_chroma: float = 6.0
    skin_hue_range_deg: tuple[float, float] = (0.0, 90.0)
    min_lesion_mm2: float = 6.0
    min_lesion_frac: float = 2e-4  # of the image, when uncalibrated

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


#: What the erythema figure is, and what it cannot see: for the help beside it in the app and
#: the note under it in the printed report
ERYTHEMA_MEANING = (
    "Erythema is skin around the wound redder than a ring of the patient's own skin further "
    f"out, looked for up to {SegmentationParams().erythema_max_reach_mm / 10:g} cm from the "
    "wound's edge (without a sticker, 1.2 wound radii). A limb red all over (cellulitis, stasis "
    "dermatitis) has no normal skin to compare with and reads as little or none: judge it by eye."
)


class Segmenter(Protocol):
    """What the pipeline needs of a segmenter (classical or learned)."""

    name: str
    version: str

    def __call__(self, image: np.ndarray, calibration: Calibration) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class ClassicalSegmenter:
    """The colour-rule segmenter as a ``Segmenter``."""

    params: SegmentationParams = SegmentationParams()
    name: str = "classical-lab"
    version: str = "1"

    def __call__(self, image: np.ndarray, calibration: Calibration) -> np.ndarray:
        return segment(image, calibration=calibration, params=self.params)


def check_rgb_image(image: np.ndarray) -> None:
    """Raise ValueError unless ``image`` is an (H, W, 3) uint8 RGB array (what segmenters take)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"segment expects an (H, W, 3) uint8 RGB image, got shape {image.shape} {image.dtype}"
        )


def segment(
    image: np.ndarray,
    *,
    calibration: Calibration | None = None,
    params: SegmentationParams = SegmentationParams(),
) -> np.ndarray:
    """Label every pixel of a wound photo.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    calibration : Calibration, optional
        Used for white balance, to mask the sticker and to set sizes in millimetres.
    params : SegmentationParams

    Returns
    -------
    labels : (H, W) ndarray of uint8
        0 skin/background, 1 granulation, 2 slough, 3 eschar, 4 erythema.

    Raises
    ------
    ValueError
        If ``image`` is not an (H, W, 3) uint8 array.
    """
    check_rgb_image(image)
    calibration = calibration or Calibration(method="none")
    height, width = image.shape[:2]
    scale = min(1.0, params.working_long_side_px / max(height, width))
    small = image
    if scale < 1.0:
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    sticker = cal.sticker_mask(calibration, small.shape[:2], scale=scale)
    mm_per_px = working_mm_per_px(calibration, small.shape[:2], scale)
    lab, tissue = tissue_colours(
        small, sticker, params, white_balance_gains=calibration.white_balance_gains
    )
    wound = _clean_wound_bed(tissue, sticker, mm_per_px, params)
    labels = label_wound(tissue, wound, lab, sticker=sticker, mm_per_px=mm_per_px, params=params)

    if scale < 1.0:
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    return labels


def working_mm_per_px(
    calibration: Calibration, shape: tuple[int, int], scale: float
) -> float | None:
    """Millimetres per pixel of the working image at its centre (for the sizes of filters).

    Parameters
    ----------
    calibration : Calibration
        Of the photo at full size.
    shape : (int, int)
        Height and width of the working image, in pixels.
    scale : float
        Working image size / photo size (<= 1).

    Returns
    -------
    float or None
        mm per working-image pixel, approximate (the scale at the centre); ``None`` when the photo
        is not calibrated.
    """
    if not calibration.calibrated:
        return None
    h, w = shape
    return cal.mm_per_px_at(calibration, (w / 2) / scale, (h / 2) / scale) / scale


def tissue_colours(
    image: np.ndarray,
    sticker: np.ndarray,
    params: SegmentationParams,
    *,
    white_balance_gains: tuple[float, float, float] | None = None,
    not_skin: np.ndarray | None = None,
    region: tuple[slice, slice] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's tissue by its colour relative to the patient's skin, wound bed or not.

    The image is white-balanced, flat-fielded (a smooth illumination surface divided out) and
    turned into CIELAB; the skin reference is the mode of its colours; each pixel is then eschar,
    slough, granulation or none by the thresholds of ``params``. Where the wound bed is is not
    decided here: every pixel is classified.

    Parameters
    ----------
    image : (h, w, 3) ndarray of uint8
        RGB, the photo at the working size, not white-balanced.
    sticker : (h, w) ndarray of bool
        The calibration sticker: left out of the illumination fit and of the skin reference, and
        never tissue.
    params : SegmentationParams
    white_balance_gains : (float, float, float), optional
        Per-channel RGB gains (``Calibration.white_balance_gains``); none, no white balance.
    not_skin : (h, w) ndarray of bool, optional
        Further pixels that are not skin (e.g. a wound bed already found): left out of the fit
        and the skin reference as well, but classified.
    region : (slice, slice), optional
        Classify only the pixels in ``image[region]`` (the part a caller will read: around a
        wound already found); outside it ``lab`` is 0 and ``tissue`` 0. The light's fit and the
        skin reference still come from the whole photo, so every pixel inside is as without
        ``region``. Default: every pixel.

    Returns
    -------
    lab : (h, w, 3) ndarray of float32
        The flat-fielded CIELAB image: L* 0-100, a* and b* about -127 to 127.
    tissue : (h, w) ndarray of uint8
        ``GRANULATION``, ``SLOUGH`` or ``ESCHAR`` by colour, else ``BACKGROUND`` (0); the sticker
        is 0.
    """
    exclude = sticker if not_skin is None else sticker | not_skin
    balanced = cal.apply_white_balance(image, white_balance_gains)
    gain = _illumination_gain(balanced, exclude)
    skin = _skin_reference(balanced, gain, exclude)
    h, w = image.shape[:2]
    lab = np.zeros((h, w, 3), np.float32)
    tissue = np.zeros((h, w), np.uint8)
    region = region or (slice(0, h), slice(0, w))
    if balanced[region].size:
        lab[region] = _flat_lab(balanced[region], gain[region])
        tissue[region] = _classify_tissue(lab[region], skin, params)
    tissue[sticker] = BACKGROUND
    return lab, tissue


def label_wound(
    tissue: np.ndarray,
    wound: np.ndarray,
    lab: np.ndarray,
    *,
    sticker: np.ndarray,
    mm_per_px: float | None,
    params: SegmentationParams,
) -> np.ndarray:
    """The label map of a wound bed: its tissues, and the periwound erythema around it.

    Inside ``wound`` each pixel keeps its colour's tissue, and one of no tissue (a closed gap, a
    hole) takes the nearest tissue's; outside it everything is skin, except intact skin around
    each wound that is redder (a*) than a ring of the patient's skin further out, and not paler
    than it (L* at most ``erythema_max_l_ratio`` times the ring's): erythema. Inflamed skin darkens;
    a pale pink rim (maceration, callus, new epithelium; skin lit more than the ring) is not it.

    Parameters
    ----------
    tissue : (h, w) ndarray of uint8
        Each pixel's tissue by colour, from :func:`tissue_colours`.
    wound : (h, w) ndarray of bool
        The wound bed, however found.
    lab : (h, w, 3) ndarray of float32
        The flat-fielded CIELAB image, from :func:`tissue_colours`.
    sticker : (h, w) ndarray of bool
        The calibration sticker: never erythema, nor the skin it is compared with.
    mm_per_px : float or None
        Millimetres per pixel of this image (:func:`working_mm_per_px`); ``None`` when
        uncalibrated, and erythema is then looked for within 1.2 wound radii.
    params : SegmentationParams

    Returns
    -------
    labels : (h, w) ndarray of uint8
        0 skin/background, 1 granulation, 2 slough, 3 eschar, 4 erythema.
    """
    labels = _fill_wound_labels(tissue, wound)
    return _add_erythema(labels, wound, lab, sticker, mm_per_px, params)


def _illumination_gain(image: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """(h, w) float32 gain that divides out a smooth illumination surface (flat field).

    A quadratic surface is fitted, robustly, to log-luminance on a coarse grid (the wound and the
    sticker fall out as outliers); the gain divides it out relative to its median, so a shadow
    across the limb does not make skin look like eschar.
    """
    h, w = image.shape[:2]
    grid_w, grid_h = 48, max(8, round(48 * h / w))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    coarse = cv2.resize(grey, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    keep = (
        cv2.resize((~exclude).astype(np.uint8), (grid_w, grid_h), interpolation=cv2.INTER_NEAREST)
        > 0
    )
    yy, xx = np.mgrid[0:grid_h, 0:grid_w].astype(np.float64)
    xx, yy = xx / grid_w - 0.5, yy / grid_h - 0.5
    design = np.stack([np.ones_like(xx), xx, yy, xx * xx, xx * yy, yy * yy], axis=-1).reshape(-1, 6)
    target = np.log(np.maximum(coarse, 4.0)).reshape(-1).astype(np.float64)
    # Far darker than the photo's typical level is not lit skin (eschar, a drape, a deep shadow):
    # left out of the fit, else it drags the surface down over the skin around it.
    typical = np.median(target[keep.reshape(-1)]) if keep.any() else np.median(target)
    keep = keep & (np.abs(target - typical) < np.log(2.5)).reshape(keep.shape)
    use = keep.reshape(-1).copy()
    coef = np.zeros(6)
    for _ in range(4):
        if use.sum() < 12:
            break
        coef, *_ = np.linalg.lstsq(design[use], target[use], rcond=None)
        resid = target - design @ coef
        mad = np.median(np.abs(resid[use])) + 1e-6
        use = keep.reshape(-1) & (np.abs(resid) < 2.5 * 1.4826 * mad)
    surface = (design @ coef).reshape(grid_h, grid_w)
    surface -= np.median(surface[keep]) if keep.any() else np.median(surface)
    gain = np.exp(-surface).astype(np.float32)
    return cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)


def _flat_lab(image: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """CIELAB (float32; L 0-100) of RGB ``image`` times ``gain`` (``_illumination_gain``)."""
    flat = np.clip(image.astype(np.float32) * gain[..., None], 0, 255) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB)


def _skin_reference(image: np.ndarray, gain: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """The patient's typical skin colour (L*, a*, b*, flat-fielded): the mode of the photo's
    colours.

    Median of everything but the sticker, then the median again of the pixels within ΔE 15 of it
    (mode seeking), so the wound and a darker or redder periphery do not pull it. About 40,000
    pixels, evenly spread, are enough; only they are turned into CIELAB.
    """
    step = max(1, image.shape[0] * image.shape[1] // 40_000)
    kept = np.flatnonzero(~exclude.reshape(-1))
    picked = kept[::step] if len(kept) else np.arange(0, exclude.size, step)
    rgb = image.reshape(-1, 3)[picked][:, None, :]
    pixels = _flat_lab(rgb, gain.reshape(-1)[picked][:, None]).reshape(-1, 3)
    ref = np.median(pixels, axis=0)
    for _ in range(3):
        near = pixels[np.linalg.norm(pixels - ref, axis=1) < 15.0]
        if len(near) < 50:
            break
        ref = np.median(near, axis=0)
    return ref.astype(np.float32)


def _classify_tissue(lab: np.ndarray, skin: np.ndarray, p: SegmentationParams) -> np.ndarray:
    lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    skin_l, skin_a, skin_b = (float(v) for v in skin)
    chroma = np.hypot(a, b)
    hue = np.degrees(np.arctan2(b, a))
    skin_hue = math.degrees(math.atan2(skin_b, skin_a))
    delta_e = np.sqrt((lum - skin_l) ** 2 + (a - skin_a) ** 2 + (b - skin_b) ** 2)
    eschar = (lum < min(p.eschar_max_l_ratio * skin_l, p.eschar_max_l)) & (
        chroma < p.eschar_max_chroma
    )
    yellow = hue > skin_hue + p.slough_min_dhue_deg
    slough = yellow & (chroma > p.slough_min_chroma) & (lum > p.slough_min_l)
    granulation = (a - skin_a > p.granulation_min_da) & (delta_e > p.granulation_min_de) & ~yellow
    labels = np.zeros(lum.shape, dtype=np.uint8)
    labels[granulation] = GRANULATION
    labels[slough] = SLOUGH
    labels[eschar] = ESCHAR
    return labels


def _clean_wound_bed(
    tissue: np.ndarray, sticker: np.ndarray, mm_per_px: float | None, p: SegmentationParams
) -> np.ndarray:
    """Wound-bed mask: tissue candidates, despeckled, closed, holes filled, small bits dropped.

    A candidate region that is nearly all eschar-dark and runs off the photo's edge is taken as
    background (a black drape, a shadow), not as a wound.
    """
    h, w = tissue.shape
    bed = tissue > 0
    r_px = 1 if mm_per_px is None else max(1, round(0.3 / mm_per_px))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_px + 1, 2 * r_px + 1))
    bed = cv2.morphologyEx(bed.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    bed = cv2.morphologyEx(bed, cv2.MORPH_CLOSE, kernel) > 0
    bed = fill_holes(bed) & ~sticker
    min_px = min_lesion_px(p, mm_per_px, (h, w))
    count, comp, stats, _ = cv2.connectedComponentsWithStats(bed.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        if area < min_px:
            continue
        touches_edge = x == 0 or y == 0 or x + bw == w or y + bh == h
        if touches_edge:
            region = comp == i
            dark_share = float(np.mean(tissue[region] == ESCHAR))
            if dark_share > 0.85:
                log.debug("dropping dark region %d touching the edge (background)", i)
                continue
        keep[i] = True
    return keep[comp]


def min_lesion_px(p: SegmentationParams, mm_per_px: float | None, shape: tuple[int, int]) -> float:
    """The smallest lesion kept, in pixels: ``min_lesion_mm2`` when the scale is known, else
    ``min_lesion_frac`` of the image."""
    if mm_per_px is not None:
        return p.min_lesion_mm2 / (mm_per_px * mm_per_px)
    return p.min_lesion_frac * shape[0] * shape[1]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a binary mask: the background that cannot reach the image's border.

    Parameters
    ----------
    mask : (h, w) ndarray of bool

    Returns
    -------
    (h, w) ndarray of bool
        ``mask`` and its holes (background 4-connected to no border pixel).
    """
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return mask | holes


def _fill_wound_labels(tissue: np.ndarray, wound: np.ndarray) -> np.ndarray:
    """Give unclassified pixels inside the wound bed (closed gaps, holes) the nearest tissue."""
    out = np.where(wound, tissue, BACKGROUND).astype(np.uint8)
    gaps = wound & (out == BACKGROUND)
    if not gaps.any():
        return out
    ys, xs = np.nonzero(wound)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    sub, sub_gaps = out[box], gaps[box]
    known = sub > 0
    if known.any():
        from scipy import ndimage  # imported when first needed: it takes a quarter second

        _, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
        sub[sub_gaps] = sub[iy[sub_gaps], ix[sub_gaps]]
    else:
        sub[sub_gaps] = GRANULATION
    return out


def _add_erythema(
    tissue: np.ndarray,
    wound: np.ndarray,
    lab: np.ndarray,
    sticker: np.ndarray,
    mm_per_px: float | None,
    p: SegmentationParams,
) -> np.ndarray:
    """Mark skin around each wound that is redder, and not paler, than a ring of the patient's
    skin further out."""
    labels = tissue.copy()
    if not wound.any():
        return labels
    count, comp = cv2.connectedComponents(wound.astype(np.uint8), connectivity=8)
    # Work inside the box that holds every wound and the skin ring around it.
    ys, xs = np.nonzero(wound)
    pad = erythema_pad_px(int(wound.sum()), mm_per_px, p)
    h, w = wound.shape
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    box = (slice(y0, y1), slice(x0, x1))
    sub = _add_erythema_box(comp[box], count, wound[box], lab[box], sticker[box], mm_per_px, p)
    labels[box][sub] = ERYTHEMA
    return labels


def erythema_pad_px(wound_area_px: int, mm_per_px: float | None, p: SegmentationParams) -> int:
    """How far around the wounds' box erythema and the skin ring it is compared with are looked
    for (px): 1.7 times the reach (``erythema_max_reach_mm``, or 1.2 wound radii uncalibrated)."""
    radius_px = math.sqrt(wound_area_px / math.pi)
    reach_max = (p.erythema_max_reach_mm / mm_per_px) if mm_per_px is not None else 1.2 * radius_px
    return int(reach_max * 1.7) + 3


def _add_erythema_box(comp, count, wound, lab, sticker, mm_per_px, p) -> np.ndarray:
    erythema = np.zeros(wound.shape, dtype=bool)
    skin = skin_like(lab, p)
    dist_px, nearest = _distance_to_wound(comp)
    a = cv2.GaussianBlur(lab[..., 1], (0, 0), 1.5)
    lum = cv2.GaussianBlur(lab[..., 0], (0, 0), 1.5)
    for i in range(1, count):
        region = comp == i
        radius_px = math.sqrt(region.sum() / math.pi)
        if mm_per_px is not None:
            reach_px = p.erythema_max_reach_mm / mm_per_px
        else:
            reach_px = 1.2 * radius_px
        mine = (nearest == i) & ~wound & ~sticker & skin
        ring = mine & (dist_px > reach_px) & (dist_px < reach_px * 1.6)
        if ring.sum() < 30:
            ring = mine & (dist_px > 0.5 * reach_px)
        if ring.sum() < 30:
            continue  # too little skin around this wound to tell redness from skin tone
        reference_a = float(np.median(a[ring]))
        reference_l = float(np.median(lum[ring]))
        red = mine & (dist_px <= reach_px) & (a - reference_a > p.erythema_min_da)
        red &= lum <= p.erythema_max_l_ratio * reference_l
        red = cv2.morphologyEx(red.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
        # Only redness connected to this wound is periwound erythema.
        touching = connected_to(
            red, cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        )
        erythema |= touching
    return erythema


def skin_like(lab: np.ndarray, params: SegmentationParams) -> np.ndarray:
    """Pixels whose colour could be skin, light or dark: the only ones erythema is looked for in.

    Parameters
    ----------
    lab : (h, w, 3) ndarray of float32
        CIELAB (L* 0-100).
    params : SegmentationParams
        ``skin_min_l``, ``skin_min_chroma`` and ``skin_hue_range_deg`` (hue angle atan2(b*, a*)).

    Returns
    -------
    (h, w) ndarray of bool
        Not near-black (the zero padding of a cropped photo, deep shadow), not grey or white
        (a wall, a sheet, a dressing), and of a skin hue (red to yellow), so that neither a
        blue or purple glove nor a drape is called erythema or taken as the skin it is compared
        with.
    """
    lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    hue = np.degrees(np.arctan2(b, a))
    low, high = params.skin_hue_range_deg
    return (
        (lum >= params.skin_min_l)
        & (np.hypot(a, b) >= params.skin_min_chroma)
        & (hue >= low)
        & (hue <= high)
    )


def _distance_to_wound(components: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (px) from each pixel to the nearest wound, and that wound's component id."""
    src = (components == 0).astype(np.uint8)
    dist, voronoi = cv2.distanceTransformWithLabels(
        src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    seed_to_component = np.zeros(int(voronoi.max()) + 1, dtype=np.int32)
    seeds = components > 0
    seed_to_component[voronoi[seeds]] = components[seeds]
    return dist, seed_to_component[voronoi]


def connected_to(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` that ``seed`` touches.

    Parameters
    ----------
    mask : (h, w) ndarray of bool
    seed : (h, w) ndarray of bool

    Returns
    -------
    (h, w) ndarray of bool
        Every 8-connected component of ``mask`` that has a pixel in ``seed``, whole.
    """
    count, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask, dtype=bool)
    hit = np.unique(comp[seed & mask])
    hit = hit[hit > 0]
    return np.isin(comp, hit)
