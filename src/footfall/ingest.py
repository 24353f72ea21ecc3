"""Ping input: find the files, read them in bounded batches, validate every row."""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from numba import njit

from footfall._arrow import array, strings
from footfall._columns import KNOWN_NAMES, Columns
from footfall._keyed import derive_keys, new_secret
from footfall._parse import _T_LIMIT, _device_keys, _floats, _timestamps
from footfall.errors import InputError
from footfall.manifest import file_digest

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "REASONS",
    "Columns",
    "KNOWN_NAMES",
    "Fragment",
    "PingBatch",
    "find_files",
    "list_fragments",
    "file_columns",
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
    "low_accuracy",
)

_REASON_NAMES = strings(REASONS)

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


@dataclass(frozen=True)
class Fragment:
    """A unit of work: one CSV file, or a run of row groups of one Parquet file.

    ``row0`` is the row number (0-based, in the file) of the fragment's first row;
    ``row_groups`` is ``None`` for a whole file; ``digest`` is the file's BLAKE3 hash;
    ``columns`` the file's column names (resolved, see :meth:`Columns.resolve`).
    """

    path: str
    format: str
    size: int
    digest: str
    row0: int = 0
    rows: int | None = None
    row_groups: tuple[int, ...] | None = None
    has_accuracy: bool = field(default=False, compare=False)
    columns: Columns | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """Identity of the fragment's content (file hash and row-group run)."""
        rg = "all" if self.row_groups is None else f"{self.row_groups[0]}-{self.row_groups[-1]}"
        return f"{self.digest}:{rg}"


