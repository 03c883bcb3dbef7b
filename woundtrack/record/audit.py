"""The audit trail: who did what, when, to which patient; append-only and tamper-evident.

Each entry is text only (time, actor, action, patient code, details as canonical JSON; ids and
hashes, never photo bytes) and carries ``entry_hash = sha256(prev_hash + entry)``, the hash of
the entry before it included, so changing or removing any entry breaks the chain from there on.
The ``audit_head`` row keeps the newest entry's id and hash, so removing the newest entries is
seen too. ``verify`` walks the chain and names the first entry that does not fit.

A chain of hashes shows that rows were changed by anything but woundtrack; it cannot stop someone
with write access to the database from rebuilding the whole chain. Keep the head hash that
``woundtrack audit verify`` prints somewhere else (a weekly e-mail, a printed log) and compare.

Entries are written in the same transaction as what they record (``append`` takes the caller's
session), so a write and its entry are stored together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from woundtrack.record import db
from woundtrack.record.db import AuditEntry, AuditHead

#: The ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64

#: What is recorded. Reads of a patient are recorded by the faces (``view``, ``export``).
ACTIONS = frozenset(
    {
        "sign_in",
        "view",
        "upload",
        "correct",
        "assign_lesion",
        "treatments_add",
        "treatments_replace",
        "export",
        "backup",
        "user_add",
        "user_remove",
        "demo_seed",
        "withdraw_correction",
        "remove_visit",
        "remove_lesion",
        "set_capture_date",
        "set_body_site",
        "measure_again",
        "undo",
        "dataset_export",
        "finetune",
        "model_add",
        "model_use",
    }
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry as read back."""

    id: int
    at: str
    actor: str
    action: str
    patient: str | None
    detail: dict[str, Any]
    entry_hash: str


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """What ``verify`` found: ``ok``, the number of entries, the newest hash, and where the
    chain first fails (``first_bad_id``, ``problem``) when it does."""

    ok: bool
    entries: int
    head_hash: str
    first_bad_id: int | None = None
    problem: str | None = None


def canonical_json(detail: dict[str, Any] | None) -> str:
    """``detail`` as JSON with sorted keys and no spaces: one text for one content."""
    return json.dumps(
        detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )


def _plain(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def entry_hash(
    prev_hash: str, *, id: int, at: str, actor: str, action: str, patient: str | None, detail: str
) -> str:
    """sha256 of the previous hash followed by the entry's fields as a JSON array."""
    payload = json.dumps(
        [id, at, actor, action, patient, detail], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    patient: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Add an entry in the caller's transaction; returns its id.

    The head row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite writers are
    serialised by ``BEGIN IMMEDIATE``), so two writers never chain onto the same entry; two
    first entries at once collide on the head's key and the store retries the loser.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    head = session.get(AuditHead, 1, with_for_update=True)
    if head is None:
        head = AuditHead(id=1, last_id=0, last_hash=GENESIS_HASH)
        session.add(head)
    new_id = head.last_id + 1
    at = db.utcnow().isoformat(timespec="microseconds")
    text = canonical_json(detail)
    digest = entry_hash(
        head.last_hash, id=new_id, at=at, actor=actor, action=action, patient=patient, detail=text
    )
    session.add(
        AuditEntry(
            id=new_id,
            at=at,
            actor=actor,
            action=action,
            patient=patient,
            detail=text,
            prev_hash=head.last_hash,
            entry_hash=digest,
        )
    )
    head.last_id, head.last_hash = new_id, digest
    session.flush()
    return new_id


def entries(
    session: Session, *, since: date | None = None, patient: str | None = None
) -> Iterator[AuditRecord]:
    """The entries in order, optionally from ``since`` (a UTC date) and for one patient."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if since is not None:
        query = query.where(AuditEntry.at >= since.isoformat())
    if patient is not None:
        query = query.where(AuditEntry.patient == patient)
    for row in session.scalars(query.execution_options(yield_per=1000)):
        try:
            detail = json.loads(row.detail)
        except ValueError:
            detail = {"unreadable": row.detail}
        yield AuditRecord(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            patient=row.patient,
            detail=detail if isinstance(detail, dict) else {"value": detail},
            entry_hash=row.entry_hash,
        )


def verify(session: Session) -> AuditCheck:
    """Walk the whole chain; the first entry that was changed, removed or put out of order.

    An entry whose own hash does not match its contents was changed. An entry whose recorded
    ``prev_hash`` is not the hash of the entry before it follows a changed, removed or inserted
    entry: the entry before it is named (the earliest that can be at fault). A gap in the ids is a
    removed entry; a head that names more entries than there are, or another hash, means the
    newest entries were removed or replaced.
    """
    prev_hash, expected = GENESIS_HASH, 1
    query = sa.select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)
    for row in session.scalars(query):
        if row.id != expected:
            return _bad(expected - 1, prev_hash, expected, f"entry {expected} was removed")
        if row.prev_hash != prev_hash:
            first = max(row.id - 1, 1)
            return _bad(
                expected - 1,
                prev_hash,
                first,
                f"entry {row.id} does not follow entry {row.id - 1}: entry {first} was changed "
                f"or replaced (or entry {row.id}'s link to it)",
            )
        digest = entry_hash(
            row.prev_hash,
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            patient=row.patient,
            detail=row.detail,
        )
        if digest != row.entry_hash:
            return _bad(expected - 1, prev_hash, row.id, f"entry {row.id} was changed")
        prev_hash, expected = row.entry_hash, expected + 1
    count = expected - 1
    head = session.get(AuditHead, 1)
    if head is None:
        if count == 0:
            return AuditCheck(ok=True, entries=0, head_hash=GENESIS_HASH)
        return _bad(count, prev_hash, count, "the audit head row was removed")
    if head.last_id != count:
        first = min(head.last_id, count) + 1
        return _bad(
            count,
            prev_hash,
            first,
            f"the head records {head.last_id} entries but {count} are there: "
            f"entries from {first} on were removed or the head was changed",
        )
    if head.last_hash != prev_hash:
        return _bad(count, prev_hash, count, f"entry {count} differs from the head's record of it")
    return AuditCheck(ok=True, entries=count, head_hash=prev_hash)


def _bad(count: int, head_hash: str, first: int, problem: str) -> AuditCheck:
    return AuditCheck(
        ok=False, entries=count, head_hash=head_hash, first_bad_id=first, problem=problem
    )


__all__ = [
    "ACTIONS",
    "GENESIS_HASH",
    "AuditCheck",
    "AuditRecord",
    "append",
    "canonical_json",
    "entries",
    "entry_hash",
    "verify",
]
