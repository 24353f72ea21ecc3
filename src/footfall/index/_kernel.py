"""The compiled point-to-zone kernel: prefilter grid, H3 cell, hash lookup, exact test."""

from __future__ import annotations

from numba import njit, prange

from footfall.index._build import FINE_PER_DEG, TILE, cell_slot
from footfall.index._geometry import part_covers
from footfall.index._h3 import latlng_to_cell

__all__ = ["assign_kernel"]


@njit(cache=True, inline="always")
def _assign_one(
    x, y, res, x0, y0, ncx, ncy, coarse, tiles, keys, vals, shift,
    cand_ptr, cand_part, part_zone, part_box, part_rings, ring_starts, xs, ys,
):  # fmt: skip
    # 1. prefilter: fine lon/lat cell, tile table, tile bitmap (NaN fails every test)
    fx = (x - x0) * FINE_PER_DEG
    fy = (y - y0) * FINE_PER_DEG
    if not (fx >= 0.0 and fy >= 0.0 and fx < ncx * TILE and fy < ncy * TILE):
        return -1
    ix = int(fx)
    iy = int(fy)
    tile = coarse[(iy // TILE) * ncx + ix // TILE]
    if tile < 0:
        return -1
    bit = (iy % TILE) * TILE + ix % TILE
    if not (tiles[tile, bit >> 3] >> (bit & 7)) & 1:
        return -1
    # 2. H3 cell and its entry in the cover
    cell = latlng_to_cell(y, x, res)
    mask = keys.shape[0] - 1
    slot = cell_slot(cell, res, shift)
    while keys[slot] != cell:
        if keys[slot] == 0:
            return -1
        slot = (slot + 1) & mask
    value = vals[slot]
    if value >= 0:
        return value  # interior cell: no polygon test
    # 3. boundary cell: exact test against its candidate parts, in zone order
    b = -value - 1
    for c in range(cand_ptr[b], cand_ptr[b + 1]):
        part = cand_part[c]
        if part_covers(x, y, part, part_box, part_rings, ring_starts, xs, ys):
            return part_zone[part]
    return -1


@njit(cache=True, parallel=True)
def assign_kernel(
    lon, lat, out, res, x0, y0, ncx, ncy, coarse, tiles, keys, vals, shift,
    cand_ptr, cand_part, part_zone, part_box, part_rings, ring_starts, xs, ys,
):  # fmt: skip
    """Write into ``out`` the zone row of each (lon, lat) point, or -1, over all cores."""
    for n in prange(lon.shape[0]):
        out[n] = _assign_one(
            lon[n], lat[n], res, x0, y0, ncx, ncy, coarse, tiles, keys, vals, shift,
            cand_ptr, cand_part, part_zone, part_box, part_rings, ring_starts, xs, ys,
        )  # fmt: skip
