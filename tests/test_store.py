"""store.py against a real SQLite file and, where one runs, a real PostgreSQL server.

PostgreSQL: set WOUNDTRACK_TEST_PG to a server URL whose role may create databases (``.ci/run``
starts one); without it these tests are skipped locally and fail in CI (CI=true).
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from tests.conftest import DoubtingSegmenter, UnsureOfOneLesion
from woundtrack.errors import ImageError, TimelineError
from woundtrack.image.io import read_photo
from woundtrack.image.pipeline import OUTLINE_DOUBT_WARN, OUTLINE_DOUBT_WARNING, restore_analysis
from woundtrack.models import Calibration, TreatmentEvent
from woundtrack.record import db
from woundtrack.record.ingest import correct, import_photo, stored_labels
from woundtrack.record.store import Store, StoreError, _lesion_doubt
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

WEEKS = sorted((Path(__file__).resolve().parent.parent / "sample_images").glob("demo_week*"))

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))
SMALL = dict(width_px=800, height_px=600, wound_fill_frac=0.35, wound_radius_mm=12.0)


@pytest.fixture
def url(db_url):
    """Each store test runs on SQLite and on PostgreSQL (``db_url`` in conftest.py)."""
    return db_url


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Weekly photos of one healing two-lesion patient (same lesions, new pose each week)."""
    folder = tmp_path_factory.mktemp("photos")
    out = []
    for week, radius in enumerate((14.0, 11.0, 8.0)):
        path = folder / f"week{week}.jpg"
        spec = PhantomSpec(
            seed=100 + week,
            lesion_seed=7,
            n_lesions=2,
            wound_radius_mm=radius,
            layout_radius_mm=14.0,
            tilt_deg=10.0 + 5 * week,
            roll_deg=20.0 * week,
            taken_at=T0 + timedelta(weeks=week),
            **{k: v for k, v in SMALL.items() if k != "wound_radius_mm"},
        )
        out.append((path, write_phantom(spec, path)))
    return out


def _count(store: Store, table) -> int:
    with store.engine.connect() as c:
        return c.scalar(sa.select(sa.func.count()).select_from(table))


def test_import_is_stored_once_and_measured(url, photos):
    store = Store(url)
    path, ph = photos[0]
    first = import_photo(store, path.read_bytes(), name=path.name, patient="CUA-007")
    again = import_photo(store, path.read_bytes(), name="copy.jpg", patient="CUA-007")
    assert first.status == "imported" and again.status == "duplicate"
    assert again.visit_id == first.visit_id
    assert _count(store, db.Photo.__table__) == 1 and _count(store, db.Visit.__table__) == 1
    rows = store.series("CUA-007")
    assert sorted(r.lesion for r in rows) == ["L1", "L2"]
    total_mm2 = sum(r.wound_area_cm2 for r in rows) * 100
    assert total_mm2 == pytest.approx(ph.truth.wound_area_mm2, rel=0.08)
    assert rows[0].taken_at == T0.isoformat() and rows[0].taken_on == date(2026, 3, 2)
    assert not rows[0].corrected and rows[0].segmenter == "unet-lite0"
    store.close()


def test_lesions_keep_their_identity_across_visits(url, photos):
    store = Store(url)
    for path, _ in photos:
        import_photo(store, path.read_bytes(), name=path.name, patient="CUA-007")
    rows = store.series("CUA-007")
    assert sorted({r.lesion for r in rows}) == ["L1", "L2"]
    # Each week, find which true lesion each stored label is (by its area): a label must stay
    # with the same true lesion every week, though the sticker and the camera moved.
    identity: dict[str, set[int]] = {"L1": set(), "L2": set()}
    for week, (_, ph) in enumerate(photos):
        truth_mm2 = np.array(ph.truth.lesion_areas_mm2)
        assert abs(truth_mm2[0] / truth_mm2[1] - 1) > 0.15  # the two are told apart by size
        for r in rows:
            if r.taken_on == (T0 + timedelta(weeks=week)).date():
                identity[r.lesion].add(int(np.argmin(np.abs(truth_mm2 - r.wound_area_cm2 * 100))))
    assert all(len(found) == 1 for found in identity.values())
    assert identity["L1"] != identity["L2"]
    store.close()


