"""ZoneIndex fast paths: fine cells inside a zone, and the strip edges of boundary cells."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon, box

import footfall as ff
from footfall.index._build import MARGIN_DEG
from footfall.index._geometry import edges_cover, part_covers
from footfall.index._kernel import FINE_PER_DEG, TILE
from test_index import ZONES_DIR, _zoneset

X0, Y0 = 4.08, 44.13


def _shapes() -> list:
    # long diagonal edges over several tiles, a hole, and two zones sharing tiles
    triangle = Polygon([(X0, Y0), (X0 + 0.31, Y0 + 0.02), (X0 + 0.05, Y0 + 0.23)])
    holed = Polygon(
        box(X0 + 0.4, Y0, X0 + 0.45, Y0 + 0.05).exterior.coords,
        [Polygon([(X0 + 0.41, Y0 + 0.01), (X0 + 0.44, Y0 + 0.012), (X0 + 0.42, Y0 + 0.04)])
         .exterior.coords],
    )  # fmt: skip
    left = box(X0 + 0.5, Y0, X0 + 0.5 + 3 / FINE_PER_DEG, Y0 + 0.01)
    right = box(X0 + 0.5 + 3 / FINE_PER_DEG, Y0, X0 + 0.52, Y0 + 0.01)
    return [triangle, holed, left, right]


def _inside_cells(index: ff.ZoneIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lon/lat of the lower-left corner and zone of every fine cell marked inside."""
    a = index._arrays
    tile_of_slot = np.full(a.inside.shape[0], -1)
    tile_of_slot[a.coarse[a.coarse >= 0]] = np.flatnonzero(a.coarse >= 0)
    t, bit = np.nonzero(np.unpackbits(a.inside, axis=1, bitorder="little"))
    tile = tile_of_slot[t]
    ix = tile % a.ncx * TILE + bit % TILE
    iy = tile // a.ncx * TILE + bit // TILE
    zone = a.tile_zone[t].copy()
    shared = zone < -1  # a tile of several zones: each cell says which
    m = -2 - zone[shared]
    zone[shared] = a.multi_zones[m, a.cell_zone[m, bit[shared]].astype(np.int64) - 1]
    return a.x0 + ix / FINE_PER_DEG, a.y0 + iy / FINE_PER_DEG, zone


def test_inside_cells_lie_in_their_zone():
    shapes = _shapes()
    index = ff.ZoneIndex(_zoneset(shapes))
    x, y, zone = _inside_cells(index)
    assert len(x) > 1000
    step = 1 / FINE_PER_DEG
    cells = shapely.box(
        x - MARGIN_DEG, y - MARGIN_DEG, x + step + MARGIN_DEG, y + step + MARGIN_DEG
    )
    assert (zone >= 0).all()
    assert shapely.covers(np.asarray(shapes, dtype=object)[zone], cells).all()
    # the two zones sharing tiles both keep their inside cells there
    assert set(np.unique(zone)) == {0, 1, 2, 3}
    assert (index._arrays.tile_zone < -1).any()


def test_shapes_match_shapely_near_edges_and_grid_lines():
    shapes = _shapes()
    index = ff.ZoneIndex(_zoneset(shapes))
    rng = np.random.default_rng(7)
    # uniform, near the edges (many boundary cells), and on fine-grid lines
    n = 200_000
    x = rng.uniform(X0 - 0.01, X0 + 0.53, n)
    y = rng.uniform(Y0 - 0.01, Y0 + 0.24, n)
    edges = shapely.line_interpolate_point(
        shapely.boundary(np.asarray(shapes, dtype=object)[rng.integers(0, 4, n)]),
        rng.random(n),
        normalized=True,
    )
    ex = shapely.get_x(edges) + rng.normal(0, 2e-5, n)
    ey = shapely.get_y(edges) + rng.normal(0, 2e-5, n)
    gx = np.round(x * FINE_PER_DEG) / FINE_PER_DEG
    lon = np.concatenate([x, ex, gx, x])
    lat = np.concatenate([y, ey, y, np.round(y * FINE_PER_DEG) / FINE_PER_DEG])
    got = index.assign(lon, lat)
    want = np.full(len(lon), -1)
    tree = shapely.STRtree(shapes)
    p, z = tree.query(shapely.points(lon, lat), predicate="covered_by")
    want[p] = z
    assert (got == want).all()


def test_strip_edges_agree_with_the_whole_part():
    index = ff.ZoneIndex(ff.read_zones(ZONES_DIR))
    a = index._arrays
    rng = np.random.default_rng(3)
    for b in rng.choice(len(a.strip), 300, replace=False):
        lo, hi = a.strip[b]
        for c in range(a.cand_ptr[b], a.cand_ptr[b + 1]):
            part = a.cand_part[c]
            box_ = a.part_box[part]
            edges = a.edge_v[a.edge_ptr[c] : a.edge_ptr[c + 1]]
            for x, y in zip(
                rng.uniform(box_[0], box_[2], 20), rng.uniform(lo, hi, 20), strict=True
            ):
                whole = part_covers(x, y, part, a.part_box, a.part_rings, a.ring_starts, a.xs, a.ys)
                assert edges_cover(x, y, edges, a.xs, a.ys) == whole
