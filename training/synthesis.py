"""Tissue synthesis: repaint parts of true wounds as eschar or slough, or add a new eschar.

Public foot-ulcer photos show mostly red granulation; calciphylaxis is mostly black eschar. A
network that never saw a black wound bed calls it skin, and the area shrinks when the wound does
not.
These functions make such wound beds from real photos, with masks that stay true:

- ``paint_eschar``: black to dark-brown, low saturation, multi-scale texture, cracks that show the
  moist red-brown tissue under them, sometimes a dry shine; the photo's own fine detail is kept.
- ``paint_slough``: yellow-white fibrinous film, streaky, thin enough in places to let the red
  through.
- ``add_eschar_lesion``: a new, closed eschar on intact skin, with a dusky-red (livedo/erythema)
  halo that is **not** wound, so that "black on skin" is learned as wound and the halo as skin.
- ``darken_skin``: the skin around the wound made dark brown, the wound left as it is, so that
  red granulation is also learned against dark skin.
- ``paint_pale_rim``: a pale band along part or all of the wound's own border (white-yellow
  fibrin, or the pale pink of macerated or epithelialising tissue), inside the true mask, so that
  the pale margin that expert outlines include is learned as wound, not skin.
- ``add_copied_lesion``: a second lesion on the skin, copied from the photo's own wound (smaller,
  turned), so that a photo holds several lesions and each is learned as wound.

Everything works in float CIELAB (L* 0-100) on RGB ``uint8`` arrays; randomness comes only from
the ``rng`` passed in.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage


def smooth_noise(shape: tuple[int, int], scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std noise with features about ``scale_px`` pixels across."""
    h, w = shape
    gh, gw = max(2, int(h / scale_px) + 2), max(2, int(w / scale_px) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    noise = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return (noise - noise.mean()) / (noise.std() + 1e-6)


def fractal_noise(shape: tuple[int, int], rng: np.random.Generator, octaves: int = 4) -> np.ndarray:
    base = max(shape) / 4.0
    out = np.zeros(shape, np.float32)
    for i in range(octaves):
        out += smooth_noise(shape, max(1.5, base / 2**i), rng) * 0.6**i
    return (out - out.mean()) / (out.std() + 1e-6)


def random_blob(shape: tuple[int, int], centre_xy, radius_px: float, rng) -> np.ndarray:
    """A closed, irregular blob: a circle whose radius wobbles with angle."""
    h, w = shape
    n = 64
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    wobble = np.zeros(n)
    for k in range(1, 6):
        wobble += rng.normal(0, 0.18 / k) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    stretch = rng.uniform(0.55, 1.0)
    theta = rng.uniform(0, np.pi)
    r = radius_px * np.clip(1 + wobble, 0.4, 1.8)
    x, y = r * np.cos(angles), r * stretch * np.sin(angles)
    xr = centre_xy[0] + x * np.cos(theta) - y * np.sin(theta)
    yr = centre_xy[1] + x * np.sin(theta) + y * np.cos(theta)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.stack([xr, yr], 1).round().astype(np.int32)], 1)
    return mask.astype(bool)


