"""Checks of zones in memory (geometry, properties, duplicates, overlaps, areas).

Below :class:`~footfall.zones.ZoneSet` (whose ``validate`` calls
:func:`validate_zoneset`): this module imports no module that needs the ZoneSet.
File-level validation (JSON, rings, GIS files) is :mod:`footfall.zones.validate`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from footfall.zones._format import DECIMALS, plain_value
from footfall.zones._geo import geodesic_area
from footfall.zones._schema import PROPERTY_COLUMNS

#: Plausible area of a town-centre zone, in km²: below, a sliver or a unit
#: mistake; above, a whole commune or a projection mistake.
AREA_BOUNDS_KM2 = (0.01, 50.0)

#: Largest side of a zone's bounding box, in km. A town centre spans a few km; the
#: zone index's memory grows with the square of the extent (about 200 bytes per
#: 1/4096-degree grid cell of the box: 0.35 GB at 30 km, 4 GB for a 100 km square).
MAX_EXTENT_KM = 30.0
#: Zones must lie between these latitudes (south and north): near a pole lon/lat
#: boxes degenerate, and a ring around a pole is not a polygon in lon/lat.
MAX_ABS_LAT = 85.0

Severity = Literal["error", "warning"]

_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
_DEPARTMENT = re.compile(r"^(\d{2}|2[AB]|97\d)$")
# Lambert-93 (EPSG:2154) easting/northing of France, in metres.
_LAMBERT93_X = (-400_000.0, 1_400_000.0)
_LAMBERT93_Y = (6_000_000.0, 7_200_000.0)


@dataclass(frozen=True)
class Problem:
    """One problem found in a zone file or zone set.

    Attributes
    ----------
    file : str
        The file (or ``<memory>`` for zones not read from disk).
    zone_id : str or None
        The zone, or None for file-level problems (``#<n>`` when the feature
        has no usable ``zone_id``: its position in the file).
    severity : {"error", "warning"}
    code : str
        A stable short code, e.g. ``geometry-invalid`` or ``overlap``.
    message : str
        The reason, with the offending value.
    """

    file: str
    zone_id: str | None
    severity: Severity
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.zone_id}" if self.zone_id else self.file
        return f"{where}: {self.severity} [{self.code}] {self.message}"


@dataclass
class ValidationReport:
    """Every problem found by a validation, errors and warnings.

    Attributes
    ----------
    problems : list of Problem
        In file order, then feature order, then set-level problems.
    n_files, n_zones : int
        What was checked.
    """

    problems: list[Problem] = field(default_factory=list)
    n_files: int = 0
    n_zones: int = 0

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity ``error``."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems of severity ``warning``."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def summary(self) -> str:
        """One line: what was checked and how many errors and warnings."""
        return (
            f"{self.n_zones} zones in {self.n_files} files: "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the ``--json`` output)."""
        return {
            "ok": self.ok,
            "files": self.n_files,
            "zones": self.n_zones,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [asdict(p) for p in self.problems],
        }

    def to_json(self) -> str:
        """Return the report as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def __str__(self) -> str:
        return "\n".join([*map(str, self.problems), self.summary()])


@dataclass
class _Zone:
    file: str
    zone_id: str
    props: dict[str, Any]
    geom: BaseGeometry | None


def validate_zoneset(zones: Any) -> ValidationReport:
    """Validate zones in memory (geometry, properties, duplicates, overlaps, areas).

    Parameters
    ----------
    zones : ZoneSet or GeoDataFrame

    Returns
    -------
    ValidationReport
        As :func:`validate_zones`, less the checks that need the raw files
        (JSON syntax, ring closure).
    """
    gdf = getattr(zones, "gdf", zones)  # a ZoneSet or a GeoDataFrame
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    sources = gdf["source"] if "source" in gdf.columns else ["<memory>"] * len(gdf)
    props = gdf.drop(columns=[gdf.geometry.name], errors="ignore")
    items = []
    for (_, row), geom, source in zip(props.iterrows(), gdf.geometry, sources, strict=True):
        p = {k: plain_value(v) for k, v in row.items() if k not in ("source", "area_km2")}
        p = {k: v for k, v in p.items() if v is not None or k == "tourist"}
        zid = p.get("zone_id") if isinstance(p.get("zone_id"), str) else f"#{len(items)}"
        items.append(_Zone(str(source), zid, p, geom))
    report = ValidationReport(n_files=len(set(sources)))
    _check_zones(items, report)
    return report


def find_overlaps(zones: Any) -> list[tuple[str, str, float]]:
    """Pairs of zones whose interiors intersect (touching is fine).

    Parameters
    ----------
    zones : ZoneSet or GeoDataFrame
        Zones in lon/lat; a GeoDataFrame without a ``zone_id`` column is
        labelled by its index.

    Returns
    -------
    list of (str, str, float)
        ``(zone_id a, zone_id b, overlap area in m²)`` with ``a < b``, sorted.
        The area is geodesic (WGS84 ellipsoid); it can be tiny but is
        positive as soon as the interiors share any area.
    """
    gdf = getattr(zones, "gdf", zones)  # a ZoneSet or a GeoDataFrame
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    labels = gdf["zone_id"] if "zone_id" in gdf.columns else gdf.index
    labels = [str(v) for v in labels]
    out = []
    for i, j, area in _overlap_pairs(gdf.geometry.to_numpy()):
        a, b = sorted((labels[i], labels[j]))
        out.append((a, b, area))
    return sorted(out)


def _overlap_pairs(geoms: np.ndarray) -> list[tuple[int, int, float]]:
    geoms = np.asarray(geoms, dtype=object)
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    # relate() needs valid input; invalid zones are reported on their own.
    fixed = np.where(usable & ~shapely.is_valid(geoms), shapely.make_valid(geoms), geoms)
    fixed = np.where(usable, fixed, None)
    tree = shapely.STRtree(fixed)
    left, right = tree.query(fixed, predicate="intersects")
    pairs = []
    for i, j in zip(left, right, strict=True):
        # "2********": the interiors share a 2-D part (exact predicate, no area tolerance).
        if i < j and shapely.relate_pattern(fixed[i], fixed[j], "2********"):
            area = geodesic_area(shapely.intersection(fixed[i], fixed[j]))
            pairs.append((int(i), int(j), area))
    return pairs


# -- raw JSON checks -------------------------------------------------------------------


def _check_zones(zones: Sequence[_Zone], report: ValidationReport) -> None:
    report.n_zones = len(zones)
    usable = []
    for zone in zones:
        problems = _zone_problems(zone)
        report.problems.extend(problems)
        if zone.geom is not None and not any(
            p.code
            in ("geometry-type", "geometry-empty", "coordinates-range", "antimeridian", "polar-cap")
            for p in problems
        ):
            usable.append(zone)

    files_of = defaultdict(list)
    for zone in zones:
        files_of[zone.zone_id].append(zone.file)
    for zone in zones:
        files = files_of[zone.zone_id]
        if len(files) > 1 and not zone.zone_id.startswith("#"):
            report.problems.append(
                Problem(
                    zone.file,
                    zone.zone_id,
                    "error",
                    "zone-id-duplicate",
                    f"zone_id used {len(files)} times (in {', '.join(sorted(set(files)))})",
                )
            )

    lo, hi = AREA_BOUNDS_KM2
    for zone in usable:
        # The area of the valid form: a bow-tie's signed area would cancel out.
        km2 = geodesic_area(shapely.make_valid(zone.geom)) / 1e6
        if not lo <= km2 <= hi:
            report.problems.append(
                Problem(
                    zone.file,
                    zone.zone_id,
                    "error",
                    "area",
                    f"area {km2:.4g} km² is outside the plausible range {lo}-{hi} km²",
                )
            )

    for i, j, area in _overlap_pairs(np.array([z.geom for z in usable], dtype=object)):
        a, b = usable[i], usable[j]
        report.problems.append(
            Problem(
                a.file,
                a.zone_id,
                "error",
                "overlap",
                f"overlaps zone {b.zone_id} ({b.file}) over {area:.1f} m²",
            )
        )


def _zone_problems(zone: _Zone) -> list[Problem]:
    out: list[Problem] = []

    def add(code: str, message: str, severity: Severity = "error") -> None:
        out.append(Problem(zone.file, zone.zone_id, severity, code, message))

    _check_properties(zone.props, add)
    geom = zone.geom
    if geom is None:
        return out
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        add("geometry-type", f"geometry is a {geom.geom_type}, not a Polygon or MultiPolygon")
        return out
    if geom.is_empty:
        add("geometry-empty", "empty geometry")
        return out
    xy = shapely.get_coordinates(geom)
    if _out_of_range(xy).any():
        add("coordinates-range", _range_message(xy))
        return out
    extent = extent_problem(geom)
    if extent is not None:
        add(*extent)
        if extent[0] != "extent":
            return out
    if not shapely.is_valid(geom):
        add("geometry-invalid", f"invalid geometry: {shapely.is_valid_reason(geom)}")
    if _excess_decimals(xy):
        add("precision", f"coordinates have more than {DECIMALS} decimals", "warning")
    wrong = _misoriented_rings(geom)
    if wrong:
        add(
            "orientation",
            f"{wrong} ring(s) wound the wrong way (RFC 7946: exterior counter-clockwise, "
            "holes clockwise)",
            "warning",
        )
    return out


def extent_km(bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    """Width and height in km of a lon/lat box (width at its middle latitude)."""
    xmin, ymin, xmax, ymax = bounds
    mid = np.radians((ymin + ymax) / 2)
    return float((xmax - xmin) * 111.32 * np.cos(mid)), float((ymax - ymin) * 110.57)


def extent_problem(geom: BaseGeometry) -> tuple[str, str] | None:
    """Why a zone's extent is not a town centre the index can hold, or None.

    Parameters
    ----------
    geom : shapely geometry
        A (Multi)Polygon in WGS84 lon/lat, coordinates in range.

    Returns
    -------
    tuple of (code, reason) or None
        ``polar-cap``: a ring winds around a pole, or the zone goes beyond
        ±:data:`MAX_ABS_LAT` latitude; ``antimeridian``: a ring has an edge longer
        than 180° of longitude, i.e. it crosses the antimeridian without being split
        (RFC 7946 §3.1.9); ``extent``: the bounding box is wider or taller than
        :data:`MAX_EXTENT_KM`. Each reason names the bound.
    """
    rings = shapely.get_rings(shapely.get_parts(geom))
    xmin, ymin, xmax, ymax = geom.bounds
    lat = max(abs(ymin), abs(ymax))
    for n, ring in enumerate(rings):
        xy = shapely.get_coordinates(ring)
        step = np.diff(xy[:, 0])
        turn = float(np.sum((step + 180.0) % 360.0 - 180.0))
        if abs(turn) > 180.0:
            return (
                "polar-cap",
                f"ring {n} winds around a pole ({turn:+.0f}° of longitude): a polar cap is "
                f"not a zone; zones must lie between latitudes -{MAX_ABS_LAT:g}° and "
                f"{MAX_ABS_LAT:g}°",
            )
    if lat > MAX_ABS_LAT:
        return (
            "polar-cap",
            f"reaches latitude {lat:g}°: zones must lie between latitudes -{MAX_ABS_LAT:g}° "
            f"and {MAX_ABS_LAT:g}°",
        )
    for n, ring in enumerate(rings):
        xy = shapely.get_coordinates(ring)
        jump = np.abs(np.diff(xy[:, 0]))
        if len(jump) and jump.max() > 180.0:
            k = int(np.argmax(jump))
            return (
                "antimeridian",
                f"ring {n} crosses the antimeridian without being split (edge from lon "
                f"{xy[k, 0]:g} to {xy[k + 1, 0]:g}, longer than the bound of 180°): split it "
                "at ±180° into a MultiPolygon (RFC 7946 §3.1.9)",
            )
    if xmax - xmin > 180.0:  # parts on both sides of a split at ±180°: measure across it
        xs = shapely.get_coordinates(geom)[:, 0]
        xs = np.where(xs < 0, xs + 360.0, xs)
        xmin, xmax = float(xs.min()), float(xs.max())
    width, height = extent_km((xmin, ymin, xmax, ymax))
    if max(width, height) > MAX_EXTENT_KM:
        return (
            "extent",
            f"bounding box {width:,.0f} km × {height:,.0f} km exceeds the bound of "
            f"{MAX_EXTENT_KM:g} km a side (a town centre spans a few km; the index's memory "
            "grows with the square of the extent)",
        )
    return None


def _out_of_range(xy: np.ndarray) -> np.ndarray:
    """Mask of positions that are not WGS84 lon/lat."""
    return (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90) | ~np.isfinite(xy).all(axis=1)


def _range_message(xy: np.ndarray) -> str:
    bad = _out_of_range(xy)
    x, y = xy[bad][0]
    message = f"{int(bad.sum())} position(s) outside WGS84 lon/lat ranges, e.g. ({x}, {y})"
    if _in(xy[:, 0], _LAMBERT93_X) and _in(xy[:, 1], _LAMBERT93_Y):
        message += (
            "; they look like Lambert-93 (EPSG:2154) metres: "
            "run `footfall zones fix PATH --from-crs EPSG:2154`"
        )
    return message


def _excess_decimals(xy: np.ndarray) -> bool:
    scaled = xy * 10**DECIMALS
    # 1e-3 of the last decimal: far above float noise of text with 6 decimals.
    return bool(np.any(np.abs(scaled - np.round(scaled)) > 1e-3))


def _in(values: np.ndarray, bounds: tuple[float, float]) -> bool:
    return bool(np.all((values >= bounds[0]) & (values <= bounds[1])))


def _misoriented_rings(geom: BaseGeometry) -> int:
    wrong = 0
    for poly in shapely.get_parts(geom):
        wrong += not shapely.is_ccw(poly.exterior)
        wrong += sum(bool(shapely.is_ccw(r)) for r in poly.interiors)
    return wrong


def _check_properties(props: dict[str, Any], add) -> None:
    for key in PROPERTY_COLUMNS:
        if key not in props or (props[key] is None and key != "tourist"):
            add("property-missing", f"property {key!r} is missing")
            continue
        value = props[key]
        expected = _PROPERTY_CHECKS[key]
        problem = expected(value)
        if problem:
            add("property-type", f"property {key!r} is {value!r}: {problem}")


def _string(pattern: re.Pattern | None = None, what: str = ""):
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return "expected a non-empty string"
        if pattern is not None and not pattern.match(value):
            return f"expected {what}"
        return None

    return check


def _population(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "expected a non-negative integer"
    return None


def _boolean(nullable: bool):
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or (nullable and value is None):
            return None
        return "expected true, false or null" if nullable else "expected true or false"

    return check


_PROPERTY_CHECKS = {
    "zone_id": _string(),
    "name": _string(),
    "insee": _string(_INSEE, "a 5-character commune code such as '30007' or '2B033'"),
    "population": _population,
    "department": _string(_DEPARTMENT, "a department code such as '30', '2B' or '974'"),
    "region": _string(),
    "metro_continuity": _boolean(nullable=False),
    "tourist": _boolean(nullable=True),
}
