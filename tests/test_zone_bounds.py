"""Zones the index cannot hold (issue 12.11): validation names file, feature and bound;
the index refuses them fast, before allocating."""

from __future__ import annotations

import time
import tracemalloc

import geopandas as gpd
import pytest
import shapely

import footfall as ff
from common import ALES, collection, feature, polygon, square, write_json
from footfall.errors import IndexBuildError
from footfall.index import _build
from footfall.zones.validate import MAX_ABS_LAT, MAX_EXTENT_KM

# Fiji, drawn naively across the antimeridian: 179.9 E to 179.9 W.
ANTIMERIDIAN = [[179.9, -17.0], [-179.9, -17.0], [-179.9, -16.9], [179.9, -16.9], [179.9, -17.0]]
# A ring around the North Pole at 86 N, as four points a quarter turn apart.
POLAR = [[0.0, 86.0], [90.0, 86.0], [180.0, 86.0], [-90.0, 86.0], [0.0, 86.0]]
# A cap drawn with the ±180 meridians as its sides, up to the pole.
POLAR_BOX = [[-180.0, 80.0], [180.0, 80.0], [180.0, 90.0], [-180.0, 90.0], [-180.0, 80.0]]
# A 100 km square around Alès: 4 GB and 41 s of index before the fix.
SQUARE_100KM = square(*ALES, 50_000)

CASES = {
    "antimeridian": (ANTIMERIDIAN, "antimeridian", "180°"),
    "polar": (POLAR, "polar-cap", f"{MAX_ABS_LAT:g}°"),
    "polar-box": (POLAR_BOX, "polar-cap", f"{MAX_ABS_LAT:g}°"),
    "square": (SQUARE_100KM, "extent", f"bound of {MAX_EXTENT_KM:g} km"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_rejects_with_the_bound(tmp_path, case):
    ring, code, bound = CASES[case]
    # A sound zone beside it, away from the 100 km square.
    good = feature(polygon(square(6.0, 46.0, 500)), zone_id="30028-centre", insee="30028")
    path = write_json(tmp_path / "zones.geojson", collection(good, feature(polygon(ring))))
    report = ff.validate_zones(path)
    [problem] = [p for p in report.errors if p.code == code]
    assert problem.file == str(path) and problem.zone_id == "30007-centre"
    assert bound in problem.message
    assert f"zones.geojson: 30007-centre: error [{code}]" in str(problem)
    assert not [p for p in report.problems if p.zone_id == "30028-centre"]


def test_split_antimeridian_zone_passes(tmp_path):
    """The same place split at 180° (RFC 7946) is no antimeridian error."""
    east = [[179.9, -17.0], [180.0, -17.0], [180.0, -16.9], [179.9, -16.9], [179.9, -17.0]]
    west = [[-180.0, -17.0], [-179.9, -17.0], [-179.9, -16.9], [-180.0, -16.9], [-180.0, -17.0]]
    multi = {"type": "MultiPolygon", "coordinates": [[east], [west]]}
    report = ff.validate_zones(write_json(tmp_path / "z.geojson", collection(feature(multi))))
    assert not {p.code for p in report.errors} & {"antimeridian", "polar-cap", "extent"}


@pytest.mark.parametrize("case", list(CASES))
def test_index_fails_fast_without_allocating(case):
    ring, _, _ = CASES[case]
    zones = gpd.GeoDataFrame(
        {"zone_id": ["ales", f"bad-{case}"]},
        geometry=[shapely.Polygon(square(*ALES, 500)), shapely.Polygon(ring)]
        if case != "square"
        else [shapely.Polygon(square(4.8, 44.0, 500)), shapely.Polygon(ring)],
        crs="EPSG:4326",
    )
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(IndexBuildError, match=f"zone bad-{case}: ") as err:
            ff.ZoneIndex(zones)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0 and peak < 50e6, (elapsed, peak)
    if case == "square":
        assert "above the index memory budget" in str(err.value)
        assert "GiB" in str(err.value) and f"{MAX_EXTENT_KM:g} km a side" in str(err.value)


def test_memory_estimate_matches_the_measured_cost():
    # 100 km square: ~3.9 GiB estimated (the issue measured 4 GB); a 1 km² zone: a few MB.
    big = _build.grid_bytes(shapely.bounds(shapely.Polygon(SQUARE_100KM)))[0]
    small = _build.grid_bytes(shapely.bounds(shapely.Polygon(square(*ALES, 500))))[0]
    assert 3e9 < big < 5e9 and small < 5e6
    assert 0 < _build.memory_budget() <= _build.INDEX_MEMORY_BYTES


def test_h3_cover_refuses_too_fine_a_resolution():
    zones = gpd.GeoDataFrame(
        {"zone_id": ["z"]}, geometry=[shapely.Polygon(square(*ALES, 10_000))], crs="EPSG:4326"
    )
    with pytest.raises(IndexBuildError, match="resolution 15"):
        ff.ZoneIndex(zones, resolution=15)
