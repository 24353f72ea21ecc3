"""The count's tables on disk: hourly, panel and quarantine Parquet files (DESIGN §3).

Reading and writing them needs pandas and pyarrow only — no numba — so that ranking,
indicators and reports load fast: :mod:`footfall.count` writes them, every later step
reads them through here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from footfall.errors import InputError
from footfall.manifest import (
    HASH,
    atomic_path,
    beside,
    file_record,
    make_manifest,
    read_manifest,
    write_manifest,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "read_hourly",
    "read_panel",
    "read_replicates",
    "Replicates",
    "write_hourly",
    "attach_panel",
    "arrow_table",
    "write_parquet",
    "write_output_set",
    "verify_output",
]

#: The manifest entry that records each output file of a set: kind -> name, size, hash.
OUTPUT_FILES = "output_files"


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
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source.attrs.get("replicates")
    path = Path(source)
    if not path.name.endswith(".replicates.parquet"):
        path = beside(path, "replicates")
    if not path.exists():
        return None
    verify_output(path, "replicates")
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


def write_output_set(
    out: str | os.PathLike, tables: Mapping[str, pa.Table], manifest: dict[str, Any]
) -> Path:
    """Write a set of tables and its manifest so that a reader sees one run's set or refuses.

    Parameters
    ----------
    out : path
        The main table's path (kind ``"hourly"``); the other kinds go beside it
        (``<name>.<kind>.parquet``), the manifest as ``<name>.manifest.json``.
    tables : mapping
        Kind -> arrow table.
    manifest : dict
        The run manifest; ``output_files`` (kind -> ``name``, ``size``, ``blake3``) is
        added to it.

    Notes
    -----
    Every table is written under a temporary name and hashed; the old manifest is
    removed, the tables renamed into place, and the new manifest written last. A run
    killed anywhere in between leaves tables that no manifest vouches for, which
    :func:`verify_output` (and so every reader) refuses.
    """
    out = Path(out)
    paths = {kind: out if kind == "hourly" else beside(out, kind) for kind in tables}
    tmps = {kind: path.with_name(f".{path.name}.tmp-{os.getpid()}") for kind, path in paths.items()}
    try:
        with ThreadPoolExecutor(len(tables)) as pool:  # pyarrow writes without the GIL
            list(pool.map(lambda kind: pq.write_table(tables[kind], tmps[kind]), tables))
        records = {}
        for kind, tmp in tmps.items():
            rec = file_record(tmp)
            records[kind] = {"name": paths[kind].name, "size": rec["size"], HASH: rec[HASH]}
        manifest[OUTPUT_FILES] = records
        path = beside(out, "manifest", "json")
        path.unlink(missing_ok=True)  # a stale manifest never vouches for a new table
        for kind, tmp in tmps.items():
            os.replace(tmp, paths[kind])
    finally:
        for tmp in tmps.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return write_manifest(path, manifest)


def write_hourly(hourly: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write an hourly table as ``footfall count`` does, for ``footfall rank`` or ``report``.

    The table, its panel (``attrs["panel"]``, when present) and a manifest recording
    their hashes are written as one set (see :func:`write_output_set`); the manifest of
    the count (``attrs["manifest"]``) is kept in it as ``upstream``, with its zones.

    Returns
    -------
    Path
        `path`.
    """
    path = Path(path)
    tables = {"hourly": arrow_table(hourly)}
    if hourly.attrs.get("panel") is not None:
        tables["panel"] = arrow_table(read_panel(hourly))
    upstream = hourly.attrs.get("manifest")
    manifest = make_manifest(
        "write_hourly",
        inputs=[],
        parameters={},
        zones=(upstream or {}).get("zones"),
        outputs={kind: str(path if kind == "hourly" else beside(path, kind)) for kind in tables},
        upstream=upstream,
    )
    write_output_set(path, tables, manifest)
    return path


def verify_output(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Check a table against the manifest of its output set; return the manifest.

    Raises
    ------
    InputError
        When there is no manifest, it does not record `path`, or records another content.
    """
    path = Path(path)
    name = path.name
    suffix = f".{kind}.parquet"
    if kind != "hourly" and name.endswith(suffix):
        mpath = beside(path.with_name(name[: -len(suffix)]), "manifest", "json")
    else:
        mpath = beside(path, "manifest", "json")
    again = "count again (or write the table with footfall.write_hourly)"
    if not mpath.exists():
        raise InputError(
            f"{path}: no manifest beside it ({mpath.name}), so nothing vouches that it is a "
            f"finished count's output (a run killed while writing?); {again}"
        )
    manifest = read_manifest(mpath)
    record = (manifest.get(OUTPUT_FILES) or {}).get(kind)
    if not record or record.get("name") != name:
        raise InputError(f"{path}: its manifest {mpath.name} does not record it; {again}")
    actual = file_record(path)[HASH]
    if actual != record.get(HASH):
        raise InputError(
            f"{path}: its content (blake3 {actual[:12]}) is not the one its manifest "
            f"{mpath.name} records (blake3 {str(record.get(HASH))[:12]}): the files are not "
            f"one run's output set (a run killed while writing?); {again}"
        )
    return manifest


def attach_panel(hourly: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """Attach a panel table to an hourly table, as ``hourly.attrs["panel"]``.

    Notes
    -----
    The panel is kept as plain lists (``{"day": [ISO dates], "active_devices": [ints]}``),
    not as a DataFrame: pandas compares and deep-copies ``attrs`` on concat, merge and
    slicing, and a DataFrame there makes ``pd.concat`` of two slices of one table raise.
    Read it back as a DataFrame with :func:`read_panel`.
    """
    import pandas as pd

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
    import pandas as pd

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
    if not path.exists():
        raise InputError(f"{path}: no such file")
    verify_output(path, "panel")
    table = _read_table(path, ("day", "active_devices"))
    return table.to_pandas(date_as_object=False).astype({"day": "datetime64[ns]"})


def read_hourly(path: str | os.PathLike) -> pd.DataFrame:
    """Read an hourly table written by :func:`footfall.count_passages` (or ``footfall count``).

    The panel table beside it, when present, and the manifest are attached as
    ``attrs["panel"]`` and ``attrs["manifest"]``.

    Raises
    ------
    InputError
        When the file is missing or malformed, or its manifest (``<name>.manifest.json``)
        is missing or records another content (see :func:`verify_output`).
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    manifest = verify_output(path, "hourly")
    df = _read_table(path, ("zone_id", "hour", "passages", "pings")).to_pandas()
    if not isinstance(df["hour"].dtype, pd.DatetimeTZDtype):
        raise InputError(f"{path}: column 'hour' is not a tz-aware timestamp")
    df["hour"] = df["hour"].dt.as_unit("ns")
    if beside(path, "panel").exists():
        attach_panel(df, read_panel(path))
    replicates = read_replicates(path)
    if replicates is not None:
        df.attrs["replicates"] = replicates
    # a table written by write_hourly carries its count's manifest as upstream
    df.attrs["manifest"] = (
        manifest.get("upstream") or manifest if manifest["command"] == "write_hourly" else manifest
    )
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
