"""Who may do what: the users of a database, their roles, and the check every write makes.

Roles (stored in ``users``, managed by an admin with ``woundtrack user ...`` or the app's
Users page):

- **nurse**: uploads photos, reviews measurements, exports and prints a patient's report;
- **clinician**: a nurse's rights, and corrects outlines, re-assigns lesions, edits treatments;
- **researcher**: pseudonymised exports and cohort figures only (no photos, no patient codes);
- **admin**: everything, and manages users and the clinic's models, and reads the audit trail.

A database with no user yet is in **local mode**: one person on their own computer, acting with
every right, and still audited under their name. The first ``user add ... --role admin`` ends it;
from then on an identity that is not a user is refused.

An identity is an e-mail address (signed in through the clinic's identity provider) or a local
account name ``os:NAME`` (the CLI without ``--user``). The CLI does not authenticate: on a shared
computer, who may open the database file is the boundary, and the audit trail records who the
command said it was.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from woundtrack.errors import WoundtrackError
from woundtrack.record import db
from woundtrack.record.db import User

ROLES = ("nurse", "clinician", "researcher", "admin")

#: Each permission and the roles that have it.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_patients": frozenset({"nurse", "clinician", "admin"}),
    "upload": frozenset({"nurse", "clinician", "admin"}),
    "export": frozenset({"nurse", "clinician", "admin"}),
    "correct": frozenset({"clinician", "admin"}),
    "edit_treatments": frozenset({"clinician", "admin"}),
    "pseudonymised_export": frozenset(ROLES),
    "manage_users": frozenset({"admin"}),
    "read_audit": frozenset({"admin"}),
    "manage_models": frozenset({"admin"}),
}

#: The role of everyone while a database has no user (local mode).
LOCAL_MODE_ROLE = "admin"

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")
_OS_ACCOUNT = re.compile(r"^os:[A-Za-z0-9._-]{1,64}$")


class AccessError(WoundtrackError):
    """An identity that is not a user, or a role without the permission asked for."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    email: str
    role: str
    added_by: str
    added_at: datetime


def local_identity() -> str:
    """``os:NAME`` for the account running this process."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        name = "unknown"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64] or "unknown"
    return f"os:{name}"


def check_identity(identity: str) -> str:
    """An e-mail address (lower-cased) or ``os:NAME``; else an ``AccessError`` saying so."""
    text = identity.strip()
    if _OS_ACCOUNT.match(text):
        return text
    if _EMAIL.match(text):
        return text.lower()
    raise AccessError(
        f"{identity!r} is not a user identity: give an e-mail address (e.g. nurse@clinic.org) "
        "or a local account as os:NAME"
    )


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccessError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def _active(session: Session) -> sa.Select:
    return sa.select(User).where(User.removed_at.is_(None))


def local_mode(session: Session) -> bool:
    """True while the database has no active user."""
    return session.scalar(sa.select(sa.func.count()).select_from(_active(session).subquery())) == 0


def role_of(session: Session, identity: str) -> str:
    """The identity's role (``LOCAL_MODE_ROLE`` in local mode); ``AccessError`` if not a user."""
    if local_mode(session):
        return LOCAL_MODE_ROLE
    user = session.scalar(_active(session).where(User.email == identity))
    if user is None:
        raise AccessError(
            f"{identity} is not a user of this woundtrack database; ask an administrator to "
            f"add you: woundtrack user add {identity} --role nurse"
        )
    return user.role


def can(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def require(session: Session, identity: str, permission: str) -> str:
    """The identity's role, if it has ``permission``; else an ``AccessError`` naming both."""
    role = role_of(session, identity)
    if not can(role, permission):
        allowed = " or ".join(r for r in ROLES if r in PERMISSIONS[permission])
        raise AccessError(
            f"{identity} ({role}) may not {permission.replace('_', ' ')}: that needs the role "
            f"{allowed}; ask an administrator"
        )
    return role


def users(session: Session) -> list[UserInfo]:
    rows = session.scalars(_active(session).order_by(User.email))
    return [UserInfo(r.email, r.role, r.added_by, r.added_at) for r in rows]


def add_user(session: Session, identity: str, role: str, *, by: str) -> UserInfo:
    """Add a user, or change an existing user's role. The first user must be an admin (else no
    one could manage users after local mode ends)."""
    identity, role = check_identity(identity), check_role(role)
    if local_mode(session) and role != "admin":
        raise AccessError(
            f"the first user must be an admin (else nobody could add the others): "
            f"woundtrack user add {identity} --role admin"
        )
    row = session.scalar(sa.select(User).where(User.email == identity))
    if row is None:
        row = User(email=identity, role=role, added_by=by)
        session.add(row)
    else:
        row.role, row.added_by, row.added_at = role, by, db.utcnow()
        row.removed_at = row.removed_by = None
    session.flush()
    return UserInfo(row.email, row.role, row.added_by, row.added_at)


def remove_user(session: Session, identity: str, *, by: str) -> None:
    """Mark a user removed (the row stays, for the audit trail); the last admin stays."""
    identity = check_identity(identity)
    row = session.scalar(_active(session).where(User.email == identity))
    if row is None:
        raise AccessError(f"{identity} is not a user of this database")
    if row.role == "admin":
        admins = session.scalar(
            sa.select(sa.func.count()).select_from(
                _active(session).where(User.role == "admin").subquery()
            )
        )
        others = len(users(session)) - 1
        if admins == 1 and others > 0:
            raise AccessError(
                f"{identity} is the last admin; add another admin before removing this one"
            )
    row.removed_at, row.removed_by = db.utcnow(), by


__all__ = [
    "LOCAL_MODE_ROLE",
    "PERMISSIONS",
    "ROLES",
    "AccessError",
    "UserInfo",
    "add_user",
    "can",
    "check_identity",
    "check_role",
    "local_identity",
    "local_mode",
    "remove_user",
    "require",
    "role_of",
    "users",
]
