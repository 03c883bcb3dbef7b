"""Batch measuring on Dask: a manifest of photos in, a Parquet table of results out.

``woundtrack batch MANIFEST.csv --out RESULTS.parquet`` measures every photo the manifest names,
on a Dask cluster: a ``LocalCluster`` on this machine (``--workers N`` processes of one thread
each), or an existing cluster (``--scheduler tcp://HOST:PORT``: a scheduler and workers started
with ``dask scheduler`` / ``dask worker``, or a Kubernetes or HPC deployment), so that a site that
outgrows one machine adds machines, not code. Workers are sent file paths, never pixels: every
worker must see the photos at the same paths (a shared folder on a real cluster).

The manifest (CSV, UTF-8): ``patient, photo`` and optionally ``lesion, taken_at, body_site``. A
relative ``photo`` path is read from the manifest's folder; ``taken_at`` (ISO 8601) overrides the
photo's own EXIF time at import; ``body_site`` is the photo's site, as ``import --site`` takes it
(a patient's wounds photographed one per photo are told apart by it). Any other column is an
error naming it.

The results (``RESULTS.parquet``) are a Parquet dataset: a folder of part files, one written
every ``flush_rows`` results as they arrive (memory stays bounded whatever the batch's size), each
written whole and then renamed into place, so a batch stopped at any moment leaves only complete
parts. One row per photo (``RESULT_COLUMNS``): the JSON record of ``woundtrack measure --json``
flattened, ``ok`` / ``error`` for a photo that failed, ``record_json`` and ``labels_png`` for
``import --from`` (which files them without measuring again). A rerun with the same ``--out``
skips every photo already measured for its patient (by the file's sha256) and measures the rest;
a photo that failed is tried again. ``read_results`` keeps the newest row per patient and photo.

Nothing is lost when a worker dies: Dask's scheduler sends its tasks to another worker
(``retries`` covers a task that raised).
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import functools
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from woundtrack.errors import WoundtrackError
from woundtrack.image.calibration import DEFAULT_MARKER_MM
from woundtrack.image.pipeline import RECORD_FIELDS
from woundtrack.models import AREA_NAMES

__all__ = [
    "MANIFEST_COLUMNS",
    "RESULT_COLUMNS",
    "BatchError",
    "BatchSummary",
    "Job",
    "import_results",
    "measure_job",
    "read_manifest",
    "read_results",
    "run_batch",
]

MANIFEST_COLUMNS = ("patient", "photo", "lesion", "taken_at", "body_site")
REQUIRED_MANIFEST_COLUMNS = ("patient", "photo")
#: Most rows in one manifest: a large study's photos, far below what a typo-made file could hold.
MAX_MANIFEST_ROWS = 1_000_000
#: A result part file is written after this many results (and at the end).
FLUSH_ROWS = 100
#: Times Dask runs a task again after it raised something other than a photo's own error.
TASK_RETRIES = 2


class BatchError(WoundtrackError):
    """The manifest or the results folder cannot be used at all (no photo is measured)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One manifest row: a photo to measure for a patient. ``problem`` says why it cannot be."""

    line: int
    patient: str
    photo: str  # absolute path
    lesion: str | None = None
    taken_at: str | None = None  # ISO 8601, as given
    body_site: str = ""
    problem: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSummary:
    """What one ``run_batch`` did."""

    out: Path
    measured: int
    failed: int
    skipped: int  # already in the results
    seconds: float
    errors: tuple[str, ...]

    @property
    def photos_per_second(self) -> float:
        done = self.measured + self.failed
        return done / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------------------------
# The manifest
# --------------------------------------------------------------------------------------------


def read_manifest(path: str | os.PathLike[str]) -> list[Job]:
    """The manifest's rows as jobs; a row that cannot be measured carries its ``problem``.

    Raises
    ------
    BatchError
        The file cannot be read, is not a CSV with the ``patient`` and ``photo`` columns, or
        names a column the manifest does not have.
    """
    from woundtrack.record.store import check_body_site, check_lesion_label, check_patient_code

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise BatchError(
            f"{path.name}: cannot read the manifest ({why}); give a CSV file"
        ) from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header:
        raise BatchError(f"{path.name}: the manifest is empty; its first line names the columns")
    names = [h.strip().lower() for h in header]
    for name in names:
        if name not in MANIFEST_COLUMNS:
            close = difflib.get_close_matches(name, MANIFEST_COLUMNS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BatchError(
                f"{path.name} line 1: unknown column {name!r}{hint}; a manifest has the columns "
                f"{', '.join(MANIFEST_COLUMNS)} (patient and photo required)"
            )
    missing = [c for c in REQUIRED_MANIFEST_COLUMNS if c not in names]
    if missing:
        raise BatchError(
            f"{path.name} line 1: no column {', '.join(missing)}; a manifest needs the columns "
            "patient and photo"
        )
    jobs = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if line > MAX_MANIFEST_ROWS + 1:
            raise BatchError(
                f"{path.name}: more than {MAX_MANIFEST_ROWS:,} rows; split the manifest"
            )
        cells = dict(zip(names, (c.strip() for c in row), strict=False))
        photo = cells.get("photo", "")
        where = f"{path.name} line {line}"
        problem = None
        patient = cells.get("patient", "")
        lesion = cells.get("lesion") or None
        taken_at = cells.get("taken_at") or None
        body_site = cells.get("body_site", "")
        try:
            patient = check_patient_code(patient)
            body_site = check_body_site(body_site)
            if lesion is not None:
                lesion = check_lesion_label(lesion)
        except WoundtrackError as exc:
            problem = f"{where}: {exc}"
        if not photo:
            problem = problem or f"{where}: no photo path; give the photo's file path"
        if taken_at is not None and problem is None:
            try:
                stamp = datetime.fromisoformat(taken_at)
            except ValueError:
                problem = (
                    f"{where}: taken_at {taken_at!r} is not a date; write it as YYYY-MM-DD or "
                    "YYYY-MM-DDTHH:MM"
                )
            else:  # a date alone is taken as noon, as the app's date picker does
                taken_at = (stamp.replace(hour=12) if len(taken_at) == 10 else stamp).isoformat()
        full = (path.parent / photo).resolve() if photo else path.parent
        jobs.append(
            Job(
                line=line,
                patient=patient,
                photo=str(full),
                lesion=lesion,
                taken_at=taken_at,
                body_site=body_site,
                problem=problem,
            )
        )
    return jobs


# --------------------------------------------------------------------------------------------
# One photo (runs on a worker)
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _segmenter(model_path: str | None):
    from woundtrack.image.pipeline import make_segmenter

    return make_segmenter(model_path=model_path)


def _use_worker_threads() -> None:
    """Inside a Dask worker, let the network and OpenCV use the worker's threads, not every core
    (two one-thread workers on two cores would otherwise run four threads)."""
    try:
        from distributed import get_worker

        threads = get_worker().state.nthreads
    except (ImportError, ValueError):
        return
    os.environ.setdefault("WOUNDTRACK_THREADS", str(threads))
    import cv2

    cv2.setNumThreads(threads)


def measure_job(job: dict[str, Any], marker_mm: float, model_path: str | None) -> dict[str, Any]:
    """Measure one manifest row's photo; its result row (``ok`` false with the reason when the
    photo cannot be read or measured). Runs on a Dask worker; ``job`` is ``Job`` as a dict."""
    from woundtrack.record.ingest import prepare_photo

    _use_worker_threads()
    name = Path(job["photo"]).name
    try:
        data = Path(job["photo"]).read_bytes()
    except OSError as exc:
        why = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
        return _failure(job, f"{name}: cannot read the photo ({why}); check the manifest's path")
    file_sha256 = hashlib.sha256(data).hexdigest()
    try:
        prepared, _ = prepare_photo(
            data, name=name, marker_mm=marker_mm, segmenter=_segmenter(model_path)
        )
    except WoundtrackError as exc:
        return _failure(job, str(exc), file_sha256=file_sha256)
    return _result_row(job, prepared.analysis.to_record(), prepared.labels_png, file_sha256)


def _base(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "patient": job["patient"],
        "lesion": job["lesion"],
        "body_site": job["body_site"],
        "manifest_line": job["line"],
        "photo": job["photo"],
        "manifest_taken_at": job["taken_at"],
        "file": Path(job["photo"]).name,
        "measured_at": datetime.now(UTC),
    }


def _failure(job: dict[str, Any], error: str, *, file_sha256: str | None = None) -> dict:
    return {**_base(job), "ok": False, "error": error, "file_sha256": file_sha256}


def _result_row(job: dict, record: dict, labels_png: bytes, file_sha256: str) -> dict[str, Any]:
    made = record.get("provenance") or {}
    row = {**_base(job), "ok": True, "error": None, "file_sha256": file_sha256}
    for key in _RECORD_SCALARS:
        row[key] = record.get(key)
    row["n_lesions"] = len(record.get("lesions") or [])
    row["warnings"] = json.dumps(record.get("warnings") or [], ensure_ascii=False)
    for key in ("segmenter", "model_version", "model_sha256", "woundtrack_version"):
        row[key] = made.get(key)
    row["analysed_at"] = made.get("analysed_at")
    calibration = record.get("calibration") or {}
    for key in ("quality", "marker_id", "marker_mm"):
        row[f"calibration_{key}"] = calibration.get(key)
    row["record_json"] = json.dumps(record, ensure_ascii=False)
    row["labels_png"] = labels_png
    return row


_RECORD_SCALARS = (
    *RECORD_FIELDS,
    *(f"{n}_area_cm2" for n in AREA_NAMES),
    *(f"{n}_area_px" for n in AREA_NAMES),
)


def _schema():
    import pyarrow as pa

    types = {
        "patient": pa.string(),
        "lesion": pa.string(),
        "body_site": pa.string(),
        "manifest_line": pa.int64(),
        "photo": pa.string(),
        "manifest_taken_at": pa.string(),
        "file": pa.string(),
        "ok": pa.bool_(),
        "error": pa.string(),
        "file_sha256": pa.string(),
        "sha256": pa.string(),
        "taken_at": pa.string(),
        "width_px": pa.int64(),
        "height_px": pa.int64(),
        "calibrated": pa.bool_(),
        "calibration_method": pa.string(),
        "mm_per_px": pa.float64(),
        "tilt_deg": pa.float64(),
        "area_uncertainty_pct": pa.float64(),
        "outline_doubt": pa.float64(),
        **{f"{n}_area_cm2": pa.float64() for n in AREA_NAMES},
        **{f"{n}_area_px": pa.int64() for n in AREA_NAMES},
        "n_lesions": pa.int64(),
        "warnings": pa.string(),
        "segmenter": pa.string(),
        "model_version": pa.string(),
        "model_sha256": pa.string(),
        "woundtrack_version": pa.string(),
        "analysed_at": pa.string(),
        "calibration_quality": pa.string(),
        "calibration_marker_id": pa.int64(),
        "calibration_marker_mm": pa.float64(),
        "measured_at": pa.timestamp("us", tz="UTC"),
        "record_json": pa.string(),
        "labels_png": pa.binary(),
    }
    return pa.schema(list(types.items()))


#: The columns of a results row, in order.
RESULT_COLUMNS = tuple(_schema().names)


# --------------------------------------------------------------------------------------------
# The results dataset
# --------------------------------------------------------------------------------------------


class _PartWriter:
    """Writes result rows as Parquet part files of ``flush_rows`` rows, each complete on disk
    before it appears under its final name."""

    def __init__(self, folder: Path, flush_rows: int) -> None:
        self.folder = folder
        self.flush_rows = flush_rows
        self.rows: list[dict[str, Any]] = []
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        self.parts = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = _schema()
        table = pa.Table.from_pylist(
            [{c: row.get(c) for c in schema.names} for row in self.rows], schema=schema
        )
        final = self.folder / f"part-{self.stamp}-{self.parts:05d}.parquet"
        partial = final.with_name(f".{final.name}.partial")
        pq.write_table(table, partial)
        os.replace(partial, final)
        self.parts += 1
        self.rows = []


def _results_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise BatchError(
            f"{out.name} is a file, not a results folder written by woundtrack batch; give a new "
            "name (a folder of Parquet parts is made there)"
        )
    strays = [
        p.name
        for p in (out.iterdir() if out.is_dir() else ())
        if not p.name.startswith(("part-", "."))
    ]
    if strays:
        raise BatchError(
            f"{out.name} holds files woundtrack batch did not write ({strays[0]}, ...); give a "
            "new results folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot make the results folder {out}: {exc.strerror}") from None
    return out


def read_results(
    path: str | os.PathLike[str], *, with_labels: bool = False, keep_part: bool = False
):
    """The results of ``woundtrack batch`` as a pandas DataFrame: one row per patient and photo
    (the newest, when a rerun measured a photo again), ``labels_png`` only with ``with_labels``,
    and ``_part`` (the part file holding the row) only with ``keep_part``.

    Raises
    ------
    BatchError
        ``path`` is not a results folder (or Parquet file) of ``woundtrack batch``.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    parts = sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]
    if not parts or not parts[0].exists():
        raise BatchError(f"{path.name}: no results there; run woundtrack batch --out {path.name}")
    columns = [c for c in RESULT_COLUMNS if with_labels or c != "labels_png"]
    try:
        frames = [_read_part(pq, p, columns).assign(_part=str(p)) for p in parts]
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises many types for a file not its own
        raise BatchError(
            f"{path.name}: not results of woundtrack batch ({type(exc).__name__}: {exc})"
        ) from None
    import pandas as pd

    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values("measured_at", kind="stable")
    frame = frame.drop_duplicates(subset=["patient", "photo"], keep="last")
    frame = frame.sort_values(["patient", "manifest_line"], kind="stable").reset_index(drop=True)
    return frame if keep_part else frame.drop(columns="_part")


