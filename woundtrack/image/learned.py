"""The learned segmenter: one network finds the wound bed, a second splits it into tissues.

Owns how the shipped networks (``weights/wound_bed.onnx`` and ``weights/tissue.onnx``, see
``weights/MODEL_CARD.md``) are run on a real photo of any size, with onnxruntime on the CPU:

1. **Whole photo** at 512 px on its long side: where is the wound? If nothing is found there in a
   larger photo, again at 768 px: a small wound in a large frame is a few pixels at 512.
2. **Region of interest**: the box around every wound pixel found, grown by ``roi_margin``, is run
   again at 384 px, so a wound that is small in a large photo is seen with detail. The sticker is
   never wound.

   These sizes are for a network that learned from FUSeg's 512x512 close-ups at their own size. A
   network trained on them scaled down says so in its file (``woundtrack_network_long_side_px``,
   e.g. 320) and the whole-photo passes are scaled to match (``params_for_model``): a network
   finds wounds best at the scale it learned them. The region's pass is not scaled: it magnifies
   a small wound in a large photo as much for every network. Scaled with the rest, it showed a
   model run at 320 px such a wound at 5/8 of the magnification, and the border came out short
   (phantom lesions up to 28 % small; ``training/runs/README.md``, "2026-11-27-region-pass").
   Its magnification is capped at ``roi_max_zoom`` over the first pass, except up to the photo's
   own pixels (``roi_full_resolution``): a small, late wound in a large photo is seen with its
   real detail, while a 512 px photo is never magnified into interpolated pixels beyond the cap.
3. **Full resolution border**: the network's logits are upsampled (bilinear) to the photo's own
   pixels and cut at 0, so the outline, and the area in cm², is not limited to the network's grid.
   Holes inside a closed wound border are wound (a dark centre in a red rim); specks smaller than
   ``SegmentationParams.min_lesion_mm2`` are dropped.
4. **Tissues** inside the bed from the tissue network (granulation, slough or eschar, whichever
   of the three it scores highest), run once on the wound's region (``tissue_scores``), with two
   measured colour checks on eschar (``tissue_from_scores``: the network's eschar must be dark
   and not red; a black patch by the colour rules is eschar unless the network is sure, over
   most of it, that it is granulation or slough: ``black_patches_kept``). Without a tissue network
   (``tissue_session=None``) the classical colour rules split the bed, as before
   (``segmentation.tissue_colours``). Periwound erythema outside the bed comes from colour,
   relative to a ring of the patient's own skin (``segmentation.label_wound``).

``LearnedSegmenter`` is a ``segmentation.Segmenter``; ``wound_bed_logits`` and ``segment_learned``
are the pure functions behind it, with the model as an input.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from woundtrack.errors import ModelError
from woundtrack.image import calibration as cal
from woundtrack.image import segmentation as seg
from woundtrack.image.measure import nearest_lesion
from woundtrack.models import (
    BACKGROUND,
    ESCHAR,
    GRANULATION,
    SLOUGH,
    Calibration,
    LesionMeasurement,
)

MODEL_FILE = "wound_bed.onnx"
TISSUE_MODEL_FILE = "tissue.onnx"
_STRIDE = 32
#: The model's metadata key naming what it finds, and the value of a wound-bed network (a model
#: without the key is a wound-bed model: the first shipped one).
LABELS_KEY = "woundtrack_labels"
WOUND_BED_LABELS_NAME = "wound_bed"
#: The tissue network's ``woundtrack_labels``: four channels, not wound / granulation / slough /
#: eschar (the label values of ``woundtrack.models``).
TISSUE_LABELS_NAME = "tissue"
TISSUE_CHANNELS = ("not wound", "granulation", "slough", "eschar")
#: What ``check_model`` expects of each kind of network: what it finds, its output channels (as a
#: number and in words), and the fix a refused file's message gives.
_NETWORK_KINDS = {
    WOUND_BED_LABELS_NAME: (
        "the wound bed",
        1,
        "one wound-bed channel",
        "give the .onnx file that woundtrack finetune wrote, or use the shipped model",
    ),
    TISSUE_LABELS_NAME: (
        "the tissues",
        len(TISSUE_CHANNELS),
        "four tissue channels",
        "give a tissue network that training.export wrote, or use the shipped one",
    ),
}
#: The metadata key of a fine-tuned model's card (JSON; ``woundtrack.learn.finetune``).
CARD_KEY = "woundtrack_card"


@dataclass(frozen=True, slots=True, kw_only=True)
class LearnedParams:
    """How the network is run; stored with every measurement."""

    network_long_side_px: int = 512  # the whole photo, first pass
    search_long_side_px: int = 768  # again, finer, when the first pass found nothing
    roi_long_side_px: int = 384  # the wound's region, second pass (twice: with its mirror)
    roi_margin: float = 0.5  # the wound's box grows by this share of its size on every side
    roi_min_zoom: float = 1.4  # the second pass runs only if it magnifies at least this much ...
    roi_max_zoom: float = 2.5  # ... and magnifies at most this much (the box grows to fit)
    roi_full_resolution: float = 1.0  # ... unless the photo has that many px: to 1 net px / px
    roi_blend: float = 0.75  # weight of the second pass in the region (the first keeps context)
    roi_flip: bool = True  # average the second pass with its mirror image (steadier borders)
    colour_band_mm: float = 2.0  # colour may grow the border outward by this much ...
    colour_band_frac: float = 0.004  # ... or this share of the long side when uncalibrated
    tissue_long_side_px: int = 384  # the tissue network sees the wound's region at most this big
    tissue_max_zoom: float = 1.0  # ... and magnified at most this much over the photo at 512 px
    colour_eschar: bool = True  # a black patch by the colour rule (no spreading) is eschar ...
    black_veto_logit: float = 4.0  # ... unless the network scores granulation or slough this
    # much above eschar on most of the patch (shaded beefy granulation is "black" to colour) ...
    black_veto_min_net_px: float = 16.0  # ... and the patch is this big in the network's pixels
    eschar_max_l: float = 50.0  # the network's eschar must be this dark (flat-fielded L*) ...
    red_min_chroma: float = 25.0  # ... and not red (hue < 45°) with a chroma above this
    tissue: seg.SegmentationParams = field(default_factory=seg.SegmentationParams)


REFERENCE_LONG_SIDE_PX = 512  # LearnedParams' pass sizes are for a network run at this size


def params_for_model(session, base: LearnedParams = LearnedParams()) -> LearnedParams:
    """``base`` at the model's own scale: its ONNX metadata ``woundtrack_network_long_side_px``
    is the long side that a FUSeg-like 512 px close-up is resized to for it (the scale it was
    trained at, measured); absent, 512."""
    meta = session.get_modelmeta().custom_metadata_map
    long_side_px = int(meta.get("woundtrack_network_long_side_px", REFERENCE_LONG_SIDE_PX))
    return scaled_params(base, long_side_px)


def scaled_params(base: LearnedParams, network_long_side_px: int) -> LearnedParams:
    """``base`` with the whole-photo passes (first and search) scaled by
    ``network_long_side_px`` / 512, rounded to a multiple of 32.

    The region's pass keeps ``base``'s size and its largest magnification of the photo: its
    ``roi_max_zoom``, relative to the now smaller first pass, grows to match."""
    if network_long_side_px == REFERENCE_LONG_SIDE_PX:
        return base
    f = network_long_side_px / REFERENCE_LONG_SIDE_PX

    def scaled(px: int) -> int:
        return max(_STRIDE, round(px * f / _STRIDE) * _STRIDE)

    first_px = scaled(base.network_long_side_px)
    return dataclasses.replace(
        base,
        network_long_side_px=first_px,
        search_long_side_px=scaled(base.search_long_side_px),
        roi_max_zoom=base.roi_max_zoom * base.network_long_side_px / first_px,
    )


def load_model(path: str, threads: int | None = None):
    """An onnxruntime session for the ONNX file at ``path`` (cached; never mutated).

    It runs on ``threads`` threads: every core when None, or ``$WOUNDTRACK_THREADS`` when that is
    set (a batch worker of one thread sets it, so that workers do not crowd each other's cores).
    Photos measured side by side (``image.side_by_side``) share one session of one thread.
    """
    # one cache key however it is called: ``load_model(p)`` and ``load_model(p, None)`` made two
    # sessions of each network (a single photo's start-up loaded four)
    return _session(path, threads)


@functools.lru_cache(maxsize=8)
def _session(path: str, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is None:
        env = os.environ.get("WOUNDTRACK_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else None
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def default_model_path() -> Path:
    return Path(str(resources.files("woundtrack") / "weights" / MODEL_FILE))


def default_tissue_model_path() -> Path:
    return Path(str(resources.files("woundtrack") / "weights" / TISSUE_MODEL_FILE))


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """What ``check_model`` read from a model file."""

    version: str
    base_version: str | None
    sha256: str
    size_bytes: int
    card: dict | None  # what a fine-tune wrote about itself (``woundtrack_card``); None if shipped


def check_model(data: bytes, *, name: str, labels: str = WOUND_BED_LABELS_NAME) -> ModelInfo:
    """Check that ``data`` is a network woundtrack can measure with: onnxruntime loads it, it
    takes (N, 3, H, W) and gives logits of the same size (one channel for the wound bed, four
    for the tissues), finite on a probe image, and its metadata names what it finds as
    ``labels`` (a file that names nothing is a wound-bed network, as the first shipped one).

    Raises
    ------
    ModelError
        Naming ``name`` and what is wrong.
    """
    import onnxruntime as ort

    what, channels, channels_text, fix = _NETWORK_KINDS[labels]
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 4
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own (Fail, InvalidProtobuf, ...) types
        why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ModelError(f"{name} is not an ONNX model that can be run ({why}); {fix}") from None
    meta = session.get_modelmeta().custom_metadata_map
    found = meta.get(LABELS_KEY, WOUND_BED_LABELS_NAME)
    if found != labels:
        raise ModelError(f"{name} is a model for {found!r}, not for {what} ({labels!r}); {fix}")
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4:
        raise ModelError(f"{name} does not take one image and give one map; {fix}")
    try:
        out = session.run(None, {inputs[0].name: np.zeros((1, 3, 64, 64), np.float32)})[0]
    except Exception as exc:  # a model for another input layout fails here
        why = str(exc).splitlines()[0][:160]
        raise ModelError(f"{name} cannot run on a 3-channel photo ({why}); {fix}") from None
    if out.shape != (1, channels, 64, 64) or not np.isfinite(out).all():
        raise ModelError(
            f"{name} gives {tuple(out.shape)} for a 64x64 photo, not {channels_text} of the "
            f"photo's size; {fix}"
        )
    return ModelInfo(
        version=meta.get("woundtrack_model_version", "unknown"),
        base_version=meta.get("woundtrack_base_model_version"),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        card=_card(meta.get(CARD_KEY)),
    )


def _card(text: str | None) -> dict | None:
    try:
        card = json.loads(text) if text else None
    except ValueError:
        return None
    return card if isinstance(card, dict) else None


@functools.lru_cache(maxsize=8)
def file_sha256(path: str, mtime_ns: int) -> str:
    """SHA-256 of the file at ``path`` (cached per modification time)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def model_version(session) -> str:
    meta = session.get_modelmeta().custom_metadata_map
    return meta.get("woundtrack_model_version", "unknown")


def to_input(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float32 in [-1, 1]: the network's input range, the
    one definition that training (``training.train``) and the segmenter share."""
    return images.astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0


def network_input(image: np.ndarray, long_side_px: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The network's input for ``image`` resized to ``long_side_px`` on its long side (aspect
    kept): (1, 3, H, W) float32 in [-1, 1], padded with black (-1) to multiples of 32 as the
    training photos were, and the resized (h, w) that holds the photo."""
    h, w = image.shape[:2]
    scale = long_side_px / max(h, w)
    rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (rw, rh), interpolation=interp)
    ph, pw = -(-rh // _STRIDE) * _STRIDE, -(-rw // _STRIDE) * _STRIDE
    x = np.full((1, 3, ph, pw), -1.0, np.float32)
    x[:, :, :rh, :rw] = to_input(small[None])
    return x, (rh, rw)


def network_logits(
    image: np.ndarray, session, long_side_px: int, *, mirrored: bool = False
) -> np.ndarray:
    """Wound-bed logits of ``image`` resized to ``long_side_px`` on its long side.

    Returns a float32 (h, w) array at the resized size (aspect kept). The input is padded to a
    multiple of 32 with black, as the training photos were. ``mirrored`` also runs the mirror
    image, in the same batch, and returns the mean of the two.
    """
    x, (rh, rw) = network_input(image, long_side_px)
    name = session.get_inputs()[0].name
    out = session.run(None, {name: x})[0][0, 0, :rh, :rw]
    if mirrored:  # two runs of one: a batch of two measured slower on 2 cores (360 vs 326 ms)
        x[0, :, :rh, :rw] = x[0, :, :rh, :rw][:, :, ::-1].copy()
        out = 0.5 * (out + session.run(None, {name: x})[0][0, 0, :rh, :rw][:, ::-1])
    return out


class BedLogits(NamedTuple):
    """What ``wound_bed_logits`` found: the logits over ``box`` and the tissue network's region."""

    logits: np.ndarray  # float32, image[box]'s size; > 0 is wound
    box: tuple[slice, slice]  # the wound's region, at the photo's own resolution
    tissue_box: tuple[slice, slice]  # the region the tissue network sees (holds ``box``)


def region_box(
    found_box_px: tuple[float, float, float, float],
    photo_shape: tuple[int, int],
    params: LearnedParams,
    max_px_per_px: float,
) -> tuple[slice, slice]:
    """The square region around ``found_box_px`` (y0, y1, x0, x1 in photo pixels) that the
    region's pass runs on: grown by ``roi_margin`` on every side, and at least large enough that
    the pass (``roi_long_side_px``) sees it at most ``max_px_per_px`` network pixels per photo
    pixel; clipped to the photo."""
    y0, y1, x0, x1 = found_box_px
    h, w = photo_shape
    side = max(y1 - y0, x1 - x0) * (1 + 2 * params.roi_margin)
    side = max(side, params.roi_long_side_px / max_px_per_px)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    return (
        slice(int(max(0, cy - side / 2)), int(min(h, math.ceil(cy + side / 2)))),
        slice(int(max(0, cx - side / 2)), int(min(w, math.ceil(cx + side / 2)))),
    )


def wound_bed_logits(
    image: np.ndarray,
    session,
    params: LearnedParams = LearnedParams(),
    *,
    exclude: np.ndarray | None = None,
    preview: np.ndarray | None = None,
) -> BedLogits:
    """Wound-bed logits at the photo's own resolution (> 0 is wound), from the two passes.

    Returns ``(logits, box, tissue_box)``: the logits cover ``image[box]``, the region of interest
    around every wound pixel that the first pass found; outside it the network found no wound.
    Working in the box only keeps a 12 MP photo fast. ``tissue_box`` holds ``box``: the context
    the tissue network sees. ``exclude`` (bool, the photo's size) marks what cannot be wound (the
    sticker); it does not draw the box. ``preview``, a smaller copy of the whole photo, saves
    resizing a large photo twice.
    """
    h, w = image.shape[:2]
    source = image if preview is None else preview
    coarse_long_px = params.network_long_side_px
    coarse, found = _first_pass(source, session, coarse_long_px, exclude)
    if not found.any() and max(h, w) >= 1.5 * params.network_long_side_px:
        # nothing at this scale: small wounds in a large frame are found at a finer one
        coarse_long_px = params.search_long_side_px
        coarse, found = _first_pass(source, session, coarse_long_px, exclude)
    ys, xs = np.nonzero(found)
    if len(ys) == 0:
        empty = (slice(0, 0), slice(0, 0))
        return BedLogits(np.full((0, 0), -1.0, np.float32), empty, empty)
    sy, sx = h / coarse.shape[0], w / coarse.shape[1]
    found_box_px = (ys.min() * sy, (ys.max() + 1) * sy, xs.min() * sx, (xs.max() + 1) * sx)
    # the network has seen wounds at about the scale of the photos it learned from: never zoom
    # in further than roi_max_zoom on the first pass (interpolated pixels), except up to the
    # photo's own pixels (roi_full_resolution) where a large photo has them. The tissue network
    # keeps the region of the first rule: its context (the demo's slough was worse without it).
    coarse_px_per_px = coarse_long_px / max(h, w)
    cap_px_per_px = params.roi_max_zoom * coarse_px_per_px
    box = region_box(found_box_px, (h, w), params, max(cap_px_per_px, params.roi_full_resolution))
    tissue_box = region_box(found_box_px, (h, w), params, cap_px_per_px)
    (y0, y1), (x0, x1) = (box[0].start, box[0].stop), (box[1].start, box[1].stop)
    # the first pass, upsampled over the box alone (pixel centres aligned as cv2.resize does)
    to_coarse = np.array(
        [[1 / sx, 0, (x0 + 0.5) / sx - 0.5], [0, 1 / sy, (y0 + 0.5) / sy - 0.5]], np.float64
    )
    logits = cv2.warpAffine(
        coarse,
        to_coarse,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    zoom = (params.roi_long_side_px / max(y1 - y0, x1 - x0)) / coarse_px_per_px
    if zoom >= params.roi_min_zoom:
        roi = network_logits(image[box], session, params.roi_long_side_px, mirrored=params.roi_flip)
        roi = cv2.resize(roi, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        logits = (1 - params.roi_blend) * logits + params.roi_blend * roi
    return BedLogits(logits, box, tissue_box)


def tissue_long_side_px(
    box_shape: tuple[int, int], photo_shape: tuple[int, int], params: LearnedParams
) -> int:
    """The long side the tissue network sees the wound's region at: as the photo at 512 px shows
    it, magnified by at most ``tissue_max_zoom`` and no bigger than ``tissue_long_side_px`` (the
    network learned tissues on close-ups at 0.4-1.35 times that scale)."""
    at_512 = max(box_shape) * REFERENCE_LONG_SIDE_PX / max(photo_shape)
    return int(max(64, min(params.tissue_long_side_px, round(at_512 * params.tissue_max_zoom))))


def tissue_scores(
    region: np.ndarray, session, long_side_px: int, out_shape: tuple[int, int]
) -> np.ndarray:
    """The tissue network's logits for ``region`` (a crop of the photo around the wound), seen
    at ``long_side_px`` on its long side and resized to ``out_shape`` (h, w): (h, w, 4) float32,
    in the order of ``TISSUE_CHANNELS`` (not wound, granulation, slough, eschar)."""
    x, (rh, rw) = network_input(region, long_side_px)
    logits = session.run(None, {session.get_inputs()[0].name: x})[0][0, :, :rh, :rw]
    # (4, rh, rw) -> (h, w, 4): OpenCV resizes the four channels at once
    return cv2.resize(
        np.ascontiguousarray(logits.transpose(1, 2, 0)),
        (out_shape[1], out_shape[0]),
        interpolation=cv2.INTER_LINEAR,
    )


def tissue_from_scores(scores: np.ndarray, lab: np.ndarray, params: LearnedParams) -> np.ndarray:
    """Each pixel's bed tissue from the tissue network's ``scores`` (``tissue_scores``), with
    the colours (``lab``, flat-fielded CIELAB) as a check on eschar.

    Returns the tissue (uint8; 1 granulation, 2 slough, 3 eschar) the network scores highest
    of the three, whatever it says about wound or not (the bed is the wound-bed network's; its
    "not wound" growing the border by 2 mm, as colour does, cost 0.005 of held-out FUSeg Dice),
    except that eschar must look like necrosis: a pixel lighter than ``eschar_max_l`` or dark
    red (``dark_red``) takes the better of granulation and slough instead (the network learned
    eschar from painting, and on phantoms let it bleed into the bright or red tissue around it).
    """
    bed = scores[..., 1:]
    best = bed.argmax(axis=2)
    tissue = (GRANULATION + best).astype(np.uint8)
    not_necrosis = (lab[..., 0] > params.eschar_max_l) | dark_red(lab, params.red_min_chroma)
    demoted = (tissue == ESCHAR) & not_necrosis
    tissue[demoted] = GRANULATION + bed[demoted][:, :2].argmax(axis=1).astype(np.uint8)
    return tissue


def dark_red(lab: np.ndarray, min_chroma: float) -> np.ndarray:
    """Red (hue below 45°: a* > b*) and coloured (chroma above ``min_chroma``) in CIELAB: how
    granulation looks however dark, and how black eschar does not."""
    a, b = lab[..., 1], lab[..., 2]
    return (a > b) & (np.hypot(a, b) > min_chroma)


def _first_pass(image, session, long_side_px, exclude):
    coarse = network_logits(image, session, long_side_px)
    found = coarse > 0
    if exclude is not None and exclude.any():
        found &= ~_resize_mask(exclude, coarse.shape)
    return coarse, found


def clean_wound_bed(wound: np.ndarray, sticker: np.ndarray, min_area_px: float) -> np.ndarray:
    """Drop the sticker and specks below ``min_area_px``; fill holes inside a closed border."""
    bed = wound & ~sticker
    out = np.zeros_like(bed)
    if not bed.any():  # also an empty box: OpenCV's labelling crashes on a 0x0 array
        return out
    # in the box around the bed only (the same result: outside it all is background)
    x, y, w, h = cv2.boundingRect(bed.view(np.uint8))
    part = bed[y : y + h, x : x + w].view(np.uint8)
    count, comp, stats, _ = cv2.connectedComponentsWithStats(part, connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area_px
    out[y : y + h, x : x + w] = seg.fill_holes(keep[comp]) & ~sticker[y : y + h, x : x + w]
    return out


def grow_by_colour(wound: np.ndarray, tissue: np.ndarray, band_px: float) -> np.ndarray:
    """Tissue-coloured pixels just outside the network's border, joined to the wound.

    Colour may only move the border outward, and by at most ``band_px``: a slough or eschar rim
    the network left out is taken back, while a shadow or a sheet further away cannot be. (Only
    slough and eschar colours are offered: red skin around a wound looks like granulation, and
    growing into it cost 2 points of Dice on real photos.)
    """
    r = int(round(band_px))
    if r < 1 or not wound.any():
        return np.zeros_like(wound)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    band = (cv2.dilate(wound.view(np.uint8), kernel) > 0) & ~wound
    near = cv2.dilate(wound.view(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return seg.connected_to(tissue & band, near)


def segment_learned(
    image: np.ndarray,
    session,
    *,
    calibration: Calibration | None = None,
    params: LearnedParams = LearnedParams(),
    tissue_session=None,
) -> np.ndarray:
    """The labels of ``segment_learned_with_doubt`` (same parameters)."""
    return segment_learned_with_doubt(
        image, session, calibration=calibration, params=params, tissue_session=tissue_session
    ).labels


class LearnedLabels(NamedTuple):
    """What ``segment_learned_with_doubt`` found."""

    labels: np.ndarray  # (H, W) uint8: 0 skin/background, 1-3 the bed's tissues, 4 erythema
    outline_doubt: float | None  # ``outline_doubt`` of the wound-bed network; None: no wound
    #: the wound-bed network's logits over ``labels[logits_box]`` (for ``lesion_doubts``); None
    #: from a segmenter that reports only the photo's doubt
    logits: np.ndarray | None = None
    logits_box: tuple[slice, slice] | None = None


def segment_learned_with_doubt(
    image: np.ndarray,
    session,
    *,
    calibration: Calibration | None = None,
    params: LearnedParams = LearnedParams(),
    tissue_session=None,
) -> LearnedLabels:
    """Label every pixel of a wound photo with the network's wound bed and its tissues, and say
    how sure the network is of the bed's outline.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    session : onnxruntime.InferenceSession
        The wound-bed network (``load_model(path)``).
    calibration : Calibration, optional
        Sticker (never wound), white balance, and millimetre sizes.
    params : LearnedParams
    tissue_session : onnxruntime.InferenceSession, optional
        The tissue network (``load_model(default_tissue_model_path())``); without it the bed is
        split into tissues by colour.

    Returns
    -------
    LearnedLabels
        ``labels``, (H, W) ndarray of uint8: 0 skin/background, 1 granulation, 2 slough,
        3 eschar, 4 erythema; ``outline_doubt`` of the wound-bed network's logits (None when it
        found no wound).

    Raises
    ------
    ValueError
        If ``image`` is not an (H, W, 3) uint8 array.
    """
    seg.check_rgb_image(image)
    calibration = calibration or Calibration(method="none")
    p = params.tissue
    h, w = image.shape[:2]

    sticker_full = cal.sticker_mask(calibration, (h, w))
    mm_per_px = cal.mm_per_px_at(calibration, w / 2, h / 2) if calibration.calibrated else None
    min_px = seg.min_lesion_px(p, mm_per_px, (h, w))
    # Tissues and erythema are judged at the classical segmenter's working size.
    scale = min(1.0, p.working_long_side_px / max(h, w))
    small = image
    if scale < 1.0:
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]

    logits, box, tissue_box = wound_bed_logits(
        image, session, params, exclude=sticker_full, preview=small
    )
    wound_full = np.zeros((h, w), dtype=bool)
    wound_full[box] = clean_wound_bed(logits > 0, sticker_full[box], min_px)

    sticker = cal.sticker_mask(calibration, (sh, sw), scale=scale)
    wound = _resize_mask(wound_full, (sh, sw))
    mm_per_px_work = seg.working_mm_per_px(calibration, (sh, sw), scale)
    if mm_per_px_work is not None:
        band_px = params.colour_band_mm / mm_per_px_work
    else:
        band_px = params.colour_band_frac * max(sh, sw)
    # the network's bed is not skin: it stays out of the skin reference and the light's fit;
    # colours are read only where they are used: the bed, its band, the erythema around it
    lab, tissue = seg.tissue_colours(
        small,
        sticker,
        p,
        white_balance_gains=calibration.white_balance_gains,
        not_skin=wound,
        region=colour_region(wound, band_px, mm_per_px_work, p),
    )
    # colour may grow the bed by a slough- or eschar-coloured rim the network left out
    grown = grow_by_colour(wound, (tissue == SLOUGH) | (tissue == ESCHAR), band_px)
    if tissue_session is not None and wound.any():
        # the network's tissues replace the colour rules' inside the bed; the colours still
        # serve the rim (above) and erythema
        # black by the colour rules, unless dark red (which is granulation as often): measured
        # on 22 held-out photos, the colour rules' eschar took 2.1 % of the specialists'
        # granulation, all of it dark red. Only the bed's black counts: a dim photo's dark
        # skin or sheet must not join the bed's patches into one
        black = None
        if params.colour_eschar:
            black = (tissue == ESCHAR) & (wound | grown)
            black[black] = ~dark_red(lab[black], params.red_min_chroma)
        tissue = _network_tissues(image, tissue_box, tissue_session, params, lab, black)
    if grown.any():
        wound |= grown
        # a grown sliver can come apart from the wound at full resolution: clean again
        wound_full[box] = clean_wound_bed(
            wound_full[box] | _nearest_upsampled(grown, (h, w), box), sticker_full[box], min_px
        )
    labels = seg.label_wound(
        tissue, wound, lab, sticker=sticker, mm_per_px=mm_per_px_work, params=p
    )
    if scale < 1.0:
        labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
    labels = _with_full_resolution_bed(labels, wound_full, box)
    return LearnedLabels(labels, outline_doubt(logits), logits, box)


#: The network is unsure of a pixel whose logit lies in (-DOUBT_LOGIT, DOUBT_LOGIT]: it gives it
#: between 12 % and 88 % of being wound.
DOUBT_LOGIT = 2.0


def outline_doubt(logits: np.ndarray) -> float | None:
    """How unsure the wound-bed network is of the outline: the pixels it is unsure of (logit in
    (-``DOUBT_LOGIT``, ``DOUBT_LOGIT``]) as a share of those it calls wound (logit > 0).

    A crisp border leaves a thin band of such pixels (0.03-0.16 of the wound on the demo's 12
    photos); a wound the network half sees (pale fibrin on dark skin, a blurred or dim photo)
    leaves a wide one. On 198 held-out FUSeg photos with a wound and 40 copies of them taken as
    another clinic would, it ranks the photos' Dice with Spearman's rho -0.77
    (``benchmarks/outline_doubt.py``). None when no pixel is wound.

    Parameters
    ----------
    logits : ndarray of float
        The wound-bed network's logits over the wound's region (``wound_bed_logits``).
    """
    wound = np.count_nonzero(logits > 0)
    if wound == 0:
        return None
    unsure = np.count_nonzero(_unsure(logits))
    return unsure / wound


def _unsure(logits: np.ndarray) -> np.ndarray:
    return (logits > -DOUBT_LOGIT) & (logits <= DOUBT_LOGIT)


def lesion_doubts(found: LearnedLabels, lesions: list[LesionMeasurement]) -> list[float | None]:
    """Each lesion's ``outline_doubt``: the pixels the network is unsure of and those it calls
    wound, each counted for the lesion whose bed is nearest (``measure.nearest_lesion``).

    The photo's doubt is these counts summed, so a photo of one lesion gives that lesion the
    photo's doubt; with several, the doubt goes to the lesion whose border holds it (a small
    satellite the network half sees, beside a crisp large wound). Without the logits (a
    segmenter that reports only the photo's doubt), every lesion gets the photo's.

    Parameters
    ----------
    found : LearnedLabels
        What the segmenter found on the photo.
    lesions : list of LesionMeasurement
        ``measure(found.labels, ...)``'s lesions.

    Returns
    -------
    list of float or None
        One per lesion, in ``lesions``' order; None for a lesion with no pixel the network
        calls wound nearest to it.
    """
    if len(lesions) <= 1 or found.logits is None or found.logits_box is None:
        return [found.outline_doubt] * len(lesions)
    owner = nearest_lesion(found.labels, lesions, found.logits_box)
    n = max(m.index for m in lesions) + 1
    wound = np.bincount(owner[found.logits > 0], minlength=n)
    unsure = np.bincount(owner[_unsure(found.logits)], minlength=n)
    return [float(unsure[m.index] / wound[m.index]) if wound[m.index] else None for m in lesions]


def _network_tissues(image, box, session, params, lab, black=None):
    """``tissue_from_scores`` of the region ``box`` (full-resolution slices), placed in a map of
    the working size (``lab``'s), zero outside the region; the colour rules' ``black`` pixels
    (working size) are eschar where ``black_patches_kept`` keeps them."""
    (h, w), (sh, sw) = image.shape[:2], lab.shape[:2]
    y0, y1 = int(box[0].start * sh / h), max(1, math.ceil(box[0].stop * sh / h))
    x0, x1 = int(box[1].start * sw / w), max(1, math.ceil(box[1].stop * sw / w))
    region_shape = (box[0].stop - box[0].start, box[1].stop - box[1].start)
    net_side_px = tissue_long_side_px(region_shape, (h, w), params)
    scores = tissue_scores(image[box], session, net_side_px, (y1 - y0, x1 - x0))
    tissue = np.zeros((sh, sw), np.uint8)
    tissue[y0:y1, x0:x1] = tissue_from_scores(scores, lab[y0:y1, x0:x1], params)
    if black is not None:
        margin = np.full((sh, sw), -np.inf, np.float32)  # outside the region: no network's say
        margin[y0:y1, x0:x1] = scores[..., 1:3].max(axis=2) - scores[..., 3]
        net_px_per_px = net_side_px / max(y1 - y0, x1 - x0)
        tissue[black_patches_kept(black, margin, net_px_per_px, params)] = ESCHAR
    return tissue


def black_patches_kept(
    black: np.ndarray, margin_logit: np.ndarray, net_px_per_px: float, params: LearnedParams
) -> np.ndarray:
    """The pixels of ``black`` (the colour rules' black necrosis, bool) that stay eschar whatever
    the tissue network says: every connected black patch, unless on more than half of it the
    network scores granulation or slough at least ``black_veto_logit`` above eschar
    (``margin_logit``, the working size) and the patch spans at least ``black_veto_min_net_px`` of
    the network's pixels (``net_px_per_px`` on a side), so the network could see it.

    ``black`` should hold the bed's black only: dark skin or a sheet joined to it makes one
    patch of the whole frame in a dim photo. Colour alone calls a shaded bed of beefy
    granulation black (a heel ulcer photographed from below: 82 % of its granulation was
    eschar). On the 64 tissue-labelled training photos the rule took 9.3 % of the specialists'
    granulation; with the veto 0.34 % (``weights/MODEL_CARD.md``). Painted eschar, which the
    network learned, scores a median 19 logits the other way; a phantom's eschar spot of a few
    network pixels can score either way, hence the size.
    """
    count, patch = cv2.connectedComponents(black.view(np.uint8), connectivity=8)
    if count <= 1:
        return black
    ids = patch[black]
    size_px = np.bincount(ids, minlength=count)
    confident = np.bincount(
        ids, weights=margin_logit[black] >= params.black_veto_logit, minlength=count
    )
    seen = size_px * net_px_per_px**2 >= params.black_veto_min_net_px
    vetoed = (confident > size_px / 2) & seen
    vetoed[0] = True  # not black
    return ~vetoed[patch]


def colour_region(
    wound: np.ndarray, band_px: float, mm_per_px: float | None, p: seg.SegmentationParams
) -> tuple[slice, slice]:
    """The box whose colours ``segment_learned`` reads: every pixel that ``grow_by_colour``
    (``band_px`` around ``wound``) and then ``seg.label_wound`` (erythema and its skin ring around
    the grown bed) can look at. Empty when there is no wound."""
    ys, xs = np.nonzero(wound)
    if len(ys) == 0:
        return slice(0, 0), slice(0, 0)
    grow = int(math.ceil(band_px)) + 1
    y0, y1, x0, x1 = ys.min() - grow, ys.max() + 1 + grow, xs.min() - grow, xs.max() + 1 + grow
    # the grown bed fills at most its grown box: the largest erythema reach it can have
    pad = seg.erythema_pad_px((y1 - y0) * (x1 - x0), mm_per_px, p)
    h, w = wound.shape
    return (
        slice(max(0, y0 - pad), min(h, y1 + pad)),
        slice(max(0, x0 - pad), min(w, x1 + pad)),
    )


def _nearest_upsampled(
    mask: np.ndarray, shape: tuple[int, int], box: tuple[slice, slice]
) -> np.ndarray:
    """``cv2.resize(mask, shape, INTER_NEAREST)[box]``, without making the whole photo's size:
    output pixel ``(y, x)`` takes input pixel ``(floor(y * sh / h), floor(x * sw / w))``."""
    (sh, sw), (h, w) = mask.shape, shape
    rows = np.minimum(np.arange(box[0].start, box[0].stop) * (sh / h), sh - 1).astype(np.intp)
    cols = np.minimum(np.arange(box[1].start, box[1].stop) * (sw / w), sw - 1).astype(np.intp)
    return mask[rows[:, None], cols[None, :]]


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    small = cv2.resize(mask.view(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return small > 0


def _with_full_resolution_bed(
    labels: np.ndarray, wound: np.ndarray, box: tuple[slice, slice]
) -> np.ndarray:
    """Make the bed exactly ``wound`` (all inside ``box``): tissue outside it goes, gaps inside
    take a neighbour's tissue."""
    out = labels.copy()
    sub, sub_wound = out[box], wound[box]
    bed = (sub >= GRANULATION) & (sub <= ESCHAR)
    gaps = sub_wound & ~bed
    near = None
    if gaps.any():
        near = cv2.dilate(np.where(bed, sub, 0).astype(np.uint8), np.ones((9, 9), np.uint8))
    sub[bed & ~sub_wound] = BACKGROUND
    if near is not None:
        fill = near[gaps]
        fill[fill == BACKGROUND] = GRANULATION
        sub[gaps] = fill
    return out


@dataclass(frozen=True, slots=True)
class LearnedSegmenter:
    """The shipped network as a ``Segmenter`` (name, version, ``__call__``).

    ``params`` left out: ``LearnedParams()`` at the model's own scale (``params_for_model``).
    """

    model_path: str = field(default_factory=lambda: str(default_model_path()))
    #: the tissue network; None splits the bed by colour (the shipped one when it is installed)
    tissue_model_path: str | None = field(default_factory=lambda: _shipped_tissue_model())
    params: LearnedParams | None = None
    name: str = "unet-lite0"
    model_name: str = "shipped"  # the clinic's name for the model (its registry entry)
    #: the networks' threads: None every core; 1 beside other photos (``image.side_by_side``).
    #: How it runs, not what it finds: not a parameter of the measurement.
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.params is None:
            object.__setattr__(self, "params", params_for_model(load_model(self.model_path)))

    @property
    def version(self) -> str:
        """The wound-bed network's version, and the tissue network's after "+tissue-"."""
        bed = model_version(load_model(self.model_path))
        if self.tissue_model_path is None:
            return bed
        return f"{bed}+tissue-{model_version(load_model(self.tissue_model_path))}"

    @property
    def model_sha256(self) -> str:
        return file_sha256(self.model_path, Path(self.model_path).stat().st_mtime_ns)

    def __call__(self, image: np.ndarray, calibration: Calibration) -> np.ndarray:
        return self.segment_with_doubt(image, calibration).labels

    def segment_with_doubt(self, image: np.ndarray, calibration: Calibration) -> LearnedLabels:
        """The labels and the network's ``outline_doubt`` (``segment_learned_with_doubt``)."""
        tissue = None
        if self.tissue_model_path is not None:
            tissue = load_model(self.tissue_model_path, self.threads)
        return segment_learned_with_doubt(
            image,
            load_model(self.model_path, self.threads),
            calibration=calibration,
            params=self.params,
            tissue_session=tissue,
        )


def _shipped_tissue_model() -> str | None:
    path = default_tissue_model_path()
    return str(path) if path.is_file() else None
