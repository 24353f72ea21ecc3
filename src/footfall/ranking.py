"""The palmarès: eligibility filters and the ranking of town centres."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from footfall.counts import (
    BASELINE,
    CRISIS,
    PERIOD,
    Window,
    daily_passages,
    monthly_passages,
    resilience,
    window_coverage,
)
from footfall.errors import InputError
from footfall.manifest import atomic_path, beside, file_record, make_manifest, write_manifest
from footfall.zones import ZoneSet, as_zoneset, complete_towns
from footfall.zones._export import with_geometry, write_frame

__all__ = ["COLUMNS", "Palmares", "eligibility", "palmares", "rank", "seasonality"]

#: Columns of the palmarès table and CSV (DESIGN §3).
COLUMNS = [
    "rank",
    "zone_id",
    "name",
    "insee",
    "region",
    "population",
    "monthly_passages",
    "resilience",
]

_IDF_DEPARTMENTS = {"75", "77", "78", "91", "92", "93", "94", "95"}
_OVERSEAS_REGIONS = {"guadeloupe", "martinique", "guyane", "la reunion", "reunion", "mayotte"}


@dataclass(frozen=True, repr=False)
class Palmares:
    """The palmarès and what explains it.

    Attributes
    ----------
    table : pandas.DataFrame
        The ranking (top N eligible zones), columns :data:`COLUMNS`.
    excluded : pandas.DataFrame
        Zones left out, with ``reasons`` (``"; "``-separated).
    regions : pandas.DataFrame
        Per region: zones in the top N (``top_n``) and in the top 10 (``top_10``);
        regions of the table only, most represented first.
    most_resilient : pandas.DataFrame
        The 10 eligible zones with the highest resilience, with their rank.
    mean_resilience : float
        Mean resilience of the zones of `table` that have one (the published 76 %).
    scores : pandas.DataFrame
        Every zone: properties, ``monthly_passages``, ``resilience``,
        ``resilience_reason``, ``tourist`` (``"yes"``, ``"no"``, ``"unknown"``),
        ``seasonality``, ``eligible``, ``reasons``; indexed by ``zone_id``.
    daily : pandas.DataFrame
        The daily passages the figures come from (see :func:`footfall.daily_passages`).
    params : dict
        The parameters of the run (windows as ISO dates, filters, normalisation).
    """

    table: pd.DataFrame
    excluded: pd.DataFrame
    regions: pd.DataFrame
    most_resilient: pd.DataFrame
    mean_resilience: float
    scores: pd.DataFrame = field(repr=False)
    daily: pd.DataFrame = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"<Palmares: {len(self.table)} towns, mean resilience "
            f"{_percent(self.mean_resilience)}, {len(self.regions)} regions, "
            f"{len(self.excluded)} zones excluded>"
        )

    def to_csv(self, path: str | Path) -> None:
        """Write the table as CSV (DESIGN §3): ratios to 4 decimals, passages to 1."""
        self.table.round({"monthly_passages": 1, "resilience": 4}).to_csv(path, index=False)

    def write(
        self,
        out: str | Path,
        *,
        markdown: str | Path | None = None,
        inputs: Sequence[str | Path] = (),
        upstream: dict[str, Any] | None = None,
        zones: Any = None,
    ) -> Path:
        """Write the CSV, optionally the Markdown, and the run manifest beside the CSV.

        Parameters
        ----------
        out : path
            The palmarès: ``.csv``, or with the zone polygons ``.gpkg``, ``.geojson``,
            ``.parquet`` (GeoParquet; these need `zones`). Its manifest is
            ``<stem>.manifest.json`` beside it.
        markdown : path, optional
            Also write :meth:`to_markdown` there.
        inputs : sequence of path
            Input files to record (path, size, blake3), e.g. the hourly Parquet.
        upstream : dict, optional
            The manifest of the hourly table (``attrs["manifest"]``), kept as is.
        zones : ZoneSet or path, optional
            The zones, for the polygons of a geographic `out`.

        Returns
        -------
        Path
            The manifest's path.
        """
        out = Path(out)
        outputs = {"palmares": str(out)}
        table = self.table.round({"monthly_passages": 1, "resilience": 4})
        with atomic_path(out) as tmp:
            write_frame(table, tmp, out, zones=zones, to_csv=lambda _, p: self.to_csv(p))
        if markdown is not None:
            with atomic_path(markdown) as tmp:
                tmp.write_text(self.to_markdown(), encoding="utf-8")
            outputs["markdown"] = str(markdown)
        manifest = make_manifest(
            "rank",
            inputs=[file_record(p) for p in inputs],
            parameters=self.params,
            zones={"hash": self.params["zones_hash"], "n_zones": len(self.scores)},
            outputs=outputs,
            upstream=upstream,
        )
        return write_manifest(beside(out.with_suffix(""), "manifest", "json"), manifest)

    def display(self) -> pd.DataFrame:
        """Format the table for reading: thousands separators, resilience in percent."""
        t = self.table
        return pd.DataFrame(
            {
                "#": t["rank"].astype(str),
                "town": t["name"],
                "region": t["region"],
                "population": t["population"].map(_thousands),
                "monthly passages": t["monthly_passages"].map(_thousands),
                "resilience": t["resilience"].map(_percent),
            }
        )

    def summary(self) -> str:
        """Summarise: mean resilience, regions represented, exclusions, unknown tourist status."""
        text = (
            f"Mean resilience of these {len(self.table)} towns: "
            f"{_percent(self.mean_resilience)}; {len(self.regions)} regions represented; "
            f"{len(self.excluded)} zones not eligible."
        )
        unknown = int((self.scores.loc[self.table["zone_id"], "tourist"] == "unknown").sum())
        if unknown:
            text += (
                f" Tourist status unknown for {unknown} of them (null flag and no full "
                "pre-crisis year in the data to measure seasonality): kept."
            )
        return text

    def to_markdown(self) -> str:
        """Render the table as Markdown, followed by :meth:`summary`."""
        shown = self.display()
        align = [
            "---:" if c in ("#", "population", "monthly passages", "resilience") else "---"
            for c in shown.columns
        ]
        rows = ["| " + " | ".join(shown.columns) + " |", "|" + "|".join(align) + "|"]
        rows += ["| " + " | ".join(r) + " |" for r in shown.itertuples(index=False)]
        return "\n".join([*rows, "", self.summary()]) + "\n"


def rank(
    hourly: pd.DataFrame | str | Path,
    zones: ZoneSet | str | Path,
    *,
    geometry: bool = False,
    **kwargs: Any,
) -> pd.DataFrame:
    """Rank town centres by mean monthly passages: the palmarès table.

    Parameters
    ----------
    hourly : pandas.DataFrame or path
        Hourly table, or the path of its Parquet file (panel read beside it).
    zones : ZoneSet, path, GeoDataFrame...
        The zone set the hourly table was counted on (see :func:`footfall.read_zones`).
    geometry : bool
        Return a GeoDataFrame with the zone polygons (EPSG:4326), ready for ``.explore()``.
    **kwargs
        As in :func:`palmares`.

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, one row per ranked zone (see :func:`palmares`).
    """
    table = palmares(hourly, zones, **kwargs).table
    return with_geometry(table, zones) if geometry else table


def palmares(
    hourly: pd.DataFrame | str | Path,
    zones: ZoneSet | str | Path,
    *,
    panel: pd.DataFrame | None = None,
    top: int | None = 30,
    normalise: bool = True,
    reference: float | None = None,
    expand: float | Literal["population"] | None = None,
    period: Window = PERIOD,
    baseline: Window = BASELINE,
    crisis: Window = CRISIS,
    min_coverage: float = 0.8,
    max_population: int | None = 100_000,
    exclude_ile_de_france: bool = True,
    exclude_overseas: bool = True,
    exclude_metro_continuity: bool = True,
    exclude_tourist: bool = True,
    seasonality_threshold: float = 1.3,
) -> Palmares:
    """Count, filter and rank: the palmarès with its explanations.

    Parameters
    ----------
    hourly : pandas.DataFrame or path
        Hourly table (panel in ``attrs["panel"]`` or `panel`), or the path of its
        Parquet file, read with :func:`footfall.read_hourly`.
    zones : ZoneSet or path
        The zone set the hourly table was counted on.
    panel : pandas.DataFrame, optional
        Panel table, when `hourly` does not carry it.
    top : int or None
        Length of the palmarès; ``None`` ranks every eligible zone.
    normalise, reference, expand, baseline
        Panel normalisation, see :func:`footfall.daily_passages`.
    period : Window
        Ranking period, both ends inclusive (default March 2020 - January 2021).
    baseline, crisis : Window
        Resilience windows, see :func:`footfall.resilience`.
    min_coverage : float
        Smallest share of a window's days with data.
    max_population, exclude_ile_de_france, exclude_overseas
        Eligibility filters, see :func:`eligibility`.
    exclude_metro_continuity, exclude_tourist, seasonality_threshold
        Eligibility filters, see :func:`eligibility`.

    Returns
    -------
    Palmares

    Raises
    ------
    InputError
        When the hourly table names zones the zone set lacks, there is no panel to
        normalise by, or the data does not cover the ranking period.

    Notes
    -----
    Eligible zones are sorted by ``monthly_passages`` (descending); ties are broken by
    ``resilience`` (descending, missing last) then ``zone_id`` (ascending), and ranks
    are 1, 2, 3... in that order, never shared. A zone without a resilience index is
    still ranked (its reason is in ``scores.resilience_reason``); ``mean_resilience``
    skips it.
    """
    zones = as_zoneset(zones)
    zones_hash = zones.hash  # the zones as given: filled town properties change no count
    needed = _needed(max_population, exclude_ile_de_france or exclude_overseas,
                     exclude_metro_continuity)  # fmt: skip
    zones = complete_towns(zones, needed)
    hourly = _read_hourly(hourly)
    unknown = sorted(set(hourly["zone_id"].unique()) - set(zones.zone_ids))
    if unknown:
        raise InputError(
            f"hourly table has {len(unknown)} zone(s) not in the zone set "
            f"(first: {unknown[:3]}); rank with the zones the pings were counted on"
        )
    daily = daily_passages(
        hourly,
        panel,
        zone_ids=zones.zone_ids,
        normalise=normalise,
        reference=reference,
        baseline=baseline,
        expand=expand,
    )
    res = resilience(daily, baseline=baseline, crisis=crisis, min_coverage=min_coverage)
    elig = eligibility(
        zones,
        daily,
        max_population=max_population,
        exclude_ile_de_france=exclude_ile_de_france,
        exclude_overseas=exclude_overseas,
        exclude_metro_continuity=exclude_metro_continuity,
        exclude_tourist=exclude_tourist,
        seasonality_threshold=seasonality_threshold,
        crisis_start=crisis[0],
        min_coverage=min_coverage,
    )
    scores = (
        pd.DataFrame(zones.gdf.drop(columns="geometry"))
        .set_index("zone_id")
        .drop(columns=["tourist", "source"], errors="ignore")
        .astype({"population": "Int64"})
        .assign(
            monthly_passages=monthly_passages(daily, period=period, min_coverage=min_coverage),
            resilience=res["resilience"],
            resilience_reason=res["reason"],
        )
        .join(elig)
    )

    ranked = (
        scores[scores["eligible"]]
        .reset_index()
        .sort_values(
            ["monthly_passages", "resilience", "zone_id"],
            ascending=[False, False, True],
            na_position="last",
            kind="stable",
        )
    )
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    table = ranked[COLUMNS].head(len(ranked) if top is None else top).reset_index(drop=True)

    most_resilient = (
        ranked.dropna(subset=["resilience"])
        .sort_values(["resilience", "rank"], ascending=[False, True], kind="stable")
        .head(10)[COLUMNS]
        .reset_index(drop=True)
    )
    excluded = scores.loc[~scores["eligible"], ["name", "region", "population", "reasons"]]
    params = {
        "top": top,
        "normalise": normalise,
        "reference": reference,
        "expand": expand,
        "period": _iso(period),
        "baseline": _iso(baseline),
        "crisis": _iso(crisis),
        "min_coverage": min_coverage,
        "max_population": max_population,
        "exclude_ile_de_france": exclude_ile_de_france,
        "exclude_overseas": exclude_overseas,
        "exclude_metro_continuity": exclude_metro_continuity,
        "exclude_tourist": exclude_tourist,
        "seasonality_threshold": seasonality_threshold,
        "zones_hash": zones_hash,
    }
    return Palmares(
        table=table,
        excluded=excluded.reset_index(),
        regions=_regions(table),
        most_resilient=most_resilient,
        mean_resilience=float(table["resilience"].mean()),
        scores=scores,
        daily=daily,
        params=params,
    )


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


def _regions(table: pd.DataFrame) -> pd.DataFrame:
    """Towns per region in the table (``top_n``) and in its first 10 (``top_10``)."""
    counts = pd.DataFrame(
        {"top_n": table["region"].value_counts(), "top_10": table["region"][:10].value_counts()}
    )
    return (
        counts.fillna(0)
        .astype("int64")
        .rename_axis("region")
        .reset_index()
        .sort_values(["top_n", "top_10", "region"], ascending=[False, False, True])
        .reset_index(drop=True)
    )


def _needed(population: Any, region: bool, metro: bool) -> list[str]:
    """List the town properties that the eligibility filters in use read."""
    return (
        ["population"] * (population is not None)
        + ["department", "region"] * region
        + ["metro_continuity"] * metro
    )


def _read_hourly(hourly: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(hourly, pd.DataFrame):
        return hourly
    from footfall.hourly import read_hourly

    return read_hourly(hourly)


def _true(value: Any) -> bool:
    return value is not None and not pd.isna(value) and bool(value)


def _plain(text: Any) -> str:
    """Lower-case, accent-free, so "Île-de-France" matches "ile-de-france" ("" for null)."""
    if text is None or pd.isna(text):
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def _iso(window: Window) -> list[str | None]:
    return [None if d is None else pd.Timestamp(d).strftime("%Y-%m-%d") for d in window]


def _thousands(count: Any) -> str:
    return "n/a" if pd.isna(count) else f"{int(count):,}"


def _percent(ratio: float) -> str:
    return "n/a" if pd.isna(ratio) else f"{ratio:.0%}"
