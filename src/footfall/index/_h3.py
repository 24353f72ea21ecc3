"""H3 ``latLngToCell`` ported to numba: the per-point cell of the zone index.

A line-by-line port of the h3 C library's encoder (geo -> closest icosahedron
face -> gnomonic hex2d -> IJK -> one digit per resolution -> base cell and
rotations, with the pentagon rules), so that the index can look up the H3 cell
of each point inside compiled, parallel loops. It equals h3-py cell for cell
(tests/test_h3_numba.py; the benchmark checks millions of points).
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
_TWO_PI = 6.28318530717958647692528676655900576839433
_EPSILON = 0.0000000000000001
_AP7_ROT_RADS = 0.333473172251832115336090755351601070065900389
_RES0_U_GNOMONIC = 0.38196601125010500003
_SQRT7 = 2.6457513110645905905016157536392604257102
_RSIN60 = 1.1547005383792515290182975610039149112953
_ONE_SEVENTH = 0.14285714285714285714285714285714285

# Cell index layout: mode (bits 59-62), resolution (52-55), base cell (45-51),
# then fifteen 3-bit digits, unused ones set to 7.
_CELL_HEADER = (1 << 59) | ((1 << 45) - 1)
_K_AXES_DIGIT = 1
_ROTATE_CCW = np.array([0, 5, 3, 1, 6, 4, 2], dtype=np.int64)
_ROTATE_CW = np.array([0, 3, 6, 2, 5, 1, 4], dtype=np.int64)

_FACE_SIN_LAT = np.sin(FACE_CENTER_GEO[:, 0])
_FACE_COS_LAT = np.cos(FACE_CENTER_GEO[:, 0])


@njit(cache=True, inline="always")
def _pos_angle(rads):
    tmp = rads + _TWO_PI if rads < 0.0 else rads
    if rads >= _TWO_PI:
        tmp -= _TWO_PI
    return tmp


@njit(cache=True, inline="always")
def _lround(x):
    # Half away from zero, as C's lround; x is never exactly .5 here (a multiple of 1/7).
    return int(x + 0.5) if x >= 0.0 else -int(0.5 - x)


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
    # gnomonic projection onto the face, in hex2d units of resolution res
    r = math.acos(1.0 - sqd / 2.0)
    if r < _EPSILON:
        x = 0.0
        y = 0.0
    else:
        dlng = lng - FACE_CENTER_GEO[face, 1]
        az = math.atan2(
            cos_lat * math.sin(dlng),
            _FACE_COS_LAT[face] * vz - _FACE_SIN_LAT[face] * cos_lat * math.cos(dlng),
        )
        theta = _pos_angle(FACE_AXIS_AZ0[face] - _pos_angle(az))
        if res % 2 == 1:
            theta = _pos_angle(theta - _AP7_ROT_RADS)
        r = math.tan(r) / _RES0_U_GNOMONIC
        for _ in range(res):
            r *= _SQRT7
        x = r * math.cos(theta)
        y = r * math.sin(theta)
    i, j, k = _hex2d_to_ijk(x, y)

    # walk up to the base cell, one digit per resolution
    h = _CELL_HEADER | (res << 52)
    for rr in range(res, 0, -1):
        li, lj, lk = i, j, k
        ii = i - k
        jj = j - k
        if rr % 2 == 1:  # class III: counter-clockwise aperture 7
            i = _lround((3 * ii - jj) * _ONE_SEVENTH)
            j = _lround((ii + 2 * jj) * _ONE_SEVENTH)
            i, j, k = _normalize(i, j, 0)
            ci, cj, ck = _normalize(3 * i + j, 3 * j + k, i + 3 * k)
        else:
            i = _lround((2 * ii + jj) * _ONE_SEVENTH)
            j = _lround((3 * jj - ii) * _ONE_SEVENTH)
            i, j, k = _normalize(i, j, 0)
            ci, cj, ck = _normalize(3 * i + k, i + 3 * j, j + 3 * k)
        di, dj, dk = _normalize(li - ci, lj - cj, lk - ck)
        # a normalized unit vector (i, j, k) is the digit 4i + 2j + k
        h = _set_digit(h, rr, di * 4 + dj * 2 + dk)
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
