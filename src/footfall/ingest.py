"""Ping input: find the files, read them in bounded batches, validate every row."""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from numba import njit

from footfall.errors import InputError
from footfall.manifest import file_digest

__all__ = [
    "REASONS",
    "Columns",
    "Fragment",
    "PingBatch",
    "find_files",
    "list_fragments",
    "iter_batches",
    "to_ping_batch",
    "validate",
    "Quarantine",
    "quarantine_rows",
    "NO_TIME",
    "read_pings",
    "window_seconds",
    "DEFAULT_WINDOW",
    "QUARANTINE_SCHEMA",
]

#: Why a row is quarantined; code ``i + 1`` in :func:`validate` is ``REASONS[i]``.
REASONS: tuple[str, ...] = (
    "null_device",
    "null_timestamp",
    "bad_timestamp",
    "implausible_timestamp",
    "nan_coordinates",
    "out_of_range",
    "null_island",
)

_REASON_NAMES = pa.array(REASONS, pa.string())
_FLOAT64 = pa.float64()

#: Default plausible window of ping timestamps (UTC, end excluded).
DEFAULT_WINDOW: tuple[str, str] = ("2005-01-01", "2050-01-01")

QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("row", pa.int64()),
        ("reason", pa.string()),
        ("timestamp", pa.timestamp("s", tz="UTC")),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("accuracy_m", pa.float32()),
    ]
)

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".tsv")
# epoch integers at or above this are milliseconds (1e11 s is the year 5138)
_MS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True)
class Columns:
    """Names of the ping columns in the input (DESIGN §3).

    ``accuracy`` is optional: used when the input has that column.
    """

    device: str = "device_id"
    time: str = "timestamp"
    lat: str = "lat"
    lon: str = "lon"
    accuracy: str = "accuracy_m"

    @property
    def required(self) -> tuple[str, ...]:
        """The columns every input file must have."""
        return (self.device, self.time, self.lat, self.lon)


@dataclass(frozen=True)
class Fragment:
    """A unit of work: one CSV file, or a run of row groups of one Parquet file.

    ``row0`` is the row number (0-based, in the file) of the fragment's first row;
    ``row_groups`` is ``None`` for a whole file; ``digest`` is the file's BLAKE3 hash.
    """

    path: str
    format: str
    size: int
    digest: str
    row0: int = 0
    rows: int | None = None
    row_groups: tuple[int, ...] | None = None
    has_accuracy: bool = field(default=False, compare=False)

    @property
    def key(self) -> str:
        """Identity of the fragment's content (file hash and row-group run)."""
        rg = "all" if self.row_groups is None else f"{self.row_groups[0]}-{self.row_groups[-1]}"
        return f"{self.digest}:{rg}"


@dataclass
class PingBatch:
    """Ping columns as numpy arrays, in input row order.

    ``device`` holds 64-bit pseudonymous keys, never the identifiers: integer ids go
    through a bijective mix (exact), text ids through a 64-bit hash. ``t_state`` is 0
    for a parsed timestamp, 1 for a null, 2 for an unparseable one; ``t`` is UTC epoch
    seconds (floor).
    """

    device: np.ndarray
    device_null: np.ndarray
    t: np.ndarray
    t_state: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    accuracy: np.ndarray | None

    def __len__(self) -> int:
        return len(self.t)


def find_files(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path | str]:
    """List the ping files of `source`: a file, a directory (recursive), a glob or a list.

    In a directory, names that start with ``.`` or ``_`` are skipped (as pyarrow and
    Spark do), so metadata such as ``_truth_zones.parquet`` is not read as pings.
    An fsspec URL (``s3://bucket/pings/``, ``gs://…/*.parquet``; it needs that
    filesystem's package, e.g. ``s3fs``) gives URLs, as text.
    """
    if isinstance(source, (list, tuple)):
        return [f for s in source for f in find_files(s)]
    text = os.fspath(source)
    if _is_url(text):
        return _find_urls(text)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p))
        if not files:
            raise InputError(f"{text}: no file matches this pattern")
        return files
    path = Path(text)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{text}: no such file or directory")
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        files += [Path(root, n) for n in sorted(names) if not n.startswith((".", "_"))]
    if not files:
        raise InputError(f"{text}: no ping file in this directory")
    return files


def _is_url(path: str | os.PathLike) -> bool:
    return "://" in os.fspath(path)


def _filesystem(path: str | os.PathLike) -> tuple[Any, str]:
    """Return the fsspec filesystem of a local path or a URL, and the path within it."""
    try:
        return fsspec.core.url_to_fs(os.fspath(path))
    except (ImportError, ValueError) as exc:  # the filesystem's package is missing, or unknown
        raise InputError(f"{os.fspath(path)}: cannot read this URL ({exc})") from exc


