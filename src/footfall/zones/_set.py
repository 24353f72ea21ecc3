"""The ZoneSet: zones of one or more GeoJSON files as a GeoDataFrame."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
import shapely

from footfall.errors import ZoneError

if TYPE_CHECKING:
    from footfall.zones.validate import ValidationReport

__all__ = ["default_zones", "ZoneSet", "read_zones", "load_feature_collection", "PROPERTY_COLUMNS"]

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
        # column by column (Python scalars, as a row iteration gives them), then per zone
        columns = [[_null_to_none(v) for v in self.gdf[k].tolist()] for k in PROPERTY_COLUMNS]
        encode = json.JSONEncoder(sort_keys=True, default=str).encode
        wkbs = shapely.to_wkb(self.gdf.geometry.values, output_dimension=2, byte_order=1)
        for row, wkb in zip(zip(*columns, strict=True), wkbs, strict=True):
            h.update(encode(dict(zip(PROPERTY_COLUMNS, row, strict=True))).encode())
            h.update(wkb)
        return h.hexdigest()

    def validate(self) -> ValidationReport:
        """Check these zones: geometry, properties, duplicates, overlaps, areas.

        Returns
        -------
        ValidationReport
            Every problem found, with zone_id, severity and reason.
        """
        from footfall.zones.validate import validate_zoneset

        return validate_zoneset(self)


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
    from footfall.zones._format import read_geojson_files

    gdf = read_geojson_files(files)
    dup = gdf.loc[gdf["zone_id"].duplicated(keep=False), ["zone_id", "source"]]
    if len(dup):
        zid = dup["zone_id"].iloc[0]
        where = sorted(dup.loc[dup["zone_id"] == zid, "source"])
        raise ZoneError(f"{path}: zone_id {zid!r} appears more than once (in {', '.join(where)})")
    return ZoneSet(gpd.GeoDataFrame(gdf, geometry="geometry", crs="EPSG:4326"), sources=files)


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


def default_zones() -> Path:
    """Find the zone set to use when none is named: ``./zones``, else the checkout's.

    Raises
    ------
    ZoneError
        When neither exists (an installed package without a checkout): pass a path.
    """
    here = Path("zones")
    checkout = Path(__file__).resolve().parents[3] / "zones"
    for candidate in (here, checkout):
        if candidate.is_dir() and any(candidate.glob("*.geojson")):
            return candidate
    raise ZoneError(
        "no zone set found in ./zones or in the footfall checkout: pass --zones DIR "
        "(e.g. a clone's zones/, or one built with `footfall zones build --out DIR`)"
    )


def _null_to_none(value: object) -> object:
    """None for a missing value (None, NaN, NA, NaT), else the value itself."""
    if isinstance(value, (str, bool, int)):
        return value
    return None if pd.isna(value) else value
