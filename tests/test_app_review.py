"""Tests of the Review & correct and Compare visits pages through ``streamlit.testing.v1.AppTest``.

One database is seeded with the demo patient for the module (the app does it on first start) and
every test opens the app afresh on it; each test works on its own visit, so their order does not
matter. AppTest cannot draw in a chart, so a drawing is put where the page keeps what the chart's
lasso returned (``st.session_state.review_drawn``, photo pixel coordinates) and the page's own
buttons do the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app_pages.shared import escape_markdown
from tests.conftest import DoubtingSegmenter, use_demo_database
from woundtrack.image.editing import apply_polygon
from woundtrack.models import SLOUGH
from woundtrack.record.access import local_identity
from woundtrack.record.demo import DEMO_PATIENT
from woundtrack.record.ingest import correct, import_photo, stored_labels
from woundtrack.record.store import Store
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

APP = Path(__file__).resolve().parent.parent / "app.py"
UNCALIBRATED = "UNCAL-1"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        url = use_demo_database(mp, tmp_path_factory.mktemp("review_db"))
        yield url
    st.cache_resource.clear()
    st.cache_data.clear()


def open_page(db_url: str, page: str) -> AppTest:
    """A fresh app on the module's database (seeded on first start), opened at ``page``.

    Switching before the first run opens the page directly (its file name is its page), so the
    default page is not run first.
    """
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def choose_visit(at: AppTest, db_url: str, file_name: str) -> int:
    """Select the demo visit of ``file_name`` on the review page; returns its id."""
    store = Store(db_url)
    [visit] = [v for v in store.visits(DEMO_PATIENT) if v["file_name"] == file_name]
    store.close()
    at.selectbox(key="review_visit").set_value(visit["visit_id"]).run()
    assert not at.exception, [e.value for e in at.exception]
    return visit["visit_id"]


def lesion_tables(at: AppTest) -> dict[str, object]:
    """The review page's lesion tables: ``stored``, and ``after`` (unsaved changes) if shown."""
    out = {}
    for frame in at.dataframe:
        table = frame.value
        out["after" if (table["outline"] == "your correction").all() else "stored"] = table
    return out


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def skin_square(labels: np.ndarray, side: int = 40) -> list[tuple[float, float]]:
    """A square of skin (label 0 throughout) beside the wound, as an (x, y) polygon."""
    ys, xs = np.nonzero(labels)
    y = int(ys.mean())
    for x in range(int(xs.max()) + 30, labels.shape[1] - side, 10):
        if not labels[y : y + side, x : x + side].any():
            # Corners between pixel centres: exactly side x side pixels.
            return [
                (x - 0.5, y - 0.5),
                (x + side - 0.5, y - 0.5),
                (x + side - 0.5, y + side - 0.5),
                (x - 0.5, y + side - 0.5),
            ]
    raise AssertionError("no skin beside the wound")


# ---------------------------------------------------------------------------- review
def test_review_shows_the_outline_and_the_lesion_table(db_url: str) -> None:
    at = open_page(db_url, "app_pages/review.py")
    assert texts(at.title) == ["Review & correct"]
    assert not at.error
    # The latest visit is chosen; its drawable close-up and the whole photo are shown.
    visit = at.selectbox(key="review_visit")
    assert "demo_week11.jpg" in visit.format_func(visit.value)
    assert at.get("plotly_chart"), "the drawable close-up is missing"
    assert len(at.image) == 1
    table = lesion_tables(at)["stored"]
    assert list(table["lesion"]) == ["L1"]
    assert table["wound area (cm²)"].iloc[0] > 0
    columns = {"length × width (cm)", "erythema reach (cm)", "eschar %", "slough %", "outline"}
    assert columns | {"granulation %"} <= set(table.columns)
    assert table["erythema reach (cm)"].iloc[0] > 0  # the demo's last visit: 0.13 cm
    assert table["outline"].iloc[0].startswith("automatic")
    # an automatic outline's tissue shares say how far the tissue network can be trusted
    notes = [c.value for c in at.caption if "Tissue shares come from" in c.value]
    assert len(notes) == 1 and "slough reads low" in notes[0]
    # Nothing drawn yet: Apply, Undo and Accept wait.
    assert at.button(key="review_apply").disabled
    assert at.button(key="review_accept").disabled
    assert [r.value for r in at.radio] == [1]
    assert len(at.radio[0].options) == 5