def _find_urls(url: str) -> list[str]:
    """:func:`find_files` for an fsspec URL, with the same rules."""
    fs, root = _filesystem(url)
    if any(ch in root for ch in "*?["):
        found = [p for p in fs.glob(root) if fs.isfile(p)]
    elif fs.isfile(root):
        found = [root]
    elif fs.isdir(root):
        top = root.rstrip("/")
        found = [
            p
            for p in fs.find(top)
            if not any(part.startswith((".", "_")) for part in p[len(top) :].split("/"))
        ]
    else:
        raise InputError(f"{url}: no such file or directory")
    if not found:
        raise InputError(f"{url}: no ping file there")
    return sorted(fs.unstrip_protocol(p) for p in found)


def _file_format(path: str | os.PathLike) -> str:
    return "csv" if os.fspath(path).lower().endswith(_CSV_SUFFIXES) else "parquet"


def _digest(fs: Any, path: str) -> str:
    with fs.open(path, "rb") as f:
        return file_digest(f)


def _missing(path: Path, names: Sequence[str], columns: Columns) -> None:
    missing = [c for c in columns.required if c not in names]
    if missing:
        raise InputError(
            f"{path}: no column {missing[0]!r} (columns: {', '.join(map(str, names))}); "
            "map the names with --device-col/--time-col/--lat-col/--lon-col"
        )


def _csv_header(fs: Any, path: str) -> list[str]:
    with fs.open(path, "rb", compression="infer") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        return next(csv.reader(text), [])


def list_fragments(
    path: Path | str, columns: Columns, *, target_rows: int = 4_000_000
) -> list[Fragment]:
    """Split one input file (a path or an fsspec URL) into fragments of about `target_rows` rows.

    Raises
    ------
    InputError
        When a required column is missing (the message names the file and column).
    OSError, pyarrow.ArrowException, UnicodeDecodeError
        When the file is unreadable or not Parquet/CSV (callers decide to stop or skip).
    """
    fmt = _file_format(path)
    fs, where = _filesystem(path)
    size = fs.size(where)
    digest = _digest(fs, where)
    if fmt == "csv":
        names = _csv_header(fs, where)
        _missing(path, names, columns)
        return [Fragment(str(path), fmt, size, digest, has_accuracy=columns.accuracy in names)]
    meta = pq.ParquetFile(where, filesystem=fs).metadata
    names = meta.schema.to_arrow_schema().names
    _missing(path, names, columns)
    has_acc = columns.accuracy in names
    out, group, row0, rows = [], [], 0, 0
    for i in range(meta.num_row_groups):
        group.append(i)
        rows += meta.row_group(i).num_rows
        if rows >= target_rows or i == meta.num_row_groups - 1:
            out.append(Fragment(str(path), fmt, size, digest, row0, rows, tuple(group), has_acc))
            group, row0, rows = [], row0 + rows, 0
    return out or [Fragment(str(path), fmt, size, digest, 0, 0, None, has_acc)]


