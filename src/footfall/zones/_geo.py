"""Metric helpers for WGS84 zones: geodesic areas, local metric CRSs, polygon parts."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["GEOD", "geodesic_area", "utm_crs", "polygonal_part", "to_crs"]

GEOD = pyproj.Geod(ellps="WGS84")


def geodesic_area(geom: BaseGeometry) -> float:
    """Area of a lon/lat geometry on the WGS84 ellipsoid, in m² (orientation-free)."""
    if geom is None or geom.is_empty:
        return 0.0
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """Return the WGS84 / UTM CRS of the zone containing ``(lon, lat)``.

    Distances and areas in it are within 0.1 % of the truth near the point,
    which is all a town-sized zone needs.
    """
    zone = min(int(math.floor((lon + 180.0) / 6.0)) + 1, 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def to_crs(geom: BaseGeometry, src: pyproj.CRS | str, dst: pyproj.CRS | str) -> BaseGeometry:
    """Reproject one geometry (x/y order, i.e. lon/lat for EPSG:4326)."""
    transformer = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(
        geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    """Keep the polygonal parts of ``geom`` as one (Multi)Polygon (may be empty)."""
    parts = [
        g
        for g in shapely.get_parts(geom)
        if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty
    ]
    polygons = [p for g in parts for p in shapely.get_parts(g)]
    if not polygons:
        return shapely.Polygon()
    if len(polygons) == 1:
        return polygons[0]
    return shapely.MultiPolygon(polygons)
