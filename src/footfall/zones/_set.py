"""The ZoneSet: zones as a GeoDataFrame (readers: :mod:`footfall.zones._coerce`)."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from footfall.errors import ZoneError
from footfall.zones._schema import DERIVED_COLUMNS, PROPERTY_COLUMNS

if TYPE_CHECKING:
    from footfall.zones._checks import ValidationReport

__all__ = ["ZoneSet", "PROPERTY_COLUMNS", "DERIVED_COLUMNS"]


class ZoneSet:
    """A set of city-centre zones.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        One row per zone with a ``zone_id`` and a ``geometry`` of (Multi)Polygons
        in EPSG:4326; the other columns of :data:`PROPERTY_COLUMNS` are added as
        missing values when absent (counting needs none of them). Build one from
        anything else with :func:`read_zones`.
    sources : iterable of Path, optional
        The files the zones came from (``source`` column when read from disk).

    Notes
    -----
    Rows are sorted by ``zone_id`` and indexed 0..n-1; :meth:`ZoneIndex.assign`
    returns these row positions. ``gdf`` also holds ``area_km2``, the geodesic area
    (WGS84 ellipsoid: exact in mainland France and overseas alike; Lambert-93 is
    conformal, not equal-area, and its areas differ by up to 0.5 %).
    ``zones["30007-centre"]`` is one
    zone (a row); ``zones[mask]``, ``zones[["a", "b"]]`` and :meth:`subset` are
    ZoneSets. ``hash`` depends only on the zones' content
    (properties and geometry), not on file names or formatting.
    """

    def __init__(self, gdf: gpd.GeoDataFrame, sources: Iterable[Path] = ()) -> None:
        missing = [c for c in ("zone_id", "geometry") if c not in gdf.columns]
        if missing:
            raise ZoneError(f"zone table lacks column(s) {missing}")
        gdf = gdf.sort_values("zone_id", kind="stable").reset_index(drop=True)
        if gdf.crs is None:
            gdf = gdf.set_crs("EPSG:4326")
        for c in PROPERTY_COLUMNS:
            if c not in gdf.columns:
                gdf[c] = None
        if "area_km2" not in gdf.columns:
            from footfall.zones._geo import geodesic_area

            gdf["area_km2"] = [geodesic_area(g) / 1e6 for g in gdf.geometry.to_numpy()]
        self.gdf: gpd.GeoDataFrame = gdf
        self.sources: tuple[Path, ...] = tuple(Path(s) for s in sources)

    def __len__(self) -> int:
        return len(self.gdf)

    def __repr__(self) -> str:
        return f"<ZoneSet: {len(self)} zones, hash {self.hash[:12]}>"

    def __iter__(self):
        return iter(self.zone_ids)

    def __contains__(self, zone_id: object) -> bool:
        return zone_id in set(self.gdf["zone_id"])

    def __getitem__(self, key: Any) -> pd.Series | ZoneSet:
        """``zones["30007-centre"]``: that zone's row; a mask or a list of ids: a ZoneSet."""
        if isinstance(key, str):
            rows = self.gdf.index[self.gdf["zone_id"] == key]
            if not len(rows):
                close = difflib.get_close_matches(key, self.gdf["zone_id"].tolist(), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise KeyError(f"no zone {key!r} in this set of {len(self)}{hint}")
            return self.gdf.loc[rows[0]]
        return self.subset(key)

    def subset(self, which: Any) -> ZoneSet:
        """Pick the zones of a boolean mask (array or Series) or an iterable of zone ids.

        Raises
        ------
        KeyError
            When an id is not in the set (the first few unknown ids are named).
        """
        if isinstance(which, pd.Series) and which.dtype == bool:
            mask = which.to_numpy()
        else:
            arr = np.asarray(list(which) if not isinstance(which, np.ndarray) else which)
            if arr.dtype == bool:
                mask = arr
            else:
                wanted = [str(z) for z in arr]
                unknown = sorted(set(wanted) - set(self.gdf["zone_id"]))
                if unknown:
                    raise KeyError(f"zone(s) not in this set: {unknown[:5]}")
                mask = self.gdf["zone_id"].isin(wanted).to_numpy()
        if len(mask) != len(self):
            raise IndexError(f"mask of {len(mask)} for {len(self)} zones")
        sources = self.gdf.loc[mask, "source"] if "source" in self.gdf.columns else ()
        keep = {Path(s).name for s in sources}
        return ZoneSet(self.gdf[mask].copy(), sources=[s for s in self.sources if s.name in keep])

    @property
    def area_km2(self) -> pd.Series:
        """Area of each zone in km², indexed by ``zone_id``."""
        return self.gdf.set_index("zone_id")["area_km2"]

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
        from footfall.zones._checks import validate_zoneset

        return validate_zoneset(self)


def _null_to_none(value: object) -> object:
    """None for a missing value (None, NaN, NA, NaT), else the value itself."""
    if isinstance(value, (str, bool, int)):
        return value
    return None if pd.isna(value) else value
