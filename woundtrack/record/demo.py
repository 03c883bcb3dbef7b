"""The demo patient: the synthetic weekly series in ``sample_images/`` and its treatment timeline.

Seeds the separate demo database (``demo_db_url``), which the app opens when no database is
configured, so that a newcomer sees healing curves at once; a clinic's database never gets it.
"""

from __future__ import annotations

from pathlib import Path

from woundtrack.analysis.timeline_csv import read_timeline_csv
from woundtrack.record.db import demo_db_url
from woundtrack.record.ingest import import_photo
from woundtrack.record.store import Store

DEMO_PATIENT = "DEMO-001"
DEMO_SITE = "left calf"

__all__ = ["DEMO_PATIENT", "DEMO_SITE", "demo_db_url", "seed_demo"]


def seed_demo(store: Store, samples: Path) -> int:
    """Import the demo series and timeline when the database has no patient yet.

    Returns the number of photos imported (0 when the database was not empty or the samples are
    missing).
    """
    photos = sorted(samples.glob("demo_week*.jpg"))
    if store.patients() or not photos:
        return 0
    for path in photos:
        import_photo(
            store, path.read_bytes(), name=path.name, patient=DEMO_PATIENT, body_site=DEMO_SITE
        )
    timeline = samples / "demo_timeline.csv"
    if timeline.exists():
        store.add_treatments(DEMO_PATIENT, read_timeline_csv(timeline))
    return len(photos)
