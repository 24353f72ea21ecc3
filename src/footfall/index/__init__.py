"""Exact point-to-zone assignment: H3 cover, R-tree and compiled kernels."""

from __future__ import annotations

from footfall.index._index import ZoneIndex

__all__ = ["ZoneIndex"]