def _read_part(pq, part: Path, columns: list[str]):
    """One part file's ``columns`` as a DataFrame; a column that a part written by an earlier
    version lacks (``body_site``) is empty."""
    have = set(pq.read_schema(part).names)
    frame = pq.read_table(part, columns=[c for c in columns if c in have]).to_pandas()
    for name in _ADDED_COLUMNS:
        if name in columns and name not in have:
            frame[name] = ""
    return frame[columns]


#: Result columns added since the first results format (a part without one reads it as empty).
_ADDED_COLUMNS = ("body_site",)


def _rows_with_labels(chosen) -> Iterable[dict[str, Any]]:
    """The rows of ``chosen`` (``read_results(..., keep_part=True)``) in its order (patient,
    manifest line), each with its label map, read from its part file; the last few parts read
    are kept, so memory holds a few parts' label maps whatever the batch's size."""
    import pyarrow.parquet as pq

    @functools.lru_cache(maxsize=4)
    def labels_of(part: str) -> dict[tuple[str, str, Any], bytes]:
        table = pq.read_table(part, columns=["patient", "photo", "measured_at", "labels_png"])
        return {
            (r["patient"], r["photo"], r["measured_at"]): r["labels_png"]
            for r in table.to_pandas().to_dict("records")
        }

    for row in chosen.to_dict("records"):
        key = (row["patient"], row["photo"], row["measured_at"])
        row["labels_png"] = labels_of(row.pop("_part")).get(key)
        yield row


