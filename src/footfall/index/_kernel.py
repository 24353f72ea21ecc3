"""The compiled point-to-zone kernel: prefilter grid, H3 cell, hash lookup, exact test."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from footfall.index._build import FINE_PER_DEG, TILE, cell_slot
from footfall.index._geometry import part_covers
from footfall.index._h3 import latlng_to_cell

__all__ = ["KernelArrays", "assign_kernel"]


class KernelArrays(NamedTuple):
    """Everything :func:`assign_kernel` needs after the points, in its argument order."""

    res: int  # H3 resolution of the cover
    x0: float  # prefilter grid origin (lon, lat) and size in tiles
    y0: float
    ncx: int
    ncy: int
    coarse: np.ndarray  # (ncy * ncx,) int32: tile number or -1
    tiles: np.ndarray  # (n_tiles, TILE * TILE / 8) uint8 bitmaps
    keys: np.ndarray  # hash table of the cover: H3 cells (0: empty slot)
    vals: np.ndarray  # zone row of an interior cell, or -1 - b for boundary cell b
    shift: int  # 64 - log2(table size)
    cand_ptr: np.ndarray  # candidates of boundary cell b: cand_part[cand_ptr[b]:cand_ptr[b+1]]
    cand_part: np.ndarray
    part_zone: np.ndarray  # zone row of each polygon part
    part_box: np.ndarray  # (n_parts, 4) bounding boxes
    part_rings: np.ndarray  # rings of part p: part_rings[p]:part_rings[p + 1]
    ring_starts: np.ndarray  # vertices of ring r: ring_starts[r]:ring_starts[r + 1]
    xs: np.ndarray  # vertex coordinates, closed rings
    ys: np.ndarray


#: Points per block: each parallel task handles one block in three passes.
_BLOCK = 1024


@njit(cache=True, inline="always")
def _may_touch_zone(x, y, x0, y0, ncx, ncy, coarse, tiles):
    # Fine lon/lat cell -> tile table -> tile bitmap, without branches: most
    # points fail, at random, and mispredicted branches would cost more than
    # the few loads (NaN fails every comparison).
    fx = (x - x0) * FINE_PER_DEG
    fy = (y - y0) * FINE_PER_DEG
    ok = (fx >= 0.0) & (fy >= 0.0) & (fx < ncx * TILE) & (fy < ncy * TILE)
    ix = int(fx) if ok else 0
    iy = int(fy) if ok else 0
    tile = coarse[(iy // TILE) * ncx + ix // TILE]
    bit = (iy % TILE) * TILE + ix % TILE
    word = tiles[max(tile, 0), bit >> 3]
    return ok & (tile >= 0) & ((word >> (bit & 7)) & 1 == 1)


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


@njit(cache=True, parallel=True)
def assign_kernel(
    lon, lat, out, res, x0, y0, ncx, ncy, coarse, tiles, keys, vals, shift,
    cand_ptr, cand_part, part_zone, part_box, part_rings, ring_starts, xs, ys,
):  # fmt: skip
    """Write into ``out`` the zone row of each (lon, lat) point, or -1, over all cores.

    Each block of points goes through three passes: prefilter and H3 cell, then
    the hash lookups (independent of each other, so their cache misses overlap
    instead of queueing behind the H3 arithmetic), then the exact tests.
    """
    n = lon.shape[0]
    for block in prange((n + _BLOCK - 1) // _BLOCK):
        start = block * _BLOCK
        stop = min(start + _BLOCK, n)
        todo = np.empty(stop - start, dtype=np.int64)
        cells = np.empty(stop - start, dtype=np.int64)
        m = 0
        for i in range(start, stop):
            out[i] = -1
            todo[m] = i
            m += _may_touch_zone(lon[i], lat[i], x0, y0, ncx, ncy, coarse, tiles)
        for k in range(m):
            cells[k] = latlng_to_cell(lat[todo[k]], lon[todo[k]], res)
        for k in range(m):
            cells[k] = _lookup(cells[k], res, keys, vals, shift)
        for k in range(m):
            value = cells[k]
            if value >= 0:
                out[todo[k]] = value  # interior cell: no polygon test
            elif value != _OUTSIDE:
                # boundary cell: exact test against its candidate parts, in zone order
                i = todo[k]
                b = -value - 1
                for c in range(cand_ptr[b], cand_ptr[b + 1]):
                    part = cand_part[c]
                    if part_covers(lon[i], lat[i], part, part_box, part_rings, ring_starts, xs, ys):
                        out[i] = part_zone[part]
                        break
