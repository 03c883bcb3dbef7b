"""The database schema (SQLAlchemy 2 ORM) and how to open a database with migrations applied.

Owns the tables and the engine set-up; ``store.py`` owns what is done with them. The schema is
created and changed only by the Alembic migrations in ``woundtrack/migrations`` (applied
automatically, under a lock, when a database is opened), never by ``create_all``, so a clinic's
database moves forward the same way on every workstation.

Tables: ``patients`` (pseudonymous code only), ``lesions`` (per patient, a label such as "L1" and a
body site), ``photos`` (content-addressed by the sha256 of the stored bytes, location data removed),
``visits`` (a photo of a patient, with its capture time), ``analyses`` (automatic or corrected,
with full provenance and the label map), ``lesion_measurements`` (figures per lesion per analysis)
and ``treatment_events``.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Environment variable holding the database URL (a SQLAlchemy URL).
DB_ENV = "WOUNDTRACK_DB"
_MIGRATIONS = Path(__file__).with_name("migrations")


def as_url(location: str) -> str:
    """A database URL as given, or a plain file path as the URL of an SQLite file there."""
    if "://" in location:
        return location
    return f"sqlite:///{Path(location).expanduser().resolve()}"


def default_db_url() -> str:
    """``$WOUNDTRACK_DB`` (a URL or an SQLite file path), else an SQLite file in the user's data
    folder."""
    url = os.environ.get(DB_ENV, "").strip()
    if url:
        return as_url(url)
    folder = Path(platformdirs.user_data_dir("woundtrack", appauthor=False))
    return f"sqlite:///{folder / 'woundtrack.record.db'}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Lesion(Base):
    __tablename__ = "lesions"
    __table_args__ = (sa.UniqueConstraint("patient_id", "label"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(64))
    body_site: Mapped[str] = mapped_column(sa.String(120), default="")
    first_seen_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Photo(Base):
    __tablename__ = "photos"
    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    original_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    format: Mapped[str] = mapped_column(sa.String(16))
    width_px: Mapped[int]
    height_px: Mapped[int]
    size_bytes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Visit(Base):
    __tablename__ = "visits"
    __table_args__ = (sa.UniqueConstraint("patient_id", "photo_sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    photo_sha256: Mapped[str] = mapped_column(sa.ForeignKey("photos.sha256"))
    file_name: Mapped[str] = mapped_column(sa.String(255))
    taken_at: Mapped[str | None] = mapped_column(
        sa.String(40), nullable=True
    )  # ISO 8601, as the camera said
    taken_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True, index=True)
    taken_at_source: Mapped[str] = mapped_column(sa.String(16))  # exif | entered | unknown
    imported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Analysis(Base):
    __tablename__ = "analyses"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(sa.ForeignKey("visits.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # automatic | corrected
    corrected_by: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    segmenter: Mapped[str] = mapped_column(sa.String(64))
    model_version: Mapped[str] = mapped_column(sa.String(64))
    woundtrack_version: Mapped[str] = mapped_column(sa.String(32))
    calibration_method: Mapped[str] = mapped_column(sa.String(16))
    calibration_quality: Mapped[str] = mapped_column(sa.String(64))
    marker_mm: Mapped[float | None] = mapped_column(nullable=True)
    record: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    labels_png: Mapped[bytes] = mapped_column(sa.LargeBinary)


class LesionMeasurementRow(Base):
    __tablename__ = "lesion_measurements"
    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(sa.ForeignKey("analyses.id"), index=True)
    lesion_id: Mapped[int] = mapped_column(sa.ForeignKey("lesions.id"), index=True)
    lesion_index: Mapped[int]
    wound_area_cm2: Mapped[float | None] = mapped_column(nullable=True)
    granulation_area_cm2: Mapped[float | None] = mapped_column(nullable=True)
    slough_area_cm2: Mapped[float | None] = mapped_column(nullable=True)
    eschar_area_cm2: Mapped[float | None] = mapped_column(nullable=True)
    erythema_area_cm2: Mapped[float | None] = mapped_column(nullable=True)
    wound_area_px: Mapped[int]
    perimeter_cm: Mapped[float | None] = mapped_column(nullable=True)
    length_cm: Mapped[float | None] = mapped_column(nullable=True)
    width_cm: Mapped[float | None] = mapped_column(nullable=True)
    granulation_pct: Mapped[float]
    slough_pct: Mapped[float]
    eschar_pct: Mapped[float]
    centre_x_px: Mapped[float]
    centre_y_px: Mapped[float]
    centre_x_mm: Mapped[float | None] = mapped_column(nullable=True)
    centre_y_mm: Mapped[float | None] = mapped_column(nullable=True)


class TreatmentEventRow(Base):
    __tablename__ = "treatment_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(60))
    start_on: Mapped[date] = mapped_column(sa.Date)
    end_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    dose: Mapped[str] = mapped_column(sa.Text, default="")
    frequency: Mapped[str] = mapped_column(sa.Text, default="")
    sessions: Mapped[int | None] = mapped_column(nullable=True)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and write-locking
    transactions (``BEGIN IMMEDIATE``), so two processes importing at once wait, not fail."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # pragma: no cover - driver hook
            dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below decide
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection) -> None:  # pragma: no cover - driver hook
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration, safely when several processes start at once."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # One migrator at a time across workstations (released at commit).
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(74218301)")
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
