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
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from footfall._arrow import array, strings
from footfall.count._checkpoint import _array, _groups
from footfall.count._kernels import LOW32, REPLICATE_GROUPS, union
from footfall.count._partial import (
    _PANEL,
    _REPLICATES,
    _VISITS,
    Partial,
    _add_accounting,
    _new_accounting,
)
from footfall.count._spec import utc_offsets
from footfall.ingest import Quarantine

__all__ = [
    "merge_partials",
    "reduce_partials",
    "Reduced",
    "hourly_table",
    "panel_table",
    "range_slices",
    "reduce_slices",
    "assemble",
    "replicate_sums",
]

_EMPTY = np.empty(0, np.int64)


def _unite(parts: Sequence[tuple[Any, ...]], keep: bool) -> tuple[np.ndarray, ...] | None:
    """Unite ``(key, size, extra, devices)`` group runs of several partials (exact).

    ``devices`` may be a function returning them: it is called only where two parts
    share a key, or when `keep` asks for the united devices. Where they are needed and
    a part's are None, the result is None. Returns ``(key, size, extra, devices,
    dup_key, dup_group)``: the last two list the devices found in two parts of one key
    (see :func:`~footfall.count._kernels.union`), for the replicate tables.
    """
    if not parts:
        empty = np.empty(0, np.int64)
        return empty, empty, empty, np.empty(0, np.uint64), empty, empty
    key, size, extra = (np.concatenate([p[i] for p in parts]) for i in range(3))
    order = np.argsort(key, kind="stable")  # parts of sorted keys: a merge of runs
    sorted_key = key[order]
    if not keep and not _shared(sorted_key):
        # no key in two parts: their counts stand, and no device is read
        return sorted_key, size[order], extra[order], np.empty(0, np.uint64), _EMPTY, _EMPTY
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
    vk, vp, vn, vd, vdup, vdup_group = _unite(
        [(p.visit_key, p.visit_passages, p.visit_pings, p.visit_devices) for p in parts], True
    )
    pk, pa_, _, pd_, pdup, pdup_group = _unite(
        [(p.panel_day, p.panel_active, np.zeros_like(p.panel_day), p.panel_devices)
         for p in parts],
        True,
    )  # fmt: skip
    accounting = _new_accounting()
    for p in parts:
        _add_accounting(accounting, p.accounting)
    quarantine = Quarantine.concat([p.quarantine for p in parts])
    merged = Partial(vk, vp, vn, vd, pk, pa_, pd_, accounting, quarantine)
    # replicate tables: summed; a panel device counted by two parts of a day comes off
    # at once, a visit one once its zone-hour's local day is known (rep_fix_*)
    merged.rep_visit_key, merged.rep_visit_count = _sum_counts(
        [p.rep_visit_key for p in parts], [p.rep_visit_count for p in parts]
    )
    merged.rep_panel_key, merged.rep_panel_count = _sum_counts(
        [*(p.rep_panel_key for p in parts), (pdup << 8) | pdup_group],
        [*(p.rep_panel_count for p in parts), np.full(len(pdup), -1, np.int64)],
    )
    merged.rep_fix_key = np.concatenate([*(p.rep_fix_key for p in parts), vdup])
    merged.rep_fix_group = np.concatenate([*(p.rep_fix_group for p in parts), vdup_group])
    return merged


