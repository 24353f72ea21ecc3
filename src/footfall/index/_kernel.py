"""The compiled point-to-zone kernel: prefilter grid, H3 cell, hash lookup, exact test."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from footfall.index._geometry import edges_cover, part_covers
from footfall.index._h3 import latlng_to_cell

__all__ = [
    "FINE_PER_DEG",
    "TILE",
    "KernelArrays",
    "assign_kernel",
    "assign_serial",
    "cell_slot",
    "fill_hash",
]

#: Prefilter grid: fine cells of 1/4096 deg (~27 m x 19 m in France), grouped in
#: tiles of TILE x TILE fine cells (1/32 deg) stored as bitmaps; empty tiles cost
#: one int32 in the coarse table. Finer cells settle more points without H3 (95 %
#: of those in the real zones) but grow the index (46 MB) and its build; bigger
#: tiles would hold two zones more often, and only one keeps its inside cells.
FINE_PER_DEG = 4096
TILE = 128
# They live here, beside the kernel that compiles them in, because numba's cache
# checks only the cached function's own file: defined elsewhere, a change would
# leave stale kernels in __pycache__.


class KernelArrays(NamedTuple):
    """Everything :func:`assign_kernel` needs after the points, in its argument order."""

    res: int  # H3 resolution of the cover
    x0: float  # prefilter grid origin (lon, lat) and size in tiles
    y0: float
    ncx: int
    ncy: int
    coarse: np.ndarray  # (ncy * ncx,) int32: tile number or -1
    tiles: np.ndarray  # (n_tiles, TILE * TILE / 8) uint8 bitmaps: fine cells near a zone
    inside: np.ndarray  # same layout: fine cells wholly inside the tile's zone
    tile_zone: np.ndarray  # (n_tiles,) int32 zone row of the inside cells, -2 - m if shared
    cell_zone: np.ndarray  # (n_shared, TILE * TILE) uint8: 1 + index in multi_zones[m]
    multi_zones: np.ndarray  # (n_shared, MAX_TILE_ZONES) int32 zone rows of shared tile m
    keys: np.ndarray  # hash table of the cover: H3 cells (0: empty slot)
    vals: np.ndarray  # zone row of an interior cell, or -1 - b for boundary cell b
    shift: int  # 64 - log2(table size)
    cand_ptr: np.ndarray  # candidates of boundary cell b: cand_part[cand_ptr[b]:cand_ptr[b+1]]
    cand_part: np.ndarray
    strip: np.ndarray  # (n_boundary, 2) latitude range of boundary cell b
    edge_ptr: np.ndarray  # edges of candidate c meeting its cell's strip:
    edge_v: np.ndarray  # edge_v[edge_ptr[c]:edge_ptr[c + 1]], first vertices
    part_zone: np.ndarray  # zone row of each polygon part
    part_box: np.ndarray  # (n_parts, 4) bounding boxes
    part_rings: np.ndarray  # rings of part p: part_rings[p]:part_rings[p + 1]
    ring_starts: np.ndarray  # vertices of ring r: ring_starts[r]:ring_starts[r + 1]
    xs: np.ndarray  # vertex coordinates, closed rings
    ys: np.ndarray


#: Points per block: each parallel task handles one block in three passes.
_BLOCK = 1024


@njit(cache=True, inline="always")
def _grid_bits(x, y, x0, y0, ncx, ncy, coarse, tiles, inside):
    # Fine lon/lat cell -> tile table -> tile bitmaps, without branches: most
    # points fail, at random, and mispredicted branches would cost more than
    # the few loads (NaN fails every comparison). Returns the tile and whether
    # the cell is near a zone and wholly inside one of the tile's zones, and the
    # cell's bit number in the tile.
    fx = (x - x0) * FINE_PER_DEG
    fy = (y - y0) * FINE_PER_DEG
    ok = (fx >= 0.0) & (fy >= 0.0) & (fx < ncx * TILE) & (fy < ncy * TILE)
    ix = int(fx) if ok else 0
    iy = int(fy) if ok else 0
    tile = coarse[(iy // TILE) * ncx + ix // TILE]
    bit = (iy % TILE) * TILE + ix % TILE
    t = max(tile, 0)
    hit = ok & (tile >= 0)
    near = hit & ((tiles[t, bit >> 3] >> (bit & 7)) & 1 == 1)
    inner = hit & ((inside[t, bit >> 3] >> (bit & 7)) & 1 == 1)
    return t, near, inner, bit


@njit(cache=True, inline="always")
def _lookup(cell, res, keys, vals, shift):
    # open addressing, linear probing; a missing cell is outside every zone
    mask = keys.shape[0] - 1
    slot = cell_slot(cell, res, shift)
    while keys[slot] != cell:
        if keys[slot] == 0:
            return _OUTSIDE
        slot = (slot + 1) & mask
    return vals[slot]


_OUTSIDE = np.iinfo(np.int32).min


@njit(cache=True, inline="always")
def cell_slot(cell, res, shift):
    """Home slot of an H3 cell in the open-addressing table (multiplicative hashing)."""
    # drop the unused trailing digits (all ones), then Fibonacci-hash the rest
    u = np.uint64(cell >> ((15 - res) * 3))
    return np.int64((u * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(shift))


@njit(cache=True, inline="always")
def _assign_block(
    block, lon, lat, out, res, x0, y0, ncx, ncy, coarse, tiles, inside, tile_zone, cell_zone,
    multi_zones, keys, vals, shift, cand_ptr, cand_part, strip, edge_ptr, edge_v, part_zone,
    part_box, part_rings, ring_starts, xs, ys,
):  # fmt: skip
    """Assign the points of one block of :data:`_BLOCK` (see :func:`assign_kernel`)."""
    n = lon.shape[0]
    start = block * _BLOCK
    stop = min(start + _BLOCK, n)
    todo = np.empty(stop - start, dtype=np.int64)
    cells = np.empty(stop - start, dtype=np.int64)
    m = 0
    for i in range(start, stop):
        tile, near, inner, bit = _grid_bits(lon[i], lat[i], x0, y0, ncx, ncy, coarse, tiles, inside)
        zone = tile_zone[tile]
        if zone < -1 and inner:  # a tile shared by zones: this cell's
            shared = -2 - zone
            zone = multi_zones[shared, cell_zone[shared, bit] - 1]
        out[i] = zone if inner else -1
        todo[m] = i
        m += near & ~inner
    for k in range(m):
        cells[k] = latlng_to_cell(lat[todo[k]], lon[todo[k]], res)
    for k in range(m):
        cells[k] = _lookup(cells[k], res, keys, vals, shift)
    for k in range(m):
        value = cells[k]
        if value >= 0:
            out[todo[k]] = value  # interior cell: no polygon test
        elif value != _OUTSIDE:
            # boundary cell: exact test against its candidate parts, in zone order,
            # reading only the edges that meet the cell's latitude range (all of
            # the part's if the point is not in that range)
            i = todo[k]
            b = -value - 1
            in_strip = strip[b, 0] <= lat[i] <= strip[b, 1]
            for c in range(cand_ptr[b], cand_ptr[b + 1]):
                part = cand_part[c]
                if (
                    edges_cover(lon[i], lat[i], edge_v[edge_ptr[c] : edge_ptr[c + 1]], xs, ys)
                    if in_strip
                    else part_covers(
                        lon[i], lat[i], part, part_box, part_rings, ring_starts, xs, ys
                    )
                ):
                    out[i] = part_zone[part]
                    break


@njit(cache=True, parallel=True, nogil=True)
def assign_kernel(
    lon, lat, out, res, x0, y0, ncx, ncy, coarse, tiles, inside, tile_zone, cell_zone,
    multi_zones, keys, vals, shift, cand_ptr, cand_part, strip, edge_ptr, edge_v, part_zone,
    part_box, part_rings, ring_starts, xs, ys,
):  # fmt: skip
    """Write into ``out`` the zone row of each (lon, lat) point, or -1, over all cores.

    Each block of points goes through three passes: the prefilter grid (which
    settles the points far from every zone and those inside one) and the H3 cell
    of the rest, then the hash lookups (independent of each other, so their cache
    misses overlap instead of queueing behind the H3 arithmetic), then the exact
    tests. It releases the GIL, so that callers' threads overlap.
    """
    for block in prange((lon.shape[0] + _BLOCK - 1) // _BLOCK):
        _assign_block(
            block, lon, lat, out, res, x0, y0, ncx, ncy, coarse, tiles, inside, tile_zone,
            cell_zone, multi_zones, keys, vals, shift, cand_ptr, cand_part, strip, edge_ptr,
            edge_v, part_zone, part_box, part_rings, ring_starts, xs, ys,
        )  # fmt: skip


@njit(cache=True, nogil=True)
def assign_serial(
    lon, lat, out, res, x0, y0, ncx, ncy, coarse, tiles, inside, tile_zone, cell_zone,
    multi_zones, keys, vals, shift, cand_ptr, cand_part, strip, edge_ptr, edge_v, part_zone,
    part_box, part_rings, ring_starts, xs, ys,
):  # fmt: skip
    """:func:`assign_kernel` on the calling thread only.

    For callers that run one assignment per thread already (the count's map
    threads): no thread pool is woken, none spins after it, and numba's threading
    layers that must not be entered from two threads at once (workqueue) are not.
    """
    for block in range((lon.shape[0] + _BLOCK - 1) // _BLOCK):
        _assign_block(
            block, lon, lat, out, res, x0, y0, ncx, ncy, coarse, tiles, inside, tile_zone,
            cell_zone, multi_zones, keys, vals, shift, cand_ptr, cand_part, strip, edge_ptr,
            edge_v, part_zone, part_box, part_rings, ring_starts, xs, ys,
        )  # fmt: skip


@njit(cache=True)
def fill_hash(keys, vals, cells, values, res, shift):
    """Insert H3 cells and their values into an empty open-addressing table."""
    mask = keys.shape[0] - 1
    for n in range(cells.shape[0]):
        slot = cell_slot(cells[n], res, shift)
        while keys[slot] != 0:
            slot = (slot + 1) & mask
        keys[slot] = cells[n]
        vals[slot] = values[n]
