"""``woundtrack batch`` and ``import --from``: a manifest of photos measured into a Parquet results
folder (in this process, on a LocalCluster, and on a separately started Dask scheduler with its
workers), resumable by hash, nothing lost when a worker is killed, and filed in the record
without measuring again."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from woundtrack.cli import main
from woundtrack.image.io import decode_labels_png, read_photo
from woundtrack.image.pipeline import analyze_image
from woundtrack.record.batch import BatchError, read_manifest, read_results, run_batch
from woundtrack.record.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
WEEKS = sorted(SAMPLES.glob("demo_week*.jpg"))


def _manifest(
    folder: Path, lines: list[str], header: str = "patient,photo,lesion,taken_at"
) -> Path:
    path = folder / "manifest.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def photos(tmp_path) -> list[Path]:
    """Three demo photos copied beside the manifest (relative paths in it)."""
    out = []
    for week in WEEKS[:3]:
        target = tmp_path / week.name
        shutil.copyfile(week, target)
        out.append(target)
    return out


# -- the manifest -------------------------------------------------------------------------------


def test_an_unknown_column_is_refused_with_its_name(tmp_path):
    path = _manifest(tmp_path, ["P-1,a.jpg"], header="patient,foto")
    with pytest.raises(BatchError, match=r"manifest.csv line 1: unknown column 'foto' \(did you"):
        read_manifest(path)


def test_a_manifest_without_the_photo_column_is_refused(tmp_path):
    with pytest.raises(BatchError, match="no column photo"):
        read_manifest(_manifest(tmp_path, ["P-1"], header="patient"))


def test_bad_rows_carry_their_line_and_the_rest_are_jobs(tmp_path):
    path = _manifest(
        tmp_path,
        [
            "P-1,a.jpg,L1,2026-03-02",
            "Jane Doe 1950,b.jpg,,",
            "P-2,c.jpg,,02/03/2026",
            "P-3,,,",
            "",
            "P-4,sub/d.jpg,,2026-03-02T09:30",
        ],
    )
    jobs = read_manifest(path)
    assert [j.line for j in jobs] == [2, 3, 4, 5, 7]
    assert jobs[0].problem is None and jobs[0].photo == str(tmp_path / "a.jpg")
    assert jobs[0].taken_at == "2026-03-02T12:00:00"  # a date alone is noon
    assert "line 3" in jobs[1].problem and "pseudonymous" in jobs[1].problem
    assert "line 4" in jobs[2].problem and "YYYY-MM-DD" in jobs[2].problem
    assert "line 5" in jobs[3].problem and "no photo path" in jobs[3].problem
    assert jobs[4].problem is None and jobs[4].taken_at == "2026-03-02T09:30:00"


# -- measuring in this process ------------------------------------------------------------------


def test_results_are_the_measure_records_and_a_rerun_measures_only_what_is_new(tmp_path, photos):
    lines = [f"P-1,{p.name},,2026-03-0{n + 2}" for n, p in enumerate(photos[:2])]
    manifest = _manifest(tmp_path, [*lines, "P-1,missing.jpg,,", "P-2,../manifest.csv,,"])
    out = tmp_path / "results.parquet"
    first = run_batch(manifest, out, workers=0, progress=False, flush_rows=1)
    assert (first.measured, first.failed, first.skipped) == (2, 2, 0)
    assert any("line 4: missing.jpg: no such file" in e for e in first.errors)
    results = read_results(out, with_labels=True)
    assert len(results) == 4 and results["ok"].sum() == 2
    good = results[results["ok"]].iloc[0]
    image, info = read_photo(photos[0])
    expected = analyze_image(image, info)
    assert good["wound_area_cm2"] == pytest.approx(expected.totals.wound_area_cm2)
    assert good["eschar_area_px"] == expected.totals.eschar_area_px
    assert good["file_sha256"] == hashlib.sha256(photos[0].read_bytes()).hexdigest()
    assert np.array_equal(decode_labels_png(good["labels_png"]), expected.labels)
    record = json.loads(good["record_json"])
    assert record["provenance"]["model_version"] == good["model_version"]
    assert good["calibration_quality"] == record["calibration"]["quality"]
    assert good["calibration_marker_id"] == 7 and good["calibration_marker_mm"] == 20.0
    assert not list(out.glob(".*partial"))  # every part file is whole

    # the third photo is added; the missing one appears: only those two are measured
    shutil.copyfile(photos[2], tmp_path / "missing.jpg")
    manifest.write_text(
        manifest.read_text(encoding="utf-8") + f"P-1,{photos[2].name},,\n", encoding="utf-8"
    )
    second = run_batch(manifest, out, workers=0, progress=False)
    assert (second.measured, second.failed, second.skipped) == (2, 1, 2)
    results = read_results(out)
    assert len(results) == 5  # the newest row of a photo measured again replaces its failure
    assert results.loc[results["file"] == "missing.jpg", "ok"].tolist() == [True]


def test_a_file_in_place_of_the_results_folder_is_refused(tmp_path, photos):
    manifest = _manifest(tmp_path, [f"P-1,{photos[0].name},,"])
    (tmp_path / "taken.parquet").write_bytes(b"not ours")
    with pytest.raises(BatchError, match="taken.parquet is a file"):
        run_batch(manifest, tmp_path / "taken.parquet", workers=0, progress=False)


def test_the_cli_reports_failures_and_exits_1(tmp_path, photos, capsys):
    manifest = _manifest(tmp_path, [f"P-1,{photos[0].name},,", "P-1,gone.jpg,,"])
    status = main(["batch", str(manifest), "--out", str(tmp_path / "r"), "--workers", "0"])
    captured = capsys.readouterr()
    assert status == 1
    assert "1 measured, 1 failed, 0 already done" in captured.out
    assert "gone.jpg: no such file" in captured.err
    assert main(["batch", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "r")]) == 2


# -- filing the results -------------------------------------------------------------------------


def test_import_from_results_files_the_measured_figures(tmp_path, photos, capsys):
    lines = [f"P-7,{p.name},L1,2026-03-0{n + 2}" for n, p in enumerate(photos[:2])]
    manifest = _manifest(tmp_path, [*lines, "P-7,gone.jpg,,"])
    out = tmp_path / "results.parquet"
    run_batch(manifest, out, workers=0, progress=False)
    measured = read_results(out).set_index("file")
    url = f"sqlite:///{tmp_path / 'w.db'}"
    status = main(["--db", url, "import", "--from", str(out)])
    captured = capsys.readouterr()
    assert status == 1  # one row had failed in the batch
    assert "2 imported, 0 already stored, 1 not imported" in captured.err
    assert "gone.jpg: not measured in the batch" in captured.err
    store = Store(url)
    rows = store.series("P-7")
    assert [r.taken_on.isoformat() for r in rows] == ["2026-03-02", "2026-03-03"]
    assert [r.lesion for r in rows] == ["L1", "L1"]
    for row, name in zip(rows, [p.name for p in photos[:2]], strict=True):
        assert row.wound_area_cm2 == pytest.approx(measured.loc[name, "wound_area_cm2"])
    store.close()
    # filed twice: already stored; a photo changed since the batch is not filed
    photos[1].write_bytes(photos[2].read_bytes())
    assert main(["--db", url, "import", "--from", str(out)]) == 1
    captured = capsys.readouterr()
    assert "1 imported" not in captured.err and "1 already stored" in captured.err
    assert f"{photos[0].name}: already stored for this patient (visit 1)" in captured.out
    assert "no wound found" not in captured.out  # was said of every photo already stored
    assert f"{photos[1].name}: the file changed since the batch measured it" in captured.err


def test_the_manifest_body_site_keeps_two_wounds_apart_when_filed(tmp_path, photos):
    """Two wounds of one patient photographed apart on the same days (the demo's weeks 0-1 and,
    as the other wound, weeks 2-3's photos under other names and dates): with a body_site
    column each is matched only against its own site's lesion; the site reaches the record."""
    for n, other in enumerate((photos[2], WEEKS[3])):
        shutil.copyfile(other, tmp_path / f"shin{n}.jpg")
    lines = []
    for n in range(2):
        day = f"2026-03-0{2 + 7 * n}" if n == 0 else "2026-03-09"
        lines += [f"P-8,{photos[n].name},,{day},left calf", f"P-8,shin{n}.jpg,,{day}, Right  shin"]
    manifest_header = "patient,photo,lesion,taken_at,body_site"
    manifest = _manifest(tmp_path, lines, header=manifest_header)
    assert [j.body_site for j in read_manifest(manifest)] == ["left calf", "Right shin"] * 2
    (tmp_path / "bad").mkdir()
    row = f"P-8,../{photos[0].name},,,{'x' * 81}"
    [job] = read_manifest(_manifest(tmp_path / "bad", [row], header=manifest_header))
    assert job.problem.startswith("manifest.csv line 2: body site ")
    out = tmp_path / "results.parquet"
    run_batch(manifest, out, workers=0, progress=False)
    assert list(read_results(out)["body_site"]) == ["left calf", "Right shin"] * 2
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert main(["--db", url, "import", "--from", str(out)]) == 0
    store = Store(url)
    rows = store.series("P-8")
    assert sorted((r.file_name, r.lesion, r.body_site) for r in rows) == [
        (photos[0].name, "L1", "left calf"),
        (photos[1].name, "L1", "left calf"),
        ("shin0.jpg", "L2", "Right shin"),
        ("shin1.jpg", "L2", "Right shin"),
    ]
    store.close()


def test_results_written_before_the_body_site_column_still_read_and_file(tmp_path, photos):
    import pyarrow.parquet as pq

    manifest = _manifest(tmp_path, [f"P-9,{photos[0].name},,2026-03-02"])
    out = tmp_path / "results.parquet"
    run_batch(manifest, out, workers=0, progress=False)
    for part in out.glob("part-*.parquet"):  # as an earlier version wrote it
        pq.write_table(pq.read_table(part).drop_columns(["body_site"]), part)
    assert list(read_results(out)["body_site"]) == [""]
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert main(["--db", url, "import", "--from", str(out)]) == 0
    store = Store(url)
    assert [r.lesion for r in store.series("P-9")] == ["L1"]
    store.close()


# -- on Dask ------------------------------------------------------------------------------------


def _kill_a_busy_worker(client, killed: list) -> None:
    """Once a worker is measuring a photo, kill its process (SIGKILL, as an out-of-memory kill)."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                pids = client.run(os.getpid, workers=[busy[0]])
                pid = pids[busy[0]]
                killed.append((pid, len(client.processing()[busy[0]])))
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()


@pytest.mark.slow
def test_a_killed_worker_loses_nothing_on_a_local_cluster(tmp_path):
    lines = [f"P-{n % 3 + 1},{p},," for n, p in enumerate(WEEKS[:8])]
    manifest = _manifest(tmp_path, lines)
    killed: list = []
    summary = run_batch(
        manifest,
        tmp_path / "r.parquet",
        workers=2,
        progress=False,
        on_started=lambda client: _kill_a_busy_worker(client, killed),
    )
    assert killed and killed[0][1] >= 1, "no worker was killed while it held a photo"
    assert (summary.measured, summary.failed) == (8, 0), summary.errors
    results = read_results(tmp_path / "r.parquet")
    assert sorted(results["file"]) == sorted(p.name for p in WEEKS[:8])
    assert results["ok"].all()


@pytest.mark.slow
def test_a_separately_started_scheduler_and_two_workers(tmp_path):
    """The cluster a site starts itself: `dask scheduler` and two `dask worker` processes."""
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    port_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [
            *dask,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--scheduler-file",
            str(port_file),
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = []
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(port_file.read_text())["address"]
        for _ in range(2):
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        manifest = _manifest(tmp_path, [f"P-1,{p},," for p in WEEKS[:2]])
        summary = run_batch(manifest, tmp_path / "r.parquet", scheduler=address, progress=False)
        assert (summary.measured, summary.failed) == (2, 0), summary.errors
        assert read_results(tmp_path / "r.parquet")["ok"].all()
    finally:
        for process in [*workers, scheduler]:
            process.kill()  # a test's cluster: no graceful shutdown to wait for
        for process in [*workers, scheduler]:
            process.wait(timeout=30)


def test_an_unreachable_scheduler_is_named(tmp_path, photos):
    manifest = _manifest(tmp_path, [f"P-1,{photos[0].name},,"])
    with pytest.raises(BatchError, match="cannot reach the Dask scheduler tcp://127.0.0.1:9"):
        run_batch(
            manifest,
            tmp_path / "r",
            scheduler="tcp://127.0.0.1:9",
            progress=False,
            connect_timeout_s=2,
        )


class _FakeClient:
    """What ``_check_workers`` asks a ``distributed.Client``: workers' answers to ``run``."""

    def __init__(self, answer=None, error=None, joins=True):
        self.answer, self.error, self.joins = answer, error, joins

    def wait_for_workers(self, n, timeout=None):
        if not self.joins:
            raise TimeoutError

    def run(self, function):
        if self.error is not None:
            raise self.error
        return self.answer


@pytest.mark.parametrize(
    ("client", "message"),
    [
        (
            _FakeClient(answer={"tcp://10.0.0.7:4000": "0.0.9"}),
            r"worker tcp://10.0.0.7:4000 runs woundtrack 0.0.9, this is .*same version",
        ),
        (
            _FakeClient(error=ModuleNotFoundError("No module named 'woundtrack'")),
            r"cannot import woundtrack .*install woundtrack",
        ),
        (_FakeClient(joins=False), r"no Dask worker joined .*dask worker tcp://h:8786"),
    ],
)
def test_workers_without_this_woundtrack_are_refused_before_any_photo(client, message):
    from woundtrack.record.batch import _check_workers

    with pytest.raises(BatchError, match=message):
        _check_workers(client, "tcp://h:8786")


def test_workers_with_this_woundtrack_are_accepted():
    from woundtrack import __version__
    from woundtrack.record.batch import _check_workers

    _check_workers(_FakeClient(answer={"tcp://a:1": __version__, "tcp://b:2": __version__}), None)
