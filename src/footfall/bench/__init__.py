"""The benchmark behind ``footfall bench``: point-to-zone assignment against peers (DESIGN §6).

One run builds the index over the real zone set, draws the two point mixes from
a fixed seed and runs every *section*. A section is a function of the shared
:class:`BenchContext` returning result rows; add one to :data:`SECTIONS` to
extend the benchmark. The sections live in ``assign`` (assign, h3, exact), ``e2e``
(Parquet on disk to the hourly table) and ``dask`` (the Dask engine); ``_common``
holds the mixes, the context and the timing helpers. Only the CLI's ``bench`` command
and ``benchmarks/`` import this package: the library never does.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from footfall.bench._common import (
    MIXES,
    SEED,
    BenchContext,
    Row,
    _peak_rss_mb,
    make_points,
)
from footfall.bench.assign import (
    assignment_section,
    edge_points,
    exactness_section,
    h3_section,
)
from footfall.bench.dask import dask_section
from footfall.bench.e2e import bench_end_to_end, end_to_end_section
from footfall.errors import InputError
from footfall.zones import ZoneSet, read_zones

__all__ = [
    "SEED",
    "MIXES",
    "BenchContext",
    "SECTIONS",
    "make_points",
    "assignment_section",
    "h3_section",
    "exactness_section",
    "edge_points",
    "run_bench",
    "format_report",
    "bench_end_to_end",
    "end_to_end_section",
    "dask_section",
]


#: Section name -> function of the context returning rows; run in this order.
SECTIONS: dict[str, Callable[[BenchContext], list[Row]]] = {
    "assign": assignment_section,
    "h3": h3_section,
    "exact": exactness_section,
    "dask": dask_section,
    "e2e": end_to_end_section,
}


def _machine() -> dict[str, Any]:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gb = float("nan")
    return {
        "cpu": model,
        "cores": cores,
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_bench(
    zones: str | Path | ZoneSet = "zones/",
    points: int = 10_000_000,
    peer_points: int = 1_000_000,
    repeat: int = 3,
    seed: int = SEED,
    sections: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark; return machine, index figures and result rows.

    Parameters
    ----------
    zones : path or ZoneSet
        The zone set (the real one for published numbers).
    points : int
        Points per mix (10 M by default).
    peer_points : int
        At most this many points for the (slow) peers; points/s stay comparable.
    repeat : int
        Each method runs this many times; the best time counts.
    seed : int
        Seed of the point mixes.
    sections : list of str, optional
        Names from :data:`SECTIONS` to run (default: all).
    progress : callable, optional
        Receives a line before each step.

    Returns
    -------
    dict
        ``machine``, ``index`` (resolution, build seconds, MB, cells), ``rows``
        (one per section/mix/method) and ``peak_rss_mb``.
    """
    if points < 1 or peer_points < 1:
        raise InputError(f"points and peer points must be positive, got {points} and {peer_points}")
    chosen = list(SECTIONS) if sections is None else sections
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise InputError(f"unknown benchmark section(s) {unknown}; expected in {list(SECTIONS)}")
    zone_set = zones if isinstance(zones, ZoneSet) else read_zones(zones)
    ctx = BenchContext(
        zone_set, points, peer_points, repeat, seed, progress or (lambda message: None)
    )
    ctx.progress(f"building the index over {len(zone_set)} zones")
    index = ctx.index
    rows = [row for name in chosen for row in SECTIONS[name](ctx)]
    cover = index.cells
    return {
        "machine": _machine(),
        "zones": len(zone_set),
        "zones_hash": zone_set.hash,
        "points_per_mix": points,
        "seed": seed,
        "index": {
            "resolution": index.resolution,
            "build_seconds": index.build_seconds,
            "megabytes": index.nbytes / 1e6,
            "interior_cells": int(cover["interior"].sum()),
            "boundary_cells": int(cover.loc[~cover["interior"], "cell"].nunique()),
        },
        "rows": rows,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.2%}"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}x"


def format_report(result: dict[str, Any]) -> str:
    """Render a :func:`run_bench` result as a plain-text table."""
    m, ix = result["machine"], result["index"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}",
        f"zones: {result['zones']} (hash {result['zones_hash'][:12]}), "
        f"{result['points_per_mix']:,} points per mix, seed {result['seed']}",
        f"index: H3 resolution {ix['resolution']}, {ix['interior_cells']:,} interior + "
        f"{ix['boundary_cells']:,} boundary cells, built in {ix['build_seconds']:.2f} s, "
        f"{ix['megabytes']:.1f} MB",
        "",
        f"{'section':<8} {'mix':<9} {'method':<19} {'points':>11} {'M pts/s':>9} "
        f"{'ours/x':>8} {'mismatch':>8} {'inside':>7} {'RSS MB':>7}",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['section']:<8} {r['mix']:<9} {r['method']:<19} {r['points']:>11,} "
            f"{r['points_per_s'] / 1e6:>9.2f} {_ratio(r['ours_vs_method']):>8} "
            f"{r['mismatches']:>8} {_share(r['inside_share']):>7} {r['peak_rss_mb']:>7.0f}"
        )
    # one line per distinct note, labelled by the method, or by the section it spans
    methods: dict[str, list[str]] = {}
    for r in result["rows"]:
        methods.setdefault(r["note"], []).append(r["method"])
    sections = {r["note"]: r["section"] for r in result["rows"]}
    notes = [f"{m[0] if len(set(m)) == 1 else sections[n]}: {n}" for n, m in methods.items()]
    lines += ["", *notes, f"peak RSS: {result['peak_rss_mb']:.0f} MB"]
    return "\n".join(lines)
