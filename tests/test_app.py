"""Tests of the Streamlit page (app.py) through ``streamlit.testing.v1.AppTest``.

AppTest 1.67 drives ``st.file_uploader`` with ``set_value((name, bytes, mime))``, so the main flow
runs on a real phantom JPEG. Only text, metrics, tables and messages are checked, never pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from woundtrack.synthetic.phantom import Phantom, PhantomSpec, write_phantom

APP = Path(__file__).resolve().parent.parent / "app.py"
SMALL = dict(width_px=800, height_px=600, wound_radius_mm=12.0, wound_fill_frac=0.35)


@dataclass(frozen=True)
class Photos:
    wound: Phantom
    wound_jpeg: bytes
    no_sticker_jpeg: bytes


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Photos:
    folder = tmp_path_factory.mktemp("app_photos")
    wound = write_phantom(PhantomSpec(seed=1, tilt_deg=20.0, **SMALL), folder / "wound.jpg")
    write_phantom(PhantomSpec(seed=2, with_sticker=False, **SMALL), folder / "no_sticker.jpg")
    return Photos(
        wound=wound,
        wound_jpeg=(folder / "wound.jpg").read_bytes(),
        no_sticker_jpeg=(folder / "no_sticker.jpg").read_bytes(),
    )


@pytest.fixture(autouse=True)
def _database(app_db):
    """Every test opens the app on its own copy of the seeded demo database."""
    return app_db


def started() -> AppTest:
    """The app opened on its "Measure one photo" page."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("app_pages/measure.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/jpeg") -> AppTest:
    at.file_uploader[0].set_value((name, data, mime))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_page_renders_and_asks_for_a_photo() -> None:
    at = started()
    assert at.title[0].value == "Measure one photo"
    assert len(at.file_uploader) == 1
    assert ".jpg" in at.file_uploader[0].allowed_type
    assert any("Upload a photo" in i.value for i in at.info)
    assert not at.error and not at.metric


def test_uploaded_photo_shows_cm2_and_the_lesion_table(photos: Photos) -> None:
    at = upload(started(), "wound.jpg", photos.wound_jpeg)
    assert not at.error
    shown = metrics(at)
    found = re.fullmatch(r"(\d+\.\d+) cm²", shown["Wound area"])
    assert found, shown
    truth_cm2 = photos.wound.truth.wound_area_mm2 / 100
    assert float(found.group(1)) == pytest.approx(truth_cm2, rel=0.10)
    tissues = ("Eschar", "Slough", "Granulation", "Erythema")
    assert all(shown[k].endswith(" cm²") for k in tissues)
    assert [s.value for s in at.subheader] == ["Lesions", "Traceability"]
    [table] = at.dataframe
    assert len(table.value) == 1
    assert table.value["wound area (cm²)"].iloc[0] == pytest.approx(float(found.group(1)), abs=0.01)
    assert not any("(px)" in column for column in table.value.columns)
    assert not any("sticker" in w.value for w in at.warning)
    assert any("calibration: aruco" in m.value for m in at.markdown)
    # each figure says what it holds; erythema, what it cannot see
    helps = {m.label: m.proto.help for m in at.metric}
    assert "necrotic" in helps["Eschar"]
    assert "red all over" in helps["Erythema"] and "2.5 cm" in helps["Erythema"]
    # and how far the tissue shares can be trusted, for the network that measured them
    [note] = [c.value for c in at.caption if "Tissue shares come from" in c.value]
    assert "tissue network 2026-12-06a" in note and "slough reads low" in note


def test_each_warning_names_the_photo_once(tmp_path) -> None:
    """The reader's notes (no capture date) start with the file's name, the measurement's (the
    erythema reaching the edge of its band) do not: the page names the photo once in each."""
    path = tmp_path / "ring.jpg"
    write_phantom(PhantomSpec(seed=3, erythema_width_mm=30.0, jpeg_quality=92), path)
    at = upload(started(), "ring.jpg", path.read_bytes())
    said = [w.value for w in at.warning]
    assert any("the capture time is unknown" in w for w in said), said
    assert any("its erythema reaches the edge of the band" in w for w in said), said
    assert all(w.startswith("ring.jpg: ") and w.count("ring.jpg") == 1 for w in said), said


def test_photo_without_sticker_says_not_calibrated(photos: Photos) -> None:
    at = upload(started(), "no_sticker.jpg", photos.no_sticker_jpeg)
    assert any("NOT CALIBRATED" in e.value for e in at.error)
    shown = metrics(at)
    assert re.fullmatch(r"\d+ px", shown["Wound area"]), shown
    assert re.fullmatch(r"\d+ px", shown["Granulation"]), shown
    assert not any("cm²" in v for v in shown.values())
    # Said once, in the red box: not again as a warning below it.
    assert not any("calibration sticker" in w.value for w in at.warning)
    # The lesion table gives pixels, not a cm² column of blanks.
    [table] = at.dataframe
    columns = list(table.value.columns)
    assert "wound area (px)" in columns and "perimeter (px)" in columns
    assert not any("cm" in column for column in columns), columns
    assert table.value["wound area (px)"].iloc[0] == int(shown["Wound area"].removesuffix(" px"))


def test_manual_scale_measures_a_photo_without_sticker(photos: Photos) -> None:
    at = started()
    [ruler] = [c for c in at.sidebar.checkbox if c.label.startswith("Photo has a ruler")]
    ruler.check().run()
    [scale] = [n for n in at.sidebar.number_input if n.label.startswith("Manual scale")]
    scale.set_value(0.2)
    at = upload(at, "no_sticker.jpg", photos.no_sticker_jpeg)
    assert not any("NOT CALIBRATED" in e.value for e in at.error)
    assert metrics(at)["Wound area"].endswith(" cm²")
    assert any("no tilt correction" in w.value for w in at.warning)
    assert any("calibration: manual, 0.200 mm/px" in m.value for m in at.markdown)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notaphoto.jpg", b"wound notes, not a photo\n"),
        ("empty.jpg", b""),
        ("truncated.jpg", None),  # the first half of a real phantom JPEG
    ],
)
def test_unreadable_upload_shows_an_error_naming_the_file(
    photos: Photos, name: str, content: bytes | None
) -> None:
    if content is None:
        content = photos.wound_jpeg[: len(photos.wound_jpeg) // 2]
    at = upload(started(), name, content)
    assert len(at.error) == 1
    assert at.error[0].value.startswith(f"{name}: ")
    assert not at.metric and not at.dataframe
