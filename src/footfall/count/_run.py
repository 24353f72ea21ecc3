"""``count_passages``: resolve the inputs, run an engine's map and reduce, finish the tables.

Like geopandas' ``sjoin`` (checks -> query -> join), the count reads in three steps:
:func:`count_passages` resolves the options, zones and index; an engine
(:mod:`footfall.count.engines`) lists, maps and reduces; :func:`_finish` checks the
accounting, writes the tables and the manifest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa

from footfall.count._checkpoint import _quarantine, remove_checkpoints, run_secret, work_folder
from footfall.count._checks import check_quarantine, check_swapped, coordinate_sample
from footfall.count._map import _dataframe_fragment, map_batch
from footfall.count._output import output_lock, remove_leftovers
from footfall.count._partial import _add_accounting, _new_accounting
from footfall.count._progress import _Progress
from footfall.count._reduce import Reduced, reduce_partials
from footfall.count._spec import CountSpec
from footfall.count.engines import get_engine
from footfall.errors import InputError
from footfall.ingest import DEFAULT_WINDOW, Columns, Quarantine, find_files
from footfall.manifest import HASH, beside, check_accounting, make_manifest
from footfall.tables import write_output_set

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["count_passages", "run_count", "Counted"]


class Counted(NamedTuple):
    """A finished count in arrow: what :func:`run_count` returns (no pandas needed).

    ``hourly``, ``panel`` and ``replicates`` (None without intervals) have the types
    of the files; ``manifest`` is the run manifest. :meth:`frame` is what
    :func:`count_passages` returns.
    """

    hourly: pa.Table
    panel: pa.Table
    replicates: pa.Table | None
    manifest: dict[str, Any]

    def frame(self) -> pd.DataFrame:
        """Return the hourly DataFrame, with ``attrs`` panel, replicates and manifest."""
        from footfall.tables import Replicates, attach_panel

        hourly = attach_panel(self.hourly.to_pandas(split_blocks=True), self.panel.to_pandas())
        if self.replicates is not None:
            hourly.attrs["replicates"] = Replicates.from_table(self.replicates)
        hourly.attrs["manifest"] = self.manifest
        return hourly


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
        Bad options, a missing column, an unreadable file (without `skip_bad_files`),
        inputs without a single valid row, or another count writing `out` now.

    Warns
    -----
    UserWarning
        When more than :data:`~footfall.count._checks.QUARANTINE_WARN_SHARE` of the rows
        are quarantined (with the top reason and a hint), or when almost no ping falls in
        a zone but many would with latitude and longitude exchanged.

    Notes
    -----
    ``passages`` counts distinct devices in a zone-hour: devices are keyed by a
    keyed 64-bit hash with a secret per run (:mod:`footfall._keyed`; ``12345`` and
    ``"12345"`` are one device), so two of ``n`` devices share a key with probability
    about ``n**2 / 2**65``, 3e-8 for a million devices. Exact duplicate rows add pings,
    not passages. Device identifiers are never written; checkpoints hold the keys
    only while a run is unfinished, in a private work folder (0700, files 0600) that
    also holds the run's secret and is deleted when the run succeeds.

    With `out`, the run holds ``<name>.lock`` (an advisory lock that dies with the
    process) and writes every output under a temporary name; the manifest, written last,
    records each output's BLAKE3 hash, and :func:`footfall.read_hourly` checks it.
    """
    counted = run_count(
        pings, zones, tz=tz, out=out, columns=columns, window=window,
        max_accuracy=max_accuracy, engine=engine, client=client, index=index,
        skip_bad_files=skip_bad_files, workers=workers, batch_rows=batch_rows,
        progress=progress, intervals=intervals,
    )  # fmt: skip
    for note in counted.manifest["warnings"]:
        warnings.warn(note, UserWarning, stacklevel=2)
    return counted.frame()


def run_count(
    pings: Any,
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
) -> Counted:
    """Run :func:`count_passages`, giving the tables in arrow (and not warning).

    What the CLI calls: counting files needs neither pandas nor geopandas (with the
    zone and index caches warm), which saves their import at every command's start.
    The manifest's ``warnings`` are the caller's to show.
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
    zone_ids = zones._ids
    zone_doc = {
        "hash": zones.hash,
        "n_zones": len(zones),
        "sources": [str(s) for s in zones.sources],
    }

    frame = _is_frame(pings)
    if frame and engine == "dask":
        raise InputError(
            "engine='dask' reads ping files on the workers; count a DataFrame with "
            "engine='local', or write it to Parquet first"
        )
    files = None if frame else _without_outputs(find_files(pings), out)
    with output_lock(out) if out is not None else contextlib.nullcontext():
        if out is not None:
            remove_leftovers(out)  # of dead runs: we hold the lock
        if files is None:
            return _count_frame(pings, zone_ids, zone_doc, index, spec, out)
        with engine_class(client, workers) as runner:
            return _count_files(
                files, zone_ids, zone_doc, index, spec, runner, out, skip_bad_files,
                batch_rows, progress,
            )  # fmt: skip


def _is_frame(pings: Any) -> bool:
    """Whether `pings` is a pandas DataFrame (without importing pandas for a path)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(pings, pd.DataFrame)


