"""training/tissue.py: the tissue network's labels (specialists', masks, painted eschar), its split,
its partial-supervision loss, a short run, and the export the segmenter checks and runs.
They need the ``train`` extra (torch, onnx), as test_training_network.py."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
from training import tissue  # noqa: E402
from training.model import TissueNet  # noqa: E402
from woundtrack.image.learned import TISSUE_CHANNELS  # noqa: E402
from woundtrack.models import ESCHAR, GRANULATION, SLOUGH  # noqa: E402


def test_the_labels_come_from_the_annotation_then_the_wound_mask():
    mask = np.zeros((4, 6), bool)
    mask[:, :3] = True
    annotation = np.full((4, 6), 255, np.uint8)  # not annotated
    annotation[0, :] = [1, 2, 0, 3, 0, 255]  # slough, granulation, none, callus, none, -
    target = tissue.tissue_target(mask, annotation)
    assert target[0].tolist() == [SLOUGH, GRANULATION, tissue.UNKNOWN_WOUND, 0, 0, 0]
    # rows without annotation: the wound mask says wound (tissue unknown) or not wound
    assert target[1].tolist() == [tissue.UNKNOWN_WOUND] * 3 + [0] * 3
    assert (tissue.tissue_target(mask)[:, :3] == tissue.UNKNOWN_WOUND).all()


def square_wound_photo():
    """Skin with a red square wound, and its training labels."""
    image = np.full((200, 200, 3), (200, 160, 140), np.uint8)
    mask = np.zeros((200, 200), bool)
    mask[60:140, 60:140] = True
    image[mask] = (170, 40, 40)
    return image, tissue.tissue_target(mask)


def test_painted_eschar_is_labelled_eschar_and_labels_stay_in_their_set():
    image, target = square_wound_photo()
    seen = set()
    for k in range(12):
        img, tgt = tissue.augment(
            image, target, np.random.default_rng(k), size_px=96, long_px=128, eschar_p=1.0
        )
        assert img.shape == (96, 96, 3) and tgt.shape == (96, 96)
        assert set(np.unique(tgt)) <= {0, GRANULATION, SLOUGH, ESCHAR, tissue.UNKNOWN_WOUND}
        seen |= set(np.unique(tgt).tolist())
        if (tgt == ESCHAR).sum() > 50:  # painted eschar is dark
            assert np.median(img[tgt == ESCHAR].mean(axis=1)) < np.median(img[tgt == 0].mean())
    assert ESCHAR in seen


def test_another_cameras_light_changes_the_colours_and_never_the_labels():
    image, target = square_wound_photo()
    fixed = dict(size_px=96, long_px=128, eschar_p=0.0, slough_p=0.0, new_eschar_p=0.0)
    changed = 0
    for k in range(6):
        plain, plain_tgt = tissue.augment(image, target, np.random.default_rng(k), **fixed)
        lit, lit_tgt = tissue.augment(
            image, target, np.random.default_rng(k), **fixed, camera_p=1.0
        )
        assert (lit_tgt == plain_tgt).all()  # same crop, same labels
        off, _ = tissue.augment(image, target, np.random.default_rng(k), **fixed, camera_p=0.0)
        assert (off == plain).all()  # off by default, and off draws nothing
        changed += int(np.abs(lit.astype(int) - plain).mean() > 3)
    assert changed >= 4


def test_the_loss_trains_unknown_wound_as_any_bed_tissue():
    weights = torch.ones(len(TISSUE_CHANNELS))
    target = torch.full((1, 4, 4), tissue.UNKNOWN_WOUND, dtype=torch.long)
    logits = torch.zeros(1, 4, 4, 4)
    for c in (GRANULATION, SLOUGH, ESCHAR):  # any bed tissue is right for "wound, unknown"
        confident = logits.clone()
        confident[:, c] = 8.0
        assert tissue.tissue_loss(confident, target, weights) < 0.01
    not_wound = logits.clone()
    not_wound[:, 0] = 8.0
    assert tissue.tissue_loss(not_wound, target, weights) > 5.0
    ignored = torch.full((1, 4, 4), tissue.IGNORE, dtype=torch.long)
    assert tissue.tissue_loss(not_wound, ignored, weights) == 0.0
    labelled = torch.full((1, 4, 4), SLOUGH, dtype=torch.long)
    right, wrong = logits.clone(), logits.clone()
    right[:, SLOUGH], wrong[:, GRANULATION] = 8.0, 8.0
    loss_right = tissue.tissue_loss(right, labelled, weights)
    assert loss_right < tissue.tissue_loss(wrong, labelled, weights)


def test_the_tissue_network_exports_to_a_file_the_segmenter_accepts(tmp_path):
    pytest.importorskip("onnx")
    from training.export import export, is_tissue
    from woundtrack.image import learned

    model = TissueNet().eval()
    state = model.state_dict()
    assert is_tissue(state)
    weights = tmp_path / "weights_fp16.pt"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, weights)
    path = tmp_path / "tissue.onnx"
    meta = {"woundtrack_model_version": "t-1", "woundtrack_labels": "tissue"}
    assert export(weights, path, meta) < 1e-3
    info = learned.check_model(path.read_bytes(), name="tissue.onnx", labels="tissue")
    assert info.version == "t-1" and info.size_bytes < 5e6
    scores = learned.tissue_scores(
        np.zeros((50, 70, 3), np.uint8), learned.load_model(str(path)), 64, (20, 28)
    )
    assert scores.shape == (20, 28, 4) and np.isfinite(scores).all()


def test_a_short_run_trains_and_scores_the_validation_tissues(tmp_path):
    from PIL import Image

    from training import data

    data_dir = tmp_path / "data"
    for sub in ("images", "masks", "tissue"):
        (data_dir / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(data.N_VALIDATION + 12):
        mask = np.zeros((64, 64), np.uint8)
        mask[16:48, 20:44] = 255
        image = rng.integers(120, 220, (64, 64, 3), np.uint8)
        image[mask > 0] = (170, 40, 40)
        image[16:30, 20:44] = (220, 200, 90)  # slough on top
        Image.fromarray(image).save(data_dir / "images" / f"{i:04d}.png")
        Image.fromarray(mask).save(data_dir / "masks" / f"{i:04d}.png")
        if i % 5 == 0:  # specialists' labels on every fifth photo
            labels = np.zeros((64, 64), np.uint8)
            labels[mask > 0] = 2
            labels[16:30, 20:44] = 1
            Image.fromarray(labels).save(data_dir / "tissue" / f"{i:04d}.png")
    out = tmp_path / "run"
    tissue.main(
        [
            *("--data", str(data_dir), "--out", str(out), "--epochs", "2", "--size", "64"),
            *("--long-side", "64", "--batch", "4", "--workers", "0", "--bed-photos", "4"),
            *("--tissue-repeats", "1", "--validate-every", "1"),
        ]
    )
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["epochs_done"] == 2 and len(recipe["tissue_validation"]) > 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(np.isfinite(r["loss"]) and 0 <= r["granulation_dice"] <= 1 for r in rows)
    model = TissueNet()
    state = torch.load(out / "weights_fp16.pt", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})  # strict: every weight
