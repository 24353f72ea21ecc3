"""The map's output and the reduce's input: :class:`Partial`, its accounting, its ranges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from footfall.ingest import REASONS, Quarantine

__all__ = ["Partial", "RANGE_HOURS", "RANGE_DAYS", "visit_range", "panel_range"]

#: Hours per reduce range of visits, and days per range of panel pairs.
RANGE_HOURS = 24 * 7
RANGE_DAYS = 7


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
    rep_visit_key, rep_visit_count : int64 arrays
        Replicate table of the visits (issue 16): passages per zone, local day and
        device group, key ``local_day << 40 | zone_row << 8 | group``, sorted, zero
        counts left out. Summed over the groups they give the day's passages. Empty
        when the count skips intervals.
    rep_panel_key, rep_panel_count : int64 arrays
        Replicate table of the panel: active devices per local day and device group,
        key ``local_day << 8 | group``.
    rep_fix_key, rep_fix_group : int64 arrays
        Devices that a merge found in several partials' sets of one zone-hour (visit
        key, device group): each one counted once too many in the summed replicate
        tables, taken off when the hourly time zone is known (in memory only).
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
    rep_visit_key: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    rep_visit_count: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    rep_panel_key: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    rep_panel_count: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    rep_fix_key: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    rep_fix_group: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


#: The arrays of a partial, as checkpointed one after the other (all of 8-byte types):
#: the group counts first, read in one go by the reduce; the devices after them.
_VISITS = ("visit_key", "visit_passages", "visit_pings")
_PANEL = ("panel_day", "panel_active")
#: The replicate tables (issue 16), read with the groups.
_REPLICATES = ("rep_visit_key", "rep_visit_count", "rep_panel_key", "rep_panel_count")
_GROUPS = _VISITS + _PANEL + _REPLICATES
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


def visit_range(visit_key: np.ndarray) -> np.ndarray:
    """Reduce range of each visit group: UTC hours split in weeks (RANGE_HOURS)."""
    return (visit_key >> 32) // RANGE_HOURS


def panel_range(panel_day: np.ndarray) -> np.ndarray:
    """Reduce range of each panel group: local days split in weeks (RANGE_DAYS)."""
    return panel_day // RANGE_DAYS
