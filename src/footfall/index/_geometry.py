"""Exact point-in-polygon kernels (numba): robust orientation, boundary inclusive.

A point is covered by a polygon part when it lies on one of its rings or when a
ray from it crosses the rings an odd number of times: the semantics of shapely's
``covers``. The side of an edge a point lies on is decided by an orientation
predicate that is exact for every double input: a floating-point filter and,
when the filter cannot decide, an exact sum of error-free products
(Shewchuk, "Adaptive precision floating-point arithmetic", 1997).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["orient2d", "part_covers", "edges_cover"]

_SPLITTER = 134217729.0  # 2**27 + 1, splits a double into two 26-bit halves
# |error| of the naive determinant is below this times (|detleft| + |detright|).
_CCW_ERR_BOUND = 3.3306690738754716e-16


@njit(cache=True, inline="always")
def _two_sum(a, b):
    x = a + b
    bv = x - a
    av = x - bv
    return x, (a - av) + (b - bv)


@njit(cache=True, inline="always")
def _two_diff(a, b):
    x = a - b
    bv = a - x
    av = x + bv
    return x, (a - av) + (bv - b)


@njit(cache=True, inline="always")
def _split(a):
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


@njit(cache=True, inline="always")
def _two_product(a, b):
    x = a * b
    ahi, alo = _split(a)
    bhi, blo = _split(b)
    err = x - ahi * bhi - alo * bhi - ahi * blo
    return x, alo * blo - err


@njit(cache=True)
def _orient2d_exact(ax, ay, bx, by, cx, cy):
    # (ax - cx)(by - cy) - (ay - cy)(bx - cx) with every difference split into an
    # exact (head, tail) pair and every product into an exact pair: 16 terms whose
    # exact sum is grown into a non-overlapping expansion; its largest non-zero
    # component carries the sign.
    a1, a0 = _two_diff(ax, cx)
    b1, b0 = _two_diff(by, cy)
    c1, c0 = _two_diff(ay, cy)
    d1, d0 = _two_diff(bx, cx)
    terms = np.empty(16)
    n = 0
    for p, q, s in (
        (a1, b1, 1.0), (a1, b0, 1.0), (a0, b1, 1.0), (a0, b0, 1.0),
        (c1, d1, -1.0), (c1, d0, -1.0), (c0, d1, -1.0), (c0, d0, -1.0),
    ):  # fmt: skip
        hi, lo = _two_product(p, q)
        terms[n] = s * hi
        terms[n + 1] = s * lo
        n += 2
    expansion = np.zeros(16)
    m = 0
    for t in range(16):
        q = terms[t]
        for e in range(m):
            q, expansion[e] = _two_sum(q, expansion[e])
        expansion[m] = q
        m += 1
    for e in range(m - 1, -1, -1):
        if expansion[e] != 0.0:
            return 1.0 if expansion[e] > 0.0 else -1.0
    return 0.0


@njit(cache=True, inline="always")
def orient2d(ax, ay, bx, by, cx, cy):
    """Sign of the turn a -> b -> c: > 0 left (counter-clockwise), < 0 right, 0 on the line.

    Exact for all finite double inputs.
    """
    detleft = (ax - cx) * (by - cy)
    detright = (ay - cy) * (bx - cx)
    det = detleft - detright
    bound = _CCW_ERR_BOUND * (abs(detleft) + abs(detright))
    if det > bound or -det > bound:
        return det
    return _orient2d_exact(ax, ay, bx, by, cx, cy)


@njit(cache=True, inline="always")
def _crossing(x, y, ax, ay, bx, by):
    # 1 when edge a -> b crosses the ray from (x, y) towards +x, 2 when the
    # point lies on the edge, else 0
    if (ay > y) != (by > y):
        # the edge straddles the ray's line (half-open in y)
        if x < ax and x < bx:
            return 1
        if x <= ax or x <= bx:
            o = orient2d(ax, ay, bx, by, x, y)
            if o == 0.0:
                return 2
            return 1 if (o > 0.0) == (by > ay) else 0
    elif ay == y:
        # on a vertex, or on a horizontal edge
        if ax == x or (by == y and (ax <= x) != (bx < x)):
            return 2
    return 0


@njit(cache=True)
def part_covers(x, y, part, part_box, part_rings, ring_starts, xs, ys):
    """Whether polygon part ``part`` covers the point (x, y) (boundary inclusive).

    Parameters
    ----------
    x, y : float
        The point, lon/lat degrees.
    part : int
        Index of the polygon part (one polygon of a zone, with its holes).
    part_box : (n_parts, 4) float64
        Bounding box of each part: xmin, ymin, xmax, ymax.
    part_rings : (n_parts + 1,) int64
        Rings of part p are ``part_rings[p]:part_rings[p + 1]``.
    ring_starts : (n_rings + 1,) int64
        Vertices of ring r are ``ring_starts[r]:ring_starts[r + 1]`` in xs, ys,
        closed (the last vertex repeats the first).
    xs, ys : float64
        Vertex coordinates.
    """
    if (
        x < part_box[part, 0]
        or y < part_box[part, 1]
        or x > part_box[part, 2]
        or y > part_box[part, 3]
    ):
        return False
    inside = False
    for ring in range(part_rings[part], part_rings[part + 1]):
        for v in range(ring_starts[ring], ring_starts[ring + 1] - 1):
            c = _crossing(x, y, xs[v], ys[v], xs[v + 1], ys[v + 1])
            if c == 2:
                return True
            inside ^= c == 1
    return inside


@njit(cache=True)
def edges_cover(x, y, edges, xs, ys):
    """Whether the point lies on or inside the rings that the given edges come from.

    Same answer as :func:`part_covers` when ``edges`` holds every edge of the
    part that meets the horizontal line through the point, since no other edge
    can cross the ray from the point or hold the point.

    Parameters
    ----------
    x, y : float
        The point, lon/lat degrees.
    edges : int array
        First vertex v of each edge (v, v + 1) in xs, ys.
    xs, ys : float64
        Vertex coordinates.
    """
    inside = False
    for v in edges:
        c = _crossing(x, y, xs[v], ys[v], xs[v + 1], ys[v + 1])
        if c == 2:
            return True
        inside ^= c == 1
    return inside
