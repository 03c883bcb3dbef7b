"""App page: upload dressing-change photos into a patient's record.

Several photos at once; capture dates read from the photos and editable (a photo without a date
must be given one); a progress bar; a clear message per photo that could not be used, while the
others go through. The photos are measured as soon as they are chosen, side by side (one per
core), while the dates are checked, and each photo says as soon as it is measured whether its
sticker and a wound were found (so a photo without a sticker can be retaken while the patient is
there). A photo the patient's record already holds is said at once, with its visit, and is
not measured; a photo still without a date is said before Import. Import then files them.
UI only: the work is ``woundtrack.record.ingest.prepare_photo``, ``stored_visit`` and
``import_photo``.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime

import pandas as pd
import streamlit as st

from app_pages.shared import (
    active_model,
    after_write,
    base_store,
    escape_markdown,
    get_store,
    name_tags,
    patients,
    require,
    series,
    warning_text,
)
from woundtrack.errors import WoundtrackError
from woundtrack.image.io import capture_date_problem, is_dicom, read_photo
from woundtrack.image.measure import erythema_reach_text
from woundtrack.image.pipeline import outline_unsure
from woundtrack.image.side_by_side import MAX_WORKERS, one_thread, worker_count
from woundtrack.present.printable import overlay_thumbnail_jpeg
from woundtrack.record.clinic_models import active_segmenter
from woundtrack.record.ingest import import_photo, prepare_photo, stored_labels, stored_visit
from woundtrack.record.store import (
    MAX_BODY_SITE_CHARS,
    check_body_site,
    check_lesion_label,
    check_patient_code,
)

require("upload")

NEW_PATIENT = "+ new patient…"


@st.cache_data(show_spinner=False, max_entries=64)
def _capture_date(data: bytes, name: str) -> tuple[date | None, str | None]:
    """The photo's EXIF capture date, or the reason it cannot be read."""
    try:
        _, info = read_photo(data, name=name)
    except WoundtrackError as exc:
        return None, str(exc)
    return (info.taken_at.date() if info.taken_at else None), None


@st.cache_resource
def _measuring() -> ThreadPoolExecutor:
    """Threads that measure chosen photos while the page waits for Import: one per core, each
    photo's networks on one thread when several are chosen (``image.side_by_side``)."""
    return ThreadPoolExecutor(
        max_workers=max(1, worker_count(MAX_WORKERS)), thread_name_prefix="woundtrack-measure-ahead"
    )


def _measured_ahead(data: bytes, *, name: str, marker_mm: float, segmenter):
    """``prepare_photo``'s measured photo and the overlay thumbnail shown once it is filed (None
    if it cannot be drawn): made here, side by side, not after Import."""
    prepared, image = prepare_photo(data, name=name, marker_mm=marker_mm, segmenter=segmenter)
    try:
        thumbnail = overlay_thumbnail_jpeg(image, prepared.analysis.labels)
    except ValueError:
        thumbnail = None
    return prepared, thumbnail


def _measure_ahead(uploads, marker_mm: float) -> dict[str, Future]:
    """Start measuring each chosen photo now, while the nurse checks the dates: Import then
    only files it (``import_photo(prepared=...)``). The jobs are kept by the file, the sticker
    size and the model, so a change of either measures again; DICOM files are measured at
    Import. Returns the chosen photos' jobs by their file id."""
    jobs: dict[tuple, Future] = st.session_state.setdefault("upload_ahead", {})
    model = active_model()
    keys = {(u.file_id, float(marker_mm), model): u for u in uploads}
    for gone in set(jobs) - set(keys):  # a photo taken off the list; a new sticker size or model
        jobs.pop(gone).cancel()
    segmenter = None
    for key, upload in keys.items():
        if key in jobs or is_dicom(upload.getvalue()):
            continue
        if segmenter is None:
            segmenter = active_segmenter(base_store())
            if len(keys) > 1:  # several photos at once, one per core
                segmenter = one_thread(segmenter)
        jobs[key] = _measuring().submit(
            _measured_ahead,
            upload.getvalue(),
            name=upload.name,
            marker_mm=float(marker_mm),
            segmenter=segmenter,
        )
    return {upload.file_id: jobs[key] for key, upload in keys.items() if key in jobs}


def _measured(ahead: dict[str, Future], upload):
    """The photo's ``(prepared, thumbnail)`` measured ahead (waiting for it if need be),
    or None when there is none; a photo that could not be measured raises its
    ``WoundtrackError``."""
    job = ahead.get(upload.file_id)
    return None if job is None else job.result()