def test_drawn_correction_is_accepted_with_a_name_and_the_automatic_outline_kept(
    db_url: str,
) -> None:
    at = open_page(db_url, "app_pages/review.py")
    visit_id = choose_visit(at, db_url, "demo_week10.jpg")
    store = Store(db_url)
    [before] = [r for r in store.series(DEMO_PATIENT) if r.visit_id == visit_id]
    automatic = stored_labels(store, before.analysis_id)
    square = skin_square(automatic)

    at.session_state["review_drawn"] = [square]
    at.run()
    assert not at.button(key="review_apply").disabled
    at.radio(key="review_tool").set_value(SLOUGH).run()
    at.button(key="review_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["review_drawn"] == []
    after_table = lesion_tables(at)["after"]
    assert list(after_table["lesion"]) == ["L1?", "new #2"]
    assert after_table["slough %"].iloc[1] == 100.0
    assert [m.label for m in at.metric] == ["Total wound area after your changes"]

    # Nothing is asked: the correction is recorded under the person signed in (local mode: the
    # OS account).
    me = local_identity()
    assert any(me in c.value for c in at.caption)
    at.button(key="review_accept").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [success] = texts(at.success)
    assert me in success and "automatic outline is kept" in success
    assert "Lesions are filed as #1 L1, #2 L2" in success

    now = [r for r in store.series(DEMO_PATIENT) if r.visit_id == visit_id]
    assert [r.lesion for r in now] == ["L1", "L2"]
    assert all(r.corrected and r.corrected_by == me for r in now)
    assert now[0].analysis_id != before.analysis_id
    np.testing.assert_array_equal(
        stored_labels(store, now[0].analysis_id), apply_polygon(automatic, square, value=SLOUGH)
    )
    # The automatic analysis is still in the record, unchanged.
    np.testing.assert_array_equal(stored_labels(store, before.analysis_id), automatic)
    store.close()
    # The page now shows the corrected outline and who made it.
    assert lesion_tables(at)["stored"]["outline"].iloc[0] == f"corrected by {me}"
    assert any(f"corrected by **{escape_markdown(me)}**" in i.value for i in at.info)
    assert not any("Tissue shares come from" in c.value for c in at.caption)  # the person's
    assert at.selectbox(key="review_visit").value == visit_id  # still on the corrected visit
    assert at.button(key="review_accept").disabled


def test_undo_discard_and_a_degenerate_drawing_never_raise(db_url: str) -> None:
    at = open_page(db_url, "app_pages/review.py")
    choose_visit(at, db_url, "demo_week08.jpg")
    triangle = [(100.0, 100.0), (140.0, 100.0), (140.0, 140.0)]
    at.session_state["review_drawn"] = [triangle, [(100.0, 100.0), (140.0, 140.0)]]  # + a line
    at.run()
    at.button(key="review_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be used" in w.value and "3 distinct corners" in w.value for w in at.warning)
    assert at.button(key="review_undo").disabled  # nothing applied

    at.session_state["review_drawn"] = [triangle, [(x + 300, y) for x, y in triangle]]
    at.run()
    assert at.button(key="review_apply").label.endswith("(2 areas)")
    at.button(key="review_apply").click().run()
    assert any("1. add granulation; 2. add granulation" in c.value for c in at.caption)
    at.button(key="review_undo").click().run()
    assert any("changes, not saved yet: 1. add granulation." in c.value for c in at.caption)
    at.button(key="review_discard").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.button(key="review_accept").disabled and at.button(key="review_undo").disabled


def test_a_lesion_can_be_renamed_and_the_change_is_recorded_under_the_user(db_url: str) -> None:
    at = open_page(db_url, "app_pages/review.py")
    visit_id = choose_visit(at, db_url, "demo_week09.jpg")
    at.selectbox(key="review_lesion_target").set_value("a new name…").run()
    at.text_input(key="review_lesion_new").input("L7").run()
    at.button(key="review_rename").click().run()
    assert not at.exception, [e.value for e in at.exception]
    me = escape_markdown(local_identity())
    assert any("is now L7 (was L1)" in s.value and me in s.value for s in at.success)
    store = Store(db_url)
    [row] = [r for r in store.series(DEMO_PATIENT) if r.visit_id == visit_id]
    store.close()
    assert row.lesion == "L7"


def test_a_lesions_body_site_is_set_on_the_review_page(db_url: str) -> None:
    at = open_page(db_url, "app_pages/review.py")
    choose_visit(at, db_url, "demo_week10.jpg")
    field = at.text_input(key="review_site_L1")
    assert field.label == "Body site of L1" and field.value == "left calf"  # the demo's
    field.input("left lower leg").run()
    at.button(key="review_set_site").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("L1 is at left lower leg" in s.value for s in at.success)
    changes = [m.value.replace("\\", "") for m in at.markdown]
    assert any("set a lesion's body site (L1: left calf → left lower leg)" in c for c in changes)
    store = Store(db_url)
    assert {r.body_site for r in store.series(DEMO_PATIENT) if r.lesion == "L1"} == {
        "left lower leg"
    }
    [edit] = [e for e in store.edits(DEMO_PATIENT) if e["kind"] == "set_body_site"]
    store.undo(edit["edit_id"])  # as it was, for the other tests
    store.close()


# ---------------------------------------------------------------------------- compare
def test_compare_shows_both_visits_registered_with_the_method_and_the_changes(
    db_url: str,
) -> None:
    at = open_page(db_url, "app_pages/compare.py")
    assert texts(at.title) == ["Compare visits"]
    # The last two visits, small wounds: both views at the photos' own detail at the wound
    # (0.11-0.12 mm here), not a fixed 0.2 mm.
    details = {re.search(r"detail (\d\.\d\d) mm per pixel", i.captions[0])[1] for i in at.image}
    assert len(details) == 1 and 0.10 <= float(details.pop()) <= 0.13
    at.toggle(key="compare_baseline").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at.success) + texts(at.info) + texts(at.warning)
    [method] = [m for m in shown if m.startswith("Registered by")]
    assert any(
        word in method
        for word in ("features", "lesion constellation", "wound's centre", "sticker-only")
    )
    assert len(at.image) == 2
    assert [m.label for m in at.metric] == [
        "Days between",
        "Wound area, earlier",
        "Wound area, later",
    ]
    assert at.metric[0].value == "77 days"
    store = Store(db_url)
    rows = store.series(DEMO_PATIENT)
    store.close()
    before = next(r for r in rows if r.file_name == "demo_week00.jpg").wound_area_cm2
    after = next(r for r in rows if r.file_name == "demo_week11.jpg").wound_area_cm2
    table = at.dataframe[0].value
    area = table[(table["lesion"] == "L1") & (table["figure"] == "wound area (cm²)")].iloc[0]
    assert area["earlier (2026-03-02)"] == f"{before:.2f}"
    assert area["later (2026-05-18)"] == f"{after:.2f}"
    assert area["change"] == f"{after - before:+.2f}"
    assert area["change %"] == f"{100 * (after - before) / before:+.0f} %"
    share = table[(table["lesion"] == "L1") & (table["figure"] == "eschar share of bed (%)")]
    assert share.iloc[0]["change"].endswith(" points") and share.iloc[0]["change %"] == "–"


