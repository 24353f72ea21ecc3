"""read_zones, ZoneSet and the canonical writer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import footfall as ff
from common import ALES, PROPS, collection, feature, polygon, square, town, write_json
from footfall.errors import ZoneError
from footfall.zones._format import format_zones, slugify, zone_filename

REAL = ["30007-ales.geojson", "64445-pau.geojson", "81004-albi.geojson", "62041-arras.geojson"]


def test_read_file_and_directory(tmp_path):
    write_json(tmp_path / "a.geojson", collection(town("62041", 2.777, 50.291)))
    write_json(tmp_path / "b.geojson", collection(town("81004", 2.148, 43.929), feature()))
    zones = ff.read_zones(tmp_path)
    assert list(zones.gdf["zone_id"]) == ["30007-centre", "62041-centre", "81004-centre"]
    assert list(zones.gdf.index) == [0, 1, 2]
    assert zones.gdf.crs.to_epsg() == 4326
    assert set(zones.gdf["source"]) == {"a.geojson", "b.geojson"}
    assert len(ff.read_zones(tmp_path / "a.geojson")) == 1


def test_hash_ignores_formatting_and_order(tmp_path):
    a, b = town("62041", 2.777, 50.291), feature()
    write_json(tmp_path / "one.geojson", collection(a, b))
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "x.geojson").write_text(json.dumps(collection(b, a), indent=4))
    h1, h2 = ff.read_zones(tmp_path / "one.geojson").hash, ff.read_zones(tmp_path / "two").hash
    assert h1 == h2
    write_json(tmp_path / "one.geojson", collection(a, feature(population=1)))
    assert ff.read_zones(tmp_path / "one.geojson").hash != h1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not a readable JSON file"),
        (json.dumps({"type": "Feature"}), "not a GeoJSON FeatureCollection"),
        (json.dumps({"type": "FeatureCollection", "features": 3}), "'features' list"),
        (json.dumps(collection([1, 2])), "feature #0: not a GeoJSON Feature"),
        (json.dumps(collection(feature(zone_id=None))), "'zone_id' missing"),
        (json.dumps(collection(feature(geometry=False))), "zone 30007-centre: geometry missing"),
        (
            json.dumps(collection(feature({"type": "Point", "coordinates": [4, 44]}))),
            "geometry is 'Point'",
        ),
        (json.dumps(collection(feature(polygon()))), "empty geometry"),
        (
            json.dumps(collection(feature({"type": "Polygon", "coordinates": [[[1, 2]]]}))),
            "unreadable geometry",
        ),
        (json.dumps(collection(feature(), feature())), "appears more than once"),
    ],
)
def test_read_rejects_malformed_files_with_file_and_reason(tmp_path, content, reason):
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    with pytest.raises(ZoneError, match=reason) as info:
        ff.read_zones(path)
    assert "bad.geojson" in str(info.value)


def test_read_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(ZoneError, match="no such file"):
        ff.read_zones(tmp_path / "nope")
    with pytest.raises(ZoneError, match="no \\*.geojson"):
        ff.read_zones(tmp_path)


def test_geometry_null_is_missing(tmp_path):
    path = write_json(tmp_path / "z.geojson", collection(feature() | {"geometry": None}))
    with pytest.raises(ZoneError, match="geometry missing"):
        ff.read_zones(path)


@pytest.mark.parametrize("name", REAL)
def test_committed_files_round_trip_byte_identical(repo_root, tmp_path, name):
    src = repo_root / "zones" / name
    ff.write_zones(ff.read_zones(src), tmp_path)
    assert (tmp_path / name).read_bytes() == src.read_bytes()


def test_single_file_round_trip_with_extras_multipolygon_and_holes(tmp_path):
    outer = square(*ALES, 600)
    hole = square(*ALES, 100)[::-1]  # clockwise hole (RFC 7946)
    multi = {
        "type": "MultiPolygon",
        "coordinates": [[outer, hole], [square(ALES[0] + 0.05, ALES[1], 200)]],
    }
    note = town("81004", 2.148, 43.929, note="redrawn by hand")
    path = write_json(tmp_path / "in.geojson", collection(feature(multi), note))
    ff.write_zones(ff.read_zones(path), tmp_path / "out.geojson")
    text = (tmp_path / "out.geojson").read_text()
    ff.write_zones(ff.read_zones(tmp_path / "out.geojson"), tmp_path / "again.geojson")
    assert (tmp_path / "again.geojson").read_text() == text
    doc = json.loads(text)
    assert doc["features"][0]["geometry"] == multi
    # extra property written on its zone only, after the standard ones
    assert "note" not in doc["features"][0]["properties"]
    assert list(doc["features"][1]["properties"])[-1] == "note"
    assert list(doc["features"][0]["properties"]) == list(PROPS)


def test_hand_edit_gives_one_line_diff(repo_root, tmp_path):
    shutil.copy(repo_root / "zones" / "30007-ales.geojson", tmp_path)
    zones = ff.read_zones(tmp_path)
    before = (tmp_path / "30007-ales.geojson").read_text().splitlines()
    geom = zones.gdf.geometry[0]
    ring = list(geom.exterior.coords)
    ring[5] = (ring[5][0] + 0.0001, ring[5][1])
    zones.gdf.loc[0, "geometry"] = shapely.Polygon(ring)
    ff.write_zones(zones, tmp_path)
    after = (tmp_path / "30007-ales.geojson").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1


def test_writer_format_details():
    ring = [[-0.0000001, 1.0], [1.0, 1.0], [1.0, 2.0], [-0.0000001, 1.0]]
    text = format_zones([(PROPS, shapely.Polygon(ring))])
    assert "-0.000000" not in text
    assert "[0.000000, 1.000000]" in text
    assert text.endswith("}\n")
    assert format_zones([]) == '{\n  "type": "FeatureCollection",\n  "features": [\n  ]\n}\n'
    with pytest.raises(ZoneError, match="cannot write a Point"):
        format_zones([(PROPS, shapely.Point(1, 2))])


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Alès", "ales"),
        ("Saint-Étienne-du-Rouvray", "saint-etienne-du-rouvray"),
        ("L'Haÿ-les-Roses", "l-hay-les-roses"),
        ("Cœur  d'Œuvre", "cur-d-uvre"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug
    assert zone_filename("2B033", name) == f"2B033-{slug}.geojson"


def test_write_by_town_needs_insee_and_name(tmp_path):
    zones = ff.read_zones(write_json(tmp_path / "z.geojson", collection(feature(insee=7))))
    with pytest.raises(ZoneError, match="30007-centre: needs string 'insee'"):
        ff.write_zones(zones, tmp_path / "out")


def test_flat_api_names_resolve():
    from footfall import zones

    for name in (
        "ZoneSet",
        "read_zones",
        "write_zones",
        "validate_zones",
        "fix_zones",
        "diff_zones",
        "build_zones",
    ):
        assert getattr(ff, name) is getattr(zones, name)


coordinate = st.floats(-179.999999, 179.999999, allow_nan=False).map(lambda v: round(v, 6))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=12))
def test_format_round_trip_is_stable(tmp_path_factory, points):
    geom = shapely.Polygon(points)  # validity does not matter to the writer
    text = format_zones([(PROPS, geom)])
    doc = json.loads(text)
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    # exact at 6 decimals, including signs and zeros
    assert ring == [[round(x, 6) + 0.0, round(y, 6) + 0.0] for x, y in geom.exterior.coords]
    path = tmp_path_factory.mktemp("rt") / "z.geojson"
    path.write_text(text)
    again = format_zones([(PROPS, shapely.geometry.shape(doc["features"][0]["geometry"]))])
    assert again == text
    assert ff.read_zones(path).gdf.geometry[0].equals_exact(geom, 0)


def test_default_zones_is_the_checkout_set_from_anywhere(tmp_path, monkeypatch):
    from footfall.zones import default_zones

    monkeypatch.chdir(tmp_path)
    found = default_zones()
    assert found.is_absolute() and (found / "30007-ales.geojson").exists()
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "x.geojson").write_text("{}")
    assert default_zones() == Path("zones")  # ./zones wins when it has zone files
