"""Edits that lose nothing: every change to stored figures is a new, attributed record that can be
undone, and two people editing one patient at once never overwrite each other unseen. SQLite and
PostgreSQL (``db_url``)."""

from __future__ import annotations

import threading
from datetime import date, datetime

import numpy as np
import pytest

from woundtrack.image.pipeline import make_segmenter
from woundtrack.models import GRANULATION, TreatmentEvent
from woundtrack.record.access import AccessError
from woundtrack.record.ingest import correct, import_photo, measure_again, stored_labels
from woundtrack.record.store import Store, StoreError
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

CLINICIAN, OTHER, NURSE = "clinician@clinic.org", "other@clinic.org", "nurse@clinic.org"
STS = TreatmentEvent(kind="sodium_thiosulfate", start_on=date(2026, 3, 2), dose="25 g")
HBOT = TreatmentEvent(kind="hyperbaric_oxygen", start_on=date(2026, 3, 9), sessions=36)
PTX = TreatmentEvent(kind="parathyroidectomy", start_on=date(2026, 3, 20))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edit_photos")
    out = []
    for week in range(2):
        spec = PhantomSpec(
            seed=40 + week,
            width_px=800,
            height_px=600,
            wound_radius_mm=12.0 - 3 * week,
            taken_at=datetime(2026, 3, 2 + 7 * week, 10),
        )
        path = folder / f"week{week}.jpg"
        write_phantom(spec, path)
        out.append(path)
    return out


@pytest.fixture
def team(db_url, photos):
    """A clinic database with two weekly visits of CUA-007; the clinician's store."""
    store = Store(db_url, actor=CLINICIAN)
    store.add_user(CLINICIAN, "admin")
    store.add_user(OTHER, "clinician")
    store.add_user(NURSE, "nurse")
    for path in photos:
        import_photo(store, path.read_bytes(), name=path.name, patient="CUA-007")
    yield store
    store.close()


def _areas(store: Store) -> list[tuple[str, str, float]]:
    return [(r.lesion, r.file_name, round(r.wound_area_cm2, 6)) for r in store.series("CUA-007")]


def test_a_lesion_drawn_by_mistake_can_be_removed_and_the_correction_withdrawn(team):
    """Issue 25: a lasso drawn off the wound became a permanent lesion L2 in every figure."""
    before = _areas(team)
    visit = team.visits("CUA-007")[1]["visit_id"]
    automatic = team.current_analysis(visit)
    labels = stored_labels(team, automatic.analysis_id).copy()
    labels[20:60, 20:60] = GRANULATION  # a square in the corner, off the wound
    corrected = correct(team, visit, labels, by=CLINICIAN)
    assert {r.lesion for r in team.series("CUA-007")} == {"L1", "L2"}

    removal = team.remove_lesion("CUA-007", "L2")
    assert _areas(team)[0] == before[0] and {r.lesion for r in team.series("CUA-007")} == {"L1"}
    team.undo(removal)
    assert {r.lesion for r in team.series("CUA-007")} == {"L1", "L2"}

    # Withdrawing the whole correction: the automatic figures are current again, and the
    # correction is still stored.
    withdrawal = team.withdraw_correction(corrected)
    assert _areas(team) == before
    assert team.current_analysis(visit).analysis_id == automatic.analysis_id
    assert stored_labels(team, corrected)[30, 30] == GRANULATION
    team.undo(withdrawal)
    assert team.current_analysis(visit).analysis_id == corrected


def test_undoing_a_correction_restores_the_automatic_figures(team):
    before = _areas(team)
    visit = team.visits("CUA-007")[0]["visit_id"]
    labels = stored_labels(team, team.current_analysis(visit).analysis_id).copy()
    labels[labels > 0] = 0  # "no wound": a wrong correction
    correct(team, visit, labels, by=CLINICIAN)
    assert _areas(team) != before
    [edit] = [e for e in team.edits("CUA-007") if e["kind"] == "correct"]
    team.undo(edit["edit_id"])
    assert _areas(team) == before


def test_a_wrong_visit_is_removed_and_restored(team):
    first, second = team.visits("CUA-007")
    edit = team.remove_visit(second["visit_id"])
    assert [v["visit_id"] for v in team.visits("CUA-007")] == [first["visit_id"]]
    assert {r.visit_id for r in team.series("CUA-007")} == {first["visit_id"]}
    assert team.export_csv("CUA-007").count("\n") == 2  # the header and one row
    team.undo(edit)
    assert [v["visit_id"] for v in team.visits("CUA-007")] == [
        first["visit_id"],
        second["visit_id"],
    ]


