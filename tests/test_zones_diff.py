"""diff_zones: added, removed, changed zones with area change and Hausdorff distance."""

from __future__ import annotations

import json
import math

import pytest

import footfall as ff
from common import ALES, collection, feature, polygon, square, town, write_json
from footfall.errors import ZoneError


def shifted(ring, metres_east):
    dlon = metres_east / (111_320.0 * math.cos(math.radians(ALES[1])))
    return [[round(x + dlon, 6), y] for x, y in ring]


def test_added_removed_changed(tmp_path):
    old = write_json(
        tmp_path / "old.geojson",
        collection(feature(), town("81004", 2.148, 43.929), town("62041", 2.777, 50.291)),
    )
    new = write_json(
        tmp_path / "new.geojson",
        collection(
            feature(polygon(shifted(square(*ALES, 500), 100)), population=41000),
            town("81004", 2.148, 43.929),
            town("64445", -0.37, 43.295),
        ),
    )
    diff = ff.diff_zones(old, new)
    assert diff.added == ["64445-centre"] and diff.removed == ["62041-centre"]
    assert diff.unchanged == 1
    [change] = diff.changed
    assert change.zone_id == "30007-centre"
    assert change.properties == {"population": [40219, 41000]}
    assert change.geometry_changed
    # a 1 km square moved 100 m east: same area, boundary moved by 100 m
    assert change.area_change_pct == pytest.approx(0, abs=0.01)
    assert change.hausdorff_m == pytest.approx(100, rel=0.01)
    text = str(diff)
    assert "+ 64445-centre" in text and "- 62041-centre" in text and "Hausdorff 100" in text
    assert text.splitlines()[-1] == "1 added, 1 removed, 1 changed, 1 unchanged"


def test_area_change_and_property_only_change(tmp_path):
    old = write_json(tmp_path / "a.geojson", collection(feature()))
    grown = feature(polygon(square(*ALES, 1000)), tourist=True)
    diff = ff.diff_zones(old, write_json(tmp_path / "b.geojson", collection(grown)))
    [change] = diff.changed
    assert change.area_change_pct == pytest.approx(300, rel=1e-3)  # side x2 -> area x4
    assert change.hausdorff_m == pytest.approx(500 * math.sqrt(2), rel=0.01)
    assert change.properties == {"tourist": [None, True]}

    only_props = collection(feature(metro_continuity=True))
    [change] = ff.diff_zones(old, write_json(tmp_path / "c.geojson", only_props)).changed
    assert not change.geometry_changed and change.hausdorff_m == 0


def test_same_shape_other_winding_or_start_is_unchanged(tmp_path):
    ring = square(*ALES, 500)
    rotated = ring[2:-1] + ring[:3]
    old = write_json(tmp_path / "a.geojson", collection(feature(polygon(ring))))
    new = write_json(tmp_path / "b.geojson", collection(feature(polygon(rotated[::-1]))))
    diff = ff.diff_zones(old, new)
    assert diff.empty and diff.unchanged == 1


def test_directories_and_json(repo_root, tmp_path):
    (tmp_path / "new").mkdir()
    for name in ("30007-ales.geojson", "81004-albi.geojson"):
        (tmp_path / "new" / name).write_bytes((repo_root / "zones" / name).read_bytes())
    diff = ff.diff_zones(repo_root / "zones", tmp_path / "new")
    assert diff.added == [] and diff.changed == [] and diff.unchanged == 2
    assert len(diff.removed) == len(ff.read_zones(repo_root / "zones")) - 2
    data = json.loads(diff.to_json())
    assert set(data) == {"added", "removed", "changed", "unchanged"}


def test_unreadable_side_raises(tmp_path):
    (tmp_path / "bad.geojson").write_text("{")
    with pytest.raises(ZoneError, match="bad.geojson"):
        ff.diff_zones(tmp_path / "bad.geojson", tmp_path / "bad.geojson")
