"""Eligibility of the towns for the palmarès: population, region, métropole, tourism.

Re-exported by :mod:`footfall.ranking` (``footfall.ranking.eligibility``, ``seasonality``).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footfall.indicators import CRISIS, window_coverage
from footfall.zones import ZoneSet, as_zoneset

__all__ = ["eligibility", "seasonality"]


_IDF_DEPARTMENTS = {"75", "77", "78", "91", "92", "93", "94", "95"}


_OVERSEAS_REGIONS = {"guadeloupe", "martinique", "guyane", "la reunion", "reunion", "mayotte"}


def eligibility(
    zones: ZoneSet | str | Path,
    daily: pd.DataFrame | None = None,
    *,
    max_population: int | None = 100_000,
    exclude_ile_de_france: bool = True,
    exclude_overseas: bool = True,
    exclude_metro_continuity: bool = True,
    exclude_tourist: bool = True,
    seasonality_threshold: float = 1.3,
    crisis_start: str | pd.Timestamp | None = CRISIS[0],
    min_coverage: float = 0.8,
) -> pd.DataFrame:
    """Which zones may enter the palmarès, and why not.

    Parameters
    ----------
    zones : ZoneSet or path
        The zone set.
    daily : pandas.DataFrame, optional
        Daily passages (:func:`footfall.daily_passages`), used to tell tourist towns
        whose ``tourist`` property is null.
    max_population : int or None
        Keep towns with ``population < max_population``; ``None`` disables the filter.
    exclude_ile_de_france : bool
        Leave out region Île-de-France (or departments 75, 77, 78, 91-95).
    exclude_overseas : bool
        Leave out overseas towns (departments 97x/98x or an overseas region name).
    exclude_metro_continuity : bool
        Leave out towns in urban continuity with a métropole (``metro_continuity``).
    exclude_tourist : bool
        Leave out tourist towns: ``tourist`` true, or null and the data shows a
        seasonality above `seasonality_threshold` (see :func:`seasonality`).
    seasonality_threshold : float
        Summer over annual mean passages above which a town counts as touristic.
    crisis_start : date-like
        The full pre-crisis year the seasonality is measured on ends before this day.
    min_coverage : float
        Smallest share of days with data in that year and in its summer.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``zone_id``: ``tourist`` (``"yes"``, ``"no"`` or ``"unknown"`` when
        neither the property nor the data can tell), ``seasonality`` (float or NaN),
        ``eligible`` (bool) and ``reasons`` (``"; "``-separated, empty when eligible).
        A town whose tourist status is unknown is not excluded for it.
    """
    zones = as_zoneset(zones)
    gdf = pd.DataFrame(zones.gdf.drop(columns="geometry")).set_index("zone_id")
    season = (
        seasonality(daily, crisis_start=crisis_start, min_coverage=min_coverage)
        if daily is not None
        else pd.Series(np.nan, index=gdf.index)
    ).reindex(gdf.index)
    prop = gdf["tourist"].astype(object).where(gdf["tourist"].notna(), None)
    tourist = pd.Series("unknown", index=gdf.index, dtype=object)
    tourist[prop.map(_true)] = "yes"
    tourist[prop.notna() & ~prop.map(_true)] = "no"
    from_data = prop.isna() & season.notna()
    tourist[from_data] = np.where(season[from_data] > seasonality_threshold, "yes", "no")

    reasons: dict[str, list[str]] = {zid: [] for zid in gdf.index}
    for zid, row in gdf.iterrows():
        why = reasons[zid]
        if max_population is not None:
            if pd.isna(row["population"]):
                why.append("population unknown")
            elif row["population"] >= max_population:
                why.append(f"population {int(row['population']):,} >= {max_population:,}")
        region, dep = _plain(row["region"]), _plain(row["department"]).upper()
        if exclude_ile_de_france and (region == "ile-de-france" or dep in _IDF_DEPARTMENTS):
            why.append("in Île-de-France")
        if exclude_overseas and (region in _OVERSEAS_REGIONS or dep[:2] in ("97", "98")):
            why.append(f"overseas (department {dep})" if dep else f"overseas ({row['region']})")
        if exclude_metro_continuity and _true(row["metro_continuity"]):
            why.append("in urban continuity with a métropole")
        if exclude_tourist and tourist[zid] == "yes":
            why.append(
                "tourist town (zone property)"
                if prop[zid] is not None
                else f"tourist town (summer/annual passages {season[zid]:.2f} "
                f"> {seasonality_threshold})"
            )
    out = pd.DataFrame({"tourist": tourist, "seasonality": season})
    out["reasons"] = pd.Series({z: "; ".join(w) for z, w in reasons.items()}, dtype=object)
    out.insert(2, "eligible", out["reasons"] == "")
    out.index.name = "zone_id"
    return out


def seasonality(
    daily: pd.DataFrame,
    *,
    crisis_start: str | pd.Timestamp | None = CRISIS[0],
    min_coverage: float = 0.8,
) -> pd.Series:
    """Summer (July-August) over annual mean daily passages, on a full pre-crisis year.

    Parameters
    ----------
    daily : pandas.DataFrame
        Daily passages (:func:`footfall.daily_passages`).
    crisis_start : date-like
        The year used is the last calendar year that ends before this day (2019 for
        the default 16 March 2020); ``None`` uses the last calendar year with data.
    min_coverage : float
        Smallest share of days with data in that year and in its July-August.

    Returns
    -------
    pandas.Series
        Per zone; NaN for every zone when the data does not cover that year (the data
        cannot tell), and for a zone without passage in it.
    """
    end = daily.index.max() if crisis_start is None else pd.Timestamp(crisis_start)
    year = (end + pd.Timedelta(days=1)).year - 1
    summer = (f"{year}-07-01", f"{year}-08-31")
    covered = [window_coverage(daily, w)[2] for w in ((f"{year}-01-01", f"{year}-12-31"), summer)]
    if min(covered) < min_coverage or min(covered) == 0:
        return pd.Series(np.nan, index=daily.columns, name="seasonality")
    annual = daily.loc[f"{year}-01-01" : f"{year}-12-31"].mean()
    ratio = daily.loc[summer[0] : summer[1]].mean() / annual.where(annual > 0)
    return ratio.rename("seasonality")


def _needed(population: Any, region: bool, metro: bool) -> list[str]:
    """List the town properties that the eligibility filters in use read."""
    return (
        ["population"] * (population is not None)
        + ["department", "region"] * region
        + ["metro_continuity"] * metro
    )


def _true(value: Any) -> bool:
    return value is not None and not pd.isna(value) and bool(value)


def _plain(text: Any) -> str:
    """Lower-case, accent-free, so "Île-de-France" matches "ile-de-france" ("" for null)."""
    if text is None or pd.isna(text):
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()