def test_a_capture_date_is_fixed_and_the_old_one_kept(team):
    visit = team.visits("CUA-007")[1]
    edit = team.set_capture_date(visit["visit_id"], date(2026, 3, 16))
    row = [r for r in team.series("CUA-007") if r.visit_id == visit["visit_id"]][0]
    assert row.taken_on == date(2026, 3, 16) and row.taken_at == "2026-03-16T12:00:00"
    [record] = [e for e in team.edits("CUA-007") if e["edit_id"] == edit]
    assert record["before"]["taken_at"] == visit["taken_at"] and record["by"] == CLINICIAN
    # Fixed twice: the first fix can only be undone after the second.
    second = team.set_capture_date(visit["visit_id"], date(2026, 3, 17))
    with pytest.raises(StoreError, match=f"edit {second} changed the same thing after"):
        team.undo(edit)
    team.undo(second)
    team.undo(edit)
    again = [v for v in team.visits("CUA-007") if v["visit_id"] == visit["visit_id"]][0]
    assert (again["taken_at"], again["taken_on"]) == (visit["taken_at"], visit["taken_on"])
    with pytest.raises(StoreError, match="was undone already"):
        team.undo(edit)


def test_a_lesion_rename_is_undone(team):
    row = team.series("CUA-007")[0]
    team.assign_lesion(row.analysis_id, row.lesion_index, "left heel")
    assert team.series("CUA-007")[0].lesion == "left heel"
    [edit] = [e for e in team.edits("CUA-007") if e["kind"] == "assign_lesion"]
    team.undo(edit["edit_id"])
    assert team.series("CUA-007")[0].lesion == "L1"


def test_a_lesions_body_site_is_set_fixed_and_undone(team, tmp_path):
    """Lesions filed without a site take the site of the next photo that names one (an edit of
    whoever imported it); a typo is fixed by hand; each change is kept and can be undone."""
    path = tmp_path / "week2.jpg"
    write_phantom(
        PhantomSpec(
            seed=42,
            width_px=800,
            height_px=600,
            wound_radius_mm=6.0,
            taken_at=datetime(2026, 3, 16, 10),
        ),
        path,
    )
    third = import_photo(
        team.as_actor(NURSE),
        path.read_bytes(),
        name=path.name,
        patient="CUA-007",
        body_site="  Left   calf ",
    )
    assert third.lesion_labels == ("L1",)
    assert "L1 had no body site and is now at Left calf, this photo's" in " ".join(third.warnings)
    assert {r.body_site for r in team.series("CUA-007")} == {"Left calf"}
    [filled] = [e for e in team.edits("CUA-007") if e["kind"] == "set_body_site"]
    assert filled["by"] == NURSE and filled["before"]["body_site"] == ""
    fixed = team.set_body_site("CUA-007", "L1", "right calf")
    assert {r.body_site for r in team.series("CUA-007")} == {"right calf"}
    assert team.audit_entries()[-1].action == "set_body_site"
    with pytest.raises(StoreError, match="already at right calf"):
        team.set_body_site("CUA-007", "L1", " right  calf")
    with pytest.raises(StoreError, match="has no lesion 'L9'"):
        team.set_body_site("CUA-007", "L9", "left calf")
    with pytest.raises(StoreError, match="at most 80 characters"):
        team.set_body_site("CUA-007", "L1", "x" * 81)
    with pytest.raises(StoreError, match="is not a body site"):
        team.set_body_site("CUA-007", "L1", "left\x00calf")
    with pytest.raises(AccessError, match="may not correct"):
        team.as_actor(NURSE).set_body_site("CUA-007", "L1", "left calf")
    team.undo(fixed)
    assert {r.body_site for r in team.series("CUA-007")} == {"Left calf"}
    team.undo(filled["edit_id"])
    assert {r.body_site for r in team.series("CUA-007")} == {""}


