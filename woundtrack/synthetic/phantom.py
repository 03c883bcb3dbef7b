"""Synthetic wound photos with exact ground truth (phantoms) for tests, benchmarks and demos.

A phantom is a flat patch of skin carrying one to three wounds (granulation, slough, eschar), a
ring of periwound erythema and the ArUco calibration sticker, photographed by a simulated pinhole
camera (tilt, roll, focal length), then degraded like a phone photo (uneven light, colour cast,
blur, noise, JPEG). The truth is computed on the skin plane, never from the rendered image: each
lesion's tissue map is rasterised on a fine plane grid (0.05 mm per texel) and areas are texel
counts times the texel area. The label map of the photo is that grid sampled (nearest) through the
exact plane-to-image homography, which is returned as well.

Everything here is a pure function of a :class:`PhantomSpec`; randomness comes only from
``np.random.default_rng`` seeded by ``spec.seed`` (the photo: sticker placement, lighting, noise)
and ``spec.lesion_seed`` (the patient: wound outlines, tissue layout, skin texture), so the same
wound can be photographed again under other conditions. :func:`write_phantom` is the one place
that writes a file; it exists so tests of :mod:`woundtrack.image.io` and the demo script have real
JPEG/PNG files with EXIF orientation, capture time and 35 mm focal length.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import os
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps
from skimage.color import lab2rgb, rgb2lab

from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, SLOUGH

logger = logging.getLogger(__name__)

#: Side of one texel of the plane label grid, in millimetres. Truth areas are texel counts times
#: ``TEXEL_MM ** 2``; 0.05 mm keeps the rasterisation error of a 5 mm wound under 0.1 %.
TEXEL_MM = 0.05

#: Quiet zone of white paper around the printed marker, as a share of the marker side.
QUIET_ZONE_FRACTION = 0.25

_ARUCO_DICT = cv2.aruco.DICT_4X4_50
_MARKER_CELLS = 6  # 4x4 data bits plus a one-cell black border on each side
_OUTLINE_VERTICES = 720
_SUPERSAMPLE = 2

# Orientation tag -> the PIL transpose that turns displayed pixels into stored pixels (the inverse
# of what ImageOps.exif_transpose applies when reading).
_STORE_TRANSPOSE: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}

# Skin anchors in sRGB from very light (Fitzpatrick I) to very dark (VI); interpolated in CIELAB.
_SKIN_ANCHORS_SRGB = (
    (238, 204, 186),
    (226, 184, 160),
    (204, 154, 124),
    (170, 118, 88),
    (128, 86, 62),
    (88, 58, 42),
)
#: The tissue colours a phantom can be painted with, in sRGB: granulation and its darker shade,
#: slough and its other shade. ``"vivid"``: the phantoms' own, more saturated than real wounds.
#: ``"measured"``: the median CIELAB colours of the wound specialists' granulation and slough
#: labels in the 86 FUSeg photos of ``DATA/fuseg-train/tissue`` (granulation L* 38, a* 32, b* 17;
#: slough L* 57, a* 17, b* 22), as a rendered phantom shows them after its light and camera.
TISSUE_COLOURS = {
    "vivid": ((172, 42, 46), (128, 22, 30), (222, 204, 142), (206, 180, 104)),
    "measured": ((177, 87, 82), (115, 51, 50), (177, 121, 104), (197, 151, 114)),
}
_ESCHAR_SRGB = (30, 24, 21)
_ESCHAR_BROWN_SRGB = (72, 46, 30)
_CRACK_SRGB = (92, 34, 30)
_PAPER_SRGB = (236, 236, 231)
_INK_SRGB = (24, 24, 27)
# Erythema at full strength: skin shifted by these CIELAB amounts; the ring's strength runs from
# 1 at the wound edge to about 0.7 at its outer edge, i.e. a* +13..+19 over the same skin.
_ERYTHEMA_DLAB = (-5.0, 19.0, 2.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhantomSpec:
    """What to render: the scene, the camera and the degradations of a phantom photo.

    ``width_px`` and ``height_px`` are those of the photo as displayed (EXIF orientation applied).
    ``tilt_deg`` is the angle between the optical axis and the normal of the skin plane,
    ``tilt_azimuth_deg`` the direction in which the plane is tilted, ``roll_deg`` the rotation of
    the camera about its optical axis. ``focal_35mm`` is the 35 mm equivalent focal length (the
    focal length in pixels is ``focal_35mm / 43.27 * hypot(width_px, height_px)``: 35 mm
    equivalents refer to the 36x24 mm frame's diagonal, 43.27 mm). ``skin_tone`` runs
    from 0 (very light, Fitzpatrick I) to 1 (very dark, VI). Each of the ``n_lesions`` wounds is a
    smooth star-shaped outline of mean radius ``wound_radius_mm`` (the first; the others are 50 to
    90 % of it), split into eschar, slough and granulation by ``eschar_fraction`` and
    ``slough_fraction`` of its bed, with an erythema ring ``erythema_width_mm`` wide. The sticker is
    a DICT_4X4_50 marker ``marker_id`` whose black square is ``marker_mm`` wide, with a white quiet
    zone of a quarter of that on each side. ``wound_fill_frac`` is about how much of the image
    width the scene (wounds, erythema and sticker) spans. ``light_gradient`` sets the max/min
    ratio of the illumination to ``1 + light_gradient``; ``colour_temperature_k`` gives a warm
    (low) or cold (high) cast relative to 5500 K. ``blur_sigma_px`` and ``noise_sigma`` (8-bit
    units) degrade the photo, which is then JPEG-compressed at ``jpeg_quality`` (``None``: no
    compression). ``exif_orientation`` (1..8) is the tag a written file carries; its stored pixels
    are transposed so that the displayed photo is the one rendered. ``layout_radius_mm`` (default:
    ``wound_radius_mm``) places the lesions as if they had that radius, so a healing series keeps
    them in place while they shrink. ``lesion_seed`` (default:
    ``seed``) drives the wound outlines, tissue layout and skin texture: keep it and change
    ``seed`` to photograph the same wound again. ``tissue_colours`` names the granulation and
    slough colours (``TISSUE_COLOURS``): ``"measured"`` paints them as dull as real wounds are.
    """

    seed: int = 0
    width_px: int = 1600
    height_px: int = 1200
    tilt_deg: float = 0.0
    tilt_azimuth_deg: float = 0.0
    roll_deg: float = 0.0
    focal_35mm: float = 26.0
    skin_tone: float = 0.3
    wound_radius_mm: float = 15.0
    n_lesions: int = 1
    eschar_fraction: float = 0.4
    slough_fraction: float = 0.2
    erythema_width_mm: float = 6.0
    marker_mm: float = 20.0
    marker_id: int = 7
    with_sticker: bool = True
    wound_fill_frac: float = 0.25
    light_gradient: float = 0.3
    colour_temperature_k: float = 5500.0
    blur_sigma_px: float = 0.0
    noise_sigma: float = 2.0
    jpeg_quality: int | None = 90
    exif_orientation: int = 1
    taken_at: datetime | None = None
    lesion_seed: int | None = None
    layout_radius_mm: float | None = None
    tissue_colours: str = "vivid"

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ValueError:
            return ValueError(f"PhantomSpec.{name} must be {expected}, got {getattr(self, name)!r}")

        for name in ("seed", "width_px", "height_px", "n_lesions", "marker_id", "exif_orientation"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int):
                raise bad(name, "an int")
        if self.seed < 0:
            raise bad("seed", "an int >= 0")
        if self.lesion_seed is not None and (
            isinstance(self.lesion_seed, bool)
            or not isinstance(self.lesion_seed, int)
            or self.lesion_seed < 0
        ):
            raise bad("lesion_seed", "None or an int >= 0")
        for name in ("width_px", "height_px"):
            if not 64 <= getattr(self, name) <= 12000:
                raise bad(name, "between 64 and 12000")
        for name in (
            "tilt_deg",
            "tilt_azimuth_deg",
            "roll_deg",
            "focal_35mm",
            "skin_tone",
            "wound_radius_mm",
            "eschar_fraction",
            "slough_fraction",
            "erythema_width_mm",
            "marker_mm",
            "wound_fill_frac",
            "light_gradient",
            "colour_temperature_k",
            "blur_sigma_px",
            "noise_sigma",
        ):
            if not math.isfinite(getattr(self, name)):
                raise bad(name, "a finite number")
        if not 0.0 <= self.tilt_deg <= 70.0:
            raise bad("tilt_deg", "in [0, 70] degrees")
        if not 8.0 <= self.focal_35mm <= 300.0:
            raise bad("focal_35mm", "in [8, 300] mm")
        if not 0.0 <= self.skin_tone <= 1.0:
            raise bad("skin_tone", "in [0, 1]")
        # Upper limits keep the 0.05 mm label grid near 1 GB of memory at worst.
        if not 0.5 <= self.wound_radius_mm <= 60.0:
            raise bad("wound_radius_mm", "in [0.5, 60] mm")
        if not 1 <= self.n_lesions <= 3:
            raise bad("n_lesions", "1, 2 or 3")
        for name in ("eschar_fraction", "slough_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise bad(name, "in [0, 1]")
        if self.eschar_fraction + self.slough_fraction > 1.0 + 1e-9:
            raise ValueError(
                "PhantomSpec.eschar_fraction + slough_fraction must be <= 1 (the rest is "
                f"granulation), got {self.eschar_fraction!r} + {self.slough_fraction!r}"
            )
        if not 0.0 <= self.erythema_width_mm <= 30.0:
            raise bad("erythema_width_mm", "in [0, 30] mm")
        if not 2.0 <= self.marker_mm <= 200.0:
            raise bad("marker_mm", "in [2, 200] mm")
        if not 0 <= self.marker_id < 50:
            raise bad("marker_id", "in [0, 49] (DICT_4X4_50)")
        if not 0.02 <= self.wound_fill_frac <= 0.9:
            raise bad("wound_fill_frac", "in [0.02, 0.9]")
        if not 0.0 <= self.light_gradient <= 3.0:
            raise bad("light_gradient", "in [0, 3]")
        if not 1500.0 <= self.colour_temperature_k <= 15000.0:
            raise bad("colour_temperature_k", "in [1500, 15000] K")
        if not 0.0 <= self.blur_sigma_px <= 20.0:
            raise bad("blur_sigma_px", "in [0, 20] px")
        if not 0.0 <= self.noise_sigma <= 50.0:
            raise bad("noise_sigma", "in [0, 50] (8-bit units)")
        if self.jpeg_quality is not None and (
            isinstance(self.jpeg_quality, bool)
            or not isinstance(self.jpeg_quality, int)
            or not 1 <= self.jpeg_quality <= 100
        ):
            raise bad("jpeg_quality", "None or an int in [1, 100]")
        if self.exif_orientation not in _STORE_TRANSPOSE:
            raise bad("exif_orientation", "an EXIF orientation 1..8")
        if self.taken_at is not None and not isinstance(self.taken_at, datetime):
            raise bad("taken_at", "None or a datetime")
        if self.tissue_colours not in TISSUE_COLOURS:
            raise bad("tissue_colours", f"one of {sorted(TISSUE_COLOURS)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PhantomTruth:
    """The exact answer for a phantom, computed on the skin plane.

    Areas are in mm² on the plane (texel counts of the 0.05 mm label grid times its texel area);
    ``wound_area_mm2`` is the sum of the granulation, slough and eschar areas and of
    ``lesion_areas_mm2``. ``plane_to_image`` maps plane millimetres ``(x, y, 1)`` to displayed image
    pixels whose centres lie at integer coordinates (OpenCV's convention). ``mm_per_px_at_wound``
    is the square root of the plane area one displayed pixel covers at the first wound's centre.
    Marker corners are in the order ArUco reports them (the marker's top-left, top-right,
    bottom-right, bottom-left); they and the sticker fields are empty when there is no sticker.
    """

    wound_area_mm2: float
    granulation_area_mm2: float
    slough_area_mm2: float
    eschar_area_mm2: float
    erythema_area_mm2: float
    lesion_areas_mm2: tuple[float, ...]
    lesion_granulation_areas_mm2: tuple[float, ...]
    lesion_slough_areas_mm2: tuple[float, ...]
    lesion_eschar_areas_mm2: tuple[float, ...]
    lesion_erythema_areas_mm2: tuple[float, ...]
    lesion_centres_mm: tuple[tuple[float, float], ...]
    lesion_centres_px: tuple[tuple[float, float], ...]
    lesion_outlines_mm: tuple[tuple[tuple[float, float], ...], ...]
    marker_area_mm2: float
    marker_mm: float
    marker_id: int
    marker_corners_mm: tuple[tuple[float, float], ...]
    marker_corners_px: tuple[tuple[float, float], ...]
    mm_per_px_at_wound: float
    plane_to_image: tuple[tuple[float, float, float], ...]
    tilt_deg: float
    focal_px: float
    distance_mm: float
    colour_gains: tuple[float, float, float]
    texel_mm: float = TEXEL_MM

    def __post_init__(self) -> None:
        for name in (
            "wound_area_mm2",
            "granulation_area_mm2",
            "slough_area_mm2",
            "eschar_area_mm2",
            "erythema_area_mm2",
            "marker_area_mm2",
            "mm_per_px_at_wound",
            "focal_px",
            "distance_mm",
            "texel_mm",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"PhantomTruth.{name} must be a finite number >= 0, got {value!r}")
        if len(self.plane_to_image) != 3 or any(len(row) != 3 for row in self.plane_to_image):
            raise ValueError("PhantomTruth.plane_to_image must be 3x3")
        n = len(self.lesion_areas_mm2)
        for name in (
            "lesion_granulation_areas_mm2",
            "lesion_slough_areas_mm2",
            "lesion_eschar_areas_mm2",
            "lesion_erythema_areas_mm2",
            "lesion_centres_mm",
            "lesion_centres_px",
            "lesion_outlines_mm",
        ):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"PhantomTruth.{name} must have one entry per lesion ({n}), "
                    f"got {len(getattr(self, name))}"
                )

    @property
    def homography(self) -> np.ndarray:
        """``plane_to_image`` as a (3, 3) float64 array."""
        return np.array(self.plane_to_image, dtype=np.float64)


@dataclass(frozen=True)
class Phantom:
    """A rendered phantom: the photo as displayed, its truth label map, the truth and the spec.

    ``image`` is ``(H, W, 3)`` uint8 RGB after every degradation, including the JPEG round trip
    when ``spec.jpeg_quality`` is set; ``labels`` is ``(H, W)`` uint8 with the values of
    :mod:`woundtrack.models` (the sticker is background).
    """

    image: np.ndarray
    labels: np.ndarray
    truth: PhantomTruth
    spec: PhantomSpec


# --------------------------------------------------------------------------------------------
# Public functions


def render_phantom(spec: PhantomSpec) -> Phantom:
    """Render a phantom photo and its exact truth.

    Parameters
    ----------
    spec : PhantomSpec
        Scene, camera and degradations.

    Returns
    -------
    Phantom
        ``image`` (H, W, 3) ndarray of uint8, RGB as displayed; ``labels`` (H, W) ndarray of
        uint8 (0 skin, 1 granulation, 2 slough, 3 eschar, 4 erythema); ``truth``; ``spec``.

    Raises
    ------
    ValueError
        When the camera would see the horizon of the skin plane (tilt too large for the field of
        view), or the scene cannot be fitted in the image.

    Examples
    --------
    >>> p = render_phantom(PhantomSpec(seed=3, width_px=400, height_px=300))
    >>> p.image.shape, p.labels.dtype
    ((300, 400, 3), dtype('uint8'))
    >>> round(p.truth.wound_area_mm2 / 100, 1)  # doctest: +SKIP
    7.1
    """
    phantom, _ = _render(spec)
    return phantom


def write_phantom(spec: PhantomSpec, path: str | os.PathLike[str]) -> Phantom:
    """Render a phantom and write it as a photo file with EXIF, as a phone would.

    The stored pixels are transposed for ``spec.exif_orientation`` and the Orientation tag is set,
    so that reading the file with PIL and ``ImageOps.exif_transpose`` gives ``Phantom.image``
    exactly (for JPEG the file holds the very bytes whose decoding made ``image``). EXIF also
    carries DateTimeOriginal (and OffsetTimeOriginal when ``spec.taken_at`` is timezone-aware)
    and FocalLengthIn35mmFilm.

    Parameters
    ----------
    spec : PhantomSpec
        What to render. With ``jpeg_quality=None`` a ``.jpg`` is written at quality 95 (and then
        differs slightly from ``image``).
    path : str or path-like
        Ends in ``.jpg``, ``.jpeg`` or ``.png`` (case-insensitive).

    Returns
    -------
    Phantom
        The same as ``render_phantom(spec)``.

    Raises
    ------
    ValueError
        When the suffix is not one of those above.

    Examples
    --------
    >>> p = write_phantom(PhantomSpec(exif_orientation=6), "/tmp/ph.jpg")  # doctest: +SKIP
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in (".jpg", ".jpeg", ".png"):
        raise ValueError(
            f"{os.fspath(path)}: cannot write a phantom as {suffix or 'a file without suffix'!r}; "
            "use a .jpg, .jpeg or .png file name"
        )
    phantom, jpeg_bytes = _render(spec)
    if suffix == ".png" or jpeg_bytes is None:
        stored = _to_stored(Image.fromarray(phantom.image), spec.exif_orientation)
        buffer = io.BytesIO()
        if suffix == ".png":
            stored.save(buffer, format="PNG", exif=_exif_bytes(spec))
        else:
            stored.save(buffer, format="JPEG", quality=95, exif=_exif_bytes(spec))
        data = buffer.getvalue()
    else:
        data = jpeg_bytes
    with open(path, "wb") as fh:
        fh.write(data)
    return phantom


def random_spec(rng: np.random.Generator, **overrides: Any) -> PhantomSpec:
    """Draw a varied, realistic :class:`PhantomSpec`; keyword arguments fix any field.

    Ranges: tilt 0–35°, any azimuth and roll, skin tone 0–1, light gradient 0–0.6, colour
    temperature 3000–8000 K, blur 0–1.5 px, noise 0.5–4, JPEG quality 70–95, EXIF orientation 1 in
    about 60 % of draws (else 3, 6 or 8), portrait in about 30 %, focal length 23–28 mm (about
    20 % at 2x tele, 48–54 mm), 1 lesion in 70 % (2 in 20 %, 3 in 10 %), wound radius 4–25 mm,
    eschar 0–80 % and slough 0–50 % of the bed, erythema 0–10 mm, scene fill 0.2–0.5 of the width.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    **overrides
        Field values that replace the drawn ones.

    Returns
    -------
    PhantomSpec

    Raises
    ------
    TypeError
        When an override names no field of :class:`PhantomSpec`.

    Examples
    --------
    >>> spec = random_spec(np.random.default_rng(1), n_lesions=1)
    >>> 0 <= spec.tilt_deg <= 35
    True
    """
    names = {f.name for f in fields(PhantomSpec)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"random_spec: {', '.join(unknown)} is not a PhantomSpec field")
    portrait = rng.random() < 0.3
    eschar = float(rng.uniform(0.0, 0.8))
    drawn: dict[str, Any] = {
        "seed": int(rng.integers(0, 2**31 - 1)),
        "width_px": 1200 if portrait else 1600,
        "height_px": 1600 if portrait else 1200,
        "tilt_deg": float(rng.uniform(0.0, 35.0)),
        "tilt_azimuth_deg": float(rng.uniform(0.0, 360.0)),
        "roll_deg": float(rng.uniform(-180.0, 180.0)),
        "focal_35mm": float(rng.uniform(48.0, 54.0) if rng.random() < 0.2 else rng.uniform(23, 28)),
        "skin_tone": float(rng.uniform(0.0, 1.0)),
        "wound_radius_mm": float(rng.uniform(4.0, 25.0)),
        "n_lesions": int(rng.choice([1, 2, 3], p=[0.7, 0.2, 0.1])),
        "eschar_fraction": eschar,
        "slough_fraction": float(rng.uniform(0.0, min(0.5, 1.0 - eschar))),
        "erythema_width_mm": float(rng.uniform(0.0, 10.0)),
        "wound_fill_frac": float(rng.uniform(0.2, 0.5)),
        "light_gradient": float(rng.uniform(0.0, 0.6)),
        "colour_temperature_k": float(rng.uniform(3000.0, 8000.0)),
        "blur_sigma_px": float(rng.uniform(0.0, 1.5)),
        "noise_sigma": float(rng.uniform(0.5, 4.0)),
        "jpeg_quality": int(rng.integers(70, 96)),
        "exif_orientation": int(rng.choice([1, 3, 6, 8], p=[0.6, 0.1, 0.2, 0.1])),
    }
    drawn.update(overrides)
    return PhantomSpec(**drawn)


# --------------------------------------------------------------------------------------------
# Geometry of the scene on the plane


@dataclass(frozen=True, slots=True, kw_only=True)
class _Lesion:
    centre_mm: tuple[float, float]
    radius_mm: float
    harmonics: tuple[tuple[int, float, float], ...]  # (k, relative amplitude, phase)
    outer_mm: float  # radius of a disk around the centre holding wound and erythema

    def radius_at(self, theta: np.ndarray) -> np.ndarray:
        r = np.ones_like(theta)
        for k, amp, phase in self.harmonics:
            r += amp * np.cos(k * theta + phase)
        return self.radius_mm * r

    def outline_mm(self) -> np.ndarray:
        theta = np.arange(_OUTLINE_VERTICES) * (2 * math.pi / _OUTLINE_VERTICES)
        r = self.radius_at(theta)
        cx, cy = self.centre_mm
        return np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], axis=1)


