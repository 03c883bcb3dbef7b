"""training/data.py and synthesis.py: augmentation scale, skin tone, the painted-in validation set.
The network tests, which need torch, are in test_training_network.py."""

import numpy as np
from scipy import ndimage

from training import data

SIZE_PX = 256


def disc_photo(radius_px: int = 40, side_px: int = 512):
    yy, xx = np.mgrid[:side_px, :side_px]
    mask = (yy - side_px / 2) ** 2 + (xx - side_px / 2) ** 2 <= radius_px**2
    image = np.full((side_px, side_px, 3), 200, np.uint8)
    image[mask] = (170, 40, 40)
    return image, mask


def wound_areas_px(scale_px: int, n: int = 12) -> list[int]:
    image, mask = disc_photo()
    params = data.AugmentParams(
        size_px=SIZE_PX,
        scale_px=scale_px,
        synthesis_p=0.0,
        zoom_out_p=0.0,
        zoom_in_p=0.0,
        photometric_p=0.0,
    )
    areas = []
    for k in range(n):
        img, msk = data.augment(image, mask, np.random.default_rng(k), params)
        assert img.shape == (SIZE_PX, SIZE_PX, 3) and msk.shape == (SIZE_PX, SIZE_PX)
        areas.append(int(msk.sum()))
    return areas


def test_crop_without_scale_px_scales_the_whole_photo_to_the_crop():
    # the 512 px photo is scaled by 0.5 x zoom (0.75-1.2): the 40 px disc becomes 15-24 px
    for area in wound_areas_px(scale_px=0):
        assert np.pi * (40 * 0.5 * 0.75) ** 2 * 0.9 <= area <= np.pi * (40 * 0.5 * 1.2) ** 2 * 1.1


def test_scale_px_keeps_the_wound_at_that_scale_and_crops_from_it():
    # scale_px=512: the photo keeps its own scale (x zoom), the 256 px crop holds the whole disc
    for area in wound_areas_px(scale_px=512):
        assert np.pi * (40 * 0.75) ** 2 * 0.9 <= area <= np.pi * (40 * 1.2) ** 2 * 1.1


