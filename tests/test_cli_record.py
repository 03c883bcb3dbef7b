"""The record commands through the CLI: import, timeline, export, healing, backup (real SQLite)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from woundtrack.analysis.report import healing_summary, healing_summary_json
from woundtrack.cli import main
from woundtrack.record.store import Store
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
WEEKS = sorted(SAMPLES.glob("demo_week*.jpg"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """The demo patient: the weekly series and its timeline, imported once."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'demo.db'}"
    assert (
        main(
            [
                "--db",
                url,
                "import",
                *map(str, WEEKS),
                "--patient",
                "DEMO-001",
                "--site",
                "left calf",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "--db",
                url,
                "timeline",
                "import",
                str(SAMPLES / "demo_timeline.csv"),
                "--patient",
                "DEMO-001",
            ]
        )
        == 0
    )
    return url


def test_sample_series_and_timeline_round_trip(capsys, demo_db):
    status, out, _ = run(
        capsys, "--db", demo_db, "export", "--patient", "DEMO-001", "--format", "csv"
    )
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(WEEKS) >= 6
    assert {r["lesion"] for r in rows} == {"L1"} and {r["body_site"] for r in rows} == {"left calf"}
    truth = {r["file"]: r for r in csv.DictReader((SAMPLES / "demo_truth.csv").open())}
    for r in rows:
        # The exported figures are the stored measurement, within 5 % of truth at every visit,
        # the late, small ones too (issue 24: week 9, 0.95 cm², was -8.1 % before the region's
        # pass could magnify a large photo up to its own pixels)
        assert float(r["wound_area_cm2"]) == pytest.approx(
            float(truth[r["file_name"]]["wound_area_cm2"]), rel=0.05
        )
        assert r["corrected"] == "false" and r["calibrated"] == "true"
    assert [r["taken_at"][:10] for r in rows] == sorted(r["taken_at"][:10] for r in rows)
    status, out, _ = run(capsys, "--db", demo_db, "timeline", "export", "--patient", "DEMO-001")
    assert status == 0
    from woundtrack.analysis.timeline_csv import read_timeline_csv

    def key(e):
        return (e.start_on, e.kind)

    exported = read_timeline_csv(io.StringIO(out))
    assert exported == sorted(read_timeline_csv(SAMPLES / "demo_timeline.csv"), key=key)


def test_reimport_adds_nothing(capsys, demo_db):
    status, out, _ = run(
        capsys, "--db", demo_db, "import", str(WEEKS[0]), "--patient", "DEMO-001", "--json"
    )
    assert status == 0
    assert json.loads(out)["status"] == "duplicate"
    status, out, _ = run(capsys, "--db", demo_db, "import", str(WEEKS[0]), "--patient", "DEMO-001")
    assert status == 0 and out.count(WEEKS[0].name) == 1
    assert out.startswith(f"{WEEKS[0].name}: already stored for DEMO-001 (visit ")
    assert "no wound found" not in out
    status, out, _ = run(
        capsys,
        "--db",
        demo_db,
        "timeline",
        "import",
        str(SAMPLES / "demo_timeline.csv"),
        "--patient",
        "DEMO-001",
    )
    assert "0 treatment event(s) added" in out
    assert "note:" not in out  # the demo's courses fit their sessions


def test_timeline_import_notes_a_course_whose_dates_cannot_hold_its_sessions(capsys, tmp_path):
    csv_file = tmp_path / "timeline.csv"
    csv_file.write_text(
        "kind,start_on,end_on,frequency,sessions\n"
        "HBOT,2026-03-16,2026-06-22,5 per week,36\n"
        "sodium_thiosulfate,2026-03-30,2026-06-22,3 per week after dialysis,\n"
    )
    url = f"sqlite:///{tmp_path / 'w.db'}"
    status, out, _ = run(
        capsys, "--db", url, "timeline", "import", str(csv_file), "--patient", "P-9"
    )
    assert status == 0  # stored as given: the note asks, it does not refuse
    assert out.splitlines() == [
        "timeline.csv: 2 treatment event(s) added, 0 already there",
        "  note: Hyperbaric oxygen from 2026-03-16: 36 sessions at 5 per week take about 7 "
        "weeks, but its dates run 14 weeks (to 2026-06-22); check its end date and its number of "
        "sessions",
    ]


