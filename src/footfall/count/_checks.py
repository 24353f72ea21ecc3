"""Checks of a finished count that warn, or refuse, before its outputs are written.

- No valid row at all (everything quarantined, or no row read): :class:`InputError`.
- More than :data:`QUARANTINE_WARN_SHARE` of the rows quarantined: one line with the top
  reason and a hint (for timestamps, the unit the values look like).
- Almost no ping in a zone although many would be with latitude and longitude
  exchanged: one line naming the options that fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from footfall.count._spec import CountSpec
from footfall.errors import InputError
from footfall.ingest import NO_TIME, REASONS, Columns, Fragment, Quarantine, iter_batches

__all__ = ["QUARANTINE_WARN_SHARE", "check_quarantine", "check_swapped", "coordinate_sample"]

#: Above this share of quarantined rows, the count says so (and why).
QUARANTINE_WARN_SHARE = 0.5
#: Below this share of valid rows in a zone, the count tries the coordinates swapped.
_IN_ZONE_NEAR_ZERO = 0.001
_SAMPLE_ROWS = 20_000

_HINTS = {
    "null_device": "is --device-col (columns=) the device id column?",
    "null_timestamp": "is --time-col (columns=) the time column?",
    "bad_timestamp": "timestamps must be epoch seconds or milliseconds, or ISO 8601 times",
    "nan_coordinates": "are --lat-col/--lon-col (columns=) the coordinate columns?",
    "out_of_range": "are --lat-col/--lon-col (columns=) degrees, and not exchanged?",
    "null_island": "lat 0, lon 0 is a placeholder of a missing position",
}


def _timestamp_hint(quarantine: list[Quarantine], spec: CountSpec) -> str:
    code = REASONS.index("implausible_timestamp") + 1
    values = [q.timestamp[(q.reason == code) & (q.timestamp != NO_TIME)] for q in quarantine]
    values = np.concatenate(values) if values else np.empty(0, np.int64)
    lo, hi = spec.seconds
    hint = f"outside the window --since {spec.window[0]} --until {spec.window[1]}"
    if not len(values):
        return hint
    median = int(np.median(values))
    units = {1_000: "microseconds", 1_000_000: "nanoseconds"}
    for factor, unit in units.items():
        if lo <= median // factor < hi:
            return (
                f"the values look like epoch {unit} (read as milliseconds they fall in "
                f"{_year(median)}): convert them to seconds or milliseconds"
            )
    if lo <= median * 1000 < hi:
        return f"the values look like epoch seconds / 1000 (they fall in {_year(median)})"
    return f"{hint} (median {_year(median)})"


def _year(seconds: int) -> str:
    years = 1970 + seconds / (365.2425 * 86400)
    return f"the year {years:.0f}" if -1e6 < years < 1e6 else f"the year {years:.2g}"


def check_quarantine(
    accounting: dict[str, Any], quarantine: list[Quarantine], spec: CountSpec
) -> str | None:
    """Refuse a count without a valid row; return a warning when most rows are quarantined.

    Raises
    ------
    InputError
        When no row was read, or every row was quarantined.
    """
    read, bad = accounting["rows_read"], accounting["rows_quarantined"]
    if read == 0:
        raise InputError("the inputs hold no row: nothing to count (empty files?)")
    if bad * 1.0 <= QUARANTINE_WARN_SHARE * read:
        return None
    top, n = max(accounting["quarantined"].items(), key=lambda kv: kv[1])
    hint = _timestamp_hint(quarantine, spec) if top == "implausible_timestamp" else _HINTS.get(top)
    what = "every row" if bad == read else f"{bad / read:.0%} of the rows"
    line = f"{what} ({bad:,} of {read:,}) quarantined, mostly {top} ({n:,})" + (
        f": {hint}" if hint else ""
    )
    if bad == read:
        raise InputError(f"no valid row to count: {line}")
    return line


def coordinate_sample(
    sources: Iterable[Fragment | pa.Table], columns: Columns, rows: int = _SAMPLE_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """Up to `rows` (lat, lon) pairs from the first inputs, as float64 (NaN: unparseable)."""
    import pandas as pd  # to_numeric: garbled text as NaN, as the count reads it

    lats, lons, n = [], [], 0
    for source in sources:
        if n >= rows:
            break
        if isinstance(source, pa.Table):
            batches = [source.slice(0, rows - n)]
            names = columns.resolve(source.column_names)
        else:
            batches = (b for _, b in iter_batches(source, columns, batch_rows=rows - n))
            names = source.columns or columns  # resolved on the file's header
        for batch in batches:
            lat, lon = (
                pd.to_numeric(batch.column(c).to_pandas(), errors="coerce").to_numpy(np.float64)
                for c in (names.lat, names.lon)
            )
            lats.append(lat[: rows - n])
            lons.append(lon[: rows - n])
            n += len(lats[-1])
            break  # the first batch of each input is enough
    if not lats:
        return np.empty(0), np.empty(0)
    return np.concatenate(lats), np.concatenate(lons)


def check_swapped(
    accounting: dict[str, Any],
    sample: Callable[[], tuple[np.ndarray, np.ndarray]],
    index: Any,
    columns: Columns,
) -> str | None:
    """Warn when almost no ping is in a zone but many are with lat and lon exchanged."""
    valid = accounting["rows_in_zone"] + accounting["rows_outside"]
    if not valid or accounting["rows_in_zone"] > _IN_ZONE_NEAR_ZERO * valid:
        return None
    lat, lon = sample()
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 90)
    lat, lon = lat[ok], lon[ok]
    if not len(lat):
        return None
    straight = int((np.asarray(index.assign(lon, lat)) >= 0).sum())
    swapped = int((np.asarray(index.assign(lat, lon)) >= 0).sum())
    if swapped < max(0.01 * len(lat), 10 * straight, 1):
        return None
    return (
        f"{accounting['rows_in_zone']:,} of {valid:,} valid pings fall in a zone, but "
        f"{swapped / len(lat):.0%} of a sample would with latitude and longitude exchanged: "
        f"are the columns swapped? name them with --lat-col {columns.lon} --lon-col "
        f"{columns.lat} (Python: columns={{'lat': {columns.lon!r}, 'lon': {columns.lat!r}}})"
    )
