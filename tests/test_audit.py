"""Users, roles and the tamper-evident audit trail, on SQLite and PostgreSQL (``db_url``).

Tampering is done as an intruder would: plain SQL through a separate connection, never through
woundtrack.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from woundtrack.models import TreatmentEvent
from woundtrack.record import audit
from woundtrack.record.access import AccessError
from woundtrack.record.store import Store

ADMIN, NURSE, CLINICIAN, RESEARCHER = (
    "admin@clinic.org",
    "nurse@clinic.org",
    "clinician@clinic.org",
    "researcher@clinic.org",
)
STS = TreatmentEvent(
    kind="sodium_thiosulfate", start_on=date(2026, 3, 2), end_on=date(2026, 5, 25), dose="25 g"
)
HBOT = TreatmentEvent(kind="hyperbaric_oxygen", start_on=date(2026, 3, 9), sessions=36)


def _team(url: str) -> Store:
    """A database with an admin, a nurse, a clinician and a researcher; returns the admin's."""
    first = Store(url, actor=ADMIN)
    first.add_user(ADMIN, "admin")
    for who, role in ((NURSE, "nurse"), (CLINICIAN, "clinician"), (RESEARCHER, "researcher")):
        first.add_user(who, role)
    return first


def _scripted_session(url: str) -> Store:
    admin = _team(url)
    clinician = admin.as_actor(CLINICIAN)
    clinician.add_treatments("CUA-007", [STS])
    clinician.replace_treatments("CUA-007", [STS, HBOT])
    admin.as_actor(NURSE).record_event("view", patient="CUA-007", permission="view_patients")
    admin.as_actor(NURSE).record_event("export", patient="CUA-007", permission="export")
    return admin


def _sql(url: str, statement: str, **params) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text(statement), params)
    engine.dispose()


def test_a_fresh_database_verifies_with_no_entries(db_url):
    check = Store(db_url).verify_audit()
    assert (check.ok, check.entries, check.head_hash) == (True, 0, audit.GENESIS_HASH)


def test_a_scripted_session_is_recorded_in_order_and_verifies(db_url):
    admin = _scripted_session(db_url)
    records = admin.audit_entries()
    assert [(r.actor, r.action, r.patient) for r in records] == [
        (ADMIN, "user_add", None),
        (ADMIN, "user_add", None),
        (ADMIN, "user_add", None),
        (ADMIN, "user_add", None),
        (CLINICIAN, "treatments_add", "CUA-007"),
        (CLINICIAN, "treatments_replace", "CUA-007"),
        (NURSE, "view", "CUA-007"),
        (NURSE, "export", "CUA-007"),
    ]
    assert records[1].detail == {"user": NURSE, "role": "nurse"}
    # The old timeline stays readable: the replaced course is in the entry.
    replaced = records[5].detail
    assert [e["kind"] for e in replaced["before"]] == ["sodium_thiosulfate"]
    assert [e["kind"] for e in replaced["after"]] == ["sodium_thiosulfate", "hyperbaric_oxygen"]
    check = admin.verify_audit()
    assert check.ok and check.entries == 8 and check.head_hash == records[-1].entry_hash
    assert [r.id for r in admin.audit_entries(patient="CUA-007")] == [5, 6, 7, 8]


@pytest.mark.parametrize(
    ("tamper", "first_bad", "said"),
    [
        ("UPDATE audit_entries SET actor = 'someone@else.org' WHERE id = 3", 3, "entry 3 was "),
        ("UPDATE audit_entries SET detail = '{}' WHERE id = 6", 6, "entry 6 was changed"),
        ("DELETE FROM audit_entries WHERE id = 4", 4, "entry 4 was removed"),
        ("DELETE FROM audit_entries WHERE id = 8", 8, "removed"),
        ("DELETE FROM audit_entries", 1, "removed"),
        ("DELETE FROM audit_head", 8, "head row was removed"),
        (  # its first two hex digits changed (a hash that starts with "ff" starts with "00")
            "UPDATE audit_head SET last_hash = CASE WHEN substr(last_hash, 1, 2) = 'ff' "
            "THEN '00' ELSE 'ff' END || substr(last_hash, 3)",
            8,
            "differs",
        ),
    ],
)
def test_any_row_changed_or_removed_with_plain_sql_is_found(db_url, tamper, first_bad, said):
    admin = _scripted_session(db_url)
    _sql(db_url, tamper)
    check = admin.verify_audit()
    assert not check.ok
    assert check.first_bad_id == first_bad
    assert said in check.problem


