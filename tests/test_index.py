"""ZoneIndex: exact against shapely ``covers`` on synthetic and real zones, inputs, errors."""

from __future__ import annotations

import pickle
from fractions import Fraction
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

import footfall as ff
from footfall.errors import IndexBuildError, InputError
from footfall.index._build import FINE_PER_DEG
from footfall.index._geometry import orient2d
from footfall.zones._set import PROPERTY_COLUMNS, ZoneSet

ZONES_DIR = Path(__file__).resolve().parents[1] / "zones"
# Zones near Alès (lon 4.08, lat 44.13): shapes that exercise every branch.
X0, Y0 = 4.08, 44.13


def _zoneset(geoms: list) -> ZoneSet:
    rows = pd.DataFrame(
        [
            {c: None for c in PROPERTY_COLUMNS} | {"zone_id": f"z{i:02d}", "name": f"zone {i}"}
            for i in range(len(geoms))
        ],
        columns=list(PROPERTY_COLUMNS),
    )
    return ZoneSet(gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326"))


def _synthetic() -> list:
    square = box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    disc = Point(X0 + 0.03, Y0).buffer(0.006, quad_segs=16)
    holed = Polygon(
        box(X0, Y0 + 0.02, X0 + 0.012, Y0 + 0.03).exterior.coords,
        [box(X0 + 0.004, Y0 + 0.024, X0 + 0.008, Y0 + 0.027).exterior.coords],
    )
    multi = MultiPolygon(
        [
            box(X0 + 0.02, Y0 + 0.02, X0 + 0.025, Y0 + 0.025),
            box(X0 + 0.03, Y0 + 0.02, X0 + 0.034, Y0 + 0.03),
        ]
    )
    # touches the square along its east edge (x = X0 + 0.01): shared boundary
    neighbour = box(X0 + 0.01, Y0, X0 + 0.015, Y0 + 0.005)
    star = Polygon(
        [
            (X0 - 0.02 + 0.008 * np.cos(a) * (1 + (k % 2)), Y0 + 0.008 * np.sin(a) * (1 + (k % 2)))
            for k, a in enumerate(np.linspace(0, 2 * np.pi, 16, endpoint=False))
        ]
    )
    return [square, disc, holed, multi, neighbour, star]


@pytest.fixture(scope="module")
def synthetic() -> ZoneSet:
    return _zoneset(_synthetic())


@pytest.fixture(scope="module")
def index(synthetic: ZoneSet) -> ff.ZoneIndex:
    return ff.ZoneIndex(synthetic)


def reference(zones: ZoneSet, lon, lat) -> np.ndarray:
    """Shapely covers, lowest zone row on a shared edge."""
    tree = shapely.STRtree(zones.gdf.geometry.to_numpy())
    p, z = tree.query(shapely.points(lon, lat), predicate="covered_by")
    out = np.full(len(lon), -1, dtype=np.int32)
    order = np.lexsort((-z, p))
    out[p[order]] = z[order]
    return out


def test_random_points_match_shapely(synthetic, index):
    rng = np.random.default_rng(1)
    n = 200_000
    lon = rng.uniform(X0 - 0.035, X0 + 0.045, n)
    lat = rng.uniform(Y0 - 0.015, Y0 + 0.035, n)
    got = index.assign(lon, lat)
    np.testing.assert_array_equal(got, reference(synthetic, lon, lat))
    assert set(np.unique(got)) == {-1, 0, 1, 2, 3, 4, 5}


def test_every_vertex_is_in_its_zone(synthetic, index):
    xy, row = shapely.get_coordinates(synthetic.gdf.geometry.to_numpy(), return_index=True)
    got = index.assign(xy[:, 0], xy[:, 1])
    # the neighbour's west vertices lie on the square's edge: the lower row wins
    np.testing.assert_array_equal(got, reference(synthetic, xy[:, 0], xy[:, 1]))
    assert np.all((got == row) | ((row == 4) & (got == 0)))


@pytest.mark.parametrize("offset", [1e-9, -1e-9, 1e-12, 0.0])
def test_points_next_to_edges_match_shapely(synthetic, index, offset):
    lon, lat = [], []
    for ring in shapely.get_rings(shapely.get_parts(synthetic.gdf.geometry.to_numpy())):
        xy = shapely.get_coordinates(ring)
        a, b = xy[:-1], xy[1:]
        t = np.linspace(0.05, 0.95, 7)[:, None, None]
        p = a + t * (b - a)
        normal = np.stack([-(b - a)[:, 1], (b - a)[:, 0]], axis=1)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        q = (p + offset * normal).reshape(-1, 2)
        lon.append(q[:, 0])
        lat.append(q[:, 1])
    lon, lat = np.concatenate(lon), np.concatenate(lat)
    np.testing.assert_array_equal(index.assign(lon, lat), reference(synthetic, lon, lat))


def test_boundary_is_inside_holes_are_outside(index):
    # exactly on edges (axis-aligned, so representable): covered
    assert index.assign(X0 + 0.005, Y0) == 0
    assert index.assign(X0, Y0 + 0.005) == 0
    # on the shared edge of square (row 0) and neighbour (row 4): the first row
    assert index.assign(X0 + 0.01, Y0 + 0.002) == 0
    assert index.assign(X0 + 0.0125, Y0 + 0.002) == 4
    # the hole of zone 2: its inside is out, its ring is in
    assert index.assign(X0 + 0.006, Y0 + 0.0255) == -1
    assert index.assign(X0 + 0.004, Y0 + 0.0255) == 2
    assert index.assign(X0 + 0.002, Y0 + 0.0255) == 2
    # both parts of the multipolygon, and the gap between them
    assert index.assign(X0 + 0.022, Y0 + 0.022) == 3
    assert index.assign(X0 + 0.032, Y0 + 0.028) == 3
    assert index.assign(X0 + 0.028, Y0 + 0.022) == -1


def test_bad_coordinates_give_minus_one(index):
    lon = np.array([np.nan, np.inf, -np.inf, X0 + 0.005, 200.0, X0 + 0.005, 1e308, -1e308])
    lat = np.array([Y0 + 0.005, Y0 + 0.005, Y0, np.nan, Y0 + 0.005, 95.0, Y0, -np.inf])
    np.testing.assert_array_equal(index.assign(lon, lat), np.full(8, -1))


def test_input_types(synthetic, index):
    lon = np.array([X0 + 0.005, X0 + 0.03, X0 - 1.0, X0 + 0.0051])
    lat = np.array([Y0 + 0.005, Y0, Y0, Y0 + 0.0049])
    want = reference(synthetic, lon, lat)
    assert list(want[:3]) == [0, 1, -1]
    for x, y in [
        (lon, lat),
        (lon.astype(np.float32), lat.astype(np.float32)),
        (pd.Series(lon), pd.Series(lat)),
        (list(lon), list(lat)),
        (pa.array(lon), pa.array(lat)),
        (pa.chunked_array([lon[:1], lon[1:]]), pa.chunked_array([lat[:3], lat[3:]])),
        (lon[::-1][::-1], lat[::-1][::-1]),  # non-contiguous views
    ]:
        got = index.assign(x, y)
        assert got.dtype == np.int32
        f32 = getattr(x, "dtype", None) == np.float32
        expect = (
            reference(synthetic, lon.astype(np.float32), lat.astype(np.float32)) if f32 else want
        )
        np.testing.assert_array_equal(got, expect)
    assert index.assign(X0 + 0.005, Y0 + 0.005) == 0
    assert isinstance(index.assign(X0 + 0.005, Y0 + 0.005), np.integer)
    assert index.assign(np.array([]), np.array([])).shape == (0,)
    assert index.assign([], []).dtype == np.int32
    # nulls in pandas and pyarrow are NaN: outside
    assert list(index.assign(pd.Series([X0 + 0.005, None]), pd.Series([Y0 + 0.005, None]))) == [
        0,
        -1,
    ]
    assert list(index.assign(pa.array([X0 + 0.005, None]), pa.array([Y0 + 0.005, 1.0]))) == [0, -1]


def test_large_float32_input_is_chunked(synthetic, index):
    rng = np.random.default_rng(3)
    n = (1 << 20) + 17
    lon = rng.uniform(X0 - 0.01, X0 + 0.02, n).astype(np.float32)
    lat = rng.uniform(Y0 - 0.01, Y0 + 0.02, n).astype(np.float32)
    got = index.assign(lon, lat)
    np.testing.assert_array_equal(got[-1000:], reference(synthetic, lon[-1000:], lat[-1000:]))
    np.testing.assert_array_equal(got, index.assign(lon.astype(np.float64), lat.astype(np.float64)))


def test_bad_input_is_a_clear_error(index):
    with pytest.raises(InputError, match="differ in length: 2 and 3"):
        index.assign([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="lon: not numeric"):
        index.assign(["a", "b"], [1.0, 2.0])
    with pytest.raises(InputError, match="lat: expected a 1-d array"):
        index.assign(np.zeros(4), np.zeros((2, 2)))


def test_overlapping_zones_are_refused():
    zones = _zoneset([box(X0, Y0, X0 + 0.01, Y0 + 0.01), box(X0 + 0.005, Y0, X0 + 0.02, Y0 + 0.01)])
    with pytest.raises(IndexBuildError, match="overlap.*z00 and z01"):
        ff.ZoneIndex(zones)


@pytest.mark.parametrize(
    ("geom", "reason"),
    [
        (Point(X0, Y0), "not a polygon"),
        (Polygon(), "empty"),
        (Polygon([(X0, Y0), (X0 + 0.01, Y0 + 0.01), (X0 + 0.01, Y0), (X0, Y0 + 0.01)]), "invalid"),
        (box(179.9, 0, 181, 1), "outside lon/lat range"),
    ],
)
def test_unusable_zones_are_refused(geom, reason):
    zones = _zoneset([box(X0, Y0, X0 + 0.01, Y0 + 0.01), geom])
    with pytest.raises(IndexBuildError, match=f"zone z01: .*{reason}"):
        ff.ZoneIndex(zones)


def test_pickle_is_small_and_equal(synthetic, index):
    blob = pickle.dumps(index)
    assert len(blob) < index.nbytes
    clone = pickle.loads(blob)
    assert clone.nbytes == index.nbytes and clone.resolution == index.resolution
    assert clone.cells.equals(index.cells)
    rng = np.random.default_rng(5)
    lon = rng.uniform(X0 - 0.03, X0 + 0.04, 10_000)
    lat = rng.uniform(Y0 - 0.01, Y0 + 0.03, 10_000)
    np.testing.assert_array_equal(clone.assign(lon, lat), index.assign(lon, lat))


def test_cells_cover_the_zones(synthetic, index):
    cells = index.cells
    assert list(cells.columns) == ["cell", "zone", "interior"]
    assert index.resolution == 11 and index.nbytes > 0 and index.build_seconds > 0
    geoms = synthetic.gdf.geometry.to_numpy()
    for cell, zone, interior in cells.sample(300, random_state=0).itertuples(index=False):
        poly = Polygon([(x, y) for y, x in h3.cell_to_boundary(h3.int_to_str(int(cell)))])
        if interior:
            assert geoms[zone].covers(poly)
        else:
            assert geoms[zone].buffer(1e-6).intersects(poly) and not geoms[zone].covers(poly)
    # the cell of every point of a zone is in the cover
    rng = np.random.default_rng(4)
    lon = rng.uniform(X0 - 0.035, X0 + 0.045, 20_000)
    lat = rng.uniform(Y0 - 0.015, Y0 + 0.035, 20_000)
    inside = reference(synthetic, lon, lat) >= 0
    res = index.resolution
    pairs = zip(lon[inside], lat[inside], strict=True)
    in_cover = {h3.str_to_int(h3.latlng_to_cell(y, x, res)) for x, y in pairs}
    assert in_cover <= set(cells["cell"].astype(np.int64))


def test_resolution_can_be_chosen(synthetic):
    coarse = ff.ZoneIndex(synthetic, resolution=9)
    rng = np.random.default_rng(2)
    lon = rng.uniform(X0 - 0.035, X0 + 0.045, 50_000)
    lat = rng.uniform(Y0 - 0.015, Y0 + 0.035, 50_000)
    np.testing.assert_array_equal(coarse.assign(lon, lat), reference(synthetic, lon, lat))
    with pytest.raises(ValueError, match="`resolution` was 16"):
        ff.ZoneIndex(synthetic, resolution=16)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(X0 - 0.035, X0 + 0.045, allow_nan=False),
            st.floats(Y0 - 0.015, Y0 + 0.035, allow_nan=False),
        ),
        min_size=1,
        max_size=50,
    ),
    st.sampled_from([0.0, 1e-9, -1e-9, 1e-15]),
)
def test_property_same_as_shapely(synthetic, index, points, jitter):
    # points, and the same points snapped onto zone vertices plus a tiny offset
    xy = np.array(points)
    verts = shapely.get_coordinates(synthetic.gdf.geometry.to_numpy())
    snapped = verts[np.arange(len(xy)) * 7 % len(verts)] + jitter
    lon = np.concatenate([xy[:, 0], snapped[:, 0]])
    lat = np.concatenate([xy[:, 1], snapped[:, 1]])
    np.testing.assert_array_equal(index.assign(lon, lat), reference(synthetic, lon, lat))


