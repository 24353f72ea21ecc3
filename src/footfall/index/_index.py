"""ZoneIndex: exact, fast assignment of lon/lat points to the zones of a ZoneSet."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from footfall.errors import IndexBuildError, InputError
from footfall.index import _cache
from footfall.index._kernel import KernelArrays, assign_kernel, assign_serial
from footfall.zones._cache import geometry_digest
from footfall.zones._coerce import zone_frame
from footfall.zones._set import ZoneSet

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = ["ZoneIndex"]

#: Points converted to float64 at a time when the input is not float64 already.
_CHUNK = 1 << 20


class ZoneIndex:
    """H3 cover and R-tree of a zone set, assigning points to zones exactly.

    Parameters
    ----------
    zones : ZoneSet or geopandas.GeoDataFrame
        The zones, (Multi)Polygons in lon/lat (EPSG:4326); they must not overlap.
    resolution : int, optional
        H3 resolution of the cover; by default the coarsest one giving the
        median zone about 300 cells (resolution 11 for 1 km² zones).
    cache : bool, default True
        Keep the built index on disk, under ``$FOOTFALL_CACHE_DIR`` (else
        ``$XDG_CACHE_HOME/footfall``, else ``~/.cache/footfall``), keyed by the
        zones' geometry and ids, and load it from there (memory-mapped, in
        milliseconds) when the same zones are indexed again. False: build, and
        neither read nor write the cache.

    Raises
    ------
    IndexBuildError
        When a zone is empty, not a polygon, invalid or out of the lon/lat
        range, or when zones overlap; the message names the zones.

    Notes
    -----
    Each zone part (one polygon of a zone, with its holes) is covered by H3
    cells: *interior* cells lie wholly inside one part, *boundary* cells meet
    the edge of one or more parts. At build time an R-tree over the parts gives
    each boundary cell its candidate parts. At query time a point goes through

    1. lon/lat bitmaps of ~27 m x 18 m cells: most points far from every zone
       stop here, and those in a cell wholly inside a zone get it at once,
       before any H3 work (95 % of the points in the real zones);
    2. its H3 cell (a numba port of h3's ``latLngToCell``) looked up in a hash
       table: outside the cover means outside every zone, an interior cell
       gives the zone at once;
    3. in a boundary cell, an exact point-in-polygon test against the
       candidates only, boundary inclusive (shapely ``covers``), with an exact
       orientation predicate, reading only the edges that meet the cell's
       latitude range.

    All of it runs compiled, in parallel over the cores, without the GIL. The
    index pickles to plain arrays (8 MB for the 423 real zones), for
    shipping to Dask workers.
    """

    def __init__(
        self,
        zones: ZoneSet | gpd.GeoDataFrame,
        resolution: int | None = None,
        *,
        cache: bool = True,
    ) -> None:
        start = time.perf_counter()
        if resolution is not None and resolution not in range(16):
            raise IndexBuildError(f"`resolution` was {resolution!r} but is expected in 0..15")
        #: True when the arrays were loaded from the on-disk cache.
        self.from_cache: bool = False
        gdf = None
        if isinstance(zones, ZoneSet):
            # ids and geometry digest: known without the table for a lazily read set
            ids = np.empty(len(zones), dtype=object)
            ids[:] = zones._ids
            self.zone_ids: np.ndarray = ids
            key = _cache.index_key(zones._geometry_digest(), ids, resolution) if cache else ""
        else:
            gdf = _lonlat_frame(zones)
            self.zone_ids = (
                gdf["zone_id"].astype(str).to_numpy() if "zone_id" in gdf else np.arange(len(gdf))
            )
            digest = geometry_digest(gdf.geometry.to_numpy()) if cache else ""
            key = _cache.index_key(digest, self.zone_ids, resolution) if cache else ""
        cached = _cache.load(key) if cache else None
        if cached is not None:
            # the entry was written after these very zones passed check_zones
            self.resolution: int = cached.res
            self._arrays = cached
            self.from_cache = True
            self.build_seconds: float = time.perf_counter() - start
            return
        from footfall.index import _build  # h3, rtree: only to build

        if gdf is None:
            gdf = _lonlat_frame(zones)
        _build.check_zones(gdf)
        res = _build.choose_resolution(gdf) if resolution is None else int(resolution)
        geo = _build.polygon_parts(gdf.geometry.to_numpy())
        interior, interior_zone, boundary = _build.h3_cover(geo["parts"], geo["part_zone"], res)
        bcells, strip, cand_ptr, cand_part = _build.boundary_candidates(
            boundary, geo["part_box"], geo["part_zone"]
        )
        edge_ptr, edge_v = _build.strip_edges(
            strip, cand_ptr, cand_part, geo["part_rings"], geo["ring_starts"], geo["ys"]
        )
        cells = np.concatenate([interior, bcells])
        # interior cells map to their zone row, boundary cell b to -1 - b
        values = np.concatenate([interior_zone, -1 - np.arange(len(bcells), dtype=np.int32)])
        keys, vals, shift = _build.build_hash(cells, values, res)
        grid = _build.build_grid(geo)
        self.resolution = res
        self._arrays = KernelArrays(
            res, grid["x0"], grid["y0"], grid["ncx"], grid["ncy"], grid["coarse"], grid["tiles"],
            grid["inside"], grid["tile_zone"], grid["cell_zone"], grid["multi_zones"], keys,
            vals, shift, cand_ptr, cand_part, strip,
            edge_ptr, edge_v, geo["part_zone"], geo["part_box"], geo["part_rings"],
            geo["ring_starts"], geo["xs"], geo["ys"],
        )  # fmt: skip
        if cache:
            _cache.store(key, self._arrays)
        self.build_seconds = time.perf_counter() - start

    def __len__(self) -> int:
        return len(self.zone_ids)

    def __getstate__(self) -> dict[str, Any]:
        # Ship the cover as its cells and values rather than the half-empty hash
        # table, and the tile table as its used entries: 10 MB -> 4 MB for the
        # real zone set, sent to every Dask worker.
        a = self._arrays
        used = a.keys != 0
        at = np.flatnonzero(a.coarse >= 0)
        coarse = np.stack([at, a.coarse[at]])
        packed = a._replace(keys=a.keys[used], vals=a.vals[used], coarse=coarse)
        return {**self.__dict__, "_arrays": packed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from footfall.index import _build

        a = state["_arrays"]
        keys, vals, shift = _build.build_hash(a.keys, a.vals, a.res)
        coarse = np.full(a.ncx * a.ncy, -1, dtype=np.int32)
        coarse[a.coarse[0]] = a.coarse[1]
        arrays = a._replace(keys=keys, vals=vals, shift=shift, coarse=coarse)
        self.__dict__.update(state, _arrays=arrays)

    def __repr__(self) -> str:
        return (
            f"<ZoneIndex: {len(self)} zones, H3 resolution {self.resolution}, "
            f"{self.nbytes / 1e6:.1f} MB>"
        )

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays."""
        return sum(a.nbytes for a in self._arrays if isinstance(a, np.ndarray))

    @property
    def cells(self) -> pd.DataFrame:
        """The H3 cover: columns ``cell`` (uint64 H3 index), ``zone`` (row), ``interior``.

        A boundary cell has one row per zone it may belong to.
        """
        from footfall.index import _build

        a = self._arrays
        return _build.cover_frame(a.keys, a.vals, a.cand_ptr, a.cand_part, a.part_zone)

    def assign(self, lon: Any, lat: Any) -> np.ndarray | np.int32:
        """Zone row of each point, or -1 outside every zone.

        Parameters
        ----------
        lon, lat : array-like or float
            Longitudes and latitudes in degrees (WGS84): numpy arrays of any
            float dtype, pandas Series, pyarrow (chunked) arrays, lists or
            scalars. Nulls, NaN, infinities and out-of-range values give -1.

        Returns
        -------
        numpy.ndarray of int32, or numpy.int32 for scalar input
            Row of the zone in ``zones.gdf`` (a point on a zone's boundary is
            in the zone), or -1.

        Raises
        ------
        InputError
            When lon and lat differ in length or are not numeric.

        Examples
        --------
        >>> index.assign([2.35, 10.0], [48.85, 0.0])  # doctest: +SKIP
        array([-1, -1], dtype=int32)
        >>> index.assign([], [])  # doctest: +SKIP
        array([], dtype=int32)
        """
        scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0 and not hasattr(lon, "combine_chunks")
        x = _as_float_array(lon, "lon")
        y = _as_float_array(lat, "lat")
        if len(x) != len(y):
            raise InputError(f"lon and lat differ in length: {len(x)} and {len(y)} values")
        out = np.empty(len(x), dtype=np.int32)
        # numba's threads for this thread: one (a count's map thread) runs serially
        kernel = assign_kernel if numba.get_num_threads() > 1 else assign_serial
        if x.dtype == np.float64 and y.dtype == np.float64:
            kernel(np.ascontiguousarray(x), np.ascontiguousarray(y), out, *self._arrays)
        else:
            # float32 and friends: widen a bounded chunk at a time
            for s in range(0, len(x), _CHUNK):
                xs = np.ascontiguousarray(x[s : s + _CHUNK], dtype=np.float64)
                ys = np.ascontiguousarray(y[s : s + _CHUNK], dtype=np.float64)
                kernel(xs, ys, out[s : s + _CHUNK], *self._arrays)
        return out[0] if scalar else out


def _lonlat_frame(zones: Any) -> gpd.GeoDataFrame:
    """Return the zones as a checked GeoDataFrame in lon/lat, in the caller's row order."""
    gdf = zone_frame(zones, require_id=False)  # any zones: a polygon, a GeoSeries, a file...
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    return gdf


def _as_float_array(values: Any, name: str) -> np.ndarray:
    """View ``values`` as a 1-d numpy numeric array (no copy when it already is one)."""
    try:
        if hasattr(values, "combine_chunks"):  # pyarrow ChunkedArray
            values = values.combine_chunks()
        pd = sys.modules.get("pandas")  # without pandas loaded, values is no Series
        if pd is not None and isinstance(values, pd.Series):
            values = values.to_numpy(dtype=np.float64, na_value=np.nan)
        elif hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
            values = values.to_numpy(zero_copy_only=False)  # pyarrow Array: nulls become NaN
        arr = np.atleast_1d(np.asarray(values))
        if arr.dtype.kind not in "fiu":
            arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not numeric coordinates ({exc})") from exc
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-d array of coordinates, got shape {arr.shape}")
    return arr
