"""The record's outlined photos as a training set: photos, wound-bed masks, tissue maps.

Every visit whose current outline a person accepted (a correction) is a labelled photo of the
clinic's own kind. ``outlined_photos`` reads them (optionally also the automatic outlines, marked
as such); ``export_dataset`` writes them as ``images/<id>.png``, ``masks/<id>.png`` (wound bed
255) and ``tissue/<id>.png`` (FUSeg tissue values: 0 not wound, 1 slough, 2 granulation,
4 eschar; 255 not known), with ``manifest.json`` naming each one's provenance. Ids are the
pseudonymous patient code and the visit number (``CUA-007-v12``): nothing else identifies a
patient, and the same visit keeps its id in every export.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from woundtrack import __version__
from woundtrack.errors import WoundtrackError
from woundtrack.image.io import decode_labels_png, read_photo
from woundtrack.models import ESCHAR, GRANULATION, SLOUGH, WOUND_BED_LABELS, to_jsonable
from woundtrack.record.store import Store

#: Tissue values of the written maps, as in ``../shared/data/fuseg-train/tissue`` and
#: ``image.evaluation.TRUTH_CLASSES``.
TISSUE_VALUES = {SLOUGH: 1, GRANULATION: 2, ESCHAR: 4}


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlinedPhoto:
    """Provenance of one photo of the set (its manifest entry)."""

    id: str
    patient: str
    visit_id: int
    photo_sha256: str
    analysis_id: int
    outline: str  # corrected (accepted by a person) | automatic
    accepted_by: str | None
    accepted_at: str | None
    model_version: str


def outlined_visits(
    store: Store, *, patients: Sequence[str] | None = None, accepted_only: bool = True
) -> Iterator[OutlinedPhoto]:
    """Each outlined visit's provenance, read from the record without decoding a photo.

    ``accepted_only`` keeps the visits whose current outline is a person's accepted correction;
    otherwise automatic outlines come too (``outline == "automatic"``: not a person's truth)."""
    for patient in patients or store.patients():
        for visit in store.visits(patient):
            current = store.current_analysis(visit["visit_id"])
            corrected = current.kind == "corrected"
            if accepted_only and not corrected:
                continue
            yield OutlinedPhoto(
                id=f"{patient}-v{visit['visit_id']}",
                patient=patient,
                visit_id=visit["visit_id"],
                photo_sha256=visit["photo_sha256"],
                analysis_id=current.analysis_id,
                outline="corrected" if corrected else "automatic",
                accepted_by=current.corrected_by if corrected else None,
                accepted_at=(
                    current.created_at.isoformat(timespec="seconds")
                    if corrected and current.created_at
                    else None
                ),
                model_version=current.model_version,
            )


def outlined_photos(
    store: Store, *, patients: Sequence[str] | None = None, accepted_only: bool = True
) -> Iterator[tuple[OutlinedPhoto, np.ndarray, np.ndarray]]:
    """``outlined_visits`` with each one's photo (RGB uint8, as displayed) and label map."""
    for entry in outlined_visits(store, patients=patients, accepted_only=accepted_only):
        image, _ = read_photo(store.photo_bytes(entry.photo_sha256), name="stored photo")
        labels = decode_labels_png(store.labels_png(entry.analysis_id))
        if labels.shape != image.shape[:2]:  # never expected: the record keeps them together
            continue
        yield entry, image, labels


def wound_mask(labels: np.ndarray) -> np.ndarray:
    """The wound bed of a label map: (H, W) bool."""
    return np.isin(labels, WOUND_BED_LABELS)


def tissue_map(labels: np.ndarray) -> np.ndarray:
    """A label map in FUSeg tissue values (``TISSUE_VALUES``; 0 elsewhere)."""
    out = np.zeros(labels.shape, np.uint8)
    for label, value in TISSUE_VALUES.items():
        out[labels == label] = value
    return out


def export_dataset(
    store: Store,
    out: Path,
    *,
    patients: Sequence[str] | None = None,
    accepted_only: bool = False,
) -> list[OutlinedPhoto]:
    """Write the record's outlined photos to the new folder ``out`` (see the module); returns
    their entries. The export is audited (``dataset_export``).

    Raises
    ------
    WoundtrackError
        ``out`` exists and is not empty, or no photo has an outline to export (nothing written).
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise WoundtrackError(f"{out} already exists and is not empty; give a new folder")
    store.require("export")
    entries: list[OutlinedPhoto] = []
    for entry, image, labels in outlined_photos(
        store, patients=patients, accepted_only=accepted_only
    ):
        if not entries:
            for sub in ("images", "masks", "tissue"):
                (out / sub).mkdir(parents=True, exist_ok=True)
        _write_png(out / "images" / f"{entry.id}.png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        _write_png(out / "masks" / f"{entry.id}.png", wound_mask(labels).astype(np.uint8) * 255)
        _write_png(out / "tissue" / f"{entry.id}.png", tissue_map(labels))
        entries.append(entry)
    if not entries:
        which = "accepted corrections" if accepted_only else "outlined photos"
        raise WoundtrackError(
            f"no {which} to export"
            + (f" for {', '.join(patients)}" if patients else "")
            + "; correct and accept outlines on the Review page first"
        )
    manifest = {
        "woundtrack_version": __version__,
        "accepted_only": accepted_only,
        "photos": [to_jsonable(asdict(e)) for e in entries],
        "tissue_values": {"not wound": 0, "slough": 1, "granulation": 2, "eschar": 4},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    store.record_event(
        "dataset_export",
        permission="export",
        detail={"folder": out.name, "photos": len(entries), "accepted_only": accepted_only},
    )
    return entries


def _write_png(path: Path, pixels: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - OpenCV fails only without memory
        raise WoundtrackError(f"cannot encode {path.name}")
    path.write_bytes(data.tobytes())
