"""The benchmark behind ``footfall bench``: point-to-zone assignment against peers (DESIGN §6).

One run builds the index over the real zone set, draws the two point mixes from
a fixed seed and runs every *section*. A section is a function of the shared
:class:`BenchContext` returning result rows; add one to :data:`SECTIONS` to
extend the benchmark (an end-to-end or a Dask section, say).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from footfall.dask_engine import bench_section as dask_section
from footfall.errors import FootfallError, InputError
from footfall.hourly import end_to_end_section
from footfall.index import ZoneIndex
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
]

#: Seed of the point mixes (the first day of the 2020 lockdown in France).
SEED = 20200317
#: Mix name -> share of points within 2 km of a zone centre; the rest is uniform
#: over mainland France's bounding box.
MIXES: dict[str, float] = {"city": 0.40, "national": 0.03}
MAINLAND_BOUNDS = (-5.2, 42.3, 8.3, 51.1)  # lon/lat box of mainland France
NEAR_KM = 2.0

Row = dict[str, Any]


def make_points(
    zones: ZoneSet, n: int, near_share: float, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points: ``near_share`` within 2 km of zone centres, the rest over mainland France.

    Parameters
    ----------
    zones : ZoneSet
        Zones whose centres (centroids) attract the near points; each zone
        equally likely.
    n : int
        Number of points.
    near_share : float
        Share of points drawn uniformly in a 2 km disc around a zone centre.
    seed : int
        Seed of the generator; the same seed gives the same points.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        Shuffled, so that near and far points interleave.
    """
    rng = np.random.default_rng(seed)
    n_near = int(round(n * near_share))
    centres = shapely.centroid(zones.gdf.geometry.to_numpy())
    k = rng.integers(0, len(centres), n_near)
    cx, cy = shapely.get_x(centres)[k], shapely.get_y(centres)[k]
    r = NEAR_KM * np.sqrt(rng.random(n_near))
    a = rng.uniform(0.0, 2.0 * np.pi, n_near)
    near_lat = cy + r * np.sin(a) / 111.32
    near_lon = cx + r * np.cos(a) / (111.32 * np.cos(np.radians(cy)))
    x0, y0, x1, y1 = MAINLAND_BOUNDS
    lon = np.concatenate([near_lon, rng.uniform(x0, x1, n - n_near)])
    lat = np.concatenate([near_lat, rng.uniform(y0, y1, n - n_near)])
    order = rng.permutation(n)
    return lon[order], lat[order]


@dataclass
class BenchContext:
    """What the sections share: zones, index, point mixes and run options."""

    zones: ZoneSet
    points: int = 10_000_000
    peer_points: int = 1_000_000
    repeat: int = 3
    seed: int = SEED
    progress: Callable[[str], None] = field(default=lambda message: None)

    @cached_property
    def index(self) -> ZoneIndex:
        """The zone index (its build time is recorded in ``build_seconds``)."""
        return ZoneIndex(self.zones, cache=False)

    @cached_property
    def mixes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Mix name -> (lon, lat), ``points`` points each."""
        return {
            name: make_points(self.zones, self.points, share, self.seed + i)
            for i, (name, share) in enumerate(MIXES.items())
        }


def _best_time(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes there, kB here


def _first_row(point: np.ndarray, zone: np.ndarray, n: int) -> np.ndarray:
    """Turn (point, zone row) pairs into an assignment array; the lowest row wins a tie."""
    out = np.full(n, -1, dtype=np.int32)
    order = np.lexsort((-zone, point))
    out[point[order]] = zone[order]
    return out


def _shapely_covers(zones: ZoneSet, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Assign with shapely ``covers`` through an STRtree, in bounded chunks (the reference)."""
    tree = shapely.STRtree(zones.gdf.geometry.to_numpy())
    out = np.empty(len(lon), dtype=np.int32)
    step = 1_000_000
    for s in range(0, len(lon), step):
        pts = shapely.points(lon[s : s + step], lat[s : s + step])
        p, z = tree.query(pts, predicate="covered_by")
        out[s : s + step] = _first_row(p, z, len(pts))
    return out


def _peer_sjoin(zones: ZoneSet, lon: np.ndarray, lat: np.ndarray) -> Callable[[], np.ndarray]:
    import geopandas as gpd

    right = zones.gdf[["geometry"]]

    def run() -> np.ndarray:
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        joined = gpd.sjoin(pts, right, how="inner", predicate="within")
        return _first_row(joined.index.to_numpy(), joined["index_right"].to_numpy(), len(pts))

    return run


def _peer_strtree(zones: ZoneSet, lon: np.ndarray, lat: np.ndarray) -> Callable[[], np.ndarray]:
    tree = shapely.STRtree(zones.gdf.geometry.to_numpy())

    def run() -> np.ndarray:
        p, z = tree.query(shapely.points(lon, lat), predicate="covered_by")
        return _first_row(p, z, len(lon))

    return run


