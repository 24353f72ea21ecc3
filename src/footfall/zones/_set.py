"""The ZoneSet: zones as a GeoDataFrame (readers: :mod:`footfall.zones._coerce`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from footfall.errors import ZoneError
from footfall.zones._schema import DERIVED_COLUMNS, PROPERTY_COLUMNS

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

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
        self._pending: _Pending | None = None
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
        self._gdf: gpd.GeoDataFrame | None = gdf
        self.sources: tuple[Path, ...] = tuple(Path(s) for s in sources)

    @classmethod
    def _deferred(
        cls,
        ids: list[str],
        zones_hash: str,
        geometry_digest: str,
        sources: Iterable[Path],
        read: Callable[[], ZoneSet],
    ) -> ZoneSet:
        """Make a set known by its ids, hash and geometry digest, whose table `read` builds on use.

        `read` returns the eager set; its ids and hash must be the ones given, else
        the table is refused (:class:`ZoneError`).
        """
        self = cls.__new__(cls)
        self._gdf = None
        self._pending = _Pending(list(ids), zones_hash, geometry_digest, read)
        self.sources = tuple(Path(s) for s in sources)
        return self

    @property
    def gdf(self) -> gpd.GeoDataFrame:
        """The zones: one row per zone, sorted by ``zone_id`` (see the class notes)."""
        if self._gdf is None:
            pending = self._pending
            read = pending.read()
            if read._ids != pending.ids or read.hash != pending.hash:
                where = self.sources[0].parent if len(self.sources) > 1 else self.sources[0]
                raise ZoneError(
                    f"{where}: zone files changed since they were read; read them again"
                )
            self._gdf, self._pending = read._gdf, None
        return self._gdf

    @gdf.setter
    def gdf(self, value: gpd.GeoDataFrame) -> None:
        self._gdf, self._pending = value, None

    def __getstate__(self) -> dict[str, Any]:
        return {"_gdf": self.gdf, "_pending": None, "sources": self.sources}

    @property
    def _ids(self) -> list[str]:
        """Zone ids (as str) in row order, without building the table of a lazily read set."""
        if self._pending is not None:
            return list(self._pending.ids)
        return [str(z) for z in self.gdf["zone_id"].tolist()]

    def _geometry_digest(self) -> str:
        """Digest of the geometry in lon/lat (:func:`footfall.zones._cache.geometry_digest`)."""
        from footfall.zones._cache import geometry_digest

        if self._pending is not None:
            return self._pending.geometry_digest
        gdf = self.gdf
        if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
            gdf = gdf.to_crs("EPSG:4326")
        return geometry_digest(gdf.geometry.to_numpy())

    def __len__(self) -> int:
        if self._pending is not None:
            return len(self._pending.ids)
        return len(self.gdf)

    def __repr__(self) -> str:
        return f"<ZoneSet: {len(self)} zones, hash {self.hash[:12]}>"

    def __iter__(self) -> Iterator[Any]:
        if self._pending is not None:
            return iter(list(self._pending.ids))
        return iter(self.zone_ids)

    def __contains__(self, zone_id: object) -> bool:
        if self._pending is not None:
            return zone_id in set(self._pending.ids)
        return zone_id in set(self.gdf["zone_id"])

    def __getitem__(self, key: Any) -> pd.Series | ZoneSet:
        """``zones["30007-centre"]``: that zone's row; a mask or a list of ids: a ZoneSet."""
        if isinstance(key, str):
            rows = self.gdf.index[self.gdf["zone_id"] == key]
            if not len(rows):
                import difflib

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
        import pandas as pd

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
        import pandas as pd

        return pd.Index(self.gdf["zone_id"])

    @property
    def hash(self) -> str:
        """SHA-256 of the zones' properties and geometry (hex)."""
        if self._pending is not None:
            return self._pending.hash
        import shapely

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


class _Pending(NamedTuple):
    """What a lazily read ZoneSet knows before its table is built."""

    ids: list[str]
    hash: str
    geometry_digest: str
    read: Callable[[], ZoneSet]


def _null_to_none(value: object) -> object:
    """None for a missing value (None, NaN, NA, NaT), else the value itself."""
    if isinstance(value, (str, bool, int)):
        return value
    import pandas as pd

    return None if pd.isna(value) else value
