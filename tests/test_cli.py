"""Tests of the ``woundtrack`` command line against the contract in README.md.

The CLI is called in-process (``woundtrack.cli.main``) on small phantoms written once per module;
one test runs the installed console script in a subprocess to prove the entry point. Accuracy is
tested elsewhere: here the figures only have to be sane against the phantom's truth.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import woundtrack
from woundtrack.cli import main
from woundtrack.synthetic.phantom import Phantom, PhantomSpec, write_phantom

TISSUES = ("wound", "granulation", "slough", "eschar", "erythema")
AREA_KEYS = {f"{t}_area_cm2" for t in TISSUES} | {f"{t}_area_px" for t in TISSUES}
# The README's "JSON record" table.
RECORD_KEYS = {
    "file",
    "ok",
    "error",
    "sha256",
    "taken_at",
    "width_px",
    "height_px",
    "calibrated",
    "calibration_method",
    "mm_per_px",
    "area_uncertainty_pct",
    "outline_doubt",
    "tilt_deg",
    "lesions",
    "warnings",
    "calibration",
    "provenance",
} | AREA_KEYS
README = Path(__file__).resolve().parent.parent / "README.md"
LESION_KEYS = {
    "index",
    "centroid_px",
    "bbox_px",
    "perimeter_cm",
    "length_cm",
    "width_cm",
    "perimeter_px",
    "length_px",
    "width_px",
    "granulation_pct",
    "slough_pct",
    "eschar_pct",
} | AREA_KEYS
CALIBRATION_KEYS = {
    "homography",
    "marker_id",
    "marker_corners_px",
    "marker_side_px",
    "tilt_deg",
    "focal_px",
    "white_balance_gains",
    "quality",
}
PROVENANCE_KEYS = {
    "photo_sha256",
    "woundtrack_version",
    "segmenter",
    "model_version",
    "model_name",
    "model_sha256",
    "calibration_method",
    "calibration_quality",
    "params",
    "corrected",
    "analysed_at",
}

WIDTH_PX, HEIGHT_PX = 800, 600
# A half-hour offset west of UTC: checks the sign and the minutes of the ISO form.
TAKEN_AT = datetime(2025, 3, 4, 10, 11, 12, tzinfo=timezone(-timedelta(hours=3, minutes=30)))
SMALL = dict(width_px=WIDTH_PX, height_px=HEIGHT_PX, wound_radius_mm=12.0, wound_fill_frac=0.35)
WOUND_BED = (1, 2, 3)


@dataclass(frozen=True)
class Photos:
    folder: Path
    wound: Phantom  # sticker, 20 degrees tilt, tz-aware capture time
    no_sticker: Phantom
    rotated: Phantom  # EXIF orientation 6: stored 600 wide x 800 high, displayed 800 x 600


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Photos:
    folder = tmp_path_factory.mktemp("photos")
    wound = write_phantom(
        PhantomSpec(seed=1, tilt_deg=20.0, taken_at=TAKEN_AT, **SMALL), folder / "wound.jpg"
    )
    no_sticker = write_phantom(
        PhantomSpec(seed=2, with_sticker=False, **SMALL), folder / "no_sticker.jpg"
    )
    rotated = write_phantom(
        PhantomSpec(seed=3, exif_orientation=6, **SMALL), folder / "rotated.jpg"
    )
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notaphoto.jpg").write_text("wound notes, not a photo\n")
    jpeg = (folder / "wound.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    return Photos(folder=folder, wound=wound, no_sticker=no_sticker, rotated=rotated)


@pytest.fixture(autouse=True)
def _in_photo_folder(photos: Photos, monkeypatch: pytest.MonkeyPatch) -> None:
    # Photos are given by bare name, so "file name as given" and the base name agree.
    monkeypatch.chdir(photos.folder)


@dataclass(frozen=True)
class Batch:
    status: int
    stdout: str
    stderr: str
    records: dict[str, dict]
    labels_dir: Path
    overlay_dir: Path


@pytest.fixture(scope="module")
def batch(photos: Photos, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """One ``measure --json --labels-out --overlay-out`` run over the three good photos."""
    out = tmp_path_factory.mktemp("out")
    labels_dir, overlay_dir = out / "labels", out / "overlays"
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        mp.chdir(photos.folder)
        status = main(
            [
                "measure",
                "wound.jpg",
                "no_sticker.jpg",
                "rotated.jpg",
                "--json",
                "--labels-out",
                str(labels_dir),
                "--overlay-out",
                str(overlay_dir),
            ]
        )
    records = [json.loads(line) for line in stdout.getvalue().splitlines()]
    return Batch(
        status=status,
        stdout=stdout.getvalue(),
        stderr=stderr.getvalue(),
        records={r["file"]: r for r in records},
        labels_dir=labels_dir,
        overlay_dir=overlay_dir,
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


# --------------------------------------------------------------------------------------------
# measure --json


def test_json_is_one_object_per_line_in_input_order(batch: Batch) -> None:
    assert batch.status == 0
    lines = batch.stdout.splitlines()
    assert len(lines) == 3
    assert [json.loads(line)["file"] for line in lines] == [
        "wound.jpg",
        "no_sticker.jpg",
        "rotated.jpg",
    ]
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert "Traceback" not in batch.stderr


def test_json_record_has_every_key_of_the_readme_table(batch: Batch) -> None:
    for record in batch.records.values():
        assert RECORD_KEYS - set(record) == set(), record["file"]
        assert CALIBRATION_KEYS - set(record["calibration"]) == set()
        assert PROVENANCE_KEYS - set(record["provenance"]) == set()
        assert record["lesions"], record["file"]
        for lesion in record["lesions"]:
            assert LESION_KEYS - set(lesion) == set()


def test_the_key_list_above_is_the_readme_table() -> None:
    # Issue 30: area_uncertainty_pct was in the README's table but not in RECORD_KEYS, so the
    # "every key" test never asked for it. Read the table itself, so that the two cannot part.
    text = README.read_text(encoding="utf-8")
    table = text.split("### JSON record", 1)[1].split("\n\n", 2)[1]
    keys = set()
    for row in table.splitlines()[2:]:
        keys.update(re.findall(r"`([a-z0-9_]+)`", row.split("|")[1]))
    assert keys == RECORD_KEYS


def test_json_provenance_values(batch: Batch, photos: Photos) -> None:
    # Issue 30: provenance keys were checked for presence only.
    from woundtrack.image.learned import LearnedSegmenter
    from woundtrack.models import to_jsonable

    segmenter = LearnedSegmenter()
    for name in ("wound.jpg", "rotated.jpg"):
        r = batch.records[name]
        p = r["provenance"]
        assert p["photo_sha256"] == hashlib.sha256((photos.folder / name).read_bytes()).hexdigest()
        assert (p["segmenter"], p["model_version"]) == (segmenter.name, segmenter.version)
        assert p["calibration_method"] == r["calibration_method"] == "aruco"
        assert p["calibration_quality"] == r["calibration"]["quality"] == "good"
        assert p["params"] == to_jsonable(segmenter.params) != {}
        assert p["corrected"] is False
    p = batch.records["no_sticker.jpg"]["provenance"]
    assert (p["calibration_method"], p["calibration_quality"]) == ("none", "no sticker found")
    assert batch.records["no_sticker.jpg"]["area_uncertainty_pct"] is None
    assert 0 < batch.records["wound.jpg"]["area_uncertainty_pct"] < 3


def test_json_values_are_sane_against_the_phantom_truth(batch: Batch, photos: Photos) -> None:
    r = batch.records["wound.jpg"]
    truth = photos.wound.truth
    sha = hashlib.sha256((photos.folder / "wound.jpg").read_bytes()).hexdigest()
    assert r["ok"] is True and r["error"] is None
    assert r["sha256"] == sha == r["provenance"]["photo_sha256"]
    assert (r["width_px"], r["height_px"]) == (WIDTH_PX, HEIGHT_PX)
    assert r["calibrated"] is True and r["calibration_method"] == "aruco"
    assert r["wound_area_cm2"] == pytest.approx(truth.wound_area_mm2 / 100, rel=0.10)
    bed = r["granulation_area_cm2"] + r["slough_area_cm2"] + r["eschar_area_cm2"]
    assert bed == pytest.approx(r["wound_area_cm2"], rel=1e-9)
    assert (
        r["granulation_area_px"] + r["slough_area_px"] + r["eschar_area_px"] == r["wound_area_px"]
    )
    assert r["erythema_area_cm2"] > 0
    assert r["mm_per_px"] == pytest.approx(truth.mm_per_px_at_wound, rel=0.10)
    assert r["tilt_deg"] == pytest.approx(truth.tilt_deg, abs=5.0)
    assert r["calibration"]["marker_id"] == truth.marker_id
    assert len(r["lesions"]) == 1
    assert r["lesions"][0]["index"] == 1
    assert r["lesions"][0]["wound_area_cm2"] == pytest.approx(r["wound_area_cm2"])
    assert not any("sticker" in w for w in r["warnings"])
    assert r["provenance"]["woundtrack_version"] == woundtrack.__version__
    assert r["provenance"]["calibration_method"] == "aruco"
    assert datetime.fromisoformat(r["provenance"]["analysed_at"]).utcoffset() is not None


def test_taken_at_is_the_exif_capture_time_in_iso_form(batch: Batch) -> None:
    r = batch.records["wound.jpg"]
    assert r["taken_at"] == TAKEN_AT.isoformat() == "2025-03-04T10:11:12-03:30"
    assert not any("capture time" in w for w in r["warnings"])
    # No EXIF date: null, and a warning says so.
    rotated = batch.records["rotated.jpg"]
    assert rotated["taken_at"] is None
    assert any("capture time" in w for w in rotated["warnings"])


def test_photo_without_sticker_gives_pixels_only_and_a_warning(batch: Batch) -> None:
    r = batch.records["no_sticker.jpg"]
    assert batch.status == 0
    assert r["ok"] is True
    assert r["calibrated"] is False and r["calibration_method"] == "none"
    assert r["mm_per_px"] is None and r["tilt_deg"] is None
    for tissue in TISSUES:
        assert r[f"{tissue}_area_cm2"] is None, tissue
        assert r[f"{tissue}_area_px"] > 0, tissue
    for lesion in r["lesions"]:
        assert all(lesion[f"{t}_area_cm2"] is None for t in TISSUES)
        assert lesion["perimeter_cm"] is None and lesion["length_cm"] is None
    assert any("sticker" in w for w in r["warnings"])


def test_manual_scale_calibrates_a_photo_without_sticker(capsys) -> None:
    status, out, err = run(capsys, "measure", "no_sticker.jpg", "--mm-per-px", "0.2", "--json")
    assert status == 0, err
    [r] = json_lines(out)
    assert r["calibrated"] is True
    assert r["calibration_method"] == "manual"
    assert r["mm_per_px"] == pytest.approx(0.2)
    assert r["tilt_deg"] is None
    # A square-on scale: every pixel is 0.2 x 0.2 mm.
    assert r["wound_area_cm2"] == pytest.approx(r["wound_area_px"] * 0.2**2 / 100, rel=1e-9)
    assert any("no tilt correction" in w for w in r["warnings"])


def test_manual_scale_is_ignored_when_the_sticker_is_found(capsys) -> None:
    status, out, _ = run(capsys, "measure", "wound.jpg", "--mm-per-px", "0.2", "--json")
    assert status == 0
    [r] = json_lines(out)
    assert r["calibration_method"] == "aruco"
    assert r["mm_per_px"] != pytest.approx(0.2, rel=0.05)
    assert any("manual scale was ignored" in w for w in r["warnings"])


# --------------------------------------------------------------------------------------------
# bad photos in a batch


@pytest.mark.parametrize("bad", ["empty.jpg", "notaphoto.jpg", "truncated.jpg", "missing.jpg"])
def test_bad_photo_in_a_batch_is_reported_and_the_others_measured(capsys, bad: str) -> None:
    status, out, err = run(capsys, "measure", "wound.jpg", bad, "no_sticker.jpg", "--json")
    assert status == 1
    records = json_lines(out)
    assert [r["file"] for r in records] == ["wound.jpg", bad, "no_sticker.jpg"]
    good1, failed, good2 = records
    assert good1["ok"] is True and good1["wound_area_cm2"] > 0
    assert good2["ok"] is True and good2["wound_area_px"] > 0
    assert failed["ok"] is False
    assert bad in failed["error"]
    assert all(failed[k] is None for k in AREA_KEYS)
    assert failed["lesions"] == []
    # stderr: progress lines and exactly one one-line message for the bad photo, no traceback.
    assert "Traceback" not in err
    messages = [line for line in err.splitlines() if line.startswith("woundtrack:")]
    assert messages == [f"woundtrack: {failed['error']}"]


def test_failed_record_has_the_same_keys_as_a_measured_one(batch: Batch, capsys) -> None:
    status, out, _ = run(capsys, "measure", "empty.jpg", "--json")
    assert status == 1
    [failed] = json_lines(out)
    assert set(failed) == set(batch.records["wound.jpg"])


def test_missing_photo_without_json_fails_with_a_one_line_message(capsys) -> None:
    status, out, err = run(capsys, "measure", "missing.jpg")
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("woundtrack: missing.jpg:")
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# human output


def test_human_output_gives_cm2_and_flags_the_uncalibrated_photo(capsys, photos: Photos) -> None:
    status, out, err = run(capsys, "measure", "wound.jpg", "no_sticker.jpg")
    assert status == 0, err
    assert not out.lstrip().startswith("{")
    heads = {line.split(":")[0]: line for line in out.splitlines() if not line.startswith(" ")}
    assert set(heads) == {"wound.jpg", "no_sticker.jpg"}
    found = re.search(r"wound (\d+\.\d+) cm²", heads["wound.jpg"])
    assert found, heads["wound.jpg"]
    truth_cm2 = photos.wound.truth.wound_area_mm2 / 100
    assert float(found.group(1)) == pytest.approx(truth_cm2, rel=0.10)
    assert "NOT CALIBRATED" not in heads["wound.jpg"]
    assert "NOT CALIBRATED" in heads["no_sticker.jpg"]
    assert "cm²" not in heads["no_sticker.jpg"]
    # the lesion's line gives its erythema and how far that reaches (the phantom's ring: 6 mm)
    reach = re.search(
        r"  lesion 1: .*erythema \d+\.\d+ cm², reaching (\d\.\d) cm from the edge", out
    )
    assert reach, out
    assert float(reach.group(1)) == pytest.approx(photos.wound.spec.erythema_width_mm / 10, abs=0.2)


# --------------------------------------------------------------------------------------------
# --labels-out and --overlay-out


def test_labels_out_writes_single_channel_label_maps_of_the_displayed_size(batch: Batch) -> None:
    for name, record in batch.records.items():
        path = batch.labels_dir / f"{Path(name).stem}.png"
        with Image.open(path) as img:
            assert img.format == "PNG" and img.mode == "L", name
            assert img.size == (WIDTH_PX, HEIGHT_PX), name
            labels = np.asarray(img)
        assert labels.dtype == np.uint8
        assert set(np.unique(labels).tolist()) <= {0, 1, 2, 3, 4}
        # The map written is the one measured.
        assert np.count_nonzero(np.isin(labels, WOUND_BED)) == record["wound_area_px"], name
        assert np.count_nonzero(labels == 4) == record["erythema_area_px"], name


@pytest.mark.parametrize("name", ["wound.jpg", "rotated.jpg"])
def test_label_map_agrees_with_the_phantom_truth(batch: Batch, photos: Photos, name: str) -> None:
    phantom = photos.wound if name == "wound.jpg" else photos.rotated
    if name == "rotated.jpg":
        with Image.open(photos.folder / name) as stored:  # the file holds portrait pixels
            assert stored.size == (HEIGHT_PX, WIDTH_PX)
    labels = np.asarray(Image.open(batch.labels_dir / f"{Path(name).stem}.png"))
    assert labels.shape == phantom.labels.shape
    assert dice(np.isin(labels, WOUND_BED), np.isin(phantom.labels, WOUND_BED)) > 0.8


def test_overlay_out_writes_a_jpeg_of_the_displayed_size(batch: Batch) -> None:
    for name in batch.records:
        with Image.open(batch.overlay_dir / f"{Path(name).stem}.jpg") as img:
            assert img.format == "JPEG", name
            assert img.size == (WIDTH_PX, HEIGHT_PX), name


def test_output_folder_that_is_a_file_is_bad_usage(capsys, tmp_path: Path) -> None:
    blocker = tmp_path / "labels"
    blocker.write_text("not a folder")
    status, out, err = run(capsys, "measure", "wound.jpg", "--labels-out", str(blocker))
    assert status == 2
    assert out == ""
    assert "it is a file" in err and "Traceback" not in err


def test_overlay_out_never_overwrites_the_original_photo(capsys, tmp_path: Path) -> None:
    photo = tmp_path / "wound.jpg"
    shutil.copyfile("wound.jpg", photo)
    original = photo.read_bytes()
    status, out, err = run(capsys, "measure", str(photo), "--overlay-out", str(tmp_path))
    assert status == 2 and "would overwrite the photo" in err
    assert photo.read_bytes() == original


def test_two_photos_with_the_same_stem_would_collide(capsys, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    shutil.copyfile("wound.jpg", tmp_path / "a" / "wound.jpg")
    status, _, err = run(
        capsys,
        "measure",
        "wound.jpg",
        str(tmp_path / "a" / "wound.jpg"),
        "--labels-out",
        str(tmp_path / "labels"),
    )
    assert status == 2 and "would both write" in err
    assert not (tmp_path / "labels" / "wound.png").exists()


@pytest.mark.parametrize(("flag", "suffix"), [("--overlay-out", ".jpg"), ("--labels-out", ".png")])
def test_output_never_replaces_a_file_the_run_did_not_write(
    capsys, tmp_path: Path, flag: str, suffix: str
) -> None:
    there = tmp_path / f"wound{suffix}"  # another photo, or an earlier run's output
    there.write_bytes(b"someone else's file")
    status, out, err = run(capsys, "measure", "wound.jpg", "no_sticker.jpg", flag, str(tmp_path))
    assert status == 2 and out == ""
    assert err == (
        f"woundtrack: {flag} would write wound{suffix}, but a file of that name is already in "
        "that folder and is never written over; move it away or choose another output folder\n"
    )
    assert there.read_bytes() == b"someone else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [there.name]  # nothing else written


def test_a_file_that_appears_during_the_run_is_not_replaced(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another program creates the file after the start-up check: that photo fails (exit 1).
    import woundtrack.image.pipeline as pipeline

    analyze = pipeline.analyze_image

    def analyze_then_plant(*args, **kwargs):
        (tmp_path / "wound.jpg").write_bytes(b"planted")
        return analyze(*args, **kwargs)

    monkeypatch.setattr(pipeline, "analyze_image", analyze_then_plant)
    status, out, err = run(capsys, "measure", "wound.jpg", "--json", "--overlay-out", str(tmp_path))
    assert status == 1
    [record] = json_lines(out)
    assert record["ok"] is False
    assert record["error"].startswith("wound.jpg: a file of that name is already in the output")
    assert (tmp_path / "wound.jpg").read_bytes() == b"planted"
    assert "Traceback" not in err


def test_errors_name_the_file_never_its_folders(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "John Smith 1950-02-03"
    folder.mkdir()
    (folder / "visit.jpg").mkdir()  # a folder where a photo was expected
    status, out, err = run(
        capsys, "measure", "--json", str(folder / "missing.jpg"), str(folder / "visit.jpg")
    )
    assert status == 1
    missing, visit = json_lines(out)
    assert missing["file"] == "missing.jpg" and visit["file"] == "visit.jpg"
    assert missing["error"] == "missing.jpg: no such file; check the path and name"
    assert visit["error"] == "visit.jpg: expected a photo file, found a folder; choose a file"
    assert "John Smith" not in out and "John Smith" not in err


def test_clash_messages_name_files_never_their_folders(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "John Smith 1950-02-03"
    folder.mkdir()
    shutil.copyfile("wound.jpg", folder / "wound.jpg")
    status, _, err = run(capsys, "measure", str(folder / "wound.jpg"), "--overlay-out", str(folder))
    assert status == 2 and "would overwrite the photo wound.jpg" in err
    assert "John Smith" not in err


# --------------------------------------------------------------------------------------------
# usage, help, version


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["measure"],
        ["measure", "--bogus", "wound.jpg"],
        ["measure", "--marker-mm", "-3", "wound.jpg"],
        ["measure", "--marker-mm", "abc", "wound.jpg"],
        ["measure", "--marker-mm", "nan", "wound.jpg"],
        ["measure", "--marker-mm", "inf", "wound.jpg"],
        ["measure", "--mm-per-px", "0", "wound.jpg"],
        ["sticker", "--marker-mm", "0"],
        ["frobnicate"],
    ],
)
def test_bad_usage_exits_2(capsys, argv: list[str]) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert "usage:" in err and "error:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["measure", "sticker"])
def test_every_subcommand_help_shows_an_example(capsys, command: str) -> None:
    status, out, _ = run(capsys, command, "--help")
    assert status == 0
    assert "example:" in out
    assert f"woundtrack {command}" in out.split("example:")[1]


def test_top_level_help_and_version(capsys) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "measure" in out and "sticker" in out
    status, out, _ = run(capsys, "--version")
    assert status == 0
    assert out.strip() == f"woundtrack {woundtrack.__version__}"


# --------------------------------------------------------------------------------------------
# sticker


@pytest.mark.parametrize("marker_mm", [None, 15])
def test_sticker_writes_pdf_and_png_at_the_asked_size(
    capsys, tmp_path: Path, marker_mm: int | None
) -> None:
    extra = [] if marker_mm is None else ["--marker-mm", str(marker_mm)]
    status, out, err = run(capsys, "sticker", "--out", str(tmp_path / "stickers"), *extra)
    assert status == 0, err
    side_mm = marker_mm or 20
    pdf = tmp_path / "stickers" / f"sticker-sheet-{side_mm}mm.pdf"
    png = pdf.with_suffix(".png")
    assert sorted(p.name for p in pdf.parent.iterdir()) == [pdf.name, png.name]
    assert str(pdf) in out and str(png) in out
    assert pdf.read_bytes()[:5] == b"%PDF-"
    with Image.open(png) as img:
        assert img.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        grey = np.asarray(img.convert("L"))
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), cv2.aruco.DetectorParameters()
    )
    corners, ids, _ = detector.detectMarkers(grey)
    assert ids is not None and len(ids) > 0
    # Corners sit on the outermost pixel centres: one pixel short of the printed side.
    sides = [np.linalg.norm(c[0] - np.roll(c[0], 1, axis=0), axis=1).mean() + 1 for c in corners]
    assert np.median(sides) == pytest.approx(side_mm / 25.4 * 300, rel=0.02)


def test_sticker_too_large_for_the_page_is_a_one_line_error(capsys, tmp_path: Path) -> None:
    status, out, err = run(capsys, "sticker", "--out", str(tmp_path), "--marker-mm", "500")
    assert status == 2
    assert out == ""
    assert err.startswith("woundtrack: ") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# the installed console script


def test_console_script_entry_point(photos: Photos) -> None:
    script = Path(sys.executable).with_name("woundtrack")
    if not script.exists():
        script = Path(shutil.which("woundtrack") or "woundtrack")
    done = subprocess.run(
        [str(script), "measure", "wound.jpg", "notaphoto.jpg", "--json"],
        cwd=photos.folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    good, bad = json_lines(done.stdout)
    assert good["ok"] is True and good["calibrated"] is True
    assert bad["ok"] is False and "notaphoto.jpg" in bad["error"]
    assert "Traceback" not in done.stderr
