"""FUSeg loading, the fixed train/validation split, and training augmentation.

The split is drawn once from the sorted photo names with a fixed seed (``SPLIT_SEED``), so the
validation photos are the same on every machine and are never trained on. Augmentation, in order:
tissue synthesis (``synthesis.synthesize``), scale (zoom out onto a padded canvas so the wound is
small in a large frame, or zoom in so it fills the frame), rotation and flips, then colour cast,
brightness/contrast/gamma, saturation, blur, noise and JPEG.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from . import synthesis

SPLIT_SEED = 20261126
N_VALIDATION = 200


def list_pairs(data_dir: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths with the same stem, sorted by name."""
    images = {p.stem: p for p in (data_dir / "images").iterdir() if p.is_file()}
    masks = {p.stem: p for p in (data_dir / "masks").iterdir() if p.is_file()}
    stems = sorted(images.keys() & masks.keys())
    if not stems:
        raise FileNotFoundError(f"{data_dir}: no images/NAME + masks/NAME pairs found")
    return [(images[s], masks[s]) for s in stems]


def split(pairs: list, n_validation: int = N_VALIDATION, seed: int = SPLIT_SEED):
    """The fixed split: (train, validation), each sorted by name."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    val = sorted(order[:n_validation])
    train = sorted(order[n_validation:])
    return [pairs[i] for i in train], [pairs[i] for i in val]


TISSUE_SPLIT_SEED = 20261206
N_TISSUE_VALIDATION = 22


def tissue_split(stems: list[str], bed_validation: set[str]) -> tuple[list[str], list[str]]:
    """(train, validation) stems of the photos with tissue labels: validation holds every one the
    wound-bed network never saw (in ``bed_validation``), and more drawn with a fixed seed up to
    ``N_TISSUE_VALIDATION``."""
    held = [s for s in stems if s in bed_validation]
    rest = [s for s in stems if s not in bed_validation]
    extra = max(0, N_TISSUE_VALIDATION - len(held))
    pick = np.random.default_rng(TISSUE_SPLIT_SEED).permutation(len(rest))[:extra]
    val = sorted(held + [rest[i] for i in pick])
    return [s for s in stems if s not in val], val


def load_pair(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(Image.open(image_path).convert("RGB"))
    mask = np.asarray(Image.open(mask_path).convert("L")) > 127
    if image.shape[:2] != mask.shape:
        raise ValueError(f"{image_path.name}: image {image.shape[:2]} and mask {mask.shape} differ")
    return image, mask


@dataclass(frozen=True)
class AugmentParams:
    size_px: int = 384  # the square crop the network trains on
    scale_px: int = 0  # the photo's long side is first scaled to this (0: to size_px)
    synthesis_p: float = 0.5
    new_eschar_p: float | None = None  # see synthesis.synthesize
    skin_tone_p: float = 0.0  # share of samples whose skin is made dark (synthesis.darken_skin)
    zoom_out_p: float = 0.3  # wound small in a large frame
    zoom_in_p: float = 0.3  # wound fills the frame
    photometric_p: float = 0.8
    # issue 24, photos from other clinics (each 0 = off, so earlier recipes draw the same samples)
    pale_rim_p: float = 0.0  # a pale band inside the wound's border (synthesis.paint_pale_rim)
    copied_lesion_p: float = 0.0  # a second lesion on the skin (synthesis.add_copied_lesion)
    camera_p: float = 0.0  # another camera's white balance and exposure (``camera``)


def _scale_and_crop(image, mask, rng, a: AugmentParams):
    """Random zoom, rotation and crop to ``size_px`` square, image and mask alike."""
    h, w = mask.shape
    size = a.size_px
    r = rng.random()
    if r < a.zoom_out_p:
        zoom = rng.uniform(0.25, 0.75)
    elif r < a.zoom_out_p + a.zoom_in_p:
        zoom = rng.uniform(1.2, 2.5)
    else:
        zoom = rng.uniform(0.75, 1.2)
    zoom *= (a.scale_px or size) / max(h, w)
    angle = rng.uniform(-180, 180) if rng.random() < 0.5 else 0.0
    # centre on the wound when zooming in, so the wound fills the frame rather than leaves it
    if zoom * max(h, w) > size and mask.any() and rng.random() < 0.8:
        ys, xs = np.nonzero(mask)
        i = rng.integers(len(ys))
        cx, cy = xs[i], ys[i]
    else:
        cx, cy = w / 2 + rng.normal(0, w * 0.08), h / 2 + rng.normal(0, h * 0.08)
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, zoom)
    m[0, 2] += size / 2 - cx
    m[1, 2] += size / 2 - cy
    border = int(rng.choice([cv2.BORDER_CONSTANT, cv2.BORDER_REFLECT_101, cv2.BORDER_REPLICATE]))
    fill = tuple(
        int(v) for v in (rng.integers(0, 40, 3) if rng.random() < 0.7 else rng.integers(0, 256, 3))
    )
    img = cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=fill
    )
    msk = cv2.warpAffine(
        mask.astype(np.uint8) * 255,
        m,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=border,
        borderValue=0,
    )
    if rng.random() < 0.5:
        img, msk = img[:, ::-1], msk[:, ::-1]
    if rng.random() < 0.5:
        img, msk = img[::-1], msk[::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(msk) > 127


def _photometric(image, rng):
    x = image.astype(np.float32) / 255.0
    x = x ** rng.uniform(0.7, 1.4)
    x = x * rng.uniform(0.85, 1.15, 3).astype(np.float32)  # colour cast
    x = (x - 0.5) * rng.uniform(0.75, 1.25) + 0.5 + rng.uniform(-0.12, 0.12)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.6, 1.3)  # saturation
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.8))
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0.005, 0.03), x.shape).astype(np.float32)
    out = np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(
            ".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 95))]
        )
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)


CAMERA_P_HELP = (
    "give this share of the samples another camera's exposure and white balance (data.camera)"
)


def camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo as another camera would have taken it: exposure 2^(-1..+1) and a white balance
    off along the warm-cool axis (red and blue gains up to e^0.3 apart each way) and a little
    along green-magenta, applied in linear light (sRGB), highlights clipping as a sensor's do.

    ``_photometric``'s cast and gamma act on the encoded values; this is the light's own
    change, which moves dark and bright tissue differently."""
    x = image.astype(np.float32) / 255.0
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    warm = rng.uniform(-0.3, 0.3)
    gains = np.exp([warm, rng.uniform(-0.08, 0.08), -warm]).astype(np.float32)
    lin = np.clip(lin * gains * np.float32(2.0 ** rng.uniform(-1.0, 1.0)), 0.0, 1.0)
    x = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def augment(image, mask, rng, a: AugmentParams = AugmentParams()):
    """One training sample from one photo: (image (S, S, 3) uint8, mask (S, S) bool)."""
    image, mask = synthesis.synthesize(
        image, mask, rng, p=a.synthesis_p, new_eschar_p=a.new_eschar_p
    )
    if a.pale_rim_p and rng.random() < a.pale_rim_p:
        image = synthesis.paint_pale_rim(image, mask, rng)
    if a.copied_lesion_p and rng.random() < a.copied_lesion_p:
        image, mask = synthesis.add_copied_lesion(image, mask, rng)
    if a.skin_tone_p and rng.random() < a.skin_tone_p:
        image = synthesis.darken_skin(image, mask, rng)
    image, mask = _scale_and_crop(image, mask, rng, a)
    if a.camera_p and rng.random() < a.camera_p:
        image = camera(image, rng)
    if rng.random() < a.photometric_p:
        image = _photometric(image, rng)
    return image, mask


