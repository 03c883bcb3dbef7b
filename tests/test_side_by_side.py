"""Photos measured side by side (``woundtrack.image.side_by_side``): the same figures as one after
another, in the order given, each photo's error its own, and the networks on one thread each."""

from __future__ import annotations

import io
import json
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from woundtrack.cli import main
from woundtrack.errors import WoundtrackError
from woundtrack.image import learned
from woundtrack.image.calibration import calibrate
from woundtrack.image.io import read_photo
from woundtrack.image.segmentation import ClassicalSegmenter
from woundtrack.image.side_by_side import MAX_WORKERS, in_order, one_thread, worker_count
from woundtrack.record import ingest
from woundtrack.record.store import Store

WEEKS = sorted((Path(__file__).resolve().parent.parent / "sample_images").glob("demo_week*.jpg"))


def test_results_come_back_in_the_order_given_whatever_finishes_first() -> None:
    threads = set()

    def slow_first(n: int) -> int:
        threads.add(threading.current_thread().name)
        time.sleep(0.02 * (6 - n))  # the first item takes longest
        return n * n

    results = list(in_order(slow_first, range(6), workers=3))
    assert results == [(n, n * n) for n in range(6)]
    assert len(threads) > 1  # measured at once, not one after another


def test_a_photo_s_own_error_is_its_result_and_the_rest_go_on() -> None:
    def fn(n: int) -> int:
        if n == 2:
            raise WoundtrackError("photo 2: cannot be read; take it again")
        return n

    for workers in (0, 2):
        results = dict(in_order(fn, range(5), workers=workers))
        assert isinstance(results.pop(2), WoundtrackError)
        assert results == {0: 0, 1: 1, 3: 3, 4: 4}


def test_a_bug_is_raised_not_reported_as_a_photo_s_error() -> None:
    def fn(n: int) -> int:
        if n == 1:
            raise KeyError("a bug")
        return n

    for workers in (0, 2):
        with pytest.raises(KeyError):
            list(in_order(fn, range(4), workers=workers))


def test_few_photos_are_read_ahead_and_none_after_the_caller_stops() -> None:
    pulled, measured = [], []

    def items():
        for n in range(40):
            pulled.append(n)
            yield n

    def fn(n: int) -> int:
        measured.append(n)
        return n

    results = in_order(fn, items(), workers=2)
    assert next(results) == (0, 0)
    assert len(pulled) <= 4  # 2 * workers: memory stays bounded however many photos
    results.close()
    assert len(measured) <= 4 and len(pulled) <= 4


def test_worker_count(monkeypatch) -> None:
    monkeypatch.setenv("WOUNDTRACK_THREADS", "4")  # the cores this process may use
    assert worker_count(10) == 4
    assert worker_count(3) == 3  # never more than the photos
    assert worker_count(1) == 0  # one photo: every core on it
    assert worker_count(10, 0) == 0 and worker_count(10, 1) == 0  # asked: one after another
    assert worker_count(10, 3) == 3
    monkeypatch.setenv("WOUNDTRACK_THREADS", "1")
    assert worker_count(10) == 0
    monkeypatch.setenv("WOUNDTRACK_THREADS", "64")
    assert worker_count(100) == MAX_WORKERS


def test_one_thread_finds_exactly_what_every_core_finds(monkeypatch) -> None:
    image, _ = read_photo(WEEKS[3])
    calibration, _ = calibrate(image)
    sessions = []
    load = learned.load_model

    def spy(path, threads=None):  # replacing it also bypasses conftest's memory of labels
        sessions.append(threads)
        return load(path, threads)

    monkeypatch.setattr(learned, "load_model", spy)
    every_core = learned.LearnedSegmenter()
    beside = one_thread(every_core)
    assert beside.threads == 1 and every_core.threads is None
    assert beside.params == every_core.params and beside.version == every_core.version
    sessions.clear()
    a = every_core(image, calibration)
    assert set(sessions) == {None}
    sessions.clear()
    b = beside(image, calibration)
    assert set(sessions) == {1}
    assert np.array_equal(a, b)
    classical = ClassicalSegmenter()
    assert one_thread(classical) is classical


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_measure_side_by_side_prints_what_one_after_another_prints(tmp_path) -> None:
    bad = tmp_path / "cut_short.jpg"
    bad.write_bytes(WEEKS[0].read_bytes()[:3000])
    photos = [str(WEEKS[5]), str(bad), str(WEEKS[8])]
    runs = {}
    for workers in ("0", "2"):
        status, out, err = _cli("measure", *photos, "--json", "--workers", workers)
        assert status == 1 and "Traceback" not in err
        records = [json.loads(line) for line in out.splitlines()]
        for r in records:
            (r.get("provenance") or {}).pop("analysed_at", None)
        runs[workers] = records
    assert [r["file"] for r in runs["2"]] == [Path(p).name for p in photos]
    assert runs["2"] == runs["0"]
    assert [r["ok"] for r in runs["2"]] == [True, False, True]
    assert runs["2"][2]["wound_area_cm2"] > 0


def test_import_side_by_side_files_the_same_figures_and_skips_a_stored_photo(
    tmp_path, monkeypatch
) -> None:
    measured = []
    prepare_photo = ingest.prepare_photo

    def counted(data, *, name, **kwargs):
        measured.append(name)
        return prepare_photo(data, name=name, **kwargs)

    monkeypatch.setattr(ingest, "prepare_photo", counted)
    photos = [str(p) for p in WEEKS[4:6]]
    figures = {}
    for workers in ("0", "2"):
        url = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        assert _cli("--db", url, "import", photos[0], "--patient", "SBS-001")[0] == 0
        measured.clear()
        status, out, err = _cli(
            "--db", url, "import", *photos, "--patient", "SBS-001", "--workers", workers
        )
        assert status == 0, err
        assert "already stored" in out.splitlines()[0]  # in the order given
        # side by side, the two new photos are measured ahead (the stored one is not);
        # one after another, import_photo measures them itself
        assert measured == ([] if workers == "0" else [Path(p).name for p in photos[1:]])
        store = Store(url)
        rows = store.series("SBS-001")
        figures[workers] = [(r.file_name, r.wound_area_cm2, r.eschar_area_cm2) for r in rows]
        store.close()
    assert len(figures["2"]) == 2 and figures["2"] == figures["0"]
