"""App page (admins): the clinic's model. Fine-tune the wound-bed network on the accepted
corrections, see it beside the model in use on photos it was not tuned on, then use it (or go
back to the shipped one). Stored measurements never change by themselves; new photos use the
active model, and a patient's visits can be measured again with it (the Healing page,
``woundtrack measure-again``).

UI only: the fine-tune is ``woundtrack.learn.finetune``, the registry ``record.clinic_models``.
The fine-tune runs in a background thread of this app process (one at a time), so the page can
show its progress and the admin may leave the page meanwhile.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.shared import after_write, escape_markdown, get_store, require
from woundtrack.errors import WoundtrackError
from woundtrack.record import clinic_models
from woundtrack.record.store import SHIPPED_MODEL
from woundtrack.record.training_set import outlined_photos, outlined_visits, wound_mask

require("manage_models")
store = get_store()


@dataclass
class Job:
    """One fine-tune in the background: its progress, then its result or its error."""

    fraction: float = 0.0
    message: str = "starting"
    started: float = field(default_factory=time.monotonic)
    model_bytes: bytes | None = None
    card: dict | None = None
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


@st.cache_resource
def _jobs() -> dict[str, Job]:
    """The fine-tune of this app process (key ``"current"``), shared by every session."""
    return {}


def _run(job: Job, pairs, base_path: Path, replay_dir: str, minutes: float) -> None:
    try:
        from woundtrack.learn import finetune as ft
        from woundtrack.learn.pairs import load_pairs

        replay = []
        if replay_dir:
            replay, _ = load_pairs(Path(replay_dir) / "images", Path(replay_dir) / "masks")

        def progress(fraction: float, message: str) -> None:
            job.fraction, job.message = fraction, message

        result = ft.finetune(
            pairs,
            base_path=base_path,
            replay=replay,
            params=ft.FinetuneParams(minutes=minutes),
            progress=progress,
            source="accepted corrections of this database",
        )
        job.model_bytes, job.card = result.model.SerializeToString(), result.card
    except WoundtrackError as exc:
        job.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - shown on the page, not lost in a thread
        job.error = f"the fine-tune stopped: {type(exc).__name__}: {exc}"


def _torch_missing() -> str | None:
    if importlib.util.find_spec("torch") is None:
        return (
            "Fine-tuning needs the train extra on this computer: `pip install 'woundtrack[train]'`."
        )
    return None


def _dice(scores: dict | None) -> str:
    return "–" if not scores else f"{scores['data_based_dice']:.3f} ({scores['n_images']})"


def _comparison(name: str) -> None:
    table = clinic_models.compare_models(store, name, against=SHIPPED_MODEL)
    st.session_state.models_compared = {"name": name, "text": table.text(), "json": table.to_json()}


st.title("Clinic model")
active = store.active_model()
models = store.models()
shipped = clinic_models.segmenter_for(store, SHIPPED_MODEL)
st.write(
    f"New photos are measured with **{escape_markdown(active)}**"
    + (f" (shipped network, version {shipped.version})." if active == SHIPPED_MODEL else ".")
    + " Stored measurements keep the model they were measured with (see each visit's provenance);"
    " the Healing page says when a patient's series mixes models, and can measure it again with"
    " the model in use."
)
rows = [{"model": SHIPPED_MODEL, "version": shipped.version, "in use": active == SHIPPED_MODEL}] + [
    {
        "model": m.name,
        "version": m.version,
        "in use": m.active,
        "added": m.added_at.strftime("%Y-%m-%d %H:%M"),
        "by": m.added_by,
        "held-back Dice, base → this": (
            f"{_dice((m.card or {}).get('held_back_before'))} → "
            f"{_dice((m.card or {}).get('held_back_after'))}"
            if m.card
            else "–"
        ),
    }
    for m in models
]
st.dataframe(pd.DataFrame(rows), hide_index=True)

# ---- fine-tune
st.subheader("Fine-tune on your accepted corrections")
pairs_count = sum(1 for _ in outlined_visits(store, accepted_only=True))  # no decoding
jobs = _jobs()
job = jobs.get("current")
missing = _torch_missing()
st.caption(
    f"{pairs_count} accepted correction(s) in this database. A quarter are held back to check the "
    "result; at least 4 are needed, 20–50 are better. It starts from the model in use and runs "
    "on this computer's processor."
)
if missing:
    st.info(missing)
if job is None or not job.running:
    c1, c2 = st.columns(2)
    minutes = c1.number_input("Time for the whole run (minutes)", 0.5, 60.0, 18.0, 0.5)
    replay_dir = c2.text_input(
        "Public photos to replay (folder with images/ and masks/)",
        value=os.environ.get("WOUNDTRACK_REPLAY_DIR", ""),
        help="e.g. FUSeg's training set: keeps what the network learned there",
    )
    if st.button("Start fine-tune", type="primary", disabled=pairs_count < 4 or bool(missing)):
        from woundtrack.learn.pairs import make_pair

        pairs = [
            make_pair(e.id, image, wound_mask(labels))
            for e, image, labels in outlined_photos(store, accepted_only=True)
        ]
        base_path = clinic_models.model_path(store, active)
        job = Job()
        job.thread = threading.Thread(
            target=_run, args=(job, pairs, base_path, replay_dir.strip(), minutes), daemon=True
        )
        jobs["current"] = job
        store.record_event("finetune", detail={"photos": len(pairs), "base": active})
        job.thread.start()
        st.rerun()


@st.fragment(run_every=2)
def _progress() -> None:
    job = _jobs().get("current")
    if job is None:
        return
    if job.running:
        elapsed = (time.monotonic() - job.started) / 60
        st.progress(min(1.0, job.fraction), text=f"{job.message} ({elapsed:.1f} min)")
    elif st.session_state.get("models_job_seen") is not job:
        st.session_state.models_job_seen = job
        st.rerun()


_progress()

if job is not None and not job.running:
    if job.error:
        st.error(escape_markdown(job.error))
    elif job.card is not None:
        card = job.card
        st.success(
            f"Fine-tune {card['model_version']} finished: {card['steps']} steps in "
            f"{card['train_minutes']} min."
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "photos": "your photos, held back",
                        "model in use": _dice(card["held_back_before"]),
                        "fine-tuned": _dice(card["held_back_after"]),
                    },
                    {
                        "photos": "public photos, held back",
                        "model in use": _dice(card.get("public_held_back_before")),
                        "fine-tuned": _dice(card.get("public_held_back_after")),
                    },
                ]
            ),
            hide_index=True,
        )
        name = st.text_input(
            "Keep it as", value=f"clinic-{date.today():%Y-%m-%d}", key="models_keep_name"
        )
        if st.button("Keep this model"):
            try:
                entry = clinic_models.add_model(
                    store, job.model_bytes, name=name.strip(), file_name=f"{name}.onnx"
                )
            except WoundtrackError as exc:
                st.error(escape_markdown(exc))
            else:
                del jobs["current"]
                _comparison(entry.name)
                st.rerun()

# ---- compare and use
st.subheader("Compare, then use")
names = [m.name for m in models]
if names:
    c1, c2 = st.columns([3, 1])
    chosen = c1.selectbox("Model", names, index=len(names) - 1)
    c2.write("")
    if c2.button("Compare with the shipped model"):
        with st.spinner("Scoring both models on the accepted corrections it was not tuned on…"):
            _comparison(chosen)
    compared = st.session_state.get("models_compared")
    if compared and compared["name"] == chosen:
        st.code(compared["text"], language=None)
        if chosen != active and st.button(f"Use {chosen} for new photos", type="primary"):
            store.use_model(chosen)
            after_write()
            st.rerun()
    elif chosen != active:
        st.caption("Compare the model before you use it.")
else:
    st.caption("No clinic model yet: fine-tune one above, or add a file below.")
if active != SHIPPED_MODEL and st.button("Go back to the shipped model"):
    store.use_model(SHIPPED_MODEL)
    after_write()
    st.rerun()

with st.expander("Add a model file (.onnx from `woundtrack finetune`)"):
    upload = st.file_uploader("Model file", type=["onnx"], key="models_upload")
    file_name = st.text_input("Name", key="models_upload_name")
    if st.button("Add", disabled=upload is None or not file_name.strip()):
        try:
            clinic_models.add_model(
                store, upload.getvalue(), name=file_name.strip(), file_name=upload.name
            )
        except WoundtrackError as exc:
            st.error(escape_markdown(exc))
        else:
            st.rerun()