def _rng(seed: int, stream: int) -> np.random.Generator:
    # One independent stream per purpose, so that changing e.g. the noise level does not move the
    # sticker, and a fixed lesion_seed keeps the wound while seed changes the photo.
    return np.random.default_rng([stream, seed])


_STREAM_LESIONS, _STREAM_TISSUE, _STREAM_SKIN, _STREAM_STICKER, _STREAM_LIGHT, _STREAM_NOISE = (
    range(1, 7)
)


def _make_lesions(spec: PhantomSpec, rng: np.random.Generator) -> list[_Lesion]:
    lesions: list[_Lesion] = []
    placement_outers: list[float] = []
    for i in range(spec.n_lesions):
        radius = spec.wound_radius_mm * (1.0 if i == 0 else float(rng.uniform(0.5, 0.9)))
        # Low-order Fourier noise: k = 2 makes the wound oval, 3..6 give it lobes. No k = 1 term,
        # so the mean radius is the requested one and the centre stays the centre. The amplitudes
        # keep r(theta) >= 0.45 R, hence a star-shaped outline.
        harmonics = [(2, float(rng.uniform(0.04, 0.22)), float(rng.uniform(0, 2 * math.pi)))]
        for k in range(3, 7):
            harmonics.append(
                (k, float(rng.uniform(0.0, 0.16 / (k - 1.5))), float(rng.uniform(0, 2 * math.pi)))
            )
        peak = 1.0 + sum(a for _, a, _ in harmonics)
        outer = radius * peak + spec.erythema_width_mm
        # Placement may use a fixed layout radius, so that lesions healing over a series stay
        # where they are on the skin (only their size changes).
        layout = (spec.layout_radius_mm or spec.wound_radius_mm) / spec.wound_radius_mm
        placement_outer = radius * max(1.0, layout) * peak + spec.erythema_width_mm
        if i == 0:
            centre = (0.0, 0.0)
        else:
            gap = float(rng.uniform(4.0, 12.0))
            angle = float(rng.uniform(0, 2 * math.pi))
            distance = 0.0
            while True:
                centre = (distance * math.cos(angle), distance * math.sin(angle))
                if all(
                    math.dist(centre, other.centre_mm) >= other_outer + placement_outer + gap
                    for other, other_outer in zip(lesions, placement_outers, strict=True)
                ):
                    break
                distance += 0.5
        lesions.append(
            _Lesion(centre_mm=centre, radius_mm=radius, harmonics=tuple(harmonics), outer_mm=outer)
        )
        placement_outers.append(placement_outer)
    return lesions