def test_a_photo_measured_ahead_is_filed_as_if_measured_at_import(tmp_path, photos, monkeypatch):
    """``prepare_photo`` then ``import_photo(prepared=...)`` (the app and ``import``): the same
    figures and lesions as measuring at import, and a two-lesion photo is still registered onto
    the reference photo (its pixels decoded again for that alone)."""
    from woundtrack.image.pipeline import make_segmenter
    from woundtrack.record import ingest

    registered = []
    register = ingest.register
    monkeypatch.setattr(
        ingest, "register", lambda *a, **k: registered.append(1) or register(*a, **k)
    )
    segmenter = make_segmenter()
    series = {}
    for how in ("at import", "ahead"):
        store = Store(f"sqlite:///{tmp_path / (how + '.db')}")
        for path, _ in photos:
            data = path.read_bytes()
            prepared = None
            if how == "ahead":
                prepared, _ = ingest.prepare_photo(data, name=path.name, segmenter=segmenter)
            import_photo(
                store,
                data,
                name=path.name,
                patient="CUA-007",
                segmenter=segmenter,
                prepared=prepared,
            )
        series[how] = [
            (r.file_name, r.lesion, r.wound_area_cm2, r.eschar_area_cm2)
            for r in store.series("CUA-007")
        ]
        store.close()
    assert series["ahead"] == series["at import"]
    assert len(registered) == 4  # weeks 1 and 2, both ways
    other, _ = ingest.prepare_photo(photos[0][0].read_bytes(), name="x.jpg", segmenter=segmenter)
    store = Store(f"sqlite:///{tmp_path / 'third.db'}")
    with pytest.raises(ValueError, match="not of week1.jpg"):
        import_photo(
            store, photos[1][0].read_bytes(), name="week1.jpg", patient="CUA-007", prepared=other
        )
    store.close()


def test_location_tags_are_removed_before_storing(url, photos, tmp_path):
    path, _ = photos[0]
    with Image.open(path) as img:
        exif = img.getexif()
        gps = exif.get_ifd(0x8825)
        gps.update({1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)})
        exif[0x8825] = gps
        buf = io.BytesIO()
        img.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    data = buf.getvalue()
    store = Store(url)
    result = import_photo(store, data, name="gps.jpg", patient="CUA-008")
    stored = store.photo_bytes(result.photo_sha256)
    with Image.open(io.BytesIO(stored)) as img:
        assert not img.getexif().get_ifd(0x8825)
        stored_pixels = np.asarray(img)
    with Image.open(io.BytesIO(data)) as img:
        assert np.array_equal(np.asarray(img), stored_pixels)
    store.close()


def test_a_bad_photo_changes_nothing(url, tmp_path):
    store = Store(url)
    bad = b"\xff\xd8\xff\xe0 not really a jpeg"
    with pytest.raises(ImageError, match="broken.jpg"):
        import_photo(store, bad, name="broken.jpg", patient="CUA-009")
    assert _count(store, db.Photo.__table__) == 0 and _count(store, db.Patient.__table__) == 0
    store.close()


@pytest.mark.parametrize("code", ["Jane Doe", "", "x" * 65, "12/03/1950"])
def test_patient_codes_must_be_pseudonymous(tmp_path, photos, code):
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    with pytest.raises(StoreError, match="pseudonymous"):
        import_photo(store, photos[0][0].read_bytes(), name="a.jpg", patient=code)


def test_correction_is_kept_beside_the_automatic_analysis(url, photos):
    store = Store(url)
    path, _ = photos[0]
    result = import_photo(store, path.read_bytes(), name=path.name, patient="CUA-010")
    before = {r.lesion: r for r in store.series("CUA-010")}
    labels = stored_labels(store, before["L1"].analysis_id).copy()
    labels[labels == 2] = 0  # the clinician erases the slough of every lesion
    correct(store, result.visit_id, labels, by="RN Okafor")
    after = {r.lesion: r for r in store.series("CUA-010")}
    assert after["L1"].corrected and after["L1"].corrected_by == "RN Okafor"
    assert after["L1"].wound_area_cm2 < before["L1"].wound_area_cm2
    assert _count(store, db.Analysis.__table__) == 2  # the automatic one is kept
    assert store.photo_bytes(result.photo_sha256) == store.photo_bytes(before["L1"].photo_sha256)
    with pytest.raises(StoreError, match="who made it"):
        correct(store, result.visit_id, labels, by=" ")
    store.close()