def _count_frame(
    pings: pd.DataFrame,
    zone_ids: list[str],
    zone_doc: dict[str, Any],
    index: Any,
    spec: CountSpec,
    out: str | os.PathLike | None,
) -> Counted:
    """Count a DataFrame in one batch (no work folder: the secret lives in memory only)."""
    spec = dataclasses.replace(spec, secret=secrets.token_bytes(16))
    table = _dataframe_fragment(pings, spec)
    part = map_batch(table, index, spec, source="<DataFrame>")
    reduced = reduce_partials([part], zone_ids, spec.tz, spec.replicates)
    inputs = [{"path": "<DataFrame>", "rows": len(pings)}]
    accounting, skipped, quarantine = part.accounting, [], [part.quarantine]
    return _finish(
        reduced, zone_doc, spec, inputs, accounting, skipped, quarantine, out, "local",
        lambda: coordinate_sample([table], spec.columns), index,
        [("<DataFrame>", spec.columns.resolve(list(pings.columns), "pings DataFrame"))],
    )  # fmt: skip


def _without_outputs(files: list[Any], out: str | os.PathLike | None) -> list[Any]:
    """Drop this count's own output set from its inputs (an output inside an input folder)."""
    if out is None:
        return files
    own = {Path(out).absolute()} | {
        beside(out, kind, ext).absolute()
        for kind, ext in (("panel", "parquet"), ("quarantine", "parquet"), ("lock", ""))
    }
    return [f for f in files if isinstance(f, str) or Path(f).absolute() not in own]


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
) -> Counted:
    """List, map and reduce the input files with an engine (`runner`); write the outputs."""
    engine = runner.name
    fragments, skipped = runner.list_inputs(files, spec, skip_bad_files)
    with work_folder(out, zone_doc["hash"], spec) as wd, _say_where(wd, out):
        # the key of the device pseudonyms: pickled with the spec to any engine's workers
        spec = dataclasses.replace(spec, secret=run_secret(wd))
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
        reduced = runner.reduce(done, zone_ids, spec.tz)
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
        paths = [f for f in fragments if f.path not in bad]
        result = _finish(
            reduced, zone_doc, spec, inputs, accounting, skipped, quarantine, out, engine,
            lambda: coordinate_sample(paths, spec.columns), index,
            [(f.path, f.columns or spec.columns) for f in paths],
        )  # fmt: skip
    remove_checkpoints(out)
    return result


@contextlib.contextmanager
def _say_where(workdir: Path, out: str | os.PathLike | None):
    """On an error, tell where the run's work folder stays and what it holds."""
    try:
        yield
    except BaseException as exc:
        if out is not None and workdir.exists():
            exc.add_note(
                f"(the unfinished run's work folder {workdir.parent} holds pseudonymised "
                f"device data: run the same count again to resume, or "
                f"`footfall count --clean {out}` to remove it)"
            )
        raise


def _finish(
    reduced: Reduced,
    zone_doc: dict[str, Any],
    spec: CountSpec,
    inputs: list[dict[str, Any]],
    accounting: dict[str, Any],
    skipped: list[dict[str, str]],
    quarantine: list[Quarantine],
    out: str | os.PathLike | None,
    engine: str,
    sample: Callable[[], tuple[np.ndarray, np.ndarray]],
    index: Any,
    mapping: list[tuple[str, Columns]],
) -> Counted:
    check_accounting(accounting)
    resolved = mapping[0][1] if mapping else spec.columns
    accounting = {**accounting, "rows_quarantined": sum(accounting["quarantined"].values())}
    notes = [
        note
        for note in (
            check_quarantine(accounting, quarantine, spec),
            check_swapped(accounting, sample, index, resolved),
        )
        if note
    ]
    outputs = None
    if out is not None:
        out = Path(out)
        outputs = {
            "hourly": str(out),
            "panel": str(beside(out, "panel")),
            "quarantine": str(beside(out, "quarantine")),
        }
    # the replicate tables of the intervals, when asked for (issue 16)
    replicates = reduced.replicates if spec.replicates else None
    if replicates is not None and outputs is not None:
        outputs["replicates"] = str(beside(out, "replicates"))
    manifest = make_manifest(
        "count",
        inputs=inputs,
        zones=zone_doc,
        parameters={**spec.params(), "column_mapping": column_mapping(mapping), "engine": engine},
        accounting=accounting,
        outputs=outputs,
        skipped_files=skipped,
        warnings=notes,
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tables = {
            "quarantine": Quarantine.concat(quarantine).table(),
            "panel": reduced.panel,
            "hourly": reduced.hourly,
        }
        if replicates is not None:
            tables["replicates"] = replicates
        write_output_set(out, tables, manifest)
    return Counted(reduced.hourly, reduced.panel, replicates, manifest)


def column_mapping(mapping: Sequence[tuple[str, Columns]]) -> dict[str, Any]:
    """Return the columns read, as the manifest records them (``column_mapping``).

    Returns
    -------
    dict
        ``{"device": ..., "time": ..., "lat": ..., "lon": ..., "accuracy": ...}`` when
        every input resolved to the same names (``accuracy`` None: no such column), else
        ``{"files": {path: {...}, ...}}`` with the names of each input file.
    """
    names = {path: dataclasses.asdict(columns) for path, columns in mapping}
    distinct = {tuple(n.items()) for n in names.values()}
    if len(distinct) == 1:
        return dict(next(iter(distinct)))
    return {"files": names}