def _done(out: Path) -> set[tuple[str, str]]:
    """(patient, file sha256) of every photo measured well in an earlier run into ``out``."""
    if not any(out.glob("part-*.parquet")):
        return set()
    frame = read_results(out)
    ok = frame[frame["ok"]]
    return set(zip(ok["patient"], ok["file_sha256"], strict=True))


def _unreadable(path: str) -> str | None:
    """Why the photo at ``path`` cannot be opened (``None`` when it can)."""
    name = Path(path).name
    try:
        with open(path, "rb"):
            return None
    except FileNotFoundError:
        return f"{name}: no such file"
    except IsADirectoryError:
        return f"{name}: a folder, not a photo"
    except OSError as exc:
        return f"{name}: cannot be read ({exc.strerror})"


def _file_sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def run_batch(
    manifest: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    marker_mm: float = DEFAULT_MARKER_MM,
    model_path: str | os.PathLike[str] | None = None,
    flush_rows: int = FLUSH_ROWS,
    progress: bool = True,
    on_started: Callable[[Any], None] | None = None,
    connect_timeout_s: float = 20.0,
) -> BatchSummary:
    """Measure every photo of ``manifest`` into the results folder ``out`` (see the module).

    Parameters
    ----------
    workers : int, optional
        Worker processes of a ``LocalCluster`` (one thread each); default: one per core. ``0``
        measures in this process, without Dask.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://HOST:8786``); ``workers`` is then ignored.
    on_started : callable, optional
        Called with the ``distributed.Client`` once the cluster is up (tests use it to kill a
        worker in the middle of a run).
    connect_timeout_s : float
        How long to try reaching ``scheduler``.

    Raises
    ------
    BatchError
        The manifest or ``out`` cannot be used, or the scheduler cannot be reached.
    """
    started = time.perf_counter()
    jobs = read_manifest(manifest)
    folder = _results_folder(Path(out))
    done = _done(folder)
    model = None if model_path is None else str(Path(model_path).resolve())
    if model is not None:
        _segmenter(model)  # a broken model file is refused before any photo is sent
    writer = _PartWriter(folder, flush_rows)
    errors: list[str] = []
    todo: list[dict[str, Any]] = []
    skipped = failed_here = 0
    for job in jobs:
        row = dataclasses.asdict(job)
        if job.problem is not None:
            writer.add(_failure(row, job.problem))
            errors.append(job.problem)
            continue
        # the file is hashed here only to skip what an earlier run measured (workers hash what
        # they read); on a first run it is only checked to be readable
        sha = _file_sha256(job.photo) if done else None
        reason = None if sha is not None else _unreadable(job.photo)
        if reason is not None:
            problem = f"{Path(manifest).name} line {job.line}: {reason}; check the manifest's path"
            writer.add(_failure(row, problem))
            errors.append(problem)
            failed_here += 1
            continue
        if sha is not None and (job.patient, sha) in done:
            skipped += 1
            continue
        todo.append(row)
    measured = failed = 0
    try:
        cluster = _Cluster(workers, scheduler, connect_timeout_s, on_started)
        for row in _results(todo, marker_mm, model, cluster, progress):
            writer.add(row)
            if row["ok"]:
                measured += 1
            else:
                failed += 1
                errors.append(row["error"])
    finally:
        writer.flush()
    failed += failed_here + sum(1 for job in jobs if job.problem is not None)
    return BatchSummary(
        out=folder,
        measured=measured,
        failed=failed,
        skipped=skipped,
        seconds=time.perf_counter() - started,
        errors=tuple(errors),
    )


