"""What a report shows, built once from the palmarès and shared by the HTML and Markdown."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex

from footfall.errors import InputError
from footfall.indicators import monthly_passages
from footfall.manifest import HASH
from footfall.publish import check_min_count, is_suppressed, suppressed_text
from footfall.ranking import INTERVAL_COLUMNS, Palmares
from footfall.zones import ZoneSet

__all__ = [
    "Table",
    "Content",
    "build_content",
    "window_text",
    "zone_color",
    "RESILIENCE_CMAP",
    "NO_DATA_COLOR",
]

#: Colour map of the resilience index (low = red, high = green).
RESILIENCE_CMAP = "RdYlGn"
#: Colour of zones that are excluded or have no published resilience index.
NO_DATA_COLOR = "#8c8c8c"


@dataclass(frozen=True)
class Table:
    """A published table: display text per cell, numeric sort keys, column alignment.

    Attributes
    ----------
    columns : list of str
        Column labels.
    rows : list of list of str
        Cell text as published (suppressed cells read ``"<k"``).
    keys : list of list
        Per cell, the value to sort on (a number, or the text).
    numeric : list of bool
        Per column: right-aligned and sorted as numbers.
    """

    columns: list[str]
    rows: list[list[str]]
    keys: list[list[Any]]
    numeric: list[bool]


@dataclass(frozen=True)
class Content:
    """Everything a report shows, already suppressed and formatted."""

    title: str
    palmares: Palmares
    min_count: int
    summary: dict[str, str]
    ranking: Table
    regions: Table
    most_resilient: Table
    excluded: Table
    monthly: Table
    #: Mean monthly passages per calendar month (rows) of the chart towns (columns,
    #: labelled ``"rank. name"``); NaN where suppressed or without data.
    monthly_levels: pd.DataFrame
    #: The same figure over the baseline window, per chart town.
    baseline_levels: pd.Series
    #: Published resilience of eligible zones and whether each is in the table.
    distribution: pd.DataFrame
    #: Zones with ``color``, ``name``, ``rank``, ``passages``, ``resilience`` (popup text).
    map_zones: gpd.GeoDataFrame
    #: Eligible zones: the map's initial view.
    map_fit: gpd.GeoDataFrame
    color_range: tuple[float, float]
    #: Method and publication rules, one sentence each.
    notes: list[str]
    manifest: dict[str, Any] = field(repr=False)
    #: The manifest as titled sections of labelled text, for reading.
    manifest_view: dict[str, dict[str, str]] = field(repr=False)
    #: The chart towns (index ``"rank. name"``): ``monthly_passages``, ``resilience`` and
    #: their 95 % ``*_low``/``*_high`` (NaN where suppressed or without intervals).
    intervals: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    #: Whether the last place of the table can be told apart from the next one ("" when
    #: there is no interval or no next place).
    cutoff: str = ""


def build_content(
    pal: Palmares,
    hourly: pd.DataFrame,
    zones: ZoneSet,
    *,
    title: str,
    min_count: int,
    chart_top: int,
    manifest: dict[str, Any],
) -> Content:
    """Format and suppress the figures of a palmarès for publication.

    Parameters
    ----------
    pal : Palmares
        The palmarès (:func:`footfall.palmares`) of `hourly` on `zones`.
    hourly : pandas.DataFrame
        The hourly table it was computed from (for the raw counts behind each figure).
    zones : ZoneSet
        The zone set.
    title : str
        Report title.
    min_count : int
        Suppression threshold in distinct devices, the one `pal` was computed with
        (``0``: none); a suppressed figure is shown as ``"<min_count>"`` (see Notes).
    chart_top : int
        How many of the top towns the monthly chart and table show.
    manifest : dict
        The run manifest shown at the end of the report.

    Returns
    -------
    Content

    Notes
    -----
    The rule of :mod:`footfall.publish`: a figure is published only when the busiest
    zone-hour of its window (raw passages: distinct devices) reaches `min_count`. A
    zone-month's window is the month; a town's figures are those flagged in
    ``pal.scores["suppressed"]``.
    """
    min_count = check_min_count(min_count)
    if min_count != pal.params.get("min_count"):
        raise InputError(
            f"min_count was {min_count} but the palmarès was computed with "
            f"{pal.params.get('min_count')}: pass the same to footfall.palmares"
        )
    params = pal.params
    # Device floor of each zone-month: its busiest hour (footfall.publish).
    stamps = hourly["hour"].dt.tz_localize(None)
    monthly_floor = (
        hourly.groupby([stamps.dt.to_period("M").rename("month"), hourly["zone_id"].astype(str)])[
            "passages"
        ]
        .max()
        .unstack("zone_id")
    )
    scores = pal.scores.assign(hidden=pal.scores["suppressed"].astype(bool))
    k = suppressed_text(min_count)

    def passages(zid: str, value: float) -> tuple[str, float]:
        if scores.at[zid, "hidden"]:
            return k, -1.0
        return f"{value:,.0f}", float(value)

    def ratio(zid: str, value: float) -> tuple[str, float]:
        if scores.at[zid, "hidden"]:
            return k, -1.0
        return _percent(value), (-1.0 if pd.isna(value) else float(value))

    def with_interval(cell: tuple[str, float], zid: str, low: Any, high: Any, fmt) -> tuple:
        # the 95 % interval after the figure (issue 16), when there is one to show
        if scores.at[zid, "hidden"] or pd.isna(low) or pd.isna(high):
            return cell
        return f"{cell[0]} ({fmt(low)}–{fmt(high)})", cell[1]

    def rank_cell(r: Any) -> tuple[str, float]:
        if scores.at[r.zone_id, "hidden"] or pd.isna(r.rank_low):
            return str(r.rank), r.rank
        return pal.rank_text(pd.Series(r._asdict())), r.rank

    ranking = _table(
        ["Rank", "Town", "INSEE", "Region", "Population", "Monthly passages", "Resilience"],
        [False, False, False, False, True, True, True],
        [
            [
                rank_cell(r),
                (r.name, r.name),
                (r.insee, r.insee),
                (r.region, r.region),
                _int(r.population),
                with_interval(
                    passages(r.zone_id, r.monthly_passages),
                    r.zone_id,
                    r.monthly_passages_low,
                    r.monthly_passages_high,
                    lambda v: f"{v:,.0f}",
                ),
                with_interval(
                    ratio(r.zone_id, r.resilience),
                    r.zone_id,
                    r.resilience_low,
                    r.resilience_high,
                    _percent,
                ),
            ]  # fmt: skip
            for r in pal.table.itertuples(index=False)
        ],
    )
    regions = _table(
        ["Region", f"Towns in the top {len(pal.table)}", "Towns in the top 10"],
        [False, True, True],
        [
            [(r.region, r.region), (str(r.top_n), r.top_n), (str(r.top_10), r.top_10)]
            for r in pal.regions.itertuples(index=False)
        ],
    )
    visible = pal.most_resilient[
        ~scores.loc[pal.most_resilient["zone_id"], "hidden"].to_numpy(bool)
    ]
    most_resilient = _table(
        ["Town", "Region", "Rank", "Resilience"],
        [False, False, True, True],
        [
            [
                (r.name, r.name),
                (r.region, r.region),
                (str(r.rank), r.rank),
                ratio(r.zone_id, r.resilience),
            ]
            for r in visible.itertuples(index=False)
        ],
    )
    excluded = _table(
        ["Town", "Zone", "Region", "Population", "Reasons"],
        [False, False, False, True, False],
        [
            [
                (r.name, r.name),
                (r.zone_id, r.zone_id),
                (str(r.region), str(r.region)),
                _int(r.population),
                (r.reasons, r.reasons),
            ]
            for r in pal.excluded.itertuples(index=False)
        ],
    )

    chart = pal.table.head(chart_top)
    labels = [f"{r.rank}. {r.name}" for r in chart.itertuples(index=False)]
    levels = _monthly_levels(pal.daily[chart["zone_id"]], params["min_coverage"])
    floor = monthly_floor.reindex(index=levels.index, columns=chart["zone_id"]).fillna(0)
    hide = pd.DataFrame(
        is_suppressed(floor.to_numpy(), min_count), index=floor.index, columns=floor.columns
    ) | scores.loc[chart["zone_id"], "hidden"].to_numpy(bool)
    levels = levels.mask(hide.to_numpy(bool))
    levels.columns = labels
    baseline = monthly_passages(
        pal.daily[chart["zone_id"]], period=tuple(params["baseline"]), min_coverage=0.0
    ).set_axis(labels)
    baseline[scores.loc[chart["zone_id"], "hidden"].to_numpy(bool)] = np.nan
    monthly = _table(
        ["Month", *labels],
        [False, *[True] * len(labels)],
        [
            [(str(month), str(month))]
            + [
                (k, -1.0) if hide.at[month, zid] else _count(value)
                for zid, value in zip(chart["zone_id"], levels.loc[month], strict=True)
            ]
            for month in levels.index
        ],
    )

    figures = ["monthly_passages", "resilience", *INTERVAL_COLUMNS[:4]]
    intervals = chart.set_index("zone_id")[figures].astype(float).set_axis(labels)
    intervals[scores.loc[chart["zone_id"], "hidden"].to_numpy(bool)] = np.nan

    eligible = scores[scores["eligible"] & ~scores["hidden"] & scores["resilience"].notna()]
    distribution = pd.DataFrame(
        {
            "resilience": eligible["resilience"],
            "ranked": eligible.index.isin(pal.table["zone_id"]),
        }
    )
    color_range = _color_range(eligible["resilience"])
    map_zones = _map_zones(zones, pal, scores, k, color_range)
    summary = {
        "Towns ranked": f"{len(pal.table)}",
        _mean_label(pal): _percent(pal.mean_resilience),
        "Regions represented": f"{len(pal.regions)}",
        "Towns excluded": f"{len(pal.excluded)} of {len(scores)}",
        "Ranking period": " – ".join(_month(d) for d in params["period"]),
    }
    return Content(
        title=title,
        palmares=pal,
        min_count=min_count,
        summary=summary,
        ranking=ranking,
        regions=regions,
        most_resilient=most_resilient,
        excluded=excluded,
        monthly=monthly,
        monthly_levels=levels,
        baseline_levels=baseline,
        distribution=distribution,
        map_zones=map_zones,
        map_fit=map_zones[map_zones["zone_id"].isin(eligible.index)],
        color_range=color_range,
        notes=[pal.summary(), *_notes(params, min_count)],
        manifest=manifest,
        manifest_view=_manifest_view(manifest),
        intervals=intervals,
        cutoff=pal.cutoff_sentence(),
    )


def _mean_label(pal: Palmares) -> str:
    """Say what the mean resilience is over: the ranked towns with a published index."""
    n, ranked = pal.mean_resilience_n, len(pal.table)
    if n == ranked:
        return f"Mean resilience of the {ranked} towns ranked"
    return f"Mean resilience of the towns ranked ({n} of {ranked} with a published index)"


def _manifest_view(manifest: dict[str, Any]) -> dict[str, dict[str, str]]:
    inputs = {
        rec["path"]: f"{rec['size']:,} bytes, {HASH} {rec[HASH][:16]}…"
        for rec in manifest["inputs"]
    }
    zones = manifest["zones"]
    inputs["zone set"] = f"{zones['n_zones']} zones, hash {zones['hash'][:16]}…"
    upstream = manifest.get("upstream") or {}
    pings = upstream.get("inputs") or []
    if pings:
        size = sum(rec.get("size", 0) for rec in pings)
        inputs["pings (counted)"] = f"{len(pings)} file(s), {size:,} bytes"
    view = {
        "Inputs": inputs,
        "Parameters": {k: _text(v) for k, v in manifest["parameters"].items()},
        "Versions": {k: _text(v) for k, v in manifest["versions"].items()}
        | {"leaflet": manifest.get("leaflet", "")},
    }
    accounting = upstream.get("accounting")
    if accounting:
        view["Row accounting of the count"] = {k: _text(v) for k, v in accounting.items()}
    return view


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return " to ".join("open" if v is None else _text(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "none" if value is None else str(value)


def _notes(params: dict[str, Any], min_count: int) -> list[str]:
    period, baseline, crisis = (window_text(params[w]) for w in ("period", "baseline", "crisis"))
    filters = [
        f"fewer than {params['max_population']:,} inhabitants"
        if params["max_population"] is not None
        else None,
        "outside Île-de-France" if params["exclude_ile_de_france"] else None,
        "not overseas" if params["exclude_overseas"] else None,
        "not in urban continuity with a métropole" if params["exclude_metro_continuity"] else None,
        f"not a tourist town (zone property, or summer over annual passages above "
        f"{params['seasonality_threshold']})"
        if params["exclude_tourist"]
        else None,
    ]
    return [
        "Passages are distinct devices seen in a zone during a local hour; they are not people."
        + (
            " They are normalised by the panel: each day's passages are scaled by the "
            "reference panel size over that day's active devices."
            if params["normalise"]
            else " They are raw counts, not normalised by the panel size."
        ),
        f"Mean monthly passages: mean daily passages from {period}, times 365.25 / 12.",
        f"Resilience: mean daily passages from {crisis} over those from {baseline}.",
        "Eligible towns: " + (", ".join(f for f in filters if f) or "every town") + ".",
        (
            f"Small counts are suppressed: a figure is published only when the busiest "
            f"zone-hour of its window saw at least {min_count:,} distinct devices (a lower "
            f"bound on the devices behind it); otherwise it reads "
            f'"{suppressed_text(min_count)}". This applies to each zone-month, and to the '
            "monthly passages and resilience of a town (such towns are also left out of "
            "the charts and of the mean resilience)."
            if min_count > 0
            else "Small counts are NOT suppressed (min_count 0): for internal use only."
        ),
        "The report is built from hourly counts only: no device identifier is read or written.",
    ]


def window_text(window: list[str | None]) -> str:
    """Say a window of days in words: ``2020-03-16 to the end of the data``."""
    first, last = window
    return f"{first or 'the start of the data'} to {last or 'the end of the data'}"


def zone_color(value: float, color_range: tuple[float, float]) -> str:
    """Hex colour of a resilience value on the report's scale (grey when missing)."""
    if pd.isna(value):
        return NO_DATA_COLOR
    return to_hex(colormaps[RESILIENCE_CMAP](Normalize(*color_range, clip=True)(value)))


