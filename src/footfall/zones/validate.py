"""Validate zone files and zone sets: every problem, with file, zone_id and reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from footfall.errors import ZoneError
from footfall.zones._checks import (
    AREA_BOUNDS_KM2,
    MAX_ABS_LAT,
    MAX_EXTENT_KM,
    Problem,
    ValidationReport,
    _check_zones,
    _Zone,
    extent_km,
    extent_problem,
    find_overlaps,
    validate_zoneset,
)
from footfall.zones._coerce import GIS_SUFFIXES, as_zoneset
from footfall.zones._format import load_feature_collection

__all__ = [
    "declared_crs",
    "validate_zones",
    "validate_zoneset",
    "find_overlaps",
    "zone_files",
    "Problem",
    "ValidationReport",
    "AREA_BOUNDS_KM2",
    "MAX_EXTENT_KM",
    "MAX_ABS_LAT",
    "extent_problem",
    "extent_km",
]


def declared_crs(doc: dict) -> pyproj.CRS | None:
    """Return the CRS named by a legacy GeoJSON ``crs`` member (QGIS writes one), if any."""
    member = doc.get("crs")
    props = member.get("properties") if isinstance(member, dict) else None
    name = props.get("name") if isinstance(props, dict) else None
    if not isinstance(name, str):
        return None
    try:
        return pyproj.CRS.from_user_input(name)
    except pyproj.exceptions.CRSError:
        return None


def zone_files(path: str | Path) -> list[Path]:
    """List the zone files at ``path``: the file itself, or a directory's ``*.geojson``."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.geojson"))
        if not files:
            raise ZoneError(f"{path}: no *.geojson zone file in this directory")
        return files
    if not path.exists():
        raise ZoneError(f"{path}: no such file or directory")
    return [path]


def validate_zones(path: str | Path) -> ValidationReport:
    """Validate zone files, reporting every problem rather than stopping at the first.

    Parameters
    ----------
    path : str or Path
        A zone file or a directory of ``*.geojson`` zone files.

    Returns
    -------
    ValidationReport
        Errors: not JSON or not a FeatureCollection; geometry missing, empty
        or not a (Multi)Polygon; malformed coordinates; unclosed or too short
        rings; invalid geometry (with shapely's reason); coordinates outside
        WGS84 ranges (with a hint for Lambert-93 metres); missing or mistyped
        properties; duplicate ``zone_id``; overlapping zones; area outside
        :data:`AREA_BOUNDS_KM2`; rings crossing the antimeridian unsplit, polar
        caps, a bounding box over :data:`MAX_EXTENT_KM` a side (see
        :func:`extent_problem`). Warnings: clockwise exterior (or
        counter-clockwise interior) rings, more than 6 decimals, a legacy
        ``crs`` member.

    Raises
    ------
    ZoneError
        When ``path`` does not exist or holds no zone file.

    Notes
    -----
    The files are read as raw JSON because GeoJSON readers close rings
    silently.
    """
    report = ValidationReport()
    zones: list[_Zone] = []
    if Path(path).suffix.lower() in GIS_SUFFIXES and Path(path).is_file():
        # GeoPackage, GeoParquet...: read (ids, polygons) then checked like a ZoneSet.
        return validate_zoneset(as_zoneset(path))
    for file in zone_files(path):
        report.n_files += 1
        try:
            doc = load_feature_collection(file)
        except ZoneError as exc:
            code = "json" if "JSON file" in str(exc) else "feature-collection"
            report.problems.append(Problem(str(file), None, "error", code, _reason(exc, file)))
            continue
        if "crs" in doc:
            report.problems.append(
                Problem(
                    str(file),
                    None,
                    "warning",
                    "crs-member",
                    f"'crs' member {json.dumps(doc['crs'])} (removed by RFC 7946: coordinates "
                    "must be WGS84 lon/lat; `footfall zones fix` uses it and drops it)",
                )
            )
        for i, feat in enumerate(doc["features"]):
            zone = _raw_zone(str(file), i, feat, report.problems)
            if zone is not None:
                zones.append(zone)
    _check_zones(zones, report)
    return report


def _raw_zone(file: str, i: int, feat: Any, problems: list[Problem]) -> _Zone | None:
    def add(code: str, message: str, zid: str | None) -> None:
        problems.append(Problem(file, zid, "error", code, message))

    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        add("feature", f"feature #{i} is not a GeoJSON Feature", f"#{i}")
        return None
    props = feat.get("properties")
    zid = props.get("zone_id") if isinstance(props, dict) else None
    zid = zid if isinstance(zid, str) and zid else f"#{i}"
    if not isinstance(props, dict):
        add("property-missing", "no properties object", zid)
        props = {}
    gj = feat.get("geometry")
    geom = None
    if not isinstance(gj, dict):
        add("geometry-missing", "geometry missing (null or absent)", zid)
    elif gj.get("type") not in ("Polygon", "MultiPolygon"):
        add("geometry-type", f"geometry is {gj.get('type')!r}, not a Polygon or MultiPolygon", zid)
    else:
        geom = _raw_geometry(gj, lambda code, msg: add(code, msg, zid))
    return _Zone(file, zid, dict(props), geom)


def _raw_geometry(gj: dict, add) -> BaseGeometry | None:
    coords = gj.get("coordinates")
    polygons = [coords] if gj["type"] == "Polygon" else coords
    if not isinstance(polygons, list) or not all(isinstance(p, list) for p in polygons):
        add("coordinates", f"malformed coordinates for a {gj['type']}")
        return None
    if not polygons or not any(polygons):
        add("geometry-empty", "empty geometry (no coordinates)")
        return None
    ok = True
    for n_poly, rings in enumerate(polygons):
        for n_ring, ring in enumerate(rings):
            where = f"polygon {n_poly} ring {n_ring}" if len(polygons) > 1 else f"ring {n_ring}"
            if not _is_ring(ring):
                add("coordinates", f"{where}: malformed positions (need [lon, lat] numbers)")
                ok = False
                continue
            if len(ring) < 4 or len({tuple(p[:2]) for p in ring}) < 3:
                add("ring-too-short", f"{where}: {len(ring)} positions; a ring needs at least 4")
                ok = False
            elif ring[0][:2] != ring[-1][:2]:
                add("ring-unclosed", f"{where}: first position {ring[0]} != last {ring[-1]}")
    if not ok:
        return None
    try:
        # shapely closes unclosed rings itself: reported above, checked further.
        return shapely.geometry.shape(gj)
    except Exception as exc:  # noqa: BLE001 - any failure is a malformed geometry
        add("coordinates", f"unreadable geometry ({exc})")
        return None


def _is_ring(ring: Any) -> bool:
    return isinstance(ring, list) and all(
        isinstance(p, list)
        and len(p) in (2, 3)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
        for p in ring
    )


def _reason(exc: ZoneError, file: Path) -> str:
    return str(exc).removeprefix(f"{file}: ")


# -- checks shared by files and zone sets ----------------------------------------------