@dataclass(frozen=True, slots=True)
class _Cluster:
    workers: int | None
    scheduler: str | None
    connect_timeout_s: float
    on_started: Callable[[Any], None] | None


def _worker_version() -> str:
    from woundtrack import __version__

    return __version__


def _check_workers(client, scheduler: str | None) -> None:
    """Every worker must run this woundtrack version (the results' provenance names it)."""
    from woundtrack import __version__

    try:
        client.wait_for_workers(1, timeout=60)
        versions = client.run(_worker_version)
    except ImportError as exc:
        raise BatchError(
            f"the Dask workers cannot import woundtrack ({exc}); install woundtrack "
            f"{__version__} in every worker's environment"
        ) from None
    except TimeoutError:
        raise BatchError(
            f"no Dask worker joined the scheduler {scheduler} within 60 s; start workers with "
            f"`dask worker {scheduler or 'tcp://HOST:8786'}`"
        ) from None
    other = {w: v for w, v in versions.items() if v != __version__}
    if other:
        worker, version = next(iter(other.items()))
        raise BatchError(
            f"the Dask worker {worker} runs woundtrack {version}, this is {__version__}; install "
            "the same version on every worker (the results name the version that measured them)"
        )


def _results(
    todo: list[dict[str, Any]],
    marker_mm: float,
    model: str | None,
    where: _Cluster,
    progress: bool,
) -> Iterable[dict[str, Any]]:
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="photo", disable=not progress, file=sys.stderr)
    if not todo:
        bar.close()
        return
    if where.workers == 0 and where.scheduler is None:
        with bar:
            for job in todo:
                yield measure_job(job, marker_mm, model)
                bar.update()
        return
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if where.scheduler is None:
            n = where.workers or os.cpu_count() or 1
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        else:
            client = Client(where.scheduler, timeout=f"{where.connect_timeout_s}s")
    except OSError as exc:
        bar.close()
        raise BatchError(
            f"cannot reach the Dask scheduler {where.scheduler}: {exc}; start it with `dask "
            "scheduler` and give its address, e.g. tcp://127.0.0.1:8786"
        ) from None
    try:
        _check_workers(client, where.scheduler)
        if where.on_started is not None:
            where.on_started(client)
        futures = [
            client.submit(
                measure_job,
                job,
                marker_mm,
                model,
                key=f"woundtrack-measure-{job['line']}-{hashlib.sha1(job['photo'].encode()).hexdigest()[:8]}",
                retries=TASK_RETRIES,
                pure=False,
            )
            for job in todo
        ]
        jobs = {f.key: job for f, job in zip(futures, todo, strict=True)}
        with bar:
            for future in as_completed(futures):
                job = jobs[future.key]
                try:
                    row = future.result()
                except Exception as exc:  # noqa: BLE001 -- any failure is this photo's row
                    name = Path(job["photo"]).name
                    row = _failure(
                        job,
                        f"{name}: measuring failed on the cluster ({type(exc).__name__}: {exc})",
                    )
                future.release()
                bar.update()
                yield row
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------------------------
# Filing the results
# --------------------------------------------------------------------------------------------


