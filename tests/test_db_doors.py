"""The database door (issue 30, rows 9 and 10): what ``--db`` may open, create and write.

Row 9: a file that is not a woundtrack database is never changed (not even by a read-only
``export``), a read command never creates a database, and a folder that does not exist is never
created (only the app's own user data folder is). Row 10: a file that is not SQLite, a read-only
database, an unwritable folder and a number of sessions too large for its column each give one
line naming the database and the fix, never a traceback.

PostgreSQL: set WOUNDTRACK_TEST_PG to a server URL whose role may create databases; without it
those tests are skipped locally and fail in CI (CI=true).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from woundtrack.cli import main
from woundtrack.models import TreatmentEvent
from woundtrack.record import db
from woundtrack.record.store import Store, StoreError

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
WEEK = sorted(SAMPLES.glob("demo_week*.jpg"))[0]
READ_COMMANDS = {
    "export": ["export", "--patient", "P-1"],
    "healing": ["healing", "--patient", "P-1"],
    "timeline export": ["timeline", "export", "--patient", "P-1"],
    "backup": ["backup", "COPY"],
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _fingerprint(path: Path) -> tuple[str, float]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _other_application(path: Path) -> Path:
    """Another program's SQLite file: a table of its own, no woundtrack table."""
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        c.execute("INSERT INTO notes (text) VALUES ('keep me')")
    c.close()
    return path