def iter_batches(
    fragment: Fragment, columns: Columns, *, batch_rows: int = 1 << 20
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Yield ``(row0, batch)``: record batches of the fragment's ping columns.

    ``row0`` is the row number in the file of the batch's first row. CSV columns are
    read as text and parsed by :func:`to_ping_batch`, so one garbled value quarantines
    its row instead of failing the file. Memory is bounded by `batch_rows`.
    """
    names = [*columns.required, *([columns.accuracy] if fragment.has_accuracy else [])]
    row = fragment.row0
    with contextlib.ExitStack() as stack:
        source: Any = fragment.path
        if _is_url(fragment.path):  # pyarrow reads fsspec files, not their URLs
            fs, where = _filesystem(fragment.path)
            compression = "infer" if fragment.format == "csv" else None
            source = stack.enter_context(fs.open(where, "rb", compression=compression))
        if fragment.format == "csv":
            reader = pcsv.open_csv(
                source,
                read_options=pcsv.ReadOptions(block_size=64 << 20),
                convert_options=pcsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    include_columns=names,
                    strings_can_be_null=True,
                ),
            )
            batches: Iterator[pa.RecordBatch] = iter(reader)
        else:
            batches = pq.ParquetFile(source).iter_batches(
                batch_size=batch_rows,
                row_groups=fragment.row_groups,
                columns=names,
                use_threads=False,
            )
        for batch in batches:
            yield row, batch
            row += batch.num_rows


def _null_mask(arr: pa.Array) -> np.ndarray:
    """Boolean null mask of an array, unpacked from its validity bitmap."""
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    bits = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    valid = np.unpackbits(bits, count=arr.offset + len(arr), bitorder="little")[arr.offset :]
    return valid == 0


def _int64_values(arr: pa.Array) -> np.ndarray:
    """Return the int64 values of an integer or timestamp array (zero-copy; nulls: any)."""
    if not (pa.types.is_int64(arr.type) or pa.types.is_timestamp(arr.type)):
        arr = arr.cast(pa.int64())
    if len(arr) == 0:
        return np.empty(0, dtype=np.int64)
    return np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr), offset=arr.offset * 8)


@njit(nogil=True, cache=True)
def _mix64(x):  # pragma: no cover - numba
    """Bijective 64-bit mix (splitmix64 finaliser): integer ids become exact keys."""
    out = np.empty(len(x), np.uint64)
    for i in range(len(x)):
        v = np.uint64(x[i])
        v ^= v >> np.uint64(30)
        v *= np.uint64(0xBF58476D1CE4E5B9)
        v ^= v >> np.uint64(27)
        v *= np.uint64(0x94D049BB133111EB)
        v ^= v >> np.uint64(31)
        out[i] = v
    return out


@njit(nogil=True, cache=True)
def _floor_seconds(values, per_second):  # pragma: no cover - numba
    """Epoch values in units of 1/`per_second` s -> seconds (floor); 0: s or ms by size."""
    out = np.empty(len(values), np.int64)
    # one loop per unit, so that each division is by a constant (a multiplication)
    if per_second == 1:
        out[:] = values
    elif per_second == 1_000:
        for i in range(len(values)):
            out[i] = values[i] // 1_000
    elif per_second == 1_000_000:
        for i in range(len(values)):
            out[i] = values[i] // 1_000_000
    elif per_second == 1_000_000_000:
        for i in range(len(values)):
            out[i] = values[i] // 1_000_000_000
    else:  # integers of 1e11 and above are milliseconds; below, seconds
        for i in range(len(values)):
            v = values[i]
            out[i] = v // 1_000 if abs(v) >= _MS_THRESHOLD else v
    return out


def _device_keys(arr: pa.Array, where: str) -> tuple[np.ndarray, np.ndarray]:
    null = _null_mask(arr)
    t = arr.type
    if pa.types.is_integer(t):
        return _mix64(_int64_values(arr)), null
    if pa.types.is_dictionary(t):
        dictionary, indices = arr.dictionary, arr.indices
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        enc = pc.dictionary_encode(arr)
        dictionary, indices = enc.dictionary, enc.indices
    else:
        raise InputError(f"{where}: device column has type {t}; expected text or integer")
    # Hash each distinct id once, then spread by index: devices repeat a lot.
    hashes = pd.util.hash_array(np.asarray(dictionary.to_pylist(), dtype=object), categorize=False)
    idx = indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.intp)
    keys = hashes[idx] if len(hashes) else np.zeros(len(arr), dtype=np.uint64)
    return keys, null


def _timestamps(arr: pa.Array, where: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch seconds and a state (0 ok, 1 null, 2 unparseable) for a time column."""
    t = arr.type
    state = _null_mask(arr).astype(np.uint8)
    if pa.types.is_timestamp(t):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[t.unit]
        return _floor_seconds(_int64_values(arr), per_second), state
    if pa.types.is_integer(t):
        return _floor_seconds(_int64_values(arr), 0), state
    if pa.types.is_floating(t):
        f = arr.cast(pa.float64()).fill_null(0.0).to_numpy()
        bad = ~np.isfinite(f) & (state == 0)
        state[bad] = 2
        f = np.where(bad, 0.0, np.floor(f))
        return _floor_seconds(f.astype(np.int64), 0), state
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:  # epoch integers written as text (CSV)
            return _timestamps(pc.cast(arr, pa.int64()), where)
        except pa.ArrowInvalid:
            pass
        try:  # ISO-8601, fast path when every value parses
            return _timestamps(pc.cast(arr, pa.timestamp("s", tz="UTC")), where)
        except pa.ArrowInvalid:
            pass
        parsed = pd.to_datetime(
            pd.Series(arr.to_pandas(), dtype=object), format="ISO8601", utc=True, errors="coerce"
        )
        nat = parsed.isna().to_numpy()
        state[nat & (state == 0)] = 2
        ns = parsed.to_numpy(dtype="datetime64[ns]").view(np.int64)
        return np.where(nat, 0, ns // 1_000_000_000), state
    raise InputError(
        f"{where}: time column has type {t}; expected a timestamp, epoch seconds or "
        "milliseconds, or ISO-8601 text"
    )


def _floats(arr: pa.Array, where: str, name: str, dtype: pa.DataType = _FLOAT64) -> np.ndarray:
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            arr = pc.cast(arr, pa.float64())
        except pa.ArrowInvalid:  # garbled text becomes NaN, and the row is quarantined
            number = pd.to_numeric(arr.to_pandas(), errors="coerce")
            return number.to_numpy(dtype.to_pandas_dtype())
    elif not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)):
        raise InputError(f"{where}: column {name!r} has type {t}; expected a number")
    return arr.cast(dtype).to_numpy(zero_copy_only=False)  # no copy: same type, no nulls