def import_results(
    store,
    path: str | os.PathLike[str],
    *,
    patient_column: str = "patient",
    on_result: Callable[[str, Any], None] | None = None,
) -> tuple[list, list[str]]:
    """File every good row of a results folder in ``store`` without measuring again.

    The photo is read again from its path (it is stored in the record) and must be the file the
    batch measured (same sha256). ``on_result(file, ImportResult)`` is called per filed photo.
    Returns the import results and one message per row not filed (failed in the batch, photo
    missing or changed, a patient code refused).
    """
    from woundtrack.image.io import decode_labels_png
    from woundtrack.record.ingest import import_photo

    frame = read_results(path, keep_part=True)
    if patient_column not in frame.columns:
        raise BatchError(
            f"{Path(path).name}: no column {patient_column!r}; the patient codes are in "
            "'patient' unless the table was changed"
        )
    results, problems = [], []
    for row in _rows_with_labels(frame):
        name = row["file"]
        if not row["ok"]:
            problems.append(f"{name}: not measured in the batch ({row['error']}); not imported")
            continue
        try:
            data = Path(row["photo"]).read_bytes()
        except OSError as exc:
            problems.append(f"{name}: cannot read {row['photo']} ({exc.strerror}); not imported")
            continue
        if hashlib.sha256(data).hexdigest() != row["file_sha256"]:
            problems.append(
                f"{name}: the file changed since the batch measured it; measure it again "
                "(woundtrack batch with the same --out) before importing"
            )
            continue
        taken_at = row["manifest_taken_at"]
        try:
            result = import_photo(
                store,
                data,
                name=name,
                patient=str(row[patient_column]),
                lesion=row["lesion"],
                body_site=row["body_site"] or "",
                taken_at=None if taken_at is None else datetime.fromisoformat(taken_at),
                stored=(json.loads(row["record_json"]), decode_labels_png(row["labels_png"])),
            )
        except (WoundtrackError, ValueError) as exc:
            problems.append(f"{name}: {exc}; not imported")
            continue
        results.append(result)
        if on_result is not None:
            on_result(name, result)
    return results, problems
