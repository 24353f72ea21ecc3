"""validate_zones, ZoneSet.validate and find_overlaps."""

from __future__ import annotations

import itertools
import json
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

import footfall as ff
from common import ALES, collection, feature, polygon, square, town, write_json
from footfall.errors import ZoneError
from footfall.zones._geo import geodesic_area
from footfall.zones.validate import AREA_BOUNDS_KM2, find_overlaps


def problems(report, severity=None):
    return {(p.zone_id, p.code) for p in report.problems if severity in (None, p.severity)}


def validate_doc(tmp_path, doc):
    return ff.validate_zones(write_json(tmp_path / "z.geojson", doc))


BOWTIE = polygon([[4.08, 44.12], [4.09, 44.13], [4.09, 44.12], [4.08, 44.13], [4.08, 44.12]])
CW = polygon(square(*ALES, 500)[::-1])
SHORT = polygon([[4.08, 44.12], [4.09, 44.13], [4.08, 44.12]])
UNCLOSED = polygon(square(*ALES, 500)[:-1])


@pytest.mark.parametrize(
    ("feat", "code", "in_message"),
    [
        (feature() | {"geometry": None}, "geometry-missing", "missing"),
        (feature(polygon()), "geometry-empty", "empty"),
        (feature({"type": "MultiPolygon", "coordinates": []}), "geometry-empty", "empty"),
        (feature({"type": "Point", "coordinates": ALES}), "geometry-type", "'Point'"),
        (feature({"type": "Polygon", "coordinates": [[["a", "b"]] * 4]}), "coordinates", "ring 0"),
        (feature({"type": "Polygon", "coordinates": 7}), "coordinates", "malformed"),
        (feature(UNCLOSED), "ring-unclosed", "first position"),
        (feature(SHORT), "ring-too-short", "3 positions"),
        (feature(BOWTIE), "geometry-invalid", "Self-intersection"),
        (feature(polygon(square(200.0, 44.0, 500))), "coordinates-range", "outside WGS84"),
        (feature(polygon(square(*ALES, 20))), "area", "outside the plausible range"),
        (feature(polygon(square(*ALES, 5000))), "area", "99.98 km²"),
        (feature(region=None), "property-missing", "'region'"),
        (feature(population="40219"), "property-type", "non-negative integer"),
        (feature(population=True), "property-type", "non-negative integer"),
        (feature(insee="3007"), "property-type", "5-character"),
        (feature(department="Gard"), "property-type", "department code"),
        (feature(metro_continuity="no"), "property-type", "true or false"),
        (feature(tourist="yes"), "property-type", "true, false or null"),
        (feature(name=""), "property-type", "non-empty string"),
    ],
)
def test_each_error_is_reported(tmp_path, feat, code, in_message):
    report = validate_doc(tmp_path, collection(feat))
    assert not report.ok
    [problem] = [p for p in report.errors if p.code == code]
    assert problem.zone_id == "30007-centre"
    assert problem.file.endswith("z.geojson")
    assert in_message in problem.message


def test_invalid_zone_is_not_also_reported_as_tiny(tmp_path):
    report = validate_doc(tmp_path, collection(feature(BOWTIE)))
    assert {p.code for p in report.problems} == {"geometry-invalid"}


def test_missing_property_key_and_properties_object(tmp_path):
    feat = feature()
    del feat["properties"]["population"]
    no_props = {"type": "Feature", "properties": None, "geometry": polygon(square(5, 45, 500))}
    report = validate_doc(tmp_path, collection(feat, no_props))
    assert ("30007-centre", "property-missing") in problems(report)
    # a feature without properties is named by its position
    assert sum(p.zone_id == "#1" and p.code == "property-missing" for p in report.problems) >= 8


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("{oops", "json"),
        (json.dumps({"type": "Feature"}), "feature-collection"),
        (json.dumps(collection("x")), "feature"),
    ],
)
def test_file_level_errors(tmp_path, content, code):
    (tmp_path / "z.geojson").write_text(content)
    report = ff.validate_zones(tmp_path / "z.geojson")
    assert [p.code for p in report.errors] == [code]


def test_warnings_do_not_fail(tmp_path):
    ring = square(*ALES, 500)
    ring[1] = [ring[1][0] + 1.5e-7, ring[1][1]]
    report = validate_doc(tmp_path, collection(feature(CW), town("81004", 2.148, 43.929)))
    assert report.ok
    assert problems(report, "warning") == {("30007-centre", "orientation")}
    hole_ccw = polygon(square(*ALES, 500), square(*ALES, 100))
    report = validate_doc(tmp_path, collection(feature(polygon(ring)), town("81004", 2.1, 43.9)))
    assert problems(report, "warning") == {("30007-centre", "precision")}
    report = validate_doc(tmp_path, collection(feature(hole_ccw)))
    assert problems(report, "warning") == {("30007-centre", "orientation")}