@dataclass
class PingBatch:
    """Ping columns as numpy arrays, in input row order.

    ``device`` holds 64-bit pseudonymous keys, never the identifiers: a keyed hash
    (SipHash-1-3, a secret per run) of the canonical id, so that ``12345`` and
    ``"12345"`` are one device (:mod:`footfall._keyed`); ``device_null`` marks null,
    empty and blank ids. ``t_state`` is 0 for a parsed timestamp, 1 for a null or
    blank one, 2 for an unparseable one; ``t`` is UTC epoch seconds (floor).
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
    import fsspec  # here: ~70 ms of import that a count of local files need not wait for

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


def _delimiter(path: str | os.PathLike) -> str:
    """Tab for ``.tsv`` (and ``.tsv.gz``…), else comma."""
    return "\t" if ".tsv" in os.fspath(path).lower().rsplit("/", 1)[-1] else ","


def _digest(fs: Any, path: str) -> str:
    with fs.open(path, "rb") as f:
        return file_digest(f)


def _csv_header(fs: Any, path: str, delimiter: str = ",") -> list[str]:
    """Return the column names of a CSV file (a UTF-8 BOM is dropped, as pyarrow does)."""
    with fs.open(path, "rb", compression="infer") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return next(csv.reader(text, delimiter=delimiter), [])


def file_columns(path: Path | str, columns: Columns | dict[str, str] | None = None) -> Columns:
    """Return `columns` resolved on the header of one input file (reads the header only).

    Raises
    ------
    InputError
        As :meth:`Columns.resolve`.
    """
    fs, where = _filesystem(path)
    if _file_format(path) == "csv":
        header = _csv_header(fs, where, _delimiter(path))
    else:
        header = pq.ParquetFile(where, filesystem=fs).schema_arrow.names
    return Columns.of(columns).resolve(header, str(path))


def list_fragments(
    path: Path | str, columns: Columns, *, target_rows: int = 4_000_000
) -> list[Fragment]:
    """Split one input file (a path or an fsspec URL) into fragments of about `target_rows` rows.

    The fragments carry the file's column names (`columns` resolved on its header).

    Raises
    ------
    InputError
        When a required column is missing (the message names the file and lists the
        columns found) or a field matches two columns.
    OSError, pyarrow.ArrowException, UnicodeDecodeError
        When the file is unreadable or not Parquet/CSV (callers decide to stop or skip).
    """
    columns = Columns.of(columns)
    fmt = _file_format(path)
    if fmt == "parquet" and not _is_url(path):  # a local Parquet file: no fsspec needed
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            digest = file_digest(f)
        meta = pq.ParquetFile(path).metadata
    else:
        fs, where = _filesystem(path)
        size = fs.size(where)
        digest = _digest(fs, where)
        if fmt == "csv":
            cols = columns.resolve(_csv_header(fs, where, _delimiter(path)), str(path))
            return [Fragment(str(path), fmt, size, digest, has_accuracy=bool(cols.accuracy),
                             columns=cols)]  # fmt: skip
        meta = pq.ParquetFile(where, filesystem=fs).metadata
    cols = columns.resolve(meta.schema.to_arrow_schema().names, str(path))
    has_acc = bool(cols.accuracy)
    out, group, row0, rows = [], [], 0, 0
    for i in range(meta.num_row_groups):
        group.append(i)
        rows += meta.row_group(i).num_rows
        if rows >= target_rows or i == meta.num_row_groups - 1:
            out.append(
                Fragment(str(path), fmt, size, digest, row0, rows, tuple(group), has_acc, cols)
            )
            group, row0, rows = [], row0 + rows, 0
    return out or [Fragment(str(path), fmt, size, digest, 0, 0, None, has_acc, cols)]


#: Most bytes a row of dictionary indices takes in a column chunk's data pages (RLE /
#: bit-packed indices are at most 32 bits); more means the writer fell back to plain
#: pages (pyarrow does once the dictionary page passes 1 MB, as with many distinct ids).
_MAX_INDEX_BYTES = 4.5


def _dictionary_column(pf: pq.ParquetFile, name: str) -> bool:
    """Whether Parquet stores text column `name` dictionary-encoded throughout (first row group).

    A chunk with a dictionary page whose data pages hold more than
    :data:`_MAX_INDEX_BYTES` a row fell back to plain pages: reading it as a
    dictionary would make pyarrow dictionary-encode every plain value again (4-5x the
    plain read), so it is read plain.
    """
    field_type = pf.schema_arrow.field(name).type
    if not (pa.types.is_string(field_type) or pa.types.is_large_string(field_type)
            or pa.types.is_binary(field_type) or pa.types.is_large_binary(field_type)):  # fmt: skip
        return False
    meta = pf.metadata
    if meta.num_row_groups == 0:
        return False
    rg = meta.row_group(0)
    for j in range(rg.num_columns):
        chunk = rg.column(j)
        if chunk.path_in_schema == name:
            if not chunk.has_dictionary_page or chunk.num_values == 0:
                return False
            start = chunk.dictionary_page_offset or 0
            data = start + chunk.total_compressed_size - chunk.data_page_offset
            return data <= _MAX_INDEX_BYTES * chunk.num_values
    return False


def iter_batches(
    fragment: Fragment, columns: Columns, *, batch_rows: int = 1 << 20
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Yield ``(row0, batch)``: record batches of the fragment's ping columns.

    ``row0`` is the row number in the file of the batch's first row. CSV columns are
    read as text and parsed by :func:`to_ping_batch`, so one garbled value quarantines
    its row instead of failing the file; ``.tsv`` files are tab-separated. A Parquet
    text device column stored dictionary-encoded is read as a dictionary array (its
    distinct ids are hashed once per batch). Memory is bounded by `batch_rows`.
    """
    cols = fragment.columns or list_fragments(fragment.path, columns)[0].columns
    names = cols.names
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
                parse_options=pcsv.ParseOptions(delimiter=_delimiter(fragment.path)),
                convert_options=pcsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    include_columns=names,
                    strings_can_be_null=True,
                ),
            )
            batches: Iterator[pa.RecordBatch] = iter(reader)
        else:
            pf = pq.ParquetFile(source)
            if _dictionary_column(pf, cols.device):
                pf = pq.ParquetFile(source, read_dictionary=[cols.device])
            batches = pf.iter_batches(
                batch_size=batch_rows,
                row_groups=fragment.row_groups,
                columns=names,
                use_threads=False,
            )
        for batch in batches:
            yield row, batch
            row += batch.num_rows


def to_ping_batch(
    batch: pa.RecordBatch,
    columns: Columns | None = None,
    where: str = "",
    *,
    secret: bytes | None = None,
) -> PingBatch:
    """Convert a record batch of input columns to a :class:`PingBatch`.

    Parameters
    ----------
    batch : pyarrow.RecordBatch or pyarrow.Table
        Has the columns named by `columns` (``accuracy`` optional).
    columns : Columns, optional
        The column names (resolved on the batch's names, see :meth:`Columns.resolve`).
    where : str
        Names the source in error messages.
    secret : bytes, optional
        The run's secret (16 bytes or more), the key of the device pseudonyms (see
        :mod:`footfall._keyed`). Without it, a random one is drawn: the keys then
        agree within this batch only.
    """
    cols = Columns.of(columns).resolve(batch.schema.names, where)
    keys = derive_keys(new_secret() if secret is None else secret)
    col = batch.column
    device, device_null = _device_keys(_flat(col(cols.device)), where, keys)
    t, t_state = _timestamps(_flat(col(cols.time)), where)
    lat = _floats(_flat(col(cols.lat)), where, cols.lat)
    lon = _floats(_flat(col(cols.lon)), where, cols.lon)
    acc = None
    if cols.accuracy:
        acc = _floats(_flat(col(cols.accuracy)), where, cols.accuracy, pa.float32())
    return PingBatch(device, device_null, t, t_state, lat, lon, acc)


