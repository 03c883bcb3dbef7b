"""The demo patient: the synthetic weekly series in ``sample_images/`` and its treatment timeline.

Seeds the separate demo database (``demo_db_url``), which the app opens when no database is
configured, so that a newcomer sees healing curves at once; a clinic's database never gets it.

The series' analyses ship beside the photos (``sample_images/demo_results/``: each photo's JSON
record and label map, written by ``write_demo_results``), so that the first start files them
instead of running the network twelve times. They are used only when they were made by this
woundtrack version with the same network and parameters (``pipeline.made_by``); otherwise, and
for a photo without one, the photo is measured as any other.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from woundtrack.analysis.timeline_csv import read_timeline_csv
from woundtrack.image.io import decode_labels_png, encode_labels_png
from woundtrack.image.pipeline import analyze, made_by
from woundtrack.image.segmentation import Segmenter
from woundtrack.record.clinic_models import active_segmenter
from woundtrack.record.db import demo_db_url
from woundtrack.record.ingest import import_photo
from woundtrack.record.store import Store

DEMO_PATIENT = "DEMO-001"
DEMO_SITE = "left calf"
RESULTS_FOLDER = "demo_results"

__all__ = [
    "DEMO_PATIENT",
    "DEMO_SITE",
    "demo_db_url",
    "demo_photos",
    "seed_demo",
    "stored_result",
    "write_demo_results",
]

log = logging.getLogger(__name__)


def demo_photos(samples: Path) -> list[Path]:
    """The demo series' photos, oldest first."""
    return sorted(samples.glob("demo_week*.jpg"))


def seed_demo(store: Store, samples: Path) -> int:
    """Import the demo series and timeline when the database has no patient yet.

    Returns the number of photos imported (0 when the database was not empty or the samples are
    missing).
    """
    photos = demo_photos(samples)
    if store.patients() or not photos:
        return 0
    segmenter = active_segmenter(store)
    for path in photos:
        data, stored = path.read_bytes(), stored_result(path, segmenter)
        photo = {"name": path.name, "patient": DEMO_PATIENT, "body_site": DEMO_SITE}
        try:
            import_photo(store, data, segmenter=segmenter, stored=stored, **photo)
        except ValueError as error:  # raised before anything is stored
            if stored is None:
                raise
            # the app's first start must not fail on a shipped result that does not hold
            log.warning("%s: its stored analysis was not used (%s); measuring it", path.name, error)
            import_photo(store, data, segmenter=segmenter, **photo)
    timeline = samples / "demo_timeline.csv"
    if timeline.exists():
        store.add_treatments(DEMO_PATIENT, read_timeline_csv(timeline))
    return len(photos)


def _result_paths(photo: Path) -> tuple[Path, Path]:
    folder = photo.parent / RESULTS_FOLDER
    return folder / f"{photo.stem}.json", folder / f"{photo.stem}.labels.png"


def stored_result(photo: Path, segmenter: Segmenter) -> tuple[dict[str, Any], np.ndarray] | None:
    """The shipped ``(record, labels)`` of a demo photo, or None when there is none or it was
    made by another woundtrack version, network or parameters (the photo is then measured)."""
    record_path, labels_path = _result_paths(photo)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        labels = decode_labels_png(labels_path.read_bytes())
    except (OSError, ValueError) as exc:
        log.info("%s: no stored result (%s); measuring it", photo.name, exc)
        return None
    if not made_by(record, segmenter):
        log.info("%s: its stored result was made by another version; measuring it", photo.name)
        return None
    return record, labels


def write_demo_results(samples: Path, segmenter: Segmenter) -> list[Path]:
    """Measure every demo photo and write its record and label map to ``samples/demo_results``
    (run ``python scripts/demo_results.py`` after changing the segmenter); returns the files."""
    written = []
    for photo in demo_photos(samples):
        analysis = analyze(photo, segmenter=segmenter)
        record_path, labels_path = _result_paths(photo)
        record_path.parent.mkdir(exist_ok=True)
        record_path.write_text(json.dumps(analysis.to_record(), indent=1) + "\n", encoding="utf-8")
        labels_path.write_bytes(encode_labels_png(analysis.labels))
        written += [record_path, labels_path]
    return written
