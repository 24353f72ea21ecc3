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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from numba import njit

from footfall._keyed import (
    derive_keys,
    gather,
    keys_bytes,
    keys_int64,
    keys_uint64,
    new_secret,
)
from footfall.errors import InputError
from footfall.manifest import file_digest

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


#: Column names recognised without options (case-insensitive), per field of :class:`Columns`.
KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "device": ("device_id", "maid", "ad_id", "advertiser_id", "caid", "idfa", "gaid"),
    "time": ("timestamp", "utc_timestamp", "ts", "time", "datetime"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "accuracy": ("accuracy_m", "horizontal_accuracy", "accuracy"),
}
_FIELDS = tuple(KNOWN_NAMES)
_OPTIONS = {"device": "--device-col", "time": "--time-col", "lat": "--lat-col",
            "lon": "--lon-col", "accuracy": "--accuracy-col"}  # fmt: skip


@dataclass(frozen=True)
class Columns:
    """Names of the ping columns in the input (DESIGN §3).

    A field left ``None`` is found in each file's header among the usual vendor names
    (:data:`KNOWN_NAMES`, case-insensitive): e.g. ``maid``, ``utc_timestamp``,
    ``latitude``, ``longitude``, ``horizontal_accuracy``. A name given explicitly
    wins. ``accuracy`` is optional: used when the input has such a column.
    :meth:`resolve` gives the names of one header.
    """

    device: str | None = None
    time: str | None = None
    lat: str | None = None
    lon: str | None = None
    accuracy: str | None = None

    @classmethod
    def of(cls, value: Columns | dict[str, str] | None) -> Columns:
        """Return `value` as :class:`Columns` (``None``: every name found in the header).

        Raises
        ------
        InputError
            When a key of a dict is not a field (the message lists the valid keys).
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise InputError(f"columns: expected a dict or Columns, not {type(value).__name__}")
        wrong = [k for k in value if k not in _FIELDS]
        if wrong:
            raise InputError(f"columns: unknown key {wrong[0]!r}; valid keys: {', '.join(_FIELDS)}")
        return cls(**value)

    @property
    def required(self) -> tuple[str, ...]:
        """The device, time, lat and lon names (the default names where not given)."""
        return (self.device or "device_id", self.time or "timestamp", self.lat or "lat",
                self.lon or "lon")  # fmt: skip

    def resolve(self, header: Sequence[str], where: str = "") -> Columns:
        """Return the names of these columns in a file of column names `header`.

        Explicit names must be in the header (exactly, else in another case, once);
        others are looked up among :data:`KNOWN_NAMES`. ``accuracy`` is ``None`` in
        the result when the header has no accuracy column.

        Raises
        ------
        InputError
            A required column is missing (the message lists the columns found), or two
            columns of the header match one field (the message lists them).
        """
        header = [str(h) for h in header]
        lower: dict[str, list[str]] = {}
        for h in header:
            lower.setdefault(h.strip().lower(), []).append(h)
        taken = {getattr(self, f) for f in _FIELDS} - {None}
        found: dict[str, str | None] = {}
        prefix = f"{where}: " if where else ""
        for name in _FIELDS:
            given = getattr(self, name)
            if given is not None:
                match = [given] if given in header else lower.get(given.lower(), [])
                candidates = match if len(match) == 1 else []
                if len(match) > 1:
                    raise InputError(
                        f"{prefix}column {given!r} is ambiguous: {', '.join(map(repr, match))}"
                    )
            else:
                candidates = [
                    h for known in KNOWN_NAMES[name] for h in lower.get(known, []) if h not in taken
                ]
                if len(candidates) > 1:
                    raise InputError(
                        f"{prefix}several {name} columns: {', '.join(map(repr, candidates))}; "
                        f"choose one with {_OPTIONS[name]} (columns={{{name!r}: ...}})"
                    )
            if not candidates:
                if name == "accuracy" and given is None:
                    found[name] = None
                    continue
                wanted = (
                    f"column {given!r}"
                    if given
                    else f"{name} column (known names: {', '.join(KNOWN_NAMES[name])})"
                )
                raise InputError(
                    f"{prefix}no {wanted} (columns: {', '.join(map(repr, header))}); "
                    "map the names with --device-col/--time-col/--lat-col/--lon-col "
                    "(columns={'device': ..., 'time': ..., 'lat': ..., 'lon': ...})"
                )
            found[name] = candidates[0]
        return Columns(**found)

    @property
    def names(self) -> list[str]:
        """The columns to read, once resolved: device, time, lat, lon (and accuracy)."""
        return [*self.required, *([self.accuracy] if self.accuracy else [])]

    def describe(self) -> str:
        """One line naming each field's column, e.g. ``device=maid time=ts lat=lat …``."""
        return " ".join(f"{f}={getattr(self, f) or '-'}" for f in _FIELDS)


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