@dataclass(frozen=True, slots=True, kw_only=True)
class _Sticker:
    centre_mm: tuple[float, float]
    angle_rad: float
    marker_mm: float
    cells: np.ndarray  # (6, 6) bool, True where the marker is black

    def to_plane(self, local: np.ndarray) -> np.ndarray:
        """Marker-local mm (origin at the black square's top-left corner) -> plane mm."""
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        d = local - self.marker_mm / 2
        return np.stack(
            [
                self.centre_mm[0] + c * d[..., 0] - s * d[..., 1],
                self.centre_mm[1] + s * d[..., 0] + c * d[..., 1],
            ],
            axis=-1,
        )

    def to_local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        dx, dy = x - self.centre_mm[0], y - self.centre_mm[1]
        return c * dx + s * dy + self.marker_mm / 2, -s * dx + c * dy + self.marker_mm / 2

    def marker_corners_mm(self) -> np.ndarray:
        m = self.marker_mm
        return self.to_plane(np.array([[0.0, 0.0], [m, 0.0], [m, m], [0.0, m]]))

    def paper_corners_mm(self) -> np.ndarray:
        q = self.marker_mm * QUIET_ZONE_FRACTION
        m = self.marker_mm
        return self.to_plane(np.array([[-q, -q], [m + q, -q], [m + q, m + q], [-q, m + q]]))


