"""The database schema (SQLAlchemy 2 ORM) and how to open a database with migrations applied.

Owns the tables and the engine set-up; ``store.py`` owns what is done with them. The schema is
created and changed only by the Alembic migrations in ``woundtrack/migrations`` (applied
automatically, under a lock, when a database is opened), never by ``create_all``, so a clinic's
database moves forward the same way on every workstation. A database that is not woundtrack's
(another program's tables, or an Alembic version that is not one of ours) is never changed:
``migrate`` and ``peek_sqlite`` raise ``NotWoundtrack`` before anything is written, and an empty
one is only given the schema when the caller may create a database.

Tables: ``patients`` (pseudonymous code only), ``lesions`` (per patient, a label such as "L1" and a
body site), ``photos`` (content-addressed by the sha256 of the stored bytes, location data removed),
``visits`` (a photo of a patient, with its capture time), ``analyses`` (automatic or corrected,
with full provenance and the label map), ``lesion_measurements`` (figures per lesion per analysis)
and ``treatment_events``; who may do what: ``users`` (an e-mail and a role; removed users are
kept, marked removed); what was done: ``audit_entries`` (append-only, each row carrying the hash of
the one before) and ``audit_head`` (one row: the newest entry's id and hash, so that removing the
last entries is seen too).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import urllib.parse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

#: Environment variable holding the database URL (a SQLAlchemy URL).
DB_ENV = "WOUNDTRACK_DB"
_MIGRATIONS = Path(__file__).with_name("migrations")


def as_url(location: str) -> str:
    """A database URL as given, or a plain file path as the URL of an SQLite file there."""
    if "://" in location:
        return location
    return f"sqlite:///{Path(location).expanduser().resolve()}"


def user_data_db_url() -> str:
    """The SQLite file in the user's data folder (on Linux ``~/.local/share/woundtrack``): the
    one folder woundtrack owns, so the only one it creates by itself."""
    folder = Path(platformdirs.user_data_dir("woundtrack", appauthor=False))
    return f"sqlite:///{folder / 'woundtrack.record.db'}"


def demo_db_url() -> str:
    """The demo database: an SQLite file of its own in the user data folder, beside (never in)
    the clinic's default database, so that the demo patient never reaches a clinic's record."""
    folder = Path(platformdirs.user_data_dir("woundtrack", appauthor=False))
    return f"sqlite:///{folder / 'woundtrack.demo.db'}"


def default_db_url() -> str:
    """``$WOUNDTRACK_DB`` (a URL or an SQLite file path), else an SQLite file in the user's data
    folder."""
    url = os.environ.get(DB_ENV, "").strip()
    if url:
        return as_url(url)
    return user_data_db_url()


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL; None for another database, an in-memory one or a ``file:`` URI
    (``sqlite:///file:x.db?mode=ro&uri=true``), whose path SQLite itself reads."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = parsed.database
    if not path or path == ":memory:" or path.startswith("file:") or "uri" in parsed.query:
        return None
    return Path(path).expanduser()


class NotWoundtrack(Exception):
    """What an opened database holds instead of woundtrack's schema.

    ``kind`` is ``"empty"`` (no table at all: a new database, which only a caller that may
    create one migrates), ``"tables"`` (another program's tables; ``detail`` names up to five)
    or ``"revision"`` (an Alembic version that is not one of woundtrack's; ``detail`` is it).
    """

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


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
    removed_edit_id: Mapped[int | None] = mapped_column(nullable=True)  # set: left out of reads


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
    removed_edit_id: Mapped[int | None] = mapped_column(nullable=True)  # set: left out of reads


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
    withdrawn_edit_id: Mapped[int | None] = mapped_column(nullable=True)  # a correction undone


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
    erythema_reach_cm: Mapped[float | None] = mapped_column(nullable=True)  # NULL before 0004
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


class Edit(Base):
    """A change a person made to stored figures, with what was there before: undoable.

    ``kind``: correct | withdraw_correction | assign_lesion | remove_visit | remove_lesion |
    set_capture_date | set_body_site | measure_again | replace_treatments | undo. ``before`` /
    ``after`` hold the values the change replaced and wrote (JSON); nothing is ever deleted, so
    undoing writes ``before`` back as a new edit (``undo_of``) and marks this one ``undone_by``.
    """

    __tablename__ = "edits"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    by: Mapped[str] = mapped_column(sa.String(254))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    target: Mapped[str] = mapped_column(sa.String(40))  # what changed, e.g. "visit:12"
    before: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    undo_of: Mapped[int | None] = mapped_column(nullable=True)
    undone_by: Mapped[int | None] = mapped_column(nullable=True)


class Setting(Base):
    """One value of this database (e.g. ``pseudonym_key``, made once at random)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


class ModelRow(Base):
    """A wound-bed network the clinic added (``woundtrack model add``); the active one's name is
    the setting ``active_model`` (absent: the shipped model)."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[str] = mapped_column(sa.String(64))
    base_version: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    size_bytes: Mapped[int]
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)  # read on demand
    card: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    added_by: Mapped[str] = mapped_column(sa.String(254))
    added_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))  # nurse | clinician | researcher | admin
    added_by: Mapped[str] = mapped_column(sa.String(254))
    added_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    removed_by: Mapped[str | None] = mapped_column(sa.String(254), nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """One thing done. Every field is text, so that its hash reads the same on every database."""

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(sa.String(40))  # ISO 8601, UTC, microseconds
    actor: Mapped[str] = mapped_column(sa.String(254), index=True)
    action: Mapped[str] = mapped_column(sa.String(40))
    patient: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, index=True)
    detail: Mapped[str] = mapped_column(sa.Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # always 1
    last_id: Mapped[int]
    last_hash: Mapped[str] = mapped_column(sa.String(64))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and write-locking
    transactions (``BEGIN IMMEDIATE``), so two processes importing at once wait, not fail.

    Creates no folder: the caller checks (``Store`` refuses a folder that does not exist)."""
    if url.startswith("sqlite"):
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


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


@functools.cache
def revisions() -> frozenset[str]:
    """Every Alembic revision of woundtrack's migrations."""
    script = ScriptDirectory.from_config(_alembic_config())
    return frozenset(s.revision for s in script.walk_revisions())


def check_schema(connection: sa.Connection, *, create: bool) -> None:
    """Raise ``NotWoundtrack`` unless ``connection``'s database is woundtrack's, or empty and
    ``create`` is true. Reads only."""
    inspector = sa.inspect(connection)
    names = set(inspector.get_table_names()) | set(inspector.get_view_names())
    if "alembic_version" in names:
        found = list(
            connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        )
        unknown = [r for r in found if r not in revisions()]
        if unknown:
            raise NotWoundtrack("revision", unknown[0])
        if found:
            return
        names.discard("alembic_version")  # empty: judge the database by its other tables
    if names:
        raise NotWoundtrack(
            "tables", ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
        )
    if not create:
        raise NotWoundtrack("empty")


def peek_sqlite(path: Path, *, create: bool) -> None:
    """``check_schema`` on an existing SQLite file opened read-only, so that nothing, not even
    the journal mode, is changed in a file that turns out not to be woundtrack's.

    Raises ``NotWoundtrack``, or ``sqlalchemy.exc.DatabaseError`` for a file that is not SQLite
    or cannot be read.
    """
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    engine = sa.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool
    )
    try:
        with engine.connect() as connection:
            check_schema(connection, create=create)
    finally:
        engine.dispose()


def migrate(engine: Engine, *, create: bool = True) -> None:
    """Bring the schema to the newest migration, safely when several processes start at once.

    Raises ``NotWoundtrack`` (and changes nothing) if the database is not woundtrack's, or is
    empty and ``create`` is false.
    """
    cfg = _alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # One migrator at a time across workstations (released at commit).
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(74218301)")
        check_schema(connection, create=create)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