def _buffer(arr: pa.Array, i: int, dtype: Any, count: int, shift: int = 0) -> np.ndarray:
    """Buffer `i` of an array as numpy (zero-copy), from element ``arr.offset + shift``."""
    buf = arr.buffers()[i]
    if buf is None or count == 0:
        return np.zeros(count, dtype)
    size = np.dtype(dtype).itemsize
    return np.frombuffer(buf, dtype=dtype, count=count, offset=(arr.offset + shift) * size)


def _text_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (rebased to the data buffer) and data bytes of a text or binary array."""
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    offsets = _buffer(arr, 1, np.int64 if wide else np.int32, len(arr) + 1)
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, np.uint8) if buf is not None else np.zeros(0, np.uint8)
    return offsets, data


def _is_text(t: pa.DataType) -> bool:
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


def _device_keys(arr: pa.Array, where: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keyed 64-bit pseudonyms of a device column, and its rows without an identifier.

    See :mod:`footfall._keyed`: integers and canonical decimal text are one device;
    null, empty and blank ids are no identifier (``null_device``).
    """
    null = _null_mask(arr)
    t = arr.type
    if pa.types.is_uint64(t):
        return keys_uint64(_buffer(arr, 1, np.uint64, len(arr)), keys), null
    if pa.types.is_integer(t):
        return keys_int64(_int64_values(arr), keys), null
    if pa.types.is_dictionary(t) and _is_text(t.value_type):
        # Hash each distinct id once, then gather by index: devices repeat a lot.
        words, blank = keys_bytes(*_text_buffers(arr.dictionary), _null_mask(arr.dictionary), keys)
        indices = arr.indices
        idx = _buffer(indices, 1, indices.type.to_pandas_dtype(), len(indices))
        return gather(words, blank, idx, null)
    if _is_text(t):
        return keys_bytes(*_text_buffers(arr), null, keys)
    raise InputError(f"{where}: device column has type {t}; expected text or integer")


#: Epoch seconds outside ±this (years before 1685, after 2255) cannot be carried by
#: every reader of a timestamp (pandas' nanoseconds); they are quarantined anyway.
_T_LIMIT = 9_000_000_000
#: Stand-in of a number too large for any epoch: implausible in every window.
_T_HUGE = 1 << 62


@njit(inline="always")
def _digits(data, p, e, n):  # pragma: no cover - numba
    """Return the `n`-digit number at ``data[p:]`` (-1 when not `n` digits before `e`)."""
    if p + n > e:
        return -1
    v = 0
    for q in range(p, p + n):
        c = data[q]
        if c < 48 or c > 57:
            return -1
        v = v * 10 + (c - 48)
    return v


@njit(inline="always")
def _days_from_civil(y, m, d):  # pragma: no cover - numba
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(inline="always")
def _month_days(y, m):  # pragma: no cover - numba
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


