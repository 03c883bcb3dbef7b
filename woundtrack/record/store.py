"""The longitudinal record: the only module that reads and writes the database.

Owns what is stored and how: photos once (content-addressed by the sha256 of the stored bytes,
GPS and other location tags removed first), one visit per photo of a patient, every analysis
with its full provenance and label map (a person's correction is a new analysis beside the
automatic one, never an overwrite), lesion identities across visits, and the treatment timeline.
Every write is one transaction. The store saves finished values and reads them back: it never
decodes, analyses or registers a photo (``woundtrack.record.ingest`` does that work first, then
hands the store what to save), so a crash or a refused photo leaves the database as it was.
Nothing here deletes or rewrites a stored photo.

Every write is made as ``Store.actor`` (an e-mail, or ``os:NAME``), checked against that
identity's role (``woundtrack.record.access``) inside the write's transaction, and recorded in
the audit trail (``woundtrack.record.audit``) in that same transaction.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import hmac
import io as _io
import logging
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from woundtrack.analysis.timeline_csv import spreadsheet_safe
from woundtrack.body_sites import code_site, site_key
from woundtrack.errors import WoundtrackError
from woundtrack.image.lesion_matching import LesionPosition, area_ratio_gate, match_lesions
from woundtrack.models import (
    BED_TISSUES,
    KNOWN_KINDS,
    TISSUES,
    AnalysisInfo,
    LesionMeasurement,
    SeriesRow,
    TreatmentEvent,
)
from woundtrack.record import access, audit, db
from woundtrack.record.db import (
    Analysis as AnalysisRow,
)
from woundtrack.record.db import (
    Edit,
    Lesion,
    LesionMeasurementRow,
    ModelRow,
    Patient,
    Photo,
    Setting,
    TreatmentEventRow,
    Visit,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: Longest lesion label (see ``check_lesion_label``).
MAX_LESION_LABEL_CHARS = 40
_LESION_LABEL_CHAR = re.compile(r"[^\W_]|[ ._#-]")  # a letter or digit (any script), or these
#: Key prefix, in lesion matching, of a stored lesion whose label is empty (written before labels
#: were checked): its row id follows. No label can start with it (see _position_key).
_UNNAMED_KEY = "\x00lesion id "
_WRITE_ATTEMPTS = 5
#: Most sessions a treatment may have: what the column holds on every database (an INTEGER is
#: 32 bits in PostgreSQL; SQLite would take 64, Python any size).
MAX_SESSIONS = 2**31 - 1


class StoreError(WoundtrackError):
    """A request the record cannot honour (unknown patient, a bad patient code, ...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportResult:
    """What happened to one photo: ``imported``, or ``duplicate`` (stored for the patient)."""

    file: str
    status: str
    visit_id: int
    photo_sha256: str
    lesion_labels: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


#: The registry's name for the network shipped with woundtrack (never stored, always there).
SHIPPED_MODEL = "shipped"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelEntry:
    """A model of the clinic's registry (its bytes are read with ``Store.model_data``)."""

    name: str
    sha256: str
    version: str
    base_version: str | None
    size_bytes: int
    card: dict[str, Any] | None
    added_by: str
    added_at: datetime
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class NewVisit:
    """A measured photo, ready to be saved: what ``ingest.import_photo`` hands the store.

    ``photo`` is the file's bytes as stored (location data removed), ``photo_sha256`` their
    hash and ``original_sha256`` that of the file as uploaded. ``record`` is the analysis's JSON
    record (``Analysis.to_record``), ``labels_png`` its label map as a PNG, ``lesions`` and
    ``positions`` its lesions and where they lie on the skin plane. ``lesion`` names the largest
    lesion (else lesions are matched to the patient's known ones). ``registered_to`` is
    ``(analysis id, new plane -> that analysis's plane)`` when the photo was registered onto the
    patient's photo with lesions nearest in time (``Store.reference_analysis``).
    """

    patient: str
    file_name: str
    photo: bytes
    photo_sha256: str
    original_sha256: str
    format: str
    width_px: int
    height_px: int
    taken_at: datetime | None
    taken_at_source: str
    record: dict[str, Any]
    labels_png: bytes
    lesions: tuple[LesionMeasurement, ...]
    positions: tuple[LesionPosition, ...]
    lesion: str | None = None
    body_site: str = ""
    registered_to: tuple[int, tuple[tuple[float, float, float], ...]] | None = None
    warnings: tuple[str, ...] = ()


#: The figures of one lesion at one visit, in the order both exports write them.
_FIGURE_COLUMNS = (
    "wound_area_cm2",
    "eschar_area_cm2",
    "slough_area_cm2",
    "granulation_area_cm2",
    "erythema_area_cm2",
    "perimeter_cm",
    "length_cm",
    "width_cm",
    "erythema_reach_cm",
    "eschar_pct",
    "slough_pct",
    "granulation_pct",
)

#: The research export's columns (``Store.pseudonymised_csv``): no code, name, date or photo.
PSEUDONYMISED_COLUMNS = (
    "subject",
    "lesion",
    "body_region",
    "laterality",
    "distribution",
    "day",
    "taken_on_shifted",
    "corrected",
    "outline_doubt",
    *_FIGURE_COLUMNS,
    "calibrated",
    "segmenter",
    "model_version",
)

#: The research export's treatment columns (``Store.pseudonymised_tables``): no free text.
PSEUDONYMISED_TREATMENT_COLUMNS = (
    "subject",
    "kind",
    "start_on_shifted",
    "end_on_shifted",
    "sessions",
    "day",
)

#: Columns of ``export_csv`` (the README documents them). Spelled out, not built from
#: ``TISSUES``: a file format's column order is a contract (eschar, the tissue that matters most
#: here, comes first).
EXPORT_COLUMNS = (
    "patient",
    "lesion",
    "body_site",
    "taken_at",
    *_FIGURE_COLUMNS,
    "calibrated",
    "corrected",
    "corrected_by",
    "outline_doubt",
    "photo_sha256",
    "file_name",
    "visit_id",
    "analysis_id",
    "segmenter",
    "model_version",
    "woundtrack_version",
)


def check_patient_code(code: str) -> str:
    """A pseudonymous patient code: 1-64 letters, digits, dot, dash or underscore.

    Raises
    ------
    StoreError
        If ``code`` has spaces or other characters (a name would): use a study code instead.
    """
    code = code.strip()
    if not _CODE.match(code):
        raise StoreError(
            f"patient code {code!r} is not a pseudonymous code; use 1-64 letters, digits, '.', '-' "
            "or '_' (e.g. CUA-007), never a name or a birth date"
        )
    return code


#: Longest body site kept: a chart title and a table column name it ("left lateral malleolus").
MAX_BODY_SITE_CHARS = 80


def check_body_site(text: str) -> str:
    """A body site as stored: its words joined by single spaces ("" for none).

    Matching compares sites as ``body_sites.site_key`` reads them (``Lt. Calf`` is ``left
    calf``); a lesion's site must be one line of at most ``MAX_BODY_SITE_CHARS`` printable
    characters.

    Raises
    ------
    StoreError
        If the site is longer, or holds a control character; the message names the fix.
    """
    site = " ".join(text.split())
    if len(site) > MAX_BODY_SITE_CHARS or any(unicodedata.category(c)[0] == "C" for c in site):
        raise StoreError(
            f"body site {site[:40]!r}{'…' if len(site) > 40 else ''} is not a body site; write "
            f"where the wound is in at most {MAX_BODY_SITE_CHARS} characters, e.g. left calf"
        )
    return site


def check_lesion_label(label: str) -> str:
    """A lesion label as stored: the label stripped of surrounding spaces, or a ``StoreError``.

    A label is 1-40 characters: letters and digits (any script, e.g. ``Läsion 2``), spaces and
    ``.``, ``-``, ``_``, ``#``, starting with a letter or digit (``L1``, ``left heel 2``,
    ``#3`` is refused: write ``L3``). Why these: a label names one wound in charts, tables, the
    app, the printable report and CSV exports, so it must be short enough for a chart legend and
    a table column, on one line, and free of what other formats read as code: a leading ``=``,
    ``+``, ``-`` or ``@`` is a spreadsheet formula, and brackets, ``*``, ``!``, ``<``, quotes
    and backslashes are Markdown or HTML. The rule is the patient code's (``check_patient_code``)
    plus spaces and ``#``, as clinicians name wounds by site and number.

    Raises
    ------
    StoreError
        If ``label`` is empty after stripping, longer than 40 characters, or has any other
        character; the message names the label and the fix.
    """
    if not isinstance(label, str):
        raise StoreError(f"lesion label must be text, got {type(label).__name__}")
    text = unicodedata.normalize("NFC", label.strip())
    shown = repr(label if len(label) <= 40 else label[:39] + "…")
    fix = (
        "use letters, digits, spaces, '.', '-', '_' or '#', starting with a letter or digit "
        "(e.g. L1 or 'left heel')"
    )
    if not text:
        raise StoreError(
            f"lesion label {shown} is empty; give a label such as L1, or none to match the "
            "lesions automatically"
        )
    if len(text) > MAX_LESION_LABEL_CHARS:
        raise StoreError(
            f"lesion label {shown} is {len(text)} characters, over the limit of "
            f"{MAX_LESION_LABEL_CHARS}; use a short label such as L1 or 'left heel'"
        )
    if "\n" in text or "\r" in text:
        raise StoreError(f"lesion label {shown} has a line break; {fix}")
    bad = list(dict.fromkeys(c for c in text if not _LESION_LABEL_CHAR.fullmatch(c)))
    if bad:
        listed = ", ".join(repr(c) for c in bad[:6])
        raise StoreError(f"lesion label {shown} has {listed}; {fix}")
    if not text[0].isalnum():
        raise StoreError(
            f"lesion label {shown} starts with {text[0]!r}; start it with a letter or digit "
            "(e.g. L1 or 'left heel')"
        )
    return text


class Store:
    """A woundtrack database (SQLite file by default, PostgreSQL given its URL).

    Opening applies pending schema migrations. Use one ``Store`` per process.

    ``create``: whether opening may create a new database (give the schema to a missing file
    or an empty database); readers (``export``, ``healing``, ``timeline export``, ``backup``)
    pass False, so that a mistyped ``--db`` is refused instead of answered from a new, empty
    database. Whatever ``create`` says, a database that is not woundtrack's (another program's
    tables, another Alembic version) is refused and left unchanged, and no folder is created
    but the user data folder of the default database (``db.user_data_db_url``), woundtrack's own.
    Every refusal is a ``StoreError`` of one line: the database (password hidden), what was
    found, and the fix.

    Examples
    --------
    >>> store = Store("sqlite:///wounds.db")  # doctest: +SKIP
    >>> store.patients()  # doctest: +SKIP
    ['CUA-007', 'DEMO-001']

    Photos come in through ``woundtrack.record.ingest.import_photo(store, ...)``, which measures
    them and then calls ``add_visit``.
    """

    def __init__(
        self, url: str | None = None, *, create: bool = True, actor: str | None = None
    ) -> None:
        self.actor = access.check_identity(actor) if actor else access.local_identity()
        self.url = db.as_url(url) if url else db.default_db_url()
        shown = _safe_url(self.url)
        engine = None
        try:
            path = db.sqlite_file(self.url)
            if path is not None:
                _check_sqlite_path(
                    path,
                    shown,
                    create=create,
                    ours=self.url in (db.user_data_db_url(), db.demo_db_url()),
                )
                if path.exists():
                    db.peek_sqlite(path, create=create)  # read-only: a stranger stays untouched
            engine = db.make_engine(self.url)
            db.migrate(engine, create=create)
        except db.NotWoundtrack as exc:
            if engine is not None:
                engine.dispose()
            raise StoreError(_not_woundtrack_message(shown, exc)) from None
        except (sa.exc.DBAPIError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            if engine is not None:
                engine.dispose()
            raise StoreError(_database_problem(shown, exc, writing=False)) from None
        self.engine = engine
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def as_actor(self, identity: str) -> Store:
        """This store (same engine, same connections) acting as another identity: the app keeps
        one store per process and one identity per signed-in person."""
        other = copy.copy(self)
        other.actor = access.check_identity(identity)
        return other

    # ------------------------------------------------------------------ who
    def role(self) -> str:
        """The actor's role; ``access.AccessError`` when the actor is not a user."""
        with self._sessions() as session:
            return access.role_of(session, self.actor)

    def require(self, permission: str) -> None:
        """``access.AccessError`` unless the actor has ``permission`` (checked before long work
        whose result is recorded later)."""
        with self._sessions() as session:
            access.require(session, self.actor, permission)

    def local_mode(self) -> bool:
        """True while the database has no user: everyone has every right (see ``access``)."""
        with self._sessions() as session:
            return access.local_mode(session)

    def users(self) -> list[access.UserInfo]:
        with self._sessions() as session:
            access.require(session, self.actor, "manage_users")
            return access.users(session)

    def add_user(self, identity: str, role: str) -> access.UserInfo:
        """Add a user or change a user's role (admins only; anyone in local mode)."""

        def work(session: Session) -> access.UserInfo:
            access.require(session, self.actor, "manage_users")
            info = access.add_user(session, identity, role, by=self.actor)
            audit.append(
                session,
                actor=self.actor,
                action="user_add",
                detail={"user": info.email, "role": info.role},
            )
            return info

        return self._write(work)

    def remove_user(self, identity: str) -> None:
        def work(session: Session) -> None:
            access.require(session, self.actor, "manage_users")
            access.remove_user(session, identity, by=self.actor)
            audit.append(
                session,
                actor=self.actor,
                action="user_remove",
                detail={"user": access.check_identity(identity)},
            )

        self._write(work)

    # ------------------------------------------------------------------ models
    def add_model(
        self,
        name: str,
        data: bytes,
        *,
        sha256: str,
        version: str,
        base_version: str | None,
        card: dict[str, Any] | None,
    ) -> ModelEntry:
        """Keep a checked model (``record.clinic_models.add_model`` checks it) under ``name``
        (admins only). It is not used until ``use_model``. A name is never reused."""
        if not _MODEL_NAME.match(name) or name == SHIPPED_MODEL:
            raise StoreError(
                f"model name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
                f"starting with a letter or digit, and not {SHIPPED_MODEL!r}"
            )

        def work(session: Session) -> ModelEntry:
            access.require(session, self.actor, "manage_models")
            if session.scalar(sa.select(ModelRow.id).where(ModelRow.name == name)) is not None:
                raise StoreError(
                    f"a model called {name!r} is already in this database; choose another name"
                )
            row = ModelRow(
                name=name,
                sha256=sha256,
                version=version[:64],
                base_version=base_version[:64] if base_version else None,
                size_bytes=len(data),
                data=data,
                card=card,
                added_by=self.actor,
            )
            session.add(row)
            session.flush()
            audit.append(
                session,
                actor=self.actor,
                action="model_add",
                detail={"name": name, "sha256": sha256, "version": version},
            )
            return _model_entry(row, active=False)

        return self._write(work)

    def models(self) -> list[ModelEntry]:
        """The registry's models, oldest first (the shipped model is not listed)."""
        with self._sessions() as session:
            active = _active_model_name(session)
            rows = session.scalars(sa.select(ModelRow).order_by(ModelRow.id))
            return [_model_entry(r, active=r.name == active) for r in rows]

    def model_data(self, name: str) -> bytes:
        with self._sessions() as session:
            data = session.scalar(sa.select(ModelRow.data).where(ModelRow.name == name))
        if data is None:
            raise StoreError(
                f"no model called {name!r} in this database; see woundtrack model list"
            )
        return data

    def active_model(self) -> str:
        """The name of the model that measures new photos: ``SHIPPED_MODEL`` or a registry name."""
        with self._sessions() as session:
            return _active_model_name(session)

    def use_model(self, name: str) -> None:
        """Measure new photos with ``name`` from now on (admins only); ``SHIPPED_MODEL`` goes back
        to the shipped network. Stored measurements are not changed."""

        def work(session: Session) -> None:
            access.require(session, self.actor, "manage_models")
            if (
                name != SHIPPED_MODEL
                and session.scalar(sa.select(ModelRow.id).where(ModelRow.name == name)) is None
            ):
                raise StoreError(
                    f"no model called {name!r} in this database; add it first with "
                    "woundtrack model add FILE --name NAME"
                )
            before = _active_model_name(session)
            setting = session.get(Setting, "active_model")
            if name == SHIPPED_MODEL:
                if setting is not None:
                    session.delete(setting)
            elif setting is None:
                session.add(Setting(key="active_model", value=name))
            else:
                setting.value = name
            audit.append(
                session,
                actor=self.actor,
                action="model_use",
                detail={"name": name, "before": before},
            )

        self._write(work)

    # ------------------------------------------------------------------ audit
    def record_event(
        self,
        action: str,
        *,
        patient: str | None = None,
        detail: dict[str, Any] | None = None,
        permission: str | None = None,
        reading: bool = False,
    ) -> str | None:
        """Record something done outside the store's writes (a sign-in, a view, an export),
        after checking ``permission`` when given (``access.AccessError`` if not allowed).

        ``reading``: the event is a read, which a database that cannot be written (a read-only
        copy) still allows; then nothing is recorded and the reason is returned, for the caller
        to show. Otherwise returns None.
        """
        if permission is not None:
            with self._sessions() as session:
                access.require(session, self.actor, permission)

        def work(session: Session) -> None:
            audit.append(session, actor=self.actor, action=action, patient=patient, detail=detail)

        try:
            self._write(work)
        except StoreError as exc:
            if not reading:
                raise
            return f"not recorded in the audit trail: {exc}"
        return None

    def audit_entries(
        self, *, since: date | None = None, patient: str | None = None
    ) -> list[audit.AuditRecord]:
        with self._sessions() as session:
            access.require(session, self.actor, "read_audit")
            return list(audit.entries(session, since=since, patient=patient))

    def verify_audit(self) -> audit.AuditCheck:
        """Walk the audit chain (anyone may check it; it shows no patient data)."""
        with self._sessions() as session:
            return audit.verify(session)

    # ------------------------------------------------------------------ writing
    def _write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction, retrying when another process won a race."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._sessions.begin() as session:
                    return work(session)
            except IntegrityError:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                log.debug("write raced with another process; retrying (%d)", attempt + 1)
            except sa.exc.DBAPIError as exc:  # read-only, disk full, locked, server gone, ...
                raise StoreError(
                    _database_problem(_safe_url(self.url), exc, writing=True)
                ) from None
        raise AssertionError("unreachable")

    def _check_sessions(self, events: Sequence[TreatmentEvent]) -> None:
        """Refuse, before anything is written, a number of sessions its column cannot hold."""
        for e in events:
            n = e.sessions
            if n is not None and not 0 < n <= MAX_SESSIONS:
                what = "over the limit of" if n > 0 else "below 1; the limit is 1 to"
                raise StoreError(
                    f"cannot store the timeline in {_safe_url(self.url)}: {e.kind} on "
                    f"{e.start_on.isoformat()} has {_big_int(n)} sessions, {what} {MAX_SESSIONS}; "
                    "write the real number of sessions (e.g. 36) or leave it empty"
                )

    def add_visit(self, visit: NewVisit) -> ImportResult:
        """Save a measured photo as a new visit of its patient and file its lesions.

        The photo is stored once (by hash); a photo already stored for this patient is reported
        as ``duplicate`` and nothing is written. ``visit.lesion`` names the largest lesion
        (created if new); the others are matched to the patient's known lesions by their
        constellation on the skin plane (``lesion_matching``), new ones get the next free label
        (L1, L2, ...).
        """
        code = check_patient_code(visit.patient)
        lesion = None if visit.lesion is None else check_lesion_label(visit.lesion)
        site = check_body_site(visit.body_site)
        taken_on = visit.taken_at.date() if visit.taken_at else None
        reference = None
        if visit.registered_to is not None:
            reference = (visit.registered_to[0], np.asarray(visit.registered_to[1], np.float64))

        def work(session: Session) -> ImportResult:
            access.require(session, self.actor, "upload")
            person = _get_or_create_patient(session, code)
            visit_id = session.scalar(
                sa.select(Visit.id).where(
                    Visit.patient_id == person.id, Visit.photo_sha256 == visit.photo_sha256
                )
            )
            if visit_id is not None:
                return ImportResult(
                    file=visit.file_name,
                    status="duplicate",
                    visit_id=visit_id,
                    photo_sha256=visit.photo_sha256,
                )
            if session.get(Photo, visit.photo_sha256) is None:
                session.add(
                    Photo(
                        sha256=visit.photo_sha256,
                        original_sha256=visit.original_sha256,
                        data=visit.photo,
                        format=visit.format,
                        width_px=visit.width_px,
                        height_px=visit.height_px,
                        size_bytes=len(visit.photo),
                    )
                )
                session.flush()
            row = Visit(
                patient_id=person.id,
                photo_sha256=visit.photo_sha256,
                file_name=visit.file_name,
                taken_at=visit.taken_at.isoformat() if visit.taken_at else None,
                taken_on=taken_on,
                taken_at_source=visit.taken_at_source,
            )
            session.add(row)
            session.flush()
            analysis = _analysis_row(row.id, visit.record, visit.labels_png, kind="automatic")
            session.add(analysis)
            session.flush()
            lesion_ids, notes = _assign_lesions(
                session,
                person.id,
                visit.positions,
                lesion,
                site,
                taken_on,
                reference,
                actor=self.actor,
            )
            for m, pos in zip(visit.lesions, visit.positions, strict=True):
                session.add(_measurement_row(analysis.id, lesion_ids[pos.key][0], m, pos))
            labels = tuple(lesion_ids[p.key][1] for p in visit.positions)
            audit.append(
                session,
                actor=self.actor,
                action="upload",
                patient=code,
                detail={
                    "visit_id": row.id,
                    "analysis_id": analysis.id,
                    "photo_sha256": visit.photo_sha256,
                    "file": visit.file_name,
                    "taken_at": row.taken_at,
                    "lesions": list(labels),
                    "body_site": site,
                },
            )
            return ImportResult(
                file=visit.file_name,
                status="imported",
                visit_id=row.id,
                photo_sha256=visit.photo_sha256,
                lesion_labels=labels,
                warnings=(*visit.warnings, *notes),
            )

        return self._write(work)

    def add_correction(
        self,
        based_on: AnalysisInfo,
        *,
        record: dict[str, Any],
        labels_png: bytes,
        lesions: Sequence[LesionMeasurement],
        positions: Sequence[LesionPosition],
        by: str | None = None,
    ) -> int:
        """Save a person's corrected analysis of a visit beside ``based_on``; returns its id.

        ``record``, ``lesions`` and ``positions`` are the corrected label map's figures (see
        ``ingest.correct``); provenance (segmenter, versions, calibration) is ``based_on``'s.
        Lesions keep the names they had in ``based_on`` where their centres match; a lesion
        drawn anew gets the patient's next free label. ``by`` defaults to the store's actor.
        """
        by = self.actor if by is None else by
        if not by.strip():
            raise StoreError("a correction needs the name or initials of the person who made it")

        def work(session: Session) -> int:
            access.require(session, self.actor, "correct")
            auto = session.get(AnalysisRow, based_on.analysis_id)
            if auto is None:
                raise StoreError(f"analysis {based_on.analysis_id} is not in the database")
            visit = session.get(Visit, auto.visit_id)
            row = AnalysisRow(
                visit_id=auto.visit_id,
                kind="corrected",
                corrected_by=by.strip(),
                segmenter=auto.segmenter,
                model_version=auto.model_version,
                woundtrack_version=auto.woundtrack_version,
                calibration_method=auto.calibration_method,
                calibration_quality=auto.calibration_quality,
                marker_mm=auto.marker_mm,
                record=record,
                labels_png=labels_png,
            )
            return self._add_beside(
                session,
                visit,
                auto,
                row,
                lesions,
                positions,
                kind="correct",
                detail={"corrected_by": by.strip()},
            )

        return self._write(work)

    def add_measured_again(
        self,
        based_on: AnalysisInfo,
        *,
        record: dict[str, Any],
        labels_png: bytes,
        lesions: Sequence[LesionMeasurement],
        positions: Sequence[LesionPosition],
    ) -> int:
        """Save a new automatic analysis of ``based_on``'s visit, made by another model or
        woundtrack version (``ingest.measure_again``); returns its id.

        It is the visit's current analysis from now on; ``based_on`` stays stored, and undoing
        the edit withdraws the new one. Lesions keep the names they had in ``based_on`` where
        their centres match (the same photo); a lesion found anew gets the next free label.

        Raises
        ------
        StoreError
            ``based_on`` is not the visit's current analysis any more (someone changed the
            visit meanwhile: read it again), or it is a person's correction (never replaced).
        """

        def work(session: Session) -> int:
            access.require(session, self.actor, "correct")
            old = session.get(AnalysisRow, based_on.analysis_id)
            if old is None:
                raise StoreError(f"analysis {based_on.analysis_id} is not in the database")
            current = _current_analysis_row(session, old.visit_id)
            if current is None or current.id != old.id:
                raise StoreError(
                    f"visit {old.visit_id} changed since it was read (its current analysis is "
                    f"{current and current.id}, not {old.id}); measure it again"
                )
            if old.kind == "corrected":
                raise StoreError(
                    f"visit {old.visit_id}'s figures are a person's correction; they are not "
                    "measured again (withdraw the correction first to measure the photo again)"
                )
            visit = session.get(Visit, old.visit_id)
            row = _analysis_row(visit.id, record, labels_png, kind="automatic")
            return self._add_beside(
                session,
                visit,
                old,
                row,
                lesions,
                positions,
                kind="measure_again",
                detail={"model_version": row.model_version},
                before={"model_version": old.model_version},
            )

        return self._write(work)

    def _add_beside(
        self,
        session: Session,
        visit: Visit,
        old: AnalysisRow,
        row: AnalysisRow,
        lesions: Sequence[LesionMeasurement],
        positions: Sequence[LesionPosition],
        *,
        kind: str,
        detail: dict[str, Any],
        before: dict[str, Any] | None = None,
    ) -> int:
        """Store analysis ``row`` of ``visit`` beside ``old``, its lesions under ``old``'s names
        (the same photo), as an edit of ``kind`` (undone by withdrawing ``row``) and an audit
        entry with ``detail``; returns the new analysis's id."""
        session.add(row)
        session.flush()
        _file_lesions_of_same_photo(session, visit, old.id, row.id, lesions, positions)
        edit = _new_edit(
            session,
            by=self.actor,
            patient_id=visit.patient_id,
            kind=kind,
            target=f"analysis:{row.id}",
            before={"analysis_id": old.id, **(before or {})},
            after={"analysis_id": row.id, **detail},
        )
        audit.append(
            session,
            actor=self.actor,
            action=kind,
            patient=session.get(Patient, visit.patient_id).code,
            detail={
                "visit_id": visit.id,
                "analysis_id": row.id,
                "based_on": old.id,
                **detail,
                "edit_id": edit.id,
            },
        )
        return row.id

    def assign_lesion(
        self, analysis_id: int, lesion_index: int, label: str, *, by: str | None = None
    ) -> None:
        """Override a lesion match: file lesion ``lesion_index`` of an analysis under ``label``.

        The label may be a known lesion of the patient or a new one. The figures are unchanged;
        the override (who, when, from which label) is recorded in the analysis record's
        ``lesion_overrides``.

        Raises
        ------
        StoreError
            ``label`` is not a valid lesion label (``check_lesion_label``), ``by`` is empty, the
            analysis has no such lesion, or the label is already another lesion of this photo.
        """
        label = check_lesion_label(label)
        by = self.actor if by is None else by
        if not by.strip():
            raise StoreError("a lesion override needs the name or initials of who made it")

        def work(session: Session) -> None:
            access.require(session, self.actor, "correct")
            row = session.scalar(
                sa.select(LesionMeasurementRow).where(
                    LesionMeasurementRow.analysis_id == analysis_id,
                    LesionMeasurementRow.lesion_index == lesion_index,
                )
            )
            if row is None:
                raise StoreError(f"analysis {analysis_id} has no lesion {lesion_index}")
            analysis = session.get(AnalysisRow, analysis_id)
            visit = session.get(Visit, analysis.visit_id)
            before = session.get(Lesion, row.lesion_id).label
            target = _get_or_create_lesion(session, visit.patient_id, label, "", visit.taken_on)
            taken = session.scalar(
                sa.select(LesionMeasurementRow.lesion_index).where(
                    LesionMeasurementRow.analysis_id == analysis_id,
                    LesionMeasurementRow.lesion_id == target.id,
                )
            )
            if taken is not None and taken != lesion_index:
                raise StoreError(
                    f"{label} is already lesion {taken} of this photo; move that one first"
                )
            before_id = row.lesion_id
            row.lesion_id = target.id
            edit = _new_edit(
                session,
                by=self.actor,
                patient_id=visit.patient_id,
                kind="assign_lesion",
                target=f"measurement:{row.id}",
                before={"lesion_id": before_id, "label": before},
                after={"lesion_id": target.id, "label": label},
            )
            overrides = list(analysis.record.get("lesion_overrides", []))
            overrides.append(
                {
                    "lesion_index": lesion_index,
                    "from": before,
                    "to": label,
                    "by": by.strip(),
                    "at": db.utcnow().isoformat(),
                }
            )
            analysis.record = {**analysis.record, "lesion_overrides": overrides}
            audit.append(
                session,
                actor=self.actor,
                action="assign_lesion",
                patient=session.get(Patient, visit.patient_id).code,
                detail={
                    "analysis_id": analysis_id,
                    "lesion_index": lesion_index,
                    "from": before,
                    "to": label,
                    "edit_id": edit.id,
                },
            )

        self._write(work)

    def add_treatments(self, patient: str, events: Iterable[TreatmentEvent]) -> int:
        """Add treatment events to a patient's timeline; events already there are skipped.

        Returns the number of events added.
        """
        code = check_patient_code(patient)
        events = list(events)
        self._check_sessions(events)

        def work(session: Session) -> int:
            access.require(session, self.actor, "edit_treatments")
            person = _get_or_create_patient(session, code)
            have = {_event_key(e) for e in _events(session, person.id)}
            added = 0
            for e in events:
                if _event_key(e) in have:
                    continue
                session.add(_event_row(person.id, e))
                have.add(_event_key(e))
                added += 1
            if added:
                audit.append(
                    session,
                    actor=self.actor,
                    action="treatments_add",
                    patient=code,
                    detail={"added": added},
                )
            return added

        return self._write(work)

    def replace_treatments(
        self,
        patient: str,
        events: Iterable[TreatmentEvent],
        *,
        based_on: Sequence[TreatmentEvent] | None = None,
    ) -> None:
        """Make ``events`` the patient's whole timeline (the app's table editor saves this way).

        ``based_on``: the timeline the editor started from. If someone else saved another one
        since, nothing is written and a ``StoreError`` says who and when, so that two people
        editing at once never overwrite each other unseen. The replaced timeline is kept in the
        edit (undoable) and in the audit trail.
        """
        code = check_patient_code(patient)
        events = list(events)
        self._check_sessions(events)

        def work(session: Session) -> None:
            access.require(session, self.actor, "edit_treatments")
            person = _get_or_create_patient(session, code)
            before = _events(session, person.id)
            if based_on is not None and [_event_key(e) for e in before] != [
                _event_key(e) for e in based_on
            ]:
                last = session.scalar(
                    sa.select(Edit)
                    .where(Edit.patient_id == person.id, Edit.target == f"timeline:{person.id}")
                    .order_by(Edit.id.desc())
                    .limit(1)
                )
                who = f" by {last.by} at {last.at:%Y-%m-%d %H:%M} UTC" if last else ""
                raise StoreError(
                    f"the timeline of {code} was changed{who} while you were editing it; nothing "
                    "was saved: reload the page to see their change, then make yours again"
                )
            session.execute(
                sa.delete(TreatmentEventRow).where(TreatmentEventRow.patient_id == person.id)
            )
            for e in events:
                session.add(_event_row(person.id, e))
            _new_edit(
                session,
                by=self.actor,
                patient_id=person.id,
                kind="replace_treatments",
                target=f"timeline:{person.id}",
                before={"events": [_event_text(e) for e in before]},
                after={"events": [_event_text(e) for e in events]},
            )
            # The old timeline stays readable in the audit trail (text only).
            audit.append(
                session,
                actor=self.actor,
                action="treatments_replace",
                patient=code,
                detail={
                    "before": [_event_text(e) for e in before],
                    "after": [_event_text(e) for e in events],
                },
            )

        self._write(work)

    # ------------------------------------------------------------------ undoable edits
    def withdraw_correction(self, analysis_id: int) -> int:
        """Withdraw a person's correction: the visit's figures go back to the analysis before it
        (the correction stays stored). Returns the edit's id."""

        def work(session: Session) -> int:
            access.require(session, self.actor, "correct")
            row = session.get(AnalysisRow, analysis_id)
            if row is None or row.kind != "corrected":
                raise StoreError(f"analysis {analysis_id} is not a correction; nothing to withdraw")
            if row.withdrawn_edit_id is not None:
                raise StoreError(f"the correction {analysis_id} is already withdrawn")
            visit = session.get(Visit, row.visit_id)
            edit = _new_edit(
                session,
                by=self.actor,
                patient_id=visit.patient_id,
                kind="withdraw_correction",
                target=f"analysis:{analysis_id}",
                before={"withdrawn": False},
                after={"withdrawn": True},
            )
            row.withdrawn_edit_id = edit.id
            self._audit_edit(session, visit.patient_id, edit)
            return edit.id

        return self._write(work)

    def remove_visit(self, visit_id: int) -> int:
        """Take a visit (a wrong photo, the wrong patient) out of every figure; it stays stored
        and the edit can be undone. Returns the edit's id."""

        def work(session: Session) -> int:
            access.require(session, self.actor, "correct")
            visit = session.get(Visit, visit_id)
            if visit is None or visit.removed_edit_id is not None:
                raise StoreError(f"visit {visit_id} is not in the database (or already removed)")
            edit = _new_edit(
                session,
                by=self.actor,
                patient_id=visit.patient_id,
                kind="remove_visit",
                target=f"visit:{visit_id}",
                before={"removed": False, "file_name": visit.file_name},
                after={"removed": True},
            )
            visit.removed_edit_id = edit.id
            self._audit_edit(session, visit.patient_id, edit)
            return edit.id

        return self._write(work)

    def remove_lesion(self, patient: str, label: str) -> int:
        """Take a lesion (e.g. one drawn by mistake) out of every figure and of matching; it stays
        stored and the edit can be undone. Returns the edit's id."""
        code = check_patient_code(patient)

        def work(session: Session) -> int:
            access.require(session, self.actor, "correct")
            person = _patient(session, code)
            lesion = _standing_lesion(session, person, label)
            edit = _new_edit(
                session,
                by=self.actor,
                patient_id=person.id,
                kind="remove_lesion",
                target=f"lesion:{lesion.id}",
                before={"removed": False, "label": label},
                after={"removed": True},
            )
            lesion.removed_edit_id = edit.id
            self._audit_edit(session, person.id, edit)
            return edit.id

        return self._write(work)

    def set_body_site(self, patient: str, label: str, body_site: str) -> int:
        """Set (or fix) where a lesion is; later photos given that site are matched against it.
        The old site is kept in the edit, which can be undone. Returns the edit's id.

        Raises
        ------
        StoreError
            The patient has no such lesion, or the site is not one (``check_body_site``).
        """
        code = check_patient_code(patient)
        site = check_body_site(body_site)

        def work(session: Session) -> int:
            access.require(session, self.actor, "correct")
            person = _patient(session, code)
            lesion = _standing_lesion(session, person, label)
            if lesion.body_site == site:
                raise StoreError(f"{label} is already at {site or 'no site'}; nothing to change")
            edit = _site_edit(session, lesion, site, by=self.actor)
            self._audit_edit(session, person.id, edit)
            return edit.id

        return self._write(work)

    def set_capture_date(self, visit_id: int, taken_on: date) -> int:
        """Fix the day a visit's photo was taken (the face checks the date is plausible); the old
        value is kept in the edit. Returns the edit's id."""

        def work(session: Session) -> int:
            access.require(session, self.actor, "correct")
            visit = session.get(Visit, visit_id)
            if visit is None or visit.removed_edit_id is not None:
                raise StoreError(f"visit {visit_id} is not in the database")
            before = _date_fields(visit)
            visit.taken_at = (
                datetime.combine(taken_on, datetime.min.time()).replace(hour=12).isoformat()
            )
            visit.taken_on, visit.taken_at_source = taken_on, "entered"
            edit = _new_edit(
                session,
                by=self.actor,
                patient_id=visit.patient_id,
                kind="set_capture_date",
                target=f"visit:{visit_id}",
                before=before,
                after=_date_fields(visit),
            )
            self._audit_edit(session, visit.patient_id, edit)
            return edit.id

        return self._write(work)

    def edits(self, patient: str) -> list[dict[str, Any]]:
        """The patient's edits, newest first: id, at, by, kind, target, before, after, and
        whether each was undone (``undone_by``) or undoes another (``undo_of``)."""
        with self._sessions() as session:
            person = _patient(session, patient)
            rows = session.scalars(
                sa.select(Edit).where(Edit.patient_id == person.id).order_by(Edit.id.desc())
            )
            return [
                {
                    "edit_id": e.id,
                    "at": e.at,
                    "by": e.by,
                    "kind": e.kind,
                    "target": e.target,
                    "before": dict(e.before),
                    "after": dict(e.after),
                    "undo_of": e.undo_of,
                    "undone_by": e.undone_by,
                }
                for e in rows
            ]

    def undo(self, edit_id: int) -> int:
        """Undo an edit: what it replaced is written back, as a new edit (``kind="undo"``); the
        edit is marked undone. Only the newest standing edit of a thing can be undone (undo the
        later ones first); an undo is not itself undone (make the change again). Returns the
        new edit's id."""

        def work(session: Session) -> int:
            edit = session.get(Edit, edit_id)
            if edit is None:
                raise StoreError(f"there is no edit {edit_id}")
            access.require(
                session,
                self.actor,
                "edit_treatments" if edit.kind == "replace_treatments" else "correct",
            )
            if edit.kind == "undo":
                raise StoreError(f"edit {edit_id} is an undo; make the change again instead")
            if edit.undone_by is not None:
                raise StoreError(f"edit {edit_id} was undone already (by edit {edit.undone_by})")
            later = session.scalar(
                sa.select(Edit.id).where(
                    Edit.target == edit.target,
                    Edit.id > edit.id,
                    Edit.undone_by.is_(None),
                    Edit.kind != "undo",
                )
            )
            if later is not None:
                raise StoreError(
                    f"edit {later} changed the same thing after edit {edit_id}; undo it first"
                )
            undo = _new_edit(
                session,
                by=self.actor,
                patient_id=edit.patient_id,
                kind="undo",
                target=edit.target,
                before=dict(edit.after),
                after=dict(edit.before),
                undo_of=edit.id,
            )
            _reverse(session, edit, undo.id)
            edit.undone_by = undo.id
            self._audit_edit(session, edit.patient_id, undo)
            return undo.id

        return self._write(work)

    def _audit_edit(self, session: Session, patient_id: int, edit: Edit) -> None:
        action = "undo" if edit.kind == "undo" else edit.kind
        audit.append(
            session,
            actor=self.actor,
            action=action,
            patient=session.get(Patient, patient_id).code,
            detail={"edit_id": edit.id, "target": edit.target, "undo_of": edit.undo_of},
        )

    # ------------------------------------------------------------------ reading
    def patients(self) -> list[str]:
        with self._sessions() as session:
            return list(session.scalars(sa.select(Patient.code).order_by(Patient.code)))

    def treatments(self, patient: str) -> list[TreatmentEvent]:
        with self._sessions() as session:
            person = _patient(session, patient)
            return _events(session, person.id)

    def series(self, patient: str) -> list[SeriesRow]:
        """Every lesion at every visit of a patient, oldest first, from each visit's current
        analysis (the newest correction if any, else the automatic one)."""
        with self._sessions() as session:
            person = _patient(session, patient)
            current = (
                sa.select(AnalysisRow.visit_id, sa.func.max(AnalysisRow.id).label("analysis_id"))
                .join(Visit, Visit.id == AnalysisRow.visit_id)
                .where(
                    Visit.patient_id == person.id,
                    Visit.removed_edit_id.is_(None),
                    AnalysisRow.withdrawn_edit_id.is_(None),
                )
                .group_by(AnalysisRow.visit_id)
                .subquery()
            )
            rows = session.execute(
                sa.select(LesionMeasurementRow, Lesion, Visit, AnalysisRow)
                .join(current, current.c.analysis_id == LesionMeasurementRow.analysis_id)
                .join(AnalysisRow, AnalysisRow.id == LesionMeasurementRow.analysis_id)
                .join(Visit, Visit.id == AnalysisRow.visit_id)
                .join(Lesion, Lesion.id == LesionMeasurementRow.lesion_id)
                .where(Lesion.removed_edit_id.is_(None))
                .order_by(Visit.taken_on, Visit.id, Lesion.label)
            ).all()
            return [_series_row(person.code, m, les, v, a) for m, les, v, a in rows]

    def visits(self, patient: str) -> list[dict[str, Any]]:
        """Visits of a patient (id, taken_at, file, photo hash), oldest first."""
        with self._sessions() as session:
            person = _patient(session, patient)
            rows = session.scalars(
                sa.select(Visit)
                .where(Visit.patient_id == person.id, Visit.removed_edit_id.is_(None))
                .order_by(Visit.taken_on, Visit.id)
            )
            return [
                {
                    "visit_id": v.id,
                    "taken_at": v.taken_at,
                    "taken_on": v.taken_on,
                    "file_name": v.file_name,
                    "photo_sha256": v.photo_sha256,
                }
                for v in rows
            ]

    def current_analysis(self, visit_id: int) -> AnalysisInfo:
        """The visit's current analysis, with its record (figures, calibration, provenance)."""
        with self._sessions() as session:
            row = _current_analysis_row(session, visit_id)
            if row is None:
                raise StoreError(f"visit {visit_id} is not in the database")
            return _analysis_info(session, row)

    def photo_bytes(self, sha256: str) -> bytes:
        with self._sessions() as session:
            photo = session.get(Photo, sha256)
            if photo is None:
                raise StoreError(f"no stored photo has sha256 {sha256}")
            return photo.data

    def labels_png(self, analysis_id: int) -> bytes:
        """An analysis's label map as stored (a PNG; ``image.io.decode_labels_png`` reads it)."""
        with self._sessions() as session:
            row = session.get(AnalysisRow, analysis_id)
            if row is None:
                raise StoreError(f"analysis {analysis_id} is not in the database")
            return row.labels_png

    def export_csv(self, patient: str) -> str:
        """One row per lesion per visit (see ``EXPORT_COLUMNS``), oldest first.

        Numbers are written so that they read back exactly; text that a spreadsheet would run
        as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, e.g.
        a file name ``=2+5+cmd.jpg``) gets a leading ``'`` (``timeline_csv.spreadsheet_safe``).
        """
        out = _io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for r in self.series(patient):
            writer.writerow(
                [_csv_value(getattr(r, c) if c != "patient" else r.patient) for c in EXPORT_COLUMNS]
            )
        return out.getvalue()

    def pseudonymised_csv(self) -> str:
        """Every patient's measurements for research, with nothing that names anyone, as CSV
        (columns ``PSEUDONYMISED_COLUMNS``; see ``pseudonymised_tables``)."""
        measurements, _ = self.pseudonymised_tables()
        out = _io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(PSEUDONYMISED_COLUMNS)
        for values in measurements:
            writer.writerow([_csv_value(values[c]) for c in PSEUDONYMISED_COLUMNS])
        return out.getvalue()

    def pseudonymised_tables(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every patient's measurements and treatments for research, with nothing that names
        anyone: ``(measurements, treatments)``, rows as dicts.

        Measurements have the columns ``PSEUDONYMISED_COLUMNS``: ``subject`` is ``S-`` and 10
        hex digits of an HMAC-SHA256 of the patient code under this database's own random key
        (the same patient, the same subject, in every export of this database; not reversible
        without the key, which never leaves the database); ``taken_on_shifted`` is the capture
        day moved by a per-patient offset of -182 to +183 days, never 0 (``date_offset_days``;
        the intervals between a patient's visits are kept); ``day`` counts from the patient's
        first visit; the body site is only its coded region, side and distribution
        (``woundtrack.body_sites``), never the text as typed; a lesion keeps a label such as
        ``L2``, and any other label (typed text) becomes ``X1``, ``X2``, ... in the order the
        subject's lesions were first photographed. Treatments
        (``PSEUDONYMISED_TREATMENT_COLUMNS``) have the same subject, their days moved by the
        same offset, and no free text (dose and frequency, which may name a person, are left
        out; a kind that is not one of ``KNOWN_KINDS`` is ``other``). No photo, file name,
        photo hash, patient code, database id or person's name. Requires the
        ``pseudonymised_export`` permission; recorded in the audit trail.
        """

        def work(session: Session) -> bytes:
            access.require(session, self.actor, "pseudonymised_export")
            key = session.get(Setting, "pseudonym_key")
            if key is None:
                key = Setting(key="pseudonym_key", value=secrets.token_hex(32))
                session.add(key)
                session.flush()
            return bytes.fromhex(key.value)

        key = self._write(work)
        measurements: list[dict[str, Any]] = []
        treatments: list[dict[str, Any]] = []
        for code in self.patients():
            digest = hmac.new(key, code.encode("utf-8"), hashlib.sha256).digest()
            subject = "S-" + digest[:5].hex()
            shift = timedelta(days=date_offset_days(digest))
            rows = [r for r in self.series(code) if r.taken_on is not None]
            if not rows:
                continue
            first = min(r.taken_on for r in rows)
            lesions = _research_lesion_labels(r.lesion for r in rows)  # by date, as ``series``
            for r in rows:
                site = code_site(r.body_site)  # coded only: the typed text may name anyone
                measurements.append(
                    {
                        "subject": subject,
                        "lesion": lesions[r.lesion],
                        "body_region": site.region,
                        "laterality": site.side,
                        "distribution": site.distribution,
                        "day": (r.taken_on - first).days,
                        "taken_on_shifted": (r.taken_on + shift).isoformat(),
                        "corrected": r.corrected,
                        "outline_doubt": r.outline_doubt,
                        **{
                            c: getattr(r, c)
                            for c in (*_FIGURE_COLUMNS, "calibrated", "segmenter", "model_version")
                        },
                    }
                )
            for event in self.treatments(code):
                treatments.append(
                    {
                        "subject": subject,
                        # a kind typed as text may name anyone: only the known kinds travel
                        "kind": event.kind if event.kind in KNOWN_KINDS else "other",
                        "start_on_shifted": (event.start_on + shift).isoformat(),
                        "end_on_shifted": None
                        if event.end_on is None
                        else (event.end_on + shift).isoformat(),
                        "sessions": event.sessions,
                        "day": (event.start_on - first).days,
                    }
                )
        self.record_event("export", detail={"pseudonymised": True})
        return measurements, treatments

    def backup(self, destination: str | Path) -> Path:
        """Write a consistent copy of the whole database to a new SQLite file.

        All rows are read in one transaction (a snapshot), whatever the source database, so a
        backup taken while others import is still consistent.

        Raises
        ------
        StoreError
            If ``destination`` exists already (a backup never overwrites anything), its folder
            does not exist (it is never created) or cannot be written; a backup that fails
            half-way is removed.
        """
        path = Path(destination)
        if path.exists():
            raise StoreError(f"{path} exists already; give a new file name for the backup")
        if not path.parent.is_dir():
            raise StoreError(
                f"cannot write the backup {path}: the folder {path.parent} does not exist; "
                f"create the folder first (mkdir -p {path.parent})"
            )
        target = db.make_engine(f"sqlite:///{path}")
        try:
            db.migrate(target)
            tables = [t for t in db.Base.metadata.sorted_tables]
            snapshot = self.engine
            if self.engine.dialect.name == "postgresql":
                snapshot = self.engine.execution_options(isolation_level="REPEATABLE READ")
            with snapshot.connect() as source:
                with source.begin(), target.begin() as sink:
                    for table in tables:
                        rows = [dict(r._mapping) for r in source.execute(sa.select(table))]
                        if rows:
                            sink.execute(table.insert(), rows)
        except db.NotWoundtrack:  # another program made the file since the check above
            target.dispose()
            raise StoreError(
                f"{path} exists already; give a new file name for the backup"
            ) from None
        except sa.exc.DBAPIError as exc:
            target.dispose()
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)  # this run's own half-written file
            said = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
            raise StoreError(
                f"cannot write the backup {path}: {said}; check that you may write to "
                f"{path.parent} (chmod u+w) and that its disk has room, or give another file"
            ) from None
        target.dispose()
        return path

    def reference_analysis(
        self, patient: str, taken_on: date | None, body_site: str = ""
    ) -> AnalysisInfo | None:
        """The analysis of the patient's visit with lesions nearest in time to ``taken_on`` (the
        most recent when it is None or later than all), or None: the photo a new one taken on
        ``taken_on`` is registered onto before its lesions are matched. With a ``body_site``,
        the nearest with a lesion at that site (or one filed without a site).

        Positions on the skin plane are only comparable within one photo (the sticker moves).
        """
        with self._sessions() as session:
            person = session.scalar(sa.select(Patient).where(Patient.code == patient.strip()))
            if person is None:
                return None
            latest_id = _reference_positions(session, person.id, taken_on, body_site).analysis_id
            if latest_id is None:
                return None
            return _analysis_info(session, session.get(AnalysisRow, latest_id))

    def visit_of_photo(self, patient: str, photo_sha256: str) -> int | None:
        """The visit of ``patient`` that holds the photo with this hash, or None."""
        with self._sessions() as session:
            return session.scalar(
                sa.select(Visit.id)
                .join(Patient, Patient.id == Visit.patient_id)
                .where(Patient.code == patient.strip(), Visit.photo_sha256 == photo_sha256)
            )


# ---------------------------------------------------------------------- helpers
def date_offset_days(digest: bytes) -> int:
    """A patient's date offset for the pseudonymised export, from the HMAC ``digest`` of their
    code: -182 to +182 days, except that 0 (real dates, 1 patient in 365) becomes +183."""
    days = int.from_bytes(digest[5:9], "big") % 365 - 182
    return days or 183


def _safe_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return repr(url)


def _big_int(n: int) -> str:
    """``n`` as digits, or its size when it has too many to show (or to convert at all)."""
    return str(n) if n.bit_length() <= 128 else f"a number of {n.bit_length()} bits"


def _check_sqlite_path(path: Path, shown: str, *, create: bool, ours: bool) -> None:
    """Refuse an SQLite path that is a folder, a missing file that may not be created, or a
    file in a folder that does not exist (created only when it is woundtrack's own, ``ours``)."""
    if path.is_dir():
        raise StoreError(
            f"cannot open the database {shown}: {path} is a folder, not a database file; give a "
            f"file name in it (e.g. --db {path / 'woundtrack.db'}) or check --db"
        )
    if path.exists():
        return
    if not create:
        raise StoreError(f"no woundtrack database at {shown}; import a photo first or check --db")
    folder = path.parent
    if folder.is_dir():
        return
    if ours and not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)  # the user data folder: woundtrack's own
        return
    if folder.exists():
        raise StoreError(
            f"cannot create the database {shown}: {folder} is a file, not a folder; check --db"
        )
    raise StoreError(
        f"cannot create the database {shown}: the folder {folder} does not exist; create the "
        f"folder first (mkdir -p {folder}) or check --db"
    )


def _not_woundtrack_message(shown: str, found: db.NotWoundtrack) -> str:
    if found.kind == "empty":
        return f"no woundtrack database at {shown}; import a photo first or check --db"
    if found.kind == "revision":
        return (
            f"{shown} is not a woundtrack database (its schema version {found.detail!r} is not "
            "woundtrack's: another program's, or a newer woundtrack's); woundtrack changes "
            "nothing in it: check --db, or upgrade woundtrack"
        )
    tables = found.detail
    which = "table" if "," not in tables else "tables"
    return (
        f"{shown} is not a woundtrack database (it holds the {which} {tables}); woundtrack "
        "changes nothing in it: check --db, or give a new file name for a new woundtrack database"
    )


def _database_problem(shown: str, exc: Exception, *, writing: bool) -> str:
    """One line for a database error: the database, what the driver said, and the fix."""
    said = str(getattr(exc, "orig", None) or exc).strip()
    said = said.splitlines()[0] if said else exc.__class__.__name__
    low = said.lower()
    sqlite = shown.startswith("sqlite")
    if "not a database" in low:
        return (
            f"cannot open the database {shown}: the file is not an SQLite database; check --db "
            "(a woundtrack database, or a new file name for a new one)"
        )
    if "readonly database" in low or "read-only" in low:
        fix = (
            "make the file and its folder writable (chmod u+w), or copy the database to a "
            "writable folder"
            if sqlite
            else "ask the database's administrator for write access"
        )
        return f"cannot write to the database {shown}: it is read-only; {fix}"
    if "unable to open database file" in low:
        return (
            f"cannot open the database {shown}: the file or its folder cannot be opened or "
            "written (unable to open database file); check that the folder exists and that you "
            "may write to it (chmod u+w), or check --db"
        )
    if "disk is full" in low or "no space left" in low:
        return (
            f"cannot write to the database {shown}: the disk is full; nothing was saved: free "
            "some space and try again"
        )
    if "database is locked" in low:
        return (
            f"cannot {'write to' if writing else 'open'} the database {shown}: another program "
            "kept it locked for over a minute; close that program (or wait) and try again"
        )
    if "disk i/o error" in low or "malformed" in low:
        return (
            f"cannot {'write to' if writing else 'open'} the database {shown}: {said}; the file "
            "or its disk is damaged: check the disk and restore the database from a backup"
        )
    if writing:
        return (
            f"cannot write to the database {shown}: {exc.__class__.__name__}: {said}; nothing was "
            "saved: check that the database (or its server) is running and try again"
        )
    return (
        f"cannot open the database {shown}: {exc.__class__.__name__}: {said}; check the URL "
        "(e.g. sqlite:///path/to/file.db or postgresql+psycopg://user:password@host/dbname) and "
        "that the server is running"
    )


def _patient(session: Session, code: str) -> Patient:
    person = session.scalar(sa.select(Patient).where(Patient.code == code.strip()))
    if person is None:
        raise StoreError(f"patient {code!r} is not in the database; import a photo for them first")
    return person


def _get_or_create_patient(session: Session, code: str) -> Patient:
    person = session.scalar(sa.select(Patient).where(Patient.code == code))
    if person is None:
        person = Patient(code=code)
        session.add(person)
        session.flush()
    return person


def _events(session: Session, patient_id: int) -> list[TreatmentEvent]:
    rows = session.scalars(
        sa.select(TreatmentEventRow)
        .where(TreatmentEventRow.patient_id == patient_id)
        .order_by(TreatmentEventRow.start_on, TreatmentEventRow.kind, TreatmentEventRow.id)
    )
    return [
        TreatmentEvent(
            kind=r.kind,
            start_on=r.start_on,
            end_on=r.end_on,
            dose=r.dose,
            frequency=r.frequency,
            sessions=r.sessions,
            notes=r.notes,
            stored=True,  # saved before the date range was checked: shown, never refused
        )
        for r in rows
    ]


def _event_row(patient_id: int, e: TreatmentEvent) -> TreatmentEventRow:
    return TreatmentEventRow(
        patient_id=patient_id,
        kind=e.kind,
        start_on=e.start_on,
        end_on=e.end_on,
        dose=e.dose,
        frequency=e.frequency,
        sessions=e.sessions,
        notes=e.notes,
    )


def _new_edit(
    session: Session,
    *,
    by: str,
    patient_id: int,
    kind: str,
    target: str,
    before: dict[str, Any],
    after: dict[str, Any],
    undo_of: int | None = None,
) -> Edit:
    edit = Edit(
        by=by,
        patient_id=patient_id,
        kind=kind,
        target=target,
        before=before,
        after=after,
        undo_of=undo_of,
    )
    session.add(edit)
    session.flush()
    return edit


def _date_fields(visit: Visit) -> dict[str, Any]:
    return {
        "taken_at": visit.taken_at,
        "taken_on": visit.taken_on.isoformat() if visit.taken_on else None,
        "taken_at_source": visit.taken_at_source,
    }


def _reverse(session: Session, edit: Edit, undo_id: int) -> None:
    """Write back what ``edit`` replaced (see ``Store.undo``)."""
    kind, target_id = edit.kind, int(edit.target.split(":")[1])
    if kind in ("correct", "measure_again"):
        session.get(AnalysisRow, target_id).withdrawn_edit_id = undo_id
    elif kind == "withdraw_correction":
        session.get(AnalysisRow, target_id).withdrawn_edit_id = None
    elif kind == "remove_visit":
        session.get(Visit, target_id).removed_edit_id = None
    elif kind == "remove_lesion":
        session.get(Lesion, target_id).removed_edit_id = None
    elif kind == "set_body_site":
        session.get(Lesion, target_id).body_site = edit.before["body_site"]
    elif kind == "set_capture_date":
        visit = session.get(Visit, target_id)
        before = edit.before
        visit.taken_at = before["taken_at"]
        visit.taken_on = date.fromisoformat(before["taken_on"]) if before["taken_on"] else None
        visit.taken_at_source = before["taken_at_source"]
    elif kind == "assign_lesion":
        row = session.get(LesionMeasurementRow, target_id)
        taken = session.scalar(
            sa.select(LesionMeasurementRow.lesion_index).where(
                LesionMeasurementRow.analysis_id == row.analysis_id,
                LesionMeasurementRow.lesion_id == edit.before["lesion_id"],
                LesionMeasurementRow.id != row.id,
            )
        )
        if taken is not None:
            raise StoreError(
                f"{edit.before['label']} is now lesion {taken} of this photo; rename that one first"
            )
        row.lesion_id = edit.before["lesion_id"]
    elif kind == "replace_treatments":
        session.execute(
            sa.delete(TreatmentEventRow).where(TreatmentEventRow.patient_id == edit.patient_id)
        )
        for e in edit.before["events"]:
            session.add(_event_row(edit.patient_id, _event_from_text(e)))
    else:  # pragma: no cover - every kind written above is handled
        raise StoreError(f"edit {edit.id} ({kind}) cannot be undone")


def _event_from_text(e: dict[str, Any]) -> TreatmentEvent:
    return TreatmentEvent(
        kind=e["kind"],
        start_on=date.fromisoformat(e["start_on"]),
        end_on=date.fromisoformat(e["end_on"]) if e["end_on"] else None,
        dose=e["dose"],
        frequency=e["frequency"],
        sessions=e["sessions"],
        notes=e["notes"],
        stored=True,
    )


def _event_text(e: TreatmentEvent) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "start_on": e.start_on.isoformat(),
        "end_on": e.end_on.isoformat() if e.end_on else None,
        "dose": e.dose,
        "frequency": e.frequency,
        "sessions": e.sessions,
        "notes": e.notes,
    }


def _event_key(e: TreatmentEvent) -> tuple:
    return (e.kind, e.start_on, e.end_on, e.dose, e.frequency, e.sessions, e.notes)


def _current_analysis_row(session: Session, visit_id: int) -> AnalysisRow | None:
    """The visit's current analysis: its newest not withdrawn (None: no such visit)."""
    return session.scalar(
        sa.select(AnalysisRow)
        .where(AnalysisRow.visit_id == visit_id, AnalysisRow.withdrawn_edit_id.is_(None))
        .order_by(AnalysisRow.id.desc())
        .limit(1)
    )


def _debrided_between(session: Session, patient_id: int, one: date, other: date) -> bool:
    """Whether a debridement of the patient is recorded from ``one`` to ``other`` (either order,
    both days included: a photo is taken before or after the debridement of its day)."""
    first, last = sorted((one, other))
    kinds = session.scalars(
        sa.select(TreatmentEventRow.kind).where(
            TreatmentEventRow.patient_id == patient_id,
            TreatmentEventRow.start_on >= first,
            TreatmentEventRow.start_on <= last,
        )
    )
    return any("debrid" in kind.casefold() for kind in kinds)  # "surgical debridement" too


def _assign_lesions(
    session: Session,
    patient_id: int,
    positions: Sequence[LesionPosition],
    lesion: str | None,
    body_site: str,
    taken_on: date | None,
    reference: tuple[int, np.ndarray] | None = None,
    *,
    actor: str,
) -> tuple[dict[str, tuple[int, str]], tuple[str, ...]]:
    """Lesion id and label for each new position: the named lesion, a match, or a new label;
    and notes for the person importing (a lesion filed new while a known one is missing from the
    photo; a patient with lesions at several body sites and a photo that names none).

    With a ``body_site`` the photo is matched only against the lesions at that site (or filed
    without one, which then take it: an edit by ``actor``). ``reference`` is ``(analysis id, new
    plane -> that analysis's plane)`` from registering the photo onto the visit nearest in time
    by image features; it is used when that analysis is still the one to match against (another
    process may have filed a nearer photo meanwhile).
    """
    ref = _reference_positions(session, patient_id, taken_on, body_site)
    known = ref.positions
    new_to_known = (
        reference[1] if reference is not None and reference[0] == ref.analysis_id else None
    )
    ids: dict[str, tuple[int, str]] = {}
    remaining = list(positions)
    if lesion and remaining:
        # The largest wound of the photo is the named lesion.
        row = _get_or_create_lesion(session, patient_id, lesion.strip(), body_site, taken_on)
        ids[remaining[0].key] = (row.id, row.label)
        known = [k for k in known if k.key != row.label]
        remaining = remaining[1:]
    matches = {}
    if known and remaining:
        days_apart = None if None in (taken_on, ref.taken_on) else (taken_on - ref.taken_on).days
        debrided = days_apart is not None and _debrided_between(
            session, patient_id, taken_on, ref.taken_on
        )
        matches = match_lesions(
            known,
            remaining,
            new_to_known=new_to_known,
            max_area_ratio=area_ratio_gate(days_apart, debrided=debrided),
        )
    unmatched = sorted(set(k.key for k in known) - set(matches.values()) - {None})
    notes = []
    if not site_key(body_site) and known and remaining:
        notes.extend(_sites_note(session, patient_id))
        matched = sorted({label for label in matches.values() if label is not None})
        if matched and taken_on is not None and ref.taken_on == taken_on:
            notes.append(_same_day_note(session, ref.analysis_id, matched))
    for pos in remaining:
        label = matches.get(pos.key)
        if label is None:
            label = _next_label(session, patient_id)
            if unmatched:  # a known lesion is missing from the photo: is this it?
                notes.append(_new_lesion_note(label, unmatched, ref.taken_on, body_site))
        row = _get_or_create_lesion(
            session, patient_id, label, body_site if not lesion else "", taken_on
        )
        ids[pos.key] = (row.id, row.label)
    # a lesion filed without a site is where this photo is (the named one, or all when none is)
    at_site = list(ids.values())[:1] if lesion else ids.values()
    for lesion_id, label in at_site:
        row = session.get(Lesion, lesion_id)
        if body_site and not row.body_site:
            _site_edit(session, row, body_site, by=actor)  # a lesion known before this photo
            notes.append(
                f"{label} had no body site and is now at {body_site}, this photo's; if it is "
                "elsewhere, set its site on the Review page (Lesion names)"
            )
    return ids, tuple(notes)


def _file_lesions_of_same_photo(
    session: Session,
    visit: Visit,
    old_id: int,
    new_id: int,
    lesions: Sequence[LesionMeasurement],
    positions: Sequence[LesionPosition],
) -> None:
    """File analysis ``new_id``'s lesions under the names they have in analysis ``old_id`` of the
    same photo (the same plane frame: positions match without any alignment); a lesion that
    matches none gets the patient's next free label."""
    known = _analysis_positions(session, old_id)
    matches = match_lesions(known, positions, new_to_known=np.eye(3)) if known else {}
    for m, pos in zip(lesions, positions, strict=True):
        label = matches.get(pos.key) or _next_label(session, visit.patient_id)
        lesion = _get_or_create_lesion(session, visit.patient_id, label, "", visit.taken_on)
        session.add(_measurement_row(new_id, lesion.id, m, pos))


def _standing_lesion(session: Session, person: Patient, label: str) -> Lesion:
    """The patient's lesion called ``label``, unless it was removed (a ``StoreError``)."""
    lesion = session.scalar(
        sa.select(Lesion).where(Lesion.patient_id == person.id, Lesion.label == label)
    )
    if lesion is None or lesion.removed_edit_id is not None:
        raise StoreError(f"{person.code} has no lesion {label!r} (or it is already removed)")
    return lesion


def _site_edit(session: Session, lesion: Lesion, site: str, *, by: str) -> Edit:
    """Move ``lesion`` to ``site``, as an edit that can be undone."""
    edit = _new_edit(
        session,
        by=by,
        patient_id=lesion.patient_id,
        kind="set_body_site",
        target=f"lesion:{lesion.id}",
        before={"label": lesion.label, "body_site": lesion.body_site},
        after={"body_site": site},
    )
    lesion.body_site = site
    return edit


#: Lesion labels that travel into the research export as they are: they can name no one.
_PLAIN_LESION_LABEL = re.compile(r"L\d{1,4}")


def _research_lesion_labels(labels: Iterable[str]) -> dict[str, str]:
    """Each lesion label (in the order first seen) as the research export writes it: ``L3``
    as it is, any other label ``X1``, ``X2``, ... (a typed label may name someone)."""
    out: dict[str, str] = {}
    typed = 0
    for label in labels:
        if label in out:
            continue
        if _PLAIN_LESION_LABEL.fullmatch(label):
            out[label] = label
        else:
            typed += 1
            out[label] = f"X{typed}"
    return out


def _new_lesion_note(label: str, unmatched: list[str], day: date | None, body_site: str) -> str:
    where = [body_site, f"visit of {day.isoformat()}" if day else "latest visit"]
    names = ", ".join(k for k in unmatched if not k.startswith(_UNNAMED_KEY)) or "the lesions"
    return (
        f"{label} is filed as a new lesion: it matched none of {names} "
        f"({', '.join(filter(None, where))}) by place and size. If it is one of them (grown after "
        "a debridement, say), rename it on the Review page (Lesion names)"
    )


def _same_day_note(session: Session, analysis_id: int, labels: list[str]) -> str:
    """A note when a photo without a body site was matched to another photo of the same day:
    a retake of the same wound, or (as often) another wound of the patient."""
    other = session.scalar(
        sa.select(Visit.file_name)
        .join(AnalysisRow, AnalysisRow.visit_id == Visit.id)
        .where(AnalysisRow.id == analysis_id)
    )
    names = ", ".join(k for k in labels if not k.startswith(_UNNAMED_KEY)) or "a known lesion"
    return (
        f"filed under {names}, matched to another photo of the same day ({other}) by size. If "
        "this photo shows another wound, rename its lesion on the Review page (Lesion names), "
        "and give each wound's photos their body site to keep them apart"
    )


def _sites_note(session: Session, patient_id: int) -> list[str]:
    """A note when the patient's lesions lie at more than one body site: a photo that names
    none was matched against the nearest visit's lesions, whichever site they are at."""
    rows = session.execute(
        sa.select(Lesion.label, Lesion.body_site)
        .where(Lesion.patient_id == patient_id, Lesion.removed_edit_id.is_(None))
        .order_by(Lesion.id)
    ).all()
    sites: dict[str, tuple[str, list[str]]] = {}  # site key -> (as first written, labels)
    for label, site in rows:
        if site_key(site):
            sites.setdefault(site_key(site), (" ".join(site.split()), []))[1].append(label)
    if len(sites) < 2:
        return []
    listed = "; ".join(f"{site}: {', '.join(labels)}" for site, labels in sites.values())
    return [
        f"no body site was given, and this patient's lesions are at {len(sites)} sites "
        f"({listed}): the photo was matched against the nearest visit's lesions at any site. "
        "Give each photo its body site when importing (Upload's Body site, or --site), and "
        "rename a lesion filed under the wrong name on the Review page (Lesion names)"
    ]


class _Reference(NamedTuple):
    """The visit a new photo's lesions are matched against: its analysis, day and lesions."""

    analysis_id: int | None
    taken_on: date | None
    positions: list[LesionPosition]


def _reference_positions(
    session: Session, patient_id: int, taken_on: date | None, body_site: str = ""
) -> _Reference:
    """The lesions of the patient's visit (with any) nearest in time to ``taken_on``, at their
    positions there: the latest visit when ``taken_on`` is unknown or later than every visit.
    With a ``body_site``, only lesions at that site (or filed without one) count: a patient's
    wounds on two legs, photographed one per photo, are two lesions, never matched together.

    Positions on the skin plane are only comparable within one photo (the sticker moves between
    dressing changes), so the constellation to match against is that of a single visit; and a
    wound changes over weeks, so a photo filed late (last month's, found on a phone) is matched
    against its own weeks, not against a smaller wound months later. Of two visits as near, the
    earlier; the current analysis of a visit (a correction, if any) is its positions.
    """
    rows = session.execute(
        sa.select(LesionMeasurementRow.analysis_id, Visit.id, Visit.taken_on, Lesion.body_site)
        .join(AnalysisRow, AnalysisRow.id == LesionMeasurementRow.analysis_id)
        .join(Visit, Visit.id == AnalysisRow.visit_id)
        .join(Lesion, Lesion.id == LesionMeasurementRow.lesion_id)
        .where(
            Visit.patient_id == patient_id,
            Visit.removed_edit_id.is_(None),
            AnalysisRow.withdrawn_edit_id.is_(None),
            Lesion.removed_edit_id.is_(None),
        )
        .distinct()
    ).all()
    site = site_key(body_site)
    rows = list({r[:3] for r in rows if not site or site_key(r[3]) in (site, "")})
    if not rows:
        return _Reference(None, None, [])

    def latest_first(row) -> tuple:  # the order of "most recent" (unknown days last)
        analysis_id, visit_id, day = row
        return (day is not None, day or date.min, visit_id, analysis_id)

    dated = [r for r in rows if r[2] is not None]
    if taken_on is None or not dated:
        chosen = max(rows, key=latest_first)
    else:  # the nearest day, the earlier of two; on that day the newest visit and analysis
        chosen = min(dated, key=lambda r: (abs((r[2] - taken_on).days), r[2], -r[1], -r[0]))
    return _Reference(chosen[0], chosen[2], _analysis_positions(session, chosen[0], body_site))


def _analysis_positions(
    session: Session, analysis_id: int, body_site: str = ""
) -> list[LesionPosition]:
    """The lesions of one analysis, keyed by their labels, at their positions in its photo;
    with a ``body_site``, those at that site or filed without one."""
    rows = session.execute(
        sa.select(LesionMeasurementRow, Lesion.id, Lesion.label, Lesion.body_site)
        .join(Lesion, Lesion.id == LesionMeasurementRow.lesion_id)
        .where(LesionMeasurementRow.analysis_id == analysis_id, Lesion.removed_edit_id.is_(None))
    ).all()
    site = site_key(body_site)
    out = []
    for m, lesion_id, label, lesion_site in rows:
        if site and site_key(lesion_site) not in (site, ""):
            continue
        centre_mm = None if m.centre_x_mm is None else (m.centre_x_mm, m.centre_y_mm)
        out.append(
            LesionPosition(
                key=_position_key(lesion_id, label),
                centre_mm=centre_mm,
                centre_px=(m.centre_x_px, m.centre_y_px),
                area_cm2=m.wound_area_cm2,
                area_px=m.wound_area_px,
            )
        )
    return out


def _position_key(lesion_id: int, label: str) -> str:
    """A stored lesion's key in matching: its label, or for a label stored empty before labels
    were checked (which matching cannot take as a key) one made from its row id."""
    return label if label.strip() else f"{_UNNAMED_KEY}{lesion_id}"


def _get_or_create_lesion(
    session: Session, patient_id: int, label: str, body_site: str, taken_on: date | None
) -> Lesion:
    """The patient's lesion of this label (or ``_position_key``), created if new (at
    ``body_site``)."""
    if label.startswith(_UNNAMED_KEY):
        row = session.get(Lesion, int(label.removeprefix(_UNNAMED_KEY)))
        if row is None or row.patient_id != patient_id:
            raise StoreError(f"lesion {label!r} of patient {patient_id} is not in the database")
    else:
        row = session.scalar(
            sa.select(Lesion).where(Lesion.patient_id == patient_id, Lesion.label == label)
        )
    if row is None:
        row = Lesion(
            patient_id=patient_id, label=label, body_site=body_site, first_seen_on=taken_on
        )
        session.add(row)
        session.flush()
    elif taken_on and (row.first_seen_on is None or taken_on < row.first_seen_on):
        row.first_seen_on = taken_on
    return row


def _next_label(session: Session, patient_id: int) -> str:
    labels = session.scalars(sa.select(Lesion.label).where(Lesion.patient_id == patient_id))
    used = {int(m.group(1)) for lab in labels if (m := re.fullmatch(r"L(\d+)", lab))}
    n = 1
    while n in used:
        n += 1
    return f"L{n}"


def _active_model_name(session: Session) -> str:
    setting = session.get(Setting, "active_model")
    return setting.value if setting is not None else SHIPPED_MODEL


def _model_entry(row: ModelRow, *, active: bool) -> ModelEntry:
    return ModelEntry(
        name=row.name,
        sha256=row.sha256,
        version=row.version,
        base_version=row.base_version,
        size_bytes=row.size_bytes,
        card=row.card,
        added_by=row.added_by,
        added_at=row.added_at,
        active=active,
    )


def _analysis_row(
    visit_id: int, record: dict[str, Any], labels_png: bytes, *, kind: str
) -> AnalysisRow:
    p = record["provenance"]
    return AnalysisRow(
        visit_id=visit_id,
        kind=kind,
        segmenter=p["segmenter"],
        model_version=p["model_version"],
        woundtrack_version=p["woundtrack_version"],
        calibration_method=p["calibration_method"],
        calibration_quality=p["calibration_quality"],
        marker_mm=(record.get("calibration") or {}).get("marker_mm"),
        record=record,
        labels_png=labels_png,
    )


def _measurement_row(
    analysis_id: int, lesion_id: int, m: LesionMeasurement, pos: LesionPosition
) -> LesionMeasurementRow:
    return LesionMeasurementRow(
        analysis_id=analysis_id,
        lesion_id=lesion_id,
        lesion_index=m.index,
        wound_area_cm2=m.wound_area_cm2,
        **{t.area_cm2_field: getattr(m, t.area_cm2_field) for t in TISSUES},
        **{t.pct_field: getattr(m, t.pct_field) for t in BED_TISSUES},
        wound_area_px=m.wound_area_px,
        perimeter_cm=m.perimeter_cm,
        length_cm=m.length_cm,
        width_cm=m.width_cm,
        erythema_reach_cm=m.erythema_reach_cm,
        centre_x_px=m.centroid_px[0],
        centre_y_px=m.centroid_px[1],
        centre_x_mm=pos.centre_mm[0] if pos.centre_mm else None,
        centre_y_mm=pos.centre_mm[1] if pos.centre_mm else None,
    )


def _analysis_info(session: Session, row: AnalysisRow) -> AnalysisInfo:
    visit = session.get(Visit, row.visit_id)
    n_analyses = session.scalar(
        sa.select(sa.func.count(AnalysisRow.id)).where(AnalysisRow.visit_id == row.visit_id)
    )
    return AnalysisInfo(
        analysis_id=row.id,
        visit_id=row.visit_id,
        kind=row.kind,
        corrected_by=row.corrected_by,
        segmenter=row.segmenter,
        model_version=row.model_version,
        record=dict(row.record),
        n_analyses=int(n_analyses),
        photo_sha256=visit.photo_sha256,
        created_at=row.created_at,
    )


def _series_row(
    code: str, m: LesionMeasurementRow, les: Lesion, v: Visit, a: AnalysisRow
) -> SeriesRow:
    return SeriesRow(
        patient=code,
        lesion=les.label,
        lesion_index=m.lesion_index,
        body_site=les.body_site,
        visit_id=v.id,
        analysis_id=a.id,
        taken_at=v.taken_at,
        taken_on=v.taken_on,
        photo_sha256=v.photo_sha256,
        file_name=v.file_name,
        calibrated=a.calibration_method != "none",
        wound_area_cm2=m.wound_area_cm2,
        **{t.area_cm2_field: getattr(m, t.area_cm2_field) for t in TISSUES},
        **{t.pct_field: getattr(m, t.pct_field) for t in BED_TISSUES},
        perimeter_cm=m.perimeter_cm,
        length_cm=m.length_cm,
        width_cm=m.width_cm,
        erythema_reach_cm=m.erythema_reach_cm,
        outline_doubt=_lesion_doubt(a, m.lesion_index),
        corrected=a.kind == "corrected",
        corrected_by=a.corrected_by,
        segmenter=a.segmenter,
        model_version=a.model_version,
        woundtrack_version=a.woundtrack_version,
    )


def _lesion_doubt(a: AnalysisRow, lesion_index: int) -> float | None:
    """The network's doubt about the outline of the analysis' lesion ``lesion_index``: the
    lesion's own, or the photo's in records made before doubts were per lesion; None for a
    person's outline."""
    if a.kind != "automatic":
        return None
    for lesion in a.record.get("lesions") or []:
        if lesion.get("index") == lesion_index and "outline_doubt" in lesion:
            return lesion["outline_doubt"]
    return a.record.get("outline_doubt")


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        return repr(value)  # shortest text that reads back as the same number: never neutralised
    # Text (labels, sites, names): a cell a spreadsheet would run as a formula gets a leading '.
    return spreadsheet_safe(str(value))
