"""Build the arrays of a ZoneIndex: polygon parts, H3 cover, R-tree candidates, prefilter grid."""

from __future__ import annotations

import math

import geopandas as gpd
import h3
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import rtree
import shapely
from numba import njit

from footfall.errors import IndexBuildError
from footfall.index._kernel import FINE_PER_DEG, TILE, fill_hash
from footfall.zones.validate import MAX_EXTENT_KM, extent_km, extent_problem, find_overlaps

__all__ = [
    "MARGIN_DEG",
    "check_zones",
    "INDEX_MEMORY_BYTES",
    "memory_budget",
    "grid_bytes",
    "choose_resolution",
    "polygon_parts",
    "h3_cover",
    "boundary_candidates",
    "strip_edges",
    "build_hash",
    "build_grid",
    "cover_frame",
]

#: Safety margin (degrees, ~1 cm) between the exact geometry and what the cover
#: and the grid treat as inside/outside. It absorbs the difference between the
#: H3 cell edges (great-circle arcs) and straight lon/lat segments (< 1e-9 deg at
#: the resolutions used) and any rounding, so that the cover never misclassifies.
MARGIN_DEG = 1e-7
#: Zones whose inside cells one prefilter tile can hold (a tile is 1/32 deg square).
MAX_TILE_ZONES = 255
#: The automatic resolution gives the median zone about this many cells.
_CELLS_PER_ZONE = 300
#: Most memory an index build may take (bytes); less when the machine has less free:
#: see :func:`memory_budget`. A town-centre zone set needs a few hundred MB at most.
INDEX_MEMORY_BYTES = 1 << 30
#: Peak bytes per fine grid cell of a zone's bounding box during build_grid (measured:
#: 180 B on 0.1-0.2 degree boxes; 200 with a margin).
_GRID_CELL_BYTES = 200
#: Peak bytes per H3 cell of the cover (cell ids, their union and sort).
_H3_CELL_BYTES = 100