def test_healing_notes_a_series_measured_by_two_model_versions(capsys, demo_db, tmp_path):
    copy = tmp_path / "copy.db"
    shutil.copyfile(demo_db.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as con:  # weeks 9-11 measured by a clinic model
        con.execute(
            "UPDATE analyses SET model_version = 'clinic-2', "
            "record = json_set(record, '$.provenance.model_version', 'clinic-2') WHERE visit_id "
            "IN (SELECT id FROM visits WHERE taken_on >= '2026-05-04')"
        )
    url = f"sqlite:///{copy}"
    status, out, _ = run(capsys, "--db", url, "healing", "--patient", "DEMO-001")
    assert status == 0
    [note] = [line for line in out.splitlines() if line.startswith("  note: ")]
    assert "measured by 2 model versions" in note and "clinic-2 (3 visits, 4–18 May 2026)" in note
    _, out, _ = run(capsys, "--db", demo_db, "healing", "--patient", "DEMO-001")
    assert "note:" not in out
    # measured again with the active model: one version again, and no note
    status, out, _ = run(capsys, "--db", url, "measure-again", "--patient", "DEMO-001")
    assert status == 0
    assert out.strip() == (
        "DEMO-001: 3 visit(s) measured again with the model shipped, 0 kept as a person "
        "corrected them, 9 measured by it already"
    )
    _, out, _ = run(capsys, "--db", url, "healing", "--patient", "DEMO-001")
    assert "note:" not in out


def test_healing_json(capsys, demo_db):
    status, out, _ = run(capsys, "--db", demo_db, "healing", "--patient", "DEMO-001", "--json")
    assert status == 0
    doc = json.loads(out)
    l1 = doc["lesions"]["L1"]
    for key in (
        "baseline_area_cm2",
        "latest_area_cm2",
        "pct_area_reduction",
        "par_week4_pct",
        "gilman_cm_per_week",
        "exp_rate_per_week",
        "half_life_days",
        "projected_closure_on",
        "healed_on",
    ):
        assert key in l1
    assert l1["pct_area_reduction"] > 80  # the demo lesion heals
    assert l1["half_life_days"] > 0
    labels = {p["label"] for p in l1["phases"]}
    assert {"before sodium_thiosulfate", "during sodium_thiosulfate"} <= labels
    status, out, _ = run(capsys, "--db", demo_db, "healing", "--patient", "DEMO-001")
    assert "PAR at week 4" in out and "DEMO-001 L1" in out


#: The keys of each lesion of ``healing --json`` before its figures were typed
#: (``HealingSummary``); every one is still there, with ``reopened_on`` and ``closed_below_cm2``.
OLD_LESION_KEYS = [
    "n_visits",
    "baseline_on",
    "baseline_area_cm2",
    "latest_on",
    "latest_area_cm2",
    "pct_area_reduction",
    "par_week4_pct",
    "gilman_cm_per_week",
    "exp_rate_per_week",
    "exp_rate_ci_per_week",
    "exp_r_squared",
    "pct_change_per_week",
    "half_life_days",
    "projected_closure_on",
    "healed_on",
    "closed_at_last_visit",
    "phases",
]


def test_healing_json_keeps_its_keys_and_adds_closure_threshold_and_reopening(capsys, demo_db):
    args = ("--db", demo_db, "healing", "--patient", "DEMO-001", "--json", "--as-of", "2026-05-20")
    status, out, _ = run(capsys, *args)
    assert status == 0
    doc = json.loads(out)
    assert list(doc) == ["patient", "lesions", "skipped", "note"]
    assert doc["patient"] == "DEMO-001" and doc["skipped"] == {}
    l1 = doc["lesions"]["L1"]
    assert [k for k in l1 if k not in ("reopened_on", "closed_below_cm2")] == OLD_LESION_KEYS
    assert l1["closed_below_cm2"] == 0.1 and l1["reopened_on"] is None
    assert list(l1["projected_closure_on"]) == ["projected", "earliest", "latest", "refused_reason"]
    assert l1["baseline_on"] == "2026-03-02"  # dates as ISO text
    assert all(
        list(p)
        == [
            "label",
            "start_on",
            "end_on",
            "n_visits",
            "exp_rate_per_week",
            "pct_change_per_week",
            "gilman_cm_per_week",
        ]
        for p in l1["phases"]
    )
    # The command writes exactly healing_summary_json of the typed summary.
    store = Store(demo_db)
    try:
        rows, events = store.series("DEMO-001"), store.treatments("DEMO-001")
    finally:
        store.close()
    summary = healing_summary(rows, events, today=date(2026, 5, 20))
    assert json.loads(json.dumps(healing_summary_json(summary))) == doc
    metrics = summary.lesions["L1"]
    assert l1["exp_rate_per_week"] == metrics.exp_rate_per_week
    assert l1["projected_closure_on"]["projected"] == metrics.closure.projected_on.isoformat()


def test_healing_is_read_as_of_today_unless_a_day_is_given(capsys, demo_db):
    """The demo's last photo is of 2026-05-18 and its closure was projected for June 2026: read
    today (after it), the closure is not projected and the reason says it passed unseen; read
    as of 2026-05-20, it is projected."""
    status, out, _ = run(capsys, "--db", demo_db, "healing", "--patient", "DEMO-001")
    assert status == 0
    assert date.today() > date(2026, 7, 1)  # this test's premise; run on an older clock it fails
    assert "no closure projection: The projected closure date (2026-06-" in out
    assert "has passed without a visit since 2026-05-18; measure the wound again." in out
    _, out, _ = run(
        capsys, "--db", demo_db, "healing", "--patient", "DEMO-001", "--as-of", "2026-05-20"
    )
    assert "projected closure 2026-06-" in out and "no closure projection" not in out
    status, _, err = run(
        capsys, "--db", demo_db, "healing", "--patient", "DEMO-001", "--as-of", "May"
    )
    assert status == 2 and "'May' is not a date like 2026-11-01" in err


def test_a_failed_photo_is_skipped_and_the_rest_imported(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    status, out, err = run(
        capsys, "--db", url, "import", str(bad), str(WEEKS[0]), "--patient", "P-1", "--json"
    )
    assert status == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["ok"] for r in lines] == [False, True]
    assert "bad.jpg" in lines[0]["error"] and "Traceback" not in err


def test_import_says_each_photos_warnings(capsys, tmp_path):
    """A photo without a sticker and without a capture date is imported in pixels, and the
    command says both, under the photo's line, as ``measure`` does."""
    photo = tmp_path / "no_sticker.jpg"
    write_phantom(PhantomSpec(seed=4, width_px=800, height_px=600, with_sticker=False), photo)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    status, out, _ = run(capsys, "--db", url, "import", str(photo), "--patient", "P-2")
    assert status == 0
    first, *warnings = out.splitlines()
    assert first.startswith("no_sticker.jpg: imported")
    assert any(w.startswith("  warning: no calibration sticker found") for w in warnings)
    assert any(
        w.startswith("  warning: no_sticker.jpg: the capture time is unknown") for w in warnings
    )


def test_import_taken_on_dates_undated_photos_and_keeps_a_cameras_time_that_day(capsys, tmp_path):
    """``--taken-on``: an undated photo is filed at midday of that day (entered, and no note
    asks for the date); a photo whose camera says that day keeps the camera's time; a camera
    saying another day is overruled. An unbelievable date is refused before anything is read."""
    undated = tmp_path / "undated.jpg"
    write_phantom(PhantomSpec(seed=4, width_px=800, height_px=600), undated)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    args = ("--db", url, "import", str(undated), str(WEEKS[0]), str(WEEKS[1]), "--patient", "P-3")
    status, _, err = run(capsys, *args, "--taken-on", "2099-01-01")
    assert status == 2 and "--taken-on: the capture date 2099-01-01 is after" in err
    assert not (tmp_path / "w.db").exists()  # refused before any database is opened
    status, out, _ = run(capsys, *args, "--taken-on", "2026-03-02", "--workers", "2")
    assert status == 0
    assert "capture time is unknown" not in out
    store = Store(url)
    visits = {v["file_name"]: v for v in store.visits("P-3")}
    store.close()
    assert str(visits["undated.jpg"]["taken_at"]).startswith("2026-03-02T12:00")
    # demo_week00 was taken on 2026-03-02 (its EXIF time is kept); demo_week01 a week later
    assert str(visits[WEEKS[0].name]["taken_at"]).startswith("2026-03-02T09:30")
    assert str(visits[WEEKS[1].name]["taken_at"]).startswith("2026-03-02T12:00")
    status, _, err = run(
        capsys, "--db", url, "import", "--from", "x.parquet", "--taken-on", "2026-03-02"
    )
    assert status == 2 and "carry their own dates" in err


def test_bad_database_url_and_unknown_patient(capsys, tmp_path):
    status, _, err = run(capsys, "--db", "nosuchdb://x", "export", "--patient", "P-1")
    assert status == 2 and "cannot open the database" in err
    url = f"sqlite:///{tmp_path / 'w.db'}"
    status, _, err = run(capsys, "--db", url, "export", "--patient", "NOBODY")
    assert status == 2 and "no woundtrack database at" in err  # a reader creates nothing
    Store(url).close()
    status, _, err = run(capsys, "--db", url, "export", "--patient", "NOBODY")
    assert status == 1 and "not in the database" in err
    status, _, err = run(capsys, "--db", url, "import", str(WEEKS[0]), "--patient", "Jane Doe")
    assert status == 1 and "pseudonymous" in err


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--patient", "Jane Doe", "pseudonymous"),
        ("--lesion", "left calf ulcer!", "lesion label"),
        ("--site", "left\x07calf", "is not a body site"),
    ],
)
def test_a_refused_import_leaves_no_database_behind(capsys, tmp_path, flag, value, said):
    """A mistyped patient code, lesion label or site is refused before the database is opened:
    no new, empty database file is left where the clinic's was meant to be."""
    options = {"--patient": "P-1", "--lesion": "L1"} | {flag: value}
    args = [part for option in options.items() for part in option]
    url = f"sqlite:///{tmp_path / 'new.db'}"
    status, _, err = run(capsys, "--db", url, "import", str(WEEKS[0]), *args)
    assert status == 1 and said in err
    assert not (tmp_path / "new.db").exists()


