"""Command line: ``measure`` and ``sticker`` on photos; ``evaluate`` against annotated masks;
``import``, ``timeline``, ``export``, ``healing`` and ``backup`` on the longitudinal record
(``--db URL`` or ``$WOUNDTRACK_DB``), acting as ``--user`` (else the OS account); ``user`` and
``audit`` to manage who may do what and to read and check what was done.

A thin layer: parse, call the library, print, and map errors to exit codes (0 all good, 1 some
photo failed, 2 bad usage). No traceback reaches a user for an error they can fix.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import TextIO

from woundtrack import __version__
from woundtrack.errors import ImageError, WoundtrackError
from woundtrack.image.calibration import DEFAULT_MARKER_MM
from woundtrack.image.pipeline import SEGMENTERS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _iso_date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="woundtrack",
        description="Calibrated wound measurements from dressing-change photos.",
    )
    parser.add_argument("--version", action="version", version=f"woundtrack {__version__}")
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="database URL (sqlite:///file.db or postgresql+psycopg://...); default "
        "$WOUNDTRACK_DB, else an SQLite file in your user data folder. Only import and timeline "
        "import create a new database, and never its folder",
    )
    parser.add_argument(
        "--user",
        metavar="EMAIL",
        default=None,
        help="act on the record as this user (their role applies and the audit trail names "
        "them); default your OS account, as os:NAME",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = commands.add_parser(
        "measure",
        help="measure wound photos",
        description="Measure wound area, tissue types and periwound erythema on each photo.",
        epilog="example: woundtrack measure IMG_0412.HEIC IMG_0413.jpg --json --overlay-out out/",
    )
    m.add_argument("photos", nargs="+", metavar="PHOTO", type=Path)
    m.add_argument(
        "--marker-mm",
        type=_positive_float,
        default=DEFAULT_MARKER_MM,
        help="side of the sticker's black square in mm (default 20)",
    )
    m.add_argument(
        "--mm-per-px",
        type=_positive_float,
        default=None,
        help="manual scale for photos with a ruler and no sticker (no tilt correction)",
    )
    m.add_argument("--json", action="store_true", help="one JSON object per photo per line")
    m.add_argument("--labels-out", type=Path, metavar="DIR", help="write DIR/<stem>.png label maps")
    m.add_argument("--overlay-out", type=Path, metavar="DIR", help="write DIR/<stem>.jpg overlays")

    s = commands.add_parser(
        "sticker",
        help="write a printable calibration sticker sheet (PDF and 300 dpi PNG)",
        description="Write an A4 sheet of ArUco calibration stickers to print at 100 %% scale.",
        epilog="example: woundtrack sticker --out stickers/ --marker-mm 20",
    )
    s.add_argument(
        "--out",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="folder for the PDF and PNG (default: the current folder)",
    )
    s.add_argument(
        "--marker-mm",
        type=_positive_float,
        default=DEFAULT_MARKER_MM,
        help="side of each sticker's black square in mm (default 20)",
    )

    v = commands.add_parser(
        "evaluate",
        help="score a segmenter against annotated wound masks or tissue annotations",
        description="Segment each photo of --images and compare its wound bed with the mask of "
        "the same file stem in --masks (brighter than mid-grey = wound), or its tissues with the "
        "annotation of the same stem in --tissue-masks (0 not wound, 1 slough, 2 granulation, "
        "3 callus, 4 eschar, 255 not annotated). A file that cannot be scored is reported and "
        "skipped; the others are scored.",
        epilog="example: woundtrack evaluate --images fuseg/validation/images "
        "--masks fuseg/validation/labels --segmenter classical --table scores.csv",
    )
    v.add_argument("--images", type=Path, required=True, metavar="DIR", help="folder of photos")
    truth = v.add_mutually_exclusive_group(required=True)
    truth.add_argument(
        "--masks",
        type=Path,
        metavar="DIR",
        help="folder of masks, one per photo with the same stem (ulcer_12.jpg -> ulcer_12.png)",
    )
    truth.add_argument(
        "--tissue-masks",
        type=Path,
        metavar="DIR",
        help="folder of tissue annotations, one single-channel PNG per photo with the same stem",
    )
    v.add_argument(
        "--table",
        type=Path,
        metavar="PATH.csv",
        help="write the per-image scores to this CSV (no table without it)",
    )
    v.add_argument(
        "--segmenter",
        choices=SEGMENTERS,
        default="learned",
        help="segmenter to score (default learned)",
    )
    v.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    _add_record_commands(commands)
    return parser


def _add_record_commands(commands) -> None:
    i = commands.add_parser(
        "import",
        help="store and measure photos of a patient",
        description="Store each photo (location tags removed), measure it and file its lesions. "
        "A photo that fails is reported and skipped; the others are imported.",
        epilog="example: woundtrack --db sqlite:///wounds.db import week*.jpg --patient CUA-007",
    )
    i.add_argument(
        "photos", nargs="*", metavar="PHOTO", type=Path, help="photos (JPEG, PNG, HEIC, DICOM, ...)"
    )
    i.add_argument("--patient", help="pseudonymous patient code, e.g. CUA-007")
    i.add_argument(
        "--fhir",
        type=Path,
        metavar="FILE.json",
        help="a FHIR bundle written by `export --format fhir`: its treatments, and its visits "
        "where the bundle carries the photos (--with-photos); the patient comes from the bundle",
    )
    i.add_argument("--lesion", default=None, help="label of the (largest) lesion, e.g. L1")
    i.add_argument("--site", default="", help="body site of a new lesion, e.g. 'left calf'")
    i.add_argument("--marker-mm", type=_positive_float, default=DEFAULT_MARKER_MM)
    i.add_argument("--json", action="store_true", help="one JSON object per photo per line")

    t = commands.add_parser(
        "timeline",
        help="import or export a patient's treatment timeline (CSV)",
        epilog="example: woundtrack timeline import treatments.csv --patient CUA-007",
    )
    t.add_argument("action", choices=["import", "export"])
    t.add_argument("file", nargs="?", type=Path, metavar="FILE.csv", help="CSV to import")
    t.add_argument("--patient", required=True)

    e = commands.add_parser(
        "export",
        help="export a patient's measurements",
        epilog="example: woundtrack export --patient CUA-007 --format csv > cua007.csv; "
        "woundtrack export --patient CUA-007 --format fhir --out cua007.json; "
        "woundtrack export --patient CUA-007 --format dicom --out cua007-dicom",
    )
    e.add_argument("--patient", help="the patient (not with --pseudonymised)")
    e.add_argument(
        "--format",
        choices=["csv", "fhir", "dicom"],
        default="csv",
        help="csv (standard output), fhir (an R4 Bundle, JSON) or dicom (a folder: each photo "
        "as a VL Photographic Image and its tissue map as a DICOM Segmentation)",
    )
    e.add_argument(
        "--out", type=Path, default=None, help="file (fhir) or new folder (dicom) to write"
    )
    e.add_argument(
        "--with-photos",
        action="store_true",
        help="fhir: put the photos' bytes and label maps in the bundle (needed to import visits)",
    )
    e.add_argument(
        "--transaction",
        action="store_true",
        help="fhir: a transaction bundle (idempotent PUTs) instead of a collection",
    )
    e.add_argument(
        "--pseudonymised",
        action="store_true",
        help="every patient, for research: subjects instead of codes, dates shifted per patient, "
        "no photo, file name or person (the researcher role may only do this)",
    )

    h = commands.add_parser(
        "healing",
        help="healing figures per lesion (PAR, rates, projected closure)",
        epilog="example: woundtrack healing --patient CUA-007 --json",
    )
    h.add_argument("--patient", required=True)
    h.add_argument("--json", action="store_true")

    b = commands.add_parser(
        "backup",
        help="write a consistent copy of the whole database to a new SQLite file",
        epilog="example: woundtrack backup wounds-2026-11-26.db",
    )
    b.add_argument("out", type=Path, metavar="FILE.db")

    u = commands.add_parser(
        "user",
        help="add, list or remove the users of the record and their roles (admins)",
        description="Roles: nurse (upload, review, export), clinician (also correct outlines and "
        "edit treatments), researcher (pseudonymised figures only), admin (everything, users, "
        "audit). Until the first admin is added, the database is in local mode: whoever opens "
        "it has every right.",
        epilog="example: woundtrack user add nurse@clinic.org --role nurse",
    )
    u.add_argument("action", choices=["add", "list", "remove"])
    u.add_argument("email", nargs="?", metavar="EMAIL", help="e-mail address, or os:NAME")
    u.add_argument("--role", choices=["nurse", "clinician", "researcher", "admin"])

    a = commands.add_parser(
        "audit",
        help="check the audit trail's chain of hashes, or list what was done (admins)",
        epilog="example: woundtrack audit verify && woundtrack audit list --since 2026-11-01",
    )
    a.add_argument("action", choices=["verify", "list"])
    a.add_argument("--since", type=_iso_date, default=None, metavar="YYYY-MM-DD")
    a.add_argument("--patient", default=None)
    a.add_argument("--json", action="store_true", help="one JSON object per entry per line")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``woundtrack`` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if args.command == "measure":
        return _measure(args, sys.stdout, sys.stderr)
    if args.command == "sticker":
        return _sticker(args, sys.stdout, sys.stderr)
    if args.command == "evaluate":
        return _evaluate(args, sys.stdout, sys.stderr)
    return _record_command(args, sys.stdout, sys.stderr)


def _record_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record.store import Store

    # Only the commands that write may create a database (a missing file, an empty one); the
    # readers refuse it, so a mistyped --db is never answered from a new, empty database.
    writes = (
        args.command == "import"
        or (args.command == "timeline" and args.action == "import")
        or (args.command == "user" and args.action == "add")
    )
    try:
        store = Store(args.db, create=writes, actor=args.user)
    except WoundtrackError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_USAGE
    try:
        handler = {
            "import": _import,
            "timeline": _timeline,
            "export": _export,
            "healing": _healing,
            "backup": _backup,
            "user": _user,
            "audit": _audit,
        }[args.command]
        return handler(store, args, out, err)
    except WoundtrackError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_FAILED
    finally:
        store.close()


def _import(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Import each photo in its own transaction; a failed photo is reported and skipped."""
    from tqdm import tqdm

    from woundtrack.image.pipeline import failure_record
    from woundtrack.record.ingest import import_photo
    from woundtrack.record.store import check_lesion_label, check_patient_code

    if args.fhir is not None:
        if args.photos or args.patient:
            print(
                "woundtrack: import --fhir takes the patient and photos from the bundle; "
                "leave out --patient and the photos",
                file=err,
            )
            return EXIT_USAGE
        return _import_fhir(store, args, out, err)
    if not args.photos or not args.patient:
        print("woundtrack: import needs photos and --patient P (or --fhir FILE.json)", file=err)
        return EXIT_USAGE
    check_patient_code(args.patient)
    if args.lesion is not None:
        check_lesion_label(args.lesion)  # once, before any photo is read
    failed = 0
    for path in tqdm(
        args.photos, desc="importing", unit="photo", file=err, disable=len(args.photos) < 2
    ):
        try:
            if not path.is_file():
                raise WoundtrackError(f"{path.name}: no such file; check the path and name")
            result = import_photo(
                store,
                path.read_bytes(),
                name=path.name,
                patient=args.patient,
                lesion=args.lesion,
                body_site=args.site,
                marker_mm=args.marker_mm,
            )
        except WoundtrackError as exc:
            failed += 1
            tqdm.write(f"woundtrack: {exc}", file=err)
            if args.json:
                print(json.dumps(failure_record(path.name, str(exc))), file=out, flush=True)
            continue
        if args.json:
            record = {
                "file": result.file,
                "ok": True,
                "error": None,
                "status": result.status,
                "visit_id": result.visit_id,
                "photo_sha256": result.photo_sha256,
                "lesions": list(result.lesion_labels),
                "warnings": list(result.warnings),
            }
            print(json.dumps(record, ensure_ascii=False), file=out, flush=True)
        elif result.status == "duplicate":
            tqdm.write(
                f"{result.file}: already stored for {args.patient} (visit {result.visit_id}); "
                "not imported again",
                file=out,
            )
        else:
            what = ", ".join(result.lesion_labels) or "no wound found"
            tqdm.write(
                f"{result.file}: {result.status} (visit {result.visit_id}; {what})", file=out
            )
    return EXIT_FAILED if failed else EXIT_OK


