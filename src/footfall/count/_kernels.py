"""The count's compiled hash tables: the map's groups and pairs, the reduce's union.

Numba kernels on plain arrays, and :class:`_Tally`, which owns the map's tables and
their state between batches (the rest of the count sees only a :class:`Partial`).

Keep every kernel and the inline helpers it calls in this one file: numba's on-disk
cache (``cache=True``) checks only the cached function's own source file, so a helper
moved to another module and edited there would leave stale compiled code in the cache.
The state slots (:data:`GROUPS` ...) are module constants for the same reason: numba
freezes them into the compiled code.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyarrow as pa
from numba import njit

from footfall._prefetch import prefetch
from footfall.count._partial import Partial
from footfall.count._spec import CountSpec
from footfall.ingest import REASONS, Quarantine, quarantine_rows, to_ping_batch, validate

__all__ = [
    "LOW32",
    "ROW_BLOCK",
    "ZONE_CACHE",
    "SPARE_BYTES",
    "tables",
    "keep_tables",
    "tally_rows",
    "rehash_pairs",
    "rehash_groups",
    "group_runs",
    "union",
    "REPLICATE_GROUPS",
    "device_groups",
    "replicate_tables",
    "group_histogram",
    "_Tally",
]

# Slots of the map kernel's ``state`` array (int64), kept between batches by _Tally.
#: groups in the group table
GROUPS = 0
#: pairs listed
PAIRS = 1
#: hash shift of the group table, and of the pair table (64 - log2 of their slots)
GROUP_SHIFT = 2
PAIR_SHIFT = 3
#: rows in a zone, rows outside every zone
IN_ZONE = 4
OUTSIDE = 5
#: rows of the current batch listed in ``bad`` (quarantined)
BAD = 6
#: rows by reason code: ``state[BY_REASON + r]`` (code 0: valid)
BY_REASON = 7

# The map keeps, per fragment and across its batches, a table of *groups* (a zone-hour
# or a local day -> a dense group number, and the group's rows) and a table of
# *pairs* (group number, device), each pair once, with the pairs also listed in
# insertion order. Group keys are never 0 (the empty slot): ``(zone + 1) << 32 |
# (hour - h0)`` for a zone-hour, ``day - d0 + 1`` for a day. A pair slot is two
# words: the device, and its group number + 1 (0: empty).
#
# A valid row costs one pair probe for its day and, in a zone, one for its zone-hour,
# whose group comes from a small per-zone cache (the group table when the hour
# changes).

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xD6E8FEB86659FD93)
#: A visit key's zone row is ``key & LOW32``, its UTC hour ``key >> 32``.
LOW32 = np.int64(0xFFFFFFFF)
#: Device groups of the replicate tables (issue 16): a device's group is the top
#: :data:`REPLICATE_BITS` bits of its key times an odd constant, so groups are a random
#: split of the devices whatever the keys (keyed hashes, or integer ids).
REPLICATE_BITS = 5
REPLICATE_GROUPS = 1 << REPLICATE_BITS
_GROUP_MIX = np.uint64(0xBF58476D1CE4E5B9)
_GROUP_SHIFT = np.uint64(64 - REPLICATE_BITS)
#: Entries of the map's per-zone cache of the last zone-hour group (zone row modulo).
ZONE_CACHE = 1 << 12


@njit(inline="always")
def _group_of(key, gslot, gkey, gpings, state):  # pragma: no cover - numba
    """Dense number of group `key`, added if new (state slots GROUPS, GROUP_SHIFT)."""
    mask = len(gslot) - 1
    h = np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(state[GROUP_SHIFT]))
    while True:
        g = gslot[h] - 1
        if g < 0:
            g = state[GROUPS]
            gslot[h] = g + 1
            gkey[g] = key
            gpings[g] = 0
            state[GROUPS] = g + 1
            return g
        if gkey[g] == key:
            return g
        h = (h + 1) & mask


@njit(inline="always")
def _pair_slot(tag, device, shift):  # pragma: no cover - numba
    return np.int64(((device ^ (tag * _GOLDEN)) * _MIX) >> np.uint64(shift))


@njit(inline="always")
def _add_pair(g, device, slots, listed, state):  # pragma: no cover - numba
    """Insert (group, device) unless present (state slots PAIRS, PAIR_SHIFT)."""
    mask = (len(slots) >> 1) - 1
    tag = np.uint64(g + 1)
    h = _pair_slot(tag, device, state[PAIR_SHIFT])
    while True:
        t = slots[2 * h + 1]
        if t == 0:
            slots[2 * h] = device
            slots[2 * h + 1] = tag
            k = state[PAIRS]
            listed[2 * k] = device
            listed[2 * k + 1] = tag
            state[PAIRS] = k + 1
            return
        if t == tag and slots[2 * h] == device:
            return
        h = (h + 1) & mask


@njit(inline="always")
def _device_group(device):  # pragma: no cover - numba
    return np.int64((device * _GROUP_MIX) >> _GROUP_SHIFT)


def device_groups(devices: np.ndarray) -> np.ndarray:
    """Replicate group (``0 .. REPLICATE_GROUPS - 1``) of each device key (numpy)."""
    with np.errstate(over="ignore"):
        return ((np.asarray(devices, np.uint64) * _GROUP_MIX) >> _GROUP_SHIFT).astype(np.int64)


@njit(nogil=True, cache=True)
def group_histogram(cell, size, devices, n_cells):  # pragma: no cover - numba
    """Devices per cell and replicate group: ``hist[c * REPLICATE_GROUPS + group]``.

    Group ``j`` (of ``size[j]`` devices, stored run after run in `devices`) adds its
    devices to cell ``cell[j]`` (a zone-day for visits, a day for the panel).
    """
    hist = np.zeros(n_cells * REPLICATE_GROUPS, np.int64)
    q = 0
    for j in range(len(size)):
        base = cell[j] * REPLICATE_GROUPS
        for _ in range(size[j]):
            hist[base + _device_group(devices[q])] += 1
            q += 1
    return hist


#: Rows per block of the map kernel: the pair slots of a block are prefetched together.
ROW_BLOCK = 64


@njit(nogil=True, cache=True)
def tally_rows(
    reason,
    device,
    t,
    zone,
    off,
    h0,
    d0,
    i0,
    gslot,
    gkey,
    gpings,
    zcache,
    slots,
    listed,
    bad,
    state,
):  # pragma: no cover - numba
    """Add rows ``i0:`` to the tables; stop early when a table needs to grow.

    Returns the first row not added (``len(t)`` when all were). ``state`` holds the
    groups, pairs, both shifts, rows in a zone, rows outside every zone, the rows of
    the batch listed in `bad` so far, then the rows by reason code (0 to 7);
    ``zcache[2 c : 2 c + 2]`` is the last (key, group) of the zones ``c`` modulo
    :data:`ZONE_CACHE`. Rows go in blocks: first their groups, prefetching the pair
    slots they will probe, then the pairs, so that the cache misses of a block overlap
    instead of queueing one behind the other (the tables outgrow the caches).
    """
    n = len(t)
    visit = np.empty(ROW_BLOCK, np.int64)
    panel = np.empty(ROW_BLOCK, np.int64)
    rows = np.empty(ROW_BLOCK, np.int64)
    last_day, day_group = np.int64(-1), np.int64(0)
    for b0 in range(i0, n, ROW_BLOCK):
        # room for every row of the block to add two groups and two pairs
        if (
            state[GROUPS] + 2 * ROW_BLOCK > len(gkey)
            or state[PAIRS] + 2 * ROW_BLOCK > len(listed) >> 1
        ):
            return b0
        m = 0
        for i in range(b0, min(b0 + ROW_BLOCK, n)):
            r = reason[i]
            state[BY_REASON + r] += 1
            if r != 0:  # quarantined
                bad[state[BAD]] = i
                state[BAD] += 1
                continue
            hour = t[i] // 3600
            hr = hour - h0
            day = (hour + off[hr]) // 24 - d0 + 1
            if day != last_day:  # rows come in time order, more often than not
                day_group = _group_of(day, gslot, gkey, gpings, state)
                last_day = day
            z = zone[i]
            g = -1
            if z >= 0:
                key = (np.int64(z + 1) << 32) | hr
                c = 2 * (z & (ZONE_CACHE - 1))
                if zcache[c] == key:
                    g = zcache[c + 1]
                else:
                    g = _group_of(key, gslot, gkey, gpings, state)
                    zcache[c] = key
                    zcache[c + 1] = g
                gpings[g] += 1
                state[IN_ZONE] += 1
                prefetch(slots, 2 * _pair_slot(np.uint64(g + 1), device[i], state[PAIR_SHIFT]))
            else:
                state[OUTSIDE] += 1
            prefetch(slots, 2 * _pair_slot(np.uint64(day_group + 1), device[i], state[PAIR_SHIFT]))
            visit[m], panel[m], rows[m] = g, day_group, i
            m += 1
        for k in range(m):
            d = device[rows[k]]
            if visit[k] >= 0:
                _add_pair(visit[k], d, slots, listed, state)
            _add_pair(panel[k], d, slots, listed, state)
    return n


@njit(nogil=True, cache=True)
def rehash_pairs(listed, n, slots, shift):  # pragma: no cover - numba
    """Insert the `n` listed pairs into empty `slots`."""
    mask = (len(slots) >> 1) - 1
    for k in range(n):
        device, tag = listed[2 * k], listed[2 * k + 1]
        h = _pair_slot(tag, device, shift)
        while slots[2 * h + 1] != 0:
            h = (h + 1) & mask
        slots[2 * h] = device
        slots[2 * h + 1] = tag


@njit(nogil=True, cache=True)
def rehash_groups(gkey, n, gslot, shift):  # pragma: no cover - numba
    mask = len(gslot) - 1
    for g in range(n):
        h = np.int64((np.uint64(gkey[g]) * _GOLDEN) >> np.uint64(shift))
        while gslot[h] != 0:
            h = (h + 1) & mask
        gslot[h] = g + 1


@njit(nogil=True, cache=True)
def group_runs(gkey, gpings, n, listed, m, h0, d0):  # pragma: no cover - numba
    """Turn the map's tables into a partial's arrays: sorted groups, devices run by run.

    Returns visit keys, passages, pings and devices, then panel days, active devices
    and devices (see :class:`Partial`).
    """
    size = np.zeros(n, np.int64)
    for k in range(m):
        size[listed[2 * k + 1] - 1] += 1
    n_visit = 0
    for g in range(n):
        n_visit += (gkey[g] >> 32) != 0
    vg = np.empty(n_visit, np.int64)
    pg = np.empty(n - n_visit, np.int64)
    visit_key = np.empty(n_visit, np.int64)
    panel_day = np.empty(n - n_visit, np.int64)
    a = b = 0
    for g in range(n):
        key = gkey[g]
        if (key >> 32) != 0:
            vg[a] = g
            visit_key[a] = (((key & LOW32) + h0) << 32) | ((key >> 32) - 1)
            a += 1
        else:
            pg[b] = g
            panel_day[b] = key + d0 - 1
            b += 1
    order = np.argsort(visit_key)
    vg, visit_key = vg[order], visit_key[order]
    order = np.argsort(panel_day)
    pg, panel_day = pg[order], panel_day[order]
    cursor = np.empty(n, np.int64)
    is_visit = np.zeros(n, np.bool_)
    total = 0
    for g in vg:
        cursor[g] = total
        is_visit[g] = True
        total += size[g]
    visit_devices = np.empty(total, np.uint64)
    total = 0
    for g in pg:
        cursor[g] = total
        total += size[g]
    panel_devices = np.empty(total, np.uint64)
    for k in range(m):
        g = listed[2 * k + 1] - 1
        if is_visit[g]:
            visit_devices[cursor[g]] = listed[2 * k]
        else:
            panel_devices[cursor[g]] = listed[2 * k]
        cursor[g] += 1
    return (visit_key, size[vg], gpings[vg], visit_devices,
            panel_day, size[pg], panel_devices)  # fmt: skip


@njit(nogil=True, cache=True)
def union(key, size, extra, start, devices, order, keep):  # pragma: no cover - numba
    """Unite groups of equal key: distinct devices per key, and `extra` summed.

    Group ``g`` has key ``key[g]`` and devices ``devices[start[g] : start[g] + size[g]]``
    (distinct within the group); ``order`` sorts the groups by key. Returns
    ``(key, size, extra, devices, dup_key, dup_group)``: per distinct key, sorted, its
    distinct devices (only if `keep`); then one entry per device found again in a key's
    run (a device of two groups of one key), with its replicate group, so that the
    replicate tables summed over the groups can be corrected (issue 16). A group
    alone with its key is copied; equal keys go through a hash set sized to their run,
    so it stays in cache.
    """
    n = len(order)
    biggest = 0
    i = 0
    while i < n:  # the largest run of equal keys, for the scratch set
        j, run = i + 1, size[order[i]]
        while j < n and key[order[j]] == key[order[i]]:
            run += size[order[j]]
            j += 1
        if j - i > 1 and run > biggest:
            biggest = run
        i = j
    cap = 16
    while cap < 2 * biggest:
        cap <<= 1
    table = np.zeros(cap, np.uint64)
    stamp = np.zeros(cap, np.int64)  # slot in use by the run numbered stamp[slot]
    ukey = np.empty(n, np.int64)
    usize = np.empty(n, np.int64)
    uextra = np.empty(n, np.int64)
    out = np.empty(len(devices) if keep else 0, np.uint64)
    dup_key = np.empty(16, np.int64)
    dup_group = np.empty(16, np.int64)
    n_dup = 0
    u = 0
    m = 0
    i = 0
    while i < n:
        k = key[order[i]]
        j, x, run = i, 0, 0
        while j < n and key[order[j]] == k:
            x += extra[order[j]]
            run += size[order[j]]
            j += 1
        if j - i == 1:
            g = order[i]
            c = size[g]
            if keep:
                out[m : m + c] = devices[start[g] : start[g] + c]
        else:
            bits = 4
            while (1 << bits) < 2 * run:
                bits += 1
            mask = (1 << bits) - 1
            c = 0
            for r in range(i, j):
                g = order[r]
                for q in range(start[g], start[g] + size[g]):
                    d = devices[q]
                    h = np.int64((d * _GOLDEN) >> np.uint64(64 - bits))
                    while stamp[h] == i + 1 and table[h] != d:
                        h = (h + 1) & mask
                    if stamp[h] != i + 1:
                        stamp[h] = i + 1
                        table[h] = d
                        if keep:
                            out[m + c] = d
                        c += 1
                    else:
                        if n_dup == len(dup_key):
                            dup_key = np.concatenate((dup_key, np.empty(n_dup, np.int64)))
                            dup_group = np.concatenate((dup_group, np.empty(n_dup, np.int64)))
                        dup_key[n_dup] = k
                        dup_group[n_dup] = _device_group(d)
                        n_dup += 1
        ukey[u] = k
        usize[u] = c
        uextra[u] = x
        m += c
        u += 1
        i = j
    return ukey[:u], usize[:u], uextra[:u], out[:m], dup_key[:n_dup], dup_group[:n_dup]


class _Spare(threading.local):
    """A thread's map tables, kept from one fragment for the next.

    Fresh memory costs a page fault per 4 KB page when first written (about 1 µs in a
    virtual machine: as much as counting the rows themselves); clearing used tables
    costs a small fraction of that.
    """

    tables: dict[str, np.ndarray] | None = None


_SPARE = _Spare()
#: A thread keeps tables of up to this size for its next fragment.
SPARE_BYTES = 64 << 20


def keep_tables(t: dict[str, np.ndarray]) -> None:
    """Give a fragment's tables back to its thread, for the next fragment (if not too big)."""
    if t["slots"].nbytes <= SPARE_BYTES:
        _SPARE.tables = t