def test_compare_picks_one_wounds_visits_when_a_patient_has_several(
    db_url: str, tmp_path: Path
) -> None:
    """Wounds at two sites, photographed one per photo an hour apart each week: the page compares
    one lesion's visits (by default the latest photo's lesion, its last two visits, a week
    apart), not this week's calf with this week's shin."""
    store = Store(db_url)
    samples = Path(__file__).resolve().parent.parent / "sample_images"
    for week in range(2):
        name = f"demo_week{week:02d}.jpg"
        calf = (samples / name).read_bytes()
        import_photo(store, calf, name=name, patient="TWO-SITES", body_site="left calf")
        shin = tmp_path / f"shin{week}.jpg"
        when = datetime(2026, 3, 2, 13) + timedelta(weeks=week)
        spec = PhantomSpec(seed=60 + week, lesion_seed=99, wound_radius_mm=12, taken_at=when)
        write_phantom(spec, shin)
        import_photo(
            store, shin.read_bytes(), name=shin.name, patient="TWO-SITES", body_site="right shin"
        )
    store.close()
    st.cache_data.clear()
    at = open_page(db_url, "app_pages/compare.py")
    at.sidebar.selectbox(key="patient").set_value("TWO-SITES").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="compare_lesion").value == "L2"  # the shin: photographed last
    assert at.metric[0].value == "7 days"
    assert "shin0.jpg · L2" in at.selectbox(key="compare_a").format_func(
        at.selectbox(key="compare_a").value
    )
    at.selectbox(key="compare_lesion").set_value("L1").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.metric[0].value == "7 days"
    a, b = (at.selectbox(key=k) for k in ("compare_a", "compare_b"))
    assert "demo_week00.jpg · L1" in a.format_func(a.value)
    assert "demo_week01.jpg · L1" in b.format_func(b.value)
    at.selectbox(key="compare_lesion").select_index(2).run()  # every visit: 4 to choose from
    assert at.selectbox(key="compare_lesion").format_func(None) == "every visit"
    assert len(at.selectbox(key="compare_a").options) == 4


