"""REDUCE: partials -> the ``(hourly, panel)`` tables, exactly.

:func:`merge_partials` unites partials in memory (a device seen in the same zone-hour
by two partials counts once). Distinct counts only need the devices of one hour
(visits) or one local day (panel), so checkpoints are reduced by time range
(:func:`range_slices`, :func:`reduce_slices`), which bounds memory, and a group that
no two checkpoints share needs none of its devices.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from footfall.count._checkpoint import _array, _groups
from footfall.count._kernels import LOW32, union
from footfall.count._partial import (
    _GROUPS,
    Partial,
    _add_accounting,
    _new_accounting,
)
from footfall.ingest import Quarantine

__all__ = [
    "merge_partials",
    "reduce_partials",
    "hourly_frame",
    "panel_frame",
    "range_slices",
    "reduce_slices",
    "assemble",
]


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