def _exact_orient(ax, ay, bx, by, cx, cy) -> int:
    f = Fraction
    det = (f(ax) - f(cx)) * (f(by) - f(cy)) - (f(ay) - f(cy)) * (f(bx) - f(cx))
    return (det > 0) - (det < 0)


def test_orient2d_is_exact_on_nearly_collinear_points():
    rng = np.random.default_rng(7)
    for _ in range(3000):
        a = rng.uniform(-5, 10, 2)
        b = a + rng.uniform(-0.01, 0.01, 2)
        t = rng.uniform(-0.5, 1.5)
        c = a + t * (b - a) + rng.choice([0, 1, -1]) * np.spacing(a) * rng.integers(0, 4, 2)
        got = orient2d(a[0], a[1], b[0], b[1], c[0], c[1])
        assert np.sign(got) == _exact_orient(a[0], a[1], b[0], b[1], c[0], c[1])


@pytest.mark.skipif(not any(ZONES_DIR.glob("*.geojson")), reason="no zone set in zones/")
def test_real_zone_set_matches_shapely():
    from footfall.bench import make_points

    zones = ff.read_zones(ZONES_DIR)
    index = ff.ZoneIndex(zones)
    assert index.nbytes < 200e6
    lon, lat = make_points(zones, 300_000, 0.4, seed=11)
    got = index.assign(lon, lat)
    assert (got >= 0).sum() > 1000
    np.testing.assert_array_equal(got, reference(zones, lon, lat))
    xy, row = shapely.get_coordinates(zones.gdf.geometry.to_numpy(), return_index=True)
    np.testing.assert_array_equal(index.assign(xy[:, 0], xy[:, 1]), row)