@njit(inline="always")
def _parse_number(data, a, e):  # pragma: no cover - numba
    """Epoch seconds (floor) of a decimal number of seconds or milliseconds; state."""
    p = a
    negative = False
    if data[p] == 43 or data[p] == 45:  # + -
        negative = data[p] == 45
        p += 1
    ip = 0
    n_int = 0
    huge = False
    while p < e and 48 <= data[p] <= 57:
        if n_int >= 18:
            huge = True
        else:
            ip = ip * 10 + (data[p] - 48)
        if ip != 0 or n_int:
            n_int += 1
        p += 1
    any_digit = p > a + (1 if (data[a] == 43 or data[a] == 45) else 0)
    frac = False
    frac_digits = 0
    if p < e and data[p] == 46:  # .
        p += 1
        while p < e and 48 <= data[p] <= 57:
            frac = frac or data[p] != 48
            frac_digits += 1
            p += 1
    if not (any_digit or frac_digits):
        return 0, np.uint8(2)
    if p < e and (data[p] == 101 or data[p] == 69):  # exponent: via a double
        q = p + 1
        eneg = False
        if q < e and (data[q] == 43 or data[q] == 45):
            eneg = data[q] == 45
            q += 1
        if q >= e:
            return 0, np.uint8(2)
        ex = 0
        while q < e:
            c = data[q]
            if c < 48 or c > 57:
                return 0, np.uint8(2)
            ex = min(ex * 10 + (c - 48), 400)
            q += 1
        mant = 0.0
        scale = 0
        dot = False
        for r in range(a, p):
            c = data[r]
            if c == 46:
                dot = True
            elif 48 <= c <= 57:
                mant = mant * 10.0 + (c - 48)
                scale += dot
        f = mant * 10.0 ** ((-ex if eneg else ex) - scale)
        if negative:
            f = -f
        if not np.isfinite(f) or abs(f) >= 4.0e18:
            return _T_HUGE if f > 0 else -_T_HUGE, np.uint8(0)
        v = np.int64(np.floor(f))
    else:
        if p != e:
            return 0, np.uint8(2)
        if huge:
            return (-_T_HUGE if negative else _T_HUGE), np.uint8(0)
        v = -ip - (1 if frac else 0) if negative else ip
    if abs(v) >= _MS_THRESHOLD:
        v = v // 1000
    return v, np.uint8(0)


@njit(inline="always")
def _parse_iso(data, a, e):  # pragma: no cover - numba
    """UTC epoch seconds (floor) of ISO-8601 text, and a state (0 ok, 2 unparseable).

    ``YYYY-MM-DD``, optionally followed by ``T`` or a space and ``HH``, ``HH:MM``,
    ``HH:MM:SS`` or ``HH:MM:SS.fff…`` (or ``,fff``), optionally by ``Z`` or an offset
    ``±HH``, ``±HHMM``, ``±HH:MM``. Text without an offset is UTC.
    """
    y = _digits(data, a, e, 4)
    if y < 0 or a + 10 > e or data[a + 4] != 45 or data[a + 7] != 45:
        return 0, np.uint8(2)
    mo = _digits(data, a + 5, e, 2)
    d = _digits(data, a + 8, e, 2)
    if mo < 1 or mo > 12 or d < 1 or d > _month_days(y, mo):
        return 0, np.uint8(2)
    secs = _days_from_civil(y, mo, d) * 86400
    p = a + 10
    if p < e and (data[p] == 84 or data[p] == 116 or data[p] == 32):  # T t space
        p += 1
        hh = _digits(data, p, e, 2)
        if hh < 0 or hh > 23:
            return 0, np.uint8(2)
        secs += hh * 3600
        p += 2
        if p < e and data[p] == 58:  # :
            mi = _digits(data, p + 1, e, 2)
            if mi < 0 or mi > 59:
                return 0, np.uint8(2)
            secs += mi * 60
            p += 3
            if p < e and data[p] == 58:
                ss = _digits(data, p + 1, e, 2)
                if ss < 0 or ss > 59:
                    return 0, np.uint8(2)
                secs += ss
                p += 3
                if p < e and (data[p] == 46 or data[p] == 44):  # . ,
                    p += 1
                    q = p
                    while p < e and 48 <= data[p] <= 57:
                        p += 1
                    if p == q:
                        return 0, np.uint8(2)
    if p < e:
        c = data[p]
        if (c == 90 or c == 122) and p + 1 == e:  # Z z
            p += 1
        elif c == 43 or c == 45:  # + -
            oh = _digits(data, p + 1, e, 2)
            if oh < 0 or oh > 23:
                return 0, np.uint8(2)
            p += 3
            om = 0
            if p < e and data[p] == 58:
                p += 1
            if p < e:
                om = _digits(data, p, e, 2)
                if om < 0 or om > 59:
                    return 0, np.uint8(2)
                p += 2
            off = oh * 3600 + om * 60
            secs -= off if c == 43 else -off
        if p != e:
            return 0, np.uint8(2)
    return secs, np.uint8(0)