def test_a_patients_visits_are_measured_again_by_one_model_and_it_can_be_undone(team):
    """A series measured by two models is measured again by the one in use: each visit gets a
    new automatic analysis (its lesions keep their names), a person's correction is kept, a
    visit already measured by that model is left alone, and each change can be undone."""
    classical = make_segmenter("classical")
    first, second = (v["visit_id"] for v in team.visits("CUA-007"))
    labels = stored_labels(team, team.current_analysis(first).analysis_id).copy()
    labels[20:60, 20:60] = GRANULATION
    correct(team, first, labels, by=CLINICIAN)
    before = {r.visit_id: r for r in team.series("CUA-007")}
    with pytest.raises(AccessError, match="may not correct"):
        measure_again(team.as_actor(NURSE), "CUA-007", segmenter=classical)
    seen = []
    done = measure_again(
        team, "CUA-007", segmenter=classical, progress=lambda n, total: seen.append((n, total))
    )
    assert (done.measured, done.corrected, done.unchanged, done.failed) == (
        (second,),
        (first,),
        (),
        (),
    )
    assert seen == [(1, 2), (2, 2)]
    after = {(r.visit_id, r.lesion): r for r in team.series("CUA-007")}
    assert after[(first, "L1")].analysis_id == before[first].analysis_id  # the correction
    again = after[(second, "L1")]  # the same lesion name, the new model's figures
    assert again.segmenter == "classical-lab" and again.analysis_id != before[second].analysis_id
    assert team.current_analysis(second).kind == "automatic"
    # measured by this model already: nothing to do
    assert measure_again(team, "CUA-007", segmenter=classical).unchanged == (second,)
    [edit] = [e for e in team.edits("CUA-007") if e["kind"] == "measure_again"]
    assert edit["before"]["analysis_id"] == before[second].analysis_id
    assert team.audit_entries()[-1].action == "measure_again"
    team.undo(edit["edit_id"])
    assert team.current_analysis(second).analysis_id == before[second].analysis_id
    with pytest.raises(StoreError, match="is a person's correction|person's correction"):
        team.add_measured_again(
            team.current_analysis(first), record={}, labels_png=b"", lesions=(), positions=()
        )


def test_a_treatment_edit_is_undone(team):
    team.add_treatments("CUA-007", [STS])
    team.replace_treatments("CUA-007", [HBOT])
    [edit] = [e for e in team.edits("CUA-007") if e["kind"] == "replace_treatments"]
    team.undo(edit["edit_id"])
    assert team.treatments("CUA-007") == [STS]


def test_two_people_editing_one_timeline_at_once_lose_nothing(team):
    team.add_treatments("CUA-007", [STS])
    loaded_by_a = team.treatments("CUA-007")
    loaded_by_b = team.as_actor(OTHER).treatments("CUA-007")
    team.replace_treatments("CUA-007", [*loaded_by_a, HBOT], based_on=loaded_by_a)
    with pytest.raises(StoreError, match=f"changed by {CLINICIAN} at .* nothing was saved"):
        team.as_actor(OTHER).replace_treatments(
            "CUA-007", [*loaded_by_b, PTX], based_on=loaded_by_b
        )
    assert team.treatments("CUA-007") == [STS, HBOT]  # A's edit stands
    # B reloads and saves again: both edits are in.
    reloaded = team.as_actor(OTHER).treatments("CUA-007")
    team.as_actor(OTHER).replace_treatments("CUA-007", [*reloaded, PTX], based_on=reloaded)
    assert team.treatments("CUA-007") == [STS, HBOT, PTX]


def test_two_people_correcting_one_visit_at_once_both_stay_in_the_record(team, db_url):
    visit = team.visits("CUA-007")[0]["visit_id"]
    labels = stored_labels(team, team.current_analysis(visit).analysis_id)
    errors: list[Exception] = []
    done: list[int] = []

    def fix(who: str, value: int) -> None:
        store = Store(db_url, actor=who)
        try:
            changed = labels.copy()
            changed[20:40, 20 + value * 30 : 40 + value * 30] = GRANULATION
            done.append(correct(store, visit, changed, by=who))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=fix, args=(w, i)) for i, w in enumerate((CLINICIAN, OTHER))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(done) == 2
    kinds = [(e["kind"], e["by"]) for e in team.edits("CUA-007")]
    assert sorted(kinds) == sorted([("correct", CLINICIAN), ("correct", OTHER)])
    assert team.current_analysis(visit).analysis_id == max(done)
    # The other correction is kept: undoing the newer one brings it back.
    newest = [e for e in team.edits("CUA-007") if e["after"]["analysis_id"] == max(done)][0]
    team.undo(newest["edit_id"])
    assert team.current_analysis(visit).analysis_id == min(done)


def test_edits_need_the_role_and_are_all_audited(team):
    nurse = team.as_actor(NURSE)
    visit = team.visits("CUA-007")[0]["visit_id"]
    with pytest.raises(AccessError, match="may not correct"):
        nurse.remove_visit(visit)
    edit = team.remove_visit(visit)
    with pytest.raises(AccessError, match="may not correct"):
        nurse.undo(edit)
    team.undo(edit)
    actions = [e.action for e in team.audit_entries()][-2:]
    assert actions == ["remove_visit", "undo"]
    assert team.verify_audit().ok
    assert np.all([e["by"] == CLINICIAN for e in team.edits("CUA-007")])
