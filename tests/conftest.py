"""Shared fixtures: phantoms are rendered once per spec and shared between tests; the seeded demo
database is made once per run; within a run a photo is segmented and imported once, and
Streamlit's start-up work for ``AppTest`` is done once."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from woundtrack.synthetic.phantom import Phantom, PhantomSpec, render_phantom


@functools.lru_cache(maxsize=64)
def _render_once(spec: PhantomSpec) -> Phantom:
    """Render (once) the phantom of ``spec``, its arrays read-only."""
    result = render_phantom(spec)
    result.image.setflags(write=False)
    result.labels.setflags(write=False)
    return result


@pytest.fixture(scope="session")
def phantom() -> Callable[[PhantomSpec], Phantom]:
    """``phantom(spec)``: the phantom of ``spec``, rendered once per test run and shared between
    tests; its arrays are read-only (copy one to change it)."""
    return _render_once


def _postgres_url() -> str | None:
    base = os.environ.get("WOUNDTRACK_TEST_PG")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the store tests against PostgreSQL: set WOUNDTRACK_TEST_PG")
        pytest.skip("no PostgreSQL server (set WOUNDTRACK_TEST_PG to run these)")
    return base


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A new, empty database: an SQLite file, and a database on the PostgreSQL server of
    ``$WOUNDTRACK_TEST_PG`` (``pg_url``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'woundtrack.record.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url():
    """A new, empty database on the PostgreSQL server of ``$WOUNDTRACK_TEST_PG`` (skipped
    without it, except in CI where it must be set); dropped afterwards."""
    base = _postgres_url()
    name = f"wt_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    # FORCE ends the test's own connections; it may not end an autovacuum worker that has just
    # started on the database (that needs superuser rights): try again once it has gone.
    for attempt in range(20):
        try:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            break
        except sa.exc.ProgrammingError:
            if attempt == 19:
                raise
            time.sleep(0.25)
    admin.dispose()


SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


@pytest.fixture(autouse=True, scope="session")
def _import_measures_each_photo_once():
    """Within one test run, ``ingest`` measures a photo it has already measured (the same file
    bytes, name and capture time, marker size and segmenter) from memory: the store, app and
    exchange tests import the demo photos hundreds of times, and the result is the same every
    time. Measuring itself is tested on its own (``test_pipeline``, ``test_learned``, ...)."""
    from woundtrack.record import ingest

    measure = ingest.analyze_image
    done: dict = {}

    def measure_once(image, info, *, marker_mm, segmenter=None, **kwargs):
        key = (info, marker_mm, repr(segmenter), repr(kwargs))
        if key not in done:
            done[key] = measure(image, info, marker_mm=marker_mm, segmenter=segmenter, **kwargs)
        return done[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ingest, "analyze_image", measure_once)
        yield


@pytest.fixture(autouse=True, scope="session")
def _each_photo_segmented_once():
    """Within one test run, the learned segmenter labels pixels it has already labelled (the same
    image, calibration, networks by file hash, parameters and threads) from memory, as a copy (the
    labels, doubt and logits that ``segment_with_doubt`` gives, and so ``__call__``): many tests
    measure the same phantom or demo photo, and the network gives the same labels every time.
    Nothing is remembered while a test has replaced a function of the modules the segmenter runs
    (``learned``, ``segmentation``, ``calibration``): such a test checks what the change does."""
    from woundtrack.image import calibration, learned, segmentation

    modules = (learned, segmentation, calibration)
    originals = [(m, name, obj) for m in modules for name, obj in vars(m).items() if callable(obj)]
    segment = learned.LearnedSegmenter.segment_with_doubt  # __call__ goes through it
    done: dict = {}

    def file_hash(path: str | None) -> str | None:
        return None if path is None else learned.file_sha256(path, os.stat(path).st_mtime_ns)

    def segment_once(self, image, calibration_):
        if any(getattr(m, name) is not obj for m, name, obj in originals):
            return segment(self, image, calibration_)
        pixels = np.ascontiguousarray(image)
        key = (
            hashlib.sha256(pixels).digest(),
            pixels.shape,
            calibration_,
            self.params,
            self.threads,  # one thread or every core: a test may compare the two
            file_hash(self.model_path),
            file_hash(self.tissue_model_path),
        )
        if key not in done:
            done[key] = segment(self, image, calibration_)
        found = done[key]
        return found._replace(
            labels=found.labels.copy(), logits=None if found.logits is None else found.logits.copy()
        )

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(learned.LearnedSegmenter, "segment_with_doubt", segment_once)
        yield


@pytest.fixture(autouse=True, scope="session")
def _streamlit_start_up_once():
    """Each ``AppTest`` run scans every installed package for Streamlit components (about 1.4 s
    on 2 cores) and compiles app.py and its page anew (with Streamlit's "magic"); the app's tests
    make hundreds of runs. Within one test run the installed packages do not change, and a
    script is compiled again only when its file has changed."""
    try:
        from streamlit import config
        from streamlit.components.v2 import manifest_scanner
        from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    except ImportError:  # another Streamlit: nothing to share
        yield
        return
    scan = functools.cache(manifest_scanner.scan_component_manifests)
    compile_script = ScriptCache.get_bytecode
    compiled: dict = {}

    def bytecode(self, script_path):
        path = os.path.abspath(script_path)
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size, config.get_option("runner.magicEnabled"))
        if key not in compiled:
            compiled[key] = compile_script(self, script_path)
        return compiled[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(manifest_scanner, "scan_component_manifests", lambda: list(scan()))
        mp.setattr(ScriptCache, "get_bytecode", bytecode)
        yield


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (the training code's short runs). Beside onnxruntime in
    the other pytest-xdist worker, both thread pools wait for the same two cores by spinning: a
    short tissue run took 62 s instead of 11 s (17 s on one thread)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _app_answers_on_localhost():
    """What ``.streamlit/config.toml`` says for ``streamlit run``: AppTest does not read it, and
    the app refuses local mode (no sign-in) on any other address."""
    from streamlit import config

    config.set_option("server.address", "localhost")


@pytest.fixture(scope="session")
def seeded_db_file(tmp_path_factory) -> Path:
    """An SQLite database seeded with the demo patient, made once per test run (copy it)."""
    from woundtrack.record.demo import seed_demo
    from woundtrack.record.store import Store

    path = tmp_path_factory.mktemp("seeded") / "demo.db"
    store = Store(f"sqlite:///{path}")
    seed_demo(store, SAMPLES)
    store.close()
    return path


def use_demo_database(mp: pytest.MonkeyPatch, folder: Path) -> str:
    """Point the app at the demo database in ``folder`` (no ``$WOUNDTRACK_DB``: the app opens
    and seeds the demo database of the user data folder, here ``folder``); returns its URL."""
    import streamlit as st

    from woundtrack.record import db

    mp.delenv("WOUNDTRACK_DB", raising=False)
    mp.setenv("XDG_DATA_HOME", str(folder))
    st.cache_resource.clear()
    st.cache_data.clear()
    return db.demo_db_url()


@pytest.fixture
def app_db(seeded_db_file, tmp_path, monkeypatch) -> str:
    """A fresh copy of the seeded demo database as ``WOUNDTRACK_DB``, with Streamlit's caches
    cleared so the app opens this one."""
    import streamlit as st

    path = tmp_path / "app.db"
    shutil.copyfile(seeded_db_file, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("WOUNDTRACK_DB", url)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield url
    st.cache_resource.clear()
    st.cache_data.clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: spread over the cores (pytest-xdist) early, none holds up the end
    of the run on one core while the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


class DoubtingSegmenter:
    """The shipped segmenter's labels, with the outline doubt a test gives (as
    ``LearnedSegmenter.segment_with_doubt`` reports it)."""

    name, version = "doubting", "1"

    def __init__(self, doubt: float | None) -> None:
        from woundtrack.image.pipeline import make_segmenter

        self.doubt, self.real = doubt, make_segmenter()

    def segment_with_doubt(self, image, calibration):
        from woundtrack.image.learned import LearnedLabels

        return LearnedLabels(self.real(image, calibration), self.doubt)


class UnsureOfOneLesion:
    """The shipped segmenter, its wound-bed logits made unsure (within ±1) on the pixels nearest
    to its ``lesion``-th lesion only (as ``LearnedSegmenter.segment_with_doubt`` reports them)."""

    name, version = "unsure-of-one", "1"

    def __init__(self, lesion: int) -> None:
        from woundtrack.image.pipeline import make_segmenter

        self.lesion, self.real = lesion, make_segmenter()

    def segment_with_doubt(self, image, calibration):
        from woundtrack.image.learned import outline_doubt
        from woundtrack.image.measure import measure, nearest_lesion

        found = self.real.segment_with_doubt(image, calibration)
        lesions, _ = measure(found.labels, calibration)
        logits = found.logits.copy()
        mine = nearest_lesion(found.labels, lesions, found.logits_box) == self.lesion
        logits[mine] = np.clip(logits[mine], -1.0, 1.0)
        return found._replace(logits=logits, outline_doubt=outline_doubt(logits))