def _duckdb_connect():
    remedy = "the DuckDB peer needs the bench extra: pip install 'footfall[bench]'"
    try:
        import duckdb
    except ImportError as exc:
        raise FootfallError(f"{remedy} ({exc})") from exc
    con = duckdb.connect()
    # The spatial extension ships in the duckdb-ext-spatial wheel: no download.
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is not None and spec.submodule_search_locations:
        ext_dir = Path(list(spec.submodule_search_locations)[0]) / "extensions"
        con.execute(f"SET extension_directory = '{ext_dir.as_posix()}'")
    try:
        con.execute("LOAD spatial")
    except duckdb.Error as exc:
        raise FootfallError(f"{remedy} ({exc})") from exc
    return con


def _peer_duckdb(zones: ZoneSet, lon: np.ndarray, lat: np.ndarray) -> Callable[[], np.ndarray]:
    con = _duckdb_connect()
    zone_table = pd.DataFrame(
        {"row": np.arange(len(zones), dtype=np.int32), "wkb": zones.gdf.geometry.to_wkb()}
    )
    con.register("zone_wkb", zone_table)
    con.execute("CREATE TABLE zones AS SELECT row, ST_GeomFromWKB(wkb) AS geom FROM zone_wkb")
    con.register(
        "pts", pd.DataFrame({"i": np.arange(len(lon), dtype=np.int64), "lon": lon, "lat": lat})
    )

    def run() -> np.ndarray:
        pairs = con.execute(
            "SELECT p.i, z.row FROM pts p JOIN zones z "
            "ON ST_Contains(z.geom, ST_Point(p.lon, p.lat))"
        ).fetchnumpy()
        return _first_row(pairs["i"].astype(np.int64), pairs["row"].astype(np.int32), len(lon))

    return run


def _peer_h3(
    zones: ZoneSet, lon: np.ndarray, lat: np.ndarray, index: ZoneIndex
) -> Callable[[], np.ndarray]:
    import h3

    cover = index.cells
    interior = cover[cover["interior"]]
    lookup = pd.Series(
        interior["zone"].to_numpy(), index=interior["cell"].astype(np.int64).to_numpy()
    )
    boundary = pd.Index(cover.loc[~cover["interior"], "cell"].astype(np.int64).unique())
    tree = shapely.STRtree(zones.gdf.geometry.to_numpy())
    res = index.resolution

    def run() -> np.ndarray:
        cells = np.fromiter(
            (h3.str_to_int(h3.latlng_to_cell(y, x, res)) for x, y in zip(lon, lat, strict=True)),
            dtype=np.int64,
            count=len(lon),
        )
        out = lookup.reindex(cells).fillna(-1).to_numpy(dtype=np.int32)
        # points of boundary cells: exact test against the zones (shapely)
        edge = np.flatnonzero(boundary.get_indexer(cells) >= 0)
        p, z = tree.query(shapely.points(lon[edge], lat[edge]), predicate="covered_by")
        out[edge] = _first_row(p, z, len(edge))
        return out

    return run


_PEERS: dict[str, str] = {
    "geopandas sjoin": "points_from_xy + sjoin(predicate='within')",
    "shapely STRtree": "shapely.points + STRtree.query(predicate='covered_by')",
    "DuckDB spatial": "ST_Contains join, ST_Point built in the query",
    "h3 vectorised": "h3-py latlng_to_cell per point + cover lookup, shapely on boundary cells",
}


def assignment_section(ctx: BenchContext) -> list[Row]:
    """Points/s of ZoneIndex.assign and of each peer, per mix, with agreement checks.

    The methods run in rounds (ours, then each peer, ``repeat`` times) and the
    best time of each counts, so that a change in the machine's load during the
    run hits ours and the peers alike.
    """
    rows: list[Row] = []
    index = ctx.index
    for mix, (lon, lat) in ctx.mixes.items():
        m = min(ctx.peer_points, len(lon))
        plon, plat = lon[:m], lat[:m]
        ctx.progress(f"{mix}: preparing the peers on {m:,} points")
        methods = {
            "footfall ZoneIndex": lambda lon=lon, lat=lat: index.assign(lon, lat),
            "geopandas sjoin": _peer_sjoin(ctx.zones, plon, plat),
            "shapely STRtree": _peer_strtree(ctx.zones, plon, plat),
            "DuckDB spatial": _peer_duckdb(ctx.zones, plon, plat),
            "h3 vectorised": _peer_h3(ctx.zones, plon, plat, index=index),
        }
        index.assign(lon[:1000], lat[:1000])  # compiled code loaded before timing
        best = dict.fromkeys(methods, float("inf"))
        results: dict[str, np.ndarray] = {}
        for round_ in range(max(1, ctx.repeat)):
            for method, run in methods.items():
                ctx.progress(f"{mix}: {method}, round {round_ + 1}")
                seconds, results[method] = _best_time(run, 1)
                best[method] = min(best[method], seconds)
        ctx.progress(f"{mix}: reference shapely covers on all {len(lon):,} points")
        ours = results["footfall ZoneIndex"]
        reference = _shapely_covers(ctx.zones, lon, lat)
        ours_rate = len(lon) / best["footfall ZoneIndex"]
        for method, seconds in best.items():
            n = len(lon) if method == "footfall ZoneIndex" else m
            if method == "footfall ZoneIndex":
                mismatches = np.count_nonzero(ours != reference)
                note = "mismatches: against shapely covers on every point"
            else:
                mismatches = np.count_nonzero(results[method] != ours[:m])
                subsample = f"; on the first {m:,} points" if m < len(lon) else ""
                note = f"{_PEERS[method]}{subsample}; mismatches: against ZoneIndex"
            rows.append(
                {
                    "section": "assign",
                    "mix": mix,
                    "method": method,
                    "points": n,
                    "seconds": seconds,
                    "points_per_s": n / seconds,
                    "ours_vs_method": ours_rate / (n / seconds),
                    "mismatches": int(mismatches),
                    "inside_share": float(np.mean(results[method] >= 0)),
                    "peak_rss_mb": _peak_rss_mb(),
                    "note": note,
                }
            )
    return rows


