"""Zones from whatever a GIS user holds: one function, called at every entry point.

``as_zoneset`` turns a ZoneSet, a path (GeoJSON file or folder, GeoPackage,
GeoParquet, Shapefile, FlatGeobuf), a GeoDataFrame or GeoSeries in any CRS, one
shapely polygon, a mapping ``zone_id -> polygon`` or a list of polygons (with
``ids``) into a :class:`ZoneSet` in EPSG:4326. Only ``zone_id`` and a polygon are
required; the town properties are optional (needed to rank, see
:func:`footfall.zones.complete_towns`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from footfall.errors import ZoneError
from footfall.zones import _cache
from footfall.zones._format import read_geojson_files
from footfall.zones._set import ZoneSet

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "as_zoneset",
    "zone_frame",
    "GIS_SUFFIXES",
    "ZonesLike",
    "read_zones",
    "read_geojson_zones",
    "default_zones",
    "packaged_zones",
]

#: File suffixes read with pyogrio / GeoParquet (GeoJSON keeps footfall's own reader).
GIS_SUFFIXES: dict[str, str] = {
    ".gpkg": "GeoPackage",
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile",
    ".fgb": "FlatGeobuf",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
}

ZonesLike = Any  # ZoneSet | path | GeoDataFrame | GeoSeries | geometry | mapping | sequence


def as_zoneset(
    zones: ZonesLike = None,
    *,
    ids: Sequence[Any] | None = None,
    zone_id_col: str | None = None,
    cache: bool = True,
) -> ZoneSet:
    """Coerce anything zone-like to a :class:`ZoneSet` (EPSG:4326, sorted by ``zone_id``).

    Parameters
    ----------
    zones : ZoneSet, path, GeoDataFrame, GeoSeries, geometry, mapping or sequence
        ``None`` is the default zone set (``./zones``, else the packaged one). A path
        is a ``.geojson`` file or a folder of them, or a ``.gpkg``, ``.parquet``
        (GeoParquet), ``.shp``, ``.zip`` or ``.fgb`` file. Frames and series in any
        CRS are reprojected to EPSG:4326. A mapping is ``zone_id -> polygon``; a
        sequence of polygons takes its ids from `ids` (default ``"0"``, ``"1"``...).
    ids : sequence, optional
        Zone ids of a sequence of geometries (or of a GeoSeries, instead of its index).
    zone_id_col : str, optional
        Column holding the zone ids when it is not ``zone_id``.
    cache : bool, default True
        Use the zone-set cache for GeoJSON paths (see :func:`read_geojson_zones`).

    Returns
    -------
    ZoneSet

    Raises
    ------
    ZoneError
        One line naming what is wrong: no id column (with the columns found), a
        repeated or missing id, a geometry that is not a non-empty (Multi)Polygon,
        no CRS on coordinates that are not lon/lat, an unreadable file.
    """
    if isinstance(zones, ZoneSet) and zone_id_col is None and ids is None:
        return zones
    if zones is None or isinstance(zones, (str, Path)):
        return _read_path(zones, zone_id_col, cache)
    return ZoneSet(zone_frame(zones, ids=ids, zone_id_col=zone_id_col))


def zone_frame(
    zones: ZonesLike,
    *,
    ids: Sequence[Any] | None = None,
    zone_id_col: str | None = None,
    require_id: bool = True,
) -> gpd.GeoDataFrame:
    """Like :func:`as_zoneset` but keep the input's row order: a checked GeoDataFrame.

    ``ZoneIndex(gdf)`` uses it, so that ``assign`` returns positions in the caller's
    own rows. With ``require_id=False`` a GeoDataFrame without ``zone_id`` is kept
    labelled by its index.
    """
    import geopandas as gpd

    if isinstance(zones, ZoneSet) and zone_id_col is None and ids is None:
        return zones.gdf  # checked when built; the index checks geometry itself
    if isinstance(zones, ZoneSet):
        gdf = zones.gdf
    elif zones is None or isinstance(zones, (str, Path)):
        return as_zoneset(zones, zone_id_col=zone_id_col).gdf
    elif isinstance(zones, gpd.GeoDataFrame):
        gdf = zones
    elif isinstance(zones, gpd.GeoSeries):
        labels = zones.index if ids is None else ids
        gdf = gpd.GeoDataFrame(
            {"zone_id": _labels(labels, len(zones))},
            geometry=zones.to_numpy(),
            crs=zones.crs,
        )
    elif isinstance(zones, BaseGeometry):
        gdf = gpd.GeoDataFrame(
            {"zone_id": [str(ids[0]) if ids else "0"]}, geometry=[zones], crs="EPSG:4326"
        )
    elif isinstance(zones, Mapping):
        gdf = gpd.GeoDataFrame(
            {"zone_id": [str(k) for k in zones]}, geometry=list(zones.values()), crs="EPSG:4326"
        )
    elif isinstance(zones, (Sequence, np.ndarray)) and not isinstance(zones, (str, bytes)):
        geoms = list(zones)
        bad = [type(g).__name__ for g in geoms if not isinstance(g, BaseGeometry)][:1]
        if bad:
            raise ZoneError(
                f"zones: a sequence of zones must hold shapely geometries, not {bad[0]}"
            )
        gdf = gpd.GeoDataFrame(
            {"zone_id": _labels(ids, len(geoms))}, geometry=geoms, crs="EPSG:4326"
        )
    else:
        raise ZoneError(
            f"cannot read zones from a {type(zones).__name__}: pass a path (GeoJSON, GeoPackage, "
            "GeoParquet, Shapefile, FlatGeobuf), a GeoDataFrame/GeoSeries, a polygon, "
            "a dict zone_id -> polygon or a list of polygons with ids="
        )
    if ids is not None and isinstance(zones, gpd.GeoDataFrame):
        gdf = gdf.assign(zone_id=_labels(ids, len(gdf)))
    return _check(gdf, zone_id_col, require_id)


def _labels(labels: Any, n: int) -> list[str]:
    if labels is None:
        return [str(i) for i in range(n)]
    labels = list(labels)
    if len(labels) != n:
        raise ZoneError(f"zones: {len(labels)} ids for {n} geometries")
    return [str(v) for v in labels]


def _check(
    gdf: gpd.GeoDataFrame, zone_id_col: str | None, require_id: bool = True
) -> gpd.GeoDataFrame:
    import pandas as pd

    gdf = gdf.copy()
    if gdf.geometry.name != "geometry":
        gdf = gdf.drop(columns=["geometry"], errors="ignore").rename_geometry("geometry")
    if zone_id_col is not None and zone_id_col != "zone_id":
        if zone_id_col not in gdf.columns:
            raise ZoneError(f"zones have no column {zone_id_col!r} (columns: {_columns(gdf)})")
        gdf = gdf.drop(columns=["zone_id"], errors="ignore").rename(
            columns={zone_id_col: "zone_id"}
        )
    if "zone_id" not in gdf.columns and not require_id:
        return _check_geometry(gdf, gdf.index.astype(str))
    if "zone_id" not in gdf.columns:
        raise ZoneError(
            f"zones have no 'zone_id' column (columns: {_columns(gdf)}): name the id column "
            "with zone_id_col= (API) or --zone-id-col (CLI)"
        )
    zid = gdf["zone_id"]
    if zid.isna().any():
        raise ZoneError(f"zones: {int(zid.isna().sum())} zone(s) without a zone_id")
    zid = zid.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    if (zid.str.strip() == "").any():
        raise ZoneError("zones: a zone_id is empty")
    dup = zid[zid.duplicated()]
    if len(dup):
        raise ZoneError(f"zones: zone_id {dup.iloc[0]!r} appears more than once")
    gdf["zone_id"] = zid.to_numpy()
    if "insee" in gdf.columns and pd.api.types.is_numeric_dtype(gdf["insee"]):
        # QGIS and spreadsheets turn '01053' into 1053: INSEE codes are 5 characters.
        gdf["insee"] = [None if pd.isna(v) else f"{int(v):05d}" for v in gdf["insee"]]
    return _check_geometry(gdf, gdf["zone_id"])


def _check_geometry(gdf: gpd.GeoDataFrame, labels: Any) -> gpd.GeoDataFrame:
    geoms = gdf.geometry.to_numpy()
    for z, g in zip(labels, geoms, strict=True):
        if g is None or g.is_empty:
            raise ZoneError(f"zone {z}: empty geometry")
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise ZoneError(f"zone {z}: geometry is a {g.geom_type}, not a (Multi)Polygon")
    if gdf.crs is None:
        xmin, ymin, xmax, ymax = gdf.total_bounds
        if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
            raise ZoneError(
                "zones have no CRS and their coordinates are not lon/lat "
                f"(bounds {[round(float(v)) for v in (xmin, ymin, xmax, ymax)]}): "
                "set it, e.g. gdf.set_crs('EPSG:2154')"
            )
        gdf = gdf.set_crs("EPSG:4326")
    elif not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    gdf["geometry"] = shapely.force_2d(gdf.geometry.to_numpy())
    return gdf


def _columns(gdf: pd.DataFrame) -> str:
    return ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name) or "none"


def _read_path(path: str | Path | None, zone_id_col: str | None, cache: bool = True) -> ZoneSet:
    path = default_zones() if path is None else Path(path)
    suffix = path.suffix.lower()
    if suffix in GIS_SUFFIXES and path.is_file():
        return ZoneSet(_check(_read_gis(path), zone_id_col), sources=[path])
    if zone_id_col is not None and suffix in (".geojson", ".json") and path.is_file():
        # Someone else's GeoJSON (QGIS export...): read with pyogrio, ids from the column.
        return ZoneSet(_check(_read_gis(path), zone_id_col), sources=[path])
    if path.is_file() and suffix not in (".geojson", ".json"):
        raise ZoneError(
            f"{path}: unknown zone file type {suffix!r}; use .geojson, "
            + ", ".join(sorted(GIS_SUFFIXES))
        )
    return read_geojson_zones(path, cache=cache)


def _read_gis(path: Path) -> gpd.GeoDataFrame:
    import geopandas as gpd

    try:
        if GIS_SUFFIXES.get(path.suffix.lower()) == "GeoParquet":
            return gpd.read_parquet(path)
        return gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 - pyogrio/pyarrow raise many types
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ZoneError(f"{path}: cannot read zones ({message})") from exc


def read_zones(
    zones: Any = None,
    *,
    zone_id_col: str | None = None,
    ids: Iterable[Any] | None = None,
    cache: bool = True,
) -> ZoneSet:
    """Read or convert zones from anything a GIS user holds.

    Parameters
    ----------
    zones : path, GeoDataFrame, GeoSeries, geometry, mapping, sequence or ZoneSet, optional
        No argument: ``./zones`` when it holds zone files, else the zone set shipped
        with the package (423 towns). A path: a ``.geojson`` file or a folder of
        them, a GeoPackage (``.gpkg``), GeoParquet (``.parquet``), Shapefile
        (``.shp``/``.zip``) or FlatGeobuf (``.fgb``). A GeoDataFrame or GeoSeries in
        any CRS (reprojected to EPSG:4326), one polygon, a dict ``zone_id ->
        polygon`` or a list of polygons (ids from `ids`).
    zone_id_col : str, optional
        Column holding the zone ids when it is not ``zone_id``.
    ids : iterable, optional
        Zone ids of a list of polygons or of a GeoSeries.
    cache : bool, default True
        Use the zone-set cache for GeoJSON paths (see :func:`read_geojson_zones`);
        False neither reads nor writes it.

    Returns
    -------
    ZoneSet
        Only ``zone_id`` and the polygon are required; missing town properties are
        missing values (ranking fills them, see :func:`footfall.zones.complete_towns`).

    Raises
    ------
    ZoneError
        See :func:`footfall.zones.as_zoneset` and :func:`read_geojson_zones`.
    """
    return as_zoneset(
        zones, zone_id_col=zone_id_col, ids=None if ids is None else list(ids), cache=cache
    )


def read_geojson_zones(path: str | Path, *, cache: bool = True) -> ZoneSet:
    """Read a zone set from a GeoJSON file or a directory of ``*.geojson`` files.

    Parameters
    ----------
    path : str or Path
        A ``.geojson`` file, or a directory whose ``*.geojson`` files are read.
    cache : bool, default True
        Look the files' bytes up in the zone-set cache (under ``$FOOTFALL_CACHE_DIR``,
        see :mod:`footfall.zones._cache`): when the same files were read before, the
        set's ids, hash and length are known at once and its table is read from the
        files on first use (then checked against the cache). False: read now, and
        neither read nor write the cache.

    Returns
    -------
    ZoneSet

    Raises
    ------
    ZoneError
        When a file cannot be read as a zone FeatureCollection, a feature has
        no string ``zone_id`` or no non-empty (Multi)Polygon geometry, or a
        ``zone_id`` repeats; the message names the file, zone and reason.
        Other problems (invalid geometry, overlaps, property types) are
        reported by :meth:`ZoneSet.validate`.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.geojson"))
        if not files:
            raise ZoneError(f"{path}: no *.geojson zone file in this directory")
    elif path.exists():
        files = [path]
    else:
        raise ZoneError(f"{path}: no such file or directory")
    key = None
    if cache:
        try:
            key = _cache.zones_key(files)
        except OSError as exc:
            raise ZoneError(f"{path}: cannot read zone files ({exc})") from exc
        entry = _cache.load(key)
        if entry is not None:

            def read() -> ZoneSet:
                zones = _read_geojson(path, files)
                if zones._ids != entry["ids"] or zones.hash != entry["hash"]:
                    _cache.discard(key)
                return zones

            return ZoneSet._deferred(
                entry["ids"], entry["hash"], entry["geometry_digest"], files, read
            )
    zones = _read_geojson(path, files)
    if key is not None:
        _cache.store(key, zones._ids, zones.hash, zones._geometry_digest())
    return zones


