"""Reading a research table (measurements, timeline, reference) from CSV or Parquet.

A CSV (UTF-8, a byte-order mark accepted) or a Parquet file, or a folder of Parquet parts (the
results of ``woundtrack batch``), chosen by what the file holds, not by its name. Every failure
is a ``CohortError`` naming the file and the fix.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from woundtrack.analysis.cohort import CohortError

__all__ = ["MAX_TABLE_BYTES", "read_table", "table_from_bytes"]

#: Largest table read (a cohort of 10,000 patients' weekly visits for years is well below it).
MAX_TABLE_BYTES = 2_000_000_000


def read_table(path: str | os.PathLike[str], *, what: str = "table") -> pd.DataFrame:
    """The table at ``path`` (CSV, Parquet, or a folder of Parquet parts).

    Raises
    ------
    CohortError
        The file is missing, too large, or neither CSV nor Parquet.
    """
    path = Path(path)
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise CohortError(f"{path.name}: a folder without Parquet files; give the {what} file")
        return pd.concat([_parquet(p, p.name, what) for p in parts], ignore_index=True)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        raise CohortError(f"{path.name}: no such file; give the {what} file's path") from None
    except OSError as exc:
        raise CohortError(f"{path.name}: cannot read the {what} ({exc.strerror})") from None
    if size > MAX_TABLE_BYTES:
        raise CohortError(f"{path.name}: {size:,} bytes is over the {MAX_TABLE_BYTES:,} limit")
    if magic == b"PAR1":
        return _parquet(path, path.name, what)
    return _csv(path, path.name, what)


def table_from_bytes(data: bytes, *, name: str, what: str = "table") -> pd.DataFrame:
    """The table in ``data`` (an uploaded CSV or Parquet file called ``name``).

    Raises
    ------
    CohortError
        Too large, or neither CSV nor Parquet.
    """
    if len(data) > MAX_TABLE_BYTES:
        raise CohortError(f"{name}: {len(data):,} bytes is over the {MAX_TABLE_BYTES:,} limit")
    if data[:4] == b"PAR1":
        import pyarrow as pa

        return _parquet(pa.BufferReader(data), name, what)
    return _csv(io.BytesIO(data), name, what)


def _csv(source, name: str, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(source, encoding="utf-8-sig", dtype={"patient": str, "lesion": str})
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CohortError(
            f"{name}: the {what} is neither CSV (UTF-8) nor Parquet ({type(exc).__name__}); "
            "export it as CSV UTF-8"
        ) from None


def _parquet(source, name: str, what: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(source).to_pandas()
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises several types for a bad file
        raise CohortError(f"{name}: not a readable Parquet {what} ({exc})") from None
    return frame.drop(columns=[c for c in ("labels_png", "record_json") if c in frame.columns])
