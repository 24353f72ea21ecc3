"""``count_passages``: resolve the inputs, run an engine's map and reduce, finish the tables.

Like geopandas' ``sjoin`` (checks -> query -> join), the count reads in three steps:
:func:`count_passages` resolves the options, zones and index; an engine
(:mod:`footfall.count.engines`) lists, maps and reduces; :func:`_finish` checks the
accounting, writes the tables and the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from footfall.count._checkpoint import _quarantine, remove_checkpoints, work_folder
from footfall.count._map import _dataframe_fragment, map_batch
from footfall.count._partial import _add_accounting, _new_accounting
from footfall.count._progress import _Progress
from footfall.count._reduce import reduce_partials
from footfall.count._spec import CountSpec
from footfall.count.engines import get_engine
from footfall.errors import InputError
from footfall.ingest import DEFAULT_WINDOW, Columns, Quarantine, find_files, run_secret
from footfall.manifest import HASH, beside, check_accounting, make_manifest
from footfall.manifest import write_manifest as _write_manifest
from footfall.tables import arrow_table, attach_panel, write_parquet

__all__ = ["count_passages"]


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
    intervals: bool = True,
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
        reduce (see :class:`footfall.count.engines.dask.DaskEngine`); same result.
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
    intervals : bool
        Also count the replicate tables of the 95 % intervals (``attrs["replicates"]``,
        ``<name>.replicates.parquet``; see :func:`footfall.read_replicates`); ``False``
        skips them (``--no-intervals``).

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

    engine_class = get_engine(engine)  # fail early on a bad name
    spec = CountSpec(
        Columns.of(columns), tz, tuple(window), max_accuracy, replicates=bool(intervals)
    )
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

    runner = engine_class(client, workers)
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
    with work_folder(out, zone_doc["hash"], spec) as wd:
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
    remove_checkpoints(out)
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
    # the replicate tables of the intervals, when asked for (issue 16)
    replicates = hourly.attrs.pop("replicates", None) if spec.replicates else None
    hourly.attrs.pop("replicates", None)
    if replicates is not None and outputs is not None:
        outputs["replicates"] = str(beside(out, "replicates"))
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
    if replicates is not None:
        hourly.attrs["replicates"] = replicates
    hourly.attrs["manifest"] = manifest
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        writes = [
            (Quarantine.concat(quarantine).table(), outputs["quarantine"]),
            (arrow_table(panel), outputs["panel"]),
            (arrow_table(hourly), out),
        ]
        if replicates is not None:
            writes.append((replicates.table(), outputs["replicates"]))
        with ThreadPoolExecutor(len(writes)) as pool:  # pyarrow writes without the GIL
            list(pool.map(lambda job: write_parquet(*job), writes))
        _write_manifest(beside(out, "manifest", "json"), manifest)
    return hourly