def _as_measured(name: str, job: Future) -> tuple[str, str]:
    """(Streamlit message kind, text) of a photo measured ahead, for the nurse before Import:
    a photo without a sticker or without a wound is said while it can still be retaken."""
    if not job.done():
        return "caption", f"{name}: measuring…"
    try:
        prepared, _ = job.result()
    except WoundtrackError as exc:
        return "error", str(exc)
    analysis = prepared.analysis
    n = len(analysis.lesions)
    if not analysis.calibration.calibrated:
        return "warning", (
            f"{name}: NO calibration sticker found: it would be stored in pixels only, with no "
            "cm². If the patient is still here, retake it with the sticker flat on the skin "
            "beside the wound."
        )
    if n == 0:
        return "warning", (
            f"{name}: no wound found. Check the photo; after import, an outline can be drawn on "
            "the Review page."
        )
    found = (
        f"{name}: sticker found; {n} lesion{'s' if n > 1 else ''}, "
        f"{analysis.totals.wound_area_cm2:.2f} cm² of wound bed (measured, not yet stored)."
    )
    unsure = [m.index for m in analysis.lesions if outline_unsure(m.outline_doubt)]
    if unsure:
        numbers = " and ".join(str(i) for i in unsure)
        which = "this outline" if n == 1 else f"the outline of lesion {numbers} (largest first)"
        return "warning", (
            f"{found} The network is unsure of {which}: if the patient is still here, "
            "retaking it (in focus, in even light, the whole wound in view) may help; otherwise "
            "check it on the Review page after import."
        )
    return "caption", found


def _show_as_measured(names_and_jobs: list[tuple[str, Future]]) -> None:
    """Each chosen photo's measurement as it finishes: while any is measuring, this part of the
    page (a fragment) is drawn again every second until the page's next run. Never the whole
    page: that would wipe the results of an Import pressed meanwhile."""

    def body() -> None:
        for name, job in names_and_jobs:
            kind, text = _as_measured(name, job)
            getattr(st, kind)(escape_markdown(text))

    pending = not all(job.done() for _, job in names_and_jobs)
    st.fragment(body, run_every=1.0 if pending else None)()


@st.cache_data(show_spinner=False, max_entries=256)
def _stored_visit(file_id: str, patient: str, name: str, _data: bytes) -> int | None:
    """``stored_visit`` of the uploaded photo ``file_id`` (``_data``, not hashed: the id names
    it), remembered until the next write (``after_write``): stripping and hashing a 12 MP photo
    takes about 20 ms, and the page runs again at every edit. None also for a photo that cannot
    be read (said with its fix when it is read for its date)."""
    try:
        return stored_visit(base_store(), _data, name=name, patient=patient)
    except WoundtrackError:
        return None


def _stored_visits(patient: str, uploads) -> dict[str, str]:
    """The chosen photos already in ``patient``'s record (``stored_visit``), by file id: the
    visit that holds each, in words. They are not measured ahead: Import would not store them."""
    found = {}
    for upload in uploads:
        visit = _stored_visit(upload.file_id, patient, upload.name, upload.getvalue())
        if visit is not None:
            found[upload.file_id] = visit
    if not found:
        return {}
    taken = {row.visit_id: row.taken_at for row in series(patient)}
    return {
        file_id: f"the visit of {str(taken[visit])[:10]}" if taken.get(visit) else "a visit"
        for file_id, visit in found.items()
    }


def _go_to_review(patient: str, visit_id: int) -> None:
    st.session_state.chosen_patient = patient
    st.session_state.review_visit = visit_id
    st.session_state.review_visit_kept = visit_id
    st.session_state.upload_go_review = True


def _lesion_line(row) -> str:
    """One lesion's figures as the nurse checks them before the patient leaves."""
    shares = (
        f"eschar {row.eschar_pct:.0f} %, slough {row.slough_pct:.0f} %, "
        f"granulation {row.granulation_pct:.0f} %"
    )
    if row.wound_area_cm2 is None:
        return (
            f"**{escape_markdown(row.lesion)}**: no sticker found, no cm² (pixels only); {shares}"
            + _unsure(row)
        )
    erythema = (
        ""
        if row.erythema_area_cm2 is None
        else f"; erythema {row.erythema_area_cm2:.2f} cm²"
        + erythema_reach_text(row.erythema_area_cm2, row.erythema_reach_cm)
    )
    return (
        f"**{escape_markdown(row.lesion)}**: {row.wound_area_cm2:.2f} cm² ({shares}){erythema}"
        + _unsure(row)
    )


def _unsure(row) -> str:
    """What a nurse should know of a lesion's outline the network was unsure of."""
    if not outline_unsure(row.outline_doubt):
        return ""
    return " — the network is unsure of this outline: check it (Correct this outline)"