def _monthly_levels(daily: pd.DataFrame, min_coverage: float) -> pd.DataFrame:
    """Compute the ranking figure (mean monthly passages) on each month with enough data."""
    rows = {}
    for month in pd.period_range(daily.index.min(), daily.index.max(), freq="M"):
        window = (month.start_time, month.end_time.normalize())
        try:
            rows[month] = monthly_passages(daily, period=window, min_coverage=min_coverage)
        except InputError:  # a month with too few days of data is left out, not guessed
            continue
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("month")


def _color_range(values: pd.Series) -> tuple[float, float]:
    """Colour scale of resilience: the 5th-95th percentiles, rounded out to 5 points."""
    if values.empty:
        return (0.5, 1.0)
    low, high = np.nanpercentile(values, [5, 95])
    low, high = np.floor(low * 20) / 20, np.ceil(high * 20) / 20
    return (float(low), float(high if high > low else low + 0.05))


def _map_zones(
    zones: ZoneSet, pal: Palmares, scores: pd.DataFrame, k: str, color_range: tuple[float, float]
) -> gpd.GeoDataFrame:
    """Zones with the popup fields (HTML-escaped: folium inserts them as HTML) and colour."""
    gdf = zones.gdf[["zone_id", "name", "geometry"]].copy()
    s = scores.loc[gdf["zone_id"]]
    hidden = s["hidden"].to_numpy(bool)
    ranks = dict(zip(pal.table["zone_id"], pal.table["rank"], strict=True))
    top = len(pal.table)
    gdf["name"] = gdf["name"].map(html.escape)
    gdf["status"] = [
        f"rank {ranks[z]}"
        if z in ranks
        else (f"eligible, not in the top {top}" if ok else html.escape(f"excluded: {why}"))
        for z, ok, why in zip(gdf["zone_id"], s["eligible"], s["reasons"], strict=True)
    ]
    gdf["passages"] = np.where(hidden, k, [_count(v)[0] for v in s["monthly_passages"]])
    gdf["resilience"] = np.where(hidden, k, [_percent(v) for v in s["resilience"]])
    # Only the towns that compete are coloured: the map is about the palmarès.
    gdf["color"] = [
        zone_color(v, color_range) if ok and not h else NO_DATA_COLOR
        for ok, h, v in zip(s["eligible"], hidden, s["resilience"], strict=True)
    ]
    # Grey first, so that Leaflet draws the competing towns on top.
    return gdf.sort_values("color", key=lambda c: c != NO_DATA_COLOR, kind="stable")


def _table(columns: list[str], numeric: list[bool], cells: list[list[tuple[str, Any]]]) -> Table:
    return Table(
        columns=columns,
        rows=[[text for text, _ in row] for row in cells],
        keys=[[key for _, key in row] for row in cells],
        numeric=numeric,
    )


def _int(value: Any) -> tuple[str, float]:
    return ("n/a", -1.0) if pd.isna(value) else (f"{int(value):,}", float(value))


def _count(value: float) -> tuple[str, float]:
    return ("n/a", -1.0) if pd.isna(value) else (f"{value:,.0f}", float(value))


def _month(day: str | None) -> str:
    return "…" if day is None else pd.Timestamp(day).strftime("%b %Y")  # None: open end


def _percent(ratio: float) -> str:
    return "n/a" if pd.isna(ratio) else f"{ratio:.0%}"