def _woundtrack_db(tmp_path: Path) -> str:
    """A woundtrack database with one patient and one treatment."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    store = Store(url)
    store.add_treatments("P-1", [TreatmentEvent(kind="debridement", start_on=date(2026, 3, 2))])
    store.close()
    return url


def _read_argv(command: str, tmp_path: Path) -> list[str]:
    return [a if a != "COPY" else str(tmp_path / "copy.db") for a in READ_COMMANDS[command]]


# ---------------------------------------------------------------- row 9: what --db may open
@pytest.mark.parametrize("command", [*READ_COMMANDS, "import", "timeline import"])
def test_another_applications_sqlite_file_is_refused_and_left_unchanged(capsys, tmp_path, command):
    other = _other_application(tmp_path / "crm.db")
    before = _fingerprint(other)
    argv = {
        "import": ["import", str(WEEK), "--patient", "P-1"],
        "timeline import": [
            "timeline",
            "import",
            str(SAMPLES / "demo_timeline.csv"),
            "--patient",
            "P-1",
        ],
    }.get(command) or _read_argv(command, tmp_path)
    status, out, err = run(capsys, "--db", f"sqlite:///{other}", *argv)
    assert status == 2 and out == "" and "Traceback" not in err
    assert err == (
        f"woundtrack: sqlite:///{other} is not a woundtrack database (it holds the table notes); "
        "woundtrack changes nothing in it: check --db, or give a new file name for a new "
        "woundtrack database\n"
    )
    assert _fingerprint(other) == before
    assert sorted(os.listdir(tmp_path)) == ["crm.db"]  # no -wal, -shm or backup left behind


def test_another_applications_alembic_schema_is_refused(tmp_path):
    other = _other_application(tmp_path / "other.db")
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        c.execute("INSERT INTO alembic_version VALUES ('ae1027a6acf')")
    c.close()
    before = _fingerprint(other)
    with pytest.raises(StoreError, match=r"is not a woundtrack database \(its schema version "):
        Store(f"sqlite:///{other}")
    assert _fingerprint(other) == before


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_read_commands_never_create_a_database(capsys, tmp_path, command):
    missing = tmp_path / "w.db"
    status, out, err = run(capsys, "--db", f"sqlite:///{missing}", *_read_argv(command, tmp_path))
    assert (status, out) == (2, "")
    assert err == (
        f"woundtrack: no woundtrack database at sqlite:///{missing}; import a photo first or "
        "check --db\n"
    )
    assert os.listdir(tmp_path) == []
    # An empty file (touched, or left by a failed copy) is no database either, and stays empty.
    missing.touch()
    status, _, err = run(capsys, "--db", f"sqlite:///{missing}", *_read_argv(command, tmp_path))
    assert status == 2 and "no woundtrack database at" in err
    assert missing.stat().st_size == 0 and os.listdir(tmp_path) == ["w.db"]


@pytest.mark.parametrize("command", ["import", "timeline import", "export"])
def test_a_missing_folder_is_never_created(capsys, tmp_path, command):
    target = tmp_path / "no" / "such" / "w.db"
    argv = {
        "import": ["import", str(WEEK), "--patient", "P-1"],
        "timeline import": [
            "timeline",
            "import",
            str(SAMPLES / "demo_timeline.csv"),
            "--patient",
            "P-1",
        ],
        "export": ["export", "--patient", "P-1"],
    }[command]
    status, out, err = run(capsys, "--db", f"sqlite:///{target}", *argv)
    assert status == 2 and out == "" and "Traceback" not in err
    if command == "export":
        assert "no woundtrack database at" in err
    else:
        assert err == (
            f"woundtrack: cannot create the database sqlite:///{target}: the folder "
            f"{target.parent} does not exist; create the folder first (mkdir -p "
            f"{target.parent}) or check --db\n"
        )
    assert not (tmp_path / "no").exists()


def test_writing_commands_create_a_new_database(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    csv = str(SAMPLES / "demo_timeline.csv")
    assert run(capsys, "--db", url, "timeline", "import", csv, "--patient", "P-1")[0] == 0
    status, out, _ = run(capsys, "--db", url, "timeline", "export", "--patient", "P-1")
    assert status == 0 and out.startswith("kind,start_on")


def test_store_create_flag_and_folders(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with pytest.raises(StoreError, match=r"^no woundtrack database at sqlite:///.*w\.db; import"):
        Store(url, create=False)
    assert not (tmp_path / "w.db").exists()
    Store(url).close()  # create=True (the default) makes it
    Store(url, create=False).close()  # and now a reader opens it
    with pytest.raises(StoreError, match=r"the folder .*sub does not exist; create the folder"):
        Store(f"sqlite:///{tmp_path / 'sub' / 'w.db'}")
    with pytest.raises(StoreError, match=r"is a folder, not a database file; give a file name"):
        Store(f"sqlite:///{tmp_path}")
    # $WOUNDTRACK_DB is the user's choice: its folder is not created either.
    monkeypatch.setenv(db.DB_ENV, str(tmp_path / "env" / "w.db"))
    with pytest.raises(StoreError, match=r"the folder .*env does not exist; create the folder"):
        Store()
    assert not (tmp_path / "env").exists()


def test_the_apps_own_data_folder_is_created_on_first_start(tmp_path, monkeypatch):
    data = tmp_path / "home" / ".local" / "share" / "woundtrack"
    monkeypatch.delenv(db.DB_ENV, raising=False)
    monkeypatch.setattr(db.platformdirs, "user_data_dir", lambda *a, **k: str(data))
    assert db.default_db_url() == f"sqlite:///{data / 'woundtrack.record.db'}"
    store = Store()
    assert store.patients() == [] and (data / "woundtrack.record.db").is_file()
    store.close()


# ---------------------------------------------------------------- row 10: no raw traceback
def test_a_file_that_is_not_sqlite_is_refused(capsys, tmp_path):
    fake = tmp_path / "photo.db"
    shutil.copyfile(WEEK, fake)
    before = _fingerprint(fake)
    for argv in (["export", "--patient", "P-1"], ["import", str(WEEK), "--patient", "P-1"]):
        status, out, err = run(capsys, "--db", f"sqlite:///{fake}", *argv)
        assert (status, out) == (2, "") and "Traceback" not in err
        assert err == (
            f"woundtrack: cannot open the database sqlite:///{fake}: the file is not an SQLite "
            "database; check --db (a woundtrack database, or a new file name for a new one)\n"
        )
    assert _fingerprint(fake) == before
    with pytest.raises(StoreError, match=r"the file is not an SQLite database; check --db"):
        Store(f"sqlite:///{fake}")


def test_a_read_only_database_reads_and_refuses_writes_in_one_line(capsys, tmp_path):
    url = _woundtrack_db(tmp_path)
    path = tmp_path / "w.db"
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    status, out, _ = run(capsys, "--db", read_only, "timeline", "export", "--patient", "P-1")
    assert status == 0 and "debridement" in out
    csv = str(SAMPLES / "demo_timeline.csv")
    for argv in (
        ["timeline", "import", csv, "--patient", "P-1"],
        ["import", str(WEEK), "--patient", "P-1"],
    ):
        status, out, err = run(capsys, "--db", read_only, *argv)
        assert status == 1 and "Traceback" not in err
        shown = sa.engine.make_url(read_only).render_as_string(hide_password=True)
        assert err.endswith(
            f"cannot write to the database {shown}: it is "
            "read-only; make the file and its folder writable (chmod u+w), or copy the "
            "database to a writable folder\n"
        )
        assert err.count("\n") == 1
    store = Store(url)
    assert len(store.treatments("P-1")) == 1  # nothing written, nothing lost
    store.close()


def _unprivileged() -> list[str]:
    """The command prefix that runs a process without the right to ignore file permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("setpriv may not drop capabilities here: file permissions cannot be tested")
    return prefix


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_unprivileged(), sys.executable, "-m", "woundtrack.cli", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_read_only_database_file(tmp_path):
    url = _woundtrack_db(tmp_path)
    path = tmp_path / "w.db"
    path.chmod(0o444)
    try:
        done = _cli("--db", url, "timeline", "export", "--patient", "P-1")
        assert done.returncode == 0 and "debridement" in done.stdout, done.stderr
        done = _cli(
            "--db",
            url,
            "timeline",
            "import",
            str(SAMPLES / "demo_timeline.csv"),
            "--patient",
            "P-1",
        )
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr == (
            f"woundtrack: cannot write to the database {url}: it is read-only; make the file and "
            "its folder writable (chmod u+w), or copy the database to a writable folder\n"
        )
    finally:
        path.chmod(0o644)
    store = Store(url)
    assert len(store.treatments("P-1")) == 1
    store.close()