def h3_section(ctx: BenchContext) -> list[Row]:
    """Compare the numba H3 encoder with h3-py, cell for cell, on points worldwide.

    At the index resolution and two on either side, the coarsest and the
    finest; at most 2 M points per resolution (h3-py runs at ~1 M points/s).
    """
    import h3

    from footfall.index._h3 import latlng_to_cells

    n = min(ctx.points, 2_000_000)
    rng = np.random.default_rng(ctx.seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lng = rng.uniform(-180.0, 180.0, n)
    latlng_to_cells(lat[:10], lng[:10], 0)  # compiled code loaded before timing
    rows = []
    res0 = ctx.index.resolution
    for res in sorted({0, *range(max(res0 - 2, 0), min(res0 + 3, 16)), 15}):
        ctx.progress(f"h3: resolution {res} on {n:,} points worldwide")
        ours_s, ours = _best_time(lambda res=res: latlng_to_cells(lat, lng, res), ctx.repeat)
        start = time.perf_counter()
        pairs = zip(lat.tolist(), lng.tolist(), strict=True)
        ref = np.fromiter(
            (h3.str_to_int(h3.latlng_to_cell(a, b, res)) for a, b in pairs), np.int64, n
        )
        ref_s = time.perf_counter() - start
        rows.append(
            {
                "section": "h3",
                "mix": "world",
                "method": f"latlng_to_cell r{res}",
                "points": n,
                "seconds": ours_s,
                "points_per_s": n / ours_s,
                "ours_vs_method": (n / ours_s) / (n / ref_s),
                "mismatches": int(np.count_nonzero(ours != ref)),
                "inside_share": None,
                "peak_rss_mb": _peak_rss_mb(),
                "note": "numba port vs h3-py latlng_to_cell (ours/x: speed-up); "
                "mismatches: cells that differ",
            }
        )
    return rows


def edge_points(zones: ZoneSet, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Points ``offset`` degrees off the midpoint of every zone edge, along its normal.

    Exterior rings run counter-clockwise in the zone files, so a positive offset
    lies inside (left of the edge), a negative one outside; holes the other way.
    """
    rings = shapely.get_rings(shapely.get_parts(zones.gdf.geometry.to_numpy()))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]  # consecutive vertices of one ring: an edge
    a, b = xy[:-1][same], xy[1:][same]
    normal = np.stack([-(b - a)[:, 1], (b - a)[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    p = (a + b) / 2 + offset * normal
    return p[:, 0], p[:, 1]


def exactness_section(ctx: BenchContext) -> list[Row]:
    """Every zone vertex in its zone; points 1e-9 deg off every edge as shapely says."""
    index = ctx.index
    xy, row = shapely.get_coordinates(ctx.zones.gdf.geometry.to_numpy(), return_index=True)
    checks = {"zone vertices": (xy[:, 0], xy[:, 1], row.astype(np.int32))}
    for offset in (1e-9, -1e-9):
        lon, lat = edge_points(ctx.zones, offset)
        checks[f"edges {offset:+.0e} deg"] = (lon, lat, _shapely_covers(ctx.zones, lon, lat))
    rows = []
    for method, (lon, lat, want) in checks.items():
        ctx.progress(f"exact: {method}")
        seconds, got = _best_time(lambda lon=lon, lat=lat: index.assign(lon, lat), 1)
        rows.append(
            {
                "section": "exact",
                "mix": "edges",
                "method": method,
                "points": len(lon),
                "seconds": seconds,
                "points_per_s": len(lon) / seconds,
                "ours_vs_method": None,
                "mismatches": int(np.count_nonzero(got != want)),
                "inside_share": float(np.mean(got >= 0)),
                "peak_rss_mb": _peak_rss_mb(),
                "note": "vertices: against their own zone; edges: against shapely covers",
            }
        )
    return rows


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
