"""City-centre zones: read, write, validate, fix, diff and build zone sets."""

from __future__ import annotations

from footfall.zones._coerce import as_zoneset, default_zones, packaged_zones, read_zones, zone_frame
from footfall.zones._format import write_zones
from footfall.zones._set import ZoneSet
from footfall.zones._towns import complete_towns
from footfall.zones.build import BuildResult, build_zones
from footfall.zones.diff import ZoneDiff, diff_zones
from footfall.zones.fix import FixReport, fix_zones
from footfall.zones.validate import ValidationReport, find_overlaps, validate_zones

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