def test_concurrent_calls_from_threads(synthetic, index):
    # engines call assign from worker threads: results must not interfere
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    batches = [
        (rng.uniform(X0 - 0.035, X0 + 0.045, 20_000), rng.uniform(Y0 - 0.015, Y0 + 0.035, 20_000))
        for _ in range(8)
    ]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda b: index.assign(*b), batches))
    for (lon, lat), g in zip(batches, got, strict=True):
        np.testing.assert_array_equal(g, reference(synthetic, lon, lat))


def test_non_numeric_series_and_arrow_are_clear_errors(index):
    with pytest.raises(InputError, match="lat: not numeric"):
        index.assign(pd.Series([1.0]), pd.Series(["north"]))
    with pytest.raises(InputError, match="lon: not numeric"):
        index.assign(pa.chunked_array([["x"]]), pa.array([1.0]))


def test_empty_zone_set_assigns_nothing():
    index = ff.ZoneIndex(_zoneset([]))
    np.testing.assert_array_equal(index.assign([X0, np.nan], [Y0, 0.0]), [-1, -1])
    assert len(index.cells) == 0


def test_thin_neck_and_tiny_zone():
    # the neck (5e-8 deg wide) vanishes when the zone shrinks by the safety margin,
    # and the tiny zone is smaller than one H3 cell
    a = box(X0, Y0, X0 + 0.004, Y0 + 0.004)
    b = box(X0 + 0.006, Y0, X0 + 0.01, Y0 + 0.004)
    neck = box(X0 + 0.004, Y0 + 0.002, X0 + 0.006, Y0 + 0.002 + 5e-8)
    tiny = box(X0 + 0.02, Y0, X0 + 0.02 + 1e-5, Y0 + 1e-5)
    zones = _zoneset([shapely.union_all([a, neck, b]), tiny])
    index = ff.ZoneIndex(zones)
    rng = np.random.default_rng(8)
    lon = np.concatenate([rng.uniform(X0 - 0.001, X0 + 0.011, 50_000), [X0 + 0.005, X0 + 0.02]])
    lat = np.concatenate([rng.uniform(Y0 - 0.001, Y0 + 0.005, 50_000), [Y0 + 0.002, Y0]])
    lon = np.concatenate([lon, rng.uniform(X0 + 0.02 - 1e-5, X0 + 0.02 + 2e-5, 5000)])
    lat = np.concatenate([lat, rng.uniform(Y0 - 1e-5, Y0 + 2e-5, 5000)])
    got = index.assign(lon, lat)
    np.testing.assert_array_equal(got, reference(zones, lon, lat))
    assert got[50_000] == 0 and got[50_001] == 1 and (got == 1).sum() > 100


