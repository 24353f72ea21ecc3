"""Repair zone files in place: close rings, make valid, rewind, round, reproject."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from footfall.errors import ZoneError
from footfall.zones._checks import (
    _excess_decimals,
    _misoriented_rings,
    _out_of_range,
    _range_message,
)
from footfall.zones._format import DECIMALS, format_zones, load_feature_collection
from footfall.zones._geo import polygonal_part, to_crs
from footfall.zones.validate import _is_ring, declared_crs, zone_files

__all__ = ["fix_zones", "FixReport", "ZoneFix"]


@dataclass(frozen=True)
class ZoneFix:
    """What :func:`fix_zones` did, or could not do, to one zone (or file).

    Attributes
    ----------
    file : str
    zone_id : str or None
        None for file-level entries (e.g. only the formatting changed).
    changes : list of str
        Human-readable repairs, e.g. ``"closed 1 ring"``.
    error : str or None
        Why the zone could not be repaired (it is then left as it was).
    """

    file: str
    zone_id: str | None
    changes: list[str] = field(default_factory=list)
    error: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.zone_id}" if self.zone_id else self.file
        if self.error:
            return f"{where}: NOT FIXED: {self.error}"
        return f"{where}: {'; '.join(self.changes)}"


@dataclass
class FixReport:
    """Per-zone repairs and failures of :func:`fix_zones`.

    Attributes
    ----------
    fixes : list of ZoneFix
        One entry per changed or unrepairable zone (and per reformatted file).
    written : list of Path
        Files rewritten (none with ``dry_run``).
    """

    fixes: list[ZoneFix] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    n_files: int = 0

    @property
    def failures(self) -> list[ZoneFix]:
        """Zones (or files) that could not be repaired and were left as they were."""
        return [f for f in self.fixes if f.error]

    @property
    def ok(self) -> bool:
        """True when everything could be repaired."""
        return not self.failures

    def summary(self) -> str:
        """One line: files checked and rewritten, zones changed, failures."""
        changed = sum(1 for f in self.fixes if f.zone_id and not f.error)
        return (
            f"{self.n_files} files: {len(self.written)} rewritten, {changed} zones repaired, "
            f"{len(self.failures)} could not be repaired"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the ``--json`` output)."""
        return {
            "ok": self.ok,
            "files": self.n_files,
            "written": [str(p) for p in self.written],
            "fixes": [asdict(f) for f in self.fixes],
        }

    def to_json(self) -> str:
        """Return the report as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def __str__(self) -> str:
        return "\n".join([*map(str, self.fixes), self.summary()])


class _Unrepairable(Exception):
    pass


def fix_zones(path: str | Path, *, from_crs: str | None = None, dry_run: bool = False) -> FixReport:
    """Repair zone files in place with the canonical writer.

    Parameters
    ----------
    path : str or Path
        A zone file or a directory of ``*.geojson`` zone files.
    from_crs : str, optional
        CRS of zones whose coordinates are not lon/lat (e.g. ``"EPSG:2154"``);
        they are reprojected to WGS84. By default, the CRS a file declares in
        a legacy ``crs`` member (QGIS writes one), if any. Zones already in lon/lat ranges are not
        touched, so running the command twice is harmless.
    dry_run : bool
        Report what would change without writing.

    Returns
    -------
    FixReport

    Notes
    -----
    Repairs, in order: drop a third coordinate, close unclosed rings, drop
    rings with fewer than 3 distinct positions, reproject, make valid
    (``shapely.make_valid``, keeping the polygonal parts), snap to 6 decimals,
    wind exterior rings counter-clockwise and holes clockwise. Properties are
    kept as they are (validate reports their problems). A zone that cannot be
    repaired is reported and its whole file left unchanged: no zone is ever
    dropped.
    """
    crs = _parse_crs(from_crs)
    report = FixReport()
    for file in zone_files(path):
        report.n_files += 1
        _fix_file(file, crs, dry_run, report)
    return report


def _parse_crs(from_crs: str | None) -> pyproj.CRS | None:
    if from_crs is None:
        return None
    try:
        return pyproj.CRS.from_user_input(from_crs)
    except pyproj.exceptions.CRSError as exc:
        raise ZoneError(f"--from-crs {from_crs!r} is not a known CRS ({exc})") from exc


def _fix_file(file: Path, crs: pyproj.CRS | None, dry_run: bool, report: FixReport) -> None:
    try:
        doc = load_feature_collection(file)
    except ZoneError as exc:
        report.fixes.append(ZoneFix(str(file), None, error=str(exc).removeprefix(f"{file}: ")))
        return
    features, fixes = [], []
    # An explicit --from-crs wins over what the file declares.
    crs = crs or declared_crs(doc)
    for i, feat in enumerate(doc["features"]):
        props = feat.get("properties") if isinstance(feat, dict) else None
        zid = props.get("zone_id") if isinstance(props, dict) else None
        zid = zid if isinstance(zid, str) and zid else f"#{i}"
        try:
            if not isinstance(feat, dict) or feat.get("type") != "Feature":
                raise _Unrepairable("not a GeoJSON Feature")
            if not isinstance(props, dict):
                raise _Unrepairable("no properties object")
            geom, changes = _repair(feat.get("geometry"), crs)
        except _Unrepairable as exc:
            fixes.append(ZoneFix(str(file), zid, error=f"{exc} (file left unchanged)"))
            continue
        features.append((props, geom))
        if changes:
            fixes.append(ZoneFix(str(file), zid, changes))
    report.fixes.extend(fixes)
    if any(f.error for f in fixes):
        return
    original = file.read_text(encoding="utf-8")
    text = format_zones(features)
    if text == original:
        return
    if "crs" in doc:
        report.fixes.append(ZoneFix(str(file), None, ["dropped the legacy 'crs' member"]))
    elif not fixes:
        report.fixes.append(ZoneFix(str(file), None, ["rewritten in the canonical format"]))
    if not dry_run:
        file.write_text(text, encoding="utf-8")
        report.written.append(file)


def _repair(gj: Any, crs: pyproj.CRS | None) -> tuple[BaseGeometry, list[str]]:
    if not isinstance(gj, dict):
        raise _Unrepairable("geometry missing")
    kind = gj.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise _Unrepairable(f"geometry is {kind!r}, not a Polygon or MultiPolygon")
    coords = gj.get("coordinates")
    polygons = [coords] if kind == "Polygon" else coords
    if not isinstance(polygons, list) or not all(
        isinstance(rings, list) and all(_is_ring(r) for r in rings) for rings in polygons
    ):
        raise _Unrepairable(f"malformed coordinates for a {kind}")
    changes: list[str] = []
    counts = {"z": 0, "closed": 0, "dropped": 0}
    shells = []
    for rings in polygons:
        if not rings:
            continue
        shell = _ring(rings[0], counts)
        holes = [h for h in (_ring(r, counts) for r in rings[1:]) if h is not None]
        if shell is None:  # a polygon without an exterior goes, holes and all
            counts["dropped"] += len(holes)
            continue
        shells.append(shapely.Polygon(shell, holes))
    if counts["z"]:
        changes.append(f"dropped the third coordinate of {counts['z']} position(s)")
    if counts["closed"]:
        changes.append(f"closed {counts['closed']} ring(s)")
    if counts["dropped"]:
        changes.append(f"dropped {counts['dropped']} ring(s) with fewer than 3 distinct positions")
    if not shells:
        raise _Unrepairable("no ring with at least 3 distinct positions")
    geom = shells[0] if kind == "Polygon" else shapely.MultiPolygon(shells)

    xy = shapely.get_coordinates(geom)
    if _out_of_range(xy).any():
        if crs is None:
            raise _Unrepairable(_range_message(xy))
        geom = to_crs(geom, crs, "EPSG:4326")
        if _out_of_range(shapely.get_coordinates(geom)).any():
            raise _Unrepairable(f"still outside lon/lat ranges after reprojection from {crs}")
        changes.append(f"reprojected from {crs.to_string()}")

    if not shapely.is_valid(geom):
        reason = shapely.is_valid_reason(geom)
        geom = polygonal_part(shapely.make_valid(geom, method="structure"))
        if geom.is_empty:
            raise _Unrepairable(f"invalid geometry ({reason}) with no polygonal area to keep")
        changes.append(f"made valid ({reason})")

    if _excess_decimals(shapely.get_coordinates(geom)):
        # Snapping (not plain rounding) keeps the geometry valid.
        geom = polygonal_part(shapely.set_precision(geom, 10.0**-DECIMALS))
        if geom.is_empty:
            raise _Unrepairable(f"collapses when rounded to {DECIMALS} decimals")
        changes.append(f"rounded to {DECIMALS} decimals")

    wrong = _misoriented_rings(geom)
    if wrong:
        geom = shapely.orient_polygons(geom, exterior_cw=False)
        changes.append(f"rewound {wrong} ring(s) (RFC 7946 orientation)")
    return geom, changes


def _ring(ring: list, counts: dict[str, int]) -> list | None:
    """Return the ring as closed 2-D positions, or None when it is degenerate."""
    if any(len(p) > 2 for p in ring):
        counts["z"] += sum(len(p) > 2 for p in ring)
        ring = [p[:2] for p in ring]
    if len({tuple(p) for p in ring}) < 3:
        counts["dropped"] += 1
        return None
    if ring[0] != ring[-1]:
        counts["closed"] += 1
        ring = [*ring, ring[0]]
    return ring
