"""Shared fixtures: phantoms are rendered once per spec and shared between tests; the seeded demo
database is made once per run."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

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


SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


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