def test_a_changed_entry_with_its_hash_recomputed_is_still_found(db_url):
    admin = _scripted_session(db_url)
    engine = sa.create_engine(db_url)
    with engine.begin() as c:
        row = c.execute(sa.text("SELECT * FROM audit_entries WHERE id = 5")).mappings().one()
        forged = audit.entry_hash(
            row["prev_hash"],
            id=5,
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            patient="CUA-999",
            detail=row["detail"],
        )
        c.execute(
            sa.text("UPDATE audit_entries SET patient = 'CUA-999', entry_hash = :h WHERE id = 5"),
            {"h": forged},
        )
    engine.dispose()
    check = admin.verify_audit()
    assert not check.ok and check.first_bad_id == 5
    assert "entry 6 does not follow entry 5" in check.problem


def test_roles_decide_who_may_write(db_url):
    admin = _team(db_url)
    nurse, researcher = admin.as_actor(NURSE), admin.as_actor(RESEARCHER)
    with pytest.raises(AccessError, match=r"nurse@clinic.org \(nurse\) may not edit treatments"):
        nurse.add_treatments("CUA-007", [STS])
    with pytest.raises(AccessError, match="may not manage users"):
        nurse.add_user("x@clinic.org", "admin")
    with pytest.raises(AccessError, match="may not view patients"):
        researcher.record_event("view", patient="CUA-007", permission="view_patients")
    with pytest.raises(AccessError, match="may not read audit"):
        researcher.audit_entries()
    stranger = admin.as_actor("stranger@elsewhere.org")
    with pytest.raises(AccessError, match="is not a user of this woundtrack database"):
        stranger.add_treatments("CUA-007", [STS])
    # Refused writes leave nothing behind: no timeline, no audit entry.
    assert admin.patients() == []
    assert [r.action for r in admin.audit_entries()] == ["user_add"] * 4
    assert admin.verify_audit().ok


def test_local_mode_until_the_first_admin(db_url):
    store = Store(db_url)  # the OS account: os:NAME
    assert store.local_mode() and store.role() == "admin"
    store.add_treatments("CUA-007", [STS])  # one person on a laptop may do everything
    with pytest.raises(AccessError, match="the first user must be an admin"):
        store.add_user(NURSE, "nurse")
    store.add_user(ADMIN, "admin")
    assert not store.local_mode()
    with pytest.raises(AccessError, match=r"os:\S+ is not a user"):
        store.add_treatments("CUA-007", [HBOT])
    actions = [(r.actor.startswith("os:"), r.action) for r in store.as_actor(ADMIN).audit_entries()]
    assert actions == [(True, "treatments_add"), (True, "user_add")]


def test_user_list_change_and_remove(db_url):
    admin = _team(db_url)
    assert [(u.email, u.role) for u in admin.users()] == [
        (ADMIN, "admin"),
        (CLINICIAN, "clinician"),
        (NURSE, "nurse"),
        (RESEARCHER, "researcher"),
    ]
    admin.add_user("Nurse@Clinic.org", "clinician")  # e-mails are compared lower-cased
    assert admin.as_actor(NURSE).role() == "clinician"
    admin.remove_user(NURSE)
    with pytest.raises(AccessError, match="is not a user"):
        admin.as_actor(NURSE).role()
    with pytest.raises(AccessError, match="is the last admin"):
        admin.remove_user(ADMIN)
    with pytest.raises(AccessError, match="unknown role 'doctor'"):
        admin.add_user("x@clinic.org", "doctor")
    with pytest.raises(AccessError, match="is not a user identity"):
        admin.add_user("not an address", "nurse")


