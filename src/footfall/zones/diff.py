"""Compare two zone sets: added, removed and changed zones, with metric measures."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import shapely

from footfall.zones._coerce import read_zones
from footfall.zones._format import plain_value
from footfall.zones._geo import geodesic_area, to_crs, utm_crs
from footfall.zones._set import ZoneSet

__all__ = ["diff_zones", "ZoneDiff", "ZoneChange"]


@dataclass(frozen=True)
class ZoneChange:
    """How one zone differs between two sets.

    Attributes
    ----------
    zone_id : str
    properties : dict
        ``{property: [old, new]}`` for every property that differs.
    geometry_changed : bool
        False when the shapes are equal up to vertex order and winding.
    area_old_m2, area_new_m2 : float
        Geodesic areas.
    area_change_pct : float or None
        ``100 * (new - old) / old``; None when the old area is 0.
    hausdorff_m : float
        Hausdorff distance between the old and new shapes, in metres (local
        UTM zone), i.e. how far the boundary moved at most. 0 when unchanged.
    """

    zone_id: str
    properties: dict[str, list[Any]]
    geometry_changed: bool
    area_old_m2: float
    area_new_m2: float
    area_change_pct: float | None
    hausdorff_m: float

    def __str__(self) -> str:
        parts = []
        if self.geometry_changed:
            parts.append(
                f"geometry: area {self.area_change_pct or 0:+.1f} % "
                f"({self.area_old_m2 / 1e6:.3f} -> {self.area_new_m2 / 1e6:.3f} km²), "
                f"Hausdorff {self.hausdorff_m:.1f} m"
            )
        parts += [f"{k}: {old!r} -> {new!r}" for k, (old, new) in self.properties.items()]
        return f"~ {self.zone_id}: " + "; ".join(parts)


@dataclass
class ZoneDiff:
    """Differences between an old and a new zone set.

    Attributes
    ----------
    added, removed : list of str
        Zone ids only in the new, only in the old set.
    changed : list of ZoneChange
        Zones in both sets whose geometry or properties differ.
    unchanged : int
        Number of zones identical in both.
    """

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[ZoneChange] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        """True when the two sets hold the same zones."""
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        """One line of counts."""
        return (
            f"{len(self.added)} added, {len(self.removed)} removed, "
            f"{len(self.changed)} changed, {self.unchanged} unchanged"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the ``--json`` output)."""
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": [asdict(c) for c in self.changed],
            "unchanged": self.unchanged,
        }

    def to_json(self) -> str:
        """Return the diff as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def __str__(self) -> str:
        lines = [f"+ {z}" for z in self.added] + [f"- {z}" for z in self.removed]
        lines += [str(c) for c in self.changed]
        return "\n".join([*lines, self.summary()])


def diff_zones(old: str | Path | ZoneSet, new: str | Path | ZoneSet) -> ZoneDiff:
    """Compare two zone sets zone by zone (matched on ``zone_id``).

    Parameters
    ----------
    old, new : str, Path or ZoneSet
        Zone files, directories or zone sets.

    Returns
    -------
    ZoneDiff

    Raises
    ------
    ZoneError
        When either side cannot be read (see :func:`read_zones`).
    """
    old_set = old if isinstance(old, ZoneSet) else read_zones(old)
    new_set = new if isinstance(new, ZoneSet) else read_zones(new)
    a = old_set.gdf.set_index("zone_id")
    b = new_set.gdf.set_index("zone_id")
    diff = ZoneDiff(
        added=sorted(set(b.index) - set(a.index)),
        removed=sorted(set(a.index) - set(b.index)),
    )
    columns = sorted((set(a.columns) | set(b.columns)) - {"geometry", "source", "area_km2"})
    for zid in sorted(set(a.index) & set(b.index)):
        props = {}
        for col in columns:
            va = plain_value(a.at[zid, col]) if col in a.columns else None
            vb = plain_value(b.at[zid, col]) if col in b.columns else None
            if va != vb:
                props[col] = [va, vb]
        change = _geometry_change(a.at[zid, "geometry"], b.at[zid, "geometry"])
        if props or change["geometry_changed"]:
            diff.changed.append(ZoneChange(zid, props, **change))
        else:
            diff.unchanged += 1
    return diff


def _geometry_change(old, new) -> dict[str, Any]:
    area_old, area_new = geodesic_area(old), geodesic_area(new)
    same = bool(shapely.equals_exact(old, new, tolerance=0.0, normalize=True))
    hausdorff = 0.0
    if not same:
        centre = old.centroid
        crs = utm_crs(centre.x, centre.y)
        # Densify: the vertex-only Hausdorff distance misses moves along long edges.
        hausdorff = shapely.hausdorff_distance(
            to_crs(old, "EPSG:4326", crs), to_crs(new, "EPSG:4326", crs), densify=0.1
        )
    pct = round(100.0 * (area_new - area_old) / area_old, 3) if area_old else None
    return {
        "geometry_changed": not same,
        "area_old_m2": round(area_old, 1),
        "area_new_m2": round(area_new, 1),
        "area_change_pct": pct,
        "hausdorff_m": round(float(hausdorff), 2),
    }