def test_an_unwritable_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    url = _woundtrack_db(folder)
    new = f"sqlite:///{folder / 'new.db'}"
    folder.chmod(0o555)
    try:
        csv = str(SAMPLES / "demo_timeline.csv")
        done = _cli("--db", new, "timeline", "import", csv, "--patient", "P-1")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr == (
            f"woundtrack: cannot open the database {new}: the file or its folder cannot be "
            "opened or written (unable to open database file); check that the folder exists "
            "and that you may write to it (chmod u+w), or check --db\n"
        )
        # SQLite cannot even read a WAL database whose folder it may not write (its -shm file).
        for argv in (["timeline", "import", csv], ["timeline", "export"]):
            done = _cli("--db", url, *argv, "--patient", "P-1")
            assert done.returncode == 2 and done.stdout == "", done.stderr
            assert done.stderr == (
                f"woundtrack: cannot write to the database {url}: it is read-only; make the file "
                "and its folder writable (chmod u+w), or copy the database to a writable folder\n"
            )
    finally:
        folder.chmod(0o755)
    assert not (folder / "new.db").exists()
    store = Store(url)
    assert len(store.treatments("P-1")) == 1
    store.close()


@pytest.mark.parametrize("sessions", [2**63, 2**31])
def test_sessions_too_large_for_the_column(capsys, tmp_path, sessions):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    timeline = tmp_path / "t.csv"
    timeline.write_text(f"kind,start_on,end_on,sessions\nHBOT,2026-03-02,2026-04-30,{sessions}\n")
    status, out, err = run(
        capsys, "--db", url, "timeline", "import", str(timeline), "--patient", "P-1"
    )
    assert status == 1 and out == "" and "Traceback" not in err
    assert err == (
        f"woundtrack: cannot store the timeline in {url}: hyperbaric_oxygen on 2026-03-02 has "
        f"{sessions} sessions, over the limit of 2147483647; write the real number of sessions "
        "(e.g. 36) or leave it empty\n"
    )
    store = Store(url)
    event = TreatmentEvent(kind="HBOT", start_on=date(2026, 3, 2), sessions=sessions)
    for write in (store.add_treatments, store.replace_treatments):
        with pytest.raises(StoreError, match=r"sessions, over the limit of 2147483647; write"):
            write("P-1", [event])
    assert store.patients() == []
    store.close()


# ---------------------------------------------------------------- PostgreSQL
def _pg_tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_postgresql_read_commands_never_create_and_another_schema_is_refused(capsys, pg_url):
    shown = sa.engine.make_url(pg_url).render_as_string(hide_password=True)
    status, _, err = run(capsys, "--db", pg_url, "export", "--patient", "P-1")
    assert status == 2
    assert (
        err
        == f"woundtrack: no woundtrack database at {shown}; import a photo first or check --db\n"
    )
    assert _pg_tables(pg_url) == set()
    engine = sa.create_engine(pg_url)
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE invoices (id integer)")
    engine.dispose()
    status, _, err = run(capsys, "--db", pg_url, "import", str(WEEK), "--patient", "P-1")
    assert status == 2 and "is not a woundtrack database (it holds the table invoices)" in err
    password = sa.engine.make_url(pg_url).password
    assert f":{password}@" not in err and ":***@" in err
    assert _pg_tables(pg_url) == {"invoices"}


def test_postgresql_sessions_too_large_for_the_column(pg_url):
    store = Store(pg_url)
    event = TreatmentEvent(kind="HBOT", start_on=date(2026, 3, 2), sessions=2**31)
    with pytest.raises(StoreError, match=r"sessions, over the limit of 2147483647"):
        store.add_treatments("P-1", [event])
    ok = TreatmentEvent(kind="HBOT", start_on=date(2026, 3, 2), sessions=2**31 - 1)
    assert store.add_treatments("P-1", [ok]) == 1
    assert store.treatments("P-1")[0].sessions == 2**31 - 1
    store.close()


def test_a_backup_never_creates_a_folder_and_never_leaves_half_a_file(capsys, tmp_path):
    url = _woundtrack_db(tmp_path)
    target = tmp_path / "no" / "such" / "copy.db"
    status, out, err = run(capsys, "--db", url, "backup", str(target))
    assert (status, out) == (1, "") and "Traceback" not in err
    assert err == (
        f"woundtrack: cannot write the backup {target}: the folder {target.parent} does not "
        f"exist; create the folder first (mkdir -p {target.parent})\n"
    )
    assert not (tmp_path / "no").exists()
    status, out, err = run(capsys, "--db", url, "backup", str(tmp_path))
    assert status == 1 and "exists already" in err


def test_a_backup_into_an_unwritable_folder(tmp_path):
    url = _woundtrack_db(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        done = _cli("--db", url, "backup", str(locked / "copy.db"))
    finally:
        locked.chmod(0o755)
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr == (
        f"woundtrack: cannot write the backup {locked / 'copy.db'}: unable to open database file; "
        f"check that you may write to {locked} (chmod u+w) and that its disk has room, or give "
        "another file\n"
    )
    assert os.listdir(locked) == []
