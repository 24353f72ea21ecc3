"""Exceptions raised by footfall: one root, specific subclasses."""

from __future__ import annotations

__all__ = ["FootfallError", "ZoneError", "InputError", "IndexBuildError"]


class FootfallError(Exception):
    """Root of every error footfall raises on purpose."""


class ZoneError(FootfallError, ValueError):
    """A zone file or zone set is malformed; the message names the file, zone and reason."""


class InputError(FootfallError, ValueError):
    """Ping input (files, columns, options) cannot be used; the message says why."""


class IndexBuildError(FootfallError, ValueError):
    """A ZoneIndex cannot be built from this zone set (e.g. overlapping zones)."""
