"""Issue 28: a patient's record as one FHIR R4 bundle (validated by fhir.resources' R4B models)
and back again: the numbers and treatments round-trip exactly; bad files get one message each.
And as DICOM files: the photos read back pixel for pixel, the segmentations equal the stored
label maps, dciodvfy (where installed) finds no error, and the photos import elsewhere."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from datetime import date, datetime, timedelta, timezone

import cv2
import highdicom as hd
import numpy as np
import pydicom
import pytest
from fhir.resources.R4B.bundle import Bundle

from woundtrack.cli import main
from woundtrack.image.io import read_photo
from woundtrack.interop import fhir
from woundtrack.interop.dicom import calibration_of, labels_from_segmentation
from woundtrack.models import GRANULATION, WOUND_BED_LABELS, TreatmentEvent
from woundtrack.record.exchange import fhir_bundle, import_fhir
from woundtrack.record.ingest import correct, import_photo, stored_labels
from woundtrack.record.store import Store
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

TREATMENTS = (
    TreatmentEvent(
        kind="sodium_thiosulfate",
        start_on=date(2026, 3, 2),
        dose="25 g IV",
        frequency="3 per week after dialysis",
    ),
    TreatmentEvent(
        kind="hyperbaric_oxygen", start_on=date(2026, 3, 9), end_on=date(2026, 4, 24), sessions=36
    ),
    TreatmentEvent(kind="parathyroidectomy", start_on=date(2026, 3, 20), notes="subtotal"),
    TreatmentEvent(kind="cinacalcet", start_on=date(2026, 2, 1), end_on=date(2026, 3, 19)),
    TreatmentEvent(kind="Wound VAC", start_on=date(2026, 3, 23), frequency="continuous"),
)
FIGURE_NAMES = [name for name, *_ in fhir.FIGURES]


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """CUA-007: a calibrated visit (aware time), a corrected one (naive time), one without a
    sticker; the treatments above; a lesion on the left calf."""
    folder = tmp_path_factory.mktemp("fhir")
    specs = [
        PhantomSpec(
            seed=61,
            width_px=800,
            height_px=600,
            wound_radius_mm=12.0,
            taken_at=datetime(2026, 3, 2, 10, 5, tzinfo=timezone(timedelta(hours=1))),
        ),
        PhantomSpec(
            seed=62,
            width_px=800,
            height_px=600,
            wound_radius_mm=10.0,
            taken_at=datetime(2026, 3, 9),
        ),
        PhantomSpec(
            seed=63,
            width_px=800,
            height_px=600,
            wound_radius_mm=9.0,
            with_sticker=False,
            taken_at=datetime(2026, 3, 16, 9, 30),
        ),
    ]
    store = Store(f"sqlite:///{folder / 'site.db'}", actor="os:nurse")
    for week, spec in enumerate(specs):
        path = folder / f"week{week}.jpg"
        write_phantom(spec, path)
        import_photo(
            store, path.read_bytes(), name=path.name, patient="CUA-007", body_site="left calf"
        )
    visit = store.visits("CUA-007")[1]["visit_id"]
    labels = stored_labels(store, store.current_analysis(visit).analysis_id).copy()
    bed = np.isin(labels, WOUND_BED_LABELS)
    grown = cv2.dilate(bed.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    labels[grown & ~bed] = GRANULATION  # a person widens the outline by 4 px
    correct(store, visit, labels, by="dr.khan@clinic.org")
    store.add_treatments("CUA-007", TREATMENTS)
    yield store, folder
    store.close()


def test_the_bundle_is_valid_fhir_r4_with_loinc_codes_units_and_provenance(record):
    store, _ = record
    bundle = fhir_bundle(store, "CUA-007")
    Bundle.model_validate(bundle)  # the whole bundle, every resource, against R4B
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert bundle["type"] == "collection"
    assert kinds.count("Patient") == 1 and kinds.count("Observation") == 3
    assert kinds.count("MedicationStatement") == 2 and kinds.count("Procedure") == 3
    assert kinds.count("Media") == 6  # photo and overlay per visit; no bytes by default
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    assert set(patient) == {"resourceType", "id", "identifier"}  # the code only: no name, no birth
    observations = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    series = store.series("CUA-007")
    first = observations[0]
    area = next(c for c in first["component"] if c["code"]["coding"][0]["code"] == "89260-4")
    assert area["code"]["coding"][0]["system"] == "http://loinc.org"
    assert area["valueQuantity"]["code"] == "cm2" and area["valueQuantity"]["system"].endswith(
        "unitsofmeasure.org"
    )
    assert area["valueQuantity"]["value"] == series[0].wound_area_cm2
    codes = {c["code"]["coding"][0]["code"] for c in first["component"]}
    assert {"39126-8", "39125-0", "eschar-area", "erythema-area", "eschar-share"} <= codes
    assert first["effectiveDateTime"] == "2026-03-02T10:05:00+01:00"
    assert first["bodySite"] == {
        "text": "left calf",
        "coding": [
            {"system": "http://snomed.info/sct", "code": "30021000", "display": "Lower leg"}
        ],
    }
    by_ref = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    device = by_ref[first["device"]["reference"]]
    assert device["deviceName"][0]["name"] == "woundtrack"
    assert {v["type"]["text"] for v in device["version"]} == {
        "software",
        "segmentation model",
        "segmenter",
    }
    photo = by_ref[first["derivedFrom"][0]["reference"]]
    assert photo["content"]["contentType"] == "image/jpeg" and "data" not in photo["content"]
    assert photo["identifier"][0]["value"] == series[0].photo_sha256
    assert photo["content"]["size"] == len(store.photo_bytes(series[0].photo_sha256))
    # The corrected visit says so; its naive camera time is given as a day, kept in full aside.
    second = observations[1]
    assert second["note"][0]["text"] == "Outline corrected by dr.khan@clinic.org"
    assert second["effectiveDateTime"] == "2026-03-09"
    # Without a sticker: no made-up cm², the reason given instead.
    third = observations[2]
    area = next(c for c in third["component"] if c["code"]["coding"][0]["code"] == "89260-4")
    assert (
        "valueQuantity" not in area
        and area["dataAbsentReason"]["coding"][0]["code"] == "not-performed"
    )
    assert any("pixels only" in n["text"] for n in third["note"])


def test_figures_and_treatments_read_back_exactly(record):
    store, _ = record
    text = json.dumps(fhir_bundle(store, "CUA-007"))
    contents = fhir.read_bundle(text, name="cua.json")
    assert contents.patient == "CUA-007"
    for row, figures in zip(store.series("CUA-007"), contents.figures, strict=True):
        assert [getattr(row, n) for n in FIGURE_NAMES] == [figures[n] for n in FIGURE_NAMES]
        assert (figures["lesion"], figures["body_site"], figures["taken_at"]) == (
            row.lesion,
            row.body_site,
            row.taken_at,
        )
        assert (figures["corrected"], figures["corrected_by"]) == (row.corrected, row.corrected_by)
        assert figures["model_version"] == row.model_version
    assert sorted(contents.treatments, key=repr) == sorted(store.treatments("CUA-007"), key=repr)


def test_a_bundle_with_photos_imports_into_another_database_losslessly(record, tmp_path):
    store, _ = record
    bundle = fhir_bundle(store, "CUA-007", with_photos=True, transaction=True)
    assert all(e["request"]["method"] == "PUT" for e in bundle["entry"])
    data = json.dumps(bundle).encode()
    other = Store(f"sqlite:///{tmp_path / 'other.db'}", actor="os:importer")
    done = import_fhir(other, data, name="cua.json", by="os:importer")
    assert done.skipped == () and done.differences == ()
    assert done.treatments_added == len(TREATMENTS)
    assert [v.status for v in done.visits] == ["imported"] * 3
    theirs, mine = store.series("CUA-007"), other.series("CUA-007")
    for a, b in zip(theirs, mine, strict=True):
        assert [getattr(a, n) for n in FIGURE_NAMES] == [getattr(b, n) for n in FIGURE_NAMES]
        assert (a.lesion, a.body_site, a.taken_on, a.photo_sha256, a.corrected, a.corrected_by) == (
            b.lesion,
            b.body_site,
            b.taken_on,
            b.photo_sha256,
            b.corrected,
            b.corrected_by,
        )
    assert sorted(other.treatments("CUA-007"), key=repr) == sorted(TREATMENTS, key=repr)
    # Importing it again adds nothing and loses nothing.
    again = import_fhir(other, data, name="cua.json", by="os:importer")
    assert again.treatments_added == 0 and [v.status for v in again.visits] == ["duplicate"] * 3
    assert len(other.series("CUA-007")) == 3
    other.close()


def test_a_bundle_from_before_the_erythema_reach_matches_the_visits_it_holds(record, tmp_path):
    """An export written before woundtrack recorded the erythema's reach (its observations lack
    that component) imported into the database it came from: the visits are the same ones, with
    no difference reported for the figure the bundle does not carry."""
    store, _ = record
    bundle = fhir_bundle(store, "CUA-007", with_photos=True, transaction=True)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Observation":
            entry["resource"]["component"] = [
                c
                for c in entry["resource"]["component"]
                if c["code"]["coding"][0]["code"] != "erythema-reach"
            ]
    same = Store(f"sqlite:///{store.backup(tmp_path / 'copy.db')}", actor="os:importer")
    done = import_fhir(same, json.dumps(bundle).encode(), name="old.json", by="os:importer")
    assert [v.status for v in done.visits] == ["duplicate"] * 3 and done.differences == ()
    same.close()


def test_a_visit_without_a_figure_says_why_in_the_bundle(record):
    """A calibrated visit measured before the reach was recorded: absent, and not "no sticker"."""
    store, _ = record
    [row, *_] = store.series("CUA-007")
    media = {
        row.photo_sha256: fhir.VisitMedia(
            photo_sha256=row.photo_sha256,
            file_name=row.file_name,
            content_type="image/jpeg",
            size_bytes=1,
        )
    }
    bundle = fhir.build_bundle(
        "CUA-007",
        [dataclasses.replace(row, erythema_reach_cm=None)],
        media,
        [],
        woundtrack_version="0.1.0",
    )
    [observation] = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    [reach] = [
        c for c in observation["component"] if c["code"]["coding"][0]["code"] == "erythema-reach"
    ]
    assert "valueQuantity" not in reach
    assert reach["dataAbsentReason"]["text"].startswith("not recorded when this visit was measured")


def test_a_bundle_without_photos_brings_the_treatments_and_says_why_visits_are_not_imported(
    record, tmp_path
):
    store, _ = record
    data = json.dumps(fhir_bundle(store, "CUA-007")).encode()
    other = Store(f"sqlite:///{tmp_path / 'other.db'}", actor="os:importer")
    done = import_fhir(other, data, name="cua.json", by="os:importer")
    assert done.treatments_added == len(TREATMENTS) and done.visits == ()
    assert done.skipped == (
        "cua.json: 3 visit(s) not imported (week0.jpg, week1.jpg, week2.jpg): the bundle has "
        "their figures but not their photos, and woundtrack keeps every figure with its photo; "
        "export with --with-photos to import visits",
    )
    other.close()


def test_cli_export_and_import(record, tmp_path, capsys):
    store, folder = record
    url = store.url
    assert main(["--db", url, "export", "--patient", "CUA-007", "--format", "fhir"]) == 0
    printed = json.loads(capsys.readouterr().out)
    Bundle.model_validate(printed)
    out = tmp_path / "cua.json"
    args = ["--db", url, "export", "--patient", "CUA-007", "--format", "fhir", "--with-photos"]
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--out", str(out)]) == 2  # never over an existing file
    assert "exists" in capsys.readouterr().err
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["--db", other, "import", "--fhir", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "5 treatment event(s) added" in shown and shown.count(": imported (visit") == 3


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not a JSON file"),
        (json.dumps({"resourceType": "Patient", "id": "p"}), "a FHIR Patient, not a Bundle"),
        (
            # R5's Bundle has "issues"; R4 has no such element
            json.dumps({"resourceType": "Bundle", "type": "collection", "issues": {}}),
            "not a valid FHIR R4 Bundle",
        ),
        (json.dumps({"resourceType": "Bundle", "type": "collection"}), "0 woundtrack patients"),
    ],
)
def test_a_file_that_is_not_our_bundle_gets_one_clear_message(tmp_path, capsys, content, expected):
    path = tmp_path / "in.json"
    path.write_text(content, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert main(["--db", url, "import", "--fhir", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("woundtrack: in.json: ") and expected in err
    assert len(err.strip().splitlines()) == 1


def test_dicom_export_reads_back_with_pydicom_and_highdicom_and_imports_elsewhere(
    record, tmp_path, capsys
):
    store, _ = record
    folder = tmp_path / "dicom"
    args = ["--db", store.url, "export", "--patient", "CUA-007", "--format", "dicom"]
    assert main([*args, "--out", str(folder)]) == 0
    assert "6 DICOM files" in capsys.readouterr().out
    assert main([*args, "--out", str(folder)]) == 2  # never into an existing folder
    files = sorted(folder.iterdir())
    assert [f.name.split("-", 2)[2] for f in files] == ["photo.dcm", "seg.dcm"] * 3
    for visit, (photo_file, seg_file) in zip(
        store.visits("CUA-007"), zip(files[::2], files[1::2], strict=True), strict=True
    ):
        photo = pydicom.dcmread(photo_file)
        stored, _ = read_photo(store.photo_bytes(visit["photo_sha256"]), name="p")
        assert np.array_equal(photo.pixel_array, stored)
        assert (
            photo.PatientID == "CUA-007" and photo.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4"
        )
        seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(seg_file))
        analysis = store.current_analysis(visit["visit_id"])
        assert np.array_equal(
            labels_from_segmentation(seg), stored_labels(store, analysis.analysis_id)
        )
        assert (
            seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
            == photo.SOPInstanceUID
        )
        calibration = calibration_of(photo)
        assert calibration == analysis.calibration
    if shutil.which("dciodvfy"):
        for f in files:
            report = subprocess.run(["dciodvfy", str(f)], capture_output=True, text=True)
            assert [line for line in report.stderr.splitlines() if "Error" in line] == []
    # The same export again: the same UIDs (a PACS replaces, never duplicates).
    again = tmp_path / "again"
    assert main([*args, "--out", str(again)]) == 0
    uids = [pydicom.dcmread(f).SOPInstanceUID for f in files]
    assert uids == [pydicom.dcmread(f).SOPInstanceUID for f in sorted(again.iterdir())]
    # Another woundtrack imports the photos: the same pixels, measured the same.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    photos = [str(f) for f in files[::2]]
    assert main(["--db", other, "import", *photos, "--patient", "CUA-008"]) == 0
    imported = Store(other)
    assert [v["taken_on"] for v in imported.visits("CUA-008")] == [
        v["taken_on"] for v in store.visits("CUA-007")
    ]
    automatic = [store.current_analysis(v["visit_id"]) for v in store.visits("CUA-007")]
    mine = [r for r in imported.series("CUA-008")]
    assert mine[0].wound_area_cm2 == pytest.approx(
        automatic[0].record["lesions"][0]["wound_area_cm2"], rel=1e-6
    )
    imported.close()