def tables(bits: int) -> dict[str, np.ndarray]:
    """Return empty map tables with room for ``2**(bits - 1)`` pairs.

    They are the thread's spare ones when those are big enough, else new ones.
    """
    spare, _SPARE.tables = _SPARE.tables, None
    if spare is not None and len(spare["slots"]) >= 2 << bits:
        spare["slots"].fill(0)
        spare["gslot"].fill(0)
        spare["zcache"].fill(-1)
        return spare
    return {
        "slots": np.zeros(2 << bits, np.uint64),
        "listed": np.empty(1 << bits, np.uint64),
        "gslot": np.zeros(1 << 14, np.int64),
        "gkey": np.empty(1 << 13, np.int64),
        "gpings": np.empty(1 << 13, np.int64),
        "zcache": np.full(2 * ZONE_CACHE, -1, np.int64),
        "bad": np.empty(0, np.int64),  # the quarantined rows of a batch
    }


# ---------------------------------------------------------------------------------------
# the map's tables for one fragment


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
        self.state = np.zeros(BY_REASON + len(REASONS) + 1, np.int64)
        self.state[GROUP_SHIFT], self.state[PAIR_SHIFT] = shifts
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
        self.state[BAD] = 0
        while True:
            i = tally_rows(reason, pings.device, pings.t, zone, self.off, self.h0, self.d0, i,
                           t["gslot"], t["gkey"], t["gpings"], t["zcache"], t["slots"],
                           t["listed"], t["bad"], self.state)  # fmt: skip
            if i == n:
                break
            self._grow()
        self.rows_read += n
        if self.state[BAD]:
            rows = t["bad"][: self.state[BAD]].copy()
            self.quarantine.append(quarantine_rows(pings, reason, source, row0, rows))

    def _grow(self) -> None:
        """Double whichever table is nearly half full (rehashing it)."""
        state, t = self.state, self.t
        if state[PAIRS] + 2 * ROW_BLOCK > len(t["listed"]) >> 1:
            state[PAIR_SHIFT] -= 1
            t["slots"] = np.zeros(2 * len(t["slots"]), np.uint64)
            rehash_pairs(t["listed"], state[PAIRS], t["slots"], state[PAIR_SHIFT])
            listed = np.empty(2 * len(t["listed"]), np.uint64)
            listed[: 2 * state[PAIRS]] = t["listed"][: 2 * state[PAIRS]]
            t["listed"] = listed
        if state[GROUPS] + 2 * ROW_BLOCK > len(t["gkey"]):
            n = int(state[GROUPS])
            state[GROUP_SHIFT] -= 1
            t["gslot"] = np.zeros(2 * len(t["gslot"]), np.int64)
            rehash_groups(t["gkey"], n, t["gslot"], state[GROUP_SHIFT])
            for name in ("gkey", "gpings"):
                grown = np.empty(2 * len(t[name]), np.int64)
                grown[:n] = t[name][:n]
                t[name] = grown

    def partial(self) -> Partial:
        """Return the exact counts of the rows added, with their device sets (once)."""
        t = self.t
        state = self.state
        arrays = group_runs(t["gkey"], t["gpings"], state[GROUPS], t["listed"], state[PAIRS],
                            self.h0, self.d0)  # fmt: skip
        keep_tables(t)
        self.t = {}
        acc = {
            "rows_read": self.rows_read,
            "rows_in_zone": int(self.state[IN_ZONE]),
            "rows_outside": int(self.state[OUTSIDE]),
            "quarantined": {
                r: int(c) for r, c in zip(REASONS, self.state[BY_REASON + 1 :], strict=True)
            },
        }
        part = Partial(*arrays, acc, Quarantine.concat(self.quarantine))
        if self.spec.replicates:
            replicate_tables(part, self.h0, self.off)
        return part


def replicate_tables(part: Partial, h0: int, off: np.ndarray) -> None:
    """Fill a map partial's replicate tables from its device sets (issue 16).

    Each zone-hour's distinct devices are spread over their device groups and summed
    per zone and local day (`off`: UTC offset in hours of UTC hour ``h0 + i``); each
    day's active devices likewise. A few ns per device of a group, no sort of them.
    """
    g = REPLICATE_GROUPS
    hour = part.visit_key >> 32
    local_day = (hour + off[hour - h0]) // 24
    cells, cell = np.unique((local_day << 32) | (part.visit_key & LOW32), return_inverse=True)
    hist = group_histogram(cell.astype(np.int64), part.visit_passages, part.visit_devices,
                           len(cells))  # fmt: skip
    nz = np.flatnonzero(hist)
    part.rep_visit_key = (cells[nz // g] << 8) | (nz % g)
    part.rep_visit_count = hist[nz]
    n = len(part.panel_day)
    hist = group_histogram(np.arange(n, dtype=np.int64), part.panel_active, part.panel_devices, n)
    nz = np.flatnonzero(hist)
    part.rep_panel_key = (part.panel_day[nz // g] << 8) | (nz % g)
    part.rep_panel_count = hist[nz]
