"""City-centre zones: read, write, validate, fix, diff and build zone sets.

Names load lazily, so that reading a cached GeoJSON zone set (and its index) does not
import pandas, geopandas or pyproj.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from footfall._lazy import lazy_names

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "as_zoneset": "footfall.zones._coerce",
    "complete_towns": "footfall.zones._towns",
    "zone_frame": "footfall.zones._coerce",
    "default_zones": "footfall.zones._coerce",
    "packaged_zones": "footfall.zones._coerce",
    "ZoneSet": "footfall.zones._set",
    "BuildResult": "footfall.zones.build",
    "FixReport": "footfall.zones.fix",
    "ZoneDiff": "footfall.zones.diff",
    "ValidationReport": "footfall.zones.validate",
    "read_zones": "footfall.zones._coerce",
    "write_zones": "footfall.zones._format",
    "validate_zones": "footfall.zones.validate",
    "find_overlaps": "footfall.zones.validate",
    "fix_zones": "footfall.zones.fix",
    "diff_zones": "footfall.zones.diff",
    "build_zones": "footfall.zones.build",
}

__all__ = [
    "as_zoneset",
    "complete_towns",
    "zone_frame",
    "default_zones",
    "packaged_zones",
    "ZoneSet",
    "BuildResult",
    "FixReport",
    "ZoneDiff",
    "ValidationReport",
    "read_zones",
    "write_zones",
    "validate_zones",
    "find_overlaps",
    "fix_zones",
    "diff_zones",
    "build_zones",
]


__getattr__, __dir__ = lazy_names("footfall.zones", _LAZY, __all__, globals())


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from footfall.zones._coerce import (
        as_zoneset,
        default_zones,
        packaged_zones,
        read_zones,
        zone_frame,
    )
    from footfall.zones._format import write_zones
    from footfall.zones._set import ZoneSet
    from footfall.zones._towns import complete_towns
    from footfall.zones.build import BuildResult, build_zones
    from footfall.zones.diff import ZoneDiff, diff_zones
    from footfall.zones.fix import FixReport, fix_zones
    from footfall.zones.validate import ValidationReport, find_overlaps, validate_zones