def test_two_writers_at_once_keep_one_chain(db_url):
    admin = _team(db_url)
    errors: list[Exception] = []

    def write(who: str, n: int) -> None:
        store = Store(db_url, actor=who)
        try:
            for i in range(n):
                store.record_event("view", patient=f"P-{i:03d}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=write, args=(w, 15)) for w in (NURSE, CLINICIAN)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = admin.verify_audit()
    assert check.ok and check.entries == 4 + 30


# --------------------------------------------------------------------------------------------
# The CLI: --user, user, audit


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    from woundtrack.cli import main

    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_users_roles_and_audit(capsys, tmp_path):
    import json
    import sqlite3

    db = f"sqlite:///{tmp_path / 'w.db'}"
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("kind,start_on,end_on,dose\nsodium_thiosulfate,2026-03-02,,25 g\n")
    assert _cli(capsys, "--db", db, "user", "add", ADMIN, "--role", "admin")[0] == 0
    status, out, _ = _cli(
        capsys, "--db", db, "--user", ADMIN, "user", "add", NURSE, "--role", "nurse"
    )
    assert status == 0 and out.strip() == f"{NURSE}: nurse"
    # Local mode has ended: the OS account is no longer anyone here.
    status, _, err = _cli(capsys, "--db", db, "user", "list")
    assert status == 1 and "is not a user of this woundtrack database" in err
    status, _, err = _cli(
        capsys,
        "--db",
        db,
        "--user",
        NURSE,
        "timeline",
        "import",
        str(csv_file),
        "--patient",
        "CUA-007",
    )
    assert status == 1
    assert err.strip() == (
        "woundtrack: nurse@clinic.org (nurse) may not edit treatments: that needs the role "
        "clinician or admin; ask an administrator"
    )
    assert (
        _cli(
            capsys,
            "--db",
            db,
            "--user",
            ADMIN,
            "timeline",
            "import",
            str(csv_file),
            "--patient",
            "CUA-007",
        )[0]
        == 0
    )
    assert _cli(capsys, "--db", db, "--user", NURSE, "export", "--patient", "CUA-007")[0] == 0
    status, out, _ = _cli(capsys, "--db", db, "--user", ADMIN, "audit", "list", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    # The first admin was added in local mode, by the OS account (no --user given).
    assert rows[0]["actor"].startswith("os:") and rows[0]["action"] == "user_add"
    assert rows[0]["detail"] == {"user": ADMIN, "role": "admin"}
    assert [(r["actor"], r["action"], r["patient"]) for r in rows[1:]] == [
        (ADMIN, "user_add", None),
        (ADMIN, "treatments_add", "CUA-007"),
        (NURSE, "export", "CUA-007"),
    ]
    status, out, _ = _cli(capsys, "--db", db, "audit", "verify")
    assert status == 0 and out.startswith("audit trail intact: 4 entries;")
    with sqlite3.connect(tmp_path / "w.db") as c:
        c.execute("UPDATE audit_entries SET action = 'view' WHERE id = 4")
    status, _, err = _cli(capsys, "--db", db, "audit", "verify")
    assert status == 1
    assert err.strip() == "woundtrack: audit trail broken at entry 4: entry 4 was changed"


def test_the_research_export_names_nobody(capsys, seeded_db_file, tmp_path):
    import csv
    import io
    import shutil

    from woundtrack.record.store import PSEUDONYMISED_COLUMNS

    path = tmp_path / "w.db"
    shutil.copyfile(seeded_db_file, path)
    db = f"sqlite:///{path}"
    admin = _team(db)
    identified = admin.export_csv("DEMO-001")
    status, out, _ = _cli(capsys, "--db", db, "--user", RESEARCHER, "export", "--pseudonymised")
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == PSEUDONYMISED_COLUMNS
    assert len(rows) == identified.count("\n") - 1
    assert {r["subject"] for r in rows} == {rows[0]["subject"]}
    assert rows[0]["subject"].startswith("S-") and rows[0]["day"] == "0"
    for secret in ("DEMO-001", "demo_week", "os:", ADMIN):
        assert secret not in out
    # Every date is moved, by one offset (a shift by whole weeks may land a weekly visit on
    # another visit's real day: that names no visit's own date)
    real = list(csv.DictReader(io.StringIO(identified)))
    moved = {
        date.fromisoformat(r["taken_on_shifted"]) - date.fromisoformat(row["taken_at"][:10])
        for r, row in zip(rows, real, strict=True)
    }
    assert len(moved) == 1 and moved != {timedelta(0)}
    # The same subject every time; the shift keeps the intervals between visits.
    assert _cli(capsys, "--db", db, "--user", NURSE, "export", "--pseudonymised")[1] == out
    days = [int(r["day"]) for r in rows if r["lesion"] == "L1"]
    assert days == sorted(days) and days[1] - days[0] == 7
    # A researcher gets nothing identified.
    status, _, err = _cli(
        capsys, "--db", db, "--user", RESEARCHER, "export", "--patient", "DEMO-001"
    )
    assert status == 1 and "may not export" in err
    assert [e.action for e in admin.audit_entries()][-2:] == ["export", "export"]