def _flat(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


@njit(nogil=True, cache=True)
def _validate(device_null, t, t_state, lat, lon, acc, max_acc, tmin, tmax):  # pragma: no cover
    n = len(t)
    reason = np.zeros(n, dtype=np.uint8)
    check_acc = len(acc) == n
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
        elif check_acc and acc[i] > max_acc:
            reason[i] = 8
    return reason


def validate(
    pings: PingBatch, window: tuple[int, int], max_accuracy: float | None = None
) -> np.ndarray:
    """Reason code per row: 0 for a valid ping, else ``i + 1`` for ``REASONS[i]``.

    Parameters
    ----------
    pings : PingBatch
    window : (int, int)
        Plausible timestamps, UTC epoch seconds ``[start, end)``.
    max_accuracy : float, optional
        Pings whose accuracy (metres) is above it are ``low_accuracy``; a ping without
        an accuracy (no column, or NaN) is kept. ``None``: no accuracy filter.

    Notes
    -----
    The first failing check wins, in the order of :data:`REASONS`. NaN lat/lon from
    unparseable text are ``nan_coordinates``; exact duplicates are valid rows.
    """
    if max_accuracy is None or pings.accuracy is None:
        acc, limit = np.empty(0, np.float32), np.inf
    else:
        acc, limit = pings.accuracy, float(max_accuracy)
    return _validate(pings.device_null, pings.t, pings.t_state, pings.lat, pings.lon, acc,
                     limit, window[0], window[1])  # fmt: skip


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
        """Return the rows as an arrow table (``QUARANTINE_SCHEMA``).

        A timestamp beyond ±``_T_LIMIT`` seconds (kept in memory for the unit hint of
        the count) is null in the table, as an unparseable one.
        """
        known = (self.timestamp != NO_TIME) & (np.abs(self.timestamp) < _T_LIMIT)
        return pa.table(
            [
                strings(self.sources).take(array(self.source.astype(np.int64))),
                array(self.row.astype(np.int64)),
                _REASON_NAMES.take(array(self.reason.astype(np.int64) - 1)),
                array(np.where(known, self.timestamp, 0).astype(np.int64), mask=~known).cast(
                    pa.timestamp("s", tz="UTC")
                ),
                array(self.lat),
                array(self.lon),
                array(self.accuracy, mask=np.isnan(self.accuracy)),
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
        # the seconds as read, however far (the count's unit hint needs them); the
        # table() of the quarantine writes those beyond ±_T_LIMIT as null
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
    start, end = (_utc_time(w) for w in window)
    if end <= start:
        raise InputError(f"time window {window!r}: the end is not after the start")
    return int(start.timestamp()), int(end.timestamp())


def _utc_time(value: Any) -> datetime:
    """Return a date or time as an aware datetime (naive: UTC), as pandas reads it."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            pass
    if not isinstance(value, datetime):  # other spellings and types: as pandas reads them
        import pandas as pd

        value = pd.Timestamp(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def read_pings(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    columns: Columns | dict[str, str] | None = None,
    window: tuple[str, str] = DEFAULT_WINDOW,
    max_accuracy: float | None = None,
    secret: bytes | None = None,
) -> pd.DataFrame:
    """Read pings into memory with each row's validation result (small inputs only).

    Parameters
    ----------
    source : path, glob or list of them
        Parquet, CSV or TSV files (DESIGN §3).
    columns : Columns or dict, optional
        Input column names; by default found among the usual names (:data:`KNOWN_NAMES`).
    window : (str, str)
        Plausible UTC timestamps; others are quarantined as ``implausible_timestamp``.
    max_accuracy : float, optional
        Pings with an accuracy above it (metres) are quarantined as ``low_accuracy``.
    secret : bytes, optional
        Key of the device pseudonyms (a random one by default: keys then agree within
        this call only).

    Returns
    -------
    pandas.DataFrame
        ``source``, ``row``, ``device`` (uint64 pseudonymous key, not the identifier),
        ``timestamp`` (UTC, NaT when null, unparseable or beyond 1685..2255), ``lat``,
        ``lon``, ``accuracy_m`` and ``reason`` (empty string for a valid ping).
    """
    import pandas as pd

    columns = Columns.of(columns)
    secret = new_secret() if secret is None else secret
    win = window_seconds(window)
    frames = []
    for path in find_files(source):
        for frag in list_fragments(path, columns):
            for row0, batch in iter_batches(frag, columns):
                pings = to_ping_batch(batch, frag.columns, frag.path, secret=secret)
                reason = validate(pings, win, max_accuracy)
                n = len(pings)
                known = (pings.t_state == 0) & (np.abs(pings.t) < _T_LIMIT)
                ts = pd.to_datetime(np.where(known, pings.t, 0), unit="s", utc=True).where(known)
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
