"""Section ``dask`` (``footfall bench --section dask``): the local engine against Dask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["dask_section"]


def dask_section(ctx: Any) -> list[dict[str, Any]]:
    """Pings/s from Parquet on disk to the hourly table: local engine, Dask 1 and 2 workers.

    The pings are the benchmark's city mix (``ctx.points`` points) with device ids
    (about 50 pings each) and timestamps over four weeks, in files of at most 1 M rows.
    Each Dask cluster is started and warmed up (numba's cached code loaded in every
    worker) before timing; the rows report the best of ``ctx.repeat`` counts, their
    mismatches against the local engine's hourly table, a worker's peak memory and
    ``pings_per_cpu_s`` (CPU time of the workers, or of this process for the local
    engine), which a loaded machine disturbs less than the wall time.
    """
    import tempfile
    import time

    from distributed import Client

    from footfall.bench._common import _best_time, _peak_rss_mb
    from footfall.count import count_passages
    from footfall.count.engines.dask import local_cluster

    lon, lat = ctx.mixes["city"]
    n = len(lon)
    with tempfile.TemporaryDirectory(prefix="footfall-bench-dask-") as tmp:
        files = _write_bench_pings(lon, lat, Path(tmp), ctx.seed)

        def count(client: Any = None, inputs: list[Path] = files) -> Any:
            engine = "local" if client is None else "dask"
            return count_passages(inputs, ctx.zones, index=ctx.index, engine=engine, client=client)

        ctx.progress(f"dask: local engine on {n:,} pings")
        cpu = time.process_time()
        local_s, local = _best_time(count, ctx.repeat)
        cpu = time.process_time() - cpu
        rows = [_bench_row("local engine", local, local_s, local, local_s, cpu, ctx.repeat)]
        rows[0].update(peak_rss_mb=_peak_rss_mb(), workers=None, scaling_efficiency=None)
        rows[0]["note"] = "count_passages(engine='local'): threads on all cores"
        for workers in (1, 2):
            ctx.progress(f"dask: LocalCluster of {workers} worker(s) on {n:,} pings")
            with local_cluster(workers) as cluster, Client(cluster) as client:
                count(client, files[:1])  # warm-up: each worker loads the compiled code
                cpu = sum(client.run(time.process_time).values())
                seconds, result = _best_time(lambda client=client: count(client), ctx.repeat)
                cpu = sum(client.run(time.process_time).values()) - cpu
                rss = max(client.run(_worker_peak_mb).values())
            name = f"dask {workers} worker" + "s" * (workers > 1)
            rows.append(_bench_row(name, result, seconds, local, local_s, cpu, ctx.repeat))
            rows[-1].update(peak_rss_mb=rss, workers=workers)
    for row in rows[1:]:
        row["scaling_efficiency"] = row["points_per_s"] / (row["workers"] * rows[1]["points_per_s"])
        row["note"] = (
            "count_passages(engine='dask') on a LocalCluster; ours/x: local engine vs Dask; "
            "mismatches: zone-hours unlike the local engine's; RSS: a worker's peak"
        )
    return rows


def _bench_row(
    method: str, result: Any, seconds: float, local: Any, local_s: float, cpu_s: float, runs: int
) -> dict[str, Any]:
    """Describe a count (`result` in `seconds`) as a section row, against the local one."""
    acc = result.attrs["manifest"]["accounting"]
    n = acc["rows_read"]
    joined = result.merge(local, on=["zone_id", "hour"], how="outer", indicator=True)
    differ = (joined["_merge"] != "both") | (joined["passages_x"] != joined["passages_y"])
    return {
        "section": "dask",
        "mix": "city",
        "method": method,
        "points": n,
        "seconds": seconds,
        "points_per_s": n / seconds,
        "ours_vs_method": seconds / local_s,
        "mismatches": int((differ | (joined["pings_x"] != joined["pings_y"])).sum()),
        "inside_share": acc["rows_in_zone"] / acc["rows_read"],
        "pings_per_cpu_s": runs * n / cpu_s,
    }


def _worker_peak_mb() -> float:
    """Peak resident memory of this process, in MB.

    ``getrusage`` would report the parent's peak for a process started by fork + exec,
    as Dask's worker processes are; ``VmHWM`` belongs to this process's own memory.
    """
    from footfall.bench._common import _peak_rss_mb

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return _peak_rss_mb()


def _write_bench_pings(lon: Any, lat: Any, directory: Path, seed: int) -> list[Path]:
    """Write the mix as pings: ~50 per device, over four weeks, files of at most 1 M rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n = len(lon)
    device = rng.integers(0, max(1, n // 50), n)
    t0 = 1_590_969_600  # 2020-06-01 00:00 UTC
    ms = (t0 + rng.integers(0, 28 * 86400, n)) * 1000
    files = []
    for i, part in enumerate(np.array_split(np.arange(n), max(2, -(-n // 1_000_000)))):
        table = pa.table(
            {
                "device_id": device[part],
                "timestamp": pa.array(ms[part], pa.timestamp("ms", tz="UTC")),
                "lat": lat[part],
                "lon": lon[part],
            }
        )
        files.append(directory / f"part-{i:03d}.parquet")
        pq.write_table(table, files[-1])
    return files
