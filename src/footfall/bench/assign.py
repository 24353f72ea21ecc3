"""Sections ``assign``, ``h3`` and ``exact``: point-to-zone assignment against peers."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from footfall.bench._common import BenchContext, Row, _best_time, _peak_rss_mb
from footfall.errors import FootfallError
from footfall.index import ZoneIndex
from footfall.zones import ZoneSet

__all__ = ["assignment_section", "h3_section", "exactness_section", "edge_points"]


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