def test_points_on_cell_vertices_and_grid_lines(synthetic, index):
    # H3 cell corners and prefilter grid lines are where a point's cell is decided
    # by rounding; the safety margin must make either side give the right zone
    cells = index.cells["cell"].astype(np.int64).unique()[::5]
    corners = np.array([v for c in cells for v in h3.cell_to_boundary(h3.int_to_str(int(c)))])
    rng = np.random.default_rng(12)

    def on_lines(lo: float, hi: float, n: int) -> np.ndarray:
        # the grid origin is a multiple of 1/8 deg, so its lines are multiples of 1/1024
        return np.floor(rng.uniform(lo, hi, n) * FINE_PER_DEG) / FINE_PER_DEG

    n = 20_000
    lon = np.concatenate(
        [corners[:, 1], on_lines(X0 - 0.035, X0 + 0.045, n), rng.uniform(X0 - 0.035, X0 + 0.045, n)]
    )
    lat = np.concatenate(
        [corners[:, 0], rng.uniform(Y0 - 0.015, Y0 + 0.035, n), on_lines(Y0 - 0.015, Y0 + 0.035, n)]
    )
    assert len(corners) > 1000
    np.testing.assert_array_equal(index.assign(lon, lat), reference(synthetic, lon, lat))


def test_plain_geodataframe_in_another_crs(synthetic, index):
    # a bare GeoDataFrame (no zone_id) in Lambert-93 is reprojected to lon/lat
    # (without zone 4: reprojection turns its shared edge with zone 0 into a sliver)
    gdf = gpd.GeoDataFrame(geometry=synthetic.gdf.geometry.drop(4).to_crs("EPSG:2154"))
    gdf = gdf.reset_index(drop=True)
    other = ff.ZoneIndex(gdf)
    assert list(other.zone_ids) == list(range(len(gdf)))
    rng = np.random.default_rng(13)
    lon = rng.uniform(X0 - 0.035, X0 + 0.045, 20_000)
    lat = rng.uniform(Y0 - 0.015, Y0 + 0.035, 20_000)
    back = _zoneset(list(gdf.to_crs("EPSG:4326").geometry))
    np.testing.assert_array_equal(other.assign(lon, lat), reference(back, lon, lat))
