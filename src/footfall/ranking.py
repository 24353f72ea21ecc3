"""The palmarès: eligibility filters and the ranking of town centres."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from footfall._eligibility import _needed, eligibility, seasonality
from footfall._rank_intervals import (
    _TIE_COLUMNS,
    INTERVAL_COLUMNS,
    _intervals,
    _ordinal,
    rank_eligible,
)
from footfall.errors import InputError
from footfall.indicators import (
    BASELINE,
    CRISIS,
    PERIOD,
    Window,
    daily_passages,
    monthly_passages,
    resilience,
    window_coverage,
)
from footfall.manifest import atomic_path, beside, file_record, make_manifest, write_manifest
from footfall.publish import (
    DEFAULT_MIN_COUNT,
    SUPPRESSION_RULE,
    check_min_count,
    device_floor,
    is_suppressed,
    markdown_cell,
    suppress_frame,
    write_csv,
)
from footfall.zones import ZoneSet, as_zoneset, complete_towns
from footfall.zones._export import with_geometry, write_frame

__all__ = [
    "COLUMNS",
    "Palmares",
    "eligibility",
    "palmares",
    "publication",
    "rank",
    "seasonality",
]

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
    *INTERVAL_COLUMNS,
]

#: The figures of a town that suppression hides.
_FIGURES = (
    "monthly_passages",
    "resilience",
    "monthly_passages_low",
    "monthly_passages_high",
    "resilience_low",
    "resilience_high",
)


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
        Mean resilience of the towns of `table` that have a published one (the published
        76 %): towns without an index, or whose figures are suppressed, are left out.
    scores : pandas.DataFrame
        Every zone: properties, ``monthly_passages``, ``resilience``,
        ``resilience_reason``, ``device_floor`` (most distinct devices in one hour of
        the ranking period), ``suppressed`` (figures hidden on publication, see
        :mod:`footfall.publish`), ``tourist`` (``"yes"``, ``"no"``, ``"unknown"``),
        ``seasonality``, ``eligible``, ``reasons`` (``no data`` for a zone without any
        passage in the ranking period); indexed by ``zone_id``.
    daily : pandas.DataFrame
        The daily passages the figures come from (see :func:`footfall.daily_passages`).
    params : dict
        The parameters of the run (windows as ISO dates, filters, normalisation,
        ``min_count``).
    mean_resilience_n : int
        How many towns of `table` `mean_resilience` is over.
    ties : pandas.DataFrame
        Neighbouring ranks that cannot be told apart: one row per pair of consecutive
        ranked towns (``rank``, ``zone_id``, ``name``, then ``next_rank``,
        ``next_zone_id``, ``next_name``) whose 95 % rank intervals overlap, in rank
        order, down to the rank after the table's last; empty without intervals.
    """

    table: pd.DataFrame
    excluded: pd.DataFrame
    regions: pd.DataFrame
    most_resilient: pd.DataFrame
    mean_resilience: float
    scores: pd.DataFrame = field(repr=False)
    daily: pd.DataFrame = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)
    mean_resilience_n: int = 0
    ties: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_TIE_COLUMNS))

    def __repr__(self) -> str:
        return (
            f"<Palmares: {len(self.table)} towns, mean resilience "
            f"{_percent(self.mean_resilience)}, {len(self.regions)} regions, "
            f"{len(self.excluded)} zones excluded>"
        )

    @property
    def suppressed(self) -> pd.Series:
        """Per row of `table`: whether its figures are suppressed (see :mod:`footfall.publish`)."""
        return self.scores["suppressed"].reindex(self.table["zone_id"]).fillna(True).astype(bool)

    def published(self, *, typed: bool = False) -> pd.DataFrame:
        """Return the table as it may leave the tool: small counts suppressed.

        Parameters
        ----------
        typed : bool
            False (CSV, Markdown): suppressed figures read ``"<min_count"``. True
            (Parquet, GeoPackage, GeoJSON): they are empty, and a boolean column
            ``suppressed`` says which rows.

        Returns
        -------
        pandas.DataFrame
            Ratios rounded to 4 decimals, passages to 1.
        """
        table = self.table.round({name: 1 if "passages" in name else 4 for name in _FIGURES})
        return suppress_frame(
            table,
            self.suppressed.to_numpy(),
            _FIGURES,
            self.params.get("min_count", DEFAULT_MIN_COUNT),
            typed=typed,
        )

    def to_csv(self, path: str | Path) -> None:
        """Write the published table as CSV (DESIGN §3), text cells escaped.

        See :meth:`published` and :func:`footfall.publish.write_csv`.
        """
        write_csv(self.published(), path)

    def rank_text(self, row: Any) -> str:
        """Return a rank with its interval, ``"25th (18th–31st)"`` (alone without one)."""
        text = _ordinal(row["rank"])
        if pd.notna(row.get("rank_low")) and pd.notna(row.get("rank_high")):
            text += f" ({_ordinal(row['rank_low'])}–{_ordinal(row['rank_high'])})"
        return text

    def cutoff_sentence(self) -> str:
        """Say whether the last place of the table can be told apart from the next one."""
        if self.ties.empty or self.table.empty:
            return ""
        last = int(self.table["rank"].max())
        if int(self.scores["eligible"].sum()) <= last:  # every eligible town is ranked
            return ""
        tie = self.ties[self.ties["rank"] == last]
        if tie.empty:
            return (
                f"The {_ordinal(last)} place is told apart from the {_ordinal(last + 1)} "
                "(their 95 % rank intervals do not overlap)."
            )
        t = tie.iloc[0]
        return (
            f"{t['name']} ({_ordinal(last)}) cannot be told apart from {t['next_name']} "
            f"({_ordinal(last + 1)}, outside the top {last}): their 95 % rank intervals overlap."
        )

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
        table = self.published(typed=True)  # geo formats: suppressed figures empty, flagged
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
            publication=publication(self.params.get("min_count", DEFAULT_MIN_COUNT)),
        )
        return write_manifest(beside(out.with_suffix(""), "manifest", "json"), manifest)

    def display(self) -> pd.DataFrame:
        """Format the table for reading: thousands separators, resilience in percent.

        Small counts are suppressed (``"<min_count"``).
        """
        t = self.table
        shown = pd.DataFrame(
            {
                "#": t["rank"].astype(str),
                "town": t["name"],
                "region": t["region"],
                "population": t["population"].map(_thousands),
                "monthly passages": t["monthly_passages"].map(_thousands),
                "resilience": t["resilience"].map(_percent),
            }
        )
        return suppress_frame(
            shown,
            self.suppressed.to_numpy(),
            ["monthly passages", "resilience"],
            self.params.get("min_count", DEFAULT_MIN_COUNT),
            typed=False,
        )

    def display_intervals(self, *, compact: bool = False) -> pd.DataFrame:
        """:meth:`display` with the 95 % intervals: ranks as ``25th (18th–31st)``.

        `compact` (the terminal) writes ``25 (18–31)``, ``4,802 ±3%`` and ``81% (79–83)``
        so that a town still fits on one line of 80 columns.
        """
        t = self.table
        shown = self.display()
        if t.empty or t["rank_low"].isna().all():
            return shown
        hidden = self.suppressed.to_numpy()  # their figures stay as display() hides them
        m, m_lo, m_hi = (t[c].to_numpy(float) for c in ("monthly_passages", *INTERVAL_COLUMNS[:2]))
        r, r_lo, r_hi = (t[c].to_numpy(float) for c in ("resilience", *INTERVAL_COLUMNS[2:4]))
        if compact:
            bounds = zip(t["rank"], t["rank_low"], t["rank_high"], strict=True)
            ranks = [f"{a} ({lo}–{hi})" for a, lo, hi in bounds]
            half = np.round(50 * (m_hi - m_lo) / np.where(m > 0, m, np.nan))
            monthly = [f"{_thousands(a)} ±{h:.0f}%" for a, h in zip(m, half, strict=True)]
            resilience = [
                f"{_percent(a)} ({100 * lo:.0f}–{100 * hi:.0f})"
                for a, lo, hi in zip(r, r_lo, r_hi, strict=True)
            ]
        else:
            ranks = [self.rank_text(row) for _, row in t.iterrows()]
            monthly = [
                f"{_thousands(a)} ({_thousands(lo)}–{_thousands(hi)})"
                for a, lo, hi in zip(m, m_lo, m_hi, strict=True)
            ]
            resilience = [
                f"{_percent(a)} ({_percent(lo)}–{_percent(hi)})"
                for a, lo, hi in zip(r, r_lo, r_hi, strict=True)
            ]
        shown["#"] = np.where(hidden, t["rank"].astype(str), ranks)
        shown["monthly passages"] = np.where(hidden, shown["monthly passages"], monthly)
        shown["resilience"] = np.where(hidden, shown["resilience"], resilience)
        return shown

    def summary(self) -> str:
        """Summarise: mean resilience, regions represented, exclusions, unknown tourist status."""
        n, ranked = self.mean_resilience_n, len(self.table)
        over = f"these {ranked} towns" if n == ranked else f"{n} of these {ranked} towns"
        text = (
            f"Mean resilience of {over}: "
            f"{_percent(self.mean_resilience)}; {len(self.regions)} regions represented; "
            f"{len(self.excluded)} zones not eligible."
        )
        if n < ranked:
            text += (
                f" The mean leaves out {ranked - n} town(s) without a published resilience "
                "index (no index, or figures suppressed)."
            )
        unknown = int((self.scores.loc[self.table["zone_id"], "tourist"] == "unknown").sum())
        if unknown:
            text += (
                f" Tourist status unknown for {unknown} of them (null flag and no full "
                "pre-crisis year in the data to measure seasonality): kept."
            )
        cutoff = self.cutoff_sentence()
        return f"{text} {cutoff}" if cutoff else text

    def to_markdown(self) -> str:
        """Render the table (with its 95 % intervals) as Markdown, then :meth:`summary`."""
        shown = self.display_intervals()
        align = [
            "---:" if c in ("#", "population", "monthly passages", "resilience") else "---"
            for c in shown.columns
        ]
        rows = [
            "| " + " | ".join(map(markdown_cell, shown.columns)) + " |",
            "|" + "|".join(align) + "|",
        ]
        rows += [
            "| " + " | ".join(markdown_cell(c) for c in r) + " |"
            for r in shown.itertuples(index=False)
        ]
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
    min_count: int = DEFAULT_MIN_COUNT,
    intervals: bool = True,
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
    min_count : int
        Suppression threshold in distinct devices (``0``: none): a town's figures are
        flagged ``suppressed`` in `scores` when the busiest hour of the ranking period,
        or of a resilience window, saw fewer devices (see :mod:`footfall.publish`).
        Suppressed towns are still ranked; every writer hides their figures.
    intervals : bool
        Compute the 95 % intervals (``*_low``/``*_high`` columns, :attr:`Palmares.ties`)
        from the count's replicate tables (:func:`footfall.read_replicates`); without
        them, or ``False`` (``--no-intervals``), those columns are empty.

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
    skips it, and the towns whose figures are suppressed. A zone without any passage
    in the ranking period is not ranked: it is excluded with reason ``no data``.
    """
    min_count = check_min_count(min_count)
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
    # The device floor of each figure (footfall.publish): its window's busiest hour.
    floors = {
        name: device_floor(hourly, *window_coverage(daily, window)[:2], zones.zone_ids)
        for name, window in (("period", period), ("baseline", baseline), ("crisis", crisis))
    }
    no_data = floors["period"] == 0
    elig.loc[no_data, "reasons"] = [
        "no data" + (f"; {why}" if why else "") for why in elig.loc[no_data, "reasons"]
    ]
    elig["eligible"] = elig["reasons"] == ""
    has_index = res["resilience"].notna()
    suppressed = pd.Series(is_suppressed(floors["period"], min_count), index=no_data.index) | (
        has_index.reindex(no_data.index, fill_value=False)
        & pd.Series(
            is_suppressed(np.minimum(floors["baseline"], floors["crisis"]), min_count),
            index=no_data.index,
        )
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
            device_floor=floors["period"],
            suppressed=suppressed,
        )
        .join(elig)
    )

    ranked = rank_eligible(scores)
    ranked, ties = _intervals(
        ranked,
        hourly,
        daily,
        intervals,
        normalise=normalise,
        reference=reference,
        baseline=baseline,
        crisis=crisis,
        period=period,
        expand=expand,
    )
    scores = scores.join(ranked.set_index("zone_id")[INTERVAL_COLUMNS])
    n_top = len(ranked) if top is None else top
    ties = ties[ties["rank"] <= n_top].reset_index(drop=True)
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
        "min_count": min_count,
        "zones_hash": zones_hash,
    }
    published = table["resilience"].where(~scores.loc[table["zone_id"], "suppressed"].to_numpy())
    return Palmares(
        table=table,
        excluded=excluded.reset_index(),
        regions=_regions(table),
        most_resilient=most_resilient,
        mean_resilience=float(published.mean()),
        scores=scores,
        daily=daily,
        params={**params, "intervals": intervals},
        mean_resilience_n=int(published.notna().sum()),
        ties=ties,
    )


def publication(min_count: int) -> dict[str, Any]:
    """Describe the publication rules of a run, as its manifest records them."""
    return {
        "min_count": min_count,
        "suppression": SUPPRESSION_RULE if min_count > 0 else "off (min_count 0)",
        "csv_escaping": "OWASP: text cells starting with = + - @ tab CR get a leading '",
    }


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


def _read_hourly(hourly: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(hourly, pd.DataFrame):
        return hourly
    from footfall.tables import read_hourly

    return read_hourly(hourly)


def _iso(window: Window) -> list[str | None]:
    return [None if d is None else pd.Timestamp(d).strftime("%Y-%m-%d") for d in window]


def _thousands(count: Any) -> str:
    return "n/a" if pd.isna(count) else f"{int(count):,}"


def _percent(ratio: float) -> str:
    return "n/a" if pd.isna(ratio) else f"{ratio:.0%}"