def _import_fhir(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record.exchange import import_fhir

    path: Path = args.fhir
    if not path.is_file():
        print(f"woundtrack: {path.name}: no such file; check the path and name", file=err)
        return EXIT_FAILED
    done = import_fhir(store, path.read_bytes(), name=path.name, by=store.actor)
    print(
        f"{path.name}: patient {done.patient}: {done.treatments_added} treatment event(s) added, "
        f"{done.treatments_total - done.treatments_added} already there",
        file=out,
    )
    for r in done.visits:
        what = ", ".join(r.lesion_labels) or "no wound found"
        if r.status == "duplicate":
            what = "already stored, not imported again"
        print(f"{r.file}: {r.status} (visit {r.visit_id}; {what})", file=out)
    for line in done.skipped:
        print(f"woundtrack: {line}", file=err)
    for line in done.differences:
        print(f"woundtrack: warning: {line}", file=err)
    return EXIT_FAILED if done.skipped else EXIT_OK


def _timeline(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.analysis.timeline_csv import read_timeline_csv, write_timeline_csv

    if args.action == "export":
        text = write_timeline_csv(store.treatments(args.patient))
        _audited(store, err, "export", args.patient, {"what": "timeline"}, "export")
        out.write(text)
        return EXIT_OK
    if args.file is None:
        print("woundtrack: timeline import needs the CSV file to read", file=err)
        return EXIT_USAGE
    events = read_timeline_csv(args.file)
    added = store.add_treatments(args.patient, events)
    print(
        f"{args.file.name}: {added} treatment event(s) added, {len(events) - added} already there",
        file=out,
    )
    return EXIT_OK


def _export(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.pseudonymised:
        if args.patient:
            print(
                "woundtrack: --pseudonymised exports every patient; leave out --patient", file=err
            )
            return EXIT_USAGE
        out.write(store.pseudonymised_csv())
        return EXIT_OK
    if not args.patient:
        print("woundtrack: export needs --patient P (or --pseudonymised)", file=err)
        return EXIT_USAGE
    if args.format == "csv":
        text = store.export_csv(args.patient)
        _audited(store, err, "export", args.patient, {"format": args.format}, "export")
        out.write(text)
        return EXIT_OK
    if args.format == "dicom":
        return _export_dicom(store, args, out, err)
    return _export_fhir(store, args, out, err)


def _export_fhir(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record.exchange import fhir_bundle, write_json

    if args.out is not None and args.out.exists():
        print(f"woundtrack: {args.out} exists; choose a new file name", file=err)
        return EXIT_USAGE
    bundle = fhir_bundle(
        store, args.patient, with_photos=args.with_photos, transaction=args.transaction
    )
    detail = {"format": "fhir", "with_photos": args.with_photos, "entries": len(bundle["entry"])}
    _audited(store, err, "export", args.patient, detail, "export")
    if args.out is None:
        json.dump(bundle, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return EXIT_OK
    write_json(bundle, args.out)
    print(f"{args.out}: FHIR R4 bundle, {len(bundle['entry'])} resources", file=out)
    return EXIT_OK


def _export_dicom(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record.exchange import dicom_files

    if args.out is None:
        print("woundtrack: export --format dicom needs --out FOLDER (a new folder)", file=err)
        return EXIT_USAGE
    if args.out.exists():
        print(f"woundtrack: {args.out} exists; choose a new folder name", file=err)
        return EXIT_USAGE
    written = dicom_files(store, args.patient, args.out)
    _audited(
        store, err, "export", args.patient, {"format": "dicom", "files": len(written)}, "export"
    )
    print(f"{args.out}: {len(written)} DICOM files (photos and segmentations)", file=out)
    return EXIT_OK


def _audited(store, err: TextIO, action: str, patient, detail: dict, permission: str) -> None:
    """Check the user's permission for a read and record it; a database that cannot be
    written (a read-only copy) is still read, with a warning that nothing was recorded."""
    problem = store.record_event(
        action, patient=patient, detail=detail, permission=permission, reading=True
    )
    if problem:
        print(f"woundtrack: warning: {problem}", file=err)


def _user(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action == "list":
        for u in store.users():
            print(f"{u.email}\t{u.role}\tadded by {u.added_by} on {u.added_at:%Y-%m-%d}", file=out)
        if store.local_mode():
            print("no users yet: local mode (whoever opens the database has every right)", file=out)
        return EXIT_OK
    if not args.email:
        print(f"woundtrack: user {args.action} needs the user's e-mail address", file=err)
        return EXIT_USAGE
    if args.action == "add":
        if not args.role:
            print("woundtrack: user add needs --role nurse|clinician|researcher|admin", file=err)
            return EXIT_USAGE
        info = store.add_user(args.email, args.role)
        print(f"{info.email}: {info.role}", file=out)
        return EXIT_OK
    store.remove_user(args.email)
    print(f"{args.email}: removed (kept in the audit trail)", file=out)
    return EXIT_OK


def _audit(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action == "verify":
        check = store.verify_audit()
        if check.ok:
            print(
                f"audit trail intact: {check.entries} entries; newest hash {check.head_hash} "
                "(keep it elsewhere to compare next time)",
                file=out,
            )
            return EXIT_OK
        print(
            f"woundtrack: audit trail broken at entry {check.first_bad_id}: {check.problem}",
            file=err,
        )
        return EXIT_FAILED
    for r in store.audit_entries(since=args.since, patient=args.patient):
        if args.json:
            record = {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "patient": r.patient,
                "detail": r.detail,
            }
            print(json.dumps(record, ensure_ascii=False), file=out)
        else:
            detail = json.dumps(r.detail, ensure_ascii=False, sort_keys=True)
            print(f"{r.id}\t{r.at}\t{r.actor}\t{r.action}\t{r.patient or ''}\t{detail}", file=out)
    return EXIT_OK


def _healing(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.analysis.report import healing_summary, healing_summary_json

    summary = healing_summary(store.series(args.patient), store.treatments(args.patient))
    _audited(store, err, "view", args.patient, {"what": "healing"}, "view_patients")
    if args.json:
        print(json.dumps(healing_summary_json(summary), ensure_ascii=False, indent=2), file=out)
        return EXIT_OK
    for lesion, metrics in summary.lesions.items():
        print(_healing_lines(args.patient, lesion, metrics), file=out)
    for lesion, why in summary.skipped.items():
        print(f"{args.patient} {lesion}: {why}", file=out)
    return EXIT_OK


def _fmt(value, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def _healing_lines(patient: str, lesion: str, m) -> str:
    """The human-readable lines of one lesion's ``HealingMetrics``."""
    c = m.closure
    closure = (
        f"projected closure {c.projected_on} ({c.earliest_on} to {c.latest_on})"
        if c.projected_on
        else f"no closure projection: {c.refused_reason}"
    )
    lines = [
        f"{patient} {lesion}: {m.baseline_area_cm2:.2f} -> {m.latest_area_cm2:.2f} cm² "
        f"({-m.pct_area_reduction:+.1f} %) from {m.baseline_on} to {m.latest_on}, "
        f"{m.n_visits} visits",
        f"  PAR at week 4 {_fmt(m.par_week4_pct, '.1f', ' %')}; Gilman "
        f"{_fmt(m.gilman_cm_per_week, '.3f', ' cm/week')}; "
        f"{_fmt(m.pct_change_per_week, '+.1f', ' %/week')} (half-life "
        f"{_fmt(m.half_life_days, '.0f', ' days')})",
        f"  {closure}" + (f"; healed on {m.healed_on}" if m.healed_on else ""),
    ]
    for p in m.phases:
        if p.n_visits:
            lines.append(
                f"  {p.label}: {p.n_visits} visits, "
                f"{_fmt(p.pct_change_per_week, '+.1f', ' %/week')}"
            )
    return "\n".join(lines)


def _backup(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _audited(store, err, "backup", None, {"to": args.out.name}, "manage_users")
    path = store.backup(args.out)
    print(f"wrote a consistent copy of the database to {path}", file=out)
    return EXIT_OK


def _measure(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Measure each photo in turn; a failed photo is reported and the others go on."""
    from woundtrack.image.io import read_photo, write_labels_png, write_rgb
    from woundtrack.image.overlay import legend_lines, render_overlay
    from woundtrack.image.pipeline import analyze_image, failure_record

    clash = _output_clash(args)
    if clash:
        print(f"woundtrack: {clash}", file=err)
        return EXIT_USAGE
    for folder in (args.labels_out, args.overlay_out):
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                what = "it is a file" if folder.is_file() else exc.strerror
                print(
                    f"woundtrack: cannot use {folder.name!r} as output folder: {what}; give a "
                    "folder path",
                    file=err,
                )
                return EXIT_USAGE
    failed = 0
    total = len(args.photos)
    for n, path in enumerate(args.photos, start=1):
        if total > 1:
            print(f"[{n}/{total}] {path.name}", file=err, flush=True)
        try:
            image, info = read_photo(path)
            analysis = analyze_image(
                image, info, marker_mm=args.marker_mm, mm_per_px=args.mm_per_px
            )
            if args.labels_out is not None:
                write_labels_png(args.labels_out / f"{path.stem}.png", analysis.labels)
            if args.overlay_out is not None:
                overlay = render_overlay(
                    image,
                    analysis.labels,
                    calibration=analysis.calibration,
                    legend_lines=legend_lines(analysis.totals, analysis.calibration),
                )
                write_rgb(args.overlay_out / f"{path.stem}.jpg", overlay)
        except WoundtrackError as exc:
            failed += 1
            record = failure_record(path.name, str(exc))
            if args.json:
                print(json.dumps(record, ensure_ascii=False), file=out, flush=True)
            print(f"woundtrack: {exc}", file=err, flush=True)
            continue
        if args.json:
            print(json.dumps(analysis.to_record(), ensure_ascii=False), file=out, flush=True)
        else:
            print(_summary(analysis), file=out, flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def _output_clash(args: argparse.Namespace) -> str | None:
    """Why the output files would overwrite a photo, each other or any file already there (None
    when they would not). Files are named without their folders, which may name a patient.

    This is checked before any photo is measured; a file that appears later is still never
    written over (``image.io`` creates every output exclusively), that photo then fails.
    """
    inputs = {p.resolve() for p in args.photos}
    for flag, folder, suffix in (
        ("--labels-out", args.labels_out, ".png"),
        ("--overlay-out", args.overlay_out, ".jpg"),
    ):
        if folder is None:
            continue
        seen: dict[Path, Path] = {}
        for photo in args.photos:
            target = folder / f"{photo.stem}{suffix}"
            resolved = target.resolve()
            if resolved in inputs:
                return (
                    f"writing {target.name} would overwrite the photo {photo.name}; "
                    "choose an output folder apart from the photos"
                )
            if resolved in seen:
                return (
                    f"{seen[resolved].name} and {photo.name} would both write {target.name}; "
                    "measure them in separate runs or rename one"
                )
            seen[resolved] = photo
            if os.path.lexists(target):
                return (
                    f"{flag} would write {target.name}, but a file of that name is already in "
                    "that folder and is never written over; move it away or choose another "
                    "output folder"
                )
    return None


def _summary(analysis) -> str:
    t = analysis.totals
    name = analysis.photo.file
    if t.wound_area_cm2 is None:
        head = (
            f"{name}: NOT CALIBRATED (no sticker) - wound {t.wound_area_px} px, "
            f"eschar {t.eschar_area_px} px, slough {t.slough_area_px} px, "
            f"granulation {t.granulation_area_px} px, erythema {t.erythema_area_px} px"
        )
    else:
        tilt = analysis.calibration.tilt_deg
        how = f"tilt {tilt:.0f}°" if tilt is not None else "manual scale"
        head = (
            f"{name}: wound {t.wound_area_cm2:.2f} cm² (eschar {t.eschar_area_cm2:.2f}, "
            f"slough {t.slough_area_cm2:.2f}, granulation {t.granulation_area_cm2:.2f}), "
            f"erythema {t.erythema_area_cm2:.2f} cm²; {len(analysis.lesions)} lesion(s); "
            f"{analysis.mm_per_px:.3f} mm/px at the wound, {how}"
        )
    lines = [head]
    for m in analysis.lesions:
        shares = (
            f"eschar {m.eschar_pct:.0f} %, slough {m.slough_pct:.0f} %, "
            f"granulation {m.granulation_pct:.0f} %"
        )
        if m.wound_area_cm2 is not None:
            lines.append(
                f"  lesion {m.index}: {m.wound_area_cm2:.2f} cm², {m.length_cm:.1f} x "
                f"{m.width_cm:.1f} cm, {shares}"
            )
        else:
            lines.append(
                f"  lesion {m.index}: {m.wound_area_px} px, {m.length_px:.0f} x "
                f"{m.width_px:.0f} px, {shares}"
            )
    lines += [f"  warning: {w}" for w in analysis.warnings]
    return "\n".join(lines)


def _sticker(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.image.sticker import write_sticker_sheet

    try:
        pdf, png = write_sticker_sheet(args.out, marker_mm=args.marker_mm)
    except ValueError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_USAGE
    except OSError as exc:
        print(
            f"woundtrack: cannot write the sticker sheet into {args.out}: {exc.strerror}; "
            "give --out a folder you may write to",
            file=err,
        )
        return EXIT_FAILED
    except WoundtrackError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_FAILED
    print(
        f"wrote {pdf} and {png}; print at 100 % and check the black square with a ruler", file=out
    )
    return EXIT_OK


_TISSUE_FIGURES = ("truth_px", "predicted_px", "dice")
EVALUATION_COLUMNS = (
    "name",
    "width_px",
    "height_px",
    "truth_px",
    "predicted_px",
    "tp",
    "fp",
    "fn",
    "dice",
    "precision",
    "recall",
)


def _evaluate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Score a segmenter on photos with annotated masks; a file that fails is reported, the rest
    go on. Exit 1 only when no photo could be scored.

    Example::

        woundtrack evaluate --images fuseg/validation/images --masks fuseg/validation/labels \\
            --segmenter classical --table scores.csv --json
    """
    from tqdm import tqdm

    from woundtrack.image.evaluation import pair_by_stem, score_dataset
    from woundtrack.image.pipeline import make_segmenter

    problem = _evaluate_usage_problem(args)
    if problem:
        print(f"woundtrack: {problem}", file=err)
        return EXIT_USAGE
    try:
        segmenter = make_segmenter(args.segmenter)
    except (ImportError, WoundtrackError) as exc:
        print(
            f"woundtrack: the {args.segmenter} segmenter cannot be loaded ({exc}); install it, "
            "or use --segmenter classical",
            file=err,
        )
        return EXIT_USAGE
    truth_dir = args.tissue_masks or args.masks
    score_row = _tissue_row if args.tissue_masks else _evaluation_row
    pairs, problems = pair_by_stem(list(args.images.iterdir()), list(truth_dir.iterdir()))
    for line in problems:
        print(f"woundtrack: {line}", file=err)
    rows = []
    for image_path, mask_path in tqdm(
        pairs, desc="evaluating", unit="photo", file=err, disable=len(pairs) < 2
    ):
        try:
            rows.append(score_row(image_path, mask_path, segmenter))
        except WoundtrackError as exc:
            problems.append(str(exc))
            tqdm.write(f"woundtrack: {exc}", file=err)
    if not rows:
        why = f"{len(problems)} problem(s) above" if problems else "no photo and mask pairs found"
        print(
            f"woundtrack: no photo could be scored ({why}); put the photos in {args.images} and "
            f"a mask of the same stem for each in {truth_dir}",
            file=err,
        )
        return EXIT_FAILED
    provenance = {
        "n_skipped": len(problems),
        "segmenter": segmenter.name,
        "model_version": segmenter.version,
        "woundtrack_version": __version__,
    }
    if args.tissue_masks:
        summary = {**_tissue_summary(rows), **provenance}
        columns = TISSUE_EVALUATION_COLUMNS
        rows = [{k: row[k] for k in columns} for row in rows]
    else:
        summary = {**score_dataset((r["tp"], r["fp"], r["fn"]) for r in rows), **provenance}
        columns = EVALUATION_COLUMNS
    if args.json:
        print(json.dumps(summary, indent=2), file=out)
    elif args.tissue_masks:
        print(_tissue_lines(summary), file=out)
    else:
        print(_evaluation_lines(summary), file=out)
    if args.table is None:
        return EXIT_OK
    try:
        with args.table.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        print(
            f"woundtrack: cannot write the table {args.table}: {exc.strerror}; give --table a "
            "file you may write to",
            file=err,
        )
        return EXIT_FAILED
    if not args.json:
        print(f"wrote the per-image scores to {args.table}", file=out)
    return EXIT_OK


def _evaluate_usage_problem(args: argparse.Namespace) -> str | None:
    """Why the folders or the table path cannot be used (None when they can)."""
    truth = ("--tissue-masks", args.tissue_masks) if args.tissue_masks else ("--masks", args.masks)
    for flag, folder in (("--images", args.images), truth):
        if not folder.is_dir():
            return f"{flag} {folder} is not a folder; give the folder that holds the files"
    table = args.table
    if table is not None and (table.is_dir() or not table.parent.is_dir()):
        return (
            f"--table {table} is not a file in an existing folder; give a path such as scores.csv"
        )
    return None


def _evaluation_row(image_path: Path, mask_path: Path, segmenter) -> dict:
    """One row of the per-image table (``EVALUATION_COLUMNS``)."""
    from woundtrack.image.evaluation import mask_counts, mask_scores, predict_wound
    from woundtrack.image.io import read_photo

    image, info = read_photo(image_path)
    mask, _ = read_photo(mask_path)
    if mask.shape != image.shape:
        raise ImageError(
            f"{image_path.name} is {image.shape[1]}x{image.shape[0]} px but its mask "
            f"{mask_path.name} is {mask.shape[1]}x{mask.shape[0]} px; draw the mask on the photo "
            "at its full size, as displayed (the pair is skipped)"
        )
    pred = predict_wound(image, segmenter=segmenter, focal_35mm=info.focal_length_35mm)
    # brighter than mid-grey is wound, so JPEG noise around a 0/255 mask is not
    tp, fp, fn = mask_counts(pred, mask.max(axis=2) > 127)
    return {
        "name": image_path.name,
        "width_px": info.width_px,
        "height_px": info.height_px,
        "truth_px": tp + fn,
        "predicted_px": tp + fp,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        **mask_scores(tp, fp, fn),
    }


#: Columns of ``evaluate --tissue-masks --table``: per tissue its true and predicted pixels
#: (annotated pixels only) and Dice, then slough's and eschar's shares of the bed (%).
TISSUE_EVALUATION_COLUMNS = (
    "name",
    "width_px",
    "height_px",
    "annotated_px",
    *(f"{t}_{k}" for t in ("slough", "granulation", "eschar", "bed") for k in _TISSUE_FIGURES),
    "truth_slough_pct",
    "predicted_slough_pct",
    "truth_eschar_pct",
    "predicted_eschar_pct",
)


def _tissue_row(image_path: Path, truth_path: Path, segmenter) -> dict:
    """One photo against its tissue annotation: the row of the table, and its confusion."""
    import numpy as np
    from PIL import Image

    from woundtrack.image.evaluation import (
        bed_shares,
        predict_labels,
        tissue_confusion,
        tissue_scores,
    )
    from woundtrack.image.io import read_photo

    image, info = read_photo(image_path)
    try:
        with Image.open(truth_path) as img:
            truth = np.asarray(img.convert("L") if img.mode not in ("L", "P") else img)
    except OSError as exc:
        raise ImageError(
            f"{truth_path.name}: the tissue annotation cannot be read ({exc}); save it as a "
            "single-channel PNG (the pair is skipped)"
        ) from None
    labels = predict_labels(image, segmenter=segmenter, focal_35mm=info.focal_length_35mm)
    try:
        confusion = tissue_confusion(labels, truth)
    except ValueError as exc:
        raise ImageError(
            f"{image_path.name} / {truth_path.name}: {exc} (the pair is skipped)"
        ) from None
    scores = tissue_scores(confusion)
    return {
        "name": image_path.name,
        "width_px": info.width_px,
        "height_px": info.height_px,
        "annotated_px": int(confusion.sum()),
        **{
            f"{t}_{k}": scores[t][k]
            for t in ("slough", "granulation", "eschar", "bed")
            for k in _TISSUE_FIGURES
        },
        **bed_shares(confusion),
        "confusion": confusion,
    }


def _tissue_summary(rows: list[dict]) -> dict:
    from woundtrack.image.evaluation import share_agreement, tissue_scores

    shares = [{k: row[k] for k in TISSUE_EVALUATION_COLUMNS[-4:]} for row in rows]
    return {
        "n_images": len(rows),
        **tissue_scores(sum(row["confusion"] for row in rows)),
        "slough_share": share_agreement(shares, "slough"),
        "eschar_share": share_agreement(shares, "eschar"),
    }


def _tissue_lines(summary: dict) -> str:
    def pct(value) -> str:
        return "-" if value is None else f"{value:.1f} %"

    def three(s: dict) -> str:
        if s["dice"] is None:
            return f"none annotated, so not scored ({s['predicted_px']} px predicted)"
        return f"Dice {s['dice']:.3f}, precision {s['precision']:.3f}, recall {s['recall']:.3f}"

    skipped = f", {summary['n_skipped']} skipped (see above)" if summary["n_skipped"] else ""
    lines = [
        f"{summary['segmenter']} {summary['model_version']} on {summary['n_images']} "
        f"photo(s){skipped}, annotated pixels pooled:",
        *(f"  {t:<11} {three(summary[t])}" for t in ("slough", "granulation", "eschar", "bed")),
        f"  true granulation called eschar {pct(summary['granulation_called_eschar_pct'])}, "
        f"true slough called granulation {pct(summary['slough_called_granulation_pct'])}, "
        f"callus called wound bed {pct(summary['callus_called_bed_pct'])}",
    ]
    for tissue in ("slough", "eschar"):
        a = summary[f"{tissue}_share"]
        r = "-" if a["pearson_r"] is None else f"{a['pearson_r']:.2f}"
        lines.append(
            f"  per-photo {tissue} share of the bed: mean absolute error "
            f"{pct(a['mean_abs_error_pct'])} points, r {r} ({a['n_photos']} photos)"
        )
    width = max(len(c) for c in summary["predicted_classes"])
    lines.append("  confusion (rows: annotation; columns: predicted)")
    lines.append(" " * 16 + " ".join(f"{c[:width]:>{width}}" for c in summary["predicted_classes"]))
    for name, counts in zip(summary["truth_classes"], summary["confusion"], strict=True):
        lines.append(f"  {name:<13} " + " ".join(f"{n:>{width}}" for n in counts))
    return "\n".join(lines)


def _evaluation_lines(summary: dict) -> str:
    skipped = f", {summary['n_skipped']} skipped (see above)" if summary["n_skipped"] else ""
    return "\n".join(
        [
            f"{summary['segmenter']} {summary['model_version']} on {summary['n_images']} "
            f"photo(s){skipped}",
            f"  data-based Dice {summary['data_based_dice']:.3f} (pixels pooled over all photos)",
            f"  mean per-image Dice {summary['mean_image_dice']:.3f}",
            f"  precision {summary['precision']:.3f}, recall {summary['recall']:.3f}",
        ]
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
