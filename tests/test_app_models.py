"""Issue 26 in the app: an admin fine-tunes on the accepted corrections (in the background, with
progress), keeps the result, sees it beside the shipped model, and only then uses it; the
sidebar names the model that measures new photos."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.test_clinic_models import tiny_model
from woundtrack.record import clinic_models
from woundtrack.record.ingest import correct, import_photo, stored_labels
from woundtrack.record.store import SHIPPED_MODEL, Store
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def clinic_db(tmp_path, monkeypatch) -> str:
    """Four visits with accepted corrections; the tiny model in use (a fast base to tune)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    store = Store(url)
    for seed in (81, 82, 83, 84):
        path = tmp_path / f"v{seed}.jpg"
        write_phantom(PhantomSpec(seed=seed, width_px=320, height_px=240), path)
        visit = import_photo(store, path.read_bytes(), name=path.name, patient="CUA-9").visit_id
        correct(store, visit, stored_labels(store, visit).copy(), by="dr@clinic.org")
    clinic_models.add_model(store, tiny_model(), name="tiny", file_name="tiny.onnx")
    store.use_model("tiny")
    store.close()
    monkeypatch.setenv("WOUNDTRACK_DB", url)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield url
    st.cache_resource.clear()
    st.cache_data.clear()


def _models_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    return " ".join(
        str(e.value) for e in [*at.markdown, *at.caption, *at.success, *at.info, *at.error]
    )


def test_the_page_names_the_model_in_use_and_offers_nothing_without_corrections(app_db):
    at = _models_page()
    assert "New photos are measured with **shipped**" in _text(at)
    assert "0 accepted correction(s)" in _text(at)
    [start] = [b for b in at.button if b.label == "Start fine-tune"]
    assert start.disabled
    assert any("model **shipped**" in str(c.value) for c in at.sidebar.caption)


def test_an_admin_fine_tunes_compares_and_uses_the_clinic_model(clinic_db):
    pytest.importorskip("torch")
    at = _models_page()
    assert "4 accepted correction(s)" in _text(at)
    at.number_input[0].set_value(0.5)
    [start] = [b for b in at.button if b.label == "Start fine-tune"]
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    deadline = time.monotonic() + 120
    while "finished" not in _text(at) and time.monotonic() < deadline:
        time.sleep(3)
        at.run()
    assert "finished" in _text(at), _text(at)
    table = at.dataframe[-1].value
    assert list(table["photos"]) == ["your photos, held back", "public photos, held back"]
    at.text_input(key="models_keep_name").set_value("clinic-test").run()
    [keep] = [b for b in at.button if b.label == "Keep this model"]
    keep.click().run()
    assert not at.exception, [e.value for e in at.exception]
    [compared] = at.code
    assert "Dice (pixels pooled)" in compared.value and "clinic-test" in compared.value
    [use] = [b for b in at.button if b.label == "Use clinic-test for new photos"]
    use.click().run()
    store = Store(clinic_db)
    assert store.active_model() == "clinic-test"
    entry = next(m for m in store.models() if m.name == "clinic-test")
    assert entry.base_version == "tiny-1" and entry.card["held_back_after"]["n_images"] == 1
    assert {"finetune", "model_add", "model_use"} <= {e.action for e in store.audit_entries()}
    store.close()
    [back] = [b for b in at.button if b.label == "Go back to the shipped model"]
    back.click().run()
    assert Store(clinic_db).active_model() == SHIPPED_MODEL