def _sum_counts(
    keys: Sequence[np.ndarray], counts: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Sum `counts` by key over several sparse tables; sorted keys, zero sums left out."""
    key = np.concatenate([np.asarray(k, np.int64) for k in keys]) if keys else _EMPTY
    count = np.concatenate([np.asarray(c, np.int64) for c in counts]) if counts else _EMPTY
    if len(key) == 0:
        return _EMPTY, _EMPTY
    unique, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, weights=count, minlength=len(unique)).astype(np.int64)
    keep = total != 0
    return unique[keep], total[keep]


class Reduced(NamedTuple):
    """What a reduce gives: the count's tables, in arrow (their on-disk types).

    ``hourly`` and ``panel`` as :func:`hourly_table` and :func:`panel_table` build them;
    ``replicates`` as :meth:`footfall.tables.Replicates.table` lays them out, or None
    when the count skips them.
    """

    hourly: pa.Table
    panel: pa.Table
    replicates: pa.Table | None


def hourly_table(
    key: np.ndarray,
    passages: np.ndarray,
    pings: np.ndarray,
    zone_ids: Sequence[str],
    tz: str,
) -> pa.Table:
    """Assemble the hourly table (DESIGN §3) from visit keys, sorted by zone and hour."""
    order = np.argsort(key, kind="stable")  # by hour, then zone (a no-op when sorted)
    zone_row = (key & LOW32)[order]
    by_zone = np.argsort(zone_row.astype(_row_dtype(len(zone_ids))), kind="stable")
    order, zone_row = order[by_zone], zone_row[by_zone]
    return pa.table(
        {
            "zone_id": strings(zone_ids).take(array(zone_row.astype(np.int64))),
            "hour": array((key[order] >> 32) * 3_600_000_000_000, pa.timestamp("ns", tz=tz)),
            "passages": array(passages[order].astype(np.int64, copy=False)),
            "pings": array(pings[order].astype(np.int64, copy=False)),
        }
    )


def _row_dtype(n: int) -> type:
    """Return the narrowest unsigned type for `n` rows (numpy sorts 16-bit keys by radix)."""
    return np.uint16 if n <= 1 << 16 else np.uint32


def panel_table(day: np.ndarray, active: np.ndarray) -> pa.Table:
    """Assemble the panel table: ``day`` (local date), ``active_devices``, by day."""
    order = np.argsort(day, kind="stable")
    return pa.table(
        {
            "day": array(day[order].astype(np.int32), pa.date32()),
            "active_devices": array(active[order].astype(np.int64)),
        }
    )


def reduce_partials(
    partials: Iterable[Partial], zone_ids: Sequence[str], tz: str, replicates: bool = True
) -> Reduced:
    """REDUCE in memory: partials -> the hourly, panel (and replicate) tables, exactly.

    For inputs too large for memory, the engines checkpoint each fragment's partial
    and reduce range by range (:func:`visit_range`, :func:`panel_range`,
    :func:`reduce_slices`).
    """
    m = merge_partials(partials)
    rep = None
    if replicates:
        sums = (m.rep_visit_key, m.rep_visit_count, m.rep_panel_key, m.rep_panel_count)
        rep = replicates_table(sums, (m.rep_fix_key, m.rep_fix_group), zone_ids, tz)
    return Reduced(
        hourly_table(m.visit_key, m.visit_passages, m.visit_pings, zone_ids, tz),
        panel_table(m.panel_day, m.panel_active),
        rep,
    )


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

    Returns ``(key, passages, pings, dup_key, dup_group)`` for visits, ``(day,
    active_devices, dup_day, dup_group)`` for the panel, sorted; the ``dup`` arrays list
    the devices that several checkpoints saw in one group (to correct the replicate
    tables). Devices are read only for the groups that several checkpoints share (none
    when each fragment holds its own hours, as day-partitioned inputs do).
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
    key, size, extra, _, dup, dup_group = _unite(parts, keep=False)
    return (key, size, extra, dup, dup_group) if kind == "visit" else (key, size, dup, dup_group)


def _reduce_on_disk(
    done: list[tuple[Path, dict[str, Any]]], zone_ids: Sequence[str], tz: str, workers: int = 1
) -> Reduced:
    """Reduce checkpointed partials.

    The group counts of every checkpoint are read first; when no zone-hour (or day)
    lies in two checkpoints, as with day-partitioned inputs, they are the result.
    Otherwise that kind is reduced range by range (bounded memory) in `workers`
    threads, reading the devices of the groups that checkpoints share.
    """
    groups = [_groups(path, meta) for path, meta in done]
    out: dict[str, list[tuple[np.ndarray, ...]]] = {}
    jobs = []
    for kind, names in (("visit", _VISITS), ("panel", _PANEL)):
        parts = []
        for g in groups:  # (key, size, pings or zeros, devices: not read here)
            key, size, *pings = (g[n] for n in names)
            parts.append((key, size, pings[0] if pings else np.zeros(len(key), np.int64), None))
        united = _unite(parts, keep=False)
        if united is None:  # some groups lie in several checkpoints: by range
            jobs += [(kind, s) for s in range_slices(done, kind)]
            out[kind] = []
        else:
            out[kind] = [(*united[: len(names)], *united[4:])]
    with ThreadPoolExecutor(workers) as pool:  # the reduce kernels release the GIL
        for (kind, _), result in zip(
            jobs, pool.map(lambda job: reduce_slices(*job), jobs), strict=True
        ):
            out[kind].append(result)
    sums = _replicate_sums([[g[n] for n in _REPLICATES] for g in groups])
    return assemble(out["visit"], out["panel"], zone_ids, tz, sums)


def replicate_sums(done: list[tuple[Path, dict[str, Any]]]) -> tuple[np.ndarray, ...]:
    """Sum the replicate tables of checkpoints (before the reduce's corrections).

    Returns ``(visit key, passages, panel key, active devices)`` (see :class:`Partial`).
    """
    return _replicate_sums(
        [[_array(path, meta, n) if n in meta["arrays"] else _EMPTY for n in _REPLICATES]
         for path, meta in done]
    )  # fmt: skip


def _replicate_sums(tables: Sequence[Sequence[np.ndarray]]) -> tuple[np.ndarray, ...]:
    visits = _sum_counts([t[0] for t in tables], [t[1] for t in tables])
    panel = _sum_counts([t[2] for t in tables], [t[3] for t in tables])
    return (*visits, *panel)


def assemble(
    visits: Sequence[tuple[np.ndarray, ...]],
    panel: Sequence[tuple[np.ndarray, ...]],
    zone_ids: Sequence[str],
    tz: str,
    replicates: Sequence[np.ndarray] | None = None,
) -> Reduced:
    """Concatenate reduced ranges into the hourly and panel tables.

    With `replicates` (:func:`replicate_sums` of the checkpoints), the replicate tables
    too, corrected by the devices the ranges found twice (see :func:`replicates_table`).
    """
    cat = lambda parts, i: (  # noqa: E731
        np.concatenate([p[i] for p in parts]) if parts else np.empty(0, np.int64)
    )
    rep = None
    if replicates is not None:
        vk, vc, pk, pc = replicates
        pk, pc = _sum_counts(
            [pk, (cat(panel, 2) << 8) | cat(panel, 3)], [pc, np.full(len(cat(panel, 2)), -1)]
        )
        rep = replicates_table((vk, vc, pk, pc), (cat(visits, 3), cat(visits, 4)), zone_ids, tz)
    return Reduced(
        hourly_table(cat(visits, 0), cat(visits, 1), cat(visits, 2), zone_ids, tz),
        panel_table(cat(panel, 0), cat(panel, 1)),
        rep,
    )


def replicates_table(
    sums: Sequence[np.ndarray],
    fixes: Sequence[np.ndarray],
    zone_ids: Sequence[str],
    tz: str,
) -> pa.Table:
    """Build the replicate tables, laid out as :meth:`footfall.tables.Replicates.table`.

    `sums` are the summed sparse tables ``(visit key, passages, panel key, active)``;
    `fixes` ``(visit key, group)`` the devices counted twice in them (each comes off
    its zone and local day).
    """
    vk, vc, pk, pc = sums
    fix_key, fix_group = fixes
    if len(fix_key):
        hour = fix_key >> 32
        h0 = int(hour.min())
        days = (hour + utc_offsets(tz, h0, int(hour.max()) + 1)[hour - h0]) // 24
        cells = (days << 40) | ((fix_key & LOW32) << 8) | fix_group
        vk, vc = _sum_counts([vk, cells], [vc, np.full(len(cells), -1)])
    n, m = len(vk), len(pk)
    zone_row = (vk >> 8) & LOW32
    zones = strings(zone_ids).take(array(zone_row.astype(np.int64)))
    table = pa.table(
        {
            "zone_id": pa.concat_arrays([zones, pa.nulls(m, pa.string())]),
            "day": array(np.concatenate([vk >> 40, pk >> 8]).astype(np.int32), pa.date32()),
            "group": array(np.concatenate([vk & 0xFF, pk & 0xFF]).astype(np.int16)),
            "passages": array(
                np.concatenate([vc, np.zeros(m, np.int64)]), mask=np.arange(n + m) >= n
            ),
            "active_devices": array(
                np.concatenate([np.zeros(n, np.int64), pc]), mask=np.arange(n + m) < n
            ),
        }
    )
    return table.replace_schema_metadata({"footfall.groups": str(REPLICATE_GROUPS)})