def repainted_validation(pairs, seed: int = SPLIT_SEED + 1, style: str = "trained"):
    """A fixed eschar/slough test set: each validation photo with part of its wound repainted.

    ``style="trained"``: photo k gets eschar (k even) or slough (k odd) from the same painters as
    training, over a random part (or all) of its true wound. ``style="plain"``: a painter that
    training never used, a flat colour (eschar: L* 12-30, near-neutral; slough: yellow) with the
    photo's own fine detail, so the figure does not only reward learning the training painter.
    ``style="new-eschar"``: a new closed eschar, with a dusky-red halo, on the skin beside the
    wound (the mask grows by the eschar only). ``style="pale-rim"``: the wound's whole border
    painted as a pale margin of even width by a painter training never uses
    (``synthesis.paint_plain_rim``), which stays wound. Photos without wound are left out.
    Returns a list of (name, image, mask, painted, tissue), tissue being "eschar", "slough" or
    "pale".
    """
    rng = np.random.default_rng(seed)
    out = []
    for k, (ip, mp) in enumerate(pairs):
        image, mask = load_pair(ip, mp)
        if mask.sum() < 50:
            continue
        if style == "pale-rim":
            painted_image, band = synthesis.paint_plain_rim(image, mask, rng)
            out.append((ip.stem, painted_image, mask, band, "pale"))
            continue
        if style == "new-eschar":
            painted_image, new_mask = synthesis.add_eschar_lesion(image, mask, rng)
            if new_mask.sum() > mask.sum():
                out.append((ip.stem, painted_image, new_mask, new_mask & ~mask, "eschar"))
            continue
        part = synthesis.part_of(mask, rng)
        eschar = k % 2 == 0
        if style == "plain":
            painted_image = synthesis.paint_plain(image, part, rng, eschar=eschar)
        else:
            paint = synthesis.paint_eschar if eschar else synthesis.paint_slough
            painted_image = paint(image, part, rng)
        out.append((ip.stem, painted_image, mask, part, "eschar" if eschar else "slough"))
    return out