def _show_imported(
    store, result, data: bytes | None, rows: list, patient: str, thumbnail: bytes | None
) -> None:
    """The photo's overlay and areas right after import, with a way to correct it.
    ``thumbnail``: the overlay drawn when the photo was measured ahead (the labels filed)."""
    thumb_col, text_col = st.columns([1, 2])
    with text_col:
        st.markdown(f"**{escape_markdown(result.file)}** · visit {result.visit_id}")
        for row in rows:
            st.markdown(_lesion_line(row))
        if not rows:
            st.markdown("No wound found in this photo.")
        st.button(
            "Correct this outline",
            key=f"upload_review_{result.visit_id}",
            icon=":material/edit:",
            on_click=_go_to_review,
            args=(patient, result.visit_id),
        )
    # the overlay drawn ahead, unless the photo has several lesions: then each is named on it,
    # as the lines beside it name them (the names are given at import)
    if thumbnail is not None and len(rows) < 2:
        thumb_col.image(thumbnail, width="stretch")
        return
    if data is None:
        return
    try:
        image, _ = read_photo(data, name=result.file)
        current = store.current_analysis(result.visit_id)
        labels = stored_labels(store, current.analysis_id)
        tags = name_tags(current.record, rows) if labels.shape == image.shape[:2] else []
        thumb_col.image(overlay_thumbnail_jpeg(image, labels, tags=tags), width="stretch")
    except (WoundtrackError, ValueError) as exc:
        thumb_col.caption(f"No overlay: {escape_markdown(exc)}")


if st.session_state.pop("upload_go_review", False):
    st.switch_page("app_pages/review.py")

st.title("Upload photos")
st.caption(
    "Photos are stored once, with location tags removed; the same photo uploaded twice is "
    "recognised. Each photo is measured on upload."
)

codes = patients()
left, right = st.columns(2)
with left:
    choice = st.selectbox("Patient", [*codes, NEW_PATIENT], key="upload_patient")
    if choice == NEW_PATIENT:
        patient = st.text_input(
            "New patient code (pseudonymous, e.g. CUA-007)", key="new_patient"
        ).strip()
    else:
        patient = choice
with right:
    lesion_choice = st.text_input(
        "Lesion label (optional)",
        placeholder="leave empty to match lesions automatically",
        help="Names the largest lesion of each photo, e.g. L1. Leave empty when a photo shows "
        "several lesions: they are matched to the patient's known lesions.",
    ).strip()
    body_site = st.text_input(
        "Body site",
        placeholder="e.g. left calf",
        help="Where the photos' wound is. They are matched only against this patient's lesions "
        "at this site (or filed without one), and a new lesion is filed here. Give it when the "
        "patient has wounds at several sites, photographed one per photo.",
    ).strip()
    if patient in codes:  # the sites given before, spelt as they were (one site, one spelling)
        known: dict[str, set[str]] = {}
        for row in series(patient):
            if row.body_site:
                known.setdefault(row.body_site, set()).add(row.lesion)
        if known:
            st.caption(
                f"{escape_markdown(patient)}'s lesions: "
                + "; ".join(
                    f"{', '.join(escape_markdown(x) for x in sorted(labels))} at "
                    f"{escape_markdown(site)}"
                    for site, labels in sorted(known.items())
                )
            )
marker_mm = st.number_input("Sticker black square (mm)", 1.0, 200.0, 20.0, 0.5)

uploads = st.file_uploader(
    "Dressing-change photos (JPEG, PNG, WebP, TIFF, HEIC)",
    type=["jpg", "jpeg", "png", "webp", "tif", "tiff", "heic", "heif"],
    accept_multiple_files=True,
)
if not uploads:
    st.info("Choose one or more photos taken with the calibration sticker beside the wound.")
    st.stop()

rows, unreadable = [], {}
for n, upload in enumerate(uploads):
    taken_on, problem = _capture_date(upload.getvalue(), upload.name)
    if problem:
        unreadable[upload.name] = problem
        continue
    rows.append(
        {
            "#": n,
            "photo": upload.name,
            "taken on": taken_on,
            "from photo": taken_on is not None,
            "body site": "",
        }
    )
for problem in unreadable.values():
    st.error(escape_markdown(problem))
if not rows:
    st.stop()
stored = _stored_visits(patient, [uploads[r["#"]] for r in rows]) if patient in codes else {}
ahead = _measure_ahead(
    [u for u in (uploads[r["#"]] for r in rows) if u.file_id not in stored], marker_mm
)