def part_of(wound: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random part of a wound mask: all of it, or a blob-shaped share of it (>= 15 %)."""
    if rng.random() < 0.35:
        return wound.copy()
    ys, xs = np.nonzero(wound)
    for _ in range(6):
        i = rng.integers(len(ys))
        size = np.sqrt(len(ys) / np.pi) * rng.uniform(0.4, 1.2)
        part = wound & random_blob(wound.shape, (xs[i], ys[i]), size, rng)
        if part.sum() >= 0.15 * len(ys):
            return part
    return wound.copy()


def _soft(mask: np.ndarray, feather_px: float) -> np.ndarray:
    alpha = mask.astype(np.float32)
    if feather_px > 0.3:
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather_px)
    return alpha * mask if feather_px <= 0.3 else alpha


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _highpass_l(lab: np.ndarray, sigma: float) -> np.ndarray:
    lum = lab[..., 0]
    return lum - cv2.GaussianBlur(lum, (0, 0), sigma)


def paint_eschar(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Repaint ``region`` of an RGB photo as necrotic eschar (black to dark brown, dry or moist)."""
    if not region.any():
        return image.copy()
    lab = _lab(image)
    shape = region.shape
    ys, xs = np.nonzero(region)
    size = max(8.0, np.sqrt(len(ys)))
    base = np.array(
        [rng.uniform(8, 34), rng.uniform(0, 14), rng.uniform(-2, 18)], np.float32
    )  # black (L*~8) to dark brown (L*~34, a*/b* > 0)
    texture = fractal_noise(shape, rng)
    coarse = smooth_noise(shape, size / 2.5, rng)
    paint = np.empty_like(lab)
    paint[..., 0] = base[0] + texture * rng.uniform(1.5, 5) + coarse * rng.uniform(0, 5)
    paint[..., 0] += _highpass_l(lab, 3.0) * rng.uniform(0.2, 0.7)
    paint[..., 1] = base[1] + smooth_noise(shape, size / 4, rng) * rng.uniform(1, 4)
    paint[..., 2] = base[2] + smooth_noise(shape, size / 4, rng) * rng.uniform(1, 4)
    if rng.random() < 0.6:  # dry eschar cracks, showing moist red-brown tissue under them
        cracks = np.zeros(shape, np.uint8)
        for _ in range(int(rng.integers(2, 9))):
            i = rng.integers(len(ys))
            pts = [(xs[i], ys[i])]
            angle = rng.uniform(0, 2 * np.pi)
            for _ in range(int(rng.integers(3, 9))):
                angle += rng.normal(0, 0.6)
                step = size * rng.uniform(0.05, 0.15)
                pts.append((pts[-1][0] + step * np.cos(angle), pts[-1][1] + step * np.sin(angle)))
            cv2.polylines(
                cracks, [np.round(pts).astype(np.int32)], False, 1, int(rng.integers(1, 3))
            )
        c = cv2.GaussianBlur(cracks.astype(np.float32), (0, 0), 0.7) * rng.uniform(0.5, 1.0)
        crack_lab = np.array([rng.uniform(25, 45), rng.uniform(15, 35), rng.uniform(8, 25)])
        paint = paint * (1 - c[..., None]) + crack_lab * c[..., None]
    if rng.random() < 0.35:  # moist or dry shine: small specular spots
        spots = (fractal_noise(shape, rng) > rng.uniform(1.8, 2.6)).astype(np.float32)
        spots = cv2.GaussianBlur(spots, (0, 0), 1.2)
        paint[..., 0] += spots * rng.uniform(20, 55)
        paint[..., 1:] *= (1 - 0.7 * np.clip(spots, 0, 1))[..., None]
    paint[..., 0] = np.clip(paint[..., 0], 2, 60)
    alpha = _soft(region, rng.uniform(0.0, 2.0))[..., None]
    return _rgb(lab * (1 - alpha) + paint * alpha)


def paint_slough(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Repaint ``region`` as slough: a yellow-white, streaky fibrinous film."""
    if not region.any():
        return image.copy()
    lab = _lab(image)
    shape = region.shape
    size = max(8.0, np.sqrt(region.sum()))
    base = np.array([rng.uniform(58, 86), rng.uniform(-3, 12), rng.uniform(18, 48)], np.float32)
    sx, sy = rng.uniform(1, 5), rng.uniform(1, 5)
    streaks = cv2.resize(
        rng.standard_normal(
            (max(2, int(shape[0] / (4 * sy))), max(2, int(shape[1] / (4 * sx))))
        ).astype(np.float32),
        (shape[1], shape[0]),
        interpolation=cv2.INTER_CUBIC,
    )
    streaks = (streaks - streaks.mean()) / (streaks.std() + 1e-6)
    paint = np.empty_like(lab)
    paint[..., 0] = base[0] + streaks * rng.uniform(2, 7) + _highpass_l(lab, 2.0) * 0.4
    paint[..., 1] = base[1] + smooth_noise(shape, size / 3, rng) * rng.uniform(1, 5)
    paint[..., 2] = base[2] + smooth_noise(shape, size / 3, rng) * rng.uniform(2, 7)
    cover = np.clip(rng.uniform(0.75, 1.1) + 0.25 * fractal_noise(shape, rng), 0.35, 1.0)
    alpha = (_soft(region, rng.uniform(0.0, 2.0)) * cover)[..., None]
    return _rgb(lab * (1 - alpha) + paint * alpha)


def _flat_paint(lab: np.ndarray, colour, alpha: np.ndarray, detail_sigma: float) -> np.ndarray:
    """RGB: ``lab`` covered with one flat CIELAB ``colour`` plus half the photo's own fine
    lightness detail (a high-pass of ``detail_sigma``), in proportion to ``alpha``."""
    paint = np.empty_like(lab)
    paint[...] = np.asarray(colour, np.float32)
    paint[..., 0] += _highpass_l(lab, detail_sigma) * 0.5
    alpha = alpha[..., None]
    return _rgb(lab * (1 - alpha) + paint * alpha)


def _depth_px(wound: np.ndarray) -> np.ndarray:
    """Each wound pixel's distance from outside the wound (the photo's edge counts as outside)."""
    return cv2.distanceTransform(np.pad(wound, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]


def paint_plain(
    image: np.ndarray, region: np.ndarray, rng: np.random.Generator, *, eschar: bool
) -> np.ndarray:
    """A painter training never uses (for testing only): flat colour plus the photo's own detail.

    Eschar: L* 12-30, a*/b* within 6 of neutral; slough: L* 65-85, b* 25-45.
    """
    lab = _lab(image)
    if eschar:
        colour = [rng.uniform(12, 30), rng.uniform(0, 6), rng.uniform(0, 6)]
    else:
        colour = [rng.uniform(65, 85), rng.uniform(0, 8), rng.uniform(25, 45)]
    return _flat_paint(lab, colour, _soft(region, 1.0), 4.0)


def paint_plain_rim(
    image: np.ndarray, wound: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A pale margin by a painter training never uses (for testing only): the wound's whole
    border, a band of even width (15-25 % of its equivalent radius, at least 2 px), one flat
    colour (white-yellow, L* 75-88, b* 15-30; or pale pink, L* 72-85, a* 10-18) with the photo's
    own detail. Returns (image, band); the band is inside the wound, which it stays part of."""
    n = int(wound.sum())
    if n < 50:
        return image.copy(), np.zeros_like(wound)
    width = max(2.0, np.sqrt(n / np.pi) * rng.uniform(0.15, 0.25))
    band = wound & (_depth_px(wound) <= width)
    lab = _lab(image)
    if rng.random() < 0.5:
        colour = [rng.uniform(75, 88), rng.uniform(0, 5), rng.uniform(15, 30)]
    else:
        colour = [rng.uniform(72, 85), rng.uniform(10, 18), rng.uniform(5, 12)]
    out = _flat_paint(lab, colour, band.astype(np.float32), 3.0)
    out[~band] = image[~band]
    return out, band


def skin_like(image: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """Pixels that could be skin: not the wound, not near-black padding, not near-white."""
    lab = _lab(image)
    ok = (lab[..., 0] > 25) & (lab[..., 0] < 92) & (lab[..., 1] > -2) & ~exclude
    return cv2.erode(ok.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)


def add_eschar_lesion(
    image: np.ndarray, wound: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Add a new closed eschar, with a dusky-red halo that stays skin, on skin off the wound."""
    h, w = wound.shape
    near_wound = cv2.dilate(wound.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    candidates = skin_like(image, near_wound)
    ys, xs = np.nonzero(candidates)
    if len(ys) < 500:
        return image.copy(), wound.copy()
    i = rng.integers(len(ys))
    radius = rng.uniform(0.04, 0.16) * min(h, w)
    blob = random_blob((h, w), (xs[i], ys[i]), radius, rng)
    blob &= candidates | cv2.dilate(candidates.astype(np.uint8), np.ones((5, 5))).astype(bool)
    if blob.sum() < 60:
        return image.copy(), wound.copy()
    out = image
    if rng.random() < 0.7:  # livedo / erythema halo around the eschar: redder skin, not wound
        lab = _lab(out)
        dist = cv2.distanceTransform((~blob).astype(np.uint8), cv2.DIST_L2, 5)
        reach = radius * rng.uniform(0.2, 0.8)
        halo = np.exp(-dist / max(reach, 1.0)) * (~blob)
        halo *= np.clip(0.7 + 0.4 * smooth_noise((h, w), radius / 3, rng), 0, 1)
        lab[..., 1] += halo * rng.uniform(6, 22)
        lab[..., 0] -= halo * rng.uniform(0, 10)
        out = _rgb(lab)
    if rng.random() < 0.3:  # a rim of slough between eschar and skin
        rim = blob & ~cv2.erode(blob.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        out = paint_slough(out, rim, rng)
        out = paint_eschar(out, blob & ~rim, rng)
    else:
        out = paint_eschar(out, blob, rng)
    return out, wound | blob


def darken_skin(image: np.ndarray, wound: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn the skin around the wound dark brown (L* 22-45), the wound itself left exactly as is.

    FUSeg shows few dark-skinned patients, and a network that has seen red granulation only
    against light skin loses it against dark skin (``cpu-s35-seed2``'s model found 0.67 of the
    dark-skin phantom's granulation, 0.97 on light skin). Skin is the pixels with skin-like
    colour, closed and hole-filled so that pale callus inside the limb goes with it. Its L* is
    scaled so that its median lands on the target, keeping its texture, and a*, b* a little;
    the weight fades over a few pixels into sheets and padding, and the wound's own pixels are
    kept exactly, so ``wound`` stays its true mask. Skin already darker than the target is
    left alone."""
    lab = _lab(image)
    # skin has some chroma (a* and b* both positive); sheets, walls and padding do not
    whole_skin = (lab[..., 0] > 25) & (lab[..., 0] < 95) & (lab[..., 1] > 4) & (lab[..., 2] > 5)
    whole_skin = cv2.erode(whole_skin.astype(np.uint8), np.ones((9, 9), np.uint8))
    # pale callus and scale inside the limb are skin too: close the gaps and fill the holes
    k = 2 * int(max(image.shape[:2]) * 0.03) + 1
    whole_skin = cv2.morphologyEx(
        whole_skin | wound.astype(np.uint8),
        cv2.MORPH_CLOSE,
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)),
    )
    skin = ndimage.binary_fill_holes(whole_skin) & ~wound
    if skin.sum() < 100:
        return image.copy()
    target_l = rng.uniform(22.0, 45.0)
    median_l = float(np.median(lab[..., 0][skin]))
    if median_l <= target_l:
        return image.copy()
    weight = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), 4.0)
    weight = np.maximum(weight, skin) * ~wound  # full strength up to the wound's edge
    lum_factor = 1.0 + weight * (target_l / median_l - 1.0)
    chroma_factor = 1.0 + weight * (rng.uniform(0.8, 1.3) - 1.0)
    lab[..., 0] *= lum_factor
    lab[..., 1] *= chroma_factor
    lab[..., 2] *= chroma_factor
    out = _rgb(lab)
    out[wound] = image[wound]  # the wound keeps its exact pixels, not a Lab round trip
    return out


