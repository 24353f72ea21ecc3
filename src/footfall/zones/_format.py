"""GeoJSON zone files: the one canonical writer (stable, diff-friendly text) and the fast reader."""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from footfall.errors import ZoneError
from footfall.zones._schema import DERIVED_COLUMNS, PROPERTY_COLUMNS

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "write_zones",
    "format_zones",
    "read_geojson_files",
    "zone_filename",
    "slugify",
    "plain_value",
    "DECIMALS",
]

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
    pd = sys.modules.get("pandas")  # without pandas loaded, no value is one of its own
    if pd is not None and (value is pd.NA or value is pd.NaT):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def write_zones(zones: Any, path: str | Path, *, by_town: bool | None = None) -> list[Path]:
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
    gdf = getattr(zones, "gdf", zones)  # a ZoneSet or a GeoDataFrame
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


# ---------------------------------------------------------------------------------------
# reading

#: Python types of a property whose column pandas infers the same way whether the
#: features are framed file by file and concatenated or all at once (see _frame).
_UNIFORM_TYPES = (
    {str},
    {type(None)},
    {int},
    {float},
    {int, float},
    {bool},
    {bool, type(None)},
)


def read_geojson_files(files: Sequence[Path]) -> gpd.GeoDataFrame:
    """Zones of GeoJSON FeatureCollection files as one GeoDataFrame, with a ``source`` column.

    Parameters
    ----------
    files : sequence of Path
        The zone files, in the order their rows are wanted.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per feature (EPSG:4326): the feature's properties, ``source``
        (the file name), ``geometry``, and any of :data:`PROPERTY_COLUMNS` no
        feature has, as None.

    Raises
    ------
    ZoneError
        When a file is not a zone FeatureCollection, or a feature is not a
        Feature, has no properties object, no string ``zone_id``, or no readable
        non-empty (Multi)Polygon geometry; the message names the file and zone.

    Notes
    -----
    Each file is parsed once, the geometries of all files are built in one
    vectorised call and the table in one constructor: 40 ms for the 423 real
    zones, where a GeoDataFrame per file took 1.7 s. The result is the same
    table, dtypes included, as framing each file and concatenating the frames
    (which it falls back to for properties whose types vary in a way pandas
    would infer differently).
    """
    rows: list[dict[str, Any]] = []
    geojson: list[dict[str, Any]] = []
    where: list[str] = []
    per_file: list[int] = []
    for path in files:
        doc = load_feature_collection(path)
        for i, feat in enumerate(doc["features"]):
            at = f"{path}: feature #{i}"
            if not isinstance(feat, dict) or feat.get("type") != "Feature":
                raise ZoneError(f"{at}: not a GeoJSON Feature")
            props = feat.get("properties")
            if not isinstance(props, dict):
                raise ZoneError(f"{at}: no properties object")
            zid = props.get("zone_id")
            if not isinstance(zid, str) or not zid:
                raise ZoneError(f"{at}: 'zone_id' missing or not a string ({zid!r})")
            at = f"{path}: zone {zid}"
            gj = feat.get("geometry")
            if not isinstance(gj, dict):
                raise ZoneError(f"{at}: geometry missing")
            if gj.get("type") not in ("Polygon", "MultiPolygon"):
                raise ZoneError(f"{at}: geometry is {gj.get('type')!r}, not a (Multi)Polygon")
            rows.append(props | {"source": path.name})
            geojson.append(gj)
            where.append(at)
        per_file.append(len(doc["features"]))
    geoms = _geometries(geojson, where)
    return _frame(rows, geoms, per_file)


def _geometries(geojson: list[dict[str, Any]], where: list[str]) -> np.ndarray:
    """Shapely (Multi)Polygons of GeoJSON geometry objects, built in bulk when they are plain."""
    try:
        geoms = _bulk_polygons(geojson)
    except Exception:  # noqa: BLE001 - anything unusual: the exact per-feature path below
        geoms = None
    if geoms is None:
        geoms = np.empty(len(geojson), dtype=object)
        for n, gj in enumerate(geojson):
            try:
                geoms[n] = shapely.geometry.shape(gj)
            except Exception as exc:  # noqa: BLE001 - any failure is a malformed geometry
                raise ZoneError(f"{where[n]}: unreadable geometry ({exc})") from exc
    empty = shapely.is_empty(geoms)
    if empty.any():
        raise ZoneError(f"{where[int(np.argmax(empty))]}: empty geometry")
    return geoms


