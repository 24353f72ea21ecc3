"""What may leave the tool: small-count suppression and safe cells for CSV and Markdown.

Every writer of a published figure (the palmarès CSV and Markdown, the report in HTML and
Markdown, geographic exports) goes through this module, so that one rule decides what is
shown and one escaping protects spreadsheet and Markdown readers.

The suppression rule
--------------------
The hourly table holds, per zone and local hour, ``passages``: the number of *distinct*
devices seen there in that hour. A figure computed over a window of a zone's hours (mean
monthly passages over the ranking period, a zone-month, a resilience index) rests on the
devices of those hours. Their number is not in the table, but it is bounded from below:
the busiest hour of the window alone saw ``max(passages)`` distinct devices. That bound is
the figure's *device floor*. A figure is published only when its device floor reaches
``min_count``; otherwise it is shown as ``"<min_count"`` in text outputs, or left empty
with ``suppressed = True`` in typed outputs (Parquet, GeoPackage, GeoJSON).

The rule is exact in the direction that matters: a figure computed from fewer than
``min_count`` devices has every hour below ``min_count``, so it is always suppressed. It
may suppress more (many devices that never meet in one hour), never less. A sum of
passages would not do: one device seen in every hour of a month gives 720 passages.
``min_count = 0`` turns suppression off (internal work); the value is recorded in every
manifest.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footfall.errors import InputError

__all__ = [
    "DEFAULT_MIN_COUNT",
    "SUPPRESSION_RULE",
    "check_min_count",
    "device_floor",
    "is_suppressed",
    "suppressed_text",
    "suppress_frame",
    "csv_cell",
    "csv_safe",
    "write_csv",
    "markdown_cell",
]

#: Default suppression threshold (distinct devices), see the module notes and PRIVACY.md.
DEFAULT_MIN_COUNT = 10

#: The rule in one sentence, as recorded in manifests.
SUPPRESSION_RULE = (
    "a figure is published only when the busiest zone-hour of its window saw at least "
    "min_count distinct devices (a lower bound on the devices behind it); otherwise it "
    "is shown as '<min_count' (text) or left empty with suppressed = true (typed outputs)"
)

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def check_min_count(min_count: Any) -> int:
    """Return `min_count` as an int, or raise InputError when it is not a count >= 0."""
    if isinstance(min_count, bool) or not isinstance(min_count, int | np.integer):
        raise InputError(f"min_count was {min_count!r} but must be an integer >= 0")
    if min_count < 0:
        raise InputError(f"min_count was {min_count} but must be at least 0 (0: no suppression)")
    return int(min_count)


def device_floor(
    hourly: pd.DataFrame,
    first: pd.Timestamp | None,
    last: pd.Timestamp | None,
    zone_ids: Iterable[str],
) -> pd.Series:
    """Lower bound on the distinct devices behind each zone's figures over a window of days.

    Parameters
    ----------
    hourly : pandas.DataFrame
        Hourly table (``zone_id``, ``hour`` tz-aware local, ``passages``).
    first, last : Timestamp or None
        Local days, both inclusive (``None``: open end).
    zone_ids : iterable of str
        The zones to report (0 for a zone without rows in the window).

    Returns
    -------
    pandas.Series
        Per zone: the largest ``passages`` of one of its hours in the window (int64).
    """
    hours = hourly["hour"]
    days = hours.dt.tz_localize(None).dt.normalize() if hours.dt.tz is not None else hours
    keep = np.ones(len(hourly), dtype=bool)
    if first is not None:
        keep &= (days >= pd.Timestamp(first)).to_numpy()
    if last is not None:
        keep &= (days <= pd.Timestamp(last)).to_numpy()
    rows = hourly.loc[keep]
    peak = rows.groupby(rows["zone_id"].astype(str))["passages"].max()
    return peak.reindex(pd.Index(list(zone_ids), dtype=object), fill_value=0).astype("int64")


def is_suppressed(floor: pd.Series | np.ndarray | float, min_count: int) -> Any:
    """Flag the device floors below `min_count` (none with ``min_count = 0``)."""
    return np.asarray(floor) < min_count if min_count > 0 else np.zeros(np.shape(floor), bool)


def suppressed_text(min_count: int) -> str:
    """How a suppressed figure reads in text outputs: ``"<10"`` (thousands separated)."""
    return f"<{min_count:,}"


def suppress_frame(
    table: pd.DataFrame,
    suppressed: Iterable[bool],
    columns: Iterable[str],
    min_count: int,
    *,
    typed: bool,
) -> pd.DataFrame:
    """Apply the suppression rule to the figure `columns` of a table about to be written.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per zone.
    suppressed : iterable of bool
        Per row, whether its figures are suppressed.
    columns : iterable of str
        The figure columns.
    min_count : int
        The threshold (for the text).
    typed : bool
        True for typed outputs (Parquet, GeoPackage, GeoJSON): the figures are left
        empty (NaN) and a boolean column ``suppressed`` is added. False for text outputs
        (CSV, Markdown, HTML): the figures of suppressed rows read ``"<min_count"``.

    Returns
    -------
    pandas.DataFrame
        A copy.
    """
    out = table.copy()
    hide = np.asarray(list(suppressed), dtype=bool)
    columns = [c for c in columns if c in out.columns]
    if typed:
        for c in columns:
            out[c] = out[c].astype("float64").mask(hide)
        out["suppressed"] = hide
        return out
    k = suppressed_text(min_count)
    for c in columns:
        out[c] = out[c].astype(object).where(~hide, k)
    return out


def csv_cell(value: Any) -> Any:
    """Escape one cell against formula injection (OWASP CSV injection rule).

    Text starting with ``= + - @``, tab or carriage return gets a leading single
    quote. Numbers are returned unchanged, so ``-3.5`` in a numeric column stays a
    number.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Escape the text cells of a table for CSV (see :func:`csv_cell`); numbers untouched."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
            continue
        out[name] = col.map(csv_cell, na_action="ignore")
    out.columns = [csv_cell(str(c)) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, *, index: bool = False) -> None:
    """Write a table as CSV with every text cell escaped: the one CSV writer of the tool.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : path
    index : bool
        Write the index as the first column.

    Notes
    -----
    Text cells go through :func:`csv_cell`; numbers are written as numbers; missing
    values as empty cells. Rows end in CRLF (RFC 4180), so that Python's :mod:`csv`
    quotes every cell holding a separator, a quote, a line feed or a carriage return
    (pandas' writer leaves a lone carriage return bare, which splits the row in most
    readers).
    """
    safe = csv_safe(frame.reset_index() if index else frame)
    with open(Path(path), "w", newline="", encoding="utf-8") as f:
        # CRLF rows (RFC 4180): the csv module then quotes any cell holding \r or \n.
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(list(safe.columns))
        for row in safe.itertuples(index=False, name=None):
            writer.writerow(["" if _missing(v) else v for v in row])


def _missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and np.isnan(value))
    )


def markdown_cell(value: Any) -> str:
    """Text of a Markdown table cell: ``|`` escaped, line breaks turned into spaces."""
    text = "" if value is None else str(value)
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\r\n", " ")
        .replace("\n", " ")
        .replace("\r", " ")
    )
