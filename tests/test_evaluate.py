"""Tests of the mask scores (Dice, precision, recall) and of ``woundtrack evaluate``.

The scores are checked against hand-computed answers; the command runs in-process on a small
folder of synthetic photos (a skin-coloured patch with a dark red disc as the wound) whose masks
are drawn exactly, with the classical segmenter.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from woundtrack.cli import EVALUATION_COLUMNS, main
from woundtrack.image.evaluation import (
    SKIN_RING_SHARES,
    TRUTH_CALLUS,
    TRUTH_ESCHAR,
    TRUTH_GRANULATION,
    TRUTH_NOT_WOUND,
    TRUTH_SLOUGH,
    bed_shares,
    mask_counts,
    mask_scores,
    pair_by_stem,
    periwound_ita_deg,
    score_by_skin_tone,
    score_dataset,
    share_agreement,
    skin_tone_group,
    tissue_confusion,
    tissue_scores,
)
from woundtrack.image.learned import default_model_path
from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, SLOUGH

WIDTH_PX, HEIGHT_PX = 200, 160
SKIN_RGB, WOUND_RGB = (224, 172, 140), (120, 20, 25)


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def test_mask_counts_by_hand() -> None:
    pred = np.array([[True, True, False], [False, True, False]])
    truth = np.array([[True, False, False], [True, True, False]])
    assert mask_counts(pred, truth) == (2, 1, 1)
    assert all(type(n) is int for n in mask_counts(pred, truth))


def test_mask_counts_refuses_other_shapes_and_types() -> None:
    with pytest.raises(ValueError, match=r"pred has shape \(2, 3\) but truth has shape \(3, 2\)"):
        mask_counts(np.zeros((2, 3), bool), np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match="truth must be a bool array, found uint8"):
        mask_counts(np.zeros((2, 3), bool), np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError, match="pred must be a bool array, found list"):
        mask_counts([[True]], np.zeros((1, 1), bool))


def test_mask_scores_by_hand() -> None:
    scores = mask_scores(3, 1, 2)
    assert scores["dice"] == pytest.approx(6 / 9)
    assert scores["precision"] == pytest.approx(3 / 4)
    assert scores["recall"] == pytest.approx(3 / 5)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((0, 0, 0), 1.0),  # no wound, rightly nothing predicted
        ((0, 0, 5), 0.0),  # a wound, nothing predicted
        ((0, 4, 0), 0.0),  # no wound, something predicted
    ],
)
def test_mask_scores_of_empty_masks_follow_the_dice(counts, expected) -> None:
    assert mask_scores(*counts) == {"dice": expected, "precision": expected, "recall": expected}


def test_mask_scores_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match=r"pixel counts must be >= 0, got tp=1, fp=-1, fn=0"):
        mask_scores(1, -1, 0)


def test_pooled_and_mean_dice_differ_when_a_small_wound_is_missed() -> None:
    # A large wound found exactly, a small one missed: pooled pixels barely notice the miss,
    # the mean over photos halves.
    summary = score_dataset([(1000, 0, 0), (0, 0, 10)])
    assert summary == {
        "n_images": 2,
        "data_based_dice": pytest.approx(2000 / 2010),
        "mean_image_dice": pytest.approx(0.5),
        "precision": pytest.approx(1.0),
        "recall": pytest.approx(1000 / 1010),
    }


def test_score_dataset_pools_precision_and_recall() -> None:
    summary = score_dataset(iter([(90, 10, 0), (0, 0, 10)]))
    assert summary["data_based_dice"] == pytest.approx(180 / 200)
    assert summary["mean_image_dice"] == pytest.approx((180 / 190 + 0) / 2)
    assert summary["precision"] == pytest.approx(90 / 100)
    assert summary["recall"] == pytest.approx(90 / 100)


def test_score_dataset_refuses_no_rows() -> None:
    with pytest.raises(ValueError, match="no images to score"):
        score_dataset([])


def test_pair_by_stem() -> None:
    images = [Path("i/a.JPG"), Path("i/b.png"), Path("i/b.jpg"), Path("i/c.png"), Path("i/x.txt")]
    masks = [Path("m/a.png"), Path("m/b.png"), Path("m/d.bmp"), Path("m/.e.png")]
    pairs, problems = pair_by_stem(images, masks)
    assert pairs == [(Path("i/a.JPG"), Path("m/a.png")), (Path("i/b.jpg"), Path("m/b.png"))]
    assert len(problems) == 3
    assert problems[0].startswith("b.png: skipped, as b.jpg")
    assert problems[1].startswith("c.png: no mask named c.*")
    assert problems[2].startswith("d.bmp: a mask without a photo")


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _disc(centre_px: tuple[int, int], radius_px: float) -> np.ndarray:
    yy, xx = np.mgrid[:HEIGHT_PX, :WIDTH_PX]
    return (xx - centre_px[0]) ** 2 + (yy - centre_px[1]) ** 2 <= radius_px**2


def _photo(wound: np.ndarray) -> Image.Image:
    image = np.empty((HEIGHT_PX, WIDTH_PX, 3), np.uint8)
    image[:] = SKIN_RGB
    image[wound] = WOUND_RGB
    return Image.fromarray(image)


def _mask(truth: np.ndarray) -> Image.Image:
    return Image.fromarray(truth.astype(np.uint8) * 255)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


@dataclass(frozen=True)
class DataSet:
    images: Path
    masks: Path
    truth_px: dict[str, int]  # per scored photo


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    root = tmp_path_factory.mktemp("fuseg")
    images, masks = root / "images", root / "masks"
    images.mkdir()
    masks.mkdir()
    # exact: the mask is the painted disc
    exact = _disc((100, 80), 30)
    _photo(exact).save(images / "exact.png")
    _mask(exact).save(masks / "exact.png")
    # generous: the annotator drew a wider outline than the dark disc (Dice < 1)
    _photo(_disc((80, 70), 25)).save(images / "generous.jpg", quality=95)
    generous = _disc((80, 70), 35)
    _mask(generous).save(masks / "generous.png")
    # problems
    (images / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    _mask(exact).save(masks / "corrupt.png")
    _mask(exact).save(masks / "orphan.png")
    _photo(exact).save(images / "unmasked.png")
    _photo(exact).save(images / "smallmask.png")
    Image.fromarray(np.zeros((HEIGHT_PX // 2, WIDTH_PX // 2), np.uint8)).save(
        masks / "smallmask.png"
    )
    (images / "notes.txt").write_text("not a photo, not paired\n")
    return DataSet(
        images=images,
        masks=masks,
        truth_px={"exact.png": int(exact.sum()), "generous.jpg": int(generous.sum())},
    )


@dataclass(frozen=True)
class Run:
    status: int
    summary: dict
    stderr: str
    rows: list[dict[str, str]]
    header: list[str]


@pytest.fixture(scope="module")
def scored(dataset: DataSet, tmp_path_factory: pytest.TempPathFactory) -> Run:
    table = tmp_path_factory.mktemp("out") / "scores.csv"
    status, out, err = run(
        "evaluate",
        "--images",
        str(dataset.images),
        "--masks",
        str(dataset.masks),
        "--segmenter",
        "classical",
        "--table",
        str(table),
        "--json",
    )
    with table.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    return Run(status=status, summary=json.loads(out), stderr=err, rows=rows, header=header)


def test_table_has_one_row_per_scored_photo(scored: Run, dataset: DataSet) -> None:
    assert scored.status == 0
    assert scored.header == list(EVALUATION_COLUMNS)
    assert [row["name"] for row in scored.rows] == ["exact.png", "generous.jpg"]
    for row in scored.rows:
        tp, fp, fn = int(row["tp"]), int(row["fp"]), int(row["fn"])
        assert (int(row["width_px"]), int(row["height_px"])) == (WIDTH_PX, HEIGHT_PX)
        assert int(row["truth_px"]) == tp + fn == dataset.truth_px[row["name"]]
        assert int(row["predicted_px"]) == tp + fp
        for name, value in mask_scores(tp, fp, fn).items():
            assert float(row[name]) == value  # written so that it reads back exactly


def test_the_classical_segmenter_finds_the_painted_discs(scored: Run) -> None:
    exact, generous = scored.rows
    assert float(exact["dice"]) > 0.95
    # the prediction is about the painted disc, inside the wider annotation
    assert float(generous["precision"]) > 0.95
    assert float(generous["recall"]) == pytest.approx(25**2 / 35**2, abs=0.05)


def test_json_summary_agrees_with_the_table(scored: Run) -> None:
    s = scored.summary
    counts = [(int(r["tp"]), int(r["fp"]), int(r["fn"])) for r in scored.rows]
    tp, fp, fn = (sum(c[i] for c in counts) for i in range(3))
    assert set(s) == {
        "n_images",
        "n_skipped",
        "data_based_dice",
        "mean_image_dice",
        "precision",
        "recall",
        "by_skin_tone",
        "segmenter",
        "model_version",
        "model_sha256",
        "woundtrack_version",
    }
    assert s["n_images"] == 2
    assert s["n_skipped"] == 4
    assert s["data_based_dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert s["mean_image_dice"] == pytest.approx(np.mean([float(r["dice"]) for r in scored.rows]))
    assert s["precision"] == pytest.approx(tp / (tp + fp))
    assert s["recall"] == pytest.approx(tp / (tp + fn))
    assert (s["segmenter"], s["model_version"]) == ("classical-lab", "1")
    assert not math.isclose(s["data_based_dice"], s["mean_image_dice"])
    # Both photos' skin (L* 74.3, b* 23.8: ITA 45.6°) is "light": one group, the whole set.
    lightness, b = _lab_of(SKIN_RGB)
    ita = math.degrees(math.atan((lightness - 50) / b))
    assert {r["skin_tone"] for r in scored.rows} == {"light"}
    assert all(float(r["skin_ita_deg"]) == pytest.approx(ita, abs=1.0) for r in scored.rows)
    assert s["by_skin_tone"] == {"light": score_dataset(counts)}


def test_each_problem_is_one_line_naming_the_file(scored: Run) -> None:
    lines = [line for line in scored.stderr.splitlines() if line.startswith("woundtrack: ")]
    assert len(lines) == 4, scored.stderr
    by_file = {line.split()[1].rstrip(":"): line for line in lines}
    assert set(by_file) == {"corrupt.jpg", "orphan.png", "unmasked.png", "smallmask.png"}
    assert "a mask without a photo" in by_file["orphan.png"]
    assert "no mask named unmasked.*" in by_file["unmasked.png"]
    assert "200x160 px but its mask smallmask.png is 100x80 px" in by_file["smallmask.png"]
    assert "notes.txt" not in scored.stderr


def test_text_summary(dataset: DataSet, tmp_path: Path) -> None:
    table = tmp_path / "scores.csv"
    status, out, _ = run(
        "evaluate",
        "--images",
        str(dataset.images),
        "--masks",
        str(dataset.masks),
        "--segmenter",
        "classical",
        "--table",
        str(table),
    )
    assert status == 0
    assert out.startswith("classical-lab 1 on 2 photo(s), 4 skipped (see above)\n")
    assert "  data-based Dice 0." in out
    assert "  mean per-image Dice 0." in out
    assert re.search(r"\n    light +2 photo\(s\): data-based Dice 0\.\d{3}", out), out
    assert f"wrote the per-image scores to {table}" in out
    assert table.is_file()


def test_no_table_unless_asked(dataset: DataSet, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(
        "evaluate",
        "--images",
        str(dataset.images),
        "--masks",
        str(dataset.masks),
        "--segmenter",
        "classical",
        "--json",
    )
    assert status == 0
    assert json.loads(out)["n_images"] == 2
    assert list(tmp_path.iterdir()) == []


def test_exit_1_when_nothing_can_be_scored(dataset: DataSet, tmp_path: Path) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    (images / "corrupt.jpg").write_bytes((dataset.images / "corrupt.jpg").read_bytes())
    _mask(_disc((100, 80), 30)).save(masks / "corrupt.png")
    argv = ["evaluate", "--images", str(images), "--masks", str(masks), "--segmenter", "classical"]
    status, out, err = run(*argv)
    assert status == 1
    assert out == ""
    assert "woundtrack: corrupt.jpg:" in err
    assert "no photo could be scored (1 problem(s) above)" in err

    (images / "corrupt.jpg").unlink()
    (masks / "corrupt.png").unlink()
    status, out, err = run(*argv)
    assert status == 1
    assert "no photo could be scored (no photo and mask pairs found)" in err


def test_bad_folders_and_table_path_are_usage_errors(dataset: DataSet, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    status, _, err = run("evaluate", "--images", str(missing), "--masks", str(dataset.masks))
    assert status == 2
    assert f"--images {missing} is not a folder" in err
    status, _, err = run(
        "evaluate",
        "--images",
        str(dataset.images),
        "--masks",
        str(dataset.masks),
        "--segmenter",
        "classical",
        "--table",
        str(missing / "scores.csv"),
    )
    assert status == 2
    assert "is not a file in an existing folder" in err


# --------------------------------------------------------------------------------------------
# Tissues (--tissue-masks): 0 not wound, 1 slough, 2 granulation, 3 callus, 4 eschar, 255 unknown
# --------------------------------------------------------------------------------------------


def test_tissue_confusion_by_hand_ignores_unannotated_pixels() -> None:
    truth = np.array([[2, 2, 2, 1], [3, 0, 4, 255]], dtype=np.uint8)
    labels = np.array([[1, 1, 3, 2], [1, 0, 3, 3]], dtype=np.uint8)
    c = tissue_confusion(labels, truth)
    assert c.shape == (5, 5) and c.sum() == 7  # the 255 pixel is left out
    assert c[TRUTH_GRANULATION].tolist() == [0, 2, 0, 1, 0]
    assert c[TRUTH_SLOUGH, SLOUGH] == 1 and c[TRUTH_ESCHAR, ESCHAR] == 1
    assert c[TRUTH_CALLUS, GRANULATION] == 1 and c[TRUTH_NOT_WOUND, 0] == 1


def test_tissue_confusion_refuses_other_values_and_sizes() -> None:
    with pytest.raises(ValueError, match=r"holds the value\(s\) \[7\]; use 0 not wound, 1 slough"):
        tissue_confusion(np.zeros((1, 2), np.uint8), np.array([[0, 7]], np.uint8))
    with pytest.raises(ValueError, match=r"differ in size; annotate the photo at its full size"):
        tissue_confusion(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))


def test_tissue_scores_by_hand() -> None:
    c = np.zeros((5, 5), dtype=np.int64)
    c[TRUTH_GRANULATION, GRANULATION] = 90
    c[TRUTH_GRANULATION, ESCHAR] = 10  # granulation called eschar: 10 %
    c[TRUTH_SLOUGH, SLOUGH] = 30
    c[TRUTH_SLOUGH, GRANULATION] = 10
    c[TRUTH_CALLUS, 0] = 92
    c[TRUTH_CALLUS, SLOUGH] = 5  # callus called wound bed: 5 %
    c[TRUTH_CALLUS, ERYTHEMA] = 3  # callus called erythema: 3 %
    s = tissue_scores(c)
    assert s["granulation"]["dice"] == pytest.approx(2 * 90 / (2 * 90 + 10 + 10))
    assert s["granulation"]["precision"] == pytest.approx(90 / 100)
    assert s["slough"]["recall"] == pytest.approx(30 / 40)
    assert s["slough"]["precision"] == pytest.approx(30 / 35)
    assert s["granulation_called_eschar_pct"] == pytest.approx(10.0)
    assert s["slough_called_granulation_pct"] == pytest.approx(25.0)
    assert s["callus_called_bed_pct"] == pytest.approx(5.0)
    assert s["callus_called_erythema_pct"] == pytest.approx(3.0)
    # bed: truth slough + granulation = 140 px, predicted bed = 145 px, 140 of them in the bed
    assert s["bed"]["recall"] == pytest.approx(1.0) and s["bed"]["predicted_px"] == 145
    # eschar was predicted but never annotated: it cannot be scored
    assert s["eschar"] == {
        "dice": None,
        "precision": None,
        "recall": None,
        "truth_px": 0,
        "predicted_px": 10,
    }


def test_bed_shares_and_their_agreement() -> None:
    shares = []
    for truth_slough, predicted_slough in ((10, 20), (50, 50), (80, 60)):
        c = np.zeros((5, 5), dtype=np.int64)
        c[TRUTH_SLOUGH, SLOUGH] = min(truth_slough, predicted_slough)
        c[TRUTH_SLOUGH, GRANULATION] = max(0, truth_slough - predicted_slough)
        c[TRUTH_GRANULATION, SLOUGH] = max(0, predicted_slough - truth_slough)
        c[TRUTH_GRANULATION, GRANULATION] = 100 - max(truth_slough, predicted_slough)
        s = bed_shares(c)
        assert s["truth_slough_pct"] == pytest.approx(truth_slough)
        assert s["predicted_slough_pct"] == pytest.approx(predicted_slough)
        shares.append(s)
    agreement = share_agreement(shares, "slough")
    assert agreement["n_photos"] == 3
    assert agreement["mean_abs_error_pct"] == pytest.approx((10 + 0 + 20) / 3)
    assert agreement["pearson_r"] == pytest.approx(np.corrcoef([10, 50, 80], [20, 50, 60])[0, 1])
    assert share_agreement(shares, "eschar")["pearson_r"] is None  # no eschar anywhere


@pytest.fixture(scope="module")
def tissue_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two photos whose annotations mark the dark red disc as granulation; one annotation leaves
    half the photo unannotated (255) and marks a ring of skin around the disc as callus."""
    root = tmp_path_factory.mktemp("tissue")
    (root / "images").mkdir()
    (root / "tissue").mkdir()
    for name, centre in (("a", (100, 80)), ("b", (90, 70))):
        disc = _disc(centre, 30)
        _photo(disc).save(root / "images" / f"{name}.png")
        truth = np.where(disc, TRUTH_GRANULATION, TRUTH_NOT_WOUND).astype(np.uint8)
        if name == "b":
            truth[_disc(centre, 45) & ~_disc(centre, 33)] = TRUTH_CALLUS
            truth[:, : WIDTH_PX // 4] = 255
        Image.fromarray(truth).save(root / "tissue" / f"{name}.png")
    Image.fromarray(np.full((HEIGHT_PX, WIDTH_PX), 9, np.uint8)).save(root / "tissue" / "c.png")
    _photo(_disc((100, 80), 30)).save(root / "images" / "c.png")
    return root


def evaluate_tissues(tissue_set: Path, *more: str) -> tuple[int, str, str]:
    """``woundtrack evaluate`` of the tissue set's photos against its tissue annotations."""
    images, tissue = str(tissue_set / "images"), str(tissue_set / "tissue")
    return run("evaluate", "--images", images, "--tissue-masks", tissue, *more)


def test_evaluate_tissue_masks_scores_each_tissue(tissue_set: Path, tmp_path: Path) -> None:
    table = tmp_path / "tissue.csv"
    status, out, err = evaluate_tissues(
        tissue_set, "--segmenter", "classical", "--table", str(table), "--json"
    )
    assert status == 0
    # the annotation with a value outside 0-4 / 255 is one line naming both files, and skipped
    assert re.search(r"c\.png / c\.png: the tissue annotation holds the value\(s\) \[9\]", err)
    summary = json.loads(out)
    assert summary["n_images"] == 2 and summary["n_skipped"] == 1
    # the classical rules call the uniform dark red disc granulation (or eschar, which is dark):
    # whatever they call it, the bed is found and the callus ring is not wound bed
    assert summary["bed"]["dice"] > 0.95
    assert summary["callus_called_bed_pct"] < 5.0
    assert summary["slough"]["dice"] is None  # none annotated
    assert len(summary["confusion"]) == 5 and len(summary["confusion"][0]) == 5
    with table.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["a.png", "b.png"]
    b = rows[1]
    # only annotated pixels count: b's first quarter of columns is 255
    assert int(b["annotated_px"]) == HEIGHT_PX * (WIDTH_PX - WIDTH_PX // 4)
    assert int(b["bed_truth_px"]) == int(_disc((90, 70), 30)[:, WIDTH_PX // 4 :].sum())


def test_evaluate_needs_masks_or_tissue_masks(dataset: DataSet) -> None:
    status, _, err = run("evaluate", "--images", str(dataset.images))
    assert status == 2
    assert "one of the arguments --masks --tissue-masks is required" in err
    status, _, err = run(
        "evaluate", "--images", str(dataset.images), "--tissue-masks", str(dataset.images / "x")
    )
    assert status == 2
    assert re.search(r"--tissue-masks .*x is not a folder; give the folder", err)


def test_evaluate_scores_the_learned_segmenter_with_another_tissue_network(
    tissue_set: Path, tmp_path: Path
) -> None:
    from test_tissue_network import constant_tissue_net

    slough_net = constant_tissue_net(tmp_path, SLOUGH)  # calls every bed pixel slough
    status, out, err = evaluate_tissues(tissue_set, "--tissue-model", slough_net, "--json")
    assert status == 0, err
    summary = json.loads(out)
    assert summary["model_version"].endswith(f"+tissue-only-{SLOUGH}")
    # whatever bed the network finds is all slough (no dark pixel here is black eschar)
    confusion = np.array(summary["confusion"])
    assert confusion[:, SLOUGH].sum() > 0
    assert confusion[:, GRANULATION].sum() == confusion[:, ESCHAR].sum() == 0
    status, _, err = evaluate_tissues(
        tissue_set, "--segmenter", "classical", "--tissue-model", slough_net
    )
    assert status == 2 and "--tissue-model are networks for the learned segmenter" in err
    status, _, err = evaluate_tissues(tissue_set, "--tissue-model", str(default_model_path()))
    assert status == 2 and "not for the tissues" in err


# --------------------------------------------------------------------------------------------
# Scores by skin tone
# --------------------------------------------------------------------------------------------


def _lab_of(rgb: tuple[int, int, int]) -> tuple[float, float]:
    """(L*, b*) of one sRGB colour, as skimage computes them (an independent check)."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.array([[rgb]], dtype=np.float64) / 255.0)[0, 0]
    return float(lab[0]), float(lab[2])


@pytest.mark.parametrize("skin", [(236, 200, 178), (198, 140, 105), (92, 58, 40)])
def test_the_skin_tone_is_read_in_a_ring_around_the_wound_only(skin) -> None:
    """A wound of one colour on skin of another, with other colours inside the wound, just
    outside it (its margin) and far from it, and black padding in the ring: only the ring's skin
    sets the angle, which is the ITA formula's for that colour."""
    size = 400
    image = np.full((size, size, 3), skin, np.uint8)
    wound = np.zeros((size, size), bool)
    wound[150:250, 150:250] = True
    image[wound] = (150, 20, 30)
    inner, outer = (share * size for share in SKIN_RING_SHARES)  # 8 and 20 px
    image[145:255, 145:150] = (255, 255, 255)  # a pale margin within 8 px: not read
    image[:, :40] = (40, 90, 200)  # blue cloth far from the wound: not read
    image[240:300, 120:140] = 0  # black padding inside the ring: not read
    lightness, b = _lab_of(skin)
    expected = math.degrees(math.atan((lightness - 50) / b))
    assert periwound_ita_deg(image, wound) == pytest.approx(expected, abs=0.5)
    assert inner < outer


def test_no_skin_tone_without_a_ring_of_skin() -> None:
    image = np.full((100, 100, 3), (200, 150, 120), np.uint8)
    assert periwound_ita_deg(image, np.zeros((100, 100), bool)) is None  # no wound
    assert periwound_ita_deg(image, np.ones((100, 100), bool)) is None  # nothing but wound
    blue = np.full((100, 100, 3), (60, 80, 200), np.uint8)  # b* < 0: no skin hue
    wound = np.zeros((100, 100), bool)
    wound[40:60, 40:60] = True
    assert periwound_ita_deg(blue, wound) is None
    with pytest.raises(ValueError, match="does not match the photo"):
        periwound_ita_deg(image, wound[:50])


@pytest.mark.parametrize(
    ("ita", "group"),
    [
        (70.0, "very light"),
        (55.0, "light"),  # a group takes angles above its lowest
        (41.5, "light"),
        (30.0, "intermediate"),
        (10.0, "brown"),
        (-29.9, "brown"),
        (-30.0, "dark"),
        (None, "unknown"),
    ],
)
def test_skin_tone_groups(ita, group) -> None:
    assert skin_tone_group(ita) == group


def test_scores_by_skin_tone_lightest_first_and_only_groups_with_photos() -> None:
    rows = [("unknown", 5, 0, 5), ("dark", 90, 10, 0), ("light", 8, 2, 0), ("dark", 0, 0, 10)]
    by_tone = score_by_skin_tone(rows)
    assert list(by_tone) == ["light", "dark", "unknown"]
    assert by_tone["dark"] == score_dataset([(90, 10, 0), (0, 0, 10)])
    assert by_tone["dark"]["data_based_dice"] == pytest.approx(180 / 200)
