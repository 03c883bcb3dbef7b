"""Command line: ``woundtrack measure`` and ``woundtrack sticker``.

A thin layer: parse, call the library, print, and map errors to exit codes (0 all good, 1 some
photo failed, 2 bad usage). No traceback reaches a user for an error they can fix.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from . import __version__
from .calibration import DEFAULT_MARKER_MM
from .errors import WoundtrackError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="woundtrack",
        description="Calibrated wound measurements from dressing-change photos.",
    )
    parser.add_argument("--version", action="version", version=f"woundtrack {__version__}")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``woundtrack`` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if args.command == "measure":
        return _measure(args, sys.stdout, sys.stderr)
    return _sticker(args, sys.stdout, sys.stderr)


def _measure(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Measure each photo in turn; a failed photo is reported and the others go on."""
    from .io import read_photo, write_labels_png, write_rgb
    from .overlay import legend_lines, render_overlay
    from .pipeline import analyze_image, failure_record

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
                    f"woundtrack: cannot use {folder} as output folder: {what}; give a folder path",
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
    """Why the output files would overwrite a photo or each other (None when they would not)."""
    inputs = {p.resolve() for p in args.photos}
    for folder, suffix in ((args.labels_out, ".png"), (args.overlay_out, ".jpg")):
        if folder is None:
            continue
        seen: dict[Path, Path] = {}
        for photo in args.photos:
            target = (folder / f"{photo.stem}{suffix}").resolve()
            if target in inputs:
                return (
                    f"writing {target} would overwrite the photo {photo}; "
                    "choose an output folder apart from the photos"
                )
            if target in seen:
                return (
                    f"{seen[target]} and {photo} would both write {target}; "
                    "measure them in separate runs or rename one"
                )
            seen[target] = photo
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
    from .sticker import write_sticker_sheet

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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
