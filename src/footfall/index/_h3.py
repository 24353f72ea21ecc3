"""H3 ``latLngToCell`` ported to numba: the per-point cell of the zone index.

A port of the h3 C library's encoder (geo -> closest icosahedron face ->
gnomonic hex2d -> IJK -> one digit per resolution -> base cell and rotations,
with the pentagon rules), so that the index can compute the H3 cell of each
point inside compiled, parallel loops. Two steps are rewritten for speed with
the same results: the projection uses tangent vectors instead of acos, atan2
and tan, and the digit walk runs in axial coordinates, which need no IJK
normalisation. It equals h3-py cell for cell (tests/test_h3_numba.py; the
benchmark checks millions of points at seven resolutions).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from footfall.index._h3tables import (
    CW_OFFSET_FACES,
    FACE_AXIS_AZ0,
    FACE_CENTER_GEO,
    FACE_CENTER_POINT,
    FACE_IJK_BASE_CELL,
    FACE_IJK_CCW_ROT60,
    PENTAGON,
)

__all__ = ["latlng_to_cell", "latlng_to_cells"]

_DEG2RAD = 0.0174532925199432957692369076848861271111
_AP7_ROT_RADS = 0.333473172251832115336090755351601070065900389
_RES0_U_GNOMONIC = 0.38196601125010500003
_SQRT7 = 2.6457513110645905905016157536392604257102
_RSIN60 = 1.1547005383792515290182975610039149112953

# Cell index layout: mode (bits 59-62), resolution (52-55), base cell (45-51),
# then fifteen 3-bit digits, unused ones set to 7.
_CELL_HEADER = (1 << 59) | ((1 << 45) - 1)
_K_AXES_DIGIT = 1
_ROTATE_CCW = np.array([0, 5, 3, 1, 6, 4, 2], dtype=np.int64)
_ROTATE_CW = np.array([0, 3, 6, 2, 5, 1, 4], dtype=np.int64)
# Digit of an axial unit vector (da, db), at (da + 1) * 3 + (db + 1); 7: not a unit.
_AXIAL_DIGIT = np.array([1, 3, 7, 5, 0, 2, 7, 4, 6], dtype=np.int64)


def _face_axes() -> np.ndarray:
    """Compute the unit tangent vectors of each face's hex2d x and y axes, Class II and III.

    The x axis points along the face's i-axis azimuth (rotated by the aperture-7
    angle on Class III resolutions); y is 90 degrees counter-clockwise from it.
    """
    lat, lng = FACE_CENTER_GEO[:, 0], FACE_CENTER_GEO[:, 1]
    east = np.stack([-np.sin(lng), np.cos(lng), np.zeros(20)], axis=1)
    north = np.stack([-np.sin(lat) * np.cos(lng), -np.sin(lat) * np.sin(lng), np.cos(lat)], axis=1)
    axes = np.empty((20, 2, 6))
    for cls, az in enumerate([FACE_AXIS_AZ0, FACE_AXIS_AZ0 - _AP7_ROT_RADS]):
        s, c = np.sin(az)[:, None], np.cos(az)[:, None]
        axes[:, cls, :3] = s * east + c * north  # azimuth az (clockwise from north)
        axes[:, cls, 3:] = -c * east + s * north  # azimuth az - 90 degrees
    return axes


def _scales() -> np.ndarray:
    # hex2d units per unit of tan(angle), as h3 computes them
    out = np.empty(16)
    for res in range(16):
        r = 1.0 / _RES0_U_GNOMONIC
        for _ in range(res):
            r *= _SQRT7
        out[res] = r
    return out


_AXES = _face_axes()
_SCALE = _scales()


@njit(cache=True, inline="always")
def _round_seventh(n):
    # n / 7 rounded to the nearest integer (never a tie): h3's lround(n * (1 / 7))
    return (2 * n + 7) // 14


@njit(cache=True, inline="always")
def _normalize(i, j, k):
    if i < 0:
        j -= i
        k -= i
        i = 0
    if j < 0:
        i -= j
        k -= j
        j = 0
    if k < 0:
        i -= k
        j -= k
        k = 0
    m = min(i, j, k)
    return i - m, j - m, k - m


@njit(cache=True)
def _hex2d_to_ijk(x, y):
    a1 = abs(x)
    a2 = abs(y)
    x2 = a2 * _RSIN60
    x1 = a1 + x2 / 2.0
    m1 = int(x1)
    m2 = int(x2)
    r1 = x1 - m1
    r2 = x2 - m2
    if r1 < 0.5:
        if r1 < 1.0 / 3.0:
            i = m1
            j = m2 if r2 < (1.0 + r1) / 2.0 else m2 + 1
        else:
            j = m2 if r2 < (1.0 - r1) else m2 + 1
            i = m1 + 1 if (1.0 - r1) <= r2 and r2 < (2.0 * r1) else m1
    else:
        if r1 < 2.0 / 3.0:
            j = m2 if r2 < (1.0 - r1) else m2 + 1
            i = m1 if (2.0 * r1 - 1.0) < r2 and r2 < (1.0 - r1) else m1 + 1
        else:
            i = m1 + 1
            j = m2 if r2 < (r1 / 2.0) else m2 + 1
    # fold across the axes
    if x < 0.0:
        if j % 2 == 0:
            i = i - 2 * (i - j // 2)
        else:
            i = i - (2 * (i - (j + 1) // 2) + 1)
    if y < 0.0:
        i = i - (2 * j + 1) // 2
        j = -j
    return _normalize(i, j, 0)


@njit(cache=True, inline="always")
def _digit(h, r):
    return (h >> ((15 - r) * 3)) & 7


@njit(cache=True, inline="always")
def _set_digit(h, r, d):
    shift = (15 - r) * 3
    return (h & ~(7 << shift)) | (d << shift)


@njit(cache=True)
def _rotate(h, res, table):
    for r in range(1, res + 1):
        h = _set_digit(h, r, table[_digit(h, r)])
    return h


@njit(cache=True)
def _leading_digit(h, res):
    for r in range(1, res + 1):
        d = _digit(h, r)
        if d != 0:
            return d
    return 0


@njit(cache=True)
def _rotate_pent_ccw(h, res):
    found = False
    for r in range(1, res + 1):
        h = _set_digit(h, r, _ROTATE_CCW[_digit(h, r)])
        if not found and _digit(h, r) != 0:
            found = True
            # a pentagon has no k-axes sub-sequence: rotate out of it
            if _leading_digit(h, res) == _K_AXES_DIGIT:
                h = _rotate(h, res, _ROTATE_CCW)
    return h


@njit(cache=True)
def latlng_to_cell(lat, lng, res):
    """H3 cell (int64) of a point given in degrees, at resolution ``res`` (0..15).

    Returns 0 (H3_NULL) for a non-finite coordinate, like h3's error path.
    """
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return 0
    lat = lat * _DEG2RAD
    lng = lng * _DEG2RAD
    # closest icosahedron face
    cos_lat = math.cos(lat)
    vx = math.cos(lng) * cos_lat
    vy = math.sin(lng) * cos_lat
    vz = math.sin(lat)
    face = 0
    sqd = 5.0
    for f in range(20):
        dx = FACE_CENTER_POINT[f, 0] - vx
        dy = FACE_CENTER_POINT[f, 1] - vy
        dz = FACE_CENTER_POINT[f, 2] - vz
        d = dx * dx + dy * dy + dz * dz
        if d < sqd:
            face = f
            sqd = d
    # Gnomonic projection onto the face's tangent plane, q = p / (p.c) - c, read
    # in the face's hex2d axes: |q| = tan(angle to the centre) and the direction
    # of q is the azimuth, so this is h3's r = tan(angle), theta = azimuth from
    # the i-axis, without the trigonometry.
    cx = FACE_CENTER_POINT[face, 0]
    cy = FACE_CENTER_POINT[face, 1]
    cz = FACE_CENTER_POINT[face, 2]
    dot = vx * cx + vy * cy + vz * cz
    qx = vx / dot - cx
    qy = vy / dot - cy
    qz = vz / dot - cz
    cls = res % 2
    x = (qx * _AXES[face, cls, 0] + qy * _AXES[face, cls, 1] + qz * _AXES[face, cls, 2]) * _SCALE[
        res
    ]
    y = (qx * _AXES[face, cls, 3] + qy * _AXES[face, cls, 4] + qz * _AXES[face, cls, 5]) * _SCALE[
        res
    ]
    i, j, k = _hex2d_to_ijk(x, y)

    # Walk up to the base cell, one digit per resolution. Axial coordinates
    # (i - k, j - k) do not change under IJK normalisation, so the walk needs none:
    # parent = round(child / aperture 7), digit = child - centre of the parent.
    a = i - k
    b = j - k
    h = _CELL_HEADER | (res << 52)
    for rr in range(res, 0, -1):
        if rr % 2 == 1:  # Class III: counter-clockwise aperture 7
            pa = _round_seventh(3 * a - b)
            pb = _round_seventh(a + 2 * b)
            ca = 2 * pa + pb
            cb = 3 * pb - pa
        else:
            pa = _round_seventh(2 * a + b)
            pb = _round_seventh(3 * b - a)
            ca = 3 * pa - pb
            cb = pa + 2 * pb
        h = _set_digit(h, rr, _AXIAL_DIGIT[(a - ca + 1) * 3 + (b - cb + 1)])
        a = pa
        b = pb
    i, j, k = _normalize(a, b, 0)
    if i > 2 or j > 2 or k > 2:
        return 0
    slot = face * 27 + i * 9 + j * 3 + k
    base = FACE_IJK_BASE_CELL[slot]
    rots = FACE_IJK_CCW_ROT60[slot]
    h |= base << 45
    if PENTAGON[base]:
        if _leading_digit(h, res) == _K_AXES_DIGIT:
            if CW_OFFSET_FACES[base, 0] == face or CW_OFFSET_FACES[base, 1] == face:
                h = _rotate(h, res, _ROTATE_CW)
            else:
                h = _rotate(h, res, _ROTATE_CCW)
        for _ in range(rots):
            h = _rotate_pent_ccw(h, res)
    else:
        for _ in range(rots):
            h = _rotate(h, res, _ROTATE_CCW)
    return h


@njit(cache=True, parallel=True)
def latlng_to_cells(lat, lng, res):
    """H3 cells (int64 array) of arrays of points in degrees; 0 where not finite."""
    out = np.empty(lat.shape[0], dtype=np.int64)
    for n in prange(lat.shape[0]):
        out[n] = latlng_to_cell(lat[n], lng[n], res)
    return out
