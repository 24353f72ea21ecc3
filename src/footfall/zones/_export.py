"""Tables with the zone polygons: GeoDataFrames and files whose format follows the extension."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from footfall.errors import InputError

__all__ = ["OUTPUT_SUFFIXES", "output_format", "with_geometry", "write_frame"]

#: Output extension -> format; every one but CSV carries the zone polygons (EPSG:4326).
OUTPUT_SUFFIXES: dict[str, str] = {
    ".csv": "CSV",
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".parquet": "GeoParquet",
}
_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON"}


def output_format(path: str | Path) -> str:
    """Name the format of a path's extension (``.csv``, ``.gpkg``, ``.geojson``, ``.parquet``).

    Raises
    ------
    InputError
        For any other extension, naming the ones supported.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(
            f"{path}: unknown output format {suffix or '(no extension)'!r}; "
            f"use {', '.join(OUTPUT_SUFFIXES)}"
        )
    return OUTPUT_SUFFIXES[suffix]


def with_geometry(table: pd.DataFrame, zones: Any) -> gpd.GeoDataFrame:
    """`table` (a ``zone_id`` column) with each zone's polygon: ready for ``.explore()``.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows keyed by a ``zone_id`` column; their order is kept.
    zones : ZoneSet or anything :func:`footfall.read_zones` takes
        The zones the polygons come from.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326.
    """
    from footfall.zones._coerce import as_zoneset

    gdf = as_zoneset(zones).gdf
    geometry = gdf.set_index("zone_id").geometry.reindex(table["zone_id"])
    return gpd.GeoDataFrame(
        table.reset_index(drop=True), geometry=geometry.to_numpy(), crs="EPSG:4326"
    )


def write_frame(
    frame: pd.DataFrame,
    path: str | Path,
    target: str | Path | None = None,
    *,
    zones: Any = None,
    to_csv: Callable[[pd.DataFrame, Path], None] | None = None,
) -> None:
    """Write `frame` in the format of `target`'s extension (default `path`'s).

    Parameters
    ----------
    frame : DataFrame or GeoDataFrame
        Rows to write; without geometry, `zones` gives it (by ``zone_id``).
    path : path
        Where to write (a temporary file may be named otherwise: `target` then
        names the format).
    target : path, optional
        The final file name, whose extension picks the format.
    zones : ZoneSet or path, optional
        Zone polygons for a table without geometry.
    to_csv : callable, optional
        CSV writer ``(frame, path)`` (default ``frame.to_csv(path, index=False)``);
        a geometry becomes a ``wkt`` column.
    """
    fmt = output_format(target or path)
    path = Path(path)
    if fmt == "CSV":
        if isinstance(frame, gpd.GeoDataFrame):
            geom = frame.geometry.name
            frame = pd.DataFrame(frame.drop(columns=geom)).assign(
                wkt=shapely.to_wkt(frame.geometry.to_numpy(), rounding_precision=6)
            )
        (to_csv or (lambda f, p: f.to_csv(p, index=False)))(frame, path)
        return
    if not isinstance(frame, gpd.GeoDataFrame):
        if zones is None:
            raise InputError(f"{target or path}: a {fmt} output needs the zones for its polygons")
        frame = with_geometry(frame, zones)
    frame = _plain_columns(frame)
    if fmt == "GeoParquet":
        frame.to_parquet(path, index=False)
    else:
        # GDAL wants the real extension: write `<path><suffix>`, then move it to `path`.
        final = Path(target or path)
        named = path.with_name(path.name + final.suffix) if target else path
        try:
            frame.to_file(
                named, driver=_DRIVERS[final.suffix.lower()], layer=final.stem, engine="pyogrio"
            )
            os.replace(named, path)
        finally:
            if named != path:
                named.unlink(missing_ok=True)


def _plain_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Object columns of mixed or missing values as text or numbers OGR can store."""
    out = frame.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if s.dtype == object:
            values = s.dropna()
            if len(values) and values.map(lambda v: isinstance(v, bool)).all():
                out[col] = s.astype("boolean")
            elif not values.map(lambda v: isinstance(v, str)).all():
                out[col] = s.map(lambda v: None if pd.isna(v) else str(v))
    return out