st.write(
    "Capture dates (edit if wrong; a photo without a date needs one) and, for photos of a "
    "patient's other wounds, their body sites:"
)
edited = st.data_editor(
    pd.DataFrame(rows),
    column_config={
        "#": None,
        "photo": st.column_config.TextColumn(disabled=True),
        "taken on": st.column_config.DateColumn(format="YYYY-MM-DD"),
        "from photo": st.column_config.CheckboxColumn("date from photo", disabled=True),
        "body site": st.column_config.TextColumn(
            help="This photo's body site; empty: the Body site above. Photos of one patient's "
            "wounds at several sites are told apart by it.",
            max_chars=MAX_BODY_SITE_CHARS,
        ),
    },
    hide_index=True,
    key="upload_dates",
)

measuring_status = st.container()  # above the button; filled unless Import was pressed
if not st.button("Import", type="primary"):
    with measuring_status:
        for upload in (uploads[r["#"]] for r in rows):
            if upload.file_id in stored:
                st.info(
                    f"{escape_markdown(upload.name)}: already in {escape_markdown(patient)}'s "
                    f"record ({stored[upload.file_id]}); Import will not store it again."
                )
        for row in edited.to_dict("records"):
            undated = row["taken on"] is None or pd.isna(row["taken on"])
            if undated and uploads[int(row["#"])].file_id not in stored:
                st.warning(
                    f"{escape_markdown(row['photo'])}: no capture date; enter the date it was "
                    "taken in the table above before Import."
                )
        _show_as_measured(
            [
                (upload.name, ahead[upload.file_id])
                for upload in (uploads[r["#"]] for r in rows)
                if upload.file_id in ahead
            ]
        )
else:  # Import: each photo's result is said below, once
    try:
        patient = check_patient_code(patient)
        lesion = check_lesion_label(lesion_choice) if lesion_choice else None
    except WoundtrackError as exc:
        st.error(escape_markdown(exc))
        st.stop()
    store = get_store()
    progress = st.progress(0.0, text="Importing…")
    results, failures, thumbnails = [], [], {}
    for k, row in enumerate(edited.to_dict("records")):
        upload = uploads[int(row["#"])]
        chosen = row["taken on"]
        if chosen is None or pd.isna(chosen):
            failures.append(f"{upload.name}: no capture date; enter the date the photo was taken")
            continue
        if isinstance(chosen, datetime):
            chosen = chosen.date()
        elif not isinstance(chosen, date):  # pandas timestamps end in 2262; 9999 must be named
            chosen = date.fromisoformat(str(chosen)[:10])
        problem = capture_date_problem(chosen)
        if problem is not None:
            failures.append(
                f"{upload.name}: the capture date {problem}; enter the date the photo was taken"
            )
            continue
        try:  # the photo's own site, else the one above for all
            site = check_body_site(row["body site"] if isinstance(row["body site"], str) else "")
            site = site or check_body_site(body_site)
        except WoundtrackError as exc:
            failures.append(f"{upload.name}: {exc}")
            continue
        try:
            done = _measured(ahead, upload)
            result = import_photo(
                store,
                upload.getvalue(),
                name=upload.name,
                patient=patient,
                lesion=lesion,
                body_site=site,
                marker_mm=float(marker_mm),
                taken_on=chosen,  # the camera's time kept when it says this day
                prepared=None if done is None else done[0],
            )
            results.append(result)
            if done is not None:
                thumbnails[result.visit_id] = done[1]
        except WoundtrackError as exc:
            failures.append(str(exc))
        progress.progress(
            (k + 1) / len(edited), text=f"{k + 1} of {len(edited)}: {escape_markdown(upload.name)}"
        )
    progress.empty()
    after_write()
    imported = [r for r in results if r.status == "imported"]
    if imported:
        st.success(f"{len(imported)} photo(s) imported for {escape_markdown(patient)}.")
    measured = {}
    if imported:
        for row in store.series(patient):
            measured.setdefault(row.visit_id, []).append(row)
    data_by_name = {u.name: u.getvalue() for u in uploads}
    for r in results:
        name = escape_markdown(r.file)
        if r.status == "duplicate":  # one message: nothing else is true of it here
            st.info(f"{name}: already stored for {escape_markdown(patient)}; not imported again.")
            continue
        _show_imported(
            store,
            r,
            data_by_name.get(r.file),
            measured.get(r.visit_id, []),
            patient,
            thumbnails.get(r.visit_id),
        )
        for warning in r.warnings:
            st.warning(warning_text(r.file, warning))
    for failure in failures:
        st.error(escape_markdown(failure))
    if imported:
        st.session_state.chosen_patient = patient
        st.page_link("app_pages/review.py", label="Review and correct the outlines →")