def test_uncalibrated_visits_are_shown_unregistered_with_a_reason(
    db_url: str, tmp_path: Path
) -> None:
    store = Store(db_url)
    first = datetime(2026, 1, 5, 10, tzinfo=UTC)
    for n in range(2):
        path = tmp_path / f"nosticker{n}.jpg"
        spec = PhantomSpec(seed=n, lesion_seed=4, with_sticker=False, width_px=640, height_px=480)
        write_phantom(spec, path)
        import_photo(
            store,
            path.read_bytes(),
            name=path.name,
            patient=UNCALIBRATED,
            taken_at=first + timedelta(days=14 * n),
        )
    store.close()
    st.cache_data.clear()
    at = open_page(db_url, "app_pages/compare.py")
    at.sidebar.selectbox(key="patient").set_value(UNCALIBRATED).run()
    assert not at.exception, [e.value for e in at.exception]
    [warning] = texts(at.warning)
    assert "no calibration sticker" in warning and "cannot be put on one scale" in warning
    assert not any(m.startswith("Registered by") for m in texts(at.success) + texts(at.info))
    assert len(at.image) == 2
    assert all("not registered" in i.captions[0] for i in at.image)
    assert at.metric[0].value == "14 days"
    figures = set(at.dataframe[0].value["figure"])
    assert figures == {f"{t} share of bed (%)" for t in ("eschar", "slough", "granulation")}

    at.switch_page("app_pages/review.py").run()
    at.sidebar.selectbox(key="patient").set_value(UNCALIBRATED).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("pixels only" in w.value for w in at.warning)
    assert "wound area (px)" in lesion_tables(at)["stored"].columns


def test_a_visit_whose_outline_the_network_was_unsure_of_says_so_until_corrected(db_url, tmp_path):
    """The import's warning that the network is unsure of the outline is shown again where the
    outline is corrected, and is gone once a person has corrected it."""

    path = tmp_path / "unsure.jpg"
    write_phantom(PhantomSpec(seed=71, taken_at=datetime(2026, 3, 2, 9)), path)
    store = Store(db_url)
    result = import_photo(
        store,
        path.read_bytes(),
        name=path.name,
        patient="UNSURE-1",
        segmenter=DoubtingSegmenter(0.8),
    )
    store.close()
    st.cache_data.clear()
    at = open_page(db_url, "app_pages/review.py")
    at.sidebar.selectbox(key="patient").set_value("UNSURE-1").run()
    assert not at.exception, [e.value for e in at.exception]
    [shown] = [w for w in texts(at.warning) if "unsure of the wound" in w]
    assert shown.startswith("The network is unsure") and "80 %" in shown
    [outline] = at.dataframe[-1].value["outline"]  # the stored outline's lesion table
    assert outline.endswith("; the network was unsure of it (80 %)")

    store = Store(db_url)
    labels = stored_labels(store, store.current_analysis(result.visit_id).analysis_id)
    correct(store, result.visit_id, labels, by="RN Okafor")
    store.close()
    st.cache_data.clear()
    at = open_page(db_url, "app_pages/review.py")
    at.sidebar.selectbox(key="patient").set_value("UNSURE-1").run()
    assert not any("unsure of the wound" in w for w in texts(at.warning))
    assert list(at.dataframe[-1].value["outline"]) == ["corrected by RN Okafor"]


def test_compare_says_which_visits_outline_the_network_was_unsure_of(db_url, tmp_path):
    store = Store(db_url)
    for week, doubt in ((0, 0.8), (1, None)):
        path = tmp_path / f"week{week}.jpg"
        when = datetime(2026, 3, 2, 9) + timedelta(weeks=week)
        write_phantom(PhantomSpec(seed=80 + week, lesion_seed=5, taken_at=when), path)
        segmenter = DoubtingSegmenter(doubt) if doubt else None
        import_photo(
            store, path.read_bytes(), name=path.name, patient="UNSURE-2", segmenter=segmenter
        )
    store.close()
    st.cache_data.clear()
    at = open_page(db_url, "app_pages/compare.py")
    assert not any("unsure of the automatic outline" in w for w in texts(at.warning))  # the demo
    at.sidebar.selectbox(key="patient").set_value("UNSURE-2").run()
    assert not at.exception, [e.value for e in at.exception]
    [warning] = [w for w in texts(at.warning) if "unsure of the automatic outline" in w]
    assert "week0.jpg" in warning and "week1.jpg" not in warning
