"""The zone schema: property columns of a zone and the columns a ZoneSet derives."""

from __future__ import annotations

__all__ = ["PROPERTY_COLUMNS", "DERIVED_COLUMNS"]

#: Feature properties of a zone, in file order (DESIGN §3).
PROPERTY_COLUMNS: tuple[str, ...] = (
    "zone_id",
    "name",
    "insee",
    "population",
    "department",
    "region",
    "metro_continuity",
    "tourist",
)
#: Columns a ZoneSet computes or records itself: never written back as properties.
DERIVED_COLUMNS: tuple[str, ...] = ("source", "area_km2")
