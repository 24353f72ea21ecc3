"""Hourly passages per zone: the map/reduce counting kernel and the local engine.

The work splits in two steps that any engine can call (the local one below, or Dask):

* **map** — :func:`map_batch` turns one batch of input rows into a small
  :class:`Partial`: unique ``(zone row, UTC hour, device key)`` visits with their ping
  counts, unique ``(local day, device key)`` panel pairs, row accounting and the
  quarantined rows;
* **reduce** — :func:`reduce_partials` merges partials exactly (a device seen in the same
  zone-hour in two partials counts once) into the hourly and panel tables. Distinct
  counts only need the rows of one hour (visits) or one local day (panel), so partials
  can be split by time range (:func:`visit_range`, :func:`panel_range`) and each range
  reduced on its own, which bounds memory.

The local engine maps fragments on a thread pool (the numba kernels release the GIL),
checkpoints each fragment's partial to disk (``<name>.checkpoints/``), which makes an
interrupted run resumable, then reduces range by range.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numba import njit

from footfall.errors import InputError
from footfall.ingest import (
    DEFAULT_WINDOW,
    QUARANTINE_SCHEMA,
    REASONS,
    Columns,
    Fragment,
    find_files,
    iter_batches,
    list_fragments,
    quarantine_table,
    to_ping_batch,
    validate,
    window_seconds,
)
from footfall.manifest import atomic_path, beside, check_accounting, make_manifest, read_manifest
from footfall.manifest import write_manifest as _write_manifest

__all__ = [
    "CountSpec",
    "Partial",
    "map_batch",
    "merge_partials",
    "reduce_partials",
    "visit_range",
    "panel_range",
    "count_visits",
    "count_panel",
    "hourly_frame",
    "panel_frame",
    "count_passages",
    "list_file",
    "collect_fragments",
    "map_fragment",
    "range_slices",
    "reduce_slices",
    "assemble",
    "read_hourly",
    "read_panel",
    "attach_panel",
    "bench_end_to_end",
    "end_to_end_section",
]

_ENGINES = ("local", "dask")
# What reading a corrupt or unreadable file raises (pyarrow's errors included).
_BAD_FILE = (OSError, pa.ArrowException, UnicodeDecodeError, csv.Error)
_HOUR_MASK = np.int64(0xFFFFFFFF)
#: Hours per reduce range of visits, and days per range of panel pairs.
RANGE_HOURS = 24 * 7
RANGE_DAYS = 7
# bump when the checkpoint layout or the kernel's meaning changes
_CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class CountSpec:
    """What a count depends on, besides the inputs and the zones (picklable).

    Parameters
    ----------
    columns : Columns
        Input column names.
    tz : str
        IANA time zone of the local hours and days; its UTC offsets must be whole hours.
    window : (str, str)
        Plausible UTC timestamps ``[start, end)``; others are quarantined.
    """

    columns: Columns = field(default_factory=Columns)
    tz: str = "Europe/Paris"
    window: tuple[str, str] = DEFAULT_WINDOW

    def params(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready dict (manifest and checkpoint key)."""
        return {"columns": asdict(self.columns), "tz": self.tz, "window": list(self.window)}

    @cached_property
    def seconds(self) -> tuple[int, int]:
        """The window as UTC epoch seconds."""
        return window_seconds(self.window)

    @cached_property
    def offsets(self) -> tuple[int, np.ndarray]:
        """``(h0, off)``: ``off[h - h0]`` is the UTC offset, in hours, of UTC hour ``h``."""
        h0, h1 = self.seconds[0] // 3600, -(-self.seconds[1] // 3600)
        utc = pd.date_range(pd.Timestamp(h0 * 3600, unit="s", tz="UTC"), periods=h1 - h0, freq="h")
        try:
            local = utc.tz_convert(self.tz)
        except Exception as exc:  # noqa: BLE001 - pytz/zoneinfo raise various types
            raise InputError(f"time zone {self.tz!r} is unknown ({exc})") from exc
        off = (local.tz_localize(None) - utc.tz_localize(None)).total_seconds().to_numpy()
        if np.any(off % 3600):
            raise InputError(
                f"time zone {self.tz!r} has UTC offsets that are not whole hours; "
                "local hours would not be UTC hours"
            )
        return int(h0), (off // 3600).astype(np.int8)


@dataclass
class Partial:
    """Partial result of the map step, merged exactly by :func:`reduce_partials`.

    Attributes
    ----------
    visit_key : int64 array
        ``zone_row << 32 | utc_hour`` (hours since the epoch).
    visit_device : uint64 array
        Pseudonymous device key; ``(visit_key, visit_device)`` pairs are unique.
    visit_pings : int64 array
        Rows behind each pair.
    panel_day : int64 array
        Local day (days since 1970-01-01, local calendar).
    panel_device : uint64 array
        ``(panel_day, panel_device)`` pairs are unique.
    accounting : dict
        ``rows_read``, ``rows_in_zone``, ``rows_outside``, ``quarantined`` (reason -> rows).
    quarantine : pyarrow.Table
        Quarantined rows, without device identifiers.
    """

    visit_key: np.ndarray
    visit_device: np.ndarray
    visit_pings: np.ndarray
    panel_day: np.ndarray
    panel_device: np.ndarray
    accounting: dict[str, Any]
    quarantine: pa.Table


def _new_accounting() -> dict[str, Any]:
    return {
        "rows_read": 0,
        "rows_in_zone": 0,
        "rows_outside": 0,
        "quarantined": dict.fromkeys(REASONS, 0),
    }


def _add_accounting(total: dict[str, Any], part: dict[str, Any]) -> None:
    for k in ("rows_read", "rows_in_zone", "rows_outside"):
        total[k] += part[k]
    for k, v in part["quarantined"].items():
        total["quarantined"][k] = total["quarantined"].get(k, 0) + v


# ---------------------------------------------------------------------------------------
# numba kernels


@njit(inline="always")
def _hash(a, b):  # pragma: no cover - numba
    h = np.uint64(a) * np.uint64(0x9E3779B97F4A7C15) ^ b
    h ^= h >> np.uint64(32)
    h *= np.uint64(0xD6E8FEB86659FD93)
    h ^= h >> np.uint64(32)
    return h


@njit(nogil=True, cache=True)
def _row_keys(reason, zone, t, off, h0):  # pragma: no cover - numba
    """Visit keys (zone << 32 | hour) and panel days of the valid rows, with row indices."""
    n = len(t)
    vkey = np.empty(n, np.int64)
    vrow = np.empty(n, np.int64)
    pday = np.empty(n, np.int64)
    prow = np.empty(n, np.int64)
    nv = 0
    npl = 0
    for i in range(n):
        if reason[i] != 0:
            continue
        hour = t[i] // 3600
        day = (hour + off[hour - h0]) // 24
        pday[npl] = day
        prow[npl] = i
        npl += 1
        z = zone[i]
        if z >= 0:
            vkey[nv] = (np.int64(z) << 32) | hour
            vrow[nv] = i
            nv += 1
    return vkey[:nv], vrow[:nv], pday[:npl], prow[:npl]


@njit(nogil=True, cache=True)
def _tally(a, b, w):  # pragma: no cover - numba
    """Find unique ``(a, b)`` pairs in first-seen order with the sum of `w` and their rows."""
    n = len(a)
    cap = 16
    while cap < 2 * n:
        cap <<= 1
    mask = np.uint64(cap - 1)
    slot = np.full(cap, -1, np.int64)
    ua = np.empty(n, np.int64)
    ub = np.empty(n, np.uint64)
    uw = np.empty(n, np.int64)
    cnt = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        h = _hash(a[i], b[i]) & mask
        while True:
            j = slot[h]
            if j < 0:
                slot[h] = m
                ua[m] = a[i]
                ub[m] = b[i]
                uw[m] = w[i]
                cnt[m] = 1
                m += 1
                break
            if ua[j] == a[i] and ub[j] == b[i]:
                uw[j] += w[i]
                cnt[j] += 1
                break
            h = (h + np.uint64(1)) & mask
    return ua[:m].copy(), ub[:m].copy(), uw[:m].copy(), cnt[:m].copy()


@njit(nogil=True, cache=True)
def _unique_pairs(a, b, w):  # pragma: no cover - numba
    """Find unique ``(a, b)`` pairs in first-seen order, summing `w` (open addressing)."""
    ua, ub, uw, _ = _tally(a, b, w)
    return ua, ub, uw


@njit(nogil=True, cache=True)
def _group_count(a, w):  # pragma: no cover - numba
    """Per distinct `a`, in first-seen order: the number of rows and the sum of `w`."""
    ka, _, ws, cnt = _tally(a, np.zeros(len(a), np.uint64), w)
    return ka, cnt, ws


# ---------------------------------------------------------------------------------------
# map and reduce


def map_batch(
    batch: pa.RecordBatch | pa.Table,
    assigner: Any,
    spec: CountSpec,
    *,
    source: str = "",
    row0: int = 0,
) -> Partial:
    """MAP: one batch of input rows -> a :class:`Partial`.

    Parameters
    ----------
    batch : pyarrow.RecordBatch or pyarrow.Table
        Input columns named by ``spec.columns`` (any supported types, DESIGN §3).
    assigner : ZoneIndex
        Anything with ``assign(lon, lat) -> int32 zone row or -1``.
    spec : CountSpec
        Columns, time zone and plausible window.
    source : str
        Name of the input, recorded with quarantined rows.
    row0 : int
        Row number, in `source`, of the batch's first row.

    Returns
    -------
    Partial
        Unique visits and panel pairs of the batch; pure function of its arguments.
    """
    pings = to_ping_batch(batch, spec.columns, source)
    reason = validate(pings, spec.seconds)
    zone = np.asarray(assigner.assign(pings.lon, pings.lat), dtype=np.int32)
    h0, off = spec.offsets
    vkey, vrow, pday, prow = _row_keys(reason, zone, pings.t, off, h0)
    vk, vd, vn = _unique_pairs(vkey, pings.device[vrow], np.ones(len(vkey), np.int64))
    pk, pd_, _ = _unique_pairs(pday, pings.device[prow], np.zeros(len(pday), np.int64))
    codes = np.bincount(reason, minlength=len(REASONS) + 1)
    accounting = {
        "rows_read": len(pings),
        "rows_in_zone": len(vkey),
        "rows_outside": len(pday) - len(vkey),
        "quarantined": {r: int(c) for r, c in zip(REASONS, codes[1:], strict=True)},
    }
    quarantine = quarantine_table(pings, reason, source, row0)
    return Partial(vk, vd, vn, pk, pd_, accounting, quarantine)


def merge_partials(partials: Iterable[Partial]) -> Partial:
    """Concatenate partials and make their pairs unique again (exact, associative)."""
    parts = list(partials)
    if not parts:
        return _empty_partial()
    if len(parts) == 1:  # already unique
        return parts[0]
    vk, vd, vn = _unique_pairs(
        *(np.concatenate([getattr(p, a) for p in parts]) for a in _VISIT_FIELDS)
    )
    day = np.concatenate([p.panel_day for p in parts])
    pk, pd_, _ = _unique_pairs(
        day, np.concatenate([p.panel_device for p in parts]), np.zeros(len(day), np.int64)
    )
    accounting = _new_accounting()
    for p in parts:
        _add_accounting(accounting, p.accounting)
    quarantine = pa.concat_tables([p.quarantine for p in parts])
    return Partial(vk, vd, vn, pk, pd_, accounting, quarantine)


_VISIT_FIELDS = ("visit_key", "visit_device", "visit_pings")


def _empty_partial() -> Partial:
    i64, u64 = np.empty(0, np.int64), np.empty(0, np.uint64)
    return Partial(i64, u64, i64, i64, u64, _new_accounting(), QUARANTINE_SCHEMA.empty_table())


def visit_range(visit_key: np.ndarray) -> np.ndarray:
    """Reduce range of each visit: UTC hours split in weeks (RANGE_HOURS)."""
    return (visit_key & _HOUR_MASK) // RANGE_HOURS


def panel_range(panel_day: np.ndarray) -> np.ndarray:
    """Reduce range of each panel pair: local days split in weeks (RANGE_DAYS)."""
    return panel_day // RANGE_DAYS


#: Rows per block of the reduce: the hash tables of a block stay in the CPU's L2 cache.
_BLOCK_ROWS = 1 << 15


def _key_blocks(key: np.ndarray, *cols: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """Split ``(key, *cols)`` rows into blocks by a hash of `key`, every key in one block.

    A pass of the reduce over all of its rows misses the caches once its tables pass a
    few MB; blocks of about :data:`_BLOCK_ROWS` rows each fit (radix partition, O(n)).
    """
    bits = max(0, int(np.ceil(np.log2(max(1, len(key)) / _BLOCK_ROWS))))
    if bits == 0:
        yield key, *cols
        return
    bits = min(bits, 8)
    mixed = key.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    block = (mixed >> np.uint64(64 - bits)).astype(np.uint8)
    order = np.argsort(block, kind="stable")  # a radix sort for 8-bit values
    bounds = np.searchsorted(block[order], np.arange((1 << bits) + 1))
    arrays = [a[order] for a in (key, *cols)]
    for s, e in itertools.pairwise(bounds):
        yield tuple(a[s:e] for a in arrays)


def _sorted_by_key(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    columns = [np.concatenate(c) for c in zip(*parts, strict=True)]
    order = np.argsort(columns[0], kind="stable")
    return tuple(c[order] for c in columns)


def count_visits(
    visit_key: np.ndarray, visit_device: np.ndarray, visit_pings: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """REDUCE visits: ``(key, passages, pings)`` per zone-hour key, sorted by key.

    The inputs may hold the same ``(key, device)`` pair several times (from several
    partials); it counts once in ``passages`` and its pings add up. Exact when every
    row of a key is present, e.g. all rows of one range of :func:`visit_range`.
    """
    parts = []
    for key, device, pings in _key_blocks(visit_key, visit_device, visit_pings):
        ua, _, uw = _unique_pairs(key, device, pings)
        parts.append(_group_count(ua, uw))
    return _sorted_by_key(parts)


def count_panel(panel_day: np.ndarray, panel_device: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """REDUCE panel pairs: ``(day, active_devices)``, sorted by day (exact per day)."""
    parts = []
    for day, device in _key_blocks(panel_day, panel_device):
        ua, _, _ = _unique_pairs(day, device, np.zeros(len(day), np.int64))
        parts.append(_group_count(ua, np.zeros(len(ua), np.int64))[:2])
    return _sorted_by_key(parts)


def hourly_frame(
    key: np.ndarray,
    passages: np.ndarray,
    pings: np.ndarray,
    zone_ids: Sequence[str],
    tz: str,
) -> pd.DataFrame:
    """Assemble the hourly table (DESIGN §3) from reduced visit keys, sorted by key."""
    order = np.argsort(key, kind="stable")
    key, passages, pings = key[order], passages[order], pings[order]
    # Through arrow, so that the string dtype is the one read_hourly gives back.
    zone = pa.array(list(zone_ids), pa.string()).take(pa.array(key >> 32)).to_pandas()
    hour = pd.to_datetime((key & _HOUR_MASK) * 3600, unit="s", utc=True).tz_convert(tz)
    return pd.DataFrame(
        {
            "zone_id": zone,
            "hour": hour.as_unit("ns"),
            "passages": passages.astype(np.int64),
            "pings": pings.astype(np.int64),
        }
    )


def panel_frame(day: np.ndarray, active: np.ndarray) -> pd.DataFrame:
    """Assemble the panel table: ``day`` (local date, naive midnight), ``active_devices``."""
    order = np.argsort(day, kind="stable")
    return pd.DataFrame(
        {
            "day": pd.to_datetime(day[order], unit="D").as_unit("ns"),
            "active_devices": active[order].astype(np.int64),
        }
    )


def reduce_partials(
    partials: Iterable[Partial], zone_ids: Sequence[str], tz: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """REDUCE in memory: partials -> ``(hourly, panel)`` tables (exact).

    For inputs too large for memory, reduce each range of :func:`visit_range` /
    :func:`panel_range` with :func:`count_visits` / :func:`count_panel` and concatenate,
    as the local engine does.
    """
    merged = merge_partials(partials)
    hourly = hourly_frame(
        *count_visits(merged.visit_key, merged.visit_device, merged.visit_pings), zone_ids, tz
    )
    return hourly, panel_frame(*count_panel(merged.panel_day, merged.panel_device))


# ---------------------------------------------------------------------------------------
# local engine: fragments -> checkpointed partials -> range-by-range reduce

_ARRAYS = ("visit_key", "visit_device", "visit_pings", "panel_day", "panel_device")


def _save_partial(part: Partial, directory: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write a partial sorted by range, atomically (a directory renamed at the end)."""
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.mkdir(parents=True)
    vorder = np.argsort(visit_range(part.visit_key), kind="stable")
    porder = np.argsort(panel_range(part.panel_day), kind="stable")
    for name in _ARRAYS:
        arr = getattr(part, name)[vorder if name.startswith("visit") else porder]
        np.save(tmp / f"{name}.npy", arr)
    meta = {
        **meta,
        "accounting": part.accounting,
        "visit_ranges": _range_bounds(visit_range(part.visit_key[vorder])),
        "panel_ranges": _range_bounds(panel_range(part.panel_day[porder])),
        "quarantined_rows": part.quarantine.num_rows,
    }
    if part.quarantine.num_rows:
        pq.write_table(part.quarantine, tmp / "quarantine.parquet")
    (tmp / "meta.json").write_text(json.dumps(meta))
    try:
        os.replace(tmp, directory)
    except OSError:
        # Another run of the same fragment finished first (a Dask task of a client that
        # died, or run twice): same content, so keep that one.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (directory / "meta.json").exists():
            raise
    return meta


def _range_bounds(ranges: np.ndarray) -> dict[str, list[int]]:
    values, starts = np.unique(ranges, return_index=True)
    ends = [*starts[1:], len(ranges)][: len(starts)]
    return {str(int(v)): [int(s), int(e)] for v, s, e in zip(values, starts, ends, strict=True)}


def _map_fragment(
    fragment: Fragment,
    assigner: Any,
    spec: CountSpec,
    directory: Path,
    batch_rows: int,
    on_rows: Callable[[int], None],
) -> dict[str, Any]:
    parts = []
    for row0, batch in iter_batches(fragment, spec.columns, batch_rows=batch_rows):
        parts.append(map_batch(batch, assigner, spec, source=fragment.path, row0=row0))
        on_rows(batch.num_rows)
        if len(parts) == 8:  # a big CSV is one fragment: hold its unique pairs, not its rows
            parts = [merge_partials(parts)]
    # One merge per fragment keeps its checkpoint small (pairs unique in the fragment).
    meta = {"path": fragment.path, "key": fragment.key}
    return _save_partial(merge_partials(parts), directory, meta)


def _load_meta(directory: Path, fragment: Fragment) -> dict[str, Any] | None:
    try:
        meta = json.loads((directory / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return meta if meta.get("key") == fragment.key else None


Slices = list[tuple[Path, list[int]]]


def range_slices(done: list[tuple[Path, dict[str, Any]]], kind: str) -> list[Slices]:
    """Per reduce range of `kind` (``"visit"`` or ``"panel"``), its slices of the checkpoints."""
    by_range: dict[int, Slices] = {}
    for directory, meta in done:
        for r, bounds in meta[f"{kind}_ranges"].items():
            by_range.setdefault(int(r), []).append((directory, bounds))
    return [by_range[r] for r in sorted(by_range)]


def reduce_slices(kind: str, slices: Slices) -> tuple[np.ndarray, ...]:
    """REDUCE one range from its checkpoint slices: :func:`count_visits` or :func:`count_panel`."""
    names = _VISIT_FIELDS if kind == "visit" else ("panel_day", "panel_device")
    arrays = [
        np.concatenate([np.load(d / f"{n}.npy", mmap_mode="r")[s:e] for d, (s, e) in slices])
        for n in names
    ]
    return count_visits(*arrays) if kind == "visit" else count_panel(*arrays)


def _reduce_on_disk(
    done: list[tuple[Path, dict[str, Any]]], zone_ids: Sequence[str], tz: str, workers: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reduce checkpointed partials, one range per task in `workers` threads."""
    jobs = [(kind, s) for kind in ("visit", "panel") for s in range_slices(done, kind)]
    with ThreadPoolExecutor(workers) as pool:  # the reduce kernels release the GIL
        out = list(pool.map(lambda job: reduce_slices(*job), jobs))
    n_visit = sum(kind == "visit" for kind, _ in jobs)
    return assemble(out[:n_visit], out[n_visit:], zone_ids, tz)


def assemble(
    visits: Sequence[tuple[np.ndarray, ...]],
    panel: Sequence[tuple[np.ndarray, ...]],
    zone_ids: Sequence[str],
    tz: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate reduced ranges into the ``(hourly, panel)`` tables."""
    cat = lambda parts, i, dtype: (  # noqa: E731
        np.concatenate([p[i] for p in parts]) if parts else np.empty(0, dtype)
    )
    hourly = hourly_frame(
        cat(visits, 0, np.int64), cat(visits, 1, np.int64), cat(visits, 2, np.int64), zone_ids, tz
    )
    return hourly, panel_frame(cat(panel, 0, np.int64), cat(panel, 1, np.int64))


class _Progress:
    """Rich progress bar (rows/s, files done), or nothing."""

    def __init__(self, enabled: bool, total_rows: int | None, n_files: int) -> None:
        self.bar = None
        self.lock = threading.Lock()
        self.n_files, self.files_done = n_files, 0
        if not enabled:
            return
        from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task):  # noqa: D102
                speed = task.finished_speed or task.speed
                return Text(f"{(speed or 0) / 1e6:5.1f} M rows/s")

        self.bar = Progress(
            TextColumn("counting"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} rows"),
            Rate(),
            TextColumn("{task.fields[files]}"),
            transient=False,
        )
        self.task = self.bar.add_task("count", total=total_rows, files=self._files())

    def _files(self) -> str:
        return f"{self.files_done}/{self.n_files} files"

    def rows(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def file_done(self, n_rows: int = 0) -> None:
        with self.lock:
            self.files_done += 1
        if self.bar is not None:
            self.bar.update(self.task, advance=n_rows, files=self._files())

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _run_key(zone_hash: str, spec: CountSpec) -> str:
    doc = {"v": _CHECKPOINT_VERSION, "zones": zone_hash, "spec": spec.params()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def list_file(path: Path, spec: CountSpec, skip_bad_files: bool) -> list[Fragment] | str:
    """Fragments of one input file; an unreadable one raises, or gives its error to skip it."""
    try:
        return list_fragments(path, spec.columns)
    except InputError:
        raise
    except _BAD_FILE as exc:
        if not skip_bad_files:
            raise _unreadable(path, exc) from exc
        return str(exc)


def _unreadable(path: Path | str, exc: Exception) -> InputError:
    return InputError(f"{path}: unreadable ping file ({exc}); use --skip-bad-files to go on")


def collect_fragments(
    files: Sequence[Path], results: Iterable[list[Fragment] | str]
) -> tuple[list[Fragment], list[dict[str, str]]]:
    """Gather :func:`list_file` results: every fragment, and the skipped files."""
    fragments, skipped = [], []
    for path, result in zip(files, results, strict=True):
        if isinstance(result, str):
            skipped.append({"path": str(path), "error": result})
        else:
            fragments += result
    return fragments, skipped


def _list_inputs(
    files: list[Path], spec: CountSpec, skip_bad_files: bool, workers: int
) -> tuple[list[Fragment], list[dict[str, str]]]:
    """Fragments of every file (hashing in threads); bad files raise or are recorded."""
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda path: list_file(path, spec, skip_bad_files), files))
    return collect_fragments(files, results)


def _engine_local(
    fragments: list[Fragment],
    assigner: Any,
    spec: CountSpec,
    workdir: Path,
    *,
    skip_bad_files: bool,
    workers: int,
    batch_rows: int,
    progress: _Progress,
) -> tuple[list[tuple[Path, dict[str, Any]]], list[dict[str, str]]]:
    """Map every fragment (reusing finished checkpoints); return the committed partials."""
    failed: dict[str, str] = {}

    def one(i: int) -> tuple[Path, dict[str, Any]] | None:
        if fragments[i].path in failed:
            return None
        result = map_fragment(
            i, fragments[i], assigner, spec, workdir, batch_rows, skip_bad_files, progress.rows
        )
        if isinstance(result, str):
            failed[fragments[i].path] = result
            return None
        directory, meta, resumed = result
        progress.file_done(meta["accounting"]["rows_read"] if resumed else 0)
        return directory, meta

    # Split the cores between the map threads, so that each one's assignment kernel
    # runs on its share instead of every thread's kernel claiming all of them.
    threads = max(1, numba.config.NUMBA_NUM_THREADS // max(1, min(workers, len(fragments))))
    pool = ThreadPoolExecutor(workers, initializer=numba.set_num_threads, initargs=(threads,))
    with pool:
        results = list(pool.map(one, range(len(fragments))))
    # A file that failed anywhere is skipped whole, so its rows are not half counted.
    done = [r for r in results if r is not None and r[1]["path"] not in failed]
    return done, [{"path": p, "error": e} for p, e in failed.items()]


class _LocalEngine:
    """The local engine: threads on this machine (the numba kernels release the GIL).

    An engine lists the inputs, maps fragments to checkpoints and reduces the ranges;
    :class:`footfall.dask_engine.DaskEngine` does the same steps on a Dask cluster.
    """

    name = "local"

    def __init__(self, workers: int | None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def __enter__(self) -> _LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def list_inputs(self, files, spec, skip_bad_files):  # noqa: D102 - see the class
        return _list_inputs(files, spec, skip_bad_files, self.workers)

    def map_fragments(self, fragments, assigner, spec, workdir, **options):  # noqa: D102
        return _engine_local(fragments, assigner, spec, workdir, workers=self.workers, **options)

    def reduce(self, done, zone_ids, tz):  # noqa: D102
        return _reduce_on_disk(done, zone_ids, tz, self.workers)


def map_fragment(
    i: int,
    fragment: Fragment,
    assigner: Any,
    spec: CountSpec,
    workdir: Path,
    batch_rows: int,
    skip_bad_files: bool,
    on_rows: Callable[[int], None] = lambda n: None,
) -> tuple[Path, dict[str, Any], bool] | str:
    """Map fragment `i` into its checkpoint under `workdir`, or reuse a finished one.

    Returns ``(directory, meta, resumed)``, or the error of an unreadable file when
    `skip_bad_files` (else it raises :class:`InputError`). Any engine calls this.
    """
    directory = workdir / f"{i:06d}-{hashlib.sha256(fragment.key.encode()).hexdigest()[:16]}"
    meta = _load_meta(directory, fragment)
    if meta is not None:  # finished by an earlier, interrupted run
        return directory, meta, True
    try:
        meta = _map_fragment(fragment, assigner, spec, directory, batch_rows, on_rows)
    except InputError:
        raise
    except _BAD_FILE as exc:
        if not skip_bad_files:
            raise _unreadable(fragment.path, exc) from exc
        return str(exc)
    return directory, meta, False


def _dataframe_fragment(df: pd.DataFrame, spec: CountSpec) -> pa.Table:
    missing = [c for c in spec.columns.required if c not in df.columns]
    if missing:
        raise InputError(f"pings DataFrame: no column {missing[0]!r} (columns: {list(df.columns)})")
    names = [*spec.columns.required, *[c for c in [spec.columns.accuracy] if c in df.columns]]
    return pa.Table.from_pandas(df[names], preserve_index=False)


def count_passages(
    pings: str | os.PathLike | Sequence[str | os.PathLike] | pd.DataFrame,
    zones: Any,
    *,
    tz: str = "Europe/Paris",
    out: str | os.PathLike | None = None,
    columns: Columns | dict[str, str] | None = None,
    window: tuple[str, str] = DEFAULT_WINDOW,
    engine: Literal["local", "dask"] = "local",
    client: Any = None,
    index: Any = None,
    skip_bad_files: bool = False,
    workers: int | None = None,
    batch_rows: int = 1 << 20,
    progress: bool = False,
) -> pd.DataFrame:
    """Count hourly passages per zone from pings (DESIGN §3).

    Parameters
    ----------
    pings : path, glob, list of paths, or pandas.DataFrame
        Parquet (file, directory, glob; hive partitions allowed) or CSV files.
    zones : ZoneSet or path
        The zones (a path is read with :func:`footfall.read_zones`).
    tz : str
        Time zone of the local hours and days (whole-hour UTC offsets).
    out : path, optional
        Write the hourly table there, with ``<name>.panel.parquet``,
        ``<name>.quarantine.parquet`` and ``<name>.manifest.json`` beside it. With
        `out`, finished fragments are checkpointed in ``<name>.checkpoints/`` and an
        interrupted run resumes; checkpoints are removed after success.
    columns : Columns or dict, optional
        Input column names, e.g. ``{"device": "uid", "time": "ts"}``.
    window : (str, str)
        Plausible UTC timestamps; rows outside are quarantined.
    engine : {"local", "dask"}
        ``"local"``: threads on this machine. ``"dask"``: Dask workers read, map and
        reduce (see :class:`footfall.dask_engine.DaskEngine`); same result.
    client : distributed.Client or str, optional
        With ``engine="dask"``: a client, or a scheduler address
        (``"tcp://host:8786"``); by default a LocalCluster of `workers` processes.
    index : ZoneIndex, optional
        A prebuilt index of `zones` (anything with ``assign(lon, lat)``).
    skip_bad_files : bool
        Skip unreadable input files and record them in the manifest instead of failing.
    workers : int, optional
        Threads, or Dask worker processes of a LocalCluster (default: the CPUs).
    batch_rows : int
        Rows per read batch (memory grows with it).
    progress : bool
        Show a progress bar (rich).

    Returns
    -------
    pandas.DataFrame
        ``zone_id``, ``hour`` (tz-aware local), ``passages``, ``pings``, sorted by zone
        and hour; ``attrs["panel"]`` is the panel table, ``attrs["manifest"]`` the
        run manifest.

    Raises
    ------
    InputError
        Bad options, a missing column, or an unreadable file (without `skip_bad_files`).

    Notes
    -----
    ``passages`` counts distinct devices in a zone-hour, exactly: devices are keyed
    by 64-bit values (integer ids by a bijection, so exactly; text ids by a 64-bit
    hash, so two of ``n`` devices share a key with probability about
    ``n**2 / 2**65``, 3e-8 for a million devices). Exact duplicate rows add pings,
    not passages. Device identifiers are never written; checkpoints hold the keys
    only while a run is unfinished.
    """
    from footfall.zones import ZoneSet, read_zones

    if engine not in _ENGINES:
        raise InputError(f"`engine` was {engine!r} but is expected to be in {_ENGINES}")
    if isinstance(columns, dict):
        columns = Columns(**columns)
    spec = CountSpec(columns or Columns(), tz, tuple(window))
    spec.offsets  # noqa: B018 - fail early on a bad tz or window
    if not isinstance(zones, ZoneSet):
        zones = read_zones(zones)
    if index is None:
        from footfall.index import ZoneIndex

        index = ZoneIndex(zones)
    zone_ids = list(zones.zone_ids)

    if isinstance(pings, pd.DataFrame):
        if engine == "dask":
            raise InputError(
                "engine='dask' reads ping files on the workers; count a DataFrame with "
                "engine='local', or write it to Parquet first"
            )
        part = map_batch(_dataframe_fragment(pings, spec), index, spec, source="<DataFrame>")
        hourly, panel = reduce_partials([part], zone_ids, tz)
        inputs = [{"path": "<DataFrame>", "rows": len(pings)}]
        accounting, skipped, quarantine = part.accounting, [], [part.quarantine]
        return _finish(
            hourly, panel, zones, spec, inputs, accounting, skipped, quarantine, out, engine
        )

    if engine == "dask":
        from footfall.dask_engine import DaskEngine

        runner = DaskEngine(client, workers)
    else:
        runner = _LocalEngine(workers)
    files = find_files(pings)
    with runner:
        return _count_files(
            files, zones, index, spec, runner, out, skip_bad_files, batch_rows, progress
        )


def _count_files(
    files: list[Path | str],
    zones: Any,
    index: Any,
    spec: CountSpec,
    runner: Any,
    out: str | os.PathLike | None,
    skip_bad_files: bool,
    batch_rows: int,
    progress: bool,
) -> pd.DataFrame:
    """List, map and reduce the input files with an engine (`runner`); write the outputs."""
    engine = runner.name
    fragments, skipped = runner.list_inputs(files, spec, skip_bad_files)
    if out is not None:
        workdir = beside(out, "checkpoints", "") / _run_key(zones.hash, spec)
        if workdir.parent.exists():  # drop checkpoints of other parameters
            for old in workdir.parent.iterdir():
                if old != workdir:
                    shutil.rmtree(old, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in workdir.glob("*.tmp-*"):  # fragments cut short by a kill
            shutil.rmtree(stale, ignore_errors=True)
        tmpdir = contextlib.nullcontext(workdir)
    else:
        # A failing run may leave a Dask task still writing there while the error
        # unwinds; the cleanup must not replace that error with its own.
        tmpdir = tempfile.TemporaryDirectory(prefix="footfall-count-", ignore_cleanup_errors=True)
    with tmpdir as wd:
        wd = Path(wd)
        rows = [f.rows for f in fragments]
        total = None if any(r is None for r in rows) else sum(rows)
        with _Progress(progress, total, len(fragments)) as bar:
            done, failed = runner.map_fragments(
                fragments,
                index,
                spec,
                wd,
                skip_bad_files=skip_bad_files,
                batch_rows=batch_rows,
                progress=bar,
            )
        skipped += failed
        hourly, panel = runner.reduce(done, list(zones.zone_ids), spec.tz)
        accounting = _new_accounting()
        for _, meta in done:
            _add_accounting(accounting, meta["accounting"])
        bad = {s["path"] for s in skipped}
        inputs, seen = [], set()
        for f in fragments:
            if f.path not in seen and f.path not in bad:
                seen.add(f.path)
                inputs.append({"path": f.path, "size": f.size, "sha256": f.sha256})
        quarantine = [
            pq.read_table(d / "quarantine.parquet") for d, m in done if m["quarantined_rows"]
        ]
        result = _finish(
            hourly, panel, zones, spec, inputs, accounting, skipped, quarantine, out, engine
        )
    if out is not None:
        shutil.rmtree(beside(out, "checkpoints", ""), ignore_errors=True)
    return result


def _finish(
    hourly: pd.DataFrame,
    panel: pd.DataFrame,
    zones: Any,
    spec: CountSpec,
    inputs: list[dict[str, Any]],
    accounting: dict[str, Any],
    skipped: list[dict[str, str]],
    quarantine: list[pa.Table],
    out: str | os.PathLike | None,
    engine: str,
) -> pd.DataFrame:
    check_accounting(accounting)
    accounting = {**accounting, "rows_quarantined": sum(accounting["quarantined"].values())}
    outputs = None
    if out is not None:
        out = Path(out)
        outputs = {
            "hourly": str(out),
            "panel": str(beside(out, "panel")),
            "quarantine": str(beside(out, "quarantine")),
        }
    manifest = make_manifest(
        "count",
        inputs=inputs,
        zones={
            "hash": zones.hash,
            "n_zones": len(zones),
            "sources": [str(s) for s in zones.sources],
        },
        parameters={**spec.params(), "engine": engine},
        accounting=accounting,
        outputs=outputs,
        skipped_files=skipped,
    )
    attach_panel(hourly, panel)
    hourly.attrs["manifest"] = manifest
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(outputs["quarantine"]) as tmp:
            with pq.ParquetWriter(tmp, QUARANTINE_SCHEMA) as writer:
                for table in quarantine:
                    writer.write_table(table.cast(QUARANTINE_SCHEMA))
        for df, path in ((panel, outputs["panel"]), (hourly, out)):
            with atomic_path(path) as tmp:
                _to_parquet(df, tmp)
        _write_manifest(beside(out, "manifest", "json"), manifest)
    return hourly


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    df = df.copy(deep=False)
    df.attrs = {}  # the panel and manifest go to their own files
    table = pa.Table.from_pandas(df, preserve_index=False)
    if "day" in df.columns:
        table = table.set_column(0, "day", table.column("day").cast(pa.date32()))
    else:
        table = table.set_column(0, "zone_id", table.column("zone_id").cast(pa.string()))
    pq.write_table(table.replace_schema_metadata(None), path)


def attach_panel(hourly: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """Attach a panel table to an hourly table, as ``hourly.attrs["panel"]``.

    Notes
    -----
    The panel is kept as plain lists (``{"day": [ISO dates], "active_devices": [ints]}``),
    not as a DataFrame: pandas compares and deep-copies ``attrs`` on concat, merge and
    slicing, and a DataFrame there makes ``pd.concat`` of two slices of one table raise.
    Read it back as a DataFrame with :func:`read_panel`.
    """
    days = pd.to_datetime(panel["day"])
    hourly.attrs["panel"] = {
        "day": [d.date().isoformat() for d in days],
        "active_devices": [int(n) for n in panel["active_devices"]],
    }
    return hourly


def read_panel(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a panel table: from disk, or from an hourly table's ``attrs``.

    Parameters
    ----------
    source : path or pandas.DataFrame
        ``<name>.panel.parquet``, the hourly table's path (the panel beside it is
        read), or an hourly table returned by :func:`count_passages` or
        :func:`read_hourly`.

    Returns
    -------
    pandas.DataFrame
        ``day`` (datetime64, local midnight, naive), ``active_devices`` (int64).

    Raises
    ------
    InputError
        When the file is missing or malformed, or the table carries no panel.
    """
    if isinstance(source, pd.DataFrame):
        attr = source.attrs.get("panel")
        if attr is None:
            raise InputError("this hourly table carries no panel (attrs['panel'])")
        if isinstance(attr, pd.DataFrame):
            return attr
        return pd.DataFrame(
            {
                "day": pd.to_datetime(pd.Series(attr["day"], dtype=object)).astype(
                    "datetime64[ns]"
                ),
                "active_devices": np.asarray(attr["active_devices"], dtype=np.int64),
            }
        )
    path = Path(source)
    if not path.name.endswith(".panel.parquet"):
        path = beside(path, "panel")
    table = _read_table(path, ("day", "active_devices"))
    return table.to_pandas(date_as_object=False).astype({"day": "datetime64[ns]"})


def read_hourly(path: str | os.PathLike) -> pd.DataFrame:
    """Read an hourly table written by :func:`count_passages` (or ``footfall count``).

    The panel table and the manifest beside it, when present, are attached as
    ``attrs["panel"]`` and ``attrs["manifest"]``.
    """
    path = Path(path)
    df = _read_table(path, ("zone_id", "hour", "passages", "pings")).to_pandas()
    if not isinstance(df["hour"].dtype, pd.DatetimeTZDtype):
        raise InputError(f"{path}: column 'hour' is not a tz-aware timestamp")
    df["hour"] = df["hour"].dt.as_unit("ns")
    if beside(path, "panel").exists():
        attach_panel(df, read_panel(path))
    manifest = beside(path, "manifest", "json")
    if manifest.exists():
        df.attrs["manifest"] = read_manifest(manifest)
    return df


def _read_table(path: Path, names: Sequence[str]) -> pa.Table:
    try:
        table = pq.read_table(path)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r} (columns: {table.column_names})")
    return table.select(list(names))


# ---------------------------------------------------------------------------------------
# benchmark: Parquet on disk -> hourly table

_BENCH_CHILD = """
import json, sys, time
import footfall as ff
zones = ff.read_zones(sys.argv[1])
index = ff.ZoneIndex(zones)
start, cpu = time.perf_counter(), time.process_time()
hourly = ff.count_passages(sys.argv[2], zones, index=index, out=sys.argv[3],
                           workers=int(sys.argv[4]) or None)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
acc = hourly.attrs["manifest"]["accounting"]
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "accounting": acc}))
"""


def bench_end_to_end(
    zones: Any,
    pings: str | os.PathLike | None = None,
    *,
    workdir: str | os.PathLike | None = None,
    start: str = "2020-06-01",
    days: int = 7,
    scale: float = 1.0,
    devices: int = 40_000,
    background: float = 1.5,
    workers: int | None = None,
) -> dict[str, Any]:
    """Measure ``count_passages`` from Parquet on disk to the hourly table.

    The count runs in a fresh process (after its zone index is built), so the peak
    memory is the count's own. Without `pings`, ``days`` days are simulated first and
    the counted passages are checked against the planted ones.

    Parameters
    ----------
    zones : ZoneSet or path
        The zone set.
    pings : path, optional
        Existing ping files; default: simulate them in `workdir`.
    workdir : path, optional
        Where the simulation and outputs go (default: a temporary directory).
    start, days, scale, devices, background : optional
        Simulation size (see :func:`footfall.simulation.simulate`).
    workers : int, optional
        Threads of the count (default: the CPUs).

    Returns
    -------
    dict
        ``rows``, ``bytes`` (input on disk), ``seconds`` (wall), ``pings_per_s``,
        ``cpu_seconds`` (all threads), ``pings_per_cpu_s``, ``peak_rss_mb``,
        ``in_zone_share``, ``workers``, and ``mismatched_zones`` (zones whose
        counted passages differ from the planted ones; None without simulation).

    Notes
    -----
    On a shared machine the wall time depends on the load; ``pings_per_cpu_s`` times
    the cores estimates the throughput of an idle machine.
    """
    import subprocess
    import sys

    from footfall.zones import ZoneSet, read_zones

    zones = zones if isinstance(zones, ZoneSet) else read_zones(zones)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="footfall-bench-"))
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        zone_file = workdir / "zones.geojson"
        zones.gdf.drop(columns="source", errors="ignore").to_file(zone_file, driver="GeoJSON")
        truth = None
        if pings is None:
            from footfall.simulation import simulate

            pings = workdir / "pings"
            end = (pd.Timestamp(start) + pd.Timedelta(days=days - 1)).strftime("%Y-%m-%d")
            sim = simulate(
                zones, start, end, pings, scale=scale, devices=devices, background=background
            )
            truth = sim.truth_zones.set_index("zone_id")["passages"]
        size = sum(os.path.getsize(f) for f in find_files(pings))
        out = workdir / "hourly.parquet"
        args = [sys.executable, "-c", _BENCH_CHILD, str(zone_file), str(pings), str(out),
                str(workers or 0)]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.PIPE)
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise InputError(f"benchmark count failed (exit status {status})")
        mismatched = None
        if truth is not None:
            counted = read_hourly(out).groupby("zone_id")["passages"].sum()
            mismatched = int((counted.reindex(truth.index, fill_value=0) != truth).sum())
    result = json.loads(stdout)
    acc = result["accounting"]
    return {
        "rows": acc["rows_read"],
        "bytes": size,
        "seconds": result["seconds"],
        "pings_per_s": acc["rows_read"] / result["seconds"],
        "cpu_seconds": result["cpu_seconds"],
        "pings_per_cpu_s": acc["rows_read"] / result["cpu_seconds"],
        "peak_rss_mb": usage.ru_maxrss / 1024,  # kB on Linux
        "in_zone_share": acc["rows_in_zone"] / max(1, acc["rows_read"]),
        "workers": workers or os.cpu_count(),
        "mismatched_zones": mismatched,
    }


#: Simulated mixes of the end-to-end benchmark: background pings per device-day, and
#: about how many rows a day that gives over the real zone set.
_BENCH_MIXES = {"city": (1.5, 160_000), "national": (20.0, 870_000)}


def end_to_end_section(ctx: Any) -> list[dict[str, Any]]:
    """``footfall bench`` section: pings/s from Parquet on disk to the hourly table.

    Two simulated mixes of about ``ctx.points`` pings: *city* (about half the pings
    in a zone) and *national* (about 9 %); ``mismatches`` counts zones whose passages
    differ from the planted ones.
    """
    rows = []
    for mix, (background, per_day) in _BENCH_MIXES.items():
        days = max(1, -(-ctx.points // per_day))
        ctx.progress(f"end-to-end: simulating and counting {days} days ({mix})")
        r = bench_end_to_end(ctx.zones, days=days, background=background)
        rows.append(
            {
                "section": "e2e",
                "mix": mix,
                "method": "footfall count",
                "points": r["rows"],
                "seconds": r["seconds"],
                "points_per_s": r["pings_per_s"],
                "ours_vs_method": None,
                "mismatches": r["mismatched_zones"],
                "inside_share": r["in_zone_share"],
                "peak_rss_mb": r["peak_rss_mb"],
                "note": (
                    "Parquet on disk -> hourly table, in a fresh process; "
                    f"{r['pings_per_cpu_s'] / 1e6:.1f} M pings per CPU-second; mismatches: "
                    "zones whose passages differ from the simulator's planted ones"
                ),
            }
        )
    return rows
