"""The ZoneSet: zones of one or more GeoJSON files as a GeoDataFrame."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from footfall.errors import ZoneError

__all__ = ["ZoneSet", "read_zones", "PROPERTY_COLUMNS"]

#: Feature properties of a zone, in file order (DESIGN §3).
PROPERTY_COLUMNS: tuple[str, ...] = (
    "zone_id",
    "name",
    "insee",
    "population",
    "department",
    "region",
    "metro_continuity",
    "tourist",
)


class ZoneSet:
    """A set of city-centre zones.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        One row per zone with the columns of :data:`PROPERTY_COLUMNS` and a
        ``geometry`` of (Multi)Polygons in EPSG:4326.
    sources : iterable of Path, optional
        The files the zones came from (``source`` column when read from disk).

    Notes
    -----
    Rows are sorted by ``zone_id`` and indexed 0..n-1; :meth:`ZoneIndex.assign`
    returns these row positions. ``hash`` depends only on the zones' content
    (properties and geometry), not on file names or formatting.
    """

    def __init__(self, gdf: gpd.GeoDataFrame, sources: Iterable[Path] = ()) -> None:
        missing = [c for c in (*PROPERTY_COLUMNS, "geometry") if c not in gdf.columns]
        if missing:
            raise ZoneError(f"zone table lacks column(s) {missing}")
        gdf = gdf.sort_values("zone_id", kind="stable").reset_index(drop=True)
        if gdf.crs is None:
            gdf = gdf.set_crs("EPSG:4326")
        self.gdf: gpd.GeoDataFrame = gdf
        self.sources: tuple[Path, ...] = tuple(Path(s) for s in sources)

    def __len__(self) -> int:
        return len(self.gdf)

    def __repr__(self) -> str:
        return f"<ZoneSet: {len(self)} zones, hash {self.hash[:12]}>"

    @property
    def zone_ids(self) -> pd.Index:
        """Zone identifiers in row order."""
        return pd.Index(self.gdf["zone_id"])

    @property
    def hash(self) -> str:
        """SHA-256 of the zones' properties and geometry (hex)."""
        h = hashlib.sha256()
        for row, wkb in zip(
            self.gdf[list(PROPERTY_COLUMNS)].itertuples(index=False),
            shapely.to_wkb(self.gdf.geometry.values, output_dimension=2, byte_order=1),
            strict=True,
        ):
            props = {k: (None if pd.isna(v) else v) for k, v in zip(PROPERTY_COLUMNS, row)}
            h.update(json.dumps(props, sort_keys=True, default=str).encode())
            h.update(wkb)
        return h.hexdigest()


def read_zones(path: str | Path) -> ZoneSet:
    """Read a zone set from a GeoJSON file or a directory of ``*.geojson`` files.

    Parameters
    ----------
    path : str or Path
        A ``.geojson`` file, or a directory whose ``*.geojson`` files are read.

    Returns
    -------
    ZoneSet

    Raises
    ------
    ZoneError
        When a file cannot be read as a zone FeatureCollection; the message
        names the file and the reason.
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
    frames = [_read_file(f) for f in files]
    gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
    return ZoneSet(gdf, sources=files)


def _read_file(path: Path) -> gpd.GeoDataFrame:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ZoneError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ZoneError(f"{path}: not a GeoJSON FeatureCollection")
    rows, geoms = [], []
    for i, feat in enumerate(doc.get("features") or []):
        props = (feat or {}).get("properties") or {}
        zid = props.get("zone_id", f"#{i}")
        try:
            geom = shapely.geometry.shape(feat["geometry"])
        except Exception as exc:  # noqa: BLE001 - any failure is a malformed geometry
            raise ZoneError(f"{path}: zone {zid}: unreadable geometry ({exc})") from exc
        rows.append({c: props.get(c) for c in PROPERTY_COLUMNS} | {"source": path.name})
        geoms.append(geom)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")
