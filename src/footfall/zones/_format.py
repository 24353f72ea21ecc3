"""The one canonical GeoJSON writer for zone files: stable, diff-friendly text."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from footfall.errors import ZoneError
from footfall.zones._set import DERIVED_COLUMNS, PROPERTY_COLUMNS, ZoneSet

__all__ = ["write_zones", "format_zones", "zone_filename", "slugify", "plain_value", "DECIMALS"]

#: Decimals kept in coordinates (about 0.1 m; RFC 7946 §11.2).
DECIMALS = 6

Feature = tuple[Mapping[str, Any], BaseGeometry]


def slugify(name: str) -> str:
    """ASCII, lower-case, dash-separated form of a town name (``Alès`` -> ``ales``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def zone_filename(insee: str, name: str) -> str:
    """File name of a town's zones: ``<insee>-<slug>.geojson``."""
    return f"{insee}-{slugify(name)}.geojson"


def format_zones(features: Iterable[Feature]) -> str:
    """Serialise zones as canonical GeoJSON text.

    Parameters
    ----------
    features : iterable of (properties, geometry)
        Properties mapping and a shapely (Multi)Polygon in lon/lat.

    Returns
    -------
    str
        A FeatureCollection with features sorted by ``zone_id``, properties in
        the order of :data:`PROPERTY_COLUMNS` then any others alphabetically,
        coordinates with exactly :data:`DECIMALS` decimals, one position per
        line, and a final newline.

    Notes
    -----
    The text depends only on the content, so rewriting a file read from this
    writer gives identical bytes, and moving one vertex changes one line.
    Coordinates are rounded, not snapped: callers that need validity after
    rounding snap first (``shapely.set_precision``).
    """
    items = sorted(features, key=lambda f: str(f[0].get("zone_id")))
    blocks = [_feature(props, geom) for props, geom in items]
    body = ",\n".join(blocks)
    return (
        '{\n  "type": "FeatureCollection",\n  "features": [\n' + body + ("\n" if body else "")
    ) + "  ]\n}\n"


def _feature(props: Mapping[str, Any], geom: BaseGeometry) -> str:
    keys = [k for k in PROPERTY_COLUMNS if k in props]
    keys += sorted(k for k in props if k not in PROPERTY_COLUMNS)
    prop_lines = ",\n".join(f"        {_json(k)}: {_json(plain_value(props[k]))}" for k in keys)
    if geom.geom_type == "Polygon":
        coords = _polygon(geom, 10)
    elif geom.geom_type == "MultiPolygon":
        coords = ",\n".join("          [\n" + _polygon(p, 12) + "\n          ]" for p in geom.geoms)
    else:
        raise ZoneError(
            f"zone {props.get('zone_id')}: cannot write a {geom.geom_type}; "
            "zones are (Multi)Polygons"
        )
    return (
        '    {\n      "type": "Feature",\n      "properties": {\n'
        + prop_lines
        + ("\n" if prop_lines else "")
        + '      },\n      "geometry": {\n'
        + f'        "type": "{geom.geom_type}",\n'
        + '        "coordinates": [\n'
        + coords
        + "\n        ]\n      }\n    }"
    )


def _polygon(poly, indent: int) -> str:
    pad = " " * indent
    rings = [poly.exterior, *poly.interiors]
    return ",\n".join(
        f"{pad}[\n"
        + ",\n".join(f"{pad}  [{_num(x)}, {_num(y)}]" for x, y in ring.coords)
        + f"\n{pad}]"
        for ring in rings
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _num(v: float) -> str:
    # "+ 0.0" turns -0.0 into 0.0 so that the text never shows "-0.000000".
    return f"{round(v, DECIMALS) + 0.0:.{DECIMALS}f}"


def plain_value(value: Any) -> Any:
    """Numpy/pandas scalars and missing values as plain JSON values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def write_zones(
    zones: ZoneSet | gpd.GeoDataFrame, path: str | Path, *, by_town: bool | None = None
) -> list[Path]:
    """Write zones with the canonical writer.

    Parameters
    ----------
    zones : ZoneSet or GeoDataFrame
        Zones with the properties of DESIGN §3 (other non-geometry columns are
        written as extra properties; the reader's ``source`` column is not).
    path : str or Path
        A ``.geojson`` file (all zones in it) or a directory (one file per
        town, ``<insee>-<slug>.geojson``).
    by_town : bool, optional
        Force the directory layout (True) or the single file (False); by
        default a path ending in ``.geojson`` is a file, anything else a
        directory.

    Returns
    -------
    list of Path
        The files written.
    """
    gdf = zones.gdf if isinstance(zones, ZoneSet) else zones
    path = Path(path)
    if by_town is None:
        by_town = path.suffix.lower() != ".geojson"
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    features = list(_features(gdf))
    if not by_town:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(format_zones(features), encoding="utf-8")
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[Feature]] = {}
    for props, geom in features:
        insee, name = props.get("insee"), props.get("name")
        if not isinstance(insee, str) or not isinstance(name, str):
            raise ZoneError(
                f"zone {props.get('zone_id')}: needs string 'insee' and 'name' "
                "to be written one file per town"
            )
        groups.setdefault(zone_filename(insee, name), []).append((props, geom))
    written = []
    for fname, feats in sorted(groups.items()):
        (path / fname).write_text(format_zones(feats), encoding="utf-8")
        written.append(path / fname)
    return written


def _features(gdf: gpd.GeoDataFrame) -> Iterable[Feature]:
    geom_col = gdf.geometry.name
    columns = [c for c in gdf.columns if c != geom_col and c not in DERIVED_COLUMNS]
    for row, geom in zip(gdf[columns].itertuples(index=False), gdf.geometry, strict=True):
        # An extra property present on some zones only is a missing value on the
        # others: leave it out rather than write a null the file never had.
        yield (
            {
                k: v
                for k, v in zip(columns, row, strict=True)
                if k in PROPERTY_COLUMNS or plain_value(v) is not None
            },
            geom,
        )