def test_timeline_and_export_round_trip(url, photos):
    store = Store(url)
    for path, _ in photos:
        import_photo(store, path.read_bytes(), name=path.name, patient="CUA-011")
    events = [
        TreatmentEvent(kind="debridement", start_on=date(2026, 3, 2)),
        TreatmentEvent(
            kind="hyperbaric_oxygen",
            start_on=date(2026, 3, 16),
            end_on=date(2026, 6, 22),
            sessions=36,
            frequency="5 per week",
        ),
    ]
    assert store.add_treatments("CUA-011", events) == 2
    assert store.add_treatments("CUA-011", events) == 0  # importing twice adds nothing
    assert store.treatments("CUA-011") == events
    text = store.export_csv("CUA-011")
    lines = text.strip().splitlines()
    header = lines[0].split(",")
    for column in (
        "patient",
        "lesion",
        "taken_at",
        "wound_area_cm2",
        "eschar_area_cm2",
        "slough_area_cm2",
        "granulation_area_cm2",
        "erythema_area_cm2",
        "corrected",
    ):
        assert column in header
    assert len(lines) == 1 + 6  # two lesions, three visits
    rows = store.series("CUA-011")
    first = dict(zip(header, lines[1].split(","), strict=True))
    assert float(first["wound_area_cm2"]) == rows[0].wound_area_cm2  # exact text of the float
    store.close()


def test_backup_is_a_complete_copy_and_never_overwrites(url, photos, tmp_path):
    store = Store(url)
    import_photo(store, photos[0][0].read_bytes(), name="a.jpg", patient="CUA-012")
    out = store.backup(tmp_path / "backup.db")
    copy = Store(f"sqlite:///{out}")
    assert copy.series("CUA-012") == store.series("CUA-012")
    with pytest.raises(StoreError, match="exists already"):
        store.backup(out)
    store.close()
    copy.close()


def test_a_database_from_before_the_erythema_reach_opens_with_its_figures_kept(url, photos):
    """Migration 0004 adds each lesion's erythema reach: a record written at 0003 opens, every
    figure it had kept, the reach not known (None) for its visits and measured for new ones."""
    from alembic import command

    store = Store(url)
    path, ph = photos[0]
    import_photo(store, path.read_bytes(), name=path.name, patient="CUA-007")
    before = {r.lesion: r for r in store.series("CUA-007")}
    assert all(r.erythema_reach_cm is not None for r in before.values())
    assert ph.truth.erythema_area_mm2 > 0 and max(r.erythema_reach_cm for r in before.values()) > 0
    cfg = db._alembic_config()
    with store.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0003")
    store.close()

    store = Store(url)  # upgraded again on opening
    after = {r.lesion: r for r in store.series("CUA-007")}
    assert after.keys() == before.keys()
    for lesion, row in after.items():
        assert row.erythema_reach_cm is None
        assert row.wound_area_cm2 == before[lesion].wound_area_cm2
        assert row.erythema_area_cm2 == before[lesion].erythema_area_cm2
    path, _ = photos[1]
    import_photo(store, path.read_bytes(), name=path.name, patient="CUA-007")
    new = [r for r in store.series("CUA-007") if r.file_name == path.name]
    assert new and all(r.erythema_reach_cm is not None for r in new)
    store.close()


def test_migrations_match_the_models(url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = Store(url)
    with store.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), db.Base.metadata)
    assert diff == []
    Store(url).close()  # opening again is a no-op
    store.close()


