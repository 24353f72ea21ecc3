"""The count's tables on disk: hourly, panel and quarantine Parquet files (DESIGN §3).

Reading and writing them needs pandas and pyarrow only — no numba — so that ranking,
indicators and reports load fast: :mod:`footfall.count` writes them, every later step
reads them through here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from footfall.errors import InputError
from footfall.manifest import atomic_path, beside, read_manifest

__all__ = ["read_hourly", "read_panel", "attach_panel", "arrow_table", "write_parquet"]


def arrow_table(df: pd.DataFrame) -> pa.Table:
    """Return the columns of an hourly or panel table as arrow (no attrs, no index)."""
    table = pa.table({name: pa.array(df[name]) for name in df.columns})
    if "day" in df.columns:
        return table.set_column(0, "day", table.column("day").cast(pa.date32()))
    return table.set_column(0, "zone_id", table.column("zone_id").cast(pa.string()))


def write_parquet(table: pa.Table, path: str | os.PathLike) -> None:
    """Write `table` to `path` atomically (renamed into place when complete)."""
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
        read), or an hourly table returned by :func:`footfall.count_passages` or
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
    """Read an hourly table written by :func:`footfall.count_passages` (or ``footfall count``).

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
