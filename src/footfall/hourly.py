"""Hourly passages per zone: the map/reduce counting kernel and the local engine.

The work splits in two steps that any engine can call (the local one below, or Dask):

* **map** — :func:`map_batch` (one batch) and :func:`map_fragment` (one fragment, to a
  checkpoint) turn input rows into a :class:`Partial`: the exact counts of each
  zone-hour and local day with the set of distinct devices behind each, row accounting
  and the quarantined rows. The rows fill two hash tables in a numba kernel
  (:func:`tally_rows`), one pair of tables per fragment across its batches;
* **reduce** — :func:`merge_partials` unites partials exactly (a device seen in the
  same zone-hour by two partials counts once), :func:`reduce_partials` gives the
  hourly and panel tables. Distinct counts only need the devices of one hour (visits)
  or one local day (panel), so checkpoints are reduced by time range
  (:func:`visit_range`, :func:`panel_range`, :func:`reduce_slices`), which bounds
  memory, and a group that no two checkpoints share needs none of its devices.

The local engine maps fragments on a thread pool (the numba kernels release the GIL),
checkpoints each fragment's partial to disk (``<name>.checkpoints/``), which makes an
interrupted run resumable, then reduces.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from footfall._keyed import new_secret
from footfall._tables import (
    LOW32,
    ROW_BLOCK,
    group_runs,
    keep_tables,
    rehash_groups,
    rehash_pairs,
    tables,
    tally_rows,
    union,
)
from footfall.errors import InputError
from footfall.ingest import (
    DEFAULT_WINDOW,
    REASONS,
    Columns,
    Fragment,
    Quarantine,
    find_files,
    iter_batches,
    list_fragments,
    quarantine_rows,
    run_secret,
    to_ping_batch,
    validate,
    window_seconds,
)
from footfall.manifest import (
    HASH,
    atomic_path,
    beside,
    check_accounting,
    make_manifest,
    read_manifest,
)
from footfall.manifest import write_manifest as _write_manifest

__all__ = [
    "CountSpec",
    "Partial",
    "map_batch",
    "merge_partials",
    "reduce_partials",
    "visit_range",
    "panel_range",
    "hourly_frame",
    "panel_frame",
    "count_passages",
    "list_file",
    "collect_fragments",
    "map_fragment",
    "load_partial",
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
#: Hours per reduce range of visits, and days per range of panel pairs.
RANGE_HOURS = 24 * 7
RANGE_DAYS = 7
# bump when the checkpoint layout or the kernel's meaning changes
_CHECKPOINT_VERSION = 4


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
    max_accuracy : float, optional
        Pings with an accuracy above it (metres) are quarantined (``low_accuracy``).
    secret : bytes
        Key of the device pseudonyms (drawn at random by default); never in `params`.
    """

    columns: Columns = field(default_factory=Columns)
    tz: str = "Europe/Paris"
    window: tuple[str, str] = DEFAULT_WINDOW
    max_accuracy: float | None = None
    secret: bytes = field(default_factory=new_secret, repr=False, compare=False)

    def params(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready dict (manifest and checkpoint key)."""
        return {"columns": asdict(self.columns), "tz": self.tz, "window": list(self.window),
                "max_accuracy": self.max_accuracy}  # fmt: skip

    @cached_property
    def seconds(self) -> tuple[int, int]:
        """The window as UTC epoch seconds."""
        return window_seconds(self.window)

    @cached_property
    def offsets(self) -> tuple[int, np.ndarray]:
        """``(h0, off)``: ``off[h - h0]`` is the UTC offset, in hours, of UTC hour ``h``."""
        h0, h1 = self.seconds[0] // 3600, -(-self.seconds[1] // 3600)
        if h0 < 0:
            raise InputError(f"time window {self.window!r}: it starts before 1970")
        try:
            off = _utc_offsets(self.tz, h0, h1)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - pytz/zoneinfo raise various types
            raise InputError(f"time zone {self.tz!r} is unknown ({exc})") from exc
        return int(h0), off


def _utc_offsets(tz: str, h0: int, h1: int) -> np.ndarray:
    """UTC offset in whole hours (int8) of each UTC hour ``h0 .. h1 - 1`` in `tz`.

    Offsets are looked up once a day, then hour by hour only in the days where they
    change (a time zone's offset changes a few times a year): ~1 ms for the default
    window of 45 years instead of ~25 ms for all its 394,000 hours.

    Raises
    ------
    InputError
        When an offset is not a whole number of hours.
    """

    def offset(hours: np.ndarray) -> np.ndarray:
        utc = pd.DatetimeIndex(hours * 3_600_000_000_000, tz="UTC")
        local = utc.tz_convert(tz).tz_localize(None)
        seconds = (local - utc.tz_localize(None)).total_seconds().to_numpy()
        if np.any(seconds % 3600):
            raise InputError(
                f"time zone {tz!r} has UTC offsets that are not whole hours; "
                "local hours would not be UTC hours"
            )
        return (seconds // 3600).astype(np.int8)

    d0, d1 = h0 // 24, -(-h1 // 24)
    daily = offset(np.arange(d0, d1 + 1, dtype=np.int64) * 24)
    off = np.repeat(daily[:-1], 24)
    changed = np.flatnonzero(daily[1:] != daily[:-1])  # days with a change within them
    at = (changed[:, None] * 24 + np.arange(24)).ravel()
    off[at] = offset(24 * d0 + at)
    return off[h0 - 24 * d0 : h1 - 24 * d0]


@dataclass
class Partial:
    """Exact counts of some input rows, with the devices behind them; mergeable.

    A partial holds *groups* — zone-hours (visits) and local days (panel) — and, for
    each group, the set of distinct devices seen in it, stored run after run: the
    devices of visit group ``j`` are ``visit_devices[s[j] : s[j] + visit_passages[j]]``
    with ``s = cumsum(visit_passages) - visit_passages`` (likewise for the panel).
    Merging partials (:func:`merge_partials`) unites the device sets of equal groups,
    so a device seen in one zone-hour by two partials counts once.

    Attributes
    ----------
    visit_key : int64 array
        ``utc_hour << 32 | zone_row`` (hours since the epoch), unique and sorted: by
        hour, then zone.
    visit_passages : int64 array
        Distinct devices of each zone-hour.
    visit_pings : int64 array
        Rows of each zone-hour.
    visit_devices : uint64 array
        Pseudonymous device keys, group after group.
    panel_day : int64 array
        Local days (days since 1970-01-01, local calendar), unique and sorted.
    panel_active : int64 array
        Distinct devices with a valid ping on each day.
    panel_devices : uint64 array
        Their keys, day after day.
    accounting : dict
        ``rows_read``, ``rows_in_zone``, ``rows_outside``, ``quarantined`` (reason -> rows).
    quarantine : Quarantine
        Quarantined rows, without device identifiers.
    """

    visit_key: np.ndarray
    visit_passages: np.ndarray
    visit_pings: np.ndarray
    visit_devices: np.ndarray
    panel_day: np.ndarray
    panel_active: np.ndarray
    panel_devices: np.ndarray
    accounting: dict[str, Any]
    quarantine: Quarantine


#: The arrays of a partial, as checkpointed one after the other (all of 8-byte types):
#: the group counts first, read in one go by the reduce; the devices after them.
_GROUPS = ("visit_key", "visit_passages", "visit_pings", "panel_day", "panel_active")
_DEVICES = ("visit_devices", "panel_devices")
_ARRAYS = _GROUPS + _DEVICES
_DTYPES = {name: np.uint64 if name in _DEVICES else np.int64 for name in _ARRAYS}


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
# map


class _Tally:
    """The map's tables for one fragment (or one batch): rows in, a :class:`Partial` out."""

    def __init__(self, spec: CountSpec, rows: int = 1 << 16) -> None:
        self.spec = spec
        self.h0, self.off = spec.offsets
        self.d0 = self.h0 // 24 - 2  # below every local day of the window
        # 1.5 to 3 pair slots per row at first: most fragments never grow their table
        self.t = tables(max(12, int(rows + rows // 2).bit_length()))
        shifts = [
            64 - int(len(self.t[k]) // w - 1).bit_length() for k, w in (("gslot", 1), ("slots", 2))
        ]
        self.state = np.zeros(7 + len(REASONS) + 1, np.int64)
        self.state[2:4] = shifts
        self.rows_read = 0
        self.quarantine: list[Quarantine] = []

    def add(
        self, batch: pa.RecordBatch | pa.Table, assigner: Any, source: str = "", row0: int = 0
    ) -> None:
        """Validate, assign and add a batch of input rows."""
        pings = to_ping_batch(batch, self.spec.columns, source, secret=self.spec.secret)
        reason = validate(pings, self.spec.seconds, self.spec.max_accuracy)
        zone = np.asarray(assigner.assign(pings.lon, pings.lat), dtype=np.int32)
        i, n, t = 0, len(pings), self.t
        if len(t["bad"]) < n:
            t["bad"] = np.empty(n, np.int64)
        self.state[6] = 0
        while True:
            i = tally_rows(reason, pings.device, pings.t, zone, self.off, self.h0, self.d0, i,
                           t["gslot"], t["gkey"], t["gpings"], t["zcache"], t["slots"],
                           t["listed"], t["bad"], self.state)  # fmt: skip
            if i == n:
                break
            self._grow()
        self.rows_read += n
        if self.state[6]:
            rows = t["bad"][: self.state[6]].copy()
            self.quarantine.append(quarantine_rows(pings, reason, source, row0, rows))

    def _grow(self) -> None:
        """Double whichever table is nearly half full (rehashing it)."""
        state, t = self.state, self.t
        if state[1] + 2 * ROW_BLOCK > len(t["listed"]) >> 1:
            state[3] -= 1
            t["slots"] = np.zeros(2 * len(t["slots"]), np.uint64)
            rehash_pairs(t["listed"], state[1], t["slots"], state[3])
            listed = np.empty(2 * len(t["listed"]), np.uint64)
            listed[: 2 * state[1]] = t["listed"][: 2 * state[1]]
            t["listed"] = listed
        if state[0] + 2 * ROW_BLOCK > len(t["gkey"]):
            n = int(state[0])
            state[2] -= 1
            t["gslot"] = np.zeros(2 * len(t["gslot"]), np.int64)
            rehash_groups(t["gkey"], n, t["gslot"], state[2])
            for name in ("gkey", "gpings"):
                grown = np.empty(2 * len(t[name]), np.int64)
                grown[:n] = t[name][:n]
                t[name] = grown

    def partial(self) -> Partial:
        """Return the exact counts of the rows added, with their device sets (once)."""
        t = self.t
        arrays = group_runs(t["gkey"], t["gpings"], self.state[0], t["listed"], self.state[1],
                            self.h0, self.d0)  # fmt: skip
        keep_tables(t)
        self.t = {}
        acc = {
            "rows_read": self.rows_read,
            "rows_in_zone": int(self.state[4]),
            "rows_outside": int(self.state[5]),
            "quarantined": {r: int(c) for r, c in zip(REASONS, self.state[8:], strict=True)},
        }
        return Partial(*arrays, acc, Quarantine.concat(self.quarantine))


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
        The exact counts of the batch, with their device sets; a pure function of its
        arguments (the order of the devices within a group aside).
    """
    tally = _Tally(spec, batch.num_rows)
    tally.add(batch, assigner, source, row0)
    return tally.partial()


def _unite(
    parts: Sequence[tuple[Any, ...]], keep: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Unite ``(key, size, extra, devices)`` group runs of several partials (exact).

    ``devices`` may be a function returning them: it is called only where two parts
    share a key, or when `keep` asks for the united devices. Where they are needed and
    a part's are None, the result is None.
    """
    if not parts:
        empty = np.empty(0, np.int64)
        return empty, empty, empty, np.empty(0, np.uint64)
    key, size, extra = (np.concatenate([p[i] for p in parts]) for i in range(3))
    order = np.argsort(key, kind="stable")  # parts of sorted keys: a merge of runs
    sorted_key = key[order]
    if not keep and not _shared(sorted_key):
        # no key in two parts: their counts stand, and no device is read
        return sorted_key, size[order], extra[order], np.empty(0, np.uint64)
    if any(p[3] is None for p in parts):
        return None
    devices = np.concatenate([p[3]() if callable(p[3]) else p[3] for p in parts])
    start = np.cumsum(size) - size
    return union(key, size, extra, start, devices, order, keep)


def _shared(sorted_key: np.ndarray) -> bool:
    """Whether a sorted key array holds a key twice."""
    return bool(np.any(sorted_key[1:] == sorted_key[:-1]))


def merge_partials(partials: Iterable[Partial]) -> Partial:
    """Unite partials: the device sets of equal groups merge (exact, associative)."""
    parts = list(partials)
    if len(parts) == 1:
        return parts[0]
    vk, vp, vn, vd = _unite(
        [(p.visit_key, p.visit_passages, p.visit_pings, p.visit_devices) for p in parts], True
    )
    pk, pa_, _, pd_ = _unite(
        [(p.panel_day, p.panel_active, np.zeros_like(p.panel_day), p.panel_devices)
         for p in parts],
        True,
    )  # fmt: skip
    accounting = _new_accounting()
    for p in parts:
        _add_accounting(accounting, p.accounting)
    quarantine = Quarantine.concat([p.quarantine for p in parts])
    return Partial(vk, vp, vn, vd, pk, pa_, pd_, accounting, quarantine)


def visit_range(visit_key: np.ndarray) -> np.ndarray:
    """Reduce range of each visit group: UTC hours split in weeks (RANGE_HOURS)."""
    return (visit_key >> 32) // RANGE_HOURS


def panel_range(panel_day: np.ndarray) -> np.ndarray:
    """Reduce range of each panel group: local days split in weeks (RANGE_DAYS)."""
    return panel_day // RANGE_DAYS


def hourly_frame(
    key: np.ndarray,
    passages: np.ndarray,
    pings: np.ndarray,
    zone_ids: Sequence[str],
    tz: str,
) -> pd.DataFrame:
    """Assemble the hourly table (DESIGN §3) from visit keys, sorted by zone and hour."""
    order = np.argsort(key, kind="stable")  # by hour, then zone (a no-op when sorted)
    zone_row = (key & LOW32)[order]
    by_zone = np.argsort(zone_row.astype(_row_dtype(len(zone_ids))), kind="stable")
    order, zone_row = order[by_zone], zone_row[by_zone]
    # Built in arrow, whose types read_hourly gives back; the columns stay apart.
    table = pa.table(
        {
            "zone_id": pa.array(list(zone_ids), pa.string()).take(pa.array(zone_row)),
            "hour": pa.array((key[order] >> 32) * 3_600_000_000_000, pa.timestamp("ns", tz=tz)),
            "passages": pa.array(passages[order].astype(np.int64, copy=False)),
            "pings": pa.array(pings[order].astype(np.int64, copy=False)),
        }
    )
    return table.to_pandas(split_blocks=True)


def _row_dtype(n: int) -> type:
    """Return the narrowest unsigned type for `n` rows (numpy sorts 16-bit keys by radix)."""
    return np.uint16 if n <= 1 << 16 else np.uint32


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

    For inputs too large for memory, the engines checkpoint each fragment's partial
    and reduce range by range (:func:`visit_range`, :func:`panel_range`,
    :func:`reduce_slices`).
    """
    merged = merge_partials(partials)
    hourly = hourly_frame(merged.visit_key, merged.visit_passages, merged.visit_pings, zone_ids, tz)
    return hourly, panel_frame(merged.panel_day, merged.panel_active)


# ---------------------------------------------------------------------------------------
# local engine: fragments -> checkpointed partials -> range-by-range reduce
#
# A checkpoint is one file per fragment, written under a temporary name and renamed
# into place when complete: an 8-byte magic, the length of a JSON header (where each
# array starts, the accounting, and the groups and devices of each reduce range),
# the header, then the partial's arrays one after the other (the quarantined rows are
# columns too).

_MAGIC = b"footfall"
_HEADER = 16  # magic and header length


def _save_partial(part: Partial, path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write a partial's checkpoint atomically (renamed when complete); return its meta."""
    q = part.quarantine
    columns = [
        *((name, np.ascontiguousarray(getattr(part, name), _DTYPES[name])) for name in _ARRAYS),
        # the quarantine's columns last, widest first (each stays aligned)
        *((f"quarantine.{name}", np.ascontiguousarray(getattr(q, name), dtype))
          for name, dtype in sorted(Quarantine.COLUMNS, key=lambda c: -np.dtype(c[1]).itemsize)),
    ]  # fmt: skip
    layout, at = {}, 0
    for name, arr in columns:
        layout[name] = [arr.dtype.str, at, len(arr)]
        at += arr.nbytes
    meta = {
        **meta,
        "arrays": layout,
        "accounting": part.accounting,
        "visit_ranges": _range_bounds(visit_range(part.visit_key), part.visit_passages),
        "panel_ranges": _range_bounds(panel_range(part.panel_day), part.panel_active),
        "quarantined_rows": q.num_rows,
        "quarantine_sources": list(q.sources),
    }
    header = json.dumps(meta).encode()
    header += b" " * (-len(header) % 8)  # the arrays start 8-byte aligned
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "wb") as f:
        f.write(_MAGIC + len(header).to_bytes(8, "little") + header)
        for _, arr in columns:
            f.write(arr.data)
    # A run of the same fragment that finished first (a Dask task of a client that died,
    # or one run twice) wrote the same content: replacing it changes nothing.
    os.replace(tmp, path)
    return {**meta, "base": _HEADER + len(header)}


def _range_bounds(ranges: np.ndarray, sizes: np.ndarray) -> dict[str, list[int]]:
    """Per range: ``[first group, end group, first device, end device]`` (ranges sorted)."""
    values, starts = np.unique(ranges, return_index=True)
    ends = np.append(starts[1:], len(ranges))[: len(starts)]
    dev = np.concatenate([[0], np.cumsum(sizes)])
    return {
        str(int(v)): [int(s), int(e), int(dev[s]), int(dev[e])]
        for v, s, e in zip(values, starts, ends, strict=True)
    }


def _read_meta(path: Path) -> dict[str, Any]:
    """Read the header of a finished checkpoint, with ``base``: where its arrays start."""
    with open(path, "rb") as f:
        head = f.read(_HEADER)
        if len(head) < _HEADER or head[:8] != _MAGIC:
            raise ValueError(f"{path}: not a footfall checkpoint")
        length = int.from_bytes(head[8:], "little")
        meta = json.loads(f.read(length))
    return {**meta, "base": _HEADER + length}


def _array(
    path: Path, meta: dict[str, Any], name: str, lo: int = 0, hi: int | None = None
) -> np.ndarray:
    """Rows ``lo:hi`` of a checkpointed array."""
    dtype, at, n = meta["arrays"][name]
    hi = n if hi is None else hi
    if hi <= lo:
        return np.empty(0, dtype)
    offset = meta["base"] + at + lo * np.dtype(dtype).itemsize
    return np.fromfile(path, dtype, hi - lo, offset=offset)


def load_partial(path: str | os.PathLike) -> Partial:
    """Read back a checkpointed partial (its quarantine included)."""
    path = Path(path)
    meta = _read_meta(path)
    arrays = {name: _array(path, meta, name) for name in _ARRAYS}
    return Partial(**arrays, accounting=meta["accounting"], quarantine=_quarantine(path, meta))


def _groups(path: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Read the group arrays of a checkpoint in one go (its first arrays)."""
    counts = [meta["arrays"][name][2] for name in _GROUPS]
    flat = np.fromfile(path, np.int64, sum(counts), offset=meta["base"])
    return dict(zip(_GROUPS, np.split(flat, np.cumsum(counts)[:-1]), strict=True))


def _quarantine(path: Path, meta: dict[str, Any]) -> Quarantine:
    """Read the quarantined rows of a checkpoint in one go (its last arrays)."""
    layout = [meta["arrays"][f"quarantine.{name}"] for name, _ in Quarantine.COLUMNS]
    first = min(at for _, at, _ in layout)
    size = sum(n * np.dtype(dtype).itemsize for dtype, _, n in layout)
    raw = np.fromfile(path, np.uint8, size, offset=meta["base"] + first)
    columns = (
        np.frombuffer(raw, dtype, n, at - first) if n else np.empty(0, dtype)
        for dtype, at, n in layout
    )
    return Quarantine(tuple(meta["quarantine_sources"]), *columns)


def _map_fragment(
    fragment: Fragment,
    assigner: Any,
    spec: CountSpec,
    path: Path,
    batch_rows: int,
    on_rows: Callable[[int], None],
) -> dict[str, Any]:
    # One table for the whole fragment: its pairs are unique across its batches.
    tally = _Tally(spec, min(fragment.rows or batch_rows, batch_rows))
    for row0, batch in iter_batches(fragment, spec.columns, batch_rows=batch_rows):
        tally.add(batch, assigner, fragment.path, row0)
        on_rows(batch.num_rows)
    meta = {"path": fragment.path, "key": fragment.key}
    return _save_partial(tally.partial(), path, meta)


def _load_meta(path: Path, fragment: Fragment) -> dict[str, Any] | None:
    try:
        meta = _read_meta(path)
    except (OSError, ValueError):  # missing, cut short, or not a checkpoint
        return None
    return meta if meta.get("key") == fragment.key else None


#: A reduce range's share of each checkpoint: ``(path, meta, bounds)``.
Slices = list[tuple[Path, dict[str, Any], list[int]]]


def range_slices(done: list[tuple[Path, dict[str, Any]]], kind: str) -> list[Slices]:
    """Per reduce range of `kind` (``"visit"`` or ``"panel"``), its slices of the checkpoints."""
    by_range: dict[int, Slices] = {}
    for path, meta in done:
        slim = {"arrays": meta["arrays"], "base": meta["base"]}  # what reading a slice needs
        for r, bounds in meta[f"{kind}_ranges"].items():
            by_range.setdefault(int(r), []).append((path, slim, bounds))
    return [by_range[r] for r in sorted(by_range)]


def reduce_slices(kind: str, slices: Slices) -> tuple[np.ndarray, ...]:
    """REDUCE one range from its checkpoint slices.

    Returns ``(key, passages, pings)`` for visits, ``(day, active_devices)`` for the
    panel, sorted. Devices are read only for the groups that several checkpoints
    share (none when each fragment holds its own hours, as day-partitioned inputs do).
    """
    names = (
        ("visit_key", "visit_passages", "visit_pings", "visit_devices")
        if kind == "visit"
        else ("panel_day", "panel_active", None, "panel_devices")
    )
    parts = []
    for path, meta, (g0, g1, d0, d1) in slices:
        key, size = (_array(path, meta, n, g0, g1) for n in names[:2])
        extra = (
            np.zeros(len(key), np.int64)
            if names[2] is None
            else _array(path, meta, names[2], g0, g1)
        )
        devices = functools.partial(_array, path, meta, names[3], d0, d1)  # read if needed
        parts.append((key, size, extra, devices))
    key, size, extra, _ = _unite(parts, keep=False)
    return (key, size, extra) if kind == "visit" else (key, size)


def _reduce_on_disk(
    done: list[tuple[Path, dict[str, Any]]], zone_ids: Sequence[str], tz: str, workers: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reduce checkpointed partials.

    The group counts of every checkpoint are read first; when no zone-hour (or day)
    lies in two checkpoints, as with day-partitioned inputs, they are the result.
    Otherwise that kind is reduced range by range (bounded memory) in `workers`
    threads, reading the devices of the groups that checkpoints share.
    """
    groups = [_groups(path, meta) for path, meta in done]
    out: dict[str, list[tuple[np.ndarray, ...]]] = {}
    jobs = []
    for kind, names in (("visit", _GROUPS[:3]), ("panel", _GROUPS[3:])):
        parts = []
        for g in groups:  # (key, size, pings or zeros, devices: not read here)
            key, size, *pings = (g[n] for n in names)
            parts.append((key, size, pings[0] if pings else np.zeros(len(key), np.int64), None))
        united = _unite(parts, keep=False)
        if united is None:  # some groups lie in several checkpoints: by range
            jobs += [(kind, s) for s in range_slices(done, kind)]
            out[kind] = []
        else:
            out[kind] = [united[: len(names)]]
    with ThreadPoolExecutor(workers) as pool:  # the reduce kernels release the GIL
        for (kind, _), result in zip(
            jobs, pool.map(lambda job: reduce_slices(*job), jobs), strict=True
        ):
            out[kind].append(result)
    return assemble(out["visit"], out["panel"], zone_ids, tz)


def assemble(
    visits: Sequence[tuple[np.ndarray, ...]],
    panel: Sequence[tuple[np.ndarray, ...]],
    zone_ids: Sequence[str],
    tz: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate reduced ranges into the ``(hourly, panel)`` tables."""
    cat = lambda parts, i: (  # noqa: E731
        np.concatenate([p[i] for p in parts]) if parts else np.empty(0, np.int64)
    )
    hourly = hourly_frame(cat(visits, 0), cat(visits, 1), cat(visits, 2), zone_ids, tz)
    return hourly, panel_frame(cat(panel, 0), cat(panel, 1))


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
        path, meta, resumed = result
        progress.file_done(meta["accounting"]["rows_read"] if resumed else 0)
        return path, meta

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

    Returns ``(checkpoint path, meta, resumed)``, or the error of an unreadable file when
    `skip_bad_files` (else it raises :class:`InputError`). Any engine calls this.
    """
    path = workdir / f"{i:06d}-{hashlib.sha256(fragment.key.encode()).hexdigest()[:16]}.ckpt"
    meta = _load_meta(path, fragment)
    if meta is not None:  # finished by an earlier, interrupted run
        return path, meta, True
    try:
        meta = _map_fragment(fragment, assigner, spec, path, batch_rows, on_rows)
    except InputError:
        raise
    except _BAD_FILE as exc:
        if not skip_bad_files:
            raise _unreadable(fragment.path, exc) from exc
        return str(exc)
    return path, meta, False


def _dataframe_fragment(df: pd.DataFrame, spec: CountSpec) -> pa.Table:
    names = spec.columns.resolve(list(df.columns), "pings DataFrame").names
    return pa.Table.from_pandas(df[names], preserve_index=False)


def count_passages(
    pings: str | os.PathLike | Sequence[str | os.PathLike] | pd.DataFrame,
    zones: Any,
    *,
    tz: str = "Europe/Paris",
    out: str | os.PathLike | None = None,
    columns: Columns | dict[str, str] | None = None,
    window: tuple[str, str] = DEFAULT_WINDOW,
    max_accuracy: float | None = None,
    engine: Literal["local", "dask"] = "local",
    client: Any = None,
    index: Any = None,
    skip_bad_files: bool = False,
    workers: int | None = None,
    batch_rows: int = 1 << 18,
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
        Input column names, e.g. ``{"device": "uid", "time": "ts"}``; names not given
        are found among the usual vendor names (:data:`footfall.ingest.KNOWN_NAMES`).
    window : (str, str)
        Plausible UTC timestamps; rows outside are quarantined.
    max_accuracy : float, optional
        Quarantine pings whose accuracy is above it, in metres (``low_accuracy``).
        Default: no filter (see :func:`footfall.ingest.validate`).
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
    ``passages`` counts distinct devices in a zone-hour: devices are keyed by a
    keyed 64-bit hash with a secret per run (:mod:`footfall._keyed`; ``12345`` and
    ``"12345"`` are one device), so two of ``n`` devices share a key with probability
    about ``n**2 / 2**65``, 3e-8 for a million devices. Exact duplicate rows add pings,
    not passages. Device identifiers are never written; checkpoints hold the keys
    only while a run is unfinished.
    """
    from footfall.zones import ZoneSet, read_zones

    if engine not in _ENGINES:
        raise InputError(f"`engine` was {engine!r} but is expected to be in {_ENGINES}")
    spec = CountSpec(Columns.of(columns), tz, tuple(window), max_accuracy)
    spec.offsets  # noqa: B018 - fail early on a bad tz or window
    if not isinstance(zones, ZoneSet):
        zones = read_zones(zones)
    if index is None:
        from footfall.index import ZoneIndex

        index = ZoneIndex(zones)
    zone_ids = list(zones.zone_ids)
    zone_doc = {
        "hash": zones.hash,
        "n_zones": len(zones),
        "sources": [str(s) for s in zones.sources],
    }

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
            hourly, panel, zone_doc, spec, inputs, accounting, skipped, quarantine, out, engine
        )

    if engine == "dask":
        from footfall.dask_engine import DaskEngine

        runner = DaskEngine(client, workers)
    else:
        runner = _LocalEngine(workers)
    files = find_files(pings)
    with runner:
        return _count_files(
            files,
            zone_ids,
            zone_doc,
            index,
            spec,
            runner,
            out,
            skip_bad_files,
            batch_rows,
            progress,
        )


def _count_files(
    files: list[Path | str],
    zone_ids: list[str],
    zone_doc: dict[str, Any],
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
        workdir = beside(out, "checkpoints", "") / _run_key(zone_doc["hash"], spec)
        if workdir.parent.exists():  # drop checkpoints of other parameters
            for old in workdir.parent.iterdir():
                if old != workdir:
                    shutil.rmtree(old, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in workdir.glob("*.tmp-*"):  # fragments cut short by a kill
            stale.unlink(missing_ok=True)
        tmpdir = contextlib.nullcontext(workdir)
    else:
        # A failing run may leave a Dask task still writing there while the error
        # unwinds; the cleanup must not replace that error with its own.
        tmpdir = tempfile.TemporaryDirectory(prefix="footfall-count-", ignore_cleanup_errors=True)
    with tmpdir as wd:
        wd = Path(wd)
        spec = replace(spec, secret=run_secret(wd))  # a resumed run keeps its device keys
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
        hourly, panel = runner.reduce(done, zone_ids, spec.tz)
        accounting = _new_accounting()
        for _, meta in done:
            _add_accounting(accounting, meta["accounting"])
        bad = {s["path"] for s in skipped}
        inputs, seen = [], set()
        for f in fragments:
            if f.path not in seen and f.path not in bad:
                seen.add(f.path)
                inputs.append({"path": f.path, "size": f.size, HASH: f.digest})
        quarantine = [_quarantine(d, m) for d, m in done if m["quarantined_rows"]]
        result = _finish(
            hourly, panel, zone_doc, spec, inputs, accounting, skipped, quarantine, out, engine
        )
    if out is not None:
        shutil.rmtree(beside(out, "checkpoints", ""), ignore_errors=True)
    return result


def _finish(
    hourly: pd.DataFrame,
    panel: pd.DataFrame,
    zone_doc: dict[str, Any],
    spec: CountSpec,
    inputs: list[dict[str, Any]],
    accounting: dict[str, Any],
    skipped: list[dict[str, str]],
    quarantine: list[Quarantine],
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
        zones=zone_doc,
        parameters={**spec.params(), "engine": engine},
        accounting=accounting,
        outputs=outputs,
        skipped_files=skipped,
    )
    attach_panel(hourly, panel)
    hourly.attrs["manifest"] = manifest
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        writes = [
            (Quarantine.concat(quarantine).table(), outputs["quarantine"]),
            (_arrow_table(panel), outputs["panel"]),
            (_arrow_table(hourly), out),
        ]
        with ThreadPoolExecutor(len(writes)) as pool:  # pyarrow writes without the GIL
            list(pool.map(lambda job: _write_parquet(*job), writes))
        _write_manifest(beside(out, "manifest", "json"), manifest)
    return hourly


def _arrow_table(df: pd.DataFrame) -> pa.Table:
    """Return the columns of an hourly or panel table as arrow (no attrs, no index)."""
    table = pa.table({name: pa.array(df[name]) for name in df.columns})
    if "day" in df.columns:
        return table.set_column(0, "day", table.column("day").cast(pa.date32()))
    return table.set_column(0, "zone_id", table.column("zone_id").cast(pa.string()))


def _write_parquet(table: pa.Table, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


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
from footfall.ingest import find_files
zones = ff.read_zones(sys.argv[1])
index = ff.ZoneIndex(zones)
# warm-up on one file: loads numba's cached kernels (~0.15 s once per process)
ff.count_passages(find_files(sys.argv[2])[0], zones, index=index)
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

    The count runs in a fresh process, after its zone index is built and a warm-up
    count of the first file (which loads numba's cached kernels), so the peak memory
    is the count's own. Without `pings`, ``days`` days are simulated first and
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
        # Let the kernel write the simulated files out first: its writeback would take
        # CPU from the count that is being measured.
        os.sync()
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