def _bulk_polygons(geojson: list[dict[str, Any]]) -> np.ndarray | None:
    """All geometries from one coordinate array (shapely.from_ragged_array), or None.

    None when any geometry is not plain 2-d (Multi)Polygon coordinates with
    non-empty rings (3-d positions, empty polygons, odd nesting): the caller then
    builds each one with ``shapely.geometry.shape``, which also names the errors.
    """
    polygons: list[list[list[Any]]] = []  # every polygon's rings
    multi = np.zeros(len(geojson), dtype=bool)
    parts_per_geom = np.ones(len(geojson), dtype=np.int64)
    for n, gj in enumerate(geojson):
        coords = gj.get("coordinates")
        if not isinstance(coords, list) or not coords:
            return None
        if gj["type"] == "Polygon":
            polygons.append(coords)
        else:
            multi[n] = True
            parts_per_geom[n] = len(coords)
            polygons.extend(coords)
    rings = list(itertools.chain.from_iterable(polygons))
    ring_len = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))
    rings_per_poly = np.fromiter(map(len, polygons), dtype=np.int64, count=len(polygons))
    if (ring_len < 4).any() or (rings_per_poly == 0).any():
        return None
    xy = np.array(list(itertools.chain.from_iterable(rings)))
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.dtype.kind not in "fi":
        return None
    closed = np.concatenate([[0], np.cumsum(ring_len)])
    if not (xy[closed[:-1]] == xy[closed[1:] - 1]).all():
        return None  # shape() closes open rings; leave them to it
    poly_offsets = np.concatenate([[0], np.cumsum(rings_per_poly)])
    parts = shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, xy.astype(np.float64), (closed, poly_offsets)
    )
    if not multi.any():
        return parts
    geoms = np.empty(len(geojson), dtype=object)
    first = np.concatenate([[0], np.cumsum(parts_per_geom)])[:-1]
    geoms[~multi] = parts[first[~multi]]
    owner = np.repeat(np.arange(len(geojson)), parts_per_geom)
    in_multi = multi[owner]
    # fills the multi rows of `geoms` (indices absent from the call keep their value)
    shapely.multipolygons(parts[in_multi], indices=owner[in_multi], out=geoms)
    return geoms


def _frame(rows: list[dict[str, Any]], geoms: np.ndarray, per_file: list[int]) -> gpd.GeoDataFrame:
    """Tabulate all features as framing each file and concatenating the frames would."""
    import geopandas as gpd
    import pandas as pd

    keys = tuple(rows[0]) if rows else ()
    uniform = all(tuple(r) == keys for r in rows)
    if uniform:
        for k in keys:
            kinds = {type(r[k]) for r in rows}
            if kinds not in _UNIFORM_TYPES:
                uniform = False
                break
    if uniform:
        frame = gpd.GeoDataFrame(
            pd.DataFrame(rows, columns=list(keys)), geometry=geoms, crs="EPSG:4326"
        )
        return _add_missing(frame)
    frames, start = [], 0
    for n in per_file:
        part = gpd.GeoDataFrame(
            rows[start : start + n], geometry=list(geoms[start : start + n]), crs="EPSG:4326"
        )
        frames.append(_add_missing(part))
        start += n
    return pd.concat(frames, ignore_index=True)


def _add_missing(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    for c in PROPERTY_COLUMNS:
        if c not in frame.columns:
            frame[c] = None
    return frame


def load_feature_collection(path: Path) -> dict:
    """Parse a file as a GeoJSON FeatureCollection (a dict with a ``features`` list).

    Raises
    ------
    ZoneError
        When the file is unreadable, not JSON or not a FeatureCollection.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ZoneError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ZoneError(f"{path}: not a GeoJSON FeatureCollection")
    if not isinstance(doc.get("features"), list):
        raise ZoneError(f"{path}: FeatureCollection without a 'features' list")
    return doc