def _place_sticker(spec: PhantomSpec, lesions: list[_Lesion], rng: np.random.Generator) -> _Sticker:
    dictionary = cv2.aruco.getPredefinedDictionary(_ARUCO_DICT)
    cells = cv2.aruco.generateImageMarker(dictionary, spec.marker_id, _MARKER_CELLS) < 128
    angle = float(rng.uniform(0, 2 * math.pi))
    direction = float(rng.uniform(0, 2 * math.pi))
    gap = float(rng.uniform(8.0, 16.0))
    half = spec.marker_mm * (0.5 + QUIET_ZONE_FRACTION)
    c, s = math.cos(angle), math.sin(angle)

    def clearance(centre: tuple[float, float]) -> float:
        # Distance from each lesion's enclosing disk to the paper square (in the square's frame).
        worst = math.inf
        for lesion in lesions:
            dx, dy = lesion.centre_mm[0] - centre[0], lesion.centre_mm[1] - centre[1]
            lx, ly = abs(c * dx + s * dy), abs(-s * dx + c * dy)
            d = math.hypot(max(lx - half, 0.0), max(ly - half, 0.0))
            worst = min(worst, d - lesion.outer_mm)
        return worst

    distance = 0.0
    while True:
        centre = (distance * math.cos(direction), distance * math.sin(direction))
        if clearance(centre) >= gap:
            break
        distance += 0.25
    return _Sticker(centre_mm=centre, angle_rad=angle, marker_mm=spec.marker_mm, cells=cells)


# --------------------------------------------------------------------------------------------
# The plane label grid


@dataclass(frozen=True, slots=True, kw_only=True)
class _Grid:
    """Plane texel grid: texel (i, j) is centred on plane (x0 + j * TEXEL_MM, y0 + i * TEXEL_MM)."""

    x0_mm: float
    y0_mm: float
    labels: np.ndarray  # (h, w) uint8
    detail: np.ndarray  # (h, w, 3) uint8: eschar cracks, erythema strength, wound-edge shade


