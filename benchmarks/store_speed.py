"""The record's speed: importing 100 photos, and how query time grows with 10,000 stored visits.

1. Imports 100 distinct photos (the demo series, each copy made distinct by trailing bytes after
   the JPEG end marker, which decoders ignore) for 10 patients into a fresh SQLite file, timing
   each import (strip location, analyse, one write transaction).
2. Fills the database with synthetic visits (rows only, no image work) up to 1,000 / 3,000 /
   10,000 visits over 200 patients of 50 visits each, and times, at each size, the queries the
   app and ``healing`` make for one patient: the series and the healing summary.

Run: python benchmarks/store_speed.py [--db URL]   (default: a temporary SQLite file)
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from woundtrack.analysis.report import healing_summary
from woundtrack.record import db
from woundtrack.record.ingest import import_photo
from woundtrack.record.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


def import_100(store: Store) -> list[float]:
    weeks = sorted(SAMPLES.glob("demo_week*.jpg"))
    times = []
    for n in range(100):
        path = weeks[n % len(weeks)]
        data = path.read_bytes() + f"copy {n}".encode()
        start = time.perf_counter()
        import_photo(store, data, name=f"{n:03d}_{path.name}", patient=f"BENCH-{n // 10:02d}")
        times.append(time.perf_counter() - start)
    return times


def fill_visits(store: Store, total_visits: int) -> None:
    """Add synthetic patients of 50 weekly visits (one lesion each) until ``total_visits``."""
    with store.engine.begin() as c:
        have = c.scalar(sa.select(sa.func.count()).select_from(db.Visit.__table__))
        template = c.execute(sa.select(db.Analysis.__table__).limit(1)).mappings().one()
        n_patients = c.scalar(
            sa.select(sa.func.count()).where(db.Patient.__table__.c.code.like("SYN-%"))
        )
        while have < total_visits:
            n_patients += 1
            pid = c.execute(
                sa.insert(db.Patient.__table__).values(
                    code=f"SYN-{n_patients:05d}", created_at=db.utcnow()
                )
            ).inserted_primary_key[0]
            lid = c.execute(
                sa.insert(db.Lesion.__table__).values(
                    patient_id=pid, label="L1", body_site="", created_at=db.utcnow()
                )
            ).inserted_primary_key[0]
            for week in range(50):
                day = date(2025, 1, 6) + timedelta(weeks=week)
                sha = hashlib.sha256(f"{pid}-{week}".encode()).hexdigest()
                c.execute(
                    sa.insert(db.Photo.__table__).values(
                        sha256=sha,
                        original_sha256=sha,
                        data=b"synthetic",
                        format="JPEG",
                        width_px=1,
                        height_px=1,
                        size_bytes=9,
                        created_at=db.utcnow(),
                    )
                )
                vid = c.execute(
                    sa.insert(db.Visit.__table__).values(
                        patient_id=pid,
                        photo_sha256=sha,
                        file_name=f"w{week}.jpg",
                        taken_at=day.isoformat(),
                        taken_on=day,
                        taken_at_source="exif",
                        imported_at=db.utcnow(),
                    )
                ).inserted_primary_key[0]
                values = {k: template[k] for k in template.keys() if k not in ("id", "visit_id")}
                aid = c.execute(
                    sa.insert(db.Analysis.__table__).values(visit_id=vid, **values)
                ).inserted_primary_key[0]
                area = 20.0 * 0.95**week
                c.execute(
                    sa.insert(db.LesionMeasurementRow.__table__).values(
                        analysis_id=aid,
                        lesion_id=lid,
                        lesion_index=1,
                        wound_area_cm2=area,
                        granulation_area_cm2=area / 2,
                        slough_area_cm2=area / 4,
                        eschar_area_cm2=area / 4,
                        erythema_area_cm2=area,
                        wound_area_px=1000,
                        perimeter_cm=4 * area**0.5,
                        length_cm=area**0.5,
                        width_cm=area**0.5,
                        granulation_pct=50,
                        slough_pct=25,
                        eschar_pct=25,
                        centre_x_px=100,
                        centre_y_px=100,
                    )
                )
            have += 50


def time_queries(store: Store, patient: str, repeat: int = 5) -> tuple[float, float]:
    series_s, healing_s = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        rows = store.series(patient)
        events = store.treatments(patient)
        series_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        healing_summary(rows, events)
        healing_s.append(time.perf_counter() - start)
    return min(series_s), min(healing_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.db or f"sqlite:///{Path(tmp) / 'bench.db'}")
        start = time.perf_counter()
        times = import_100(store)
        total = time.perf_counter() - start
        print(
            f"import 100 photos (1600x1200 JPEG): {total:.1f} s in all, "
            f"median {statistics.median(times):.2f} s, max {max(times):.2f} s per photo"
        )
        print(
            f"{'visits stored':>14s} {'series+timeline s':>18s} {'healing summary s':>18s}"
            "  (patient of 50 visits)"
        )
        for size in (1_000, 3_000, 10_000):
            fill_visits(store, size)
            series_s, healing_s = time_queries(store, "SYN-00001")
            print(f"{size:14,d} {series_s:18.4f} {healing_s:18.4f}")
        store.close()


if __name__ == "__main__":
    main()