def test_unknown_patient_and_bad_url_are_explained(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    with pytest.raises(StoreError, match="not in the database"):
        store.series("NOBODY")
    with pytest.raises(StoreError, match="cannot open the database"):
        Store("postgresql+psycopg://nobody:pw@127.0.0.1:1/none")


def test_two_processes_importing_at_once_lose_nothing(url, photos):
    Store(url).close()  # migrate first, as the app or CLI would on start
    paths = [str(p) for p, _ in photos]
    # Two real processes (the CLI) import every photo for the same patient, in opposite orders:
    # each photo is stored once, and every lesion keeps one identity.
    command = [
        sys.executable,
        "-m",
        "woundtrack.cli",
        "--db",
        url,
        "import",
        "--patient",
        "CUA-013",
    ]
    workers = [
        subprocess.Popen([*command, *order], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for order in (paths, paths[::-1])
    ]
    for w in workers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err.decode()
    store = Store(url)
    assert len(store.visits("CUA-013")) == 3
    assert _count(store, db.Photo.__table__) == 3
    assert sorted({r.lesion for r in store.series("CUA-013")}) == ["L1", "L2"]
    store.close()


def test_stored_calibration_rebuilds(url, photos):
    store = Store(url)
    import_photo(store, photos[0][0].read_bytes(), name="a.jpg", patient="CUA-014")
    with store.engine.connect() as c:
        record = c.scalar(sa.select(db.Analysis.record))
    cal = Calibration.from_record(record)
    assert cal.method == "aruco" and len(cal.homography) == 3
    store.close()


def test_a_photo_filed_late_is_matched_against_its_own_weeks(tmp_path):
    """The demo wound shrinks from 15.5 to 0.5 cm² over 11 weeks. Week 3's photo, filed after
    week 11 (found late on a phone), is the same lesion: matched against the visit nearest in
    time (weeks 2 and 4 are as near: week 2), not the latest, whose wound is 12 times smaller
    (more than matching's largest change of area, 5 times)."""
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    for week in (0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 3):
        result = import_photo(
            store, WEEKS[week].read_bytes(), name=WEEKS[week].name, patient="CUA-020"
        )
        assert result.lesion_labels == ("L1",), (week, result.lesion_labels)
    rows = store.series("CUA-020")
    assert [r.file_name[-6:-4] for r in rows] == [f"{n:02d}" for n in range(12)]
    assert {r.lesion for r in rows} == {"L1"}
    # a photo without a date is matched against the latest visit, as before
    reference = store.reference_analysis("CUA-020", None)
    assert reference is not None and reference.visit_id == rows[-1].visit_id
    near_week_3 = store.reference_analysis("CUA-020", rows[3].taken_on + timedelta(days=1))
    assert near_week_3 is not None and near_week_3.visit_id == rows[3].visit_id
    store.close()


def test_a_wound_photographed_again_after_weeks_away_is_the_same_lesion(tmp_path):
    """Visits at weeks 0-2, then none until week 9 (a stay in hospital): the wound shrank from
    8.3 to 0.92 cm², 9 times, more than a week's limit (5 times) but within seven weeks' (320
    times). It stays L1, and no note says otherwise."""
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    for week in (0, 1, 2, 9, 10):
        result = import_photo(
            store, WEEKS[week].read_bytes(), name=WEEKS[week].name, patient="CUA-021"
        )
        assert result.lesion_labels == ("L1",), (week, result.lesion_labels)
        assert not [w for w in result.warnings if "new lesion" in w]
    store.close()


def test_a_wound_much_larger_a_week_later_is_filed_new_with_a_note_naming_the_fix(tmp_path):
    """A week after 0.5 cm², a wound of 8.3 cm² (a wide debridement, or another wound: matching
    cannot tell): a new lesion, and the import says which known lesion it did not match and how
    to rename it. A photo whose lesions all match says nothing of the kind."""
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    results = [
        import_photo(
            store,
            WEEKS[week].read_bytes(),
            name=WEEKS[week].name,
            patient="CUA-022",
            taken_at=datetime(2026, 6, day, 12),
        )
        for week, day in ((10, 1), (11, 8), (2, 15))
    ]
    assert [r.lesion_labels for r in results] == [("L1",), ("L1",), ("L2",)]
    assert not [w for r in results[:2] for w in r.warnings if "new lesion" in w]
    (note,) = [w for w in results[2].warnings if "new lesion" in w]
    assert note.startswith("L2 is filed as a new lesion")
    assert "none of L1 (visit of 2026-06-08)" in note and "Lesion names" in note
    store.close()


def _two_wounds_photographed_apart(tmp_path, sites: tuple[str, str]) -> list:
    """A patient's two wounds, one per photo each week: the demo's (weeks 0-2) and a phantom's
    smaller wound elsewhere, an hour later the same day; their import results."""
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    start = datetime(2026, 3, 2, 11)
    results = []
    for k in range(3):
        other = tmp_path / f"other{k}.jpg"
        write_phantom(
            PhantomSpec(
                seed=50 + k,
                lesion_seed=99,
                wound_radius_mm=14 - 2 * k,
                taken_at=start + timedelta(days=7 * k),
            ),
            other,
        )
        for data, name, site in (
            (WEEKS[k].read_bytes(), WEEKS[k].name, sites[0]),
            (other.read_bytes(), other.name, sites[1]),
        ):
            results.append(import_photo(store, data, name=name, patient="CUA-040", body_site=site))
    return store, results


def test_wounds_at_two_body_sites_photographed_apart_stay_two_lesions(tmp_path):
    """Each photo is matched only against the lesions at its own body site (the site compared
    without case, spacing or abbreviations): the other wound, 6 cm² beside the demo's 15 cm²,
    was filed as L1 every week while photos were matched against the nearest visit whatever its
    site."""
    store, results = _two_wounds_photographed_apart(tmp_path, ("left calf", " Right  shin"))
    assert [r.lesion_labels for r in results] == [("L1",), ("L2",)] * 3
    assert not [w for r in results for w in r.warnings if "lesion" in w or "site" in w]
    sites = {r.lesion: r.body_site for r in store.series("CUA-040")}
    assert sites == {"L1": "left calf", "L2": "Right shin"}
    uploads = [e.detail for e in store.audit_entries() if e.action == "upload"]
    assert [d["body_site"] for d in uploads[:2]] == ["left calf", "Right shin"]
    # a photo that names no site is matched against the nearest visit's lesions, whatever their
    # site: here the other wound's (photographed last, at week 2), 3.2 against 6.0 cm² (wrong,
    # as it can be), and the import says so
    week_3 = import_photo(store, WEEKS[3].read_bytes(), name=WEEKS[3].name, patient="CUA-040")
    assert week_3.lesion_labels == ("L2",)
    (note,) = [w for w in week_3.warnings if "body site" in w]
    assert "2 sites (left calf: L1; Right shin: L2)" in note and "--site" in note
    # the same site spelt as a busy nurse spells it is the same site: the calf wound, L1
    week_4 = import_photo(
        store, WEEKS[4].read_bytes(), name=WEEKS[4].name, patient="CUA-040", body_site="Lt. Calf"
    )
    assert week_4.lesion_labels == ("L1",)
    assert not [w for w in week_4.warnings if "new lesion" in w]
    store.close()


def test_a_lesion_filed_without_a_site_takes_the_site_given_later(tmp_path):
    store, results = _two_wounds_photographed_apart(tmp_path, ("", ""))
    # without sites nothing tells the two wounds apart: one lesion; but a photo matched to
    # another photo of the same day says so, naming it (a retake, or another wound)
    assert {label for r in results for label in r.lesion_labels} == {"L1"}
    for week, (calf, other) in enumerate(zip(results[::2], results[1::2], strict=True)):
        assert not [w for w in calf.warnings if "same day" in w]  # last week's photo
        [note] = [w for w in other.warnings if "same day" in w]
        assert note.startswith(
            f"filed under L1, matched to another photo of the same day ({WEEKS[week].name})"
        )
        assert "give each wound's photos their body site" in note
    more = import_photo(
        store, WEEKS[3].read_bytes(), name=WEEKS[3].name, patient="CUA-040", body_site="left calf"
    )
    assert more.lesion_labels == ("L1",)
    assert {r.body_site for r in store.series("CUA-040")} == {"left calf"}
    store.close()


def test_a_small_wound_photographed_the_same_day_without_a_site_is_a_new_lesion(tmp_path):
    """Another wound, 40 times smaller, photographed an hour after the demo's week 0 with no
    site: no match, so a new lesion, and no note of a same-day match (it matched nothing)."""
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    first = import_photo(store, WEEKS[0].read_bytes(), name=WEEKS[0].name, patient="CUA-041")
    small = tmp_path / "small.jpg"
    when = datetime(2026, 3, 2, 13)
    write_phantom(PhantomSpec(seed=80, lesion_seed=98, wound_radius_mm=3, taken_at=when), small)
    other = import_photo(store, small.read_bytes(), name=small.name, patient="CUA-041")
    assert (first.lesion_labels, other.lesion_labels) == (("L1",), ("L2",))
    assert not [w for w in other.warnings if "same day" in w]
    [note] = [w for w in other.warnings if "new lesion" in w]
    assert note.startswith("L2 is filed as a new lesion: it matched none of L1")
    store.close()


@pytest.mark.parametrize("debridement", ["", "debridement", "Surgical debridement"])
def test_a_wound_widened_by_a_recorded_debridement_stays_its_lesion(tmp_path, debridement):
    """A 0.3 cm² wound, then 16 times larger a week later at the same place: a new lesion (the
    growth limit is 5x in a week), unless a debridement is recorded between the photos."""
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    paths = []
    for week, radius_mm in enumerate((3.0, 12.0)):
        when = datetime(2026, 3, 2 + 7 * week, 10)
        paths.append(tmp_path / f"week{week}.jpg")
        spec = PhantomSpec(seed=60 + week, lesion_seed=7, wound_radius_mm=radius_mm, taken_at=when)
        write_phantom(spec, paths[-1])
    first = import_photo(store, paths[0].read_bytes(), name=paths[0].name, patient="CUA-042")
    if debridement:
        store.add_treatments(
            "CUA-042", [TreatmentEvent(kind=debridement, start_on=date(2026, 3, 9))]
        )
    second = import_photo(store, paths[1].read_bytes(), name=paths[1].name, patient="CUA-042")
    areas = [r.wound_area_cm2 for r in store.series("CUA-042")]
    assert areas[1] / areas[0] > 10
    assert first.lesion_labels == ("L1",)
    assert second.lesion_labels == (("L1",) if debridement else ("L2",))
    store.close()


def test_a_person_can_override_a_lesion_match(url, photos):
    store = Store(url)
    for path, _ in photos[:2]:
        import_photo(store, path.read_bytes(), name=path.name, patient="CUA-015")
    rows = store.series("CUA-015")
    last_visit = max(r.visit_id for r in rows)
    l1 = next(r for r in rows if r.visit_id == last_visit and r.lesion == "L1")
    l2 = next(r for r in rows if r.visit_id == last_visit and r.lesion == "L2")
    store.assign_lesion(l1.analysis_id, l1.lesion_index, "L7", by="Dr Mbeki")
    after = {(r.visit_id, r.lesion): r for r in store.series("CUA-015")}
    assert (last_visit, "L7") in after and (last_visit, "L1") not in after
    assert after[(last_visit, "L7")].wound_area_cm2 == l1.wound_area_cm2  # figures unchanged
    with store.engine.connect() as c:
        record = c.scalar(sa.select(db.Analysis.record).where(db.Analysis.id == l1.analysis_id))
    assert (
        record["lesion_overrides"][0]["from"] == "L1"
        and record["lesion_overrides"][0]["by"] == "Dr Mbeki"
    )
    with pytest.raises(StoreError, match="already lesion"):
        store.assign_lesion(l2.analysis_id, l2.lesion_index, "L7", by="Dr Mbeki")
    with pytest.raises(StoreError, match="has no lesion"):
        store.assign_lesion(l2.analysis_id, 99, "L3", by="Dr Mbeki")
    store.close()


def test_a_correction_keeps_the_lesion_names_of_its_own_photo(url, photos):
    store = Store(url)
    first = import_photo(store, photos[0][0].read_bytes(), name="w0.jpg", patient="CUA-016")
    import_photo(
        store, photos[1][0].read_bytes(), name="w1.jpg", patient="CUA-016"
    )  # a later visit
    before = {r.lesion: r for r in store.series("CUA-016") if r.visit_id == first.visit_id}
    labels = stored_labels(store, before["L1"].analysis_id).copy()
    labels[5:25, 5:25] = 3  # the clinician adds a small eschar patch the segmenter missed
    correct(store, first.visit_id, labels, by="RN Okafor")
    after = {r.lesion: r for r in store.series("CUA-016") if r.visit_id == first.visit_id}
    assert set(after) == {"L1", "L2", "L3"}
    for name in ("L1", "L2"):  # the unchanged wounds keep their names and figures
        assert after[name].wound_area_cm2 == pytest.approx(before[name].wound_area_cm2)
    assert after["L3"].wound_area_cm2 < 0.2 * after["L2"].wound_area_cm2
    info = store.current_analysis(first.visit_id)
    assert info.kind == "corrected" and info.n_analyses == 2 and info.corrected_by == "RN Okafor"
    assert info.calibration.method == "aruco"
    store.close()


def test_a_plain_file_path_is_an_sqlite_database(tmp_path, monkeypatch):
    from woundtrack.record import db

    path = tmp_path / "sub" / "wt.db"
    assert db.as_url(str(path)) == f"sqlite:///{path}"
    assert db.as_url("postgresql+psycopg://u:p@h/d") == "postgresql+psycopg://u:p@h/d"
    monkeypatch.setenv("WOUNDTRACK_DB", str(path))
    assert db.default_db_url() == f"sqlite:///{path}"
    path.parent.mkdir()  # a folder of the user's choice is never created (issue 30, row 9)
    store = Store(str(path))
    assert store.url == f"sqlite:///{path}"
    store.engine.dispose()
    assert path.is_file()


# ------------------------------------------------------------------ lesion labels (issue 30, row 5)
@pytest.mark.parametrize(
    ("label", "match"),
    [
        (" ", r"^lesion label ' ' is empty; give a label such as L1"),
        ("", r"^lesion label '' is empty"),
        ('=HYPERLINK("http://x")', r"""^lesion label '=HYPERLINK\("http://x"\)' has '=', '\(', """),
        ("L1\nL2", r"^lesion label 'L1\\nL2' has a line break; use letters, digits"),
        ("-1", r"^lesion label '-1' starts with '-'; start it with a letter or digit"),
        ("x" * 41, r"^lesion label 'x{39}…' is 41 characters, over the limit of 40"),
    ],
)
def test_lesion_labels_are_checked_where_they_enter(tmp_path, photos, label, match):
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    data = photos[0][0].read_bytes()
    with pytest.raises(StoreError, match=match):
        import_photo(store, data, name="a.jpg", patient="CUA-030", lesion=label)
    assert store.patients() == []  # refused before anything is stored
    first = import_photo(store, data, name="a.jpg", patient="CUA-030", lesion=" left heel 2 ")
    assert first.lesion_labels[0] == "left heel 2"  # letters, digits, spaces; stripped
    row = store.series("CUA-030")[0]
    with pytest.raises(StoreError, match=match):
        store.assign_lesion(row.analysis_id, row.lesion_index, label, by="RN Okafor")
    store.assign_lesion(row.analysis_id, row.lesion_index, "Läsion_1.a-#2", by="RN Okafor")
    assert store.series("CUA-030")[0].lesion == "Läsion_1.a-#2"
    store.close()


def test_a_stored_bad_lesion_label_never_breaks_a_later_import(url, photos):
    store = Store(url)
    import_photo(store, photos[0][0].read_bytes(), name="w0.jpg", patient="CUA-031")
    # A database written before labels were checked: `--lesion " "` stored an empty label.
    with store.engine.begin() as c:
        c.execute(sa.update(db.Lesion).where(db.Lesion.label == "L1").values(label=""))
    later = import_photo(store, photos[1][0].read_bytes(), name="w1.jpg", patient="CUA-031")
    assert later.status == "imported"
    # The unnamed lesion keeps its identity (matched by position and size, as L1 was).
    by_visit = {}
    for r in store.series("CUA-031"):
        by_visit.setdefault(r.visit_id, set()).add(r.lesion)
    assert list(by_visit.values()) == [{"", "L2"}, {"", "L2"}]
    visit = later.visit_id
    labels = stored_labels(store, store.current_analysis(visit).analysis_id).copy()
    labels[5:25, 5:25] = 3
    correct(store, visit, labels, by="RN Okafor")  # matching against the unnamed lesion again
    assert {r.lesion for r in store.series("CUA-031") if r.visit_id == visit} == {"", "L2", "L1"}
    store.close()


# ------------------------------------------------------------ CSV injection (issue 30, row 6)
def test_csv_export_neutralises_cells_a_spreadsheet_would_run(url, photos):
    store = Store(url)
    path = photos[0][0]
    import_photo(
        store, path.read_bytes(), name="=2+5+cmd.jpg", patient="CUA-032", body_site="@SUM(1,2)"
    )
    with store.engine.begin() as c:  # a label stored before labels were checked
        c.execute(sa.update(db.Lesion).where(db.Lesion.label == "L2").values(label="=HYPERLINK(1)"))
    visit = store.visits("CUA-032")[0]["visit_id"]
    correct(
        store, visit, stored_labels(store, store.current_analysis(visit).analysis_id), by="-1+1"
    )
    rows = list(csv.DictReader(io.StringIO(store.export_csv("CUA-032"))))
    assert {r["lesion"] for r in rows} == {"L1", "'=HYPERLINK(1)"}
    assert {r["body_site"] for r in rows} == {"'@SUM(1,2)"}
    assert {r["file_name"] for r in rows} == {"'=2+5+cmd.jpg"}
    assert {r["corrected_by"] for r in rows} == {"'-1+1"}
    for r in rows:  # figures stay numbers
        assert float(r["wound_area_cm2"]) > 0 and not r["wound_area_cm2"].startswith("'")
    store.close()


def test_csv_values_keep_numbers_as_numbers():
    from woundtrack.record.store import _csv_value

    assert _csv_value(-1.5) == "-1.5" and _csv_value(-3) == "-3" and _csv_value(None) == ""
    assert _csv_value("-1.5") == "'-1.5"  # text that looks like a number is still text
    for text in ("=1+1", "+1", "-x", "@SUM(1)", "\tx", "\rx", "'=x"):
        assert _csv_value(text) == "'" + text
    assert _csv_value("L1") == "L1" and _csv_value("'quoted") == "'quoted"


def test_a_treatment_stored_outside_todays_date_range_is_still_read(url, photos):
    """Treatment dates are now checked on entry (1900 to five years ahead); a row an earlier
    version saved outside that range is read back and shown, never refused."""
    store = Store(url)
    import_photo(store, photos[0][0].read_bytes(), name="w0.jpg", patient="CUA-032")
    store.add_treatments("CUA-032", [TreatmentEvent(kind="HBOT", start_on=date(2026, 3, 2))])
    with store.engine.begin() as c:
        c.execute(sa.update(db.TreatmentEventRow).values(start_on=date(9999, 12, 31)))
    (event,) = store.treatments("CUA-032")
    assert event.start_on == date(9999, 12, 31) and event.kind == "hyperbaric_oxygen"
    with pytest.raises(TimelineError, match=r"start_on: 9999-12-31 is more than 5 years ahead"):
        TreatmentEvent(kind="HBOT", start_on=date(9999, 12, 31))  # refused as new input
    store.close()


def test_the_doubt_is_the_lesions_own_where_a_photo_holds_two(tmp_path, photos):
    """Two lesions in one photo, the network unsure of the second one's outline only: one
    warning, naming it; the chart, the export and the research tables ring that lesion alone,
    and a stored analysis keeps each lesion's doubt when it is restored."""
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    path, _ = photos[0]
    result = import_photo(
        store, path.read_bytes(), name=path.name, patient="CUA-012", segmenter=UnsureOfOneLesion(2)
    )
    [warning] = [w for w in result.warnings if w.startswith(OUTLINE_DOUBT_WARNING)]
    assert warning.startswith("the network is unsure of lesion 2's outline (of 2, largest first)")
    assert "the size of lesion 2" in warning
    record = store.current_analysis(result.visit_id).record
    first, second = (m["outline_doubt"] for m in record["lesions"])
    assert first < OUTLINE_DOUBT_WARN < second
    assert first < record["outline_doubt"] < second  # the photo's lies between its lesions'
    rows = {r.lesion_index: r for r in store.series("CUA-012")}
    assert (rows[1].outline_doubt, rows[2].outline_doubt) == (first, second)
    exported = {
        row["lesion"]: row["outline_doubt"]
        for row in csv.DictReader(io.StringIO(store.export_csv("CUA-012")))
    }
    assert sorted(exported.values(), key=float) == [repr(first), repr(second)]
    labels = stored_labels(store, store.current_analysis(result.visit_id).analysis_id)
    info = read_photo(path)[1]
    restored = restore_analysis(info, record, labels)
    assert [m.outline_doubt for m in restored.lesions] == [first, second]
    # a record made before doubts were per lesion: each lesion's row shows the photo's
    before = [{k: v for k, v in m.items() if k != "outline_doubt"} for m in record["lesions"]]
    made_before = SimpleNamespace(kind="automatic", record={**record, "lesions": before})
    assert _lesion_doubt(made_before, 2) == _lesion_doubt(made_before, 1) == record["outline_doubt"]
    assert _lesion_doubt(SimpleNamespace(kind="corrected", record=record), 2) is None
    store.close()


def test_a_persons_outline_drops_the_networks_doubt_about_its_own(tmp_path, photos):
    """A photo warned that the network is unsure of its outline keeps the warning on the
    automatic analysis; the analysis of a person's corrected outline does not carry it."""

    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    path, _ = photos[0]
    result = import_photo(
        store,
        path.read_bytes(),
        name=path.name,
        patient="CUA-011",
        segmenter=DoubtingSegmenter(0.9),
    )
    assert any(w.startswith(OUTLINE_DOUBT_WARNING) for w in result.warnings)
    automatic = store.current_analysis(result.visit_id)
    assert any(w.startswith(OUTLINE_DOUBT_WARNING) for w in automatic.record["warnings"])
    assert {r.outline_doubt for r in store.series("CUA-011")} == {0.9}  # the chart rings it
    exported = list(csv.DictReader(io.StringIO(store.export_csv("CUA-011"))))
    assert {row["outline_doubt"] for row in exported} == {"0.9"}
    research, _ = store.pseudonymised_tables()  # researchers can leave such visits out
    assert {row["outline_doubt"] for row in research} == {0.9}
    correct(store, result.visit_id, stored_labels(store, automatic.analysis_id), by="RN Okafor")
    corrected = store.current_analysis(result.visit_id)
    assert corrected.analysis_id != automatic.analysis_id
    assert not any(w.startswith(OUTLINE_DOUBT_WARNING) for w in corrected.record["warnings"])
    assert automatic.record["outline_doubt"] == 0.9 and corrected.record["outline_doubt"] is None
    assert {r.outline_doubt for r in store.series("CUA-011")} == {None}
    # both lesions were warned about (no logits: each has the photo's doubt); the rest stay
    assert len(automatic.record["warnings"]) - len(corrected.record["warnings"]) == 2
    store.close()