def paint_pale_rim(image: np.ndarray, wound: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Repaint a band just inside the wound's border as pale tissue; the mask does not change.

    Photos from other clinics show wounds whose margin is white or yellow fibrin, or the pale
    pink of macerated or epithelialising tissue, and the experts' outline includes it; a network
    trained on FUSeg's red beds leaves it out (issue 24: recall 0.69 there). The band is about
    10-35 % of the wound's equivalent radius wide (at least 2 px), wider and narrower along the
    border, round the whole border (40 %) or an arc of 90-270 degrees of it, full at the edge
    and fading into the bed, with a mottled texture and the photo's own fine detail.
    """
    n = int(wound.sum())
    if n < 50:
        return image.copy()
    radius = np.sqrt(n / np.pi)
    depth = _depth_px(wound)
    # wider in places and narrower in others, as a margin is
    width = max(2.0, radius * rng.uniform(0.1, 0.35))
    width = width * np.clip(1 + 0.5 * smooth_noise(wound.shape, radius * 0.7, rng), 0.3, 1.8)
    band = wound & (depth <= width)
    if rng.random() >= 0.4:  # an arc of the border, seen from the wound's centre
        ys, xs = np.nonzero(wound)
        yy, xx = np.mgrid[: wound.shape[0], : wound.shape[1]]
        angle = np.arctan2(yy - ys.mean(), xx - xs.mean())
        start, span = rng.uniform(-np.pi, np.pi), rng.uniform(0.5, 1.5) * np.pi
        band &= np.mod(angle - start, 2 * np.pi) < span
    if band.sum() < 10:
        return image.copy()
    lab = _lab(image)
    shape = band.shape
    if rng.random() < 0.5:  # white-yellow fibrin
        base = [rng.uniform(70, 90), rng.uniform(-2, 6), rng.uniform(10, 35)]
    else:  # pale pink: macerated or epithelialising tissue
        base = [rng.uniform(65, 85), rng.uniform(8, 20), rng.uniform(4, 15)]
    paint = np.empty_like(lab)
    grain = max(2.0, radius * 0.15)
    paint[..., 0] = base[0] + smooth_noise(shape, grain, rng) * rng.uniform(1, 4)
    paint[..., 0] += _highpass_l(lab, 2.0) * 0.5
    paint[..., 1] = base[1] + smooth_noise(shape, grain * 2, rng) * rng.uniform(1, 3)
    paint[..., 2] = base[2] + smooth_noise(shape, grain * 2, rng) * rng.uniform(1, 4)
    # full at the wound's edge, fading into the red bed over the band's inner half
    fade = np.clip((width - depth) / np.maximum(1.0, 0.5 * width), 0.0, 1.0)
    cover = np.clip(rng.uniform(0.8, 1.0) + 0.2 * fractal_noise(shape, rng), 0.5, 1.0)
    alpha = (band * fade * cover).astype(np.float32)[..., None]
    out = _rgb(lab * (1 - alpha) + paint * alpha)
    out[~wound] = image[~wound]  # the skin keeps its exact pixels
    return out


def add_copied_lesion(
    image: np.ndarray, wound: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Add a second lesion on the skin: the photo's own wound, 0.3-0.8 times its size, turned,
    its edge feathered over a pixel or two; the mask gains it. Returns (image, wound mask).

    Photos with several lesions are common (calciphylaxis especially) and FUSeg has few; a
    network that saw one wound per photo may keep only the largest. Left as it was where the
    wound is too small to copy or no skin has room for the copy."""
    ys, xs = np.nonzero(wound)
    if len(ys) < 200:
        return image.copy(), wound.copy()
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    scale = rng.uniform(0.3, 0.8)
    angle = rng.uniform(-180, 180)
    patch = image[y0:y1, x0:x1]
    patch_mask = wound[y0:y1, x0:x1].astype(np.float32)
    ph, pw = patch_mask.shape
    # the turned, scaled patch in a square canvas that holds it whole
    side = int(np.ceil(np.hypot(ph, pw) * scale)) + 4
    m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, scale)
    m[0, 2] += side / 2 - pw / 2
    m[1, 2] += side / 2 - ph / 2
    new = cv2.warpAffine(patch, m, (side, side), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(patch_mask, m, (side, side), flags=cv2.INTER_LINEAR)
    new_mask = alpha > 0.5
    if new_mask.sum() < 30:
        return image.copy(), wound.copy()
    alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.5)) * (alpha > 0.02)
    # a place on the skin, clear of the wound, where the whole copy fits
    h, w = wound.shape
    clear = cv2.dilate(wound.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    lab = _lab(image)  # skin has some chroma (a* and b* both positive); sheets and walls do not
    skin = skin_like(image, clear) & (lab[..., 1] > 4) & (lab[..., 2] > 5)
    room = cv2.erode(skin.astype(np.uint8), np.ones((side, side), np.uint8))
    room[: side // 2] = 0
    room[h - side // 2 - 1 :] = 0
    room[:, : side // 2] = 0
    room[:, w - side // 2 - 1 :] = 0
    cy, cx = np.nonzero(room)
    if len(cy) == 0:
        return image.copy(), wound.copy()
    i = rng.integers(len(cy))
    top, left = int(cy[i]) - side // 2, int(cx[i]) - side // 2
    out = image.copy()
    region = out[top : top + side, left : left + side].astype(np.float32)
    a = alpha[..., None]
    out[top : top + side, left : left + side] = np.clip(
        region * (1 - a) + new.astype(np.float32) * a + 0.5, 0, 255
    ).astype(np.uint8)
    mask = wound.copy()
    mask[top : top + side, left : left + side] |= new_mask
    return out, mask


# Of the repaintings, eschar 45 %, slough 30 %, both 10 %: 85 % repaint part of the wound; the
# rest add a new eschar on the skin.
_WOUND_REPAINTS = 0.85


def synthesize(
    image: np.ndarray,
    wound: np.ndarray,
    rng: np.random.Generator,
    p: float = 0.5,
    new_eschar_p: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """With probability ``p``, repaint tissue in a photo and return the (image, wound mask) pair.

    ``new_eschar_p`` None: a new eschar on the skin is one of the repaintings (15 % of them, all
    of them where the wound is tiny). A number: a new eschar on the skin with that probability
    on its own, and otherwise part of the wound repainted with probability ``p``, so that fewer
    repainted wounds need not mean fewer new eschars."""
    if new_eschar_p is not None:
        if rng.random() < new_eschar_p:
            return add_eschar_lesion(image, wound, rng)
        if rng.random() >= p:
            return image, wound
        choice = rng.random() * _WOUND_REPAINTS  # only the wound repaintings, same proportions
    else:
        if rng.random() >= p:
            return image, wound
        choice = rng.random()
    if wound.sum() >= 50 and choice < 0.45:
        return paint_eschar(image, part_of(wound, rng), rng), wound
    if wound.sum() >= 50 and choice < 0.75:
        return paint_slough(image, part_of(wound, rng), rng), wound
    if wound.sum() >= 50 and choice < _WOUND_REPAINTS:  # eschar and slough side by side
        part = part_of(wound, rng)
        out = paint_eschar(image, part, rng)
        rest = wound & ~part
        return (paint_slough(out, part_of(rest, rng), rng) if rest.sum() >= 50 else out), wound
    return add_eschar_lesion(image, wound, rng)