def _fill_polygon(shape: tuple[int, int], poly: np.ndarray) -> np.ndarray:
    """Even-odd fill of the texels whose centres lie inside ``poly`` (texel coordinates x, y).

    Unlike cv2.fillPoly, which also paints every texel the outline touches (a bias of half a texel
    times the perimeter), this counts exactly the texel centres inside, so the count times the
    texel area is an unbiased estimate of the polygon's area.
    """
    h, w = shape
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    rows = np.arange(h, dtype=np.float64)[:, None]
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    crosses = (rows >= lo) & (rows < hi)  # half-open, so a vertex on a row counts once
    r_idx, e_idx = np.nonzero(crosses)
    t = (r_idx - y0[e_idx]) / (y1[e_idx] - y0[e_idx])
    xs = x0[e_idx] + t * (x1[e_idx] - x0[e_idx])
    cols = np.clip(np.ceil(xs), 0, w).astype(np.int64)  # first texel centre at or right of x
    toggles = np.zeros((h, w + 1), dtype=np.int32)
    np.add.at(toggles, (r_idx, cols), 1)
    return (np.cumsum(toggles[:, :w], axis=1) & 1).astype(bool)


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], corr_texels: float
) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with the given correlation length."""
    step = max(corr_texels / 3.0, 1.0)
    coarse = (int(shape[0] / step) + 4, int(shape[1] / step) + 4)
    noise = rng.standard_normal(coarse).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.5)
    big = cv2.resize(noise, (int(coarse[1] * step), int(coarse[0] * step)), cv2.INTER_CUBIC)
    field = big[: shape[0], : shape[1]]
    return (field - field.mean()) / (field.std() + 1e-9)


def _take_lowest(score: np.ndarray, count: int) -> np.ndarray:
    """Boolean mask of the ``count`` smallest entries of a 1-D score (exact count)."""
    chosen = np.zeros(score.shape, dtype=bool)
    if count > 0:
        chosen[np.argpartition(score, count - 1)[:count]] = True
    return chosen


def _build_grid(
    spec: PhantomSpec, lesions: list[_Lesion], rng: np.random.Generator
) -> tuple[_Grid, list[dict[int, int]]]:
    margin = 1.0
    xmin = min(les.centre_mm[0] - les.outer_mm for les in lesions) - margin
    xmax = max(les.centre_mm[0] + les.outer_mm for les in lesions) + margin
    ymin = min(les.centre_mm[1] - les.outer_mm for les in lesions) - margin
    ymax = max(les.centre_mm[1] + les.outer_mm for les in lesions) + margin
    # Snap to the texel lattice through the first lesion's centre, so the truth of a lesion does
    # not depend on where the others are.
    j0, i0 = math.floor(xmin / TEXEL_MM), math.floor(ymin / TEXEL_MM)
    w = math.ceil(xmax / TEXEL_MM) - j0 + 1
    h = math.ceil(ymax / TEXEL_MM) - i0 + 1
    labels = np.zeros((h, w), dtype=np.uint8)
    detail = np.zeros((h, w, 3), dtype=np.uint8)
    counts: list[dict[int, int]] = []
    ery_texels = spec.erythema_width_mm / TEXEL_MM
    shade_mm = 1.5
    for lesion in lesions:
        # Local window around the lesion, in texels.
        cj = round(lesion.centre_mm[0] / TEXEL_MM) - j0
        ci = round(lesion.centre_mm[1] / TEXEL_MM) - i0
        half = math.ceil(lesion.outer_mm / TEXEL_MM) + 4
        wj0, wi0 = max(cj - half, 0), max(ci - half, 0)
        wj1, wi1 = min(cj + half + 1, w), min(ci + half + 1, h)
        shape = (wi1 - wi0, wj1 - wj0)
        outline = lesion.outline_mm() / TEXEL_MM - np.array([j0 + wj0, i0 + wi0])
        wound = _fill_polygon(shape, outline)

        # Tissue layout: calciphylaxis-like necrosis sits centrally, slough around and between it,
        # granulation at the rim; smooth noise breaks the rings into irregular patches. Thresholds
        # are quantiles, so the fractions are exact to the texel.
        yy, xx = np.nonzero(wound)
        px = (xx + wj0 + j0) * TEXEL_MM - lesion.centre_mm[0]
        py = (yy + wi0 + i0) * TEXEL_MM - lesion.centre_mm[1]
        dist = np.hypot(px, py)
        edge_mm = lesion.radius_at(np.arctan2(py, px))
        rho = dist / edge_mm
        corr = 0.45 * lesion.radius_mm / TEXEL_MM
        n1 = _smooth_field(rng, shape, corr)[yy, xx]
        n2 = _smooth_field(rng, shape, 0.6 * corr)[yy, xx]
        n_wound = yy.size
        n_eschar = round(spec.eschar_fraction * n_wound)
        n_slough = min(round(spec.slough_fraction * n_wound), n_wound - n_eschar)
        eschar = _take_lowest(rho + 0.35 * n1, n_eschar)
        rest = np.flatnonzero(~eschar)
        slough = np.zeros(n_wound, dtype=bool)
        slough[rest[_take_lowest((0.6 * rho + 0.3 * n2)[rest], n_slough)]] = True
        tissue = np.full(n_wound, GRANULATION, dtype=np.uint8)
        tissue[slough] = SLOUGH
        tissue[eschar] = ESCHAR

        local = np.zeros(shape, dtype=np.uint8)
        local[yy, xx] = tissue
        ldetail = np.zeros((*shape, 3), dtype=np.uint8)
        if ery_texels > 0:
            outside = cv2.distanceTransform(
                (~wound).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
            )
            ring = (~wound) & (outside <= ery_texels)
            local[ring] = ERYTHEMA
            strength = 1.0 - 0.3 * outside[ring] / ery_texels
            ldetail[ring, 1] = np.round(255 * strength).astype(np.uint8)
        # Darker rim of the wound bed (the edge casts a little shadow into it); the radial gap
        # to the outline stands in for the distance to it, which is plenty for shading.
        shade = np.clip(1.0 - (edge_mm - dist) / shade_mm, 0.0, 1.0)
        ldetail[yy, xx, 2] = np.round(255 * shade).astype(np.uint8)
        ldetail[..., 0] = _draw_cracks(local == ESCHAR, rng)

        region = (slice(wi0, wi1), slice(wj0, wj1))
        painted = local > 0
        labels[region][painted] = local[painted]
        detail[region][painted] = ldetail[painted]
        histogram = np.bincount(local.ravel(), minlength=5)
        counts.append({k: int(histogram[k]) for k in range(1, 5)})
    grid = _Grid(x0_mm=j0 * TEXEL_MM, y0_mm=i0 * TEXEL_MM, labels=labels, detail=detail)
    return grid, counts


def _draw_cracks(eschar: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A few thin, jagged fissures across the eschar (colour only; the label stays eschar)."""
    canvas = np.zeros(eschar.shape, dtype=np.uint8)
    yy, xx = np.nonzero(eschar)
    if yy.size < 400:
        return canvas
    n_cracks = int(rng.integers(2, 5))
    for _ in range(n_cracks):
        k = int(rng.integers(yy.size))
        point = np.array([xx[k], yy[k]], dtype=np.float64)
        heading = rng.uniform(0, 2 * math.pi)
        pts = [point.copy()]
        for _ in range(int(rng.integers(6, 16))):
            heading += rng.normal(0, 0.3)
            point = point + 0.8 / TEXEL_MM * np.array([math.cos(heading), math.sin(heading)])
            pts.append(point.copy())
        poly = np.round(np.array(pts) * 16).astype(np.int32)
        thickness = max(int(rng.uniform(0.1, 0.25) / TEXEL_MM), 1)
        cv2.polylines(canvas, [poly], False, 255, thickness, cv2.LINE_AA, shift=4)
    canvas[~eschar] = 0
    return canvas


# --------------------------------------------------------------------------------------------
# Camera


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    rvec = (axis / np.linalg.norm(axis) * angle).reshape(3, 1)
    return cv2.Rodrigues(rvec)[0]