def to_ping_batch(batch: pa.RecordBatch, columns: Columns, where: str = "") -> PingBatch:
    """Convert a record batch of input columns to a :class:`PingBatch`.

    Parameters
    ----------
    batch : pyarrow.RecordBatch or pyarrow.Table
        Has the columns named by `columns` (``accuracy`` optional).
    columns : Columns
        The column names.
    where : str
        Names the source in error messages.
    """
    col = batch.column
    device, device_null = _device_keys(_flat(col(columns.device)), where)
    t, t_state = _timestamps(_flat(col(columns.time)), where)
    lat = _floats(_flat(col(columns.lat)), where, columns.lat)
    lon = _floats(_flat(col(columns.lon)), where, columns.lon)
    acc = None
    if columns.accuracy in batch.schema.names:
        acc = _floats(_flat(col(columns.accuracy)), where, columns.accuracy, pa.float32())
    return PingBatch(device, device_null, t, t_state, lat, lon, acc)


def _flat(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


@njit(nogil=True, cache=True)
def _validate(device_null, t, t_state, lat, lon, tmin, tmax):  # pragma: no cover - numba
    n = len(t)
    reason = np.zeros(n, dtype=np.uint8)
    for i in range(n):
        y, x = lat[i], lon[i]
        if device_null[i]:
            reason[i] = 1
        elif t_state[i] == 1:
            reason[i] = 2
        elif t_state[i] == 2:
            reason[i] = 3
        elif t[i] < tmin or t[i] >= tmax:
            reason[i] = 4
        elif not (np.isfinite(y) and np.isfinite(x)):
            reason[i] = 5
        elif y < -90.0 or y > 90.0 or x < -180.0 or x > 180.0:
            reason[i] = 6
        elif y == 0.0 and x == 0.0:
            reason[i] = 7
    return reason


def validate(pings: PingBatch, window: tuple[int, int]) -> np.ndarray:
    """Reason code per row: 0 for a valid ping, else ``i + 1`` for ``REASONS[i]``.

    Parameters
    ----------
    pings : PingBatch
    window : (int, int)
        Plausible timestamps, UTC epoch seconds ``[start, end)``.

    Notes
    -----
    The first failing check wins, in the order of :data:`REASONS`. NaN lat/lon from
    unparseable text are ``nan_coordinates``; exact duplicates are valid rows.
    """
    return _validate(
        pings.device_null, pings.t, pings.t_state, pings.lat, pings.lon, window[0], window[1]
    )


@dataclass
class Quarantine:
    """Quarantined rows as numpy columns, without device identifiers.

    They stay numpy from the map to the final write: an arrow table per batch costs
    more than the few rows in it. :meth:`table` gives the ``QUARANTINE_SCHEMA``.

    Attributes
    ----------
    sources : tuple of str
        The inputs the rows come from; ``source`` indexes it.
    source, row, reason : numpy.ndarray
        Per row: int32 source index, int64 row number in the source, uint8 reason code
        (``REASONS[code - 1]``).
    timestamp : numpy.ndarray
        int64 UTC epoch seconds, :data:`NO_TIME` for a null or unparseable one.
    lat, lon, accuracy : numpy.ndarray
        float64, float64 and float32 (NaN: none).
    """

    sources: tuple[str, ...]
    source: np.ndarray
    row: np.ndarray
    reason: np.ndarray
    timestamp: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    accuracy: np.ndarray

    #: The per-row columns, in order, with their dtypes.
    COLUMNS = (("source", np.int32), ("row", np.int64), ("reason", np.uint8),
               ("timestamp", np.int64), ("lat", np.float64), ("lon", np.float64),
               ("accuracy", np.float32))  # fmt: skip

    @property
    def num_rows(self) -> int:
        """Number of quarantined rows."""
        return len(self.row)

    @classmethod
    def empty(cls) -> Quarantine:
        """Return a quarantine without rows."""
        return cls((), *(np.empty(0, dtype) for _, dtype in cls.COLUMNS))

    @classmethod
    def concat(cls, parts: Sequence[Quarantine]) -> Quarantine:
        """Return the rows of every part, in order."""
        parts = [p for p in parts if p.num_rows]
        if not parts:
            return cls.empty()
        sources = tuple(dict.fromkeys(s for p in parts for s in p.sources))
        at = {s: i for i, s in enumerate(sources)}
        source = np.concatenate(
            [np.array([at[s] for s in p.sources], np.int32)[p.source] for p in parts]
        )
        cols = [np.concatenate([getattr(p, name) for p in parts]) for name, _ in cls.COLUMNS[1:]]
        return cls(sources, source, *cols)

    def table(self) -> pa.Table:
        """Return the rows as an arrow table (``QUARANTINE_SCHEMA``)."""
        known = self.timestamp != NO_TIME
        return pa.table(
            [
                pa.array(list(self.sources), pa.string()).take(pa.array(self.source)),
                pa.array(self.row, pa.int64()),
                _REASON_NAMES.take(pa.array(self.reason.astype(np.int64) - 1)),
                pa.array(np.where(known, self.timestamp, 0), pa.int64(), mask=~known).cast(
                    pa.timestamp("s", tz="UTC")
                ),
                pa.array(self.lat),
                pa.array(self.lon),
                pa.array(self.accuracy, mask=np.isnan(self.accuracy)),
            ],
            schema=QUARANTINE_SCHEMA,
        )


#: ``Quarantine.timestamp`` of a row whose timestamp is null or unparseable.
NO_TIME = np.iinfo(np.int64).min


def quarantine_rows(
    pings: PingBatch, reason: np.ndarray, source: str, row0: int, rows: np.ndarray | None = None
) -> Quarantine:
    """Return the quarantined rows of a batch, without device identifiers.

    `rows`, when given, are the rows of nonzero `reason` (found by the caller).
    """
    if rows is None:
        (rows,) = np.nonzero(reason)
    return Quarantine(
        (source,),
        np.zeros(len(rows), np.int32),
        rows + row0,
        reason[rows],
        np.where(pings.t_state[rows] == 0, pings.t[rows], NO_TIME),
        pings.lat[rows],
        pings.lon[rows],
        (
            pings.accuracy[rows].astype(np.float32)
            if pings.accuracy is not None
            else np.full(len(rows), np.nan, np.float32)
        ),
    )


def window_seconds(window: tuple[str, str] = DEFAULT_WINDOW) -> tuple[int, int]:
    """Convert a ``(start, end)`` pair of dates or times (UTC) to epoch seconds."""
    start, end = (pd.Timestamp(w) for w in window)
    start, end = (w.tz_localize("UTC") if w.tzinfo is None else w for w in (start, end))
    if end <= start:
        raise InputError(f"time window {window!r}: the end is not after the start")
    return int(start.timestamp()), int(end.timestamp())


def read_pings(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    columns: Columns | None = None,
    window: tuple[str, str] = DEFAULT_WINDOW,
) -> pd.DataFrame:
    """Read pings into memory with each row's validation result (small inputs only).

    Parameters
    ----------
    source : path, glob or list of them
        Parquet or CSV files (DESIGN §3).
    columns : Columns, optional
        Input column names; default ``device_id, timestamp, lat, lon, accuracy_m``.
    window : (str, str)
        Plausible UTC timestamps; others are quarantined as ``implausible_timestamp``.

    Returns
    -------
    pandas.DataFrame
        ``source``, ``row``, ``device`` (uint64 pseudonymous key, not the identifier),
        ``timestamp`` (UTC, NaT when null or unparseable), ``lat``, ``lon``,
        ``accuracy_m`` and ``reason`` (empty string for a valid ping).
    """
    columns = columns or Columns()
    win = window_seconds(window)
    frames = []
    for path in find_files(source):
        for frag in list_fragments(path, columns):
            for row0, batch in iter_batches(frag, columns):
                pings = to_ping_batch(batch, columns, frag.path)
                reason = validate(pings, win)
                n = len(pings)
                ts = pd.to_datetime(pings.t, unit="s", utc=True).where(pings.t_state == 0)
                frames.append(
                    pd.DataFrame(
                        {
                            "source": frag.path,
                            "row": np.arange(row0, row0 + n),
                            "device": pings.device,
                            "timestamp": ts,
                            "lat": pings.lat,
                            "lon": pings.lon,
                            "accuracy_m": pings.accuracy
                            if pings.accuracy is not None
                            else np.full(n, np.nan, np.float32),
                            "reason": np.asarray(("", *REASONS), dtype=object)[reason],
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
