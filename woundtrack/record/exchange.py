"""The record in and out of the clinic's systems: FHIR bundles and DICOM files of a patient.

The store gives the finished figures, photos and label maps; ``woundtrack.interop`` turns them
into documents. Importing a FHIR bundle stores its treatments and, for each visit whose photo
travels in the bundle (``--with-photos``), imports the photo the usual way (location removed,
measured, lesions filed) and re-applies a person's corrected outline from the bundle's label
map, then compares the figures with the bundle's: measuring is deterministic, so the same
woundtrack and model give the same numbers, and any difference is reported, never hidden.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from woundtrack import __version__
from woundtrack.errors import WoundtrackError
from woundtrack.image.io import decode_labels_png, read_photo
from woundtrack.image.overlay import render_overlay
from woundtrack.interop import fhir
from woundtrack.record.ingest import correct, import_photo
from woundtrack.record.store import ImportResult, Store

_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "HEIF": "image/heic",
    "GIF": "image/gif",
    "BMP": "image/bmp",
}
#: Figures compared after a FHIR import; a relative difference above this is reported.
FIGURE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class FhirImport:
    """What ``import_fhir`` did: treatments added, visits imported (or already there),
    visits skipped with the reason, and figures that came out different from the bundle's."""

    patient: str
    treatments_added: int
    treatments_total: int
    visits: tuple[ImportResult, ...]
    skipped: tuple[str, ...]
    differences: tuple[str, ...]


def _png(image: np.ndarray) -> bytes:
    # zlib level 3: a 2 MP overlay in 0.18 s and 1,354 KB, against 0.46 s and 1,257 KB at
    # Pillow's default 6 (one bundle holds an overlay per visit)
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG", compress_level=3)
    return out.getvalue()


def visit_media(store: Store, patient: str, *, with_photos: bool) -> dict[str, fhir.VisitMedia]:
    """Each visit's photo (bytes only ``with_photos``), overlay PNG and label map, by hash."""
    media = {}
    current = {r.photo_sha256: r for r in store.series(patient)}
    for v in store.visits(patient):
        sha = v["photo_sha256"]
        if sha not in current:
            continue
        data = store.photo_bytes(sha)
        image, info = read_photo(data, name=v["file_name"])
        labels_png = store.labels_png(current[sha].analysis_id)
        overlay = render_overlay(image, decode_labels_png(labels_png))
        media[sha] = fhir.VisitMedia(
            photo_sha256=sha,
            file_name=v["file_name"],
            content_type=_CONTENT_TYPES.get(info.format, "application/octet-stream"),
            size_bytes=len(data),
            width_px=info.width_px,
            height_px=info.height_px,
            photo=data if with_photos else None,
            overlay_png=_png(overlay),
            labels_png=labels_png,
        )
    return media


def fhir_bundle(
    store: Store, patient: str, *, with_photos: bool = False, transaction: bool = False
) -> dict[str, Any]:
    """The patient's FHIR R4 bundle (see ``woundtrack.interop.fhir.build_bundle``)."""
    return fhir.build_bundle(
        patient,
        store.series(patient),
        visit_media(store, patient, with_photos=with_photos),
        store.treatments(patient),
        transaction=transaction,
        woundtrack_version=__version__,
    )


def import_fhir(store: Store, data: bytes, *, name: str, by: str) -> FhirImport:
    """Store what a woundtrack FHIR bundle holds (see the module's docstring).

    ``by`` names who re-applies a corrected outline (the bundle's corrector is kept in the
    figures' comparison, the correction itself is recorded under ``by``).
    """
    contents = fhir.read_bundle(data, name=name)
    patient = contents.patient
    added = store.add_treatments(patient, contents.treatments) if contents.treatments else 0
    by_photo: dict[str, list[dict[str, Any]]] = {}
    for f in contents.figures:
        by_photo.setdefault(f["photo_sha256"], []).append(f)
    results, skipped, differences, without_photo = [], [], [], []
    for sha, figures in by_photo.items():
        media = contents.media.get(sha)
        shown = media.file_name if media and media.file_name else sha[:12]
        if media is None or media.photo is None:
            without_photo.append(shown)
            continue
        try:
            result = _import_visit(store, patient, media, figures, by=by)
        except WoundtrackError as exc:
            skipped.append(f"{name}: {shown}: {exc}")
            continue
        results.append(result)
        differences.extend(_differences(store, patient, result, figures, shown))
    if without_photo:
        listed = ", ".join(without_photo[:3]) + (" ..." if len(without_photo) > 3 else "")
        skipped.insert(
            0,
            f"{name}: {len(without_photo)} visit(s) not imported ({listed}): the bundle has their "
            "figures but not their photos, and woundtrack keeps every figure with its photo; "
            "export with --with-photos to import visits",
        )
    return FhirImport(
        patient=patient,
        treatments_added=added,
        treatments_total=len(contents.treatments),
        visits=tuple(results),
        skipped=tuple(skipped),
        differences=tuple(differences),
    )