def _camera(spec: PhantomSpec, scene_mm: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Homography plane mm -> displayed px, focal length in px and distance in mm."""
    w_px, h_px = spec.width_px, spec.height_px
    focal = spec.focal_35mm / math.hypot(36.0, 24.0) * math.hypot(w_px, h_px)
    k_mat = np.array([[focal, 0, (w_px - 1) / 2], [0, focal, (h_px - 1) / 2], [0, 0, 1.0]])
    az = math.radians(spec.tilt_azimuth_deg)
    rot = _rotation(np.array([0, 0, 1.0]), math.radians(spec.roll_deg)) @ _rotation(
        np.array([math.cos(az), math.sin(az), 0.0]), math.radians(spec.tilt_deg)
    )
    lo, hi = scene_mm.min(axis=0), scene_mm.max(axis=0)
    look_at = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0])

    def homography(distance: float) -> np.ndarray:
        t = np.array([0, 0, distance]) - rot @ look_at
        return k_mat @ np.column_stack([rot[:, 0], rot[:, 1], t])

    def project(hom: np.ndarray, pts: np.ndarray) -> np.ndarray:
        p = np.column_stack([pts, np.ones(len(pts))]) @ hom.T
        return p[:, :2] / p[:, 2:3]

    span_mm = float(np.max(hi - lo))
    distance = focal * span_mm / (spec.wound_fill_frac * w_px)
    for _ in range(3):  # projected size ~ 1/distance; correct for tilt and roll
        p = project(homography(distance), scene_mm)
        extent = float(np.max(p.max(axis=0) - p.min(axis=0)))
        distance *= extent / (spec.wound_fill_frac * w_px)
    margin = 0.04 * min(w_px, h_px)
    for _ in range(200):
        hom = homography(distance)
        p = project(hom, scene_mm)
        if (
            p[:, 0].min() >= margin
            and p[:, 1].min() >= margin
            and p[:, 0].max() <= w_px - 1 - margin
            and p[:, 1].max() <= h_px - 1 - margin
        ):
            break
        distance *= 1.05
    else:  # pragma: no cover - 1.05**200 always fits a scene in front of the camera
        raise ValueError("phantom scene cannot be fitted in the image")
    # Every image corner must see the plane in front of the camera.
    inv = np.linalg.inv(hom)
    corners = np.array([[0, 0, 1], [w_px - 1, 0, 1], [0, h_px - 1, 1], [w_px - 1, h_px - 1, 1.0]])
    rays = corners @ np.linalg.inv(k_mat).T
    depth = (rays @ rot[:, 2]) * 1.0  # sign of the ray's component along the plane normal
    if np.any(depth <= 0.05 * np.linalg.norm(rays, axis=1)) or np.any(
        np.abs((corners @ inv.T)[:, 2]) < 1e-12
    ):
        raise ValueError(
            f"PhantomSpec tilt_deg={spec.tilt_deg} with focal_35mm={spec.focal_35mm} shows the "
            "horizon of the skin plane; use a smaller tilt or a longer focal length"
        )
    return hom, focal, distance


def _apply_h(hom: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = hom[2, 0] * x + hom[2, 1] * y + hom[2, 2]
    return (hom[0, 0] * x + hom[0, 1] * y + hom[0, 2]) / w, (
        hom[1, 0] * x + hom[1, 1] * y + hom[1, 2]
    ) / w


# --------------------------------------------------------------------------------------------
# Colour


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)


def _lab_to_linear(lab: np.ndarray) -> np.ndarray:
    """Linear sRGB in [0, 1] of a CIELAB colour (D65, the white of sRGB).

    ``skimage.color.lab2rgb`` (which clips out-of-gamut colours to [0, 1]) decoded by
    :func:`_srgb_to_linear`: the same clipped linear RGB as inverting CIELAB to XYZ and XYZ to
    linear sRGB by hand, within 1e-4 (scikit-image's sRGB matrix has 6 digits, not 7).
    """
    return _srgb_to_linear(255.0 * lab2rgb(np.asarray(lab, dtype=np.float64)))


def _skin_lab(tone: float) -> np.ndarray:
    """CIELAB (D65) of skin ``tone`` in [0, 1]: ``skimage.color.rgb2lab`` of the anchors, mixed."""
    anchors = rgb2lab(np.array(_SKIN_ANCHORS_SRGB, dtype=np.float64) / 255.0)
    pos = tone * (len(anchors) - 1)
    i = min(int(pos), len(anchors) - 2)
    return anchors[i] + (pos - i) * (anchors[i + 1] - anchors[i])


def _blackbody_rgb(kelvin: float) -> np.ndarray:
    """Linear sRGB of a Planckian radiator (Kim et al. 2002 cubic fit of the locus), Y = 1."""
    t = kelvin
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    xyz = np.array([x / y, 1.0, (1 - x - y) / y])
    return np.linalg.solve(_RGB_TO_XYZ, xyz)


def _colour_gains(kelvin: float) -> np.ndarray:
    # Light of `kelvin` seen by a camera balanced for 5500 K. Phones' auto white balance removes
    # roughly half of a cast, so the residual is the square root of the full ratio (at 3000 K that
    # is R x1.4, B x0.6: a clearly warm photo, as under a bedside lamp).
    ratio = _blackbody_rgb(kelvin) / _blackbody_rgb(5500.0)
    gains = np.sqrt(ratio / ratio[1])
    return gains / gains[1]


def _periodic_tiles(
    rng: np.random.Generator, size: int, sigmas: tuple[float, ...], band: bool = False
) -> np.ndarray:
    """(size, size, n) float32 unit-variance noise, periodic, one channel per sigma (texels)."""
    f2 = np.fft.fftfreq(size)[:, None] ** 2 + np.fft.rfftfreq(size)[None, :] ** 2
    out = np.empty((size, size, len(sigmas)), dtype=np.float32)
    for c, sigma in enumerate(sigmas):
        spectrum = np.fft.rfft2(rng.standard_normal((size, size), dtype=np.float32))
        gain = np.exp(-2 * math.pi**2 * sigma**2 * f2)
        if band:  # blobs of about sigma: remove what is much larger
            gain = gain - np.exp(-2 * math.pi**2 * (3 * sigma) ** 2 * f2)
        tile = np.fft.irfft2(spectrum * gain, s=(size, size))
        out[..., c] = (tile - tile.mean()) / (tile.std() + 1e-12)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class _Palette:
    skin: np.ndarray  # linear RGB, float32
    erythema_ratio: np.ndarray  # per-channel linear ratio of full-strength erythema to skin
    skin_fine: np.ndarray  # periodic tiles of 0.05 mm texels (fine) and 0.5 mm texels (mid)
    skin_mid: np.ndarray
    fine: np.ndarray
    mid: np.ndarray
    offsets_mm: np.ndarray  # (4, 2): where on each tile this patient's skin and wound begin


_FINE_MM, _MID_MM = 0.05, 0.5


def _make_palette(spec: PhantomSpec, rng: np.random.Generator) -> _Palette:
    skin_lab = _skin_lab(spec.skin_tone)
    skin = _lab_to_linear(skin_lab)
    ery = _lab_to_linear(skin_lab + np.array(_ERYTHEMA_DLAB))
    skin_fine, skin_mid, fine, mid = _texture_tiles()
    return _Palette(
        skin=skin.astype(np.float32),
        erythema_ratio=ery / np.maximum(skin, 1e-6),
        skin_fine=skin_fine,
        skin_mid=skin_mid,
        fine=fine,
        mid=mid,
        offsets_mm=rng.uniform(0.0, 512 * _MID_MM, size=(4, 2)),
    )


@functools.lru_cache(maxsize=1)
def _texture_tiles() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # One fixed set of periodic tiles (read-only, ~9 MB), made once: the FFTs would otherwise be
    # half of a small render's time. Each patient samples them from its own random offsets.
    rng = np.random.default_rng(20261124)
    # Skin: pores (fine), mottling and a slight red/blue tint variation (mid).
    skin_fine = np.ascontiguousarray(_periodic_tiles(rng, 512, (2.0,), band=True)[..., 0])
    skin_fine.flags.writeable = False
    skin_mid = _periodic_tiles(rng, 512, (8.0, 6.0))
    # Wound, fine: granulation granules, slough fibres / eschar grain, specular glints.
    fine = _periodic_tiles(rng, 512, (8.0, 3.0, 1.5), band=True)
    # Wound, mid: slough hue, eschar black/brown, granulation tone and erythema patchiness.
    mid = _periodic_tiles(rng, 512, (5.0, 4.0, 3.0))
    return skin_fine, skin_mid, fine, mid


#: cv2.remap keeps a map coordinate's whole part in 16 bits: beyond this, wrap it first
_REMAP_MAX = 32000.0


def _sample_tile(tile: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, texel: float) -> np.ndarray:
    mx = x_mm.astype(np.float32) / np.float32(texel)
    my = y_mm.astype(np.float32) / np.float32(texel)
    # BORDER_WRAP wraps any coordinate remap can hold (16-bit whole part) onto the tile, so the
    # modulo is needed only far out; it took half of this function's time. (Without it a small
    # negative coordinate keeps its float32 precision, which 512 - x rounds away: 128 pixels of a
    # 2 MP phantom moved by at most 2 grey levels.)
    n = np.float32(tile.shape[0])
    for m in (mx, my):
        if max(-float(m.min()), float(m.max())) > _REMAP_MAX:
            np.mod(m, n, out=m)
    return cv2.remap(tile, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def _skin_colour(pal: _Palette, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Linear RGB (float32) of bare skin at the given plane points."""
    (fx, fy), (mx, my) = pal.offsets_mm[0], pal.offsets_mm[1]
    fine = _sample_tile(pal.skin_fine, x_mm + fx, y_mm + fy, _FINE_MM)
    mid = _sample_tile(pal.skin_mid, x_mm + mx, y_mm + my, _MID_MM)
    lum = 1.0 + 0.03 * fine + 0.025 * mid[..., 0]
    tint = 0.015 * mid[..., 1]
    col = np.empty((*x_mm.shape, 3), dtype=np.float32)
    col[..., 0] = pal.skin[0] * lum * (1.0 + tint)
    col[..., 1] = pal.skin[1] * lum
    col[..., 2] = pal.skin[2] * lum * (1.0 - tint)
    return col


def _shade(
    spec: PhantomSpec,
    grid: _Grid,
    sticker: _Sticker | None,
    pal: _Palette,
    x_mm: np.ndarray,
    y_mm: np.ndarray,
) -> np.ndarray:
    """Linear RGB (float32) of the plane at the given points (2-D arrays of plane mm)."""
    granulation, granulation_dark, slough, slough_other = TISSUE_COLOURS[spec.tissue_colours]
    col = _skin_colour(pal, x_mm, y_mm)
    (fx, fy), (mx, my) = pal.offsets_mm[2], pal.offsets_mm[3]
    fine = _sample_tile(pal.fine, x_mm + fx, y_mm + fy, _FINE_MM)
    mid = _sample_tile(pal.mid, x_mm + mx, y_mm + my, _MID_MM)

    gx = ((x_mm - grid.x0_mm) / TEXEL_MM).astype(np.float32)
    gy = ((y_mm - grid.y0_mm) / TEXEL_MM).astype(np.float32)
    lab = _grid_labels(grid, x_mm, y_mm)
    if np.any(lab):
        det = cv2.remap(grid.detail, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        det = det.astype(np.float32) / 255.0
        m = lab == ERYTHEMA
        if np.any(m):
            strength = np.clip(det[m, 1] * (1.0 + 0.12 * mid[m, 2]), 0.0, 1.0)
            col[m] *= np.power(pal.erythema_ratio[None, :], strength[:, None]).astype(np.float32)
        m = lab == GRANULATION
        if np.any(m):
            t = np.clip(0.5 + 0.35 * mid[m, 2], 0, 1)[:, None]
            base = (1 - t) * _srgb_to_linear(granulation_dark) + t * _srgb_to_linear(granulation)
            c = base * np.clip(1.0 + 0.28 * fine[m, 0], 0.4, 1.8)[:, None]
            glint = np.clip(fine[m, 2] - 2.2, 0, None)[:, None] * 0.25
            col[m] = (c + glint).astype(np.float32)
        m = lab == SLOUGH
        if np.any(m):
            t = np.clip(0.5 + 0.4 * mid[m, 0], 0, 1)[:, None]
            base = (1 - t) * _srgb_to_linear(slough) + t * _srgb_to_linear(slough_other)
            c = base * np.clip(1.0 + 0.10 * fine[m, 1] + 0.06 * mid[m, 1], 0.6, 1.3)[:, None]
            col[m] = c.astype(np.float32)
        m = lab == ESCHAR
        if np.any(m):
            t = np.clip(0.35 + 0.35 * mid[m, 1], 0, 1)[:, None]
            base = (1 - t) * _srgb_to_linear(_ESCHAR_SRGB) + t * _srgb_to_linear(_ESCHAR_BROWN_SRGB)
            c = base * np.clip(1.0 + 0.15 * fine[m, 1], 0.6, 1.5)[:, None]
            crack = det[m, 0][:, None]
            c = (1 - crack) * c + crack * _srgb_to_linear(_CRACK_SRGB)
            glint = np.clip(fine[m, 2] - 2.6, 0, None)[:, None] * 0.08
            col[m] = (c + glint).astype(np.float32)
        wound = (lab >= GRANULATION) & (lab <= ESCHAR)
        if np.any(wound):
            col[wound] *= (1.0 - 0.3 * det[wound, 2])[:, None]

    if sticker is not None:
        lx, ly = sticker.to_local(x_mm, y_mm)
        q = sticker.marker_mm * QUIET_ZONE_FRACTION
        m_mm = sticker.marker_mm
        paper = (lx >= -q) & (lx < m_mm + q) & (ly >= -q) & (ly < m_mm + q)
        if np.any(paper):
            cell = m_mm / _MARKER_CELLS
            ci = np.clip(np.floor(ly[paper] / cell), -1, _MARKER_CELLS).astype(np.int64)
            cj = np.clip(np.floor(lx[paper] / cell), -1, _MARKER_CELLS).astype(np.int64)
            inside = (ci >= 0) & (ci < _MARKER_CELLS) & (cj >= 0) & (cj < _MARKER_CELLS)
            ink = np.zeros(ci.shape, dtype=bool)
            ink[inside] = sticker.cells[ci[inside], cj[inside]]
            grain = 1.0 + 0.012 * fine[paper, 1]
            c = (
                np.where(ink[:, None], _srgb_to_linear(_INK_SRGB), _srgb_to_linear(_PAPER_SRGB))
                * grain[:, None]
            )
            col[paper] = c.astype(np.float32)
    return col


def _grid_labels(grid: _Grid, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Nearest texel's label at the given plane points (0 off the grid)."""
    h, w = grid.labels.shape
    j = np.rint((x_mm - grid.x0_mm) / TEXEL_MM)
    i = np.rint((y_mm - grid.y0_mm) / TEXEL_MM)
    ok = (i >= 0) & (i < h) & (j >= 0) & (j < w)
    out = np.zeros(x_mm.shape, dtype=np.uint8)
    out[ok] = grid.labels[i[ok].astype(np.int64), j[ok].astype(np.int64)]
    return out


# --------------------------------------------------------------------------------------------
# Rendering


def _render(spec: PhantomSpec) -> tuple[Phantom, bytes | None]:
    lesion_seed = spec.seed if spec.lesion_seed is None else spec.lesion_seed
    lesions = _make_lesions(spec, _rng(lesion_seed, _STREAM_LESIONS))
    grid, counts = _build_grid(spec, lesions, _rng(lesion_seed, _STREAM_TISSUE))
    sticker = (
        _place_sticker(spec, lesions, _rng(spec.seed, _STREAM_STICKER))
        if spec.with_sticker
        else None
    )
    outlines = [les.outline_mm() for les in lesions]
    scene = [
        np.column_stack(
            [
                les.centre_mm[0] + les.outer_mm * np.cos(t),
                les.centre_mm[1] + les.outer_mm * np.sin(t),
            ]
        )
        for les in lesions
        for t in [np.linspace(0, 2 * math.pi, 90, endpoint=False)]
    ]
    if sticker is not None:
        scene.append(sticker.paper_corners_mm())
    hom, focal, distance = _camera(spec, np.vstack(scene))
    inv = np.linalg.inv(hom)
    pal = _make_palette(spec, _rng(lesion_seed, _STREAM_SKIN))
    w_px, h_px = spec.width_px, spec.height_px

    # Whole frame at one sample per pixel: skin only (smooth, needs no supersampling), in
    # float32, which is ample for a texture.
    inv32 = inv.astype(np.float32)
    xs = np.arange(w_px, dtype=np.float32)[None, :]
    ys = np.arange(h_px, dtype=np.float32)[:, None]
    den = inv32[2, 0] * xs + inv32[2, 1] * ys + inv32[2, 2]
    u = (inv32[0, 0] * xs + inv32[0, 1] * ys + inv32[0, 2]) / den
    v = (inv32[1, 0] * xs + inv32[1, 1] * ys + inv32[1, 2]) / den
    del den
    linear = _skin_colour(pal, u, v)
    del u, v
    labels = np.zeros((h_px, w_px), dtype=np.uint8)

    # Region of interest (grid and sticker) at 2x2 samples per pixel, averaged (= INTER_AREA).
    gh, gw = grid.labels.shape
    roi_pts = [
        np.array(
            [
                [grid.x0_mm, grid.y0_mm],
                [grid.x0_mm + gw * TEXEL_MM, grid.y0_mm],
                [grid.x0_mm, grid.y0_mm + gh * TEXEL_MM],
                [grid.x0_mm + gw * TEXEL_MM, grid.y0_mm + gh * TEXEL_MM],
            ]
        )
    ]
    if sticker is not None:
        roi_pts.append(sticker.paper_corners_mm())
    rp = np.vstack(roi_pts)
    rx, ry = _apply_h(hom, rp[:, 0], rp[:, 1])
    x_a, x_b = max(int(rx.min()) - 3, 0), min(int(math.ceil(rx.max())) + 4, w_px)
    y_a, y_b = max(int(ry.min()) - 3, 0), min(int(math.ceil(ry.max())) + 4, h_px)
    if x_b > x_a and y_b > y_a:
        s = _SUPERSAMPLE
        sx = x_a + (np.arange((x_b - x_a) * s) + 0.5) / s - 0.5
        sy = y_a + (np.arange((y_b - y_a) * s) + 0.5) / s - 0.5
        spx, spy = np.meshgrid(sx, sy)
        su, sv = _apply_h(inv, spx, spy)
        del spx, spy
        roi = _shade(spec, grid, sticker, pal, su, sv)
        roi = roi.reshape(y_b - y_a, s, x_b - x_a, s, 3).mean(axis=(1, 3))
        linear[y_a:y_b, x_a:x_b] = roi
        # Truth labels: the texel nearest to each pixel centre (the grid lies inside the ROI).
        px, py = np.meshgrid(
            np.arange(x_a, x_b, dtype=np.float64), np.arange(y_a, y_b, dtype=np.float64)
        )
        labels[y_a:y_b, x_a:x_b] = _grid_labels(grid, *_apply_h(inv, px, py))

    # Illumination and camera.
    light_rng = _rng(spec.seed, _STREAM_LIGHT)
    gains = _colour_gains(spec.colour_temperature_k)
    illum = _illumination(spec, light_rng)
    paper_lin = float(_srgb_to_linear(_PAPER_SRGB).max())
    exposure = min(1.0, 0.93 / (paper_lin * float(illum.max()) * float(gains.max())))
    linear *= (illum * exposure)[..., None]
    linear *= gains.astype(np.float32)[None, None, :]
    if spec.blur_sigma_px > 0:
        linear = cv2.GaussianBlur(linear, (0, 0), spec.blur_sigma_px)
    srgb = _encode_srgb(linear)
    if spec.noise_sigma > 0:
        noise_rng = _rng(spec.seed, _STREAM_NOISE)
        srgb += noise_rng.standard_normal(srgb.shape, dtype=np.float32) * spec.noise_sigma
    image = np.clip(np.rint(srgb), 0, 255).astype(np.uint8)

    jpeg_bytes: bytes | None = None
    if spec.jpeg_quality is not None:
        stored = _to_stored(Image.fromarray(image), spec.exif_orientation)
        buffer = io.BytesIO()
        stored.save(buffer, format="JPEG", quality=spec.jpeg_quality, exif=_exif_bytes(spec))
        jpeg_bytes = buffer.getvalue()
        with Image.open(io.BytesIO(jpeg_bytes)) as decoded:
            image = np.asarray(ImageOps.exif_transpose(decoded).convert("RGB")).copy()

    truth = _truth(spec, lesions, outlines, counts, sticker, hom, focal, distance, gains)
    return Phantom(image=image, labels=labels, truth=truth, spec=spec), jpeg_bytes


def _illumination(spec: PhantomSpec, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative light field, max/min = 1 + light_gradient, mean about 1."""
    h, w = spec.height_px, spec.width_px
    if spec.light_gradient <= 0:
        return np.ones((h, w), dtype=np.float32)
    # A directional ramp (one side of the limb nearer the window) plus a soft spot (the flash or
    # a lamp), computed on a coarse grid: the field is smooth anyway.
    scale = max(h, w) / 64.0
    ch, cw = max(int(h / scale), 2), max(int(w / scale), 2)
    y, x = np.mgrid[0:ch, 0:cw].astype(np.float64)
    x, y = x / (cw - 1) - 0.5, y / (ch - 1) - 0.5
    a = rng.uniform(0, 2 * math.pi)
    ramp = x * math.cos(a) + y * math.sin(a)
    cx, cy = rng.uniform(-0.4, 0.4, size=2)
    spot = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * rng.uniform(0.25, 0.6) ** 2))
    mix = rng.uniform(0.3, 0.7)
    field = mix * ramp + (1 - mix) * spot
    field = (field - field.min()) / (field.max() - field.min() + 1e-12)
    small = (1.0 + spec.light_gradient * field).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    big = np.clip(big, small.min(), small.max())
    return big / float(big.mean())


def _encode_srgb(linear: np.ndarray) -> np.ndarray:
    # A 16-bit lookup table is ~10x faster than pow() on a 12 MP float image and exact to 0.004.
    lut = _linear_to_srgb(np.arange(65536) / 65535.0).astype(np.float32)
    idx = np.clip(linear * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    return lut[idx]


def _truth(
    spec: PhantomSpec,
    lesions: list[_Lesion],
    outlines: list[np.ndarray],
    counts: list[dict[int, int]],
    sticker: _Sticker | None,
    hom: np.ndarray,
    focal: float,
    distance: float,
    gains: np.ndarray,
) -> PhantomTruth:
    texel_mm2 = TEXEL_MM * TEXEL_MM
    per = {k: tuple(c[k] * texel_mm2 for c in counts) for k in (1, 2, 3, 4)}
    lesion_areas = tuple(g + s + e for g, s, e in zip(per[1], per[2], per[3], strict=True))
    centres = np.array([les.centre_mm for les in lesions])
    cx, cy = _apply_h(hom, centres[:, 0], centres[:, 1])
    # Local area scale of a homography: det(J) = det(H) / w^3 (px² per mm²).
    w0 = hom[2, 0] * centres[0, 0] + hom[2, 1] * centres[0, 1] + hom[2, 2]
    px2_per_mm2 = abs(np.linalg.det(hom) / w0**3)
    if sticker is not None:
        mc = sticker.marker_corners_mm()
        mx, my = _apply_h(hom, mc[:, 0], mc[:, 1])
        marker_mm_pts = tuple((float(a), float(b)) for a, b in mc)
        marker_px_pts = tuple((float(a), float(b)) for a, b in zip(mx, my, strict=True))
    else:
        marker_mm_pts, marker_px_pts = (), ()
    return PhantomTruth(
        wound_area_mm2=float(sum(lesion_areas)),
        granulation_area_mm2=float(sum(per[GRANULATION])),
        slough_area_mm2=float(sum(per[SLOUGH])),
        eschar_area_mm2=float(sum(per[ESCHAR])),
        erythema_area_mm2=float(sum(per[ERYTHEMA])),
        lesion_areas_mm2=tuple(float(a) for a in lesion_areas),
        lesion_granulation_areas_mm2=tuple(float(a) for a in per[GRANULATION]),
        lesion_slough_areas_mm2=tuple(float(a) for a in per[SLOUGH]),
        lesion_eschar_areas_mm2=tuple(float(a) for a in per[ESCHAR]),
        lesion_erythema_areas_mm2=tuple(float(a) for a in per[ERYTHEMA]),
        lesion_centres_mm=tuple((float(a), float(b)) for a, b in centres),
        lesion_centres_px=tuple((float(a), float(b)) for a, b in zip(cx, cy, strict=True)),
        lesion_outlines_mm=tuple(tuple((float(a), float(b)) for a, b in o) for o in outlines),
        marker_area_mm2=spec.marker_mm**2,
        marker_mm=spec.marker_mm,
        marker_id=spec.marker_id,
        marker_corners_mm=marker_mm_pts,
        marker_corners_px=marker_px_pts,
        mm_per_px_at_wound=float(1.0 / math.sqrt(px2_per_mm2)),
        plane_to_image=tuple(tuple(float(v) for v in row) for row in hom),
        tilt_deg=spec.tilt_deg,
        focal_px=float(focal),
        distance_mm=float(distance),
        colour_gains=(float(gains[0]), float(gains[1]), float(gains[2])),
    )


# --------------------------------------------------------------------------------------------
# File output helpers


def _to_stored(image: Image.Image, orientation: int) -> Image.Image:
    method = _STORE_TRANSPOSE[orientation]
    return image if method is None else image.transpose(method)


def _exif_bytes(spec: PhantomSpec) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = spec.exif_orientation  # Orientation
    exif[0x010F] = "woundtrack"  # Make
    exif[0x0110] = "phantom"  # Model
    exif[0x0131] = f"woundtrack.synthetic.phantom seed={spec.seed}"  # Software
    sub = exif.get_ifd(0x8769)  # Exif sub-IFD
    sub[0xA405] = round(spec.focal_35mm)  # FocalLengthIn35mmFilm
    if spec.taken_at is not None:
        sub[0x9003] = spec.taken_at.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
        offset = spec.taken_at.utcoffset()
        if offset is not None:
            sub[0x9011] = _format_offset(offset)  # OffsetTimeOriginal
    return exif.tobytes()


def _format_offset(offset: timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


__all__ = [
    "Phantom",
    "PhantomSpec",
    "PhantomTruth",
    "QUIET_ZONE_FRACTION",
    "TEXEL_MM",
    "random_spec",
    "render_phantom",
    "write_phantom",
]
