"""Ingest: the image work between a photo (or a person's correction) and the record.

An upload is read, stripped of its location data, analysed and registered onto the patient's
photo nearest in time here, before anything is written; the store (``woundtrack.record.store``)
then saves the finished values in one transaction. A person's corrected label map is measured
again here with the visit's own calibration, and saved beside the automatic analysis. Nothing
here talks to the database except through the store's methods.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

import numpy as np

from woundtrack.errors import WoundtrackError
from woundtrack.image.calibration import DEFAULT_MARKER_MM
from woundtrack.image.io import (
    UNKNOWN_CAPTURE_TIME,
    capture_date_problem,
    decode_labels_png,
    encode_labels_png,
    is_dicom,
    read_photo,
)
from woundtrack.image.lesion_matching import positions_of
from woundtrack.image.location import strip_location
from woundtrack.image.measure import measure
from woundtrack.image.pipeline import (
    OUTLINE_DOUBT_WARNING,
    Analysis,
    analyze_image,
    made_by,
    restore_analysis,
    totals_fields,
)
from woundtrack.image.registration import register
from woundtrack.image.segmentation import Segmenter
from woundtrack.models import PhotoInfo, to_jsonable
from woundtrack.record.clinic_models import active_segmenter
from woundtrack.record.store import (
    ImportResult,
    NewVisit,
    Store,
    StoreError,
    check_lesion_label,
    check_patient_code,
)

log = logging.getLogger(__name__)


def import_photo(
    store: Store,
    data: bytes,
    *,
    name: str,
    patient: str,
    lesion: str | None = None,
    body_site: str = "",
    marker_mm: float = DEFAULT_MARKER_MM,
    taken_at: datetime | None = None,
    taken_on: date | None = None,
    segmenter: Segmenter | None = None,
    stored: tuple[dict[str, Any], np.ndarray] | None = None,
    prepared: Prepared | None = None,
) -> ImportResult:
    """Store one photo for a patient, analyse it and file its lesions.

    The photo's location tags are removed before anything is stored; a photo already stored for
    this patient is reported as ``duplicate`` and nothing is written. ``lesion`` names the lesion
    of a single-lesion photo (created if new); otherwise lesions are matched to the patient's known
    ones by their constellation on the skin plane, new ones get the next free label (L1, L2, ...).
    A ``lesion`` given must be a valid label (``store.check_lesion_label``: e.g. ``L1`` or
    ``left heel``). ``body_site`` (e.g. ``left calf``) is where the photo was taken: its lesions
    are matched only against the patient's lesions there (or filed without a site), so that
    wounds photographed one per photo stay apart. ``taken_at`` overrides a missing or wrong EXIF
    date; ``taken_on`` is the day a person entered: the camera's time is kept when the camera
    says the same day, else the photo is filed at midday of that day. Either way the import's
    notes no longer ask for the date.
    ``stored`` is this photo's analysis already made, as ``(record, labels)``, used instead of
    measuring (the demo's shipped results; ``pipeline.made_by`` says whether it may be): its
    hash must be this photo's. ``prepared`` is this photo measured in this process
    (``prepare_photo``, in another thread while the previous photo was filed): filing it then
    only writes (the photo is decoded again only to register it onto the reference photo).

    Raises
    ------
    woundtrack.errors.WoundtrackError
        The photo cannot be read, the patient code is not pseudonymous, the lesion label is not
        valid or ``taken_on`` is not a believable capture date; nothing is stored.

    Examples
    --------
    >>> store = Store("sqlite:///wounds.db")  # doctest: +SKIP
    >>> data = Path("IMG_0412.jpg").read_bytes()  # doctest: +SKIP
    >>> import_photo(store, data, name="IMG_0412.jpg", patient="CUA-007")  # doctest: +SKIP
    """
    code = check_patient_code(patient)
    lesion = None if lesion is None else check_lesion_label(lesion)
    if taken_on is not None and (problem := capture_date_problem(taken_on)) is not None:
        raise WoundtrackError(f"{name}: the capture date {problem}; enter the date it was taken")
    clean = strip_location(data, name=name)
    sha = hashlib.sha256(clean).hexdigest()
    existing = store.visit_of_photo(code, sha)
    if existing is not None:
        return ImportResult(
            file=name,
            status="duplicate",
            visit_id=existing,
            photo_sha256=sha,
            warnings=("already stored for this patient; not imported again",),
        )
    if prepared is not None:
        if prepared.analysis.photo.sha256 != sha:
            raise ValueError(f"the prepared analysis is not of {name} (another photo's hash)")
        image, analysis, labels_png = None, prepared.analysis, prepared.labels_png
        info = analysis.photo
    else:
        image, info = _read_clean(data, clean, name=name)
        if stored is not None:
            analysis = restore_analysis(info, *stored)
        else:
            segmenter = segmenter or active_segmenter(store)
            analysis = analyze_image(image, info, marker_mm=marker_mm, segmenter=segmenter)
        labels_png = encode_labels_png(analysis.labels)

    def pixels() -> np.ndarray:  # only a photo with several lesions is registered
        return image if image is not None else _read_clean(data, clean, name=name)[0]

    if taken_on is not None and taken_at is None:
        if info.taken_at is None or info.taken_at.date() != taken_on:
            taken_at = datetime.combine(taken_on, time(12, 0))  # midday: no time-zone surprises
    when = taken_at or info.taken_at
    source = "entered" if taken_at else ("exif" if info.taken_at else "unknown")
    warnings = analysis.warnings
    if taken_at is not None:  # a person gave the date: the request for it is answered
        warnings = tuple(w for w in warnings if UNKNOWN_CAPTURE_TIME not in w)
    return store.add_visit(
        NewVisit(
            patient=code,
            file_name=name,
            photo=clean,
            photo_sha256=sha,
            original_sha256=hashlib.sha256(data).hexdigest(),
            format=info.format,
            width_px=info.width_px,
            height_px=info.height_px,
            taken_at=when,
            taken_at_source=source,
            record=analysis.to_record(),
            labels_png=labels_png,
            lesions=analysis.lesions,
            positions=tuple(positions_of(analysis.lesions, analysis.calibration)),
            lesion=lesion,
            body_site=body_site,
            registered_to=_registration_to_reference(
                store, code, pixels, analysis, when.date() if when else None, body_site
            ),
            warnings=warnings,
        )
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A photo measured before it is filed (``prepare_photo``): what ``import_photo(prepared=...)``
    files without measuring, decoding or encoding anything again."""

    analysis: Analysis
    labels_png: bytes  # the label map as stored


def prepare_photo(
    data: bytes, *, name: str, marker_mm: float = DEFAULT_MARKER_MM, segmenter: Segmenter
) -> tuple[Prepared, np.ndarray]:
    """Measure a photo as ``import_photo`` would (location tags removed first, a DICOM file's
    capture time from its header), without the database, in any thread: what
    ``import_photo(prepared=...)`` files, and the photo's pixels (for a thumbnail; not kept).

    The app measures the photos a nurse has chosen while she checks their dates, and the command
    line the next photos while it files one; filing then only writes. ``woundtrack batch``
    writes its ``analysis.to_record()`` and label PNG, filed later by ``import --from``
    (``import_photo(stored=...)``).

    Raises
    ------
    woundtrack.errors.WoundtrackError
        The photo cannot be read or measured.
    """
    clean = strip_location(data, name=name)
    image, info = _read_clean(data, clean, name=name)
    analysis = analyze_image(image, info, marker_mm=marker_mm, segmenter=segmenter)
    return Prepared(analysis=analysis, labels_png=encode_labels_png(analysis.labels)), image


def stored_visit(store: Store, data: bytes, *, name: str, patient: str) -> int | None:
    """The visit of ``patient`` that already holds this photo (compared without its location
    tags, as ``import_photo`` stores it), or None: a photo that need not be measured again.

    Raises
    ------
    woundtrack.errors.WoundtrackError
        The photo cannot be read (the message names the file and the fix).
    """
    clean = strip_location(data, name=name)
    return store.visit_of_photo(check_patient_code(patient), hashlib.sha256(clean).hexdigest())


def _read_clean(data: bytes, clean: bytes, *, name: str):
    """The pixels and ``PhotoInfo`` of ``clean`` (``data`` without location tags); for a DICOM
    file the capture time and notes come from its header (the stored PNG has none)."""
    image, info = read_photo(clean, name=name)
    if is_dicom(data):
        from woundtrack.image.dicom_photo import dicom_capture_time  # pydicom only for DICOM

        dicom_taken_at, dicom_notes = dicom_capture_time(data, name=name)
        info = dataclasses.replace(info, taken_at=dicom_taken_at, warnings=dicom_notes)
    return image, info


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MeasuredAgain:
    """What ``measure_again`` did, visit ids per outcome."""

    measured: tuple[int, ...]  # measured again: a new automatic analysis is current
    unchanged: tuple[int, ...]  # already measured by this model and woundtrack version
    corrected: tuple[int, ...]  # a person's correction is current: kept as it is
    failed: tuple[str, ...]  # one message per visit that could not be measured (file and fix)


def measure_again(
    store: Store,
    patient: str,
    *,
    segmenter: Segmenter | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MeasuredAgain:
    """Measure every visit of ``patient`` again with ``segmenter`` (the database's active model
    when None), so that a series measured by several models or versions is measured by one.

    Each visit whose current analysis another model, version or parameter set made gets a new
    automatic analysis of its stored photo (the same sticker size), current from now on, with
    its lesions under the names they had (``Store.add_measured_again``: an edit that can be
    undone). A person's correction is never replaced; a visit already measured by this
    segmenter is left as it is. One visit's failure is its message; the others go on.
    ``progress(done, total)`` is called after each visit.
    """
    store.require("correct")  # before any photo is measured: a refusal is not one visit's
    segmenter = segmenter or active_segmenter(store)
    visits = store.visits(patient)
    measured, unchanged, corrected, failed = [], [], [], []
    for n, visit in enumerate(visits):
        visit_id = visit["visit_id"]
        info = store.current_analysis(visit_id)
        if info.kind == "corrected":
            corrected.append(visit_id)
        elif made_by(info.record, segmenter):
            unchanged.append(visit_id)
        else:
            try:
                data = store.photo_bytes(visit["photo_sha256"])
                image, photo = read_photo(data, name=visit["file_name"])
                photo = _as_first_read(photo, info.record)
                marker_mm = (info.record.get("calibration") or {}).get("marker_mm")
                analysis = analyze_image(
                    image, photo, marker_mm=marker_mm or DEFAULT_MARKER_MM, segmenter=segmenter
                )
                store.add_measured_again(
                    info,
                    record=analysis.to_record(),
                    labels_png=encode_labels_png(analysis.labels),
                    lesions=analysis.lesions,
                    positions=tuple(positions_of(analysis.lesions, analysis.calibration)),
                )
                measured.append(visit_id)
            except WoundtrackError as exc:
                failed.append(f"{visit['file_name']} (visit {visit_id}): {exc}")
        if progress is not None:
            progress(n + 1, len(visits))
    return MeasuredAgain(
        measured=tuple(measured),
        unchanged=tuple(unchanged),
        corrected=tuple(corrected),
        failed=tuple(failed),
    )


def _as_first_read(photo: PhotoInfo, record: dict[str, Any]) -> PhotoInfo:
    """``photo`` with the capture time and reading notes of its first record, when the stored
    file has no capture time but the first reading found one (a DICOM file's dates are not in
    the PNG stored for it): measured again, a photo keeps the time it was filed under."""
    if photo.taken_at is not None or not record.get("taken_at"):
        return photo
    prefix = f"{photo.file}: "  # the reader's notes name the file; the measurement's do not
    notes = tuple(w for w in record.get("warnings", ()) if w.startswith(prefix))
    return dataclasses.replace(
        photo, taken_at=datetime.fromisoformat(record["taken_at"]), warnings=notes
    )


def correct(store: Store, visit_id: int, labels: np.ndarray, *, by: str) -> int:
    """Store a person's corrected label map for a visit as a new analysis; returns its id.

    The figures are measured again with the visit's own calibration; the automatic analysis is
    kept. Lesions keep the names they had in the visit's current analysis where their centres
    match; a lesion drawn anew gets the patient's next free label.

    Raises
    ------
    StoreError
        ``by`` is empty, or the visit is not in the database.
    """
    if not by.strip():
        raise StoreError("a correction needs the name or initials of the person who made it")
    current = store.current_analysis(visit_id)
    calibration = current.calibration
    lesions, totals = measure(labels, calibration)
    record = dict(current.record)
    record.update(totals_fields(totals))
    record["lesions"] = [to_jsonable(m) for m in lesions]
    record["provenance"] = {**record.get("provenance", {}), "corrected": True, "corrected_by": by}
    # a person drew this outline: the network's doubt about its own no longer applies
    record["outline_doubt"] = None
    record["warnings"] = [
        w for w in record.get("warnings", ()) if not w.startswith(OUTLINE_DOUBT_WARNING)
    ]
    return store.add_correction(
        current,
        record=record,
        labels_png=encode_labels_png(labels),
        lesions=lesions,
        positions=positions_of(lesions, calibration),
        by=by,
    )


def stored_labels(store: Store, analysis_id: int) -> np.ndarray:
    """An analysis's label map, (H, W) uint8, as it was stored."""
    return decode_labels_png(store.labels_png(analysis_id))


def _registration_to_reference(
    store: Store,
    code: str,
    pixels: Callable[[], np.ndarray],
    analysis: Analysis,
    taken_on: date | None,
    body_site: str = "",
) -> tuple[int, tuple[tuple[float, float, float], ...]] | None:
    """Register the new photo (``pixels()``), taken on ``taken_on``, onto the patient's photo with
    lesions that its lesions are matched against (``Store.reference_analysis``: the visit nearest
    in time) by image features on the rectified skin plane; None when either is uncalibrated or
    none is, or the new photo has fewer than two lesions.

    Two lesions fit a rigid motion either way round (a half turn swaps them), so their
    constellation alone cannot tell them apart; the skin around them can.
    """
    if not analysis.calibration.calibrated or len(analysis.lesions) < 2:
        return None
    latest = store.reference_analysis(code, taken_on, body_site)
    if latest is None or not latest.calibration.calibrated:
        return None
    baseline, _ = read_photo(store.photo_bytes(latest.photo_sha256), name="stored")
    try:
        reg = register(
            baseline,
            latest.calibration,
            pixels(),
            analysis.calibration,
            baseline_labels=stored_labels(store, latest.analysis_id),
            follow_labels=analysis.labels,
        )
    except WoundtrackError as exc:
        log.debug("registration onto the reference photo failed: %s", exc)
        return None
    if reg.method != "features":
        return None
    return latest.analysis_id, reg.follow_to_baseline_plane
