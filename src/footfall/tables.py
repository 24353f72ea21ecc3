"""The count's tables on disk: hourly, panel and quarantine Parquet files (DESIGN §3).

Reading and writing them needs pandas and pyarrow only — no numba — so that ranking,
indicators and reports load fast: :mod:`footfall.count` writes them, every later step
reads them through here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from footfall.errors import InputError
from footfall.manifest import atomic_path, beside, read_manifest

__all__ = [
    "read_hourly",
    "read_panel",
    "read_replicates",
    "Replicates",
    "attach_panel",
    "arrow_table",
    "write_parquet",
]


@dataclass(frozen=True, eq=False)
class Replicates:
    """The replicate tables behind the 95 % intervals (issue 16).

    Devices are split into `groups` groups by their key (a random split); the count
    gives, beside the exact tables, each group's share of them. Summed over the groups
    they are the exact daily passages and the panel's active devices; resampling the
    groups gives the intervals (:mod:`footfall.intervals`).

    Attributes
    ----------
    visits : pandas.DataFrame
        ``zone_id``, ``day`` (local midnight, naive), ``group`` (int16), ``passages``
        (int64): the passages of the group's devices in the zone that day; zero rows
        left out.
    panel : pandas.DataFrame
        ``day``, ``group``, ``active_devices``: the group's active devices that day.
    groups : int
        Number of device groups.

    Notes
    -----
    Kept in ``hourly.attrs["replicates"]``: it compares by identity and is shared, not
    copied, by pandas' copies of the hourly table (it is never modified).
    """

    visits: pd.DataFrame
    panel: pd.DataFrame
    groups: int

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__

    def __deepcopy__(self, memo: dict[int, Any]) -> Replicates:
        return self

    def __repr__(self) -> str:
        return (
            f"Replicates({self.groups} device groups, {len(self.visits)} zone-day-group "
            f"rows, {len(self.panel)} panel rows)"
        )

    def table(self) -> pa.Table:
        """One arrow table: visit rows, then panel rows (``zone_id`` and ``passages`` null)."""
        v, p = self.visits, self.panel
        n, m = len(v), len(p)
        zone = pa.array(list(v["zone_id"]) + [None] * m, pa.string())
        day = pa.array(np.concatenate([v["day"].to_numpy(), p["day"].to_numpy()]))
        table = pa.table(
            {
                "zone_id": zone,
                "day": day.cast(pa.timestamp("ns")).cast(pa.date32()),
                "group": pa.array(np.concatenate([v["group"], p["group"]]).astype(np.int16)),
                "passages": pa.array(
                    np.concatenate([v["passages"], np.zeros(m, np.int64)]),
                    mask=np.arange(n + m) >= n,
                ),
                "active_devices": pa.array(
                    np.concatenate([np.zeros(n, np.int64), p["active_devices"]]),
                    mask=np.arange(n + m) < n,
                ),
            }
        )
        return table.replace_schema_metadata({"footfall.groups": str(self.groups)})

    @classmethod
    def from_table(cls, table: pa.Table, where: str = "replicates") -> Replicates:
        """Read back :meth:`table` (raises :class:`InputError` when malformed)."""
        meta = table.schema.metadata or {}
        try:
            groups = int(meta[b"footfall.groups"])
        except (KeyError, ValueError) as exc:
            raise InputError(f"{where}: no device group count (footfall.groups)") from exc
        df = table.to_pandas(date_as_object=False)
        df["day"] = df["day"].astype("datetime64[ns]")
        is_panel = df["zone_id"].isna().to_numpy()
        visits = df.loc[~is_panel, ["zone_id", "day", "group", "passages"]]
        panel = df.loc[is_panel, ["day", "group", "active_devices"]]
        visits = visits.astype({"passages": np.int64, "group": np.int16})
        panel = panel.astype({"active_devices": np.int64, "group": np.int16})
        if len(df) and (df["group"].min() < 0 or df["group"].max() >= groups):
            raise InputError(f"{where}: a device group outside 0..{groups - 1}")
        return cls(visits.reset_index(drop=True), panel.reset_index(drop=True), groups)


def read_replicates(source: str | os.PathLike | pd.DataFrame) -> Replicates | None:
    """Read the replicate tables of a count: from disk, or from an hourly table's ``attrs``.

    Parameters
    ----------
    source : path or pandas.DataFrame
        ``<name>.replicates.parquet``, the hourly table's path, or an hourly table.

    Returns
    -------
    Replicates or None
        None when the count skipped them (``--no-intervals``).
    """
    if isinstance(source, pd.DataFrame):
        return source.attrs.get("replicates")
    path = Path(source)
    if not path.name.endswith(".replicates.parquet"):
        path = beside(path, "replicates")
    if not path.exists():
        return None
    columns = ("zone_id", "day", "group", "passages", "active_devices")
    return Replicates.from_table(_read_table(path, columns, keep_metadata=True), str(path))


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
    replicates = read_replicates(path)
    if replicates is not None:
        df.attrs["replicates"] = replicates
    manifest = beside(path, "manifest", "json")
    if manifest.exists():
        df.attrs["manifest"] = read_manifest(manifest)
    return df


def _read_table(path: Path, names: Sequence[str], keep_metadata: bool = False) -> pa.Table:
    try:
        table = pq.read_table(path)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r} (columns: {table.column_names})")
    selected = table.select(list(names))
    return selected.replace_schema_metadata(table.schema.metadata) if keep_metadata else selected