@njit(nogil=True, cache=True)
def _parse_times(offsets, data, null):  # pragma: no cover - numba
    """Parse text timestamps row by row: UTC epoch seconds and a state per row.

    State 0: parsed; 1: null, empty or blank; 2: unparseable. A number is epoch
    seconds, or milliseconds from 1e11 on (as for numeric columns); decimals are
    floored. Anything else must be ISO-8601 (:func:`_parse_iso`).
    """
    n = len(offsets) - 1
    t = np.zeros(n, np.int64)
    state = np.zeros(n, np.uint8)
    for i in range(n):
        if null[i]:
            state[i] = 1
            continue
        a, e = offsets[i], offsets[i + 1]
        while a < e and (data[a] == 32 or 9 <= data[a] <= 13):
            a += 1
        while e > a and (data[e - 1] == 32 or 9 <= data[e - 1] <= 13):
            e -= 1
        if a == e:
            state[i] = 1
            continue
        if a + 4 < e and data[a + 4] == 45 and 48 <= data[a] <= 57:  # YYYY-
            t[i], state[i] = _parse_iso(data, a, e)
        else:
            t[i], state[i] = _parse_number(data, a, e)
    return t, state


def _timestamps(arr: pa.Array, where: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch seconds and a state (0 ok, 1 null, 2 unparseable) for a time column.

    Text is parsed row by row: one unparseable value is one quarantined row.
    """
    t = arr.type
    if pa.types.is_dictionary(t):
        return _timestamps(arr.dictionary_decode(), where)
    state = _null_mask(arr).astype(np.uint8)
    if pa.types.is_timestamp(t):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[t.unit]
        return _floor_seconds(_int64_values(arr), per_second), state
    if pa.types.is_uint64(t):
        v = _buffer(arr, 1, np.uint64, len(arr))
        return _floor_seconds(np.minimum(v, _T_HUGE).astype(np.int64), 0), state
    if pa.types.is_integer(t):
        return _floor_seconds(_int64_values(arr), 0), state
    if pa.types.is_floating(t):
        f = arr.cast(pa.float64()).fill_null(0.0).to_numpy()
        bad = ~np.isfinite(f) & (state == 0)
        state[bad] = 2
        f = np.clip(np.where(bad, 0.0, np.floor(f)), -_T_HUGE, _T_HUGE)
        return _floor_seconds(f.astype(np.int64), 0), state
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _parse_times(*_text_buffers(arr), state.astype(bool))
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
    start, end = (pd.Timestamp(w) for w in window)
    start, end = (w.tz_localize("UTC") if w.tzinfo is None else w for w in (start, end))
    if end <= start:
        raise InputError(f"time window {window!r}: the end is not after the start")
    return int(start.timestamp()), int(end.timestamp())


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