def test_lambert93_fixture_gets_a_hint(data_dir):
    report = ff.validate_zones(data_dir / "zones" / "ales-lambert93.geojson")
    [problem] = report.errors
    assert problem.code == "coordinates-range"
    assert "Lambert-93" in problem.message and "--from-crs EPSG:2154" in problem.message


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    write_json(tmp_path / "broken.geojson", "not a collection")
    (tmp_path / "notjson.geojson").write_text("[")
    write_json(
        tmp_path / "z.geojson",
        collection(
            feature(BOWTIE, zone_id="a", population="x"),
            feature(UNCLOSED, zone_id="b"),
            feature(zone_id="c"),  # the 1 km² square of Alès ...
            feature(polygon(square(ALES[0] + 0.001, ALES[1], 500)), zone_id="d"),  # ... overlapped
            feature(zone_id="e") | {"geometry": None},
        ),
    )
    write_json(tmp_path / "y.geojson", collection(town("81004", 2.148, 43.929, zone_id="c")))
    report = ff.validate_zones(tmp_path)
    assert report.n_files == 4 and report.n_zones == 6
    assert problems(report) >= {
        (None, "feature-collection"),
        (None, "json"),
        ("a", "geometry-invalid"),
        ("a", "property-type"),
        ("b", "ring-unclosed"),
        ("c", "zone-id-duplicate"),
        ("c", "overlap"),
        ("e", "geometry-missing"),
    }
    text = str(report)
    assert text.splitlines()[-1] == report.summary()
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["errors"] == len(report.errors)
    assert {"file", "zone_id", "severity", "code", "message"} == set(data["problems"][0])


def test_overlap_touching_and_duplicate(tmp_path):
    lon, lat = ALES
    left = square(lon, lat, 500)
    # the right square shares the left one's east edge exactly: touching is fine
    dx = left[1][0] - left[0][0]
    right = [[x + dx, y] for x, y in left]
    doc = collection(feature(polygon(left), zone_id="a"), feature(polygon(right), zone_id="b"))
    assert validate_doc(tmp_path, doc).ok
    shifted = [[x + dx * 0.9, y] for x, y in left]
    doc = collection(feature(polygon(left), zone_id="a"), feature(polygon(shifted), zone_id="b"))
    [problem] = validate_doc(tmp_path, doc).errors
    assert (problem.zone_id, problem.code) == ("a", "overlap")
    assert "overlaps zone b" in problem.message
    area = float(re.search(r"over ([0-9.]+) m²", problem.message).group(1))
    assert area == pytest.approx(1e5, rel=1e-3)  # a 100 m x 1000 m strip


def test_zoneset_validate_matches_file_validation(tmp_path):
    doc = collection(
        feature(BOWTIE, zone_id="a"),
        feature(CW, zone_id="b"),
        feature(polygon(square(ALES[0] + 0.002, ALES[1], 500)), zone_id="c"),
        feature(zone_id="d", population=-3),
    )
    path = write_json(tmp_path / "z.geojson", doc)
    from_file = problems(ff.validate_zones(path))
    zones = ff.read_zones(path)
    assert problems(zones.validate()) == from_file
    assert all(p.file == "z.geojson" for p in zones.validate().problems)


def test_validate_bad_path(tmp_path):
    with pytest.raises(ZoneError, match="no such file"):
        ff.validate_zones(tmp_path / "missing")


def test_area_bounds_are_documented_values():
    assert AREA_BOUNDS_KM2 == (0.01, 50.0)


# -- find_overlaps against brute force --------------------------------------------


def random_squares(seed, n=40):
    rng = np.random.default_rng(seed)
    lon = ALES[0] + rng.uniform(-0.03, 0.03, n)
    lat = ALES[1] + rng.uniform(-0.02, 0.02, n)
    half = rng.uniform(100, 900, n)
    return [shapely.Polygon(square(x, y, h)) for x, y, h in zip(lon, lat, half, strict=True)]


@pytest.mark.parametrize("seed", range(5))
def test_find_overlaps_matches_brute_force(seed):
    geoms = random_squares(seed)
    ids = [f"z{i:02d}" for i in range(len(geoms))]
    gdf = gpd.GeoDataFrame({"zone_id": ids}, geometry=geoms, crs="EPSG:4326")
    expected = {}
    for i, j in itertools.combinations(range(len(geoms)), 2):
        inter = geoms[i].intersection(geoms[j])
        if inter.area > 0:
            expected[(ids[i], ids[j])] = geodesic_area(inter)
    found = find_overlaps(gdf)
    assert [(a, b) for a, b, _ in found] == sorted(expected)
    for a, b, area in found:
        assert area == pytest.approx(expected[(a, b)], rel=1e-9)


def test_find_overlaps_accepts_zoneset_and_index_labels(repo_root):
    zones = ff.read_zones(repo_root / "zones" / "30007-ales.geojson")
    assert find_overlaps(zones) == []
    geoms = random_squares(1, 5)
    gdf = gpd.GeoDataFrame(geometry=geoms + geoms[:1], crs="EPSG:4326")
    assert ("0", "5", pytest.approx(geodesic_area(geoms[0]))) in find_overlaps(gdf)
    assert ("0", "5") in [pair[:2] for pair in find_overlaps(gdf.to_crs(2154))]