def _read_geojson(path: Path, files: list[Path]) -> ZoneSet:
    """Read the GeoJSON zone `files` of `path` (no cache)."""
    import geopandas as gpd

    gdf = read_geojson_files(files)
    dup = gdf.loc[gdf["zone_id"].duplicated(keep=False), ["zone_id", "source"]]
    if len(dup):
        zid = dup["zone_id"].iloc[0]
        where = sorted(dup.loc[dup["zone_id"] == zid, "source"])
        raise ZoneError(f"{path}: zone_id {zid!r} appears more than once (in {', '.join(where)})")
    return ZoneSet(gpd.GeoDataFrame(gdf, geometry="geometry", crs="EPSG:4326"), sources=files)


def packaged_zones() -> Path | None:
    """Find the zone set shipped inside the wheel (``footfall/zones/data``); None in a checkout."""
    from importlib import resources

    data = resources.files("footfall.zones") / "data"
    path = Path(str(data))
    return path if path.is_dir() and any(path.glob("*.geojson")) else None


def default_zones() -> Path:
    """Find the zone set to use when none is named.

    ``./zones`` when it holds zone files, else the set shipped in the package
    (``footfall/zones/data``, a pip install), else the checkout's ``zones/`` (an
    editable install).

    Raises
    ------
    ZoneError
        When none exists: pass a path.
    """
    here = Path("zones")
    checkout = Path(__file__).resolve().parents[3] / "zones"
    for candidate in (here, packaged_zones(), checkout):
        if candidate is not None and candidate.is_dir() and any(candidate.glob("*.geojson")):
            return candidate
    raise ZoneError(
        "no zone set found in ./zones, in the package or in the footfall checkout: pass "
        "--zones DIR (e.g. a clone's zones/, or one built with `footfall zones build --out DIR`)"
    )