def test_repainted_photos_say_which_tissue_was_painted_even_after_a_photo_without_wound(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    image, mask = disc_photo(radius_px=60, side_px=256)
    for k in range(4):
        m = mask if k != 1 else np.zeros_like(mask)  # photo 1 has no wound: left out
        Image.fromarray(image).save(tmp_path / "images" / f"{k}.png")
        Image.fromarray(m.astype(np.uint8) * 255).save(tmp_path / "masks" / f"{k}.png")
    out = data.repainted_validation(data.list_pairs(tmp_path), style="trained")
    assert [(name, tissue) for name, *_, tissue in out] == [
        ("0", "eschar"),
        ("2", "eschar"),
        ("3", "slough"),
    ]
    for _, painted_image, m, painted, tissue in out:
        assert painted.any() and not (painted & ~m).any()
        change = painted_image[painted].mean() - image[painted].mean()  # the wound's mean is 83
        assert change < -5 if tissue == "eschar" else change > 30


def test_new_eschar_p_adds_a_new_eschar_on_the_skin_whatever_synthesis_p_says():
    from training import synthesis

    yy, xx = np.mgrid[:256, :256]
    wound = (yy - 128) ** 2 + (xx - 128) ** 2 <= 30**2
    image = np.full((256, 256, 3), (205, 160, 135), np.uint8)  # light skin
    image[wound] = (170, 40, 40)
    for k in range(4):
        out, mask = synthesis.synthesize(
            image, wound, np.random.default_rng(k), p=0.0, new_eschar_p=1.0
        )
        added = mask & ~wound
        assert mask[wound].all() and added.sum() >= 60  # the wound stays, an eschar is added
        assert out[added].mean() < 0.5 * image[added].mean()  # and it is dark
        for new_eschar_p in (None, 0.0):  # nothing painted when neither rate asks for it
            same, same_mask = synthesis.synthesize(
                image, wound, np.random.default_rng(k), p=0.0, new_eschar_p=new_eschar_p
            )
            assert (same == image).all() and (same_mask == wound).all()


def skin_photo(skin_rgb=(215, 170, 145)):
    """Light skin on the left 3/4 with a red wound and a pale callus ring, a white sheet right."""
    yy, xx = np.mgrid[:256, :256]
    image = np.full((256, 256, 3), 245, np.uint8)  # white sheet, no chroma
    image[:, :192] = skin_rgb
    r2 = (yy - 128) ** 2 + (xx - 90) ** 2
    callus = (r2 > 30**2) & (r2 <= 38**2)
    image[callus] = (230, 225, 215)  # pale, nearly grey: not skin by colour alone
    wound = r2 <= 30**2
    image[wound] = (170, 40, 40)
    return image, wound, callus


def lightness(pixels_rgb: np.ndarray) -> float:
    import cv2

    lab = cv2.cvtColor(pixels_rgb.reshape(-1, 1, 3).astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    return float(np.median(lab[..., 0]))


def test_darken_skin_makes_the_skin_dark_and_leaves_wound_mask_and_sheet_alone():
    from training import synthesis

    image, wound, callus = skin_photo()
    skin_far = np.zeros_like(wound)
    skin_far[10:60, 10:60] = True
    for k in range(5):
        given = wound.copy()
        out = synthesis.darken_skin(image, wound, np.random.default_rng(k))
        assert (wound == given).all()  # the mask is left as it was
        assert (out[wound] == image[wound]).all()  # the wound keeps its exact pixels
        assert 20 <= lightness(out[skin_far]) <= 46  # L* 22-45, give or take rounding
        assert lightness(out[callus]) < lightness(image[callus]) - 15  # callus goes with the skin
        assert (out[:, 224:] == image[:, 224:]).all()  # the sheet, away from the skin, is as it was


def test_darken_skin_leaves_skin_that_is_already_dark():
    from training import synthesis

    image, wound, _ = skin_photo(skin_rgb=(70, 45, 32))  # L* about 21
    out = synthesis.darken_skin(image, wound, np.random.default_rng(0))
    assert (out == image).all()


def test_skin_tone_p_darkens_training_samples_only_when_asked():
    image, wound, _ = skin_photo()
    fixed = dict(size_px=SIZE_PX, synthesis_p=0.0, zoom_out_p=0.0, zoom_in_p=0.0, photometric_p=0.0)
    for k in range(3):
        for skin_tone_p, low, high in ((0.0, 65, 100), (1.0, 0, 50)):
            params = data.AugmentParams(**fixed, skin_tone_p=skin_tone_p)
            out, mask = data.augment(image, wound, np.random.default_rng(k), params)
            assert mask.sum() > 0
            # skin is most of what is neither wound nor the black border of the warp
            assert low <= lightness(out[~mask & (out.sum(axis=2) > 30)]) <= high


def test_the_validation_photos_are_all_the_bed_networks_held_out_ones_and_fixed():
    stems = [f"{i:04d}" for i in range(86)]
    held = set(stems[::6])  # 15 photos the wound-bed network never saw
    train, val = data.tissue_split(stems, held)
    assert held <= set(val) and len(val) == data.N_TISSUE_VALIDATION
    assert not set(train) & set(val) and len(train) + len(val) == 86
    assert data.tissue_split(stems, held) == (train, val)


def test_a_pale_rim_is_painted_pale_inside_the_wound_and_only_there():
    from training import synthesis

    image, wound, _ = skin_photo()
    depth = ndimage.distance_transform_edt(wound)
    for k in range(6):
        out = synthesis.paint_pale_rim(image, wound, np.random.default_rng(k))
        assert (out[~wound] == image[~wound]).all()  # skin and sheet keep their exact pixels
        edge, centre = wound & (depth <= 1.5), wound & (depth >= 20)
        changed = (out != image).any(axis=2)
        assert changed[edge].mean() > 0.2  # some or all of the border, never nothing
        assert not changed[centre].any()  # a band at the border, not the bed's middle
        # where it is painted, the border turns pale: lighter than the red bed by far
        painted = edge & changed & (np.abs(out.astype(int) - image).sum(axis=2) > 60)
        assert painted.sum() > 10
        assert lightness(out[painted]) > lightness(image[painted]) + 20


def test_a_copied_lesion_lands_on_skin_clear_of_the_wound_and_joins_the_mask():
    from training import synthesis

    image, wound, _ = skin_photo()
    placed = 0
    for k in range(6):
        out, mask = synthesis.add_copied_lesion(image, wound, np.random.default_rng(k))
        assert (mask[wound]).all() and (out[wound] == image[wound]).all()  # the wound is kept
        new = mask & ~wound
        if not new.any():  # no room this time: nothing changed
            assert (out == image).all()
            continue
        placed += 1
        labelled, n = ndimage.label(mask)
        assert n == 2  # the wound and its copy, apart
        assert 0.3**2 * 0.7 <= new.sum() / wound.sum() <= 0.8**2 * 1.3
        assert (out[:, 224:] == image[:, 224:]).all()  # never on the sheet
        # the copy looks like the wound: red where the mask says wound
        assert np.abs(np.median(out[new], axis=0) - (170, 40, 40)).max() < 25
    assert placed >= 4


def test_camera_changes_exposure_and_white_balance_in_linear_light():
    grey = np.full((8, 8, 3), 118, np.uint8)  # sRGB 118: linear 0.18
    outs = [data.camera(grey, np.random.default_rng(k)) for k in range(40)]
    means = np.array([o.reshape(-1, 3).mean(axis=0) for o in outs])
    assert means.min() < 90 and means.max() > 150  # about 2 stops of exposure
    red_blue = means[:, 0] - means[:, 2]
    assert red_blue.min() < -10 and red_blue.max() > 10  # cooler and warmer
    black = np.zeros((4, 4, 3), np.uint8)
    assert (data.camera(black, np.random.default_rng(0)) == 0).all()  # black stays black


def test_the_clinic_augmentations_are_off_unless_asked_and_draw_nothing_when_off():
    image, wound, _ = skin_photo()
    fixed = dict(size_px=SIZE_PX, synthesis_p=0.0, zoom_out_p=0.0, zoom_in_p=0.0)
    before = data.augment(image, wound, np.random.default_rng(3), data.AugmentParams(**fixed))
    off = data.AugmentParams(**fixed, pale_rim_p=0.0, copied_lesion_p=0.0, camera_p=0.0)
    again = data.augment(image, wound, np.random.default_rng(3), off)
    assert (before[0] == again[0]).all() and (before[1] == again[1]).all()
    on = data.AugmentParams(**fixed, copied_lesion_p=1.0, photometric_p=0.0)
    lesions = [
        ndimage.label(data.augment(image, wound, np.random.default_rng(k), on)[1])[1]
        for k in range(4)
    ]
    assert max(lesions) == 2


def test_the_pale_rim_test_set_paints_the_whole_border_pale_and_keeps_the_mask(tmp_path):
    from PIL import Image

    from training import synthesis

    image, wound, _ = skin_photo()
    out, band = synthesis.paint_plain_rim(image, wound, np.random.default_rng(0))
    border = wound & ~ndimage.binary_erosion(wound)
    assert band[border].all() and (band <= wound).all()  # all round, never outside the wound
    assert (out[~band] == image[~band]).all()
    assert lightness(out[band]) > lightness(image[band]) + 25  # pale against the red bed
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    Image.fromarray(image).save(tmp_path / "images" / "a.png")
    Image.fromarray(wound.astype(np.uint8) * 255).save(tmp_path / "masks" / "a.png")
    [(name, painted, mask, where, kind)] = data.repainted_validation(
        data.list_pairs(tmp_path), style="pale-rim"
    )
    assert name == "a" and kind == "pale" and (mask == wound).all()
    assert where.any() and (where <= mask).all() and not (painted == image).all()
