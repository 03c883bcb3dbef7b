"""training/: augmentation scale, the two decoders, freezing, and export to what learned.py runs.

The augmentation tests need numpy and OpenCV only. The network tests need the ``train`` extra
(torch, onnx) and are skipped without it: ``pip install -e '.[train]'``.
"""

import numpy as np
import pytest

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


torch = pytest.importorskip("torch")
from training.model import WoundBedNet, decoder_of  # noqa: E402


@pytest.mark.parametrize("decoder", ["full", "light"])
def test_both_decoders_give_logits_at_the_input_size(decoder):
    model = WoundBedNet(decoder).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 96))
    assert out.shape == (1, 1, 64, 96)
    assert decoder_of(model.state_dict()) == decoder


def test_an_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="decoder"):
        WoundBedNet("tiny")


def test_the_light_decoder_has_no_full_resolution_stage_and_fewer_operations():
    full, light = WoundBedNet("full"), WoundBedNet("light")
    assert hasattr(full, "up0") and not hasattr(light, "up0")
    assert set(light.state_dict()) < set(full.state_dict())
    assert not any(k.startswith("up0.") for k in light.state_dict())


def test_frozen_early_blocks_get_no_gradient_and_the_rest_do():
    model = WoundBedNet("light")
    model.freeze_early_encoder(3)
    model(torch.randn(2, 3, 64, 64)).mean().backward()
    enc = model.encoder
    frozen = [enc._conv_stem.weight, *[p for b in enc._blocks[:3] for p in b.parameters()]]
    assert all(not p.requires_grad and p.grad is None for p in frozen)
    trained = [*enc._blocks[3].parameters(), model.head.weight, model.up1.conv[0][0].weight]
    assert all(p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0 for p in trained)


def test_a_light_model_exports_to_an_onnx_file_the_segmenter_runs(tmp_path):
    pytest.importorskip("onnx")
    from training.export import export
    from woundtrack import learned

    torch.manual_seed(0)
    model = WoundBedNet("light").eval()
    weights = tmp_path / "weights_fp16.pt"
    state = model.state_dict()
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, weights)
    onnx_path = tmp_path / "light.onnx"
    diff = export(weights, onnx_path, {"woundtrack_model_version": "test-light"})
    assert diff < 1e-3
    session = learned.load_model(str(onnx_path))
    assert learned.model_version(session) == "test-light"
    image = np.random.default_rng(0).integers(0, 255, (300, 200, 3), np.uint8)
    logits = learned.network_logits(image, session, long_side_px=128)
    assert logits.shape == (128, 85) and np.isfinite(logits).all()
