"""City-centre zones: read, write, validate, fix, diff and build zone sets."""

from __future__ import annotations

from footfall.zones._set import ZoneSet, read_zones

__all__ = ["ZoneSet", "read_zones"]
