"""The numba port of h3's latLngToCell equals h3-py cell for cell."""

from __future__ import annotations

import h3
import numpy as np
import pytest

from footfall.index._h3 import latlng_to_cells
from footfall.index._h3tables import FACE_CENTER_POINT


def h3py(lat: np.ndarray, lng: np.ndarray, res: int) -> np.ndarray:
    pairs = zip(lat.tolist(), lng.tolist(), strict=True)
    return np.array([h3.str_to_int(h3.latlng_to_cell(a, b, res)) for a, b in pairs], np.int64)


def assert_same(lat: np.ndarray, lng: np.ndarray, res: int) -> None:
    ours = latlng_to_cells(lat, lng, res)
    ref = h3py(lat, lng, res)
    bad = np.flatnonzero(ours != ref)
    assert len(bad) == 0, [(lat[i], lng[i], hex(ours[i]), hex(ref[i])) for i in bad[:5]]


def uniform_sphere(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    return lat, rng.uniform(-180.0, 180.0, n)


@pytest.mark.parametrize("res", range(16))
def test_random_points_worldwide(res):
    n = 300_000 if res in (10, 11, 12) else 100_000
    lat, lng = uniform_sphere(n, seed=res)
    assert_same(lat, lng, res)


def around(lat0: float, lng0: float, n: int, rng: np.random.Generator):
    # distances from 1e-7 to 5 degrees, log-uniform, in every direction
    d = 10 ** rng.uniform(-7, np.log10(5), n)
    a = rng.uniform(0, 2 * np.pi, n)
    lat = np.clip(lat0 + d * np.sin(a), -90, 90)
    lng = (lng0 + d * np.cos(a) / max(np.cos(np.radians(lat0)), 1e-3) + 180) % 360 - 180
    return lat, lng


@pytest.mark.parametrize("res", [0, 1, 2, 5, 8, 9, 10, 11, 12, 13, 15])
def test_near_pentagons(res):
    rng = np.random.default_rng(100 + res)
    parts = [around(*h3.cell_to_latlng(p), 4000, rng) for p in h3.get_pentagons(res)]
    lat = np.concatenate([p[0] for p in parts])
    lng = np.concatenate([p[1] for p in parts])
    assert_same(lat, lng, res)


@pytest.mark.parametrize("res", [0, 3, 7, 10, 11, 12, 14])
def test_near_icosahedron_face_edges(res):
    # points equidistant from two neighbouring face centres, plus a tiny jitter
    rng = np.random.default_rng(200 + res)
    c = FACE_CENTER_POINT
    lat, lng = [], []
    for f in range(20):
        for g in range(f + 1, 20):
            if np.linalg.norm(c[f] - c[g]) > 0.8:  # not neighbours
                continue
            mid = (c[f] + c[g]) / np.linalg.norm(c[f] + c[g])
            along = np.cross(c[f], c[g])
            along /= np.linalg.norm(along)
            t = rng.uniform(-0.35, 0.35, 2000)
            p = mid[None] * np.cos(t)[:, None] + along[None] * np.sin(t)[:, None]
            # ~6 mm off the edge: a point exactly on it is also on a res-0 cell
            # boundary, where either neighbouring cell is a right answer
            p += rng.normal(0, 1e-9, p.shape)
            lat.append(np.degrees(np.arcsin(np.clip(p[:, 2] / np.linalg.norm(p, axis=1), -1, 1))))
            lng.append(np.degrees(np.arctan2(p[:, 1], p[:, 0])))
    assert len(lat) == 30  # an icosahedron has 30 edges
    assert_same(np.concatenate(lat), np.concatenate(lng), res)


def test_special_points():
    lat = np.array([90.0, -90.0, 0.0, 0.0, 45.0, -45.0, 89.999999, 0.0])
    lng = np.array([0.0, 0.0, 180.0, -180.0, 179.9999999, -180.0, 123.0, 0.0])
    for res in (0, 5, 11, 15):
        assert_same(lat, lng, res)
    # out-of-range latitudes and longitudes wrap in h3 as in the port
    assert_same(np.array([100.0, -95.0, 10.0]), np.array([10.0, 400.0, -1000.0]), 9)
    bad = latlng_to_cells(np.array([np.nan, 1.0, np.inf]), np.array([1.0, np.nan, 0.0]), 9)
    np.testing.assert_array_equal(bad, 0)