def _import_visit(
    store: Store, patient: str, media: fhir.VisitMedia, figures: list[dict[str, Any]], *, by: str
) -> ImportResult:
    largest = max(figures, key=lambda f: f["wound_area_cm2"] or 0.0)
    taken_at = datetime.fromisoformat(largest["taken_at"]) if largest["taken_at"] else None
    result = import_photo(
        store,
        media.photo,
        name=media.file_name or "photo",
        patient=patient,
        lesion=largest["lesion"] if len(figures) == 1 else None,
        body_site=largest["body_site"],
        taken_at=taken_at,
    )
    corrected = any(f["corrected"] for f in figures)
    if result.status == "imported" and corrected and media.labels_png is not None:
        who = next(f["corrected_by"] for f in figures if f["corrected"]) or by
        correct(store, result.visit_id, decode_labels_png(media.labels_png), by=who)
    return result


def _differences(
    store: Store, patient: str, result: ImportResult, figures: list[dict[str, Any]], shown: str
) -> list[str]:
    stored = {r.lesion: r for r in store.series(patient) if r.visit_id == result.visit_id}
    out = []
    for f in figures:
        row = stored.get(f["lesion"])
        if row is None:
            out.append(f"{shown}: lesion {f['lesion']} of the bundle was not found again here")
            continue
        for name, *_ in fhir.FIGURES:
            mine, theirs = getattr(row, name), f[name]
            if theirs is None and f["wound_area_cm2"] is not None:
                continue  # a calibrated visit's figure the bundle does not carry (an older export)
            if (mine is None) != (theirs is None) or (
                mine is not None and abs(mine - theirs) > FIGURE_TOLERANCE * max(1.0, abs(theirs))
            ):
                out.append(
                    f"{shown}: lesion {f['lesion']} {name} is {mine} here, {theirs} in the bundle "
                    f"(measured with {f['model_version']}, here {row.model_version})"
                )
    return out


def write_json(bundle: dict[str, Any], path: Path) -> None:
    """Write a bundle as UTF-8 JSON to a new file (an existing file is never overwritten)."""
    import json

    with open(path, "x", encoding="utf-8") as out:
        json.dump(bundle, out, ensure_ascii=False, indent=1)
        out.write("\n")


def dicom_files(store: Store, patient: str, folder: Path) -> list[Path]:
    """Write each visit's photo as a DICOM VL Photographic Image and its current tissue label
    map as a DICOM Segmentation referencing it, into a new ``folder``; returns the files.

    UIDs come from the patient code and the photo's hash, so exporting twice gives the same
    Study / Series / SOP Instance UIDs (a PACS files the second copy over the first).
    """
    from woundtrack.interop import dicom

    folder.mkdir(parents=True, exist_ok=False)
    sites = {r.visit_id: r.body_site for r in store.series(patient) if r.body_site}
    written = []
    for n, v in enumerate(store.visits(patient), start=1):
        sha = v["photo_sha256"]
        image, info = read_photo(store.photo_bytes(sha), name=v["file_name"])
        analysis = store.current_analysis(v["visit_id"])
        photo = dicom.photo_dataset(
            image,
            patient=patient,
            visit_key=sha,
            taken_at=datetime.fromisoformat(v["taken_at"]) if v["taken_at"] else None,
            calibration=analysis.calibration,
            photo_sha256=sha,
            file_name=v["file_name"],
            body_site=sites.get(v["visit_id"], ""),
            woundtrack_version=__version__,
            source_format=info.format,
        )
        seg = dicom.segmentation_dataset(
            photo,
            decode_labels_png(store.labels_png(analysis.analysis_id)),
            segmenter=analysis.segmenter,
            model_version=analysis.model_version,
            woundtrack_version=__version__,
            visit_key=sha,
            patient=patient,
            corrected=analysis.kind == "corrected",
        )
        day = v["taken_on"].strftime("%Y%m%d") if v["taken_on"] else "undated"
        for kind, ds in (("photo", photo), ("seg", seg)):
            path = folder / f"{n:03d}-{day}-{kind}.dcm"
            dicom.write_dataset(ds, path)
            written.append(path)
    return written


def dicom_zip(store: Store, patient: str) -> bytes:
    """``dicom_files`` as one ZIP archive (for a download)."""
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        files = dicom_files(store, patient, Path(tmp) / patient)
        out = io.BytesIO()
        # deflate level 3: the demo patient's 80.7 MB of DICOM in 1.4 s and 19.8 MB, against
        # 3.4 s and 18.1 MB at zlib's default 6
        with zipfile.ZipFile(
            out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3
        ) as archive:
            for path in files:
                archive.write(path, arcname=f"{patient}/{path.name}")
    return out.getvalue()