def memory_budget() -> int:
    """Bytes an index build may take: INDEX_MEMORY_BYTES, at most half the available memory."""
    budget = INDEX_MEMORY_BYTES
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    budget = min(budget, int(line.split()[1]) * 1024 // 2)
                    break
    except OSError:  # not Linux: the fixed budget alone
        pass
    return budget


def grid_bytes(bounds: np.ndarray) -> np.ndarray:
    """Estimated peak bytes of the prefilter grid of each box (xmin, ymin, xmax, ymax rows)."""
    bounds = np.atleast_2d(np.asarray(bounds, dtype=np.float64))
    cells = ((bounds[:, 2] - bounds[:, 0]) * FINE_PER_DEG + 3) * (
        (bounds[:, 3] - bounds[:, 1]) * FINE_PER_DEG + 3
    )
    return cells * _GRID_CELL_BYTES


def _gb(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**27 else f"{n / 2**20:,.0f} MiB"


def check_zones(gdf: gpd.GeoDataFrame) -> None:
    """Refuse zone sets that cannot be indexed exactly, naming the zone and the reason.

    Besides empty, invalid and out-of-range geometries: rings that cross the antimeridian
    unsplit and polar caps (see :func:`footfall.zones.validate.extent_problem`), and zone
    sets whose prefilter grid would need more than :func:`memory_budget`, estimated from
    each zone's bounding box before anything is allocated.
    """
    ids = gdf["zone_id"].astype(str).to_numpy() if "zone_id" in gdf else gdf.index.astype(str)
    geoms = gdf.geometry.to_numpy()
    for zid, geom in zip(ids, geoms, strict=True):
        if geom is None or geom.is_empty:
            raise IndexBuildError(f"zone {zid}: empty geometry")
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise IndexBuildError(f"zone {zid}: geometry is a {geom.geom_type}, not a polygon")
        xmin, ymin, xmax, ymax = geom.bounds
        if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
            raise IndexBuildError(
                f"zone {zid}: coordinates outside lon/lat range {geom.bounds}: zones are "
                "WGS84 lon/lat; give projected ones as a GeoDataFrame or GeoSeries with "
                "their CRS, which is reprojected"
            )
        # Before validity: a ring around a pole is also self-intersecting in lon/lat.
        problem = extent_problem(geom)
        if problem is not None and problem[0] != "extent":
            raise IndexBuildError(f"zone {zid}: {problem[1]}")
        if not shapely.is_valid(geom):
            raise IndexBuildError(f"zone {zid}: invalid geometry ({shapely.is_valid_reason(geom)})")
    _check_memory(ids, geoms)
    overlaps = find_overlaps(gdf)
    if overlaps:
        shown = "; ".join(f"{a} and {b} ({area:.3g} m²)" for a, b, area in overlaps[:5])
        more = f" and {len(overlaps) - 5} more" if len(overlaps) > 5 else ""
        raise IndexBuildError(f"zones overlap, each point must have one zone: {shown}{more}")


def _check_memory(ids: np.ndarray, geoms: np.ndarray) -> None:
    """Refuse, before allocating, a zone set whose grid would exceed the memory budget."""
    if len(geoms) == 0:
        return
    parts, part_zone = shapely.get_parts(geoms, return_index=True)
    need = grid_bytes(shapely.bounds(parts))
    budget = memory_budget()
    if need.sum() <= budget:
        return
    per_zone = np.bincount(part_zone, weights=need, minlength=len(geoms))
    worst = int(np.argmax(per_zone))
    width, height = extent_km(shapely.bounds(geoms[worst]))
    raise IndexBuildError(
        f"zone {ids[worst]}: indexing the zone set needs about {_gb(need.sum())} "
        f"({_gb(per_zone[worst])} for this zone, bounding box {width:,.0f} km × {height:,.0f} "
        f"km), above the index memory budget of {_gb(budget)} (1 GiB, at most half the "
        f"available memory); zones are bounded at {MAX_EXTENT_KM:g} km a side: check its "
        "coordinates or split it"
    )


def choose_resolution(gdf: gpd.GeoDataFrame) -> int:
    """Pick the coarsest H3 resolution giving the median zone about 300 cells (5..13)."""
    geoms = gdf.geometry.to_numpy()
    if len(geoms) == 0:
        return 11
    box = shapely.bounds(geoms)
    # area in m² from deg² (small zones: a local equirectangular scale is enough)
    m2 = shapely.area(geoms) * 111_320.0**2 * np.cos(np.radians((box[:, 1] + box[:, 3]) / 2))
    target = float(np.median(m2)) / _CELLS_PER_ZONE
    for res in range(5, 14):
        if h3.average_hexagon_area(res, "m^2") <= target:
            return res
    return 13


def polygon_parts(geoms: np.ndarray) -> dict[str, np.ndarray]:
    """Flatten (Multi)Polygons into parts, rings and vertex arrays for the kernels."""
    parts, part_zone = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    part_rings = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(ring_part, minlength=len(parts)), out=part_rings[1:])
    ring_starts = np.zeros(len(rings) + 1, dtype=np.int64)
    np.cumsum(np.bincount(vertex_ring, minlength=len(rings)), out=ring_starts[1:])
    return {
        "parts": parts,
        "part_zone": part_zone.astype(np.int32),
        "part_box": shapely.bounds(parts).astype(np.float64),
        "part_rings": part_rings,
        "ring_starts": ring_starts,
        "xs": np.ascontiguousarray(coords[:, 0], dtype=np.float64),
        "ys": np.ascontiguousarray(coords[:, 1], dtype=np.float64),
    }


def _cells(geom: shapely.Geometry, res: int, contain: str) -> np.ndarray:
    if geom.is_empty:
        return np.empty(0, dtype=np.int64)
    shape = h3.geo_to_h3shape(shapely.geometry.mapping(geom))
    return h3n.h3shape_to_cells_experimental(shape, res, contain).astype(np.int64)


def h3_cover(
    parts: np.ndarray, part_zone: np.ndarray, res: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interior cells with their zone rows, and boundary cells, of the polygon parts.

    A cell is interior when it lies wholly inside a part shrunk by MARGIN_DEG,
    a boundary cell when it meets a part grown by MARGIN_DEG and is not interior.
    Any point of a cell outside both sets is outside every zone.

    Raises
    ------
    IndexBuildError
        When the cover would need more than :func:`memory_budget` (estimated from the
        parts' areas before any cell is made): choose a coarser resolution.
    """
    if len(parts):
        box = shapely.bounds(parts)
        m2 = shapely.area(parts) * 111_320.0**2 * np.cos(np.radians((box[:, 1] + box[:, 3]) / 2))
        n_cells = 2 * float(np.sum(m2)) / h3.average_hexagon_area(res, "m^2") + 7 * len(parts)
        if n_cells * _H3_CELL_BYTES > memory_budget():
            raise IndexBuildError(
                f"the H3 cover at resolution {res} needs about {n_cells:,.0f} cells "
                f"({_gb(n_cells * _H3_CELL_BYTES)}), above the index memory budget of "
                f"{_gb(memory_budget())}: choose a coarser resolution or smaller zones"
            )
    inner = [_cells(p, res, "full") for p in shapely.buffer(parts, -MARGIN_DEG)]
    touched = [_cells(p, res, "overlap") for p in shapely.buffer(parts, MARGIN_DEG)]
    zone = np.repeat(part_zone, [len(c) for c in inner])
    # Zones do not overlap, so a cell is interior to at most one part and meets no other.
    interior, first = np.unique(np.concatenate([np.empty(0, np.int64), *inner]), return_index=True)
    boundary = np.setdiff1d(np.concatenate([np.empty(0, np.int64), *touched]), interior)
    return interior, zone[first].astype(np.int32), boundary


def boundary_candidates(
    boundary: np.ndarray, part_box: np.ndarray, part_zone: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate parts of each boundary cell, from an R-tree over the part boxes.

    Returns the boundary cells that have candidates, the latitude range of each
    (grown by MARGIN_DEG), and CSR arrays (ptr, parts) with each cell's
    candidates ordered by zone row, so that a point on the edge shared by two
    touching zones goes to the first of them.
    """
    if len(boundary) == 0:  # no zones: rtree refuses an empty bulk load
        return boundary, np.empty((0, 2)), np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int32)
    tree = rtree.index.Index(
        ((i, tuple(box), None) for i, box in enumerate(part_box)), interleaved=True
    )
    boxes = np.empty((len(boundary), 4))
    for n, cell in enumerate(boundary.tolist()):
        lat, lng = zip(*h3n.cell_to_boundary(cell), strict=True)
        boxes[n] = min(lng), min(lat), max(lng), max(lat)
    boxes[:, :2] -= MARGIN_DEG
    boxes[:, 2:] += MARGIN_DEG
    ids, counts = tree.intersection_v(boxes[:, :2].copy(), boxes[:, 2:].copy())
    ids, counts = ids.astype(np.int64), counts.astype(np.int64)
    owner = np.repeat(np.arange(len(boundary)), counts)
    order = np.lexsort((ids, part_zone[ids], owner))
    ids, owner = ids[order], owner[order]
    kept = np.flatnonzero(counts > 0)
    ptr = np.zeros(len(kept) + 1, dtype=np.int64)
    np.cumsum(counts[kept], out=ptr[1:])
    return boundary[kept], boxes[kept][:, [1, 3]], ptr, ids.astype(np.int32)


@njit(cache=True)
def strip_edges(strip, cand_ptr, cand_part, part_rings, ring_starts, ys):
    """Edges of each (boundary cell, candidate part) pair that meet the cell's latitude range.

    Only these edges can cross a horizontal ray from a point of the cell or
    hold the point, so the exact test reads a handful of edges instead of the
    whole part. Returns CSR arrays (ptr over the pairs, first vertex of each edge).
    """
    ptr = np.zeros(cand_part.shape[0] + 1, dtype=np.int64)
    edges = np.empty(0, dtype=np.int32)
    n = 0
    for fill in (False, True):  # count, then fill
        if fill:
            edges = np.empty(n, dtype=np.int32)
        n = 0
        for b in range(strip.shape[0]):
            lo, hi = strip[b, 0], strip[b, 1]
            for c in range(cand_ptr[b], cand_ptr[b + 1]):
                part = cand_part[c]
                for ring in range(part_rings[part], part_rings[part + 1]):
                    for v in range(ring_starts[ring], ring_starts[ring + 1] - 1):
                        if max(ys[v], ys[v + 1]) >= lo and min(ys[v], ys[v + 1]) <= hi:
                            if fill:
                                edges[n] = v
                            n += 1
                ptr[c + 1] = n
    return ptr, edges


def build_hash(
    cells: np.ndarray, values: np.ndarray, res: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Open-addressing table (load <= 1/2) mapping H3 cells to int32 values."""
    bits = max(4, math.ceil(math.log2(max(len(cells), 1) * 2)))
    keys = np.zeros(1 << bits, dtype=np.int64)
    vals = np.zeros(1 << bits, dtype=np.int32)
    fill_hash(keys, vals, cells.astype(np.int64), values.astype(np.int32), res, 64 - bits)
    return keys, vals, 64 - bits


def build_grid(geo: dict[str, np.ndarray]) -> dict[str, object]:
    """Prefilter bitmaps of the fine lon/lat cells near a zone and of those inside one.

    A fine cell is *near* when its box grown by MARGIN_DEG meets a part, *inside*
    when that grown box lies wholly in the part, so that every point the kernel
    bins into it (rounding included) lies in the part. A cell whose grown box
    no edge of the part crosses is wholly inside or wholly outside, as its
    centre is. The points of inside cells need no H3 work: a tile holds the
    inside cells of every zone in it (dense towns share tiles: 93 of the 639
    tiles of the real zone set hold two to five zones), each cell's zone given by
    the tile's zone or, in a shared tile, by a byte per cell.

    Parameters
    ----------
    geo : dict
        The arrays of :func:`polygon_parts`.

    Returns
    -------
    dict
        The grid origin and shape, the coarse tile table (-1: no zone near), the
        *near* and *inside* bitmaps of each tile, each tile's zone row (or -2 - m for
        shared tile m), and for the shared tiles the zone index of each fine cell
        (``cell_zone``) and their zones (``multi_zones``).
    """
    parts, part_box = geo["parts"], geo["part_box"]
    step = 1.0 / FINE_PER_DEG
    if len(parts) == 0:
        x0 = y0 = 0.0
        ncx = ncy = 1
    else:
        tile_deg = TILE * step
        x0 = math.floor(part_box[:, 0].min() / tile_deg) * tile_deg - tile_deg
        y0 = math.floor(part_box[:, 1].min() / tile_deg) * tile_deg - tile_deg
        ncx = int((part_box[:, 2].max() - x0) / tile_deg) + 2
        ncy = int((part_box[:, 3].max() - y0) / tile_deg) + 2
    near: list[np.ndarray] = [np.empty((0, 2), dtype=np.int64)]
    inside: list[np.ndarray] = [np.empty((0, 3), dtype=np.int64)]
    for p, (part, box) in enumerate(zip(parts, part_box, strict=True)):
        ix = np.arange(
            math.floor((box[0] - x0) * FINE_PER_DEG) - 1,
            math.floor((box[2] - x0) * FINE_PER_DEG) + 2,
        )
        iy = np.arange(
            math.floor((box[1] - y0) * FINE_PER_DEG) - 1,
            math.floor((box[3] - y0) * FINE_PER_DEG) + 2,
        )
        rings = geo["part_rings"][p : p + 2]
        ring_starts = geo["ring_starts"][rings[0] : rings[1] + 1]
        xs, ys = geo["xs"], geo["ys"]
        crossed = _crossed_cells(FINE_PER_DEG, xs, ys, ring_starts, x0, y0, ix, iy).ravel()
        gx, gy = (a.ravel() for a in np.meshgrid(ix, iy))
        shapely.prepare(part)
        centre = shapely.contains_xy(part, x0 + (gx + 0.5) * step, y0 + (gy + 0.5) * step)
        hit = crossed | centre
        full = centre & ~crossed
        near.append(np.stack([gx[hit], gy[hit]], axis=1))
        inside.append(np.stack([gx[full], gy[full], np.full(full.sum(), geo["part_zone"][p])], 1))
    cells = np.concatenate(near)  # a cell near two parts twice: same bit
    coarse = np.full(ncx * ncy, -1, dtype=np.int32)
    tile_of = cells[:, 1] // TILE * ncx + cells[:, 0] // TILE
    used, tile_index = np.unique(tile_of, return_inverse=True)
    coarse[used] = np.arange(len(used), dtype=np.int32)
    tiles = _bitmaps(len(used), tile_index, cells)
    # Each tile's zone: the zone of its inside cells when one zone has inside cells
    # there; for a tile shared by several zones, -2 - m, and row m of cell_zone gives
    # each inside cell's zone as a 1-based index into row m of multi_zones (at most
    # MAX_TILE_ZONES zones per tile, those with the most inside cells; the cells of
    # any other are left to the H3 stage).
    inner = np.concatenate(inside)
    tile_of = coarse[inner[:, 1] // TILE * ncx + inner[:, 0] // TILE]
    nz = len(geo["part_zone"]) + 1
    pairs, count = np.unique(tile_of * nz + inner[:, 2], return_counts=True)
    order = np.lexsort((-count, pairs // nz))  # by tile, then most cells first
    tile, zone = pairs[order] // nz, pairs[order] % nz
    rank_sorted = np.arange(len(order)) - np.searchsorted(tile, tile)
    rank = np.empty(len(pairs), dtype=np.int64)
    rank[order] = rank_sorted
    zones_in = np.bincount(tile, minlength=len(used))
    multi = np.flatnonzero(zones_in > 1)
    m_of = np.full(len(used), -1, dtype=np.int64)
    m_of[multi] = np.arange(len(multi))
    tile_zone = np.full(len(used), -1, dtype=np.int32)
    first = rank_sorted == 0
    tile_zone[tile[first]] = zone[first]
    tile_zone[multi] = -2 - np.arange(len(multi), dtype=np.int32)
    multi_zones = np.full((len(multi), MAX_TILE_ZONES), -1, dtype=np.int32)
    sel = (zones_in[tile] > 1) & (rank_sorted < MAX_TILE_ZONES)
    multi_zones[m_of[tile[sel]], rank_sorted[sel]] = zone[sel]
    cell_rank = rank[np.searchsorted(pairs, tile_of * nz + inner[:, 2])]
    kept = cell_rank < MAX_TILE_ZONES
    shared = kept & (zones_in[tile_of] > 1)
    cell_zone = np.zeros((len(multi), TILE * TILE), dtype=np.uint8)
    bit = (inner[shared, 1] % TILE) * TILE + inner[shared, 0] % TILE
    cell_zone[m_of[tile_of[shared]], bit] = cell_rank[shared] + 1
    return {
        "x0": x0, "y0": y0, "ncx": ncx, "ncy": ncy, "coarse": coarse, "tiles": tiles,
        "inside": _bitmaps(len(used), tile_of[kept], inner[kept]), "tile_zone": tile_zone,
        "cell_zone": cell_zone, "multi_zones": multi_zones,
    }  # fmt: skip


@njit(cache=True)
def _crossed_cells(per_deg, xs, ys, ring_starts, x0, y0, ix, iy):
    """Mask (len(iy), len(ix)) of the fine cells whose box grown by MARGIN_DEG an edge may meet.

    Each edge is cut into pieces shorter than a cell, and every cell meeting a
    piece's box grown by twice the margin (the cell's own growth, and rounding)
    is marked: a superset of the cells the edges cross.
    """
    out = np.zeros((iy.shape[0], ix.shape[0]), dtype=np.bool_)
    grow = 2.0 * MARGIN_DEG
    for r in range(ring_starts.shape[0] - 1):
        for v in range(ring_starts[r], ring_starts[r + 1] - 1):
            ax, ay, bx, by = xs[v], ys[v], xs[v + 1], ys[v + 1]
            pieces = int(max(abs(bx - ax), abs(by - ay)) * per_deg) + 1
            for k in range(pieces):
                px0 = ax + (bx - ax) * (k / pieces)
                py0 = ay + (by - ay) * (k / pieces)
                px1 = ax + (bx - ax) * ((k + 1) / pieces)
                py1 = ay + (by - ay) * ((k + 1) / pieces)
                i0 = max(int(math.floor((min(px0, px1) - grow - x0) * per_deg)) - ix[0], 0)
                i1 = min(
                    int(math.floor((max(px0, px1) + grow - x0) * per_deg)) - ix[0],
                    ix.shape[0] - 1,
                )
                j0 = max(int(math.floor((min(py0, py1) - grow - y0) * per_deg)) - iy[0], 0)
                j1 = min(
                    int(math.floor((max(py0, py1) + grow - y0) * per_deg)) - iy[0],
                    iy.shape[0] - 1,
                )
                out[j0 : j1 + 1, i0 : i1 + 1] = True
    return out


def _bitmaps(n_tiles: int, tile_index: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Tile bitmaps with the bits of the fine cells (x, y in the first two columns) set."""
    tiles = np.zeros((n_tiles, TILE * TILE // 8), dtype=np.uint8)
    bit = (cells[:, 1] % TILE) * TILE + cells[:, 0] % TILE
    np.bitwise_or.at(tiles, (tile_index, bit >> 3), (1 << (bit & 7)).astype(np.uint8))
    return tiles


def cover_frame(keys: np.ndarray, vals: np.ndarray, cand_ptr, cand_part, part_zone) -> pd.DataFrame:
    """Tabulate the cover: one row per (cell, zone) with the interior flag."""
    used = keys != 0
    cells, values = keys[used], vals[used]
    inner = values >= 0
    b = -values[~inner] - 1
    counts = cand_ptr[b + 1] - cand_ptr[b]
    rows = np.concatenate([np.arange(cand_ptr[i], cand_ptr[i + 1]) for i in b]) if len(b) else []
    frame = pd.DataFrame(
        {
            "cell": np.concatenate([cells[inner], np.repeat(cells[~inner], counts)]).astype(
                np.uint64
            ),
            "zone": np.concatenate([values[inner], part_zone[cand_part[rows]]]).astype(np.int32),
            "interior": np.concatenate([np.ones(inner.sum(), bool), np.zeros(counts.sum(), bool)]),
        }
    )
    return frame.drop_duplicates(["cell", "zone"]).sort_values(["zone", "cell"], ignore_index=True)
