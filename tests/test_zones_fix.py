"""fix_zones: repairs in place, per-zone report, nothing dropped."""

from __future__ import annotations

import json
import shutil

import pytest
import shapely

import footfall as ff
from common import ALES, collection, feature, polygon, square, town, write_json
from footfall.errors import ZoneError


def fix_doc(tmp_path, doc, **kwargs):
    path = write_json(tmp_path / "z.geojson", doc)
    return path, ff.fix_zones(path, **kwargs)


def geometry_of(path, i=0):
    return shapely.geometry.shape(json.loads(path.read_text())["features"][i]["geometry"])


BOWTIE = polygon([[4.08, 44.12], [4.09, 44.13], [4.09, 44.12], [4.08, 44.13], [4.08, 44.12]])


@pytest.mark.parametrize(
    ("geometry", "change"),
    [
        (polygon(square(*ALES, 500)[:-1]), "closed 1 ring(s)"),
        (polygon(square(*ALES, 500)[::-1]), "rewound 1 ring(s)"),
        (BOWTIE, "made valid (Self-intersection"),
        (polygon([[x + 1e-8, y] for x, y in square(*ALES, 500)]), "rounded to 6 decimals"),
        (polygon([[*p, 120.0] for p in square(*ALES, 500)]), "dropped the third coordinate"),
        (
            polygon(square(*ALES, 500), [[4.08, 44.12], [4.08, 44.12], [4.08, 44.12]]),
            "dropped 1 ring(s)",
        ),
    ],
)
def test_each_repair_gives_a_valid_clean_zone(tmp_path, geometry, change):
    path, report = fix_doc(tmp_path, collection(feature(geometry)))
    assert report.ok and report.written == [path]
    [fix] = report.fixes
    assert fix.zone_id == "30007-centre"
    assert any(c.startswith(change) for c in fix.changes), fix.changes
    after = ff.validate_zones(path)
    assert after.ok and not after.warnings, str(after)
    # idempotent: a second run changes nothing
    again = ff.fix_zones(path)
    assert again.fixes == [] and again.written == []


def test_bowtie_keeps_both_triangles(data_dir, tmp_path):
    shutil.copy(data_dir / "zones" / "ales-bowtie.geojson", tmp_path)
    path = tmp_path / "ales-bowtie.geojson"
    before = shapely.geometry.shape(json.loads(path.read_text())["features"][0]["geometry"])
    assert ff.fix_zones(path).ok
    fixed = geometry_of(path)
    assert fixed.geom_type == "MultiPolygon" and len(fixed.geoms) == 2
    assert fixed.area == pytest.approx(shapely.make_valid(before).area, rel=1e-4)


def test_lambert93_reprojected_back(data_dir, repo_root, tmp_path):
    shutil.copy(data_dir / "zones" / "ales-lambert93.geojson", tmp_path)
    path = tmp_path / "ales-lambert93.geojson"
    report = ff.fix_zones(path)
    assert not report.ok and "Lambert-93" in report.failures[0].error
    assert path.read_bytes() == (data_dir / "zones" / "ales-lambert93.geojson").read_bytes()

    report = ff.fix_zones(path, from_crs="EPSG:2154")
    assert report.ok
    assert "reprojected from EPSG:2154" in report.fixes[0].changes
    original = geometry_of(repo_root / "zones" / "30007-ales.geojson")
    # cm-rounded Lambert-93 and back: every vertex within ~1e-6 degrees
    assert shapely.hausdorff_distance(geometry_of(path), original) < 2e-6
    assert ff.validate_zones(path).ok
    # running it again with the same option does not reproject twice
    assert ff.fix_zones(path, from_crs="EPSG:2154").fixes == []


def test_qgis_crs_member_is_used_and_dropped(data_dir, tmp_path):
    doc = json.loads((data_dir / "zones" / "ales-lambert93.geojson").read_text())
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}
    path = write_json(tmp_path / "qgis.geojson", doc)
    before = ff.validate_zones(path)
    assert {p.code for p in before.problems} == {"crs-member", "coordinates-range"}
    report = ff.fix_zones(path)
    assert report.ok
    zone, whole_file = report.fixes
    assert zone.changes[0] == "reprojected from EPSG:2154"
    assert whole_file.changes == ["dropped the legacy 'crs' member"]
    assert "crs" not in json.loads(path.read_text())
    after = ff.validate_zones(path)
    assert after.ok and not after.warnings


def test_unrepairable_zone_is_reported_and_file_left_as_is(tmp_path):
    doc = collection(
        feature(polygon(square(*ALES, 500)[::-1])),
        town("81004", 2.148, 43.929) | {"geometry": {"type": "Point", "coordinates": [2, 43]}},
    )
    path = write_json(tmp_path / "z.geojson", doc)
    before = path.read_bytes()
    report = ff.fix_zones(path)
    assert not report.ok
    assert [(f.zone_id, f.error is None) for f in report.fixes] == [
        ("30007-centre", True),
        ("81004-centre", False),
    ]
    assert "'Point'" in report.failures[0].error
    assert path.read_bytes() == before
    assert "NOT FIXED" in str(report)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (collection(feature() | {"geometry": None}), "geometry missing"),
        (collection(feature(polygon([[4.0, 44.0], [4.0, 44.0], [4.1, 44.0]]))), "no ring"),
        (collection(feature({"type": "Polygon", "coordinates": [[["x", 1]]]})), "malformed"),
        (collection(feature() | {"properties": 3}), "no properties"),
        (collection(["feature"]), "not a GeoJSON Feature"),
        ({"type": "Feature"}, "FeatureCollection"),
    ],
)
def test_unrepairable_cases(tmp_path, doc, reason):
    _, report = fix_doc(tmp_path, doc)
    assert not report.ok
    assert reason in report.failures[0].error


def test_canonical_rewrite_reported_per_file(tmp_path):
    path = tmp_path / "z.geojson"
    path.write_text(json.dumps(collection(feature()), indent=8))
    report = ff.fix_zones(path)
    assert [(f.zone_id, f.changes) for f in report.fixes] == [
        (None, ["rewritten in the canonical format"])
    ]
    assert json.loads(path.read_text()) == collection(feature())


def test_dry_run_writes_nothing(tmp_path):
    path, report = fix_doc(tmp_path, collection(feature(BOWTIE)), dry_run=True)
    assert report.fixes and report.written == []
    assert json.loads(path.read_text())["features"][0]["geometry"] == BOWTIE


def test_bad_crs_and_path(tmp_path):
    path = write_json(tmp_path / "z.geojson", collection(feature()))
    with pytest.raises(ZoneError, match="--from-crs 'EPSG:999999'"):
        ff.fix_zones(path, from_crs="EPSG:999999")
    with pytest.raises(ZoneError, match="no such file"):
        ff.fix_zones(tmp_path / "nope")


def test_report_json(tmp_path):
    _, report = fix_doc(tmp_path, collection(feature(BOWTIE)))
    data = json.loads(report.to_json())
    assert data["ok"] is True and data["fixes"][0]["zone_id"] == "30007-centre"