def test_backup(capsys, demo_db, tmp_path):
    out_file = tmp_path / "copy.db"
    status, out, _ = run(capsys, "--db", demo_db, "backup", str(out_file))
    assert status == 0 and out_file.exists()
    status, copy_csv, _ = run(
        capsys, "--db", f"sqlite:///{out_file}", "export", "--patient", "DEMO-001"
    )
    _, original_csv, _ = run(capsys, "--db", demo_db, "export", "--patient", "DEMO-001")
    assert copy_csv == original_csv
    status, _, err = run(capsys, "--db", demo_db, "backup", str(out_file))
    assert status == 1 and "exists already" in err


def test_database_from_environment(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("WOUNDTRACK_DB", f"sqlite:///{tmp_path / 'env.db'}")
    status, _, _ = run(capsys, "import", str(WEEKS[0]), "--patient", "ENV-1")
    assert status == 0 and (tmp_path / "env.db").exists()


def test_record_commands_document_an_example(capsys):
    for command in ("import", "timeline", "export", "healing", "measure-again", "backup"):
        status, out, _ = run(capsys, command, "--help")
        assert status == 0 and "example:" in out


def test_import_refuses_a_bad_body_site_before_reading_any_photo(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    status, out, err = run(
        capsys,
        "--db",
        url,
        "import",
        *map(str, WEEKS[:3]),
        "--patient",
        "CUA-301",
        "--site",
        "calf\x00",
    )
    assert status == 1 and out == ""
    assert err.startswith("woundtrack: body site ") and err.count("\n") == 1  # one, not three
    store = Store(url)
    assert store.patients() == []
    store.close()


@pytest.mark.parametrize("lesion", [" ", '=HYPERLINK("http://x")'])
def test_import_refuses_a_bad_lesion_label_before_storing_anything(capsys, tmp_path, lesion):
    # Issue 30, row 5: `--lesion " "` stored an empty label that broke every later import.
    url = f"sqlite:///{tmp_path / 'w.db'}"
    status, out, err = run(
        capsys, "--db", url, "import", str(WEEKS[0]), "--patient", "CUA-300", "--lesion", lesion
    )
    assert status == 1 and out == ""
    assert err.startswith(f"woundtrack: lesion label {lesion!r} ") and err.count("\n") == 1
    assert "use letters, digits" in err or "give a label such as L1" in err
    store = Store(url)
    assert store.patients() == []
    store.close()
    status, out, err = run(capsys, "--db", url, "import", str(WEEKS[0]), "--patient", "CUA-300")
    assert status == 0 and "Traceback" not in err


def test_import_errors_name_the_file_never_its_folders(capsys, tmp_path):
    # Issue 30, row 12: folders may name a patient.
    folder = tmp_path / "John Smith 1950-02-03"
    folder.mkdir()
    url = f"sqlite:///{tmp_path / 'w.db'}"
    status, out, err = run(
        capsys, "--db", url, "import", str(folder / "missing.jpg"), "--patient", "CUA-301"
    )
    assert status == 1
    assert err == "woundtrack: missing.jpg: no such file; check the path and name\n"


def test_export_neutralises_cells_a_spreadsheet_would_run(capsys, tmp_path):
    # Issue 30, row 6, through the command line: file name and body site are the user's text.
    planted = tmp_path / "=2+5+cmd.jpg"
    planted.write_bytes(WEEKS[0].read_bytes())
    url = f"sqlite:///{tmp_path / 'w.db'}"
    argv = ["--db", url, "import", str(planted), "--patient", "CUA-302", "--site", "@SUM(1,2)"]
    assert run(capsys, *argv)[0] == 0
    status, out, _ = run(capsys, "--db", url, "export", "--patient", "CUA-302")
    assert status == 0
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["file_name"] == "'=2+5+cmd.jpg" and row["body_site"] == "'@SUM(1,2)"
    assert float(row["wound_area_cm2"]) > 0
