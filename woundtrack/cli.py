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


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


_WORKERS_HELP = (
    "photos measured at once (default: one per core, at most 8); 0 or 1 measures one after "
    "another, with every core on each photo"
)


def _iso_date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def _many(n: int, noun: str) -> str:
    """``1 lesion``, ``2 lesions``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _capture_day(text: str):
    """A day photos were taken, as a person gives it: a date, and a believable one."""
    from woundtrack.image.io import capture_date_problem

    day = _iso_date(text)
    if (problem := capture_date_problem(day)) is not None:
        raise argparse.ArgumentTypeError(f"the capture date {problem}")
    return day


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
    m.add_argument(
        "--model",
        type=Path,
        metavar="FILE.onnx",
        help="measure with this wound-bed network (e.g. one `woundtrack finetune` wrote) instead "
        "of the shipped one",
    )
    m.add_argument("--workers", type=_count, default=None, metavar="N", help=_WORKERS_HELP)

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
    v.add_argument(
        "--model",
        type=Path,
        metavar="FILE.onnx",
        help="score the learned segmenter with this network instead of the shipped one",
    )
    v.add_argument(
        "--tissue-model",
        type=Path,
        metavar="FILE.onnx",
        help="split the bed with this tissue network instead of the shipped one",
    )
    v.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    _add_record_commands(commands)
    _add_learning_commands(commands)
    _add_research_commands(commands)
    return parser


def _add_research_commands(commands) -> None:
    b = commands.add_parser(
        "batch",
        help="measure the photos of a manifest on a Dask cluster into a Parquet results folder",
        description="Measure every photo a manifest (CSV: patient, photo[, lesion, taken_at]) "
        "names, on a local Dask cluster or an existing one, writing one row per photo to a "
        "Parquet results folder as results arrive. A rerun with the same --out measures only "
        "the photos not yet measured (by the file's hash). `woundtrack import --from RESULTS` "
        "files the results in the record without measuring again.",
        epilog="example: woundtrack batch photos.csv --out results.parquet --workers 2; "
        "woundtrack batch photos.csv --out results.parquet --scheduler tcp://10.0.0.5:8786",
    )
    b.add_argument("manifest", type=Path, metavar="MANIFEST.csv")
    b.add_argument("--out", type=Path, required=True, metavar="RESULTS.parquet")
    where = b.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of the local Dask cluster, one thread each (default: one per "
        "core); 0 measures in this process without Dask",
    )
    where.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="use this running Dask scheduler and its workers (they must see the photos at the "
        "manifest's paths)",
    )
    b.add_argument("--marker-mm", type=_positive_float, default=DEFAULT_MARKER_MM)
    b.add_argument("--model", type=Path, metavar="FILE.onnx", help="measure with this network")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")

    c = commands.add_parser(
        "cohort",
        help="time to closure (Kaplan-Meier) and healing rate (mixed model) across patients",
        description="Per group: lesions, healed lesions, Kaplan-Meier median weeks to closure "
        "with its 95%% interval, and the slope of ln(area) per week from a mixed-effects model "
        "(random intercept and slope per lesion); with --by, the log-rank p-value and the Cox "
        "hazard ratio of healing between the groups. From the record (--db: its pseudonymised "
        "tables) or from files (--measurements: the export CSV or Parquet; --timeline: the "
        "treatment CSV with a patient column).",
        epilog="example: woundtrack cohort --measurements all.csv --timeline treatments.csv "
        "--by sodium_thiosulfate --json --html cohort.html",
    )
    c.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help="read the record")
    c.add_argument("--measurements", type=Path, metavar="FILE", help="CSV or Parquet")
    c.add_argument("--timeline", type=Path, metavar="FILE", help="CSV or Parquet")
    c.add_argument(
        "--by",
        metavar="KIND",
        help="split lesions by this treatment, e.g. HBOT; or 'distribution': proximal against "
        "distal lesions (the distribution or body_site column; no timeline needed)",
    )
    c.add_argument(
        "--landmark-weeks",
        type=_positive_float,
        metavar="W",
        help="with --by KIND: a landmark analysis, so that a treatment started late is not "
        "credited with healing before it: only lesions still open W weeks after their first "
        "visit; 'with' those whose patient started the treatment by then; times from the "
        "landmark",
    )
    c.add_argument(
        "--adjust-for-distribution",
        action="store_true",
        help="with --by: also the hazard ratio adjusted for each lesion's distribution "
        "(proximal or distal, from the distribution or body_site column)",
    )
    c.add_argument(
        "--closed-below-cm2",
        type=_positive_float,
        default=None,
        help="closure threshold in cm² (default 0.1, as the healing figures)",
    )
    c.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    c.add_argument("--html", type=Path, metavar="REPORT.html", help="write the HTML report")
    c.add_argument(
        "--reference",
        type=Path,
        metavar="FILE.csv",
        help="also put the agreement with these manual areas in the HTML report",
    )

    g = commands.add_parser(
        "agreement",
        help="agreement of woundtrack's areas with manual ones: ICC(2,1) and Bland-Altman",
        epilog="example: woundtrack agreement --measurements all.csv --reference ruler.csv",
    )
    g.add_argument("--measurements", type=Path, required=True, metavar="FILE")
    g.add_argument(
        "--reference",
        type=Path,
        required=True,
        metavar="FILE.csv",
        help="patient, taken_at, area_cm2 (and lesion where a patient has several)",
    )
    g.add_argument("--json", action="store_true")
    g.add_argument("--html", type=Path, metavar="PLOT.html", help="write the Bland-Altman plot")


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
    i.add_argument(
        "--from",
        dest="from_results",
        type=Path,
        metavar="RESULTS.parquet",
        help="file the results of `woundtrack batch` (photos read again from their paths, not "
        "measured again)",
    )
    i.add_argument(
        "--patient-column",
        default="patient",
        help="with --from: the column holding the patient codes (default patient)",
    )
    i.add_argument("--lesion", default=None, help="label of the (largest) lesion, e.g. L1")
    i.add_argument(
        "--site",
        default="",
        help="the photos' body site, e.g. 'left calf': they are matched only against the "
        "patient's lesions there (or filed without a site), and a new lesion is filed there. "
        "Give it when a patient has wounds at several sites, photographed one per photo",
    )
    i.add_argument(
        "--taken-on",
        type=_capture_day,
        metavar="YYYY-MM-DD",
        help="the day the photos were taken, for photos whose camera gave no date (or a wrong "
        "one): a photo whose camera says that day keeps its time, the others are filed at "
        "midday of it",
    )
    i.add_argument("--marker-mm", type=_positive_float, default=DEFAULT_MARKER_MM)
    i.add_argument(
        "--model",
        type=Path,
        metavar="FILE.onnx",
        help="measure with this network instead of the database's active model (model use)",
    )
    i.add_argument("--json", action="store_true", help="one JSON object per photo per line")
    i.add_argument("--workers", type=_count, default=None, metavar="N", help=_WORKERS_HELP)

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
        "--research",
        action="store_true",
        help="every patient, for research, into the new folder --out: measurements.parquet and "
        "treatments.parquet (subjects, dates shifted per patient, no photo) and their data "
        "dictionary",
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
    h.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        type=_iso_date,
        default=None,
        help="the day the figures are read on (default today): a projected closure that passed "
        "before it with no visit since is not projected; give a past day to reproduce a report",
    )

    ma = commands.add_parser(
        "measure-again",
        help="measure a patient's visits again with the active model (a series measured by "
        "several models is then measured by one); a person's correction is kept",
        epilog="example: woundtrack measure-again --patient CUA-007",
    )
    ma.add_argument("--patient", required=True)

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


def _add_learning_commands(commands) -> None:
    d = commands.add_parser(
        "dataset",
        help="export the record's outlined photos as a training set",
        description="Write DIR/images/<id>.png, DIR/masks/<id>.png (wound bed 255), "
        "DIR/tissue/<id>.png (0 not wound, 1 slough, 2 granulation, 4 eschar) and "
        "DIR/manifest.json (photo hash, outline, who accepted it, when). Ids are the patient "
        "code and the visit number.",
        epilog="example: woundtrack dataset export --out clinic-set --accepted-only",
    )
    d.add_argument("action", choices=["export"])
    d.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new folder")
    d.add_argument("--patient", action="append", default=None, help="only this patient (repeat)")
    d.add_argument(
        "--accepted-only",
        action="store_true",
        help="only visits whose outline a person corrected and accepted (else automatic "
        "outlines come too, marked so in the manifest)",
    )

    f = commands.add_parser(
        "finetune",
        help="fine-tune the wound-bed network on the clinic's outlined photos (CPU)",
        description="Start from the shipped network (or --base), train on the clinic's photos "
        "mixed with replayed public photos (--replay), hold a quarter of the clinic's photos "
        "back, and write the tuned ONNX model with its model card (FILE.md). Scores the held-back "
        "photos before and after. Needs the train extra: pip install 'woundtrack[train]'.",
        epilog="example: woundtrack finetune --images set/images --masks set/masks "
        "--replay fuseg-train --out clinic.onnx; woundtrack finetune --from-db --out clinic.onnx",
    )
    f.add_argument("--images", type=Path, metavar="DIR", help="folder of the clinic's photos")
    f.add_argument("--masks", type=Path, metavar="DIR", help="their wound-bed masks (same stems)")
    f.add_argument(
        "--from-db",
        action="store_true",
        help="tune on every accepted correction in the database instead of --images/--masks",
    )
    f.add_argument("--out", type=Path, required=True, metavar="FILE.onnx", help="a new file")
    f.add_argument(
        "--replay",
        type=Path,
        metavar="DIR",
        default=os.environ.get("WOUNDTRACK_REPLAY_DIR") or None,
        help="public outlined photos to mix in (DIR/images and DIR/masks, e.g. FUSeg's training "
        "set), so nothing learned is forgotten; default $WOUNDTRACK_REPLAY_DIR",
    )
    f.add_argument(
        "--base",
        default="shipped",
        metavar="NAME|FILE.onnx",
        help="model to start from: shipped (default), a model of the database, or a file",
    )
    f.add_argument(
        "--minutes",
        type=_positive_float,
        default=18.0,
        help="time for the whole run, scoring included (default 18)",
    )
    f.add_argument("--seed", type=int, default=0, help="seed of the split and the training")

    g = commands.add_parser(
        "model",
        help="the clinic's models: add, list, use, compare (admins add and use)",
        description="add FILE --name NAME keeps a checked model in the database; use NAME makes "
        "it measure every new photo (use shipped goes back); compare NAME scores it beside the "
        "shipped model on outlined photos (--images/--masks, or the database's accepted "
        "corrections that it was not tuned on). Stored measurements never change.",
        epilog="example: woundtrack model add clinic.onnx --name clinic-2026-12; "
        "woundtrack model compare clinic-2026-12; woundtrack model use clinic-2026-12",
    )
    g.add_argument("action", choices=["add", "list", "use", "compare"])
    g.add_argument("target", nargs="?", metavar="FILE|NAME", help="the file (add) or model name")
    g.add_argument("--name", help="add: the model's name in the database")
    g.add_argument("--images", type=Path, metavar="DIR", help="compare: folder of photos")
    g.add_argument("--masks", type=Path, metavar="DIR", help="compare: their masks")
    g.add_argument("--json", action="store_true", help="list/compare: JSON")


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
    if args.command == "finetune":
        return _finetune(args, sys.stdout, sys.stderr)
    if args.command == "batch":
        return _batch(args, sys.stdout, sys.stderr)
    if args.command == "agreement":
        return _agreement(args, sys.stdout, sys.stderr)
    if args.command == "cohort":
        return _cohort(args, sys.stdout, sys.stderr)
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
    if args.command == "import" and (refused := _refuse_import(args, err)) is not None:
        return refused
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
            "measure-again": _measure_again,
            "backup": _backup,
            "user": _user,
            "audit": _audit,
            "dataset": _dataset,
            "model": _model,
        }[args.command]
        return handler(store, args, out, err)
    except WoundtrackError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_FAILED
    finally:
        store.close()


def _refuse_import(args: argparse.Namespace, err: TextIO) -> int | None:
    """The exit status when ``import``'s arguments alone refuse it (said on ``err``), else None.

    Checked before the database is opened, so that a mistyped patient code or site never leaves
    a new, empty database file behind.
    """
    from woundtrack.record.store import check_body_site, check_lesion_label, check_patient_code

    def usage(message: str) -> int:
        print(f"woundtrack: {message}", file=err)
        return EXIT_USAGE

    if args.taken_on is not None and (args.from_results is not None or args.fhir is not None):
        return usage(
            "--taken-on is for photos given here; results and bundles carry their own dates"
        )
    if args.from_results is not None:
        if args.photos or args.patient or args.fhir:
            return usage(
                "import --from takes the patients and photos from the results; "
                "leave out --patient, --fhir and the photos"
            )
        return None
    if args.fhir is not None:
        if args.photos or args.patient:
            return usage(
                "import --fhir takes the patient and photos from the bundle; "
                "leave out --patient and the photos"
            )
        return None
    if not args.photos or not args.patient:
        return usage("import needs photos and --patient P (or --fhir FILE.json)")
    try:
        check_patient_code(args.patient)
        check_body_site(args.site)  # once, before any photo is read
        if args.lesion is not None:
            check_lesion_label(args.lesion)
    except WoundtrackError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_FAILED
    return None


def _import(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Import each photo in its own transaction; a failed photo is reported and skipped."""
    from tqdm import tqdm

    from woundtrack.image.pipeline import failure_record
    from woundtrack.image.side_by_side import in_order, one_thread, worker_count
    from woundtrack.record.ingest import import_photo, prepare_photo, stored_visit

    if args.from_results is not None:
        return _import_results(store, args, out, err)
    if args.fhir is not None:
        return _import_fhir(store, args, out, err)
    segmenter = _record_segmenter(store, args.model)
    workers = worker_count(len(args.photos), args.workers)
    beside = one_thread(segmenter)

    def photos():  # in this thread (the database's): a photo already stored is not measured
        for path in args.photos:
            if not workers:  # import_photo reads, checks and measures each in turn
                yield path, None, None
                continue
            try:
                data = path.read_bytes()
                known = stored_visit(store, data, name=path.name, patient=args.patient)
            except (OSError, WoundtrackError):  # said with its fix when it is imported below
                data, known = None, None
            yield path, data, known

    def measured(job):
        path, data, known = job
        if data is None or known is not None:
            return None  # import_photo reads it (and says why it cannot), or measures it
        prepared, _ = prepare_photo(
            data, name=path.name, marker_mm=args.marker_mm, segmenter=beside
        )
        return prepared

    failed = 0
    results = in_order(measured, photos(), workers=workers)
    for (path, data, _), prepared in tqdm(
        results,
        desc="importing",
        unit="photo",
        file=err,
        total=len(args.photos),
        disable=len(args.photos) < 2,
    ):
        try:
            if isinstance(prepared, WoundtrackError):
                raise prepared
            if not path.is_file():
                raise WoundtrackError(f"{path.name}: no such file; check the path and name")
            result = import_photo(
                store,
                path.read_bytes() if data is None else data,
                name=path.name,
                patient=args.patient,
                lesion=args.lesion,
                body_site=args.site,
                marker_mm=args.marker_mm,
                taken_on=args.taken_on,
                segmenter=segmenter,
                prepared=prepared,
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
        else:
            for line in _import_lines(result.file, result, args.patient):
                tqdm.write(line, file=out)
    return EXIT_FAILED if failed else EXIT_OK


def _import_lines(name: str, result, patient: str) -> list[str]:
    """What ``import`` says of one photo filed: its status, visit and lesions, then its warnings
    as ``measure`` says them (no sticker, no date, ...)."""
    if result.status == "duplicate":
        return [
            f"{name}: already stored for {patient} (visit {result.visit_id}); not imported again"
        ]
    what = ", ".join(result.lesion_labels) or "no wound found"
    return [
        f"{name}: {result.status} (visit {result.visit_id}; {what})",
        *(f"  warning: {warning}" for warning in result.warnings),
    ]


def _import_results(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record.batch import import_results

    def shown(name: str, result) -> None:
        if args.json:
            record = {
                "file": result.file,
                "ok": True,
                "status": result.status,
                "visit_id": result.visit_id,
                "photo_sha256": result.photo_sha256,
                "lesions": list(result.lesion_labels),
            }
            print(json.dumps(record, ensure_ascii=False), file=out, flush=True)
        else:
            for line in _import_lines(name, result, "this patient"):
                print(line, file=out)

    results, problems = import_results(
        store, args.from_results, patient_column=args.patient_column, on_result=shown
    )
    for problem in problems:
        print(f"woundtrack: {problem}", file=err)
    print(
        f"{args.from_results.name}: {sum(r.status == 'imported' for r in results)} imported, "
        f"{sum(r.status == 'duplicate' for r in results)} already stored, {len(problems)} not "
        "imported",
        file=err,
    )
    return EXIT_FAILED if problems else EXIT_OK


def _batch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record.batch import run_batch

    if args.workers is not None and args.workers < 0:
        print("woundtrack: --workers must be 0 or more", file=err)
        return EXIT_USAGE
    try:
        summary = run_batch(
            args.manifest,
            args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            marker_mm=args.marker_mm,
            model_path=args.model,
            progress=not args.no_progress,
        )
    except WoundtrackError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_USAGE
    for error in summary.errors:
        print(f"woundtrack: {error}", file=err)
    print(
        f"{summary.out}: {summary.measured} measured, {summary.failed} failed, "
        f"{summary.skipped} already done, in {summary.seconds:.1f} s "
        f"({summary.photos_per_second:.2f} photos/s)",
        file=out,
    )
    return EXIT_FAILED if summary.failed else EXIT_OK


def _research_tables(args: argparse.Namespace):
    """(measurements, timeline, sources) from the files given, or the record's pseudonymised
    tables (--db, $WOUNDTRACK_DB or the default database) when no --measurements is given."""
    from woundtrack.analysis.tables import read_table

    if args.measurements is not None:
        measurements = read_table(args.measurements, what="measurements")
        timeline = None if args.timeline is None else read_table(args.timeline, what="timeline")
        sources = {"measurements": args.measurements.name}
        if args.timeline is not None:
            sources["timeline"] = args.timeline.name
        return measurements, timeline, sources
    from woundtrack.record.research import research_tables
    from woundtrack.record.store import Store

    store = Store(getattr(args, "db", None), create=False, actor=args.user)
    try:
        measurements, timeline = research_tables(store)
    finally:
        store.close()
    return measurements, timeline, {"measurements": "the record (pseudonymised)"}


def _cohort(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.analysis.cohort import cohort_analysis
    from woundtrack.analysis.healing import CLOSED_BELOW_CM2

    if args.measurements is None and args.timeline is not None:
        print("woundtrack: --timeline goes with --measurements; give both, or --db", file=err)
        return EXIT_USAGE
    try:
        measurements, timeline, sources = _research_tables(args)
        result = cohort_analysis(
            measurements,
            timeline,
            by=args.by,
            adjust_for_distribution=args.adjust_for_distribution,
            landmark_weeks=args.landmark_weeks,
            closed_below_cm2=args.closed_below_cm2 or CLOSED_BELOW_CM2,
            measurements_name=sources["measurements"],
            timeline_name=sources.get("timeline", "timeline"),
        )
        agreement = None
        if args.reference is not None:
            agreement = _agreement_result(measurements, args.reference, sources["measurements"])
    except WoundtrackError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_FAILED
    for note in result.notes:
        print(f"woundtrack: note: {note}", file=err)
    if args.html is not None:
        from woundtrack.present.research import cohort_report_html, model_versions

        args.html.write_text(
            cohort_report_html(
                result,
                agreement=agreement,
                sources=sources,
                model_versions=model_versions(measurements),
            ),
            encoding="utf-8",
        )
        print(f"wrote {args.html}", file=err)
    if args.json:
        json.dump(result.to_json(), out, ensure_ascii=False, indent=1, allow_nan=False)
        out.write("\n")
        return EXIT_OK
    from woundtrack.present.research import cohort_table

    for figures, row in zip(result.groups.values(), cohort_table(result), strict=True):
        print(
            f"{row['group']}: {_many(row['lesions'], 'lesion')} of "
            f"{_many(row['patients'], 'patient')}, {row['healed']} healed; median "
            f"{row['median weeks to closure']} weeks to closure (95 % {row['95 % interval']}); "
            f"ln-area slope {row['ln-area slope per week']} per week (95 % "
            f"{row['slope 95 % interval']})",
            file=out,
        )
        for note in figures.notes:
            print(f"  note: {note}", file=out)
    if result.by is not None:
        from woundtrack.present.research import comparison_sentence

        print(comparison_sentence(result), file=out)
    return EXIT_OK


def _agreement_result(measurements, reference: Path, name: str):
    from woundtrack.analysis.agreement import agreement
    from woundtrack.analysis.tables import read_table

    return agreement(
        measurements,
        read_table(reference, what="reference"),
        measurements_name=name,
        reference_name=reference.name,
    )


def _agreement(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.analysis.tables import read_table

    try:
        measurements = read_table(args.measurements, what="measurements")
        result = _agreement_result(measurements, args.reference, args.measurements.name)
    except WoundtrackError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_FAILED
    for note in result.notes:
        print(f"woundtrack: note: {note}", file=err)
    if args.html is not None:
        from woundtrack.present.research import agreement_figure

        agreement_figure(result).write_html(args.html, include_plotlyjs=True)
        print(f"wrote {args.html}", file=err)
    if args.json:
        json.dump(result.to_json(), out, ensure_ascii=False, indent=1, allow_nan=False)
        out.write("\n")
        return EXIT_OK
    from woundtrack.present.research import agreement_sentence

    print(agreement_sentence(result), file=out)
    return EXIT_OK


def _record_segmenter(store, model: Path | None):
    """The segmenter of an import: ``model`` when given, else the database's active model."""
    from woundtrack.image.pipeline import make_segmenter
    from woundtrack.record.clinic_models import active_segmenter

    if model is not None:
        return make_segmenter(model_path=model)
    return active_segmenter(store)


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
    from woundtrack.analysis.timeline import session_notes
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
    for note in session_notes(events):
        print(f"  note: {note}", file=out)
    return EXIT_OK


def _export(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.research:
        if args.patient or args.out is None:
            print(
                "woundtrack: export --research exports every patient into a new folder: give "
                "--out DIR and leave out --patient",
                file=err,
            )
            return EXIT_USAGE
        from woundtrack.record.research import write_research_export

        written = write_research_export(store, args.out)
        print(f"{args.out}: " + ", ".join(p.name for p in written), file=out)
        return EXIT_OK
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
    from datetime import date

    from woundtrack.analysis.report import healing_summary, healing_summary_json
    from woundtrack.present.charts import model_version_note

    rows = store.series(args.patient)
    as_of = args.as_of if args.as_of is not None else date.today()
    summary = healing_summary(rows, store.treatments(args.patient), today=as_of)
    _audited(store, err, "view", args.patient, {"what": "healing"}, "view_patients")
    if args.json:
        print(json.dumps(healing_summary_json(summary), ensure_ascii=False, indent=2), file=out)
        return EXIT_OK
    for lesion, metrics in summary.lesions.items():
        print(_healing_lines(args.patient, lesion, metrics), file=out)
        note = model_version_note(rows, lesion)
        if note:
            print(f"  note: {note}", file=out)
    for lesion, why in summary.skipped.items():
        print(f"{args.patient} {lesion}: {why}", file=out)
    return EXIT_OK


def _measure_again(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record.ingest import measure_again

    done = measure_again(store, args.patient)
    model = store.active_model()
    print(
        f"{args.patient}: {len(done.measured)} visit(s) measured again with the model {model}, "
        f"{len(done.corrected)} kept as a person corrected them, {len(done.unchanged)} measured "
        "by it already",
        file=out,
    )
    for problem in done.failed:
        print(f"woundtrack: {problem}", file=err)
    return EXIT_FAILED if done.failed else EXIT_OK


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
        f"{_many(m.n_visits, 'visit')}",
        f"  PAR at week 4 {_fmt(m.par_week4_pct, '.1f', ' %')}; Gilman "
        f"{_fmt(m.gilman_cm_per_week, '.3f', ' cm/week')}; "
        f"{_fmt(m.pct_change_per_week, '+.1f', ' %/week')} (half-life "
        f"{_fmt(m.half_life_days, '.0f', ' days')})",
        f"  {closure}" + (f"; healed on {m.healed_on}" if m.healed_on else ""),
    ]
    for p in m.phases:
        if p.n_visits:
            rate = (
                "too few visits for a rate"
                if p.pct_change_per_week is None
                else f"{p.pct_change_per_week:+.1f} %/week"
            )
            lines.append(f"  {p.label}: {_many(p.n_visits, 'visit')}, {rate}")
    return "\n".join(lines)


def _backup(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _audited(store, err, "backup", None, {"to": args.out.name}, "manage_users")
    path = store.backup(args.out)
    print(f"wrote a consistent copy of the database to {path}", file=out)
    return EXIT_OK


def _measure(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Measure each photo (several at once on several cores), reporting them in turn; a failed
    photo is reported and the others go on."""
    from woundtrack.image.io import read_photo, write_labels_png, write_rgb
    from woundtrack.image.overlay import legend_lines, lesion_tags, render_overlay
    from woundtrack.image.pipeline import analyze_image, failure_record, make_segmenter
    from woundtrack.image.side_by_side import in_order, one_thread, worker_count

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
    segmenter = None
    if args.model is not None:
        try:
            segmenter = make_segmenter(model_path=args.model)
        except WoundtrackError as exc:
            print(f"woundtrack: {exc}", file=err)
            return EXIT_USAGE
    segmenter = segmenter or make_segmenter()
    workers = worker_count(len(args.photos), args.workers)
    if workers:
        segmenter = one_thread(segmenter)

    def measured(path: Path):
        image, info = read_photo(path)
        analysis = analyze_image(
            image, info, marker_mm=args.marker_mm, mm_per_px=args.mm_per_px, segmenter=segmenter
        )
        if args.labels_out is not None:
            write_labels_png(args.labels_out / f"{path.stem}.png", analysis.labels)
        if args.overlay_out is not None:
            overlay = render_overlay(
                image,
                analysis.labels,
                calibration=analysis.calibration,
                legend_lines=legend_lines(analysis.totals, analysis.calibration),
                tags=lesion_tags(analysis.lesions),  # the numbers the warnings and JSON give
            )
            write_rgb(args.overlay_out / f"{path.stem}.jpg", overlay)
        return analysis

    failed = 0
    total = len(args.photos)
    results = in_order(measured, args.photos, workers=workers)
    for n, (path, analysis) in enumerate(results, start=1):
        if total > 1:
            print(f"[{n}/{total}] {path.name}", file=err, flush=True)
        if isinstance(analysis, WoundtrackError):
            failed += 1
            record = failure_record(path.name, str(analysis))
            if args.json:
                print(json.dumps(record, ensure_ascii=False), file=out, flush=True)
            print(f"woundtrack: {analysis}", file=err, flush=True)
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
    from woundtrack.image.measure import erythema_reach_text

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
            reach = erythema_reach_text(m.erythema_area_cm2, m.erythema_reach_cm)
            reach = f"; erythema {m.erythema_area_cm2:.2f} cm²{reach}" if reach else ""
            lines.append(
                f"  lesion {m.index}: {m.wound_area_cm2:.2f} cm², {m.length_cm:.1f} x "
                f"{m.width_cm:.1f} cm, {shares}{reach}"
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
    "skin_ita_deg",
    "skin_tone",
)


def _evaluate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Score a segmenter on photos with annotated masks; a file that fails is reported, the rest
    go on. Exit 1 only when no photo could be scored.

    Example::

        woundtrack evaluate --images fuseg/validation/images --masks fuseg/validation/labels \\
            --segmenter classical --table scores.csv --json
    """
    from tqdm import tqdm

    from woundtrack.image.evaluation import pair_by_stem, score_by_skin_tone, score_dataset
    from woundtrack.image.pipeline import make_segmenter

    problem = _evaluate_usage_problem(args)
    if problem:
        print(f"woundtrack: {problem}", file=err)
        return EXIT_USAGE
    if (args.model or args.tissue_model) is not None and args.segmenter != "learned":
        print(
            "woundtrack: --model and --tissue-model are networks for the learned segmenter; "
            "drop them or --segmenter",
            file=err,
        )
        return EXIT_USAGE
    try:
        segmenter = make_segmenter(
            args.segmenter, model_path=args.model, tissue_model_path=args.tissue_model
        )
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
        "model_sha256": getattr(segmenter, "model_sha256", None),
        "woundtrack_version": __version__,
    }
    if args.tissue_masks:
        summary = {**_tissue_summary(rows), **provenance}
        columns = TISSUE_EVALUATION_COLUMNS
        rows = [{k: row[k] for k in columns} for row in rows]
    else:
        summary = {
            **score_dataset((r["tp"], r["fp"], r["fn"]) for r in rows),
            "by_skin_tone": score_by_skin_tone(
                (r["skin_tone"], r["tp"], r["fp"], r["fn"]) for r in rows
            ),
            **provenance,
        }
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
    from woundtrack.image.evaluation import (
        mask_counts,
        mask_scores,
        periwound_ita_deg,
        predict_wound,
        skin_tone_group,
    )
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
    truth = mask.max(axis=2) > 127
    tp, fp, fn = mask_counts(pred, truth)
    ita = periwound_ita_deg(image, truth)
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
        "skin_ita_deg": None if ita is None else round(ita, 1),
        "skin_tone": skin_tone_group(ita),
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
        f"callus called wound bed {pct(summary['callus_called_bed_pct'])}, "
        f"callus called erythema {pct(summary['callus_called_erythema_pct'])}",
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
            "  by the skin around the wound (ITA°, from the photo's colours; a rough stratum):",
            *(
                f"    {tone:12s} {s['n_images']:4d} photo(s): data-based Dice "
                f"{s['data_based_dice']:.3f}, mean per-image {s['mean_image_dice']:.3f}, "
                f"recall {s['recall']:.3f}"
                for tone, s in summary["by_skin_tone"].items()
            ),
        ]
    )


# -- learning from the clinic's photos ------------------------------------------------------------


def _dataset(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record.training_set import export_dataset

    entries = export_dataset(
        store, args.out, patients=args.patient, accepted_only=args.accepted_only
    )
    corrected = sum(e.outline == "corrected" for e in entries)
    print(
        f"wrote {len(entries)} photo(s) to {args.out} ({corrected} with an accepted correction, "
        f"{len(entries) - corrected} automatic outline(s)); provenance in "
        f"{args.out / 'manifest.json'}",
        file=out,
    )
    return EXIT_OK


def _finetune(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Fine-tune on a folder or on the database's accepted corrections; write model and card."""
    if args.from_db == (args.images is not None or args.masks is not None) or (
        not args.from_db and (args.images is None or args.masks is None)
    ):
        print(
            "woundtrack: finetune needs either --images DIR and --masks DIR, or --from-db",
            file=err,
        )
        return EXIT_USAGE
    out_path: Path = args.out
    card_path = out_path.with_suffix(".md")
    if out_path.exists() or card_path.exists() or not out_path.parent.is_dir():
        print(
            f"woundtrack: --out {out_path} must be a new file in an existing folder (and "
            f"{card_path.name} must not exist either); give another name",
            file=err,
        )
        return EXIT_USAGE
    from woundtrack.learn import pairs as pairs_mod

    try:
        from woundtrack.learn import finetune as ft
    except ImportError as exc:
        print(
            f"woundtrack: fine-tuning needs the train extra ({exc.name} is missing); "
            "pip install 'woundtrack[train]'",
            file=err,
        )
        return EXIT_USAGE
    store = None
    try:
        needs_db = args.from_db or args.base != "shipped" and not args.base.endswith(".onnx")
        if needs_db:
            from woundtrack.record.store import Store

            store = Store(args.db, create=False, actor=args.user)
        clinic, problems, source = _finetune_photos(store, args)
        for line in problems:
            print(f"woundtrack: {line}", file=err)
        replay: list = []
        if args.replay is None:
            print(
                "woundtrack: warning: no public photos to replay (--replay DIR or "
                "$WOUNDTRACK_REPLAY_DIR): only the pull towards the base weights keeps what it "
                "learned, and the public held-back check is skipped",
                file=err,
            )
        else:
            replay, replay_problems = pairs_mod.load_pairs(
                args.replay / "images", args.replay / "masks"
            )
            if replay_problems:
                print(f"woundtrack: {len(replay_problems)} replay file(s) left out", file=err)
        base_path = _base_model_path(store, args.base)
        params = ft.FinetuneParams(minutes=args.minutes, seed=args.seed)
        result = _run_with_bar(ft, clinic, base_path, replay, params, source, err)
        if store is not None:
            store.record_event(
                "finetune",
                detail={"model_version": result.card["model_version"], "file": out_path.name},
            )
    except WoundtrackError as exc:
        print(f"woundtrack: {exc}", file=err)
        return EXIT_FAILED
    finally:
        if store is not None:
            store.close()
    out_path.write_bytes(result.model.SerializeToString())
    card_path.write_text(ft.card_markdown(result.card), encoding="utf-8")
    print(_finetune_summary(result.card, out_path, card_path), file=out)
    return EXIT_OK


def _finetune_photos(store, args):
    """(pairs, problems, source) from the folders or from the database's accepted corrections."""
    from woundtrack.learn import pairs as pairs_mod

    if not args.from_db:
        pairs, problems = pairs_mod.load_pairs(args.images, args.masks)
        return pairs, problems, f"photos of {args.images} ({len(pairs)} with masks)"
    from woundtrack.record.training_set import outlined_photos, wound_mask

    pairs = [
        pairs_mod.make_pair(entry.id, image, wound_mask(labels))
        for entry, image, labels in outlined_photos(store, accepted_only=True)
    ]
    return pairs, [], f"accepted corrections of the database ({len(pairs)} photos)"


def _base_model_path(store, base: str) -> Path:
    if base.endswith(".onnx"):
        return Path(base)
    if store is None:
        from woundtrack.image.learned import default_model_path

        return default_model_path()
    from woundtrack.record.clinic_models import model_path

    return model_path(store, base)


def _run_with_bar(ft, clinic, base_path, replay, params, source, err):
    from tqdm import tqdm

    bar_format = "{l_bar}{bar}| {elapsed}"
    with tqdm(total=1000, desc="fine-tuning", file=err, bar_format=bar_format) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message, refresh=False)
            bar.update(max(0, int(fraction * 1000) - bar.n))

        return ft.finetune(
            clinic,
            base_path=base_path,
            replay=replay,
            params=params,
            progress=progress,
            source=source,
        )


def _finetune_summary(card: dict, out_path: Path, card_path: Path) -> str:
    def dice(scores) -> str:
        return "-" if not scores else f"{scores['data_based_dice']:.3f}"

    before, after = card["held_back_before"], card["held_back_after"]
    lines = [
        f"wrote {out_path} ({card['model_version']}, from {card['base_model_version']}) and "
        f"its card {card_path}",
        f"{card['steps']} steps in {card['train_minutes']:.1f} min; whole run "
        f"{card['total_minutes']:.1f} min",
        f"wound-bed Dice on {len(card['held_back'])} held-back clinic photo(s): base "
        f"{dice(before)}, tuned {dice(after)}",
    ]
    if card.get("public_held_back_before"):
        lines.append(
            f"wound-bed Dice on {card['replay_held_back']} held-back public photo(s): base "
            f"{dice(card['public_held_back_before'])}, tuned "
            f"{dice(card['public_held_back_after'])}"
        )
    lines.append(f"add it with: woundtrack model add {out_path} --name NAME")
    return "\n".join(lines)


def _model(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record import clinic_models
    from woundtrack.record.store import SHIPPED_MODEL

    if args.action == "list":
        active = store.active_model()
        rows = [
            {
                "name": SHIPPED_MODEL,
                "version": clinic_models.segmenter_for(store, SHIPPED_MODEL).version,
                "active": active == SHIPPED_MODEL,
            }
        ]
        for m in store.models():
            card = m.card or {}
            rows.append(
                {
                    "name": m.name,
                    "version": m.version,
                    "active": m.active,
                    "sha256": m.sha256,
                    "added_by": m.added_by,
                    "added_at": m.added_at.isoformat(timespec="seconds"),
                    "held_back_before": (card.get("held_back_before") or {}).get("data_based_dice"),
                    "held_back_after": (card.get("held_back_after") or {}).get("data_based_dice"),
                }
            )
        for row in rows:
            if args.json:
                print(json.dumps(row), file=out)
            else:
                mark = "*" if row["active"] else " "
                extra = ""
                if "added_by" in row:
                    extra = f"  added {row['added_at']} by {row['added_by']}"
                print(f"{mark} {row['name']:<24s} {row['version']}{extra}", file=out)
        return EXIT_OK
    if not args.target:
        print(f"woundtrack: model {args.action} needs a file or a model name", file=err)
        return EXIT_USAGE
    if args.action == "add":
        if not args.name:
            print("woundtrack: model add needs --name NAME", file=err)
            return EXIT_USAGE
        path = Path(args.target)
        if not path.is_file():
            print(f"woundtrack: {path}: no such file; give the .onnx file's path", file=err)
            return EXIT_USAGE
        entry = clinic_models.add_model(
            store, path.read_bytes(), name=args.name, file_name=path.name
        )
        print(
            f"added {entry.name} ({entry.version}, sha256 {entry.sha256[:12]}); not in use until "
            f"woundtrack model use {entry.name}",
            file=out,
        )
        return EXIT_OK
    if args.action == "use":
        clinic_models.segmenter_for(store, args.target)  # refuses an unknown or broken model
        store.use_model(args.target)
        print(
            f"new photos are measured with {args.target}; stored measurements are unchanged",
            file=out,
        )
        return EXIT_OK
    return _model_compare(store, args, out, err)


def _model_compare(store, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from woundtrack.record.clinic_models import compare_models

    if (args.images is None) != (args.masks is None):
        print("woundtrack: model compare needs both --images and --masks, or neither", file=err)
        return EXIT_USAGE
    table = compare_models(store, args.target, images=args.images, masks=args.masks)
    for line in table.problems:
        print(f"woundtrack: {line}", file=err)
    if args.json:
        print(json.dumps(table.to_json(), indent=2), file=out)
    else:
        print(table.text(), file=out)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
