"""Section ``e2e``: pings/s from Parquet on disk to the hourly table, in a fresh process."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from footfall.errors import InputError
from footfall.ingest import find_files
from footfall.tables import read_hourly

__all__ = ["bench_end_to_end", "end_to_end_section"]


_BENCH_CHILD = """
import json, sys, time
import footfall as ff
from footfall.ingest import find_files
zones = ff.read_zones(sys.argv[1])
index = ff.ZoneIndex(zones)
# warm-up on one file: loads numba's cached kernels (~0.15 s once per process)
ff.count_passages(find_files(sys.argv[2])[0], zones, index=index)
start, cpu = time.perf_counter(), time.process_time()
hourly = ff.count_passages(sys.argv[2], zones, index=index, out=sys.argv[3],
                           workers=int(sys.argv[4]) or None)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
acc = hourly.attrs["manifest"]["accounting"]
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "accounting": acc}))
"""


def bench_end_to_end(
    zones: Any,
    pings: str | os.PathLike | None = None,
    *,
    workdir: str | os.PathLike | None = None,
    start: str = "2020-06-01",
    days: int = 7,
    scale: float = 1.0,
    devices: int = 40_000,
    background: float = 1.5,
    workers: int | None = None,
) -> dict[str, Any]:
    """Measure ``count_passages`` from Parquet on disk to the hourly table.

    The count runs in a fresh process, after its zone index is built and a warm-up
    count of the first file (which loads numba's cached kernels), so the peak memory
    is the count's own. Without `pings`, ``days`` days are simulated first and
    the counted passages are checked against the planted ones.

    Parameters
    ----------
    zones : ZoneSet or path
        The zone set.
    pings : path, optional
        Existing ping files; default: simulate them in `workdir`.
    workdir : path, optional
        Where the simulation and outputs go (default: a temporary directory).
    start, days, scale, devices, background : optional
        Simulation size (see :func:`footfall.simulation.simulate`).
    workers : int, optional
        Threads of the count (default: the CPUs).

    Returns
    -------
    dict
        ``rows``, ``bytes`` (input on disk), ``seconds`` (wall), ``pings_per_s``,
        ``cpu_seconds`` (all threads), ``pings_per_cpu_s``, ``peak_rss_mb``,
        ``in_zone_share``, ``workers``, and ``mismatched_zones`` (zones whose
        counted passages differ from the planted ones; None without simulation).

    Notes
    -----
    On a shared machine the wall time depends on the load; ``pings_per_cpu_s`` times
    the cores estimates the throughput of an idle machine.
    """
    import subprocess
    import sys

    from footfall.zones import ZoneSet, read_zones

    zones = zones if isinstance(zones, ZoneSet) else read_zones(zones)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="footfall-bench-"))
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        zone_file = workdir / "zones.geojson"
        zones.gdf.drop(columns="source", errors="ignore").to_file(zone_file, driver="GeoJSON")
        truth = None
        if pings is None:
            from footfall.simulation import simulate

            pings = workdir / "pings"
            end = (pd.Timestamp(start) + pd.Timedelta(days=days - 1)).strftime("%Y-%m-%d")
            sim = simulate(
                zones, start, end, pings, scale=scale, devices=devices, background=background
            )
            truth = sim.truth_zones.set_index("zone_id")["passages"]
        size = sum(os.path.getsize(f) for f in find_files(pings))
        # Let the kernel write the simulated files out first: its writeback would take
        # CPU from the count that is being measured.
        os.sync()
        out = workdir / "hourly.parquet"
        args = [sys.executable, "-c", _BENCH_CHILD, str(zone_file), str(pings), str(out),
                str(workers or 0)]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.PIPE)
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise InputError(f"benchmark count failed (exit status {status})")
        mismatched = None
        if truth is not None:
            counted = read_hourly(out).groupby("zone_id")["passages"].sum()
            mismatched = int((counted.reindex(truth.index, fill_value=0) != truth).sum())
    result = json.loads(stdout)
    acc = result["accounting"]
    return {
        "rows": acc["rows_read"],
        "bytes": size,
        "seconds": result["seconds"],
        "pings_per_s": acc["rows_read"] / result["seconds"],
        "cpu_seconds": result["cpu_seconds"],
        "pings_per_cpu_s": acc["rows_read"] / result["cpu_seconds"],
        "peak_rss_mb": usage.ru_maxrss / 1024,  # kB on Linux
        "in_zone_share": acc["rows_in_zone"] / max(1, acc["rows_read"]),
        "workers": workers or os.cpu_count(),
        "mismatched_zones": mismatched,
    }


#: Simulated mixes of the end-to-end benchmark: background pings per device-day, and
#: about how many rows a day that gives over the real zone set.
_BENCH_MIXES = {"city": (1.5, 160_000), "national": (20.0, 870_000)}


def end_to_end_section(ctx: Any) -> list[dict[str, Any]]:
    """``footfall bench`` section: pings/s from Parquet on disk to the hourly table.

    Two simulated mixes of about ``ctx.points`` pings: *city* (about half the pings
    in a zone) and *national* (about 9 %); ``mismatches`` counts zones whose passages
    differ from the planted ones. Then the comparison as users feel it
    (:mod:`footfall.bench.users`): the CLI in a fresh process against the pyarrow read
    floor and DuckDB spatial, and integer against UUID ids, ``ctx.points`` pings each.
    """
    rows = []
    for mix, (background, per_day) in _BENCH_MIXES.items():
        days = max(1, -(-ctx.points // per_day))
        ctx.progress(f"end-to-end: simulating and counting {days} days ({mix})")
        r = bench_end_to_end(ctx.zones, days=days, background=background)
        rows.append(
            {
                "section": "e2e",
                "mix": mix,
                "method": "footfall count",
                "points": r["rows"],
                "seconds": r["seconds"],
                "points_per_s": r["pings_per_s"],
                "ours_vs_method": None,
                "mismatches": r["mismatched_zones"],
                "inside_share": r["in_zone_share"],
                "peak_rss_mb": r["peak_rss_mb"],
                "note": (
                    "Parquet on disk -> hourly table, in a fresh process; "
                    f"{r['pings_per_cpu_s'] / 1e6:.1f} M pings per CPU-second; mismatches: "
                    "zones whose passages differ from the simulator's planted ones"
                ),
            }
        )
    from footfall.bench.users import users_rows

    rows += users_rows(ctx.zones, ctx.points, repeat=ctx.repeat, progress=ctx.progress)
    return rows
