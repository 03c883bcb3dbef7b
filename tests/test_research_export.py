"""The pseudonymised research export (``woundtrack export --research``) on a real SQLite record.

Two patients with known capture and treatment dates are filed through ``import_photo`` (three
demo photos, once per module) and ``add_treatments``. The export must

- write measurements.parquet, treatments.parquet, dictionary.csv and dictionary.md, and document
  every column it writes;
- name nobody: no patient code, file name, photo hash, free text or user in any byte of the
  files (the Parquet values are decoded too, in case compression hides a string);
- give a patient one subject across tables and exports, and move all of a patient's dates by one
  offset (the intervals, e.g. first visit to treatment start, are the original ones);
- refuse an existing folder and write nothing there;
- be what ``woundtrack cohort`` reads: from the record (``--db``) and from the files, the same
  figures.

Who may export is checked for the researcher role and for someone without a role.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from woundtrack.cli import main
from woundtrack.models import TreatmentEvent
from woundtrack.record.ingest import import_photo
from woundtrack.record.research import DICTIONARY
from woundtrack.record.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
FILES = ("dictionary.csv", "dictionary.md", "measurements.parquet", "treatments.parquet")
CET = timezone(timedelta(hours=1))
ADMIN, RESEARCHER = "admin@clinic.org", "researcher@clinic.org"

#: patient -> [(demo photo, name it is filed under, capture day)]; names carry the code, as
#: a phone's export might, to show that names never travel.
VISITS = {
    "CUA-101": [
        ("demo_week00.jpg", "CUA-101_IMG_7731.jpg", date(2026, 1, 5)),
        ("demo_week01.jpg", "CUA-101_IMG_7790.jpg", date(2026, 1, 12)),
    ],
    "CUA-202": [("demo_week02.jpg", "CUA-202_IMG_8002.jpg", date(2026, 2, 2))],
}
#: patient -> body site as typed: the export keeps its coded region, side and distribution only
SITES = {"CUA-101": "left calf (Mrs Adebayo's)", "CUA-202": "R buttock"}
TREATMENTS = {
    "CUA-101": TreatmentEvent(
        kind="sodium_thiosulfate",
        start_on=date(2026, 1, 8),
        end_on=date(2026, 3, 1),
        dose="25 g, ordered by Dr Ferreira",
    ),
    "CUA-202": TreatmentEvent(
        kind="HBOT", start_on=date(2026, 2, 20), sessions=36, frequency="daily with nurse Okafor"
    ),
}
#: A kind typed as text, naming someone: exported as "other".
TYPED_KIND = TreatmentEvent(kind="honey from Mrs Nakamura", start_on=date(2026, 2, 3))
#: patient -> the lesion label given at import (None: matched, L1); a typed label names someone.
LESION_LABELS = {"CUA-101": None, "CUA-202": "Mr Nakamura heel"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """The record (SQLite file) and what identifies its patients."""
    folder = tmp_path_factory.mktemp("record")
    url = f"sqlite:///{folder / 'w.db'}"
    store = Store(url)
    hashes = []
    for patient, visits in VISITS.items():
        for photo, name, day in visits:
            result = import_photo(
                store,
                (SAMPLES / photo).read_bytes(),
                name=name,
                patient=patient,
                taken_at=datetime.combine(day, datetime.min.time(), CET).replace(hour=9),
                body_site=SITES[patient],
                lesion=LESION_LABELS[patient],
            )
            assert result.status == "imported"
            assert result.lesion_labels == (LESION_LABELS[patient] or "L1",)
            hashes.append(result.photo_sha256)
        store.add_treatments(patient, [TREATMENTS[patient]])
    store.add_treatments("CUA-202", [TYPED_KIND])
    areas = {p: [r.wound_area_cm2 for r in store.series(p)] for p in VISITS}
    secrets = [
        *VISITS,
        *(name for visits in VISITS.values() for _, name, _ in visits),
        *(name.split("_", 1)[1] for visits in VISITS.values() for _, name, _ in visits),
        *hashes,
        *(h[:12] for h in hashes),
        "Ferreira",
        "Okafor",
        "Adebayo",
        "Nakamura",
        store.actor,
    ]
    store.close()
    out = folder / "export"
    assert main(["--db", url, "export", "--research", "--out", str(out)]) == 0
    return {"url": url, "db": folder / "w.db", "out": out, "secrets": secrets, "areas": areas}


@pytest.fixture(scope="module")
def tables(record):
    out = record["out"]
    return pd.read_parquet(out / "measurements.parquet"), pd.read_parquet(
        out / "treatments.parquet"
    )


def _patient_of(measurements: pd.DataFrame) -> dict[str, str]:
    """subject -> patient, by the number of visits (CUA-101 has two, CUA-202 one)."""
    counts = measurements["subject"].value_counts()
    assert sorted(counts) == [1, 2]
    return {counts.idxmax(): "CUA-101", counts.idxmin(): "CUA-202"}


def test_the_export_writes_its_four_files(record, tables):
    assert sorted(p.name for p in record["out"].iterdir()) == sorted(FILES)
    measurements, treatments = tables
    assert len(measurements) == 3 and len(treatments) == 3
    # The figures are the record's.
    by_patient = _patient_of(measurements)
    for subject, patient in by_patient.items():
        mine = measurements[measurements["subject"] == subject].sort_values("day")
        assert mine["wound_area_cm2"].tolist() == pytest.approx(record["areas"][patient])
    assert set(treatments["kind"]) == {"sodium_thiosulfate", "hyperbaric_oxygen", "other"}
    # A typed lesion label becomes X1; L1 stays L1.
    lesions = {by_patient[row.subject]: row.lesion for row in measurements.itertuples()}
    assert lesions == {"CUA-101": "L1", "CUA-202": "X1"}
    sites = {
        by_patient[row.subject]: (row.body_region, row.laterality, row.distribution)
        for row in measurements.itertuples()
    }
    assert sites == {
        "CUA-101": ("lower leg", "left", "distal"),
        "CUA-202": ("buttock", "right", "proximal"),
    }
    md = (record["out"] / "dictionary.md").read_text(encoding="utf-8")
    assert "2 subjects, 3 measurements, 3 treatment events" in md
    # a researcher comparing slough shares learns how the network that split the beds did
    [version] = set(measurements["model_version"])
    assert "+tissue-" in version
    tissue = md.split("## Tissue shares (eschar, slough, granulation): known agreement")[1]
    assert tissue.count("Tissue shares come from tissue network") == 1
    assert version.split("+tissue-")[1] in tissue and "slough reads low" in tissue


def test_no_file_names_anyone(record):
    for name in FILES:
        data = (record["out"] / name).read_bytes()
        for secret in record["secrets"]:
            assert secret.encode("utf-8") not in data, (name, secret)
    # Decoded as well: a compressed Parquet page could hide a string from the byte search.
    for name in ("measurements.parquet", "treatments.parquet"):
        frame = pd.read_parquet(record["out"] / name)
        text = " ".join(frame.astype(str).to_numpy().ravel()) + " ".join(frame.columns)
        for secret in record["secrets"]:
            assert secret not in text, (name, secret)
        assert not {"dose", "frequency", "patient", "file_name", "photo_sha256"} & set(frame)


def test_every_exported_column_is_in_the_dictionary(record, tables):
    with (record["out"] / "dictionary.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == {"table", "column", "type_and_unit", "meaning"}
    documented = {(r["table"], r["column"]) for r in rows}
    assert all(r["type_and_unit"] and r["meaning"] for r in rows)
    for table, frame in zip(("measurements", "treatments"), tables, strict=True):
        for column in frame.columns:
            assert (table, column) in documented, (table, column)
    # And nothing documented that is not written.
    written = {
        (t, c) for t, f in zip(("measurements", "treatments"), tables, strict=True) for c in f
    }
    assert documented == written == set(DICTIONARY)
    md = (record["out"] / "dictionary.md").read_text(encoding="utf-8")
    assert all(f"| {column} |" in md for _, column in written)


def test_a_patient_has_one_subject_in_both_tables_and_every_export(
    capsys, record, tables, tmp_path
):
    measurements, treatments = tables
    subjects = set(measurements["subject"])
    assert len(subjects) == 2 and all(s.startswith("S-") and len(s) == 12 for s in subjects)
    assert set(treatments["subject"]) == subjects
    by_patient = _patient_of(measurements)
    kinds = sorted(zip(treatments["subject"].map(by_patient), treatments["kind"], strict=True))
    assert kinds == [
        ("CUA-101", "sodium_thiosulfate"),
        ("CUA-202", "hyperbaric_oxygen"),
        ("CUA-202", "other"),
    ]
    sessions = {
        (by_patient[s], k): n
        for s, k, n in zip(
            treatments["subject"], treatments["kind"], treatments["sessions"], strict=True
        )
    }
    assert sessions[("CUA-202", "hyperbaric_oxygen")] == 36
    assert pd.isna(sessions[("CUA-101", "sodium_thiosulfate")])
    # A second export of the same record: the same subjects and the same shifted dates.
    again = tmp_path / "again"
    status, out, _ = run(capsys, "--db", record["url"], "export", "--research", "--out", str(again))
    assert status == 0
    assert out.strip() == (
        f"{again}: measurements.parquet, treatments.parquet, dictionary.csv, dictionary.md"
    )
    pd.testing.assert_frame_equal(pd.read_parquet(again / "measurements.parquet"), measurements)
    pd.testing.assert_frame_equal(pd.read_parquet(again / "treatments.parquet"), treatments)


def test_each_patients_dates_move_by_one_offset(tables):
    measurements, treatments = tables
    by_patient = _patient_of(measurements)
    offsets = {}
    for subject, patient in by_patient.items():
        visits = measurements[measurements["subject"] == subject].sort_values("day")
        shifted = [date.fromisoformat(d) for d in visits["taken_on_shifted"]]
        original = [day for _, _, day in VISITS[patient]]
        mine = treatments[treatments["subject"] == subject]
        event = mine[mine["kind"] != "other"].iloc[0]
        truth = TREATMENTS[patient]
        moved = [s - o for s, o in zip(shifted, original, strict=True)]
        moved.append(date.fromisoformat(event["start_on_shifted"]) - truth.start_on)
        for other in mine[mine["kind"] == "other"].itertuples():  # CUA-202's typed kind
            moved.append(date.fromisoformat(other.start_on_shifted) - TYPED_KIND.start_on)
        if truth.end_on is not None:
            moved.append(date.fromisoformat(event["end_on_shifted"]) - truth.end_on)
        else:
            assert event["end_on_shifted"] is None
        assert len(set(moved)) == 1, (patient, moved)  # one offset for all of a patient's dates
        offsets[patient] = moved[0]
        assert timedelta(0) < abs(moved[0]) <= timedelta(days=183)  # never the real dates
        # Hence the intervals are the original ones, and `day` counts from the first visit.
        assert visits["day"].tolist() == [(d - original[0]).days for d in original]
        assert event["day"] == (truth.start_on - original[0]).days
    assert set(offsets) == set(VISITS)


def test_a_patient_whose_offset_would_be_zero_is_moved_183_days():
    """The offset comes from a keyed hash: 1 patient in 365 would keep their real dates."""
    import hashlib
    import hmac

    from woundtrack.record.store import date_offset_days

    key, digest = b"", b""
    for n in range(100_000):  # a key under which CUA-101's raw offset is 0 (about 1 in 365)
        key = n.to_bytes(4, "big")
        digest = hmac.new(key, b"CUA-101", hashlib.sha256).digest()
        if int.from_bytes(digest[5:9], "big") % 365 == 182:
            break
    assert date_offset_days(digest) == 183
    others = [hmac.new(n.to_bytes(4, "big"), b"X", hashlib.sha256).digest() for n in range(2000)]
    offsets = {date_offset_days(d) for d in others}
    assert 0 not in offsets and min(offsets) == -182 and max(offsets) == 183


def test_an_existing_folder_is_refused_and_left_alone(capsys, record, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, out, err = run(
        capsys, "--db", record["url"], "export", "--research", "--out", str(empty)
    )
    assert status == 1 and out == ""
    assert err.strip() == (
        f"woundtrack: {empty} exists; choose a new folder name for the research export"
    )
    assert list(empty.iterdir()) == []
    # A folder holding files keeps exactly them.
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine", encoding="utf-8")
    status, _, _ = run(capsys, "--db", record["url"], "export", "--research", "--out", str(full))
    assert status == 1
    assert [p.name for p in full.iterdir()] == ["notes.txt"]
    assert (full / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_research_export_needs_out_and_no_patient(capsys, record, tmp_path):
    status, _, err = run(capsys, "--db", record["url"], "export", "--research")
    assert status == 2 and "give --out DIR" in err
    status, _, err = run(
        capsys,
        "--db",
        record["url"],
        "export",
        "--research",
        "--patient",
        "CUA-101",
        "--out",
        str(tmp_path / "x"),
    )
    assert status == 2 and not (tmp_path / "x").exists()


def test_cohort_reads_the_record_and_the_export_alike(capsys, record):
    status, out, err = run(
        capsys, "cohort", "--db", record["url"], "--by", "sodium_thiosulfate", "--json"
    )
    assert status == 0, err
    from_db = json.loads(out)
    assert from_db["n_patients"] == 2
    assert from_db["groups"]["with"]["n_lesions"] == 1
    assert from_db["groups"]["without"]["n_lesions"] == 1
    assert from_db["groups"]["with"]["n_healed"] == from_db["groups"]["without"]["n_healed"] == 0
    out_dir = record["out"]
    status, out, err = run(
        capsys,
        "cohort",
        "--measurements",
        str(out_dir / "measurements.parquet"),
        "--timeline",
        str(out_dir / "treatments.parquet"),
        "--by",
        "STS",
        "--json",
    )
    assert status == 0, err
    from_files = json.loads(out)
    assert from_files["n_patients"] == from_db["n_patients"] == 2
    assert from_files["groups"] == from_db["groups"]
    for secret in record["secrets"]:
        assert secret not in out


def test_roles_decide_who_may_export_for_research(capsys, record, tmp_path):
    path = tmp_path / "team.db"
    shutil.copyfile(record["db"], path)
    url = f"sqlite:///{path}"
    admin = Store(url, actor=ADMIN)
    admin.add_user(ADMIN, "admin")
    admin.add_user(RESEARCHER, "researcher")
    admin.close()
    out = tmp_path / "research"
    status, _, err = run(
        capsys, "--db", url, "--user", RESEARCHER, "export", "--research", "--out", str(out)
    )
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    status, _, err = run(capsys, "--db", url, "--user", RESEARCHER, "cohort", "--json")
    assert status == 0, err
    # The researcher sees no patient by code ...
    status, _, err = run(
        capsys, "--db", url, "--user", RESEARCHER, "export", "--patient", "CUA-101"
    )
    assert status == 1 and "may not export" in err
    # ... and someone without a role gets nothing, not even an empty folder.
    stranger = tmp_path / "stranger"
    status, _, err = run(
        capsys,
        "--db",
        url,
        "--user",
        "who@else.org",
        "export",
        "--research",
        "--out",
        str(stranger),
    )
    assert status == 1 and "is not a user of this woundtrack database" in err
    assert not stranger.exists()
